//! Supermarket (and Berkshelf-API compatible) HTTP client: the `/universe` index and tarball
//! downloads.
//!
//! * [`SupermarketClient::fetch_universe`] reads `GET {source}/universe` into a typed
//!   [`Universe`], cached on disk and revalidated with `If-None-Match` / `If-Modified-Since`.
//! * [`Universes`] holds several sources in priority order: for a given name and version the
//!   first source listing it wins (as Berkshelf does).
//! * [`SupermarketClient::download`] streams a tarball to a temporary file with a size limit,
//!   following redirects by hand so that credentials (`Authorization`, `Cookie`, `X-Ops-*`,
//!   `X-Jfrog-Art-Api`, every header set with [`SupermarketClientBuilder::with_header`]) are
//!   never sent to a different host, and never downgraded from https to http.
//!
//! Chef Server sources (`location_type: chef_server`) need signed requests and per-file
//! downloads; they are parsed here but downloading them is a later concern
//! ([`SupermarketError::UnsupportedLocation`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use reqwest::header::{self, HeaderMap};
use reqwest::{StatusCode, Url};
use sha2::Digest;

use crate::version::Version;

/// Header types for [`SupermarketClientBuilder::with_header`].
pub use reqwest::header::{HeaderName, HeaderValue};

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
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an unexpected status.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body (the server's own message).
        body: String,
    },
    /// The universe JSON did not have the documented shape.
    #[error("universe from {url} is not valid: {reason}")]
    InvalidUniverse {
        /// The universe URL.
        url: String,
        /// What was wrong, with the JSON path where known.
        reason: String,
    },
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SupermarketError + '_ {
    move |source| SupermarketError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where a universe entry's cookbook lives (`location_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LocationType {
    /// `opscode`: a Supermarket (the literal Supermarket sends).
    Opscode,
    /// `supermarket`: a Berkshelf-API server; handled like `opscode`.
    Supermarket,
    /// `chef_server`: a Chef Infra Server universe (signed requests; later).
    ChefServer,
    /// `file_store`: a local chef repo.
    FileStore,
    /// `uri`: a plain URL.
    Uri,
    /// `github`.
    Github,
    /// `gitlab`.
    Gitlab,
}

impl LocationType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "opscode" => Self::Opscode,
            "supermarket" => Self::Supermarket,
            "chef_server" => Self::ChefServer,
            "file_store" => Self::FileStore,
            "uri" => Self::Uri,
            "github" => Self::Github,
            "gitlab" => Self::Gitlab,
            _ => return None,
        })
    }

    /// The name as the universe writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Opscode => "opscode",
            Self::Supermarket => "supermarket",
            Self::ChefServer => "chef_server",
            Self::FileStore => "file_store",
            Self::Uri => "uri",
            Self::Github => "github",
            Self::Gitlab => "gitlab",
        }
    }

    /// Can [`SupermarketClient::download`] fetch a cookbook of this type by its `download_url`?
    pub const fn is_downloadable(self) -> bool {
        matches!(self, Self::Opscode | Self::Supermarket | Self::Uri)
    }
}

impl fmt::Display for LocationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cookbook version in a universe.
#[derive(Debug, Clone, PartialEq)]
pub struct UniverseEntry {
    /// `location_type`.
    pub location_type: LocationType,
    /// `location_path` (made absolute against the source URL when relative).
    pub location_path: String,
    /// `download_url` (made absolute against the source URL when relative).
    pub download_url: String,
    /// Dependencies: cookbook name -> constraint string as written in its metadata.
    pub dependencies: BTreeMap<String, String>,
}

/// A source's universe: cookbook name -> version -> entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Universe {
    /// The source URL it came from.
    pub source: Url,
    /// The cookbooks.
    pub cookbooks: BTreeMap<String, BTreeMap<Version, UniverseEntry>>,
}

