"""CodePipeline Invoke action: converge the nodes of every Chef server after a cookbook sync.

Two modes. With ``STATE_MACHINE_ARN`` set (step-functions mode), the action only starts the
rollout state machine for its job and follows it (:func:`start_rollout`,
:func:`follow_rollout`); the machine's states are :func:`step_sync`, :func:`step_canary`,
:func:`step_wave`, :func:`step_poll`, :func:`step_verify` and :func:`step_report`, run by
:func:`step_handler` in their own function, with the rollout itself in :mod:`ssm_rollout` (canary,
SSM rate control per Chef server, per-node results). See deploy/README.md.

Without it (single-Lambda mode), the seed's ``ChefClientFunction`` rebuilt. One invocation:

1. reads the job (``event["CodePipeline.job"]``);
2. downloads the input artifact (the Chef repository as a zip) and fetches each server's key
   from the KeyBucket (``s3://KEY_BUCKET/SERVER/private.pem`` to ``.chef/SERVER/private.pem``,
   where the repository's knife.rb expects it), for every ``.chef/SERVER/config.yml``;
3. optionally runs the cookbook sync itself (``CHEF_SYNC_IN_LAMBDA=true`` or user parameter
   ``{"sync": true}``), failing the job if any server failed; with a policy group
   (``CHEF_POLICY_GROUP`` or user parameter ``{"policy_group": "prod"}``; ``*``: each
   server's own from ``.chef/NAME/config.yml``) it pushes the repository's
   ``Policyfile.lock.json`` instead of syncing cookbooks (``chef_sync.push_policy``); then, when asked
   (``CHEF_STATUS_GATE=true`` or user parameter ``{"status": true}``), reads every server's
   status (``chef_sync.status``) and fails the job, naming what drifts or which server could
   not be read, unless every server matches the repository and each other;
4. finds the nodes to converge with a Chef search on every server (``CHEF_NODE_QUERY``,
   default ``*:*``), reading each node's EC2 instance id from ``CHEF_INSTANCE_ID_ATTRIBUTE``
   (default ``ec2.instance_id``, looked up with Chef's attribute precedence);
5. sets aside the instances SSM cannot reach (``DescribeInstanceInformation``: not managed,
   or agent offline), runs ``sudo chef-client`` through SSM ``AWS-RunShellScript`` on the
   others in batches of at most 50 instances and polls ``GetCommandInvocation`` until every
   invocation has finished or the Lambda deadline nears;
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
``CHEF_INSTANCE_ID_ATTRIBUTE``, ``CHEF_SYNC_IN_LAMBDA``, ``SSM_BATCH_SIZE`` (1..50),
``POLL_INTERVAL_SECONDS``, ``DEADLINE_MARGIN_SECONDS``, ``CHEF_CLIENT_COMMAND``,
``CONTINUE_POLLING``, ``RESULTS_BUCKET`` (where the JSON summaries go), ``RESULTS_PREFIX``,
``UNREACHABLE_FAILS``, ``OUTPUT_TAIL_CHARS``; for the state machine also
``STATE_MACHINE_ARN``, ``MAX_CONCURRENCY``, ``MAX_ERRORS``, ``DEPSOLVER_WORKERS``,
``DEPSOLVER_FACTOR``, ``SERVER_RATE_CONTROL``, ``CANARY_SERVER``, ``CANARY_NODES``,
``WAVE_TIMEOUT_SECONDS``, ``DELIVERY_TIMEOUT_SECONDS``, ``CHEF_CLIENT_TIMEOUT_SECONDS``;
``CHEF_STATUS_GATE`` (``true``: fail before any chef-client run unless ``status`` is clean);
``CHEF_POLICY_GROUP`` (push the policy lock to this group instead of syncing cookbooks).
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3
import botocore.config
import botocore.exceptions
import ssm_rollout

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
        "CHEF_POLICY_GROUP",
        "SSM_BATCH_SIZE",
        "POLL_INTERVAL_SECONDS",
        "DEADLINE_MARGIN_SECONDS",
        "CHEF_CLIENT_COMMAND",
        "CONTINUE_POLLING",
        "STATE_MACHINE_ARN",
        "RESULTS_BUCKET",
        "RESULTS_PREFIX",
        "MAX_CONCURRENCY",
        "MAX_ERRORS",
        "DEPSOLVER_WORKERS",
        "DEPSOLVER_FACTOR",
        "SERVER_RATE_CONTROL",
        "CANARY_SERVER",
        "CANARY_NODES",
        "WAVE_TIMEOUT_SECONDS",
        "DELIVERY_TIMEOUT_SECONDS",
        "CHEF_CLIENT_TIMEOUT_SECONDS",
        "OUTPUT_TAIL_CHARS",
        "UNREACHABLE_FAILS",
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

    def verify(self, repo: Path) -> Verification:
        """Whether every server now holds what the repository says (nothing left to upload)."""
        ...

    def push_policy(self, repo: Path, group: str | None) -> SyncOutcome:
        """Pushes the repository's Policyfile.lock.json to ``group`` on every server (``None``:
        each server's own group); never raises for one server."""
        ...

    def verify_policy(self, repo: Path, group: str | None) -> Verification:
        """Whether every server's group points at the lock's revision, every artifact there."""
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

    def verify(self, repo: Path) -> Verification:
        """See :func:`verify_repository`."""
        return verify_repository(self._chef_sync, repo, Path(tempfile.gettempdir()) / "chef-sync")

    def _push_policy(self) -> Any:
        push = getattr(self._chef_sync, "push_policy", None)
        if push is None:
            raise BackendUnavailable(
                f"chef_sync {self._chef_sync.__version__} has no push_policy: "
                "this build cannot push policies (unset CHEF_POLICY_GROUP)"
            )
        return push

    def push_policy(self, repo: Path, group: str | None) -> SyncOutcome:
        """``chef_sync.push_policy``: artifacts, then each server's group; a failing server is
        reported, never raised."""
        report = self._push_policy()(
            repo, policy_group=group, cache_dir=Path(tempfile.gettempdir()) / "chef-sync"
        )
        return SyncOutcome(
            tuple(
                ServerOutcome(s["name"], bool(s["ok"]), s.get("error") or _first_policy_error(s))
                for s in report.to_dict()["servers"]
            )
        )

    def verify_policy(self, repo: Path, group: str | None) -> Verification:
        """A dry-run push (``dry_run=True``): ok when no server would get an artifact or move
        a group."""
        report = self._push_policy()(
            repo,
            policy_group=group,
            cache_dir=Path(tempfile.gettempdir()) / "chef-sync",
            dry_run=True,
        )
        differences = policy_differences(report.to_dict())
        return Verification(bool(report.ok) and not differences, "policy-dry-run", differences)


