//! `chef push GROUP` to every server at once, a group moving only when everything it names
//! is on that server.
//!
//! Per server, concurrently (the first step while the locks' cookbooks are still being read):
//!
//! 1. `GET cookbook_artifacts?num_versions=all` and `GET policy_groups`, together;
//! 2. if artifacts are missing: one `POST sandboxes` with every checksum of every missing
//!    artifact of every policy, the file PUTs the server asks for, the commit, then one
//!    `PUT cookbook_artifacts/NAME/IDENTIFIER` per missing artifact (`all_files` at API ≥ 2,
//!    the nine segments below; a 409 means it exists, and its files are compared);
//! 3. `GET cookbook_artifacts` again: every artifact each lock names must be listed;
//! 4. per policy whose artifacts are all there and whose group does not already point at its
//!    revision: `PUT policy_groups/GROUP/policies/NAME` with the lock document.
//!
//! erchef accepts a policy naming artifacts it lacks, so step 3 is the only guard: a server
//! where one is missing gets no policy PUT for that lock, and its group keeps its revision.
//! A re-run finds every artifact and every group entry in step 1 and sends nothing else.
//!
//! A dry run ([`PushOptions::dry_run`]) sends step 1 only (two GETs per server): per server it
//! reports the artifacts it would create with their files, and which group entry it would
//! point at which revision, as `create` / `update` outcomes.
//!
//! Progress goes to [`PushOptions::events`] as the sync's [`SyncEvent`](crate::SyncEvent)s,
//! per server: `Planning`, `Planned` (artifacts to create / already there), the upload events
//! of each artifact (`CookbookStarted` with the files the sandbox asked for, `BytesSent` per
//! file, `CookbookFinished`), one `PolicyGroup` per policy, then `Finished`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chef_api::client::{ChefClient, SignedAhead};
use chef_api::cookbook::manifest::{ALL_FILES_API_VERSION, ManifestFiles};
use chef_api::cookbook::{CookbookFile, Segment};
use chef_api::upload::{Outcome, SharedBodies, UploadEvent, put_sandbox_file};
use futures::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::cookbooks::{CookbookCache, LockedCookbook, LockedCookbookError, load_locked};
use super::groups::{GroupError, group_for};
use super::lock::{LockError, PolicyLock};
use super::report::{ArtifactReport, PolicyOutcome, PolicyReport, PolicyServerReport, PushReport};
use crate::config::{ConfigError, LoadOptions, ServerSpec};
use crate::events::{SyncEventKind, SyncEventSink, emit};
use crate::report::{CookbookOutcome, ReportError};
use crate::sync::Repo;

/// Why a push could not run at all. Failures of single servers are in the [`PushReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The repository configuration could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A lock file could not be read.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A locked cookbook could not be provided or does not match its identifier.
    #[error("{lock}: {source}", lock = lock.display())]
    Cookbook {
        /// The lock file.
        lock: PathBuf,
        /// What is wrong with which cookbook.
        #[source]
        source: Box<LockedCookbookError>,
    },
    /// No lock was given and the repository root has no `Policyfile.lock.json`.
    #[error("no policy lock given and none at {}", .0.display())]
    NoLock(PathBuf),
    /// Two locks have the same policy name.
    #[error("two locks define policy '{name}': {} and {}", first.display(), second.display())]
    DuplicatePolicy {
        /// Policy name.
        name: String,
        /// First lock.
        first: PathBuf,
        /// Second lock.
        second: PathBuf,
    },
    /// `servers` names a server the configuration does not have.
    #[error("no server named '{name}' in the configuration (known: {known})")]
    UnknownServer {
        /// The name asked for.
        name: String,
        /// Known servers, comma-separated.
        known: String,
    },
    /// The configuration has no servers (or the filter left none).
    #[error("no servers to push to (each server needs .chef/NAME/config.yml)")]
    NoServers,
    /// The blocking facade could not start its runtime.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// How to push.
