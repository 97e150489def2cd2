//! End-to-end sync benchmark: workload W to 4 goiardi servers, each behind a TCP proxy adding
//! 50 ms each way (100 ms RTT, like a distant region).
//!
//! ```sh
//! cargo bench --bench sync                 # chef-sync full and no-op; knife's and Berkshelf's
//!                                          # schedules on the first server (×4: they go one
//!                                          # server at a time)
//! SYNC_BENCH_ALL_SERVERS=1 cargo bench --bench sync   # the sequential schedules on all 4
//! SYNC_BENCH_SKIP_SEQUENTIAL=1 cargo bench --bench sync   # chef-sync only
//! ```
//!
//! Workload W (generated): 40 cookbooks × 30 files on disk (metadata.rb, recipes, attributes,
//! libraries, templates, files; plus the metadata.json knife generates = 1,240 uploaded), about
//! 25 MB, cookbooks depending on each other in chains of five.
//!
//! Prints wall times in seconds and RTTs, the CPU seconds of this process and of the goiardi
//! servers, and this process's peak RSS (VmHWM).

#[path = "sync/delay_proxy.rs"]
mod delay_proxy;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chef_api::cookbook::LoadedCookbook;
use chef_api::upload::{UploadOptions, Uploader};
use chef_sync::config::{LoadOptions, RepoConfig};
use chef_sync::cookbooks::CookbookSet;
use chef_sync::{SyncOptions, SyncReport};
use chef_testkit::fleet::{Fleet, example_repo_dir, layout_repo};
use delay_proxy::DelayProxy;
use rand::distr::{Alphanumeric, SampleString};
use rand::{Rng, SeedableRng};

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
const ONE_WAY: Duration = Duration::from_millis(50);
const RTT: f64 = 0.100;
const COOKBOOKS: usize = 40;

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: minutes of goiardi
    // traffic have no place in the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/sync: skipped (run it with `cargo bench --bench sync`)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let all_servers = std::env::var_os("SYNC_BENCH_ALL_SERVERS").is_some();
    // Each server sits behind its proxy, and hands out sandbox upload URLs through it too.
    let mut proxies = Vec::new();
    for _ in REGIONS {
        proxies.push(DelayProxy::bind().await.expect("proxy port"));
    }
    let ports: Vec<u16> = proxies.iter().map(DelayProxy::port).collect();
    let mut fleet =
        Fleet::start_with_proxy_ports(&REGIONS, &ports).expect("goiardi (run scripts/setup)");
    for (region, proxy) in REGIONS.iter().zip(&mut proxies) {
        let upstream = ([127, 0, 0, 1], fleet.server(region).port()).into();
        proxy.start(upstream, ONE_WAY);
    }

    let src = tempfile::tempdir().unwrap();
    let (files, bytes) = generate_workload(src.path());
    println!(
        "workload W: {COOKBOOKS} cookbooks, {files} files on disk, {:.1} MB; {} servers, RTT {:.0} ms",
        bytes as f64 / 1e6,
        REGIONS.len(),
        RTT * 1000.0
    );

    let repo = tempfile::tempdir().unwrap();
    provision(&fleet, &proxies, src.path(), repo.path()).await;
    let config = RepoConfig::load(repo.path(), &LoadOptions::default()).expect("config");

    let mut rows: Vec<(String, f64, Cpu, String)> = Vec::new();

    let cpu = Cpu::now(&mut fleet);
    let t = Instant::now();
    let full = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    let full_wall = t.elapsed().as_secs_f64();
    check(&full, "full sync");
    rows.push((
        "chef-sync full sync".into(),
        full_wall,
        cpu.delta(&mut fleet),
        format!(
            "{} files, {:.1} MB sent",
            full.files_sent(),
            full.bytes_sent() as f64 / 1e6
        ),
    ));

    let cpu = Cpu::now(&mut fleet);
    let t = Instant::now();
    let noop = chef_sync::sync(&config, &SyncOptions::default())
        .await
        .unwrap();
    let noop_wall = t.elapsed().as_secs_f64();
    check(&noop, "no-op sync");
    assert_eq!(noop.files_sent(), 0, "a no-op sync sends nothing");
    rows.push((
        "chef-sync no-op re-sync".into(),
        noop_wall,
        cpu.delta(&mut fleet),
        "0 files sent".into(),
    ));
    let peak_rss_mb = vm_hwm_kb() as f64 / 1024.0;

    // The sequential schedules, on emptied servers: goiardi keeps data in memory, so a restart
    // empties it (pivotal is created again).
    let measured: &[&str] = if std::env::var_os("SYNC_BENCH_SKIP_SEQUENTIAL").is_some() {
        &[]
    } else if all_servers {
        &REGIONS
    } else {
        &REGIONS[..1]
    };
    let set = CookbookSet::load(&[repo.path().join("cookbooks")], 0)
        .await
        .unwrap();
    let cookbooks = set.all();
    let mut schedule_walls = Vec::new();
    for (label, file_concurrency) in [("knife schedule", 10), ("Berkshelf schedule", 1)] {
        if measured.is_empty() {
            break;
        }
        for region in measured {
            fleet.server_mut(region).restart().expect("restart");
            fleet.create_pivotal(region).await.expect("pivotal");
        }
        let cpu = Cpu::now(&mut fleet);
        let t = Instant::now();
        let mut sent = 0;
        for region in measured {
            let spec = config.servers.iter().find(|s| s.name == *region).unwrap();
            sent += sequential(spec.client().unwrap(), &cookbooks, file_concurrency).await;
        }
        let wall = t.elapsed().as_secs_f64();
        let per_server = wall / measured.len() as f64;
        let all4 = per_server * REGIONS.len() as f64;
        schedule_walls.push((label, all4));
        rows.push((
            format!("{label} ({} server(s) measured)", measured.len()),
            wall,
            cpu.delta(&mut fleet),
            format!("{sent} files; ×{} servers = {all4:.1} s", REGIONS.len()),
        ));
    }

    println!();
    println!("| run | wall s | RTTs | CPU s (bench) | CPU s (goiardi ×4) | notes |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for (label, wall, cpu, notes) in &rows {
        println!(
            "| {label} | {wall:.2} | {:.1} | {:.2} | {:.2} | {notes} |",
            wall / RTT,
            cpu.own,
            cpu.goiardi
        );
    }
    println!();
    println!(
        "peak RSS of the bench process (VmHWM, after both chef-sync runs): {peak_rss_mb:.1} MB"
    );
    for (label, all4) in schedule_walls {
        println!(
            "{label} for 4 servers: {all4:.1} s = {:.1}× chef-sync's full sync",
            all4 / full_wall
        );
    }
    println!(
        "targets: full ≤ 12 RTT ({:.1}), no-op ≤ 3 RTT ({:.1}), peak RSS ≤ 64 MB ({peak_rss_mb:.1})",
        full_wall / RTT,
        noop_wall / RTT
    );
}

