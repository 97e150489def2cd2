//! Supermarket (and Berkshelf-API compatible) HTTP client: the `/universe` index and tarball
//! downloads, for the Berksfile's `source` lines (Supermarket, Artifactory).
//!
//! * [`SupermarketClient::fetch_universe`] reads `GET {source}/universe` into a typed
//!   [`Universe`], cached on disk and revalidated with `If-None-Match` / `If-Modified-Since`.
//! * [`SupermarketClient::fetch_universes`] reads several sources into [`Universes`] (priority
//!   order: for a given name and version the first source listing it wins, as in Berkshelf).
//! * [`SupermarketClient::download`] streams a tarball to a temporary file with a size limit,
//!   following redirects by hand so that credentials (`Authorization`, `Cookie`, `X-Ops-*`,
//!   `X-Jfrog-Art-Api`, every header set with [`SupermarketClientBuilder::with_header`]) are
//!   never sent to a different host, and never downgraded from https to http.
//!
//! Transient failures (connection errors, timeouts, 429, 500, 502, 503, 504) are retried with
//! chef-api's [`RetryConfig`], the policy and defaults of the Chef client.
//!
//! Chef Server sources (`location_type: chef_server`) need signed requests and per-file
//! downloads; they are parsed here but downloading them is a later concern
//! ([`SupermarketError::UnsupportedLocation`]).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chef_api::client::RetryConfig;
use chef_api::client::retry;
use chef_api::error::ResponseError;
use chef_api::universe::{LocationType, Universe, UniverseEntry, UniverseError, universe_url};
use chef_api::version::Version;
use futures::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use sha2::Digest;

use super::universes::Universes;

/// Default cap on one downloaded archive (compressed): 100 MiB.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 100 * 1024 * 1024;
/// Default cap on a universe document: 256 MiB.
pub const DEFAULT_MAX_UNIVERSE_BYTES: u64 = 256 * 1024 * 1024;
/// How many redirects a download follows at most.
pub const MAX_REDIRECTS: usize = 10;

