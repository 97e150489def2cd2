//! The signed-request pipeline: sign, send, learn from the answer, recover, retry.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, DATE, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::ChefClient;
use super::api_version::HEADER as API_VERSION_HEADER;
use super::body::{MAX_ERROR_BODY_BYTES, read_capped, read_prefix};
use super::clock::{is_clock_complaint, shift};
use super::retry::retry_after;
use crate::error::{Error, ResponseError, Result, redact_url};
use crate::sign::{self, RequestToSign, SignVersion};

/// A successful answer, body read.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status (2xx).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    method: String,
    url: String,
}

impl Response {
    /// An answer as the client would hand it out: `body` read whole, `url` already redacted.
    /// The client builds these itself; this is public so that fuzzers and tests can decode
    /// bodies exactly as the client does.
    pub fn new(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        method: &Method,
        url: String,
    ) -> Self {
        Self {
            status,
            headers,
            body,
            method: method.to_string(),
            url,
        }
    }

    /// The request's method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request's URL, credentials masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Decodes the body as JSON; failures name the JSON path. An empty body decodes as `null`.
    /// A body nested deeper than [`crate::json::MAX_DEPTH`] is refused before decoding.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] when the body does not fit `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &self.body
        };
        crate::json::check_depth(body, crate::json::MAX_DEPTH).map_err(|e| {
            Error::InvalidResponse {
                method: self.method.clone(),
                url: self.url.clone(),
                path: ".".to_owned(),
                message: e.to_string(),
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| Error::InvalidResponse {
            method: self.method.clone(),
            url: self.url.clone(),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }
}

/// A signed request made before it is sent ([`ChefClient::sign_ahead`]): its signature, the
/// costly part of a request (one RSA private-key operation, ≈ 0.7 ms), is made while the
/// caller still waits for something else, e.g. on another thread during a sandbox commit.
///
/// [`ChefClient::send_signed_ahead`] sends it as it is when the client's API version and
/// signing version are still those it was signed with and it is younger than
/// [`SignedAhead::MAX_AGE`]; otherwise, and for every retry, the request is signed again.
pub struct SignedAhead {
    method: Method,
    url: Url,
    body: Option<Bytes>,
    request: reqwest::Request,
    api_version: u32,
    sign_version: SignVersion,
    signed_at: Instant,
}

impl SignedAhead {
    /// How long a signature made ahead is used as it is (erchef accepts timestamps up to
    /// 15 minutes off; an older one is simply signed again).
    pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Whether `client` would send this request as it was signed (see the type's
    /// documentation).
    fn still_fits(&self, api_version: u32, sign_version: SignVersion) -> bool {
        self.api_version == api_version
            && self.sign_version == sign_version
            && self.signed_at.elapsed() < Self::MAX_AGE
    }
}

impl std::fmt::Debug for SignedAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The headers (signature) are left out; the URL is shown redacted.
        f.debug_struct("SignedAhead")
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .field("api_version", &self.api_version)
            .field("sign_version", &self.sign_version)
            .finish_non_exhaustive()
    }
}

/// Recoveries already used by one request.
#[derive(Debug, Default)]
struct Recovery {
    api_override: Option<u32>,
    clock_fixed: bool,
    sign_fallback: bool,
}

/// One answer to one attempt, body read.
struct Answer<'a> {
    method: &'a Method,
    shown: &'a str,
    status: StatusCode,
    headers: HeaderMap,
    payload: Bytes,
    api_version: u32,
    sign_version: SignVersion,
}

/// What to do after an answer.
enum Verdict {
    Done(Response),
    Again,
    Failed(Error),
}

