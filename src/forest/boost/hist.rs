//! A boosting tree's histograms: gradients and hessians quantized to
//! integers, their per-bin sums over a node's rows, and where each allowed
//! feature's bins sit.

use rayon::prelude::*;

use crate::forest::binning::BinnedMatrix;

/// Nodes with fewer row × feature visits than this build their histogram on
/// the calling thread: below it, handing features to rayon costs more than
/// the sums (the result is the same either way).
const PARALLEL_MIN_VISITS: usize = 32 * 1024;
/// Nodes with at least this many rows sum their histograms in four
/// interleaved parts (see `histogram`); below it, clearing and merging the
/// other three costs more than it saves.
const INTERLEAVE_MIN_ROWS: usize = 1024;

/// Gradient, hessian and row count of a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Bin {
    pub(crate) g: f64,
    pub(crate) h: f64,
    pub(crate) n: u32,
}

/// A histogram slot in integers: lane 0 holds the quantized gradients (each
/// offset by [`G_OFFSET`] to be non-negative) in its low [`COUNT_SHIFT`] bits
/// and the row count above them; lane 1 the quantized hessians. One 16-byte
/// add updates all three, the sums are exact whatever their order (so the
/// threads never change a tree), and a parent minus a child is exactly the
/// other child. Fields cannot carry into each other below [`MAX_ROWS`] rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct QBin([u64; 2]);

/// Where lane 0's row count starts.
const COUNT_SHIFT: u32 = 40;
/// Quantized gradients run over `-G_LEVELS..=G_LEVELS`.
const G_LEVELS: f64 = 32_767.0;
/// Added to each quantized gradient so that it is non-negative.
const G_OFFSET: u64 = 32_768;
/// Quantized hessians run over `0..=H_LEVELS`.
const H_LEVELS: f64 = 65_535.0;
/// Rows a tree can learn from: below 2^24, neither the gradient sums (at most
/// 2^16 a row) nor the count reach past their bits.
pub(crate) const MAX_ROWS: usize = (1 << 24) - 1;

impl QBin {
    #[inline(always)]
    pub(crate) fn add(&mut self, o: Self) {
        self.0[0] = self.0[0].wrapping_add(o.0[0]);
        self.0[1] = self.0[1].wrapping_add(o.0[1]);
    }

    #[inline(always)]
    pub(crate) fn sub(&mut self, o: Self) {
        self.0[0] = self.0[0].wrapping_sub(o.0[0]);
        self.0[1] = self.0[1].wrapping_sub(o.0[1]);
    }

    /// Rows summed here.
    #[inline(always)]
    pub(crate) fn count(self) -> u32 {
        (self.0[0] >> COUNT_SHIFT) as u32
    }
}

/// How one tree's gradients and hessians are quantized: each is a whole
/// number of its step, 1/32,767 of the largest gradient's size and 1/65,535
/// of the largest hessian (16 bits each, as LightGBM's quantized training
/// does with fewer). A sum over a node is off by less than half a step a row,
/// about 10^-5 of the largest gradient, far below what moves a split.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quant {
    g_step: f64,
    h_step: f64,
    /// Their inverses: a multiplication a row instead of a division.
    g_per: f64,
    h_per: f64,
}

impl Quant {
    pub(crate) fn new(gh: &[[f32; 2]]) -> Self {
        let (mut g, mut h) = (0.0f64, 0.0f64);
        for p in gh {
            g = g.max(f64::from(p[0]).abs());
            h = h.max(f64::from(p[1]));
        }
        // All-zero gradients still get a finite step, and its inverse too.
        let (g_step, h_step) = (g.max(1e-30) / G_LEVELS, h.max(1e-30) / H_LEVELS);
        Self {
            g_step,
            h_step,
            g_per: g_step.recip(),
            h_per: h_step.recip(),
        }
    }

    #[inline(always)]
    pub(crate) fn encode(&self, gh: [f32; 2]) -> QBin {
        // Nearest, ties away from zero (`as` truncates toward zero).
        let g = f64::from(gh[0]) * self.g_per;
        let g = (g + 0.5f64.copysign(g)).clamp(-G_LEVELS, G_LEVELS) as i64;
        let h = (f64::from(gh[1]) * self.h_per + 0.5).clamp(0.0, H_LEVELS) as u64;
        QBin([(g + G_OFFSET as i64) as u64 | 1 << COUNT_SHIFT, h])
    }

