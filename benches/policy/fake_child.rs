//! The policy bench's servers in a child process: erchef-like fakes
//! ([`FakeErchef::start_lean`]), each behind a delaying proxy, so that the bench process's CPU
//! and peak RSS are the client's own (the fakes hash every upload and parse every document; the
//! proxies buffer every byte in transit for the delay).
//!
//! The child is the bench binary re-executed with [`CHILD_ARG`]. It starts the fakes and the
//! proxies, prints one line with the org URLs to push to (through the proxies; the fakes hand
//! out upload URLs through them too), and exits when its stdin closes (when the parent drops
//! [`FakeChild`] or dies).

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use chef_testkit::policy_server::{self, FakeErchef};

use crate::delay_proxy::DelayProxy;
use crate::proc_stats::{cpu_seconds, vm_hwm_kb};

/// The argument that makes the bench binary a fake child: `--fake-erchef-child COUNT DELAY_MS`.
pub const CHILD_ARG: &str = "--fake-erchef-child";

/// `count` fakes behind their proxies, in a child process.
pub struct FakeChild {
    child: Child,
    stdin: Option<ChildStdin>,
    urls: Vec<String>,
}

impl FakeChild {
    /// Starts the child and waits until its servers listen.
    pub fn spawn(count: usize, one_way: Duration) -> io::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(CHILD_ARG)
            .arg(count.to_string())
            .arg(one_way.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        if stdout.read_line(&mut line)? == 0 {
            return Err(io::Error::other("fake child closed its output"));
        }
        let urls: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        if urls.len() != count {
            return Err(io::Error::other(format!(
                "fake child started {} servers, {count} asked",
                urls.len()
            )));
        }
        Ok(Self { child, stdin, urls })
    }

    /// The org URLs, one per server (through its proxy).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// CPU seconds (user + system) the child has used so far: fakes and proxies.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }

    /// The child's peak RSS so far, in kB.
    pub fn peak_rss_kb(&self) -> u64 {
        vm_hwm_kb(&format!("/proc/{}/status", self.child.id()))
    }
}

impl Drop for FakeChild {
    fn drop(&mut self) {
        // Closing its stdin ends the child; wait so that no zombie is left behind.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The child's main: `args` are what follows [`CHILD_ARG`] (count, one-way delay in ms).
pub fn run_child(args: &[String]) {
    let count: usize = args.first().and_then(|a| a.parse().ok()).expect("count");
    let delay_ms: u64 = args.get(1).and_then(|a| a.parse().ok()).expect("delay");
    // The proxies' runtime; each wiremock server runs on a thread of its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fake-erchef")
        .enable_all()
        .build()
        .expect("runtime");
    let (_fakes, _proxies, urls) = runtime.block_on(async {
        let (mut fakes, mut proxies, mut urls) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..count {
            let fake = FakeErchef::start_lean().await;
            let mut proxy = DelayProxy::bind().await.expect("proxy port");
            proxy.start(*fake.server.address(), Duration::from_millis(delay_ms));
            fake.set_public_base(proxy.url());
            urls.push(format!(
                "{}/organizations/{}",
                proxy.url(),
                policy_server::ORG
            ));
            fakes.push(fake);
            proxies.push(proxy);
        }
        (fakes, proxies, urls)
    });
    let mut out = io::stdout().lock();
    writeln!(out, "{}", urls.join(" ")).expect("stdout");
    out.flush().expect("stdout");
    // Until the parent closes our stdin (or dies).
    let mut input = io::stdin().lock();
    let mut rest = String::new();
    while input.read_line(&mut rest).is_ok_and(|n| n > 0) {
        rest.clear();
    }
}
