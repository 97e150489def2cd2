//! Roles, environments and data bags (issue #11) synced to real goiardi servers alongside the
//! cookbooks, and to wiremock where goiardi cannot show a case (a server failing halfway, the
//! exact bytes of a request).

use std::collections::BTreeMap;
use std::path::Path;

use chef_api::client::ChefClient;
use chef_sync::config::{LoadOptions, RepoConfig};
use chef_sync::objects::ObjectKinds;
use chef_sync::report::{ObjectOutcome, ServerReport};
use chef_sync::{CookbookOutcome, SyncError, SyncOptions, SyncReport};
use chef_testkit::fleet::{Fleet, example_repo_dir};
use serde_json::{Value, json};

use crate::support::example_fleet;

const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

/// An encrypted data bag item as `knife data bag create --secret-file` writes it (version 1).
const ENCRYPTED_ITEM: &str = r#"{
  "id": "db",
  "password": {
    "encrypted_data": "Dm2bYxWqJ9ONbIhj5Nqh0sQ4MFdkSw==\n",
    "iv": "f3Kvj4Vqa6tBfN1Bz1QxYw==\n",
    "version": 1,
    "cipher": "aes-256-cbc"
  }
}
"#;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The example repository plus two roles (JSON and Ruby), two environments (JSON and Ruby)
/// pinning the example cookbooks, and a data bag with a plain and an encrypted item.
fn add_objects(root: &Path) {
    write(
        root,
        "roles/web.json",
        r#"{"name": "web", "description": "front end", "run_list": ["base", "recipe[nginx_proxy]"],
            "default_attributes": {"nginx": {"port": 8080}}}"#,
    );
    write(
        root,
        "roles/app.rb",
        "name 'app'\ndescription 'application servers'\nrun_list 'role[web]', 'app_web::default'\n\
         env_run_lists 'production' => ['role[web]', 'app_web']\n\
         override_attributes 'app' => { 'workers' => 4 }\n",
    );
    write(
        root,
        "environments/production.json",
        r#"{"name": "production", "cookbook_versions": {"nginx_proxy": "= 2.1.0", "base": "~> 1.4"}}"#,
    );
    write(
        root,
        "environments/staging.rb",
        "name 'staging'\ndescription 'pre-production'\ncookbook 'app_web', '>= 0.9.0'\n\
         default_attributes 'stage' => true\n",
    );
    write(
        root,
        "data_bags/users/alice.json",
        "{\"id\": \"alice\", \"shell\": \"/bin/zsh\"}\n",
    );
    write(root, "data_bags/secrets/db.json", ENCRYPTED_ITEM);
}

fn remove_objects(root: &Path) {
    for dir in ["roles", "environments", "data_bags"] {
        let _ = std::fs::remove_dir_all(root.join(dir));
    }
}

async fn fleet_with_objects() -> (Fleet, tempfile::TempDir) {
    let (fleet, repo) = example_fleet(&REGIONS).await;
    // The example's own objects (what the demo syncs) make way for the ones tested here.
    remove_objects(repo.path());
    add_objects(repo.path());
    (fleet, repo)
}

fn load(repo: &Path) -> RepoConfig {
    RepoConfig::load(repo, &LoadOptions::default()).expect("the repository loads")
}

fn server<'a>(report: &'a SyncReport, name: &str) -> &'a ServerReport {
    report
        .servers
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} in the report"))
}

fn objects(report: &SyncReport, name: &str) -> Vec<(String, ObjectOutcome)> {
    server(report, name)
        .objects
        .iter()
        .map(|o| (o.label(), o.outcome))
        .collect()
}

fn labelled(list: &[&str], outcome: ObjectOutcome) -> Vec<(String, ObjectOutcome)> {
    list.iter().map(|l| ((*l).to_owned(), outcome)).collect()
}

const ALL_OBJECTS: [&str; 8] = [
    "data_bag[secrets]",
    "data_bag[users]",
    "data_bag_item[secrets/db]",
    "data_bag_item[users/alice]",
    "role[app]",
    "role[web]",
    "environment[production]",
    "environment[staging]",
];

