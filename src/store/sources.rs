//! The `source_months` table: what the BOM scraper last did for each
//! (location, month), and the one-transaction write of a fetched month,
//! which also keeps `rain_tomorrow` right across month boundaries.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, upsert_in};
use crate::obs::Observation;

/// One `source_months` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMonth {
    pub location: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Outcome of the last fetch: `ok`, `not_found`, `forbidden`, `rejected`, …
    pub status: String,
    /// The month was fetched successfully after it ended: BOM's file is final.
    pub complete: bool,
    /// Rows stored by the last successful fetch.
    pub rows: u64,
    pub message: Option<String>,
    pub fetched_at: String,
}

/// `YYYY-MM` of a (year, month).
pub fn month_key((year, month): (i32, u32)) -> String {
    format!("{year:04}-{month:02}")
}

/// First and last day of a month, or `None` when it is not a month.
/// The days of `month` that `dates` lack, ascending.
pub fn missing_days(month: (i32, u32), dates: impl Iterator<Item = NaiveDate>) -> Vec<u32> {
    let Some((first, last)) = month_bounds(month) else {
        return Vec::new();
    };
    let have: HashSet<u32> = dates
        .filter(|d| *d >= first && *d <= last)
        .map(|d| d.day())
        .collect();
    (1..=last.day()).filter(|d| !have.contains(d)).collect()
}

pub fn month_bounds((year, month): (i32, u32)) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((first, next - Duration::days(1)))
}

/// (location, `YYYY-MM`) pairs.
pub type StationMonths = HashSet<(String, String)>;

const MONTH_COLS: &str = "location, month, status, complete, rows, message, fetched_at";

fn month_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceMonth> {
    Ok(SourceMonth {
        location: r.get(0)?,
        month: r.get(1)?,
        status: r.get(2)?,
        complete: r.get(3)?,
        rows: r.get::<_, i64>(4)? as u64,
        message: r.get(5)?,
        fetched_at: r.get(6)?,
    })
}

