//! `chef install` / `chef update` for Policyfiles against wiremock sources (a Chef server's
//! `/universe` and cookbooks, Artifactory's Supermarket API, remote and server-included locks)
//! and, where a signature must be checked, goiardi.
//! Locks are compared byte for byte with what chef-cli's rules give (lock_data and cache_key of
//! cookbook-omnifetch's locations, included_policy_locks of chef-cli's lock fetchers).

use std::path::{Path, PathBuf};

use chef_api::cookbook::LoadedCookbook;
use chef_api::cookbook::manifest::ManifestFiles;
use chef_api::upload::{UploadOptions, Uploader};
use chef_sync::config::{KeySource, ServerSpec};
use chef_sync::policy::identifier::{self, CookbookIdentity};
use chef_sync::policy::json::to_lock_string;
use chef_sync::policy::{CookbookCache, InstallError, InstallOptions};
use chef_sync::position::Position;
use chef_testkit::fleet::cookbook_tarball;
use chef_testkit::goiardi::Goiardi;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    SupermarketCookbook, forbid_requests, git, mount_catalog, spec_key_path, write,
};

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn chef_servers(url: &str) -> Vec<ServerSpec> {
    let key = KeySource::Pem(std::fs::read(spec_key_path()).unwrap());
    vec![ServerSpec::new("s", url, "spec-user", key).expect("a valid server")]
}

fn options(cache: &Path, env: &[(&str, &str)], servers: Vec<ServerSpec>) -> InstallOptions {
    InstallOptions {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        cache: CookbookCache {
            root: cache.to_path_buf(),
            chef_cli_caches: Vec::new(),
            offline: false,
            supermarket: None,
            artifactory: None,
            chef_servers: Vec::new(),
        },
        chef_servers: servers,
        ..InstallOptions::default()
    }
}

/// Writes `files` under `dir` and returns the cookbook's identity (computed from a plain
/// copy, independently of any download).
fn identity_of(dir: &Path, files: &[(&str, &str)]) -> CookbookIdentity {
    for (p, body) in files {
        write(dir, p, *body);
    }
    CookbookIdentity::load(dir).unwrap()
}

/// The identity of a Supermarket tarball as `cookbook_tarball` builds it.
fn tarball_identity(scratch: &Path, name: &str, version: &str) -> CookbookIdentity {
    let meta = serde_json::to_vec_pretty(
        &json!({"name": name, "version": version, "dependencies": serde_json::Map::new()}),
    )
    .unwrap();
    let dir = scratch.join(format!("{name}-{version}"));
    write(&dir, "metadata.json", &meta);
    write(
        &dir,
        "recipes/default.rb",
        &format!("log '{name} {version}'\n"),
    );
    CookbookIdentity::load(&dir).unwrap()
}

/// Serves cookbook `name` (files `files`) as an API v2 manifest at a Chef server's
/// `GET ORG/ROUTE` (`cookbooks/NAME/VERSION` or `cookbook_artifacts/NAME/ID`), its files under
/// `/files/`.
async fn mount_server_cookbook(
    server: &MockServer,
    org: &str,
    name: &str,
    route: &str,
    files: &[(&str, &str)],
) {
    let base = server.uri();
    let mut all_files = Vec::new();
    for (p, body) in files {
        let url_path = format!("/files/{name}/{route}/{p}");
        Mock::given(method("GET"))
            .and(path(url_path.clone()))
            .respond_with(ResponseTemplate::new(200).set_body_string(*body))
            .mount(server)
            .await;
        let file_name = if p.contains('/') {
            (*p).to_owned()
        } else {
            format!("root_files/{p}")
        };
        all_files.push(json!({
            "name": file_name, "path": p, "checksum": md5_hex(body.as_bytes()),
            "specificity": "default", "url": format!("{base}{url_path}"),
        }));
    }
    Mock::given(method("GET"))
        .and(path(format!("{org}/{route}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": name, "all_files": all_files,
        })))
        .mount(server)
        .await;
}

