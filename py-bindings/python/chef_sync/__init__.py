"""Upload a Chef repository's cookbooks to many Chef Infra Servers at once.

The work is done by the Rust extension module :mod:`chef_sync._chef_sync`; this package
re-exports its public names. Errors are instances of :class:`ChefSyncError` subclasses, also
available from :mod:`chef_sync.exceptions`.
"""

from chef_sync import exceptions
from chef_sync._chef_sync import (
    ChefClient,
    CookbookOutcome,
    PolicyPushReport,
    CookbookStatus,
    ObjectOutcome,
    ObjectStatus,
    ReportError,
    ServerReport,
    ServerStatus,
    StatusCell,
    StatusReport,
    SyncReport,
    __version__,
    install_policy,
    push_policy,
    repo_clients,
    status,
    status_async,
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
    "exceptions",
    "install_policy",
    "push_policy",
    "repo_clients",
    "status",
    "status_async",
    "sync",
    "sync_async",
    "upload_cookbooks",
    "upload_cookbooks_async",
]
