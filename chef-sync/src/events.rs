//! Progress events of a sync or a policy push, for progress bars and Python callbacks.
//!
//! Every event names its server. Upload events come from `chef_api::upload` unchanged; each
//! role, environment, data bag and item has its own [`SyncEventKind::ObjectFinished`], as
//! each cookbook has its `CookbookFinished`.

use std::sync::Arc;

use chef_api::upload::UploadEvent;

/// One thing that happened during a sync.
#[derive(Debug, Clone)]
pub struct SyncEvent {
    /// The server it happened on.
    pub server: Arc<str>,
    /// What happened.
    pub kind: SyncEventKind,
}

/// What happened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SyncEventKind {
    /// The server's plan is being made (listing, manifests).
    Planning,
    /// The plan is known.
    Planned {
        /// Cookbook versions to create.
        create: usize,
        /// Cookbook versions to update.
        update: usize,
        /// Cookbook versions already there.
        unchanged: usize,
        /// Frozen versions that differ (not overwritten without `force`).
        frozen_conflict: usize,
    },
    /// The server's roles, environments and data bags are planned (after its cookbooks' plan;
    /// they are written after the cookbooks).
    ObjectsPlanned {
        /// Objects to create.
        create: usize,
        /// Objects to update.
        update: usize,
        /// Objects already as the repository has them.
        unchanged: usize,
        /// Objects (and cookbook versions) to purge.
        delete: usize,
    },
    /// An upload event of this server.
    Upload(UploadEvent),
    /// A role, environment, data bag or data bag item is done on this server (sent, found
    /// unchanged, deleted, or failed), as soon as it is: the objects' `CookbookFinished`. Not
    /// sent in a dry run (nothing is done; the plan is in the report).
    ObjectFinished {
        /// `role`, `environment`, `data_bag` or `data_bag_item`.
        kind: crate::objects::ObjectKind,
        /// The name; `BAG/ITEM` for a data bag item.
        name: String,
        /// What happened.
        outcome: crate::report::ObjectOutcome,
        /// Why it failed, as in the report.
        error: Option<crate::report::ReportError>,
    },
    /// A policy push decided one policy's group entry on this server (in a dry run: what
    /// it would do).
    PolicyGroup {
        /// Policy name.
        policy: String,
        /// Policy group.
        group: String,
        /// The revision pushed.
        revision_id: String,
        /// The revision the group pointed at before, if any.
        previous_revision_id: Option<String>,
        /// Created, updated, unchanged or failed (`create` / `update` in a dry run).
        outcome: crate::policy::PolicyOutcome,
    },
    /// The server is done.
    Finished {
        /// Whether it converged.
        ok: bool,
        /// Why not, when it failed as a whole.
        error: Option<crate::report::ReportError>,
    },
}

/// Where events go; called from the sync's tasks, so keep it quick.
pub type SyncEventSink = Arc<dyn Fn(SyncEvent) + Send + Sync>;

/// Sends `kind` for `server` to `sink`, if any.
pub(crate) fn emit(sink: Option<&SyncEventSink>, server: &Arc<str>, kind: SyncEventKind) {
    if let Some(sink) = sink {
        sink(SyncEvent {
            server: Arc::clone(server),
            kind,
        });
    }
}