@dataclass(frozen=True)
class Verification:
    """What the verify step found: ``ok`` when no server differs from the repository."""

    ok: bool
    #: ``status`` (chef_sync.status) or ``dry-run`` (a sync that changes nothing).
    method: str
    #: What differs, as ``server: cookbook version would be created`` lines (or errors).
    differences: tuple[str, ...] = ()


def verify_repository(module: Any, repo: Path, cache_dir: Path) -> Verification:
    """Checks every server against the repository with ``chef_sync.status`` when the module
    has it, otherwise with a dry-run sync (``chef_sync.sync(..., dry_run=True)``), failing when
    anything would change."""
    status = getattr(module, "status", None)
    if status is not None:
        report = status(repo, cache_dir=cache_dir)
        return Verification(report.exit_code == 0, "status", tuple(status_problems(report)))
    sync = getattr(module, "sync", None)
    if sync is None:
        raise BackendUnavailable(
            f"chef_sync {getattr(module, '__version__', '?')} has neither status nor sync: "
            "this build cannot verify the servers"
        )
    report = sync(repo, dry_run=True, cache_dir=cache_dir)
    differences = _differences(report)
    return Verification(bool(report.ok) and not differences, "dry-run", differences)


def _differences(report: Any) -> tuple[str, ...]:
    """``server: error`` and ``server: cookbook version would be OUTCOME`` for every server
    error and every cookbook a sync would change (or a status report says differs)."""
    found: list[str] = []
    for server in getattr(report, "servers", ()):
        if getattr(server, "error", None):
            found.append(f"{server.name}: {server.error}")
        for c in getattr(server, "cookbooks", ()):
            outcome = str(getattr(c, "outcome", ""))
            if outcome not in ("unchanged", "matches") or getattr(c, "error", None):
                why = c.error or f"would be {outcome}"
                found.append(f"{server.name}: {c.name} {c.version} {why}")
    return tuple(found)


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
    # Policy rows (dicts; a chef_sync with policy status): the revision each server's group
    # points at.
    for p in getattr(report, "policies", ()):
        if p["drift"]:
            cells = ", ".join(
                f"{c['server']}: {(c['revision_id'] or 'none')[:10]}"
                for c in p["servers"]
                if c["state"] in ("points", "no_entry")
            )
            yield f"policy {p['group']}/{p['policy']}: {', '.join(p['drift'])} ({cells})"


def policy_differences(report: Mapping[str, Any]) -> tuple[str, ...]:
    """``server: error``, ``server: artifact NAME VERSION would be created`` and ``server:
    policy NAME in GROUP would be OUTCOME (REVISION)`` for every server of a dry-run policy
    push report (``PolicyPushReport.to_dict()``) that is not already as the lock says."""
    found: list[str] = []
    for server in report.get("servers", ()):
        name = server["name"]
        if server.get("error"):
            found.append(f"{name}: {server['error']}")
        for a in server.get("artifacts", ()):
            if a["outcome"] != "unchanged":
                why = a.get("error") or f"would be {_done(a['outcome'])}"
                found.append(f"{name}: artifact {a['name']} {a['version']} {why}")
        for p in server.get("policies", ()):
            if p["outcome"] != "unchanged":
                why = p.get("error") or f"would be {_done(p['outcome'])} to {p['revision_id'][:10]}"
                found.append(f"{name}: policy {p['name']} in {p['group']} {why}")
    return tuple(found)


def _done(outcome: str) -> str:
    return {"create": "created", "update": "updated"}.get(outcome, outcome)


