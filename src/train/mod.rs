//! Honest training: time-based windows (train, then tune the threshold, then
//! test on the newest data), never a random split; metrics on the test window;
//! and the champion/challenger decision on that same window.

mod amounts;
pub mod calibrate;
pub mod health;
pub mod register;
pub mod samples;
pub mod windows;

pub use crate::store::StationSkill;
pub use register::{FamilyResult, TrainReport, train_and_register};
pub use samples::{Samples, SplitSamples, amount_for, build_samples, label_for};
pub use windows::{MIN_WINDOW_ROWS, Window, WindowOverride, Windows, windows};

use std::sync::atomic::AtomicBool;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::features::{self, N_FEATURES};
use crate::forest::boost::{BoostParams, FeatureSet, Groups, Validation};
use crate::forest::{BinnedMatrix, FitOptions, ForestError, ForestParams, Hyperparams};
use crate::issue::{ISSUES, Issue};
use crate::registry::model::{Family, Learner, Model};
use crate::registry::{self, calibrator::Calibrator};
use crate::score::Metrics;
use crate::store::IssueScore;
use calibrate::CalibrationReport;

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

/// How far a training has come, as a run records it while it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeProgress {
    pub trees_done: usize,
    pub trees_total: usize,
}

/// Per-station Brier, AUC and rows, worst Brier first.
pub fn station_skill(probs: &[f32], test: &Samples) -> Vec<StationSkill> {
    let mut names: Vec<&'static str> = test.locations.clone();
    names.sort_unstable();
    names.dedup();
    let mut out: Vec<StationSkill> = names
        .into_iter()
        .map(|loc| {
            let (p, y): (Vec<f32>, Vec<bool>) = test
                .locations
                .iter()
                .zip(probs.iter().zip(&test.y))
                .filter(|(l, _)| **l == loc)
                .map(|(_, (&p, &t))| (p, t))
                .unzip();
            let pos = y.iter().filter(|&&t| t).count();
            StationSkill {
                location: loc.to_string(),
                rows: y.len() as u64,
                brier: crate::score::brier(&p, &y),
                roc_auc: (pos > 0 && pos < y.len()).then(|| crate::score::roc_auc(&p, &y)),
                observed_frequency: pos as f64 / y.len().max(1) as f64,
                mean_forecast: crate::score::mean(&p),
            }
        })
        .collect();
    out.sort_by(|a, b| b.brier.total_cmp(&a.brier));
    out
}

/// A trained, evaluated, calibrated model of one family, not yet registered.
pub struct Trained {
    pub model: Model,
    pub threshold: f64,
    pub windows: Windows,
    pub counts: [usize; 3],
    /// On the test window, with calibrated probabilities.
    pub metrics: Metrics,
    pub calibration: CalibrationReport,
    /// The amount maps on the test window, per issue.
    pub amounts: Vec<crate::amounts::IssueAmountScores>,
    pub stations: Vec<StationSkill>,
    pub importance: Vec<(String, f64)>,
    /// The family's hyperparameters.
    pub params: Hyperparams,
    pub fit_seconds: f64,
    /// Trees served: for boosting, all the bag's trees together (each
    /// model's own early-stopped count when cross-fitted).
    pub n_trees: usize,
    /// The test window's forecasts summed for the served level
    /// correction; `None` without test rows.
    pub level: Option<crate::level::Anchor>,
}

impl Trained {
    pub fn family(&self) -> Family {
        self.model.family()
    }
}

/// Which families to fit and how.
#[derive(Debug, Clone)]
pub struct FamilyParams {
    pub forest: ForestParams,
    /// `None` = the forest alone.
    pub boost: Option<BoostParams>,
    /// Fit one booster per issue ([`ModelConfig::boost_by_issue`]).
    pub boost_by_issue: bool,
}

impl FamilyParams {
    pub fn from_config(cfg: &ModelConfig) -> Result<Self, TrainError> {
        let forest = cfg.forest_params();
        let categorical = if cfg.boost_categorical {
            FeatureSet::try_from(features::CATEGORICAL.to_vec())
                .expect("the encoder's categorical features are below 64")
        } else {
            FeatureSet::default()
        };
        Ok(Self {
            forest,
            boost: cfg
                .boost
                .then(|| cfg.boost_params().with_categorical(categorical)),
            boost_by_issue: cfg.boost_by_issue,
        })
    }
}

