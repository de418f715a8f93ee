//! One boosting tree: compact storage, prediction, and the best-first,
//! histogram-based grower on gradients and hessians (the histograms
//! themselves are in `hist`).

use serde::{Deserialize, Serialize};

use super::hist::{Bin, Layout, MAX_ROWS, QBin, Quant, histogram};
use crate::forest::binning::{BinnedMatrix, MISSING, bin_value};

pub(crate) use crate::forest::model::{
    CATEGORICAL, LEAF, MAX_CATEGORIES, MISSING_LEFT, Node, category,
};
use crate::forest::model::{StoredTree, validate_nodes, walk};

/// A tree as a flat node array; children always come after their parent.
/// Nodes are the forest's, but a leaf holds an additive raw-score (log-odds)
/// contribution instead of a probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
    /// The left-going categories of each categorical split, bit `c` for
    /// category `c`.
    pub(crate) sets: Vec<u64>,
}

impl Tree {
    /// The leaf contribution for one row (`NaN` = missing).
    #[inline]
    pub(crate) fn predict(&self, row: &[f32]) -> f32 {
        walk(&self.nodes, &self.sets, row)
    }
}

impl StoredTree for Tree {
    /// The shared structural checks, finite leaves of a sane size,
    /// thresholds finite (or +∞, a split that sends every value left), and
    /// each categorical split naming one of the tree's sets.
    fn validate(&self, n_features: usize) -> Result<(), String> {
        validate_nodes(
            &self.nodes,
            n_features,
            MISSING_LEFT | CATEGORICAL,
            |i, leaf| {
                if !leaf.value.is_finite() {
                    return Err(format!("node {i} has value {}", leaf.value));
                }
                if leaf.value.abs() > 1e6 {
                    return Err(format!("leaf {i} has an absurd value {}", leaf.value));
                }
                Ok(())
            },
            |i, split| {
                if !(split.value.is_finite() || split.value == f32::INFINITY) {
                    return Err(format!("node {i} has value {}", split.value));
                }
                if split.flags & CATEGORICAL != 0
                    && !(split.value >= 0.0
                        && split.value.fract() == 0.0
                        && (split.value as usize) < self.sets.len())
                {
                    return Err(format!(
                        "categorical node {i} names set {} of {}",
                        split.value,
                        self.sets.len()
                    ));
                }
                Ok(())
            },
        )
    }
}

/// Growing settings shared by every tree of a model.
#[derive(Debug, Clone)]
pub(crate) struct GrowConfig {
    pub(crate) max_leaves: usize,
    pub(crate) max_depth: usize,
    pub(crate) min_leaf: u32,
    pub(crate) min_hessian: f64,
    pub(crate) l2: f64,
    pub(crate) learning_rate: f64,
    /// Bit `f`: feature `f` is categorical (its values category numbers).
    pub(crate) categorical: u64,
}

impl GrowConfig {
    fn is_categorical(&self, feature: usize) -> bool {
        feature < 64 && self.categorical >> feature & 1 == 1
    }
}

/// Categories with fewer rows in a node are not sorted into a categorical
/// split's left side (they follow the right): a station seen a few dozen
/// times in a node cannot be split off on noise. LightGBM's
/// `min_data_per_group`; scikit-learn uses 10, which in a year of replayed
/// operation (small windows, a few weeks per station) cost 0.0012 of live
/// Brier against 100 (`bench/replay.sh`, two seeds).
const MIN_CATEGORY_ROWS: u32 = 100;
/// The hessian sums that order the categories are smoothed by this much, so
/// a category's order rests on its mean gradient only when it has weight.
const CATEGORY_SMOOTHING: f64 = 10.0;

/// The best split of a node.
#[derive(Debug, Clone, Copy)]
struct Split {
    /// Position in the allowed-feature list.
    slot: usize,
    /// Numeric: the last code of the left side, and the first of the right
    /// (`None`: only missing values go right).
    left_code: u8,
    right_code: Option<u8>,
    /// Categorical: the codes sent left.
    codes: Option<u64>,
    missing_left: bool,
    saw_missing: bool,
    gain: f64,
    left: Bin,
    right: Bin,
}

/// A leaf of the tree being grown.
struct Leaf {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    /// Its out-of-sample rows: `oob[ostart..oend]`.
    ostart: usize,
    oend: usize,
    total: Bin,
    hist: Option<Vec<QBin>>,
    split: Option<Split>,
}

