//! A servable model: a learner of either family plus its calibrator, stored
//! as one blob (so the registry's SHA-256 covers both) and fully validated on
//! load. Every prediction through [`Model::predict_proba`] or
//! [`Model::predict_row`] is calibrated.
//!
//! Blob layout (postcard): `version = 3`, family byte, the learner's own
//! bytes, the calibrator, the amount maps (optional). Version 2 blobs have
//! no amount maps and load without them. Blobs from before calibration are
//! bare forests (their first byte is the forest format version, 1) and load
//! with the identity calibrator.

use serde::{Deserialize, Serialize};

use super::calibrator::Calibrator;
use crate::amounts::AmountModel;
use crate::forest::boost::Booster;
use crate::forest::{Forest, ForestError};

/// Envelope format version (a bare forest starts with 1).
const ENVELOPE_VERSION: u32 = 3;
/// The envelope before amount maps.
const ENVELOPE_V2: u32 = 2;

pub use crate::store::Family;

/// The family's byte in the blob envelope.
fn family_tag(f: Family) -> u8 {
    match f {
        Family::Forest => 0,
        Family::Boost => 1,
    }
}

/// A fitted learner of either family.
#[derive(Debug, Clone, PartialEq)]
pub enum Learner {
    Forest(Forest),
    Boost(Booster),
}

/// A learner with its calibrator.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub learner: Learner,
    pub calibrator: Calibrator,
    /// The chance of each rain amount (versions before amounts have none).
    pub amounts: Option<AmountModel>,
}

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    version: u32,
    family: u8,
    learner: &'a [u8],
    calibrator: &'a Calibrator,
    amounts: &'a Option<AmountModel>,
}

#[derive(Deserialize)]
struct EnvelopeOwned {
    version: u32,
    family: u8,
    learner: Vec<u8>,
    calibrator: Calibrator,
}

impl Model {
    pub fn family(&self) -> Family {
        match self.learner {
            Learner::Forest(_) => Family::Forest,
            Learner::Boost(_) => Family::Boost,
        }
    }

    pub fn n_features(&self) -> usize {
        match &self.learner {
            Learner::Forest(f) => f.n_features(),
            Learner::Boost(b) => b.n_features(),
        }
    }

    /// The learner's own (uncalibrated) probabilities.
    pub fn predict_raw(&self, x: &[f32], n_features: usize) -> Vec<f32> {
        match &self.learner {
            Learner::Forest(f) => f.predict_proba(x, n_features),
            Learner::Boost(b) => b.predict_proba(x, n_features),
        }
    }

    /// Calibrated probabilities for a row-major matrix.
    pub fn predict_proba(&self, x: &[f32], n_features: usize) -> Vec<f32> {
        let mut p = self.predict_raw(x, n_features);
        for v in &mut p {
            *v = self.calibrator.apply(*v);
        }
        p
    }

    /// The calibrated probability of one row (`NaN` = missing).
    pub fn predict_row(&self, row: &[f32]) -> f32 {
        let raw = match &self.learner {
            Learner::Forest(f) => f.predict_proba_row(row),
            Learner::Boost(b) => b.predict_proba_row(row),
        };
        self.calibrator.apply(raw)
    }

    pub fn feature_importance(&self) -> Vec<f64> {
        match &self.learner {
            Learner::Forest(f) => f.feature_importance(),
            Learner::Boost(b) => b.feature_importance(),
        }
    }

    /// One blob: learner and calibrator together.
    pub fn to_bytes(&self) -> Vec<u8> {
        let learner = match &self.learner {
            Learner::Forest(f) => f.to_bytes(),
            Learner::Boost(b) => b.to_bytes(),
        };
        postcard::to_allocvec(&EnvelopeRef {
            version: ENVELOPE_VERSION,
            family: family_tag(self.family()),
            learner: &learner,
            calibrator: &self.calibrator,
            amounts: &self.amounts,
        })
        .expect("postcard serialization into a Vec is infallible")
    }

