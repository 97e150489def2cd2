//! CPU time and peak RSS of a process, from `/proc` (Linux): what the benches print beside wall
//! time, for themselves (`/proc/self`) and for the servers or proxies they start.

/// utime + stime of a `/proc/PID/stat` file, in seconds (USER_HZ = 100 on Linux); the threads
/// of the process together. 0 if the file cannot be read.
pub fn cpu_seconds(stat_path: &str) -> f64 {
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

/// Resets this process's peak RSS to its current RSS (`5` to `/proc/self/clear_refs`), so that
/// the next [`vm_hwm_kb`] of `/proc/self/status` is the peak of what ran in between.
pub fn reset_peak_rss() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak RSS (the figure includes the setup): {e}");
    }
}

/// Peak resident set size (`VmHWM`) in a `/proc/PID/status` file, in kB; 0 if unreadable.
pub fn vm_hwm_kb(status_path: &str) -> u64 {
    std::fs::read_to_string(status_path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
