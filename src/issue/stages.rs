//! How much of a day's row BOM shows at each hour ([`Stage`]), which
//! fields each stage shows, and when they appear ([`Visibility`]).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::zones::ZONES;
use super::{Issue, Zone};
use crate::obs::{Dir, Num, Observation};
use crate::stations::{STATIONS, Station};

/// How much of one day's row BOM shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// No row for the day yet.
    Hidden,
    /// After the 9 am observations: MinTemp, Rainfall (24 h to 9 am),
    /// Evaporation and the 9 am fields.
    Morning,
    /// After the 3 pm observations: the 3 pm fields too.
    Afternoon,
    /// The next morning: MaxTemp, Sunshine and the day's gust too.
    Final,
}

/// Fields BOM shows from the morning of their day.
/// (The 9 am wind direction, a [`Dir`], comes with them.)
pub const MORNING_NUMS: [Num; 8] = [
    Num::MinTemp,
    Num::Rainfall,
    Num::Evaporation,
    Num::WindSpeed9am,
    Num::Humidity9am,
    Num::Pressure9am,
    Num::Cloud9am,
    Num::Temp9am,
];

/// Fields added in the afternoon.
pub const AFTERNOON_NUMS: [Num; 5] = [
    Num::WindSpeed3pm,
    Num::Humidity3pm,
    Num::Pressure3pm,
    Num::Cloud3pm,
    Num::Temp3pm,
];

/// Fields shown only the next morning.
pub const FINAL_NUMS: [Num; 3] = [Num::MaxTemp, Num::Sunshine, Num::WindGustSpeed];

impl Stage {
    /// Whether BOM shows `num` at this stage.
    pub fn shows(self, num: Num) -> bool {
        match self {
            Stage::Hidden => false,
            Stage::Final => true,
            Stage::Afternoon => !FINAL_NUMS.contains(&num),
            Stage::Morning => MORNING_NUMS.contains(&num),
        }
    }

    /// Whether BOM shows the wind direction `dir` at this stage.
    pub fn shows_dir(self, dir: Dir) -> bool {
        match (self, dir) {
            (Stage::Hidden, _) => false,
            (Stage::Final, _) => true,
            (_, Dir::WindGustDir) => false,
            (Stage::Morning, Dir::WindDir3pm) => false,
            _ => true,
        }
    }

    /// `o` as BOM showed it at this stage (every field it did not yet show
    /// is missing). `rain_tomorrow` is a label, never shown, and is kept.
    pub fn mask(self, o: &Observation) -> Observation {
        let mut out = o.clone();
        for spec in crate::obs::NUMS.iter() {
            if !self.shows(spec.field) {
                out.set(spec.field, None);
            }
        }
        for (i, (dir, _, _)) in crate::obs::DIRS.iter().enumerate() {
            if !self.shows_dir(*dir) {
                out.dirs[i] = None;
            }
        }
        if self == Stage::Hidden {
            out.rain_today = None;
        }
        out
    }
}

/// When BOM's fields appear, in each station's local time. Configurable
/// (`bom.shows_morning`, `bom.shows_afternoon`); the defaults are conservative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    /// The 9 am fields, MinTemp, Rainfall and Evaporation of a day, and the
    /// previous day's MaxTemp, Sunshine and gust.
    pub morning: NaiveTime,
    /// The 3 pm fields.
    pub afternoon: NaiveTime,
}

impl Default for Visibility {
    fn default() -> Self {
        Self {
            morning: NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default(),
            afternoon: NaiveTime::from_hms_opt(16, 30, 0).unwrap_or_default(),
        }
    }
}

/// The process's visibility, installed once from the configuration.
static INSTALLED: std::sync::OnceLock<Visibility> = std::sync::OnceLock::new();

impl Visibility {
    /// The visibility this process runs with: `bom.shows_morning` and
    /// `bom.shows_afternoon` as loaded at start-up ([`Visibility::install`]),
    /// or the defaults. One per process, like the station table: it is a
    /// fact about BOM that training, serving, the schedule and the stand-in
    /// must agree on, not a per-call choice.
    pub fn current() -> Visibility {
        INSTALLED.get().copied().unwrap_or_default()
    }

    /// Install the configured visibility; the first call wins.
    pub fn install(v: Visibility) {
        if INSTALLED.set(v).is_err() && INSTALLED.get() != Some(&v) {
            tracing::warn!(
                "BOM visibility already installed; keeping {:?}",
                INSTALLED.get()
            );
        }
    }

    /// How much of `station`'s row for `day` BOM shows at `at`.
    pub fn stage(&self, station: &Station, day: NaiveDate, at: DateTime<Utc>) -> Stage {
        let (date, time) = Zone::of(station).local(at);
        self.stage_local(day, date, time)
    }

    /// The same, from the station's local date and time.
    pub fn stage_local(&self, day: NaiveDate, date: NaiveDate, time: NaiveTime) -> Stage {
        if date < day {
            Stage::Hidden
        } else if date == day {
            if time < self.morning {
                Stage::Hidden
            } else if time < self.afternoon {
                Stage::Morning
            } else {
                Stage::Afternoon
            }
        } else if date == day + Duration::days(1) && time < self.morning {
            Stage::Afternoon
        } else {
            Stage::Final
        }
    }

    /// Every station's stage for its row of `day`, at the moment `station`
    /// issues `issue` from its row of `day`: what the neighbour features may
    /// read. Computed from the zones' offsets, with no time-zone look-up.
    pub fn stages_at_issue(
        &self,
        station: &Station,
        day: NaiveDate,
        issue: Issue,
    ) -> [Stage; STATIONS.len()] {
        // Called for every training row: each zone's offset is looked up
        // once, each station's zone was worked out once.
        let offsets = ZONES.map(|z| z.offset_minutes(day));
        let own = offsets[Zone::of(station).index()];
        let at = issue.local_time(self);
        let at_min = i64::from(at.num_seconds_from_midnight() / 60);
        let mut out = [Stage::Hidden; STATIONS.len()];
        for (s, zone) in out.iter_mut().zip(Zone::of_stations()) {
            let theirs = offsets[zone.index()];
            let minutes = at_min + i64::from(theirs - own);
            let (date, minutes) = if minutes < 0 {
                (day - Duration::days(1), minutes + 24 * 60)
            } else if minutes >= 24 * 60 {
                (day + Duration::days(1), minutes - 24 * 60)
            } else {
                (day, minutes)
            };
            let time = NaiveTime::from_num_seconds_from_midnight_opt((minutes * 60) as u32, 0)
                .unwrap_or_default();
            *s = self.stage_local(day, date, time);
        }
        out
    }
}
