//! Gradient-boosted trees for binary classification, on the forest's
//! histograms and binning.
//!
//! # Algorithm
//!
//! - **Loss.** Binary log-loss on a raw log-odds score; the model starts from
//!   the training base rate's log-odds and each tree adds
//!   `-learning_rate · G / (H + l2)` in the leaf a row reaches (`G`, `H`: the
//!   leaf's sums of gradients `p - y` and hessians `p (1 - p)`).
//! - **Binning.** The forest's [`BinnedMatrix`]: at most 255 quantile bins per
//!   feature, code 255 for missing values. Every split tries missing values on
//!   both sides and keeps the better direction; when a node saw no missing
//!   value the direction is the heavier child's (by hessian).
//! - **Growth.** Best-first (leaf-wise): the leaf whose best split gains most
//!   is split next, up to `max_leaf_nodes` leaves, within `max_depth`,
//!   `min_samples_leaf` and `min_hessian_leaf`. Split gain is
//!   `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)`. The larger child's histogram
//!   is the parent's minus the smaller child's. A histogram has only the
//!   slots its features' bins need (plus one for missing values each), and
//!   its buffer comes from a pool kept for the whole fit: a weekly training
//!   on a few thousand rows is dominated by per-node costs, not by summing
//!   rows.
//! - **Quantized histograms.** Each tree quantizes its rows' gradients and
//!   hessians to 16-bit steps of their largest values (as LightGBM's
//!   quantized training does, with more bits) and sums them in integers: one
//!   16-byte add a row and feature updates gradient, hessian and count. The
//!   sums are exact, so a subtracted sibling is exact too, and the order of
//!   the additions cannot change a tree. A node's sums are off by under half
//!   a step a row (about 10⁻⁵ of the largest gradient); leaf values come from
//!   the same sums. Against `f64` sums of the unquantized values, a few
//!   splits move and the forecasts move by less than the seeds' spread
//!   (docs/model-quality.md: "the defaults with integer histograms" among the variants).
//! - **Rows out of the sample** are routed down each tree beside the sampled
//!   ones, by the same partition, so every row's score is updated from the
//!   leaf it reached without a prediction per row; gradients are computed
//!   only for sampled rows.
//! - **Sampling.** Each iteration draws its rows (`subsample`) and its
//!   features (`colsample`) from a generator seeded by `(seed, iteration)`.
//! - **Early stopping.** With validation rows (training passes the tune
//!   window, or one time fold of it per model of the bag), the log-loss
//!   there is tracked after every tree; after `early_stopping_rounds` trees
//!   without improvement training stops and the best prefix is kept.
//! - **Categorical features.** Features named in `categorical` hold category
//!   numbers (0..64). Their split sorts the node's categories (those with at
//!   least 100 rows there) by smoothed mean gradient and sends the best
//!   prefix of that order left: LightGBM's approximation of the optimal
//!   partition, which scikit-learn uses too. A tree stores each such split's
//!   categories as a 64-bit set. A value that is not a category number
//!   follows missing values; a category number the training rows never had
//!   shares the bin, and so the side, of the nearest category they had
//!   (binning cuts halfway between the values present). Keep `max_bins` at
//!   64 or more so that every category gets its own bin.
//! - **Determinism.** Work is parallel with rayon over features (histograms)
//!   and rows (gradients, validation scores); histogram sums are integers and
//!   every floating-point sum has a fixed order, so a seed gives the same
//!   bytes whatever the thread count.
//!
//! [`BoostValidParams`] implements linfa's `Fit` and [`Booster`]
//! `PredictInplace`, like the forest; models serialize with postcard and are
//! validated on load.

mod bag;
mod format;
mod hist;
mod params;
mod tree;

#[cfg(test)]
mod categorical_tests;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;

use rayon::prelude::*;

pub use bag::{FinalFit, Groups};
pub use params::{BoostParams, BoostValidParams, FeatureSet};

use super::model::{self, RowModel};
use super::rng::Rng;
use super::{BinnedMatrix, FitOptions, ForestError};
use hist::Layout;
use tree::{GrowConfig, Scratch, Tree};

/// Rows per chunk when summing the validation loss (fixed, so the sum's
/// order does not depend on the thread count).
const LOSS_CHUNK: usize = 4096;

