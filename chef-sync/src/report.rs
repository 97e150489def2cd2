//! The result of a sync: per server, per cookbook outcome, as JSON or a table.
//!
//! ```json
//! {"ok": false, "dry_run": false, "servers": [{"name": "eu", "url": "https://…", "ok": false,
//!   "error": {"kind": "network", "status": null, "messages": [],
//!             "url": "https://…/cookbooks?num_versions=all", "server": "eu",
//!             "message": "GET https://…/cookbooks?num_versions=all: connection refused"},
//!   "cookbooks": []}]}
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use chef_api::error::ErrorKind;
use chef_api::upload::{Action, Outcome, UploadError};
use serde::{Deserialize, Serialize};

use crate::objects::{ObjectId, ObjectKind};

/// Why a server or a cookbook failed, as data: the kind (one classification shared with the
/// Python exceptions, see [`chef_api::error::ErrorKind`]), the server's answer when there was
/// one, and the full message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportError {
    /// What kind of failure (`unauthorized`, `license`, `not_found`, `network`, ...).
    pub kind: ErrorKind,
    /// HTTP status, when a server answered.
    pub status: Option<u16>,
    /// The server's own messages (Chef's `{"error": ...}`), in order.
    pub messages: Vec<String>,
    /// The request URL (credentials masked), when a request failed.
    pub url: Option<String>,
    /// The configured name of the Chef server it happened on.
    pub server: Option<String>,
    /// The whole message, as the error's `Display` says it.
    pub message: String,
}

impl ReportError {
    /// A chef-api error on `server`.
    pub fn from_api(error: &chef_api::Error, server: &str) -> Self {
        Self {
            kind: error.kind(),
            status: error.status(),
            messages: error.messages().to_vec(),
            url: error.url().map(str::to_owned),
            server: Some(server.to_owned()),
            message: error.to_string(),
        }
    }

    /// A cookbook's failed upload step on `server`: the step's request error when it made
    /// one, otherwise [`ErrorKind::Other`] (a failed dependency, a short sandbox answer).
    pub fn from_upload(error: &UploadError, server: &str) -> Self {
        let base = match error.request_error() {
            Some(request) => Self::from_api(request, server),
            None => Self::other(error.to_string(), server),
        };
        Self {
            message: error.to_string(),
            ..base
        }
    }

    /// A failure of `kind` with no request behind it.
    pub fn new(kind: ErrorKind, message: impl Into<String>, server: &str) -> Self {
        Self {
            kind,
            status: None,
            messages: Vec::new(),
            url: None,
            server: Some(server.to_owned()),
            message: message.into(),
        }
    }

    /// A failure with no request behind it and no better kind.
    pub fn other(message: impl Into<String>, server: &str) -> Self {
        Self::new(ErrorKind::Other, message, server)
    }
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What happened (or, in a dry run, what would happen) to one cookbook version on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CookbookOutcome {
    /// Uploaded; the server did not have this version.
    Created,
    /// Uploaded over a different version of the same number.
    Updated,
    /// The server already had exactly this; nothing sent.
    Unchanged,
    /// The server has this version frozen with different content; left alone (use `force`).
    FrozenConflict,
    /// The upload failed (see `error`), or the server could not be planned.
    Failed,
    /// Dry run: would be created.
    Create,
    /// Dry run: would be updated.
    Update,
    /// Purged (`purge_cookbooks`): the repository does not have this version.
    Deleted,
    /// Dry run: would be purged.
    Delete,
}

impl CookbookOutcome {
    /// The JSON spelling (`created`, `frozen_conflict`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::FrozenConflict => "frozen_conflict",
            Self::Failed => "failed",
            Self::Create => "create",
            Self::Update => "update",
            Self::Deleted => "deleted",
            Self::Delete => "delete",
        }
    }

    /// Whether the server holds this cookbook as the repository has it (or will, in a dry run).
    pub fn is_converged(self) -> bool {
        !matches!(self, Self::FrozenConflict | Self::Failed)
    }
}

