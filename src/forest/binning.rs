//! Quantile binning of the raw `f32` features into `u8` codes.
//!
//! For every feature the distinct non-missing values (of a deterministic row
//! subsample when the data is large) are cut into at most `max_bins` groups of
//! roughly equal row counts. Each cut is a raw `f32` threshold lying between
//! two adjacent distinct values; a value's code is the number of cuts strictly
//! below it, so `code <= k` exactly when `value <= cuts[k]`. Trees therefore
//! store `cuts[k]` as their split threshold and prediction never needs the
//! bin tables. Code [`MISSING`] marks `NaN`.

use rayon::prelude::*;

/// The code of a missing (`NaN`) value.
pub(crate) const MISSING: u8 = 255;

/// Rows used to compute cut points when there are more.
const MAX_CUT_SAMPLE: usize = 200_000;

/// The training matrix turned into bin codes, column-major: one byte per
/// value, a quarter of the `f32` matrix, so callers can drop the raw matrix
/// once it is binned (see [`ForestValidParams::fit_binned`](super::ForestValidParams::fit_binned)).
#[derive(Debug)]
pub struct BinnedMatrix {
    n_rows: usize,
    /// `codes[f * n_rows + r]`.
    codes: Vec<u8>,
    /// Per feature, the ascending cut thresholds (at most 254).
    cuts: Vec<Vec<f32>>,
}

impl BinnedMatrix {
    /// Bins one column at a time: `column(f)` returns feature `f`'s values
    /// for all `n_rows` rows (`NaN` = missing, no infinities). Only one raw
    /// column is held at once, so a matrix can be binned straight from disk.
    /// `max_bins` is clamped to `2..=255`.
    pub fn from_columns(
        n_rows: usize,
        n_features: usize,
        max_bins: usize,
        mut column: impl FnMut(usize) -> Vec<f32>,
    ) -> Self {
        let max_bins = max_bins.clamp(2, 255);
        let mut codes = vec![0u8; n_rows * n_features];
        let mut cuts = Vec::with_capacity(n_features);
        for f in 0..n_features {
            let values = column(f);
            assert_eq!(values.len(), n_rows, "column {f} has the wrong length");
            let mut sample: Vec<f32> = if n_rows > MAX_CUT_SAMPLE {
                (0..MAX_CUT_SAMPLE)
                    .map(|i| values[i * n_rows / MAX_CUT_SAMPLE])
                    .filter(|v| !v.is_nan())
                    .collect()
            } else {
                values.iter().copied().filter(|v| !v.is_nan()).collect()
            };
            let c = compute_cuts(&mut sample, max_bins);
            for (code, &v) in codes[f * n_rows..(f + 1) * n_rows].iter_mut().zip(&values) {
                *code = bin_value(&c, v);
            }
            cuts.push(c);
        }
        Self {
            n_rows,
            codes,
            cuts,
        }
    }

    /// Bins a row-major matrix of `n_features` columns (`NaN` = missing, no
    /// infinities). `max_bins` is clamped to `2..=255`.
    pub fn from_rows(x: &[f32], n_features: usize, max_bins: usize) -> Self {
        Self::new(x, n_features, max_bins.clamp(2, 255))
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.cuts.len()
    }

    /// Bins a row-major matrix of `n_features` columns (no infinities).
    pub(crate) fn new(x: &[f32], n_features: usize, max_bins: usize) -> Self {
        let n_rows = x.len() / n_features;
        let sample: Vec<usize> = if n_rows > MAX_CUT_SAMPLE {
            (0..MAX_CUT_SAMPLE)
                .map(|i| i * n_rows / MAX_CUT_SAMPLE)
                .collect()
        } else {
            (0..n_rows).collect()
        };
        let cuts: Vec<Vec<f32>> = (0..n_features)
            .into_par_iter()
            .map(|f| {
                let mut values: Vec<f32> = sample
                    .iter()
                    .map(|&r| x[r * n_features + f])
                    .filter(|v| !v.is_nan())
                    .collect();
                compute_cuts(&mut values, max_bins)
            })
            .collect();
        let mut codes = vec![0u8; n_rows * n_features];
        codes
            .par_chunks_mut(n_rows.max(1))
            .zip(cuts.par_iter())
            .enumerate()
            .for_each(|(f, (column, cuts))| {
                for (r, code) in column.iter_mut().enumerate() {
                    *code = bin_value(cuts, x[r * n_features + f]);
                }
            });
        Self {
            n_rows,
            codes,
            cuts,
        }
    }

