//! Probability calibration, fitted on the tune window: isotonic regression
//! (pool-adjacent-violators, interpolated between block centroids) or, when
//! the tune window is small, Platt scaling (a logistic curve on the raw
//! score's log-odds). Both maps are non-decreasing, so calibration never
//! reorders forecasts; it only makes "35 %" mean about 35 %.

pub use crate::registry::calibrator::Calibrator;
use crate::registry::calibrator::{FLOOR, MAX_POINTS, logit, sigmoid};
use crate::score::mean;
pub use crate::store::{CalibrationReport, ReliabilityBin};

/// Fewer tune rows than this get Platt scaling instead of isotonic regression.
pub const ISOTONIC_MIN_ROWS: usize = 1000;

/// Folds of the cross-validation that picks isotonic or Platt.
pub const CV_FOLDS: usize = 5;

/// Held-out Brier scores of (isotonic, Platt) over [`CV_FOLDS`] contiguous
/// folds of the rows as given. Training's rows run station by station in
/// date order, so a fold is a group of stations over the whole window, and
/// neighbouring days, which share weather, stay on one side.
pub fn cross_validated_brier(raw: &[f32], y: &[bool]) -> (f64, f64) {
    let (mut iso, mut platt) = (0.0f64, 0.0f64);
    for k in 0..CV_FOLDS {
        let (mut fit_raw, mut fit_y, mut held) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (&p, &t)) in raw.iter().zip(y).enumerate() {
            if i * CV_FOLDS / raw.len() == k {
                held.push((p, t));
            } else {
                fit_raw.push(p);
                fit_y.push(t);
            }
        }
        let (ci, cp) = (
            Calibrator::fit_isotonic(&fit_raw, &fit_y),
            Calibrator::fit_platt(&fit_raw, &fit_y),
        );
        for (p, t) in held {
            let o = f64::from(u8::from(t));
            iso += (f64::from(ci.apply(p)) - o).powi(2);
            platt += (f64::from(cp.apply(p)) - o).powi(2);
        }
    }
    let n = raw.len().max(1) as f64;
    (iso / n, platt / n)
}

/// Fitting lives with training; the type, `apply` and `validate` live in
/// the registry, which loads and serves calibrators.
impl Calibrator {
    /// Platt scaling below [`ISOTONIC_MIN_ROWS`] rows. From there, whichever
    /// of isotonic regression and Platt scaling has the lower Brier score in
    /// a [`CV_FOLDS`]-fold cross-validation on these rows: isotonic bends to
    /// any shape but pays for it in variance; a model whose raw scores are
    /// nearly calibrated (boosting on log-loss) is often better served by
    /// Platt's two parameters.
    pub fn fit(raw: &[f32], y: &[bool]) -> Calibrator {
        if raw.len() < ISOTONIC_MIN_ROWS {
            return Self::fit_platt(raw, y);
        }
        let (iso, platt) = cross_validated_brier(raw, y);
        if platt < iso {
            Self::fit_platt(raw, y)
        } else {
            Self::fit_isotonic(raw, y)
        }
    }

    /// [`fit`](Self::fit), then shifted in log-odds until its mean over
    /// these rows is the raw forecasts' own mean: it corrects the spread of
    /// the forecasts and keeps their level. For a learner trained on
    /// log-loss (boosting), whose level is already fitted to every year it
    /// learned: one tune year's rain frequency differs from what its days'
    /// weather predicts by up to ±0.01, and a calibrator that re-fits the
    /// level carries that year's surprise into every forecast after it.
    ///
    /// Returns the calibrator and whether the level was kept: not when the
    /// plain fit is the identity (nothing to shift) or no shift within ±8
    /// of log-odds reaches the raw mean (a map flattened against its
    /// bounds); then the plain fit is returned as it is.
    pub fn fit_keeping_level(raw: &[f32], y: &[bool]) -> (Calibrator, bool) {
        let cal = Self::fit(raw, y);
        let finite: Vec<f32> = raw.iter().copied().filter(|p| p.is_finite()).collect();
        if finite.is_empty() || cal == Calibrator::Identity {
            return (cal, false);
        }
        let target = mean(&finite);
        let level = |c: &Calibrator| {
            finite.iter().map(|&p| f64::from(c.apply(p))).sum::<f64>() / finite.len() as f64
        };
        // The mean rises with the shift: bisect for it.
        let (mut lo, mut hi) = (-8.0f64, 8.0f64);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if level(&cal.shifted(mid)) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let kept = cal.shifted(0.5 * (lo + hi));
        if (level(&kept) - target).abs() > 1e-4 {
            return (cal, false);
        }
        (kept, true)
    }

    /// This map followed by a shift of `by` in log-odds: still monotone,
    /// so it reorders nothing.
    pub fn shifted(&self, by: f64) -> Calibrator {
        match self {
            Calibrator::Identity => Calibrator::Platt { a: 1.0, b: by },
            Calibrator::Platt { a, b } => Calibrator::Platt { a: *a, b: b + by },
            Calibrator::Isotonic { x, y } => {
                let y = y
                    .iter()
                    .map(|&v| (sigmoid(logit(v) + by) as f32).clamp(FLOOR, 1.0 - FLOOR))
                    .collect();
                Calibrator::Isotonic { x: x.clone(), y }
            }
        }
    }

