"""The rollout state machine's states, each run alone against moto (S3, SSM) with a fake
fleet: rate control sent to SSM, the canary gating the rest, MaxErrors stopping a server,
unreachable nodes, a node that never answers, throttling, and the summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import ssm_rollout
import handler
import pytest
from fleet_testing import FakeFleet, FleetSession, Run, iid, sent
from lambda_testing import ARTIFACT_BUCKET, KEY_BUCKET, FakeBackend, FakeServer, job_event, node

JOB_ID = "11111111-2222-3333-4444-555555555555"
ENV = {"KEY_BUCKET": KEY_BUCKET, "RESULTS_BUCKET": ARTIFACT_BUCKET, "POLL_INTERVAL_SECONDS": "20"}


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class Machine:
    """Runs the states by hand, as the state machine would, and reads what they stored."""

    def __init__(
        self,
        aws: boto3.session.Session,
        backend: FakeBackend,
        tmp_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.aws = aws
        self.fleet = FakeFleet()
        self.clock = Clock()
        self.backend = backend
        self.ctx = handler.StepContext(
            env={**ENV, **(env or {})},
            session=FleetSession(aws, self.fleet),
            backend=lambda: backend,
            workdir=tmp_path,
            now=self.clock,
        )
        event = job_event(aws)
        location = event["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]
        self.state: dict[str, Any] = {
            "rollout_id": handler.execution_name(JOB_ID),
            "job_id": JOB_ID,
            "artifact": {
                "bucket": location["s3Location"]["bucketName"],
                "key": location["s3Location"]["objectKey"],
            },
            "user_parameters": None,
        }

    def step(self, name: str) -> dict[str, Any]:
        self.state = handler.STEPS[name](self.state, self.ctx)
        return self.state

    def poll_until_done(self, limit: int = 20) -> dict[str, Any]:
        for _ in range(limit):
            self.clock.t += self.state["poll_interval"]
            if self.step("poll")["wave_done"]:
                return self.state
        raise AssertionError("the wave never ended")

    def rollout(self) -> ssm_rollout.Rollout:
        body = self.aws.client("s3").get_object(
            Bucket=ARTIFACT_BUCKET,
            Key=f"chef-sync/converge/{self.state['rollout_id']}/rollout.json",
        )["Body"]
        return ssm_rollout.Rollout.from_json(body.read())

    def summary(self) -> dict[str, Any]:
        body = self.aws.client("s3").get_object(
            Bucket=ARTIFACT_BUCKET,
            Key=f"chef-sync/converge/{handler.execution_name(JOB_ID)}/summary.json",
        )["Body"]
        loaded: dict[str, Any] = json.loads(body.read())
        return loaded


def two_servers(eu: int, us: int) -> FakeBackend:
    return FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node(f"eu-{n}", iid(n)) for n in range(1, eu + 1)]),
            "prod-us": FakeServer(
                "prod-us", [node(f"us-{n}", iid(1000 + n)) for n in range(1, us + 1)]
            ),
        }
    )


@pytest.fixture
def machine_for(aws: boto3.session.Session, tmp_path: Path) -> Callable[..., Machine]:
    def make(backend: FakeBackend, env: dict[str, str] | None = None) -> Machine:
        machine = Machine(aws, backend, tmp_path, env)
        for server in backend.servers_by_name.values():
            for n in server.nodes:
                machine.fleet.manage(str(handler.attribute(n, "ec2.instance_id")))
        return machine

    return make


def test_canary_then_the_rest_with_rate_control_per_server(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(
        two_servers(eu=4, us=3),
        {"SERVER_RATE_CONTROL": '{"prod-us": {"max_concurrency": "50%", "max_errors": "1"}}'},
    )

    synced = m.step("sync")
    assert synced["ok"] is True and synced["planned"] == {"canary": 2, "rollout": 5}
    assert synced["poll_interval"] == 20

    canary = m.step("canary")
    commands = sent()
    assert [sorted(c["InstanceIds"]) for c in commands] == [[iid(1)], [iid(1001)]]
    for c in commands:
        # Default concurrency: erchef's 5 depsolver workers x 4; a canary allows no error.
        assert c["MaxErrors"] == "0"
        assert c["DocumentName"] == "AWS-RunShellScript"
        assert c["Parameters"] == {
            "commands": ["sudo chef-client"],
            "executionTimeout": ["3600"],
        }
        assert c["TimeoutSeconds"] == 600
    assert [c["MaxConcurrency"] for c in commands] == ["20", "50%"]
    # moto finishes commands at once; the machine still looks before moving on.
    assert canary["wave"] == "canary" and canary["wave_done"] is False

    polled = m.poll_until_done()
    assert polled["wave_ok"] is True and polled["counts"] == {"converged": 2}
    assert len(sent()) == 2  # nothing else before the canary is done

    m.step("wave")
    rest = sent()[2:]
    assert {
        tuple(sorted(c["InstanceIds"])): (c["MaxConcurrency"], c["MaxErrors"]) for c in rest
    } == {
        (iid(2), iid(3), iid(4)): ("20", "5%"),
        (iid(1002), iid(1003)): ("50%", "1"),
    }
    assert m.poll_until_done()["wave_ok"] is True

    verified = m.step("verify")
    assert verified["ok"] is True and len(m.backend.verified) == 1
    report = m.step("report")
    assert report["ok"] is True
    assert report["counts"] == {"converged": 7}
    assert report["summary_uri"] == (
        f"s3://{ARTIFACT_BUCKET}/chef-sync/converge/{handler.execution_name(JOB_ID)}/summary.json"
    )
    assert report["summary"].startswith(
        "chef-client converged 7 of 7 nodes. Per-node results: s3://"
    )

    summary = m.summary()
    assert summary["ok"] is True and summary["job_id"] == JOB_ID
    first = next(n for n in summary["nodes"] if n["instance_id"] == iid(1))
    assert first == {
        "server": "prod-eu",
        "instance_id": iid(1),
        "node": "eu-1",
        "outcome": "converged",
        "status": "Success",
        "details": "",
        "duration_seconds": 300.0,  # moto's invocations take five minutes
        "output_tail": "Chef Infra Client finished, 3/10 resources updated in 12 seconds",
        "wave": "canary",
    }
    assert summary["rate_control"] == {
        "prod-eu": {"max_concurrency": "20", "max_errors": "5%"},
        "prod-us": {"max_concurrency": "50%", "max_errors": "1"},
    }
    assert summary["waves"] == [
        {"name": "canary", "servers": {"prod-eu": 1, "prod-us": 1}},
        {"name": "rollout", "servers": {"prod-eu": 3, "prod-us": 2}},
    ]


def test_a_failed_canary_fails_naming_the_node_and_leaves_the_rest_alone(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=3, us=2))
    m.fleet.runs[iid(1001)] = Run(
        "Failed", "Failed", "Recipe: web::default\nFATAL: Chef::Exceptions::ChildConvergeError"
    )
    m.step("sync")
    m.step("canary")
    done = m.poll_until_done()
    assert done["wave_ok"] is False and done["counts"] == {"converged": 1, "failed": 1}

    report = m.step("report")  # the machine's CanaryDone choice goes straight to Report

    assert len(sent()) == 2  # the canary only
    assert report["ok"] is False
    text = report["summary"]
    assert text.startswith("chef-client converged 1 of 5 nodes.")
    assert (
        f"Failed: {iid(1001)} (us-1 on prod-us) Failed: "
        "FATAL: Chef::Exceptions::ChildConvergeError." in text
    )
    assert f"Not run: {iid(2)} (eu-2 on prod-eu) held back: an earlier wave failed" in text
    outcomes = {n["instance_id"]: n["outcome"] for n in m.summary()["nodes"]}
    assert outcomes == {
        iid(1): "converged",
        iid(1001): "failed",
        iid(2): "not_run",
        iid(3): "not_run",
        iid(1002): "not_run",
    }


def test_a_canary_server_goes_first_whole(machine_for: Callable[..., Machine]) -> None:
    m = machine_for(two_servers(eu=3, us=2), {"CANARY_SERVER": "prod-us"})
    assert m.step("sync")["planned"] == {"canary": 2, "rollout": 3}
    m.step("canary")
    assert [sorted(c["InstanceIds"]) for c in sent()] == [[iid(1001), iid(1002)]]


def test_a_server_past_max_errors_stops_there_and_the_others_go_on(
    machine_for: Callable[..., Machine],
) -> None:
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node(f"eu-{n}", iid(n)) for n in range(1, 121)]),
            "prod-us": FakeServer("prod-us", [node(f"us-{n}", iid(1000 + n)) for n in range(1, 4)]),
        }
    )
    m = machine_for(backend, {"CANARY_NODES": "0", "MAX_CONCURRENCY": "10", "MAX_ERRORS": "2"})
    for n in (5, 6, 7):
        m.fleet.runs[iid(n)] = Run("Failed", "Failed", "ERROR: cookbook broken")
    m.fleet.runs[iid(1002)] = Run("Failed", "Failed", "ERROR: us is broken")
    m.step("sync")
    assert m.step("canary")["wave_done"] is True  # no canary

    m.step("wave")
    # prod-eu: 120 nodes in commands of 50, one at a time (10 runs at once fit one command).
    first = sent()
    assert [(len(c["InstanceIds"]), c["MaxConcurrency"], c["MaxErrors"]) for c in first] == [
        (50, "10", "2"),
        (3, "10", "2"),
    ]
    done = m.poll_until_done()

    assert len(sent()) == 2  # 3 failures > MaxErrors 2: prod-eu's other 70 nodes never went out
    assert done["counts"] == {"converged": 49, "failed": 4, "not_run": 70}
    rollout = m.rollout()
    assert rollout.servers["prod-eu"].stopped == "3 failed nodes, more than MaxErrors 2"
    held = rollout.results[iid(51)]
    assert (held.outcome, held.details) == (
        "not_run",
        "prod-eu stopped: 3 failed nodes, more than MaxErrors 2",
    )
    # prod-us went on: 1 failure is within its budget, its nodes all ran.
    assert rollout.results[iid(1003)].outcome == "converged"
    assert m.step("report")["ok"] is False


def test_high_concurrency_runs_several_commands_of_a_server_at_once(
    machine_for: Callable[..., Machine],
) -> None:
    backend = FakeBackend(
        {"prod-eu": FakeServer("prod-eu", [node(f"eu-{n}", iid(n)) for n in range(1, 181)])}
    )
    m = machine_for(backend, {"CANARY_NODES": "0", "MAX_CONCURRENCY": "100"})
    m.step("sync")
    m.step("canary")
    m.step("wave")
    assert [(len(c["InstanceIds"]), c["MaxConcurrency"]) for c in sent()] == [
        (50, "50"),
        (50, "50"),
    ]
    m.poll_until_done()
    assert sorted(len(c["InstanceIds"]) for c in sent()) == [30, 50, 50, 50]
    assert m.step("report")["counts"] == {"converged": 180}


def test_unreachable_nodes_are_reported_not_failed(machine_for: Callable[..., Machine]) -> None:
    m = machine_for(two_servers(eu=4, us=1), {"CANARY_NODES": "0"})
    del m.fleet.ping[iid(2)]  # not managed (or stopped)
    m.fleet.manage(iid(3), ping="ConnectionLost")
    m.fleet.runs[iid(4)] = Run("Failed", "Undeliverable", "")

    m.step("sync")
    m.step("canary")
    m.step("wave")
    assert sorted(i for c in sent() for i in c["InstanceIds"]) == [iid(1), iid(4), iid(1001)]
    m.poll_until_done()
    m.step("verify")
    report = m.step("report")

    assert report["ok"] is True
    assert report["counts"] == {"converged": 2, "unreachable": 3}
    text = report["summary"]
    assert "Unreachable (not managed by SSM or not running; no cookbook ran): " in text
    assert f"{iid(2)} (eu-2 on prod-eu) not managed by SSM" in text
    assert f"{iid(3)} (eu-3 on prod-eu) SSM agent ConnectionLost" in text
    assert f"{iid(4)} (eu-4 on prod-eu) Undeliverable" in text
    assert "Failed:" not in text


def test_unreachable_nodes_can_fail_the_rollout(machine_for: Callable[..., Machine]) -> None:
    m = machine_for(two_servers(eu=2, us=0), {"CANARY_NODES": "0", "UNREACHABLE_FAILS": "true"})
    del m.fleet.ping[iid(2)]
    m.step("sync")
    m.step("canary")
    m.step("wave")
    m.poll_until_done()
    assert m.step("report")["ok"] is False


def test_a_node_that_never_answers_is_cancelled_when_the_wave_times_out(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=2, us=0), {"CANARY_NODES": "0", "WAVE_TIMEOUT_SECONDS": "300"})
    m.fleet.runs[iid(2)] = Run("InProgress", "InProgress", "Starting Chef Infra Client")
    m.step("sync")
    m.step("canary")
    m.step("wave")
    polls = []
    while not m.state.get("wave_done"):
        m.clock.t += 20
        polls.append(m.step("poll")["in_flight"])
        assert len(polls) < 30

    (command,) = sent()
    assert m.fleet.cancelled == [command["CommandId"]]
    # 300 s at 20 s a poll: 14 polls with the command running, the 15th cancels it.
    assert polls == [1] * 14 + [0]
    result = m.rollout().results[iid(2)]
    assert (result.outcome, result.details) == (
        "no_answer",
        "no answer within the wave's 300 s; cancelled",
    )
    assert result.output_tail == "Starting Chef Infra Client"
    report = m.step("report")
    assert report["ok"] is False
    assert report["counts"] == {"converged": 1, "no_answer": 1}


def test_a_node_never_answering_shows_as_no_answer(machine_for: Callable[..., Machine]) -> None:
    """Cancelling may not reach a hung node: it stays InProgress and is reported as such."""
    m = machine_for(two_servers(eu=1, us=0), {"CANARY_NODES": "0", "WAVE_TIMEOUT_SECONDS": "300"})
    m.fleet.runs[iid(1)] = Run("InProgress", "InProgress", "Converging 10 resources")
    m.step("sync")
    m.step("canary")
    m.step("wave")
    rollout = m.rollout()
    m.clock.t = rollout.wave_started_at + 299
    assert m.step("poll")["wave_done"] is False
    m.fleet.cancelled.append("ignored")  # CancelCommand is recorded; the run goes on
    original = m.fleet.refresh
    m.fleet.refresh = lambda: None  # type: ignore[method-assign]
    m.clock.t += 1
    done = m.step("poll")
    m.fleet.refresh = original  # type: ignore[method-assign]
    assert done["wave_done"] is True and done["counts"] == {"no_answer": 1}
    result = m.rollout().results[iid(1)]
    assert (result.status, result.output_tail) == ("InProgress", "Converging 10 resources")


def test_throttled_sends_are_retried_without_sending_twice(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=2, us=2), {"CANARY_NODES": "0"})
    m.step("sync")
    m.step("canary")
    before = m.state
    # The first SendCommand (prod-eu) goes out, the second (prod-us) is throttled.
    original = m.fleet._before_call

    def throttle_second(model: Any, params: Any, **kw: Any) -> Any:
        if model.name == "SendCommand" and len(sent()) == 1:
            m.fleet.throttle["SendCommand"] = 1
        return original(model, params, **kw)

    m.fleet._before_call = throttle_second  # type: ignore[method-assign]
    m.ctx.session = FleetSession(m.aws, m.fleet)
    with pytest.raises(ssm_rollout.SsmThrottled, match="SendCommand: ThrottlingException"):
        handler.step_wave(before, m.ctx)
    assert [sorted(c["InstanceIds"]) for c in sent()] == [[iid(1), iid(2)]]

    # Step Functions runs the state again (its Retry): only prod-us is sent.
    m.fleet._before_call = original  # type: ignore[method-assign]
    m.state = handler.step_wave(before, m.ctx)
    assert [sorted(c["InstanceIds"]) for c in sent()] == [
        [iid(1), iid(2)],
        [iid(1001), iid(1002)],
    ]
    assert m.poll_until_done()["counts"] == {"converged": 4}


def test_throttled_polls_and_lookups_surface_as_ssm_throttled(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=2, us=0), {"CANARY_NODES": "0"})
    m.fleet.throttle["DescribeInstanceInformation"] = 1
    with pytest.raises(ssm_rollout.SsmThrottled, match="DescribeInstanceInformation"):
        m.step("sync")
    m.step("sync")  # the retry
    m.step("canary")
    m.step("wave")
    m.fleet.throttle["GetCommandInvocation"] = 1
    m.clock.t += 20
    with pytest.raises(ssm_rollout.SsmThrottled, match="GetCommandInvocation"):
        m.step("poll")
    assert len(m.rollout().in_flight) == 1  # still to be looked at
    assert m.poll_until_done()["counts"] == {"converged": 2}
    assert len(m.rollout().results) == 2


def test_instances_ssm_calls_invalid_at_send_time_are_unreachable(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=3, us=0), {"CANARY_NODES": "0"})
    m.step("sync")
    m.step("canary")
    # Stopped between the sync's check and the send.
    m.fleet.invalid.add(iid(2))
    del m.fleet.ping[iid(2)]
    m.step("wave")
    (command,) = sent()
    assert sorted(command["InstanceIds"]) == [iid(1), iid(3)]
    m.poll_until_done()
    result = m.rollout().results[iid(2)]
    assert (result.outcome, result.status) == ("unreachable", "InvalidInstanceId")


def test_a_failed_sync_reports_without_converging(machine_for: Callable[..., Machine]) -> None:
    backend = two_servers(eu=1, us=1)
    backend.sync_outcome = handler.SyncOutcome(
        (handler.ServerOutcome("prod-eu", ok=False, error="HTTP 409: web 1.0.0 is frozen"),)
    )
    m = machine_for(backend, {"CHEF_SYNC_IN_LAMBDA": "true"})
    assert m.step("sync")["ok"] is False
    report = m.step("report")
    assert report["ok"] is False
    assert "Cookbook sync failed on: prod-eu: HTTP 409: web 1.0.0 is frozen." in report["summary"]
    assert sent() == []


def test_an_error_caught_by_the_machine_fails_the_report(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=1, us=0))
    # Sync failed before storing anything; the machine's Catch hands its error to Report.
    m.state["error"] = {"Error": "RuntimeError", "Cause": '{"errorMessage": "no key"}'}
    report = m.step("report")
    assert report["ok"] is False
    assert 'Rollout error: RuntimeError: {"errorMessage": "no key"}.' in report["summary"]
    assert m.summary()["error"].startswith("RuntimeError")


def test_verify_differences_fail_the_rollout(machine_for: Callable[..., Machine]) -> None:
    backend = two_servers(eu=1, us=0)
    backend.verification = handler.Verification(
        False, "dry-run", ("prod-eu: web 1.0.1 would be create",)
    )
    m = machine_for(backend, {"CANARY_NODES": "0"})
    m.step("sync")
    m.step("canary")
    m.step("wave")
    m.poll_until_done()
    assert m.step("verify")["ok"] is False
    report = m.step("report")
    assert report["ok"] is False
    assert (
        "Verify (dry-run) found differences: prod-eu: web 1.0.1 would be create."
        in report["summary"]
    )


def test_step_handler_dispatches_by_step_name(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[dict[str, Any], handler.StepContext]] = []

    def fake(state: Any, ctx: handler.StepContext) -> dict[str, Any]:
        seen.append((state, ctx))
        return {"ok": True}

    monkeypatch.setitem(handler.STEPS, "poll", fake)
    assert handler.step_handler({"step": "poll", "state": {"rollout_id": "r"}}, None) == {
        "ok": True
    }
    ((state, ctx),) = seen
    assert state == {"rollout_id": "r"}
    with pytest.raises(KeyError):
        handler.step_handler({"step": "nope", "state": {}}, None)


def test_an_error_in_the_middle_of_a_wave_reports_what_was_in_flight(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=2, us=0), {"CANARY_NODES": "1"})
    m.fleet.runs[iid(2)] = Run("InProgress", "InProgress", "")
    m.step("sync")
    m.step("canary")
    m.poll_until_done()
    m.step("wave")
    m.state["error"] = {"Error": "Lambda.Unknown", "Cause": "out of memory"}
    report = m.step("report")
    assert report["ok"] is False
    nodes = {n["instance_id"]: (n["outcome"], n["details"]) for n in m.summary()["nodes"]}
    assert nodes == {
        iid(1): ("converged", ""),
        iid(2): ("not_run", "sent, but the rollout stopped before its result was known"),
    }
    assert "Rollout error: Lambda.Unknown: out of memory." in report["summary"]
