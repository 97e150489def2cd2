//! `chef-sync sync`: sync a Chef repository (the seed's layout) to every server it configures,
//! at once.
//!
//! ```text
//! chef-sync sync --repo DIR [--server NAME]... [--dry-run] [--json]
//!     [--freeze|--no-freeze|--force] [--concurrency N]
//!     [--update [COOKBOOK]...] [--offline] [--only-group G]... [--except-group G]...
//!     [--only cookbooks,roles,environments,data_bags] [--purge] [--purge-cookbooks]
//! ```
//!
//! Roles, environments and data bags (`roles/`, `environments/`, `data_bags/` or knife.rb's
//! `role_path`...) go after the cookbooks, environments last. `--only` picks what to carry
//! (default: everything); `--purge` deletes roles, environments and data bags the repository
//! does not have; `--purge-cookbooks` cookbook versions it does not have (never one an
//! environment pins). A dry run lists every deletion.
//!
//! With a Berksfile: `--update` is `berks update` (all cookbooks, or those named) before the
//! upload, `--offline` forbids any network use for the Berksfile (the lock must be trusted and
//! every cookbook cached), `--only-group`/`--except-group` are Berkshelf's `--only`/`--except`.
//!
//! On a terminal: one progress bar per server, then a table (in a dry run, the cookbook ×
//! server plan first). Not on a terminal: one plain line per event on stderr. `--json` prints
//! only the JSON report on stdout. Exit status: 0 converged, 1 any failure, 2 frozen conflicts
//! in a dry run.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use chef_api::upload::UploadEvent;
use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::berkshelf::PrepareOptions;
use crate::berkshelf::lockfile::Update;
use crate::config::{LoadOptions, RepoConfig};
use crate::objects::ObjectKinds;
use crate::{PlanMatrix, SyncEvent, SyncEventKind, SyncEventSink, SyncOptions};

/// Sync a Chef repository's cookbooks to every server it configures, concurrently.
#[derive(Debug, Parser)]
pub struct Args {
    /// Repository root (`.chef/knife.rb`, `.chef/<SERVER>/config.yml`, `cookbooks/`).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Only this server (repeatable; default: all).
    #[arg(long = "server", value_name = "NAME")]
    servers: Vec<String>,
    /// Plan only: print what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print only the JSON report on stdout.
    #[arg(long)]
    json: bool,
    /// Upload versions frozen (knife --freeze). The default with a Berksfile, as `berks
    /// upload` does; without one versions are not frozen, as knife does.
    #[arg(long, conflicts_with_all = ["force", "no_freeze"])]
    freeze: bool,
    /// Do not freeze (berks upload --no-freeze).
    #[arg(long)]
    no_freeze: bool,
    /// Overwrite frozen versions (knife --force).
    #[arg(long)]
    force: bool,
    /// File uploads in flight across all servers.
    #[arg(long, default_value_t = 1024)]
    concurrency: usize,
    /// File uploads in flight per server.
    #[arg(long, default_value_t = 128)]
    per_server_concurrency: usize,
    /// `berks update`: let these cookbooks (all, when none is named) move away from their
    /// versions in Berksfile.lock.
    #[arg(long, num_args = 0.., value_name = "COOKBOOK")]
    update: Option<Vec<String>>,
    /// Use no network for the Berksfile: the lock must be trusted and every cookbook cached.
    #[arg(long)]
    offline: bool,
    /// Berkshelf's --only: only the Berksfile's dependencies in this group (repeatable).
    #[arg(
        long = "only-group",
        value_name = "GROUP",
        conflicts_with = "except_groups"
    )]
    only_groups: Vec<String>,
    /// Berkshelf's --except: leave out the Berksfile's dependencies in this group (repeatable).
    #[arg(long = "except-group", value_name = "GROUP")]
    except_groups: Vec<String>,
    /// What to carry, comma-separated: cookbooks, roles, environments, data_bags (default:
    /// all).
    #[arg(
        long,
        value_name = "KINDS",
        default_value = "cookbooks,roles,environments,data_bags"
    )]
    only: ObjectKinds,
    /// Delete roles, environments (never _default), data bags and items the repository does
    /// not have (knife upload --purge).
    #[arg(long)]
    purge: bool,
    /// Delete cookbook versions the repository does not have, except those an environment
    /// on the server pins.
    #[arg(long)]
    purge_cookbooks: bool,
}

