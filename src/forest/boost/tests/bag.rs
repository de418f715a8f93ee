//! Bags of boosters: the average of their log-odds, appended rows binned
//! with the first rows' cuts, the served booster's refitted bag and its
//! held-out forecasts, and cross-fitting.

use super::*;
#[test]
fn an_average_scores_the_mean_of_its_models_log_odds() {
    let (x, y) = noisy_data(2000, 21);
    let (tx, _) = noisy_data(300, 22);
    let models: Vec<Booster> = (0..3)
        .map(|seed| {
            let p = BoostParams::default()
                .with_max_iter(25)
                .with_learning_rate(0.3)
                .with_subsample(0.7)
                .with_seed(seed);
            fit(p, &x, 6, &y, None)
        })
        .collect();
    let avg = Booster::average(models.clone());
    assert_eq!(
        avg.n_trees(),
        models.iter().map(Booster::n_trees).sum::<usize>()
    );
    for row in tx.chunks(6) {
        let mean = models.iter().map(|m| m.predict_raw_row(row)).sum::<f64>() / 3.0;
        let got = avg.predict_raw_row(row);
        assert!((got - mean).abs() < 1e-4, "{got} vs {mean}");
    }
    let imp = avg.feature_importance();
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // It saves and loads like any booster.
    assert_eq!(Booster::from_bytes(&avg.to_bytes()).unwrap(), avg);
    // One model averages to itself.
    assert_eq!(Booster::average(vec![models[0].clone()]), models[0]);
}

#[test]
fn appended_rows_are_binned_with_the_first_rows_cuts() {
    let (x, _) = noisy_data(500, 31);
    let (x2, _) = noisy_data(120, 32);
    let m = BinnedMatrix::from_rows(&x, 6, 32);
    let both = m.with_rows(&x2);
    assert_eq!(both.n_rows(), 620);
    for f in 0..6 {
        assert_eq!(both.cuts(f), m.cuts(f));
        assert_eq!(&both.column(f)[..500], m.column(f));
        for (r, &code) in both.column(f)[500..].iter().enumerate() {
            assert_eq!(
                code,
                crate::forest::binning::bin_value(m.cuts(f), x2[r * 6 + f])
            );
        }
    }
}

/// The served booster: early stopping fixes the size, then a bag of models
/// refitted on train and validation rows together. Held-out forecasts come
/// from the early-stopped model alone, and the result does not depend on
/// the thread count.
#[test]
fn fit_final_holds_out_the_early_stopped_forecasts_and_refits_a_bag() {
    let (x, y) = noisy_data(3000, 41);
    let (vx, vy) = noisy_data(1000, 42);
    let params = |threads| BoostValidParams {
        max_iter: 200,
        learning_rate: 0.3,
        subsample: 0.8,
        colsample: 0.8,
        early_stopping_rounds: 8,
        bag: 2,
        refit: true,
        seed: 5,
        n_threads: Some(threads),
        ..BoostValidParams::default()
    };
    let valid = Validation { x: &vx, y: &vy };
    let binned = BinnedMatrix::from_rows(&x, 6, 255);
    let run = |threads| {
        params(threads)
            .fit_final(&binned, &y, valid, &FitOptions::default())
            .unwrap()
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.model.to_bytes(), two.model.to_bytes());
    assert_eq!(one.held_out, two.held_out);
    // The held-out forecasts are the early-stopped model's own.
    let single = BoostValidParams {
        bag: 1,
        refit: false,
        ..params(2)
    }
    .fit_binned(&binned, &y, Some(valid), &FitOptions::default())
    .unwrap();
    assert_eq!(one.early_stopped_trees, single.n_trees());
    assert_eq!(one.held_out, single.predict_proba(&vx, 6));
    // Two refitted models, each sized by the row ratio 4000 / 3000.
    let each = (single.n_trees() as f64 * 4000.0 / 3000.0).round() as usize;
    assert_eq!(one.model.n_trees(), 2 * each);
    assert_ne!(one.model.to_bytes(), single.to_bytes());
    // Without refit, the bag is trained on train alone (early-stopped on the
    // validation rows), and the held-out forecasts are its own.
    let bagged = BoostValidParams {
        refit: false,
        ..params(2)
    }
    .fit_final(&binned, &y, valid, &FitOptions::default())
    .unwrap();
    assert_eq!(bagged.held_out, bagged.model.predict_proba(&vx, 6));
}

