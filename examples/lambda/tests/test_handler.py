"""The CodePipeline Lambda handler against moto (S3, SSM), a Stubber for CodePipeline's job
results, and a fake Chef seam."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import handler
import pytest
from botocore.stub import ANY, Stubber
from lambda_testing import (
    ARTIFACT_BUCKET,
    KEY_BUCKET,
    SERVERS,
    FakeBackend,
    FakeClock,
    FakeServer,
    job_event,
    node,
    pem,
)
from fleet_testing import FakeFleet, FleetSession, Run
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends

JOB_ID = "11111111-2222-3333-4444-555555555555"
ENV = {"KEY_BUCKET": KEY_BUCKET, "POLL_INTERVAL_SECONDS": "10", "DEADLINE_MARGIN_SECONDS": "30"}


class Pipeline:
    """A real CodePipeline client whose job-result calls are stubbed and recorded."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.client = session.client("codepipeline")
        self.stubber = Stubber(self.client)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register("before-parameter-build.codepipeline", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def expect(self, ok: bool, continuation: bool = False) -> None:
        if continuation:
            self.stubber.add_response(
                "put_job_success_result",
                {},
                {"jobId": JOB_ID, "continuationToken": ANY, "executionDetails": ANY},
            )
        elif ok:
            self.stubber.add_response(
                "put_job_success_result", {}, {"jobId": JOB_ID, "executionDetails": ANY}
            )
        else:
            self.stubber.add_response(
                "put_job_failure_result", {}, {"jobId": JOB_ID, "failureDetails": ANY}
            )
        self.stubber.activate()

    @property
    def failure_message(self) -> str:
        ((name, params),) = self.calls
        assert name == "PutJobFailureResult"
        assert params["failureDetails"]["type"] == "JobFailed"
        message: str = params["failureDetails"]["message"]
        return message


def ssm_commands(session: boto3.session.Session) -> list[dict[str, Any]]:
    commands: list[dict[str, Any]] = session.client("ssm").list_commands()["Commands"]
    return commands


def set_status(statuses: dict[str, str]) -> None:
    """Overrides moto's always-Success invocation statuses."""
    for command in ssm_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]._commands:
        for invocation in command.invocations:
            if invocation["InstanceId"] in statuses:
                invocation["Status"] = statuses[invocation["InstanceId"]]


class HookedSession:
    """A boto3 session whose SSM clients run ``after_send`` after every SendCommand."""

    def __init__(self, session: boto3.session.Session, after_send: Callable[[], None]) -> None:
        self.session = session
        self.after_send = after_send

    def client(self, name: str, **kwargs: Any) -> Any:
        client = self.session.client(name, **kwargs)
        if name == "ssm":
            client.meta.events.register("after-call.ssm.SendCommand", lambda **_: self.after_send())
        return client


def iid(n: int) -> str:
    return f"i-{n:017x}"


@pytest.fixture
def pipeline(aws: boto3.session.Session) -> Iterator[Pipeline]:
    p = Pipeline(aws)
    yield p
    p.stubber.assert_no_pending_responses()


def run(
    aws: Any,
    pipeline: Pipeline,
    backend: Any,
    *,
    clock: FakeClock | None = None,
    env: dict[str, str] | None = None,
    event: dict[str, Any] | None = None,
    tmp_path: Path | None = None,
) -> dict[str, Any]:
    clock = clock or FakeClock(300)
    session = aws.session if isinstance(aws, (HookedSession, FleetSession)) else aws
    while not isinstance(session, boto3.session.Session):
        session = session.session
    if not isinstance(aws, FleetSession):
        # Every instance is a managed node unless a test says otherwise.
        aws = FleetSession(aws, FakeFleet(everyone_online=True, drive_runs=False))
    return handler.handle(
        event or job_event(session),
        clock,
        env=env or ENV,
        session=aws,
        codepipeline=pipeline.client,
        backend=backend
        if callable(backend) and not isinstance(backend, FakeBackend)
        else (lambda: backend),
        sleep=clock.sleep,
        workdir=tmp_path,
    )


