//! The training procedure behind a served booster: a bag of models that
//! have learned the validation window too, either cross-fitted on its time
//! folds (each model early-stopped on the fold it leaves out) or refitted
//! after one early-stopped model fixed the tree count.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::{BoostValidParams, Booster, Validation};
use crate::forest::model;
use crate::forest::{BinnedMatrix, FitOptions, ForestError};

/// What [`BoostValidParams::fit_final`] returns.
#[derive(Debug, Clone)]
pub struct FinalFit {
    /// The model to serve.
    pub model: Booster,
    /// Probabilities for the validation rows from models never trained on
    /// them (cross-fitted, their tree count was chosen on them: a slight
    /// optimism): what a calibrator and a decision threshold may be fitted on.
    pub held_out: Vec<f32>,
    /// Trees of the early-stopped model(s), before any refit (cross-fitted:
    /// the bag's mean).
    pub early_stopped_trees: usize,
}

/// Rows in groups named by one categorical feature (in raincast, the
/// forecast's issue), for [`BoostValidParams::fit_final_grouped`].
#[derive(Debug, Clone, Copy)]
pub struct Groups<'a> {
    /// The feature whose category number names a row's group.
    pub feature: usize,
    /// Each group's category number.
    pub categories: &'a [u32],
    /// Each training row's group: an index into `categories`.
    pub train: &'a [u8],
    /// Each validation row's group.
    pub valid: &'a [u8],
}

/// One group's training rows, validation rows and their folds.
struct GroupRows {
    train: Vec<usize>,
    valid: Vec<usize>,
    folds: Option<Vec<u8>>,
}

impl Groups<'_> {
    /// The rows of group `g` among `of`.
    fn rows(of: &[u8], g: usize) -> Vec<usize> {
        (0..of.len()).filter(|&r| usize::from(of[r]) == g).collect()
    }

    /// Whether every group has both outcomes among its training rows and
    /// among its validation rows, so each can be fitted and early-stopped
    /// alone.
    fn each_fits(&self, y: &[bool], valid_y: &[bool]) -> bool {
        let both = |of: &[u8], y: &[bool], g: usize| {
            let mut seen = [false; 2];
            for (&k, &t) in of.iter().zip(y) {
                if usize::from(k) == g {
                    seen[usize::from(t)] = true;
                }
            }
            seen == [true; 2]
        };
        !self.categories.is_empty()
            && self.train.len() == y.len()
            && self.valid.len() == valid_y.len()
            && (0..self.categories.len())
                .all(|g| both(self.train, y, g) && both(self.valid, valid_y, g))
    }
}

