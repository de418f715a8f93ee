//! Classification metrics for the "rain tomorrow" (positive) class.

pub use crate::store::{Confusion, Metrics};

pub fn confusion(probs: &[f32], y: &[bool], threshold: f64) -> Confusion {
    let mut c = Confusion::default();
    for (&p, &t) in probs.iter().zip(y) {
        match (p as f64 >= threshold, t) {
            (true, true) => c.tp += 1,
            (true, false) => c.fp += 1,
            (false, false) => c.tn += 1,
            (false, true) => c.fn_ += 1,
        }
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
    let brier = if n == 0 {
        0.0
    } else {
        probs
            .iter()
            .zip(y)
            .map(|(&p, &t)| (p as f64 - t as u8 as f64).powi(2))
            .sum::<f64>()
            / n as f64
    };
    let (roc_auc, pr_auc, roc_curve) = ranking_metrics(probs, y);
    Metrics {
        n,
        positives,
        threshold,
        f1: f1(&c),
        precision: ratio(c.tp, c.tp + c.fp),
        recall: ratio(c.tp, c.tp + c.fn_),
        accuracy: ratio(c.tp + c.tn, n),
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
