//! The `observations` table: one row per (location, date).

use std::sync::LazyLock;

use chrono::NaiveDate;
use rusqlite::types::Value;
use rusqlite::{Row, params_from_iter};
use serde::Serialize;

use super::{Result, Store, StoreError};
use crate::obs::{Compass, DIRS, NUMS, Observation};
use crate::stations;

/// What an upsert did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// The earliest day whose stored row is new or changed: scoring looks
    /// again at forecasts from it on ([`Store::note_changed`]).
    #[serde(skip)]
    pub changed_from: Option<NaiveDate>,
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.changed_from = earliest(self.changed_from, o.changed_from);
    }
}

/// The earlier of two optional days.
pub(crate) fn earliest(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Per-station data health.
#[derive(Debug, Clone, Serialize)]
pub struct StationStats {
    pub location: String,
    pub rows: u64,
    pub first: Option<NaiveDate>,
    pub latest: Option<NaiveDate>,
}

/// The value columns, in the order of [`Observation`]'s fields.
fn value_columns() -> Vec<&'static str> {
    let mut cols: Vec<&str> = NUMS.iter().map(|s| s.column).collect();
    cols.extend(DIRS.iter().map(|(_, _, c)| *c));
    cols.extend(["rain_today", "rain_tomorrow"]);
    cols
}

static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT location, date, {} FROM observations",
        value_columns().join(", ")
    )
});

static INSERT: LazyLock<String> = LazyLock::new(|| {
    let cols = value_columns();
    let n = cols.len();
    let marks: Vec<String> = (1..=n + 5).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT OR IGNORE INTO observations (location, date, {}, source, fetched_at, updated_at) VALUES ({})",
        cols.join(", "),
        marks.join(", ")
    )
});

/// Update only when some value differs, so `changes()` tells updated from unchanged.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    let cols = value_columns();
    let n = cols.len();
    let set: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 3))
        .collect();
    let differ: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} IS NOT ?{}", i + 3))
        .collect();
    format!(
        "UPDATE observations SET {}, source = ?{}, fetched_at = ?{}, updated_at = ?{} \
         WHERE location = ?1 AND date = ?2 AND ({})",
        set.join(", "),
        n + 3,
        n + 4,
        n + 5,
        differ.join(" OR ")
    )
});

fn values(o: &Observation) -> Vec<Value> {
    let mut v: Vec<Value> = Vec::with_capacity(25);
    v.push(Value::Text(o.location.to_string()));
    v.push(Value::Text(o.date.to_string()));
    v.extend(o.nums.iter().map(|x| x.map_or(Value::Null, Value::Real)));
    v.extend(
        o.dirs
            .iter()
            .map(|d| d.map_or(Value::Null, |d| Value::Text(d.as_str().to_string()))),
    );
    for b in [o.rain_today, o.rain_tomorrow] {
        v.push(b.map_or(Value::Null, |b| Value::Integer(b as i64)));
    }
    v
}

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Observation> {
    let location: String = r.get(0)?;
    let location = stations::by_location(&location)
        .map(|s| s.location)
        .ok_or_else(|| bad(0, format!("unknown location {location}")))?;
    let date: NaiveDate = r.get(1)?;
    let mut o = Observation::empty(location, date);
    for i in 0..NUMS.len() {
        o.nums[i] = r.get(2 + i)?;
    }
    let base = 2 + NUMS.len();
    for i in 0..DIRS.len() {
        let d: Option<String> = r.get(base + i)?;
        o.dirs[i] = match d {
            None => None,
            Some(s) => Some(s.parse::<Compass>().map_err(|e| bad(base + i, e))?),
        };
    }
    o.rain_today = r.get(base + DIRS.len())?;
    o.rain_tomorrow = r.get(base + DIRS.len() + 1)?;
    Ok(o)
}

fn bad(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        Box::new(StoreError::Corrupt(msg)),
    )
}

impl Store {
    /// Insert or update observations in one transaction. Rows whose values
    /// are unchanged are left alone (their `updated_at` too).
    #[tracing::instrument(level = "debug", skip(self, obs))]
    pub fn upsert_observations(&self, obs: &[Observation], source: &str) -> Result<UpsertCounts> {
        let now = self.now_text();
        let counts = self.write(|tx| upsert_in(tx, obs, source, &now))?;
        self.note_changed(counts.changed_from);
        Ok(counts)
    }

