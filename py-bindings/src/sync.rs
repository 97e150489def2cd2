//! `chef_sync.sync`: a repository's cookbooks to all its servers at once, and the report.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chef_sync::berkshelf::lockfile::Update;
use chef_sync::berkshelf::{PrepareError, PrepareOptions};
use chef_sync::config::LoadOptions;
use chef_sync::cookbooks::CookbooksError;

use chef_sync::objects::ObjectKinds;
use chef_sync::report::ObjectReport;
use chef_sync::{CookbookReport, ServerReport, SyncError, SyncOptions, SyncReport};
use pyo3::prelude::*;

use crate::convert::json_to_py;
use crate::error::{ErrorInfo, ErrorKind};
use crate::repo::{config_kind, knife_env};
use crate::report_error::PyReportError;
use crate::runtime;
use crate::upload::PyCookbookOutcome;

impl From<&CookbookReport> for PyCookbookOutcome {
    fn from(c: &CookbookReport) -> Self {
        Self {
            name: c.name.clone(),
            version: c.version.clone(),
            outcome: c.outcome.as_str().to_owned(),
            files_sent: c.files_sent,
            bytes_sent: c.bytes_sent,
            duration_ms: c.duration_ms,
            error: c.error.as_ref().map(PyReportError::from),
        }
    }
}

/// A Berksfile that cannot be read, locked or satisfied is a `ConfigError` at the Berksfile or
/// lock line it names (typed, [`PrepareError::position`]); failing to reach a source or fetch
/// a cookbook is not.
fn berkshelf_error(e: &PrepareError, err: &SyncError) -> ErrorInfo {
    match e {
        PrepareError::Client(_) | PrepareError::Install(_) | PrepareError::Git { .. } => {
            // A source's answer decides the class as for any request (one mapping, chef-api's).
            match e.response() {
                Some(r) => {
                    let kind = chef_api::error::ErrorKind::of_response(r);
                    let mut info = ErrorInfo::new(ErrorKind::from_api(kind), err.to_string())
                        .with_messages(r.messages.clone())
                        .with_url(r.url.clone());
                    info.status = Some(r.status);
                    info
                }
                None => ErrorInfo::new(ErrorKind::Other, err.to_string()),
            }
        }
        _ => ErrorInfo::new(config_kind(e.position()), err.to_string()),
    }
}

impl From<&SyncError> for ErrorInfo {
    /// Everything that stops a whole sync is about the repository: `ConfigError` naming the
    /// file (and line) at fault.
    fn from(err: &SyncError) -> Self {
        let config = |file: Option<PathBuf>| ErrorKind::Config { file, line: None };
        match err {
            SyncError::Config(e) => ErrorInfo::from(e),
            SyncError::Cookbooks(CookbooksError::Load(e)) => ErrorInfo::from(e),
            SyncError::Cookbooks(CookbooksError::ReadDir { path, .. }) => {
                ErrorInfo::new(config(Some(path.clone())), err.to_string())
            }
            SyncError::Cookbooks(CookbooksError::Duplicate { second, .. }) => {
                ErrorInfo::new(config(Some(second.clone())), err.to_string())
            }
            SyncError::UnknownServer { .. } | SyncError::NoServers => {
                ErrorInfo::new(config(None), err.to_string())
            }
            SyncError::Cookbooks(CookbooksError::Berkshelf(e)) => berkshelf_error(e, err),
            // The typed position of the (first) invalid file, as for configuration errors.
            SyncError::Objects(e) => ErrorInfo::new(config_kind(e.position()), err.to_string()),
            _ => ErrorInfo::new(ErrorKind::Other, err.to_string()),
        }
    }
}

