//! Repository objects: roles, environments and data bags, read once from the repository and
//! compared with (and sent to) every server.
//!
//! ```text
//! roles/NAME.json | roles/NAME.rb               ─┐
//! environments/NAME.json | environments/NAME.rb  ├─► load ─► RepoObjects (normalised, validated)
//! data_bags/BAG/ITEM.json                        ─┘
//! server ─► fetch_server_objects (listings + search rows; GETs where a row is not the repo's)
//!        ─► normalised, by ObjectId
//! both   ─► plan (create / update / unchanged / delete, environment pins) ─► apply, in order
//! ```
//!
//! * Locations follow knife ([`ObjectPaths`]): `role_path`, `environment_path`,
//!   `data_bag_path`, each defaulting to `roles/`, `environments/`, `data_bags/` under every
//!   `chef_repo_path` (whose own default is the parent of each `cookbook_path` entry, else
//!   the repository root). A directory that does not exist contributes nothing, so a
//!   repository without them syncs cookbooks only.
//! * `.rb` roles and environments are evaluated by the sandbox in [`chef_api::ruby`] against
//!   a table of the Chef DSL's calls ([`dsl`]); nothing is executed.
//! * Everything is validated before anything is sent; every problem is reported at once with
//!   its file and line ([`ObjectsError::Invalid`]).
//! * Both sides are compared after [`normalize`] (the server's defaults filled in, as
//!   knife's chef-fs does), so an unchanged repository sends no write at all.
//! * Data bag items, encrypted ones included, are sent as the bytes of their file: chef-sync
//!   never needs (or asks for) the secret.

mod apply;
pub mod dsl;
mod fetch;
mod load;
mod normalize;
pub mod plan;

use std::fmt;
use std::path::PathBuf;

use crate::position::Position;

pub use apply::{apply, dry_run_reports};
pub(crate) use apply::{finish_server, listing_versions, plan_server};
pub use fetch::{FetchCounts, fetch_counted, fetch_server_objects};
pub use load::load;
pub use normalize::{digest, normalize, normalize_run_list};

/// A server's objects as [`fetch_server_objects`] returns them: normalised, by id.
pub type ServerObjects = std::collections::BTreeMap<ObjectId, serde_json::Value>;

/// What a repository object is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A role (`roles/NAME`).
    Role,
    /// An environment (`environments/NAME`).
    Environment,
    /// A data bag (`data/BAG`): the bag itself, which holds items.
    DataBag,
    /// A data bag item (`data/BAG/ITEM`).
    DataBagItem,
}

impl ObjectKind {
    /// Every kind, in the order they are written to a server (bags before their items,
    /// environments last).
    pub const ALL: [ObjectKind; 4] = [
        ObjectKind::DataBag,
        ObjectKind::DataBagItem,
        ObjectKind::Role,
        ObjectKind::Environment,
    ];

