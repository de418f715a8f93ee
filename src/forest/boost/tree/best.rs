//! The best split of a node's histogram: numeric thresholds with missing
//! values on either side, and categorical splits over categories ordered
//! by their mean gradient.

use super::*;

impl Grower<'_> {
    /// The best split over the allowed features of a node's histogram.
    /// Candidates are summed in integers, so a split's two sides are exact
    /// and add up to the node; each is decoded once for its score.
    pub(super) fn best_split(&self, hist: &[QBin]) -> Option<Split> {
        let (min_leaf, min_h, l2) = (self.cfg.min_leaf, self.cfg.min_hessian, self.cfg.l2);
        let quant = self.quant;
        let score = |b: Bin| b.g * b.g / (b.h + l2);
        let mut best: Option<Split> = None;
        // A numeric feature's candidates: at most two per code (with and
        // without missing values on the left).
        let mut cands = [(QBin::default(), 0u8, None::<u8>, false); 2 * 256];
        let mut gains = [0.0f64; 2 * 256];
        for (slot, h) in self.layout.chunks(hist).enumerate() {
            let (&missing, values) = h.split_last().expect("every feature has a missing slot");
            let mut qtotal = missing;
            for &b in values {
                qtotal.add(b);
            }
            let total = quant.decode(qtotal);
            let n_total = qtotal.count();
            let parent = score(total);
            let mut consider = |left_q: QBin,
                                left_code: u8,
                                right_code: Option<u8>,
                                codes: Option<u64>,
                                ml: bool| {
                // Counts first: most candidates near a node's edges fail them.
                let n_left = left_q.count();
                if n_left < min_leaf || n_total - n_left < min_leaf {
                    return;
                }
                let mut right_q = qtotal;
                right_q.sub(left_q);
                let (left, right) = (quant.decode(left_q), quant.decode(right_q));
                // One division instead of two: a/b + c/d = (ad + cb) / bd.
                let (hl, hr) = (left.h + l2, right.h + l2);
                // A side whose quantized hessians are all zero (with no L2)
                // has no defined value.
                if left.h < min_h || right.h < min_h || hl <= 0.0 || hr <= 0.0 {
                    return;
                }
                let gain = (left.g * left.g * hr + right.g * right.g * hl) / (hl * hr) - parent;
                if gain > 1e-12 && best.is_none_or(|b| gain > b.gain) {
                    best = Some(Split {
                        slot,
                        left_code,
                        right_code,
                        codes,
                        missing_left: ml,
                        saw_missing: missing.count() > 0,
                        gain,
                        left,
                        right,
                    });
                }
            };
            let with_missing = |mut q: QBin| {
                q.add(missing);
                q
            };
            let has_missing = missing.count() > 0;
            if self.cfg.is_categorical(self.features[slot]) {
                // Categories in order of their smoothed mean gradient; the
                // best split sends a prefix of that order left (Fisher's
                // result for a convex loss), with missing values either way.
                let mut order: Vec<(f64, usize)> = values
                    .iter()
                    .enumerate()
                    .take(64)
                    .filter(|(_, b)| b.count() >= MIN_CATEGORY_ROWS)
                    .map(|(code, &b)| {
                        let b = quant.decode(b);
                        (b.g / (b.h + CATEGORY_SMOOTHING), code)
                    })
                    .collect();
                order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let mut cum = QBin::default();
                let mut set = 0u64;
                // The whole order is a split too when rare categories (or
                // missing values) are left for the right.
                for &(_, code) in &order {
                    cum.add(values[code]);
                    set |= 1 << code;
                    consider(cum, 0, None, Some(set), false);
                    if has_missing {
                        consider(with_missing(cum), 0, None, Some(set), true);
                    }
                }
                continue;
            }
            // Every candidate first (left sums and where they cut), then all
            // their gains in one loop without branches, so the divisions
            // overlap, then the first best: the same choice as trying them
            // one by one.
            let mut m = 0;
            let mut cum = QBin::default();
            let mut prev = None::<u8>;
            for (code, &b) in values.iter().enumerate() {
                if b.count() == 0 {
                    continue;
                }
                if let Some(prev) = prev {
                    cands[m] = (cum, prev, Some(code as u8), false);
                    m += 1;
                    if has_missing {
                        cands[m] = (with_missing(cum), prev, Some(code as u8), true);
                        m += 1;
                    }
                }
                cum.add(b);
                prev = Some(code as u8);
            }
            if let Some(prev) = prev
                && has_missing
            {
                cands[m] = (cum, prev, None, false);
                m += 1;
            }
            for (gain, &(left_q, ..)) in gains.iter_mut().zip(&cands[..m]) {
                let n_left = left_q.count();
                let mut right_q = qtotal;
                right_q.sub(left_q);
                let (left, right) = (quant.decode(left_q), quant.decode(right_q));
                let (hl, hr) = (left.h + l2, right.h + l2);
                let g = (left.g * left.g * hr + right.g * right.g * hl) / (hl * hr) - parent;
                let ok = n_left >= min_leaf
                    && n_total - n_left >= min_leaf
                    && left.h >= min_h
                    && right.h >= min_h
                    && hl > 0.0
                    && hr > 0.0;
                *gain = if ok { g } else { f64::NEG_INFINITY };
            }
            let mut top = best.map_or(1e-12, |b| b.gain.max(1e-12));
            let mut pick = None;
            for (k, &g) in gains[..m].iter().enumerate() {
                if g > top {
                    top = g;
                    pick = Some(k);
                }
            }
            if let Some(k) = pick {
                let (left_q, left_code, right_code, ml) = cands[k];
                let mut right_q = qtotal;
                right_q.sub(left_q);
                best = Some(Split {
                    slot,
                    left_code,
                    right_code,
                    codes: None,
                    missing_left: ml,
                    saw_missing: has_missing,
                    gain: top,
                    left: quant.decode(left_q),
                    right: quant.decode(right_q),
                });
            }
        }
        best
    }
}
