//! The prediction log: one row per (location, forecast date, model version),
//! scored against the observed outcome once that day's 9 am report is in.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PredictionRow {
    pub location: String,
    pub for_date: NaiveDate,
    pub obs_date: Option<NaiveDate>,
    pub version: i64,
    pub probability: f64,
    pub threshold: Option<f64>,
    /// Observed rain day (> 1 mm), once known.
    pub outcome: Option<bool>,
    /// The issue it was made at (`day_before`, `morning`, `afternoon`);
    /// none for forecasts logged before issues existed.
    pub issue: Option<String>,
    /// When it was issued (RFC 3339, UTC).
    pub issued_at: Option<String>,
    /// The chance of each rain amount it gave, and its possible-rainfall
    /// range (none from versions before amounts).
    pub amounts: Option<crate::amounts::Amounts>,
    /// The rain that fell in its rain day, once known.
    pub amount_mm: Option<f64>,
}

/// A row of `SELECT location, for_date, obs_date, version, probability,
/// threshold, outcome, issue, served_at, amounts, amount_mm`.
fn prediction_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PredictionRow> {
    Ok(PredictionRow {
        location: r.get(0)?,
        for_date: r.get(1)?,
        obs_date: r.get(2)?,
        version: r.get(3)?,
        probability: r.get(4)?,
        threshold: r.get(5)?,
        outcome: r.get(6)?,
        issue: r.get::<_, Option<String>>(7)?.filter(|i| !i.is_empty()),
        issued_at: r.get(8)?,
        amounts: r
            .get::<_, Option<String>>(9)?
            .and_then(|j| crate::amounts::Curve::from_json(&j))
            .map(|c| crate::amounts::Amounts::from(&c)),
        amount_mm: r.get(10)?,
    })
}

impl PredictionRow {
    /// The yes/no call that was made.
    pub fn decision(&self) -> bool {
        self.probability >= self.threshold.unwrap_or(0.5)
    }

    /// Whether the call was right, once the outcome is known.
    pub fn hit(&self) -> Option<bool> {
        self.outcome.map(|o| o == self.decision())
    }
}

/// A forecast being issued: for `location`'s rain day `for_date` (the 24
/// hours to 9 am local on it, closing at `window_end`), made at `issue` from
/// the row of `obs_date` as BOM showed it then.
#[derive(Debug, Clone)]
pub struct IssuedForecast<'a> {
    pub location: &'a str,
    pub for_date: NaiveDate,
    pub issue: crate::issue::Issue,
    pub obs_date: NaiveDate,
    pub version: i64,
    pub probability: f64,
    pub threshold: f64,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    pub window_end: chrono::DateTime<chrono::Utc>,
    /// The chance of each rain amount (none from versions before amounts).
    pub amounts: Option<crate::amounts::Curve>,
}

impl IssuedForecast<'_> {
    /// The chance of at least `mm` (more than 1 mm for `mm = 1`, the
    /// headline); `None` when the version gave no amounts.
    pub fn chance_of(&self, mm: f64) -> Option<f64> {
        if (mm - crate::amounts::THRESHOLDS[crate::amounts::HEADLINE].mm).abs() < 1e-9 {
            return Some(self.probability);
        }
        self.amounts.as_ref()?.chance_at_least(mm).ok()
    }
}

/// Verified forecasts over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrackRecord {
    pub verified: u64,
    pub hits: u64,
    pub misses: u64,
    /// Mean squared error of the probabilities; `None` with nothing verified.
    pub brier: Option<f64>,
}

impl Store {
    /// Record an issued forecast: at most one per (location, rain day,
    /// issue), whichever model issued it first; it never changes after.
    /// `issued_at` comes from the caller's clock, which has checked that the
    /// issue's deadline has not passed. Returns whether a row was added.
    ///
    /// Only forecasts issued before their day's observation exists belong
    /// here; the log is the public track record.
    ///
    /// The alerts it sets off are queued with it (see
    /// [`Store::log_prediction_alerting`]), at most
    /// [`super::alerts::DEFAULT_MAX_PENDING`] waiting per subscription.
    pub fn log_prediction(&self, p: &IssuedForecast) -> Result<bool> {
        Ok(self
            .log_prediction_alerting(p, super::alerts::DEFAULT_MAX_PENDING)?
            .0)
    }

