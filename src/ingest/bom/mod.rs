//! The BOM scraper: fetch Daily Weather Observations monthly CSVs, parse them
//! ([`super::dwo`]) and store them, one transaction per station-month.
//!
//! Politeness first: BOM blocks clients it takes for scrapers. Every request
//! carries `bom.user_agent`, waits `bom.delay_ms` before it goes out, and at
//! most `bom.concurrency` are in flight. A stand-in on this machine
//! (`raincast bom-server` on 127.0.0.0/8, `::1` or `localhost`) is nobody's
//! to spare: it gets no delay (see [`pace_for`]). The newest months are
//! fetched first, so the forecasts' inputs are the first to arrive. Only timeouts, connection errors and
//! 5xx answers are retried (`bom.retries` times, exponential backoff from
//! `bom.backoff_ms` plus jitter). A 403 or 404 is never retried: it is
//! recorded for that station-month and explained in the run's message.
//! Finished months (fetched after they ended) are not fetched again unless
//! the plan is forced, except the previous month during the first
//! `bom.revise_days` days of a month, when BOM still revises it.
//!
//! A file that fails validation (HTML page, truncated, header changed…)
//! leaves the stored rows of its station-month untouched.
//!
//! When BOM answers with an HTML page instead of CSV (its firewall's "Access
//! Denied", a maintenance page, "page not found" with status 200), the page
//! is read with [`super::html`] into one line (title, heading, reference id)
//! that goes into the station-month's log line, the run's message and the
//! fail-fast cause, next to the setting to check.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::dwo::{self, OutOfRange};
use super::html::{self, HtmlPage};
use crate::config::BomConfig;
use crate::stations::{STATIONS, Station};
use crate::store::{Store, StoreError, month_key};

/// A calendar month, `(year, month 1..=12)`.
pub type Month = (i32, u32);

/// The longest body accepted; a DWO file is about 4 KB.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The longest wait between two attempts, before jitter.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Days after which a finished month that BOM answered 404 for is asked
/// again.
const MISSING_RETRY_DAYS: u64 = 7;

/// The most read of an error answer's body (403, 5xx…) to describe it.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The plan itself is wrong (bad month, `from` after `to`).
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

mod fetch;
mod plan;
mod report;
#[cfg(test)]
mod tests;

use fetch::*;
pub use plan::*;
pub use report::*;

/// What the workers share.
struct Ctx {
    client: reqwest::Client,
    store: Store,
    cfg: BomConfig,
    /// Which channel's day wins (`sources.order`).
    sources: crate::config::SourcesConfig,
    today: NaiveDate,
    permits: Semaphore,
    /// The pause before each request: `bom.delay_ms`, or none for a
    /// stand-in on this machine ([`pace_for`]).
    delay: Duration,
    /// Set from the caller's cancel flag, or by the circuit: no new request
    /// starts once it is.
    stop: CancellationToken,
    circuit: std::sync::Mutex<Circuit>,
}

/// Consecutive failures of a systemic kind (the source, not one file, is
/// wrong), reset by any success. Past `bom.fail_fast_after` the run stops.
#[derive(Default)]
struct Circuit {
    consecutive: u32,
    last_cause: String,
    open: Option<String>,
}

impl Ctx {
    fn succeeded(&self) {
        if let Ok(mut c) = self.circuit.lock() {
            c.consecutive = 0;
        }
    }

    /// Count one systemic failure; `cause` names it and the setting to check.
    fn systemic_failure(&self, cause: String) {
        let limit = self.cfg.fail_fast_after;
        let Ok(mut c) = self.circuit.lock() else {
            return;
        };
        if c.last_cause != cause {
            c.last_cause = cause.clone();
        }
        c.consecutive += 1;
        if limit > 0 && c.consecutive >= limit && c.open.is_none() {
            tracing::warn!(
                failures = c.consecutive,
                "BOM source failing: {cause}; stopping the scrape"
            );
            c.open = Some(format!(
                "{} requests in a row failed: {cause}",
                c.consecutive
            ));
            self.stop.cancel();
        }
    }

    fn aborted(&self) -> Option<String> {
        self.circuit.lock().ok().and_then(|c| c.open.clone())
    }
}

