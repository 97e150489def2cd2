//! Cookbook upload and download against a real Chef server (goiardi, auth on, loopback).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chef_api::client::ChefClient;
use chef_api::cookbook::{LoadedCookbook, Segment};
use chef_api::download::download_cookbook;
use chef_api::upload::{Outcome, UploadEvent, UploadOptions, Uploader};
use chef_testkit::goiardi::Goiardi;
use serde_json::Value;

use crate::support::write;

/// 9 MB: below goiardi's default 10 MB object limit.
const BIG: usize = 9 * 1024 * 1024;

fn admin(g: &Goiardi) -> ChefClient {
    g.admin_client().unwrap()
}

/// A cookbook with a file in every segment, host- and platform-specific files, root_default
/// files, nested libraries, binary, empty and non-ASCII files and a 9 MB file.
fn base_cookbook(root: &Path) {
    write(
        root,
        "metadata.json",
        br#"{"name":"base","version":"1.0.0","description":"every kind of file","dependencies":{}}"#,
    );
    write(root, "README.md", "# base\n".as_bytes());
    write(root, "attributes/default.rb", b"default['base']['x'] = 1\n");
    write(root, "definitions/thing.rb", b"define :thing do\nend\n");
    write(root, "files/default/a.txt", b"plain file\n");
    write(root, "files/ubuntu-22.04/y", b"for jammy\n");
    write(root, "files/root.txt", b"root default file\n");
    write(root, "files/default/empty", b"");
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    write(root, "files/default/blob.bin", &binary);
    write(
        root,
        "files/default/ünïcödé ñame.txt",
        "non-ASCII ✓\n".as_bytes(),
    );
    let big: Vec<u8> = (0..BIG)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8)
        .collect();
    write(root, "files/default/big.bin", &big);
    write(root, "libraries/helpers.rb", b"module Helpers; end\n");
    write(root, "libraries/nested/deep/util.rb", b"module Deep; end\n");
    write(root, "providers/p.rb", b"action :run do\nend\n");
    write(
        root,
        "recipes/default.rb",
        b"include_recipe 'base::other'\n",
    );
    write(root, "recipes/other.rb", b"log 'other'\n");
    write(root, "resources/r.rb", b"property :name, String\n");
    write(root, "templates/default/t.erb", b"<%= @x %>\n");
    write(root, "templates/host-web1/x.erb", b"web1 only\n");
    write(root, "templates/root.erb", b"root default template\n");
}

/// A metadata.rb-only cookbook that depends on `base`.
fn app_cookbook(root: &Path) {
    write(
        root,
        "metadata.rb",
        b"name 'app'\nversion '0.3.0'\nmaintainer 'ops'\ndepends 'base', '~> 1.0'\n",
    );
    write(root, "recipes/default.rb", b"include_recipe 'base'\n");
}

fn load(dir: &Path) -> Arc<LoadedCookbook> {
    Arc::new(LoadedCookbook::load(dir).unwrap())
}

fn bytes_of(file: &chef_api::cookbook::CookbookFile) -> Vec<u8> {
    let mut out = Vec::new();
    file.open().unwrap().read_to_end(&mut out).unwrap();
    out
}

/// The (segment, name, path, specificity, checksum) records of a v0 manifest.
fn server_records(manifest: &Value) -> BTreeSet<[String; 5]> {
    let mut out = BTreeSet::new();
    for segment in Segment::V0 {
        let Some(list) = manifest.get(segment.as_str()).and_then(Value::as_array) else {
            continue;
        };
        for r in list {
            let s = |k: &str| {
                r[k].as_str()
                    .unwrap_or_else(|| panic!("{k} in {r}"))
                    .to_owned()
            };
            out.insert([
                segment.as_str().to_owned(),
                s("name"),
                s("path"),
                s("specificity"),
                s("checksum"),
            ]);
        }
    }
    out
}

