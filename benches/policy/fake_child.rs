//! The policy bench's servers in a child process: erchef-like fakes
//! ([`FakeErchef::start_lean`]), each behind a delaying proxy, their bookshelves (which take
//! the file uploads) playing the same round trip themselves; so that the bench process's CPU
//! and peak RSS are the client's own (the fakes hash every upload and parse every document;
//! the proxies buffer every byte in transit for the delay).
//!
//! The child is the bench binary re-executed with [`CHILD_ARG`] (`sync/bench_child.rs`). It
//! starts the fakes and the proxies, prints one line with the org URLs to push to (through the
//! proxies; the upload URLs the fakes hand out point at their bookshelves, or at the
//! bookshelves' own proxies with `POLICY_BENCH_SHELF_PROXY=1`), and exits when its stdin closes
//! (when the parent drops [`FakeChild`] or dies).

use std::io::{self, Write};
use std::time::Duration;

use chef_testkit::policy_server::{self, FakeErchef};

use crate::bench_child::{BenchChild, child_args, wait_for_parent};
use crate::delay_proxy::DelayProxy;
use crate::proc_stats::{cpu_seconds, vm_hwm_kb};

/// The argument that makes the bench binary a fake child: `--fake-erchef-child COUNT DELAY_MS`.
pub const CHILD_ARG: &str = "--fake-erchef-child";

/// `count` fakes behind their proxies, in a child process.
pub struct FakeChild {
    child: BenchChild,
    urls: Vec<String>,
}

impl FakeChild {
    /// Starts the child and waits until its servers listen.
    pub fn spawn(count: usize, one_way: Duration) -> io::Result<Self> {
        let mut child = BenchChild::spawn(CHILD_ARG, count, one_way)?;
        let urls: Vec<String> = child
            .read_line()?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if urls.len() != count {
            return Err(io::Error::other(format!(
                "fake child started {} servers, {count} asked",
                urls.len()
            )));
        }
        Ok(Self { child, urls })
    }

    /// The org URLs, one per server (through its proxy).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// CPU seconds (user + system) the child has used so far: fakes and proxies.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.child.pid()))
    }

    /// The child's peak RSS so far, in kB.
    pub fn peak_rss_kb(&self) -> u64 {
        vm_hwm_kb(&format!("/proc/{}/status", self.child.pid()))
    }
}

/// Whether the bookshelves sit behind delaying proxies (`POLICY_BENCH_SHELF_PROXY=1`, the
/// set-up before 2026-12-06 23:00) instead of playing the round trip themselves
/// ([`FakeErchef::set_bookshelf_rtt`]): the same times for the client, but every uploaded
/// byte crosses two more loopback hops and a proxy's buffers, on the cores the client uses.
fn shelf_behind_proxy() -> bool {
    std::env::var("POLICY_BENCH_SHELF_PROXY").is_ok_and(|v| v == "1")
}

/// The child's main: `args` are what follows [`CHILD_ARG`] (count, one-way delay in ms).
pub fn run_child(args: &[String]) {
    let (count, one_way) = child_args(args);
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
            proxy.start(*fake.server.address(), one_way);
            fake.set_public_base(proxy.url());
            // The uploads go to the fake's own bookshelf, which plays the round trip itself
            // (or, on request, sits behind a proxy of its own as the API does).
            let shelf = fake.bookshelf_address().expect("lean fake");
            if shelf_behind_proxy() {
                let mut shelf_proxy = DelayProxy::bind().await.expect("proxy port");
                shelf_proxy.start(shelf, one_way);
                fake.set_bookshelf_public_base(shelf_proxy.url());
                proxies.push(shelf_proxy);
            } else {
                fake.set_bookshelf_rtt(2 * one_way);
            }
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
    wait_for_parent(&mut io::stdin().lock());
}
