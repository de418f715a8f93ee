//! Registering a training: fit every family, pick the challenger, score it
//! and the champion on the same test window (the decision), and register
//! the version with its metrics through the registry's store.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::{
    FamilyParams, SplitSamples, TrainError, Trained, WindowOverride, Windows, fit_families,
};
use crate::config::ModelConfig;
use crate::features;
use crate::registry::{load_champion, sha256_hex};
pub use crate::store::FamilyResult;
use crate::store::{
    Decision, Family, ModelMetrics, NewModel, RowCounts, Store, TrainingWindows, Verdict,
};

/// What a training run did, stored as its run summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub version: i64,
    pub promoted: bool,
    pub decision: Verdict,
    pub reason: String,
    /// Family of the registered version.
    pub family: Family,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub champion_f1_same_window: Option<f64>,
    pub windows: Windows,
    pub rows: [usize; 3],
    pub fit_seconds: f64,
    /// Every family fitted this run, on the same test window.
    pub families: Vec<FamilyResult>,
}

/// One family's line in the run's results.
fn family_result(t: &Trained) -> FamilyResult {
    FamilyResult {
        family: t.family(),
        f1: t.metrics.f1,
        roc_auc: t.metrics.roc_auc,
        brier: t.metrics.brier,
        brier_raw: t.calibration.brier_raw,
        threshold: t.threshold,
        trees: t.n_trees,
        fit_seconds: t.fit_seconds,
    }
}

/// The challenger among the fitted families: the best test-window F1 (the
/// champion rule's measure), the first family listed on a tie.
fn pick_challenger(mut trained: Vec<Trained>) -> (Trained, Vec<FamilyResult>) {
    let results: Vec<FamilyResult> = trained.iter().map(family_result).collect();
    let mut best = 0;
    for (i, t) in trained.iter().enumerate() {
        if t.metrics.f1 > trained[best].metrics.f1 {
            best = i;
        }
    }
    (trained.swap_remove(best), results)
}

