//! `chef install` without Ruby: evaluate `Policyfile.rb` in the sandbox, resolve with the
//! Berkshelf resolver, fetch what the solution needs, and write `NAME.lock.json` beside
//! `NAME.rb` as chef-cli writes it.
//!
//! With a lock already there (and no `update`), only what the lock says is installed and
//! checked, as `chef install` does; `update` re-solves (`chef update`).
//!
//! What the lock gets, as chef-cli builds it: run-list items fully qualified
//! (`foo` → `recipe[foo::default]`, included policies' first), `named_run_lists` only when
//! there are some, `included_policy_locks`, `cookbook_locks` sorted by name (path and
//! `chef_repo` cookbooks as local locks with `scm_info`; Supermarket and git ones as cached
//! locks with `cache_key`, `origin`, `source_options`), attributes, `solution_dependencies`
//! (`Policyfile`: fixed-location cookbooks with their constraint, the rest `= VERSION`;
//! `dependencies` per `NAME (VERSION)`), and the `revision_id` of all that.
//!
//! Default sources (cli: policyfile/*_cookbook_source.rb, cookbook-omnifetch's lock_data and
//! cache_key): `:supermarket` (cached locks `{artifactserver: DOWNLOAD_URL, version}`,
//! `cache_key` `NAME-VERSION-HOST`), `:chef_repo` (local locks), `:chef_server URL` (the
//! server's `/universe`, signed with the matching server's client name and key from
//! [`InstallOptions::chef_servers`]; `{chef_server: URL, version}`, `cache_key`
//! `NAME-VERSION`, `origin` the URL) and `:artifactory URL` (`URL/universe` with
//! `Authorization: Bearer` from `ARTIFACTORY_IDENTITY_TOKEN`, else `X-Jfrog-Art-Api` from
//! `ARTIFACTORY_API_KEY`, as `ArtifactoryCookbookSource#auth_headers` sends them;
//! `{artifactory: DOWNLOAD_URL, version}`, `cache_key` `NAME-VERSION-HOST`). Each cookbook
//! comes from one of them, as [`super::preference`] decides (`preferred_for`, conflicts).
//!
//! Included policies (cli: policyfile/*_lock_fetcher.rb): `path:` (a lock file or a
//! directory holding `NAME.lock.json`), `remote:` (a plain `GET` of the URL; its cookbooks must
//! not be path cookbooks; `policy_revision_id:`, when given, must equal the lock's id or its
//! first 10 characters), `server:` (a signed `GET policies/N/revisions/R` or
//! `policy_groups/G/policies/N`; every cookbook then comes from that server's
//! `cookbook_artifacts`, locked as `{chef_server_artifact: URL, identifier}` with
//! `cache_key` `NAME-IDENTIFIER`) and `git:` (the lock file at `ref:`/`branch:`/`tag:`/`master`
//! in that repository; its path cookbooks become git cookbooks of that repository and
//! revision with `rel`, as `GitLockFetcher#lock_data` rewrites them, and `revision` is added
//! to the options). Each becomes an `included_policy_locks` entry
//! `{name, revision_id, source_options}` with the options as written (`server:` ones with
//! `policy_name` and the fetched `policy_revision_id` added). Their run lists come first, and
//! their attributes are deep-merged under the Policyfile's after the same conflict check as
//! chef-cli's `AttributeMergeChecker` (one path with two different values is an error).
//!
//! `chef update NAMES` ([`InstallOptions::update_cookbooks`]): as chef-cli's
//! `update_lock_and_install`, the named cookbooks and everything they depend on (transitively,
//! by the lock's `solution_dependencies`) are re-resolved; every other cookbook of the lock is
//! pinned to `= VERSION` from its locked source (a git cookbook to its locked revision).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::berkshelf::supermarket::SupermarketClient;
use crate::config::ServerSpec;
use crate::position::Position;
use chef_api::client::ChefClient;
use chef_api::cookbook::CookbookError;
use chef_api::ruby::Interpreter;
use chef_api::version::{Constraint, Version};
use serde_json::{Map, Value, json};
use url::Url;

use super::cookbooks::{CookbookCache, LockedCookbookError, find_cached, load_locked};
use super::dsl::{
    self, CookbookSource, DefaultSource, IncludedPolicy, PolicyLocation, PolicyfileError,
};
use super::identifier::{self, CookbookIdentity};
use super::json::to_lock_string;
use super::lock::{CookbookLock, LockError, LockSource, PolicyLock};
use super::preference::{SourceConflict, SourcePreferences};
use crate::berkshelf::CookbookInfo;
use crate::berkshelf::GitLocation;
use crate::berkshelf::archive::CookbookStore;
use crate::berkshelf::git::GitFetcher;
use crate::berkshelf::install::Installer;
use crate::berkshelf::resolver::{Catalog, ResolveError, resolve};
use crate::berkshelf::sources::{SourceClient, SourceSet, same_url};

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The Policyfile could not be evaluated.
    #[error(transparent)]
    Policyfile(#[from] PolicyfileError),
    /// The existing or an included lock could not be read.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A locked cookbook could not be provided or does not match.
    #[error(transparent)]
    Locked(#[from] LockedCookbookError),
    /// A cookbook could not be read.
    #[error("cookbook '{name}': {source}")]
    Cookbook {
        /// Cookbook name.
        name: String,
        /// What went wrong.
        #[source]
        source: CookbookError,
    },
    /// A source, cookbook location, included policy or attribute cannot be used: `position`
    /// is the Policyfile line that declared it (or the Policyfile itself).
    #[error("{position}: {message}")]
    Source {
        /// Where in the Policyfile.
        position: Position,
        /// What is wrong.
        message: String,
    },
    /// A cookbook that several default sources offer and none is preferred for, or whose
    /// preferred source lacks it (chef-cli's rules, [`super::preference`]); `position` is the
    /// `default_source` line at fault.
    #[error("{position}: {source}")]
    SourceConflict {
        /// Where in the Policyfile.
        position: Position,
        /// The cookbooks and sources.
        #[source]
        source: SourceConflict,
    },
    /// No versions satisfy the demands.
    #[error("{}: {source}", policyfile.display())]
    Resolve {
        /// The Policyfile.
        policyfile: PathBuf,
        /// The resolver's explanation.
        #[source]
        source: ResolveError,
    },
    /// A run-list recipe is not in its cookbook.
    #[error("{}: run list item {item}: cookbook '{cookbook}' {version} has no recipes/{recipe}.rb", policyfile.display())]
    MissingRecipe {
        /// The Policyfile.
        policyfile: PathBuf,
        /// The item.
        item: String,
        /// Cookbook.
        cookbook: String,
        /// Its version.
        version: String,
        /// Recipe name.
        recipe: String,
    },
    /// The lock could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The lock path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl InstallError {
    /// The file (and line, column) at fault, typed, so callers never parse it back out of the
    /// message: the Policyfile line of an evaluation error or of the `cookbook` /
    /// `include_policy` line at fault, a lock file's line for invalid JSON, else the file.
    /// `None` for a cookbook's own files (the message names the cookbook).
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Policyfile(PolicyfileError::Eval(e)) => Some(Position::from(e)),
            Self::Policyfile(
                PolicyfileError::Io { path, .. } | PolicyfileError::Invalid { path, .. },
            ) => Some(Position::file(path.clone())),
            Self::Lock(LockError::Json {
                path, line, column, ..
            }) => Some(Position::at(
                path.clone(),
                u32::try_from(*line).unwrap_or(u32::MAX),
                u32::try_from(*column).ok(),
            )),
            Self::Lock(LockError::Io { path, .. } | LockError::Invalid { path, .. }) => {
                Some(Position::file(path.clone()))
            }
            Self::Source { position, .. } | Self::SourceConflict { position, .. } => {
                Some(position.clone())
            }
            Self::Resolve { policyfile, .. } | Self::MissingRecipe { policyfile, .. } => {
                Some(Position::file(policyfile.clone()))
            }
            Self::Write { path, .. } => Some(Position::file(path.clone())),
            _ => None,
        }
    }
}