def _first_policy_error(server: Mapping[str, Any]) -> str | None:
    """The first failing artifact or policy of a policy push's server entry."""
    for a in server.get("artifacts", ()):
        if a.get("error"):
            return f"artifact {a['name']} {a['version']}: {a['error']}"
    for p in server.get("policies", ()):
        if p.get("error"):
            return f"policy {p['name']} in {p['group']}: {p['error']}"
    return None


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
    #: Push the policy lock instead of syncing cookbooks: the group on every server, ``"*"``
    #: each server's own (``.chef/NAME/config.yml``); ``None``: sync cookbooks.
    policy_group: str | None = None
    batch_size: int = MAX_SSM_BATCH
    poll_interval: float = 10.0
    deadline_margin: float = 30.0
    command: str = "sudo chef-client"
    continue_polling: bool = True
    #: Step Functions mode: the state machine the pipeline action starts (unset: single Lambda).
    state_machine_arn: str | None = None
    #: Where rollout documents and the JSON summaries go (the pipeline's artifact bucket).
    results_bucket: str | None = None
    results_prefix: str = "chef-sync/converge"
    #: Rate control: "*" (every server) and server name -> RateControl keys.
    rate_control: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    canary: ssm_rollout.Canary = field(default_factory=ssm_rollout.Canary)
    wave_timeout: int = 7200
    delivery_timeout: int = 600
    run_timeout: int = 3600
    output_tail: int = ssm_rollout.DEFAULT_OUTPUT_TAIL
    unreachable_fails: bool = False

    @classmethod
    def load(cls, env: Mapping[str, str], user_parameters: str | None = None) -> Settings:
        """Reads the environment; a JSON object in the action's UserParameters overrides it
        (keys ``query``, ``instance_id_attribute``, ``sync``, ``status``, ``policy_group``)."""
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
            policy_group=_policy_group(params.get("policy_group", env.get("CHEF_POLICY_GROUP"))),
            batch_size=batch,
            poll_interval=float(env.get("POLL_INTERVAL_SECONDS", 10)),
            deadline_margin=float(env.get("DEADLINE_MARGIN_SECONDS", 30)),
            command=env.get("CHEF_CLIENT_COMMAND") or "sudo chef-client",
            continue_polling=_truthy(env.get("CONTINUE_POLLING", "true")),
            state_machine_arn=env.get("STATE_MACHINE_ARN") or None,
            results_bucket=env.get("RESULTS_BUCKET") or None,
            results_prefix=env.get("RESULTS_PREFIX") or "chef-sync/converge",
            rate_control=load_rate_control(env, params.get("rate_control")),
            canary=ssm_rollout.Canary.parse(
                str(
                    params["canary_server"]
                    if "canary_server" in params
                    else env.get("CANARY_SERVER", "")
                ),
                str(
                    params["canary_nodes"]
                    if "canary_nodes" in params
                    else env.get("CANARY_NODES", "1")
                ),
            ),
            wave_timeout=_positive(
                params.get("wave_timeout", env.get("WAVE_TIMEOUT_SECONDS", 7200)),
                "WAVE_TIMEOUT_SECONDS",
            ),
            delivery_timeout=_positive(
                env.get("DELIVERY_TIMEOUT_SECONDS", 600), "DELIVERY_TIMEOUT_SECONDS"
            ),
            run_timeout=_positive(
                env.get("CHEF_CLIENT_TIMEOUT_SECONDS", 3600), "CHEF_CLIENT_TIMEOUT_SECONDS"
            ),
            output_tail=_positive(
                env.get("OUTPUT_TAIL_CHARS", ssm_rollout.DEFAULT_OUTPUT_TAIL), "OUTPUT_TAIL_CHARS"
            ),
            unreachable_fails=_truthy(env.get("UNREACHABLE_FAILS", "false")),
        )


#: erchef's rule for policy group names, plus ``*`` (each server's own group).
POLICY_GROUP = re.compile(r"^(\*|[.A-Za-z0-9_:-]{1,255})$")


def _policy_group(value: object) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    group = str(value).strip()
    if not POLICY_GROUP.match(group):
        raise ValueError(
            f"policy_group {group!r} is not a policy group name ([.A-Za-z0-9_:-], or * for "
            "each server's own)"
        )
    return group


def publish(chef: ChefBackend, repo: Path, settings: Settings) -> SyncOutcome:
    """The repository to every server: the policy lock when a policy group is set, else the
    cookbook sync."""
    if settings.policy_group is None:
        return chef.sync(repo)
    group = None if settings.policy_group == "*" else settings.policy_group
    return chef.push_policy(repo, group)


def verify_published(chef: ChefBackend, repo: Path, settings: Settings) -> Verification:
    """:meth:`ChefBackend.verify`, or for a policy push :meth:`ChefBackend.verify_policy`."""
    if settings.policy_group is None:
        return chef.verify(repo)
    group = None if settings.policy_group == "*" else settings.policy_group
    return chef.verify_policy(repo, group)


def _positive(value: object, name: str) -> int:
    number = int(str(value))
    if number < 1:
        raise ValueError(f"{name} must be a positive number of seconds or characters, not {value}")
    return number


