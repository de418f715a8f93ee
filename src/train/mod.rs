//! Honest training: time-based windows (train, then tune the threshold, then
//! test on the newest data), never a random split; metrics on the test window;
//! and the champion/challenger decision on that same window.

pub mod metrics;
pub mod registry;

use std::sync::atomic::AtomicBool;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::features::{self, N_FEATURES};
use crate::forest::{FitOptions, Forest, ForestError, ForestParams};
use crate::obs::Observation;
use metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    #[error("invalid training window: {0}")]
    Window(String),
    #[error(transparent)]
    Forest(#[from] ForestError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
}

/// Labelled feature rows, row-major.
#[derive(Debug, Default)]
pub struct Samples {
    pub x: Vec<f32>,
    pub y: Vec<bool>,
    /// Observation date of each row (the label is for the next day).
    pub dates: Vec<NaiveDate>,
}

impl Samples {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The rows with `from <= date < to`.
    pub fn between(&self, from: NaiveDate, to: NaiveDate) -> Samples {
        let mut out = Samples::default();
        for (i, &d) in self.dates.iter().enumerate() {
            if d >= from && d < to {
                out.x
                    .extend_from_slice(&self.x[i * N_FEATURES..(i + 1) * N_FEATURES]);
                out.y.push(self.y[i]);
                out.dates.push(d);
            }
        }
        out
    }
}

/// Encode observations ordered by (location, date); keep the labelled rows.
pub fn build_samples(obs: &[Observation]) -> Samples {
    let mut s = Samples::default();
    let mut start = 0;
    while start < obs.len() {
        let loc = obs[start].location;
        let end = start + obs[start..].partition_point(|o| o.location == loc);
        let series = &obs[start..end];
        for (o, row) in series.iter().zip(features::encode_series(series)) {
            if let Some(label) = o.rain_tomorrow {
                s.x.extend_from_slice(&row);
                s.y.push(label);
                s.dates.push(o.date);
            }
        }
        start = end;
    }
    s
}

/// Half-open date windows `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Windows {
    pub train: Window,
    pub tune: Window,
    pub test: Window,
}

/// Explicit window starts, e.g. the weatherAUS evaluation: tune from
/// 2015-01-01, test from 2016-01-01.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowOverride {
    pub tune_from: Option<NaiveDate>,
    pub test_from: Option<NaiveDate>,
}

/// The fewest labelled rows a window may have, with both outcomes present.
pub const MIN_WINDOW_ROWS: usize = 50;

/// Average days in a month, to turn month settings into data days.
const DAYS_PER_MONTH: f64 = 30.44;

