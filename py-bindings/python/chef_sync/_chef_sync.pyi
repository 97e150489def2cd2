"""Type stubs for the Rust extension module ``chef_sync._chef_sync``."""

import os
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, final

__all__ = [
    "AuthenticationError",
    "ChefClient",
    "ChefSyncError",
    "ConfigError",
    "ConflictError",
    "CookbookOutcome",
    "CookbookStatus",
    "LicenseError",
    "NetworkError",
    "NotFoundError",
    "PolicyPushReport",
    "ObjectOutcome",
    "ObjectStatus",
    "ReportError",
    "ServerError",
    "ServerReport",
    "ServerStatus",
    "StatusCell",
    "StatusReport",
    "SyncReport",
    "TlsError",
    "__version__",
    "_json_roundtrip",
    "_raise_error",
    "_runtime_thread_name",
    "_runtime_thread_name_async",
    "install_policy",
    "main",
    "push_policy",
    "repo_clients",
    "status",
    "status_async",
    "sync",
    "sync_async",
    "upload_cookbooks",
    "upload_cookbooks_async",
]

__version__: str

class ChefSyncError(Exception):
    """Base class of every error raised by chef_sync."""

    status: int | None
    """HTTP status of the server's answer, or None when there was no answer."""
    messages: tuple[str, ...]
    """The server's own error messages, in order."""
    server: str | None
    """Name of the server, as configured in the repository."""
    url: str | None
    """The request URL."""

class ConfigError(ChefSyncError):
    """A configuration file or argument is invalid."""

    file: str | None
    """The file at fault."""
    line: int | None
    """1-based line in ``file``."""

class AuthenticationError(ChefSyncError):
    """HTTP 401 or 403: wrong key, unknown client, clock skew, or missing permissions."""

class LicenseError(ChefSyncError):
    """HTTP 403 ``invalid-license``: the Chef Infra Server's licence is invalid or expired."""

class NotFoundError(ChefSyncError):
    """HTTP 404: the server has no such object."""

class ConflictError(ChefSyncError):
    """HTTP 409: the object exists, or a frozen cookbook version would change."""

    frozen: bool
    """True when a frozen cookbook version would have changed."""

class ServerError(ChefSyncError):
    """HTTP 5xx, or an answer chef_sync cannot use."""

class NetworkError(ChefSyncError):
    """The server could not be reached, or the request timed out."""

    timed_out: bool
    """True when the request timed out."""

class TlsError(ChefSyncError):
    """The TLS handshake failed."""

@final
class ChefClient:
    """A client for one Chef Infra Server, signing every request with the client's key.

    ``key`` is PEM ``bytes``, a PEM ``str``, or the path of a PEM file; ``sign_version`` one
    of ``"1.0"``, ``"1.1"``, ``"1.3"``; ``ca_file`` extra CA certificates (PEM); ``verify=False``
    turns TLS verification off; ``timeout`` is per request attempt, in seconds; ``retries`` is
    how often connection failures, timeouts, 429 and 5xx are retried. Blocking methods release
    the GIL; each has an ``*_async`` twin.
    """

    def __new__(
        cls,
        server_url: str,
        client_name: str,
        key: str | bytes | os.PathLike[str],
        sign_version: str = "1.3",
        ca_file: str | os.PathLike[str] | None = None,
        verify: bool = True,
        timeout: float = 60.0,
        retries: int = 5,
    ) -> ChefClient: ...
    @property
    def server_url(self) -> str:
        """The server URL requests are relative to (no trailing ``/``)."""
    @property
    def client_name(self) -> str:
        """The client or user name requests are signed as."""
    @property
    def sign_version(self) -> str:
        """The signing protocol in use (``"1.1"`` after a server rejected 1.3)."""
    @property
    def api_version(self) -> int | None:
        """The server API version negotiated so far, or None before the first answer."""
    def get(self, path: str) -> Any:
        """GET ``path`` (relative to the server URL) and return the JSON answer."""
    def delete(self, path: str) -> Any:
        """DELETE ``path`` and return the JSON answer."""
    def put(self, path: str, body: Any) -> Any:
        """PUT ``body`` (JSON-serialisable) to ``path`` and return the JSON answer."""
    def post(self, path: str, body: Any) -> Any:
        """POST ``body`` (JSON-serialisable) to ``path`` and return the JSON answer."""
    def search(
        self,
        index: str,
        q: str = "*:*",
        rows: int | None = None,
        keys: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Any]:
        """Every object of ``index`` matching ``q``, all pages fetched ``rows`` at a time
        (default 1000); a partial search when ``keys`` (alias -> attribute path) is given."""
    def nodes(self) -> dict[str, str]:
        """Node names and their URLs."""
    def get_async(self, path: str) -> Awaitable[Any]: ...
    def delete_async(self, path: str) -> Awaitable[Any]: ...
    def put_async(self, path: str, body: Any) -> Awaitable[Any]: ...
    def post_async(self, path: str, body: Any) -> Awaitable[Any]: ...
    def search_async(
        self,
        index: str,
        q: str = "*:*",
        rows: int | None = None,
        keys: Mapping[str, Sequence[str]] | None = None,
    ) -> Awaitable[list[Any]]: ...
    def nodes_async(self) -> Awaitable[dict[str, str]]: ...

