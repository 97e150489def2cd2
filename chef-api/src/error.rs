//! The crate's public error type.
//!
//! Every error that comes from talking to a server names the HTTP method and the URL (with
//! credentials and presigned query values masked, see [`redact_url`]) and, when the server
//! answered, its status and its own messages parsed from Chef's `{"error": ...}` body.
//! The HTTP status is mapped to a kind in exactly one place, [`Error::from_response`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::key::{KeyError, KeyOrigin};
use crate::sign::SignError;

/// How many bytes of a non-JSON error body are kept as the message.
const RAW_BODY_LIMIT: usize = 512;

/// What the server answered when a request failed: status, request and the server's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseError {
    /// HTTP status code.
    pub status: u16,
    /// HTTP method of the request.
    pub method: String,
    /// URL of the request, credentials masked.
    pub url: String,
    /// The server's messages from `{"error": ...}`, or the (truncated) raw body when the body
    /// is not Chef's error JSON. Empty when the body was empty.
    pub messages: Vec<String>,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<std::time::Duration>,
    /// Who signed the request, on a 401: what knife's "Failed to authenticate" names.
    pub signed_as: Option<SignedAs>,
    /// Reading the body failed after the status and headers arrived; `messages` hold what
    /// was read. The answer is kept: it usually says what went wrong.
    pub body_cut: Option<String>,
}

/// The identity a signed request was sent with. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAs {
    /// The server URL (credentials masked).
    pub server: String,
    /// The client or user name the request was signed as.
    pub client_name: String,
    /// Where the signing key came from.
    pub key: KeyOrigin,
}

impl ResponseError {
    /// Builds the context of a failed response, parsing Chef's error body.
    pub fn new(status: u16, method: &str, url: &str, body: &[u8]) -> Self {
        Self {
            status,
            method: method.to_owned(),
            url: url.to_owned(),
            messages: parse_error_messages(body),
            retry_after: None,
            signed_as: None,
            body_cut: None,
        }
    }

    /// Whether the server's messages include `text` (Chef's `error` or `message` field).
    pub fn says(&self, text: &str) -> bool {
        self.messages.iter().any(|m| m.contains(text))
    }

    /// The messages joined with `"; "`.
    pub fn message(&self) -> String {
        self.messages.join("; ")
    }
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} returned {}", self.method, self.url, self.status)?;
        if !self.messages.is_empty() {
            write!(f, ": {}", self.message())?;
        }
        if let Some(cut) = &self.body_cut {
            write!(f, " (the answer's body was cut short: {cut})")?;
        }
        Ok(())
    }
}

/// What a 401 says: knife's "Failed to authenticate to URL as NAME with key PATH", the
/// server's answer, and the usual causes.
fn unauthorized(r: &ResponseError) -> String {
    let lead = match &r.signed_as {
        Some(who) => format!(
            "Failed to authenticate to {} as {} with {}: ",
            who.server,
            who.client_name,
            match &who.key {
                KeyOrigin::File(path) => format!("key {}", path.display()),
                _ => "a key given as bytes".to_owned(),
            }
        ),
        None => String::new(),
    };
    format!("{lead}{r} (check the client name, that the key belongs to it, and the local clock)")
}

/// The body erchef sends with a 403 when the server's licence is invalid or expired
/// (`oc_chef_wm_base:service_available`, Chef Infra Server ≥ 15.10): `{"error": WARNING,
/// "message": "invalid-license"}`.
pub const INVALID_LICENSE: &str = "invalid-license";

/// The plain-text answers of a TLS port to a plain HTTP request: Go's net/http and nginx
/// (Chef Infra Server's front end).
const PLAIN_HTTP_ANSWERS: [&str; 2] = [
    "Client sent an HTTP request to an HTTPS server",
    "The plain HTTP request was sent to HTTPS port",
];

/// What kind of failure an [`Error`] is: the one classification reports, events and the
/// Python exceptions use. Spelled in `snake_case` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// 401: the signature was not accepted.
    Unauthorized,
    /// 403 `invalid-license`: the server's licence is invalid or expired.
    License,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
    /// 400, 412, 413.
    BadRequest,
    /// A plain `http://` request reached a TLS port.
    PlainHttpToTls,
    /// 5xx.
    Server,
    /// Any other unsuccessful status.
    Http,
    /// No answer: refused, reset, DNS.
    Network,
    /// No answer in time.
    Timeout,
    /// The TLS handshake failed.
    Tls,
    /// A successful answer that is not what was expected.
    InvalidResponse,
    /// A private key could not be loaded.
    Key,
    /// A request could not be signed.
    Sign,
    /// A configuration value or file is invalid.
    Config,
    /// A local file could not be read.
    Io,
    /// Anything else (used by callers for their own failures).
    Other,
}

