//! The Berksfile's other kinds of `source`: Chef servers (real goiardi servers, signed
//! `/universe` and MD5-checked downloads), Artifactory (wiremock: the API key goes to
//! Artifactory only, never to the storage host it redirects to) and chef_repo directories
//! (no network at all).

use std::collections::BTreeMap;
use std::path::Path;

use chef_api::client::ChefClient;
use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{UploadOptions, Uploader};
use chef_sync::berkshelf::sources::SourceConfigError;
use chef_sync::berkshelf::{PrepareError, PrepareOptions, Prepared, prepare};
use chef_sync::{CookbookOutcome, SyncOptions};
use chef_testkit::fleet::{Fleet, cookbook_tarball, repo_fixture_dir};
use chef_testkit::goiardi::Goiardi;
use wiremock::matchers::{any, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{prepared_names as names, write};

/// A cookbook directory: metadata.rb with `depends`, a recipe and a template.
fn cookbook(root: &Path, name: &str, version: &str, depends: &[(&str, &str)]) {
    let deps: String = depends
        .iter()
        .map(|(n, c)| format!("depends '{n}', '{c}'\n"))
        .collect();
    write(
        root,
        "metadata.rb",
        &format!("name '{name}'\nversion '{version}'\n{deps}"),
    );
    write(
        root,
        "recipes/default.rb",
        &format!("template '/etc/{name}' do\n  source '{name}.erb'\nend\n"),
    );
    write(
        root,
        &format!("templates/default/{name}.erb"),
        &format!("# {name} {version}: <%= node['fqdn'] %>\n"),
    );
}

async fn upload(client: &ChefClient, dir: &Path) {
    let cb = LoadedCookbook::load(dir).unwrap();
    Uploader::new(client.clone(), UploadOptions::default())
        .upload(&[std::sync::Arc::new(cb)])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chef_server_source_resolves_from_the_servers_universe_and_downloads_verified_files() {
    let g = Goiardi::start().expect("goiardi");
    let client = g.admin_client().unwrap();
    let work = tempfile::tempdir().unwrap();
    for (name, version, deps) in [
        ("corp_base", "1.0.0", &[][..]),
        ("corp_base", "2.1.0", &[]),
        ("corp_ntp", "0.5.0", &[("corp_base", ">= 2.0")]),
    ] {
        let dir = work.path().join(format!("src/{name}-{version}"));
        cookbook(&dir, name, version, deps);
        upload(&client, &dir).await;
    }
    let repo = work.path().join("repo");
    write(
        &repo,
        "Berksfile",
        &format!(
            "source chef_server: '{}', client_name: 'admin', client_key: '{}'\n\ncookbook 'corp_ntp'\n",
            g.url(),
            g.admin_key_path().display()
        ),
    );
    let opts = PrepareOptions {
        cache_dir: Some(work.path().join("cache")),
        ..Default::default()
    };
    let p = prepare(&repo, &repo.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert!(p.resolved, "no lock yet: resolved against the server");
    assert_eq!(names(&p), ["corp_base-2.1.0", "corp_ntp-0.5.0"]);
    assert_eq!(p.downloaded.len(), 2);
    assert_eq!(
        std::fs::read_to_string(repo.join("Berksfile.lock")).unwrap(),
        "DEPENDENCIES\n  corp_ntp\n\nGRAPH\n  corp_base (2.1.0)\n  corp_ntp (0.5.0)\n    corp_base (>= 2.0)\n"
    );
    // Every file downloaded is the server's, byte for byte (checksums of the manifest).
    for c in &p.cookbooks {
        assert!(c.path.starts_with(work.path().join("cache/cookbooks")));
        let local = LoadedCookbook::load(&c.path).unwrap();
        let remote = client
            .cookbook_version(&c.name, &c.version.to_string())
            .await
            .unwrap();
        assert!(local.matches_manifest(&remote).unwrap(), "{}", c.name);
    }
    assert!(
        !std::fs::read_dir(work.path().join("cache/cookbooks"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".tmp")),
        "no staging directory is left behind"
    );

    // Re-run: the lock is trusted and the cache is warm: nothing is downloaded.
    let again = prepare(&repo, &repo.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert!(!again.resolved && again.downloaded.is_empty() && !again.lock_written);

    // Without a client to sign with (no client_key:, no knife configuration) it is an error
    // naming the Berksfile and the server.
    write(
        &repo,
        "Berksfile",
        &format!(
            "source chef_server: '{}', client_name: 'admin'\ncookbook 'corp_ntp'\n",
            g.url()
        ),
    );
    let err = prepare(&repo, &repo.join("Berksfile"), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PrepareError::Source(SourceConfigError::ChefServerCredentials { .. })
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("Berksfile") && msg.contains(&g.url()), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_chef_server_brings_a_cookbook_held_by_one_region_to_every_region() {
    const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
    let fleet = Fleet::start(&REGIONS).expect("goiardi servers");
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    fleet
        .provision_repo(&repo_fixture_dir("seed"), &repo)
        .await
        .expect("pivotal users and the seed layout");
    // corp_base was uploaded to eu-west-1 by hand once; us-east-1 never got it.
    let eu = fleet.pivotal_client("eu-west-1").unwrap();
    let base_dir = work.path().join("src/corp_base");
    cookbook(&base_dir, "corp_base", "2.1.0", &[]);
    upload(&eu, &base_dir).await;
    cookbook(
        &repo.join("cookbooks/app"),
        "app",
        "1.0.0",
        &[("corp_base", "~> 2.0")],
    );
    write(
        &repo,
        "Berksfile",
        "source :chef_server\n\ncookbook 'app', path: 'cookbooks/app'\n",
    );
    let options = SyncOptions {
        berkshelf: PrepareOptions {
            cache_dir: Some(work.path().join("cache")),
            ..Default::default()
        },
        ..Default::default()
    };
    let report = chef_sync::sync(&repo, &options).await.unwrap();
    assert!(report.ok, "{}", report.render_table());
    let outcome = |server: &str, name: &str| {
        report
            .servers
            .iter()
            .find(|s| s.name == server)
            .unwrap()
            .cookbooks
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.outcome)
    };
    // eu-west-1's hand-uploaded copy was not frozen; berks upload freezes it (manifest only).
    assert_eq!(
        outcome("eu-west-1", "corp_base"),
        Some(CookbookOutcome::Updated)
    );
    assert_eq!(
        outcome("us-east-1", "corp_base"),
        Some(CookbookOutcome::Created)
    );
    for region in REGIONS {
        assert_eq!(
            outcome(region, "app"),
            Some(CookbookOutcome::Created),
            "{region}"
        );
    }
    // What us-east-1 now holds is eu-west-1's cookbook, file for file.
    let us = fleet.pivotal_client("us-east-1").unwrap();
    // (path, checksum) of every file record, whatever the manifest's API shape.
    let files = |m: serde_json::Value| {
        let mut v: Vec<(String, String)> = m
            .as_object()
            .unwrap()
            .values()
            .filter_map(serde_json::Value::as_array)
            .flatten()
            .filter_map(|f| {
                Some((
                    f["path"].as_str()?.to_owned(),
                    f["checksum"].as_str()?.to_owned(),
                ))
            })
            .collect();
        v.sort();
        v
    };
    let from_eu = files(eu.cookbook_version("corp_base", "2.1.0").await.unwrap());
    let from_us = files(us.cookbook_version("corp_base", "2.1.0").await.unwrap());
    assert!(from_eu.len() >= 3, "{from_eu:?}");
    assert_eq!(from_us, from_eu);
    let lock = std::fs::read_to_string(repo.join("Berksfile.lock")).unwrap();
    assert!(lock.contains("  corp_base (2.1.0)\n"), "{lock}");

    assert_eq!(
        eu.cookbook_version("corp_base", "2.1.0").await.unwrap()["frozen?"],
        true
    );

    let again = chef_sync::sync(&repo, &options).await.unwrap();
    assert!(again.ok, "{}", again.render_table());
    assert_eq!(again.files_sent(), 0);
}

/// Artifactory's Supermarket API under a repository path, answering only with the key; the
/// download redirects to a storage host that must never see the key.
async fn artifactory(key: &str, storage: &MockServer) -> MockServer {
    let art = MockServer::start().await;
    let universe = serde_json::json!({
        "lib_x": {"1.2.0": {
            "location_type": "supermarket",
            "location_path": "api/v1",
            "download_url": "api/v1/cookbooks/lib_x/versions/1.2.0/download",
            "dependencies": {}
        }}
    });
    Mock::given(method("GET"))
        .and(path("/api/chef/cookbooks/universe"))
        .and(header("x-jfrog-art-api", key))
        .respond_with(ResponseTemplate::new(200).set_body_json(&universe))
        .mount(&art)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/chef/cookbooks/api/v1/cookbooks/lib_x/versions/1.2.0/download",
        ))
        .and(header("x-jfrog-art-api", key))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/blobs/lib_x.tgz", storage.uri())),
        )
        .mount(&art)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401).set_body_string("{\"errors\":[\"no key\"]}"))
        .mount(&art)
        .await;
    art
}

