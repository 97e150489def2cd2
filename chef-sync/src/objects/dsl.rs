//! The role and environment Ruby DSLs (`roles/NAME.rb`, `environments/NAME.rb`): tables of
//! handlers for the sandboxed evaluator ([`chef_api::ruby`]) that build the object's JSON, as
//! `Chef::Role#from_file` and `Chef::Environment#from_file` would.
//!
//! * roles: `name`, `description`, `run_list` (entries or one array), `env_run_lists`
//!   (`"prod" => [...]`), `default_attributes`, `override_attributes`;
//! * environments: `name`, `description`, `cookbook_versions` (a hash),
//!   `cookbook NAME, CONSTRAINT` (the constraint is checked), `default_attributes`,
//!   `override_attributes`.
//!
//! Called without arguments each returns the current value, as in Chef. Anything else is an
//! error with file, line and column; plain Ruby around the calls (locals, `ENV`, `if`, `each`)
//! is the evaluator's.

use std::path::Path;

use chef_api::ruby::{Block, Call, CallError, Dsl, EvalError, Interpreter, Value, Warning};
use chef_api::version::Constraint;
use serde_json::{Map, Value as Json};

use super::ObjectKind;

/// An evaluated `.rb` role or environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The object's JSON (not yet normalised; only what the file set, plus `json_class` and
    /// `chef_type`).
    pub json: Json,
    /// The line of the `name` call, when the file made one.
    pub name_line: Option<u32>,
    /// Non-fatal findings (U+00A0 read as a space).
    pub warnings: Vec<Warning>,
}

/// Evaluates `source` (the text of `path`, a role or environment `.rb` file) with `interp`.
///
/// # Errors
/// Ruby the sandbox refuses, a DSL call with a wrong argument (`file:line:column: message`).
///
/// # Panics
/// When `kind` is not a role or an environment (data bags have no Ruby DSL).
pub fn evaluate(
    kind: ObjectKind,
    source: &str,
    path: &Path,
    interp: &Interpreter,
) -> Result<Evaluated, EvalError> {
    assert!(
        matches!(kind, ObjectKind::Role | ObjectKind::Environment),
        "only roles and environments have a Ruby DSL"
    );
    let mut json = Map::new();
    json.insert("json_class".into(), Json::from(kind.json_class()));
    json.insert("chef_type".into(), Json::from(kind.as_str()));
    let mut dsl = ObjectDsl {
        kind,
        json,
        name_line: None,
    };
    let ev = interp.eval(source, path, &mut dsl)?;
    Ok(Evaluated {
        json: Json::Object(dsl.json),
        name_line: dsl.name_line,
        warnings: ev.warnings,
    })
}

struct ObjectDsl {
    kind: ObjectKind,
    json: Map<String, Json>,
    name_line: Option<u32>,
}

const ROLE_CALLS: &[&str] = &[
    "name",
    "description",
    "run_list",
    "env_run_lists",
    "default_attributes",
    "override_attributes",
];

const ENVIRONMENT_CALLS: &[&str] = &[
    "name",
    "description",
    "cookbook_versions",
    "cookbook",
    "default_attributes",
    "override_attributes",
];

impl Dsl for ObjectDsl {
    fn responds_to(&self, name: &str) -> bool {
        match self.kind {
            ObjectKind::Role => ROLE_CALLS.contains(&name),
            _ => ENVIRONMENT_CALLS.contains(&name),
        }
    }

    fn call(&mut self, call: Call, _block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        let getter = call.args.is_empty() && call.kwargs.is_empty();
        if getter && call.name != "cookbook" {
            return Ok(self
                .json
                .get(&call.name)
                .map_or(Value::Nil, Value::from_json));
        }
        let value = match call.name.as_str() {
            "name" | "description" => {
                let s = single_string(&call)?;
                if call.name == "name" {
                    self.name_line = Some(call.line);
                }
                Json::String(s)
            }
            "run_list" => {
                let mut items = Vec::new();
                for arg in &call.args {
                    flatten_into(arg, &mut items);
                }
                if !call.kwargs.is_empty() {
                    return Err("run_list takes recipe and role names, not a hash".into());
                }
                let list = Json::Array(items.iter().map(Value::to_json).collect());
                super::normalize_run_list(&list).map_err(CallError::Message)?
            }
            "env_run_lists" => {
                let hash = hash_arg(&call)?;
                let mut out = Map::new();
                for (env, list) in hash.as_object().into_iter().flatten() {
                    let list = match list {
                        Json::Array(_) => list.clone(),
                        other => Json::Array(vec![other.clone()]),
                    };
                    let normal = super::normalize_run_list(&list)
                        .map_err(|e| CallError::Message(format!("env_run_lists[{env:?}]: {e}")))?;
                    out.insert(env.clone(), normal);
                }
                Json::Object(out)
            }
            "default_attributes" | "override_attributes" => hash_arg(&call)?,
            "cookbook_versions" => {
                let hash = hash_arg(&call)?;
                for (cookbook, constraint) in hash.as_object().into_iter().flatten() {
                    check_constraint(cookbook, constraint)?;
                }
                hash
            }
            "cookbook" => {
                let [name, constraint] =
                    <[Value; 2]>::try_from(call.args.clone()).map_err(|_| {
                        CallError::from("cookbook takes a cookbook name and a version constraint")
                    })?;
                let (Some(name), Some(constraint)) = (name.as_str(), constraint.as_str()) else {
                    return Err("cookbook takes two strings: NAME, CONSTRAINT".into());
                };
                check_constraint(name, &Json::from(constraint))?;
                let versions = self
                    .json
                    .entry("cookbook_versions")
                    .or_insert_with(|| Json::Object(Map::new()));
                if let Json::Object(map) = versions {
                    map.insert(name.to_owned(), Json::from(constraint));
                }
                return Ok(Value::Nil);
            }
            other => return Err(CallError::Message(format!("undefined method '{other}'"))),
        };
        self.json.insert(call.name.clone(), value.clone());
        Ok(Value::from_json(&value))
    }
}

