//! The served level correction (decision record 0038): each rain day's
//! chances are shifted in log-odds by the serving model's own recent miss,
//! learned from forecasts whose outcome was already known.
//!
//! A model's level drifts when the climate of the days it forecasts moves
//! away from the years it learned: a model trained on 2007–2017 forecasts
//! 2024–25 about one point too wet (`docs/model-quality.md`). Forecasters
//! correct that with a decaying-average bias correction; this is one, per
//! issue and per rain amount, with every station pooled:
//!
//! - the [`LevelBook`] holds, per rain day, the model's own chances and what
//!   happened, for days on which the model was out of sample: its test
//!   window's headline (summed at training as an [`Anchor`]; the amount
//!   maps are refitted on that window, so their sums start after it) and
//!   every rain day since;
//! - a forecast for rain day `D` is shifted by `w · (logit(observed) −
//!   logit(mean forecast))` over the rain days up to the day before its base
//!   day ([`lag`]: `D − 2` for the morning and afternoon issues, `D − 3` for
//!   the day before), each day's weight halved every [`HALF_LIFE_DAYS`],
//!   with `w = n / (n + K)` ([`PRIOR_FORECASTS`]), `n` the weighted count;
//! - the shifted amounts are made monotone again.
//!
//! The shift is a function of the model and the stored observations it has
//! read, so the board, the forecast log, alerts and `evaluate` agree (the
//! exceptions, late stations and very old hindcasts, are in decision
//! 0038); the API gives the model's own chance beside the served one.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::amounts::{Curve, HEADLINE, N, THRESHOLDS};
use crate::issue::Issue;

/// Each day's weight halves over this many days.
pub const HALF_LIFE_DAYS: f64 = 180.0;
/// The forecasts' weight at which half the miss is corrected.
pub const PRIOR_FORECASTS: f64 = 2000.0;
/// A forecast for rain day `D` at `issue` learns from rain days up to the
/// day before its base day: the newest rain day whose 9 am total every
/// station had published when the base day's row appeared (the base day's
/// own total comes in at 9 am local, hours apart across the zones).
pub fn lag(issue: Issue) -> u64 {
    issue.lead_days() + 1
}
/// Days older than this (weight below 1/64) are not read.
pub const LOOKBACK_DAYS: u64 = 3 * 365;

/// The oldest rain day a forecast for `day` or later reads, at any issue.
pub fn oldest_read(day: NaiveDate) -> NaiveDate {
    day.checked_sub_days(chrono::Days::new(LOOKBACK_DAYS + lag(Issue::DayBefore)))
        .unwrap_or(NaiveDate::MIN)
}
/// Chances stay inside `[FLOOR, 1 − FLOOR]` after the shift.
const FLOOR: f64 = 0.001;

/// Weighted sums of forecasts of one event: chance, outcome, count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sums {
    pub p: f64,
    pub y: f64,
    pub n: f64,
}

impl Sums {
    fn add(&mut self, other: Sums, weight: f64) {
        self.p += other.p * weight;
        self.y += other.y * weight;
        self.n += other.n * weight;
    }

    /// The log-odds shift these sums call for.
    fn shift(self) -> f64 {
        if self.n <= 0.0 {
            return 0.0;
        }
        let w = self.n / (self.n + PRIOR_FORECASTS);
        let observed = (self.y + 0.5) / (self.n + 1.0);
        w * (logit(observed) - logit(self.p / self.n))
    }
}

/// A model's test window, summed with each day weighted as seen from its
/// last day: what training leaves for serving (stored in the model's
/// metrics, so loading it costs no hindcast).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// The newest rain day in the sums.
    pub through: NaiveDate,
    /// Per issue (in [`crate::issue::ISSUES`] order), per amount (in
    /// [`THRESHOLDS`] order).
    pub sums: Vec<Vec<Sums>>,
}

/// One day's sums, per issue and amount.
type Day = [[Sums; N]; 3];