async fn names(client: &ChefClient, path: &str) -> Vec<String> {
    client
        .get::<BTreeMap<String, Value>>(path)
        .await
        .unwrap()
        .into_keys()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_land_on_every_server_after_the_cookbooks_and_a_rerun_writes_nothing() {
    let (fleet, repo) = fleet_with_objects().await;
    let config = load(repo.path());
    let first = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    assert!(first.ok, "{}", first.render_table());
    for region in REGIONS {
        assert_eq!(
            objects(&first, region),
            labelled(&ALL_OBJECTS, ObjectOutcome::Created),
            "{region}: bags, items, roles, environments, in that order"
        );
        assert!(
            server(&first, region)
                .cookbooks
                .iter()
                .all(|c| c.outcome == CookbookOutcome::Created)
        );
        let client = fleet.pivotal_client(region).unwrap();
        // The .rb role as Chef would have stored it, run lists normalised.
        let app: Value = client.get("roles/app").await.unwrap();
        assert_eq!(
            app["run_list"],
            json!(["role[web]", "recipe[app_web::default]"])
        );
        assert_eq!(
            app["env_run_lists"]["production"],
            json!(["role[web]", "recipe[app_web]"])
        );
        assert_eq!(app["override_attributes"], json!({"app": {"workers": 4}}));
        let web: Value = client.get("roles/web").await.unwrap();
        assert_eq!(
            web["run_list"],
            json!(["recipe[base]", "recipe[nginx_proxy]"])
        );
        let staging: Value = client.get("environments/staging").await.unwrap();
        assert_eq!(staging["cookbook_versions"], json!({"app_web": ">= 0.9.0"}));
        assert_eq!(staging["description"], "pre-production");
        // The encrypted item comes back exactly as the file has it: ciphertext untouched.
        let db: Value = client.get("data/secrets/db").await.unwrap();
        let file: Value = serde_json::from_str(ENCRYPTED_ITEM).unwrap();
        assert_eq!(
            chef_sync::objects::normalize(chef_sync::objects::ObjectKind::DataBagItem, &db),
            file
        );
        assert_eq!(names(&client, "data/users").await, ["alice"]);
    }

    let second = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    assert!(second.ok, "{}", second.render_table());
    for region in REGIONS {
        assert_eq!(
            objects(&second, region),
            labelled(&ALL_OBJECTS, ObjectOutcome::Unchanged),
            "{region}: the server's defaults make its copies equal to the repository's"
        );
    }
    assert_eq!(second.files_sent(), 0);

    // One role edited on one server behind chef-sync's back is put back, and only there.
    let eu = fleet.pivotal_client("eu-west-1").unwrap();
    let mut web: Value = eu.get("roles/web").await.unwrap();
    web["description"] = json!("edited by hand");
    let _: Value = eu.put("roles/web", &web).await.unwrap();
    let third = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    let changed = |region: &str| -> Vec<String> {
        server(&third, region)
            .objects
            .iter()
            .filter(|o| o.outcome != ObjectOutcome::Unchanged)
            .map(|o| format!("{} {}", o.label(), o.outcome))
            .collect()
    };
    assert_eq!(changed("eu-west-1"), ["role[web] updated"]);
    assert!(changed("us-east-1").is_empty());
    let web: Value = eu.get("roles/web").await.unwrap();
    assert_eq!(web["description"], "front end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_object_stops_the_sync_before_anything_is_sent() {
    let (fleet, repo) = fleet_with_objects().await;
    write(
        repo.path(),
        "roles/db.json",
        "{\n  \"name\": \"database\",\n  \"run_list\": [\"postgresql\"]\n}\n",
    );
    write(
        repo.path(),
        "environments/broken.json",
        "{\n  \"name\": \"broken\",\n  \"cookbook_versions\": {\"base\": \"=> 1.0\"}\n}\n",
    );
    write(
        repo.path(),
        "data_bags/users/bob.json",
        "{\"id\": \"bob\",}",
    );
    let err = chef_sync::sync(&load(repo.path()), &SyncOptions::default())
        .await
        .unwrap_err();
    let SyncError::Objects(chef_sync::objects::ObjectsError::Invalid { problems }) = &err else {
        panic!("expected invalid objects, got {err}");
    };
    let shown: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p.position.file.file_name().unwrap().to_string_lossy(),
                p.position.line.unwrap()
            )
        })
        .collect();
    assert_eq!(shown, ["db.json:2", "broken.json:3", "bob.json:1"], "{err}");
    let first = err.position().expect("a typed position");
    assert_eq!(first, problems[0].position);
    let text = err.to_string();
    assert!(
        text.contains("name 'database' differs from the file name ('db')"),
        "{text}"
    );
    for region in REGIONS {
        let client = fleet.pivotal_client(region).unwrap();
        assert!(
            names(&client, "roles").await.is_empty(),
            "nothing sent to {region}"
        );
        assert!(
            names(&client, "cookbooks").await.is_empty(),
            "nothing sent to {region}"
        );
    }
}