/// What happened to one role, environment, data bag or data bag item on one server.
#[pyclass(frozen, get_all, name = "ObjectOutcome", module = "chef_sync")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyObjectOutcome {
    /// `"role"`, `"environment"`, `"data_bag"` or `"data_bag_item"`.
    pub kind: String,
    /// The name; `"BAG/ITEM"` for a data bag item.
    pub name: String,
    /// `"created"`, `"updated"`, `"unchanged"`, `"deleted"` or `"failed"`; in a dry run
    /// `"create"`, `"update"`, `"unchanged"` or `"delete"`.
    pub outcome: String,
    /// Why it failed (a `ReportError`, as a cookbook's), or None.
    pub error: Option<PyReportError>,
}

impl From<&ObjectReport> for PyObjectOutcome {
    fn from(o: &ObjectReport) -> Self {
        Self {
            kind: o.kind.as_str().to_owned(),
            name: o.name.clone(),
            outcome: o.outcome.as_str().to_owned(),
            error: o.error.as_ref().map(PyReportError::from),
        }
    }
}

#[pymethods]
impl PyObjectOutcome {
    /// True unless the outcome is `"failed"`.
    #[getter]
    fn ok(&self) -> bool {
        self.outcome != "failed"
    }

    fn __repr__(&self) -> String {
        format!(
            "ObjectOutcome(kind={:?}, name={:?}, outcome={:?})",
            self.kind, self.name, self.outcome
        )
    }
}

/// How one server fared in a sync.
#[pyclass(frozen, get_all, name = "ServerReport", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PyServerReport {
    /// Server name (`.chef/NAME/`).
    pub name: String,
    /// Its `chef_server_url`.
    pub url: String,
    /// Whether every cookbook converged on this server.
    pub ok: bool,
    /// Why the server failed as a whole (client, listing): a `ReportError`, or None.
    pub error: Option<PyReportError>,
    /// Files sent.
    pub files_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Wall time for this server, in milliseconds.
    pub duration_ms: u64,
    /// Per cookbook version, sorted by name then version.
    pub cookbooks: Vec<PyCookbookOutcome>,
    /// Per role, environment, data bag and item, in write order.
    pub objects: Vec<PyObjectOutcome>,
}

impl From<&ServerReport> for PyServerReport {
    fn from(s: &ServerReport) -> Self {
        Self {
            name: s.name.clone(),
            url: s.url.clone(),
            ok: s.ok,
            error: s.error.as_ref().map(PyReportError::from),
            files_sent: s.files_sent,
            bytes_sent: s.bytes_sent,
            duration_ms: s.duration_ms,
            cookbooks: s.cookbooks.iter().map(PyCookbookOutcome::from).collect(),
            objects: s.objects.iter().map(PyObjectOutcome::from).collect(),
        }
    }
}

#[pymethods]
impl PyServerReport {
    fn __repr__(&self) -> String {
        format!(
            "ServerReport(name={:?}, ok={}, cookbooks={}, objects={})",
            self.name,
            if self.ok { "True" } else { "False" },
            self.cookbooks.len(),
            self.objects.len()
        )
    }
}

/// The result of a sync: `ok`, per-server reports, `to_dict()` / `to_json()` in the CLI's
/// `--json` schema.
#[pyclass(frozen, name = "SyncReport", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PySyncReport {
    report: SyncReport,
}

#[pymethods]
impl PySyncReport {
    /// True only when every server converged.
    #[getter]
    fn ok(&self) -> bool {
        self.report.ok
    }

    /// Whether this was a dry run (outcomes are then the planned `create`/`update`/...).
    #[getter]
    fn dry_run(&self) -> bool {
        self.report.dry_run
    }

    /// Wall time of the whole sync, in milliseconds.
    #[getter]
    fn duration_ms(&self) -> u64 {
        self.report.duration_ms
    }

