//! Cookbook upload against scripted servers: API v2 manifests, the sandbox commit retry, file
//! PUT headers and retries, and what a failing step does to the batch.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{Outcome, UploadError, UploadOptions, Uploader};
use md5::Digest as _;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{answer_at_api, spec_client, write};

fn options() -> UploadOptions {
    UploadOptions {
        commit_retry_delay: Duration::from_millis(1),
        ..UploadOptions::default()
    }
}

fn cookbook(root: &Path, name: &str, deps: &[&str]) -> Arc<LoadedCookbook> {
    let dir = root.join(name);
    let deps: serde_json::Map<String, Value> = deps
        .iter()
        .map(|d| ((*d).to_owned(), ">= 0.0.0".into()))
        .collect();
    let meta = json!({"name": name, "version": "1.0.0", "dependencies": deps});
    write(&dir, "metadata.json", meta.to_string().as_bytes());
    write(
        &dir,
        "recipes/default.rb",
        format!("log '{name}'\n").as_bytes(),
    );
    write(&dir, "foo/bar.txt", b"only v2 manifests carry me\n");
    Arc::new(LoadedCookbook::load(&dir).unwrap())
}

/// An API-v2 server with no cookbooks.
async fn v2_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cookbooks"))
        .respond_with(answer_at_api(2, json!({})))
        .mount(&server)
        .await;
    server
}

/// Answers `POST /sandboxes`: every checksum needs upload except those in `known`.
async fn sandbox(server: &MockServer, cookbooks: &[&LoadedCookbook], known: &[String]) {
    let mut checksums = serde_json::Map::new();
    for c in cookbooks {
        for f in c.files() {
            let sum = f.checksum();
            let entry = if known.contains(&sum) {
                json!({"needs_upload": false})
            } else {
                json!({"needs_upload": true, "url": format!("{}/file_store/{sum}", server.uri())})
            };
            checksums.insert(sum, entry);
        }
    }
    Mock::given(method("POST"))
        .and(path("/sandboxes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sandbox_id": "abc", "uri": format!("{}/sandboxes/abc", server.uri()),
            "checksums": checksums,
        })))
        .expect(1)
        .mount(server)
        .await;
}