impl BoostValidParams {
    /// [`fit_final_folds`](Self::fit_final_folds) once per group of rows,
    /// each on its own training and validation rows (and their folds), the
    /// results [gated](Booster::gated) on the group's feature into one
    /// booster. Each group's trees, early stopping and base rate are its
    /// own. When a group lacks an outcome on either side, everything is
    /// fitted together instead.
    ///
    /// # Errors
    /// As [`BoostValidParams::fit_binned`].
    pub fn fit_final_grouped(
        &self,
        data: &BinnedMatrix,
        y: &[bool],
        valid: Validation<'_>,
        folds: Option<&[u8]>,
        groups: Groups<'_>,
        opts: &FitOptions,
    ) -> Result<FinalFit, ForestError> {
        if !groups.each_fits(y, valid.y) {
            return self.fit_final_folds(data, y, valid, folds, opts);
        }
        let n_features = data.n_features();
        let plans: Vec<GroupRows> = (0..groups.categories.len())
            .map(|g| {
                let valid_rows = Groups::rows(groups.valid, g);
                GroupRows {
                    folds: folds.map(|f| valid_rows.iter().map(|&r| f[r]).collect()),
                    train: Groups::rows(groups.train, g),
                    valid: valid_rows,
                }
            })
            .collect();
        // Progress: the trees every group has grown, against every group's
        // plan (each shrinks as its fits stop early).
        let done: Vec<AtomicUsize> = plans.iter().map(|_| AtomicUsize::new(0)).collect();
        let planned: Vec<AtomicUsize> = plans
            .iter()
            .map(|p| {
                let cross = p
                    .folds
                    .as_deref()
                    .is_some_and(|f| self.cross_fits(f, p.valid.len()));
                AtomicUsize::new(self.planned_trees(cross))
            })
            .collect();
        let sum = |of: &[AtomicUsize]| of.iter().map(|a| a.load(Ordering::Relaxed)).sum::<usize>();
        // The groups grow side by side, their bags' models with them: on two
        // cores, nine models balance where three bags of three one after
        // another leave a core idle at each bag's end.
        let each = BoostValidParams {
            n_threads: None,
            ..self.clone()
        };
        let fits = model::in_pool(self.n_threads, || {
            plans
                .par_iter()
                .enumerate()
                .map(|(g, p)| {
                    let (train_rows, valid_rows) = (&p.train, &p.valid);
                    let sub = data.select_rows(train_rows);
                    let sub_y: Vec<bool> = train_rows.iter().map(|&r| y[r]).collect();
                    let mut vx = Vec::with_capacity(valid_rows.len() * n_features);
                    for &r in valid_rows {
                        vx.extend_from_slice(&valid.x[r * n_features..(r + 1) * n_features]);
                    }
                    let vy: Vec<bool> = valid_rows.iter().map(|&r| valid.y[r]).collect();
                    let report = |n: usize, total: usize| {
                        done[g].store(n, Ordering::Relaxed);
                        planned[g].store(total, Ordering::Relaxed);
                        if let Some(f) = opts.on_tree_done {
                            f(sum(&done), sum(&planned));
                        }
                    };
                    each.fit_final_folds(
                        &sub,
                        &sub_y,
                        Validation { x: &vx, y: &vy },
                        p.folds.as_deref(),
                        &FitOptions {
                            on_tree_done: Some(&report),
                            ..*opts
                        },
                    )
                })
                .collect::<Result<Vec<_>, ForestError>>()
        })?;
        let mut held_out = vec![f32::NAN; valid.y.len()];
        let mut parts = Vec::with_capacity(fits.len());
        let mut early_stopped = 0;
        for ((g, fit), plan) in fits.into_iter().enumerate().zip(&plans) {
            for (&r, p) in plan.valid.iter().zip(fit.held_out) {
                held_out[r] = p;
            }
            early_stopped += fit.early_stopped_trees;
            parts.push((groups.categories[g], fit.model));
        }
        let n_groups = parts.len();
        Ok(FinalFit {
            model: Booster::gated(parts, groups.feature),
            held_out,
            early_stopped_trees: early_stopped / n_groups,
        })
    }

    /// Whether [`fit_final_folds`](Self::fit_final_folds) cross-fits on
    /// `folds` for `n_valid` validation rows: with `refit` and `bag >= 2`,
    /// when every fold in `0..bag` has rows and no row is outside them
    /// (otherwise it refits without folds).
    pub fn cross_fits(&self, folds: &[u8], n_valid: usize) -> bool {
        self.refit
            && self.bag >= 2
            && folds.len() == n_valid
            && folds.iter().all(|&k| usize::from(k) < self.bag)
            && (0..self.bag).all(|b| folds.iter().any(|&k| usize::from(k) == b))
    }

