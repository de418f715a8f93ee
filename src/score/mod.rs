//! The one home of every score raincast reports: the confusion matrix, F1
//! and the threshold that maximises it, ROC and PR AUC, the Brier score and
//! its skill against a reference forecast, the mean forecast, and
//! reliability bins under one binning rule. Training, calibration,
//! `evaluate`, the replay, the pages and `/metrics` all score through here;
//! the types it reports are persisted by the store as they are.
//!
//! Rain (more than 1 mm in the rain day) is the positive class.

use serde::{Deserialize, Serialize};

/// The confusion matrix on the test window, rain as the positive class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// Classification metrics for the "rain tomorrow" class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metrics {
    pub n: u64,
    pub positives: u64,
    pub threshold: f64,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
    pub accuracy: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub brier: f64,
    pub confusion: Confusion,
    /// ROC curve, (false positive rate, true positive rate), about 50 points.
    pub roc_curve: Vec<(f64, f64)>,
}

/// One bin of a reliability table: forecasts with `lo <= p < hi`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub n: u64,
    /// Mean forecast probability in the bin (`None` when empty).
    pub mean_forecast: Option<f64>,
    /// Observed rain frequency in the bin (`None` when empty).
    pub observed: Option<f64>,
}

/// Reliability bins: ten of width 0.1; bin `k` holds `k/10 <= p < (k+1)/10`,
/// and the top bin holds 1.0 too. Every probability in [0, 1] falls in
/// exactly one bin.
pub const BINS: usize = 10;

/// The bin of a probability under the one rule ([`BINS`]); values outside
/// [0, 1] (never forecast) fall in the nearest end bin.
pub fn bin_of(p: f64) -> usize {
    if p.is_nan() || p <= 0.0 {
        return 0;
    }
    ((p * BINS as f64).floor() as usize).min(BINS - 1)
}

/// The edges `[lo, hi)` of bin `k`.
pub fn bin_edges(k: usize) -> (f64, f64) {
    (k as f64 / BINS as f64, (k + 1) as f64 / BINS as f64)
}

/// Reliability bins, filled one forecast at a time.
#[derive(Debug, Clone, Default)]
pub struct Reliability {
    /// Per bin: forecasts, their sum, rain days.
    sums: [(u64, f64, u64); BINS],
}

impl Reliability {
    pub fn add(&mut self, p: f64, rain: bool) {
        let b = &mut self.sums[bin_of(p)];
        b.0 += 1;
        b.1 += p;
        b.2 += u64::from(rain);
    }

    /// Every bin, empty ones included (their mean and frequency `None`).
    pub fn bins(&self) -> Vec<ReliabilityBin> {
        self.sums
            .iter()
            .enumerate()
            .map(|(k, &(n, sum, rain))| {
                let (lo, hi) = bin_edges(k);
                ReliabilityBin {
                    lo,
                    hi,
                    n,
                    mean_forecast: (n > 0).then(|| sum / n as f64),
                    observed: (n > 0).then(|| rain as f64 / n as f64),
                }
            })
            .collect()
    }
}

/// Forecasts in [`BINS`] equal-width bins against how often it rained.
pub fn reliability(probs: &[f32], y: &[bool]) -> Vec<ReliabilityBin> {
    let mut r = Reliability::default();
    for (&p, &t) in probs.iter().zip(y) {
        r.add(f64::from(p), t);
    }
    r.bins()
}

/// The mean forecast (0 for none).
pub fn mean(probs: &[f32]) -> f64 {
    if probs.is_empty() {
        return 0.0;
    }
    probs.iter().map(|&p| f64::from(p)).sum::<f64>() / probs.len() as f64
}

/// One forecast's squared error against the outcome.
pub fn squared_error(p: f64, rain: bool) -> f64 {
    (p - f64::from(u8::from(rain))).powi(2)
}

