//! End-to-end sync benchmark: workload W to N goiardi servers (default 4), each behind a TCP
//! proxy adding 50 ms each way (100 ms RTT, like a distant region), side by side with a
//! minimal reference client of the same protocol against the same servers in the same run.
//!
//! ```sh
//! cargo bench --bench sync                 # chef-sync and the reference: full, no-op, one
//!                                          # changed cookbook; then knife's and Berkshelf's
//!                                          # schedules on the first server (×N)
//! SYNC_BENCH_ALL_SERVERS=1 cargo bench --bench sync   # the sequential schedules on all servers
//! SYNC_BENCH_SKIP_SEQUENTIAL=1 cargo bench --bench sync   # chef-sync and the reference only
//! SYNC_BENCH_SERVERS=16 SYNC_BENCH_SCALE=4 cargo bench --bench sync   # scale: servers, W × 4
//! ```
//!
//! Workload W (generated): 40 cookbooks × 30 files on disk (metadata.rb, recipes, attributes,
//! libraries, templates, files; plus the metadata.json knife generates = 1,240 uploaded), about
//! 25 MB, cookbooks depending on each other in chains of five. goiardi's directory and file
//! store are on tmpfs (`/dev/shm`) when it exists.
//!
//! The proxies run in a child process (this binary re-executed, `benches/sync/proxy_child.rs`),
//! so the CPU, threads and peak RSS of this process are the client's own. chef-sync runs on
//! the runtime it builds for itself ([`chef_sync::runtime::build`]).
//!
//! Prints wall times in seconds and RTTs, the CPU seconds of the client and of the goiardi
//! servers, chef-sync's as ratios to the reference's, chef-sync's peak thread count and the
//! peak RSS (VmHWM, reset before each client's runs) of chef-sync and of the reference, and the
//! load average.
//!
//! Scale knobs: `SYNC_BENCH_SERVERS=N` (default 4), `SYNC_BENCH_SCALE=K` (W × K cookbooks);
//! `SYNC_BENCH_COOKBOOKS=N` (a smoke run of the bench itself). `scripts/bench-sync` runs the
//! whole measurement for benches/README.md.
//! The reference sends every file PUT at once up to 4,960 over all servers (what the file
//! descriptors allow through the proxies), split evenly between the servers beyond that.

#[path = "sync/bench_child.rs"]
mod bench_child;
#[path = "sync/cpu.rs"]
mod cpu;
#[path = "sync/delay_proxy.rs"]
mod delay_proxy;
#[path = "sync/proc_stats.rs"]
mod proc_stats;
#[path = "sync/proxy_child.rs"]
mod proxy_child;
#[path = "sync/reference.rs"]
mod reference;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{UploadOptions, Uploader};
use chef_sync::config::{LoadOptions, RepoConfig};
use chef_sync::cookbooks::CookbookSet;
use chef_sync::{SyncOptions, SyncReport};
use chef_testkit::fleet::{Fleet, NODE_NAME, example_repo_dir, layout_repo};
use cpu::Cpu;
use proc_stats::{reset_peak_rss, vm_hwm_kb};
use proxy_child::ProxyChild;
use rand::distr::{Alphanumeric, SampleString};
use rand::{Rng, SeedableRng};
use reference::RefServer;

const ONE_WAY: Duration = Duration::from_millis(50);
const RTT: f64 = 0.100;
const BASE_COOKBOOKS: usize = 40;
/// The reference's file PUTs in flight over all servers: all of them at 4 servers (4,960);
/// at more servers, as many as the file descriptors allow (the proxy child holds two per
/// connection), split evenly between the servers.
const REFERENCE_PUTS_IN_FLIGHT: usize = 4_960;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == proxy_child::CHILD_ARG) {
        proxy_child::run_child(&args[at + 1..]);
        return;
    }
    // `cargo test --all-targets` runs bench binaries without `--bench`: minutes of goiardi
    // traffic have no place in the test suite.
    if !args.iter().any(|a| a == "--bench") {
        println!("benches/sync: skipped (run it with `cargo bench --bench sync`)");
        return;
    }
    let server_count = env_usize("SYNC_BENCH_SERVERS", 4);
    // The proxies live in a child process: this process's CPU, threads and RSS are the
    // client's alone.
    let proxies = ProxyChild::spawn(server_count, ONE_WAY).expect("proxy child");
    // The runtime chef-sync builds for itself (bounded worker and blocking threads).
    let runtime = chef_sync::runtime::build().expect("runtime");
    runtime.block_on(run(proxies));
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One measured run.
struct Row {
    label: String,
    wall: f64,
    cpu: Cpu,
    notes: String,
}

