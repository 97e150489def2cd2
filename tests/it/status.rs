//! `chef_sync::status` end to end: three goiardi servers standing in for regions, the example
//! repository (plus roles, an environment and a data bag) synced to them, then drift injected
//! behind chef-sync's back and read back.

use std::path::Path;
use std::sync::Arc;

use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{Outcome, UploadOptions, Uploader};
use chef_sync::config::{LoadOptions, RepoConfig};
use chef_sync::status::{CellState, Drift};
use chef_sync::{StatusOptions, StatusReport, SyncOptions};
use chef_testkit::fleet::{Fleet, copy_tree};

use crate::support::{EXAMPLE_COOKBOOKS as COOKBOOKS, REGIONS, example_fleet};

const OBJECTS: [&str; 5] = [
    "data_bag[users]",
    "data_bag_item[users/alice]",
    "role[base]",
    "role[web]",
    "environment[production]",
];

/// Roles (JSON and the Ruby DSL), an environment and a data bag item in the repository, in
/// place of the example repository's own (what the demo syncs).
fn write_objects(repo: &Path) {
    for dir in ["roles", "environments", "data_bags"] {
        let _ = std::fs::remove_dir_all(repo.join(dir));
    }
    let write = |rel: &str, text: &str| {
        let path = repo.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "roles/web.json",
        r#"{"name": "web", "description": "Web tier",
            "run_list": ["recipe[base]", "nginx_proxy", "app_web"],
            "default_attributes": {"nginx_proxy": {"port": 8080}}}"#,
    );
    write(
        "roles/base.rb",
        "name 'base'\ndescription 'Every node'\nrun_list 'recipe[base]', 'recipe[ntp_client]'\n",
    );
    write(
        "environments/production.json",
        r#"{"name": "production", "cookbook_versions": {"base": "~> 1.4"}}"#,
    );
    write(
        "data_bags/users/alice.json",
        r#"{"id": "alice", "shell": "/bin/bash", "groups": ["ops"]}"#,
    );
}

/// Three servers, the example repository laid out for them (with objects) and synced to all
/// three.
async fn synced_fleet() -> (Fleet, tempfile::TempDir, RepoConfig) {
    let (fleet, repo) = example_fleet(&REGIONS).await;
    write_objects(repo.path());
    let config = RepoConfig::load(repo.path(), &LoadOptions::default()).expect("config");
    let synced = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    assert!(synced.ok, "{}", synced.render_table());
    (fleet, repo, config)
}

fn object_states(report: &StatusReport, id: &str) -> Vec<CellState> {
    report
        .object(id)
        .unwrap_or_else(|| panic!("{id} in the status:\n{}", report.render_table()))
        .servers
        .iter()
        .map(|c| c.state)
        .collect()
}

fn version_of(repo: &Path, name: &str) -> String {
    LoadedCookbook::load(&repo.join("cookbooks").join(name))
        .unwrap()
        .version()
        .to_owned()
}

/// A copy of the repository's cookbook `name` with its version number changed (in
/// metadata.rb or metadata.json, whichever it has).
fn renumbered_copy(
    repo: &Path,
    name: &str,
    version: &str,
) -> (tempfile::TempDir, Arc<LoadedCookbook>) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo.join("cookbooks").join(name), dir.path()).unwrap();
    let current = version_of(repo, name);
    for file in ["metadata.rb", "metadata.json"] {
        let path = dir.path().join(file);
        if let Ok(text) = std::fs::read_to_string(&path) {
            std::fs::write(&path, text.replace(&current, version)).unwrap();
        }
    }
    let cookbook = Arc::new(LoadedCookbook::load(dir.path()).unwrap());
    assert_eq!(cookbook.version(), version);
    (dir, cookbook)
}