/// A model's out-of-sample forecasts and what happened, per rain day.
#[derive(Debug, Default)]
pub struct LevelBook {
    anchor: Option<Anchor>,
    days: BTreeMap<NaiveDate, Box<Day>>,
    /// The newest rain day added (or the anchor's).
    through: Option<NaiveDate>,
    shifts: HashMap<(usize, NaiveDate), [f64; N]>,
}

impl LevelBook {
    pub fn new(anchor: Option<Anchor>) -> Self {
        let anchor = anchor.filter(|a| a.sums.len() == 3 && a.sums.iter().all(|s| s.len() == N));
        Self {
            through: anchor.as_ref().map(|a| a.through),
            anchor,
            ..Self::default()
        }
    }

    /// The newest rain day the book has read.
    pub fn through(&self) -> Option<NaiveDate> {
        self.through
    }

    /// Marks every rain day up to `day` as read (days without forecasts
    /// included).
    pub fn read_through(&mut self, day: NaiveDate) {
        self.through = self.through.max(Some(day));
    }

    /// Adds one forecast: its chances (`curve`, or the headline alone) and
    /// what happened (`rain`, the headline's outcome, and the amount where
    /// BOM reported it).
    pub fn add(
        &mut self,
        issue: Issue,
        rain_day: NaiveDate,
        p: f64,
        curve: Option<&Curve>,
        rain: bool,
        amount: Option<f64>,
    ) {
        let day = self
            .days
            .entry(rain_day)
            .or_insert_with(|| Box::new([[Sums::default(); N]; 3]));
        let sums = &mut day[issue.index()];
        let mut put = |k: usize, p: f64, y: bool| {
            sums[k].add(
                Sums {
                    p,
                    y: f64::from(u8::from(y)),
                    n: 1.0,
                },
                1.0,
            );
        };
        put(HEADLINE, p, rain);
        if let (Some(c), Some(a)) = (curve, amount) {
            for (k, t) in THRESHOLDS.iter().enumerate() {
                if k != HEADLINE {
                    put(k, f64::from(c.0[k]), t.reached(a));
                }
            }
        }
        self.shifts.clear();
    }

    /// The weighted sums a forecast for `rain_day` at `issue` learns from.
    fn sums(&self, issue: Issue, rain_day: NaiveDate) -> [Sums; N] {
        let i = issue.index();
        let mut out = [Sums::default(); N];
        let Some(last) = rain_day.checked_sub_days(chrono::Days::new(lag(issue))) else {
            return out;
        };
        let weight = |d: NaiveDate| 0.5f64.powf((last - d).num_days() as f64 / HALF_LIFE_DAYS);
        if let Some(a) = &self.anchor
            && a.through <= last
            && (last - a.through).num_days() <= LOOKBACK_DAYS as i64
        {
            let w = weight(a.through);
            for (o, s) in out.iter_mut().zip(&a.sums[i]) {
                o.add(*s, w);
            }
        }
        let first = last
            .checked_sub_days(chrono::Days::new(LOOKBACK_DAYS))
            .unwrap_or(NaiveDate::MIN);
        for (&d, day) in self.days.range(first..=last) {
            let w = weight(d);
            for (o, s) in out.iter_mut().zip(&day[i]) {
                o.add(*s, w);
            }
        }
        out
    }

    /// The log-odds shift of each amount's chance for a forecast of
    /// `rain_day` made at `issue`.
    pub fn shift(&mut self, issue: Issue, rain_day: NaiveDate) -> [f64; N] {
        if let Some(s) = self.shifts.get(&(issue.index(), rain_day)) {
            return *s;
        }
        let s = self.sums(issue, rain_day).map(Sums::shift);
        self.shifts.insert((issue.index(), rain_day), s);
        s
    }

