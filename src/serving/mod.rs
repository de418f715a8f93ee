//! Prediction: everything between a stored or posted observation and a
//! forecast. The web layer only calls in here.
//!
//! The champion sits behind an `ArcSwap`: a promotion (from training, the
//! admin page, or the CLI in another process, noticed by
//! [`Serving::refresh`]) swaps it in without a restart, and requests in
//! flight finish on the model they started with ([`champion`]).
//!
//! Reads never touch the database on the hot path and never write: the
//! [`Board`] holds each station's newest observations and its current
//! forecast, rebuilt whenever the data, the champion or the day changes
//! ([`Serving::sync`]). Hindcasts (an earlier day) are read from the
//! database and kept briefly in a bounded [`cache`]. Posted observations
//! are parsed once at the edge into an [`Observation`](crate::obs::Observation)
//! ([`input`]) and forecast from the board's history ([`posted`]). Only the
//! daily job logs forecasts.

pub mod board;
pub mod cache;
mod champion;
pub mod forecast;
pub mod input;
pub mod posted;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use chrono::{DateTime, Utc};

pub use board::{Board, SourceStatus, StationBoard};
pub use forecast::{Forecast, ForecastError, ForecastKind, Lookup, hindcast};
pub use input::{InputError, PredictInput};

use crate::registry::LoadedModel;
use crate::store::{Store, StoreError};

/// An older model serving in place of a champion that does not load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fallback {
    /// The champion that did not load.
    pub refused_version: i64,
    /// The model serving instead.
    pub serving_version: i64,
    pub reason: String,
}

pub struct Serving {
    current: ArcSwapOption<LoadedModel>,
    /// A champion version that failed to load, so it is not retried in a loop.
    refused: Mutex<Option<(i64, String)>>,
    /// An older model serves because the deployed champion did not load.
    fallback: Mutex<Option<Fallback>>,
    board: ArcSwap<Board>,
    /// The store's data version the board was built from (-1: never built).
    built_from: AtomicI64,
    /// JSON documents computed from the database, reused until the data
    /// version changes (`/api/v1/models`, `/api/v1/models/{v}`): only
    /// those of the newest data version are kept.
    documents: Mutex<HashMap<String, (i64, axum::body::Bytes)>>,
    /// Hindcasts and forecasts read while the board is behind.
    hindcasts: cache::HindcastCache,
}

impl Default for Serving {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            refused: Mutex::new(None),
            fallback: Mutex::new(None),
            board: ArcSwap::from_pointee(Board::default()),
            built_from: AtomicI64::new(-1),
            documents: Mutex::new(Default::default()),
            hindcasts: cache::HindcastCache::default(),
        }
    }
}

impl Serving {
    /// A cached document named `name`, if it was made from data version
    /// `version` (see [`Store::data_version`]).
    pub fn document(&self, name: &str, version: i64) -> Option<axum::body::Bytes> {
        let docs = self.documents.lock().ok()?;
        docs.get(name)
            .filter(|(v, _)| *v == version)
            .map(|(_, b)| b.clone())
    }

    /// Keep `doc`, made from data version `version`, and drop the documents
    /// of older data versions (so the cache holds at most one document per
    /// name that the current data can answer).
    pub fn keep_document(&self, name: &str, version: i64, doc: axum::body::Bytes) {
        if let Ok(mut docs) = self.documents.lock() {
            if docs.values().any(|(v, _)| *v < version) {
                docs.retain(|_, (v, _)| *v >= version);
            }
            docs.insert(name.to_string(), (version, doc));
        }
    }

    /// The data version the board was built from (-1 before the first).
    pub fn data_version(&self) -> i64 {
        self.built_from.load(Ordering::Acquire)
    }

    pub fn board(&self) -> Arc<Board> {
        self.board.load_full()
    }

    /// The serving champion, if any.
    pub fn get(&self) -> Option<Arc<LoadedModel>> {
        self.current.load_full()
    }

    /// The fallback in force, if an older model serves because the
    /// champion did not load.
    pub fn fallback(&self) -> Option<Fallback> {
        self.fallback.lock().ok().and_then(|f| f.clone())
    }

    pub(crate) fn set_fallback(&self, f: Option<Fallback>) {
        let on = f.is_some();
        if let Ok(mut g) = self.fallback.lock() {
            *g = f;
        }
        metrics::gauge!("raincast_model_fallback").set(if on { 1.0 } else { 0.0 });
    }

