//! Policyfiles as an example: `cargo run --example policy -- install|push ARGS` runs
//! `chef-sync install|push ARGS` (see `chef_sync::cli::policy`, where it lives).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(chef_sync::cli::run(std::env::args_os()))
}
