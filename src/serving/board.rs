//! The board: what every public read needs, in memory, rebuilt by
//! [`Serving::sync`](super::Serving::sync) when the data, the champion or
//! the day changes.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::forecast::{Forecast, ForecastKind, Moment, forecast_from};
use crate::features::{self, Neighbourhood};
use crate::issue::{ISSUES, Issue, Visibility};
use crate::obs::Observation;
use crate::registry::LoadedModel;
use crate::stations::{STATIONS, Station};
use crate::store::{JobRun, RunStatus, Store, StoreError, TrackRecord};

/// What every public read needs, in memory.
#[derive(Debug, Default)]
pub struct Board {
    /// The day (UTC) the board was built for: ages and staleness depend on it.
    pub today: Option<NaiveDate>,
    /// The moment it was built for: which issues are due depends on it.
    pub built_at: Option<DateTime<Utc>>,
    pub model_version: Option<i64>,
    pub stale_after_days: i64,
    /// One entry per station, in [`STATIONS`] order.
    pub stations: Vec<StationBoard>,
    /// Every station's reports of the days in `stations`' recent rows, which
    /// forecasts read their neighbour features from.
    pub around: Neighbourhood,
    pub source: SourceStatus,
    /// The live record over the 30 days before `today` (all stations).
    pub record_30d: TrackRecord,
    /// The same per issue (`day_before`, `morning`, `afternoon`), each
    /// scored at its own issue time.
    pub record_30d_by_issue: Vec<(String, TrackRecord)>,
    /// On a read-only replica, the newest write in its copy (RFC 3339).
    pub newest_write: Option<String>,
    /// The store's count of forecasts scored ([`Store::scores_written`])
    /// when the records were read.
    pub scores_read: u64,
    /// The store's re-open generation the stations were read under
    /// ([`Store::reopen_generation`]).
    pub reopened: i64,
    /// The probability `model_version` gave each feature row this board's
    /// forecasts were made from (the row's bits as the key). A rebuild
    /// whose row for a forecast is the same, bit for bit, takes it from
    /// here instead of running the model again: a scrape changes one time
    /// zone's stations, and most forecasts read nothing it wrote.
    pub predicted: HashMap<[u32; features::N_FEATURES], f64>,
}

/// How the BOM source is doing, from the newest scrape runs.
#[derive(Debug, Default, Clone)]
pub struct SourceStatus {
    /// When the newest successful scrape finished.
    pub last_ok: Option<DateTime<Utc>>,
    /// When the current run of failed scrapes began; `None` when the newest
    /// scrape succeeded (or none ran).
    pub failing_since: Option<DateTime<Utc>>,
    /// The newest failure's message, which names the setting to check.
    pub cause: Option<String>,
}

impl SourceStatus {
    fn from_runs(runs: &[JobRun]) -> Self {
        let finished: Vec<_> = runs.iter().filter(|r| r.finished_at.is_some()).collect();
        let last_ok = finished
            .iter()
            .find(|r| r.status == RunStatus::Succeeded)
            .and_then(|r| r.finished_at);
        let failing: Vec<_> = finished
            .iter()
            .take_while(|r| r.status == RunStatus::Failed)
            .collect();
        Self {
            last_ok,
            failing_since: failing.last().map(|r| r.started_at),
            cause: failing.first().and_then(|r| r.error.clone()),
        }
    }
}

/// The parts of a board that runs and scoring change.
struct Records {
    source: SourceStatus,
    record_30d: TrackRecord,
    record_30d_by_issue: Vec<(String, TrackRecord)>,
    newest_write: Option<String>,
    scores_read: u64,
}

impl Records {
    /// Read for `today`; the live record is taken from `kept` instead when
    /// it was read for the same day and this process has scored nothing
    /// since (scoring runs before a forecast log builds the board, so a
    /// run's end usually finds nothing new to score). Another process's
    /// scores change the data version, and the next sync rebuilds.
    fn read(store: &Store, today: NaiveDate, kept: Option<&Board>) -> Result<Self, StoreError> {
        let scores_read = store.scores_written();
        let kept = kept.filter(|b| {
            b.today == Some(today) && b.scores_read == scores_read && !store.is_read_only()
        });
        let (record_30d, record_30d_by_issue) = match kept {
            Some(b) => (b.record_30d.clone(), b.record_30d_by_issue.clone()),
            None => store.track_records(today - chrono::Days::new(30))?,
        };
        Ok(Records {
            source: SourceStatus::from_runs(
                &store.run_heads(Some(crate::store::JobKind::Scrape), 50)?,
            ),
            record_30d,
            record_30d_by_issue,
            newest_write: if store.is_read_only() {
                store.newest_write()?
            } else {
                None
            },
            scores_read,
        })
    }
}

