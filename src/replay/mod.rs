//! The time machine: boot as every command does ([`crate::app::boot`],
//! timed by a [`Driver`]), then run the real catch-up, schedule and job
//! runner, with the real cron expressions, on a fast clock against the
//! time-aware BOM stand-ins ([`crate::bomsim`], [`crate::ftpsim`]), into a
//! database of its own. What comes out is the
//! live record the service would have produced over the period: forecasts
//! issued before their outcome existed and scored the next day, weekly
//! trainings with their decisions, failed runs and retries, stale periods.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::app::Timing;
use crate::bomsim::{BomSim, Fault};
use crate::clock::{Clock, FakeClock};
use crate::config::Config;
use crate::jobs::scheduler::Schedule;
use crate::jobs::{JobKind, Jobs};
use crate::store::{Store, StoreError};
use crate::web::AppState;

mod summary;
use summary::summarize;
pub use summary::{IssueSummary, Summary, Unserved};

/// What to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// First simulated day (the service starts at 00:00 UTC on it).
    pub from: NaiveDate,
    /// Last simulated day; the replay ends at 23:59:59 UTC on it.
    pub to: NaiveDate,
    /// Simulated seconds per real second; 0 runs as fast as it can.
    pub speed: f64,
    /// Faults of the BOM stand-in, by BOM day.
    pub faults: Vec<(NaiveDate, Fault)>,
}

impl Options {
    /// Checked: `from` is not after `to`, and `speed` is 0 or more.
    pub fn new(
        from: NaiveDate,
        to: NaiveDate,
        speed: f64,
        faults: Vec<(NaiveDate, Fault)>,
    ) -> Result<Self, ReplayError> {
        let opts = Self {
            from,
            to,
            speed,
            faults,
        };
        opts.check()?;
        Ok(opts)
    }

    /// `from` is not after `to`, and `speed` is 0 or more.
    pub fn check(&self) -> Result<(), ReplayError> {
        if self.from > self.to {
            return Err(ReplayError::Input(format!(
                "--from {} is after --to {}",
                self.from, self.to
            )));
        }
        if !(self.speed.is_finite() && self.speed >= 0.0) {
            return Err(ReplayError::Input(format!(
                "speed {}: must be 0 or more simulated seconds per second",
                self.speed
            )));
        }
        Ok(())
    }

    /// 00:00 UTC on the first day, when the service starts.
    pub fn start(&self) -> DateTime<Utc> {
        self.from.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
    }