/// The bin codes an internal node sends left, [`MISSING`] included, one bit
/// each: routing a binned row is one lookup and no branch.
#[derive(Debug, Clone, Copy, Default)]
struct CodeSet([u64; 4]);

impl CodeSet {
    /// The codes for which `left` holds.
    fn new(left: impl Fn(u8) -> bool) -> Self {
        let mut set = [0u64; 4];
        for code in 0..=u8::MAX {
            set[usize::from(code >> 6)] |= u64::from(left(code)) << (code & 63);
        }
        Self(set)
    }

    #[inline(always)]
    fn contains(&self, code: u8) -> bool {
        self.0[usize::from(code >> 6)] >> (code & 63) & 1 == 1
    }
}

/// Where one leaf's training rows ended up, and its value.
#[derive(Debug, Clone)]
pub(crate) struct LeafRows {
    /// Its in-sample rows: `rows[range]` as [`grow`] left them.
    pub(crate) rows: std::ops::Range<usize>,
    /// Its out-of-sample rows: `oob[range]` as [`grow`] left them.
    pub(crate) oob: std::ops::Range<usize>,
    pub(crate) value: f32,
}

/// A grown tree and where its training rows ended up.
pub(crate) struct Grown {
    pub(crate) tree: Tree,
    /// Per leaf, where its rows are and its value.
    pub(crate) leaves: Vec<LeafRows>,
    /// Gain per feature.
    pub(crate) gains: Vec<f64>,
}

/// Buffers reused by every node of every tree of one fit, so growing a tree
/// allocates (and page-faults) nothing in its hot loop.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Histograms no longer in use.
    pool: Vec<Vec<QBin>>,
    /// The tree's rows' quantized gradients, in `rows` order.
    q: Vec<QBin>,
    /// A split's right side, while it is partitioned.
    right_rows: Vec<u32>,
    right_q: Vec<QBin>,
}

impl Scratch {
    /// A histogram buffer of `len` cleared slots.
    fn take(&mut self, len: usize) -> Vec<QBin> {
        let mut h = self.pool.pop().unwrap_or_default();
        h.clear();
        h.resize(len, QBin::default());
        h
    }

    fn give(&mut self, h: Vec<QBin>) {
        self.pool.push(h);
    }
}

/// The rows one tree learns from and routes.
pub(crate) struct Sample<'s> {
    /// In-sample row indices, reordered in place by the tree's splits.
    pub(crate) rows: &'s mut [u32],
    /// Their gradient/hessian pairs, in the order `rows` had.
    pub(crate) gh: &'s [[f32; 2]],
    /// Out-of-sample row indices, routed along (reordered in place), so each
    /// leaf knows all the rows it holds without a prediction per row.
    pub(crate) oob: &'s mut [u32],
}

/// Grows one tree on `sample` using only `features`, laid out in histograms
/// by `layout` (made for those features).
///
/// # Panics
/// With more than [`MAX_ROWS`] in-sample rows (the caller refuses them).
pub(crate) fn grow(
    data: &BinnedMatrix,
    sample: Sample<'_>,
    features: &[usize],
    layout: &Layout,
    cfg: &GrowConfig,
    scratch: &mut Scratch,
) -> Grown {
    let Sample { rows, gh, oob } = sample;
    assert!(rows.len() <= MAX_ROWS, "a tree of more than MAX_ROWS rows");
    let quant = Quant::new(gh);
    let mut q = std::mem::take(&mut scratch.q);
    q.clear();
    q.extend(gh.iter().map(|&g| quant.encode(g)));
    let mut sum = QBin::default();
    for &g in &q {
        sum.add(g);
    }
    let total = quant.decode(sum);
    let mut g = Grower {
        data,
        quant,
        features,
        layout,
        cfg,
        nodes: vec![Node::leaf(0.0)],
        sets: Vec::new(),
        gains: vec![0.0; data.n_features()],
        scratch,
    };
    let mut root = Leaf {
        node: 0,
        start: 0,
        end: rows.len(),
        ostart: 0,
        oend: oob.len(),
        depth: 0,
        total,
        hist: None,
        split: None,
    };
    g.prepare(&mut root, rows, &q, None);
    let mut leaves = vec![root];
    let mut n_leaves = 1;
    while n_leaves < cfg.max_leaves {
        let mut best: Option<usize> = None;
        for (i, l) in leaves.iter().enumerate() {
            if let Some(s) = &l.split
                && best.is_none_or(|b| s.gain > leaves[b].split.as_ref().map_or(0.0, |t| t.gain))
            {
                best = Some(i);
            }
        }
        let Some(i) = best else { break };
        let leaf = leaves.remove(i);
        let (left, right) = g.split(leaf, rows, &mut q, oob);
        leaves.push(left);
        leaves.push(right);
        n_leaves += 1;
    }
    let lr = cfg.learning_rate;
    let mut out = Vec::with_capacity(leaves.len());
    for l in &mut leaves {
        let value = (-lr * l.total.g / (l.total.h + cfg.l2)) as f32;
        let value = if value.is_finite() { value } else { 0.0 };
        g.nodes[l.node] = Node::leaf(value);
        out.push(LeafRows {
            rows: l.start..l.end,
            oob: l.ostart..l.oend,
            value,
        });
        if let Some(h) = l.hist.take() {
            g.scratch.give(h);
        }
    }
    g.nodes.shrink_to_fit();
    g.scratch.q = q;
    Grown {
        tree: Tree {
            nodes: g.nodes,
            sets: g.sets,
        },
        leaves: out,
        gains: g.gains,
    }
}

