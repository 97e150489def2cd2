//! Which default source a cookbook comes from when several offer it, as chef-cli decides for a
//! Policyfile (cli: policyfile_compiler.rb, `remote_artifacts_graph`, `best_source_for`,
//! `handle_conflicting_cookbooks`; exceptions.rb, `CookbookSourceConflict`). Unlike a
//! Berksfile, whose sources are merged version by version (first source wins), a Policyfile
//! takes each cookbook from exactly one source:
//!
//! * offered by one default source: that source;
//! * offered by several, and one source is `preferred_for` it: only that source's versions;
//! * offered by several with no preference: an error naming the cookbook and the sources, if
//!   the cookbook could be part of the solution (a demand, or a dependency of one in any
//!   source's universe, whatever the versions); otherwise it is dropped from every source.
//!
//! A cookbook the Policyfile fixes itself (`path:`, `git:`, an included policy's) is not
//! taken from the default sources at all and is left alone; so is one pinned by `chef update`
//! from the previous lock (it keeps the source order). A source `preferred_for` a cookbook it
//! does not offer makes chef-cli fail with a Ruby `NoMethodError` once the cookbook is needed;
//! here it is a [`SourceConflict::PreferredSourceLacks`] naming the cookbook and the sources.

use std::collections::{BTreeMap, BTreeSet};

use url::Url;

use super::dsl::DefaultSourceSpec;
use crate::berkshelf::universes::Universes;

/// A cookbook that no single default source can provide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceConflict {
    /// Cookbooks offered by more than one default source, none preferred for them. The
    /// message is chef-cli's (with the `preferred_for` block that would resolve it).
    #[error("{message}")]
    Unresolved {
        /// The cookbooks, sorted.
        cookbooks: Vec<String>,
        /// chef-cli's explanation, one paragraph per pair of sources.
        message: String,
        /// See [`SourceConflict::line`].
        line: u32,
    },
    /// A source is `preferred_for` a cookbook it does not offer, while others do.
    #[error(
        "cookbook '{cookbook}': the default source preferred for it, {preferred}, does not offer it (offered by {})",
        offered_by.join(", ")
    )]
    PreferredSourceLacks {
        /// The cookbook.
        cookbook: String,
        /// The preferred source (chef-cli's `desc`).
        preferred: String,
        /// The sources that offer it.
        offered_by: Vec<String>,
        /// See [`SourceConflict::line`].
        line: u32,
    },
}

impl SourceConflict {
    /// The `default_source` line the conflict is about: for an unresolved conflict the line
    /// of the later of the first two sources offering the first cookbook, for a lacking
    /// preferred source that source's line.
    pub fn line(&self) -> u32 {
        match self {
            Self::Unresolved { line, .. } | Self::PreferredSourceLacks { line, .. } => *line,
        }
    }
}

/// The Policyfile's default sources beside the URLs their universes were fetched from.
pub struct SourcePreferences<'a> {
    sources: &'a [DefaultSourceSpec],
    urls: &'a [Url],
}

impl<'a> SourcePreferences<'a> {
    /// `urls[i]` is the universe URL of `sources[i]`.
    pub fn new(sources: &'a [DefaultSourceSpec], urls: &'a [Url]) -> Self {
        debug_assert_eq!(sources.len(), urls.len());
        Self { sources, urls }
    }

    /// The first source preferred for `cookbook` (chef-cli's `preferred_source_for_cookbook`).
    fn preferred(&self, cookbook: &str) -> Option<usize> {
        self.sources
            .iter()
            .position(|s| s.preferred_for.iter().any(|n| n == cookbook))
    }

    fn desc_of_url(&self, url: &Url) -> String {
        self.urls
            .iter()
            .position(|u| u == url)
            .map_or_else(|| url.to_string(), |i| self.sources[i].source.desc())
    }