    /// 23:59:59 UTC on the last day, when the replay ends.
    pub fn end(&self) -> DateTime<Utc> {
        self.to.and_hms_opt(23, 59, 59).expect("a time").and_utc()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Run(String),
}

/// Called after each simulated day's scheduled work, with the day.
pub type OnDay<'a> = &'a (dyn Fn(NaiveDate, &Jobs) + Send + Sync);

/// The BOM stand-in of a replay, serving on 127.0.0.1 until dropped: the
/// website, and the anonymous FTP products at the same simulated time.
pub struct Source {
    pub sim: BomSim,
    pub base_url: String,
    /// The FTP side ([`crate::ftpsim`]); website faults do not touch it.
    pub ftp: crate::ftpsim::Running,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Source {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start the time-aware BOM stand-in on `clock`, with `faults`.
pub async fn start_source(
    clock: Arc<FakeClock>,
    faults: &[(NaiveDate, Fault)],
) -> Result<Source, ReplayError> {
    let sim = BomSim::new(clock.clone());
    for &(day, fault) in faults {
        sim.fault_on(day, fault);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| ReplayError::Run(format!("binding the BOM stand-in: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ReplayError::Run(e.to_string()))?;
    let task = tokio::spawn(sim.clone().serve(listener));
    let ftp = crate::ftpsim::start(crate::ftpsim::FtpSim::new(clock))
        .await
        .map_err(|e| ReplayError::Run(format!("binding the FTP stand-in: {e}")))?;
    Ok(Source {
        sim,
        base_url: format!("http://{addr}"),
        ftp,
        task,
    })
}

/// Settings for a replay: the stand-in's address, no politeness delay, short
/// real-time waits.
pub fn configure(config: &mut Config, source: &Source) {
    config.bom.base_url = source.base_url.clone();
    config.bom.delay_ms = 0;
    config.bom.backoff_ms = config.bom.backoff_ms.min(20);
    config.bom.timeout_secs = config.bom.timeout_secs.min(10);
    config.ftp.host = source.ftp.host.clone();
    config.ftp.port = source.ftp.port;
    config.ftp.delay_ms = 0;
    config.ftp.timeout_secs = config.ftp.timeout_secs.min(10);
}

/// Replay `opts` into `store` (which should be new): start the stand-in,
/// point `config` at it, boot as every command does ([`crate::app::boot`],
/// with [`Timing::Driven`]), then [`drive`] its job runner.
pub async fn run(
    store: Store,
    mut config: Config,
    clock: Arc<FakeClock>,
    opts: &Options,
    on_day: OnDay<'_>,
) -> Result<Summary, ReplayError> {
    opts.check()?;
    clock.set(opts.start());
    let source = start_source(clock.clone(), &opts.faults).await?;
    configure(&mut config, &source);
    let state = crate::app::boot(crate::app::Launch {
        config,
        store,
        clock: clock.clone(),
        timing: Timing::Driven { demo: false },
    })
    .await
    .map_err(|e| ReplayError::Run(format!("{e:#}")))?;
    let summary = drive(&state, &clock, opts, on_day).await;
    state.jobs.shutdown().await;
    summary
}

/// Run the service's catch-up and its schedule from `opts.from` to
/// `opts.to` on `clock`, for a booted `state` (configured for a stand-in
/// source).
pub async fn drive(
    state: &AppState,
    clock: &Arc<FakeClock>,
    opts: &Options,
    on_day: OnDay<'_>,
) -> Result<Summary, ReplayError> {
    let mut driver = Driver::start(state, clock, opts).await?;
    driver.run_until(opts.end(), state, clock, on_day).await;
    driver.finish(&state.store, opts)
}

/// A replay in steps: start-up, then the schedule up to any moment, so a
/// test can stop the simulated clock where it likes (to read the pages at
/// 10:00 local, to promote a model between two issues) and go on.
pub struct Driver {
    schedule: Schedule,
    speed: f64,
    first_run: i64,
    start: DateTime<Utc>,
    stale_by_day: BTreeMap<NaiveDate, u64>,
    last_day: Option<NaiveDate>,
    /// The FTP poller on simulated time, when `sources.order` names `ftp`.
    ftp: Option<FtpPolling>,
    /// `sources.order` as replayed.
    sources: String,
}

/// The FTP channel of a replay: `serve`'s poller, on the simulated clock.
struct FtpPolling {
    store: Store,
    config: Config,
    every: chrono::Duration,
    next: DateTime<Utc>,
    last_daily: Option<DateTime<Utc>>,
}

impl FtpPolling {
    async fn poll(&mut self, now: DateTime<Utc>) {
        let daily = crate::ingest::ftp::daily_due(self.last_daily, now);
        let cancel = tokio_util::sync::CancellationToken::new();
        crate::ingest::ftp::poll(&self.store, &self.config, now, daily, &cancel).await;
        if daily {
            self.last_daily = Some(now);
        }
        self.next = now + self.every;
    }
}

impl Driver {
    /// The catch-up at 00:00 UTC on `opts.from`, for a booted `state`, as
    /// `serve`'s schedule runs it before its first tick.
    pub async fn start(
        state: &AppState,
        clock: &Arc<FakeClock>,
        opts: &Options,
    ) -> Result<Driver, ReplayError> {
        opts.check()?;
        let (store, jobs, config) = (&state.store, &state.jobs, &state.config);
        let start = opts.start();
        clock.set(start);
        let first_run = store.run_heads(None, 1)?.first().map_or(0, |r| r.id);
        let plan = jobs.catch_up_plan().await;
        jobs.run_catch_up(plan).await;
        let ftp = config
            .sources
            .uses(crate::config::Channel::Ftp)
            .then(|| FtpPolling {
                store: store.clone(),
                config: Config::clone(config),
                every: chrono::Duration::minutes(config.ftp.poll_minutes.max(10) as i64),
                next: clock.now(),
                last_daily: None,
            });
        Ok(Driver {
            schedule: Schedule::new(&config.schedule, clock.now()),
            speed: opts.speed,
            first_run,
            start,
            stale_by_day: BTreeMap::new(),
            last_day: None,
            ftp,
            sources: config.sources.order.clone(),
        })
    }

    /// Run every scheduled job due up to `until`, then leave the clock there.
    pub async fn run_until(
        &mut self,
        until: DateTime<Utc>,
        state: &AppState,
        clock: &Arc<FakeClock>,
        on_day: OnDay<'_>,
    ) {
        let (jobs, serving) = (&state.jobs, &state.serving);
        while let Some(next) = self.schedule.next_wake() {
            // FTP polls due before the schedule's next wake come first.
            if let Some(ftp) = self.ftp.as_mut()
                && ftp.next <= next.min(until)
            {
                let at = ftp.next;
                pace(clock.now(), at, self.speed).await;
                clock.set(at.max(clock.now()));
                ftp.poll(clock.now()).await;
                continue;
            }
            if next > until {
                break;
            }
            pace(clock.now(), next, self.speed).await;
            clock.set(next);
            for kind in self.schedule.due(next) {
                let c = clock.clone();
                jobs.scheduled_with(kind, move |pause| {
                    c.advance(chrono::Duration::from_std(pause).unwrap_or_default());
                    async { true }
                })
                .await;
                if kind == JobKind::Scrape {
                    let board = serving.board();
                    self.stale_by_day
                        .insert(clock.bom_today(), board.stale_count() as u64);
                }
            }
            let day = clock.now().date_naive();
            if self.last_day != Some(day) {
                on_day(day, jobs);
                self.last_day = Some(day);
            }
        }
        if clock.now() < until {
            pace(clock.now(), until, self.speed).await;
            clock.set(until);
        }
    }

    /// The summary of everything since start-up, for `opts`' period.
    pub fn finish(self, store: &Store, opts: &Options) -> Result<Summary, ReplayError> {
        summarize(
            store,
            opts,
            self.first_run,
            self.start.date_naive(),
            self.stale_by_day,
            &self.sources,
        )
    }
}

/// Wait in real time for the simulated gap, at `speed` simulated seconds
/// per real second.
async fn pace(now: DateTime<Utc>, next: DateTime<Utc>, speed: f64) {
    if speed > 0.0 && next > now {
        let secs = (next - now).num_milliseconds() as f64 / 1000.0 / speed;
        tokio::time::sleep(Duration::from_secs_f64(secs.min(3600.0))).await;
    }
}