#[derive(Debug, Clone)]
pub struct StationBoard {
    pub station: &'static Station,
    pub rows: u64,
    pub first: Option<NaiveDate>,
    pub latest: Option<NaiveDate>,
    /// The newest observations, oldest first, covering the feature lookback
    /// before `latest` (what a forecast or a posted next day needs).
    pub recent: Arc<[Observation]>,
    /// The station's change counter when these rows were read
    /// ([`Store::station_generations`]; 0 before its first write).
    pub generation: i64,
    /// The forecast from the newest observation, when a model serves.
    pub forecast: Option<Arc<Forecast>>,
    /// The next rain day's day-before forecast, once it is issued (from the
    /// afternoon before the current window closes) and current.
    pub next: Option<Arc<Forecast>>,
}

impl Board {
    /// Read each station's newest observations and forecast them with
    /// `model` (when one serves). A station whose rows have not changed
    /// since `previous` was built (its change counter is the same) keeps
    /// the rows `previous` read; only the others are read again. Forecasts
    /// are always made again: they depend on the time, the model and the
    /// neighbours.
    pub fn build(
        store: &Store,
        model: Option<&LoadedModel>,
        now: DateTime<Utc>,
        stale_after_days: i64,
        previous: Option<&Board>,
    ) -> Result<Self, StoreError> {
        let today = now.date_naive();
        // Counters first, rows after: a write in between leaves newer rows
        // under an older counter, which the next build reads again.
        let (reopened, generations) = store.station_generations()?;
        let previous = previous.filter(|p| p.reopened == reopened);
        let mut stations = Vec::with_capacity(STATIONS.len());
        for (i, st) in STATIONS.iter().enumerate() {
            let generation = generations
                .iter()
                .find(|(l, _)| l == st.location)
                .map_or(0, |g| g.1);
            let kept = previous
                .and_then(|p| p.stations.get(i))
                .filter(|s| s.station.location == st.location && s.generation == generation);
            if let Some(old) = kept {
                stations.push(StationBoard {
                    forecast: None,
                    next: None,
                    ..old.clone()
                });
                continue;
            }
            let stat = store.station_stats_of(st.location)?;
            let latest = stat.as_ref().and_then(|x| x.latest);
            let recent = match latest {
                Some(d) => store.observations_between(
                    st.location,
                    d - chrono::Days::new(features::LOOKBACK_DAYS),
                    d,
                )?,
                None => Vec::new(),
            };
            stations.push(StationBoard {
                station: st,
                rows: stat.as_ref().map_or(0, |x| x.rows),
                first: stat.as_ref().and_then(|x| x.first),
                latest,
                recent: recent.into(),
                generation,
                forecast: None,
                next: None,
            });
        }
        // Each forecast reads the other stations' reports of its day (and
        // the day before): from the rows the board holds, or from the
        // database for a station so far behind that the others' rows no
        // longer reach its day, as training and hindcasts would read them.
        let mut around =
            Neighbourhood::from_observations(stations.iter().flat_map(|s| s.recent.iter()));
        let mut behind: Vec<NaiveDate> = stations
            .iter()
            .filter_map(|s| s.latest)
            .filter(|&d| !neighbours_cover(&stations, d))
            .collect();
        behind.sort_unstable();
        behind.dedup();
        for d in behind {
            around.add_from_store(store, d.pred_opt().unwrap_or(d), d)?;
        }
        let mut predicted = HashMap::new();
        if let Some(m) = model {
            // The level correction's book reads every rain day up to the
            // day before the newest row this board read, before any
            // forecast from those rows is made (decision 0038).
            if let Some(target) = stations
                .iter()
                .filter_map(|s| s.latest)
                .max()
                .and_then(|d| d.pred_opt())
            {
                crate::evaluate::catch_up_level_to(store, m, target)?;
            }
            let known = previous
                .filter(|p| p.model_version == Some(m.version))
                .map(|p| &p.predicted);
            let mut predict = |row: &features::FeatureRow| {
                let key = row.map(f32::to_bits);
                let p = known
                    .and_then(|k| k.get(&key).copied())
                    .unwrap_or_else(|| m.predict(row));
                predicted.insert(key, p);
                p
            };
            let at = |issue| Moment {
                today,
                stale_after_days,
                kind: ForecastKind::Forecast,
                issue,
            };
            let v = Visibility::current();
            for sb in &mut stations {
                // The rain day under way, and the latest issue made for it
                // whose row the store holds (an issue stands until the next
                // one replaces it, also once the window has opened); else,
                // with no current row, the afternoon issue from the newest
                // one, which is stale.
                let rain_day = crate::issue::rain_day_at(sb.station, now);
                let current = ISSUES.iter().rev().find_map(|&issue| {
                    if issue.due_at(sb.station, rain_day, &v) > now {
                        return None;
                    }
                    let base = issue.base_day(rain_day);
                    let upto = sb.recent.partition_point(|o| o.date <= base);
                    (upto > 0 && sb.recent[upto - 1].date == base).then_some((issue, upto))
                });
                let (issue, upto) = match current {
                    Some(c) => c,
                    None if sb.latest.is_some() => (Issue::Afternoon, sb.recent.len()),
                    None => continue,
                };
                sb.forecast = forecast_from(
                    m,
                    sb.station,
                    &sb.recent[..upto],
                    &around,
                    at(issue),
                    &mut predict,
                )
                .map(|mut f| {
                    // A window that has closed holds no forecast.
                    f.stale |= f.window_end <= now;
                    Arc::new(f)
                });
                // The next rain day's day-before issue, from the same
                // afternoon's row, once it is due.
                let next_day = rain_day + chrono::Days::new(1);
                let issue = Issue::DayBefore;
                if issue.due_at(sb.station, next_day, &v) <= now {
                    let base = issue.base_day(next_day);
                    let upto = sb.recent.partition_point(|o| o.date <= base);
                    if upto > 0 && sb.recent[upto - 1].date == base {
                        sb.next = forecast_from(
                            m,
                            sb.station,
                            &sb.recent[..upto],
                            &around,
                            at(issue),
                            &mut predict,
                        )
                        .filter(|f| !f.stale && f.forecast_date == next_day)
                        .map(Arc::new);
                    }
                }
            }
        }
        let records = Records::read(store, today, None)?;
        Ok(Board {
            today: Some(today),
            built_at: Some(now),
            model_version: model.map(|m| m.version),
            stale_after_days,
            stations,
            around,
            source: records.source,
            record_30d: records.record_30d,
            record_30d_by_issue: records.record_30d_by_issue,
            newest_write: records.newest_write,
            scores_read: records.scores_read,
            reopened,
            predicted,
        })
    }

