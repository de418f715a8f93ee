//! The forest benchmark's Rust side (driven by `bench/forest_vs_sklearn.sh`).
//!
//! `forest_bench export WEATHER_AUS_CSV_GZ DIR` encodes weatherAUS with the
//! production feature encoder and writes the evaluation split (train before
//! 2015, tune 2015, test 2016-01-01 to 2017-06-25) as raw little-endian
//! matrices, so scikit-learn fits exactly the same numbers.
//!
//! `forest_bench fit DIR` fits our forest (the production defaults: 100
//! trees, min_samples_leaf 20, sqrt features, balanced_subsample), binning the
//! training matrix a few columns at a time straight from the file (the raw
//! matrix is never held whole), calibrates and tunes the threshold on the tune
//! window and prints the test metrics as JSON.
//!
//! `forest_bench boost DIR` does the same for our gradient boosting, with the
//! production procedure and defaults: a bag of models, each fitted on train +
//! all but one time fold of tune and early-stopped on that fold; calibration
//! and the threshold come from their forecasts for the fold each did not
//! see, and the calibrator keeps the booster's level. Settings can be overridden
//! like the server's (`RAINCAST_MODEL__BOOST_BAG=1 forest_bench boost DIR`).
//!
//! `forest_bench leaf` prints the forest's rows per leaf, so that
//! scikit-learn's forest is fitted with the same.
//!
//! `FOREST_BENCH_SPLIT_YEAR=2014 forest_bench export …` exports a backtest one
//! year earlier (train before 2014, tune 2014, test 2015), on which a change
//! can be judged without looking at the real test window.

use std::path::Path;

use chrono::{Datelike, NaiveDate};
use raincast::config::ModelConfig;
use raincast::features::N_FEATURES;
use raincast::forest::{BinnedMatrix, FitOptions};
use raincast::score as metrics;
use raincast::train;
use raincast::train::calibrate::Calibrator;

#[path = "../src/allocator.rs"]
mod allocator;

fn write(dir: &Path, name: &str, s: &train::Samples) -> std::io::Result<()> {
    let x: Vec<u8> = s.x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(format!("{name}_x.f32")), x)?;
    let days: Vec<u8> = s
        .dates
        .iter()
        .flat_map(|d| d.num_days_from_ce().to_le_bytes())
        .collect();
    std::fs::write(dir.join(format!("{name}_day.i32")), days)?;
    let y: Vec<u8> = s.y.iter().map(|&b| b as u8).collect();
    std::fs::write(dir.join(format!("{name}_y.u8")), y)
}

fn read(dir: &Path, name: &str) -> std::io::Result<(Vec<f32>, Vec<bool>)> {
    use std::io::Read;
    let path = dir.join(format!("{name}_x.f32"));
    let len = std::fs::metadata(&path)?.len() as usize;
    let mut file = std::io::BufReader::new(std::fs::File::open(&path)?);
    let mut x = Vec::with_capacity(len / 4);
    let mut buf = [0u8; 4];
    for _ in 0..len / 4 {
        file.read_exact(&mut buf)?;
        x.push(f32::from_le_bytes(buf));
    }
    let y = std::fs::read(dir.join(format!("{name}_y.u8")))?
        .into_iter()
        .map(|b| b == 1)
        .collect();
    Ok((x, y))
}

/// The number of features in the export at `dir` (its `n_features` file):
/// the encoder's, or fewer when a probe cut an export to an earlier schema's
/// columns (`bench/neighbour_probe.py --write-schema2`). The station's column
/// (39, categorical) must be there.
fn width(dir: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let path = dir.join("n_features");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let least = raincast::features::CATEGORICAL
        .iter()
        .max()
        .map_or(1, |&f| f + 1);
    match text.trim().parse::<usize>() {
        Ok(n) if (least..=N_FEATURES).contains(&n) => Ok(n),
        _ => Err(format!(
            "{}: {:?} is not a feature count from {least} to {N_FEATURES}",
            path.display(),
            text.trim()
        )
        .into()),
    }
}

