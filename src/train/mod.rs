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

/// Default: test on the last `test_months`, tune on the `tune_months` before,
/// train on everything earlier. With too little history for that (less than a
/// year of training data left), split the span 60/20/20 instead.
pub fn windows(
    first: NaiveDate,
    last: NaiveDate,
    cfg: &ModelConfig,
    over: WindowOverride,
) -> Result<Windows, TrainError> {
    let end = last + chrono::Days::new(1);
    let (tune_from, test_from) = match (over.tune_from, over.test_from) {
        (Some(t), Some(s)) => (t, s),
        (None, Some(s)) => (s - Months::new(cfg.tune_months), s),
        (Some(_), None) => {
            return Err(TrainError::Window(
                "a tune start needs a test start too".into(),
            ));
        }
        (None, None) => {
            let test_from = end - Months::new(cfg.test_months);
            let tune_from = test_from - Months::new(cfg.tune_months);
            if tune_from - Months::new(12) >= first {
                (tune_from, test_from)
            } else {
                let span = (end - first).num_days();
                if span < 60 {
                    return Err(TrainError::NotEnoughData(format!(
                        "the data spans {span} days ({first} to {last}); training needs at least 60"
                    )));
                }
                (
                    first + chrono::Days::new((span * 6 / 10) as u64),
                    first + chrono::Days::new((span * 8 / 10) as u64),
                )
            }
        }
    };
    if !(first < tune_from && tune_from < test_from && test_from < end) {
        return Err(TrainError::Window(format!(
            "need {first} < tune start {tune_from} < test start {test_from} <= {last}"
        )));
    }
    Ok(Windows {
        train: Window {
            from: first,
            to: tune_from,
        },
        tune: Window {
            from: tune_from,
            to: test_from,
        },
        test: Window {
            from: test_from,
            to: end,
        },
    })
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
