"""Upload a Chef repository's cookbooks to many Chef Infra Servers at once.

The work is done by the Rust extension module :mod:`chef_sync._chef_sync`; this package
re-exports its public names. Errors are instances of :class:`ChefSyncError` subclasses, also
available from :mod:`chef_sync.exceptions`.
"""

from chef_sync import exceptions
from chef_sync._chef_sync import (
    ChefClient,
    CookbookOutcome,
    ReportError,
    ServerReport,
    SyncReport,
    __version__,
    repo_clients,
    sync,
    sync_async,
    upload_cookbooks,
    upload_cookbooks_async,
)
from chef_sync.exceptions import (
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
    "ChefClient",
    "ChefSyncError",
    "ConfigError",
    "ConflictError",
    "CookbookOutcome",
    "LicenseError",
    "NetworkError",
    "NotFoundError",
    "ReportError",
    "ServerError",
    "ServerReport",
    "SyncReport",
    "TlsError",
    "__version__",
    "exceptions",
    "repo_clients",
    "sync",
    "sync_async",
    "upload_cookbooks",
    "upload_cookbooks_async",
]
