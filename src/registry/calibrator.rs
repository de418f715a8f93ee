//! The calibrator a model carries: a monotone map from the learner's raw
//! probability to a calibrated one, applied to every served forecast and
//! validated when a blob loads. Fitting it is training's job
//! ([`crate::train::calibrate`]); applying and checking it belongs here, below
//! both training and serving.

use serde::{Deserialize, Serialize};

/// Calibrated probabilities are kept inside `[FLOOR, 1 - FLOOR]`.
pub(crate) const FLOOR: f32 = 0.001;
/// Most points an isotonic map keeps (more are thinned, keeping the ends).
pub(crate) const MAX_POINTS: usize = 2048;

/// A monotone map from raw model probability to calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Calibrator {
    /// No calibration (models registered before calibrators existed).
    Identity,
    /// Piecewise-linear through `(x[i], y[i])`, flat outside; `x` strictly
    /// increasing, `y` non-decreasing, both in `[0, 1]`.
    Isotonic { x: Vec<f32>, y: Vec<f32> },
    /// `sigmoid(a · logit(p) + b)` with `a ≥ 0`.
    Platt { a: f64, b: f64 },
}

pub(crate) fn logit(p: f32) -> f64 {
    let p = f64::from(p).clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Calibrator {
    /// The calibrated probability of a raw one.
    pub fn apply(&self, p: f32) -> f32 {
        match self {
            Calibrator::Identity => p,
            Calibrator::Platt { a, b } => {
                let v = sigmoid(a * logit(p) + b);
                (v as f32).clamp(FLOOR, 1.0 - FLOOR)
            }
            Calibrator::Isotonic { x, y } => {
                if p.is_nan() {
                    return p;
                }
                let i = x.partition_point(|&v| v < p);
                if i == 0 {
                    y[0]
                } else if i == x.len() {
                    y[x.len() - 1]
                } else {
                    let (x0, x1, y0, y1) = (x[i - 1], x[i], y[i - 1], y[i]);
                    let t = (p - x0) / (x1 - x0);
                    (y0 + t * (y1 - y0)).clamp(y0, y1)
                }
            }
        }
    }

    /// Short name for pages and reports.
    pub fn method(&self) -> &'static str {
        match self {
            Calibrator::Identity => "none",
            Calibrator::Isotonic { .. } => "isotonic",
            Calibrator::Platt { .. } => "platt",
        }
    }

    /// Checks that the map is monotone and stays in `[0, 1]`, so a damaged
    /// calibrator is refused rather than served.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Calibrator::Identity => Ok(()),
            Calibrator::Platt { a, b } => {
                if a.is_finite() && b.is_finite() && *a >= 0.0 && *a < 1e3 && b.abs() < 1e3 {
                    Ok(())
                } else {
                    Err(format!("Platt calibrator has a = {a}, b = {b}"))
                }
            }
            Calibrator::Isotonic { x, y } => {
                if x.is_empty() || x.len() != y.len() || x.len() > MAX_POINTS {
                    return Err(format!(
                        "isotonic calibrator has {} x and {} y points",
                        x.len(),
                        y.len()
                    ));
                }
                let in_range = |v: &f32| (0.0..=1.0).contains(v);
                if !x.iter().all(in_range) || !y.iter().all(in_range) {
                    return Err("isotonic calibrator has a point outside [0, 1]".into());
                }
                if !x.windows(2).all(|w| w[0] < w[1]) {
                    return Err("isotonic calibrator's x is not strictly increasing".into());
                }
                if !y.windows(2).all(|w| w[0] <= w[1]) {
                    return Err("isotonic calibrator decreases".into());
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_calibrators_are_refused() {
        for bad in [
            Calibrator::Isotonic {
                x: vec![0.2, 0.1],
                y: vec![0.1, 0.2],
            },
            Calibrator::Isotonic {
                x: vec![0.1, 0.2],
                y: vec![0.3, 0.2],
            },
            Calibrator::Isotonic {
                x: vec![0.1],
                y: vec![1.5],
            },
            Calibrator::Isotonic {
                x: vec![],
                y: vec![],
            },
            Calibrator::Platt { a: -1.0, b: 0.0 },
            Calibrator::Platt {
                a: f64::NAN,
                b: 0.0,
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