async fn run(mut proxies: ProxyChild) {
    let all_servers = std::env::var_os("SYNC_BENCH_ALL_SERVERS").is_some();
    let server_count = proxies.ports().len();
    // `SYNC_BENCH_COOKBOOKS` overrides the count for quick smoke runs of the bench itself.
    let cookbooks = env_usize(
        "SYNC_BENCH_COOKBOOKS",
        BASE_COOKBOOKS * env_usize("SYNC_BENCH_SCALE", 1),
    );
    let names: Vec<String> = (0..server_count)
        .map(|i| format!("region-{i:02}"))
        .collect();
    let regions: Vec<&str> = names.iter().map(String::as_str).collect();
    // Each server sits behind its proxy, and hands out sandbox upload URLs through it too.
    let shm = Path::new("/dev/shm");
    let store = shm.is_dir().then_some(shm);
    let mut fleet =
        Fleet::start_in(&regions, proxies.ports(), store).expect("goiardi (run scripts/setup)");
    let upstreams: Vec<u16> = regions.iter().map(|r| fleet.server(r).port()).collect();
    proxies.start(&upstreams).expect("proxies");

    let src = tempfile::tempdir().unwrap();
    let (files, bytes) = generate_workload(src.path(), cookbooks);
    println!(
        "workload: {cookbooks} cookbooks, {files} files on disk, {:.1} MB; {server_count} servers, RTT {:.0} ms; goiardi store: {}",
        bytes as f64 / 1e6,
        RTT * 1000.0,
        if store.is_some() {
            "tmpfs (/dev/shm)"
        } else {
            "disk (no /dev/shm)"
        },
    );

    let repo = tempfile::tempdir().unwrap();
    provision(&fleet, &regions, &proxies, src.path(), repo.path()).await;
    let config = RepoConfig::load(repo.path(), &LoadOptions::default()).expect("config");
    // wl_07 in W (the last cookbook in a smoke run with fewer).
    let changed = repo.path().join(format!(
        "cookbooks/wl_{:02}/recipes/r0.rb",
        7.min(cookbooks.saturating_sub(1))
    ));
    let original = std::fs::read(&changed).unwrap();
    let change = |on: bool| {
        let mut text = original.clone();
        if on {
            text.extend_from_slice(b"# one changed line\n");
        }
        std::fs::write(&changed, text).unwrap();
    };

    let mut rows: Vec<Row> = Vec::new();
    reset_peak_rss();
    let threads = ThreadSampler::start();
    let mut chef_sync_walls = Vec::new();
    for (label, one_changed) in [
        ("chef-sync full sync", false),
        ("chef-sync no-op re-sync", false),
        ("chef-sync one changed cookbook", true),
    ] {
        change(one_changed);
        let cpu = Cpu::now(&fleet, &regions);
        let t = Instant::now();
        let report = chef_sync::sync(&config, &SyncOptions::default())
            .await
            .unwrap();
        let wall = t.elapsed().as_secs_f64();
        check(&report, label);
        chef_sync_walls.push(wall);
        rows.push(Row {
            label: label.into(),
            wall,
            cpu: cpu.delta(&fleet, &regions),
            notes: format!(
                "{} files, {:.1} MB sent",
                report.files_sent(),
                report.bytes_sent() as f64 / 1e6
            ),
        });
    }
    change(false);
    let (peak_threads, peak_thread_names) = threads.stop();
    let peak_rss_mb = vm_hwm_kb("/proc/self/status") as f64 / 1024.0;
    reset_peak_rss();

    // The reference on emptied servers: goiardi keeps data in memory (and its file store is
    // emptied on restart), so a restart empties it (pivotal is created again).
    fleet.restart_all().expect("restart");
    for region in &regions {
        fleet.create_pivotal(region).await.expect("pivotal");
    }
    let ref_servers: Vec<RefServer> = regions
        .iter()
        .enumerate()
        .map(|(i, region)| RefServer {
            url: proxies.url(i),
            user: NODE_NAME.to_owned(),
            key_pem: fleet.pivotal_pem(region).to_owned(),
        })
        .collect();
    let ref_servers = Arc::new(ref_servers);
    let ref_puts = REFERENCE_PUTS_IN_FLIGHT.div_ceil(server_count);
    let mut ref_walls = Vec::new();
    for (label, one_changed) in [
        ("reference full sync", false),
        ("reference no-op re-sync", false),
        ("reference one changed cookbook", true),
    ] {
        change(one_changed);
        let cpu = Cpu::now(&fleet, &regions);
        let t = Instant::now();
        let dir = repo.path().join("cookbooks");
        let servers = Arc::clone(&ref_servers);
        // Single-threaded, as a script would be.
        let outcome = tokio::task::spawn_blocking(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("reference runtime")
                .block_on(reference::sync(&dir, &servers, ref_puts))
        })
        .await
        .expect("reference");
        let wall = t.elapsed().as_secs_f64();
        ref_walls.push(wall);
        rows.push(Row {
            label: label.into(),
            wall,
            cpu: cpu.delta(&fleet, &regions),
            notes: format!(
                "{} files, {} cookbook manifests sent; ≤ {ref_puts} PUTs in flight per server",
                outcome.files_sent, outcome.cookbooks_written
            ),
        });
    }
    change(false);
    let ref_peak_rss_mb = vm_hwm_kb("/proc/self/status") as f64 / 1024.0;

    let sequential_rows = sequential_schedules(
        &mut fleet,
        &regions,
        &config,
        repo.path(),
        all_servers,
        chef_sync_walls[0],
    )
    .await;
    rows.extend(sequential_rows);

    println!();
    println!("| run | wall s | RTTs | CPU s (client) | CPU s (goiardi) | notes |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.1} | {:.2} | {:.2} | {} |",
            r.label,
            r.wall,
            r.wall / RTT,
            r.cpu.own,
            r.cpu.goiardi,
            r.notes
        );
    }
    println!();
    for (i, what) in ["full sync", "no-op", "one changed cookbook"]
        .iter()
        .enumerate()
    {
        println!(
            "{what}: chef-sync / reference wall {:.2}×, client CPU {:.2}×",
            rows[i].wall / rows[i + 3].wall,
            rows[i].cpu.own / rows[i + 3].cpu.own.max(0.005),
        );
    }
    println!(
        "chef-sync peak: {peak_threads} threads ({peak_thread_names}), RSS (VmHWM over its three runs) {peak_rss_mb:.1} MiB; reference peak RSS {ref_peak_rss_mb:.1} MiB; {} cores; proxies in a child process (not counted)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

/// knife's and Berkshelf's schedules on emptied servers (unless skipped), as rows.
async fn sequential_schedules(
    fleet: &mut Fleet,
    regions: &[&str],
    config: &RepoConfig,
    repo: &Path,
    all_servers: bool,
    full_wall: f64,
) -> Vec<Row> {
    let measured: &[&str] = if std::env::var_os("SYNC_BENCH_SKIP_SEQUENTIAL").is_some() {
        &[]
    } else if all_servers {
        regions
    } else {
        &regions[..1]
    };
    let mut rows = Vec::new();
    if measured.is_empty() {
        return rows;
    }
    let set = CookbookSet::load(&[repo.join("cookbooks")], 0)
        .await
        .unwrap();
    let cookbooks = set.all();
    for (label, file_concurrency) in [("knife schedule", 10), ("Berkshelf schedule", 1)] {
        for region in measured {
            fleet.server_mut(region).restart().expect("restart");
            fleet.create_pivotal(region).await.expect("pivotal");
        }
        let cpu = Cpu::now(fleet, regions);
        let t = Instant::now();
        let mut sent = 0;
        for region in measured {
            let spec = config.servers.iter().find(|s| s.name == *region).unwrap();
            sent += sequential(spec.client().unwrap(), &cookbooks, file_concurrency).await;
        }
        let wall = t.elapsed().as_secs_f64();
        let all = wall / measured.len() as f64 * regions.len() as f64;
        rows.push(Row {
            label: format!("{label} ({} server(s) measured)", measured.len()),
            wall,
            cpu: cpu.delta(fleet, regions),
            notes: format!(
                "{sent} files; ×{} servers = {all:.1} s = {:.1}× chef-sync's full sync",
                regions.len(),
                all / full_wall
            ),
        });
    }
    rows
}

fn check(report: &SyncReport, what: &str) {
    assert!(report.ok, "{what}:\n{}", report.render_table());
}

/// Samples the process's threads until stopped: the peak count and the threads' names then.
struct ThreadSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, String)>,
}

