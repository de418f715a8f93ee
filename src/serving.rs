//! The serving model and forecasts. The champion sits behind an `ArcSwap`:
//! a promotion (from training, the admin page, or the CLI in another process,
//! noticed by [`Serving::refresh`]) swaps it in without a restart, and
//! requests in flight finish on the model they started with.
//!
//! Reads never touch the database on the hot path and never write: the
//! [`Board`] holds each station's newest observations and its current
//! forecast, rebuilt whenever the data, the champion or the day changes
//! ([`Serving::sync`]). Only the daily job logs forecasts.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use chrono::NaiveDate;
use serde::Serialize;

use crate::features;
use crate::obs::Observation;
use crate::registry::{self, LoadedModel, RegistryError};
use crate::stations::{STATIONS, Station};
use crate::store::{Store, StoreError};

pub struct Serving {
    current: ArcSwapOption<LoadedModel>,
    /// A champion version that failed to load, so it is not retried in a loop.
    refused: Mutex<Option<(i64, String)>>,
    board: ArcSwap<Board>,
    /// The store's data version the board was built from (-1: never built).
    built_from: AtomicI64,
    /// JSON documents computed from the database, reused until the data
    /// version the board was built from changes (e.g. `/api/v1/models`).
    documents: Mutex<std::collections::HashMap<&'static str, (i64, axum::body::Bytes)>>,
}

impl Default for Serving {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            refused: Mutex::new(None),
            board: ArcSwap::from_pointee(Board::default()),
            built_from: AtomicI64::new(-1),
            documents: Mutex::new(Default::default()),
        }
    }
}

/// What every public read needs, in memory.
#[derive(Debug, Default)]
pub struct Board {
    /// The day (UTC) the board was built for: ages and staleness depend on it.
    pub today: Option<NaiveDate>,
    pub model_version: Option<i64>,
    pub stale_after_days: i64,
    /// One entry per station, in [`STATIONS`] order.
    pub stations: Vec<StationBoard>,
    pub source: SourceStatus,
    /// The live record over the 30 days before `today` (all stations).
    pub record_30d: crate::store::TrackRecord,
    /// On a read-only replica, the newest write in its copy (RFC 3339).
    pub newest_write: Option<String>,
}

/// How the BOM source is doing, from the newest scrape runs.
#[derive(Debug, Default, Clone)]
pub struct SourceStatus {
    /// When the newest successful scrape finished (RFC 3339).
    pub last_ok: Option<String>,
    /// When the current run of failed scrapes began; `None` when the newest
    /// scrape succeeded (or none ran).
    pub failing_since: Option<String>,
    /// The newest failure's message, which names the setting to check.
    pub cause: Option<String>,
}

impl SourceStatus {
    fn from_runs(runs: &[crate::store::JobRun]) -> Self {
        use crate::store::RunStatus;
        let finished: Vec<_> = runs.iter().filter(|r| r.finished_at.is_some()).collect();
        let last_ok = finished
            .iter()
            .find(|r| r.status == RunStatus::Succeeded)
            .and_then(|r| r.finished_at.clone());
        let failing: Vec<_> = finished
            .iter()
            .take_while(|r| r.status == RunStatus::Failed)
            .collect();
        Self {
            last_ok,
            failing_since: failing.last().map(|r| r.started_at.clone()),
            cause: failing.first().and_then(|r| r.error.clone()),
        }
    }
}

#[derive(Debug)]
pub struct StationBoard {
    pub station: &'static Station,
    pub rows: u64,
    pub first: Option<NaiveDate>,
    pub latest: Option<NaiveDate>,
    /// The newest observations, oldest first, covering the feature lookback
    /// before `latest` (what a forecast or a posted next day needs).
    pub recent: Vec<Observation>,
    /// The forecast from the newest observation, when a model serves.
    pub forecast: Option<Arc<Forecast>>,
}

