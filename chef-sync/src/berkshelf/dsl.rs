//! The Berksfile DSL: a table of handlers for the sandboxed Ruby evaluator
//! ([`chef_api::ruby`]) that fills a [`Berksfile`].
//!
//! Handled calls, as Berkshelf 7/8 defines them:
//!
//! * `source URL`, `source :chef_server`, `source chef_server: URL, client_name:, client_key:`,
//!   `source supermarket: URL`, `source artifactory: URL`, `source chef_repo: DIR` — kept in
//!   declaration order, de-duplicated; URLs must be http, https or file.
//! * `metadata` / `metadata path: DIR` — the cookbook at the Berksfile's directory (its name is
//!   read with [`chef_api::cookbook::metadata::load_with`]) as a path dependency.
//! * `cookbook NAME[, CONSTRAINT][, path: | git: | github: (branch:/tag:/ref:/rel:)][, group:]`.
//! * `group :a, :b do ... end` — Berkshelf's semantics: groups do not stack; an inner block
//!   replaces the active groups and leaving it clears them.
//! * `solver` and `extension` — accepted with a warning (chef-sync has one solver, no plugins).
//!
//! Per-cookbook `supermarket:`, `chef_server:`, `artifactserver:`, `artifactory:` (Policyfile
//! options Berkshelf ignores) are warnings. Berkshelf 2's `site :opscode` and `chef_api` are
//! errors that say what to write instead; any other unknown call or option is an error with
//! file, line and column. Plain Ruby (locals, constants, instance variables, `ENV`, `File.*`,
//! `if`, `def` helpers that wrap `cookbook`, `instance_eval(File.read(path))` of a shared
//! fragment) is the evaluator's; give [`load`] an interpreter
//! [`with_dir_glob`](Interpreter::with_dir_glob) to allow `Dir.glob` (as [`prepare`](super::prepare::prepare)
//! does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chef_api::ruby::{Block, Call, CallError, Dsl, EvalError, Interpreter, Value, Warning};
use chef_api::version::Constraint;

use super::{ApiKey, Berksfile, Dependency, GitLocation, Location, Source};

/// Why a Berksfile could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BerksfileError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The Berksfile.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Evaluation failed or a DSL call was invalid (`file:line:column: message`).
    #[error(transparent)]
    Eval(#[from] EvalError),
}

/// An evaluated Berksfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The model.
    pub berksfile: Berksfile,
    /// The Berksfile line that declared each dependency (for error messages).
    pub lines: BTreeMap<String, u32>,
    /// Non-fatal findings (ignored options, `solver`, U+00A0 spaces, ...).
    pub warnings: Vec<Warning>,
}

/// Reads and evaluates the Berksfile at `path` with `interp` (its `ENV`, working directory,
/// file access). Relative `path:`/`chef_repo:` values are kept relative to the Berksfile's
/// directory, as Berkshelf writes them to the lock.
pub fn load(path: &Path, interp: &Interpreter) -> Result<Evaluated, BerksfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| BerksfileError::Io {
        path: path.to_owned(),
        source,
    })?;
    evaluate(&text, path, interp)
}

/// Evaluates Berksfile `source` text; `path` is the file it came from (`__FILE__`, errors,
/// and the directory `metadata` reads).
pub fn evaluate(
    source: &str,
    path: &Path,
    interp: &Interpreter,
) -> Result<Evaluated, BerksfileError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let mut dsl = BerksDsl {
        file: path.to_owned(),
        dir,
        interp: interp.clone(),
        model: Berksfile::default(),
        lines: BTreeMap::new(),
        active_groups: None,
        warnings: Vec::new(),
    };
    let ev = interp.eval(source, path, &mut dsl)?;
    let mut warnings = ev.warnings;
    warnings.append(&mut dsl.warnings);
    Ok(Evaluated {
        berksfile: dsl.model,
        lines: dsl.lines,
        warnings,
    })
}

/// Per-cookbook keys that belong to Policyfiles or Berkshelf 2; Berkshelf ignores them.
const IGNORED_COOKBOOK_KEYS: &[&str] = &[
    "supermarket",
    "chef_server",
    "artifactserver",
    "artifactory",
    "site",
    "chef_api",
];