    /// This matrix's rows followed by the rows of the row-major `x`, binned
    /// with this matrix's cuts (`NaN` = missing, no infinities).
    ///
    /// # Panics
    /// If `x` is not a whole number of rows of this matrix's width.
    pub fn with_rows(&self, x: &[f32]) -> BinnedMatrix {
        let n_features = self.n_features();
        assert!(
            n_features > 0 && x.len().is_multiple_of(n_features),
            "{} values are not rows of {n_features} features",
            x.len()
        );
        let extra = x.len() / n_features;
        let n_rows = self.n_rows + extra;
        let mut codes = vec![0u8; n_rows * n_features];
        codes
            .par_chunks_mut(n_rows.max(1))
            .enumerate()
            .for_each(|(f, column)| {
                column[..self.n_rows].copy_from_slice(self.column(f));
                for (r, code) in column[self.n_rows..].iter_mut().enumerate() {
                    *code = bin_value(&self.cuts[f], x[r * n_features + f]);
                }
            });
        BinnedMatrix {
            n_rows,
            codes,
            cuts: self.cuts.clone(),
        }
    }

    /// The codes of feature `f`, one per row.
    pub(crate) fn column(&self, f: usize) -> &[u8] {
        &self.codes[f * self.n_rows..(f + 1) * self.n_rows]
    }

    /// The cut thresholds of feature `f`.
    pub(crate) fn cuts(&self, f: usize) -> &[f32] {
        &self.cuts[f]
    }
}

/// The code of one value given its feature's cuts.
pub(crate) fn bin_value(cuts: &[f32], v: f32) -> u8 {
    if v.is_nan() {
        MISSING
    } else {
        // At most 254 cuts, so the count fits in 0..=254.
        cuts.partition_point(|&c| c < v) as u8
    }
}

/// Cut points splitting `values` (non-`NaN`, finite) into at most `max_bins`
/// quantile bins. Sorts `values` in place.
fn compute_cuts(values: &mut [f32], max_bins: usize) -> Vec<f32> {
    values.sort_unstable_by(f32::total_cmp);
    // Distinct values with their multiplicities (-0.0 and 0.0 are merged).
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for &v in values.iter() {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    let mut cuts = Vec::new();
    if distinct.len() <= max_bins {
        cuts.extend(distinct.windows(2).map(|w| midpoint(w[0].0, w[1].0)));
        return cuts;
    }
    // Walk the distinct values, closing a bin whenever the running count
    // reaches the next quantile target.
    let n = values.len() as f64;
    let per_bin = n / max_bins as f64;
    let mut seen = 0usize;
    for (i, &(v, count)) in distinct.iter().enumerate().take(distinct.len() - 1) {
        seen += count;
        let target = per_bin * (cuts.len() + 1) as f64;
        if seen as f64 >= target {
            cuts.push(midpoint(v, distinct[i + 1].0));
            if cuts.len() == max_bins - 1 {
                break;
            }
        }
    }
    cuts
}

/// A threshold `t` with `a <= t < b` for `a < b`, as central as `f32` allows.
fn midpoint(a: f32, b: f32) -> f32 {
    let m = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if m >= a && m < b { m } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let mut v = vec![3.0, 1.0, 2.0, 2.0, 1.0];
        let cuts = compute_cuts(&mut v, 255);
        assert_eq!(cuts, vec![1.5, 2.5]);
        assert_eq!(bin_value(&cuts, 1.0), 0);
        assert_eq!(bin_value(&cuts, 2.0), 1);
        assert_eq!(bin_value(&cuts, 3.0), 2);
        assert_eq!(bin_value(&cuts, f32::NAN), MISSING);
    }

    #[test]
    fn many_values_are_capped_and_consistent_with_thresholds() {
        let mut v: Vec<f32> = (0..10_000).map(|i| (i as f32 * 0.37).sin()).collect();
        let original = v.clone();
        let cuts = compute_cuts(&mut v, 16);
        assert!(cuts.len() <= 15 && cuts.len() >= 10, "{}", cuts.len());
        assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        for &x in &original {
            let code = bin_value(&cuts, x) as usize;
            for (k, &c) in cuts.iter().enumerate() {
                assert_eq!(code <= k, x <= c);
            }
        }
    }

    #[test]
    fn adjacent_floats_keep_order() {
        let a = 1.0f32;
        let b = f32::from_bits(a.to_bits() + 1);
        let t = midpoint(a, b);
        assert!(a <= t && t < b);
    }
}