    /// Why the deployed champion is not serving, if it was refused.
    pub fn refused(&self) -> Option<(i64, String)> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }

    /// Bring the champion and the board up to date with the database and
    /// `today`. Cheap when nothing changed: one `PRAGMA data_version`.
    ///
    /// The issues due change at the hour and half hour (10:00, 16:30 and
    /// 9 am local in six zones), so the board is rebuilt when `now` enters
    /// another half hour too.
    pub fn sync(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        stale_after_days: i64,
    ) -> Result<(), StoreError> {
        let version = store.data_version()?;
        let board = self.board.load();
        // Never back in time: a caller that read the clock before another
        // rebuilt the board (the poll loop, while a replay's clock races
        // ahead) must not put an older moment's issues back on it.
        let now = board.built_at.map_or(now, |built| now.max(built));
        let model = self.current.load().as_ref().map(|m| m.version);
        let half_hour = |t: DateTime<Utc>| t.timestamp().div_euclid(1800);
        if version == self.built_from.load(Ordering::Acquire)
            && board.built_at.map(half_hour) == Some(half_hour(now))
            && board.model_version == model
        {
            return Ok(());
        }
        self.refresh(store)?;
        self.rebuild(store, now, stale_after_days)?;
        self.built_from.store(version, Ordering::Release);
        Ok(())
    }

    /// Read the board's run- and record-derived parts again, keeping its
    /// stations and forecasts ([`Board::with_fresh_records`]): what a run
    /// whose forecast log just built the board changed after it. The data
    /// version it was built from stays, so the next [`Serving::sync`]
    /// still rebuilds it whole if anything else was written meanwhile.
    pub fn refresh_records(&self, store: &Store) -> Result<(), StoreError> {
        let old = self.board.load_full();
        let board = Arc::new(old.with_fresh_records(store)?);
        // A whole rebuild stored meanwhile (the poll loop's) is as recent
        // and complete: it stays, and this one is dropped.
        self.board.compare_and_swap(&old, board);
        Ok(())
    }

    /// Read each station's newest observations and forecast them again.
    pub fn rebuild(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        stale_after_days: i64,
    ) -> Result<(), StoreError> {
        let previous = self.board.load_full();
        let board = Board::build(
            store,
            self.get().as_deref(),
            now,
            stale_after_days,
            Some(&previous),
        )?;
        self.board.store(Arc::new(board));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// After a run's forecast log built the board, its end re-reads only
    /// the records: a forecast this process scored since counts, and the
    /// moment and the data version it was built from stay. With nothing
    /// scored here since, the live record is kept; what another writer
    /// scored arrives with the next whole sync (the data version moved).
    #[test]
    fn a_records_refresh_reads_new_scores_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("r.db"), std::time::Duration::from_secs(5)).unwrap();
        let serving = Serving::default();
        let now = Utc.with_ymd_and_hms(2024, 10, 2, 0, 0, 0).unwrap();
        let insert = |location: &str, outcome: Option<bool>| {
            store
                .with_conn(|c| {
                    c.execute_batch("PRAGMA foreign_keys = OFF")?;
                    c.execute(
                        "INSERT INTO predictions (location, for_date, issue, version, probability,
                                                  served_at, threshold, outcome)
                         VALUES (?1, '2024-10-01', 'afternoon', 1, 0.7,
                                 '2024-09-30T06:00:00Z', 0.5, ?2)",
                        rusqlite::params![location, outcome],
                    )?;
                    Ok(())
                })
                .unwrap();
        };
        insert("Sydney", None);
        serving.sync(&store, now, 2).unwrap();
        let built_from = serving.data_version();
        assert_eq!(serving.board().record_30d.verified, 0);
        let mut day = crate::obs::Observation::empty(
            "Sydney",
            chrono::NaiveDate::from_ymd_opt(2024, 10, 1).unwrap(),
        );
        day.rain_today = Some(true);
        store.upsert_observations(&[day.clone()], "test").unwrap();
        assert_eq!(store.score_predictions(now).unwrap(), 1);
        serving.refresh_records(&store).unwrap();
        let board = serving.board();
        assert_eq!(board.record_30d.verified, 1);
        assert_eq!(board.record_30d.hits, 1);
        assert_eq!(board.built_at, Some(now));
        assert_eq!(
            serving.data_version(),
            built_from,
            "a whole sync still follows"
        );
        assert_eq!(board.stations.len(), crate::stations::STATIONS.len());
        // Another process on the same file writes Melbourne's day and
        // scores its forecast.
        insert("Melbourne", None);
        let other =
            Store::open(&dir.path().join("r.db"), std::time::Duration::from_secs(5)).unwrap();
        day.location = "Melbourne";
        other.upsert_observations(&[day], "test").unwrap();
        assert_eq!(other.score_predictions(now).unwrap(), 1, "Melbourne's");
        serving.refresh_records(&store).unwrap();
        assert_eq!(serving.board().record_30d.verified, 1, "kept");
        serving.sync(&store, now, 2).unwrap();
        assert_eq!(serving.board().record_30d.verified, 2, "read again");
    }

    /// A caller that read the clock before another rebuilt the board (the
    /// web poll loop, while a replay's clock races ahead) never puts the
    /// older moment back: issues due depend on it.
    #[test]
    fn the_board_never_goes_back_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("b.db"), std::time::Duration::from_secs(5)).unwrap();
        let serving = Serving::default();
        let later = Utc.with_ymd_and_hms(2024, 10, 2, 0, 0, 0).unwrap();
        let earlier = later - chrono::Duration::minutes(40);
        serving.sync(&store, later, 2).unwrap();
        assert_eq!(serving.board().built_at, Some(later));
        serving.sync(&store, earlier, 2).unwrap();
        assert_eq!(serving.board().built_at, Some(later));
        let next = later + chrono::Duration::minutes(30);
        serving.sync(&store, next, 2).unwrap();
        assert_eq!(serving.board().built_at, Some(next));
    }
}
