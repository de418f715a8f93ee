//! Data health per station and field: has a station stopped reporting a
//! field it used to report? The model learned with those fields present, so
//! a silent field quietly makes that station's forecasts worse.
//!
//! For each station the *recent* window is its own last [`RECENT_DAYS`] days
//! of data (up to its newest row, so a station that stopped altogether is
//! still diagnosed; staleness is flagged separately) and its *history* is
//! everything before.

use serde::Serialize;

use crate::obs::{DIRS, NUMS};
use crate::store::{Store, StoreError};

/// Length of the recent window, in days.
pub const RECENT_DAYS: i64 = 30;
/// Fewer recent rows than this: too little to judge.
const MIN_RECENT_ROWS: u64 = 7;
/// Fewer history rows than this: nothing to compare with.
const MIN_HISTORY_ROWS: u64 = 60;

/// The state of one field at one station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldStatus {
    /// Reported about as often as before.
    Ok,
    /// Missing much more often than in the station's history.
    Degraded,
    /// Reported in the history, (almost) never in the recent window: flagged.
    Silent,
    /// Mostly missing in the history too (the station never reported it).
    NotReported,
    /// Too few rows to judge.
    Unknown,
}

impl FieldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldStatus::Ok => "ok",
            FieldStatus::Degraded => "degraded",
            FieldStatus::Silent => "silent",
            FieldStatus::NotReported => "not reported",
            FieldStatus::Unknown => "unknown",
        }
    }

    /// Whether an operator should look.
    pub fn flagged(self) -> bool {
        matches!(self, FieldStatus::Silent | FieldStatus::Degraded)
    }
}

/// Recent and historical missing rates of one field.
#[derive(Debug, Clone, Serialize)]
pub struct FieldHealth {
    pub field: &'static str,
    /// Missing share over the recent window (`None` without recent rows).
    pub recent_missing: Option<f64>,
    /// Missing share over the history (`None` without history).
    pub history_missing: Option<f64>,
    pub status: FieldStatus,
}

/// Every field of one station.
#[derive(Debug, Clone, Serialize)]
pub struct StationHealth {
    pub location: String,
    pub recent_rows: u64,
    pub history_rows: u64,
    pub fields: Vec<FieldHealth>,
}

impl StationHealth {
    pub fn flagged(&self) -> impl Iterator<Item = &FieldHealth> {
        self.fields.iter().filter(|f| f.status.flagged())
    }
}

/// The field names, in column order: the 16 numbers then the 3 directions.
pub fn field_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = NUMS.iter().map(|s| s.name).collect();
    names.extend(DIRS.iter().map(|(_, n, _)| *n));
    names
}

fn columns() -> Vec<&'static str> {
    let mut cols: Vec<&'static str> = NUMS.iter().map(|s| s.column).collect();
    cols.extend(DIRS.iter().map(|(_, _, c)| *c));
    cols
}

/// Judges one field from its recent and historical counts.
pub fn classify(
    recent_rows: u64,
    recent_missing: u64,
    history_rows: u64,
    history_missing: u64,
) -> FieldStatus {
    if recent_rows < MIN_RECENT_ROWS || history_rows < MIN_HISTORY_ROWS {
        return FieldStatus::Unknown;
    }
    let recent = recent_missing as f64 / recent_rows as f64;
    let history = history_missing as f64 / history_rows as f64;
    if history > 0.5 {
        // Mostly absent before: never a field this station reported.
        return if recent < history - 0.3 {
            FieldStatus::Ok
        } else {
            FieldStatus::NotReported
        };
    }
    if recent >= 0.9 {
        FieldStatus::Silent
    } else if recent - history >= 0.3 {
        FieldStatus::Degraded
    } else {
        FieldStatus::Ok
    }
}