def test_converges_every_found_node_and_reports_success(
    aws: boto3.session.Session, pipeline: Pipeline, tmp_path: Path
) -> None:
    eu = FakeServer("prod-eu", [node("web-1", iid(1)), node("db-1", iid(2), level="normal")])
    us = FakeServer(
        "prod-us",
        [node("web-2", iid(3)), node("laptop", None), node("web-1-again", iid(1))],
    )
    backend = FakeBackend({"prod-eu": eu, "prod-us": us})
    pipeline.expect(ok=True)

    result = run(aws, pipeline, backend, tmp_path=tmp_path)

    assert result["ok"] is True, result["summary"]
    assert backend.keys_seen == {s: pem(s) for s in SERVERS}
    assert eu.queries == ["*:*"] and us.queries == ["*:*"]
    (command,) = ssm_commands(aws)
    assert sorted(command["InstanceIds"]) == [iid(1), iid(2), iid(3)]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["Parameters"] == {"commands": ["sudo chef-client"]}
    assert JOB_ID in command["Comment"]
    assert result["statuses"] == {iid(1): "Success", iid(2): "Success", iid(3): "Success"}
    assert "succeeded on 3 of 3" in result["summary"]
    assert "laptop on prod-us" in result["summary"]
    assert not backend.synced
    # The repository and its keys are gone once the job is done.
    assert list(tmp_path.iterdir()) == []


def test_more_than_fifty_instances_go_out_in_batches(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    ids = [iid(n) for n in range(1, 121)]
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node(f"n{i}", i) for i in ids]),
            "prod-us": FakeServer("prod-us"),
        }
    )
    pipeline.expect(ok=True)

    result = run(aws, pipeline, backend)

    commands = ssm_commands(aws)
    sizes = sorted(len(c["InstanceIds"]) for c in commands)
    assert sizes == [20, 50, 50]
    sent = [i for c in commands for i in c["InstanceIds"]]
    assert sorted(sent) == sorted(ids)
    assert result["ok"] is True
    assert "succeeded on 120 of 120" in result["summary"]


def test_batch_size_can_be_lowered(aws: boto3.session.Session, pipeline: Pipeline) -> None:
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node(f"n{n}", iid(n)) for n in range(7)]),
            "prod-us": FakeServer("prod-us"),
        }
    )
    pipeline.expect(ok=True)
    run(aws, pipeline, backend, env={**ENV, "SSM_BATCH_SIZE": "3"})
    assert sorted(len(c["InstanceIds"]) for c in ssm_commands(aws)) == [1, 3, 3]


def test_failed_instances_are_named_in_the_failure(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node("web-1", iid(1)), node("web-2", iid(2))]),
            "prod-us": FakeServer("prod-us", [node("db-9", iid(9))]),
        }
    )
    hooked = HookedSession(aws, lambda: set_status({iid(2): "Failed", iid(9): "TimedOut"}))
    pipeline.expect(ok=False)

    result = run(hooked, pipeline, backend)

    assert result["ok"] is False
    message = pipeline.failure_message
    assert f"{iid(2)} (web-2 on prod-eu): Failed" in message
    assert f"{iid(9)} (db-9 on prod-us): TimedOut" in message
    assert "succeeded on 1 of 3" in message
    assert iid(1) not in message


def test_polling_stops_before_the_lambda_deadline(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node("web-1", iid(1)), node("web-2", iid(2))]),
            "prod-us": FakeServer("prod-us"),
        }
    )
    hooked = HookedSession(aws, lambda: set_status({iid(2): "InProgress"}))
    clock = FakeClock(remaining_seconds=75)
    pipeline.expect(ok=False)

    result = run(hooked, pipeline, backend, clock=clock, env={**ENV, "CONTINUE_POLLING": "false"})

    # 75 s left, 10 s polls, 30 s margin: polls at 75, 65, 55, 45 and stops with 35 s left.
    assert clock.sleeps == [10, 10, 10, 10]
    assert clock.remaining >= 30
    assert result["statuses"] == {iid(1): "Success", iid(2): "InProgress"}
    message = pipeline.failure_message
    assert "Still running when the Lambda deadline neared" in message
    assert f"{iid(2)} (web-2 on prod-eu): InProgress" in message


