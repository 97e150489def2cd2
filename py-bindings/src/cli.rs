//! `main`: the `chef-sync` command line ([`chef_sync::cli`]) inside the Python process, for the
//! console script `chef-sync` and `python -m chef_sync`. A wheel is then all a user installs.

use pyo3::prelude::*;

/// Runs the `chef-sync` command line with `argv` (the program name first, as in `sys.argv`)
/// and returns its exit status. The GIL is released while it runs; output goes straight to the
/// process's stdout and stderr, as from the `chef-sync` binary.
#[pyfunction]
pub fn main(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| chef_sync::cli::run(argv))
}