/// A fitted gradient-boosting model.
#[derive(Debug, Clone, PartialEq)]
pub struct Booster {
    n_features: usize,
    base: f64,
    trees: Vec<Tree>,
    importance: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Log-loss of raw scores, summed in fixed chunks.
fn log_loss(raw: &[f64], y: &[bool]) -> f64 {
    let sums: Vec<f64> = raw
        .par_chunks(LOSS_CHUNK)
        .zip(y.par_chunks(LOSS_CHUNK))
        .map(|(r, y)| {
            r.iter()
                .zip(y)
                .map(|(&z, &t)| {
                    // log(1 + e^z) - t·z, computed stably.
                    let softplus = if z > 0.0 {
                        z + (-z).exp().ln_1p()
                    } else {
                        z.exp().ln_1p()
                    };
                    softplus - if t { z } else { 0.0 }
                })
                .sum::<f64>()
        })
        .collect();
    sums.iter().sum::<f64>() / raw.len().max(1) as f64
}

/// Validation rows for early stopping: a row-major matrix and its labels.
#[derive(Debug, Clone, Copy)]
pub struct Validation<'a> {
    pub x: &'a [f32],
    pub y: &'a [bool],
}

impl BoostValidParams {
    /// Fits on a row-major matrix `x` (`NaN` = missing) and labels `y`,
    /// early-stopping on `valid` when given.
    ///
    /// # Errors
    /// As the forest's `fit_matrix`.
    pub fn fit_matrix(
        &self,
        x: &[f32],
        n_features: usize,
        y: &[bool],
        valid: Option<Validation<'_>>,
        opts: &FitOptions,
    ) -> Result<Booster, ForestError> {
        model::check_matrix(x, n_features, y)?;
        self.check_categories(x, n_features)?;
        let binned = model::in_pool(self.n_threads, || {
            Ok(BinnedMatrix::new(x, n_features, self.max_bins))
        })?;
        self.fit_binned(&binned, y, valid, opts)
    }

    /// Fits on an already binned matrix (its own bins are used). The
    /// validation rows' categorical features are checked; the binned rows'
    /// cannot be, so check their raw matrix with
    /// [`check_categories`](Self::check_categories) first.
    ///
    /// # Errors
    /// As [`BoostValidParams::fit_matrix`].
    pub fn fit_binned(
        &self,
        data: &BinnedMatrix,
        y: &[bool],
        valid: Option<Validation<'_>>,
        opts: &FitOptions,
    ) -> Result<Booster, ForestError> {
        let n_features = model::check_binned(data, y)?;
        // The histograms' integer sums have room for this many rows.
        if y.len() > hist::MAX_ROWS {
            return Err(ForestError::TooLarge(format!(
                "{} rows (boosting learns from at most {})",
                y.len(),
                hist::MAX_ROWS
            )));
        }
        if let Some(v) = valid
            && (v.x.len() != v.y.len() * n_features || v.x.iter().any(|x| x.is_infinite()))
        {
            return Err(ForestError::ShapeMismatch {
                x_len: v.x.len(),
                n_features,
                y_len: v.y.len(),
            });
        }
        match valid {
            Some(v) => self.check_categories(v.x, n_features)?,
            None => self.check_categories(&[], n_features)?,
        }
        model::in_pool(self.n_threads, || self.fit_checked(data, y, valid, opts))
    }

