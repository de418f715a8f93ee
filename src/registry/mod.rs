//! The model registry: stored versions and their blobs (SHA-256 and feature
//! schema checked on load), manual promotion and rollback, and retention.
//! It sits below both training (which registers versions) and serving
//! (which loads the champion), and imports neither.

pub mod calibrator;
pub mod model;

use sha2::{Digest, Sha256};

use crate::features::{self, N_FEATURES};
use crate::store::{Deployment, ModelSummary, Store, StoreError};
use model::Model;

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
    /// The served level correction's book ([`crate::level`]).
    pub level: crate::level::Level,
}

impl LoadedModel {
    /// The model's own calibrated probability of rain, before the level
    /// correction ([`LoadedModel::chances`] gives what is served).
    pub fn predict(&self, row: &features::FeatureRow) -> f64 {
        f64::from(self.model.predict_row(row))
    }

    /// The chance of each rain amount for a forecast of calibrated headline
    /// chance `p`, made at `issue` for `location`'s `rain_day`; `None` from
    /// versions trained before amounts.
    pub fn amounts(
        &self,
        p: f64,
        location: &str,
        rain_day: chrono::NaiveDate,
        issue: crate::issue::Issue,
    ) -> Option<crate::amounts::Curve> {
        use chrono::Datelike;
        let m = self.model.amounts.as_ref()?;
        Some(m.curve(p as f32, location, rain_day.month(), issue))
    }

    /// Calibrated probabilities for a row-major matrix.
    pub fn predict_matrix(&self, x: &[f32]) -> Vec<f32> {
        self.model.predict_proba(x, N_FEATURES)
    }

    /// The served chances of a forecast whose model's own headline chance
    /// is `p`: the headline and each amount's, shifted by the level
    /// correction for `rain_day` at `issue` ([`crate::level`]). What every
    /// page, the API, the forecast log, alerts and the metrics use.
    pub fn chances(
        &self,
        p: f64,
        location: &str,
        rain_day: chrono::NaiveDate,
        issue: crate::issue::Issue,
    ) -> (f64, Option<crate::amounts::Curve>) {
        let curve = self.amounts(p, location, rain_day, issue);
        self.level.with(|b| b.apply(issue, rain_day, p, curve))
    }

    /// The first rain day the level correction's hindcasts read: the day
    /// after the anchor's last, or, for a version without one, the end of
    /// its test window (whose days the model was not fitted or tuned on).
    pub fn level_from(&self) -> chrono::NaiveDate {
        self.summary
            .metrics
            .level
            .as_ref()
            .map_or(self.summary.test_window.to, |a| {
                a.through + chrono::Days::new(1)
            })
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
        level: crate::level::Level::new(crate::level::LevelBook::new(s.metrics.level.clone())),
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

/// Retention: empty the model files of versions outside the last
/// `keep_deployed` deployed and the last `keep_challengers` never deployed
/// (see [`Store::prune_model_blobs`]). Returns the versions pruned.
pub fn prune(
    store: &Store,
    keep_deployed: u32,
    keep_challengers: u32,
) -> Result<Vec<i64>, RegistryError> {
    Ok(store.prune_model_blobs(keep_deployed, keep_challengers)?)
}