#[derive(Clone)]
pub struct PushOptions {
    /// The policy group on every server (`--policy-group`). `None`: each server's
    /// `policy_group` from `.chef/NAME/config.yml`.
    pub policy_group: Option<String>,
    /// Only these servers (empty: all).
    pub servers: Vec<String>,
    /// The environment knife.rb sees and injected keys.
    pub load: LoadOptions,
    /// Where cached (Supermarket, git) cookbooks are found and fetched to.
    pub cache: CookbookCache,
    /// File PUTs and artifact PUTs in flight per server (default 256, as a sync's: at 64, a
    /// 40-cookbook lock's ~1,240 files took ≥ 20 file rounds per server).
    pub per_server_concurrency: usize,
    /// Extra attempts at the sandbox commit on 400/503 (default 5, as chef push).
    pub commit_retries: u32,
    /// Delay between commit attempts (default 2 s, as chef push).
    pub commit_retry_delay: Duration,
    /// Read each server's artifacts and groups only, and report what a push would create and
    /// which group entries it would move; nothing is written on any server.
    pub dry_run: bool,
    /// Progress events, as a sync's (see the module documentation).
    pub events: Option<SyncEventSink>,
}

impl std::fmt::Debug for PushOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("policy_group", &self.policy_group)
            .field("servers", &self.servers)
            .field("cache", &self.cache)
            .field("per_server_concurrency", &self.per_server_concurrency)
            .field("commit_retries", &self.commit_retries)
            .field("commit_retry_delay", &self.commit_retry_delay)
            .field("dry_run", &self.dry_run)
            .field("events", &self.events.as_ref().map(|_| "<sink>"))
            .finish_non_exhaustive()
    }
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            policy_group: None,
            servers: Vec::new(),
            load: LoadOptions::default(),
            cache: CookbookCache::default(),
            per_server_concurrency: 256,
            commit_retries: 5,
            commit_retry_delay: Duration::from_secs(2),
            dry_run: false,
            events: None,
        }
    }
}

/// A lock with its cookbooks' files, identifiers verified: what is pushed.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// The lock.
    pub lock: PolicyLock,
    /// Its cookbooks in lock order.
    pub cookbooks: Vec<LockedCookbook>,
}

impl LoadedPolicy {
    /// Reads `path` and provides and verifies every cookbook it names.
    ///
    /// # Errors
    /// [`PushError::Lock`] or [`PushError::Cookbook`].
    pub async fn load(path: &Path, cache: &CookbookCache) -> Result<Self, PushError> {
        let lock = PolicyLock::load(path)?;
        let cookbooks = load_locked(&lock, cache)
            .await
            .map_err(|source| PushError::Cookbook {
                lock: path.to_path_buf(),
                source: Box::new(source),
            })?;
        Ok(Self { lock, cookbooks })
    }
}

/// One server to push to.
#[derive(Debug, Clone)]
pub struct PushTarget {
    /// Server name.
    pub name: String,
    /// Server URL (for the report).
    pub url: String,
    /// Its client, or why none could be built.
    pub client: Result<ChefClient, String>,
    /// Its policy group, or why it has none.
    pub group: Result<String, String>,
}

/// Pushes the locks at `locks` (default: `Policyfile.lock.json` at the repository root) to
/// every configured server at once.
///
/// # Errors
/// Only what stops everything: configuration, a lock, a cookbook whose files do not match its
/// identifier, an unknown server. A failing server never stops the others.
pub async fn push(
    repo: impl Into<Repo<'_>>,
    locks: &[PathBuf],
    options: &PushOptions,
) -> Result<PushReport, PushError> {
    let started = Instant::now();
    crate::runtime::seed_signing_in_background();
    let config = repo.into().config(&options.load, &options.servers)?;
    let config = &*config;
    let servers = select_servers(&config.servers, &options.servers)?;
    let lock_paths: Vec<PathBuf> = if locks.is_empty() {
        let default = config.root.join("Policyfile.lock.json");
        if !default.is_file() {
            return Err(PushError::NoLock(default));
        }
        vec![default]
    } else {
        locks.to_vec()
    };
    // Clients are built side by side (TLS roots and keys are read per client).
    let clients = futures::future::join_all(servers.iter().map(|spec| {
        let spec = (*spec).clone();
        async move {
            tokio::task::spawn_blocking(move || spec.client().map_err(|e| e.to_string()))
                .await
                .unwrap_or_else(|e| Err(format!("building the client failed: {e}")))
        }
    }))
    .await;
    let targets: Vec<PushTarget> = servers
        .iter()
        .zip(clients)
        .map(|(spec, client)| PushTarget {
            name: spec.name.clone(),
            url: spec.url.clone(),
            client,
            group: group_for(&config.root, spec, options.policy_group.as_deref())
                .map_err(|e: GroupError| e.to_string()),
        })
        .collect();
    // The servers' state is asked while the cookbooks are read and hashed.
    let ahead = futures::future::join_all(targets.iter().map(|t| async move {
        match (&t.client, &t.group) {
            (Ok(client), Ok(_)) => Some(ServerState::fetch(client).await),
            _ => None,
        }
    }));
    // `chef_server` sources are fetched with the configured server whose URL they name.
    let mut cache = options.cache.clone();
    if cache.chef_servers.is_empty() {
        cache.chef_servers = targets
            .iter()
            .filter_map(|t| t.client.as_ref().ok().cloned())
            .collect();
    }
    let cache = &cache;
    let policies = async {
        let loads = lock_paths.iter().map(|p| LoadedPolicy::load(p, cache));
        futures::future::try_join_all(loads).await
    };
    let (policies, states) = futures::try_join!(policies, async { Ok(ahead.await) })?;
    check_unique(&policies)?;
    let warnings = config.warnings.iter().map(ToString::to_string).collect();
    let reports = run_targets(targets, states, &policies, options).await;
    let mut report = PushReport::new(reports, warnings, started.elapsed());
    report.dry_run = options.dry_run;
    Ok(report)
}

