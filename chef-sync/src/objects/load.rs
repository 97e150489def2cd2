//! Reading the repository's objects from disk, with every problem found reported at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chef_api::ruby::Interpreter;
use chef_api::version::Constraint;
use serde_json::Value;

use super::{ObjectId, ObjectKind, ObjectPaths, ObjectsError, Problem, RepoObject, RepoObjects};

/// The environment the server owns: it refuses changes to it, so it is never sent or purged.
pub(crate) const DEFAULT_ENVIRONMENT: &str = "_default";

/// Reads every role, environment and data bag (with its items) under `paths`.
///
/// * `roles/NAME.json`, `roles/NAME.rb`, `environments/NAME.json|.rb`,
///   `data_bags/BAG/ITEM.json`; other files, dot files and subdirectories of `roles/` and
///   `environments/` are ignored; a bag directory without items is still a bag.
/// * `.rb` files are evaluated in the sandbox with `env` as `ENV` and the file's directory
///   as working directory.
/// * A name found in two directories of one path list: the first wins, with a warning.
/// * The `_default` environment is skipped with a warning (the server refuses changes).
///
/// # Errors
/// [`ObjectsError::Io`] for a directory that exists but cannot be read;
/// [`ObjectsError::Invalid`] listing every problem: invalid JSON (line and column), a
/// `name`/`id` that differs from the file name, a `json_class`/`chef_type` of another kind,
/// a run list entry that is neither `recipe[...]` nor `role[...]`, an environment pin that
/// does not parse, both `NAME.json` and `NAME.rb`, a name Chef does not accept, `.rb` Ruby
/// the sandbox refuses.
pub fn load(
    paths: &ObjectPaths,
    env: &BTreeMap<String, String>,
) -> Result<RepoObjects, ObjectsError> {
    let mut cx = Loader {
        env,
        objects: BTreeMap::new(),
        warnings: Vec::new(),
        problems: Vec::new(),
    };
    cx.load_named(ObjectKind::Role, &paths.role_path)?;
    cx.load_named(ObjectKind::Environment, &paths.environment_path)?;
    cx.load_bags(&paths.data_bag_path)?;
    if !cx.problems.is_empty() {
        return Err(ObjectsError::Invalid {
            problems: cx.problems,
        });
    }
    Ok(RepoObjects {
        objects: cx.objects.into_values().collect(),
        warnings: cx.warnings,
    })
}

struct Loader<'a> {
    env: &'a BTreeMap<String, String>,
    objects: BTreeMap<ObjectId, RepoObject>,
    warnings: Vec<String>,
    problems: Vec<Problem>,
}

/// The entries of `dir` (sorted), or none when it does not exist.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, ObjectsError> {
    let io = |source| ObjectsError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(io)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

/// Whether Chef accepts `name` for this kind (roles and environments: letters, digits, `_`,
/// `-`; bags and items also `.`).
fn valid_name(kind: ObjectKind, name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || c == '_'
                || c == '-'
                || (c == '.' && matches!(kind, ObjectKind::DataBag | ObjectKind::DataBagItem))
        })
}

