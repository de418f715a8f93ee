//! Training, registration and the champion rule against real SQLite files.

use super::*;
use crate::config::ModelConfig;
use crate::features::N_FEATURES;
use crate::registry::{RegistryError, load, promote, rollback};
use crate::train::synth;
use std::time::Duration;

fn store_with_data() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("r.db"), Duration::from_secs(5)).unwrap();
    store
        .upsert_observations(&synth::series(&["Sydney", "Darwin"], 1500, 3), "synth")
        .unwrap();
    (dir, store)
}

/// The forest alone.
fn cfg(n_trees: usize, max_depth: usize, seed: u64) -> ModelConfig {
    ModelConfig {
        n_trees,
        max_depth,
        seed,
        test_months: 6,
        tune_months: 6,
        boost: false,
        ..ModelConfig::default()
    }
}

/// Boosting alongside a deliberately weak forest (one stump).
fn boost_cfg(seed: u64) -> ModelConfig {
    ModelConfig {
        boost: true,
        boost_max_iter: 60,
        boost_learning_rate: 0.2,
        ..cfg(1, 1, seed)
    }
}

fn train(store: &Store, c: &ModelConfig) -> TrainReport {
    train_and_register(
        store,
        c,
        WindowOverride::default(),
        None,
        &|_| {},
        &|_, _| {},
        &AtomicBool::new(false),
    )
    .unwrap()
}

#[test]
fn champion_challenger_rollback_and_corruption() {
    let (_dir, store) = store_with_data();
    // A weak first model is promoted: there is no champion yet.
    let weak = cfg(1, 1, 1);
    let v1 = train(&store, &weak);
    assert!(v1.promoted, "{}", v1.reason);
    assert!(v1.reason.contains("first model"));
    assert_eq!(store.champion_version().unwrap(), Some(v1.version));

    // A stronger challenger beats it on the same window and is promoted.
    let v2 = train(&store, &cfg(60, 0, 2));
    assert!(v2.promoted, "{}", v2.reason);
    assert!(v2.f1 > v1.f1);
    assert_eq!(
        v2.champion_f1_same_window.map(|f| (f * 1e9).round()),
        Some((v1.f1 * 1e9).round())
    );
    assert_eq!(store.champion_version().unwrap(), Some(v2.version));

    // A worse challenger is kept out, and the decision is recorded.
    let v3 = train(&store, &weak);
    assert!(!v3.promoted);
    assert_eq!(store.champion_version().unwrap(), Some(v2.version));
    let s3 = store.model_summary(v3.version).unwrap();
    assert_eq!(s3.decision, Some(Verdict::KeptOut));
    assert!(s3.decision_reason.unwrap().contains("does not beat"));

    // Rollback restores the previous champion, recorded with actor and reason.
    let d = rollback(&store, "v2 misbehaves", "tester").unwrap();
    assert_eq!(d.version, v1.version);
    assert_eq!(store.champion_version().unwrap(), Some(v1.version));
    assert_eq!(store.deployments().unwrap()[0].actor, "tester");

    // A corrupted blob is refused; the champion stays.
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE model_versions SET blob = zeroblob(100) WHERE version = ?1",
                [v2.version],
            )?;
            Ok(())
        })
        .unwrap();
    let err = promote(&store, v2.version, "try", "tester").unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
    assert_eq!(store.champion_version().unwrap(), Some(v1.version));

    // Serving refuses it too and keeps the good model.
    let serving = crate::serving::Serving::default();
    assert_eq!(serving.refresh(&store).unwrap(), Some(v1.version));
    store.deploy(v2.version, "forced", "tester").unwrap();
    assert_eq!(serving.refresh(&store).unwrap(), Some(v1.version));
    assert_eq!(serving.get().unwrap().version, v1.version);
    assert_eq!(serving.refused().map(|r| r.0), Some(v2.version));
}

#[test]
fn the_champion_rule_works_across_families() {
    let (_dir, store) = store_with_data();
    // A forest champion (a stump: weak).
    let v1 = train(&store, &cfg(1, 1, 1));
    assert_eq!(v1.family, Family::Forest);
    assert_eq!(v1.families.len(), 1);
    // Both families fitted; boosting wins within the run, then beats the
    // forest champion re-scored on the same test window.
    let v2 = train(&store, &boost_cfg(2));
    assert_eq!(v2.families.len(), 2);
    assert_eq!(v2.family, Family::Boost, "{:?}", v2.families);
    assert!(v2.promoted, "{}", v2.reason);
    assert!(v2.reason.contains("(boost)") && v2.reason.contains("(forest,"));
    let loaded = load(&store, v2.version).unwrap();
    assert_eq!(loaded.family(), "boost");
    let s2 = store.model_summary(v2.version).unwrap();
    assert_eq!(s2.metrics.family, Some(Family::Boost));
    // A forest challenger must beat the boosting champion by the margin:
    // the same stump does not.
    let v3 = train(&store, &cfg(1, 1, 3));
    assert!(!v3.promoted, "{}", v3.reason);
    assert!(v3.reason.contains("(forest)") && v3.reason.contains("(boost,"));
    assert_eq!(store.champion_version().unwrap(), Some(v2.version));
    // A strong forest with the margin set impossibly high is kept out too,
    // and one with a negative margin (any F1 within 1.0) is promoted.
    let v4 = train(
        &store,
        &ModelConfig {
            promotion_margin: 1.0,
            ..cfg(30, 0, 4)
        },
    );
    assert!(!v4.promoted);
    let v5 = train(
        &store,
        &ModelConfig {
            promotion_margin: -1.0,
            ..cfg(30, 0, 5)
        },
    );
    assert!(v5.promoted, "{}", v5.reason);
    assert_eq!(load(&store, v5.version).unwrap().family(), "forest");
}

