//! Policyfiles without Ruby: `chef install` and `chef push` to every server at once.
//!
//! ```text
//! cargo run --example policy -- install [POLICYFILE] [--update] [--offline] [--cache-dir DIR]
//! cargo run --example policy -- push [LOCK]... --repo DIR [--policy-group GROUP]
//!     [--server NAME]... [--json] [--offline] [--cache-dir DIR]
//! ```
//!
//! `push` publishes each lock (default: `DIR/Policyfile.lock.json`) to every server of the
//! repository: artifacts first, then the policy group, moved on a server only when every
//! artifact the lock names is confirmed there. The group is `--policy-group` on every server,
//! else each server's `policy_group:` in `.chef/NAME/config.yml`. Exit status: 0 when every
//! server holds the policy, 1 otherwise.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use chef_sync::config::LoadOptions;
use chef_sync::policy::{CookbookCache, InstallOptions, PushOptions};
use clap::{Parser, Subcommand};

/// Policyfiles on every Chef server at once.
#[derive(Debug, Parser)]
#[command(name = "chef-sync-policy", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// `chef install`: evaluate the Policyfile, resolve, write NAME.lock.json beside it.
    Install {
        /// The Policyfile.
        #[arg(default_value = "Policyfile.rb")]
        policyfile: PathBuf,
        /// Re-solve even when the lock exists (`chef update`).
        #[arg(long)]
        update: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// `chef push`: publish locks to every server of the repository.
    Push {
        /// Lock files (default: the repository's Policyfile.lock.json).
        locks: Vec<PathBuf>,
        /// Repository root (`.chef/knife.rb`, `.chef/<SERVER>/config.yml`).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The policy group on every server (default: each server's `policy_group` in
        /// `.chef/NAME/config.yml`).
        #[arg(long)]
        policy_group: Option<String>,
        /// Only this server (repeatable; default: all).
        #[arg(long = "server", value_name = "NAME")]
        servers: Vec<String>,
        /// Print only the JSON report on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

#[derive(Debug, clap::Args)]
struct CacheArgs {
    /// Never fetch cookbooks: they must be in a path, chef-cli's cache or chef-sync's.
    #[arg(long)]
    offline: bool,
    /// chef-sync's cache root (default `$XDG_CACHE_HOME/chef-sync`).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    fn cache(&self) -> CookbookCache {
        let defaults = CookbookCache::default();
        CookbookCache {
            root: self.cache_dir.clone().unwrap_or(defaults.root),
            offline: self.offline,
            ..defaults
        }
    }
}

fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match args.command {
        Command::Install {
            policyfile,
            update,
            cache,
        } => {
            let options = InstallOptions {
                update,
                env: process_env(),
                cache: cache.cache(),
            };
            match runtime.block_on(chef_sync::policy::install(&policyfile, &options)) {
                Ok(installed) => {
                    for w in &installed.warnings {
                        eprintln!("warning: {w}");
                    }
                    let verb = if installed.written {
                        "Lockfile written to"
                    } else {
                        "Lockfile up to date:"
                    };
                    println!(
                        "{verb} {}\nPolicy revision id: {}",
                        installed.lock.path().display(),
                        installed.lock.effective_revision_id()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Push {
            locks,
            repo,
            policy_group,
            servers,
            json,
            cache,
        } => {
            let options = PushOptions {
                policy_group,
                servers,
                load: LoadOptions {
                    env: process_env(),
                    ..LoadOptions::default()
                },
                cache: cache.cache(),
                ..PushOptions::default()
            };
            match runtime.block_on(chef_sync::policy::push(&repo, &locks, &options)) {
                Ok(report) => {
                    if json {
                        println!("{}", report.to_json());
                    } else {
                        for w in &report.warnings {
                            eprintln!("warning: {w}");
                        }
                        print!("{}", report.render_table());
                    }
                    if report.ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
