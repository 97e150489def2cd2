//! Several universes in priority order: the Berksfile's `source` lines, first = highest.

use std::collections::BTreeMap;
use std::fmt;

use chef_api::universe::{Universe, UniverseEntry};
use chef_api::version::Version;

/// Several universes in priority order (the Berksfile's `source` lines, first = highest).
#[derive(Debug, Clone, Default)]
pub struct Universes {
    /// The universes, highest priority first.
    pub sources: Vec<Universe>,
}

impl Universes {
    /// Universes from per-source results in priority order: a failed source contributes
    /// nothing (Berkshelf warns and goes on) and its error is logged and returned beside.
    pub fn collect<E: fmt::Display>(
        results: impl IntoIterator<Item = std::result::Result<Universe, E>>,
    ) -> (Self, Vec<E>) {
        let mut out = Self::default();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(u) => out.sources.push(u),
                Err(e) => {
                    tracing::warn!(error = %e, "error retrieving universe from source");
                    errors.push(e);
                }
            }
        }
        (out, errors)
    }

    /// The first source (in order) that lists `name` at `version`, with its entry.
    pub fn find(&self, name: &str, version: &Version) -> Option<(&Universe, &UniverseEntry)> {
        self.sources
            .iter()
            .find_map(|u| u.get(name, version).map(|e| (u, e)))
    }

    /// Every version of every cookbook across all sources; for a version listed by several
    /// sources the first source's dependency list is used. Versions from all sources compete.
    pub fn merged(&self) -> BTreeMap<String, BTreeMap<Version, BTreeMap<String, String>>> {
        let mut out: BTreeMap<String, BTreeMap<Version, BTreeMap<String, String>>> =
            BTreeMap::new();
        for u in &self.sources {
            for (name, versions) in &u.cookbooks {
                let slot = out.entry(name.clone()).or_default();
                for (v, e) in versions {
                    slot.entry(*v).or_insert_with(|| e.dependencies.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn src() -> Url {
        Url::parse("https://supermarket.example/").unwrap()
    }

    #[test]
    fn first_source_wins_for_dependencies_but_all_versions_compete() {
        let a = Universe::parse(
            &src(),
            br#"{"x": {"1.0.0": {"location_type": "opscode", "location_path": "p", "dependencies": {"y": "~> 1.0"}}}}"#,
        )
        .unwrap();
        let b_src = Url::parse("https://other.example").unwrap();
        let b = Universe::parse(
            &b_src,
            br#"{"x": {"1.0.0": {"location_type": "opscode", "location_path": "p", "dependencies": {}},
                      "2.0.0": {"location_type": "opscode", "location_path": "p", "dependencies": {}}}}"#,
        )
        .unwrap();
        let all = Universes {
            sources: vec![a, b],
        };
        let merged = all.merged();
        assert_eq!(merged["x"].len(), 2);
        assert_eq!(merged["x"][&Version::new(1, 0, 0)]["y"], "~> 1.0");
        let (u, _) = all.find("x", &Version::new(2, 0, 0)).unwrap();
        assert_eq!(u.source.host_str(), Some("other.example"));
        let (u, _) = all.find("x", &Version::new(1, 0, 0)).unwrap();
        assert_eq!(u.source.host_str(), Some("supermarket.example"));
    }
}
