//! Background jobs: scrape, train, refresh. The schedule, the admin page, the
//! CLI and the tests all call [`Jobs::run`] / [`Jobs::start`], which record
//! every run (trigger, times, status, error, captured log, summary), allow one
//! run of any kind at a time (in this process, and across processes through
//! the database's job lease), and stop at a safe point on shutdown.

pub use crate::clock;
pub mod schedule;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::ingest::bom::{self, ScrapePlan, ScrapeReport};
use crate::registry;
use crate::serving::Serving;
use crate::store::{RunStatus, Store, StoreError};
use crate::train::WindowOverride;
use clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Scrape,
    Train,
    Refresh,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [JobKind::Scrape, JobKind::Train, JobKind::Refresh];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Scrape => "scrape",
            JobKind::Train => "train",
            JobKind::Refresh => "refresh",
        }
    }
}

impl std::str::FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown job `{s}`: expected scrape, train or refresh"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Schedule,
    Admin,
    Cli,
    CatchUp,
    Retry,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Admin => "admin",
            Trigger::Cli => "cli",
            Trigger::CatchUp => "catch-up",
            Trigger::Retry => "retry",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Refused: a run that conflicts is going. Carries its id.
    #[error("a {kind} run is already going (run {run_id}); try again when it has finished")]
    AlreadyRunning { kind: &'static str, run_id: i64 },
    #[error("shutting down; no new runs start")]
    ShuttingDown,
    /// Cancel refused: the run is not going in this process.
    #[error("run {0} is not running in this process, so there is nothing to cancel")]
    NotRunning(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to run once at start, in order.
#[derive(Debug, Clone)]
pub struct CatchUp {
    pub kinds: Vec<JobKind>,
    /// A first training was put up front (no champion yet).
    pub first_model: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub run_id: i64,
    pub status: RunStatus,
    pub error: Option<String>,
    pub summary: Option<serde_json::Value>,
}

/// A failed job body: the error, and whatever summary it has.
struct Failure {
    error: String,
    summary: Option<serde_json::Value>,
    cancelled: bool,
}

impl Failure {
    fn new(error: impl std::fmt::Display) -> Self {
        Self {
            error: error.to_string(),
            summary: None,
            cancelled: false,
        }
    }
}

/// A running run's stop flags: `flag` is what the job's loops look at (set
/// by a cancel or by shutdown); `by_admin` says who asked.
struct StopFlags {
    flag: Arc<AtomicBool>,
    by_admin: AtomicBool,
}

/// What a running job sees: its log, its progress, the stop flag.
pub struct RunCtx {
    pub run_id: i64,
    log: Mutex<VecDeque<String>>,
    max_lines: usize,
    dropped: Mutex<u64>,
    progress: Mutex<Option<serde_json::Value>>,
    dirty: AtomicBool,
    /// This run's own stop flag: set by [`Jobs::cancel`] or by shutdown.
    cancel: Arc<AtomicBool>,
    stop: Arc<StopFlags>,
    clock: Arc<dyn Clock>,
}

impl RunCtx {
    pub fn log(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!(run = self.run_id, "{line}");
        let stamped = format!("{} {line}", self.clock.now().format("%H:%M:%S"));
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
        self.cancel.load(Ordering::Acquire)
    }

    /// Why the run stopped early, for its record.
    fn stop_reason(&self, at: &str) -> String {
        if self.stop.by_admin.load(Ordering::Acquire) {
            format!("cancelled from the admin console; stopped at a safe point {at}")
        } else {
            format!("stopped by shutdown {at}")
        }
    }

    fn text(&self) -> String {
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

    fn snapshot(&self) -> (String, Option<serde_json::Value>) {
        let p = self.progress.lock().ok().and_then(|p| p.clone());
        (self.text(), p)
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type Body =
    Box<dyn FnOnce(Jobs, Arc<RunCtx>) -> BoxFuture<Result<serde_json::Value, Failure>> + Send>;

fn body_for(kind: JobKind) -> Body {
    match kind {
        JobKind::Scrape => Box::new(|j, c| Box::pin(async move { j.scrape_body(&c).await })),
        JobKind::Train => Box::new(|j, c| Box::pin(async move { j.train_body(&c).await })),
        JobKind::Refresh => Box::new(|j, c| Box::pin(async move { j.refresh_body(&c).await })),
    }
}

#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    serving: Arc<Serving>,
    running: Mutex<HashMap<JobKind, i64>>,
    /// Stop flags of the runs going in this process, by run id.
    stops: Mutex<HashMap<i64, Arc<StopFlags>>>,
    shutdown: Arc<AtomicBool>,
    /// Wakes sleepers (retry backoff) when shutdown starts.
    stopping: tokio::sync::Notify,
    tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
}

/// Releases the in-process single-flight slot when the run ends, however it ends.
struct Slot {
    inner: Arc<Inner>,
    kind: JobKind,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut r) = self.inner.running.lock() {
            r.remove(&self.kind);
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
                store,
                config,
                clock,
                serving,
                running: Mutex::new(HashMap::new()),
                stops: Mutex::new(HashMap::new()),
                shutdown: Arc::new(AtomicBool::new(false)),
                stopping: tokio::sync::Notify::new(),
                tasks: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Runs going in this process, by kind.
    pub fn running(&self) -> Vec<(JobKind, i64)> {
        self.inner
            .running
            .lock()
            .map(|r| r.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    /// Claim the slot and record the run's start.
    async fn claim(&self, kind: JobKind, trigger: Trigger) -> Result<(Slot, i64), JobError> {
        if self.inner.shutdown.load(Ordering::Acquire) {
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
        let slot = Slot {
            inner: self.inner.clone(),
            kind,
        };
        let store = self.inner.store.clone();
        let lease = self.lease();
        let started = crate::store::spawn_blocking(move || {
            store.start_run(kind.as_str(), trigger.as_str(), lease)
        })
        .await
        .map_err(|e| JobError::Store(StoreError::Conflict(e.to_string())))?;
        let run_id = match started {
            Ok(id) => id,
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
        Ok((slot, run_id))
    }

    /// How long the job lease lasts without a heartbeat.
    fn lease(&self) -> Duration {
        Duration::from_secs(self.inner.config.schedule.job_lease_secs)
    }

    /// Start a run in the background and return its id at once.
    pub async fn start(&self, kind: JobKind, trigger: Trigger) -> Result<i64, JobError> {
        let (slot, run_id) = self.claim(kind, trigger).await?;
        let this = self.clone();
        self.inner.tasks.lock().await.spawn(async move {
            this.execute(slot, run_id, kind, body_for(kind)).await;
        });
        Ok(run_id)
    }

    /// Start a training with explicit windows (the CLI's `--tune-from/--test-from`).
    pub async fn start_train(
        &self,
        over: WindowOverride,
        trigger: Trigger,
    ) -> Result<i64, JobError> {
        let (slot, run_id) = self.claim(JobKind::Train, trigger).await?;
        let this = self.clone();
        let body: Body =
            Box::new(move |j, c| Box::pin(async move { j.train_with(&c, over).await }));
        self.inner.tasks.lock().await.spawn(async move {
            this.execute(slot, run_id, JobKind::Train, body).await;
        });
        Ok(run_id)
    }

    /// When the schedule next runs `kind` (UTC), from the configured cron
    /// expression and the clock; `None` when that job is not scheduled.
    pub fn next_run(&self, kind: JobKind) -> Option<chrono::DateTime<chrono::Utc>> {
        let now = self.inner.clock.now();
        schedule::Schedule::new(&self.inner.config.schedule, now)
            .ok()?
            .next_of(kind, now)
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
        stop.flag.store(true, Ordering::Release);
        tracing::info!(run_id, "cancel requested");
        Ok(())
    }

    /// Wait for every run started with [`Jobs::start`] to end.
    pub async fn wait_idle(&self) {
        let mut tasks = self.inner.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }

    /// Run to the end and report how it went.
    pub async fn run(&self, kind: JobKind, trigger: Trigger) -> Result<RunOutcome, JobError> {
        let (slot, run_id) = self.claim(kind, trigger).await?;
        Ok(self.execute(slot, run_id, kind, body_for(kind)).await)
    }

    async fn execute(&self, slot: Slot, run_id: i64, kind: JobKind, body: Body) -> RunOutcome {
        let stop = Arc::new(StopFlags {
            flag: Arc::new(AtomicBool::new(self.inner.shutdown.load(Ordering::Acquire))),
            by_admin: AtomicBool::new(false),
        });
        if let Ok(mut stops) = self.inner.stops.lock() {
            stops.insert(run_id, stop.clone());
        }
        // A shutdown that began while this run registered still stops it.
        if self.inner.shutdown.load(Ordering::Acquire) {
            stop.flag.store(true, Ordering::Release);
        }
        let ctx = Arc::new(RunCtx {
            run_id,
            log: Mutex::new(VecDeque::new()),
            max_lines: self.inner.config.schedule.max_log_lines,
            dropped: Mutex::new(0),
            progress: Mutex::new(None),
            dirty: AtomicBool::new(false),
            cancel: stop.flag.clone(),
            stop: stop.clone(),
            clock: self.inner.clock.clone(),
        });
        let started = std::time::Instant::now();
        metrics::gauge!("raincast_job_running", "kind" => kind.as_str()).set(1.0);
        // Flush the log and progress to the database while the run goes.
        let flusher = {
            let ctx = ctx.clone();
            let store = self.inner.store.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                loop {
                    tick.tick().await;
                    if ctx.dirty.swap(false, Ordering::AcqRel) {
                        let (log, progress) = ctx.snapshot();
                        let store = store.clone();
                        let id = ctx.run_id;
                        let _ = crate::store::spawn_blocking(move || {
                            store.update_run(id, &log, progress.as_ref())
                        })
                        .await;
                    }
                }
            })
        };
        // Renew the job lease while the run goes, three times per lease.
        let heartbeat = {
            let store = self.inner.store.clone();
            let lease = self.lease();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(lease / 3);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let store = store.clone();
                    match crate::store::spawn_blocking(move || store.renew_lease(run_id, lease))
                        .await
                    {
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
            })
        };
        ctx.log(format!("{} run {run_id} started", kind.as_str()));
        let result = body(self.clone(), ctx.clone()).await;
        if let Ok(mut stops) = self.inner.stops.lock() {
            stops.remove(&run_id);
        }
        flusher.abort();
        heartbeat.abort();
        let (status, error, summary) = match result {
            Ok(summary) => (RunStatus::Succeeded, None, Some(summary)),
            Err(f) if f.cancelled => (RunStatus::Cancelled, Some(f.error), f.summary),
            Err(f) => (RunStatus::Failed, Some(f.error), f.summary),
        };
        let secs = started.elapsed().as_secs_f64();
        match &error {
            None => ctx.log(format!("succeeded in {secs:.1} s")),
            Some(e) => ctx.log(format!("{} after {secs:.1} s: {e}", status.as_str())),
        }
        let store = self.inner.store.clone();
        let log = ctx.text();
        let (e2, s2) = (error.clone(), summary.clone());
        let saved = crate::store::spawn_blocking(move || {
            store.finish_run(run_id, status, e2.as_deref(), s2.as_ref(), &log)
        })
        .await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::error!(run_id, "could not record the end of the run: {saved:?}");
        }
        // Pages show what the run changed (data, model, a failing source) at once.
        {
            let (store, serving) = (self.inner.store.clone(), self.inner.serving.clone());
            let today = self.inner.clock.today();
            let stale = self.inner.config.server.stale_after_days;
            if let Ok(Err(e)) =
                crate::store::spawn_blocking(move || serving.sync(&store, today, stale)).await
            {
                tracing::warn!(run_id, "refreshing the serving board: {e}");
            }
        }
        let k = kind.as_str();
        metrics::gauge!("raincast_job_running", "kind" => k).set(0.0);
        metrics::counter!("raincast_job_runs_total", "kind" => k, "status" => status.as_str())
            .increment(1);
        metrics::histogram!("raincast_job_duration_seconds", "kind" => k).record(secs);
        if status == RunStatus::Succeeded {
            metrics::gauge!("raincast_job_last_success_timestamp_seconds", "kind" => k)
                .set(self.inner.clock.now().timestamp() as f64);
        }
        drop(slot);
        RunOutcome {
            run_id,
            status,
            error,
            summary,
        }
    }

    async fn scrape_body(&self, ctx: &Arc<RunCtx>) -> Result<serde_json::Value, Failure> {
        let report = self.scrape_step(ctx).await?;
        let summary = serde_json::to_value(&report).unwrap_or_default();
        if report.failed() && !ctx.cancelled() {
            return Err(Failure {
                error: report.message.clone(),
                summary: Some(summary),
                cancelled: false,
            });
        }
        if ctx.cancelled() {
            return Err(Failure {
                error: ctx.stop_reason("after the scrape"),
                summary: Some(summary),
                cancelled: true,
            });
        }
        self.forecast_and_verify(ctx).await;
        Ok(summary)
    }

    async fn scrape_step(&self, ctx: &Arc<RunCtx>) -> Result<ScrapeReport, Failure> {
        let plan = ScrapePlan::default_for(self.inner.clock.bom_today());
        self.scrape_plan(ctx, &plan).await
    }

    /// Scrape a given plan inside a run (the CLI's `--from/--to` backfill).
    async fn scrape_plan(
        &self,
        ctx: &Arc<RunCtx>,
        plan: &ScrapePlan,
    ) -> Result<ScrapeReport, Failure> {
        let today = self.inner.clock.bom_today();
        let log_ctx = ctx.clone();
        let log = move |line: String| log_ctx.log(line);
        let report = bom::scrape(
            &self.inner.store,
            &self.inner.config.bom,
            plan,
            today,
            &log,
            &ctx.cancel,
        )
        .await
        .map_err(Failure::new)?;
        metrics::counter!("raincast_scrape_rows_total", "change" => "inserted")
            .increment(report.totals.rows_inserted);
        metrics::counter!("raincast_scrape_rows_total", "change" => "updated")
            .increment(report.totals.rows_updated);
        metrics::counter!("raincast_scrape_files_rejected_total")
            .increment(report.totals.files_rejected);
        ctx.log(report.message.clone());
        Ok(report)
    }

    async fn train_body(&self, ctx: &Arc<RunCtx>) -> Result<serde_json::Value, Failure> {
        self.train_with(ctx, WindowOverride::default()).await
    }

    async fn train_with(
        &self,
        ctx: &Arc<RunCtx>,
        over: WindowOverride,
    ) -> Result<serde_json::Value, Failure> {
        let store = self.inner.store.clone();
        let cfg = self.inner.config.clone();
        let cfg2 = cfg.clone();
        let c = ctx.clone();
        let result = crate::store::spawn_blocking(move || {
            let log = |line: String| c.log(line);
            let progress = |done: usize, total: usize| {
                c.set_progress(
                    serde_json::to_value(crate::train::TreeProgress {
                        trees_done: done,
                        trees_total: total,
                    })
                    .unwrap_or_default(),
                );
                if done == total || done.is_multiple_of(10) {
                    c.log(format!("{done}/{total} trees"));
                }
            };
            crate::train::train_and_register(
                &store,
                &cfg.model,
                over,
                Some(c.run_id),
                &log,
                &progress,
                &c.cancel,
            )
        })
        .await
        .map_err(Failure::new)?;
        match result {
            Ok(report) => {
                let (keep_d, keep_c) = (cfg2.model.keep_deployed, cfg2.model.keep_challengers);
                let store = self.inner.store.clone();
                match crate::store::spawn_blocking(move || registry::prune(&store, keep_d, keep_c))
                    .await
                {
                    Ok(Ok(pruned)) if !pruned.is_empty() => ctx.log(format!(
                        "retention: pruned the model files of versions {pruned:?} \
                         (keeping the last {keep_d} deployed and {keep_c} challengers)"
                    )),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => ctx.log(format!("retention: pruning failed: {e}")),
                    Err(e) => ctx.log(format!("retention: pruning failed: {e}")),
                }
                if report.promoted {
                    let store = self.inner.store.clone();
                    let serving = self.inner.serving.clone();
                    let _ = crate::store::spawn_blocking(move || serving.refresh(&store)).await;
                    self.forecast_and_verify(ctx).await;
                }
                Ok(serde_json::to_value(&report).unwrap_or_default())
            }
            Err(crate::train::TrainError::Forest(crate::forest::ForestError::Cancelled)) => {
                Err(Failure {
                    error: ctx.stop_reason("before the model was registered"),
                    summary: None,
                    cancelled: true,
                })
            }
            Err(e) => Err(Failure::new(e)),
        }
    }

    async fn refresh_body(&self, ctx: &Arc<RunCtx>) -> Result<serde_json::Value, Failure> {
        let scrape = self.scrape_body(ctx).await?;
        let train = self.train_body(ctx).await.map_err(|mut f| {
            f.summary = Some(serde_json::json!({"scrape": scrape, "train": f.summary}));
            f
        })?;
        Ok(serde_json::json!({"scrape": scrape, "train": train}))
    }

    /// Bring the serving board up to date, log each station's live forecast
    /// (issued before its day's observation can exist), then score every
    /// logged forecast whose outcome the data now shows. Failures are logged
    /// per station, never dropped.
    pub async fn forecast_and_verify(&self, ctx: &RunCtx) {
        let store = self.inner.store.clone();
        let serving = self.inner.serving.clone();
        let today = self.inner.clock.today();
        let bom_today = self.inner.clock.bom_today();
        let issued_at = self.inner.clock.now();
        let stale = self.inner.config.server.stale_after_days;
        let result = crate::store::spawn_blocking(move || {
            serving.sync(&store, today, stale)?;
            let board = serving.board();
            let (mut logged, mut not_live, mut problems) = (0, 0, Vec::new());
            if serving.get().is_some() {
                for entry in &board.stations {
                    let Some(f) = &entry.forecast else {
                        if entry.latest.is_some() {
                            problems.push(format!(
                                "{}: no forecast from its newest observation",
                                entry.station.location
                            ));
                        }
                        continue;
                    };
                    // Live: the forecast day has not ended in eastern
                    // Australia, so its observation cannot exist yet.
                    if f.forecast_date < bom_today {
                        not_live += 1;
                        continue;
                    }
                    match store.log_prediction(
                        &f.location,
                        f.observation_date,
                        f.model_version,
                        f.probability,
                        f.threshold,
                        issued_at,
                    ) {
                        Ok(true) => logged += 1,
                        Ok(false) => {}
                        Err(e) => problems.push(format!("{}: {e}", f.location)),
                    }
                }
            }
            let scored = store.score_predictions()?;
            Ok::<_, StoreError>((logged, not_live, scored, problems))
        })
        .await;
        match result {
            Ok(Ok((logged, not_live, scored, problems))) => {
                ctx.log(format!(
                    "logged {logged} live forecasts ({not_live} stations have no current data); \
                     scored {scored} forecasts against observed rain"
                ));
                for p in problems {
                    tracing::warn!("forecast logging: {p}");
                    ctx.log(format!("forecast logging: {p}"));
                }
            }
            Ok(Err(e)) => {
                tracing::error!("forecast logging failed: {e}");
                ctx.log(format!("forecast logging failed: {e}"));
            }
            Err(e) => {
                tracing::error!("forecast logging failed: {e}");
                ctx.log(format!("forecast logging failed: {e}"));
            }
        }
    }

    /// Scrape a given plan as one recorded run (used by `raincast scrape`).
    pub async fn run_scrape_plan(
        &self,
        plan: ScrapePlan,
        trigger: Trigger,
    ) -> Result<(RunOutcome, Option<ScrapeReport>), JobError> {
        let (slot, run_id) = self.claim(JobKind::Scrape, trigger).await?;
        let this = self.clone();
        let report = Arc::new(Mutex::new(None));
        let r2 = report.clone();
        let body: Body = Box::new(move |jobs: Jobs, ctx: Arc<RunCtx>| {
            Box::pin(async move {
                let rep = jobs.scrape_plan(&ctx, &plan).await?;
                let summary = serde_json::to_value(&rep).unwrap_or_default();
                let failed = rep.failed();
                let msg = rep.message.clone();
                if let Ok(mut g) = r2.lock() {
                    *g = Some(rep);
                }
                if failed {
                    return Err(Failure {
                        error: msg,
                        summary: Some(summary),
                        cancelled: false,
                    });
                }
                jobs.forecast_and_verify(&ctx).await;
                Ok(summary)
            })
        });
        let outcome = this.execute(slot, run_id, JobKind::Scrape, body).await;
        let rep = report.lock().ok().and_then(|mut g| g.take());
        Ok((outcome, rep))
    }

    /// Stop at a safe point: no new runs start, running ones see the stop
    /// flag, and this waits for them to record how they ended.
    pub async fn shutdown(&self) {
        self.inner.shutdown.store(true, Ordering::Release);
        if let Ok(stops) = self.inner.stops.lock() {
            for s in stops.values() {
                s.flag.store(true, Ordering::Release);
            }
        }
        self.inner.stopping.notify_waiters();
        let mut tasks = self.inner.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }

    /// Run the schedule until shutdown: catch-up first, then each tick.
    pub async fn run_schedule(self) {
        let cfg = &self.inner.config.schedule;
        let now = self.inner.clock.now();
        let mut schedule = match schedule::Schedule::new(cfg, now) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("schedule: {e}");
                return;
            }
        };
        let plan = self.catch_up_plan().await;
        if !plan.kinds.is_empty() {
            let this = self.clone();
            self.inner.tasks.lock().await.spawn(async move {
                this.run_catch_up(plan).await;
            });
        }
        tracing::info!(next = ?schedule.next_wake(), "schedule running (UTC)");
        // Check once a second: cheap, and it follows an injected clock (and a
        // system clock that jumps) without computing long sleeps.
        while !self.inner.shutdown.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for kind in schedule.due(self.inner.clock.now()) {
                let this = self.clone();
                self.inner.tasks.lock().await.spawn(async move {
                    this.scheduled(kind).await;
                });
            }
        }
    }

    /// What to run once at start (see [`schedule::catch_up`]), with a first
    /// training up front when there is data but no champion.
    pub async fn catch_up_plan(&self) -> CatchUp {
        let cfg = self.inner.config.schedule.clone();
        let now = self.inner.clock.now();
        let store = self.inner.store.clone();
        let (last, first_model) = crate::store::spawn_blocking(move || {
            let scrape = store.last_success("scrape").ok().flatten();
            let refresh = store.last_success("refresh").ok().flatten();
            let train = store.last_success("train").ok().flatten();
            // No champion but data to learn from (the bundled history, an
            // import): train first, so forecasts exist before the scrape.
            let first_model = store.champion_version().ok().flatten().is_none()
                && store.count_observations().unwrap_or(0) > 0;
            ((scrape.max(refresh), train.max(refresh)), first_model)
        })
        .await
        .unwrap_or(((None, None), false));
        let mut kinds = schedule::catch_up(&cfg, last.0, last.1, now);
        let first_model = first_model && cfg.train_enabled;
        if first_model {
            kinds.insert(0, JobKind::Train);
        }
        CatchUp { kinds, first_model }
    }

    /// Run a catch-up plan in order, each job its own recorded run.
    pub async fn run_catch_up(&self, plan: CatchUp) {
        let mut scrape_failed = false;
        for (i, &kind) in plan.kinds.iter().enumerate() {
            // A retraining after a scrape that added nothing is waste.
            if i > 0 && kind == JobKind::Train && scrape_failed && plan.first_model {
                tracing::warn!("catch-up training skipped: the scrape before it failed");
                continue;
            }
            match self.run(kind, Trigger::CatchUp).await {
                Ok(o) if o.status == RunStatus::Succeeded => {
                    tracing::info!(run = o.run_id, "catch-up {} succeeded", kind.as_str())
                }
                Ok(o) => {
                    scrape_failed |= kind == JobKind::Scrape;
                    tracing::warn!(
                        run = o.run_id,
                        error = o.error.as_deref().unwrap_or(""),
                        "catch-up {} {}",
                        kind.as_str(),
                        o.status.as_str()
                    )
                }
                Err(e) => tracing::warn!("catch-up {}: {e}", kind.as_str()),
            }
        }
    }

    /// A scheduled run with its retries, waiting between attempts with
    /// `wait` (real sleep in the service, a clock jump in a replay), which
    /// returns false to give up.
    pub async fn scheduled_with<W, F>(&self, kind: JobKind, wait: W)
    where
        W: Fn(Duration) -> F,
        F: std::future::Future<Output = bool>,
    {
        let cfg = &self.inner.config.schedule;
        let mut trigger = Trigger::Schedule;
        let mut attempt = 0;
        loop {
            match self.run(kind, trigger).await {
                Ok(o)
                    if o.status == RunStatus::Failed
                        && kind != JobKind::Train
                        && attempt < cfg.scrape_retries =>
                {
                    attempt += 1;
                    let pause = Duration::from_secs(
                        cfg.retry_backoff_secs.saturating_mul(1 << (attempt - 1)),
                    );
                    tracing::warn!(
                        run = o.run_id,
                        attempt,
                        "scheduled {} failed; retrying in {pause:?}",
                        kind.as_str()
                    );
                    metrics::counter!("raincast_job_retries_total", "kind" => kind.as_str())
                        .increment(1);
                    if !wait(pause).await {
                        return;
                    }
                    trigger = Trigger::Retry;
                }
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!("scheduled {}: {e}", kind.as_str());
                    return;
                }
            }
        }
    }

    /// A scheduled run in the service: retries wait in real time and give
    /// up at shutdown.
    async fn scheduled(&self, kind: JobKind) {
        self.scheduled_with(kind, |pause| async move {
            let stopping = self.inner.stopping.notified();
            if self.inner.shutdown.load(Ordering::Acquire) {
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => true,
                _ = stopping => false,
            }
        })
        .await
    }
}
