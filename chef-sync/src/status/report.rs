//! The status report: every object × every server, as data, JSON and exit code.
//!
//! The JSON (`to_json`, the `status` example's `--json`, Python `StatusReport.to_json()`) is
//! documented in the README ("status").

use serde::{Deserialize, Serialize};

use super::compare::{CellState, Drift};
use super::policies::PolicyStatus;
use crate::report::ReportError;

/// One server as the status read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// Server name (`.chef/NAME/`).
    pub name: String,
    /// `chef_server_url`.
    pub url: String,
    /// Whether everything the status needed could be read from it.
    pub ok: bool,
    /// Why it could not be read (client, listing, a manifest): typed as the sync report's
    /// errors (kind, status, the server's messages, URL, server, message).
    pub error: Option<ReportError>,
    /// The negotiated server API version (`None` when it could not be read).
    pub api_version: Option<u32>,
    /// How many cookbook versions it holds.
    pub cookbook_versions: usize,
    /// How many roles, environments, data bags and data bag items it holds.
    pub objects: usize,
    /// Time spent reading it, in milliseconds.
    pub duration_ms: u64,
}

/// One server's copy of one cookbook version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookbookCell {
    /// Server name.
    pub server: String,
    /// Compared with the repository.
    pub state: CellState,
    /// Content digest of the server's copy (`None` when it has none or could not be read).
    pub digest: Option<String>,
    /// The server's `frozen?` flag (`None` when it has no copy).
    pub frozen: Option<bool>,
}

/// One cookbook version: the repository's digest and every server's copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookbookStatus {
    /// Cookbook name.
    pub name: String,
    /// Version (`x.y.z`).
    pub version: String,
    /// The repository's content digest, when the repository has this version.
    pub repo: Option<String>,
    /// One cell per server, in the order of [`StatusReport::servers`].
    pub servers: Vec<CookbookCell>,
    /// Why this version is drift (empty: it is not).
    pub drift: Vec<Drift>,
}

/// One server's copy of one role, environment, data bag or data bag item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCell {
    /// Server name.
    pub server: String,
    /// Compared with the repository.
    pub state: CellState,
    /// Digest of the server's normalised JSON (`None` when it has none or could not be read).
    pub digest: Option<String>,
}

/// One role, environment, data bag or data bag item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStatus {
    /// `role`, `environment`, `data_bag` or `data_bag_item`.
    pub kind: String,
    /// The data bag of a data bag item.
    pub bag: Option<String>,
    /// The object's name (an item's id).
    pub name: String,
    /// `role[web]`, `data_bag_item[users/alice]`, ...
    pub id: String,
    /// Digest of the repository's normalised JSON, when the repository has it.
    pub repo: Option<String>,
    /// One cell per server, in the order of [`StatusReport::servers`].
    pub servers: Vec<ObjectCell>,
    /// Why this object is drift (empty: it is not).
    pub drift: Vec<Drift>,
}

/// What is where: every cookbook version and object on every server, compared with the
/// repository and across servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// 0: every server matches the repository and each other; 1: a server could not be read;
    /// 2: drift (see [`StatusReport::exit_code`]).
    pub exit_code: u8,
    /// Whether every server could be read and nothing drifts.
    pub in_sync: bool,
    /// Whether objects the repository does not have counted as drift.
    pub strict: bool,
    /// Wall time, in milliseconds.
    pub duration_ms: u64,
    /// Warnings from reading the repository (`file:line: message`).
    pub warnings: Vec<String>,
    /// Per server, sorted by name.
    pub servers: Vec<ServerStatus>,
    /// Every cookbook version the repository or any server has, by name then version.
    pub cookbooks: Vec<CookbookStatus>,
    /// Every role, environment, data bag and item the repository or any server has, by kind
    /// then name.
    pub objects: Vec<ObjectStatus>,
    /// Every (policy group, policy) any server has, by group then policy: the revision each
    /// server points at (see [`policies`](super::policies)).
    #[serde(default)]
    pub policies: Vec<PolicyStatus>,
}

impl StatusReport {
    /// Builds the report, computing `exit_code` and `in_sync`.
    pub fn new(
        strict: bool,
        duration: std::time::Duration,
        warnings: Vec<String>,
        servers: Vec<ServerStatus>,
        cookbooks: Vec<CookbookStatus>,
        objects: Vec<ObjectStatus>,
    ) -> Self {
        let mut report = Self {
            exit_code: 0,
            in_sync: false,
            strict,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            warnings,
            servers,
            cookbooks,
            objects,
            policies: Vec::new(),
        };
        report.set_exit_code();
        report
    }

    /// The report with its policy rows (drifting ones count for the exit code).
    #[must_use]
    pub fn with_policies(mut self, policies: Vec<PolicyStatus>) -> Self {
        self.policies = policies;
        self.set_exit_code();
        self
    }

    fn set_exit_code(&mut self) {
        self.exit_code = if self.servers.iter().any(|s| !s.ok) {
            1
        } else if self.drifting_cookbooks().next().is_some()
            || self.drifting_objects().next().is_some()
            || self.drifting_policies().next().is_some()
        {
            2
        } else {
            0
        };
        self.in_sync = self.exit_code == 0;
    }

    /// The process exit status a CLI should end with: 0 when every server matches the
    /// repository and each other, 1 when a server could not be read (whatever the others
    /// show), 2 on drift.
    pub fn exit_code(&self) -> u8 {
        self.exit_code
    }

    /// The servers that could not be read.
    pub fn failed_servers(&self) -> impl Iterator<Item = &ServerStatus> {
        self.servers.iter().filter(|s| !s.ok)
    }

    /// The cookbook versions that drift.
    pub fn drifting_cookbooks(&self) -> impl Iterator<Item = &CookbookStatus> {
        self.cookbooks.iter().filter(|c| !c.drift.is_empty())
    }

    /// The objects that drift.
    pub fn drifting_objects(&self) -> impl Iterator<Item = &ObjectStatus> {
        self.objects.iter().filter(|o| !o.drift.is_empty())
    }

    /// The (policy group, policy) entries the servers disagree about.
    pub fn drifting_policies(&self) -> impl Iterator<Item = &PolicyStatus> {
        self.policies.iter().filter(|p| !p.drift.is_empty())
    }

    /// The row of `policy` in `group`, if any server has it.
    pub fn policy(&self, group: &str, policy: &str) -> Option<&PolicyStatus> {
        self.policies
            .iter()
            .find(|p| p.group == group && p.policy == policy)
    }

    /// The cookbook version `name` `version`, if the repository or any server has it.
    pub fn cookbook(&self, name: &str, version: &str) -> Option<&CookbookStatus> {
        self.cookbooks
            .iter()
            .find(|c| c.name == name && c.version == version)
    }

    /// The object whose id is `id` (`role[web]`, `data_bag_item[users/alice]`, ...).
    pub fn object(&self, id: &str) -> Option<&ObjectStatus> {
        self.objects.iter().find(|o| o.id == id)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a status report always serializes")
    }
}
