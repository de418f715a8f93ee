//! The forecast itself: from the board when it is current, else read from
//! the database (read-only) and kept briefly in the hindcast cache.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::Serving;
use crate::features::{self, Neighbourhood};
use crate::issue::{Issue, Visibility};
use crate::obs::Observation;
use crate::registry::LoadedModel;
use crate::stations::Station;
use crate::store::{Store, StoreError};

/// A forecast for the day after `observation_date`: what `GET
/// /api/v1/forecast/{location}` and `POST /api/v1/predict` answer, and what
/// the pages show.
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
    /// The issue it serves: `afternoon` (from the rows shown after 3 pm on
    /// the day before the rain day), `morning` or `day_before`.
    #[schema(value_type = String)]
    pub issue: Issue,
    /// When this issue is made (the station's local issue time, in UTC).
    pub issued_at: DateTime<Utc>,
    /// The rain day's window: 9 am local the day before ...
    pub window_start: DateTime<Utc>,
    /// ... to 9 am local on `forecast_date`.
    pub window_end: DateTime<Utc>,
    /// Chance of more than 1 mm of rain.
    pub probability: f64,
    /// The model's own chance of more than 1 mm, before the level
    /// correction learned from its recent forecasts' outcomes moved it to
    /// `probability`.
    pub model_probability: f64,
    /// The chance of each rain amount, and BOM's possible-rainfall range;
    /// `null` from model versions trained before amounts.
    #[schema(required = true)]
    pub amounts: Option<crate::amounts::Amounts>,
    /// The chance of at least the amount asked for with `?mm=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_least: Option<crate::amounts::AtLeast>,
    /// Yes/no at the model's tuned threshold.
    pub rain: bool,
    pub threshold: f64,
    pub model_version: i64,
    /// The observation is older than the configured limit.
    pub stale: bool,
    /// Days between the observation and today.
    pub data_age_days: i64,
    /// `forecast`: from the newest stored observation, as served live.
    /// `hindcast`: asked for an earlier day (`?date=`). `posted`: from an
    /// observation sent to `POST /api/v1/predict`. Only the daily job logs
    /// forecasts; hindcasts and posted ones are never logged or scored.
    pub kind: ForecastKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastKind {
    Forecast,
    Hindcast,
    Posted,
}

impl Forecast {
    /// The forecast from `history`, whose last observation is the one it
    /// rests on (the days before it feed the history features), with the
    /// other stations' reports `around` it. `None` for an empty history.
    ///
    /// It serves `issue`: the last observation is read as BOM showed it at
    /// that issue, and the forecast is for that issue's rain day.
    pub fn from_history(
        model: &LoadedModel,
        history: &[Observation],
        around: &Neighbourhood,
        today: NaiveDate,
        stale_after_days: i64,
        kind: ForecastKind,
        issue: Issue,
    ) -> Option<Forecast> {
        let at = Moment {
            today,
            stale_after_days,
            kind,
            issue,
        };
        Self::from_history_with(model, history, around, at, &mut |row| model.predict(row))
    }

    /// [`from_history`](Self::from_history), with `predict` giving the
    /// model's probability for the encoded row (the board's memo of rows it
    /// already scored).
    pub(super) fn from_history_with(
        model: &LoadedModel,
        history: &[Observation],
        around: &Neighbourhood,
        at: Moment,
        predict: &mut dyn FnMut(&features::FeatureRow) -> f64,
    ) -> Option<Forecast> {
        let Moment {
            today,
            stale_after_days,
            kind,
            issue,
        } = at;
        let last = history.last()?;
        let (location, date) = (last.location, last.date);
        let station = crate::stations::by_location(location)?;
        let view = features::View::at_issue(&Visibility::current(), station, date, issue);
        let row = features::encode(history, around, &view)?;
        let age = (today - date).num_days();
        let forecast_date = features::target_date(date, issue);
        let model_probability = predict(&row);
        let (probability, curve) = model.chances(model_probability, location, forecast_date, issue);
        let amounts = curve.map(|c| crate::amounts::Amounts::from(&c));
        let (window_start, window_end) = crate::issue::window(station, forecast_date);
        Some(Forecast {
            location: location.to_string(),
            display_name: crate::stations::display_name(location).to_string(),
            observation_date: date,
            forecast_date,
            issue,
            issued_at: issue.due_at(station, forecast_date, &Visibility::current()),
            window_start,
            window_end,
            probability,
            model_probability,
            amounts,
            at_least: None,
            rain: probability >= model.threshold,
            threshold: model.threshold,
            model_version: model.version,
            stale: age > stale_after_days,
            data_age_days: age,
            kind,
        })
    }
}