    /// Pool-adjacent-violators on `(raw, label)`; each pooled block becomes
    /// the point (mean raw value, observed frequency).
    pub fn fit_isotonic(raw: &[f32], y: &[bool]) -> Calibrator {
        let mut pairs: Vec<(f32, bool)> = raw
            .iter()
            .zip(y)
            .filter(|(p, _)| p.is_finite())
            .map(|(&p, &t)| (p.clamp(0.0, 1.0), t))
            .collect();
        if pairs.is_empty() {
            return Calibrator::Identity;
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Blocks: (sum of x, sum of y, weight); equal raw values start pooled.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        let mut last = f32::NAN;
        for (p, t) in pairs {
            let yv = f64::from(u8::from(t));
            match blocks.last_mut() {
                Some(b) if p == last => {
                    b.0 += f64::from(p);
                    b.1 += yv;
                    b.2 += 1.0;
                }
                _ => blocks.push((f64::from(p), yv, 1.0)),
            }
            last = p;
            // Merge while the previous block's mean is not below this one's.
            while blocks.len() >= 2 {
                let n = blocks.len();
                let (a, b) = (blocks[n - 2], blocks[n - 1]);
                if a.1 / a.2 >= b.1 / b.2 {
                    blocks[n - 2] = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
                    blocks.pop();
                } else {
                    break;
                }
            }
        }
        let mut x: Vec<f32> = Vec::with_capacity(blocks.len());
        let mut yv: Vec<f32> = Vec::with_capacity(blocks.len());
        for (sx, sy, w) in blocks {
            let cx = (sx / w) as f32;
            let cy = ((sy / w) as f32).clamp(FLOOR, 1.0 - FLOOR);
            // Centroids of consecutive blocks increase; guard against f32 ties.
            if x.last().is_some_and(|&l| cx <= l) {
                let l = yv.len() - 1;
                yv[l] = yv[l].max(cy);
                continue;
            }
            x.push(cx);
            yv.push(cy);
        }
        if x.len() > MAX_POINTS {
            let n = x.len();
            let keep: Vec<usize> = (0..MAX_POINTS)
                .map(|i| i * (n - 1) / (MAX_POINTS - 1))
                .collect();
            x = keep.iter().map(|&i| x[i]).collect();
            yv = keep.iter().map(|&i| yv[i]).collect();
        }
        Calibrator::Isotonic { x, y: yv }
    }

    /// Platt scaling by Newton's method, with Platt's smoothed targets.
    pub fn fit_platt(raw: &[f32], y: &[bool]) -> Calibrator {
        let pos = y.iter().filter(|&&t| t).count() as f64;
        let neg = y.len() as f64 - pos;
        if y.is_empty() {
            return Calibrator::Identity;
        }
        let t_pos = (pos + 1.0) / (pos + 2.0);
        let t_neg = 1.0 / (neg + 2.0);
        let z: Vec<f64> = raw.iter().map(|&p| logit(p)).collect();
        let (mut a, mut b) = (1.0f64, 0.0f64);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
            for (&zi, &t) in z.iter().zip(y) {
                let target = if t { t_pos } else { t_neg };
                let p = sigmoid(a * zi + b);
                let d = p - target;
                let w = (p * (1.0 - p)).max(1e-12);
                ga += d * zi;
                gb += d;
                haa += w * zi * zi;
                hab += w * zi;
                hbb += w;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-18 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            a -= da;
            b -= db;
            if da.abs() < 1e-10 && db.abs() < 1e-10 {
                break;
            }
        }
        if !(a.is_finite() && b.is_finite()) {
            return Calibrator::Identity;
        }
        Calibrator::Platt { a: a.max(0.0), b }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::brier;

    /// Inflated forecasts: the truth is p, the model says sqrt(p).
    fn inflated(n: usize) -> (Vec<f32>, Vec<bool>) {
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let mut raw = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let truth = next() * 0.8;
            raw.push(truth.sqrt());
            y.push(next() < truth);
        }
        (raw, y)
    }

    #[test]
    fn calibration_never_reorders_forecasts() {
        let (raw, y) = inflated(5000);
        for (cal, fitted_on_all) in [
            (Calibrator::fit_isotonic(&raw, &y), true),
            (Calibrator::fit_platt(&raw, &y), true),
            (Calibrator::fit(&raw[..300], &y[..300]), false),
        ] {
            cal.validate().unwrap();
            let mut grid: Vec<f32> = (0..=2000).map(|i| i as f32 / 2000.0).collect();
            grid.extend(raw.iter().copied());
            grid.sort_by(f32::total_cmp);
            let out: Vec<f32> = grid.iter().map(|&p| cal.apply(p)).collect();
            assert!(
                out.windows(2).all(|w| w[0] <= w[1]),
                "{} reorders forecasts",
                cal.method()
            );
            assert!(out.iter().all(|p| (0.0..=1.0).contains(p)));
            if !fitted_on_all {
                continue;
            }
            // And it helps: the mean forecast comes down to the frequency,
            // the Brier score improves.
            let cal_probs: Vec<f32> = raw.iter().map(|&p| cal.apply(p)).collect();
            let freq = y.iter().filter(|&&t| t).count() as f64 / y.len() as f64;
            assert!((mean(&cal_probs) - freq).abs() < 0.02, "{}", cal.method());
            assert!(brier(&cal_probs, &y) < brier(&raw, &y));
        }
        assert_eq!(Calibrator::fit(&raw[..300], &y[..300]).method(), "platt");
    }

    /// Forecasts `raw` uniform on (0, 1) with outcomes drawn at `truth(raw)`.
    fn drawn(n: usize, truth: impl Fn(f32) -> f32) -> (Vec<f32>, Vec<bool>) {
        let mut state = 11u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        (0..n)
            .map(|_| {
                let p = next().clamp(0.001, 0.999);
                (p, next() < truth(p))
            })
            .unzip()
    }

    #[test]
    fn cross_validation_picks_the_calibrator_that_generalises() {
        // A logistic distortion is Platt's own family: its two parameters
        // beat isotonic's many steps out of sample.
        let (raw, y) = drawn(4000, |p| {
            let z = (p / (1.0 - p)).ln();
            1.0 / (1.0 + (-(1.6 * z - 0.7)).exp())
        });
        let (iso, platt) = cross_validated_brier(&raw, &y);
        assert!(platt < iso, "platt {platt} vs isotonic {iso}");
        assert_eq!(Calibrator::fit(&raw, &y).method(), "platt");
        // A step no logistic curve can follow: isotonic wins.
        let (raw, y) = drawn(4000, |p| if p < 0.5 { 0.1 } else { 0.7 });
        let (iso, platt) = cross_validated_brier(&raw, &y);
        assert!(iso < platt, "isotonic {iso} vs platt {platt}");
        assert_eq!(Calibrator::fit(&raw, &y).method(), "isotonic");
    }

    #[test]
    fn keeping_the_level_corrects_the_spread_alone() {
        // Over-confident forecasts at the right level: the truth is p,
        // the model says sigmoid(2 logit p), and both average 0.5 here.
        let (truth, y) = drawn(6000, |p| p);
        let raw: Vec<f32> = truth
            .iter()
            .map(|&p| 1.0 / (1.0 + (-2.0 * (p / (1.0 - p)).ln()).exp()))
            .collect();
        let truth_freq = y.iter().filter(|&&t| t).count() as f64 / y.len() as f64;
        for cal in [
            Calibrator::fit_keeping_level(&raw, &y).0,
            Calibrator::fit_isotonic(&raw, &y).shifted(0.3),
            Calibrator::Identity.shifted(-0.3),
        ] {
            cal.validate().unwrap();
            let mut grid: Vec<f32> = (0..=1000).map(|i| i as f32 / 1000.0).collect();
            grid.extend(raw.iter().copied());
            grid.sort_by(f32::total_cmp);
            let out: Vec<f32> = grid.iter().map(|&p| cal.apply(p)).collect();
            assert!(out.windows(2).all(|w| w[0] <= w[1]), "{cal:?} reorders");
        }
        let (kept, shifted) = Calibrator::fit_keeping_level(&raw, &y);
        assert!(shifted);
        let cal: Vec<f32> = raw.iter().map(|&p| kept.apply(p)).collect();
        assert!((mean(&cal) - mean(&raw)).abs() < 1e-4, "the level moved");
        assert!(
            brier(&cal, &y) < brier(&raw, &y) - 0.005,
            "the spread was not corrected"
        );
        assert!((mean(&cal) - truth_freq).abs() < 0.02);

        // Forecasts one notch too low everywhere: a plain fit lifts them to
        // the frequency, keeping the level does not.
        let low: Vec<f32> = raw.iter().map(|&p| p * 0.8).collect();
        let plain = Calibrator::fit(&low, &y);
        let (kept, _) = Calibrator::fit_keeping_level(&low, &y);
        let m = |c: &Calibrator| mean(&low.iter().map(|&p| c.apply(p)).collect::<Vec<_>>());
        assert!((m(&plain) - truth_freq).abs() < 0.01);
        assert!((m(&kept) - mean(&low)).abs() < 1e-4);

        // Nothing to calibrate on: the identity, and no claim of a kept level.
        assert_eq!(
            Calibrator::fit_keeping_level(&[], &[]),
            (Calibrator::Identity, false)
        );
    }

    #[test]
    fn reliability_bins_count_every_forecast() {
        let probs = [0.05, 0.15, 0.15, 0.95, 1.0];
        let y = [false, true, false, true, true];
        let r = crate::score::reliability(&probs, &y);
        assert_eq!(r.len(), 10);
        assert_eq!(r.iter().map(|b| b.n).sum::<u64>(), 5);
        assert_eq!(r[1].n, 2);
        assert_eq!(r[1].observed, Some(0.5));
        assert_eq!(r[9].n, 2);
        assert_eq!(r[5].mean_forecast, None);
    }
}