fn local_records(c: &LoadedCookbook) -> BTreeSet<[String; 5]> {
    c.files()
        .iter()
        .map(|f| {
            [
                f.segment().as_str().to_owned(),
                f.v0_name().to_owned(),
                f.path().to_owned(),
                f.specificity().to_owned(),
                f.checksum(),
            ]
        })
        .collect()
}

fn recorder() -> (Arc<Mutex<Vec<UploadEvent>>>, UploadOptions) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let options = UploadOptions {
        events: Some(Arc::new(move |e| sink.lock().unwrap().push(e))),
        ..UploadOptions::default()
    };
    (events, options)
}

#[tokio::test]
async fn uploads_every_kind_of_file_reads_it_back_and_skips_unchanged() {
    let g = Goiardi::start().expect("goiardi");
    let client = admin(&g);
    let repo = tempfile::tempdir().unwrap();
    base_cookbook(&repo.path().join("base"));
    app_cookbook(&repo.path().join("app"));
    // The dependent comes first in the input: the manifests must still go base → app.
    let cookbooks = [
        load(&repo.path().join("app")),
        load(&repo.path().join("base")),
    ];
    let (events, options) = recorder();
    let uploader = Uploader::new(client.clone(), options);

    let results = uploader.upload(&cookbooks).await.unwrap();
    let outcomes: Vec<_> = results
        .iter()
        .map(|r| (r.name.as_str(), r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [("app", Outcome::Created), ("base", Outcome::Created)],
        "{results:?}"
    );
    for (r, c) in results.iter().zip(&cookbooks) {
        assert!(r.error.is_none(), "{r:?}");
        assert_eq!(r.files_sent, c.files().len() as u64, "{}", r.name);
        assert_eq!(r.bytes_sent, c.total_size(), "{}", r.name);
    }
    let finished: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            UploadEvent::CookbookFinished { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(finished, ["base", "app"], "dependency before dependent");
    let sent: u64 = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            UploadEvent::BytesSent { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(sent, cookbooks.iter().map(|c| c.total_size()).sum::<u64>());

    for c in &cookbooks {
        let manifest = client
            .cookbook_version(c.name(), c.version())
            .await
            .unwrap();
        assert_eq!(manifest["cookbook_name"], c.name());
        assert_eq!(manifest["metadata"]["version"], c.version());
        assert_eq!(server_records(&manifest), local_records(c), "{}", c.name());

        let out = tempfile::tempdir().unwrap();
        let got = download_cookbook(&client, c.name(), c.version(), out.path())
            .await
            .unwrap();
        assert_eq!(got.files.len(), c.files().len());
        for f in c.files() {
            let downloaded = std::fs::read(out.path().join(f.path())).unwrap();
            assert_eq!(downloaded, bytes_of(f), "{}", f.path());
        }
    }
    // metadata.rb only: the generated metadata.json is on the server, metadata included.
    let app = client.cookbook_version("app", "0.3.0").await.unwrap();
    assert_eq!(app["metadata"]["dependencies"]["base"], "~> 1.0");
    let roots: BTreeSet<&str> = app["root_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(roots, BTreeSet::from(["metadata.json", "metadata.rb"]));
    let big = out_size(&client, "base", "files/default/big.bin").await;
    assert_eq!(big, BIG as u64);

    // Again: nothing to do, nothing sent.
    let again = Uploader::new(client.clone(), UploadOptions::default())
        .upload(&cookbooks)
        .await
        .unwrap();
    for r in &again {
        assert_eq!(r.outcome, Outcome::Unchanged, "{r:?}");
        assert_eq!((r.files_sent, r.bytes_sent), (0, 0));
    }
}

/// Downloads `base` again and returns the size of one file.
async fn out_size(client: &ChefClient, name: &str, path: &str) -> u64 {
    let out = tempfile::tempdir().unwrap();
    let got = download_cookbook(client, name, "_latest", out.path())
        .await
        .unwrap();
    got.files.iter().find(|f| f.path == path).unwrap().size
}

#[tokio::test]
async fn frozen_versions_conflict_until_forced_and_known_files_are_not_resent() {
    let g = Goiardi::start().expect("goiardi");
    let client = admin(&g);
    let dir = tempfile::tempdir().unwrap();
    let cb = dir.path().join("web");
    write(&cb, "metadata.rb", b"name 'web'\nversion '2.0.0'\n");
    write(&cb, "recipes/default.rb", b"log 'v1'\n");
    write(&cb, "templates/default/site.erb", b"site\n");

    let freeze = UploadOptions {
        freeze: true,
        ..UploadOptions::default()
    };
    let first = Uploader::new(client.clone(), freeze)
        .upload(&[load(&cb)])
        .await
        .unwrap();
    assert_eq!(first[0].outcome, Outcome::Created, "{first:?}");
    let stored = client.cookbook_version("web", "2.0.0").await.unwrap();
    assert_eq!(stored["frozen?"], true);

    write(&cb, "recipes/default.rb", b"log 'v2'\n");
    let changed = load(&cb);
    let plain = Uploader::new(client.clone(), UploadOptions::default());
    let plan = plain.plan(&[Arc::clone(&changed)]).await.unwrap();
    assert_eq!(
        plan.cookbooks[0].action,
        chef_api::upload::Action::FrozenConflict
    );
    let conflict = plain.execute(&plan).await;
    assert_eq!(conflict[0].outcome, Outcome::FrozenConflict);
    assert_eq!(conflict[0].files_sent, 0);
    let still = client.cookbook_version("web", "2.0.0").await.unwrap();
    assert_eq!(server_records(&still), server_records(&stored));

    let force = UploadOptions {
        force: true,
        ..UploadOptions::default()
    };
    let forced = Uploader::new(client.clone(), force)
        .upload(&[Arc::clone(&changed)])
        .await
        .unwrap();
    assert_eq!(forced[0].outcome, Outcome::Updated, "{forced:?}");
    assert_eq!(forced[0].files_sent, 1, "only the changed recipe is new");
    let updated = client.cookbook_version("web", "2.0.0").await.unwrap();
    assert_eq!(server_records(&updated), local_records(&changed));
    assert_eq!(updated["frozen?"], true, "frozen? is sticky");

    // A new version with the same files: created, but the server already has every file.
    write(&cb, "metadata.rb", b"name 'web'\nversion '2.0.1'\n");
    std::fs::remove_file(cb.join("metadata.rb")).unwrap();
    write(&cb, "metadata.json", br#"{"name":"web","version":"2.0.1"}"#);
    let next = load(&cb);
    let results = plain.upload(&[Arc::clone(&next)]).await.unwrap();
    assert_eq!(results[0].outcome, Outcome::Created, "{results:?}");
    assert_eq!(results[0].files_sent, 1, "only the new metadata.json");

    // Freezing an identical version the server holds unfrozen (knife --freeze, berks upload):
    // its manifest is PUT again, frozen, and no file is sent.
    let unfrozen = client.cookbook_version("web", "2.0.1").await.unwrap();
    assert_ne!(unfrozen["frozen?"], true);
    let freeze = Uploader::new(
        client.clone(),
        UploadOptions {
            freeze: true,
            ..UploadOptions::default()
        },
    );
    let frozen = freeze.upload(&[Arc::clone(&next)]).await.unwrap();
    assert_eq!(frozen[0].outcome, Outcome::Updated, "{frozen:?}");
    assert_eq!(frozen[0].files_sent, 0);
    let now = client.cookbook_version("web", "2.0.1").await.unwrap();
    assert_eq!(now["frozen?"], true);
    assert_eq!(server_records(&now), server_records(&unfrozen));
    let again = freeze.upload(&[next]).await.unwrap();
    assert_eq!(again[0].outcome, Outcome::Unchanged, "frozen and identical");
}
