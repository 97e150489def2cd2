//! Policyfile locks and `chef push` to many servers, against an in-process erchef-like server
//! (goiardi serves no policies): lock fixtures from public repositories round-trip byte for
//! byte, identifiers and revision ids match what chef-cli wrote, and a push moves a group only
//! where every artifact it names is on that server.

use std::path::{Path, PathBuf};

use chef_sync::policy::identifier;
use chef_sync::policy::{LockSource, PolicyLock};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/policyfiles")
        .join(name)
}

/// Locks chef-cli (FFI_Yajl pretty output) wrote, from public repositories.
const YAJL_LOCKS: [&str; 3] = [
    "chef-cli-test12.lock.json",
    "housepub-ng.lock.json",
    "jenkins-demo.lock.json",
];

#[test]
fn chef_cli_locks_round_trip_byte_for_byte() {
    for name in YAJL_LOCKS {
        let path = fixture(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let lock = PolicyLock::parse(&text, &path).unwrap();
        assert_eq!(lock.to_lock_string(), text, "{name}");
    }
}

#[test]
fn revision_ids_recompute_to_what_chef_cli_wrote() {
    for name in YAJL_LOCKS {
        let lock = PolicyLock::load(&fixture(name)).unwrap();
        assert_eq!(
            Some(lock.computed_revision_id().as_str()),
            lock.revision_id(),
            "{name}"
        );
    }
}

#[test]
fn named_run_lists_and_attributes_are_part_of_the_revision_text() {
    let lock = PolicyLock::load(&fixture("jenkins-demo.lock.json")).unwrap();
    let text = identifier::revision_text(lock.document());
    assert!(
        text.starts_with("name:jenkins\nrun-list-item:recipe[apt::default]\n"),
        "{text}"
    );
    assert!(!text.contains("named-run-list:"), "{text}");
    let mut named = lock.document().clone();
    named.insert(
        "named_run_lists".into(),
        serde_json::json!({"update_jenkins": ["recipe[jenkins::master]", "recipe[policyfile_demo::default]"]}),
    );
    let text_named = identifier::revision_text(&named);
    assert!(
        text_named.contains("run-list-item:recipe[policyfile_demo::default]\nnamed-run-list:update_jenkins;run-list-item:recipe[jenkins::master]\nnamed-run-list:update_jenkins;run-list-item:recipe[policyfile_demo::default]\ncookbook:"),
        "{text_named}"
    );
    assert_ne!(
        identifier::revision_id(&named),
        identifier::revision_id(lock.document())
    );
    assert!(text.ends_with(
        "default_attributes:{\"greeting\":\"Attributes, f*** yeah\"}\noverride_attributes:{\"attr_only_updating\":\"use -a\"}\n"
    ));
}

#[test]
fn an_old_chefdk_lock_is_read_and_gets_a_computed_revision() {
    let lock = PolicyLock::load(&fixture("jenkins-demo-chefdk-0.3.lock.json")).unwrap();
    assert_eq!(lock.name(), "jenkins");
    assert_eq!(lock.revision_id(), None);
    assert_eq!(lock.cookbooks().len(), 8);
    assert_eq!(
        lock.cookbooks()[0].source,
        LockSource::Local {
            path: "cookbooks/policyfile_demo".into(),
            scm_revision: None
        }
    );
    assert!(matches!(
        &lock.cookbooks()[1].source,
        LockSource::Cached { cache_key: Some(k), .. } if k == "java-1.22.0-supermarket.getchef.com"
    ));
    let doc = lock.policy_document();
    assert_eq!(doc["revision_id"], lock.computed_revision_id());
    // Its cookbooks are hashed in file (resolution) order, as ChefDK did.
    let text = identifier::revision_text(lock.document());
    assert!(text.contains(
        "cookbook:policyfile_demo;id:5d6ea32c9495698e989b4c39890181828ef34b99\ncookbook:java;"
    ));
}

#[test]
fn a_housepub_lock_reads_git_path_and_supermarket_sources() {
    let lock = PolicyLock::load(&fixture("housepub-ng.lock.json")).unwrap();
    let by_name = |n: &str| lock.cookbooks().iter().find(|c| c.name == n).unwrap();
    assert_eq!(
        by_name("packages").option("git"),
        Some("https://github.com/mattray/packages-cookbook")
    );
    assert_eq!(
        by_name("users").source,
        LockSource::Local {
            path: "../housepub-chef-repo/cookbooks/users".into(),
            scm_revision: Some("8d8b2bebd9dd573bdc376d40e42b0c11dc523669".into())
        }
    );
    assert_eq!(
        by_name("apt").option("artifactserver"),
        Some("https://supermarket.chef.io/api/v1/cookbooks/apt/versions/2.7.0/download")
    );
    for c in lock.cookbooks() {
        assert_eq!(
            identifier::dotted_decimal(&c.identifier).as_deref(),
            Some(c.dotted_decimal_identifier.as_str()),
            "{}",
            c.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Push against in-process erchef-like servers.

use std::time::Duration;

use chef_api::client::{ChefClient, RetryConfig};
use chef_api::key::PrivateKey;
use chef_sync::config::{KeySource, RepoConfig, ServerSpec};
use chef_sync::policy::identifier::CookbookIdentity;
use chef_sync::policy::{
    CookbookCache, LoadedPolicy, LockedCookbookError, PolicyOutcome, PushError, PushOptions,
    PushTarget, push, push_to,
};
use chef_sync::report::CookbookOutcome;
use chef_testkit::policy_server::{FakeErchef, Fault, FaultAction, Logged};
use serde_json::{Value, json};

const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/keys/mixlib-spec.pem"
);

pub(super) fn client(url: &str) -> ChefClient {
    ChefClient::builder(url)
        .with_client_name("spec-user")
        .with_key(PrivateKey::from_pem_file(KEY).unwrap())
        .with_retry(RetryConfig {
            max_retries: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            retry_timeout: Duration::from_secs(5),
        })
        .build()
        .unwrap()
}

fn write(root: &Path, rel: &str, bytes: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A cookbook under `root/cookbooks/NAME` with a recipe, a template and a file outside the
/// nine segments (`test/smoke.rb`, which API v0 manifests cannot carry).
pub(super) fn cookbook(root: &Path, name: &str, recipe: &str) {
    let dir = format!("cookbooks/{name}");
    write(
        root,
        &format!("{dir}/metadata.rb"),
        &format!("name '{name}'\nversion '1.2.0'\n"),
    );
    write(root, &format!("{dir}/recipes/default.rb"), recipe);
    write(
        root,
        &format!("{dir}/templates/app.conf.erb"),
        "port <%= 80 %>\n",
    );
    write(root, &format!("{dir}/test/smoke.rb"), "describe port(80)\n");
}

/// Writes `root/Policyfile.lock.json` for policy `name` over path cookbooks, as chef-cli
/// would (identifiers, revision id, sorted locks, yajl bytes).
pub(super) fn write_lock(root: &Path, name: &str, cookbooks: &[&str]) -> PathBuf {
    let mut locks = serde_json::Map::new();
    let mut sorted = cookbooks.to_vec();
    sorted.sort_unstable();
    for c in &sorted {
        let id = CookbookIdentity::load(&root.join("cookbooks").join(c)).unwrap();
        locks.insert(
            (*c).to_owned(),
            json!({
                "version": id.version(),
                "identifier": id.identifier,
                "dotted_decimal_identifier": id.dotted_decimal_identifier,
                "source": format!("cookbooks/{c}"),
                "cache_key": null,
                "scm_info": null,
                "source_options": {"path": format!("cookbooks/{c}")}
            }),
        );
    }
    let mut doc = serde_json::Map::new();
    doc.insert("revision_id".into(), Value::Null);
    doc.insert("name".into(), name.into());
    doc.insert(
        "run_list".into(),
        json!([format!("recipe[{}::default]", cookbooks[0])]),
    );
    doc.insert("included_policy_locks".into(), json!([]));
    doc.insert("cookbook_locks".into(), Value::Object(locks));
    doc.insert("default_attributes".into(), json!({}));
    doc.insert("override_attributes".into(), json!({}));
    doc.insert(
        "solution_dependencies".into(),
        json!({"Policyfile": [], "dependencies": {}}),
    );
    let rev = identifier::revision_id(&doc);
    doc["revision_id"] = rev.into();
    let path = root.join("Policyfile.lock.json");
    std::fs::write(
        &path,
        chef_sync::policy::json::to_lock_string(&Value::Object(doc)),
    )
    .unwrap();
    path
}

pub(super) fn options(cache: &Path) -> PushOptions {
    PushOptions {
        cache: CookbookCache {
            root: cache.to_path_buf(),
            chef_cli_caches: Vec::new(),
            offline: true,
            supermarket: None,
            artifactory: None,
            chef_servers: Vec::new(),
        },
        commit_retry_delay: Duration::from_millis(1),
        ..PushOptions::default()
    }
}

pub(super) fn target(fake: &FakeErchef, name: &str, group: &str) -> PushTarget {
    PushTarget {
        name: name.into(),
        url: fake.org_url(),
        client: Ok(client(&fake.org_url())),
        group: Ok(group.into()),
    }
}

/// A repository with cookbooks `app` and `base` and a lock for policy `web`.
pub(super) struct Repo {
    pub(super) dir: tempfile::TempDir,
    pub(super) cache: tempfile::TempDir,
    pub(super) lock: PathBuf,
}

pub(super) fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    cookbook(dir.path(), "app", "include_recipe 'base'\n");
    cookbook(dir.path(), "base", "package 'curl'\n");
    let lock = write_lock(dir.path(), "web", &["app", "base"]);
    Repo {
        dir,
        cache: tempfile::tempdir().unwrap(),
        lock,
    }
}

pub(super) fn count(log: &[Logged], method: &str, prefix: &str) -> usize {
    log.iter()
        .filter(|l| l.method == method && l.path.starts_with(prefix))
        .count()
}

#[tokio::test]
async fn push_to_three_servers_at_once_then_a_rerun_sends_nothing() {
    let repo = repo();
    let fakes = [
        FakeErchef::start().await,
        FakeErchef::start().await,
        FakeErchef::start().await,
    ];
    let policy = LoadedPolicy::load(&repo.lock, &options(repo.cache.path()).cache)
        .await
        .unwrap();
    let revision = policy.lock.revision_id().unwrap().to_owned();
    let targets = |fakes: &[FakeErchef; 3]| {
        fakes
            .iter()
            .enumerate()
            .map(|(i, f)| target(f, &format!("s{i}"), "prod"))
            .collect::<Vec<_>>()
    };
    let opts = options(repo.cache.path());
    let report = push_to(targets(&fakes), std::slice::from_ref(&policy), &opts).await;
    assert!(report.ok, "{}", report.render_table());
    for (fake, server) in fakes.iter().zip(&report.servers) {
        assert_eq!(
            fake.group_revision("prod", "web").as_deref(),
            Some(revision.as_str())
        );
        assert_eq!(server.api_version, Some(2));
        assert_eq!(server.policies[0].outcome, PolicyOutcome::Created);
        assert!(
            server
                .artifacts
                .iter()
                .all(|a| a.outcome == CookbookOutcome::Created)
        );
        // 4 files per cookbook; the template and the test file are the same in both: sent once.
        assert_eq!(server.files_sent, 6, "{}", report.render_table());
        assert_eq!(server.groups["prod"]["web"], revision);
        let log = fake.take_log();
        assert_eq!(
            (
                count(&log, "GET", "cookbook_artifacts"),
                count(&log, "GET", "policy_groups"),
                count(&log, "POST", "sandboxes"),
                count(&log, "PUT", "bookshelf/"),
                count(&log, "PUT", "sandboxes/"),
                count(&log, "PUT", "cookbook_artifacts/"),
                count(&log, "PUT", "policy_groups/prod/policies/web"),
            ),
            (2, 1, 1, 6, 1, 2, 1),
            "{log:?}"
        );
        // The group PUT is the last request, after the confirming listing.
        assert_eq!(log.last().unwrap().path, "policy_groups/prod/policies/web");
        assert_eq!(log[log.len() - 2].path, "cookbook_artifacts");
        // The artifact: plain name, all_files with every kept file, no generated metadata.json.
        let st = fake.state();
        let app = &policy.cookbooks[0];
        let body = &st.artifacts["app"][&app.lock.identifier];
        assert_eq!(body["name"], "app");
        assert_eq!(body["version"], "1.2.0");
        assert_eq!(body["metadata"]["name"], "app");
        let mut paths: Vec<&str> = body["all_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "metadata.rb",
                "recipes/default.rb",
                "templates/app.conf.erb",
                "test/smoke.rb"
            ]
        );
        assert_eq!(
            st.revisions["web"][&revision]["cookbook_locks"]["base"]["identifier"],
            policy.cookbooks[1].lock.identifier.as_str()
        );
    }

    let again = push_to(targets(&fakes), std::slice::from_ref(&policy), &opts).await;
    assert!(again.ok);
    for (fake, server) in fakes.iter().zip(&again.servers) {
        assert_eq!(server.policies[0].outcome, PolicyOutcome::Unchanged);
        assert!(
            server
                .artifacts
                .iter()
                .all(|a| a.outcome == CookbookOutcome::Unchanged)
        );
        assert_eq!(server.files_sent, 0);
        let log = fake.take_log();
        let paths: Vec<&str> = log.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(paths.contains(&"cookbook_artifacts") && paths.contains(&"policy_groups"));
    }
}

#[tokio::test]
async fn an_api_v0_server_gets_segment_manifests_without_files_outside_them() {
    let repo = repo();
    let fake = FakeErchef::start_with_max_api(0).await;
    let opts = options(repo.cache.path());
    let policy = LoadedPolicy::load(&repo.lock, &opts.cache).await.unwrap();
    let report = push_to(
        vec![target(&fake, "old", "prod")],
        std::slice::from_ref(&policy),
        &opts,
    )
    .await;
    assert!(report.ok, "{}", report.render_table());
    assert_eq!(report.servers[0].api_version, Some(0));
    // Both metadata.rb and recipes differ, the template is shared, test/ is left out.
    assert_eq!(report.servers[0].files_sent, 5);
    let st = fake.state();
    let body = &st.artifacts["app"][&policy.cookbooks[0].lock.identifier];
    assert!(body.get("all_files").is_none());
    assert_eq!(body["recipes"][0]["name"], "default.rb");
    assert_eq!(body["root_files"][0]["path"], "metadata.rb");
    assert_eq!(body["templates"][0]["specificity"], "root_default");
    let all: Vec<&str> = ["recipes", "templates", "root_files"]
        .iter()
        .flat_map(|s| body[*s].as_array().unwrap())
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(!all.contains(&"test/smoke.rb"), "{all:?}");
    // The identifier stays the one of the full file set.
    assert_eq!(
        body["identifier"],
        policy.lock.cookbooks()[0].identifier.as_str()
    );
}

#[tokio::test]
async fn an_artifact_lost_before_the_group_put_leaves_that_servers_group_untouched() {
    let repo = repo();
    let (good, bad) = (FakeErchef::start().await, FakeErchef::start().await);
    let opts = options(repo.cache.path());
    let policy = LoadedPolicy::load(&repo.lock, &opts.cache).await.unwrap();
    let base_id = policy.cookbooks[1].lock.identifier.clone();
    bad.state()
        .groups
        .entry("prod".into())
        .or_default()
        .insert("web".into(), "old-revision".into());
    // Between the artifact PUTs and the confirming listing, something deletes `base`.
    bad.fault(Fault {
        method: "GET",
        path: "cookbook_artifacts".into(),
        from: 2,
        times: 0,
        action: FaultAction::DeleteArtifact("base".into(), base_id.clone()),
    });
    let report = push_to(
        vec![target(&good, "good", "prod"), target(&bad, "bad", "prod")],
        std::slice::from_ref(&policy),
        &opts,
    )
    .await;
    assert!(!report.ok);
    let (bad_report, good_report) = (&report.servers[0], &report.servers[1]);
    assert!(good_report.ok, "{}", report.render_table());
    assert_eq!(
        good.group_revision("prod", "web").as_deref(),
        policy.lock.revision_id()
    );
    assert!(!bad_report.ok);
    assert_eq!(bad_report.policies[0].outcome, PolicyOutcome::Failed);
    let error = bad_report.policies[0].error.as_deref().unwrap();
    assert!(
        error.contains(&base_id) && error.contains("left as it was"),
        "{error}"
    );
    assert_eq!(
        bad.group_revision("prod", "web").as_deref(),
        Some("old-revision")
    );
    assert_eq!(count(&bad.take_log(), "PUT", "policy_groups/"), 0);
    // The table shows which servers' group disagrees.
    let table = report.render_table();
    assert!(
        table.contains("group prod policy web differs across servers"),
        "{table}"
    );
}

#[tokio::test]
async fn a_failing_artifact_put_or_listing_never_moves_the_group() {
    let repo = repo();
    let (put_fails, list_fails) = (FakeErchef::start().await, FakeErchef::start().await);
    let opts = options(repo.cache.path());
    let policy = LoadedPolicy::load(&repo.lock, &opts.cache).await.unwrap();
    let app_id = policy.cookbooks[0].lock.identifier.clone();
    put_fails.fault(Fault {
        method: "PUT",
        path: format!("cookbook_artifacts/app/{app_id}"),
        from: 1,
        times: 0,
        action: FaultAction::Status(500, json!({"error": ["internal service error"]})),
    });
    list_fails.fault(Fault {
        method: "GET",
        path: "cookbook_artifacts".into(),
        from: 2,
        times: 0,
        action: FaultAction::Status(500, json!({"error": ["internal service error"]})),
    });
    let report = push_to(
        vec![
            target(&put_fails, "put", "prod"),
            target(&list_fails, "list", "prod"),
        ],
        &[policy],
        &opts,
    )
    .await;
    let by_name = |n: &str| report.servers.iter().find(|s| s.name == n).unwrap();
    let put = by_name("put");
    let app = put.artifacts.iter().find(|a| a.name == "app").unwrap();
    assert_eq!(app.outcome, CookbookOutcome::Failed);
    assert!(app.error.as_deref().unwrap().contains("500"), "{app:?}");
    assert_eq!(put.policies[0].outcome, PolicyOutcome::Failed);
    let list = by_name("list");
    assert!(
        list.error.as_deref().unwrap().contains("cannot confirm"),
        "{list:?}"
    );
    assert_eq!(list.policies[0].outcome, PolicyOutcome::Failed);
    for fake in [&put_fails, &list_fails] {
        assert_eq!(fake.group_revision("prod", "web"), None);
        assert_eq!(count(&fake.take_log(), "PUT", "policy_groups/"), 0);
    }
}

#[tokio::test]
async fn a_409_is_checked_against_the_servers_files() {
    let repo = repo();
    let (same, other) = (FakeErchef::start().await, FakeErchef::start().await);
    let opts = options(repo.cache.path());
    let policy = LoadedPolicy::load(&repo.lock, &opts.cache).await.unwrap();
    // `same` holds both artifacts already, but its first listing (a stale replica) says none:
    // the PUTs get 409s, the artifacts are fetched and compared, and the group moves.
    let first = push_to(
        vec![target(&same, "same", "staging")],
        std::slice::from_ref(&policy),
        &opts,
    )
    .await;
    assert!(first.ok);
    same.take_log();
    same.fault(Fault {
        method: "GET",
        path: "cookbook_artifacts".into(),
        from: 1,
        times: 1,
        action: FaultAction::Status(200, json!({})),
    });
    // `other` holds `app` under the same identifier with other files, its listing stale too
    // (a listed identifier is trusted, as chef push trusts it).
    other.fault(Fault {
        method: "GET",
        path: "cookbook_artifacts".into(),
        from: 1,
        times: 1,
        action: FaultAction::Status(200, json!({})),
    });
    let app_id = policy.cookbooks[0].lock.identifier.clone();
    other
        .state()
        .artifacts
        .entry("app".into())
        .or_default()
        .insert(
            app_id.clone(),
            json!({"name": "app", "identifier": app_id, "all_files": [
            {"name": "recipes/default.rb", "path": "recipes/default.rb",
             "checksum": "00000000000000000000000000000000", "specificity": "default"}]}),
        );
    let report = push_to(
        vec![
            target(&same, "same", "prod"),
            target(&other, "other", "prod"),
        ],
        std::slice::from_ref(&policy),
        &opts,
    )
    .await;
    let by_name = |n: &str| report.servers.iter().find(|s| s.name == n).unwrap();
    let same_report = by_name("same");
    assert!(same_report.ok, "{}", report.render_table());
    assert!(
        same_report
            .artifacts
            .iter()
            .all(|a| a.outcome == CookbookOutcome::Unchanged)
    );
    assert_eq!(count(&same.take_log(), "PUT", "cookbook_artifacts/"), 2);
    assert_eq!(
        same.group_revision("prod", "web").as_deref(),
        policy.lock.revision_id()
    );
    // Same identifier, other content: erchef would take the policy (it lists the
    // identifier); chef-sync fails the artifact and leaves the group alone.
    let other_report = by_name("other");
    let app = other_report
        .artifacts
        .iter()
        .find(|a| a.name == "app")
        .unwrap();
    assert_eq!(app.outcome, CookbookOutcome::Failed);
    assert!(
        app.error.as_deref().unwrap().contains("other content"),
        "{app:?}"
    );
    assert_eq!(other_report.policies[0].outcome, PolicyOutcome::Failed);
    assert_eq!(other.group_revision("prod", "web"), None);
}

#[tokio::test]
async fn the_fake_keeps_erchefs_silences() {
    // A policy naming artifacts the server lacks is accepted (erchef never checks), and a
    // second PUT of an existing artifact is a 409 with a string error.
    let fake = FakeErchef::start().await;
    let c = client(&fake.org_url());
    let doc = json!({"revision_id": "r1", "name": "web", "run_list": ["recipe[app::default]"],
                     "cookbook_locks": {"app": {"identifier": "abc", "version": "1.0.0"}}});
    let answer: Value = c
        .put("policy_groups/prod/policies/web", &doc)
        .await
        .unwrap();
    assert_eq!(answer["revision_id"], "r1");
    assert_eq!(fake.group_revision("prod", "web").as_deref(), Some("r1"));
    let bad = json!({"revision_id": "r2", "name": "other", "run_list": ["recipe[app::default]"],
                     "cookbook_locks": {}});
    let err = c
        .put::<_, Value>("policy_groups/prod/policies/web", &bad)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let artifact = json!({"name": "app", "identifier": "abc", "all_files": []});
    c.put::<_, Value>("cookbook_artifacts/app/abc", &artifact)
        .await
        .unwrap();
    let err = c
        .put::<_, Value>("cookbook_artifacts/app/abc", &artifact)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
}

#[tokio::test]
async fn an_edited_path_cookbook_is_refused_naming_the_changed_file() {
    let repo = repo();
    // The lock was written an hour ago; the recipe is edited now.
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&repo.lock)
        .unwrap()
        .set_modified(old)
        .unwrap();
    for entry in walk(repo.dir.path()) {
        let f = std::fs::File::options().write(true).open(&entry).unwrap();
        f.set_modified(old).unwrap();
    }
    write(
        repo.dir.path(),
        "cookbooks/base/recipes/default.rb",
        "package 'wget'\n",
    );
    let err = LoadedPolicy::load(&repo.lock, &options(repo.cache.path()).cache)
        .await
        .unwrap_err();
    let PushError::Cookbook { source, .. } = &err else {
        panic!("{err}");
    };
    let LockedCookbookError::Changed(mismatch) = source.as_ref() else {
        panic!("{err}");
    };
    assert_eq!(mismatch.cookbook, "base");
    assert_eq!(mismatch.changed_files, ["recipes/default.rb"]);
    let text = err.to_string();
    assert!(
        text.contains("'base'") && text.contains("recipes/default.rb"),
        "{text}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn spec(name: &str, url: String) -> ServerSpec {
    let key = KeySource::Pem(std::fs::read(KEY).unwrap());
    ServerSpec::new(name, url, "spec-user", key).expect("a valid server")
}

#[tokio::test]
async fn each_server_takes_its_group_from_its_config_yml() {
    let repo = repo();
    let (staging, prod) = (FakeErchef::start().await, FakeErchef::start().await);
    write(
        repo.dir.path(),
        ".chef/staging/config.yml",
        "policy_group: staging\n",
    );
    write(
        repo.dir.path(),
        ".chef/prod/config.yml",
        "policy_group: 'production'\n",
    );
    let config = RepoConfig {
        root: repo.dir.path().to_path_buf(),
        servers: vec![
            spec("prod", prod.org_url()),
            spec("staging", staging.org_url()),
        ],
        berksfile: None,
        warnings: vec![],
    };
    let opts = options(repo.cache.path());
    let report = push(&config, &[], &opts).await.unwrap();
    assert!(report.ok, "{}", report.render_table());
    let rev = PolicyLock::load(&repo.lock)
        .unwrap()
        .revision_id()
        .unwrap()
        .to_owned();
    assert_eq!(
        staging.group_revision("staging", "web").as_deref(),
        Some(rev.as_str())
    );
    assert_eq!(
        prod.group_revision("production", "web").as_deref(),
        Some(rev.as_str())
    );
    assert_eq!(prod.group_revision("staging", "web"), None);
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["servers"][0]["name"], "prod");
    assert_eq!(json["servers"][0]["policies"][0]["group"], "production");
    assert_eq!(json["servers"][1]["groups"]["staging"]["web"], rev.as_str());

    // --policy-group overrides every server's own.
    let opts = PushOptions {
        policy_group: Some("canary".into()),
        ..options(repo.cache.path())
    };
    let report = push(&config, std::slice::from_ref(&repo.lock), &opts)
        .await
        .unwrap();
    assert!(report.ok);
    assert_eq!(
        prod.group_revision("canary", "web").as_deref(),
        Some(rev.as_str())
    );
    assert_eq!(
        staging.group_revision("canary", "web").as_deref(),
        Some(rev.as_str())
    );

    // A server without a group in config.yml fails alone, naming the file.
    write(repo.dir.path(), ".chef/prod/config.yml", "server: x\n");
    let report = push(&config, &[], &options(repo.cache.path()))
        .await
        .unwrap();
    let prod_report = &report.servers[0];
    assert!(
        prod_report
            .error
            .as_deref()
            .unwrap()
            .contains("prod/config.yml")
    );
    assert!(report.servers[1].ok);
}

// ---------------------------------------------------------------------------------------------
// Install: Policyfile.rb → Policyfile.lock.json without Ruby.

#[tokio::test]
async fn install_writes_a_lock_that_round_trips_verifies_and_pushes() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // `app` is a path cookbook depending on `base`, which only the chef_repo source has.
    cookbook(r, "app", "include_recipe 'base'\n");
    write(
        r,
        "cookbooks/app/metadata.rb",
        "name 'app'\nversion '1.2.0'\ndepends 'base', '~> 2.0'\n",
    );
    cookbook(&r.join("shared"), "base", "package 'curl'\n");
    write(
        r,
        "shared/cookbooks/base/metadata.rb",
        "name 'base'\nversion '2.1.0'\n",
    );
    write(r, "shared/cookbooks/base/recipes/ntp.rb", "package 'ntp'\n");
    // An included policy (a lock file beside it).
    std::fs::create_dir_all(r.join("policies")).unwrap();
    write(
        r,
        "Policyfile.rb",
        r#"name "web"
default_source :chef_repo, "shared"
run_list "app", "base::ntp"
named_run_list :deploy, "app::default"
cookbook "app", path: "cookbooks/app"
default["greeting"] = "hello/world"
override["app"] = { "port" => 8080, "tls" => true }
"#,
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = chef_sync::policy::InstallOptions {
        cache: options(cache.path()).cache,
        ..Default::default()
    };
    let installed = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap();
    assert!(installed.written);
    let path = r.join("Policyfile.lock.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let lock = PolicyLock::parse(&text, &path).unwrap();
    assert_eq!(lock.to_lock_string(), text);
    assert_eq!(
        lock.revision_id(),
        Some(lock.computed_revision_id().as_str())
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "revision_id",
            "name",
            "run_list",
            "named_run_lists",
            "included_policy_locks",
            "cookbook_locks",
            "default_attributes",
            "override_attributes",
            "solution_dependencies"
        ]
    );
    assert_eq!(
        doc["run_list"],
        json!(["recipe[app::default]", "recipe[base::ntp]"])
    );
    assert_eq!(
        doc["named_run_lists"]["deploy"],
        json!(["recipe[app::default]"])
    );
    let app = &doc["cookbook_locks"]["app"];
    let app_id = CookbookIdentity::load(&r.join("cookbooks/app")).unwrap();
    assert_eq!(app["identifier"], app_id.identifier.as_str());
    assert_eq!(app["source"], "cookbooks/app");
    assert_eq!(app["cache_key"], Value::Null);
    assert_eq!(app["source_options"], json!({"path": "cookbooks/app"}));
    // chef_repo cookbooks lock as path cookbooks.
    assert_eq!(
        doc["cookbook_locks"]["base"]["source"],
        "shared/cookbooks/base"
    );
    assert_eq!(doc["cookbook_locks"]["base"]["version"], "2.1.0");
    assert_eq!(
        doc["solution_dependencies"],
        json!({"Policyfile": [["app", ">= 0.0.0"], ["base", "= 2.1.0"]],
               "dependencies": {"app (1.2.0)": [["base", "~> 2.0"]], "base (2.1.0)": []}})
    );
    assert_eq!(doc["override_attributes"]["app"]["port"], 8080);
    assert!(text.contains("\"greeting\": \"hello/world\""));
    assert!(text.contains("\"included_policy_locks\": [\n\n  ],"));

    // A second install finds the lock and writes nothing.
    let again = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap();
    assert!(!again.written);

    // The lock pushes as chef-cli's would.
    let fake = FakeErchef::start().await;
    let policy = LoadedPolicy::load(&path, &options(cache.path()).cache)
        .await
        .unwrap();
    let report = push_to(
        vec![target(&fake, "s", "prod")],
        &[policy],
        &options(cache.path()),
    )
    .await;
    assert!(report.ok, "{}", report.render_table());
    assert_eq!(
        fake.group_revision("prod", "web").as_deref(),
        lock.revision_id()
    );

    // An included policy's run list comes first and its cookbooks are fixed as it locked them.
    write(
        r,
        "child/Policyfile.rb",
        r#"name "child"
include_policy "web", path: "../Policyfile.lock.json"
run_list "base::default"
"#,
    );
    let child = chef_sync::policy::install(&r.join("child/Policyfile.rb"), &opts)
        .await
        .unwrap();
    let child_doc = child.lock.document();
    assert_eq!(
        child_doc["run_list"],
        json!([
            "recipe[app::default]",
            "recipe[base::ntp]",
            "recipe[base::default]"
        ])
    );
    assert_eq!(
        child_doc["included_policy_locks"],
        json!([{"name": "web", "revision_id": lock.revision_id().unwrap(),
                "source_options": {"path": "../Policyfile.lock.json"}}])
    );
    assert_eq!(
        child_doc["cookbook_locks"]["app"],
        doc["cookbook_locks"]["app"]
    );
    assert_eq!(child_doc["override_attributes"]["app"]["tls"], true);
}

#[tokio::test]
async fn install_names_a_missing_recipe_and_an_unsatisfiable_demand() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    cookbook(r, "app", "log 'x'\n");
    write(
        r,
        "Policyfile.rb",
        "name 'p'\nrun_list 'app::missing'\ncookbook 'app', path: 'cookbooks/app'\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = chef_sync::policy::InstallOptions {
        cache: options(cache.path()).cache,
        ..Default::default()
    };
    let err = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("recipes/missing.rb"), "{err}");
    write(
        r,
        "Policyfile.rb",
        "name 'p'\nrun_list 'app'\ncookbook 'app', '~> 9.0', path: 'cookbooks/app'\n",
    );
    let err = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not satisfy '~> 9.0'"), "{err}");
    assert!(!r.join("Policyfile.lock.json").exists());
}

