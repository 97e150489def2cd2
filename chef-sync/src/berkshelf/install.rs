//! Fetches what a resolution needs from the Berksfile's sources into the cookbook cache.
//!
//! For each resolved cookbook not already in the [`CookbookStore`], the first source whose
//! universe lists that exact name and version provides it ([`SourceClient::provide`]: a
//! Supermarket or Artifactory archive, a Chef server download, a chef_repo directory in
//! place); downloads run with bounded concurrency and extraction runs on the blocking pool.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use chef_api::error::ResponseError;
use chef_api::version::Version;
use futures::StreamExt;

use super::archive::{ArchiveError, CookbookStore};
use super::lockfile::{Lockfile, LockfileError, Update};
use super::resolver::{Catalog, Resolution, ResolveError, resolve};
use super::sources::{SourceClient, SourceError, SourceSet};
use super::supermarket::SupermarketClient;
use super::universes::Universes;
use super::{Berksfile, CookbookInfo};

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// No source lists the resolved version (Berkshelf's `MissingLockfileCookbookVersion`).
    #[error(
        "Cookbook '{name}' ({version}) not found in any of the sources! Please run `berks update {name}` to resolve to a valid version."
    )]
    NotInSources {
        /// Cookbook name.
        name: String,
        /// Version.
        version: Version,
    },
    /// Downloading failed.
    #[error("downloading {name} {version}: {source}")]
    Download {
        /// Cookbook name.
        name: String,
        /// Version.
        version: Version,
        /// The source's error (names the URL).
        #[source]
        source: SourceError,
    },
    /// The archive was refused or could not be extracted.
    #[error("installing {name} {version}: {source}")]
    Archive {
        /// Cookbook name.
        name: String,
        /// Version.
        version: Version,
        /// The archive error (names archive and entry).
        #[source]
        source: ArchiveError,
    },
}

/// Why `install_berksfile` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BerksInstallError {
    /// The lock is out of date or an update named an unknown cookbook.
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    /// Resolution is needed but the Berksfile declares no source (Berkshelf's
    /// `NoAPISourcesDefined`).
    #[error(
        "Your Berksfile does not define any sources. Add one, for example: source 'https://supermarket.chef.io'"
    )]
    NoSources,
    /// A `source` URL is not an http(s) URL.
    #[error("invalid source URL {url:?}: {reason}")]
    InvalidSource {
        /// The URL as written.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No versions satisfy the constraints.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Downloading or extracting failed.
    #[error(transparent)]
    Install(Box<InstallError>),
    /// Resolution failed while some sources could not be read: probably the cause, so they
    /// come first.
    #[error("These sources could not be read:\n{}\nWithout them: {resolve}", sources.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    SourcesUnavailable {
        /// The resolver's explanation.
        #[source]
        resolve: ResolveError,
        /// The sources' errors (each names the URL).
        sources: Vec<SourceError>,
    },
    /// A locked cookbook is not in the cache and no source that answered lists it, while some
    /// sources could not be read: the unreadable sources are the cause, not a missing
    /// cookbook.
    #[error("{name} {version} could not be fetched: these sources could not be read:\n{}", sources.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    SourcesUnreachable {
        /// Cookbook name.
        name: String,
        /// The locked version.
        version: Version,
        /// The sources' errors (each names the URL and the network error).
        sources: Vec<SourceError>,
    },
}

impl InstallError {
    /// The server's answer, when the download failed on one.
    pub fn response(&self) -> Option<&ResponseError> {
        match self {
            Self::Download { source, .. } => source.response(),
            _ => None,
        }
    }

    /// The HTTP status, when the download failed on the server's answer.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }
}

impl BerksInstallError {
    /// The server's answer, when a download failed on one. A resolution that failed while
    /// sources could not be read ([`BerksInstallError::SourcesUnavailable`]) failed on the
    /// constraints, not on an answer: `None`.
    pub fn response(&self) -> Option<&ResponseError> {
        match self {
            Self::Install(e) => e.response(),
            Self::SourcesUnreachable { sources, .. } => {
                sources.iter().find_map(SourceError::response)
            }
            _ => None,
        }
    }

    /// The HTTP status, when a download failed on the server's answer.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }
}

