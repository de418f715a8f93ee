//! A histogram-based random forest for binary classification ("will it rain
//! tomorrow?"), built to be fast, lean and bit-reproducible.
//!
//! # Algorithm
//!
//! 1. **Binning.** Every feature is cut into at most `max_bins` (≤ 255)
//!    quantile bins computed from its sorted distinct values (on a
//!    deterministic subsample of 200 000 rows when there are more). Values
//!    become `u8` codes `0..=254`; code 255 means missing (`NaN`). The binned
//!    matrix is stored column-major so that building a histogram walks one
//!    contiguous column.
//! 2. **Sampling.** Each tree draws a bootstrap sample as per-row integer
//!    counts (rows are never copied) and, by default, weighs the classes on
//!    that sample (`BalancedSubsample`). A tree's randomness comes from a
//!    xoshiro256** generator seeded from `(seed, tree index)` only, so the
//!    model does not depend on the thread count or scheduling.
//! 3. **Growing.** Nodes are split depth-first. For each candidate feature
//!    (drawn without replacement, `max_features` per split, more only while
//!    no valid split has been found) the node's per-bin class counts are
//!    gathered and every threshold is scored by weighted Gini impurity, once
//!    with missing values sent left and once right; the better direction is
//!    learned. When a node had no missing values for the chosen feature,
//!    future missing values follow the heavier child. All counts are integers,
//!    so sums are exact and order-independent. When most features are split
//!    candidates, nodes keep a histogram over all features: the smaller child's
//!    is built from its rows and the larger child's is the parent's minus it
//!    (the subtraction trick). Small nodes sort their few `(code, row)` keys
//!    instead of touching 256 histogram slots. Row indices are partitioned in
//!    place (stably, keeping memory access ascending).
//! 4. **Storage.** A tree is a flat array of 12-byte nodes: a raw `f32`
//!    threshold (go left when `x <= threshold`, so prediction needs no bin
//!    tables), the feature, a missing-goes-left flag and the index of the left
//!    child (the right child follows it). Leaves hold the class-weighted
//!    fraction of "yes"; the forest's probability is the mean over trees.
//!
//! Trees are trained in parallel with rayon (in a dedicated pool when
//! [`ForestValidParams::n_threads`] is set). Models serialize with postcard and are
//! fully validated on load, so a damaged blob is refused rather than able to
//! panic or loop at prediction time.
//!
//! The forest plugs into linfa: [`ForestParams`] is a [`linfa::ParamGuard`],
//! [`ForestValidParams`] implements [`linfa::traits::Fit`] on a
//! `linfa::Dataset<f32, bool, Ix1>`, and [`Forest`] implements
//! [`linfa::traits::PredictInplace`] (threshold 0.5). The plain slice API,
//! [`ForestValidParams::fit_matrix`] and [`Forest::predict_proba`], avoids
//! ndarray altogether.

pub(crate) mod binning;
pub mod boost;
mod error;
mod model;
mod params;
mod rng;
mod tree;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use error::ForestError;
pub use params::{ClassWeight, ForestParams, ForestValidParams, Hyperparams, MaxFeatures};

pub use binning::BinnedMatrix;
use tree::{Tree, TreeConfig};

/// Version tag at the start of every serialized forest.
const FORMAT_VERSION: u32 = 1;

/// Progress reporting and cancellation for [`ForestValidParams::fit_matrix`].
#[derive(Clone, Copy, Default)]
pub struct FitOptions<'a> {
    /// Called after each finished tree with `(trees done, total trees)`,
    /// possibly from several threads at once.
    pub on_tree_done: Option<&'a (dyn Fn(usize, usize) + Sync)>,
    /// Called once by a booster that stops early, with the iterations it
    /// planned and will not grow, so that a progress total can shrink as
    /// the fits end instead of jumping to done at the very end.
    pub on_stopped_early: Option<&'a (dyn Fn(usize) + Sync)>,
    /// When this becomes `true`, training stops between trees and
    /// returns [`ForestError::Cancelled`].
    pub cancel: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for FitOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitOptions")
            .field("on_tree_done", &self.on_tree_done.map(|_| "Fn"))
            .field("on_stopped_early", &self.on_stopped_early.map(|_| "Fn"))
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    n_features: usize,
    trees: Vec<Tree>,
    importance: Vec<f64>,
}

/// Serialized layout (postcard is not self-describing: field order matters).
#[derive(Serialize)]
struct ForestRef<'a> {
    version: u32,
    n_features: u32,
    trees: &'a [Tree],
    importance: &'a [f64],
}

/// Owned twin of [`ForestRef`] for decoding.
#[derive(Deserialize)]
struct ForestOwned {
    version: u32,
    n_features: u32,
    trees: Vec<Tree>,
    importance: Vec<f64>,
}

impl ForestValidParams {
    /// Fits a forest on a row-major matrix `x` of `n_features` columns
    /// (`NaN` = missing) and labels `y` (`true` = "yes").
    ///
    /// # Errors
    /// [`ForestError::EmptyData`], [`ForestError::ShapeMismatch`],
    /// [`ForestError::TooLarge`], [`ForestError::NonFinite`] for
    /// ±infinity, [`ForestError::Cancelled`], [`ForestError::ThreadPool`].
    pub fn fit_matrix(
        &self,
        x: &[f32],
        n_features: usize,
        y: &[bool],
        opts: &FitOptions,
    ) -> Result<Forest, ForestError> {
        model::check_matrix(x, n_features, y)?;
        check_rows(y.len())?;
        model::in_pool(self.n_threads, || {
            let binned = BinnedMatrix::new(x, n_features, self.max_bins);
            self.fit_checked(&binned, y, opts)
        })
    }

