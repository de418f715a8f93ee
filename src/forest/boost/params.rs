//! Gradient-boosting hyperparameters, following linfa's `ParamGuard` pattern
//! like the forest's: [`BoostParams`] is the unchecked set and
//! [`BoostValidParams`] the checked one that can fit a model.

use serde::{Deserialize, Serialize};

use crate::forest::ForestError;
use crate::forest::model;
use crate::forest::params::hyperparams;

hyperparams! {
    /// Checked gradient-boosting hyperparameters: obtained only through
    /// [`linfa::ParamGuard`], they can fit a [`Booster`](super::Booster).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    pub struct BoostValidParams;

    /// Unchecked gradient-boosting hyperparameters. Check them with
    /// [`linfa::ParamGuard::check`] to get [`BoostValidParams`]. Serialises
    /// exactly as the values it wraps.
    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[serde(transparent)]
    pub struct BoostParams;
    {
        /// Most boosting iterations (one tree each), ≥ 1.
        max_iter / with_max_iter: usize,
        /// Shrinkage applied to every leaf value, in `(0, 1]`.
        learning_rate / with_learning_rate: f32,
        /// Most leaves per tree (≥ 2); trees grow best-first.
        max_leaf_nodes / with_max_leaf_nodes: usize,
        /// Maximum depth (root = depth 0); `None` = only the leaf limit.
        max_depth / with_max_depth: Option<usize>,
        /// Minimum training rows in a leaf (≥ 1).
        min_samples_leaf / with_min_samples_leaf: usize,
        /// Minimum hessian sum in a leaf (≥ 0).
        min_hessian_leaf / with_min_hessian_leaf: f64,
        /// L2 regularisation of the leaf values (≥ 0).
        l2 / with_l2: f64,
        /// Fraction of rows drawn (without replacement) for each tree, `(0, 1]`.
        subsample / with_subsample: f32,
        /// Fraction of features each tree may split on, `(0, 1]`.
        colsample / with_colsample: f32,
        /// Stop when the validation log-loss has not improved for this many
        /// iterations and keep the best prefix; 0 = no early stopping. Needs
        /// validation rows (the tune window in training).
        early_stopping_rounds / with_early_stopping_rounds: usize,
        /// Models averaged (their log-odds) by [`fit_final`](BoostValidParams::fit_final),
        /// seeds `seed`, `seed + 1`, …; 1..=16. Averaging cuts the variance a
        /// single subsampled model has. `fit_binned` fits one model.
        bag / with_bag: usize,
        /// [`fit_final`](BoostValidParams::fit_final) lets the served models
        /// learn the validation rows too, so they have seen the most recent
        /// window: cross-fitted on time folds (each model early-stopped on
        /// the fold it leaves out), or without folds refitted with the
        /// early-stopped tree count scaled by the row ratio.
        refit / with_refit: bool,
        /// Quantile bins per feature, 2..=255 (a 256th code marks missing values).
        max_bins / with_max_bins: usize,
        /// Features whose values are category numbers (whole numbers in
        /// `0..64`, such as a month or a station's index): their splits send
        /// any subset of categories left instead of a range of values.
        categorical / with_categorical: FeatureSet,
        /// Seed of all randomness; same seed, same data ⇒ bit-identical model.
        seed / with_seed: u64,
        /// Threads for training; `None` uses rayon's global pool.
        n_threads / with_n_threads: Option<usize>,
    }
}

impl Default for BoostValidParams {
    fn default() -> Self {
        Self {
            max_iter: 500,
            learning_rate: 0.05,
            max_leaf_nodes: 31,
            max_depth: None,
            min_samples_leaf: 20,
            min_hessian_leaf: 1e-3,
            l2: 1.0,
            subsample: 1.0,
            colsample: 1.0,
            early_stopping_rounds: 30,
            bag: 1,
            refit: false,
            max_bins: 255,
            categorical: FeatureSet::default(),
            seed: 0,
            n_threads: None,
        }
    }
}