    #[inline(always)]
    pub(crate) fn decode(&self, q: QBin) -> Bin {
        let n = q.0[0] >> COUNT_SHIFT;
        let g = (q.0[0] & ((1 << COUNT_SHIFT) - 1)) as i64 - (G_OFFSET * n) as i64;
        Bin {
            g: g as f64 * self.g_step,
            h: q.0[1] as f64 * self.h_step,
            n: n as u32,
        }
    }
}

/// Where each allowed feature's bins sit in a node's histogram. A feature
/// with `k` cuts has codes `0..=k` and one more slot for missing values, so
/// a histogram is as long as the data needs rather than 256 slots a feature:
/// less to clear, to subtract and to scan for the best split.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    /// `offsets[k]..offsets[k + 1]`: the slots of the `k`-th allowed feature;
    /// the last of them counts missing values.
    offsets: Vec<usize>,
}

impl Layout {
    /// The layout for `features` of `data`.
    pub(crate) fn new(data: &BinnedMatrix, features: &[usize]) -> Self {
        let mut offsets = Vec::with_capacity(features.len() + 1);
        let mut at = 0;
        offsets.push(at);
        for &f in features {
            at += data.cuts(f).len() + 2;
            offsets.push(at);
        }
        Self { offsets }
    }

    /// Slots of a whole histogram.
    pub(crate) fn len(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// The histogram split into one slice per allowed feature.
    pub(crate) fn chunks<'h>(&self, mut hist: &'h [QBin]) -> impl Iterator<Item = &'h [QBin]> {
        self.offsets.windows(2).map(move |w| {
            let (head, tail) = hist.split_at(w[1] - w[0]);
            hist = tail;
            head
        })
    }
}

