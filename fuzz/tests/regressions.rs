//! Every finding the fuzzer ever saved (`fuzz/regressions/<target>/*`) and every seed, run
//! once through its target under the fuzzer's limits: 256 KiB stack, 256 MiB, 1 s (10 s in
//! debug builds). A finding that still panics fails here; one that still overflows the stack
//! or the memory ceiling aborts this test binary, which fails the run just the same.

use chef_sync_fuzz::harness::{self, Limits, Outcome};
use chef_sync_fuzz::targets;

fn check(target: &targets::Target, what: &str, input: &[u8], limits: &Limits) -> Option<String> {
    match harness::run_isolated(target, input, limits) {
        Outcome::Done { peak, .. } if peak <= limits.memory => None,
        other => Some(format!("{}: {what}: {other:?}", target.name)),
    }
}

#[test]
fn findings_and_seeds_pass_within_the_limits() {
    harness::quiet_panics();
    let limits = Limits::standard();
    let mut failures = Vec::new();
    let mut findings = 0;
    let mut seeds = 0;
    for t in targets::all() {
        let dir = harness::regressions_dir(t.name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for path in files {
            let input = std::fs::read(&path).unwrap();
            findings += 1;
            failures.extend(check(&t, &path.display().to_string(), &input, &limits));
        }
        for (i, seed) in (t.seeds)().iter().enumerate() {
            seeds += 1;
            failures.extend(check(&t, &format!("seed {i}"), seed, &limits));
        }
    }
    targets::cleanup();
    assert!(seeds >= 13, "every target has seeds ({seeds} in all)");
    assert!(
        failures.is_empty(),
        "{} of {findings} findings and {seeds} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_seed_of_a_parser_that_reads_fixtures_is_accepted() {
    // The fixtures are real files: the targets that read them must accept them, or the seeds
    // (and so the fuzzing) start from broken inputs.
    for name in ["metadata_rb", "lockfile", "universe", "key"] {
        let t = targets::by_name(name).unwrap();
        let seeds = (t.seeds)();
        assert!(!seeds.is_empty(), "{name} has no seeds");
        let ok = seeds
            .iter()
            .filter(|s| (t.run)(s).starts_with("ok"))
            .count();
        assert!(ok > 0, "{name}: none of {} seeds is accepted", seeds.len());
    }
    targets::cleanup();
}