/// `--freeze` / `--no-freeze`, or neither: the sync decides (frozen with a Berksfile).
fn freeze_option(args: &Args) -> Option<bool> {
    match (args.freeze, args.no_freeze) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// The Berksfile options: `--update` alone is `berks update`, with names `berks update NAMES`.
fn berkshelf_options(args: &Args) -> PrepareOptions {
    PrepareOptions {
        update: match &args.update {
            None => Update::None,
            Some(names) if names.is_empty() => Update::All,
            Some(names) => Update::Only(names.clone()),
        },
        offline: args.offline,
        only: args.only_groups.clone(),
        except: args.except_groups.clone(),
        ..PrepareOptions::default()
    }
}

/// Where a run's events go: a bar per selected server on a terminal, nothing with `--json`
/// (stdout holds the report alone), else a line per notable event on stderr. The bars are
/// returned too, to be cleared before the report is printed.
pub(super) fn progress(
    config: &RepoConfig,
    servers: &[String],
    json: bool,
) -> (Option<Bars>, SyncEventSink) {
    let names: Vec<String> = config
        .servers
        .iter()
        .map(|s| s.name.clone())
        .filter(|n| servers.is_empty() || servers.contains(n))
        .collect();
    let bars = (!json && std::io::stderr().is_terminal()).then(|| Bars::new(&names));
    let events: SyncEventSink = match &bars {
        Some(bars) => {
            let bars = bars.clone();
            Arc::new(move |e| bars.on_event(&e))
        }
        None if json => Arc::new(|_| {}),
        None => Arc::new(plain_line),
    };
    (bars, events)
}

/// Runs `chef-sync sync`; returns the exit status.
pub fn run(args: Args) -> u8 {
    let load = LoadOptions {
        env: LoadOptions::process_env(),
        keys: BTreeMap::new(),
        only: args.servers.clone(),
    };
    let config = match RepoConfig::load(&args.repo, &load) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let (bars, events) = progress(&config, &args.servers, args.json);
    let options = SyncOptions {
        dry_run: args.dry_run,
        freeze: freeze_option(&args),
        force: args.force,
        concurrency: args.concurrency,
        per_server_concurrency: args.per_server_concurrency,
        servers: args.servers.clone(),
        events: Some(events),
        berkshelf: berkshelf_options(&args),
        only: args.only,
        purge: args.purge,
        purge_cookbooks: args.purge_cookbooks,
        ..SyncOptions::default()
    };
    let report = match crate::sync_blocking(&config, &options) {
        Ok(report) => report,
        Err(e) => {
            // The report would have carried these; without one, they may explain the error.
            for w in &config.warnings {
                match w.line {
                    Some(line) => eprintln!("warning: {}:{line}: {}", w.file.display(), w.message),
                    None => eprintln!("warning: {}: {}", w.file.display(), w.message),
                }
            }
            eprintln!("error: {e}");
            return 1;
        }
    };
    // The configuration's, the Berksfile's (unreachable sources, lock notes) and the servers'
    // (a licence in its grace period) warnings, in that order.
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(bars) = &bars {
        bars.multi.clear().ok();
    }
    if args.json {
        if report.dry_run {
            println!("{}", dry_run_json(&report));
        } else {
            println!("{}", report.to_json());
        }
    } else {
        if report.dry_run {
            print!("{}", PlanMatrix::from_report(&report).render(&report));
            println!();
        }
        print!("{}", report.render_table());
    }
    if report.has_failures() {
        1
    } else if report.dry_run && report.has_conflicts() {
        2
    } else if report.ok {
        0
    } else {
        1
    }
}

/// One progress bar per server; its length grows as cookbooks start uploading.
#[derive(Clone)]
pub(super) struct Bars {
    multi: MultiProgress,
    bars: Arc<BTreeMap<String, ProgressBar>>,
}

impl Bars {
    pub(super) fn new(names: &[String]) -> Self {
        let multi = MultiProgress::new();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        let style = ProgressStyle::with_template(&format!(
            "{{prefix:<{width}}} [{{bar:30}}] {{bytes:>9}}/{{total_bytes:<9}} {{msg}}"
        ))
        .expect("valid template")
        .progress_chars("=> ");
        let bars = names
            .iter()
            .map(|n| {
                let bar = multi.add(ProgressBar::new(0).with_style(style.clone()));
                bar.set_prefix(n.clone());
                bar.set_message("waiting");
                (n.clone(), bar)
            })
            .collect();
        Self {
            multi,
            bars: Arc::new(bars),
        }
    }

    /// Removes the bars (before the report is printed).
    pub(super) fn clear(&self) {
        self.multi.clear().ok();
    }

    pub(super) fn on_event(&self, e: &SyncEvent) {
        let Some(bar) = self.bars.get(&*e.server) else {
            return;
        };
        match &e.kind {
            SyncEventKind::Planning => bar.set_message("planning"),
            SyncEventKind::Planned {
                create,
                update,
                unchanged,
                frozen_conflict,
            } => bar.set_message(format!(
                "{create} to create, {update} to update, {unchanged} unchanged, {frozen_conflict} frozen"
            )),
            SyncEventKind::Upload(UploadEvent::CookbookStarted {
                name,
                version,
                bytes,
                ..
            }) => {
                bar.inc_length(*bytes);
                bar.set_message(format!("{name} {version}"));
            }
            SyncEventKind::Upload(UploadEvent::BytesSent { bytes, .. }) => bar.inc(*bytes),
            SyncEventKind::ObjectFinished {
                kind,
                name,
                outcome,
                ..
            } => bar.set_message(format!("{kind}[{name}]: {outcome}")),
            SyncEventKind::PolicyGroup {
                policy,
                group,
                outcome,
                ..
            } => bar.set_message(format!("policy {policy} → {group}: {outcome}")),
            SyncEventKind::Finished { ok, error } => {
                let msg = match (ok, error) {
                    (true, _) => "done".to_owned(),
                    (false, Some(e)) => format!("FAILED: {e}"),
                    (false, None) => "FAILED (see the report)".to_owned(),
                };
                bar.finish_with_message(msg);
            }
            _ => {}
        }
    }
}

/// A dry run's JSON: the report (as without `--dry-run`) plus its plan matrix under `"plan"`
/// (cookbook rows and object rows, one cell per server).
fn dry_run_json(report: &crate::SyncReport) -> String {
    let mut value = serde_json::to_value(report).expect("a report always serializes");
    if let Some(object) = value.as_object_mut() {
        let plan = serde_json::to_value(PlanMatrix::from_report(report))
            .expect("a plan always serializes");
        object.insert("plan".to_owned(), plan);
    }
    serde_json::to_string_pretty(&value).expect("a report always serializes")
}

/// One line per notable event, for logs.
pub(super) fn plain_line(e: SyncEvent) {
    let server = &e.server;
    match e.kind {
        SyncEventKind::Planning => eprintln!("{server}: planning"),
        SyncEventKind::Planned {
            create,
            update,
            unchanged,
            frozen_conflict,
        } => eprintln!(
            "{server}: plan: {create} create, {update} update, {unchanged} unchanged, {frozen_conflict} frozen conflict"
        ),
        SyncEventKind::ObjectsPlanned {
            create,
            update,
            unchanged,
            delete,
        } => eprintln!(
            "{server}: objects: {create} create, {update} update, {unchanged} unchanged, {delete} delete"
        ),
        SyncEventKind::Upload(UploadEvent::CookbookFinished {
            name,
            version,
            outcome,
        }) => eprintln!(
            "{server}: {name} {version}: {}",
            crate::CookbookOutcome::from(outcome)
        ),
        // Unchanged objects are counted in the plan line; a line each would drown the rest.
        SyncEventKind::ObjectFinished {
            kind,
            name,
            outcome,
            error,
        } if outcome != crate::report::ObjectOutcome::Unchanged => match error {
            Some(error) => eprintln!("{server}: {kind}[{name}]: {outcome}: {error}"),
            None => eprintln!("{server}: {kind}[{name}]: {outcome}"),
        },
        SyncEventKind::PolicyGroup {
            policy,
            group,
            revision_id,
            outcome,
            ..
        } => eprintln!("{server}: policy {policy} → group {group} ({revision_id}): {outcome}"),
        SyncEventKind::Finished { ok: true, .. } => eprintln!("{server}: done"),
        SyncEventKind::Finished {
            ok: false,
            error: Some(error),
        } => eprintln!("{server}: FAILED: {error}"),
        SyncEventKind::Finished { ok: false, .. } => eprintln!("{server}: FAILED"),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> PrepareOptions {
        let args = Args::try_parse_from(std::iter::once("chef-sync").chain(args.iter().copied()))
            .expect("valid arguments");
        berkshelf_options(&args)
    }

    #[test]
    fn freeze_flags_override_the_default() {
        let args = |a: &[&str]| {
            Args::try_parse_from(std::iter::once("chef-sync").chain(a.iter().copied())).unwrap()
        };
        assert_eq!(freeze_option(&args(&[])), None);
        assert_eq!(freeze_option(&args(&["--freeze"])), Some(true));
        assert_eq!(freeze_option(&args(&["--no-freeze"])), Some(false));
        assert!(Args::try_parse_from(["chef-sync", "--freeze", "--no-freeze"]).is_err());
    }

    #[test]
    fn only_and_purge_flags_reach_the_options() {
        let args = |a: &[&str]| {
            Args::try_parse_from(std::iter::once("chef-sync").chain(a.iter().copied()))
        };
        let all = args(&[]).unwrap();
        assert_eq!(all.only, ObjectKinds::ALL);
        assert!(!all.purge && !all.purge_cookbooks);
        let some = args(&["--only", "roles,data_bags", "--purge", "--purge-cookbooks"]).unwrap();
        assert!(some.only.roles && some.only.data_bags);
        assert!(!some.only.cookbooks && !some.only.environments);
        assert!(some.purge && some.purge_cookbooks);
        assert!(args(&["--only", "nodes"]).is_err());
    }

    #[test]
    fn update_alone_updates_everything_and_names_update_those() {
        assert_eq!(parse(&[]).update, Update::None);
        assert_eq!(parse(&["--update"]).update, Update::All);
        assert_eq!(
            parse(&["--update", "apt", "java", "--dry-run"]).update,
            Update::Only(vec!["apt".into(), "java".into()])
        );
        let o = parse(&[
            "--offline",
            "--except-group",
            "test",
            "--except-group",
            "ci",
        ]);
        assert!(o.offline);
        assert_eq!(o.except, ["test", "ci"]);
        assert!(
            Args::try_parse_from(["chef-sync", "--only-group", "a", "--except-group", "b"])
                .is_err(),
            "Berkshelf refuses --only with --except too"
        );
    }

    #[test]
    fn a_dry_runs_json_carries_the_plan_with_object_rows() {
        use crate::objects::ObjectId;
        use crate::report::{ObjectOutcome, ObjectReport, ServerReport, SyncReport};
        let mut server = ServerReport::failed(
            "us",
            "http://127.0.0.1:1",
            crate::ReportError::other("x", "us"),
            std::time::Duration::ZERO,
        );
        server.error = None;
        server.objects = vec![ObjectReport::new(
            &ObjectId::role("legacy"),
            ObjectOutcome::Delete,
            None,
        )];
        server.finish();
        let report = SyncReport::new(true, vec![server], vec![], std::time::Duration::ZERO);
        let json: serde_json::Value = serde_json::from_str(&dry_run_json(&report)).unwrap();
        assert_eq!(json["dry_run"], true);
        assert_eq!(json["servers"][0]["objects"][0]["outcome"], "delete");
        assert_eq!(json["plan"]["servers"][0], "us");
        assert_eq!(json["plan"]["objects"][0]["kind"], "role");
        assert_eq!(json["plan"]["objects"][0]["cells"][0], "delete");
    }
}