/// How to install.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Re-solve even when a lock exists (`chef update`).
    pub update: bool,
    /// With `update` and an existing lock: re-resolve only these cookbooks and what they
    /// depend on, keeping every other cookbook at its locked version (`chef update POLICY
    /// NAMES`). Empty: everything is re-resolved.
    pub update_cookbooks: Vec<String>,
    /// What `ENV` holds for the Policyfile (never the process's); also where
    /// `ARTIFACTORY_API_KEY` / `ARTIFACTORY_IDENTITY_TOKEN` are read, as chef-cli reads them.
    pub env: BTreeMap<String, String>,
    /// Where cached cookbooks are found and fetched to.
    pub cache: CookbookCache,
    /// The Chef servers whose client name and key sign `default_source :chef_server, URL` and
    /// `include_policy ..., server: URL` requests (chef-cli signs with the workstation's
    /// `node_name` and `client_key`): the server with that URL, else the first one's
    /// credentials for that URL. Usually the repository's [`crate::config::RepoConfig`]
    /// servers.
    pub chef_servers: Vec<ServerSpec>,
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The lock (as written, or as found).
    pub lock: PolicyLock,
    /// Whether the lock file was (re)written.
    pub written: bool,
    /// Warnings (Policyfile findings, sources that could not be read).
    pub warnings: Vec<String>,
}

/// The lock path chef-cli uses for a Policyfile: `NAME.rb` → `NAME.lock.json`.
pub fn lock_path_for(policyfile: &Path) -> PathBuf {
    let name = policyfile
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("Policyfile.rb");
    let stem = name.strip_suffix(".rb").unwrap_or(name);
    policyfile.with_file_name(format!("{stem}.lock.json"))
}

/// A cookbook of the solution, with where it came from.
struct Solved {
    identity: CookbookIdentity,
    dir: PathBuf,
    /// `cookbook_locks` entry without the identifiers (added once identified).
    kind: SolvedKind,
    /// Declared with a fixed location (its constraint goes to `solution_dependencies`).
    fixed_constraint: Option<String>,
}

