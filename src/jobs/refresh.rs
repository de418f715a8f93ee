//! The refresh job (scrape, then train), and the daily forecast log that
//! both the scrape and a promoting training end with.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::scrape::{self, ScrapeSummary};
use super::train::{self, TrainSummary};
use super::{Failure, JobSummary, RunCtx};
use crate::store::StoreError;
use crate::train::WindowOverride;

/// What a refresh did. `train` is empty when the training failed.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshSummary {
    pub scrape: ScrapeSummary,
    pub train: Option<TrainSummary>,
}

#[tracing::instrument(name = "refresh", skip_all)]
pub(super) async fn run(ctx: &Arc<RunCtx>) -> Result<RefreshSummary, Failure> {
    let scrape = scrape::run(ctx, None).await?;
    match train::run(ctx, WindowOverride::default()).await {
        Ok(train) => Ok(RefreshSummary {
            scrape,
            train: Some(train),
        }),
        Err(mut f) => {
            f.summary = Some(JobSummary::Refresh(Box::new(RefreshSummary {
                scrape,
                train: None,
            })));
            Err(f)
        }
    }
}

/// The forecast log of one run: live forecasts logged, stations without
/// current data, forecasts scored, and stations whose forecast could not be
/// made or logged (each named in the run's log at WARN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastLog {
    pub logged: u64,
    pub not_live: u64,
    pub scored: u64,
    pub failed: u64,
    /// Why no forecast was logged at all (the board or the scoring failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A station whose forecast could not be made or logged.
struct Problem {
    station: String,
    error: String,
}

/// Bring the serving board up to date, log each station's live forecast
/// (issued before its day's observation can exist), then score every
/// logged forecast whose outcome the data now shows. Failures are logged
/// per station at WARN and counted, never dropped.
#[tracing::instrument(skip_all)]
pub(super) async fn log_forecasts(ctx: &RunCtx) -> ForecastLog {
    let env = &ctx.env;
    let (store, serving) = (env.store.clone(), env.serving.clone());
    let today = env.clock.today();
    let bom_today = env.clock.bom_today();
    let issued_at = env.clock.now();
    let stale = env.config.server.stale_after_days;
    let span = tracing::Span::current();
    let result = crate::runtime::spawn_blocking(move || {
        let _entered = span.enter();
        serving.sync(&store, today, stale)?;
        let board = serving.board();
        let mut out = ForecastLog::default();
        let mut problems = Vec::new();
        if serving.get().is_some() {
            for entry in &board.stations {
                let Some(f) = &entry.forecast else {
                    if entry.latest.is_some() {
                        problems.push(Problem {
                            station: entry.station.location.to_string(),
                            error: "no forecast from its newest observation".into(),
                        });
                    }
                    continue;
                };
                // Live: the forecast day has not ended in eastern
                // Australia, so its observation cannot exist yet.
                if f.forecast_date < bom_today {
                    out.not_live += 1;
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
                    Ok(true) => out.logged += 1,
                    Ok(false) => {}
                    Err(e) => problems.push(Problem {
                        station: f.location.to_string(),
                        error: e.to_string(),
                    }),
                }
            }
        }
        out.scored = store.score_predictions()? as u64;
        Ok::<_, StoreError>((out, problems))
    })
    .await;
    match result {
        Ok(Ok((mut out, problems))) => {
            ctx.log(format!(
                "logged {} live forecasts ({} stations have no current data); \
                 scored {} forecasts against observed rain",
                out.logged, out.not_live, out.scored
            ));
            out.failed = problems.len() as u64;
            for p in problems {
                tracing::warn!(run = ctx.run_id, station = %p.station, "forecast logging: {}", p.error);
                ctx.record(format!("forecast logging: {}: {}", p.station, p.error));
            }
            out
        }
        Ok(Err(e)) => {
            tracing::error!(run = ctx.run_id, "forecast logging failed: {e}");
            ctx.record(format!("forecast logging failed: {e}"));
            ForecastLog {
                error: Some(e.to_string()),
                ..ForecastLog::default()
            }
        }
        Err(e) => {
            tracing::error!(run = ctx.run_id, "forecast logging failed: {e}");
            ctx.record(format!("forecast logging failed: {e}"));
            ForecastLog {
                error: Some(e.to_string()),
                ..ForecastLog::default()
            }
        }
    }
}
