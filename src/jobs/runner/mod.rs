//! The job runner: claim the single-flight slot and the database's job
//! lease, execute a [`JobSpec`] with a live log, progress and a heartbeat,
//! record how it ended, and stop runs at a safe point on cancel or shutdown.
//!
//! What a running job sees ([`RunCtx`], its log and cancellation) is in
//! `ctx`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::clock::Clock;
use super::{JobError, JobKind, JobSpec, RunOutcome, RunStatus, Trigger};
use crate::config::Config;
use crate::serving::Serving;
use crate::store::{Store, StoreError};

mod ctx;

pub use ctx::RunCtx;
use ctx::{Env, RunStop, flush_log, mirror_cancel};

#[derive(Clone)]
pub struct Jobs {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) env: Env,
    running: Mutex<HashMap<JobKind, i64>>,
    /// Cancellation of the runs going in this process, by run id.
    stops: Mutex<HashMap<i64, Arc<RunStop>>>,
    /// Cancelled at shutdown; every run's token is a child of it.
    pub(super) shutdown: CancellationToken,
    pub(super) tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    /// Scheduled jobs due now, gathered by the scheduler.
    pub(super) due: Mutex<Vec<JobKind>>,
    /// When each kind last started a run here, as a sequence number (the
    /// scheduler lets the kind that waited longest go first).
    pub(super) started: Mutex<(u64, HashMap<JobKind, u64>)>,
    /// tokio-cron-scheduler, while it fires the schedule in real time.
    pub(super) cron: tokio::sync::Mutex<Option<tokio_cron_scheduler::JobScheduler>>,
}

/// Releases the in-process single-flight slot when the run ends, however it ends.
struct Slot {
    inner: Arc<Inner>,
    kind: JobKind,
    /// Set once the run is recorded; its cancellation is registered from then on.
    run_id: Option<i64>,
    /// The run lock, held while the run goes (see `Store::try_lock_runs`).
    lock: Option<crate::store::RunLock>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut r) = self.inner.running.lock() {
            r.remove(&self.kind);
        }
        if let (Some(id), Ok(mut stops)) = (self.run_id, self.inner.stops.lock()) {
            stops.remove(&id);
        }
    }
}

