//! Why an upload step failed for a cookbook.

use std::sync::Arc;

use crate::Error;
use crate::error::ResponseError;

/// Why one cookbook's upload failed: the step and, for a request, its [`Error`]. Steps shared
/// by several cookbooks (sandbox, a file, the commit) hand the same underlying error to each
/// of them.
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
    /// `PUT /cookbooks/NAME/VERSION` failed (a 409 is a frozen version that another upload
    /// froze after the plan saw it).
    #[error(transparent)]
    Manifest(Error),
    /// A dependency in the same batch failed, so this cookbook's manifest was not PUT.
    #[error("not uploaded: it depends on {dependency}, which failed")]
    DependencyFailed {
        /// `NAME VERSION` of the failed dependency.
        dependency: String,
    },
}

impl UploadError {
    /// The request's error, for the steps that made one.
    pub fn request_error(&self) -> Option<&Error> {
        match self {
            Self::Sandbox { source }
            | Self::File { source, .. }
            | Self::OtherFile { source, .. }
            | Self::Commit { source } => Some(source),
            Self::Manifest(source) => Some(source),
            Self::SandboxAnswer { .. } | Self::DependencyFailed { .. } => None,
        }
    }

    /// The server's answer, when the step failed on one (see [`Error::response`]).
    pub fn response(&self) -> Option<&ResponseError> {
        self.request_error().and_then(Error::response)
    }

    /// The HTTP status, when the step failed on the server's answer.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }

    /// The manifest PUT answered 409: the version is frozen on the server.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Manifest(e) if e.is_conflict())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, method: &str, url: &str) -> Error {
        Error::from_response(ResponseError::new(
            status,
            method,
            url,
            br#"{"error":["the server's own words"]}"#,
        ))
    }

    #[test]
    fn a_409_from_the_manifest_put_answers_status_409() {
        let url = "https://chef.example/organizations/o/cookbooks/app/1.0.0";
        let e = UploadError::Manifest(answer(409, "PUT", url));
        assert_eq!(e.status(), Some(409));
        assert!(e.is_conflict());
        let r = e.response().unwrap();
        assert_eq!((r.method.as_str(), r.url.as_str()), ("PUT", url));
        assert_eq!(r.messages, ["the server's own words"]);
        assert_eq!(
            e.to_string(),
            answer(409, "PUT", url).to_string(),
            "the manifest's error reads as the request's"
        );
    }

    #[test]
    fn shared_steps_answer_with_their_request_status() {
        let shared = Arc::new(answer(503, "POST", "https://chef.example/sandboxes"));
        let steps = [
            UploadError::Sandbox {
                source: shared.clone(),
            },
            UploadError::File {
                path: "recipes/default.rb".into(),
                source: Arc::new(answer(500, "PUT", "https://s3.example/b")),
            },
            UploadError::OtherFile {
                cookbook: "base".into(),
                path: "recipes/default.rb".into(),
                source: Arc::new(answer(413, "PUT", "https://s3.example/b")),
            },
            UploadError::Commit { source: shared },
        ];
        let statuses: Vec<Option<u16>> = steps.iter().map(UploadError::status).collect();
        assert_eq!(statuses, [Some(503), Some(500), Some(413), Some(503)]);
        assert!(steps.iter().all(|e| !e.is_conflict()));
        let unanswered = [
            UploadError::DependencyFailed {
                dependency: "base 1.0.0".into(),
            },
            UploadError::SandboxAnswer {
                url: "https://chef.example/sandboxes".into(),
                path: "a".into(),
                checksum: "0".into(),
            },
            UploadError::Manifest(Error::Config {
                key: "url".into(),
                message: "bad".into(),
            }),
        ];
        for e in &unanswered {
            assert_eq!((e.status(), e.response()), (None, None), "{e}");
        }
    }
}
