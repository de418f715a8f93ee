//! Parameters: each invalid one rejected by name, and the serialised shape
//! of the unchecked parameters.

use linfa::ParamGuard;

use super::*;
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