@final
class ReportError:
    """Why a server or a cookbook failed, in a report."""

    @property
    def kind(self) -> str:
        """chef-api's kind: ``"unauthorized"``, ``"license"``, ``"forbidden"``, ``"not_found"``,
        ``"conflict"``, ``"bad_request"``, ``"plain_http_to_tls"``, ``"server"``, ``"http"``,
        ``"network"``, ``"timeout"``, ``"tls"``, ``"invalid_response"``, ``"key"``, ``"sign"``,
        ``"config"``, ``"io"`` or ``"other"``."""
    @property
    def exception(self) -> str:
        """The ``chef_sync.exceptions`` class this kind raises (``"LicenseError"``, ...)."""
    @property
    def status(self) -> int | None:
        """HTTP status, when a server answered."""
    @property
    def messages(self) -> list[str]:
        """The server's own error messages, in order."""
    @property
    def url(self) -> str | None:
        """The request URL."""
    @property
    def server(self) -> str | None:
        """The server's configured name."""
    @property
    def message(self) -> str:
        """The whole message (also ``str(error)``)."""
    def to_dict(self) -> dict[str, Any]:
        """The report's JSON object for this error."""

@final
class CookbookOutcome:
    """What happened to one cookbook version on one server."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def outcome(self) -> str:
        """``"created"``, ``"updated"``, ``"unchanged"``, ``"frozen_conflict"`` or ``"failed"``
        (in a dry run's report ``"create"`` or ``"update"``)."""
    @property
    def files_sent(self) -> int: ...
    @property
    def bytes_sent(self) -> int: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def error(self) -> ReportError | None: ...
    @property
    def ok(self) -> bool:
        """True unless the outcome is ``"failed"`` or ``"frozen_conflict"``."""
    def to_dict(self) -> dict[str, Any]:
        """The report's JSON object for this cookbook."""

@final
class ObjectOutcome:
    """What happened to one role, environment, data bag or data bag item on one server."""

    @property
    def kind(self) -> str:
        """``"role"``, ``"environment"``, ``"data_bag"`` or ``"data_bag_item"``."""
    @property
    def name(self) -> str:
        """The name; ``"BAG/ITEM"`` for a data bag item."""
    @property
    def outcome(self) -> str:
        """``"created"``, ``"updated"``, ``"unchanged"``, ``"deleted"`` or ``"failed"`` (in a
        dry run's report ``"create"``, ``"update"``, ``"unchanged"`` or ``"delete"``)."""
    @property
    def error(self) -> ReportError | None:
        """Why it failed, as data (``kind``, ``status``, ``messages``, ``url``, ``server``,
        ``message``), as a cookbook's; None unless ``"failed"``."""
    @property
    def ok(self) -> bool:
        """True unless the outcome is ``"failed"``."""

@final
class ServerReport:
    """How one server fared in a sync."""

    @property
    def name(self) -> str:
        """Server name (``.chef/NAME/``)."""
    @property
    def url(self) -> str:
        """Its ``chef_server_url``."""
    @property
    def ok(self) -> bool:
        """Whether every cookbook converged on this server."""
    @property
    def error(self) -> ReportError | None:
        """Why the server failed as a whole (client, listing), with the server's message."""
    @property
    def files_sent(self) -> int: ...
    @property
    def bytes_sent(self) -> int: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def cookbooks(self) -> list[CookbookOutcome]:
        """Per cookbook version, sorted by name then version."""
    @property
    def objects(self) -> list[ObjectOutcome]:
        """Per role, environment, data bag and item, in write order."""

@final
class SyncReport:
    """The result of a sync."""

    @property
    def ok(self) -> bool:
        """True only when every server converged."""
    @property
    def dry_run(self) -> bool: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def warnings(self) -> list[str]:
        """Warnings from reading the configuration (``file:line: message``)."""
    @property
    def servers(self) -> list[ServerReport]:
        """Per server, sorted by name."""
    def to_dict(self) -> dict[str, Any]:
        """The report in the CLI's ``--json`` schema: ``{"ok", "servers": [{"name", "url",
        "ok", "error", "cookbooks": [{"name", "version", "outcome", "files_sent",
        "bytes_sent", "error", ...}], "objects": [{"kind", "name", "outcome", "error"}]}],
        ...}``."""
    def to_json(self) -> str:
        """The report as JSON text, exactly as the CLI's ``--json``."""
    def plan(self) -> dict[str, Any]:
        """The (cookbook version | object) × server matrix a dry run prints, as the CLI's
        ``sync --dry-run --json`` has it under ``"plan"``: ``{"servers": [...], "rows":
        [[[name, version], [cell, ...]]], "objects": [{"kind", "name", "cells": [...]}]}``;
        a cell is the outcome (``"create"``, ``"delete"``, ...), ``"error"`` when that server
        failed as a whole, ``"-"`` when it has no line for the row."""

def sync(
    repo: str | os.PathLike[str],
    servers: Sequence[str] | None = None,
    dry_run: bool = False,
    freeze: bool | None = None,
    force: bool = False,
    concurrency: int | None = None,
    keys: Mapping[str, bytes] | None = None,
    update: bool | Sequence[str] | None = None,
    offline: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    only: Sequence[str] | None = None,
    purge: bool = False,
    purge_cookbooks: bool = False,
) -> SyncReport:
    """Uploads the cookbooks of the repository at ``repo`` to all its servers at once (or
    only ``servers``). ``freeze`` defaults to what the replaced tool does: frozen with a
    Berksfile (``berks upload``), not without (knife). With a Berksfile, ``update`` is
    ``berks update`` (``True``: every
    cookbook; a list: those), ``offline`` forbids any network use for it, and ``cache_dir``
    holds downloaded cookbooks (in Lambda, a path under ``/tmp``). ``only`` lists what to
    carry (``"cookbooks"``, ``"roles"``, ``"environments"``, ``"data_bags"``; default all),
    ``purge`` deletes roles, environments and data bags the repository does not have,
    ``purge_cookbooks`` cookbook versions it does not have (never one an environment
    pins). A failing server never
    raises: it is in the report. Raises :class:`ConfigError` (``file``, ``line``,
    ``server``) when the repository cannot be read.
    """

def sync_async(
    repo: str | os.PathLike[str],
    servers: Sequence[str] | None = None,
    dry_run: bool = False,
    freeze: bool | None = None,
    force: bool = False,
    concurrency: int | None = None,
    keys: Mapping[str, bytes] | None = None,
    update: bool | Sequence[str] | None = None,
    offline: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    only: Sequence[str] | None = None,
    purge: bool = False,
    purge_cookbooks: bool = False,
) -> Awaitable[SyncReport]: ...

@final
class StatusCell:
    """One server's copy of one cookbook version or object."""

    @property
    def server(self) -> str: ...
    @property
    def state(self) -> str:
        """``"match"``, ``"differs"``, ``"missing"``, ``"extra"``, ``"absent"`` or
        ``"unknown"`` (the server could not be read)."""
    @property
    def digest(self) -> str | None:
        """Digest of the server's copy, or None when it has none."""
    @property
    def frozen(self) -> bool | None:
        """The server's ``frozen?`` flag (cookbooks; None when it has no copy)."""

@final
class CookbookStatus:
    """One cookbook version on every server."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def repo(self) -> str | None:
        """The repository's digest, or None when the repository does not have this version."""
    @property
    def servers(self) -> list[StatusCell]:
        """One cell per server, in the order of :attr:`StatusReport.servers`."""
    @property
    def drift(self) -> list[str]:
        """``"missing"``, ``"differs"``, ``"extra"``, ``"partial"``, ``"diverged"``; empty
        when it is not drift."""

@final
class ObjectStatus:
    """One role, environment, data bag or data bag item on every server."""

    @property
    def kind(self) -> str:
        """``"role"``, ``"environment"``, ``"data_bag"`` or ``"data_bag_item"``."""
    @property
    def bag(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def id(self) -> str:
        """``role[web]``, ``data_bag_item[users/alice]``, ..."""
    @property
    def repo(self) -> str | None: ...
    @property
    def servers(self) -> list[StatusCell]: ...
    @property
    def drift(self) -> list[str]: ...

@final
class ServerStatus:
    """One server as the status read it."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def ok(self) -> bool:
        """Whether it could be read."""
    @property
    def error(self) -> ReportError | None:
        """Why it could not be read (as in ``SyncReport``), or None."""
    @property
    def api_version(self) -> int | None: ...
    @property
    def cookbook_versions(self) -> int: ...
    @property
    def objects(self) -> int: ...
    @property
    def duration_ms(self) -> int: ...

@final
class StatusReport:
    """What is where: every cookbook version and object on every server, compared with the
    repository and across servers."""

    @property
    def exit_code(self) -> int:
        """0: every server matches the repository and each other; 1: a server could not be
        read; 2: drift."""
    @property
    def in_sync(self) -> bool: ...
    @property
    def strict(self) -> bool: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def servers(self) -> list[ServerStatus]:
        """Per server, sorted by name."""
    @property
    def cookbooks(self) -> list[CookbookStatus]: ...
    @property
    def objects(self) -> list[ObjectStatus]: ...
    @property
    def policies(self) -> list[dict[str, Any]]:
        """Every (policy group, policy) a server has: ``[{"group", "policy", "servers":
        [{"server", "state", "revision_id"}], "drift"}]``; ``state`` is ``points``,
        ``no_entry``, ``no_group`` or ``unknown``."""
    def render_table(self) -> str:
        """The table the ``status`` example prints."""
    def to_dict(self) -> dict[str, Any]:
        """The report in the README's status JSON schema."""
    def to_json(self) -> str:
        """The report as JSON text, exactly as the ``status`` example's ``--json``."""

def status(
    repo: str | os.PathLike[str],
    servers: Sequence[str] | None = None,
    keys: Mapping[str, bytes] | None = None,
    only: Sequence[str] | None = None,
    strict: bool = False,
    concurrency: int | None = None,
    offline: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> StatusReport:
    """Reads every server of the repository at ``repo`` (or only ``servers``) at once,
    changing nothing, and compares each with the repository and with the others. ``only``
    limits the kinds (``"cookbooks"``, ``"roles"``, ``"environments"``, ``"data_bags"``);
    ``strict`` counts what the servers hold and the repository does not as drift. A server
    that cannot be read never raises (``exit_code`` 1). Raises :class:`ConfigError` when the
    repository cannot be read.
    """

def status_async(
    repo: str | os.PathLike[str],
    servers: Sequence[str] | None = None,
    keys: Mapping[str, bytes] | None = None,
    only: Sequence[str] | None = None,
    strict: bool = False,
    concurrency: int | None = None,
    offline: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Awaitable[StatusReport]: ...

def repo_clients(
    repo: str | os.PathLike[str],
    servers: Sequence[str] | None = None,
    keys: Mapping[str, bytes] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, ChefClient]:
    """The servers of the Chef repository at ``repo`` (``.chef/knife.rb`` or ``config.rb``
    with one ``.chef/NAME/config.yml`` per server), each as a ``ChefClient``, by name.

    ``servers`` limits the result to these names; ``keys`` maps a server name to PEM bytes
    replacing its ``client_key`` file; ``env`` is the environment knife.rb sees (default: this
    process's). Warnings go to the ``chef_sync`` logger. Raises :class:`ConfigError` with
    ``file``, ``line`` and ``server`` when the configuration is invalid.
    """

def upload_cookbooks(
    client: ChefClient,
    paths: Sequence[str | os.PathLike[str]],
    freeze: bool = False,
    force: bool = False,
) -> list[CookbookOutcome]:
    """Uploads the cookbook directories ``paths`` to ``client``'s server as knife does."""

def upload_cookbooks_async(
    client: ChefClient,
    paths: Sequence[str | os.PathLike[str]],
    freeze: bool = False,
    force: bool = False,
) -> Awaitable[list[CookbookOutcome]]: ...

def main(argv: Sequence[str]) -> int:
    """Runs the ``chef-sync`` command line with ``argv`` (program name first); returns its exit status."""

# Internal helpers for the package's own tests; not part of the public API.
def _raise_error(
    kind: str,
    message: str,
    *,
    status: int | None = None,
    messages: list[str] | None = None,
    server: str | None = None,
    url: str | None = None,
    file: str | None = None,
    line: int | None = None,
    frozen: bool = False,
    timed_out: bool = False,
) -> None: ...
def _json_roundtrip(value: Any) -> Any: ...
def _runtime_thread_name() -> str: ...
def _runtime_thread_name_async() -> Awaitable[str]: ...

@final
class PolicyPushReport:
    """The result of a policy push."""

    @property
    def ok(self) -> bool:
        """True only when every server holds every artifact and every group points at its
        policy's revision."""
    @property
    def dry_run(self) -> bool:
        """True for a dry run: nothing was written; outcomes say what a push would do."""
    @property
    def duration_ms(self) -> int: ...
    @property
    def warnings(self) -> list[str]:
        """Warnings from reading the configuration."""
    def group_disagreements(self) -> list[dict[str, Any]]:
        """``[{"group", "policy", "revisions": {server: revision or None}}]``: groups whose
        servers point at different revisions."""
    def to_dict(self) -> dict[str, Any]:
        """The report in the CLI's ``--json`` schema: ``{"ok", "servers": [{"name", "url",
        "ok", "error", "api_version", "artifacts": [...], "policies": [{"name", "group",
        "revision_id", "previous_revision_id", "outcome", "error"}], "groups": {...}}]}``."""
    def to_json(self) -> str:
        """The report as JSON text, exactly as the CLI's ``--json``."""

def push_policy(
    repo: str | os.PathLike[str],
    locks: Sequence[str | os.PathLike[str]] | None = None,
    policy_group: str | None = None,
    servers: Sequence[str] | None = None,
    keys: Mapping[str, bytes] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool = False,
    dry_run: bool = False,
) -> PolicyPushReport:
    """Publishes the policy locks ``locks`` (default: the repository's
    ``Policyfile.lock.json``) to every server of the repository at once: artifacts first, then
    each server's policy group, moved only when every artifact the lock names is confirmed on
    that server. ``policy_group`` is the group on every server; without it each server's
    ``policy_group`` in ``.chef/NAME/config.yml`` is used. ``dry_run`` only reads the servers
    and reports the artifacts each would get (with their files) and the group entries that
    would move (outcomes ``create`` / ``update``). A failing server never raises: it
    is in the report. Raises :class:`ConfigError` when the repository, a lock or a locked
    cookbook (edited since the lock) is at fault.
    """

def install_policy(
    policyfile: str | os.PathLike[str],
    update: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    update_cookbooks: Sequence[str] | None = None,
    repo: str | os.PathLike[str] | None = None,
    keys: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """``chef install`` without Ruby: evaluates the Policyfile, resolves it and writes
    ``NAME.lock.json`` beside it (with an existing lock, only checks what it names, unless
    ``update``). ``update_cookbooks`` (``chef update POLICYFILE NAMES``) re-resolves only those
    cookbooks and what they depend on, every other one staying at its locked version (implies
    ``update``). ``repo``'s ``.chef`` configuration (``keys``: PEM bytes per server name) signs
    ``default_source :chef_server`` and ``include_policy ..., server:`` requests. Returns
    ``{"lock_path", "revision_id", "written", "warnings", "lock"}``. Raises
    :class:`ConfigError` with the Policyfile (and line) at fault as ``file``/``line``.
    """
