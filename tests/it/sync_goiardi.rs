//! The multi-server sync end to end: three goiardi servers standing in for regions, a
//! repository in the seed's layout (knife.rb verbatim), `chef_sync::sync`.

use std::path::Path;

use chef_sync::config::{LoadOptions, RepoConfig};
use chef_sync::{CookbookOutcome, PlanMatrix, SyncOptions, SyncReport};
use chef_testkit::fleet::Fleet;

use crate::support::{EXAMPLE_COOKBOOKS as COOKBOOKS, REGIONS, example_fleet, server_report};

async fn fleet_and_repo() -> (Fleet, tempfile::TempDir) {
    example_fleet(&REGIONS).await
}

fn load(repo: &Path) -> RepoConfig {
    RepoConfig::load(repo, &LoadOptions::default()).expect("the seed's layout loads")
}

fn outcomes(report: &SyncReport, server: &str) -> Vec<(String, CookbookOutcome)> {
    server_report(report, server)
        .cookbooks
        .iter()
        .map(|c| (c.name.clone(), c.outcome))
        .collect()
}

fn all(outcome: CookbookOutcome) -> Vec<(String, CookbookOutcome)> {
    COOKBOOKS
        .iter()
        .map(|c| ((*c).to_owned(), outcome))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_lands_every_cookbook_everywhere_and_a_second_run_sends_nothing() {
    let (fleet, repo) = fleet_and_repo().await;
    let config = load(repo.path());
    let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, REGIONS);

    let first = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    assert!(first.ok, "{}", first.render_table());
    for region in REGIONS {
        assert_eq!(
            outcomes(&first, region),
            all(CookbookOutcome::Created),
            "{region}"
        );
    }
    assert!(first.files_sent() > 0);

    // GET every manifest back from every server and compare with the cookbook on disk.
    for region in REGIONS {
        let client = fleet.pivotal_client(region).unwrap();
        for name in COOKBOOKS {
            let local =
                chef_api::cookbook::LoadedCookbook::load(&repo.path().join("cookbooks").join(name))
                    .unwrap();
            let fetched = client
                .cookbook_version(name, local.version())
                .await
                .unwrap();
            assert!(
                local.matches_manifest(&fetched).unwrap(),
                "{region}: {name} differs: {fetched}"
            );
            assert_eq!(
                fetched["frozen?"], true,
                "the repo has a Berksfile: frozen, as berks upload does"
            );
        }
    }

    let second = chef_sync::sync(repo.path(), &SyncOptions::default())
        .await
        .unwrap();
    assert!(second.ok, "{}", second.render_table());
    assert_eq!(second.files_sent(), 0);
    assert_eq!(second.bytes_sent(), 0);
    for region in REGIONS {
        assert_eq!(
            outcomes(&second, region),
            all(CookbookOutcome::Unchanged),
            "{region}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_fails_alone_and_converges_after_restart() {
    let (mut fleet, repo) = fleet_and_repo().await;
    let config = load(repo.path());
    let down_url = fleet.server("eu-west-1").url();
    fleet.server_mut("eu-west-1").stop();

    let report = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    assert!(!report.ok);
    let failed: Vec<&str> = report.failed_servers().map(|s| s.name.as_str()).collect();
    assert_eq!(failed, ["eu-west-1"]);
    let down = report
        .servers
        .iter()
        .find(|s| s.name == "eu-west-1")
        .unwrap();
    let error = down.error.as_ref().expect("the failed server says why");
    assert!(error.message.contains(&down_url), "names the URL: {error}");
    assert_eq!(error.kind, chef_api::error::ErrorKind::Network, "{error:?}");
    assert_eq!(error.server.as_deref(), Some("eu-west-1"));
    for region in ["ap-southeast-2", "us-east-1"] {
        assert_eq!(
            outcomes(&report, region),
            all(CookbookOutcome::Created),
            "{region}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["ok"], false);
    assert!(
        json["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "eu-west-1"
                && s["ok"] == false
                && s["error"]["kind"] == "network"
                && s["error"]["message"].as_str().is_some())
    );

    // goiardi keeps data in memory: it comes back empty, so pivotal is created again.
    fleet.server_mut("eu-west-1").restart().unwrap();
    fleet.create_pivotal("eu-west-1").await.unwrap();
    let rerun = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    assert!(rerun.ok, "{}", rerun.render_table());
    assert_eq!(outcomes(&rerun, "eu-west-1"), all(CookbookOutcome::Created));
    assert_eq!(
        outcomes(&rerun, "us-east-1"),
        all(CookbookOutcome::Unchanged)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_matrix_and_changes_nothing() {
    let (fleet, repo) = fleet_and_repo().await;
    let config = load(repo.path());
    let dry = SyncOptions {
        dry_run: true,
        ..SyncOptions::default()
    };
    let plan = chef_sync::sync(&config, &dry).await.unwrap();
    assert!(plan.ok && plan.dry_run);
    assert_eq!(plan.files_sent(), 0);
    for region in REGIONS {
        assert_eq!(outcomes(&plan, region), all(CookbookOutcome::Create));
        let listed = fleet
            .pivotal_client(region)
            .unwrap()
            .list_cookbooks()
            .await
            .unwrap();
        assert!(listed.is_empty(), "a dry run uploads nothing: {listed:?}");
    }

    // us-east-1 gets the cookbooks frozen (the default with a Berksfile, as berks upload),
    // eu-west-1 unfrozen (berks upload --no-freeze); then a file changes in the repository.
    let only = |name: &str, freeze: Option<bool>| SyncOptions {
        servers: vec![name.into()],
        freeze,
        ..SyncOptions::default()
    };
    for (name, freeze) in [("us-east-1", None), ("eu-west-1", Some(false))] {
        let partial = chef_sync::sync(&config, &only(name, freeze)).await.unwrap();
        assert_eq!(partial.servers.len(), 1);
        assert!(partial.ok, "{}", partial.render_table());
    }
    std::fs::write(
        repo.path()
            .join("cookbooks/base/templates/default/motd.erb"),
        "Managed by Chef. Changed in the repository.\n",
    )
    .unwrap();

    let plan = chef_sync::sync(&config, &dry).await.unwrap();
    let matrix = PlanMatrix::from_report(&plan);
    assert_eq!(matrix.servers, REGIONS);
    let row = |name: &str| {
        matrix
            .rows
            .iter()
            .find(|((n, _), _)| n == name)
            .unwrap()
            .1
            .clone()
    };
    // A changed file without a version bump: an update where the copy is not frozen, a
    // frozen conflict where it is (berks upload would skip it). The unchanged cookbook is
    // updated only to freeze eu-west-1's copy.
    assert_eq!(row("base"), ["create", "update", "frozen_conflict"]);
    assert_eq!(row("app_web"), ["create", "update", "unchanged"]);
    assert!(!plan.ok, "a frozen conflict is not converged");
    let text = matrix.render(&plan);
    assert!(text.lines().any(|l| l.starts_with("base 1.4.2")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_berksfile_versions_stay_unfrozen_as_with_knife_until_freeze_is_asked() {
    let (fleet, repo) = fleet_and_repo().await;
    std::fs::remove_file(repo.path().join("Berksfile")).unwrap();
    let first = chef_sync::sync(repo.path(), &SyncOptions::default())
        .await
        .unwrap();
    assert!(first.ok, "{}", first.render_table());
    let client = fleet.pivotal_client(REGIONS[0]).unwrap();
    let frozen = |m: &serde_json::Value| m["frozen?"] == true;
    let name = COOKBOOKS[0];
    let version =
        chef_api::cookbook::LoadedCookbook::load(&repo.path().join("cookbooks").join(name))
            .unwrap()
            .version()
            .to_owned();
    assert!(!frozen(
        &client.cookbook_version(name, &version).await.unwrap()
    ));

    let freeze = SyncOptions {
        freeze: Some(true),
        ..SyncOptions::default()
    };
    let second = chef_sync::sync(repo.path(), &freeze).await.unwrap();
    assert!(second.ok, "{}", second.render_table());
    assert_eq!(second.files_sent(), 0, "the servers have every file");
    for region in REGIONS {
        assert_eq!(
            outcomes(&second, region),
            all(CookbookOutcome::Updated),
            "{region}"
        );
    }
    assert!(frozen(
        &client.cookbook_version(name, &version).await.unwrap()
    ));
}
