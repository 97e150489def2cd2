//! A policy push's progress events (as a sync's, for the CLI's bars and callbacks) and its dry
//! run, which reads each server and reports what a push would send and move, writing nothing.

use std::sync::{Arc, Mutex};

use chef_api::upload::{Outcome, UploadEvent};
use chef_sync::policy::{LoadedPolicy, PolicyOutcome, push_to};
use chef_sync::report::CookbookOutcome;
use chef_sync::{SyncEvent, SyncEventKind, SyncEventSink};
use chef_testkit::policy_server::FakeErchef;

use super::policy_push::{cookbook, count, options, repo, target, write_lock};

/// A sink that keeps every event.
fn recorder() -> (SyncEventSink, Arc<Mutex<Vec<SyncEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let sink: SyncEventSink = Arc::new(move |e| keep.lock().unwrap().push(e));
    (sink, seen)
}

fn of(events: &[SyncEvent], server: &str) -> Vec<SyncEventKind> {
    events
        .iter()
        .filter(|e| &*e.server == server)
        .map(|e| e.kind.clone())
        .collect()
}

fn writes(fake: &FakeErchef) -> Vec<String> {
    fake.take_log()
        .into_iter()
        .filter(|l| l.method != "GET")
        .map(|l| format!("{} {}", l.method, l.path))
        .collect()
}

#[tokio::test]
async fn a_dry_run_reports_what_a_push_would_send_and_move_and_writes_nothing() {
    let repo = repo();
    let (pushed, fresh) = (FakeErchef::start().await, FakeErchef::start().await);
    let mut opts = options(repo.cache.path());
    let policy = LoadedPolicy::load(&repo.lock, &opts.cache).await.unwrap();
    let first = policy.lock.revision_id().unwrap().to_owned();
    let done = push_to(
        vec![target(&pushed, "pushed", "prod")],
        std::slice::from_ref(&policy),
        &opts,
    )
    .await;
    assert!(done.ok, "{}", done.render_table());
    pushed.take_log();

    let (sink, seen) = recorder();
    opts.dry_run = true;
    opts.events = Some(sink);
    let targets = || {
        vec![
            target(&pushed, "pushed", "prod"),
            target(&fresh, "fresh", "prod"),
        ]
    };
    let plan = push_to(targets(), std::slice::from_ref(&policy), &opts).await;
    assert!(plan.ok && plan.dry_run, "{}", plan.render_table());
    assert!(writes(&pushed).is_empty() && writes(&fresh).is_empty());
    assert_eq!(fresh.group_revision("prod", "web"), None);
    let [fresh_report, pushed_report] = &plan.servers[..] else {
        panic!("two servers: {plan:?}")
    };
    assert!(
        fresh_report
            .artifacts
            .iter()
            .all(|a| a.outcome == CookbookOutcome::Create)
    );
    // Both cookbooks' 4 files, the two shared ones offered once.
    assert_eq!(fresh_report.files_sent, 6);
    assert_eq!(fresh_report.policies[0].outcome, PolicyOutcome::Create);
    assert_eq!(fresh_report.policies[0].revision_id, first);
    assert_eq!(pushed_report.files_sent, 0);
    assert_eq!(pushed_report.policies[0].outcome, PolicyOutcome::Unchanged);
    let table = plan.render_table();
    assert!(table.starts_with("dry run"), "{table}");
    assert!(table.contains("policy web → prod"), "{table}");
    assert!(plan.to_json().contains("\"dry_run\": true"));

    let events = seen.lock().unwrap().clone();
    let fresh_events = of(&events, "fresh");
    assert!(matches!(
        fresh_events.first(),
        Some(SyncEventKind::Planning)
    ));
    assert!(fresh_events.iter().any(|k| matches!(
        k,
        SyncEventKind::Planned {
            create: 2,
            unchanged: 0,
            ..
        }
    )));
    assert!(
        !fresh_events
            .iter()
            .any(|k| matches!(k, SyncEventKind::Upload(_)))
    );
    assert!(fresh_events.iter().any(|k| matches!(
        k,
        SyncEventKind::PolicyGroup { policy, group, outcome: PolicyOutcome::Create, .. }
            if policy == "web" && group == "prod"
    )));
    assert!(matches!(
        fresh_events.last(),
        Some(SyncEventKind::Finished { ok: true, .. })
    ));
    let unchanged = of(&events, "pushed")
        .into_iter()
        .filter(|k| {
            matches!(
                k,
                SyncEventKind::Upload(UploadEvent::CookbookFinished {
                    outcome: Outcome::Unchanged,
                    ..
                })
            )
        })
        .count();
    assert_eq!(unchanged, 2);

    // A new revision: the edited cookbook would be created, the group repointed.
    cookbook(repo.dir.path(), "app", "include_recipe 'base'\nlog 'v2'\n");
    let lock = write_lock(repo.dir.path(), "web", &["app", "base"]);
    let second = LoadedPolicy::load(&lock, &opts.cache).await.unwrap();
    let plan = push_to(targets(), std::slice::from_ref(&second), &opts).await;
    let pushed_report = &plan.servers[1];
    assert_eq!(pushed_report.name, "pushed");
    let outcome = |name: &str| {
        pushed_report
            .artifacts
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.outcome)
    };
    assert_eq!(outcome("app"), Some(CookbookOutcome::Create));
    assert_eq!(outcome("base"), Some(CookbookOutcome::Unchanged));
    // app's 4 files less the 2 it shares with base, which the server holds: the recipe and
    // metadata.rb are offered (the server holds that metadata.rb from the first app
    // artifact too; only a sandbox, which a dry run does not create, would say so).
    assert_eq!(pushed_report.files_sent, 2);
    let p = &pushed_report.policies[0];
    assert_eq!(p.outcome, PolicyOutcome::Update);
    assert_eq!(p.previous_revision_id.as_deref(), Some(first.as_str()));
    assert!(writes(&pushed).is_empty());
    assert_eq!(
        pushed.group_revision("prod", "web").as_deref(),
        Some(first.as_str())
    );
}

