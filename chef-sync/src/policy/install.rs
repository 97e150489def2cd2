//! `chef install` without Ruby: evaluate `Policyfile.rb` in the sandbox, resolve with the
//! Berkshelf resolver, fetch what the solution needs, and write `NAME.lock.json` beside
//! `NAME.rb` as chef-cli writes it.
//!
//! With a lock already there (and no `update`), only what the lock says is installed and
//! checked, as `chef install` does; `update` re-solves (`chef update`).
//!
//! What the lock gets, as chef-cli builds it: run-list items fully qualified
//! (`foo` → `recipe[foo::default]`, included policies' first), `named_run_lists` only when
//! there are some, `included_policy_locks`, `cookbook_locks` sorted by name (path and
//! `chef_repo` cookbooks as local locks with `scm_info`; Supermarket and git ones as cached
//! locks with `cache_key`, `origin`, `source_options`), attributes, `solution_dependencies`
//! (`Policyfile`: fixed-location cookbooks with their constraint, the rest `= VERSION`;
//! `dependencies` per `NAME (VERSION)`), and the `revision_id` of all that.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::berkshelf::supermarket::SupermarketClient;
use chef_api::cookbook::CookbookError;
use chef_api::ruby::Interpreter;
use chef_api::version::{Constraint, Version};
use serde_json::{Map, Value, json};
use url::Url;

