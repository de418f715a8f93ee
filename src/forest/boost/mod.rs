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
//!   `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)`. Histograms hold `f64` sums;
//!   the larger child's is the parent's minus the smaller child's. A
//!   histogram has only the slots its features' bins need (plus one for
//!   missing values each), and its buffer comes from a pool kept for the
//!   whole fit: a weekly training on a few thousand rows is dominated by
//!   per-node costs, not by summing rows.
//! - **Sampling.** Each iteration draws its rows (`subsample`) and its
//!   features (`colsample`) from a generator seeded by `(seed, iteration)`.
//! - **Early stopping.** With validation rows (training passes the tune
//!   window), the log-loss there is tracked after every tree; after
//!   `early_stopping_rounds` trees without improvement training stops and
//!   the best prefix of trees is kept.
//! - **Determinism.** Work is parallel with rayon over features (histograms)
//!   and rows (gradients, validation scores), but every floating-point sum has
//!   a fixed order, so a seed gives the same bytes whatever the thread count.
//!
//! [`BoostValidParams`] implements linfa's `Fit` and [`Booster`]
//! `PredictInplace`, like the forest; models serialize with postcard and are
//! validated on load.

mod linfa_impl;
mod params;
mod tree;

#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use params::{BoostParams, BoostValidParams};

use super::rng::Rng;
use super::{BinnedMatrix, FitOptions, ForestError};
use tree::{GrowConfig, Layout, Scratch, Tree};

/// Version tag at the start of every serialized booster.
const FORMAT_VERSION: u32 = 1;

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

#[derive(Serialize)]
struct BoosterRef<'a> {
    version: u32,
    n_features: u32,
    base: f64,
    trees: &'a [Tree],
    importance: &'a [f64],
}

#[derive(Deserialize)]
struct BoosterOwned {
    version: u32,
    n_features: u32,
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

/// What [`BoostValidParams::fit_final`] returns.
#[derive(Debug, Clone)]
pub struct FinalFit {
    /// The model to serve.
    pub model: Booster,
    /// Probabilities for the validation rows from models that never saw
    /// them: what a calibrator and a decision threshold may be fitted on.
    pub held_out: Vec<f32>,
    /// Trees of the early-stopped model(s), before any refit.
    pub early_stopped_trees: usize,
}

impl BoostValidParams {
    /// The training procedure behind a served booster, without folds (see
    /// [`fit_final_folds`](Self::fit_final_folds) for the cross-fitted one):
    /// 1. early-stop on `valid` (one model with `refit`, else `bag` models,
    ///    averaged); their forecasts for the validation rows are held out;
    /// 2. with `refit`, grow `bag` models (seeds `seed`, `seed + 1`, …) on the
    ///    training and validation rows together, each with the early-stopped
    ///    tree count scaled by the row ratio, and average their log-odds.
    ///
    /// # Errors
    /// As [`BoostValidParams::fit_binned`].
    pub fn fit_final(
        &self,
        data: &BinnedMatrix,
        y: &[bool],
        valid: Validation<'_>,
        opts: &FitOptions,
    ) -> Result<FinalFit, ForestError> {
        self.fit_final_folds(data, y, valid, None, opts)
    }

