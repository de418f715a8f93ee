//! The BOM scraper: fetch Daily Weather Observations monthly CSVs, parse them
//! ([`super::dwo`]) and store them, one transaction per station-month.
//!
//! Politeness first: BOM blocks clients it takes for scrapers. Every request
//! carries `bom.user_agent`, waits `bom.delay_ms` before it goes out, and at
//! most `bom.concurrency` are in flight. Only timeouts, connection errors and
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};

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

/// The most read of an error answer's body (403, 5xx…) to describe it.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// How often the caller's cancel flag is looked at.
const CANCEL_POLL: Duration = Duration::from_millis(50);

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

/// Which station-months to fetch.
#[derive(Debug, Clone)]
pub struct ScrapePlan {
    pub months: Vec<Month>,
    pub locations: Vec<&'static Station>,
    /// Fetch complete months again too.
    pub force: bool,
}

impl ScrapePlan {
    /// Backfill by coverage: every month of BOM's online window (the current
    /// month and the [`ONLINE_MONTHS`]` - 1` before it) for every station.
    /// [`scrape`] skips the station-months already stored complete (every
    /// day present), so a database that holds years of other history still
    /// gets the recent months it lacks, and a steady daily run fetches only
    /// the current month (and the previous one while BOM revises it).
    pub fn default_for(today: NaiveDate) -> Self {
        Self {
            months: online_window(today),
            locations: STATIONS.iter().collect(),
            force: false,
        }
    }

    /// Every month from `from` to `to` inclusive, for one station or all.
    pub fn range(
        from: Month,
        to: Month,
        location: Option<&'static Station>,
        force: bool,
    ) -> Result<Self, ScrapeError> {
        for (name, m) in [("from", from), ("to", to)] {
            if !(1..=12).contains(&m.1) || !(1900..=9999).contains(&m.0) {
                return Err(ScrapeError::Plan(format!(
                    "{name} month {}-{:02} is not a month",
                    m.0, m.1
                )));
            }
        }
        if from > to {
            return Err(ScrapeError::Plan(format!(
                "from {} is after to {}",
                month_key(from),
                month_key(to)
            )));
        }
        let mut months = vec![from];
        while months[months.len() - 1] < to {
            months.push(next_month(months[months.len() - 1]));
        }
        Ok(Self {
            months,
            locations: match location {
                Some(s) => vec![s],
                None => STATIONS.iter().collect(),
            },
            force,
        })
    }

    /// How many station-months the plan covers.
    pub fn len(&self) -> usize {
        self.months.len() * self.locations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How many months BOM keeps online: the current one and the 13 before it.
pub const ONLINE_MONTHS: usize = 14;

/// BOM's online window on `today`, oldest month first.
pub fn online_window(today: NaiveDate) -> Vec<Month> {
    let mut months = vec![(today.year(), today.month())];
    while months.len() < ONLINE_MONTHS {
        months.push(previous_month(months[months.len() - 1]));
    }
    months.reverse();
    months
}

/// Parse `YYYY-MM`.
pub fn parse_month(text: &str) -> Result<Month, String> {
    let bad = || format!("`{text}` is not a month of the form YYYY-MM (e.g. 2024-08)");
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u32 = m.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok((year, month))
}

fn previous_month((y, m): Month) -> Month {
    if m == 1 { (y - 1, 12) } else { (y, m - 1) }
}

fn next_month((y, m): Month) -> Month {
    if m == 12 { (y + 1, 1) } else { (y, m + 1) }
}

/// `{base_url}/climate/dwo/{YYYYMM}/text/{code}.{YYYYMM}.csv`.
pub fn dwo_url(base_url: &str, code: &str, (y, m): Month) -> String {
    format!(
        "{}/climate/dwo/{y:04}{m:02}/text/{code}.{y:04}{m:02}.csv",
        base_url.trim_end_matches('/')
    )
}

/// What happened to one station-month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Fetched, parsed and stored.
    Ok {
        rows: u64,
        inserted: u64,
        updated: u64,
        unchanged: u64,
        /// Values outside their physical range, stored as missing.
        out_of_range: Vec<OutOfRange>,
        /// Days of a finished month that the file lacks: the month is not
        /// marked complete and is fetched again on the next run.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        missing_days: Vec<u32>,
    },
    /// Not fetched: the month is complete and the plan is not forced.
    SkippedComplete,
    /// Not fetched: a finished month that answered 404 before (asked again
    /// on Mondays, or when the plan is forced).
    SkippedMissing,
    /// HTTP 404.
    NotFound { url: String },
    /// HTTP 403: BOM refused us.
    Forbidden {
        url: String,
        /// What BOM's HTML answer said ([`HtmlPage`]'s line), if it sent one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<String>,
    },
    /// Another HTTP status that is not retried (e.g. 429, 410).
    HttpError {
        url: String,
        status: u16,
        /// What BOM's HTML answer said ([`HtmlPage`]'s line), if it sent one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<String>,
    },
    /// Downloaded but not a valid DWO file; nothing was written.
    Rejected { url: String, reason: String },
    /// Timeouts, connection errors or 5xx until the retries ran out.
    Failed {
        url: String,
        attempts: u32,
        error: String,
    },
    /// Downloaded and valid, but the database write failed.
    StoreFailed { url: String, error: String },
    /// Not started: the run was cancelled.
    Cancelled,
}

impl Outcome {
    /// Short name, as stored in `source_months.status`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Ok { .. } => "ok",
            Outcome::SkippedComplete => "skipped_complete",
            Outcome::SkippedMissing => "skipped_missing",
            Outcome::NotFound { .. } => "not_found",
            Outcome::Forbidden { .. } => "forbidden",
            Outcome::HttpError { .. } => "http_error",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Failed { .. } => "failed",
            Outcome::StoreFailed { .. } => "store_failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// Whether a fetch was attempted (not skipped, not cancelled).
    pub fn attempted(&self) -> bool {
        !matches!(
            self,
            Outcome::SkippedComplete | Outcome::SkippedMissing | Outcome::Cancelled
        )
    }
}

/// One station-month's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthOutcome {
    pub location: String,
    pub code: String,
    /// `YYYY-MM`.
    pub month: String,
    pub outcome: Outcome,
}

