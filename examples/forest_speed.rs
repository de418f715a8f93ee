//! Speed check of the random forest on synthetic weather-like data.
//!
//! ```text
//! cargo build --release --example forest_speed
//! /usr/bin/time -v target/release/examples/forest_speed [rows] [threads]
//! ```
//!
//! Defaults: 116 000 rows × 40 features, 100 trees, unlimited depth,
//! `min_samples_leaf` 5, sqrt features, bootstrap, 2 threads.

use std::time::Instant;

use linfa::ParamGuard;
use raincast::forest::{FitOptions, Forest, ForestParams};

const N_FEATURES: usize = 40;

/// SplitMix64, enough for synthetic data.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

/// Rows of weather-like features: temperatures, humidity, pressure, skewed
/// rainfall with many zeros, wind directions as codes, several columns
/// 20–40 % missing; the label depends on a handful of them plus noise.
fn synth(n: usize, seed: u64) -> (Vec<f32>, Vec<bool>) {
    let mut g = Gen(seed);
    let mut x = Vec::with_capacity(n * N_FEATURES);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let season = g.uniform();
        let humidity = (50.0 + 20.0 * g.normal()).clamp(0.0, 100.0);
        let pressure = 1015.0 + 7.0 * g.normal();
        let rain_today = if g.uniform() < 0.7 {
            0.0
        } else {
            (g.normal().abs() * 8.0 * 10.0).round() / 10.0
        };
        let sunshine = (8.0 - humidity / 20.0 + 2.0 * g.normal()).clamp(0.0, 14.0);
        let cloud = (humidity / 12.0 + g.normal()).round().clamp(0.0, 8.0);
        let mut row = [0f32; N_FEATURES];
        row[0] = 15.0 + 8.0 * (season * std::f32::consts::TAU).sin() + 3.0 * g.normal();
        row[1] = row[0] + 8.0 + 3.0 * g.normal();
        row[2] = humidity;
        row[3] = (humidity + 10.0 * g.normal()).clamp(0.0, 100.0);
        row[4] = pressure;
        row[5] = pressure + 2.0 * g.normal();
        row[6] = rain_today;
        row[7] = sunshine;
        row[8] = cloud;
        row[9] = (cloud + g.normal()).round().clamp(0.0, 8.0);
        row[10] = (g.next() % 16) as f32;
        row[11] = (g.next() % 16) as f32;
        row[12] = (30.0 + 12.0 * g.normal()).max(0.0).round();
        row[13] = (15.0 + 8.0 * g.normal()).max(0.0).round();
        for v in row.iter_mut().skip(14) {
            *v = g.normal();
        }
        let logit = 0.06 * (humidity - 60.0) - 0.12 * (pressure - 1015.0)
            + 0.8 * f32::from(rain_today > 1.0)
            - 0.25 * (sunshine - 7.0)
            + 0.2 * (cloud - 4.0)
            + 0.5 * row[14]
            - 1.3;
        let label = g.uniform() < 1.0 / (1.0 + (-logit).exp());
        // Missingness like the BOM data: sunshine, cloud, evaporation-ish.
        for (col, rate) in [(7, 0.4), (8, 0.35), (9, 0.38), (13, 0.2), (15, 0.3)] {
            if g.uniform() < rate {
                row[col] = f32::NAN;
            }
        }
        x.extend_from_slice(&row);
        y.push(label);
    }
    (x, y)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map_or(Ok(116_000), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let (x, y) = synth(rows, 1);
    let (test_x, test_y) = synth(20_000, 2);
    println!(
        "{rows} rows × {N_FEATURES} features, {:.1} % yes, {threads} threads",
        100.0 * y.iter().filter(|&&t| t).count() as f64 / rows as f64
    );

    let params = ForestParams::default()
        .with_n_trees(100)
        .with_n_threads(Some(threads))
        .with_seed(7)
        .check()?;
    let t = Instant::now();
    let forest = params.fit_matrix(&x, N_FEATURES, &y, &FitOptions::default())?;
    let fit = t.elapsed();
    println!("fit: {:.3} s", fit.as_secs_f64());

    let t = Instant::now();
    let probs = forest.predict_proba(&test_x, N_FEATURES);
    println!(
        "predict_proba: {:.1} ms for {} rows",
        t.elapsed().as_secs_f64() * 1e3,
        test_y.len()
    );
    let accuracy = probs
        .iter()
        .zip(&test_y)
        .filter(|(p, t)| (**p >= 0.5) == **t)
        .count() as f64
        / test_y.len() as f64;
    println!("held-out accuracy at 0.5: {:.3}", accuracy);

    let t = Instant::now();
    let mut sum = 0.0f32;
    let n_single = 2000;
    for row in test_x.chunks(N_FEATURES).take(n_single) {
        sum += forest.predict_proba_row(row);
    }
    println!(
        "predict_proba_row: {:.1} µs per row (checksum {sum:.3})",
        t.elapsed().as_secs_f64() * 1e6 / n_single as f64
    );

    let bytes = forest.to_bytes();
    let back = Forest::from_bytes(&bytes)?;
    assert_eq!(back, forest);
    println!("model: {:.2} MB serialized", bytes.len() as f64 / 1e6);
    let importance = forest.feature_importance();
    let mut top: Vec<(usize, f64)> = importance.into_iter().enumerate().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("top features: {:?}", &top[..5]);
    Ok(())
}
