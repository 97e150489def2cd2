//! Request signing, protocol versions 1.0, 1.1 and 1.3.
//!
//! CONTRACT STUB: the signing work (issue 2) replaces the bodies; the signatures are what the
//! client codes against.
#![allow(missing_docs, clippy::missing_errors_doc)]

use std::time::SystemTime;

use crate::key::PrivateKey;

/// Chef's signing protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignVersion {
    V1_0,
    V1_1,
    #[default]
    V1_3,
}

/// Everything that goes into a signature.
#[derive(Debug, Clone)]
pub struct RequestToSign<'a> {
    /// HTTP method (any case; upper-cased when signing).
    pub method: &'a str,
    /// URL path as sent (canonicalised when signing; any query string is dropped).
    pub path: &'a str,
    /// `X-Ops-Content-Hash`, from [`content_hash`] or [`ContentHasher`] for this version.
    pub content_hash: String,
    /// Client or user name.
    pub user_id: &'a str,
    /// Signing time (second precision, UTC).
    pub timestamp: SystemTime,
    /// The `X-Ops-Server-API-Version` the request carries (part of the 1.3 canonical text).
    pub server_api_version: u32,
    /// Protocol version.
    pub version: SignVersion,
}

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    #[error("stub")]
    Stub,
}

/// base64 of SHA-1 (1.0/1.1) or SHA-256 (1.3) of `body`.
pub fn content_hash(version: SignVersion, body: &[u8]) -> String {
    let _ = (version, body);
    String::new()
}

/// Streaming content hash for bodies read from disk.
#[derive(Debug, Clone)]
pub struct ContentHasher {
    _private: (),
}

impl ContentHasher {
    pub fn new(version: SignVersion) -> Self {
        let _ = version;
        Self { _private: () }
    }
    pub fn update(&mut self, data: &[u8]) {
        let _ = data;
    }
    pub fn finish(self) -> String {
        String::new()
    }
}

/// Canonical path: query dropped, runs of `/` collapsed, one trailing `/` dropped.
pub fn canonical_path(path: &str) -> String {
    path.to_owned()
}

/// Signs a request: returns the `X-Ops-*` headers (`X-Ops-Sign`, `X-Ops-Userid`,
/// `X-Ops-Timestamp`, `X-Ops-Content-Hash`, `X-Ops-Authorization-1..N`) as (name, value) pairs.
/// The caller adds `X-Ops-Server-API-Version` and `X-Chef-Version`.
pub fn sign_request(
    key: &PrivateKey,
    req: &RequestToSign<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    let _ = (key, req);
    Err(SignError::Stub)
}