impl MonthOutcome {
    /// The human log line for this station-month.
    pub fn line(&self) -> String {
        let head = format!("{} {} ({})", self.location, self.month, self.code);
        match &self.outcome {
            Outcome::Ok {
                rows,
                inserted,
                updated,
                unchanged,
                out_of_range,
                missing_days,
            } => {
                let mut s = format!(
                    "{head}: {rows} rows: {inserted} inserted, {updated} updated, {unchanged} unchanged"
                );
                if !missing_days.is_empty() {
                    s += &format!(
                        "; incomplete: {} days missing ({}), fetched again next run",
                        missing_days.len(),
                        day_ranges(missing_days)
                    );
                }
                if !out_of_range.is_empty() {
                    let shown: Vec<String> = out_of_range
                        .iter()
                        .take(3)
                        .map(|o| format!("{} {} = {}", o.field, o.date, o.value))
                        .collect();
                    s += &format!(
                        "; {} out-of-range values stored as missing ({})",
                        out_of_range.len(),
                        shown.join(", ")
                    );
                }
                s
            }
            Outcome::SkippedMissing => {
                format!("{head}: skipped, 404 before (asked again on Mondays, or with force)")
            }
            Outcome::SkippedComplete => {
                format!("{head}: skipped, month already complete (force to fetch it again)")
            }
            Outcome::NotFound { url } => format!("{head}: not found (404) at {url}"),
            Outcome::Forbidden { url, page } => {
                format!("{head}: forbidden (403) at {url}{}", page_suffix(page))
            }
            Outcome::HttpError { url, status, page } => {
                format!("{head}: HTTP {status} at {url}{}", page_suffix(page))
            }
            Outcome::Rejected { reason, .. } => {
                format!("{head}: file rejected, stored rows kept: {reason}")
            }
            Outcome::Failed {
                attempts, error, ..
            } => format!("{head}: failed after {attempts} attempts: {error}"),
            Outcome::StoreFailed { error, .. } => format!("{head}: database write failed: {error}"),
            Outcome::Cancelled => format!("{head}: not started (cancelled)"),
        }
    }
}

