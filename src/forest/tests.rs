//! Behavioural tests of the forest: exactness, missing values, determinism,
//! serialization, parameter checking and parity with `linfa_trees`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use linfa::ParamGuard;
use linfa::prelude::*;
use ndarray::{Array1, Array2};

use super::model::{LEAF, Node};
use super::rng::Rng;
use super::tree::Tree;
use super::*;

/// A uniform `f32` in `[0, 1)`.
pub(super) fn uniform(rng: &mut Rng) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

fn check(p: ForestParams) -> ForestValidParams {
    p.check().expect("valid parameters")
}

fn fit(p: ForestParams, x: &[f32], nf: usize, y: &[bool]) -> Forest {
    check(p)
        .fit_matrix(x, nf, y, &FitOptions::default())
        .expect("fit succeeds")
}

/// A single fully grown tree without bagging.
fn one_tree() -> ForestParams {
    ForestParams(ForestValidParams {
        n_trees: 1,
        bootstrap: false,
        max_features: MaxFeatures::All,
        min_samples_leaf: 1,
        min_samples_split: 2,
        class_weight: ClassWeight::None,
        ..ForestValidParams::default()
    })
}

/// A "rain-like" dataset: 6 features, the label depends on three of them
/// with 10 % label noise, and two columns are often missing.
pub(super) fn noisy_data(n: usize, seed: u64) -> (Vec<f32>, Vec<bool>) {
    let nf = 6;
    let mut rng = Rng::for_tree(seed, 999);
    let mut x = Vec::with_capacity(n * nf);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f32> = (0..nf).map(|_| uniform(&mut rng)).collect();
        let score = 2.0 * row[0] + row[1] - 1.5 * row[2];
        let mut label = score > 0.8;
        if uniform(&mut rng) < 0.1 {
            label = !label;
        }
        for (j, v) in row.into_iter().enumerate() {
            let missing = j >= 4 && uniform(&mut rng) < 0.3;
            x.push(if missing { f32::NAN } else { v });
        }
        y.push(label);
    }
    (x, y)
}

#[test]
fn one_deep_tree_fits_a_separable_dataset_exactly() {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for a in 0..50 {
        for b in 0..10 {
            x.push(a as f32 * 0.5);
            x.push(b as f32 - 3.0);
            y.push((a * 7 + b * 3) % 5 < 2);
        }
    }
    let forest = fit(one_tree(), &x, 2, &y);
    let probs = forest.predict_proba(&x, 2);
    for (p, &t) in probs.iter().zip(&y) {
        assert_eq!(*p, if t { 1.0 } else { 0.0 });
    }
}

#[test]
fn missing_values_are_routed_and_learned() {
    // Feature 0 is missing exactly when the answer is "yes"; feature 1 is noise.
    let mut rng = Rng::for_tree(7, 0);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..400 {
        let yes = i % 3 == 0;
        x.push(if yes { f32::NAN } else { uniform(&mut rng) });
        x.push(uniform(&mut rng));
        y.push(yes);
    }
    for params in [
        one_tree(),
        ForestParams(ForestValidParams {
            n_trees: 20,
            max_features: MaxFeatures::All,
            ..ForestValidParams::default()
        }),
    ] {
        let forest = fit(params, &x, 2, &y);
        assert!(forest.predict_proba_row(&[f32::NAN, 0.5]) > 0.99);
        assert!(forest.predict_proba_row(&[0.3, 0.5]) < 0.01);
        assert!(forest.predict_proba_row(&[0.99, f32::NAN]) < 0.01);
        assert!(forest.feature_importance()[0] > 0.9);
    }

    // Values and missingness both matter: yes if x > 0.5 or x is missing.
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..600 {
        let v = uniform(&mut rng);
        if i % 4 == 0 {
            x.push(f32::NAN);
            y.push(true);
        } else {
            x.push(v);
            y.push(v > 0.5);
        }
    }
    let forest = fit(one_tree(), &x, 1, &y);
    assert_eq!(forest.predict_proba_row(&[f32::NAN]), 1.0);
    assert_eq!(forest.predict_proba_row(&[0.9]), 1.0);
    assert_eq!(forest.predict_proba_row(&[0.1]), 0.0);
}

