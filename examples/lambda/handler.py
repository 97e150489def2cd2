"""CodePipeline Invoke action: converge the nodes of every Chef server after a cookbook sync.

The seed's ``ChefClientFunction`` rebuilt. One invocation:

1. reads the job (``event["CodePipeline.job"]``);
2. downloads the input artifact (the Chef repository as a zip) and fetches each server's key
   from the KeyBucket (``s3://KEY_BUCKET/SERVER/private.pem`` to ``.chef/SERVER/private.pem``,
   where the repository's knife.rb expects it), for every ``.chef/SERVER/config.yml``;
3. optionally runs the cookbook sync itself (``CHEF_SYNC_IN_LAMBDA=true`` or user parameter
   ``{"sync": true}``), failing the job if any server failed; then, when asked
   (``CHEF_STATUS_GATE=true`` or user parameter ``{"status": true}``), reads every server's
   status (``chef_sync.status``) and fails the job, naming what drifts or which server could
   not be read, unless every server matches the repository and each other;
4. finds the nodes to converge with a Chef search on every server (``CHEF_NODE_QUERY``,
   default ``*:*``), reading each node's EC2 instance id from ``CHEF_INSTANCE_ID_ATTRIBUTE``
   (default ``ec2.instance_id``, looked up with Chef's attribute precedence);
5. runs ``sudo chef-client`` through SSM ``AWS-RunShellScript`` in batches of at most 50
   instances and polls ``GetCommandInvocation`` until every invocation has finished or the
   Lambda deadline nears;
6. reports ``put_job_success_result`` or ``put_job_failure_result`` with a summary naming the
   failed instances (and the servers whose search or sync failed). If invocations are still
   running at the deadline, it instead returns a continuation token (``CONTINUE_POLLING``,
   default on), so CodePipeline invokes it again and it polls on without sending anything.

Chef is reached only through :class:`ChefBackend` (sync a repository; list its servers, each
able to search nodes), so this file holds no Chef logic and tests can pass a fake. The
``chef_sync`` package provides the real backend (:func:`load_backend`): servers from the
repository's own knife.rb (``chef_sync.repo_clients``), searched with ``ChefClient.search``,
``chef_sync.sync`` for the cookbook sync and ``chef_sync.status`` for the status gate.

Environment: ``KEY_BUCKET`` (required when the repository has servers), ``CHEF_NODE_QUERY``,
``CHEF_INSTANCE_ID_ATTRIBUTE``, ``CHEF_SYNC_IN_LAMBDA``, ``CHEF_STATUS_GATE``,
``SSM_BATCH_SIZE`` (1..50), ``POLL_INTERVAL_SECONDS``, ``DEADLINE_MARGIN_SECONDS``,
``CHEF_CLIENT_COMMAND``, ``CONTINUE_POLLING``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3
import botocore.config
import botocore.exceptions

LOG = logging.getLogger("chef_sync.lambda")
LOG.setLevel(logging.INFO)

#: SSM SendCommand accepts at most 50 instance ids per call.
MAX_SSM_BATCH = 50
#: CodePipeline truncates longer failure messages; keep the summary within it.
MAX_FAILURE_MESSAGE = 5000
#: The environment variables the handler reads.
ENV_KEYS = frozenset(
    {
        "KEY_BUCKET",
        "CHEF_NODE_QUERY",
        "CHEF_INSTANCE_ID_ATTRIBUTE",
        "CHEF_SYNC_IN_LAMBDA",
        "CHEF_STATUS_GATE",
        "SSM_BATCH_SIZE",
        "POLL_INTERVAL_SECONDS",
        "DEADLINE_MARGIN_SECONDS",
        "CHEF_CLIENT_COMMAND",
        "CONTINUE_POLLING",
    }
)
#: How many drifting objects (or unreadable servers) a status gate's failure names.
MAX_STATUS_PROBLEMS = 20
#: Chef attribute precedence levels, highest first (``automatic`` wins).
PRECEDENCE = ("automatic", "override", "normal", "default")
#: SSM invocation statuses that may still change; any other status is final.
UNFINISHED_STATUSES = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
INSTANCE_ID = re.compile(r"^m?i-[0-9a-f]{8,17}$")


# ---------------------------------------------------------------------------------------------
# The Chef seam
# ---------------------------------------------------------------------------------------------


class NodeSearcher(Protocol):
    """One Chef server, able to search its nodes (``chef_sync.ChefClient`` fits)."""

    @property
    def name(self) -> str:
        """The server's name in the repository (its ``.chef/NAME/`` directory)."""
        ...

    def search_nodes(self, query: str) -> Iterable[Mapping[str, Any]]:
        """Every node matching ``query`` (Chef search syntax), as node JSON objects."""
        ...


