//! Windows that follow the data: train, then tune, then test on the newest
//! labelled days, never a random split.

use chrono::{Months, NaiveDate};

use super::TrainError;
use crate::config::ModelConfig;
pub use crate::store::{Window, Windows};

/// Explicit window starts, e.g. the weatherAUS evaluation: tune from
/// 2015-01-01, test from 2016-01-01.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowOverride {
    pub tune_from: Option<NaiveDate>,
    pub test_from: Option<NaiveDate>,
}

/// The fewest labelled rows a window may have, with both outcomes present.
pub const MIN_WINDOW_ROWS: usize = 50;

/// Average days in a month, to turn month settings into data days.
const DAYS_PER_MONTH: f64 = 30.44;

/// Windows that follow the data, not the calendar: the test window is the
/// newest `test_months` worth of days that have labelled rows, the tune
/// window the same amount before it, and training gets everything earlier.
/// Gaps in time (years without data) are skipped, so history from 2007–2017
/// plus recent BOM months trains without error. With too little data for
/// that (less than a year left to train on), the labelled days are split
/// 60/20/20 instead. Explicit starts in `over` (the weatherAUS evaluation)
/// are used as given.
pub fn windows(
    labelled: &[(NaiveDate, u64, u64)],
    cfg: &ModelConfig,
    over: WindowOverride,
) -> Result<Windows, TrainError> {
    let days: std::collections::BTreeSet<NaiveDate> = labelled.iter().map(|d| d.0).collect();
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        return Err(TrainError::NotEnoughData(format!(
            "the database holds no labelled observations; {ADD_DATA}"
        )));
    };
    let end = last + chrono::Days::new(1);
    let w = |from, to| Window { from, to };
    let out = match (over.tune_from, over.test_from) {
        (Some(t), Some(s)) => Windows {
            train: w(first, t),
            tune: w(t, s),
            test: w(s, end),
        },
        (None, Some(s)) => {
            let t = s - Months::new(cfg.tune_months);
            Windows {
                train: w(first, t),
                tune: w(t, s),
                test: w(s, end),
            }
        }
        (Some(_), None) => {
            return Err(TrainError::Window(
                "a tune start needs a test start too".into(),
            ));
        }
        (None, None) => {
            let days: Vec<NaiveDate> = days.into_iter().collect();
            let n = days.len();
            let test_days = (cfg.test_months as f64 * DAYS_PER_MONTH).round() as usize;
            let tune_days = (cfg.tune_months as f64 * DAYS_PER_MONTH).round() as usize;
            let (test_n, tune_n) = if n >= test_days + tune_days + 365 {
                (test_days, tune_days)
            } else {
                (n / 5, n / 5)
            };
            if n < 60 || test_n == 0 || tune_n == 0 {
                return Err(TrainError::NotEnoughData(format!(
                    "the data has labelled rows on only {n} days ({first} to {last}); training needs at least 60. {}",
                    ADD_DATA
                )));
            }
            // Newest first: the test window's first day, the tune window's
            // first and last day.
            let test_from = days[n - test_n];
            let tune_from = days[n - test_n - tune_n];
            let tune_last = days[n - test_n - 1];
            Windows {
                train: w(first, tune_from),
                tune: w(tune_from, tune_last + chrono::Days::new(1)),
                test: w(test_from, end),
            }
        }
    };
    let Windows { train, tune, test } = out;
    if !(train.from < train.to
        && train.to <= tune.from
        && tune.from < tune.to
        && tune.to <= test.from
        && test.from < test.to)
    {
        return Err(TrainError::Window(format!(
            "need {first} < tune start {} < test start {} <= {last}",
            tune.from, test.from
        )));
    }
    for (name, win) in [("train", train), ("tune", tune), ("test", test)] {
        let (mut rows, mut yes) = (0u64, 0u64);
        for &(d, n, y) in labelled {
            if d >= win.from && d < win.to {
                rows += n;
                yes += y;
            }
        }
        if rows < MIN_WINDOW_ROWS as u64 || yes == 0 || yes == rows {
            return Err(TrainError::NotEnoughData(format!(
                "the {name} window ({} to {}) has {rows} labelled rows ({yes} rain days); \
                 each window needs at least {MIN_WINDOW_ROWS} with both outcomes. {}",
                win.from, win.to, ADD_DATA
            )));
        }
    }
    Ok(out)
}

/// What to run to get more data.
const ADD_DATA: &str = "Add history with `raincast import <weatherAUS.csv.gz>` (the binary \
     bundles it: `raincast import --bundled`), or recent months with `raincast scrape`";

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// One labelled row a day over each span, rain every third day.
    fn samples(spans: &[(NaiveDate, NaiveDate)]) -> Vec<(NaiveDate, u64, u64)> {
        let mut s = Vec::new();
        for &(from, to) in spans {
            let mut day = from;
            while day <= to {
                let yes = u64::from(s.len() % 3 == 0);
                s.push((day, 1, yes));
                day = day + chrono::Days::new(1);
            }
        }
        s
    }

    #[test]
    fn windows_follow_the_data_across_a_gap_of_years() {
        let s = samples(&[
            (d(2007, 11, 1), d(2017, 6, 24)),
            (d(2024, 8, 1), d(2025, 9, 4)),
        ]);
        let w = windows(&s, &ModelConfig::default(), WindowOverride::default()).unwrap();
        // 365 data days each: the test window is BOM's newest year, the tune
        // window the year of data before it, across the gap.
        assert_eq!(w.test.to, d(2025, 9, 5));
        assert_eq!(w.test.from, d(2024, 9, 5));
        assert_eq!(w.tune.to, d(2024, 9, 5));
        assert!(
            w.tune.from > d(2016, 6, 1) && w.tune.from < d(2016, 9, 1),
            "{w:?}"
        );
        assert_eq!(w.train.from, d(2007, 11, 1));
        assert_eq!(w.train.to, w.tune.from);
    }

    #[test]
    fn short_data_splits_60_20_20_and_too_little_says_what_to_add() {
        let s = samples(&[(d(2024, 8, 1), d(2025, 9, 4))]);
        let w = windows(&s, &ModelConfig::default(), WindowOverride::default()).unwrap();
        assert!(w.train.from < w.tune.from && w.tune.to <= w.test.from);
        let tiny = samples(&[(d(2025, 9, 1), d(2025, 9, 20))]);
        let err = windows(&tiny, &ModelConfig::default(), WindowOverride::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("only 20 days"), "{err}");
        assert!(
            err.contains("raincast import") && err.contains("raincast scrape"),
            "{err}"
        );
        let none = windows(&[], &ModelConfig::default(), WindowOverride::default())
            .unwrap_err()
            .to_string();
        assert!(none.contains("no labelled observations"), "{none}");
    }
}
