//! Parity with `linfa_trees`: one tree's accuracy and split choices
//! against its Gini `DecisionTree`, and the linfa traits on datasets.

use linfa::prelude::*;
use ndarray::{Array1, Array2};

use super::super::model::{LEAF, Node};
use super::*;
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
pub(in crate::forest) fn oracle_split(
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
pub(in crate::forest) fn linfa_tree(
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
pub(in crate::forest) fn assert_split_choices_match_linfa(
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