#[tokio::test]
async fn artifactory_source_sends_its_key_to_artifactory_only() {
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/blobs/lib_x.tgz"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(cookbook_tarball(
            "lib_x",
            "1.2.0",
            &[],
            &[],
        )))
        .mount(&storage)
        .await;
    let art = artifactory("s3cret-key", &storage).await;
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let url = format!("{}/api/chef/cookbooks", art.uri());

    // The key from the Berksfile's ENV (ARTIFACTORY_API_KEY), as Berkshelf reads it.
    write(
        &repo,
        "Berksfile",
        &format!("source artifactory: '{url}'\ncookbook 'lib_x', '~> 1.0'\n"),
    );
    let mut opts = PrepareOptions {
        cache_dir: Some(work.path().join("cache")),
        ..Default::default()
    };
    opts.env
        .insert("ARTIFACTORY_API_KEY".into(), "s3cret-key".into());
    let p = prepare(&repo, &repo.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert_eq!(names(&p), ["lib_x-1.2.0"]);
    assert!(p.cookbooks[0].path.join("metadata.json").is_file());
    let seen = storage.received_requests().await.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        seen.iter()
            .all(|r| !r.headers.contains_key("x-jfrog-art-api")),
        "the storage host never sees the key"
    );
    assert!(
        !format!("{opts:?}").contains("s3cret-key"),
        "Debug of the options shows ENV names only: {opts:?}"
    );

    // `api_key:` in the Berksfile; a wrong key is refused by Artifactory and the error names
    // the source; no key at all is warned about.
    std::fs::remove_file(repo.join("Berksfile.lock")).unwrap();
    std::fs::remove_dir_all(work.path().join("cache")).unwrap();
    write(
        &repo,
        "Berksfile",
        &format!("source artifactory: '{url}', api_key: 'wrong'\ncookbook 'lib_x'\n"),
    );
    let err = prepare(&repo, &repo.join("Berksfile"), &opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401") && err.contains(&url), "{err}");
    assert!(!err.contains("wrong"), "the key is not in the error: {err}");

    write(
        &repo,
        "Berksfile",
        &format!("source artifactory: '{url}', api_key: 's3cret-key'\ncookbook 'lib_x'\n"),
    );
    let no_env = PrepareOptions {
        env: BTreeMap::new(),
        ..opts.clone()
    };
    let p = prepare(&repo, &repo.join("Berksfile"), &no_env)
        .await
        .unwrap();
    assert_eq!(names(&p), ["lib_x-1.2.0"]);

    write(
        &repo,
        "Berksfile",
        &format!("source artifactory: '{url}'\ncookbook 'lib_x'\n"),
    );
    let p = prepare(&repo, &repo.join("Berksfile"), &no_env)
        .await
        .unwrap();
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("no api_key:") && w.contains("ARTIFACTORY_API_KEY")),
        "{:?}",
        p.warnings
    );
}

