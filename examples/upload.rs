//! `chef-sync upload` as an example: `cargo run --example upload -- ARGS` runs
//! `chef-sync upload ARGS` (see `chef_sync::cli::upload`, where it lives).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(chef_sync::cli::run_subcommand("upload"))
}