/// Run totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrapeTotals {
    /// Station-months in the plan.
    pub planned: u64,
    /// Files downloaded, parsed and stored.
    pub files_fetched: u64,
    pub skipped_complete: u64,
    /// Finished months that answered 404 before, not asked again today.
    #[serde(default)]
    pub skipped_missing: u64,
    pub rows_inserted: u64,
    pub rows_updated: u64,
    pub rows_unchanged: u64,
    /// Finished months stored with days missing (fetched again next run).
    #[serde(default)]
    pub incomplete: u64,
    pub files_rejected: u64,
    pub out_of_range: u64,
    pub not_found: u64,
    pub forbidden: u64,
    pub http_errors: u64,
    /// Failed after retries, or the database write failed.
    pub failed: u64,
    /// Not started because the run was cancelled.
    pub cancelled: u64,
}

/// What a scrape did, station-month by station-month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrapeReport {
    /// In plan order (months, then stations).
    pub months: Vec<MonthOutcome>,
    pub totals: ScrapeTotals,
    /// The cancel flag stopped the run before every fetch was started.
    pub cancelled: bool,
    /// One line for humans, naming the setting to look at when something failed.
    pub message: String,
    /// Why the run stopped early: the same systemic failure again and again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
}

impl ScrapeReport {
    /// The run as a whole failed: it stopped early on a systemic failure,
    /// every attempted fetch failed, or BOM answered 403 (which needs a
    /// person). Some 404s alone do not fail it.
    pub fn failed(&self) -> bool {
        let t = &self.totals;
        let attempted = t.planned - t.skipped_complete - t.skipped_missing - t.cancelled;
        self.aborted.is_some() || t.forbidden > 0 || (attempted > 0 && t.files_fetched == 0)
    }

    fn build(months: Vec<MonthOutcome>, cancelled: bool, aborted: Option<String>) -> Self {
        let mut t = ScrapeTotals {
            planned: months.len() as u64,
            ..Default::default()
        };
        for m in &months {
            match &m.outcome {
                Outcome::Ok {
                    inserted,
                    updated,
                    unchanged,
                    out_of_range,
                    missing_days,
                    ..
                } => {
                    t.files_fetched += 1;
                    if !missing_days.is_empty() {
                        t.incomplete += 1;
                    }
                    t.rows_inserted += inserted;
                    t.rows_updated += updated;
                    t.rows_unchanged += unchanged;
                    t.out_of_range += out_of_range.len() as u64;
                }
                Outcome::SkippedComplete => t.skipped_complete += 1,
                Outcome::SkippedMissing => t.skipped_missing += 1,
                Outcome::NotFound { .. } => t.not_found += 1,
                Outcome::Forbidden { .. } => t.forbidden += 1,
                Outcome::HttpError { .. } => t.http_errors += 1,
                Outcome::Rejected { .. } => t.files_rejected += 1,
                Outcome::Failed { .. } | Outcome::StoreFailed { .. } => t.failed += 1,
                Outcome::Cancelled => t.cancelled += 1,
            }
        }
        let mut message = message(&months, &t);
        if let Some(cause) = &aborted {
            message = format!("stopped early: {cause}; {message}");
        }
        ScrapeReport {
            months,
            totals: t,
            cancelled: cancelled && aborted.is_none(),
            message,
            aborted,
        }
    }
}

