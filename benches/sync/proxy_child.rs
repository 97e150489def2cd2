//! The delay proxies in a child process, so that the bench process's CPU, threads and peak RSS
//! are the client's own: the proxies buffer every byte in transit for the delay (tens of MB
//! with a thousand PUTs in flight) and run their own runtime.
//!
//! The child is this bench binary re-executed with [`CHILD_ARG`]. It speaks one line at a
//! time over its stdin/stdout: it prints the ports it listens on, then their URLs (known before goiardi starts,
//! so goiardi can hand out upload URLs through them), reads the upstream ports, starts
//! forwarding, says `started`, and exits when its stdin closes (when the parent drops it or
//! dies). Until then, each line `signed` it reads is answered with the signed requests each
//! proxy has forwarded so far (see `delay_proxy`).

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::delay_proxy::DelayProxy;

/// The argument that makes the bench binary a proxy child: `--proxy-child COUNT DELAY_MS`.
pub const CHILD_ARG: &str = "--proxy-child";

/// The line that asks the child for its signed request counts.
const SIGNED_ARG: &str = "signed";

/// Thread name of the child's runtime.
const THREAD_NAME: &str = "delay-proxy";

/// `count` delay proxies in a child process.
pub struct ProxyChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    urls: Vec<String>,
    ports: Vec<u16>,
}

impl ProxyChild {
    /// Starts the child and waits for its listening ports.
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
        let ports = parse_ports(&read_line(&mut stdout)?)?;
        let urls: Vec<String> = read_line(&mut stdout)?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if ports.len() != count || urls.len() != count {
            return Err(io::Error::other(format!(
                "proxy child bound {} ports, {count} asked",
                ports.len()
            )));
        }
        Ok(Self {
            child,
            stdin,
            stdout,
            urls,
            ports,
        })
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
        let stdin = self.stdin.as_mut().expect("child running");
        writeln!(stdin, "{}", line.join(" "))?;
        stdin.flush()?;
        match read_line(&mut self.stdout)?.as_str() {
            "started" => Ok(()),
            other => Err(io::Error::other(format!("proxy child: {other}"))),
        }
    }

    /// The signed requests the proxies have forwarded so far, all proxies together.
    #[allow(dead_code)] // benches/sync.rs does not ask
    pub fn signed_requests(&mut self) -> io::Result<u64> {
        let stdin = self.stdin.as_mut().expect("child running");
        writeln!(stdin, "{SIGNED_ARG}")?;
        stdin.flush()?;
        let counts = parse_counts(&read_line(&mut self.stdout)?)?;
        Ok(counts.iter().sum())
    }
}

impl Drop for ProxyChild {
    fn drop(&mut self) {
        // Closing its stdin ends the child; wait so that no zombie is left behind.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn read_line(from: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if from.read_line(&mut line)? == 0 {
        return Err(io::Error::other("proxy child closed its output"));
    }
    Ok(line.trim().to_owned())
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
    let count: usize = args.first().and_then(|a| a.parse().ok()).expect("count");
    let delay_ms: u64 = args.get(1).and_then(|a| a.parse().ok()).expect("delay");
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
    let upstreams = read_line(&mut input)
        .and_then(|l| parse_ports(&l))
        .expect("upstream ports");
    assert_eq!(upstreams.len(), count, "one upstream per proxy");
    let mut signed: Vec<Arc<AtomicU64>> = Vec::new();
    {
        let _context = runtime.enter();
        for (proxy, port) in proxies.iter_mut().zip(upstreams) {
            let upstream: SocketAddr = ([127, 0, 0, 1], port).into();
            signed.push(proxy.count_signed_requests());
            proxy.start(upstream, Duration::from_millis(delay_ms));
        }
    }
    writeln!(out, "started").expect("stdout");
    out.flush().expect("stdout");
    // Until the parent closes our stdin (or dies).
    let mut line = String::new();
    while input.read_line(&mut line).is_ok_and(|n| n > 0) {
        if line.trim() == SIGNED_ARG {
            let counts: Vec<String> = signed
                .iter()
                .map(|c| c.load(Ordering::Relaxed).to_string())
                .collect();
            writeln!(out, "{}", counts.join(" ")).expect("stdout");
            out.flush().expect("stdout");
        }
        line.clear();
    }
}
