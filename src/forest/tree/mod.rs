//! Compact tree storage, prediction, and the histogram-based tree builder:
//! the stored tree and the statistics the builder works with are here, the
//! builder in `grow`, and its threshold search in `scan`.

use serde::{Deserialize, Serialize};

use super::ClassWeight;

pub(crate) use super::model::{MISSING_LEFT, Node};
use super::model::{StoredTree, validate_nodes, walk};

mod grow;
mod scan;

pub(crate) use grow::grow_tree;

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
