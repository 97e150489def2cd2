//! `chef-sync raw` as an example: `cargo run --example raw -- ARGS` runs
//! `chef-sync raw ARGS` (see `chef_sync::cli::raw`, where it lives).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(chef_sync::cli::run_subcommand("raw"))
}