    /// Decodes and validates a blob from [`Model::to_bytes`] (or a bare
    /// forest from before calibration).
    ///
    /// # Errors
    /// [`ForestError::Corrupt`] when anything fails to decode or validate,
    /// the calibrator included.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ForestError> {
        let corrupt = |m: String| ForestError::Corrupt(m);
        if bytes.first() == Some(&1) {
            return Ok(Model {
                learner: Learner::Forest(Forest::from_bytes(bytes)?),
                calibrator: Calibrator::Identity,
                amounts: None,
            });
        }
        // Version 3 is version 2's fields, then the amount maps.
        let (env, rest): (EnvelopeOwned, _) = postcard::take_from_bytes(bytes)
            .map_err(|e| corrupt(format!("cannot decode the model envelope: {e}")))?;
        let (amounts, rest) = match env.version {
            ENVELOPE_VERSION => postcard::take_from_bytes::<Option<AmountModel>>(rest)
                .map_err(|e| corrupt(format!("cannot decode the amount maps: {e}")))?,
            ENVELOPE_V2 => (None, rest),
            v => {
                return Err(corrupt(format!(
                    "model envelope version {v} (expected {ENVELOPE_V2} or {ENVELOPE_VERSION})"
                )));
            }
        };
        if !rest.is_empty() {
            return Err(corrupt(format!("{} trailing bytes", rest.len())));
        }
        if let Some(a) = &amounts {
            a.validate()
                .map_err(|e| corrupt(format!("amount maps: {e}")))?;
        }
        let learner = match env.family {
            0 => Learner::Forest(Forest::from_bytes(&env.learner)?),
            1 => Learner::Boost(Booster::from_bytes(&env.learner)?),
            other => return Err(corrupt(format!("unknown model family {other}"))),
        };
        env.calibrator
            .validate()
            .map_err(|e| corrupt(format!("calibrator: {e}")))?;
        Ok(Model {
            learner,
            calibrator: env.calibrator,
            amounts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::{FitOptions, ForestValidParams};

    fn forest() -> Forest {
        let x: Vec<f32> = (0..200).map(|i| (i % 17) as f32).collect();
        let y: Vec<bool> = (0..100).map(|i| (i * 2 % 17) > 8).collect();
        ForestValidParams {
            n_trees: 2,
            ..ForestValidParams::default()
        }
        .fit_matrix(&x, 2, &y, &FitOptions::default())
        .unwrap()
    }

    /// What a database from before amounts holds: the same envelope at
    /// version 2, without the amount maps. It loads, with no amounts, and
    /// predicts as it did.
    #[test]
    fn version_2_blobs_load_without_amounts() {
        let f = forest();
        let calibrator = Calibrator::Platt { a: 1.0, b: 0.1 };
        #[derive(Serialize)]
        struct V2<'a> {
            version: u32,
            family: u8,
            learner: &'a [u8],
            calibrator: &'a Calibrator,
        }
        let bytes = postcard::to_allocvec(&V2 {
            version: 2,
            family: 0,
            learner: &f.to_bytes(),
            calibrator: &calibrator,
        })
        .unwrap();
        let m = Model::from_bytes(&bytes).unwrap();
        assert_eq!(m.amounts, None);
        assert_eq!(m.calibrator, calibrator);
        let now = Model {
            learner: Learner::Forest(f),
            calibrator,
            amounts: None,
        };
        assert_eq!(m.predict_row(&[3.0, 9.0]), now.predict_row(&[3.0, 9.0]));
        // Version 3 with no maps round-trips; a version 2 body with bytes
        // after it, or an unknown version, is refused.
        assert_eq!(Model::from_bytes(&now.to_bytes()).unwrap(), now);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Model::from_bytes(&trailing).is_err());
        let mut v9 = bytes;
        v9[0] = 9;
        let err = Model::from_bytes(&v9).unwrap_err().to_string();
        assert!(err.contains("version 9"), "{err}");
    }
}