/// Does this answer say the server does not speak signing protocol 1.3?
fn rejects_v1_3(status: u16, headers: &HeaderMap, messages: &[String]) -> bool {
    match status {
        400 => messages.iter().any(|m| {
            m.contains("Unsupported authentication protocol version")
                || m.contains("Bad version number")
        }),
        401 => headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("version=") && !v.contains("1.3")),
        _ => false,
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl ChefClient {
    /// Builds one signed request.
    fn build_signed(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Bytes>,
        api_version: u32,
        sign_version: SignVersion,
    ) -> Result<reqwest::Request> {
        let inner = &self.inner;
        let payload: &[u8] = body.map_or(&[], |b| b.as_ref());
        let timestamp = shift(inner.clock.now(), inner.skew.get());
        let to_sign = RequestToSign {
            method: method.as_str(),
            path: url.path(),
            content_hash: sign::content_hash(sign_version, payload),
            user_id: &inner.client_name,
            timestamp,
            server_api_version: api_version,
            version: sign_version,
        };
        let signed = sign::sign_request(&inner.key, &to_sign)?;
        let mut rb = inner
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, "application/json")
            .header("X-Chef-Version", inner.chef_version.clone())
            .header(API_VERSION_HEADER, HeaderValue::from(api_version));
        for (name, value) in signed {
            rb = rb.header(name, value);
        }
        if let Some(b) = body {
            rb = rb.header(CONTENT_TYPE, "application/json").body(b.clone());
        }
        rb.build()
            .map_err(|e| Error::from_reqwest(method.as_str(), &redact_url(url), e))
    }

    /// Sends a signed request to `url` (its own path is signed) and returns the successful
    /// answer. `body` is sent as JSON.
    ///
    /// Handles, in this order: a 406 (steps the API version down, once per version), a 401
    /// about the clock (re-signs with the server's time, once), a rejection of signing
    /// protocol 1.3 (switches to 1.1 for good, once), then retries what
    /// [`Error::is_retryable`] allows within the [`super::RetryConfig`].
    ///
    /// # Errors
    /// The error of the last attempt, of the kind its status maps to.
    pub async fn send_signed(
        &self,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
    ) -> Result<Response> {
        self.send_signed_from(method, url, body, None).await
    }

    /// Signs a request to `path` (relative to the server URL, or absolute) now, to be sent
    /// later with [`ChefClient::send_signed_ahead`]. CPU-bound: call it on a blocking thread
    /// (or where nothing else waits) when signing many.
    ///
    /// # Errors
    /// A bad `path`, or a signing failure.
    pub fn sign_ahead(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<SignedAhead> {
        let url = self.url_for(path)?;
        let api_version = self.inner.api.to_request();
        let sign_version = self.sign_version();
        let request = self.build_signed(&method, &url, body.as_ref(), api_version, sign_version)?;
        Ok(SignedAhead {
            method,
            url,
            body,
            request,
            api_version,
            sign_version,
            signed_at: Instant::now(),
        })
    }

    /// Sends a request signed by [`ChefClient::sign_ahead`], with everything
    /// [`ChefClient::send_signed`] does (recoveries and retries sign again).
    ///
    /// # Errors
    /// As [`ChefClient::send_signed`].
    pub async fn send_signed_ahead(&self, ahead: SignedAhead) -> Result<Response> {
        let (method, url, body) = (ahead.method.clone(), ahead.url.clone(), ahead.body.clone());
        self.send_signed_from(method, &url, body, Some(ahead)).await
    }

    /// The pipeline of [`ChefClient::send_signed`]; the first attempt sends `ahead` when it
    /// still fits.
    async fn send_signed_from(
        &self,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
        mut ahead: Option<SignedAhead>,
    ) -> Result<Response> {
        let inner = &self.inner;
        let shown = redact_url(url);
        let started = Instant::now();
        let mut retries = 0;
        let mut state = Recovery::default();
        loop {
            let api_version = state.api_override.unwrap_or_else(|| inner.api.to_request());
            let sign_version = self.sign_version();
            let request = match ahead.take() {
                Some(a) if a.still_fits(api_version, sign_version) => a.request,
                _ => self.build_signed(&method, url, body.as_ref(), api_version, sign_version)?,
            };
            let error = match inner.http.execute(request).await {
                Err(e) => Error::from_reqwest(method.as_str(), &shown, e),
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    inner
                        .skew
                        .observe(header_str(&headers, DATE.as_str()), inner.clock.now());
                    inner.license.observe(&headers);
                    inner.flavor.observe(&headers);
                    let limit = inner.max_response_bytes;
                    // A success must arrive whole and under the ceiling; an error answer keeps
                    // a capped prefix, and what arrived even when its connection broke.
                    let read = if status.is_success() {
                        read_capped(resp, limit)
                            .await
                            .map(|payload| (payload, None))
                    } else {
                        Ok(read_prefix(resp, limit.min(MAX_ERROR_BODY_BYTES)).await)
                    };
                    match read {
                        Err(e) => e.into_error(method.as_str(), &shown, limit),
                        Ok((payload, cut)) => {
                            let answer = Answer {
                                method: &method,
                                shown: &shown,
                                status,
                                headers,
                                payload,
                                api_version,
                                sign_version,
                            };
                            match self.judge(answer, &mut state) {
                                Verdict::Done(response) => return Ok(response),
                                Verdict::Again => continue,
                                Verdict::Failed(error) => with_body_cut(error, cut),
                            }
                        }
                    }
                }
            };
            let Some(delay) = self.retry_delay(&error, retries, started) else {
                return Err(error);
            };
            tracing::debug!(url = %shown, retry = retries + 1, ?delay, error = %error, "retrying");
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    /// Learns from one answer and decides: done, send again at once (406, clock, 1.3
    /// rejection; each recovery at most once), or failed (maybe retried by the caller).
    fn judge(&self, answer: Answer<'_>, state: &mut Recovery) -> Verdict {
        let inner = &self.inner;
        let Answer {
            method,
            shown,
            status,
            headers,
            payload,
            api_version,
            sign_version,
        } = answer;
        let api_header = header_str(&headers, API_VERSION_HEADER);
        if status == StatusCode::NOT_ACCEPTABLE
            && let Some(v) = inner.api.step_down(api_version, api_header, &payload)
        {
            tracing::debug!(url = %shown, from = api_version, to = v, "server API version stepped down after 406");
            state.api_override = Some(v);
            return Verdict::Again;
        }
        if status.as_u16() < 500 {
            inner.api.observe(api_header);
        }
        if status.is_success() {
            return Verdict::Done(Response::new(
                status,
                headers,
                payload,
                method,
                shown.to_owned(),
            ));
        }
        let mut failure = ResponseError::new(status.as_u16(), method.as_str(), shown, &payload);
        failure.retry_after = retry_after(&headers, SystemTime::now());
        if status == StatusCode::UNAUTHORIZED
            && !state.clock_fixed
            && is_clock_complaint(&failure.messages)
        {
            state.clock_fixed = true;
            tracing::info!(url = %shown, offset_seconds = inner.skew.get(), "server refused the timestamp; signing again with the server's clock");
            return Verdict::Again;
        }
        if !state.sign_fallback
            && sign_version == SignVersion::V1_3
            && rejects_v1_3(status.as_u16(), &headers, &failure.messages)
        {
            state.sign_fallback = true;
            inner.sign_version.set(SignVersion::V1_1);
            tracing::info!(url = %shown, "server rejected signing protocol 1.3; using 1.1 from now on");
            return Verdict::Again;
        }
        if status == StatusCode::UNAUTHORIZED {
            failure.signed_as = Some(self.signed_as());
        }
        Verdict::Failed(Error::from_response(failure))
    }

    /// Sends a signed request to `path` (relative to the server URL, or absolute) with an
    /// optional JSON body given as bytes.
    ///
    /// # Errors
    /// See [`ChefClient::send_signed`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response> {
        let url = self.url_for(path)?;
        self.send_signed(method, &url, body).await
    }
}

/// Notes on an answered failure that its body was cut short.
pub(crate) fn with_body_cut(mut error: Error, cut: Option<reqwest::Error>) -> Error {
    if let (Some(cut), Some(response)) = (cut, error.response_mut()) {
        response.body_cut = Some(cut.without_url().to_string());
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server could exhaust the stack of whatever thread decodes its answer: serde_json's own
    /// limit (128 levels) needs more than 256 KiB of stack in a debug build.
    #[test]
    fn deeply_nested_answers_are_refused_on_a_small_stack() {
        const DEPTH: usize = 100_000;
        let body = Bytes::from(format!("{}1{}", "[".repeat(DEPTH), "]".repeat(DEPTH)));
        let response = Response::new(
            StatusCode::OK,
            HeaderMap::new(),
            body,
            &Method::GET,
            "https://chef.example/universe".to_owned(),
        );
        let err = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || response.json::<serde_json::Value>().unwrap_err())
            .unwrap()
            .join()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains("nested deeper than 64"), "{text}");
        // At the limit, the answer decodes on the same small stack.
        let depth = crate::json::MAX_DEPTH;
        let body = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let response = Response::new(
            StatusCode::OK,
            HeaderMap::new(),
            Bytes::from(body),
            &Method::GET,
            "https://chef.example/universe".to_owned(),
        );
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || response.json::<serde_json::Value>().unwrap())
            .unwrap()
            .join()
            .unwrap();
        assert!(text.contains("/universe"), "{text}");
    }

    #[test]
    fn recognises_v1_3_rejections() {
        let none = HeaderMap::new();
        assert!(rejects_v1_3(
            400,
            &none,
            &["Unsupported authentication protocol version".into()]
        ));
        assert!(rejects_v1_3(400, &none, &["Bad version number 1.3".into()]));
        assert!(!rejects_v1_3(400, &none, &["Field 'name' invalid".into()]));
        let mut old = HeaderMap::new();
        old.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"X-Ops-Sign version="1.0" version="1.1""#),
        );
        assert!(rejects_v1_3(401, &old, &[]));
        let mut all = HeaderMap::new();
        all.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"X-Ops-Sign version="1.0" version="1.1" version="1.2" version="1.3""#,
            ),
        );
        assert!(!rejects_v1_3(401, &all, &[]));
        assert!(!rejects_v1_3(401, &none, &[]));
    }
}