/// Cookbook keys Berkshelf understands.
const COOKBOOK_KEYS: &[&str] = &[
    "path", "git", "github", "branch", "tag", "ref", "rel", "group", "metadata",
];

struct BerksDsl {
    file: PathBuf,
    dir: PathBuf,
    interp: Interpreter,
    model: Berksfile,
    lines: BTreeMap<String, u32>,
    /// Groups of the innermost `group` block being evaluated.
    active_groups: Option<Vec<String>>,
    warnings: Vec<Warning>,
}

fn key_name(k: &Value) -> String {
    k.as_str().map_or_else(|| k.inspect(), str::to_owned)
}

fn string_value(key: &str, v: &Value) -> Result<String, CallError> {
    match v {
        Value::Str(s) | Value::Sym(s) => Ok(s.clone()),
        other => Err(format!(
            "{key}: expects a string, got {} ({})",
            other.inspect(),
            other.class_name()
        )
        .into()),
    }
}

fn group_names(v: &Value) -> Result<Vec<String>, CallError> {
    match v {
        Value::Array(items) => items.iter().map(|i| string_value("group", i)).collect(),
        other => Ok(vec![string_value("group", other)?]),
    }
}

/// Berkshelf's constraints (semverse) accept a bare major version (`>= 1`, `~> 2`), which
/// means the same as `x.0`; Chef's parser wants at least `x.y`.
fn pad_major(c: &str) -> String {
    let t = c.trim();
    let split = t.find(|ch: char| ch.is_ascii_digit()).unwrap_or(t.len());
    let (op, ver) = t.split_at(split);
    if !ver.is_empty() && ver.bytes().all(|b| b.is_ascii_digit()) {
        format!("{op}{ver}.0")
    } else {
        t.to_owned()
    }
}

fn check_url(url: &str) -> Result<(), CallError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https" | "file") => Ok(()),
        _ => Err(format!(
            "source '{url}' is not a valid source URL: it must start with http://, https:// or file://"
        )
        .into()),
    }
}

impl BerksDsl {
    fn warn(&mut self, line: u32, message: String) {
        self.warnings.push(Warning {
            file: self.file.clone(),
            line,
            message,
        });
    }

    fn source(&mut self, call: Call) -> Result<Value, CallError> {
        let source = match (call.args.as_slice(), call.kwargs.as_slice()) {
            ([Value::Str(url)], []) => {
                check_url(url)?;
                Source::Supermarket { url: url.clone() }
            }
            ([Value::Sym(s)], []) if s == "chef_server" => Source::ChefServer {
                url: None,
                client_name: None,
                client_key: None,
            },
            ([], [(k, v), rest @ ..]) => {
                let kind = key_name(k);
                let url = string_value(&kind, v)?;
                let opt = |name: &str| -> Result<Option<String>, CallError> {
                    rest.iter()
                        .find(|(k, _)| k.as_str() == Some(name))
                        .map(|(_, v)| string_value(name, v))
                        .transpose()
                };
                let allowed: &[&str] = match kind.as_str() {
                    "chef_server" => &["client_name", "client_key"],
                    "artifactory" => &["api_key"],
                    _ => &[],
                };
                if let Some((k, _)) = rest
                    .iter()
                    .find(|(k, _)| !allowed.contains(&key_name(k).as_str()))
                {
                    return Err(
                        format!("source {kind}: does not take the option {}", key_name(k)).into(),
                    );
                }
                match kind.as_str() {
                    "supermarket" => {
                        check_url(&url)?;
                        Source::Supermarket { url }
                    }
                    "chef_server" => {
                        check_url(&url)?;
                        Source::ChefServer {
                            url: Some(url),
                            client_name: opt("client_name")?,
                            client_key: opt("client_key")?.map(PathBuf::from),
                        }
                    }
                    "artifactory" => {
                        check_url(&url)?;
                        Source::Artifactory {
                            url,
                            api_key: opt("api_key")?.map(ApiKey::new),
                        }
                    }
                    "chef_repo" => Source::ChefRepo {
                        path: PathBuf::from(url),
                    },
                    other => {
                        return Err(format!(
                            "unknown source type {other}: (expected a URL string, :chef_server, or one of supermarket:, chef_server:, artifactory:, chef_repo:)"
                        )
                        .into());
                    }
                }
            }
            _ => {
                return Err(
                    "source expects a URL string, :chef_server, or a hash such as chef_server: URL"
                        .into(),
                );
            }
        };
        if !self.model.sources.contains(&source) {
            self.model.sources.push(source);
        }
        Ok(Value::Nil)
    }