@dataclass(frozen=True)
class ServerOutcome:
    """How the sync went on one server."""

    name: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class SyncOutcome:
    """How the sync went on every server."""

    servers: tuple[ServerOutcome, ...]

    @property
    def ok(self) -> bool:
        """True when every server succeeded."""
        return all(s.ok for s in self.servers)


@dataclass(frozen=True)
class StatusOutcome:
    """What the status of every server says: its exit code (0 in sync, 1 a server could not be
    read, 2 drift) and, when not 0, what is wrong, one line each."""

    exit_code: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every server matches the repository and each other."""
        return self.exit_code == 0


class ChefBackend(Protocol):
    """Everything the handler needs from chef_sync."""

    def sync(self, repo: Path) -> SyncOutcome:
        """Uploads the repository's cookbooks to all its servers; never raises for one server."""
        ...

    def status(self, repo: Path) -> StatusOutcome:
        """Compares every server with the repository and each other; read-only."""
        ...

    def servers(self, repo: Path) -> Sequence[NodeSearcher]:
        """The repository's servers, connected with the keys fetched next to knife.rb."""
        ...


class BackendUnavailable(RuntimeError):
    """The installed chef_sync does not provide what the handler needs."""


@dataclass(frozen=True)
class ClientSearcher:
    """A :class:`NodeSearcher` over a ``chef_sync.ChefClient``: every page of a node search."""

    name: str
    client: Any

    def search_nodes(self, query: str) -> Iterable[Mapping[str, Any]]:
        """Every node matching ``query``, all pages fetched."""
        rows: list[Mapping[str, Any]] = self.client.search("node", query)
        return rows


class ChefSyncBackend:
    """The real :class:`ChefBackend`: the repository's servers from its own knife.rb and
    ``.chef/NAME/config.yml`` files (``chef_sync.repo_clients``), the cookbook sync with
    ``chef_sync.sync``."""

    def __init__(self, module: Any) -> None:
        self._chef_sync = module

    def sync(self, repo: Path) -> SyncOutcome:
        """Uploads the repository's cookbooks to every server; a failing server is reported,
        never raised."""
        sync = getattr(self._chef_sync, "sync", None)
        if sync is None:
            raise BackendUnavailable(
                f"chef_sync {self._chef_sync.__version__} has no sync: "
                "this build can search but not sync (unset CHEF_SYNC_IN_LAMBDA)"
            )
        # Lambda can write only under /tmp: the Berksfile's cookbook cache goes there.
        report = sync(repo, cache_dir=Path(tempfile.gettempdir()) / "chef-sync")
        return SyncOutcome(
            tuple(
                ServerOutcome(s.name, s.ok, s.error or _first_cookbook_error(s))
                for s in report.servers
            )
        )

    def status(self, repo: Path) -> StatusOutcome:
        """Every server compared with the repository and each other (``chef_sync.status``)."""
        status = getattr(self._chef_sync, "status", None)
        if status is None:
            raise BackendUnavailable(
                f"chef_sync {self._chef_sync.__version__} has no status: "
                "this build cannot gate on it (unset CHEF_STATUS_GATE)"
            )
        report = status(repo, cache_dir=Path(tempfile.gettempdir()) / "chef-sync")
        return StatusOutcome(report.exit_code, tuple(status_problems(report)))

    def servers(self, repo: Path) -> Sequence[NodeSearcher]:
        """One searcher per configured server, signed with the key next to knife.rb."""
        clients = self._chef_sync.repo_clients(repo)
        return [ClientSearcher(name, client) for name, client in clients.items()]