    /// [`Store::log_prediction`], queueing in the same transaction one
    /// delivery for each alert subscription the forecast crosses (its
    /// city, one of its issues, a chance at or above its own), with at most
    /// `max_pending` waiting per subscription (one more is recorded as
    /// dropped). Returns whether the forecast was logged and how many
    /// deliveries were queued: a forecast logged once alerts once.
    pub fn log_prediction_alerting(
        &self,
        p: &IssuedForecast,
        max_pending: u32,
    ) -> Result<(bool, u64)> {
        let (n, queued) = self.log_predictions_alerting(std::slice::from_ref(p), max_pending)?;
        Ok((n == 1, queued))
    }

    /// [`Store::log_prediction_alerting`] for many, in one transaction: how
    /// many forecasts were new, and how many deliveries they queued. A
    /// scrape's forecast log writes once, not once per issue.
    #[tracing::instrument(level = "debug", skip(self, forecasts), fields(n = forecasts.len()))]
    pub fn log_predictions_alerting(
        &self,
        forecasts: &[IssuedForecast],
        max_pending: u32,
    ) -> Result<(usize, u64)> {
        let fmt = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        if forecasts.is_empty() {
            return Ok((0, 0));
        }
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO predictions (location, for_date, issue, version, probability, served_at,
                                          threshold, obs_date, window_end, amounts)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
                 WHERE NOT EXISTS (SELECT 1 FROM predictions
                                   WHERE location = ?1 AND for_date = ?2 AND issue = ?3)
                   AND NOT EXISTS (SELECT 1 FROM observations WHERE location = ?1 AND date = ?2)",
            )?;
            let (mut logged, mut queued) = (0, 0);
            for p in forecasts {
                let n = st.execute(rusqlite::params![
                    p.location,
                    p.for_date,
                    p.issue.name(),
                    p.version,
                    p.probability,
                    fmt(p.issued_at),
                    p.threshold,
                    p.obs_date,
                    fmt(p.window_end),
                    p.amounts.map(|c| c.to_json()),
                ])?;
                if n == 1 {
                    logged += 1;
                    queued += super::alerts::queue_alerts(tx, p, max_pending, chrono::Utc::now())?;
                }
            }
            Ok((logged, queued))
        })
    }

    /// Every logged forecast with `from <= for_date <= to`, all stations,
    /// in (for_date, location) order.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn live_forecasts(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<PredictionRow>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT location, for_date, obs_date, version, probability, threshold, outcome,
                        issue, served_at, amounts, amount_mm
                 FROM predictions WHERE for_date >= ?1 AND for_date <= ?2
                 ORDER BY for_date, location, issue",
            )?;
            let rows = st.query_map(rusqlite::params![from, to], prediction_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The newest `limit` issued forecasts for one station (forecasts logged
    /// before issues existed are left out: they have no issue time), newest
    /// issue first: what the station's Atom and iCalendar feeds list.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn issued_forecasts(&self, location: &str, limit: usize) -> Result<Vec<PredictionRow>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT location, for_date, obs_date, version, probability, threshold, outcome,
                        issue, served_at, amounts, amount_mm
                 FROM predictions WHERE location = ?1 AND issue != ''
                 ORDER BY served_at DESC, for_date DESC LIMIT ?2",
            )?;
            let rows = st.query_map(rusqlite::params![location, limit as i64], prediction_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// How many forecasts for rain days `from..=to` were logged at or after
    /// their window closed (none should be).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn late_forecasts(&self, from: NaiveDate, to: NaiveDate) -> Result<u64> {
        self.with_conn(|c| {
            Ok(c.prepare_cached(
                "SELECT count(*) FROM predictions
                 WHERE for_date >= ?1 AND for_date <= ?2 AND window_end IS NOT NULL
                   AND served_at >= window_end",
            )?
            .query_row(rusqlite::params![from, to], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// How many forecasts were logged for one forecast day (all stations).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn predictions_logged_for(&self, for_date: NaiveDate) -> Result<u64> {
        self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT count(*) FROM predictions WHERE for_date = ?1")?
                    .query_row([for_date], |r| r.get::<_, i64>(0))? as u64,
            )
        })
    }

    /// Score every logged forecast whose day has now been observed, and
    /// re-score one whose outcome BOM has since revised (the previous
    /// month's file can change during the first days of a month; a rain
    /// amount revised to "missing" withdraws the score). Returns how many
    /// rows changed. `now` is stamped as `scored_at` (the simulated time in
    /// a replay).
    ///
    /// A process's first scoring looks at every forecast; so does the first
    /// of each day (of `now`) when another process wrote observations since
    /// (an import, a `raincast scrape`: every writer bumps the station
    /// change counters, and this process counts its own). The others look
    /// at the forecasts from the earliest day whose row this process added
    /// or changed since ([`Store::note_changed`]), and once a day at every
    /// forecast still unscored: a scrape's scoring does not read every
    /// forecast ever logged. An edit made outside raincast (the `sqlite3`
    /// shell) bumps no counter; it is scored after the next start.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn score_predictions(&self, now: DateTime<Utc>) -> Result<usize> {
        let today = now.date_naive();
        let others = self.others_writes()?;
        let state = self.inner.scoring.lock().ok().and_then(|s| *s);
        // The first scoring of a process looks at every forecast; after
        // that, the first of a day does, if another process wrote
        // observations since the last that did.
        let full = state.is_none_or(|s| s.full_day != today && s.others != others);
        // The forecasts still unscored, once a day: a day whose row came
        // before its forecast was logged (none should) is scored too.
        let unscored = state.is_none_or(|s| s.unscored_day != today);
        let changed = self
            .inner
            .changed_from
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        let now = super::rfc3339::text(&now);
        // The earliest rain day whose forecast a scoring below changed.
        let mut first = None;
        let scored = self.write(|tx| {
            let mut n = 0;
            if full {
                n += scored_days(
                    &mut tx.prepare_cached(&score_sql("", "1"))?,
                    [&now],
                    &mut first,
                )?;
            } else if unscored {
                n += scored_days(
                    &mut tx.prepare_cached(&score_sql(
                        "INDEXED BY predictions_unscored",
                        "outcome IS NULL",
                    ))?,
                    [&now],
                    &mut first,
                )?;
            }
            // A full pass has looked at every forecast already.
            let none = Changed::default();
            let changed = if full { &none } else { &changed };
            if let Some(from) = changed.any {
                n += scored_days(
                    &mut tx.prepare_cached(&score_sql("", "for_date >= ?2"))?,
                    rusqlite::params![now, from],
                    &mut first,
                )?;
            }
            // A station's own changes: its forecasts alone, through the
            // primary key (a scrape changes a few stations' rows).
            for (location, from) in &changed.stations {
                if changed.any.is_some_and(|any| any <= *from) {
                    continue;
                }
                n += scored_days(
                    &mut tx.prepare_cached(&score_sql("", "location = ?3 AND for_date >= ?2"))?,
                    rusqlite::params![now, from, location],
                    &mut first,
                )?;
            }
            // Scores count as a write on the change counters, so that
            // another process's kept track record sees them.
            if n > 0 {
                super::observations::bump_station(tx, SCORES_COUNTER)?;
            }
            Ok(n)
        });
        match &scored {
            Ok(n) => {
                if first.is_some()
                    && let Ok(mut r) = self.inner.record_days.lock()
                {
                    r.dirty_from = super::observations::earliest(r.dirty_from, first);
                }
                if let Ok(mut s) = self.inner.scoring.lock() {
                    *s = Some(match (*s, full) {
                        (Some(s), false) => Scoring {
                            unscored_day: today,
                            ..s
                        },
                        _ => Scoring {
                            full_day: today,
                            others,
                            unscored_day: today,
                        },
                    });
                }
                self.inner
                    .scores
                    .fetch_add(*n as u64, std::sync::atomic::Ordering::AcqRel);
            }
            // Not scored: the changes are still to look at.
            Err(_) => {
                if let Ok(mut r) = self.inner.changed_from.lock() {
                    r.merge(changed);
                }
            }
        }
        scored
    }

    /// What other processes (and anything else that bumps the station
    /// change counters) wrote: the sum of every station's counter minus
    /// this process's committed bumps, with the re-open generation. Read in
    /// that order, a bump of this process that commits meanwhile can only
    /// make it look as if another wrote (a scoring that looks further),
    /// never hide another's.
    fn others_writes(&self) -> Result<(i64, i64)> {
        let own = self
            .inner
            .own_bumps
            .load(std::sync::atomic::Ordering::Acquire);
        let sum: i64 = self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT coalesce(sum(generation), 0) FROM station_changes")?
                    .query_row([], |r| r.get(0))?,
            )
        })?;
        Ok((sum - own, self.reopen_generation()))
    }

    /// How many forecasts this process has scored or re-scored so far: a
    /// track record read at the same count is still this process's latest.
    pub fn scores_written(&self) -> u64 {
        self.inner.scores.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Remember that this process added or changed the stored observation
    /// of `day` (and maybe later ones): the next scoring looks again at
    /// forecasts from it on.
    pub(crate) fn note_changed(&self, day: Option<NaiveDate>) {
        if day.is_some()
            && let Ok(mut r) = self.inner.changed_from.lock()
        {
            r.any = super::observations::earliest(r.any, day);
        }
    }

    /// [`Store::note_changed`] for one station's rows: the next scoring
    /// looks again at that station's forecasts from `day` on.
    pub(crate) fn note_station_changed(&self, location: &str, day: Option<NaiveDate>) {
        if let Some(day) = day
            && let Ok(mut r) = self.inner.changed_from.lock()
        {
            r.note(location, day);
        }
    }

    /// Logged forecasts for one station with `from <= for_date <= to`, oldest
    /// first; where several versions forecast the same day, the newest version.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn predictions_for(
        &self,
        location: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<PredictionRow>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT location, for_date, obs_date, version, probability, threshold, outcome,
                        issue, max(served_at), amounts, amount_mm
                 FROM predictions WHERE location = ?1 AND for_date >= ?2 AND for_date <= ?3
                 GROUP BY location, for_date ORDER BY for_date",
            )?;
            let rows = st.query_map(rusqlite::params![location, from, to], prediction_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// [`track_record`](Self::track_record) of all stations, and the same of
    /// every issue apart (issue, record) for the issues with any verified
    /// forecast, from one read of the scored forecasts since `since`: what
    /// the serving board shows, read after every run.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn track_records(
        &self,
        since: NaiveDate,
    ) -> Result<(TrackRecord, Vec<(String, TrackRecord)>)> {
        // Sums per rain day are kept between reads: only the days this
        // process scored since are read again. Everything is read again on
        // a new day, when another process wrote observations or scores (the
        // change counters, `SCORES_COUNTER` among them), and always on a
        // read-only replica.
        let others = if self.is_read_only() {
            None
        } else {
            Some(self.others_writes()?)
        };
        let mut cache = self
            .inner
            .record_days
            .lock()
            .map_err(|_| StoreError::Conflict("the track record's cache is poisoned".into()))?;
        let reuse = others.is_some() && cache.since == Some(since) && cache.others == others;
        let from = if reuse {
            cache.dirty_from.map(|d| d.max(since))
        } else {
            Some(since)
        };
        if let Some(from) = from {
            let rows = self.with_conn(|c| {
                let mut st = c.prepare_cached(
                    "SELECT for_date, issue, count(*),
                            coalesce(sum((probability >= coalesce(threshold, 0.5)) = outcome), 0),
                            total((probability - outcome) * (probability - outcome))
                     FROM predictions
                     WHERE outcome IS NOT NULL AND for_date >= ?1
                     GROUP BY for_date, issue",
                )?;
                let rows = st.query_map([from], |r| {
                    Ok((
                        (r.get::<_, NaiveDate>(0)?, r.get::<_, String>(1)?),
                        (
                            r.get::<_, i64>(2)? as u64,
                            r.get::<_, i64>(3)? as u64,
                            r.get::<_, f64>(4)?,
                        ),
                    ))
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            });
            let rows = match rows {
                Ok(rows) => rows,
                Err(e) => {
                    cache.since = None;
                    return Err(e);
                }
            };
            if !reuse {
                cache.days.clear();
                (cache.since, cache.others) = (Some(since), others);
            }
            cache.days.split_off(&(from, String::new()));
            cache.days.extend(rows);
        }
        cache.dirty_from = None;
        let mut by_issue: BTreeMap<&str, (u64, u64, f64)> = BTreeMap::new();
        for ((_, issue), (v, h, sq)) in cache.days.range((since, String::new())..) {
            let e = by_issue.entry(issue).or_default();
            (e.0, e.1, e.2) = (e.0 + v, e.1 + h, e.2 + sq);
        }
        let groups: Vec<(String, u64, u64, f64)> = by_issue
            .into_iter()
            .map(|(issue, (v, h, sq))| (issue.to_string(), v, h, sq))
            .collect();
        drop(cache);
        let record = |verified: u64, hits: u64, squares: f64| TrackRecord {
            verified,
            hits,
            misses: verified - hits,
            brier: (verified > 0).then(|| squares / verified as f64),
        };
        // The pages lead with the afternoon issue, and forecasts logged
        // before issues existed count with it.
        let (mut n, mut hits, mut squares) = (0, 0, 0.0);
        for (issue, v, h, sq) in &groups {
            if issue.is_empty() || issue == "afternoon" {
                (n, hits, squares) = (n + v, hits + h, squares + sq);
            }
        }
        let by_issue = groups
            .into_iter()
            .filter(|g| !g.0.is_empty())
            .map(|(issue, v, h, sq)| (issue, record(v, h, sq)))
            .collect();
        Ok((record(n, hits, squares), by_issue))
    }

    /// Hits, misses and Brier score of verified forecasts with `for_date >= since`
    /// (all stations, or one), of the afternoon issue (the one the pages
    /// lead with) and of forecasts logged before issues.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn track_record(&self, location: Option<&str>, since: NaiveDate) -> Result<TrackRecord> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT count(*),
                        coalesce(sum((probability >= coalesce(threshold, 0.5)) = outcome), 0),
                        avg((probability - outcome) * (probability - outcome))
                 FROM predictions
                 WHERE outcome IS NOT NULL AND for_date >= ?1 AND (?2 IS NULL OR location = ?2)
                   AND issue IN ('', 'afternoon')",
            )?;
            Ok(st.query_row(rusqlite::params![since, location], |r| {
                let verified = r.get::<_, i64>(0)? as u64;
                let hits = r.get::<_, i64>(1)? as u64;
                Ok(TrackRecord {
                    verified,
                    hits,
                    misses: verified - hits,
                    brier: r.get(2)?,
                })
            })?)
        })
    }
}