enum SolvedKind {
    Local,
    Git {
        url: String,
        revision: String,
        options: Vec<(&'static str, String)>,
    },
    /// Supermarket (`artifactserver`).
    Artifact {
        download_url: String,
    },
    /// `default_source :artifactory`.
    Artifactory {
        download_url: String,
    },
    /// `default_source :chef_server, URL`.
    ChefServer {
        url: String,
    },
    /// A cookbook of a policy included from a Chef server (`chef_server_artifact`).
    ServerArtifact {
        server: String,
    },
    Included(Map<String, Value>),
}

/// The lock's attribute keys, in the order `included_attributes` and `merged` hold them.
const ATTRIBUTE_LEVELS: [&str; 2] = ["default_attributes", "override_attributes"];

/// What kind of `default_source` a universe came from.
#[derive(Clone)]
enum SourceKind {
    Supermarket,
    ChefRepo,
    ChefServer { url: String },
    Artifactory,
}

/// An included policy's lock, fetched.
struct IncludedLock {
    lock: PolicyLock,
    /// `included_policy_locks` entry's `source_options`.
    source_options: Map<String, Value>,
    /// For `server:` includes: the server URL and a client for its artifacts.
    server: Option<(String, ChefClient)>,
}

/// Installs the Policyfile at `policyfile` and returns its lock.
///
/// # Errors
/// [`InstallError`] naming the Policyfile (and line), cookbook or source at fault.
#[allow(clippy::too_many_lines)]
pub async fn install(
    policyfile: &Path,
    options: &InstallOptions,
) -> Result<Installed, InstallError> {
    let dir = policyfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let lock_path = lock_path_for(policyfile);
    let existing = if lock_path.is_file() {
        Some(PolicyLock::load(&lock_path)?)
    } else {
        None
    };
    if let Some(lock) = existing.as_ref().filter(|_| !options.update) {
        let cache =
            cache_for_lock(lock, options)
                .await
                .map_err(|message| InstallError::Source {
                    position: Position::file(&lock_path),
                    message,
                })?;
        load_locked(lock, &cache).await?;
        return Ok(Installed {
            lock: lock.clone(),
            written: false,
            warnings: Vec::new(),
        });
    }
    let interp = Interpreter::new()
        .with_env(options.env.clone())
        .with_cwd(&dir);
    let evaluated = dsl::load(policyfile, &interp)?;
    let mut warnings: Vec<String> = evaluated.warnings.iter().map(ToString::to_string).collect();
    let mut pf = evaluated.policyfile;
    let whole_file = || Position::file(policyfile);
    let source_error = |message: String| InstallError::Source {
        position: whole_file(),
        message,
    };
    let at_line = |line: u32, message: String| InstallError::Source {
        position: if line == 0 {
            whole_file()
        } else {
            Position::at(policyfile, line, None)
        },
        message,
    };
    let client = match &options.cache.supermarket {
        Some(c) => c.clone(),
        None => SupermarketClient::builder()
            .with_cache_dir(options.cache.root.join("universe"))
            .build()
            .map_err(|e| source_error(e.to_string()))?,
    };

    // `chef update NAMES`: every other cookbook pinned to its locked version and source.
    let mut pinned_revisions: BTreeMap<String, String> = BTreeMap::new();
    if let (Some(lock), false) = (&existing, options.update_cookbooks.is_empty()) {
        let to_update = transitive_deps(lock, &options.update_cookbooks).map_err(&source_error)?;
        for c in lock.cookbooks() {
            if to_update.contains(&c.name) {
                continue;
            }
            let (source, revision) = pinned_source(c);
            if let Some(rev) = revision {
                pinned_revisions.insert(c.name.clone(), rev);
            }
            let spec = dsl::CookbookSpec {
                name: c.name.clone(),
                line: 0,
                constraint: Some(format!("= {}", c.version)),
                source,
            };
            match pf.cookbooks.iter_mut().find(|s| s.name == c.name) {
                // Already fixed to one artifact.
                Some(existing_spec)
                    if matches!(existing_spec.source, CookbookSource::ServerArtifact { .. }) => {}
                Some(existing_spec) => *existing_spec = spec,
                None => pf.cookbooks.push(spec),
            }
        }
    }

    // Included policies: their run lists first, their cookbooks fixed as they locked them.
    let mut run_list: Vec<String> = Vec::new();
    let mut named_run_lists: Vec<(String, Vec<String>)> = Vec::new();
    let mut included_locks = Vec::new();
    // Per level (`default_attributes`, `override_attributes`): each included lock's, by name.
    let mut included_attributes: [Vec<(String, Map<String, Value>)>; 2] = Default::default();
    let mut solved: BTreeMap<String, Solved> = BTreeMap::new();
    let mut catalog_local: Vec<CookbookInfo> = Vec::new();
    for inc in &pf.included_policies {
        let fetched = fetch_included(inc, &dir, options, &client)
            .await
            .map_err(|message| {
                at_line(
                    inc.line,
                    format!("include_policy '{}': {message}", inc.name),
                )
            })?;
        let lock = &fetched.lock;
        for item in lock.run_list() {
            push_run_list_item(&mut run_list, item.clone());
        }
        if let Some(Value::Object(lists)) = lock.document().get("named_run_lists") {
            for (name, items) in lists {
                for item in items
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    push_named_item(&mut named_run_lists, name, item);
                }
            }
        }
        for (key, level) in ATTRIBUTE_LEVELS.iter().zip(&mut included_attributes) {
            let attrs = match lock.document().get(*key) {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            level.push((inc.name.clone(), attrs));
        }
        let cookbooks = match &fetched.server {
            Some((server, chef)) => {
                load_server_artifacts(lock.cookbooks(), server, chef, &options.cache)
                    .await
                    .map_err(|message| {
                        at_line(
                            inc.line,
                            format!("include_policy '{}': {message}", inc.name),
                        )
                    })?
            }
            // One set of credentials for the whole install, as `chef install` has: an
            // included lock's chef_server and artifactory cookbooks get install's clients too.
            None => {
                let cache = cache_for_lock(lock, options).await.map_err(|message| {
                    at_line(
                        inc.line,
                        format!("include_policy '{}': {message}", inc.name),
                    )
                })?;
                load_locked(lock, &cache)
                    .await?
                    .into_iter()
                    .map(|c| (c.lock, c.dir, c.identity))
                    .collect()
            }
        };
        let deps = lock
            .document()
            .get("solution_dependencies")
            .and_then(|s| s.get("dependencies"))
            .cloned()
            .unwrap_or(Value::Null);
        for (c, cookbook_dir, identity) in cookbooks {
            let version = parse_version(&c.name, &c.version).map_err(&source_error)?;
            let key = format!("{} ({})", c.name, c.version);
            let dependencies = deps
                .get(&key)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|d| {
                            Some((
                                d.get(0)?.as_str()?.to_owned(),
                                d.get(1)?.as_str()?.to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            catalog_local.push(CookbookInfo {
                name: c.name.clone(),
                version,
                dependencies,
            });
            let kind = match &fetched.server {
                Some((server, _)) => SolvedKind::ServerArtifact {
                    server: server.clone(),
                },
                None => included_kind(
                    lock.document()["cookbook_locks"][&c.name]
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                ),
            };
            solved.insert(
                c.name.clone(),
                Solved {
                    identity,
                    dir: cookbook_dir,
                    kind,
                    fixed_constraint: Some(format!("= {}", c.version)),
                },
            );
        }
        included_locks.push(json!({
            "name": inc.name,
            "revision_id": lock.effective_revision_id(),
            "source_options": fetched.source_options,
        }));
    }
    for item in &pf.run_list {
        qualify(item)
            .ok_or_else(|| source_error(format!("run list item {item:?} is not a recipe name")))?;
        push_run_list_item(&mut run_list, item.clone());
    }
    let run_list: Vec<String> = run_list
        .iter()
        .map(|i| qualify(i).unwrap_or_else(|| i.clone()))
        .collect();
    for (name, items) in &pf.named_run_lists {
        for item in items {
            push_named_item(&mut named_run_lists, name, item);
        }
    }
    // chef-cli: the Policyfile's attributes, then each included lock's deep-merged in, after
    // AttributeMergeChecker found no path with two different values
    // (cli: policyfile_compiler.rb, default_attributes / override_attributes).
    let mut merged = [
        pf.default_attributes.clone(),
        pf.override_attributes.clone(),
    ];
    for ((key, target), included) in ATTRIBUTE_LEVELS
        .iter()
        .zip(&mut merged)
        .zip(&included_attributes)
    {
        let own = target.clone();
        let mut sources: Vec<(&str, &Map<String, Value>)> = vec![("user-specified", &own)];
        sources.extend(included.iter().map(|(name, m)| (name.as_str(), m)));
        check_attribute_conflicts(&sources).map_err(|m| source_error(format!("{key}: {m}")))?;
        for (_, m) in included {
            deep_merge(target, m);
        }
    }
    let [default_attributes, override_attributes] = merged;

    // Fixed-location cookbooks: read in place or checked out.
    let store = CookbookStore::new(options.cache.root.join("cookbooks"));
    let git = GitFetcher::new(options.cache.root.join("git"), store.root())
        .offline(options.cache.offline);
    for spec in &pf.cookbooks {
        let (cookbook_dir, kind) = match &spec.source {
            CookbookSource::Default => continue,
            CookbookSource::Path(p) => (normalize(&dir.join(p)), SolvedKind::Local),
            CookbookSource::ServerArtifact { server, identifier } => {
                let fail = |m: String| at_line(spec.line, format!("cookbook '{}': {m}", spec.name));
                let chef = chef_client_for(server, &options.chef_servers)
                    .map_err(|m| fail(format!("chef_server_artifact: {server:?}: {m}")))?;
                let (cookbook_dir, _) =
                    load_server_artifact(&spec.name, identifier, server, &chef, &options.cache)
                        .await
                        .map_err(fail)?;
                (
                    cookbook_dir,
                    SolvedKind::ServerArtifact {
                        server: server.clone(),
                    },
                )
            }
            CookbookSource::Git(loc) => {
                let (git, name, loc2) = (git.clone(), spec.name.clone(), loc.clone());
                let revision = pinned_revisions.get(&spec.name).cloned();
                let checkout = tokio::task::spawn_blocking(move || {
                    git.checkout(&name, &loc2, revision.as_deref())
                })
                .await
                .map_err(|e| source_error(e.to_string()))?
                .map_err(|e| at_line(spec.line, format!("cookbook '{}': {e}", spec.name)))?;
                let opts = git_lock_options(
                    loc.branch.as_deref(),
                    loc.tag.as_deref(),
                    loc.reference.as_deref(),
                    loc.rel.as_deref(),
                );
                // A `rel` checkout is that subdirectory itself.
                let path = checkout.path;
                (
                    path,
                    SolvedKind::Git {
                        url: loc.url.clone(),
                        revision: checkout.revision,
                        options: opts,
                    },
                )
            }
        };
        let identity = identify(&spec.name, &cookbook_dir).await?;
        if identity.name() != spec.name {
            return Err(at_line(
                spec.line,
                format!(
                    "cookbook '{}' at {} is named '{}' in its metadata",
                    spec.name,
                    cookbook_dir.display(),
                    identity.name()
                ),
            ));
        }
        let version =
            parse_version(&spec.name, identity.version()).map_err(|m| at_line(spec.line, m))?;
        if let Some(c) = &spec.constraint {
            let parsed = Constraint::parse(c).map_err(|e| at_line(spec.line, e.to_string()))?;
            if !parsed.matches(&version) {
                return Err(at_line(
                    spec.line,
                    format!(
                        "cookbook '{}' {version} at {} does not satisfy '{c}'",
                        spec.name,
                        cookbook_dir.display()
                    ),
                ));
            }
        }
        catalog_local.push(CookbookInfo {
            name: spec.name.clone(),
            version,
            dependencies: identity
                .metadata
                .dependencies()
                .map(|(n, c)| (n.to_owned(), c.to_owned()))
                .collect(),
        });
        solved.insert(
            spec.name.clone(),
            Solved {
                identity,
                dir: cookbook_dir,
                kind,
                fixed_constraint: Some(
                    spec.constraint.clone().unwrap_or_else(|| ">= 0.0.0".into()),
                ),
            },
        );
    }

    // Default sources, then the solve.
    let mut sources = Vec::new();
    let mut kinds: Vec<(Url, SourceKind)> = Vec::new();
    for s in &pf.default_sources {
        let (source, kind) = match &s.source {
            DefaultSource::Supermarket { url } => (
                SourceClient::Supermarket {
                    url: Url::parse(url).map_err(|e| source_error(format!("{url}: {e}")))?,
                    client: client.clone(),
                },
                SourceKind::Supermarket,
            ),
            DefaultSource::ChefRepo { path } => (
                SourceClient::chef_repo(&dir.join(path), interp.clone())
                    .map_err(|e| source_error(e.to_string()))?,
                SourceKind::ChefRepo,
            ),
            DefaultSource::ChefServer { url } => {
                let chef = chef_client_for(url, &options.chef_servers).map_err(|m| {
                    source_error(format!("default_source :chef_server, {url:?}: {m}"))
                })?;
                (
                    SourceClient::ChefServer { client: chef },
                    SourceKind::ChefServer { url: url.clone() },
                )
            }
            DefaultSource::Artifactory { url } => {
                let parsed = Url::parse(url).map_err(|e| source_error(format!("{url}: {e}")))?;
                let (artifactory, warning) = artifactory_client(&client, options).map_err(|m| {
                    source_error(format!("default_source :artifactory, {url:?}: {m}"))
                })?;
                if let Some(w) = warning {
                    warnings.push(format!("default_source :artifactory, {url:?}: {w}"));
                }
                (
                    SourceClient::Supermarket {
                        url: parsed,
                        client: artifactory,
                    },
                    SourceKind::Artifactory,
                )
            }
        };
        kinds.push((source.url().clone(), kind));
        sources.push(source);
    }
    let source_urls: Vec<Url> = kinds.iter().map(|(u, _)| u.clone()).collect();
    let preferences = SourcePreferences::new(&pf.default_sources, &source_urls);
    let conflict_error = |source: SourceConflict| InstallError::SourceConflict {
        position: if source.line() == 0 {
            whole_file()
        } else {
            Position::at(policyfile, source.line(), None)
        },
        source,
    };
    let sources = SourceSet::new(sources);
    let mut demands: Vec<(String, Constraint)> = Vec::new();
    let mut demand = |name: &str, c: Constraint| {
        if !demands.iter().any(|(n, _)| n == name) {
            demands.push((name.to_owned(), c));
        }
    };
    for spec in &pf.cookbooks {
        let c = match &spec.constraint {
            Some(c) => Constraint::parse(c).map_err(|e| at_line(spec.line, e.to_string()))?,
            None => Constraint::any(),
        };
        demand(&spec.name, c);
    }
    for item in &run_list {
        let (cookbook, _) = split_item(item);
        demand(cookbook, Constraint::any());
    }
    for info in &catalog_local {
        demand(&info.name, Constraint::any());
    }
    let needs_sources = demands.iter().any(|(n, _)| !solved.contains_key(n))
        || catalog_local
            .iter()
            .flat_map(|c| &c.dependencies)
            .any(|(d, _)| !solved.contains_key(d));
    let (universes, source_errors) = if needs_sources {
        if sources.is_empty() {
            return Err(source_error(
                "cookbooks need resolving but the Policyfile has no default_source".into(),
            ));
        }
        sources.fetch_universes().await
    } else {
        Default::default()
    };
    warnings.extend(source_errors.iter().map(ToString::to_string));
    // chef-cli: each cookbook from one default source (`preferred_for`, else a conflict).
    let wanted: BTreeSet<String> = demands
        .iter()
        .map(|(n, _)| n.clone())
        .chain(
            catalog_local
                .iter()
                .flat_map(|c| c.dependencies.iter().map(|(d, _)| d.clone())),
        )
        .collect();
    let universes = preferences
        .apply(universes, &wanted, |name| {
            solved.contains_key(name) || pf.cookbooks.iter().any(|c| c.name == name && c.line == 0)
        })
        .map_err(conflict_error)?;
    let mut catalog = Catalog::from_universes(&universes);
    for info in &catalog_local {
        catalog.set_local(info);
    }
    let resolution =
        resolve(&catalog, &demands, &BTreeMap::new()).map_err(|source| InstallError::Resolve {
            policyfile: policyfile.to_path_buf(),
            source,
        })?;
    let local_names = solved.keys().cloned().collect();
    let installer = Installer::new(client, store).with_sources(sources.clone());
    let installed = installer
        .install(&resolution, &universes, &local_names)
        .await
        .map_err(|e| source_error(e.to_string()))?;
    for cookbook in installed {
        let (universe, entry) = universes
            .find(&cookbook.name, &cookbook.version)
            .expect("the installer provided it from a universe");
        preferences
            .check_solved(&cookbook.name, &universe.source)
            .map_err(conflict_error)?;
        let source_kind = kinds
            .iter()
            .find(|(u, _)| *u == universe.source)
            .map_or(SourceKind::Supermarket, |(_, k)| k.clone());
        let identity = identify(&cookbook.name, &cookbook.path).await?;
        let download_url = entry.download_url.clone();
        let kind = match source_kind {
            SourceKind::ChefRepo => SolvedKind::Local,
            SourceKind::Supermarket => SolvedKind::Artifact { download_url },
            SourceKind::Artifactory => SolvedKind::Artifactory { download_url },
            SourceKind::ChefServer { url } => SolvedKind::ChefServer { url },
        };
        solved.insert(
            cookbook.name.clone(),
            Solved {
                identity,
                dir: cookbook.path,
                kind,
                fixed_constraint: None,
            },
        );
    }

    // Every run-list recipe must exist.
    for item in run_list
        .iter()
        .chain(named_run_lists.iter().flat_map(|(_, l)| l))
    {
        let qualified = qualify(item).unwrap_or_else(|| item.clone());
        let (cookbook, recipe) = split_item(&qualified);
        let Some(s) = solved.get(cookbook) else {
            continue;
        };
        let file = format!("recipes/{recipe}.rb");
        if !s.identity.files.iter().any(|f| f.path() == file) {
            return Err(InstallError::MissingRecipe {
                policyfile: policyfile.to_path_buf(),
                item: qualified.clone(),
                cookbook: cookbook.to_owned(),
                version: s.identity.version().to_owned(),
                recipe: recipe.to_owned(),
            });
        }
    }

    let doc = lock_document(
        &pf.name,
        &dir,
        run_list,
        &named_run_lists,
        included_locks,
        &solved,
        default_attributes,
        override_attributes,
    );
    let text = to_lock_string(&doc);
    std::fs::write(&lock_path, &text).map_err(|source| InstallError::Write {
        path: lock_path.clone(),
        source,
    })?;
    let lock = PolicyLock::parse(&text, &lock_path)?;
    Ok(Installed {
        lock,
        written: true,
        warnings,
    })
}

/// Before installing from a lock (the existing one, or an included one from a path, a URL or
/// git): the cache [`load_locked`] fetches the lock's cookbooks with, holding install's
/// clients for the locked cookbooks that no cache holds yet (`chef_server`: signed as
/// [`InstallOptions::chef_servers`] say, ahead of the cache's own clients; `artifactory`:
/// chef-cli's credential from [`InstallOptions::env`]), and those of them locked as
/// `chef_server_artifact` fetched into chef-sync's cache as `NAME-IDENTIFIER` (`load_locked`
/// does not fetch artifacts). Errors are messages naming the cookbook and its URL; the caller
/// says where (the lock file, the `include_policy` line).
async fn cache_for_lock(
    lock: &PolicyLock,
    options: &InstallOptions,
) -> Result<CookbookCache, String> {
    let mut cache = options.cache.clone();
    if cache.offline {
        return Ok(cache);
    }
    let mut signed: Vec<ChefClient> = Vec::new();
    let mut artifactory: Option<SupermarketClient> = None;
    for c in lock.cookbooks() {
        let LockSource::Cached { cache_key, .. } = &c.source else {
            continue;
        };
        if find_cached(c, cache_key.as_deref(), &options.cache).is_some() {
            continue;
        }
        let what = |url: &str, e: &dyn std::fmt::Display| {
            format!("cookbook '{}' {} from {url}: {e}", c.name, c.version)
        };
        if let Some(url) = c.option("chef_server") {
            if !signed
                .iter()
                .any(|s| same_url(s.server_url().as_str(), url))
            {
                signed
                    .push(chef_client_for(url, &options.chef_servers).map_err(|e| what(url, &e))?);
            }
        } else if let Some(url) = c.option("artifactory") {
            if artifactory.is_none() {
                let plain = SupermarketClient::builder()
                    .build()
                    .map_err(|e| what(url, &e))?;
                let (client, _) = artifactory_client(&plain, options).map_err(|e| what(url, &e))?;
                artifactory = Some(client);
            }
        } else if let Some(server) = c.option("chef_server_artifact") {
            let chef =
                chef_client_for(server, &options.chef_servers).map_err(|e| what(server, &e))?;
            load_server_artifacts(std::slice::from_ref(c), server, &chef, &cache).await?;
        }
    }
    signed.append(&mut cache.chef_servers);
    cache.chef_servers = signed;
    if artifactory.is_some() {
        cache.artifactory = artifactory;
    }
    Ok(cache)
}

/// The name a run-list item compares by in `Chef::RunList` (`recipe[x]` and `x` are one item;
/// `x` and `x::default` are two).
fn run_list_item_name(item: &str) -> &str {
    item.strip_prefix("recipe[")
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(item)
}

/// `Chef::RunList#<<`: an item already in the list is not added again.
fn push_run_list_item(list: &mut Vec<String>, item: String) {
    let name = run_list_item_name(&item);
    if !list.iter().any(|i| run_list_item_name(i) == name) {
        list.push(item);
    }
}

/// One item of named run list `name` (included policies' lists first, then the
/// Policyfile's, as chef-cli's `expanded_named_run_lists` builds them).
fn push_named_item(lists: &mut Vec<(String, Vec<String>)>, name: &str, item: &str) {
    match lists.iter_mut().find(|(n, _)| n == name) {
        Some((_, items)) => push_run_list_item(items, item.to_owned()),
        None => lists.push((name.to_owned(), vec![item.to_owned()])),
    }
}

/// chef-cli's `SolutionDependencies#transitive_deps`: the named cookbooks and, transitively,
/// what the lock's `solution_dependencies` say they depend on.
fn transitive_deps(lock: &PolicyLock, names: &[String]) -> Result<BTreeSet<String>, String> {
    let deps: Vec<(String, Vec<String>)> = lock
        .document()
        .get("solution_dependencies")
        .and_then(|s| s.get("dependencies"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let name = k.split(" (").next().unwrap_or(k).to_owned();
                    let list = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|d| d.get(0)?.as_str().map(str::to_owned))
                        .collect();
                    (name, list)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(name) = todo.pop() {
        if out.contains(&name) {
            continue;
        }
        let Some((_, list)) = deps.iter().find(|(n, _)| *n == name) else {
            if lock.cookbooks().iter().any(|c| c.name == name) {
                out.insert(name);
                continue;
            }
            return Err(format!(
                "cannot update cookbook '{name}': it is not in {}",
                lock.path().display()
            ));
        };
        todo.extend(list.iter().cloned());
        out.insert(name);
    }
    Ok(out)
}

/// Where a cookbook pinned by `chef update NAMES` comes from: its locked path or git source
/// (with the locked revision), else the default sources (held to `= VERSION`).
fn pinned_source(c: &CookbookLock) -> (CookbookSource, Option<String>) {
    if let (Some(path), LockSource::Local { .. }) = (c.option("path"), &c.source) {
        return (CookbookSource::Path(path.to_owned()), None);
    }
    if let Some(url) = c.option("git") {
        let get = |k: &str| c.option(k).map(str::to_owned);
        return (
            CookbookSource::Git(GitLocation {
                url: url.to_owned(),
                branch: get("branch"),
                tag: get("tag"),
                reference: get("ref"),
                rel: get("rel"),
            }),
            get("revision"),
        );
    }
    (CookbookSource::Default, None)
}

/// A signing client for `url`: the configured server with that URL, else the first one's
/// client name and key (and TLS settings) for that URL.
fn chef_client_for(url: &str, servers: &[ServerSpec]) -> Result<ChefClient, String> {
    let template = servers
        .iter()
        .find(|s| same_url(&s.url, url))
        .or_else(|| servers.first())
        .ok_or(
            "no Chef server is configured to sign the requests with (chef-cli signs with the workstation's node_name and client_key; chef-sync with a configured server's)",
        )?;
    let mut spec = template.clone();
    url.clone_into(&mut spec.url);
    spec.client().map_err(|e| e.to_string())
}

/// The Artifactory client of an install: chef-cli's credential from the install's
/// environment, with `base`'s retries and the universe cache.
fn artifactory_client(
    base: &SupermarketClient,
    options: &InstallOptions,
) -> Result<(SupermarketClient, Option<String>), String> {
    super::cookbooks::artifactory_client(
        |k| options.env.get(k).cloned(),
        SupermarketClient::builder()
            .with_retry(base.retry().clone())
            .with_cache_dir(options.cache.root.join("universe")),
    )
}

/// Fetches an included policy's lock from where `inc` says (cli: policyfile/
/// local_lock_fetcher.rb, remote_lock_fetcher.rb, chef_server_lock_fetcher.rb).
async fn fetch_included(
    inc: &IncludedPolicy,
    dir: &Path,
    options: &InstallOptions,
    client: &SupermarketClient,
) -> Result<IncludedLock, String> {
    match &inc.location {
        PolicyLocation::Path(path) => {
            let mut file = dir.join(path);
            if file.is_dir() {
                file = file.join(format!("{}.lock.json", inc.name));
            }
            let lock = PolicyLock::load(&file).map_err(|e| e.to_string())?;
            validate_revision_id(&lock, &inc.source_options)?;
            Ok(IncludedLock {
                lock,
                source_options: inc.source_options.clone(),
                server: None,
            })
        }
        PolicyLocation::Remote(url) => {
            let parsed = Url::parse(url).map_err(|e| format!("remote: {url}: {e}"))?;
            let tmp = options.cache.root.join("tmp");
            std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            let download = client.download(&parsed, &tmp).await.map_err(|e| {
                if e.status() == Some(404) {
                    format!("No remote policyfile lock '{}' found at {url}", inc.name)
                } else {
                    format!("HTTP error attempting to fetch policyfile lock from {url}: {e}")
                }
            })?;
            let text =
                std::fs::read_to_string(download.file.path()).map_err(|e| format!("{url}: {e}"))?;
            let lock = PolicyLock::parse(&text, Path::new(url)).map_err(|e| e.to_string())?;
            validate_revision_id(&lock, &inc.source_options)?;
            if let Some(c) = lock.cookbooks().iter().find(|c| c.option("path").is_some()) {
                return Err(format!(
                    "Invalid cookbook path: {}. Remote Policyfiles should only use remote cookbooks.",
                    c.option("path").unwrap_or_default()
                ));
            }
            Ok(IncludedLock {
                lock,
                source_options: inc.source_options.clone(),
                server: None,
            })
        }
        PolicyLocation::Server {
            server,
            policy_name,
            policy_group,
            policy_revision_id,
        } => {
            let chef = chef_client_for(server, &options.chef_servers)?;
            let (path, what) = match (policy_revision_id, policy_group) {
                (Some(rev), _) => (
                    format!("policies/{policy_name}/revisions/{rev}"),
                    format!("revision '{rev}'"),
                ),
                (None, Some(group)) => (
                    format!("policy_groups/{group}/policies/{policy_name}"),
                    format!("policy group '{group}'"),
                ),
                (None, None) => {
                    return Err("must specify policy_revision_id or policy_group".into());
                }
            };
            let mut doc: Value = chef.get(&path).await.map_err(|e| {
                if matches!(e, chef_api::Error::NotFound { .. }) {
                    format!(
                        "No Policyfile lock named '{policy_name}' found with {what} at {server}"
                    )
                } else {
                    format!("HTTP error attempting to fetch policyfile lock from {server}: {e}")
                }
            })?;
            // chef-cli rewrites every cookbook's source to the server's artifact.
            if let Some(Value::Object(locks)) = doc.get_mut("cookbook_locks") {
                for lock in locks.values_mut() {
                    let id = lock.get("identifier").cloned().unwrap_or(Value::Null);
                    if let Value::Object(l) = lock {
                        l.insert(
                            "source_options".into(),
                            json!({"chef_server_artifact": server, "identifier": id}),
                        );
                    }
                }
            }
            let lock = PolicyLock::from_document(doc, &PathBuf::from(format!("{server}/{path}")))
                .map_err(|e| e.to_string())?;
            let mut source_options = inc.source_options.clone();
            source_options.insert(
                "policy_revision_id".into(),
                Value::String(lock.effective_revision_id()),
            );
            Ok(IncludedLock {
                lock,
                source_options,
                server: Some((server.clone(), chef)),
            })
        }
        PolicyLocation::Git {
            url,
            path,
            rev_parse,
            branch,
            tag,
            reference,
        } => {
            let store = CookbookStore::new(options.cache.root.join("cookbooks"));
            let git = GitFetcher::new(options.cache.root.join("git"), store.root())
                .offline(options.cache.offline);
            let (url2, rev2, path2) = (url.clone(), rev_parse.clone(), path.clone());
            let (revision, bytes) =
                tokio::task::spawn_blocking(move || git.read_file(&url2, &rev2, &path2))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            let text = String::from_utf8(bytes).map_err(|e| format!("{url}: {path}: {e}"))?;
            let mut doc: Value =
                serde_json::from_str(&text).map_err(|e| format!("{url}: {path}: {e}"))?;
            let at = GitAt {
                url,
                revision: &revision,
                branch: branch.as_deref(),
                tag: tag.as_deref(),
                reference: reference.as_deref(),
            };
            if let Some(Value::Object(locks)) = doc.get_mut("cookbook_locks") {
                for (name, lock) in locks.iter_mut() {
                    if let Value::Object(l) = lock {
                        at.rewrite_path_cookbook(name, l);
                    }
                }
            }
            let lock = PolicyLock::from_document(doc, &PathBuf::from(format!("{url}/{path}")))
                .map_err(|e| e.to_string())?;
            validate_revision_id(&lock, &inc.source_options)?;
            // GitLockFetcher#source_options_for_lock: the options as written, with `revision`.
            let mut source_options = inc.source_options.clone();
            source_options.insert("revision".into(), Value::String(revision.clone()));
            Ok(IncludedLock {
                lock,
                source_options,
                server: None,
            })
        }
    }
}

/// How an included policy's cookbook is locked again: a git one as cookbook-omnifetch's
/// `GitLocation#lock_data` writes it (chef-cli builds a location from the included lock's
/// `source_options`), any other one as the included lock has it.
fn included_kind(entry: Map<String, Value>) -> SolvedKind {
    let so = entry.get("source_options").and_then(Value::as_object);
    let text = |k: &str| so.and_then(|o| o.get(k)).and_then(Value::as_str);
    match (text("git"), text("revision")) {
        (Some(url), Some(revision)) => SolvedKind::Git {
            url: url.to_owned(),
            revision: revision.to_owned(),
            options: git_lock_options(text("branch"), text("tag"), text("ref"), text("rel")),
        },
        _ => SolvedKind::Included(entry),
    }
}

/// The keys cookbook-omnifetch's `GitLocation#lock_data` writes after `git` and `revision`,
/// in its order: `ref` (its first 7 characters, `shortref`), `branch`, `tag`, `rel`.
fn git_lock_options(
    branch: Option<&str>,
    tag: Option<&str>,
    reference: Option<&str>,
    rel: Option<&str>,
) -> Vec<(&'static str, String)> {
    let shortref = reference.map(|r| r.chars().take(7).collect::<String>());
    [
        ("ref", shortref),
        ("branch", branch.map(str::to_owned)),
        ("tag", tag.map(str::to_owned)),
        ("rel", rel.map(str::to_owned)),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect()
}

/// The repository and revision a lock was read from with `include_policy NAME, git:`.
struct GitAt<'a> {
    url: &'a str,
    revision: &'a str,
    branch: Option<&'a str>,
    tag: Option<&'a str>,
    reference: Option<&'a str>,
}

impl GitAt<'_> {
    /// chef-cli's `GitLockFetcher#lock_data`: a cookbook whose `source_options` has `path`
    /// comes from the same repository and revision, its path becoming `rel` (without a leading
    /// `../` or `./`, as chef-cli's `%r{(^../)|(^./)}` strips one, `.` matching any
    /// character; `"."` means the repository root). chef-cli keeps the lock's other keys and
    /// reads the cookbook as a git one; here the entry becomes the cached git lock
    /// (`cache_key` `NAME-REVISION`, `origin` the URL) so that it is fetched from git.
    fn rewrite_path_cookbook(&self, name: &str, lock: &mut Map<String, Value>) {
        let Some(Value::Object(opt)) = lock.get("source_options") else {
            return;
        };
        if !opt.contains_key("path") {
            return;
        }
        let mut opt = opt.clone();
        if !opt.contains_key("git") {
            opt.insert("git".into(), self.url.into());
        }
        if !opt.contains_key("revision") {
            opt.insert("revision".into(), self.revision.into());
        }
        if let Some(b) = self.branch {
            if !opt.contains_key("branch") {
                opt.insert("branch".into(), b.into());
            }
            // chef-cli tests `branch.nil?` here too, so a tag is kept only beside a branch.
            if !opt.contains_key("tag") {
                opt.insert("tag".into(), self.tag.map_or(Value::Null, Value::from));
            }
        }
        if let (Some(r), false) = (self.reference, opt.contains_key("ref")) {
            opt.insert("ref".into(), r.into());
        }
        let path_keys: Vec<&str> = ["path", "rel"]
            .into_iter()
            .filter(|k| opt.contains_key(*k))
            .collect();
        for key in path_keys {
            let value = opt
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if value == "." {
                opt.remove(key);
                continue;
            }
            opt.insert("rel".into(), strip_one_leading_dir(&value).into());
        }
        opt.shift_remove("path");
        let revision = opt
            .get("revision")
            .and_then(Value::as_str)
            .unwrap_or(self.revision)
            .to_owned();
        let origin = opt.get("git").cloned().unwrap_or(Value::Null);
        let mut cached = Map::new();
        for key in ["version", "identifier", "dotted_decimal_identifier"] {
            cached.insert(key.into(), lock.get(key).cloned().unwrap_or(Value::Null));
        }
        cached.insert("cache_key".into(), format!("{name}-{revision}").into());
        cached.insert("origin".into(), origin);
        cached.insert("source_options".into(), Value::Object(opt));
        *lock = cached;
    }
}

/// `s.gsub(%r{(^../)|(^./)}, "")` as Ruby computes it: at most one match, at the start, of
/// two or one characters (any, `.` being a regex dot) followed by `/`.
fn strip_one_leading_dir(s: &str) -> &str {
    let head: Vec<(usize, char)> = s.char_indices().take(3).collect();
    let any = |i: usize| head.get(i).is_some_and(|(_, c)| *c != '\n');
    let slash = |i: usize| head.get(i).is_some_and(|(_, c)| *c == '/');
    if any(0) && any(1) && slash(2) {
        &s[head[2].0 + 1..]
    } else if any(0) && slash(1) {
        &s[head[1].0 + 1..]
    } else {
        s
    }
}

/// chef-cli's `LockFetcherMixin#validate_revision_id`: a `policy_revision_id:` option must
/// equal the lock's id, or its first 10 characters.
fn validate_revision_id(lock: &PolicyLock, options: &Map<String, Value>) -> Result<(), String> {
    let Some(expected) = options.get("policy_revision_id").and_then(Value::as_str) else {
        return Ok(());
    };
    let actual = lock.effective_revision_id();
    if actual == expected || actual.get(..10) == Some(expected) {
        Ok(())
    } else {
        Err(format!(
            "Expected policy_revision_id '{expected}' does not match included_policy '{actual}'."
        ))
    }
}

/// The cookbooks of a policy included from a Chef server: each from a cache (chef-cli's or
/// chef-sync's `NAME-IDENTIFIER`), else downloaded from `GET cookbook_artifacts/NAME/ID`;
/// every one's identifier verified.
async fn load_server_artifacts(
    cookbooks: &[CookbookLock],
    server: &str,
    chef: &ChefClient,
    cache: &CookbookCache,
) -> Result<Vec<(CookbookLock, PathBuf, CookbookIdentity)>, String> {
    let mut out = Vec::new();
    for c in cookbooks {
        let (cookbook_dir, identity) =
            load_server_artifact(&c.name, &c.identifier, server, chef, cache).await?;
        out.push((c.clone(), cookbook_dir, identity));
    }
    Ok(out)
}

/// The artifact `name`/`identifier` of `server`: from a cache (chef-cli's or chef-sync's
/// `NAME-IDENTIFIER`), else downloaded from `GET cookbook_artifacts/NAME/ID`; its identifier
/// verified.
async fn load_server_artifact(
    name: &str,
    identifier: &str,
    server: &str,
    chef: &ChefClient,
    cache: &CookbookCache,
) -> Result<(PathBuf, CookbookIdentity), String> {
    let key = format!("{name}-{identifier}");
    if key.contains('/') || key.contains("..") {
        return Err(format!("cookbook '{name}': invalid identifier"));
    }
    let ours = cache.root.join("cookbooks").join(&key);
    let found = cache
        .chef_cli_caches
        .iter()
        .map(|d| d.join(&key))
        .chain([ours.clone()])
        .find(|d| d.is_dir());
    let cookbook_dir = match found {
        Some(d) => d,
        None if cache.offline => {
            return Err(format!(
                "cookbook '{name}': not cached as {key} and fetching is off (offline)"
            ));
        }
        None => {
            let partial = cache.root.join("cookbooks").join(format!(".{key}.partial"));
            let _ = std::fs::remove_dir_all(&partial);
            chef_api::download::download_cookbook_artifact(chef, name, identifier, &partial)
                .await
                .map_err(|e| format!("cookbook '{name}' from {server}: {e}"))?;
            std::fs::rename(&partial, &ours).map_err(|e| format!("{}: {e}", ours.display()))?;
            ours
        }
    };
    let identity = identify(name, &cookbook_dir)
        .await
        .map_err(|e| e.to_string())?;
    if identity.identifier != identifier {
        return Err(format!(
            "cookbook '{name}' in {}: identifier {} does not match {identifier}",
            cookbook_dir.display(),
            identity.identifier,
        ));
    }
    Ok((cookbook_dir, identity))
}

/// chef-cli's `AttributeMergeChecker#check!`: across all sources, one attribute path with two
/// different leaf values is a conflict (hashes are walked, anything else is a leaf; a `nil`
/// leaf never conflicts).
fn check_attribute_conflicts(sources: &[(&str, &Map<String, Value>)]) -> Result<(), String> {
    fn fill<'a>(
        seen: &mut BTreeMap<String, (&'a str, &'a Value)>,
        source: &'a str,
        path: &str,
        map: &'a Map<String, Value>,
    ) -> Result<(), String> {
        for (k, v) in map {
            let p = format!("{path}[{k}]");
            if let Value::Object(inner) = v {
                match seen.get(&p) {
                    Some((by, old)) if !old.is_object() && !old.is_null() => {
                        return Err(format!(
                            "Attribute '{p}' provided conflicting values by the following sources [\"{by}\", \"{source}\"]"
                        ));
                    }
                    Some((_, old)) if old.is_object() => {}
                    _ => {
                        seen.insert(p.clone(), (source, v));
                    }
                }
                fill(seen, source, &p, inner)?;
                continue;
            }
            match seen.get(&p) {
                None | Some((_, Value::Null)) => {
                    seen.insert(p, (source, v));
                }
                Some((by, old)) if *old != v => {
                    return Err(format!(
                        "Attribute '{p}' provided conflicting values by the following sources [\"{by}\", \"{source}\"]"
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
    let mut seen = BTreeMap::new();
    for (name, map) in sources {
        fill(&mut seen, name, "", map)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn lock_document(
    name: &str,
    dir: &Path,
    run_list: Vec<String>,
    named: &[(String, Vec<String>)],
    included: Vec<Value>,
    solved: &BTreeMap<String, Solved>,
    default_attributes: Map<String, Value>,
    override_attributes: Map<String, Value>,
) -> Value {
    let mut locks = Map::new();
    for (cookbook, s) in solved {
        locks.insert(
            cookbook.clone(),
            Value::Object(cookbook_lock(cookbook, dir, s)),
        );
    }
    let mut doc = Map::new();
    doc.insert("revision_id".into(), Value::Null);
    doc.insert("name".into(), name.into());
    doc.insert("run_list".into(), json!(run_list));
    if !named.is_empty() {
        let lists: Map<String, Value> = named
            .iter()
            .map(|(n, items)| {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| qualify(i).unwrap_or_else(|| i.clone()))
                    .collect();
                (n.clone(), json!(items))
            })
            .collect();
        doc.insert("named_run_lists".into(), Value::Object(lists));
    }
    doc.insert("included_policy_locks".into(), Value::Array(included));
    doc.insert("cookbook_locks".into(), Value::Object(locks));
    doc.insert(
        "default_attributes".into(),
        Value::Object(default_attributes),
    );
    doc.insert(
        "override_attributes".into(),
        Value::Object(override_attributes),
    );
    doc.insert(
        "solution_dependencies".into(),
        solution_dependencies(solved),
    );
    let revision = identifier::revision_id(&doc);
    doc.insert("revision_id".into(), revision.into());
    Value::Object(doc)
}

fn cookbook_lock(name: &str, dir: &Path, s: &Solved) -> Map<String, Value> {
    let id = &s.identity;
    let mut m = Map::new();
    m.insert("version".into(), id.version().into());
    m.insert("identifier".into(), id.identifier.clone().into());
    m.insert(
        "dotted_decimal_identifier".into(),
        id.dotted_decimal_identifier.clone().into(),
    );
    match &s.kind {
        SolvedKind::Included(entry) => return entry.clone(),
        SolvedKind::Local => {
            let rel = relative_path(dir, &s.dir);
            m.insert("source".into(), rel.clone().into());
            m.insert("cache_key".into(), Value::Null);
            m.insert("scm_info".into(), scm_info(&s.dir));
            m.insert("source_options".into(), json!({ "path": rel }));
        }
        SolvedKind::Git {
            url,
            revision,
            options,
        } => {
            m.insert("cache_key".into(), format!("{name}-{revision}").into());
            m.insert("origin".into(), url.clone().into());
            let mut so = Map::new();
            so.insert("git".into(), url.clone().into());
            so.insert("revision".into(), revision.clone().into());
            for (k, v) in options {
                so.insert((*k).into(), v.clone().into());
            }
            m.insert("source_options".into(), Value::Object(so));
        }
        SolvedKind::Artifact { download_url } | SolvedKind::Artifactory { download_url } => {
            // cookbook-omnifetch artifactserver.rb / artifactory.rb: cache_key
            // `NAME-VERSION-HOST`, origin the download URL.
            let host = Url::parse(download_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            m.insert(
                "cache_key".into(),
                format!("{name}-{}-{host}", id.version()).into(),
            );
            m.insert("origin".into(), download_url.clone().into());
            let key = if matches!(s.kind, SolvedKind::Artifactory { .. }) {
                "artifactory"
            } else {
                "artifactserver"
            };
            m.insert(
                "source_options".into(),
                json!({key: download_url, "version": id.version()}),
            );
        }
        SolvedKind::ChefServer { url } => {
            // cookbook-omnifetch chef_server.rb: cache_key `NAME-VERSION`, origin (`uri`)
            // the server URL as the Policyfile wrote it.
            m.insert(
                "cache_key".into(),
                format!("{name}-{}", id.version()).into(),
            );
            m.insert("origin".into(), url.clone().into());
            m.insert(
                "source_options".into(),
                json!({"chef_server": url, "version": id.version()}),
            );
        }
        SolvedKind::ServerArtifact { server } => {
            // cookbook-omnifetch chef_server_artifact.rb: cache_key `NAME-IDENTIFIER`.
            m.insert(
                "cache_key".into(),
                format!("{name}-{}", id.identifier).into(),
            );
            m.insert("origin".into(), server.clone().into());
            m.insert(
                "source_options".into(),
                json!({"chef_server_artifact": server, "identifier": id.identifier}),
            );
        }
    }
    m
}

/// `{"Policyfile": [[name, constraint]...] sorted, "dependencies": {"NAME (VERSION)": [[dep,
/// constraint]...]} sorted by key}`.
fn solution_dependencies(solved: &BTreeMap<String, Solved>) -> Value {
    let mut policyfile: Vec<(String, String)> = solved
        .iter()
        .map(|(name, s)| {
            let c = s
                .fixed_constraint
                .clone()
                .unwrap_or_else(|| format!("= {}", s.identity.version()));
            (name.clone(), semverse(&c))
        })
        .collect();
    policyfile.sort();
    let mut deps = Map::new();
    for (name, s) in solved {
        let list: Vec<Value> = s
            .identity
            .metadata
            .dependencies()
            .map(|(d, c)| json!([d, semverse(c)]))
            .collect();
        deps.insert(
            format!("{name} ({})", s.identity.version()),
            Value::Array(list),
        );
    }
    json!({
        "Policyfile": policyfile.into_iter().map(|(n, c)| json!([n, c])).collect::<Vec<_>>(),
        "dependencies": deps,
    })
}

/// A constraint as Semverse prints it: `OP VERSION` (default operator `=`), `>= 0.0.0` for
/// an empty one.
fn semverse(c: &str) -> String {
    let t = c.trim();
    if t.is_empty() {
        return ">= 0.0.0".into();
    }
    let split = t.find(|ch: char| ch.is_ascii_digit()).unwrap_or(t.len());
    let (op, version) = t.split_at(split);
    let op = op.trim();
    format!("{} {version}", if op.is_empty() { "=" } else { op })
}

/// `foo` → `recipe[foo::default]`, `foo::bar` → `recipe[foo::bar]`, `recipe[foo]` →
/// `recipe[foo::default]`; roles and other forms are `None`.
pub fn qualify(item: &str) -> Option<String> {
    let inner = match item.strip_prefix("recipe[") {
        Some(rest) => rest.strip_suffix(']')?,
        None if item.contains('[') => return None,
        None => item,
    };
    if inner.is_empty() || inner.contains(char::is_whitespace) {
        return None;
    }
    Some(if inner.contains("::") {
        format!("recipe[{inner}]")
    } else {
        format!("recipe[{inner}::default]")
    })
}

fn split_item(item: &str) -> (&str, &str) {
    let inner = item
        .strip_prefix("recipe[")
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(item);
    inner.split_once("::").unwrap_or((inner, "default"))
}

fn parse_version(name: &str, v: &str) -> Result<Version, String> {
    Version::parse(v).map_err(|e| format!("cookbook '{name}': version {v:?}: {e}"))
}

async fn identify(name: &str, dir: &Path) -> Result<CookbookIdentity, InstallError> {
    let owned = dir.to_path_buf();
    let result = tokio::task::spawn_blocking(move || CookbookIdentity::load(&owned)).await;
    match result {
        Ok(r) => r.map_err(|source| InstallError::Cookbook {
            name: name.to_owned(),
            source,
        }),
        Err(e) => Err(InstallError::Cookbook {
            name: name.to_owned(),
            source: CookbookError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            },
        }),
    }
}

/// `Chef::Mixin::DeepMerge.merge(into, from)` as chef-cli merges an included lock's
/// attributes (chef: mixin/deep_merge.rb, deep_merge!): hashes merge key by key (keys new to
/// `into` appended), arrays become their union, `null` in `from` keeps what `into` has, any
/// other value of `from` wins.
fn deep_merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => deep_merge(a, b),
            (Some(Value::Array(a)), Value::Array(b)) => {
                for item in b {
                    if !a.contains(item) {
                        a.push(item.clone());
                    }
                }
            }
            (Some(existing), Value::Null) if !existing.is_null() => {}
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `..` and `.` folded away lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `to` relative to `from` with `/` separators (`.` when equal), as chef-cli writes `source`.
fn relative_path(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| normalize(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    let (from, to) = (abs(from), abs(to));
    let f: Vec<Component<'_>> = from.components().collect();
    let t: Vec<Component<'_>> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_owned(), f.len() - common).collect();
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// chef-cli's `scm_info`: `null` outside a git work tree, else remote, revision, whether the
/// tree is clean, and the remote branches that contain the revision.
fn scm_info(dir: &Path) -> Value {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if git(&["rev-parse", "--is-inside-work-tree"]).as_deref() != Some("true") {
        return Value::Null;
    }
    let Some(revision) = git(&["rev-parse", "HEAD"]) else {
        return Value::Null;
    };
    let remote = git(&["config", "--get", "remote.origin.url"]).filter(|r| !r.is_empty());
    let clean = git(&["status", "--porcelain"]).is_some_and(|s| s.is_empty());
    let branches: Vec<String> = git(&["branch", "-r", "--contains", "HEAD"])
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && !l.contains(" -> "))
        .collect();
    json!({
        "scm": "git",
        "remote": remote,
        "revision": revision,
        "working_tree_clean": clean,
        "published": !branches.is_empty(),
        "synchronized_remote_branches": branches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leading_directory_is_stripped_as_chef_cli_regex_does() {
        for (path, rel) in [
            ("../cookbooks/a", "cookbooks/a"),
            ("./a", "a"),
            ("ab/c/d", "c/d"),
            ("a/b", "b"),
            ("../../a", "../a"),
            ("cookbooks/a", "cookbooks/a"),
            ("a", "a"),
        ] {
            assert_eq!(strip_one_leading_dir(path), rel, "{path}");
        }
    }

    #[test]
    fn run_list_items_are_qualified_as_chef_install_writes_them() {
        assert_eq!(qualify("apt").unwrap(), "recipe[apt::default]");
        assert_eq!(
            qualify("jenkins::master").unwrap(),
            "recipe[jenkins::master]"
        );
        assert_eq!(
            qualify("recipe[policyfile_demo]").unwrap(),
            "recipe[policyfile_demo::default]"
        );
        assert_eq!(qualify("role[web]"), None);
    }

    #[test]
    fn constraints_print_as_semverse_does() {
        assert_eq!(semverse(""), ">= 0.0.0");
        assert_eq!(semverse("~> 2.1"), "~> 2.1");
        assert_eq!(semverse(">=1.0.0"), ">= 1.0.0");
        assert_eq!(semverse("1.2.3"), "= 1.2.3");
    }

    #[test]
    fn sources_are_relative_to_the_policyfile() {
        assert_eq!(
            relative_path(Path::new("/r/p"), Path::new("/r/p/cookbooks/a")),
            "cookbooks/a"
        );
        assert_eq!(
            relative_path(Path::new("/r/p"), Path::new("/r/cookbooks/a")),
            "../cookbooks/a"
        );
        assert_eq!(relative_path(Path::new("/r/p"), Path::new("/r/p")), ".");
        assert_eq!(
            lock_path_for(Path::new("/r/web.rb")),
            Path::new("/r/web.lock.json")
        );
    }
}