impl From<InstallError> for BerksInstallError {
    fn from(e: InstallError) -> Self {
        Self::Install(Box::new(e))
    }
}

/// What `install_berksfile` did.
#[derive(Debug)]
pub struct InstallOutcome {
    /// The lock to save (see [`Lockfile::save`]).
    pub lock: Lockfile,
    /// Supermarket cookbooks now in the cache, sorted by name.
    pub cookbooks: Vec<InstalledCookbook>,
    /// Whether resolution ran (false: the lock was trusted and installed verbatim).
    pub resolved: bool,
    /// Sources whose universe could not be fetched (Berkshelf warns and goes on).
    pub source_errors: Vec<SourceError>,
}

/// One cookbook in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledCookbook {
    /// Cookbook name.
    pub name: String,
    /// Version.
    pub version: Version,
    /// Its directory in the cache.
    pub path: PathBuf,
    /// Whether this run downloaded it (false: it was cached, or used in place).
    pub downloaded: bool,
}

/// Downloads and extracts cookbooks into a store.
#[derive(Debug, Clone)]
pub struct Installer {
    client: SupermarketClient,
    sources: Option<SourceSet>,
    store: Arc<CookbookStore>,
    concurrency: usize,
}

impl Installer {
    /// An installer using `client` for the Berksfile's Supermarket sources and `store`, 4
    /// downloads at a time.
    pub fn new(client: SupermarketClient, store: CookbookStore) -> Self {
        Self {
            client,
            sources: None,
            store: Arc::new(store),
            concurrency: 4,
        }
    }

    /// Uses these sources (every kind of `source` line, see [`SourceSet::from_berksfile`])
    /// instead of the Berksfile's Supermarket URLs through the client given to
    /// [`Installer::new`].
    pub fn with_sources(mut self, sources: SourceSet) -> Self {
        self.sources = Some(sources);
        self
    }

    /// Sets how many downloads run at once (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The store.
    pub fn store(&self) -> &CookbookStore {
        &self.store
    }

    /// Installs every cookbook of `resolution` except the names in `local` (path/git
    /// cookbooks), returning them sorted by name. Stops at the first failure. Each comes from
    /// the first universe listing it, through the source that universe came from (the
    /// [`Installer::with_sources`] set, else a Supermarket source over the installer's client).
    pub async fn install(
        &self,
        resolution: &Resolution,
        universes: &Universes,
        local: &BTreeSet<String>,
    ) -> Result<Vec<InstalledCookbook>, InstallError> {
        let sources = self.sources.clone().unwrap_or_default();
        self.install_from(&sources, resolution, universes, local)
            .await
    }