    /// The served chances: the model's headline `p` and amounts `curve`,
    /// shifted, the amounts made monotone again.
    pub fn apply(
        &mut self,
        issue: Issue,
        rain_day: NaiveDate,
        p: f64,
        curve: Option<Curve>,
    ) -> (f64, Option<Curve>) {
        let s = self.shift(issue, rain_day);
        let moved = |p: f64, s: f64| {
            if s == 0.0 {
                p
            } else {
                sigmoid(logit(p) + s).clamp(FLOOR, 1.0 - FLOOR)
            }
        };
        let headline = moved(p, s[HEADLINE]);
        let curve = curve.map(|c| {
            let mut raw = c.0;
            for (k, v) in raw.iter_mut().enumerate() {
                *v = if k == HEADLINE {
                    headline as f32
                } else {
                    moved(f64::from(*v), s[k]) as f32
                };
            }
            Curve::monotone(raw)
        });
        (headline, curve)
    }

    /// The book's days summed as seen from `through` (the anchor, if any,
    /// included): what [`LevelBook::new`] takes back.
    pub fn anchor_at(&self, through: NaiveDate) -> Anchor {
        Anchor {
            through,
            sums: crate::issue::ISSUES
                .iter()
                .map(|&issue| {
                    let day = through
                        .checked_add_days(chrono::Days::new(lag(issue)))
                        .unwrap_or(NaiveDate::MAX);
                    self.sums(issue, day).to_vec()
                })
                .collect(),
        }
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// A model's [`LevelBook`], shared by every path that serves its chances.
#[derive(Debug, Default)]
pub struct Level {
    book: std::sync::Mutex<LevelBook>,
    /// Held by the one catch-up of the book running.
    catching: std::sync::Mutex<()>,
}

impl Level {
    pub fn new(book: LevelBook) -> Self {
        Self {
            book: std::sync::Mutex::new(book),
            catching: std::sync::Mutex::default(),
        }
    }

    /// Waits for any other catch-up of this book, and keeps others out
    /// until the guard is dropped.
    pub fn catching(&self) -> std::sync::MutexGuard<'_, ()> {
        self.catching.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the book (a poisoned lock still holds whole sums: every
    /// change to them is a single add).
    pub fn with<T>(&self, f: impl FnOnce(&mut LevelBook) -> T) -> T {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// `n` forecasts of `p` on each of `days` days from `from`, raining
    /// with frequency `rate`.
    fn book_of(from: NaiveDate, days: u64, n: usize, p: f64, rate: f64) -> LevelBook {
        let mut b = LevelBook::new(None);
        for d in 0..days {
            let date = from + chrono::Days::new(d);
            for i in 0..n {
                let rain = (i as f64) < rate * n as f64;
                b.add(Issue::Morning, date, p, None, rain, None);
            }
        }
        b
    }

    #[test]
    fn an_empty_book_serves_the_model_s_chances() {
        let mut b = LevelBook::new(None);
        let c = Curve::monotone([0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01]);
        assert_eq!(
            b.apply(Issue::Afternoon, day("2025-01-10"), 0.4, Some(c)),
            (0.4, Some(c))
        );
    }

    #[test]
    fn a_wet_model_is_moved_drier_and_never_past_what_was_observed() {
        // A model saying 30 % where 20 % happened, for a year.
        let mut b = book_of(day("2024-01-01"), 365, 49, 0.3, 0.2);
        let (p, _) = b.apply(Issue::Morning, day("2025-01-02"), 0.3, None);
        assert!(p < 0.3 && p > 0.2, "{p}");
        // Other issues learn nothing from the morning's forecasts.
        let (q, _) = b.apply(Issue::Afternoon, day("2025-01-02"), 0.3, None);
        assert_eq!(q, 0.3);
    }

    #[test]
    fn a_forecast_learns_only_from_days_every_station_had_reported() {
        let mut b = LevelBook::new(None);
        for issue in crate::issue::ISSUES {
            for _ in 0..5000 {
                b.add(issue, day("2025-01-10"), 0.5, None, false, None);
            }
        }
        // The 10th's totals come in at 9 am on the 10th, station by
        // station: the 11th's forecasts (based on the 10th) and the day
        // before's for the 12th do not read it; the morning's and
        // afternoon's for the 12th do, the day before's from the 13th.
        let headline = |b: &mut LevelBook, issue, d| b.shift(issue, day(d))[HEADLINE];
        assert_eq!(headline(&mut b, Issue::Morning, "2025-01-11"), 0.0);
        assert_eq!(headline(&mut b, Issue::Afternoon, "2025-01-11"), 0.0);
        assert_eq!(headline(&mut b, Issue::DayBefore, "2025-01-12"), 0.0);
        assert!(headline(&mut b, Issue::Morning, "2025-01-12") < -1.0);
        assert!(headline(&mut b, Issue::Afternoon, "2025-01-12") < -1.0);
        assert!(headline(&mut b, Issue::DayBefore, "2025-01-13") < -1.0);
    }

    #[test]
    fn old_days_weigh_less_and_beyond_the_lookback_nothing() {
        let mut b = book_of(day("2020-01-01"), 30, 49, 0.3, 0.2);
        let near = b.shift(Issue::Morning, day("2020-03-01"))[HEADLINE];
        let far = b.shift(Issue::Morning, day("2021-03-01"))[HEADLINE];
        assert!(near < far && far < 0.0, "{near} {far}");
        assert_eq!(b.shift(Issue::Morning, day("2024-01-01"))[HEADLINE], 0.0);
    }

    #[test]
    fn an_anchor_carries_the_sums_it_was_made_from() {
        let b = book_of(day("2024-01-01"), 200, 49, 0.3, 0.2);
        let anchor = b.anchor_at(day("2024-07-18"));
        let mut from_anchor = LevelBook::new(Some(anchor.clone()));
        let mut whole = b;
        for d in ["2024-07-20", "2024-09-01", "2025-06-01"] {
            let (a, w) = (
                from_anchor.shift(Issue::Morning, day(d)),
                whole.shift(Issue::Morning, day(d)),
            );
            assert!((a[HEADLINE] - w[HEADLINE]).abs() < 1e-9, "{d}: {a:?} {w:?}");
        }
        // Before its last day is known, the anchor is not read.
        assert_eq!(
            from_anchor.shift(Issue::Morning, day("2024-07-19")),
            [0.0; N]
        );
        assert_eq!(
            from_anchor.shift(Issue::DayBefore, day("2024-07-20")),
            [0.0; N]
        );
        // It survives storage.
        let text = serde_json::to_string(&anchor).unwrap();
        assert_eq!(serde_json::from_str::<Anchor>(&text).unwrap(), anchor);
    }

    #[test]
    fn a_malformed_anchor_is_dropped_whole_and_no_date_panics() {
        let bad = Anchor {
            through: day("2024-01-01"),
            sums: vec![vec![Sums::default(); 2]; 3],
        };
        let mut b = LevelBook::new(Some(bad));
        assert_eq!(b.through(), None);
        assert_eq!(b.shift(Issue::Morning, day("2024-06-01")), [0.0; N]);
        for d in [NaiveDate::MIN, NaiveDate::MAX] {
            b.add(Issue::Morning, d, 0.3, None, true, None);
            let _ = b.shift(Issue::Morning, d);
            let _ = b.anchor_at(d);
            assert!(oldest_read(d) <= d);
        }
    }

    #[test]
    fn shifted_amounts_stay_monotone_and_keep_the_headline() {
        let mut b = LevelBook::new(None);
        let c = Curve::monotone([0.5, 0.45, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01]);
        // Half the days brought 6 mm, the others none: 5 mm came as often
        // as any rain, 10 mm never, shifts that would cross.
        for i in 0..4000 {
            b.add(
                Issue::Afternoon,
                day("2025-01-01"),
                0.45,
                Some(&c),
                i % 2 == 0,
                Some(if i % 2 == 0 { 6.0 } else { 0.0 }),
            );
        }
        let (p, curve) = b.apply(Issue::Afternoon, day("2025-01-05"), 0.45, Some(c));
        let curve = curve.unwrap();
        assert_eq!(curve.headline(), p as f32);
        assert!(curve.0.windows(2).all(|w| w[0] >= w[1]), "{curve:?}");
        assert!(curve.0[3] > 0.3, "{curve:?}");
    }
}
