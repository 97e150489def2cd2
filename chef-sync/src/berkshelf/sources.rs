//! The Berksfile's `source` lines, made usable: each source answers its universe and installs
//! the cookbook versions it lists.
//!
//! | `source` line | universe | install |
//! |---|---|---|
//! | `source 'https://supermarket.chef.io'` (`supermarket:`) | `GET {url}/universe` | tarball download, extracted into the store |
//! | `source artifactory: URL, api_key: K` | the same with `X-Jfrog-Art-Api: K` | the same (the key never leaves Artifactory's host) |
//! | `source :chef_server` | signed `GET /universe` of each server knife's configuration names | signed manifest `GET`, every file MD5-checked, moved into the store |
//! | `source chef_server: URL, client_name:, client_key:` | the same for that server | the same |
//! | `source chef_repo: DIR` | the cookbooks in `DIR/cookbooks` (or `DIR`) | used in place |
//!
//! Supermarket and Artifactory universes are cached on disk and revalidated with
//! `If-None-Match`/`If-Modified-Since`. A Chef server's `/universe` answer carries no
//! validators (goiardi sends neither `ETag` nor `Last-Modified`), so it is fetched whenever
//! resolution needs it; a trusted lock with a warm cache needs none at all.
//!
//! A [`SourceSet`] keeps the Berksfile's order: for one name and version the first source
//! listing it provides it, while versions of all sources compete in resolution (Berkshelf's
//! rules).
//!
//! Deviation from Berkshelf, on purpose: a `chef_repo` cookbook is uploaded from its directory
//! (as knife would upload it from that repository, with its chefignore), not from a copy in the
//! cache, so an edit without a version bump is never hidden by a stale copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chef_api::client::ChefClient;
use chef_api::cookbook::metadata;
use chef_api::error::ResponseError;
use chef_api::ruby::Interpreter;
use chef_api::universe::{LocationType, Universe, UniverseEntry};
use chef_api::version::Version;
use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use super::archive::{ArchiveError, CookbookStore};
use super::supermarket::{SupermarketClient, SupermarketError};
use super::universes::Universes;
use super::{Berksfile, Source};
use crate::config::{KeySource, ServerSpec};

/// The header Artifactory reads its API key from (`X-Jfrog-Art-Api`; header names are
/// case-insensitive, and this spelling is the one `HeaderName` accepts as a constant).
pub const ARTIFACTORY_HEADER: &str = "x-jfrog-art-api";

/// Why a source could not be read (its universe) or could not provide a cookbook. Every
/// variant names the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A Supermarket or Artifactory source failed (names the URL).
    #[error(transparent)]
    Supermarket(#[from] SupermarketError),
    /// A Chef server source failed (the error names the URL and the server's message).
    #[error("Chef server source {url}: {source}")]
    ChefServer {
        /// The server URL.
        url: String,
        /// The client's error.
        #[source]
        source: Box<chef_api::Error>,
    },
    /// Downloading a cookbook from a Chef server source failed.
    #[error("Chef server source {url}: {source}")]
    ChefServerDownload {
        /// The server URL.
        url: String,
        /// The download's error (names the file).
        #[source]
        source: Box<chef_api::download::DownloadError>,
    },
    /// A `chef_repo` directory could not be read, or holds a cookbook whose metadata is bad.
    #[error("chef_repo source {}: {message}", path.display())]
    ChefRepo {
        /// The directory (or the cookbook in it).
        path: PathBuf,
        /// What went wrong (the metadata error names its file and line).
        message: String,
    },
    /// A downloaded cookbook could not be moved into the store.
    #[error(transparent)]
    Store(#[from] ArchiveError),
    /// A background task (extraction, directory scan) panicked or was cancelled.
    #[error("{what} did not finish: {message}")]
    Task {
        /// What the task was doing.
        what: String,
        /// What happened to it.
        message: String,
    },
    /// The universe lists the version with a location type this source cannot provide.
    #[error(
        "{url}: cookbook {name} {version} has location type {location_type}, which this source cannot provide"
    )]
    Unsupported {
        /// The source URL.
        url: String,
        /// Cookbook name.
        name: String,
        /// Cookbook version.
        version: Version,
        /// The universe's location type.
        location_type: LocationType,
    },
}

