//! Parameters: each invalid one rejected by name, and the serialised shape
//! of the unchecked parameters.

use super::*;
#[test]
fn each_invalid_parameter_is_rejected_by_name() {
    let cases: Vec<(BoostParams, &str)> = vec![
        (
            BoostParams(BoostValidParams {
                max_iter: 0,
                ..BoostValidParams::default()
            }),
            "max_iter",
        ),
        (
            BoostParams(BoostValidParams {
                learning_rate: 0.0,
                ..BoostValidParams::default()
            }),
            "learning_rate",
        ),
        (
            BoostParams(BoostValidParams {
                max_leaf_nodes: 1,
                ..BoostValidParams::default()
            }),
            "max_leaf_nodes",
        ),
        (
            BoostParams(BoostValidParams {
                l2: -1.0,
                ..BoostValidParams::default()
            }),
            "l2",
        ),
        (
            BoostParams(BoostValidParams {
                subsample: 1.5,
                ..BoostValidParams::default()
            }),
            "subsample",
        ),
        (
            BoostParams(BoostValidParams {
                colsample: 0.0,
                ..BoostValidParams::default()
            }),
            "colsample",
        ),
        (
            BoostParams(BoostValidParams {
                max_bins: 1,
                ..BoostValidParams::default()
            }),
            "max_bins",
        ),
        (
            BoostParams(BoostValidParams {
                bag: 0,
                ..BoostValidParams::default()
            }),
            "bag",
        ),
        (
            BoostParams(BoostValidParams {
                bag: 17,
                ..BoostValidParams::default()
            }),
            "bag",
        ),
    ];
    for (p, name) in cases {
        match p.check() {
            Err(ForestError::InvalidParam { field, .. }) => assert_eq!(field, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// As the forest's: the unchecked params serialise as the plain object they
/// always did, and checking hands out the wrapped values.
#[test]
fn params_keep_their_serialised_shape() {
    let stored = r#"{"max_iter":40,"learning_rate":0.25,"max_leaf_nodes":15,"max_depth":6,"min_samples_leaf":10,"min_hessian_leaf":0.5,"l2":2.0,"subsample":0.75,"colsample":0.5,"early_stopping_rounds":0,"bag":2,"refit":true,"max_bins":128,"categorical":[38,39],"seed":9,"n_threads":2}"#;
    let p = BoostParams::default()
        .with_max_iter(40)
        .with_learning_rate(0.25)
        .with_max_leaf_nodes(15)
        .with_max_depth(Some(6))
        .with_min_samples_leaf(10)
        .with_min_hessian_leaf(0.5)
        .with_l2(2.0)
        .with_subsample(0.75)
        .with_colsample(0.5)
        .with_early_stopping_rounds(0)
        .with_bag(2)
        .with_refit(true)
        .with_max_bins(128)
        .with_categorical(FeatureSet::try_from(vec![39, 38]).unwrap())
        .with_seed(9)
        .with_n_threads(Some(2));
    assert_eq!(serde_json::to_string(&p).unwrap(), stored);
    assert_eq!(serde_json::from_str::<BoostParams>(stored).unwrap(), p);
    let partial: BoostParams = serde_json::from_str(r#"{"max_iter":3}"#).unwrap();
    assert_eq!(partial, BoostParams::default().with_max_iter(3));
    // Versions stored before bagging and refitting existed read as one model, no refit.
    assert_eq!((partial.0.bag, partial.0.refit), (1, false));
    // And before categorical splits, as no categorical feature.
    assert_eq!(partial.0.categorical, FeatureSet::default());
    let checked = p.check_ref().unwrap();
    assert!(std::ptr::eq(checked, &p.0));
    assert_eq!(checked.max_iter(), 40);
    assert_eq!(p.clone().check().unwrap(), *checked);
}