def load_rate_control(env: Mapping[str, str], override: Any = None) -> dict[str, dict[str, Any]]:
    """Rate control per server: ``"*"`` from ``MAX_CONCURRENCY``, ``MAX_ERRORS``,
    ``DEPSOLVER_WORKERS`` and ``DEPSOLVER_FACTOR``; each server's own from the JSON object
    ``SERVER_RATE_CONTROL`` (``{"prod-eu": {"depsolver_workers": 8, "max_errors": "2"}}``),
    then from the UserParameters key ``rate_control`` (same shape). Checked here, so a typo
    fails the job before anything is sent."""
    table: dict[str, dict[str, Any]] = {"*": {}}
    for key, name in (
        ("max_concurrency", "MAX_CONCURRENCY"),
        ("max_errors", "MAX_ERRORS"),
        ("depsolver_workers", "DEPSOLVER_WORKERS"),
        ("depsolver_factor", "DEPSOLVER_FACTOR"),
    ):
        if env.get(name):
            table["*"][key] = env[name]
    for source, raw in (
        ("SERVER_RATE_CONTROL", env.get("SERVER_RATE_CONTROL")),
        ("rate_control", override),
    ):
        if raw in (None, ""):
            continue
        loaded = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
            raise ValueError(f"{source} must be a JSON object of server name -> object")
        for server, values in loaded.items():
            table.setdefault(str(server), {}).update(values)
    base = ssm_rollout.RateControl.from_mapping(
        table["*"], ssm_rollout.RateControl(), "rate control"
    )
    for server, values in table.items():
        if server != "*":
            ssm_rollout.RateControl.from_mapping(values, base, f"rate control of {server}")
    return table


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
    #: Every server searched (successfully or not), in order.
    searched: list[str] = field(default_factory=list)
    #: Instances SSM cannot reach (not managed, agent offline): instance id -> why.
    unreachable: dict[str, str] = field(default_factory=dict)