#[test]
fn unseen_missing_values_follow_the_heavier_child() {
    // No missing values in training: 3/4 of the rows are "no" with x < 0.75.
    let x: Vec<f32> = (0..400).map(|i| i as f32 / 400.0).collect();
    let y: Vec<bool> = x.iter().map(|&v| v >= 0.75).collect();
    let forest = fit(one_tree(), &x, 1, &y);
    assert_eq!(forest.predict_proba_row(&[f32::NAN]), 0.0);
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count() {
    let (x, y) = noisy_data(3000, 1);
    let params = |threads, seed| {
        ForestParams(ForestValidParams {
            n_trees: 12,
            n_threads: Some(threads),
            seed,
            ..ForestValidParams::default()
        })
    };
    let a = fit(params(1, 42), &x, 6, &y).to_bytes();
    let b = fit(params(2, 42), &x, 6, &y).to_bytes();
    let c = fit(params(2, 43), &x, 6, &y).to_bytes();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn serialization_round_trips_and_refuses_corruption() {
    let (x, y) = noisy_data(1500, 2);
    let forest = fit(ForestParams::default().with_n_trees(10), &x, 6, &y);
    let bytes = forest.to_bytes();
    let back = Forest::from_bytes(&bytes).expect("round trip");
    assert_eq!(back, forest);
    assert_eq!(back.predict_proba(&x, 6), forest.predict_proba(&x, 6));
    assert_eq!(back.feature_importance(), forest.feature_importance());

    assert!(Forest::from_bytes(b"definitely not a forest").is_err());
    let probe: Vec<f32> = x[..60].to_vec();
    assert_damage_is_refused_or_harmless(&bytes, Forest::from_bytes, |f| {
        let row: Vec<f32> = probe.iter().copied().cycle().take(f.n_features()).collect();
        f.predict_proba_row(&row)
    });
}

/// What a stored model of either family must survive: every truncation and
/// a trailing byte are refused as corrupt, and arbitrary damage (one to
/// three flipped bits, 2,000 times) either fails to load or loads a model
/// that still predicts a probability without panicking.
pub(super) fn assert_damage_is_refused_or_harmless<M>(
    bytes: &[u8],
    load: impl Fn(&[u8]) -> Result<M, ForestError>,
    predict: impl Fn(&M) -> f32,
) {
    for len in 0..bytes.len() {
        assert!(matches!(load(&bytes[..len]), Err(ForestError::Corrupt(_))));
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(matches!(load(&longer), Err(ForestError::Corrupt(_))));
    let mut rng = Rng::for_tree(5, 5);
    for _ in 0..2000 {
        let mut damaged = bytes.to_vec();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(damaged.len());
            damaged[i] ^= 1 << rng.below(8);
        }
        if let Ok(model) = load(&damaged) {
            assert!((0.0..=1.0).contains(&predict(&model)));
        }
    }
}

/// Serializes a hand-made forest, bypassing fitting.
fn raw_forest(n_features: u32, nodes: Vec<Node>, version: u32) -> Vec<u8> {
    let trees = [Tree { nodes }];
    let importance = vec![0.0; n_features as usize];
    postcard::to_allocvec(&ForestRef {
        version,
        n_features,
        trees: &trees,
        importance: &importance,
    })
    .expect("serializes")
}

#[test]
fn structurally_invalid_forests_are_refused() {
    let leaf = |p: f32| Node {
        value: p,
        left: 0,
        feature: LEAF,
        flags: 0,
    };
    let split = |feature: u16, left: u32| Node {
        value: 0.5,
        left,
        feature,
        flags: 0,
    };
    let good = vec![split(0, 1), leaf(0.0), leaf(1.0)];
    assert!(Forest::from_bytes(&raw_forest(1, good.clone(), FORMAT_VERSION)).is_ok());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("version", raw_forest(1, good.clone(), FORMAT_VERSION + 1)),
        ("no nodes", raw_forest(1, vec![], FORMAT_VERSION)),
        (
            "feature",
            raw_forest(1, vec![split(1, 1), leaf(0.0), leaf(1.0)], FORMAT_VERSION),
        ),
        (
            "child past end",
            raw_forest(1, vec![split(0, 2), leaf(0.0), leaf(1.0)], FORMAT_VERSION),
        ),
        (
            "self loop",
            raw_forest(1, vec![split(0, 0), leaf(0.0)], FORMAT_VERSION),
        ),
        ("leaf value", raw_forest(1, vec![leaf(1.5)], FORMAT_VERSION)),
        (
            "nan leaf",
            raw_forest(1, vec![leaf(f32::NAN)], FORMAT_VERSION),
        ),
        (
            "zero features",
            raw_forest(0, vec![leaf(0.5)], FORMAT_VERSION),
        ),
    ];
    for (what, bytes) in cases {
        assert!(
            matches!(Forest::from_bytes(&bytes), Err(ForestError::Corrupt(_))),
            "{what} accepted"
        );
    }
}

#[test]
fn each_invalid_parameter_is_rejected_by_name() {
    let base = ForestParams::default;
    let cases: Vec<(&str, ForestParams)> = vec![
        (
            "n_trees",
            ForestParams(ForestValidParams {
                n_trees: 0,
                ..base().0
            }),
        ),
        (
            "max_depth",
            ForestParams(ForestValidParams {
                max_depth: Some(0),
                ..base().0
            }),
        ),
        (
            "min_samples_leaf",
            ForestParams(ForestValidParams {
                min_samples_leaf: 0,
                ..base().0
            }),
        ),
        (
            "max_bins",
            ForestParams(ForestValidParams {
                max_bins: 1,
                ..base().0
            }),
        ),
        (
            "max_bins",
            ForestParams(ForestValidParams {
                max_bins: 256,
                ..base().0
            }),
        ),
        (
            "max_features",
            ForestParams(ForestValidParams {
                max_features: MaxFeatures::Fraction(0.0),
                ..base().0
            }),
        ),
        (
            "max_features",
            ForestParams(ForestValidParams {
                max_features: MaxFeatures::Fraction(1.5),
                ..base().0
            }),
        ),
        (
            "max_features",
            ForestParams(ForestValidParams {
                max_features: MaxFeatures::Fraction(f32::NAN),
                ..base().0
            }),
        ),
        (
            "max_features",
            ForestParams(ForestValidParams {
                max_features: MaxFeatures::Count(0),
                ..base().0
            }),
        ),
        (
            "class_weight",
            ForestParams(ForestValidParams {
                class_weight: ClassWeight::Custom { yes: 0.0 },
                ..base().0
            }),
        ),
        (
            "class_weight",
            ForestParams(ForestValidParams {
                class_weight: ClassWeight::Custom { yes: -1.0 },
                ..base().0
            }),
        ),
        (
            "class_weight",
            ForestParams(ForestValidParams {
                class_weight: ClassWeight::Custom { yes: f32::INFINITY },
                ..base().0
            }),
        ),
        (
            "n_threads",
            ForestParams(ForestValidParams {
                n_threads: Some(0),
                ..base().0
            }),
        ),
    ];
    for (field, params) in cases {
        for err in [
            params.check_ref().map(|_| ()),
            params.clone().check().map(|_| ()),
        ] {
            match err {
                Err(e @ ForestError::InvalidParam { field: f, .. }) => {
                    assert_eq!(f, field);
                    assert!(e.to_string().contains(field), "{e}");
                }
                other => panic!("{field}: expected InvalidParam, got {other:?}"),
            }
        }
    }
    // Boundary values are accepted.
    for ok in [
        ForestParams(ForestValidParams {
            max_bins: 2,
            ..base().0
        }),
        ForestParams(ForestValidParams {
            max_bins: 255,
            ..base().0
        }),
        ForestParams(ForestValidParams {
            max_features: MaxFeatures::Fraction(1.0),
            ..base().0
        }),
        ForestParams(ForestValidParams {
            max_depth: Some(1),
            ..base().0
        }),
        ForestParams(ForestValidParams {
            class_weight: ClassWeight::Custom { yes: 3.0 },
            ..base().0
        }),
    ] {
        assert!(ok.check().is_ok());
    }
}

#[test]
fn bad_input_is_rejected_and_one_class_is_fine() {
    let p = check(ForestParams::default());
    let o = FitOptions::default();
    assert!(matches!(
        p.fit_matrix(&[], 2, &[], &o),
        Err(ForestError::EmptyData(_))
    ));
    assert!(matches!(
        p.fit_matrix(&[1.0], 0, &[true], &o),
        Err(ForestError::EmptyData(_))
    ));
    assert!(matches!(
        p.fit_matrix(&[1.0, 2.0, 3.0], 2, &[true, false], &o),
        Err(ForestError::ShapeMismatch { .. })
    ));
    let x = [1.0, 2.0, 3.0, f32::NEG_INFINITY, 5.0, 6.0];
    match p.fit_matrix(&x, 2, &[true, false, true], &o) {
        Err(
            e @ ForestError::NonFinite {
                row: 1, column: 1, ..
            },
        ) => {
            assert!(e.to_string().contains("row 1, column 1"), "{e}");
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
    for label in [false, true] {
        let forest = fit(
            ForestParams(ForestValidParams {
                n_trees: 3,
                ..ForestValidParams::default()
            }),
            &x,
            2,
            &[label; 50],
        );
        let expected = if label { 1.0 } else { 0.0 };
        assert!(forest.predict_proba(&x, 2).iter().all(|&p| p == expected));
    }
}

#[test]
fn cancellation_and_progress() {
    let (x, y) = noisy_data(500, 3);
    let p = check(ForestParams(ForestValidParams {
        n_trees: 8,
        ..ForestValidParams::default()
    }));
    let calls = AtomicUsize::new(0);
    let last = AtomicUsize::new(0);
    let progress = |done: usize, total: usize| {
        assert_eq!(total, 8);
        calls.fetch_add(1, Ordering::Relaxed);
        last.fetch_max(done, Ordering::Relaxed);
    };
    let opts = FitOptions {
        on_tree_done: Some(&progress),
        cancel: None,
    };
    assert_eq!(p.fit_matrix(&x, 6, &y, &opts).expect("fits").n_trees(), 8);
    assert_eq!(calls.load(Ordering::Relaxed), 8);
    assert_eq!(last.load(Ordering::Relaxed), 8);

    let cancel = AtomicBool::new(true);
    let opts = FitOptions {
        on_tree_done: None,
        cancel: Some(&cancel),
    };
    assert!(matches!(
        p.fit_matrix(&x, 6, &y, &opts),
        Err(ForestError::Cancelled)
    ));

    // Cancelling from the progress callback stops the remaining trees.
    let cancel = AtomicBool::new(false);
    let stop = |_: usize, _: usize| cancel.store(true, Ordering::Relaxed);
    let single = check(ForestParams(ForestValidParams {
        n_trees: 50,
        n_threads: Some(1),
        ..ForestValidParams::default()
    }));
    let opts = FitOptions {
        on_tree_done: Some(&stop),
        cancel: Some(&cancel),
    };
    assert!(matches!(
        single.fit_matrix(&x, 6, &y, &opts),
        Err(ForestError::Cancelled)
    ));
}

#[test]
fn probabilities_are_in_range_and_importances_sum_to_one() {
    let (x, y) = noisy_data(2000, 4);
    let forest = fit(
        ForestParams(ForestValidParams {
            n_trees: 25,
            seed: 9,
            ..ForestValidParams::default()
        }),
        &x,
        6,
        &y,
    );
    assert_eq!(forest.n_trees(), 25);
    assert_eq!(forest.n_features(), 6);
    let probs = forest.predict_proba(&x, 6);
    assert_eq!(probs.len(), 2000);
    assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)));
    for (row, p) in x.chunks(6).zip(&probs).take(50) {
        assert_eq!(forest.predict_proba_row(row), *p);
    }
    let imp = forest.feature_importance();
    assert_eq!(imp.len(), 6);
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(imp.iter().all(|&v| v >= 0.0));
    // The informative features dominate the noise.
    assert!(
        imp[0] > imp[3] && imp[1] > imp[3] && imp[2] > imp[3],
        "{imp:?}"
    );
}