#[tokio::test]
async fn a_push_sends_upload_and_group_events_per_server() {
    let repo = repo();
    let fake = FakeErchef::start().await;
    let (sink, seen) = recorder();
    let mut opts = options(repo.cache.path());
    opts.events = Some(sink);
    let policy = LoadedPolicy::load(&repo.lock, &opts.cache).await.unwrap();
    let report = push_to(
        vec![target(&fake, "eu", "prod")],
        std::slice::from_ref(&policy),
        &opts,
    )
    .await;
    assert!(report.ok, "{}", report.render_table());
    let log = fake.take_log();
    let events = of(&seen.lock().unwrap(), "eu");
    let (mut started_files, mut started_bytes, mut sent, mut sent_bytes, mut created) =
        (0, 0, 0, 0, 0);
    for k in &events {
        match k {
            SyncEventKind::Upload(UploadEvent::CookbookStarted { files, bytes, .. }) => {
                started_files += files;
                started_bytes += bytes;
            }
            SyncEventKind::Upload(UploadEvent::BytesSent { bytes, .. }) => {
                sent += 1;
                sent_bytes += bytes;
            }
            SyncEventKind::Upload(UploadEvent::CookbookFinished {
                outcome: Outcome::Created,
                ..
            }) => created += 1,
            _ => {}
        }
    }
    // Every file PUT the server saw is one BytesSent, announced by a CookbookStarted.
    assert_eq!(sent, count(&log, "PUT", "bookshelf/") as u64);
    assert_eq!((started_files, sent), (6, 6));
    assert_eq!(started_bytes, sent_bytes);
    assert_eq!(sent_bytes, report.servers[0].bytes_sent);
    assert_eq!(created, 2);
    let moved: Vec<&SyncEventKind> = events
        .iter()
        .filter(|k| matches!(k, SyncEventKind::PolicyGroup { .. }))
        .collect();
    assert!(
        matches!(
            moved[..],
            [SyncEventKind::PolicyGroup {
                outcome: PolicyOutcome::Created,
                previous_revision_id: None,
                ..
            }]
        ),
        "{moved:?}"
    );
    assert!(matches!(
        events.last(),
        Some(SyncEventKind::Finished { ok: true, .. })
    ));
}

