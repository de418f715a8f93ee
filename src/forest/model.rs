//! What the two model families, the random forest and the booster, share:
//! the stored node and how a row walks a tree, the structural checks of a
//! stored tree and of a stored model, the input checks before a fit, the
//! dedicated thread pool, the parameter checks common to both, the
//! row-prediction API and the linfa `Fit`/`PredictInplace` impls.
//!
//! A family says what differs through two small traits: [`StoredTree`] (how
//! one of its trees validates) and [`RowModel`] (how it scores one row).
//! Everything here is behaviour both families had before it moved; the
//! stored formats are unchanged (a [`Node`] serialises as each family's own
//! node did, field by field).

use linfa::dataset::{AsSingleTargets, DatasetBase};
use ndarray::{Array1, ArrayBase, Data, Ix2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{BinnedMatrix, ForestError};

/// `Node::feature` of a leaf.
pub(crate) const LEAF: u16 = u16::MAX;
/// `Node::flags` bit: missing values go to the left child.
pub(crate) const MISSING_LEFT: u16 = 1;
/// `Node::flags` bit (boosting only): a categorical split. `Node::value` is
/// then the index, in the tree's category sets, of the categories sent left.
pub(crate) const CATEGORICAL: u16 = 2;
/// Category numbers a categorical split can hold: `0..MAX_CATEGORIES`.
pub(crate) const MAX_CATEGORIES: u32 = 64;

/// One tree node, 12 bytes in memory, of either family.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[repr(C)]
pub(crate) struct Node {
    /// Internal node: go left when `x <= value`, or for a [`CATEGORICAL`]
    /// one, when `x` is in the set it names. Leaf: the forest's probability
    /// of "yes", or the booster's additive log-odds contribution.
    pub(crate) value: f32,
    /// Index of the left child; the right child is `left + 1`. Unused (0) in leaves.
    pub(crate) left: u32,
    /// Feature tested, or [`LEAF`].
    pub(crate) feature: u16,
    /// Bit [`MISSING_LEFT`]: where `NaN` goes (and, at a categorical split,
    /// any value that is not a category number); bit [`CATEGORICAL`].
    pub(crate) flags: u16,
}

impl Node {
    pub(crate) fn leaf(value: f32) -> Self {
        Self {
            value,
            left: 0,
            feature: LEAF,
            flags: 0,
        }
    }
}

/// The category number of a categorical feature's value: a whole number in
/// `0..MAX_CATEGORIES`, or `None` (missing, or not a category).
#[inline]
pub(crate) fn category(x: f32) -> Option<u32> {
    (x >= 0.0 && x < MAX_CATEGORIES as f32 && x.fract() == 0.0).then_some(x as u32)
}

/// The leaf value a row reaches in a flat node array (node 0 the root,
/// children after their parent; `NaN` = missing). `sets` holds the
/// left-going categories of each categorical split, bit `c` for category
/// `c` (empty for a forest's trees, which have no categorical splits).
/// Node links are validated on load, and `row` is at least as long as any
/// feature index (the callers check the row's length).
#[inline]
pub(crate) fn walk(nodes: &[Node], sets: &[u64], row: &[f32]) -> f32 {
    let mut i = 0usize;
    loop {
        let node = nodes[i];
        if node.feature == LEAF {
            return node.value;
        }
        let x = row[usize::from(node.feature)];
        let missing_left = node.flags & MISSING_LEFT != 0;
        let go_left = if node.flags & CATEGORICAL != 0 {
            category(x).map_or(missing_left, |c| sets[node.value as usize] >> c & 1 == 1)
        } else if x.is_nan() {
            missing_left
        } else {
            x <= node.value
        };
        i = node.left as usize + usize::from(!go_left);
    }
}

/// Checks that walking `nodes` can neither index out of bounds nor loop:
/// there are nodes, children exist and lie strictly after their parent,
/// features are below `n_features`, and no flag outside `known_flags` is
/// set. `leaf` and `split` add each family's checks of a leaf's and a
/// split's value.
pub(crate) fn validate_nodes(
    nodes: &[Node],
    n_features: usize,
    known_flags: u16,
    leaf: impl Fn(usize, &Node) -> Result<(), String>,
    split: impl Fn(usize, &Node) -> Result<(), String>,
) -> Result<(), String> {
    let len = nodes.len();
    if len == 0 {
        return Err("a tree has no nodes".into());
    }
    if len > u32::MAX as usize {
        return Err("a tree has too many nodes".into());
    }
    for (i, node) in nodes.iter().enumerate() {
        if node.feature == LEAF {
            leaf(i, node)?;
            continue;
        }
        let left = node.left as usize;
        if usize::from(node.feature) >= n_features {
            return Err(format!(
                "node {i} tests feature {} of {n_features}",
                node.feature
            ));
        }
        if left <= i || left + 1 >= len {
            return Err(format!(
                "node {i} has children {left}/{} of {len}",
                left + 1
            ));
        }
        if node.flags & !known_flags != 0 {
            return Err(format!("node {i} has unknown flags {:#x}", node.flags));
        }
        split(i, node)?;
    }
    Ok(())
}

/// A stored tree of either family.
pub(crate) trait StoredTree {
    /// Checks that prediction on this tree can neither index out of bounds
    /// nor loop, for rows of `n_features` features.
    fn validate(&self, n_features: usize) -> Result<(), String>;
}

pub(crate) fn corrupt(message: String) -> ForestError {
    ForestError::Corrupt(message)
}

/// Refuses bytes left over after a decoded model.
pub(crate) fn check_trailing(rest: &[u8]) -> Result<(), ForestError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(corrupt(format!("{} trailing bytes", rest.len())))
    }
}

