//! Upload cookbooks to one Chef server exactly as knife does: plan, sandbox, files, commit,
//! manifests in dependency order.
//!
//! ```no_run
//! # async fn demo(client: chef_api::client::ChefClient) -> chef_api::Result<()> {
//! use std::sync::Arc;
//! use chef_api::cookbook::LoadedCookbook;
//! use chef_api::upload::{UploadOptions, Uploader};
//!
//! let cookbook = LoadedCookbook::load("cookbooks/web".as_ref()).expect("cookbook");
//! let uploader = Uploader::new(client, UploadOptions::default());
//! for result in uploader.upload(&[Arc::new(cookbook)]).await? {
//!     println!("{} {}: {:?}, {} files sent", result.name, result.version, result.outcome, result.files_sent);
//! }
//! # Ok(()) }
//! ```
//!
//! Two steps, usable separately:
//!
//! * [`Uploader::plan`]: one `GET /cookbooks?num_versions=all`; a version that is absent is
//!   [`Action::Create`]; for one that exists its manifest is fetched (concurrently with the
//!   others) and compared by (path, checksum): the same set is [`Action::Unchanged`], a
//!   different one [`Action::Update`], or [`Action::FrozenConflict`] when the server's copy is
//!   frozen and [`UploadOptions::force`] is off. With [`UploadOptions::freeze`], the same set
//!   held unfrozen is an [`Action::Update`] too: knife `--freeze` freezes it.
//! * [`Uploader::execute`]: one `POST /sandboxes` with every checksum of every cookbook that is
//!   written, concurrent PUTs of the files the server says it needs (small files read once and
//!   shared between servers, large ones streamed from disk; see [`SharedBodies`]; `Content-MD5`, exact `Content-Length`, transient failures retried by the client), the
//!   sandbox commit (retried on 503 and on the legacy 400; when it still answers 503 the files
//!   are sent once more and the commit tried again), then `PUT /cookbooks/NAME/VERSION` for
//!   each cookbook, dependencies before dependents.
//!
//! Nothing half-written reaches the server: a manifest is PUT only after the sandbox holding
//! its files is committed, and a cookbook whose dependency failed is not PUT at all. Every
//! cookbook gets a [`CookbookResult`]; a failure of a shared step (sandbox, a file, the
//! commit) fails every cookbook that needed it, each with an [`UploadError`] saying why.

mod bodies;
mod error;
mod execute;
mod order;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use crate::client::ChefClient;
use crate::cookbook::LoadedCookbook;

pub use bodies::{Body, SharedBodies};
pub use error::UploadError;
pub use execute::put_sandbox_file;
pub use order::dependency_order;

/// Progress events, for bars and Python callbacks. Events of one cookbook come in order
/// (started, bytes…, finished); events of different cookbooks interleave.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum UploadEvent {
    /// A cookbook's upload started: files and bytes that will be sent for it (files the server
    /// already has, or that another cookbook of the batch sends, are not counted).
    CookbookStarted {
        /// Cookbook name.
        name: String,
        /// Cookbook version.
        version: String,
        /// Files that will be sent.
        files: u64,
        /// Bytes that will be sent.
        bytes: u64,
    },
    /// Bytes of a cookbook's files went out (one event per file sent).
    BytesSent {
        /// Cookbook name.
        name: String,
        /// Cookbook version.
        version: String,
        /// Bytes of this file.
        bytes: u64,
    },
    /// A cookbook is done (also sent, without a start, for unchanged and conflicting ones).
    CookbookFinished {
        /// Cookbook name.
        name: String,
        /// Cookbook version.
        version: String,
        /// What happened.
        outcome: Outcome,
    },
}

/// Where events go. Called from the upload's tasks: keep it quick and non-blocking.
pub type EventSink = Arc<dyn Fn(UploadEvent) + Send + Sync>;

