//! The Policyfile DSL: a table of handlers for the sandboxed Ruby evaluator
//! ([`chef_api::ruby`]) that fills a [`Policyfile`], as chef-cli's `PolicyfileDSL` defines it:
//!
//! * `name "N"`;
//! * `default_source :supermarket [URL]` (`:community`), `:chef_server URL`, `:chef_repo PATH`,
//!   `:artifactory URL`, `:delivery_supermarket URL` (several allowed);
//! * `cookbook "c"[, "~> 1.2"][, path: | git: (branch:/tag:/ref:/rel:) | github: "o/r"]`
//!   (`chef_server:`, `chef_server_artifact:`, `artifactory:` per cookbook are refused with a
//!   message: chef-sync does not fetch those);
//! * `run_list "a", "b::c"`, `named_run_list :deploy, "b::c"`;
//! * `default["k"] = v`, `override["k"] = v` (one level of index; nested values as hashes:
//!   `default["app"] = { "port" => 80 }`);
//! * `include_policy "base", path: "base.lock.json"` (path sources only);
//! * `metadata` (the cookbook next to the Policyfile, as a path cookbook).

use std::path::{Path, PathBuf};

use chef_api::ruby::{Block, Call, CallError, Dsl, EvalError, Interpreter, Value, Warning};
use serde_json::{Map, Value as Json};

use crate::berkshelf::GitLocation;

/// Why a Policyfile could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyfileError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The Policyfile.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Evaluation failed or a DSL call was invalid (`file:line:column: message`).
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The Policyfile is incomplete.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The Policyfile.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
}

/// A `default_source` line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultSource {
    /// `:supermarket` / `:community` (default `https://supermarket.chef.io`), or
    /// `:delivery_supermarket URL`.
    Supermarket {
        /// The Supermarket URL.
        url: String,
    },
    /// `:chef_server URL`.
    ChefServer {
        /// The organisation URL.
        url: String,
    },
    /// `:chef_repo PATH` (relative to the Policyfile's directory).
    ChefRepo {
        /// The path as written.
        path: String,
    },
    /// `:artifactory URL`.
    Artifactory {
        /// The repository URL.
        url: String,
    },
}

/// Where a `cookbook` line fixes a cookbook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CookbookSource {
    /// No location: resolved from the default sources.
    Default,
    /// `path:` (relative to the Policyfile's directory).
    Path(String),
    /// `git:` / `github:`.
    Git(GitLocation),
}

/// A `cookbook` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookbookSpec {
    /// Cookbook name.
    pub name: String,
    /// Version constraint as written (`None`: any).
    pub constraint: Option<String>,
    /// Location.
    pub source: CookbookSource,
}

/// An `include_policy` line (path form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludedPolicy {
    /// Name given.
    pub name: String,
    /// The lock file, relative to the Policyfile's directory.
    pub path: String,
}

/// What a Policyfile declares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policyfile {
    /// `name`.
    pub name: String,
    /// `default_source` lines, in order.
    pub default_sources: Vec<DefaultSource>,
    /// `cookbook` lines (and `metadata`), in order.
    pub cookbooks: Vec<CookbookSpec>,
    /// `run_list` items as written.
    pub run_list: Vec<String>,
    /// `named_run_list` lists, in order.
    pub named_run_lists: Vec<(String, Vec<String>)>,
    /// `default[...]` attributes.
    pub default_attributes: Map<String, Json>,
    /// `override[...]` attributes.
    pub override_attributes: Map<String, Json>,
    /// `include_policy` lines.
    pub included_policies: Vec<IncludedPolicy>,
}

/// An evaluated Policyfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The model.
    pub policyfile: Policyfile,
    /// Non-fatal findings.
    pub warnings: Vec<Warning>,
}

/// Reads and evaluates the Policyfile at `path` with `interp`.
///
/// # Errors
/// [`PolicyfileError`] naming the file (and line, column).
pub fn load(path: &Path, interp: &Interpreter) -> Result<Evaluated, PolicyfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyfileError::Io {
        path: path.to_owned(),
        source,
    })?;
    evaluate(&text, path, interp)
}

