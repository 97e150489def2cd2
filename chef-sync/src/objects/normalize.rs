//! Normalisation (the server's defaults filled in, as knife's chef-fs data handlers do) and
//! the content digest of a normalised object.

use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::ObjectKind;

/// Fills the defaults a Chef server fills, so that the repository's copy and the server's
/// copy of an object compare equal when they mean the same thing:
///
/// * roles: `description` `""`, `json_class` `Chef::Role`, `chef_type` `role`, empty
///   `default_attributes`/`override_attributes`/`run_list`/`env_run_lists`; run lists
///   normalised ([`normalize_run_list`]: bare `nginx` is `recipe[nginx]`, duplicates dropped);
/// * environments: `description` `""`, empty `cookbook_versions` and attributes,
///   `json_class` `Chef::Environment`, `chef_type` `environment`;
/// * data bags: `json_class` `Chef::DataBag`, `chef_type` `data_bag`;
/// * data bag items: a `{"json_class": "Chef::DataBagItem", "raw_data": {...}}` wrapper is
///   unwrapped, and the `chef_type`/`data_bag` keys some servers add are dropped.
///
/// A `null` where a default exists counts as missing. Names are not filled (the loader knows
/// them from the file name). Run list entries that are not valid are kept as they are
/// (validation reports them).
pub fn normalize(kind: ObjectKind, json: &Value) -> Value {
    let Some(object) = json.as_object() else {
        return json.clone();
    };
    match kind {
        ObjectKind::Role => {
            let mut out = with_defaults(
                object,
                &[
                    ("description", json!("")),
                    ("json_class", json!("Chef::Role")),
                    ("chef_type", json!("role")),
                    ("default_attributes", json!({})),
                    ("override_attributes", json!({})),
                    ("run_list", json!([])),
                    ("env_run_lists", json!({})),
                ],
            );
            if let Ok(list) = normalize_run_list(&out["run_list"]) {
                out["run_list"] = list;
            }
            if let Some(envs) = out["env_run_lists"].as_object_mut() {
                for list in envs.values_mut() {
                    if let Ok(normal) = normalize_run_list(list) {
                        *list = normal;
                    }
                }
            }
            out
        }
        ObjectKind::Environment => with_defaults(
            object,
            &[
                ("description", json!("")),
                ("cookbook_versions", json!({})),
                ("default_attributes", json!({})),
                ("override_attributes", json!({})),
                ("json_class", json!("Chef::Environment")),
                ("chef_type", json!("environment")),
            ],
        ),
        ObjectKind::DataBag => with_defaults(
            object,
            &[
                ("json_class", json!("Chef::DataBag")),
                ("chef_type", json!("data_bag")),
            ],
        ),
        ObjectKind::DataBagItem => {
            let inner = match (object.get("json_class"), object.get("raw_data")) {
                (Some(Value::String(class)), Some(Value::Object(raw)))
                    if class == "Chef::DataBagItem" =>
                {
                    raw
                }
                _ => object,
            };
            let mut out = inner.clone();
            if out.get("chef_type").and_then(Value::as_str) == Some("data_bag_item") {
                out.remove("chef_type");
            }
            if out.get("data_bag").is_some_and(Value::is_string) {
                out.remove("data_bag");
            }
            Value::Object(out)
        }
    }
}

/// `object` with every `(key, default)` set where it is missing or `null`.
fn with_defaults(object: &Map<String, Value>, defaults: &[(&str, Value)]) -> Value {
    let mut out = object.clone();
    for (key, default) in defaults {
        match out.get(*key) {
            None | Some(Value::Null) => {
                out.insert((*key).to_owned(), default.clone());
            }
            Some(_) => {}
        }
    }
    Value::Object(out)
}

/// Normalises a run list as Chef does: `recipe[x]` and `role[x]` stay, a bare `x`,
/// `cookbook::recipe` or `x@1.2.3` becomes `recipe[...]`, duplicates are dropped (first one
/// kept).
///
/// # Errors
/// The first entry Chef would refuse (`[` or `]` outside `recipe[...]`/`role[...]`, an
/// empty entry, a non-string), or a value that is not an array.
pub fn normalize_run_list(list: &Value) -> Result<Value, String> {
    let items = list
        .as_array()
        .ok_or_else(|| format!("a run list must be an array, not {list}"))?;
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let s = item
            .as_str()
            .ok_or_else(|| format!("run list entry {item} is not a string"))?;
        let normal = Value::String(run_list_item(s)?);
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(Value::Array(out))
}

