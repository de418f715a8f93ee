//! Compact tree storage, prediction, and the histogram-based tree builder.

use serde::{Deserialize, Serialize};

use super::ClassWeight;
use super::binning::{BinnedMatrix, MISSING};
use super::rng::Rng;

/// `Node::feature` of a leaf.
pub(crate) const LEAF: u16 = u16::MAX;
/// `Node::flags` bit: missing values go to the left child.
pub(crate) const MISSING_LEFT: u16 = 1;

/// Nodes with fewer in-bag rows than this gather per-feature statistics by
/// sorting `(code, row)` keys instead of filling a 256-bin histogram.
const SPARSE_LIMIT: usize = 64;
/// Histogram slots per feature: codes `0..=254` plus [`MISSING`].
const SLOTS: usize = 256;

/// One tree node, 12 bytes in memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[repr(C)]
pub(crate) struct Node {
    /// Internal node: go left when `x <= value`. Leaf: probability of "yes".
    pub(crate) value: f32,
    /// Index of the left child; the right child is `left + 1`. Unused (0) in leaves.
    pub(crate) left: u32,
    /// Feature tested, or [`LEAF`].
    pub(crate) feature: u16,
    /// Bit [`MISSING_LEFT`]: where `NaN` goes.
    pub(crate) flags: u16,
}

impl Node {
    fn leaf(probability: f32) -> Self {
        Self {
            value: probability,
            left: 0,
            feature: LEAF,
            flags: 0,
        }
    }
}

/// A tree as a flat node array; node 0 is the root and children always come
/// after their parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
}

impl Tree {
    /// The leaf probability for one row (`row.len()` ≥ every feature index,
    /// guaranteed by the caller; node links are validated on load).
    #[inline]
    pub(crate) fn predict(&self, row: &[f32]) -> f32 {
        let mut i = 0usize;
        loop {
            let node = self.nodes[i];
            if node.feature == LEAF {
                return node.value;
            }
            let x = row[usize::from(node.feature)];
            let go_left = if x.is_nan() {
                node.flags & MISSING_LEFT != 0
            } else {
                x <= node.value
            };
            i = node.left as usize + usize::from(!go_left);
        }
    }

    /// Checks that prediction on this tree can neither index out of bounds
    /// nor loop: children exist and lie strictly after their parent, and
    /// features are below `n_features`.
    pub(crate) fn validate(&self, n_features: usize) -> Result<(), String> {
        let len = self.nodes.len();
        if len == 0 {
            return Err("a tree has no nodes".into());
        }
        if len > u32::MAX as usize {
            return Err("a tree has too many nodes".into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if node.feature == LEAF {
                if !(0.0..=1.0).contains(&node.value) {
                    return Err(format!(
                        "node {i} is a leaf with probability {}",
                        node.value
                    ));
                }
            } else {
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
                if node.value.is_nan() {
                    return Err(format!("node {i} has a NaN threshold"));
                }
                if node.flags & !MISSING_LEFT != 0 {
                    return Err(format!("node {i} has unknown flags {:#x}", node.flags));
                }
            }
        }
        Ok(())
    }
}

/// Tree-growing settings shared by all trees of a forest.
#[derive(Debug, Clone)]
pub(crate) struct TreeConfig {
    pub(crate) max_depth: usize,
    pub(crate) min_samples_leaf: u32,
    pub(crate) min_samples_split: u32,
    pub(crate) max_features: usize,
    pub(crate) bootstrap: bool,
    pub(crate) class_weight: ClassWeight,
    pub(crate) seed: u64,
}

/// Bootstrap-weighted class counts and distinct rows of a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Stats {
    /// `n[0]` = draws of "no" rows, `n[1]` = draws of "yes" rows.
    n: [u32; 2],
    /// Distinct rows.
    rows: u32,
}

impl Stats {
    /// Adds one row given its packed `count << 1 | label`.
    #[inline]
    fn add(&mut self, packed: u32) {
        self.n[(packed & 1) as usize] += packed >> 1;
        self.rows += 1;
    }

    fn plus(self, o: Self) -> Self {
        Self {
            n: [self.n[0] + o.n[0], self.n[1] + o.n[1]],
            rows: self.rows + o.rows,
        }
    }

    fn minus(self, o: Self) -> Self {
        Self {
            n: [self.n[0] - o.n[0], self.n[1] - o.n[1]],
            rows: self.rows - o.rows,
        }
    }

    /// Class-weighted ("no", "yes") masses.
    fn weighted(self, cw: [f64; 2]) -> (f64, f64) {
        (f64::from(self.n[0]) * cw[0], f64::from(self.n[1]) * cw[1])
    }