/// The checks every decoded model gets: a feature count that fitting could
/// have produced, at least one tree, every tree valid and one finite,
/// non-negative importance per feature. Returns the feature count.
pub(crate) fn validate_stored<T: StoredTree>(
    n_features: u32,
    trees: &[T],
    importance: &[f64],
) -> Result<usize, ForestError> {
    let n_features = n_features as usize;
    if n_features == 0 || n_features >= usize::from(LEAF) {
        return Err(corrupt(format!("{n_features} features")));
    }
    if trees.is_empty() {
        return Err(corrupt("no trees".into()));
    }
    for (i, t) in trees.iter().enumerate() {
        t.validate(n_features)
            .map_err(|e| corrupt(format!("tree {i}: {e}")))?;
    }
    if importance.len() != n_features || importance.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(corrupt("invalid feature importances".into()));
    }
    Ok(n_features)
}

/// The checks of a row-major matrix `x` of `n_features` columns and its
/// labels `y` before any fit: rows and features to learn from, no more
/// features than a node can name, the sizes agreeing, and no infinite
/// value (missing is `NaN`).
pub(crate) fn check_matrix(x: &[f32], n_features: usize, y: &[bool]) -> Result<(), ForestError> {
    check_size(y.len(), n_features)?;
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
    Ok(())
}

/// [`check_matrix`] for an already binned matrix: returns its feature count.
pub(crate) fn check_binned(data: &BinnedMatrix, y: &[bool]) -> Result<usize, ForestError> {
    let n_features = data.n_features();
    check_size(y.len(), n_features)?;
    if data.n_rows() != y.len() {
        return Err(ForestError::ShapeMismatch {
            x_len: data.n_rows() * n_features,
            n_features,
            y_len: y.len(),
        });
    }
    Ok(n_features)
}

fn check_size(n_rows: usize, n_features: usize) -> Result<(), ForestError> {
    if n_rows == 0 {
        return Err(ForestError::EmptyData("there are no rows"));
    }
    if n_features == 0 {
        return Err(ForestError::EmptyData("there are no features"));
    }
    if n_features >= usize::from(LEAF) {
        return Err(ForestError::TooLarge(format!(
            "{n_features} features (at most 65534)"
        )));
    }
    Ok(())
}

/// Runs `f` in a dedicated pool of `n_threads` when set, else in rayon's
/// global pool.
pub(crate) fn in_pool<T: Send>(
    n_threads: Option<usize>,
    f: impl FnOnce() -> Result<T, ForestError> + Send,
) -> Result<T, ForestError> {
    match n_threads {
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| ForestError::ThreadPool(e.to_string()))?
            .install(f),
        None => f(),
    }
}