    /// Keeps each cookbook in one universe as chef-cli's compiler does. `demands` are the
    /// cookbooks the Policyfile asks for (run lists, `cookbook` lines, its local cookbooks and
    /// their dependencies); `left_alone` says whether a cookbook is fixed or pinned outside
    /// the default sources.
    ///
    /// # Errors
    /// [`SourceConflict`] for cookbooks several sources offer that could be in the solution.
    pub fn apply(
        &self,
        mut universes: Universes,
        demands: &BTreeSet<String>,
        left_alone: impl Fn(&str) -> bool,
    ) -> Result<Universes, SourceConflict> {
        let mut holders: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, u) in universes.sources.iter().enumerate() {
            for name in u.cookbooks.keys() {
                holders.entry(name.clone()).or_default().push(i);
            }
        }
        let possible = possible_dependencies(&universes, demands);
        let mut conflicting = Vec::new();
        for (name, held_by) in &holders {
            if held_by.len() < 2 || left_alone(name) {
                continue;
            }
            let keep = match self.preferred(name) {
                Some(p) => {
                    let url = &self.urls[p];
                    let kept = held_by
                        .iter()
                        .copied()
                        .find(|&i| universes.sources[i].source == *url);
                    if kept.is_none() && possible.contains(name) {
                        return Err(SourceConflict::PreferredSourceLacks {
                            cookbook: name.clone(),
                            preferred: self.sources[p].source.desc(),
                            line: self.sources[p].line,
                            offered_by: held_by
                                .iter()
                                .map(|&i| self.desc_of_url(&universes.sources[i].source))
                                .collect(),
                        });
                    }
                    kept
                }
                None => {
                    if possible.contains(name) {
                        conflicting.push(name.clone());
                    }
                    None
                }
            };
            for &i in held_by {
                if Some(i) != keep {
                    universes.sources[i].cookbooks.remove(name);
                }
            }
        }
        if conflicting.is_empty() {
            Ok(universes)
        } else {
            Err(self.unresolved(conflicting, &holders, &universes))
        }
    }

    /// After the solve: a cookbook taken from one source while another source is preferred
    /// for it (the preferred source lacks it; chef-cli fails in `best_source_for`).
    ///
    /// # Errors
    /// [`SourceConflict::PreferredSourceLacks`].
    pub fn check_solved(&self, cookbook: &str, from: &Url) -> Result<(), SourceConflict> {
        match self.preferred(cookbook) {
            Some(p) if self.urls[p] != *from => Err(SourceConflict::PreferredSourceLacks {
                cookbook: cookbook.to_owned(),
                preferred: self.sources[p].source.desc(),
                offered_by: vec![self.desc_of_url(from)],
                line: self.sources[p].line,
            }),
            _ => Ok(()),
        }
    }

    /// chef-cli's `CookbookSourceConflict` message: per pair of sources that both offer some
    /// of the cookbooks, the cookbooks and a `preferred_for` block (written for the first
    /// default source, as chef-cli writes it) that would resolve them.
    fn unresolved(
        &self,
        mut cookbooks: Vec<String>,
        holders: &BTreeMap<String, Vec<usize>>,
        universes: &Universes,
    ) -> SourceConflict {
        cookbooks.sort();
        let held_by = |name: &str, source: usize| {
            holders[name]
                .iter()
                .any(|&i| universes.sources[i].source == self.urls[source])
        };
        let (kind, location) = self.sources[0].source.args();
        let mut paragraphs = Vec::new();
        let mut line = 0;
        for a in 0..self.sources.len() {
            for b in a + 1..self.sources.len() {
                let both: Vec<&str> = cookbooks
                    .iter()
                    .map(String::as_str)
                    .filter(|c| held_by(c, a) && held_by(c, b))
                    .collect();
                if both.is_empty() {
                    continue;
                }
                if line == 0 {
                    line = self.sources[b].line;
                }
                let listed: Vec<String> = both.iter().map(|c| format!("- {c}")).collect();
                paragraphs.push(format!(
                    "Source {} and {} contain conflicting cookbooks:\n{}\n\n\
                     You can set a preferred source to resolve this issue with code like:\n\n\
                     default_source :{kind}, \"{location}\" do |s|\n  s.preferred_for \"{}\"\nend\n",
                    self.sources[a].source.desc(),
                    self.sources[b].source.desc(),
                    listed.join("\n"),
                    both.join("\", \""),
                ));
            }
        }
        SourceConflict::Unresolved {
            cookbooks,
            message: paragraphs.join("\n"),
            line,
        }
    }
}

