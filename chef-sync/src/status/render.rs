//! The status as a table: one row per cookbook version and object, one column per server.
//!
//! ```text
//! OBJECT                REPO          eu-west-1             us-east-1     DRIFT
//! cookbook base 1.4.2   3f2a9c1e04b2  ok*                   differs 9b01d2aa77c3*  differs, diverged
//! role[web]             8c1d0e55a0f1  ok                    missing       missing, partial
//! policy prod/web                     8d1f03aa91c2          77ab90e1c3d4  diverged
//! ```
//!
//! A policy row shows the revision each server's group points at (`none`: the server has the
//! group without this policy, `-`: not this group, `?`: unreadable); the repository column is
//! empty (push decides what a group points at).

use std::fmt::Write as _;

use super::compare::{CellState, Drift};
use super::policies::PolicyCellState;
use super::report::StatusReport;

/// How many hex digits of a digest the table shows.
const SHORT: usize = 12;

fn short(digest: Option<&str>) -> &str {
    digest.map_or("", |d| &d[..d.len().min(SHORT)])
}

fn cell_text(state: CellState, digest: Option<&str>, frozen: bool) -> String {
    let mut text = match state {
        CellState::Match => "ok".to_owned(),
        CellState::Differs => format!("differs {}", short(digest)),
        CellState::Missing => "missing".to_owned(),
        CellState::Extra => format!("extra {}", short(digest)),
        CellState::Absent => "-".to_owned(),
        CellState::Unknown => "?".to_owned(),
    };
    if frozen {
        text.push('*');
    }
    text
}

