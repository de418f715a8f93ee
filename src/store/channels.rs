//! The FTP channel's tables (issue 29): readings of the state observation
//! products, rows of the daily climate tables, the source of every field
//! of an assembled row, the per-field comparison of the two channels, and
//! the FTP source's last outcome per file and per poll.
//!
//! Authority between channels follows `sources.order`
//! ([`SourcesConfig::replaces`]): a day from a channel earlier in the order
//! replaces the same day from a later one, never the reverse. Whenever a
//! day is held by one channel and the other brings it too, the fields both
//! have are compared and the comparison kept (`channel_diffs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::OptionalExtension;
use serde::Serialize;

use super::observations::{existing_in, upsert_in};
use super::{Result, Store, StoreError};
use crate::config::{Channel, SourcesConfig};
use crate::obs::{DIRS, NUMS, Observation};
use crate::reading::{Assembled, DailyRow, Fields, StoredReading};

/// The source of an assembled row, in `observations.source`.
pub const ASSEMBLED_SOURCE: &str = "ftp:assembled";

/// Two numbers agree when they differ by at most this (BOM gives one decimal).
pub const AGREE_WITHIN: f64 = 0.05;

/// What storing assembled rows did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AssembleCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Days held by a channel earlier in `sources.order` (the website): kept,
    /// compared.
    pub kept: u64,
    /// Fields compared with the other channel's values.
    pub compared: u64,
}

/// One field's agreement between the channels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldAgreement {
    pub field: String,
    pub compared: u64,
    pub agreed: u64,
}

impl FieldAgreement {
    pub fn ratio(&self) -> Option<f64> {
        (self.compared > 0).then(|| self.agreed as f64 / self.compared as f64)
    }
}

/// One recorded difference between the channels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub location: String,
    pub date: NaiveDate,
    pub field: String,
    pub website: String,
    pub ftp: String,
}

/// The FTP source's last outcome for one key (`poll`, `daily`, a file path).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FtpStatus {
    pub key: String,
    pub status: String,
    pub message: String,
    pub at: String,
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Each field both rows hold: (name, website text, ftp text, agree).
pub fn compare(
    website: &Observation,
    ftp: &Observation,
) -> Vec<(&'static str, String, String, bool)> {
    let mut out = Vec::new();
    for spec in NUMS.iter() {
        if let (Some(w), Some(f)) = (website.get(spec.field), ftp.get(spec.field)) {
            out.push((
                spec.name,
                format!("{w}"),
                format!("{f}"),
                (w - f).abs() <= AGREE_WITHIN,
            ));
        }
    }
    for (i, (_, name, _)) in DIRS.iter().enumerate() {
        if let (Some(w), Some(f)) = (website.dirs[i], ftp.dirs[i]) {
            out.push((name, w.to_string(), f.to_string(), w == f));
        }
    }
    out
}

fn record_comparison(
    tx: &rusqlite::Transaction<'_>,
    website: &Observation,
    ftp: &Observation,
    now: &str,
) -> Result<u64> {
    let mut st = tx.prepare_cached(
        "INSERT INTO channel_diffs (location, date, field, website, ftp, agree, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (location, date, field) DO UPDATE SET
           website = excluded.website, ftp = excluded.ftp, agree = excluded.agree,
           recorded_at = excluded.recorded_at",
    )?;
    let mut n = 0;
    for (field, w, f, agree) in compare(website, ftp) {
        st.execute(rusqlite::params![
            website.location,
            website.date,
            field,
            w,
            f,
            agree,
            now
        ])?;
        n += 1;
    }
    Ok(n)
}

/// Inside the website's station-month write: the stored FTP rows it meets.
/// Returns whether the website row replaces the stored one (compared
/// first, its field sources dropped) or yields to it (`sources.order`
/// puts FTP first).
pub(crate) fn website_meets(
    tx: &rusqlite::Transaction<'_>,
    incoming: &Observation,
    order: &SourcesConfig,
    now: &str,
) -> Result<bool> {
    // The source alone first: a day the website wrote (every day, unless
    // the FTP channel is on) needs nothing more.
    let source: Option<String> = tx
        .prepare_cached("SELECT source FROM observations WHERE location = ?1 AND date = ?2")?
        .query_row(rusqlite::params![incoming.location, incoming.date], |r| {
            r.get(0)
        })
        .optional()?;
    if source.as_deref().and_then(Channel::of_source) != Some(Channel::Ftp) {
        return Ok(true);
    }
    let Some((source, old)) = existing_in(tx, incoming.location, incoming.date)? else {
        return Ok(true);
    };
    record_comparison(tx, incoming, &old, now)?;
    let replaces = order.replaces(Channel::Website, &source);
    if replaces {
        tx.execute(
            "DELETE FROM field_sources WHERE location = ?1 AND date = ?2",
            rusqlite::params![incoming.location, incoming.date],
        )?;
    }
    Ok(replaces)
}

