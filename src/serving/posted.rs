//! Forecasts from posted observations (`POST /api/v1/predict`): the posted
//! day with the stored days before it, from the board when it holds them,
//! else read-only from the database. Never logged or scored.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;

use super::Serving;
use super::board::Board;
use super::forecast::{Forecast, ForecastKind, neighbourhood_on};
use crate::features::{self, Neighbourhood};
use crate::obs::Observation;
use crate::registry::LoadedModel;
use crate::store::{Store, StoreError};

impl Serving {
    /// Whether the board alone answers every one of `observations` (no
    /// database read, so no need to leave the async threads).
    pub fn board_covers(&self, observations: &[Observation]) -> bool {
        let board = self.board();
        observations
            .iter()
            .all(|o| board.covers(o.location, o.date))
    }

    /// What answering `observations` costs, in database reads: one per
    /// observation whose history the board does not hold, plus one per
    /// distinct day whose neighbours it does not hold (each reads every
    /// station's reports of that day). A batch the board answers costs 0.
    pub fn posted_cost(&self, observations: &[Observation]) -> usize {
        let board = self.board();
        let rows = observations
            .iter()
            .filter(|o| !board.covers(o.location, o.date))
            .count();
        let days: HashSet<NaiveDate> = observations
            .iter()
            .map(|o| o.date)
            .filter(|d| !board.neighbours_cover(*d))
            .collect();
        rows + days.len()
    }

    /// Forecasts from `observations`, in order, by `model`. Ages and
    /// staleness are the posted observations' own on `today`.
    pub fn predict_posted(
        &self,
        store: &Store,
        model: &LoadedModel,
        observations: Vec<Observation>,
        today: NaiveDate,
        stale_after_days: i64,
    ) -> Result<Vec<Forecast>, StoreError> {
        self.predict_posted_until(
            store,
            model,
            observations,
            today,
            stale_after_days,
            &AtomicBool::new(false),
        )
    }

    /// [`Serving::predict_posted`] that stops between observations once
    /// `cancel` is set (the client went away): `StoreError::Unavailable`.
    pub fn predict_posted_until(
        &self,
        store: &Store,
        model: &LoadedModel,
        observations: Vec<Observation>,
        today: NaiveDate,
        stale_after_days: i64,
        cancel: &AtomicBool,
    ) -> Result<Vec<Forecast>, StoreError> {
        let board = self.board();
        // Days the board does not hold read their neighbours from the
        // database once per request, not once per observation.
        let mut days = HashMap::new();
        observations
            .into_iter()
            .map(|o| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(StoreError::Unavailable(
                        "the client went away; the batch was stopped".into(),
                    ));
                }
                predict_one(store, &board, &mut days, model, o, today, stale_after_days)
            })
            .collect()
    }
}

/// The forecast from a posted observation, with the stored days before it
/// and the other stations' reports of its day (`days` caches those the
/// board does not hold).
fn predict_one(
    store: &Store,
    board: &Board,
    days: &mut HashMap<NaiveDate, Neighbourhood>,
    model: &LoadedModel,
    obs: Observation,
    today: NaiveDate,
    stale_after_days: i64,
) -> Result<Forecast, StoreError> {
    let date = obs.date;
    let from = date - chrono::Days::new(features::LOOKBACK_DAYS);
    let mut history: Vec<Observation> = match board.station(obs.location) {
        Some(sb) if board.covers(obs.location, date) => sb
            .recent
            .iter()
            .filter(|o| o.date >= from && o.date < date)
            .cloned()
            .collect(),
        _ => store.observations_between(obs.location, from, date - chrono::Days::new(1))?,
    };
    let around = if board.neighbours_cover(date) {
        &board.around
    } else {
        match days.entry(date) {
            Entry::Occupied(e) => &*e.into_mut(),
            Entry::Vacant(e) => &*e.insert(neighbourhood_on(store, date)?),
        }
    };
    history.push(obs);
    Forecast::from_history(
        model,
        &history,
        around,
        today,
        stale_after_days,
        ForecastKind::Posted,
        crate::issue::Issue::Afternoon,
    )
    .ok_or_else(|| StoreError::Corrupt("empty history for a posted observation".into()))
}