/// The Brier score: the mean squared error of the probabilities (0 for
/// none; lower is better).
pub fn brier(probs: &[f32], y: &[bool]) -> f64 {
    brier_of(probs.iter().zip(y).map(|(&p, &t)| (f64::from(p), t))).unwrap_or(0.0)
}

/// The Brier score of (probability, outcome) pairs; `None` for none.
pub fn brier_of(pairs: impl IntoIterator<Item = (f64, bool)>) -> Option<f64> {
    let (mut n, mut sum) = (0u64, 0.0);
    for (p, t) in pairs {
        n += 1;
        sum += squared_error(p, t);
    }
    (n > 0).then(|| sum / n as f64)
}

/// The Brier skill score against a reference forecast's Brier score (a
/// climatology): `1 - brier / reference`, above 0 when it beats the
/// reference; `None` when the reference is perfect (0).
pub fn skill_score(brier: f64, reference: f64) -> Option<f64> {
    (reference > 0.0).then(|| 1.0 - brier / reference)
}

impl Confusion {
    /// Count one forecast: whether it said rain, and whether it rained.
    pub fn add(&mut self, said_rain: bool, rain: bool) {
        match (said_rain, rain) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.tp + self.fp + self.tn + self.fn_)
    }
}

/// The confusion matrix of probabilities called rain at `threshold` or above.
pub fn confusion(probs: &[f32], y: &[bool], threshold: f64) -> Confusion {
    let mut c = Confusion::default();
    for (&p, &t) in probs.iter().zip(y) {
        c.add(p as f64 >= threshold, t);
    }
    c
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub fn f1(c: &Confusion) -> f64 {
    ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn_)
}

/// The threshold in 0.05..=0.95 (step 0.01) with the best F1.
pub fn best_threshold(probs: &[f32], y: &[bool]) -> f64 {
    let mut best = (0.5, -1.0);
    for step in 5..=95 {
        let t = step as f64 / 100.0;
        let score = f1(&confusion(probs, y, t));
        if score > best.1 {
            best = (t, score);
        }
    }
    best.0
}

pub fn evaluate(probs: &[f32], y: &[bool], threshold: f64) -> Metrics {
    let c = confusion(probs, y, threshold);
    let n = y.len() as u64;
    let positives = y.iter().filter(|&&t| t).count() as u64;
    let brier = brier(probs, y);
    let (roc_auc, pr_auc, roc_curve) = ranking_metrics(probs, y);
    Metrics {
        n,
        positives,
        threshold,
        f1: f1(&c),
        precision: c.precision(),
        recall: c.recall(),
        accuracy: c.accuracy(),
        roc_auc,
        pr_auc,
        brier,
        confusion: c,
        roc_curve,
    }
}

/// ROC AUC alone (ties count half; 0.5 with a single class).
pub fn roc_auc(probs: &[f32], y: &[bool]) -> f64 {
    ranking_metrics(probs, y).0
}

