//! Cached cookbook sources of a policy lock that chef-sync fetches itself, beside Supermarket
//! and git: Artifactory (the API key header, to Artifactory only) and a Chef server (signed,
//! with the configured client whose URL the lock names). Each is verified against the lock's
//! identifier like the others.

use std::path::{Path, PathBuf};

use chef_api::cookbook::LoadedCookbook;
use chef_api::cookbook::manifest::ManifestFiles;
use chef_api::upload::{UploadOptions, Uploader};
use chef_sync::berkshelf::supermarket::SupermarketClient;
use chef_sync::policy::{CookbookCache, LoadedPolicy, identifier};
use chef_testkit::goiardi::Goiardi;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::write;

/// A lock naming one cached cookbook `name` `version` with `source_options`.
fn lock(root: &Path, name: &str, identifier: &str, cache_key: &str, source: Value) -> PathBuf {
    let doc = json!({
        "revision_id": "r",
        "name": "p",
        "run_list": [format!("recipe[{name}::default]")],
        "included_policy_locks": [],
        "cookbook_locks": {name: {
            "version": "1.0.0",
            "identifier": identifier,
            "dotted_decimal_identifier": identifier::dotted_decimal(identifier)
                .unwrap_or_else(|| "1.2.3".into()),
            "cache_key": cache_key,
            "origin": "x",
            "source_options": source
        }},
        "default_attributes": {},
        "override_attributes": {}
    });
    let path = root.join("Policyfile.lock.json");
    std::fs::write(&path, chef_sync::policy::json::to_lock_string(&doc)).unwrap();
    path
}

fn cache(root: &Path) -> CookbookCache {
    CookbookCache {
        root: root.to_path_buf(),
        chef_cli_caches: Vec::new(),
        offline: false,
        supermarket: None,
        artifactory: None,
        chef_servers: Vec::new(),
    }
}

fn identifier_of(manifest: &ManifestFiles) -> String {
    identifier::content_identifier(&identifier::fingerprint_text(
        manifest.files.iter().map(|(p, c)| (p.as_str(), c.as_str())),
    ))
}

#[tokio::test]
async fn an_artifactory_cookbook_is_fetched_with_the_api_key_and_verified() {
    let extra: &[(&str, &[u8])] = &[("attributes/default.rb", b"default['corp'] = 1\n")];
    let tarball = chef_testkit::fleet::cookbook_tarball("corp", "1.0.0", &[], extra);
    let artifactory = MockServer::start().await;
    let route = "/artifactory/api/chef/chef-remote/api/v1/cookbooks/corp/versions/1.0.0/download";
    Mock::given(method("GET"))
        .and(path(route))
        .and(header("x-jfrog-art-api", "s3cret"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(tarball))
        .expect(1)
        .mount(&artifactory)
        .await;
    let url = format!("{}{route}", artifactory.uri());
    let dir = tempfile::tempdir().unwrap();
    let mut cache = cache(&dir.path().join("cache"));
    cache.artifactory = Some(
        SupermarketClient::builder()
            .with_header(
                HeaderName::from_static("x-jfrog-art-api"),
                HeaderValue::from_static("s3cret"),
            )
            .build()
            .unwrap(),
    );
    let source = json!({"artifactory": url, "version": "1.0.0"});
    // The identifier the downloaded files hash to, read back from a first, refused load.
    let wrong = lock(
        dir.path(),
        "corp",
        "0123456789abcdef0123456789abcdef01234567",
        "corp-1.0.0-127.0.0.1",
        source.clone(),
    );
    let err = LoadedPolicy::load(&wrong, &cache)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cached cookbook 'corp'"), "{err}");
    let fetched = dir.path().join("cache/cookbooks/corp-1.0.0");
    let files = LoadedCookbook::load(&fetched).unwrap();
    assert!(
        files
            .files()
            .iter()
            .any(|f| f.path() == "attributes/default.rb")
    );
    let actual = chef_sync::policy::identifier::CookbookIdentity::load(&fetched)
        .unwrap()
        .identifier;
    assert!(err.contains(&actual), "{err}");
    // The lock with that identifier loads from the cache (the mock allows one download).
    let right = lock(dir.path(), "corp", &actual, "corp-1.0.0-127.0.0.1", source);
    let policy = LoadedPolicy::load(&right, &cache).await.unwrap();
    assert_eq!(policy.cookbooks[0].dir, fetched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chef_server_cookbook_is_downloaded_with_the_matching_client_and_verified() {
    let g = Goiardi::start().expect("goiardi");
    let client = g.admin_client().unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src/corp");
    write(&src, "metadata.rb", "name 'corp'\nversion '1.0.0'\n");
    write(&src, "recipes/default.rb", "log 'corp'\n");
    write(&src, "templates/default/corp.erb", "<%= node['fqdn'] %>\n");
    let cb = LoadedCookbook::load(&src).unwrap();
    Uploader::new(client.clone(), UploadOptions::default())
        .upload(&[std::sync::Arc::new(cb)])
        .await
        .unwrap();
    // chef-cli hashes what the server serves (knife's upload added metadata.json).
    let manifest: Value = client.get("cookbooks/corp/1.0.0").await.unwrap();
    let expected = identifier_of(&ManifestFiles::from_json(&manifest).unwrap());
    let server_url = client.server_url().to_string();
    let source = json!({"chef_server": server_url, "version": "1.0.0"});
    let lock_path = lock(work.path(), "corp", &expected, "corp-1.0.0", source);

    // Without a client for that URL the error names it.
    let mut cache = cache(&work.path().join("cache"));
    let err = LoadedPolicy::load(&lock_path, &cache)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&server_url) && err.contains("no configured Chef server"),
        "{err}"
    );

    cache.chef_servers = vec![client.clone()];
    let policy = LoadedPolicy::load(&lock_path, &cache).await.unwrap();
    let cookbook = &policy.cookbooks[0];
    assert_eq!(cookbook.identity.identifier, expected);
    assert!(cookbook.dir.starts_with(&cache.root));
    let mut paths: Vec<&str> = cookbook.identity.files.iter().map(|f| f.path()).collect();
    paths.sort_unstable();
    assert!(paths.contains(&"metadata.rb") && paths.contains(&"recipes/default.rb"));

    // The lock's URL spelled otherwise (scheme in capitals, a trailing slash) names the same
    // server, so the same client fetches it (install relies on it: it hands load_locked a
    // client built for the lock's URL).
    let respelled = format!(
        "{}/",
        server_url
            .trim_end_matches('/')
            .replacen("http://", "HTTP://", 1)
    );
    let source = json!({"chef_server": respelled, "version": "1.0.0"});
    let lock_path = lock(work.path(), "corp", &expected, "corp-1.0.0", source);
    let fresh = CookbookCache {
        root: work.path().join("cache-respelled"),
        ..cache.clone()
    };
    let policy = LoadedPolicy::load(&lock_path, &fresh).await.unwrap();
    assert_eq!(policy.cookbooks[0].identity.identifier, expected);
    assert!(policy.cookbooks[0].dir.starts_with(&fresh.root));
}
