//! The files of every cookbook a lock names, found and checked against its identifier.
//!
//! * Path cookbooks (`cache_key: null`) are read from the repository, relative to the lock's
//!   directory. A recomputed identifier that differs from the lock's (the cookbook was edited
//!   after `chef install`) is an [`IdentifierMismatch`] naming the files that changed: those
//!   git reports as changed since the lock's `scm_info.revision`, else those modified after
//!   the lock file was written.
//! * Cached cookbooks are looked up by `cache_key` in chef-cli's own cache
//!   (`$CHEF_WORKSTATION_HOME/cache/cookbooks`, `~/.chef-workstation/...`, `~/.chefdk/...`)
//!   and in chef-sync's cache, and otherwise fetched into chef-sync's cache through the
//!   Berkshelf sources code: Supermarket-style `artifactserver` URLs, `artifactory` URLs
//!   (the same download with [`CookbookCache::artifactory`]'s API key header), `chef_server`
//!   cookbook versions (signed, with the configured client whose URL is the lock's) and `git`
//!   revisions. Their identifier must match too (chef-cli's `CachedCookbookModified`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::berkshelf::supermarket::SupermarketClient;
use chef_api::client::ChefClient;
use chef_api::cookbook::CookbookError;
use chef_api::universe::{LocationType, UniverseEntry};
use chef_api::version::Version;
use url::Url;

use super::identifier::CookbookIdentity;
use super::lock::{CookbookLock, LockSource, PolicyLock};
use crate::berkshelf::GitLocation;
use crate::berkshelf::archive::CookbookStore;
use crate::berkshelf::git::GitFetcher;
use crate::berkshelf::sources::{SourceClient, same_url};

/// A path cookbook whose files no longer hash to the lock's identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierMismatch {
    /// Cookbook name.
    pub cookbook: String,
    /// Its directory.
    pub dir: PathBuf,
    /// The lock's identifier.
    pub locked: String,
    /// The identifier of the files as they are.
    pub actual: String,
    /// Files (cookbook-relative) that changed, by the method in `found_by`.
    pub changed_files: Vec<String>,
    /// How `changed_files` was found.
    pub found_by: String,
}

impl std::fmt::Display for IdentifierMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cookbook '{}' ({}) changed since the lock was written: identifier {} is locked, the files hash to {}",
            self.cookbook,
            self.dir.display(),
            self.locked,
            self.actual
        )?;
        if self.changed_files.is_empty() {
            write!(f, "; no changed file found ({})", self.found_by)?;
        } else {
            write!(
                f,
                "; changed files ({}): {}",
                self.found_by,
                self.changed_files.join(", ")
            )?;
        }
        write!(f, " (run `chef update` or chef-sync's install to re-lock)")
    }
}

/// Why a locked cookbook's files could not be provided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockedCookbookError {
    /// A path cookbook was edited after the lock was written.
    #[error("{0}")]
    Changed(Box<IdentifierMismatch>),
    /// A cached copy does not hash to the lock's identifier.
    #[error(
        "cached cookbook '{cookbook}' at {} hashes to {actual}, the lock says {locked} (remove it from the cache to fetch it again)",
        dir.display()
    )]
    CachedModified {
        /// Cookbook name.
        cookbook: String,
        /// The cached directory.
        dir: PathBuf,
        /// The lock's identifier.
        locked: String,
        /// What the files hash to.
        actual: String,
    },
    /// The cookbook's directory could not be read.
    #[error("cookbook '{cookbook}': {source}")]
    Read {
        /// Cookbook name.
        cookbook: String,
        /// What went wrong (names the file).
        #[source]
        source: CookbookError,
    },
    /// Fetching a cached cookbook failed.
    #[error("cookbook '{cookbook}' {version}: cannot fetch it from {from}: {message}")]
    Fetch {
        /// Cookbook name.
        cookbook: String,
        /// Locked version.
        version: String,
        /// The source (URL or cache key).
        from: String,
        /// Why.
        message: String,
    },
    /// Not in any cache, and its source kind cannot be fetched by chef-sync.
    #[error(
        "cookbook '{cookbook}' {version}: not cached (looked for {cache_key:?} in {}) and {reason}; run `chef install` on this machine first",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotCached {
        /// Cookbook name.
        cookbook: String,
        /// Locked version.
        version: String,
        /// The lock's cache key.
        cache_key: Option<String>,
        /// Why it was not fetched (offline, or a source kind chef-sync does not fetch).
        reason: String,
        /// Cache directories searched.
        searched: Vec<PathBuf>,
    },
}