impl ErrorKind {
    /// The kind an unsuccessful answer is: the only place a status becomes a kind.
    pub fn of_response(response: &ResponseError) -> Self {
        match response.status {
            401 => Self::Unauthorized,
            403 if response.says(INVALID_LICENSE) => Self::License,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            409 => Self::Conflict,
            400 if PLAIN_HTTP_ANSWERS.iter().any(|a| response.says(a)) => Self::PlainHttpToTls,
            400 | 412 | 413 => Self::BadRequest,
            500..=599 => Self::Server,
            _ => Self::Http,
        }
    }

    /// The `snake_case` spelling (`not_found`, `license`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::License => "license",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::BadRequest => "bad_request",
            Self::PlainHttpToTls => "plain_http_to_tls",
            Self::Server => "server",
            Self::Http => "http",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::InvalidResponse => "invalid_response",
            Self::Key => "key",
            Self::Sign => "sign",
            Self::Config => "config",
            Self::Io => "io",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors from chef-api.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401: the server did not accept the request's signature. The message names the
    /// server, the client and where its key came from, as knife does.
    #[error("{}", unauthorized(.0))]
    Unauthorized(Box<ResponseError>),
    /// 403 with `invalid-license`: the Chef Infra Server's licence is invalid or expired
    /// (not an authentication problem).
    #[error("{0} (the Chef Infra Server's licence is invalid or expired; renew it on the server)")]
    License(Box<ResponseError>),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(Box<ResponseError>),
    /// 404: the object (or organisation) does not exist.
    #[error("{0}")]
    NotFound(Box<ResponseError>),
    /// 409: the object already exists, or a frozen cookbook was PUT without force.
    #[error("{0}")]
    Conflict(Box<ResponseError>),
    /// 400, 412, 413: the server rejected the request's content.
    #[error("{0}")]
    BadRequest(Box<ResponseError>),
    /// A plain `http://` request reached a port that speaks TLS; the server's answer is
    /// shown. Not retried.
    #[error("{0} (the server speaks TLS on this port: use https:// in the server URL)")]
    PlainHttpToTls(Box<ResponseError>),
    /// 5xx: the server failed.
    #[error("{0}")]
    Server(Box<ResponseError>),
    /// Any other unsuccessful status (405, 406, 415, 429, ...).
    #[error("{0}")]
    Http(Box<ResponseError>),
    /// The request did not get an answer (connection refused, reset, DNS, ...).
    #[error("{method} {url}: {detail}")]
    Transport {
        /// HTTP method.
        method: String,
        /// URL, credentials masked.
        url: String,
        /// The error and its causes, one line.
        detail: String,
        /// The underlying error (its own copy of the URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// The connection or the request timed out.
    #[error("{method} {url}: timed out ({detail})")]
    Timeout {
        /// HTTP method.
        method: String,
        /// URL, credentials masked.
        url: String,
        /// The error and its causes, one line.
        detail: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed, e.g. the server's certificate is not trusted. Add the CA with
    /// `ssl_ca_file` / `trusted_certs_dir`.
    #[error(
        "{method} {url}: TLS failure: {message} (is the server's CA in ssl_ca_file or trusted_certs_dir?)"
    )]
    Tls {
        /// HTTP method.
        method: String,
        /// URL, credentials masked.
        url: String,
        /// What rustls reported.
        message: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with success but the body is not what was expected.
    #[error("{method} {url}: invalid response at `{path}`: {message}")]
    InvalidResponse {
        /// HTTP method.
        method: String,
        /// URL, credentials masked.
        url: String,
        /// JSON path of the decode failure (`.` for the document itself).
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// A private key could not be loaded.
    #[error("private key: {0}")]
    Key(#[from] KeyError),
    /// A request could not be signed.
    #[error("signing: {0}")]
    Sign(#[from] SignError),
    /// The client configuration is invalid.
    #[error("invalid configuration `{key}`: {message}")]
    Config {
        /// The option at fault (e.g. `server_url`, `ssl_ca_file`).
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A local file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Maps an unsuccessful response to its variant, by [`ErrorKind::of_response`].
    pub fn from_response(response: ResponseError) -> Self {
        let kind = ErrorKind::of_response(&response);
        let r = Box::new(response);
        match kind {
            ErrorKind::Unauthorized => Self::Unauthorized(r),
            ErrorKind::License => Self::License(r),
            ErrorKind::Forbidden => Self::Forbidden(r),
            ErrorKind::NotFound => Self::NotFound(r),
            ErrorKind::Conflict => Self::Conflict(r),
            ErrorKind::BadRequest => Self::BadRequest(r),
            ErrorKind::PlainHttpToTls => Self::PlainHttpToTls(r),
            ErrorKind::Server => Self::Server(r),
            _ => Self::Http(r),
        }
    }

    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Transport { .. } => ErrorKind::Network,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::Tls { .. } => ErrorKind::Tls,
            Self::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Self::Key(_) => ErrorKind::Key,
            Self::Sign(_) => ErrorKind::Sign,
            Self::Config { .. } => ErrorKind::Config,
            Self::Io { .. } => ErrorKind::Io,
            _ => self
                .response()
                .map_or(ErrorKind::Other, ErrorKind::of_response),
        }
    }

    /// Classifies a reqwest error as [`Error::Timeout`], [`Error::Tls`] or [`Error::Transport`].
    pub fn from_reqwest(method: &str, url: &str, source: reqwest::Error) -> Self {
        let source = source.without_url();
        let (method, url) = (method.to_owned(), url.to_owned());
        let mut detail = cause_chain(&source);
        // A TLS port that answers a plain request with TLS bytes rather than text.
        if url.starts_with("http://") && detail.contains("invalid HTTP version") {
            detail.push_str(
                " (the server did not answer in HTTP; if it speaks TLS on this port, use https://)",
            );
        }
        if source.is_timeout() {
            return Self::Timeout {
                method,
                url,
                detail,
                source,
            };
        }
        if let Some(message) = tls_cause(&source) {
            return Self::Tls {
                method,
                url,
                message,
                source,
            };
        }
        Self::Transport {
            method,
            url,
            detail,
            source,
        }
    }

    /// The server's answer, for errors that have one.
    pub fn response(&self) -> Option<&ResponseError> {
        match self {
            Self::Unauthorized(r)
            | Self::License(r)
            | Self::Forbidden(r)
            | Self::NotFound(r)
            | Self::Conflict(r)
            | Self::BadRequest(r)
            | Self::PlainHttpToTls(r)
            | Self::Server(r)
            | Self::Http(r) => Some(r),
            _ => None,
        }
    }

    pub(crate) fn response_mut(&mut self) -> Option<&mut ResponseError> {
        match self {
            Self::Unauthorized(r)
            | Self::License(r)
            | Self::Forbidden(r)
            | Self::NotFound(r)
            | Self::Conflict(r)
            | Self::BadRequest(r)
            | Self::PlainHttpToTls(r)
            | Self::Server(r)
            | Self::Http(r) => Some(r),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }

    /// The server's messages (empty when it did not answer or said nothing).
    pub fn messages(&self) -> &[String] {
        self.response().map_or(&[], |r| r.messages.as_slice())
    }

    /// The request URL (credentials masked), when the error concerns a request.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Transport { url, .. }
            | Self::Timeout { url, .. }
            | Self::Tls { url, .. }
            | Self::InvalidResponse { url, .. } => Some(url),
            _ => self.response().map(|r| r.url.as_str()),
        }
    }

    /// 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    /// 409.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict(_))
    }

    /// 401.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized(_))
    }

