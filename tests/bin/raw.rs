//! The `raw` example (examples/raw.rs) built as a binary target too: cargo builds binaries
//! before the integration tests and hands them their paths (`CARGO_BIN_EXE_raw`), so the tests
//! run the example as a user would without building anything themselves.

#[path = "../../examples/raw.rs"]
mod example;

fn main() -> std::process::ExitCode {
    example::main()
}
