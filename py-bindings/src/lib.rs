//! Python bindings for chef-sync: the extension module `chef_sync._chef_sync`, re-exported by
//! the pure-Python package `chef_sync` (see `python/chef_sync/`).
//!
//! The bindings only translate: Python arguments in, Rust calls on the shared runtime
//! ([`runtime`]), results ([`convert`]) and errors ([`error`]) back. Chef logic lives in the
//! `chef-api` and `chef-sync` crates.
//!
//! * [`error`]: the `chef_sync.exceptions` tree and [`error::to_py_err`].
//! * [`convert`]: Python ↔ `serde_json::Value`.
//! * [`runtime`]: the process-wide tokio runtime, [`runtime::block_on`] (GIL released) and
//!   [`runtime::future_into_py`] (for the `*_async` variants).
//! * [`client`]: `ChefClient`, one Chef server.
//! * [`upload`]: `upload_cookbooks` and `CookbookOutcome`.
//! * [`repo`]: `repo_clients` (a repository's servers) and configuration errors.
//! * [`sync`]: `sync` (a repository to all its servers) and `SyncReport`.
//! * [`policy`]: `push_policy`, `install_policy` and `PolicyPushReport` (Policyfiles).
//! * [`cli`]: `main`, the `chef-sync` command line (console script and `python -m`).
//! * [`status`]: `status` (every server compared with the repository and each other) and
//!   `StatusReport`.

pub mod cli;
pub mod client;
pub mod convert;
pub mod error;
pub mod policy;
pub mod repo;
pub mod report_error;
pub mod runtime;
pub mod status;
pub mod sync;
pub mod upload;

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::error::{ErrorInfo, ErrorKind};

/// Version of this package (Cargo's version is already PEP 440 for plain releases).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Raises the exception the mapping produces for these inputs. Internal: exercises
/// [`error::to_py_err`] from Python tests.
#[pyfunction]
#[pyo3(signature = (kind, message, *, status=None, messages=None, server=None, url=None, file=None, line=None, frozen=false, timed_out=false))]
#[allow(clippy::too_many_arguments)]
fn _raise_error(
    kind: &str,
    message: String,
    status: Option<u16>,
    messages: Option<Vec<String>>,
    server: Option<String>,
    url: Option<String>,
    file: Option<PathBuf>,
    line: Option<u32>,
    frozen: bool,
    timed_out: bool,
) -> PyResult<()> {
    let kind = match kind.parse::<ErrorKind>() {
        Ok(ErrorKind::Config { .. }) => ErrorKind::Config { file, line },
        Ok(ErrorKind::Conflict { .. }) => ErrorKind::Conflict { frozen },
        Ok(ErrorKind::Network { .. }) => ErrorKind::Network { timed_out },
        Ok(kind) => kind,
        Err(e) => return Err(pyo3::exceptions::PyValueError::new_err(e.to_string())),
    };
    let mut info = ErrorInfo::new(kind, message).with_messages(messages.unwrap_or_default());
    info.status = status;
    info.server = server;
    info.url = url;
    Err(info.into())
}

/// Converts `value` to JSON in Rust and back. Internal: exercises [`convert`] from Python.
#[pyfunction]
fn _json_roundtrip<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let json = convert::py_to_json(value)?;
    convert::json_to_py(value.py(), &json)
}

async fn worker_thread_name() -> PyResult<String> {
    let name = tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
        .await
        .map_err(|e| ErrorInfo::new(ErrorKind::Other, format!("runtime task failed: {e}")))?;
    Ok(name.unwrap_or_default())
}

/// Name of the thread a task on the shared runtime runs on, with the GIL released.
/// Internal: shows from Python that sync calls use the shared runtime.
#[pyfunction]
fn _runtime_thread_name(py: Python<'_>) -> PyResult<String> {
    runtime::block_on(py, worker_thread_name())
}

/// Awaitable twin of [`_runtime_thread_name`]. Internal: shows from Python that coroutines
/// run on the same runtime.
#[pyfunction]
fn _runtime_thread_name_async(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    runtime::future_into_py(py, worker_thread_name())
}

/// The extension module `chef_sync._chef_sync`.
#[pymodule]
fn _chef_sync(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    error::register(m)?;
    m.add_class::<client::PyChefClient>()?;
    m.add_class::<upload::PyCookbookOutcome>()?;
    m.add_class::<report_error::PyReportError>()?;
    m.add_function(wrap_pyfunction!(repo::repo_clients, m)?)?;
    m.add_class::<sync::PySyncReport>()?;
    m.add_class::<sync::PyServerReport>()?;
    m.add_class::<sync::PyObjectOutcome>()?;
    m.add_function(wrap_pyfunction!(sync::sync, m)?)?;
    m.add_function(wrap_pyfunction!(sync::sync_async, m)?)?;
    m.add_class::<policy::PyPolicyPushReport>()?;
    m.add_function(wrap_pyfunction!(policy::push_policy, m)?)?;
    m.add_function(wrap_pyfunction!(policy::install_policy, m)?)?;
    m.add_class::<status::PyStatusReport>()?;
    m.add_class::<status::PyServerStatus>()?;
    m.add_class::<status::PyCookbookStatus>()?;
    m.add_class::<status::PyObjectStatus>()?;
    m.add_class::<status::PyStatusCell>()?;
    m.add_function(wrap_pyfunction!(status::status, m)?)?;
    m.add_function(wrap_pyfunction!(status::status_async, m)?)?;
    m.add_function(wrap_pyfunction!(upload::upload_cookbooks, m)?)?;
    m.add_function(wrap_pyfunction!(upload::upload_cookbooks_async, m)?)?;
    m.add_function(wrap_pyfunction!(cli::main, m)?)?;
    m.add_function(wrap_pyfunction!(_raise_error, m)?)?;
    m.add_function(wrap_pyfunction!(_json_roundtrip, m)?)?;
    m.add_function(wrap_pyfunction!(_runtime_thread_name, m)?)?;
    m.add_function(wrap_pyfunction!(_runtime_thread_name_async, m)?)?;
    Ok(())
}