    fn fit_checked(
        &self,
        data: &BinnedMatrix,
        y: &[bool],
        valid: Option<Validation<'_>>,
        opts: &FitOptions,
    ) -> Result<Booster, ForestError> {
        let p = self;
        let cancelled = || opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        let n = y.len();
        let n_features = data.n_features();
        let positives = y.iter().filter(|&&t| t).count() as f64;
        let rate = (positives / n as f64).clamp(1e-6, 1.0 - 1e-6);
        let base = (rate / (1.0 - rate)).ln();
        let cfg = GrowConfig {
            max_leaves: p.max_leaf_nodes,
            max_depth: p.max_depth.unwrap_or(usize::MAX),
            min_leaf: u32::try_from(p.min_samples_leaf).unwrap_or(u32::MAX),
            min_hessian: p.min_hessian_leaf,
            l2: p.l2,
            learning_rate: f64::from(p.learning_rate),
            categorical: p.categorical.bits(),
        };
        let n_cols =
            ((f64::from(p.colsample) * n_features as f64).round() as usize).clamp(1, n_features);
        let mut raw = vec![base; n];
        let mut rows: Vec<u32> = Vec::with_capacity(n);
        let mut oob: Vec<u32> = Vec::new();
        let mut gh: Vec<[f32; 2]> = Vec::with_capacity(n);
        let mut features: Vec<usize> = (0..n_features).collect();
        let all_features = features.clone();
        let full_layout = Layout::new(data, &all_features);
        let mut scratch = Scratch::default();
        let early = valid.filter(|v| p.early_stopping_rounds > 0 && !v.y.is_empty());
        let mut valid_raw = vec![base; early.map_or(0, |v| v.y.len())];
        let mut best = (f64::INFINITY, 0usize);
        let mut trees: Vec<Tree> = Vec::new();
        let mut gains: Vec<Vec<f64>> = Vec::new();
        for it in 0..p.max_iter {
            if cancelled() {
                return Err(ForestError::Cancelled);
            }
            let mut rng = Rng::for_tree(p.seed, it);
            rows.clear();
            oob.clear();
            if p.subsample < 1.0 {
                let cut = (f64::from(p.subsample) * (1u64 << 32) as f64) as u64;
                for r in 0..n as u32 {
                    if rng.next_u64() >> 32 < cut {
                        rows.push(r);
                    } else {
                        oob.push(r);
                    }
                }
                if rows.len() < 2 * p.min_samples_leaf {
                    rows.clear();
                    oob.clear();
                    rows.extend(0..n as u32);
                }
            } else {
                rows.extend(0..n as u32);
            }
            // Gradients and hessians of the log-loss, for the rows the tree
            // learns from, in their order.
            gh.clear();
            rows.par_iter()
                .with_min_len(1024)
                .map(|&r| {
                    let prob = sigmoid(raw[r as usize]);
                    [
                        (prob - f64::from(u8::from(y[r as usize]))) as f32,
                        (prob * (1.0 - prob)).max(1e-16) as f32,
                    ]
                })
                .collect_into_vec(&mut gh);
            let chosen: Vec<usize>;
            let chosen_layout: Layout;
            let (allowed, layout) = if n_cols < n_features {
                features.sort_unstable();
                for k in 0..n_cols {
                    let j = k + rng.below(n_features - k);
                    features.swap(k, j);
                }
                let mut picked = features[..n_cols].to_vec();
                picked.sort_unstable();
                chosen_layout = Layout::new(data, &picked);
                chosen = picked;
                (&chosen, &chosen_layout)
            } else {
                (&all_features, &full_layout)
            };
            let grown = tree::grow(
                data,
                tree::Sample {
                    rows: &mut rows,
                    gh: &gh,
                    oob: &mut oob,
                },
                allowed,
                layout,
                &cfg,
                &mut scratch,
            );
            for leaf in &grown.leaves {
                let value = f64::from(leaf.value);
                for &r in rows[leaf.rows.clone()].iter().chain(&oob[leaf.oob.clone()]) {
                    raw[r as usize] += value;
                }
            }
            let tree = grown.tree;
            if let Some(v) = early {
                valid_raw
                    .par_iter_mut()
                    .zip(v.x.par_chunks(n_features))
                    .with_min_len(256)
                    .for_each(|(z, row)| *z += f64::from(tree.predict(row)));
            }
            trees.push(tree);
            gains.push(grown.gains);
            if let Some(callback) = opts.on_tree_done {
                callback(it + 1, p.max_iter);
            }
            if let Some(v) = early {
                let loss = log_loss(&valid_raw, v.y);
                if loss < best.0 {
                    best = (loss, it);
                } else if it - best.1 >= p.early_stopping_rounds {
                    break;
                }
            }
        }
        if trees.len() < p.max_iter
            && let Some(callback) = opts.on_stopped_early
        {
            callback(p.max_iter - trees.len());
        }
        if early.is_some() {
            trees.truncate(best.1 + 1);
            gains.truncate(best.1 + 1);
        }
        let mut importance = vec![0.0f64; n_features];
        for g in &gains {
            for (acc, v) in importance.iter_mut().zip(g) {
                *acc += v;
            }
        }
        model::normalise(&mut importance);
        Ok(Booster {
            n_features,
            base,
            trees,
            importance,
        })
    }
}