/// [`push`] for callers without an async runtime.
///
/// # Errors
/// As [`push`], plus [`PushError::Runtime`].
pub fn push_blocking<'a>(
    repo: impl Into<Repo<'a>>,
    locks: &[PathBuf],
    options: &PushOptions,
) -> Result<PushReport, PushError> {
    crate::runtime::build()
        .map_err(PushError::Runtime)?
        .block_on(push(repo, locks, options))
}

/// Pushes already loaded policies to explicit targets (the engine under [`push`]; tests and
/// callers with their own clients use it directly).
pub async fn push_to(
    targets: Vec<PushTarget>,
    policies: &[LoadedPolicy],
    options: &PushOptions,
) -> PushReport {
    let started = Instant::now();
    let states = targets.iter().map(|_| None).collect();
    let reports = run_targets(targets, states, policies, options).await;
    let mut report = PushReport::new(reports, Vec::new(), started.elapsed());
    report.dry_run = options.dry_run;
    report
}

async fn run_targets(
    targets: Vec<PushTarget>,
    states: Vec<Option<Result<ServerState, chef_api::Error>>>,
    policies: &[LoadedPolicy],
    options: &PushOptions,
) -> Vec<PolicyServerReport> {
    // Each file is read once for all servers (as a sync's uploads), not once per server.
    let bodies = SharedBodies::new(targets.len());
    let bodies = &bodies;
    let jobs = targets
        .into_iter()
        .zip(states)
        .map(|(target, state)| push_server(target, state, policies, options, bodies));
    futures::future::join_all(jobs).await
}

fn check_unique(policies: &[LoadedPolicy]) -> Result<(), PushError> {
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for p in policies {
        if let Some(first) = seen.insert(p.lock.name(), p.lock.path()) {
            return Err(PushError::DuplicatePolicy {
                name: p.lock.name().to_owned(),
                first: first.to_path_buf(),
                second: p.lock.path().to_path_buf(),
            });
        }
    }
    Ok(())
}

fn select_servers<'a>(
    all: &'a [ServerSpec],
    names: &[String],
) -> Result<Vec<&'a ServerSpec>, PushError> {
    let selected: Vec<&ServerSpec> = if names.is_empty() {
        all.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                all.iter()
                    .find(|s| &s.name == n)
                    .ok_or_else(|| PushError::UnknownServer {
                        name: n.clone(),
                        known: all
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            })
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(PushError::NoServers);
    }
    Ok(selected)
}

/// What a server holds: artifact identifiers by cookbook, group → policy → revision.
#[derive(Debug, Clone, Default)]
struct ServerState {
    api_version: u32,
    artifacts: BTreeMap<String, BTreeSet<String>>,
    groups: super::groups::PolicyGroups,
}

#[derive(Debug, Deserialize)]
struct ArtifactListing {
    #[serde(default)]
    versions: Vec<ArtifactRef>,
}