/// The stored observations this process added or changed since the last
/// scoring: from a day on, at any station, and from a day on at one.
#[derive(Debug, Default)]
pub(super) struct Changed {
    any: Option<NaiveDate>,
    stations: BTreeMap<String, NaiveDate>,
}

impl Changed {
    fn note(&mut self, location: &str, day: NaiveDate) {
        match self.stations.get_mut(location) {
            Some(from) => *from = (*from).min(day),
            None => {
                self.stations.insert(location.to_string(), day);
            }
        }
    }

    fn merge(&mut self, other: Changed) {
        self.any = super::observations::earliest(self.any, other.any);
        for (location, day) in other.stations {
            self.note(&location, day);
        }
    }
}

/// The change counter ([`Store::station_generations`]) that every scoring
/// which changed a forecast bumps: not a station, so the board never reads
/// it as one, but in the sum that tells one process another's writes.
pub(super) const SCORES_COUNTER: &str = "(scores)";

/// The scored forecasts' sums (count, hits, squared errors) per rain day
/// and issue from `since` on, as [`Store::track_records`] last read them,
/// and the earliest rain day this process scored since.
#[derive(Debug, Default)]
pub(super) struct RecordDays {
    since: Option<NaiveDate>,
    /// [`Store::others_writes`] at that read.
    others: Option<(i64, i64)>,
    days: BTreeMap<(NaiveDate, String), (u64, u64, f64)>,
    dirty_from: Option<NaiveDate>,
}