    async fn install_from(
        &self,
        sources: &SourceSet,
        resolution: &Resolution,
        universes: &Universes,
        local: &BTreeSet<String>,
    ) -> Result<Vec<InstalledCookbook>, InstallError> {
        // Collected first: a lazy iterator with closures inside the stream makes the future
        // fail rustc's `Send` proof (higher-ranked lifetimes), and callers need `Send`.
        let jobs: Vec<_> = resolution
            .iter()
            .filter(|(n, _)| !local.contains(*n))
            .map(|(n, v)| self.install_one(sources, n.clone(), *v, universes))
            .collect();
        let results: Vec<_> = futures::stream::iter(jobs)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut out = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `berks install` / `berks update`: uses the lock verbatim when it is trusted (fetching
    /// universes only if a locked cookbook is missing from the cache, local chef_repo sources
    /// first), else resolves against the sources with the locked versions pinned, installs,
    /// and returns
    /// the new lock. `local` are the path/git cookbooks' metadata, `git_revisions` their
    /// resolved commits (for the lock's `revision:` lines).
    pub async fn install_berksfile(
        &self,
        berksfile: &Berksfile,
        lock: Option<&Lockfile>,
        update: &Update,
        local: &[CookbookInfo],
        git_revisions: &BTreeMap<String, String>,
    ) -> Result<InstallOutcome, BerksInstallError> {
        let local_names: BTreeSet<String> = local.iter().map(|c| c.name.clone()).collect();
        let plan = match lock {
            Some(l) => Some(l.plan_with_local(berksfile, update, local)?),
            None => None,
        };
        let sources = match &self.sources {
            Some(s) => s.clone(),
            None => SourceSet::supermarkets(&self.client, &berksfile.supermarket_urls())
                .map_err(|(url, reason)| BerksInstallError::InvalidSource { url, reason })?,
        };
        if let Some(plan) = plan.as_ref().filter(|p| p.is_trusted()) {
            let resolution: Resolution = plan
                .lock
                .graph
                .values()
                .map(|g| (g.name.clone(), g.version))
                .collect();
            let missing: Vec<(String, Version)> = resolution
                .iter()
                .filter(|(n, v)| !local_names.contains(*n) && !self.store.contains(n, v))
                .map(|(n, v)| (n.clone(), *v))
                .collect();
            let (universes, source_errors) = if missing.is_empty() {
                (Universes::default(), Vec::new())
            } else {
                if sources.is_empty() {
                    return Err(BerksInstallError::NoSources);
                }
                sources.fetch_universes_for(&missing).await
            };
            let cookbooks = match self
                .install_from(&sources, &resolution, &universes, &local_names)
                .await
            {
                Ok(cookbooks) => cookbooks,
                Err(InstallError::NotInSources { name, version }) if !source_errors.is_empty() => {
                    return Err(BerksInstallError::SourcesUnreachable {
                        name,
                        version,
                        sources: source_errors,
                    });
                }
                Err(e) => return Err(e.into()),
            };
            return Ok(InstallOutcome {
                lock: plan.lock.clone(),
                cookbooks,
                resolved: false,
                source_errors,
            });
        }
        if sources.is_empty() && berksfile.dependencies.len() > local.len() {
            return Err(BerksInstallError::NoSources);
        }
        let (universes, source_errors) = sources.fetch_universes().await;
        let mut catalog = Catalog::from_universes(&universes);
        for cb in local {
            catalog.set_local(cb);
        }
        let demands: Vec<_> = berksfile
            .dependencies
            .iter()
            .map(|d| (d.name.clone(), d.constraint.clone()))
            .collect();
        let pins = plan.map(|p| p.pins).unwrap_or_default();
        let resolution = match resolve(&catalog, &demands, &pins) {
            Ok(r) => r,
            Err(resolve) if !source_errors.is_empty() => {
                return Err(BerksInstallError::SourcesUnavailable {
                    resolve,
                    sources: source_errors,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let cookbooks = self
            .install_from(&sources, &resolution, &universes, &local_names)
            .await?;
        let infos: Vec<CookbookInfo> = resolution
            .iter()
            .map(|(n, v)| CookbookInfo {
                name: n.clone(),
                version: *v,
                dependencies: catalog.dependencies(n, v).unwrap_or_default().to_vec(),
            })
            .collect();
        Ok(InstallOutcome {
            lock: Lockfile::from_install(berksfile, &infos, git_revisions),
            cookbooks,
            resolved: true,
            source_errors,
        })
    }

    async fn install_one(
        &self,
        sources: &SourceSet,
        name: String,
        version: Version,
        universes: &Universes,
    ) -> Result<InstalledCookbook, InstallError> {
        let path = self
            .store
            .path(&name, &version)
            .map_err(|source| InstallError::Archive {
                name: name.clone(),
                version,
                source,
            })?;
        if path.is_dir() {
            return Ok(InstalledCookbook {
                name,
                version,
                path,
                downloaded: false,
            });
        }
        let (universe, entry) =
            universes
                .find(&name, &version)
                .ok_or_else(|| InstallError::NotInSources {
                    name: name.clone(),
                    version,
                })?;
        let fallback;
        let source = match sources.get(&universe.source) {
            Some(s) => s,
            None => {
                fallback = SourceClient::Supermarket {
                    url: universe.source.clone(),
                    client: self.client.clone(),
                };
                &fallback
            }
        };
        let (path, downloaded) = source
            .provide(&name, &version, entry, &self.store)
            .await
            .map_err(|e| match e {
                SourceError::Store(source) => InstallError::Archive {
                    name: name.clone(),
                    version,
                    source,
                },
                source => InstallError::Download {
                    name: name.clone(),
                    version,
                    source,
                },
            })?;
        Ok(InstalledCookbook {
            name,
            version,
            path,
            downloaded,
        })
    }
}