/// Why a Supermarket operation failed. Every variant names the URL involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupermarketError {
    /// The source URL is not an http(s) URL or cannot be joined with a path.
    #[error("invalid Supermarket source URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection or transfer failed.
    #[error("request to {url} failed: {}", chef_api::error::cause_chain(source))]
    Transport {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an unexpected status: its status, the URL and the start of
    /// its body (the server's own message).
    #[error("{} answered HTTP {}: {}", .0.url, .0.status, .0.message())]
    Status(Box<ResponseError>),
    /// The universe JSON did not have the documented shape (names the URL and the entry).
    #[error(transparent)]
    Universe(#[from] UniverseError),
    /// A response was larger than the configured limit.
    #[error("{url}: response larger than the limit of {limit} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A redirect had no usable `Location`, went https -> http, or there were too many.
    #[error("bad redirect from {url}: {reason}")]
    Redirect {
        /// The URL that redirected.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The universe entry's location type cannot be downloaded by this client (yet).
    #[error(
        "cookbook {name} {version}: location type {location_type} is not supported for download"
    )]
    UnsupportedLocation {
        /// Cookbook name.
        name: String,
        /// Cookbook version.
        version: Version,
        /// The location type from the universe.
        location_type: LocationType,
    },
    /// Reading or writing the cache or a temporary file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`SupermarketError`].
pub type Result<T, E = SupermarketError> = std::result::Result<T, E>;

impl SupermarketError {
    /// The server's answer, for [`SupermarketError::Status`].
    pub fn response(&self) -> Option<&ResponseError> {
        match self {
            Self::Status(r) => Some(r),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered with one that failed the request.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }

    /// Worth retrying, by the same rules as the Chef client: connection errors, timeouts,
    /// 429, 500, 502, 503, 504.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { source, .. } => retry::is_retryable_transport(source),
            Self::Status(r) => retry::is_retryable_status(r.status),
            _ => false,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SupermarketError + '_ {
    move |source| SupermarketError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Builder for [`SupermarketClient`].
#[derive(Debug, Default)]
pub struct SupermarketClientBuilder {
    cache_dir: Option<PathBuf>,
    max_download_bytes: Option<u64>,
    max_universe_bytes: Option<u64>,
    headers: HeaderMap,
    timeout: Option<std::time::Duration>,
    retry: RetryConfig,
}

impl SupermarketClientBuilder {
    /// Caches universes under `dir` (created when needed) and revalidates them.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Caps one downloaded archive at `bytes` (default [`DEFAULT_MAX_DOWNLOAD_BYTES`]).
    pub fn with_max_download_bytes(mut self, bytes: u64) -> Self {
        self.max_download_bytes = Some(bytes);
        self
    }

    /// Caps a universe document at `bytes` (default [`DEFAULT_MAX_UNIVERSE_BYTES`]).
    pub fn with_max_universe_bytes(mut self, bytes: u64) -> Self {
        self.max_universe_bytes = Some(bytes);
        self
    }

    /// Sends `name: value` to the source's own host (e.g. `X-Jfrog-Art-Api`); it is marked
    /// sensitive and dropped on any redirect to another host.
    pub fn with_header(mut self, name: HeaderName, mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        self.headers.insert(name, value);
        self
    }

    /// The retry policy (default: the Chef client's, [`RetryConfig::default`]).
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Per-request timeout (default 60 s).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Builds the client (redirects are followed by hand, see the module docs).
    pub fn build(self) -> Result<SupermarketClient> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout.unwrap_or(std::time::Duration::from_secs(60)))
            .build()
            .map_err(|source| SupermarketError::Transport {
                url: String::new(),
                source,
            })?;
        Ok(SupermarketClient {
            http,
            cache_dir: self.cache_dir,
            max_download_bytes: self
                .max_download_bytes
                .unwrap_or(DEFAULT_MAX_DOWNLOAD_BYTES),
            max_universe_bytes: self
                .max_universe_bytes
                .unwrap_or(DEFAULT_MAX_UNIVERSE_BYTES),
            headers: self.headers,
            retry: self.retry,
        })
    }
}

/// HTTP client for Supermarket universes and tarballs. Cheap to clone.
#[derive(Clone)]
pub struct SupermarketClient {
    http: reqwest::Client,
    cache_dir: Option<PathBuf>,
    max_download_bytes: u64,
    max_universe_bytes: u64,
    headers: HeaderMap,
    retry: RetryConfig,
}

impl fmt::Debug for SupermarketClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupermarketClient")
            .field("cache_dir", &self.cache_dir)
            .field("max_download_bytes", &self.max_download_bytes)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// What the on-disk universe cache remembers about a response.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheMeta {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// Where a downloaded archive landed.
#[derive(Debug)]
pub struct Download {
    /// The temporary file (deleted when dropped).
    pub file: tempfile::NamedTempFile,
    /// Bytes written.
    pub size: u64,
    /// The URL the bytes finally came from (after redirects).
    pub final_url: Url,
}

impl SupermarketClient {
    /// A builder with defaults (no cache, 100 MiB download cap, the Chef client's retries).
    pub fn builder() -> SupermarketClientBuilder {
        SupermarketClientBuilder::default()
    }

    /// The retry policy it uses.
    pub fn retry(&self) -> &RetryConfig {
        &self.retry
    }

    /// Sends the request `build` makes, again after a transient failure as the
    /// [`RetryConfig`] allows (a server's `Retry-After` lengthens the wait). Any other answer,
    /// successful or not, is the caller's to judge; a retryable status that persists is
    /// returned as [`SupermarketError::Status`].
    async fn send(
        &self,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let error = match build().send().await {
                Ok(resp) if !retry::is_retryable_status(resp.status().as_u16()) => {
                    return Ok(resp);
                }
                Ok(resp) => status_error(url, resp).await,
                Err(source) => SupermarketError::Transport {
                    url: url.to_string(),
                    source,
                },
            };
            let asked = error.response().and_then(|r| r.retry_after);
            let delay = if error.is_retryable() {
                self.retry.next_delay(retries, started, asked)
            } else {
                None
            };
            let Some(delay) = delay else {
                return Err(error);
            };
            tracing::debug!(url = %url, retry = retries + 1, ?delay, error = %error, "retrying");
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    fn cache_paths(&self, url: &Url) -> Option<(PathBuf, PathBuf)> {
        let dir = self.cache_dir.as_ref()?;
        let digest = sha2::Sha256::digest(url.as_str().as_bytes());
        let key: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some((
            dir.join(format!("universe-{key}.json")),
            dir.join(format!("universe-{key}.meta.json")),
        ))
    }

    /// `GET {source}/universe`, parsed. With a cache dir, a cached copy is revalidated with
    /// `If-None-Match` / `If-Modified-Since` and reused on `304 Not Modified`.
    pub async fn fetch_universe(&self, source: &Url) -> Result<Universe> {
        if !matches!(source.scheme(), "http" | "https") {
            return Err(SupermarketError::InvalidUrl {
                url: source.to_string(),
                reason: "only http and https sources are supported".into(),
            });
        }
        let url = universe_url(source)?;
        let cache = self.cache_paths(&url);
        let cached_meta: Option<CacheMeta> = cache.as_ref().and_then(|(body, meta)| {
            if !body.is_file() {
                return None;
            }
            let raw = std::fs::read(meta).ok()?;
            serde_json::from_slice(&raw).ok()
        });
        let build = || {
            let mut req = self
                .http
                .get(url.clone())
                .headers(self.headers.clone())
                .header(header::ACCEPT, "application/json");
            if let Some(m) = &cached_meta {
                if let Some(etag) = &m.etag {
                    req = req.header(header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = &m.last_modified {
                    req = req.header(header::IF_MODIFIED_SINCE, lm);
                }
            }
            req
        };
        let resp = self.send(&url, build).await?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            if let (Some((body_path, _)), Some(_)) = (&cache, &cached_meta) {
                tracing::debug!(url = %url, "universe not modified; using the cache");
                let body = std::fs::read(body_path).map_err(io_err(body_path))?;
                return Ok(Universe::parse(source, &body)?);
            }
            return Err(status_error(&url, resp).await);
        }
        if !status.is_success() {
            return Err(status_error(&url, resp).await);
        }
        let hdr = |name: header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let meta = CacheMeta {
            url: url.to_string(),
            etag: hdr(header::ETAG),
            last_modified: hdr(header::LAST_MODIFIED),
        };
        let body = read_limited(resp, &url, self.max_universe_bytes).await?;
        let universe = Universe::parse(source, &body)?;
        if let Some((body_path, meta_path)) = &cache {
            write_atomic(body_path, &body)?;
            let meta_json = serde_json::to_vec(&meta).unwrap_or_default();
            write_atomic(meta_path, &meta_json)?;
        }
        Ok(universe)
    }

    /// Fetches every source's universe in order. A failing source is logged and contributes
    /// nothing (as in Berkshelf); the errors are returned beside the universes.
    pub async fn fetch_universes(&self, sources: &[Url]) -> (Universes, Vec<SupermarketError>) {
        Universes::collect(
            futures::future::join_all(sources.iter().map(|s| self.fetch_universe(s))).await,
        )
    }

    /// Downloads the archive of `name`/`version` described by `entry` into a temporary file
    /// in `dir` (use the cookbook cache's directory so a later rename stays on one filesystem).
    pub async fn download_cookbook(
        &self,
        name: &str,
        version: &Version,
        entry: &UniverseEntry,
        dir: &Path,
    ) -> Result<Download> {
        if !entry.location_type.is_downloadable() {
            return Err(SupermarketError::UnsupportedLocation {
                name: name.to_owned(),
                version: *version,
                location_type: entry.location_type,
            });
        }
        let url = Url::parse(&entry.download_url).map_err(|e| SupermarketError::InvalidUrl {
            url: entry.download_url.clone(),
            reason: e.to_string(),
        })?;
        self.download(&url, dir).await
    }

    /// Streams `url` to a temporary file in `dir`, following up to [`MAX_REDIRECTS`] redirects.
    /// The configured headers go only to the original host (scheme, host and port must match);
    /// a redirect from https to http is refused.
    pub async fn download(&self, url: &Url, dir: &Path) -> Result<Download> {
        let origin = url.clone();
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = current.scheme() == origin.scheme()
                && current.host_str() == origin.host_str()
                && current.port_or_known_default() == origin.port_or_known_default();
            let build = || {
                let req = self.http.get(current.clone());
                if same_origin {
                    req.headers(self.headers.clone())
                } else {
                    req
                }
            };
            let resp = self.send(&current, build).await?;
            let status = resp.status();
            if status.is_redirection() {
                let bad = |reason: &str| SupermarketError::Redirect {
                    url: current.to_string(),
                    reason: reason.to_owned(),
                };
                let loc = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| bad("no Location header"))?;
                let next = current
                    .join(loc)
                    .map_err(|e| bad(&format!("invalid Location {loc:?}: {e}")))?;
                if current.scheme() == "https" && next.scheme() != "https" {
                    return Err(bad(&format!("refusing to downgrade to {next}")));
                }
                if !matches!(next.scheme(), "http" | "https") {
                    return Err(bad(&format!("unsupported scheme in {next}")));
                }
                current = next;
                continue;
            }
            if !status.is_success() {
                return Err(status_error(&current, resp).await);
            }
            if let Some(len) = resp.content_length()
                && len > self.max_download_bytes
            {
                return Err(SupermarketError::TooLarge {
                    url: current.to_string(),
                    limit: self.max_download_bytes,
                });
            }
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            let mut file = tempfile::Builder::new()
                .prefix(".download-")
                .tempfile_in(dir)
                .map_err(io_err(dir))?;
            let mut size = 0u64;
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|source| SupermarketError::Transport {
                    url: current.to_string(),
                    source,
                })?;
                size += chunk.len() as u64;
                if size > self.max_download_bytes {
                    return Err(SupermarketError::TooLarge {
                        url: current.to_string(),
                        limit: self.max_download_bytes,
                    });
                }
                let path = file.path().to_owned();
                file.write_all(&chunk).map_err(io_err(&path))?;
            }
            let path = file.path().to_owned();
            file.flush().map_err(io_err(&path))?;
            return Ok(Download {
                file,
                size,
                final_url: current,
            });
        }
        Err(SupermarketError::Redirect {
            url: origin.to_string(),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

/// How much of an error answer's body is read.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

async fn status_error(url: &Url, resp: reqwest::Response) -> SupermarketError {
    let status = resp.status().as_u16();
    let wait = retry::retry_after(resp.headers(), std::time::SystemTime::now());
    // An error body only feeds a message: read its first 64 KiB, never more.
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while body.len() < MAX_ERROR_BODY_BYTES
        && let Some(Ok(chunk)) = stream.next().await
    {
        let room = MAX_ERROR_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    let mut answer = ResponseError::new(status, "GET", url.as_str(), &body);
    answer.retry_after = wait;
    SupermarketError::Status(Box::new(answer))
}

async fn read_limited(resp: reqwest::Response, url: &Url, limit: u64) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(SupermarketError::TooLarge {
            url: url.to_string(),
            limit,
        });
    }
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| SupermarketError::Transport {
            url: url.to_string(),
            source,
        })?;
        if (out.len() as u64).saturating_add(chunk.len() as u64) > limit {
            return Err(SupermarketError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| SupermarketError::Io {
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const UNIVERSE: &str = r#"{"apt": {"7.1.1": {"location_type": "opscode", "location_path": "https://supermarket.example/api/v1", "dependencies": {}}}}"#;

    fn quick_retries(max_retries: u32) -> RetryConfig {
        RetryConfig {
            max_retries,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            retry_timeout: Duration::from_secs(10),
        }
    }

    async fn requests(server: &MockServer) -> usize {
        server.received_requests().await.unwrap_or_default().len()
    }

    #[tokio::test]
    async fn transient_statuses_are_retried_with_the_chef_clients_policy() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/universe"))
            .respond_with(ResponseTemplate::new(503).set_body_string("warming up"))
            .up_to_n_times(2)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/universe"))
            .respond_with(ResponseTemplate::new(200).set_body_string(UNIVERSE))
            .with_priority(2)
            .mount(&server)
            .await;
        let client = SupermarketClient::builder()
            .with_retry(quick_retries(3))
            .build()
            .unwrap();
        let source = Url::parse(&server.uri()).unwrap();
        let universe = client.fetch_universe(&source).await.unwrap();
        assert!(universe.cookbooks.contains_key("apt"));
        assert_eq!(requests(&server).await, 3, "two 503s, then the answer");
        assert_eq!(
            SupermarketClient::builder().build().unwrap().retry(),
            &RetryConfig::default(),
            "the default is the Chef client's"
        );
    }

    #[tokio::test]
    async fn a_persisting_503_is_returned_with_its_status_after_the_retries() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).set_body_string("down for maintenance"))
            .mount(&server)
            .await;
        let client = SupermarketClient::builder()
            .with_retry(quick_retries(2))
            .build()
            .unwrap();
        let source = Url::parse(&server.uri()).unwrap();
        let err = client.fetch_universe(&source).await.unwrap_err();
        assert_eq!(
            requests(&server).await,
            3,
            "the first attempt and two retries"
        );
        assert_eq!(err.status(), Some(503), "{err}");
        assert!(err.is_retryable());
        let answer = err.response().unwrap();
        assert_eq!(answer.url, format!("{}/universe", server.uri()));
        assert_eq!(answer.messages, ["down for maintenance"]);
        assert!(err.to_string().contains("HTTP 503"), "{err}");
    }

    #[tokio::test]
    async fn a_404_is_not_retried_and_answers_its_status() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let client = SupermarketClient::builder()
            .with_retry(quick_retries(5))
            .build()
            .unwrap();
        let url = Url::parse(&format!("{}/apt.tar.gz", server.uri())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = client.download(&url, dir.path()).await.unwrap_err();
        assert_eq!(requests(&server).await, 1);
        assert_eq!(err.status(), Some(404), "{err}");
        assert!(!err.is_retryable());
        let local = SupermarketError::TooLarge {
            url: url.to_string(),
            limit: 1,
        };
        assert_eq!((local.status(), local.response()), (None, None));
    }
}
