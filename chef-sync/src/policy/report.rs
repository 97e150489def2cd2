//! The result of a policy push: per server, per artifact and per policy, plus which revision
//! each server's groups point at, as JSON or a table.
//!
//! ```json
//! {"ok": true, "duration_ms": 640, "warnings": [],
//!  "servers": [{"name": "eu", "url": "https://…", "ok": true, "error": null, "api_version": 2,
//!    "files_sent": 12, "bytes_sent": 40211, "duration_ms": 610,
//!    "artifacts": [{"name": "app", "version": "1.2.0", "identifier": "c59e…", "outcome": "created",
//!                   "files_sent": 12, "bytes_sent": 40211, "error": null}],
//!    "policies": [{"name": "web", "group": "prod", "revision_id": "8d1f…",
//!                  "previous_revision_id": null, "outcome": "created", "error": null}],
//!    "groups": {"prod": {"web": "8d1f…"}}}]}
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::report::CookbookOutcome;

/// What happened to one policy's group entry on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyOutcome {
    /// The group had no entry for this policy; it now points at the revision.
    Created,
    /// The group pointed at another revision; it now points at this one.
    Updated,
    /// The group already pointed at this revision; nothing sent.
    Unchanged,
    /// Not pointed: an artifact is missing on the server, or the PUT failed. The group was
    /// left as it was.
    Failed,
    /// Dry run: the group has no entry for this policy; a push would point it at the revision.
    Create,
    /// Dry run: the group points at another revision; a push would repoint it.
    Update,
}

impl PolicyOutcome {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Failed => "failed",
            Self::Create => "create",
            Self::Update => "update",
        }
    }
}

impl std::fmt::Display for PolicyOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cookbook artifact on one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactReport {
    /// Cookbook name.
    pub name: String,
    /// Version (from the lock).
    pub version: String,
    /// Identifier.
    pub identifier: String,
    /// `created`, `unchanged` (already there) or `failed`; in a dry run `create` or
    /// `unchanged`.
    pub outcome: CookbookOutcome,
    /// Files sent for it (in a dry run: its files a push would offer the server, each
    /// checksum once per server, less those of the lock's artifacts already there; an upper
    /// bound, as the server may hold others).
    pub files_sent: u64,
    /// Bytes sent for it (in a dry run: of those files).
    pub bytes_sent: u64,
    /// Why it failed, with the server's own message.
    pub error: Option<String>,
}

/// One policy on one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReport {
    /// Policy name.
    pub name: String,
    /// The policy group on this server.
    pub group: String,
    /// The revision pushed.
    pub revision_id: String,
    /// The revision the group pointed at before (`null`: none).
    pub previous_revision_id: Option<String>,
    /// What happened.
    pub outcome: PolicyOutcome,
    /// Why it failed.
    pub error: Option<String>,
}

/// One server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyServerReport {
    /// Server name (`.chef/NAME/`).
    pub name: String,
    /// `chef_server_url`.
    pub url: String,
    /// Every policy's group points at its revision and every artifact is there.
    pub ok: bool,
    /// Why the server failed as a whole (client, listing, group unknown).
    pub error: Option<String>,
    /// The negotiated server API version (artifact shape: 2 → `all_files`), when known.
    pub api_version: Option<u32>,
    /// Files sent.
    pub files_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Wall time, in milliseconds.
    pub duration_ms: u64,
    /// Per artifact, sorted by name then identifier.
    pub artifacts: Vec<ArtifactReport>,
    /// Per policy, sorted by group then name.
    pub policies: Vec<PolicyReport>,
    /// After the push: group → policy → revision id, as far as this run saw the server.
    pub groups: BTreeMap<String, BTreeMap<String, String>>,
}

impl PolicyServerReport {
    /// A server that failed as a whole.
    pub fn failed(name: &str, url: &str, error: String, duration: Duration) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            ok: false,
            error: Some(error),
            api_version: None,
            files_sent: 0,
            bytes_sent: 0,
            duration_ms: millis(duration),
            artifacts: Vec::new(),
            policies: Vec::new(),
            groups: BTreeMap::new(),
        }
    }

    /// Sorts, sums and computes `ok`.
    pub fn finish(&mut self) {
        self.artifacts.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| a.identifier.cmp(&b.identifier))
        });
        self.policies
            .sort_by(|a, b| a.group.cmp(&b.group).then_with(|| a.name.cmp(&b.name)));
        self.files_sent = self.artifacts.iter().map(|a| a.files_sent).sum();
        self.bytes_sent = self.artifacts.iter().map(|a| a.bytes_sent).sum();
        self.ok = self.error.is_none()
            && self.artifacts.iter().all(|a| a.outcome.is_converged())
            && self
                .policies
                .iter()
                .all(|p| p.outcome != PolicyOutcome::Failed);
    }
}

/// A (group, policy) whose servers point at different revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDisagreement {
    /// Policy group.
    pub group: String,
    /// Policy name.
    pub policy: String,
    /// Server → revision id (`null`: the server's group has no entry for the policy).
    pub revisions: BTreeMap<String, Option<String>>,
}