impl From<Outcome> for CookbookOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Created => Self::Created,
            Outcome::Updated => Self::Updated,
            Outcome::Unchanged => Self::Unchanged,
            Outcome::FrozenConflict => Self::FrozenConflict,
            Outcome::Failed => Self::Failed,
        }
    }
}

impl From<Action> for CookbookOutcome {
    fn from(action: Action) -> Self {
        match action {
            Action::Create => Self::Create,
            Action::Update => Self::Update,
            Action::Unchanged => Self::Unchanged,
            Action::FrozenConflict => Self::FrozenConflict,
        }
    }
}

impl std::fmt::Display for CookbookOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cookbook version on one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookbookReport {
    /// Cookbook name.
    pub name: String,
    /// Version.
    pub version: String,
    /// What happened (or would happen).
    pub outcome: CookbookOutcome,
    /// Files sent to the server (0 in a dry run).
    pub files_sent: u64,
    /// Bytes sent to the server (0 in a dry run).
    pub bytes_sent: u64,
    /// Time spent on this cookbook, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed, with the server's own message.
    pub error: Option<ReportError>,
}

/// What happened (or, in a dry run, what would happen) to one role, environment, data bag or
/// data bag item on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectOutcome {
    /// Sent; the server did not have it.
    Created,
    /// Sent over the server's different copy.
    Updated,
    /// The server's copy is the same (after normalisation); nothing sent.
    Unchanged,
    /// Purged: the repository does not have it.
    Deleted,
    /// The write or delete failed (see `error`), or it was not attempted because something it
    /// needs failed (its bag, an environment's pinned cookbook).
    Failed,
    /// Dry run: would be created.
    Create,
    /// Dry run: would be updated.
    Update,
    /// Dry run: would be purged.
    Delete,
}

impl ObjectOutcome {
    /// The JSON spelling (`created`, `delete`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Deleted => "deleted",
            Self::Failed => "failed",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

impl std::fmt::Display for ObjectOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One role, environment, data bag or data bag item on one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectReport {
    /// `role`, `environment`, `data_bag` or `data_bag_item`.
    pub kind: ObjectKind,
    /// The name; `BAG/ITEM` for a data bag item.
    pub name: String,
    /// What happened (or would happen).
    pub outcome: ObjectOutcome,
    /// Why it failed, as data: kind, status, the server's messages, URL, server, message
    /// (as a cookbook's).
    pub error: Option<ReportError>,
}

impl ObjectReport {
    /// The report line of `id`.
    pub fn new(id: &ObjectId, outcome: ObjectOutcome, error: Option<ReportError>) -> Self {
        Self {
            kind: id.kind,
            name: id.display_name(),
            outcome,
            error,
        }
    }

    /// `role[web]`, `data_bag_item[users/alice]`.
    pub fn label(&self) -> String {
        format!("{}[{}]", self.kind, self.name)
    }
}

/// One server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerReport {
    /// Server name (`.chef/NAME/`).
    pub name: String,
    /// `chef_server_url`.
    pub url: String,
    /// Whether every cookbook converged on this server.
    pub ok: bool,
    /// Why the server failed as a whole (client, listing), with the server's own message.
    pub error: Option<ReportError>,
    /// Total files sent.
    pub files_sent: u64,
    /// Total bytes sent.
    pub bytes_sent: u64,
    /// Wall time for this server, in milliseconds.
    pub duration_ms: u64,
    /// Per cookbook version, sorted by name then version.
    pub cookbooks: Vec<CookbookReport>,
    /// Per role, environment, data bag and data bag item, in write order (bags, items,
    /// roles, environments, then deletions).
    #[serde(default)]
    pub objects: Vec<ObjectReport>,
}

