//! One server's object plan: what to create, update, leave or purge, and the environment pins
//! checked against the cookbook versions the server will hold.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chef_api::version::{Constraint, Version};
use serde_json::Value;

use super::load::DEFAULT_ENVIRONMENT;
use super::{ObjectId, ObjectKind, ObjectKinds, RepoObject, RepoObjects};

/// What a sync does with the repository's objects on each server.
#[derive(Debug, Clone)]
pub struct ObjectSync {
    /// The repository's objects (read once, shared by every server).
    pub repo: Arc<RepoObjects>,
    /// The kinds carried (objects of other kinds are neither read nor written nor purged).
    pub kinds: ObjectKinds,
    /// Delete roles, environments (never `_default`), data bags and items the repository
    /// does not have.
    pub purge: bool,
    /// Delete cookbook versions the sync does not carry, except any version an environment
    /// on the server pins (only when cookbooks are among `kinds`).
    pub purge_cookbooks: bool,
    /// Requests in flight per server, for reads and writes.
    pub concurrency: usize,
}

impl ObjectSync {
    /// The kinds to read from each server: `kinds`, plus environments when cookbooks are
    /// purged (their pins protect versions even when environments are not carried).
    pub fn read_kinds(&self) -> ObjectKinds {
        let mut kinds = self.kinds;
        if self.purge_cookbooks && kinds.cookbooks {
            kinds.environments = true;
        }
        kinds
    }
}

/// What to do with one object on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectAction {
    /// The server does not have it.
    Create,
    /// The server's copy differs.
    Update,
    /// The server's copy is the same after normalisation.
    Unchanged,
    /// Purge: the repository does not have it.
    Delete,
}

/// One object's planned action.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedObject {
    /// Which object.
    pub id: ObjectId,
    /// What to do.
    pub action: ObjectAction,
    /// The repository's object (`None` for deletions).
    pub object: Option<RepoObject>,
}

/// An environment pin no cookbook version on the server satisfies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinProblem {
    /// The environment.
    pub environment: String,
    /// The pinned cookbook.
    pub cookbook: String,
    /// The constraint as written.
    pub constraint: String,
    /// The versions of that cookbook the server will hold.
    pub available: Vec<Version>,
}

impl fmt::Display for PinProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment[{}] pins cookbook '{}' to '{}', which no version on this server satisfies after this sync",
            self.environment, self.cookbook, self.constraint
        )?;
        if self.available.is_empty() {
            write!(f, " (it has no version of '{}')", self.cookbook)
        } else {
            let list: Vec<String> = self.available.iter().map(ToString::to_string).collect();
            write!(f, " (it has {})", list.join(", "))
        }
    }
}

/// One server's plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectPlan {
    /// Writes in the order they are made (bags, items, roles, environments), then deletions
    /// (items, bags, roles, environments). Unchanged objects are included (they are reported).
    pub objects: Vec<PlannedObject>,
    /// Cookbook versions to purge (`purge_cookbooks`).
    pub cookbook_deletions: Vec<(String, Version)>,
    /// Environment pins nothing satisfies: when not empty, nothing of this plan may be
    /// written to the server.
    pub pin_problems: Vec<PinProblem>,
}

impl ObjectPlan {
    /// How many objects have `action`.
    pub fn count(&self, action: ObjectAction) -> usize {
        self.objects.iter().filter(|o| o.action == action).count()
    }
}

/// Cookbook name → versions.
pub type CookbookVersions = BTreeMap<String, BTreeSet<Version>>;