/// Windows that follow the data, not the calendar: the test window is the
/// newest `test_months` worth of days that have labelled rows, the tune
/// window the same amount before it, and training gets everything earlier.
/// Gaps in time (years without data) are skipped, so history from 2007–2017
/// plus recent BOM months trains without error. With too little data for
/// that (less than a year left to train on), the labelled days are split
/// 60/20/20 instead. Explicit starts in `over` (the weatherAUS evaluation)
/// are used as given.
pub fn windows(
    samples: &Samples,
    cfg: &ModelConfig,
    over: WindowOverride,
) -> Result<Windows, TrainError> {
    let days: std::collections::BTreeSet<NaiveDate> = samples.dates.iter().copied().collect();
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        return Err(TrainError::NotEnoughData(no_data_message(samples)));
    };
    let end = last + chrono::Days::new(1);
    let w = |from, to| Window { from, to };
    let out = match (over.tune_from, over.test_from) {
        (Some(t), Some(s)) => Windows {
            train: w(first, t),
            tune: w(t, s),
            test: w(s, end),
        },
        (None, Some(s)) => {
            let t = s - Months::new(cfg.tune_months);
            Windows {
                train: w(first, t),
                tune: w(t, s),
                test: w(s, end),
            }
        }
        (Some(_), None) => {
            return Err(TrainError::Window(
                "a tune start needs a test start too".into(),
            ));
        }
        (None, None) => {
            let days: Vec<NaiveDate> = days.into_iter().collect();
            let n = days.len();
            let test_days = (cfg.test_months as f64 * DAYS_PER_MONTH).round() as usize;
            let tune_days = (cfg.tune_months as f64 * DAYS_PER_MONTH).round() as usize;
            let (test_n, tune_n) = if n >= test_days + tune_days + 365 {
                (test_days, tune_days)
            } else {
                (n / 5, n / 5)
            };
            if n < 60 || test_n == 0 || tune_n == 0 {
                return Err(TrainError::NotEnoughData(format!(
                    "the data has labelled rows on only {n} days ({first} to {last}); training needs at least 60. {}",
                    ADD_DATA
                )));
            }
            // Newest first: the test window's first day, the tune window's
            // first and last day.
            let test_from = days[n - test_n];
            let tune_from = days[n - test_n - tune_n];
            let tune_last = days[n - test_n - 1];
            Windows {
                train: w(first, tune_from),
                tune: w(tune_from, tune_last + chrono::Days::new(1)),
                test: w(test_from, end),
            }
        }
    };
    let Windows { train, tune, test } = out;
    if !(train.from < train.to
        && train.to <= tune.from
        && tune.from < tune.to
        && tune.to <= test.from
        && test.from < test.to)
    {
        return Err(TrainError::Window(format!(
            "need {first} < tune start {} < test start {} <= {last}",
            tune.from, test.from
        )));
    }
    for (name, win) in [("train", train), ("tune", tune), ("test", test)] {
        let (mut rows, mut yes) = (0usize, 0usize);
        for (d, y) in samples.dates.iter().zip(&samples.y) {
            if *d >= win.from && *d < win.to {
                rows += 1;
                yes += usize::from(*y);
            }
        }
        if rows < MIN_WINDOW_ROWS || yes == 0 || yes == rows {
            return Err(TrainError::NotEnoughData(format!(
                "the {name} window ({} to {}) has {rows} labelled rows ({yes} rain days); \
                 each window needs at least {MIN_WINDOW_ROWS} with both outcomes. {}",
                win.from, win.to, ADD_DATA
            )));
        }
    }
    Ok(out)
}

/// What to run to get more data.
const ADD_DATA: &str = "Add history with `raincast import <weatherAUS.csv.gz>` (the binary \
     bundles it: `raincast import --bundled`), or recent months with `raincast scrape`";

fn no_data_message(samples: &Samples) -> String {
    format!(
        "the database holds no labelled observations ({} rows); {ADD_DATA}",
        samples.len()
    )
}

/// A trained, evaluated challenger, not yet registered.
pub struct Trained {
    pub forest: Forest,
    pub threshold: f64,
    pub windows: Windows,
    pub counts: [usize; 3],
    pub metrics: Metrics,
    pub importance: Vec<(String, f64)>,
    pub params: ForestParams,
    pub fit_seconds: f64,
}

