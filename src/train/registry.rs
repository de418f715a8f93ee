//! The model registry: versions with their blobs (SHA-256 checked on load),
//! the champion/challenger decision, and manual promotion and rollback.

use std::sync::atomic::AtomicBool;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::Model;
use super::{FamilyParams, SplitSamples, TrainError, Trained, WindowOverride, fit_families};
use crate::config::ModelConfig;
use crate::features::{self, N_FEATURES};
use crate::store::{Deployment, ModelSummary, NewModel, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("model version {version} is corrupt: {reason}")]
    Corrupt { version: i64, reason: String },
    #[error(
        "model version {version} uses feature schema {found}; this build serves schema {expected}"
    )]
    Incompatible {
        version: i64,
        found: i64,
        expected: i64,
    },
    #[error(
        "model version {0}'s model file was pruned by the retention policy \
         (model.keep_deployed, model.keep_challengers); its metrics are kept"
    )]
    Pruned(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A verified model, ready to serve.
#[derive(Debug)]
pub struct LoadedModel {
    pub version: i64,
    /// The learner (forest or boosting) with its calibrator.
    pub model: Model,
    /// Decision threshold, on the calibrated probability.
    pub threshold: f64,
    pub summary: ModelSummary,
}

impl LoadedModel {
    /// The calibrated probability of rain: what every page, the API, the
    /// prediction log and the metrics use.
    pub fn predict(&self, row: &features::FeatureRow) -> f64 {
        f64::from(self.model.predict_row(row))
    }

    /// Calibrated probabilities for a row-major matrix.
    pub fn predict_matrix(&self, x: &[f32]) -> Vec<f32> {
        self.model.predict_proba(x, N_FEATURES)
    }

    /// `forest` or `boost`.
    pub fn family(&self) -> &'static str {
        self.model.family().as_str()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Load a version, verifying its hash and feature schema.
pub fn load(store: &Store, version: i64) -> Result<LoadedModel, RegistryError> {
    let row = store.model(version)?;
    let s = row.summary;
    if s.feature_schema != features::SCHEMA_VERSION {
        return Err(RegistryError::Incompatible {
            version,
            found: s.feature_schema,
            expected: features::SCHEMA_VERSION,
        });
    }
    if row.blob.is_empty() {
        return Err(RegistryError::Pruned(version));
    }
    let digest = sha256_hex(&row.blob);
    if digest != s.blob_sha256 {
        return Err(RegistryError::Corrupt {
            version,
            reason: format!(
                "blob SHA-256 is {digest}, the registry recorded {}",
                s.blob_sha256
            ),
        });
    }
    let model = Model::from_bytes(&row.blob).map_err(|e| RegistryError::Corrupt {
        version,
        reason: e.to_string(),
    })?;
    drop(row.blob);
    if model.n_features() != N_FEATURES {
        return Err(RegistryError::Corrupt {
            version,
            reason: format!(
                "the model takes {} features, schema {} has {N_FEATURES}",
                model.n_features(),
                features::SCHEMA_VERSION
            ),
        });
    }
    Ok(LoadedModel {
        version,
        threshold: s.threshold,
        model,
        summary: s,
    })
}

/// The champion, loaded and verified; `Ok(None)` when nothing is deployed.
pub fn load_champion(store: &Store) -> Result<Option<LoadedModel>, RegistryError> {
    match store.champion_version()? {
        None => Ok(None),
        Some(v) => load(store, v).map(Some),
    }
}

/// Make `version` the champion by hand. The model must load cleanly first.
pub fn promote(
    store: &Store,
    version: i64,
    reason: &str,
    actor: &str,
) -> Result<Deployment, RegistryError> {
    load(store, version)?;
    Ok(store.deploy(version, reason, actor)?)
}

/// Put the previous champion back. It must load cleanly first.
pub fn rollback(store: &Store, reason: &str, actor: &str) -> Result<Deployment, RegistryError> {
    let history = store.deployments()?;
    let current = history.first().map(|d| d.version);
    if let Some(prev) = history
        .iter()
        .map(|d| d.version)
        .find(|&v| Some(v) != current)
    {
        load(store, prev)?;
    }
    Ok(store.rollback(reason, actor)?)
}

/// What a training run did, stored as its run summary.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub version: i64,
    pub promoted: bool,
    pub decision: String,
    pub reason: String,
    /// Family of the registered version (`forest` or `boost`).
    pub family: String,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub champion_f1_same_window: Option<f64>,
    pub windows: super::Windows,
    pub rows: [usize; 3],
    pub fit_seconds: f64,
    /// Every family fitted this run, on the same test window.
    pub families: Vec<FamilyResult>,
}

/// One family's result in a training run.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyResult {
    pub family: String,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub brier_raw: f64,
    pub threshold: f64,
    pub trees: usize,
    pub fit_seconds: f64,
}