    /// Fits on an already binned matrix (its own bins are used, whatever
    /// `max_bins` says). With [`BinnedMatrix::from_columns`] the raw `f32`
    /// matrix never needs to be held whole, and a caller that binned with
    /// [`BinnedMatrix::from_rows`] can drop the raw matrix before the trees
    /// grow: the lean path used by training.
    ///
    /// # Errors
    /// As [`ForestValidParams::fit_matrix`].
    pub fn fit_binned(
        &self,
        data: &BinnedMatrix,
        y: &[bool],
        opts: &FitOptions,
    ) -> Result<Forest, ForestError> {
        model::check_binned(data, y)?;
        check_rows(y.len())?;
        model::in_pool(self.n_threads, || self.fit_checked(data, y, opts))
    }

    /// Fitting proper, on validated input, inside the chosen thread pool.
    fn fit_checked(
        &self,
        binned: &BinnedMatrix,
        y: &[bool],
        opts: &FitOptions,
    ) -> Result<Forest, ForestError> {
        let p = self;
        let n_features = binned.n_features();
        let cancelled = || opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        if cancelled() {
            return Err(ForestError::Cancelled);
        }
        let cfg = TreeConfig {
            max_depth: p.max_depth.unwrap_or(usize::MAX),
            min_samples_leaf: u32::try_from(p.min_samples_leaf).unwrap_or(u32::MAX),
            min_samples_split: u32::try_from(p.min_samples_split).unwrap_or(u32::MAX),
            max_features: p.max_features.resolve(n_features),
            bootstrap: p.bootstrap,
            class_weight: p.class_weight,
            seed: p.seed,
        };
        let done = AtomicUsize::new(0);
        let grown: Vec<tree::GrownTree> = (0..p.n_trees)
            .into_par_iter()
            .map(|t| {
                if cancelled() {
                    return Err(ForestError::Cancelled);
                }
                let grown = tree::grow_tree(binned, y, n_features, &cfg, t);
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(callback) = opts.on_tree_done {
                    callback(finished, p.n_trees);
                }
                Ok(grown)
            })
            .collect::<Result<_, _>>()?;
        // Mean over trees of each tree's normalised impurity decrease,
        // summed in tree order so the result is deterministic.
        let mut importance = vec![0.0f64; n_features];
        let mut trees = Vec::with_capacity(grown.len());
        for g in grown {
            let total: f64 = g.importance.iter().sum();
            if total > 0.0 {
                for (acc, v) in importance.iter_mut().zip(&g.importance) {
                    *acc += v / total;
                }
            }
            trees.push(g.tree);
        }
        model::normalise(&mut importance);
        Ok(Forest {
            n_features,
            trees,
            importance,
        })
    }
}

impl Forest {
    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Mean decrease in (class-weighted Gini) impurity per feature, averaged
    /// over trees and normalised to sum to 1 (all zeros if no tree split).
    pub fn feature_importance(&self) -> Vec<f64> {
        self.importance.clone()
    }

    /// The model as compact postcard bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let repr = ForestRef {
            version: FORMAT_VERSION,
            // Fitting refuses more than u16::MAX features.
            n_features: self.n_features as u32,
            trees: &self.trees,
            importance: &self.importance,
        };
        postcard::to_allocvec(&repr)
            .expect("postcard serialization of numbers and vectors into a Vec is infallible")
    }

    /// Decodes and validates bytes from [`Forest::to_bytes`].
    ///
    /// # Errors
    /// [`ForestError::Corrupt`] when the bytes do not decode or describe an
    /// invalid forest (bad version, dangling child or feature index, …).
    pub fn from_bytes(bytes: &[u8]) -> Result<Forest, ForestError> {
        let (repr, rest): (ForestOwned, _) = postcard::take_from_bytes(bytes)
            .map_err(|e| model::corrupt(format!("cannot decode: {e}")))?;
        model::check_trailing(rest)?;
        if repr.version != FORMAT_VERSION {
            return Err(model::corrupt(format!(
                "format version {} (expected {FORMAT_VERSION})",
                repr.version
            )));
        }
        let n_features = model::validate_stored(repr.n_features, &repr.trees, &repr.importance)?;
        Ok(Forest {
            n_features,
            trees: repr.trees,
            importance: repr.importance,
        })
    }
}

impl model::RowModel for Forest {
    const NOUN: &'static str = "forest";

    fn width(&self) -> usize {
        self.n_features
    }

    /// The mean over trees of the reached leaf's class-weighted fraction of
    /// "yes".
    fn score_row(&self, row: &[f32]) -> f32 {
        let sum: f32 = self.trees.iter().map(|t| t.predict(row)).sum();
        (sum / self.trees.len() as f32).clamp(0.0, 1.0)
    }

    fn score_block(&self, x: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        for t in &self.trees {
            for (o, row) in out.iter_mut().zip(x.chunks_exact(self.n_features)) {
                *o += t.predict(row);
            }
        }
        let n = self.trees.len() as f32;
        for o in out {
            *o = (*o / n).clamp(0.0, 1.0);
        }
    }
}

/// The forest's row limit: row indices are stored in 31 bits.
fn check_rows(n_rows: usize) -> Result<(), ForestError> {
    if n_rows >= (1 << 31) {
        return Err(ForestError::TooLarge(format!(
            "{n_rows} rows (at most 2^31 - 1)"
        )));
    }
    Ok(())
}
