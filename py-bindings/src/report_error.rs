//! `chef_sync.ReportError`: why a server or a cookbook failed in a report, as data rather than
//! a string. Its `exception` names the class the same failure raises as an exception.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::ErrorKind;

/// Why a server or cookbook failed: `kind` (chef-api's classification: `"unauthorized"`,
/// `"license"`, `"not_found"`, `"network"`, ...), `exception` (the `chef_sync.exceptions`
/// class that kind raises), `status`, the server's `messages`, `url`, `server` and the whole
/// `message` (also `str(error)`).
#[pyclass(frozen, get_all, name = "ReportError", module = "chef_sync")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyReportError {
    /// chef-api's kind, `snake_case`.
    pub kind: String,
    /// The exception class name this kind maps to (`"LicenseError"`, ...).
    pub exception: String,
    /// HTTP status, when a server answered.
    pub status: Option<u16>,
    /// The server's own messages, in order.
    pub messages: Vec<String>,
    /// The request URL, when a request failed.
    pub url: Option<String>,
    /// The configured server name, when known.
    pub server: Option<String>,
    /// The whole message.
    pub message: String,
}

impl From<&chef_sync::ReportError> for PyReportError {
    fn from(e: &chef_sync::ReportError) -> Self {
        Self {
            kind: e.kind.as_str().to_owned(),
            exception: ErrorKind::from_api(e.kind).class_name().to_owned(),
            status: e.status,
            messages: e.messages.clone(),
            url: e.url.clone(),
            server: e.server.clone(),
            message: e.message.clone(),
        }
    }
}

#[pymethods]
impl PyReportError {
    /// The report's JSON object: `kind`, `status`, `messages`, `url`, `server`, `message`.
    pub fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("kind", &self.kind)?;
        d.set_item("status", self.status)?;
        d.set_item("messages", &self.messages)?;
        d.set_item("url", self.url.as_deref())?;
        d.set_item("server", self.server.as_deref())?;
        d.set_item("message", &self.message)?;
        Ok(d)
    }

    fn __str__(&self) -> String {
        self.message.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "ReportError(kind={:?}, status={}, message={:?})",
            self.kind,
            self.status.map_or("None".to_owned(), |s| s.to_string()),
            self.message
        )
    }
}
