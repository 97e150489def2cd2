//! A lean fake's bookshelf: a bare HTTP/1.1 server (hyper, no wiremock) that takes the sandbox
//! uploads, `PUT /bookshelf/CHECKSUM`, on a thread and runtime of its own.
//!
//! It checks what erchef's bookshelf checks (the body's MD5 against the URL's checksum and
//! the `Content-MD5` header), hashes outside the fake's lock, and keeps only the checksum, so
//! that a benchmark's fake costs what a server costs: wiremock copies every request into
//! its own type and keeps a copy of each matched one. Scripted faults and the fake's delay
//! apply as on the wiremock side; it can also play a round trip of its own
//! (`FakeErchef::set_bookshelf_rtt`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::{State, apply_faults, check_upload};

/// A running bookshelf; it stops when dropped.
pub(super) struct Bookshelf {
    address: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Bookshelf {
    /// Listens on a free port of 127.0.0.1 and serves uploads into `state`.
    pub(super) fn start(state: Arc<Mutex<State>>) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("fake-bookshelf".into())
            .spawn(move || runtime.block_on(serve(listener, state, stopped)))?;
        Ok(Self {
            address,
            _stop: stop,
        })
    }

    /// Where it listens.
    pub(super) fn address(&self) -> SocketAddr {
        self.address
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            // The handshake's round trip: the client's first request waits in the socket.
            let rtt = state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .bookshelf_rtt;
            if !rtt.is_zero() {
                tokio::time::sleep(rtt).await;
            }
            let service = hyper::service::service_fn(move |req| answer(Arc::clone(&state), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().trim_start_matches('/').to_owned();
    let content_md5 = req
        .headers()
        .get("content-md5")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let arrived = tokio::time::Instant::now();
    let (delay, rtt, fault) = {
        let mut st = lock();
        (
            st.delay,
            st.bookshelf_rtt,
            apply_faults(&mut st, &method, &path),
        )
    };
    let (status, body) = match (fault, path.strip_prefix("bookshelf/")) {
        (Some(fault), _) => (fault.0, Some(fault.1)),
        (None, Some(checksum)) if method == "PUT" => match req.into_body().collect().await {
            Err(_) => (400, Some(json!({"error": ["incomplete body"]}))),
            Ok(collected) => {
                let bytes = collected.to_bytes();
                match check_upload(checksum, &bytes, content_md5.as_deref()) {
                    Ok(()) => {
                        lock().files.insert(checksum.to_owned(), Vec::new());
                        (204, None)
                    }
                    Err((status, body)) => (status, Some(body)),
                }
            }
        },
        (None, _) => (404, Some(json!({"error": ["not found"]}))),
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // The answer reaches the client one round trip after the request left it.
    tokio::time::sleep_until(arrived + rtt).await;
    Ok(response(status, body.as_ref()))
}

fn response(status: u16, body: Option<&Value>) -> Response<Full<Bytes>> {
    let mut builder =
        Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    let bytes = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    builder
        .body(Full::new(bytes))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