/// Fetch, parse and store every station-month of `plan`.
///
/// `today` decides which months are complete (see
/// [`Store::upsert_station_month`]); pass the clock's `bom_today()` (see `jobs::clock::Clock`) in production. `log`
/// gets one line per station-month, then the summary. Once `cancel` is
/// cancelled no new fetch starts and waits between attempts end; the ones in flight finish, each committed whole or
/// not at all.
pub async fn scrape(
    store: &Store,
    cfg: &BomConfig,
    sources: &crate::config::SourcesConfig,
    plan: &ScrapePlan,
    today: NaiveDate,
    log: &(dyn Fn(String) + Send + Sync),
    cancel: &CancellationToken,
) -> Result<ScrapeReport, ScrapeError> {
    let client = reqwest::Client::builder()
        .redirect(same_host_redirects(&cfg.base_url))
        .user_agent(cfg.user_agent.clone())
        .timeout(Duration::from_secs(cfg.timeout_secs))
        .connect_timeout(Duration::from_secs(cfg.timeout_secs))
        .build()
        .map_err(ScrapeError::Client)?;
    let (complete, missing) = if plan.force {
        Default::default()
    } else {
        let store = store.clone();
        // A finished month that BOM answered 404 for is asked again once
        // that answer is a week old, not at every tick: it is a month older
        // than BOM's archive, or a wrong product code.
        let recent = (today - chrono::Days::new(MISSING_RETRY_DAYS - 1)).to_string();
        let first = plan
            .months
            .iter()
            .min()
            .map_or_else(String::new, |&m| month_key(m));
        let locations: Vec<&'static str> = plan.locations.iter().map(|s| s.location).collect();
        crate::runtime::spawn_blocking(move || store.skippable_months(&locations, &first, &recent))
            .await
            .map_err(|e| StoreError::Corrupt(format!("reading source_months: {e}")))??
    };
    let current = (today.year(), today.month());
    // BOM still revises the previous month during the first days of a month.
    let revising =
        (today.day() <= cfg.revise_days).then(|| previous_month((today.year(), today.month())));

    let ctx = Arc::new(Ctx {
        client,
        store: store.clone(),
        cfg: cfg.clone(),
        sources: sources.clone(),
        today,
        permits: Semaphore::new(cfg.concurrency.max(1)),
        delay: pace_for(cfg),
        // A child: the caller's cancel stops the workers, and so does the
        // circuit, without cancelling the caller.
        stop: cancel.child_token(),
        circuit: Default::default(),
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Outcome)>();
    let mut jobs = Vec::with_capacity(plan.len());
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(plan.len());
    let mut to_fetch = Vec::with_capacity(plan.len());
    for &month in &plan.months {
        for &station in &plan.locations {
            let i = jobs.len();
            jobs.push((station, month));
            let key = (station.location.to_string(), month_key(month));
            // Skipped station-months are counted in the report's totals and
            // its message, not logged one by one: a scheduled scrape skips
            // a dozen finished months per station, twelve times a day.
            if complete.contains(&key) && Some(month) != revising {
                outcomes.push(Some(Outcome::SkippedComplete));
                continue;
            }
            if missing.contains(&key) && month < current {
                outcomes.push(Some(Outcome::SkippedMissing));
                continue;
            }
            outcomes.push(None);
            to_fetch.push(i);
        }
    }
    // Newest month first: each worker, once it holds a permit, takes the
    // next station-month from this queue, so the current month of every
    // station arrives before the history behind it whatever order the
    // runtime starts the tasks in. The report keeps the plan's order.
    to_fetch.sort_by_key(|&i| std::cmp::Reverse(jobs[i].1));
    let queue = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
        to_fetch,
    )));
    let shared_jobs = Arc::new(jobs.clone());
    for _ in 0..queue.lock().map(|q| q.len()).unwrap_or(0) {
        let (ctx, tx, queue, jobs) = (ctx.clone(), tx.clone(), queue.clone(), shared_jobs.clone());
        tokio::spawn(async move {
            let permit = ctx.permits.acquire().await;
            let Some(i) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                return;
            };
            let (station, month) = jobs[i];
            let outcome = match permit {
                Ok(_permit) => run_one(&ctx, station, month).await,
                Err(_) => Outcome::Cancelled,
            };
            // The receiver only goes away if `scrape` itself was dropped.
            let _ = tx.send((i, outcome));
        });
    }
    drop(tx);

    // Station-months a stopped run never began are counted in one line, not
    // logged one by one (a run that stops early leaves hundreds).
    let mut not_started = 0usize;
    while let Some((i, outcome)) = rx.recv().await {
        let (station, month) = jobs[i];
        if matches!(outcome, Outcome::Cancelled) {
            not_started += 1;
        } else {
            log(describe(station, month, outcome.clone()).line());
        }
        outcomes[i] = Some(outcome);
    }
    if not_started > 0 {
        log(format!(
            "{not_started} station-months not started: the run stopped before their turn"
        ));
    }

    let months: Vec<MonthOutcome> = jobs
        .iter()
        .zip(outcomes)
        .map(|(&(station, month), outcome)| {
            // A task that panicked never reported; say so rather than guess.
            let outcome = outcome.unwrap_or_else(|| Outcome::Failed {
                url: dwo_url(&cfg.base_url, station.dwo_code, month),
                attempts: 0,
                error: "the worker stopped unexpectedly".into(),
            });
            describe(station, month, outcome)
        })
        .collect();
    let mut report = ScrapeReport::build(months, ctx.stop.is_cancelled(), ctx.aborted());
    // The stored summary lists what was fetched or failed; the skipped
    // station-months are in the totals.
    report.months.retain(|m| {
        !matches!(
            m.outcome,
            Outcome::SkippedComplete | Outcome::SkippedMissing
        )
    });
    log(report.message.clone());
    Ok(report)
}

