//! `chef_sync.push_policy` and `chef_sync.install_policy`: Policyfiles on every server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chef_sync::config::LoadOptions;
use chef_sync::policy::{
    CookbookCache, InstallError, InstallOptions, PushError, PushOptions, PushReport,
};
use pyo3::prelude::*;

use crate::convert::json_to_py;
use crate::error::{ErrorInfo, ErrorKind};
use crate::repo::{config_kind, knife_env};
use crate::runtime;

impl From<&PushError> for ErrorInfo {
    /// What stops a whole push is about the repository or a lock: `ConfigError` naming the
    /// file at fault.
    fn from(err: &PushError) -> Self {
        let config = |file: Option<PathBuf>| ErrorKind::Config { file, line: None };
        match err {
            PushError::Config(e) => ErrorInfo::from(e),
            PushError::Cookbook { lock, .. } => {
                ErrorInfo::new(config(Some(lock.clone())), err.to_string())
            }
            PushError::NoLock(path) => ErrorInfo::new(config(Some(path.clone())), err.to_string()),
            PushError::DuplicatePolicy { second, .. } => {
                ErrorInfo::new(config(Some(second.clone())), err.to_string())
            }
            PushError::Lock(_) | PushError::UnknownServer { .. } | PushError::NoServers => {
                ErrorInfo::new(config(None), err.to_string())
            }
            _ => ErrorInfo::new(ErrorKind::Other, err.to_string()),
        }
    }
}

/// The result of a policy push: `ok`, `to_dict()` / `to_json()` in the CLI's `--json` schema,
/// and the groups whose revision differs across servers.
#[pyclass(frozen, name = "PolicyPushReport", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PyPolicyPushReport {
    report: PushReport,
}

fn to_py<'py>(
    py: Python<'py>,
    value: Result<serde_json::Value, serde_json::Error>,
) -> PyResult<Bound<'py, PyAny>> {
    let value = value.map_err(|e| {
        ErrorInfo::new(
            ErrorKind::Other,
            format!("cannot serialise the report: {e}"),
        )
    })?;
    json_to_py(py, &value)
}

#[pymethods]
impl PyPolicyPushReport {
    /// True only when every server holds every artifact and every group points at its
    /// policy's revision.
    #[getter]
    fn ok(&self) -> bool {
        self.report.ok
    }

    /// True for a dry run: nothing was written; outcomes say what a push would do.
    #[getter]
    fn dry_run(&self) -> bool {
        self.report.dry_run
    }

    /// Wall time of the whole push, in milliseconds.
    #[getter]
    fn duration_ms(&self) -> u64 {
        self.report.duration_ms
    }

    /// Warnings from reading the configuration.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.report.warnings.clone()
    }

    /// `[{"group", "policy", "revisions": {server: revision or None}}]`: groups whose
    /// servers point at different revisions.
    fn group_disagreements<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, serde_json::to_value(self.report.group_disagreements()))
    }

    /// The report as the CLI's `--json` prints it, parsed.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, serde_json::to_value(&self.report))
    }

    /// The report as JSON text, exactly as the CLI's `--json`.
    fn to_json(&self) -> String {
        self.report.to_json()
    }

    fn __repr__(&self) -> String {
        format!(
            "PolicyPushReport(ok={}, servers={:?})",
            if self.report.ok { "True" } else { "False" },
            self.report
                .servers
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
        )
    }
}

fn cache(cache_dir: Option<PathBuf>, offline: bool) -> CookbookCache {
    let defaults = CookbookCache::default();
    CookbookCache {
        root: cache_dir.unwrap_or(defaults.root),
        offline,
        ..defaults
    }
}

async fn run_push(
    repo: PathBuf,
    locks: Vec<PathBuf>,
    options: PushOptions,
) -> PyResult<PyPolicyPushReport> {
    let report = chef_sync::policy::push(&repo, &locks, &options)
        .await
        .map_err(|e| ErrorInfo::from(&e))?;
    Ok(PyPolicyPushReport { report })
}

