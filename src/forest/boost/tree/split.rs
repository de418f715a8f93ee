//! Splitting a leaf: partitioning its in-sample and out-of-sample rows and
//! making its two children, the smaller one's histogram built and the
//! larger one's derived by subtraction.

use super::*;

impl Grower<'_> {
    /// Splits a leaf: partitions its rows and returns the two children.
    pub(super) fn split(
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
}
