//! Policy push benchmark: a lock of 40 cookbooks (workload W's shape) to 4 servers 100 ms RTT
//! away (the API behind the sync bench's TCP proxy adding 50 ms each way, the bookshelf
//! playing the round trip itself).
//!
//! ```sh
//! cargo bench --bench policy_push                 # chef-sync full + no-op, and chef push's
//!                                                 # schedule (one server after another)
//! POLICY_BENCH_PER_SERVER=64 cargo bench --bench policy_push   # another in-flight limit
//! POLICY_BENCH_ONE_WAY_MS=0 cargo bench --bench policy_push     # no latency: the CPU part
//! POLICY_BENCH_COOKBOOKS=4 cargo bench --bench policy_push      # a quick smoke run
//! POLICY_BENCH_SKIP_SERIAL=1 cargo bench --bench policy_push    # chef-sync's runs only
//! POLICY_BENCH_SHELF_PROXY=1 cargo bench --bench policy_push    # bookshelves behind proxies
//! ```
//!
//! The servers are the erchef-like fake of the tests (`chef_testkit::policy_server`, started
//! lean: no request recording, uploads taken by a bare hyper "bookshelf" and kept as
//! checksums): goiardi serves no policies. They
//! and their proxies run in a **child process** (this binary re-executed,
//! `benches/policy/fake_child.rs`), so that this process's CPU and peak RSS are chef-sync's
//! own; each run prints the client's CPU (this process) beside the child's (fakes + proxies).
//! The file PUTs go to each fake's own bookshelf, which plays the same RTT itself (each
//! answer one RTT after its request, a new connection's first a further RTT later for the
//! handshake: `FakeErchef::set_bookshelf_rtt`) rather than behind a proxy, whose copying of
//! every uploaded byte took as much of the 2 cores as the bookshelves;
//! `POLICY_BENCH_SHELF_PROXY=1` puts them behind proxies as before. The full push prints a
//! timeline of one server: when its listings, sandbox, file PUTs, commit + artifact PUTs and
//! confirming listing + group PUT were answered, in RTTs.
//! "chef push schedule" runs each server alone, one after the other, with 10 files in flight
//! (chef push's uploader threads), against a second child's fresh servers; it still sends the
//! artifact PUTs of one server concurrently where chef push sends them one by one, so it is a
//! lower bound of chef push; the modelled count (1 listing + 1 sandbox + ⌈files/10⌉ file
//! rounds + 1 commit + 1 per artifact + 1 group PUT, per server, ×4) is printed beside it.

#[path = "sync/bench_child.rs"]
mod bench_child;
#[allow(dead_code)]
#[path = "sync/delay_proxy.rs"]
mod delay_proxy;
#[path = "policy/fake_child.rs"]
mod fake_child;
#[path = "sync/proc_stats.rs"]
mod proc_stats;

use std::path::Path;
use std::time::{Duration, Instant};

use chef_api::client::ChefClient;
use chef_api::key::PrivateKey;
use chef_sync::policy::{
    CookbookCache, InstallOptions, LoadedPolicy, PushOptions, PushReport, PushTarget, push_to,
};
use fake_child::FakeChild;
use proc_stats::{cpu_seconds, reset_peak_rss, vm_hwm_kb};
use rand::distr::{Alphanumeric, SampleString};
use rand::{Rng, SeedableRng};

const SERVERS: usize = 4;
const ONE_WAY: Duration = Duration::from_millis(50);
/// The RTT the "RTTs" column divides by (100 ms, whatever the proxies add).
const RTT: f64 = 0.100;

