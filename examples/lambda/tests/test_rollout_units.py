"""The rollout's pure parts (rate control, canary, outcomes, settings), the verify step's
two paths, and the pipeline action in step-functions mode (a stubbed Step Functions)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import ssm_rollout
import handler
import pytest
from botocore.stub import Stubber
from fleet_testing import FakeFleet, FleetSession, iid
from lambda_testing import ARTIFACT_BUCKET, FakeClock, job_event
from test_handler import JOB_ID, Pipeline, pipeline

__all__ = ["pipeline"]

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:chef-sync-rollout"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:chef-sync-rollout:job-" + JOB_ID


def ids(n: int) -> list[str]:
    return [iid(i) for i in range(n)]


def test_default_concurrency_is_the_depsolver_capacity_times_the_factor() -> None:
    plan = ssm_rollout.plan_commands(ids(30), ssm_rollout.RateControl(), canary=False)
    assert (plan.chunks, plan.lanes, plan.max_concurrency, plan.max_errors) == (
        [ids(30)],
        1,
        "20",
        "5%",
    )
    assert plan.error_budget == 1  # 5% of 30, rounded down
    workers = ssm_rollout.RateControl(depsolver_workers=8, depsolver_factor=3)
    assert ssm_rollout.plan_commands(ids(3), workers, canary=True).max_concurrency == "24"
    assert ssm_rollout.plan_commands(ids(3), workers, canary=True).max_errors == "0"


@pytest.mark.parametrize(
    ("nodes", "concurrency", "chunks", "lanes", "per_command"),
    [
        (120, "60", [50, 50, 20], 1, "50"),  # 60 at once: one command of 50 at a time
        (120, "120", [50, 50, 20], 2, "50"),  # two commands of 50 at once
        (200, "10%", [50, 50, 50, 50], 1, "20"),  # 10% of 200 = 20 at once
        (51, "7", [50, 1], 1, "7"),
    ],
)
def test_large_waves_split_without_exceeding_the_concurrency(
    nodes: int, concurrency: str, chunks: list[int], lanes: int, per_command: str
) -> None:
    plan = ssm_rollout.plan_commands(
        ids(nodes), ssm_rollout.RateControl(max_concurrency=concurrency), canary=False
    )
    assert [len(c) for c in plan.chunks] == chunks
    assert [i for c in plan.chunks for i in c] == ids(nodes)
    assert (plan.lanes, plan.max_concurrency) == (lanes, per_command)
    limit = ssm_rollout.resolve_amount(concurrency, nodes, at_least=1)
    assert plan.lanes * int(plan.max_concurrency) <= limit


def test_canary_by_count_percentage_server_or_none() -> None:
    fleet_ids = {"eu": ids(10), "us": [iid(100), iid(101)], "empty": []}
    first, rest = ssm_rollout.Canary.parse(None, "3").split(fleet_ids)
    assert first == {"eu": ids(3), "us": [iid(100), iid(101)], "empty": []}
    assert rest == {"eu": ids(10)[3:], "us": [], "empty": []}
    first, _ = ssm_rollout.Canary.parse(None, "10%").split(fleet_ids)
    assert first == {"eu": ids(1), "us": [iid(100)], "empty": []}  # at least one per server
    first, rest = ssm_rollout.Canary.parse("us", "5").split(fleet_ids)
    assert first == {"us": [iid(100), iid(101)]} and set(rest) == {"eu", "empty"}
    first, rest = ssm_rollout.Canary.parse("", "0").split(fleet_ids)
    assert first == {"eu": [], "us": [], "empty": []} and rest == fleet_ids
    with pytest.raises(ValueError, match="CANARY_SERVER 'asia' is not a server"):
        ssm_rollout.Canary.parse("asia", None).split(fleet_ids)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAX_CONCURRENCY": "0"}, "MAX_CONCURRENCY|max_concurrency"),
        ({"MAX_CONCURRENCY": "ten"}, "max_concurrency"),
        ({"MAX_ERRORS": "150%"}, "at most 100%"),
        ({"SERVER_RATE_CONTROL": '{"eu": {"max_concurency": "5"}}'}, "unknown rate-control keys"),
        ({"SERVER_RATE_CONTROL": '["eu"]'}, "SERVER_RATE_CONTROL must be a JSON object"),
        ({"DEPSOLVER_WORKERS": "0"}, "depsolver_workers"),
        ({"CANARY_NODES": "-1"}, "CANARY_NODES"),
        ({"WAVE_TIMEOUT_SECONDS": "0"}, "WAVE_TIMEOUT_SECONDS"),
    ],
)
def test_bad_rollout_settings_fail_before_anything_is_sent(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        handler.Settings.load(env)


def test_rollout_settings_from_environment_and_user_parameters() -> None:
    s = handler.Settings.load(
        {
            "MAX_ERRORS": "2",
            "DEPSOLVER_WORKERS": "6",
            "SERVER_RATE_CONTROL": '{"eu": {"max_concurrency": "25%"}}',
            "CANARY_NODES": "5%",
        },
        json.dumps(
            {
                "rate_control": {"us": {"max_errors": "0"}},
                "canary_server": "eu",
                "wave_timeout": 900,
            }
        ),
    )
    assert s.rate_control == {
        "*": {"max_errors": "2", "depsolver_workers": "6"},
        "eu": {"max_concurrency": "25%"},
        "us": {"max_errors": "0"},
    }
    assert s.canary == ssm_rollout.Canary(server="eu", nodes="5%")
    assert s.wave_timeout == 900
    rollout = ssm_rollout.Rollout(
        id="r",
        command="c",
        rate={k: dict(v) for k, v in s.rate_control.items()},
        waves=[],
        nodes={},
    )
    assert rollout.rate_for("eu").concurrency == "25%"
    assert rollout.rate_for("us") == ssm_rollout.RateControl(None, "0", 6, 4)
    assert rollout.rate_for("asia").concurrency == "24"


@pytest.mark.parametrize(
    ("status", "details", "outcome"),
    [
        ("Success", "Success", "converged"),
        ("Failed", "Failed", "failed"),
        ("TimedOut", "Execution Timed Out", "failed"),
        ("TimedOut", "Delivery Timed Out", "unreachable"),
        ("Failed", "Undeliverable", "unreachable"),
        ("Cancelled", "Terminated", "not_run"),
        ("Failed", "Terminated", "not_run"),
        ("InProgress", "InProgress", "no_answer"),
    ],
)
def test_ssm_statuses_become_outcomes(status: str, details: str, outcome: str) -> None:
    assert ssm_rollout.outcome_of(status, details) == outcome


def test_output_tail_and_duration() -> None:
    invocation = {
        "StandardOutputContent": "x" * 50 + "Chef Infra Client failed",
        "StandardErrorContent": "boom",
        "ExecutionStartDateTime": "2026-12-06T10:00:00.000Z",
        "ExecutionEndDateTime": "2026-12-06T10:01:30.500Z",
    }
    assert ssm_rollout.output_tail(invocation, 38) == "...Chef Infra Client failed\n[stderr]\nboom"
    assert ssm_rollout.duration_of(invocation) == 90.5
    assert (
        ssm_rollout.duration_of({"ExecutionStartDateTime": "", "ExecutionEndDateTime": ""}) is None
    )


def test_rollout_document_round_trips() -> None:
    rollout = ssm_rollout.Rollout(
        id="r",
        command="sudo chef-client",
        rate={"*": {"max_errors": "1"}},
        waves=[{"name": "canary", "servers": {"eu": [iid(1)]}}],
        nodes={iid(1): ["web-1", "eu"]},
        servers={"eu": ssm_rollout.ServerWave([[iid(2)]], 1, "20", "1", 1)},
        in_flight=[ssm_rollout.InFlight("eu", "cmd", [iid(1)], 5.0)],
    )
    rollout.record(ssm_rollout.NodeResult("eu", iid(1), "", "converged", "Success", wave="canary"))
    again = ssm_rollout.Rollout.from_json(rollout.to_json())
    assert again == rollout
    assert again.results[iid(1)].node == "web-1"


# ---------------------------------------------------------------------------------------------
# Verify: chef_sync.status when the module has it, otherwise a dry-run sync
# ---------------------------------------------------------------------------------------------


def cookbook(name: str, outcome: str, error: str | None = None) -> Any:
    return SimpleNamespace(name=name, version="1.0.0", outcome=outcome, error=error)


def report(ok: bool, *servers: Any) -> Any:
    return SimpleNamespace(ok=ok, servers=list(servers))


class DryRunOnly:
    """A chef_sync without ``status`` (today's module)."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.calls: list[dict[str, Any]] = []

    def sync(self, repo: Path, **kwargs: Any) -> Any:
        self.calls.append({"repo": repo, **kwargs})
        return self.result


def test_verify_without_status_runs_a_dry_run_sync(tmp_path: Path) -> None:
    module = DryRunOnly(
        report(
            True, SimpleNamespace(name="eu", error=None, cookbooks=[cookbook("web", "unchanged")])
        )
    )
    result = handler.verify_repository(module, tmp_path, tmp_path / "cache")
    assert result == handler.Verification(True, "dry-run", ())
    assert module.calls == [{"repo": tmp_path, "dry_run": True, "cache_dir": tmp_path / "cache"}]


def test_verify_dry_run_fails_when_anything_would_change(tmp_path: Path) -> None:
    module = DryRunOnly(
        report(
            True,
            SimpleNamespace(
                name="eu",
                error=None,
                cookbooks=[cookbook("web", "unchanged"), cookbook("db", "update")],
            ),
            SimpleNamespace(name="us", error="HTTP 401: bad key", cookbooks=[]),
        )
    )
    result = handler.verify_repository(module, tmp_path, tmp_path)
    assert result.ok is False and result.method == "dry-run"
    assert result.differences == ("eu: db 1.0.0 would be update", "us: HTTP 401: bad key")


def test_verify_uses_status_when_the_module_has_it(tmp_path: Path) -> None:
    calls: list[Path] = []
    # The shape of chef_sync.StatusReport: an exit code, servers, rows with drift and cells.
    drifting = SimpleNamespace(
        name="web",
        version="1.0.0",
        drift=["differs"],
        servers=[
            SimpleNamespace(server="eu", state="differs"),
            SimpleNamespace(server="us", state="match"),
        ],
    )
    status_report = SimpleNamespace(
        exit_code=2,
        servers=[SimpleNamespace(name="eu", ok=True, error=None)],
        cookbooks=[drifting],
        objects=[],
    )

    class WithStatus(DryRunOnly):
        def status(self, repo: Path, **_: Any) -> Any:
            calls.append(repo)
            return status_report

    module = WithStatus(report(True))
    result = handler.verify_repository(module, tmp_path, tmp_path)
    assert calls == [tmp_path] and module.calls == []
    assert result == handler.Verification(
        False, "status", ("cookbook web 1.0.0: differs (eu: differs)",)
    )


def test_verify_with_a_module_that_cannot_is_a_clear_failure(tmp_path: Path) -> None:
    with pytest.raises(handler.BackendUnavailable, match="neither status nor sync"):
        handler.verify_repository(SimpleNamespace(__version__="0.0.1"), tmp_path, tmp_path)


# ---------------------------------------------------------------------------------------------
# The pipeline action in step-functions mode
# ---------------------------------------------------------------------------------------------


ENV = {
    "STATE_MACHINE_ARN": MACHINE,
    "RESULTS_BUCKET": ARTIFACT_BUCKET,
    "POLL_INTERVAL_SECONDS": "10",
}


def run_action(
    aws: boto3.session.Session,
    pipeline: Pipeline,
    sfn: Any,
    event: dict[str, Any],
    clock: FakeClock | None = None,
) -> dict[str, Any]:
    clock = clock or FakeClock(300)

    def no_backend() -> handler.ChefBackend:
        raise AssertionError("the pipeline action must not reach Chef in step-functions mode")

    return handler.handle(
        event,
        clock,
        env=ENV,
        session=FleetSession(aws, FakeFleet(), {"stepfunctions": sfn}),
        codepipeline=pipeline.client,
        backend=no_backend,
        sleep=clock.sleep,
    )


def test_the_action_starts_the_machine_and_hands_back_a_continuation(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    sfn = aws.client("stepfunctions")
    event = job_event(aws, user_parameters='{"canary_nodes": "10%"}')
    location = event["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]
    with Stubber(sfn) as stub:
        stub.add_response(
            "start_execution",
            {"executionArn": EXECUTION, "startDate": "2026-12-06T10:00:00Z"},
            {
                "stateMachineArn": MACHINE,
                "name": f"job-{JOB_ID}",
                "input": json.dumps(
                    {
                        "rollout_id": f"job-{JOB_ID}",
                        "job_id": JOB_ID,
                        "artifact": {
                            "bucket": location["bucketName"],
                            "key": location["objectKey"],
                        },
                        "user_parameters": '{"canary_nodes": "10%"}',
                    }
                ),
            },
        )
        pipeline.expect(ok=True, continuation=True)
        result = run_action(aws, pipeline, sfn, event)
        stub.assert_no_pending_responses()
    assert result["ok"] is True
    ((_, params),) = pipeline.calls
    assert json.loads(params["continuationToken"]) == {"v": 2, "execution": EXECUTION}


def test_a_repeated_start_follows_the_execution_already_there(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    sfn = aws.client("stepfunctions")
    with Stubber(sfn) as stub:
        stub.add_client_error("start_execution", "ExecutionAlreadyExists", "exists")
        pipeline.expect(ok=True, continuation=True)
        run_action(aws, pipeline, sfn, job_event(aws))
    ((_, params),) = pipeline.calls
    assert json.loads(params["continuationToken"])["execution"] == EXECUTION


def continued(aws: boto3.session.Session) -> dict[str, Any]:
    event = job_event(aws)
    event["CodePipeline.job"]["data"]["continuationToken"] = json.dumps(
        {"v": 2, "execution": EXECUTION}
    )
    return event


def test_a_running_execution_is_followed_for_a_minute_at_most(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    sfn = aws.client("stepfunctions")
    clock = FakeClock(300)
    with Stubber(sfn) as stub:
        for _ in range(7):
            stub.add_response(
                "describe_execution",
                {
                    "executionArn": EXECUTION,
                    "stateMachineArn": MACHINE,
                    "status": "RUNNING",
                    "startDate": "2026-12-06T10:00:00Z",
                },
                {"executionArn": EXECUTION},
            )
        pipeline.expect(ok=True, continuation=True)
        result = run_action(aws, pipeline, sfn, continued(aws), clock)
        stub.assert_no_pending_responses()
    assert clock.sleeps == [10] * 6  # 60 s, then a continuation
    assert result["summary"] == f"Rollout {EXECUTION} still running."


def test_a_finished_execution_reports_its_summary(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    sfn = aws.client("stepfunctions")
    output = {
        "ok": True,
        "summary": "chef-client converged 7 of 7 nodes. Per-node results: s3://x.",
    }
    with Stubber(sfn) as stub:
        stub.add_response(
            "describe_execution",
            {
                "executionArn": EXECUTION,
                "stateMachineArn": MACHINE,
                "status": "SUCCEEDED",
                "startDate": "2026-12-06T10:00:00Z",
                "output": json.dumps(output),
            },
        )
        pipeline.expect(ok=True)
        result = run_action(aws, pipeline, sfn, continued(aws))
    assert result == {"ok": True, "summary": output["summary"], "statuses": {}}
    ((name, params),) = pipeline.calls
    assert params["executionDetails"]["summary"] == output["summary"]


def test_a_failed_execution_fails_the_job_with_its_cause(
    aws: boto3.session.Session, pipeline: Pipeline
) -> None:
    sfn = aws.client("stepfunctions")
    cause = (
        f"chef-client converged 1 of 5 nodes. Failed: {iid(1)} (web-1 on prod-eu) Failed: FATAL."
    )
    with Stubber(sfn) as stub:
        stub.add_response(
            "describe_execution",
            {
                "executionArn": EXECUTION,
                "stateMachineArn": MACHINE,
                "status": "FAILED",
                "startDate": "2026-12-06T10:00:00Z",
                "error": "RolloutFailed",
                "cause": cause,
            },
        )
        pipeline.expect(ok=False)
        run_action(aws, pipeline, sfn, continued(aws))
    assert pipeline.failure_message == f"Rollout failed: {cause}"