/// The one string argument of `name`/`description`.
fn single_string(call: &Call) -> Result<String, CallError> {
    match (call.args.as_slice(), call.kwargs.is_empty()) {
        ([Value::Str(s) | Value::Sym(s)], true) => Ok(s.clone()),
        ([other], true) => Err(CallError::Message(format!(
            "{} must be a string, not {} ({})",
            call.name,
            other.inspect(),
            other.class_name()
        ))),
        _ => Err(CallError::Message(format!(
            "{} takes one string",
            call.name
        ))),
    }
}

/// The hash argument of a call: `x("a" => 1)` / `x a: 1` (keyword form) or `x({...})`.
fn hash_arg(call: &Call) -> Result<Json, CallError> {
    match (call.args.as_slice(), call.kwargs.is_empty()) {
        ([], false) => Ok(Value::Hash(call.kwargs.clone()).to_json()),
        ([h @ Value::Hash(_)], true) => Ok(h.to_json()),
        _ => Err(CallError::Message(format!("{} takes a hash", call.name))),
    }
}

/// Arrays flattened, as `run_list(*list)` and `run_list([..])` both mean the entries.
fn flatten_into(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten_into(i, out)),
        other => out.push(other.clone()),
    }
}

/// A pin must be a string Chef parses as a version constraint.
fn check_constraint(cookbook: &str, constraint: &Json) -> Result<(), CallError> {
    let Some(text) = constraint.as_str() else {
        return Err(CallError::Message(format!(
            "the constraint of cookbook '{cookbook}' must be a string, not {constraint}"
        )));
    };
    Constraint::parse(text)
        .map(|_| ())
        .map_err(|e| CallError::Message(format!("cookbook '{cookbook}': {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(kind: ObjectKind, src: &str) -> Result<Evaluated, EvalError> {
        evaluate(kind, src, Path::new("/r/x.rb"), &Interpreter::new())
    }

    #[test]
    fn a_role_file_builds_the_roles_json() {
        let ev = eval(
            ObjectKind::Role,
            "name 'web'\ndescription \"Web #{1 + 1}\"\nrun_list 'nginx', 'role[base]'\n\
             env_run_lists 'prod' => ['nginx::prod'], 'dev' => []\n\
             default_attributes 'nginx' => { 'port' => 80 }\noverride_attributes(tls: true)\n",
        )
        .unwrap();
        assert_eq!(ev.name_line, Some(1));
        assert_eq!(
            ev.json,
            json!({
                "json_class": "Chef::Role", "chef_type": "role", "name": "web",
                "description": "Web 2", "run_list": ["recipe[nginx]", "role[base]"],
                "env_run_lists": {"prod": ["recipe[nginx::prod]"], "dev": []},
                "default_attributes": {"nginx": {"port": 80}},
                "override_attributes": {"tls": true}
            })
        );
    }

    #[test]
    fn an_environment_file_collects_pins() {
        let ev = eval(
            ObjectKind::Environment,
            "name 'prod'\ncookbook 'nginx', '~> 2.1'\ncookbook 'base', '= 1.0.0'\n\
             %w[a b].each { |c| cookbook c, '>= 0.1' }\n",
        )
        .unwrap();
        assert_eq!(
            ev.json["cookbook_versions"],
            json!({"nginx": "~> 2.1", "base": "= 1.0.0", "a": ">= 0.1", "b": ">= 0.1"})
        );
    }

    #[test]
    fn bad_calls_are_positioned_errors() {
        let e = eval(
            ObjectKind::Environment,
            "name 'p'\ncookbook 'nginx', '!= 1.0'\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        assert!(e.message.contains("'!='"), "{e}");
        let e = eval(ObjectKind::Role, "run_list 'foo[bar]'\n").unwrap_err();
        assert!(e.message.contains("foo[bar]"), "{e}");
        let e = eval(ObjectKind::Role, "cookbook 'x', '1.0'\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = eval(ObjectKind::Role, "name 'x'\nsystem('rm -rf /')\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn getters_return_what_was_set() {
        let ev = eval(
            ObjectKind::Role,
            "name 'web'\ndescription \"the #{name} role\"\n",
        )
        .unwrap();
        assert_eq!(ev.json["description"], "the web role");
    }
}
