//! `Berksfile.lock`: Berkshelf's exact text format, staleness rules and `update`.
//!
//! ```text
//! DEPENDENCIES
//!   apt (~> 7.0)
//!   myapp
//!     path: .
//!     metadata: true
//!
//! GRAPH
//!   apt (7.1.1)
//!   myapp (0.1.0)
//!     apt (~> 7.0)
//! ```
//!
//! A lock written by Berkshelf parses and writes back byte-identical: entries sorted by name,
//! two-space indents, one blank line between the sections, a newline after the last line.
//!
//! Berkshelf 2 wrote JSON locks instead (`{"sha": .., "sources": {NAME: {"locked_version":
//! ..}}}`); [`Lockfile::parse_with_warnings`] converts them, as Berkshelf 3 and later do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chef_api::version::{Constraint, Op, Version};

use super::{Berksfile, CookbookInfo, Dependency, GitLocation, Location};

/// Why a lock file could not be read, written or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockfileError {
    /// The text is not in Berkshelf's lock format (nor a readable Berkshelf 2 JSON lock).
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The lock file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// A Berksfile constraint no longer accepts the locked version (Berkshelf's
    /// `OutdatedDependency`): the user must run an update for that cookbook.
    #[error(
        "Berkshelf could not find compatible versions for cookbook '{name}':\n  In Berksfile:\n    {name} ({constraint})\n\n  In Berksfile.lock:\n    {name} ({locked})\n\nTry running `berks update {name}`, which will try to find '{name}' matching '{constraint}'."
    )]
    Outdated {
        /// Cookbook name.
        name: String,
        /// The Berksfile's constraint.
        constraint: String,
        /// The locked version.
        locked: Version,
    },
    /// `update NAME` for a cookbook the lock does not contain.
    #[error("cannot update '{name}': it is not in the lock file")]
    UnknownCookbook {
        /// The name given.
        name: String,
    },
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A parsed `Berksfile.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lockfile {
    /// `DEPENDENCIES`: the Berksfile's top-level dependencies.
    pub dependencies: Vec<LockDependency>,
    /// `GRAPH`: every resolved cookbook, keyed by name.
    pub graph: BTreeMap<String, GraphItem>,
    /// Converted from a Berkshelf 2 JSON lock (see [`Lockfile::parse_with_warnings`]), whose
    /// `GRAPH` records no cookbook dependencies: [`Lockfile::plan`] never trusts such a lock
    /// as is, it must be resolved again (keeping its locked versions). Not written by
    /// [`Lockfile::to_lock_string`]; a lock read from the current format has `false`.
    pub from_berkshelf2: bool,
}

/// One `DEPENDENCIES` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockDependency {
    /// Cookbook name.
    pub name: String,
    /// The constraint as written in the lock (absent for `>= 0.0.0` and located deps).
    pub constraint: Option<String>,
    /// Where it comes from.
    pub location: LockLocation,
}

/// A `DEPENDENCIES` entry's location lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockLocation {
    /// No option lines: resolved from the sources.
    Default,
    /// `path:` (+ `metadata: true`).
    Path {
        /// The path relative to the Berksfile's directory, as written.
        path: String,
        /// `metadata: true`.
        metadata: bool,
    },
    /// `git:` with `revision:` and the options given in the Berksfile.
    Git {
        /// `git:`.
        url: String,
        /// `revision:` (the resolved 40-hex commit).
        revision: String,
        /// `ref:` (first 7 characters of the Berksfile's `ref:`).
        reference: Option<String>,
        /// `branch:`.
        branch: Option<String>,
        /// `tag:`.
        tag: Option<String>,
        /// `rel:`.
        rel: Option<String>,
    },
}

/// One `GRAPH` entry: a resolved cookbook and its metadata dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphItem {
    /// Cookbook name.
    pub name: String,
    /// Locked version.
    pub version: Version,
    /// Metadata dependencies: name -> constraint verbatim from metadata (`None` when the
    /// lock line had no parenthesis).
    pub dependencies: BTreeMap<String, Option<String>>,
}

/// Which cookbooks an install may move away from their locked versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// `berks install`: keep every lock.
    #[default]
    None,
    /// `berks update`: unlock everything.
    All,
    /// `berks update NAMES`: unlock these (and subtrees nothing else needs).
    Only(Vec<String>),
}

/// What [`Lockfile::plan`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockPlan {
    /// The lock reduced to the Berksfile (removed dependencies and orphans dropped, updated
    /// cookbooks unlocked).
    pub lock: Lockfile,
    /// `None` when the lock can be installed verbatim; else why resolution is needed.
    pub untrusted_reason: Option<String>,
    /// Locked versions the resolver pins (`= v`), as Berkshelf does when the lock is not
    /// trusted: every `GRAPH` entry left after the update and reduction, except the path and
    /// git cookbooks (their version is whatever is on disk at the locked revision).
    pub pins: BTreeMap<String, Version>,
    /// Berksfile dependencies the lock did not know.
    pub added: Vec<String>,
    /// Lock dependencies the Berksfile no longer has.
    pub removed: Vec<String>,
}

impl LockPlan {
    /// Can the lock be installed as is, without resolving?
    pub fn is_trusted(&self) -> bool {
        self.untrusted_reason.is_none()
    }
}

/// How Berkshelf writes a Berksfile constraint in `DEPENDENCIES` (semverse's normal form:
/// `~>` keeps the written precision, other operators are padded to `x.y.z`); `None` for
/// `>= 0.0.0`, which is not written.
pub fn lock_constraint(c: &Constraint) -> Option<String> {
    if c.op() == Op::Ge && c.version() == Version::new(0, 0, 0) {
        return None;
    }
    Some(match c.op() {
        Op::Pessimistic => c.to_string(),
        op => format!("{} {}", op.as_str(), c.version()),
    })
}

fn split_name_paren(s: &str) -> Result<(&str, Option<&str>), String> {
    match s.find(" (") {
        None => {
            if s.contains(['(', ')', ' ']) {
                Err(format!("expected 'NAME' or 'NAME (VERSION)', found {s:?}"))
            } else {
                Ok((s, None))
            }
        }
        Some(i) => {
            let name = &s[..i];
            let rest = &s[i + 2..];
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("expected ')' at the end of {s:?}"))?;
            if name.is_empty() || name.contains(' ') {
                return Err(format!("expected a cookbook name before '(' in {s:?}"));
            }
            Ok((name, Some(inner)))
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    None,
    Dependencies,
    Graph,
}

struct Pending {
    name: String,
    constraint: Option<String>,
    opts: Vec<(String, String, usize)>,
    line: usize,
}

impl Lockfile {
    /// Reads and parses a lock file.
    pub fn load(path: &Path) -> Result<Self, LockfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockfileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses lock text; `path` is only used in errors. Blank lines are ignored and CRLF is
    /// tolerated, as in Berkshelf. A Berkshelf 2 JSON lock is converted (see
    /// [`Lockfile::parse_with_warnings`], which also returns the warning this drops).
    pub fn parse(text: &str, path: &Path) -> Result<Self, LockfileError> {
        Self::parse_with_warnings(text, path).map(|(lock, _)| lock)
    }

    /// Parses lock text in either format, with the warnings to show the user; `path` names
    /// the file in errors and warnings.
    ///
    /// * The current text format (Berkshelf 3 and later), read as Berkshelf's `LockfileParser`
    ///   reads it: an unknown option line is ignored with a warning, and a `git:` entry without
    ///   `revision:` is left out of both sections (so it is resolved and fetched again) with a
    ///   warning naming it.
    /// * A Berkshelf 2 JSON lock (text starting with `{`): `{"sha": "..", "sources": {NAME:
    ///   ENTRY, ..}}` (Berkshelf 3 betas wrote `"dependencies"` instead of `"sources"`; both
    ///   are read). Each ENTRY may have `locked_version`, `constraint`, `path`, or `git` with
    ///   `ref` (Berkshelf 2 stored the resolved commit there), `branch`, `tag`, `rel`; other
    ///   keys (`site`, ...) are ignored. It is converted as Berkshelf does, with one warning
    ///   naming the file and saying it will be rewritten in the current format:
    ///   - every entry becomes a `DEPENDENCIES` entry (Berkshelf 2 also listed transitive
    ///     cookbooks there; [`Lockfile::plan`] drops those the Berksfile does not have). A
    ///     `constraint` is kept for entries without a location, normalised as Berkshelf
    ///     writes it; `path` becomes [`LockLocation::Path`] (without `metadata: true`, which
    ///     Berkshelf 2 did not record); `git` becomes [`LockLocation::Git`] with the 40-hex
    ///     `ref` as its `revision` and its first 7 characters as `ref:`;
    ///   - every entry with a `locked_version` becomes a `GRAPH` item with no dependencies
    ///     (Berkshelf 2 did not record them), and the result has
    ///     [`Lockfile::from_berkshelf2`] set, so it is resolved again rather than trusted;
    ///   - a `git` entry without a 40-hex commit cannot be carried: the current format needs
    ///     a `revision:` and none is invented. Berkshelf 3 keeps such an entry without a
    ///     revision and fetches its branch again; here it is left out of both sections, so
    ///     the cookbook is resolved again, and the warning names it.
    ///
    /// The caller should save the lock it installs (as `berks install` does), which replaces
    /// the JSON file with the current format.
    ///
    /// # Errors
    ///
    /// [`LockfileError::Parse`] with the line: for the text format, what the line should
    /// have been; for JSON, what was expected and either serde_json's line (and column) of
    /// bad syntax or of a value of the wrong type (an entry that is not an object, a number
    /// for a version, ...), or the line of an entry whose values make no sense (a version or
    /// constraint that does not parse, a `path` and a `git` together).
    pub fn parse_with_warnings(
        text: &str,
        path: &Path,
    ) -> Result<(Self, Vec<String>), LockfileError> {
        if text.trim_start().starts_with('{') {
            return berkshelf2::convert(text, path);
        }
        Self::parse_text(text, path)
    }

    /// Parses the current text format, reading what Berkshelf's `LockfileParser` reads:
    ///
    /// * an option line Berkshelf does not know (`    colour: red`) is ignored, as Berkshelf
    ///   ignores it, with a warning naming the line;
    /// * a `git:` entry without `revision:` (written by old Berkshelf 3 releases) has nothing
    ///   to check out: Berkshelf fetches its branch again. It is left out of `DEPENDENCIES`
    ///   and `GRAPH`, so it is resolved and fetched again, with a warning naming it.
    fn parse_text(text: &str, path: &Path) -> Result<(Self, Vec<String>), LockfileError> {
        let mut warnings = Vec::new();
        let mut unrevisioned: Vec<String> = Vec::new();
        let err = |line: usize, message: String| LockfileError::Parse {
            path: path.to_owned(),
            line,
            message,
        };
        let mut lock = Lockfile::default();
        let mut section = Section::None;
        let mut pending: Option<Pending> = None;
        let mut current_graph: Option<String> = None;
        for (idx, raw) in text.split('\n').enumerate() {
            let lineno = idx + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            match line {
                "DEPENDENCIES" | "GRAPH" => {
                    if let Some(p) = pending.take() {
                        lock.dependencies.extend(finish_dependency(
                            p,
                            path,
                            &mut warnings,
                            &mut unrevisioned,
                        )?);
                    }
                    current_graph = None;
                    section = if line == "GRAPH" {
                        Section::Graph
                    } else {
                        Section::Dependencies
                    };
                    continue;
                }
                _ => {}
            }
            let indent = line.len() - line.trim_start_matches(' ').len();
            let body = &line[indent..];
            match (section, indent) {
                (Section::None, _) => {
                    return Err(err(
                        lineno,
                        format!("expected 'DEPENDENCIES' or 'GRAPH', found {line:?}"),
                    ));
                }
                (Section::Dependencies, 2) => {
                    if let Some(p) = pending.take() {
                        lock.dependencies.extend(finish_dependency(
                            p,
                            path,
                            &mut warnings,
                            &mut unrevisioned,
                        )?);
                    }
                    let (name, c) = split_name_paren(body).map_err(|m| err(lineno, m))?;
                    pending = Some(Pending {
                        name: name.to_owned(),
                        constraint: c.map(str::to_owned),
                        opts: Vec::new(),
                        line: lineno,
                    });
                }
                (Section::Dependencies, 4) => {
                    let p = pending.as_mut().ok_or_else(|| {
                        err(lineno, "option line before any dependency entry".into())
                    })?;
                    let (k, v) = body.split_once(": ").ok_or_else(|| {
                        err(lineno, format!("expected 'key: value', found {body:?}"))
                    })?;
                    p.opts.push((k.to_owned(), v.to_owned(), lineno));
                }
                (Section::Graph, 2) => {
                    let (name, v) = split_name_paren(body).map_err(|m| err(lineno, m))?;
                    let v = v.ok_or_else(|| {
                        err(lineno, format!("expected 'NAME (VERSION)', found {body:?}"))
                    })?;
                    let version = Version::parse(v).map_err(|e| err(lineno, e.to_string()))?;
                    if lock.graph.contains_key(name) {
                        return Err(err(lineno, format!("{name} appears twice in GRAPH")));
                    }
                    lock.graph.insert(
                        name.to_owned(),
                        GraphItem {
                            name: name.to_owned(),
                            version,
                            dependencies: BTreeMap::new(),
                        },
                    );
                    current_graph = Some(name.to_owned());
                }
                (Section::Graph, 4) => {
                    let item = current_graph
                        .as_ref()
                        .and_then(|n| lock.graph.get_mut(n))
                        .ok_or_else(|| {
                            err(lineno, "dependency line before any GRAPH entry".into())
                        })?;
                    let (name, c) = split_name_paren(body).map_err(|m| err(lineno, m))?;
                    item.dependencies
                        .insert(name.to_owned(), c.map(str::to_owned));
                }
                _ => {
                    return Err(err(
                        lineno,
                        format!(
                            "expected an entry indented by two spaces or a detail line indented by four, found {indent} spaces"
                        ),
                    ));
                }
            }
        }
        if let Some(p) = pending.take() {
            lock.dependencies.extend(finish_dependency(
                p,
                path,
                &mut warnings,
                &mut unrevisioned,
            )?);
        }
        for name in &unrevisioned {
            lock.graph.remove(name);
        }
        Ok((lock, warnings))
    }

    /// The lock in Berkshelf's format (see the module docs).
    pub fn to_lock_string(&self) -> String {
        let mut out = String::from("DEPENDENCIES\n");
        let mut deps: Vec<&LockDependency> = self.dependencies.iter().collect();
        deps.sort_by(|a, b| (&a.name, &a.constraint).cmp(&(&b.name, &b.constraint)));
        for d in deps {
            match &d.constraint {
                Some(c) => {
                    let _ = writeln!(out, "  {} ({c})", d.name);
                }
                None => {
                    let _ = writeln!(out, "  {}", d.name);
                }
            }
            match &d.location {
                LockLocation::Default => {}
                LockLocation::Path { path, metadata } => {
                    let _ = writeln!(out, "    path: {path}");
                    if *metadata {
                        out.push_str("    metadata: true\n");
                    }
                }
                LockLocation::Git {
                    url,
                    revision,
                    reference,
                    branch,
                    tag,
                    rel,
                } => {
                    let _ = writeln!(out, "    git: {url}");
                    let _ = writeln!(out, "    revision: {revision}");
                    for (k, v) in [
                        ("ref", reference),
                        ("branch", branch),
                        ("tag", tag),
                        ("rel", rel),
                    ] {
                        if let Some(v) = v {
                            let _ = writeln!(out, "    {k}: {v}");
                        }
                    }
                }
            }
        }
        out.push_str("\nGRAPH\n");
        for item in self.graph.values() {
            let _ = writeln!(out, "  {} ({})", item.name, item.version);
            for (dep, c) in &item.dependencies {
                match c {
                    Some(c) => {
                        let _ = writeln!(out, "    {dep} ({c})");
                    }
                    None => {
                        let _ = writeln!(out, "    {dep}");
                    }
                }
            }
        }
        out
    }

    /// Writes the lock atomically (temp file in the same directory, then rename). Like
    /// Berkshelf, nothing is written when there are no dependencies; returns whether it wrote.
    pub fn save(&self, path: &Path) -> Result<bool, LockfileError> {
        if self.dependencies.is_empty() {
            return Ok(false);
        }
        let io = |source| LockfileError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, self.to_lock_string().as_bytes()).map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(true)
    }

    /// Builds the lock Berkshelf writes after an install: `DEPENDENCIES` from the Berksfile
    /// (paths relative to the Berksfile's directory, git revisions from `git_revisions`),
    /// `GRAPH` from the installed cookbooks' metadata.
    pub fn from_install(
        berksfile: &Berksfile,
        cookbooks: &[CookbookInfo],
        git_revisions: &BTreeMap<String, String>,
    ) -> Self {
        let dependencies = berksfile
            .dependencies
            .iter()
            .map(|d| LockDependency {
                name: d.name.clone(),
                constraint: match d.location {
                    Location::Supermarket => lock_constraint(&d.constraint),
                    _ => None,
                },
                location: lock_location(d, git_revisions),
            })
            .collect();
        let graph = cookbooks
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    GraphItem {
                        name: c.name.clone(),
                        version: c.version,
                        dependencies: c
                            .dependencies
                            .iter()
                            .map(|(n, c)| (n.clone(), Some(c.clone())))
                            .collect(),
                    },
                )
            })
            .collect();
        Self {
            dependencies,
            graph,
            from_berkshelf2: false,
        }
    }

    /// The locked version of `name`, if it is in `GRAPH`.
    pub fn locked_version(&self, name: &str) -> Option<Version> {
        self.graph.get(name).map(|g| g.version)
    }

    /// Applies Berkshelf's staleness rules against `berksfile`:
    ///
    /// 1. unlock what `update` names (all, or the named cookbooks);
    /// 2. drop dependencies the Berksfile no longer has and `GRAPH` entries nothing needs;
    /// 3. a Berksfile constraint that rejects its locked version is an [`LockfileError::Outdated`]
    ///    error unless that cookbook is being updated;
    /// 4. decide whether the remaining lock can be installed verbatim (trusted): every
    ///    dependency locked with the same location, every constraint (also transitive ones)
    ///    accepting its locked version.
    pub fn plan(&self, berksfile: &Berksfile, update: &Update) -> Result<LockPlan, LockfileError> {
        self.plan_with_local(berksfile, update, &[])
    }

    /// [`Lockfile::plan`] that also checks path/git cookbooks read from disk: the lock is not
    /// trusted when such a cookbook's version or metadata dependencies no longer match its
    /// `GRAPH` entry (an edited `metadata.rb` of a path dependency).
    pub fn plan_with_local(
        &self,
        berksfile: &Berksfile,
        update: &Update,
        local: &[CookbookInfo],
    ) -> Result<LockPlan, LockfileError> {
        let mut lock = self.clone();
        match update {
            Update::None => {}
            Update::All => lock.graph.clear(),
            Update::Only(names) => {
                for n in names {
                    if lock.graph.remove(n).is_none()
                        && !lock.dependencies.iter().any(|d| &d.name == n)
                    {
                        return Err(LockfileError::UnknownCookbook { name: n.clone() });
                    }
                }
            }
        }
        let wanted: BTreeSet<&str> = berksfile
            .dependencies
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        let removed: Vec<String> = lock
            .dependencies
            .iter()
            .filter(|d| !wanted.contains(d.name.as_str()))
            .map(|d| d.name.clone())
            .collect();
        lock.dependencies
            .retain(|d| wanted.contains(d.name.as_str()));
        // Keep only GRAPH nodes reachable from the Berksfile's dependencies.
        let mut reachable = BTreeSet::new();
        let mut stack: Vec<String> = wanted.iter().map(|s| (*s).to_owned()).collect();
        while let Some(n) = stack.pop() {
            if let Some(item) = lock.graph.get(&n)
                && reachable.insert(n)
            {
                stack.extend(item.dependencies.keys().cloned());
            }
        }
        // A Berkshelf 2 lock recorded no edges, so reachability would drop every transitive
        // cookbook and with it its locked version; keep them all as pins instead (resolution
        // leaves out whatever nothing needs).
        if !lock.from_berkshelf2 {
            lock.graph.retain(|n, _| reachable.contains(n));
        }

        for d in &berksfile.dependencies {
            if let (Location::Supermarket, Some(item)) = (&d.location, lock.graph.get(&d.name))
                && !d.constraint.matches(&item.version)
            {
                return Err(LockfileError::Outdated {
                    name: d.name.clone(),
                    constraint: d.constraint.to_string(),
                    locked: item.version,
                });
            }
        }
        let added: Vec<String> = berksfile
            .dependencies
            .iter()
            .filter(|d| !self.dependencies.iter().any(|l| l.name == d.name))
            .map(|d| d.name.clone())
            .collect();
        let untrusted_reason = lock
            .untrusted_reason(berksfile)
            .or_else(|| lock.local_mismatch(local));
        let located: BTreeSet<&str> = berksfile
            .dependencies
            .iter()
            .filter(|d| !matches!(d.location, Location::Supermarket))
            .map(|d| d.name.as_str())
            .chain(local.iter().map(|c| c.name.as_str()))
            .collect();
        let pins = lock
            .graph
            .values()
            .filter(|g| !located.contains(g.name.as_str()))
            .map(|g| (g.name.clone(), g.version))
            .collect();
        Ok(LockPlan {
            lock,
            untrusted_reason,
            pins,
            added,
            removed,
        })
    }

    fn local_mismatch(&self, local: &[CookbookInfo]) -> Option<String> {
        for cb in local {
            let Some(item) = self.graph.get(&cb.name) else {
                continue;
            };
            if item.version != cb.version {
                return Some(format!(
                    "{} is {} on disk but {} in the lock file",
                    cb.name, cb.version, item.version
                ));
            }
            if let Some((dep, _)) = cb
                .dependencies
                .iter()
                .find(|(d, _)| !item.dependencies.contains_key(d))
            {
                return Some(format!(
                    "{} now depends on {dep}, which the lock file does not record",
                    cb.name
                ));
            }
            // Stricter than Berkshelf (which only compares names): a changed constraint on
            // disk could reject the locked version, and uploading that set would break.
            if let Some((dep, c)) = cb.dependencies.iter().find(|(d, c)| {
                item.dependencies
                    .get(d)
                    .is_some_and(|locked| locked.as_deref().is_some_and(|l| l != c))
            }) {
                return Some(format!(
                    "{} now depends on {dep} ({c}), the lock file records another constraint",
                    cb.name
                ));
            }
        }
        None
    }

    fn untrusted_reason(&self, berksfile: &Berksfile) -> Option<String> {
        if self.from_berkshelf2 {
            return Some(
                "the lock was converted from Berkshelf 2's format, which records no cookbook dependencies"
                    .to_owned(),
            );
        }
        for d in &berksfile.dependencies {
            let Some(locked) = self.dependencies.iter().find(|l| l.name == d.name) else {
                return Some(format!("{} is not in the lock file's DEPENDENCIES", d.name));
            };
            let Some(item) = self.graph.get(&d.name) else {
                return Some(format!("{} is not in the lock file's GRAPH", d.name));
            };
            if !location_matches(&d.location, &locked.location) {
                return Some(format!("the location of {} changed", d.name));
            }
            if !d.constraint.matches(&item.version) {
                return Some(format!(
                    "{} ({}) does not accept the locked {}",
                    d.name, d.constraint, item.version
                ));
            }
        }
        for item in self.graph.values() {
            for (dep, c) in &item.dependencies {
                let Some(target) = self.graph.get(dep) else {
                    return Some(format!(
                        "{} depends on {dep}, which is not in the lock file's GRAPH",
                        item.name
                    ));
                };
                let c = c.as_deref().unwrap_or("");
                match Constraint::parse(c) {
                    Ok(c) if c.matches(&target.version) => {}
                    Ok(c) => {
                        return Some(format!(
                            "{} needs {dep} ({c}) but {} is locked",
                            item.name, target.version
                        ));
                    }
                    Err(e) => return Some(format!("{}: {e}", item.name)),
                }
            }
        }
        None
    }
}

