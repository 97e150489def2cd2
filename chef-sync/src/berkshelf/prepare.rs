//! The sync engine's entry point: from a Berksfile to the cookbook directories to upload.
//!
//! [`prepare`] evaluates the Berksfile, reads `Berksfile.lock`, reads path cookbooks in place and
//! checks git cookbooks out (at their locked revision when the lock has one), then lets the
//! [`Installer`] use the lock verbatim when it is trusted (no network at all when every cookbook
//! is already cached) or resolve against the Berksfile's sources (Supermarket, Artifactory,
//! Chef servers, chef_repo directories: [`super::sources`]). The lock is written, in
//! Berkshelf's format, only when its text changes.
//!
//! ```no_run
//! # async fn f() -> Result<(), chef_sync::berkshelf::prepare::PrepareError> {
//! use chef_sync::berkshelf::prepare::{PrepareOptions, prepare};
//! use std::path::Path;
//! let repo = Path::new("/srv/chef-repo");
//! let prepared = prepare(repo, &repo.join("Berksfile"), &PrepareOptions::default()).await?;
//! for dir in &prepared.cookbook_dirs {
//!     println!("upload {}", dir.display()); // dependencies first
//! }
//! # Ok(()) }
//! ```

use crate::position::Position;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chef_api::cookbook::metadata::{self, MetadataError};
use chef_api::error::ResponseError;
use chef_api::ruby::Interpreter;
use chef_api::version::Version;

use super::archive::{CookbookStore, default_cache_dir};
use super::dsl::{self, BerksfileError};
use super::git::{GitError, GitFetcher};
use super::install::{BerksInstallError, Installer};
use super::lockfile::{LockLocation, Lockfile, LockfileError, Update};
use super::sources::{SourceConfigError, SourceContext, SourceSet};
use super::supermarket::{SupermarketClient, SupermarketError};
use super::{CookbookInfo, GitLocation, Location};
use crate::config::ServerSpec;

/// How [`prepare`] runs. Its `Debug` shows the names in `env`, never their values (an
/// `ARTIFACTORY_API_KEY` is a secret).
#[derive(Clone, Default)]
pub struct PrepareOptions {
    /// `berks install` ([`Update::None`]) or `berks update` (all or some cookbooks).
    pub update: Update,
    /// Cache root: `cookbooks/` (Supermarket and git cookbooks), `git/` (bare mirrors),
    /// `universe/` (universe cache). Default: the parent of
    /// [`default_cache_dir`], else `$TMPDIR/chef-sync`.
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network: the lock must be trusted and every cookbook cached.
    pub offline: bool,
    /// What `ENV` contains for the Berksfile and metadata.rb files (never the process's).
    pub env: BTreeMap<String, String>,
    /// The Supermarket client to use (default: one with the universe cache under
    /// `cache_dir`).
    pub client: Option<SupermarketClient>,
    /// `berks --only`: only dependencies in one of these groups (empty: no filter).
    pub only: Vec<String>,
    /// `berks --except`: leave out dependencies in any of these groups.
    pub except: Vec<String>,
    /// The Chef servers of knife's configuration, in order: what `source :chef_server`
    /// stands for (each one a source), and where `source chef_server: URL` takes the client
    /// name, key and TLS settings it does not give itself. The sync sets these to the servers
    /// it syncs to.
    pub chef_servers: Vec<ServerSpec>,
}

impl std::fmt::Debug for PrepareOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrepareOptions")
            .field("update", &self.update)
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("client", &self.client)
            .field("only", &self.only)
            .field("except", &self.except)
            .field("chef_servers", &self.chef_servers)
            .finish()
    }
}

/// One cookbook to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedCookbook {
    /// Cookbook name.
    pub name: String,
    /// Locked version.
    pub version: Version,
    /// Its directory: in place for path cookbooks, in the cache otherwise.
    pub path: PathBuf,
}