/// Scales `importance` to sum to 1 (left all zeros when nothing split).
pub(crate) fn normalise(importance: &mut [f64]) {
    let total: f64 = importance.iter().sum();
    if total > 0.0 {
        importance.iter_mut().for_each(|v| *v /= total);
    }
}

/// An [`ForestError::InvalidParam`] naming `field`.
pub(crate) fn invalid(field: &'static str, reason: &str) -> Result<(), ForestError> {
    Err(ForestError::InvalidParam {
        field,
        reason: reason.to_owned(),
    })
}

/// The parameter checks both families make: the bin count and the thread
/// count.
pub(crate) fn check_bins_and_threads(
    max_bins: usize,
    n_threads: Option<usize>,
) -> Result<(), ForestError> {
    if !(2..=255).contains(&max_bins) {
        return invalid("max_bins", "must be between 2 and 255");
    }
    if n_threads == Some(0) {
        return invalid(
            "n_threads",
            "must be at least 1 (or None for the default pool)",
        );
    }
    Ok(())
}

/// A fitted model of either family, as far as scoring rows goes.
pub(crate) trait RowModel: Sync {
    /// What the model is called in a panic message ("forest", "model").
    const NOUN: &'static str;

    /// Number of features a row must have.
    fn width(&self) -> usize;

    /// Probability of "yes" for one row whose length has been checked.
    fn score_row(&self, row: &[f32]) -> f32;

    /// [`score_row`](Self::score_row) of each row of `x` (row-major, rows
    /// of [`width`](Self::width)) into `out`. The families walk each tree
    /// over the whole block, which keeps one tree in cache at a time, and
    /// add the trees in the same order as `score_row`: the same bits.
    fn score_block(&self, x: &[f32], out: &mut [f32]) {
        for (o, row) in out.iter_mut().zip(x.chunks_exact(self.width())) {
            *o = self.score_row(row);
        }
    }
}

/// Rows per [`RowModel::score_block`] call in [`predict_rows`].
pub(crate) const SCORE_BLOCK: usize = 64;

/// The row-scoring API both families offer as inherent methods, written
/// once.
macro_rules! row_api {
    ($model:ty) => {
        impl $model {
            /// Probability of "yes" for one row (`NaN` = missing).
            ///
            /// # Panics
            /// If `row.len() != self.n_features()`.
            pub fn predict_proba_row(&self, row: &[f32]) -> f32 {
                assert_row(self, row);
                self.score_row(row)
            }

            /// Probabilities of "yes" for a row-major matrix, rows in parallel.
            ///
            /// # Panics
            /// If `n_features != self.n_features()` or `x.len()` is not a
            /// multiple of it.
            pub fn predict_proba(&self, x: &[f32], n_features: usize) -> Vec<f32> {
                predict_rows(self, x, n_features)
            }
        }
    };
}

row_api!(super::Forest);
row_api!(super::boost::Booster);

/// Panics unless `row` has the model's width.
pub(crate) fn assert_row<M: RowModel>(model: &M, row: &[f32]) {
    assert_eq!(
        row.len(),
        model.width(),
        "row has {} features, the {} expects {}",
        row.len(),
        M::NOUN,
        model.width()
    );
}

/// Probabilities for a row-major matrix, rows in parallel.
///
/// # Panics
/// If `n_features` is not the model's width or `x.len()` is not a multiple of it.
pub(crate) fn predict_rows<M: RowModel>(model: &M, x: &[f32], n_features: usize) -> Vec<f32> {
    assert_eq!(
        n_features,
        model.width(),
        "matrix has {n_features} features, the {} expects {}",
        M::NOUN,
        model.width()
    );
    assert!(
        x.len().is_multiple_of(n_features),
        "matrix length is not a multiple of the feature count"
    );
    let n_rows = x.len().checked_div(n_features).unwrap_or(0);
    let mut out = vec![0.0; n_rows];
    out.par_chunks_mut(SCORE_BLOCK)
        .zip(x.par_chunks(n_features.max(1) * SCORE_BLOCK))
        .for_each(|(o, block)| model.score_block(block, o));
    out
}