impl Loader<'_> {
    fn problem(&mut self, file: &Path, line: Option<u32>, column: Option<u32>, message: String) {
        self.problems.push(Problem {
            position: crate::position::Position {
                file: file.to_path_buf(),
                line,
                column,
            },
            message,
        });
    }

    /// Keeps `object` unless an earlier directory already gave its id.
    fn keep(&mut self, object: RepoObject) {
        if let Some(first) = self.objects.get(&object.id) {
            self.warnings.push(format!(
                "{}: {} is also defined by {}; using the latter (first in the path)",
                object.source.display(),
                object.id,
                first.source.display()
            ));
            return;
        }
        self.objects.insert(object.id.clone(), object);
    }

    /// Roles or environments: `NAME.json` / `NAME.rb` in every directory of `dirs`.
    fn load_named(&mut self, kind: ObjectKind, dirs: &[PathBuf]) -> Result<(), ObjectsError> {
        for dir in dirs {
            let files = entries(dir)?;
            let mut seen: BTreeSet<String> = BTreeSet::new();
            for file in &files {
                let (Some(stem), Some(ext)) = (
                    file.file_stem().and_then(|s| s.to_str()),
                    file.extension().and_then(|s| s.to_str()),
                ) else {
                    continue;
                };
                if !matches!(ext, "json" | "rb") || !file.is_file() {
                    continue;
                }
                if !seen.insert(stem.to_owned()) {
                    self.problem(
                        file,
                        None,
                        None,
                        format!(
                            "both {stem}.json and {stem}.rb define {kind} '{stem}'; keep one of them"
                        ),
                    );
                    continue;
                }
                if !valid_name(kind, stem) {
                    self.problem(
                        file,
                        None,
                        None,
                        format!(
                            "'{stem}' is not a valid {kind} name (letters, digits, '_' and '-' only)"
                        ),
                    );
                    continue;
                }
                if kind == ObjectKind::Environment && stem == DEFAULT_ENVIRONMENT {
                    self.warnings.push(format!(
                        "{}: the _default environment is skipped: the server refuses changes to it",
                        file.display()
                    ));
                    continue;
                }
                let loaded = if ext == "rb" {
                    self.read_rb(kind, file, stem)
                } else {
                    self.read_json(kind, file, stem)
                };
                if let Some(object) = loaded {
                    self.keep(object);
                }
            }
        }
        Ok(())
    }

    /// A `.rb` role or environment through the sandbox.
    fn read_rb(&mut self, kind: ObjectKind, file: &Path, stem: &str) -> Option<RepoObject> {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                self.problem(file, None, None, e.to_string());
                return None;
            }
        };
        let interp = Interpreter::new()
            .with_env(self.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .with_cwd(file.parent().unwrap_or(Path::new(".")));
        let ev = match super::dsl::evaluate(kind, &text, file, &interp) {
            Ok(ev) => ev,
            Err(e) => {
                self.problem(file, Some(e.line), Some(e.column), e.message);
                return None;
            }
        };
        self.warnings
            .extend(ev.warnings.iter().map(ToString::to_string));
        let mut json = ev.json;
        match json.get("name").and_then(Value::as_str) {
            Some(name) if name != stem => {
                self.problem(
                    file,
                    ev.name_line,
                    None,
                    format!("name '{name}' differs from the file name ('{stem}')"),
                );
                return None;
            }
            Some(_) => {}
            None => {
                json["name"] = Value::from(stem);
            }
        }
        self.finish(kind, file, stem, json, &text)
    }

    /// A `.json` role or environment.
    fn read_json(&mut self, kind: ObjectKind, file: &Path, stem: &str) -> Option<RepoObject> {
        let (text, mut json) = self.parse_json_file(file)?;
        let Some(object) = json.as_object_mut() else {
            self.problem(
                file,
                Some(1),
                None,
                format!("a {kind} must be a JSON object"),
            );
            return None;
        };
        match object.get("name") {
            None | Some(Value::Null) => {
                object.insert("name".into(), Value::from(stem));
            }
            Some(Value::String(name)) if name == stem => {}
            Some(other) => {
                let shown = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned);
                self.problem(
                    file,
                    key_line(&text, "name"),
                    None,
                    format!("name '{shown}' differs from the file name ('{stem}')"),
                );
                return None;
            }
        }
        for (key, expected) in [
            ("json_class", kind.json_class()),
            ("chef_type", kind.as_str()),
        ] {
            if let Some(v) = object.get(key)
                && !v.is_null()
                && v.as_str() != Some(expected)
            {
                self.problem(
                    file,
                    key_line(&text, key),
                    None,
                    format!(
                        "{key} is {v}, but a file in this directory must be a {kind} ({expected:?})"
                    ),
                );
                return None;
            }
        }
        self.finish(kind, file, stem, json, &text)
    }

    /// Validates run lists (roles) and pins (environments), normalises, keeps.
    fn finish(
        &mut self,
        kind: ObjectKind,
        file: &Path,
        stem: &str,
        json: Value,
        text: &str,
    ) -> Option<RepoObject> {
        let before = self.problems.len();
        match kind {
            ObjectKind::Role => {
                if let Some(list) = json.get("run_list").filter(|v| !v.is_null())
                    && let Err(e) = super::normalize_run_list(list)
                {
                    self.problem(file, key_line(text, "run_list"), None, e);
                }
                match json.get("env_run_lists") {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(envs)) => {
                        for (env, list) in envs {
                            if let Err(e) = super::normalize_run_list(list) {
                                self.problem(
                                    file,
                                    key_line(text, env),
                                    None,
                                    format!("env_run_lists[{env:?}]: {e}"),
                                );
                            }
                        }
                    }
                    Some(other) => self.problem(
                        file,
                        key_line(text, "env_run_lists"),
                        None,
                        format!("env_run_lists must be an object of run lists, not {other}"),
                    ),
                }
            }
            ObjectKind::Environment => match json.get("cookbook_versions") {
                None | Some(Value::Null) => {}
                Some(Value::Object(pins)) => {
                    for (cookbook, constraint) in pins {
                        let parsed = constraint
                            .as_str()
                            .ok_or_else(|| format!("must be a string, not {constraint}"))
                            .and_then(|c| Constraint::parse(c).map_err(|e| e.to_string()));
                        if let Err(e) = parsed {
                            self.problem(
                                file,
                                key_line(text, cookbook),
                                None,
                                format!("cookbook_versions[{cookbook:?}]: {e}"),
                            );
                        }
                    }
                }
                Some(other) => self.problem(
                    file,
                    key_line(text, "cookbook_versions"),
                    None,
                    format!("cookbook_versions must be an object, not {other}"),
                ),
            },
            _ => {}
        }
        for key in ["default_attributes", "override_attributes"] {
            if let Some(v) = json.get(key)
                && !(v.is_object() || v.is_null())
            {
                self.problem(
                    file,
                    key_line(text, key),
                    None,
                    format!("{key} must be an object, not {v}"),
                );
            }
        }
        if self.problems.len() > before {
            return None;
        }
        let json = super::normalize(kind, &json);
        let body = serde_json::to_vec(&json).expect("JSON values serialize");
        let id = ObjectId {
            kind,
            bag: None,
            name: stem.to_owned(),
        };
        Some(RepoObject {
            id,
            json,
            source: file.to_path_buf(),
            body,
        })
    }

    /// Reads and parses a JSON file (a leading UTF-8 BOM is dropped).
    fn parse_json_file(&mut self, file: &Path) -> Option<(String, Value)> {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                self.problem(file, None, None, e.to_string());
                return None;
            }
        };
        let bytes = bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .map_or(bytes.clone(), <[u8]>::to_vec);
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                self.problem(file, None, None, "not valid UTF-8".to_owned());
                return None;
            }
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => Some((text, v)),
            Err(e) => {
                self.problem(
                    file,
                    u32::try_from(e.line()).ok(),
                    u32::try_from(e.column()).ok(),
                    format!("invalid JSON: {}", json_message(&e)),
                );
                None
            }
        }
    }

    /// Every `BAG/` directory under each data bag path, with its `ITEM.json` files.
    fn load_bags(&mut self, dirs: &[PathBuf]) -> Result<(), ObjectsError> {
        for dir in dirs {
            for bag_dir in entries(dir)? {
                if !bag_dir.is_dir() {
                    continue;
                }
                let Some(bag) = bag_dir
                    .file_name()
                    .and_then(|s| s.to_str())
                    .map(str::to_owned)
                else {
                    continue;
                };
                if !valid_name(ObjectKind::DataBag, &bag) {
                    self.problem(
                        &bag_dir,
                        None,
                        None,
                        format!(
                            "'{bag}' is not a valid data bag name (letters, digits, '_', '-', '.')"
                        ),
                    );
                    continue;
                }
                let bag_id = ObjectId::data_bag(bag.clone());
                if self.objects.contains_key(&bag_id) {
                    self.warnings.push(format!(
                        "{}: data bag '{bag}' is also in an earlier data_bag_path directory; using that one",
                        bag_dir.display()
                    ));
                    continue;
                }
                let json =
                    super::normalize(ObjectKind::DataBag, &serde_json::json!({ "name": bag }));
                self.keep(RepoObject {
                    id: bag_id,
                    json,
                    source: bag_dir.clone(),
                    body: serde_json::to_vec(&serde_json::json!({ "name": bag }))
                        .expect("JSON values serialize"),
                });
                for file in entries(&bag_dir)? {
                    if file.extension().and_then(|s| s.to_str()) != Some("json") || !file.is_file()
                    {
                        continue;
                    }
                    let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else {
                        continue;
                    };
                    if let Some(item) = self.read_item(&bag, &file, stem) {
                        self.keep(item);
                    }
                }
            }
        }
        Ok(())
    }

    /// One data bag item: sent as its file's bytes when the file is the item itself.
    fn read_item(&mut self, bag: &str, file: &Path, stem: &str) -> Option<RepoObject> {
        if !valid_name(ObjectKind::DataBagItem, stem) {
            self.problem(
                file,
                None,
                None,
                format!(
                    "'{stem}' is not a valid data bag item id (letters, digits, '_', '-', '.')"
                ),
            );
            return None;
        }
        let (text, parsed) = self.parse_json_file(file)?;
        if !parsed.is_object() {
            self.problem(
                file,
                Some(1),
                None,
                "a data bag item must be a JSON object".to_owned(),
            );
            return None;
        }
        let mut item = super::normalize(ObjectKind::DataBagItem, &parsed);
        match item.get("id") {
            None | Some(Value::Null) => item["id"] = Value::from(stem),
            Some(Value::String(id)) if id == stem => {}
            Some(other) => {
                let shown = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned);
                self.problem(
                    file,
                    key_line(&text, "id"),
                    None,
                    format!("id '{shown}' differs from the file name ('{stem}')"),
                );
                return None;
            }
        }
        // The file itself is the request body when it already is the item (the usual case,
        // and always for `knife data bag from file` input): ciphertext travels untouched.
        let body = if item == parsed {
            text.into_bytes()
        } else {
            serde_json::to_vec(&item).expect("JSON values serialize")
        };
        Some(RepoObject {
            id: ObjectId::data_bag_item(bag, stem),
            json: item,
            source: file.to_path_buf(),
            body,
        })
    }
}