/// Fills `hist` (cleared, laid out by `layout`) with the sums of rows `rows`
/// (with their quantized gradients `q`) over the allowed features.
pub(crate) fn histogram(
    data: &BinnedMatrix,
    features: &[usize],
    layout: &Layout,
    rows: &[u32],
    q: &[QBin],
    hist: &mut [QBin],
) {
    let fill = |h: &mut [QBin], f: usize| {
        let column = data.column(f);
        let missing = h.len() - 1;
        // Codes above the last value bin are MISSING: its own slot.
        let slot = |r: u32| usize::from(column[r as usize]).min(missing);
        if rows.len() < INTERLEAVE_MIN_ROWS {
            for (&r, &g) in rows.iter().zip(q) {
                h[slot(r)].add(g);
            }
            return;
        }
        // Rows in turn into four histograms (`h` and three more), then one
        // merge: consecutive rows that fall in the same bin no longer wait
        // on each other's update, which is most rows for a feature with few
        // bins (a store to a slot and the next load of it are a chain).
        let mut more = [[QBin::default(); 256]; 3];
        let [b, c, d] = &mut more;
        let (b, c, d) = (&mut b[..h.len()], &mut c[..h.len()], &mut d[..h.len()]);
        let quads = rows.chunks_exact(4).zip(q.chunks_exact(4));
        for (r, g) in quads {
            h[slot(r[0])].add(g[0]);
            b[slot(r[1])].add(g[1]);
            c[slot(r[2])].add(g[2]);
            d[slot(r[3])].add(g[3]);
        }
        let tail = rows.len() / 4 * 4;
        for (&r, &g) in rows[tail..].iter().zip(&q[tail..]) {
            h[slot(r)].add(g);
        }
        for (((a, b), c), d) in h.iter_mut().zip(b.iter()).zip(c.iter()).zip(d.iter()) {
            a.add(*b);
            a.add(*c);
            a.add(*d);
        }
    };
    let mut chunks: Vec<&mut [QBin]> = Vec::with_capacity(features.len());
    let mut rest = hist;
    for w in layout.offsets.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        chunks.push(head);
        rest = tail;
    }
    if rows.len() * features.len() < PARALLEL_MIN_VISITS {
        for (h, &f) in chunks.into_iter().zip(features) {
            fill(h, f);
        }
    } else {
        chunks
            .into_par_iter()
            .zip(features.par_iter())
            .for_each(|(h, &f)| fill(h, f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::rng::Rng;

    /// Sums in integers decode to the exact sums within half a step a row,
    /// with exact counts, in any order, and a parent minus one child is the
    /// other child exactly.
    #[test]
    fn quantized_sums_are_exact_integers_close_to_the_real_sums() {
        let mut rng = Rng::for_tree(3, 0);
        let uniform = |rng: &mut Rng| (rng.next_u64() >> 40) as f64 / (1u64 << 24) as f64;
        let gh: Vec<[f32; 2]> = (0..50_000)
            .map(|_| {
                let p = uniform(&mut rng);
                let y = uniform(&mut rng) < 0.3;
                [
                    (p - f64::from(u8::from(y))) as f32,
                    (p * (1.0 - p)).max(1e-16) as f32,
                ]
            })
            .collect();
        let quant = Quant::new(&gh);
        let q: Vec<QBin> = gh.iter().map(|&g| quant.encode(g)).collect();
        let sum = |q: &[QBin]| {
            q.iter().fold(QBin::default(), |mut a, &b| {
                a.add(b);
                a
            })
        };
        let (left, right) = q.split_at(12_345);
        let mut whole = sum(&q);
        let reversed: Vec<QBin> = q.iter().rev().copied().collect();
        assert_eq!(sum(&reversed), whole, "order changes an integer sum");
        whole.sub(sum(left));
        assert_eq!(whole, sum(right), "parent minus a child is the other child");
        let exact = |gh: &[[f32; 2]]| {
            gh.iter().fold((0.0f64, 0.0f64), |(g, h), p| {
                (g + f64::from(p[0]), h + f64::from(p[1]))
            })
        };
        for (rows, q) in [
            (&gh[..12_345], left),
            (&gh[12_345..], right),
            (&gh[..], &q[..]),
        ] {
            let got = quant.decode(sum(q));
            let (g, h) = exact(rows);
            let n = rows.len() as f64;
            assert_eq!(got.n as usize, rows.len());
            assert!(
                (got.g - g).abs() <= n * quant.g_step / 2.0 + 1e-9,
                "{} vs {g}",
                got.g
            );
            assert!(
                (got.h - h).abs() <= n * quant.h_step / 2.0 + 1e-9,
                "{} vs {h}",
                got.h
            );
        }
        // The extremes: the largest gradient both ways, and all-zero rows.
        let edge = Quant::new(&[[1.0, 0.25], [-1.0, 0.0]]);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        assert!(close(edge.decode(edge.encode([1.0, 0.25])).g, 1.0));
        assert!(close(edge.decode(edge.encode([-1.0, 0.25])).g, -1.0));
        assert!(close(edge.decode(edge.encode([-1.0, 0.25])).h, 0.25));
        let zero = Quant::new(&[[0.0, 0.0]]);
        let z = zero.decode(zero.encode([0.0, 0.0]));
        assert_eq!((z.g, z.h, z.n), (0.0, 0.0, 1));
    }

    /// The most rows a tree takes fill the count and the gradient sums to
    /// their last bit without one reaching into the other.
    #[test]
    fn the_largest_sums_do_not_carry_into_the_count() {
        let quant = Quant::new(&[[1.0, 0.25]]);
        let mut top = QBin::default();
        let mut bottom = QBin::default();
        let (hi, lo) = (quant.encode([1.0, 0.25]), quant.encode([-1.0, 0.0]));
        // Doubling: 2^24 - 1 rows as sums of powers of two.
        let (mut p_hi, mut p_lo) = (hi, lo);
        let mut n = MAX_ROWS;
        while n > 0 {
            if n & 1 == 1 {
                top.add(p_hi);
                bottom.add(p_lo);
            }
            let (a, b) = (p_hi, p_lo);
            p_hi.add(a);
            p_lo.add(b);
            n >>= 1;
        }
        let (t, b) = (quant.decode(top), quant.decode(bottom));
        assert_eq!(t.n as usize, MAX_ROWS);
        assert_eq!(b.n as usize, MAX_ROWS);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(close(t.g, MAX_ROWS as f64), "{}", t.g);
        assert!(close(b.g, -(MAX_ROWS as f64)), "{}", b.g);
        assert!(close(t.h, 0.25 * MAX_ROWS as f64), "{}", t.h);
        assert_eq!(b.h, 0.0);
    }
}
