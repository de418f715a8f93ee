//! The accept loop: HTTP/1.1 with a header-read timeout (which also closes
//! idle keep-alive connections), a body-read deadline (a stalled or slow
//! body gets 408 and the connection is closed), an up-front check of a
//! declared `Content-Length` against the body limit (413 at once, before
//! any body is read), and a cap on open connections at which the oldest
//! connection still waiting on its client (no request yet, or a body not
//! yet complete) makes way, so that slow or idle clients cannot hold the
//! server's sockets. `axum::serve` has none of these. Each request carries
//! its peer address (`ConnectInfo`) for the login throttle.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::AbortHandle;
use tower::ServiceExt;

/// What a connection may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's headers, and the longest keep-alive idle.
    pub header_timeout: Duration,
    /// Open connections at most. At the cap the oldest connection that has
    /// not sent a request is closed for a new one; when all are serving,
    /// new ones wait in the backlog.
    pub max_connections: usize,
    /// Time from a request's headers to the end of its body; a body still
    /// incomplete then gets 408 and the connection is closed.
    pub body_timeout: Duration,
    /// Largest body; a larger declared `Content-Length` gets 413 at once.
    pub body_limit: usize,
}

/// A request body that must end by a deadline. Past it, the next read
/// fails (the handler's extractor sees an error) and `timed_out` is set,
/// so that the answer becomes 408. On its last frame it marks the
/// connection as served (`asked`): until then the connection is waiting
/// on its client, and may be evicted at the cap like a silent one.
struct Deadline {
    inner: Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
    asked: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
}

