//! # chef_testkit
//!
//! Helpers shared by the workspace's examples, integration tests and benchmarks (a
//! `publish = false` member, a dev-dependency of the root package). The main one
//! is [`goiardi::Goiardi`]: a real Chef server (Debian's `goiardi` package, which verifies every
//! request signature) started on 127.0.0.1 on a free port with its own temporary directory, and
//! stopped by PID when dropped. Several at once stand in for several regions.
//!
//! ```no_run
//! let server = chef_testkit::goiardi::Goiardi::start().expect("goiardi");
//! println!("{} signs as admin with {}", server.url(), server.admin_key_path().display());
//! ```

use std::path::{Path, PathBuf};

pub mod fleet;
pub mod goiardi;
pub mod policy_server;

/// The workspace's root directory (this crate lives in `tests/testkit/`).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/testkit is two levels below the workspace root")
        .to_path_buf()
}