impl ThreadSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("thread-sampler".into())
            .spawn(move || {
                let (mut peak, mut names) = (0, Vec::new());
                while !s.load(Ordering::Relaxed) {
                    let now = thread_names();
                    // Minus this sampler thread itself.
                    if now.len().saturating_sub(1) > peak {
                        peak = now.len() - 1;
                        names = now;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                names.retain(|n| n != "thread-sampler");
                let mut counted: std::collections::BTreeMap<String, usize> = Default::default();
                for name in names {
                    *counted.entry(name).or_default() += 1;
                }
                let names: Vec<String> =
                    counted.iter().map(|(n, c)| format!("{c} × {n}")).collect();
                (peak, names.join(", "))
            })
            .expect("sampler thread");
        Self { stop, handle }
    }

    /// The peak thread count and, at the peak, how many of each name.
    fn stop(self) -> (usize, String) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// The names of this process's threads (the proxies are in a child process).
fn thread_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .map(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .map_or_else(|_| "?".to_owned(), |n| n.trim().to_owned())
        })
        .collect()
}

/// knife / Berkshelf: one cookbook at a time (in dependency order), `file_concurrency` files at
/// once. Each cookbook is its own upload (listing, sandbox, files, commit, manifest).
async fn sequential(
    client: chef_api::client::ChefClient,
    cookbooks: &[Arc<LoadedCookbook>],
    file_concurrency: usize,
) -> u64 {
    let uploader = Uploader::new(
        client,
        UploadOptions {
            file_concurrency,
            ..UploadOptions::default()
        },
    );
    let mut sent = 0;
    for cookbook in cookbooks {
        let results = uploader
            .upload(std::slice::from_ref(cookbook))
            .await
            .expect("upload");
        for r in results {
            assert!(r.error.is_none(), "{} failed: {:?}", r.name, r.error);
            sent += r.files_sent;
        }
    }
    sent
}

