//! Fitting: exactness on separable data, missing values, determinism across
//! thread counts, bad input, cancellation and progress, probabilities and
//! importances, and generalising to held-out data.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;
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
        ..Default::default()
    };
    assert_eq!(p.fit_matrix(&x, 6, &y, &opts).expect("fits").n_trees(), 8);
    assert_eq!(calls.load(Ordering::Relaxed), 8);
    assert_eq!(last.load(Ordering::Relaxed), 8);

    let cancel = AtomicBool::new(true);
    let opts = FitOptions {
        on_tree_done: None,
        cancel: Some(&cancel),
        ..Default::default()
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
        ..Default::default()
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
    // Scored a block of rows at a time (the last block short), each row
    // gets the bits it gets alone.
    for (row, p) in x.chunks(6).zip(&probs) {
        assert_eq!(forest.predict_proba_row(row).to_bits(), p.to_bits());
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
