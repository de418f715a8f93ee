//! The scrape job: fetch BOM's files for a plan, then log and score the
//! live forecasts the new data allows.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::forecast_log::{ForecastLog, log_forecasts};
use super::{Failure, JobSummary, RunCtx};
use crate::ingest::bom::{self, ScrapePlan, ScrapeReport};

/// What a scrape did: the scraper's report, and the forecasts logged after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScrapeSummary {
    #[serde(flatten)]
    pub report: ScrapeReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecasts: Option<ForecastLog>,
}

/// Scrape `plan` (or the default window for the clock's BOM day). A scrape
/// whose report says it failed fails the run, with the report as summary.
#[tracing::instrument(name = "scrape", skip_all)]
pub(super) async fn run(
    ctx: &Arc<RunCtx>,
    plan: Option<ScrapePlan>,
) -> Result<ScrapeSummary, Failure> {
    let report = fetch(ctx, plan).await?;
    let mut summary = ScrapeSummary {
        report,
        forecasts: None,
    };
    if ctx.cancelled() {
        return Err(ctx.stopped("after the scrape", Some(JobSummary::Scrape(summary))));
    }
    if summary.report.failed() {
        // With the FTP channel on, the days it assembled are in the store:
        // the forecasts due are still issued, though the website failed.
        if ctx.env.config.sources.uses(crate::config::Channel::Ftp) {
            summary.forecasts = Some(log_forecasts(ctx).await);
        }
        return Err(Failure {
            error: summary.report.message.clone(),
            summary: Some(JobSummary::Scrape(summary)),
            cancelled: false,
        });
    }
    summary.forecasts = Some(log_forecasts(ctx).await);
    Ok(summary)
}

/// The scrape itself, with its metrics.
async fn fetch(ctx: &Arc<RunCtx>, plan: Option<ScrapePlan>) -> Result<ScrapeReport, Failure> {
    let env = &ctx.env;
    // `sources.order = "ftp"` means FTP alone: the website (which may be
    // refusing us) is not asked at all.
    if !env.config.sources.uses(crate::config::Channel::Website) {
        let report = ScrapeReport::website_not_a_source(&env.config.sources.order);
        ctx.log(report.message.clone());
        return Ok(report);
    }
    let today = env.clock.bom_today();
    let plan = plan.unwrap_or_else(|| ScrapePlan::default_for(today));
    let log_ctx = ctx.clone();
    let log = move |line: String| log_ctx.log(line);
    let report = bom::scrape(
        &env.store,
        &env.config.bom,
        &env.config.sources,
        &plan,
        today,
        &log,
        ctx.cancel_token(),
    )
    .await
    .map_err(Failure::new)?;
    metrics::counter!("raincast_scrape_rows_total", "change" => "inserted")
        .increment(report.totals.rows_inserted);
    metrics::counter!("raincast_scrape_rows_total", "change" => "updated")
        .increment(report.totals.rows_updated);
    metrics::counter!("raincast_scrape_files_rejected_total")
        .increment(report.totals.files_rejected);
    if report.failed() {
        ctx.warn(report.message.clone());
    } else {
        ctx.log(report.message.clone());
    }
    Ok(report)
}
