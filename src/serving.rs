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
    /// or incompatible blob is refused, and the model serving (if any) goes on.
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
                match serving {
                    Some(v) => tracing::error!(version, error = %e,
                        "refusing to serve the deployed champion; version {v} keeps serving"),
                    None => tracing::error!(version, error = %e,
                        "refusing to serve the deployed champion; no model is serving"),
                }
                if let Ok(mut r) = self.refused.lock() {
                    *r = Some((version, e.to_string()));
                }
                Ok(serving)
            }
        }
    }
}

impl Serving {
    /// Load the champion at start-up. When the deployed champion does not
    /// load (a corrupt blob, another feature schema), fall back to the newest
    /// loadable version that was ever deployed, and record that as a
    /// deployment by `system` with the reason, so the registry says what
    /// serves. With nothing loadable, nothing serves (and `/readyz` says why).
    /// Returns the version now serving.
    pub fn load_at_start(&self, store: &Store) -> Result<Option<i64>, StoreError> {
        let Some(deployed) = store.champion_version()? else {
            tracing::info!(
                "no model is deployed yet; nothing serves until a training promotes one"
            );
            return Ok(None);
        };
        let why = match registry::load(store, deployed) {
            Ok(model) => {
                tracing::info!(version = deployed, "serving model version");
                self.current.store(Some(Arc::new(model)));
                return Ok(Some(deployed));
            }
            Err(RegistryError::Store(e)) => return Err(e),
            Err(e) => e.to_string(),
        };
        tracing::error!(version = deployed, error = %why, "the deployed champion does not load");
        let mut candidates: Vec<i64> = store
            .deployments()?
            .into_iter()
            .map(|d| d.version)
            .filter(|v| *v != deployed)
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        for v in candidates {
            match registry::load(store, v) {
                Ok(model) => {
                    let reason = format!(
                        "start-up fallback: the deployed champion, version {deployed}, does not load ({why}); version {v} is the newest loadable model that was deployed before"
                    );
                    // Another process starting at the same time may have
                    // recorded the same fallback already.
                    if store.champion_version()? == Some(deployed) {
                        store.deploy(v, &reason, "system")?;
                    }
                    tracing::warn!(
                        version = v,
                        refused = deployed,
                        "{reason}; recorded as a deployment"
                    );
                    self.current.store(Some(Arc::new(model)));
                    if let Ok(mut r) = self.refused.lock() {
                        *r = None;
                    }
                    return Ok(Some(v));
                }
                Err(RegistryError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::error!(version = v, error = %e, "earlier champion does not load either");
                }
            }
        }
        tracing::error!(
            version = deployed,
            "no model that was ever deployed loads: nothing is serving until a training promotes a new one"
        );
        if let Ok(mut r) = self.refused.lock() {
            *r = Some((deployed, why));
        }
        Ok(None)
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