fn check(report: &SyncReport, what: &str) {
    assert!(report.ok, "{what}:\n{}", report.render_table());
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

async fn provision(fleet: &Fleet, proxies: &[DelayProxy], src: &Path, dest: &Path) {
    let mut servers = Vec::new();
    for (region, proxy) in REGIONS.iter().zip(proxies) {
        fleet.create_pivotal(region).await.expect("pivotal");
        servers.push((
            (*region).to_owned(),
            proxy.url(),
            fleet.pivotal_pem(region).to_owned(),
        ));
    }
    layout_repo(src, dest, &servers).expect("repo");
}

/// Writes workload W under `dir` (knife.rb from the example repo, `cookbooks/`); returns files
/// and bytes on disk.
fn generate_workload(dir: &Path) -> (usize, u64) {
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
    for i in 0..COOKBOOKS {
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

/// CPU seconds used so far by this process and by the goiardi servers.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    own: f64,
    goiardi: f64,
}

impl Cpu {
    fn now(fleet: &mut Fleet) -> Self {
        let goiardi = REGIONS
            .iter()
            .filter_map(|r| fleet.server_mut(r).pid())
            .map(|pid| cpu_seconds(&format!("/proc/{pid}/stat")))
            .sum();
        Self {
            own: cpu_seconds("/proc/self/stat"),
            goiardi,
        }
    }

    /// CPU used since `self` (goiardi restarts reset its counters; measured after restarts).
    fn delta(self, fleet: &mut Fleet) -> Self {
        let now = Self::now(fleet);
        Self {
            own: now.own - self.own,
            goiardi: now.goiardi - self.goiardi,
        }
    }
}

/// utime + stime of a `/proc/PID/stat` file, in seconds (USER_HZ = 100 on Linux).
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`), in kB.
fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
