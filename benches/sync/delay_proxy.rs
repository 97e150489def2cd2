//! A userspace TCP proxy that delays every chunk by a fixed time in each direction: a WAN link
//! to a distant region for servers on loopback (this kernel has no netem).
//!
//! Data read at time t is written at t + delay, in order, without holding later chunks back
//! behind the sleep of earlier ones: latency is added, throughput is not limited.

use std::net::SocketAddr;
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
}

impl DelayProxy {
    /// Binds a free port on 127.0.0.1 (known before the server behind it starts, so the server
    /// can hand out URLs through the proxy).
    pub async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(Self {
            addr: listener.local_addr()?,
            listener: Some(listener),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Forwards every connection to `upstream`, delaying each direction by `delay`.
    pub fn start(&mut self, upstream: SocketAddr, delay: Duration) {
        let listener = self.listener.take().expect("started once");
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, delay));
                    tokio::spawn(pump(sr, cw, delay));
                });
            }
        });
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Reads chunks and hands them to a writer that releases each one `delay` after it was read.
async fn pump<R, W>(mut from: R, mut to: W, delay: Duration)
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
        let due = Instant::now() + delay;
        let chunk = (n > 0).then(|| Bytes::copy_from_slice(&buf[..n]));
        let eof = chunk.is_none();
        if tx.send((due, chunk)).is_err() || eof {
            break;
        }
    }
    let _ = writer.await;
}
