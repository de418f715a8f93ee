//! The first boosting tree against `linfa_trees`' Gini `DecisionTree`:
//! its accuracy and its split choices.

use super::*;
/// The weak learner against `linfa_trees`. On the first iteration every
/// hessian is the same constant, so the gain (with l2 = 0) is proportional
/// to the squared-error, i.e. Gini, decrease, and a depth-limited boosting
/// tree with an unlimited leaf budget is a Gini decision tree whose leaf
/// value encodes the leaf's mean label: `mean = p0 + value · p0 (1 - p0)`.
#[test]
fn first_tree_matches_linfa_decision_tree_accuracy() {
    for seed in 11..17 {
        let (train, test_x, test_y) = crate::forest::tests::oracle_split(seed);
        for (depth, leaf) in [(3, 1), (6, 1), (10, 3)] {
            let ours: Booster = BoostParams(BoostValidParams {
                max_iter: 1,
                learning_rate: 1.0,
                max_leaf_nodes: 65_536,
                max_depth: Some(depth),
                min_samples_leaf: leaf,
                min_hessian_leaf: 0.0,
                l2: 0.0,
                early_stopping_rounds: 0,
                ..BoostValidParams::default()
            })
            .fit(&train)
            .expect("booster fits");
            let theirs = crate::forest::tests::linfa_tree(&train, depth, leaf);
            let p0 = 1.0 / (1.0 + (-ours.base_score()).exp());
            let ours_pred: Array1<bool> = test_x
                .rows()
                .into_iter()
                .map(|r| {
                    let value = ours.predict_raw_row(&r.to_vec()) - ours.base_score();
                    p0 + value * p0 * (1.0 - p0) > 0.5
                })
                .collect();
            // Right answers out of 2,000; within one point = 20 answers
            // (counted, so that 0.988 - 0.978 is not 0.01000…1 in floats).
            let right =
                |p: &Array1<bool>| p.iter().zip(&test_y).filter(|(a, b)| a == b).count() as i64;
            let (ra, rb) = (right(&ours_pred), right(&theirs.predict(&test_x)));
            let n = test_y.len() as i64;
            let (a, b) = (ra as f64 / n as f64, rb as f64 / n as f64);
            assert!(
                (ra - rb).abs() * 100 <= n,
                "seed {seed}, depth {depth}: ours {a}, linfa {b}"
            );
            assert!(a > 0.85, "seed {seed}, depth {depth}: {a}");
        }
    }
}

/// The weak learner's split choices, not only its accuracy: on the first
/// iteration every hessian is the same constant, so with `l2 = 0` a split's
/// gain is proportional to its decrease in squared error of the labels,
/// which for two classes is proportional to the Gini decrease. The first
/// boosting tree must therefore split where `linfa_trees`' Gini
/// `DecisionTree` splits: the same feature and the same rows to each side,
/// node by node. Depth 1 is the classic stump; the check stops at depth 2
/// for the reason given at the forest's twin
/// (`forest::tests::parity::one_tree_makes_linfa_decision_trees_split_choices`).
#[test]
fn first_tree_makes_linfa_decision_trees_split_choices() {
    crate::forest::tests::assert_split_choices_match_linfa(|train, depth| {
        let ours: Booster = BoostParams(BoostValidParams {
            max_iter: 1,
            learning_rate: 1.0,
            max_leaf_nodes: 65_536,
            max_depth: Some(depth),
            min_samples_leaf: 1,
            min_hessian_leaf: 0.0,
            l2: 0.0,
            early_stopping_rounds: 0,
            ..BoostValidParams::default()
        })
        .fit(train)
        .expect("booster fits");
        ours.trees[0].nodes.clone()
    });
}