/// Cross-fitted: each model of the bag leaves out one fold of the
/// validation rows, early-stops on it and forecasts it; those forecasts are
/// the held-out ones.
#[test]
fn cross_fitting_holds_out_each_fold_from_the_model_that_forecasts_it() {
    let (x, y) = noisy_data(3000, 51);
    let (vx, vy) = noisy_data(900, 52);
    // Three blocks of 300 rows.
    let folds: Vec<u8> = (0..900).map(|r| (r / 300) as u8).collect();
    let params = |threads| BoostValidParams {
        max_iter: 200,
        learning_rate: 0.3,
        subsample: 0.8,
        early_stopping_rounds: 8,
        bag: 3,
        refit: true,
        seed: 7,
        n_threads: Some(threads),
        ..BoostValidParams::default()
    };
    let valid = Validation { x: &vx, y: &vy };
    let binned = BinnedMatrix::from_rows(&x, 6, 255);
    let run = |threads, folds: Option<&[u8]>| {
        params(threads)
            .fit_final_folds(&binned, &y, valid, folds, &FitOptions::default())
            .unwrap()
    };
    let (one, two) = (run(1, Some(&folds)), run(2, Some(&folds)));
    assert_eq!(one.model.to_bytes(), two.model.to_bytes());
    assert_eq!(one.held_out, two.held_out);
    assert!(one.held_out.iter().all(|p| (0.0..=1.0).contains(p)));
    assert!(params(2).cross_fits(&folds, 900));
    // Model 0 alone: trained without fold 0 and early-stopped on it, it
    // gives fold 0's forecasts.
    let mut kx = x.clone();
    let mut ky = y.clone();
    for r in 300..900 {
        kx.extend_from_slice(&vx[r * 6..(r + 1) * 6]);
        ky.push(vy[r]);
    }
    let m0 = BoostValidParams {
        bag: 1,
        refit: false,
        ..params(2)
    }
    .fit_binned(
        &binned.with_rows(&kx[x.len()..]),
        &ky,
        Some(Validation {
            x: &vx[..300 * 6],
            y: &vy[..300],
        }),
        &FitOptions::default(),
    )
    .unwrap();
    assert!(m0.n_trees() < 200, "fold 0 never stopped the model early");
    assert_eq!(
        &one.held_out[..300],
        &m0.predict_proba(&vx[..300 * 6], 6)[..]
    );
    // The served model holds the three models' trees; the reported size is
    // their mean.
    assert!(one.model.n_trees() >= 3 * one.early_stopped_trees);
    assert!(one.model.n_trees() < 3 * (one.early_stopped_trees + 1));
    // Folds that leave a model nothing to hold out: the plain refit.
    let plain = run(2, None);
    let lopsided = run(2, Some(&[0u8; 900]));
    assert_eq!(lopsided.held_out, plain.held_out);
    assert_eq!(lopsided.model.to_bytes(), plain.model.to_bytes());
}

/// Progress over a bag: every tree counts once, and each fit that stops
/// early (or a refit sized below `max_iter`) takes the trees it will not
/// grow off the plan at once, so the total shrinks as the fits end and the
/// last report is complete (it does not jump from a fraction to done).
#[test]
fn progress_totals_shrink_as_fits_stop_early_and_end_complete() {
    let (x, y) = noisy_data(3000, 61);
    let (vx, vy) = noisy_data(900, 62);
    let folds: Vec<u8> = (0..900).map(|r| (r / 300) as u8).collect();
    let valid = Validation { x: &vx, y: &vy };
    let binned = BinnedMatrix::from_rows(&x, 6, 255);
    for (refit, folds) in [(false, Some(&folds[..])), (true, None)] {
        let params = BoostValidParams {
            max_iter: 300,
            learning_rate: 0.3,
            early_stopping_rounds: 8,
            bag: 3,
            refit,
            seed: 9,
            n_threads: Some(1),
            ..BoostValidParams::default()
        };
        let reports = std::sync::Mutex::new(Vec::new());
        let progress = |done: usize, total: usize| reports.lock().unwrap().push((done, total));
        let fit = params
            .fit_final_folds(
                &binned,
                &y,
                valid,
                folds,
                &FitOptions {
                    on_tree_done: Some(&progress),
                    ..Default::default()
                },
            )
            .unwrap();
        let reports = reports.into_inner().unwrap();
        let planned = params.planned_trees(folds.is_some());
        assert_eq!(reports[0].1, planned);
        for w in reports.windows(2) {
            assert!(w[1].0 >= w[0].0, "done went back: {w:?}");
            assert!(w[1].1 <= w[0].1, "total grew: {w:?}");
        }
        let &(done, total) = reports.last().unwrap();
        assert_eq!(done, total, "refit {refit}: ends complete");
        assert!(total < planned / 2, "refit {refit}: {total} of {planned}");
        // Every tree grown was counted, the early-stopped ones' extra
        // rounds included.
        assert!(
            done >= fit.model.n_trees(),
            "{done} < {}",
            fit.model.n_trees()
        );
    }
}

