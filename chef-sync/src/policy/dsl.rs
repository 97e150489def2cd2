//! The Policyfile DSL: a table of handlers for the sandboxed Ruby evaluator
//! ([`chef_api::ruby`]) that fills a [`Policyfile`], as chef-cli's `PolicyfileDSL` defines it:
//!
//! * `name "N"`;
//! * `default_source :supermarket [URL]` (`:community`), `:chef_server URL`, `:chef_repo PATH`,
//!   `:artifactory URL`, `:delivery_supermarket URL` (several allowed), each with an optional
//!   block `do |s| s.preferred_for "nginx", "mysql" end` naming the cookbooks that source wins
//!   for when several default sources offer them (chef-cli's `preferred_for`; two sources
//!   preferred for one cookbook is an error at the second `preferred_for`);
//! * `cookbook "c"[, "~> 1.2"][, path: | git: (branch:/tag:/ref:/rel:) | github: "o/r"]`;
//!   `chef_server:`, `artifactory:`, `artifactserver:` are accepted and, as in chef-cli, do not
//!   change where the cookbook comes from (it is solved and locked from the default sources);
//!   `chef_server_artifact: URL, identifier: ID` fixes the cookbook to that artifact;
//! * `run_list "a", "b::c"`, `named_run_list :deploy, "b::c"`;
//! * `default["a"]["b"]["c"] = v`, `override[...] = v`, and a read `default["a"]["b"]`:
//!   every level missing on the way is created as an empty hash (a read leaves it there), as
//!   chef-cli's attribute hashes (`Chef::Node::Attribute`'s `VividMash`, chef:
//!   node/attribute_collections.rb) auto-vivify; keys are strings (symbols become strings, as
//!   `Mash` converts them), in the order first written. A value read is a copy: writing into
//!   it (`x = default["a"]; x["b"] = 1`) does not reach the attributes as it would in chef-cli;
//! * `include_policy "base", path: "base.lock.json" | remote: URL | server: URL,
//!   policy_name:, policy_group: / policy_revision_id: | git: URL, path:/rel:,
//!   branch:/tag:/ref:` (cli: policyfile/policyfile_location_specification.rb picks the
//!   fetcher in that order);
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

impl DefaultSource {
    /// How chef-cli names the source in messages (`desc`): `supermarket(URL)`,
    /// `chef_server(URL)`, `chef_repo(PATH)`, `artifactory(URL)`.
    pub fn desc(&self) -> String {
        let (kind, location) = self.args();
        format!("{kind}({location})")
    }

    /// The `default_source` arguments that declare this source (chef-cli's
    /// `default_source_args`): the type and its URL or path.
    pub fn args(&self) -> (&'static str, &str) {
        match self {
            DefaultSource::Supermarket { url } => ("supermarket", url),
            DefaultSource::ChefServer { url } => ("chef_server", url),
            DefaultSource::ChefRepo { path } => ("chef_repo", path),
            DefaultSource::Artifactory { url } => ("artifactory", url),
        }
    }
}

/// A `default_source` line and what its block said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultSourceSpec {
    /// The source.
    pub source: DefaultSource,
    /// `s.preferred_for "a", "b"` in the line's block, in order: the cookbooks this source
    /// wins for when several default sources offer them.
    pub preferred_for: Vec<String>,
    /// 1-based line of the (first) `default_source` call declaring this source.
    pub line: u32,
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
    /// `chef_server_artifact: URL, identifier: ID`: the artifact `GET
    /// cookbook_artifacts/NAME/ID` of that organisation (signed), version-fixed.
    ServerArtifact {
        /// The organisation URL.
        server: String,
        /// The artifact's identifier.
        identifier: String,
    },
}

/// A `cookbook` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookbookSpec {
    /// Cookbook name.
    pub name: String,
    /// 1-based line of the `cookbook` (or `metadata`) call; 0 for a cookbook that did not come
    /// from the Policyfile (a lock pinned by `update`).
    pub line: u32,
    /// Version constraint as written (`None`: any).
    pub constraint: Option<String>,
    /// Location.
    pub source: CookbookSource,
}