impl SourceError {
    /// The server's answer, when the source's request failed on one (a Supermarket's or
    /// Artifactory's status, a Chef server's error).
    pub fn response(&self) -> Option<&ResponseError> {
        match self {
            Self::Supermarket(e) => e.response(),
            Self::ChefServer { source, .. } => source.response(),
            Self::ChefServerDownload { source, .. } => source.response(),
            _ => None,
        }
    }

    /// The HTTP status, when the source's request failed on the server's answer.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }
}

impl SourceConfigError {
    /// The Berksfile whose `source` line is at fault.
    pub fn berksfile(&self) -> &Path {
        match self {
            Self::InvalidUrl { berksfile, .. }
            | Self::ChefServerCredentials { berksfile, .. }
            | Self::ChefServerClient { berksfile, .. }
            | Self::ChefRepo { berksfile, .. }
            | Self::Client { berksfile, .. } => berksfile,
        }
    }
}

/// Why the Berksfile's `source` lines could not be turned into sources.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceConfigError {
    /// A source URL is not a URL.
    #[error("{}: source {url:?} is not a valid URL: {reason}", berksfile.display())]
    InvalidUrl {
        /// The Berksfile.
        berksfile: PathBuf,
        /// The URL as written.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// `source chef_server: URL` without `client_name:`/`client_key:` and no knife
    /// configuration to take them from.
    #[error(
        "{}: source chef_server: {url:?} needs client_name: and client_key: (no knife configuration names a client to sign with)",
        berksfile.display()
    )]
    ChefServerCredentials {
        /// The Berksfile.
        berksfile: PathBuf,
        /// The server URL.
        url: String,
    },
    /// A Chef server client could not be built (key unreadable, bad CA file, ...).
    #[error("{}: source chef_server {url}: {message}", berksfile.display())]
    ChefServerClient {
        /// The Berksfile.
        berksfile: PathBuf,
        /// The server URL.
        url: String,
        /// The configuration's error (names the key or certificate file).
        message: String,
    },
    /// A `chef_repo:` directory cannot be used.
    #[error("{}: source chef_repo: {}: {message}", berksfile.display(), path.display())]
    ChefRepo {
        /// The Berksfile.
        berksfile: PathBuf,
        /// The directory as written.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An HTTP client for a Supermarket or Artifactory source could not be built.
    #[error("{}: source {url}: {source}", berksfile.display())]
    Client {
        /// The Berksfile.
        berksfile: PathBuf,
        /// The source URL.
        url: String,
        /// The builder's error.
        #[source]
        source: SupermarketError,
    },
}

/// One source, ready to use.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SourceClient {
    /// A Supermarket, Berkshelf-API or Artifactory server (Artifactory: a client that sends
    /// the API key header to that host only).
    Supermarket {
        /// The source URL.
        url: Url,
        /// The client.
        client: SupermarketClient,
    },
    /// A Chef Infra Server (signed requests).
    ChefServer {
        /// The client, its URL the organisation's.
        client: ChefClient,
    },
    /// A local repository of cookbooks.
    ChefRepo {
        /// `DIR/cookbooks` when that exists, else `DIR` (absolute).
        dir: PathBuf,
        /// Its `file://` URL (what its [`Universe::source`] says).
        url: Url,
        /// Evaluates the cookbooks' `metadata.rb` files (the Berksfile's `ENV`).
        interp: Interpreter,
    },
}

impl SourceClient {
    /// A `chef_repo` source over `dir` (`dir/cookbooks` when it exists), reading metadata with
    /// `interp`.
    ///
    /// # Errors
    /// [`SourceError::ChefRepo`] when the directory cannot be made absolute or into a URL.
    pub fn chef_repo(dir: &Path, interp: Interpreter) -> Result<Self, SourceError> {
        let bad = |message: &str| SourceError::ChefRepo {
            path: dir.to_owned(),
            message: message.to_owned(),
        };
        let dir = std::path::absolute(dir).map_err(|e| bad(&e.to_string()))?;
        let dir = if dir.join("cookbooks").is_dir() {
            dir.join("cookbooks")
        } else {
            dir
        };
        let url = Url::from_directory_path(&dir)
            .map_err(|()| bad("cannot be written as a file:// URL"))?;
        Ok(Self::ChefRepo { dir, url, interp })
    }