/// Grouped: each group's booster is fitted on its own rows alone (its
/// forecasts and held-out forecasts are exactly those of a fit on the
/// group's rows), and one served model gates them on the group's feature.
#[test]
fn a_grouped_fit_serves_each_groups_own_booster() {
    // Six noisy features and a seventh naming the group, 0, 1 or 2 (4 = one
    // no group has).
    let with_group = |x: &[f32]| -> Vec<f32> {
        x.chunks(6)
            .enumerate()
            .flat_map(|(r, row)| row.iter().copied().chain([(r % 3) as f32]))
            .collect()
    };
    let (x, y) = noisy_data(3000, 71);
    let (vx, vy) = noisy_data(900, 72);
    let (x, vx) = (with_group(&x), with_group(&vx));
    let groups_of = |n: usize| (0..n).map(|r| (r % 3) as u8).collect::<Vec<u8>>();
    let (tg, vg) = (groups_of(3000), groups_of(900));
    let folds: Vec<u8> = (0..900).map(|r| (r / 300) as u8).collect();
    let params = BoostValidParams {
        max_iter: 120,
        learning_rate: 0.3,
        early_stopping_rounds: 8,
        bag: 3,
        refit: true,
        seed: 9,
        ..BoostValidParams::default()
    };
    let binned = BinnedMatrix::from_rows(&x, 7, 255);
    let valid = Validation { x: &vx, y: &vy };
    let categories = [0, 1, 2];
    let groups = Groups {
        feature: 6,
        categories: &categories,
        train: &tg,
        valid: &vg,
    };
    let opts = FitOptions::default();
    // Progress over the groups growing side by side: the count reaches the
    // total, which has shrunk to the trees grown.
    let reports = std::sync::Mutex::new(Vec::new());
    let tell = |done: usize, total: usize| reports.lock().unwrap().push((done, total));
    let grouped = params
        .fit_final_grouped(
            &binned,
            &y,
            valid,
            Some(&folds),
            groups,
            &FitOptions {
                on_tree_done: Some(&tell),
                ..opts
            },
        )
        .unwrap();
    let reports = reports.into_inner().unwrap();
    let most_done = reports.iter().map(|r| r.0).max().unwrap();
    let least_total = reports.iter().map(|r| r.1).min().unwrap();
    assert!(reports.iter().all(|&(d, t)| d <= t), "{reports:?}");
    assert_eq!(most_done, least_total);
    // Grown: the trees kept and those grown past each model's best.
    assert!(most_done + 3 >= grouped.model.n_trees());
    let pick = |of: &[u8], g: u8| -> Vec<usize> { (0..of.len()).filter(|&r| of[r] == g).collect() };
    for g in 0..3u8 {
        let (tr, vr) = (pick(&tg, g), pick(&vg, g));
        let gx: Vec<f32> = vr
            .iter()
            .flat_map(|&r| vx[r * 7..(r + 1) * 7].to_vec())
            .collect();
        let alone = params
            .fit_final_folds(
                &binned.select_rows(&tr),
                &tr.iter().map(|&r| y[r]).collect::<Vec<_>>(),
                Validation {
                    x: &gx,
                    y: &vr.iter().map(|&r| vy[r]).collect::<Vec<_>>(),
                },
                Some(&vr.iter().map(|&r| folds[r]).collect::<Vec<_>>()),
                &opts,
            )
            .unwrap();
        for (k, &r) in vr.iter().enumerate() {
            assert_eq!(grouped.held_out[r], alone.held_out[k], "group {g} row {r}");
            let row = &vx[r * 7..(r + 1) * 7];
            let (a, b) = (
                grouped.model.predict_raw_row(row),
                alone.model.predict_raw_row(row),
            );
            assert!((a - b).abs() < 1e-5, "group {g} row {r}: {a} vs {b}");
        }
    }
    // A row of no group scores the base 0 (one half); it saves and loads.
    let mut stranger = vx[..7].to_vec();
    stranger[6] = 4.0;
    assert_eq!(grouped.model.predict_raw_row(&stranger), 0.0);
    stranger[6] = f32::NAN;
    assert_eq!(grouped.model.predict_raw_row(&stranger), 0.0);
    assert_eq!(
        Booster::from_bytes(&grouped.model.to_bytes()).unwrap(),
        grouped.model
    );
    // A group with one outcome only: everything is fitted together.
    let lone_y: Vec<bool> = y.iter().zip(&tg).map(|(&t, &g)| t && g != 2).collect();
    let together = params
        .fit_final_grouped(&binned, &lone_y, valid, Some(&folds), groups, &opts)
        .unwrap();
    let joint = params
        .fit_final_folds(&binned, &lone_y, valid, Some(&folds), &opts)
        .unwrap();
    assert_eq!(together.model.to_bytes(), joint.model.to_bytes());
}