    /// The name used in reports and JSON: `role`, `environment`, `data_bag`, `data_bag_item`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::Environment => "environment",
            Self::DataBag => "data_bag",
            Self::DataBagItem => "data_bag_item",
        }
    }

    /// Chef's `json_class` for this kind.
    pub fn json_class(self) -> &'static str {
        match self {
            Self::Role => "Chef::Role",
            Self::Environment => "Chef::Environment",
            Self::DataBag => "Chef::DataBag",
            Self::DataBagItem => "Chef::DataBagItem",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object: its kind, its bag (data bag items only) and its name (the item's `id` for
/// items, the bag's name for bags).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// What it is.
    pub kind: ObjectKind,
    /// The bag of a data bag item; `None` for every other kind.
    pub bag: Option<String>,
    /// The name (role, environment, bag) or item id.
    pub name: String,
}

impl ObjectId {
    /// A role.
    pub fn role(name: impl Into<String>) -> Self {
        Self {
            kind: ObjectKind::Role,
            bag: None,
            name: name.into(),
        }
    }

    /// An environment.
    pub fn environment(name: impl Into<String>) -> Self {
        Self {
            kind: ObjectKind::Environment,
            bag: None,
            name: name.into(),
        }
    }

    /// A data bag.
    pub fn data_bag(name: impl Into<String>) -> Self {
        Self {
            kind: ObjectKind::DataBag,
            bag: None,
            name: name.into(),
        }
    }

    /// A data bag item.
    pub fn data_bag_item(bag: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            kind: ObjectKind::DataBagItem,
            bag: Some(bag.into()),
            name: id.into(),
        }
    }

    /// The object's path on the server, relative to the organisation URL: `roles/NAME`,
    /// `environments/NAME`, `data/BAG`, `data/BAG/ITEM`.
    pub fn server_path(&self) -> String {
        match self.kind {
            ObjectKind::Role => format!("roles/{}", self.name),
            ObjectKind::Environment => format!("environments/{}", self.name),
            ObjectKind::DataBag => format!("data/{}", self.name),
            ObjectKind::DataBagItem => {
                format!("data/{}/{}", self.bag.as_deref().unwrap_or(""), self.name)
            }
        }
    }

    /// The path new objects of this kind are POSTed to: `roles`, `environments`, `data`,
    /// `data/BAG`.
    pub fn collection_path(&self) -> String {
        match self.kind {
            ObjectKind::Role => "roles".to_owned(),
            ObjectKind::Environment => "environments".to_owned(),
            ObjectKind::DataBag => "data".to_owned(),
            ObjectKind::DataBagItem => format!("data/{}", self.bag.as_deref().unwrap_or("")),
        }
    }

    /// `users/alice` for an item, the name otherwise (what reports show beside the kind).
    pub fn display_name(&self) -> String {
        match &self.bag {
            Some(bag) => format!("{bag}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for ObjectId {
    /// `role[web]`, `environment[prod]`, `data_bag[users]`, `data_bag_item[users/alice]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.kind, self.display_name())
    }
}

/// One object read from the repository.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoObject {
    /// Which object.
    pub id: ObjectId,
    /// Its JSON, normalised ([`normalize`]).
    pub json: serde_json::Value,
    /// The file it was read from (the bag's directory for a data bag).
    pub source: PathBuf,
    /// The exact request body sent to a server: a data bag item's file bytes as they are
    /// (ciphertext untouched); otherwise the compact JSON of `json`.
    pub body: Vec<u8>,
}

/// Every object of a repository, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepoObjects {
    /// Sorted by id.
    pub objects: Vec<RepoObject>,
    /// Non-fatal findings (`_default` skipped, a name found in two directories, U+00A0 in a
    /// `.rb` file), as `file[:line]: message`.
    pub warnings: Vec<String>,
}

impl RepoObjects {
    /// Reads every object under `paths`; see [`load`].
    ///
    /// # Errors
    /// As [`load`].
    pub fn load(
        paths: &ObjectPaths,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, ObjectsError> {
        load(paths, env)
    }

    /// The object with this id.
    pub fn get(&self, id: &ObjectId) -> Option<&RepoObject> {
        self.objects
            .binary_search_by(|o| o.id.cmp(id))
            .ok()
            .map(|i| &self.objects[i])
    }

    /// The objects of the kinds `kinds` selects.
    pub fn of_kinds(&self, kinds: ObjectKinds) -> impl Iterator<Item = &RepoObject> {
        self.objects
            .iter()
            .filter(move |o| kinds.includes(o.id.kind))
    }

    /// Whether there are no objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// Where the repository's objects are: knife's `role_path`, `environment_path` and
/// `data_bag_path` (each may name several directories, as in knife; the first holding a name
/// wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ObjectPaths {
    /// `role_path` (default: `roles/` under each `chef_repo_path`).
    pub role_path: Vec<PathBuf>,
    /// `environment_path` (default: `environments/` under each `chef_repo_path`).
    pub environment_path: Vec<PathBuf>,
    /// `data_bag_path` (default: `data_bags/` under each `chef_repo_path`).
    pub data_bag_path: Vec<PathBuf>,
}

impl ObjectPaths {
    /// knife's defaults: `roles/`, `environments/` and `data_bags/` under every entry of
    /// `chef_repo_path`, duplicates removed.
    pub fn under(chef_repo_path: &[PathBuf]) -> Self {
        let mut repos: Vec<&PathBuf> = Vec::new();
        for p in chef_repo_path {
            if !repos.contains(&p) {
                repos.push(p);
            }
        }
        let join = |child: &str| repos.iter().map(|r| r.join(child)).collect();
        Self {
            role_path: join("roles"),
            environment_path: join("environments"),
            data_bag_path: join("data_bags"),
        }
    }
}

/// Which kinds of things a sync carries: cookbooks and each object kind (all by default).
///
/// Parsed from `cookbooks,roles,environments,data_bags` (the sync example's `--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::struct_excessive_bools)]
pub struct ObjectKinds {
    /// Cookbook versions.
    pub cookbooks: bool,
    /// Roles.
    pub roles: bool,
    /// Environments.
    pub environments: bool,
    /// Data bags and their items.
    pub data_bags: bool,
}

impl ObjectKinds {
    /// Everything.
    pub const ALL: ObjectKinds = ObjectKinds {
        cookbooks: true,
        roles: true,
        environments: true,
        data_bags: true,
    };

