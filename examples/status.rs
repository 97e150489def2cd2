//! `chef-sync status` as an example: `cargo run --example status -- ARGS` runs
//! `chef-sync status ARGS` (see `chef_sync::cli::status`, where it lives).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(chef_sync::cli::run_subcommand("status"))
}