def status_problems(report: Any) -> Iterator[str]:
    """One line per server that could not be read and per drifting cookbook version or
    object of a ``chef_sync.StatusReport``: ``cookbook base 1.4.2: differs, diverged
    (prod-eu: differs)``."""
    for server in report.servers:
        if not server.ok:
            yield f"{server.name}: could not be read: {server.error}"
    rows = [(f"cookbook {c.name} {c.version}", c) for c in report.cookbooks]
    rows += [(o.id, o) for o in report.objects]
    for label, row in rows:
        if row.drift:
            cells = ", ".join(
                f"{c.server}: {c.state}" for c in row.servers if c.state not in ("match", "absent")
            )
            yield f"{label}: {', '.join(row.drift)} ({cells})"


def _first_cookbook_error(server: Any) -> str | None:
    """The first failing cookbook of a server report, as ``name version: error``."""
    for c in getattr(server, "cookbooks", ()):
        if c.error:
            return f"{c.name} {c.version}: {c.error}"
    return None


def load_backend() -> ChefBackend:
    """The chef_sync-backed :class:`ChefBackend`.

    Raises :class:`BackendUnavailable` when the chef_sync layer is missing or too old to
    read a repository's servers; the job then fails with that message.
    """
    try:
        import chef_sync
    except ImportError as e:  # pragma: no cover - depends on the Lambda layer
        raise BackendUnavailable(f"the chef_sync layer is missing: {e}") from e
    missing = [n for n in ("repo_clients", "ChefClient") if not hasattr(chef_sync, n)]
    if missing:
        raise BackendUnavailable(
            f"chef_sync {chef_sync.__version__} has no {', '.join(missing)}: "
            "this build cannot search the servers"
        )
    return ChefSyncBackend(chef_sync)


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


NO_BREAK_SPACE = "\u00a0"


def without_no_break_spaces(text: str, source: str) -> str:
    """Treats U+00A0 no-break spaces (pasted from web pages) as spaces, warning with the line."""
    if NO_BREAK_SPACE not in text:
        return text
    for number, line in enumerate(text.splitlines(), start=1):
        if NO_BREAK_SPACE in line:
            LOG.warning("%s line %d: U+00A0 no-break space treated as a space", source, number)
    return text.replace(NO_BREAK_SPACE, " ")


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """What the environment and the action's user parameters ask for."""

    key_bucket: str | None = None
    node_query: str = "*:*"
    instance_id_attribute: str = "ec2.instance_id"
    run_sync: bool = False
    status_gate: bool = False
    batch_size: int = MAX_SSM_BATCH
    poll_interval: float = 10.0
    deadline_margin: float = 30.0
    command: str = "sudo chef-client"
    continue_polling: bool = True

    @classmethod
    def load(cls, env: Mapping[str, str], user_parameters: str | None = None) -> Settings:
        """Reads the environment; a JSON object in the action's UserParameters overrides it
        (keys ``query``, ``instance_id_attribute``, ``sync``, ``status``)."""
        params: dict[str, Any] = {}
        env = {k: without_no_break_spaces(v, k) for k, v in env.items() if k in ENV_KEYS}
        if user_parameters and user_parameters.strip():
            user_parameters = without_no_break_spaces(user_parameters, "UserParameters")
            try:
                loaded = json.loads(user_parameters)
            except json.JSONDecodeError as e:
                raise ValueError(f"UserParameters is not JSON: {e}") from e
            if not isinstance(loaded, dict):
                raise ValueError("UserParameters must be a JSON object")
            params = loaded
        batch = int(env.get("SSM_BATCH_SIZE", MAX_SSM_BATCH))
        if not 1 <= batch <= MAX_SSM_BATCH:
            raise ValueError(f"SSM_BATCH_SIZE must be 1..{MAX_SSM_BATCH}, not {batch}")
        return cls(
            key_bucket=env.get("KEY_BUCKET") or None,
            node_query=str(params.get("query") or env.get("CHEF_NODE_QUERY") or "*:*"),
            instance_id_attribute=str(
                params.get("instance_id_attribute")
                or env.get("CHEF_INSTANCE_ID_ATTRIBUTE")
                or "ec2.instance_id"
            ),
            run_sync=_truthy(params.get("sync", env.get("CHEF_SYNC_IN_LAMBDA", "false"))),
            status_gate=_truthy(params.get("status", env.get("CHEF_STATUS_GATE", "false"))),
            batch_size=batch,
            poll_interval=float(env.get("POLL_INTERVAL_SECONDS", 10)),
            deadline_margin=float(env.get("DEADLINE_MARGIN_SECONDS", 30)),
            command=env.get("CHEF_CLIENT_COMMAND") or "sudo chef-client",
            continue_polling=_truthy(env.get("CONTINUE_POLLING", "true")),
        )