/// The pause before each request to `cfg.base_url`: `bom.delay_ms` for BOM
/// (and any other remote host), none for a stand-in on this machine (a
/// loopback address, `localhost` or a name under it), which the polite
/// pace would only slow down (686 files at 1 s and 2 workers: 6 minutes).
pub fn pace_for(cfg: &BomConfig) -> Duration {
    if is_loopback(&cfg.base_url) {
        Duration::ZERO
    } else {
        Duration::from_millis(cfg.delay_ms)
    }
}

/// Whether `base_url` names this machine: 127.0.0.0/8, `::1`, `localhost`
/// or `*.localhost` (RFC 6761). Anything unparsable is not.
pub fn is_loopback(base_url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.');
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

fn describe(station: &Station, month: Month, outcome: Outcome) -> MonthOutcome {
    MonthOutcome {
        location: station.location.to_string(),
        code: station.dwo_code.to_string(),
        month: month_key(month),
        outcome,
    }
}

/// One station-month, its permit held by the caller: fetch, then parse and
/// store off the async workers.
async fn run_one(ctx: &Arc<Ctx>, station: &'static Station, month: Month) -> Outcome {
    let url = dwo_url(&ctx.cfg.base_url, station.dwo_code, month);
    let outcome = match fetch(ctx, &url).await {
        Ok(body) => {
            let worker = ctx.clone();
            let for_worker = url.clone();
            crate::runtime::spawn_blocking(move || {
                store_month(&worker, station, month, &body, for_worker)
            })
            .await
            .unwrap_or_else(|e| Outcome::StoreFailed {
                url: url.clone(),
                error: format!("parser or database task failed: {e}"),
            })
        }
        Err(outcome) => outcome,
    };
    // Record what went wrong (the month's rows and completeness are kept).
    // A failed database write is not recorded: the database is the problem.
    if !matches!(
        outcome,
        Outcome::Ok { .. } | Outcome::Cancelled | Outcome::StoreFailed { .. }
    ) {
        let store = ctx.store.clone();
        let line = describe(station, month, outcome.clone()).line();
        let status = outcome.status();
        let recorded = crate::runtime::spawn_blocking(move || {
            store.record_source_failure(station.location, month, status, &line)
        })
        .await;
        if let Ok(Err(e)) = recorded {
            tracing::warn!(location = station.location, error = %e, "cannot record scrape outcome");
        }
    }
    outcome
}

/// Parse and store one downloaded file (blocking).
fn store_month(
    ctx: &Ctx,
    station: &'static Station,
    month: Month,
    body: &[u8],
    url: String,
) -> Outcome {
    let parsed = match dwo::parse(body, station.location, month.0, month.1) {
        Ok(p) => p,
        Err(dwo::DwoError::Html) => {
            let page = HtmlPage::parse(body);
            tracing::warn!(%url, %page, "BOM sent an HTML page instead of a CSV file");
            ctx.systemic_failure(format!(
                "BOM sent an HTML page instead of a CSV file ({url}): {page}; \
                 check bom.base_url ({}) and bom.user_agent",
                ctx.cfg.base_url
            ));
            return Outcome::Rejected {
                url,
                reason: format!(
                    "{}: {page}; check bom.base_url and bom.user_agent",
                    dwo::DwoError::Html
                ),
            };
        }
        Err(e) => {
            return Outcome::Rejected {
                url,
                reason: e.to_string(),
            };
        }
    };
    ctx.succeeded();
    let finished = (ctx.today.year(), ctx.today.month()) > month;
    let missing_days = if finished {
        crate::store::missing_days(month, parsed.observations.iter().map(|o| o.date))
    } else {
        Vec::new()
    };
    let source = format!("bom:{}.{:04}{:02}", station.dwo_code, month.0, month.1);
    match ctx.store.upsert_station_month(
        station.location,
        month,
        &parsed.observations,
        &source,
        ctx.today,
        &ctx.sources,
    ) {
        Ok(c) => Outcome::Ok {
            rows: parsed.observations.len() as u64,
            inserted: c.inserted,
            updated: c.updated,
            unchanged: c.unchanged,
            out_of_range: parsed.out_of_range,
            missing_days,
        },
        Err(e) => Outcome::StoreFailed {
            url,
            error: e.to_string(),
        },
    }
}