fn check_windows(split: &SplitSamples) -> Result<(), TrainError> {
    for (name, s) in [
        ("train", &split.train),
        ("tune", &split.tune),
        ("test", &split.test),
    ] {
        if s.len() < 50 || s.y.iter().all(|&t| t) || s.y.iter().all(|&t| !t) {
            return Err(TrainError::NotEnoughData(format!(
                "the {name} window has {} labelled rows; it needs at least 50 with both outcomes",
                s.len()
            )));
        }
    }
    Ok(())
}

/// Calibrate on the tune window, tune the threshold on the calibrated tune
/// probabilities, and measure on the test window.
fn evaluate_model(
    learner: Learner,
    held_out_tune: Option<Vec<f32>>,
    split: &SplitSamples,
    windows: Windows,
    counts: [usize; 3],
    params: Hyperparams,
    fit_seconds: f64,
) -> Trained {
    let n_trees = match &learner {
        Learner::Forest(f) => f.n_trees(),
        Learner::Boost(b) => b.n_trees(),
    };
    let mut model = Model {
        learner,
        calibrator: Calibrator::Identity,
        amounts: None,
    };
    // A booster refitted on the tune window brings forecasts made there by
    // models that had not seen those rows: the cross-fitted bag's
    // out-of-fold forecasts, or the early-stopped model's without folds.
    let tune_raw = held_out_tune.unwrap_or_else(|| model.predict_raw(&split.tune.x, N_FEATURES));
    // Boosting's log-loss fits the level over every year it learned; the
    // forest's class weights move it, so its calibrator re-fits the level.
    let level_kept;
    (model.calibrator, level_kept) = match model.learner {
        Learner::Boost(_) => Calibrator::fit_keeping_level(&tune_raw, &split.tune.y),
        Learner::Forest(_) => (Calibrator::fit(&tune_raw, &split.tune.y), false),
    };
    let tune_cal: Vec<f32> = tune_raw
        .iter()
        .map(|&p| model.calibrator.apply(p))
        .collect();
    let threshold = crate::score::best_threshold(&tune_cal, &split.tune.y);
    let test_raw = model.predict_raw(&split.test.x, N_FEATURES);
    let probs: Vec<f32> = test_raw
        .iter()
        .map(|&p| model.calibrator.apply(p))
        .collect();
    let metrics = crate::score::evaluate(&probs, &split.test.y, threshold);
    // The amount maps are scored as fitted on the tune window alone; the
    // maps served are refitted with the test window's rows too, the newest
    // the training has (decision 0035).
    let tune_window = (&split.tune, tune_cal.as_slice());
    let held_out = amounts::fit(&split.train, &[tune_window]);
    let amounts = amounts::scores(&held_out, &probs, &split.test);
    model.amounts = Some(amounts::fit(
        &split.train,
        &[tune_window, (&split.test, probs.as_slice())],
    ));
    let y = &split.test.y;
    let calibration = CalibrationReport {
        method: model.calibrator.method().into(),
        level_kept,
        tune_rows: split.tune.len() as u64,
        mean_forecast: crate::score::mean(&probs),
        observed_frequency: y.iter().filter(|&&t| t).count() as f64 / y.len().max(1) as f64,
        brier_raw: crate::score::brier(&test_raw, y),
        brier_calibrated: metrics.brier,
        mean_forecast_raw: crate::score::mean(&test_raw),
        reliability: crate::score::reliability(&probs, y),
        issues: issue_scores(&probs, split),
        climatology_counted: true,
    };
    let stations = station_skill(&probs, &split.test);
    let level = level_anchor(&probs, &split.test);
    let importance = features::NAMES
        .iter()
        .zip(model.feature_importance())
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    Trained {
        model,
        threshold,
        windows,
        counts,
        metrics,
        calibration,
        amounts,
        stations,
        importance,
        params,
        fit_seconds,
        n_trees,
        level,
    }
}

/// The test window's headline chances and outcomes, summed as of its
/// newest rain day: where the served level correction of this model starts
/// ([`crate::level`]). The amounts are left out: the maps served were
/// refitted on these rows (decision 0035), so they are not out of sample
/// here.
fn level_anchor(probs: &[f32], test: &Samples) -> Option<crate::level::Anchor> {
    let mut book = crate::level::LevelBook::new(None);
    let mut newest = None;
    for (i, &p) in probs.iter().enumerate() {
        let issue = test.issues[i];
        let rain_day = features::target_date(test.dates[i], issue);
        book.add(issue, rain_day, f64::from(p), None, test.y[i], None);
        newest = newest.max(Some(rain_day));
    }
    newest.map(|d| book.anchor_at(d))
}