# ---------------------------------------------------------------------------------------------
# Repository and keys
# ---------------------------------------------------------------------------------------------


def fetch_repository(job_data: Mapping[str, Any], dest: Path, s3: Any) -> Path:
    """Downloads and unpacks the job's first input artifact (an S3 zip) into ``dest``."""
    artifacts = job_data.get("inputArtifacts") or []
    if not artifacts:
        raise ValueError("the action has no input artifact: give it the repository artifact")
    location = artifacts[0]["location"]["s3Location"]
    archive = dest.parent / f"{dest.name}.zip"
    s3.download_file(location["bucketName"], location["objectKey"], str(archive))
    with zipfile.ZipFile(archive) as zf:
        # zipfile drops absolute paths and ".." components, so nothing escapes dest.
        zf.extractall(dest)
    archive.unlink()
    return dest


def server_names(repo: Path) -> list[str]:
    """The servers of a repository in the seed layout: every ``.chef/NAME/config.yml``."""
    chef_dir = repo / ".chef"
    if not chef_dir.is_dir():
        return []
    return sorted(p.parent.name for p in chef_dir.glob("*/config.yml"))


def fetch_keys(repo: Path, names: Sequence[str], key_bucket: str | None, s3: Any) -> None:
    """Copies ``s3://KEY_BUCKET/NAME/private.pem`` to ``.chef/NAME/private.pem`` (mode 0600)."""
    if names and not key_bucket:
        raise ValueError("KEY_BUCKET is not set, but the repository has servers to reach")
    for name in names:
        target = repo / ".chef" / name / "private.pem"
        try:
            s3.download_file(key_bucket, f"{name}/private.pem", str(target))
        except botocore.exceptions.ClientError as e:
            raise RuntimeError(
                f"cannot fetch the key of server {name} from s3://{key_bucket}/{name}/private.pem: "
                f"{e.response.get('Error', {}).get('Code', e)}"
            ) from e
        target.chmod(0o600)


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------


def attribute(node: Mapping[str, Any], path: str) -> Any:
    """Looks up a dotted attribute path in a node with Chef's precedence (automatic, override,
    normal, default); falls back to the top level for partial-search results."""
    keys = path.split(".")
    for source in [*(node.get(level) for level in PRECEDENCE), node]:
        value: Any = source
        for key in keys:
            if not isinstance(value, Mapping) or key not in value:
                break
            value = value[key]
        else:
            return value
    return None


@dataclass
class Target:
    """An instance to converge and the node behind it."""

    instance_id: str
    node: str
    server: str


@dataclass
class Discovery:
    """What the searches found."""

    targets: list[Target] = field(default_factory=list)
    #: Nodes without a usable instance id: "node on server: reason".
    skipped: list[str] = field(default_factory=list)
    #: Servers whose search failed: name -> error.
    failed_servers: dict[str, str] = field(default_factory=dict)


def find_targets(servers: Iterable[NodeSearcher], query: str, id_attribute: str) -> Discovery:
    """Searches every server; a failing server is recorded and never stops the others.
    An instance registered on two servers is converged once."""
    found = Discovery()
    seen: set[str] = set()
    for server in servers:
        try:
            nodes = list(server.search_nodes(query))
        except Exception as e:  # noqa: BLE001 - any failure is reported per server
            found.failed_servers[server.name] = f"{type(e).__name__}: {e}"
            LOG.warning("search on %s failed: %s", server.name, e)
            continue
        for node in nodes:
            name = str(node.get("name", "?"))
            value = attribute(node, id_attribute)
            if not isinstance(value, str) or not INSTANCE_ID.match(value):
                found.skipped.append(f"{name} on {server.name}: no instance id at {id_attribute}")
                continue
            if value in seen:
                continue
            seen.add(value)
            found.targets.append(Target(value, name, server.name))
    return found


