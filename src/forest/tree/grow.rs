//! The histogram-based tree builder: drawing the in-bag rows, growing node
//! by node, gathering statistics (sparse or by histogram, with the sibling
//! by subtraction), choosing splits and partitioning rows.

use super::super::ClassWeight;
use super::super::binning::{BinnedMatrix, MISSING};
use super::super::rng::Rng;
use super::scan::Scanner;
use super::{
    Entry, GrownTree, MISSING_LEFT, Node, Pending, SLOTS, SPARSE_LIMIT, Split, Stats, Tree,
    TreeConfig,
};

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
        assert_eq!(l - p.start, split.left.rows as usize);
        l
    }
}