/// Evaluates Policyfile `source` text (`path` for `__FILE__`, errors and `metadata`).
///
/// # Errors
/// [`PolicyfileError`]; a Policyfile without `name` or `run_list` is
/// [`PolicyfileError::Invalid`].
pub fn evaluate(
    source: &str,
    path: &Path,
    interp: &Interpreter,
) -> Result<Evaluated, PolicyfileError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let mut dsl = PolicyDsl {
        dir,
        interp: interp.clone(),
        model: Policyfile::default(),
        warnings: Vec::new(),
    };
    let ev = interp.eval(source, path, &mut dsl)?;
    let invalid = |message: &str| PolicyfileError::Invalid {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    if dsl.model.name.is_empty() {
        return Err(invalid("the Policyfile has no `name`"));
    }
    if dsl.model.run_list.is_empty() && dsl.model.included_policies.is_empty() {
        return Err(invalid("the Policyfile's `run_list` is empty"));
    }
    let mut warnings = ev.warnings;
    warnings.append(&mut dsl.warnings);
    Ok(Evaluated {
        policyfile: dsl.model,
        warnings,
    })
}

struct PolicyDsl {
    dir: PathBuf,
    interp: Interpreter,
    model: Policyfile,
    warnings: Vec<Warning>,
}

fn text(key: &str, v: &Value) -> Result<String, CallError> {
    match v {
        Value::Str(s) | Value::Sym(s) => Ok(s.clone()),
        other => Err(format!("{key}: expects a string, got {}", other.inspect()).into()),
    }
}

fn key_name(k: &Value) -> String {
    k.as_str().map_or_else(|| k.inspect(), str::to_owned)
}

/// Run-list items may come as several arguments or as one array.
fn items(key: &str, args: Vec<Value>) -> Result<Vec<String>, CallError> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Value::Array(list) => {
                for i in list {
                    out.push(text(key, &i)?);
                }
            }
            other => out.push(text(key, &other)?),
        }
    }
    Ok(out)
}

const DSL_CALLS: [&str; 10] = [
    "name",
    "default_source",
    "cookbook",
    "run_list",
    "named_run_list",
    "default[]=",
    "override[]=",
    "include_policy",
    "metadata",
    "default",
];

impl Dsl for PolicyDsl {
    fn responds_to(&self, name: &str) -> bool {
        DSL_CALLS.contains(&name) || name == "override"
    }

    fn call(&mut self, call: Call, _block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        match call.name.as_str() {
            "name" => {
                let [v] = call.args.as_slice() else {
                    return Err("name expects one string: name 'my-policy'".into());
                };
                self.model.name = text("name", v)?;
                Ok(Value::Nil)
            }
            "run_list" => {
                self.model.run_list.extend(items("run_list", call.args)?);
                Ok(Value::Nil)
            }
            "named_run_list" => {
                let mut args = call.args.into_iter();
                let name = text(
                    "named_run_list",
                    &args.next().ok_or("named_run_list needs a name")?,
                )?;
                let list = items("named_run_list", args.collect())?;
                if list.is_empty() {
                    return Err(format!("named_run_list {name}: no items").into());
                }
                self.model.named_run_lists.push((name, list));
                Ok(Value::Nil)
            }
            "default" | "override" => {
                Ok(Value::from_json(&Json::Object(if call.name == "default" {
                    self.model.default_attributes.clone()
                } else {
                    self.model.override_attributes.clone()
                })))
            }
            "default[]=" | "override[]=" => {
                let [k, v] = call.args.as_slice() else {
                    return Err("attributes take one key and a value".into());
                };
                let key = text("attribute key", k)?;
                let target = if call.name == "default[]=" {
                    &mut self.model.default_attributes
                } else {
                    &mut self.model.override_attributes
                };
                target.insert(key, v.to_json());
                Ok(v.clone())
            }
            "default_source" => self.default_source(call),
            "cookbook" => self.cookbook(call),
            "include_policy" => self.include_policy(call),
            "metadata" => {
                let loaded = chef_api::cookbook::metadata::load_with(&self.dir, &self.interp)
                    .map_err(|e| format!("metadata: {e}"))?;
                self.model.cookbooks.push(CookbookSpec {
                    name: loaded.metadata.name().to_owned(),
                    constraint: None,
                    source: CookbookSource::Path(".".into()),
                });
                Ok(Value::Nil)
            }
            other => Err(format!("unknown Policyfile call {other}").into()),
        }
    }
}