impl ServerReport {
    /// A server that failed as a whole before any cookbook was decided.
    pub fn failed(name: &str, url: &str, error: ReportError, duration: Duration) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            ok: false,
            error: Some(error),
            files_sent: 0,
            bytes_sent: 0,
            duration_ms: millis(duration),
            cookbooks: Vec::new(),
            objects: Vec::new(),
        }
    }

    /// Recomputes `ok`, `files_sent` and `bytes_sent` from the cookbooks and `error`.
    pub fn finish(&mut self) {
        self.cookbooks
            .sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
        self.files_sent = self.cookbooks.iter().map(|c| c.files_sent).sum();
        self.bytes_sent = self.cookbooks.iter().map(|c| c.bytes_sent).sum();
        self.ok = self.error.is_none()
            && self.cookbooks.iter().all(|c| c.outcome.is_converged())
            && self
                .objects
                .iter()
                .all(|o| o.outcome != ObjectOutcome::Failed);
    }

    /// How many objects have `outcome`.
    pub fn count_objects(&self, outcome: ObjectOutcome) -> usize {
        self.objects.iter().filter(|o| o.outcome == outcome).count()
    }

    /// How many cookbooks have `outcome`.
    pub fn count(&self, outcome: CookbookOutcome) -> usize {
        self.cookbooks
            .iter()
            .filter(|c| c.outcome == outcome)
            .count()
    }
}

/// The whole sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// True only when every server converged (in a dry run: every server was planned and no
    /// frozen version conflicts).
    pub ok: bool,
    /// Whether this was a dry run (outcomes are then the planned actions).
    pub dry_run: bool,
    /// Wall time of the whole sync, in milliseconds.
    pub duration_ms: u64,
    /// Warnings: the configuration's (file:line: message), the Berksfile's, then the
    /// servers' (a licence in its grace period: `NAME (URL): licence: ...`).
    pub warnings: Vec<String>,
    /// Per server, sorted by name.
    pub servers: Vec<ServerReport>,
}

impl SyncReport {
    /// Builds the report from per-server reports, computing `ok`.
    pub fn new(
        dry_run: bool,
        mut servers: Vec<ServerReport>,
        warnings: Vec<String>,
        duration: Duration,
    ) -> Self {
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        let ok = servers.iter().all(|s| s.ok);
        Self {
            ok,
            dry_run,
            duration_ms: millis(duration),
            warnings,
            servers,
        }
    }

    /// Whether any server failed outright or any cookbook or object failed (frozen conflicts
    /// excluded).
    pub fn has_failures(&self) -> bool {
        self.servers.iter().any(|s| {
            s.error.is_some()
                || s.cookbooks
                    .iter()
                    .any(|c| c.outcome == CookbookOutcome::Failed)
                || s.count_objects(ObjectOutcome::Failed) > 0
        })
    }

    /// Whether any cookbook is (or would be) a frozen conflict.
    pub fn has_conflicts(&self) -> bool {
        self.servers
            .iter()
            .any(|s| s.count(CookbookOutcome::FrozenConflict) > 0)
    }

    /// The servers that did not converge.
    pub fn failed_servers(&self) -> impl Iterator<Item = &ServerReport> {
        self.servers.iter().filter(|s| !s.ok)
    }

    /// Total files sent to all servers.
    pub fn files_sent(&self) -> u64 {
        self.servers.iter().map(|s| s.files_sent).sum()
    }