struct Grower<'a> {
    data: &'a BinnedMatrix,
    quant: Quant,
    features: &'a [usize],
    layout: &'a Layout,
    cfg: &'a GrowConfig,
    nodes: Vec<Node>,
    sets: Vec<u64>,
    gains: Vec<f64>,
    scratch: &'a mut Scratch,
}

impl Grower<'_> {
    fn splittable(&self, l: &Leaf) -> bool {
        l.depth < self.cfg.max_depth
            && l.total.n >= 2 * self.cfg.min_leaf
            && l.total.h >= 2.0 * self.cfg.min_hessian
    }

    /// A histogram of rows `start..end`, in a buffer from the pool.
    fn build(&mut self, rows: &[u32], q: &[QBin], start: usize, end: usize) -> Vec<QBin> {
        let mut hist = self.scratch.take(self.layout.len());
        histogram(
            self.data,
            self.features,
            self.layout,
            &rows[start..end],
            &q[start..end],
            &mut hist,
        );
        hist
    }

    /// Gives a splittable leaf its histogram (built, or `hist` when the
    /// caller derived it) and best split; others get neither (a derived
    /// histogram they do not need goes back to the pool).
    fn prepare(&mut self, l: &mut Leaf, rows: &[u32], q: &[QBin], hist: Option<Vec<QBin>>) {
        if !self.splittable(l) {
            if let Some(h) = hist {
                self.scratch.give(h);
            }
            return;
        }
        let hist = match hist {
            Some(h) => h,
            None => self.build(rows, q, l.start, l.end),
        };
        l.split = self.best_split(&hist);
        l.hist = Some(hist);
    }

    /// Splits a leaf: partitions its rows and returns the two children.
    fn split(
        &mut self,
        mut leaf: Leaf,
        rows: &mut [u32],
        q: &mut [QBin],
        oob: &mut [u32],
    ) -> (Leaf, Leaf) {
        let s = leaf
            .split
            .take()
            .expect("only leaves with a split are split");
        let feature = self.features[s.slot];
        let column = self.data.column(feature);
        let cuts = self.data.cuts(feature);
        let missing_left = if s.saw_missing {
            s.missing_left
        } else {
            s.left.h >= s.right.h
        };
        // The stored node, and the codes it sends left: the rows of this
        // node have none between `left_code` and `right_code`, but
        // out-of-sample rows may, and go where the stored tree sends them.
        let left_if = |left: &dyn Fn(u8) -> bool| {
            CodeSet::new(|code| {
                if code == MISSING {
                    missing_left
                } else {
                    left(code)
                }
            })
        };
        let (value, route, kind) = match (s.codes, s.right_code) {
            (Some(set), _) => {
                // The category numbers whose code is in the set.
                let categories = (0..MAX_CATEGORIES)
                    .filter(|&c| {
                        let code = bin_value(cuts, c as f32);
                        code < 64 && set >> code & 1 == 1
                    })
                    .fold(0u64, |acc, c| acc | 1 << c);
                self.sets.push(categories);
                let route = left_if(&|code| code < 64 && set >> code & 1 == 1);
                ((self.sets.len() - 1) as f32, route, CATEGORICAL)
            }
            (None, Some(rc)) => {
                let k = (usize::from(s.left_code) + usize::from(rc) - 1) / 2;
                (cuts[k], left_if(&|code| usize::from(code) <= k), 0)
            }
            (None, None) => (f32::INFINITY, left_if(&|_| true), 0),
        };
        // Stable partition of rows and gradients together: each row is
        // written to both sides and only its own side moves on.
        let Scratch {
            right_rows,
            right_q,
            ..
        } = &mut *self.scratch;
        let len = leaf.end - leaf.start;
        right_rows.resize(len.max(leaf.oend - leaf.ostart), 0);
        right_q.resize(len, QBin::default());
        let right_q = &mut right_q[..len];
        let (node_rows, node_q) = (
            &mut rows[leaf.start..leaf.end],
            &mut q[leaf.start..leaf.end],
        );
        let (mut l, mut k) = (0, 0);
        for i in 0..len {
            let (r, g) = (node_rows[i], node_q[i]);
            let left = route.contains(column[r as usize]);
            node_rows[l] = r;
            node_q[l] = g;
            right_rows[k] = r;
            right_q[k] = g;
            l += usize::from(left);
            k += usize::from(!left);
        }
        node_rows[l..].copy_from_slice(&right_rows[..k]);
        node_q[l..].copy_from_slice(&right_q[..k]);
        let mid = leaf.start + l;
        // The out-of-sample rows, the same way.
        let node_oob = &mut oob[leaf.ostart..leaf.oend];
        let (mut l, mut k) = (0, 0);
        for i in 0..node_oob.len() {
            let r = node_oob[i];
            let left = route.contains(column[r as usize]);
            node_oob[l] = r;
            right_rows[k] = r;
            l += usize::from(left);
            k += usize::from(!left);
        }
        node_oob[l..].copy_from_slice(&right_rows[..k]);
        let omid = leaf.ostart + l;
        let left_node = self.nodes.len();
        self.nodes[leaf.node] = Node {
            value,
            left: left_node as u32,
            feature: feature as u16,
            flags: kind | if missing_left { MISSING_LEFT } else { 0 },
        };
        self.nodes.push(Node::leaf(0.0));
        self.nodes.push(Node::leaf(0.0));
        self.gains[feature] += s.gain;
        let depth = leaf.depth + 1;
        let mut left = Leaf {
            node: left_node,
            start: leaf.start,
            end: mid,
            ostart: leaf.ostart,
            oend: omid,
            depth,
            total: s.left,
            hist: None,
            split: None,
        };
        let mut right = Leaf {
            node: left_node + 1,
            start: mid,
            end: leaf.end,
            ostart: omid,
            oend: leaf.oend,
            depth,
            total: s.right,
            hist: None,
            split: None,
        };
        let parent = leaf.hist.take();
        let (ls, rs) = (self.splittable(&left), self.splittable(&right));
        match parent {
            Some(mut parent) if ls || rs => {
                // Build the smaller child's histogram, derive the larger's.
                let small_is_left = left.total.n <= right.total.n;
                let (small, large, large_ok) = if small_is_left {
                    (&mut left, &mut right, rs)
                } else {
                    (&mut right, &mut left, ls)
                };
                let small_hist = self.build(rows, q, small.start, small.end);
                if large_ok {
                    for (a, b) in parent.iter_mut().zip(&small_hist) {
                        a.sub(*b);
                    }
                    self.prepare(large, rows, q, Some(parent));
                } else {
                    self.scratch.give(parent);
                }
                self.prepare(small, rows, q, Some(small_hist));
            }
            parent => {
                if let Some(h) = parent {
                    self.scratch.give(h);
                }
                self.prepare(&mut left, rows, q, None);
                self.prepare(&mut right, rows, q, None);
            }
        }
        (left, right)
    }

    /// The best split over the allowed features of a node's histogram.
    /// Candidates are summed in integers, so a split's two sides are exact
    /// and add up to the node; each is decoded once for its score.
    fn best_split(&self, hist: &[QBin]) -> Option<Split> {
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
