//! What is where, and where the servers disagree: every server of a Chef repository read at
//! once (read-only) and compared with the repository and with each other.
//!
//! ```text
//! chef-sync status --repo DIR [--server NAME]... [--json]
//!     [--only cookbooks,roles,environments,data_bags] [--strict] [--offline]
//!     [--concurrency N] [--per-server-concurrency N]
//! ```
//!
//! Prints a table (one row per cookbook version and object, one column per server), or with
//! `--json` only the JSON report on stdout (schema in the README). Exit status: 0 when every
//! server matches the repository and each other, 1 when a server (or the repository) could
//! not be read, 2 on drift.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;

use crate::StatusOptions;
use crate::berkshelf::PrepareOptions;
use crate::config::{LoadOptions, RepoConfig};
use crate::objects::ObjectKinds;

/// Compare every server of a Chef repository with the repository and with each other.
#[derive(Debug, Parser)]
pub struct Args {
    /// Repository root (`.chef/knife.rb`, `.chef/<SERVER>/config.yml`, `cookbooks/`, ...).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Only this server (repeatable; default: all).
    #[arg(long = "server", value_name = "NAME")]
    servers: Vec<String>,
    /// Print only the JSON report on stdout.
    #[arg(long)]
    json: bool,
    /// Compare only these kinds (comma-separated: cookbooks, roles, environments, data_bags).
    #[arg(
        long,
        value_name = "KINDS",
        default_value = "cookbooks,roles,environments,data_bags"
    )]
    only: ObjectKinds,
    /// Count what the servers hold and the repository does not (old cookbook versions,
    /// deleted roles) as drift.
    #[arg(long)]
    strict: bool,
    /// Use no network for the Berksfile: the lock must be trusted and every cookbook cached.
    #[arg(long)]
    offline: bool,
    /// Requests in flight across all servers.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Requests in flight per server.
    #[arg(long, default_value_t = 64)]
    per_server_concurrency: usize,
}

impl Args {
    fn options(&self) -> StatusOptions {
        StatusOptions {
            servers: self.servers.clone(),
            kinds: self.only,
            load: LoadOptions {
                env: LoadOptions::process_env(),
                keys: BTreeMap::new(),
                only: self.servers.clone(),
            },
            berkshelf: PrepareOptions {
                offline: self.offline,
                ..PrepareOptions::default()
            },
            concurrency: self.concurrency,
            per_server_concurrency: self.per_server_concurrency,
            strict: self.strict,
        }
    }
}

/// Runs `chef-sync status`; returns the exit status (0 in sync, 1 unreadable, 2 drift).
pub fn run(args: Args) -> u8 {
    let options = args.options();
    let config = match RepoConfig::load(&args.repo, &options.load) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let report = match crate::status_blocking(&config, &options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
        print!("{}", report.render_table());
    }
    report.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("status").chain(args.iter().copied()))
            .expect("valid arguments")
    }

    #[test]
    fn flags_become_status_options() {
        let o = parse(&[]).options();
        assert_eq!(o.kinds, ObjectKinds::ALL);
        assert!(!o.strict && o.servers.is_empty());
        let o = parse(&[
            "--server",
            "eu",
            "--server",
            "us",
            "--only",
            "cookbooks,roles",
            "--strict",
            "--offline",
        ])
        .options();
        assert_eq!(o.servers, ["eu", "us"]);
        assert_eq!(o.load.only, ["eu", "us"]);
        assert!(o.kinds.cookbooks && o.kinds.roles && !o.kinds.environments);
        assert!(o.strict && o.berkshelf.offline);
        assert!(Args::try_parse_from(["status", "--only", "nodes"]).is_err());
    }
}