    /// This board with its run- and record-derived parts read again (the
    /// source's status, the live record, a replica's newest write), its
    /// stations and forecasts kept: after a run whose forecast log built the
    /// board, only those parts can have changed.
    pub fn with_fresh_records(&self, store: &Store) -> Result<Self, StoreError> {
        let records = Records::read(store, self.today.unwrap_or_default(), Some(self))?;
        Ok(Board {
            today: self.today,
            built_at: self.built_at,
            model_version: self.model_version,
            stale_after_days: self.stale_after_days,
            stations: self.stations.clone(),
            around: self.around.clone(),
            source: records.source,
            record_30d: records.record_30d,
            record_30d_by_issue: records.record_30d_by_issue,
            newest_write: records.newest_write,
            scores_read: records.scores_read,
            reopened: self.reopened,
            predicted: self.predicted.clone(),
        })
    }

    /// `model`'s probability for `row`: from [`Board::predicted`] when this
    /// board's forecasts were made by the same version from the same row,
    /// else from the model.
    pub fn predicted_by(&self, model: &LoadedModel, row: &features::FeatureRow) -> f64 {
        (self.model_version == Some(model.version))
            .then(|| self.predicted.get(&row.map(f32::to_bits)).copied())
            .flatten()
            .unwrap_or_else(|| model.predict(row))
    }

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

