//! Behavioural tests of gradient boosting: a hand-computed tree, determinism
//! across thread counts, missing values, early stopping, serialization,
//! cancellation and quantized hessians here; parameter checking in
//! `params`, the first tree against `linfa_trees` (accuracy and split
//! choices) in `parity`, and averaged and refitted bags in `bag`.

use linfa::ParamGuard;
use linfa::prelude::*;
use ndarray::Array1;

use super::*;
use crate::forest::rng::Rng;
use crate::forest::tests::{noisy_data, uniform};

mod bag;
mod params;
mod parity;

fn fit(p: BoostParams, x: &[f32], nf: usize, y: &[bool], valid: Option<Validation>) -> Booster {
    p.check()
        .expect("valid parameters")
        .fit_matrix(x, nf, y, valid, &FitOptions::default())
        .expect("fit succeeds")
}

#[test]
fn one_tree_matches_a_hand_computed_example() {
    // x = 1, 2, 3, 4 with labels no, no, yes, yes. The base rate is 1/2, so
    // the base score is 0, every p is 0.5, g = p - y = ±0.5 and h = 0.25.
    // The best split is x <= 2.5 (the midpoint the binning cuts at):
    // left G = 1, H = 0.5; right G = -1, H = 0.5. With l2 = 1 and learning
    // rate 1 the leaves are -G / (H + 1) = ∓2/3, and the gain is
    // 1/1.5 + 1/1.5 - 0/2 = 4/3.
    let x = [1.0f32, 2.0, 3.0, 4.0];
    let y = [false, false, true, true];
    let b = fit(
        BoostParams(BoostValidParams {
            max_iter: 1,
            learning_rate: 1.0,
            max_leaf_nodes: 2,
            min_samples_leaf: 1,
            min_hessian_leaf: 0.0,
            l2: 1.0,
            early_stopping_rounds: 0,
            ..BoostValidParams::default()
        }),
        &x,
        1,
        &y,
        None,
    );
    assert_eq!(b.base_score(), 0.0);
    assert_eq!(b.n_trees(), 1);
    let nodes = &b.trees[0].nodes;
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0].feature, 0);
    assert_eq!(nodes[0].value, 2.5);
    assert_eq!(nodes[0].left, 1);
    assert!(
        (nodes[1].value - (-2.0 / 3.0)).abs() < 1e-6,
        "{}",
        nodes[1].value
    );
    assert!(
        (nodes[2].value - (2.0 / 3.0)).abs() < 1e-6,
        "{}",
        nodes[2].value
    );
    // No missing value in training: missing follows the heavier child (a
    // tie here, so left).
    assert_eq!(nodes[0].flags, tree::MISSING_LEFT);
    // Probabilities: sigmoid(∓2/3).
    let p = b.predict_proba(&x, 1);
    let expect = 1.0 / (1.0 + (2.0f64 / 3.0).exp());
    assert!((f64::from(p[0]) - expect).abs() < 1e-6);
    assert!((f64::from(p[3]) - (1.0 - expect)).abs() < 1e-6);
    assert_eq!(b.feature_importance(), vec![1.0]);
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count() {
    let (x, y) = noisy_data(3000, 5);
    let (vx, vy) = noisy_data(800, 6);
    let params = |threads| {
        BoostParams(BoostValidParams {
            max_iter: 40,
            learning_rate: 0.2,
            subsample: 0.7,
            colsample: 0.6,
            seed: 99,
            n_threads: Some(threads),
            early_stopping_rounds: 5,
            ..BoostValidParams::default()
        })
    };
    let valid = Some(Validation { x: &vx, y: &vy });
    let one = fit(params(1), &x, 6, &y, valid).to_bytes();
    let two = fit(params(2), &x, 6, &y, valid).to_bytes();
    let four = fit(params(4), &x, 6, &y, valid).to_bytes();
    assert_eq!(one, two, "1 and 2 threads differ");
    assert_eq!(one, four, "1 and 4 threads differ");
    let other_seed = fit(
        BoostParams(BoostValidParams {
            seed: 100,
            ..params(2).0
        }),
        &x,
        6,
        &y,
        valid,
    )
    .to_bytes();
    assert_ne!(one, other_seed);
}

#[test]
fn learns_held_out_data_with_missing_values_and_stops_early() {
    let (x, y) = noisy_data(4000, 1);
    let (vx, vy) = noisy_data(1000, 2);
    let (tx, ty) = noisy_data(2000, 3);
    let b = fit(
        BoostParams(BoostValidParams {
            max_iter: 400,
            learning_rate: 0.3,
            early_stopping_rounds: 10,
            ..BoostValidParams::default()
        }),
        &x,
        6,
        &y,
        Some(Validation { x: &vx, y: &vy }),
    );
    assert!(b.n_trees() < 400, "early stopping never kicked in");
    let p = b.predict_proba(&tx, 6);
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    // Scored a block of rows at a time (the last block short), each row
    // gets the bits it gets alone.
    for (row, p) in tx.chunks(6).zip(&p) {
        assert_eq!(b.predict_proba_row(row).to_bits(), p.to_bits());
    }
    let correct = p
        .iter()
        .zip(&ty)
        .filter(|(p, t)| (**p >= 0.5) == **t)
        .count();
    // 10 % label noise: ~90 % is the ceiling.
    assert!(correct as f64 / 2000.0 > 0.84, "accuracy {correct}/2000");
    let imp = b.feature_importance();
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(imp[0] > imp[3] && imp[2] > imp[5], "{imp:?}");
    // A row with every feature missing still gets a probability.
    let all_missing = [f32::NAN; 6];
    assert!((0.0..=1.0).contains(&b.predict_proba_row(&all_missing)));
}

