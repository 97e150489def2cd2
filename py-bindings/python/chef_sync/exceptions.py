"""The exceptions chef_sync raises.

Every class derives from :class:`ChefSyncError` and carries, as instance attributes:

* ``status``: the HTTP status (``int``) when the failure was a server's answer, else ``None``;
* ``messages``: the server's own error messages (``tuple[str, ...]``, possibly empty);
* ``server``: the server's name as configured in the repository, or ``None``;
* ``url``: the request URL, or ``None``.

:class:`ConfigError` adds ``file`` and ``line``; :class:`ConflictError` adds ``frozen``;
:class:`NetworkError` adds ``timed_out``. :class:`LicenseError` (HTTP 403 ``invalid-license``:
the server's licence expired) is not an :class:`AuthenticationError`.

The class follows chef-api's error kind, the same one a report's ``ReportError.kind`` holds
(``ReportError.exception`` names the class).
"""

from chef_sync._chef_sync import (
    AuthenticationError,
    ChefSyncError,
    ConfigError,
    ConflictError,
    LicenseError,
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
    "LicenseError",
    "NetworkError",
    "NotFoundError",
    "ServerError",
    "TlsError",
]
