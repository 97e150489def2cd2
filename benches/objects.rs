//! Repository objects end to end (issue #11): 500 roles, 100 environments and 40 data bags ×
//! 50 items to 4 goiardi servers, each behind the sync bench's TCP proxy adding 50 ms each way
//! (100 ms RTT).
//!
//! ```sh
//! cargo bench --bench objects
//! OBJECTS_BENCH_SHRINK=10 cargo bench --bench objects      # smoke run: every count ÷ 10
//! OBJECTS_BENCH_ONE_WAY_MS=0 cargo bench --bench objects   # no latency: the CPU part
//! ```
//!
//! Knobs: `OBJECTS_BENCH_SHRINK=N` divides every count of the workload by N (at least one of
//! each; for smoke runs of the bench itself); `OBJECTS_BENCH_ONE_WAY_MS=MS` is the proxies'
//! delay each way (default 50). The RTTs columns always divide by 100 ms, whatever the proxies
//! add, so a run without latency reads as the RTTs its CPU alone costs.
//!
//! The proxies run in a child process (`benches/sync/proxy_child.rs`, as in the sync bench),
//! so this process's CPU is the client's own. For each run the bench prints the wall time,
//! the CPU seconds (user + system, `/proc/<pid>/stat`) of this process and of the four
//! goiardi servers, the signed requests chef-sync sent (counted at the proxies: the
//! `X-Ops-Sign` header lines they forwarded to the servers) and the client CPU per signed
//! request that implies, and the floor the CPU alone sets on the wall time: (client + goiardi
//! CPU) ÷ the cores.
//!
//! Measures chef-sync's full sync, a no-op re-sync, a sync with one changed role and
//! `status`, in seconds and RTTs, and prints beside them chef-fs's schedule (`knife upload`,
//! `knife diff`: ten requests at once, one server after another) as a model counted in round
//! trips:
//!
//! * full: the three listings, then every bag, item, role and environment written, ten at
//!   once: `3 + ⌈40/10⌉ + ⌈2000/10⌉ + ⌈500/10⌉ + ⌈100/10⌉` RTT per server;
//! * no-op, one change and status (`knife diff`): the listings, each bag's item listing, then
//!   every object read (ten at once) to compare: `3 + ⌈40/10⌉ + ⌈2600/10⌉` RTT per server
//!   (+1 for the write);
//!
//! each times four servers. The no-op and one-change rows measure what they say only if the
//! full sync left every server complete: before them the bench counts each server's items by
//! its listings and runs `status`, and stops unless every server holds every object and
//! `status` exits 0; the no-op must then write nothing and the one change exactly one role
//! per server. (goiardi loses concurrent item writes into one bag; chef-sync writes one bag's
//! items one at a time there, see `chef_sync::objects`.) After the runs it reads one server once more with
//! `chef_sync::objects::fetch_counted` and prints how many objects came from search rows and
//! how many needed their own GET.

#[path = "sync/bench_child.rs"]
mod bench_child;
#[path = "sync/cpu.rs"]
mod cpu;
#[path = "sync/delay_proxy.rs"]
mod delay_proxy;
#[path = "sync/proc_stats.rs"]
#[allow(dead_code, reason = "this bench prints no peak RSS")]
mod proc_stats;
#[path = "sync/proxy_child.rs"]
mod proxy_child;

use std::path::Path;
use std::time::{Duration, Instant};

use std::sync::Arc;

use chef_sync::config::{LoadOptions, RepoConfig};
use chef_sync::objects::{ObjectKinds, RepoObjects, fetch_counted};
use chef_sync::report::ObjectOutcome;
use chef_sync::{StatusOptions, SyncOptions, SyncReport};
use chef_testkit::fleet::{Fleet, example_repo_dir, layout_repo};
use cpu::Cpu;
use proxy_child::ProxyChild;

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
const ONE_WAY: Duration = Duration::from_millis(50);
/// The RTT the "RTTs" columns divide by (100 ms, whatever the proxies add).
const RTT: f64 = 0.100;

/// The proxies' delay each way: 50 ms, or `OBJECTS_BENCH_ONE_WAY_MS` (0: the same run without
/// latency, to see how much of the wall time is CPU).
fn one_way() -> Duration {
    std::env::var("OBJECTS_BENCH_ONE_WAY_MS")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(ONE_WAY, Duration::from_millis)
}