impl Store {
    /// Store one fetched station-month in ONE transaction: upsert its rows,
    /// set `rain_tomorrow` (the next calendar day's `rain_today`, NULL when
    /// that day is absent) for every row of `location` from the day before
    /// the month's first day through its last day, and record the month in
    /// `source_months` as `ok`, complete when `month` is before `today`'s month
    /// and the file holds every day of it.
    ///
    /// The counts say what the upsert did to the month's own rows; a row
    /// whose only change is a corrected `rain_tomorrow` counts as updated.
    #[tracing::instrument(level = "debug", skip(self, observations))]
    pub fn upsert_station_month(
        &self,
        location: &str,
        month: (i32, u32),
        observations: &[Observation],
        source: &str,
        today: NaiveDate,
        order: &crate::config::SourcesConfig,
    ) -> Result<super::UpsertCounts> {
        let (first, last) = month_bounds(month).ok_or_else(|| {
            StoreError::Corrupt(format!("{}-{} is not a month", month.0, month.1))
        })?;
        if let Some(o) = observations
            .iter()
            .find(|o| o.location != location || o.date < first || o.date > last)
        {
            return Err(StoreError::Conflict(format!(
                "observation {} {} does not belong to {location} {}",
                o.location,
                o.date,
                month_key(month)
            )));
        }
        // A finished month is complete only with every one of its days:
        // a truncated file is stored, and fetched again next time.
        let missing = missing_days(month, observations.iter().map(|o| o.date));
        let complete = (today.year(), today.month()) > month && missing.is_empty();
        self.write(|tx| {
            // Fill rain_tomorrow before the upsert so that an unchanged row
            // counts as unchanged: from the batch, else from the stored next day.
            let in_batch: HashMap<NaiveDate, Option<bool>> = observations
                .iter()
                .map(|o| (o.date, o.rain_today))
                .collect();
            let mut stored = tx.prepare_cached(
                "SELECT rain_today FROM observations WHERE location = ?1 AND date = ?2",
            )?;
            let now = self.now_text();
            let mut rows = Vec::with_capacity(observations.len());
            for o in observations {
                // A day assembled from the FTP products is compared with
                // this file's, and replaced unless `sources.order` puts FTP first.
                if !super::channels::website_meets(tx, o, order, &now)? {
                    continue;
                }
                let next = o.date + Duration::days(1);
                let mut o = o.clone();
                o.rain_tomorrow = match in_batch.get(&next) {
                    Some(r) => *r,
                    None => stored
                        .query_row(rusqlite::params![location, next], |r| {
                            r.get::<_, Option<bool>>(0)
                        })
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            e => Err(e),
                        })?,
                };
                rows.push(o);
            }
            let counts = upsert_in(tx, &rows, source, &now)?;
            super::channels::fix_rain_tomorrow(tx, location, first - Duration::days(1), last, &now)?;
            tx.prepare_cached(
                "INSERT INTO source_months (location, month, status, complete, rows, message, fetched_at)
                 VALUES (?1, ?2, 'ok', ?3, ?4, NULL, ?5)
                 ON CONFLICT (location, month) DO UPDATE SET
                   status = 'ok', complete = excluded.complete, rows = excluded.rows,
                   message = NULL, fetched_at = excluded.fetched_at",
            )?
            .execute(rusqlite::params![
                    location,
                    month_key(month),
                    complete,
                    observations.len() as i64,
                    now
            ])?;
            Ok(counts)
        })
        .inspect(|c| self.note_station_changed(location, c.changed_from))
    }

    /// Record a fetch that stored nothing (404, 403, rejected file, …). The
    /// month's rows, `complete` flag and row count are left as they were.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn record_source_failure(
        &self,
        location: &str,
        month: (i32, u32),
        status: &str,
        message: &str,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO source_months (location, month, status, complete, rows, message, fetched_at)
                 VALUES (?1, ?2, ?3, 0, 0, ?4, ?5)
                 ON CONFLICT (location, month) DO UPDATE SET
                   status = excluded.status, message = excluded.message, fetched_at = excluded.fetched_at",
                rusqlite::params![location, month_key(month), status, message, self.now_text()],
            )?;
            Ok(())
        })
    }

    /// One `source_months` row, or `None`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn source_month(&self, location: &str, month: (i32, u32)) -> Result<Option<SourceMonth>> {
        self.with_conn(|c| {
            let sql = format!(
                "SELECT {MONTH_COLS} FROM source_months WHERE location = ?1 AND month = ?2"
            );
            let mut st = c.prepare_cached(&sql)?;
            let mut rows =
                st.query_map(rusqlite::params![location, month_key(month)], month_row)?;
            Ok(rows.next().transpose()?)
        })
    }

    /// The (location, `YYYY-MM`) pairs whose month is complete: a scrape
    /// skips them unless forced.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn complete_months(&self) -> Result<HashSet<(String, String)>> {
        self.with_conn(|c| {
            let mut st =
                c.prepare_cached("SELECT location, month FROM source_months WHERE complete = 1")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<HashSet<_>>>()?)
        })
    }

    /// What a scrape of `locations`' months from `first` (`YYYY-MM`) on may
    /// skip: the station-months stored complete, and those BOM answered 404
    /// for at `recent` or later (a date, or an RFC 3339 time: compared as
    /// text with the stored times). Reads only those rows.
    #[tracing::instrument(level = "debug", skip(self, locations))]
    pub fn skippable_months(
        &self,
        locations: &[&str],
        first: &str,
        recent: &str,
    ) -> Result<(StationMonths, StationMonths)> {
        let (mut complete, mut missing) = (HashSet::new(), HashSet::new());
        if locations.is_empty() {
            return Ok((complete, missing));
        }
        // One statement for any number of stations: their names as a JSON array.
        let names = serde_json::to_string(locations)
            .map_err(|e| StoreError::Corrupt(format!("station names: {e}")))?;
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT location, month, complete, status = 'not_found' AND fetched_at >= ?2
                 FROM source_months
                 WHERE location IN (SELECT value FROM json_each(?3)) AND month >= ?1
                   AND (complete = 1 OR (status = 'not_found' AND fetched_at >= ?2))",
            )?;
            let mut rows = st.query(rusqlite::params![first, recent, names])?;
            while let Some(r) = rows.next()? {
                let key: (String, String) = (r.get(0)?, r.get(1)?);
                // A complete month that BOM answered 404 for since (the
                // previous month, while it is revised) is in both.
                if r.get::<_, bool>(3)? {
                    missing.insert(key.clone());
                }
                if r.get::<_, bool>(2)? {
                    complete.insert(key);
                }
            }
            Ok((complete, missing))
        })
    }

    /// Every `source_months` row, by location then month.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn source_months(&self) -> Result<Vec<SourceMonth>> {
        self.with_conn(|c| {
            let sql = format!("SELECT {MONTH_COLS} FROM source_months ORDER BY location, month");
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([], month_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The last scrape outcome per station: its most recently fetched month
    /// (the newest month on a tie).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn last_scrape_per_station(&self) -> Result<Vec<SourceMonth>> {
        self.with_conn(|c| {
            let sql = format!(
                "SELECT {MONTH_COLS} FROM (
                   SELECT *, row_number() OVER (PARTITION BY location ORDER BY fetched_at DESC, month DESC) AS k
                   FROM source_months)
                 WHERE k = 1 ORDER BY location"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([], month_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obs::Num;
    use std::time::Duration as StdDuration;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db"), StdDuration::from_secs(5)).unwrap();
        (dir, s)
    }

    fn day(m: u32, d: u32, rain: Option<f64>) -> Observation {
        let mut o = Observation::empty("Sydney", NaiveDate::from_ymd_opt(2024, m, d).unwrap());
        o.set(Num::Rainfall, rain);
        o.rain_today = o.derived_rain_today();
        o
    }

    fn tomorrow(s: &Store, m: u32, d: u32) -> Option<bool> {
        s.observation("Sydney", NaiveDate::from_ymd_opt(2024, m, d).unwrap())
            .unwrap()
            .rain_tomorrow
    }

    #[test]
    fn rain_tomorrow_links_months_whichever_arrives_first() {
        let (_d, s) = store();
        let today = NaiveDate::from_ymd_opt(2024, 10, 15).unwrap();
        // September first: its last day has no next day yet.
        let sep = [day(9, 29, Some(0.0)), day(9, 30, Some(5.0))];
        let c = s
            .upsert_station_month("Sydney", (2024, 9), &sep, "t", today, &Default::default())
            .unwrap();
        assert_eq!(c.inserted, 2);
        assert_eq!(tomorrow(&s, 9, 29), Some(true));
        assert_eq!(tomorrow(&s, 9, 30), None);
        // October arrives: Sept 30 learns its answer; Oct 2 is absent → NULL.
        let oct = [day(10, 1, Some(2.0)), day(10, 3, None)];
        s.upsert_station_month("Sydney", (2024, 10), &oct, "t", today, &Default::default())
            .unwrap();
        assert_eq!(tomorrow(&s, 9, 30), Some(true));
        assert_eq!(tomorrow(&s, 10, 1), None);
        // Re-fetching September changes nothing.
        let c = s
            .upsert_station_month("Sydney", (2024, 9), &sep, "t", today, &Default::default())
            .unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (0, 0, 2));
        // BOM revises Oct 1 to dry: Sept 30's RainTomorrow follows.
        let oct = [day(10, 1, Some(0.4)), day(10, 3, None)];
        let c = s
            .upsert_station_month("Sydney", (2024, 10), &oct, "t", today, &Default::default())
            .unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (0, 1, 1));
        assert_eq!(tomorrow(&s, 9, 30), Some(false));

        // Two days of a finished month are not the month: stored, but not
        // complete, so the next scrape fetches it again.
        let sep_row = s.source_month("Sydney", (2024, 9)).unwrap().unwrap();
        assert!(!sep_row.complete && sep_row.status == "ok" && sep_row.rows == 2);
        let oct_row = s.source_month("Sydney", (2024, 10)).unwrap().unwrap();
        assert!(!oct_row.complete);
        assert!(s.complete_months().unwrap().is_empty());
        // Every day of September: complete.
        let full: Vec<Observation> = (1..=30).map(|d| day(9, d, Some(0.0))).collect();
        s.upsert_station_month("Sydney", (2024, 9), &full, "t", today, &Default::default())
            .unwrap();
        assert_eq!(
            s.complete_months().unwrap(),
            HashSet::from([("Sydney".to_string(), "2024-09".to_string())])
        );
    }

    #[test]
    fn a_truncated_finished_month_is_not_complete_and_names_its_gap() {
        let (_d, s) = store();
        let today = NaiveDate::from_ymd_opt(2024, 10, 15).unwrap();
        let first5: Vec<Observation> = (1..=5).map(|d| day(9, d, Some(0.0))).collect();
        s.upsert_station_month(
            "Sydney",
            (2024, 9),
            &first5,
            "t",
            today,
            &Default::default(),
        )
        .unwrap();
        assert!(
            !s.source_month("Sydney", (2024, 9))
                .unwrap()
                .unwrap()
                .complete
        );
        assert_eq!(
            missing_days((2024, 9), first5.iter().map(|o| o.date)),
            (6..=30).collect::<Vec<u32>>()
        );
        // The current month is never complete, however many days it has.
        let oct: Vec<Observation> = (1..=14).map(|d| day(10, d, Some(0.0))).collect();
        s.upsert_station_month("Sydney", (2024, 10), &oct, "t", today, &Default::default())
            .unwrap();
        assert!(
            !s.source_month("Sydney", (2024, 10))
                .unwrap()
                .unwrap()
                .complete
        );
    }

    #[test]
    fn failures_keep_rows_and_completeness() {
        let (_d, s) = store();
        let today = NaiveDate::from_ymd_opt(2024, 10, 15).unwrap();
        let full: Vec<Observation> = (1..=30).map(|d| day(9, d, Some(3.0))).collect();
        s.upsert_station_month("Sydney", (2024, 9), &full, "t", today, &Default::default())
            .unwrap();
        s.record_source_failure("Sydney", (2024, 9), "rejected", "header changed")
            .unwrap();
        s.record_source_failure("Albury", (2024, 9), "not_found", "404")
            .unwrap();
        let row = s.source_month("Sydney", (2024, 9)).unwrap().unwrap();
        assert_eq!(row.status, "rejected");
        assert!(row.complete);
        assert_eq!(row.rows, 30);
        assert_eq!(s.count_observations().unwrap(), 30);
        let last = s.last_scrape_per_station().unwrap();
        assert_eq!(last.len(), 2);
        assert_eq!(last[0].location, "Albury");
        assert_eq!(s.source_months().unwrap().len(), 2);
        assert!(s.source_month("Sydney", (2024, 8)).unwrap().is_none());
    }

    /// A scrape skips what is stored complete and a recent 404, of its own
    /// stations and months only; an old 404 and an incomplete month are
    /// fetched again.
    #[test]
    fn a_scrape_skips_complete_months_and_recent_404s_of_its_stations() {
        let (_d, s) = store();
        let today = NaiveDate::from_ymd_opt(2024, 10, 15).unwrap();
        let full: Vec<Observation> = (1..=30).map(|d| day(9, d, Some(3.0))).collect();
        s.upsert_station_month("Sydney", (2024, 9), &full, "t", today, &Default::default())
            .unwrap();
        s.upsert_station_month(
            "Sydney",
            (2024, 10),
            &[day(10, 1, None)],
            "t",
            today,
            &Default::default(),
        )
        .unwrap();
        s.record_source_failure("Albury", (2024, 9), "not_found", "404")
            .unwrap();
        s.record_source_failure("Albury", (2024, 8), "not_found", "404")
            .unwrap();
        s.with_conn(|c| {
            c.execute(
                "UPDATE source_months SET fetched_at = '2024-09-01T00:00:00.000Z'
                 WHERE location = 'Albury' AND month = '2024-08'",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        let key = |l: &str, m: &str| (l.to_string(), m.to_string());
        let recent = "2024-10-09";
        let (complete, missing) = s
            .skippable_months(&["Sydney", "Albury"], "2024-08", recent)
            .unwrap();
        assert_eq!(complete, [key("Sydney", "2024-09")].into());
        assert_eq!(missing, [key("Albury", "2024-09")].into());
        // BOM answers 404 for Sydney's complete September while it is
        // revised: the month is both complete and a recent 404.
        s.record_source_failure("Sydney", (2024, 9), "not_found", "404")
            .unwrap();
        let (complete, missing) = s
            .skippable_months(&["Sydney", "Albury"], "2024-08", recent)
            .unwrap();
        assert_eq!(complete, [key("Sydney", "2024-09")].into());
        assert_eq!(
            missing,
            [key("Albury", "2024-09"), key("Sydney", "2024-09")].into()
        );
        let (complete, missing) = s.skippable_months(&["Albury"], "2024-08", recent).unwrap();
        assert!(complete.is_empty());
        assert_eq!(missing, [key("Albury", "2024-09")].into());
        let (complete, missing) = s.skippable_months(&["Sydney"], "2024-10", recent).unwrap();
        assert!(complete.is_empty() && missing.is_empty());
        let (complete, missing) = s.skippable_months(&[], "2024-08", recent).unwrap();
        assert!(complete.is_empty() && missing.is_empty());
    }

    #[test]
    fn rows_outside_the_month_are_refused() {
        let (_d, s) = store();
        let today = NaiveDate::from_ymd_opt(2024, 10, 15).unwrap();
        let err = s
            .upsert_station_month(
                "Sydney",
                (2024, 8),
                &[day(9, 1, None)],
                "t",
                today,
                &Default::default(),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(s.count_observations().unwrap(), 0);
    }

    #[test]
    fn bounds() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            month_bounds((2024, 2)),
            Some((d(2024, 2, 1), d(2024, 2, 29)))
        );
        assert_eq!(
            month_bounds((2024, 12)),
            Some((d(2024, 12, 1), d(2024, 12, 31)))
        );
        assert_eq!(month_bounds((2024, 13)), None);
        assert_eq!(month_key((2024, 3)), "2024-03");
    }
}
