//! `status`: what is where, and where the servers disagree. Read-only, every server at once.
//!
//! ```text
//! repo dir ──► RepoConfig ──► servers selected as for a sync
//!         ├──► per server, concurrently (collect): listing + API version, then every
//!         │      manifest (no file downloads) → a content digest per cookbook version;
//!         │      every role, environment, data bag (item) → digest of its normalised JSON
//!         ├──► the repository's cookbooks (cookbook_path or the Berksfile's graph), loaded
//!         │      and hashed once → the digest each server should hold (digest); its
//!         │      objects (crate::objects), normalised the same way
//!         ├──► per object × server: match / differs / missing / extra, and across servers:
//!         │      partial, diverged (compare) ──► StatusReport (report; table: render)
//!         └──► per (policy group, policy) × server: the revision it points at; across the
//!                servers having that group: partial, diverged (policies)
//! ```
//!
//! A cookbook version's digest is a hash over the sorted `(path, checksum)` pairs of its
//! files ([`CookbookDigest`]), the same from a v0 or v2 manifest as from the repository, so
//! the same version number holding different files on two servers (hidden by a frozen flag
//! from every upload tool) shows as [`Drift::Diverged`]. Roles, environments, data bags and
//! items are compared by [`objects::digest`](crate::objects::digest) of their JSON after
//! [`objects::normalize`](crate::objects::normalize) fills in the server's defaults. The
//! `_default` environment, which every server has and no sync changes, is left out.
//!
//! ```no_run
//! # async fn run() -> Result<(), chef_sync::SyncError> {
//! let report = chef_sync::status(std::path::Path::new("chef-repo"), &Default::default()).await?;
//! print!("{}", report.render_table());
//! std::process::exit(report.exit_code().into());
//! # }
//! ```

mod collect;
pub mod compare;
pub mod digest;
pub mod policies;
mod render;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chef_api::cookbook::LoadedCookbook;
use chef_api::version::Version;

use crate::berkshelf::PrepareOptions;
use crate::config::{LoadOptions, RepoConfig, ServerSpec};
use crate::cookbooks::CookbookSet;
use crate::objects::{ObjectId, ObjectKind, ObjectKinds, ObjectPaths, RepoObjects};
use crate::report::ReportError;
use crate::sync::{Repo, SyncError, select_servers};

use collect::{CookbookKey, Inventory, Limits};
pub use compare::{CellState, Drift};
use compare::{ServerCopy, compare};
pub use digest::{CookbookDigest, ServerCookbook};
pub use policies::{PolicyCell, PolicyCellState, PolicyStatus};
pub use report::{
    CookbookCell, CookbookStatus, ObjectCell, ObjectStatus, ServerStatus, StatusReport,
};

/// The cookbook versions a sync would send one server, with their digests.
type ExpectedCookbooks = BTreeMap<CookbookKey, CookbookDigest>;

/// How to take the status.
#[derive(Clone)]
pub struct StatusOptions {
    /// Only these servers (empty: all).
    pub servers: Vec<String>,
    /// What to compare: cookbooks, roles, environments, data bags (default: all). As with a
    /// sync, an object kind is compared only when one of its directories exists in the
    /// repository.
    pub kinds: ObjectKinds,
    /// Used when status reads the repository itself: the environment knife.rb sees and
    /// injected keys (its `only` is replaced by `servers`).
    pub load: LoadOptions,
    /// How the Berksfile is read when the repository has one, as for a sync (an empty `env`
    /// takes `load.env`, empty `chef_servers` take the servers being read). Like a sync, a
    /// lock that no longer matches the Berksfile is resolved and written again.
    pub berkshelf: PrepareOptions,
    /// Requests in flight across all servers (default 256).
    pub concurrency: usize,
    /// Requests in flight per server (default 64): at 100 ms RTT, 64 manifests per round trip.
    pub per_server_concurrency: usize,
    /// Count objects the servers hold and the repository does not (old cookbook versions,
    /// roles deleted from the repository) as drift: what `sync --purge --purge-cookbooks`
    /// would delete. Without it they are listed as `extra` and are drift only when the
    /// servers disagree about them.
    pub strict: bool,
}

