"""A fleet behind (moto) SSM for the rollout tests: which instances are managed, how each
node's chef-client run ends, throttling, and the SSM calls moto does not implement
(DescribeInstanceInformation, CancelCommand), answered through botocore's ``before-call``
events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends

REGION = "us-east-1"


def iid(n: int) -> str:
    return f"i-{n:017x}"


@dataclass
class Run:
    """How chef-client ends (or does not) on one node."""

    status: str = "Success"
    details: str = ""
    output: str = "Chef Infra Client finished, 3/10 resources updated in 12 seconds"
    error: str = ""


def moto_commands() -> list[Any]:
    commands: list[Any] = ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._commands
    return commands


@dataclass
class FakeFleet:
    """The nodes as SSM sees them. Instances missing from ``ping`` are not managed."""

    ping: dict[str, str] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    #: Operation name -> how many more calls to throttle.
    throttle: dict[str, int] = field(default_factory=dict)
    #: Operation name -> instance ids SendCommand calls invalid.
    invalid: set[str] = field(default_factory=set)
    cancelled: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    #: Every instance not in ``ping`` counts as online (for tests about something else).
    everyone_online: bool = False
    #: Whether :attr:`runs` decide how commands end (off: moto's "Success", or the test's own).
    drive_runs: bool = True

    def manage(self, *instance_ids: str, ping: str = "Online") -> None:
        for i in instance_ids:
            self.ping[i] = ping

    def refresh(self) -> None:
        """Applies :attr:`runs` to every command sent, and the commands' overall status."""
        for command in moto_commands():
            statuses = []
            for invocation in command.invocations:
                run = self.runs.get(invocation["InstanceId"], Run())
                if command.command_id in self.cancelled and run.status in ("InProgress", "Pending"):
                    run = Run("Cancelled", "Canceled", run.output)
                invocation["Status"] = run.status
                invocation["StatusDetails"] = run.details or run.status
                invocation["StandardOutputContent"] = run.output
                invocation["StandardErrorContent"] = run.error
                invocation["ResponseCode"] = 0 if run.status == "Success" else 1
                statuses.append(run.status)
            if any(s in ("Pending", "InProgress", "Delayed") for s in statuses):
                command.status = "InProgress"
            elif all(s == "Success" for s in statuses):
                command.status = "Success"
            elif command.command_id in self.cancelled:
                command.status = "Cancelled"
            else:
                command.status = "Failed"

    # botocore event handlers ------------------------------------------------------------------

    def _before_call(self, model: Any, params: Mapping[str, Any], **_: Any) -> Any:
        name = model.name
        # SSM speaks JSON: the request's body holds the call's parameters.
        params = json.loads(params["body"] or b"{}")
        self.calls.append(name)
        if self.throttle.get(name, 0) > 0:
            self.throttle[name] -= 1
            return error_response("ThrottlingException", "Rate exceeded")
        if name == "DescribeInstanceInformation":
            (wanted,) = [f["Values"] for f in params["Filters"] if f["Key"] == "InstanceIds"]
            assert len(wanted) <= 50
            default = "Online" if self.everyone_online else None
            found = [
                {"InstanceId": i, "PingStatus": self.ping.get(i, default)}
                for i in wanted
                if self.ping.get(i, default) is not None
            ]
            return ok_response({"InstanceInformationList": found})
        if name == "CancelCommand":
            self.cancelled.append(params["CommandId"])
            self.refresh()
            return ok_response({})
        if name == "SendCommand":
            if self.invalid & set(params["InstanceIds"]):
                return error_response("InvalidInstanceId", "Instances not in a valid state")
        return None

    def _after_send(self, **_: Any) -> None:
        if self.drive_runs:
            self.refresh()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.ssm.*", self._before_call)
        client.meta.events.register("after-call.ssm.SendCommand", self._after_send)
        return client


def ok_response(body: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse(None, 200, {}, None), {**body, "ResponseMetadata": {"HTTPStatusCode": 200}}


def error_response(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse(None, 400, {}, None), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


class FleetSession:
    """A boto3 session whose SSM clients see :class:`FakeFleet`; other clients come from
    ``extra`` (e.g. a stubbed Step Functions client) or the session."""

    def __init__(
        self,
        session: boto3.session.Session,
        fleet: FakeFleet,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.session = session
        self.fleet = fleet
        self.extra = dict(extra or {})

    def client(self, name: str, **kwargs: Any) -> Any:
        if name in self.extra:
            return self.extra[name]
        client = self.session.client(name, **kwargs)
        if name == "ssm":
            self.fleet.attach(client)
        return client


def sent() -> list[dict[str, Any]]:
    """Every command sent, as SSM's ListCommands shows it."""
    return [c.response_object() for c in moto_commands()]
