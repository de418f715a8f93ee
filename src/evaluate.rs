//! Score any stored model, or the live record, on any window of stored
//! observations, without writing anything: "how does the 2017 model do on
//! 2025?".

use std::collections::HashMap;
use std::io::Write as _;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::amounts::{AmountClimatology, AmountItem, AmountScores, Curve};
use crate::features;
use crate::issue::{ISSUES, Issue, Visibility};
use crate::registry::{self, RegistryError};
use crate::stations::STATIONS;
use crate::store::{Store, StoreError};

/// Which forecasts to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A stored model version, on every labelled day of the window, with
    /// the chances serving would have given: the level correction learned
    /// from the days before each one ([`crate::level`]).
    Model(i64),
    /// A stored model version's own chances, before the level correction.
    ModelRaw(i64),
    /// The forecasts the daily job logged for days in the window.
    Live,
}

/// One bin of a reliability table (the same table a model version records).
pub use crate::store::ReliabilityBin;

/// Scores of one set of forecasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scores {
    pub n: u64,
    pub rain_days: u64,
    pub threshold: f64,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
    pub roc_auc: f64,
    pub brier: f64,
    /// Per-station monthly climatology on the same days.
    pub climatology_brier: f64,
    pub brier_skill_score: Option<f64>,
    pub mean_forecast: f64,
    pub observed_frequency: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StationScores {
    pub location: String,
    #[serde(flatten)]
    pub scores: Scores,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evaluation {
    /// `v7`, or `live`.
    pub subject: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub overall: Scores,
    pub reliability: Vec<ReliabilityBin>,
    pub stations: Vec<StationScores>,
    /// The same forecasts per issue, each made from the rows BOM showed at
    /// its issue time (live forecasts logged before issues are in none).
    #[serde(default)]
    pub issues: Vec<IssueScores>,
    /// The chance of each rain amount and the possible-rainfall range,
    /// scored (absent when no forecast gave amounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amounts: Option<AmountScores>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssueScores {
    /// `day_before`, `morning` or `afternoon`.
    pub issue: String,
    #[serde(flatten)]
    pub scores: Scores,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amounts: Option<AmountScores>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the scored forecasts failed.
    #[error("writing the forecasts: {0}")]
    Output(String),
}

/// One scored forecast.
struct Item {
    issue: Option<Issue>,
    location: &'static str,
    for_date: NaiveDate,
    p: f64,
    rain: bool,
    threshold: f64,
    /// The chance of each amount, where the forecast gave them.
    curve: Option<Curve>,
    /// What fell, where BOM reported it.
    amount: Option<f64>,
}

/// Score `subject` on forecast days `from..=to`. Climatology comes from the
/// observations before `from`.
pub fn evaluate(
    store: &Store,
    subject: Subject,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Evaluation, EvaluateError> {
    evaluate_to(store, subject, from, to, None)
}

/// [`evaluate`], also writing every scored forecast to `forecasts` as CSV
/// ([`write_forecasts`]), in time order, before the scores are computed.
pub fn evaluate_to(
    store: &Store,
    subject: Subject,
    from: NaiveDate,
    to: NaiveDate,
    forecasts: Option<&mut dyn std::io::Write>,
) -> Result<Evaluation, EvaluateError> {
    if from > to {
        return Err(EvaluateError::Input(format!(
            "--from {from} is after --to {to}"
        )));
    }
    for d in [from, to] {
        if !(1900..=2200).contains(&d.year()) {
            return Err(EvaluateError::Input(format!(
                "{d} is outside the years 1900 to 2200"
            )));
        }
    }
    let items = match subject {
        Subject::Model(v) => model_items(store, v, from, to, true)?,
        Subject::ModelRaw(v) => model_items(store, v, from, to, false)?,
        Subject::Live => store
            .live_forecasts(from, to)?
            .into_iter()
            .filter_map(|p| {
                let st = crate::stations::by_location(&p.location)?;
                Some(Item {
                    issue: p.issue.as_deref().and_then(Issue::parse),
                    location: st.location,
                    for_date: p.for_date,
                    p: p.probability,
                    rain: p.outcome?,
                    threshold: p.threshold.unwrap_or(0.5),
                    curve: p.amounts.as_ref().and_then(|a| a.curve()),
                    amount: p.amount_mm,
                })
            })
            .collect(),
    };
    if items.is_empty() {
        return Err(EvaluateError::Input(format!(
            "no {} forecasts with a known outcome between {from} and {to}",
            match subject {
                Subject::Model(_) | Subject::ModelRaw(_) => "labelled",
                Subject::Live => "logged",
            }
        )));
    }
    if let Some(out) = forecasts {
        write_forecasts(&items, out).map_err(|e| EvaluateError::Output(e.to_string()))?;
    }
    let clim = Climatology::from_store(store, from)?;
    let amount_clim = amount_climatology(store, from)?;
    let amount_items: Vec<AmountItem> = items
        .iter()
        .filter_map(|i| {
            Some(AmountItem {
                issue: i.issue,
                curve: i.curve?,
                climatology: amount_clim.curve(i.location, i.for_date.month()),
                amount: i.amount?,
            })
        })
        .collect();
    let overall = scores(&items.iter().collect::<Vec<_>>(), &clim);
    let stations = STATIONS
        .iter()
        .filter_map(|st| {
            let mine: Vec<&Item> = items.iter().filter(|i| i.location == st.location).collect();
            (!mine.is_empty()).then(|| StationScores {
                location: st.location.to_string(),
                scores: scores(&mine, &clim),
            })
        })
        .collect();
    let issues = ISSUES
        .iter()
        .filter_map(|&issue| {
            let mine: Vec<&Item> = items.iter().filter(|i| i.issue == Some(issue)).collect();
            (!mine.is_empty()).then(|| IssueScores {
                issue: issue.name().into(),
                scores: scores(&mine, &clim),
                amounts: AmountScores::of(amount_items.iter().filter(|a| a.issue == Some(issue))),
            })
        })
        .collect();
    Ok(Evaluation {
        issues,
        amounts: AmountScores::of(&amount_items),
        subject: match subject {
            Subject::Model(v) => format!("v{v}"),
            Subject::ModelRaw(v) => format!("v{v} raw"),
            Subject::Live => "live".into(),
        },
        from,
        to,
        overall,
        reliability: reliability(&items),
        stations,
    })
}

/// Model `v`'s forecast from every labelled observation whose target day
/// is in the window: as served (`corrected`), or the model's own.
fn model_items(
    store: &Store,
    version: i64,
    from: NaiveDate,
    to: NaiveDate,
    corrected: bool,
) -> Result<Vec<Item>, EvaluateError> {
    let model = registry::load(store, version)?;
    if !corrected {
        return Ok(hindcasts(store, &model, from, to)?);
    }
    // The book as serving would have held it at each issue: the test
    // window's anchor and every rain day since, up to the day before the
    // forecast's base day (adding them all first changes nothing: a
    // forecast reads only the days before it).
    let start = model.level_from().max(crate::level::oldest_read(from));
    let mut items = hindcasts(store, &model, start.min(from), to)?;
    model.level.with(|book| {
        read_into(book, items.iter().filter(|i| i.for_date >= start));
        items.retain(|i| i.for_date >= from);
        for i in &mut items {
            if let Some(issue) = i.issue {
                (i.p, i.curve) = book.apply(issue, i.for_date, i.p, i.curve);
            }
        }
    });
    Ok(items)
}

/// Brings `model`'s level book up to the newest rain day whose outcome
/// every station could have reported: the day before the newest stored
/// observation (what a forecast may read, [`crate::level::lag`]). Returns
/// the days read; nothing when the book is current.
pub fn catch_up_level(store: &Store, model: &registry::LoadedModel) -> Result<u64, StoreError> {
    let mut newest = None;
    for st in STATIONS.iter() {
        newest = newest.max(store.latest_date(st.location)?);
    }
    match newest.and_then(|d| d.pred_opt()) {
        Some(target) => catch_up_level_to(store, model, target),
        None => Ok(0),
    }
}

/// Brings `model`'s level book up to rain day `target` with hindcasts of
/// the days it has not read. One catch-up of a book runs at a time; the
/// book itself stays readable meanwhile.
pub fn catch_up_level_to(
    store: &Store,
    model: &registry::LoadedModel,
    target: NaiveDate,
) -> Result<u64, StoreError> {
    let _one = model.level.catching();
    let through = model.level.with(|b| b.through());
    let start = through
        .map_or_else(|| model.level_from(), |d| d + chrono::Days::new(1))
        .max(crate::level::oldest_read(target));
    if start > target {
        return Ok(0);
    }
    let items = hindcasts(store, model, start, target)?;
    model.level.with(|book| {
        let read = book.through();
        read_into(
            book,
            items.iter().filter(|i| read.is_none_or(|t| i.for_date > t)),
        );
        book.read_through(target);
    });
    Ok((target - start).num_days() as u64 + 1)
}

/// Adds the model's own forecasts `items` and their outcomes to `book`.
fn read_into<'a>(book: &mut crate::level::LevelBook, items: impl Iterator<Item = &'a Item>) {
    for i in items {
        if let Some(issue) = i.issue {
            book.add(issue, i.for_date, i.p, i.curve.as_ref(), i.rain, i.amount);
        }
    }
}

/// `model`'s own chances (before the level correction) for every labelled
/// rain day in `from..=to`, each issue made from the rows BOM showed then.
fn hindcasts(
    store: &Store,
    model: &registry::LoadedModel,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    // Observations dated the day before each forecast day, with the lookback
    // the features need: every station's reports first (for the neighbour
    // features), then one station's series at a time, as training reads.
    // Each issue reads its base day as BOM showed it at that issue.
    let (first, last) = (from - chrono::Days::new(2 + features::LOOKBACK_DAYS), to);
    let around = features::Neighbourhood::from_store(store, first, last)?;
    let v = Visibility::current();
    for st in STATIONS.iter() {
        let series = store.observations_between(st.location, first, last)?;
        for issue in ISSUES {
            let rows = features::encode_series(&series, &around, issue, &v);
            for (i, (o, row)) in series.iter().zip(rows).enumerate() {
                let for_date = features::target_date(o.date, issue);
                if for_date < from || for_date > to {
                    continue;
                }
                if let Some(rain) = crate::train::label_for(&series, i, issue) {
                    let p = model.predict(&row);
                    items.push(Item {
                        issue: Some(issue),
                        location: o.location,
                        for_date,
                        p,
                        rain,
                        threshold: model.threshold,
                        curve: model.amounts(p, o.location, for_date, issue),
                        amount: crate::train::amount_for(&series, i, issue).map(f64::from),
                    });
                }
            }
        }
    }
    Ok(items)
}

/// Every scored forecast as CSV, sorted by rain day, issue and station: the
/// issue, station, rain day, the headline chance, whether it rained (1 or
/// 0), the amount BOM measured (empty where it reported none), then the
/// chance of each amount in [`THRESHOLDS`](crate::amounts::THRESHOLDS)
/// (empty where the forecast gave none). Enough to check the Brier
/// scores, levels and reliability, or to try a correction of the forecasts
/// in time order (F1 also needs each forecast's threshold, not written).
fn write_forecasts(items: &[Item], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut order: Vec<&Item> = items.iter().collect();
    order.sort_by_key(|i| (i.for_date, i.issue.map(Issue::index), i.location));
    let mut w = std::io::BufWriter::new(out);
    write!(w, "issue,location,for_date,probability,rain,amount_mm")?;
    for t in crate::amounts::THRESHOLDS {
        write!(w, ",chance_{}mm", t.mm)?;
    }
    writeln!(w)?;
    for i in order {
        write!(
            w,
            "{},{},{},{},{},",
            i.issue.map_or("", Issue::name),
            i.location,
            i.for_date,
            i.p,
            u8::from(i.rain)
        )?;
        // Amounts are read to 0.1 mm and stored as f32: printed as such.
        if let Some(a) = i.amount {
            write!(w, "{}", a as f32)?;
        }
        match i.curve {
            Some(c) => c.0.iter().try_for_each(|x| write!(w, ",{x}"))?,
            None => (0..crate::amounts::N).try_for_each(|_| write!(w, ","))?,
        }
        writeln!(w)?;
    }
    w.flush()
}

fn scores(items: &[&Item], clim: &Climatology) -> Scores {
    let probs: Vec<f32> = items.iter().map(|i| i.p as f32).collect();
    let y: Vec<bool> = items.iter().map(|i| i.rain).collect();
    // Live forecasts may come from several models: each made its own call.
    let mut c = crate::score::Confusion::default();
    for i in items {
        c.add(i.p >= i.threshold, i.rain);
    }
    let ranking = crate::score::evaluate(&probs, &y, 0.5);
    let n = items.len() as f64;
    let brier = crate::score::brier_of(items.iter().map(|i| (i.p, i.rain))).unwrap_or(0.0);
    let climatology_brier = crate::score::brier_of(
        items
            .iter()
            .map(|i| (clim.rate(i.location, i.for_date.month()), i.rain)),
    )
    .unwrap_or(0.0);
    let rain_days = y.iter().filter(|&&r| r).count() as u64;
    let thresholds: Vec<f64> = items.iter().map(|i| i.threshold).collect();
    Scores {
        n: items.len() as u64,
        rain_days,
        threshold: thresholds.iter().sum::<f64>() / n,
        f1: crate::score::f1(&c),
        precision: c.precision(),
        recall: c.recall(),
        roc_auc: ranking.roc_auc,
        brier,
        climatology_brier,
        brier_skill_score: crate::score::skill_score(brier, climatology_brier),
        mean_forecast: items.iter().map(|i| i.p).sum::<f64>() / n,
        observed_frequency: rain_days as f64 / n,
    }
}

/// The reliability bins of the items ([`crate::score::BINS`]).
fn reliability(items: &[Item]) -> Vec<ReliabilityBin> {
    let mut r = crate::score::Reliability::default();
    for i in items {
        r.add(i.p, i.rain);
    }
    r.bins()
}

/// Per-station monthly frequency of each rain amount before `before`.
pub fn amount_climatology(
    store: &Store,
    before: NaiveDate,
) -> Result<AmountClimatology, StoreError> {
    let mut c = AmountClimatology::default();
    for (loc, month, mm, days) in store.rain_amounts_before(before)? {
        c.add(&loc, month, mm, days);
    }
    Ok(c)
}

/// Per-station monthly rain-day frequency from observations before a day:
/// the forecast anyone could make without a model.
pub struct Climatology {
    by_station_month: HashMap<(String, u32), (u64, u64)>,
    by_station: HashMap<String, (u64, u64)>,
    overall: (u64, u64),
}

impl Climatology {
    pub fn from_store(store: &Store, before: NaiveDate) -> Result<Self, StoreError> {
        let rows = store.rain_counts_before(before)?;
        let mut c = Climatology {
            by_station_month: HashMap::new(),
            by_station: HashMap::new(),
            overall: (0, 0),
        };
        for (loc, month, rain, n) in rows {
            let e = c.by_station.entry(loc.clone()).or_default();
            e.0 += rain;
            e.1 += n;
            c.overall.0 += rain;
            c.overall.1 += n;
            c.by_station_month.insert((loc, month), (rain, n));
        }
        Ok(c)
    }

    /// The station-month rate (at least 20 days of it), else the
    /// station's, else the overall one, else weatherAUS's 22.4 %.
    pub fn rate(&self, location: &str, month: u32) -> f64 {
        let ratio = |(r, n): (u64, u64), min: u64| (n >= min).then(|| r as f64 / n as f64);
        self.by_station_month
            .get(&(location.to_string(), month))
            .and_then(|&x| ratio(x, 20))
            .or_else(|| self.by_station.get(location).and_then(|&x| ratio(x, 60)))
            .or_else(|| ratio(self.overall, 1))
            .unwrap_or(0.224)
    }
}