/// The whole push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushReport {
    /// True only when every server is ok.
    pub ok: bool,
    /// A dry run: nothing was written; outcomes say what a push would do.
    #[serde(default)]
    pub dry_run: bool,
    /// Wall time of the whole push, in milliseconds.
    pub duration_ms: u64,
    /// Warnings from reading the configuration and the locks.
    pub warnings: Vec<String>,
    /// Per server, sorted by name.
    pub servers: Vec<PolicyServerReport>,
}

impl PushReport {
    /// Builds the report, sorting servers and computing `ok`.
    pub fn new(
        mut servers: Vec<PolicyServerReport>,
        warnings: Vec<String>,
        duration: Duration,
    ) -> Self {
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            ok: servers.iter().all(|s| s.ok),
            dry_run: false,
            duration_ms: millis(duration),
            warnings,
            servers,
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report is plain data")
    }

    /// Every (group, policy) some server has, where the servers that have that group do not
    /// all point at one revision.
    pub fn group_disagreements(&self) -> Vec<GroupDisagreement> {
        let mut seen: BTreeMap<(String, String), BTreeMap<String, Option<String>>> =
            BTreeMap::new();
        for server in &self.servers {
            for (group, policies) in &server.groups {
                for policy in policies.keys() {
                    seen.entry((group.clone(), policy.clone())).or_default();
                }
            }
        }
        let mut out = Vec::new();
        for ((group, policy), mut revisions) in seen {
            for server in self.servers.iter().filter(|s| s.error.is_none()) {
                let Some(policies) = server.groups.get(&group) else {
                    continue;
                };
                revisions.insert(server.name.clone(), policies.get(&policy).cloned());
            }
            let distinct: std::collections::BTreeSet<&Option<String>> =
                revisions.values().collect();
            if distinct.len() > 1 {
                out.push(GroupDisagreement {
                    group,
                    policy,
                    revisions,
                });
            }
        }
        out
    }

    /// A plain-text table: one line per server, one per policy, failures with their errors,
    /// then the groups that disagree across servers.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            out.push_str("dry run: nothing was written; files/bytes are what a push would offer\n");
        }
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>9} {:>7} {:>9}  status",
            "server",
            "artifacts",
            if self.dry_run {
                "to upload"
            } else {
                "uploaded"
            },
            "files",
            "bytes"
        );
        for s in &self.servers {
            let created = s
                .artifacts
                .iter()
                .filter(|a| {
                    matches!(
                        a.outcome,
                        CookbookOutcome::Created | CookbookOutcome::Create
                    )
                })
                .count();
            let status = match (&s.error, s.ok) {
                (Some(e), _) => format!("FAILED: {e}"),
                (None, true) => "ok".to_owned(),
                (None, false) => "FAILED".to_owned(),
            };
            let _ = writeln!(
                out,
                "{:<16} {:>9} {:>9} {:>7} {:>9}  {status}",
                s.name,
                s.artifacts.len(),
                created,
                s.files_sent,
                s.bytes_sent
            );
            for a in s.artifacts.iter().filter(|a| a.error.is_some()) {
                let _ = writeln!(
                    out,
                    "    artifact {} {} ({}): {}",
                    a.name,
                    a.version,
                    short(&a.identifier),
                    a.error.as_deref().unwrap_or_default()
                );
            }
            for p in &s.policies {
                let _ = write!(
                    out,
                    "    policy {} → {} {} {}",
                    p.name,
                    p.group,
                    short(&p.revision_id),
                    p.outcome
                );
                if let Some(prev) = p.previous_revision_id.as_deref().filter(|_| {
                    matches!(
                        p.outcome,
                        PolicyOutcome::Updated | PolicyOutcome::Update | PolicyOutcome::Failed
                    )
                }) {
                    let _ = write!(out, " (was {})", short(prev));
                }
                if let Some(e) = &p.error {
                    let _ = write!(out, ": {e}");
                }
                out.push('\n');
            }
        }
        for d in self.group_disagreements() {
            let revisions: Vec<String> = d
                .revisions
                .iter()
                .map(|(server, rev)| format!("{server}={}", rev.as_deref().map_or("-", short)))
                .collect();
            let _ = writeln!(
                out,
                "group {} policy {} differs across servers: {}",
                d.group,
                d.policy,
                revisions.join(" ")
            );
        }
        out
    }
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, rev: Option<&str>) -> PolicyServerReport {
        let mut s = PolicyServerReport::failed(name, "http://x", String::new(), Duration::ZERO);
        s.error = None;
        let mut group = BTreeMap::new();
        if let Some(r) = rev {
            group.insert("web".to_owned(), r.to_owned());
        }
        s.groups.insert("prod".into(), group);
        s.finish();
        s
    }

    #[test]
    fn disagreeing_groups_are_listed_with_every_servers_revision() {
        let report = PushReport::new(
            vec![
                server("a", Some("r1")),
                server("b", Some("r2")),
                server("c", None),
            ],
            vec![],
            Duration::ZERO,
        );
        let d = report.group_disagreements();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].revisions["a"].as_deref(), Some("r1"));
        assert_eq!(d[0].revisions["c"], None);
        assert!(
            report
                .render_table()
                .contains("differs across servers: a=r1 b=r2 c=-")
        );
        let same = PushReport::new(
            vec![server("a", Some("r1")), server("b", Some("r1"))],
            vec![],
            Duration::ZERO,
        );
        assert!(same.group_disagreements().is_empty());
        assert!(same.ok);
    }
}
