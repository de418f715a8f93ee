//! Behavioural tests of the forest, one concern a file: fitting (`fit`:
//! exactness, missing values, determinism, bad input, cancellation),
//! stored models (`format`), parameter checking (`params`) and parity with
//! `linfa_trees` (`parity`). The helpers here, and the damage and oracle
//! checks re-exported from those files, serve boosting's tests too.

use linfa::ParamGuard;

use super::rng::Rng;
use super::*;

mod fit;
mod format;
mod params;
mod parity;

pub(super) use format::assert_damage_is_refused_or_harmless;
pub(super) use parity::{assert_split_choices_match_linfa, linfa_tree, oracle_split};

/// A uniform `f32` in `[0, 1)`.
pub(super) fn uniform(rng: &mut Rng) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

fn check(p: ForestParams) -> ForestValidParams {
    p.check().expect("valid parameters")
}

fn fit(p: ForestParams, x: &[f32], nf: usize, y: &[bool]) -> Forest {
    check(p)
        .fit_matrix(x, nf, y, &FitOptions::default())
        .expect("fit succeeds")
}

/// A single fully grown tree without bagging.
fn one_tree() -> ForestParams {
    ForestParams(ForestValidParams {
        n_trees: 1,
        bootstrap: false,
        max_features: MaxFeatures::All,
        min_samples_leaf: 1,
        min_samples_split: 2,
        class_weight: ClassWeight::None,
        ..ForestValidParams::default()
    })
}

/// A "rain-like" dataset: 6 features, the label depends on three of them
/// with 10 % label noise, and two columns are often missing.
pub(super) fn noisy_data(n: usize, seed: u64) -> (Vec<f32>, Vec<bool>) {
    let nf = 6;
    let mut rng = Rng::for_tree(seed, 999);
    let mut x = Vec::with_capacity(n * nf);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f32> = (0..nf).map(|_| uniform(&mut rng)).collect();
        let score = 2.0 * row[0] + row[1] - 1.5 * row[2];
        let mut label = score > 0.8;
        if uniform(&mut rng) < 0.1 {
            label = !label;
        }
        for (j, v) in row.into_iter().enumerate() {
            let missing = j >= 4 && uniform(&mut rng) < 0.3;
            x.push(if missing { f32::NAN } else { v });
        }
        y.push(label);
    }
    (x, y)
}
