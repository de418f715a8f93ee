//! Categorical splits: a set of categories on one side, the same routing for
//! binned training rows and raw rows, what is not a category, the stored
//! format (version 2, and version 1 still read), and corruption.

use serde::Serialize;

use super::tree::{CATEGORICAL, MISSING_LEFT};
use super::*;
use crate::forest::rng::Rng;

fn params(categorical: &[usize]) -> BoostValidParams {
    BoostValidParams {
        max_iter: 1,
        learning_rate: 1.0,
        max_leaf_nodes: 2,
        min_samples_leaf: 1,
        min_hessian_leaf: 0.0,
        l2: 1.0,
        early_stopping_rounds: 0,
        categorical: FeatureSet::try_from(categorical.to_vec()).unwrap(),
        ..BoostValidParams::default()
    }
}

/// Category c (0..8), 150 rows each (a split only orders categories with
/// at least 100 rows in the node), rains exactly when c is 1, 4 or 6: no
/// threshold on c separates that, a set does.
fn scattered() -> (Vec<f32>, Vec<bool>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for c in 0..8u8 {
        for _ in 0..150 {
            x.push(f32::from(c));
            y.push(matches!(c, 1 | 4 | 6));
        }
    }
    (x, y)
}

fn fit_on(x: &[f32], y: &[bool], p: BoostValidParams) -> Booster {
    p.fit_matrix(x, 1, y, None, &FitOptions::default()).unwrap()
}

#[test]
fn one_split_sends_a_set_of_categories_left() {
    let (x, y) = scattered();
    let fit = |p: BoostValidParams| fit_on(&x, &y, p);
    let b = fit(params(&[0]));
    let root = b.trees[0].nodes[0];
    assert_eq!(root.flags & CATEGORICAL, CATEGORICAL);
    // The split separates the rainy categories exactly: every row's side
    // is pure, so one tree already puts each category on the right side of
    // one half.
    let p = b.predict_proba(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 1);
    for (c, p) in p.iter().enumerate() {
        let rains = matches!(c, 1 | 4 | 6);
        assert_eq!(*p > 0.5, rains, "category {c}: {p}");
    }
    let set = b.trees[0].sets[root.value as usize];
    let rainy = (1u64 << 1) | (1 << 4) | (1 << 6);
    assert!(set == rainy || set & 0xff == !rainy & 0xff, "{set:#b}");
    // A category with fewer rows than that is not split off: it follows the
    // right side with the rest.
    let (mut fx, mut fy) = (x.clone(), y.clone());
    fx.extend([8.0; 60]);
    fy.extend([true; 60]);
    let few = fit_on(&fx, &fy, params(&[0]));
    let few_root = few.trees[0].nodes[0];
    assert_eq!(few_root.flags & CATEGORICAL, CATEGORICAL);
    let few_set = few.trees[0].sets[few_root.value as usize];
    assert_eq!(few_set >> 8 & 1, 0, "{few_set:#b}");
    // With enough rows, the same all-rain category joins the rainy ones.
    fx.extend([8.0; 60]);
    fy.extend([true; 60]);
    let enough = fit_on(&fx, &fy, params(&[0]));
    let enough_set = enough.trees[0].sets[enough.trees[0].nodes[0].value as usize];
    assert_eq!(enough_set >> 8 & 1, enough_set >> 1 & 1, "{enough_set:#b}");
    assert_eq!(
        enough_set >> 8 & 1,
        1,
        "the rainy side is the left one here"
    );
    // The same feature as a number cannot be split that cleanly.
    let ordinal = fit(params(&[]));
    assert_eq!(ordinal.trees[0].nodes[0].flags & CATEGORICAL, 0);
    let loss = |m: &Booster| {
        let raw: Vec<f64> = x.iter().map(|v| m.predict_raw_row(&[*v])).collect();
        log_loss(&raw, &y)
    };
    assert!(
        loss(&b) < loss(&ordinal) - 0.1,
        "{} vs {}",
        loss(&b),
        loss(&ordinal)
    );
}