impl Booster {
    /// One booster whose score is the mean of `models`' log-odds: every
    /// leaf value scaled by 1/B, the base scores and importances averaged.
    ///
    /// # Panics
    /// If `models` is empty or their feature counts differ.
    pub fn average(mut models: Vec<Booster>) -> Booster {
        assert!(!models.is_empty(), "nothing to average");
        if models.len() == 1 {
            return models.remove(0);
        }
        let n_features = models[0].n_features;
        assert!(
            models.iter().all(|m| m.n_features == n_features),
            "models of different widths"
        );
        let b = models.len() as f64;
        let w = (1.0 / b) as f32;
        let base = models.iter().map(|m| m.base).sum::<f64>() / b;
        let mut importance = vec![0.0f64; n_features];
        let mut trees = Vec::with_capacity(models.iter().map(|m| m.trees.len()).sum());
        for m in models {
            for (acc, v) in importance.iter_mut().zip(&m.importance) {
                *acc += v / b;
            }
            for mut t in m.trees {
                for node in &mut t.nodes {
                    if node.feature == tree::LEAF {
                        node.value *= w;
                    }
                }
                trees.push(t);
            }
        }
        Booster {
            n_features,
            base,
            trees,
            importance,
        }
    }

    /// One booster that scores a row with `parts[k].1` when its feature
    /// `gate` holds the category number `parts[k].0`, and with the base
    /// score 0 (a probability of one half) when it holds none of them:
    /// every part's tree gains a root that sends its own category to it and
    /// anything else to a leaf of 0, and each part's base score becomes a
    /// one-leaf tree behind the same gate. Importances are averaged.
    ///
    /// # Panics
    /// If `parts` is empty, the widths differ, `gate` is not a feature, or
    /// a category is not below 64.
    pub fn gated(parts: Vec<(u32, Booster)>, gate: usize) -> Booster {
        assert!(!parts.is_empty(), "nothing to gate");
        let n_features = parts[0].1.n_features;
        assert!(
            gate < n_features && parts.iter().all(|(_, m)| m.n_features == n_features),
            "gate {gate} or widths differ"
        );
        let share = 1.0 / parts.len() as f64;
        let mut importance = vec![0.0f64; n_features];
        let mut trees = Vec::new();
        for (category, m) in parts {
            assert!(category < model::MAX_CATEGORIES, "category {category}");
            for (acc, v) in importance.iter_mut().zip(&m.importance) {
                *acc += v * share;
            }
            let base = Tree {
                nodes: vec![tree::Node::leaf(m.base as f32)],
                sets: Vec::new(),
            };
            for t in std::iter::once(base).chain(m.trees) {
                trees.push(t.gated(gate, category));
            }
        }
        Booster {
            n_features,
            base: 0.0,
            trees,
            importance,
        }
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees (after early stopping).
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// The starting log-odds (the training base rate's).
    pub fn base_score(&self) -> f64 {
        self.base
    }

    /// The raw log-odds score of one row.
    ///
    /// # Panics
    /// If `row.len() != self.n_features()`.
    pub fn predict_raw_row(&self, row: &[f32]) -> f64 {
        model::assert_row(self, row);
        self.raw_row(row)
    }

    fn raw_row(&self, row: &[f32]) -> f64 {
        self.trees
            .iter()
            .fold(self.base, |acc, t| acc + f64::from(t.predict(row)))
    }

    /// Total split gain per feature, normalised to sum to 1.
    pub fn feature_importance(&self) -> Vec<f64> {
        self.importance.clone()
    }
}

impl RowModel for Booster {
    const NOUN: &'static str = "model";

    fn width(&self) -> usize {
        self.n_features
    }

    fn score_row(&self, row: &[f32]) -> f32 {
        sigmoid(self.raw_row(row)) as f32
    }

    fn score_block(&self, x: &[f32], out: &mut [f32]) {
        const BLOCK: usize = crate::forest::model::SCORE_BLOCK;
        let rows = x.chunks(self.n_features * BLOCK);
        for (out, x) in out.chunks_mut(BLOCK).zip(rows) {
            let mut raw = [self.base; BLOCK];
            let raw = &mut raw[..out.len()];
            for t in &self.trees {
                for (acc, row) in raw.iter_mut().zip(x.chunks_exact(self.n_features)) {
                    *acc += f64::from(t.predict(row));
                }
            }
            for (o, &r) in out.iter_mut().zip(raw.iter()) {
                *o = sigmoid(r) as f32;
            }
        }
    }
}
