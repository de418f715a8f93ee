//! One boosting tree: compact storage, prediction, and the best-first,
//! histogram-based grower on gradients and hessians (the histograms
//! themselves are in `hist`).
//!
//! Storage, the growing settings and the best-first loop are here; a
//! leaf's split (partitioning its rows, deriving its children's
//! histograms) is in `split`, the search for the best split in `best`.

use serde::{Deserialize, Serialize};

use super::hist::{Bin, Layout, MAX_ROWS, QBin, Quant, histogram};
use crate::forest::binning::{BinnedMatrix, MISSING, bin_value};

pub(crate) use crate::forest::model::{
    CATEGORICAL, LEAF, MAX_CATEGORIES, MISSING_LEFT, Node, category,
};
use crate::forest::model::{StoredTree, validate_nodes, walk};

mod best;
mod split;
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

impl Tree {
    /// This tree behind a categorical root on `feature`: a row whose value
    /// is `category` walks it; any other (missing included) scores 0.
    pub(crate) fn gated(self, feature: usize, category: u32) -> Tree {
        let feature = u16::try_from(feature).expect("a feature index fits 16 bits");
        let mut sets = self.sets;
        let gate_set = sets.len() as f32;
        sets.push(1u64 << category);
        let mut nodes = Vec::with_capacity(self.nodes.len() + 2);
        nodes.push(Node {
            value: gate_set,
            left: 1,
            feature,
            flags: CATEGORICAL,
        });
        // The old root at 1, the gate's right leaf at 2, the rest after:
        // old index i >= 1 moves to i + 2.
        let moved = |i: u32| if i == 0 { 1 } else { i + 2 };
        let mut old = self.nodes.into_iter().map(|mut n| {
            if n.feature != LEAF {
                n.left = moved(n.left);
            }
            n
        });
        nodes.extend(old.next());
        nodes.push(Node::leaf(0.0));
        nodes.extend(old);
        Tree { nodes, sets }
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
}