    /// `Σ w_c² / W`: the node's weight minus its weighted gini impurity
    /// (`W · gini = W − Σ w_c² / W`). Larger summed over children is better.
    fn purity(self, cw: [f64; 2]) -> f64 {
        let (a, b) = self.weighted(cw);
        let w = a + b;
        if w > 0.0 { (a * a + b * b) / w } else { 0.0 }
    }
}

/// The best split found at a node.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    /// Largest non-missing code among the rows sent left (by value).
    left_code: u8,
    /// Smallest non-missing code sent right, if any row is.
    right_code: Option<u8>,
    missing_left: bool,
    /// Whether the node had missing values (otherwise the direction is a default).
    saw_missing: bool,
    score: f64,
    left: Stats,
    right: Stats,
}

/// A node waiting to be split or turned into a leaf.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    stats: Stats,
    /// Histogram over all features (`SLOTS` per feature), when available.
    hist: Option<Vec<Stats>>,
}

/// A grown tree and its per-feature total impurity decrease.
pub(crate) struct GrownTree {
    pub(crate) tree: Tree,
    pub(crate) importance: Vec<f64>,
}

/// Grows one tree. Everything random comes from `Rng::for_tree(seed, index)`.
pub(crate) fn grow_tree(
    data: &BinnedMatrix,
    y: &[bool],
    n_features: usize,
    cfg: &TreeConfig,
    index: usize,
) -> GrownTree {
    let mut builder = Builder::new(data, y, n_features, cfg, index);
    builder.run();
    GrownTree {
        tree: Tree {
            nodes: builder.nodes,
        },
        importance: builder.importance,
    }
}

struct Builder<'a> {
    data: &'a BinnedMatrix,
    n_features: usize,
    cfg: &'a TreeConfig,
    rng: Rng,
    cw: [f64; 2],
    /// Per row: `bootstrap_count << 1 | label` (0 when out of bag).
    info: Vec<u32>,
    /// In-bag rows; each pending node owns a contiguous range.
    rows: Vec<u32>,
    scratch: Vec<u32>,
    keys: Vec<u64>,
    dense: Vec<Stats>,
    bins: Vec<(u8, Stats)>,
    features: Vec<usize>,
    hist_pool: Vec<Vec<Stats>>,
    nodes: Vec<Node>,
    importance: Vec<f64>,
}

impl<'a> Builder<'a> {
    fn new(
        data: &'a BinnedMatrix,
        y: &[bool],
        n_features: usize,
        cfg: &'a TreeConfig,
        index: usize,
    ) -> Self {
        let n = y.len();
        let mut rng = Rng::for_tree(cfg.seed, index);
        let mut counts = vec![0u32; n];
        if cfg.bootstrap {
            for _ in 0..n {
                counts[rng.below(n)] += 1;
            }
        } else {
            counts.fill(1);
        }
        let mut drawn = [0u64; 2];
        let mut rows = Vec::with_capacity(n);
        for (r, (&c, &label)) in counts.iter().zip(y).enumerate() {
            if c > 0 {
                rows.push(r as u32);
                drawn[usize::from(label)] += u64::from(c);
            }
        }
        let info: Vec<u32> = counts
            .iter()
            .zip(y)
            .map(|(&c, &label)| c << 1 | u32::from(label))
            .collect();
        drop(counts);
        let balanced = |counts: [u64; 2]| {
            let total = (counts[0] + counts[1]) as f64;
            counts.map(|c| {
                if c == 0 {
                    1.0
                } else {
                    total / (2.0 * c as f64)
                }
            })
        };
        let cw = match cfg.class_weight {
            ClassWeight::None => [1.0, 1.0],
            ClassWeight::Custom { yes } => [1.0, f64::from(yes)],
            ClassWeight::BalancedSubsample => balanced(drawn),
            ClassWeight::Balanced => {
                let yes = y.iter().filter(|&&t| t).count() as u64;
                balanced([n as u64 - yes, yes])
            }
        };
        Self {
            data,
            n_features,
            cfg,
            rng,
            cw,
            info,
            rows,
            scratch: Vec::new(),
            keys: Vec::new(),
            dense: vec![Stats::default(); SLOTS],
            bins: Vec::with_capacity(SLOTS),
            features: (0..n_features).collect(),
            hist_pool: Vec::new(),
            nodes: Vec::new(),
            importance: vec![0.0; n_features],
        }
    }