/// Bins `DIR/train_x.f32` reading a group of columns per pass over the file,
/// so at most `GROUP` raw columns are in memory at once.
fn bin_from_file(dir: &Path, nf: usize, max_bins: usize) -> std::io::Result<(BinnedMatrix, usize)> {
    use std::io::Read;
    const GROUP: usize = 8;
    let path = dir.join("train_x.f32");
    let n_rows = std::fs::metadata(&path)?.len() as usize / 4 / nf;
    let mut cache: Vec<Vec<f32>> = Vec::new();
    let mut cached_from = usize::MAX;
    let mut error = None;
    let binned = BinnedMatrix::from_columns(n_rows, nf, max_bins, |f| {
        if !(cached_from..cached_from + cache.len()).contains(&f) {
            let width = GROUP.min(nf - f);
            cache = (0..width).map(|_| Vec::with_capacity(n_rows)).collect();
            cached_from = f;
            let read = (|| {
                let mut file =
                    std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&path)?);
                let mut row = vec![0u8; 4 * nf];
                for _ in 0..n_rows {
                    file.read_exact(&mut row)?;
                    for (k, col) in cache.iter_mut().enumerate() {
                        let o = 4 * (f + k);
                        col.push(f32::from_le_bytes([
                            row[o],
                            row[o + 1],
                            row[o + 2],
                            row[o + 3],
                        ]));
                    }
                }
                Ok::<_, std::io::Error>(())
            })();
            if let Err(e) = read {
                error = Some(e);
                cache = (0..width).map(|_| vec![f32::NAN; n_rows]).collect();
            }
        }
        std::mem::take(&mut cache[f - cached_from])
    });
    match error {
        Some(e) => Err(e),
        None => Ok((binned, n_rows)),
    }
}

/// Calibrate on the tune window, tune the threshold, score the test window
/// and print one JSON line.
#[allow(clippy::too_many_arguments)]
fn report(
    dir: &Path,
    name: &str,
    fit: f64,
    train_rows: usize,
    trees: usize,
    blob_bytes: usize,
    raw: &dyn Fn(&[f32]) -> Vec<f32>,
    held_out_tune: Option<Vec<f32>>,
    keep_level: bool,
    row_fn: &dyn Fn(&[f32]) -> f32,
) -> Result<(), Box<dyn std::error::Error>> {
    // One window's matrix in memory at a time.
    let (tx, ty) = read(dir, "tune")?;
    let tune_raw = held_out_tune.unwrap_or_else(|| raw(&tx));
    drop(tx);
    let (sx, sy) = read(dir, "test")?;
    // As training calibrates this family, and the other way for comparison
    // (`bench/calibration_level.sh`).
    let (cal, other) = if keep_level {
        (
            Calibrator::fit_keeping_level(&tune_raw, &ty).0,
            Calibrator::fit(&tune_raw, &ty),
        )
    } else {
        (
            Calibrator::fit(&tune_raw, &ty),
            Calibrator::fit_keeping_level(&tune_raw, &ty).0,
        )
    };
    let tune_cal: Vec<f32> = tune_raw.iter().map(|&p| cal.apply(p)).collect();
    let threshold = metrics::best_threshold(&tune_cal, &ty);
    let test_raw = raw(&sx);
    let test_cal: Vec<f32> = test_raw.iter().map(|&p| cal.apply(p)).collect();
    let m = metrics::evaluate(&test_cal, &sy, threshold);
    let test_other: Vec<f32> = test_raw.iter().map(|&p| other.apply(p)).collect();
    let raw_threshold = metrics::best_threshold(&tune_raw, &ty);
    let m_raw = metrics::evaluate(&test_raw, &sy, raw_threshold);
    // The tune window's own figures (raw), the only ones settings may be
    // chosen by.
    let m_tune = metrics::evaluate(&tune_raw, &ty, raw_threshold);
    let observed = sy.iter().filter(|&&t| t).count() as f64 / sy.len() as f64;
    let row = &sx[..width(dir)?];
    let t = std::time::Instant::now();
    let reps = 2000;
    let mut acc = 0.0f32;
    for _ in 0..reps {
        acc += row_fn(std::hint::black_box(row));
    }
    let per_row_us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
    println!(
        "{{\"impl\": \"{name}\", \"fit_seconds\": {fit:.3}, \"train_rows\": {train_rows}, \"trees\": {trees}, \"threshold\": {threshold}, \"f1\": {:.4}, \"roc_auc\": {:.4}, \"brier\": {:.5}, \"brier_raw\": {:.5}, \"f1_raw\": {:.4}, \"tune_brier_raw\": {:.5}, \"tune_auc_raw\": {:.4}, \"mean_forecast\": {:.4}, \"mean_forecast_raw\": {:.4}, \"observed\": {observed:.4}, \"calibration\": \"{}{}\", \"tune_observed\": {:.4}, \"tune_mean_forecast_raw\": {:.4}, \"brier_other\": {:.5}, \"mean_forecast_other\": {:.4}, \"predict_row_us\": {per_row_us:.1}, \"blob_bytes\": {blob_bytes}, \"_\": {}}}",
        m.f1,
        m.roc_auc,
        m.brier,
        m_raw.brier,
        m_raw.f1,
        m_tune.brier,
        m_tune.roc_auc,
        metrics::mean(&test_cal),
        metrics::mean(&test_raw),
        cal.method(),
        if keep_level { ", level kept" } else { "" },
        ty.iter().filter(|&&t| t).count() as f64 / ty.len() as f64,
        metrics::mean(&tune_raw),
        metrics::brier(&test_other, &sy),
        metrics::mean(&test_other),
        (acc > 0.0) as u8
    );
    Ok(())
}

