//! What a running job sees: the service ([`Env`]), its log, its progress
//! and its cancellation ([`RunCtx`]), and the tasks that go beside it
//! (mirroring the cancellation into a flag, flushing the log).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::super::clock::Clock;
use super::super::{Failure, JobSummary};
use crate::config::Config;
use crate::serving::Serving;
use crate::store::Store;
/// What every job needs from the service.
#[derive(Clone)]
pub(crate) struct Env {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub serving: Arc<Serving>,
}

/// A running run's cancellation: `token` is cancelled by an admin cancel or
/// (as a child of the runner's shutdown token) by shutdown; `by_admin` says
/// which, for the record.
pub(super) struct RunStop {
    pub(super) token: CancellationToken,
    pub(super) by_admin: AtomicBool,
}

/// What a running job sees: the service, its log, its progress, its
/// cancellation.
pub struct RunCtx {
    pub run_id: i64,
    pub(crate) env: Env,
    log: Mutex<VecDeque<String>>,
    max_lines: usize,
    dropped: Mutex<u64>,
    progress: Mutex<Option<serde_json::Value>>,
    dirty: AtomicBool,
    stop: Arc<RunStop>,
    /// Mirrors `stop.token` for the blocking loops of the scraper and the
    /// trainer, which take a flag they can read between steps.
    flag: Arc<AtomicBool>,
    /// Set by the forecast log once it has brought the serving board up to
    /// date: the run's end then reads only the board's records again.
    pub(crate) board_built: Arc<AtomicBool>,
}

impl RunCtx {
    /// A run's context, its log empty, keeping the configured number of
    /// lines (`schedule.max_log_lines`).
    pub(super) fn new(run_id: i64, env: Env, stop: Arc<RunStop>) -> Self {
        let max_lines = env.config.schedule.max_log_lines;
        RunCtx {
            run_id,
            env,
            log: Mutex::new(VecDeque::new()),
            max_lines,
            dropped: Mutex::new(0),
            progress: Mutex::new(None),
            dirty: AtomicBool::new(false),
            stop,
            flag: Arc::new(AtomicBool::new(false)),
            board_built: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn log(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!(run = self.run_id, "{line}");
        self.record(line);
    }

    /// A problem the run carries on past: a WARN event, and a log line.
    pub fn warn(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::warn!(run = self.run_id, "{line}");
        self.record(line);
    }

    /// Add a line to the run's log only (the caller emitted its own event).
    pub(crate) fn record(&self, line: String) {
        let stamped = format!("{} {line}", self.env.clock.now().format("%H:%M:%S"));
        if let Ok(mut log) = self.log.lock() {
            log.push_back(stamped);
            while log.len() > self.max_lines {
                log.pop_front();
                if let Ok(mut d) = self.dropped.lock() {
                    *d += 1;
                }
            }
        }
        self.dirty.store(true, Ordering::Release);
    }

    pub fn set_progress(&self, p: serde_json::Value) {
        if let Ok(mut g) = self.progress.lock() {
            *g = Some(p);
        }
        self.dirty.store(true, Ordering::Release);
    }

    pub fn cancelled(&self) -> bool {
        self.stop.token.is_cancelled()
    }

    /// The run's cancellation, for async work (the scrape waits on it).
    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.stop.token
    }

    /// The cancellation as a plain flag for the trainer: its CPU-bound
    /// loops (between trees, on rayon threads) can only look, not wait.
    pub(crate) fn cancel_flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Why the run stopped early, for its record.
    pub(crate) fn stop_reason(&self, at: &str) -> String {
        if self.stop.by_admin.load(Ordering::Acquire) {
            format!("cancelled from the admin console; stopped at a safe point {at}")
        } else {
            format!("stopped by shutdown {at}")
        }
    }

    /// The failure of a run that stopped early at `at`.
    pub(crate) fn stopped(&self, at: &str, summary: Option<JobSummary>) -> Failure {
        Failure {
            error: self.stop_reason(at),
            summary,
            cancelled: true,
        }
    }

    pub(super) fn text(&self) -> String {
        let dropped = self.dropped.lock().map(|d| *d).unwrap_or(0);
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        let mut out = String::new();
        if dropped > 0 {
            out.push_str(&format!("[{dropped} earlier lines dropped]\n"));
        }
        for l in log {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }

    pub(super) fn snapshot(&self) -> (String, Option<serde_json::Value>) {
        let p = self.progress.lock().ok().and_then(|p| p.clone());
        (self.text(), p)
    }
}

/// Set the run's flag when its token is cancelled (for blocking loops).
pub(super) async fn mirror_cancel(ctx: Arc<RunCtx>) {
    ctx.stop.token.cancelled().await;
    ctx.flag.store(true, Ordering::Release);
}

/// Flush the log and progress to the database while the run goes.
pub(super) async fn flush_log(ctx: Arc<RunCtx>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if ctx.dirty.swap(false, Ordering::AcqRel) {
            let (log, progress) = ctx.snapshot();
            let store = ctx.env.store.clone();
            let id = ctx.run_id;
            let _ = crate::runtime::spawn_blocking(move || {
                store.update_run(id, &log, progress.as_ref())
            })
            .await;
        }
    }
}
