//! Dependency resolution for Berkshelf: PubGrub over Chef version constraints.
//!
//! * Candidates come from a [`Catalog`]: every source's universe (all sources' versions
//!   compete; for a version listed twice the first source's dependencies are used), with
//!   path/git cookbooks' own metadata replacing whatever the sources say about that name.
//! * Newest satisfying version first. Versions locked in `Berksfile.lock` are pinned (`= v`),
//!   as Berkshelf pins them: a lock that no longer fits fails with an explanation that names
//!   the lock, and the user updates those cookbooks instead of having them move silently.
//! * When there is no solution the error explains it in words naming cookbooks and
//!   constraints as they were written, e.g. "the Berksfile requires app (~> 1.0)".

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::ops::Bound;

use super::universes::Universes;
use chef_api::version::{Constraint, Version};
use pubgrub::{
    DefaultStringReporter, DependencyConstraints, DependencyProvider, DerivationTree, Derived,
    External, Map, PackageResolutionStatistics, PubGrubError, Ranges, ReportFormatter, Reporter,
    Term,
};

use super::CookbookInfo;

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No set of versions satisfies every constraint; `explanation` says why in words.
    #[error("{explanation}\nUnable to find a solution for demands: {demands}")]
    NoSolution {
        /// PubGrub's derivation, rendered with cookbook names and constraints.
        explanation: String,
        /// The demands, Berkshelf style: `a (>= 0.0.0), b (= 1.2.3)`.
        demands: String,
    },
    /// A demand's constraint could not be parsed.
    #[error("invalid constraint for {name}: {reason}")]
    InvalidDemand {
        /// The cookbook.
        name: String,
        /// The parse error.
        reason: String,
    },
}

/// Every known version of every cookbook with its dependencies (constraint text as written).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    cookbooks: HashMap<String, BTreeMap<Version, Vec<(String, String)>>>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// All versions from the universes (see [`Universes::merged`] for the priority rule).
    pub fn from_universes(universes: &Universes) -> Self {
        let mut c = Self::new();
        for u in &universes.sources {
            for (name, versions) in &u.cookbooks {
                let slot = c.cookbooks.entry(name.clone()).or_default();
                for (v, e) in versions {
                    slot.entry(*v).or_insert_with(|| {
                        e.dependencies
                            .iter()
                            .map(|(d, c)| (d.clone(), c.clone()))
                            .collect()
                    });
                }
            }
        }
        c
    }

    /// Adds one version (keeps an existing entry for the same version: first wins).
    pub fn add(&mut self, name: &str, version: Version, dependencies: Vec<(String, String)>) {
        self.cookbooks
            .entry(name.to_owned())
            .or_default()
            .entry(version)
            .or_insert(dependencies);
    }

    /// A path/git cookbook: its own metadata replaces every other version of that name.
    pub fn set_local(&mut self, cookbook: &CookbookInfo) {
        let mut only = BTreeMap::new();
        only.insert(cookbook.version, cookbook.dependencies.clone());
        self.cookbooks.insert(cookbook.name.clone(), only);
    }

    /// The versions known for `name`.
    pub fn versions(&self, name: &str) -> impl Iterator<Item = &Version> {
        self.cookbooks.get(name).into_iter().flat_map(|m| m.keys())
    }

    /// Dependencies of `name` at `version`, as written.
    pub fn dependencies(&self, name: &str, version: &Version) -> Option<&[(String, String)]> {
        self.cookbooks.get(name)?.get(version).map(Vec::as_slice)
    }

    /// Number of cookbook names.
    pub fn len(&self) -> usize {
        self.cookbooks.len()
    }

    /// Is the catalog empty?
    pub fn is_empty(&self) -> bool {
        self.cookbooks.is_empty()
    }
}

/// A resolution: cookbook name -> chosen version, sorted by name.
pub type Resolution = BTreeMap<String, Version>;