impl Jobs {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        serving: Arc<Serving>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                env: Env {
                    store,
                    config,
                    clock,
                    serving,
                },
                running: Mutex::new(HashMap::new()),
                stops: Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
                tasks: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
                due: Mutex::new(Vec::new()),
                started: Mutex::new((0, HashMap::new())),
                cron: tokio::sync::Mutex::new(None),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.env.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.env.clock
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.env.config
    }

    /// Runs going in this process, by kind.
    pub fn running(&self) -> Vec<(JobKind, i64)> {
        self.inner
            .running
            .lock()
            .map(|r| r.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    /// Start a run in the background and return its id at once.
    pub async fn start(&self, spec: impl Into<JobSpec>, trigger: Trigger) -> Result<i64, JobError> {
        let spec = spec.into();
        let (slot, run_id) = self.claim(spec.kind(), trigger).await?;
        let this = self.clone();
        self.inner.tasks.lock().await.spawn(async move {
            this.execute(slot, run_id, trigger, spec).await;
        });
        Ok(run_id)
    }

    /// Run to the end and report how it went.
    pub async fn run(
        &self,
        spec: impl Into<JobSpec>,
        trigger: Trigger,
    ) -> Result<RunOutcome, JobError> {
        let spec = spec.into();
        let (slot, run_id) = self.claim(spec.kind(), trigger).await?;
        Ok(self.execute(slot, run_id, trigger, spec).await)
    }

    /// Ask run `run_id` to stop at its next safe point (between
    /// station-months of a scrape, between trees of a training); it is then
    /// recorded as cancelled. Returns at once; the run ends on its own.
    pub fn cancel(&self, run_id: i64) -> Result<(), JobError> {
        let stops = self
            .inner
            .stops
            .lock()
            .map_err(|_| JobError::ShuttingDown)?;
        let stop = stops.get(&run_id).ok_or(JobError::NotRunning(run_id))?;
        stop.by_admin.store(true, Ordering::Release);
        stop.token.cancel();
        tracing::info!(run_id, "cancel requested");
        Ok(())
    }

    /// Wait for every run started with [`Jobs::start`] to end.
    pub async fn wait_idle(&self) {
        let mut tasks = self.inner.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }

    /// Stop at a safe point: the schedule stops firing, no new runs start,
    /// running ones are cancelled, and this waits for them to record how
    /// they ended.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.stop_cron().await;
        self.wait_idle().await;
    }

    /// Claim the slot and record the run's start.
    async fn claim(&self, kind: JobKind, trigger: Trigger) -> Result<(Slot, i64), JobError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(JobError::ShuttingDown);
        }
        {
            let mut running = self
                .inner
                .running
                .lock()
                .map_err(|_| JobError::ShuttingDown)?;
            if let Some((k, id)) = running.iter().next() {
                return Err(JobError::AlreadyRunning {
                    kind: k.as_str(),
                    run_id: *id,
                });
            }
            running.insert(kind, 0);
        }
        let mut slot = Slot {
            inner: self.inner.clone(),
            kind,
            run_id: None,
            lock: None,
        };
        let store = self.inner.env.store.clone();
        let lease = self.lease();
        // A run that could not write durably (the file deleted or replaced,
        // read-only, the disk full) is refused with that cause, unrecorded.
        let started = crate::runtime::spawn_blocking(move || {
            store.check_writable()?;
            match store.try_lock_runs()? {
                Some(lock) => store
                    .start_run_locked(kind, trigger, lease, &lock)
                    .map(|id| (id, Some(lock))),
                // Another live process runs a job: the lease names it.
                None => store.start_run(kind, trigger, lease).map(|id| (id, None)),
            }
        })
        .await
        .map_err(|e| JobError::Store(StoreError::Conflict(e.to_string())))?;
        let run_id = match started {
            Ok((id, lock)) => {
                slot.lock = lock;
                id
            }
            Err(StoreError::RunActive {
                kind: other,
                run_id,
            }) => {
                // Another process holds the job lease.
                return Err(JobError::AlreadyRunning {
                    kind: other.parse::<JobKind>().map_or("job", JobKind::as_str),
                    run_id,
                });
            }
            Err(e) => return Err(e.into()),
        };
        if let Ok(mut r) = self.inner.running.lock() {
            r.insert(kind, run_id);
        }
        // Cancellable from the moment its id is known, before its task is
        // even polled: the admin may press Cancel straight after Start.
        // A child of the shutdown token: a shutdown that began while this run
        // registered still stops it.
        if let Ok(mut stops) = self.inner.stops.lock() {
            stops.insert(
                run_id,
                Arc::new(RunStop {
                    token: self.inner.shutdown.child_token(),
                    by_admin: AtomicBool::new(false),
                }),
            );
        }
        slot.run_id = Some(run_id);
        if let Ok(mut s) = self.inner.started.lock() {
            s.0 += 1;
            let seq = s.0;
            s.1.insert(kind, seq);
        }
        Ok((slot, run_id))
    }

    /// How long the job lease lasts without a heartbeat.
    fn lease(&self) -> Duration {
        Duration::from_secs(self.inner.env.config.schedule.job_lease_secs)
    }

    async fn execute(
        &self,
        slot: Slot,
        run_id: i64,
        trigger: Trigger,
        spec: JobSpec,
    ) -> RunOutcome {
        let kind = spec.kind();
        let span = tracing::info_span!("job", run = run_id, kind = kind.as_str(), %trigger);
        self.execute_in_span(slot, run_id, spec)
            .instrument(span)
            .await
    }

    async fn execute_in_span(&self, slot: Slot, run_id: i64, spec: JobSpec) -> RunOutcome {
        let kind = spec.kind();
        let env = &self.inner.env;
        let stop = self
            .inner
            .stops
            .lock()
            .ok()
            .and_then(|stops| stops.get(&run_id).cloned())
            .unwrap_or_else(|| {
                Arc::new(RunStop {
                    token: self.inner.shutdown.child_token(),
                    by_admin: AtomicBool::new(false),
                })
            });
        let ctx = Arc::new(RunCtx::new(run_id, env.clone(), stop.clone()));
        let started = std::time::Instant::now();
        metrics::gauge!("raincast_job_running", "kind" => kind.as_str()).set(1.0);
        let helpers = [
            tokio::spawn(mirror_cancel(ctx.clone())),
            tokio::spawn(flush_log(ctx.clone())),
            tokio::spawn(heartbeat(env.store.clone(), run_id, self.lease())),
        ];
        ctx.log(format!("{kind} run {run_id} started"));
        let result = spec.execute(&ctx).await;
        if let Ok(mut stops) = self.inner.stops.lock() {
            stops.remove(&run_id);
        }
        for h in helpers {
            h.abort();
        }
        let (mut status, mut error, summary) = match result {
            Ok(summary) => (RunStatus::Succeeded, None, Some(summary)),
            Err(f) if f.cancelled => (RunStatus::Cancelled, Some(f.error), f.summary),
            Err(f) => (RunStatus::Failed, Some(write_cause(f.error)), f.summary),
        };
        // What the run wrote is only kept if the file is still the one
        // opened, writable, with room: otherwise say why it is lost.
        let store = env.store.clone();
        if let Ok(Err(e)) = crate::runtime::spawn_blocking(move || store.check_writable()).await {
            if status == RunStatus::Succeeded {
                status = RunStatus::Failed;
            }
            let e = e.to_string();
            if !error
                .as_deref()
                .is_some_and(|x| x.starts_with(cause_of(&e)))
            {
                error = Some(match error {
                    Some(first) => format!("{e} (the run itself: {first})"),
                    None => e,
                });
            }
        }
        let secs = started.elapsed().as_secs_f64();
        match (&error, status) {
            (None, _) => ctx.log(format!("succeeded in {secs:.1} s")),
            (Some(e), RunStatus::Failed) => ctx.warn(format!("failed after {secs:.1} s: {e}")),
            (Some(e), _) => ctx.log(format!("{status} after {secs:.1} s: {e}")),
        }
        let store = env.store.clone();
        let log = ctx.text();
        let stored = summary.as_ref().and_then(|s| serde_json::to_value(s).ok());
        let e2 = error.clone();
        let record = move || store.finish_run(run_id, status, e2.as_deref(), stored.as_ref(), &log);
        let record = Arc::new(record);
        let first = record.clone();
        let saved = crate::runtime::spawn_blocking(move || first()).await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::error!(run_id, "could not record the end of the run: {saved:?}");
            // A full disk or a locked file may clear: keep trying for a
            // while, so that the record names the real cause instead of
            // being closed as "interrupted" at the next start.
            tokio::spawn(async move {
                for _ in 0..120 {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let again = record.clone();
                    if let Ok(Ok(())) = crate::runtime::spawn_blocking(move || again()).await {
                        tracing::info!(run_id, "recorded the end of the run after all");
                        return;
                    }
                }
            });
        }
        // Recorded as ended, so free to run again: a trigger that sees this
        // run ended must not be refused because the slot is still held.
        drop(slot);
        // Pages show what the run changed (data, model, a failing source) at
        // once. A forecast log built the board from the run's data already:
        // only the run's record and the scores are new since.
        {
            let (store, serving) = (env.store.clone(), env.serving.clone());
            let now = env.clock.now();
            let stale = env.config.server.stale_after_days;
            let built = ctx.board_built.load(Ordering::Acquire);
            let refreshed = crate::runtime::spawn_blocking(move || {
                if built {
                    serving.refresh_records(&store)
                } else {
                    serving.sync(&store, now, stale)
                }
            });
            match refreshed.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(run_id, "refreshing the serving board: {e}"),
                Err(e) => tracing::warn!(run_id, "refreshing the serving board: {e}"),
            }
        }
        let k = kind.as_str();
        metrics::gauge!("raincast_job_running", "kind" => k).set(0.0);
        metrics::counter!("raincast_job_runs_total", "kind" => k, "status" => status.as_str())
            .increment(1);
        metrics::histogram!("raincast_job_duration_seconds", "kind" => k).record(secs);
        if status == RunStatus::Succeeded {
            metrics::gauge!("raincast_job_last_success_timestamp_seconds", "kind" => k)
                .set(env.clock.now().timestamp() as f64);
        }
        RunOutcome {
            run_id,
            status,
            error,
            summary,
        }
    }
}

