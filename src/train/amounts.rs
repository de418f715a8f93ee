//! The amount maps a training fits beside the headline (decision records
//! 0025 and 0035): climatology from the train window; maps fitted on the
//! calibrated tune window and scored on the test window, then refitted on
//! both for the model to serve.

use chrono::Datelike;

use super::Samples;
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

/// Fits the maps on `windows`: each window's rows with their calibrated
/// chances (the tune window to score them on the test window; the tune and
/// test windows together for the maps a model serves, decision 0035).
pub(super) fn fit(train: &Samples, windows: &[(&Samples, &[f32])]) -> AmountModel {
    let clim = climatology(train);
    let locations: Vec<&str> = crate::stations::STATIONS
        .iter()
        .map(|s| s.location)
        .collect();
    AmountModel::fit(
        &clim,
        &locations,
        windows.iter().flat_map(|&(s, cal)| {
            (0..s.len().min(cal.len())).filter_map(move |i| {
                Some(FitRow {
                    issue: s.issues[i],
                    location: s.locations[i],
                    month: month(s, i),
                    p: cal[i],
                    amount: f64::from(s.amounts[i]?),
                })
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
