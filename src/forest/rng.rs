//! A tiny deterministic PRNG (SplitMix64 seeding a xoshiro256**), written
//! here rather than taken from a crate so that a given seed produces the same
//! model bits forever, whatever happens to external crates' algorithms.

/// One step of SplitMix64: advances `state` and returns a well-mixed output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** by Blackman and Vigna.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for one tree, depending only on the forest seed and the
    /// tree's index (never on scheduling), so training is reproducible.
    pub(crate) fn for_tree(seed: u64, tree: usize) -> Self {
        let mut sm = seed;
        let base = splitmix64(&mut sm);
        let mut state = base ^ (tree as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut s = [0u64; 4];
        for word in &mut s {
            *word = splitmix64(&mut state);
        }
        // xoshiro must not start from the all-zero state; SplitMix64 outputs
        // are a bijection of distinct inputs, so four zeros cannot occur, but
        // be explicit anyway.
        if s == [0; 4] {
            s[0] = 1;
        }
        Self { s }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A value in `0..n` (`n > 0`) by Lemire's multiply-shift; the bias is
    /// below 2^-32 for the sizes used here.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "a draw from an empty range");
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = {
            let mut r = Rng::for_tree(42, 3);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::for_tree(42, 3);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::for_tree(42, 4);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut r = Rng::for_tree(0, 0);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }
}
