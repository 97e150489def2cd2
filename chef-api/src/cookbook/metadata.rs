//! Cookbook metadata: `metadata.json`, or `metadata.rb` evaluated by the sandboxed interpreter.
//!
//! * `metadata.json` wins when present and is taken verbatim (unknown keys and key order kept).
//! * Otherwise `metadata.rb` is evaluated with the [`crate::ruby`] sandbox against a handler
//!   table covering Chef's whole metadata DSL, and the result is shaped exactly like Chef 18's
//!   `Chef::Cookbook::Metadata#to_h`: the same 18 keys in the same order, the same defaults,
//!   versions normalised (`1.2` → `1.2.0`) and constraints re-printed (`~>1.2` → `~> 1.2`).
//!   [`Metadata::to_knife_json`] renders it as `JSON.pretty_generate` does, which is the
//!   `metadata.json` knife adds to the upload.
//! * Legacy calls removed from Chef's output (`recommends`, `suggests`, `conflicts`, `replaces`,
//!   `attribute`, `grouping`) are validated, left out of the JSON (as Chef ≥ 15 does) and reported
//!   as warnings.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::ruby::{Block, Call, CallError, Dsl, EvalError, Interpreter, Missing, Value, Warning};
use crate::version::{Constraint, Version};

/// Where the metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataSource {
    /// `metadata.json` (taken verbatim, wins over metadata.rb).
    Json,
    /// `metadata.rb`, evaluated; knife uploads the compiled JSON as an extra root file.
    Rb,
}

/// A cookbook's metadata as the JSON object that goes into the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    json: Map<String, Json>,
}

/// Why metadata could not be loaded (file, line, column and what was wrong).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Neither `metadata.json` nor `metadata.rb` exists in the directory.
    #[error("{}: no metadata.json or metadata.rb", dir.display())]
    NotFound {
        /// The cookbook directory.
        dir: PathBuf,
    },
    /// A metadata file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `metadata.json` is not valid JSON.
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// `metadata.json` is valid JSON but not an object.
    #[error("{}: metadata.json must contain a JSON object", path.display())]
    NotAnObject {
        /// The file.
        path: PathBuf,
    },
    /// `metadata.rb` failed to evaluate or a DSL call was invalid (positioned).
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// `metadata.rb` never calls `name` (Chef requires it).
    #[error("{}: the cookbook has no `name` (Chef requires `name 'cookbook'` in metadata.rb)", path.display())]
    MissingName {
        /// The file.
        path: PathBuf,
    },
}

/// Loaded metadata with where it came from and the warnings seen while evaluating it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The metadata.
    pub metadata: Metadata,
    /// `metadata.json` or `metadata.rb`.
    pub source: MetadataSource,
    /// Non-fatal findings (ignored legacy calls, U+00A0 spaces, ...).
    pub warnings: Vec<Warning>,
}

impl Metadata {
    /// Wraps an already-parsed metadata object (e.g. from a server manifest), verbatim.
    pub fn from_map(json: Map<String, Json>) -> Self {
        Self { json }
    }