fn message(months: &[MonthOutcome], t: &ScrapeTotals) -> String {
    let first = |pred: fn(&Outcome) -> bool| months.iter().find(|m| pred(&m.outcome));
    let mut parts = vec![format!(
        "{} of {} station-months stored ({} rows inserted, {} updated, {} unchanged), {} skipped as complete",
        t.files_fetched,
        t.planned,
        t.rows_inserted,
        t.rows_updated,
        t.rows_unchanged,
        t.skipped_complete
    )];
    if t.skipped_missing > 0 {
        parts.push(format!(
            "{} finished months that were 404 before not asked again today (they are on Mondays)",
            t.skipped_missing
        ));
    }
    if t.forbidden > 0 {
        let example = first(|o| matches!(o, Outcome::Forbidden { page: Some(_), .. }))
            .and_then(|m| match &m.outcome {
                Outcome::Forbidden { page: Some(p), .. } => {
                    Some(format!(", e.g. {} {} got {p}", m.location, m.month))
                }
                _ => None,
            })
            .unwrap_or_default();
        parts.push(format!(
            "{} forbidden: BOM refused the request (403): it blocks clients it takes for scrapers; \
             set bom.user_agent to identify you and raise bom.delay_ms{example}",
            t.forbidden
        ));
    }
    if let Some(m) = first(|o| matches!(o, Outcome::NotFound { .. }))
        && let Outcome::NotFound { url } = &m.outcome
    {
        parts.push(format!(
            "{} not found (404), e.g. {} {}: no such file at {url}; check bom.base_url and the station's product code",
            t.not_found, m.location, m.month
        ));
    }
    if let Some(m) = first(|o| matches!(o, Outcome::HttpError { .. }))
        && let Outcome::HttpError { url, status, page } = &m.outcome
    {
        parts.push(format!(
            "{} other HTTP errors, e.g. HTTP {status} at {url}{}; raise bom.delay_ms if BOM is limiting the rate",
            t.http_errors,
            page_suffix(page)
        ));
    }
    if let Some(m) = first(|o| matches!(o, Outcome::Rejected { .. }))
        && let Outcome::Rejected { reason, .. } = &m.outcome
    {
        parts.push(format!(
            "{} files rejected and their stored rows kept, e.g. {} {}: {reason}",
            t.files_rejected, m.location, m.month
        ));
    }
    if let Some(m) = first(|o| matches!(o, Outcome::Failed { .. } | Outcome::StoreFailed { .. })) {
        let detail = match &m.outcome {
            Outcome::Failed { error, .. } => {
                format!("{error}; check the network, bom.base_url and bom.timeout_secs")
            }
            Outcome::StoreFailed { error, .. } => format!("database: {error}"),
            _ => String::new(),
        };
        parts.push(format!(
            "{} failed, e.g. {} {}: {detail}",
            t.failed, m.location, m.month
        ));
    }
    if t.incomplete > 0 {
        parts.push(format!(
            "{} finished months stored with days missing, to be fetched again",
            t.incomplete
        ));
    }
    if t.out_of_range > 0 {
        parts.push(format!(
            "{} out-of-range values stored as missing",
            t.out_of_range
        ));
    }
    if t.cancelled > 0 {
        parts.push(format!("{} station-months not started", t.cancelled));
    }
    parts.join("; ")
}

/// Follow a redirect only to the configured BOM host (same scheme, host and
/// port), at most five in a row: the scraper must never be sent to fetch
/// from, or leak its requests to, another server.
fn same_host_redirects(base_url: &str) -> reqwest::redirect::Policy {
    let origin = |u: &reqwest::Url| {
        (
            u.scheme().to_string(),
            u.host_str().map(str::to_ascii_lowercase),
            u.port_or_known_default(),
        )
    };
    let allowed = reqwest::Url::parse(base_url).ok().map(|u| origin(&u));
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if allowed.as_ref() == Some(&origin(attempt.url())) {
            attempt.follow()
        } else {
            let to = attempt.url().to_string();
            attempt.error(format!("redirect to {to} leaves the configured BOM host"))
        }
    })
}

/// What the workers share.
struct Ctx {
    client: reqwest::Client,
    store: Store,
    cfg: BomConfig,
    today: NaiveDate,
    permits: Semaphore,
    /// Set from the caller's cancel flag, or by the circuit: no new request
    /// starts once it is.
    stop: AtomicBool,
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
            self.stop.store(true, Ordering::SeqCst);
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
/// gets one line per station-month, then the summary. When `cancel` is set,
/// no new fetch starts; the ones in flight finish, each committed whole or
/// not at all.
pub async fn scrape(
    store: &Store,
    cfg: &BomConfig,
    plan: &ScrapePlan,
    today: NaiveDate,
    log: &(dyn Fn(String) + Send + Sync),
    cancel: &AtomicBool,
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
        tokio::task::spawn_blocking(move || {
            let months = store.source_months()?;
            let key = |m: &crate::store::SourceMonth| (m.location.clone(), m.month.clone());
            let complete: std::collections::HashSet<_> =
                months.iter().filter(|m| m.complete).map(key).collect();
            let missing: std::collections::HashSet<_> = months
                .iter()
                .filter(|m| m.status == "not_found")
                .map(key)
                .collect();
            Ok::<_, StoreError>((complete, missing))
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("reading source_months: {e}")))??
    };
    // A finished month that BOM answered 404 for is asked again weekly, on
    // Mondays, not every day: it is probably a wrong product code.
    let current = (today.year(), today.month());
    let retry_missing = today.weekday() == chrono::Weekday::Mon;
    // BOM still revises the previous month during the first days of a month.
    let revising =
        (today.day() <= cfg.revise_days).then(|| previous_month((today.year(), today.month())));