/// Plans one server.
///
/// * `server`: [`super::fetch_server_objects`]'s answer (normalised, by id);
/// * `server_cookbooks`: every version on the server before the sync;
/// * `sync_cookbooks`: the versions this sync carries to it (empty without cookbooks).
///
/// Pins are checked for every environment the repository has (when environments are
/// carried) against `server_cookbooks` ∪ `sync_cookbooks`. A purged cookbook version is never
/// one that any environment remaining on the server (the repository's, plus the server's own
/// ones that are not purged, `_default` included) allows: every version a pin matches is
/// kept, not only the newest.
pub fn plan(
    sync: &ObjectSync,
    server: &BTreeMap<ObjectId, Value>,
    server_cookbooks: &CookbookVersions,
    sync_cookbooks: &CookbookVersions,
) -> ObjectPlan {
    let kinds = sync.kinds;
    let mut writes: Vec<PlannedObject> = Vec::new();
    for kind in ObjectKind::ALL {
        if !kinds.includes(kind) {
            continue;
        }
        for object in sync.repo.objects.iter().filter(|o| o.id.kind == kind) {
            let action = match server.get(&object.id) {
                None => ObjectAction::Create,
                Some(theirs) if *theirs == object.json => ObjectAction::Unchanged,
                Some(_) => ObjectAction::Update,
            };
            writes.push(PlannedObject {
                id: object.id.clone(),
                action,
                object: Some(object.clone()),
            });
        }
    }
    let mut deletions: Vec<PlannedObject> = Vec::new();
    if sync.purge {
        // Items, then bags, roles, environments: the order ObjectKind::ALL does not give.
        for kind in [
            ObjectKind::DataBagItem,
            ObjectKind::DataBag,
            ObjectKind::Role,
            ObjectKind::Environment,
        ] {
            if !kinds.includes(kind) {
                continue;
            }
            for id in server.keys().filter(|id| id.kind == kind) {
                let default_env = kind == ObjectKind::Environment && id.name == DEFAULT_ENVIRONMENT;
                if !default_env && sync.repo.get(id).is_none() {
                    deletions.push(PlannedObject {
                        id: id.clone(),
                        action: ObjectAction::Delete,
                        object: None,
                    });
                }
            }
        }
    }
    let mut after = server_cookbooks.clone();
    for (name, versions) in sync_cookbooks {
        after
            .entry(name.clone())
            .or_default()
            .extend(versions.iter().copied());
    }
    let pin_problems = if kinds.environments {
        unsatisfied_pins(
            sync.repo
                .objects
                .iter()
                .filter(|o| o.id.kind == ObjectKind::Environment)
                .map(|o| &o.json),
            &after,
        )
    } else {
        Vec::new()
    };
    let mut cookbook_deletions = Vec::new();
    if sync.purge_cookbooks && kinds.cookbooks {
        let deleted: BTreeSet<&ObjectId> = deletions.iter().map(|d| &d.id).collect();
        let mut remaining_envs: Vec<&Value> = server
            .iter()
            .filter(|(id, _)| id.kind == ObjectKind::Environment && !deleted.contains(id))
            .filter(|(id, _)| !(kinds.environments && sync.repo.get(id).is_some()))
            .map(|(_, v)| v)
            .collect();
        if kinds.environments {
            remaining_envs.extend(
                sync.repo
                    .objects
                    .iter()
                    .filter(|o| o.id.kind == ObjectKind::Environment)
                    .map(|o| &o.json),
            );
        }
        let pins: Vec<(String, Constraint)> = remaining_envs
            .iter()
            .flat_map(|env| pins_of(env))
            .filter_map(|(c, text)| Constraint::parse(&text).ok().map(|k| (c, k)))
            .collect();
        for (name, versions) in server_cookbooks {
            for version in versions {
                let carried = sync_cookbooks
                    .get(name)
                    .is_some_and(|v| v.contains(version));
                let pinned = pins.iter().any(|(c, k)| c == name && k.matches(version));
                if !carried && !pinned {
                    cookbook_deletions.push((name.clone(), *version));
                }
            }
        }
    }
    writes.extend(deletions);
    ObjectPlan {
        objects: writes,
        cookbook_deletions,
        pin_problems,
    }
}