/// Serves cookbook `nginx` VERSION's tarball once from the fake Artifactory's `chef-virtual`
/// repository, only with the API key `s3cret`; returns its path.
async fn mount_artifactory_nginx(server: &MockServer, version: &str) -> String {
    let route = format!(
        "/artifactory/api/chef/chef-virtual/api/v1/cookbooks/nginx/versions/{version}/download"
    );
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .and(header("x-jfrog-art-api", "s3cret"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(cookbook_tarball(
            "nginx",
            version,
            &[],
            &[],
        )))
        .expect(1)
        .mount(server)
        .await;
    route
}

/// The lock text chef-cli writes (FFI_Yajl pretty output) for `doc`, checked by hand in the
/// expected strings below; the revision id is recomputed from the expected document.
fn with_revision(mut doc: Value) -> (Value, String) {
    let rev = identifier::revision_id(doc.as_object().unwrap());
    doc["revision_id"] = Value::String(rev.clone());
    (doc, rev)
}

#[tokio::test]
async fn chef_server_and_artifactory_default_sources_lock_as_chef_cli_writes_them() {
    let server = MockServer::start().await;
    let base = server.uri();
    let org_url = format!("{base}/organizations/o");
    let art_url = format!("{base}/artifactory/api/chef/chef-virtual");
    // The Chef server: its signed /universe and the cookbook version's manifest and files.
    let base_files = [
        ("metadata.rb", "name 'base'\nversion '1.0.0'\n"),
        ("recipes/default.rb", "log 'base'\n"),
    ];
    Mock::given(method("GET"))
        .and(path("/organizations/o/universe"))
        .and(header("x-ops-userid", "spec-user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "base": {"1.0.0": {"location_type": "chef_server",
                "location_path": format!("{org_url}/cookbooks/base/1.0.0"),
                "download_url": format!("{org_url}/cookbooks/base/1.0.0"),
                "dependencies": {}}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_server_cookbook(
        &server,
        "/organizations/o",
        "base",
        "cookbooks/base/1.0.0",
        &base_files,
    )
    .await;
    // Artifactory: the universe and the tarball only with the API key header.
    let download = format!("{art_url}/api/v1/cookbooks/nginx/versions/2.0.0/download");
    Mock::given(method("GET"))
        .and(path("/artifactory/api/chef/chef-virtual/universe"))
        .and(header("x-jfrog-art-api", "s3cret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "nginx": {"2.0.0": {"location_type": "opscode", "location_path": art_url,
                "download_url": download, "dependencies": {}}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_artifactory_nginx(&server, "2.0.0").await;

    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(
        r,
        "Policyfile.rb",
        &format!(
            r#"name "web"
default_source :chef_server, "{org_url}"
default_source :artifactory, "{art_url}"
run_list "base", "nginx"
default["app"]["db"]["port"] = 5432
default["app"]["db"]["host"] = "db1"
"#
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(
        cache.path(),
        &[("ARTIFACTORY_API_KEY", "s3cret")],
        chef_servers(&org_url),
    );
    let installed = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap();
    assert!(installed.written);

    let scratch = tempfile::tempdir().unwrap();
    let b = identity_of(&scratch.path().join("base"), &base_files);
    let n = tarball_identity(scratch.path(), "nginx", "2.0.0");
    let (expected, rev) = with_revision(json!({
        "revision_id": null,
        "name": "web",
        "run_list": ["recipe[base::default]", "recipe[nginx::default]"],
        "included_policy_locks": [],
        "cookbook_locks": {
            "base": {"version": "1.0.0", "identifier": b.identifier,
                "dotted_decimal_identifier": b.dotted_decimal_identifier,
                "cache_key": "base-1.0.0", "origin": org_url,
                "source_options": {"chef_server": org_url, "version": "1.0.0"}},
            "nginx": {"version": "2.0.0", "identifier": n.identifier,
                "dotted_decimal_identifier": n.dotted_decimal_identifier,
                "cache_key": "nginx-2.0.0-127.0.0.1", "origin": download,
                "source_options": {"artifactory": download, "version": "2.0.0"}}
        },
        "default_attributes": {"app": {"db": {"port": 5432, "host": "db1"}}},
        "override_attributes": {},
        "solution_dependencies": {
            "Policyfile": [["base", "= 1.0.0"], ["nginx", "= 2.0.0"]],
            "dependencies": {"base (1.0.0)": [], "nginx (2.0.0)": []}
        }
    }));
    let text = std::fs::read_to_string(r.join("Policyfile.lock.json")).unwrap();
    let expected_text = format!(
        r#"{{
  "revision_id": "{rev}",
  "name": "web",
  "run_list": [
    "recipe[base::default]",
    "recipe[nginx::default]"
  ],
  "included_policy_locks": [

  ],
  "cookbook_locks": {{
    "base": {{
      "version": "1.0.0",
      "identifier": "{bid}",
      "dotted_decimal_identifier": "{bdot}",
      "cache_key": "base-1.0.0",
      "origin": "{org_url}",
      "source_options": {{
        "chef_server": "{org_url}",
        "version": "1.0.0"
      }}
    }},
    "nginx": {{
      "version": "2.0.0",
      "identifier": "{nid}",
      "dotted_decimal_identifier": "{ndot}",
      "cache_key": "nginx-2.0.0-127.0.0.1",
      "origin": "{download}",
      "source_options": {{
        "artifactory": "{download}",
        "version": "2.0.0"
      }}
    }}
  }},
  "default_attributes": {{
    "app": {{
      "db": {{
        "port": 5432,
        "host": "db1"
      }}
    }}
  }},
  "override_attributes": {{

  }},
  "solution_dependencies": {{
    "Policyfile": [
      [
        "base",
        "= 1.0.0"
      ],
      [
        "nginx",
        "= 2.0.0"
      ]
    ],
    "dependencies": {{
      "base (1.0.0)": [

      ],
      "nginx (2.0.0)": [

      ]
    }}
  }}
}}
"#,
        bid = b.identifier,
        bdot = b.dotted_decimal_identifier,
        nid = n.identifier,
        ndot = n.dotted_decimal_identifier,
    );
    assert_eq!(text, expected_text);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        expected,
        "same document"
    );
    server.verify().await;

    // The lock is there: a second install reads every cookbook from the cache, asks nothing.
    forbid_requests(&server, "an install from a lock with a warm cache").await;
    let again = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap();
    assert!(!again.written);
    assert_eq!(again.lock.revision_id(), Some(rev.as_str()));
    server.verify().await;

    // With a cold cache, the lock's chef_server and artifactory cookbooks are fetched as
    // locked (signed manifest; download with the key), without asking for any universe.
    server.reset().await;
    mount_server_cookbook(
        &server,
        "/organizations/o",
        "base",
        "cookbooks/base/1.0.0",
        &base_files,
    )
    .await;
    mount_artifactory_nginx(&server, "2.0.0").await;
    let cold = tempfile::tempdir().unwrap();
    let cold_opts = options(
        cold.path(),
        &[("ARTIFACTORY_API_KEY", "s3cret")],
        chef_servers(&org_url),
    );
    let from_lock = chef_sync::policy::install(&r.join("Policyfile.rb"), &cold_opts)
        .await
        .unwrap();
    assert!(!from_lock.written);
    assert_eq!(
        std::fs::read_to_string(from_lock.lock.path()).unwrap(),
        text
    );
    server.verify().await;

    // The identity token wins over the API key, as a Bearer header (auth_headers).
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/artifactory/api/chef/chef-virtual/universe"))
        .and(header("authorization", "Bearer t0ken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    write(
        r,
        "token/Policyfile.rb",
        &format!("name 't'\ndefault_source :artifactory, '{art_url}'\nrun_list 'nginx'\n"),
    );
    let opts = options(
        cache.path(),
        &[
            ("ARTIFACTORY_API_KEY", "s3cret"),
            ("ARTIFACTORY_IDENTITY_TOKEN", "t0ken"),
        ],
        Vec::new(),
    );
    let err = chef_sync::policy::install(&r.join("token/Policyfile.rb"), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, InstallError::Resolve { .. }),
        "an empty universe leaves nginx unresolved: {err}"
    );
    server.verify().await;

    // Without any configured server, a :chef_server source is refused naming it.
    write(
        r,
        "nokey/Policyfile.rb",
        &format!("name 'n'\ndefault_source :chef_server, '{org_url}'\nrun_list 'base'\n"),
    );
    let err = chef_sync::policy::install(
        &r.join("nokey/Policyfile.rb"),
        &options(cache.path(), &[], Vec::new()),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("no Chef server is configured"),
        "{err}"
    );
}

#[tokio::test]
async fn remote_and_server_included_policies_lock_as_chef_cli_fetchers_write_them() {
    let server = MockServer::start().await;
    let base = server.uri();
    let org_url = format!("{base}/organizations/o");
    let scratch = tempfile::tempdir().unwrap();

    // A remote lock with one Supermarket cookbook.
    let download = format!("{base}/api/v1/cookbooks/apt/versions/7.0.0/download");
    Mock::given(method("GET"))
        .and(path("/api/v1/cookbooks/apt/versions/7.0.0/download"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(cookbook_tarball(
            "apt",
            "7.0.0",
            &[],
            &[],
        )))
        .mount(&server)
        .await;
    let apt = tarball_identity(scratch.path(), "apt", "7.0.0");
    let apt_lock = json!({"version": "7.0.0", "identifier": apt.identifier,
        "dotted_decimal_identifier": apt.dotted_decimal_identifier,
        "cache_key": "apt-7.0.0-127.0.0.1", "origin": download,
        "source_options": {"artifactserver": download, "version": "7.0.0"}});
    let (remote_doc, remote_rev) = with_revision(json!({
        "revision_id": null, "name": "base", "run_list": ["recipe[apt::default]"],
        "included_policy_locks": [], "cookbook_locks": {"apt": apt_lock},
        "default_attributes": {"a": {"x": 1}, "list": [1, 2]}, "override_attributes": {},
        "solution_dependencies": {"Policyfile": [["apt", "= 7.0.0"]],
            "dependencies": {"apt (7.0.0)": []}}
    }));
    Mock::given(method("GET"))
        .and(path("/locks/base.lock.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&remote_doc))
        .mount(&server)
        .await;

    // A policy group on a Chef server with one artifact.
    let ntp_files = [
        ("metadata.rb", "name 'ntp'\nversion '3.1.0'\n"),
        ("recipes/default.rb", "log 'ntp'\n"),
    ];
    let ntp = identity_of(&scratch.path().join("ntp"), &ntp_files);
    let (server_doc, server_rev) = with_revision(json!({
        "revision_id": null, "name": "shared", "run_list": ["recipe[ntp::default]"],
        "named_run_lists": {"update": ["recipe[ntp::default]"]},
        "included_policy_locks": [],
        "cookbook_locks": {"ntp": {"version": "3.1.0", "identifier": ntp.identifier,
            "dotted_decimal_identifier": ntp.dotted_decimal_identifier,
            "cache_key": "ntp-3.1.0-supermarket.chef.io", "origin": "https://supermarket.chef.io/x",
            "source_options": {"artifactserver": "https://supermarket.chef.io/x", "version": "3.1.0"}}},
        "default_attributes": {"a": {"y": 2}, "list": [1, 2]}, "override_attributes": {"o": true},
        "solution_dependencies": {"Policyfile": [["ntp", "= 3.1.0"]],
            "dependencies": {"ntp (3.1.0)": []}}
    }));
    Mock::given(method("GET"))
        .and(path("/organizations/o/policy_groups/prod/policies/shared"))
        .and(header("x-ops-userid", "spec-user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&server_doc))
        .expect(1)
        .mount(&server)
        .await;
    mount_server_cookbook(
        &server,
        "/organizations/o",
        "ntp",
        &format!("cookbook_artifacts/ntp/{}", ntp.identifier),
        &ntp_files,
    )
    .await;

    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(
        r,
        "Policyfile.rb",
        &format!(
            r#"name "app"
include_policy "base", remote: "{base}/locks/base.lock.json"
include_policy "shared", server: "{org_url}", policy_group: "prod"
run_list "ntp::default", "apt"
default["a"]["z"] = 3
"#
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &[], chef_servers(&org_url));
    let installed = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap();
    let doc = installed.lock.document();
    assert_eq!(
        doc["run_list"],
        json!([
            "recipe[apt::default]",
            "recipe[ntp::default]",
            "recipe[apt::default]"
        ]),
        "included run lists first; `ntp::default` is already there, `apt` is another item (Chef::RunList compares names)"
    );
    assert_eq!(
        doc["named_run_lists"],
        json!({"update": ["recipe[ntp::default]"]})
    );
    assert_eq!(
        doc["included_policy_locks"],
        json!([
            {"name": "base", "revision_id": remote_rev,
             "source_options": {"remote": format!("{base}/locks/base.lock.json")}},
            {"name": "shared", "revision_id": server_rev,
             "source_options": {"server": org_url, "policy_group": "prod",
                                "policy_name": "shared", "policy_revision_id": server_rev}}
        ])
    );
    assert_eq!(doc["cookbook_locks"]["apt"], apt_lock);
    assert_eq!(
        doc["cookbook_locks"]["ntp"],
        json!({"version": "3.1.0", "identifier": ntp.identifier,
               "dotted_decimal_identifier": ntp.dotted_decimal_identifier,
               "cache_key": format!("ntp-{}", ntp.identifier), "origin": org_url,
               "source_options": {"chef_server_artifact": org_url, "identifier": ntp.identifier}})
    );
    // The Policyfile's attributes first, the included ones merged in (an array is a leaf:
    // equal in both, so no conflict).
    assert_eq!(
        serde_json::to_string(&doc["default_attributes"]).unwrap(),
        r#"{"a":{"z":3,"x":1,"y":2},"list":[1,2]}"#
    );
    assert_eq!(doc["override_attributes"], json!({"o": true}));
    let text = std::fs::read_to_string(installed.lock.path()).unwrap();
    assert!(text.contains(&format!(
        "\"source_options\": {{\n        \"server\": \"{org_url}\",\n        \"policy_group\": \"prod\",\n        \"policy_name\": \"shared\",\n        \"policy_revision_id\": \"{server_rev}\"\n      }}"
    )), "{text}");
    server.verify().await;

    // Installing from that lock again needs no request: artifacts are cached by cache_key.
    let lock_text = text.clone();
    let again = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap();
    assert!(!again.written);
    assert_eq!(
        std::fs::read_to_string(again.lock.path()).unwrap(),
        lock_text
    );
    // And with a cold cache: the server artifact is downloaded again from the server.
    let cold = tempfile::tempdir().unwrap();
    let from_lock = chef_sync::policy::install(
        &r.join("Policyfile.rb"),
        &options(cold.path(), &[], chef_servers(&org_url)),
    )
    .await
    .unwrap();
    assert!(!from_lock.written);
    assert!(
        cold.path()
            .join("cookbooks")
            .join(format!("ntp-{}", ntp.identifier))
            .join("recipes/default.rb")
            .is_file()
    );

    // One attribute path with two values is chef-cli's AttributeMergeChecker conflict.
    write(
        r,
        "conflict/Policyfile.rb",
        &format!(
            "name 'c'\ninclude_policy 'base', remote: '{base}/locks/base.lock.json'\nrun_list 'apt'\ndefault['a']['x'] = 9\n"
        ),
    );
    let err = chef_sync::policy::install(&r.join("conflict/Policyfile.rb"), &opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Attribute '[a][x]' provided conflicting values by the following sources [\"user-specified\", \"base\"]"),
        "{err}"
    );

    // A pinned revision that is not the lock's, and a missing remote lock, name the line.
    write(
        r,
        "pinned/Policyfile.rb",
        &format!(
            "name 'p'\nrun_list 'apt'\ninclude_policy 'base', remote: '{base}/locks/base.lock.json', policy_revision_id: 'abc'\ninclude_policy 'gone', remote: '{base}/locks/gone.lock.json'\n"
        ),
    );
    let err = chef_sync::policy::install(&r.join("pinned/Policyfile.rb"), &opts)
        .await
        .unwrap_err();
    assert_eq!(
        err.position(),
        Some(Position::at(r.join("pinned/Policyfile.rb"), 3, None))
    );
    assert!(
        err.to_string().contains(&format!(
            "Expected policy_revision_id 'abc' does not match included_policy '{remote_rev}'"
        )),
        "{err}"
    );
    write(
        r,
        "pinned/Policyfile.rb",
        &format!(
            "name 'p'\nrun_list 'apt'\ninclude_policy 'base', remote: '{base}/locks/base.lock.json', policy_revision_id: '{}'\ninclude_policy 'gone', remote: '{base}/locks/gone.lock.json'\n",
            &remote_rev[..10]
        ),
    );
    let err = chef_sync::policy::install(&r.join("pinned/Policyfile.rb"), &opts)
        .await
        .unwrap_err();
    assert_eq!(
        err.position(),
        Some(Position::at(r.join("pinned/Policyfile.rb"), 4, None))
    );
    assert!(
        err.to_string().contains(&format!(
            "No remote policyfile lock 'gone' found at {base}/locks/gone.lock.json"
        )),
        "{err}"
    );
}

/// A fake Supermarket serving only `catalog` at `server`.
async fn supermarket(server: &MockServer, catalog: &[SupermarketCookbook]) {
    server.reset().await;
    mount_catalog(server, catalog, |_| Vec::new()).await;
}

fn versions(lock: &chef_sync::policy::PolicyLock) -> Vec<(String, String)> {
    lock.cookbooks()
        .iter()
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn update_with_names_re_resolves_only_those_and_their_dependencies() {
    let server = MockServer::start().await;
    supermarket(
        &server,
        &[
            ("nginx", "1.0.0", &[("ohai", ">= 0.0.0")]),
            ("ohai", "1.0.0", &[]),
            ("users", "1.0.0", &[]),
        ],
    )
    .await;
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    let policyfile = r.join("Policyfile.rb");
    write(
        r,
        "Policyfile.rb",
        &format!(
            "name 'web'\ndefault_source :supermarket, '{}'\nrun_list 'nginx', 'users'\n",
            server.uri()
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let mut opts = options(cache.path(), &[], Vec::new());
    let first = chef_sync::policy::install(&policyfile, &opts)
        .await
        .unwrap();
    assert_eq!(
        versions(&first.lock),
        pairs(&[("nginx", "1.0.0"), ("ohai", "1.0.0"), ("users", "1.0.0")])
    );

    // Newer versions of everything; `update nginx` takes nginx and ohai (its dependency) only.
    supermarket(
        &server,
        &[
            ("nginx", "1.0.0", &[("ohai", ">= 0.0.0")]),
            ("nginx", "1.1.0", &[("ohai", ">= 0.0.0")]),
            ("ohai", "1.0.0", &[]),
            ("ohai", "1.1.0", &[]),
            ("users", "1.0.0", &[]),
            ("users", "1.1.0", &[]),
        ],
    )
    .await;
    opts.update = true;
    opts.update_cookbooks = vec!["nginx".into()];
    let partial = chef_sync::policy::install(&policyfile, &opts)
        .await
        .unwrap();
    assert!(partial.written);
    assert_eq!(
        versions(&partial.lock),
        pairs(&[("nginx", "1.1.0"), ("ohai", "1.1.0"), ("users", "1.0.0")])
    );
    assert_eq!(
        partial.lock.document()["solution_dependencies"]["Policyfile"],
        json!([
            ["nginx", "= 1.1.0"],
            ["ohai", "= 1.1.0"],
            ["users", "= 1.0.0"]
        ])
    );

    // A name the lock does not have is an error naming it.
    opts.update_cookbooks = vec!["nope".into()];
    let err = chef_sync::policy::install(&policyfile, &opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot update cookbook 'nope'"), "{err}");

    // No names: everything is re-resolved.
    opts.update_cookbooks.clear();
    let all = chef_sync::policy::install(&policyfile, &opts)
        .await
        .unwrap();
    assert_eq!(
        versions(&all.lock),
        pairs(&[("nginx", "1.1.0"), ("ohai", "1.1.0"), ("users", "1.1.0")])
    );
}

#[tokio::test]
async fn install_errors_carry_a_typed_position() {
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(
        r,
        "cookbooks/app/metadata.rb",
        "name 'app'\nversion '1.0.0'\n",
    );
    write(r, "cookbooks/app/recipes/default.rb", "log 'app'\n");
    let policyfile: PathBuf = r.join("Policyfile.rb");
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &[], Vec::new());
    let cases: [(&str, Position); 3] = [
        (
            "name 'p'\nrun_list 'app'\n\ncookbook 'app', '>= 2.0', path: 'cookbooks/app'\n",
            Position::at(&policyfile, 4, None),
        ),
        (
            "name 'p'\nrun_list 'app'\n  system('id')\n",
            Position::at(&policyfile, 3, Some(3)),
        ),
        ("run_list 'app'\n", Position::file(&policyfile)),
    ];
    for (source, expected) in cases {
        std::fs::write(&policyfile, source).unwrap();
        let err = chef_sync::policy::install(&policyfile, &opts)
            .await
            .unwrap_err();
        assert_eq!(err.position(), Some(expected), "{err}");
    }
}

/// Runs git in `dir` with a fixed identity; returns its trimmed output.
#[tokio::test]
async fn git_included_policies_lock_as_chef_cli_git_lock_fetcher_writes_them() {
    // A policy repository: its lock (written by install, a path cookbook) committed on main,
    // branch `stable` and annotated tag `v1` at that commit, then main moves on.
    let repo = tempfile::tempdir().unwrap();
    let work = repo.path();
    write(
        work,
        "cookbooks/basecb/metadata.rb",
        "name 'basecb'\nversion '1.2.0'\n",
    );
    write(work, "cookbooks/basecb/recipes/default.rb", "log 'base'\n");
    write(
        work,
        "Policyfile.rb",
        "name 'base'\nrun_list 'basecb'\ncookbook 'basecb', path: 'cookbooks/basecb'\ndefault['from']['base'] = true\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &[], Vec::new());
    let base = chef_sync::policy::install(&work.join("Policyfile.rb"), &opts)
        .await
        .unwrap()
        .lock;
    let base_cb = base.document()["cookbook_locks"]["basecb"].clone();
    assert_eq!(
        base_cb["source_options"],
        json!({"path": "cookbooks/basecb"})
    );
    git(work, &["init", "-q"]);
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", "base"]);
    let commit = git(work, &["rev-parse", "HEAD"]);
    git(work, &["branch", "stable"]);
    git(work, &["tag", "-a", "-m", "v1", "v1"]);
    let tag_object = git(work, &["rev-parse", "v1"]);
    assert_ne!(
        tag_object, commit,
        "an annotated tag is an object of its own"
    );
    write(
        work,
        "cookbooks/basecb/recipes/default.rb",
        "log 'moved on'\n",
    );
    git(work, &["commit", "-q", "-am", "later"]);
    let url = format!("file://{}", work.display());

    let consumer = tempfile::tempdir().unwrap();
    let c = consumer.path();
    let install_with = |include: String| {
        let policyfile = c.join("Policyfile.rb");
        std::fs::write(&policyfile, format!("name 'app'\n{include}\n")).unwrap();
        let _ = std::fs::remove_file(c.join("Policyfile.lock.json"));
        let opts = &opts;
        async move { chef_sync::policy::install(&policyfile, opts).await }
    };
    let cookbook_lock = |revision: &str, extra: Value| {
        let mut so = json!({"git": url, "revision": revision});
        for (k, v) in extra.as_object().unwrap() {
            so[k] = v.clone();
        }
        json!({"version": "1.2.0", "identifier": base_cb["identifier"],
            "dotted_decimal_identifier": base_cb["dotted_decimal_identifier"],
            "cache_key": format!("basecb-{revision}"), "origin": url, "source_options": so})
    };

    // branch: the options as written plus `revision`; the path cookbook becomes the
    // repository's at that revision with `rel` (a null `tag` left by chef-cli's branch
    // check is dropped by omnifetch's lock_data).
    let installed = install_with(format!(
        "include_policy 'base', git: '{url}', branch: 'stable'"
    ))
    .await
    .unwrap();
    let doc = installed.lock.document();
    assert_eq!(
        serde_json::to_string(&doc["included_policy_locks"]).unwrap(),
        serde_json::to_string(&json!([{"name": "base",
            "revision_id": base.effective_revision_id(),
            "source_options": {"git": url, "branch": "stable", "revision": commit}}]))
        .unwrap()
    );
    assert_eq!(
        serde_json::to_string(&doc["cookbook_locks"]["basecb"]).unwrap(),
        serde_json::to_string(&cookbook_lock(
            &commit,
            json!({"branch": "stable", "rel": "cookbooks/basecb"})
        ))
        .unwrap()
    );
    assert_eq!(doc["run_list"], json!(["recipe[basecb::default]"]));
    assert_eq!(doc["default_attributes"], json!({"from": {"base": true}}));

    // A second install from that lock, with a cold cache, fetches the cookbook from git.
    let cold = tempfile::tempdir().unwrap();
    let cold_opts = options(cold.path(), &[], Vec::new());
    let again = chef_sync::policy::install(&c.join("Policyfile.rb"), &cold_opts)
        .await
        .unwrap();
    assert!(!again.written);
    assert_eq!(again.lock.document(), doc);

    // tag: the revision is what `git rev-parse v1` prints (the tag object); a tag alone is
    // not copied into the cookbook's options (chef-cli copies it only beside a branch).
    // path: names the lock file; `ref:` a full SHA is written as omnifetch's 7-char shortref.
    let installed = install_with(format!(
        "include_policy 'base', git: '{url}', tag: 'v1', path: 'Policyfile.lock.json'"
    ))
    .await
    .unwrap();
    let doc = installed.lock.document();
    assert_eq!(
        serde_json::to_string(&doc["included_policy_locks"][0]["source_options"]).unwrap(),
        serde_json::to_string(&json!({"git": url, "tag": "v1",
            "path": "Policyfile.lock.json", "revision": tag_object}))
        .unwrap()
    );
    assert_eq!(
        serde_json::to_string(&doc["cookbook_locks"]["basecb"]).unwrap(),
        serde_json::to_string(&cookbook_lock(
            &tag_object,
            json!({"rel": "cookbooks/basecb"})
        ))
        .unwrap()
    );
    let installed = install_with(format!(
        "include_policy 'base', git: '{url}', ref: '{commit}'"
    ))
    .await
    .unwrap();
    assert_eq!(
        installed.lock.document()["cookbook_locks"]["basecb"]["source_options"],
        json!({"git": url, "revision": commit, "ref": &commit[..7], "rel": "cookbooks/basecb"})
    );

    // The same cookbook named directly with `rel:` is read from its checkout (which is that
    // subdirectory) and locked in omnifetch's key order, `ref` as its shortref.
    let installed = install_with(format!(
        "run_list 'basecb'\ncookbook 'basecb', git: '{url}', rel: 'cookbooks/basecb', branch: 'stable', ref: '{commit}'"
    ))
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_string(&installed.lock.document()["cookbook_locks"]["basecb"]).unwrap(),
        serde_json::to_string(&cookbook_lock(
            &commit,
            json!({"ref": &commit[..7], "branch": "stable", "rel": "cookbooks/basecb"})
        ))
        .unwrap()
    );

    // Without branch:/tag:/ref: chef-cli reads `master`, which this repository lacks; a
    // missing lock file names the path; both errors point at the include_policy line.
    for (include, expected) in [
        (format!("include_policy 'base', git: '{url}'"), "'master'"),
        (
            format!("include_policy 'base', git: '{url}', branch: 'stable', path: 'nope.json'"),
            "nope.json",
        ),
    ] {
        let err = install_with(include).await.unwrap_err();
        assert_eq!(
            err.position(),
            Some(Position::at(c.join("Policyfile.rb"), 2, None)),
            "{err}"
        );
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[tokio::test]
async fn per_cookbook_chef_server_and_artifactory_locations_lock_from_the_default_source() {
    // chef-cli's compiler solves a cookbook whose location is not version-fixed
    // (chef_server:, artifactory:, artifactserver:) against the default sources and locks it
    // from the one it prefers: the per-cookbook URL is never asked for anything.
    let server = MockServer::start().await;
    supermarket(
        &server,
        &[
            ("nginx", "1.0.0", &[]),
            ("nginx", "2.0.0", &[]),
            ("users", "1.0.0", &[]),
        ],
    )
    .await;
    let elsewhere = MockServer::start().await;
    forbid_requests(&elsewhere, "a per-cookbook chef_server:/artifactory: URL").await;
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(
        r,
        "Policyfile.rb",
        &format!(
            "name 'web'\ndefault_source :supermarket, '{sm}'\nrun_list 'nginx', 'users'\n\
             cookbook 'nginx', '~> 1.0', chef_server: '{o}/organizations/x'\n\
             cookbook 'users', artifactory: '{o}/api/chef/repo'\n",
            sm = server.uri(),
            o = elsewhere.uri()
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let installed = chef_sync::policy::install(
        &r.join("Policyfile.rb"),
        &options(cache.path(), &[], Vec::new()),
    )
    .await
    .unwrap();
    assert_eq!(
        versions(&installed.lock),
        pairs(&[("nginx", "1.0.0"), ("users", "1.0.0")])
    );
    let doc = installed.lock.document();
    for (name, version) in [("nginx", "1.0.0"), ("users", "1.0.0")] {
        let download = format!(
            "{}/api/v1/cookbooks/{name}/versions/{version}/download",
            server.uri()
        );
        assert_eq!(
            doc["cookbook_locks"][name]["source_options"],
            json!({"artifactserver": download, "version": version}),
            "{name}"
        );
    }
    // The default source's spec replaces the Policyfile's (all_cookbook_location_specs), so
    // the Policyfile demand is the solved version, and `~> 1.0` kept 2.0.0 out.
    assert_eq!(
        doc["solution_dependencies"]["Policyfile"],
        json!([["nginx", "= 1.0.0"], ["users", "= 1.0.0"]])
    );
}

#[tokio::test]
async fn a_per_cookbook_chef_server_artifact_is_fixed_and_locked_as_omnifetch_writes_it() {
    let server = MockServer::start().await;
    let org_url = format!("{}/organizations/o", server.uri());
    let scratch = tempfile::tempdir().unwrap();
    let files = [
        ("metadata.rb", "name 'ntp'\nversion '3.1.0'\n"),
        ("recipes/default.rb", "log 'ntp'\n"),
    ];
    let ntp = identity_of(&scratch.path().join("ntp"), &files);
    mount_server_cookbook(
        &server,
        "/organizations/o",
        "ntp",
        &format!("cookbook_artifacts/ntp/{}", ntp.identifier),
        &files,
    )
    .await;
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(
        r,
        "Policyfile.rb",
        &format!(
            "name 'app'\nrun_list 'ntp'\ncookbook 'ntp', chef_server_artifact: '{org_url}', identifier: '{}'\n",
            ntp.identifier
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &[], chef_servers(&org_url));
    let installed = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap();
    let doc = installed.lock.document();
    assert_eq!(
        serde_json::to_string(&doc["cookbook_locks"]["ntp"]).unwrap(),
        serde_json::to_string(&json!({"version": "3.1.0", "identifier": ntp.identifier,
            "dotted_decimal_identifier": ntp.dotted_decimal_identifier,
            "cache_key": format!("ntp-{}", ntp.identifier), "origin": org_url,
            "source_options": {"chef_server_artifact": org_url, "identifier": ntp.identifier}}))
        .unwrap()
    );
    assert_eq!(
        doc["solution_dependencies"]["Policyfile"],
        json!([["ntp", ">= 0.0.0"]]),
        "a version-fixed spec keeps the constraint as written (none: >= 0.0.0)"
    );

    // An identifier the server does not have: an error at the cookbook line.
    write(
        r,
        "Policyfile.rb",
        &format!(
            "name 'app'\nrun_list 'ntp'\n\ncookbook 'ntp', chef_server_artifact: '{org_url}', identifier: 'ffff'\n"
        ),
    );
    std::fs::remove_file(r.join("Policyfile.lock.json")).unwrap();
    let err = chef_sync::policy::install(&r.join("Policyfile.rb"), &opts)
        .await
        .unwrap_err();
    assert_eq!(
        err.position(),
        Some(Position::at(r.join("Policyfile.rb"), 4, None)),
        "{err}"
    );
}

/// Two fake Supermarkets offering nginx: `older` 1.0.0 (and users), `newer` 2.0.0 (and ohai).
async fn two_supermarkets() -> (MockServer, MockServer) {
    let older = MockServer::start().await;
    supermarket(&older, &[("nginx", "1.0.0", &[]), ("users", "1.0.0", &[])]).await;
    let newer = MockServer::start().await;
    supermarket(&newer, &[("nginx", "2.0.0", &[]), ("ohai", "1.0.0", &[])]).await;
    (older, newer)
}

#[tokio::test]
async fn the_preferred_source_alone_provides_a_cookbook_several_sources_offer() {
    // Berkshelf would take nginx 2.0.0 from the first source; chef-cli takes it from the
    // source preferred for it only, even at a lower version and declared second.
    let (older, newer) = two_supermarkets().await;
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(
        r,
        "Policyfile.rb",
        &format!(
            "name \"web\"\ndefault_source :supermarket, \"{new}\"\n\
             default_source :supermarket, \"{old}\" do |s|\n  s.preferred_for \"nginx\"\nend\n\
             run_list \"nginx\"\n",
            new = newer.uri(),
            old = older.uri()
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let installed = chef_sync::policy::install(
        &r.join("Policyfile.rb"),
        &options(cache.path(), &[], Vec::new()),
    )
    .await
    .unwrap();
    assert!(installed.written);
    let scratch = tempfile::tempdir().unwrap();
    let n = tarball_identity(scratch.path(), "nginx", "1.0.0");
    let download = format!(
        "{}/api/v1/cookbooks/nginx/versions/1.0.0/download",
        older.uri()
    );
    let (expected, rev) = with_revision(json!({
        "revision_id": null,
        "name": "web",
        "run_list": ["recipe[nginx::default]"],
        "included_policy_locks": [],
        "cookbook_locks": {
            "nginx": {"version": "1.0.0", "identifier": n.identifier,
                "dotted_decimal_identifier": n.dotted_decimal_identifier,
                "cache_key": "nginx-1.0.0-127.0.0.1", "origin": download,
                "source_options": {"artifactserver": download, "version": "1.0.0"}}
        },
        "default_attributes": {},
        "override_attributes": {},
        "solution_dependencies": {
            "Policyfile": [["nginx", "= 1.0.0"]],
            "dependencies": {"nginx (1.0.0)": []}
        }
    }));
    let text = std::fs::read_to_string(r.join("Policyfile.lock.json")).unwrap();
    let expected_text = format!(
        r#"{{
  "revision_id": "{rev}",
  "name": "web",
  "run_list": [
    "recipe[nginx::default]"
  ],
  "included_policy_locks": [

  ],
  "cookbook_locks": {{
    "nginx": {{
      "version": "1.0.0",
      "identifier": "{nid}",
      "dotted_decimal_identifier": "{ndot}",
      "cache_key": "nginx-1.0.0-127.0.0.1",
      "origin": "{download}",
      "source_options": {{
        "artifactserver": "{download}",
        "version": "1.0.0"
      }}
    }}
  }},
  "default_attributes": {{

  }},
  "override_attributes": {{

  }},
  "solution_dependencies": {{
    "Policyfile": [
      [
        "nginx",
        "= 1.0.0"
      ]
    ],
    "dependencies": {{
      "nginx (1.0.0)": [

      ]
    }}
  }}
}}
"#,
        nid = n.identifier,
        ndot = n.dotted_decimal_identifier,
    );
    assert_eq!(text, expected_text);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        expected,
        "same document"
    );
}

#[tokio::test]
async fn a_cookbook_several_sources_offer_without_preference_is_chef_clis_conflict() {
    let (older, newer) = two_supermarkets().await;
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    let policyfile = r.join("Policyfile.rb");
    // users and ohai are each in one source; nginx is in both, and wanted.
    write(
        r,
        "Policyfile.rb",
        &format!(
            "name 'web'\ndefault_source :supermarket, '{old}'\n\n\
             default_source :supermarket, '{new}'\nrun_list 'nginx', 'users', 'ohai'\n",
            new = newer.uri(),
            old = older.uri()
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &[], Vec::new());
    let err = chef_sync::policy::install(&policyfile, &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, InstallError::SourceConflict { .. }),
        "{err:?}"
    );
    // The file and the line of the second source offering it.
    assert_eq!(err.position(), Some(Position::at(&policyfile, 4, None)));
    let expected = format!(
        "Source supermarket({old}) and supermarket({new}) contain conflicting cookbooks:\n\
         - nginx\n\n\
         You can set a preferred source to resolve this issue with code like:\n\n\
         default_source :supermarket, \"{old}\" do |s|\n  s.preferred_for \"nginx\"\nend\n",
        old = older.uri(),
        new = newer.uri()
    );
    assert_eq!(
        err.to_string(),
        format!("{}: {expected}", Position::at(&policyfile, 4, None))
    );
    assert!(!r.join("Policyfile.lock.json").exists());

    // A cookbook nothing wants is not a conflict: nginx fixed by path, the rest installs.
    write(
        r,
        "cookbooks/nginx/metadata.rb",
        "name 'nginx'\nversion '3.0.0'\n",
    );
    write(r, "cookbooks/nginx/recipes/default.rb", "log 'local'\n");
    let mut text = std::fs::read_to_string(&policyfile).unwrap();
    text.push_str("cookbook 'nginx', path: 'cookbooks/nginx'\n");
    std::fs::write(&policyfile, text).unwrap();
    let installed = chef_sync::policy::install(&policyfile, &opts)
        .await
        .unwrap();
    assert_eq!(
        versions(&installed.lock),
        pairs(&[("nginx", "3.0.0"), ("ohai", "1.0.0"), ("users", "1.0.0")])
    );
}

#[tokio::test]
async fn a_preference_for_a_cookbook_the_source_lacks_is_an_error_naming_both() {
    let (older, newer) = two_supermarkets().await;
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    let policyfile = r.join("Policyfile.rb");
    // users is only in `older`; `newer` is preferred for it.
    write(
        r,
        "Policyfile.rb",
        &format!(
            "name 'web'\ndefault_source :supermarket, '{old}'\n\
             default_source :supermarket, '{new}' do |s|\n  s.preferred_for 'users', 'nginx'\nend\n\
             run_list 'users'\n",
            new = newer.uri(),
            old = older.uri()
        ),
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &[], Vec::new());
    let err = chef_sync::policy::install(&policyfile, &opts)
        .await
        .unwrap_err();
    assert_eq!(err.position(), Some(Position::at(&policyfile, 3, None)));
    assert!(
        err.to_string().contains(&format!(
            "cookbook 'users': the default source preferred for it, supermarket({new}), does not offer it (offered by supermarket({old}))",
            new = newer.uri(),
            old = older.uri()
        )),
        "{err}"
    );
    assert!(!r.join("Policyfile.lock.json").exists());
}

/// A lock `name` with one cached cookbook `cookbook` 1.0.0 of `identifier`, locked with
/// `source` as its `source_options`.
fn single_cookbook_lock(name: &str, cookbook: &str, identifier: &str, source: Value) -> Value {
    let origin = source.as_object().and_then(|o| o.values().next()).cloned();
    with_revision(json!({
        "revision_id": null, "name": name, "run_list": [format!("recipe[{cookbook}::default]")],
        "included_policy_locks": [],
        "cookbook_locks": {cookbook: {"version": "1.0.0", "identifier": identifier,
            "dotted_decimal_identifier": identifier::dotted_decimal(identifier).unwrap(),
            "cache_key": format!("{cookbook}-1.0.0"), "origin": origin,
            "source_options": source}},
        "default_attributes": {}, "override_attributes": {},
        "solution_dependencies": {"Policyfile": [[cookbook, "= 1.0.0"]],
            "dependencies": {format!("{cookbook} (1.0.0)"): []}}
    }))
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_included_locks_chef_server_cookbook_is_fetched_signed_as_install_signs() {
    // chef install has one set of credentials: an included lock's chef_server cookbook is
    // fetched with the client install signs the main lock's with (goiardi checks signatures).
    let g = Goiardi::start().expect("goiardi");
    let admin = g.admin_client().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("corp");
    write(&src, "metadata.rb", "name 'corp'\nversion '1.0.0'\n");
    write(&src, "recipes/default.rb", "log 'corp'\n");
    Uploader::new(admin.clone(), UploadOptions::default())
        .upload(&[std::sync::Arc::new(LoadedCookbook::load(&src).unwrap())])
        .await
        .unwrap();
    // chef-cli hashes what the server serves (the upload added metadata.json).
    let manifest: Value = admin.get("cookbooks/corp/1.0.0").await.unwrap();
    let served = ManifestFiles::from_json(&manifest).unwrap();
    let corp = identifier::content_identifier(&identifier::fingerprint_text(
        served.files.iter().map(|(p, c)| (p.as_str(), c.as_str())),
    ));
    let base = single_cookbook_lock(
        "base",
        "corp",
        &corp,
        json!({"chef_server": g.url(), "version": "1.0.0"}),
    );

    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(r, "base/base.lock.json", &to_lock_string(&base));
    let policyfile = write(
        r,
        "Policyfile.rb",
        "name 'app'\ninclude_policy 'base', path: 'base'\n",
    );
    let signed_as_admin =
        vec![ServerSpec::new("g", g.url(), "admin", KeySource::Path(g.admin_key_path())).unwrap()];

    // Without a configured server, the include_policy line is at fault, naming the cookbook.
    let cache = tempfile::tempdir().unwrap();
    let err = chef_sync::policy::install(&policyfile, &options(cache.path(), &[], Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(
        err.position(),
        Some(Position::at(&policyfile, 2, None)),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("include_policy 'base'")
            && message.contains("cookbook 'corp' 1.0.0")
            && message.contains("no Chef server is configured"),
        "{message}"
    );

    // Signed as a client goiardi does not know (the key configured for the server, used), the
    // download is refused.
    let err = chef_sync::policy::install(
        &policyfile,
        &options(cache.path(), &[], chef_servers(&g.url())),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("cookbook 'corp'")
            && message.contains("401")
            && message.contains("spec-user"),
        "{message}"
    );
    assert!(!r.join("Policyfile.lock.json").exists());

    // Signed as install's configured admin, it is fetched, verified and locked as included.
    let installed =
        chef_sync::policy::install(&policyfile, &options(cache.path(), &[], signed_as_admin))
            .await
            .unwrap();
    assert!(installed.written);
    let doc = installed.lock.document();
    assert_eq!(
        doc["cookbook_locks"]["corp"],
        base["cookbook_locks"]["corp"]
    );
    assert_eq!(doc["run_list"], json!(["recipe[corp::default]"]));

    // It is in install's cache now: an offline install from the written lock finds it there.
    let mut offline = options(cache.path(), &[], Vec::new());
    offline.cache.offline = true;
    let again = chef_sync::policy::install(&policyfile, &offline)
        .await
        .unwrap();
    assert!(!again.written);
}

#[tokio::test]
async fn a_remote_included_locks_artifactory_cookbook_is_fetched_with_installs_credential() {
    // The Artifactory credential is chef-cli's from the install's environment
    // (InstallOptions::env), for included locks as for the Policyfile's own sources.
    let server = MockServer::start().await;
    let base_url = server.uri();
    let download = format!(
        "{base_url}{}",
        mount_artifactory_nginx(&server, "1.0.0").await
    );
    let scratch = tempfile::tempdir().unwrap();
    let nginx = tarball_identity(scratch.path(), "nginx", "1.0.0");
    let base = single_cookbook_lock(
        "base",
        "nginx",
        &nginx.identifier,
        json!({"artifactory": download, "version": "1.0.0"}),
    );
    Mock::given(method("GET"))
        .and(path("/locks/base.lock.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&base))
        .mount(&server)
        .await;

    let repo = tempfile::tempdir().unwrap();
    let policyfile = write(
        repo.path(),
        "Policyfile.rb",
        &format!("name 'app'\ninclude_policy 'base', remote: '{base_url}/locks/base.lock.json'\n"),
    );
    let cache = tempfile::tempdir().unwrap();
    let installed = chef_sync::policy::install(
        &policyfile,
        &options(
            cache.path(),
            &[("ARTIFACTORY_API_KEY", "s3cret")],
            Vec::new(),
        ),
    )
    .await
    .unwrap();
    assert!(installed.written);
    assert_eq!(
        installed.lock.document()["cookbook_locks"]["nginx"],
        base["cookbook_locks"]["nginx"]
    );
    server.verify().await;
}