#[test]
fn forest_generalises_on_held_out_data() {
    let (x, y) = noisy_data(4000, 5);
    let (train_x, test_x) = x.split_at(3000 * 6);
    let (train_y, test_y) = y.split_at(3000);
    let forest = fit(
        ForestParams(ForestValidParams {
            n_trees: 50,
            ..ForestValidParams::default()
        }),
        train_x,
        6,
        train_y,
    );
    let probs = forest.predict_proba(test_x, 6);
    let correct = probs
        .iter()
        .zip(test_y)
        .filter(|(p, t)| (**p >= 0.5) == **t)
        .count();
    // The labels carry 10 % noise, so ~90 % is the ceiling.
    assert!(correct as f64 / 1000.0 > 0.82, "accuracy {correct}/1000");
}

/// A deterministic two-class set with axis-aligned structure. Each feature
/// of the first `n_distinct` rows is a shuffled grid of distinct values (so
/// binning is exact and `linfa_trees`, which skips ties oddly, sees no ties);
/// later rows are uniform.
pub(super) fn grid_dataset(n: usize, n_distinct: usize, seed: u64) -> (Array2<f32>, Array1<bool>) {
    let nf = 5;
    let mut rng = Rng::for_tree(seed, 1);
    let mut x = Array2::<f32>::zeros((n, nf));
    for j in 0..nf {
        let mut grid: Vec<usize> = (0..n_distinct).collect();
        for k in (1..grid.len()).rev() {
            grid.swap(k, rng.below(k + 1));
        }
        for i in 0..n {
            x[[i, j]] = match grid.get(i) {
                Some(&g) => (g as f32 + 0.5) / n_distinct as f32,
                None => uniform(&mut rng),
            };
        }
    }
    let y = x
        .rows()
        .into_iter()
        .map(|r| (r[0] > 0.3 && r[1] < 0.6) || r[2] > 0.8)
        .collect();
    (x, y)
}