fn location_matches(loc: &Location, locked: &LockLocation) -> bool {
    match (loc, locked) {
        (Location::Supermarket, LockLocation::Default) => true,
        (
            Location::Path { path, metadata },
            LockLocation::Path {
                path: p,
                metadata: m,
            },
        ) => path_string(path) == *p && metadata == m,
        (
            Location::Git(g),
            LockLocation::Git {
                url,
                reference,
                branch,
                tag,
                rel,
                ..
            },
        ) => {
            g.url == *url
                && g.branch == *branch
                && g.tag == *tag
                && g.rel == *rel
                && g.reference.as_deref().map(short_ref) == reference.as_deref()
        }
        _ => false,
    }
}

fn short_ref(r: &str) -> &str {
    r.get(..7).unwrap_or(r)
}

fn path_string(p: &Path) -> String {
    let s = p.to_string_lossy().into_owned();
    if s.is_empty() { ".".to_owned() } else { s }
}

fn lock_location(d: &Dependency, git_revisions: &BTreeMap<String, String>) -> LockLocation {
    match &d.location {
        Location::Supermarket => LockLocation::Default,
        Location::Path { path, metadata } => LockLocation::Path {
            path: path_string(path),
            metadata: *metadata,
        },
        Location::Git(GitLocation {
            url,
            branch,
            tag,
            reference,
            rel,
        }) => LockLocation::Git {
            url: url.clone(),
            revision: git_revisions.get(&d.name).cloned().unwrap_or_default(),
            reference: reference.as_deref().map(|r| short_ref(r).to_owned()),
            branch: branch.clone(),
            tag: tag.clone(),
            rel: rel.clone(),
        },
    }
}

