//! How models are trained and kept (`model`): the forest's and boosting's
//! parameters, the windows, promotion and retention.

use serde::{Deserialize, Serialize};

use super::{ClassWeights, FeatureDraw};
use crate::forest::{ForestParams, ForestValidParams};
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub n_trees: usize,
    /// 0 = unlimited.
    pub max_depth: usize,
    pub min_samples_leaf: usize,
    /// `sqrt`, `log2`, `all`, a fraction such as `0.3`, or a count such as `8`.
    pub max_features: FeatureDraw,
    pub bootstrap: bool,
    /// `none`, `balanced`, `balanced_subsample`, or a weight for "yes" such as `2.5`.
    pub class_weight: ClassWeights,
    pub max_bins: usize,
    pub seed: u64,
    /// Training threads; 0 = one per core.
    pub threads: usize,
    /// Months at the end of the data used to test (the newest window).
    pub test_months: u32,
    /// Months before the test window used to tune the decision threshold.
    pub tune_months: u32,
    /// A challenger must beat the champion's F1 by at least this much to be promoted.
    pub promotion_margin: f64,
    /// Retention: the model files of the champion and of the last N deployed
    /// versions are kept for rollback (at least 1).
    pub keep_deployed: u32,
    /// Retention: the model files of the last K challengers that were never
    /// deployed are kept. Older files are pruned; metadata and metrics stay.
    pub keep_challengers: u32,
    /// Also train the gradient-boosting family each time; `false` = the forest alone.
    pub boost: bool,
    /// With no champion to serve (an empty database, or a feature-schema
    /// upgrade), train the forest alone first so that forecasts start in
    /// seconds; the full training of every family follows at once and is
    /// promoted by the usual rule.
    pub quick_first: bool,
    /// Most boosting iterations (trees); early stopping on the tune window usually ends sooner.
    pub boost_max_iter: usize,
    /// Shrinkage of each boosting tree, in (0, 1].
    pub boost_learning_rate: f64,
    /// Most leaves per boosting tree.
    pub boost_max_leaf_nodes: usize,
    /// Depth limit of a boosting tree; 0 = only the leaf limit.
    pub boost_max_depth: usize,
    pub boost_min_samples_leaf: usize,
    /// L2 regularisation of the leaf values.
    pub boost_l2: f64,
    /// Fraction of rows drawn for each boosting tree, in (0, 1].
    pub boost_subsample: f64,
    /// Fraction of features each boosting tree may use, in (0, 1].
    pub boost_colsample: f64,
    /// Stop after this many trees without a better tune-window log-loss; 0 = never.
    pub boost_early_stopping_rounds: usize,
    /// Histogram bins per feature for boosting (2..=255): the forest's bins
    /// merged down to this many. At or above `max_bins`, the forest's own.
    pub boost_max_bins: usize,
    /// Boosting models averaged into the served one (1..=16), seeds `seed`, `seed + 1`, ….
    pub boost_bag: usize,
    /// Let the served booster learn the tune window too. With a bag,
    /// cross-fitted: model b learns all but the b-th stretch of the tune
    /// window, early-stops on that stretch and forecasts it, and calibration
    /// and the threshold are fitted on those forecasts. With one model, a
    /// refit on both windows with the early-stopped tree count.
    pub boost_refit: bool,
    /// Split the station as a category (any subset of stations on one side)
    /// rather than as an ordered number.
    pub boost_categorical: bool,
    /// One booster per issue (each with its own trees, early stopping and
    /// base rate, on that issue's rows), gated on the issue into one served
    /// model, rather than one booster for every issue's rows.
    pub boost_by_issue: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_depth: 0,
            min_samples_leaf: 20,
            max_features: FeatureDraw(crate::forest::MaxFeatures::Sqrt),
            bootstrap: true,
            class_weight: ClassWeights(crate::forest::ClassWeight::BalancedSubsample),
            max_bins: 255,
            seed: 42,
            threads: 0,
            test_months: 12,
            tune_months: 12,
            promotion_margin: 0.0,
            keep_deployed: 3,
            keep_challengers: 2,
            boost: true,
            quick_first: true,
            boost_max_iter: 2000,
            boost_learning_rate: 0.15,
            boost_max_leaf_nodes: 31,
            boost_max_depth: 0,
            boost_min_samples_leaf: 200,
            boost_l2: 20.0,
            boost_subsample: 0.5,
            boost_colsample: 0.5,
            boost_early_stopping_rounds: 30,
            boost_max_bins: 63,
            boost_bag: 3,
            boost_refit: true,
            boost_categorical: true,
            boost_by_issue: true,
        }
    }
}

impl ModelConfig {
    /// The gradient-boosting hyperparameters these settings describe.
    pub fn boost_params(&self) -> crate::forest::boost::BoostParams {
        crate::forest::boost::BoostParams(crate::forest::boost::BoostValidParams {
            max_iter: self.boost_max_iter,
            learning_rate: self.boost_learning_rate as f32,
            max_leaf_nodes: self.boost_max_leaf_nodes,
            max_depth: (self.boost_max_depth > 0).then_some(self.boost_max_depth),
            min_samples_leaf: self.boost_min_samples_leaf,
            min_hessian_leaf: 1e-3,
            l2: self.boost_l2,
            subsample: self.boost_subsample as f32,
            colsample: self.boost_colsample as f32,
            early_stopping_rounds: self.boost_early_stopping_rounds,
            bag: self.boost_bag,
            refit: self.boost_refit,
            max_bins: self.boost_max_bins,
            // The feature encoder names them: see `train::FamilyParams`.
            categorical: Default::default(),
            seed: self.seed,
            n_threads: (self.threads > 0).then_some(self.threads),
        })
    }

    /// The forest hyperparameters these settings describe.
    pub fn forest_params(&self) -> ForestParams {
        ForestParams(ForestValidParams {
            n_trees: self.n_trees,
            max_depth: (self.max_depth > 0).then_some(self.max_depth),
            min_samples_leaf: self.min_samples_leaf,
            min_samples_split: 2 * self.min_samples_leaf,
            max_features: self.max_features.0,
            bootstrap: self.bootstrap,
            class_weight: self.class_weight.0,
            max_bins: self.max_bins,
            seed: self.seed,
            n_threads: (self.threads > 0).then_some(self.threads),
        })
    }
}