/// Publishes the policy locks `locks` (default: the repository's `Policyfile.lock.json`) to
/// every server of the repository at `repo` at once (or only `servers`): artifacts first, then
/// each server's policy group, moved only when every artifact the lock names is confirmed on
/// that server. `policy_group` is the group on every server; without it each server's
/// `policy_group` in `.chef/NAME/config.yml` is used. `keys` maps server names to PEM bytes;
/// cached cookbooks are read from chef-cli's cache or fetched into `cache_dir` (unless
/// `offline`). `dry_run` only reads the servers and reports, per server, the artifacts it would
/// create (with their files) and the group entries it would move (`create` / `update`). A
/// failing server never raises: it is in the report. Raises `ConfigError` when the repository,
/// a lock or a locked cookbook (edited since the lock) is at fault.
#[pyfunction]
#[pyo3(signature = (repo, locks=None, policy_group=None, servers=None, keys=None, cache_dir=None, offline=false, dry_run=false))]
#[allow(clippy::too_many_arguments)]
pub fn push_policy(
    py: Python<'_>,
    repo: PathBuf,
    locks: Option<Vec<PathBuf>>,
    policy_group: Option<String>,
    servers: Option<Vec<String>>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
    cache_dir: Option<PathBuf>,
    offline: bool,
    dry_run: bool,
) -> PyResult<PyPolicyPushReport> {
    let options = PushOptions {
        policy_group,
        servers: servers.unwrap_or_default(),
        load: LoadOptions {
            env: knife_env(None),
            keys: keys.unwrap_or_default(),
            only: Vec::new(),
        },
        cache: cache(cache_dir, offline),
        dry_run,
        ..PushOptions::default()
    };
    runtime::block_on(py, run_push(repo, locks.unwrap_or_default(), options))
}

/// `chef install` without Ruby: evaluates the Policyfile at `policyfile`, resolves it and
/// writes `NAME.lock.json` beside it (with an existing lock, only checks and fetches what it
/// names, unless `update`). `update_cookbooks` (`chef update POLICYFILE NAMES`) re-resolves
/// only those cookbooks and what they depend on, keeping every other one at its locked
/// version (it implies `update`). `repo` is the repository whose `.chef` configuration signs
/// `default_source :chef_server` and `include_policy ..., server:` requests (`keys` maps its
/// server names to PEM bytes). Returns `{"lock_path", "revision_id", "written", "warnings",
/// "lock"}`. Raises `ConfigError` naming the Policyfile (and line) at fault.
#[pyfunction]
#[pyo3(signature = (policyfile, update=false, cache_dir=None, offline=false, env=None, update_cookbooks=None, repo=None, keys=None))]
#[allow(clippy::too_many_arguments)]
pub fn install_policy<'py>(
    py: Python<'py>,
    policyfile: PathBuf,
    update: bool,
    cache_dir: Option<PathBuf>,
    offline: bool,
    env: Option<BTreeMap<String, String>>,
    update_cookbooks: Option<Vec<String>>,
    repo: Option<PathBuf>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
) -> PyResult<Bound<'py, PyAny>> {
    let update_cookbooks = update_cookbooks.unwrap_or_default();
    let chef_servers = match &repo {
        None => Vec::new(),
        Some(dir) => {
            let load = LoadOptions {
                env: knife_env(env.clone()),
                keys: keys.unwrap_or_default(),
                only: Vec::new(),
            };
            chef_sync::config::RepoConfig::load(dir, &load)
                .map_err(|e| crate::repo::config_err(&e))?
                .servers
        }
    };
    let options = InstallOptions {
        update: update || !update_cookbooks.is_empty(),
        update_cookbooks,
        env: env.unwrap_or_default(),
        cache: cache(cache_dir, offline),
        chef_servers,
    };
    let path = policyfile.clone();
    let installed = runtime::block_on(py, async move {
        chef_sync::policy::install(&path, &options)
            .await
            .map_err(|e| install_error(&e, &path))
    })?;
    let value = serde_json::json!({
        "lock_path": installed.lock.path(),
        "revision_id": installed.lock.effective_revision_id(),
        "written": installed.written,
        "warnings": installed.warnings,
        "lock": installed.lock.document(),
    });
    json_to_py(py, &value)
}

/// `ConfigError` with the typed position of the install error (the Policyfile when the error
/// has none of its own).
fn install_error(err: &InstallError, policyfile: &std::path::Path) -> PyErr {
    let position = err
        .position()
        .unwrap_or_else(|| chef_sync::position::Position::file(policyfile));
    ErrorInfo::new(config_kind(Some(position)), err.to_string()).into()
}
