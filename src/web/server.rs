//! The accept loop: HTTP/1.1 with a header-read timeout (which also closes
//! idle keep-alive connections) and a cap on open connections, so that slow
//! or idle clients cannot hold the server's sockets. `axum::serve` has
//! neither. Each request carries its peer address (`ConnectInfo`) for the
//! login throttle.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// What a connection may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's headers, and the longest keep-alive idle.
    pub header_timeout: Duration,
    /// Open connections at most; further ones wait in the backlog.
    pub max_connections: usize,
}

/// File descriptors the process needs beside its client connections: the
/// database and its journal, listeners, BOM connections, logs.
pub const FD_RESERVE: u64 = 64;

/// Make sure the process may open `max_connections` sockets plus
/// [`FD_RESERVE`]: raise the soft `RLIMIT_NOFILE` toward the hard one when
/// needed, and warn when even that is too low (new visitors would then be
/// refused by `accept` instead of waiting in the backlog).
pub fn fit_fd_limit(max_connections: usize) {
    #[cfg(unix)]
    {
        let need = max_connections as u64 + FD_RESERVE;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit write to or read from the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return;
        }
        if lim.rlim_cur < need {
            let raised = libc::rlimit {
                rlim_cur: need.min(lim.rlim_max),
                rlim_max: lim.rlim_max,
            };
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                lim = raised;
            }
        }
        if lim.rlim_cur < need {
            tracing::warn!(
                limit = lim.rlim_cur,
                need,
                "the open-file limit is below server.max_connections + {FD_RESERVE}; raise LimitNOFILE (systemd) or ulimit -n, or lower server.max_connections"
            );
        }
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
    let (stop_tx, stop_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut full_logged = false;
    loop {
        // Hold a slot before accepting: at the cap, new clients wait in the
        // kernel's backlog instead of costing a file descriptor each.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(s) => s,
            Err(_) => {
                if !full_logged {
                    tracing::warn!(
                        max = limits.max_connections,
                        "connection limit reached; new clients wait"
                    );
                    full_logged = true;
                }
                tokio::select! {
                    s = slots.clone().acquire_owned() => match s {
                        Ok(s) => s,
                        Err(_) => break,
                    },
                    _ = &mut shutdown => break,
                }
            }
        };
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
        full_logged = false;
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stop_rx = stop_rx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                app.clone().oneshot(req)
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
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    drop(close_rx);
    close_tx.closed().await;
}
