//! Fetches what a resolution needs from the Supermarket sources into the cookbook cache.
//!
//! For each resolved cookbook not already in the [`CookbookStore`], the first source whose
//! universe lists that exact name and version provides the archive; downloads run with bounded
//! concurrency and extraction runs on the blocking pool. Chef-server sources are not handled
//! here yet: their entries fail with [`SupermarketError::UnsupportedLocation`].

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use chef_api::supermarket::{SupermarketClient, SupermarketError, Universes};
use chef_api::version::Version;
use futures::StreamExt;

use super::archive::{ArchiveError, CookbookStore};
use super::resolver::Resolution;

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
        /// The client's error (names the URL).
        #[source]
        source: SupermarketError,
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

/// One cookbook in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledCookbook {
    /// Cookbook name.
    pub name: String,
    /// Version.
    pub version: Version,
    /// Its directory in the cache.
    pub path: PathBuf,
    /// Whether this run downloaded it (false: it was cached).
    pub downloaded: bool,
}

/// Downloads and extracts cookbooks into a store.
#[derive(Debug, Clone)]
pub struct Installer {
    client: SupermarketClient,
    store: Arc<CookbookStore>,
    concurrency: usize,
}

impl Installer {
    /// An installer using `client` and `store`, 4 downloads at a time.
    pub fn new(client: SupermarketClient, store: CookbookStore) -> Self {
        Self {
            client,
            store: Arc::new(store),
            concurrency: 4,
        }
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
    /// cookbooks), returning them sorted by name. Stops at the first failure.
    pub async fn install(
        &self,
        resolution: &Resolution,
        universes: &Universes,
        local: &BTreeSet<String>,
    ) -> Result<Vec<InstalledCookbook>, InstallError> {
        let jobs = resolution
            .iter()
            .filter(|(n, _)| !local.contains(*n))
            .map(|(n, v)| self.install_one(n.clone(), *v, universes));
        let results: Vec<_> = futures::stream::iter(jobs)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut out = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn install_one(
        &self,
        name: String,
        version: Version,
        universes: &Universes,
    ) -> Result<InstalledCookbook, InstallError> {
        let archive_err = |source| InstallError::Archive {
            name: name.clone(),
            version,
            source,
        };
        let path = self.store.path(&name, &version).map_err(archive_err)?;
        if path.is_dir() {
            return Ok(InstalledCookbook {
                name,
                version,
                path,
                downloaded: false,
            });
        }
        let (_, entry) =
            universes
                .find(&name, &version)
                .ok_or_else(|| InstallError::NotInSources {
                    name: name.clone(),
                    version,
                })?;
        let download = self
            .client
            .download_cookbook(&name, &version, entry, self.store.root())
            .await
            .map_err(|source| InstallError::Download {
                name: name.clone(),
                version,
                source,
            })?;
        let store = Arc::clone(&self.store);
        let (n, v) = (name.clone(), version);
        let path = tokio::task::spawn_blocking(move || {
            let r = store.install_archive(&n, &v, download.file.path());
            drop(download);
            r
        })
        .await
        .map_err(|e| {
            archive_err(ArchiveError::Io {
                path: self.store.root().to_owned(),
                source: std::io::Error::other(e.to_string()),
            })
        })?
        .map_err(archive_err)?;
        Ok(InstalledCookbook {
            name,
            version,
            path,
            downloaded: true,
        })
    }
}