/// Where an `include_policy` line takes its lock from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyLocation {
    /// `path:` a lock file (or a directory holding `NAME.lock.json`), relative to the
    /// Policyfile's directory.
    Path(String),
    /// `remote:` a lock fetched with a plain (unsigned) HTTP(S) `GET` of that URL.
    Remote(String),
    /// `server:` a Chef server organisation URL: the lock is the policy `policy_name`'s
    /// revision `policy_revision_id`, or the one `policy_group` points at (signed requests).
    Server {
        /// The organisation URL.
        server: String,
        /// The policy's name on the server (default: the included name).
        policy_name: String,
        /// `policy_group:`.
        policy_group: Option<String>,
        /// `policy_revision_id:`.
        policy_revision_id: Option<String>,
    },
    /// `git:` a repository holding the lock: the file `path:` (or `rel:`; default
    /// `Policyfile.lock.json`) at `ref:`, else `branch:`, else `tag:`, else `master`, as
    /// chef-cli's `GitLockFetcher` reads it.
    Git {
        /// The repository URL.
        url: String,
        /// The lock file's path in the repository.
        path: String,
        /// What `git rev-parse` is given.
        rev_parse: String,
        /// `branch:`.
        branch: Option<String>,
        /// `tag:`.
        tag: Option<String>,
        /// `ref:`.
        reference: Option<String>,
    },
}

/// An `include_policy` line.
#[derive(Debug, Clone, PartialEq)]
pub struct IncludedPolicy {
    /// Name given.
    pub name: String,
    /// Where its lock comes from.
    pub location: PolicyLocation,
    /// The options as written (keys as strings, in order; for `server:` with `policy_name`
    /// appended when it was left out, as chef-cli's `ChefServerLockFetcher` does): what the
    /// lock's `included_policy_locks` entry starts from.
    pub source_options: Map<String, Json>,
    /// 1-based line of the call.
    pub line: u32,
}

/// What a Policyfile declares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policyfile {
    /// `name`.
    pub name: String,
    /// `default_source` lines, in order (a source declared twice is one entry).
    pub default_sources: Vec<DefaultSourceSpec>,
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
        open_source: None,
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
    /// The `default_source` whose block is running (index into `model.default_sources`).
    open_source: Option<usize>,
}

/// The object a `default_source` block receives (`do |s| ... end`).
const SOURCE_OBJECT: &str = "default_source";
/// Its one method, as the evaluator dispatches it.
const PREFERRED_FOR: &str = "default_source#preferred_for";

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

const DSL_CALLS: [&str; 12] = [
    "name",
    "default_source",
    "cookbook",
    "run_list",
    "named_run_list",
    "default[]=",
    "override[]=",
    "default[]",
    "override[]",
    "include_policy",
    "metadata",
    "default",
];

impl Dsl for PolicyDsl {
    fn responds_to(&self, name: &str) -> bool {
        DSL_CALLS.contains(&name) || name == "override" || name == PREFERRED_FOR
    }

