//! A repository with a Berksfile synced through `chef_sync::sync`: the seed layout
//! (`.chef/knife.rb` verbatim, signing as `pivotal`), a path cookbook plus Supermarket
//! cookbooks from a fake Supermarket (wiremock on loopback), two goiardi servers. The whole
//! lock graph lands on both; a re-run downloads nothing and sends no file.

use std::collections::BTreeMap;
use std::path::Path;

use chef_sync::berkshelf::PrepareOptions;
use chef_sync::{CookbookOutcome, SyncOptions, SyncReport};
use chef_testkit::fleet::{Fleet, cookbook_tarball};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

/// name, version, dependencies
type Cb = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const CATALOG: &[Cb] = &[
    ("apt", "7.0.0", &[]),
    ("apt", "7.1.1", &[]),
    (
        "nginx",
        "2.0.0",
        &[("apt", ">= 7.0"), ("seven_zip", ">= 0.0.0")],
    ),
    ("seven_zip", "3.2.0", &[]),
];

async fn supermarket() -> MockServer {
    let server = MockServer::start().await;
    let base = server.uri();
    let mut universe: BTreeMap<&str, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for (name, version, deps) in CATALOG {
        let dl = format!("/api/v1/cookbooks/{name}/versions/{version}/download");
        universe.entry(name).or_default().insert(
            (*version).to_owned(),
            serde_json::json!({
                "location_type": "opscode",
                "location_path": format!("{base}/api/v1"),
                "download_url": format!("{base}{dl}"),
                "dependencies": deps.iter().copied().collect::<BTreeMap<_, _>>(),
            }),
        );
        Mock::given(method("GET"))
            .and(path(dl))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(cookbook_tarball(
                name,
                version,
                deps,
                &[(
                    &format!("templates/default/{name}.conf.erb"),
                    b"# <%= @x %>\n",
                )],
            )))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/universe"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&universe))
        .mount(&server)
        .await;
    server
}

fn outcomes(report: &SyncReport, server: &str) -> Vec<(String, String, CookbookOutcome)> {
    let mut out: Vec<_> = report
        .servers
        .iter()
        .find(|s| s.name == server)
        .unwrap_or_else(|| panic!("{server} in the report"))
        .cookbooks
        .iter()
        .map(|c| (c.name.clone(), c.version.clone(), c.outcome))
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn expected(outcome: CookbookOutcome) -> Vec<(String, String, CookbookOutcome)> {
    [
        ("app", "1.0.0"),
        ("apt", "7.1.1"),
        ("nginx", "2.0.0"),
        ("seven_zip", "3.2.0"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned(), outcome))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_repo_with_berksfile_syncs_the_lock_graph_then_sends_nothing() {
    let sm = supermarket().await;
    let fleet = Fleet::start(&REGIONS).expect("goiardi servers");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    fleet
        .provision_repo(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/repos/seed"),
            &repo,
        )
        .await
        .expect("pivotal users and the seed layout");
    std::fs::write(
        repo.join("cookbooks/app/metadata.rb"),
        "name 'app'\nversion '1.0.0'\ndepends 'apt', '~> 7.0'\n",
    )
    .unwrap();
    std::fs::create_dir_all(repo.join("cookbooks/app/recipes")).unwrap();
    std::fs::write(
        repo.join("cookbooks/app/recipes/default.rb"),
        "include_recipe 'apt'\n",
    )
    .unwrap();
    // The article's Berksfile shape, pasted with a no-break space.
    std::fs::write(
        repo.join("Berksfile"),
        format!(
            "# Local Cookbooks\ncookbook 'app', path: 'cookbooks/app'\n\nsource '{}'\n\u{a0}\n# Supermarket Cookbooks\ncookbook 'nginx'\n",
            sm.uri()
        ),
    )
    .unwrap();
    let options = SyncOptions {
        berkshelf: PrepareOptions {
            cache_dir: Some(tmp.path().join("cache")),
            ..Default::default()
        },
        ..Default::default()
    };

    let first = chef_sync::sync(&repo, &options).await.unwrap();
    assert!(first.ok, "{}", first.render_table());
    for region in REGIONS {
        assert_eq!(
            outcomes(&first, region),
            expected(CookbookOutcome::Created),
            "{region}"
        );
    }
    assert!(first.files_sent() > 0);
    assert!(
        first.warnings.iter().any(|w| w.contains("Berksfile:5")),
        "the Berksfile's no-break space is reported: {:?}",
        first.warnings
    );
    assert!(repo.join("Berksfile.lock").is_file());

    // What landed is byte for byte what is in the cache / the repository.
    let cache = tmp.path().join("cache/cookbooks");
    for region in REGIONS {
        let client = fleet.pivotal_client(region).unwrap();
        for (name, version, dir) in [
            ("app", "1.0.0", repo.join("cookbooks/app")),
            ("apt", "7.1.1", cache.join("apt-7.1.1")),
            ("nginx", "2.0.0", cache.join("nginx-2.0.0")),
            ("seven_zip", "3.2.0", cache.join("seven_zip-3.2.0")),
        ] {
            let local = chef_api::cookbook::LoadedCookbook::load(&dir).unwrap();
            let fetched = client.cookbook_version(name, version).await.unwrap();
            assert!(
                local.matches_manifest(&fetched).unwrap(),
                "{region}: {name} differs: {fetched}"
            );
            assert_eq!(fetched["frozen?"], true, "berks upload freezes by default");
        }
    }

    // Re-run: the lock is trusted and everything is cached: no request to the Supermarket,
    // no file to any server.
    sm.reset().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no Supermarket request on the second run")
        .mount(&sm)
        .await;
    let lock_before = std::fs::read_to_string(repo.join("Berksfile.lock")).unwrap();
    let second = chef_sync::sync(&repo, &options).await.unwrap();
    assert!(second.ok, "{}", second.render_table());
    assert_eq!(second.files_sent(), 0);
    for region in REGIONS {
        assert_eq!(
            outcomes(&second, region),
            expected(CookbookOutcome::Unchanged),
            "{region}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(repo.join("Berksfile.lock")).unwrap(),
        lock_before
    );
    sm.verify().await;
}
