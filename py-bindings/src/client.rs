//! `chef_sync.ChefClient`: the typed client for one Chef server, seen from Python.
//!
//! A thin wrapper over [`chef_api::client::ChefClient`]: every method extracts its Python
//! arguments, runs the Rust call on the shared runtime with the GIL released (or returns a
//! coroutine for the `*_async` twin) and converts the JSON answer back. Failures raise the
//! `chef_sync.exceptions` classes with `status`, `messages` and `url` set.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chef_api::client::{ChefClient, parse_sign_version};
use chef_api::endpoints::SearchOptions;
use chef_api::key::PrivateKey;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use serde_json::Value;

use crate::convert::{Json, json_to_py, py_to_json};
use crate::error::api_err;
use crate::runtime;

/// Rows per search page when the caller does not say (Chef's own default).
pub const DEFAULT_SEARCH_ROWS: u32 = 1000;

/// Where the private key comes from: PEM text or bytes given directly, or a file.
#[derive(Clone)]
pub enum KeyArg {
    /// PEM bytes (or text containing a `-----BEGIN` line). Never printed.
    Pem(Vec<u8>),
    /// A PEM file.
    Path(PathBuf),
}

impl std::fmt::Debug for KeyArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pem(_) => f.write_str("Pem(<redacted>)"),
            Self::Path(p) => f.debug_tuple("Path").field(p).finish(),
        }
    }
}

impl KeyArg {
    /// Reads `bytes` as PEM, a `str` as PEM when it holds a `-----BEGIN` line and as a path
    /// otherwise, and any `os.PathLike` as a path.
    pub fn extract(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(Self::Pem(bytes.as_bytes().to_vec()));
        }
        if obj.is_instance_of::<PyString>() {
            let text: String = obj.extract()?;
            if text.contains("-----BEGIN") {
                return Ok(Self::Pem(text.into_bytes()));
            }
        }
        let path: PathBuf = obj.extract().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(
                "key must be PEM bytes, a PEM string, or a path (str or os.PathLike)",
            )
        })?;
        Ok(Self::Path(path))
    }

    /// Loads the key (file work and RSA parsing: call without the GIL).
    pub fn load(&self) -> chef_api::Result<PrivateKey> {
        Ok(match self {
            Self::Pem(pem) => PrivateKey::from_pem(pem)?,
            Self::Path(path) => PrivateKey::from_pem_file(path)?,
        })
    }
}

/// Validates a timeout given in seconds.
fn timeout_from_seconds(seconds: f64) -> chef_api::Result<Duration> {
    if seconds.is_finite() && seconds > 0.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(chef_api::Error::Config {
            key: "timeout".into(),
            message: format!("{seconds} is not a positive number of seconds"),
        })
    }
}

/// A client for one Chef Infra Server (or goiardi), signing every request with the client's
/// key.
///
/// `ChefClient(server_url, client_name, key, sign_version="1.3", ca_file=None, verify=True,
/// timeout=60.0, retries=5)`: `key` is PEM `bytes`, a PEM `str`, or the path of a PEM file;
/// `sign_version` one of `"1.0"`, `"1.1"`, `"1.3"`; `ca_file` extra CA certificates (PEM);
/// `verify=False` turns TLS verification off; `timeout` is per request attempt, in seconds;
/// `retries` is how often connection failures, timeouts, 429 and 5xx are retried (knife's
/// `http_retry_count`).
///
/// Blocking methods release the GIL; each has an `*_async` twin returning an awaitable.
/// Instances are immutable and safe to share between threads.
#[pyclass(frozen, name = "ChefClient", module = "chef_sync")]
#[derive(Debug, Clone)]
pub struct PyChefClient {
    /// The Rust client (an `Arc` inside; clones share connections).
    pub inner: ChefClient,
}

impl PyChefClient {
    /// Builds the Rust client. Does file work (key, CA file): call without the GIL.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        server_url: &str,
        client_name: &str,
        key: &KeyArg,
        sign_version: &str,
        ca_file: Option<PathBuf>,
        verify: bool,
        timeout: f64,
        retries: u32,
    ) -> chef_api::Result<ChefClient> {
        let timeout = timeout_from_seconds(timeout)?;
        let sign_version = parse_sign_version(sign_version)?;
        let key = key.load()?;
        let mut builder = ChefClient::builder(server_url)
            .with_client_name(client_name)
            .with_key(key)
            .with_sign_version(sign_version)
            .with_request_timeout(timeout)
            .with_connect_timeout(timeout.min(Duration::from_secs(10)))
            .with_insecure_skip_tls_verify(!verify)
            .with_max_retries(retries);
        if let Some(ca) = ca_file {
            builder = builder.with_ssl_ca_file(ca);
        }
        builder.build()
    }
}

