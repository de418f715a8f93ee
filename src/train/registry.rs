//! The model registry: versions with their blobs (SHA-256 checked on load),
//! the champion/challenger decision, and manual promotion and rollback.

use std::sync::atomic::AtomicBool;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Samples, TrainError, Trained, WindowOverride, build_samples, fit_and_evaluate};
use crate::config::ModelConfig;
use crate::features::{self, N_FEATURES};
use crate::forest::Forest;
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
    pub forest: Forest,
    pub threshold: f64,
    pub summary: ModelSummary,
}

impl LoadedModel {
    pub fn predict(&self, row: &features::FeatureRow) -> f64 {
        self.forest.predict_proba_row(row) as f64
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
    let forest = Forest::from_bytes(&row.blob).map_err(|e| RegistryError::Corrupt {
        version,
        reason: e.to_string(),
    })?;
    if forest.n_features() != N_FEATURES {
        return Err(RegistryError::Corrupt {
            version,
            reason: format!(
                "the forest takes {} features, schema {} has {N_FEATURES}",
                forest.n_features(),
                features::SCHEMA_VERSION
            ),
        });
    }
    Ok(LoadedModel {
        version,
        threshold: s.threshold,
        forest,
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
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub champion_f1_same_window: Option<f64>,
    pub windows: super::Windows,
    pub rows: [usize; 3],
    pub fit_seconds: f64,
}

/// Train a challenger on everything in the store, score it and the champion on
/// the same test window, register it, and promote it if it wins. A training
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
    let obs = store.all_observations()?;
    let (first, last) = match (
        obs.iter().map(|o| o.date).min(),
        obs.iter().map(|o| o.date).max(),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(TrainError::NotEnoughData(
                "the database holds no observations; import or scrape first".into(),
            ));
        }
    };
    let samples = build_samples(&obs);
    let windows = super::windows(&samples, cfg, over)?;
    log(format!(
        "{} observations from {first} to {last}; train {}..{}, tune {}..{}, test {}..{}",
        obs.len(),
        windows.train.from,
        windows.train.to,
        windows.tune.from,
        windows.tune.to,
        windows.test.from,
        windows.test.to
    ));
    drop(obs);
    let params = cfg
        .forest_params()
        .map_err(|e| TrainError::Window(e.to_string()))?;
    let trained = fit_and_evaluate(&samples, windows, params, on_tree_done, cancel)?;
    let m = &trained.metrics;
    log(format!(
        "challenger: F1 {:.4} at threshold {:.2}, ROC AUC {:.4}, Brier {:.4} on {} test rows ({:.1} s to fit)",
        m.f1, trained.threshold, m.roc_auc, m.brier, m.n, trained.fit_seconds
    ));

    let (promote, decision, reason, champion_f1) =
        decide(store, &samples, &trained, cfg.promotion_margin, log);
    log(format!("decision: {decision}: {reason}"));

    let blob = trained.forest.to_bytes();
    let sha = sha256_hex(&blob);
    let params_json = serde_json::to_value(&trained.params).unwrap_or_default();
    let windows_json = serde_json::json!({
        "train": trained.windows.train, "tune": trained.windows.tune,
        "rows": {"train": trained.counts[0], "tune": trained.counts[1], "test": trained.counts[2]},
    });
    let test_json = serde_json::to_value(trained.windows.test).unwrap_or_default();
    let metrics_json = serde_json::json!({
        "test": trained.metrics,
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
        "registered version {version} ({} bytes){}",
        blob.len(),
        if promote { ", now the champion" } else { "" }
    ));
    Ok(TrainReport {
        version,
        promoted: promote,
        decision: decision.to_string(),
        reason,
        f1: m.f1,
        roc_auc: m.roc_auc,
        brier: m.brier,
        champion_f1_same_window: champion_f1,
        windows: trained.windows,
        rows: trained.counts,
        fit_seconds: trained.fit_seconds,
    })
}

/// Champion/challenger: both scored on the challenger's test window.
fn decide(
    store: &Store,
    samples: &Samples,
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
    let w = trained.windows.test;
    let test = samples.between(w.from, w.to);
    let probs = champion.forest.predict_proba(&test.x, N_FEATURES);
    let champ = super::metrics::evaluate(&probs, &test.y, champion.threshold);
    let challenger = trained.metrics.f1;
    log(format!(
        "champion v{} re-scored on the same window: F1 {:.4}",
        champion.version, champ.f1
    ));
    if challenger - champ.f1 > margin {
        (
            true,
            "promoted",
            format!(
                "F1 {challenger:.4} beats champion v{} ({:.4}) by more than the margin {margin}",
                champion.version, champ.f1
            ),
            Some(champ.f1),
        )
    } else {
        (
            false,
            "kept out",
            format!(
                "F1 {challenger:.4} does not beat champion v{} ({:.4}) by more than the margin {margin}",
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

    fn cfg(n_trees: usize, max_depth: usize, seed: u64) -> ModelConfig {
        ModelConfig {
            n_trees,
            max_depth,
            seed,
            test_months: 6,
            tune_months: 6,
            ..ModelConfig::default()
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