fn accuracy(pred: &Array1<bool>, truth: &Array1<bool>) -> f64 {
    pred.iter().zip(truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

#[test]
fn one_tree_matches_linfa_decision_tree_accuracy() {
    for seed in 11..19 {
        compare_with_linfa(seed);
    }
}

/// The linfa oracle's data: 250 training rows of a grid set with 250
/// distinct values, and 2,000 held-out rows.
pub(super) fn oracle_split(
    seed: u64,
) -> (Dataset<f32, bool, ndarray::Ix1>, Array2<f32>, Array1<bool>) {
    let n_train = 250;
    let (x, y) = grid_dataset(n_train + 2000, n_train, seed);
    let train = Dataset::new(
        x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(..n_train))
            .to_owned(),
        y.slice_axis(ndarray::Axis(0), ndarray::Slice::from(..n_train))
            .to_owned(),
    );
    let test_x = x
        .slice_axis(ndarray::Axis(0), ndarray::Slice::from(n_train..))
        .to_owned();
    let test_y = y
        .slice_axis(ndarray::Axis(0), ndarray::Slice::from(n_train..))
        .to_owned();
    (train, test_x, test_y)
}

/// The oracle: `linfa_trees`' Gini `DecisionTree` of `depth`, with at
/// least `leaf` rows in a leaf and twice that in a split.
pub(super) fn linfa_tree(
    train: &Dataset<f32, bool, ndarray::Ix1>,
    depth: usize,
    leaf: usize,
) -> linfa_trees::DecisionTree<f32, bool> {
    linfa_trees::DecisionTree::params()
        .split_quality(linfa_trees::SplitQuality::Gini)
        .max_depth(Some(depth))
        .min_weight_leaf(leaf as f32)
        .min_weight_split(2.0 * leaf as f32)
        .fit(train)
        .expect("tree fits")
}

fn compare_with_linfa(seed: u64) {
    let (train, test_x, test_y) = oracle_split(seed);
    for (depth, leaf) in [(3, 1), (6, 1), (10, 3)] {
        let ours = ForestParams(ForestValidParams {
            max_depth: Some(depth),
            min_samples_leaf: leaf,
            min_samples_split: 2 * leaf,
            ..one_tree().0
        })
        .fit(&train)
        .expect("forest fits");
        let theirs = linfa_tree(&train, depth, leaf);
        let ours_acc = accuracy(&ours.predict(&test_x), &test_y);
        let theirs_acc = accuracy(&theirs.predict(&test_x), &test_y);
        eprintln!("seed {seed} depth {depth}, leaf {leaf}: ours {ours_acc}, linfa {theirs_acc}");
        assert!(
            (ours_acc - theirs_acc).abs() <= 0.01,
            "seed {seed}, depth {depth}: ours {ours_acc}, linfa {theirs_acc}"
        );
        assert!(ours_acc > 0.85, "depth {depth}: {ours_acc}");
    }
}

/// Where a tree splits, down to its leaves: ours and `linfa_trees`' in one
/// form, to compare split choices rather than only accuracies.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shape {
    Leaf,
    Split {
        feature: usize,
        threshold: f32,
        left: Box<Shape>,
        right: Box<Shape>,
    },
}