    fn run(&mut self) {
        let mut total = Stats::default();
        for &r in &self.rows {
            total.add(self.info[r as usize]);
        }
        let len = self.rows.len();
        // A full histogram only pays off when most features are candidates:
        // its children then get theirs by subtraction.
        let hist = (2 * self.cfg.max_features >= self.n_features && self.splittable(total, 0))
            .then(|| self.full_histogram(0, len));
        self.nodes.push(Node::leaf(0.0));
        let mut stack = vec![Pending {
            node: 0,
            start: 0,
            end: len,
            depth: 0,
            stats: total,
            hist,
        }];
        while let Some(mut p) = stack.pop() {
            let split = if self.splittable(p.stats, p.depth) {
                self.find_split(&p)
            } else {
                None
            };
            let Some(split) = split else {
                let (a, b) = p.stats.weighted(self.cw);
                self.nodes[p.node] = Node::leaf((b / (a + b)) as f32);
                if let Some(h) = p.hist {
                    self.hist_pool.push(h);
                }
                continue;
            };
            self.importance[split.feature] += split.score - p.stats.purity(self.cw);
            let mid = self.partition(&p, &split);
            let left = self.nodes.len();
            self.nodes.push(Node::leaf(0.0));
            self.nodes.push(Node::leaf(0.0));
            let cuts = self.data.cuts(split.feature);
            let threshold = match split.right_code {
                Some(rc) => {
                    let k = (usize::from(split.left_code) + usize::from(rc) - 1) / 2;
                    cuts[k]
                }
                None => f32::INFINITY,
            };
            let missing_left = if split.saw_missing {
                split.missing_left
            } else {
                let (a, b) = split.left.weighted(self.cw);
                let (c, d) = split.right.weighted(self.cw);
                a + b >= c + d
            };
            self.nodes[p.node] = Node {
                value: threshold,
                left: left as u32,
                feature: split.feature as u16,
                flags: if missing_left { MISSING_LEFT } else { 0 },
            };
            let depth = p.depth + 1;
            let parent_hist = p.hist.take();
            let (left_hist, right_hist) =
                self.child_histograms(parent_hist, &p, &split, mid, depth);
            stack.push(Pending {
                node: left + 1,
                start: mid,
                end: p.end,
                depth,
                stats: split.right,
                hist: right_hist,
            });
            stack.push(Pending {
                node: left,
                start: p.start,
                end: mid,
                depth,
                stats: split.left,
                hist: left_hist,
            });
        }
    }

    /// Whether a node with these statistics at this depth may be split.
    fn splittable(&self, s: Stats, depth: usize) -> bool {
        depth < self.cfg.max_depth
            && s.rows >= self.cfg.min_samples_split
            && s.rows >= 2 * self.cfg.min_samples_leaf
            && s.n[0] > 0
            && s.n[1] > 0
    }

    /// Histograms over all features for the children, by building the
    /// smaller child's and subtracting it from the parent's, when the parent
    /// has one and that is cheaper than per-feature gathering in the children.
    fn child_histograms(
        &mut self,
        parent: Option<Vec<Stats>>,
        p: &Pending,
        split: &Split,
        mid: usize,
        depth: usize,
    ) -> (Option<Vec<Stats>>, Option<Vec<Stats>>) {
        let Some(mut parent) = parent else {
            return (None, None);
        };
        let small_is_left = split.left.rows <= split.right.rows;
        let (small, large) = if small_is_left {
            (split.left, split.right)
        } else {
            (split.right, split.left)
        };
        let worth = self.splittable(large, depth)
            && self.n_features * small.rows as usize
                <= self.cfg.max_features * (small.rows + large.rows) as usize;
        if !worth {
            self.hist_pool.push(parent);
            return (None, None);
        }
        let (s_start, s_end) = if small_is_left {
            (p.start, mid)
        } else {
            (mid, p.end)
        };
        let small_hist = self.full_histogram(s_start, s_end);
        for (a, b) in parent.iter_mut().zip(&small_hist) {
            *a = a.minus(*b);
        }
        let small_hist = if self.splittable(small, depth) {
            Some(small_hist)
        } else {
            self.hist_pool.push(small_hist);
            None
        };
        if small_is_left {
            (small_hist, Some(parent))
        } else {
            (Some(parent), small_hist)
        }
    }

    /// A histogram over all features of rows `start..end`.
    fn full_histogram(&mut self, start: usize, end: usize) -> Vec<Stats> {
        let mut hist = self.hist_pool.pop().unwrap_or_default();
        hist.clear();
        hist.resize(self.n_features * SLOTS, Stats::default());
        let rows = &self.rows[start..end];
        for (f, h) in hist.chunks_exact_mut(SLOTS).enumerate() {
            let column = self.data.column(f);
            for &r in rows {
                let r = r as usize;
                h[usize::from(column[r])].add(self.info[r]);
            }
        }
        hist
    }