/// When and how a forecast is made: the day its age counts to, the stale
/// limit, its kind and the issue it serves.
#[derive(Debug, Clone, Copy)]
pub(super) struct Moment {
    pub today: NaiveDate,
    pub stale_after_days: i64,
    pub kind: ForecastKind,
    pub issue: Issue,
}

/// The forecast at `at.issue` from `history`'s last observation, which must
/// be `station`'s; `predict` scores the encoded row.
pub(super) fn forecast_from(
    model: &LoadedModel,
    station: &Station,
    history: &[Observation],
    around: &Neighbourhood,
    at: Moment,
    predict: &mut dyn FnMut(&features::FeatureRow) -> f64,
) -> Option<Forecast> {
    if history.last().map(|o| o.location) != Some(station.location) {
        return None;
    }
    Forecast::from_history_with(model, history, around, at, predict)
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
    let around = neighbourhood_on(store, date)?;
    let on_date = match history.last() {
        Some(o) if o.date == date => &history[..],
        _ => &[],
    };
    let at = Moment {
        today,
        stale_after_days,
        kind: ForecastKind::Hindcast,
        issue: Issue::Afternoon,
    };
    forecast_from(model, station, on_date, &around, at, &mut |row| {
        model.predict(row)
    })
    .ok_or_else(|| ForecastError::NoObservation {
        location: station.location.to_string(),
        date,
    })
}

/// Every station's reports of `date` and the day before, from the database:
/// what a forecast for a day the board does not hold reads its neighbours
/// from.
pub(super) fn neighbourhood_on(
    store: &Store,
    date: NaiveDate,
) -> Result<Neighbourhood, StoreError> {
    Neighbourhood::from_store(store, date.pred_opt().unwrap_or(date), date)
}

/// How a forecast request is answered (see [`Serving::lookup`]).
pub enum Lookup {
    /// From memory: the board, or the hindcast cache.
    Ready(Arc<Forecast>),
    /// It needs a database read: pass this to [`Serving::read_forecast`],
    /// off the async threads.
    Read(ForecastRead),
}

/// A forecast to read from the database.
pub struct ForecastRead {
    model: Arc<LoadedModel>,
    station: &'static Station,
    /// `None`: from the newest stored observation (the board is behind).
    date: Option<NaiveDate>,
    today: NaiveDate,
    stale_after_days: i64,
}

impl Serving {
    /// The forecast for `station` by `model`, from memory when it can be:
    /// the board's when `date` is `None` or the newest observation's, else
    /// a recent hindcast from the cache. Never touches the database.
    pub fn lookup(
        &self,
        model: Arc<LoadedModel>,
        station: &'static Station,
        date: Option<NaiveDate>,
        today: NaiveDate,
        stale_after_days: i64,
    ) -> Lookup {
        let board = self.board();
        let entry = board.station(station.location);
        let latest = entry.and_then(|e| e.latest);
        let read = |date| {
            Lookup::Read(ForecastRead {
                model: model.clone(),
                station,
                date,
                today,
                stale_after_days,
            })
        };
        if date.is_none() || date == latest {
            if let Some(f) = entry.and_then(|e| e.forecast.clone())
                && f.model_version == model.version
            {
                if board.today == Some(today) {
                    return Lookup::Ready(f);
                }
                // A new day before the board's next rebuild: age it here.
                let mut f = (*f).clone();
                f.data_age_days = (today - f.observation_date).num_days();
                f.stale = f.data_age_days > stale_after_days;
                return Lookup::Ready(Arc::new(f));
            }
            // The board is behind (a model or data that arrived moments
            // ago): answer from the database, read-only, until it catches up.
            return read(None);
        }
        let date = date.expect("checked above");
        let key = (station.location, date, today, ForecastKind::Hindcast);
        match self.hindcasts.get(key, model.version) {
            Some(f) => Lookup::Ready(f),
            None => read(Some(date)),
        }
    }

    /// Read the forecast [`Serving::lookup`] could not answer from memory
    /// (blocking: it reads the database), and keep it in the cache.
    pub fn read_forecast(
        &self,
        store: &Store,
        r: ForecastRead,
    ) -> Result<Arc<Forecast>, ForecastError> {
        let location = r.station.location;
        let (date, kind) = match r.date {
            Some(d) => (d, ForecastKind::Hindcast),
            None => {
                let latest = store
                    .latest_date(location)?
                    .ok_or_else(|| ForecastError::NoData(location.to_string()))?;
                (latest, ForecastKind::Forecast)
            }
        };
        let key = (location, date, r.today, kind);
        if let Some(f) = self.hindcasts.get(key, r.model.version) {
            return Ok(f);
        }
        let mut f = hindcast(
            store,
            &r.model,
            r.station,
            date,
            r.today,
            r.stale_after_days,
        )?;
        f.kind = kind;
        let f = Arc::new(f);
        self.hindcasts.put(key, f.clone());
        Ok(f)
    }
}