/// What [`prepare`] produced.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Every cookbook of the lock graph, dependencies before dependents.
    pub cookbooks: Vec<PreparedCookbook>,
    /// The same directories, in the same order.
    pub cookbook_dirs: Vec<PathBuf>,
    /// The lock file's path.
    pub lock_path: PathBuf,
    /// Whether the lock file was (re)written.
    pub lock_written: bool,
    /// Whether dependency resolution ran (false: the lock was used verbatim).
    pub resolved: bool,
    /// `name-version` of the cookbooks downloaded by this run.
    pub downloaded: Vec<String>,
    /// Non-fatal findings, each `file:line: message` or naming a source URL.
    pub warnings: Vec<String>,
}

/// Why [`prepare`] failed. Every variant names the Berksfile line, the lock line, the
/// cookbook directory or the source URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The Berksfile could not be read or evaluated.
    #[error(transparent)]
    Berksfile(#[from] BerksfileError),
    /// The lock file is malformed, or out of date for the Berksfile.
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    /// A path or git cookbook's metadata could not be read.
    #[error("{}:{line}: cookbook '{name}': {source}", berksfile.display())]
    Metadata {
        /// The Berksfile.
        berksfile: PathBuf,
        /// Its line declaring the cookbook.
        line: u32,
        /// The cookbook.
        name: String,
        /// The metadata error (file, line).
        #[source]
        source: MetadataError,
    },
    /// A path or git cookbook's metadata names another cookbook (`MismatchedCookbookName`).
    #[error("{}:{line}: the cookbook at {} is named '{found}', not '{name}'", berksfile.display(), path.display())]
    MismatchedName {
        /// The Berksfile.
        berksfile: PathBuf,
        /// Its line declaring the cookbook.
        line: u32,
        /// The name in the Berksfile.
        name: String,
        /// The name in the metadata.
        found: String,
        /// The cookbook directory.
        path: PathBuf,
    },
    /// A path or git cookbook's version does not satisfy the Berksfile's constraint
    /// (`CookbookValidationFailure`).
    #[error("{}:{line}: the cookbook at {} is {name} {version}, which does not satisfy '{constraint}'", berksfile.display(), path.display())]
    ConstraintNotSatisfied {
        /// The Berksfile.
        berksfile: PathBuf,
        /// Its line declaring the cookbook.
        line: u32,
        /// Cookbook name.
        name: String,
        /// The constraint.
        constraint: String,
        /// The version found (as written in the metadata).
        version: String,
        /// The cookbook directory.
        path: PathBuf,
    },
    /// A git location could not be fetched.
    #[error("{}:{line}: cookbook '{name}': {source}", berksfile.display())]
    Git {
        /// The Berksfile.
        berksfile: PathBuf,
        /// Its line declaring the cookbook.
        line: u32,
        /// Cookbook name.
        name: String,
        /// The git error (names the URL).
        #[source]
        source: GitError,
    },
    /// Resolving or downloading failed (names the cookbook and source URL).
    #[error(transparent)]
    Install(#[from] BerksInstallError),
    /// The Supermarket client could not be built.
    #[error("building the Supermarket client: {0}")]
    Client(#[source] SupermarketError),
    /// A `source` line could not be turned into a source (names the Berksfile and source).
    #[error(transparent)]
    Source(#[from] SourceConfigError),
    /// `only` and `except` were both given (Berkshelf refuses that too).
    #[error("--only and --except cannot be used together")]
    OnlyAndExcept,
    /// Offline mode, but the lock cannot be used verbatim from the cache.
    #[error("offline: {reason}")]
    Offline {
        /// Why the network would be needed.
        reason: String,
    },
}

impl PrepareError {
    /// The server's answer, when a source's request failed on one (see
    /// [`BerksInstallError::response`]).
    pub fn response(&self) -> Option<&ResponseError> {
        match self {
            Self::Install(e) => e.response(),
            Self::Client(e) => e.response(),
            _ => None,
        }
    }

    /// The HTTP status, when a source's request failed on the server's answer.
    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }

    /// Where in the Berksfile (or its lock) the problem is, typed; `None` for failures of a
    /// source or a download, which are not the files' fault.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Berksfile(BerksfileError::Io { path, .. }) => Some(Position::file(path.clone())),
            Self::Berksfile(BerksfileError::Eval(e)) => Some(Position::from(e)),
            Self::Lockfile(LockfileError::Parse { path, line, .. }) => Some(Position::at(
                path.clone(),
                u32::try_from(*line).unwrap_or(u32::MAX),
                None,
            )),
            Self::Lockfile(LockfileError::Io { path, .. }) => Some(Position::file(path.clone())),
            Self::Metadata {
                berksfile, line, ..
            }
            | Self::MismatchedName {
                berksfile, line, ..
            }
            | Self::ConstraintNotSatisfied {
                berksfile, line, ..
            }
            | Self::Git {
                berksfile, line, ..
            } => Some(Position::at(berksfile.clone(), *line, None)),
            Self::Source(e) => Some(Position::file(e.berksfile().to_path_buf())),
            _ => None,
        }
    }
}