/// The production defaults, overridable like the server's settings
/// (`RAINCAST_MODEL__BOOST_LEARNING_RATE=0.1 forest_bench boost DIR`).
fn model_config() -> Result<ModelConfig, Box<dyn std::error::Error>> {
    Ok(raincast::config::Config::load_from(None, std::env::vars())?.model)
}

/// The boosting hyperparameters training uses for these settings (with the
/// encoder's categorical features).
fn boost_params(
    cfg: &ModelConfig,
) -> Result<raincast::forest::boost::BoostParams, Box<dyn std::error::Error>> {
    train::FamilyParams::from_config(cfg)?
        .boost
        .ok_or_else(|| "boosting is off (model.boost = false)".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As training inside the server does.
    raincast::memory::install(allocator::hooks());
    raincast::memory::lean_allocator();
    let args: Vec<String> = std::env::args().collect();
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d");
    match args.get(1).map(String::as_str) {
        Some("leaf") if args.len() == 2 => println!("{}", model_config()?.min_samples_leaf),
        Some("export") if args.len() == 4 => {
            let parsed = raincast::ingest::weather_aus::load(Path::new(&args[2]), None)
                .map_err(|e| e.to_string())?;
            let mut obs = parsed.observations;
            obs.sort_by(|a, b| (a.location, a.date).cmp(&(b.location, b.date)));
            let samples = train::build_samples(&obs);
            let dir = Path::new(&args[3]);
            std::fs::create_dir_all(dir)?;
            // FOREST_BENCH_SPLIT_YEAR=2014 exports a backtest one year earlier.
            let y0: i32 = std::env::var("FOREST_BENCH_SPLIT_YEAR")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2015);
            let far = if y0 == 2015 {
                date("2100-01-01")?
            } else {
                NaiveDate::from_ymd_opt(y0 + 2, 1, 1).ok_or("bad year")?
            };
            let ymd = |y| NaiveDate::from_ymd_opt(y, 1, 1).ok_or("bad year");
            let split = [
                ("train", date("1900-01-01")?, ymd(y0)?),
                ("tune", ymd(y0)?, ymd(y0 + 1)?),
                ("test", ymd(y0 + 1)?, far),
            ];
            for (name, from, to) in split {
                let s = samples.between(from, to);
                write(dir, name, &s)?;
                eprintln!("{name}: {} rows × {N_FEATURES} features", s.len());
            }
            std::fs::write(dir.join("n_features"), N_FEATURES.to_string())?;
        }
        Some("fit") if args.len() == 3 => {
            let dir = Path::new(&args[2]);
            let y: Vec<bool> = std::fs::read(dir.join("train_y.u8"))?
                .into_iter()
                .map(|b| b == 1)
                .collect();
            let params = model_config()?.forest_params();
            use linfa::ParamGuard;
            let valid = params.check()?;
            let started = std::time::Instant::now();
            let nf = width(dir)?;
            let (binned, _) = bin_from_file(dir, nf, valid.max_bins())?;
            let forest = valid.fit_binned(&binned, &y, &FitOptions::default())?;
            let fit = started.elapsed().as_secs_f64();
            drop(binned);
            let train_rows = y.len();
            drop(y);
            let blob_bytes = forest.to_bytes().len();
            report(
                dir,
                "raincast forest",
                fit,
                train_rows,
                forest.n_trees(),
                blob_bytes,
                &|x| forest.predict_proba(x, nf),
                None,
                false,
                &|r| forest.predict_proba_row(r),
            )?;
        }
        Some("boost") if args.len() == 3 => {
            let dir = Path::new(&args[2]);
            let (x, y) = read(dir, "train")?;
            let (tx, ty) = read(dir, "tune")?;
            let cfg = model_config()?;
            let params = boost_params(&cfg)?;
            use linfa::ParamGuard;
            let valid = params.check()?;
            let nf = width(dir)?;
            valid.check_categories(&x, nf)?;
            // As training does with `boost_by_issue`: one booster per issue,
            // each row's group its issue code (0, 1, 2: `Issue::code`).
            let issue_of = |x: &[f32]| -> Vec<u8> {
                x.chunks(nf)
                    .map(|r| r[raincast::features::ISSUE_AT] as u8)
                    .collect()
            };
            let (train_groups, tune_groups, categories) = if cfg.boost_by_issue {
                (issue_of(&x), issue_of(&tx), vec![0, 1, 2])
            } else {
                (Vec::new(), Vec::new(), Vec::new())
            };
            let started = std::time::Instant::now();
            // As training does: the forest's bins, merged down to boosting's.
            let binned = BinnedMatrix::from_rows(&x, nf, cfg.max_bins);
            drop(x);
            let binned = if valid.max_bins() < cfg.max_bins {
                let coarse = binned.coarsened(valid.max_bins());
                drop(binned);
                coarse
            } else {
                binned
            };
            // As training does: the bag the settings ask for, cross-fitted
            // on the tune window's time folds (made as training makes them).
            let path = dir.join("tune_day.i32");
            let raw = std::fs::read(&path).map_err(|e| {
                format!(
                    "{}: {e} (an export from before the dates were written: export again)",
                    path.display()
                )
            })?;
            let dates = raw
                .chunks(4)
                .map(|c| {
                    NaiveDate::from_num_days_from_ce_opt(i32::from_le_bytes([
                        c[0], c[1], c[2], c[3],
                    ]))
                    .ok_or_else(|| format!("{}: a day out of range", path.display()))
                })
                .collect::<Result<Vec<NaiveDate>, String>>()?;
            if dates.len() != ty.len() {
                return Err(format!(
                    "{}: {} days for {} tune rows",
                    path.display(),
                    dates.len(),
                    ty.len()
                )
                .into());
            }
            let folds = train::time_folds(&dates, valid.bag());
            let fitted = valid.fit_final_grouped(
                &binned,
                &y,
                raincast::forest::boost::Validation { x: &tx, y: &ty },
                Some(&folds),
                raincast::forest::boost::Groups {
                    feature: raincast::features::ISSUE_AT,
                    categories: &categories,
                    train: &train_groups,
                    valid: &tune_groups,
                },
                &FitOptions::default(),
            )?;
            let booster = fitted.model;
            let fit = started.elapsed().as_secs_f64();
            drop((binned, tx, ty));
            let train_rows = y.len();
            drop(y);
            let blob_bytes = booster.to_bytes().len();
            report(
                dir,
                "raincast boost",
                fit,
                train_rows,
                booster.n_trees(),
                blob_bytes,
                &|x| booster.predict_proba(x, nf),
                Some(fitted.held_out),
                true,
                &|r| booster.predict_proba_row(r),
            )?;
        }
        Some("blend") if args.len() == 3 => {
            // Both families, each calibrated on the tune window, averaged and
            // calibrated again there (an experiment: not what training does;
            // its booster is one early-stopped model, without bag or refit).
            let dir = Path::new(&args[2]);
            let (x, y) = read(dir, "train")?;
            let (tx, ty) = read(dir, "tune")?;
            let cfg = model_config()?;
            use linfa::ParamGuard;
            let fp = cfg.forest_params().check()?;
            let bp = boost_params(&cfg)?.check()?;
            let started = std::time::Instant::now();
            let nf = width(dir)?;
            let binned = BinnedMatrix::from_rows(&x, nf, bp.max_bins());
            drop(x);
            let forest = fp.fit_binned(&binned, &y, &FitOptions::default())?;
            let booster = bp.fit_binned(
                &binned,
                &y,
                Some(raincast::forest::boost::Validation { x: &tx, y: &ty }),
                &FitOptions::default(),
            )?;
            let fit = started.elapsed().as_secs_f64();
            let fc = Calibrator::fit(&forest.predict_proba(&tx, nf), &ty);
            let bc = Calibrator::fit(&booster.predict_proba(&tx, nf), &ty);
            let w: f32 = std::env::var("BLEND_FOREST_WEIGHT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.5);
            let blend = |x: &[f32]| -> Vec<f32> {
                forest
                    .predict_proba(x, nf)
                    .into_iter()
                    .zip(booster.predict_proba(x, nf))
                    .map(|(a, b)| w * fc.apply(a) + (1.0 - w) * bc.apply(b))
                    .collect()
            };
            report(
                dir,
                "raincast blend",
                fit,
                y.len(),
                forest.n_trees() + booster.n_trees(),
                0,
                &blend,
                None,
                false,
                &|r| {
                    w * fc.apply(forest.predict_proba_row(r))
                        + (1.0 - w) * bc.apply(booster.predict_proba_row(r))
                },
            )?;
        }
        _ => {
            eprintln!(
                "usage: forest_bench export WEATHER_AUS_CSV_GZ DIR | forest_bench fit DIR | forest_bench boost DIR"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