/// Is `name` safe to use as a cookbook name (and thus in a path): `[A-Za-z0-9_-]+`?
pub fn is_valid_cookbook_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Universe {
    /// Parses a universe document. Entries with an unsafe cookbook name or an invalid version
    /// are skipped with a warning (a hostile source must not put `../` into cache paths);
    /// an unknown `location_type` or a wrong JSON shape is an error.
    pub fn parse(source: &Url, body: &[u8]) -> Result<Self> {
        let url = universe_url(source)?.to_string();
        let bad = |reason: String| SupermarketError::InvalidUniverse {
            url: url.clone(),
            reason,
        };
        crate::json::check_depth(body, crate::json::MAX_DEPTH).map_err(|e| bad(e.to_string()))?;
        let doc: BTreeMap<String, BTreeMap<String, RawEntry>> = serde_json::from_slice(body)
            .map_err(|e| {
                bad(format!(
                    "expected an object of cookbook name -> version -> entry: {e}"
                ))
            })?;
        let mut cookbooks = BTreeMap::new();
        for (name, versions) in doc {
            if !is_valid_cookbook_name(&name) {
                tracing::warn!(source = %source, name = %name, "skipping universe entry with an unsafe cookbook name");
                continue;
            }
            let mut out = BTreeMap::new();
            for (ver, attrs) in versions {
                let Ok(version) = Version::parse(&ver) else {
                    tracing::warn!(source = %source, name = %name, version = %ver, "skipping universe entry with an invalid version");
                    continue;
                };
                let field = |value: Option<String>, key: &str| -> Result<String> {
                    value.ok_or_else(|| bad(format!("{name}.{ver}.{key}: expected a string")))
                };
                let lt = field(attrs.location_type, "location_type")?;
                let location_type = LocationType::parse(&lt).ok_or_else(|| {
                    bad(format!("{name}.{ver}.location_type: unknown type {lt:?}"))
                })?;
                let location_path =
                    absolutize(source, field(attrs.location_path, "location_path")?);
                let download_url = match attrs.download_url {
                    Some(u) => absolutize(source, u),
                    None => format!(
                        "{}/cookbooks/{name}/versions/{version}/download",
                        location_path.trim_end_matches('/')
                    ),
                };
                let dependencies = attrs
                    .dependencies
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(dep, c)| match c {
                        serde_json::Value::String(c) => (dep, c),
                        // Chef turns an array constraint into "no constraint".
                        _ => (dep, String::new()),
                    })
                    .collect();
                out.insert(
                    version,
                    UniverseEntry {
                        location_type,
                        location_path,
                        download_url,
                        dependencies,
                    },
                );
            }
            if !out.is_empty() {
                cookbooks.insert(name, out);
            }
        }
        Ok(Self {
            source: source.clone(),
            cookbooks,
        })
    }

    /// The entry for `name` at `version`, if this source lists it.
    pub fn get(&self, name: &str, version: &Version) -> Option<&UniverseEntry> {
        self.cookbooks.get(name)?.get(version)
    }
}

/// One version's attributes as the universe JSON has them.
#[derive(serde::Deserialize)]
struct RawEntry {
    location_type: Option<String>,
    location_path: Option<String>,
    download_url: Option<String>,
    dependencies: Option<BTreeMap<String, serde_json::Value>>,
}

fn absolutize(source: &Url, s: String) -> String {
    if s.contains("://") {
        return s;
    }
    let base = source.as_str().trim_end_matches('/');
    format!("{base}/{}", s.trim_start_matches('/'))
}

/// `{source}/universe`, keeping any path prefix of the source (Artifactory).
pub fn universe_url(source: &Url) -> Result<Url> {
    let joined = format!("{}/universe", source.as_str().trim_end_matches('/'));
    Url::parse(&joined).map_err(|e| SupermarketError::InvalidUrl {
        url: source.to_string(),
        reason: e.to_string(),
    })
}

/// Several universes in priority order (the Berksfile's `source` lines, first = highest).
#[derive(Debug, Clone, Default)]
pub struct Universes {
    /// The universes, highest priority first.
    pub sources: Vec<Universe>,
}

impl Universes {
    /// Universes from per-source results in priority order: a failed source contributes
    /// nothing (Berkshelf warns and goes on) and its error is logged and returned beside.
    pub fn collect<E: fmt::Display>(
        results: impl IntoIterator<Item = std::result::Result<Universe, E>>,
    ) -> (Self, Vec<E>) {
        let mut out = Self::default();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(u) => out.sources.push(u),
                Err(e) => {
                    tracing::warn!(error = %e, "error retrieving universe from source");
                    errors.push(e);
                }
            }
        }
        (out, errors)
    }

    /// The first source (in order) that lists `name` at `version`, with its entry.
    pub fn find(&self, name: &str, version: &Version) -> Option<(&Universe, &UniverseEntry)> {
        self.sources
            .iter()
            .find_map(|u| u.get(name, version).map(|e| (u, e)))
    }

    /// Every version of every cookbook across all sources; for a version listed by several
    /// sources the first source's dependency list is used. Versions from all sources compete.
    pub fn merged(&self) -> BTreeMap<String, BTreeMap<Version, BTreeMap<String, String>>> {
        let mut out: BTreeMap<String, BTreeMap<Version, BTreeMap<String, String>>> =
            BTreeMap::new();
        for u in &self.sources {
            for (name, versions) in &u.cookbooks {
                let slot = out.entry(name.clone()).or_default();
                for (v, e) in versions {
                    slot.entry(*v).or_insert_with(|| e.dependencies.clone());
                }
            }
        }
        out
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
}