#[test]
fn raw_rows_follow_the_binned_routing_and_non_categories_go_the_missing_way() {
    // A category column with gaps (0, 3, 5, 9, 40) and missing values, next
    // to a numeric one, over several trees.
    let cats = [0.0f32, 3.0, 5.0, 9.0, 40.0];
    let mut rng = Rng::for_tree(7, 0);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..3000 {
        let c = cats[rng.below(cats.len())];
        let c = if rng.below(10) == 0 { f32::NAN } else { c };
        let v = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        let rains = (c == 3.0 || c == 40.0 || c.is_nan()) ^ (v > 0.8);
        x.extend([c, v]);
        y.push(rains);
    }
    let p = BoostValidParams {
        max_iter: 20,
        learning_rate: 0.3,
        max_leaf_nodes: 8,
        min_samples_leaf: 5,
        categorical: FeatureSet::try_from(vec![0]).unwrap(),
        ..BoostValidParams::default()
    };
    let data = BinnedMatrix::new(&x, 2, 255);
    let b = p
        .fit_binned(&data, &y, None, &FitOptions::default())
        .unwrap();
    assert!(
        b.trees
            .iter()
            .any(|t| t.nodes.iter().any(|n| n.flags & CATEGORICAL != 0)),
        "no categorical split was made"
    );
    // Grow one tree on two rows in three, routing the third along: every
    // row, in-sample or not, lands in the leaf that the stored tree sends
    // its raw values to (out-of-sample rows include codes and missing
    // values a node never saw in-sample).
    let cfg = tree::GrowConfig {
        max_leaves: 8,
        max_depth: usize::MAX,
        min_leaf: 5,
        min_hessian: 1e-3,
        l2: 1.0,
        learning_rate: 0.3,
        categorical: 1,
    };
    let (mut rows, mut oob): (Vec<u32>, Vec<u32>) = (0..y.len() as u32).partition(|r| r % 3 != 0);
    let gh: Vec<[f32; 2]> = rows
        .iter()
        .map(|&r| [0.5 - f32::from(u8::from(y[r as usize])), 0.25])
        .collect();
    let features = [0usize, 1];
    let layout = super::hist::Layout::new(&data, &features);
    let grown = tree::grow(
        &data,
        tree::Sample {
            rows: &mut rows,
            gh: &gh,
            oob: &mut oob,
        },
        &features,
        &layout,
        &cfg,
        &mut tree::Scratch::default(),
    );
    assert!(grown.leaves.len() > 2, "{} leaves", grown.leaves.len());
    let mut seen = vec![0u8; y.len()];
    for leaf in &grown.leaves {
        for &r in rows[leaf.rows.clone()].iter().chain(&oob[leaf.oob.clone()]) {
            let r = r as usize;
            seen[r] += 1;
            assert_eq!(
                grown.tree.predict(&x[2 * r..2 * r + 2]),
                leaf.value,
                "row {r}"
            );
        }
    }
    assert!(seen.iter().all(|&k| k == 1), "a row in no leaf or in two");
    // A value that is not a category (a fraction, a negative, 64 and above)
    // goes where missing values go.
    for t in &b.trees {
        for v in [0.5f32, -1.0, 64.0, 1e9] {
            assert_eq!(t.predict(&[v, 0.3]), t.predict(&[f32::NAN, 0.3]), "{v}");
        }
        // A category never seen (2, 4, 20, 63) shares the bin of the
        // nearest one seen (3, 3, 9, 40), as training rows with it would.
        for (unseen, seen) in [(2.0f32, 3.0f32), (4.0, 3.0), (20.0, 9.0), (63.0, 40.0)] {
            assert_eq!(
                t.predict(&[unseen, 0.3]),
                t.predict(&[seen, 0.3]),
                "{unseen}"
            );
        }
    }
}

#[test]
fn values_that_are_not_categories_are_refused_before_training() {
    let p = params(&[1]);
    let ok = [1.0f32, 0.0, 2.0, 63.0, 3.0, f32::NAN];
    assert!(p.check_categories(&ok, 2).is_ok());
    for (bad, what) in [(2.5f32, "2.5"), (64.0, "64"), (-1.0, "-1")] {
        let x = [1.0f32, 0.0, 2.0, bad];
        let err = p
            .fit_matrix(&x, 2, &[false, true], None, &FitOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("categorical") && err.contains("row 1") && err.contains(what),
            "{err}"
        );
    }
    let err = params(&[5])
        .fit_matrix(&[1.0, 2.0], 2, &[true], None, &FitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("feature 5") && err.contains("2 features"),
        "{err}"
    );
    // Validation rows are checked too.
    let valid = Validation {
        x: &[1.0, 0.25],
        y: &[true],
    };
    let err = p
        .fit_matrix(
            &ok,
            2,
            &[true, false, true],
            Some(valid),
            &FitOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("0.25"), "{err}");
    // And the set itself, as stored settings.
    let err = serde_json::from_str::<BoostParams>(r#"{"categorical":[70]}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("feature 70 cannot be categorical"), "{err}");
}

#[test]
fn categorical_models_round_trip_refuse_a_bad_set_and_old_blobs_still_load() {
    let (x, y) = scattered();
    let b = params(&[0])
        .fit_matrix(&x, 1, &y, None, &FitOptions::default())
        .unwrap();
    assert_eq!(Booster::from_bytes(&b.to_bytes()).unwrap(), b);
    assert_eq!(b.to_bytes()[0], 2, "categorical splits need format 2");
    // A categorical node naming a set that is not there.
    let mut bad = b.clone();
    bad.trees[0].nodes[0].value = 1.0;
    let err = Booster::from_bytes(&bad.to_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("categorical node 0 names set 1 of 1"), "{err}");
    let mut bad = b.clone();
    bad.trees[0].nodes[0].flags = MISSING_LEFT | 4;
    assert!(Booster::from_bytes(&bad.to_bytes()).is_err());

    // Format version 1 (before categorical splits) had no sets per tree.
    #[derive(Serialize)]
    struct V1<'a> {
        version: u32,
        n_features: u32,
        base: f64,
        trees: Vec<&'a [tree::Node]>,
        importance: &'a [f64],
    }
    let ordinal = params(&[])
        .fit_matrix(&x, 1, &y, None, &FitOptions::default())
        .unwrap();
    let v1 = postcard::to_allocvec(&V1 {
        version: 1,
        n_features: 1,
        base: ordinal.base,
        trees: ordinal.trees.iter().map(|t| t.nodes.as_slice()).collect(),
        importance: &ordinal.importance,
    })
    .unwrap();
    assert_eq!(Booster::from_bytes(&v1).unwrap(), ordinal);
    // A model without categorical splits is still written as version 1,
    // which the binary before version 2 reads.
    assert_eq!(ordinal.to_bytes(), v1);
    let mut v3 = ordinal.to_bytes();
    v3[0] = 3;
    let err = Booster::from_bytes(&v3).unwrap_err().to_string();
    assert!(err.contains("version 3 (expected 1 or 2)"), "{err}");
}
