//! `Policyfile.lock.json`: read (chef-cli's current format and ChefDK's older ones), validated
//! as chef-cli validates it, and written back byte for byte.
//!
//! The document is kept whole with its key order, so a lock read and written again is
//! unchanged; the typed view ([`CookbookLock`]) is what push and the identifier check need.
//! Reading never rewrites the file (unlike `chef push`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::identifier;
use super::json::to_lock_string;

/// Why a lock file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}:{line}:{column}: not valid JSON: {message}", path.display())]
    Json {
        /// The lock file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The JSON is not a valid policy lock (what chef-cli's lock validation refuses).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The lock file.
        path: PathBuf,
        /// What is wrong, naming the key (and cookbook).
        message: String,
    },
}

/// Where a locked cookbook's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockSource {
    /// A path (or `chef_repo`) cookbook: `source` relative to the lock's directory.
    Local {
        /// `source` as written (e.g. `cookbooks/app`, `../cookbooks/app`, `.`).
        path: String,
        /// `scm_info.revision`, when the cookbook was in a git work tree.
        scm_revision: Option<String>,
    },
    /// A cookbook chef-cli kept in its cache (Supermarket, Artifactory, git, Chef server).
    Cached {
        /// `cache_key` (`None` when a hand-edited lock left it out).
        cache_key: Option<String>,
        /// `origin`, when given.
        origin: Option<String>,
    },
}

/// One entry of `cookbook_locks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookbookLock {
    /// Cookbook name (the key).
    pub name: String,
    /// `version`.
    pub version: String,
    /// `identifier`.
    pub identifier: String,
    /// `dotted_decimal_identifier`.
    pub dotted_decimal_identifier: String,
    /// Local or cached.
    pub source: LockSource,
    /// `source_options` (`path`, `git`+`revision`, `artifactserver`+`version`, ...).
    pub source_options: Map<String, Value>,
}

impl CookbookLock {
    /// A `source_options` string value.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.source_options.get(key).and_then(Value::as_str)
    }
}

/// A policy lock: the whole document plus a typed view of its cookbooks.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyLock {
    path: PathBuf,
    document: Map<String, Value>,
    name: String,
    run_list: Vec<String>,
    cookbooks: Vec<CookbookLock>,
}

impl PolicyLock {
    /// Reads and validates the lock at `path`.
    ///
    /// # Errors
    /// [`LockError`] naming the file.
    pub fn load(path: &Path) -> Result<Self, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates lock text; `path` is where it lives (relative `source` paths
    /// resolve against its directory, errors name it).
    ///
    /// # Errors
    /// [`LockError::Json`] or [`LockError::Invalid`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, LockError> {
        let value: Value = serde_json::from_str(text).map_err(|e| LockError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Self::from_document(value, path)
    }

    /// Validates a lock document as chef-cli does when reading one.
    ///
    /// # Errors
    /// [`LockError::Invalid`] naming the key at fault.
    pub fn from_document(value: Value, path: &Path) -> Result<Self, LockError> {
        let invalid = |message: String| LockError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let Value::Object(document) = value else {
            return Err(invalid("the lock is not a JSON object".into()));
        };
        let name = match document.get("name") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(invalid("`name` must be a non-empty string".into())),
        };
        let run_list = run_list_items(document.get("run_list"), "run_list").map_err(invalid)?;
        if let Some(named) = document.get("named_run_lists") {
            let named = named
                .as_object()
                .ok_or_else(|| invalid("`named_run_lists` must be an object".into()))?;
            for (list, items) in named {
                run_list_items(Some(items), &format!("named_run_lists.{list}")).map_err(invalid)?;
            }
        }
        if let Some(id) = document.get("revision_id")
            && !id.as_str().is_some_and(is_server_id)
        {
            return Err(invalid(
                "`revision_id` must be a string of 1-255 characters [.A-Za-z0-9_:-]".into(),
            ));
        }
        let locks = document
            .get("cookbook_locks")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("`cookbook_locks` must be an object".into()))?;
        let cookbooks = locks
            .iter()
            .map(|(name, lock)| cookbook_lock(name, lock).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;
        for key in ["default_attributes", "override_attributes"] {
            if let Some(v) = document.get(key)
                && !v.is_object()
            {
                return Err(invalid(format!("`{key}` must be an object")));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            document,
            name,
            run_list,
            cookbooks,
        })
    }

