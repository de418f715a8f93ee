//! The serving model and forecasts. The champion sits behind an `ArcSwap`:
//! a promotion (from training, the admin page, or the CLI in another process,
//! noticed by [`Serving::refresh`]) swaps it in without a restart, and
//! requests in flight finish on the model they started with.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use chrono::NaiveDate;
use serde::Serialize;

use crate::features;
use crate::stations::Station;
use crate::store::{Store, StoreError};
use crate::train::registry::{self, LoadedModel, RegistryError};

#[derive(Default)]
pub struct Serving {
    current: ArcSwapOption<LoadedModel>,
    /// A champion version that failed to load, so it is not retried in a loop.
    refused: Mutex<Option<(i64, String)>>,
}

impl Serving {
    pub fn get(&self) -> Option<Arc<LoadedModel>> {
        self.current.load_full()
    }

    /// Why the deployed champion is not serving, if it was refused.
    pub fn refused(&self) -> Option<(i64, String)> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }

    /// Load the deployed champion if it differs from the serving one. A corrupt
    /// or incompatible blob is refused and the previous model keeps serving.
    /// Returns the version now serving.
    pub fn refresh(&self, store: &Store) -> Result<Option<i64>, StoreError> {
        let deployed = store.champion_version()?;
        let serving = self.current.load().as_ref().map(|m| m.version);
        if deployed == serving {
            return Ok(serving);
        }
        let Some(version) = deployed else {
            return Ok(serving);
        };
        if let Ok(r) = self.refused.lock()
            && r.as_ref().is_some_and(|(v, _)| *v == version)
        {
            return Ok(serving);
        }
        match registry::load(store, version) {
            Ok(model) => {
                tracing::info!(version, "serving model version");
                self.current.store(Some(Arc::new(model)));
                if let Ok(mut r) = self.refused.lock() {
                    *r = None;
                }
                Ok(Some(version))
            }
            Err(RegistryError::Store(e)) => Err(e),
            Err(e) => {
                tracing::error!(version, error = %e, "refusing to serve the deployed champion; the previous model keeps serving");
                if let Ok(mut r) = self.refused.lock() {
                    *r = Some((version, e.to_string()));
                }
                Ok(serving)
            }
        }
    }
}

/// A forecast for the day after `obs_date`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Forecast {
    pub location: String,
    /// Date of the observation the forecast rests on.
    pub observation_date: NaiveDate,
    /// The day the forecast is for (BOM's rain day: the 24 h to 9 am on this date).
    pub forecast_date: NaiveDate,
    /// Chance of more than 1 mm of rain.
    pub probability: f64,
    /// Yes/no at the model's tuned threshold.
    pub rain: bool,
    pub threshold: f64,
    pub model_version: i64,
    /// The newest observation is older than the configured limit.
    pub stale: bool,
    /// Days between the observation and today.
    pub data_age_days: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error("no observation for {location} on {date}")]
    NoObservation { location: String, date: NaiveDate },
    #[error("no observations for {0} yet")]
    NoData(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The forecast from `date`'s observation (default: the newest one).
pub fn forecast(
    store: &Store,
    model: &LoadedModel,
    station: &Station,
    date: Option<NaiveDate>,
    today: NaiveDate,
    stale_after_days: i64,
) -> Result<Forecast, ForecastError> {
    let date = match date {
        Some(d) => d,
        None => store
            .latest_date(station.location)?
            .ok_or_else(|| ForecastError::NoData(station.location.to_string()))?,
    };
    let history = store.observations_between(
        station.location,
        date - chrono::Days::new(features::LOOKBACK_DAYS),
        date,
    )?;
    if history.last().map(|o| o.date) != Some(date) {
        return Err(ForecastError::NoObservation {
            location: station.location.to_string(),
            date,
        });
    }
    let row = features::encode(&history).ok_or_else(|| ForecastError::NoObservation {
        location: station.location.to_string(),
        date,
    })?;
    let probability = model.predict(&row);
    let age = (today - date).num_days();
    Ok(Forecast {
        location: station.location.to_string(),
        observation_date: date,
        forecast_date: features::target_date(date),
        probability,
        rain: probability >= model.threshold,
        threshold: model.threshold,
        model_version: model.version,
        stale: age > stale_after_days,
        data_age_days: age,
    })
}