/// What is synced: issue #11's workload, every count divided by `OBJECTS_BENCH_SHRINK`
/// (smoke runs of the bench itself; at least one of each).
#[derive(Clone, Copy)]
struct Workload {
    roles: usize,
    environments: usize,
    bags: usize,
    items_per_bag: usize,
}

impl Workload {
    fn from_env() -> Self {
        let shrink: usize = std::env::var("OBJECTS_BENCH_SHRINK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1);
        let n = |full: usize| (full / shrink).max(1);
        Self {
            roles: n(500),
            environments: n(100),
            bags: n(40),
            items_per_bag: n(50),
        }
    }

    fn items(self) -> usize {
        self.bags * self.items_per_bag
    }

    /// How many objects (bags included) a server gets.
    fn objects(self) -> usize {
        self.roles + self.environments + self.bags + self.items()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == proxy_child::CHILD_ARG) {
        proxy_child::run_child(&args[at + 1..]);
        return;
    }
    // `cargo test --all-targets` runs bench binaries without `--bench`: minutes of goiardi
    // traffic have no place in the test suite.
    if !args.iter().any(|a| a == "--bench") {
        println!("benches/objects: skipped (run it with `cargo bench --bench objects`)");
        return;
    }
    println!(
        "load average (1, 5, 15 min) before: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    // The proxies live in a child process: this process's CPU is the client's alone.
    let proxies = ProxyChild::spawn(REGIONS.len(), one_way()).expect("proxy child");
    // The runtime chef-sync builds for itself (bounded worker and blocking threads).
    let runtime = chef_sync::runtime::build().expect("runtime");
    runtime.block_on(run(proxies));
}

/// One measured run.
struct Row {
    label: &'static str,
    wall: f64,
    /// chef-fs's schedule, modelled in RTTs.
    model: f64,
    cpu: Cpu,
    /// Signed requests the proxies forwarded to the servers during the run.
    signed: u64,
    notes: String,
}

/// What a run costs besides its wall time, measured around it.
struct Meter {
    started: Instant,
    cpu: Cpu,
    signed: u64,
}

impl Meter {
    fn start(fleet: &Fleet, proxies: &mut ProxyChild) -> Self {
        Self {
            signed: proxies.signed_requests().expect("proxy child counts"),
            cpu: Cpu::now(fleet, &REGIONS),
            started: Instant::now(),
        }
    }

    fn row(
        self,
        fleet: &Fleet,
        proxies: &mut ProxyChild,
        label: &'static str,
        model: f64,
        notes: String,
    ) -> Row {
        let wall = self.started.elapsed().as_secs_f64();
        let cpu = self.cpu.delta(fleet, &REGIONS);
        let signed = proxies.signed_requests().expect("proxy child counts") - self.signed;
        Row {
            label,
            wall,
            model,
            cpu,
            signed,
            notes,
        }
    }
}

async fn run(mut proxies: ProxyChild) {
    let fleet = Fleet::start_with_proxy_ports(&REGIONS, proxies.ports())
        .expect("goiardi (run scripts/setup)");
    let upstreams: Vec<u16> = REGIONS.iter().map(|r| fleet.server(r).port()).collect();
    proxies.start(&upstreams).expect("proxies");
    let src = tempfile::tempdir().unwrap();
    let w = Workload::from_env();
    generate_workload(src.path(), w);
    let objects = w.objects();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "workload: {} roles, {} environments, {} data bags × {} items ({objects} objects); {} servers, one way {} ms (RTTs below count {:.0} ms); {cores} cores",
        w.roles,
        w.environments,
        w.bags,
        w.items_per_bag,
        REGIONS.len(),
        one_way().as_millis(),
        RTT * 1000.0
    );
    let repo = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    for (i, region) in REGIONS.iter().enumerate() {
        fleet.create_pivotal(region).await.expect("pivotal");
        servers.push((
            (*region).to_owned(),
            proxies.url(i),
            fleet.pivotal_pem(region).to_owned(),
        ));
    }
    layout_repo(src.path(), repo.path(), &servers).expect("repo");
    let config = RepoConfig::load(repo.path(), &LoadOptions::default()).expect("config");
    let options = SyncOptions {
        only: "roles,environments,data_bags".parse().unwrap(),
        ..SyncOptions::default()
    };

    let mut rows: Vec<Row> = Vec::new();
    let timed = |report: &SyncReport, what: &str| {
        assert!(report.ok, "{what}:\n{}", report.render_table());
        let count = |o: ObjectOutcome| {
            report
                .servers
                .iter()
                .map(|s| s.count_objects(o))
                .sum::<usize>()
        };
        format!(
            "{} created, {} updated, {} unchanged (all servers)",
            count(ObjectOutcome::Created),
            count(ObjectOutcome::Updated),
            count(ObjectOutcome::Unchanged)
        )
    };

    let meter = Meter::start(&fleet, &mut proxies);
    let full = chef_sync::sync(&config, &options).await.unwrap();
    let notes = timed(&full, "full sync");
    let per_server = |writes: usize, reads: usize| {
        3 + w.bags.div_ceil(10) + writes.div_ceil(10) + reads.div_ceil(10)
    };
    let full_model = REGIONS.len()
        * (3 + w.bags.div_ceil(10)
            + w.items().div_ceil(10)
            + w.roles.div_ceil(10)
            + w.environments.div_ceil(10));
    rows.push(meter.row(&fleet, &mut proxies, "full sync", full_model as f64, notes));

    // The rows below measure a no-op and one change only if the full sync left every server
    // complete: count what each server holds by its listings, and ask `status`.
    let held = items_held(&config, w).await;
    println!(
        "after the full sync, data bag items held per server (of {}): {}",
        w.items(),
        held.iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (server, n) in &held {
        assert_eq!(
            *n,
            w.items(),
            "{server} lost data bag items in the full sync"
        );
    }
    let status_options = StatusOptions {
        kinds: "roles,environments,data_bags".parse().unwrap(),
        ..StatusOptions::default()
    };
    let complete = chef_sync::status(&config, &status_options).await.unwrap();
    assert_eq!(
        complete.exit_code(),
        0,
        "every server matches the repository after the full sync"
    );
    assert_eq!(
        complete.objects.len(),
        objects,
        "status compared every object"
    );

    let meter = Meter::start(&fleet, &mut proxies);
    let noop = chef_sync::sync(&config, &options).await.unwrap();
    let notes = timed(&noop, "no-op");
    assert_eq!(
        (
            total(&noop, ObjectOutcome::Created),
            total(&noop, ObjectOutcome::Updated)
        ),
        (0, 0),
        "the no-op wrote nothing"
    );
    rows.push(meter.row(
        &fleet,
        &mut proxies,
        "no-op",
        (REGIONS.len() * per_server(0, objects)) as f64,
        notes,
    ));

    let role = repo.path().join("roles/role_000.json");
    std::fs::write(
        &role,
        r#"{"name": "role_000", "description": "changed", "run_list": ["recipe[base]"]}"#,
    )
    .unwrap();
    let meter = Meter::start(&fleet, &mut proxies);
    let one = chef_sync::sync(&config, &options).await.unwrap();
    let notes = timed(&one, "one changed role");
    assert_eq!(
        (
            total(&one, ObjectOutcome::Created),
            total(&one, ObjectOutcome::Updated)
        ),
        (0, REGIONS.len()),
        "one role updated per server, nothing else written"
    );
    rows.push(meter.row(
        &fleet,
        &mut proxies,
        "one changed role",
        (REGIONS.len() * (per_server(0, objects) + 1)) as f64,
        notes,
    ));

    let meter = Meter::start(&fleet, &mut proxies);
    let status = chef_sync::status(&config, &status_options).await.unwrap();
    let differing = status
        .objects
        .iter()
        .filter(|o| !o.drift.is_empty())
        .count();
    let notes = format!(
        "{} objects compared, exit {}, {differing} not identical everywhere",
        status.objects.len(),
        status.exit_code()
    );
    rows.push(meter.row(
        &fleet,
        &mut proxies,
        "status",
        (REGIONS.len() * per_server(0, objects)) as f64,
        notes,
    ));
    // What each server holds by its listings after all runs, whatever any report said.
    let held = items_held(&config, w).await;
    println!(
        "data bag items held per server after the runs (of {}): {}",
        w.items(),
        held.iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let spec = &config.servers[0];
    let client = spec.client().expect("client");
    let repo_objects = Arc::new(
        RepoObjects::load(&spec.object_paths, &std::collections::BTreeMap::new()).unwrap(),
    );
    let kinds = ObjectKinds {
        cookbooks: false,
        ..ObjectKinds::ALL
    };
    let (_, counts) = fetch_counted(
        &client,
        kinds,
        256,
        std::future::ready(Some(Arc::clone(&repo_objects))),
    )
    .await
    .unwrap();

    println!();
    println!(
        "load average (1, 5, 15 min) after the runs: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "one server read again: {} listed, {} from search rows, {} by their own GET",
        counts.listed, counts.from_search, counts.fetched
    );
    println!(
        "| run | chef-sync s | chef-sync RTTs | chef-fs model RTTs (10 at once, server by server) | CPU s (client) | CPU s (4 goiardi) | CPU floor RTTs ((client + goiardi) / {cores} cores) | signed requests (at the proxies) | client CPU ms / signed request | notes |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in &rows {
        let floor = (r.cpu.own + r.cpu.goiardi) / cores as f64;
        let per_request = if r.signed == 0 {
            "–".to_owned()
        } else {
            format!("{:.2}", r.cpu.own * 1000.0 / r.signed as f64)
        };
        println!(
            "| {} | {:.2} | {:.1} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {per_request} | {} |",
            r.label,
            r.wall,
            r.wall / RTT,
            r.model,
            r.cpu.own,
            r.cpu.goiardi,
            floor / RTT,
            r.signed,
            r.notes
        );
    }
    println!(
        "targets: no-op ≤ 12 RTT ({:.1}), status ≤ 12 RTT ({:.1}), full ≤ 20 RTT ({:.1})",
        rows[1].wall / RTT,
        rows[3].wall / RTT,
        rows[0].wall / RTT
    );
}

/// Objects with `outcome` in `report`, all servers.
fn total(report: &SyncReport, outcome: ObjectOutcome) -> usize {
    report
        .servers
        .iter()
        .map(|s| s.count_objects(outcome))
        .sum()
}

/// The data bag items each server holds by its listings (goiardi's lost updates answer 201
/// and still lose items, so a report alone cannot tell).
async fn items_held(config: &RepoConfig, w: Workload) -> Vec<(String, usize)> {
    let mut held = Vec::new();
    for spec in &config.servers {
        let client = spec.client().expect("client");
        let mut items = 0;
        for b in 0..w.bags {
            let listing: std::collections::BTreeMap<String, serde_json::Value> =
                client.get(&format!("data/bag_{b:02}")).await.unwrap();
            items += listing.len();
        }
        held.push((spec.name.clone(), items));
    }
    held
}

/// Writes the workload under `dir` (knife.rb from the example repository, no cookbooks).
fn generate_workload(dir: &Path, w: Workload) {
    let write = |rel: String, text: String| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    std::fs::create_dir_all(dir.join(".chef")).unwrap();
    std::fs::copy(
        example_repo_dir().join(".chef/knife.rb"),
        dir.join(".chef/knife.rb"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("cookbooks")).unwrap();
    for i in 0..w.roles {
        write(
            format!("roles/role_{i:03}.json"),
            format!(
                r#"{{"name": "role_{i:03}", "description": "role {i}", "run_list": ["recipe[base]", "role[role_{:03}]"],
                   "default_attributes": {{"tier": {i}, "tags": ["a", "b"]}}}}"#,
                (i + 1) % w.roles
            ),
        );
    }
    for i in 0..w.environments {
        write(
            format!("environments/env_{i:03}.json"),
            format!(
                r#"{{"name": "env_{i:03}", "description": "environment {i}", "override_attributes": {{"region": {i}}}}}"#
            ),
        );
    }
    for b in 0..w.bags {
        for i in 0..w.items_per_bag {
            write(
                format!("data_bags/bag_{b:02}/item_{i:02}.json"),
                format!(
                    r#"{{"id": "item_{i:02}", "secret": {{"encrypted_data": "{b}{i}x==", "iv": "aXY=", "version": 1, "cipher": "aes-256-cbc"}}}}"#
                ),
            );
        }
    }
}
