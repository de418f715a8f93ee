//! The streaming threshold search over one feature's bins, the builder's
//! innermost loop.

use super::{Split, Stats};

/// Streaming threshold search over one feature's non-empty bins, fed in
/// increasing code order; the missing rows' statistics are known upfront.
/// The best candidate is kept in plain fields (this is the innermost loop).
pub(super) struct Scanner {
    missing: Stats,
    total: Stats,
    cw: [f64; 2],
    min_leaf: u32,
    /// Non-missing rows with codes up to `prev`.
    cum: Stats,
    prev: u8,
    /// Best score so far as a fraction `best_num / best_den` (`den > 0`), so
    /// candidates are compared by cross-multiplication without dividing.
    best_num: f64,
    best_den: f64,
    best_left_code: u8,
    /// Right code of the best split; 256 = none (all values left).
    best_right_code: u16,
    best_missing_left: bool,
    best_left: Stats,
}

impl Scanner {
    #[inline]
    pub(super) fn new(missing: Stats, total: Stats, cw: [f64; 2], min_leaf: u32) -> Self {
        Self {
            missing,
            total,
            cw,
            min_leaf,
            cum: Stats::default(),
            prev: 0,
            best_num: -1.0,
            best_den: 1.0,
            best_left_code: 0,
            best_right_code: 0,
            best_missing_left: false,
            best_left: Stats::default(),
        }
    }

    /// The next non-empty bin.
    #[inline(always)]
    pub(super) fn feed(&mut self, code: u8, s: Stats) {
        if self.cum.rows > 0 {
            self.candidate(u16::from(code));
        }
        self.cum = self.cum.plus(s);
        self.prev = code;
    }

    /// Scores the threshold between `self.prev` and `right_code` (or, with
    /// 256, "every value left, missing right"), missing on either side.
    #[inline(always)]
    fn candidate(&mut self, right_code: u16) {
        self.try_side(right_code, false, self.cum);
        if self.missing.rows > 0 {
            self.try_side(right_code, true, self.cum.plus(self.missing));
        }
    }

    #[inline(always)]
    fn try_side(&mut self, right_code: u16, missing_left: bool, left: Stats) {
        let right = self.total.minus(left);
        if left.rows < self.min_leaf || right.rows < self.min_leaf {
            return;
        }
        // score = sq_l / w_l + sq_r / w_r = (sq_l·w_r + sq_r·w_l) / (w_l·w_r)
        let (l0, l1) = left.weighted(self.cw);
        let (r0, r1) = right.weighted(self.cw);
        let (wl, wr) = (l0 + l1, r0 + r1);
        let num = (l0 * l0 + l1 * l1) * wr + (r0 * r0 + r1 * r1) * wl;
        let den = wl * wr;
        if num * self.best_den > self.best_num * den {
            self.best_num = num;
            self.best_den = den;
            self.best_left_code = self.prev;
            self.best_right_code = right_code;
            self.best_missing_left = missing_left;
            self.best_left = left;
        }
    }

    #[inline]
    pub(super) fn finish(mut self) -> Option<Split> {
        if self.cum.rows > 0 && self.missing.rows > 0 {
            self.candidate(256);
        }
        (self.best_num >= 0.0).then(|| Split {
            feature: 0,
            left_code: self.best_left_code,
            right_code: u8::try_from(self.best_right_code).ok(),
            missing_left: self.best_missing_left,
            saw_missing: self.missing.rows > 0,
            score: self.best_num / self.best_den,
            left: self.best_left,
            right: self.total.minus(self.best_left),
        })
    }
}