/// The round-trip budget of issue 15 (full push ≤ 12 RTT, no-op ≤ 3 RTT), as the schedule
/// each server sees: every request of one phase arrives before any of the next (the phases
/// depend on each other's answers), and there are 7 phases (listings, sandbox, files, commit,
/// artifacts, confirming listing, group) on every one of four servers pushed at once, 1 for
/// a no-op (the two listings). Wall time is left to `benches/policy_push.rs`: on this shared
/// machine CPU load would make a timed test flaky.
#[tokio::test]
async fn a_push_to_four_servers_takes_seven_dependent_rounds_and_a_noop_one() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("wl_{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        cookbook(dir.path(), name, &format!("log 'recipe {i}'\n"));
        write(
            dir.path(),
            &format!("cookbooks/{name}/files/default/blob.txt"),
            &format!("blob {i}\n"),
        );
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let lock = write_lock(dir.path(), "wl", &refs);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path());
    let policy = LoadedPolicy::load(&lock, &opts.cache).await.unwrap();
    let mut fakes = Vec::new();
    for _ in 0..4 {
        fakes.push(FakeErchef::start().await);
    }
    let targets = || {
        fakes
            .iter()
            .enumerate()
            .map(|(i, f)| target(f, &format!("s{i}"), "prod"))
            .collect::<Vec<_>>()
    };
    let full = push_to(targets(), std::slice::from_ref(&policy), &opts).await;
    assert!(full.ok, "{}", full.render_table());
    // 3 distinct files per cookbook, the template and the test file shared by all.
    assert_eq!(full.servers[0].files_sent, 8 * 3 + 2);
    let phase = |l: &Logged, seen_first_listing: bool| match (l.method.as_str(), l.path.as_str()) {
        ("GET", "cookbook_artifacts") if !seen_first_listing => 0,
        ("GET", "policy_groups") => 0,
        ("POST", "sandboxes") => 1,
        ("PUT", p) if p.starts_with("bookshelf/") => 2,
        ("PUT", p) if p.starts_with("sandboxes/") => 3,
        ("PUT", p) if p.starts_with("cookbook_artifacts/") => 4,
        ("GET", "cookbook_artifacts") => 5,
        ("PUT", p) if p.starts_with("policy_groups/") => 6,
        other => panic!("unexpected request {other:?}"),
    };
    for fake in &fakes {
        let log = fake.take_log();
        let mut listings = 0;
        let phases: Vec<usize> = log
            .iter()
            .map(|l| {
                let p = phase(l, listings > 0);
                if l.path == "cookbook_artifacts" {
                    listings += 1;
                }
                p
            })
            .collect();
        assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{phases:?}");
        let distinct: std::collections::BTreeSet<usize> = phases.iter().copied().collect();
        assert_eq!(distinct.len(), 7, "{phases:?}");
    }
    let noop = push_to(targets(), std::slice::from_ref(&policy), &opts).await;
    assert!(noop.ok);
    for fake in &fakes {
        let log = fake.take_log();
        assert_eq!(log.len(), 2, "{log:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Cached (Supermarket) cookbooks: fetched into chef-sync's cache, then verified.

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn supermarket_lock(root: &Path, url: &str, identifier: &str) -> PathBuf {
    let lock = json!({
        "revision_id": "r",
        "name": "p",
        "run_list": ["recipe[apt::default]"],
        "included_policy_locks": [],
        "cookbook_locks": {"apt": {
            "version": "2.7.0",
            "identifier": identifier,
            "dotted_decimal_identifier": identifier::dotted_decimal(identifier).unwrap_or_else(|| "1.2.3".into()),
            "cache_key": "apt-2.7.0-127.0.0.1",
            "origin": url,
            "source_options": {"artifactserver": url, "version": "2.7.0"}
        }},
        "default_attributes": {},
        "override_attributes": {}
    });
    let path = root.join("Policyfile.lock.json");
    std::fs::write(&path, chef_sync::policy::json::to_lock_string(&lock)).unwrap();
    path
}

#[tokio::test]
async fn a_supermarket_cookbook_is_fetched_once_into_the_cache_and_verified() {
    use wiremock::matchers::{method, path};
    let extra: &[(&str, &[u8])] = &[("attributes/default.rb", b"default['apt'] = 1\n")];
    let tarball = chef_testkit::fleet::cookbook_tarball("apt", "2.7.0", &[], extra);
    let meta =
        serde_json::to_vec_pretty(&json!({"name": "apt", "version": "2.7.0", "dependencies": {}}))
            .unwrap();
    let files = [
        ("metadata.json".to_owned(), md5_hex(&meta)),
        (
            "recipes/default.rb".to_owned(),
            md5_hex(b"log 'apt 2.7.0'\n"),
        ),
        ("attributes/default.rb".to_owned(), md5_hex(extra[0].1)),
    ];
    let expected = identifier::content_identifier(&identifier::fingerprint_text(
        files.iter().map(|(p, m)| (p.as_str(), m.as_str())),
    ));
    let supermarket = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("GET"))
        .and(path("/api/v1/cookbooks/apt/versions/2.7.0/download"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_bytes(tarball))
        .expect(1)
        .mount(&supermarket)
        .await;
    let url = format!(
        "{}/api/v1/cookbooks/apt/versions/2.7.0/download",
        supermarket.uri()
    );
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache = CookbookCache {
        offline: false,
        ..options(cache.path()).cache
    };
    let lock = supermarket_lock(root.path(), &url, &expected);
    let policy = LoadedPolicy::load(&lock, &cache).await.unwrap();
    assert_eq!(policy.cookbooks[0].identity.identifier, expected);
    assert!(policy.cookbooks[0].dir.starts_with(&cache.root));
    // The second read comes from the cache (the mock expects exactly one download).
    let again = LoadedPolicy::load(&lock, &cache).await.unwrap();
    assert_eq!(again.cookbooks[0].dir, policy.cookbooks[0].dir);

    // A lock whose identifier the downloaded files do not hash to is refused.
    let wrong = supermarket_lock(
        root.path(),
        &url,
        "0123456789abcdef0123456789abcdef01234567",
    );
    let err = LoadedPolicy::load(&wrong, &cache)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cached cookbook 'apt'") && err.contains(&expected),
        "{err}"
    );

    // Offline, with nothing cached, the error says where it looked.
    let empty = tempfile::tempdir().unwrap();
    let offline = CookbookCache {
        root: empty.path().to_path_buf(),
        offline: true,
        ..cache.clone()
    };
    let err = LoadedPolicy::load(&lock, &offline)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not cached") && err.contains("apt-2.7.0-127.0.0.1"),
        "{err}"
    );
}
