"""The state machine of deploy/template.yaml run as written, by a small ASL interpreter, on the
handler's states (moto SSM and S3, a fake fleet): its Choices read what the states return,
its Retry catches SSM throttling, its Catch hands errors to Report."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import handler
import pytest
from cfnlint.decode import decode
from fleet_testing import Run, iid, sent
from lambda_testing import KEY_BUCKET
from test_rollout import Machine, machine_for, two_servers

__all__ = ["machine_for"]

TEMPLATE = Path(__file__).resolve().parents[3] / "deploy" / "template.yaml"


def definition() -> dict[str, Any]:
    loaded, matches = decode(str(TEMPLATE))
    assert not matches and loaded is not None
    props = loaded["Resources"]["StateMachine"]["Properties"]
    found: dict[str, Any] = json.loads(json.dumps(props["Definition"]))
    return found


@dataclass
class Execution:
    status: str
    output: dict[str, Any]
    visited: list[str] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    retries: int = 0


def path_value(data: Mapping[str, Any], path: str) -> Any:
    assert path.startswith("$.") and "." not in path[2:], path
    return data[path[2:]]


def matches(errors: list[str], name: str) -> bool:
    return name in errors or "States.ALL" in errors


def execute(
    asl: dict[str, Any],
    data: dict[str, Any],
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    wait: Callable[[int], None],
    max_transitions: int = 500,
) -> Execution:
    """Runs the subset of ASL the template uses: Task (Parameters with ``state.$: $``, Retry
    by error name, Catch with ResultPath), Choice (BooleanEquals), Wait (SecondsPath),
    Succeed, Fail (Cause or CausePath)."""
    states = asl["States"]
    name = asl["StartAt"]
    run = Execution("RUNNING", data)
    for _ in range(max_transitions):
        state = states[name]
        run.visited.append(name)
        kind = state["Type"]
        if kind == "Task":
            params = state["Parameters"]
            assert params["state.$"] == "$"
            attempts: dict[int, int] = {}
            while True:
                try:
                    data = invoke({"step": params["step"], "state": data})
                    name = state["Next"]
                    break
                except Exception as e:  # noqa: BLE001 - the machine sees every error by name
                    error = type(e).__name__
                    retriers = [
                        (i, r)
                        for i, r in enumerate(state.get("Retry", []))
                        if matches(r["ErrorEquals"], error)
                    ]
                    if retriers:
                        i, retrier = retriers[0]
                        if attempts.get(i, 0) < retrier["MaxAttempts"]:
                            attempts[i] = attempts.get(i, 0) + 1
                            run.retries += 1
                            continue
                    catchers = [
                        c for c in state.get("Catch", []) if matches(c["ErrorEquals"], error)
                    ]
                    if not catchers:
                        return Execution("FAILED", data, run.visited, error, str(e), run.retries)
                    catcher = catchers[0]
                    caught = {"Error": error, "Cause": str(e)}
                    path = catcher.get("ResultPath", "$")
                    data = caught if path == "$" else {**data, path[2:]: caught}
                    name = catcher["Next"]
                    break
        elif kind == "Choice":
            name = state["Default"]
            for choice in state["Choices"]:
                if path_value(data, choice["Variable"]) == choice["BooleanEquals"]:
                    name = choice["Next"]
                    break
        elif kind == "Wait":
            wait(int(path_value(data, state["SecondsPath"])))
            name = state["Next"]
        elif kind == "Succeed":
            return Execution("SUCCEEDED", data, run.visited, retries=run.retries)
        elif kind == "Fail":
            cause = (
                path_value(data, state["CausePath"]) if "CausePath" in state else state.get("Cause")
            )
            return Execution("FAILED", data, run.visited, state["Error"], cause, run.retries)
        else:
            raise AssertionError(f"state type {kind} is not interpreted")
    raise AssertionError("the execution never ended")


def start(m: Machine) -> Execution:
    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        # The Lambda's payload is JSON both ways.
        payload = json.loads(json.dumps(payload))
        output: dict[str, Any] = json.loads(
            json.dumps(handler.STEPS[payload["step"]](payload["state"], m.ctx))
        )
        return output

    def wait(seconds: int) -> None:
        m.clock.t += seconds

    return execute(definition(), dict(m.state), invoke, wait)


def test_a_rollout_runs_sync_canary_waves_verify_report(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=3, us=2))
    run = start(m)
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["ok"] is True and run.output["counts"] == {"converged": 5}
    names = [n for n in run.visited if n not in ("CanaryWait", "WavesWait")]
    assert names == [
        "Sync",
        "Synced",
        "Canary",
        "CanaryDone",
        "PollCanary",
        "CanaryDone",
        "Waves",
        "WavesDone",
        "PollWaves",
        "WavesDone",
        "Verify",
        "Report",
        "Reported",
        "Converged",
    ]
    assert len(sent()) == 4  # a canary command per server, then the rest per server


def test_a_failed_canary_fails_the_execution_naming_the_node(
    machine_for: Callable[..., Machine],
) -> None:
    m = machine_for(two_servers(eu=3, us=2))
    m.fleet.runs[iid(1)] = Run("Failed", "Failed", "FATAL: NoMethodError")
    run = start(m)
    assert (run.status, run.error) == ("FAILED", "RolloutFailed")
    assert run.cause is not None
    assert f"Failed: {iid(1)} (eu-1 on prod-eu) Failed: FATAL: NoMethodError." in run.cause
    assert "Waves" not in run.visited and "Verify" not in run.visited
    assert len(sent()) == 2


def test_ssm_throttling_is_retried_by_the_machine(machine_for: Callable[..., Machine]) -> None:
    m = machine_for(two_servers(eu=2, us=2), {"CANARY_NODES": "0"})
    m.fleet.throttle["DescribeInstanceInformation"] = 2
    m.fleet.throttle["SendCommand"] = 1
    run = start(m)
    assert run.status == "SUCCEEDED", run.cause
    assert run.retries == 3
    assert sorted(i for c in sent() for i in c["InstanceIds"]) == [
        iid(1),
        iid(2),
        iid(1001),
        iid(1002),
    ]


def test_an_error_in_a_state_reaches_the_pipeline_through_report(
    machine_for: Callable[..., Machine], aws: Any
) -> None:
    m = machine_for(two_servers(eu=1, us=1))
    aws.client("s3").delete_object(Bucket=KEY_BUCKET, Key="prod-us/private.pem")
    run = start(m)
    assert (run.status, run.error) == ("FAILED", "RolloutFailed")
    assert run.visited == ["Sync", "Report", "Reported", "NotConverged"]
    assert run.cause is not None
    assert "Rollout error: RuntimeError: cannot fetch the key of server prod-us" in run.cause
    assert sent() == []


@pytest.mark.parametrize("broken", ["StateMachine.Choice", "StateMachine.Retry"])
def test_the_interpreter_notices_a_broken_definition(
    machine_for: Callable[..., Machine], broken: str
) -> None:
    """The checks above fail when the definition is wrong, not only when the code is."""
    m = machine_for(two_servers(eu=1, us=1), {"CANARY_NODES": "0"})
    asl = definition()
    if broken == "StateMachine.Choice":
        asl["States"]["CanaryDone"]["Choices"][1]["BooleanEquals"] = True  # canary gate inverted
        m.fleet.throttle = {}
    else:
        for state in asl["States"].values():
            state["Retry"] = [
                r for r in state.get("Retry", []) if r["ErrorEquals"] != ["SsmThrottled"]
            ]
        m.fleet.throttle["SendCommand"] = 1

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        return handler.STEPS[payload["step"]](payload["state"], m.ctx)

    run = execute(asl, dict(m.state), invoke, lambda s: None)
    assert run.status == "FAILED"