/// Set `rain_tomorrow` from the next day's `rain_today` for `location`'s
/// rows in `from..=to`.
pub(crate) fn fix_rain_tomorrow(
    tx: &rusqlite::Transaction<'_>,
    location: &str,
    from: NaiveDate,
    to: NaiveDate,
    now: &str,
) -> Result<()> {
    let fixed = tx.prepare_cached(
        "UPDATE observations AS o
         SET rain_tomorrow = (SELECT n.rain_today FROM observations n
                              WHERE n.location = o.location AND n.date = date(o.date, '+1 day')),
             updated_at = ?4
         WHERE o.location = ?1 AND o.date >= ?2 AND o.date <= ?3
           AND o.rain_tomorrow IS NOT (SELECT n.rain_today FROM observations n
                                       WHERE n.location = o.location AND n.date = date(o.date, '+1 day'))",
    )?
    .execute(rusqlite::params![location, from, to, now])?;
    if fixed > 0 {
        super::observations::bump_station(tx, location)?;
    }
    Ok(())
}

impl Store {
    /// Store readings of `product` (station number, time, fields); a
    /// reading already stored (same station and time) is replaced.
    /// Returns how many were new.
    #[tracing::instrument(level = "debug", skip(self, readings))]
    pub fn insert_readings(
        &self,
        product: &str,
        readings: &[(String, DateTime<Utc>, Fields)],
    ) -> Result<u64> {
        let now = self.now_text();
        self.write(|tx| {
            let mut exists = tx.prepare_cached(
                "SELECT 1 FROM ftp_readings WHERE station = ?1 AND observed_at = ?2",
            )?;
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO ftp_readings (station, observed_at, product, fields, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut new = 0;
            for (station, at, fields) in readings {
                let at = ts(at);
                let json = serde_json::to_string(fields)
                    .map_err(|e| StoreError::Corrupt(format!("reading fields: {e}")))?;
                if exists
                    .query_row(rusqlite::params![station, at], |_| Ok(()))
                    .optional()?
                    .is_none()
                {
                    new += 1;
                }
                put.execute(rusqlite::params![station, at, product, json, now])?;
            }
            Ok(new)
        })
    }

    /// A station's readings with `from <= observed_at <= to`, oldest first.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn readings_between(
        &self,
        station: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredReading>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT observed_at, product, fields FROM ftp_readings
                 WHERE station = ?1 AND observed_at >= ?2 AND observed_at <= ?3 ORDER BY observed_at",
            )?;
            let rows = st.query_map(rusqlite::params![station, ts(&from), ts(&to)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (at, product, fields) = row?;
                let observed_at = DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| StoreError::Corrupt(format!("reading time {at}: {e}")))?
                    .with_timezone(&Utc);
                let fields: Fields = serde_json::from_str(&fields)
                    .map_err(|e| StoreError::Corrupt(format!("reading {station} {at}: {e}")))?;
                out.push(StoredReading {
                    observed_at,
                    product,
                    fields,
                });
            }
            Ok(out)
        })
    }

    /// How many readings are stored, and the newest one's time.
    pub fn readings_summary(&self) -> Result<(u64, Option<String>)> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT count(*), max(observed_at) FROM ftp_readings",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )?)
        })
    }

    /// Store the rows of one daily table (`file` names it).
    #[tracing::instrument(level = "debug", skip(self, rows))]
    pub fn upsert_daily_table(&self, station: &str, file: &str, rows: &[DailyRow]) -> Result<()> {
        let now = self.now_text();
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO ftp_daily
                 (station, date, rainfall, evaporation, max_temp, min_temp, file, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for r in rows {
                st.execute(rusqlite::params![
                    station,
                    r.date,
                    r.rainfall,
                    r.evaporation,
                    r.max_temp,
                    r.min_temp,
                    file,
                    now
                ])?;
            }
            Ok(())
        })
    }

    /// One station's daily-table rows with `from <= date <= to`.
    pub fn daily_rows(
        &self,
        station: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyRow>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT date, rainfall, evaporation, max_temp, min_temp FROM ftp_daily
                 WHERE station = ?1 AND date >= ?2 AND date <= ?3 ORDER BY date",
            )?;
            let rows = st.query_map(rusqlite::params![station, from, to], |r| {
                Ok(DailyRow {
                    date: r.get(0)?,
                    rainfall: r.get(1)?,
                    evaporation: r.get(2)?,
                    max_temp: r.get(3)?,
                    min_temp: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Store assembled rows in one transaction, each field with its source,
    /// under `order`'s authority; `rain_tomorrow` kept right around them.
    #[tracing::instrument(level = "debug", skip(self, rows, order))]
    pub fn store_assembled(
        &self,
        rows: &[Assembled],
        order: &SourcesConfig,
    ) -> Result<AssembleCounts> {
        let now = self.now_text();
        let mut revised = None;
        let counts = self.write(|tx| {
            let mut counts = AssembleCounts::default();
            let mut span: BTreeMap<&'static str, (NaiveDate, NaiveDate)> = BTreeMap::new();
            let mut next_rain = tx.prepare_cached(
                "SELECT rain_today FROM observations WHERE location = ?1 AND date = ?2",
            )?;
            for a in rows {
                let o = &a.obs;
                if let Some((source, old)) = existing_in(tx, o.location, o.date)? {
                    if Channel::of_source(&source) == Some(Channel::Website) {
                        counts.compared += record_comparison(tx, &old, o, &now)?;
                    }
                    if !order.replaces(Channel::Ftp, &source) {
                        counts.kept += 1;
                        continue;
                    }
                }
                let mut o = o.clone();
                o.rain_tomorrow = next_rain
                    .query_row(rusqlite::params![o.location, o.date + Duration::days(1)], |r| {
                        r.get::<_, Option<bool>>(0)
                    })
                    .optional()?
                    .flatten();
                let c = upsert_in(tx, std::slice::from_ref(&o), ASSEMBLED_SOURCE, &now)?;
                revised = super::observations::earliest(revised, c.changed_from);
                counts.inserted += c.inserted;
                counts.updated += c.updated;
                counts.unchanged += c.unchanged;
                tx.execute(
                    "DELETE FROM field_sources WHERE location = ?1 AND date = ?2",
                    rusqlite::params![o.location, o.date],
                )?;
                let mut put = tx.prepare_cached(
                    "INSERT INTO field_sources (location, date, field, source) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (field, source) in &a.sources {
                    put.execute(rusqlite::params![o.location, o.date, field, source])?;
                }
                let e = span.entry(o.location).or_insert((o.date, o.date));
                e.0 = e.0.min(o.date);
                e.1 = e.1.max(o.date);
            }
            for (location, (from, to)) in span {
                fix_rain_tomorrow(tx, location, from - Duration::days(1), to, &now)?;
            }
            Ok(counts)
        })?;
        self.note_changed(revised);
        Ok(counts)
    }

    /// Where each field of a stored row came from: (field, source). A row
    /// without per-field sources (the website's, the bundled history) has
    /// one source for every field, its `source`: answered as `("*", source)`.
    pub fn field_sources(&self, location: &str, date: NaiveDate) -> Result<Vec<(String, String)>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT field, source FROM field_sources WHERE location = ?1 AND date = ?2 ORDER BY field",
            )?;
            let rows: Vec<(String, String)> = st
                .query_map(rusqlite::params![location, date], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            if !rows.is_empty() {
                return Ok(rows);
            }
            let source: Option<String> = c
                .prepare_cached("SELECT source FROM observations WHERE location = ?1 AND date = ?2")?
                .query_row(rusqlite::params![location, date], |r| r.get(0))
                .optional()?;
            Ok(source.map(|s| vec![("*".to_string(), s)]).unwrap_or_default())
        })
    }

    /// Agreement per field over comparisons of days from `since` on,
    /// field order as in `NUMS` then `DIRS`.
    pub fn channel_agreement(&self, since: NaiveDate) -> Result<Vec<FieldAgreement>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT field, count(*), sum(agree) FROM channel_diffs WHERE date >= ?1 GROUP BY field",
            )?;
            let got: Vec<FieldAgreement> = st
                .query_map([since], |r| {
                    Ok(FieldAgreement {
                        field: r.get(0)?,
                        compared: r.get::<_, i64>(1)? as u64,
                        agreed: r.get::<_, i64>(2)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let order: Vec<&str> = NUMS
                .iter()
                .map(|s| s.name)
                .chain(DIRS.iter().map(|d| d.1))
                .collect();
            let mut got = got;
            got.sort_by_key(|a| order.iter().position(|n| *n == a.field).unwrap_or(usize::MAX));
            Ok(got)
        })
    }

    /// The newest recorded disagreements, at most `limit`.
    pub fn channel_differences(&self, limit: usize) -> Result<Vec<Difference>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT location, date, field, website, ftp FROM channel_diffs WHERE agree = 0
                 ORDER BY date DESC, location, field LIMIT ?1",
            )?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(Difference {
                    location: r.get(0)?,
                    date: r.get(1)?,
                    field: r.get(2)?,
                    website: r.get(3)?,
                    ftp: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Record the FTP source's outcome for `key`.
    pub fn set_ftp_status(&self, key: &str, status: &str, message: &str) -> Result<()> {
        let now = self.now_text();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO ftp_status (key, status, message, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET status = excluded.status,
                   message = excluded.message, at = excluded.at",
                rusqlite::params![key, status, message, now],
            )?;
            Ok(())
        })
    }

    /// Every recorded FTP outcome, `poll` and `daily` first, then by key.
    pub fn ftp_statuses(&self) -> Result<Vec<FtpStatus>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT key, status, message, at FROM ftp_status
                 ORDER BY key NOT IN ('poll', 'daily'), key",
            )?;
            let rows = st.query_map([], |r| {
                Ok(FtpStatus {
                    key: r.get(0)?,
                    status: r.get(1)?,
                    message: r.get(2)?,
                    at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The FTP outcome of one key.
    pub fn ftp_status(&self, key: &str) -> Result<Option<FtpStatus>> {
        Ok(self.ftp_statuses()?.into_iter().find(|s| s.key == key))
    }
}