    /// The file it was read from (or will be written to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory relative `source` paths resolve against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The policy name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The run list (fully qualified `recipe[C::R]` items).
    pub fn run_list(&self) -> &[String] {
        &self.run_list
    }

    /// The cookbook locks in the document's order.
    pub fn cookbooks(&self) -> &[CookbookLock] {
        &self.cookbooks
    }

    /// The whole document, key order kept.
    pub fn document(&self) -> &Map<String, Value> {
        &self.document
    }

    /// `revision_id` as the file has it (ChefDK's first locks had none).
    pub fn revision_id(&self) -> Option<&str> {
        self.document.get("revision_id").and_then(Value::as_str)
    }

    /// The revision id chef-cli would compute for this document ([`identifier::revision_id`]).
    pub fn computed_revision_id(&self) -> String {
        identifier::revision_id(&self.document)
    }

    /// The revision id a push uses: the file's, else the computed one. A given id is never
    /// recomputed (older tools hashed other text, and the server knows it by that id).
    pub fn effective_revision_id(&self) -> String {
        self.revision_id()
            .map_or_else(|| self.computed_revision_id(), str::to_owned)
    }

    /// The document a push sends to `PUT /policy_groups/G/policies/N`: the lock itself, with
    /// `revision_id` added in front when the file has none.
    pub fn policy_document(&self) -> Value {
        if self.revision_id().is_some() {
            return Value::Object(self.document.clone());
        }
        let mut doc = Map::new();
        doc.insert(
            "revision_id".into(),
            Value::String(self.computed_revision_id()),
        );
        doc.extend(self.document.clone());
        Value::Object(doc)
    }

    /// The lock as chef-cli writes it (FFI_Yajl pretty output, final newline).
    pub fn to_lock_string(&self) -> String {
        to_lock_string(&Value::Object(self.document.clone()))
    }