/// One locked cookbook with its files, identifier verified.
#[derive(Debug, Clone)]
pub struct LockedCookbook {
    /// The lock entry.
    pub lock: CookbookLock,
    /// Where the files are.
    pub dir: PathBuf,
    /// Files, metadata and identifiers.
    pub identity: CookbookIdentity,
}

/// Where cached cookbooks are looked for and fetched to.
#[derive(Debug, Clone)]
pub struct CookbookCache {
    /// chef-sync's cache root (`cookbooks/` extracted cookbooks, `git/` mirrors).
    pub root: PathBuf,
    /// Read-only caches searched by `cache_key` first (chef-cli's).
    pub chef_cli_caches: Vec<PathBuf>,
    /// Never fetch.
    pub offline: bool,
    /// The Supermarket client for `artifactserver` downloads (default: a plain one).
    pub supermarket: Option<SupermarketClient>,
    /// The client for `artifactory` downloads, carrying the API key header (default: one
    /// built from `ARTIFACTORY_API_KEY`, sent as `X-Jfrog-Art-Api`, or
    /// `ARTIFACTORY_IDENTITY_TOKEN`, sent as a bearer token, as chef-cli reads them; neither
    /// set: no key).
    pub artifactory: Option<SupermarketClient>,
    /// Signed clients for `chef_server` sources: the one whose server URL is the lock's
    /// `chef_server` URL downloads the cookbook version. A push fills it with its servers'
    /// clients when empty.
    pub chef_servers: Vec<ChefClient>,
}

impl Default for CookbookCache {
    fn default() -> Self {
        let root = crate::berkshelf::archive::default_cache_dir()
            .and_then(|d| d.parent().map(Path::to_owned))
            .unwrap_or_else(|| std::env::temp_dir().join("chef-sync"));
        Self {
            root,
            chef_cli_caches: chef_cli_cache_dirs(),
            offline: false,
            supermarket: None,
            artifactory: None,
            chef_servers: Vec::new(),
        }
    }
}