    /// The most trees [`fit_final_folds`](Self::fit_final_folds) may grow,
    /// for progress: cross-fitted, `bag` early-stopped models; otherwise
    /// the early-stopped model(s) and, with `refit`, the bag.
    pub fn planned_trees(&self, cross_fitted: bool) -> usize {
        let rounds = if cross_fitted {
            self.bag
        } else if self.refit {
            1 + self.bag
        } else {
            self.bag
        };
        self.max_iter.saturating_mul(rounds)
    }

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
    /// `b` of the bag is fitted on the training rows and the validation rows
    /// outside fold `b`, early-stopped on fold `b`, and forecasts fold `b`;
    /// those out-of-fold forecasts are the held-out ones. They come from
    /// models like the served one, which has learned the validation window.
    /// No separate early-stopped model is grown: the bag's models grow side
    /// by side from the start, which halves the wall time on two cores.
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
        // Fail fast, before any model of the bag has grown.
        self.check_categories(valid.x, data.n_features())?;
        let folds = folds.filter(|f| self.cross_fits(f, valid.y.len()));
        let n_features = data.n_features();
        let first_models = if self.refit { 1 } else { self.bag };
        // One count of trees grown over every fit, the bag's included (they
        // grow side by side), against the trees still planned: a fit that
        // stops early takes what it will not grow off the plan, so the total
        // shrinks as the fits end rather than the count jumping to it at the
        // end. A refit may grow more than `max_iter`: the count stops at the
        // plan.
        let planned = std::sync::atomic::AtomicUsize::new(self.planned_trees(folds.is_some()));
        let grown = std::sync::atomic::AtomicUsize::new(0);
        let tell = |n: usize| {
            if let Some(f) = opts.on_tree_done {
                let total = planned.load(Ordering::Relaxed);
                f(n.min(total), total);
            }
        };
        let report = |_: usize, _: usize| tell(grown.fetch_add(1, Ordering::Relaxed) + 1);
        let stopped = |skipped: usize| {
            let _ = planned.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(skipped))
            });
            tell(grown.load(Ordering::Relaxed));
        };
        let each = FitOptions {
            on_tree_done: Some(&report),
            on_stopped_early: Some(&stopped),
            cancel: opts.cancel,
        };
        if let Some(folds) = folds {
            return self.cross_fit(data, y, valid, folds, &each);
        }
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
        let models = model::in_pool(self.n_threads, || {
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
        let max_iter = ((early_stopped_trees as f64 * scale).round() as usize).max(1);
        // Known now: the iterations of the plan this model will not grow.
        if let Some(f) = opts.on_stopped_early
            && max_iter < self.max_iter
        {
            f(self.max_iter - max_iter);
        }
        BoostValidParams {
            seed: self.seed.wrapping_add(b as u64),
            max_iter,
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
        opts: &FitOptions,
    ) -> Result<FinalFit, ForestError> {
        let n_features = data.n_features();
        let fitted = model::in_pool(self.n_threads, || {
            (0..self.bag)
                .into_par_iter()
                .map(|b| {
                    let mut x = Vec::new();
                    let mut all_y = y.to_vec();
                    let mut vx = Vec::new();
                    let mut vy = Vec::new();
                    for (r, (&k, &t)) in folds.iter().zip(valid.y).enumerate() {
                        let row = &valid.x[r * n_features..(r + 1) * n_features];
                        if usize::from(k) != b {
                            x.extend_from_slice(row);
                            all_y.push(t);
                        } else {
                            vx.extend_from_slice(row);
                            vy.push(t);
                        }
                    }
                    let all = data.with_rows(&x);
                    drop(x);
                    let m = BoostValidParams {
                        seed: self.seed.wrapping_add(b as u64),
                        n_threads: None,
                        ..self.clone()
                    }
                    .fit_binned(
                        &all,
                        &all_y,
                        Some(Validation { x: &vx, y: &vy }),
                        opts,
                    )?;
                    // Its forecasts for the fold it did not learn from.
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
        assert!(
            held_out.iter().all(|p| p.is_finite()),
            "a validation row outside every fold"
        );
        let early_stopped_trees = models.iter().map(Booster::n_trees).sum::<usize>() / models.len();
        Ok(FinalFit {
            model: Booster::average(models),
            held_out,
            early_stopped_trees,
        })
    }
}