    fn metadata(&mut self, call: Call) -> Result<Value, CallError> {
        if !call.args.is_empty() {
            return Err("metadata takes no positional arguments (use metadata path: 'dir')".into());
        }
        let mut rel = ".".to_owned();
        for (k, v) in &call.kwargs {
            match key_name(k).as_str() {
                "path" => rel = string_value("path", v)?,
                other => return Err(format!("metadata does not take the option {other}:").into()),
            }
        }
        let dir = self.dir.join(&rel);
        let interp = self.interp.clone().with_dir_glob(false);
        let loaded = chef_api::cookbook::metadata::load_with(&dir, &interp)
            .map_err(|e| format!("metadata: {e}"))?;
        self.warnings.extend(loaded.warnings);
        let name = loaded.metadata.name().to_owned();
        let dep = Dependency {
            name,
            constraint: Constraint::any(),
            location: Location::Path {
                path: PathBuf::from(rel),
                metadata: true,
            },
            groups: self.groups_for(Vec::new()),
        };
        self.model.metadata = true;
        self.add(dep, call.line)
    }

    fn groups_for(&self, inline: Vec<String>) -> Vec<String> {
        let mut groups = inline;
        for g in self.active_groups.iter().flatten() {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        if groups.is_empty() {
            groups.push("default".to_owned());
        }
        groups
    }

    fn add(&mut self, dep: Dependency, line: u32) -> Result<Value, CallError> {
        if let Some(i) = self
            .model
            .dependencies
            .iter()
            .position(|d| d.name == dep.name)
        {
            let existing = &self.model.dependencies[i];
            if existing.groups.iter().any(|g| dep.groups.contains(g)) {
                let first = self.lines.get(&dep.name).copied().unwrap_or_default();
                return Err(format!(
                    "Your Berksfile contains multiple entries named '{}' (also on line {first}) in the same group. Please remove duplicate dependencies, or put them in different groups.",
                    dep.name
                )
                .into());
            }
            // Disjoint groups: the last one wins, as in Berkshelf's hash.
            self.model.dependencies[i] = dep;
        } else {
            self.lines.insert(dep.name.clone(), line);
            self.model.dependencies.push(dep);
        }
        Ok(Value::Nil)
    }

    fn cookbook(&mut self, call: Call) -> Result<Value, CallError> {
        let mut args = call.args.into_iter();
        let name = match args.next() {
            Some(Value::Str(s) | Value::Sym(s)) => s,
            Some(other) => {
                return Err(
                    format!("cookbook name must be a string, got {}", other.inspect()).into(),
                );
            }
            None => return Err("cookbook needs a name: cookbook 'apt'".into()),
        };
        if !chef_api::universe::is_valid_cookbook_name(&name) {
            return Err(format!("'{name}' is not a valid cookbook name").into());
        }
        let mut kwargs = call.kwargs;
        // `cookbook 'x', '~> 1.0', { git: ... }` with braces arrives as a positional hash.
        let constraint = match args.next() {
            None => Constraint::any(),
            Some(Value::Str(c)) => Constraint::parse(&pad_major(&c))
                .map_err(|e| format!("cookbook '{name}': invalid constraint '{c}': {e}"))?,
            Some(Value::Hash(h)) => {
                kwargs.extend(h);
                Constraint::any()
            }
            Some(other) => {
                return Err(format!(
                    "cookbook '{name}': the constraint must be a string such as '~> 1.0', got {}",
                    other.inspect()
                )
                .into());
            }
        };
        match args.next() {
            None => {}
            Some(Value::Hash(h)) => kwargs.extend(h),
            Some(other) => {
                return Err(format!(
                    "cookbook '{name}': unexpected argument {} (Berkshelf takes one constraint)",
                    other.inspect()
                )
                .into());
            }
        }
        let mut opts: Vec<(String, Value)> = Vec::new();
        for (k, v) in kwargs {
            let key = key_name(&k);
            if IGNORED_COOKBOOK_KEYS.contains(&key.as_str()) {
                self.warn(
                    call.line,
                    format!(
                        "cookbook '{name}': {key}: is not a Berkshelf option (Policyfile/Berkshelf 2); it is ignored and '{name}' resolves from the Berksfile's sources"
                    ),
                );
                continue;
            }
            if !COOKBOOK_KEYS.contains(&key.as_str()) {
                return Err(format!(
                    "cookbook '{name}': unknown option {key}: (expected one of {})",
                    COOKBOOK_KEYS
                        .iter()
                        .map(|k| format!("{k}:"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                .into());
            }
            opts.push((key, v));
        }
        let get = |k: &str| -> Result<Option<String>, CallError> {
            opts.iter()
                .find(|(key, _)| key == k)
                .map(|(key, v)| string_value(key, v))
                .transpose()
        };
        // The first location key given wins, as in Berkshelf.
        let kind = opts
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| matches!(*k, "path" | "git" | "github"));
        let location = match kind {
            None => {
                if let Some((k, _)) = opts
                    .iter()
                    .find(|(k, _)| matches!(k.as_str(), "branch" | "tag" | "ref" | "rel"))
                {
                    return Err(format!("cookbook '{name}': {k}: needs git: or github:").into());
                }
                Location::Supermarket
            }
            Some("path") => Location::Path {
                path: PathBuf::from(get("path")?.unwrap_or_default()),
                metadata: opts.iter().any(|(k, v)| k == "metadata" && v.truthy()),
            },
            Some(kind) => {
                let url = if kind == "github" {
                    let repo = get("github")?.unwrap_or_default();
                    if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
                        return Err(format!(
                            "cookbook '{name}': github: expects 'owner/repository', got '{repo}'"
                        )
                        .into());
                    }
                    format!("https://github.com/{repo}.git")
                } else {
                    get("git")?.unwrap_or_default()
                };
                let git = GitLocation {
                    url,
                    branch: get("branch")?,
                    tag: get("tag")?,
                    reference: get("ref")?,
                    rel: get("rel")?,
                };
                for v in [&git.url]
                    .into_iter()
                    .chain(git.branch.iter())
                    .chain(git.tag.iter())
                    .chain(git.reference.iter())
                {
                    if v.is_empty() || v.starts_with('-') {
                        return Err(format!(
                            "cookbook '{name}': '{v}' is not a usable git URL or revision"
                        )
                        .into());
                    }
                }
                Location::Git(git)
            }
        };
        let inline = match opts.iter().find(|(k, _)| k == "group") {
            Some((_, v)) => group_names(v)?,
            None => Vec::new(),
        };
        let dep = Dependency {
            name,
            constraint,
            location,
            groups: self.groups_for(inline),
        };
        self.add(dep, call.line)
    }

    fn group(&mut self, call: Call, block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        let Some(block) = block else {
            return Err("group needs a block: group :test do ... end".into());
        };
        let groups = call
            .args
            .iter()
            .map(|v| string_value("group", v))
            .collect::<Result<Vec<_>, _>>()?;
        if groups.is_empty() {
            return Err("group needs at least one name: group :test do ... end".into());
        }
        // Berkshelf: the inner block replaces the active groups, and leaving any block clears
        // them (they do not stack, and the outer ones are not restored).
        self.active_groups = Some(groups);
        let result = block.call(self, Vec::new());
        self.active_groups = None;
        result.map_err(CallError::from)
    }
}

impl Dsl for BerksDsl {
    fn responds_to(&self, name: &str) -> bool {
        matches!(
            name,
            "source"
                | "metadata"
                | "cookbook"
                | "group"
                | "solver"
                | "extension"
                | "site"
                | "chef_api"
        )
    }

    fn call(&mut self, call: Call, block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        match call.name.as_str() {
            "source" => self.source(call),
            "metadata" => self.metadata(call),
            "cookbook" => self.cookbook(call),
            "group" => self.group(call, block),
            "solver" | "extension" => {
                let what = call
                    .args
                    .iter()
                    .map(Value::inspect)
                    .collect::<Vec<_>>()
                    .join(", ");
                let message = if call.name == "solver" {
                    format!("solver {what} is ignored: chef-sync always uses its own resolver (newest versions first)")
                } else {
                    format!("extension {what} is ignored: chef-sync has no Berkshelf plugins")
                };
                self.warn(call.line, message);
                Ok(Value::Nil)
            }
            "site" => Err(
                "`site` is Berkshelf 2 syntax and was removed in Berkshelf 3: use source 'https://supermarket.chef.io'"
                    .into(),
            ),
            "chef_api" => Err(
                "`chef_api` is Berkshelf 2 syntax and was removed in Berkshelf 3: use source :chef_server"
                    .into(),
            ),
            other => Err(format!("undefined method '{other}' for a Berksfile").into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<Evaluated, BerksfileError> {
        evaluate(
            src,
            Path::new("/nonexistent/Berksfile"),
            &Interpreter::new(),
        )
    }

    #[test]
    fn groups_do_not_stack() {
        let ev = eval(
            "group :a do\n  cookbook 'x'\n  group :b do\n    cookbook 'y', group: :c\n  end\n  cookbook 'z'\nend\ncookbook 'w'\n",
        )
        .unwrap();
        let groups = |n: &str| ev.berksfile.dependency(n).unwrap().groups.clone();
        assert_eq!(groups("x"), ["a"]);
        assert_eq!(groups("y"), ["c", "b"]);
        // Leaving the inner block clears the active group: 'z' is back in default.
        assert_eq!(groups("z"), ["default"]);
        assert_eq!(groups("w"), ["default"]);
    }

    #[test]
    fn duplicates_error_only_when_groups_overlap() {
        let ev = eval(
            "group :dev do\n cookbook 'x', '~> 1.0'\nend\ngroup :prod do\n cookbook 'x', '~> 2.0'\nend\n",
        )
        .unwrap();
        assert_eq!(ev.berksfile.dependencies.len(), 1);
        assert_eq!(ev.berksfile.dependencies[0].groups, ["prod"]);
        let err = eval("cookbook 'x'\ncookbook 'x', group: [:default, :test]\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/Berksfile:2:1: "), "{err}");
        assert!(err.contains("multiple entries named 'x'"), "{err}");
    }

    #[test]
    fn sources_are_ordered_and_deduplicated() {
        let ev = eval(
            "source 'https://a.example'\nsource :chef_server\nsource chef_server: 'https://chef/organizations/o', client_name: 'ci', client_key: '/k.pem'\nsource 'https://a.example'\nsource supermarket: 'https://b.example'\nsource artifactory: 'https://art/api/chef/r', api_key: 'k'\nsource chef_repo: '..'\n",
        )
        .unwrap();
        let s = &ev.berksfile.sources;
        assert_eq!(s.len(), 6, "{s:?}");
        assert_eq!(
            s[0],
            Source::Supermarket {
                url: "https://a.example".into()
            }
        );
        assert!(matches!(&s[1], Source::ChefServer { url: None, .. }));
        assert!(
            matches!(&s[2], Source::ChefServer { url: Some(u), client_name: Some(c), .. } if u == "https://chef/organizations/o" && c == "ci")
        );
        assert_eq!(
            s[3],
            Source::Supermarket {
                url: "https://b.example".into()
            }
        );
        assert_eq!(
            s[4],
            Source::Artifactory {
                url: "https://art/api/chef/r".into(),
                api_key: Some(ApiKey::new("k")),
            }
        );
        assert!(
            !format!("{:?}", s[4]).contains("\"k\""),
            "the key never shows in Debug"
        );
        assert_eq!(s[5], Source::ChefRepo { path: "..".into() });
        let err = eval("source 'ftp://x'\n").unwrap_err().to_string();
        assert!(
            err.contains(":1:1: source 'ftp://x' is not a valid source URL"),
            "{err}"
        );
    }
}