impl Shape {
    /// From a flat node array as both families store it: `(feature or
    /// `LEAF`, threshold, index of the left child)`, the right child next.
    pub(super) fn from_nodes(nodes: &[(u16, f32, u32)], i: usize) -> Shape {
        let (feature, threshold, left) = nodes[i];
        if feature == LEAF {
            return Shape::Leaf;
        }
        Shape::Split {
            feature: usize::from(feature),
            threshold,
            left: Box::new(Shape::from_nodes(nodes, left as usize)),
            right: Box::new(Shape::from_nodes(nodes, left as usize + 1)),
        }
    }

    pub(super) fn from_linfa(node: &linfa_trees::TreeNode<f32, bool>) -> Shape {
        if node.is_leaf() {
            return Shape::Leaf;
        }
        let (feature, threshold, _) = node.split();
        let child = |c: &Option<Box<linfa_trees::TreeNode<f32, bool>>>| {
            Box::new(c.as_deref().map_or(Shape::Leaf, Shape::from_linfa))
        };
        let children = node.children();
        Shape::Split {
            feature,
            threshold,
            left: child(children[0]),
            right: child(children[1]),
        }
    }

    /// Panics, naming the node (`root`, `root.L`, …), where the two split
    /// the training rows `rows` of `x` differently: another feature, another
    /// partition of the rows, or a split against a leaf. Thresholds are
    /// compared by the rows they send left: when a node's rows leave a gap
    /// between two of the data set's values, linfa cuts just above the
    /// node's last row on the left and ours anywhere in the gap.
    pub(super) fn assert_same(&self, theirs: &Shape, x: &Array2<f32>, rows: &[usize], at: &str) {
        match (self, theirs) {
            (Shape::Leaf, Shape::Leaf) => {}
            (
                Shape::Split {
                    feature: f1,
                    threshold: t1,
                    left: l1,
                    right: r1,
                },
                Shape::Split {
                    feature: f2,
                    threshold: t2,
                    left: l2,
                    right: r2,
                },
            ) => {
                let (left, right): (Vec<usize>, Vec<usize>) =
                    rows.iter().partition(|&&i| x[[i, *f1]] <= *t1);
                assert!(
                    f1 == f2
                        && left.iter().all(|&i| x[[i, *f2]] <= *t2)
                        && right.iter().all(|&i| x[[i, *f2]] > *t2),
                    "{at}: ours splits x{f1} <= {t1}, linfa x{f2} <= {t2}"
                );
                assert!(!left.is_empty() && !right.is_empty(), "{at}: an empty side");
                l1.assert_same(l2, x, &left, &format!("{at}.L"));
                r1.assert_same(r2, x, &right, &format!("{at}.R"));
            }
            (ours, theirs) => panic!("{at}: ours {ours:?}, linfa {theirs:?}"),
        }
    }
}

