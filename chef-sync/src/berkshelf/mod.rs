//! Berkshelf: the Berksfile model, `Berksfile.lock`, dependency resolution and the cookbook
//! cache fed from Supermarket sources.
//!
//! * [`Berksfile`]: the plain model the Berksfile DSL fills (the Ruby file itself is evaluated
//!   by the sandboxed evaluator; each DSL call maps to one field here).
//! * [`lockfile`]: read/write Berkshelf's exact lock format, staleness rules, `update`.
//! * [`resolver`]: PubGrub over Chef constraints, newest first, locked versions pinned,
//!   conflicts explained in words.
//! * [`archive`]: hardened extraction of Supermarket archives and the `NAME-VERSION` cache.
//! * [`install`]: downloads what a resolution needs into the cache.
//! * [`sources`]: the `source` lines as clients (Supermarket, Artifactory, Chef server,
//!   chef_repo), each answering its universe and providing the versions it lists.
//! * [`supermarket`]: the HTTP client of Supermarket and Artifactory sources: universes
//!   (cached, revalidated) and tarball downloads, retried as the Chef client retries.
//! * [`universes`]: several sources' universes in priority order.
//! * [`dsl`]: the Berksfile evaluated by the sandboxed Ruby evaluator as a table of handlers.
//! * [`git`]: `git:`/`github:` locations through the git CLI, pinned to a SHA in the lock.
//! * [`prepare`](mod@prepare): the sync engine's entry point, Berksfile to cookbook directories.

pub mod archive;
pub mod dsl;
pub mod git;
pub mod install;
pub mod lockfile;
pub mod prepare;
pub mod resolver;
pub mod sources;
pub mod supermarket;
pub mod universes;

pub use prepare::{PrepareError, PrepareOptions, Prepared, PreparedCookbook, prepare};

use std::path::PathBuf;

use chef_api::version::Constraint;

/// A Berksfile's content: what `source`, `metadata` and `cookbook` calls declared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Berksfile {
    /// `source` lines in declaration order (de-duplicated by the DSL layer).
    pub sources: Vec<Source>,
    /// `cookbook` lines (and the `metadata` dependency, a [`Location::Path`] with
    /// `metadata: true`).
    pub dependencies: Vec<Dependency>,
    /// Whether `metadata` was called.
    pub metadata: bool,
}

impl Berksfile {
    /// The dependency named `name`, if declared.
    pub fn dependency(&self, name: &str) -> Option<&Dependency> {
        self.dependencies.iter().find(|d| d.name == name)
    }

    /// The Supermarket-style source URLs, in priority order.
    pub fn supermarket_urls(&self) -> Vec<&str> {
        self.sources
            .iter()
            .filter_map(|s| match s {
                Source::Supermarket { url } => Some(url.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// A `source` line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// `source "https://supermarket.chef.io"` (or `supermarket:`).
    Supermarket {
        /// The source URL.
        url: String,
    },
    /// `source :chef_server` (`url: None`: from knife config) or `source chef_server: URL`.
    /// Resolving from Chef servers is a later concern; the seam is here.
    ChefServer {
        /// The org URL, when given.
        url: Option<String>,
        /// `client_name:`, when given.
        client_name: Option<String>,
        /// `client_key:` path, when given.
        client_key: Option<PathBuf>,
    },
    /// `source artifactory: URL` (Supermarket API plus an `X-Jfrog-Art-Api` header).
    Artifactory {
        /// The repository URL.
        url: String,
        /// `api_key:`, when given (else `ARTIFACTORY_API_KEY` from the Berksfile's `ENV`).
        api_key: Option<ApiKey>,
    },
    /// `source chef_repo: DIR`.
    ChefRepo {
        /// The directory, relative to the Berksfile's.
        path: PathBuf,
    },
}

/// A secret given in a Berksfile (Artifactory's `api_key:`): its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// One `cookbook` line (or the `metadata` dependency).
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// Cookbook name.
    pub name: String,
    /// Version constraint (`>= 0.0.0` when omitted).
    pub constraint: Constraint,
    /// Where the cookbook comes from.
    pub location: Location,
    /// Groups (`default` when none was given).
    pub groups: Vec<String>,
}

impl Dependency {
    /// A Supermarket dependency in the default group.
    pub fn new(name: impl Into<String>, constraint: Constraint) -> Self {
        Self {
            name: name.into(),
            constraint,
            location: Location::Supermarket,
            groups: vec!["default".to_owned()],
        }
    }

    /// The same dependency with another location.
    pub fn with_location(mut self, location: Location) -> Self {
        self.location = location;
        self
    }
}

/// Where a dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Resolved from the Berksfile's sources.
    Supermarket,
    /// `path:` (relative to the Berksfile's directory); `metadata` marks the `metadata` dep.
    Path {
        /// The directory as written (relative to the Berksfile's directory).
        path: PathBuf,
        /// True for the dependency `metadata` adds.
        metadata: bool,
    },
    /// `git:` / `github:`.
    Git(GitLocation),
}

/// A git location's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitLocation {
    /// Repository URL (`github:` already expanded to https).
    pub url: String,
    /// `branch:`.
    pub branch: Option<String>,
    /// `tag:`.
    pub tag: Option<String>,
    /// `ref:`.
    pub reference: Option<String>,
    /// `rel:`: the cookbook's subdirectory in the repository.
    pub rel: Option<String>,
}

/// Cookbook metadata the resolver needs for a path/git cookbook (read by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct CookbookInfo {
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: chef_api::version::Version,
    /// `depends` lines: name -> constraint as written.
    pub dependencies: Vec<(String, String)>,
}