/// The body of both families' linfa `Fit`: the dataset's records as one
/// row-major slice (copied only when they are not contiguous) and its
/// single boolean target, handed to `fit`.
pub(crate) fn fit_dataset<D, T, M>(
    dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    fit: impl FnOnce(&[f32], usize, &[bool]) -> Result<M, ForestError>,
) -> Result<M, ForestError>
where
    D: Data<Elem = f32>,
    T: AsSingleTargets<Elem = bool>,
{
    let records = dataset.records();
    let owned: Vec<f32>;
    let x = match records.as_slice() {
        Some(s) => s,
        None => {
            owned = records.iter().copied().collect();
            &owned
        }
    };
    let y: Vec<bool> = dataset.as_single_targets().iter().copied().collect();
    fit(x, records.ncols(), &y)
}

/// The body of both families' linfa `PredictInplace`: "yes" where the
/// probability is at least 0.5.
///
/// # Panics
/// If `x` does not have the model's width or `y` has not one entry per row.
pub(crate) fn predict_inplace<D, M>(model: &M, x: &ArrayBase<D, Ix2>, y: &mut Array1<bool>)
where
    D: Data<Elem = f32>,
    M: RowModel,
{
    assert_eq!(
        x.nrows(),
        y.len(),
        "the number of rows must match the number of targets"
    );
    let probabilities = match x.as_slice() {
        Some(s) => predict_rows(model, s, x.ncols()),
        None => x
            .rows()
            .into_iter()
            .map(|r| {
                let row = r.to_vec();
                assert_row(model, &row);
                model.score_row(&row)
            })
            .collect(),
    };
    for (target, p) in y.iter_mut().zip(probabilities) {
        *target = p >= 0.5;
    }
}

/// linfa's `Fit` for a family's checked parameters (and, through linfa's
/// blanket impl, for the unchecked ones) and `PredictInplace` for its model.
/// A macro because linfa's traits are foreign: a blanket impl over every
/// [`RowModel`] is not allowed, so each family gets its own two impls,
/// written once here.
macro_rules! linfa_impls {
    ($params:ty => $model:ty, $fit_doc:literal, |$p:ident, $x:ident, $n:ident, $y:ident| $fit:expr) => {
        impl<D, T> linfa::traits::Fit<ndarray::ArrayBase<D, ndarray::Ix2>, T, ForestError>
            for $params
        where
            D: ndarray::Data<Elem = f32>,
            T: linfa::dataset::AsSingleTargets<Elem = bool>,
        {
            type Object = $model;

            #[doc = $fit_doc]
            fn fit(
                &self,
                dataset: &linfa::dataset::DatasetBase<ndarray::ArrayBase<D, ndarray::Ix2>, T>,
            ) -> Result<$model, ForestError> {
                let $p = self;
                $crate::forest::model::fit_dataset(dataset, |$x, $n, $y| $fit)
            }
        }

        impl<D>
            linfa::traits::PredictInplace<
                ndarray::ArrayBase<D, ndarray::Ix2>,
                ndarray::Array1<bool>,
            > for $model
        where
            D: ndarray::Data<Elem = f32>,
        {
            /// Predicts "yes" where the probability is at least 0.5.
            ///
            /// # Panics
            /// If `x` does not have `n_features` columns or `y` has not
            /// one entry per row.
            fn predict_inplace(
                &self,
                x: &ndarray::ArrayBase<D, ndarray::Ix2>,
                y: &mut ndarray::Array1<bool>,
            ) {
                $crate::forest::model::predict_inplace(self, x, y)
            }

            fn default_target(
                &self,
                x: &ndarray::ArrayBase<D, ndarray::Ix2>,
            ) -> ndarray::Array1<bool> {
                ndarray::Array1::from_elem(x.nrows(), false)
            }
        }
    };
}

linfa_impls!(
    super::ForestValidParams => super::Forest,
    "Fits on the dataset's records and single boolean target; dataset sample weights are ignored (use [`ClassWeight`](super::ClassWeight)).",
    |p, x, n, y| p.fit_matrix(x, n, y, &super::FitOptions::default())
);

linfa_impls!(
    super::boost::BoostValidParams => super::boost::Booster,
    "Fits on the dataset's records and single boolean target, without early stopping (a dataset carries no validation rows).",
    |p, x, n, y| p.fit_matrix(x, n, y, None, &super::FitOptions::default())
);
