//! `chef_sync.status`: every server of a repository read at once and compared with the
//! repository and with each other; the `StatusReport` and its rows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chef_sync::berkshelf::PrepareOptions;
use chef_sync::config::LoadOptions;
use chef_sync::objects::ObjectKinds;
use chef_sync::status::{CookbookStatus, ObjectStatus, ServerStatus};
use chef_sync::{StatusOptions, StatusReport};
use pyo3::prelude::*;

use crate::convert::json_to_py;
use crate::error::{ErrorInfo, ErrorKind};
use crate::repo::knife_env;
use crate::report_error::PyReportError;
use crate::runtime;

/// One server's copy of one cookbook version or object.
#[pyclass(frozen, get_all, name = "StatusCell", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PyStatusCell {
    /// Server name.
    pub server: String,
    /// `match`, `differs`, `missing`, `extra`, `absent` or `unknown`.
    pub state: String,
    /// Digest of the server's copy, or None.
    pub digest: Option<String>,
    /// The server's `frozen?` flag (cookbooks only; None when it has no copy).
    pub frozen: Option<bool>,
}

#[pymethods]
impl PyStatusCell {
    fn __repr__(&self) -> String {
        format!(
            "StatusCell(server={:?}, state={:?})",
            self.server, self.state
        )
    }
}

/// One cookbook version on every server.
#[pyclass(frozen, get_all, name = "CookbookStatus", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PyCookbookStatus {
    /// Cookbook name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The repository's digest, or None when the repository does not have this version.
    pub repo: Option<String>,
    /// One cell per server, in the order of `StatusReport.servers`.
    pub servers: Vec<PyStatusCell>,
    /// Why it is drift: `missing`, `differs`, `extra`, `partial`, `diverged` (empty: it is not).
    pub drift: Vec<String>,
}

impl From<&CookbookStatus> for PyCookbookStatus {
    fn from(c: &CookbookStatus) -> Self {
        Self {
            name: c.name.clone(),
            version: c.version.clone(),
            repo: c.repo.clone(),
            servers: c
                .servers
                .iter()
                .map(|s| PyStatusCell {
                    server: s.server.clone(),
                    state: s.state.as_str().to_owned(),
                    digest: s.digest.clone(),
                    frozen: s.frozen,
                })
                .collect(),
            drift: c.drift.iter().map(|d| d.as_str().to_owned()).collect(),
        }
    }
}

#[pymethods]
impl PyCookbookStatus {
    fn __repr__(&self) -> String {
        format!(
            "CookbookStatus(name={:?}, version={:?}, drift={:?})",
            self.name, self.version, self.drift
        )
    }
}

/// One role, environment, data bag or data bag item on every server.
#[pyclass(frozen, get_all, name = "ObjectStatus", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PyObjectStatus {
    /// `role`, `environment`, `data_bag` or `data_bag_item`.
    pub kind: String,
    /// The bag of a data bag item, else None.
    pub bag: Option<String>,
    /// Name (an item's id).
    pub name: String,
    /// `role[web]`, `data_bag_item[users/alice]`, ...
    pub id: String,
    /// The repository's digest, or None when the repository does not have it.
    pub repo: Option<String>,
    /// One cell per server, in the order of `StatusReport.servers`.
    pub servers: Vec<PyStatusCell>,
    /// Why it is drift (empty: it is not).
    pub drift: Vec<String>,
}

impl From<&ObjectStatus> for PyObjectStatus {
    fn from(o: &ObjectStatus) -> Self {
        Self {
            kind: o.kind.clone(),
            bag: o.bag.clone(),
            name: o.name.clone(),
            id: o.id.clone(),
            repo: o.repo.clone(),
            servers: o
                .servers
                .iter()
                .map(|s| PyStatusCell {
                    server: s.server.clone(),
                    state: s.state.as_str().to_owned(),
                    digest: s.digest.clone(),
                    frozen: None,
                })
                .collect(),
            drift: o.drift.iter().map(|d| d.as_str().to_owned()).collect(),
        }
    }
}

#[pymethods]
impl PyObjectStatus {
    fn __repr__(&self) -> String {
        format!("ObjectStatus(id={:?}, drift={:?})", self.id, self.drift)
    }
}

