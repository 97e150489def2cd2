//! CPU seconds of the bench process and of the goiardi servers, from `/proc/<pid>/stat`
//! (shared by `benches/sync.rs` and `benches/objects.rs`; needs `proc_stats` beside it).

use chef_testkit::fleet::Fleet;

use crate::proc_stats::cpu_seconds;

/// CPU seconds (user + system) used so far by the client (this process; run the proxies in a
/// child process for the figure to be the client's alone) and by the goiardi servers.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    /// This process.
    pub own: f64,
    /// The goiardi servers of `regions`, summed.
    pub goiardi: f64,
}

impl Cpu {
    /// What this process and the servers of `regions` have used so far.
    pub fn now(fleet: &Fleet, regions: &[&str]) -> Self {
        let goiardi = regions
            .iter()
            .filter_map(|r| fleet.server(r).pid())
            .map(|pid| cpu_seconds(&format!("/proc/{pid}/stat")))
            .sum();
        Self {
            own: cpu_seconds("/proc/self/stat"),
            goiardi,
        }
    }

    /// CPU used since `self` (goiardi restarts reset its counters; measured after restarts).
    pub fn delta(self, fleet: &Fleet, regions: &[&str]) -> Self {
        let now = Self::now(fleet, regions);
        Self {
            own: now.own - self.own,
            goiardi: now.goiardi - self.goiardi,
        }
    }
}