/// Resolves `demands` (the Berksfile's dependencies) against `catalog`, newest satisfying
/// version first, with every cookbook in `locked` (the lock's `GRAPH`, see
/// [`LockPlan::pins`](super::lockfile::LockPlan::pins)) pinned to its locked version, as
/// Berkshelf's `install` does. The resolution holds only what the demands need: a pinned
/// cookbook nothing depends on any more is left out.
pub fn resolve(
    catalog: &Catalog,
    demands: &[(String, Constraint)],
    locked: &BTreeMap<String, Version>,
) -> Result<Resolution, ResolveError> {
    let provider = Provider {
        catalog,
        demands,
        locked,
        written: RefCell::new(HashMap::new()),
    };
    match pubgrub::resolve(&provider, Pkg::Root, Version::new(0, 0, 0)) {
        Ok(sel) => {
            let chosen: Resolution = sel
                .into_iter()
                .filter_map(|(p, v)| match p {
                    Pkg::Root => None,
                    Pkg::Cookbook(n) => Some((n, v)),
                })
                .collect();
            Ok(needed(catalog, demands, chosen))
        }
        Err(PubGrubError::NoSolution(mut tree)) => {
            // Gaps between real versions ("no version in > 2.0.0, < 3.0.0") are noise.
            tree.collapse_no_versions();
            let words = Words {
                provider: &provider,
            };
            let explanation = match &tree {
                // Collapsing can leave a lone demand whose cookbook has no matching version.
                DerivationTree::External(ext @ External::FromDependencyOf(_, _, dep, set)) => {
                    format!(
                        "{}, but {}.",
                        capitalize(&words.format_external(ext)),
                        words.format_external(&External::NoVersions(dep.clone(), set.clone()))
                    )
                }
                _ => DefaultStringReporter::report_with_formatter(&tree, &words),
            };
            let explanation = if explanation.contains(LOCKED_WORDS) {
                format!(
                    "{explanation}\nVersions locked in Berksfile.lock stay as they are unless updated: update the cookbooks named above (`berks update NAME`; chef-sync: `sync --update NAME`, Python `sync(update=[NAME])`)."
                )
            } else {
                explanation
            };
            Err(ResolveError::NoSolution {
                explanation,
                demands: demands_text(demands),
            })
        }
        Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => match source {},
    }
}

/// How a pin from the lock is worded in explanations.
const LOCKED_WORDS: &str = "Berksfile.lock locks";

