"""Type stubs for the Rust extension module ``chef_sync._chef_sync``."""

from collections.abc import Awaitable
from typing import Any

__all__ = [
    "AuthenticationError",
    "ChefSyncError",
    "ConfigError",
    "ConflictError",
    "NetworkError",
    "NotFoundError",
    "ServerError",
    "TlsError",
    "__version__",
    "_json_roundtrip",
    "_raise_error",
    "_runtime_thread_name",
    "_runtime_thread_name_async",
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
