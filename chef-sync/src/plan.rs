//! The plan as a cookbook × server matrix (what a dry run prints).
//!
//! Each server's plan itself (one `GET /cookbooks?num_versions=all` plus only the manifests
//! needed to decide) is made by `chef_api::upload::Uploader::plan`; the sync makes all of them
//! at once and a dry run reports the planned action per (cookbook, version, server).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::report::SyncReport;

/// A cookbook × server matrix of outcomes (planned actions in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanMatrix {
    /// Column headers: server names, sorted.
    pub servers: Vec<String>,
    /// Rows: `(cookbook name, version)` and one cell per server (`create`, `unchanged`, ...;
    /// `error` when the server could not be planned, `-` when the server does not get it).
    pub rows: Vec<((String, String), Vec<String>)>,
}

impl PlanMatrix {
    /// Builds the matrix from a report.
    pub fn from_report(report: &SyncReport) -> Self {
        let servers: Vec<String> = report.servers.iter().map(|s| s.name.clone()).collect();
        let keys: BTreeSet<(String, String)> = report
            .servers
            .iter()
            .flat_map(|s| {
                s.cookbooks
                    .iter()
                    .map(|c| (c.name.clone(), c.version.clone()))
            })
            .collect();
        let cells: Vec<BTreeMap<(String, String), String>> = report
            .servers
            .iter()
            .map(|s| {
                s.cookbooks
                    .iter()
                    .map(|c| ((c.name.clone(), c.version.clone()), c.outcome.to_string()))
                    .collect()
            })
            .collect();
        let rows = keys
            .into_iter()
            .map(|key| {
                let row = report
                    .servers
                    .iter()
                    .zip(&cells)
                    .map(|(server, cells)| match cells.get(&key) {
                        Some(cell) => cell.clone(),
                        None if server.error.is_some() => "error".to_owned(),
                        None => "-".to_owned(),
                    })
                    .collect();
                (key, row)
            })
            .collect();
        Self { servers, rows }
    }

    /// The matrix as an aligned text table, followed by one line per server that could not be
    /// planned.
    pub fn render(&self, report: &SyncReport) -> String {
        let mut out = String::new();
        let first_w = self
            .rows
            .iter()
            .map(|((n, v), _)| n.len() + 1 + v.len())
            .max()
            .unwrap_or(0)
            .max("COOKBOOK".len());
        let widths: Vec<usize> = self
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                self.rows
                    .iter()
                    .map(|(_, cells)| cells[i].len())
                    .max()
                    .unwrap_or(0)
                    .max(s.len())
            })
            .collect();
        let _ = write!(out, "{:<first_w$}", "COOKBOOK");
        for (s, w) in self.servers.iter().zip(&widths) {
            let _ = write!(out, "  {s:<w$}");
        }
        out.push('\n');
        for ((name, version), cells) in &self.rows {
            let _ = write!(out, "{:<first_w$}", format!("{name} {version}"));
            for (cell, w) in cells.iter().zip(&widths) {
                let _ = write!(out, "  {cell:<w$}");
            }
            out.push('\n');
        }
        for s in &report.servers {
            if let Some(e) = &s.error {
                let _ = writeln!(out, "{} ({}): {e}", s.name, s.url);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{CookbookOutcome, CookbookReport, ServerReport};

    fn server(name: &str, cookbooks: &[(&str, CookbookOutcome)]) -> ServerReport {
        let mut s = ServerReport {
            name: name.into(),
            url: "http://127.0.0.1:1".into(),
            ok: true,
            error: None,
            files_sent: 0,
            bytes_sent: 0,
            duration_ms: 0,
            cookbooks: cookbooks
                .iter()
                .map(|(n, o)| CookbookReport {
                    name: (*n).into(),
                    version: "1.0.0".into(),
                    outcome: *o,
                    files_sent: 0,
                    bytes_sent: 0,
                    duration_ms: 0,
                    error: None,
                })
                .collect(),
            objects: Vec::new(),
        };
        s.finish();
        s
    }

    #[test]
    fn matrix_has_a_cell_per_cookbook_and_server() {
        let report = SyncReport::new(
            true,
            vec![
                server(
                    "us",
                    &[
                        ("web", CookbookOutcome::Create),
                        ("db", CookbookOutcome::Unchanged),
                    ],
                ),
                server("eu", &[("web", CookbookOutcome::FrozenConflict)]),
                ServerReport::failed(
                    "ap",
                    "http://127.0.0.1:2",
                    crate::ReportError::other("refused", "ap"),
                    Duration::ZERO,
                ),
            ],
            vec![],
            Duration::ZERO,
        );
        let m = PlanMatrix::from_report(&report);
        assert_eq!(m.servers, ["ap", "eu", "us"]);
        assert_eq!(m.rows.len(), 2);
        assert_eq!(m.rows[0].0, ("db".to_owned(), "1.0.0".to_owned()));
        assert_eq!(m.rows[0].1, ["error", "-", "unchanged"]);
        assert_eq!(m.rows[1].1, ["error", "frozen_conflict", "create"]);
        let text = m.render(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["COOKBOOK", "ap", "eu", "us"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["web", "1.0.0", "error", "frozen_conflict", "create"]
        );
        assert!(text.contains("ap (http://127.0.0.1:2): refused"), "{text}");
    }
}
