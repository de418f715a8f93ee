//! Time as BOM lives it: each station's local time, what a day's row shows
//! at each hour ([`Stage`]), the rain day a forecast covers ([`window`]) and
//! the moments raincast issues forecasts for it ([`Issue`]).
//!
//! The rules come from the bundled real files. All 49 files of 2025-09 were
//! downloaded on the afternoon of 6 September 2025 (after 3 pm in Perth, so
//! after 5 pm in the east), and every one ends with a row for the 6th that
//! holds MinTemp, Rainfall (the 24 hours to 9 am), Evaporation where the
//! station measures it, and the 9 am and 3 pm fields, while MaxTemp,
//! Sunshine and the day's strongest gust (direction, speed, time) are empty
//! in all 49. The full row is in the file the next morning. When after 9 am
//! and after 3 pm the fields appear is not in the files; [`Visibility`]
//! holds conservative, configurable times (see `docs/time-machine.md`).
//!
//! The stand-in BOM ([`crate::bomsim`]), training ([`crate::train`]) and
//! serving all read these rules, so a model learns from rows shaped as the
//! rows it will forecast from.
//!
//! The zones and their offsets are in `zones`, the stages and
//! [`Visibility`] in `stages`; the issues and the rain day's window here.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::stations::Station;

mod stages;
#[cfg(test)]
mod tests;
mod zones;

pub use stages::{AFTERNOON_NUMS, FINAL_NUMS, MORNING_NUMS, Stage, Visibility};
pub use zones::Zone;

/// The moments raincast issues a forecast for a rain day, each keyed to the
/// station's local time and made from the rows BOM shows then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Issue {
    /// The afternoon before the window opens (two days before the rain
    /// day's 9 am), from that afternoon's row.
    DayBefore,
    /// As the window opens, after the 9 am observations.
    Morning,
    /// Six to seven hours into the window, after the 3 pm observations.
    Afternoon,
}

pub const ISSUES: [Issue; 3] = [Issue::DayBefore, Issue::Morning, Issue::Afternoon];

impl Issue {
    pub fn name(self) -> &'static str {
        match self {
            Issue::DayBefore => "day_before",
            Issue::Morning => "morning",
            Issue::Afternoon => "afternoon",
        }
    }

    /// For people: when it is issued.
    pub fn label(self) -> &'static str {
        match self {
            Issue::DayBefore => "the afternoon before",
            Issue::Morning => "the morning, as the day opens",
            Issue::Afternoon => "the afternoon, after 3 pm",
        }
    }

    pub fn parse(s: &str) -> Option<Issue> {
        ISSUES.into_iter().find(|i| i.name() == s)
    }

    /// Its place in [`ISSUES`].
    pub fn index(self) -> usize {
        match self {
            Issue::DayBefore => 0,
            Issue::Morning => 1,
            Issue::Afternoon => 2,
        }
    }

    /// The feature value that tells the model which issue a row serves.
    pub fn code(self) -> f32 {
        match self {
            Issue::DayBefore => 0.0,
            Issue::Morning => 1.0,
            Issue::Afternoon => 2.0,
        }
    }

    /// How much of the base day's row the issue reads.
    pub fn stage(self) -> Stage {
        match self {
            Issue::Morning => Stage::Morning,
            Issue::DayBefore | Issue::Afternoon => Stage::Afternoon,
        }
    }

    /// Days from the base day (the newest row it reads) to the rain day.
    pub fn lead_days(self) -> u64 {
        match self {
            Issue::DayBefore => 2,
            Issue::Morning | Issue::Afternoon => 1,
        }
    }

    /// The base day of a forecast for `rain_day`.
    pub fn base_day(self, rain_day: NaiveDate) -> NaiveDate {
        rain_day - chrono::Days::new(self.lead_days())
    }

    /// The local time of the base day at which it is issued.
    pub fn local_time(self, v: &Visibility) -> NaiveTime {
        match self {
            Issue::Morning => v.morning,
            Issue::DayBefore | Issue::Afternoon => v.afternoon,
        }
    }

    /// When `station` issues this forecast for `rain_day`, at the earliest.
    pub fn due_at(self, station: &Station, rain_day: NaiveDate, v: &Visibility) -> DateTime<Utc> {
        Zone::of(station).utc(self.base_day(rain_day), self.local_time(v))
    }

    /// The latest moment it may still be issued: the window's close for the
    /// issues inside the window, its opening for the day before.
    pub fn deadline(self, station: &Station, rain_day: NaiveDate) -> DateTime<Utc> {
        let (open, close) = window(station, rain_day);
        match self {
            Issue::DayBefore => open,
            Issue::Morning | Issue::Afternoon => close,
        }
    }
}

/// 9 am local, when BOM's rain day turns.
pub fn nine_am() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default()
}

/// The window of `rain_day` at `station`: the 24 hours to 9 am local on it.
pub fn window(station: &Station, rain_day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let z = Zone::of(station);
    (
        z.utc(rain_day - Duration::days(1), nine_am()),
        z.utc(rain_day, nine_am()),
    )
}

/// The rain day under way at `station` at `at` (its window holds `at`).
pub fn rain_day_at(station: &Station, at: DateTime<Utc>) -> NaiveDate {
    let (date, time) = Zone::of(station).local(at);
    if time < nine_am() {
        date
    } else {
        date + Duration::days(1)
    }
}

/// The issues that `station` may make at `at` and for which rain day, the
/// newest of each kind: those due by `at` whose deadline has not passed,
/// less a morning issue whose afternoon issue is due too.
pub fn issues_due(station: &Station, at: DateTime<Utc>, v: &Visibility) -> Vec<(Issue, NaiveDate)> {
    let current = rain_day_at(station, at);
    let mut out = Vec::new();
    for issue in ISSUES {
        // The newest rain day whose issue is due.
        let newest = (0..=3u64)
            .map(|k| current + chrono::Days::new(3) - chrono::Days::new(k))
            .find(|&r| issue.due_at(station, r, v) <= at);
        if let Some(r) = newest
            && at < issue.deadline(station, r)
        {
            out.push((issue, r));
        }
    }
    // The afternoon's rows supersede the morning's for the same rain day.
    let afternoon: Vec<NaiveDate> = out
        .iter()
        .filter(|(i, _)| *i == Issue::Afternoon)
        .map(|(_, r)| *r)
        .collect();
    out.retain(|(i, r)| !(*i == Issue::Morning && afternoon.contains(r)));
    out
}

/// Whether BOM updated `station`'s rows in `(from, to]`: its morning or
/// afternoon post, in the station's local time, fell in that span.
pub fn posted_between(
    station: &Station,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    v: &Visibility,
) -> bool {
    let zone = Zone::of(station);
    let (first, last) = (zone.local(from).0, zone.local(to).0);
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .flat_map(|d| [v.morning, v.afternoon].map(|t| zone.utc(d, t)))
        .any(|at| from < at && at <= to)
}

/// The local date at `station` (for which month BOM is on).
pub fn local_date(station: &Station, at: DateTime<Utc>) -> NaiveDate {
    Zone::of(station).local(at).0
}
