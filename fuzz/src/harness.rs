//! Running inputs under limits, the fuzz loop, and the supervisor that survives crashes.
//!
//! * [`run_isolated`] runs one input on a fresh thread with a [`Limits::stack`] stack (256
//!   KiB: a stack overflow shows up as it would on a small worker thread), a memory ceiling
//!   (the counting allocator of [`crate::alloc`]) and a wall-clock watchdog. Replays use it.
//! * [`fuzz_worker`] is the loop, on one small-stack thread: mutate, write the input to a
//!   "current input" file, run it, keep it in the corpus when its outcome is new. A panic is
//!   caught and saved at once; an input over [`Limits::time`] is run again and judged by CPU
//!   time (the machine is shared, so wall time alone would blame load), saved if its CPU time
//!   is over the limit too; a watchdog saves one that does not finish within
//!   [`Limits::hard_time`] and ends the worker.
//! * [`supervise`] runs workers as child processes: when one dies (stack overflow, memory
//!   ceiling: both abort the process), the current-input file tells which input did it, it is
//!   saved by kind (`stack-overflow`, `oom`, `crash`), and a new worker goes on.
//!
//! Findings are files `fuzz/regressions/<target>/<kind>-<hash>`; `cargo test -p
//! chef-sync-fuzz` replays every one of them under the same limits.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::alloc;
use crate::mutate::{self, Rng};
use crate::targets::Target;

/// The limits every input runs under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock time one input may take (1 s in release builds; 10 s in debug builds,
    /// which are several times slower).
    pub time: Duration,
    /// Past this wall-clock time an input is given up on (its worker process exits).
    pub hard_time: Duration,
    /// Bytes one input may have allocated at once, above what was live before it (256 MiB).
    pub memory: usize,
    /// Stack of the thread that runs inputs: 256 KiB in release builds. Debug builds get
    /// 1 MiB: their frames are several times larger (the Ruby evaluator's main frame is 16
    /// KiB unoptimised, serde-saphyr's up to 24 KiB), so 256 KiB there measures the
    /// compiler, not the code.
    pub stack: usize,
}

impl Limits {
    /// The limits of the issue: 1 s, 256 MiB, run on a 256 KiB stack (release builds).
    pub fn standard() -> Self {
        let debug = cfg!(debug_assertions);
        Self {
            time: Duration::from_secs(if debug { 10 } else { 1 }),
            hard_time: Duration::from_secs(if debug { 60 } else { 10 }),
            memory: 256 * 1024 * 1024,
            stack: if debug { 1024 * 1024 } else { 256 * 1024 },
        }
    }
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It finished (its outcome key), within the limits.
    Done {
        /// The target's outcome key.
        key: String,
        /// Wall-clock time.
        elapsed: Duration,
        /// Most bytes allocated at once above the baseline.
        peak: usize,
    },
    /// It panicked.
    Panic(String),
    /// It ran longer than the limit (CPU time, measured alone).
    Slow(Duration),
}

/// Only one measured run at a time per process: the allocator's peak is process-wide.
static MEASURE: Mutex<()> = Mutex::new(());

/// The panic message of the last panic on this thread, captured by [`quiet_panics`].
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".to_owned()
    }
}

