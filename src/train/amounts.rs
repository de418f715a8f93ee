//! The amount maps a training fits beside the headline (decision record
//! 0025): climatology from the train window, maps on the calibrated tune
//! window, scores on the test window.

use chrono::Datelike;

use super::{Samples, SplitSamples};
use crate::amounts::fit::FitRow;
use crate::amounts::{AmountClimatology, AmountItem, AmountModel, AmountScores, IssueAmountScores};
use crate::features::target_date;
use crate::issue::Issue;

/// The rain day's month of row `i`.
fn month(s: &Samples, i: usize) -> u32 {
    target_date(s.dates[i], s.issues[i]).month()
}

/// Per-station monthly amounts over the train window: one count per rain
/// day (the afternoon issue's rows, whose rain days are every base day's
/// next).
pub(super) fn climatology(train: &Samples) -> AmountClimatology {
    AmountClimatology::from_amounts((0..train.len()).filter_map(|i| {
        let a = train.amounts[i]?;
        (train.issues[i] == Issue::Afternoon)
            .then(|| (train.locations[i], month(train, i), f64::from(a)))
    }))
}

/// Fits the maps on the tune window's calibrated chances `tune_cal`.
pub(super) fn fit(tune_cal: &[f32], split: &SplitSamples) -> AmountModel {
    let clim = climatology(&split.train);
    let tune = &split.tune;
    let locations: Vec<&str> = crate::stations::STATIONS
        .iter()
        .map(|s| s.location)
        .collect();
    AmountModel::fit(
        &clim,
        &locations,
        (0..tune.len()).filter_map(|i| {
            Some(FitRow {
                issue: tune.issues[i],
                location: tune.locations[i],
                month: month(tune, i),
                p: tune_cal[i],
                amount: f64::from(tune.amounts[i]?),
            })
        }),
    )
}

/// The test window's amounts scored per issue, against the model's own
/// (train-window) climatology.
pub(super) fn scores(model: &AmountModel, probs: &[f32], test: &Samples) -> Vec<IssueAmountScores> {
    let items: Vec<AmountItem> = (0..test.len())
        .filter_map(|i| {
            let (loc, m, issue) = (test.locations[i], month(test, i), test.issues[i]);
            Some(AmountItem {
                issue: Some(issue),
                curve: model.curve(probs[i], loc, m, issue),
                climatology: model.climatology(loc, m),
                amount: f64::from(test.amounts[i]?),
            })
        })
        .collect();
    AmountScores::by_issue(&items)
}
