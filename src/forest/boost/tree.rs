//! One boosting tree: compact storage, prediction, and the best-first,
//! histogram-based grower on gradients and hessians.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::forest::binning::{BinnedMatrix, MISSING, bin_value};

/// `Node::feature` of a leaf.
pub(crate) const LEAF: u16 = u16::MAX;
/// `Node::flags` bit: missing values go to the left child.
pub(crate) const MISSING_LEFT: u16 = 1;
/// `Node::flags` bit: a categorical split. `Node::value` is then the index in
/// [`Tree::sets`] of the categories sent left.
pub(crate) const CATEGORICAL: u16 = 2;
/// Category numbers a categorical split can hold: `0..MAX_CATEGORIES`.
pub(crate) const MAX_CATEGORIES: u32 = 64;
/// Nodes with fewer row × feature visits than this build their histogram on
/// the calling thread: below it, handing features to rayon costs more than
/// the sums (the result is the same either way).
const PARALLEL_MIN_VISITS: usize = 32 * 1024;
/// Nodes with at least this many rows sum their histograms in two
/// interleaved halves (see `histogram`); below it, clearing and merging the
/// second half costs more than it saves.
const INTERLEAVE_MIN_ROWS: usize = 1024;

/// One node, 12 bytes: like the forest's, but a leaf holds an additive
/// raw-score (log-odds) contribution instead of a probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    /// Internal node: go left when `x <= value`, or for a [`CATEGORICAL`]
    /// one, when `x` is in the set `Tree::sets[value]`. Leaf: the contribution.
    pub(crate) value: f32,
    /// Index of the left child; the right child is `left + 1`.
    pub(crate) left: u32,
    /// Feature tested, or [`LEAF`].
    pub(crate) feature: u16,
    /// Bit [`MISSING_LEFT`]: where `NaN` goes (and, at a categorical split,
    /// any value that is not a category number); bit [`CATEGORICAL`].
    pub(crate) flags: u16,
}

impl Node {
    fn leaf(value: f32) -> Self {
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

/// A tree as a flat node array; children always come after their parent.
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
        let mut i = 0usize;
        loop {
            let node = self.nodes[i];
            if node.feature == LEAF {
                return node.value;
            }
            let x = row[usize::from(node.feature)];
            let missing_left = node.flags & MISSING_LEFT != 0;
            let go_left = if node.flags & CATEGORICAL != 0 {
                category(x).map_or(missing_left, |c| {
                    self.sets[node.value as usize] >> c & 1 == 1
                })
            } else if x.is_nan() {
                missing_left
            } else {
                x <= node.value
            };
            i = node.left as usize + usize::from(!go_left);
        }
    }

    /// Checks that prediction can neither index out of bounds nor loop.
    pub(crate) fn validate(&self, n_features: usize) -> Result<(), String> {
        let len = self.nodes.len();
        if len == 0 {
            return Err("a tree has no nodes".into());
        }
        if len > u32::MAX as usize {
            return Err("a tree has too many nodes".into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let open_threshold = node.feature != LEAF && node.value == f32::INFINITY;
            if !(node.value.is_finite() || open_threshold) {
                return Err(format!("node {i} has value {}", node.value));
            }
            if node.feature == LEAF {
                if node.value.abs() > 1e6 {
                    return Err(format!("leaf {i} has an absurd value {}", node.value));
                }
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
            if node.flags & !(MISSING_LEFT | CATEGORICAL) != 0 {
                return Err(format!("node {i} has unknown flags {:#x}", node.flags));
            }
            if node.flags & CATEGORICAL != 0
                && !(node.value >= 0.0
                    && node.value.fract() == 0.0
                    && (node.value as usize) < self.sets.len())
            {
                return Err(format!(
                    "categorical node {i} names set {} of {}",
                    node.value,
                    self.sets.len()
                ));
            }
        }
        Ok(())
    }
}

/// Gradient, hessian and row count of a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Bin {
    pub(crate) g: f64,
    pub(crate) h: f64,
    pub(crate) n: u32,
}

impl Bin {
    #[inline(always)]
    fn add(&mut self, gh: [f32; 2]) {
        self.g += f64::from(gh[0]);
        self.h += f64::from(gh[1]);
        self.n += 1;
    }

    #[inline(always)]
    fn plus(self, o: Self) -> Self {
        Self {
            g: self.g + o.g,
            h: self.h + o.h,
            n: self.n + o.n,
        }
    }