impl Board {
    pub fn station(&self, location: &str) -> Option<&StationBoard> {
        self.stations
            .iter()
            .find(|s| s.station.location == location)
    }

    /// Stations whose newest observation is older than the stale limit
    /// (stations with no data at all count too), model or no model.
    pub fn stale_count(&self) -> usize {
        let Some(today) = self.today else {
            return self.stations.len();
        };
        self.stations
            .iter()
            .filter(|s| {
                s.latest
                    .is_none_or(|d| (today - d).num_days() > self.stale_after_days)
            })
            .count()
    }

    /// The newest observation date over all stations.
    pub fn newest(&self) -> Option<NaiveDate> {
        self.stations.iter().filter_map(|s| s.latest).max()
    }
}

impl Serving {
    /// A cached document named `name`, if it was made from data version
    /// `version` (see [`Store::data_version`]).
    pub fn document(&self, name: &'static str, version: i64) -> Option<axum::body::Bytes> {
        let docs = self.documents.lock().ok()?;
        docs.get(name)
            .filter(|(v, _)| *v == version)
            .map(|(_, b)| b.clone())
    }

    /// Keep `doc`, made from data version `version`.
    pub fn keep_document(&self, name: &'static str, version: i64, doc: axum::body::Bytes) {
        if let Ok(mut docs) = self.documents.lock() {
            docs.insert(name, (version, doc));
        }
    }

    /// The data version the board was built from (-1 before the first).
    pub fn data_version(&self) -> i64 {
        self.built_from.load(Ordering::Acquire)
    }

    pub fn board(&self) -> Arc<Board> {
        self.board.load_full()
    }

    /// Bring the champion and the board up to date with the database and
    /// `today`. Cheap when nothing changed: one `PRAGMA data_version`.
    pub fn sync(
        &self,
        store: &Store,
        today: NaiveDate,
        stale_after_days: i64,
    ) -> Result<(), StoreError> {
        let version = store.data_version()?;
        let board = self.board.load();
        let model = self.current.load().as_ref().map(|m| m.version);
        if version == self.built_from.load(Ordering::Acquire)
            && board.today == Some(today)
            && board.model_version == model
        {
            return Ok(());
        }
        self.refresh(store)?;
        self.rebuild(store, today, stale_after_days)?;
        self.built_from.store(version, Ordering::Release);
        Ok(())
    }