    fn call(&mut self, call: Call, block: Option<&mut dyn Block>) -> Result<Value, CallError> {
        match call.name.as_str() {
            "name" => {
                let [v] = call.args.as_slice() else {
                    return Err("name expects one string: name 'my-policy'".into());
                };
                self.model.name = text("name", v)?;
                Ok(Value::Nil)
            }
            "run_list" => {
                // chef-cli's DSL#run_list: items given replace the list (a second `run_list`
                // line wins); none reads it.
                let list = items("run_list", call.args)?;
                if list.is_empty() {
                    return Ok(Value::Array(
                        self.model
                            .run_list
                            .iter()
                            .cloned()
                            .map(Value::Str)
                            .collect(),
                    ));
                }
                self.model.run_list = list;
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
                // chef-cli: `@named_run_lists[name] = items` (a name given twice keeps its
                // place and takes the last items).
                match self
                    .model
                    .named_run_lists
                    .iter_mut()
                    .find(|(n, _)| *n == name)
                {
                    Some((_, existing)) => *existing = list,
                    None => self.model.named_run_lists.push((name, list)),
                }
                Ok(Value::Nil)
            }
            "default" | "override" => {
                Ok(Value::from_json(&Json::Object(if call.name == "default" {
                    self.model.default_attributes.clone()
                } else {
                    self.model.override_attributes.clone()
                })))
            }
            "default[]" | "override[]" => {
                let level = call.name.trim_end_matches("[]");
                let target = if level == "default" {
                    &mut self.model.default_attributes
                } else {
                    &mut self.model.override_attributes
                };
                read_attribute(target, level, &call.args)
            }
            "default[]=" | "override[]=" => {
                let level = call.name.trim_end_matches("[]=");
                let mut args = call.args;
                let value = args
                    .pop()
                    .filter(|_| !args.is_empty())
                    .ok_or_else(|| format!("{level}[...] = takes at least one key and a value"))?;
                let target = if level == "default" {
                    &mut self.model.default_attributes
                } else {
                    &mut self.model.override_attributes
                };
                set_attribute(target, level, &args, value.to_json())?;
                Ok(value)
            }
            "default_source" => self.default_source(call, block),
            PREFERRED_FOR => self.preferred_for(call),
            "cookbook" => self.cookbook(call),
            "include_policy" => self.include_policy(call),
            "metadata" => {
                let loaded = chef_api::cookbook::metadata::load_with(&self.dir, &self.interp)
                    .map_err(|e| format!("metadata: {e}"))?;
                if self.model.name.is_empty() {
                    // chef-cli: `name cookbook_name if name.nil?`
                    loaded.metadata.name().clone_into(&mut self.model.name);
                }
                self.model.cookbooks.push(CookbookSpec {
                    name: loaded.metadata.name().to_owned(),
                    line: call.line,
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
    fn default_source(
        &mut self,
        call: Call,
        block: Option<&mut dyn Block>,
    ) -> Result<Value, CallError> {
        let line = call.line;
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
        let index = match self
            .model
            .default_sources
            .iter()
            .position(|s| s.source == source)
        {
            Some(i) => i,
            None => {
                self.model.default_sources.push(DefaultSourceSpec {
                    source,
                    preferred_for: Vec::new(),
                    line,
                });
                self.model.default_sources.len() - 1
            }
        };
        // chef-cli's sources `yield self` from their constructor: the block runs at once.
        if let Some(block) = block {
            self.open_source = Some(index);
            let result = block.call(self, vec![Value::Opaque(SOURCE_OBJECT)]);
            self.open_source = None;
            result?;
        }
        Ok(Value::Nil)
    }

    /// `s.preferred_for "a", "b"` inside a `default_source` block.
    fn preferred_for(&mut self, call: Call) -> Result<Value, CallError> {
        let Some(index) = self.open_source else {
            return Err("preferred_for is only available inside its default_source block".into());
        };
        let mut names = Vec::new();
        for arg in &call.args {
            match arg {
                Value::Str(name) => names.push(name.clone()),
                other => {
                    return Err(format!(
                        "preferred_for takes cookbook names as strings, got {}",
                        other.inspect()
                    )
                    .into());
                }
            }
        }
        // chef-cli's DSL#handle_preferred_cookbooks_conflicts: one preferred source per cookbook.
        let this = &self.model.default_sources[index];
        for (i, other) in self.model.default_sources.iter().enumerate() {
            if i == index {
                continue;
            }
            let both: Vec<&str> = names
                .iter()
                .filter(|n| other.preferred_for.contains(n))
                .map(String::as_str)
                .collect();
            if !both.is_empty() {
                return Err(format!(
                    "Multiple sources are marked as the preferred source for some cookbooks. Only one source can be preferred for a cookbook: {} and {} are both set as the preferred source for cookbook(s) '{}'",
                    other.source.desc(),
                    this.source.desc(),
                    both.join(", ")
                )
                .into());
            }
        }
        let list = &mut self.model.default_sources[index].preferred_for;
        for name in names {
            if !list.contains(&name) {
                list.push(name);
            }
        }
        Ok(Value::Opaque(SOURCE_OBJECT))
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
                // Not version-fixed locations: chef-cli solves these cookbooks against the
                // default sources and locks them from the one it prefers (cli:
                // policyfile_compiler.rb, create_spec_for_cookbook / best_source_for), so the
                // location only has to be valid; chef-sync does the same.
                "chef_server" | "artifactory" | "artifactserver" => {
                    text(&key, &v)?;
                }
                "chef_server_artifact" | "identifier" => {
                    opts.push((key.clone(), text(&key, &v)?));
                }
                other => {
                    return Err(format!(
                        "cookbook '{name}': unknown option {other}: (expected path:, git:, github:, branch:, tag:, ref:, rel:, chef_server:, artifactory:, artifactserver:, chef_server_artifact:, identifier:)"
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
        let source = if let Some(server) = get("chef_server_artifact")
            .filter(|_| get("git").is_none() && get("github").is_none() && get("path").is_none())
        {
            let identifier = get("identifier").ok_or_else(|| {
                format!("cookbook '{name}': chef_server_artifact: needs identifier:")
            })?;
            CookbookSource::ServerArtifact { server, identifier }
        } else if let Some(path) = get("path") {
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
            line: call.line,
            constraint,
            source,
        });
        Ok(Value::Nil)
    }

    fn include_policy(&mut self, call: Call) -> Result<Value, CallError> {
        let name = match call.args.as_slice() {
            [v] => text("include_policy", v)?,
            _ => {
                return Err(
                    "include_policy expects a name: include_policy 'base', path: 'base.lock.json'"
                        .into(),
                );
            }
        };
        if self.model.included_policies.iter().any(|p| p.name == name) {
            return Err(format!(
                "included policy '{name}' assigned conflicting locations or was already specified"
            )
            .into());
        }
        let mut options = Map::new();
        for (k, v) in &call.kwargs {
            options.insert(key_name(k), v.to_json());
        }
        let get = |k: &str| -> Result<Option<String>, CallError> {
            match options.get(k) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!(
                    "include_policy '{name}': {k}: expects a string, got {other}"
                )
                .into()),
            }
        };
        let missing = |key: &str| -> CallError {
            format!("include_policy for {name} is missing key {key}").into()
        };
        // The order chef-cli picks a fetcher in (cli: policyfile/
        // policyfile_location_specification.rb, #fetcher), and each fetcher's `errors`.
        let location = if let (Some(path), None) = (get("path")?, get("git")?) {
            PolicyLocation::Path(path)
        } else if let Some(remote) = get("remote")? {
            PolicyLocation::Remote(remote)
        } else if let Some(server) = get("server")? {
            let given_name = get("policy_name")?;
            let policy_group = get("policy_group")?;
            let policy_revision_id = get("policy_revision_id")?;
            let policy_name = given_name.unwrap_or_else(|| {
                options.insert("policy_name".into(), Json::String(name.clone()));
                name.clone()
            });
            if policy_group.is_none() && policy_revision_id.is_none() {
                return Err(format!(
                    "include_policy for {name} must specify policy_revision_id or policy_group"
                )
                .into());
            }
            PolicyLocation::Server {
                server,
                policy_name,
                policy_group,
                policy_revision_id,
            }
        } else if let Some(url) = get("git")? {
            let (branch, tag, reference) = (get("branch")?, get("tag")?, get("ref")?);
            let rev_parse = reference
                .clone()
                .or_else(|| branch.clone())
                .or_else(|| tag.clone())
                .unwrap_or_else(|| "master".to_owned());
            PolicyLocation::Git {
                url,
                path: get("path")?
                    .or(get("rel")?)
                    .unwrap_or_else(|| "Policyfile.lock.json".to_owned()),
                rev_parse,
                branch,
                tag,
                reference,
            }
        } else if options.contains_key("path") {
            return Err(missing("path"));
        } else {
            return Err(format!(
                "include_policy '{name}' must use one of the following sources: path, remote, server, git"
            )
            .into());
        };
        self.model.included_policies.push(IncludedPolicy {
            name,
            location,
            source_options: options,
            line: call.line,
        });
        Ok(Value::Nil)
    }
}

/// `default[k1]...[kn] = value` on `attributes`, as chef-cli's `VividMash` does it: each
/// missing level on the way becomes an empty hash; an existing level must be a hash (or an
/// array indexed by an integer), else Ruby's `[]=` on it fails, and so does this.
fn set_attribute(
    attributes: &mut Map<String, Json>,
    level: &str,
    keys: &[Value],
    value: Json,
) -> Result<(), CallError> {
    if keys.is_empty() {
        return Err(format!("{level}[...] = needs a key").into());
    }
    let mut root = Json::Object(std::mem::take(attributes));
    let mut path = level.to_owned();
    let result = set_in(&mut root, &mut path, keys, value);
    if let Json::Object(map) = root {
        *attributes = map;
    }
    result
}

/// `default[k1]...[kn]` read as chef-cli's `VividMash#[]` reads: a key missing from a hash
/// is created there as an empty hash (so it shows in the lock) and read as that; an array is
/// indexed by an integer (nil past its end); below anything else the read fails as Ruby's
/// would.
fn read_attribute(
    attributes: &mut Map<String, Json>,
    level: &str,
    keys: &[Value],
) -> Result<Value, CallError> {
    let mut root = Json::Object(std::mem::take(attributes));
    let mut path = level.to_owned();
    let result = read_in(&mut root, &mut path, keys);
    if let Json::Object(map) = root {
        *attributes = map;
    }
    result
}

fn read_in(container: &mut Json, path: &mut String, keys: &[Value]) -> Result<Value, CallError> {
    let Some((key, rest)) = keys.split_first() else {
        return Ok(Value::from_json(container));
    };
    path.push_str(&format!("[{}]", key.inspect()));
    let next = match container {
        Json::Object(map) => {
            let k = attribute_key(path, key)?;
            map.entry(k).or_insert_with(|| Json::Object(Map::new()))
        }
        Json::Array(items) => {
            let found = array_index(path, key, items.len())?.and_then(|idx| items.get_mut(idx));
            match found {
                Some(v) => v,
                None if rest.is_empty() => return Ok(Value::Nil),
                None => return Err(format!("{path}: undefined method '[]' for nil").into()),
            }
        }
        Json::Null => return Err(format!("{path}: undefined method '[]' for nil").into()),
        other => {
            return Err(format!(
                "{path}: the value there is {}, not a Hash",
                json_class(other)
            )
            .into());
        }
    };
    read_in(next, path, rest)
}

fn set_in(
    container: &mut Json,
    path: &mut String,
    keys: &[Value],
    value: Json,
) -> Result<(), CallError> {
    let Some((key, rest)) = keys.split_first() else {
        return Ok(());
    };
    path.push_str(&format!("[{}]", key.inspect()));
    let next = match container {
        Json::Object(map) => {
            let k = attribute_key(path, key)?;
            if rest.is_empty() {
                map.insert(k, value);
                return Ok(());
            }
            map.entry(k).or_insert_with(|| Json::Object(Map::new()))
        }
        Json::Array(items) => {
            let idx = array_index(path, key, items.len())?
                .ok_or_else(|| format!("{path}: index {} too small for array", key.inspect()))?;
            if rest.is_empty() {
                if idx >= items.len() {
                    if idx > 100_000 {
                        return Err(format!("{path}: index {} too large", key.inspect()).into());
                    }
                    items.resize(idx + 1, Json::Null);
                }
                items[idx] = value;
                return Ok(());
            }
            items
                .get_mut(idx)
                .ok_or_else(|| format!("{path}: undefined method '[]=' for nil"))?
        }
        other => {
            return Err(format!(
                "{path}: the value there is {}, not a Hash",
                json_class(other)
            )
            .into());
        }
    };
    set_in(next, path, rest, value)
}

/// Where Ruby's `array[key]` points in an array of `len` items: an `Integer`, counted from the
/// end when negative; `None` when a negative index reaches before the start.
fn array_index(path: &str, key: &Value, len: usize) -> Result<Option<usize>, CallError> {
    let Value::Int(i) = key else {
        return Err(format!(
            "{path}: no implicit conversion of {} into Integer (the value there is an Array)",
            key.class_name()
        )
        .into());
    };
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    Ok(usize::try_from(if *i < 0 { len.saturating_add(*i) } else { *i }).ok())
}

/// An attribute key as `Mash` stores it: symbols become strings; integers are kept by Ruby
/// and written as their digits in JSON.
fn attribute_key(path: &str, key: &Value) -> Result<String, CallError> {
    match key {
        Value::Str(s) | Value::Sym(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        other => Err(format!(
            "{path}: attribute keys must be strings or symbols, got {}",
            other.class_name()
        )
        .into()),
    }
}

fn json_class(v: &Json) -> &'static str {
    match v {
        Json::Null => "nil",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a String",
        Json::Array(_) => "an Array",
        Json::Object(_) => "a Hash",
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
            p.default_sources
                .iter()
                .map(|s| (&s.source, s.line))
                .collect::<Vec<_>>(),
            [
                (
                    &DefaultSource::Supermarket {
                        url: "https://supermarket.chef.io".into()
                    },
                    3
                ),
                (&DefaultSource::ChefRepo { path: "../".into() }, 4)
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
        let again = eval(
            "name 'x'\nrun_list 'a'\nrun_list 'b', 'c'\nnamed_run_list :d, 'a'\nnamed_run_list :e, 'b'\nnamed_run_list :d, 'c'\n",
        )
        .unwrap();
        assert_eq!(
            again.run_list,
            ["b", "c"],
            "the last run_list wins, as in chef-cli"
        );
        assert_eq!(
            again.named_run_lists,
            [
                ("d".to_owned(), vec!["c".to_owned()]),
                ("e".to_owned(), vec!["b".to_owned()])
            ]
        );
        assert_eq!(p.override_attributes["app"]["port"], 8080);
    }

    #[test]
    fn nested_attributes_auto_vivify_as_chef_cli_attribute_hashes_do() {
        let p = eval(
            r#"
name "web"
run_list "app"
default["app"]["db"]["port"] = 5432
default[:app][:db]["host"] = "db1"
default["app"]["name"] = "shop"
default["list"] = [1, 2]
default["list"][3] = 4
default["app"]["db"]["port"] ||= 1
default["app"]["cache"]["size"] ||= 64
override["a"] = { "b" => { "c" => 1 } }
override["a"]["b"]["d"] = 2
"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&p.default_attributes).unwrap(),
            r#"{"app":{"db":{"port":5432,"host":"db1"},"name":"shop","cache":{"size":64}},"list":[1,2,null,4]}"#
        );
        assert_eq!(
            serde_json::to_string(&p.override_attributes).unwrap(),
            r#"{"a":{"b":{"c":1,"d":2}}}"#
        );
        let err = eval("name 'x'\nrun_list 'a'\ndefault['a'] = 'text'\ndefault['a']['b'] = 1\n")
            .unwrap_err();
        assert!(err.contains(":4:") && err.contains("not a Hash"), "{err}");
    }

    #[test]
    fn reading_a_missing_attribute_level_creates_it_as_chef_cli_vivid_mash_does() {
        let p = eval(
            r#"
name "web"
run_list "app"
x = default["a"]["b"]
default["seen"] = x
default["list"] = [1, { "k" => "v" }]
default["past_end"] = default["list"][5]
default["inner"] = default["list"][1]["k"]
y = override[:o]
override["kept"] = default["list"][0]
"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&p.default_attributes).unwrap(),
            r#"{"a":{"b":{}},"seen":{},"list":[1,{"k":"v"}],"past_end":null,"inner":"v"}"#
        );
        assert_eq!(
            serde_json::to_string(&p.override_attributes).unwrap(),
            r#"{"o":{},"kept":1}"#
        );
        let err = eval("name 'x'\nrun_list 'a'\ndefault['l'] = [1]\nv = default['l'][3]['x']\n")
            .unwrap_err();
        assert!(err.contains(":4:") && err.contains("for nil"), "{err}");
    }

    #[test]
    fn include_policy_locations_follow_chef_cli_fetcher_order() {
        let p = eval(
            r#"
name "web"
run_list "app"
include_policy "base", path: "base.lock.json"
include_policy "remote", remote: "https://example.test/r.lock.json"
include_policy "srv", server: "https://chef.test/organizations/o", policy_group: "prod"
"#,
        )
        .unwrap();
        let locations: Vec<&PolicyLocation> =
            p.included_policies.iter().map(|i| &i.location).collect();
        assert_eq!(
            locations,
            [
                &PolicyLocation::Path("base.lock.json".into()),
                &PolicyLocation::Remote("https://example.test/r.lock.json".into()),
                &PolicyLocation::Server {
                    server: "https://chef.test/organizations/o".into(),
                    policy_name: "srv".into(),
                    policy_group: Some("prod".into()),
                    policy_revision_id: None,
                }
            ]
        );
        // policy_name is appended when left out, as ChefServerLockFetcher#initialize does.
        assert_eq!(
            serde_json::to_string(&p.included_policies[2].source_options).unwrap(),
            r#"{"server":"https://chef.test/organizations/o","policy_group":"prod","policy_name":"srv"}"#
        );
        assert_eq!(p.included_policies[2].line, 6);
        let err = eval(
            "name 'x'\nrun_list 'a'\ninclude_policy 'b', server: 'https://c/organizations/o'\n",
        )
        .unwrap_err();
        assert!(
            err.contains(":3:") && err.contains("must specify policy_revision_id or policy_group"),
            "{err}"
        );
    }

    #[test]
    fn git_include_reads_ref_then_branch_then_tag_then_master() {
        let p = eval(
            "name 'x'\ninclude_policy 'a', git: 'file:///r', tag: 't', branch: 'b', rel: 'p/a.json'\ninclude_policy 'b', git: 'file:///r'\n",
        )
        .unwrap();
        assert_eq!(
            p.included_policies[0].location,
            PolicyLocation::Git {
                url: "file:///r".into(),
                path: "p/a.json".into(),
                rev_parse: "b".into(),
                branch: Some("b".into()),
                tag: Some("t".into()),
                reference: None,
            }
        );
        assert!(matches!(&p.included_policies[1].location,
            PolicyLocation::Git { path, rev_parse, .. } if path == "Policyfile.lock.json" && rev_parse == "master"));
        assert_eq!(
            serde_json::to_string(&p.included_policies[0].source_options).unwrap(),
            r#"{"git":"file:///r","tag":"t","branch":"b","rel":"p/a.json"}"#
        );
    }

    #[test]
    fn refuses_what_it_cannot_do_with_the_line() {
        let err = eval("name 'x'\nrun_list 'a'\ncookbook 'a', chef_server_artifact: 'https://c'\n")
            .unwrap_err();
        assert!(
            err.contains(":3:") && err.contains("needs identifier:"),
            "{err}"
        );
        let err = eval("name 'x'\nrun_list 'a'\ncookbook 'a', chef_server: 1\n").unwrap_err();
        assert!(err.contains(":3:") && err.contains("chef_server"), "{err}");
        let p = eval("name 'x'\nrun_list 'a'\ncookbook 'a', '~> 1.0', artifactory: 'https://a'\n")
            .unwrap();
        assert_eq!(p.cookbooks[0].source, CookbookSource::Default);
        assert_eq!(p.cookbooks[0].constraint.as_deref(), Some("~> 1.0"));
        let err = eval("run_list 'a'\n").unwrap_err();
        assert!(err.contains("no `name`"), "{err}");
        let err = eval("name 'x'\nrun_list 'a'\nsystem('id')\n").unwrap_err();
        assert!(err.contains(":3:"), "{err}");
    }

    #[test]
    fn default_source_blocks_name_the_cookbooks_each_source_is_preferred_for() {
        let p = eval(
            r#"
name "x"
run_list "nginx"
default_source :supermarket do |s|
  s.preferred_for "nginx", "mysql"
end
default_source(:chef_repo, "..") { |repo| repo.preferred_for "app" }
default_source :artifactory, "https://art.example/api/chef/r" do |a|
  %w(x y).each { |n| a.preferred_for n }
end
default_source :chef_server, "https://c.example/organizations/o" do
end
"#,
        )
        .unwrap();
        let prefs: Vec<(String, Vec<&str>, u32)> = p
            .default_sources
            .iter()
            .map(|s| {
                (
                    s.source.desc(),
                    s.preferred_for.iter().map(String::as_str).collect(),
                    s.line,
                )
            })
            .collect();
        assert_eq!(
            prefs,
            [
                (
                    "supermarket(https://supermarket.chef.io)".to_owned(),
                    vec!["nginx", "mysql"],
                    4
                ),
                ("chef_repo(..)".to_owned(), vec!["app"], 7),
                (
                    "artifactory(https://art.example/api/chef/r)".to_owned(),
                    vec!["x", "y"],
                    8
                ),
                (
                    "chef_server(https://c.example/organizations/o)".to_owned(),
                    vec![],
                    11
                ),
            ]
        );
    }

    #[test]
    fn two_preferred_sources_for_one_cookbook_is_an_error_at_the_second() {
        let err = eval(
            "name 'x'\nrun_list 'a'\ndefault_source :supermarket do |s|\n  s.preferred_for 'a'\nend\ndefault_source :chef_repo, '.' do |s|\n  s.preferred_for 'b', 'a'\nend\n",
        )
        .unwrap_err();
        assert!(
            err.contains(":7:")
                && err.contains("supermarket(https://supermarket.chef.io) and chef_repo(.) are both set as the preferred source for cookbook(s) 'a'"),
            "{err}"
        );
        let err = eval("name 'x'\nrun_list 'a'\ndefault_source :supermarket do |s|\n  s.preferred_for :a\nend\n")
            .unwrap_err();
        assert!(
            err.contains(":4:") && err.contains("as strings, got :a"),
            "{err}"
        );
        let err = eval(
            "name 'x'\nrun_list 'a'\nkeep = nil\ndefault_source :supermarket do |s|\n  keep = s\nend\nkeep.preferred_for 'a'\n",
        )
        .unwrap_err();
        assert!(
            err.contains(":7:") && err.contains("inside its default_source block"),
            "{err}"
        );
    }
}