/// One server as the status read it.
#[pyclass(frozen, get_all, name = "ServerStatus", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PyServerStatus {
    /// Server name.
    pub name: String,
    /// Its `chef_server_url`.
    pub url: String,
    /// Whether it could be read.
    pub ok: bool,
    /// Why it could not be read (a `ReportError`, as in the sync report), or None.
    pub error: Option<PyReportError>,
    /// Negotiated API version, or None.
    pub api_version: Option<u32>,
    /// Cookbook versions it holds.
    pub cookbook_versions: usize,
    /// Roles, environments, data bags and items it holds (`_default` left out).
    pub objects: usize,
    /// Time spent reading it, in milliseconds.
    pub duration_ms: u64,
}

impl From<&ServerStatus> for PyServerStatus {
    fn from(s: &ServerStatus) -> Self {
        Self {
            name: s.name.clone(),
            url: s.url.clone(),
            ok: s.ok,
            error: s.error.as_ref().map(PyReportError::from),
            api_version: s.api_version,
            cookbook_versions: s.cookbook_versions,
            objects: s.objects,
            duration_ms: s.duration_ms,
        }
    }
}

#[pymethods]
impl PyServerStatus {
    fn __repr__(&self) -> String {
        format!(
            "ServerStatus(name={:?}, ok={})",
            self.name,
            if self.ok { "True" } else { "False" }
        )
    }
}

/// What is where: every cookbook version and object on every server, compared with the
/// repository and across servers. `exit_code` is 0 (in sync), 1 (a server could not be
/// read) or 2 (drift); `to_dict()` / `to_json()` are the README's status schema.
#[pyclass(frozen, name = "StatusReport", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PyStatusReport {
    report: StatusReport,
}

#[pymethods]
impl PyStatusReport {
    /// 0: every server matches the repository and each other; 1: a server could not be
    /// read; 2: drift.
    #[getter]
    fn exit_code(&self) -> u8 {
        self.report.exit_code()
    }

    /// Whether every server could be read and nothing drifts.
    #[getter]
    fn in_sync(&self) -> bool {
        self.report.in_sync
    }

    /// Whether objects the repository does not have counted as drift.
    #[getter]
    fn strict(&self) -> bool {
        self.report.strict
    }

    /// Wall time, in milliseconds.
    #[getter]
    fn duration_ms(&self) -> u64 {
        self.report.duration_ms
    }

    /// Warnings from reading the repository (`file:line: message`).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.report.warnings.clone()
    }

    /// Per server, sorted by name.
    #[getter]
    fn servers(&self) -> Vec<PyServerStatus> {
        self.report
            .servers
            .iter()
            .map(PyServerStatus::from)
            .collect()
    }

    /// Every cookbook version the repository or a server has, by name then version.
    #[getter]
    fn cookbooks(&self) -> Vec<PyCookbookStatus> {
        self.report
            .cookbooks
            .iter()
            .map(PyCookbookStatus::from)
            .collect()
    }

    /// Every role, environment, data bag and item the repository or a server has.
    #[getter]
    fn objects(&self) -> Vec<PyObjectStatus> {
        self.report
            .objects
            .iter()
            .map(PyObjectStatus::from)
            .collect()
    }

    /// Every (policy group, policy) a server has, by group then policy, as plain data:
    /// `[{"group", "policy", "servers": [{"server", "state", "revision_id"}], "drift"}]`;
    /// `state` is `points`, `no_entry`, `no_group` or `unknown`.
    #[getter]
    fn policies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.report.policies).map_err(|e| {
            ErrorInfo::new(
                ErrorKind::Other,
                format!("cannot serialise the report: {e}"),
            )
        })?;
        json_to_py(py, &value)
    }

    /// The table the `status` example prints.
    fn render_table(&self) -> String {
        self.report.render_table()
    }

    /// The report as `to_json()` writes it, parsed.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.report).map_err(|e| {
            ErrorInfo::new(
                ErrorKind::Other,
                format!("cannot serialise the report: {e}"),
            )
        })?;
        json_to_py(py, &value)
    }

    /// The report as JSON text, exactly as the `status` example's `--json`.
    fn to_json(&self) -> String {
        self.report.to_json()
    }

    fn __repr__(&self) -> String {
        format!(
            "StatusReport(exit_code={}, servers={:?})",
            self.report.exit_code(),
            self.report
                .servers
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
        )
    }
}

