//! The training job: train, score against the champion, register, promote
//! if it wins, prune old model files, and log forecasts from a new champion.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::forecast_log::{ForecastLog, log_forecasts};
use super::{Failure, RunCtx};
use crate::forest::ForestError;
use crate::registry;
use crate::train::{TrainError, TrainReport, TreeProgress, WindowOverride};

/// What a training did: the registry's report, and the forecasts logged
/// from the new champion when it was promoted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    #[serde(flatten)]
    pub report: TrainReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecasts: Option<ForecastLog>,
    /// The quick first model (see [`quick_params`]); a full training follows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quick: bool,
}

/// Trees of the quick first model: a third of the default forest, which
/// fits in about 2 s on 2 cores (issue 30: a first forecast within 10 s).
const QUICK_TREES: usize = 32;
/// Rows per leaf of the quick first model at least: shallower trees, which
/// fit faster and forecast as well once calibrated (Brier 0.1353 with 20,
/// 0.1352 with 5, on the bundled history's test year).
const QUICK_MIN_LEAF: usize = 20;

/// The model settings of the quick first model: the forest alone, with
/// [`QUICK_TREES`] trees at most. It is trained, calibrated and scored on
/// the same time split as any model, so its record says what it is worth;
/// the full training of every family follows it and replaces it by the
/// usual rule.
pub fn quick_params(model: &crate::config::ModelConfig) -> crate::config::ModelConfig {
    let mut quick = model.clone();
    quick.boost = false;
    quick.n_trees = model.n_trees.min(QUICK_TREES);
    quick.min_samples_leaf = model.min_samples_leaf.max(QUICK_MIN_LEAF);
    quick
}

/// Train with `windows` (default: from the model settings).
#[tracing::instrument(name = "train", skip_all)]
pub(super) async fn run(
    ctx: &Arc<RunCtx>,
    windows: WindowOverride,
    quick: bool,
) -> Result<TrainSummary, Failure> {
    let env = &ctx.env;
    let model = if quick {
        ctx.log(format!(
            "nothing serves yet: a quick first model (the forest alone, {} trees) so that forecasts start now; the full training of every family follows",
            quick_params(&env.config.model).n_trees
        ));
        quick_params(&env.config.model)
    } else {
        env.config.model.clone()
    };
    let (store, c) = (env.store.clone(), ctx.clone());
    // CPU-bound: the training pool, in this job's span.
    let result = crate::runtime::spawn_cpu_bound(move || {
        let log = |line: String| c.log(line);
        // The log gets a line per tenth of the trees still planned (the
        // progress bar gets every tree): a few lines a run, not hundreds.
        let logged_tenth = std::sync::atomic::AtomicUsize::new(0);
        let progress = |done: usize, total: usize| {
            c.set_progress(
                serde_json::to_value(TreeProgress {
                    trees_done: done,
                    trees_total: total,
                })
                .unwrap_or_default(),
            );
            let tenth = done * 10 / total.max(1);
            let before = logged_tenth.fetch_max(tenth, std::sync::atomic::Ordering::Relaxed);
            if tenth > before || done == total {
                c.log(format!("{done}/{total} trees"));
            }
        };
        crate::train::train_and_register(
            &store,
            &model,
            windows,
            Some(c.run_id),
            &log,
            &progress,
            c.cancel_flag(),
        )
    })
    .await
    .map_err(Failure::new)?;
    let report = match result {
        Ok(report) => report,
        Err(TrainError::Forest(ForestError::Cancelled)) => {
            return Err(ctx.stopped("before the model was registered", None));
        }
        Err(e) => return Err(Failure::new(e)),
    };
    prune(ctx).await;
    let mut summary = TrainSummary {
        report,
        forecasts: None,
        quick,
    };
    if summary.report.promoted {
        let (store, serving) = (env.store.clone(), env.serving.clone());
        match crate::runtime::spawn_blocking(move || serving.refresh(&store)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => ctx.warn(format!("loading the new champion: {e}")),
            Err(e) => ctx.warn(format!("loading the new champion: {e}")),
        }
        summary.forecasts = Some(log_forecasts(ctx).await);
    }
    Ok(summary)
}

/// Retention: drop the model files beyond the configured counts.
async fn prune(ctx: &RunCtx) {
    let m = &ctx.env.config.model;
    let (keep_d, keep_c) = (m.keep_deployed, m.keep_challengers);
    let store = ctx.env.store.clone();
    match crate::runtime::spawn_blocking(move || registry::prune(&store, keep_d, keep_c)).await {
        Ok(Ok(pruned)) if !pruned.is_empty() => ctx.log(format!(
            "retention: pruned the model files of versions {pruned:?} \
             (keeping the last {keep_d} deployed and {keep_c} challengers)"
        )),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => ctx.warn(format!("retention: pruning failed: {e}")),
        Err(e) => ctx.warn(format!("retention: pruning failed: {e}")),
    }
}
