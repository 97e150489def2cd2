//! `chef-sync sync` as an example: `cargo run --example sync -- ARGS` runs
//! `chef-sync sync ARGS` (see `chef_sync::cli::sync`, where it lives).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(chef_sync::cli::run_subcommand("sync"))
}