def test_polling_waits_for_running_invocations(aws: boto3.session.Session) -> None:
    ssm = aws.client("ssm")
    settings = handler.Settings(poll_interval=5, deadline_margin=10)
    commands, refused = handler.send_chef_client(ssm, [iid(1), iid(2)], settings, "test")
    assert refused == {}
    set_status({iid(1): "InProgress", iid(2): "Pending"})
    clock = FakeClock(600)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        # Finishes after the second wait.
        if len(clock.sleeps) == 2:
            set_status({iid(1): "Success", iid(2): "Failed"})

    statuses = handler.poll_invocations(ssm, commands, lambda: clock.remaining, settings, sleep)
    assert statuses == {iid(1): "Success", iid(2): "Failed"}
    assert clock.sleeps == [5, 5]


def test_a_failing_search_fails_the_job_but_the_others_converge(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", error=ConnectionError("prod-eu.example: refused")),
            "prod-us": FakeServer("prod-us", [node("web-2", iid(3))]),
        }
    )
    pipeline.expect(ok=False)

    result = run(aws, pipeline, backend)

    (command,) = ssm_commands(aws)
    assert command["InstanceIds"] == [iid(3)]
    assert result["statuses"] == {iid(3): "Success"}
    assert "Search failed on: prod-eu: ConnectionError: prod-eu.example: refused" in (
        pipeline.failure_message
    )


def test_sync_in_lambda_failure_stops_before_converging(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {"prod-eu": FakeServer("prod-eu", [node("web-1", iid(1))])},
        sync_outcome=handler.SyncOutcome(
            (
                handler.ServerOutcome("prod-eu", ok=True),
                handler.ServerOutcome(
                    "prod-us", ok=False, error="HTTP 409: apache2 1.0.0 is frozen"
                ),
            )
        ),
    )
    pipeline.expect(ok=False)

    result = run(aws, pipeline, backend, env={**ENV, "CHEF_SYNC_IN_LAMBDA": "true"})

    assert len(backend.synced) == 1
    assert ssm_commands(aws) == []
    assert result["ok"] is False
    assert pipeline.failure_message == (
        "Cookbook sync failed on: prod-us: HTTP 409: apache2 1.0.0 is frozen."
    )


def test_a_status_gate_that_finds_drift_stops_before_converging(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {"prod-eu": FakeServer("prod-eu", [node("web-1", iid(1))])},
        sync_outcome=handler.SyncOutcome((handler.ServerOutcome("prod-eu", ok=True),)),
        status_outcome=handler.StatusOutcome(
            2, ("cookbook apache2 1.0.0: differs, diverged (prod-us: differs)",)
        ),
    )
    pipeline.expect(ok=False)
    event = job_event(aws, user_parameters='{"sync": true, "status": true}')

    result = run(aws, pipeline, backend, event=event)

    assert len(backend.synced) == 1 and len(backend.statuses) == 1
    assert ssm_commands(aws) == []
    assert result["ok"] is False
    assert pipeline.failure_message == (
        "Status gate failed (the servers drift): "
        "cookbook apache2 1.0.0: differs, diverged (prod-us: differs)."
    )


def test_a_status_gate_in_sync_converges(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {"prod-eu": FakeServer("prod-eu", [node("web-1", iid(7))])},
        status_outcome=handler.StatusOutcome(0),
    )
    pipeline.expect(ok=True)

    result = run(aws, pipeline, backend, env={**ENV, "CHEF_STATUS_GATE": "true"})

    assert backend.synced == [] and len(backend.statuses) == 1
    assert result["statuses"] == {iid(7): "Success"}


