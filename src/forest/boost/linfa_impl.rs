//! linfa trait implementations: `Fit` for [`BoostValidParams`] (and, through
//! linfa's blanket impl, for [`BoostParams`](super::BoostParams)) and
//! `PredictInplace` for [`Booster`].

use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, Data, Ix2};

use super::{BoostValidParams, Booster};
use crate::forest::{FitOptions, ForestError};

impl<D, T> Fit<ArrayBase<D, Ix2>, T, ForestError> for BoostValidParams
where
    D: Data<Elem = f32>,
    T: AsSingleTargets<Elem = bool>,
{
    type Object = Booster;

    /// Fits on the dataset's records and single boolean target, without
    /// early stopping (a dataset carries no validation rows).
    fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> Result<Booster, ForestError> {
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
        self.fit_matrix(x, records.ncols(), &y, None, &FitOptions::default())
    }
}

impl<D> PredictInplace<ArrayBase<D, Ix2>, Array1<bool>> for Booster
where
    D: Data<Elem = f32>,
{
    /// Predicts "yes" where the probability is at least 0.5.
    ///
    /// # Panics
    /// If `x` does not have [`Booster::n_features`] columns or `y` has not
    /// one entry per row.
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<bool>) {
        assert_eq!(
            x.nrows(),
            y.len(),
            "the number of rows must match the number of targets"
        );
        let probabilities = match x.as_slice() {
            Some(s) => self.predict_proba(s, x.ncols()),
            None => x
                .rows()
                .into_iter()
                .map(|r| self.predict_proba_row(&r.to_vec()))
                .collect(),
        };
        for (target, p) in y.iter_mut().zip(probabilities) {
            *target = p >= 0.5;
        }
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<bool> {
        Array1::from_elem(x.nrows(), false)
    }
}
