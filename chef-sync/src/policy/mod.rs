//! Policyfiles on every server: `chef push` from the repository alone, verified before a group
//! moves.
//!
//! * [`lock`]: `Policyfile.lock.json` read (current and older formats), validated as chef-cli
//!   validates it, and written back byte for byte ([`json`]).
//! * [`identifier`]: cookbook identifiers (SHA-1 of the file fingerprint), dotted decimal
//!   identifiers and `revision_id` (SHA-256 of the canonical revision text).
//! * [`cookbooks`]: every locked cookbook's files, from the repository (path sources) or a
//!   cache (fetched through the Berkshelf sources), each checked against its identifier.
//! * [`push`](mod@push): per server one artifact listing, one sandbox, the file PUTs, the
//!   commit, the artifact PUTs, a confirming listing, then the group PUT; all servers at once.
//! * [`preference`]: which default source a cookbook comes from (`preferred_for`, conflicts).
//! * [`groups`]: the policy group per server (`--policy-group` or `.chef/NAME/config.yml`).
//! * [`report`]: per server, per artifact, per policy, and groups that disagree.
//!
//! ```no_run
//! # async fn run() -> Result<(), chef_sync::policy::PushError> {
//! use chef_sync::policy::{PushOptions, push};
//!
//! let options = PushOptions { policy_group: Some("staging".into()), ..Default::default() };
//! let report = push(std::path::Path::new("chef-repo"), &[], &options).await?;
//! print!("{}", report.render_table());
//! # Ok(()) }
//! ```

pub mod cookbooks;
pub mod dsl;
pub mod groups;
pub mod identifier;
pub mod install;
pub mod json;
pub mod lock;
pub mod preference;
pub mod push;
pub mod report;

pub use cookbooks::{CookbookCache, IdentifierMismatch, LockedCookbook, LockedCookbookError};
pub use install::{InstallError, InstallOptions, Installed, install};
pub use lock::{CookbookLock, LockError, LockSource, PolicyLock};
pub use push::{LoadedPolicy, PushError, PushOptions, PushTarget, push, push_blocking, push_to};
pub use report::{PolicyOutcome, PolicyReport, PolicyServerReport, PushReport};
