//! Unsigned requests to absolute URLs the server handed out: sandbox file uploads (PUT to a
//! presigned bookshelf/S3 URL or goiardi's `/file_store`) and file downloads.
//!
//! Uploads stream from disk with an exact `Content-Length` (never chunked) and follow no
//! redirects. Both are retried like signed requests.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::ChefClient;
use super::body::{MAX_ERROR_BODY_BYTES, read_capped, read_prefix};
use super::retry::retry_after;
use super::send::{Response, with_body_cut};
use crate::error::{Error, ResponseError, Result, redact_url};

/// Read size when an upload body is streamed from disk.
const STREAM_READ: usize = 256 * 1024;

/// The body of an unsigned upload. Files are re-opened for each attempt.
#[derive(Debug, Clone)]
pub enum UploadBody {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A file streamed from disk.
    File(PathBuf),
}

impl UploadBody {
    async fn open(&self) -> Result<(reqwest::Body, u64)> {
        match self {
            Self::Bytes(b) => Ok((reqwest::Body::from(b.clone()), b.len() as u64)),
            Self::File(path) => {
                let io = |source| Error::Io {
                    path: path.clone(),
                    source,
                };
                let file = tokio::fs::File::open(path).await.map_err(io)?;
                let len = file.metadata().await.map_err(io)?.len();
                // Large reads: the default 4 KiB would be one blocking-pool hop per 4 KiB.
                let stream = tokio_util::io::ReaderStream::with_capacity(file, STREAM_READ);
                Ok((reqwest::Body::wrap_stream(stream), len))
            }
        }
    }
}

impl ChefClient {
    /// PUTs `body` to an absolute `url` without signing it. `headers` are sent as given (e.g.
    /// `Content-MD5`); `Content-Type` defaults to `application/x-binary` and `Accept` to
    /// `application/json`; `Content-Length` is always the exact body size.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, otherwise as for signed requests.
    pub async fn put_unsigned(
        &self,
        url: &Url,
        body: &UploadBody,
        headers: &HeaderMap,
    ) -> Result<Response> {
        let client = self.inner.http.clone();
        self.unsigned(Method::PUT, url, |method, url| {
            let client = client.clone();
            async move {
                let (payload, len) = body.open().await?;
                let mut all = HeaderMap::new();
                all.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-binary"),
                );
                all.insert(ACCEPT, HeaderValue::from_static("application/json"));
                for (name, value) in headers {
                    all.insert(name.clone(), value.clone());
                }
                all.insert(CONTENT_LENGTH, HeaderValue::from(len));
                Ok(client.request(method, url).headers(all).body(payload))
            }
        })
        .await
    }

    /// Uploads one cookbook file to a sandbox URL the way knife does:
    /// `Content-Type: application/x-binary`, `Content-MD5: <base64 of the raw MD5>`.
    ///
    /// # Errors
    /// See [`ChefClient::put_unsigned`].
    pub async fn put_file(
        &self,
        url: &Url,
        path: impl Into<PathBuf>,
        content_md5_base64: &str,
    ) -> Result<Response> {
        let mut headers = HeaderMap::new();
        let md5 = HeaderValue::from_str(content_md5_base64).map_err(|e| Error::Config {
            key: "content_md5".into(),
            message: e.to_string(),
        })?;
        headers.insert(HeaderName::from_static("content-md5"), md5);
        self.put_unsigned(url, &UploadBody::File(path.into()), &headers)
            .await
    }

    /// GETs an absolute URL without signing it (a cookbook file's `url`) and returns the body.
    /// Follows up to 5 redirects (S3 may redirect downloads).
    ///
    /// # Errors
    /// As for signed requests.
    pub async fn download(&self, url: &Url) -> Result<Bytes> {
        Ok(self.download_response(url).await?.body)
    }

    /// Like [`ChefClient::download`] but streams the body instead of buffering it. Only the
    /// start of the request is retried.
    ///
    /// # Errors
    /// As for signed requests; stream items fail with [`Error::Transport`] / [`Error::Timeout`].
    pub async fn download_stream(
        &self,
        url: &Url,
    ) -> Result<impl Stream<Item = Result<Bytes>> + Send + 'static> {
        let shown = redact_url(url);
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let error = match self
                .inner
                .download_http
                .get()?
                .get(url.clone())
                .send()
                .await
            {
                Err(e) => Error::from_reqwest("GET", &shown, e),
                Ok(resp) if resp.status().is_success() => {
                    let shown = shown.clone();
                    return Ok(resp
                        .bytes_stream()
                        .map_err(move |e| Error::from_reqwest("GET", &shown, e)));
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let wait = retry_after(resp.headers(), SystemTime::now());
                    let (body, cut) = read_prefix(resp, MAX_ERROR_BODY_BYTES).await;
                    let mut failure = ResponseError::new(status, "GET", &shown, &body);
                    failure.retry_after = wait;
                    with_body_cut(Error::from_response(failure), cut)
                }
            };
            match self.retry_delay(&error, retries, started) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(error),
            }
            retries += 1;
        }
    }

    async fn download_response(&self, url: &Url) -> Result<Response> {
        let client = self.inner.download_http.get()?.clone();
        self.unsigned(Method::GET, url, |method, url| {
            let client = client.clone();
            async move { Ok(client.request(method, url)) }
        })
        .await
    }

    /// The delay before the next retry, or `None` to give up with `error`.
    pub(super) fn retry_delay(
        &self,
        error: &Error,
        retries: u32,
        started: Instant,
    ) -> Option<std::time::Duration> {
        if !error.is_retryable() {
            return None;
        }
        let asked = error.response().and_then(|r| r.retry_after);
        self.inner.retry.next_delay(retries, started, asked)
    }

    /// Sends an unsigned request built fresh for each attempt, with retries.
    async fn unsigned<F, Fut>(&self, method: Method, url: &Url, build: F) -> Result<Response>
    where
        F: Fn(Method, Url) -> Fut,
        Fut: Future<Output = Result<reqwest::RequestBuilder>>,
    {
        let shown = redact_url(url);
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let rb = build(method.clone(), url.clone()).await?;
            let error = match rb.send().await {
                Err(e) => Error::from_reqwest(method.as_str(), &shown, e),
                Ok(resp) => {
                    let status: StatusCode = resp.status();
                    let headers = resp.headers().clone();
                    let limit = self.inner.max_response_bytes;
                    if status.is_success() {
                        match read_capped(resp, limit).await {
                            Ok(body) => {
                                return Ok(Response::new(status, headers, body, &method, shown));
                            }
                            Err(e) => e.into_error(method.as_str(), &shown, limit),
                        }
                    } else {
                        let (body, cut) = read_prefix(resp, MAX_ERROR_BODY_BYTES).await;
                        let mut failure =
                            ResponseError::new(status.as_u16(), method.as_str(), &shown, &body);
                        failure.retry_after = retry_after(&headers, SystemTime::now());
                        with_body_cut(Error::from_response(failure), cut)
                    }
                }
            };
            match self.retry_delay(&error, retries, started) {
                Some(delay) => {
                    tracing::debug!(url = %shown, retry = retries + 1, ?delay, error = %error, "retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(error),
            }
            retries += 1;
        }
    }
}
