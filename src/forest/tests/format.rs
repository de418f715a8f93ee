//! Stored forests: the round trip, corruption and damage refused or
//! harmless, and structurally invalid forests refused.

use super::super::model::{LEAF, Node};
use super::super::tree::Tree;
use super::*;
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
pub(in crate::forest) fn assert_damage_is_refused_or_harmless<M>(
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