    /// Warnings from reading the configuration (`file:line: message`).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.report.warnings.clone()
    }

    /// Per server, sorted by name.
    #[getter]
    fn servers(&self) -> Vec<PyServerReport> {
        self.report
            .servers
            .iter()
            .map(PyServerReport::from)
            .collect()
    }

    /// The report as the CLI's `--json` prints it, parsed: `{"ok", "servers": [{"name",
    /// "url", "ok", "error", "cookbooks": [{"name", "version", "outcome", "files_sent",
    /// "bytes_sent", "error", ...}]}], ...}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.report).map_err(|e| {
            ErrorInfo::new(
                ErrorKind::Other,
                format!("cannot serialise the report: {e}"),
            )
        })?;
        json_to_py(py, &value)
    }

    /// The report as JSON text, exactly as the CLI's `--json`.
    fn to_json(&self) -> String {
        self.report.to_json()
    }

    /// The (cookbook version | object) × server matrix a dry run prints, as the CLI's
    /// `sync --dry-run --json` has it under `"plan"`.
    fn plan<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(chef_sync::PlanMatrix::from_report(&self.report))
            .map_err(|e| {
                ErrorInfo::new(ErrorKind::Other, format!("cannot serialise the plan: {e}"))
            })?;
        json_to_py(py, &value)
    }

    fn __repr__(&self) -> String {
        format!(
            "SyncReport(ok={}, servers={:?})",
            if self.report.ok { "True" } else { "False" },
            self.report
                .servers
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
        )
    }
}

/// Runs the sync and converts its failure to the exception it raises.
async fn run(repo: PathBuf, options: SyncOptions) -> PyResult<PySyncReport> {
    let report = chef_sync::sync(&repo, &options)
        .await
        .map_err(|e| ErrorInfo::from(&e))?;
    Ok(PySyncReport { report })
}

/// `update=`: `False`/`None` keep the lock (`berks install`), `True` unlocks everything
/// (`berks update`), a list of names unlocks those (`berks update NAMES`).
fn update_arg(update: Option<&Bound<'_, PyAny>>) -> PyResult<Update> {
    let Some(update) = update.filter(|u| !u.is_none()) else {
        return Ok(Update::None);
    };
    if let Ok(all) = update.extract::<bool>() {
        return Ok(if all { Update::All } else { Update::None });
    }
    if update.is_instance_of::<pyo3::types::PyString>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "update takes True or a list of cookbook names, not a string",
        ));
    }
    let names: Vec<String> = update.extract().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err("update takes True or a list of cookbook names")
    })?;
    Ok(if names.is_empty() {
        Update::None
    } else {
        Update::Only(names)
    })
}

/// The Berksfile's options of `sync`, and what else besides cookbooks it carries.
struct BerksArgs {
    update: Update,
    offline: bool,
    cache_dir: Option<PathBuf>,
    only: ObjectKinds,
    purge: bool,
    purge_cookbooks: bool,
}

