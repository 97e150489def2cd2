//! The delay proxies in a child process, so that the bench process's CPU, threads and peak RSS
//! are the client's own: the proxies buffer every byte in transit for the delay (tens of MB
//! with a thousand PUTs in flight) and run their own runtime.
//!
//! The child is this bench binary re-executed with [`CHILD_ARG`] (`bench_child.rs`). It speaks
//! one line at a time over its stdin/stdout: it prints the ports it listens on, then their URLs
//! (known before goiardi starts, so goiardi can hand out upload URLs through them), reads the
//! upstream ports, starts forwarding, says `started`, and exits when its stdin closes (when the
//! parent drops it or dies). Until then, each line `signed` it reads is answered with the signed
//! requests each proxy has forwarded so far (see `delay_proxy`).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::bench_child::{self, BenchChild, answer_until_parent_closes, child_args};
use crate::delay_proxy::DelayProxy;

/// The argument that makes the bench binary a proxy child: `--proxy-child COUNT DELAY_MS`.
pub const CHILD_ARG: &str = "--proxy-child";

/// The line that asks the child for its signed request counts.
const SIGNED_ARG: &str = "signed";

/// Thread name of the child's runtime.
const THREAD_NAME: &str = "delay-proxy";

/// `count` delay proxies in a child process.
pub struct ProxyChild {
    child: BenchChild,
    urls: Vec<String>,
    ports: Vec<u16>,
}

impl ProxyChild {
    /// Starts the child and waits for its listening ports.
    pub fn spawn(count: usize, one_way: Duration) -> io::Result<Self> {
        let mut child = BenchChild::spawn(CHILD_ARG, count, one_way)?;
        let ports = parse_ports(&child.read_line()?)?;
        let urls: Vec<String> = child
            .read_line()?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if ports.len() != count || urls.len() != count {
            return Err(io::Error::other(format!(
                "proxy child bound {} ports, {count} asked",
                ports.len()
            )));
        }
        Ok(Self { child, urls, ports })
    }

    /// The ports the proxies listen on, one per server.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `http://127.0.0.1:PORT` of proxy `i`.
    pub fn url(&self, i: usize) -> String {
        self.urls[i].clone()
    }

    /// Makes proxy `i` forward to `upstreams[i]` (ports on 127.0.0.1); returns once they do.
    pub fn start(&mut self, upstreams: &[u16]) -> io::Result<()> {
        let line: Vec<String> = upstreams.iter().map(u16::to_string).collect();
        self.child.write_line(&line.join(" "))?;
        match self.child.read_line()?.as_str() {
            "started" => Ok(()),
            other => Err(io::Error::other(format!("proxy child: {other}"))),
        }
    }

    /// The signed requests the proxies have forwarded so far, all proxies together.
    #[allow(dead_code)] // benches/sync.rs does not ask
    pub fn signed_requests(&mut self) -> io::Result<u64> {
        self.child.write_line(SIGNED_ARG)?;
        let counts = parse_counts(&self.child.read_line()?)?;
        Ok(counts.iter().sum())
    }
}

fn parse_ports(line: &str) -> io::Result<Vec<u16>> {
    line.split_whitespace()
        .map(|p| p.parse().map_err(io::Error::other))
        .collect()
}

#[allow(dead_code)] // benches/sync.rs does not ask
fn parse_counts(line: &str) -> io::Result<Vec<u64>> {
    line.split_whitespace()
        .map(|p| p.parse().map_err(io::Error::other))
        .collect()
}

/// The child's main: `args` are what follows [`CHILD_ARG`] (count, one-way delay in ms).
pub fn run_child(args: &[String]) {
    let (count, one_way) = child_args(args);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()
        .expect("proxy runtime");
    let mut proxies: Vec<DelayProxy> = (0..count)
        .map(|_| runtime.block_on(DelayProxy::bind()).expect("proxy port"))
        .collect();
    let ports: Vec<String> = proxies.iter().map(|p| p.port().to_string()).collect();
    let urls: Vec<String> = proxies.iter().map(DelayProxy::url).collect();
    let mut out = io::stdout().lock();
    writeln!(out, "{}\n{}", ports.join(" "), urls.join(" ")).expect("stdout");
    out.flush().expect("stdout");
    let mut input = io::stdin().lock();
    let upstreams = bench_child::read_line(&mut input)
        .and_then(|l| parse_ports(&l))
        .expect("upstream ports");
    assert_eq!(upstreams.len(), count, "one upstream per proxy");
    let mut signed: Vec<Arc<AtomicU64>> = Vec::new();
    {
        let _context = runtime.enter();
        for (proxy, port) in proxies.iter_mut().zip(upstreams) {
            let upstream: SocketAddr = ([127, 0, 0, 1], port).into();
            signed.push(proxy.count_signed_requests());
            proxy.start(upstream, one_way);
        }
    }
    writeln!(out, "started").expect("stdout");
    out.flush().expect("stdout");
    answer_until_parent_closes(&mut input, &mut out, |line| {
        (line == SIGNED_ARG).then(|| {
            let counts: Vec<String> = signed
                .iter()
                .map(|c| c.load(Ordering::Relaxed).to_string())
                .collect();
            counts.join(" ")
        })
    });
}