fn states(report: &StatusReport, name: &str, version: &str) -> Vec<CellState> {
    report
        .cookbook(name, version)
        .unwrap_or_else(|| panic!("{name} {version} in the status:\n{}", report.render_table()))
        .servers
        .iter()
        .map(|c| c.state)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sync_every_server_matches_the_repository_and_each_other() {
    let (_fleet, repo, config) = synced_fleet().await;
    let report = chef_sync::status(&config, &StatusOptions::default())
        .await
        .unwrap();
    let table = report.render_table();
    assert_eq!(report.exit_code(), 0, "{table}");
    assert!(report.in_sync);
    // goiardi answers `null` on policy_groups: no policies, not an unreadable server.
    assert!(report.policies.is_empty(), "{table}");
    let names: Vec<&str> = report.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, REGIONS);
    for server in &report.servers {
        assert!(server.ok && server.error.is_none(), "{server:?}");
        assert_eq!(server.cookbook_versions, COOKBOOKS.len(), "{}", server.name);
        assert_eq!(
            server.objects,
            OBJECTS.len(),
            "{}: _default is left out",
            server.name
        );
    }
    let ids: Vec<&str> = report.objects.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, OBJECTS, "in the order a sync writes them");
    for object in &report.objects {
        assert!(object.drift.is_empty(), "{table}");
        assert_eq!(object_states(&report, &object.id), [CellState::Match; 3]);
        assert!(object.servers.iter().all(|c| c.digest == object.repo));
    }
    let web = report.object("role[web]").unwrap();
    assert_eq!(
        (web.kind.as_str(), web.name.as_str(), web.bag.as_deref()),
        ("role", "web", None)
    );
    let alice = report.object("data_bag_item[users/alice]").unwrap();
    assert_eq!(
        (alice.kind.as_str(), alice.bag.as_deref()),
        ("data_bag_item", Some("users"))
    );
    let listed: Vec<&str> = report.cookbooks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(listed, COOKBOOKS);
    for name in COOKBOOKS {
        let version = version_of(repo.path(), name);
        let row = report.cookbook(name, &version).unwrap();
        assert!(row.drift.is_empty(), "{table}");
        assert_eq!(states(&report, name, &version), [CellState::Match; 3]);
        let repo_digest = row.repo.as_deref().expect("the repository has it");
        for cell in &row.servers {
            assert_eq!(cell.frozen, Some(true), "a Berksfile repo is synced frozen");
            let digest = cell.digest.as_deref().unwrap();
            assert_eq!(digest.len(), 64);
            // goiardi speaks API v0: its digest covers the nine segments, which is every file
            // of these cookbooks, so it equals the repository's.
            assert_eq!(digest, repo_digest, "{name} on {}", cell.server);
        }
    }
    assert!(table.ends_with("(exit 0)\n"), "{table}");

    // The same from a path, as JSON, for one server.
    let one = StatusOptions {
        servers: vec!["eu-west-1".into()],
        ..StatusOptions::default()
    };
    let report = chef_sync::status(repo.path(), &one).await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["in_sync"], true);
    assert_eq!(json["servers"].as_array().unwrap().len(), 1);
    let base = json["cookbooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "base")
        .unwrap();
    assert_eq!(base["servers"][0]["server"], "eu-west-1");
    assert_eq!(base["servers"][0]["state"], "match");
    assert_eq!(base["drift"], serde_json::json!([]));
    let web = json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "role[web]")
        .unwrap();
    assert_eq!(web["kind"], "role");
    assert_eq!(web["servers"][0]["state"], "match");
    assert_eq!(web["repo"].as_str().unwrap().len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_edited_deleted_or_added_behind_chef_syncs_back_are_drift() {
    let (fleet, repo, config) = synced_fleet().await;
    // eu-west-1: role[web] edited by hand; us-east-1: alice deleted, a role only it has.
    let eu = fleet.pivotal_client("eu-west-1").unwrap();
    let mut web: serde_json::Value = eu.get("roles/web").await.unwrap();
    web["default_attributes"]["nginx_proxy"]["port"] = 9090.into();
    eu.put::<_, serde_json::Value>("roles/web", &web)
        .await
        .unwrap();
    let us = fleet.pivotal_client("us-east-1").unwrap();
    us.delete::<serde_json::Value>("data/users/alice")
        .await
        .unwrap();
    us.post::<_, serde_json::Value>(
        "roles",
        &serde_json::json!({"name": "debug", "run_list": ["recipe[base]"]}),
    )
    .await
    .unwrap();

    let report = chef_sync::status(&config, &StatusOptions::default())
        .await
        .unwrap();
    let table = report.render_table();
    assert_eq!(report.exit_code(), 2, "{table}");
    let drifting: Vec<&str> = report.drifting_objects().map(|o| o.id.as_str()).collect();
    assert_eq!(
        drifting,
        ["data_bag_item[users/alice]", "role[debug]", "role[web]"],
        "{table}"
    );
    assert!(report.drifting_cookbooks().next().is_none(), "{table}");

    let web = report.object("role[web]").unwrap();
    assert_eq!(web.drift, [Drift::Differs, Drift::Diverged]);
    assert_eq!(
        object_states(&report, "role[web]"),
        [CellState::Match, CellState::Differs, CellState::Match]
    );
    assert_ne!(web.servers[1].digest, web.repo);

    let alice = report.object("data_bag_item[users/alice]").unwrap();
    assert_eq!(alice.drift, [Drift::Missing, Drift::Partial]);
    assert_eq!(
        object_states(&report, "data_bag_item[users/alice]"),
        [CellState::Match, CellState::Match, CellState::Missing]
    );

    let debug = report.object("role[debug]").unwrap();
    assert_eq!(debug.repo, None);
    assert_eq!(debug.drift, [Drift::Partial]);
    assert_eq!(
        object_states(&report, "role[debug]"),
        [CellState::Absent, CellState::Absent, CellState::Extra]
    );
    let line = table.lines().find(|l| l.starts_with("role[web]")).unwrap();
    assert!(
        line.contains("differs ") && line.ends_with("differs, diverged"),
        "{table}"
    );

    // Only roles: no cookbook is read or listed, the role drift is still seen.
    let roles = StatusOptions {
        kinds: "roles".parse().unwrap(),
        ..StatusOptions::default()
    };
    let report = chef_sync::status(&config, &roles).await.unwrap();
    assert!(report.cookbooks.is_empty());
    assert!(
        report.objects.iter().all(|o| o.kind == "role"),
        "{}",
        report.render_table()
    );
    assert_eq!(report.exit_code(), 2);

    // Without roles/ a sync carries no roles: status no longer compares them either.
    std::fs::remove_dir_all(repo.path().join("roles")).unwrap();
    let report = chef_sync::status(repo.path(), &StatusOptions::default())
        .await
        .unwrap();
    assert!(
        report.objects.iter().all(|o| o.kind != "role"),
        "{}",
        report.render_table()
    );
    let drifting: Vec<&str> = report.drifting_objects().map(|o| o.id.as_str()).collect();
    assert_eq!(drifting, ["data_bag_item[users/alice]"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_reuploaded_with_other_content_and_force_on_one_server_is_drift() {
    let (fleet, repo, config) = synced_fleet().await;
    let version = version_of(repo.path(), "base");

    // Behind chef-sync's back: base, same version number, one template changed, forced over
    // the frozen copy on eu-west-1 only (knife cookbook upload --force --freeze).
    let edited = tempfile::tempdir().unwrap();
    copy_tree(&repo.path().join("cookbooks/base"), edited.path()).unwrap();
    std::fs::write(
        edited.path().join("templates/default/motd.erb"),
        "Edited by hand on one server.\n",
    )
    .unwrap();
    let cookbook = Arc::new(LoadedCookbook::load(edited.path()).unwrap());
    assert_eq!(cookbook.version(), version);
    let forced = UploadOptions {
        force: true,
        freeze: true,
        ..UploadOptions::default()
    };
    let results = Uploader::new(fleet.pivotal_client("eu-west-1").unwrap(), forced)
        .upload(&[cookbook])
        .await
        .unwrap();
    assert_eq!(results[0].outcome, Outcome::Updated, "{results:?}");

    let report = chef_sync::status(&config, &StatusOptions::default())
        .await
        .unwrap();
    let table = report.render_table();
    assert_eq!(report.exit_code(), 2, "{table}");
    assert!(!report.in_sync);
    let drifting: Vec<(&str, &str)> = report
        .drifting_cookbooks()
        .map(|c| (c.name.as_str(), c.version.as_str()))
        .collect();
    assert_eq!(drifting, [("base", version.as_str())], "{table}");
    let row = report.cookbook("base", &version).unwrap();
    assert_eq!(row.drift, [Drift::Differs, Drift::Diverged]);
    assert_eq!(
        states(&report, "base", &version),
        [CellState::Match, CellState::Differs, CellState::Match]
    );
    let eu = &row.servers[1];
    assert_eq!(eu.server, "eu-west-1");
    assert_eq!(eu.frozen, Some(true), "frozen: no upload tool would notice");
    assert_ne!(eu.digest, row.repo);
    assert_eq!(row.servers[0].digest, row.repo);
    // The table names the server's cell and the cookbook's row.
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("cookbook base {version}")))
        .unwrap();
    let short = &eu.digest.as_deref().unwrap()[..12];
    assert!(line.contains(&format!("differs {short}*")), "{table}");
    assert!(line.ends_with("differs, diverged"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["exit_code"], 2);

    // A version only one server holds: partial, and `extra` against the repository.
    let (_dir, older) = renumbered_copy(repo.path(), "ntp_client", "0.0.1");
    Uploader::new(
        fleet.pivotal_client("us-east-1").unwrap(),
        UploadOptions::default(),
    )
    .upload(&[older])
    .await
    .unwrap();
    let report = chef_sync::status(&config, &StatusOptions::default())
        .await
        .unwrap();
    let row = report.cookbook("ntp_client", "0.0.1").expect("listed");
    assert_eq!(row.repo, None);
    assert_eq!(
        states(&report, "ntp_client", "0.0.1"),
        [CellState::Absent, CellState::Absent, CellState::Extra]
    );
    assert_eq!(row.drift, [Drift::Partial]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_versions_on_every_server_are_extra_and_drift_only_when_strict() {
    let (fleet, repo, config) = synced_fleet().await;
    let (_dir, older) = renumbered_copy(repo.path(), "role_marker", "0.0.9");
    for region in REGIONS {
        Uploader::new(
            fleet.pivotal_client(region).unwrap(),
            UploadOptions::default(),
        )
        .upload(std::slice::from_ref(&older))
        .await
        .unwrap();
    }
    let lenient = chef_sync::status(&config, &StatusOptions::default())
        .await
        .unwrap();
    assert_eq!(lenient.exit_code(), 0, "{}", lenient.render_table());
    assert_eq!(
        states(&lenient, "role_marker", "0.0.9"),
        [CellState::Extra; 3]
    );
    let strict = StatusOptions {
        strict: true,
        ..StatusOptions::default()
    };
    let strict = chef_sync::status(&config, &strict).await.unwrap();
    assert_eq!(strict.exit_code(), 2, "{}", strict.render_table());
    assert!(strict.strict);
    assert_eq!(
        strict.cookbook("role_marker", "0.0.9").unwrap().drift,
        [Drift::Extra]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_exit_1_and_the_others_are_still_compared() {
    let (mut fleet, repo, config) = synced_fleet().await;
    let down_url = fleet.server("us-east-1").url();
    fleet.server_mut("us-east-1").stop();
    let report = chef_sync::status(&config, &StatusOptions::default())
        .await
        .unwrap();
    let table = report.render_table();
    assert_eq!(report.exit_code(), 1, "{table}");
    let failed: Vec<&str> = report.failed_servers().map(|s| s.name.as_str()).collect();
    assert_eq!(failed, ["us-east-1"]);
    let down = &report.servers[2];
    let typed = down.error.as_ref().expect("says why");
    // Typed as the sync report's errors: a refused connection is `network`, no status.
    assert_eq!(typed.kind, chef_api::error::ErrorKind::Network, "{typed:?}");
    assert_eq!(typed.status, None);
    assert_eq!(typed.server.as_deref(), Some("us-east-1"));
    assert!(
        typed
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with(&down_url)),
        "{typed:?}"
    );
    let error = typed.message.as_str();
    assert!(error.contains(&down_url), "names the URL: {error}");
    assert_eq!(down.api_version, None);
    let version = version_of(repo.path(), "base");
    assert_eq!(
        states(&report, "base", &version),
        [CellState::Match, CellState::Match, CellState::Unknown]
    );
    assert!(report.drifting_cookbooks().next().is_none(), "{table}");
    assert!(
        table.contains(&format!("us-east-1: could not be read: {error}")),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["servers"][2]["ok"], false);
    assert_eq!(json["servers"][2]["error"]["kind"], "network");
    assert_eq!(json["servers"][2]["error"]["server"], "us-east-1");
    assert_eq!(json["servers"][2]["error"]["message"], error);
}
