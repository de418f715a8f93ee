//! Commands that run or show jobs: `scrape`, `train`, `runs`. A scrape or
//! training from the CLI is a recorded run like any other, under the same
//! job lease as the server's.

use chrono::NaiveDate;
use tokio::runtime::Runtime;

use crate::config::Config;
use crate::ingest::bom::{Month, ScrapePlan};
use crate::jobs::{JobError, JobSpec, JobSummary, Jobs, Trigger};
use crate::store::Store;

use super::{CliError, RunsAction, open_store, progress_bar, station_arg};

/// A job runner for one CLI command, on the same database as the server.
fn cli_jobs(config: &Config, store: &Store) -> Result<Jobs, CliError> {
    let clock = crate::clock::SystemClock::from_env().map_err(CliError::Input)?;
    let serving = std::sync::Arc::new(crate::serving::Serving::default());
    let _ = serving.refresh(store);
    Ok(Jobs::new(
        store.clone(),
        std::sync::Arc::new(config.clone()),
        std::sync::Arc::new(clock),
        serving,
    ))
}

fn job_error(e: JobError) -> CliError {
    match e {
        JobError::AlreadyRunning { .. } => CliError::Input(e.to_string()),
        other => CliError::Run(other.into()),
    }
}

/// `raincast scrape`: a recorded scrape run of a backfill range (`months`)
/// or of BOM's online window.
pub(super) fn scrape(
    rt: &Runtime,
    config: &Config,
    months: Option<(Month, Month)>,
    location: Option<String>,
    force: bool,
) -> Result<(), CliError> {
    let location = location.as_deref().map(station_arg).transpose()?;
    let store = open_store(config)?;
    let jobs = cli_jobs(config, &store)?;
    let today = jobs.clock().bom_today();
    let plan = match months {
        Some((f, t)) => {
            ScrapePlan::range(f, t, location, force).map_err(|e| CliError::Input(e.to_string()))?
        }
        None => {
            let mut plan = ScrapePlan::default_for(today);
            if let Some(st) = location {
                plan.locations = vec![st];
            }
            plan.force |= force;
            plan
        }
    };
    let outcome = rt
        .block_on(jobs.run(JobSpec::Scrape { plan: Some(plan) }, Trigger::Cli))
        .map_err(job_error)?;
    if let Some(JobSummary::Scrape(s)) = &outcome.summary {
        let r = &s.report;
        let t = &r.totals;
        outln!("{}", r.message);
        outln!(
            "files: {} stored ({} incomplete), {} skipped, {} rejected, {} not found, {} forbidden, {} other HTTP errors, {} failed, {} cancelled; \
             rows: {} inserted, {} updated, {} unchanged; {} out-of-range values",
            t.files_fetched,
            t.incomplete,
            t.skipped_complete,
            t.files_rejected,
            t.not_found,
            t.forbidden,
            t.http_errors,
            t.failed,
            t.cancelled,
            t.rows_inserted,
            t.rows_updated,
            t.rows_unchanged,
            t.out_of_range
        );
    }
    outln!("run {}: {}", outcome.run_id, outcome.status.as_str());
    match outcome.error {
        None => Ok(()),
        Some(e) => Err(CliError::Run(anyhow::anyhow!(e))),
    }
}

/// `raincast train`: a recorded training run, with a progress bar.
pub(super) fn train(
    rt: &Runtime,
    config: &Config,
    tune_from: Option<NaiveDate>,
    test_from: Option<NaiveDate>,
) -> Result<(), CliError> {
    let over = crate::train::WindowOverride {
        tune_from,
        test_from,
    };
    let store = open_store(config)?;
    let jobs = cli_jobs(config, &store)?;
    let bar = progress_bar("trees");
    let outcome = rt.block_on(async {
        let job = jobs.run(
            JobSpec::Train {
                windows: over,
                quick: false,
            },
            Trigger::Cli,
        );
        tokio::pin!(job);
        // Progress from the run's record, which the runner flushes twice a second.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tokio::select! {
                outcome = &mut job => break outcome,
                _ = tick.tick() => {
                    let Some(&(_, id)) = jobs.running().first() else { continue };
                    if let Ok(Some(p)) = store.run(id).map(|r| {
                        r.progress.and_then(|p| {
                            serde_json::from_value::<crate::train::TreeProgress>(p).ok()
                        })
                    }) {
                        bar.set_length(p.trees_total as u64);
                        bar.set_position(p.trees_done as u64);
                    }
                }
            }
        }
    });
    bar.finish_and_clear();
    let outcome = outcome.map_err(job_error)?;
    let run_id = outcome.run_id;
    match (outcome.error, outcome.summary) {
        (None, Some(JobSummary::Train(t))) => {
            let r = &t.report;
            outln!(
                "version {}: F1 {:.4}, ROC AUC {:.4}, Brier {:.4}; {}: {}",
                r.version,
                r.f1,
                r.roc_auc,
                r.brier,
                r.decision,
                r.reason
            );
            Ok(())
        }
        (Some(e), _) => Err(CliError::Run(anyhow::anyhow!(
            "training run {run_id} failed: {e}"
        ))),
        (None, _) => Err(CliError::Run(anyhow::anyhow!(
            "training run {run_id} recorded no result"
        ))),
    }
}

pub(super) fn runs(config: &Config, action: RunsAction) -> Result<(), CliError> {
    let store = open_store(config)?;
    match action {
        RunsAction::List { kind, limit } => {
            outln!(
                "{:>6}  {:<8} {:<9} {:<10} {:<25} {:<25} error",
                "id",
                "kind",
                "trigger",
                "status",
                "started",
                "finished"
            );
            for r in store.runs(kind, limit)? {
                outln!(
                    "{:>6}  {:<8} {:<9} {:<10} {:<25} {:<25} {}",
                    r.id,
                    r.kind,
                    r.trigger,
                    r.status.as_str(),
                    time_text(&r.started_at),
                    r.finished_at.as_ref().map(time_text).unwrap_or_default(),
                    r.error.unwrap_or_default()
                );
            }
            Ok(())
        }
        RunsAction::Show { id } => {
            let r = store.run(id)?;
            outln!(
                "run {} ({}, {}): {}",
                r.id,
                r.kind,
                r.trigger,
                r.status.as_str()
            );
            outln!("started  {}", time_text(&r.started_at));
            let finished = r.finished_at.as_ref().map(time_text);
            outln!("finished {}", finished.as_deref().unwrap_or("-"));
            if let Some(e) = &r.error {
                outln!("error    {e}");
            }
            if let Some(s) = &r.summary {
                outln!(
                    "summary  {}",
                    serde_json::to_string_pretty(s).unwrap_or_default()
                );
            }
            outln!("--- log ---\n{}", r.log);
            Ok(())
        }
    }
}

/// A run's time as the store keeps it (RFC 3339, milliseconds, UTC).
fn time_text(t: &chrono::DateTime<chrono::Utc>) -> String {
    crate::store::rfc3339::text(t)
}