    #[inline(always)]
    fn minus(self, o: Self) -> Self {
        Self {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
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
    total: Bin,
    hist: Option<Vec<Bin>>,
    split: Option<Split>,
}

/// How an internal node routes a binned row (non-missing codes).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route {
    /// Codes up to this one go left.
    UpTo(u8),
    /// Codes whose bit is set go left.
    Codes(u64),
}

/// A grown tree, how to route binned rows through it, and where the
/// training rows ended up.
pub(crate) struct Grown {
    pub(crate) tree: Tree,
    /// Per node, how binned rows are routed (internal nodes only).
    pub(crate) routes: Vec<Route>,
    /// Per leaf, its `rows[start..end]` range and value.
    pub(crate) leaves: Vec<(usize, usize, f32)>,
    /// Gain per feature.
    pub(crate) gains: Vec<f64>,
}

impl Grown {
    /// The leaf value of training row `r`, routed by bin codes.
    pub(crate) fn predict_binned(&self, data: &BinnedMatrix, r: usize) -> f32 {
        let mut i = 0usize;
        loop {
            let node = self.tree.nodes[i];
            if node.feature == LEAF {
                return node.value;
            }
            let code = data.column(usize::from(node.feature))[r];
            let go_left = if code == MISSING {
                node.flags & MISSING_LEFT != 0
            } else {
                match self.routes[i] {
                    Route::UpTo(last) => code <= last,
                    Route::Codes(set) => code < 64 && set >> code & 1 == 1,
                }
            };
            i = node.left as usize + usize::from(!go_left);
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
    fn len(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// The histogram split into one slice per allowed feature.
    fn chunks<'h>(&self, mut hist: &'h [Bin]) -> impl Iterator<Item = &'h [Bin]> {
        self.offsets.windows(2).map(move |w| {
            let (head, tail) = hist.split_at(w[1] - w[0]);
            hist = tail;
            head
        })
    }
}

/// Buffers reused by every node of every tree of one fit, so growing a tree
/// allocates (and page-faults) nothing in its hot loop.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Histograms no longer in use.
    pool: Vec<Vec<Bin>>,
    rows: Vec<u32>,
    gh: Vec<[f32; 2]>,
}

impl Scratch {
    /// A histogram buffer of `len` cleared slots.
    fn take(&mut self, len: usize) -> Vec<Bin> {
        let mut h = self.pool.pop().unwrap_or_default();
        h.clear();
        h.resize(len, Bin::default());
        h
    }