async fn provision(fleet: &Fleet, regions: &[&str], proxies: &ProxyChild, src: &Path, dest: &Path) {
    let mut servers = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        fleet.create_pivotal(region).await.expect("pivotal");
        servers.push((
            (*region).to_owned(),
            proxies.url(i),
            fleet.pivotal_pem(region).to_owned(),
        ));
    }
    layout_repo(src, dest, &servers).expect("repo");
}

/// Writes workload W under `dir` (knife.rb from the example repo, `cookbooks/`); returns files
/// and bytes on disk.
fn generate_workload(dir: &Path, cookbooks: usize) -> (usize, u64) {
    let knife = example_repo_dir().join(".chef/knife.rb");
    std::fs::create_dir_all(dir.join(".chef")).unwrap();
    std::fs::copy(knife, dir.join(".chef/knife.rb")).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let (mut files, mut bytes) = (0, 0u64);
    let mut write = |path: std::path::PathBuf, text: String| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        bytes += text.len() as u64;
        files += 1;
        std::fs::write(path, text).unwrap();
    };
    // Per cookbook: metadata.rb + README + 2 attributes + 5 recipes + 2 libraries
    // + 8 templates (~12 kB) + 11 files (~48 kB) = 30 files, ~620 kB.
    for i in 0..cookbooks {
        let name = format!("wl_{i:02}");
        let cb = dir.join("cookbooks").join(&name);
        let depends = if i % 5 == 0 {
            String::new()
        } else {
            format!("depends 'wl_{:02}', '>= 1.0.0'\n", i - 1)
        };
        write(
            cb.join("metadata.rb"),
            format!(
                "name '{name}'\nmaintainer 'Bench'\nlicense 'Apache-2.0'\ndescription 'workload W cookbook {i}'\nversion '1.0.{i}'\n{depends}"
            ),
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
        for r in 0..5 {
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
    (files, bytes)
}