/// How to upload.
#[derive(Clone)]
pub struct UploadOptions {
    /// Send `"frozen?": true` (knife `--freeze`).
    pub freeze: bool,
    /// Overwrite frozen versions (knife `--force`): `?force=true` on the manifest PUT.
    pub force: bool,
    /// File PUTs (and manifest GETs/PUTs) in flight for this server (default 16, at least 1).
    pub file_concurrency: usize,
    /// An optional limit shared by several uploaders (e.g. one per server in a sync): each file
    /// PUT holds one permit of it while in flight.
    pub global_limit: Option<Arc<tokio::sync::Semaphore>>,
    /// File bodies shared with the other uploaders of a sync (each small file read once for
    /// all servers, memory bounded globally); `None`: this uploader's own, for one server.
    pub bodies: Option<Arc<SharedBodies>>,
    /// Progress events.
    pub events: Option<EventSink>,
    /// Extra attempts at the sandbox commit when the server answers 503 (files not visible
    /// yet) or 400 (what old servers answer then), on top of the client's own retries of
    /// 503. Default 4.
    pub commit_retries: u32,
    /// Delay before the first extra commit attempt; doubles each time. Default 1 s.
    pub commit_retry_delay: Duration,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            freeze: false,
            force: false,
            file_concurrency: 16,
            global_limit: None,
            bodies: None,
            events: None,
            commit_retries: 4,
            commit_retry_delay: Duration::from_secs(1),
        }
    }
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("freeze", &self.freeze)
            .field("force", &self.force)
            .field("file_concurrency", &self.file_concurrency)
            .field("global_limit", &self.global_limit.is_some())
            .field("bodies", &self.bodies)
            .field("events", &self.events.is_some())
            .field("commit_retries", &self.commit_retries)
            .field("commit_retry_delay", &self.commit_retry_delay)
            .finish()
    }
}

/// What the plan decided for one cookbook version on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The version is not on the server.
    Create,
    /// The version is on the server with other files (frozen and forced, or not frozen), or
    /// with the same files but unfrozen while [`UploadOptions::freeze`] is on (only its
    /// manifest is sent again, frozen).
    Update,
    /// The server has exactly these files: nothing is sent.
    Unchanged,
    /// The server's copy differs and is frozen, and `force` is off: nothing is sent.
    FrozenConflict,
}

/// What happened to one cookbook version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Created on the server.
    Created,
    /// Replaced on the server.
    Updated,
    /// Already there with the same files.
    Unchanged,
    /// The server's copy is frozen (found by the plan, or a 409 on the PUT).
    FrozenConflict,
    /// Something failed; see [`CookbookResult::error`].
    Failed,
}

impl Outcome {
    /// Created, updated or unchanged: the server now has this version's files.
    pub fn is_ok(self) -> bool {
        matches!(self, Self::Created | Self::Updated | Self::Unchanged)
    }
}

/// One cookbook's entry in a plan.
#[derive(Debug, Clone)]
pub struct PlannedCookbook {
    /// The local cookbook.
    pub cookbook: Arc<LoadedCookbook>,
    /// What will be done with it.
    pub action: Action,
}

/// What planning asks a server first, before it needs the cookbooks: its cookbook listing and
/// its API version, plus the manifests fetched ahead. [`Uploader::server_state`] fetches it; a
/// sync fetches it while it is still hashing the repository, has
/// [`Uploader::prefetch_manifests`] ask for each manifest planning will need as soon as that
/// cookbook is loaded, and hands it to [`Uploader::plan_with`].
#[derive(Debug, Clone)]
pub struct ServerState {
    /// `GET /cookbooks?num_versions=all`, by cookbook name.
    pub listing: std::collections::BTreeMap<String, crate::endpoints::CookbookListing>,
    /// The negotiated server API version.
    pub api_version: u32,
    /// Manifests already fetched (`GET /cookbooks/NAME/VERSION`), by name and version as the
    /// local cookbook spells them; planning asks the server only for the others. A failed
    /// fetch is not kept: planning asks again and reports its error.
    pub manifests: std::collections::BTreeMap<(String, String), serde_json::Value>,
}

impl ServerState {
    /// A listing and an API version, with no manifest fetched yet.
    pub fn new(
        listing: std::collections::BTreeMap<String, crate::endpoints::CookbookListing>,
        api_version: u32,
    ) -> Self {
        Self {
            listing,
            api_version,
            manifests: std::collections::BTreeMap::new(),
        }
    }

    /// Whether planning `cookbook` needs its manifest from the server: the listing has this
    /// version.
    pub fn needs_manifest(&self, cookbook: &LoadedCookbook) -> bool {
        self.listing
            .get(cookbook.name())
            .is_some_and(|l| plan::listed(l, cookbook.version()))
    }
}

/// The plan for one server.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    /// Negotiated server API version (manifest format).
    pub api_version: u32,
    /// One entry per cookbook given to [`Uploader::plan`], in the same order.
    pub cookbooks: Vec<PlannedCookbook>,
}

/// The result for one cookbook version.
#[derive(Debug)]
pub struct CookbookResult {
    /// Cookbook name.
    pub name: String,
    /// Cookbook version.
    pub version: String,
    /// What happened.
    pub outcome: Outcome,
    /// Files actually sent for this cookbook (a checksum shared by several cookbooks of a
    /// batch counts for the first of them).
    pub files_sent: u64,
    /// Bytes actually sent for this cookbook.
    pub bytes_sent: u64,
    /// Time from the start of [`Uploader::execute`] until this cookbook was done.
    pub duration: Duration,
    /// Why it failed (for [`Outcome::Failed`]) or the server's 409 on the manifest PUT (for
    /// a frozen race, [`UploadError::Manifest`]).
    pub error: Option<UploadError>,
}