/// Train a challenger of every configured family on everything in the store,
/// keep the family with the best test F1, score it and the champion on the
/// same test window, register it, and promote it if it wins. A training
/// either registers a model (committed whole) or does not.
pub fn train_and_register(
    store: &Store,
    cfg: &ModelConfig,
    over: WindowOverride,
    run_id: Option<i64>,
    log: &(dyn Fn(String) + Sync),
    on_tree_done: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<TrainReport, TrainError> {
    crate::memory::lean_allocator();
    let result = train_inner(store, cfg, over, run_id, log, on_tree_done, cancel);
    // Everything the training allocated is dropped by now.
    crate::memory::release();
    result
}

fn train_inner(
    store: &Store,
    cfg: &ModelConfig,
    over: WindowOverride,
    run_id: Option<i64>,
    log: &(dyn Fn(String) + Sync),
    on_tree_done: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<TrainReport, TrainError> {
    let stats = store.station_stats()?;
    let (first, last) = match (
        stats.iter().filter_map(|s| s.first).min(),
        stats.iter().filter_map(|s| s.latest).max(),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(TrainError::NotEnoughData(
                "the database holds no observations; import or scrape first".into(),
            ));
        }
    };
    let n_obs: u64 = stats.iter().map(|s| s.rows).sum();
    let windows = super::windows(&store.labelled_days()?, cfg, over)?;
    log(format!(
        "{n_obs} observations from {first} to {last}; train {}..{}, tune {}..{}, test {}..{}",
        windows.train.from,
        windows.train.to,
        windows.tune.from,
        windows.tune.to,
        windows.test.from,
        windows.test.to
    ));
    let mut split = SplitSamples::from_store(store, &windows)?;
    let families = FamilyParams::from_config(cfg)?;
    let trained = fit_families(&mut split, windows, &families, on_tree_done, cancel)?;
    for t in &trained {
        let m = &t.metrics;
        log(format!(
            "{}: F1 {:.4} at threshold {:.2}, ROC AUC {:.4}, Brier {:.4} ({:.4} before {} calibration{}) on {} test rows; {} trees, {:.1} s to fit",
            t.family().as_str(),
            m.f1,
            t.threshold,
            m.roc_auc,
            m.brier,
            t.calibration.brier_raw,
            t.calibration.method,
            if t.calibration.level_kept {
                ", level kept"
            } else {
                ""
            },
            m.n,
            t.n_trees,
            t.fit_seconds
        ));
    }
    let (trained, families) = pick_challenger(trained);
    let m = &trained.metrics;
    log(format!(
        "challenger: {} (F1 {:.4})",
        trained.family().as_str(),
        m.f1
    ));

    let decision = decide(store, &split.test, &trained, cfg.promotion_margin, log);
    log(format!(
        "decision: {}: {}",
        decision.verdict, decision.reason
    ));
    drop(split);

    let blob = trained.model.to_bytes();
    let sha = sha256_hex(&blob);
    let [train_rows, tune_rows, test_rows] = trained.counts.map(|n| n as u64);
    let train_window = TrainingWindows {
        rows: RowCounts {
            train: train_rows,
            tune: tune_rows,
            test: test_rows,
        },
        train: trained.windows.train,
        tune: trained.windows.tune,
    };
    let metrics = ModelMetrics {
        family: Some(trained.family()),
        test: trained.metrics.clone(),
        calibration: Some(trained.calibration.clone()),
        amounts: trained.amounts.clone(),
        stations: Some(trained.stations.clone()),
        families: Some(families.clone()),
        trees: Some(trained.n_trees as u64),
        importance: trained.importance.clone(),
        feature_names: features::NAMES.iter().map(|n| n.to_string()).collect(),
        fit_seconds: trained.fit_seconds,
        champion_f1_same_window: decision.champion_f1,
        level: trained.level.clone(),
    };
    let version = store.register_model(
        &NewModel {
            trained_by_run: run_id,
            params: &trained.params,
            feature_schema: features::SCHEMA_VERSION,
            train_window: &train_window,
            test_window: &trained.windows.test,
            threshold: trained.threshold,
            f1: m.f1,
            roc_auc: m.roc_auc,
            brier: m.brier,
            metrics: &metrics,
            blob: &blob,
            blob_sha256: &sha,
        },
        &decision,
        "training",
    )?;
    let promote = decision.promotes();
    log(format!(
        "registered version {version} ({}, {} bytes){}",
        trained.family().as_str(),
        blob.len(),
        if promote { ", now the champion" } else { "" }
    ));
    Ok(TrainReport {
        version,
        promoted: promote,
        decision: decision.verdict,
        reason: decision.reason,
        family: trained.family(),
        f1: m.f1,
        roc_auc: m.roc_auc,
        brier: m.brier,
        champion_f1_same_window: decision.champion_f1,
        windows: trained.windows,
        rows: trained.counts,
        fit_seconds: trained.fit_seconds,
        families,
    })
}

/// How much worse the challenger's Brier score may be than the champion's on
/// any one issue for it to be promoted: a model better on the whole test
/// window must not be worse where it serves one issue.
const ISSUE_BRIER_TOLERANCE: f64 = 0.0005;

/// Champion/challenger: both scored, calibrated, on the challenger's test
/// window, whatever their families; per issue, the challenger may not be
/// worse in Brier score than [`ISSUE_BRIER_TOLERANCE`].
fn decide(
    store: &Store,
    test: &super::Samples,
    trained: &Trained,
    margin: f64,
    log: &(dyn Fn(String) + Sync),
) -> Decision {
    let promoted = |reason: String, champion_f1| Decision {
        verdict: Verdict::Promoted,
        reason,
        champion_f1,
    };
    let champion = match load_champion(store) {
        Ok(None) => return promoted("first model: no champion yet".into(), None),
        Ok(Some(c)) => c,
        Err(e) => {
            log(format!("the champion cannot be loaded: {e}"));
            return promoted(format!("the current champion cannot be served ({e})"), None);
        }
    };
    let probs = champion.predict_matrix(&test.x);
    let champ = crate::score::evaluate(&probs, &test.y, champion.threshold);
    let challenger = trained.metrics.f1;
    let (cf, hf) = (trained.family().as_str(), champion.family());
    log(format!(
        "champion v{} ({hf}) re-scored on the same window: F1 {:.4}",
        champion.version, champ.f1
    ));
    if challenger - champ.f1 > margin {
        // A negative margin is an operator forcing promotions: it skips
        // the per-issue check too.
        if margin >= 0.0
            && let Some(worse) = worse_issue(test, trained, &probs, log)
        {
            return Decision {
                verdict: Verdict::KeptOut,
                reason: format!(
                    "F1 {challenger:.4} ({cf}) beats champion v{} ({hf}, {:.4}), but not on every issue: {worse}",
                    champion.version, champ.f1
                ),
                champion_f1: Some(champ.f1),
            };
        }
        promoted(
            format!(
                "F1 {challenger:.4} ({cf}) beats champion v{} ({hf}, {:.4}) by more than the margin {margin}",
                champion.version, champ.f1
            ),
            Some(champ.f1),
        )
    } else {
        Decision {
            verdict: Verdict::KeptOut,
            reason: format!(
                "F1 {challenger:.4} ({cf}) does not beat champion v{} ({hf}, {:.4}) by more than the margin {margin}",
                champion.version, champ.f1
            ),
            champion_f1: Some(champ.f1),
        }
    }
}

/// The first issue on which the challenger's Brier score is worse than the
/// champion's (re-scored on the same rows) by more than
/// [`ISSUE_BRIER_TOLERANCE`], said in words.
fn worse_issue(
    test: &super::Samples,
    trained: &Trained,
    probs: &[f32],
    log: &(dyn Fn(String) + Sync),
) -> Option<String> {
    crate::issue::ISSUES.iter().find_map(|&issue| {
        let idx: Vec<usize> = (0..test.len())
            .filter(|&i| test.issues[i] == issue)
            .collect();
        if idx.is_empty() {
            return None;
        }
        let y: Vec<bool> = idx.iter().map(|&i| test.y[i]).collect();
        let theirs: Vec<f32> = idx.iter().map(|&i| probs[i]).collect();
        let ours = trained
            .calibration
            .issues
            .iter()
            .find(|s| s.issue == issue.name())?;
        let champion_brier = crate::score::brier(&theirs, &y);
        log(format!(
            "{}: Brier {:.4} against the champion's {champion_brier:.4}",
            issue.name(),
            ours.brier
        ));
        (ours.brier > champion_brier + ISSUE_BRIER_TOLERANCE).then(|| {
            format!(
                "{} Brier {:.4} against {champion_brier:.4}",
                issue.name(),
                ours.brier
            )
        })
    })
}

#[cfg(test)]
mod tests;