impl PolicyDsl {
    fn default_source(&mut self, call: Call) -> Result<Value, CallError> {
        let mut args = call.args.into_iter();
        let kind = match args.next() {
            Some(Value::Sym(s)) => s,
            _ => {
                return Err(
                    "default_source expects a source type: :supermarket, :community, :chef_server, :chef_repo, :artifactory or :delivery_supermarket"
                        .into(),
                );
            }
        };
        let arg = args
            .next()
            .map(|v| text("default_source", &v))
            .transpose()?;
        let need = |what: &str| -> Result<String, CallError> {
            arg.clone()
                .ok_or_else(|| format!("default_source :{kind} needs a {what}").into())
        };
        let source = match kind.as_str() {
            "supermarket" | "community" => DefaultSource::Supermarket {
                url: arg
                    .clone()
                    .unwrap_or_else(|| "https://supermarket.chef.io".into()),
            },
            "delivery_supermarket" => DefaultSource::Supermarket { url: need("URL")? },
            "chef_server" => DefaultSource::ChefServer { url: need("URL")? },
            "chef_repo" => DefaultSource::ChefRepo {
                path: need("path")?,
            },
            "artifactory" => DefaultSource::Artifactory { url: need("URL")? },
            other => return Err(format!("unknown default_source type :{other}").into()),
        };
        if !self.model.default_sources.contains(&source) {
            self.model.default_sources.push(source);
        }
        Ok(Value::Nil)
    }

    fn cookbook(&mut self, call: Call) -> Result<Value, CallError> {
        let mut args = call.args.into_iter();
        let name = match args.next() {
            Some(Value::Str(s) | Value::Sym(s)) => s,
            _ => return Err("cookbook needs a name: cookbook 'apt'".into()),
        };
        let mut kwargs = call.kwargs;
        let constraint = match args.next() {
            None => None,
            Some(Value::Str(c)) => Some(c),
            Some(Value::Hash(h)) => {
                kwargs.extend(h);
                None
            }
            Some(other) => {
                return Err(format!(
                    "cookbook '{name}': the constraint must be a string such as '~> 1.0', got {}",
                    other.inspect()
                )
                .into());
            }
        };
        if let Some(c) = &constraint {
            chef_api::version::Constraint::parse(c)
                .map_err(|e| format!("cookbook '{name}': invalid constraint '{c}': {e}"))?;
        }
        let mut opts: Vec<(String, String)> = Vec::new();
        for (k, v) in kwargs {
            let key = key_name(&k);
            match key.as_str() {
                "path" | "git" | "github" | "branch" | "tag" | "ref" | "rel" => {
                    opts.push((key.clone(), text(&key, &v)?));
                }
                "chef_server" | "chef_server_artifact" | "artifactory" | "identifier" => {
                    return Err(format!(
                        "cookbook '{name}': {key}: sources are not fetched by chef-sync's install (use path:, git:, github: or a default_source)"
                    )
                    .into());
                }
                other => {
                    return Err(format!(
                        "cookbook '{name}': unknown option {other}: (expected path:, git:, github:, branch:, tag:, ref:, rel:)"
                    )
                    .into());
                }
            }
        }
        let get = |k: &str| {
            opts.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let source = if let Some(path) = get("path") {
            CookbookSource::Path(path)
        } else if get("git").is_some() || get("github").is_some() {
            let url = match get("github") {
                Some(repo) => {
                    if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
                        return Err(format!(
                            "cookbook '{name}': github: expects 'owner/repository', got '{repo}'"
                        )
                        .into());
                    }
                    format!("https://github.com/{repo}.git")
                }
                None => get("git").unwrap_or_default(),
            };
            CookbookSource::Git(GitLocation {
                url,
                branch: get("branch"),
                tag: get("tag"),
                reference: get("ref"),
                rel: get("rel"),
            })
        } else {
            CookbookSource::Default
        };
        if let Some(existing) = self.model.cookbooks.iter().find(|c| c.name == name) {
            return Err(format!(
                "cookbook '{name}' is declared twice (first as {:?})",
                existing.source
            )
            .into());
        }
        self.model.cookbooks.push(CookbookSpec {
            name,
            constraint,
            source,
        });
        Ok(Value::Nil)
    }