impl BerksArgs {
    #[allow(clippy::too_many_arguments)]
    fn new(
        update: Option<&Bound<'_, PyAny>>,
        offline: bool,
        cache_dir: Option<PathBuf>,
        only: Option<Vec<String>>,
        purge: bool,
        purge_cookbooks: bool,
    ) -> PyResult<Self> {
        let only = match only {
            None => ObjectKinds::ALL,
            Some(kinds) => {
                kinds
                    .join(",")
                    .parse()
                    .map_err(|e: chef_sync::objects::UnknownKind| {
                        pyo3::exceptions::PyValueError::new_err(e.to_string())
                    })?
            }
        };
        Ok(Self {
            update: update_arg(update)?,
            offline,
            cache_dir,
            only,
            purge,
            purge_cookbooks,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn options(
    servers: Option<Vec<String>>,
    dry_run: bool,
    freeze: Option<bool>,
    force: bool,
    concurrency: Option<usize>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
    berks: BerksArgs,
) -> PyResult<SyncOptions> {
    let defaults = SyncOptions::default();
    if concurrency == Some(0) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "concurrency must be at least 1",
        ));
    }
    Ok(SyncOptions {
        dry_run,
        freeze,
        force,
        concurrency: concurrency.unwrap_or(defaults.concurrency),
        servers: servers.unwrap_or_default(),
        load: LoadOptions {
            env: knife_env(None),
            keys: keys.unwrap_or_default(),
            only: Vec::new(),
        },
        berkshelf: PrepareOptions {
            update: berks.update,
            offline: berks.offline,
            cache_dir: berks.cache_dir,
            ..PrepareOptions::default()
        },
        only: berks.only,
        purge: berks.purge,
        purge_cookbooks: berks.purge_cookbooks,
        ..defaults
    })
}

/// Uploads the cookbooks of the Chef repository at `repo` to all its servers at once (or
/// only `servers`), as `berks upload` per server would, and returns the `SyncReport`.
///
/// `dry_run` plans only; `freeze` uploads versions frozen (default: with a Berksfile yes, as
/// `berks upload`; without, no, as knife); `force` overwrites frozen
/// versions; `concurrency` caps file uploads in flight across all servers (default 1,024);
/// `keys` maps a server name to PEM bytes replacing its `client_key` file. With a Berksfile:
/// `update` is `berks update` (`True`: every cookbook; a list: those), `offline` forbids any
/// network use for it, `cache_dir` is where Supermarket and Chef server cookbooks are cached
/// (default `$XDG_CACHE_HOME/chef-sync`; in Lambda use `/tmp/...`). `only` lists what to
/// carry (`"cookbooks"`, `"roles"`, `"environments"`, `"data_bags"`; default all); `purge`
/// deletes roles, environments and data bags the repository does not have;
/// `purge_cookbooks` cookbook versions it does not have (never one an environment pins). A
/// failing server never
/// raises: it is in the report. Raises `ConfigError` (with `file`, `line`, `server`) when the
/// repository cannot be read.
#[pyfunction]
#[pyo3(signature = (repo, servers=None, dry_run=false, freeze=None, force=false, concurrency=None, keys=None, update=None, offline=false, cache_dir=None, only=None, purge=false, purge_cookbooks=false))]
#[allow(clippy::too_many_arguments)]
pub fn sync(
    py: Python<'_>,
    repo: PathBuf,
    servers: Option<Vec<String>>,
    dry_run: bool,
    freeze: Option<bool>,
    force: bool,
    concurrency: Option<usize>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
    update: Option<&Bound<'_, PyAny>>,
    offline: bool,
    cache_dir: Option<PathBuf>,
    only: Option<Vec<String>>,
    purge: bool,
    purge_cookbooks: bool,
) -> PyResult<PySyncReport> {
    let berks = BerksArgs::new(update, offline, cache_dir, only, purge, purge_cookbooks)?;
    let options = options(servers, dry_run, freeze, force, concurrency, keys, berks)?;
    runtime::block_on(py, run(repo, options))
}

/// Awaitable [`sync`].
#[pyfunction]
#[pyo3(signature = (repo, servers=None, dry_run=false, freeze=None, force=false, concurrency=None, keys=None, update=None, offline=false, cache_dir=None, only=None, purge=false, purge_cookbooks=false))]
#[allow(clippy::too_many_arguments)]
pub fn sync_async<'py>(
    py: Python<'py>,
    repo: PathBuf,
    servers: Option<Vec<String>>,
    dry_run: bool,
    freeze: Option<bool>,
    force: bool,
    concurrency: Option<usize>,
    keys: Option<BTreeMap<String, Vec<u8>>>,
    update: Option<&Bound<'_, PyAny>>,
    offline: bool,
    cache_dir: Option<PathBuf>,
    only: Option<Vec<String>>,
    purge: bool,
    purge_cookbooks: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let berks = BerksArgs::new(update, offline, cache_dir, only, purge, purge_cookbooks)?;
    let options = options(servers, dry_run, freeze, force, concurrency, keys, berks)?;
    runtime::future_into_py(py, run(repo, options))
}