#[derive(Debug, Deserialize)]
struct ArtifactRef {
    identifier: String,
}

impl ServerState {
    /// Both listings, at once.
    async fn fetch(client: &ChefClient) -> Result<Self, chef_api::Error> {
        let (artifacts, groups) =
            futures::join!(list_artifacts(client), super::groups::list(client));
        let (artifacts, groups) = (artifacts?, groups?);
        let api_version = match client.api_version() {
            Some(v) => v,
            None => client.negotiate_api_version().await?,
        };
        Ok(Self {
            api_version,
            artifacts,
            groups,
        })
    }

    fn has(&self, name: &str, identifier: &str) -> bool {
        self.artifacts
            .get(name)
            .is_some_and(|ids| ids.contains(identifier))
    }
}

async fn list_artifacts(
    client: &ChefClient,
) -> Result<BTreeMap<String, BTreeSet<String>>, chef_api::Error> {
    let listing: BTreeMap<String, ArtifactListing> =
        client.get("cookbook_artifacts?num_versions=all").await?;
    Ok(listing
        .into_iter()
        .map(|(name, l)| (name, l.versions.into_iter().map(|v| v.identifier).collect()))
        .collect())
}

/// One artifact being pushed to one server.
struct Pending<'a> {
    cookbook: &'a LockedCookbook,
    files: Vec<&'a CookbookFile>,
    report: ArtifactReport,
}

/// One server's progress events.
struct Progress {
    sink: Option<SyncEventSink>,
    server: Arc<str>,
}

impl Progress {
    fn send(&self, kind: SyncEventKind) {
        emit(self.sink.as_ref(), &self.server, kind);
    }

    fn upload(&self, event: UploadEvent) {
        self.send(SyncEventKind::Upload(event));
    }

    fn finished(&self, cookbook: &LockedCookbook, outcome: Outcome) {
        self.upload(UploadEvent::CookbookFinished {
            name: cookbook.lock.name.clone(),
            version: cookbook.lock.version.clone(),
            outcome,
        });
    }
}

async fn push_server(
    target: PushTarget,
    state: Option<Result<ServerState, chef_api::Error>>,
    policies: &[LoadedPolicy],
    options: &PushOptions,
    bodies: &SharedBodies,
) -> PolicyServerReport {
    let progress = Progress {
        sink: options.events.clone(),
        server: Arc::from(target.name.as_str()),
    };
    progress.send(SyncEventKind::Planning);
    let report = push_server_steps(&target, state, policies, options, &progress, bodies).await;
    progress.send(SyncEventKind::Finished {
        ok: report.ok,
        error: report
            .error
            .as_ref()
            .map(|e| ReportError::other(e.clone(), &target.name)),
    });
    report
}

