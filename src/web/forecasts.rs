//! What the JSON API and the pages both answer from, so that neither
//! imports the other: the forecast for a station (from the serving board,
//! or a read-only hindcast), the location lookup, and why no model serves.

use std::sync::Arc;

use chrono::NaiveDate;

use super::AppState;
use super::error::{ApiError, blocking};
use crate::serving::{Forecast, Lookup};
use crate::stations::{self, Station};

/// Why no model serves, in words a visitor or operator can act on.
pub fn no_model_message(s: &AppState) -> String {
    match s.serving.refused() {
        Some((v, why)) => format!("the deployed model version {v} was refused: {why}"),
        None if s.store.is_read_only() => {
            "no model is deployed in this read-only replica's copy yet: the primary trains one, \
             and the replica serves it once replication brings it"
                .into()
        }
        None if s
            .jobs
            .running()
            .iter()
            .any(|(k, _)| *k == crate::jobs::JobKind::Train) =>
        {
            "the first model is training now; forecasts appear when it finishes, within a minute \
             or so (the admin's Runs page shows its progress)"
                .into()
        }
        None => "no model is serving yet: the service trains one as soon as it has data \
                 (or run `raincast train`)"
            .into(),
    }
}

/// Look a location up, or 422 naming the field.
pub fn station(name: &str) -> Result<&'static Station, ApiError> {
    stations::by_location(name).ok_or_else(|| {
        ApiError::invalid(
            "location",
            format!("unknown location `{name}`; GET /api/v1/locations lists the 49 known ones"),
        )
    })
}

/// The forecast for a station: from the in-memory board, or for an earlier
/// `date` a hindcast read from the database. Never writes.
pub async fn forecast_for(
    s: &AppState,
    st: &'static Station,
    date: Option<NaiveDate>,
) -> Result<Arc<Forecast>, ApiError> {
    let model = s
        .serving
        .get()
        .ok_or_else(|| ApiError::Unavailable(no_model_message(s)))?;
    let stale = s.config.server.stale_after_days;
    match s.serving.lookup(model, st, date, s.clock.today(), stale) {
        Lookup::Ready(f) => Ok(f),
        Lookup::Read(read) => {
            let (serving, store) = (s.serving.clone(), s.store.clone());
            blocking(move || Ok(serving.read_forecast(&store, read)?)).await
        }
    }
}