impl Default for StatusOptions {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            kinds: ObjectKinds::ALL,
            load: LoadOptions::default(),
            berkshelf: PrepareOptions::default(),
            concurrency: 256,
            per_server_concurrency: 64,
            strict: false,
        }
    }
}

impl std::fmt::Debug for StatusOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusOptions")
            .field("servers", &self.servers)
            .field("kinds", &self.kinds)
            .field("concurrency", &self.concurrency)
            .field("per_server_concurrency", &self.per_server_concurrency)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

/// Reads every selected server at once and compares what each holds with the repository and
/// with the others. Changes nothing on any server.
///
/// # Errors
/// Only what stops everything: configuration, the repository's cookbooks, an unknown server
/// name. A server that cannot be read is in [`StatusReport::servers`] (and makes
/// [`StatusReport::exit_code`] 1); it never stops the others.
pub async fn status(
    repo: impl Into<Repo<'_>>,
    options: &StatusOptions,
) -> Result<StatusReport, SyncError> {
    let started = Instant::now();
    crate::runtime::seed_signing_in_background();
    let config = repo.into().config(&options.load, &options.servers)?;
    let config = &*config;
    let mut servers = select_servers(&config.servers, &options.servers)?;
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    // The servers are read while the repository is loaded and hashed: neither needs the other.
    let mut reads = ServerReads::spawn(&servers, options);
    // The objects first (small files, quick): each server's read compares its search rows
    // with them to decide which objects need their own GET.
    let objects = repo_objects(&servers, options).await?;
    reads.hand_over(&servers, &objects);
    let (cookbooks, berks_warnings) = if options.kinds.cookbooks {
        repo_cookbooks(config, &servers, options).await?
    } else {
        (CookbookSet::default(), Vec::new())
    };
    let inventories = reads.join(&servers).await;
    let mut warnings: Vec<String> = config
        .warnings
        .iter()
        .map(|w| match w.line {
            Some(line) => format!("{}:{line}: {}", w.file.display(), w.message),
            None => format!("{}: {}", w.file.display(), w.message),
        })
        .chain(berks_warnings)
        .chain(objects.iter().flat_map(|(_, o)| o.warnings.iter().cloned()))
        .collect();
    let expected = if options.kinds.cookbooks {
        expected_cookbooks(&servers, config, &cookbooks, &mut warnings)?
    } else {
        vec![BTreeMap::new(); servers.len()]
    };
    let cookbook_rows = cookbook_rows(&servers, &expected, &inventories, options.strict);
    let expected_objects = expected_objects(&servers, &objects, options.kinds);
    let object_rows = object_rows(&servers, &expected_objects, &inventories, options.strict);
    let server_rows = servers
        .iter()
        .zip(&inventories)
        .map(|(spec, (read, took))| server_row(spec, read, *took))
        .collect();
    let policy_rows = policies::rows(
        &servers
            .iter()
            .zip(&inventories)
            .map(|(spec, (read, _))| {
                (
                    spec.name.as_str(),
                    read.as_ref().ok().map(|inv| &inv.policy_groups),
                )
            })
            .collect::<Vec<_>>(),
    );
    Ok(StatusReport::new(
        options.strict,
        started.elapsed(),
        warnings,
        server_rows,
        cookbook_rows,
        object_rows,
    )
    .with_policies(policy_rows))
}

/// [`status`] for callers without an async runtime: runs it on a new multi-threaded tokio
/// runtime.
///
/// # Errors
/// As [`status`], plus [`SyncError::Runtime`].
pub fn status_blocking<'a>(
    repo: impl Into<Repo<'a>>,
    options: &StatusOptions,
) -> Result<StatusReport, SyncError> {
    let runtime = crate::runtime::build().map_err(SyncError::Runtime)?;
    runtime.block_on(status(repo, options))
}

/// Every server's read, each on its own task (signing and hashing of several servers spread
/// over the cores).
struct ServerReads {
    handles: Vec<tokio::task::JoinHandle<(Result<Inventory, ReportError>, Duration)>>,
    /// Per server: where its repository objects go once loaded (see [`Self::hand_over`]).
    repos: Vec<Option<tokio::sync::oneshot::Sender<Option<Arc<RepoObjects>>>>>,
}