def find_targets(servers: Iterable[NodeSearcher], query: str, id_attribute: str) -> Discovery:
    """Searches every server; a failing server is recorded and never stops the others.
    An instance registered on two servers is converged once."""
    found = Discovery()
    seen: set[str] = set()
    for server in servers:
        found.searched.append(server.name)
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
    finished: dict[str, Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """Polls ``GetCommandInvocation`` until every invocation is final or fewer than
    ``deadline_margin`` seconds of the Lambda remain. Returns instance id -> last status
    (``Pending`` when the invocation was not visible yet); ``finished`` receives the last
    answer for every instance (its output, times)."""
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
            if finished is not None:
                finished[instance_id] = invocation
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
    #: One result per node (server, instance, outcome, duration, output tail).
    nodes: list[ssm_rollout.NodeResult] = field(default_factory=list)


def node_results(
    targets: Sequence[Target],
    statuses: Mapping[str, str],
    invocations: Mapping[str, Mapping[str, Any]],
    discovery: Discovery,
    tail: int = ssm_rollout.DEFAULT_OUTPUT_TAIL,
) -> list[ssm_rollout.NodeResult]:
    """Per node: its SSM invocation's outcome, duration and output tail; ``SendFailed``
    instances (SSM refused the batch), and the unreachable ones, set aside before sending."""
    by_id = {t.instance_id: t for t in targets}
    results = []
    for instance_id, status in statuses.items():
        t = by_id.get(instance_id) or Target(instance_id, "", "")
        inv = invocations.get(instance_id, {})
        details = str(inv.get("StatusDetails", ""))
        if status.startswith("SendFailed: "):
            code = status.split(": ", 1)[1]
            outcome = "unreachable" if code == "InvalidInstanceId" else "failed"
            results.append(
                ssm_rollout.NodeResult(t.server, instance_id, t.node, outcome, "SendFailed", code)
            )
            continue
        results.append(
            ssm_rollout.NodeResult(
                t.server,
                instance_id,
                t.node,
                ssm_rollout.outcome_of(status, details),
                status,
                details if details != status else "",
                ssm_rollout.duration_of(inv),
                ssm_rollout.output_tail(inv, tail),
            )
        )
    for instance_id, why in discovery.unreachable.items():
        t = by_id.get(instance_id) or Target(instance_id, "", "")
        results.append(
            ssm_rollout.NodeResult(
                t.server, instance_id, t.node, "unreachable", "NotReachable", why
            )
        )
    return results


def _last_line(result: ssm_rollout.NodeResult) -> str:
    lines = [line.strip() for line in result.output_tail.splitlines() if line.strip()]
    return f" ({lines[-1][:200]})" if lines else ""


def summarize(
    targets: Sequence[Target],
    statuses: Mapping[str, str],
    discovery: Discovery,
    invocations: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Settings | None = None,
) -> JobResult:
    """Builds the report: failed instances (with node, server and the last line of their
    chef-client output), unfinished ones, unreachable ones, servers whose search failed, and
    skipped nodes."""
    settings = settings or Settings()
    by_id = {t.instance_id: t for t in targets}
    nodes = node_results(targets, statuses, invocations or {}, discovery, settings.output_tail)
    by_node = {r.instance_id: r for r in nodes}
    unfinished = [i for i, s in statuses.items() if s in UNFINISHED_STATUSES]
    unreachable = [r for r in nodes if r.outcome == "unreachable"]
    failed = [
        i
        for i, s in statuses.items()
        if s != "Success" and i not in unfinished and by_node[i].outcome != "unreachable"
    ]
    succeeded = sum(1 for s in statuses.values() if s == "Success")

    def describe(i: str) -> str:
        t = by_id.get(i)
        where = f" ({t.node} on {t.server})" if t and t.node else ""
        return f"{i}{where}: {statuses[i]}{_last_line(by_node[i])}"

    parts = [f"chef-client succeeded on {succeeded} of {len(statuses)} instances."]
    if failed:
        parts.append("Failed: " + "; ".join(describe(i) for i in failed) + ".")
    if unreachable:
        parts.append(
            "Unreachable (not managed by SSM or not running; no cookbook ran): "
            + "; ".join(r.describe() for r in unreachable)
            + "."
        )
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
    ok = (
        not failed
        and not unfinished
        and not discovery.failed_servers
        and not (unreachable and settings.unreachable_fails)
    )
    return JobResult(ok=ok, summary=" ".join(parts), statuses=dict(statuses), nodes=nodes)


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
            outcome = publish(chef, repo, settings)
            if not outcome.ok:
                failed = "; ".join(f"{s.name}: {s.error}" for s in outcome.servers if not s.ok)
                what = "Cookbook sync" if settings.policy_group is None else "Policy push"
                return JobResult(ok=False, summary=f"{what} failed on: {failed}.")
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
    if ids:
        discovery.unreachable = ssm_rollout.unreachable_instances(ssm, ids)
        ids = [i for i in ids if i not in discovery.unreachable]
    if not ids:
        LOG.info("no reachable node matched %r", settings.node_query)
        return summarize(discovery.targets, {}, discovery, settings=settings)
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
    invocations: dict[str, Mapping[str, Any]] = {}
    if commands:
        statuses.update(
            poll_invocations(ssm, commands, remaining_seconds, settings, sleep, invocations)
        )
    result = summarize(discovery.targets, statuses, discovery, invocations, settings)
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
        "unreachable": dict(discovery.unreachable),
    }
    shorter: list[Callable[[], None]] = [
        lambda: state.update(skipped=[f"{len(discovery.skipped)} nodes (see the first log)"]),
        lambda: state.update(unreachable={i: "see the first log" for i in state["unreachable"]}),
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
        unreachable=dict(state.get("unreachable", {})),
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
        followed = json.loads(token) if token else None
        if isinstance(followed, dict) and followed.get("v") == 2:
            # Step Functions mode: the execution this job started is still running.
            result = follow_rollout(
                followed,
                settings,
                sfn=session.client("stepfunctions", config=retry),
                remaining_seconds=remaining,
                sleep=sleep,
            )
        elif token:
            # A previous invocation sent the commands; only polling remains.
            result = resume(token, settings, ssm=ssm, remaining_seconds=remaining, sleep=sleep)
        elif settings.state_machine_arn:
            result = start_rollout(
                job_id,
                data,
                settings,
                sfn=session.client("stepfunctions", config=retry),
                user_parameters=user_parameters,
            )
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
        if result.continuation is None and result.nodes and settings.results_bucket:
            uri = write_job_summary(session.client("s3", config=retry), settings, job_id, result)
            result.summary = f"{result.summary} Per-node results: {uri}."
    except Exception as e:
        LOG.exception("job %s failed", job_id)
        result = JobResult(ok=False, summary=f"{type(e).__name__}: {e}")
    LOG.info("job %s: %s", job_id, result.summary)
    report(codepipeline, job_id, result)
    return {"ok": result.ok, "summary": result.summary, "statuses": result.statuses}


def write_job_summary(s3: Any, settings: Settings, job_id: str, result: JobResult) -> str:
    """Writes the single-Lambda mode's JSON summary (as the state machine's Report does);
    returns its ``s3://`` address."""
    assert settings.results_bucket is not None
    counts: dict[str, int] = {}
    for r in result.nodes:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    store = ssm_rollout.RolloutStore(s3, settings.results_bucket, settings.results_prefix)
    return store.write_summary(
        execution_name(job_id),
        {
            "job_id": job_id,
            "ok": result.ok,
            "mode": "lambda",
            "counts": counts,
            "nodes": [asdict(r) for r in result.nodes],
            "summary": result.summary,
        },
    )


# ---------------------------------------------------------------------------------------------
# Step Functions mode: the pipeline action starts the state machine and reports its outcome
# ---------------------------------------------------------------------------------------------

#: Seconds one pipeline-action invocation follows a running execution before handing back a
#: continuation token (CodePipeline then invokes the function again).
FOLLOW_SECONDS = 60.0
#: Execution statuses that are still going.
RUNNING_EXECUTION = frozenset({"RUNNING", "PENDING_REDRIVE"})
RETRY = botocore.config.Config(retries={"mode": "adaptive", "max_attempts": 10})


def execution_name(job_id: str) -> str:
    """The execution (and rollout) name of a pipeline job: one execution per job, so an
    invocation repeated by CodePipeline finds the execution it started."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"job-{job_id}")[:80]


def start_rollout(
    job_id: str,
    data: Mapping[str, Any],
    settings: Settings,
    *,
    sfn: Any,
    user_parameters: str | None,
) -> JobResult:
    """Starts the state machine on the job's repository artifact; hands back a continuation
    token naming the execution."""
    artifacts = data.get("inputArtifacts") or []
    if not artifacts:
        raise ValueError("the action has no input artifact: give it the repository artifact")
    location = artifacts[0]["location"]["s3Location"]
    name = execution_name(job_id)
    state = {
        "rollout_id": name,
        "job_id": job_id,
        "artifact": {"bucket": location["bucketName"], "key": location["objectKey"]},
        "user_parameters": user_parameters,
    }
    assert settings.state_machine_arn is not None
    try:
        arn = sfn.start_execution(
            stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(state)
        )["executionArn"]
    except botocore.exceptions.ClientError as e:
        if ssm_rollout.error_code(e) != "ExecutionAlreadyExists":
            raise
        arn = settings.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    LOG.info("job %s: rollout %s started", job_id, arn)
    return JobResult(
        ok=True,
        summary=f"Rollout started: {arn}",
        continuation=json.dumps({"v": 2, "execution": arn}, separators=(",", ":")),
    )


def follow_rollout(
    token: Mapping[str, Any],
    settings: Settings,
    *,
    sfn: Any,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None],
) -> JobResult:
    """Looks at the execution a previous invocation started, for at most
    :data:`FOLLOW_SECONDS`; reports its summary once it has ended."""
    arn = str(token["execution"])
    waited = 0.0
    while True:
        execution = sfn.describe_execution(executionArn=arn)
        status = str(execution["status"])
        if status not in RUNNING_EXECUTION:
            break
        if (
            waited + settings.poll_interval > FOLLOW_SECONDS
            or remaining_seconds() - settings.poll_interval < settings.deadline_margin
        ):
            return JobResult(
                ok=True,
                summary=f"Rollout {arn} still running.",
                continuation=json.dumps(dict(token), separators=(",", ":")),
            )
        sleep(settings.poll_interval)
        waited += settings.poll_interval
    if status == "SUCCEEDED":
        output = json.loads(execution.get("output") or "{}")
        return JobResult(ok=bool(output.get("ok", True)), summary=str(output.get("summary", "")))
    why = execution.get("cause") or execution.get("error") or "no cause given"
    return JobResult(ok=False, summary=f"Rollout {status.lower()}: {why}")


@dataclass
class StepContext:
    """What every state of the machine needs besides its input."""

    env: Mapping[str, str]
    session: Any
    backend: Callable[[], ChefBackend] = load_backend
    workdir: Path | None = None
    now: Callable[[], float] = time.time

    def settings(self, state: Mapping[str, Any]) -> Settings:
        return Settings.load(self.env, state.get("user_parameters"))

    def store(self, settings: Settings) -> ssm_rollout.RolloutStore:
        if not settings.results_bucket:
            raise ValueError("RESULTS_BUCKET is not set: the rollout has nowhere to keep its state")
        return ssm_rollout.RolloutStore(
            self.session.client("s3", config=RETRY),
            settings.results_bucket,
            settings.results_prefix,
        )

    def ssm(self) -> Any:
        return self.session.client("ssm", config=RETRY)


#: The keys of a state that every step passes on unchanged.
STATE_KEYS = ("rollout_id", "job_id", "artifact", "user_parameters")


def _state(state: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    return {**{k: state.get(k) for k in STATE_KEYS}, **values}


def plan_rollout(
    rollout_id: str, job_id: str | None, settings: Settings, discovery: Discovery, ssm: Any
) -> ssm_rollout.Rollout:
    """The rollout of what the searches found: unreachable nodes set aside (recorded as such),
    the canary wave, then every other node."""
    ids = [t.instance_id for t in discovery.targets]
    nodes = {t.instance_id: [t.node, t.server] for t in discovery.targets}
    gone = ssm_rollout.unreachable_instances(ssm, ids) if ids else {}
    grouped: dict[str, list[str]] = {name: [] for name in discovery.searched}
    for server, members in ssm_rollout.by_server([i for i in ids if i not in gone], nodes).items():
        grouped.setdefault(server, []).extend(members)
    first, rest = settings.canary.split(grouped)
    rollout = ssm_rollout.Rollout(
        id=rollout_id,
        job_id=job_id,
        command=settings.command,
        rate={k: dict(v) for k, v in settings.rate_control.items()},
        waves=[{"name": "canary", "servers": first}, {"name": "rollout", "servers": rest}],
        nodes=nodes,
        poll_interval=max(1, int(settings.poll_interval)),
        wave_timeout=settings.wave_timeout,
        delivery_timeout=settings.delivery_timeout,
        run_timeout=settings.run_timeout,
        tail=settings.output_tail,
        unreachable_fails=settings.unreachable_fails,
        skipped=list(discovery.skipped),
        failed_servers=dict(discovery.failed_servers),
    )
    for instance_id, why in gone.items():
        node, server = nodes[instance_id]
        rollout.record(
            ssm_rollout.NodeResult(
                server, instance_id, node, "unreachable", "NotReachable", why, wave="sync"
            )
        )
    return rollout


def step_sync(state: Mapping[str, Any], ctx: StepContext) -> dict[str, Any]:
    """State ``Sync``: fetches the repository and keys, syncs the cookbooks when asked, finds
    the nodes, sets aside those SSM cannot reach and stores the rollout's plan."""
    settings = ctx.settings(state)
    store = ctx.store(settings)
    ssm = ctx.ssm()
    s3 = ctx.session.client("s3", config=RETRY)
    sync_error: str | None = None
    with tempfile.TemporaryDirectory(dir=ctx.workdir) as tmp:
        repo = _fetch_state_repository(state, Path(tmp) / "repo", s3, settings)
        chef = ctx.backend()
        if settings.run_sync:
            outcome = publish(chef, repo, settings)
            if not outcome.ok:
                sync_error = "; ".join(f"{s.name}: {s.error}" for s in outcome.servers if not s.ok)
        discovery = (
            Discovery()
            if sync_error
            else find_targets(
                chef.servers(repo), settings.node_query, settings.instance_id_attribute
            )
        )
        shutil.rmtree(repo, ignore_errors=True)
    rollout = plan_rollout(str(state["rollout_id"]), state.get("job_id"), settings, discovery, ssm)
    rollout.sync_error = sync_error
    store.save(rollout)
    planned = {w["name"]: sum(len(v) for v in w["servers"].values()) for w in rollout.waves}
    LOG.info("rollout %s planned: %s", rollout.id, planned)
    return _state(
        state, ok=sync_error is None, poll_interval=rollout.poll_interval, planned=planned
    )


def _fetch_state_repository(
    state: Mapping[str, Any], dest: Path, s3: Any, settings: Settings
) -> Path:
    artifact = state["artifact"]
    job_data = {
        "inputArtifacts": [
            {
                "location": {
                    "s3Location": {"bucketName": artifact["bucket"], "objectKey": artifact["key"]}
                }
            }
        ]
    }
    repo = fetch_repository(job_data, dest, s3)
    fetch_keys(repo, server_names(repo), settings.key_bucket, s3)
    return repo


def _wave_state(state: Mapping[str, Any], rollout: ssm_rollout.Rollout) -> dict[str, Any]:
    done = rollout.wave_done
    results = rollout.wave_results(rollout.wave) if 0 <= rollout.wave < len(rollout.waves) else []
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return _state(
        state,
        ok=True,
        poll_interval=rollout.poll_interval,
        wave=rollout.wave_name,
        wave_done=done,
        wave_ok=rollout.wave_ok if done else True,
        in_flight=len(rollout.in_flight),
        counts=counts,
    )


def _run_wave(state: Mapping[str, Any], ctx: StepContext, index: int) -> dict[str, Any]:
    settings = ctx.settings(state)
    store = ctx.store(settings)
    ssm = ctx.ssm()
    rollout = store.load(str(state["rollout_id"]))
    try:
        if rollout.wave < index:
            ssm_rollout.start_wave(rollout, index, ssm, ctx.now)
        else:
            # A retry after SSM throttled: the wave has started, send what is left.
            ssm_rollout.advance(rollout, ssm, ctx.now)
    finally:
        store.save(rollout)
    return _wave_state(state, rollout)


def step_canary(state: Mapping[str, Any], ctx: StepContext) -> dict[str, Any]:
    """State ``Canary``: starts the first wave (every server's canary nodes, with its rate
    control and no error allowed). A wave with no node is done at once."""
    return _run_wave(state, ctx, 0)


def step_wave(state: Mapping[str, Any], ctx: StepContext) -> dict[str, Any]:
    """State ``Waves``: starts every other node, per server within its rate control."""
    return _run_wave(state, ctx, 1)


def step_poll(state: Mapping[str, Any], ctx: StepContext) -> dict[str, Any]:
    """States ``PollCanary``/``PollWaves``: looks at the commands in flight once, records
    finished nodes and sends the next chunks; ``wave_done`` tells the machine to move on,
    otherwise it waits ``poll_interval`` seconds and polls again."""
    settings = ctx.settings(state)
    store = ctx.store(settings)
    rollout = store.load(str(state["rollout_id"]))
    try:
        ssm_rollout.poll(rollout, ctx.ssm(), ctx.now)
    finally:
        store.save(rollout)
    return _wave_state(state, rollout)


def step_verify(state: Mapping[str, Any], ctx: StepContext) -> dict[str, Any]:
    """State ``Verify``: checks that every server holds what the repository says
    (:func:`verify_repository`)."""
    settings = ctx.settings(state)
    store = ctx.store(settings)
    rollout = store.load(str(state["rollout_id"]))
    s3 = ctx.session.client("s3", config=RETRY)
    with tempfile.TemporaryDirectory(dir=ctx.workdir) as tmp:
        repo = _fetch_state_repository(state, Path(tmp) / "repo", s3, settings)
        try:
            verification = verify_published(ctx.backend(), repo, settings)
        finally:
            shutil.rmtree(repo, ignore_errors=True)
    rollout.verify = {
        "ok": verification.ok,
        "method": verification.method,
        "differences": list(verification.differences),
    }
    store.save(rollout)
    return _state(state, ok=verification.ok, poll_interval=rollout.poll_interval)


def rollout_summary(rollout: ssm_rollout.Rollout) -> dict[str, Any]:
    """The JSON summary of a rollout: outcome, counts and one entry per node (nodes held back
    by a failed canary are ``not_run``)."""
    results = {i: r for i, r in rollout.results.items()}
    in_flight = {i for c in rollout.in_flight for i in c.instance_ids}
    for index, wave in enumerate(rollout.waves):
        for server, ids in wave["servers"].items():
            for instance_id in ids:
                if instance_id in results:
                    continue
                if index > rollout.wave:
                    why = "held back: an earlier wave failed"
                elif instance_id in in_flight:
                    why = "sent, but the rollout stopped before its result was known"
                else:
                    why = "not sent: the rollout stopped"
                results[instance_id] = ssm_rollout.NodeResult(
                    server,
                    instance_id,
                    rollout.nodes[instance_id][0],
                    "not_run",
                    "NotSent",
                    why,
                    wave=wave["name"],
                )
    nodes = [asdict(r) for r in ssm_rollout.ordered_results(results.values())]
    counts: dict[str, int] = {}
    for r in results.values():
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    bad = counts.get("failed", 0) + counts.get("no_answer", 0) + counts.get("not_run", 0)
    if rollout.unreachable_fails:
        bad += counts.get("unreachable", 0)
    verify_ok = rollout.verify is None or bool(rollout.verify.get("ok"))
    ok = (
        not bad
        and not rollout.failed_servers
        and rollout.sync_error is None
        and rollout.error is None
        and verify_ok
    )
    return {
        "rollout": rollout.id,
        "job_id": rollout.job_id,
        "ok": ok,
        "counts": counts,
        "nodes": nodes,
        "waves": [
            {"name": w["name"], "servers": {s: len(ids) for s, ids in w["servers"].items()}}
            for w in rollout.waves
        ],
        "rate_control": {
            s: {
                "max_concurrency": rollout.rate_for(s).concurrency,
                "max_errors": rollout.rate_for(s).max_errors,
            }
            for s in sorted({srv for w in rollout.waves for srv in w["servers"]})
        },
        "skipped": rollout.skipped,
        "failed_servers": rollout.failed_servers,
        "sync_error": rollout.sync_error,
        "verify": rollout.verify,
        "error": rollout.error,
    }


def summary_text(summary: Mapping[str, Any], uri: str | None) -> str:
    """The pipeline's view of a summary: counts, then the nodes that did not converge (with
    the last line of their chef-client output), then what else went wrong."""
    counts = summary["counts"]
    total = sum(counts.values())
    parts = [f"chef-client converged {counts.get('converged', 0)} of {total} nodes."]
    labels = (
        ("failed", "Failed"),
        ("no_answer", "No answer"),
        ("not_run", "Not run"),
        ("unreachable", "Unreachable (not managed by SSM or not running; no cookbook ran)"),
    )
    for outcome, label in labels:
        nodes = [n for n in summary["nodes"] if n["outcome"] == outcome]
        if nodes:
            parts.append(f"{label}: " + "; ".join(_describe_node(n) for n in nodes) + ".")
    if summary.get("sync_error"):
        parts.append(f"Cookbook sync failed on: {summary['sync_error']}.")
    if summary.get("failed_servers"):
        parts.append(
            "Search failed on: "
            + "; ".join(f"{n}: {e}" for n, e in summary["failed_servers"].items())
            + "."
        )
    verify = summary.get("verify")
    if verify and not verify.get("ok"):
        parts.append(
            f"Verify ({verify['method']}) found differences: "
            + "; ".join(verify["differences"])
            + "."
        )
    if summary.get("error"):
        parts.append(f"Rollout error: {summary['error']}.")
    if summary.get("skipped"):
        parts.append(
            f"Skipped {len(summary['skipped'])} nodes: " + "; ".join(summary["skipped"]) + "."
        )
    if uri:
        parts.insert(1, f"Per-node results: {uri}.")
    return " ".join(parts)


def _describe_node(n: Mapping[str, Any]) -> str:
    text = f"{n['instance_id']} ({n['node']} on {n['server']})"
    why = n.get("details") or n.get("status")
    if why:
        text += f" {why}"
    last = [line for line in str(n.get("output_tail", "")).splitlines() if line.strip()]
    if last and n["outcome"] in ("failed", "no_answer"):
        text += f": {last[-1].strip()[:200]}"
    return text


def step_report(state: Mapping[str, Any], ctx: StepContext) -> dict[str, Any]:
    """State ``Report``: writes the JSON summary to the results bucket and hands the machine
    its outcome (``ok``, ``summary``); an error caught by the machine (``state["error"]``)
    fails the rollout with its cause."""
    settings = ctx.settings(state)
    store = ctx.store(settings)
    rollout_id = str(state["rollout_id"])
    caught = state.get("error")
    try:
        rollout = store.load(rollout_id)
    except botocore.exceptions.ClientError as e:
        if ssm_rollout.error_code(e) not in ("NoSuchKey", "404"):
            raise
        # The machine failed before the plan was stored (in Sync).
        rollout = ssm_rollout.Rollout(
            id=rollout_id, job_id=state.get("job_id"), command="", rate={}, waves=[], nodes={}
        )
    if isinstance(caught, Mapping):
        rollout.error = f"{caught.get('Error', 'Error')}: {str(caught.get('Cause', ''))[:1000]}"
        store.save(rollout)
    summary = rollout_summary(rollout)
    uri = store.write_summary(rollout_id, summary)
    text = summary_text(summary, uri)
    LOG.info("rollout %s: %s", rollout_id, text)
    return {
        "ok": summary["ok"],
        "summary": text if summary["ok"] else text[:MAX_FAILURE_MESSAGE],
        "summary_uri": uri,
        "counts": summary["counts"],
    }


#: The states of the machine, by the ``step`` name its Task states pass.
STEPS: dict[str, Callable[[Mapping[str, Any], StepContext], dict[str, Any]]] = {
    "sync": step_sync,
    "canary": step_canary,
    "wave": step_wave,
    "poll": step_poll,
    "verify": step_verify,
    "report": step_report,
}


def step_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The state machine's Lambda entry point (``handler.step_handler``): runs the state
    named by ``event["step"]`` on ``event["state"]``. SSM throttling surfaces as
    ``SsmThrottled``, which the machine retries with backoff."""
    step = STEPS[str(event["step"])]
    return step(event["state"], StepContext(env=os.environ, session=boto3.session.Session()))


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