# ---------------------------------------------------------------------------------------------
# SSM
# ---------------------------------------------------------------------------------------------


def batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def send_chef_client(
    ssm: Any, instance_ids: Sequence[str], settings: Settings, comment: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Sends the chef-client command in batches. Returns (instance id -> command id,
    instance id -> ``SendFailed: CODE`` for batches SSM refused); one refused batch does not
    stop the others."""
    commands: dict[str, str] = {}
    refused: dict[str, str] = {}
    for batch in batches(instance_ids, settings.batch_size):
        try:
            response = ssm.send_command(
                InstanceIds=batch,
                DocumentName="AWS-RunShellScript",
                Comment=comment[:100],
                Parameters={"commands": [settings.command]},
            )
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "ClientError")
            LOG.error("SSM refused a batch of %d instances: %s", len(batch), e)
            refused.update({instance_id: f"SendFailed: {code}" for instance_id in batch})
            continue
        command_id = response["Command"]["CommandId"]
        LOG.info("SSM command %s: chef-client on %d instances", command_id, len(batch))
        for instance_id in batch:
            commands[instance_id] = command_id
    return commands, refused


def poll_invocations(
    ssm: Any,
    commands: Mapping[str, str],
    remaining_seconds: Callable[[], float],
    settings: Settings,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Polls ``GetCommandInvocation`` until every invocation is final or fewer than
    ``deadline_margin`` seconds of the Lambda remain. Returns instance id -> last status
    (``Pending`` when the invocation was not visible yet)."""
    statuses = {instance_id: "Pending" for instance_id in commands}
    while True:
        for instance_id, command_id in commands.items():
            if statuses[instance_id] not in UNFINISHED_STATUSES:
                continue
            try:
                invocation = ssm.get_command_invocation(
                    CommandId=command_id, InstanceId=instance_id
                )
            except botocore.exceptions.ClientError as e:
                # Right after SendCommand the invocation may not exist yet.
                if e.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
                    continue
                raise
            statuses[instance_id] = invocation["Status"]
        if not any(s in UNFINISHED_STATUSES for s in statuses.values()):
            return statuses
        if remaining_seconds() - settings.poll_interval < settings.deadline_margin:
            return statuses
        sleep(settings.poll_interval)


# ---------------------------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------------------------


@dataclass
class JobResult:
    """The outcome reported to CodePipeline."""

    ok: bool
    summary: str
    statuses: dict[str, str] = field(default_factory=dict)
    #: Set when polling should go on in a new invocation (CodePipeline continuation token).
    continuation: str | None = None


def summarize(
    targets: Sequence[Target], statuses: Mapping[str, str], discovery: Discovery
) -> JobResult:
    """Builds the report: failed instances (with node and server), unfinished ones, servers
    whose search failed, and skipped nodes."""
    by_id = {t.instance_id: t for t in targets}
    unfinished = [i for i, s in statuses.items() if s in UNFINISHED_STATUSES]
    failed = [i for i, s in statuses.items() if s != "Success" and i not in unfinished]
    succeeded = sum(1 for s in statuses.values() if s == "Success")

    def describe(i: str) -> str:
        t = by_id.get(i)
        where = f" ({t.node} on {t.server})" if t and t.node else ""
        return f"{i}{where}: {statuses[i]}"

    parts = [f"chef-client succeeded on {succeeded} of {len(statuses)} instances."]
    if failed:
        parts.append("Failed: " + "; ".join(describe(i) for i in failed) + ".")
    if unfinished:
        parts.append(
            "Still running when the Lambda deadline neared: "
            + "; ".join(describe(i) for i in unfinished)
            + "."
        )
    if discovery.failed_servers:
        parts.append(
            "Search failed on: "
            + "; ".join(f"{n}: {e}" for n, e in discovery.failed_servers.items())
            + "."
        )
    if discovery.skipped:
        parts.append(f"Skipped {len(discovery.skipped)} nodes: " + "; ".join(discovery.skipped))
    ok = not failed and not unfinished and not discovery.failed_servers
    return JobResult(ok=ok, summary=" ".join(parts), statuses=dict(statuses))


def converge(
    job_id: str,
    job_data: Mapping[str, Any],
    settings: Settings,
    *,
    s3: Any,
    artifact_s3: Any,
    ssm: Any,
    backend: Callable[[], ChefBackend],
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    workdir: Path | None = None,
) -> JobResult:
    """Everything between reading the job and reporting it; raises on fatal errors."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        repo = fetch_repository(job_data, Path(tmp) / "repo", artifact_s3)
        names = server_names(repo)
        fetch_keys(repo, names, settings.key_bucket, s3)
        chef = backend()
        if settings.run_sync:
            outcome = chef.sync(repo)
            if not outcome.ok:
                failed = "; ".join(f"{s.name}: {s.error}" for s in outcome.servers if not s.ok)
                return JobResult(ok=False, summary=f"Cookbook sync failed on: {failed}.")
        if settings.status_gate:
            status = chef.status(repo)
            if not status.ok:
                return JobResult(ok=False, summary=status_summary(status))
        discovery = find_targets(
            chef.servers(repo), settings.node_query, settings.instance_id_attribute
        )
        # Keys are no longer needed once the clients are built.
        shutil.rmtree(repo, ignore_errors=True)
    ids = [t.instance_id for t in discovery.targets]
    if not ids:
        LOG.info("no node matched %r", settings.node_query)
        return summarize([], {}, discovery)
    comment = f"chef-client for CodePipeline job {job_id}"
    commands, refused = send_chef_client(ssm, ids, settings, comment)
    return finish(ssm, commands, refused, discovery, settings, remaining_seconds, sleep)


def status_summary(status: StatusOutcome) -> str:
    """The failure of a status gate: what it found, the first problems, how many more."""
    verdict = {1: "a server could not be read", 2: "the servers drift"}.get(
        status.exit_code, f"exit {status.exit_code}"
    )
    shown = list(status.problems[:MAX_STATUS_PROBLEMS])
    more = len(status.problems) - len(shown)
    if more:
        shown.append(f"and {more} more")
    return f"Status gate failed ({verdict}): " + "; ".join(shown) + "."


def finish(
    ssm: Any,
    commands: Mapping[str, str],
    refused: Mapping[str, str],
    discovery: Discovery,
    settings: Settings,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None],
) -> JobResult:
    """Polls the sent commands and builds the result; when invocations are still running at
    the deadline and ``continue_polling`` is on, asks CodePipeline to invoke again."""
    statuses = dict(refused)
    if commands:
        statuses.update(poll_invocations(ssm, commands, remaining_seconds, settings, sleep))
    result = summarize(discovery.targets, statuses, discovery)
    running = sum(1 for st in statuses.values() if st in UNFINISHED_STATUSES)
    if running and settings.continue_polling:
        token = continuation_token(commands, refused, discovery)
        if token is not None:
            return JobResult(
                ok=True,
                summary=f"{running} instances still running chef-client; polling continues. "
                + result.summary,
                statuses=result.statuses,
                continuation=token,
            )
        LOG.warning("too many commands for a continuation token; failing the job instead")
    return result


#: CodePipeline's limit on a continuation token.
MAX_CONTINUATION_TOKEN = 2048


def continuation_token(
    commands: Mapping[str, str], refused: Mapping[str, str], discovery: Discovery
) -> str | None:
    """What the next invocation needs to go on polling, within CodePipeline's 2048 characters:
    the command ids (instances are listed again from SSM), refused instances, failed servers
    and skipped nodes; details are dropped before giving up (``None``)."""
    state: dict[str, Any] = {
        "v": 1,
        "commands": sorted(set(commands.values())),
        "refused": dict(refused),
        "failed_servers": dict(discovery.failed_servers),
        "skipped": list(discovery.skipped),
    }
    shorter: list[Callable[[], None]] = [
        lambda: state.update(skipped=[f"{len(discovery.skipped)} nodes (see the first log)"]),
        lambda: state.update(
            failed_servers={n: "see the first log" for n in state["failed_servers"]}
        ),
    ]
    while True:
        token = json.dumps(state, separators=(",", ":"))
        if len(token) <= MAX_CONTINUATION_TOKEN:
            return token
        if not shorter:
            return None
        shorter.pop(0)()


def resume(
    token: str,
    settings: Settings,
    *,
    ssm: Any,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
) -> JobResult:
    """Goes on polling the commands a previous invocation sent (see :func:`continuation_token`)."""
    state = json.loads(token)
    if not isinstance(state, dict) or state.get("v") != 1:
        raise ValueError(f"unknown continuation token: {token[:100]}")
    commands: dict[str, str] = {}
    for command_id in state["commands"]:
        (command,) = ssm.list_commands(CommandId=command_id)["Commands"]
        for instance_id in command["InstanceIds"]:
            commands[instance_id] = command_id
    discovery = Discovery(
        targets=[Target(i, "", "") for i in [*commands, *state["refused"]]],
        skipped=list(state["skipped"]),
        failed_servers=dict(state["failed_servers"]),
    )
    return finish(ssm, commands, state["refused"], discovery, settings, remaining_seconds, sleep)


def report(codepipeline: Any, job_id: str, result: JobResult) -> None:
    """Puts the job result; the failure message is cut to what CodePipeline keeps."""
    if result.ok:
        details = {"summary": result.summary[:2048]}
        if result.continuation is not None:
            codepipeline.put_job_success_result(
                jobId=job_id, continuationToken=result.continuation, executionDetails=details
            )
        else:
            codepipeline.put_job_success_result(jobId=job_id, executionDetails=details)
        return
    message = result.summary
    if len(message) > MAX_FAILURE_MESSAGE:
        message = message[: MAX_FAILURE_MESSAGE - 15] + " ... (cut)"
    codepipeline.put_job_failure_result(
        jobId=job_id, failureDetails={"type": "JobFailed", "message": message}
    )


def handle(
    event: Mapping[str, Any],
    context: Any,
    *,
    env: Mapping[str, str],
    session: Any,
    codepipeline: Any,
    backend: Callable[[], ChefBackend] = load_backend,
    sleep: Callable[[float], None] = time.sleep,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Runs one job and always reports it to CodePipeline; returns the result as a dict."""
    job = event["CodePipeline.job"]
    job_id = job["id"]
    data = job.get("data", {})
    try:
        user_parameters = (
            data.get("actionConfiguration", {}).get("configuration", {}).get("UserParameters")
        )
        settings = Settings.load(env, user_parameters)
        retry = botocore.config.Config(retries={"mode": "adaptive", "max_attempts": 10})
        creds = data.get("artifactCredentials") or {}
        artifact_s3 = (
            session.client(
                "s3",
                aws_access_key_id=creds["accessKeyId"],
                aws_secret_access_key=creds["secretAccessKey"],
                aws_session_token=creds.get("sessionToken"),
                config=retry,
            )
            if creds
            else session.client("s3", config=retry)
        )
        ssm = session.client("ssm", config=retry)

        def remaining() -> float:
            return float(context.get_remaining_time_in_millis()) / 1000.0

        token = data.get("continuationToken")
        if token:
            # A previous invocation sent the commands; only polling remains.
            result = resume(token, settings, ssm=ssm, remaining_seconds=remaining, sleep=sleep)
        else:
            result = converge(
                job_id,
                data,
                settings,
                s3=session.client("s3", config=retry),
                artifact_s3=artifact_s3,
                ssm=ssm,
                backend=backend,
                remaining_seconds=remaining,
                sleep=sleep,
                workdir=workdir,
            )
    except Exception as e:
        LOG.exception("job %s failed", job_id)
        result = JobResult(ok=False, summary=f"{type(e).__name__}: {e}")
    LOG.info("job %s: %s", job_id, result.summary)
    report(codepipeline, job_id, result)
    return {"ok": result.ok, "summary": result.summary, "statuses": result.statuses}


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (``handler.lambda_handler``)."""
    session = boto3.session.Session()
    return handle(
        event,
        context,
        env=os.environ,
        session=session,
        codepipeline=session.client("codepipeline"),
    )