    fn give(&mut self, h: Vec<Bin>) {
        self.pool.push(h);
    }
}

/// Fills `hist` (cleared, laid out by `layout`) with the sums of rows `rows`
/// (with their gradients `gh`) over the allowed features.
fn histogram(
    data: &BinnedMatrix,
    features: &[usize],
    layout: &Layout,
    rows: &[u32],
    gh: &[[f32; 2]],
    hist: &mut [Bin],
) {
    let fill = |h: &mut [Bin], f: usize| {
        let column = data.column(f);
        let missing = h.len() - 1;
        // Codes above the last value bin are MISSING: its own slot.
        let slot = |r: u32| usize::from(column[r as usize]).min(missing);
        if rows.len() < INTERLEAVE_MIN_ROWS {
            for (&r, &g) in rows.iter().zip(gh) {
                h[slot(r)].add(g);
            }
            return;
        }
        // Even rows into `h`, odd rows into `odd`, then one merge: two rows
        // in a row that fall in the same bin no longer wait on each other's
        // update, which is most rows for a feature with few bins.
        let mut odd = [Bin::default(); 256];
        let odd = &mut odd[..h.len()];
        let pairs = rows.chunks_exact(2).zip(gh.chunks_exact(2));
        for (r, g) in pairs {
            h[slot(r[0])].add(g[0]);
            odd[slot(r[1])].add(g[1]);
        }
        if rows.len() % 2 == 1 {
            h[slot(rows[rows.len() - 1])].add(gh[rows.len() - 1]);
        }
        for (a, b) in h.iter_mut().zip(odd.iter()) {
            *a = a.plus(*b);
        }
    };
    let mut chunks: Vec<&mut [Bin]> = Vec::with_capacity(features.len());
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

/// Grows one tree on `rows` (in-sample row indices, reordered in place with
/// `gh`, their gradient/hessian pairs) using only `features`, laid out in
/// histograms by `layout` (made for those features).
pub(crate) fn grow(
    data: &BinnedMatrix,
    rows: &mut [u32],
    gh: &mut [[f32; 2]],
    features: &[usize],
    layout: &Layout,
    cfg: &GrowConfig,
    scratch: &mut Scratch,
) -> Grown {
    let mut total = Bin::default();
    for &g in gh.iter() {
        total.add(g);
    }
    let mut g = Grower {
        data,
        features,
        layout,
        cfg,
        nodes: vec![Node::leaf(0.0)],
        sets: Vec::new(),
        routes: vec![Route::UpTo(0)],
        gains: vec![0.0; data.n_features()],
        scratch,
    };
    let mut root = Leaf {
        node: 0,
        start: 0,
        end: rows.len(),
        depth: 0,
        total,
        hist: None,
        split: None,
    };
    g.prepare(&mut root, rows, gh, None);
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
        let (left, right) = g.split(leaf, rows, gh);
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
        out.push((l.start, l.end, value));
        if let Some(h) = l.hist.take() {
            g.scratch.give(h);
        }
    }
    g.nodes.shrink_to_fit();
    Grown {
        tree: Tree {
            nodes: g.nodes,
            sets: g.sets,
        },
        routes: g.routes,
        leaves: out,
        gains: g.gains,
    }
}

struct Grower<'a> {
    data: &'a BinnedMatrix,
    features: &'a [usize],
    layout: &'a Layout,
    cfg: &'a GrowConfig,
    nodes: Vec<Node>,
    sets: Vec<u64>,
    routes: Vec<Route>,
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
    fn build(&mut self, rows: &[u32], gh: &[[f32; 2]], start: usize, end: usize) -> Vec<Bin> {
        let mut hist = self.scratch.take(self.layout.len());
        histogram(
            self.data,
            self.features,
            self.layout,
            &rows[start..end],
            &gh[start..end],
            &mut hist,
        );
        hist
    }

    /// Gives a splittable leaf its histogram (built, or `hist` when the
    /// caller derived it) and best split; others get neither (a derived
    /// histogram they do not need goes back to the pool).
    fn prepare(&mut self, l: &mut Leaf, rows: &[u32], gh: &[[f32; 2]], hist: Option<Vec<Bin>>) {
        if !self.splittable(l) {
            if let Some(h) = hist {
                self.scratch.give(h);
            }
            return;
        }
        let hist = match hist {
            Some(h) => h,
            None => self.build(rows, gh, l.start, l.end),
        };
        l.split = self.best_split(&hist);
        l.hist = Some(hist);
    }

