//! The Quickstart demo: a real multi-region sync against three local Chef servers.
//!
//! ```text
//! scripts/demo          # = scripts/setup, then:
//! cargo run --release --example demo
//! ```
//!
//! 1. starts three goiardi Chef servers on 127.0.0.1, standing in for three regions;
//! 2. lays out a repository exactly in the OpsWorks article's form from `examples/chef-repo/`
//!    (the article's knife.rb verbatim, `.chef/REGION/config.yml` per server), creates the admin
//!    user `pivotal` that knife.rb signs as on every server and puts its key where knife.rb
//!    expects it (`.chef/REGION/private.pem`);
//! 3. syncs every cookbook to every server at once, then the data bag, the two roles and the
//!    environment (last, so its pins find their cookbooks), and prints the report;
//! 4. syncs again: everything unchanged, zero files sent, no object written;
//! 5. shows `status`: every cookbook and object on every server, all matching;
//! 6. stops the servers.
//!
//! `--keep` leaves the servers and the repository up until Enter is pressed, to poke at them
//! with `cargo run --example sync -- --repo DIR`.

use std::process::ExitCode;
use std::sync::Arc;

use chef_api::upload::UploadEvent;
use chef_sync::config::{LoadOptions, RepoConfig};
use chef_sync::{SyncEventKind, SyncOptions};
use chef_testkit::fleet::{Fleet, example_repo_dir};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().any(|a| a == "--keep")).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(keep: bool) -> Result<bool, Box<dyn std::error::Error>> {
    println!(
        "== starting {} goiardi Chef servers (one per region)",
        REGIONS.len()
    );
    let fleet = Fleet::start(&REGIONS)?;
    for region in fleet.regions() {
        println!("   {region:<15} {}", fleet.server(region).url());
    }

    let repo = tempfile::Builder::new().prefix("chef-repo-").tempdir()?;
    fleet
        .provision_repo(&example_repo_dir(), repo.path())
        .await?;
    println!(
        "== repository in the seed's layout at {} (user 'pivotal' created on every server)",
        repo.path().display()
    );
    for line in tree(repo.path(), "")? {
        println!("   {line}");
    }

    let config = RepoConfig::load(repo.path(), &LoadOptions::default())?;
    for w in &config.warnings {
        let line = w.line.map(|l| format!(":{l}")).unwrap_or_default();
        println!("   warning: {}{line}: {}", w.file.display(), w.message);
    }

    let options = SyncOptions {
        events: Some(Arc::new(|e: chef_sync::SyncEvent| match e.kind {
            SyncEventKind::Planned {
                create,
                update,
                unchanged,
                frozen_conflict,
            } => println!(
                "   {:<15} plan: {create} create, {update} update, {unchanged} unchanged, {frozen_conflict} frozen",
                e.server
            ),
            SyncEventKind::Upload(UploadEvent::CookbookFinished {
                name,
                version,
                outcome,
            }) => println!(
                "   {:<15} {name} {version}: {}",
                e.server,
                chef_sync::CookbookOutcome::from(outcome)
            ),
            _ => {}
        })),
        ..SyncOptions::default()
    };

    println!(
        "\n== sync #1: every cookbook, then data bags, roles and environments, to every region at once"
    );
    let first = chef_sync::sync(&config, &options).await?;
    print!("\n{}", first.render_table());

    println!("\n== sync #2: the same repository again");
    let second = chef_sync::sync(&config, &options).await?;
    print!("\n{}", second.render_table());
    let all_unchanged = second.servers.iter().all(|s| {
        s.cookbooks
            .iter()
            .all(|c| c.outcome == chef_sync::CookbookOutcome::Unchanged)
            && s.objects
                .iter()
                .all(|o| o.outcome == chef_sync::report::ObjectOutcome::Unchanged)
    });
    let objects_landed = first.servers.iter().all(|s| {
        s.objects
            .iter()
            .filter(|o| o.outcome == chef_sync::report::ObjectOutcome::Created)
            .count()
            == 5
    });
    println!(
        "\n   first run: 2 roles, 1 environment, 1 data bag and its item created on every server: {}",
        if objects_landed { "yes" } else { "NO" }
    );
    println!(
        "   second run: {} file(s) sent, every cookbook and object unchanged on every server: {}",
        second.files_sent(),
        if all_unchanged { "yes" } else { "NO" }
    );

    println!("\n== status: what is where, read-only, every server at once");
    let status = chef_sync::status::status(&config, &chef_sync::StatusOptions::default()).await?;
    print!("{}", status.render_table());
    let matches = status.exit_code() == 0;
    println!(
        "   every server matches the repository and each other: {}",
        if matches { "yes" } else { "NO" }
    );

    if keep {
        println!(
            "\n== servers are up; try: cargo run --example sync -- --repo {} --dry-run\n   press Enter to stop them",
            repo.path().display()
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    println!("\n== stopping the servers");
    drop(fleet);
    Ok(first.ok
        && second.ok
        && second.files_sent() == 0
        && all_unchanged
        && objects_landed
        && matches)
}

/// The repository's files, indented, `.chef` first (keys shown by name only).
fn tree(dir: &std::path::Path, indent: &str) -> std::io::Result<Vec<String>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    let mut out = Vec::new();
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            out.push(format!("{indent}{name}/"));
            if indent.len() < 4 {
                out.extend(tree(&entry.path(), &format!("{indent}  "))?);
            }
        } else {
            out.push(format!("{indent}{name}"));
        }
    }
    Ok(out)
}