#[tokio::test]
async fn chef_repo_source_uses_the_repositorys_cookbooks_in_place_without_network() {
    let work = tempfile::tempdir().unwrap();
    let shared = work.path().join("shared-repo");
    cookbook(
        &shared.join("cookbooks/lib_a"),
        "lib_a",
        "1.0.0",
        &[("lib_b", "~> 0.3")],
    );
    cookbook(&shared.join("cookbooks/lib_b"), "lib_b", "0.3.1", &[]);
    write(&shared, "cookbooks/README.md", "not a cookbook\n");
    std::fs::create_dir_all(shared.join("cookbooks/.git")).unwrap();
    std::fs::create_dir_all(shared.join("cookbooks/no_metadata/recipes")).unwrap();
    // A Supermarket source beside it, listed first: it has nothing we need.
    let sm = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/universe"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&sm)
        .await;
    let repo = work.path().join("repo");
    write(
        &repo,
        "Berksfile",
        &format!(
            "source '{}'\nsource chef_repo: '../shared-repo'\n\ncookbook 'lib_a'\n",
            sm.uri()
        ),
    );
    let opts = PrepareOptions {
        cache_dir: Some(work.path().join("cache")),
        ..Default::default()
    };
    let p = prepare(&repo, &repo.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert_eq!(names(&p), ["lib_b-0.3.1", "lib_a-1.0.0"]);
    let in_place = |p: &Prepared| -> Vec<std::path::PathBuf> {
        p.cookbooks
            .iter()
            .map(|c| c.path.canonicalize().unwrap())
            .collect()
    };
    let expected = vec![
        shared.join("cookbooks/lib_b").canonicalize().unwrap(),
        shared.join("cookbooks/lib_a").canonicalize().unwrap(),
    ];
    assert_eq!(in_place(&p), expected, "used in place, not copied");
    assert!(p.downloaded.is_empty());
    assert!(!work.path().join("cache/cookbooks/lib_a-1.0.0").exists());

    // Trusted lock, cookbooks only in the chef_repo: the Supermarket is not asked at all.
    sm.reset().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no Supermarket request when the chef_repo has every locked cookbook")
        .mount(&sm)
        .await;
    let again = prepare(&repo, &repo.join("Berksfile"), &opts)
        .await
        .unwrap();
    assert!(!again.resolved);
    assert_eq!(in_place(&again), expected);
    let offline = prepare(
        &repo,
        &repo.join("Berksfile"),
        &PrepareOptions {
            offline: true,
            ..opts.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(in_place(&offline), expected);
    sm.verify().await;

    // A cookbook in the chef_repo with broken metadata is named with its file.
    write(
        &shared,
        "cookbooks/lib_c/metadata.rb",
        "name 'lib_c'\nversion '1.0.0'\nsystem('id')\n",
    );
    std::fs::remove_file(repo.join("Berksfile.lock")).unwrap();
    sm.reset().await;
    let err = prepare(&repo, &repo.join("Berksfile"), &opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("chef_repo source") && err.contains("lib_c"),
        "{err}"
    );
}