/// Per station (those with data) and field, the recent missing rate against
/// the station's history.
pub fn data_health(store: &Store) -> Result<Vec<StationHealth>, StoreError> {
    let names = field_names();
    let cols = columns();
    let sums: Vec<String> = cols.iter().map(|c| format!("sum({c} IS NULL)")).collect();
    let sql = format!(
        "WITH last AS (SELECT location, max(date) AS latest FROM observations GROUP BY location)
         SELECT o.location, o.date > date(l.latest, '-{RECENT_DAYS} days') AS recent, count(*), {}
         FROM observations o JOIN last l ON l.location = o.location
         GROUP BY o.location, recent ORDER BY o.location",
        sums.join(", ")
    );
    // (location, recent?, rows, missing per field)
    let rows: Vec<(String, bool, u64, Vec<u64>)> = store.with_conn(|c| {
        let mut st = c.prepare(&sql)?;
        let it = st.query_map([], |r| {
            let missing = (0..cols.len())
                .map(|i| r.get::<_, i64>(3 + i).map(|v| v as u64))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, i64>(2)? as u64,
                missing,
            ))
        })?;
        Ok(it.collect::<rusqlite::Result<Vec<_>>>()?)
    })?;
    let mut out: Vec<StationHealth> = Vec::new();
    let empty = vec![0u64; cols.len()];
    let mut i = 0;
    while i < rows.len() {
        let loc = rows[i].0.clone();
        let mut recent: (u64, &Vec<u64>) = (0, &empty);
        let mut history: (u64, &Vec<u64>) = (0, &empty);
        while i < rows.len() && rows[i].0 == loc {
            if rows[i].1 {
                recent = (rows[i].2, &rows[i].3);
            } else {
                history = (rows[i].2, &rows[i].3);
            }
            i += 1;
        }
        let rate = |n: u64, m: u64| (n > 0).then(|| m as f64 / n as f64);
        let fields = names
            .iter()
            .enumerate()
            .map(|(k, &field)| FieldHealth {
                field,
                recent_missing: rate(recent.0, recent.1[k]),
                history_missing: rate(history.0, history.1[k]),
                status: classify(recent.0, recent.1[k], history.0, history.1[k]),
            })
            .collect();
        out.push(StationHealth {
            location: loc,
            recent_rows: recent.0,
            history_rows: history.0,
            fields,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obs::{Num, Observation};
    use chrono::NaiveDate;
    use std::time::Duration;

    #[test]
    fn classification_rules() {
        assert_eq!(classify(30, 0, 300, 3), FieldStatus::Ok);
        assert_eq!(classify(30, 30, 300, 3), FieldStatus::Silent);
        assert_eq!(classify(30, 28, 300, 0), FieldStatus::Silent);
        assert_eq!(classify(30, 12, 300, 3), FieldStatus::Degraded);
        assert_eq!(classify(30, 30, 300, 290), FieldStatus::NotReported);
        assert_eq!(classify(3, 3, 300, 0), FieldStatus::Unknown);
        assert_eq!(classify(30, 30, 10, 0), FieldStatus::Unknown);
    }

    #[test]
    fn a_station_that_stops_reporting_a_field_is_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), Duration::from_secs(5)).unwrap();
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let mut obs = Vec::new();
        for d in 0..400u64 {
            let date = start + chrono::Days::new(d);
            // Wollongong stops reporting pressure for its last 40 days.
            let mut w = Observation::empty("Wollongong", date);
            w.set(Num::Rainfall, Some(0.0));
            w.set(Num::Humidity3pm, Some(50.0));
            if d < 360 {
                w.set(Num::Pressure3pm, Some(1015.0));
            }
            obs.push(w);
            // Sydney keeps reporting both; it never reported sunshine.
            let mut s = Observation::empty("Sydney", date);
            s.set(Num::Rainfall, Some(0.0));
            s.set(Num::Humidity3pm, Some(50.0));
            s.set(Num::Pressure3pm, Some(1015.0));
            obs.push(s);
        }
        store.upsert_observations(&obs, "test").unwrap();
        let health = data_health(&store).unwrap();
        let get = |loc: &str, field: &str| {
            let st = health.iter().find(|h| h.location == loc).unwrap();
            st.fields.iter().find(|f| f.field == field).unwrap().clone()
        };
        let p = get("Wollongong", "Pressure3pm");
        assert_eq!(p.status, FieldStatus::Silent);
        assert_eq!(p.recent_missing, Some(1.0));
        // Its last 10 silent days before the recent window are history.
        assert_eq!(p.history_missing, Some(10.0 / 370.0));
        assert!(p.status.flagged());
        assert_eq!(get("Wollongong", "Humidity3pm").status, FieldStatus::Ok);
        assert_eq!(get("Sydney", "Pressure3pm").status, FieldStatus::Ok);
        assert_eq!(get("Sydney", "Sunshine").status, FieldStatus::NotReported);
        assert!(!get("Sydney", "Sunshine").status.flagged());
        let w = health.iter().find(|h| h.location == "Wollongong").unwrap();
        assert_eq!(w.recent_rows, 30);
        assert_eq!(w.history_rows, 370);
        let flagged: Vec<&str> = w.flagged().map(|f| f.field).collect();
        assert_eq!(flagged, vec!["Pressure3pm"]);
        assert_eq!(
            health
                .iter()
                .find(|h| h.location == "Sydney")
                .unwrap()
                .flagged()
                .count(),
            0
        );
    }
}
