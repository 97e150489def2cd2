//! Upload cookbooks to one Chef server exactly as knife does: plan, sandbox, files, commit,
//! manifests in dependency order.
//!
//! CONTRACT STUB: the upload work (issue 3) replaces the bodies; the multi-server sync engine
//! codes against these items.
#![allow(missing_docs, clippy::missing_errors_doc)]

use std::sync::Arc;
use std::time::Duration;

use crate::client::ChefClient;
use crate::cookbook::LoadedCookbook;

/// Progress events, for bars and Python callbacks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum UploadEvent {
    /// A cookbook's upload started: files and bytes that will be sent.
    CookbookStarted {
        name: String,
        version: String,
        files: u64,
        bytes: u64,
    },
    /// Bytes of a cookbook's files went out.
    BytesSent {
        name: String,
        version: String,
        bytes: u64,
    },
    /// A cookbook is done.
    CookbookFinished {
        name: String,
        version: String,
        outcome: Outcome,
    },
}

/// Where events go.
pub type EventSink = Arc<dyn Fn(UploadEvent) + Send + Sync>;

/// How to upload.
#[derive(Clone)]
pub struct UploadOptions {
    /// Send `"frozen?": true` (knife `--freeze`).
    pub freeze: bool,
    /// Overwrite frozen versions (knife `--force`).
    pub force: bool,
    /// File PUTs in flight for this server (default 16).
    pub file_concurrency: usize,
    /// An optional limit shared by several uploaders (e.g. one per server in a sync).
    pub global_limit: Option<Arc<tokio::sync::Semaphore>>,
    /// Progress events.
    pub events: Option<EventSink>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            freeze: false,
            force: false,
            file_concurrency: 16,
            global_limit: None,
            events: None,
        }
    }
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("freeze", &self.freeze)
            .field("force", &self.force)
            .field("file_concurrency", &self.file_concurrency)
            .finish_non_exhaustive()
    }
}

/// What the plan decided for one cookbook version on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Unchanged,
    FrozenConflict,
}

/// What happened to one cookbook version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    FrozenConflict,
    Failed,
}

/// One cookbook's entry in a plan.
#[derive(Debug, Clone)]
pub struct PlannedCookbook {
    pub cookbook: Arc<LoadedCookbook>,
    pub action: Action,
}

/// The plan for one server.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    /// Negotiated server API version (manifest format).
    pub api_version: u32,
    pub cookbooks: Vec<PlannedCookbook>,
}

/// The result for one cookbook version.
#[derive(Debug)]
pub struct CookbookResult {
    pub name: String,
    pub version: String,
    pub outcome: Outcome,
    pub files_sent: u64,
    pub bytes_sent: u64,
    pub duration: Duration,
    pub error: Option<crate::Error>,
}

/// Uploads cookbooks to one server.
#[derive(Debug, Clone)]
pub struct Uploader {
    client: ChefClient,
    options: UploadOptions,
}

impl Uploader {
    pub fn new(client: ChefClient, options: UploadOptions) -> Self {
        Self { client, options }
    }

    /// One listing plus the manifests needed to decide.
    pub async fn plan(&self, cookbooks: &[Arc<LoadedCookbook>]) -> crate::Result<ServerPlan> {
        let _ = (&self.client, &self.options, cookbooks);
        Err(crate::Error::Config {
            key: "upload".into(),
            message: "not implemented yet".into(),
        })
    }

    /// Carries out a plan: sandbox, files, commit, manifests in dependency order.
    pub async fn execute(&self, plan: &ServerPlan) -> Vec<CookbookResult> {
        let _ = plan;
        Vec::new()
    }

    /// `plan` then `execute`.
    pub async fn upload(
        &self,
        cookbooks: &[Arc<LoadedCookbook>],
    ) -> crate::Result<Vec<CookbookResult>> {
        let plan = self.plan(cookbooks).await?;
        Ok(self.execute(&plan).await)
    }
}