/// chef-cli's cookbook caches that exist: `$CHEF_WORKSTATION_HOME/cache/cookbooks`, else
/// `~/.chef-workstation/cache/cookbooks`, and ChefDK's `~/.chefdk/cache/cookbooks`.
pub fn chef_cli_cache_dirs() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut dirs = Vec::new();
    if let Some(h) = std::env::var_os("CHEF_WORKSTATION_HOME") {
        dirs.push(PathBuf::from(h).join("cache/cookbooks"));
    }
    if let Some(h) = &home {
        dirs.push(h.join(".chef-workstation/cache/cookbooks"));
        dirs.push(h.join(".chefdk/cache/cookbooks"));
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Finds (fetching when needed) and verifies every cookbook of `lock`, in the lock's order.
/// Cookbooks are read concurrently on the blocking pool.
///
/// # Errors
/// The first cookbook (in lock order) that could not be provided or does not match.
pub async fn load_locked(
    lock: &PolicyLock,
    cache: &CookbookCache,
) -> Result<Vec<LockedCookbook>, LockedCookbookError> {
    let lock_mtime = std::fs::metadata(lock.path())
        .and_then(|m| m.modified())
        .ok();
    let jobs = lock.cookbooks().iter().map(|c| {
        let base = lock.base_dir().to_path_buf();
        let cache = cache.clone();
        let c = c.clone();
        async move { load_one(c, &base, &cache, lock_mtime).await }
    });
    futures::future::join_all(jobs).await.into_iter().collect()
}

async fn load_one(
    lock: CookbookLock,
    base: &Path,
    cache: &CookbookCache,
    lock_mtime: Option<std::time::SystemTime>,
) -> Result<LockedCookbook, LockedCookbookError> {
    match &lock.source {
        LockSource::Local { path, scm_revision } => {
            let dir: PathBuf = base.join(path).components().collect();
            let identity = identify(&lock.name, &dir).await?;
            if identity.identifier != lock.identifier {
                let (changed_files, found_by) =
                    changed_files(&dir, scm_revision.as_deref(), lock_mtime, &identity);
                return Err(LockedCookbookError::Changed(Box::new(IdentifierMismatch {
                    cookbook: lock.name.clone(),
                    dir,
                    locked: lock.identifier.clone(),
                    actual: identity.identifier,
                    changed_files,
                    found_by,
                })));
            }
            Ok(LockedCookbook {
                lock,
                dir,
                identity,
            })
        }
        LockSource::Cached { cache_key, .. } => {
            let dir = match find_cached(&lock, cache_key.as_deref(), cache) {
                Some(dir) => dir,
                None => fetch(&lock, cache_key.as_deref(), cache).await?,
            };
            let identity = identify(&lock.name, &dir).await?;
            if identity.identifier != lock.identifier {
                return Err(LockedCookbookError::CachedModified {
                    cookbook: lock.name.clone(),
                    dir,
                    locked: lock.identifier.clone(),
                    actual: identity.identifier,
                });
            }
            Ok(LockedCookbook {
                lock,
                dir,
                identity,
            })
        }
    }
}

async fn identify(name: &str, dir: &Path) -> Result<CookbookIdentity, LockedCookbookError> {
    let owned = dir.to_path_buf();
    tokio::task::spawn_blocking(move || CookbookIdentity::load(&owned))
        .await
        .map_err(|e| LockedCookbookError::Fetch {
            cookbook: name.to_owned(),
            version: String::new(),
            from: dir.display().to_string(),
            message: format!("reading task failed: {e}"),
        })?
        .map_err(|source| LockedCookbookError::Read {
            cookbook: name.to_owned(),
            source,
        })
}

/// The cookbook's directory in a cache, if there: chef-cli's caches by `cache_key`, then
/// chef-sync's by `cache_key` and by `NAME-VERSION` / `NAME-REVISION`.
pub(super) fn find_cached(
    lock: &CookbookLock,
    cache_key: Option<&str>,
    cache: &CookbookCache,
) -> Option<PathBuf> {
    let key_ok = |k: &str| !k.is_empty() && !k.contains('/') && !k.contains("..");
    let mut candidates = Vec::new();
    if let Some(key) = cache_key.filter(|k| key_ok(k)) {
        candidates.extend(cache.chef_cli_caches.iter().map(|d| d.join(key)));
        candidates.push(cache.root.join("cookbooks").join(key));
    }
    if lock.option("git").is_some() {
        if let Some(rev) = lock.option("revision").filter(|r| key_ok(r)) {
            candidates.push(
                cache
                    .root
                    .join("cookbooks")
                    .join(format!("{}-{rev}", lock.name)),
            );
        }
    } else if key_ok(&lock.version) {
        candidates.push(
            cache
                .root
                .join("cookbooks")
                .join(format!("{}-{}", lock.name, lock.version)),
        );
    }
    candidates.into_iter().find(|d| d.is_dir())
}

/// The kind of source `source_options` describe (for messages).
fn source_kind(lock: &CookbookLock) -> &'static str {
    const KINDS: [&str; 6] = [
        "artifactserver",
        "git",
        "artifactory",
        "chef_server",
        "chef_server_artifact",
        "path",
    ];
    KINDS
        .into_iter()
        .find(|k| lock.source_options.contains_key(*k))
        .unwrap_or("unknown")
}