    /// Total bytes sent to all servers.
    pub fn bytes_sent(&self) -> u64 {
        self.servers.iter().map(|s| s.bytes_sent).sum()
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// A human table: one line per server with counts, then every error.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let name_w = self
            .servers
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0)
            .max("SERVER".len());
        let (c1, c2) = if self.dry_run {
            ("CREATE", "UPDATE")
        } else {
            ("CREATED", "UPDATED")
        };
        let _ = writeln!(
            out,
            "{:<name_w$}  {:<6}  {c1:>7}  {c2:>7}  {:>9}  {:>8}  {:>6}  {:>6}  {:>10}  {:>8}",
            "SERVER", "STATUS", "UNCHANGED", "CONFLICT", "FAILED", "FILES", "BYTES", "TIME"
        );
        for s in &self.servers {
            let (created, updated) = if self.dry_run {
                (
                    s.count(CookbookOutcome::Create),
                    s.count(CookbookOutcome::Update),
                )
            } else {
                (
                    s.count(CookbookOutcome::Created),
                    s.count(CookbookOutcome::Updated),
                )
            };
            let _ = writeln!(
                out,
                "{:<name_w$}  {:<6}  {created:>7}  {updated:>7}  {:>9}  {:>8}  {:>6}  {:>6}  {:>10}  {:>8}",
                s.name,
                if s.ok { "ok" } else { "FAILED" },
                s.count(CookbookOutcome::Unchanged),
                s.count(CookbookOutcome::FrozenConflict),
                s.count(CookbookOutcome::Failed),
                s.files_sent,
                human_bytes(s.bytes_sent),
                format!("{:.2}s", ms_to_secs(s.duration_ms)),
            );
        }
        self.render_objects(&mut out, name_w);
        for s in &self.servers {
            if let Some(e) = &s.error {
                let _ = writeln!(out, "{} ({}): {e}", s.name, s.url);
            }
            for c in &s.cookbooks {
                if let Some(e) = &c.error {
                    let _ = writeln!(out, "{}: {} {}: {e}", s.name, c.name, c.version);
                } else if c.outcome == CookbookOutcome::FrozenConflict {
                    let _ = writeln!(
                        out,
                        "{}: {} {} is frozen on the server with different content (use force)",
                        s.name, c.name, c.version
                    );
                } else if matches!(
                    c.outcome,
                    CookbookOutcome::Delete | CookbookOutcome::Deleted
                ) {
                    let verb = if self.dry_run {
                        "would delete"
                    } else {
                        "deleted"
                    };
                    let _ = writeln!(out, "{}: {verb} cookbook {} {}", s.name, c.name, c.version);
                }
            }
            for o in &s.objects {
                if let Some(e) = &o.error {
                    let _ = writeln!(out, "{}: {}: {e}", s.name, o.label());
                } else if matches!(o.outcome, ObjectOutcome::Delete | ObjectOutcome::Deleted) {
                    let verb = if self.dry_run {
                        "would delete"
                    } else {
                        "deleted"
                    };
                    let _ = writeln!(out, "{}: {verb} {}", s.name, o.label());
                }
            }
        }
        let _ = write!(
            out,
            "{}: {} server(s), {} file(s), {} sent in {:.2}s",
            if self.ok {
                "converged"
            } else {
                "NOT converged"
            },
            self.servers.len(),
            self.files_sent(),
            human_bytes(self.bytes_sent()),
            ms_to_secs(self.duration_ms),
        );
        if self.dry_run {
            out.push_str(" (dry run: nothing was changed)");
        }
        out.push('\n');
        out
    }
}

impl SyncReport {
    /// The object counts per server (roles, environments, data bags and items together),
    /// when any server has objects.
    fn render_objects(&self, out: &mut String, name_w: usize) {
        if self.servers.iter().all(|s| s.objects.is_empty()) {
            return;
        }
        let columns: [(ObjectOutcome, &str); 5] = if self.dry_run {
            [
                (ObjectOutcome::Create, "CREATE"),
                (ObjectOutcome::Update, "UPDATE"),
                (ObjectOutcome::Unchanged, "UNCHANGED"),
                (ObjectOutcome::Delete, "DELETE"),
                (ObjectOutcome::Failed, "FAILED"),
            ]
        } else {
            [
                (ObjectOutcome::Created, "CREATED"),
                (ObjectOutcome::Updated, "UPDATED"),
                (ObjectOutcome::Unchanged, "UNCHANGED"),
                (ObjectOutcome::Deleted, "DELETED"),
                (ObjectOutcome::Failed, "FAILED"),
            ]
        };
        let _ = write!(out, "{:<name_w$}  {:<7}", "OBJECTS", "");
        for (_, title) in &columns {
            let _ = write!(out, "  {title:>9}");
        }
        out.push('\n');
        for s in &self.servers {
            let _ = write!(out, "{:<name_w$}  {:<7}", s.name, "");
            for (outcome, _) in &columns {
                let _ = write!(out, "  {:>9}", s.count_objects(*outcome));
            }
            out.push('\n');
        }
    }
}

/// Milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[allow(clippy::cast_precision_loss)]
fn ms_to_secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// `1.5 MB`-style sizes.
#[allow(clippy::cast_precision_loss)]
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookbook(name: &str, outcome: CookbookOutcome, files: u64) -> CookbookReport {
        CookbookReport {
            name: name.into(),
            version: "1.0.0".into(),
            outcome,
            files_sent: files,
            bytes_sent: files * 100,
            duration_ms: 5,
            error: (outcome == CookbookOutcome::Failed).then(|| ReportError {
                status: Some(500),
                url: Some("x".into()),
                ..ReportError::new(ErrorKind::Server, "PUT x returned 500: boom", name)
            }),
        }
    }

    fn server(name: &str, cookbooks: Vec<CookbookReport>) -> ServerReport {
        let mut s = ServerReport {
            name: name.into(),
            url: format!("http://127.0.0.1/{name}"),
            ok: true,
            error: None,
            files_sent: 0,
            bytes_sent: 0,
            duration_ms: 10,
            cookbooks,
            objects: Vec::new(),
        };
        s.finish();
        s
    }

    #[test]
    fn json_has_the_documented_shape() {
        let report = SyncReport::new(
            false,
            vec![
                server("us", vec![cookbook("web", CookbookOutcome::Created, 3)]),
                ServerReport::failed(
                    "eu",
                    "http://127.0.0.1/eu",
                    ReportError::new(ErrorKind::Network, "refused", "eu"),
                    Duration::ZERO,
                ),
            ],
            vec![],
            Duration::from_millis(1500),
        );
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["servers"][0]["name"], "eu");
        assert_eq!(v["servers"][0]["ok"], false);
        let error = &v["servers"][0]["error"];
        assert_eq!(error["kind"], "network");
        assert_eq!(error["message"], "refused");
        assert_eq!(error["server"], "eu");
        assert!(error["status"].is_null() && error["url"].is_null());
        assert_eq!(error["messages"], serde_json::json!([]));
        let c = &v["servers"][1]["cookbooks"][0];
        assert_eq!(c["name"], "web");
        assert_eq!(c["version"], "1.0.0");
        assert_eq!(c["outcome"], "created");
        assert_eq!(c["files_sent"], 3);
        assert_eq!(c["bytes_sent"], 300);
        assert!(c["error"].is_null());
        let back: SyncReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn ok_only_when_every_cookbook_converged() {
        let good = server(
            "a",
            vec![
                cookbook("x", CookbookOutcome::Updated, 1),
                cookbook("y", CookbookOutcome::Unchanged, 0),
            ],
        );
        assert!(good.ok);
        assert_eq!(good.files_sent, 1);
        let conflict = server("b", vec![cookbook("x", CookbookOutcome::FrozenConflict, 0)]);
        assert!(!conflict.ok);
        let report = SyncReport::new(false, vec![good, conflict], vec![], Duration::ZERO);
        assert!(!report.ok);
        assert!(report.has_conflicts());
        assert!(!report.has_failures());
        assert_eq!(
            report
                .failed_servers()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn table_names_failures_with_their_messages() {
        let report = SyncReport::new(
            false,
            vec![
                server(
                    "us-east-1",
                    vec![cookbook("web", CookbookOutcome::Failed, 0)],
                ),
                ServerReport::failed(
                    "eu",
                    "http://127.0.0.1:9/",
                    ReportError::new(
                        ErrorKind::Network,
                        "GET http://127.0.0.1:9/cookbooks: connection refused",
                        "eu",
                    ),
                    Duration::ZERO,
                ),
            ],
            vec![],
            Duration::ZERO,
        );
        let table = report.render_table();
        assert!(table.contains("us-east-1  FAILED"), "{table}");
        assert!(
            table.contains("us-east-1: web 1.0.0: PUT x returned 500: boom"),
            "{table}"
        );
        assert!(table.contains("eu (http://127.0.0.1:9/): GET"), "{table}");
        assert!(table.contains("NOT converged"), "{table}");
    }

    #[test]
    fn report_errors_keep_the_api_errors_data() {
        let e = chef_api::Error::from_response(chef_api::error::ResponseError::new(
            403,
            "GET",
            "https://chef.example/organizations/o/cookbooks",
            br#"{"error":"Your license has expired","message":"invalid-license"}"#,
        ));
        let r = ReportError::from_api(&e, "prod");
        assert_eq!(r.kind, ErrorKind::License);
        assert_eq!(r.status, Some(403));
        assert_eq!(r.messages, ["Your license has expired", "invalid-license"]);
        assert_eq!(
            r.url.as_deref(),
            Some("https://chef.example/organizations/o/cookbooks")
        );
        assert_eq!(r.server.as_deref(), Some("prod"));
        assert_eq!(r.message, e.to_string());
        let dependency = UploadError::DependencyFailed {
            dependency: "base 1.0.0".into(),
        };
        let r = ReportError::from_upload(&dependency, "prod");
        assert_eq!((r.kind, r.status), (ErrorKind::Other, None));
        assert!(r.message.contains("base 1.0.0"), "{r}");
        let manifest = UploadError::Manifest(e);
        let r = ReportError::from_upload(&manifest, "prod");
        assert_eq!((r.kind, r.status), (ErrorKind::License, Some(403)));
    }

    #[test]
    fn objects_are_in_the_json_and_the_table_and_failures_fail_the_server() {
        let mut us = server("us", vec![cookbook("web", CookbookOutcome::Unchanged, 0)]);
        us.objects = vec![
            ObjectReport::new(&ObjectId::role("web"), ObjectOutcome::Created, None),
            ObjectReport::new(
                &ObjectId::data_bag_item("users", "bob"),
                ObjectOutcome::Deleted,
                None,
            ),
            ObjectReport::new(
                &ObjectId::environment("prod"),
                ObjectOutcome::Failed,
                Some(ReportError {
                    status: Some(500),
                    url: Some("x".into()),
                    ..ReportError::new(ErrorKind::Server, "PUT x returned 500: boom", "us")
                }),
            ),
        ];
        us.finish();
        assert!(!us.ok, "a failed object fails the server");
        let report = SyncReport::new(false, vec![us], vec![], Duration::ZERO);
        assert!(report.has_failures());
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let o = &v["servers"][0]["objects"];
        assert_eq!(o[0]["kind"], "role");
        assert_eq!(o[0]["outcome"], "created");
        assert_eq!(o[1]["kind"], "data_bag_item");
        assert_eq!(o[1]["name"], "users/bob");
        assert_eq!(o[2]["error"]["kind"], "server");
        assert_eq!(o[2]["error"]["status"], 500);
        assert_eq!(o[2]["error"]["server"], "us");
        let back: SyncReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, report);
        let table = report.render_table();
        let counts = table
            .lines()
            .find(|l| l.starts_with("us ") && !l.contains("FAILED"))
            .unwrap();
        assert_eq!(
            counts.split_whitespace().collect::<Vec<_>>(),
            ["us", "1", "0", "0", "1", "1"],
            "{table}"
        );
        assert!(
            table.contains("us: deleted data_bag_item[users/bob]"),
            "{table}"
        );
        assert!(
            table.contains("us: environment[prod]: PUT x returned 500: boom"),
            "{table}"
        );
        let old: SyncReport = serde_json::from_str(
            r#"{"ok": true, "dry_run": false, "duration_ms": 1, "warnings": [],
            "servers": [{"name": "a", "url": "u", "ok": true, "error": null, "files_sent": 0,
            "bytes_sent": 0, "duration_ms": 0, "cookbooks": []}]}"#,
        )
        .unwrap();
        assert!(
            old.servers[0].objects.is_empty(),
            "reports without objects still read"
        );
    }

    #[test]
    fn human_bytes_scales() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(25_000_000), "25.0 MB");
    }
}