    /// Splits a leaf: partitions its rows and returns the two children.
    fn split(&mut self, mut leaf: Leaf, rows: &mut [u32], gh: &mut [[f32; 2]]) -> (Leaf, Leaf) {
        let s = leaf
            .split
            .take()
            .expect("only leaves with a split are split");
        let feature = self.features[s.slot];
        let column = self.data.column(feature);
        // Stable partition of rows and gradients together.
        let Scratch {
            rows: right_rows,
            gh: right_gh,
            ..
        } = &mut *self.scratch;
        right_rows.clear();
        right_gh.clear();
        let mut l = leaf.start;
        for i in leaf.start..leaf.end {
            let r = rows[i];
            let code = column[r as usize];
            let go_left = if code == MISSING {
                s.missing_left
            } else if let Some(set) = s.codes {
                code < 64 && set >> code & 1 == 1
            } else {
                code <= s.left_code
            };
            if go_left {
                rows[l] = r;
                gh[l] = gh[i];
                l += 1;
            } else {
                right_rows.push(r);
                right_gh.push(gh[i]);
            }
        }
        rows[l..leaf.end].copy_from_slice(right_rows);
        gh[l..leaf.end].copy_from_slice(right_gh);
        let mid = l;
        let cuts = self.data.cuts(feature);
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
                ((self.sets.len() - 1) as f32, Route::Codes(set), CATEGORICAL)
            }
            (None, Some(rc)) => {
                let k = (usize::from(s.left_code) + usize::from(rc) - 1) / 2;
                (cuts[k], Route::UpTo(k as u8), 0)
            }
            (None, None) => (f32::INFINITY, Route::UpTo(MISSING - 1), 0),
        };
        let missing_left = if s.saw_missing {
            s.missing_left
        } else {
            s.left.h >= s.right.h
        };
        let left_node = self.nodes.len();
        self.nodes[leaf.node] = Node {
            value,
            left: left_node as u32,
            feature: feature as u16,
            flags: kind | if missing_left { MISSING_LEFT } else { 0 },
        };
        self.routes[leaf.node] = route;
        self.nodes.push(Node::leaf(0.0));
        self.nodes.push(Node::leaf(0.0));
        self.routes.extend([Route::UpTo(0), Route::UpTo(0)]);
        self.gains[feature] += s.gain;
        let depth = leaf.depth + 1;
        let mut left = Leaf {
            node: left_node,
            start: leaf.start,
            end: mid,
            depth,
            total: s.left,
            hist: None,
            split: None,
        };
        let mut right = Leaf {
            node: left_node + 1,
            start: mid,
            end: leaf.end,
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
                let small_hist = self.build(rows, gh, small.start, small.end);
                if large_ok {
                    for (a, b) in parent.iter_mut().zip(&small_hist) {
                        *a = a.minus(*b);
                    }
                    self.prepare(large, rows, gh, Some(parent));
                } else {
                    self.scratch.give(parent);
                }
                self.prepare(small, rows, gh, Some(small_hist));
            }
            parent => {
                if let Some(h) = parent {
                    self.scratch.give(h);
                }
                self.prepare(&mut left, rows, gh, None);
                self.prepare(&mut right, rows, gh, None);
            }
        }
        (left, right)
    }

    /// The best split over the allowed features of a node's histogram.
    fn best_split(&self, hist: &[Bin]) -> Option<Split> {
        let (min_leaf, min_h, l2) = (self.cfg.min_leaf, self.cfg.min_hessian, self.cfg.l2);
        let score = |b: Bin| b.g * b.g / (b.h + l2);
        let mut best: Option<Split> = None;
        for (slot, h) in self.layout.chunks(hist).enumerate() {
            let (&missing, values) = h.split_last().expect("every feature has a missing slot");
            let mut total = Bin::default();
            for b in values {
                total = total.plus(*b);
            }
            let total = total.plus(missing);
            let parent = score(total);
            let mut consider =
                |left: Bin, left_code: u8, right_code: Option<u8>, codes: Option<u64>, ml: bool| {
                    let right = total.minus(left);
                    if left.n < min_leaf || right.n < min_leaf || left.h < min_h || right.h < min_h
                    {
                        return;
                    }
                    let gain = score(left) + score(right) - parent;
                    if gain > 1e-12 && best.is_none_or(|b| gain > b.gain) {
                        best = Some(Split {
                            slot,
                            left_code,
                            right_code,
                            codes,
                            missing_left: ml,
                            saw_missing: missing.n > 0,
                            gain,
                            left,
                            right,
                        });
                    }
                };
            if self.cfg.is_categorical(self.features[slot]) {
                // Categories in order of their smoothed mean gradient; the
                // best split sends a prefix of that order left (Fisher's
                // result for a convex loss), with missing values either way.
                let mut order: Vec<(f64, usize)> = values
                    .iter()
                    .enumerate()
                    .take(64)
                    .filter(|(_, b)| b.n >= MIN_CATEGORY_ROWS)
                    .map(|(code, b)| (b.g / (b.h + CATEGORY_SMOOTHING), code))
                    .collect();
                order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let mut cum = Bin::default();
                let mut set = 0u64;
                // The whole order is a split too when rare categories (or
                // missing values) are left for the right.
                for &(_, code) in &order {
                    cum = cum.plus(values[code]);
                    set |= 1 << code;
                    consider(cum, 0, None, Some(set), false);
                    if missing.n > 0 {
                        consider(cum.plus(missing), 0, None, Some(set), true);
                    }
                }
                continue;
            }
            let mut cum = Bin::default();
            let mut prev = 0u8;
            for (code, b) in values.iter().enumerate() {
                if b.n == 0 {
                    continue;
                }
                if cum.n > 0 {
                    consider(cum, prev, Some(code as u8), None, false);
                    if missing.n > 0 {
                        consider(cum.plus(missing), prev, Some(code as u8), None, true);
                    }
                }
                cum = cum.plus(*b);
                prev = code as u8;
            }
            if cum.n > 0 && missing.n > 0 {
                consider(cum, prev, None, None, false);
            }
        }
        best
    }
}
