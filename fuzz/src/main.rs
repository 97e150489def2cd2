//! `chef-sync-fuzz`: the fuzzer's command line.
//!
//! ```text
//! chef-sync-fuzz list
//! chef-sync-fuzz run [--seconds N] [--execs N] [--seed N] [TARGET...]   # N seconds per target
//! chef-sync-fuzz replay [TARGET...]                                       # findings, once each
//! chef-sync-fuzz seeds [TARGET...]                                        # seeds, once each
//! ```
//!
//! `run` prints one Markdown table row per target (the format of `FUZZING.md`) and exits 1
//! when anything was found.

use std::process::ExitCode;

use chef_sync_fuzz::harness::{self, Limits, Outcome};
use chef_sync_fuzz::targets::{self, Target};

fn usage() -> ExitCode {
    eprintln!(
        "usage: chef-sync-fuzz list | run [--seconds N] [--execs N] [--seed N] [TARGET...] | replay [TARGET...]"
    );
    ExitCode::from(2)
}

fn chosen(names: &[String]) -> Result<Vec<Target>, String> {
    if names.is_empty() {
        return Ok(targets::all());
    }
    names
        .iter()
        .map(|n| targets::by_name(n).ok_or_else(|| format!("unknown target {n:?} (see `list`)")))
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        return usage();
    };
    match cmd.as_str() {
        "list" => {
            for t in targets::all() {
                println!("{}", t.name);
            }
            ExitCode::SUCCESS
        }
        "worker" => {
            // worker TARGET SECONDS MAX_EXECS SEED CURRENT_FILE (started by `run`)
            let (Some(t), Some(secs), Some(execs), Some(seed), Some(cur)) = (
                args.get(1).and_then(|n| targets::by_name(n)),
                args.get(2).and_then(|v| v.parse().ok()),
                args.get(3).and_then(|v| v.parse().ok()),
                args.get(4).and_then(|v| v.parse().ok()),
                args.get(5),
            ) else {
                return usage();
            };
            harness::fuzz_worker(&t, secs, execs, seed, std::path::Path::new(cur));
            ExitCode::SUCCESS
        }
        "run" => run(&args[1..]),
        "replay" => replay(&args[1..]),
        "seeds" => seeds(&args[1..]),
        _ => usage(),
    }
}

fn run(args: &[String]) -> ExitCode {
    let (mut seconds, mut execs, mut seed) = (60u64, u64::MAX, 1u64);
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |what: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{what} needs a number"))
        };
        let parsed = match a.as_str() {
            "--seconds" => num("--seconds").map(|v| seconds = v),
            "--execs" => num("--execs").map(|v| execs = v),
            "--seed" => num("--seed").map(|v| seed = v),
            _ => {
                names.push(a.clone());
                Ok(())
            }
        };
        if let Err(e) = parsed {
            eprintln!("{e}");
            return usage();
        }
    }
    let targets = match chosen(&names) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return usage();
        }
    };
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("cannot find this program's path");
        return ExitCode::FAILURE;
    };
    println!(
        "| target | executions | seconds | execs/s | panics+crashes+slow | max time/input | max memory/input | load spikes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut found = 0;
    for t in &targets {
        let r = harness::supervise(&exe, t, seconds, execs, seed);
        let secs = r.elapsed.as_secs_f64().max(0.001);
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | {:.1} ms | {:.1} MiB | {} |",
            t.name,
            r.stats.execs,
            secs,
            r.stats.execs as f64 / secs,
            r.stats.findings,
            r.stats.max_wall_us as f64 / 1000.0,
            r.stats.max_peak as f64 / (1024.0 * 1024.0),
            r.stats.load_spikes,
        );
        found += r.stats.findings;
    }
    if found > 0 {
        eprintln!(
            "{found} finding(s) saved under fuzz/regressions/: `cargo test -p chef-sync-fuzz` replays them"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn seeds(names: &[String]) -> ExitCode {
    let targets = match chosen(names) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return usage();
        }
    };
    harness::quiet_panics();
    let limits = Limits::standard();
    let mut failed = 0;
    for t in &targets {
        for (i, seed) in (t.seeds)().iter().enumerate() {
            eprintln!("{} seed {i} ({} bytes)", t.name, seed.len());
            match harness::run_isolated(t, seed, &limits) {
                Outcome::Done { key, elapsed, peak } => {
                    println!(
                        "ok    {} seed {i}: {key} in {elapsed:?}, {peak} bytes",
                        t.name
                    );
                }
                other => {
                    failed += 1;
                    println!("FAIL  {} seed {i}: {other:?}", t.name);
                }
            }
        }
    }
    targets::cleanup();
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn replay(names: &[String]) -> ExitCode {
    let targets = match chosen(names) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return usage();
        }
    };
    harness::quiet_panics();
    let limits = Limits::standard();
    let mut failed = 0;
    for t in &targets {
        let dir = harness::regressions_dir(t.name);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.filter_map(Result::ok) {
            let input = std::fs::read(entry.path()).unwrap_or_default();
            match harness::run_isolated(t, &input, &limits) {
                Outcome::Done { .. } => println!("ok    {}", entry.path().display()),
                other => {
                    failed += 1;
                    println!("FAIL  {}: {other:?}", entry.path().display());
                }
            }
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