/// A set of feature indices below 64, serialised as a sorted list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<usize>", into = "Vec<usize>")]
pub struct FeatureSet(u64);

impl FeatureSet {
    /// The largest index a set can hold, plus one.
    pub const CAPACITY: usize = 64;

    /// Whether feature `f` is in the set.
    pub fn contains(self, f: usize) -> bool {
        f < Self::CAPACITY && self.0 >> f & 1 == 1
    }

    /// The set as a bit mask (bit `f` for feature `f`).
    pub fn bits(self) -> u64 {
        self.0
    }

    /// The indices, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..Self::CAPACITY).filter(move |&f| self.contains(f))
    }
}

impl crate::forest::params::ParamText for FeatureSet {
    fn text(&self) -> String {
        if self.0 == 0 {
            return "none".into();
        }
        let list: Vec<String> = self.iter().map(|f| f.to_string()).collect();
        format!("features {}", list.join(", "))
    }
}

impl TryFrom<Vec<usize>> for FeatureSet {
    type Error = String;

    fn try_from(features: Vec<usize>) -> Result<Self, String> {
        features.iter().try_fold(Self(0), |set, &f| {
            if f < Self::CAPACITY {
                Ok(Self(set.0 | 1 << f))
            } else {
                Err(format!(
                    "feature {f} cannot be categorical (only features below {})",
                    Self::CAPACITY
                ))
            }
        })
    }
}

impl From<FeatureSet> for Vec<usize> {
    fn from(set: FeatureSet) -> Self {
        set.iter().collect()
    }
}

impl BoostValidParams {
    /// Checks that every categorical feature of the row-major matrix `x`
    /// holds only category numbers (whole numbers in `0..64`) or `NaN`, so
    /// that training and prediction route every value alike.
    ///
    /// # Errors
    /// [`ForestError::InvalidParam`] naming the first feature, row and value
    /// that is not a category, or a categorical feature beyond the matrix.
    pub fn check_categories(&self, x: &[f32], n_features: usize) -> Result<(), ForestError> {
        if let Some(f) = self.categorical.iter().find(|&f| f >= n_features) {
            return Err(ForestError::InvalidParam {
                field: "categorical",
                reason: format!("feature {f} is categorical but rows have {n_features} features"),
            });
        }
        if n_features == 0 || self.categorical.bits() == 0 {
            return Ok(());
        }
        for (r, row) in x.chunks_exact(n_features).enumerate() {
            for f in self.categorical.iter() {
                let v = row[f];
                if !v.is_nan() && super::tree::category(v).is_none() {
                    return Err(ForestError::InvalidParam {
                        field: "categorical",
                        reason: format!(
                            "feature {f} of row {r} is {v}, not a category number (a whole number in 0..64)"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

impl BoostParams {
    fn validate(&self) -> Result<(), ForestError> {
        let bad = model::invalid;
        if self.max_iter == 0 {
            return bad("max_iter", "must be at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate", "must be in (0, 1]");
        }
        if self.max_leaf_nodes < 2 || self.max_leaf_nodes > 65_536 {
            return bad("max_leaf_nodes", "must be between 2 and 65536");
        }
        if self.max_depth == Some(0) {
            return bad("max_depth", "must be at least 1 (or None for unlimited)");
        }
        if self.min_samples_leaf == 0 {
            return bad("min_samples_leaf", "must be at least 1");
        }
        if !(self.min_hessian_leaf.is_finite() && self.min_hessian_leaf >= 0.0) {
            return bad("min_hessian_leaf", "must be a finite number ≥ 0");
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return bad("l2", "must be a finite number ≥ 0");
        }
        if !(self.subsample > 0.0 && self.subsample <= 1.0) {
            return bad("subsample", "must be in (0, 1]");
        }
        if !(self.colsample > 0.0 && self.colsample <= 1.0) {
            return bad("colsample", "must be in (0, 1]");
        }
        if !(1..=16).contains(&self.bag) {
            return bad("bag", "must be between 1 and 16");
        }
        model::check_bins_and_threads(self.max_bins, self.n_threads)
    }
}
