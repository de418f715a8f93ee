//! The one place that composes the process. Every way raincast runs
//! (`serve`, `serve --read-only`, `demo`, `replay` and the integration
//! tests) describes itself as a [`Launch`] (its settings, its database, its
//! clock and who moves the schedule) and goes through [`boot`]: runs left
//! running by a stopped process are marked interrupted, the bundled history
//! is loaded when the database needs it, and the state every part shares is
//! built. Those that answer HTTP then [`start`]: the background tasks (the
//! board poll, the schedule and its catch-up or the driven clock, the FTP
//! poller, the alert dispatcher, the metrics listener) and the server, each
//! stopped at a safe point by [`Running::stop`]. No other module starts a
//! long-lived task of the process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;
use crate::web::{AppState, metrics_router, router, server};

/// Who moves the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// `serve`: the cron schedule (after its catch-up) and the FTP poller
    /// run on their own, on the process's clock.
    Live,
    /// `demo`, `replay` and the time-machine tests: a
    /// [`crate::replay::Driver`] runs the same catch-up, schedule and FTP
    /// polls as it moves a simulated clock. With `demo`, every page says
    /// that it shows a replay of archived data, and which day.
    Driven { demo: bool },
    /// Tests: jobs run only when asked (the runner, the admin, the API).
    Manual,
}

/// What a command starts: its settings, its database, its clock (the
/// system's, a shifted one, or a simulated one) and its [`Timing`]. The BOM
/// source is in the settings (`bom.base_url`, `ftp.host`), pointed at a
/// local stand-in by `demo`, `replay` and the tests.
pub struct Launch {
    pub config: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub timing: Timing,
}

/// The start-up every command shares: mark the runs a stopped process left
/// running as interrupted (once their lease has lapsed), load the bundled
/// history when the database needs it, and build the shared state (the
/// champion, the board, the job runner, the metrics).
pub async fn boot(launch: Launch) -> anyhow::Result<AppState> {
    let Launch {
        config,
        store,
        clock,
        timing,
    } = launch;
    if !store.is_read_only() {
        let s = store.clone();
        let interrupted = crate::runtime::spawn_blocking(move || s.mark_interrupted()).await??;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "marked runs left running by a stopped process as interrupted"
            );
        }
    }
    load_history(&store, &config).await?;
    AppState::new(config, store, clock, timing)
}

/// Load the weatherAUS history bundled in the binary into an empty
/// database, when `database.bundled_history` is on (it does nothing to a
/// database that holds observations, or to a read-only replica).
async fn load_history(store: &Store, config: &Config) -> anyhow::Result<()> {
    if config.database.bundled_history && !store.is_read_only() {
        let store = store.clone();
        crate::runtime::spawn_blocking(move || {
            crate::ingest::weather_aus::load_bundled_into(&store)
        })
        .await??;
    }
    Ok(())
}

/// A running application (for `serve` and for tests).
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stop: finish in-flight requests, let running jobs reach a safe point.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.handle.await?
    }
}

/// Serve a booted `state` on an already bound listener (port 0 allowed),
/// with the background tasks its [`Timing`] calls for.
pub async fn start(listener: TcpListener, state: AppState) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    state.warn_admin_settings();
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let mut background = vec![state.metrics.spawn_upkeep()];
    // Notice new data, promotions (also by other processes) and a new day.
    {
        let state = state.clone();
        let every = Duration::from_secs(state.config.server.champion_poll_secs);
        background.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (serving, store) = (state.serving.clone(), state.store.clone());
                let now = state.clock.now();
                let stale = state.config.server.stale_after_days;
                let synced =
                    crate::runtime::spawn_blocking(move || serving.sync(&store, now, stale)).await;
                if let Ok(Err(e)) = synced {
                    tracing::warn!("refreshing the serving board: {e}");
                }
            }
        }));
    }
    if state.timing == Timing::Live && !state.store.is_read_only() {
        background.push(tokio::spawn(state.jobs.clone().run_schedule()));
        // The second channel: BOM's anonymous FTP products, when
        // `sources.order` names it (docs/ftp.md).
        if state.config.sources.uses(crate::config::Channel::Ftp) {
            background.push(tokio::spawn(crate::ingest::ftp::run_poller(
                state.store.clone(),
                state.config.clone(),
                state.clock.clone(),
                tokio_util::sync::CancellationToken::new(),
            )));
        }
    }
    // Webhook alerts: send what the forecast log queued (here or in
    // another process, before a restart too).
    if !state.store.is_read_only() {
        let dispatcher =
            crate::alerts::Dispatcher::new(state.store.clone(), state.config.alerts.clone())?;
        background.push(tokio::spawn(dispatcher.run()));
    }
    let limits = server::Limits {
        header_timeout: Duration::from_secs(state.config.server.header_timeout_secs),
        max_connections: state.config.server.max_connections,
        body_timeout: Duration::from_secs(state.config.server.body_timeout_secs),
        body_limit: state.config.server.body_limit_bytes,
    };
    server::fit_fd_limit(limits.max_connections);
    if let Some(metrics_bind) = state.config.server.metrics_bind {
        let l = TcpListener::bind(metrics_bind).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {metrics_bind} (server.metrics_bind): {e}")
        })?;
        tracing::info!(addr = %l.local_addr()?, "metrics listening");
        let app = metrics_router(state.clone());
        let mut rx2 = rx.clone();
        let metrics_limits = server::Limits {
            max_connections: 16,
            ..limits
        };
        background.push(tokio::spawn(async move {
            server::serve(l, app, metrics_limits, async move {
                let _ = rx2.changed().await;
            })
            .await;
        }));
    }
    let app = router(state.clone());
    let jobs = state.jobs.clone();
    let handle = tokio::spawn(async move {
        server::serve(listener, app, limits, async move {
            let _ = rx.changed().await;
        })
        .await;
        for b in background {
            b.abort();
        }
        jobs.shutdown().await;
        Ok(())
    });
    Ok(Running {
        addr,
        state,
        shutdown: tx,
        handle,
    })
}

/// `raincast serve` on its bound `listener`: run until SIGINT or SIGTERM.
pub async fn serve(listener: TcpListener, config: Config, store: Store) -> anyhow::Result<()> {
    let clock = Arc::new(crate::clock::SystemClock::from_env().map_err(anyhow::Error::msg)?);
    let read_only = store.is_read_only();
    let state = boot(Launch {
        config,
        store,
        clock,
        timing: Timing::Live,
    })
    .await?;
    let running = start(listener, state).await?;
    if read_only {
        tracing::info!(addr = %running.addr, db = %running.state.store.path().display(),
            "raincast listening as a read-only replica: no jobs, no writes");
    } else {
        tracing::info!(addr = %running.addr, "raincast listening");
    }
    shutdown_signal().await;
    running.stop().await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!(
        "shutdown signal received; finishing requests and stopping jobs at a safe point"
    );
}