/// The lock file next to `berksfile`: its file name plus `.lock`.
pub fn lock_path(berksfile: &Path) -> PathBuf {
    let mut name = berksfile
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "Berksfile".into());
    name.push(".lock");
    berksfile.with_file_name(name)
}

/// The revision the lock holds for a git dependency, if its location is unchanged and it is
/// not being updated.
fn locked_revision(
    lock: &Lockfile,
    name: &str,
    loc: &GitLocation,
    update: &Update,
) -> Option<String> {
    match update {
        Update::All => return None,
        Update::Only(names) if names.iter().any(|n| n == name) => return None,
        _ => {}
    }
    let dep = lock.dependencies.iter().find(|d| d.name == name)?;
    match &dep.location {
        LockLocation::Git {
            url,
            revision,
            reference,
            branch,
            tag,
            rel,
        } if *url == loc.url
            && *branch == loc.branch
            && *tag == loc.tag
            && *rel == loc.rel
            && *reference == loc.reference.as_ref().map(|r| r.chars().take(7).collect()) =>
        {
            Some(revision.clone())
        }
        _ => None,
    }
}

/// Evaluates `berksfile`, installs what its lock (or a new resolution) needs, writes the lock,
/// and returns the cookbook directories to upload, dependencies first. `repo_root` is the
/// Berksfile's working directory (what relative paths in Ruby resolve against).
pub async fn prepare(
    repo_root: &Path,
    berksfile: &Path,
    opts: &PrepareOptions,
) -> Result<Prepared, PrepareError> {
    let berksfile = if berksfile.is_absolute() {
        berksfile.to_owned()
    } else {
        repo_root.join(berksfile)
    };
    let interp = Interpreter::new()
        .with_env(opts.env.clone())
        .with_cwd(repo_root);
    let ev = dsl::load(&berksfile, &interp.clone().with_dir_glob(true))?;
    let mut warnings: Vec<String> = ev.warnings.iter().map(ToString::to_string).collect();
    let mut bf = ev.berksfile;
    if !opts.only.is_empty() && !opts.except.is_empty() {
        return Err(PrepareError::OnlyAndExcept);
    }
    // Berkshelf's group filter applies to the Berksfile's own dependencies; what they
    // depend on comes along whatever its group.
    bf.dependencies.retain(|d| {
        (opts.only.is_empty() || d.groups.iter().any(|g| opts.only.contains(g)))
            && !d.groups.iter().any(|g| opts.except.contains(g))
    });
    let line_of = |name: &str| ev.lines.get(name).copied().unwrap_or_default();
    let bf_dir = berksfile
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| repo_root.to_owned());
    let lock_path = lock_path(&berksfile);
    let lock_text = match std::fs::read_to_string(&lock_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(LockfileError::Io {
                path: lock_path,
                source,
            }
            .into());
        }
    };
    // A Berkshelf 2 JSON lock is converted (with a warning) and rewritten in today's format.
    let lock = match lock_text.as_deref() {
        Some(t) => {
            let (lock, lock_warnings) = Lockfile::parse_with_warnings(t, &lock_path)?;
            warnings.extend(lock_warnings);
            Some(lock)
        }
        None => None,
    };

    let cache = match &opts.cache_dir {
        Some(c) => c.clone(),
        None => default_cache_dir()
            .and_then(|d| d.parent().map(Path::to_owned))
            .unwrap_or_else(|| std::env::temp_dir().join("chef-sync")),
    };
    let store = CookbookStore::new(cache.join("cookbooks"));
    let git = GitFetcher::new(cache.join("git"), store.root()).offline(opts.offline);

    // Path and git cookbooks: read in place / check out, then validate name and version.
    let mut local = Vec::new();
    let mut local_dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut git_revisions = BTreeMap::new();
    for dep in &bf.dependencies {
        let line = line_of(&dep.name);
        let dir = match &dep.location {
            Location::Supermarket => continue,
            // `components` drops `.` (so `metadata` gives the Berksfile's directory itself).
            Location::Path { path, .. } => bf_dir.join(path).components().collect(),
            Location::Git(loc) => {
                let locked = lock
                    .as_ref()
                    .and_then(|l| locked_revision(l, &dep.name, loc, &opts.update));
                let (g, name, loc) = (git.clone(), dep.name.clone(), loc.clone());
                let checkout =
                    tokio::task::spawn_blocking(move || g.checkout(&name, &loc, locked.as_deref()))
                        .await
                        .map_err(|e| GitError::Spawn {
                            source: std::io::Error::other(e.to_string()),
                        })
                        .and_then(|r| r)
                        .map_err(|source| PrepareError::Git {
                            berksfile: berksfile.clone(),
                            line,
                            name: dep.name.clone(),
                            source,
                        })?;
                git_revisions.insert(dep.name.clone(), checkout.revision);
                checkout.path
            }
        };
        let meta_err = |source| PrepareError::Metadata {
            berksfile: berksfile.clone(),
            line,
            name: dep.name.clone(),
            source,
        };
        let loaded = metadata::load_with(&dir, &interp).map_err(meta_err)?;
        warnings.extend(loaded.warnings.iter().map(ToString::to_string));
        let m = loaded.metadata;
        if m.name() != dep.name {
            return Err(PrepareError::MismatchedName {
                berksfile: berksfile.clone(),
                line,
                name: dep.name.clone(),
                found: m.name().to_owned(),
                path: dir,
            });
        }
        let version = Version::parse(m.version())
            .ok()
            .filter(|v| dep.constraint.matches(v))
            .ok_or_else(|| PrepareError::ConstraintNotSatisfied {
                berksfile: berksfile.clone(),
                line,
                name: dep.name.clone(),
                constraint: dep.constraint.to_string(),
                version: m.version().to_owned(),
                path: dir.clone(),
            })?;
        local.push(CookbookInfo {
            name: dep.name.clone(),
            version,
            dependencies: m
                .dependencies()
                .map(|(n, c)| (n.to_owned(), c.to_owned()))
                .collect(),
        });
        local_dirs.insert(dep.name.clone(), dir);
    }

    let client = match &opts.client {
        Some(c) => c.clone(),
        None => SupermarketClient::builder()
            .with_cache_dir(cache.join("universe"))
            .build()
            .map_err(PrepareError::Client)?,
    };
    let (sources, source_warnings) = SourceSet::from_berksfile(
        &bf,
        &SourceContext {
            berksfile: &berksfile,
            supermarket: &client,
            universe_cache: Some(cache.join("universe")),
            chef_servers: &opts.chef_servers,
            env: &opts.env,
            interp: &interp,
        },
    )?;
    warnings.extend(source_warnings);

    if opts.offline {
        let Some(lock) = &lock else {
            return Err(PrepareError::Offline {
                reason: format!("{} does not exist", lock_path.display()),
            });
        };
        let plan = lock.plan_with_local(&bf, &opts.update, &local)?;
        if let Some(reason) = &plan.untrusted_reason {
            return Err(PrepareError::Offline {
                reason: format!("{} must be resolved again: {reason}", lock_path.display()),
            });
        }
        let missing: Vec<(String, Version)> = plan
            .lock
            .graph
            .values()
            .filter(|g| !local_dirs.contains_key(&g.name) && !store.contains(&g.name, &g.version))
            .map(|g| (g.name.clone(), g.version))
            .collect();
        // chef_repo sources are directories: reading them is not network.
        let in_repos = if missing.is_empty() {
            Default::default()
        } else {
            sources.fetch_local_universes().await.0
        };
        if let Some((name, version)) = missing.iter().find(|(n, v)| in_repos.find(n, v).is_none()) {
            return Err(PrepareError::Offline {
                reason: format!(
                    "{name} {version} is not in the cache at {} nor in a chef_repo source",
                    store.root().display()
                ),
            });
        }
    }

    let installer = Installer::new(client, store.clone()).with_sources(sources);
    let outcome = installer
        .install_berksfile(&bf, lock.as_ref(), &opts.update, &local, &git_revisions)
        .await?;
    warnings.extend(outcome.source_errors.iter().map(ToString::to_string));
    let new_text = outcome.lock.to_lock_string();
    let lock_written = if lock_text.as_deref() == Some(new_text.as_str()) {
        false
    } else {
        outcome.lock.save(&lock_path)?
    };

    let installed: BTreeMap<&str, &Path> = outcome
        .cookbooks
        .iter()
        .map(|c| (c.name.as_str(), c.path.as_path()))
        .collect();
    let mut cookbooks = Vec::new();
    for name in dependency_order(&bf, &outcome.lock) {
        let item = &outcome.lock.graph[&name];
        let path = match (local_dirs.get(&name), installed.get(name.as_str())) {
            (Some(d), _) => d.clone(),
            (None, Some(p)) => p.to_path_buf(),
            (None, None) => store.root().join(format!("{}-{}", item.name, item.version)),
        };
        cookbooks.push(PreparedCookbook {
            name,
            version: item.version,
            path,
        });
    }
    Ok(Prepared {
        cookbook_dirs: cookbooks.iter().map(|c| c.path.clone()).collect(),
        cookbooks,
        lock_path,
        lock_written,
        resolved: outcome.resolved,
        downloaded: outcome
            .cookbooks
            .iter()
            .filter(|c| c.downloaded)
            .map(|c| format!("{}-{}", c.name, c.version))
            .collect(),
        warnings,
    })
}