/// Not only as accurate: one unbagged tree with every feature makes the
/// same split choices as `linfa_trees`' Gini `DecisionTree`, the same
/// feature and the same rows to each side, node by node to depth 2. At
/// depth 3, linfa-trees 0.8.1 now and then leaves a node unsplit that has
/// a clear split at the class boundary (`x1 <= 0.6`), for another seed on
/// each run (seen: 15, 16, 18), where its other runs and ours split it; the
/// node-by-node check therefore stops at depth 2, and the accuracy check
/// above covers deeper trees.
#[test]
fn one_tree_makes_linfa_decision_trees_split_choices() {
    assert_split_choices_match_linfa(|train, depth| {
        ForestParams(ForestValidParams {
            max_depth: Some(depth),
            ..one_tree().0
        })
        .fit(train)
        .expect("forest fits")
        .trees
        .swap_remove(0)
        .nodes
    });
}

/// The split-choice check both families' first tree passes: for seeds 11
/// to 18 and depths 1 and 2, the tree that `fit` grows on a grid dataset
/// (to the given depth) splits where `linfa_trees`' Gini `DecisionTree`
/// splits, node by node: the same feature and the same rows to each side.
pub(super) fn assert_split_choices_match_linfa(
    fit: impl Fn(&Dataset<f32, bool, ndarray::Ix1>, usize) -> Vec<Node>,
) {
    for seed in 11..19 {
        let (x, y) = grid_dataset(250, 250, seed);
        let train = Dataset::new(x.clone(), y);
        let rows: Vec<usize> = (0..x.nrows()).collect();
        for depth in 1..=2 {
            let ours = fit(&train, depth);
            let theirs = linfa_tree(&train, depth, 1);
            let nodes: Vec<(u16, f32, u32)> =
                ours.iter().map(|n| (n.feature, n.value, n.left)).collect();
            let shape = Shape::from_nodes(&nodes, 0);
            assert!(
                matches!(shape, Shape::Split { .. }),
                "seed {seed}: no split"
            );
            shape.assert_same(
                &Shape::from_linfa(theirs.root_node()),
                &x,
                &rows,
                &format!("seed {seed}, depth {depth}: root"),
            );
        }
    }
}

