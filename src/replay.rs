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

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::app::Timing;
use crate::bomsim::{BomSim, Fault};
use crate::clock::{Clock, FakeClock};
use crate::config::Config;
use crate::issue::Issue;
use crate::jobs::scheduler::Schedule;
use crate::jobs::{JobKind, Jobs, Trigger};
use crate::store::{PredictionRow, RunStatus, Store, StoreError};
use crate::web::AppState;

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

/// The replay's outcome. Everything here is reproducible for the same
/// inputs and seed, except `database_bytes` (the file's page layout depends
/// on how run logs were flushed in real time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: u64,
    /// Live forecasts logged for days in the period.
    pub forecasts: u64,
    /// Of those, scored against the observed outcome.
    pub scored: u64,
    pub hits: u64,
    pub hit_rate: Option<f64>,
    pub brier: Option<f64>,
    /// Brier score of per-station monthly climatology on the same forecasts.
    pub climatology_brier: Option<f64>,
    /// `1 - brier / climatology_brier`: above 0 beats climatology.
    pub brier_skill_score: Option<f64>,
    /// The scored forecasts' mean probability, against how often it rained
    /// on those station-days: whether "30 %" meant 30 % on average.
    pub mean_forecast: Option<f64>,
    pub observed_frequency: Option<f64>,
    pub trainings: u64,
    pub promotions: u64,
    pub runs: u64,
    pub failed_runs: u64,
    pub retries: u64,
    /// Station-days whose newest observation was older than the stale
    /// limit, counted after each day's scheduled scrape.
    pub stale_station_days: u64,
    /// Days on which more stations were stale than on the calmest day
    /// (an outage), as date ranges.
    pub stale_periods: Vec<(NaiveDate, NaiveDate)>,
    /// The live record per issue, each scored at its own issue time.
    pub issues: Vec<IssueSummary>,
    /// Forecasts logged at or after their window closed: always 0.
    pub late_forecasts: u64,
    pub database_bytes: u64,
    /// `sources.order` as replayed: `website`, `ftp` or `website,ftp`.
    #[serde(default)]
    pub sources: String,
    /// Locations without a live forecast on every day of the period, and why.
    #[serde(default)]
    pub unserved: Vec<Unserved>,
}

/// A location the replay could not forecast every day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unserved {
    pub location: String,
    /// Days with at least one live forecast, of the period's.
    pub days_forecast: u64,
    pub why: String,
}