    /// Writes [`to_lock_string`](Self::to_lock_string) to [`path`](Self::path).
    ///
    /// # Errors
    /// [`LockError::Io`].
    pub fn save(&self) -> Result<(), LockError> {
        std::fs::write(&self.path, self.to_lock_string()).map_err(|source| LockError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Is `s` a name or id erchef accepts (`^[.A-Za-z0-9_:-]{1,255}$`)?
pub fn is_server_id(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Is `item` a fully qualified run-list item, `recipe[COOKBOOK::RECIPE]`?
pub fn is_qualified_recipe(item: &str) -> bool {
    item.strip_prefix("recipe[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.split_once("::"))
        .is_some_and(|(cookbook, recipe)| {
            !cookbook.is_empty()
                && !recipe.is_empty()
                && !inner_has_bad_chars(cookbook)
                && !inner_has_bad_chars(recipe)
        })
}

fn inner_has_bad_chars(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_whitespace() || matches!(c, '[' | ']'))
}

fn run_list_items(value: Option<&Value>, key: &str) -> Result<Vec<String>, String> {
    let items = value
        .and_then(Value::as_array)
        .ok_or_else(|| format!("`{key}` must be an array"))?;
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(s) if is_qualified_recipe(s) => Ok(s.to_owned()),
            _ => Err(format!(
                "`{key}` item {item} is not a fully qualified recipe (`recipe[COOKBOOK::RECIPE]`)"
            )),
        })
        .collect()
}

fn cookbook_lock(name: &str, lock: &Value) -> Result<CookbookLock, String> {
    let obj = lock
        .as_object()
        .ok_or_else(|| format!("cookbook_locks.{name} must be an object"))?;
    let string = |key: &str| -> Result<String, String> {
        obj.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("cookbook_locks.{name}.{key} must be a string"))
    };
    let version = string("version")?;
    let identifier = string("identifier")?;
    if !is_server_id(&identifier) {
        return Err(format!(
            "cookbook_locks.{name}.identifier {identifier:?} is not a valid identifier"
        ));
    }
    let dotted_decimal_identifier = string("dotted_decimal_identifier")?;
    let source_options = obj
        .get("source_options")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| format!("cookbook_locks.{name}.source_options must be an object"))?;
    let local_source = obj.get("source").and_then(Value::as_str);
    let source = match obj.get("cache_key") {
        Some(Value::Null) => LockSource::Local {
            path: local_source
                .ok_or_else(|| {
                    format!("cookbook_locks.{name}.source must be a string (cache_key is null)")
                })?
                .to_owned(),
            scm_revision: obj
                .get("scm_info")
                .and_then(|s| s.get("revision"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        Some(Value::String(key)) => LockSource::Cached {
            cache_key: Some(key.clone()),
            origin: obj.get("origin").and_then(Value::as_str).map(str::to_owned),
        },
        Some(_) => {
            return Err(format!(
                "cookbook_locks.{name}.cache_key must be a string or null"
            ));
        }
        // Hand-edited locks leave it out; chef-cli refuses them, we read them and decide by
        // `source` (their files must then come from a path or be on the server already).
        None => match local_source {
            Some(path) => LockSource::Local {
                path: path.to_owned(),
                scm_revision: None,
            },
            None => LockSource::Cached {
                cache_key: None,
                origin: obj.get("origin").and_then(Value::as_str).map(str::to_owned),
            },
        },
    };
    Ok(CookbookLock {
        name: name.to_owned(),
        version,
        identifier,
        dotted_decimal_identifier,
        source,
        source_options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_list_items_must_be_fully_qualified() {
        assert!(is_qualified_recipe("recipe[apt::default]"));
        assert!(!is_qualified_recipe("recipe[apt]"));
        assert!(!is_qualified_recipe("role[web]"));
        assert!(!is_qualified_recipe("apt::default"));
        let err = PolicyLock::parse(
            r#"{"name":"p","run_list":["recipe[a]"],"cookbook_locks":{}}"#,
            Path::new("p.lock.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("p.lock.json") && err.contains("recipe[a]"),
            "{err}"
        );
    }

    #[test]
    fn cookbook_locks_need_their_keys_and_a_local_source() {
        let doc = |lock: &str| {
            format!(
                r#"{{"name":"p","run_list":["recipe[a::default]"],"cookbook_locks":{{"a":{lock}}}}}"#
            )
        };
        let path = Path::new("x.lock.json");
        let err = PolicyLock::parse(&doc(r#"{"version":"1.0.0"}"#), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cookbook_locks.a.identifier"), "{err}");
        let err = PolicyLock::parse(
            &doc(
                r#"{"version":"1.0.0","identifier":"ab","dotted_decimal_identifier":"1.2.3","cache_key":null,"source_options":{}}"#,
            ),
            path,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("cookbook_locks.a.source"), "{err}");
        let lock = PolicyLock::parse(
            &doc(
                r#"{"version":"1.0.0","identifier":"ab","dotted_decimal_identifier":"1.2.3","cache_key":"a-1.0.0-supermarket.chef.io","origin":"https://x/a","source_options":{"artifactserver":"https://x/a","version":"1.0.0"}}"#,
            ),
            path,
        )
        .unwrap();
        assert_eq!(
            lock.cookbooks()[0].source,
            LockSource::Cached {
                cache_key: Some("a-1.0.0-supermarket.chef.io".into()),
                origin: Some("https://x/a".into())
            }
        );
        assert_eq!(lock.cookbooks()[0].option("version"), Some("1.0.0"));
    }

    #[test]
    fn a_lock_without_revision_id_gets_one_in_front_for_the_server() {
        let lock = PolicyLock::parse(
            r#"{"name":"p","run_list":["recipe[a::default]"],"cookbook_locks":{}}"#,
            Path::new("p.lock.json"),
        )
        .unwrap();
        assert_eq!(lock.revision_id(), None);
        let doc = lock.policy_document();
        let first = doc.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(first, "revision_id");
        assert_eq!(doc["revision_id"], lock.computed_revision_id());
        assert_eq!(lock.effective_revision_id().len(), 64);
    }
}