/// What the scorings so far looked at ([`Store::score_predictions`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Scoring {
    /// The day of the last scoring that looked at every forecast, and what
    /// other processes had written by then.
    full_day: NaiveDate,
    others: (i64, i64),
    /// The day of the last look at every unscored forecast.
    unscored_day: NaiveDate,
}

/// The scoring update for the forecasts `which` selects (with `?1` the
/// time stamped, `?2` a rain day), read through `index`: outcome and
/// amount from the observed row, where either differs from what is stored.
fn score_sql(index: &str, which: &str) -> String {
    format!(
        "UPDATE predictions {index} SET
            outcome = (SELECT o.rain_today FROM observations o
                       WHERE o.location = predictions.location AND o.date = predictions.for_date),
            amount_mm = (SELECT o.rainfall FROM observations o
                       WHERE o.location = predictions.location AND o.date = predictions.for_date),
            scored_at = ?1
         WHERE {which} AND EXISTS (
            SELECT 1 FROM observations o
            WHERE o.location = predictions.location AND o.date = predictions.for_date
              AND (o.rain_today IS NOT predictions.outcome
                   OR o.rainfall IS NOT predictions.amount_mm))
         RETURNING for_date"
    )
}

/// Run a scoring update ([`score_sql`]): how many forecasts it changed,
/// with the earliest of their rain days folded into `first`.
fn scored_days(
    st: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    first: &mut Option<NaiveDate>,
) -> Result<usize> {
    let mut rows = st.query(params)?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        n += 1;
        *first = super::observations::earliest(*first, Some(r.get(0)?));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    /// A scrape's months are noted per station: the next scoring looks at
    /// each revised station's forecasts from its own first changed day, and
    /// every station a scrape revised is scored at once.
    #[test]
    fn a_scraped_months_revisions_are_scored_per_station() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db"), Duration::from_secs(5)).unwrap();
        let now: DateTime<Utc> = "2024-10-03T01:00:00Z".parse().unwrap();
        let today = now.date_naive();
        let day = |location: &'static str, d: u32, rain: f64| {
            let mut o = crate::obs::Observation::empty(
                location,
                NaiveDate::from_ymd_opt(2024, 9, d).unwrap(),
            );
            o.set(crate::obs::Num::Rainfall, Some(rain));
            o.rain_today = o.derived_rain_today();
            o
        };
        store
            .with_conn(|c| {
                c.execute_batch("PRAGMA foreign_keys = OFF")?;
                for (location, d) in [("Sydney", 10), ("Sydney", 20), ("Albury", 10)] {
                    c.execute(
                        "INSERT INTO predictions (location, for_date, issue, version, probability,
                                                  served_at, threshold)
                         VALUES (?1, ?2, 'afternoon', 1, 0.4, '2024-09-01T00:00:00Z', 0.5)",
                        rusqlite::params![location, NaiveDate::from_ymd_opt(2024, 9, d).unwrap()],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        let month = |location: &'static str, wet: &[u32]| {
            let rows: Vec<_> = (1..=30)
                .map(|d| day(location, d, if wet.contains(&d) { 5.0 } else { 0.0 }))
                .collect();
            store
                .upsert_station_month(location, (2024, 9), &rows, "t", today, &Default::default())
                .unwrap();
        };
        month("Sydney", &[]);
        month("Albury", &[]);
        assert_eq!(store.score_predictions(now).unwrap(), 3, "the first: all");
        // BOM revises Sydney's 20th and Albury's 10th.
        month("Sydney", &[20]);
        month("Albury", &[10]);
        let later = now + chrono::Duration::hours(2);
        assert_eq!(store.score_predictions(later).unwrap(), 2);
        let outcomes: Vec<(String, Option<bool>)> = store
            .with_conn(|c| {
                let mut st = c.prepare(
                    "SELECT location, outcome FROM predictions ORDER BY location, for_date",
                )?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .unwrap();
        assert_eq!(
            outcomes,
            [
                ("Albury".into(), Some(true)),
                ("Sydney".into(), Some(false)),
                ("Sydney".into(), Some(true))
            ]
        );
        assert_eq!(store.score_predictions(later).unwrap(), 0, "nothing left");
    }

    /// The 30-day record kept between reads equals a fresh read of every
    /// day after each scoring: new days, a revision of an older day, a
    /// second station, the next day.
    #[test]
    fn the_kept_record_equals_a_fresh_read_after_every_scoring() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let store = Store::open(&path, Duration::from_secs(5)).unwrap();
        let now: DateTime<Utc> = "2024-10-03T01:00:00Z".parse().unwrap();
        let today = now.date_naive();
        let date = |d: u32| NaiveDate::from_ymd_opt(2024, 9, d).unwrap();
        store
            .with_conn(|c| {
                c.execute_batch("PRAGMA foreign_keys = OFF")?;
                for location in ["Sydney", "Albury"] {
                    for d in 1..=30 {
                        for (issue, p) in [("afternoon", 0.1 + d as f64 / 40.0), ("morning", 0.3)] {
                            c.execute(
                                "INSERT INTO predictions (location, for_date, issue, version,
                                                          probability, served_at, threshold)
                                 VALUES (?1, ?2, ?3, 1, ?4, '2024-09-01T00:00:00Z', 0.5)",
                                rusqlite::params![location, date(d), issue, p],
                            )?;
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
        let month = |location: &'static str, days: u32, wet: &[u32]| {
            let rows: Vec<_> = (1..=days)
                .map(|d| {
                    let mut o = crate::obs::Observation::empty(location, date(d));
                    let rain = if wet.contains(&d) { 6.0 } else { 0.0 };
                    o.set(crate::obs::Num::Rainfall, Some(rain));
                    o.rain_today = o.derived_rain_today();
                    o
                })
                .collect();
            store
                .upsert_station_month(location, (2024, 9), &rows, "t", today, &Default::default())
                .unwrap();
        };
        let check = |at: DateTime<Utc>, what: &str| {
            let since = at.date_naive() - chrono::Days::new(30);
            let fresh = Store::open(&path, Duration::from_secs(5)).unwrap();
            assert_eq!(
                store.track_records(since).unwrap(),
                fresh.track_records(since).unwrap(),
                "{what}"
            );
        };
        check(now, "nothing scored");
        month("Sydney", 20, &[3, 4, 18]);
        assert!(store.score_predictions(now).unwrap() > 0);
        check(now, "Sydney's first 20 days");
        month("Sydney", 30, &[3, 4, 18, 25]);
        month("Albury", 30, &[9]);
        assert!(store.score_predictions(now).unwrap() > 0);
        check(now, "the rest of the month, and Albury");
        month("Sydney", 30, &[4, 18, 25, 26]);
        assert_eq!(
            store.score_predictions(now).unwrap(),
            4,
            "days 3 and 26, two issues"
        );
        check(now, "a revision of the 3rd and the 26th");
        // Another process writes Albury's revision, this one reads the
        // record before the other scores it, then after.
        let other = Store::open(&path, Duration::from_secs(5)).unwrap();
        let mut revised = crate::obs::Observation::empty("Albury", date(9));
        revised.set(crate::obs::Num::Rainfall, Some(0.0));
        revised.rain_today = revised.derived_rain_today();
        other.upsert_observations(&[revised], "t").unwrap();
        check(now, "another process's revision, not yet scored");
        assert_eq!(other.score_predictions(now).unwrap(), 2);
        check(now, "another process's scores");
        let next = now + chrono::Duration::days(1);
        check(next, "the next day");
        // From 3 September: 28 days of two stations, each issue.
        let (afternoon, by_issue) = store.track_records(today - chrono::Days::new(30)).unwrap();
        assert_eq!(afternoon.verified, 56);
        assert_eq!(
            by_issue
                .iter()
                .map(|(i, r)| (i.as_str(), r.verified))
                .collect::<Vec<_>>(),
            [("afternoon", 56), ("morning", 56)]
        );
    }

    /// A scoring after a revision this process wrote re-scores that day at
    /// once, and scores a forecast whose day has just been observed; a
    /// revision written by another process waits for the first scoring of
    /// the next day, which looks at every forecast; an edit outside raincast
    /// waits for the next start.
    #[test]
    fn revisions_are_scored_at_once_and_other_processes_ones_the_next_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path, Duration::from_secs(5)).unwrap();
        let now: DateTime<Utc> = "2025-06-01T01:00:00Z".parse().unwrap();
        let today = now.date_naive();
        let (recent, old, unscored) = (
            today - chrono::Days::new(5),
            today - chrono::Days::new(100),
            today - chrono::Days::new(50),
        );
        let obs = |date: NaiveDate, rain: bool| {
            let mut o = crate::obs::Observation::empty("Sydney", date);
            o.rain_today = Some(rain);
            o.set(
                crate::obs::Num::Rainfall,
                Some(if rain { 4.2 } else { 0.0 }),
            );
            o
        };
        store
            .with_conn(|c| {
                c.execute_batch("PRAGMA foreign_keys = OFF")?;
                for d in [recent, old, unscored] {
                    c.execute(
                        "INSERT INTO predictions (location, for_date, issue, version, probability,
                                                  served_at, threshold)
                         VALUES ('Sydney', ?1, 'afternoon', 1, 0.4, '2025-01-01T00:00:00Z', 0.5)",
                        [d],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        let read = |d: NaiveDate| -> (Option<bool>, Option<String>) {
            store
                .with_conn(|c| {
                    Ok(c.query_row(
                        "SELECT outcome, scored_at FROM predictions WHERE for_date = ?1",
                        [d],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?)
                })
                .unwrap()
        };
        store
            .upsert_observations(&[obs(recent, true), obs(old, false)], "test")
            .unwrap();
        assert_eq!(store.score_predictions(now).unwrap(), 2, "the first: all");
        let second = Store::open(&path, Duration::from_secs(5)).unwrap();
        // Another process (its own store) revises the old day; this one the
        // recent day, and the unscored day's row arrives.
        second
            .upsert_observations(&[obs(old, true)], "test")
            .unwrap();
        store
            .upsert_observations(&[obs(recent, false), obs(unscored, true)], "test")
            .unwrap();
        let later = now + chrono::Duration::hours(6);
        assert_eq!(store.score_predictions(later).unwrap(), 2);
        assert_eq!(
            read(recent),
            (Some(false), Some("2025-06-01T07:00:00.000Z".into())),
            "this process's revision: at once, stamped with the time given"
        );
        assert_eq!(read(unscored).0, Some(true), "newly observed: at once");
        assert_eq!(
            read(old).0,
            Some(false),
            "another process's revision: not yet"
        );
        assert_eq!(store.score_predictions(later).unwrap(), 0);
        let next_day = now + chrono::Duration::days(1);
        assert_eq!(store.score_predictions(next_day).unwrap(), 1);
        assert_eq!(
            read(old).0,
            Some(true),
            "another process's revision: the next day"
        );
        assert_eq!(store.score_predictions(next_day).unwrap(), 0);
        // An edit outside raincast bumps no counter: the next day does not
        // look at every forecast, a fresh start does.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE observations SET rain_today = 0, rainfall = 0 WHERE date = ?1",
                [old],
            )
            .unwrap();
        let day_after = next_day + chrono::Duration::days(1);
        assert_eq!(store.score_predictions(day_after).unwrap(), 0);
        let restarted = Store::open(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(restarted.score_predictions(day_after).unwrap(), 1);
        assert_eq!(read(old).0, Some(false));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The Brier score the store aggregates in SQL (the track record,
        /// per issue and for the pages' issue) equals the one
        /// [`crate::score`] computes from the same forecasts row by row.
        #[test]
        fn the_sql_brier_score_equals_the_one_from_rows(
            rows in proptest::collection::vec((0.0f64..=1.0, any::<bool>(), 0usize..4), 1..60)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("b.db"), Duration::from_secs(5)).unwrap();
            // "": logged before issues existed, counted with the afternoon.
            let issues = ["day_before", "morning", "afternoon", ""];
            let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
            store
                .with_conn(|c| {
                    // No model versions here: forecasts only.
                    c.execute_batch("PRAGMA foreign_keys = OFF")?;
                    for (i, &(p, rain, issue)) in rows.iter().enumerate() {
                        c.execute(
                            "INSERT INTO predictions (location, for_date, issue, version, probability,
                                                      served_at, threshold, outcome)
                             VALUES ('Sydney', ?1, ?2, 1, ?3, '2025-01-01T00:00:00Z', 0.5, ?4)",
                            rusqlite::params![
                                day + chrono::Days::new(i as u64),
                                issues[issue],
                                p,
                                rain
                            ],
                        )?;
                    }
                    Ok(())
                })
                .unwrap();
            let (all, by_issue) = store.track_records(day).unwrap();
            prop_assert!(by_issue.iter().all(|(name, _)| !name.is_empty()));
            for (name, record) in by_issue {
                let k = issues.iter().position(|i| *i == name).unwrap();
                let mine: Vec<_> = rows.iter().filter(|r| r.2 == k).collect();
                let hits = mine.iter().filter(|r| (r.0 >= 0.5) == r.1).count() as u64;
                prop_assert_eq!((record.verified, record.hits), (mine.len() as u64, hits));
                let want = crate::score::brier_of(mine.iter().map(|&&(p, rain, _)| (p, rain)));
                let got = record.brier.unwrap();
                prop_assert!((got - want.unwrap()).abs() < 1e-9, "{name}: {got} against {want:?}");
            }
            let afternoon = store.track_record(Some("Sydney"), day).unwrap();
            let want = crate::score::brier_of(
                rows.iter().filter(|r| r.2 >= 2).map(|&(p, rain, _)| (p, rain)),
            );
            match (afternoon.brier, want) {
                (Some(got), Some(want)) => prop_assert!((got - want).abs() < 1e-9),
                (got, want) => prop_assert_eq!(got, want),
            }
            // The board's record of the pages' issue is the one the city
            // pages read per station.
            let one = store.track_record(None, day).unwrap();
            prop_assert_eq!((all.verified, all.hits, all.misses), (one.verified, one.hits, one.misses));
            match (all.brier, one.brier) {
                (Some(x), Some(y)) => prop_assert!((x - y).abs() < 1e-12, "{x} against {y}"),
                (x, y) => prop_assert_eq!(x, y),
            }
        }
    }
}