fn requests_to<'r>(all: &'r [Request], verb: &str, prefix: &str) -> Vec<&'r Request> {
    all.iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn v2_server_gets_all_files_commit_503_is_retried_and_known_files_are_skipped() {
    let server = v2_server().await;
    let dir = tempfile::tempdir().unwrap();
    let c = cookbook(dir.path(), "demo", &[]);
    let readme = c
        .files()
        .iter()
        .find(|f| f.path() == "foo/bar.txt")
        .unwrap();
    sandbox(&server, &[&c], &[readme.checksum()]).await;
    Mock::given(method("PUT"))
        .and(path_regex("^/file_store/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/sandboxes/abc"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({"error": ["Checksum x not uploaded yet, ID not complete, cannot commit yet."]}),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/sandboxes/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"is_completed": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cookbooks/demo/1.0.0"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;

    let results = Uploader::new(spec_client(&server.uri()), options())
        .upload(&[Arc::clone(&c)])
        .await
        .unwrap();
    assert_eq!(results[0].outcome, Outcome::Created, "{results:?}");
    assert_eq!(results[0].files_sent, 2, "metadata.json and the recipe");

    let all = server.received_requests().await.unwrap();
    let sandbox_post = requests_to(&all, "POST", "/sandboxes")[0];
    let body: Value = serde_json::from_slice(&sandbox_post.body).unwrap();
    let asked: Vec<&String> = body["checksums"].as_object().unwrap().keys().collect();
    assert_eq!(asked.len(), 3, "every checksum of the cookbook: {body}");
    assert!(
        body["checksums"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_null)
    );
    let file_puts = requests_to(&all, "PUT", "/file_store/");
    assert_eq!(file_puts.len(), 2);
    assert!(
        file_puts
            .iter()
            .all(|r| !r.url.path().ends_with(&readme.checksum())),
        "a file the server has is not sent"
    );
    let commits = requests_to(&all, "PUT", "/sandboxes/abc");
    assert_eq!(commits.len(), 2);
    let commit: Value = serde_json::from_slice(&commits[1].body).unwrap();
    assert_eq!(commit, json!({"is_completed": true}));
    let put = requests_to(&all, "PUT", "/cookbooks/demo/1.0.0")[0];
    assert!(put.url.query().is_none(), "no force without --force");
    let manifest: Value = serde_json::from_slice(&put.body).unwrap();
    assert!(manifest.get("recipes").is_none(), "{manifest}");
    let names: Vec<&str> = manifest["all_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "foo/bar.txt",
            "root_files/metadata.json",
            "recipes/default.rb"
        ]
    );
    assert_eq!(manifest["frozen?"], false);
    // The manifest went out only after the commit succeeded.
    let order: Vec<String> = all
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    let last_commit = order
        .iter()
        .rposition(|r| r == "PUT /sandboxes/abc")
        .unwrap();
    let manifest_at = order
        .iter()
        .position(|r| r == "PUT /cookbooks/demo/1.0.0")
        .unwrap();
    assert!(last_commit < manifest_at, "{order:?}");
}

#[tokio::test]
async fn file_puts_carry_knife_headers_and_are_retried() {
    let server = v2_server().await;
    let dir = tempfile::tempdir().unwrap();
    let c = cookbook(dir.path(), "demo", &[]);
    sandbox(&server, &[&c], &[]).await;
    let recipe = c
        .files()
        .iter()
        .find(|f| f.path() == "recipes/default.rb")
        .unwrap();
    let recipe_url = format!("/file_store/{}", recipe.checksum());
    Mock::given(method("PUT"))
        .and(path(recipe_url.as_str()))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("^/file_store/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/sandboxes/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cookbooks/demo/1.0.0"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;

    let opts = UploadOptions {
        force: true,
        global_limit: Some(Arc::new(tokio::sync::Semaphore::new(1))),
        ..options()
    };
    let results = Uploader::new(spec_client(&server.uri()), opts)
        .upload(&[Arc::clone(&c)])
        .await
        .unwrap();
    assert_eq!(results[0].outcome, Outcome::Created, "{results:?}");
    assert_eq!(results[0].files_sent, 3);
    assert_eq!(results[0].bytes_sent, c.total_size());

    let all = server.received_requests().await.unwrap();
    let puts = requests_to(&all, "PUT", &recipe_url);
    assert_eq!(puts.len(), 3, "two failures, then success");
    for req in requests_to(&all, "PUT", "/file_store/") {
        let sum = req.url.path().rsplit('/').next().unwrap();
        let file = c.files().iter().find(|f| f.checksum() == sum).unwrap();
        let h = |n: &str| req.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(h("content-type").as_deref(), Some("application/x-binary"));
        let md5 = base64::engine::general_purpose::STANDARD.encode(file.md5());
        assert_eq!(h("content-md5"), Some(md5));
        assert_eq!(h("content-length"), Some(file.size().to_string()));
        assert_eq!(h("transfer-encoding"), None, "never chunked");
        assert_eq!(req.body.len() as u64, file.size());
    }
    let put = requests_to(&all, "PUT", "/cookbooks/demo/1.0.0")[0];
    assert_eq!(put.url.query(), Some("force=true"));
}

#[tokio::test]
async fn sandbox_failure_fails_every_cookbook_and_no_manifest_is_put() {
    let server = v2_server().await;
    Mock::given(method("POST"))
        .and(path("/sandboxes"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": ["Bad checksums!"]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("^/(cookbooks|file_store|sandboxes)/"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let batch = [
        cookbook(dir.path(), "app", &["base"]),
        cookbook(dir.path(), "base", &[]),
    ];
    let results = Uploader::new(spec_client(&server.uri()), options())
        .upload(&batch)
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!(r.outcome, Outcome::Failed, "{r:?}");
        let e = r.error.as_ref().unwrap();
        assert!(matches!(e, UploadError::Sandbox { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("sandbox") && text.contains("Bad checksums!"),
            "{text}"
        );
        assert!(text.contains("/sandboxes"), "names the URL: {text}");
        assert_eq!(r.files_sent, 0);
    }
}

#[tokio::test]
async fn failed_manifest_blocks_dependents_and_409_is_a_frozen_conflict() {
    let server = v2_server().await;
    let dir = tempfile::tempdir().unwrap();
    let batch = [
        cookbook(dir.path(), "app", &["base"]),
        cookbook(dir.path(), "base", &[]),
        cookbook(dir.path(), "other", &[]),
    ];
    let refs: Vec<&LoadedCookbook> = batch.iter().map(AsRef::as_ref).collect();
    sandbox(&server, &refs, &[]).await;
    Mock::given(method("PUT"))
        .and(path_regex("^/file_store/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/sandboxes/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cookbooks/base/1.0.0"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": ["Field 'metadata.dependencies' invalid"]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cookbooks/app/1.0.0"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cookbooks/other/1.0.0"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": [
            "The cookbook other at version 1.0.0 is frozen. Use the 'force' option to override."
        ]})))
        .expect(1)
        .mount(&server)
        .await;

    let results = Uploader::new(spec_client(&server.uri()), options())
        .upload(&batch)
        .await
        .unwrap();
    let by_name = |n: &str| results.iter().find(|r| r.name == n).unwrap();
    let base = by_name("base");
    assert_eq!(base.outcome, Outcome::Failed);
    assert!(
        base.error
            .as_ref()
            .unwrap()
            .to_string()
            .contains("metadata.dependencies")
    );
    let app = by_name("app");
    assert_eq!(app.outcome, Outcome::Failed);
    let text = app.error.as_ref().unwrap().to_string();
    assert!(text.contains("depends on base 1.0.0"), "{text}");
    let other = by_name("other");
    assert_eq!(other.outcome, Outcome::FrozenConflict);
    assert!(other.error.as_ref().unwrap().is_conflict());
}

/// A v0 manifest with one recipe record per (path, checksum, url path).
fn manifest_with(server: &MockServer, records: &[(&str, &str, &str)]) -> Value {
    let recipes: Vec<Value> = records
        .iter()
        .map(|(p, sum, url)| {
            json!({"name": p.rsplit('/').next().unwrap(), "path": p, "checksum": sum,
                   "specificity": "default", "url": format!("{}{url}", server.uri())})
        })
        .collect();
    json!({"name": "evil-1.0.0", "cookbook_name": "evil", "version": "1.0.0",
           "json_class": "Chef::CookbookVersion", "chef_type": "cookbook_version",
           "metadata": {"name": "evil", "version": "1.0.0"}, "recipes": recipes})
}

#[tokio::test]
async fn download_refuses_hostile_paths_and_checksum_mismatches() {
    use chef_api::download::{DownloadError, download_cookbook};
    let server = MockServer::start().await;
    let good = b"log 'ok'\n";
    let good_sum: String = md5::Md5::digest(good)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Mock::given(method("GET"))
        .and(path("/file_store/good"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(good.to_vec()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/file_store/tampered"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"not what was uploaded".to_vec()))
        .mount(&server)
        .await;
    let hostile = manifest_with(
        &server,
        &[
            ("recipes/default.rb", &good_sum, "/file_store/good"),
            ("../../outside.rb", &good_sum, "/file_store/good"),
        ],
    );
    Mock::given(method("GET"))
        .and(path("/cookbooks/evil/1.0.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(hostile))
        .mount(&server)
        .await;
    let tampered = manifest_with(
        &server,
        &[
            ("recipes/default.rb", &good_sum, "/file_store/good"),
            ("recipes/other.rb", &good_sum, "/file_store/tampered"),
        ],
    );
    Mock::given(method("GET"))
        .and(path("/cookbooks/evil/2.0.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(tampered))
        .mount(&server)
        .await;
    let c = spec_client(&server.uri());
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("a/b/evil");

    let err = download_cookbook(&c, "evil", "1.0.0", &dest)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DownloadError::UnsafePath { path, .. } if path == "../../outside.rb"),
        "{err:?}"
    );
    assert!(!dest.exists(), "nothing written for a hostile manifest");
    assert!(!root.path().join("a/outside.rb").exists());

    let err = download_cookbook(&c, "evil", "2.0.0", &dest)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, DownloadError::ChecksumMismatch { path, .. } if path == "recipes/other.rb"),
        "{err:?}"
    );
    assert!(
        text.contains("recipes/other.rb") && text.contains(&good_sum),
        "{text}"
    );
    assert!(
        !dest.join("recipes/other.rb").exists(),
        "a bad file is not kept"
    );
}

#[tokio::test]
async fn file_puts_wait_for_the_shared_global_limit() {
    let server = v2_server().await;
    let dir = tempfile::tempdir().unwrap();
    let c = cookbook(dir.path(), "demo", &[]);
    sandbox(&server, &[&c], &[]).await;
    for (verb, route, status) in [
        ("PUT", "^/file_store/", 200),
        ("PUT", "^/sandboxes/abc$", 200),
        ("PUT", "^/cookbooks/demo/1.0.0$", 201),
    ] {
        Mock::given(method(verb))
            .and(path_regex(route))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({})))
            .mount(&server)
            .await;
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(0));
    let opts = UploadOptions {
        global_limit: Some(Arc::clone(&limit)),
        ..options()
    };
    let uploader = Uploader::new(spec_client(&server.uri()), opts);
    let task = tokio::spawn({
        let c = Arc::clone(&c);
        async move { uploader.upload(&[c]).await }
    });
    // Wait for the sandbox, then check no file went out while the shared limit has no permit.
    for _ in 0..500 {
        let all = server.received_requests().await.unwrap();
        if !requests_to(&all, "POST", "/sandboxes").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&all, "POST", "/sandboxes").len(), 1);
    assert!(requests_to(&all, "PUT", "/file_store/").is_empty());
    assert!(!task.is_finished());

    limit.add_permits(1);
    let results = task.await.unwrap().unwrap();
    assert_eq!(results[0].outcome, Outcome::Created, "{results:?}");
    assert_eq!(results[0].files_sent, 3);
    assert_eq!(limit.available_permits(), 1, "every permit handed back");
}

#[tokio::test]
async fn a_commit_that_stays_incomplete_gets_the_files_once_more() {
    let server = v2_server().await;
    let dir = tempfile::tempdir().unwrap();
    let c = cookbook(dir.path(), "demo", &[]);
    sandbox(&server, &[&c], &[]).await;
    Mock::given(method("PUT"))
        .and(path_regex("^/file_store/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    // The client tries 4 times (3 retries); the uploader adds none here: all 503.
    Mock::given(method("PUT"))
        .and(path("/sandboxes/abc"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({"error": ["Cannot update sandbox abc: the following checksums have not been uploaded: x"]}),
        ))
        .up_to_n_times(4)
        .expect(4)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/sandboxes/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/cookbooks/demo/1.0.0"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let opts = UploadOptions {
        commit_retries: 0,
        ..options()
    };
    let results = Uploader::new(spec_client(&server.uri()), opts)
        .upload(&[Arc::clone(&c)])
        .await
        .unwrap();
    assert_eq!(results[0].outcome, Outcome::Created, "{results:?}");
    assert_eq!(results[0].files_sent, 6, "three files, sent twice");
    let all = server.received_requests().await.unwrap();
    let order: Vec<String> = all
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| r.url.path().split('/').nth(1).unwrap().to_owned())
        .collect();
    let expected: Vec<&str> = [
        ["file_store"; 3].as_slice(),
        &["sandboxes"; 4],
        &["file_store"; 3],
        &["sandboxes", "cookbooks"],
    ]
    .concat();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn a_file_that_cannot_be_sent_fails_the_batch_before_the_commit() {
    let server = v2_server().await;
    let dir = tempfile::tempdir().unwrap();
    let batch = [
        cookbook(dir.path(), "app", &[]),
        cookbook(dir.path(), "base", &[]),
    ];
    let refs: Vec<&LoadedCookbook> = batch.iter().map(AsRef::as_ref).collect();
    sandbox(&server, &refs, &[]).await;
    let broken = batch[1]
        .files()
        .iter()
        .find(|f| f.path() == "recipes/default.rb")
        .unwrap();
    Mock::given(method("PUT"))
        .and(path(format!("/file_store/{}", broken.checksum())))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": ["disk full"]})))
        .expect(4)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("^/file_store/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("^/(sandboxes|cookbooks)/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(0)
        .mount(&server)
        .await;
    let results = Uploader::new(spec_client(&server.uri()), options())
        .upload(&batch)
        .await
        .unwrap();
    let errors: Vec<&UploadError> = results
        .iter()
        .map(|r| {
            assert_eq!(r.outcome, Outcome::Failed, "{r:?}");
            r.error.as_ref().unwrap()
        })
        .collect();
    assert!(
        matches!(errors[0], UploadError::OtherFile { cookbook, path, .. }
            if cookbook == "base" && path == "recipes/default.rb"),
        "{:?}",
        errors[0]
    );
    assert!(
        matches!(errors[1], UploadError::File { path, .. } if path == "recipes/default.rb"),
        "{:?}",
        errors[1]
    );
    let text = results[1].error.as_ref().unwrap().to_string();
    assert!(
        text.contains("recipes/default.rb") && text.contains("disk full"),
        "{text}"
    );
}

/// Planning's manifest GETs go out cookbook by cookbook, as each is handed over (a sync hands
/// them over as they are loaded), not after all of them; planning then asks for none again.
#[tokio::test]
async fn manifests_are_fetched_as_each_cookbook_arrives_and_planning_reuses_them() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        cookbook(dir.path(), "a", &[]),
        cookbook(dir.path(), "b", &[]),
    );
    let listed = |name: &str| {
        let url = format!("{}/cookbooks/{name}", server.uri());
        json!({"url": url, "versions": [{"version": "1.0.0", "url": format!("{url}/1.0.0")}]})
    };
    Mock::given(method("GET"))
        .and(path("/cookbooks"))
        .respond_with(answer_at_api(
            2,
            json!({"a": listed("a"), "b": listed("b")}),
        ))
        .mount(&server)
        .await;
    for c in [&a, &b] {
        Mock::given(method("GET"))
            .and(path(format!("/cookbooks/{}/1.0.0", c.name())))
            .respond_with(ResponseTemplate::new(200).set_body_json(c.manifest(2, false)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let uploader = Uploader::new(spec_client(&server.uri()), options());
    let state = uploader.server_state().await.unwrap();
    let (tx, rx) = futures::channel::mpsc::unbounded();
    tx.unbounded_send(Arc::clone(&a)).unwrap();
    let prefetch = tokio::spawn({
        let uploader = uploader.clone();
        async move { uploader.prefetch_manifests(state, rx).await }
    });
    let asked = |name: &'static str| {
        let server = &server;
        async move {
            let all = server.received_requests().await.unwrap_or_default();
            requests_to(&all, "GET", &format!("/cookbooks/{name}/")).len()
        }
    };
    let waited = std::time::Instant::now();
    while asked("a").await == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "a's manifest was not asked for while b was still loading"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(asked("b").await, 0, "b is not loaded yet");
    tx.unbounded_send(Arc::clone(&b)).unwrap();
    drop(tx);
    let state = prefetch.await.unwrap();
    assert_eq!(state.manifests.len(), 2);
    let plan = uploader.plan_with(state, &[a, b]).await.unwrap();
    let actions: Vec<_> = plan.cookbooks.iter().map(|c| c.action).collect();
    assert_eq!(actions, [chef_api::upload::Action::Unchanged; 2]);
    // `expect(1)` on each manifest: planning did not ask again.
    assert_eq!((asked("a").await, asked("b").await), (1, 1));
}
