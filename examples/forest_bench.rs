//! The forest benchmark's Rust side (driven by `bench/forest_vs_sklearn.sh`).
//!
//! `forest_bench export WEATHER_AUS_CSV_GZ DIR` encodes weatherAUS with the
//! production feature encoder and writes the evaluation split (train before
//! 2015, tune 2015, test 2016-01-01 to 2017-06-25) as raw little-endian
//! matrices, so scikit-learn fits exactly the same numbers.
//!
//! `forest_bench fit DIR` fits our forest (the production defaults: 100
//! trees, min_samples_leaf 5, sqrt features, balanced_subsample), tunes the
//! threshold on the tune window and prints the test metrics as JSON.

use std::path::Path;

use chrono::NaiveDate;
use raincast::config::ModelConfig;
use raincast::features::N_FEATURES;
use raincast::forest::FitOptions;
use raincast::train::{self, metrics};

fn write(dir: &Path, name: &str, s: &train::Samples) -> std::io::Result<()> {
    let x: Vec<u8> = s.x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(format!("{name}_x.f32")), x)?;
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d");
    match args.get(1).map(String::as_str) {
        Some("export") if args.len() == 4 => {
            let parsed = raincast::ingest::weather_aus::load(Path::new(&args[2]))
                .map_err(|e| e.to_string())?;
            let mut obs = parsed.observations;
            obs.sort_by(|a, b| (a.location, a.date).cmp(&(b.location, b.date)));
            let samples = train::build_samples(&obs);
            let dir = Path::new(&args[3]);
            std::fs::create_dir_all(dir)?;
            let far = date("2100-01-01")?;
            let split = [
                ("train", date("1900-01-01")?, date("2015-01-01")?),
                ("tune", date("2015-01-01")?, date("2016-01-01")?),
                ("test", date("2016-01-01")?, far),
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
            let (x, y) = read(dir, "train")?;
            let params = ModelConfig::default().forest_params()?;
            use linfa::ParamGuard;
            let valid = params.check()?;
            let started = std::time::Instant::now();
            let forest = valid.fit_matrix(&x, N_FEATURES, &y, &FitOptions::default())?;
            let fit = started.elapsed().as_secs_f64();
            let train_rows = y.len();
            drop((x, y));
            let (tx, ty) = read(dir, "tune")?;
            let (sx, sy) = read(dir, "test")?;
            let threshold = metrics::best_threshold(&forest.predict_proba(&tx, N_FEATURES), &ty);
            let m = metrics::evaluate(&forest.predict_proba(&sx, N_FEATURES), &sy, threshold);
            let row = &sx[..N_FEATURES];
            let t = std::time::Instant::now();
            let reps = 2000;
            let mut acc = 0.0f32;
            for _ in 0..reps {
                acc += forest.predict_proba_row(std::hint::black_box(row));
            }
            let per_row_us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
            println!(
                "{{\"impl\": \"raincast\", \"fit_seconds\": {fit:.3}, \"train_rows\": {}, \"threshold\": {threshold}, \"f1\": {:.4}, \"roc_auc\": {:.4}, \"brier\": {:.4}, \"predict_row_us\": {per_row_us:.1}, \"blob_bytes\": {}, \"_\": {}}}",
                train_rows,
                m.f1,
                m.roc_auc,
                m.brier,
                forest.to_bytes().len(),
                (acc > 0.0) as u8
            );
        }
        _ => {
            eprintln!("usage: forest_bench export WEATHER_AUS_CSV_GZ DIR | forest_bench fit DIR");
            std::process::exit(2);
        }
    }
    Ok(())
}