/// The part of `chosen` reachable from the demands through the chosen versions' dependencies.
fn needed(catalog: &Catalog, demands: &[(String, Constraint)], chosen: Resolution) -> Resolution {
    let mut keep = BTreeMap::new();
    let mut stack: Vec<&str> = demands.iter().map(|(n, _)| n.as_str()).collect();
    while let Some(name) = stack.pop() {
        let Some(v) = chosen.get(name) else {
            continue;
        };
        if keep.insert(name.to_owned(), *v).is_some() {
            continue;
        }
        for (dep, _) in catalog.dependencies(name, v).unwrap_or_default() {
            stack.push(dep);
        }
    }
    keep
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn demands_text(demands: &[(String, Constraint)]) -> String {
    demands
        .iter()
        .map(|(n, c)| format!("{n} ({c})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A package in the PubGrub sense: the Berksfile itself, or a cookbook.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Pkg {
    Root,
    Cookbook(String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the Berksfile"),
            Pkg::Cookbook(n) => f.write_str(n),
        }
    }
}

type Vs = Ranges<Version>;

fn to_ranges(c: &Constraint) -> Vs {
    let conv = |b: Option<chef_api::version::Bound>| match b {
        None => Bound::Unbounded,
        Some(b) if b.inclusive => Bound::Included(b.version),
        Some(b) => Bound::Excluded(b.version),
    };
    let (lo, hi) = c.bounds();
    Ranges::from_range_bounds((conv(lo), conv(hi)))
}

struct Provider<'a> {
    catalog: &'a Catalog,
    demands: &'a [(String, Constraint)],
    locked: &'a BTreeMap<String, Version>,
    /// (dependency name, range) -> the constraint as written, for error messages.
    written: RefCell<HashMap<(String, Vs), String>>,
}

impl Provider<'_> {
    fn constraint_set(&self, name: &str, raw: &str) -> Result<Vs, String> {
        let c = Constraint::parse(raw).map_err(|e| e.to_string())?;
        let r = to_ranges(&c);
        self.written
            .borrow_mut()
            .entry((name.to_owned(), r.clone()))
            .or_insert_with(|| c.to_string());
        Ok(r)
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Vs;
    type M = String;
    type Priority = (u32, Reverse<usize>);
    type Err = Infallible;

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Vs,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let Pkg::Cookbook(name) = package else {
            return (u32::MAX, Reverse(0));
        };
        let candidates = self
            .catalog
            .versions(name)
            .filter(|v| range.contains(v))
            .count();
        (stats.conflict_count(), Reverse(candidates))
    }

    fn choose_version(&self, package: &Pkg, range: &Vs) -> Result<Option<Version>, Infallible> {
        let Pkg::Cookbook(name) = package else {
            return Ok(Some(Version::new(0, 0, 0)));
        };
        Ok(self
            .catalog
            .cookbooks
            .get(name)
            .and_then(|m| m.keys().rev().find(|v| range.contains(*v)).copied()))
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<pubgrub::Dependencies<Pkg, Vs, String>, Infallible> {
        let mut out: Vec<(Pkg, Vs)> = Vec::new();
        let mut add = |name: &str, set: Vs| {
            let key = Pkg::Cookbook(name.to_owned());
            match out.iter_mut().find(|(p, _)| *p == key) {
                Some((_, prev)) => *prev = prev.intersection(&set),
                None => out.push((key, set)),
            }
        };
        match package {
            Pkg::Root => {
                for (name, c) in self.demands {
                    let r = to_ranges(c);
                    self.written
                        .borrow_mut()
                        .entry((name.clone(), r.clone()))
                        .or_insert_with(|| c.to_string());
                    add(name, r);
                }
                for (name, v) in self.locked {
                    add(name, Ranges::singleton(*v));
                }
            }
            Pkg::Cookbook(name) => {
                let Some(deps) = self.catalog.dependencies(name, version) else {
                    return Ok(pubgrub::Dependencies::Unavailable(
                        "it is not in any source".to_owned(),
                    ));
                };
                for (dep, raw) in deps {
                    if dep == name {
                        continue; // Supermarket strips self-dependencies; so do we.
                    }
                    match self.constraint_set(dep, raw) {
                        Ok(r) => add(dep, r),
                        Err(e) => {
                            return Ok(pubgrub::Dependencies::Unavailable(format!(
                                "its metadata has an invalid constraint on {dep}: {e}"
                            )));
                        }
                    }
                }
            }
        }
        Ok(pubgrub::Dependencies::Available(
            out.into_iter().collect::<DependencyConstraints<Pkg, Vs>>(),
        ))
    }
}

/// Renders PubGrub's derivation tree in Berkshelf's vocabulary.
struct Words<'a, 'b> {
    provider: &'a Provider<'b>,
}

impl Words<'_, '_> {
    /// A dependency's range, as the constraint was written when we know it.
    fn constraint(&self, p: &Pkg, set: &Vs) -> String {
        if let Pkg::Cookbook(n) = p
            && let Some(w) = self
                .provider
                .written
                .borrow()
                .get(&(n.clone(), set.clone()))
        {
            return w.clone();
        }
        chef_ranges(set)
    }

    /// A set of a package's own versions ("app 1.0.0", "app >= 1.0.0, < 2.0.0").
    fn versions(&self, p: &Pkg, set: &Vs) -> String {
        match p {
            Pkg::Root => p.to_string(),
            Pkg::Cookbook(name) => {
                let known: Vec<String> = self
                    .provider
                    .catalog
                    .versions(name)
                    .filter(|v| set.contains(*v))
                    .map(ToString::to_string)
                    .collect();
                match known.len() {
                    1..=3 => format!("{p} {}", known.join(" or ")),
                    _ if set == &Ranges::full() => format!("every version of {p}"),
                    _ => format!("{p} {}", chef_ranges(set)),
                }
            }
        }
    }

    fn term(&self, p: &Pkg, t: &Term<Vs>) -> String {
        match t {
            Term::Positive(r) => self.versions(p, r),
            Term::Negative(r) => format!("{p} outside {}", chef_ranges(r)),
        }
    }
}

/// A range in Chef's notation: `= 1.0.0`, `>= 1.0.0, < 2.0.0`, `any version`.
fn chef_ranges(set: &Vs) -> String {
    if set == &Ranges::full() {
        return "any version".to_owned();
    }
    if set.is_empty() {
        return "no version".to_owned();
    }
    set.iter()
        .map(|(lo, hi)| {
            if let (Bound::Included(a), Bound::Included(b)) = (lo, hi)
                && a == b
            {
                return format!("= {a}");
            }
            let lo = match lo {
                Bound::Included(v) => Some(format!(">= {v}")),
                Bound::Excluded(v) => Some(format!("> {v}")),
                Bound::Unbounded => None,
            };
            let hi_s = match hi {
                Bound::Included(v) => Some(format!("<= {v}")),
                Bound::Excluded(v) => Some(format!("< {v}")),
                Bound::Unbounded => None,
            };
            match (lo, hi_s) {
                (Some(l), Some(h)) => format!("{l}, {h}"),
                (Some(l), None) => l,
                (None, Some(h)) => h,
                (None, None) => "any version".to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

impl ReportFormatter<Pkg, Vs, String> for Words<'_, '_> {
    type Output = String;

    fn format_external(&self, external: &External<Pkg, Vs, String>) -> String {
        match external {
            External::NotRoot(p, _) => format!("we are resolving {p}"),
            External::NoVersions(p, set) => {
                let Pkg::Cookbook(name) = p else {
                    return format!("{p} is unavailable");
                };
                let known: Vec<&Version> = self.provider.catalog.versions(name).collect();
                if known.is_empty() {
                    format!("cookbook {name} is not in any source")
                } else {
                    let newest: Vec<String> = known
                        .iter()
                        .rev()
                        .take(5)
                        .map(ToString::to_string)
                        .collect();
                    format!(
                        "no version of {name} matches {} (newest available: {})",
                        chef_ranges(set),
                        newest.join(", ")
                    )
                }
            }
            External::FromDependencyOf(p, set_p, dep, set_dep) => match (p, dep) {
                (Pkg::Root, Pkg::Cookbook(name))
                    if set_dep.as_singleton().is_some()
                        && self.provider.locked.get(name) == set_dep.as_singleton() =>
                {
                    format!("{LOCKED_WORDS} {name} at {}", self.provider.locked[name])
                }
                (Pkg::Root, _) => format!(
                    "the Berksfile requires {dep} ({})",
                    self.constraint(dep, set_dep)
                ),
                _ => format!(
                    "{} depends on {dep} ({})",
                    self.versions(p, set_p),
                    self.constraint(dep, set_dep)
                ),
            },
            External::Custom(p, set, why) => {
                format!("{} cannot be used: {why}", self.versions(p, set))
            }
        }
    }

    fn format_terms(&self, terms: &Map<Pkg, Term<Vs>>) -> String {
        let terms: Vec<_> = terms.iter().collect();
        match terms.as_slice() {
            [] => "the Berksfile cannot be satisfied".to_owned(),
            [(Pkg::Root, Term::Positive(_))] => "the Berksfile cannot be satisfied".to_owned(),
            [(p, Term::Positive(r))] => format!("{} cannot be used", self.versions(p, r)),
            [(p, Term::Negative(r))] => {
                format!("{p} ({}) is required", self.constraint(p, r))
            }
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => self.format_external(
                &External::FromDependencyOf((*p1).clone(), r1.clone(), (*p2).clone(), r2.clone()),
            ),
            many => {
                let parts: Vec<String> = many.iter().map(|(p, t)| self.term(p, t)).collect();
                format!("{} cannot be used together", parts.join(" and "))
            }
        }
    }

    fn explain_both_external(
        &self,
        e1: &External<Pkg, Vs, String>,
        e2: &External<Pkg, Vs, String>,
        current: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(e1),
            self.format_external(e2),
            self.format_terms(current)
        )
    }

    fn explain_both_ref(
        &self,
        id1: usize,
        d1: &Derived<Pkg, Vs, String>,
        id2: usize,
        d2: &Derived<Pkg, Vs, String>,
        current: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "Because {} ({id1}) and {} ({id2}), {}.",
            self.format_terms(&d1.terms),
            self.format_terms(&d2.terms),
            self.format_terms(current)
        )
    }

    fn explain_ref_and_external(
        &self,
        id: usize,
        d: &Derived<Pkg, Vs, String>,
        e: &External<Pkg, Vs, String>,
        current: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "Because {} ({id}) and {}, {}.",
            self.format_terms(&d.terms),
            self.format_external(e),
            self.format_terms(current)
        )
    }

    fn and_explain_external(
        &self,
        e: &External<Pkg, Vs, String>,
        current: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(e),
            self.format_terms(current)
        )
    }

    fn and_explain_ref(
        &self,
        id: usize,
        d: &Derived<Pkg, Vs, String>,
        current: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "And because {} ({id}), {}.",
            self.format_terms(&d.terms),
            self.format_terms(current)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior: &External<Pkg, Vs, String>,
        e: &External<Pkg, Vs, String>,
        current: &Map<Pkg, Term<Vs>>,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior),
            self.format_external(e),
            self.format_terms(current)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn dep(n: &str, c: &str) -> (String, String) {
        (n.to_owned(), c.to_owned())
    }

    fn demand(n: &str, c: &str) -> (String, Constraint) {
        (n.to_owned(), Constraint::parse(c).unwrap())
    }

    fn catalog() -> Catalog {
        let mut c = Catalog::new();
        c.add("apt", v("1.0.0"), vec![]);
        c.add("apt", v("2.0.0"), vec![]);
        c.add("apt", v("2.5.0"), vec![]);
        c.add("app", v("1.0.0"), vec![dep("apt", "~> 2.0")]);
        c.add("web", v("1.0.0"), vec![dep("apt", "< 2.0")]);
        c
    }

    #[test]
    fn picks_newest_satisfying() {
        let r = resolve(&catalog(), &[demand("app", ">= 0.0.0")], &BTreeMap::new()).unwrap();
        assert_eq!(r["apt"], v("2.5.0"));
        assert_eq!(r["app"], v("1.0.0"));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn locked_versions_are_pinned_even_when_newer_ones_fit() {
        let mut locked = BTreeMap::new();
        locked.insert("apt".to_owned(), v("2.0.0"));
        let r = resolve(&catalog(), &[demand("app", ">= 0.0.0")], &locked).unwrap();
        assert_eq!(r["apt"], v("2.0.0"), "2.5.0 fits too, but the lock wins");
    }

    #[test]
    fn a_lock_that_no_longer_fits_fails_naming_the_lock() {
        let mut locked = BTreeMap::new();
        locked.insert("apt".to_owned(), v("1.0.0"));
        let err = resolve(&catalog(), &[demand("app", ">= 0.0.0")], &locked)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Berksfile.lock locks apt at 1.0.0"), "{err}");
        assert!(err.contains("app 1.0.0 depends on apt (~> 2.0)"), "{err}");
        assert!(err.contains("`sync --update NAME`"), "{err}");
    }

    #[test]
    fn pinned_cookbooks_nothing_needs_are_left_out() {
        let mut locked = BTreeMap::new();
        locked.insert("apt".to_owned(), v("2.0.0"));
        locked.insert("ntp".to_owned(), v("1.0.0"));
        let mut c = catalog();
        c.add("ntp", v("1.0.0"), vec![]);
        let r = resolve(&c, &[demand("app", ">= 0.0.0")], &locked).unwrap();
        assert_eq!(r.keys().collect::<Vec<_>>(), ["app", "apt"]);
    }

    #[test]
    fn local_cookbooks_override_the_universe() {
        let mut c = catalog();
        c.set_local(&CookbookInfo {
            name: "app".into(),
            version: v("9.9.9"),
            dependencies: vec![dep("apt", "= 1.0.0")],
        });
        let r = resolve(&c, &[demand("app", ">= 0.0.0")], &BTreeMap::new()).unwrap();
        assert_eq!(r["app"], v("9.9.9"));
        assert_eq!(r["apt"], v("1.0.0"));
    }

    #[test]
    fn conflicts_are_explained_with_written_constraints() {
        let err = resolve(
            &catalog(),
            &[demand("app", ">= 0.0.0"), demand("web", "~> 1.0")],
            &BTreeMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("app 1.0.0 depends on apt (~> 2.0)"), "{err}");
        assert!(err.contains("web 1.0.0 depends on apt (< 2.0)"), "{err}");
        assert!(
            err.ends_with("Unable to find a solution for demands: app (>= 0.0.0), web (~> 1.0)"),
            "{err}"
        );
    }

    #[test]
    fn missing_cookbooks_and_versions_are_named() {
        let err = resolve(&catalog(), &[demand("nope", ">= 1.0")], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cookbook nope is not in any source"), "{err}");
        let err = resolve(&catalog(), &[demand("apt", "~> 3.0")], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no version of apt matches >= 3.0.0, < 4.0.0 (newest available: 2.5.0, 2.0.0, 1.0.0)"),
            "{err}"
        );
    }
}