    /// Draws candidate features (without replacement) and keeps the best
    /// split; keeps drawing past `max_features` until some valid split is
    /// found or every feature was tried.
    fn find_split(&mut self, p: &Pending) -> Option<Split> {
        let mut best: Option<Split> = None;
        for k in 0..self.n_features {
            if k >= self.cfg.max_features && best.is_some() {
                break;
            }
            let j = k + self.rng.below(self.n_features - k);
            self.features.swap(k, j);
            let f = self.features[k];
            let missing = self.gather(p, f);
            if let Some(mut cand) = self.scan(missing, p.stats)
                && best.is_none_or(|b| cand.score > b.score)
            {
                cand.feature = f;
                best = Some(cand);
            }
        }
        best
    }

    /// Fills `self.bins` with the node's non-empty non-missing bins of
    /// feature `f` in code order and returns the missing rows' statistics.
    fn gather(&mut self, p: &Pending, f: usize) -> Stats {
        self.bins.clear();
        if let Some(hist) = &p.hist {
            let h = &hist[f * SLOTS..(f + 1) * SLOTS];
            for (code, s) in h[..SLOTS - 1].iter().enumerate() {
                if s.rows > 0 {
                    self.bins.push((code as u8, *s));
                }
            }
            return h[SLOTS - 1];
        }
        let column = self.data.column(f);
        let rows = &self.rows[p.start..p.end];
        if rows.len() < SPARSE_LIMIT {
            self.keys.clear();
            self.keys.extend(rows.iter().map(|&r| {
                let r = r as usize;
                u64::from(column[r]) << 32 | u64::from(self.info[r])
            }));
            self.keys.sort_unstable();
            let mut missing = Stats::default();
            for &key in &self.keys {
                let code = (key >> 32) as u8;
                let packed = key as u32;
                if code == MISSING {
                    missing.add(packed);
                } else {
                    match self.bins.last_mut() {
                        Some((c, s)) if *c == code => s.add(packed),
                        _ => {
                            let mut s = Stats::default();
                            s.add(packed);
                            self.bins.push((code, s));
                        }
                    }
                }
            }
            missing
        } else {
            let mut lo = u8::MAX;
            let mut hi = 0u8;
            for &r in rows {
                let r = r as usize;
                let code = column[r];
                lo = lo.min(code);
                hi = hi.max(code);
                self.dense[usize::from(code)].add(self.info[r]);
            }
            let missing = std::mem::take(&mut self.dense[usize::from(MISSING)]);
            let hi = hi.min(MISSING - 1);
            if lo <= hi {
                for code in lo..=hi {
                    let s = std::mem::take(&mut self.dense[usize::from(code)]);
                    if s.rows > 0 {
                        self.bins.push((code, s));
                    }
                }
            }
            missing
        }
    }

    /// The best threshold over `self.bins`, trying missing values on each side.
    fn scan(&self, missing: Stats, total: Stats) -> Option<Split> {
        let msl = self.cfg.min_samples_leaf;
        let mut best: Option<Split> = None;
        let mut cum = Stats::default();
        for (i, &(code, s)) in self.bins.iter().enumerate() {
            cum = cum.plus(s);
            let right_code = self.bins.get(i + 1).map(|&(c, _)| c);
            if right_code.is_none() && missing.rows == 0 {
                break;
            }
            for missing_left in [false, true] {
                if missing_left && missing.rows == 0 {
                    continue;
                }
                let left = if missing_left { cum.plus(missing) } else { cum };
                let right = total.minus(left);
                if left.rows < msl || right.rows < msl {
                    continue;
                }
                let score = left.purity(self.cw) + right.purity(self.cw);
                if best.is_none_or(|b| score > b.score) {
                    best = Some(Split {
                        feature: 0,
                        left_code: code,
                        right_code,
                        missing_left,
                        saw_missing: missing.rows > 0,
                        score,
                        left,
                        right,
                    });
                }
            }
        }
        best
    }

    /// Stable in-place partition of the node's rows; returns the boundary.
    fn partition(&mut self, p: &Pending, split: &Split) -> usize {
        let column = self.data.column(split.feature);
        self.scratch.clear();
        let mut l = p.start;
        for i in p.start..p.end {
            let r = self.rows[i];
            let code = column[r as usize];
            let go_left = if code == MISSING {
                split.missing_left
            } else {
                code <= split.left_code
            };
            if go_left {
                self.rows[l] = r;
                l += 1;
            } else {
                self.scratch.push(r);
            }
        }
        self.rows[l..p.end].copy_from_slice(&self.scratch);
        debug_assert_eq!(l - p.start, split.left.rows as usize);
        l
    }
}