/// The proxies' delay each way: 50 ms, or `POLICY_BENCH_ONE_WAY_MS` (0: the same run without
/// latency, to see how much of the wall time is CPU).
fn one_way() -> Duration {
    std::env::var("POLICY_BENCH_ONE_WAY_MS")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(ONE_WAY, Duration::from_millis)
}
/// Workload W's 40 cookbooks; `POLICY_BENCH_COOKBOOKS=N` for a quick smoke run.
fn cookbooks() -> usize {
    std::env::var("POLICY_BENCH_COOKBOOKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40)
}
const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/keys/mixlib-spec.pem"
);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == fake_child::CHILD_ARG) {
        fake_child::run_child(&args[at + 1..]);
        return;
    }
    // `cargo test --all-targets` runs bench binaries without `--bench`.
    if !args.iter().any(|a| a == "--bench") {
        println!("benches/policy_push: skipped (run it with `cargo bench --bench policy_push`)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

fn targets(urls: &[String]) -> Vec<PushTarget> {
    urls.iter()
        .enumerate()
        .map(|(i, url)| PushTarget {
            name: format!("region-{i}"),
            url: url.clone(),
            client: Ok(ChefClient::builder(url)
                .with_client_name("bench")
                .with_key(PrivateKey::from_pem_file(KEY).expect("key"))
                .build()
                .expect("client")),
            group: Ok("production".into()),
        })
        .collect()
}

async fn run() {
    let repo = tempfile::tempdir().unwrap();
    let (files, bytes) = generate_workload(repo.path());
    let cache = CookbookCache {
        root: repo.path().join(".cache"),
        chef_cli_caches: Vec::new(),
        offline: true,
        supermarket: None,
        artifactory: None,
        chef_servers: Vec::new(),
    };
    let installed = chef_sync::policy::install(
        &repo.path().join("Policyfile.rb"),
        &InstallOptions {
            cache: cache.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("install");
    let policy = LoadedPolicy::load(installed.lock.path(), &cache)
        .await
        .expect("lock");
    println!(
        "workload: {} cookbooks, {files} files, {:.1} MB; {SERVERS} servers, RTT {:.0} ms",
        cookbooks(),
        bytes as f64 / 1e6,
        2.0 * one_way().as_secs_f64() * 1000.0
    );
    let mut options = PushOptions {
        cache,
        ..PushOptions::default()
    };
    if let Some(n) = std::env::var("POLICY_BENCH_PER_SERVER")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        options.per_server_concurrency = n;
    }
    println!(
        "per-server concurrency {}; load average before: {}",
        options.per_server_concurrency,
        load_average()
    );

    // Both children start before the clock: the second one's fresh servers take chef push's
    // schedule.
    let servers = FakeChild::spawn(SERVERS, one_way()).expect("fake child");
    let serial_servers = FakeChild::spawn(SERVERS, one_way()).expect("fake child");
    // Clients are built before the clock starts (TLS roots and key parsing are local work),
    // and the signatures' random generator seeded.
    let (first, second) = (targets(servers.urls()), targets(servers.urls()));
    let serial_targets = targets(serial_servers.urls());
    // As `push` does at its start, beside reading the configuration and the locks.
    chef_api::sign::seed_random_generator();
    reset_peak_rss();

    let cpu = Cpu::now(&servers);
    let t = Instant::now();
    let timeline = Timeline::new(t);
    let full_options = PushOptions {
        events: Some(timeline.sink()),
        ..options.clone()
    };
    let full = push_to(first, std::slice::from_ref(&policy), &full_options).await;
    let full_wall = t.elapsed().as_secs_f64();
    let full_cpu = cpu.delta(&servers);
    check(&full, "full push");
    timeline.print("region-0", full_wall);
    let cpu = Cpu::now(&servers);
    let t = Instant::now();
    let noop = push_to(second, std::slice::from_ref(&policy), &options).await;
    let noop_wall = t.elapsed().as_secs_f64();
    let noop_cpu = cpu.delta(&servers);
    check(&noop, "no-op push");
    let sent: u64 = full.servers.iter().map(|s| s.files_sent).sum();

    // chef push: one server after another, 10 files at a time (≈ 54 s; skipped on request
    // while iterating on chef-sync's own runs).
    let skip_serial = std::env::var_os("POLICY_BENCH_SKIP_SERIAL").is_some();
    let serial_options = PushOptions {
        per_server_concurrency: 10,
        ..options.clone()
    };
    let cpu = Cpu::now(&serial_servers);
    let t = Instant::now();
    for target in serial_targets.into_iter().filter(|_| !skip_serial) {
        let report = push_to(vec![target], std::slice::from_ref(&policy), &serial_options).await;
        check(&report, "chef push schedule");
    }
    let serial_wall = t.elapsed().as_secs_f64();
    let serial_cpu = cpu.delta(&serial_servers);
    let client_peak_mib = vm_hwm_kb("/proc/self/status") as f64 / 1024.0;
    let per_server_files = full.servers[0].files_sent as usize;
    let modelled = SERVERS * (1 + 1 + per_server_files.div_ceil(10) + 1 + cookbooks() + 1);

    println!("| Run | Wall | RTTs | Client CPU | Fakes + proxies CPU | Sent |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    let row = |label: &str, wall: f64, cpu: Cpu, sent: u64| {
        println!(
            "| {label} | {wall:.2} s | {:.1} | {:.2} s | {:.2} s | {sent} files |",
            wall / RTT,
            cpu.client,
            cpu.servers
        );
    };
    row(
        &format!("chef-sync full push, {SERVERS} servers"),
        full_wall,
        full_cpu,
        sent,
    );
    row("chef-sync no-op push", noop_wall, noop_cpu, 0);
    if !skip_serial {
        row(
            "chef push schedule (servers in turn, 10 files in flight)",
            serial_wall,
            serial_cpu,
            sent,
        );
    }
    println!("| chef push modelled (serial artifact PUTs) | | {modelled} | | | |");
    println!(
        "client peak RSS (VmHWM over the three runs) {client_peak_mib:.1} MiB; fake children's \
         peak RSS {:.1} / {:.1} MiB (not counted); {} cores",
        servers.peak_rss_kb() as f64 / 1024.0,
        serial_servers.peak_rss_kb() as f64 / 1024.0,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("load average after: {}", load_average());
}

/// When each of a push's progress events arrived, from the start of the run: the full push's
/// critical path per server (listings → `Planned`; sandbox POST → `CookbookStarted`; file
/// rounds → `BytesSent`; commit and artifact PUTs → `CookbookFinished`; confirming listing
/// and group PUT → `PolicyGroup`).
#[derive(Clone)]
struct Timeline {
    start: Instant,
    events: std::sync::Arc<std::sync::Mutex<Vec<Stamp>>>,
}

/// Seconds from the start, server, what was answered.
type Stamp = (f64, String, &'static str);

impl Timeline {
    fn new(start: Instant) -> Self {
        Self {
            start,
            events: std::sync::Arc::default(),
        }
    }

    fn sink(&self) -> chef_sync::SyncEventSink {
        let me = self.clone();
        std::sync::Arc::new(move |event: chef_sync::SyncEvent| {
            use chef_api::upload::UploadEvent;
            use chef_sync::SyncEventKind as K;
            let label = match event.kind {
                K::Planning => "planning (listings sent)",
                K::Planned { .. } => "planned (listings answered)",
                K::Upload(UploadEvent::CookbookStarted { .. }) => "sandbox answered",
                K::Upload(UploadEvent::BytesSent { .. }) => "file PUT answered",
                K::Upload(UploadEvent::CookbookFinished { .. }) => "commit + artifact PUT answered",
                K::PolicyGroup { .. } => "confirming listing + group PUT answered",
                K::Finished { .. } => "finished",
                _ => "other",
            };
            let at = me.start.elapsed().as_secs_f64();
            me.events
                .lock()
                .unwrap()
                .push((at, event.server.to_string(), label));
        })
    }

    /// One server's events, each kind as its first and last time and count, in RTTs; file
    /// PUTs also per 100 ms.
    fn print(&self, server: &str, wall: f64) {
        let events = self.events.lock().unwrap();
        let mine: Vec<&Stamp> = events.iter().filter(|(_, s, _)| s == server).collect();
        println!(
            "timeline of {server} (full push, wall {:.2} s = {:.1} RTT):",
            wall,
            wall / RTT
        );
        let mut kinds: Vec<&str> = Vec::new();
        for (_, _, label) in &mine {
            if !kinds.contains(label) {
                kinds.push(label);
            }
        }
        for kind in kinds {
            let times: Vec<f64> = mine
                .iter()
                .filter(|(_, _, l)| *l == kind)
                .map(|(t, _, _)| *t)
                .collect();
            let (first, last) = (times[0], times[times.len() - 1]);
            println!(
                "  {:>6.1} .. {:>6.1} RTT  ×{:<5} {kind}",
                first / RTT,
                last / RTT,
                times.len()
            );
        }
        let mut buckets = std::collections::BTreeMap::<u64, usize>::new();
        for (t, _, label) in &mine {
            if *label == "file PUT answered" {
                *buckets.entry((t / RTT) as u64).or_default() += 1;
            }
        }
        let per: Vec<String> = buckets
            .iter()
            .map(|(rtt, n)| format!("RTT {rtt}: {n}"))
            .collect();
        println!("  file PUTs answered per RTT: {}", per.join(", "));
    }
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// CPU seconds (user + system) used so far by the client (this process) and by a fake child
/// (fakes + proxies), or used between two such readings.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    client: f64,
    servers: f64,
}

impl Cpu {
    fn now(servers: &FakeChild) -> Self {
        Self {
            client: cpu_seconds("/proc/self/stat"),
            servers: servers.cpu_seconds(),
        }
    }

    /// CPU used since `self`.
    fn delta(self, servers: &FakeChild) -> Self {
        let now = Self::now(servers);
        Self {
            client: now.client - self.client,
            servers: now.servers - self.servers,
        }
    }
}

fn check(report: &PushReport, what: &str) {
    assert!(report.ok, "{what} failed:\n{}", report.render_table());
}

/// Workload W's shape: 40 cookbooks × 30 files (~620 kB each), dependency chains of five, and
/// a Policyfile naming them all by path.
fn generate_workload(dir: &Path) -> (usize, u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let (mut files, mut bytes) = (0, 0u64);
    let mut write = |path: std::path::PathBuf, text: String| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        bytes += text.len() as u64;
        files += 1;
        std::fs::write(path, text).unwrap();
    };
    let mut policyfile = String::from("name 'workload'\nrun_list 'wl_00'\n");
    for i in 0..cookbooks() {
        let name = format!("wl_{i:02}");
        policyfile.push_str(&format!("cookbook '{name}', path: 'cookbooks/{name}'\n"));
        let cb = dir.join("cookbooks").join(&name);
        let depends = if i % 5 == 0 {
            String::new()
        } else {
            format!("depends 'wl_{:02}', '>= 1.0.0'\n", i - 1)
        };
        write(
            cb.join("metadata.rb"),
            format!("name '{name}'\nlicense 'Apache-2.0'\nversion '1.0.{i}'\n{depends}"),
        );
        let mut text = |approx: usize| {
            let mut s = String::with_capacity(approx + 80);
            while s.len() < approx {
                let n = rng.random_range(20..78);
                s.push_str(&Alphanumeric.sample_string(&mut rng, n));
                s.push('\n');
            }
            s
        };
        write(cb.join("README.md"), format!("# {name}\n{}", text(2_000)));
        for a in ["default", "tuning"] {
            write(cb.join(format!("attributes/{a}.rb")), text(1_500));
        }
        write(cb.join("recipes/default.rb"), text(3_000));
        for r in 1..5 {
            write(cb.join(format!("recipes/r{r}.rb")), text(3_000));
        }
        for l in 0..2 {
            write(cb.join(format!("libraries/l{l}.rb")), text(4_000));
        }
        for t in 0..8 {
            write(cb.join(format!("templates/default/t{t}.erb")), text(12_000));
        }
        for f in 0..11 {
            write(cb.join(format!("files/default/blob{f}.dat")), text(44_000));
        }
    }
    std::fs::write(dir.join("Policyfile.rb"), policyfile).unwrap();
    (files, bytes)
}
