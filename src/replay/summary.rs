//! What a replay produced, summarised: the live record over the period
//! (forecasts issued before their window closed, scored against what
//! happened and against climatology, per issue), the runs with their
//! failures and retries, the stale periods, and the locations it could not
//! forecast every day, with why.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{Options, ReplayError};
use crate::issue::Issue;
use crate::jobs::{JobKind, Trigger};
use crate::store::{PredictionRow, RunStatus, Store};

/// The replay's outcome. Everything here is reproducible for the same
/// inputs and seed, except `database_bytes` (the file's page layout depends
/// on how run logs were flushed in real time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: u64,
    /// Live forecasts logged for days in the period.
    pub forecasts: u64,
    /// Of those, scored against the observed outcome.
    pub scored: u64,
    pub hits: u64,
    pub hit_rate: Option<f64>,
    pub brier: Option<f64>,
    /// Brier score of per-station monthly climatology on the same forecasts.
    pub climatology_brier: Option<f64>,
    /// `1 - brier / climatology_brier`: above 0 beats climatology.
    pub brier_skill_score: Option<f64>,
    /// The scored forecasts' mean probability, against how often it rained
    /// on those station-days: whether "30 %" meant 30 % on average.
    pub mean_forecast: Option<f64>,
    pub observed_frequency: Option<f64>,
    pub trainings: u64,
    pub promotions: u64,
    pub runs: u64,
    pub failed_runs: u64,
    pub retries: u64,
    /// Station-days whose newest observation was older than the stale
    /// limit, counted after each day's scheduled scrape.
    pub stale_station_days: u64,
    /// Days on which more stations were stale than on the calmest day
    /// (an outage), as date ranges.
    pub stale_periods: Vec<(NaiveDate, NaiveDate)>,
    /// The live record per issue, each scored at its own issue time.
    pub issues: Vec<IssueSummary>,
    /// Forecasts logged at or after their window closed: always 0.
    pub late_forecasts: u64,
    pub database_bytes: u64,
    /// `sources.order` as replayed: `website`, `ftp` or `website,ftp`.
    #[serde(default)]
    pub sources: String,
    /// Locations without a live forecast on every day of the period, and why.
    #[serde(default)]
    pub unserved: Vec<Unserved>,
}

/// A location the replay could not forecast every day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unserved {
    pub location: String,
    /// Days with at least one live forecast, of the period's.
    pub days_forecast: u64,
    pub why: String,
}

/// Locations with a day of the period without a live forecast, each with
/// its reason: no FTP feed station when the website is not a source, else
/// how many days it had.
fn unserved(
    forecasts: &[PredictionRow],
    opts: &Options,
    order: &crate::config::SourcesConfig,
) -> Vec<Unserved> {
    use crate::config::Channel;
    let days = (opts.to - opts.from).num_days() as u64 + 1;
    let mut by_location: BTreeMap<&str, std::collections::BTreeSet<NaiveDate>> = BTreeMap::new();
    for p in forecasts {
        by_location
            .entry(&p.location)
            .or_default()
            .insert(p.for_date);
    }
    crate::stations::STATIONS
        .iter()
        .filter_map(|st| {
            let n = by_location.get(st.location).map_or(0, |d| d.len() as u64);
            if n >= days {
                return None;
            }
            let feed = crate::ingest::ftp::feeds::feed(st);
            let why = match feed {
                Err(why) if !order.uses(Channel::Website) => {
                    format!("no FTP feed station ({why}) and the website is not a source")
                }
                Err(why) if order.uses(Channel::Ftp) => {
                    format!("website only ({why}): {n} of {days} days forecast")
                }
                _ if n == 0 => format!(
                    "no forecast on any of the {days} days: no current data from its sources"
                ),
                _ => {
                    let have = by_location.get(st.location);
                    let missing: Vec<String> = opts
                        .from
                        .iter_days()
                        .take_while(|d| *d <= opts.to)
                        .filter(|d| !have.is_some_and(|h| h.contains(d)))
                        .map(|d| d.to_string())
                        .collect();
                    let shown = missing
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    let more = if missing.len() > 5 { ", …" } else { "" };
                    format!("forecast on {n} of {days} days; none for {shown}{more}")
                }
            };
            Some(Unserved {
                location: st.location.to_string(),
                days_forecast: n,
                why,
            })
        })
        .collect()
}

