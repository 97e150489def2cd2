//! The crate's public error type. Owned by the client work (issue 2).

/// Errors from chef-api.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Placeholder until the client lands.
    #[error("{0}")]
    Other(String),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