    /// One observation, or `NotFound`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn observation(&self, location: &str, date: NaiveDate) -> Result<Observation> {
        self.with_conn(|c| {
            let sql = format!("{} WHERE location = ?1 AND date = ?2", *SELECT);
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query_map(rusqlite::params![location, date], from_row)?;
            match rows.next() {
                Some(r) => Ok(r?),
                None => Err(StoreError::NotFound(format!(
                    "observation for {location} on {date}"
                ))),
            }
        })
    }

    /// Observations of one station with `from <= date <= to`, oldest first.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn observations_between(
        &self,
        location: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Observation>> {
        self.with_conn(|c| {
            let sql = format!(
                "{} WHERE location = ?1 AND date >= ?2 AND date <= ?3 ORDER BY date",
                *SELECT
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params![location, from, to], from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Every observation, ordered by location then date (for training).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn all_observations(&self) -> Result<Vec<Observation>> {
        self.with_conn(|c| {
            let sql = format!("{} ORDER BY location, date", *SELECT);
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([], from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub fn count_observations(&self) -> Result<u64> {
        self.with_conn(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM observations", [], |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    /// Newest observation date of a station, or `None` when it has none.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn latest_date(&self, location: &str) -> Result<Option<NaiveDate>> {
        self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT max(date) FROM observations WHERE location = ?1")?
                    .query_row([location], |r| r.get(0))?,
            )
        })
    }

    /// Per day with labelled rows (a known `rain_tomorrow`): how many, and
    /// how many of them are followed by rain. Ascending by date.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn labelled_days(&self) -> Result<Vec<(NaiveDate, u64, u64)>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT date, count(*), sum(rain_tomorrow) FROM observations
                 WHERE rain_tomorrow IS NOT NULL GROUP BY date ORDER BY date",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, NaiveDate>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Rain days and labelled days per (station, month of year) before
    /// `before`: what climatology is made of.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn rain_counts_before(&self, before: NaiveDate) -> Result<Vec<(String, u32, u64, u64)>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT location, CAST(strftime('%m', date) AS INTEGER), sum(rain_today), count(*)
                 FROM observations WHERE date < ?1 AND rain_today IS NOT NULL
                 GROUP BY location, 2",
            )?;
            let rows = st.query_map([before], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)? as u32,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)? as u64,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// How many days before `before` had each rain amount, per station and
    /// calendar month: `(location, month, mm, days)`, for the amounts'
    /// climatology.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn rain_amounts_before(&self, before: NaiveDate) -> Result<Vec<(String, u32, f64, u64)>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT location, CAST(strftime('%m', date) AS INTEGER), rainfall, count(*)
                 FROM observations WHERE date < ?1 AND rainfall IS NOT NULL
                 GROUP BY location, 2, rainfall",
            )?;
            let rows = st.query_map([before], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)? as u32,
                    r.get::<_, f64>(2)?,
                    r.get::<_, i64>(3)? as u64,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Each station's change counter, which every write of its
    /// observations bumps in the same transaction ([`bump_station`];
    /// stations never written are absent), with the store's re-open
    /// generation: equal pairs mean the station's rows are as they were.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn station_generations(&self) -> Result<(i64, Vec<(String, i64)>)> {
        let reopened = self.reopen_generation();
        let rows = self.with_conn(|c| {
            let mut st = c.prepare_cached("SELECT location, generation FROM station_changes")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        Ok((reopened, rows))
    }

    /// [`station_stats`](Self::station_stats) of one station (`None` when it
    /// has no rows).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn station_stats_of(&self, location: &str) -> Result<Option<StationStats>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT count(*), min(date), max(date) FROM observations WHERE location = ?1",
            )?;
            let (rows, first, latest) = st.query_row([location], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?))
            })?;
            Ok((rows > 0).then(|| StationStats {
                location: location.to_string(),
                rows: rows as u64,
                first,
                latest,
            }))
        })
    }

    /// Row counts and date span per station (stations with no rows omitted).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn station_stats(&self) -> Result<Vec<StationStats>> {
        self.with_conn(|c| {
            let mut st = c.prepare(
                "SELECT location, count(*), min(date), max(date) FROM observations GROUP BY location",
            )?;
            let rows = st.query_map([], |r| {
                Ok(StationStats {
                    location: r.get(0)?,
                    rows: r.get::<_, i64>(1)? as u64,
                    first: r.get(2)?,
                    latest: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Share of missing values per field, over all rows (`(weatherAUS name, fraction)`).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn missing_rates(&self) -> Result<Vec<(&'static str, f64)>> {
        let mut names: Vec<&'static str> = NUMS.iter().map(|s| s.name).collect();
        names.extend(DIRS.iter().map(|(_, n, _)| *n));
        let cols = value_columns();
        let exprs: Vec<String> = cols[..names.len()]
            .iter()
            .map(|c| format!("avg({c} IS NULL)"))
            .collect();
        self.with_conn(|c| {
            let sql = format!("SELECT {} FROM observations", exprs.join(", "));
            c.query_row(&sql, [], |r| {
                (0..names.len())
                    .map(|i| Ok((names[i], r.get::<_, Option<f64>>(i)?.unwrap_or(0.0))))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(Into::into)
        })
    }
}

/// The stored row of (`location`, `date`) with its `source`, inside a
/// caller's transaction.
pub(crate) fn existing_in(
    tx: &rusqlite::Transaction<'_>,
    location: &str,
    date: NaiveDate,
) -> Result<Option<(String, Observation)>> {
    let sql = format!(
        "SELECT location, date, {}, source FROM observations WHERE location = ?1 AND date = ?2",
        value_columns().join(", ")
    );
    let mut st = tx.prepare_cached(&sql)?;
    let source_col = 2 + value_columns().len();
    let mut rows = st.query_map(rusqlite::params![location, date], |r| {
        Ok((r.get::<_, String>(source_col)?, from_row(r)?))
    })?;
    Ok(rows.next().transpose()?)
}

/// The upsert inside a caller's transaction; changed rows get `updated_at`
/// = `now` (from [`Store::now_text`]).
pub(crate) fn upsert_in(
    tx: &rusqlite::Transaction<'_>,
    obs: &[Observation],
    source: &str,
    now: &str,
) -> Result<UpsertCounts> {
    let mut insert = tx.prepare_cached(&INSERT)?;
    let mut update = tx.prepare_cached(&UPDATE)?;
    let mut counts = UpsertCounts::default();
    let mut changed: Vec<&str> = Vec::new();
    for o in obs {
        let mut v = values(o);
        v.push(Value::Text(source.to_string()));
        v.push(Value::Text(now.to_string()));
        v.push(Value::Text(now.to_string()));
        if insert.execute(params_from_iter(v.iter()))? == 1 {
            counts.inserted += 1;
            counts.changed_from = earliest(counts.changed_from, Some(o.date));
        } else if update.execute(params_from_iter(v.iter()))? == 1 {
            counts.updated += 1;
            counts.changed_from = earliest(counts.changed_from, Some(o.date));
        } else {
            counts.unchanged += 1;
            continue;
        }
        if changed.last() != Some(&o.location) && !changed.contains(&o.location) {
            changed.push(o.location);
        }
    }
    for location in changed {
        bump_station(tx, location)?;
    }
    Ok(counts)
}

/// Bump `location`'s change counter ([`Store::station_generations`]): every
/// write of its observations calls this in the same transaction, so that a
/// reader that kept its rows can tell they changed.
pub(crate) fn bump_station(tx: &rusqlite::Transaction<'_>, location: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO station_changes (location, generation) VALUES (?1, 1)
         ON CONFLICT (location) DO UPDATE SET generation = generation + 1",
    )?
    .execute([location])?;
    THREAD_BUMPS.with(|b| b.set(b.get() + 1));
    Ok(())
}

thread_local! {
    /// Bumps made by the write transaction running on this thread
    /// ([`Store::write`](super::Store::write) counts them once it commits).
    static THREAD_BUMPS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// The bumps counted on this thread since the last call, and a fresh count.
pub(super) fn take_thread_bumps() -> i64 {
    THREAD_BUMPS.with(|b| b.replace(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obs::Num;
    use std::time::Duration;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db"), Duration::from_secs(5)).unwrap();
        (dir, s)
    }

    fn obs(day: u32, rain: Option<f64>) -> Observation {
        let mut o = Observation::empty("Sydney", NaiveDate::from_ymd_opt(2020, 3, day).unwrap());
        o.set(Num::Rainfall, rain);
        o.set(Num::Humidity3pm, Some(55.0));
        o.dirs[0] = Some(Compass::SSW);
        o.rain_today = o.derived_rain_today();
        o
    }

    #[test]
    fn upsert_inserts_updates_and_skips_unchanged() {
        let (_d, s) = store();
        let c = s
            .upsert_observations(&[obs(1, Some(0.0)), obs(2, None)], "t")
            .unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (2, 0, 0));
        assert_eq!(c.changed_from, Some(obs(1, None).date), "the first new day");
        let c = s
            .upsert_observations(&[obs(1, Some(0.0)), obs(2, Some(4.0))], "t")
            .unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (0, 1, 1));
        assert_eq!(c.changed_from, Some(obs(2, None).date), "the changed day");
        let c = s.upsert_observations(&[obs(1, Some(0.0))], "t").unwrap();
        assert_eq!(c.changed_from, None, "an unchanged day changes nothing");
        let got = s.observation("Sydney", obs(2, None).date).unwrap();
        assert_eq!(got, obs(2, Some(4.0)));
        assert_eq!(s.count_observations().unwrap(), 2);
        assert!(matches!(
            s.observation("Sydney", obs(9, None).date),
            Err(StoreError::NotFound(_))
        ));
    }

    /// A station's change counter moves with every write that changes its
    /// rows, in any process, and with nothing else.
    #[test]
    fn a_station_counter_moves_only_when_its_rows_change() {
        let (d, s) = store();
        let sydney = |s: &Store| {
            let (_, all) = s.station_generations().unwrap();
            all.iter().find(|(l, _)| l == "Sydney").map(|g| g.1)
        };
        assert_eq!(sydney(&s), None, "never written");
        s.upsert_observations(&[obs(1, Some(0.0)), obs(2, None)], "t")
            .unwrap();
        assert_eq!(sydney(&s), Some(1), "one bump per write, not per row");
        s.upsert_observations(&[obs(1, Some(0.0))], "t").unwrap();
        assert_eq!(sydney(&s), Some(1), "an unchanged row");
        let mut other = obs(1, Some(0.0));
        other.location = "Albury";
        s.upsert_observations(&[other], "t").unwrap();
        assert_eq!(sydney(&s), Some(1), "another station's write");
        let elsewhere = Store::open(&d.path().join("t.db"), Duration::from_secs(5)).unwrap();
        elsewhere
            .upsert_observations(&[obs(2, Some(3.0))], "t")
            .unwrap();
        assert_eq!(sydney(&s), Some(2), "a write through another connection");
        // Rain tomorrow, filled in when the next day arrives, is a change.
        s.write(|tx| {
            super::super::channels::fix_rain_tomorrow(
                tx,
                "Sydney",
                obs(1, None).date,
                obs(2, None).date,
                "now",
            )
        })
        .unwrap();
        assert_eq!(sydney(&s), Some(3));
        assert_eq!(
            s.station_stats_of("Sydney")
                .unwrap()
                .map(|x| (x.rows, x.first, x.latest)),
            Some((2, Some(obs(1, None).date), Some(obs(2, None).date)))
        );
        assert!(s.station_stats_of("Darwin").unwrap().is_none());
    }

    #[test]
    fn concurrent_writers_on_one_file_do_not_fail() {
        let (d, s) = store();
        let other = Store::open(&d.path().join("t.db"), Duration::from_secs(10)).unwrap();
        let t = std::thread::spawn(move || {
            for day in 1..=28 {
                other
                    .upsert_observations(&[obs(day, Some(1.5))], "b")
                    .unwrap();
            }
        });
        for day in 1..=28 {
            s.upsert_observations(&[obs(day, Some(0.5))], "a").unwrap();
            s.all_observations().unwrap();
        }
        t.join().unwrap();
        assert_eq!(s.count_observations().unwrap(), 28);
    }
}