/// Uploads cookbooks to one server.
#[derive(Debug, Clone)]
pub struct Uploader {
    client: ChefClient,
    options: UploadOptions,
}

impl Uploader {
    /// An uploader for the server of `client`.
    pub fn new(client: ChefClient, options: UploadOptions) -> Self {
        Self { client, options }
    }

    /// The client it uploads with.
    pub fn client(&self) -> &ChefClient {
        &self.client
    }

    /// The options it uploads with.
    pub fn options(&self) -> &UploadOptions {
        &self.options
    }

    /// One listing plus the manifests needed to decide, fetched concurrently.
    ///
    /// # Errors
    /// The listing's error, or the first error fetching a manifest (with its URL and the
    /// server's message).
    pub async fn plan(&self, cookbooks: &[Arc<LoadedCookbook>]) -> crate::Result<ServerPlan> {
        let state = self.server_state().await?;
        self.plan_with(state, cookbooks).await
    }

    /// The listing and the API version, asked at the same time: the part of [`plan`] that
    /// does not need the cookbooks.
    ///
    /// [`plan`]: Uploader::plan
    ///
    /// # Errors
    /// The listing's or the negotiation's error (URL and the server's message).
    pub async fn server_state(&self) -> crate::Result<ServerState> {
        plan::server_state(&self.client).await
    }

    /// Fetches, as each cookbook of `cookbooks` arrives, the manifest planning it will need (when
    /// the listing has its version), up to the per-server concurrency at once, and keeps it in
    /// the state: a sync hands the cookbooks over as they are loaded, so a manifest's round
    /// trip starts as soon as both the listing and that cookbook are there.
    pub async fn prefetch_manifests(
        &self,
        state: ServerState,
        cookbooks: impl futures::Stream<Item = Arc<LoadedCookbook>> + Send,
    ) -> ServerState {
        plan::prefetch(&self.client, &self.options, state, cookbooks).await
    }

    /// [`plan`](Uploader::plan) from a [`ServerState`] fetched earlier: only the manifests of
    /// versions the listing has, and not already in the state, are fetched.
    ///
    /// # Errors
    /// The first error fetching a manifest (with its URL and the server's message).
    pub async fn plan_with(
        &self,
        state: ServerState,
        cookbooks: &[Arc<LoadedCookbook>],
    ) -> crate::Result<ServerPlan> {
        plan::plan(&self.client, &self.options, state, cookbooks).await
    }

    /// Carries out a plan: sandbox, files, commit, manifests in dependency order. Returns one
    /// result per planned cookbook, in plan order; never fails as a whole.
    pub async fn execute(&self, plan: &ServerPlan) -> Vec<CookbookResult> {
        execute::execute(&self.client, &self.options, plan).await
    }

    /// `plan` then `execute`.
    ///
    /// # Errors
    /// Only those of [`Uploader::plan`]; per-cookbook failures are in the results.
    pub async fn upload(
        &self,
        cookbooks: &[Arc<LoadedCookbook>],
    ) -> crate::Result<Vec<CookbookResult>> {
        let plan = self.plan(cookbooks).await?;
        Ok(self.execute(&plan).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_KEY: &[u8] = include_bytes!("../../../tests/data/keys/mixlib-spec.pem");

    fn assert_spawnable<T: Future + Send + 'static>(_: T) {}

    /// A sync engine spawns one upload (and download) per server: the futures must be `Send`
    /// even when they own everything they borrow (a higher-ranked lifetime in a closure of
    /// a stream breaks that and only shows up at `tokio::spawn`).
    #[test]
    fn futures_can_be_spawned() {
        let client = ChefClient::builder("http://127.0.0.1:9")
            .with_client_name("x")
            .with_key(crate::key::PrivateKey::from_pem(TEST_KEY).unwrap())
            .build()
            .unwrap();
        let uploader = Uploader::new(client.clone(), UploadOptions::default());
        let up = uploader.clone();
        assert_spawnable(async move {
            let cookbooks: Vec<Arc<LoadedCookbook>> = Vec::new();
            up.upload(&cookbooks).await
        });
        assert_spawnable(async move {
            let plan = ServerPlan {
                api_version: 0,
                cookbooks: Vec::new(),
            };
            uploader.execute(&plan).await
        });
        assert_spawnable(async move {
            let dest = std::path::PathBuf::from("unused");
            crate::download::download_cookbook(&client, "a", "1.0.0", &dest).await
        });
    }
}
