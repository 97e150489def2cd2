//! Lets `cargo test` binaries that embed Python find libpython without `LD_LIBRARY_PATH`.
//! A no-op for maturin builds of the extension module, which do not link libpython.

fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