async fn run(repo: PathBuf, options: StatusOptions) -> PyResult<PyStatusReport> {
    let report = chef_sync::status(&repo, &options)
        .await
        .map_err(|e| ErrorInfo::from(&e))?;
    Ok(PyStatusReport { report })
}

/// `only=`: kind names (`cookbooks`, `roles`, `environments`, `data_bags`); None: all.
fn kinds_arg(only: Option<Vec<String>>) -> PyResult<ObjectKinds> {
    match only {
        None => Ok(ObjectKinds::ALL),
        Some(names) => names
            .join(",")
            .parse()
            .map_err(|e: chef_sync::objects::UnknownKind| {
                pyo3::exceptions::PyValueError::new_err(e.to_string())
            }),
    }
}

#[allow(clippy::too_many_arguments)]
fn options(
    servers: Option<Vec<String>>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
    only: Option<Vec<String>>,
    strict: bool,
    concurrency: Option<usize>,
    offline: bool,
    cache_dir: Option<PathBuf>,
) -> PyResult<StatusOptions> {
    if concurrency == Some(0) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "concurrency must be at least 1",
        ));
    }
    let defaults = StatusOptions::default();
    Ok(StatusOptions {
        servers: servers.unwrap_or_default(),
        kinds: kinds_arg(only)?,
        load: LoadOptions {
            env: knife_env(None),
            keys: keys.unwrap_or_default(),
            only: Vec::new(),
        },
        berkshelf: PrepareOptions {
            offline,
            cache_dir,
            ..PrepareOptions::default()
        },
        concurrency: concurrency.unwrap_or(defaults.concurrency),
        strict,
        ..defaults
    })
}

/// Reads every server of the Chef repository at `repo` (or only `servers`) at once, without
/// changing anything, and compares what each holds with the repository and with the others:
/// cookbook versions by the digest of their files' checksums (no file is downloaded), roles,
/// environments, data bags and items by the digest of their normalised JSON.
///
/// `keys` maps a server name to PEM bytes replacing its `client_key` file; `only` limits the
/// kinds compared (`["cookbooks", "roles", "environments", "data_bags"]`); `strict` counts
/// what the servers hold and the repository does not as drift; `concurrency` caps requests in
/// flight across all servers; `offline` and `cache_dir` are the Berksfile's, as for `sync`.
/// A server that cannot be read never raises: it is in the report (`exit_code` 1). Raises
/// `ConfigError` (as `sync` does) when the repository cannot be read.
#[pyfunction]
#[pyo3(signature = (repo, servers=None, keys=None, only=None, strict=false, concurrency=None, offline=false, cache_dir=None))]
#[allow(clippy::too_many_arguments)]
pub fn status(
    py: Python<'_>,
    repo: PathBuf,
    servers: Option<Vec<String>>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
    only: Option<Vec<String>>,
    strict: bool,
    concurrency: Option<usize>,
    offline: bool,
    cache_dir: Option<PathBuf>,
) -> PyResult<PyStatusReport> {
    let options = options(servers, keys, only, strict, concurrency, offline, cache_dir)?;
    runtime::block_on(py, run(repo, options))
}

/// Awaitable [`status`].
#[pyfunction]
#[pyo3(signature = (repo, servers=None, keys=None, only=None, strict=false, concurrency=None, offline=false, cache_dir=None))]
#[allow(clippy::too_many_arguments)]
pub fn status_async(
    py: Python<'_>,
    repo: PathBuf,
    servers: Option<Vec<String>>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
    only: Option<Vec<String>>,
    strict: bool,
    concurrency: Option<usize>,
    offline: bool,
    cache_dir: Option<PathBuf>,
) -> PyResult<Bound<'_, PyAny>> {
    let options = options(servers, keys, only, strict, concurrency, offline, cache_dir)?;
    runtime::future_into_py(py, run(repo, options))
}