/// The `DEPENDENCIES` entry `p`, or `None` for a git entry without a revision (its name is
/// added to `unrevisioned`); ignored options and dropped entries add to `warnings`.
fn finish_dependency(
    p: Pending,
    path: &Path,
    warnings: &mut Vec<String>,
    unrevisioned: &mut Vec<String>,
) -> Result<Option<LockDependency>, LockfileError> {
    let err = |line: usize, message: String| LockfileError::Parse {
        path: path.to_owned(),
        line,
        message,
    };
    let mut opts: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    for (k, v, line) in &p.opts {
        if opts.insert(k.as_str(), (v.as_str(), *line)).is_some() {
            return Err(err(
                *line,
                format!("option {k:?} given twice for {}", p.name),
            ));
        }
    }
    let take = |opts: &mut BTreeMap<&str, (&str, usize)>, k: &str| {
        opts.remove(k).map(|(v, _)| v.to_owned())
    };
    let location = if let Some(path_v) = take(&mut opts, "path") {
        let metadata = match opts.remove("metadata") {
            None => false,
            Some(("true", _)) => true,
            Some((v, line)) => {
                return Err(err(line, format!("expected 'metadata: true', found {v:?}")));
            }
        };
        Some(LockLocation::Path {
            path: path_v,
            metadata,
        })
    } else if let Some(url) = take(&mut opts, "git") {
        let reference = take(&mut opts, "ref");
        let branch = take(&mut opts, "branch");
        let tag = take(&mut opts, "tag");
        let rel = take(&mut opts, "rel");
        match take(&mut opts, "revision") {
            Some(revision) => Some(LockLocation::Git {
                url,
                revision,
                reference,
                branch,
                tag,
                rel,
            }),
            None => {
                warnings.push(format!(
                    "{}:{}: git dependency {} has no locked revision (an old Berkshelf wrote it); \
                     it is resolved and fetched again, as Berkshelf fetches its branch again",
                    path.display(),
                    p.line,
                    p.name
                ));
                unrevisioned.push(p.name.clone());
                None
            }
        }
    } else {
        Some(LockLocation::Default)
    };
    for (k, (_, line)) in opts {
        warnings.push(format!(
            "{}:{line}: option {k:?} of {} ignored, as Berkshelf ignores it (expected \
             path/metadata or git/revision/ref/branch/tag/rel)",
            path.display(),
            p.name
        ));
    }
    Ok(location.map(|location| LockDependency {
        name: p.name,
        constraint: p.constraint,
        location,
    }))
}