/// Replaces the panic hook with one that prints only the location (panics are expected
/// results here, caught and saved).
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("fuzz: panic at {at}");
    }));
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat`.
pub fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the command name.
    let total = ticks(11) + ticks(12);
    Duration::from_millis(total * 10) // USER_HZ is 100 on Linux
}

/// Runs `input` through `target` on a fresh thread under `limits`. An input that overflows
/// the stack or passes the memory ceiling aborts the process (as it would in production):
/// the caller sees the abort.
pub fn run_isolated(target: &Target, input: &[u8], limits: &Limits) -> Outcome {
    let _guard = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let run = target.run;
    let owned = input.to_vec();
    let (tx, rx) = mpsc::channel();
    let cpu_before = process_cpu();
    alloc::reset_peak();
    let base = alloc::live();
    alloc::set_ceiling(base.saturating_add(limits.memory));
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name(format!("fuzz-{}", target.name))
        .stack_size(limits.stack)
        .spawn(move || {
            let r = std::panic::catch_unwind(|| run(&owned));
            let _ = tx.send(r.map_err(|p| panic_text(&*p)));
        });
    let outcome = match spawned {
        Err(e) => Outcome::Panic(format!("cannot start the worker thread: {e}")),
        Ok(_) => match rx.recv_timeout(limits.hard_time) {
            Err(_) => Outcome::Slow(started.elapsed()),
            Ok(Err(msg)) => Outcome::Panic(msg),
            Ok(Ok(key)) => {
                let elapsed = started.elapsed();
                let cpu = process_cpu().saturating_sub(cpu_before);
                if elapsed > limits.time && cpu > limits.time {
                    Outcome::Slow(cpu)
                } else {
                    Outcome::Done {
                        key,
                        elapsed,
                        peak: alloc::peak().saturating_sub(base),
                    }
                }
            }
        },
    };
    alloc::set_ceiling(usize::MAX);
    outcome
}

/// Where findings of `target` are kept: `fuzz/regressions/<target>/`.
pub fn regressions_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target)
}

/// FNV-1a of `bytes`, for finding names.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Saves `input` as a finding of `kind`; returns its path (the same input is kept once).
pub fn save_finding(target: &str, kind: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    let dir = regressions_dir(target);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{kind}-{:016x}", fnv(input)));
    if !path.exists() {
        std::fs::write(&path, input)?;
    }
    Ok(path)
}

/// Counters of one worker run (printed as one `STATS` line the supervisor reads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs run.
    pub execs: u64,
    /// Longest wall-clock time of an input, in microseconds.
    pub max_wall_us: u64,
    /// Most bytes one input had allocated at once.
    pub max_peak: u64,
    /// Inputs over the time limit by wall clock but not by CPU time (machine load).
    pub load_spikes: u64,
    /// Findings saved.
    pub findings: u64,
    /// Corpus size at the end.
    pub corpus: u64,
}

impl Stats {
    fn line(&self) -> String {
        format!(
            "STATS execs={} max_wall_us={} max_peak={} load_spikes={} findings={} corpus={}",
            self.execs,
            self.max_wall_us,
            self.max_peak,
            self.load_spikes,
            self.findings,
            self.corpus
        )
    }

    /// Parses a `STATS` line.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.strip_prefix("STATS ")?;
        let mut s = Self::default();
        for pair in rest.split_whitespace() {
            let (k, v) = pair.split_once('=')?;
            let v: u64 = v.parse().ok()?;
            match k {
                "execs" => s.execs = v,
                "max_wall_us" => s.max_wall_us = v,
                "max_peak" => s.max_peak = v,
                "load_spikes" => s.load_spikes = v,
                "findings" => s.findings = v,
                "corpus" => s.corpus = v,
                _ => {}
            }
        }
        Some(s)
    }

    /// Adds the counters of a later worker of the same run.
    pub fn merge(&mut self, other: &Self) {
        self.execs += other.execs;
        self.max_wall_us = self.max_wall_us.max(other.max_wall_us);
        self.max_peak = self.max_peak.max(other.max_peak);
        self.load_spikes += other.load_spikes;
        self.findings += other.findings;
        self.corpus = self.corpus.max(other.corpus);
    }
}

/// Milliseconds since the Unix epoch (the watchdog's clock).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// When the input running now started (ms since the epoch; 0: none is running).
static RUNNING_SINCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The fuzz loop of one worker process: runs `target` for `seconds` or `max_execs` inputs,
/// writing each input to `current` before running it. Prints `STATS` lines to stdout.
///
/// The loop runs on one small-stack thread (no hand-off per input: on a loaded machine every
/// thread switch costs a scheduler time slice); the main thread is a watchdog that saves the
/// current input and ends the process when one runs past [`Limits::hard_time`].
pub fn fuzz_worker(
    target: &Target,
    seconds: u64,
    max_execs: u64,
    seed: u64,
    current: &Path,
) -> Stats {
    use std::sync::atomic::Ordering;
    quiet_panics();
    let limits = Limits::standard();
    let t = *target;
    let path = current.to_path_buf();
    let worker = std::thread::Builder::new()
        .name(format!("fuzz-{}", target.name))
        .stack_size(limits.stack)
        .spawn(move || fuzz_loop(&t, seconds, max_execs, seed, &path, &limits))
        .expect("worker thread");
    // (input start, process CPU time when it was first seen past the hard limit)
    let mut suspect: Option<(u64, Duration)> = None;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if worker.is_finished() {
            break;
        }
        let since = RUNNING_SINCE.load(Ordering::Relaxed);
        let waited = now_ms().saturating_sub(since);
        if since == 0 || waited <= limits.hard_time.as_millis() as u64 {
            suspect = None;
            continue;
        }
        // Past the hard limit by wall clock. On a loaded machine a starved process gets there
        // too, so it is a hang only if the input goes on burning CPU (another `time` of it),
        // or if it is still running after ten times the hard limit.
        let cpu = process_cpu();
        let (first_since, cpu0) = *suspect.get_or_insert((since, cpu));
        if first_since != since {
            suspect = Some((since, cpu));
            continue;
        }
        let burning = cpu.saturating_sub(cpu0) > limits.time;
        let forever = waited > 10 * limits.hard_time.as_millis() as u64;
        if burning || forever {
            alloc::set_ceiling(usize::MAX);
            let input = std::fs::read(current).unwrap_or_default();
            let _ = save_finding(target.name, "timeout", &input);
            eprintln!("fuzz: an input ran past {:?}; saved", limits.hard_time);
            let _ = std::io::stdout().flush();
            crate::targets::cleanup();
            std::process::exit(3);
        }
    }
    let stats = worker.join().unwrap_or_default();
    crate::targets::cleanup();
    stats
}

fn fuzz_loop(
    target: &Target,
    seconds: u64,
    max_execs: u64,
    seed: u64,
    current: &Path,
    limits: &Limits,
) -> Stats {
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::Ordering;
    let mut rng = Rng::new(seed);
    let mut corpus: Vec<Vec<u8>> = (target.seeds)();
    corpus.retain(|s| s.len() <= mutate::MAX_INPUT);
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut stats = Stats::default();
    let cur = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(current)
        .expect("current-input file");
    let run = target.run;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut last_report = Instant::now();
    let mut pending_seeds = corpus.clone().into_iter();
    while Instant::now() < deadline && stats.execs < max_execs {
        let input = match pending_seeds.next() {
            Some(seed) => seed,
            None => {
                let mut m = rng.pick(&corpus).clone();
                mutate::mutate(&mut m, &mut rng, target.shape, target.dict, &corpus);
                m
            }
        };
        let _ = cur.set_len(0);
        let _ = cur.write_all_at(&input, 0);
        alloc::reset_peak();
        let base = alloc::live();
        alloc::set_ceiling(base.saturating_add(limits.memory));
        let started = Instant::now();
        RUNNING_SINCE.store(now_ms().max(1), Ordering::Relaxed);
        let result = std::panic::catch_unwind(|| run(&input)).map_err(|p| panic_text(&*p));
        RUNNING_SINCE.store(0, Ordering::Relaxed);
        let elapsed = started.elapsed();
        alloc::set_ceiling(usize::MAX);
        stats.execs += 1;
        stats.max_peak = stats
            .max_peak
            .max(alloc::peak().saturating_sub(base) as u64);
        if elapsed > limits.time {
            // Over the limit by wall clock: run it again alone and judge by CPU time (the
            // machine is shared, so wall time alone would blame load).
            let cpu0 = process_cpu();
            let again = Instant::now();
            RUNNING_SINCE.store(now_ms().max(1), Ordering::Relaxed);
            let _ = std::panic::catch_unwind(|| run(&input));
            RUNNING_SINCE.store(0, Ordering::Relaxed);
            let cpu = process_cpu().saturating_sub(cpu0);
            if cpu > limits.time && again.elapsed() > limits.time {
                let _ = save_finding(target.name, "slow", &input);
                stats.findings += 1;
                eprintln!("fuzz: an input took {cpu:?} of CPU; saved");
            } else {
                stats.load_spikes += 1;
            }
        } else {
            stats.max_wall_us = stats.max_wall_us.max(elapsed.as_micros() as u64);
        }
        match result {
            Ok(key) if !seen.contains(&key) && corpus.len() < 4096 => {
                seen.insert(key);
                corpus.push(input);
            }
            Ok(_) => {}
            Err(msg) => {
                let _ = save_finding(target.name, "panic", &input);
                stats.findings += 1;
                eprintln!("fuzz: panic: {msg}");
            }
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            stats.corpus = corpus.len() as u64;
            println!("{}", stats.line());
            let _ = std::io::stdout().flush();
            last_report = Instant::now();
        }
    }
    stats.corpus = corpus.len() as u64;
    println!("{}", stats.line());
    let _ = std::io::stdout().flush();
    stats
}

/// What one supervised run of a target gave.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Summed counters of every worker.
    pub stats: Stats,
    /// Workers that died (each left a finding).
    pub crashes: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// Runs `target` for `seconds` (and at most `max_execs` inputs) in worker processes started
/// from `exe`, restarting after each crash and saving the input that caused it.
pub fn supervise(
    exe: &Path,
    target: &Target,
    seconds: u64,
    max_execs: u64,
    seed: u64,
) -> RunReport {
    let started = Instant::now();
    // The current-input file is rewritten before every input: on tmpfs when there is one.
    let state =
        crate::targets::scratch_root().join(format!("chef-sync-fuzz-state-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&state);
    let current = state.join(format!("{}.cur", target.name));
    let stderr_path = state.join(format!("{}.stderr", target.name));
    let mut report = RunReport::default();
    let mut restarts = 0u64;
    loop {
        let spent = started.elapsed().as_secs();
        if spent >= seconds || report.stats.execs >= max_execs || restarts > 50 {
            break;
        }
        let Ok(stderr_file) = std::fs::File::create(&stderr_path) else {
            break;
        };
        let child = std::process::Command::new(exe)
            .arg("worker")
            .arg(target.name)
            .arg((seconds - spent).to_string())
            .arg((max_execs - report.stats.execs).to_string())
            .arg(seed.wrapping_add(restarts).to_string())
            .arg(&current)
            // Temporary files of the library (and the harness's scratch directory) on tmpfs.
            .env("TMPDIR", crate::targets::scratch_root())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr_file)
            .spawn();
        let Ok(mut child) = child else {
            break;
        };
        let mut last = Stats::default();
        if let Some(out) = child.stdout.take() {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(s) = Stats::parse(&line) {
                    last = s;
                }
            }
        }
        let status = child.wait();
        report.stats.merge(&last);
        let ok = status.as_ref().is_ok_and(|s| s.success());
        let timed_out = status.as_ref().is_ok_and(|s| s.code() == Some(3));
        if timed_out {
            report.stats.findings += 1;
        }
        if !ok && !timed_out {
            let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let kind = if err.contains("overflowed its stack") {
                "stack-overflow"
            } else if err.contains("memory allocation of") {
                "oom"
            } else {
                "crash"
            };
            let input = std::fs::read(&current).unwrap_or_default();
            match save_finding(target.name, kind, &input) {
                Ok(p) => eprintln!("{}: {kind}: saved {}", target.name, p.display()),
                Err(e) => eprintln!("{}: {kind}: cannot save: {e}", target.name),
            }
            report.stats.findings += 1;
            report.crashes += 1;
            // The worker died; its scratch directory is left behind.
            if let Ok(id) = status.map(|_| child.id()) {
                let _ = std::fs::remove_dir_all(crate::targets::scratch_dir(id));
            }
        }
        restarts += 1;
        if ok {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&state);
    report.elapsed = started.elapsed();
    report
}