/// The test window's forecasts scored per issue, with per-station monthly
/// climatology from the train window (rows of the afternoon issue, whose
/// labels are every base day's next rain day) as the reference.
fn issue_scores(probs: &[f32], split: &SplitSamples) -> Vec<IssueScore> {
    use chrono::Datelike;
    use std::collections::HashMap;
    let month_of = |d: NaiveDate, issue: Issue| features::target_date(d, issue).month();
    let mut clim: HashMap<(&str, u32), (f64, f64)> = HashMap::new();
    let mut overall = (0.0, 0.0);
    let train = &split.train;
    for i in 0..train.len() {
        if train.issues[i] != Issue::Afternoon {
            continue;
        }
        let e = clim
            .entry((
                train.locations[i],
                month_of(train.dates[i], Issue::Afternoon),
            ))
            .or_default();
        let y = f64::from(u8::from(train.y[i]));
        e.0 += y;
        e.1 += 1.0;
        overall.0 += y;
        overall.1 += 1.0;
    }
    let overall_rate = if overall.1 > 0.0 {
        overall.0 / overall.1
    } else {
        0.224
    };
    let test = &split.test;
    ISSUES
        .iter()
        .filter_map(|&issue| {
            let idx: Vec<usize> = (0..test.len())
                .filter(|&i| test.issues[i] == issue)
                .collect();
            if idx.is_empty() {
                return None;
            }
            let p: Vec<f32> = idx.iter().map(|&i| probs[i]).collect();
            let y: Vec<bool> = idx.iter().map(|&i| test.y[i]).collect();
            let c: Vec<f32> = idx
                .iter()
                .map(|&i| {
                    let key = (test.locations[i], month_of(test.dates[i], issue));
                    clim.get(&key)
                        .filter(|(_, n)| *n >= 20.0)
                        .map_or(overall_rate, |(r, n)| r / n) as f32
                })
                .collect();
            let brier = crate::score::brier(&p, &y);
            let climatology_brier = crate::score::brier(&c, &y);
            Some(IssueScore {
                issue: issue.name().into(),
                n: idx.len() as u64,
                brier,
                roc_auc: crate::score::evaluate(&p, &y, 0.5).roc_auc,
                mean_forecast: crate::score::mean(&p),
                observed_frequency: y.iter().filter(|&&t| t).count() as f64 / y.len() as f64,
                climatology_brier,
                brier_skill_score: crate::score::skill_score(brier, climatology_brier)
                    .unwrap_or(0.0),
            })
        })
        .collect()
}

/// Each row's fold among `k` consecutive, equally long stretches of time
/// from the first date to the last: cross-fitting on them holds out whole
/// months, so only the days near a boundary (the features look back up to
/// two weeks) share information with the other side, not every neighbour.
pub fn time_folds(dates: &[NaiveDate], k: usize) -> Vec<u8> {
    let k = k.clamp(1, usize::from(u8::MAX)) as i64;
    let (Some(lo), Some(hi)) = (dates.iter().min(), dates.iter().max()) else {
        return Vec::new();
    };
    let span = (*hi - *lo).num_days() + 1;
    dates
        .iter()
        .map(|d| ((*d - *lo).num_days() * k / span) as u8)
        .collect()
}