def test_user_parameters_override_the_environment(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    eu = FakeServer("prod-eu", [{"name": "web-1", "default": {"aws": {"id": iid(4)}}}])
    backend = FakeBackend(
        {"prod-eu": eu, "prod-us": FakeServer("prod-us")},
        sync_outcome=handler.SyncOutcome((handler.ServerOutcome("prod-eu", ok=True),)),
    )
    pipeline.expect(ok=True)
    event = job_event(
        aws,
        user_parameters='{"query": "role:web", "instance_id_attribute": "aws.id", "sync": true}',
    )

    result = run(aws, pipeline, backend, event=event, env={**ENV, "CHEF_NODE_QUERY": "role:db"})

    assert eu.queries == ["role:web"]
    assert len(backend.synced) == 1
    assert result["statuses"] == {iid(4): "Success"}


def test_a_missing_key_fails_the_job_naming_the_server(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    aws.client("s3").delete_object(Bucket=KEY_BUCKET, Key="prod-us/private.pem")
    backend = FakeBackend({"prod-eu": FakeServer("prod-eu", [node("web-1", iid(1))])})
    pipeline.expect(ok=False)

    run(aws, pipeline, backend)

    message = pipeline.failure_message
    assert "prod-us" in message
    assert f"s3://{KEY_BUCKET}/prod-us/private.pem" in message
    assert ssm_commands(aws) == []


def test_an_old_chef_sync_layer_is_a_clear_failure(
    aws: boto3.session.Session, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chef_sync

    monkeypatch.delattr(chef_sync, "repo_clients")
    pipeline.expect(ok=False)
    run(aws, pipeline, handler.load_backend)
    message = pipeline.failure_message
    assert message.startswith("BackendUnavailable: chef_sync ")
    assert "repo_clients" in message


def test_sync_asked_of_a_layer_without_sync_is_a_clear_failure(
    aws: boto3.session.Session, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chef_sync

    monkeypatch.delattr(chef_sync, "sync", raising=False)
    pipeline.expect(ok=False)
    event = job_event(aws, user_parameters='{"sync": true}')
    run(aws, pipeline, handler.load_backend, event=event)
    message = pipeline.failure_message
    assert message.startswith("BackendUnavailable: chef_sync ")
    assert "has no sync" in message and "CHEF_SYNC_IN_LAMBDA" in message
    assert ssm_commands(aws) == []


def test_no_input_artifact_is_a_clear_failure(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    event = job_event(aws)
    event["CodePipeline.job"]["data"]["inputArtifacts"] = []
    pipeline.expect(ok=False)
    run(aws, pipeline, FakeBackend({}), event=event)
    assert "no input artifact" in pipeline.failure_message


def test_running_invocations_are_polled_on_in_a_continuation(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node("web-1", iid(1)), node("web-2", iid(2))]),
            "prod-us": FakeServer("prod-us", error=ConnectionError("prod-us.example: refused")),
        }
    )
    hooked = HookedSession(aws, lambda: set_status({iid(2): "InProgress"}))
    pipeline.expect(ok=True, continuation=True)

    first = run(hooked, pipeline, backend, clock=FakeClock(75))

    assert first["ok"] is True
    assert first["summary"].startswith("1 instances still running chef-client; polling continues.")
    ((name, params),) = pipeline.calls
    assert name == "PutJobSuccessResult"
    token = params["continuationToken"]
    assert len(token) <= handler.MAX_CONTINUATION_TOKEN

    # chef-client on web-2 ends (badly) before CodePipeline invokes the function again.
    set_status({iid(2): "Failed"})
    pipeline.calls.clear()
    pipeline.expect(ok=False)
    event = job_event(aws)
    event["CodePipeline.job"]["data"]["continuationToken"] = token

    def no_backend() -> handler.ChefBackend:
        raise AssertionError("a continuation must not sync or search again")

    second = run(aws, pipeline, no_backend, event=event)

    assert second["statuses"] == {iid(1): "Success", iid(2): "Failed"}
    message = pipeline.failure_message
    assert f"Failed: {iid(2)}: Failed." in message
    assert "Search failed on: prod-us: ConnectionError: prod-us.example: refused" in message
    assert len(ssm_commands(aws)) == 1  # nothing was sent twice


def test_unreachable_nodes_are_set_aside_and_named_not_failed(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node("web-1", iid(1)), node("stopped", iid(2))]),
            "prod-us": FakeServer("prod-us", [node("agentless", iid(3))]),
        }
    )
    fleet = FakeFleet(drive_runs=False)
    fleet.manage(iid(1))
    fleet.manage(iid(2), ping="ConnectionLost")
    pipeline.expect(ok=True)

    result = run(FleetSession(aws, fleet), pipeline, backend)

    (command,) = ssm_commands(aws)
    assert command["InstanceIds"] == [iid(1)]
    assert result["ok"] is True, result["summary"]
    assert result["statuses"] == {iid(1): "Success"}
    assert (
        "Unreachable (not managed by SSM or not running; no cookbook ran): "
        f"{iid(2)} (stopped on prod-eu): unreachable [SSM agent ConnectionLost]; "
        f"{iid(3)} (agentless on prod-us): unreachable [not managed by SSM" in result["summary"]
    )


