"""The exceptions chef_sync raises.

Every class derives from :class:`ChefSyncError` and carries, as instance attributes:

* ``status``: the HTTP status (``int``) when the failure was a server's answer, else ``None``;
* ``messages``: the server's own error messages (``tuple[str, ...]``, possibly empty);
* ``server``: the server's name as configured in the repository, or ``None``;
* ``url``: the request URL, or ``None``.

:class:`ConfigError` adds ``file`` and ``line``; :class:`ConflictError` adds ``frozen``;
:class:`NetworkError` adds ``timed_out``.
"""

from chef_sync._chef_sync import (
    AuthenticationError,
    ChefSyncError,
    ConfigError,
    ConflictError,
    NetworkError,
    NotFoundError,
    ServerError,
    TlsError,
)

__all__ = [
    "AuthenticationError",
    "ChefSyncError",
    "ConfigError",
    "ConflictError",
    "NetworkError",
    "NotFoundError",
    "ServerError",
    "TlsError",
]