/// Locations with a day of the period without a live forecast, each with
/// its reason: no FTP feed station when the website is not a source, else
/// how many days it had.
fn unserved(
    forecasts: &[PredictionRow],
    opts: &Options,
    order: &crate::config::SourcesConfig,
) -> Vec<Unserved> {
    use crate::config::Channel;
    let days = (opts.to - opts.from).num_days() as u64 + 1;
    let mut by_location: BTreeMap<&str, std::collections::BTreeSet<NaiveDate>> = BTreeMap::new();
    for p in forecasts {
        by_location
            .entry(&p.location)
            .or_default()
            .insert(p.for_date);
    }
    crate::stations::STATIONS
        .iter()
        .filter_map(|st| {
            let n = by_location.get(st.location).map_or(0, |d| d.len() as u64);
            if n >= days {
                return None;
            }
            let feed = crate::ingest::ftp::feeds::feed(st);
            let why = match feed {
                Err(why) if !order.uses(Channel::Website) => {
                    format!("no FTP feed station ({why}) and the website is not a source")
                }
                Err(why) if order.uses(Channel::Ftp) => {
                    format!("website only ({why}): {n} of {days} days forecast")
                }
                _ if n == 0 => format!(
                    "no forecast on any of the {days} days: no current data from its sources"
                ),
                _ => {
                    let have = by_location.get(st.location);
                    let missing: Vec<String> = opts
                        .from
                        .iter_days()
                        .take_while(|d| *d <= opts.to)
                        .filter(|d| !have.is_some_and(|h| h.contains(d)))
                        .map(|d| d.to_string())
                        .collect();
                    let shown = missing
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    let more = if missing.len() > 5 { ", …" } else { "" };
                    format!("forecast on {n} of {days} days; none for {shown}{more}")
                }
            };
            Some(Unserved {
                location: st.location.to_string(),
                days_forecast: n,
                why,
            })
        })
        .collect()
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

fn summarize(
    store: &Store,
    opts: &Options,
    first_run: i64,
    history_end: NaiveDate,
    stale_by_day: BTreeMap<NaiveDate, u64>,
    sources: &str,
) -> Result<Summary, ReplayError> {
    let forecasts = store.live_forecasts(opts.from, opts.to)?;
    let clim = crate::evaluate::Climatology::from_store(store, history_end)?;
    let issues = crate::issue::ISSUES
        .iter()
        .filter_map(|&issue| {
            let mine: Vec<&PredictionRow> = forecasts
                .iter()
                .filter(|p| p.issue.as_deref() == Some(issue.name()))
                .collect();
            (!mine.is_empty()).then(|| IssueSummary::of(issue, &mine, &clim))
        })
        .collect();
    let late = store.late_forecasts(opts.from, opts.to)?;
    let scored: Vec<_> = forecasts.iter().filter(|p| p.outcome.is_some()).collect();
    let n = scored.len() as f64;
    let hits = scored.iter().filter(|p| p.hit() == Some(true)).count() as u64;
    let brier = crate::score::brier_of(
        scored
            .iter()
            .map(|p| (p.probability, p.outcome.unwrap_or(false))),
    );
    let mean_forecast =
        (!scored.is_empty()).then(|| scored.iter().map(|p| p.probability).sum::<f64>() / n);
    let observed_frequency = (!scored.is_empty())
        .then(|| scored.iter().filter(|p| p.outcome == Some(true)).count() as f64 / n);
    let climatology_brier = crate::score::brier_of(scored.iter().map(|p| {
        (
            clim.rate(&p.location, p.for_date.month()),
            p.outcome.unwrap_or(false),
        )
    }));
    let runs: Vec<_> = store
        .run_heads(None, u32::MAX)?
        .into_iter()
        .filter(|r| r.id > first_run)
        .collect();
    let trainings = runs
        .iter()
        .filter(|r| r.kind == JobKind::Train && r.status == RunStatus::Succeeded)
        .count() as u64;
    let promotions = store
        .deployments()?
        .iter()
        .filter(|d| d.actor == "training")
        .count() as u64;
    let calm = stale_by_day.values().copied().min().unwrap_or(0);
    let mut stale_periods: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (&day, &n) in &stale_by_day {
        if n > calm {
            match stale_periods.last_mut() {
                Some((_, to)) if *to + chrono::Days::new(1) == day => *to = day,
                _ => stale_periods.push((day, day)),
            }
        }
    }
    let order = crate::config::SourcesConfig {
        order: sources.to_string(),
    };
    let unserved = unserved(&forecasts, opts, &order);
    Ok(Summary {
        sources: sources.to_string(),
        unserved,
        from: opts.from,
        to: opts.to,
        days: (opts.to - opts.from).num_days() as u64 + 1,
        forecasts: forecasts.len() as u64,
        scored: scored.len() as u64,
        hits,
        hit_rate: (!scored.is_empty()).then(|| hits as f64 / n),
        brier,
        climatology_brier,
        brier_skill_score: brier
            .zip(climatology_brier)
            .and_then(|(b, c)| crate::score::skill_score(b, c)),
        mean_forecast,
        observed_frequency,
        trainings,
        promotions,
        runs: runs.len() as u64,
        failed_runs: runs
            .iter()
            .filter(|r| r.status == RunStatus::Failed)
            .count() as u64,
        retries: runs.iter().filter(|r| r.trigger == Trigger::Retry).count() as u64,
        stale_station_days: stale_by_day.values().sum(),
        stale_periods,
        issues,
        late_forecasts: late,
        database_bytes: store.file_size(),
    })
}

/// One issue's live record in a replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueSummary {
    /// `day_before`, `morning` or `afternoon`.
    pub issue: String,
    pub forecasts: u64,
    pub scored: u64,
    pub brier: Option<f64>,
    pub climatology_brier: Option<f64>,
    pub brier_skill_score: Option<f64>,
    pub mean_forecast: Option<f64>,
    pub observed_frequency: Option<f64>,
}

impl IssueSummary {
    fn of(issue: Issue, rows: &[&PredictionRow], clim: &crate::evaluate::Climatology) -> Self {
        let scored: Vec<(f64, bool, f64)> = rows
            .iter()
            .filter_map(|p| {
                let rate = clim.rate(&p.location, p.for_date.month());
                Some((p.probability, p.outcome?, rate))
            })
            .collect();
        let n = scored.len() as f64;
        let mean = |f: &dyn Fn(&(f64, bool, f64)) -> f64| {
            (!scored.is_empty()).then(|| scored.iter().map(f).sum::<f64>() / n)
        };
        let brier = crate::score::brier_of(scored.iter().map(|&(p, o, _)| (p, o)));
        let climatology_brier = crate::score::brier_of(scored.iter().map(|&(_, o, c)| (c, o)));
        IssueSummary {
            issue: issue.name().into(),
            forecasts: rows.len() as u64,
            scored: scored.len() as u64,
            brier,
            climatology_brier,
            brier_skill_score: brier
                .zip(climatology_brier)
                .and_then(|(b, c)| crate::score::skill_score(b, c)),
            mean_forecast: mean(&|&(p, _, _)| p),
            observed_frequency: mean(&|&(_, o, _)| f64::from(u8::from(o))),
        }
    }
}