/// ROC AUC (ties count half), average precision, and a thinned ROC curve.
fn ranking_metrics(probs: &[f32], y: &[bool]) -> (f64, f64, Vec<(f64, f64)>) {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let pos = y.iter().filter(|&&t| t).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return (0.5, 0.0, vec![(0.0, 0.0), (1.0, 1.0)]);
    }
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let (mut auc, mut ap) = (0.0f64, 0.0f64);
    let mut curve = vec![(0.0, 0.0)];
    let every = (order.len() / 50).max(1);
    let mut next_mark = every;
    let mut i = 0;
    while i < order.len() {
        // One group of tied scores at a time.
        let score = probs[order[i]];
        let (prev_tp, prev_fp) = (tp, fp);
        while i < order.len() && probs[order[i]] == score {
            if y[order[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        auc += (fp - prev_fp) * (tp + prev_tp) / 2.0;
        if tp > prev_tp {
            ap += (tp - prev_tp) / pos * (tp / (tp + fp));
        }
        if i >= next_mark || i == order.len() {
            curve.push((fp / neg, tp / pos));
            while next_mark <= i {
                next_mark += every;
            }
        }
    }
    if curve.last() != Some(&(1.0, 1.0)) {
        curve.push((1.0, 1.0));
    }
    (auc / (pos * neg), ap, curve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The bins partition [0, 1]: each probability falls in exactly one
        /// bin, whose edges hold it (the top bin holds 1.0 too).
        #[test]
        fn bins_partition_the_unit_interval(p in 0.0f64..=1.0) {
            let k = bin_of(p);
            let (lo, hi) = bin_edges(k);
            prop_assert!(lo <= p && (p < hi || (k == BINS - 1 && p <= hi)), "{p} in bin {k}");
            let holding = (0..BINS)
                .filter(|&j| {
                    let (lo, hi) = bin_edges(j);
                    lo <= p && (p < hi || (j == BINS - 1 && p <= hi))
                })
                .count();
            prop_assert_eq!(holding, 1);
        }

        /// Bins count every forecast once, and their rain days add up.
        #[test]
        fn bins_count_every_forecast(rows in proptest::collection::vec((0.0f32..=1.0, any::<bool>()), 0..200)) {
            let (p, y): (Vec<f32>, Vec<bool>) = rows.iter().copied().unzip();
            let bins = reliability(&p, &y);
            prop_assert_eq!(bins.iter().map(|b| b.n).sum::<u64>(), rows.len() as u64);
            let rain: f64 = bins.iter().filter_map(|b| Some(b.observed? * b.n as f64)).sum();
            prop_assert!((rain - y.iter().filter(|&&t| t).count() as f64).abs() < 1e-6);
        }
    }

    #[test]
    fn brier_and_skill() {
        assert_eq!(brier(&[], &[]), 0.0);
        assert_eq!(brier_of([]), None);
        assert!((brier(&[1.0, 0.0, 0.5], &[true, false, true]) - 0.25 / 3.0).abs() < 1e-12);
        assert_eq!(skill_score(0.1, 0.0), None);
        assert!((skill_score(0.1, 0.2).unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn perfect_and_random_rankings() {
        let y = [true, true, false, false];
        let m = evaluate(&[0.9, 0.8, 0.2, 0.1], &y, 0.5);
        assert_eq!(m.roc_auc, 1.0);
        assert_eq!(m.pr_auc, 1.0);
        assert_eq!(m.f1, 1.0);
        assert_eq!(
            m.confusion,
            Confusion {
                tp: 2,
                fp: 0,
                tn: 2,
                fn_: 0
            }
        );
        let m = evaluate(&[0.5; 4], &y, 0.5);
        assert_eq!(m.roc_auc, 0.5);
        let m = evaluate(&[0.1, 0.2, 0.8, 0.9], &y, 0.5);
        assert_eq!(m.roc_auc, 0.0);
        assert_eq!(m.f1, 0.0);
    }

    #[test]
    fn auc_matches_pairwise_count() {
        let probs = [0.1, 0.4, 0.35, 0.8, 0.4, 0.7, 0.2];
        let y = [false, false, true, true, true, false, false];
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for i in 0..7 {
            for j in 0..7 {
                if y[i] && !y[j] {
                    pairs += 1.0;
                    wins += if probs[i] > probs[j] {
                        1.0
                    } else if probs[i] == probs[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let m = evaluate(&probs, &y, 0.5);
        assert!((m.roc_auc - wins / pairs).abs() < 1e-12);
        assert!((m.brier - 1.5225 / 7.0).abs() < 1e-6, "{}", m.brier);
    }

    #[test]
    fn threshold_tuning_finds_the_gap() {
        let probs = [0.1, 0.2, 0.3, 0.32, 0.6, 0.7];
        let y = [false, false, true, true, true, true];
        let t = best_threshold(&probs, &y);
        assert!(t > 0.2 && t <= 0.3, "{t}");
    }
}