fn deletions(report: &SyncReport, region: &str, outcome: ObjectOutcome) -> Vec<String> {
    let mut out: Vec<String> = server(report, region)
        .objects
        .iter()
        .filter(|o| o.outcome == outcome)
        .map(|o| o.label())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_what_the_repository_lacks_never_default_and_the_dry_run_lists_it() {
    let (fleet, repo) = fleet_with_objects().await;
    let config = load(repo.path());
    assert!(
        chef_sync::sync(&config, &SyncOptions::default())
            .await
            .unwrap()
            .ok
    );
    // Objects created behind chef-sync's back on one server.
    let us = fleet.pivotal_client("us-east-1").unwrap();
    let _: Value = us.post("roles", &json!({"name": "legacy"})).await.unwrap();
    let _: Value = us
        .post(
            "environments",
            &json!({"name": "old", "cookbook_versions": {}}),
        )
        .await
        .unwrap();
    let _: Value = us.post("data", &json!({"name": "stale"})).await.unwrap();
    let _: Value = us.post("data/stale", &json!({"id": "x"})).await.unwrap();
    let _: Value = us.post("data/users", &json!({"id": "bob"})).await.unwrap();

    let plain = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    assert!(
        deletions(&plain, "us-east-1", ObjectOutcome::Deleted).is_empty(),
        "purge is off by default"
    );
    assert_eq!(names(&us, "roles").await, ["app", "legacy", "web"]);

    let doomed = [
        "data_bag[stale]",
        "data_bag_item[stale/x]",
        "data_bag_item[users/bob]",
        "environment[old]",
        "role[legacy]",
    ];
    let dry = SyncOptions {
        dry_run: true,
        purge: true,
        ..Default::default()
    };
    let planned = chef_sync::sync(&config, &dry).await.unwrap();
    assert_eq!(
        deletions(&planned, "us-east-1", ObjectOutcome::Delete),
        doomed
    );
    assert!(deletions(&planned, "eu-west-1", ObjectOutcome::Delete).is_empty());
    let table = planned.render_table();
    for label in doomed {
        assert!(
            table.contains(&format!("us-east-1: would delete {label}")),
            "{table}"
        );
    }
    assert_eq!(
        names(&us, "roles").await,
        ["app", "legacy", "web"],
        "a dry run deletes nothing"
    );

    let purge = SyncOptions {
        purge: true,
        ..Default::default()
    };
    let purged = chef_sync::sync(&config, &purge).await.unwrap();
    assert!(purged.ok, "{}", purged.render_table());
    assert_eq!(
        deletions(&purged, "us-east-1", ObjectOutcome::Deleted),
        doomed
    );
    assert_eq!(names(&us, "roles").await, ["app", "web"]);
    assert_eq!(
        names(&us, "environments").await,
        ["_default", "production", "staging"]
    );
    assert_eq!(names(&us, "data").await, ["secrets", "users"]);
    assert_eq!(names(&us, "data/users").await, ["alice"]);
}

/// Uploads a one-file cookbook NAME VERSION to `client`'s server.
async fn upload_cookbook(client: &ChefClient, name: &str, version: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cb = dir.path().join(name);
    std::fs::create_dir_all(&cb).unwrap();
    std::fs::write(
        cb.join("metadata.rb"),
        format!("name '{name}'\nversion '{version}'\n"),
    )
    .unwrap();
    let cookbook = std::sync::Arc::new(chef_api::cookbook::LoadedCookbook::load(&cb).unwrap());
    let uploader = chef_api::upload::Uploader::new(client.clone(), Default::default());
    let results = uploader.upload(&[cookbook]).await.unwrap();
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_cookbooks_spares_every_version_an_environment_pins() {
    let (fleet, repo) = fleet_with_objects().await;
    let config = load(repo.path());
    let us = fleet.pivotal_client("us-east-1").unwrap();
    upload_cookbook(&us, "extra", "0.1.0").await;
    upload_cookbook(&us, "gone", "0.2.0").await;
    let _: Value = us
        .post(
            "environments",
            &json!({"name": "old", "cookbook_versions": {"extra": "= 0.1.0"}}),
        )
        .await
        .unwrap();
    let options = SyncOptions {
        purge_cookbooks: true,
        ..Default::default()
    };
    let report = chef_sync::sync(&config, &options).await.unwrap();
    assert!(report.ok, "{}", report.render_table());
    let deleted: Vec<String> = server(&report, "us-east-1")
        .cookbooks
        .iter()
        .filter(|c| c.outcome == CookbookOutcome::Deleted)
        .map(|c| format!("{} {}", c.name, c.version))
        .collect();
    assert_eq!(
        deleted,
        ["gone 0.2.0"],
        "extra 0.1.0 is pinned by environment[old]"
    );
    let mut left = names(&us, "cookbooks").await;
    left.sort();
    assert!(
        left.contains(&"extra".to_owned()) && !left.contains(&"gone".to_owned()),
        "{left:?}"
    );
    // With --purge the environment goes, and so does the version only it pinned.
    let options = SyncOptions {
        purge: true,
        purge_cookbooks: true,
        ..Default::default()
    };
    let report = chef_sync::sync(&config, &options).await.unwrap();
    assert!(report.ok, "{}", report.render_table());
    assert!(!names(&us, "cookbooks").await.contains(&"extra".to_owned()));
    assert!(
        server(&report, "us-east-1")
            .cookbooks
            .iter()
            .any(|c| c.name == "extra" && c.outcome == CookbookOutcome::Deleted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_nothing_satisfies_fails_the_server_before_any_object_is_written() {
    let (fleet, repo) = fleet_with_objects().await;
    write(
        repo.path(),
        "environments/production.json",
        r#"{"name": "production", "cookbook_versions": {"nginx_proxy": "~> 9.0"}}"#,
    );
    let report = chef_sync::sync(&load(repo.path()), &SyncOptions::default())
        .await
        .unwrap();
    assert!(!report.ok);
    for region in REGIONS {
        let s = server(&report, region);
        let error = s.error.as_ref().map_or("", |e| e.message.as_str());
        assert!(
            error.contains("environment[production] pins cookbook 'nginx_proxy' to '~> 9.0'")
                && error.contains("2.1.0"),
            "{error}"
        );
        assert!(s.objects.is_empty());
        assert!(
            s.cookbooks
                .iter()
                .all(|c| c.outcome == CookbookOutcome::Created),
            "cookbooks still go"
        );
        let client = fleet.pivotal_client(region).unwrap();
        assert!(names(&client, "roles").await.is_empty());
        assert!(names(&client, "data").await.is_empty());
        assert_eq!(names(&client, "environments").await, ["_default"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_carries_the_kinds_asked_for() {
    let (fleet, repo) = fleet_with_objects().await;
    let planned: std::sync::Arc<std::sync::Mutex<Vec<(String, usize, usize)>>> = Default::default();
    let sink = std::sync::Arc::clone(&planned);
    let finished: std::sync::Arc<std::sync::Mutex<Vec<(String, String, ObjectOutcome)>>> =
        Default::default();
    let finished_sink = std::sync::Arc::clone(&finished);
    let options = SyncOptions {
        only: "roles,data_bags".parse::<ObjectKinds>().unwrap(),
        purge: true,
        events: Some(std::sync::Arc::new(
            move |e: chef_sync::SyncEvent| match e.kind {
                chef_sync::SyncEventKind::ObjectsPlanned { create, delete, .. } => {
                    sink.lock()
                        .unwrap()
                        .push((e.server.to_string(), create, delete));
                }
                chef_sync::SyncEventKind::ObjectFinished {
                    kind,
                    name,
                    outcome,
                    error,
                } => {
                    assert!(error.is_none(), "{name}: {error:?}");
                    finished_sink.lock().unwrap().push((
                        e.server.to_string(),
                        format!("{kind}[{name}]"),
                        outcome,
                    ));
                }
                _ => {}
            },
        )),
        ..Default::default()
    };
    let report = chef_sync::sync(&load(repo.path()), &options).await.unwrap();
    assert!(report.ok, "{}", report.render_table());
    for region in REGIONS {
        let s = server(&report, region);
        assert!(s.cookbooks.is_empty());
        assert!(
            s.objects
                .iter()
                .all(|o| !o.label().starts_with("environment")),
            "{:?}",
            s.objects
        );
        let client = fleet.pivotal_client(region).unwrap();
        assert_eq!(names(&client, "roles").await, ["app", "web"]);
        assert_eq!(names(&client, "environments").await, ["_default"]);
        assert!(names(&client, "cookbooks").await.is_empty());
    }
    let mut planned = planned.lock().unwrap().clone();
    planned.sort();
    assert_eq!(
        planned,
        [
            ("eu-west-1".to_owned(), 6, 0),
            ("us-east-1".to_owned(), 6, 0)
        ],
        "two bags, two items, two roles per server"
    );
    // One ObjectFinished per object and server, as the report has it.
    let mut finished = finished.lock().unwrap().clone();
    finished.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut reported: Vec<(String, String, ObjectOutcome)> = report
        .servers
        .iter()
        .flat_map(|s| {
            s.objects
                .iter()
                .map(|o| (s.name.clone(), o.label(), o.outcome))
        })
        .collect();
    reported.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(finished.len(), 12, "{finished:?}");
    assert_eq!(finished, reported);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_without_object_directories_syncs_cookbooks_only() {
    let fleet = Fleet::start(&["solo"]).expect("goiardi");
    let repo = tempfile::tempdir().unwrap();
    fleet
        .provision_repo(&example_repo_dir(), repo.path())
        .await
        .unwrap();
    remove_objects(repo.path());
    let client = fleet.pivotal_client("solo").unwrap();
    let _: Value = client
        .post("roles", &json!({"name": "kept"}))
        .await
        .unwrap();
    let options = SyncOptions {
        purge: true,
        ..Default::default()
    };
    let report = chef_sync::sync(&load(repo.path()), &options).await.unwrap();
    assert!(report.ok, "{}", report.render_table());
    assert!(report.servers[0].objects.is_empty());
    assert_eq!(
        names(&client, "roles").await,
        ["kept"],
        "no roles/ directory: roles are left alone"
    );
}

// ---- wiremock: what goiardi cannot show ----

use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A one-server configuration pointing at `url`, objects under `repo`, no cookbooks.
fn mock_config(repo: &Path, url: &str) -> RepoConfig {
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keys/mixlib-spec.pem"
    ))
    .unwrap();
    let mut spec = chef_sync::config::ServerSpec::new(
        "mock",
        url,
        "spec-user",
        chef_sync::config::KeySource::Pem(pem),
    )
    .unwrap();
    spec.object_paths = chef_sync::objects::ObjectPaths::under(&[repo.to_path_buf()]);
    RepoConfig {
        root: repo.to_path_buf(),
        servers: vec![spec],
        berksfile: None,
        warnings: vec![],
    }
}

fn objects_only() -> SyncOptions {
    SyncOptions {
        only: "roles,environments,data_bags".parse().unwrap(),
        ..Default::default()
    }
}

async fn get(server: &MockServer, at: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// The listings and API-version probe of an empty server (plus what `extra` adds).
async fn empty_server(server: &MockServer) {
    get(server, "/cookbooks", json!({})).await;
    get(
        server,
        "/environments/_default",
        json!({"name": "_default"}),
    )
    .await;
    get(server, "/roles", json!({})).await;
    get(server, "/environments", json!({"_default": "x"})).await;
    get(server, "/data", json!({})).await;
}

fn small_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        "roles/web.json",
        r#"{"name": "web", "run_list": ["nginx"]}"#,
    );
    write(
        repo.path(),
        "roles/app.rb",
        "name 'app'\nrun_list 'role[web]'\n",
    );
    write(repo.path(), "environments/prod.json", r#"{"name": "prod"}"#);
    write(repo.path(), "data_bags/secrets/db.json", ENCRYPTED_ITEM);
    repo
}

#[tokio::test]
async fn an_identical_server_gets_no_write_at_all() {
    let repo = small_repo();
    let server = MockServer::start().await;
    get(&server, "/cookbooks", json!({})).await;
    get(
        &server,
        "/environments/_default",
        json!({"name": "_default", "json_class": "Chef::Environment"}),
    )
    .await;
    get(&server, "/roles", json!({"web": "u", "app": "u"})).await;
    // The server's full copies: every default filled, in its own key order.
    get(
        &server,
        "/roles/web",
        json!({
            "env_run_lists": {}, "run_list": ["recipe[nginx]"], "override_attributes": {},
            "default_attributes": {}, "chef_type": "role", "json_class": "Chef::Role",
            "description": "", "name": "web"
        }),
    )
    .await;
    get(
        &server,
        "/roles/app",
        json!({"name": "app", "run_list": ["role[web]"], "description": null}),
    )
    .await;
    get(
        &server,
        "/environments",
        json!({"_default": "u", "prod": "u"}),
    )
    .await;
    get(
        &server,
        "/environments/prod",
        json!({
            "name": "prod", "description": "", "cookbook_versions": {}, "default_attributes": {},
            "override_attributes": {}, "json_class": "Chef::Environment", "chef_type": "environment"
        }),
    )
    .await;
    get(&server, "/data", json!({"secrets": "u"})).await;
    get(&server, "/data/secrets", json!({"db": "u"})).await;
    let mut item: Value = serde_json::from_str(ENCRYPTED_ITEM).unwrap();
    item["chef_type"] = json!("data_bag_item");
    item["data_bag"] = json!("secrets");
    get(&server, "/data/secrets/db", item).await;
    for verb in ["PUT", "POST", "DELETE"] {
        Mock::given(method(verb))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
    }
    let report = chef_sync::sync(&mock_config(repo.path(), &server.uri()), &objects_only())
        .await
        .unwrap();
    assert!(report.ok, "{}", report.render_table());
    assert!(
        report.servers[0]
            .objects
            .iter()
            .all(|o| o.outcome == ObjectOutcome::Unchanged),
        "{:?}",
        report.servers[0].objects
    );
    assert_eq!(report.servers[0].objects.len(), 5);
}

#[tokio::test]
async fn a_server_failing_halfway_fails_those_objects_only_and_items_go_byte_for_byte() {
    let repo = small_repo();
    let server = MockServer::start().await;
    empty_server(&server).await;
    Mock::given(method("POST"))
        .and(path("/data"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"uri": "u"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/data/secrets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/roles"))
        .and(body_partial_json(json!({"name": "web"})))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": ["Field 'run_list' is not a valid run list"]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/roles"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"uri": "u"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/environments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"uri": "u"})))
        .expect(1)
        .mount(&server)
        .await;
    let report = chef_sync::sync(&mock_config(repo.path(), &server.uri()), &objects_only())
        .await
        .unwrap();
    assert!(!report.ok);
    let s = &report.servers[0];
    assert!(s.error.is_none(), "the server as a whole did not fail");
    let outcome = |label: &str| {
        s.objects
            .iter()
            .find(|o| o.label() == label)
            .unwrap_or_else(|| panic!("{label} in {:?}", s.objects))
    };
    assert_eq!(outcome("role[web]").outcome, ObjectOutcome::Failed);
    // Typed as a cookbook's error: kind from the one status mapping, status, the server's
    // own messages, the URL and the server.
    let error = outcome("role[web]").error.as_ref().unwrap();
    assert_eq!(
        error.kind,
        chef_api::error::ErrorKind::BadRequest,
        "{error:?}"
    );
    assert_eq!(error.status, Some(400));
    assert_eq!(error.messages, ["Field 'run_list' is not a valid run list"]);
    assert_eq!(
        error.url.as_deref(),
        Some(format!("{}/roles", server.uri()).as_str())
    );
    assert_eq!(error.server.as_deref(), Some("mock"));
    assert!(error.message.contains("not a valid run list"), "{error:?}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let web = json["servers"][0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "web")
        .unwrap()
        .clone();
    assert_eq!(web["error"]["kind"], "bad_request", "{web}");
    assert_eq!(web["error"]["status"], 400, "{web}");
    for ok in [
        "role[app]",
        "environment[prod]",
        "data_bag[secrets]",
        "data_bag_item[secrets/db]",
    ] {
        assert_eq!(outcome(ok).outcome, ObjectOutcome::Created, "{ok}");
    }
    assert!(
        report.render_table().contains("mock: role[web]: "),
        "{}",
        report.render_table()
    );
    // The encrypted item went as the file's bytes.
    let requests = server.received_requests().await.unwrap();
    let item = requests
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/data/secrets")
        .unwrap();
    assert_eq!(item.body, ENCRYPTED_ITEM.as_bytes());
}

#[tokio::test]
async fn items_are_not_sent_into_a_bag_that_could_not_be_created() {
    let repo = small_repo();
    let server = MockServer::start().await;
    empty_server(&server).await;
    Mock::given(method("POST"))
        .and(path("/data"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"error": ["missing create permission"]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/data/secrets"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"uri": "u"})))
        .mount(&server)
        .await;
    let report = chef_sync::sync(&mock_config(repo.path(), &server.uri()), &objects_only())
        .await
        .unwrap();
    let s = &report.servers[0];
    let find = |label: &str| s.objects.iter().find(|o| o.label() == label).unwrap();
    assert_eq!(find("data_bag[secrets]").outcome, ObjectOutcome::Failed);
    let bag_error = find("data_bag[secrets]").error.as_ref().unwrap();
    assert_eq!(bag_error.kind, chef_api::error::ErrorKind::Forbidden);
    assert_eq!(bag_error.status, Some(403));
    assert_eq!(bag_error.messages, ["missing create permission"]);
    let item = find("data_bag_item[secrets/db]");
    assert_eq!(item.outcome, ObjectOutcome::Failed);
    let item_error = item.error.as_ref().unwrap();
    assert!(
        item_error
            .message
            .contains("data bag 'secrets' could not be created"),
        "{item:?}"
    );
    assert_eq!(
        (item_error.kind, item_error.status),
        (chef_api::error::ErrorKind::Other, None),
        "not attempted: no request of its own"
    );
    assert_eq!(item_error.server.as_deref(), Some("mock"));
    assert_eq!(
        find("role[web]").outcome,
        ObjectOutcome::Created,
        "roles still go"
    );
}

/// Mounts `GET at` answered `body`, expected exactly `times` times.
async fn get_times(server: &MockServer, at: &str, body: Value, times: u64) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn search_rows_identical_to_the_repo_spare_the_gets_and_listings_decide_what_exists() {
    let repo = small_repo();
    let server = MockServer::start().await;
    get(&server, "/cookbooks", json!({})).await;
    get(&server, "/roles", json!({"web": "u", "app": "u"})).await;
    get(
        &server,
        "/environments",
        json!({"_default": "u", "prod": "u"}),
    )
    .await;
    get(&server, "/data", json!({"secrets": "u"})).await;
    get(&server, "/data/secrets", json!({"db": "u", "new": "u"})).await;
    let item: Value = serde_json::from_str(ENCRYPTED_ITEM).unwrap();
    // web as the repository has it; app different (so read by GET); ghost deleted but still
    // in the index (not listed: ignored).
    get(
        &server,
        "/search/role",
        json!({"total": 3, "start": 0, "rows": [
            {"name": "web", "run_list": ["recipe[nginx]"], "json_class": "Chef::Role", "chef_type": "role"},
            {"name": "app", "description": "old", "run_list": ["role[web]"]},
            {"name": "ghost"}
        ]}),
    )
    .await;
    // _default is listed but not in the rows: read by GET.
    get(
        &server,
        "/search/environment",
        json!({"total": 1, "start": 0, "rows": [{"name": "prod"}]}),
    )
    .await;
    // erchef wraps data bag items in search rows.
    get(
        &server,
        "/search/secrets",
        json!({"total": 1, "start": 0, "rows": [{"name": "data_bag_item_secrets_db",
            "json_class": "Chef::DataBagItem", "chef_type": "data_bag_item",
            "data_bag": "secrets", "raw_data": item}]}),
    )
    .await;
    for unread in [
        "/roles/web",
        "/roles/ghost",
        "/environments/prod",
        "/data/secrets/db",
    ] {
        get_times(&server, unread, json!({}), 0).await;
    }
    get_times(
        &server,
        "/roles/app",
        json!({"name": "app", "description": "old", "run_list": ["role[web]"]}),
        1,
    )
    .await;
    // Also the API-version probe's path.
    get(
        &server,
        "/environments/_default",
        json!({"name": "_default"}),
    )
    .await;
    // Listed but not indexed yet: read by its GET.
    get_times(&server, "/data/secrets/new", json!({"id": "new"}), 1).await;
    Mock::given(method("PUT"))
        .and(path("/roles/app"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let report = chef_sync::sync(&mock_config(repo.path(), &server.uri()), &objects_only())
        .await
        .unwrap();
    assert!(report.ok, "{}", report.render_table());
    let s = &report.servers[0];
    let outcome = |label: &str| {
        s.objects
            .iter()
            .find(|o| o.label() == label)
            .unwrap_or_else(|| panic!("{label} in {:?}", s.objects))
            .outcome
    };
    assert_eq!(outcome("role[app]"), ObjectOutcome::Updated);
    for same in [
        "role[web]",
        "environment[prod]",
        "data_bag[secrets]",
        "data_bag_item[secrets/db]",
    ] {
        assert_eq!(outcome(same), ObjectOutcome::Unchanged, "{same}");
    }
    assert!(
        s.objects.iter().all(|o| o.name != "ghost"),
        "an unlisted row is not an object"
    );
    // The expectations (no GET for rows identical to the repository) are checked on drop.
}

#[tokio::test]
async fn a_failing_search_falls_back_to_a_get_per_object() {
    let repo = small_repo();
    let server = MockServer::start().await;
    get(&server, "/cookbooks", json!({})).await;
    get(&server, "/roles", json!({"web": "u"})).await;
    get(&server, "/environments", json!({})).await;
    get(&server, "/data", json!({})).await;
    Mock::given(method("GET"))
        .and(path("/search/role"))
        .respond_with(
            // What a server without search answers (a 5xx would be retried first, then the same).
            ResponseTemplate::new(404).set_body_json(json!({"error": ["no search here"]})),
        )
        .mount(&server)
        .await;
    get_times(
        &server,
        "/roles/web",
        json!({"name": "web", "run_list": ["recipe[nginx]"]}),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"uri": "u"})))
        .mount(&server)
        .await;
    let report = chef_sync::sync(&mock_config(repo.path(), &server.uri()), &objects_only())
        .await
        .unwrap();
    let s = &report.servers[0];
    assert!(s.error.is_none(), "{}", report.render_table());
    let web = s.objects.iter().find(|o| o.label() == "role[web]").unwrap();
    assert_eq!(web.outcome, ObjectOutcome::Unchanged, "read by its GET");
    let app = s.objects.iter().find(|o| o.label() == "role[app]").unwrap();
    assert_eq!(app.outcome, ObjectOutcome::Created);
}

// ---- goiardi's lost data bag item updates (a server quirk) ----

/// A repository with `per_bag` items in each of `bags`, nothing else.
fn bags_repo(bags: &[&str], per_bag: usize) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    for bag in bags {
        for i in 0..per_bag {
            write(
                repo.path(),
                &format!("data_bags/{bag}/item{i:02}.json"),
                &format!("{{\"id\": \"item{i:02}\", \"n\": {i}}}"),
            );
        }
    }
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bag_written_in_one_run_is_complete_on_goiardi() {
    // goiardi saves a whole bag per item write: concurrent item writes into one bag lose
    // items (each answered 201). chef-sync writes one bag's items one at a time there.
    let fleet = Fleet::start(&REGIONS).expect("goiardi servers");
    let repo = tempfile::tempdir().unwrap();
    fleet
        .provision_repo(&example_repo_dir(), repo.path())
        .await
        .expect("pivotal users and repo");
    remove_objects(repo.path());
    let expected: Vec<String> = (0..30).map(|i| format!("item{i:02}")).collect();
    for name in &expected {
        write(
            repo.path(),
            &format!("data_bags/many/{name}.json"),
            &format!(
                "{{\"id\": \"{name}\", \"payload\": \"{}\"}}",
                "x".repeat(200)
            ),
        );
    }
    write(
        repo.path(),
        "data_bags/other/solo.json",
        "{\"id\": \"solo\"}",
    );
    let report = chef_sync::sync(&load(repo.path()), &objects_only())
        .await
        .unwrap();
    assert!(report.ok, "{}", report.render_table());
    for region in REGIONS {
        let client = fleet.pivotal_client(region).unwrap();
        assert_eq!(
            names(&client, "data/many").await,
            expected,
            "{region} holds every item of the bag"
        );
        assert!(client.is_goiardi(), "goiardi marks its answers X-Goiardi");
        assert_eq!(names(&client, "data/other").await, ["solo"]);
        let created = server(&report, region)
            .objects
            .iter()
            .filter(|o| o.outcome == ObjectOutcome::Created)
            .count();
        assert_eq!(created, 2 + 31, "{region}: 2 bags and 31 items created");
    }
    // And a second run finds nothing to do (no lost item to re-create).
    let again = chef_sync::sync(&load(repo.path()), &objects_only())
        .await
        .unwrap();
    for region in REGIONS {
        assert!(
            server(&again, region)
                .objects
                .iter()
                .all(|o| o.outcome == ObjectOutcome::Unchanged),
            "{}",
            again.render_table()
        );
    }
}

/// An empty server whose item POSTs each take `delay`; goiardi's marker header on every
/// answer when `goiardi`.
/// The arrival instant of every item write the fake received, by bag, in arrival order.
type Arrivals = std::sync::Arc<std::sync::Mutex<BTreeMap<String, Vec<std::time::Instant>>>>;

/// Answers an item write `delay` after it arrived, noting when it arrived. The instant is
/// taken when wiremock hands the whole request over, before the delay starts: a request that
/// arrived less than `delay` after another of its bag was sent before that one's answer
/// could have reached the client.
struct RecordArrival {
    bag: String,
    delay: std::time::Duration,
    goiardi: bool,
    arrivals: Arrivals,
}

impl wiremock::Respond for RecordArrival {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let now = std::time::Instant::now();
        self.arrivals
            .lock()
            .unwrap()
            .entry(self.bag.clone())
            .or_default()
            .push(now);
        let answer = ResponseTemplate::new(201)
            .set_body_json(json!({}))
            .set_delay(self.delay);
        if self.goiardi {
            answer.insert_header("X-Goiardi", "yes")
        } else {
            answer
        }
    }
}

/// A server with empty listings whose item writes into `bags` are answered `delay` late and
/// recorded in `arrivals`; marked as goiardi (`X-Goiardi`) on every answer if `goiardi`.
async fn slow_item_server(
    bags: &[&str],
    delay: std::time::Duration,
    goiardi: bool,
    arrivals: &Arrivals,
) -> MockServer {
    let server = MockServer::start().await;
    let marked = |t: ResponseTemplate| {
        if goiardi {
            t.insert_header("X-Goiardi", "yes")
        } else {
            t
        }
    };
    for (at, body) in [
        ("/cookbooks", json!({})),
        ("/environments/_default", json!({"name": "_default"})),
        ("/roles", json!({})),
        ("/environments", json!({"_default": "x"})),
        ("/data", json!({})),
    ] {
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(marked(ResponseTemplate::new(200).set_body_json(body)))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/data"))
        .respond_with(marked(
            ResponseTemplate::new(201).set_body_json(json!({"uri": "u"})),
        ))
        .mount(&server)
        .await;
    for bag in bags {
        Mock::given(method("POST"))
            .and(path(format!("/data/{bag}")))
            .respond_with(RecordArrival {
                bag: (*bag).to_owned(),
                delay,
                goiardi,
                arrivals: std::sync::Arc::clone(arrivals),
            })
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_writes_are_concurrent_on_erchef_and_one_at_a_time_per_bag_on_goiardi() {
    // The witness is causal, not a stopwatch: each item write's arrival at the fake, whose
    // answers leave `DELAY` after arrival. A write arriving less than `DELAY` after an
    // earlier one was sent without waiting for that one's answer; a write arriving `DELAY` or
    // more after the previous one is all a client waiting for each answer can do. Only the
    // "without waiting" checks depend on timing, and they leave the client `DELAY` to send
    // writes it has all in hand at once.
    const DELAY: std::time::Duration = std::time::Duration::from_millis(300);
    let bags = ["a", "b"];
    let repo = bags_repo(&bags, 3);
    let run = |goiardi: bool| {
        let repo = repo.path().to_path_buf();
        async move {
            let arrivals = Arrivals::default();
            let server = slow_item_server(&bags, DELAY, goiardi, &arrivals).await;
            let report = chef_sync::sync(&mock_config(&repo, &server.uri()), &objects_only())
                .await
                .unwrap();
            assert!(report.ok, "{}", report.render_table());
            let arrivals = std::mem::take(&mut *arrivals.lock().unwrap());
            for bag in bags {
                assert_eq!(
                    arrivals.get(bag).map_or(0, Vec::len),
                    3,
                    "every item of bag {bag} sent once"
                );
            }
            arrivals
        }
    };
    let offsets = |arrivals: &BTreeMap<String, Vec<std::time::Instant>>| {
        let first = arrivals.values().flatten().min().copied().unwrap();
        arrivals
            .iter()
            .map(|(bag, at)| (bag.clone(), at.iter().map(|t| *t - first).collect()))
            .collect::<BTreeMap<String, Vec<std::time::Duration>>>()
    };

    // erchef-like (no X-Goiardi): within each bag, some item was sent before the bag's first
    // answer could have come back.
    let erchef = run(false).await;
    for (bag, at) in &erchef {
        assert!(
            at[1..].iter().any(|t| *t < at[0] + DELAY),
            "erchef-like server: bag {bag}'s items waited for each other (arrivals since the first: {:?})",
            offsets(&erchef)
        );
    }

    // goiardi: within each bag, every item sent only after the previous one's answer...
    let goiardi = run(true).await;
    for (bag, at) in &goiardi {
        assert!(
            at.windows(2).all(|w| w[1] >= w[0] + DELAY),
            "goiardi: bag {bag}'s items overlapped (arrivals since the first: {:?})",
            offsets(&goiardi)
        );
    }
    // ...and the bags side by side: each bag's first item was sent before any answer could
    // have come back.
    let first = goiardi.values().map(|at| at[0]).min().unwrap();
    assert!(
        goiardi.values().all(|at| at[0] < first + DELAY),
        "goiardi: the bags waited for each other (arrivals since the first: {:?})",
        offsets(&goiardi)
    );
}
