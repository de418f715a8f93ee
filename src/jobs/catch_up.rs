//! The catch-up: what a process runs once at start, before its schedule's
//! first tick. A scrape when the last good one is over a day old, a
//! training when the last is over a week old, and a first model up front
//! (a quick one first, when configured) when none the encoder can serve
//! exists. `serve`'s schedule and a replay's driver run the same plan.

use chrono::{DateTime, Utc};

use super::{JobKind, JobSpec, Jobs, RunStatus, Trigger};
use crate::config::ScheduleConfig;

/// Jobs to run once at start: a scrape when the last good one is over a day
/// old (or there was none), a training when the last is over a week old.
pub fn catch_up(
    cfg: &ScheduleConfig,
    last_scrape: Option<DateTime<Utc>>,
    last_train: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<JobKind> {
    let mut out = Vec::new();
    if !cfg.catch_up {
        return out;
    }
    let older = |t: Option<DateTime<Utc>>, days: i64| {
        t.is_none_or(|t| now - t > chrono::Duration::days(days))
    };
    if cfg.scrape_enabled && older(last_scrape, 1) {
        out.push(JobKind::Scrape);
    }
    if cfg.train_enabled && older(last_train, 7) {
        out.push(JobKind::Train);
    }
    out
}

/// What to run once at start, in order.
#[derive(Debug, Clone)]
pub struct CatchUp {
    pub kinds: Vec<JobKind>,
    /// A first training was put up front (no champion of the current
    /// feature schema yet).
    pub first_model: bool,
    /// That first training is the quick one (`model.quick_first`), and a
    /// full training follows it later in the plan whatever the scrape does.
    pub quick_first: bool,
}

impl Jobs {
    /// What to run once at start (see [`catch_up`]), with a first
    /// training up front when there is data but no champion the encoder can
    /// serve (none yet, or one of an older feature schema).
    pub async fn catch_up_plan(&self) -> CatchUp {
        let cfg = self.config().schedule.clone();
        let now = self.clock().now();
        let store = self.store().clone();
        let (last, first_model) = crate::runtime::spawn_blocking(move || {
            let scrape = store.last_success(JobKind::Scrape).ok().flatten();
            let refresh = store.last_success(JobKind::Refresh).ok().flatten();
            let train = store.last_success(JobKind::Train).ok().flatten();
            // No champion of the current feature schema (none yet, or one an
            // upgrade can no longer load) but data to learn from (the bundled
            // history, an import): train first, so forecasts exist before the
            // scrape.
            let current = store
                .champion_version()
                .ok()
                .flatten()
                .and_then(|v| store.model_summary(v).ok())
                .is_some_and(|m| m.feature_schema == crate::features::SCHEMA_VERSION);
            let first_model = !current && store.count_observations().unwrap_or(0) > 0;
            ((scrape.max(refresh), train.max(refresh)), first_model)
        })
        .await
        .unwrap_or(((None, None), false));
        let mut kinds = catch_up(&cfg, last.0, last.1, now);
        let first_model = first_model && cfg.train_enabled;
        let model = &self.config().model;
        let quick_first = first_model && model.quick_first;
        if first_model {
            tracing::info!(
                "no model serves yet: forecasts answer 503 until the first training has finished{}",
                if quick_first {
                    " (a quick one, the forest alone; the full training follows)"
                } else {
                    ""
                }
            );
            kinds.insert(0, JobKind::Train);
            if quick_first && !kinds[1..].contains(&JobKind::Train) {
                kinds.push(JobKind::Train);
            }
        }
        CatchUp {
            kinds,
            first_model,
            quick_first,
        }
    }

    /// Run a catch-up plan in order, each job its own recorded run.
    #[tracing::instrument(skip_all, fields(kinds = ?plan.kinds))]
    pub async fn run_catch_up(&self, plan: CatchUp) {
        let mut scrape_failed = false;
        for (i, &kind) in plan.kinds.iter().enumerate() {
            // A retraining after a scrape that added nothing is waste,
            // unless the first model was the quick one: then it is the full
            // training.
            if i > 0
                && kind == JobKind::Train
                && scrape_failed
                && plan.first_model
                && !plan.quick_first
            {
                tracing::warn!("catch-up training skipped: the scrape before it failed");
                continue;
            }
            let spec = match kind {
                JobKind::Train if i == 0 && plan.quick_first => JobSpec::Train {
                    windows: Default::default(),
                    quick: true,
                },
                kind => JobSpec::from(kind),
            };
            match self.run(spec, Trigger::CatchUp).await {
                Ok(o) if o.status == RunStatus::Succeeded => {
                    tracing::info!(run = o.run_id, "catch-up {kind} succeeded")
                }
                Ok(o) => {
                    scrape_failed |= kind == JobKind::Scrape;
                    let error = o.error.as_deref().unwrap_or("");
                    if o.status == RunStatus::Failed {
                        tracing::error!(run = o.run_id, error, "catch-up {kind} failed");
                    } else {
                        tracing::warn!(run = o.run_id, error, "catch-up {kind} {}", o.status);
                    }
                }
                Err(e) => tracing::warn!("catch-up {kind}: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
            .and_utc()
    }

    #[test]
    fn catch_up_rules() {
        let cfg = ScheduleConfig::default();
        let now = at(2026, 11, 23, 9, 0);
        assert_eq!(
            catch_up(&cfg, None, None, now),
            vec![JobKind::Scrape, JobKind::Train]
        );
        let h = |n| Some(now - chrono::Duration::hours(n));
        assert!(catch_up(&cfg, h(20), h(24 * 6), now).is_empty());
        assert_eq!(catch_up(&cfg, h(25), h(24 * 6), now), vec![JobKind::Scrape]);
        assert_eq!(catch_up(&cfg, h(2), h(24 * 8), now), vec![JobKind::Train]);
        let off = ScheduleConfig {
            catch_up: false,
            ..cfg
        };
        assert!(catch_up(&off, None, None, now).is_empty());
    }
}