/// Fit on the train window, tune the threshold on the tune window (and
/// nothing else), measure on the test window.
pub fn fit_and_evaluate(
    samples: &Samples,
    windows: Windows,
    params: ForestParams,
    on_tree_done: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<Trained, TrainError> {
    let train = samples.between(windows.train.from, windows.train.to);
    let tune = samples.between(windows.tune.from, windows.tune.to);
    let test = samples.between(windows.test.from, windows.test.to);
    for (name, s) in [("train", &train), ("tune", &tune), ("test", &test)] {
        if s.len() < 50 || s.y.iter().all(|&t| t) || s.y.iter().all(|&t| !t) {
            return Err(TrainError::NotEnoughData(format!(
                "the {name} window has {} labelled rows; it needs at least 50 with both outcomes",
                s.len()
            )));
        }
    }
    use linfa::ParamGuard;
    let valid = params.clone().check()?;
    let started = std::time::Instant::now();
    let forest = valid.fit_matrix(
        &train.x,
        N_FEATURES,
        &train.y,
        &FitOptions {
            on_tree_done: Some(on_tree_done),
            cancel: Some(cancel),
        },
    )?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let threshold = metrics::best_threshold(&forest.predict_proba(&tune.x, N_FEATURES), &tune.y);
    let probs = forest.predict_proba(&test.x, N_FEATURES);
    let metrics = metrics::evaluate(&probs, &test.y, threshold);
    let importance = features::NAMES
        .iter()
        .zip(forest.feature_importance())
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    Ok(Trained {
        forest,
        threshold,
        windows,
        counts: [train.len(), tune.len(), test.len()],
        metrics,
        importance,
        params,
        fit_seconds,
    })
}

/// Deterministic synthetic weather for tests: humid, falling-pressure days
/// tend to be followed by rain.
#[cfg(test)]
pub(crate) mod synth {
    use chrono::NaiveDate;

    use crate::obs::{Num, Observation};

    pub fn series(locations: &[&'static str], days: u32, seed: u64) -> Vec<Observation> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64) / ((1u64 << 31) as f64)
        };
        let start = NaiveDate::from_ymd_opt(2012, 1, 1).unwrap();
        let mut out = Vec::new();
        for &loc in locations {
            let mut pressure = 1015.0;
            let mut humidity: f64 = 50.0;
            let mut rows: Vec<Observation> = Vec::new();
            for d in 0..days {
                let date = start + chrono::Days::new(d as u64);
                let mut o = Observation::empty(loc, date);
                pressure += (next() - 0.5) * 8.0 - (pressure - 1015.0) * 0.2;
                humidity = (humidity + (next() - 0.5) * 40.0).clamp(5.0, 100.0);
                // Today's rain depends on yesterday's humidity and pressure.
                let wet = rows.last().map_or(0.2, |y: &Observation| {
                    let h = y.get(Num::Humidity3pm).unwrap_or(50.0);
                    let p = y.get(Num::Pressure3pm).unwrap_or(1015.0);
                    ((h - 40.0) / 60.0 + (1015.0 - p) / 20.0).clamp(0.02, 0.95)
                });
                let rain = if next() < wet {
                    1.5 + next() * 20.0
                } else {
                    next() * 0.8
                };
                o.set(Num::Rainfall, Some((rain * 10.0f64).round() / 10.0));
                o.set(Num::Humidity3pm, Some(humidity.round()));
                o.set(Num::Pressure3pm, Some((pressure * 10.0f64).round() / 10.0));
                o.set(Num::MaxTemp, Some(20.0 + next() * 10.0));
                o.rain_today = o.derived_rain_today();
                if let Some(prev) = rows.last_mut() {
                    prev.rain_tomorrow = o.rain_today;
                }
                rows.push(o);
            }
            out.extend(rows);
        }
        out
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// One labelled row a day over each span, rain every third day.
    fn samples(spans: &[(NaiveDate, NaiveDate)]) -> Samples {
        let mut s = Samples::default();
        for &(from, to) in spans {
            let mut day = from;
            while day <= to {
                s.dates.push(day);
                s.y.push(s.y.len() % 3 == 0);
                s.x.extend(std::iter::repeat_n(0.0, N_FEATURES));
                day = day + chrono::Days::new(1);
            }
        }
        s
    }

    #[test]
    fn windows_follow_the_data_across_a_gap_of_years() {
        let s = samples(&[
            (d(2007, 11, 1), d(2017, 6, 24)),
            (d(2024, 8, 1), d(2025, 9, 4)),
        ]);
        let w = windows(&s, &ModelConfig::default(), WindowOverride::default()).unwrap();
        // 365 data days each: the test window is BOM's newest year, the tune
        // window the year of data before it, across the gap.
        assert_eq!(w.test.to, d(2025, 9, 5));
        assert_eq!(w.test.from, d(2024, 9, 5));
        assert_eq!(w.tune.to, d(2024, 9, 5));
        assert!(
            w.tune.from > d(2016, 6, 1) && w.tune.from < d(2016, 9, 1),
            "{w:?}"
        );
        assert_eq!(w.train.from, d(2007, 11, 1));
        assert_eq!(w.train.to, w.tune.from);
    }

    #[test]
    fn short_data_splits_60_20_20_and_too_little_says_what_to_add() {
        let s = samples(&[(d(2024, 8, 1), d(2025, 9, 4))]);
        let w = windows(&s, &ModelConfig::default(), WindowOverride::default()).unwrap();
        assert!(w.train.from < w.tune.from && w.tune.to <= w.test.from);
        let tiny = samples(&[(d(2025, 9, 1), d(2025, 9, 20))]);
        let err = windows(&tiny, &ModelConfig::default(), WindowOverride::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("only 20 days"), "{err}");
        assert!(
            err.contains("raincast import") && err.contains("raincast scrape"),
            "{err}"
        );
        let none = windows(
            &Samples::default(),
            &ModelConfig::default(),
            WindowOverride::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(none.contains("no labelled observations"), "{none}");
    }
}
