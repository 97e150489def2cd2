//! The plan as a matrix of (cookbook version or repository object) × server (what a dry run
//! prints and returns).
//!
//! Each server's plan itself (one `GET /cookbooks?num_versions=all` plus only the manifests
//! needed to decide; the objects' listings and search rows, see
//! [`crate::objects::fetch_server_objects`]) is made by `chef_api::upload::Uploader::plan` and
//! [`crate::objects`]; the sync makes all of them at once and a dry run reports the planned
//! action per (cookbook, version, server) and per (object, server): `create`, `update`,
//! `unchanged`, `delete` (purges, every deletion listed), `frozen_conflict`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::objects::ObjectKind;
use crate::report::SyncReport;

/// A (cookbook version | object) × server matrix of outcomes (planned actions in a dry run).
///
/// As JSON (the CLI's `sync --dry-run --json` puts it under `"plan"`; Python's
/// `SyncReport.plan()`): `{"servers": [...], "rows": [[["web", "1.0.0"], ["create", ...]]],
/// "objects": [{"kind": "role", "name": "web", "cells": ["update", ...]}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanMatrix {
    /// Column headers: server names, sorted.
    pub servers: Vec<String>,
    /// Rows: `(cookbook name, version)` and one cell per server (`create`, `unchanged`, ...;
    /// `error` when the server could not be planned, `-` when the server does not get it).
    pub rows: Vec<((String, String), Vec<String>)>,
    /// One row per role, environment, data bag and item any server has a line for, in write
    /// order (bags, items, roles, environments), then by name; cells as in `rows`.
    pub objects: Vec<ObjectRow>,
}

/// One repository object's row of a [`PlanMatrix`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRow {
    /// What it is.
    pub kind: ObjectKind,
    /// The name; `BAG/ITEM` for a data bag item.
    pub name: String,
    /// One cell per server, as in [`PlanMatrix::rows`].
    pub cells: Vec<String>,
}

impl ObjectRow {
    /// `role[web]`, `data_bag_item[users/alice]`.
    pub fn label(&self) -> String {
        format!("{}[{}]", self.kind, self.name)
    }
}

/// The cell of a server without a line for a row: `error` when it failed as a whole.
fn missing_cell(server: &crate::report::ServerReport) -> String {
    if server.error.is_some() {
        "error".to_owned()
    } else {
        "-".to_owned()
    }
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
                    .map(|(server, cells)| {
                        cells
                            .get(&key)
                            .cloned()
                            .unwrap_or_else(|| missing_cell(server))
                    })
                    .collect();
                (key, row)
            })
            .collect();
        Self {
            servers,
            rows,
            objects: object_rows(report),
        }
    }

    /// The matrix as an aligned text table (cookbook rows, then object rows under an
    /// `OBJECT` header), followed by one line per server that could not be planned.
    pub fn render(&self, report: &SyncReport) -> String {
        let mut out = String::new();
        let first_w = self
            .rows
            .iter()
            .map(|((n, v), _)| n.len() + 1 + v.len())
            .chain(self.objects.iter().map(|o| o.label().len()))
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
                    .map(|(_, cells)| &cells[i])
                    .chain(self.objects.iter().map(|o| &o.cells[i]))
                    .map(String::len)
                    .max()
                    .unwrap_or(0)
                    .max(s.len())
            })
            .collect();
        let line = |out: &mut String, first: &str, cells: &[String]| {
            let _ = write!(out, "{first:<first_w$}");
            for (cell, w) in cells.iter().zip(&widths) {
                let _ = write!(out, "  {cell:<w$}");
            }
            out.push('\n');
        };
        if !self.rows.is_empty() || self.objects.is_empty() {
            line(&mut out, "COOKBOOK", &self.servers);
            for ((name, version), cells) in &self.rows {
                line(&mut out, &format!("{name} {version}"), cells);
            }
        }
        if !self.objects.is_empty() {
            line(&mut out, "OBJECT", &self.servers);
            for row in &self.objects {
                line(&mut out, &row.label(), &row.cells);
            }
        }
        for s in &report.servers {
            if let Some(e) = &s.error {
                let _ = writeln!(out, "{} ({}): {e}", s.name, s.url);
            }
        }
        out
    }
}