    /// [`fit_final`](Self::fit_final), cross-fitted when `folds` gives each
    /// validation row a fold in `0..bag` (with `refit` and `bag >= 2`): model
    /// `b` of the bag is refitted on the training rows and the validation
    /// rows outside fold `b`, and forecasts fold `b`; those out-of-fold
    /// forecasts are the held-out ones. They come from models like the
    /// served one, which has learned the validation window, rather than from
    /// the early-stopped model, which has not.
    ///
    /// # Errors
    /// As [`BoostValidParams::fit_binned`].
    pub fn fit_final_folds(
        &self,
        data: &BinnedMatrix,
        y: &[bool],
        valid: Validation<'_>,
        folds: Option<&[u8]>,
        opts: &FitOptions,
    ) -> Result<FinalFit, ForestError> {
        // Every fold in 0..bag has rows, and no row is outside them.
        let folds = folds.filter(|f| {
            self.refit
                && self.bag >= 2
                && f.len() == valid.y.len()
                && f.iter().all(|&k| usize::from(k) < self.bag)
                && (0..self.bag).all(|b| f.iter().any(|&k| usize::from(k) == b))
        });
        let n_features = data.n_features();
        let first_models = if self.refit { 1 } else { self.bag };
        let rounds = first_models + if self.refit { self.bag } else { 0 };
        let total = self.max_iter.saturating_mul(rounds);
        // One count of trees grown over every fit, the bag's included (they
        // grow side by side); a refit may grow more than `max_iter`, so the
        // count stops at the total.
        let grown = std::sync::atomic::AtomicUsize::new(0);
        let report = |_: usize, _: usize| {
            let n = grown.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(f) = opts.on_tree_done {
                f(n.min(total), total);
            }
        };
        let each = FitOptions {
            on_tree_done: Some(&report),
            cancel: opts.cancel,
        };
        let mut first = Vec::with_capacity(first_models);
        for k in 0..first_models {
            let p = BoostValidParams {
                seed: self.seed.wrapping_add(k as u64),
                ..self.clone()
            };
            first.push(p.fit_binned(data, y, Some(valid), &each)?);
        }
        // Their mean size, when several were early-stopped.
        let early_stopped_trees = first.iter().map(Booster::n_trees).sum::<usize>() / first.len();
        let first = Booster::average(first);
        if let Some(folds) = folds {
            return self.cross_fit(data, y, valid, folds, early_stopped_trees, &each);
        }
        let held_out = first.predict_proba(valid.x, n_features);
        if !self.refit {
            return Ok(FinalFit {
                model: first,
                held_out,
                early_stopped_trees,
            });
        }
        let all = data.with_rows(valid.x);
        let mut all_y = Vec::with_capacity(all.n_rows());
        all_y.extend_from_slice(y);
        all_y.extend_from_slice(valid.y);
        // The bag's models grow side by side: each is deterministic for its
        // seed, and a small window's fit alone cannot keep two cores busy.
        let models = self.in_pool(|| {
            (0..self.bag)
                .into_par_iter()
                .map(|b| self.refit_one(b, &all, &all_y, data.n_rows(), early_stopped_trees, &each))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(FinalFit {
            model: Booster::average(models),
            held_out,
            early_stopped_trees,
        })
    }

    /// Model `b` of the bag (seed `seed + b`), grown without early stopping
    /// on `data`, whose first `train_rows` rows are the training window's,
    /// with the early-stopped size scaled by the row ratio.
    fn refit_one(
        &self,
        b: usize,
        data: &BinnedMatrix,
        y: &[bool],
        train_rows: usize,
        early_stopped_trees: usize,
        opts: &FitOptions,
    ) -> Result<Booster, ForestError> {
        let scale = data.n_rows() as f64 / train_rows.max(1) as f64;
        BoostValidParams {
            seed: self.seed.wrapping_add(b as u64),
            max_iter: ((early_stopped_trees as f64 * scale).round() as usize).max(1),
            early_stopping_rounds: 0,
            n_threads: None,
            ..self.clone()
        }
        .fit_binned(data, y, None, opts)
    }

    /// The bag cross-fitted on `folds` (see [`fit_final_folds`](Self::fit_final_folds)).
    fn cross_fit(
        &self,
        data: &BinnedMatrix,
        y: &[bool],
        valid: Validation<'_>,
        folds: &[u8],
        early_stopped_trees: usize,
        opts: &FitOptions,
    ) -> Result<FinalFit, ForestError> {
        let n_features = data.n_features();
        let fitted = self.in_pool(|| {
            (0..self.bag)
                .into_par_iter()
                .map(|b| {
                    let mut x = Vec::new();
                    let mut all_y = y.to_vec();
                    for (r, (&k, &t)) in folds.iter().zip(valid.y).enumerate() {
                        if usize::from(k) != b {
                            x.extend_from_slice(&valid.x[r * n_features..(r + 1) * n_features]);
                            all_y.push(t);
                        }
                    }
                    let all = data.with_rows(&x);
                    drop(x);
                    let m =
                        self.refit_one(b, &all, &all_y, data.n_rows(), early_stopped_trees, opts)?;
                    // Its forecasts for the fold it did not see.
                    let own: Vec<(usize, f32)> = folds
                        .iter()
                        .enumerate()
                        .filter(|(_, k)| usize::from(**k) == b)
                        .map(|(r, _)| {
                            (
                                r,
                                m.predict_proba_row(&valid.x[r * n_features..(r + 1) * n_features]),
                            )
                        })
                        .collect();
                    Ok((m, own))
                })
                .collect::<Result<Vec<_>, ForestError>>()
        })?;
        let mut held_out = vec![f32::NAN; valid.y.len()];
        let mut models = Vec::with_capacity(fitted.len());
        for (m, own) in fitted {
            for (r, p) in own {
                held_out[r] = p;
            }
            models.push(m);
        }
        debug_assert!(
            held_out.iter().all(|p| p.is_finite()),
            "a validation row outside every fold"
        );
        Ok(FinalFit {
            model: Booster::average(models),
            held_out,
            early_stopped_trees,
        })
    }

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
        if n_features == 0 {
            return Err(ForestError::EmptyData("there are no features"));
        }
        if x.len() / n_features != y.len() || !x.len().is_multiple_of(n_features) {
            return Err(ForestError::ShapeMismatch {
                x_len: x.len(),
                n_features,
                y_len: y.len(),
            });
        }
        if let Some(i) = x.iter().position(|v| v.is_infinite()) {
            return Err(ForestError::NonFinite {
                row: i / n_features,
                column: i % n_features,
                value: x[i],
            });
        }
        let binned = self.in_pool(|| Ok(BinnedMatrix::new(x, n_features, self.max_bins)))?;
        self.fit_binned(&binned, y, valid, opts)
    }

    /// Fits on an already binned matrix (its own bins are used).
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
        if y.is_empty() {
            return Err(ForestError::EmptyData("there are no rows"));
        }
        let n_features = data.n_features();
        if n_features == 0 {
            return Err(ForestError::EmptyData("there are no features"));
        }
        if n_features >= usize::from(tree::LEAF) {
            return Err(ForestError::TooLarge(format!(
                "{n_features} features (at most 65534)"
            )));
        }
        if data.n_rows() != y.len() {
            return Err(ForestError::ShapeMismatch {
                x_len: data.n_rows() * n_features,
                n_features,
                y_len: y.len(),
            });
        }
        if y.len() >= (1 << 31) {
            return Err(ForestError::TooLarge(format!(
                "{} rows (at most 2^31 - 1)",
                y.len()
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
        self.in_pool(|| self.fit_checked(data, y, valid, opts))
    }

    fn in_pool<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, ForestError> + Send,
    ) -> Result<T, ForestError> {
        match self.n_threads {
            Some(threads) => rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| ForestError::ThreadPool(e.to_string()))?
                .install(f),
            None => f(),
        }
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
        };
        let n_cols =
            ((f64::from(p.colsample) * n_features as f64).round() as usize).clamp(1, n_features);
        let mut raw = vec![base; n];
        let mut gh = vec![[0.0f32; 2]; n];
        let mut rows: Vec<u32> = Vec::with_capacity(n);
        let mut ordered: Vec<[f32; 2]> = Vec::with_capacity(n);
        let mut in_sample = vec![false; if p.subsample < 1.0 { n } else { 0 }];
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
            gh.par_iter_mut()
                .zip(raw.par_iter().zip(y.par_iter()))
                .with_min_len(1024)
                .for_each(|(g, (&z, &t))| {
                    let prob = sigmoid(z);
                    *g = [
                        (prob - f64::from(u8::from(t))) as f32,
                        (prob * (1.0 - prob)).max(1e-16) as f32,
                    ];
                });
            let mut rng = Rng::for_tree(p.seed, it);
            rows.clear();
            if p.subsample < 1.0 {
                let cut = (f64::from(p.subsample) * (1u64 << 32) as f64) as u64;
                for (r, flag) in in_sample.iter_mut().enumerate() {
                    *flag = rng.next_u64() >> 32 < cut;
                    if *flag {
                        rows.push(r as u32);
                    }
                }
                if rows.len() < 2 * p.min_samples_leaf {
                    rows.clear();
                    rows.extend(0..n as u32);
                    in_sample.fill(true);
                }
            } else {
                rows.extend(0..n as u32);
            }
            ordered.clear();
            ordered.extend(rows.iter().map(|&r| gh[r as usize]));
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
                &mut rows,
                &mut ordered,
                allowed,
                layout,
                &cfg,
                &mut scratch,
            );
            for &(start, end, value) in &grown.leaves {
                for &r in &rows[start..end] {
                    raw[r as usize] += f64::from(value);
                }
            }
            if p.subsample < 1.0 {
                raw.par_iter_mut()
                    .zip(in_sample.par_iter())
                    .enumerate()
                    .with_min_len(1024)
                    .for_each(|(r, (z, &inside))| {
                        if !inside {
                            *z += f64::from(grown.predict_binned(data, r));
                        }
                    });
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
        let total: f64 = importance.iter().sum();
        if total > 0.0 {
            importance.iter_mut().for_each(|v| *v /= total);
        }
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
        assert_eq!(
            row.len(),
            self.n_features,
            "row has {} features, the model expects {}",
            row.len(),
            self.n_features
        );
        self.trees
            .iter()
            .fold(self.base, |acc, t| acc + f64::from(t.predict(row)))
    }

    /// Probability of "yes" for one row (`NaN` = missing).
    ///
    /// # Panics
    /// If `row.len() != self.n_features()`.
    pub fn predict_proba_row(&self, row: &[f32]) -> f32 {
        sigmoid(self.predict_raw_row(row)) as f32
    }

    /// Probabilities for a row-major matrix, rows in parallel.
    ///
    /// # Panics
    /// If `n_features != self.n_features()` or `x.len()` is not a multiple of it.
    pub fn predict_proba(&self, x: &[f32], n_features: usize) -> Vec<f32> {
        assert_eq!(
            n_features, self.n_features,
            "matrix has {n_features} features, the model expects {}",
            self.n_features
        );
        assert!(
            x.len().is_multiple_of(n_features),
            "matrix length is not a multiple of the feature count"
        );
        x.par_chunks(n_features)
            .with_min_len(64)
            .map(|row| self.predict_proba_row(row))
            .collect()
    }

    /// Total split gain per feature, normalised to sum to 1.
    pub fn feature_importance(&self) -> Vec<f64> {
        self.importance.clone()
    }

    /// The model as compact postcard bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(&BoosterRef {
            version: FORMAT_VERSION,
            n_features: self.n_features as u32,
            base: self.base,
            trees: &self.trees,
            importance: &self.importance,
        })
        .expect("postcard serialization of numbers and vectors into a Vec is infallible")
    }

    /// Decodes and validates bytes from [`Booster::to_bytes`].
    ///
    /// # Errors
    /// [`ForestError::Corrupt`] when the bytes do not decode or describe an
    /// invalid model.
    pub fn from_bytes(bytes: &[u8]) -> Result<Booster, ForestError> {
        let corrupt = |m: String| ForestError::Corrupt(m);
        let (repr, rest): (BoosterOwned, _) =
            postcard::take_from_bytes(bytes).map_err(|e| corrupt(format!("cannot decode: {e}")))?;
        if !rest.is_empty() {
            return Err(corrupt(format!("{} trailing bytes", rest.len())));
        }
        if repr.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "booster format version {} (expected {FORMAT_VERSION})",
                repr.version
            )));
        }
        let n_features = repr.n_features as usize;
        if n_features == 0 || n_features >= usize::from(tree::LEAF) {
            return Err(corrupt(format!("{n_features} features")));
        }
        if !repr.base.is_finite() || repr.base.abs() > 50.0 {
            return Err(corrupt(format!("base score {}", repr.base)));
        }
        if repr.trees.is_empty() {
            return Err(corrupt("no trees".into()));
        }
        for (i, t) in repr.trees.iter().enumerate() {
            t.validate(n_features)
                .map_err(|e| corrupt(format!("tree {i}: {e}")))?;
        }
        if repr.importance.len() != n_features
            || repr.importance.iter().any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(corrupt("invalid feature importances".into()));
        }
        Ok(Booster {
            n_features,
            base: repr.base,
            trees: repr.trees,
            importance: repr.importance,
        })
    }
}