pub(super) fn summarize(
    store: &Store,
    opts: &Options,
    first_run: i64,
    history_end: NaiveDate,
    stale_by_day: BTreeMap<NaiveDate, u64>,
    sources: &str,
) -> Result<Summary, ReplayError> {
    let forecasts = store.live_forecasts(opts.from, opts.to)?;
    let clim = crate::evaluate::Climatology::from_store(store, history_end)?;
    let amount_clim = crate::evaluate::amount_climatology(store, history_end)?;
    let issues = crate::issue::ISSUES
        .iter()
        .filter_map(|&issue| {
            let mine: Vec<&PredictionRow> = forecasts
                .iter()
                .filter(|p| p.issue.as_deref() == Some(issue.name()))
                .collect();
            (!mine.is_empty()).then(|| IssueSummary::of(issue, &mine, &clim, &amount_clim))
        })
        .collect();
    let late = store.late_forecasts(opts.from, opts.to)?;
    let scored: Vec<_> = forecasts.iter().filter(|p| p.outcome.is_some()).collect();
    let n = scored.len() as f64;
    let hits = scored.iter().filter(|p| p.hit() == Some(true)).count() as u64;
    let brier = crate::score::brier_of(
        scored
            .iter()
            .map(|p| (p.probability, p.outcome.unwrap_or(false))),
    );
    let mean_forecast =
        (!scored.is_empty()).then(|| scored.iter().map(|p| p.probability).sum::<f64>() / n);
    let observed_frequency = (!scored.is_empty())
        .then(|| scored.iter().filter(|p| p.outcome == Some(true)).count() as f64 / n);
    let climatology_brier = crate::score::brier_of(scored.iter().map(|p| {
        (
            clim.rate(&p.location, p.for_date.month()),
            p.outcome.unwrap_or(false),
        )
    }));
    let runs: Vec<_> = store
        .run_heads(None, u32::MAX)?
        .into_iter()
        .filter(|r| r.id > first_run)
        .collect();
    let trainings = runs
        .iter()
        .filter(|r| r.kind == JobKind::Train && r.status == RunStatus::Succeeded)
        .count() as u64;
    let promotions = store
        .deployments()?
        .iter()
        .filter(|d| d.actor == "training")
        .count() as u64;
    let calm = stale_by_day.values().copied().min().unwrap_or(0);
    let mut stale_periods: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (&day, &n) in &stale_by_day {
        if n > calm {
            match stale_periods.last_mut() {
                Some((_, to)) if *to + chrono::Days::new(1) == day => *to = day,
                _ => stale_periods.push((day, day)),
            }
        }
    }
    let order = crate::config::SourcesConfig {
        order: sources.to_string(),
    };
    let unserved = unserved(&forecasts, opts, &order);
    Ok(Summary {
        sources: sources.to_string(),
        unserved,
        from: opts.from,
        to: opts.to,
        days: (opts.to - opts.from).num_days() as u64 + 1,
        forecasts: forecasts.len() as u64,
        scored: scored.len() as u64,
        hits,
        hit_rate: (!scored.is_empty()).then(|| hits as f64 / n),
        brier,
        climatology_brier,
        brier_skill_score: brier
            .zip(climatology_brier)
            .and_then(|(b, c)| crate::score::skill_score(b, c)),
        mean_forecast,
        observed_frequency,
        trainings,
        promotions,
        runs: runs.len() as u64,
        failed_runs: runs
            .iter()
            .filter(|r| r.status == RunStatus::Failed)
            .count() as u64,
        retries: runs.iter().filter(|r| r.trigger == Trigger::Retry).count() as u64,
        stale_station_days: stale_by_day.values().sum(),
        stale_periods,
        issues,
        late_forecasts: late,
        database_bytes: store.file_size(),
    })
}

/// One issue's live record in a replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueSummary {
    /// `day_before`, `morning` or `afternoon`.
    pub issue: String,
    pub forecasts: u64,
    pub scored: u64,
    pub brier: Option<f64>,
    pub climatology_brier: Option<f64>,
    pub brier_skill_score: Option<f64>,
    pub mean_forecast: Option<f64>,
    pub observed_frequency: Option<f64>,
    /// The chance of each rain amount and the possible-rainfall range,
    /// scored where the forecasts gave them and BOM reported the amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amounts: Option<crate::amounts::AmountScores>,
}

impl IssueSummary {
    fn of(
        issue: Issue,
        rows: &[&PredictionRow],
        clim: &crate::evaluate::Climatology,
        amount_clim: &crate::amounts::AmountClimatology,
    ) -> Self {
        let amount_items: Vec<crate::amounts::AmountItem> = rows
            .iter()
            .filter_map(|p| {
                Some(crate::amounts::AmountItem {
                    issue: Some(issue),
                    curve: p.amounts.as_ref()?.curve()?,
                    climatology: amount_clim.curve(&p.location, p.for_date.month()),
                    amount: p.amount_mm?,
                })
            })
            .collect();
        let scored: Vec<(f64, bool, f64)> = rows
            .iter()
            .filter_map(|p| {
                let rate = clim.rate(&p.location, p.for_date.month());
                Some((p.probability, p.outcome?, rate))
            })
            .collect();
        let n = scored.len() as f64;
        let mean = |f: &dyn Fn(&(f64, bool, f64)) -> f64| {
            (!scored.is_empty()).then(|| scored.iter().map(f).sum::<f64>() / n)
        };
        let brier = crate::score::brier_of(scored.iter().map(|&(p, o, _)| (p, o)));
        let climatology_brier = crate::score::brier_of(scored.iter().map(|&(_, o, c)| (c, o)));
        IssueSummary {
            issue: issue.name().into(),
            forecasts: rows.len() as u64,
            scored: scored.len() as u64,
            brier,
            climatology_brier,
            brier_skill_score: brier
                .zip(climatology_brier)
                .and_then(|(b, c)| crate::score::skill_score(b, c)),
            mean_forecast: mean(&|&(p, _, _)| p),
            observed_frequency: mean(&|&(_, o, _)| f64::from(u8::from(o))),
            amounts: crate::amounts::AmountScores::of(&amount_items),
        }
    }
}
