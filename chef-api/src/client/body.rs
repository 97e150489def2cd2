//! Reading answer bodies under a ceiling, so a server (or whatever answers in its place) cannot
//! make the client buffer more than [`ChefClientBuilder::with_max_response_bytes`] allows.
//!
//! [`ChefClientBuilder::with_max_response_bytes`]: super::ChefClientBuilder::with_max_response_bytes

use bytes::{Bytes, BytesMut};

use crate::error::Error;

/// The default ceiling on one buffered answer: 64 MiB. A Chef server's `/universe` for
/// thousands of cookbook versions or a manifest of a cookbook with many files stays far below.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// How much of an error answer's body is kept (its messages are what matters): 1 MiB.
pub(super) const MAX_ERROR_BODY_BYTES: u64 = 1024 * 1024;

/// Why a body could not be read whole.
pub(super) enum BodyError {
    /// The connection failed while reading.
    Transport(reqwest::Error),
    /// The body (announced or actually sent) passed the ceiling; reading stopped there.
    TooLarge,
}

impl BodyError {
    /// The client error for a request `method url` with ceiling `limit`.
    pub(super) fn into_error(self, method: &str, url: &str, limit: u64) -> Error {
        match self {
            Self::Transport(e) => Error::from_reqwest(method, url, e),
            Self::TooLarge => too_large(method, url, limit),
        }
    }
}

/// The error for an answer larger than `limit` bytes.
pub(super) fn too_large(method: &str, url: &str, limit: u64) -> Error {
    Error::InvalidResponse {
        method: method.to_owned(),
        url: url.to_owned(),
        path: ".".to_owned(),
        message: format!(
            "the response body is larger than the limit of {limit} bytes \
             (ChefClientBuilder::with_max_response_bytes)"
        ),
    }
}

/// Reads the whole body of `resp`, refusing (before buffering it) a body whose
/// `Content-Length` is over `limit`, and stopping as soon as the bytes read pass `limit`.
pub(super) async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
) -> Result<Bytes, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut out = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        let total = (out.len() as u64).saturating_add(chunk.len() as u64);
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// Reads at most `limit` bytes of an error answer's body: enough for the server's message,
/// never more. A failed read keeps what arrived (an error answer whose head arrived is worth
/// showing even when its connection was then reset) and gives the failure alongside.
pub(super) async fn read_prefix(
    mut resp: reqwest::Response,
    limit: u64,
) -> (Bytes, Option<reqwest::Error>) {
    let mut out = BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room =
                    usize::try_from(limit.saturating_sub(out.len() as u64)).unwrap_or(usize::MAX);
                if chunk.len() >= room {
                    out.extend_from_slice(&chunk[..room]);
                    return (out.freeze(), None);
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return (out.freeze(), None),
            Err(e) => return (out.freeze(), Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::client::ChefClient;
    use crate::key::PrivateKey;

    const KEY: &str = include_str!("../../../tests/data/keys/mixlib-spec.pem");

    fn client(server: &MockServer, limit: u64) -> ChefClient {
        ChefClient::builder(format!("{}/organizations/o", server.uri()))
            .with_client_name("fuzz")
            .with_key(PrivateKey::from_pem(KEY).unwrap())
            .with_max_retries(0)
            .with_max_response_bytes(limit)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn answers_over_the_limit_are_refused_naming_the_request() {
        let server = MockServer::start().await;
        let big = format!("{{\"x\": \"{}\"}}", "a".repeat(4096));
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string(big.clone()))
            .mount(&server)
            .await;
        let err = client(&server, 1024)
            .request(reqwest::Method::GET, "/universe", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than the limit of 1024 bytes"), "{err}");
        assert!(err.contains("/universe"), "{err}");
        // At the limit exactly, the body is read whole.
        let limit = big.len() as u64;
        let ok = client(&server, limit)
            .request(reqwest::Method::GET, "/universe", None)
            .await
            .unwrap();
        assert_eq!(ok.body.len() as u64, limit);
    }

    #[tokio::test]
    async fn error_answers_keep_only_a_prefix() {
        let server = MockServer::start().await;
        let huge = format!(
            "{{\"error\": [\"{}\"]}}",
            "b".repeat(super::MAX_ERROR_BODY_BYTES as usize * 2)
        );
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(400).set_body_string(huge))
            .mount(&server)
            .await;
        let err = client(&server, 1024)
            .request(reqwest::Method::GET, "/nodes", None)
            .await
            .unwrap_err();
        let kept = err.response().map(|r| r.message().len()).unwrap();
        assert!(
            kept as u64 <= super::MAX_ERROR_BODY_BYTES,
            "kept {kept} bytes of the error body"
        );
    }
}