/// The cause at the head of a write-check message (`disk full`, ...).
fn cause_of(message: &str) -> &str {
    message.split(':').next().unwrap_or(message)
}

/// A failure whose SQLite error names a cause of lost writes gets that
/// cause first, as the write checks word it: `disk full: ...`.
fn write_cause(error: String) -> String {
    let lower = error.to_ascii_lowercase();
    let cause = if lower.starts_with("disk full")
        || lower.starts_with("database read-only")
        || lower.starts_with("database file")
    {
        None
    } else if lower.contains("database or disk is full") || lower.contains("no space left") {
        Some("disk full")
    } else if lower.contains("readonly database") || lower.contains("read-only file system") {
        Some("database read-only")
    } else {
        None
    };
    match cause {
        Some(c) => format!("{c}: {error}"),
        None => error,
    }
}

/// Renew the job lease while the run goes, three times per lease.
async fn heartbeat(store: Store, run_id: i64, lease: Duration) {
    let mut tick = tokio::time::interval(lease / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        let store = store.clone();
        match crate::runtime::spawn_blocking(move || store.renew_lease(run_id, lease)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::error!(
                    run_id,
                    "this run lost the job lease (it lapsed and another process took it over)"
                );
                return;
            }
            other => tracing::warn!(run_id, "renewing the job lease: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_cause_of_lost_writes_first() {
        assert_eq!(
            write_cause("store: database or disk is full".into()),
            "disk full: store: database or disk is full"
        );
        assert_eq!(
            write_cause("attempt to write a readonly database".into()),
            "database read-only: attempt to write a readonly database"
        );
        assert_eq!(write_cause("BOM answered 503".into()), "BOM answered 503");
        // Already worded by the write check: left alone.
        assert_eq!(
            write_cause("disk full: 3 MiB free".into()),
            "disk full: 3 MiB free"
        );
        assert_eq!(cause_of("disk full: 3 MiB free"), "disk full");
    }
}
