"""Converging a fleet through SSM Run Command: reachability, rate control per Chef server,
waves (a canary first), and one result per node.

Nothing here waits: the functions send, look and record, and a caller (the Step Functions
state machine through :mod:`handler`'s ``step_*`` functions, or the single-Lambda mode) decides
when to look again. All that a rollout knows between two looks is a :class:`Rollout`, a JSON
document kept in S3, so a Step Functions state carries only its location.

Rate control is SSM's own: every command carries ``MaxConcurrency`` and ``MaxErrors``. SSM
takes at most 50 instance ids per command, so a server's nodes in one wave go out in commands
("chunks") of at most 50; a server with a concurrency of C runs ``max(1, C // min(C, 50))``
chunks at once, each with ``MaxConcurrency`` ``min(C, 50)``, so it never serves more than C
chef-client runs at once. A wave that fits in one command gets the settings exactly as
written (a percentage stays a percentage, computed by SSM).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import botocore.exceptions

#: SSM SendCommand accepts at most 50 instance ids per call (and DescribeInstanceInformation's
#: InstanceIds filter as many).
MAX_SSM_BATCH = 50
#: erchef's default ``opscode_erchef['depsolver_worker_count']``: cookbook dependency solves
#: one Chef Infra Server runs at once; the rest queue, then get 503.
DEFAULT_DEPSOLVER_WORKERS = 5
#: chef-client runs per depsolver worker: a run asks the solver once, at its start, and spends
#: most of its time converging resources, so several runs share one worker.
DEFAULT_DEPSOLVER_FACTOR = 4
#: Errors a server's nodes may have in one wave before the server stops (SSM's MaxErrors).
DEFAULT_MAX_ERRORS = "5%"
#: Characters of chef-client's output kept per node (its end, where the run's outcome is).
DEFAULT_OUTPUT_TAIL = 1000
#: SSM invocation statuses that may still change; any other status is final.
UNFINISHED_STATUSES = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
#: SSM error codes that mean "slow down": the step is retried by its caller (Step Functions).
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
#: StatusDetails of invocations SSM could not deliver: the node is unreachable, no cookbook ran.
UNDELIVERED_DETAILS = frozenset({"Undeliverable", "Delivery Timed Out", "DeliveryTimedOut"})

AMOUNT = re.compile(r"^(?:0|[1-9][0-9]*)%?$")


class SsmThrottled(RuntimeError):
    """SSM throttled a call after the client's own retries; what was done so far is saved, and
    the step may simply run again (the state machine retries it with backoff)."""


def error_code(e: botocore.exceptions.ClientError) -> str:
    """The AWS error code of a client error."""
    return str(e.response.get("Error", {}).get("Code", "ClientError"))


# ---------------------------------------------------------------------------------------------
# Rate control
# ---------------------------------------------------------------------------------------------


def parse_amount(text: str, setting: str, *, zero: bool) -> str:
    """Checks an SSM MaxConcurrency/MaxErrors value: a count (``"20"``) or a percentage
    (``"10%"``); returns it stripped."""
    value = str(text).strip()
    if not AMOUNT.match(value) or (not zero and value.rstrip("%") == "0"):
        least = "0" if zero else "1"
        raise ValueError(
            f"{setting} must be a count or a percentage of at least {least} "
            f"(like 20 or 10%), not {text!r}"
        )
    if value.endswith("%") and int(value[:-1]) > 100:
        raise ValueError(f"{setting} must be at most 100%, not {text!r}")
    return value


def resolve_amount(amount: str, total: int, *, at_least: int) -> int:
    """A count or percentage of ``total`` as a count (a percentage rounds down)."""
    if amount.endswith("%"):
        return max(at_least, math.floor(total * int(amount[:-1]) / 100))
    return max(at_least, int(amount))


@dataclass(frozen=True)
class RateControl:
    """How hard one Chef server may be pushed.

    ``max_concurrency`` defaults to ``depsolver_workers * depsolver_factor`` (5 * 4 = 20 with
    erchef's defaults): set ``depsolver_workers`` to the server's
    ``opscode_erchef['depsolver_worker_count']``, or ``max_concurrency`` directly.
    """

    max_concurrency: str | None = None
    max_errors: str = DEFAULT_MAX_ERRORS
    depsolver_workers: int = DEFAULT_DEPSOLVER_WORKERS
    depsolver_factor: int = DEFAULT_DEPSOLVER_FACTOR

    @property
    def concurrency(self) -> str:
        """The MaxConcurrency asked for: the explicit setting or the depsolver-derived count."""
        if self.max_concurrency is not None:
            return self.max_concurrency
        return str(self.depsolver_workers * self.depsolver_factor)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: RateControl, where: str) -> RateControl:
        """``base`` with the keys of ``values`` (``max_concurrency``, ``max_errors``,
        ``depsolver_workers``, ``depsolver_factor``) applied."""
        unknown = set(values) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"{where}: unknown rate-control keys {sorted(unknown)}")
        concurrency = values.get("max_concurrency", base.max_concurrency)
        workers = int(values.get("depsolver_workers", base.depsolver_workers))
        factor = int(values.get("depsolver_factor", base.depsolver_factor))
        if workers < 1 or factor < 1:
            raise ValueError(f"{where}: depsolver_workers and depsolver_factor must be >= 1")
        return cls(
            max_concurrency=None
            if concurrency is None
            else parse_amount(str(concurrency), f"{where} max_concurrency", zero=False),
            max_errors=parse_amount(
                str(values.get("max_errors", base.max_errors)), f"{where} max_errors", zero=True
            ),
            depsolver_workers=workers,
            depsolver_factor=factor,
        )


@dataclass(frozen=True)
class CommandPlan:
    """How one server's nodes of one wave go out: chunks, chunks at once, and the SSM
    parameters of each command."""

    chunks: list[list[str]]
    lanes: int
    max_concurrency: str
    max_errors: str
    #: The server's error budget for the wave (MaxErrors as a count of its nodes).
    error_budget: int


def plan_commands(instance_ids: Sequence[str], rate: RateControl, *, canary: bool) -> CommandPlan:
    """Splits a server's wave into SSM commands that together respect its rate control (see
    the module's docs); a canary allows no error at all."""
    n = len(instance_ids)
    max_errors = "0" if canary else rate.max_errors
    budget = resolve_amount(max_errors, n, at_least=0)
    if n <= MAX_SSM_BATCH:
        return CommandPlan(
            [list(instance_ids)] if n else [], 1, rate.concurrency, max_errors, budget
        )
    concurrency = resolve_amount(rate.concurrency, n, at_least=1)
    per_command = min(concurrency, MAX_SSM_BATCH)
    chunks = [list(instance_ids[i : i + MAX_SSM_BATCH]) for i in range(0, n, MAX_SSM_BATCH)]
    return CommandPlan(
        chunks, max(1, concurrency // per_command), str(per_command), str(budget), budget
    )


# ---------------------------------------------------------------------------------------------
# Canary
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    """The first wave: every node of one server, or a count or percentage of each server's
    nodes (at least one node of every server that has any, for a percentage); ``nodes="0"``
    and no server means no canary."""

    server: str | None = None
    nodes: str = "1"

    @classmethod
    def parse(cls, server: str | None, nodes: str | None) -> Canary:
        """From the ``CANARY_SERVER`` and ``CANARY_NODES`` settings."""
        return cls(
            server=(server or "").strip() or None,
            nodes=parse_amount(
                nodes if nodes not in (None, "") else "1", "CANARY_NODES", zero=True
            ),
        )

    def split(
        self, by_server: Mapping[str, Sequence[str]]
    ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """(canary wave, the rest), each server -> instance ids."""
        if self.server is not None:
            if self.server not in by_server:
                raise ValueError(
                    f"CANARY_SERVER {self.server!r} is not a server of the repository "
                    f"(servers: {', '.join(sorted(by_server)) or 'none'})"
                )
            first = {self.server: list(by_server[self.server])}
            rest = {s: list(ids) for s, ids in by_server.items() if s != self.server}
            return first, rest
        first, rest = {}, {}
        for server, ids in by_server.items():
            count = min(len(ids), resolve_amount(self.nodes, len(ids), at_least=0))
            if self.nodes.endswith("%") and self.nodes != "0%" and ids:
                count = max(1, count)
            first[server], rest[server] = list(ids[:count]), list(ids[count:])
        return first, rest


# ---------------------------------------------------------------------------------------------
# Reachability
# ---------------------------------------------------------------------------------------------


def unreachable_instances(ssm: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    """Instances SSM cannot run a command on now, with why: not a managed node (no SSM agent,
    no instance profile, or stopped long enough to be dropped) or an agent not online."""
    seen: dict[str, str] = {}
    for start in range(0, len(instance_ids), MAX_SSM_BATCH):
        chunk = list(instance_ids[start : start + MAX_SSM_BATCH])
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Filters": [{"Key": "InstanceIds", "Values": chunk}]}
            if token:
                kwargs["NextToken"] = token
            try:
                page = ssm.describe_instance_information(**kwargs)
            except botocore.exceptions.ClientError as e:
                if error_code(e) in THROTTLING_CODES:
                    raise SsmThrottled(f"DescribeInstanceInformation: {error_code(e)}") from e
                raise
            for info in page.get("InstanceInformationList", []):
                seen[info["InstanceId"]] = str(info.get("PingStatus", "Online"))
            token = page.get("NextToken")
            if not token:
                break
    found: dict[str, str] = {}
    for instance_id in instance_ids:
        ping = seen.get(instance_id)
        if ping is None:
            found[instance_id] = "not managed by SSM (no agent or instance profile, or stopped)"
        elif ping != "Online":
            found[instance_id] = f"SSM agent {ping}"
    return found


# ---------------------------------------------------------------------------------------------
# Node results
# ---------------------------------------------------------------------------------------------


@dataclass
class NodeResult:
    """What happened on one node. ``outcome`` is ``converged``, ``failed`` (chef-client ran
    and failed or timed out), ``unreachable`` (SSM could not deliver: no cookbook ran),
    ``not_run`` (held back: a failed canary, a server past its MaxErrors) or ``no_answer``
    (still running when the wave's time was up)."""

    server: str
    instance_id: str
    node: str
    outcome: str
    status: str = ""
    details: str = ""
    duration_seconds: float | None = None
    output_tail: str = ""
    wave: str = ""

    def describe(self) -> str:
        """``i-… (node on server): outcome [status: details]`` for summaries."""
        why = self.details or self.status
        where = f" ({self.node} on {self.server})" if self.node or self.server else ""
        return f"{self.instance_id}{where}: {self.outcome}" + (f" [{why}]" if why else "")


def outcome_of(status: str, details: str) -> str:
    """A node's :class:`NodeResult` outcome from its SSM invocation's Status and StatusDetails."""
    if status == "Success":
        return "converged"
    if status in UNFINISHED_STATUSES:
        return "no_answer"
    if status in UNDELIVERED_DETAILS or details in UNDELIVERED_DETAILS:
        return "unreachable"
    if details == "Terminated" or status == "Cancelled":
        return "not_run"
    return "failed"


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration_of(invocation: Mapping[str, Any]) -> float | None:
    """Seconds between the invocation's execution start and end, when SSM gives both."""
    start = _timestamp(invocation.get("ExecutionStartDateTime"))
    end = _timestamp(invocation.get("ExecutionEndDateTime"))
    if start is None or end is None:
        return None
    if (start.tzinfo is None) != (end.tzinfo is None):
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    return round((end - start).total_seconds(), 3)


def output_tail(invocation: Mapping[str, Any], limit: int) -> str:
    """The end of chef-client's output (stdout, then stderr when there is any)."""
    out = str(invocation.get("StandardOutputContent") or "")
    err = str(invocation.get("StandardErrorContent") or "")
    text = out + (("\n[stderr]\n" + err) if err else "")
    return text if len(text) <= limit else "..." + text[-limit:]


def invocation_result(
    ssm: Any, command_id: str, instance_id: str, *, server: str, node: str, wave: str, tail: int
) -> NodeResult:
    """One node's result from ``GetCommandInvocation``; an invocation SSM never created (the
    command stopped before reaching it) is ``not_run``."""
    try:
        inv = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    except botocore.exceptions.ClientError as e:
        code = error_code(e)
        if code in THROTTLING_CODES:
            raise SsmThrottled(f"GetCommandInvocation: {code}") from e
        if code != "InvocationDoesNotExist":
            raise
        return NodeResult(
            server, instance_id, node, "not_run", "NotSent", "command stopped first", wave=wave
        )
    status, details = str(inv.get("Status", "")), str(inv.get("StatusDetails", ""))
    return NodeResult(
        server,
        instance_id,
        node,
        outcome_of(status, details),
        status,
        details if details != status else "",
        duration_of(inv),
        output_tail(inv, tail),
        wave,
    )


# ---------------------------------------------------------------------------------------------
# The rollout document
# ---------------------------------------------------------------------------------------------


@dataclass
class InFlight:
    """One SSM command sent and not yet looked at to the end."""

    server: str
    command_id: str
    instance_ids: list[str]
    sent_at: float


@dataclass
class ServerWave:
    """A server's part of the current wave."""

    queue: list[list[str]]
    lanes: int
    max_concurrency: str
    max_errors: str
    error_budget: int
    errors: int = 0
    stopped: str | None = None


@dataclass
class Rollout:
    """Everything a rollout knows between two steps (stored as JSON in S3)."""

    id: str
    command: str
    rate: dict[str, dict[str, Any]]
    #: Wave names and, per wave, server -> instance ids.
    waves: list[dict[str, Any]]
    #: instance id -> (node name, server).
    nodes: dict[str, list[str]]
    job_id: str | None = None
    poll_interval: int = 30
    wave_timeout: int = 7200
    delivery_timeout: int = 600
    run_timeout: int = 3600
    tail: int = DEFAULT_OUTPUT_TAIL
    #: Whether unreachable nodes fail the rollout (by default they are only reported).
    unreachable_fails: bool = False
    skipped: list[str] = field(default_factory=list)
    failed_servers: dict[str, str] = field(default_factory=dict)
    sync_error: str | None = None
    verify: dict[str, Any] | None = None
    error: str | None = None
    wave: int = -1
    wave_started_at: float = 0.0
    servers: dict[str, ServerWave] = field(default_factory=dict)
    in_flight: list[InFlight] = field(default_factory=list)
    results: dict[str, NodeResult] = field(default_factory=dict)

    def to_json(self) -> str:
        """The document as stored."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Rollout:
        """The document :meth:`to_json` wrote."""
        data = json.loads(text)
        data["servers"] = {k: ServerWave(**v) for k, v in data.get("servers", {}).items()}
        data["in_flight"] = [InFlight(**c) for c in data.get("in_flight", [])]
        data["results"] = {k: NodeResult(**v) for k, v in data.get("results", {}).items()}
        return cls(**data)

    def rate_for(self, server: str) -> RateControl:
        """The server's rate control (the default's keys overridden by the server's)."""
        base = RateControl.from_mapping(self.rate.get("*", {}), RateControl(), "rate control")
        return RateControl.from_mapping(
            self.rate.get(server, {}), base, f"rate control of {server}"
        )

    def record(self, result: NodeResult) -> None:
        """Keeps a node's result (filling in its node name)."""
        if not result.node and result.instance_id in self.nodes:
            result.node = self.nodes[result.instance_id][0]
        self.results[result.instance_id] = result

    @property
    def wave_name(self) -> str:
        return str(self.waves[self.wave]["name"]) if 0 <= self.wave < len(self.waves) else ""

    def wave_results(self, index: int) -> list[NodeResult]:
        name = self.waves[index]["name"]
        return [r for r in self.results.values() if r.wave == name]

    @property
    def wave_done(self) -> bool:
        """Nothing of the current wave in flight or queued."""
        return not self.in_flight and not any(s.queue for s in self.servers.values())

    @property
    def wave_ok(self) -> bool:
        """Every node of the current wave converged (or was unreachable)."""
        return all(r.outcome in ("converged", "unreachable") for r in self.wave_results(self.wave))


class RolloutStore:
    """Where a rollout's documents live: ``s3://BUCKET/PREFIX/ID/``."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key(self, rollout_id: str, name: str) -> str:
        return f"{self.prefix}/{rollout_id}/{name}" if self.prefix else f"{rollout_id}/{name}"

    def load(self, rollout_id: str) -> Rollout:
        body = self.s3.get_object(Bucket=self.bucket, Key=self.key(rollout_id, "rollout.json"))[
            "Body"
        ]
        return Rollout.from_json(body.read())

    def save(self, rollout: Rollout) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.key(rollout.id, "rollout.json"),
            Body=rollout.to_json().encode(),
            ContentType="application/json",
        )

    def write_summary(self, rollout_id: str, summary: Mapping[str, Any]) -> str:
        """Writes ``summary.json``; returns its ``s3://`` address."""
        key = self.key(rollout_id, "summary.json")
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(summary, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
        )
        return f"s3://{self.bucket}/{key}"


# ---------------------------------------------------------------------------------------------
# Driving a wave
# ---------------------------------------------------------------------------------------------


def by_server(
    instance_ids: Iterable[str], nodes: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Instance ids grouped by their server, in the given order."""
    grouped: dict[str, list[str]] = {}
    for instance_id in instance_ids:
        grouped.setdefault(nodes[instance_id][1], []).append(instance_id)
    return grouped


def start_wave(
    rollout: Rollout, index: int, ssm: Any, now: Callable[[], float] = time.time
) -> None:
    """Plans wave ``index`` per server and sends what its rate control allows at once."""
    rollout.wave = index
    rollout.wave_started_at = now()
    rollout.servers = {}
    if index >= len(rollout.waves):
        return
    wave = rollout.waves[index]
    for server, ids in sorted(wave["servers"].items()):
        if not ids:
            continue
        plan = plan_commands(ids, rollout.rate_for(server), canary=wave["name"] == "canary")
        rollout.servers[server] = ServerWave(
            [list(c) for c in plan.chunks],
            plan.lanes,
            plan.max_concurrency,
            plan.max_errors,
            plan.error_budget,
        )
    advance(rollout, ssm, now)


def advance(rollout: Rollout, ssm: Any, now: Callable[[], float] = time.time) -> None:
    """Sends the next chunks of every server with a free lane; stops a server past its error
    budget (its queued nodes become ``not_run``). Raises :class:`SsmThrottled` when SSM keeps
    throttling; the chunks sent before are already recorded in ``rollout``."""
    for server, state in sorted(rollout.servers.items()):
        busy = sum(1 for c in rollout.in_flight if c.server == server)
        while state.queue and busy < state.lanes:
            if state.stopped is None and state.errors > state.error_budget:
                state.stopped = (
                    f"{state.errors} failed nodes, more than MaxErrors {state.max_errors}"
                )
            if state.stopped is not None:
                for chunk in state.queue:
                    for instance_id in chunk:
                        rollout.record(
                            NodeResult(
                                server,
                                instance_id,
                                "",
                                "not_run",
                                "NotSent",
                                f"{server} stopped: {state.stopped}",
                                wave=rollout.wave_name,
                            )
                        )
                state.queue = []
                break
            chunk = state.queue[0]
            command_id = send(rollout, server, state, chunk, ssm)
            state.queue.pop(0)
            if command_id is not None:
                rollout.in_flight.append(InFlight(server, command_id, chunk, now()))
                busy += 1


def send(
    rollout: Rollout, server: str, state: ServerWave, chunk: list[str], ssm: Any
) -> str | None:
    """Sends chef-client to one chunk with the server's rate control; returns the command id,
    or ``None`` when SSM refused every instance of the chunk (each recorded). Instances SSM
    calls invalid (stopped or deregistered since the sync) are recorded as unreachable and the
    rest sent again once."""
    errors_left = max(0, state.error_budget - state.errors)
    max_errors = (
        state.max_errors if len(state.queue) == 1 and state.errors == 0 else str(errors_left)
    )
    for attempt in range(2):
        try:
            response = ssm.send_command(
                InstanceIds=chunk,
                DocumentName="AWS-RunShellScript",
                Comment=f"chef-client: rollout {rollout.id} ({rollout.wave_name}, {server})"[:100],
                Parameters={
                    "commands": [rollout.command],
                    "executionTimeout": [str(rollout.run_timeout)],
                },
                MaxConcurrency=state.max_concurrency,
                MaxErrors=max_errors,
                TimeoutSeconds=rollout.delivery_timeout,
            )
            return str(response["Command"]["CommandId"])
        except botocore.exceptions.ClientError as e:
            code = error_code(e)
            if code in THROTTLING_CODES:
                raise SsmThrottled(f"SendCommand: {code}") from e
            if code == "InvalidInstanceId" and attempt == 0:
                gone = unreachable_instances(ssm, chunk)
                for instance_id, why in gone.items():
                    rollout.record(
                        NodeResult(
                            server,
                            instance_id,
                            "",
                            "unreachable",
                            code,
                            why,
                            wave=rollout.wave_name,
                        )
                    )
                chunk[:] = [i for i in chunk if i not in gone]
                if chunk and gone:
                    continue
            outcome = "unreachable" if code == "InvalidInstanceId" else "failed"
            for instance_id in chunk:
                rollout.record(
                    NodeResult(
                        server, instance_id, "", outcome, "SendFailed", code, wave=rollout.wave_name
                    )
                )
            return None
    return None  # pragma: no cover - the loop always returns


def command_status(ssm: Any, command_id: str) -> str:
    """The overall status of an SSM command (ListCommands)."""
    try:
        (command,) = ssm.list_commands(CommandId=command_id)["Commands"]
    except botocore.exceptions.ClientError as e:
        if error_code(e) in THROTTLING_CODES:
            raise SsmThrottled(f"ListCommands: {error_code(e)}") from e
        raise
    return str(command["Status"])


def poll(rollout: Rollout, ssm: Any, now: Callable[[], float] = time.time) -> None:
    """Looks at every command in flight once: a finished one has its nodes' results recorded
    (and failures counted against the server's MaxErrors); when the wave's time is up, the
    commands still running are cancelled and their unfinished nodes recorded as ``no_answer``.
    Then sends what the freed lanes allow. Never waits."""
    timed_out = now() - rollout.wave_started_at >= rollout.wave_timeout
    still: list[InFlight] = []
    try:
        for index, flight in enumerate(rollout.in_flight):
            try:
                status = command_status(ssm, flight.command_id)
                if status in UNFINISHED_STATUSES and not timed_out:
                    still.append(flight)
                    continue
                cancelled = status in UNFINISHED_STATUSES
                if cancelled:
                    cancel(ssm, flight.command_id)
                collect(rollout, flight, ssm, cancelled=cancelled)
            except SsmThrottled:
                # Looked at again on the retry; nodes already recorded are not counted twice.
                still.extend(rollout.in_flight[index:])
                raise
    finally:
        rollout.in_flight = still
    if timed_out:
        for server, state in rollout.servers.items():
            if state.queue and state.stopped is None:
                state.stopped = f"the wave's {rollout.wave_timeout} s were up"
    advance(rollout, ssm, now)


def cancel(ssm: Any, command_id: str) -> None:
    """Cancels a command that ran past the wave's time (best effort: it may just have ended)."""
    try:
        ssm.cancel_command(CommandId=command_id)
    except botocore.exceptions.ClientError as e:
        if error_code(e) in THROTTLING_CODES:
            raise SsmThrottled(f"CancelCommand: {error_code(e)}") from e
        if error_code(e) not in ("InvalidCommandId", "DuplicateInstanceId"):
            raise


def collect(rollout: Rollout, flight: InFlight, ssm: Any, *, cancelled: bool = False) -> None:
    """Records the result of every node of a finished command, or of one ``cancelled`` at the
    wave's timeout (its nodes that had not finished gave no answer in time)."""
    state = rollout.servers.get(flight.server)
    for instance_id in flight.instance_ids:
        if (
            instance_id in rollout.results
            and rollout.results[instance_id].wave == rollout.wave_name
        ):
            continue
        node = rollout.nodes.get(instance_id, ["", flight.server])[0]
        result = invocation_result(
            ssm,
            flight.command_id,
            instance_id,
            server=flight.server,
            node=node,
            wave=rollout.wave_name,
            tail=rollout.tail,
        )
        if result.outcome == "no_answer" and result.status in ("Pending", "Delayed"):
            result.outcome, result.details = "unreachable", result.details or "never delivered"
        elif cancelled and result.status in ("Cancelled", "Cancelling", "InProgress"):
            result.outcome = "no_answer"
            result.details = f"no answer within the wave's {rollout.wave_timeout} s; cancelled"
        rollout.record(result)
        if state is not None and result.outcome in ("failed", "no_answer"):
            state.errors += 1


def ordered_results(results: Iterable[NodeResult]) -> list[NodeResult]:
    """Node results, failures first, then by server and instance id."""
    order = {"failed": 0, "no_answer": 1, "not_run": 2, "unreachable": 3, "converged": 4}
    return sorted(results, key=lambda r: (order.get(r.outcome, 9), r.server, r.instance_id))