/// serde_json's message without its own ` at line L column C` suffix (the problem has them).
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// The 1-based line of the first `"key":` in `text` (for problems about a key's value).
fn key_line(text: &str, key: &str) -> Option<u32> {
    let quoted = serde_json::to_string(key).ok()?;
    let mut from = 0;
    while let Some(i) = text[from..].find(&quoted) {
        let at = from + i;
        let rest = text[at + quoted.len()..].trim_start();
        if rest.starts_with(':') {
            let line = text[..at].bytes().filter(|&b| b == b'\n').count() + 1;
            return u32::try_from(line).ok();
        }
        from = at + quoted.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn paths(root: &Path) -> ObjectPaths {
        ObjectPaths::under(&[root.to_path_buf()])
    }

    #[test]
    fn a_repository_without_object_directories_has_no_objects() {
        let tmp = tempfile::tempdir().unwrap();
        let objects = load(&paths(tmp.path()), &BTreeMap::new()).unwrap();
        assert!(objects.is_empty() && objects.warnings.is_empty());
    }

    #[test]
    fn roles_environments_and_bags_are_read_normalised_and_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(
            r,
            "roles/web.json",
            r#"{"name": "web", "run_list": ["nginx"]}"#,
        );
        write(r, "roles/db.rb", "name 'db'\nrun_list 'recipe[pg]'\n");
        write(
            r,
            "environments/prod.json",
            r#"{"cookbook_versions": {"nginx": "~> 2.0"}}"#,
        );
        write(r, "environments/_default.json", r#"{"name": "_default"}"#);
        let secret = "{\n  \"id\": \"db\",\n  \"pw\": {\"encrypted_data\": \"abc=\", \"iv\": \"x\", \"version\": 1, \"cipher\": \"aes-256-cbc\"}\n}\n";
        write(r, "data_bags/creds/db.json", secret);
        std::fs::create_dir_all(r.join("data_bags/empty")).unwrap();
        write(r, "roles/README.md", "ignored");
        let objects = load(&paths(r), &BTreeMap::new()).unwrap();
        let ids: Vec<String> = objects.objects.iter().map(|o| o.id.to_string()).collect();
        assert_eq!(
            ids,
            [
                "role[db]",
                "role[web]",
                "environment[prod]",
                "data_bag[creds]",
                "data_bag[empty]",
                "data_bag_item[creds/db]"
            ]
        );
        let web = objects.get(&ObjectId::role("web")).unwrap();
        assert_eq!(web.json["run_list"], json!(["recipe[nginx]"]));
        assert_eq!(web.json["json_class"], "Chef::Role");
        let prod = objects.get(&ObjectId::environment("prod")).unwrap();
        assert_eq!(
            prod.json["name"], "prod",
            "the file name fills a missing name"
        );
        let item = objects
            .get(&ObjectId::data_bag_item("creds", "db"))
            .unwrap();
        assert_eq!(
            item.body,
            secret.as_bytes(),
            "the file's bytes, as they are"
        );
        assert!(
            objects.warnings[0].contains("_default"),
            "{:?}",
            objects.warnings
        );
    }

    #[test]
    fn every_problem_is_reported_with_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(r, "roles/web.json", "{\n  \"name\": \"webserver\"\n}\n");
        write(
            r,
            "roles/bad.json",
            "{\n  \"name\": \"bad\",\n  \"run_list\": [\"nginx\",]\n}\n",
        );
        write(r, "roles/rl.json", "{\n  \"run_list\": [\"foo[bar]\"]\n}\n");
        write(
            r,
            "environments/prod.json",
            "{\n  \"cookbook_versions\": {\n    \"nginx\": \"!= 1.0\"\n  }\n}\n",
        );
        write(
            r,
            "environments/stage.rb",
            "name 'stage'\ncookbook 'x', 'bogus'\n",
        );
        write(
            r,
            "data_bags/users/alice.json",
            "{\n\n  \"id\": \"bob\"\n}\n",
        );
        write(r, "roles/twice.json", "{}");
        write(r, "roles/twice.rb", "");
        let ObjectsError::Invalid { problems } = load(&paths(r), &BTreeMap::new()).unwrap_err()
        else {
            panic!("expected Invalid");
        };
        let shown: Vec<String> = problems
            .iter()
            .map(|p| {
                format!(
                    "{}:{}",
                    p.position.file.strip_prefix(r).unwrap().display(),
                    p.position.line.unwrap_or(0)
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                "roles/bad.json:3",
                "roles/rl.json:2",
                "roles/twice.rb:0",
                "roles/web.json:2",
                "environments/prod.json:3",
                "environments/stage.rb:2",
                "data_bags/users/alice.json:3"
            ],
            "{problems:#?}"
        );
        let bad_json = &problems[0].position;
        assert!(
            bad_json.column.is_some(),
            "invalid JSON has a column: {bad_json:?}"
        );
        let text = ObjectsError::Invalid { problems }.to_string();
        assert!(
            text.contains("name 'webserver' differs from the file name ('web')"),
            "{text}"
        );
        assert!(text.contains("foo[bar]") && text.contains("'!='"), "{text}");
    }

    #[test]
    fn the_first_directory_of_a_path_wins() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write(a.path(), "roles/web.json", r#"{"description": "a"}"#);
        write(b.path(), "roles/web.json", r#"{"description": "b"}"#);
        let p = ObjectPaths::under(&[a.path().into(), b.path().into()]);
        let objects = load(&p, &BTreeMap::new()).unwrap();
        assert_eq!(objects.objects.len(), 1);
        assert_eq!(objects.objects[0].json["description"], "a");
        assert_eq!(objects.warnings.len(), 1);
    }

    #[test]
    fn key_line_finds_keys_not_values() {
        let text = "{\n \"a\": \"name\",\n \"name\" : 1}";
        assert_eq!(key_line(text, "name"), Some(3));
        assert_eq!(key_line(text, "zzz"), None);
    }
}