def test_per_node_results_go_to_the_failure_and_a_json_summary(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {
            "prod-eu": FakeServer("prod-eu", [node("web-1", iid(1)), node("web-2", iid(2))]),
            "prod-us": FakeServer("prod-us"),
        }
    )
    fleet = FakeFleet(everyone_online=True)
    fleet.runs[iid(2)] = Run(
        "Failed", "Failed", "Compiling cookbooks...\nFATAL: Stacktrace dumped to /var/chef/x\n"
    )
    pipeline.expect(ok=False)

    run(
        FleetSession(aws, fleet),
        pipeline,
        backend,
        env={**ENV, "RESULTS_BUCKET": ARTIFACT_BUCKET},
    )

    message = pipeline.failure_message
    assert (
        f"Failed: {iid(2)} (web-2 on prod-eu): Failed (FATAL: Stacktrace dumped to /var/chef/x)."
        in message
    )
    key = f"chef-sync/converge/job-{JOB_ID}/summary.json"
    assert f"Per-node results: s3://{ARTIFACT_BUCKET}/{key}." in message
    summary = json.loads(
        aws.client("s3").get_object(Bucket=ARTIFACT_BUCKET, Key=key)["Body"].read()
    )
    assert summary["ok"] is False and summary["mode"] == "lambda"
    assert summary["counts"] == {"converged": 1, "failed": 1}
    failed = next(n for n in summary["nodes"] if n["instance_id"] == iid(2))
    assert failed["server"] == "prod-eu" and failed["node"] == "web-2"
    assert failed["outcome"] == "failed" and failed["duration_seconds"] == 300.0
    assert failed["output_tail"].endswith("FATAL: Stacktrace dumped to /var/chef/x\n")


def test_a_policy_group_pushes_the_policy_instead_of_syncing_cookbooks(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {"prod-eu": FakeServer("prod-eu", [node("web-1", iid(8))])},
        sync_outcome=handler.SyncOutcome((handler.ServerOutcome("prod-eu", ok=True),)),
    )
    pipeline.expect(ok=True)
    event = job_event(aws, user_parameters='{"sync": true, "policy_group": "prod"}')

    result = run(aws, pipeline, backend, event=event)

    assert backend.synced == []
    assert [group for _, group in backend.pushed] == ["prod"]
    assert result["statuses"] == {iid(8): "Success"}


def test_a_failed_policy_push_stops_before_converging(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    backend = FakeBackend(
        {"prod-eu": FakeServer("prod-eu", [node("web-1", iid(9))])},
        sync_outcome=handler.SyncOutcome(
            (handler.ServerOutcome("prod-us", ok=False, error="artifact app 1.0.0: HTTP 500"),)
        ),
    )
    pipeline.expect(ok=False)
    env = {**ENV, "CHEF_SYNC_IN_LAMBDA": "true", "CHEF_POLICY_GROUP": "*"}

    result = run(aws, pipeline, backend, env=env)

    # "*": every server's own group from its config.yml.
    assert [group for _, group in backend.pushed] == [None]
    assert ssm_commands(aws) == []
    assert result["ok"] is False
    assert pipeline.failure_message == (
        "Policy push failed on: prod-us: artifact app 1.0.0: HTTP 500."
    )
