//! The schedule: what is due, on the injectable clock. Cron expressions
//! (UTC) come parsed from the configuration. In real time,
//! tokio-cron-scheduler fires them and hands each tick to the runner; on a
//! simulated clock (a replay, the demo, a test's `FakeClock`, a shifted
//! `RAINCAST_CLOCK_START`) the same [`Schedule`] is asked what is due as
//! that clock moves. The next run shown to the admin is decided here too,
//! from the same [`Schedule`], whatever fires it; the catch-up at start is
//! [`super::catch_up`]'s.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_cron_scheduler::{Job, JobScheduler};

use super::{JobKind, JobSpec, Jobs, RunStatus, Trigger};
use crate::config::{CronExpr, ScheduleConfig};
use crate::ingest::bom::ScrapePlan;
use crate::issue::Visibility;
use crate::stations::{STATIONS, Station};

/// Which jobs are due, given the time of the last check. Ticks missed while
/// the process was down or asleep fire once, not once per tick.
pub struct Schedule {
    entries: Vec<(JobKind, CronExpr)>,
    last_check: DateTime<Utc>,
}

impl Schedule {
    pub fn new(cfg: &ScheduleConfig, now: DateTime<Utc>) -> Self {
        let entries = [
            (JobKind::Scrape, cfg.scrape_enabled, &cfg.scrape),
            (JobKind::Train, cfg.train_enabled, &cfg.train),
            (JobKind::Refresh, cfg.refresh_enabled, &cfg.refresh),
        ]
        .into_iter()
        .filter(|(_, on, _)| *on)
        .map(|(kind, _, expr)| (kind, expr.clone()))
        .collect();
        Self {
            entries,
            last_check: now,
        }
    }

    /// The scheduled jobs with their expressions.
    pub fn entries(&self) -> &[(JobKind, CronExpr)] {
        &self.entries
    }

    /// When `kind` next fires after `now`, if it is scheduled at all.
    pub fn next_of(&self, kind: JobKind, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, cron)| cron.next_after(now))
    }

    /// Jobs with an occurrence in `(last check, now]`; `now` becomes the last check.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<JobKind> {
        let since = self.last_check;
        if now <= since {
            return Vec::new();
        }
        self.last_check = now;
        self.entries
            .iter()
            .filter(|(_, cron)| cron.next_after(since).is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect()
    }

    /// The next time anything fires.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.entries
            .iter()
            .filter_map(|(_, cron)| cron.next_after(self.last_check))
            .min()
    }
}

/// The stations a scheduled scrape at `now` fetches, and since when: those
/// BOM updated (see [`crate::issue::posted_between`]) since the earlier of
/// the schedule's tick before the one being served and the `last` good
/// scrape (so a tick missed while the process was down, or a scrape that
/// failed, is made up at the next tick). Every station when there is no
/// earlier tick or no good scrape yet.
pub fn stations_to_fetch(
    expr: &CronExpr,
    now: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
    v: &Visibility,
) -> (Option<DateTime<Utc>>, Vec<&'static Station>) {
    let this_tick = expr.prev_before(now + chrono::Duration::seconds(1));
    let prev = this_tick.and_then(|t| expr.prev_before(t));
    let Some(since) = prev.zip(last).map(|(p, l)| p.min(l)) else {
        return (None, STATIONS.iter().collect());
    };
    let stations = STATIONS
        .iter()
        .filter(|s| crate::issue::posted_between(s, since, now, v))
        .collect();
    (Some(since), stations)
}

/// How long ticks of one instant are gathered before one of them runs.
const GATHER: Duration = Duration::from_millis(100);

impl Jobs {
    /// When the schedule next runs `kind` (UTC), from the configured cron
    /// expression and the clock; `None` when that job is not scheduled.
    /// The one answer to "when is the next run", whatever fires the ticks.
    pub fn next_run(&self, kind: JobKind) -> Option<DateTime<Utc>> {
        let now = self.clock().now();
        Schedule::new(&self.config().schedule, now).next_of(kind, now)
    }