    /// The URL identifying this source (the [`Universe::source`] of its universe).
    pub fn url(&self) -> &Url {
        match self {
            Self::Supermarket { url, .. } | Self::ChefRepo { url, .. } => url,
            Self::ChefServer { client } => client.server_url(),
        }
    }

    /// Whether reading this source needs no network (`chef_repo`).
    pub fn is_local(&self) -> bool {
        matches!(self, Self::ChefRepo { .. })
    }

    /// This source's universe.
    ///
    /// # Errors
    /// [`SourceError`] naming the source: unreachable, an error status, a document that is not
    /// a universe, or (chef_repo) a cookbook with bad metadata.
    pub async fn universe(&self) -> Result<Universe, SourceError> {
        match self {
            Self::Supermarket { url, client } => Ok(client.fetch_universe(url).await?),
            Self::ChefServer { client } => {
                client
                    .universe()
                    .await
                    .map_err(|source| SourceError::ChefServer {
                        url: client.server_url().to_string(),
                        source: Box::new(source),
                    })
            }
            Self::ChefRepo { dir, url, interp } => {
                let (dir, url, interp) = (dir.clone(), url.clone(), interp.clone());
                let what = format!("reading the chef_repo source {}", dir.display());
                tokio::task::spawn_blocking(move || chef_repo_universe(&dir, url, &interp))
                    .await
                    .map_err(|e| SourceError::Task {
                        what,
                        message: e.to_string(),
                    })?
            }
        }
    }

    /// Provides `name` at `version`, listed as `entry` in this source's universe: downloaded
    /// into `store` (Supermarket, Artifactory, Chef server) or found in place (chef_repo).
    /// Returns the cookbook's directory and whether anything was downloaded.
    ///
    /// # Errors
    /// [`SourceError`] naming the source and the cookbook.
    pub async fn provide(
        &self,
        name: &str,
        version: &Version,
        entry: &UniverseEntry,
        store: &CookbookStore,
    ) -> Result<(PathBuf, bool), SourceError> {
        let unsupported = || SourceError::Unsupported {
            url: self.url().to_string(),
            name: name.to_owned(),
            version: *version,
            location_type: entry.location_type,
        };
        match (self, entry.location_type) {
            (Self::Supermarket { client, .. }, lt) if lt.is_downloadable() => {
                let download = client
                    .download_cookbook(name, version, entry, store.root())
                    .await?;
                let store = store.clone();
                let (n, v) = (name.to_owned(), *version);
                let path = tokio::task::spawn_blocking(move || {
                    let r = store.install_archive(&n, &v, download.file.path());
                    drop(download);
                    r
                })
                .await
                .map_err(|e| SourceError::Task {
                    what: format!("extracting {name} {version}"),
                    message: e.to_string(),
                })??;
                Ok((path, true))
            }
            (Self::ChefServer { client }, LocationType::ChefServer) => {
                let path = download_from_chef_server(client, name, version, store).await?;
                Ok((path, true))
            }
            (Self::ChefRepo { .. }, LocationType::FileStore) => {
                Ok((PathBuf::from(&entry.location_path), false))
            }
            _ => Err(unsupported()),
        }
    }
}