async fn fetch(
    lock: &CookbookLock,
    cache_key: Option<&str>,
    cache: &CookbookCache,
) -> Result<PathBuf, LockedCookbookError> {
    let fail = |from: &str, message: String| LockedCookbookError::Fetch {
        cookbook: lock.name.clone(),
        version: lock.version.clone(),
        from: from.to_owned(),
        message,
    };
    let not_cached = || LockedCookbookError::NotCached {
        cookbook: lock.name.clone(),
        version: lock.version.clone(),
        cache_key: cache_key.map(str::to_owned),
        reason: if cache.offline {
            "fetching is off (offline)".to_owned()
        } else {
            format!("{} sources are not fetched by chef-sync", source_kind(lock))
        },
        searched: cache
            .chef_cli_caches
            .iter()
            .cloned()
            .chain([cache.root.join("cookbooks")])
            .collect(),
    };
    if cache.offline {
        return Err(not_cached());
    }
    let store = CookbookStore::new(cache.root.join("cookbooks"));
    let download = lock
        .option("artifactserver")
        .map(|url| (url, false))
        .or_else(|| lock.option("artifactory").map(|url| (url, true)));
    if let Some((download, artifactory)) = download {
        let url = Url::parse(download).map_err(|e| fail(download, e.to_string()))?;
        let version: Version = lock
            .version
            .parse()
            .map_err(|e| fail(download, format!("version {:?}: {e}", lock.version)))?;
        let configured = if artifactory {
            &cache.artifactory
        } else {
            &cache.supermarket
        };
        let client = match configured {
            Some(c) => c.clone(),
            None if artifactory => {
                artifactory_client(|k| std::env::var(k).ok(), SupermarketClient::builder())
                    .map_err(|e| fail(download, e))?
                    .0
            }
            None => SupermarketClient::builder()
                .build()
                .map_err(|e| fail(download, e.to_string()))?,
        };
        let source = SourceClient::Supermarket {
            url: url.clone(),
            client,
        };
        let entry = UniverseEntry {
            location_type: LocationType::Supermarket,
            location_path: download.to_owned(),
            download_url: download.to_owned(),
            dependencies: Default::default(),
        };
        let (dir, _) = source
            .provide(&lock.name, &version, &entry, &store)
            .await
            .map_err(|e| fail(download, e.to_string()))?;
        return Ok(dir);
    }
    if let Some(server) = lock.option("chef_server") {
        let version: Version = lock
            .version
            .parse()
            .map_err(|e| fail(server, format!("version {:?}: {e}", lock.version)))?;
        let client = chef_server_client(&cache.chef_servers, server).ok_or_else(|| {
            fail(
                server,
                format!(
                    "no configured Chef server has this URL (configured: {})",
                    if cache.chef_servers.is_empty() {
                        "none".to_owned()
                    } else {
                        cache
                            .chef_servers
                            .iter()
                            .map(|c| c.server_url().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            )
        })?;
        let source = SourceClient::ChefServer {
            client: client.clone(),
        };
        let entry = UniverseEntry {
            location_type: LocationType::ChefServer,
            location_path: server.to_owned(),
            download_url: server.to_owned(),
            dependencies: Default::default(),
        };
        let (dir, _) = source
            .provide(&lock.name, &version, &entry, &store)
            .await
            .map_err(|e| fail(server, e.to_string()))?;
        return Ok(dir);
    }
    if let (Some(git), Some(revision)) = (lock.option("git"), lock.option("revision")) {
        let location = GitLocation {
            url: git.to_owned(),
            branch: lock.option("branch").map(str::to_owned),
            tag: lock.option("tag").map(str::to_owned),
            reference: lock.option("ref").map(str::to_owned),
            rel: lock.option("rel").map(str::to_owned),
        };
        let fetcher = GitFetcher::new(cache.root.join("git"), store.root()).offline(cache.offline);
        let (name, revision) = (lock.name.clone(), revision.to_owned());
        let checkout = tokio::task::spawn_blocking(move || {
            fetcher.checkout(&name, &location, Some(&revision))
        })
        .await
        .map_err(|e| fail(git, e.to_string()))?
        .map_err(|e| fail(git, e.to_string()))?;
        // A `rel:` checkout is already that subdirectory (the fetcher exports only it).
        return Ok(checkout.path);
    }
    Err(not_cached())
}

/// The first client of `url` among `clients` ([`same_url`]: scheme, host, port and path,
/// trailing slashes ignored).
fn chef_server_client<'a>(clients: &'a [ChefClient], url: &str) -> Option<&'a ChefClient> {
    clients
        .iter()
        .find(|c| same_url(c.server_url().as_str(), url))
}

/// A client for Artifactory's Supermarket API carrying chef-cli's credential:
/// `ARTIFACTORY_IDENTITY_TOKEN` as a bearer token, else `ARTIFACTORY_API_KEY` as
/// `X-Jfrog-Art-Api`, read through `env` (the process environment for a push, the install
/// options' environment for an install); blank values count as unset (cli:
/// policyfile/artifactory_cookbook_source.rb, auth_headers). The header goes to the
/// Artifactory host only. The warning says when neither is set. The one place install and
/// push build it.
pub(crate) fn artifactory_client(
    env: impl Fn(&str) -> Option<String>,
    builder: crate::berkshelf::supermarket::SupermarketClientBuilder,
) -> Result<(SupermarketClient, Option<String>), String> {
    use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let bad = |what: &str| format!("{what} is not a valid HTTP header value");
    let mut warning = None;
    let builder = if let Some(token) = env("ARTIFACTORY_IDENTITY_TOKEN") {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| bad("ARTIFACTORY_IDENTITY_TOKEN"))?;
        builder.with_header(AUTHORIZATION, value)
    } else if let Some(key) = env("ARTIFACTORY_API_KEY") {
        let value = HeaderValue::from_str(&key).map_err(|_| bad("ARTIFACTORY_API_KEY"))?;
        builder.with_header(
            HeaderName::from_static(crate::berkshelf::sources::ARTIFACTORY_HEADER),
            value,
        )
    } else {
        warning = Some(
            "neither ARTIFACTORY_IDENTITY_TOKEN nor ARTIFACTORY_API_KEY is set; asking without credentials"
                .to_owned(),
        );
        builder
    };
    let built = builder.build().map_err(|e| e.to_string())?;
    Ok((built, warning))
}

