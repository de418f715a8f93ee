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

    /// The rows `rows` (indices into this matrix, in that order), with this
    /// matrix's cuts.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select_rows(&self, rows: &[usize]) -> BinnedMatrix {
        let n_rows = rows.len();
        let mut codes = vec![0u8; n_rows * self.n_features()];
        codes
            .par_chunks_mut(n_rows.max(1))
            .enumerate()
            .for_each(|(f, column)| {
                let from = self.column(f);
                for (code, &r) in column.iter_mut().zip(rows) {
                    *code = from[r];
                }
            });
        BinnedMatrix {
            n_rows,
            codes,
            cuts: self.cuts.clone(),
        }
    }

    /// The same rows in at most `max_bins` bins per feature (clamped to
    /// `2..=255`): adjacent bins merged, by the rule that made them, into
    /// groups of roughly equal row counts. The cuts kept are a subset of
    /// this matrix's, so a raw value's code is still
    /// `bin_value(cuts, value)`, and no raw matrix is needed. A feature with
    /// no more bins than that keeps its own.
    pub fn coarsened(&self, max_bins: usize) -> BinnedMatrix {
        let max_bins = max_bins.clamp(2, 255);
        let n = self.n_rows.max(1);
        let mut codes = vec![0u8; self.codes.len()];
        let cuts: Vec<Vec<f32>> = codes
            .par_chunks_mut(n)
            .zip(self.cuts.par_iter())
            .enumerate()
            .map(|(f, (out, fine))| {
                let column = self.column(f);
                if fine.len() < max_bins {
                    out.copy_from_slice(column);
                    return fine.clone();
                }
                let mut counts = [0usize; 256];
                for &c in column {
                    counts[usize::from(c)] += 1;
                }
                // The fine codes with rows play the distinct values of
                // `compute_cuts`; a cut after code `c` is `fine[c]`.
                let present: Vec<usize> = (0..=fine.len()).filter(|&c| counts[c] > 0).collect();
                let weights: Vec<usize> = present.iter().map(|&c| counts[c]).collect();
                let kept: Vec<usize> = equal_count_breaks(&weights, max_bins)
                    .into_iter()
                    .map(|i| present[i])
                    .collect();
                // Fine code `c` lies above the kept cuts with index below it.
                let mut map = [MISSING; 256];
                let mut below = 0u8;
                for (c, slot) in map.iter_mut().enumerate().take(fine.len() + 1) {
                    while usize::from(below) < kept.len() && kept[usize::from(below)] < c {
                        below += 1;
                    }
                    *slot = below;
                }
                for (o, &c) in out.iter_mut().zip(column) {
                    *o = map[usize::from(c)];
                }
                kept.iter().map(|&c| fine[c]).collect()
            })
            .collect();
        BinnedMatrix {
            n_rows: self.n_rows,
            codes,
            cuts,
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
    let counts: Vec<usize> = distinct.iter().map(|&(_, count)| count).collect();
    equal_count_breaks(&counts, max_bins)
        .into_iter()
        .map(|i| midpoint(distinct[i].0, distinct[i + 1].0))
        .collect()
}

/// Where to close bins over consecutive groups of `counts` rows so that
/// there are at most `max_bins` bins of roughly equal row counts: the
/// indices of the groups after which a bin closes. With no more groups
/// than `max_bins`, each is a bin of its own; otherwise a bin closes
/// whenever the running count reaches the next quantile target.
fn equal_count_breaks(counts: &[usize], max_bins: usize) -> Vec<usize> {
    let last = counts.len().saturating_sub(1);
    if counts.len() <= max_bins {
        return (0..last).collect();
    }
    let per_bin = counts.iter().sum::<usize>() as f64 / max_bins as f64;
    let mut breaks = Vec::new();
    let mut seen = 0usize;
    for (i, &count) in counts.iter().enumerate().take(last) {
        seen += count;
        if seen as f64 >= per_bin * (breaks.len() + 1) as f64 {
            breaks.push(i);
            if breaks.len() == max_bins - 1 {
                break;
            }
        }
    }
    breaks
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

    /// A coarsened matrix caps each feature's bins, keeps a feature that
    /// already fits as it was, codes every value as its own cuts would, and
    /// balances its bins about as direct binning does.
    #[test]
    fn coarsening_keeps_codes_consistent_with_its_cuts() {
        let n = 20_000;
        let mut x = Vec::with_capacity(n * 3);
        for i in 0..n {
            let f = i as f32;
            // Continuous, with missing values; few distinct values; skewed
            // with a heavy tie at zero (like rainfall).
            x.push(if i % 17 == 0 {
                f32::NAN
            } else {
                (f * 0.37).sin() * 100.0
            });
            x.push((i % 40) as f32);
            x.push(if i % 3 == 0 {
                (f * 0.11).cos().abs() * 50.0
            } else {
                0.0
            });
        }
        let fine = BinnedMatrix::from_rows(&x, 3, 255);
        let coarse = fine.coarsened(63);
        assert_eq!(coarse.n_rows(), n);
        assert_eq!(coarse.cuts(1), fine.cuts(1), "40 values fit in 63 bins");
        assert_eq!(coarse.column(1), fine.column(1));
        for f in 0..3 {
            let cuts = coarse.cuts(f);
            assert!(cuts.len() <= 62, "feature {f}: {} cuts", cuts.len());
            assert!(cuts.iter().all(|c| fine.cuts(f).contains(c)));
            for (r, &code) in coarse.column(f).iter().enumerate() {
                assert_eq!(code, bin_value(cuts, x[r * 3 + f]), "feature {f}, row {r}");
            }
        }
        // The continuous feature's bins hold roughly equal counts.
        let mut counts = [0usize; 256];
        for &c in coarse.column(0) {
            counts[usize::from(c)] += 1;
        }
        let filled: Vec<usize> = counts[..=coarse.cuts(0).len()].to_vec();
        let (lo, hi) = (filled.iter().min().unwrap(), filled.iter().max().unwrap());
        assert!(coarse.cuts(0).len() >= 55, "{}", coarse.cuts(0).len());
        assert!(*hi <= 2 * *lo + 200, "bins from {lo} to {hi} rows");
        assert_eq!(counts[usize::from(MISSING)], n.div_ceil(17));
    }

    #[test]
    fn adjacent_floats_keep_order() {
        let a = 1.0f32;
        let b = f32::from_bits(a.to_bits() + 1);
        let t = midpoint(a, b);
        assert!(a <= t && t < b);
    }
}