    /// Parses `metadata.json` text verbatim; `path` is used in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, MetadataError> {
        crate::json::check_depth(text.as_bytes(), crate::json::MAX_DEPTH).map_err(|e| {
            MetadataError::Json {
                path: path.to_path_buf(),
                line: e.line,
                column: e.column,
                message: e.to_string(),
            }
        })?;
        let value: Json = serde_json::from_str(text).map_err(|e| MetadataError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        match value {
            Json::Object(json) => Ok(Self { json }),
            _ => Err(MetadataError::NotAnObject {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Evaluates `metadata.rb` source (`path` names it in errors and is `__FILE__`) with
    /// `interp` (its `ENV`, file access and hooks), returning the metadata and any warnings.
    pub fn from_rb_str(
        source: &str,
        path: &Path,
        interp: &Interpreter,
    ) -> Result<(Self, Vec<Warning>), MetadataError> {
        let mut dsl = MetadataDsl::new(path);
        let ev = interp.eval(source, path, &mut dsl)?;
        if dsl.name.is_none() {
            return Err(MetadataError::MissingName {
                path: path.to_path_buf(),
            });
        }
        let mut warnings = ev.warnings;
        warnings.append(&mut dsl.warnings);
        Ok((dsl.into_metadata(), warnings))
    }

    /// The cookbook name (`name`).
    pub fn name(&self) -> &str {
        self.json
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    /// The version string as the manifest carries it.
    pub fn version(&self) -> &str {
        self.json
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("0.0.0")
    }

    /// The `dependencies` map as (cookbook, constraint) pairs, in file order.
    pub fn dependencies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.json
            .get("dependencies")
            .and_then(Json::as_object)
            .into_iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(">= 0.0.0")))
    }

    /// The whole metadata object.
    pub fn as_json(&self) -> &Map<String, Json> {
        &self.json
    }

    /// `metadata.json` exactly as knife writes it when compiling metadata.rb
    /// (`JSON.pretty_generate`: 2-space indent, `"key": value`, `{}`/`[]` when empty,
    /// no trailing newline).
    pub fn to_knife_json(&self) -> String {
        serde_json::to_string_pretty(&self.json).unwrap_or_default()
    }
}

/// Loads a cookbook directory's metadata: `metadata.json` if present, else `metadata.rb`.
///
/// `metadata.rb` is evaluated with an empty `ENV` and the real file system; use
/// [`load_with`] to supply an environment. Warnings are logged with `tracing`.
pub fn load(cookbook_dir: &Path) -> Result<(Metadata, MetadataSource), MetadataError> {
    let loaded = load_with(cookbook_dir, &Interpreter::new())?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    Ok((loaded.metadata, loaded.source))
}

/// Like [`load`], evaluating `metadata.rb` with `interp` and returning the warnings.
pub fn load_with(cookbook_dir: &Path, interp: &Interpreter) -> Result<Loaded, MetadataError> {
    let json_path = cookbook_dir.join("metadata.json");
    match std::fs::read_to_string(&json_path) {
        Ok(text) => {
            return Ok(Loaded {
                metadata: Metadata::from_json_str(&text, &json_path)?,
                source: MetadataSource::Json,
                warnings: Vec::new(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(MetadataError::Io {
                path: json_path,
                source,
            });
        }
    }
    let rb_path = cookbook_dir.join("metadata.rb");
    let text = match std::fs::read_to_string(&rb_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MetadataError::NotFound {
                dir: cookbook_dir.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(MetadataError::Io {
                path: rb_path,
                source,
            });
        }
    };
    let (metadata, warnings) = Metadata::from_rb_str(&text, &rb_path, interp)?;
    Ok(Loaded {
        metadata,
        source: MetadataSource::Rb,
        warnings,
    })
}

/// Every method of the metadata DSL (Chef 18 plus the legacy ones it still tolerates).
const DSL_METHODS: &[&str] = &[
    "name",
    "description",
    "long_description",
    "maintainer",
    "maintainer_email",
    "license",
    "version",
    "source_url",
    "issues_url",
    "privacy",
    "supports",
    "depends",
    "provides",
    "recipe",
    "chef_version",
    "ohai_version",
    "gem",
    "eager_load_libraries",
    "recommends",
    "suggests",
    "conflicts",
    "replaces",
    "attribute",
    "grouping",
];

/// The metadata DSL handler table; fields mirror `Chef::Cookbook::Metadata`.
struct MetadataDsl {
    file: PathBuf,
    name: Option<String>,
    description: String,
    long_description: String,
    maintainer: String,
    maintainer_email: String,
    license: String,
    platforms: Map<String, Json>,
    dependencies: Map<String, Json>,
    providing: Map<String, Json>,
    recipes: Map<String, Json>,
    version: String,
    source_url: String,
    issues_url: String,
    privacy: bool,
    chef_versions: Vec<Vec<String>>,
    ohai_versions: Vec<Vec<String>>,
    gems: Vec<Json>,
    eager_load_libraries: Json,
    warnings: Vec<Warning>,
}

impl MetadataDsl {
    fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            name: None,
            description: String::new(),
            long_description: String::new(),
            maintainer: String::new(),
            maintainer_email: String::new(),
            license: "All rights reserved".to_owned(),
            platforms: Map::new(),
            dependencies: Map::new(),
            providing: Map::new(),
            recipes: Map::new(),
            version: "0.0.0".to_owned(),
            source_url: String::new(),
            issues_url: String::new(),
            privacy: false,
            chef_versions: Vec::new(),
            ohai_versions: Vec::new(),
            gems: Vec::new(),
            eager_load_libraries: Json::Bool(true),
            warnings: Vec::new(),
        }
    }

    /// The JSON of `Chef::Cookbook::Metadata#to_h`, keys in Chef's order.
    fn into_metadata(self) -> Metadata {
        let mut m = Map::new();
        let gem_reqs = |v: Vec<Vec<String>>| {
            Json::Array(
                v.into_iter()
                    .map(|inner| Json::Array(inner.into_iter().map(Json::String).collect()))
                    .collect(),
            )
        };
        m.insert("name".into(), self.name.map_or(Json::Null, Json::String));
        m.insert("description".into(), Json::String(self.description));
        m.insert(
            "long_description".into(),
            Json::String(self.long_description),
        );
        m.insert("maintainer".into(), Json::String(self.maintainer));
        m.insert(
            "maintainer_email".into(),
            Json::String(self.maintainer_email),
        );
        m.insert("license".into(), Json::String(self.license));
        m.insert("platforms".into(), Json::Object(self.platforms));
        m.insert("dependencies".into(), Json::Object(self.dependencies));
        m.insert("providing".into(), Json::Object(self.providing));
        m.insert("recipes".into(), Json::Object(self.recipes));
        m.insert("version".into(), Json::String(self.version));
        m.insert("source_url".into(), Json::String(self.source_url));
        m.insert("issues_url".into(), Json::String(self.issues_url));
        m.insert("privacy".into(), Json::Bool(self.privacy));
        m.insert("chef_versions".into(), gem_reqs(self.chef_versions));
        m.insert("ohai_versions".into(), gem_reqs(self.ohai_versions));
        m.insert("gems".into(), Json::Array(self.gems));
        m.insert("eager_load_libraries".into(), self.eager_load_libraries);
        Metadata { json: m }
    }

    fn string_field(&mut self, field: &str, args: &[Value]) -> Result<Value, CallError> {
        let slot = match field {
            "description" => &mut self.description,
            "long_description" => &mut self.long_description,
            "maintainer" => &mut self.maintainer,
            "maintainer_email" => &mut self.maintainer_email,
            "license" => &mut self.license,
            "source_url" => &mut self.source_url,
            _ => &mut self.issues_url,
        };
        match args {
            [] | [Value::Nil] => Ok(Value::Str(slot.clone())),
            [Value::Str(s)] => {
                slot.clone_from(s);
                Ok(Value::Str(s.clone()))
            }
            [other] => Err(expected(field, "a String", other)),
            _ => Err(arity(field, args.len(), "1")),
        }
    }

    fn set_name(&mut self, args: &[Value]) -> Result<Value, CallError> {
        match args {
            [] | [Value::Nil] => Ok(self.name.clone().map_or(Value::Nil, Value::Str)),
            [Value::Str(s)] => {
                let valid = !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
                if !valid {
                    return Err(CallError::Message(format!(
                        "invalid cookbook name {s:?}: only letters, digits, '.', '_' and '-' are allowed"
                    )));
                }
                self.name = Some(s.clone());
                Ok(Value::Str(s.clone()))
            }
            [other] => Err(expected("name", "a String", other)),
            _ => Err(arity("name", args.len(), "1")),
        }
    }

    fn set_version(&mut self, args: &[Value]) -> Result<Value, CallError> {
        let raw = match args {
            [] | [Value::Nil] => return Ok(Value::Str(self.version.clone())),
            [Value::Str(s)] => s.clone(),
            [v @ (Value::Float(_) | Value::Int(_))] => v.to_ruby_s(),
            [other] => return Err(expected("version", "a String", other)),
            _ => return Err(arity("version", args.len(), "1")),
        };
        let v = Version::parse(&raw).map_err(|_| {
            CallError::Message(format!(
                "invalid version {raw:?}: expected x.y.z or x.y (non-negative integers)"
            ))
        })?;
        self.version = v.to_string();
        Ok(Value::Str(self.version.clone()))
    }

    /// `supports`/`depends`/`provides` and the legacy dependency-like calls:
    /// `(name, [constraint])` → `(name, "OP VERSION")`.
    fn constraint_call(&self, method: &str, args: &[Value]) -> Result<(String, String), CallError> {
        let (target, rest) = match args {
            [Value::Str(s) | Value::Sym(s), rest @ ..] => (s.clone(), rest),
            [other, ..] => return Err(expected(method, "a name (String)", other)),
            [] => return Err(arity(method, 0, "1 or 2")),
        };
        let spec = match rest {
            [] | [Value::Nil] => ">= 0.0.0".to_owned(),
            [Value::Str(s)] => s.clone(),
            [other] => return Err(expected(method, "a version constraint String", other)),
            _ => {
                let shown: Vec<String> = rest.iter().map(Value::inspect).collect();
                return Err(CallError::Message(format!(
                    "{method} '{target}', {}: only one version constraint is allowed",
                    shown.join(", ")
                )));
            }
        };
        let c = Constraint::parse_platform(&spec)
            .map_err(|e| CallError::Message(format!("{method} '{target}', {spec:?}: {e}")))?;
        Ok((target, c.to_string()))
    }

    fn warn(&mut self, line: u32, message: String) {
        self.warnings.push(Warning {
            file: self.file.clone(),
            line,
            message,
        });
    }
}

fn expected(method: &str, what: &str, got: &Value) -> CallError {
    CallError::Message(format!(
        "{method} expects {what}, got {} ({})",
        got.inspect(),
        got.class_name()
    ))
}

fn arity(method: &str, given: usize, expected: &str) -> CallError {
    CallError::Message(format!(
        "wrong number of arguments for {method} (given {given}, expected {expected})"
    ))
}

/// A RubyGems requirement (`chef_version`/`ohai_version`) as `Gem::Requirement` prints it.
fn gem_requirement(method: &str, raw: &str) -> Result<String, CallError> {
    let s = raw.trim();
    let (op, rest) = ["~>", ">=", "<=", "!=", "=", ">", "<"]
        .iter()
        .find_map(|op| s.strip_prefix(op).map(|r| (*op, r)))
        .unwrap_or(("=", s));
    let ver = rest.trim();
    let ok = ver.starts_with(|c: char| c.is_ascii_digit())
        && ver
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !ver.contains("..")
        && !ver.ends_with('.');
    if ok {
        Ok(format!("{op} {ver}"))
    } else {
        Err(CallError::Message(format!(
            "{method}: illformed requirement {raw:?}"
        )))
    }
}

impl Dsl for MetadataDsl {
    fn responds_to(&self, name: &str) -> bool {
        DSL_METHODS.contains(&name)
    }

    /// Chef's `Chef::Cookbook::Metadata#method_missing`: a call without a block to a method
    /// metadata does not have is ignored (Chef logs it at trace level as a possible typo); one
    /// with a block raises `NoMethodError`. `respond_to?` stays false for such names, as in
    /// Chef, which defines no `respond_to_missing?`.
    fn method_missing(&mut self, call: &Call, block_given: bool) -> Missing {
        if block_given {
            return Missing::Undefined;
        }
        Missing::Ignored(format!(
            "`{}` is not a metadata method; ignored, as Chef ignores it (a typo, or metadata of another Chef version?)",
            call.name
        ))
    }

    fn call(&mut self, call: Call, _block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        let mut args = call.args;
        if !call.kwargs.is_empty() {
            args.push(Value::Hash(call.kwargs));
        }
        let method = call.name.as_str();
        match method {
            "name" => self.set_name(&args),
            "version" => self.set_version(&args),
            "description" | "long_description" | "maintainer" | "maintainer_email" | "license"
            | "source_url" | "issues_url" => self.string_field(method, &args),
            "privacy" => match args.as_slice() {
                [] | [Value::Nil] => Ok(Value::Bool(self.privacy)),
                [Value::Bool(b)] => {
                    self.privacy = *b;
                    Ok(Value::Bool(*b))
                }
                [other] => Err(expected("privacy", "true or false", other)),
                _ => Err(arity("privacy", args.len(), "1")),
            },
            "eager_load_libraries" => match args.as_slice() {
                [] | [Value::Nil] => Ok(Value::from_json(&self.eager_load_libraries)),
                [v @ (Value::Bool(_) | Value::Str(_) | Value::Array(_))] => {
                    self.eager_load_libraries = v.to_json();
                    Ok(v.clone())
                }
                [other] => Err(expected(
                    "eager_load_libraries",
                    "true, false, a String or an Array",
                    other,
                )),
                _ => Err(arity("eager_load_libraries", args.len(), "1")),
            },
            "supports" | "provides" => {
                let (target, c) = self.constraint_call(method, &args)?;
                let map = if method == "supports" {
                    &mut self.platforms
                } else {
                    &mut self.providing
                };
                map.insert(target, Json::String(c.clone()));
                Ok(Value::Str(c))
            }
            "depends" => {
                if let (Some(Value::Str(t) | Value::Sym(t)), Some(n)) = (args.first(), &self.name)
                    && t == n
                {
                    return Err(CallError::Message(format!(
                        "cookbook '{n}' depends on itself; remove this self-dependency"
                    )));
                }
                let (target, c) = self.constraint_call(method, &args)?;
                self.dependencies.insert(target, Json::String(c.clone()));
                Ok(Value::Str(c))
            }
            "recommends" | "suggests" | "conflicts" | "replaces" => {
                let (target, _) = self.constraint_call(method, &args)?;
                self.warn(
                    call.line,
                    format!(
                        "`{method} '{target}'` is ignored: Chef removed it from cookbook metadata"
                    ),
                );
                Ok(Value::Nil)
            }
            "attribute" | "grouping" => {
                match args.first() {
                    Some(Value::Str(_)) => {}
                    Some(other) => return Err(expected(method, "a name (String)", other)),
                    None => return Err(arity(method, 0, "1 or 2")),
                }
                self.warn(
                    call.line,
                    format!("`{method}` is ignored: Chef removed it from cookbook metadata"),
                );
                Ok(Value::Nil)
            }
            "recipe" => match args.as_slice() {
                [Value::Str(n) | Value::Sym(n), desc] => {
                    self.recipes.insert(n.clone(), desc.to_json());
                    Ok(desc.clone())
                }
                [other, _] => Err(expected("recipe", "a recipe name (String)", other)),
                _ => Err(arity("recipe", args.len(), "2")),
            },
            "chef_version" | "ohai_version" => {
                let mut flat = Vec::new();
                for a in args {
                    match a {
                        Value::Array(inner) => flat.extend(inner),
                        v => flat.push(v),
                    }
                }
                let mut raw: Vec<String> = Vec::new();
                for v in flat {
                    match v {
                        Value::Nil => {}
                        Value::Str(s) => {
                            if !raw.contains(&s) {
                                raw.push(s);
                            }
                        }
                        other => {
                            return Err(expected(method, "version requirement Strings", &other));
                        }
                    }
                }
                if raw.is_empty() {
                    return Ok(Value::Nil);
                }
                let mut reqs = raw
                    .iter()
                    .map(|r| gem_requirement(method, r))
                    .collect::<Result<Vec<_>, _>>()?;
                reqs.sort();
                let target = if method == "chef_version" {
                    &mut self.chef_versions
                } else {
                    &mut self.ohai_versions
                };
                target.push(reqs);
                Ok(Value::Nil)
            }
            "gem" => {
                if !args.is_empty() {
                    self.gems.push(Value::Array(args).to_json());
                }
                Ok(Value::Nil)
            }
            _ => Err(CallError::Message(format!("undefined method '{method}'"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<(Metadata, Vec<Warning>), MetadataError> {
        Metadata::from_rb_str(src, Path::new("metadata.rb"), &Interpreter::new())
    }

    fn err(src: &str) -> String {
        eval(src).expect_err("must fail").to_string()
    }

    #[test]
    fn defaults_and_key_order_follow_chef_18() {
        let (m, w) = eval("name 'x'").unwrap();
        assert!(w.is_empty());
        let keys: Vec<&str> = m.as_json().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "name",
                "description",
                "long_description",
                "maintainer",
                "maintainer_email",
                "license",
                "platforms",
                "dependencies",
                "providing",
                "recipes",
                "version",
                "source_url",
                "issues_url",
                "privacy",
                "chef_versions",
                "ohai_versions",
                "gems",
                "eager_load_libraries"
            ]
        );
        assert_eq!(m.version(), "0.0.0");
        assert_eq!(m.as_json()["license"], "All rights reserved");
        assert_eq!(m.as_json()["eager_load_libraries"], true);
    }

    #[test]
    fn normalises_versions_and_constraints() {
        let (m, _) = eval("name 'x'\nversion '1.2'\ndepends 'a', '~>1.2'\ndepends 'b', '2.0'\ndepends :c\nsupports 'centos', '>= 7'\nchef_version '< 19', '>=15.3'\n").unwrap();
        assert_eq!(m.version(), "1.2.0");
        let deps: Vec<(&str, &str)> = m.dependencies().collect();
        assert_eq!(deps, [("a", "~> 1.2"), ("b", "= 2.0"), ("c", ">= 0.0.0")]);
        assert_eq!(m.as_json()["platforms"]["centos"], ">= 7");
        assert_eq!(
            m.as_json()["chef_versions"],
            serde_json::json!([["< 19", ">= 15.3"]])
        );
    }

    #[test]
    fn positioned_validation_errors() {
        assert_eq!(
            err("name 'x'\ndepends 'a', '!= 1.0'"),
            "metadata.rb:2:1: depends 'a', \"!= 1.0\": invalid version constraint \"!= 1.0\": '!=' is not a Chef constraint operator (Chef rejects it)"
        );
        assert_eq!(
            err("name 'x'\n  depends 'a', '>= 1.0', '< 2.0'"),
            "metadata.rb:2:3: depends 'a', \">= 1.0\", \"< 2.0\": only one version constraint is allowed"
        );
        assert_eq!(
            err("name 'x'\ndepends 'x'"),
            "metadata.rb:2:1: cookbook 'x' depends on itself; remove this self-dependency"
        );
        assert_eq!(
            err("name 'my cookbook'"),
            "metadata.rb:1:1: invalid cookbook name \"my cookbook\": only letters, digits, '.', '_' and '-' are allowed"
        );
        assert_eq!(
            err("name 'x'\nversion '1.2.3.4'"),
            "metadata.rb:2:1: invalid version \"1.2.3.4\": expected x.y.z or x.y (non-negative integers)"
        );
        assert_eq!(
            err("name 'x'\nmaintainer :me"),
            "metadata.rb:2:1: maintainer expects a String, got :me (Symbol)"
        );
        assert_eq!(
            err("version '1.0.0'"),
            "metadata.rb: the cookbook has no `name` (Chef requires `name 'cookbook'` in metadata.rb)"
        );
    }

    #[test]
    fn json_is_verbatim_and_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("metadata.rb"), "name 'from_rb'\n").unwrap();
        std::fs::write(
            dir.path().join("metadata.json"),
            r#"{"zeta":1,"name":"from_json","version":"1.2","custom":{"b":2,"a":1}}"#,
        )
        .unwrap();
        let (m, src) = load(dir.path()).unwrap();
        assert_eq!(src, MetadataSource::Json);
        assert_eq!(m.name(), "from_json");
        assert_eq!(m.version(), "1.2");
        let keys: Vec<&str> = m.as_json().keys().map(String::as_str).collect();
        assert_eq!(keys, ["zeta", "name", "version", "custom"]);
        std::fs::remove_file(dir.path().join("metadata.json")).unwrap();
        let (m, src) = load(dir.path()).unwrap();
        assert_eq!((m.name(), src), ("from_rb", MetadataSource::Rb));
        std::fs::remove_file(dir.path().join("metadata.rb")).unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(MetadataError::NotFound { .. })
        ));
    }

    #[test]
    fn unknown_methods_without_a_block_are_ignored_as_chef_does() {
        let (m, warnings) = eval(
            "name 'x'\nversion '1.2.3'\nlong_name 'Legacy', ENV.fetch('NOPE', 'd')\n\
             issues_url 'u' if respond_to?(:issues_url)\nsource_url 's' if respond_to?(:colour)\n\
             colour\n",
        )
        .unwrap();
        assert_eq!(m.version(), "1.2.3");
        assert_eq!(m.as_json()["issues_url"], "u");
        assert_eq!(m.as_json()["source_url"], "");
        let lines: Vec<u32> = warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [3, 6]);
        assert!(
            warnings[0].to_string().starts_with(
                "metadata.rb:3: `long_name` is not a metadata method; ignored, as Chef ignores it"
            ),
            "{}",
            warnings[0]
        );
        assert!(m.as_json().get("long_name").is_none());
        // Arguments are evaluated first: their errors stand, and a block keeps it an error.
        assert_eq!(
            err("name 'x'\nlong_name File.read('/nonexistent/README')\n")
                .split(": ")
                .next(),
            Some("metadata.rb:2:11")
        );
        assert_eq!(
            err("name 'x'\nlong_name 'y' do\nend\n"),
            "metadata.rb:2:1: undefined method 'long_name'"
        );
    }

    #[test]
    fn load_with_uses_the_callers_env_and_returns_warnings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metadata.rb"),
            "name 'ci'\nversion \"1.0.#{ENV['BUILD_NUMBER'] || 0}\"\nsuggests 'old'\n",
        )
        .unwrap();
        let interp = Interpreter::new().with_env([("BUILD_NUMBER".to_owned(), "42".to_owned())]);
        let loaded = load_with(dir.path(), &interp).unwrap();
        assert_eq!(loaded.metadata.version(), "1.0.42");
        assert_eq!(loaded.source, MetadataSource::Rb);
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(loaded.warnings[0].line, 3);
        // `load` never reads the process environment.
        let (m, _) = load(dir.path()).unwrap();
        assert_eq!(m.version(), "1.0.0");
    }
}
