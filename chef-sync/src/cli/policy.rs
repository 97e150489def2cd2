//! Policyfiles without Ruby: `chef install` and `chef push` to every server at once.
//!
//! ```text
//! chef-sync install [POLICYFILE] [--update] [--cookbook NAME]... [--repo DIR]
//!     [--offline] [--cache-dir DIR]
//! chef-sync push [LOCK]... --repo DIR [--policy-group GROUP] [--dry-run]
//!     [--server NAME]... [--json] [--offline] [--cache-dir DIR]
//! ```
//!
//! `push` publishes each lock (default: `DIR/Policyfile.lock.json`) to every server of the
//! repository: artifacts first, then the policy group, moved on a server only when every
//! artifact the lock names is confirmed there. The group is `--policy-group` on every server,
//! else each server's `policy_group:` in `.chef/NAME/config.yml`. On a terminal, one progress
//! bar per server (as for a sync); otherwise one line per event on stderr. `--dry-run` reads
//! the servers only and reports what would be uploaded and which group entries would move.
//! Exit status: 0 when every server holds the policy (or, in a dry run, would), 1 otherwise.

use std::path::PathBuf;

use clap::Parser;

use super::sync::progress;
use crate::config::{LoadOptions, RepoConfig};
use crate::policy::{CookbookCache, InstallOptions, PushOptions};

/// `chef install`: evaluate the Policyfile, resolve, write NAME.lock.json beside it.
#[derive(Debug, Parser)]
pub struct InstallArgs {
    /// The Policyfile.
    #[arg(default_value = "Policyfile.rb")]
    policyfile: PathBuf,
    /// Re-solve even when the lock exists (`chef update`).
    #[arg(long)]
    update: bool,
    /// Update only this cookbook and what it depends on, every other one staying at its
    /// locked version (`chef update POLICYFILE NAME...`; repeatable; implies --update).
    #[arg(long = "cookbook", value_name = "NAME")]
    cookbooks: Vec<String>,
    /// Repository whose `.chef` configuration signs `default_source :chef_server` and
    /// `include_policy ..., server:` requests (default: the Policyfile's directory, when it
    /// has a `.chef` directory).
    #[arg(long)]
    repo: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
}

/// `chef push`: publish locks to every server of the repository.
#[derive(Debug, Parser)]
pub struct PushArgs {
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
    /// Read the servers only: report what would be uploaded and which groups would move.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    cache: CacheArgs,
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

/// Runs `chef-sync install`; returns the exit status (0 lock written or up to date, 1 error).
pub fn install(args: InstallArgs) -> u8 {
    let env = LoadOptions::process_env();
    let policy_dir = args
        .policyfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    let repo = args
        .repo
        .clone()
        .or_else(|| policy_dir.join(".chef").is_dir().then_some(policy_dir));
    let chef_servers = match &repo {
        None => Vec::new(),
        Some(dir) => {
            let load = LoadOptions {
                env: env.clone(),
                ..LoadOptions::default()
            };
            match crate::config::RepoConfig::load(dir, &load) {
                Ok(config) => config.servers,
                Err(e) if args.repo.is_some() => {
                    eprintln!("error: {e}");
                    return 1;
                }
                Err(e) => {
                    eprintln!("warning: no Chef server to sign with: {e}");
                    Vec::new()
                }
            }
        }
    };
    let options = InstallOptions {
        update: args.update || !args.cookbooks.is_empty(),
        update_cookbooks: args.cookbooks,
        env,
        cache: args.cache.cache(),
        chef_servers,
    };
    match super::block_on(crate::policy::install(&args.policyfile, &options)) {
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
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Runs `chef-sync push`; returns the exit status (0 every server holds the policy, 1 not).
pub fn push(args: PushArgs) -> u8 {
    let load = LoadOptions {
        env: LoadOptions::process_env(),
        ..LoadOptions::default()
    };
    // Read here (not by the push) for the bars' server names.
    let config = match RepoConfig::load(&args.repo, &load) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let (bars, events) = progress(&config, &args.servers, args.json);
    let options = PushOptions {
        policy_group: args.policy_group,
        servers: args.servers,
        load,
        cache: args.cache.cache(),
        dry_run: args.dry_run,
        events: Some(events),
        ..PushOptions::default()
    };
    let result = super::block_on(crate::policy::push(&config, &args.locks, &options));
    if let Some(bars) = &bars {
        bars.clear();
    }
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                for w in &report.warnings {
                    eprintln!("warning: {w}");
                }
                print!("{}", report.render_table());
            }
            u8::from(!report.ok)
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_flags_become_push_options_and_install_defaults_to_policyfile_rb() {
        let push = PushArgs::try_parse_from([
            "push",
            "a.lock.json",
            "--repo",
            "r",
            "--policy-group",
            "prod",
            "--server",
            "eu",
            "--offline",
            "--cache-dir",
            "/c",
            "--dry-run",
        ])
        .expect("valid arguments");
        assert!(push.dry_run);
        assert_eq!(push.locks, [PathBuf::from("a.lock.json")]);
        assert_eq!(push.policy_group.as_deref(), Some("prod"));
        assert_eq!(push.servers, ["eu"]);
        let cache = push.cache.cache();
        assert!(cache.offline);
        assert_eq!(cache.root, PathBuf::from("/c"));
        let install = InstallArgs::try_parse_from(["install"]).expect("valid arguments");
        assert_eq!(install.policyfile, PathBuf::from("Policyfile.rb"));
        assert!(!install.update && !install.cache.offline);
        let update = InstallArgs::try_parse_from([
            "install",
            "web.rb",
            "--cookbook",
            "nginx",
            "--cookbook",
            "apt",
        ])
        .expect("valid arguments");
        assert_eq!(update.cookbooks, ["nginx", "apt"]);
        assert_eq!(update.policyfile, PathBuf::from("web.rb"));
    }
}