async fn push_server_steps(
    target: &PushTarget,
    state: Option<Result<ServerState, chef_api::Error>>,
    policies: &[LoadedPolicy],
    options: &PushOptions,
    progress: &Progress,
    bodies: &SharedBodies,
) -> PolicyServerReport {
    let started = Instant::now();
    let fail =
        |e: String| PolicyServerReport::failed(&target.name, &target.url, e, started.elapsed());
    let client = match &target.client {
        Ok(c) => c.clone(),
        Err(e) => return fail(e.clone()),
    };
    let group = match &target.group {
        Ok(g) => g.clone(),
        Err(e) => return fail(e.clone()),
    };
    let state = match state {
        Some(s) => s,
        None => ServerState::fetch(&client).await,
    };
    let mut state = match state {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let all_files = state.api_version >= ALL_FILES_API_VERSION;

    // Every distinct artifact of every policy, once.
    let mut seen = BTreeSet::new();
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut present: Vec<ArtifactReport> = Vec::new();
    let mut there: Vec<&LockedCookbook> = Vec::new();
    for cookbook in policies.iter().flat_map(|p| &p.cookbooks) {
        let key = (cookbook.lock.name.clone(), cookbook.lock.identifier.clone());
        if !seen.insert(key) {
            continue;
        }
        let report = ArtifactReport {
            name: cookbook.lock.name.clone(),
            version: cookbook.lock.version.clone(),
            identifier: cookbook.lock.identifier.clone(),
            outcome: CookbookOutcome::Unchanged,
            files_sent: 0,
            bytes_sent: 0,
            error: None,
        };
        if state.has(&cookbook.lock.name, &cookbook.lock.identifier) {
            there.push(cookbook);
            present.push(report);
        } else {
            let files = cookbook
                .identity
                .files
                .iter()
                .filter(|f| all_files || f.segment().is_v0())
                .collect();
            pending.push(Pending {
                cookbook,
                files,
                report,
            });
        }
    }
    progress.send(SyncEventKind::Planned {
        create: pending.len(),
        update: 0,
        unchanged: present.len(),
        frozen_conflict: 0,
    });
    for cookbook in &there {
        progress.finished(cookbook, Outcome::Unchanged);
    }

    let mut server_error = None;
    if options.dry_run {
        let held: BTreeSet<String> = there
            .iter()
            .flat_map(|c| c.identity.files.iter().map(CookbookFile::checksum))
            .collect();
        plan_files(&mut pending, held);
    } else if !pending.is_empty() {
        let uploaded = match upload_files(&client, &mut pending, options, progress, bodies).await {
            // The artifact PUTs are signed while the commit is in flight.
            Ok(uri) => {
                let (committed, signed) = futures::join!(
                    commit(&client, &uri, options),
                    sign_artifact_puts(&client, &pending, state.api_version)
                );
                committed
                    .map(|()| signed)
                    .map_err(|e| format!("sandbox commit: {e}"))
            }
            Err(e) => Err(e),
        };
        match uploaded {
            Ok(signed) => {
                put_artifacts(&client, &mut pending, state.api_version, signed, options).await
            }
            Err(e) => {
                for p in &mut pending {
                    p.report.outcome = CookbookOutcome::Failed;
                    p.report.error = Some(e.clone());
                }
            }
        }
        for p in &pending {
            let outcome = match p.report.outcome {
                CookbookOutcome::Created => Outcome::Created,
                CookbookOutcome::Unchanged => Outcome::Unchanged,
                _ => Outcome::Failed,
            };
            progress.finished(p.cookbook, outcome);
        }
        // Confirm on the server itself, whatever the PUTs answered.
        match list_artifacts(&client).await {
            Ok(listing) => state.artifacts = listing,
            Err(e) => {
                server_error = Some(format!(
                    "cannot confirm the artifacts; no policy group was touched: {e}"
                ));
                state.artifacts.clear();
            }
        }
    }

    // An artifact that failed here (e.g. its identifier holds other content on the server)
    // keeps its policies' groups where they are, even when the listing names it. In a dry
    // run, the artifacts it would create count as there.
    let failed: BTreeSet<(String, String)> = pending
        .iter()
        .filter(|p| p.report.outcome == CookbookOutcome::Failed)
        .map(|p| (p.report.name.clone(), p.report.identifier.clone()))
        .collect();
    if options.dry_run {
        for p in &pending {
            state
                .artifacts
                .entry(p.report.name.clone())
                .or_default()
                .insert(p.report.identifier.clone());
        }
    }
    let mut policy_reports = Vec::new();
    for policy in policies {
        let report = point_group(&client, &mut state, &failed, policy, &group, options).await;
        progress.send(SyncEventKind::PolicyGroup {
            policy: report.name.clone(),
            group: report.group.clone(),
            revision_id: report.revision_id.clone(),
            previous_revision_id: report.previous_revision_id.clone(),
            outcome: report.outcome,
        });
        policy_reports.push(report);
    }
    let mut report = PolicyServerReport {
        name: target.name.clone(),
        url: target.url.clone(),
        ok: false,
        error: server_error,
        api_version: Some(state.api_version),
        files_sent: 0,
        bytes_sent: 0,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        artifacts: present
            .into_iter()
            .chain(pending.into_iter().map(|p| p.report))
            .collect(),
        policies: policy_reports,
        groups: state.groups,
    };
    report.finish();
    report
}

/// Dry run: every pending artifact would be created; its files are counted as a push would
/// offer them to the server's sandbox: each checksum once, on the first artifact naming it,
/// leaving out those of the lock's artifacts the server already has (`held`). The server may
/// hold more (files of artifacts or cookbook versions the lock does not name): only a
/// sandbox answer says, and a dry run creates no sandbox, so the counts are an upper bound.
fn plan_files(pending: &mut [Pending<'_>], held: BTreeSet<String>) {
    let mut offered = held;
    for p in pending {
        p.report.outcome = CookbookOutcome::Create;
        for f in &p.files {
            if offered.insert(f.checksum()) {
                p.report.files_sent += 1;
                p.report.bytes_sent += f.size();
            }
        }
    }
}

/// Points `group`'s entry for the policy at its revision, when every artifact it names is
/// listed on the server and the group does not point there already (in a dry run, only says
/// it would).
async fn point_group(
    client: &ChefClient,
    state: &mut ServerState,
    failed: &BTreeSet<(String, String)>,
    policy: &LoadedPolicy,
    group: &str,
    options: &PushOptions,
) -> PolicyReport {
    let name = policy.lock.name().to_owned();
    let revision_id = policy.lock.effective_revision_id();
    let previous = state.groups.get(group).and_then(|g| g.get(&name)).cloned();
    let mut report = PolicyReport {
        name: name.clone(),
        group: group.to_owned(),
        revision_id: revision_id.clone(),
        previous_revision_id: previous.clone(),
        outcome: PolicyOutcome::Unchanged,
        error: None,
    };
    let missing: Vec<String> = policy
        .cookbooks
        .iter()
        .filter(|c| {
            !state.has(&c.lock.name, &c.lock.identifier)
                || failed.contains(&(c.lock.name.clone(), c.lock.identifier.clone()))
        })
        .map(|c| format!("{} {} ({})", c.lock.name, c.lock.version, c.lock.identifier))
        .collect();
    if !missing.is_empty() {
        report.outcome = PolicyOutcome::Failed;
        report.error = Some(format!(
            "not on the server as locked: {}; group '{group}' left as it was",
            missing.join(", ")
        ));
        return report;
    }
    if previous.as_deref() == Some(revision_id.as_str()) {
        return report;
    }
    if options.dry_run {
        report.outcome = if previous.is_some() {
            PolicyOutcome::Update
        } else {
            PolicyOutcome::Create
        };
        return report;
    }
    let path = format!("policy_groups/{group}/policies/{name}");
    match client
        .put::<_, Value>(&path, &policy.lock.policy_document())
        .await
    {
        Ok(_) => {
            report.outcome = if previous.is_some() {
                PolicyOutcome::Updated
            } else {
                PolicyOutcome::Created
            };
            state
                .groups
                .entry(group.to_owned())
                .or_default()
                .insert(name, revision_id);
        }
        Err(e) => {
            report.outcome = PolicyOutcome::Failed;
            report.error = Some(e.to_string());
        }
    }
    report
}

#[derive(Debug, Deserialize)]
struct SandboxAnswer {
    uri: String,
    #[serde(default)]
    checksums: BTreeMap<String, SandboxChecksum>,
}

#[derive(Debug, Deserialize)]
struct SandboxChecksum {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    needs_upload: bool,
}

/// One sandbox for every file of every pending artifact and the PUTs it asks for; returns the
/// sandbox's URI to commit. Counts what was sent on the artifact that first names each
/// checksum.
async fn upload_files(
    client: &ChefClient,
    pending: &mut [Pending<'_>],
    options: &PushOptions,
    progress: &Progress,
    bodies: &SharedBodies,
) -> Result<String, String> {
    let mut owners: BTreeMap<String, (usize, &CookbookFile)> = BTreeMap::new();
    for (i, p) in pending.iter().enumerate() {
        for f in &p.files {
            owners.entry(f.checksum()).or_insert((i, *f));
        }
    }
    let checksums: Map<String, Value> = owners.keys().map(|c| (c.clone(), Value::Null)).collect();
    let answer: SandboxAnswer = client
        .post("sandboxes", &json!({ "checksums": checksums }))
        .await
        .map_err(|e| format!("sandbox: {e}"))?;
    let mut needed = Vec::new();
    for (checksum, (owner, file)) in &owners {
        let Some(entry) = answer.checksums.get(checksum).filter(|e| e.needs_upload) else {
            continue;
        };
        let url = entry
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .ok_or_else(|| format!("sandbox answer has no upload URL for {}", file.path()))?;
        needed.push((*owner, *file, url));
    }
    let labels: Vec<(String, String)> = pending
        .iter()
        .map(|p| {
            (
                p.cookbook.lock.name.clone(),
                p.cookbook.lock.version.clone(),
            )
        })
        .collect();
    let labels = &labels;
    for (i, p) in pending.iter().enumerate() {
        let mine = needed.iter().filter(|(owner, _, _)| *owner == i);
        progress.upload(UploadEvent::CookbookStarted {
            name: p.cookbook.lock.name.clone(),
            version: p.cookbook.lock.version.clone(),
            files: mine.clone().count() as u64,
            bytes: mine.map(|(_, f, _)| f.size()).sum(),
        });
    }
    let results: Vec<(usize, &CookbookFile, Result<(), chef_api::Error>)> = futures::stream::iter(
        // Collected first: lazy closures inside the stream fail rustc's `Send` proof.
        needed
            .into_iter()
            .map(|(owner, file, url)| async move {
                let result = put_sandbox_file(client, bodies, file, &url).await;
                if result.is_ok() {
                    let (name, version) = labels[owner].clone();
                    progress.upload(UploadEvent::BytesSent {
                        name,
                        version,
                        bytes: file.size(),
                    });
                }
                (owner, file, result)
            })
            .collect::<Vec<_>>(),
    )
    .buffer_unordered(options.per_server_concurrency.max(1))
    .collect()
    .await;
    let mut first_error = None;
    for (owner, file, result) in results {
        match result {
            Ok(()) => {
                pending[owner].report.files_sent += 1;
                pending[owner].report.bytes_sent += file.size();
            }
            Err(e) if first_error.is_none() => {
                first_error = Some(format!("file {}: {e}", file.path()));
            }
            Err(_) => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(answer.uri),
    }
}

async fn commit(
    client: &ChefClient,
    uri: &str,
    options: &PushOptions,
) -> Result<(), chef_api::Error> {
    let mut attempt = 0;
    loop {
        match client
            .put::<_, Value>(uri, &json!({ "is_completed": true }))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.status(), Some(400 | 503)) && attempt < options.commit_retries => {
                attempt += 1;
                tokio::time::sleep(options.commit_retry_delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The body of `PUT cookbook_artifacts/NAME/IDENTIFIER` in the shape of `api_version`.
pub fn artifact_body(cookbook: &LockedCookbook, api_version: u32) -> Value {
    let identity = &cookbook.identity;
    let mut body = Map::new();
    body.insert("name".into(), cookbook.lock.name.clone().into());
    body.insert("identifier".into(), cookbook.lock.identifier.clone().into());
    body.insert("version".into(), identity.version().into());
    body.insert("chef_type".into(), "cookbook_version".into());
    body.insert("json_class".into(), "Chef::CookbookVersion".into());
    body.insert("frozen?".into(), false.into());
    body.insert(
        "metadata".into(),
        Value::Object(identity.metadata.as_json().clone()),
    );
    if api_version >= ALL_FILES_API_VERSION {
        body.insert(
            "all_files".into(),
            identity.files.iter().map(|f| f.record(true)).collect(),
        );
    } else {
        for segment in &Segment::V0 {
            let records: Vec<Value> = identity
                .files
                .iter()
                .filter(|f| f.segment() == segment)
                .map(|f| f.record(false))
                .collect();
            body.insert(segment.as_str().into(), Value::Array(records));
        }
    }
    Value::Object(body)
}

/// Artifacts signed per blocking task by [`sign_artifact_puts`]: a lock's 40 artifacts are
/// five tasks per server, spread over the cores.
const SIGNED_PER_TASK: usize = 8;

fn artifact_path(cookbook: &LockedCookbook) -> String {
    format!(
        "cookbook_artifacts/{}/{}",
        cookbook.lock.name, cookbook.lock.identifier
    )
}

/// Every pending artifact's PUT, its body built and signed ahead ([`ChefClient::sign_ahead`])
/// on blocking threads, in `pending`'s order. Signing is the artifact phase's CPU (one RSA
/// operation each, 160 for a 40-cookbook lock on 4 servers): done here, during the sandbox
/// commit's round trip, the PUTs leave as soon as the commit is answered. `None` where a
/// request could not be signed ahead: it is signed when sent, and fails there if it must.
async fn sign_artifact_puts(
    client: &ChefClient,
    pending: &[Pending<'_>],
    api_version: u32,
) -> Vec<Option<SignedAhead>> {
    // Built in a block: a lazy iterator alive across the `await` below fails rustc's `Send`
    // proof of the push future.
    let chunks: Vec<Vec<(String, Value)>> = {
        let mut requests = pending
            .iter()
            .map(|p| {
                (
                    artifact_path(p.cookbook),
                    artifact_body(p.cookbook, api_version),
                )
            })
            .peekable();
        let mut chunks = Vec::new();
        while requests.peek().is_some() {
            chunks.push(requests.by_ref().take(SIGNED_PER_TASK).collect());
        }
        chunks
    };
    let tasks = chunks.into_iter().map(|chunk| {
        let client = client.clone();
        let count = chunk.len();
        let signing = tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|(path, body)| {
                    let body = serde_json::to_vec(&body).ok()?;
                    client
                        .sign_ahead(Method::PUT, &path, Some(body.into()))
                        .ok()
                })
                .collect::<Vec<_>>()
        });
        async move {
            signing
                .await
                .unwrap_or_else(|_| std::iter::repeat_with(|| None).take(count).collect())
        }
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The artifact PUTs, concurrently, each as signed ahead; a 409 (it exists) is compared with
/// the local files.
async fn put_artifacts(
    client: &ChefClient,
    pending: &mut [Pending<'_>],
    api_version: u32,
    signed: Vec<Option<SignedAhead>>,
    options: &PushOptions,
) {
    let answers: Vec<(usize, Result<CookbookOutcome, String>)> = futures::stream::iter(
        pending
            .iter()
            .zip(signed)
            .enumerate()
            .map(|(i, (p, ahead))| (i, p.cookbook, ahead))
            .map(|(i, cookbook, ahead)| async move {
                let path = artifact_path(cookbook);
                let sent = match ahead {
                    Some(ahead) => client.send_signed_ahead(ahead).await.map(drop),
                    None => client
                        .put::<_, Value>(&path, &artifact_body(cookbook, api_version))
                        .await
                        .map(drop),
                };
                let outcome = match sent {
                    Ok(()) => Ok(CookbookOutcome::Created),
                    Err(e) if e.is_conflict() => same_artifact(client, &path, cookbook).await,
                    Err(e) => Err(e.to_string()),
                };
                (i, outcome)
            })
            .collect::<Vec<_>>(),
    )
    .buffer_unordered(options.per_server_concurrency.max(1))
    .collect()
    .await;
    for (i, answer) in answers {
        let report = &mut pending[i].report;
        match answer {
            Ok(outcome) => report.outcome = outcome,
            Err(e) => {
                report.outcome = CookbookOutcome::Failed;
                report.error = Some(e);
            }
        }
    }
}

/// After a 409: the server's artifact must carry the same (path, checksum) pairs.
async fn same_artifact(
    client: &ChefClient,
    path: &str,
    cookbook: &LockedCookbook,
) -> Result<CookbookOutcome, String> {
    let fetched: Value = client.get(path).await.map_err(|e| e.to_string())?;
    let theirs = ManifestFiles::from_json(&fetched).map_err(|e| format!("{path}: {e}"))?;
    let mine: Vec<&CookbookFile> = cookbook
        .identity
        .files
        .iter()
        .filter(|f| theirs.all_files || f.segment().is_v0())
        .collect();
    let mine: BTreeSet<(String, String)> = mine
        .into_iter()
        .map(|f| (f.path().to_owned(), f.checksum()))
        .collect();
    if mine == theirs.files {
        Ok(CookbookOutcome::Unchanged)
    } else {
        Err(format!(
            "the server already has {} {} with other files (same identifier, other content)",
            cookbook.lock.name, cookbook.lock.identifier
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RepoConfig;

    #[test]
    fn the_push_future_is_send_so_bindings_can_spawn_it() {
        fn assert_send<T: Send>(_: &T) {}
        let config = RepoConfig {
            root: PathBuf::from("/"),
            servers: Vec::new(),
            berksfile: None,
            warnings: Vec::new(),
        };
        let options = PushOptions::default();
        let future = push(&config, &[], &options);
        assert_send(&future);
    }
}
