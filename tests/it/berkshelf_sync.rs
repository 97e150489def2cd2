//! A repository with a Berksfile synced through `chef_sync::sync`: the seed layout
//! (`.chef/knife.rb` verbatim, signing as `pivotal`), a path cookbook plus Supermarket
//! cookbooks from a fake Supermarket (wiremock on loopback), two goiardi servers. The whole
//! lock graph lands on both; a re-run downloads nothing and sends no file.

use chef_sync::berkshelf::PrepareOptions;
use chef_sync::{CookbookOutcome, SyncOptions, SyncReport};
use chef_testkit::fleet::{Fleet, repo_fixture_dir};
use wiremock::MockServer;

use crate::support::{SupermarketCookbook, forbid_requests, mount_catalog, server_report};

const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

const CATALOG: &[SupermarketCookbook] = &[
    ("apt", "7.0.0", &[]),
    ("apt", "7.1.1", &[]),
    (
        "nginx",
        "2.0.0",
        &[("apt", ">= 7.0"), ("seven_zip", ">= 0.0.0")],
    ),
    ("seven_zip", "3.2.0", &[]),
];

/// Mounts the universe and every tarball (each with a template); returns the server.
async fn supermarket() -> MockServer {
    let server = MockServer::start().await;
    mount_catalog(&server, CATALOG, |name| {
        vec![(
            format!("templates/default/{name}.conf.erb"),
            &b"# <%= @x %>\n"[..],
        )]
    })
    .await;
    server
}

fn outcomes(report: &SyncReport, server: &str) -> Vec<(String, String, CookbookOutcome)> {
    let mut out: Vec<_> = server_report(report, server)
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
        .provision_repo(&repo_fixture_dir("seed"), &repo)
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
    forbid_requests(&sm, "no Supermarket request on the second run").await;
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