use super::cookbooks::{CookbookCache, LockedCookbookError, load_locked};
use super::dsl::{self, CookbookSource, DefaultSource, PolicyfileError};
use super::identifier::{self, CookbookIdentity};
use super::json::to_lock_string;
use super::lock::{LockError, PolicyLock};
use crate::berkshelf::CookbookInfo;
use crate::berkshelf::archive::CookbookStore;
use crate::berkshelf::git::GitFetcher;
use crate::berkshelf::install::Installer;
use crate::berkshelf::resolver::{Catalog, ResolveError, resolve};
use crate::berkshelf::sources::{SourceClient, SourceSet};

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The Policyfile could not be evaluated.
    #[error(transparent)]
    Policyfile(#[from] PolicyfileError),
    /// The existing or an included lock could not be read.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A locked cookbook could not be provided or does not match.
    #[error(transparent)]
    Locked(#[from] LockedCookbookError),
    /// A cookbook could not be read.
    #[error("cookbook '{name}': {source}")]
    Cookbook {
        /// Cookbook name.
        name: String,
        /// What went wrong.
        #[source]
        source: CookbookError,
    },
    /// A source or cookbook location cannot be used.
    #[error("{}: {message}", policyfile.display())]
    Source {
        /// The Policyfile.
        policyfile: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No versions satisfy the demands.
    #[error("{}: {source}", policyfile.display())]
    Resolve {
        /// The Policyfile.
        policyfile: PathBuf,
        /// The resolver's explanation.
        #[source]
        source: ResolveError,
    },
    /// A run-list recipe is not in its cookbook.
    #[error("{}: run list item {item}: cookbook '{cookbook}' {version} has no recipes/{recipe}.rb", policyfile.display())]
    MissingRecipe {
        /// The Policyfile.
        policyfile: PathBuf,
        /// The item.
        item: String,
        /// Cookbook.
        cookbook: String,
        /// Its version.
        version: String,
        /// Recipe name.
        recipe: String,
    },
    /// The lock could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The lock path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// How to install.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Re-solve even when a lock exists (`chef update`).
    pub update: bool,
    /// What `ENV` holds for the Policyfile (never the process's).
    pub env: BTreeMap<String, String>,
    /// Where cached cookbooks are found and fetched to.
    pub cache: CookbookCache,
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The lock (as written, or as found).
    pub lock: PolicyLock,
    /// Whether the lock file was (re)written.
    pub written: bool,
    /// Warnings (Policyfile findings, sources that could not be read).
    pub warnings: Vec<String>,
}

/// The lock path chef-cli uses for a Policyfile: `NAME.rb` → `NAME.lock.json`.
pub fn lock_path_for(policyfile: &Path) -> PathBuf {
    let name = policyfile
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("Policyfile.rb");
    let stem = name.strip_suffix(".rb").unwrap_or(name);
    policyfile.with_file_name(format!("{stem}.lock.json"))
}

/// A cookbook of the solution, with where it came from.
struct Solved {
    identity: CookbookIdentity,
    dir: PathBuf,
    /// `cookbook_locks` entry without the identifiers (added once identified).
    kind: SolvedKind,
    /// Declared with a fixed location (its constraint goes to `solution_dependencies`).
    fixed_constraint: Option<String>,
}

enum SolvedKind {
    Local,
    Git {
        url: String,
        revision: String,
        options: Vec<(&'static str, String)>,
    },
    Artifact {
        download_url: String,
    },
    Included(Map<String, Value>),
}

/// Installs the Policyfile at `policyfile` and returns its lock.
///
/// # Errors
/// [`InstallError`] naming the Policyfile, cookbook or source at fault.
#[allow(clippy::too_many_lines)]
pub async fn install(
    policyfile: &Path,
    options: &InstallOptions,
) -> Result<Installed, InstallError> {
    let dir = policyfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let lock_path = lock_path_for(policyfile);
    if lock_path.is_file() && !options.update {
        let lock = PolicyLock::load(&lock_path)?;
        load_locked(&lock, &options.cache).await?;
        return Ok(Installed {
            lock,
            written: false,
            warnings: Vec::new(),
        });
    }
    let interp = Interpreter::new()
        .with_env(options.env.clone())
        .with_cwd(&dir);
    let evaluated = dsl::load(policyfile, &interp)?;
    let mut warnings: Vec<String> = evaluated.warnings.iter().map(ToString::to_string).collect();
    let pf = evaluated.policyfile;
    let source_error = |message: String| InstallError::Source {
        policyfile: policyfile.to_path_buf(),
        message,
    };

    // Included policies: their run lists first, their cookbooks fixed as they locked them.
    let mut run_list: Vec<String> = Vec::new();
    let mut included_locks = Vec::new();
    let mut default_attributes = Map::new();
    let mut override_attributes = Map::new();
    let mut solved: BTreeMap<String, Solved> = BTreeMap::new();
    let mut catalog_local: Vec<CookbookInfo> = Vec::new();
    for inc in &pf.included_policies {
        let lock = PolicyLock::load(&dir.join(&inc.path))?;
        run_list.extend(lock.run_list().iter().cloned());
        deep_merge(
            &mut default_attributes,
            lock.document().get("default_attributes"),
        );
        deep_merge(
            &mut override_attributes,
            lock.document().get("override_attributes"),
        );
        let cookbooks = load_locked(&lock, &options.cache).await?;
        let deps = lock
            .document()
            .get("solution_dependencies")
            .and_then(|s| s.get("dependencies"))
            .cloned()
            .unwrap_or(Value::Null);
        for c in cookbooks {
            let version = parse_version(&c.lock.name, &c.lock.version).map_err(&source_error)?;
            let key = format!("{} ({})", c.lock.name, c.lock.version);
            let dependencies = deps
                .get(&key)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|d| {
                            Some((
                                d.get(0)?.as_str()?.to_owned(),
                                d.get(1)?.as_str()?.to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            catalog_local.push(CookbookInfo {
                name: c.lock.name.clone(),
                version,
                dependencies,
            });
            let entry = lock.document()["cookbook_locks"][&c.lock.name]
                .as_object()
                .cloned()
                .unwrap_or_default();
            solved.insert(
                c.lock.name.clone(),
                Solved {
                    identity: c.identity,
                    dir: c.dir,
                    kind: SolvedKind::Included(entry),
                    fixed_constraint: Some(format!("= {}", c.lock.version)),
                },
            );
        }
        included_locks.push(json!({
            "name": inc.name,
            "revision_id": lock.effective_revision_id(),
            "source_options": {"path": inc.path},
        }));
    }
    for item in &pf.run_list {
        run_list.push(
            qualify(item).ok_or_else(|| {
                source_error(format!("run list item {item:?} is not a recipe name"))
            })?,
        );
    }
    deep_merge(
        &mut default_attributes,
        Some(&Value::Object(pf.default_attributes.clone())),
    );
    deep_merge(
        &mut override_attributes,
        Some(&Value::Object(pf.override_attributes.clone())),
    );

    // Fixed-location cookbooks: read in place or checked out.
    let store = CookbookStore::new(options.cache.root.join("cookbooks"));
    let git = GitFetcher::new(options.cache.root.join("git"), store.root())
        .offline(options.cache.offline);
    for spec in &pf.cookbooks {
        let (cookbook_dir, kind) = match &spec.source {
            CookbookSource::Default => continue,
            CookbookSource::Path(p) => (normalize(&dir.join(p)), SolvedKind::Local),
            CookbookSource::Git(loc) => {
                let (git, name, loc2) = (git.clone(), spec.name.clone(), loc.clone());
                let checkout =
                    tokio::task::spawn_blocking(move || git.checkout(&name, &loc2, None))
                        .await
                        .map_err(|e| source_error(e.to_string()))?
                        .map_err(|e| source_error(format!("cookbook '{}': {e}", spec.name)))?;
                let mut opts = Vec::new();
                for (k, v) in [
                    ("branch", &loc.branch),
                    ("tag", &loc.tag),
                    ("ref", &loc.reference),
                    ("rel", &loc.rel),
                ] {
                    if let Some(v) = v {
                        opts.push((k, v.clone()));
                    }
                }
                let path = match &loc.rel {
                    Some(rel) => checkout.path.join(rel),
                    None => checkout.path,
                };
                (
                    path,
                    SolvedKind::Git {
                        url: loc.url.clone(),
                        revision: checkout.revision,
                        options: opts,
                    },
                )
            }
        };
        let identity = identify(&spec.name, &cookbook_dir).await?;
        if identity.name() != spec.name {
            return Err(source_error(format!(
                "cookbook '{}' at {} is named '{}' in its metadata",
                spec.name,
                cookbook_dir.display(),
                identity.name()
            )));
        }
        let version = parse_version(&spec.name, identity.version()).map_err(&source_error)?;
        if let Some(c) = &spec.constraint {
            let parsed = Constraint::parse(c).map_err(|e| source_error(e.to_string()))?;
            if !parsed.matches(&version) {
                return Err(source_error(format!(
                    "cookbook '{}' {version} at {} does not satisfy '{c}'",
                    spec.name,
                    cookbook_dir.display()
                )));
            }
        }
        catalog_local.push(CookbookInfo {
            name: spec.name.clone(),
            version,
            dependencies: identity
                .metadata
                .dependencies()
                .map(|(n, c)| (n.to_owned(), c.to_owned()))
                .collect(),
        });
        solved.insert(
            spec.name.clone(),
            Solved {
                identity,
                dir: cookbook_dir,
                kind,
                fixed_constraint: Some(
                    spec.constraint.clone().unwrap_or_else(|| ">= 0.0.0".into()),
                ),
            },
        );
    }

    // Default sources, then the solve.
    let client = match &options.cache.supermarket {
        Some(c) => c.clone(),
        None => SupermarketClient::builder()
            .with_cache_dir(options.cache.root.join("universe"))
            .build()
            .map_err(|e| source_error(e.to_string()))?,
    };
    let mut sources = Vec::new();
    for s in &pf.default_sources {
        sources.push(match s {
            DefaultSource::Supermarket { url } => SourceClient::Supermarket {
                url: Url::parse(url).map_err(|e| source_error(format!("{url}: {e}")))?,
                client: client.clone(),
            },
            DefaultSource::ChefRepo { path } => {
                SourceClient::chef_repo(&dir.join(path), interp.clone())
                    .map_err(|e| source_error(e.to_string()))?
            }
            DefaultSource::ChefServer { url } | DefaultSource::Artifactory { url } => {
                return Err(source_error(format!(
                    "default_source {url}: chef_server and artifactory default sources are not supported by chef-sync's install yet"
                )));
            }
        });
    }
    let sources = SourceSet::new(sources);
    let mut demands: Vec<(String, Constraint)> = Vec::new();
    let mut demand = |name: &str, c: Constraint| {
        if !demands.iter().any(|(n, _)| n == name) {
            demands.push((name.to_owned(), c));
        }
    };
    for spec in &pf.cookbooks {
        let c = match &spec.constraint {
            Some(c) => Constraint::parse(c).map_err(|e| source_error(e.to_string()))?,
            None => Constraint::any(),
        };
        demand(&spec.name, c);
    }
    for item in &run_list {
        let (cookbook, _) = split_item(item);
        demand(cookbook, Constraint::any());
    }
    for info in &catalog_local {
        demand(&info.name, Constraint::any());
    }
    let needs_sources = demands.iter().any(|(n, _)| !solved.contains_key(n))
        || catalog_local
            .iter()
            .flat_map(|c| &c.dependencies)
            .any(|(d, _)| !solved.contains_key(d));
    let (universes, source_errors) = if needs_sources {
        if sources.is_empty() {
            return Err(source_error(
                "cookbooks need resolving but the Policyfile has no default_source".into(),
            ));
        }
        sources.fetch_universes().await
    } else {
        Default::default()
    };
    warnings.extend(source_errors.iter().map(ToString::to_string));
    let mut catalog = Catalog::from_universes(&universes);
    for info in &catalog_local {
        catalog.set_local(info);
    }
    let resolution =
        resolve(&catalog, &demands, &BTreeMap::new()).map_err(|source| InstallError::Resolve {
            policyfile: policyfile.to_path_buf(),
            source,
        })?;
    let local_names = solved.keys().cloned().collect();
    let installer = Installer::new(client, store).with_sources(sources.clone());
    let installed = installer
        .install(&resolution, &universes, &local_names)
        .await
        .map_err(|e| source_error(e.to_string()))?;
    for cookbook in installed {
        let (universe, entry) = universes
            .find(&cookbook.name, &cookbook.version)
            .expect("the installer provided it from a universe");
        let is_repo = sources
            .get(&universe.source)
            .is_some_and(SourceClient::is_local);
        let identity = identify(&cookbook.name, &cookbook.path).await?;
        let kind = if is_repo {
            SolvedKind::Local
        } else {
            SolvedKind::Artifact {
                download_url: entry.download_url.clone(),
            }
        };
        solved.insert(
            cookbook.name.clone(),
            Solved {
                identity,
                dir: cookbook.path,
                kind,
                fixed_constraint: None,
            },
        );
    }

    // Every run-list recipe must exist.
    for item in run_list
        .iter()
        .chain(pf.named_run_lists.iter().flat_map(|(_, l)| l))
    {
        let qualified = qualify(item).unwrap_or_else(|| item.clone());
        let (cookbook, recipe) = split_item(&qualified);
        let Some(s) = solved.get(cookbook) else {
            continue;
        };
        let file = format!("recipes/{recipe}.rb");
        if !s.identity.files.iter().any(|f| f.path() == file) {
            return Err(InstallError::MissingRecipe {
                policyfile: policyfile.to_path_buf(),
                item: qualified.clone(),
                cookbook: cookbook.to_owned(),
                version: s.identity.version().to_owned(),
                recipe: recipe.to_owned(),
            });
        }
    }

    let doc = lock_document(
        &pf.name,
        &dir,
        run_list,
        &pf.named_run_lists,
        included_locks,
        &solved,
        default_attributes,
        override_attributes,
    );
    let text = to_lock_string(&doc);
    std::fs::write(&lock_path, &text).map_err(|source| InstallError::Write {
        path: lock_path.clone(),
        source,
    })?;
    let lock = PolicyLock::parse(&text, &lock_path)?;
    Ok(Installed {
        lock,
        written: true,
        warnings,
    })
}

#[allow(clippy::too_many_arguments)]
fn lock_document(
    name: &str,
    dir: &Path,
    run_list: Vec<String>,
    named: &[(String, Vec<String>)],
    included: Vec<Value>,
    solved: &BTreeMap<String, Solved>,
    default_attributes: Map<String, Value>,
    override_attributes: Map<String, Value>,
) -> Value {
    let mut locks = Map::new();
    for (cookbook, s) in solved {
        locks.insert(
            cookbook.clone(),
            Value::Object(cookbook_lock(cookbook, dir, s)),
        );
    }
    let mut doc = Map::new();
    doc.insert("revision_id".into(), Value::Null);
    doc.insert("name".into(), name.into());
    doc.insert("run_list".into(), json!(run_list));
    if !named.is_empty() {
        let lists: Map<String, Value> = named
            .iter()
            .map(|(n, items)| {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| qualify(i).unwrap_or_else(|| i.clone()))
                    .collect();
                (n.clone(), json!(items))
            })
            .collect();
        doc.insert("named_run_lists".into(), Value::Object(lists));
    }
    doc.insert("included_policy_locks".into(), Value::Array(included));
    doc.insert("cookbook_locks".into(), Value::Object(locks));
    doc.insert(
        "default_attributes".into(),
        Value::Object(default_attributes),
    );
    doc.insert(
        "override_attributes".into(),
        Value::Object(override_attributes),
    );
    doc.insert(
        "solution_dependencies".into(),
        solution_dependencies(solved),
    );
    let revision = identifier::revision_id(&doc);
    doc.insert("revision_id".into(), revision.into());
    Value::Object(doc)
}

fn cookbook_lock(name: &str, dir: &Path, s: &Solved) -> Map<String, Value> {
    let id = &s.identity;
    let mut m = Map::new();
    m.insert("version".into(), id.version().into());
    m.insert("identifier".into(), id.identifier.clone().into());
    m.insert(
        "dotted_decimal_identifier".into(),
        id.dotted_decimal_identifier.clone().into(),
    );
    match &s.kind {
        SolvedKind::Included(entry) => return entry.clone(),
        SolvedKind::Local => {
            let rel = relative_path(dir, &s.dir);
            m.insert("source".into(), rel.clone().into());
            m.insert("cache_key".into(), Value::Null);
            m.insert("scm_info".into(), scm_info(&s.dir));
            m.insert("source_options".into(), json!({ "path": rel }));
        }
        SolvedKind::Git {
            url,
            revision,
            options,
        } => {
            m.insert("cache_key".into(), format!("{name}-{revision}").into());
            m.insert("origin".into(), url.clone().into());
            let mut so = Map::new();
            so.insert("git".into(), url.clone().into());
            so.insert("revision".into(), revision.clone().into());
            for (k, v) in options {
                so.insert((*k).into(), v.clone().into());
            }
            m.insert("source_options".into(), Value::Object(so));
        }
        SolvedKind::Artifact { download_url } => {
            let host = Url::parse(download_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            m.insert(
                "cache_key".into(),
                format!("{name}-{}-{host}", id.version()).into(),
            );
            m.insert("origin".into(), download_url.clone().into());
            m.insert(
                "source_options".into(),
                json!({"artifactserver": download_url, "version": id.version()}),
            );
        }
    }
    m
}

/// `{"Policyfile": [[name, constraint]...] sorted, "dependencies": {"NAME (VERSION)": [[dep,
/// constraint]...]} sorted by key}`.
fn solution_dependencies(solved: &BTreeMap<String, Solved>) -> Value {
    let mut policyfile: Vec<(String, String)> = solved
        .iter()
        .map(|(name, s)| {
            let c = s
                .fixed_constraint
                .clone()
                .unwrap_or_else(|| format!("= {}", s.identity.version()));
            (name.clone(), semverse(&c))
        })
        .collect();
    policyfile.sort();
    let mut deps = Map::new();
    for (name, s) in solved {
        let list: Vec<Value> = s
            .identity
            .metadata
            .dependencies()
            .map(|(d, c)| json!([d, semverse(c)]))
            .collect();
        deps.insert(
            format!("{name} ({})", s.identity.version()),
            Value::Array(list),
        );
    }
    json!({
        "Policyfile": policyfile.into_iter().map(|(n, c)| json!([n, c])).collect::<Vec<_>>(),
        "dependencies": deps,
    })
}

/// A constraint as Semverse prints it: `OP VERSION` (default operator `=`), `>= 0.0.0` for
/// an empty one.
fn semverse(c: &str) -> String {
    let t = c.trim();
    if t.is_empty() {
        return ">= 0.0.0".into();
    }
    let split = t.find(|ch: char| ch.is_ascii_digit()).unwrap_or(t.len());
    let (op, version) = t.split_at(split);
    let op = op.trim();
    format!("{} {version}", if op.is_empty() { "=" } else { op })
}

/// `foo` → `recipe[foo::default]`, `foo::bar` → `recipe[foo::bar]`, `recipe[foo]` →
/// `recipe[foo::default]`; roles and other forms are `None`.
pub fn qualify(item: &str) -> Option<String> {
    let inner = match item.strip_prefix("recipe[") {
        Some(rest) => rest.strip_suffix(']')?,
        None if item.contains('[') => return None,
        None => item,
    };
    if inner.is_empty() || inner.contains(char::is_whitespace) {
        return None;
    }
    Some(if inner.contains("::") {
        format!("recipe[{inner}]")
    } else {
        format!("recipe[{inner}::default]")
    })
}

fn split_item(item: &str) -> (&str, &str) {
    let inner = item
        .strip_prefix("recipe[")
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(item);
    inner.split_once("::").unwrap_or((inner, "default"))
}

fn parse_version(name: &str, v: &str) -> Result<Version, String> {
    Version::parse(v).map_err(|e| format!("cookbook '{name}': version {v:?}: {e}"))
}

async fn identify(name: &str, dir: &Path) -> Result<CookbookIdentity, InstallError> {
    let owned = dir.to_path_buf();
    let result = tokio::task::spawn_blocking(move || CookbookIdentity::load(&owned)).await;
    match result {
        Ok(r) => r.map_err(|source| InstallError::Cookbook {
            name: name.to_owned(),
            source,
        }),
        Err(e) => Err(InstallError::Cookbook {
            name: name.to_owned(),
            source: CookbookError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            },
        }),
    }
}

/// Deep-merges the object `from` into `into` (objects merge, anything else replaces).
fn deep_merge(into: &mut Map<String, Value>, from: Option<&Value>) {
    let Some(Value::Object(from)) = from else {
        return;
    };
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(_)) => deep_merge(a, Some(v)),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `..` and `.` folded away lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `to` relative to `from` with `/` separators (`.` when equal), as chef-cli writes `source`.
fn relative_path(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| normalize(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    let (from, to) = (abs(from), abs(to));
    let f: Vec<Component<'_>> = from.components().collect();
    let t: Vec<Component<'_>> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_owned(), f.len() - common).collect();
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// chef-cli's `scm_info`: `null` outside a git work tree, else remote, revision, whether the
/// tree is clean, and the remote branches that contain the revision.
fn scm_info(dir: &Path) -> Value {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if git(&["rev-parse", "--is-inside-work-tree"]).as_deref() != Some("true") {
        return Value::Null;
    }
    let Some(revision) = git(&["rev-parse", "HEAD"]) else {
        return Value::Null;
    };
    let remote = git(&["config", "--get", "remote.origin.url"]).filter(|r| !r.is_empty());
    let clean = git(&["status", "--porcelain"]).is_some_and(|s| s.is_empty());
    let branches: Vec<String> = git(&["branch", "-r", "--contains", "HEAD"])
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && !l.contains(" -> "))
        .collect();
    json!({
        "scm": "git",
        "remote": remote,
        "revision": revision,
        "working_tree_clean": clean,
        "published": !branches.is_empty(),
        "synchronized_remote_branches": branches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_list_items_are_qualified_as_chef_install_writes_them() {
        assert_eq!(qualify("apt").unwrap(), "recipe[apt::default]");
        assert_eq!(
            qualify("jenkins::master").unwrap(),
            "recipe[jenkins::master]"
        );
        assert_eq!(
            qualify("recipe[policyfile_demo]").unwrap(),
            "recipe[policyfile_demo::default]"
        );
        assert_eq!(qualify("role[web]"), None);
    }

    #[test]
    fn constraints_print_as_semverse_does() {
        assert_eq!(semverse(""), ">= 0.0.0");
        assert_eq!(semverse("~> 2.1"), "~> 2.1");
        assert_eq!(semverse(">=1.0.0"), ">= 1.0.0");
        assert_eq!(semverse("1.2.3"), "= 1.2.3");
    }

    #[test]
    fn sources_are_relative_to_the_policyfile() {
        assert_eq!(
            relative_path(Path::new("/r/p"), Path::new("/r/p/cookbooks/a")),
            "cookbooks/a"
        );
        assert_eq!(
            relative_path(Path::new("/r/p"), Path::new("/r/cookbooks/a")),
            "../cookbooks/a"
        );
        assert_eq!(relative_path(Path::new("/r/p"), Path::new("/r/p")), ".");
        assert_eq!(
            lock_path_for(Path::new("/r/web.rb")),
            Path::new("/r/web.lock.json")
        );
    }
}
