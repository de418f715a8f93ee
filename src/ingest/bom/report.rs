//! What a scrape found: one outcome per station-month, the totals, and the
//! run's message (what failed, why, and the setting to check).

use super::*;

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
    /// Not fetched: a finished month that answered 404 within the last
    /// week (asked again once that answer is a week old, or when the plan is
    /// forced).
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
                format!(
                    "{head}: skipped, 404 within the last week (asked again after a week, or with force)"
                )
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
    /// The scrape of a process whose `sources.order` does not name the
    /// website: nothing asked of it, nothing failed.
    pub fn website_not_a_source(order: &str) -> Self {
        Self {
            months: Vec::new(),
            totals: ScrapeTotals::default(),
            cancelled: false,
            message: format!(
                "the website is not a source (sources.order = \"{order}\"): nothing fetched from it; forecasts come from what the FTP channel assembled"
            ),
            aborted: None,
        }
    }

    /// The run as a whole failed: it stopped early on a systemic failure,
    /// every attempted fetch failed, or BOM answered 403 (which needs a
    /// person). Some 404s alone do not fail it.
    pub fn failed(&self) -> bool {
        let t = &self.totals;
        let attempted = t.planned - t.skipped_complete - t.skipped_missing - t.cancelled;
        self.aborted.is_some() || t.forbidden > 0 || (attempted > 0 && t.files_fetched == 0)
    }

    pub(super) fn build(
        months: Vec<MonthOutcome>,
        cancelled: bool,
        aborted: Option<String>,
    ) -> Self {
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

pub(super) fn message(months: &[MonthOutcome], t: &ScrapeTotals) -> String {
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
            "{} finished months that were 404 within the last week not asked again (each is asked again once its 404 is a week old)",
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

/// `; BOM's page: title "…", …` for a described page, nothing otherwise.
pub(super) fn page_suffix(page: &Option<String>) -> String {
    page.as_deref()
        .map(|p| format!("; BOM's page: {p}"))
        .unwrap_or_default()
}

/// `[3, 5, 6, 7, 20]` → `3, 5–7, 20`.
pub(super) fn day_ranges(days: &[u32]) -> String {
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