fn search_options(rows: Option<u32>) -> PyResult<SearchOptions> {
    match rows {
        Some(0) => Err(pyo3::exceptions::PyValueError::new_err(
            "rows must be at least 1",
        )),
        rows => Ok(SearchOptions {
            rows: rows.unwrap_or(DEFAULT_SEARCH_ROWS),
            sort: None,
        }),
    }
}

/// Every page of a search, partial when `keys` is given, as one JSON array.
async fn search_all(
    client: ChefClient,
    index: String,
    query: String,
    options: SearchOptions,
    keys: Option<BTreeMap<String, Vec<String>>>,
) -> PyResult<Json> {
    let rows = client
        .search_with(&index, &query, &options, keys.as_ref())
        .await
        .map_err(api_err)?;
    Ok(Json(Value::Array(rows)))
}

async fn node_names(client: ChefClient) -> PyResult<Json> {
    let nodes = client.list_nodes().await.map_err(api_err)?;
    Ok(Json(Value::Object(
        nodes
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )))
}

#[pymethods]
impl PyChefClient {
    #[new]
    #[pyo3(signature = (server_url, client_name, key, sign_version="1.3", ca_file=None, verify=true, timeout=60.0, retries=5))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        server_url: String,
        client_name: String,
        key: &Bound<'_, PyAny>,
        sign_version: &str,
        ca_file: Option<PathBuf>,
        verify: bool,
        timeout: f64,
        retries: u32,
    ) -> PyResult<Self> {
        let key = KeyArg::extract(key)?;
        let inner = py
            .detach(|| {
                Self::build(
                    &server_url,
                    &client_name,
                    &key,
                    sign_version,
                    ca_file,
                    verify,
                    timeout,
                    retries,
                )
            })
            .map_err(api_err)?;
        Ok(Self { inner })
    }

    /// The server URL requests are relative to (no trailing `/`).
    #[getter]
    fn server_url(&self) -> String {
        self.inner.server_url().to_string()
    }

    /// The client or user name requests are signed as.
    #[getter]
    fn client_name(&self) -> &str {
        self.inner.client_name()
    }

    /// The signing protocol in use (`"1.1"` after a server rejected 1.3).
    #[getter]
    fn sign_version(&self) -> &'static str {
        self.inner.sign_version().as_str()
    }

    /// The server API version negotiated so far, or None before the first answer.
    #[getter]
    fn api_version(&self) -> Option<u32> {
        self.inner.api_version()
    }

    fn __repr__(&self) -> String {
        format!(
            "ChefClient(server_url={:?}, client_name={:?}, sign_version={:?})",
            self.server_url(),
            self.inner.client_name(),
            self.sign_version()
        )
    }

    /// GET `path` (relative to the server URL, may carry a query) and return the JSON answer.
    fn get<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        let value: Value =
            runtime::block_on(py, async move { client.get(&path).await.map_err(api_err) })?;
        json_to_py(py, &value)
    }

    /// DELETE `path` and return the JSON answer.
    fn delete<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        let value: Value =
            runtime::block_on(
                py,
                async move { client.delete(&path).await.map_err(api_err) },
            )?;
        json_to_py(py, &value)
    }

    /// PUT `body` (any JSON-serialisable value) to `path` and return the JSON answer.
    fn put<'py>(
        &self,
        py: Python<'py>,
        path: String,
        body: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body = py_to_json(body)?;
        let client = self.inner.clone();
        let value: Value = runtime::block_on(py, async move {
            client.put(&path, &body).await.map_err(api_err)
        })?;
        json_to_py(py, &value)
    }

    /// POST `body` (any JSON-serialisable value) to `path` and return the JSON answer.
    fn post<'py>(
        &self,
        py: Python<'py>,
        path: String,
        body: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body = py_to_json(body)?;
        let client = self.inner.clone();
        let value: Value = runtime::block_on(py, async move {
            client.post(&path, &body).await.map_err(api_err)
        })?;
        json_to_py(py, &value)
    }

    /// Every object of `index` (`node`, `role`, `client`, `environment`, a data bag) matching
    /// the query `q`, all pages fetched `rows` at a time (default 1000). With `keys`
    /// (alias → attribute path, e.g. `{"ip": ["ipaddress"]}`) a partial search: rows are
    /// `{"url": ..., "data": {alias: value}}`.
    #[pyo3(signature = (index, q="*:*", rows=None, keys=None))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        index: String,
        q: &str,
        rows: Option<u32>,
        keys: Option<BTreeMap<String, Vec<String>>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = search_options(rows)?;
        let fut = search_all(self.inner.clone(), index, q.to_owned(), options, keys);
        let Json(value) = runtime::block_on(py, fut)?;
        json_to_py(py, &value)
    }

    /// Node names and their URLs (`GET /nodes`).
    fn nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let Json(value) = runtime::block_on(py, node_names(self.inner.clone()))?;
        json_to_py(py, &value)
    }

    /// Awaitable [`get`](Self::get).
    fn get_async<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        runtime::future_into_py(py, async move {
            client.get(&path).await.map(Json).map_err(api_err)
        })
    }

    /// Awaitable [`delete`](Self::delete).
    fn delete_async<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        runtime::future_into_py(py, async move {
            client.delete(&path).await.map(Json).map_err(api_err)
        })
    }

    /// Awaitable [`put`](Self::put).
    fn put_async<'py>(
        &self,
        py: Python<'py>,
        path: String,
        body: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body = py_to_json(body)?;
        let client = self.inner.clone();
        runtime::future_into_py(py, async move {
            client.put(&path, &body).await.map(Json).map_err(api_err)
        })
    }

    /// Awaitable [`post`](Self::post).
    fn post_async<'py>(
        &self,
        py: Python<'py>,
        path: String,
        body: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body = py_to_json(body)?;
        let client = self.inner.clone();
        runtime::future_into_py(py, async move {
            client.post(&path, &body).await.map(Json).map_err(api_err)
        })
    }

    /// Awaitable [`search`](Self::search).
    #[pyo3(signature = (index, q="*:*", rows=None, keys=None))]
    fn search_async<'py>(
        &self,
        py: Python<'py>,
        index: String,
        q: &str,
        rows: Option<u32>,
        keys: Option<BTreeMap<String, Vec<String>>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = search_options(rows)?;
        let fut = search_all(self.inner.clone(), index, q.to_owned(), options, keys);
        runtime::future_into_py(py, fut)
    }

    /// Awaitable [`nodes`](Self::nodes).
    fn nodes_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        runtime::future_into_py(py, node_names(self.inner.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorInfo, ErrorKind};

    #[test]
    fn timeouts_must_be_positive_and_finite() {
        assert_eq!(
            timeout_from_seconds(1.5).unwrap(),
            Duration::from_millis(1500)
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = timeout_from_seconds(bad).unwrap_err();
            let info = ErrorInfo::from(&err);
            assert!(matches!(info.kind, ErrorKind::Config { .. }), "{bad}");
            assert!(info.message.contains("timeout"), "{}", info.message);
        }
    }

    #[test]
    fn bad_sign_version_and_missing_key_file_are_config_errors() {
        let key = KeyArg::Path("/nonexistent/chef-sync/key.pem".into());
        let err = PyChefClient::build("http://127.0.0.1:1", "bob", &key, "2.0", None, true, 5.0, 0)
            .unwrap_err();
        let info = ErrorInfo::from(&err);
        assert!(matches!(info.kind, ErrorKind::Config { .. }));
        assert!(info.message.contains("2.0"), "{}", info.message);

        let err = PyChefClient::build("http://127.0.0.1:1", "bob", &key, "1.3", None, true, 5.0, 0)
            .unwrap_err();
        match &ErrorInfo::from(&err).kind {
            ErrorKind::Config { file, .. } => {
                assert_eq!(
                    file.as_deref(),
                    Some(std::path::Path::new("/nonexistent/chef-sync/key.pem"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pem_keys_are_never_printed() {
        let key = KeyArg::Pem(b"-----BEGIN RSA PRIVATE KEY-----\nsecret\n".to_vec());
        assert_eq!(format!("{key:?}"), "Pem(<redacted>)");
    }
}