#[test]
fn every_version_stores_its_calibrator_reliability_and_station_skill() {
    let (_dir, store) = store_with_data();
    let v = train(&store, &boost_cfg(7));
    let m = load(&store, v.version).unwrap();
    assert_ne!(m.model.calibrator.method(), "none");
    let s = store.model_summary(v.version).unwrap();
    let cal = s
        .metrics
        .calibration
        .as_ref()
        .expect("calibration recorded");
    assert_eq!(cal.reliability.len(), 10);
    // Boosting's calibrator keeps the booster's level on the tune window.
    assert_eq!(s.metrics.family(), crate::store::Family::Boost);
    assert!(cal.level_kept, "{cal:?}");
    let n: u64 = cal.reliability.iter().map(|b| b.n).sum();
    assert_eq!(n, s.metrics.test.n);
    for v in [
        cal.mean_forecast,
        cal.observed_frequency,
        cal.brier_raw,
        cal.brier_calibrated,
    ] {
        assert!(v.is_finite(), "{cal:?}");
    }
    let rows = s.train_window.rows;
    assert!(rows.train > 1000, "{rows:?}");
    assert_eq!(rows.test, s.metrics.test.n);
    let stations = s.metrics.stations.as_ref().expect("station skill recorded");
    assert_eq!(stations.len(), 2);
    for st in stations {
        assert!(st.rows > 0);
        assert!(st.brier.is_finite() && st.roc_auc.is_some());
    }
    // The served probability is the calibrated one.
    let row = [0.5f32; N_FEATURES];
    let raw = match &m.model.learner {
        crate::registry::model::Learner::Forest(f) => f.predict_proba_row(&row),
        crate::registry::model::Learner::Boost(b) => b.predict_proba_row(&row),
    };
    assert_eq!(m.predict(&row) as f32, m.model.calibrator.apply(raw));
}

#[test]
fn a_corrupted_calibrator_is_refused() {
    let (_dir, store) = store_with_data();
    let v = train(&store, &cfg(3, 4, 9)).version;
    let good = load(&store, v).unwrap().model;
    // A calibrator that decreases, in a blob whose hash is recomputed:
    // the hash passes, validation refuses it.
    let mut bad = good.clone();
    bad.calibrator = crate::registry::calibrator::Calibrator::Isotonic {
        x: vec![0.1, 0.9],
        y: vec![0.9, 0.1],
    };
    let blob = bad.to_bytes();
    let sha = sha256_hex(&blob);
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE model_versions SET blob = ?1, blob_sha256 = ?2 WHERE version = ?3",
                rusqlite::params![blob, sha, v],
            )?;
            Ok(())
        })
        .unwrap();
    let err = load(&store, v).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("calibrator"), "{err}");
    // A flipped byte in the calibrator's tail fails the hash first.
    let mut blob = good.to_bytes();
    let last = blob.len() - 2;
    blob[last] ^= 0x40;
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE model_versions SET blob = ?1, blob_sha256 = ?2 WHERE version = ?3",
                rusqlite::params![blob, sha256_hex(&good.to_bytes()), v],
            )?;
            Ok(())
        })
        .unwrap();
    let err = load(&store, v).unwrap_err().to_string();
    assert!(err.contains("SHA-256"), "{err}");
}

#[test]
fn a_tampered_blob_fails_the_hash_check() {
    let (_dir, store) = store_with_data();
    let v = train(&store, &cfg(3, 4, 9)).version;
    store
        .with_conn(|c| {
            // Same length, one byte changed: only the hash catches it.
            c.execute(
                "UPDATE model_versions SET blob = CAST(substr(blob, 1, 10) || X'FF' || substr(blob, 12) AS BLOB) WHERE version = ?1",
                [v],
            )?;
            Ok(())
        })
        .unwrap();
    let err = load(&store, v).unwrap_err().to_string();
    assert!(err.contains("SHA-256"), "{err}");
}

#[test]
fn training_on_an_empty_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("e.db"), Duration::from_secs(5)).unwrap();
    let err = train_and_register(
        &store,
        &cfg(2, 2, 1),
        WindowOverride::default(),
        None,
        &|_| {},
        &|_, _| {},
        &AtomicBool::new(false),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("no observations"), "{err}");
}

/// The amount maps and the per-issue skill read the train window's own
/// per-station monthly climatology. (The train window's labels were once
/// moved out before evaluation, so both saw an empty window: every station's
/// amounts fell back to rough Australian rates, and the issues' skill was
/// scored against a constant 0.224.)
#[test]
fn amounts_and_issue_skill_read_the_train_windows_climatology() {
    let (_dir, store) = store_with_data();
    let v = train(&store, &cfg(5, 0, 4));
    let m = load(&store, v.version).unwrap();
    let amounts = m.model.amounts.as_ref().expect("amount maps");
    let fallback = [0.3f32, 0.22, 0.16, 0.09, 0.05, 0.03, 0.015, 0.004];
    for loc in ["Sydney", "Darwin"] {
        let c = amounts.climatology(loc, 1).0;
        assert!(
            c.iter().zip(fallback).any(|(a, b)| (a - b).abs() > 0.01),
            "{loc}: {c:?}"
        );
    }
    let s = store.model_summary(v.version).unwrap();
    let issues = &s.metrics.calibration.as_ref().unwrap().issues;
    assert_eq!(issues.len(), crate::issue::ISSUES.len());
    for i in issues {
        let f = i.observed_frequency;
        let constant = f * (1.0 - f) + (f - 0.224) * (f - 0.224);
        assert!(
            (i.climatology_brier - constant).abs() > 1e-6,
            "{}: {} is the constant forecast's Brier",
            i.issue,
            i.climatology_brier
        );
    }
}