impl fmt::Debug for SupermarketClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupermarketClient")
            .field("cache_dir", &self.cache_dir)
            .field("max_download_bytes", &self.max_download_bytes)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
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
    /// A builder with defaults (no cache, 100 MiB download cap).
    pub fn builder() -> SupermarketClientBuilder {
        SupermarketClientBuilder::default()
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
        let resp = req
            .send()
            .await
            .map_err(|source| SupermarketError::Transport {
                url: url.to_string(),
                source,
            })?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            if let (Some((body_path, _)), Some(_)) = (&cache, &cached_meta) {
                tracing::debug!(url = %url, "universe not modified; using the cache");
                let body = std::fs::read(body_path).map_err(io_err(body_path))?;
                return Universe::parse(source, &body);
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
            let mut req = self.http.get(current.clone());
            if same_origin {
                req = req.headers(self.headers.clone());
            }
            let resp = req
                .send()
                .await
                .map_err(|source| SupermarketError::Transport {
                    url: current.to_string(),
                    source,
                })?;
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

async fn status_error(url: &Url, resp: reqwest::Response) -> SupermarketError {
    let status = resp.status().as_u16();
    // Only the start of an error body is shown: read no more than that (plus a UTF-8 tail).
    let mut raw = Vec::new();
    let mut stream = resp.bytes_stream();
    while raw.len() < 504
        && let Some(Ok(chunk)) = stream.next().await
    {
        let room = 504 - raw.len();
        raw.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    let mut body = String::from_utf8_lossy(&raw).into_owned();
    if body.len() > 500 {
        let mut cut = 500;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    SupermarketError::Status {
        url: url.to_string(),
        status,
        body,
    }
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
    use super::*;

    fn src() -> Url {
        Url::parse("https://supermarket.example/").unwrap()
    }

    #[test]
    fn parses_the_supermarket_shape_and_skips_unsafe_entries() {
        let body = br#"{
          "apt": {"7.1.1": {"location_type": "opscode", "location_path": "https://supermarket.example/api/v1",
                   "download_url": "https://supermarket.example/api/v1/cookbooks/apt/versions/7.1.1/download",
                   "dependencies": null},
                  "2.9.2": {"location_type": "supermarket", "location_path": "/api/v1",
                   "dependencies": {"compat_resource": ">= 12.16.3"}},
                  "1.x": {"location_type": "opscode", "location_path": "x", "dependencies": {}}},
          "../evil": {"1.0.0": {"location_type": "opscode", "location_path": "x", "dependencies": {}}}
        }"#;
        let u = Universe::parse(&src(), body).unwrap();
        assert_eq!(u.cookbooks.len(), 1, "the unsafe name is skipped");
        let apt = &u.cookbooks["apt"];
        assert_eq!(apt.len(), 2, "the invalid version is skipped");
        let old = &apt[&Version::new(2, 9, 2)];
        assert_eq!(old.location_type, LocationType::Supermarket);
        assert_eq!(old.location_path, "https://supermarket.example/api/v1");
        assert_eq!(
            old.download_url,
            "https://supermarket.example/api/v1/cookbooks/apt/versions/2.9.2/download"
        );
        assert_eq!(old.dependencies["compat_resource"], ">= 12.16.3");
    }

    #[test]
    fn unknown_location_type_is_an_error_naming_the_entry() {
        let body = br#"{"apt": {"1.0.0": {"location_type": "ftp", "location_path": "x"}}}"#;
        let err = Universe::parse(&src(), body).unwrap_err().to_string();
        assert!(err.contains("apt.1.0.0.location_type"), "{err}");
        assert!(
            err.contains("https://supermarket.example/universe"),
            "{err}"
        );
    }

    #[test]
    fn first_source_wins_for_dependencies_but_all_versions_compete() {
        let a = Universe::parse(
            &src(),
            br#"{"x": {"1.0.0": {"location_type": "opscode", "location_path": "p", "dependencies": {"y": "~> 1.0"}}}}"#,
        )
        .unwrap();
        let b_src = Url::parse("https://other.example").unwrap();
        let b = Universe::parse(
            &b_src,
            br#"{"x": {"1.0.0": {"location_type": "opscode", "location_path": "p", "dependencies": {}},
                      "2.0.0": {"location_type": "opscode", "location_path": "p", "dependencies": {}}}}"#,
        )
        .unwrap();
        let all = Universes {
            sources: vec![a, b],
        };
        let merged = all.merged();
        assert_eq!(merged["x"].len(), 2);
        assert_eq!(merged["x"][&Version::new(1, 0, 0)]["y"], "~> 1.0");
        let (u, _) = all.find("x", &Version::new(2, 0, 0)).unwrap();
        assert_eq!(u.source.host_str(), Some("other.example"));
        let (u, _) = all.find("x", &Version::new(1, 0, 0)).unwrap();
        assert_eq!(u.source.host_str(), Some("supermarket.example"));
    }
}