impl FamilyResult {
    fn of(t: &Trained) -> Self {
        Self {
            family: t.family().as_str().into(),
            f1: t.metrics.f1,
            roc_auc: t.metrics.roc_auc,
            brier: t.metrics.brier,
            brier_raw: t.calibration.brier_raw,
            threshold: t.threshold,
            trees: t.n_trees,
            fit_seconds: t.fit_seconds,
        }
    }
}

/// The challenger among the fitted families: the best test-window F1 (the
/// champion rule's measure), the first family listed on a tie.
fn pick_challenger(mut trained: Vec<Trained>) -> (Trained, Vec<FamilyResult>) {
    let results: Vec<FamilyResult> = trained.iter().map(FamilyResult::of).collect();
    let mut best = 0;
    for (i, t) in trained.iter().enumerate() {
        if t.metrics.f1 > trained[best].metrics.f1 {
            best = i;
        }
    }
    (trained.swap_remove(best), results)
}

/// Train a challenger of every configured family on everything in the store,
/// keep the family with the best test F1, score it and the champion on the
/// same test window, register it, and promote it if it wins. A training
/// either registers a model (committed whole) or does not.
pub fn train_and_register(
    store: &Store,
    cfg: &ModelConfig,
    over: WindowOverride,
    run_id: Option<i64>,
    log: &(dyn Fn(String) + Sync),
    on_tree_done: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<TrainReport, TrainError> {
    super::lean_allocator();
    let result = train_inner(store, cfg, over, run_id, log, on_tree_done, cancel);
    // Everything the training allocated is dropped by now.
    super::release_memory();
    result
}

fn train_inner(
    store: &Store,
    cfg: &ModelConfig,
    over: WindowOverride,
    run_id: Option<i64>,
    log: &(dyn Fn(String) + Sync),
    on_tree_done: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<TrainReport, TrainError> {
    let stats = store.station_stats()?;
    let (first, last) = match (
        stats.iter().filter_map(|s| s.first).min(),
        stats.iter().filter_map(|s| s.latest).max(),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(TrainError::NotEnoughData(
                "the database holds no observations; import or scrape first".into(),
            ));
        }
    };
    let n_obs: u64 = stats.iter().map(|s| s.rows).sum();
    let windows = super::windows(&store.labelled_days()?, cfg, over)?;
    log(format!(
        "{n_obs} observations from {first} to {last}; train {}..{}, tune {}..{}, test {}..{}",
        windows.train.from,
        windows.train.to,
        windows.tune.from,
        windows.tune.to,
        windows.test.from,
        windows.test.to
    ));
    let mut split = SplitSamples::from_store(store, &windows)?;
    let families = FamilyParams::from_config(cfg)?;
    let trained = fit_families(&mut split, windows, &families, on_tree_done, cancel)?;
    for t in &trained {
        let m = &t.metrics;
        log(format!(
            "{}: F1 {:.4} at threshold {:.2}, ROC AUC {:.4}, Brier {:.4} ({:.4} before {} calibration) on {} test rows; {} trees, {:.1} s to fit",
            t.family().as_str(),
            m.f1,
            t.threshold,
            m.roc_auc,
            m.brier,
            t.calibration.brier_raw,
            t.calibration.method,
            m.n,
            t.n_trees,
            t.fit_seconds
        ));
    }
    let (trained, families) = pick_challenger(trained);
    let m = &trained.metrics;
    log(format!(
        "challenger: {} (F1 {:.4})",
        trained.family().as_str(),
        m.f1
    ));

    let (promote, decision, reason, champion_f1) =
        decide(store, &split.test, &trained, cfg.promotion_margin, log);
    log(format!("decision: {decision}: {reason}"));
    drop(split);

    let blob = trained.model.to_bytes();
    let sha = sha256_hex(&blob);
    let params_json = trained.params.clone();
    let windows_json = serde_json::json!({
        "train": trained.windows.train, "tune": trained.windows.tune,
        "rows": {"train": trained.counts[0], "tune": trained.counts[1], "test": trained.counts[2]},
    });
    let test_json = serde_json::to_value(trained.windows.test).unwrap_or_default();
    let metrics_json = serde_json::json!({
        "family": trained.family().as_str(),
        "test": trained.metrics,
        "calibration": trained.calibration,
        "stations": trained.stations,
        "families": families,
        "trees": trained.n_trees,
        "importance": trained.importance,
        "feature_names": features::NAMES.as_slice(),
        "fit_seconds": trained.fit_seconds,
        "champion_f1_same_window": champion_f1,
    });
    let version = store.register_model(
        &NewModel {
            trained_by_run: run_id,
            params: &params_json,
            feature_schema: features::SCHEMA_VERSION,
            train_window: &windows_json,
            test_window: &test_json,
            threshold: trained.threshold,
            f1: m.f1,
            roc_auc: m.roc_auc,
            brier: m.brier,
            metrics: &metrics_json,
            blob: &blob,
            blob_sha256: &sha,
        },
        decision,
        &reason,
        promote,
        "training",
    )?;
    log(format!(
        "registered version {version} ({}, {} bytes){}",
        trained.family().as_str(),
        blob.len(),
        if promote { ", now the champion" } else { "" }
    ));
    Ok(TrainReport {
        version,
        promoted: promote,
        decision: decision.to_string(),
        reason,
        family: trained.family().as_str().into(),
        f1: m.f1,
        roc_auc: m.roc_auc,
        brier: m.brier,
        champion_f1_same_window: champion_f1,
        windows: trained.windows,
        rows: trained.counts,
        fit_seconds: trained.fit_seconds,
        families,
    })
}

/// Champion/challenger: both scored, calibrated, on the challenger's test
/// window, whatever their families.
fn decide(
    store: &Store,
    test: &super::Samples,
    trained: &Trained,
    margin: f64,
    log: &(dyn Fn(String) + Sync),
) -> (bool, &'static str, String, Option<f64>) {
    let champion = match load_champion(store) {
        Ok(None) => {
            return (
                true,
                "promoted",
                "first model: no champion yet".into(),
                None,
            );
        }
        Ok(Some(c)) => c,
        Err(e) => {
            log(format!("the champion cannot be loaded: {e}"));
            return (
                true,
                "promoted",
                format!("the current champion cannot be served ({e})"),
                None,
            );
        }
    };
    let probs = champion.predict_matrix(&test.x);
    let champ = super::metrics::evaluate(&probs, &test.y, champion.threshold);
    let challenger = trained.metrics.f1;
    let (cf, hf) = (trained.family().as_str(), champion.family());
    log(format!(
        "champion v{} ({hf}) re-scored on the same window: F1 {:.4}",
        champion.version, champ.f1
    ));
    if challenger - champ.f1 > margin {
        (
            true,
            "promoted",
            format!(
                "F1 {challenger:.4} ({cf}) beats champion v{} ({hf}, {:.4}) by more than the margin {margin}",
                champion.version, champ.f1
            ),
            Some(champ.f1),
        )
    } else {
        (
            false,
            "kept out",
            format!(
                "F1 {challenger:.4} ({cf}) does not beat champion v{} ({hf}, {:.4}) by more than the margin {margin}",
                champion.version, champ.f1
            ),
            Some(champ.f1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
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
        let v2 = train(&store, &cfg(30, 0, 2));
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
        assert_eq!(s3.decision.as_deref(), Some("kept out"));
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
        assert_eq!(v1.family, "forest");
        assert_eq!(v1.families.len(), 1);
        // Both families fitted; boosting wins within the run, then beats the
        // forest champion re-scored on the same test window.
        let v2 = train(&store, &boost_cfg(2));
        assert_eq!(v2.families.len(), 2);
        assert_eq!(v2.family, "boost", "{:?}", v2.families);
        assert!(v2.promoted, "{}", v2.reason);
        assert!(v2.reason.contains("(boost)") && v2.reason.contains("(forest,"));
        let loaded = load(&store, v2.version).unwrap();
        assert_eq!(loaded.family(), "boost");
        let s2 = store.model_summary(v2.version).unwrap();
        assert_eq!(s2.metrics["family"], "boost");
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
        let cal = &s.metrics["calibration"];
        assert_eq!(cal["reliability"].as_array().unwrap().len(), 10);
        let n: u64 = cal["reliability"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["n"].as_u64().unwrap())
            .sum();
        assert_eq!(n, s.metrics["test"]["n"].as_u64().unwrap());
        for key in [
            "mean_forecast",
            "observed_frequency",
            "brier_raw",
            "brier_calibrated",
        ] {
            assert!(cal[key].as_f64().is_some(), "{key}");
        }
        let rows = &s.train_window["rows"];
        assert!(rows["train"].as_u64().unwrap() > 1000, "{rows}");
        assert_eq!(rows["test"].as_u64(), s.metrics["test"]["n"].as_u64());
        let stations = s.metrics["stations"].as_array().unwrap();
        assert_eq!(stations.len(), 2);
        for st in stations {
            assert!(st["rows"].as_u64().unwrap() > 0);
            assert!(st["brier"].as_f64().is_some() && st["roc_auc"].as_f64().is_some());
        }
        // The served probability is the calibrated one.
        let row = [0.5f32; N_FEATURES];
        let raw = match &m.model.learner {
            crate::train::model::Learner::Forest(f) => f.predict_proba_row(&row),
            crate::train::model::Learner::Boost(b) => b.predict_proba_row(&row),
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
        bad.calibrator = crate::train::calibrate::Calibrator::Isotonic {
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
}
