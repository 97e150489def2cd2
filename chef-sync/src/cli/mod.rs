//! The `chef-sync` command line (cargo feature `cli`).
//!
//! One implementation for every entry point: the `chef-sync` binary of this crate
//! (`cargo install chef-sync --features cli`), the Python package's `chef-sync` console script
//! and `python -m chef_sync` (through the extension module), and the repository's examples.
//!
//! ```text
//! chef-sync sync   --repo DIR [--dry-run] [--json] ...   the main job: every server at once
//! chef-sync status --repo DIR [--json] [--strict] ...   what is where; drift exits 2
//! chef-sync push   [LOCK]... --repo DIR [--policy-group G]  chef push to every server
//! chef-sync install [POLICYFILE] [--update]            chef install: write the lock
//! chef-sync upload --server-url URL ... COOKBOOK_DIR...  knife cookbook upload, one server
//! chef-sync raw    --server-url URL ... PATH             knife raw: any signed request
//! ```
//!
//! [`run`] parses the arguments and returns the process's exit status; it never calls
//! `std::process::exit`, so callers (Python) keep control of their process.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

pub mod policy;
pub mod raw;
pub mod status;
pub mod sync;
pub mod upload;

/// `chef-sync`: one push of a Chef repository, landed identically on every Chef server.
#[derive(Debug, Parser)]
#[command(name = "chef-sync", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sync the repository's cookbooks to every server it configures, concurrently.
    Sync(sync::Args),
    /// Policyfiles: `chef push` a lock to every server of the repository.
    Push(policy::PushArgs),
    /// Policyfiles: `chef install`, the Policyfile resolved into NAME.lock.json.
    Install(policy::InstallArgs),
    /// Compare every server with the repository and with each other (read-only).
    Status(status::Args),
    /// Upload cookbook directories to one Chef server (knife cookbook upload).
    Upload(upload::Args),
    /// Send one signed request to a Chef server and print the answer (knife raw).
    Raw(raw::Args),
}

/// Runs the command line `args` (the program name first, as in `std::env::args_os()`) and
/// returns the exit status: 0 success, 1 failure, 2 usage errors or (`sync --dry-run`) frozen
/// conflicts. `--help` and `--version` print and return 0.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => match cli.command {
            Command::Sync(args) => sync::run(args),
            Command::Push(args) => policy::push(args),
            Command::Install(args) => policy::install(args),
            Command::Status(args) => status::run(args),
            Command::Upload(args) => upload::run(args),
            Command::Raw(args) => raw::run(args),
        },
        Err(e) => {
            // Help and version go to stdout, usage errors to stderr, as clap prints them.
            let _ = e.print();
            u8::try_from(e.exit_code()).unwrap_or(2)
        }
    }
}

/// Runs one subcommand with the rest of the process's arguments, for the repository's
/// examples: `cargo run --example sync -- --repo DIR` is `chef-sync sync --repo DIR`.
pub fn run_subcommand(name: &str) -> u8 {
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_else(|| OsString::from("chef-sync"));
    run(std::iter::once(program)
        .chain(std::iter::once(OsString::from(name)))
        .chain(args))
}

/// Runs a future to completion on a runtime of its own (the one-shot subcommands).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    crate::runtime::build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// `--sign-version 1.0|1.1|1.3`.
fn parse_sign_version(s: &str) -> Result<chef_api::sign::SignVersion, String> {
    chef_api::client::parse_sign_version(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands_parse_and_usage_errors_exit_2() {
        assert!(Cli::try_parse_from(["chef-sync", "sync", "--repo", "x", "--dry-run"]).is_ok());
        assert!(
            Cli::try_parse_from([
                "chef-sync",
                "raw",
                "--server-url",
                "http://127.0.0.1:1",
                "--client-name",
                "a",
                "--key",
                "k.pem",
                "/cookbooks",
            ])
            .is_ok()
        );
        assert!(Cli::try_parse_from(["chef-sync", "upload", "--server-url", "u"]).is_err());
        assert!(Cli::try_parse_from(["chef-sync", "status", "--json", "--strict"]).is_ok());
        assert!(Cli::try_parse_from(["chef-sync", "push", "--repo", ".", "--json"]).is_ok());
        assert!(Cli::try_parse_from(["chef-sync", "install", "Policyfile.rb"]).is_ok());
        assert_eq!(run(["chef-sync", "no-such-command"]), 2);
        assert_eq!(run(["chef-sync", "sync", "--sign-version"]), 2);
        assert_eq!(run(["chef-sync", "--version"]), 0);
        assert_eq!(run(["chef-sync", "sync", "--help"]), 0);
    }

    #[test]
    fn a_repository_that_cannot_be_read_fails_with_1() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            run([
                "chef-sync".as_ref(),
                "sync".as_ref(),
                "--repo".as_ref(),
                dir.path().join("missing").as_os_str(),
            ]),
            1
        );
    }
}