    let ctx = Arc::new(Ctx {
        client,
        store: store.clone(),
        cfg: cfg.clone(),
        today,
        permits: Semaphore::new(cfg.concurrency.max(1)),
        stop: AtomicBool::new(cancel.load(Ordering::SeqCst)),
        circuit: Default::default(),
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Outcome)>();
    let mut jobs = Vec::with_capacity(plan.len());
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(plan.len());
    for &month in &plan.months {
        for &station in &plan.locations {
            let i = jobs.len();
            jobs.push((station, month));
            let key = (station.location.to_string(), month_key(month));
            if complete.contains(&key) && Some(month) != revising {
                outcomes.push(Some(Outcome::SkippedComplete));
                log(describe(station, month, Outcome::SkippedComplete).line());
                continue;
            }
            if missing.contains(&key) && month < current && !retry_missing {
                outcomes.push(Some(Outcome::SkippedMissing));
                log(describe(station, month, Outcome::SkippedMissing).line());
                continue;
            }
            outcomes.push(None);
            let (ctx, tx) = (ctx.clone(), tx.clone());
            tokio::spawn(async move {
                let outcome = run_one(&ctx, station, month).await;
                // The receiver only goes away if `scrape` itself was dropped.
                let _ = tx.send((i, outcome));
            });
        }
    }
    drop(tx);

    let mut tick = tokio::time::interval(CANCEL_POLL);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some((i, outcome)) => {
                    let (station, month) = jobs[i];
                    log(describe(station, month, outcome.clone()).line());
                    outcomes[i] = Some(outcome);
                }
                None => break,
            },
            _ = tick.tick() => {
                if cancel.load(Ordering::SeqCst) {
                    ctx.stop.store(true, Ordering::SeqCst);
                }
            }
        }
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
    let report = ScrapeReport::build(months, ctx.stop.load(Ordering::SeqCst), ctx.aborted());
    log(report.message.clone());
    Ok(report)
}

fn describe(station: &Station, month: Month, outcome: Outcome) -> MonthOutcome {
    MonthOutcome {
        location: station.location.to_string(),
        code: station.dwo_code.to_string(),
        month: month_key(month),
        outcome,
    }
}