    /// Read each station's newest observations and forecast them again.
    pub fn rebuild(
        &self,
        store: &Store,
        today: NaiveDate,
        stale_after_days: i64,
    ) -> Result<(), StoreError> {
        let stats = store.station_stats()?;
        let model = self.get();
        let mut stations = Vec::with_capacity(STATIONS.len());
        for st in STATIONS.iter() {
            let stat = stats.iter().find(|x| x.location == st.location);
            let latest = stat.and_then(|x| x.latest);
            let recent = match latest {
                Some(d) => store.observations_between(
                    st.location,
                    d - chrono::Days::new(features::LOOKBACK_DAYS),
                    d,
                )?,
                None => Vec::new(),
            };
            let forecast = match (&model, latest) {
                (Some(m), Some(d)) => {
                    forecast_from(m, st, &recent, d, today, stale_after_days).map(Arc::new)
                }
                _ => None,
            };
            stations.push(StationBoard {
                station: st,
                rows: stat.map_or(0, |x| x.rows),
                first: stat.and_then(|x| x.first),
                latest,
                recent,
                forecast,
            });
        }
        let source = SourceStatus::from_runs(&store.run_heads(Some("scrape"), 50)?);
        let record_30d = store.track_record(None, today - chrono::Days::new(30))?;
        let newest_write = if store.is_read_only() {
            store.newest_write()?
        } else {
            None
        };
        self.board.store(Arc::new(Board {
            newest_write,
            today: Some(today),
            model_version: model.map(|m| m.version),
            stale_after_days,
            stations,
            source,
            record_30d,
        }));
        Ok(())
    }

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
        if store.is_read_only() {
            // A replica records nothing: it serves the deployed champion or,
            // when that does not load, says why (the primary falls back).
            return self.refresh(store);
        }
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
    /// The place's name for people, e.g. `Sydney Airport` (`location` is
    /// the identifier, e.g. `SydneyAirport`).
    pub display_name: String,
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
    /// `forecast`: from the newest stored observation, as served live.
    /// `hindcast`: asked for an earlier day (`?date=`). `posted`: from an
    /// observation sent to `POST /api/v1/predict`. Only the daily job logs
    /// forecasts; hindcasts and posted ones are never logged or scored.
    pub kind: ForecastKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastKind {
    Forecast,
    Hindcast,
    Posted,
}

/// The forecast from `history`'s last observation (dated `date`).
fn forecast_from(
    model: &LoadedModel,
    station: &Station,
    history: &[Observation],
    date: NaiveDate,
    today: NaiveDate,
    stale_after_days: i64,
) -> Option<Forecast> {
    if history.last().map(|o| o.date) != Some(date) {
        return None;
    }
    let row = features::encode(history)?;
    let probability = model.predict(&row);
    let age = (today - date).num_days();
    Some(Forecast {
        location: station.location.to_string(),
        display_name: station.display_name.to_string(),
        observation_date: date,
        forecast_date: features::target_date(date),
        probability,
        rain: probability >= model.threshold,
        threshold: model.threshold,
        model_version: model.version,
        stale: age > stale_after_days,
        data_age_days: age,
        kind: ForecastKind::Forecast,
    })
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

/// A hindcast: the forecast from `date`'s observation, read from the
/// database (read-only). Never logged.
pub fn hindcast(
    store: &Store,
    model: &LoadedModel,
    station: &Station,
    date: NaiveDate,
    today: NaiveDate,
    stale_after_days: i64,
) -> Result<Forecast, ForecastError> {
    let history = store.observations_between(
        station.location,
        date - chrono::Days::new(features::LOOKBACK_DAYS),
        date,
    )?;
    let mut f = forecast_from(model, station, &history, date, today, stale_after_days).ok_or_else(
        || ForecastError::NoObservation {
            location: station.location.to_string(),
            date,
        },
    )?;
    f.kind = ForecastKind::Hindcast;
    Ok(f)
}

/// The forecast from a posted observation, with the stored days before it
/// (from the board when it holds them, else read-only from the database).
pub fn predict_posted(
    store: &Store,
    board: &Board,
    model: &LoadedModel,
    obs: Observation,
) -> Result<Forecast, StoreError> {
    let date = obs.date;
    let from = date - chrono::Days::new(features::LOOKBACK_DAYS);
    // The board holds every stored row from `latest - LOOKBACK` on, so it
    // answers whenever the lookback starts inside that span.
    let mut history: Vec<Observation> = match board.station(obs.location) {
        Some(sb)
            if sb
                .latest
                .is_none_or(|l| from >= l - chrono::Days::new(features::LOOKBACK_DAYS)) =>
        {
            sb.recent
                .iter()
                .filter(|o| o.date >= from && o.date < date)
                .cloned()
                .collect()
        }
        _ => store.observations_between(obs.location, from, date - chrono::Days::new(1))?,
    };
    let location = obs.location;
    history.push(obs);
    let row = features::encode(&history)
        .ok_or_else(|| StoreError::Corrupt("empty history for a posted observation".into()))?;
    let probability = model.predict(&row);
    Ok(Forecast {
        location: location.to_string(),
        display_name: crate::stations::by_location(location)
            .map_or(location, |s| s.display_name)
            .to_string(),
        observation_date: date,
        forecast_date: features::target_date(date),
        probability,
        rain: probability >= model.threshold,
        threshold: model.threshold,
        model_version: model.version,
        stale: false,
        data_age_days: 0,
        kind: ForecastKind::Posted,
    })
}