impl ServerReads {
    fn spawn(servers: &[&ServerSpec], options: &StatusOptions) -> Self {
        let global = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
        let mut repos = Vec::with_capacity(servers.len());
        let handles = servers
            .iter()
            .map(|spec| {
                let (repo_tx, repo_rx) = tokio::sync::oneshot::channel();
                repos.push(Some(repo_tx));
                // A repository that failed to load ends the status anyway: read by GET.
                let repo = async move { repo_rx.await.ok().flatten() };
                let client = crate::sync::client_for(spec);
                let server = spec.name.clone();
                let limits = Limits {
                    per_server: options.per_server_concurrency.max(1),
                    global: Arc::clone(&global),
                };
                let kinds = compared_kinds(spec, options.kinds);
                tokio::spawn(async move {
                    let started = Instant::now();
                    let read = match client {
                        Ok(client) => collect::collect(&client, &server, kinds, &limits, repo)
                            .await
                            .map(without_default_environment),
                        Err(e) => Err(e),
                    };
                    (read, started.elapsed())
                })
            })
            .collect();
        Self { handles, repos }
    }

    /// Gives each server's read the repository objects it is compared with.
    fn hand_over(&mut self, servers: &[&ServerSpec], objects: &[(ObjectPaths, Arc<RepoObjects>)]) {
        for (spec, tx) in servers.iter().zip(&mut self.repos) {
            let repo = objects
                .iter()
                .find(|(paths, _)| *paths == spec.object_paths)
                .map(|(_, repo)| Arc::clone(repo));
            if let Some(tx) = tx.take() {
                // The read may have ended already (its server failed): nothing to tell it.
                let _ = tx.send(repo);
            }
        }
    }

    async fn join(
        mut self,
        servers: &[&ServerSpec],
    ) -> Vec<(Result<Inventory, ReportError>, Duration)> {
        let mut out = Vec::with_capacity(self.handles.len());
        for (handle, spec) in std::mem::take(&mut self.handles).into_iter().zip(servers) {
            out.push(handle.await.unwrap_or_else(|e| {
                (
                    Err(ReportError::other(
                        format!("reading this server did not finish: {e}"),
                        &spec.name,
                    )),
                    Duration::ZERO,
                )
            }));
        }
        out
    }
}

