//! Policy revisions in the status: which revision each server's policy group points at for
//! each policy, and the (group, policy) pairs the servers disagree about.
//!
//! Read with one `GET policy_groups` per server; a server without policy endpoints (Chef
//! Server 11) answers 404, and goiardi answers `null`: both are no policies. There is no repository side: which
//! revision a group should point at is decided by `push`, so a row is drift only across
//! servers. A server whose configuration puts it in other groups (a staging server) does not
//! have the group at all and is left out of that row's comparison; among the servers that do
//! have the group, one without an entry for the policy is [`Drift::Partial`], and entries
//! pointing at different revisions are [`Drift::Diverged`].

use std::collections::BTreeSet;

use chef_api::client::ChefClient;
use serde::{Deserialize, Serialize};

use super::compare::Drift;
use crate::report::ReportError;

pub(crate) use crate::policy::groups::PolicyGroups;

/// `GET policy_groups`; a 404 (no policy endpoints) or a `null` body (goiardi's answer) is
/// no groups.
///
/// # Errors
/// Any other failure, typed as the sync report's errors (kind, status, URL, the server's own
/// messages) on `server`.
pub(crate) async fn fetch(client: &ChefClient, server: &str) -> Result<PolicyGroups, ReportError> {
    crate::policy::groups::list(client)
        .await
        .map_err(|e| ReportError::from_api(&e, server))
}

/// One server's entry for one (group, policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyCellState {
    /// The group's entry for the policy points at `revision_id`.
    Points,
    /// The server has the group, without an entry for this policy.
    NoEntry,
    /// The server does not have the group (not compared).
    NoGroup,
    /// The server could not be read.
    Unknown,
}

impl PolicyCellState {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Points => "points",
            Self::NoEntry => "no_entry",
            Self::NoGroup => "no_group",
            Self::Unknown => "unknown",
        }
    }
}

/// One server's entry for one (group, policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyCell {
    /// Server name.
    pub server: String,
    /// Whether and how the server has the entry.
    pub state: PolicyCellState,
    /// The revision the entry points at (`state` = `points`).
    pub revision_id: Option<String>,
}

/// One (group, policy) some server has: every server's revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// Policy group.
    pub group: String,
    /// Policy name.
    pub policy: String,
    /// One cell per server, in the order of [`StatusReport::servers`](super::StatusReport).
    pub servers: Vec<PolicyCell>,
    /// Why this entry is drift (empty: every server having the group points at one
    /// revision): `partial`, `diverged`.
    pub drift: Vec<Drift>,
}

/// One row per (group, policy) any readable server has, sorted by group then policy.
/// `servers` are (name, read groups or `None` when the server could not be read), in the
/// report's order.
pub(crate) fn rows(servers: &[(&str, Option<&PolicyGroups>)]) -> Vec<PolicyStatus> {
    let keys: BTreeSet<(&str, &str)> = servers
        .iter()
        .filter_map(|(_, groups)| *groups)
        .flat_map(|groups| {
            groups.iter().flat_map(|(group, policies)| {
                policies.keys().map(move |p| (group.as_str(), p.as_str()))
            })
        })
        .collect();
    keys.into_iter()
        .map(|(group, policy)| {
            let cells: Vec<PolicyCell> = servers
                .iter()
                .map(|(name, groups)| {
                    let (state, revision_id) = match groups.map(|g| g.get(group)) {
                        None => (PolicyCellState::Unknown, None),
                        Some(None) => (PolicyCellState::NoGroup, None),
                        Some(Some(policies)) => match policies.get(policy) {
                            Some(rev) => (PolicyCellState::Points, Some(rev.clone())),
                            None => (PolicyCellState::NoEntry, None),
                        },
                    };
                    PolicyCell {
                        server: (*name).to_owned(),
                        state,
                        revision_id,
                    }
                })
                .collect();
            let mut drift = Vec::new();
            if cells.iter().any(|c| c.state == PolicyCellState::NoEntry) {
                drift.push(Drift::Partial);
            }
            let revisions: BTreeSet<&str> = cells
                .iter()
                .filter_map(|c| c.revision_id.as_deref())
                .collect();
            if revisions.len() > 1 {
                drift.push(Drift::Diverged);
            }
            PolicyStatus {
                group: group.to_owned(),
                policy: policy.to_owned(),
                servers: cells,
                drift,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(entries: &[(&str, &str, &str)]) -> PolicyGroups {
        let mut out = PolicyGroups::new();
        for (g, p, r) in entries {
            out.entry((*g).to_owned())
                .or_default()
                .insert((*p).to_owned(), (*r).to_owned());
        }
        out
    }

    #[test]
    fn servers_without_the_group_are_not_compared_and_others_are() {
        let eu = groups(&[("prod", "web", "r1"), ("prod", "db", "d1")]);
        let us = groups(&[("prod", "web", "r2")]);
        let staging = groups(&[("staging", "web", "r3")]);
        let rows = rows(&[
            ("eu", Some(&eu)),
            ("staging", Some(&staging)),
            ("us", Some(&us)),
            ("down", None),
        ]);
        let keys: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.group.as_str(), r.policy.as_str()))
            .collect();
        assert_eq!(keys, [("prod", "db"), ("prod", "web"), ("staging", "web")]);
        // us has the prod group but no db entry: partial.
        assert_eq!(rows[0].drift, [Drift::Partial]);
        assert_eq!(rows[0].servers[2].state, PolicyCellState::NoEntry);
        // r1 against r2: diverged; staging (no prod group) and the unreadable server are
        // not compared.
        assert_eq!(rows[1].drift, [Drift::Diverged]);
        assert_eq!(rows[1].servers[1].state, PolicyCellState::NoGroup);
        assert_eq!(rows[1].servers[3].state, PolicyCellState::Unknown);
        assert_eq!(rows[1].servers[2].revision_id.as_deref(), Some("r2"));
        // Only staging has the staging group: nothing to disagree with.
        assert!(rows[2].drift.is_empty());
    }
}