/// Fit every configured family on the train window (binned once, the raw
/// training matrix dropped before any tree grows), then calibrate and
/// evaluate each. Takes the training matrix to free it early; the train
/// window's labels and the rest stay, for evaluation.
pub fn fit_families(
    split: &mut SplitSamples,
    windows: Windows,
    params: &FamilyParams,
    on_tree_done: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<Vec<Trained>, TrainError> {
    check_windows(split)?;
    use linfa::ParamGuard;
    let forest_params = params.forest.clone().check()?;
    let boost_params = match &params.boost {
        Some(b) => Some(b.clone().check()?),
        None => None,
    };
    let n_forest = params.forest.n_trees;
    // Boosting's fits: the cross-fitted bag, or the early-stopped model(s)
    // and the refitted bag.
    let folds = boost_params
        .as_ref()
        .map(|b| time_folds(&split.tune.dates, b.bag()));
    let n_boost = match (&boost_params, &folds) {
        (Some(b), Some(f)) => {
            // With one booster per issue, each plans as many trees.
            let groups = if params.boost_by_issue {
                ISSUES.len()
            } else {
                1
            };
            groups * b.planned_trees(b.cross_fits(f, split.tune.len()))
        }
        _ => 0,
    };
    let total = n_forest + n_boost;
    let counts = [split.train.len(), split.tune.len(), split.test.len()];
    let train_x = std::mem::take(&mut split.train.x);
    if let Some(bp) = &boost_params {
        bp.check_categories(&train_x, N_FEATURES)?;
    }
    let binned = BinnedMatrix::from_rows(&train_x, N_FEATURES, params.forest.max_bins);
    drop(train_x);
    // The labels stay in place: evaluation reads the train window's rows
    // (its per-station monthly climatologies count them through `len`).
    let split = &*split;
    let train_y = &split.train.y;
    let mut out = Vec::new();

    let started = std::time::Instant::now();
    let forest = forest_params.fit_binned(
        &binned,
        train_y,
        &FitOptions {
            on_tree_done: Some(&|done, _| on_tree_done(done, total)),
            cancel: Some(cancel),
            ..Default::default()
        },
    )?;
    let secs = started.elapsed().as_secs_f64();
    out.push(evaluate_model(
        Learner::Forest(forest),
        None,
        split,
        windows,
        counts,
        Hyperparams::Forest(params.forest.clone()),
        secs,
    ));

    if let (Some(bp), Some(raw)) = (boost_params, &params.boost) {
        // Boosting's own, coarser bins, merged from the forest's; the
        // forest's matrix is freed before the fit.
        let binned = if bp.max_bins() < params.forest.max_bins {
            let coarse = binned.coarsened(bp.max_bins());
            drop(binned);
            coarse
        } else {
            binned
        };
        let boost_planned = std::sync::atomic::AtomicUsize::new(n_boost);
        let started = std::time::Instant::now();
        let group_of =
            |issues: &[Issue]| -> Vec<u8> { issues.iter().map(|i| i.index() as u8).collect() };
        // With no groups, `fit_final_grouped` fits every row together.
        let (train_groups, tune_groups, categories) = if params.boost_by_issue {
            (
                group_of(&split.train.issues),
                group_of(&split.tune.issues),
                ISSUES.iter().map(|i| i.code() as u32).collect(),
            )
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        let fit = bp.fit_final_grouped(
            &binned,
            train_y,
            Validation {
                x: &split.tune.x,
                y: &split.tune.y,
            },
            folds.as_deref(),
            Groups {
                feature: features::ISSUE_AT,
                categories: &categories,
                train: &train_groups,
                valid: &tune_groups,
            },
            &FitOptions {
                // `fit_final_folds` counts every tree of every fit against
                // the trees still planned (`n_boost` at first, less what
                // each early-stopped fit will not grow).
                on_tree_done: Some(&|done, planned| {
                    boost_planned.store(planned, std::sync::atomic::Ordering::Relaxed);
                    on_tree_done(n_forest + done, n_forest + planned);
                }),
                cancel: Some(cancel),
                ..Default::default()
            },
        )?;
        let secs = started.elapsed().as_secs_f64();
        let grown = n_forest + boost_planned.load(std::sync::atomic::Ordering::Relaxed);
        on_tree_done(grown, grown);
        out.push(evaluate_model(
            Learner::Boost(fit.model),
            Some(fit.held_out),
            split,
            windows,
            counts,
            Hyperparams::Boost(raw.clone()),
            secs,
        ));
    }
    Ok(out)
}

/// Fit a forest on the train window, calibrate and tune the threshold on the
/// tune window (and nothing else), measure on the test window.
pub fn fit_and_evaluate(
    samples: &Samples,
    windows: Windows,
    params: ForestParams,
    on_tree_done: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<Trained, TrainError> {
    let mut split = SplitSamples {
        train: samples.between(windows.train.from, windows.train.to),
        tune: samples.between(windows.tune.from, windows.tune.to),
        test: samples.between(windows.test.from, windows.test.to),
    };
    let families = FamilyParams {
        forest: params,
        boost: None,
        boost_by_issue: false,
    };
    let mut trained = fit_families(&mut split, windows, &families, on_tree_done, cancel)?;
    Ok(trained.remove(0))
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
mod tests {
    use super::*;

    #[test]
    fn time_folds_are_consecutive_equal_stretches() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // A year, two stations, out of order: three stretches of about four months.
        let mut dates = Vec::new();
        for day in 0..365 {
            let date = d("2015-01-01") + chrono::Days::new(day);
            dates.push(date);
            dates.insert(0, date);
        }
        let folds = time_folds(&dates, 3);
        assert_eq!(folds.len(), dates.len());
        for (date, f) in dates.iter().zip(&folds) {
            let expect = if *date < d("2015-05-03") {
                0
            } else if *date < d("2015-09-02") {
                1
            } else {
                2
            };
            assert_eq!(*f, expect, "{date}");
        }
        assert!(time_folds(&[], 3).is_empty());
        assert_eq!(time_folds(&dates[..1], 3), vec![0]);
    }
}
