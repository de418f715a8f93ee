//! The rows a training learns from: each station's observations encoded
//! once per issue, as BOM showed them at that issue, each labelled with its
//! rain day's outcome when that is known; and their split into the train,
//! tune and test windows.

use chrono::NaiveDate;

use super::{TrainError, Windows};
use crate::features::{self, N_FEATURES, Neighbourhood};
use crate::issue::{ISSUES, Issue, Visibility};
use crate::obs::Observation;

/// Labelled feature rows, row-major.
#[derive(Debug, Default)]
pub struct Samples {
    pub x: Vec<f32>,
    pub y: Vec<bool>,
    /// Observation date of each row (the label is for the next day).
    pub dates: Vec<NaiveDate>,
    /// Station of each row.
    pub locations: Vec<&'static str>,
    /// The issue each row serves.
    pub issues: Vec<Issue>,
    /// The rain that fell in each row's rain day, in mm, where BOM has it.
    pub amounts: Vec<Option<f32>>,
}

impl Samples {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The rows with `from <= date < to`.
    pub fn between(&self, from: NaiveDate, to: NaiveDate) -> Samples {
        let mut out = Samples::default();
        for (i, &d) in self.dates.iter().enumerate() {
            if d >= from && d < to {
                out.x
                    .extend_from_slice(&self.x[i * N_FEATURES..(i + 1) * N_FEATURES]);
                out.y.push(self.y[i]);
                out.dates.push(d);
                out.locations.push(self.locations[i]);
                out.issues.push(self.issues[i]);
                out.amounts.push(self.amounts[i]);
            }
        }
        out
    }

    /// Appends one labelled row.
    fn push(
        &mut self,
        row: &[f32],
        label: bool,
        (date, location, issue): (NaiveDate, &'static str, Issue),
        amount: Option<f32>,
    ) {
        self.amounts.push(amount);
        self.x.extend_from_slice(row);
        self.y.push(label);
        self.dates.push(date);
        self.locations.push(location);
        self.issues.push(issue);
    }
}

/// The labelled rows of each window, built without ever holding every
/// observation or a second copy of the feature matrix.
#[derive(Debug, Default)]
pub struct SplitSamples {
    pub train: Samples,
    pub tune: Samples,
    pub test: Samples,
}

impl SplitSamples {
    /// Encodes one station's series (ordered by date) into the windows,
    /// with every station's reports `around` it.
    ///
    /// Every base day gives one row per issue, each read as BOM showed it
    /// at that issue and labelled with the rain of the day it serves.
    pub fn add_series(&mut self, series: &[Observation], around: &Neighbourhood, w: &Windows) {
        let v = Visibility::current();
        for issue in ISSUES {
            let rows = features::encode_series(series, around, issue, &v);
            for (i, (o, row)) in series.iter().zip(rows).enumerate() {
                let Some(label) = label_for(series, i, issue) else {
                    continue;
                };
                let d = o.date;
                let target = if d >= w.train.from && d < w.train.to {
                    &mut self.train
                } else if d >= w.tune.from && d < w.tune.to {
                    &mut self.tune
                } else if d >= w.test.from && d < w.test.to {
                    &mut self.test
                } else {
                    continue;
                };
                let amount = amount_for(series, i, issue);
                target.push(&row, label, (d, o.location, issue), amount);
            }
        }
    }

    /// From observations ordered by (location, date).
    pub fn from_observations(obs: &[Observation], w: &Windows) -> Self {
        let around = Neighbourhood::from_observations(obs);
        let mut out = Self::default();
        let mut start = 0;
        while start < obs.len() {
            let loc = obs[start].location;
            let end = start + obs[start..].partition_point(|o| o.location == loc);
            out.add_series(&obs[start..end], &around, w);
            start = end;
        }
        out
    }

    /// Every station in the store, one at a time: a first pass keeps each
    /// day's reports for the neighbour features (a few fields a row), the
    /// second encodes.
    pub fn from_store(store: &crate::store::Store, w: &Windows) -> Result<Self, TrainError> {
        let mut out = Self::default();
        // Earlier days feed the lag features of the first window's rows.
        let from = w.train.from - chrono::Days::new(features::LOOKBACK_DAYS);
        let around = Neighbourhood::from_store(store, from, w.test.to)?;
        for st in crate::stations::STATIONS.iter() {
            let series = store.observations_between(st.location, from, w.test.to)?;
            out.add_series(&series, &around, w);
        }
        Ok(out)
    }
}

/// The label of row `i` of a date-ordered series at `issue`: whether its
/// rain day ([`features::target_date`]) rained, when that is known.
pub fn label_for(series: &[Observation], i: usize, issue: Issue) -> Option<bool> {
    let o = &series[i];
    match issue.lead_days() {
        1 => o.rain_tomorrow,
        _ => {
            let next = series.get(i + 1)?;
            (next.date == o.date + chrono::Days::new(1))
                .then_some(next.rain_tomorrow)
                .flatten()
        }
    }
}

/// The rain that fell in row `i`'s rain day at `issue` (that day's own
/// 9 am rainfall), when the series holds that day and BOM reported it.
pub fn amount_for(series: &[Observation], i: usize, issue: Issue) -> Option<f32> {
    let target = features::target_date(series[i].date, issue);
    let ahead = &series[i + 1..series.len().min(i + 1 + issue.lead_days() as usize)];
    let k = ahead.binary_search_by_key(&target, |o| o.date).ok()?;
    ahead[k].get(crate::obs::Num::Rainfall).map(|v| v as f32)
}

/// Encode observations ordered by (location, date); keep the labelled rows,
/// one per issue.
pub fn build_samples(obs: &[Observation]) -> Samples {
    let around = Neighbourhood::from_observations(obs);
    let mut s = Samples::default();
    let mut start = 0;
    while start < obs.len() {
        let loc = obs[start].location;
        let end = start + obs[start..].partition_point(|o| o.location == loc);
        let series = &obs[start..end];
        for issue in ISSUES {
            let rows = features::encode_series(series, &around, issue, &Visibility::current());
            for (i, (o, row)) in series.iter().zip(rows).enumerate() {
                if let Some(label) = label_for(series, i, issue) {
                    let amount = amount_for(series, i, issue);
                    s.push(&row, label, (o.date, o.location, issue), amount);
                }
            }
        }
        start = end;
    }
    s
}