/// One run list entry, qualified (Chef's `RunListItem` rules).
fn run_list_item(s: &str) -> Result<String, String> {
    let refuse = |why: &str| {
        format!(
            "run list entry {s:?} {why}: write recipe[NAME] or role[NAME] (or a bare recipe name)"
        )
    };
    let s_trim = s.trim();
    if s_trim.is_empty() {
        return Err(refuse("is empty"));
    }
    if let Some(inner) = s_trim
        .strip_prefix("recipe[")
        .and_then(|r| r.strip_suffix(']'))
    {
        let (name, version) = match inner.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (inner, None),
        };
        if name.is_empty() || name.contains(['[', ']']) {
            return Err(refuse("is not a valid recipe"));
        }
        if let Some(v) = version
            && chef_api::version::Version::parse(v).is_err()
        {
            return Err(refuse("has an invalid version after '@'"));
        }
        return Ok(s_trim.to_owned());
    }
    if let Some(inner) = s_trim
        .strip_prefix("role[")
        .and_then(|r| r.strip_suffix(']'))
    {
        if inner.is_empty() || inner.contains(['[', ']']) {
            return Err(refuse("is not a valid role"));
        }
        return Ok(s_trim.to_owned());
    }
    if s_trim.contains(['[', ']']) {
        return Err(refuse("is neither recipe[...] nor role[...]"));
    }
    if let Some((_, v)) = s_trim.split_once('@')
        && chef_api::version::Version::parse(v).is_err()
    {
        return Err(refuse("has an invalid version after '@'"));
    }
    Ok(format!("recipe[{s_trim}]"))
}

/// Hex SHA-256 of the canonical JSON (object keys sorted, compact) of a normalised object:
/// equal for equal objects whatever their key order.
pub fn digest(json: &Value) -> String {
    let canonical = serde_json::to_string(&canonical(json)).expect("JSON values serialize");
    let sum = sha2::Sha256::digest(canonical.as_bytes());
    sum.iter().map(|b| format!("{b:02x}")).collect()
}

/// `json` with every object's keys sorted.
fn canonical(json: &Value) -> Value {
    match json {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_role_equals_the_servers_full_copy() {
        let repo = normalize(
            ObjectKind::Role,
            &json!({"name": "web", "run_list": ["nginx", "role[base]", "recipe[nginx]"]}),
        );
        let server = normalize(
            ObjectKind::Role,
            &json!({
                "name": "web", "description": "", "json_class": "Chef::Role",
                "chef_type": "role", "default_attributes": {}, "override_attributes": {},
                "run_list": ["recipe[nginx]", "role[base]"], "env_run_lists": {}
            }),
        );
        assert_eq!(repo, server);
        assert_eq!(digest(&repo), digest(&server));
        let other = normalize(
            ObjectKind::Role,
            &json!({"name": "web", "description": "x"}),
        );
        assert_ne!(digest(&repo), digest(&other));
    }

    #[test]
    fn env_run_lists_are_normalised_and_nulls_are_defaults() {
        let role = normalize(
            ObjectKind::Role,
            &json!({"name": "r", "env_run_lists": {"prod": ["apt::default"]}, "description": null}),
        );
        assert_eq!(
            role["env_run_lists"]["prod"],
            json!(["recipe[apt::default]"])
        );
        assert_eq!(role["description"], "");
    }

    #[test]
    fn run_list_entries_follow_chefs_rules() {
        let ok = normalize_run_list(&json!([
            "nginx",
            "nginx::proxy",
            "nginx@1.2.3",
            "recipe[a@1.0]",
            "role[web]"
        ]))
        .unwrap();
        assert_eq!(
            ok,
            json!([
                "recipe[nginx]",
                "recipe[nginx::proxy]",
                "recipe[nginx@1.2.3]",
                "recipe[a@1.0]",
                "role[web]"
            ])
        );
        for bad in ["rol[web]", "", "recipe[]", "nginx@one", "role[a]b]"] {
            let e = normalize_run_list(&json!([bad])).unwrap_err();
            assert!(e.contains("recipe[NAME]"), "{bad}: {e}");
        }
        assert!(normalize_run_list(&json!("nginx")).is_err());
        assert!(normalize_run_list(&json!([3])).is_err());
    }

    #[test]
    fn items_are_unwrapped_and_server_keys_dropped() {
        let wrapped = json!({"json_class": "Chef::DataBagItem", "raw_data": {"id": "a", "x": 1}});
        let returned = json!({"id": "a", "x": 1, "chef_type": "data_bag_item", "data_bag": "b"});
        assert_eq!(
            normalize(ObjectKind::DataBagItem, &wrapped),
            normalize(ObjectKind::DataBagItem, &returned)
        );
    }

    #[test]
    fn digest_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b": {"y": 1, "x": [2, {"q": 1, "p": 2}]}, "a": 1}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a": 1, "b": {"x": [2, {"p": 2, "q": 1}], "y": 1}}"#).unwrap();
        assert_eq!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 64);
    }
}
