//! Server API version negotiation (Chef RFC 041).
//!
//! The client asks for the highest version it knows ([`MAX_API_VERSION`]). The first answer
//! decides: its `X-Ops-Server-API-Version` header (`{"min_version":"0","max_version":"2",...}`)
//! gives the server's maximum; no header (goiardi, old servers) means version 0. A 406 names
//! the maximum in its body and the request is repeated with it.

use std::sync::atomic::{AtomicU32, Ordering};

/// The highest server API version this client speaks (v2: cookbook manifests use `all_files`).
pub const MAX_API_VERSION: u32 = 2;

/// Name of the request and response header.
pub const HEADER: &str = "X-Ops-Server-API-Version";

const UNKNOWN: u32 = u32::MAX;

/// The negotiated version, shared by all clones of a client.
#[derive(Debug)]
pub(crate) struct ApiVersionState {
    negotiated: AtomicU32,
}

impl ApiVersionState {
    pub(crate) fn new() -> Self {
        Self {
            negotiated: AtomicU32::new(UNKNOWN),
        }
    }

    /// The negotiated version, if a response has decided it.
    pub(crate) fn get(&self) -> Option<u32> {
        match self.negotiated.load(Ordering::Acquire) {
            UNKNOWN => None,
            v => Some(v),
        }
    }

    /// The version to put on the next request.
    pub(crate) fn to_request(&self) -> u32 {
        self.get().unwrap_or(MAX_API_VERSION)
    }

    /// Learns from a non-406 response below 500. Only the first answer decides.
    pub(crate) fn observe(&self, header: Option<&str>) {
        if self.get().is_some() {
            return;
        }
        let version = header
            .and_then(parse_header_max)
            .map_or(0, |max| max.min(MAX_API_VERSION));
        let _ =
            self.negotiated
                .compare_exchange(UNKNOWN, version, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Learns from a 406: the body's (or header's) `max_version`. Returns the version to retry
    /// with, or `None` when the answer gives no lower version than `requested`.
    pub(crate) fn step_down(
        &self,
        requested: u32,
        header: Option<&str>,
        body: &[u8],
    ) -> Option<u32> {
        let max = parse_body_max(body).or_else(|| header.and_then(parse_header_max))?;
        let version = max.min(MAX_API_VERSION);
        if version >= requested {
            return None;
        }
        self.negotiated.store(version, Ordering::Release);
        Some(version)
    }
}

/// Reads a version that may be a JSON string or number.
fn as_version(v: &serde_json::Value) -> Option<u32> {
    match v {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

/// `max_version` of the response header's JSON object.
pub(crate) fn parse_header_max(header: &str) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_str(header).ok()?;
    as_version(v.get("max_version")?)
}

/// `max_version` of a 406 body.
fn parse_body_max(body: &[u8]) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    as_version(v.get("max_version")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_answer_decides() {
        let s = ApiVersionState::new();
        assert_eq!((s.get(), s.to_request()), (None, 2));
        s.observe(Some(
            r#"{"min_version":"0","max_version":"1","request_version":"2","response_version":"1"}"#,
        ));
        assert_eq!(s.get(), Some(1));
        s.observe(None);
        assert_eq!(s.get(), Some(1));

        let s = ApiVersionState::new();
        s.observe(None);
        assert_eq!(s.get(), Some(0));

        let s = ApiVersionState::new();
        s.observe(Some(r#"{"min_version":"0","max_version":"5"}"#));
        assert_eq!(s.get(), Some(2));
    }

    #[test]
    fn steps_down_on_406() {
        let s = ApiVersionState::new();
        let body = br#"{"error":"invalid-x-ops-server-api-version","message":"Specified version 2 not supported","min_version":0,"max_version":1}"#;
        assert_eq!(s.step_down(2, None, body), Some(1));
        assert_eq!(s.get(), Some(1));
        assert_eq!(s.step_down(1, None, body), None);
        assert_eq!(
            ApiVersionState::new().step_down(2, Some(r#"{"max_version":"0"}"#), b"x"),
            Some(0)
        );
        assert_eq!(ApiVersionState::new().step_down(2, None, b"x"), None);
    }
}