/// The files that changed in a path cookbook: by git against the locked revision when the
/// cookbook is in a work tree and the lock recorded one, else by modification time against
/// the lock file.
fn changed_files(
    dir: &Path,
    scm_revision: Option<&str>,
    lock_mtime: Option<std::time::SystemTime>,
    identity: &CookbookIdentity,
) -> (Vec<String>, String) {
    if let Some(rev) =
        scm_revision.filter(|r| r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()))
        && let Some(files) = git_changed(dir, rev)
    {
        let kept: BTreeSet<&str> = identity.files.iter().map(|f| f.path()).collect();
        let files: Vec<String> = files
            .into_iter()
            .filter(|f| kept.contains(f.as_str()) || !dir.join(f).exists())
            .collect();
        return (files, format!("git, since {}", &rev[..12]));
    }
    let Some(lock_mtime) = lock_mtime else {
        return (Vec::new(), "no git revision and no lock file time".into());
    };
    let files = identity
        .files
        .iter()
        .filter(|f| {
            std::fs::metadata(dir.join(f.path()))
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > lock_mtime)
        })
        .map(|f| f.path().to_owned())
        .collect();
    (files, "modified after the lock file".into())
}

/// `git diff --name-only REV` plus untracked files, relative to `dir`; `None` when git or the
/// revision is not available.
fn git_changed(dir: &Path, rev: &str) -> Option<Vec<String>> {
    let run = |args: &[&str]| -> Option<Vec<String>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
    };
    let mut files: BTreeSet<String> = run(&["diff", "--name-only", "--relative", rev, "--", "."])?
        .into_iter()
        .collect();
    files.extend(run(&[
        "ls-files",
        "--others",
        "--exclude-standard",
        "--",
        ".",
    ])?);
    Some(files.into_iter().collect())
}
