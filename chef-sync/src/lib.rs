//! # chef-sync
//!
//! Sync one Chef repository to many Chef Infra Servers at once.
//!
//! ```text
//! repo dir ──► config::RepoConfig (knife.rb per server, config.yml)     config
//!         ├──► cookbooks::CookbookSet (each cookbook loaded+hashed once) cookbooks
//!         ├──► objects::RepoObjects (roles, environments, data bags)     objects
//!         ├──► per server, concurrently: plan → execute                 fanout (chef_api::upload)
//!         │      cookbooks, then data bags, roles, environments, purges  objects
//!         └──► report::SyncReport (JSON, table; plan::PlanMatrix)       report, plan
//! status: the same configuration, every server read at once (read-only)
//!         ──► status::StatusReport (object × server, drift; JSON, table)   status
//! ```
//!
//! ```no_run
//! # async fn run() -> Result<(), chef_sync::SyncError> {
//! let options = chef_sync::SyncOptions { dry_run: true, ..Default::default() };
//! let report = chef_sync::sync(std::path::Path::new("chef-repo"), &options).await?;
//! print!("{}", report.render_table());
//! # Ok(()) }
//! ```

pub mod berkshelf;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod cookbooks;
pub mod events;
pub mod fanout;
pub mod objects;
pub mod plan;
pub mod policy;
pub mod position;
pub mod report;
pub mod runtime;
pub mod status;
pub mod sync;

pub use events::{SyncEvent, SyncEventKind, SyncEventSink};
pub use plan::PlanMatrix;
pub use report::{CookbookOutcome, CookbookReport, ReportError, ServerReport, SyncReport};
pub use status::{StatusOptions, StatusReport, status, status_blocking};
pub use sync::{Repo, SyncError, SyncOptions, sync, sync_blocking};