impl hyper::body::Body for Deadline {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.asked.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Ready(Some(r)) => {
                if this.inner.is_end_stream() {
                    this.asked.store(true, Ordering::Release);
                }
                Poll::Ready(Some(r.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.timed_out.store(true, Ordering::Release);
                    Poll::Ready(Some(Err("the request body did not arrive in time".into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A refusal made here, before or instead of the router's answer: our JSON
/// error shape under `/api`, a page elsewhere; the connection is closed.
fn refusal(api: bool, error: crate::web::error::ApiError, title: &str) -> Response {
    let mut resp = if api {
        error.into_response()
    } else {
        crate::web::html::error_page(error.status(), title, &error.to_string())
    };
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The declared body length, when there is one and it parses.
fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// File descriptors the process needs beside its client connections: the
/// database and its journal, listeners, BOM connections, logs.
pub const FD_RESERVE: u64 = 64;

/// Make sure the process may open `max_connections` sockets plus
/// [`FD_RESERVE`]: raise the soft `RLIMIT_NOFILE` toward the hard one when
/// needed, and warn when even that is too low (new visitors would then be
/// refused by `accept` instead of waiting in the backlog).
pub fn fit_fd_limit(max_connections: usize) {
    let need = max_connections as u64 + FD_RESERVE;
    // Raises the soft limit toward the hard one (a no-op where there is no
    // such limit); if raising fails, the limit as it is.
    let limit = rlimit::increase_nofile_limit(need)
        .or_else(|_| rlimit::Resource::NOFILE.get().map(|(soft, _)| soft));
    let Ok(limit) = limit else {
        return;
    };
    if limit < need {
        tracing::warn!(
            limit,
            need,
            "the open-file limit is below server.max_connections + {FD_RESERVE}; raise LimitNOFILE (systemd) or ulimit -n, or lower server.max_connections"
        );
    }
}

/// Connections that have not sent a whole request yet (no headers, or a
/// body still arriving), oldest first: at the cap, the oldest of them makes
/// way for a new client. A slowloris attacker holds sockets exactly this
/// way, so an attack larger than the cap evicts itself instead of making
/// every visitor wait in the backlog for the header or body timeout.
/// Connections that have sent a whole request are never evicted.
#[derive(Default)]
struct Silent {
    next: AtomicU64,
    conns: Mutex<BTreeMap<u64, (AbortHandle, Arc<AtomicBool>)>>,
}

impl Silent {
    fn add(&self, handle: AbortHandle, asked: Arc<AtomicBool>, max: usize) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = self.conns.lock() {
            if c.len() > 2 * max {
                c.retain(|_, (h, a)| !h.is_finished() && !a.load(Ordering::Acquire));
            }
            c.insert(id, (handle, asked));
        }
        id
    }

    fn remove(&self, id: u64) {
        if let Ok(mut c) = self.conns.lock() {
            c.remove(&id);
        }
    }

    /// Close the oldest connection that never sent a request; `false` when
    /// there is none.
    fn evict_oldest(&self) -> bool {
        let Ok(mut c) = self.conns.lock() else {
            return false;
        };
        while let Some((_, (handle, asked))) = c.pop_first() {
            if handle.is_finished() || asked.load(Ordering::Acquire) {
                continue;
            }
            handle.abort();
            return true;
        }
        false
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then let open
/// connections finish their requests and return.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let silent = Arc::new(Silent::default());
    let (stop_tx, stop_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut full_logged = false;
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // A slot per open connection. At the cap, the oldest connection
        // that never sent a request makes way; when every one is serving,
        // this client waits for one to end (and the next ones wait in the
        // kernel's backlog, costing no file descriptor).
        let slot = match slots.clone().try_acquire_owned() {
            Ok(s) => s,
            Err(_) => {
                if !full_logged {
                    tracing::warn!(
                        max = limits.max_connections,
                        "connection limit reached; closing the oldest silent connections"
                    );
                    full_logged = true;
                }
                silent.evict_oldest();
                tokio::select! {
                    s = slots.clone().acquire_owned() => match s {
                        Ok(s) => s,
                        Err(_) => break,
                    },
                    _ = &mut shutdown => break,
                }
            }
        };
        if slots.available_permits() > limits.max_connections / 4 {
            full_logged = false;
        }
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stop_rx = stop_rx.clone();
        let close_rx = close_rx.clone();
        let asked = Arc::new(AtomicBool::new(false));
        let (id_tx, id_rx) = tokio::sync::oneshot::channel::<u64>();
        let task = {
            let asked = asked.clone();
            let silent = silent.clone();
            tokio::spawn(async move {
                // Leave the silent list however the connection ends.
                struct Leave(Arc<Silent>, Option<u64>);
                impl Drop for Leave {
                    fn drop(&mut self) {
                        if let Some(id) = self.1 {
                            self.0.remove(id);
                        }
                    }
                }
                let _leave = Leave(silent, id_rx.await.ok());
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let app = app.clone();
                    let asked = asked.clone();
                    async move {
                        let api = req.uri().path().starts_with("/api/");
                        if declared_length(req.headers())
                            .is_some_and(|n| n > limits.body_limit as u64)
                        {
                            // Refused before reading a byte of it; hyper
                            // closes the connection as the body is unread.
                            let e = crate::web::error::ApiError::TooLarge(limits.body_limit);
                            return Ok(refusal(api, e, "Request too large"));
                        }
                        let timed_out = Arc::new(AtomicBool::new(false));
                        let mut req = if req.body().is_end_stream() {
                            // No body to wait for (no timer either).
                            asked.store(true, Ordering::Release);
                            req.map(Body::new)
                        } else {
                            req.map(|inner| {
                                Body::new(Deadline {
                                    inner,
                                    sleep: Box::pin(tokio::time::sleep(limits.body_timeout)),
                                    asked: asked.clone(),
                                    timed_out: timed_out.clone(),
                                })
                            })
                        };
                        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                        let resp = app.oneshot(req).await;
                        if timed_out.load(Ordering::Acquire) {
                            tracing::debug!(%peer, "request body timed out");
                            let secs = limits.body_timeout.as_secs().max(1);
                            let e = crate::web::error::ApiError::BodyTimeout(secs);
                            return Ok(refusal(api, e, "Request timed out"));
                        }
                        resp
                    }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .keep_alive(true);
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, "connection: {e}");
                        }
                    }
                    _ = stop_rx.changed() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                drop(slot);
                drop(close_rx);
            })
        };
        let id = silent.add(task.abort_handle(), asked, limits.max_connections);
        let _ = id_tx.send(id);
    }
    drop(listener);
    let _ = stop_tx.send(());
    drop(close_rx);
    close_tx.closed().await;
}