/// Berkshelf's upload order: for each Berksfile dependency in order, depth-first over the lock
/// graph, dependencies before dependents, each cookbook once; then anything unreached.
fn dependency_order(bf: &super::Berksfile, lock: &Lockfile) -> Vec<String> {
    fn visit(name: &str, lock: &Lockfile, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
        let Some(item) = lock.graph.get(name) else {
            return;
        };
        if !seen.insert(name.to_owned()) {
            return;
        }
        for dep in item.dependencies.keys() {
            visit(dep, lock, seen, out);
        }
        out.push(name.to_owned());
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for d in &bf.dependencies {
        visit(&d.name, lock, &mut seen, &mut out);
    }
    for name in lock.graph.keys() {
        visit(name, lock, &mut seen, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prepare_future_is_send_so_the_sync_engine_can_spawn_it() {
        fn assert_send<T: Send>(_: &T) {}
        let opts = PrepareOptions::default();
        let future = prepare(Path::new("/"), Path::new("Berksfile"), &opts);
        assert_send(&future);
    }

    #[test]
    fn lock_path_appends_dot_lock() {
        assert_eq!(
            lock_path(Path::new("/r/Berksfile")),
            PathBuf::from("/r/Berksfile.lock")
        );
        assert_eq!(
            lock_path(Path::new("ci/Berksfile.prod")),
            PathBuf::from("ci/Berksfile.prod.lock")
        );
    }
}
