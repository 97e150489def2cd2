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

/// Answers every call: measures what real files cost, whatever they call.
struct Anything;

impl chef_api::ruby::Dsl for Anything {
    fn responds_to(&self, _name: &str) -> bool {
        true
    }
    fn call(
        &mut self,
        _call: chef_api::ruby::Call,
        block: Option<&mut dyn chef_api::ruby::Block>,
    ) -> Result<chef_api::ruby::Value, chef_api::ruby::CallError> {
        if let Some(b) = block {
            b.call(self, Vec::new())
                .map_err(|e| chef_api::ruby::CallError::Eval(Box::new(e)))?;
        }
        Ok(chef_api::ruby::Value::Nil)
    }
}

/// The sandbox's step budget is set from real files: every metadata.rb fixture (real
/// cookbooks' files and idioms) must use less than a thousandth of it.
#[test]
fn real_metadata_files_stay_far_below_the_step_budget() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/metadata");
    let mut measured = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
        let file = entry.path().join("metadata.rb");
        let Ok(src) = std::fs::read_to_string(&file) else {
            continue;
        };
        let interp = chef_api::ruby::Interpreter::new().with_cwd(entry.path());
        if let Ok(ev) = interp.eval(&src, &file, &mut Anything) {
            measured.push((ev.steps, entry.file_name()));
        }
    }
    measured.sort();
    assert!(
        measured.len() >= 20,
        "only {} fixtures evaluated",
        measured.len()
    );
    let (most, name) = measured.last().unwrap();
    eprintln!(
        "metadata.rb steps: most {most} ({name:?}), median {}",
        measured[measured.len() / 2].0
    );
    assert!(
        *most < chef_api::ruby::MAX_STEPS / 1000,
        "{name:?} used {most} steps"
    );
}