impl Drop for ServerReads {
    /// A repository that cannot be read ends the status at once: stop reading the servers.
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// The kinds compared on one server: those asked for that a sync would carry to it, i.e. an
/// object kind only when one of its directories exists (a repository without `roles/` syncs
/// no roles, so the servers' roles are not its concern and not compared).
fn compared_kinds(spec: &ServerSpec, asked: ObjectKinds) -> ObjectKinds {
    let exists = |dirs: &[PathBuf]| dirs.iter().any(|d| d.is_dir());
    let paths = &spec.object_paths;
    ObjectKinds {
        cookbooks: asked.cookbooks,
        roles: asked.roles && exists(&paths.role_path),
        environments: asked.environments && exists(&paths.environment_path),
        data_bags: asked.data_bags && exists(&paths.data_bag_path),
    }
}

/// The `_default` environment is on every server and no sync changes it: not compared.
fn without_default_environment(mut inventory: Inventory) -> Inventory {
    inventory.objects.remove(&ObjectId::environment("_default"));
    inventory
}

/// The repository's objects under each distinct set of the servers' object paths, read once
/// each (on the blocking pool: files and the Ruby sandbox).
async fn repo_objects(
    servers: &[&ServerSpec],
    options: &StatusOptions,
) -> Result<Vec<(ObjectPaths, Arc<RepoObjects>)>, SyncError> {
    let mut out: Vec<(ObjectPaths, Arc<RepoObjects>)> = Vec::new();
    for spec in servers {
        if !compared_kinds(spec, options.kinds).any_objects()
            || out.iter().any(|(paths, _)| *paths == spec.object_paths)
        {
            continue;
        }
        let paths = spec.object_paths.clone();
        let env = options.load.env.clone();
        let task_paths = paths.clone();
        let loaded = tokio::task::spawn_blocking(move || RepoObjects::load(&task_paths, &env))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        out.push((paths, Arc::new(loaded)));
    }
    Ok(out)
}

/// Per server (in order), the digest of every object of the selected kinds a sync would send
/// it.
fn expected_objects(
    servers: &[&ServerSpec],
    objects: &[(ObjectPaths, Arc<RepoObjects>)],
    kinds: ObjectKinds,
) -> Vec<BTreeMap<ObjectId, String>> {
    servers
        .iter()
        .map(|spec| {
            let kinds = compared_kinds(spec, kinds);
            objects
                .iter()
                .find(|(paths, _)| *paths == spec.object_paths)
                .map(|(_, repo)| {
                    repo.of_kinds(kinds)
                        .filter(|o| o.id != ObjectId::environment("_default"))
                        .map(|o| (o.id.clone(), crate::objects::digest(&o.json)))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

/// One row per role, environment, data bag and item the repository or any server has.
fn object_rows(
    servers: &[&ServerSpec],
    expected: &[BTreeMap<ObjectId, String>],
    inventories: &[(Result<Inventory, ReportError>, Duration)],
    strict: bool,
) -> Vec<ObjectStatus> {
    let keys: BTreeSet<&ObjectId> = expected
        .iter()
        .flat_map(BTreeMap::keys)
        .chain(
            inventories
                .iter()
                .filter_map(|(read, _)| read.as_ref().ok())
                .flat_map(|inv| inv.objects.keys()),
        )
        .collect();
    let mut rows: Vec<ObjectStatus> = keys
        .into_iter()
        .map(|id| {
            let copies: Vec<ServerCopy<'_, String>> = expected
                .iter()
                .zip(inventories)
                .map(|(want, (read, _))| match read {
                    Err(_) => ServerCopy::Unreadable,
                    Ok(inv) => ServerCopy::Read {
                        expected: want.get(id),
                        held: inv.objects.get(id),
                    },
                })
                .collect();
            let (states, drift) = compare(&copies, String::eq, strict);
            let cells = servers
                .iter()
                .zip(inventories)
                .zip(states)
                .map(|((spec, (read, _)), state)| ObjectCell {
                    server: spec.name.clone(),
                    state,
                    digest: read
                        .as_ref()
                        .ok()
                        .and_then(|inv| inv.objects.get(id))
                        .cloned(),
                })
                .collect();
            ObjectStatus {
                kind: id.kind.as_str().to_owned(),
                bag: id.bag.clone(),
                name: id.name.clone(),
                id: id.to_string(),
                repo: expected.iter().find_map(|want| want.get(id)).cloned(),
                servers: cells,
                drift,
            }
        })
        .collect();
    // Kind in the order a sync writes them (bags, items, roles, environments), then name.
    let rank = |kind: &str| {
        ObjectKind::ALL
            .iter()
            .position(|k| k.as_str() == kind)
            .unwrap_or(usize::MAX)
    };
    rows.sort_by(|a, b| {
        rank(&a.kind)
            .cmp(&rank(&b.kind))
            .then_with(|| a.bag.cmp(&b.bag))
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

/// The repository's cookbooks as a sync would load them: the Berksfile's lock graph, or every
/// cookbook on the servers' `cookbook_path`s.
async fn repo_cookbooks(
    config: &RepoConfig,
    servers: &[&ServerSpec],
    options: &StatusOptions,
) -> Result<(CookbookSet, Vec<String>), SyncError> {
    Ok(match &config.berksfile {
        Some(berksfile) => {
            let mut berks = options.berkshelf.clone();
            if berks.env.is_empty() {
                berks.env = options.load.env.clone();
            }
            if berks.chef_servers.is_empty() {
                berks.chef_servers = servers.iter().map(|s| (*s).clone()).collect();
            }
            let (set, prepared) =
                CookbookSet::load_berksfile(&config.root, berksfile, &berks, 0).await?;
            (set, prepared.warnings)
        }
        None => {
            let paths: Vec<PathBuf> = servers
                .iter()
                .flat_map(|s| s.cookbook_path.iter().cloned())
                .collect();
            (CookbookSet::load(&paths, 0).await?, Vec::new())
        }
    })
}

/// Per server (in order), the digest of every cookbook version a sync would send it.
fn expected_cookbooks(
    servers: &[&ServerSpec],
    config: &RepoConfig,
    set: &CookbookSet,
    warnings: &mut Vec<String>,
) -> Result<Vec<ExpectedCookbooks>, SyncError> {
    let mut digests: BTreeMap<PathBuf, Option<(CookbookKey, CookbookDigest)>> = BTreeMap::new();
    let mut expected = Vec::with_capacity(servers.len());
    for spec in servers {
        let cookbooks: Vec<Arc<LoadedCookbook>> = match &config.berksfile {
            Some(berksfile) => set.for_paths(std::slice::from_ref(berksfile))?,
            None => set.for_paths(&spec.cookbook_path)?,
        };
        let mut map = BTreeMap::new();
        for cookbook in cookbooks {
            let entry = digests
                .entry(cookbook.dir().to_path_buf())
                .or_insert_with(|| match Version::parse(cookbook.version()) {
                    Ok(version) => Some((
                        (cookbook.name().to_owned(), version),
                        CookbookDigest::from_cookbook(&cookbook),
                    )),
                    Err(e) => {
                        warnings.push(format!(
                            "{}: version '{}' is not comparable ({e}); left out of the status",
                            cookbook.dir().display(),
                            cookbook.version()
                        ));
                        None
                    }
                });
            if let Some((key, digest)) = entry {
                map.insert(key.clone(), digest.clone());
            }
        }
        expected.push(map);
    }
    Ok(expected)
}

/// One row per cookbook version the repository or any server has.
fn cookbook_rows(
    servers: &[&ServerSpec],
    expected: &[ExpectedCookbooks],
    inventories: &[(Result<Inventory, ReportError>, Duration)],
    strict: bool,
) -> Vec<CookbookStatus> {
    let keys: BTreeSet<&CookbookKey> = expected
        .iter()
        .flat_map(BTreeMap::keys)
        .chain(
            inventories
                .iter()
                .filter_map(|(read, _)| read.as_ref().ok())
                .flat_map(|inv| inv.cookbooks.keys()),
        )
        .collect();
    keys.into_iter()
        .map(|key| {
            let copies: Vec<ServerCopy<'_, CookbookDigest>> = expected
                .iter()
                .zip(inventories)
                .map(|(want, (read, _))| match read {
                    Err(_) => ServerCopy::Unreadable,
                    Ok(inv) => ServerCopy::Read {
                        expected: want.get(key),
                        held: inv.cookbooks.get(key).map(|c| &c.digest),
                    },
                })
                .collect();
            let (states, drift) = compare(&copies, CookbookDigest::same_content, strict);
            let cells = servers
                .iter()
                .zip(inventories)
                .zip(states)
                .map(|((spec, (read, _)), state)| {
                    let held = read.as_ref().ok().and_then(|inv| inv.cookbooks.get(key));
                    CookbookCell {
                        server: spec.name.clone(),
                        state,
                        digest: held.map(|c| c.digest.digest.clone()),
                        frozen: held.map(|c| c.frozen),
                    }
                })
                .collect();
            CookbookStatus {
                name: key.0.clone(),
                version: key.1.to_string(),
                repo: expected
                    .iter()
                    .find_map(|want| want.get(key))
                    .map(|d| d.digest.clone()),
                servers: cells,
                drift,
            }
        })
        .collect()
}

fn server_row(
    spec: &ServerSpec,
    read: &Result<Inventory, ReportError>,
    took: Duration,
) -> ServerStatus {
    ServerStatus {
        name: spec.name.clone(),
        url: spec.url.clone(),
        ok: read.is_ok(),
        error: read.as_ref().err().cloned(),
        api_version: read.as_ref().ok().map(|inv| inv.api_version),
        cookbook_versions: read.as_ref().map_or(0, |inv| inv.cookbooks.len()),
        objects: read.as_ref().map_or(0, |inv| inv.objects.len()),
        duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
    }
}