    fn include_policy(&mut self, call: Call) -> Result<Value, CallError> {
        let name =
            match call.args.as_slice() {
                [v] => text("include_policy", v)?,
                _ => return Err(
                    "include_policy expects a name: include_policy 'base', path: 'base.lock.json'"
                        .into(),
                ),
            };
        let mut path = None;
        for (k, v) in &call.kwargs {
            match key_name(k).as_str() {
                "path" => path = Some(text("path", v)?),
                other => {
                    return Err(format!(
                        "include_policy '{name}': {other}: sources are not supported by chef-sync's install (use path:)"
                    )
                    .into());
                }
            }
        }
        let path = path.ok_or_else(|| format!("include_policy '{name}' needs path:"))?;
        self.model
            .included_policies
            .push(IncludedPolicy { name, path });
        Ok(Value::Nil)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<Policyfile, String> {
        evaluate(src, Path::new("Policyfile.rb"), &Interpreter::new())
            .map(|e| e.policyfile)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_call_a_generated_policyfile_makes() {
        let p = eval(
            r#"
name "web"
default_source :supermarket
default_source :chef_repo, "../"
run_list "app::default", "base"
named_run_list :deploy, "app::deploy"
cookbook "app", path: "cookbooks/app"
cookbook "nginx", "~> 2.7"
cookbook "users", github: "acme/users", tag: "v1"
default["greeting"] = "hello"
override["app"] = { "port" => 8080 }
"#,
        )
        .unwrap();
        assert_eq!(p.name, "web");
        assert_eq!(
            p.default_sources,
            [
                DefaultSource::Supermarket {
                    url: "https://supermarket.chef.io".into()
                },
                DefaultSource::ChefRepo { path: "../".into() }
            ]
        );
        assert_eq!(p.run_list, ["app::default", "base"]);
        assert_eq!(
            p.named_run_lists,
            [("deploy".to_owned(), vec!["app::deploy".to_owned()])]
        );
        assert_eq!(p.cookbooks[1].constraint.as_deref(), Some("~> 2.7"));
        assert!(matches!(&p.cookbooks[2].source,
            CookbookSource::Git(g) if g.url == "https://github.com/acme/users.git" && g.tag.as_deref() == Some("v1")));
        assert_eq!(p.default_attributes["greeting"], "hello");
        assert_eq!(p.override_attributes["app"]["port"], 8080);
    }

    #[test]
    fn refuses_what_it_cannot_do_with_the_line() {
        let err =
            eval("name 'x'\nrun_list 'a'\ncookbook 'a', chef_server: 'https://c'\n").unwrap_err();
        assert!(err.contains(":3:") && err.contains("chef_server:"), "{err}");
        let err = eval("run_list 'a'\n").unwrap_err();
        assert!(err.contains("no `name`"), "{err}");
        let err = eval("name 'x'\nrun_list 'a'\nsystem('id')\n").unwrap_err();
        assert!(err.contains(":3:"), "{err}");
    }
}
