//! The forecast log that a scrape and a promoting training end with: bring
//! the serving board up to date, issue each station's forecasts that are
//! due, log them (queueing webhook alerts in the same transaction), and
//! score every logged forecast whose outcome the data now shows.

use serde::{Deserialize, Serialize};

use super::RunCtx;
use crate::features;
use crate::issue::{Visibility, issues_due};
use crate::store::{IssuedForecast, StoreError};

/// The forecast log of one run: live forecasts logged, stations without
/// current data, forecasts scored, and stations whose forecast could not be
/// made or logged (each named in the run's log at WARN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastLog {
    pub logged: u64,
    pub not_live: u64,
    pub scored: u64,
    pub failed: u64,
    /// Webhook alert deliveries queued with the logged forecasts.
    #[serde(default)]
    pub alerts: u64,
    /// Why no forecast was logged at all (the board or the scoring failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A station whose forecast could not be made or logged.
struct Problem {
    station: String,
    error: String,
}

/// Score every logged forecast whose outcome the data now shows, bring the
/// serving board up to date, then issue each station's forecasts that are
/// due now ([`issues_due`]: in its local time, from the rows the store
/// holds, never after the window closed). Failures are logged
/// per station at WARN and counted, never dropped.
#[tracing::instrument(skip_all)]
pub(super) async fn log_forecasts(ctx: &RunCtx) -> ForecastLog {
    let env = &ctx.env;
    let (store, serving) = (env.store.clone(), env.serving.clone());
    let issued_at = env.clock.now();
    let stale = env.config.server.stale_after_days;
    let max_pending = env.config.alerts.max_pending;
    let span = tracing::Span::current();
    let board_built = ctx.board_built.clone();
    let result = crate::runtime::spawn_blocking(move || {
        let _entered = span.enter();
        // Scored first, so that the board built next holds the new scores
        // and the run's end need not read the live record again. No
        // forecast issued below can be scored yet: its window is open. A
        // failed scoring fails the run after the forecasts are issued,
        // never instead of them.
        let scored = store.score_predictions(issued_at);
        serving.sync(&store, issued_at, stale)?;
        board_built.store(true, std::sync::atomic::Ordering::Release);
        let board = serving.board();
        let mut out = ForecastLog::default();
        let mut problems = Vec::new();
        if let Some(model) = serving.get() {
            let vis = Visibility::current();
            let mut issued = Vec::new();
            for entry in &board.stations {
                let due = issues_due(entry.station, issued_at, &vis);
                let mut made = 0;
                for (issue, rain_day) in due {
                    let base = issue.base_day(rain_day);
                    // The rows up to the base day, as the store holds them
                    // (BOM's rows as fetched); nothing to issue without it.
                    let upto = entry.recent.partition_point(|o| o.date <= base);
                    let history = &entry.recent[..upto];
                    if history.last().map(|o| o.date) != Some(base) {
                        continue;
                    }
                    let view = features::View::at_issue(&vis, entry.station, base, issue);
                    let Some(row) = features::encode(history, &board.around, &view) else {
                        continue;
                    };
                    let (_, window_end) = crate::issue::window(entry.station, rain_day);
                    let (probability, amounts) = model.chances(
                        board.predicted_by(&model, &row),
                        entry.station.location,
                        rain_day,
                        issue,
                    );
                    let forecast = IssuedForecast {
                        location: entry.station.location,
                        for_date: rain_day,
                        issue,
                        obs_date: base,
                        version: model.version,
                        probability,
                        threshold: model.threshold,
                        issued_at,
                        window_end,
                        amounts,
                    };
                    made += 1;
                    issued.push(forecast);
                }
                if made == 0 {
                    out.not_live += 1;
                }
            }
            // One transaction for the whole log; a failure fails every
            // forecast in it, each named.
            // Alerts are queued with the forecasts, never sent from here: a
            // receiver cannot hold forecasting up.
            match store.log_predictions_alerting(&issued, max_pending) {
                Ok((n, queued)) => {
                    out.logged += n as u64;
                    out.alerts += queued;
                }
                Err(e) => problems.extend(issued.iter().map(|f| Problem {
                    station: f.location.to_string(),
                    error: e.to_string(),
                })),
            }
        }
        out.scored = scored? as u64;
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
            if out.alerts > 0 {
                ctx.log(format!("queued {} webhook alert deliveries", out.alerts));
            }
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