/// Reading Berkshelf 2 JSON locks (see [`Lockfile::parse_with_warnings`]).
mod berkshelf2 {
    use std::collections::BTreeMap;
    use std::path::Path;

    use chef_api::version::{Constraint, Version};
    use serde::Deserialize;

    use super::{GraphItem, LockDependency, LockLocation, Lockfile, LockfileError};

    /// The whole file. Unknown keys are ignored.
    #[derive(Deserialize)]
    struct Json {
        /// Berkshelf 2's name for the entries.
        sources: Option<BTreeMap<String, Entry>>,
        /// Berkshelf 3 betas' name for them.
        dependencies: Option<BTreeMap<String, Entry>>,
    }

    /// One cookbook as Berkshelf 2 recorded it. Unknown keys (`site`, ...) are ignored.
    #[derive(Deserialize)]
    struct Entry {
        locked_version: Option<String>,
        constraint: Option<String>,
        path: Option<String>,
        git: Option<String>,
        /// Berkshelf 2 stored the resolved commit here.
        #[serde(rename = "ref")]
        reference: Option<String>,
        revision: Option<String>,
        branch: Option<String>,
        tag: Option<String>,
        rel: Option<String>,
    }

    fn is_commit(s: &str) -> bool {
        s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// The 1-based line of the entry `name` (its key followed by an object), for errors about
    /// values serde_json read fine; line 1 if it cannot be found.
    fn line_of_entry(text: &str, name: &str) -> usize {
        let quoted = serde_json::Value::String(name.to_owned()).to_string();
        let mut from = 0;
        while let Some(i) = text[from..].find(&quoted) {
            let at = from + i;
            let rest = text[at + quoted.len()..].trim_start();
            if rest
                .strip_prefix(':')
                .is_some_and(|r| r.trim_start().starts_with('{'))
            {
                return 1 + text[..at].matches('\n').count();
            }
            from = at + quoted.len();
        }
        1
    }

    /// serde_json's message without the position it appends (the position is reported apart).
    fn message_of(e: &serde_json::Error) -> String {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        match full.strip_suffix(&suffix) {
            Some(m) => format!("{m} (column {})", e.column()),
            None => full,
        }
    }

    pub(super) fn convert(
        text: &str,
        path: &Path,
    ) -> Result<(Lockfile, Vec<String>), LockfileError> {
        let err = |line: usize, message: String| LockfileError::Parse {
            path: path.to_owned(),
            line,
            message,
        };
        chef_api::json::check_depth(text.as_bytes(), chef_api::json::MAX_DEPTH)
            .map_err(|e| err(e.line, e.to_string()))?;
        let json: Json = serde_json::from_str(text).map_err(|e| {
            err(
                e.line().max(1),
                format!(
                    "this Berkshelf 2 JSON lock file is not readable: {}; expected {{\"sources\": {{\"NAME\": {{\"locked_version\": \"1.2.3\", ...}}, ...}}}}",
                    message_of(&e)
                ),
            )
        })?;
        let entries = match (json.sources, json.dependencies) {
            (Some(_), Some(_)) => {
                return Err(err(
                    1,
                    "expected \"sources\" (Berkshelf 2) or \"dependencies\" (Berkshelf 3 beta), not both".to_owned(),
                ));
            }
            (Some(e), None) | (None, Some(e)) => e,
            (None, None) => BTreeMap::new(),
        };
        let mut lock = Lockfile {
            from_berkshelf2: true,
            ..Lockfile::default()
        };
        let mut unrevisioned = Vec::new();
        for (name, entry) in entries {
            let bad = |what: String| err(line_of_entry(text, &name), format!("{name}: {what}"));
            let location = match (entry.path, entry.git) {
                (Some(_), Some(_)) => {
                    return Err(bad("expected \"path\" or \"git\", not both".to_owned()));
                }
                (Some(path), None) => LockLocation::Path {
                    path,
                    metadata: false,
                },
                (None, Some(url)) => {
                    let Some(revision) =
                        entry.revision.or(entry.reference).filter(|r| is_commit(r))
                    else {
                        unrevisioned.push(name);
                        continue;
                    };
                    LockLocation::Git {
                        url,
                        reference: Some(super::short_ref(&revision).to_owned()),
                        revision,
                        branch: entry.branch,
                        tag: entry.tag,
                        rel: entry.rel,
                    }
                }
                (None, None) => LockLocation::Default,
            };
            let constraint = match (&location, entry.constraint) {
                (LockLocation::Default, Some(c)) => {
                    let parsed = Constraint::parse(&c).map_err(|e| {
                        bad(format!(
                            "expected \"constraint\" to be a version constraint such as \"~> 1.0\": {e}"
                        ))
                    })?;
                    super::lock_constraint(&parsed)
                }
                _ => None,
            };
            if let Some(v) = entry.locked_version {
                let version = Version::parse(&v).map_err(|e| {
                    bad(format!(
                        "expected \"locked_version\" to be a version such as \"1.2.3\": {e}"
                    ))
                })?;
                lock.graph.insert(
                    name.clone(),
                    GraphItem {
                        name: name.clone(),
                        version,
                        dependencies: BTreeMap::new(),
                    },
                );
            }
            lock.dependencies.push(LockDependency {
                name,
                constraint,
                location,
            });
        }
        let mut warning = format!(
            "{}: converted from the Berkshelf 2 lock format (JSON); it will be rewritten in the current format",
            path.display()
        );
        if !unrevisioned.is_empty() {
            warning.push_str(&format!(
                "; {} had no locked git revision and will be resolved again",
                unrevisioned.join(", ")
            ));
        }
        Ok((lock, vec![warning]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Constraint {
        Constraint::parse(s).unwrap()
    }

    #[test]
    fn lock_constraints_are_written_like_semverse() {
        assert_eq!(lock_constraint(&c("~> 7.0")).as_deref(), Some("~> 7.0"));
        assert_eq!(lock_constraint(&c("1.0")).as_deref(), Some("= 1.0.0"));
        assert_eq!(lock_constraint(&c(">= 1.2")).as_deref(), Some(">= 1.2.0"));
        assert_eq!(lock_constraint(&c(">= 0.0.0")), None);
        assert_eq!(lock_constraint(&c("")), None);
    }

    #[test]
    fn errors_name_file_line_and_expectation() {
        let p = Path::new("Berksfile.lock");
        let e = Lockfile::parse("DEPENDENCIES\n  apt (~> 1.0\n", p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Berksfile.lock:2: expected ')' at the end of \"apt (~> 1.0\""
        );
        let e = Lockfile::parse("GRAPH\n  apt\n", p).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Berksfile.lock:2: expected 'NAME (VERSION)'")
        );
        let e = Lockfile::parse("apt (1.0.0)\n", p).unwrap_err();
        assert!(
            e.to_string()
                .contains(":1: expected 'DEPENDENCIES' or 'GRAPH'")
        );
        let (lock, warnings) =
            Lockfile::parse_with_warnings("DEPENDENCIES\n  x\n    path: .\n    colour: red\n", p)
                .unwrap();
        assert_eq!(
            lock.dependencies[0].location,
            LockLocation::Path {
                path: ".".into(),
                metadata: false
            }
        );
        assert_eq!(
            warnings,
            [
                "Berksfile.lock:4: option \"colour\" of x ignored, as Berkshelf ignores it (expected path/metadata or git/revision/ref/branch/tag/rel)"
            ]
        );
        let e = Lockfile::parse("GRAPH\n  a (1.0.0)\n   b (1.0)\n", p).unwrap_err();
        assert!(
            e.to_string()
                .contains(":3: expected an entry indented by two spaces")
        );
    }
}