/// The object rows of `report`: every (kind, name) any server has a line for.
fn object_rows(report: &SyncReport) -> Vec<ObjectRow> {
    let order = |kind: ObjectKind| ObjectKind::ALL.iter().position(|k| *k == kind);
    let keys: BTreeSet<(Option<usize>, ObjectKind, String)> = report
        .servers
        .iter()
        .flat_map(|s| s.objects.iter())
        .map(|o| (order(o.kind), o.kind, o.name.clone()))
        .collect();
    let cells: Vec<BTreeMap<(ObjectKind, &str), String>> = report
        .servers
        .iter()
        .map(|s| {
            s.objects
                .iter()
                .map(|o| ((o.kind, o.name.as_str()), o.outcome.to_string()))
                .collect()
        })
        .collect();
    keys.into_iter()
        .map(|(_, kind, name)| {
            let row = report
                .servers
                .iter()
                .zip(&cells)
                .map(|(server, cells)| {
                    cells
                        .get(&(kind, name.as_str()))
                        .cloned()
                        .unwrap_or_else(|| missing_cell(server))
                })
                .collect();
            ObjectRow {
                kind,
                name,
                cells: row,
            }
        })
        .collect()
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

    #[test]
    fn objects_get_rows_in_write_order_with_deletions() {
        use crate::objects::ObjectId;
        use crate::report::{ObjectOutcome, ObjectReport};
        let mut us = server("us", &[("web", CookbookOutcome::Unchanged)]);
        us.objects = vec![
            ObjectReport::new(&ObjectId::data_bag("users"), ObjectOutcome::Unchanged, None),
            ObjectReport::new(
                &ObjectId::data_bag_item("users", "alice"),
                ObjectOutcome::Create,
                None,
            ),
            ObjectReport::new(&ObjectId::role("web"), ObjectOutcome::Update, None),
            ObjectReport::new(&ObjectId::environment("prod"), ObjectOutcome::Create, None),
            ObjectReport::new(&ObjectId::role("legacy"), ObjectOutcome::Delete, None),
        ];
        let mut eu = server("eu", &[]);
        eu.objects = vec![ObjectReport::new(
            &ObjectId::role("web"),
            ObjectOutcome::Unchanged,
            None,
        )];
        let report = SyncReport::new(
            true,
            vec![
                us,
                eu,
                ServerReport::failed(
                    "ap",
                    "http://127.0.0.1:2",
                    crate::ReportError::other("cannot read the server's roles", "ap"),
                    Duration::ZERO,
                ),
            ],
            vec![],
            Duration::ZERO,
        );
        let m = PlanMatrix::from_report(&report);
        let rows: Vec<(String, Vec<&str>)> = m
            .objects
            .iter()
            .map(|r| (r.label(), r.cells.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "data_bag[users]".to_owned(),
                    vec!["error", "-", "unchanged"]
                ),
                (
                    "data_bag_item[users/alice]".to_owned(),
                    vec!["error", "-", "create"]
                ),
                ("role[legacy]".to_owned(), vec!["error", "-", "delete"]),
                ("role[web]".to_owned(), vec!["error", "unchanged", "update"]),
                ("environment[prod]".to_owned(), vec!["error", "-", "create"]),
            ]
        );
        let text = m.render(&report);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(lines.contains(&vec!["OBJECT", "ap", "eu", "us"]), "{text}");
        assert!(
            lines.contains(&vec!["role[legacy]", "error", "-", "delete"]),
            "{text}"
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["objects"][2]["kind"], "role");
        assert_eq!(json["objects"][2]["name"], "legacy");
        assert_eq!(json["objects"][2]["cells"][2], "delete");
        assert_eq!(json["rows"][0][0][0], "web");
    }
}