fn drift_text(drift: &[Drift]) -> String {
    drift
        .iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl StatusReport {
    /// A human table: one row per cookbook version and object, one column per server (`ok`,
    /// `differs DIGEST`, `missing`, `extra DIGEST`, `-` absent, `?` unreadable, `*` frozen),
    /// then every server that could not be read and a one-line verdict.
    pub fn render_table(&self) -> String {
        let mut header = vec!["OBJECT".to_owned(), "REPO".to_owned()];
        header.extend(self.servers.iter().map(|s| s.name.clone()));
        header.push("DRIFT".to_owned());
        let mut rows = vec![header];
        for c in &self.cookbooks {
            let mut row = vec![
                format!("cookbook {} {}", c.name, c.version),
                short(c.repo.as_deref()).to_owned(),
            ];
            row.extend(c.servers.iter().map(|cell| {
                cell_text(
                    cell.state,
                    cell.digest.as_deref(),
                    cell.frozen == Some(true),
                )
            }));
            row.push(drift_text(&c.drift));
            rows.push(row);
        }
        for o in &self.objects {
            let mut row = vec![o.id.clone(), short(o.repo.as_deref()).to_owned()];
            row.extend(
                o.servers
                    .iter()
                    .map(|cell| cell_text(cell.state, cell.digest.as_deref(), false)),
            );
            row.push(drift_text(&o.drift));
            rows.push(row);
        }
        for p in &self.policies {
            let mut row = vec![format!("policy {}/{}", p.group, p.policy), String::new()];
            row.extend(p.servers.iter().map(|cell| match cell.state {
                PolicyCellState::Points => short(cell.revision_id.as_deref()).to_owned(),
                PolicyCellState::NoEntry => "none".to_owned(),
                PolicyCellState::NoGroup => "-".to_owned(),
                PolicyCellState::Unknown => "?".to_owned(),
            }));
            row.push(drift_text(&p.drift));
            rows.push(row);
        }
        let columns = rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, (text, width)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == columns {
                    line.push_str(text);
                } else {
                    let _ = write!(line, "{text:<width$}  ");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if self
            .cookbooks
            .iter()
            .any(|c| c.servers.iter().any(|s| s.frozen == Some(true)))
        {
            let _ = writeln!(out, "(* frozen)");
        }
        for s in self.failed_servers() {
            let _ = writeln!(
                out,
                "{}: could not be read: {}",
                s.name,
                s.error
                    .as_ref()
                    .map_or("unknown error", |e| e.message.as_str())
            );
        }
        let drifting = self.drifting_cookbooks().count()
            + self.drifting_objects().count()
            + self.drifting_policies().count();
        let verdict = match self.exit_code {
            0 => "every server matches the repository and each other".to_owned(),
            1 => format!(
                "{} server(s) could not be read; {drifting} drifting among the others",
                self.failed_servers().count()
            ),
            _ => format!("{drifting} drifting"),
        };
        let _ = writeln!(out, "status: {verdict} (exit {})", self.exit_code);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::status::report::{
        CookbookCell, CookbookStatus, ObjectCell, ObjectStatus, ServerStatus,
    };

    fn server(name: &str, error: Option<&str>) -> ServerStatus {
        ServerStatus {
            name: name.into(),
            url: format!("http://127.0.0.1:1/{name}"),
            ok: error.is_none(),
            error: error.map(|e| crate::report::ReportError::other(e, name)),
            api_version: Some(1),
            cookbook_versions: 1,
            objects: 1,
            duration_ms: 3,
        }
    }

    fn report(servers: Vec<ServerStatus>, drift: Vec<Drift>) -> StatusReport {
        let cookbooks = vec![CookbookStatus {
            name: "base".into(),
            version: "1.4.2".into(),
            repo: Some("a".repeat(64)),
            servers: vec![
                CookbookCell {
                    server: "eu".into(),
                    state: CellState::Match,
                    digest: Some("a".repeat(64)),
                    frozen: Some(true),
                },
                CookbookCell {
                    server: "us".into(),
                    state: CellState::Differs,
                    digest: Some("b".repeat(64)),
                    frozen: Some(true),
                },
            ],
            drift,
        }];
        let objects = vec![ObjectStatus {
            kind: "role".into(),
            bag: None,
            name: "web".into(),
            id: "role[web]".into(),
            repo: None,
            servers: vec![
                ObjectCell {
                    server: "eu".into(),
                    state: CellState::Extra,
                    digest: Some("c".repeat(64)),
                },
                ObjectCell {
                    server: "us".into(),
                    state: CellState::Unknown,
                    digest: None,
                },
            ],
            drift: vec![],
        }];
        StatusReport::new(
            false,
            Duration::from_millis(5),
            vec![],
            servers,
            cookbooks,
            objects,
        )
    }

    #[test]
    fn the_table_has_a_column_per_server_and_a_verdict() {
        let r = report(
            vec![server("eu", None), server("us", None)],
            vec![Drift::Differs, Drift::Diverged],
        );
        assert_eq!(r.exit_code(), 2);
        let table = r.render_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("OBJECT")
                && lines[0].contains("eu")
                && lines[0].ends_with("DRIFT")
        );
        assert!(
            lines[1].starts_with("cookbook base 1.4.2")
                && lines[1].contains("ok*")
                && lines[1].contains(&format!("differs {}*", "b".repeat(12)))
                && lines[1].ends_with("differs, diverged"),
            "{table}"
        );
        assert!(
            lines[2].starts_with("role[web]")
                && lines[2].contains("extra cccc")
                && lines[2].ends_with('?'),
            "{table}"
        );
        assert!(table.contains("(* frozen)"));
        assert!(table.ends_with("status: 1 drifting (exit 2)\n"), "{table}");
    }

    #[test]
    fn an_unreadable_server_is_exit_1_and_named_with_its_error() {
        let r = report(
            vec![
                server("eu", None),
                server(
                    "us",
                    Some("GET http://127.0.0.1:1/us/cookbooks: connection refused"),
                ),
            ],
            vec![],
        );
        assert_eq!(r.exit_code(), 1);
        assert!(!r.in_sync);
        let table = r.render_table();
        assert!(
            table.contains(
                "us: could not be read: GET http://127.0.0.1:1/us/cookbooks: connection refused"
            ),
            "{table}"
        );
        assert!(table.ends_with("(exit 1)\n"));
    }

    #[test]
    fn a_policy_group_pointing_at_two_revisions_is_a_row_and_drift() {
        use crate::status::policies::{PolicyCell, PolicyStatus};
        let cell = |server: &str, rev: &str| PolicyCell {
            server: server.into(),
            state: PolicyCellState::Points,
            revision_id: Some(rev.into()),
        };
        let r = report(vec![server("eu", None), server("us", None)], vec![]);
        assert_eq!(r.exit_code(), 0);
        let r = r.with_policies(vec![PolicyStatus {
            group: "prod".into(),
            policy: "web".into(),
            servers: vec![cell("eu", &"1".repeat(64)), cell("us", &"2".repeat(64))],
            drift: vec![Drift::Diverged],
        }]);
        assert_eq!(r.exit_code(), 2);
        assert!(!r.in_sync);
        let table = r.render_table();
        assert!(
            table.lines().any(|l| l.starts_with("policy prod/web")
                && l.contains(&"1".repeat(12))
                && l.contains(&"2".repeat(12))
                && l.ends_with("diverged")),
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["policies"][0]["servers"][1]["state"], "points");
        assert_eq!(json["policies"][0]["drift"][0], "diverged");
    }

    #[test]
    fn no_drift_and_every_server_read_is_exit_0_and_json_says_so() {
        let r = report(vec![server("eu", None), server("us", None)], vec![]);
        assert_eq!(r.exit_code(), 0);
        assert!(r.in_sync);
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["exit_code"], 0);
        assert_eq!(json["cookbooks"][0]["servers"][1]["state"], "differs");
        assert_eq!(json["cookbooks"][0]["servers"][0]["frozen"], true);
        assert_eq!(json["objects"][0]["servers"][0]["state"], "extra");
        assert_eq!(json["objects"][0]["id"], "role[web]");
        let back: StatusReport = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }
}