/// chef-cli's `all_possible_dep_names`: the demands and, per source, everything any version of
/// them depends on in that source's universe, transitively, versions ignored.
fn possible_dependencies(universes: &Universes, demands: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = demands.clone();
    for u in &universes.sources {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&str> = demands.iter().map(String::as_str).collect();
        while let Some(name) = stack.pop() {
            let Some(versions) = u.cookbooks.get(name) else {
                continue;
            };
            if !seen.insert(name) {
                continue;
            }
            for entry in versions.values() {
                stack.extend(entry.dependencies.keys().map(String::as_str));
            }
        }
        out.extend(seen.into_iter().map(str::to_owned));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::dsl::DefaultSource;
    use chef_api::universe::Universe;

    fn spec(url: &str, preferred: &[&str], line: u32) -> DefaultSourceSpec {
        DefaultSourceSpec {
            source: DefaultSource::Supermarket { url: url.into() },
            preferred_for: preferred.iter().map(|s| (*s).to_owned()).collect(),
            line,
        }
    }

    fn universe(url: &Url, body: &str) -> Universe {
        Universe::parse(url, body.as_bytes()).unwrap()
    }

    const A: &str = "https://a.example";
    const B: &str = "https://b.example";

    fn two_sources() -> (Vec<Url>, Universes) {
        let urls = vec![Url::parse(A).unwrap(), Url::parse(B).unwrap()];
        let entry = |deps: &str| {
            format!(
                r#"{{"location_type": "opscode", "location_path": "p", "dependencies": {deps}}}"#
            )
        };
        let a = universe(
            &urls[0],
            &format!(
                r#"{{"app": {{"1.0.0": {}}}, "nginx": {{"1.0.0": {}}}, "unused": {{"1.0.0": {}}}}}"#,
                entry(r#"{"nginx": ">= 0.0.0"}"#),
                entry("{}"),
                entry("{}")
            ),
        );
        let b = universe(
            &urls[1],
            &format!(
                r#"{{"nginx": {{"2.0.0": {}}}, "unused": {{"1.0.0": {}}}}}"#,
                entry("{}"),
                entry("{}")
            ),
        );
        (
            urls,
            Universes {
                sources: vec![a, b],
            },
        )
    }

    fn demands(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_preferred_source_alone_offers_the_cookbook() {
        let (urls, universes) = two_sources();
        let sources = [spec(A, &[], 3), spec(B, &["nginx"], 4)];
        let prefs = SourcePreferences::new(&sources, &urls);
        let out = prefs
            .apply(universes, &demands(&["app"]), |_| false)
            .unwrap();
        assert!(!out.sources[0].cookbooks.contains_key("nginx"));
        assert_eq!(out.sources[1].cookbooks["nginx"].len(), 1);
        // Offered twice, no preference, but no demand reaches it: dropped from both.
        assert!(!out.sources[0].cookbooks.contains_key("unused"));
        assert!(!out.sources[1].cookbooks.contains_key("unused"));
        assert!(out.sources[0].cookbooks.contains_key("app"));
    }

    #[test]
    fn a_dependency_offered_twice_without_preference_is_chef_clis_conflict() {
        let (urls, universes) = two_sources();
        let sources = [spec(A, &[], 3), spec(B, &[], 4)];
        let prefs = SourcePreferences::new(&sources, &urls);
        let err = prefs
            .apply(universes.clone(), &demands(&["app"]), |_| false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Source supermarket(https://a.example) and supermarket(https://b.example) contain conflicting cookbooks:\n- nginx\n\nYou can set a preferred source to resolve this issue with code like:\n\ndefault_source :supermarket, \"https://a.example\" do |s|\n  s.preferred_for \"nginx\"\nend\n"
        );
        assert_eq!(err.line(), 4);
        // A cookbook fixed elsewhere is not taken from the sources: no conflict.
        let out = prefs
            .apply(universes, &demands(&["app"]), |n| n == "nginx")
            .unwrap();
        assert_eq!(out.sources[1].cookbooks["nginx"].len(), 1);
    }

    #[test]
    fn a_preferred_source_that_lacks_the_cookbook_is_named() {
        let (urls, universes) = two_sources();
        let c = "https://c.example";
        let all_urls = [urls.clone(), vec![Url::parse(c).unwrap()]].concat();
        let sources = [
            spec(A, &[], 3),
            spec(B, &[], 4),
            spec(c, &["nginx", "app"], 5),
        ];
        let prefs = SourcePreferences::new(&sources, &all_urls);
        let err = prefs
            .apply(universes, &demands(&["app"]), |_| false)
            .unwrap_err();
        assert_eq!(
            err,
            SourceConflict::PreferredSourceLacks {
                cookbook: "nginx".into(),
                preferred: "supermarket(https://c.example)".into(),
                offered_by: vec![
                    "supermarket(https://a.example)".into(),
                    "supermarket(https://b.example)".into()
                ],
                line: 5,
            }
        );
        assert_eq!(err.line(), 5);
        // Offered by one source only: found after the solve, as chef-cli fails there.
        assert!(prefs.check_solved("app", &urls[0]).is_err());
        assert!(prefs.check_solved("unused", &urls[0]).is_ok());
    }
}
