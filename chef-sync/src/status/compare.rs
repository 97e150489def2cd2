//! Deciding, for one object (a cookbook version, a role, ...), what each server's copy is
//! compared with the repository and with the other servers' copies.

use serde::{Deserialize, Serialize};

/// One server's copy of one object, compared with the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    /// The server holds the repository's content.
    Match,
    /// The server holds other content than the repository (a sync would update it, or report
    /// a frozen conflict).
    Differs,
    /// The repository has it, the server does not (a sync would create it).
    Missing,
    /// The server has it, the repository does not (a purge would delete it).
    Extra,
    /// Neither the repository nor this server has it (another server does).
    Absent,
    /// The server could not be read.
    Unknown,
}

impl CellState {
    /// The JSON spelling (`match`, `differs`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::Differs => "differs",
            Self::Missing => "missing",
            Self::Extra => "extra",
            Self::Absent => "absent",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for CellState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one object makes the servers disagree with the repository or with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// A server lacks what the repository has.
    Missing,
    /// A server holds other content than the repository.
    Differs,
    /// A server holds what the repository does not have (counted only with
    /// [`StatusOptions::strict`](super::StatusOptions::strict)).
    Extra,
    /// On some of the servers that could be read, not on the others.
    Partial,
    /// The servers holding it do not all hold the same content (for a cookbook: the same
    /// version number with different files, which a frozen flag hides from every upload tool).
    Diverged,
}

impl Drift {
    /// The JSON spelling (`missing`, `diverged`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Differs => "differs",
            Self::Extra => "extra",
            Self::Partial => "partial",
            Self::Diverged => "diverged",
        }
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one server knows of one object.
#[derive(Debug)]
pub(crate) enum ServerCopy<'a, C> {
    /// The server could not be read.
    Unreadable,
    /// The server was read; it holds this content, or not the object at all.
    Read {
        /// What the repository would send this server (`None`: the repository does not have
        /// the object).
        expected: Option<&'a C>,
        /// What the server holds.
        held: Option<&'a C>,
    },
}

/// The cells (one per server, in order) and the drift of one object.
pub(crate) fn compare<C>(
    copies: &[ServerCopy<'_, C>],
    same: impl Fn(&C, &C) -> bool,
    strict: bool,
) -> (Vec<CellState>, Vec<Drift>) {
    let mut cells = Vec::with_capacity(copies.len());
    let mut held = Vec::new();
    let mut readable = 0;
    for copy in copies {
        let cell = match *copy {
            ServerCopy::Unreadable => CellState::Unknown,
            ServerCopy::Read { expected, held: h } => {
                readable += 1;
                if let Some(h) = h {
                    held.push(h);
                }
                match (expected, h) {
                    (Some(e), Some(h)) if same(e, h) => CellState::Match,
                    (Some(_), Some(_)) => CellState::Differs,
                    (Some(_), None) => CellState::Missing,
                    (None, Some(_)) => CellState::Extra,
                    (None, None) => CellState::Absent,
                }
            }
        };
        cells.push(cell);
    }
    let mut drift = Vec::new();
    if cells.contains(&CellState::Missing) {
        drift.push(Drift::Missing);
    }
    if cells.contains(&CellState::Differs) {
        drift.push(Drift::Differs);
    }
    if strict && cells.contains(&CellState::Extra) {
        drift.push(Drift::Extra);
    }
    if !held.is_empty() && held.len() < readable {
        drift.push(Drift::Partial);
    }
    if held.iter().skip(1).any(|h| !same(held[0], h)) {
        drift.push(Drift::Diverged);
    }
    (cells, drift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<'a>(
        expected: Option<&'a &'static str>,
        held: Option<&'a &'static str>,
    ) -> ServerCopy<'a, &'static str> {
        ServerCopy::Read { expected, held }
    }

    fn eq(a: &&str, b: &&str) -> bool {
        a == b
    }

    #[test]
    fn every_server_matching_the_repository_is_no_drift() {
        let r = "a";
        let (cells, drift) = compare(
            &[read(Some(&r), Some(&r)), read(Some(&r), Some(&r))],
            eq,
            true,
        );
        assert_eq!(cells, [CellState::Match, CellState::Match]);
        assert!(drift.is_empty());
    }

    #[test]
    fn missing_and_differing_copies_are_drift_from_the_repository_and_between_servers() {
        let (r, other) = ("a", "b");
        let (cells, drift) = compare(
            &[
                read(Some(&r), Some(&r)),
                read(Some(&r), Some(&other)),
                read(Some(&r), None),
                ServerCopy::Unreadable,
            ],
            eq,
            false,
        );
        assert_eq!(
            cells,
            [
                CellState::Match,
                CellState::Differs,
                CellState::Missing,
                CellState::Unknown
            ]
        );
        assert_eq!(
            drift,
            [
                Drift::Missing,
                Drift::Differs,
                Drift::Partial,
                Drift::Diverged
            ]
        );
    }

    #[test]
    fn extras_count_only_when_strict_unless_the_servers_disagree() {
        let x = "x";
        let everywhere = [read(None, Some(&x)), read(None, Some(&x))];
        let (cells, drift) = compare(&everywhere, eq, false);
        assert_eq!(cells, [CellState::Extra, CellState::Extra]);
        assert!(drift.is_empty());
        assert_eq!(compare(&everywhere, eq, true).1, [Drift::Extra]);

        let (cells, drift) = compare(&[read(None, Some(&x)), read(None, None)], eq, false);
        assert_eq!(cells, [CellState::Extra, CellState::Absent]);
        assert_eq!(drift, [Drift::Partial]);
    }

    #[test]
    fn an_unreadable_server_is_not_counted_as_lacking_the_object() {
        let x = "x";
        let (_, drift) = compare(&[read(None, Some(&x)), ServerCopy::Unreadable], eq, false);
        assert!(drift.is_empty(), "{drift:?}");
    }
}
