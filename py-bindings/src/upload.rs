//! `chef_sync.upload_cookbooks` and the per-cookbook result type shared with sync reports.

use std::path::PathBuf;
use std::sync::Arc;

use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{CookbookResult, Outcome, UploadOptions, Uploader};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::client::PyChefClient;
use crate::error::{ErrorInfo, api_err};
use crate::report_error::PyReportError;
use crate::runtime;

/// The report's name for an outcome (`"created"`, `"updated"`, `"unchanged"`,
/// `"frozen_conflict"`, `"failed"`), as in the CLI's `--json`.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "unchanged",
        Outcome::FrozenConflict => "frozen_conflict",
        Outcome::Failed => "failed",
    }
}

/// What happened to one cookbook version on one server.
#[pyclass(frozen, get_all, name = "CookbookOutcome", module = "chef_sync")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyCookbookOutcome {
    /// Cookbook name.
    pub name: String,
    /// Cookbook version.
    pub version: String,
    /// `"created"`, `"updated"`, `"unchanged"`, `"frozen_conflict"` or `"failed"`; in a dry
    /// run's report `"create"` or `"update"` for what would happen.
    pub outcome: String,
    /// Files uploaded (files the server already had are not sent).
    pub files_sent: u64,
    /// Bytes uploaded.
    pub bytes_sent: u64,
    /// Time spent on this cookbook, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed (a `ReportError`), or None.
    pub error: Option<PyReportError>,
}

impl From<&CookbookResult> for PyCookbookOutcome {
    fn from(r: &CookbookResult) -> Self {
        Self {
            name: r.name.clone(),
            version: r.version.clone(),
            outcome: outcome_name(r.outcome).to_owned(),
            files_sent: r.files_sent,
            bytes_sent: r.bytes_sent,
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            error: r.error.as_ref().map(|e| {
                let mut error = chef_sync::ReportError::from_upload(e, "");
                error.server = None;
                PyReportError::from(&error)
            }),
        }
    }
}

#[pymethods]
impl PyCookbookOutcome {
    /// True unless the outcome is `"failed"` or `"frozen_conflict"`.
    #[getter]
    fn ok(&self) -> bool {
        !matches!(self.outcome.as_str(), "failed" | "frozen_conflict")
    }

    /// The report's JSON object for this cookbook: `name`, `version`, `outcome`,
    /// `files_sent`, `bytes_sent`, `duration_ms`, `error`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("name", &self.name)?;
        d.set_item("version", &self.version)?;
        d.set_item("outcome", &self.outcome)?;
        d.set_item("files_sent", self.files_sent)?;
        d.set_item("bytes_sent", self.bytes_sent)?;
        d.set_item("duration_ms", self.duration_ms)?;
        match &self.error {
            Some(e) => d.set_item("error", e.to_dict(py)?)?,
            None => d.set_item("error", py.None())?,
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "CookbookOutcome(name={:?}, version={:?}, outcome={:?})",
            self.name, self.version, self.outcome
        )
    }
}

/// Loads the cookbooks at `paths`, then plans and uploads them to one server.
async fn upload(
    client: chef_api::client::ChefClient,
    paths: Vec<PathBuf>,
    options: UploadOptions,
) -> PyResult<Vec<PyCookbookOutcome>> {
    let cookbooks = tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|p| LoadedCookbook::load(p).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| {
        ErrorInfo::new(
            crate::error::ErrorKind::Other,
            format!("cookbook loading failed: {e}"),
        )
    })?
    .map_err(|e| ErrorInfo::from(&e))?;
    let results = Uploader::new(client, options)
        .upload(&cookbooks)
        .await
        .map_err(api_err)?;
    Ok(results.iter().map(PyCookbookOutcome::from).collect())
}

fn options(freeze: bool, force: bool) -> UploadOptions {
    UploadOptions {
        freeze,
        force,
        ..UploadOptions::default()
    }
}

/// Uploads the cookbooks in the directories `paths` to `client`'s server as knife does
/// (sandbox, files, commit, manifests in dependency order). Returns one `CookbookOutcome`
/// per cookbook; a cookbook that fails on the server is reported there, while a cookbook
/// that cannot be loaded raises `ConfigError` before anything is sent.
#[pyfunction]
#[pyo3(signature = (client, paths, freeze=false, force=false))]
pub fn upload_cookbooks(
    py: Python<'_>,
    client: &PyChefClient,
    paths: Vec<PathBuf>,
    freeze: bool,
    force: bool,
) -> PyResult<Vec<PyCookbookOutcome>> {
    let fut = upload(client.inner.clone(), paths, options(freeze, force));
    runtime::block_on(py, fut)
}

/// Awaitable [`upload_cookbooks`].
#[pyfunction]
#[pyo3(signature = (client, paths, freeze=false, force=false))]
pub fn upload_cookbooks_async<'py>(
    py: Python<'py>,
    client: &PyChefClient,
    paths: Vec<PathBuf>,
    freeze: bool,
    force: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let fut = upload(client.inner.clone(), paths, options(freeze, force));
    runtime::future_into_py(py, fut)
}