    /// 403 (not the licence's: see [`Error::is_license`]).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Forbidden(_))
    }

    /// 403 `invalid-license`.
    pub fn is_license(&self) -> bool {
        matches!(self, Self::License(_))
    }

    /// A TLS failure (untrusted certificate, handshake error).
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls { .. })
    }

    /// Worth retrying: connection errors, timeouts, 429, 500, 502, 503, 504.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { source, .. } => crate::client::retry::is_retryable_transport(source),
            Self::Timeout { .. } => true,
            _ => self
                .status()
                .is_some_and(crate::client::retry::is_retryable_status),
        }
    }
}

/// The error and its sources as one line, repeated messages left out (what a network error
/// says only deep in its chain: "Connection refused", "dns error").
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Finds a rustls error in the source chain (reqwest wraps it in hyper errors and nested
/// `io::Error`s, whose `source()` skips the wrapped error, so those are opened by hand).
fn tls_cause(error: &reqwest::Error) -> Option<String> {
    fn find(e: &(dyn std::error::Error + 'static)) -> Option<String> {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && let Some(found) = find(inner)
        {
            return Some(found);
        }
        e.source().and_then(find)
    }
    find(error)
}

/// Parses Chef's error body: `{"error": "msg"}`, `{"error": ["msg", {...}]}`, plus a
/// `message` field (API-version 406). Falls back to the raw body, truncated.
pub fn parse_error_messages(body: &[u8]) -> Vec<String> {
    fn render(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(o) => match o.get("message") {
                Some(serde_json::Value::String(m)) if o.len() == 1 => m.clone(),
                _ => v.to_string(),
            },
            other => other.to_string(),
        }
    }
    if crate::json::check_depth(body, crate::json::MAX_DEPTH).is_ok()
        && let Ok(serde_json::Value::Object(obj)) =
            serde_json::from_slice::<serde_json::Value>(body)
        && let Some(error) = obj.get("error")
    {
        let mut out = match error {
            serde_json::Value::Array(items) => items.iter().map(render).collect(),
            other => vec![render(other)],
        };
        if let Some(serde_json::Value::String(m)) = obj.get("message") {
            out.push(m.clone());
        }
        return out;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    let mut end = text.len().min(RAW_BODY_LIMIT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut msg = text[..end].to_owned();
    if end < text.len() {
        msg.push('…');
    }
    vec![msg]
}

/// The URL as safe to show: user info removed, values of query parameters that look like
/// credentials (`X-Amz-Signature`, `X-Amz-Credential`, tokens, keys) masked.
pub fn redact_url(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let secret = ["signature", "credential", "token", "key", "password"]
                    .iter()
                    .any(|s| lower.contains(s));
                let v = if secret {
                    "REDACTED".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_error_body_shape() {
        assert_eq!(
            parse_error_messages(br#"{"error":["Field 'name' invalid"]}"#),
            ["Field 'name' invalid"]
        );
        assert_eq!(
            parse_error_messages(br#"{"error":"User not found"}"#),
            ["User not found"]
        );
        let depsolver = parse_error_messages(
            br#"{"error":[{"message":"Run list contains invalid items","non_existent_cookbooks":["x"]}]}"#,
        );
        assert_eq!(depsolver.len(), 1);
        assert!(
            depsolver[0].contains("non_existent_cookbooks"),
            "{depsolver:?}"
        );
        assert_eq!(
            parse_error_messages(br#"{"error":[{"message":"only"}]}"#),
            ["only"]
        );
        assert_eq!(
            parse_error_messages(
                br#"{"error":"invalid-x-ops-server-api-version","message":"Specified version 9 not supported","min_version":0,"max_version":2}"#
            ),
            [
                "invalid-x-ops-server-api-version",
                "Specified version 9 not supported"
            ]
        );
        assert_eq!(
            parse_error_messages(b"<html>Bad Gateway</html>\n"),
            ["<html>Bad Gateway</html>"]
        );
        assert!(parse_error_messages(b"").is_empty());
        let long = "é".repeat(600);
        let msg = &parse_error_messages(long.as_bytes())[0];
        assert!(msg.ends_with('…') && msg.len() <= RAW_BODY_LIMIT + 3);
    }

    #[test]
    fn maps_each_status_to_one_kind() {
        let kind = |status| Error::from_response(ResponseError::new(status, "GET", "u", b""));
        assert!(kind(401).is_unauthorized());
        assert!(kind(403).is_forbidden());
        assert!(kind(404).is_not_found());
        assert!(kind(409).is_conflict());
        for s in [400, 412, 413] {
            assert!(matches!(kind(s), Error::BadRequest(_)), "{s}");
        }
        for s in [500, 502, 503, 504, 599] {
            assert!(matches!(kind(s), Error::Server(_)), "{s}");
        }
        assert!(matches!(kind(406), Error::Http(_)));
        assert_eq!(kind(404).kind(), ErrorKind::NotFound);
        assert_eq!(kind(502).kind(), ErrorKind::Server);
        let retryable: Vec<u16> = (400..600).filter(|s| kind(*s).is_retryable()).collect();
        assert_eq!(retryable, [429, 500, 502, 503, 504]);
        assert_eq!(kind(404).status(), Some(404));
    }

    #[test]
    fn every_response_variant_answers_status_and_response() {
        for status in [400, 401, 403, 404, 405, 406, 409, 412, 413, 429, 500, 503] {
            let e = Error::from_response(ResponseError::new(
                status,
                "PUT",
                "https://chef.example/cookbooks/a/1.0.0",
                br#"{"error":["no"]}"#,
            ));
            assert_eq!(e.status(), Some(status), "{e}");
            let r = e.response().unwrap();
            assert_eq!((r.status, r.method.as_str()), (status, "PUT"));
            assert_eq!(e.messages(), ["no"]);
            assert_eq!(e.url(), Some("https://chef.example/cookbooks/a/1.0.0"));
        }
        let local = [
            Error::Config {
                key: "server_url".into(),
                message: "bad".into(),
            },
            Error::InvalidResponse {
                method: "GET".into(),
                url: "u".into(),
                path: ".".into(),
                message: "not JSON".into(),
            },
        ];
        for e in &local {
            assert_eq!((e.status(), e.response()), (None, None), "{e}");
        }
    }

    #[test]
    fn unauthorized_message_has_hint_and_server_text() {
        let e = Error::from_response(ResponseError::new(
            401,
            "GET",
            "https://chef.example/organizations/o/nodes",
            br#"{"error":["Invalid signature for user or client 'bob'"]}"#,
        ));
        let text = e.to_string();
        assert!(text.contains("GET https://chef.example/organizations/o/nodes returned 401"));
        assert!(text.contains("Invalid signature for user or client 'bob'"));
        assert!(text.contains("check the client name"));
    }

    #[test]
    fn an_invalid_license_403_is_its_own_kind() {
        // erchef's body for an expired licence (oc_chef_wm_base:service_available).
        let e = Error::from_response(ResponseError::new(
            403,
            "GET",
            "https://chef.example/organizations/o/cookbooks",
            br#"{"error":"Your license has expired","message":"invalid-license"}"#,
        ));
        assert!(e.is_license() && !e.is_forbidden(), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::License);
        assert!(e.to_string().contains("Your license has expired"), "{e}");
        assert!(
            e.to_string().contains("licence is invalid or expired"),
            "{e}"
        );
        let plain = Error::from_response(ResponseError::new(
            403,
            "GET",
            "u",
            br#"{"error":["missing read permission"]}"#,
        ));
        assert_eq!(plain.kind(), ErrorKind::Forbidden);
    }

    #[test]
    fn a_tls_port_answering_plain_http_says_use_https() {
        let e = Error::from_response(ResponseError::new(
            400,
            "GET",
            "http://chef.example:443/cookbooks",
            b"Client sent an HTTP request to an HTTPS server.\n",
        ));
        assert_eq!(e.kind(), ErrorKind::PlainHttpToTls);
        assert!(!e.is_retryable());
        let text = e.to_string();
        assert!(
            text.contains("Client sent an HTTP request to an HTTPS server")
                && text.contains("use https://"),
            "{text}"
        );
    }

    #[test]
    fn a_401_names_server_client_and_key_origin() {
        let mut r = ResponseError::new(
            401,
            "GET",
            "https://chef.example/organizations/o/nodes",
            br#"{"error":["Failed to authenticate as 'bob'"]}"#,
        );
        r.signed_as = Some(SignedAs {
            server: "https://chef.example/organizations/o".into(),
            client_name: "bob".into(),
            key: KeyOrigin::File("/home/bob/.chef/bob.pem".into()),
        });
        let text = Error::from_response(r.clone()).to_string();
        assert!(
            text.starts_with("Failed to authenticate to https://chef.example/organizations/o as bob with key /home/bob/.chef/bob.pem"),
            "{text}"
        );
        assert!(text.contains("local clock"), "{text}");
        r.signed_as.as_mut().unwrap().key = KeyOrigin::Bytes;
        let text = Error::from_response(r).to_string();
        assert!(text.contains("as bob with a key given as bytes"), "{text}");
    }

    #[test]
    fn kinds_spell_as_their_json() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::License,
            ErrorKind::PlainHttpToTls,
        ] {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
        }
    }

    #[test]
    fn redacts_credentials_in_urls() {
        let url = url::Url::parse(
            "https://user:pw@s3.example/b/checksum-1?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA&X-Amz-Signature=abc",
        )
        .unwrap();
        let shown = redact_url(&url);
        assert!(!shown.contains("pw") && !shown.contains("user@"), "{shown}");
        assert!(!shown.contains("AKIA") && !shown.contains("abc"), "{shown}");
        assert!(shown.contains("X-Amz-Algorithm=AWS4"), "{shown}");
    }
}
