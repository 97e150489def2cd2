//! The client against a real Chef server (goiardi with authentication on, on loopback).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use chef_api::client::{ChefClient, OffsetClock};
use chef_api::endpoints::SearchOptions;
use chef_api::key::PrivateKey;
use chef_api::sign::SignVersion;
use chef_testkit::goiardi::Goiardi;
use md5::Digest as _;
use serde_json::{Value, json};

use crate::support::spec_key as other_key;

fn admin(g: &Goiardi, version: SignVersion) -> ChefClient {
    ChefClient::builder(g.url())
        .with_client_name("admin")
        .with_key(PrivateKey::from_pem(g.admin_pem().unwrap()).unwrap())
        .with_sign_version(version)
        .build()
        .unwrap()
}

fn node(name: &str) -> Value {
    json!({
        "name": name, "chef_environment": "_default", "json_class": "Chef::Node",
        "chef_type": "node", "run_list": [], "normal": {"team": "web"},
        "default": {}, "override": {}, "automatic": {}
    })
}

#[tokio::test]
async fn cookbooks_nodes_and_search_with_each_signing_version() {
    let g = Goiardi::start().expect("goiardi");
    let setup = admin(&g, SignVersion::V1_1);
    for n in ["n1", "n2", "n3", "n4", "n5"] {
        let created: Value = setup.post("nodes", &node(n)).await.unwrap();
        assert!(
            created["uri"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/nodes/{n}"))
        );
    }
    for version in [SignVersion::V1_0, SignVersion::V1_1, SignVersion::V1_3] {
        let c = admin(&g, version);
        assert!(c.list_cookbooks().await.unwrap().is_empty(), "{version:?}");
        let nodes = c.list_nodes().await.unwrap();
        assert_eq!(nodes.len(), 5, "{version:?}");
        assert_eq!(c.node("n3").await.unwrap()["normal"]["team"], "web");
        assert!(c.node("missing").await.unwrap_err().is_not_found());

        let opts = SearchOptions {
            rows: 2,
            sort: None,
        };
        let rows = c
            .search_with(
                "node",
                "team:web AND chef_environment:_default",
                &opts,
                None,
            )
            .await
            .unwrap();
        let mut names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, ["n1", "n2", "n3", "n4", "n5"], "{version:?}");

        let keys = BTreeMap::from([("team".to_owned(), vec!["team".to_owned()])]);
        let partial = c.partial_search("node", "name:n2", &keys).await.unwrap();
        assert_eq!(partial.len(), 1, "{partial:?}");
        assert_eq!(partial[0]["data"]["team"], "web");

        // goiardi sends no API-version header for a v2 request: v0 manifests.
        assert_eq!(c.api_version(), Some(0));
        assert_eq!(c.sign_version(), version);
    }
}

#[tokio::test]
async fn wrong_key_is_unauthorized() {
    let g = Goiardi::start().expect("goiardi");
    assert_eq!(
        admin(&g, SignVersion::V1_3)
            .negotiate_api_version()
            .await
            .unwrap(),
        0
    );
    let c = ChefClient::builder(g.url())
        .with_client_name("admin")
        .with_key(other_key())
        .build()
        .unwrap();
    let err = c.list_nodes().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert!(err.to_string().contains("/nodes"), "{err}");
}

#[tokio::test]
async fn clock_twenty_minutes_off_is_corrected() {
    let g = Goiardi::start().expect("goiardi");
    for offset in [-1200, 1200] {
        let c = ChefClient::builder(g.url())
            .with_client_name("admin")
            .with_key_file(g.admin_key_path())
            .with_clock(Arc::new(OffsetClock(offset)))
            .build()
            .unwrap();
        c.list_nodes().await.unwrap();
        assert!((c.clock_offset_seconds() + offset).abs() <= 2, "{offset}");
    }
}

#[tokio::test]
async fn pivotal_admin_user_can_be_created_and_used() {
    let g = Goiardi::start().expect("goiardi");
    let a = admin(&g, SignVersion::V1_3);
    let key = other_key();
    a.create_user("pivotal", &key.public_key_pem(), true)
        .await
        .unwrap();
    let dup = a
        .create_user("pivotal", &key.public_key_pem(), true)
        .await
        .unwrap_err();
    assert!(dup.is_conflict(), "{dup:?}");

    let pivotal = ChefClient::builder(format!("{}/", g.url()))
        .with_client_name("pivotal")
        .with_key(key)
        .build()
        .unwrap();
    let _: Value = pivotal.post("nodes", &node("from-pivotal")).await.unwrap();
    assert!(
        pivotal
            .list_nodes()
            .await
            .unwrap()
            .contains_key("from-pivotal")
    );

    // Admin rights: a sandbox, its file uploaded unsigned, committed.
    let content = b"log 'hello'\n".repeat(1000);
    let md5 = md5::Md5::digest(&content);
    let hex: String = md5.iter().map(|b| format!("{b:02x}")).collect();
    let sandbox: Value = pivotal
        .post("sandboxes", &json!({"checksums": {&hex: null}}))
        .await
        .unwrap();
    let entry = &sandbox["checksums"][&hex];
    assert_eq!(entry["needs_upload"], true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.rb");
    std::fs::write(&file, &content).unwrap();
    let url = url::Url::parse(entry["url"].as_str().unwrap()).unwrap();
    let md5_b64 = base64::engine::general_purpose::STANDARD.encode(md5);
    pivotal.put_file(&url, &file, &md5_b64).await.unwrap();
    let committed: Value = pivotal
        .put(
            sandbox["uri"].as_str().unwrap(),
            &json!({"is_completed": true}),
        )
        .await
        .unwrap();
    assert_eq!(committed["is_completed"], true);
    assert_eq!(&pivotal.download(&url).await.unwrap()[..], &content[..]);
}

#[tokio::test]
async fn raw_example_answers() {
    let g = Goiardi::start().expect("goiardi");
    let _: Value = admin(&g, SignVersion::V1_1)
        .post("nodes", &node("web1"))
        .await
        .unwrap();
    // The `raw` example, as the binary target cargo builds for the integration tests.
    let raw = env!("CARGO_BIN_EXE_raw");
    let key = g.admin_key_path();
    let run = |extra: &[&str]| {
        Command::new(raw)
            .args(["--server-url", &g.url(), "--client-name", "admin", "--key"])
            .arg(&key)
            .args(extra)
            .output()
            .expect("run raw")
    };
    for version in ["1.0", "1.1", "1.3"] {
        let out = run(&["--sign-version", version, "/nodes"]);
        assert!(out.status.success(), "{out:?}");
        let nodes: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(nodes.get("web1").is_some(), "{nodes}");
    }

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("node.json");
    std::fs::write(&input, node("web2").to_string()).unwrap();
    let out = run(&[
        "--method",
        "POST",
        "--input",
        input.to_str().unwrap(),
        "/nodes",
    ]);
    assert!(out.status.success(), "{out:?}");

    let out = run(&["/nodes/missing"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
    assert!(out.stdout.is_empty());
}