    /// Whether the board holds every stored day a forecast from an
    /// observation at `location` on `date` reads (so no database read is
    /// needed). The board holds every stored row from `latest - LOOKBACK`
    /// on, so it answers whenever the lookback starts inside that span.
    /// Whether [`Board::around`] holds every station's reports of `date` and
    /// the day before that the database has.
    pub fn neighbours_cover(&self, date: NaiveDate) -> bool {
        neighbours_cover(&self.stations, date)
    }

    pub fn covers(&self, location: &str, date: NaiveDate) -> bool {
        let from = date - chrono::Days::new(features::LOOKBACK_DAYS);
        self.station(location).is_some_and(|sb| {
            sb.latest
                .is_none_or(|l| from >= l - chrono::Days::new(features::LOOKBACK_DAYS))
        })
    }
}

/// Whether the rows `stations` hold include every station's reports of
/// `date` and the day before (a station's rows run from 30 days before its
/// newest day to it; it has nothing after its newest day).
fn neighbours_cover(stations: &[StationBoard], date: NaiveDate) -> bool {
    let Some(before) = date.pred_opt() else {
        return false;
    };
    stations.iter().all(|s| {
        s.latest
            .is_none_or(|l| before >= l - chrono::Days::new(features::LOOKBACK_DAYS))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn board(latest: &[Option<NaiveDate>]) -> Vec<StationBoard> {
        STATIONS
            .iter()
            .zip(latest)
            .map(|(st, &latest)| StationBoard {
                station: st,
                rows: 0,
                first: None,
                latest,
                recent: Arc::new([]),
                generation: 0,
                forecast: None,
                next: None,
            })
            .collect()
    }

    /// A rebuild keeps the rows of stations nobody wrote to since (the same
    /// allocation) and reads the others again, and what it holds equals a
    /// build from nothing.
    #[test]
    fn a_rebuild_reads_only_the_stations_that_changed() {
        use crate::obs::Num;
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(&dir.path().join("b.db"), std::time::Duration::from_secs(5)).unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2024, 10, d).unwrap();
        let row = |location, d, rain| {
            let mut o = Observation::empty(location, day(d));
            o.set(Num::Rainfall, Some(rain));
            o.rain_today = o.derived_rain_today();
            o
        };
        store
            .upsert_observations(&[row("Sydney", 1, 0.0), row("Darwin", 1, 2.0)], "t")
            .unwrap();
        let now = Utc.with_ymd_and_hms(2024, 10, 2, 0, 0, 0).unwrap();
        let first = Board::build(&store, None, now, 2, None).unwrap();
        store
            .upsert_observations(&[row("Sydney", 2, 5.0), row("Sydney", 1, 0.4)], "t")
            .unwrap();
        let second = Board::build(&store, None, now, 2, Some(&first)).unwrap();
        let (sydney, darwin) = (
            second.station("Sydney").unwrap(),
            second.station("Darwin").unwrap(),
        );
        assert!(Arc::ptr_eq(
            &darwin.recent,
            &first.station("Darwin").unwrap().recent
        ));
        assert_eq!(sydney.rows, 2);
        assert_eq!(sydney.latest, Some(day(2)));
        assert_eq!(
            &sydney.recent[..],
            &[row("Sydney", 1, 0.4), row("Sydney", 2, 5.0)]
        );
        let fresh = Board::build(&store, None, now, 2, None).unwrap();
        for (a, b) in fresh.stations.iter().zip(&second.stations) {
            assert_eq!(
                (a.rows, a.first, a.latest, &a.recent[..], a.generation),
                (b.rows, b.first, b.latest, &b.recent[..], b.generation),
                "{}",
                a.station.location
            );
        }
    }

    /// The board's rows hold a day's neighbours only while every station's
    /// 30 days of rows reach back to the day before it; a station far
    /// behind the others reads its neighbours from the database instead.
    #[test]
    fn neighbours_are_covered_within_every_stations_rows() {
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        let rows = board(&[Some(d(9, 5)), Some(d(9, 4)), None]);
        assert!(neighbours_cover(&rows, d(9, 5)));
        assert!(
            neighbours_cover(&rows, d(9, 6)),
            "a day nobody has reported"
        );
        // 9-5 minus 30 days is 8-6: the day before must not be earlier.
        assert!(neighbours_cover(&rows, d(8, 7)));
        assert!(!neighbours_cover(&rows, d(8, 6)));
        assert!(
            !neighbours_cover(&rows, d(7, 1)),
            "a station 2 months behind"
        );
    }
}
