//! Why an upload step failed for a cookbook.

use std::sync::Arc;

use crate::Error;

/// A failure of an upload step, as [`crate::Error::Upload`]. Steps shared by several cookbooks
/// (sandbox, a file, the commit) hand the same underlying error to each of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// `POST /sandboxes` failed; no file was sent and no manifest PUT.
    #[error("creating the upload sandbox failed: {source}")]
    Sandbox {
        /// The request's error (server URL, status and message).
        #[source]
        source: Arc<Error>,
    },
    /// The server's sandbox answer lacks an upload URL for a file it says it needs.
    #[error("the sandbox answer from {url} has no upload URL for {path} (checksum {checksum})")]
    SandboxAnswer {
        /// The sandboxes URL.
        url: String,
        /// The file's path in its cookbook.
        path: String,
        /// Its checksum.
        checksum: String,
    },
    /// Uploading one of this cookbook's files failed.
    #[error("uploading {path} failed: {source}")]
    File {
        /// The file's path in the cookbook.
        path: String,
        /// The PUT's (or reading the file's) error.
        #[source]
        source: Arc<Error>,
    },
    /// Another cookbook's file of the same batch failed to upload, so the shared sandbox could
    /// not be committed.
    #[error("not uploaded: {path} of cookbook {cookbook} failed to upload: {source}")]
    OtherFile {
        /// The cookbook whose file failed.
        cookbook: String,
        /// The file's path in that cookbook.
        path: String,
        /// The error.
        #[source]
        source: Arc<Error>,
    },
    /// Committing the sandbox failed (after retries).
    #[error("committing the sandbox failed: {source}")]
    Commit {
        /// The last attempt's error.
        #[source]
        source: Arc<Error>,
    },
    /// A dependency in the same batch failed, so this cookbook's manifest was not PUT.
    #[error("not uploaded: it depends on {dependency}, which failed")]
    DependencyFailed {
        /// `NAME VERSION` of the failed dependency.
        dependency: String,
    },
}

impl From<UploadError> for Error {
    fn from(e: UploadError) -> Self {
        Self::Upload(Box::new(e))
    }
}