/// `cookbook_versions` of an environment's JSON as (cookbook, constraint text).
fn pins_of(env: &Value) -> Vec<(String, String)> {
    env.get("cookbook_versions")
        .and_then(Value::as_object)
        .map(|pins| {
            pins.iter()
                .filter_map(|(c, k)| k.as_str().map(|k| (c.clone(), k.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The pins of `environments` that no version in `cookbooks` satisfies.
pub fn unsatisfied_pins<'a>(
    environments: impl IntoIterator<Item = &'a Value>,
    cookbooks: &CookbookVersions,
) -> Vec<PinProblem> {
    let mut out = Vec::new();
    for env in environments {
        let name = env.get("name").and_then(Value::as_str).unwrap_or_default();
        for (cookbook, text) in pins_of(env) {
            let Ok(constraint) = Constraint::parse(&text) else {
                continue;
            };
            let versions = cookbooks.get(&cookbook);
            if !versions.is_some_and(|vs| vs.iter().any(|v| constraint.matches(v))) {
                out.push(PinProblem {
                    environment: name.to_owned(),
                    cookbook,
                    constraint: text,
                    available: versions
                        .map(|vs| vs.iter().copied().collect())
                        .unwrap_or_default(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::objects::normalize;

    fn object(id: ObjectId, json: Value) -> RepoObject {
        let json = normalize(id.kind, &json);
        RepoObject {
            body: serde_json::to_vec(&json).unwrap(),
            id,
            json,
            source: "/r/x.json".into(),
        }
    }

    fn repo() -> Arc<RepoObjects> {
        let mut objects = vec![
            object(
                ObjectId::role("web"),
                json!({"name": "web", "run_list": ["nginx"]}),
            ),
            object(ObjectId::role("db"), json!({"name": "db"})),
            object(
                ObjectId::environment("prod"),
                json!({"name": "prod", "cookbook_versions": {"nginx": "~> 2.0"}}),
            ),
            object(ObjectId::data_bag("users"), json!({"name": "users"})),
            object(
                ObjectId::data_bag_item("users", "alice"),
                json!({"id": "alice"}),
            ),
        ];
        objects.sort_by(|a, b| a.id.cmp(&b.id));
        Arc::new(RepoObjects {
            objects,
            warnings: vec![],
        })
    }

    fn sync(purge: bool, purge_cookbooks: bool) -> ObjectSync {
        ObjectSync {
            repo: repo(),
            kinds: ObjectKinds::ALL,
            purge,
            purge_cookbooks,
            concurrency: 8,
        }
    }

    fn versions(list: &[(&str, &str)]) -> CookbookVersions {
        let mut out = CookbookVersions::new();
        for (n, v) in list {
            out.entry((*n).to_owned())
                .or_default()
                .insert(Version::parse(v).unwrap());
        }
        out
    }

    fn server() -> BTreeMap<ObjectId, Value> {
        let mut s = BTreeMap::new();
        for (id, j) in [
            (
                ObjectId::role("web"),
                json!({"name": "web", "run_list": ["recipe[nginx]"], "description": ""}),
            ),
            (
                ObjectId::role("db"),
                json!({"name": "db", "description": "old"}),
            ),
            (ObjectId::role("legacy"), json!({"name": "legacy"})),
            (
                ObjectId::environment("_default"),
                json!({"name": "_default"}),
            ),
            (
                ObjectId::environment("old"),
                json!({"name": "old", "cookbook_versions": {"base": "= 0.9.0"}}),
            ),
            (ObjectId::data_bag("users"), json!({"name": "users"})),
            (
                ObjectId::data_bag_item("users", "bob"),
                json!({"id": "bob"}),
            ),
            (ObjectId::data_bag("stale"), json!({"name": "stale"})),
        ] {
            s.insert(id.clone(), normalize(id.kind, &j));
        }
        s
    }

    fn actions(plan: &ObjectPlan) -> Vec<(String, ObjectAction)> {
        plan.objects
            .iter()
            .map(|o| (o.id.to_string(), o.action))
            .collect()
    }

    #[test]
    fn writes_come_in_order_and_only_differences_are_sent() {
        let p = plan(
            &sync(false, false),
            &server(),
            &versions(&[("nginx", "2.1.0")]),
            &CookbookVersions::new(),
        );
        use ObjectAction::*;
        assert_eq!(
            actions(&p),
            [
                ("data_bag[users]".to_owned(), Unchanged),
                ("data_bag_item[users/alice]".to_owned(), Create),
                ("role[db]".to_owned(), Update),
                ("role[web]".to_owned(), Unchanged),
                ("environment[prod]".to_owned(), Create),
            ]
        );
        assert!(p.pin_problems.is_empty() && p.cookbook_deletions.is_empty());
    }

    #[test]
    fn purge_deletes_what_the_repo_lacks_but_never_default() {
        let p = plan(
            &sync(true, false),
            &server(),
            &versions(&[("nginx", "2.1.0")]),
            &CookbookVersions::new(),
        );
        let deletions: Vec<String> = p
            .objects
            .iter()
            .filter(|o| o.action == ObjectAction::Delete)
            .map(|o| o.id.to_string())
            .collect();
        assert_eq!(
            deletions,
            [
                "data_bag_item[users/bob]",
                "data_bag[stale]",
                "role[legacy]",
                "environment[old]"
            ]
        );
    }

    #[test]
    fn only_the_selected_kinds_are_planned() {
        let mut s = sync(true, false);
        s.kinds = "roles".parse().unwrap();
        let p = plan(
            &s,
            &server(),
            &CookbookVersions::new(),
            &CookbookVersions::new(),
        );
        assert!(p.objects.iter().all(|o| o.id.kind == ObjectKind::Role));
        assert_eq!(p.count(ObjectAction::Delete), 1);
        assert!(p.pin_problems.is_empty(), "environments are not carried");
    }

    #[test]
    fn a_pin_nothing_satisfies_is_a_problem_unless_the_sync_brings_it() {
        let s = sync(false, false);
        let p = plan(
            &s,
            &server(),
            &versions(&[("nginx", "1.0.0")]),
            &CookbookVersions::new(),
        );
        assert_eq!(p.pin_problems.len(), 1);
        let text = p.pin_problems[0].to_string();
        assert!(
            text.contains("environment[prod]")
                && text.contains("'~> 2.0'")
                && text.contains("1.0.0"),
            "{text}"
        );
        let p = plan(
            &s,
            &server(),
            &versions(&[("nginx", "1.0.0")]),
            &versions(&[("nginx", "2.3.0")]),
        );
        assert!(p.pin_problems.is_empty());
    }

    #[test]
    fn cookbook_purge_spares_carried_and_pinned_versions() {
        let on_server = versions(&[
            ("nginx", "1.0.0"),
            ("nginx", "2.0.0"),
            ("base", "0.9.0"),
            ("base", "1.0.0"),
            ("gone", "0.1.0"),
        ]);
        let carried = versions(&[("nginx", "2.1.0"), ("base", "1.0.0")]);
        // Without --purge, environment[old] stays on the server and its pin keeps base 0.9.0;
        // prod's `~> 2.0` keeps nginx 2.0.0.
        let p = plan(&sync(false, true), &server(), &on_server, &carried);
        let deleted: Vec<String> = p
            .cookbook_deletions
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        assert_eq!(deleted, ["gone 0.1.0", "nginx 1.0.0"]);
        // With --purge, environment[old] goes, and so does the version only it pinned.
        let p = plan(&sync(true, true), &server(), &on_server, &carried);
        assert!(
            p.cookbook_deletions
                .contains(&("base".to_owned(), Version::new(0, 9, 0)))
        );
    }
}