#[tokio::test]
async fn status_shows_each_servers_revision_per_group_and_counts_disagreement_as_drift() {
    use chef_sync::StatusOptions;
    use chef_sync::config::{KeySource, RepoConfig, ServerSpec};
    use chef_sync::objects::ObjectKinds;
    use chef_sync::status::{Drift, PolicyCellState};

    let repo = repo();
    let opts = options(repo.cache.path());
    let fakes = [
        FakeErchef::start().await,
        FakeErchef::start().await,
        FakeErchef::start().await,
    ];
    let policy = LoadedPolicy::load(&repo.lock, &opts.cache).await.unwrap();
    let first = policy.lock.revision_id().unwrap().to_owned();
    // a and b: prod at the first revision; c: staging only.
    let pushed = push_to(
        vec![
            target(&fakes[0], "a", "prod"),
            target(&fakes[1], "b", "prod"),
            target(&fakes[2], "c", "staging"),
        ],
        std::slice::from_ref(&policy),
        &opts,
    )
    .await;
    assert!(pushed.ok, "{}", pushed.render_table());
    for fake in &fakes {
        fake.take_log();
    }
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keys/mixlib-spec.pem"
    );
    let spec = |name: &str, fake: &FakeErchef| {
        let pem = KeySource::Pem(std::fs::read(key).unwrap());
        ServerSpec::new(name, fake.org_url(), "spec-user", pem).unwrap()
    };
    let config = RepoConfig {
        root: repo.dir.path().to_path_buf(),
        servers: vec![
            spec("a", &fakes[0]),
            spec("b", &fakes[1]),
            spec("c", &fakes[2]),
        ],
        berksfile: None,
        warnings: vec![],
    };
    let status_options = StatusOptions {
        kinds: ObjectKinds::NONE,
        ..StatusOptions::default()
    };
    let status = chef_sync::status(&config, &status_options).await.unwrap();
    let table = status.render_table();
    assert_eq!(status.exit_code(), 0, "{table}");
    let prod = status.policy("prod", "web").expect("a prod row");
    let states: Vec<PolicyCellState> = prod.servers.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [
            PolicyCellState::Points,
            PolicyCellState::Points,
            PolicyCellState::NoGroup
        ]
    );
    assert_eq!(prod.servers[0].revision_id.as_deref(), Some(first.as_str()));
    assert!(prod.drift.is_empty());
    assert!(status.policy("staging", "web").unwrap().drift.is_empty());
    for fake in &fakes {
        assert!(writes(fake).is_empty(), "status writes nothing");
    }

    // b moves to a new revision behind the others' back: diverged, exit 2.
    cookbook(repo.dir.path(), "app", "include_recipe 'base'\nlog 'v2'\n");
    let lock = write_lock(repo.dir.path(), "web", &["app", "base"]);
    let second = LoadedPolicy::load(&lock, &opts.cache).await.unwrap();
    let moved = push_to(
        vec![target(&fakes[1], "b", "prod")],
        std::slice::from_ref(&second),
        &opts,
    )
    .await;
    assert!(moved.ok);
    let status = chef_sync::status(&config, &status_options).await.unwrap();
    let table = status.render_table();
    assert_eq!(status.exit_code(), 2, "{table}");
    let prod = status.policy("prod", "web").unwrap();
    assert_eq!(prod.drift, [Drift::Diverged]);
    assert_eq!(
        prod.servers[1].revision_id.as_deref(),
        second.lock.revision_id()
    );
    assert!(table.contains("policy prod/web"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&status.to_json()).unwrap();
    assert_eq!(json["policies"][0]["group"], "prod");
    assert_eq!(json["policies"][0]["servers"][2]["state"], "no_group");
}