/// Downloads `name` `version` from a Chef server into a staging directory of `store` (every
/// file checked against its MD5), adds `metadata.json` from the manifest when the server holds
/// neither metadata file, and moves it into place.
async fn download_from_chef_server(
    client: &ChefClient,
    name: &str,
    version: &Version,
    store: &CookbookStore,
) -> Result<PathBuf, SourceError> {
    let url = client.server_url().to_string();
    let staging = store.staging(name, version)?;
    let dir = staging.path().join(name);
    let got = chef_api::download::download_cookbook(client, name, &version.to_string(), &dir)
        .await
        .map_err(|source| SourceError::ChefServerDownload {
            url: url.clone(),
            source: Box::new(source),
        })?;
    if !dir.join("metadata.json").is_file() && !dir.join("metadata.rb").is_file() {
        let meta = got
            .manifest
            .get("metadata")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let path = dir.join("metadata.json");
        let body = serde_json::to_vec_pretty(&meta).unwrap_or_default();
        std::fs::write(&path, body).map_err(|source| ArchiveError::Io { path, source })?;
    }
    let origin = PathBuf::from(format!("{url}/cookbooks/{name}/{version}"));
    let store = store.clone();
    let (n, v) = (name.to_owned(), *version);
    tokio::task::spawn_blocking(move || {
        let r = store.commit(&n, &v, &dir, &origin);
        drop(staging);
        r
    })
    .await
    .map_err(|e| SourceError::Task {
        what: format!("installing {name} {version}"),
        message: e.to_string(),
    })?
    .map_err(SourceError::from)
}

/// The cookbooks directly under `dir` as a universe (`location_type: file_store`,
/// `location_path` = the cookbook's directory). Hidden entries, files and directories without
/// metadata are skipped, as Berkshelf does; for a name and version found twice the first
/// directory (by name) wins.
fn chef_repo_universe(dir: &Path, url: Url, interp: &Interpreter) -> Result<Universe, SourceError> {
    let bad = |path: &Path, message: String| SourceError::ChefRepo {
        path: path.to_owned(),
        message,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, e.to_string()))?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    let mut cookbooks: BTreeMap<String, BTreeMap<Version, UniverseEntry>> = BTreeMap::new();
    for path in entries {
        if !path.join("metadata.json").is_file() && !path.join("metadata.rb").is_file() {
            continue;
        }
        let loaded = metadata::load_with(&path, interp).map_err(|e| bad(&path, e.to_string()))?;
        let m = loaded.metadata;
        let version = Version::parse(m.version()).map_err(|e| bad(&path, e.to_string()))?;
        let location = path.to_string_lossy().into_owned();
        let download_url = Url::from_directory_path(&path)
            .map(|u| u.to_string())
            .unwrap_or_else(|()| location.clone());
        cookbooks
            .entry(m.name().to_owned())
            .or_default()
            .entry(version)
            .or_insert_with(|| UniverseEntry {
                location_type: LocationType::FileStore,
                location_path: location,
                download_url,
                dependencies: m
                    .dependencies()
                    .map(|(n, c)| (n.to_owned(), c.to_owned()))
                    .collect(),
            });
    }
    Ok(Universe {
        source: url,
        cookbooks,
    })
}

/// What turning `source` lines into [`SourceClient`]s needs besides the Berksfile.
#[derive(Debug, Clone)]
pub struct SourceContext<'a> {
    /// The Berksfile (relative `chef_repo:` and `client_key:` paths resolve against its
    /// directory; errors name it).
    pub berksfile: &'a Path,
    /// The client for Supermarket sources (shared: one connection pool, one universe cache).
    pub supermarket: &'a SupermarketClient,
    /// Universe cache directory for Artifactory sources' own clients.
    pub universe_cache: Option<PathBuf>,
    /// The servers knife's configuration names, in order: what `source :chef_server` stands
    /// for, and where `source chef_server: URL` takes a client name, key and TLS settings it
    /// does not give itself.
    pub chef_servers: &'a [ServerSpec],
    /// The Berksfile's `ENV` (`ARTIFACTORY_API_KEY`).
    pub env: &'a BTreeMap<String, String>,
    /// Evaluates `metadata.rb` of `chef_repo` cookbooks.
    pub interp: &'a Interpreter,
}

/// The Berksfile's sources in priority order.
#[derive(Debug, Clone, Default)]
pub struct SourceSet {
    sources: Vec<SourceClient>,
}

impl SourceSet {
    /// A set of these sources, first = highest priority.
    pub fn new(sources: Vec<SourceClient>) -> Self {
        Self { sources }
    }

