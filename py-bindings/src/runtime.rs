//! The process-wide tokio runtime and the two ways Python calls into it.
//!
//! One multi-threaded runtime is created lazily on first use and lives as long as the process,
//! so a warm AWS Lambda container reuses its threads (and, later, the HTTP connection pools
//! built on it) across invocations. The same runtime drives the `*_async` coroutines: it is
//! handed to `pyo3-async-runtimes` when it is created.
//!
//! Rule for callers: extract and fully own every Python input *before* calling [`block_on`] or
//! [`future_into_py`]; the future runs without the GIL and must not touch Python objects.

use std::future::Future;
use std::sync::OnceLock;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::error::{ErrorInfo, ErrorKind};

/// Name of the runtime's worker threads (visible in stack dumps and `threading` tools).
pub const THREAD_NAME: &str = "chef-sync-rt";

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process-wide runtime, created on first call.
pub fn runtime() -> PyResult<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    // chef-sync's sizing: a worker per core, a small bounded blocking pool.
    let built = chef_sync::runtime::builder()
        .thread_name(THREAD_NAME)
        .build()
        .map_err(|e| {
            ErrorInfo::new(
                ErrorKind::Other,
                format!("cannot start chef_sync's tokio runtime: {e}"),
            )
        })?;
    // Another thread may have won the race; its runtime is kept and ours is dropped unused.
    let rt = RUNTIME.get_or_init(|| built);
    // Fails only if pyo3-async-runtimes already has this very runtime.
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(rt);
    Ok(rt)
}

/// Runs `fut` to completion on the shared runtime with the GIL released.
pub fn block_on<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send,
    T: Send,
{
    let rt = runtime()?;
    py.detach(|| rt.block_on(fut))
}

/// Wraps `fut` in a Python awaitable that runs it on the shared runtime.
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    runtime()?;
    pyo3_async_runtimes::tokio::future_into_py(py, fut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_created_once_and_runs_on_named_threads() {
        Python::initialize();
        let first = runtime().unwrap() as *const Runtime;
        let second = runtime().unwrap() as *const Runtime;
        assert_eq!(first, second);
        let name = Python::attach(|py| {
            block_on(py, async {
                let handle =
                    tokio::spawn(async { std::thread::current().name().map(str::to_owned) });
                Ok(handle.await.expect("task panicked"))
            })
        })
        .unwrap();
        assert_eq!(name.as_deref(), Some(THREAD_NAME));
    }
}