    /// Start the schedule: the catch-up (in the background), then ticks
    /// until [`Jobs::shutdown`]. On the wall clock this returns once
    /// tokio-cron-scheduler is running (the runner keeps it); on a
    /// simulated clock it follows that clock until shutdown.
    pub async fn run_schedule(self) {
        let plan = self.catch_up_plan().await;
        if !plan.kinds.is_empty() {
            let this = self.clone();
            self.inner.tasks.lock().await.spawn(async move {
                this.run_catch_up(plan).await;
            });
        }
        if self.follows_wall_clock() {
            self.fire_with_cron().await;
        } else {
            self.follow_clock().await;
        }
    }

    /// The injected clock is the wall clock (not a replay's or a shifted one).
    fn follows_wall_clock(&self) -> bool {
        (self.clock().now() - Utc::now()).num_milliseconds().abs() < 1_000
    }

    /// Real time: tokio-cron-scheduler fires each scheduled job at its cron
    /// times (UTC) and hands it to the runner, until [`Jobs::shutdown`].
    async fn fire_with_cron(&self) {
        let schedule = Schedule::new(&self.config().schedule, self.clock().now());
        let cron = match JobScheduler::new().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("schedule: cannot start the cron scheduler: {e}");
                return;
            }
        };
        for (kind, expr) in schedule.entries() {
            for part in expr.parts() {
                let (this, kind) = (self.clone(), *kind);
                let job = Job::new_async(part, move |_, _| {
                    let this = this.clone();
                    Box::pin(async move { this.tick(kind).await })
                });
                let added = match job {
                    Ok(job) => cron.add(job).await.map(|_| ()),
                    Err(e) => Err(e),
                };
                if let Err(e) = added {
                    tracing::error!("schedule: cannot schedule {kind} at `{part}`: {e}");
                    return;
                }
            }
        }
        if let Err(e) = cron.start().await {
            tracing::error!("schedule: cannot start the cron scheduler: {e}");
            return;
        }
        tracing::info!(next = ?schedule.next_wake(), "schedule running (UTC, cron)");
        // Kept by the runner, whose shutdown stops it before the runs.
        *self.inner.cron.lock().await = Some(cron);
        if self.inner.shutdown.is_cancelled() {
            self.stop_cron().await;
        }
    }

    /// Stop tokio-cron-scheduler's ticks (at shutdown).
    pub(super) async fn stop_cron(&self) {
        let cron = self.inner.cron.lock().await.take();
        if let Some(mut cron) = cron
            && let Err(e) = cron.shutdown().await
        {
            tracing::warn!("schedule: stopping the cron scheduler: {e}");
        }
    }

    /// A tick: `kind` is due. Ticks of one instant arrive one by one (each
    /// cron job fires on its own), so they are gathered for [`GATHER`];
    /// then, as one job runs at a time, the kind that started a run here
    /// least recently runs (with its retries) in the background, and the
    /// others are skipped, as a tick during a run is. Without this, the
    /// kind that happened to be registered first would always win.
    async fn tick(&self, kind: JobKind) {
        if self.inner.shutdown.is_cancelled() {
            return;
        }
        let first = match self.inner.due.lock() {
            Ok(mut due) => {
                let first = due.is_empty();
                if !due.contains(&kind) {
                    due.push(kind);
                }
                first
            }
            Err(_) => return,
        };
        if !first {
            return;
        }
        let this = self.clone();
        self.inner.tasks.lock().await.spawn(async move {
            tokio::time::sleep(GATHER).await;
            let due = match this.inner.due.lock() {
                Ok(mut due) => std::mem::take(&mut *due),
                Err(_) => return,
            };
            let started = this
                .inner
                .started
                .lock()
                .map(|s| s.1.clone())
                .unwrap_or_default();
            let Some(&kind) = due.iter().min_by_key(|k| started.get(k)) else {
                return;
            };
            for other in due.iter().filter(|k| **k != kind) {
                tracing::info!(
                    "scheduled {other} skipped: due with {kind}, and one job runs at a time"
                );
            }
            this.scheduled(kind).await;
        });
    }

    /// Simulated time: ask the [`Schedule`] what is due as the injected
    /// clock moves (checked each second), until shutdown.
    async fn follow_clock(&self) {
        let mut schedule = Schedule::new(&self.config().schedule, self.clock().now());
        tracing::info!(next = ?schedule.next_wake(), "schedule running (UTC, on the injected clock)");
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.inner.shutdown.cancelled() => return,
            }
            for kind in schedule.due(self.clock().now()) {
                self.tick(kind).await;
            }
        }
    }

    /// A scheduled run with its retries, waiting between attempts with
    /// `wait` (real sleep in the service, a clock jump in a replay), which
    /// returns false to give up.
    #[tracing::instrument(skip(self, wait))]
    pub async fn scheduled_with<W, F>(&self, kind: JobKind, wait: W)
    where
        W: Fn(Duration) -> F,
        F: std::future::Future<Output = bool>,
    {
        let cfg = &self.config().schedule;
        let spec = match kind {
            JobKind::Scrape => match self.scheduled_scrape().await {
                Some(spec) => spec,
                None => return,
            },
            _ => JobSpec::from(kind),
        };
        let mut trigger = Trigger::Schedule;
        let mut attempt = 0;
        loop {
            match self.run(spec.clone(), trigger).await {
                Ok(o) if o.status == RunStatus::Failed && kind != JobKind::Train => {
                    if attempt >= cfg.scrape_retries {
                        tracing::error!(
                            run = o.run_id,
                            "scheduled {kind} failed after {} attempts",
                            attempt + 1
                        );
                        return;
                    }
                    attempt += 1;
                    let pause = Duration::from_secs(
                        cfg.retry_backoff_secs.saturating_mul(1 << (attempt - 1)),
                    );
                    tracing::warn!(
                        run = o.run_id,
                        attempt,
                        "scheduled {kind} failed; retrying in {pause:?}"
                    );
                    metrics::counter!("raincast_job_retries_total", "kind" => kind.as_str())
                        .increment(1);
                    if !wait(pause).await {
                        return;
                    }
                    trigger = Trigger::Retry;
                }
                Ok(o) if o.status == RunStatus::Failed => {
                    tracing::error!(run = o.run_id, "scheduled {kind} failed");
                    return;
                }
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!("scheduled {kind}: {e}");
                    return;
                }
            }
        }
    }

    /// What a scheduled scrape fetches ([`stations_to_fetch`]): each tick of
    /// the default schedule, set just after one zone's posts, fetches that
    /// zone alone. `None` when nobody posted since (a tick kept for the
    /// other half of the year's daylight saving).
    async fn scheduled_scrape(&self) -> Option<JobSpec> {
        let now = self.clock().now();
        let store = self.store().clone();
        let last = crate::runtime::spawn_blocking(move || {
            let scrape = store.last_success(JobKind::Scrape).ok().flatten();
            let refresh = store.last_success(JobKind::Refresh).ok().flatten();
            scrape.max(refresh)
        })
        .await
        .ok()
        .flatten();
        let v = crate::issue::Visibility::current();
        let (since, stations) = stations_to_fetch(&self.config().schedule.scrape, now, last, &v);
        if stations.is_empty() {
            tracing::info!(
                "scheduled scrape: BOM posted nothing new since {since:?}; nothing to fetch"
            );
            return None;
        }
        if stations.len() == STATIONS.len() {
            return Some(JobSpec::Scrape { plan: None });
        }
        let mut plan = ScrapePlan::default_for(self.clock().bom_today());
        plan.locations = stations;
        Some(JobSpec::Scrape { plan: Some(plan) })
    }

    /// A scheduled run in the service: retries wait in real time and give
    /// up at shutdown.
    async fn scheduled(&self, kind: JobKind) {
        let shutdown = self.inner.shutdown.clone();
        self.scheduled_with(kind, |pause| {
            let shutdown = shutdown.clone();
            async move {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => true,
                    _ = shutdown.cancelled() => false,
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn the_default_scrapes_fetch_each_station_soon_after_each_post() {
        let cfg = ScheduleConfig::default();
        let v = Visibility::default();
        // A week of southern summer (daylight saving) and one of winter.
        for start in [at(2026, 1, 12, 0, 0), at(2026, 7, 13, 0, 0)] {
            let mut fetched: std::collections::HashMap<&str, Vec<DateTime<Utc>>> =
                Default::default();
            let (mut t, mut last) = (start, Some(start));
            while let Some(tick) = cfg.scrape.next_after(t) {
                if tick > start + chrono::Duration::days(7) {
                    break;
                }
                let stations = stations_to_fetch(&cfg.scrape, tick, last, &v).1;
                if !stations.is_empty() {
                    last = Some(tick);
                }
                for s in stations {
                    fetched.entry(s.location).or_default().push(tick);
                }
                t = tick;
            }
            for s in STATIONS {
                let ticks = &fetched[s.location];
                // Twice a day: morning and afternoon, each within 30 min of the post.
                assert_eq!(ticks.len(), 14, "{} from {start}: {ticks:?}", s.location);
                let zone = crate::issue::Zone::of(&s);
                for d in 1..6 {
                    let day = start.date_naive() + chrono::Days::new(d);
                    for post in [v.morning, v.afternoon] {
                        let posted = zone.utc(day, post);
                        assert!(
                            ticks.iter().any(|&k| k > posted
                                && k <= posted + chrono::Duration::minutes(30)),
                            "{} {day} {post}: no fetch within 30 min of {posted}",
                            s.location
                        );
                    }
                }
            }
        }
        // Once a day after every afternoon: every station each time.
        let daily = CronExpr::parse("0 30 8 * * *").unwrap();
        let t = at(2026, 1, 13, 8, 30);
        let day = chrono::Duration::days(1);
        assert_eq!(
            stations_to_fetch(&daily, t, Some(t - day), &v).1.len(),
            STATIONS.len()
        );
        // No good scrape yet: everything.
        let (since, all) = stations_to_fetch(&cfg.scrape, t, None, &v);
        assert_eq!((since, all.len()), (None, STATIONS.len()));
        // Down since yesterday's 08:50: every post missed since is made up.
        let (since, missed) = stations_to_fetch(
            &cfg.scrape,
            at(2026, 1, 13, 5, 50),
            Some(at(2026, 1, 12, 8, 50)),
            &v,
        );
        assert_eq!(since, Some(at(2026, 1, 12, 8, 50)));
        assert_eq!(
            missed.len(),
            STATIONS.len(),
            "every morning post was missed"
        );
    }

    #[test]
    fn daily_and_weekly_fire_when_due_and_not_otherwise() {
        let cfg = ScheduleConfig {
            scrape: CronExpr::parse("0 30 8 * * *").unwrap(),
            ..ScheduleConfig::default()
        }; // scrape 08:30 daily, train Sunday 17:00
        // Monday 2026-11-23 09:00 UTC.
        let mut s = Schedule::new(&cfg, at(2026, 11, 23, 9, 0));
        assert!(s.due(at(2026, 11, 23, 12, 0)).is_empty());
        assert_eq!(s.next_wake(), Some(at(2026, 11, 24, 8, 30)));
        assert!(s.due(at(2026, 11, 24, 8, 29)).is_empty());
        assert_eq!(s.due(at(2026, 11, 24, 8, 30)), vec![JobKind::Scrape]);
        assert!(s.due(at(2026, 11, 24, 8, 31)).is_empty(), "fires once");
        // Sunday 2026-11-29: scrape in the morning, training at 17:00.
        assert_eq!(s.due(at(2026, 11, 29, 9, 0)), vec![JobKind::Scrape]);
        assert!(s.due(at(2026, 11, 29, 16, 59)).is_empty());
        assert_eq!(s.due(at(2026, 11, 29, 17, 0)), vec![JobKind::Train]);
        // A week asleep: each kind fires once, not seven times.
        assert_eq!(
            s.due(at(2026, 12, 7, 0, 0)),
            vec![JobKind::Scrape, JobKind::Train]
        );
    }

    #[test]
    fn disabled_jobs_never_fire() {
        let cfg = ScheduleConfig {
            scrape_enabled: false,
            ..ScheduleConfig::default()
        };
        let mut s = Schedule::new(&cfg, at(2026, 11, 23, 0, 0));
        assert_eq!(s.due(at(2026, 12, 1, 0, 0)), vec![JobKind::Train]);
    }
}