    /// Supermarket sources at `urls`, all through `client`.
    ///
    /// # Errors
    /// The first URL that does not parse, with the parser's reason.
    pub fn supermarkets(
        client: &SupermarketClient,
        urls: &[&str],
    ) -> Result<Self, (String, String)> {
        let sources = urls
            .iter()
            .map(|u| {
                Url::parse(u)
                    .map(|url| SourceClient::Supermarket {
                        url,
                        client: client.clone(),
                    })
                    .map_err(|e| ((*u).to_owned(), e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { sources })
    }

    /// The Berksfile's `source` lines as clients, in order. Returns the set and warnings (an
    /// Artifactory source without a key, `source :chef_server` without any configured server).
    ///
    /// # Errors
    /// [`SourceConfigError`] naming the Berksfile and the source.
    pub fn from_berksfile(
        berksfile: &Berksfile,
        ctx: &SourceContext<'_>,
    ) -> Result<(Self, Vec<String>), SourceConfigError> {
        let dir = ctx.berksfile.parent().unwrap_or(Path::new("."));
        let mut sources = Vec::new();
        let mut warnings = Vec::new();
        let parse = |u: &str| {
            Url::parse(u).map_err(|e| SourceConfigError::InvalidUrl {
                berksfile: ctx.berksfile.to_owned(),
                url: u.to_owned(),
                reason: e.to_string(),
            })
        };
        for source in &berksfile.sources {
            match source {
                Source::Supermarket { url } => sources.push(SourceClient::Supermarket {
                    url: parse(url)?,
                    client: ctx.supermarket.clone(),
                }),
                Source::Artifactory { url, api_key } => {
                    let parsed = parse(url)?;
                    let key = api_key
                        .as_ref()
                        .map(|k| k.expose().to_owned())
                        .or_else(|| ctx.env.get("ARTIFACTORY_API_KEY").cloned());
                    let mut builder =
                        SupermarketClient::builder().with_retry(ctx.supermarket.retry().clone());
                    if let Some(dir) = &ctx.universe_cache {
                        builder = builder.with_cache_dir(dir.clone());
                    }
                    let client_err = |source| SourceConfigError::Client {
                        berksfile: ctx.berksfile.to_owned(),
                        url: url.clone(),
                        source,
                    };
                    match key {
                        Some(k) => {
                            let value = reqwest_header_value(&k).ok_or_else(|| {
                                client_err(SupermarketError::InvalidUrl {
                                    url: url.clone(),
                                    reason: "the Artifactory API key is not a valid header value"
                                        .to_owned(),
                                })
                            })?;
                            builder = builder.with_header(
                                HeaderName::from_static(ARTIFACTORY_HEADER),
                                value,
                            );
                        }
                        None => warnings.push(format!(
                            "{}: source artifactory: {url} has no api_key: and ENV has no ARTIFACTORY_API_KEY; asking without a key",
                            ctx.berksfile.display()
                        )),
                    }
                    sources.push(SourceClient::Supermarket {
                        url: parsed,
                        client: builder.build().map_err(client_err)?,
                    });
                }
                Source::ChefServer {
                    url: None,
                    client_name: None,
                    client_key: None,
                } => {
                    if ctx.chef_servers.is_empty() {
                        warnings.push(format!(
                            "{}: source :chef_server, but no Chef server is configured; it is skipped",
                            ctx.berksfile.display()
                        ));
                    }
                    for spec in ctx.chef_servers {
                        sources.push(chef_server_source(ctx, spec)?);
                    }
                }
                Source::ChefServer {
                    url,
                    client_name,
                    client_key,
                } => {
                    let template = url
                        .as_deref()
                        .and_then(|u| ctx.chef_servers.iter().find(|s| same_url(&s.url, u)))
                        .or_else(|| ctx.chef_servers.first());
                    let url = url.clone().or_else(|| template.map(|t| t.url.clone()));
                    let creds_err = || SourceConfigError::ChefServerCredentials {
                        berksfile: ctx.berksfile.to_owned(),
                        url: url.clone().unwrap_or_default(),
                    };
                    let url = url.clone().ok_or_else(creds_err)?;
                    let key = client_key.as_ref().map(|k| KeySource::Path(dir.join(k)));
                    let spec = match template {
                        Some(t) => {
                            let mut s = t.clone();
                            s.url = url.clone();
                            if let Some(n) = client_name {
                                s.client_name = n.clone();
                            }
                            if let Some(k) = key {
                                s.key = k;
                            }
                            s
                        }
                        None => match (client_name, key) {
                            (Some(n), Some(k)) => {
                                ServerSpec::new(&url, &url, n, k).map_err(|e| {
                                    SourceConfigError::ChefServerClient {
                                        berksfile: ctx.berksfile.to_owned(),
                                        url: url.clone(),
                                        message: e.to_string(),
                                    }
                                })?
                            }
                            _ => return Err(creds_err()),
                        },
                    };
                    sources.push(chef_server_source(ctx, &spec)?);
                }
                Source::ChefRepo { path } => {
                    let interp = ctx.interp.clone();
                    let client = SourceClient::chef_repo(&dir.join(path), interp).map_err(|e| {
                        SourceConfigError::ChefRepo {
                            berksfile: ctx.berksfile.to_owned(),
                            path: path.clone(),
                            message: e.to_string(),
                        }
                    })?;
                    sources.push(client);
                }
            }
        }
        // The same server named twice (`:chef_server` and its URL) is asked once.
        let mut seen = Vec::new();
        sources.retain(|s| {
            let u = s.url().to_string();
            if seen.contains(&u) {
                false
            } else {
                seen.push(u);
                true
            }
        });
        Ok((Self { sources }, warnings))
    }

    /// The sources, highest priority first.
    pub fn sources(&self) -> &[SourceClient] {
        &self.sources
    }

    /// Whether there are no sources.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The source whose universe says `url`.
    pub fn get(&self, url: &Url) -> Option<&SourceClient> {
        self.sources.iter().find(|s| s.url() == url)
    }

    /// Every source's universe, fetched concurrently and kept in priority order. A failing
    /// source contributes nothing (Berkshelf warns and goes on); its error is returned beside.
    pub async fn fetch_universes(&self) -> (Universes, Vec<SourceError>) {
        fetch(self.sources.iter()).await
    }

    /// The universes needed to provide `wanted`: the local (`chef_repo`) sources first, and
    /// the remote ones only when the local ones do not list every wanted version. A trusted
    /// lock whose missing cookbooks all live in a chef_repo thus needs no network.
    pub async fn fetch_universes_for(
        &self,
        wanted: &[(String, Version)],
    ) -> (Universes, Vec<SourceError>) {
        let (local, errors) = self.fetch_local_universes().await;
        if errors.is_empty() && wanted.iter().all(|(n, v)| local.find(n, v).is_some()) {
            return (local, errors);
        }
        self.fetch_universes().await
    }

    /// The universes of the local (`chef_repo`) sources only: reading them uses no network.
    pub async fn fetch_local_universes(&self) -> (Universes, Vec<SourceError>) {
        fetch(self.sources.iter().filter(|s| s.is_local())).await
    }
}

async fn fetch(sources: impl Iterator<Item = &SourceClient>) -> (Universes, Vec<SourceError>) {
    Universes::collect(futures::future::join_all(sources.map(SourceClient::universe)).await)
}

fn chef_server_source(
    ctx: &SourceContext<'_>,
    spec: &ServerSpec,
) -> Result<SourceClient, SourceConfigError> {
    let client = spec
        .client()
        .map_err(|e| SourceConfigError::ChefServerClient {
            berksfile: ctx.berksfile.to_owned(),
            url: spec.url.clone(),
            message: e.to_string(),
        })?;
    Ok(SourceClient::ChefServer { client })
}

/// Do two server URLs name the same organisation (ignoring a trailing slash and case of the
/// scheme and host)?
pub(crate) fn same_url(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
        }
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}

fn reqwest_header_value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_one_organisation_compare_equal() {
        assert!(same_url(
            "https://Chef.example/organizations/o/",
            "https://chef.example:443/organizations/o"
        ));
        assert!(!same_url(
            "https://chef.example/organizations/o",
            "https://chef.example/organizations/p"
        ));
    }
}
