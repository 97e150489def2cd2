//! The `chef-sync` command (`cargo install chef-sync --features cli`); see [`chef_sync::cli`].

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(chef_sync::cli::run(std::env::args_os()))
}
