//! A userspace TCP proxy that delays every chunk by a fixed time in each direction: a WAN link
//! to a distant region for servers on loopback (this kernel has no netem).
//!
//! Data read at time t is written at t + delay, in order, without holding later chunks back
//! behind the sleep of earlier ones: latency is added, throughput is not limited.
//!
//! On request ([`DelayProxy::count_signed_requests`]) it also counts the signed requests
//! passing from the client to the server: the `X-Ops-Sign` header lines in that direction,
//! one per Chef-signed request (a JSON body cannot hold one: it escapes CR and LF).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A proxy listening on 127.0.0.1; it forwards once [`start`](Self::start)ed, and stops when
/// the runtime does.
pub struct DelayProxy {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    signed: Option<Arc<AtomicU64>>,
}

impl DelayProxy {
    /// Binds a free port on 127.0.0.1 (known before the server behind it starts, so the server
    /// can hand out URLs through the proxy).
    pub async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(Self {
            addr: listener.local_addr()?,
            listener: Some(listener),
            signed: None,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Counts the signed requests the proxy forwards once [`start`](Self::start)ed, into the
    /// counter it returns.
    pub fn count_signed_requests(&mut self) -> Arc<AtomicU64> {
        Arc::clone(self.signed.get_or_insert_with(Arc::default))
    }

    /// Forwards every connection to `upstream`, delaying each direction by `delay`.
    pub fn start(&mut self, upstream: SocketAddr, delay: Duration) {
        let listener = self.listener.take().expect("started once");
        let signed = self.signed.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let signed = signed.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, delay, signed.map(SignCounter::new)));
                    tokio::spawn(pump(sr, cw, delay, None));
                });
            }
        });
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Counts `X-Ops-Sign` header lines in a byte stream read chunk by chunk (a line may span
/// two chunks).
struct SignCounter {
    total: Arc<AtomicU64>,
    /// The last bytes of the stream so far, fewer than [`Self::NEEDLE`]'s: the start of a
    /// header line the next chunk may complete.
    tail: Vec<u8>,
}

impl SignCounter {
    /// What starts the header line (HTTP/1.1 header names are case-insensitive).
    const NEEDLE: &[u8] = b"\r\nx-ops-sign:";

    fn new(total: Arc<AtomicU64>) -> Self {
        Self {
            total,
            tail: Vec::new(),
        }
    }

    fn scan(&mut self, chunk: &[u8]) {
        self.tail.extend_from_slice(chunk);
        let found = self
            .tail
            .windows(Self::NEEDLE.len())
            .filter(|w| w.eq_ignore_ascii_case(Self::NEEDLE))
            .count();
        self.total.fetch_add(found as u64, Ordering::Relaxed);
        let keep = self.tail.len().min(Self::NEEDLE.len() - 1);
        self.tail.drain(..self.tail.len() - keep);
    }
}

/// Reads chunks and hands them to a writer that releases each one `delay` after it was read;
/// counts the signed requests among them into `signed`, if given.
async fn pump<R, W>(mut from: R, mut to: W, delay: Duration, mut signed: Option<SignCounter>)
where
    R: AsyncReadExt + Unpin + Send + 'static,
    W: AsyncWriteExt + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Option<Bytes>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if let Some(counter) = signed.as_mut() {
            counter.scan(&buf[..n]);
        }
        let due = Instant::now() + delay;
        let chunk = (n > 0).then(|| Bytes::copy_from_slice(&buf[..n]));
        let eof = chunk.is_none();
        if tx.send((due, chunk)).is_err() || eof {
            break;
        }
    }
    let _ = writer.await;
}