/// One station-month: wait for a permit, fetch, then parse and store off
/// the async workers.
async fn run_one(ctx: &Arc<Ctx>, station: &'static Station, month: Month) -> Outcome {
    let Ok(_permit) = ctx.permits.acquire().await else {
        return Outcome::Cancelled;
    };
    let url = dwo_url(&ctx.cfg.base_url, station.dwo_code, month);
    let outcome = match fetch(ctx, &url).await {
        Ok(body) => {
            let worker = ctx.clone();
            let for_worker = url.clone();
            tokio::task::spawn_blocking(move || {
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
        let recorded = tokio::task::spawn_blocking(move || {
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

/// The result of one HTTP attempt that did not return a body.
enum Attempt {
    /// Worth another try (timeout, connection error, 5xx).
    Retry(String),
    /// Final for this station-month.
    Final(Outcome),
}

/// GET `url` with the delay before each request and retries with backoff.
async fn fetch(ctx: &Ctx, url: &str) -> Result<Vec<u8>, Outcome> {
    let attempts = ctx.cfg.retries + 1;
    let mut last_error = String::new();
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(backoff(ctx.cfg.backoff_ms, attempt)).await;
        }
        if ctx.stop.load(Ordering::SeqCst) {
            return Err(Outcome::Cancelled);
        }
        if ctx.cfg.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(ctx.cfg.delay_ms)).await;
        }
        match get(ctx, url).await {
            Ok(body) => return Ok(body),
            Err(Attempt::Final(outcome)) => {
                if let Outcome::Forbidden { page, .. } = &outcome {
                    ctx.systemic_failure(format!(
                        "BOM refused the requests (403){}: it blocks clients it takes for scrapers; \
                         set bom.user_agent to identify you and raise bom.delay_ms",
                        page.as_deref()
                            .map(|p| format!(" with an HTML page: {p}"))
                            .unwrap_or_default()
                    ));
                }
                return Err(outcome);
            }
            Err(Attempt::Retry(e)) => {
                tracing::debug!(url, attempt = attempt + 1, error = %e, "retrying");
                ctx.systemic_failure(format!(
                    "{e}; check the network, bom.base_url ({}) and bom.timeout_secs",
                    ctx.cfg.base_url
                ));
                last_error = e;
            }
        }
    }
    Err(Outcome::Failed {
        url: url.to_string(),
        attempts,
        error: last_error,
    })
}

async fn get(ctx: &Ctx, url: &str) -> Result<Vec<u8>, Attempt> {
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Attempt::Retry(format!("timed out after {} s", ctx.cfg.timeout_secs))
        } else if e.is_builder() || e.is_redirect() {
            Attempt::Final(Outcome::Failed {
                url: url.to_string(),
                attempts: 1,
                error: error_chain(&e),
            })
        } else {
            Attempt::Retry(error_chain(&e.without_url()))
        }
    };
    let mut resp = ctx.client.get(url).send().await.map_err(classify)?;
    let status = resp.status();
    match status.as_u16() {
        200..=299 => {}
        403 => {
            let page = error_page(resp).await;
            return Err(Attempt::Final(Outcome::Forbidden {
                url: url.into(),
                page,
            }));
        }
        404 => return Err(Attempt::Final(Outcome::NotFound { url: url.into() })),
        500..=599 => {
            let page = error_page(resp).await;
            return Err(Attempt::Retry(format!(
                "HTTP {status}{}",
                page_suffix(&page)
            )));
        }
        other => {
            let page = error_page(resp).await;
            return Err(Attempt::Final(Outcome::HttpError {
                url: url.into(),
                status: other,
                page,
            }));
        }
    }
    let mut body = Vec::with_capacity(8 * 1024);
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Attempt::Final(Outcome::Rejected {
                url: url.into(),
                reason: format!("body larger than {MAX_BODY_BYTES} bytes"),
            }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The one-line description of an error answer's body when it is an HTML
/// page (BOM's firewall, maintenance or error pages); `None` for other
/// bodies (plain text, empty) or when the body cannot be read.
async fn error_page(mut resp: reqwest::Response) -> Option<String> {
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) if body.is_empty() => return None,
            Err(_) => break,
        }
    }
    body.truncate(MAX_ERROR_BODY_BYTES);
    if !html::looks_like_html(&body, content_type.as_deref()) {
        return None;
    }
    let page = HtmlPage::parse(&body);
    tracing::warn!(url = %resp.url(), status = resp.status().as_u16(), %page, "BOM answered with an HTML page");
    Some(page.to_string())
}

/// `; BOM's page: title "…", …` for a described page, nothing otherwise.
fn page_suffix(page: &Option<String>) -> String {
    page.as_deref()
        .map(|p| format!("; BOM's page: {p}"))
        .unwrap_or_default()
}