    /// Nothing (a starting point for building a selection).
    pub const NONE: ObjectKinds = ObjectKinds {
        cookbooks: false,
        roles: false,
        environments: false,
        data_bags: false,
    };

    /// Whether objects of `kind` are selected (bags and items go together).
    pub fn includes(self, kind: ObjectKind) -> bool {
        match kind {
            ObjectKind::Role => self.roles,
            ObjectKind::Environment => self.environments,
            ObjectKind::DataBag | ObjectKind::DataBagItem => self.data_bags,
        }
    }

    /// Whether any object kind (not counting cookbooks) is selected.
    pub fn any_objects(self) -> bool {
        self.roles || self.environments || self.data_bags
    }

    /// The selected names, comma-separated (`cookbooks,roles`).
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.cookbooks, "cookbooks"),
            (self.roles, "roles"),
            (self.environments, "environments"),
            (self.data_bags, "data_bags"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

impl Default for ObjectKinds {
    fn default() -> Self {
        Self::ALL
    }
}

/// A name in `--only` that is not a kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown kind '{0}': expected a comma-separated list of cookbooks, roles, environments, data_bags"
)]
pub struct UnknownKind(pub String);

impl std::str::FromStr for ObjectKinds {
    type Err = UnknownKind;

    /// `cookbooks,roles,environments,data_bags` (any subset; singular forms and `data-bags`
    /// accepted).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut kinds = Self::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "cookbooks" | "cookbook" => kinds.cookbooks = true,
                "roles" | "role" => kinds.roles = true,
                "environments" | "environment" => kinds.environments = true,
                "data_bags" | "data_bag" | "data-bags" | "databags" => kinds.data_bags = true,
                other => return Err(UnknownKind(other.to_owned())),
            }
        }
        Ok(kinds)
    }
}

/// One problem found while reading the repository's objects.
///
/// Displays as `file:line:column: message` (line and column when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: the file, and the 1-based line and column when known.
    pub position: Position,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

/// Why the repository's objects could not be read. Nothing is sent to any server then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectsError {
    /// A directory or file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// One or more files are invalid; every problem found is listed.
    #[error("{} invalid repository object file(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem, in file order.
        problems: Vec<Problem>,
    },
}

impl ObjectsError {
    /// Where the (first) problem is, typed: the file, line and column of the first invalid
    /// file, or the path that could not be read.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Io { path, .. } => Some(Position::file(path.clone())),
            Self::Invalid { problems } => problems.first().map(|p| p.position.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_display_and_paths_follow_chef() {
        let item = ObjectId::data_bag_item("users", "alice");
        assert_eq!(item.to_string(), "data_bag_item[users/alice]");
        assert_eq!(item.server_path(), "data/users/alice");
        assert_eq!(item.collection_path(), "data/users");
        assert_eq!(ObjectId::role("web").to_string(), "role[web]");
        assert_eq!(ObjectId::role("web").server_path(), "roles/web");
        assert_eq!(
            ObjectId::environment("prod").server_path(),
            "environments/prod"
        );
        assert_eq!(ObjectId::data_bag("users").server_path(), "data/users");
        assert_eq!(ObjectId::data_bag("users").collection_path(), "data");
    }

    #[test]
    fn kinds_parse_from_the_cli_list() {
        let k: ObjectKinds = "roles, data_bags".parse().unwrap();
        assert_eq!(
            k,
            ObjectKinds {
                roles: true,
                data_bags: true,
                ..ObjectKinds::NONE
            }
        );
        assert!(k.includes(ObjectKind::DataBagItem) && !k.includes(ObjectKind::Environment));
        assert_eq!(k.names(), ["roles", "data_bags"]);
        let e = "roles,nodes".parse::<ObjectKinds>().unwrap_err();
        assert!(e.to_string().contains("'nodes'"), "{e}");
        assert_eq!(ObjectKinds::default(), ObjectKinds::ALL);
    }

    #[test]
    fn default_paths_are_under_each_repo_path_once() {
        let p = ObjectPaths::under(&["/r".into(), "/s".into(), "/r".into()]);
        assert_eq!(p.role_path, [PathBuf::from("/r/roles"), "/s/roles".into()]);
        assert_eq!(p.data_bag_path[0], PathBuf::from("/r/data_bags"));
    }

    #[test]
    fn problems_display_file_line_column() {
        let p = Problem {
            position: Position::at("roles/web.json", 3, Some(7)),
            message: "m".into(),
        };
        assert_eq!(p.to_string(), "roles/web.json:3:7: m");
        let e = ObjectsError::Invalid {
            problems: vec![p.clone()],
        };
        assert_eq!(e.position(), Some(p.position));
    }
}
