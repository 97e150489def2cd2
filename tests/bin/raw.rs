//! `chef-sync raw` as a binary target of the root package: cargo builds binaries before the
//! integration tests and hands them their paths (`CARGO_BIN_EXE_raw`), so the tests run the
//! command as a user would without building anything themselves.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(chef_sync::cli::run_subcommand("raw"))
}