#[test]
fn serialization_round_trips_and_refuses_corruption() {
    let (x, y) = noisy_data(1000, 8);
    let b = fit(BoostParams::default().with_max_iter(20), &x, 6, &y, None);
    let bytes = b.to_bytes();
    assert_eq!(Booster::from_bytes(&bytes).unwrap(), b);
    let mut bad = b.clone();
    bad.trees[0].nodes[0].left = 0;
    assert!(matches!(
        Booster::from_bytes(&bad.to_bytes()),
        Err(ForestError::Corrupt(_))
    ));
    let mut bad = b.clone();
    bad.trees[0].nodes[0].feature = 6;
    assert!(Booster::from_bytes(&bad.to_bytes()).is_err());
    let mut bad = b.clone();
    bad.base = f64::NAN;
    assert!(Booster::from_bytes(&bad.to_bytes()).is_err());
    crate::forest::tests::assert_damage_is_refused_or_harmless(&bytes, Booster::from_bytes, |m| {
        let row: Vec<f32> = x.iter().copied().cycle().take(m.n_features()).collect();
        m.predict_proba_row(&row)
    });
}

#[test]
fn cancellation_stops_training() {
    let (x, y) = noisy_data(500, 4);
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let err = BoostParams::default()
        .check()
        .unwrap()
        .fit_matrix(
            &x,
            6,
            &y,
            None,
            &FitOptions {
                on_tree_done: None,
                cancel: Some(&cancel),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, ForestError::Cancelled));
}

#[test]
fn features_with_few_bins_and_missing_values_split_right_in_parallel_too() {
    // Histograms hold only the bins each feature has, plus a missing slot:
    // a binary feature (often missing), a three-valued one and a continuous
    // one. Rain when the binary feature is missing or the three-valued one
    // is 2. 12,000 rows × 3 features is above the size where the root's
    // histogram is summed with rayon, so 1 and 2 threads take both paths.
    let mut rng = Rng::for_tree(3, 7);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..12_000 {
        let missing = uniform(&mut rng) < 0.25;
        let binary = if missing {
            f32::NAN
        } else {
            f32::from(u8::from(uniform(&mut rng) < 0.5))
        };
        let three = (uniform(&mut rng) * 3.0).floor();
        x.extend([binary, three, uniform(&mut rng)]);
        y.push(missing || three == 2.0);
    }
    let params = |threads| {
        BoostParams(BoostValidParams {
            max_iter: 20,
            learning_rate: 0.5,
            n_threads: Some(threads),
            ..BoostValidParams::default()
        })
    };
    let one = fit(params(1), &x, 3, &y, None);
    let two = fit(params(2), &x, 3, &y, None);
    assert_eq!(one.to_bytes(), two.to_bytes(), "1 and 2 threads differ");
    let p = |row: [f32; 3]| one.predict_proba_row(&row);
    assert!(p([f32::NAN, 0.0, 0.5]) > 0.95, "missing: rain");
    assert!(p([0.0, 2.0, 0.5]) > 0.95, "three-valued 2: rain");
    assert!(p([1.0, 1.0, 0.5]) < 0.05, "otherwise dry");
    assert!(p([0.0, 0.0, 0.9]) < 0.05, "otherwise dry");
}

/// Hessians too small for a quantization step sum to zero. Without L2 and
/// without a minimum hessian, a side of only such rows has no defined value:
/// the split is not taken, and nothing infinite reaches the tree.
#[test]
fn a_side_with_zero_quantized_hessian_is_never_split_off() {
    let n = 400;
    let x: Vec<f32> = (0..n).map(|r| if r < n / 2 { 0.0 } else { 1.0 }).collect();
    let data = BinnedMatrix::new(&x, 1, 255);
    let gh: Vec<[f32; 2]> = (0..n)
        .map(|r| {
            if r < n / 2 {
                [0.5, 0.25]
            } else {
                [-0.5, 1e-20]
            }
        })
        .collect();
    let mut rows: Vec<u32> = (0..n as u32).collect();
    let cfg = tree::GrowConfig {
        max_leaves: 4,
        max_depth: usize::MAX,
        min_leaf: 1,
        min_hessian: 0.0,
        l2: 0.0,
        learning_rate: 1.0,
        categorical: 0,
    };
    let features = [0usize];
    let layout = super::hist::Layout::new(&data, &features);
    let grown = tree::grow(
        &data,
        tree::Sample {
            rows: &mut rows,
            gh: &gh,
            oob: &mut [],
        },
        &features,
        &layout,
        &cfg,
        &mut tree::Scratch::default(),
    );
    assert_eq!(grown.leaves.len(), 1, "the zero-hessian side was split off");
    assert!(
        grown.gains.iter().all(|g| g.is_finite()),
        "{:?}",
        grown.gains
    );
    assert!(grown.leaves.iter().all(|l| l.value.is_finite()));
}