/// `[3, 5, 6, 7, 20]` → `3, 5–7, 20`.
fn day_ranges(days: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && days[j + 1] == days[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            days[i].to_string()
        } else {
            format!("{}–{}", days[i], days[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

/// `base · 2^(attempt-1)`, at most [`MAX_BACKOFF`], plus up to half again of jitter.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << (attempt - 1).min(20));
    let exp = Duration::from_millis(exp).min(MAX_BACKOFF);
    let jitter_ms = rand::rng().random_range(0..=exp.as_millis() as u64 / 2);
    exp + Duration::from_millis(jitter_ms)
}

/// An error with its causes, `a: b: c` (reqwest's own message omits them).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn urls_and_months() {
        assert_eq!(
            dwo_url("https://www.bom.gov.au/", "IDCJDW2124", (2024, 9)),
            "https://www.bom.gov.au/climate/dwo/202409/text/IDCJDW2124.202409.csv"
        );
        assert_eq!(parse_month("2024-08"), Ok((2024, 8)));
        for bad in ["2024-13", "2024-8", "24-08", "2024/08", "", "2024-00"] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans() {
        let p = ScrapePlan::range((2024, 11), (2025, 2), None, false).unwrap();
        assert_eq!(p.months, [(2024, 11), (2024, 12), (2025, 1), (2025, 2)]);
        assert_eq!(p.len(), 4 * 49);
        let one = crate::stations::by_location("Sydney");
        let p = ScrapePlan::range((2024, 8), (2024, 8), one, true).unwrap();
        assert_eq!((p.len(), p.force), (1, true));
        let err = ScrapePlan::range((2025, 2), (2024, 11), None, false).unwrap_err();
        assert_eq!(err.to_string(), "from 2025-02 is after to 2024-11");
        assert!(ScrapePlan::range((2025, 0), (2025, 1), None, false).is_err());

        // Backfill by coverage: always BOM's whole online window; what is
        // stored complete is skipped at fetch time, not planned away.
        let p = ScrapePlan::default_for(d(2025, 9, 6));
        assert_eq!(p.months.len(), 14);
        assert_eq!(p.months[0], (2024, 8));
        assert_eq!(p.months[13], (2025, 9));
        assert_eq!(p.locations.len(), 49);
        let p = ScrapePlan::default_for(d(2025, 1, 2));
        assert_eq!((p.months[0], p.months[13]), ((2023, 12), (2025, 1)));
    }

    #[test]
    fn day_ranges_read_well() {
        assert_eq!(day_ranges(&[3, 5, 6, 7, 20]), "3, 5–7, 20");
        assert_eq!(day_ranges(&[31]), "31");
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        for attempt in 1..=4 {
            let b = backoff(100, attempt);
            let base = 100 * (1 << (attempt - 1));
            assert!(b >= Duration::from_millis(base) && b <= Duration::from_millis(base * 3 / 2));
        }
        assert!(backoff(10_000, 30) <= MAX_BACKOFF * 3 / 2);
    }

    /// A page's line reaches the station-month's log line and the run's
    /// message, next to the settings to check.
    #[test]
    fn html_pages_are_named_in_lines_and_message() {
        let m = |outcome| MonthOutcome {
            location: "Sydney".into(),
            code: "IDCJDW2124".into(),
            month: "2024-09".into(),
            outcome,
        };
        let page = r#"title "Access Denied", heading "Access Denied", reference 18.5c3e1002"#;
        let forbidden = m(Outcome::Forbidden {
            url: "u".into(),
            page: Some(page.into()),
        });
        assert_eq!(
            forbidden.line(),
            format!("Sydney 2024-09 (IDCJDW2124): forbidden (403) at u; BOM's page: {page}")
        );
        let r = ScrapeReport::build(vec![forbidden.clone()], false, None);
        assert!(
            r.message.contains(&format!(
                "set bom.user_agent to identify you and raise bom.delay_ms, e.g. Sydney 2024-09 got {page}"
            )),
            "{}",
            r.message
        );
        let limited = m(Outcome::HttpError {
            url: "u".into(),
            status: 429,
            page: Some(r#"title "Too Many Requests""#.into()),
        });
        let r = ScrapeReport::build(vec![limited], false, None);
        assert!(
            r.message.contains(
                r#"HTTP 429 at u; BOM's page: title "Too Many Requests"; raise bom.delay_ms"#
            ),
            "{}",
            r.message
        );
        // Stored run reports from before pages were read still load.
        let old: Outcome = serde_json::from_str(r#"{"kind":"forbidden","url":"u"}"#).unwrap();
        assert_eq!(
            old,
            Outcome::Forbidden {
                url: "u".into(),
                page: None
            }
        );
        let json = serde_json::to_string(&forbidden.outcome).unwrap();
        assert_eq!(
            serde_json::from_str::<Outcome>(&json).unwrap(),
            forbidden.outcome
        );
    }

    #[test]
    fn failed_rules() {
        let m = |outcome| MonthOutcome {
            location: "Perth".into(),
            code: "IDCJDW6111".into(),
            month: "2024-08".into(),
            outcome,
        };
        let ok = Outcome::Ok {
            rows: 1,
            inserted: 1,
            updated: 0,
            unchanged: 0,
            out_of_range: vec![],
            missing_days: vec![],
        };
        let nf = Outcome::NotFound { url: "u".into() };
        let r = ScrapeReport::build(vec![m(ok.clone()), m(nf.clone())], false, None);
        assert!(!r.failed(), "{}", r.message);
        assert!(
            r.message
                .contains("check bom.base_url and the station's product code")
        );
        let r = ScrapeReport::build(vec![m(nf.clone())], false, None);
        assert!(r.failed());
        let r = ScrapeReport::build(
            vec![
                m(ok.clone()),
                m(Outcome::Forbidden {
                    url: "u".into(),
                    page: None,
                }),
            ],
            false,
            None,
        );
        assert!(r.failed());
        assert!(r.message.contains("BOM refused the request (403)"));
        let r = ScrapeReport::build(vec![m(Outcome::SkippedComplete)], false, None);
        assert!(!r.failed());
        let json = serde_json::to_string(&r).unwrap();
        let back: ScrapeReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
