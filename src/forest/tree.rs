//! Compact tree storage, prediction, and the histogram-based tree builder.

use serde::{Deserialize, Serialize};

use super::ClassWeight;
use super::binning::{BinnedMatrix, MISSING};
use super::rng::Rng;

pub(crate) use super::model::{MISSING_LEFT, Node};
use super::model::{StoredTree, validate_nodes, walk};

/// Nodes with fewer in-bag rows than this gather per-feature statistics by
/// sorting `(code, row)` keys instead of filling a 256-bin histogram.
const SPARSE_LIMIT: usize = 64;
/// Histogram slots per feature: codes `0..=254` plus [`MISSING`].
const SLOTS: usize = 256;

/// A tree as a flat node array; node 0 is the root and children always come
/// after their parent. A leaf holds the probability of "yes".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
}

impl Tree {
    /// The leaf probability for one row (`row.len()` ≥ every feature index,
    /// guaranteed by the caller; node links are validated on load).
    #[inline]
    pub(crate) fn predict(&self, row: &[f32]) -> f32 {
        walk(&self.nodes, &[], row)
    }
}

impl StoredTree for Tree {
    /// The shared structural checks, leaves holding probabilities, and no
    /// `NaN` threshold or categorical split.
    fn validate(&self, n_features: usize) -> Result<(), String> {
        validate_nodes(
            &self.nodes,
            n_features,
            MISSING_LEFT,
            |i, leaf| {
                if (0.0..=1.0).contains(&leaf.value) {
                    Ok(())
                } else {
                    Err(format!(
                        "node {i} is a leaf with probability {}",
                        leaf.value
                    ))
                }
            },
            |i, split| {
                if split.value.is_nan() {
                    Err(format!("node {i} has a NaN threshold"))
                } else {
                    Ok(())
                }
            },
        )
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
    #[inline(always)]
    fn purity(self, cw: [f64; 2]) -> f64 {
        let (a, b) = self.weighted(cw);
        let w = a + b;
        if w > 0.0 { (a * a + b * b) / w } else { 0.0 }
    }
}

/// An in-bag row and its packed `bootstrap_count << 1 | label`, kept
/// together so that gathering statistics reads the latter sequentially.
#[derive(Debug, Clone, Copy)]
struct Entry {
    row: u32,
    info: u32,
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
    // The node vector grew by doubling: give the slack back before the tree
    // is kept for the forest's lifetime.
    builder.nodes.shrink_to_fit();
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
    /// In-bag rows; each pending node owns a contiguous range.
    rows: Vec<Entry>,
    scratch: Vec<Entry>,
    keys: Vec<u64>,
    codes: Vec<u8>,
    dense: Vec<Stats>,
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
                rows.push(Entry {
                    row: r as u32,
                    info: c << 1 | u32::from(label),
                });
                drawn[usize::from(label)] += u64::from(c);
            }
        }
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
            rows,
            scratch: Vec::new(),
            keys: Vec::new(),
            codes: Vec::new(),
            dense: vec![Stats::default(); SLOTS],
            features: (0..n_features).collect(),
            hist_pool: Vec::new(),
            nodes: Vec::new(),
            importance: vec![0.0; n_features],
        }
    }

    fn run(&mut self) {
        let mut total = Stats::default();
        for e in &self.rows {
            total.add(e.info);
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
            // Gini is concave, so the decrease is ≥ 0 up to rounding.
            self.importance[split.feature] += (split.score - p.stats.purity(self.cw)).max(0.0);
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
            && s.rows >= self.cfg.min_samples_leaf.saturating_mul(2)
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
            for e in rows {
                h[usize::from(column[e.row as usize])].add(e.info);
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
            if let Some(mut cand) = self.best_split_on(p, f)
                && best.is_none_or(|b| cand.score > b.score)
            {
                cand.feature = f;
                best = Some(cand);
            }
        }
        best
    }

    /// Scores every threshold of feature `f` at node `p`: streams the node's
    /// non-empty bins in code order into a [`Scanner`].
    fn best_split_on(&mut self, p: &Pending, f: usize) -> Option<Split> {
        let cw = self.cw;
        let msl = self.cfg.min_samples_leaf;
        if let Some(hist) = &p.hist {
            let h = &hist[f * SLOTS..(f + 1) * SLOTS];
            let mut scanner = Scanner::new(h[SLOTS - 1], p.stats, cw, msl);
            for (code, s) in h[..SLOTS - 1].iter().enumerate() {
                if s.rows > 0 {
                    scanner.feed(code as u8, *s);
                }
            }
            return scanner.finish();
        }
        let column = self.data.column(f);
        let rows = &self.rows[p.start..p.end];
        if rows.len() < SPARSE_LIMIT {
            // Sort `(code + 1) mod 256` so that missing values (255) come first
            // and the scanner knows their statistics before any threshold.
            self.keys.clear();
            self.keys.extend(rows.iter().map(|e| {
                let code = column[e.row as usize].wrapping_add(1);
                u64::from(code) << 32 | u64::from(e.info)
            }));
            self.keys.sort_unstable();
            let n_missing = self.keys.partition_point(|&k| k >> 32 == 0);
            let mut missing = Stats::default();
            for &key in &self.keys[..n_missing] {
                missing.add(key as u32);
            }
            let mut scanner = Scanner::new(missing, p.stats, cw, msl);
            let mut code = 0u8;
            let mut acc = Stats::default();
            for &key in &self.keys[n_missing..] {
                let c = ((key >> 32) as u8).wrapping_sub(1);
                if c != code && acc.rows > 0 {
                    scanner.feed(code, acc);
                    acc = Stats::default();
                }
                code = c;
                acc.add(key as u32);
            }
            if acc.rows > 0 {
                scanner.feed(code, acc);
            }
            scanner.finish()
        } else {
            // Gather the codes first: a loop of independent loads lets many
            // cache misses overlap; the histogram is then filled from L1.
            self.codes.clear();
            self.codes
                .extend(rows.iter().map(|e| column[e.row as usize]));
            let mut lo = u8::MAX;
            let mut hi = 0u8;
            for (e, &code) in rows.iter().zip(&self.codes) {
                lo = lo.min(code);
                hi = hi.max(code);
                self.dense[usize::from(code)].add(e.info);
            }
            let missing = std::mem::take(&mut self.dense[usize::from(MISSING)]);
            let mut scanner = Scanner::new(missing, p.stats, cw, msl);
            let hi = hi.min(MISSING - 1);
            if lo <= hi {
                for code in lo..=hi {
                    let s = std::mem::take(&mut self.dense[usize::from(code)]);
                    if s.rows > 0 {
                        scanner.feed(code, s);
                    }
                }
            }
            scanner.finish()
        }
    }

    /// Stable in-place partition of the node's rows; returns the boundary.
    fn partition(&mut self, p: &Pending, split: &Split) -> usize {
        let column = self.data.column(split.feature);
        self.scratch.clear();
        let mut l = p.start;
        for i in p.start..p.end {
            let r = self.rows[i];
            let code = column[r.row as usize];
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

/// Streaming threshold search over one feature's non-empty bins, fed in
/// increasing code order; the missing rows' statistics are known upfront.
/// The best candidate is kept in plain fields (this is the innermost loop).
struct Scanner {
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
    fn new(missing: Stats, total: Stats, cw: [f64; 2], min_leaf: u32) -> Self {
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
    fn feed(&mut self, code: u8, s: Stats) {
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
    fn finish(mut self) -> Option<Split> {
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