#[test]
fn linfa_traits_work_on_datasets() {
    let (x, y) = grid_dataset(600, 200, 12);
    let ds = Dataset::new(x.clone(), y.clone());
    // Through the unchecked params (blanket impl) and the checked ones.
    let a: Forest = ForestParams(ForestValidParams {
        n_trees: 10,
        ..ForestValidParams::default()
    })
    .fit(&ds)
    .expect("fits");
    let b: Forest = check(ForestParams(ForestValidParams {
        n_trees: 10,
        ..ForestValidParams::default()
    }))
    .fit(&ds)
    .expect("fits");
    assert_eq!(a, b);
    let pred: Array1<bool> = a.predict(&x);
    assert!(accuracy(&pred, &y) > 0.9);
    // Non-contiguous (column-major) records give the same predictions.
    let fortran = x.t().as_standard_layout().t().to_owned();
    let pred_f: Array1<bool> = a.predict(&fortran);
    assert_eq!(pred, pred_f);
    // Invalid parameters surface through `Fit` as well.
    let bad = ForestParams(ForestValidParams {
        n_trees: 0,
        ..ForestValidParams::default()
    })
    .fit(&ds);
    assert!(matches!(
        bad,
        Err(ForestError::InvalidParam {
            field: "n_trees",
            ..
        })
    ));
}

/// The unchecked params serialise as the plain object they always did
/// (stored with every model), field by field, and partial objects fill in
/// the defaults.
#[test]
fn params_keep_their_serialised_shape() {
    let stored = r#"{"n_trees":7,"max_depth":12,"min_samples_leaf":3,"min_samples_split":6,"max_features":{"Fraction":0.5},"bootstrap":false,"class_weight":{"Custom":{"yes":2.5}},"max_bins":64,"seed":42,"n_threads":null}"#;
    let p = ForestParams::default()
        .with_n_trees(7)
        .with_max_depth(Some(12))
        .with_min_samples_leaf(3)
        .with_min_samples_split(6)
        .with_max_features(MaxFeatures::Fraction(0.5))
        .with_bootstrap(false)
        .with_class_weight(ClassWeight::Custom { yes: 2.5 })
        .with_max_bins(64)
        .with_seed(42);
    assert_eq!(serde_json::to_string(&p).unwrap(), stored);
    assert_eq!(serde_json::from_str::<ForestParams>(stored).unwrap(), p);
    let bytes = postcard::to_allocvec(&p).unwrap();
    assert_eq!(postcard::from_bytes::<ForestParams>(&bytes).unwrap(), p);
    let partial: ForestParams = serde_json::from_str(r#"{"n_trees":3}"#).unwrap();
    assert_eq!(partial, ForestParams::default().with_n_trees(3));
    // Checking hands out the wrapped values themselves.
    let checked = p.check_ref().unwrap();
    assert!(std::ptr::eq(checked, &p.0));
    assert_eq!(checked.n_trees(), 7);
    assert_eq!(checked.max_bins(), 64);
    assert_eq!(p.clone().check().unwrap(), *checked);
}
