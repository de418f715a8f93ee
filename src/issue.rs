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

use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::obs::{Dir, Num, Observation};
use crate::stations::{STATIONS, Station};

/// The time zones of the 49 stations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// NSW, ACT, Victoria and Tasmania: AEST, daylight saving in summer.
    Sydney,
    /// Queensland: AEST all year.
    Brisbane,
    /// South Australia: ACST, daylight saving in summer.
    Adelaide,
    /// Northern Territory: ACST all year.
    Darwin,
    /// Western Australia: AWST all year.
    Perth,
    /// Norfolk Island: its own zone (daylight saving since 2019).
    Norfolk,
}

const ZONES: [Zone; 6] = [
    Zone::Sydney,
    Zone::Brisbane,
    Zone::Adelaide,
    Zone::Darwin,
    Zone::Perth,
    Zone::Norfolk,
];

impl Zone {
    pub fn of(station: &Station) -> Zone {
        if station.location == "NorfolkIsland" {
            return Zone::Norfolk;
        }
        match station.state {
            "QLD" => Zone::Brisbane,
            "SA" => Zone::Adelaide,
            "NT" => Zone::Darwin,
            "WA" => Zone::Perth,
            _ => Zone::Sydney,
        }
    }

    pub fn tz(self) -> chrono_tz::Tz {
        match self {
            Zone::Sydney => chrono_tz::Australia::Sydney,
            Zone::Brisbane => chrono_tz::Australia::Brisbane,
            Zone::Adelaide => chrono_tz::Australia::Adelaide,
            Zone::Darwin => chrono_tz::Australia::Darwin,
            Zone::Perth => chrono_tz::Australia::Perth,
            Zone::Norfolk => chrono_tz::Pacific::Norfolk,
        }
    }

    fn index(self) -> usize {
        ZONES.iter().position(|&z| z == self).unwrap_or(0)
    }

    /// Every station's zone, in [`STATIONS`] order, worked out once.
    fn of_stations() -> &'static [Zone; STATIONS.len()] {
        static BY_STATION: OnceLock<[Zone; STATIONS.len()]> = OnceLock::new();
        BY_STATION.get_or_init(|| {
            let mut out = [Zone::Sydney; STATIONS.len()];
            for (z, st) in out.iter_mut().zip(STATIONS.iter()) {
                *z = Zone::of(st);
            }
            out
        })
    }

    /// The zone's offset from UTC on `date` at noon local time, in minutes.
    /// Daylight saving changes at 2 or 3 am, so noon's offset holds for
    /// every time this module uses (9 am on).
    pub fn offset_minutes(self, date: NaiveDate) -> i32 {
        offsets().get(self, date)
    }

    /// UTC at `time` local on `date`.
    pub fn utc(self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let local = date.and_time(time);
        (local - Duration::minutes(i64::from(self.offset_minutes(date)))).and_utc()
    }

    /// The local date and time of `at`.
    pub fn local(self, at: DateTime<Utc>) -> (NaiveDate, NaiveTime) {
        let l = at.with_timezone(&self.tz()).naive_local();
        (l.date(), l.time())
    }
}

/// Offsets of every zone by day, computed once for 1990–2060 (a few
/// thousand look-ups), so that training can ask for every row cheaply.
struct Offsets {
    first: NaiveDate,
    by_day: Vec<[i16; 6]>,
}

impl Offsets {
    fn get(&self, zone: Zone, date: NaiveDate) -> i32 {
        let i = (date - self.first).num_days();
        match usize::try_from(i).ok().and_then(|i| self.by_day.get(i)) {
            Some(day) => i32::from(day[zone.index()]),
            None => noon_offset(zone, date),
        }
    }
}

fn noon_offset(zone: Zone, date: NaiveDate) -> i32 {
    let noon = date.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default());
    zone.tz()
        .offset_from_local_datetime(&noon)
        .earliest()
        .map_or(0, |o| o.fix().local_minus_utc() / 60)
}

fn offsets() -> &'static Offsets {
    static OFFSETS: OnceLock<Offsets> = OnceLock::new();
    OFFSETS.get_or_init(|| {
        let first = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default();
        let last = NaiveDate::from_ymd_opt(2060, 12, 31).unwrap_or_default();
        let by_day = first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(|d| ZONES.map(|z| noon_offset(z, d) as i16))
            .collect();
        Offsets { first, by_day }
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stations;
    use chrono::Datelike;

    /// The first Sunday of October or April: the daylight saving changes in
    /// south-eastern Australia.
    fn is_dst_change(date: NaiveDate) -> bool {
        (date.month() == 10 || date.month() == 4)
            && date.weekday() == chrono::Weekday::Sun
            && date.day() <= 7
    }

    fn st(loc: &str) -> &'static Station {
        stations::by_location(loc).unwrap()
    }
    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    fn utc(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, day, h, min, 0).unwrap()
    }

    #[test]
    fn zones_and_daylight_saving() {
        // 6 October 2024: daylight saving starts in Sydney and Adelaide.
        assert!(is_dst_change(d(2024, 10, 6)));
        let before = d(2024, 10, 5);
        let after = d(2024, 10, 6);
        assert_eq!(Zone::of(st("Sydney")).offset_minutes(before), 600);
        assert_eq!(Zone::of(st("Sydney")).offset_minutes(after), 660);
        assert_eq!(Zone::of(st("Brisbane")).offset_minutes(after), 600);
        assert_eq!(Zone::of(st("Adelaide")).offset_minutes(after), 630);
        assert_eq!(Zone::of(st("Darwin")).offset_minutes(after), 570);
        assert_eq!(Zone::of(st("Perth")).offset_minutes(after), 480);
        assert_eq!(Zone::of(st("Hobart")).offset_minutes(after), 660);
        assert_eq!(Zone::of(st("NorfolkIsland")).offset_minutes(before), 660);
        assert_eq!(Zone::of(st("NorfolkIsland")).offset_minutes(after), 720);
        // The table agrees with a direct look-up far outside it.
        assert_eq!(
            Zone::Sydney.offset_minutes(d(2080, 1, 1)),
            noon_offset(Zone::Sydney, d(2080, 1, 1))
        );
    }

    #[test]
    fn the_rain_day_window_is_the_24_hours_to_9_am_local() {
        let (open, close) = window(st("Sydney"), d(2024, 10, 7));
        assert_eq!(open, utc(2024, 10, 5, 22, 0), "9 am AEDT on the 6th");
        assert_eq!(close, utc(2024, 10, 6, 22, 0));
        let (open, close) = window(st("Perth"), d(2024, 10, 7));
        assert_eq!(open, utc(2024, 10, 6, 1, 0));
        assert_eq!(close, utc(2024, 10, 7, 1, 0));
        assert_eq!(
            rain_day_at(st("Perth"), utc(2024, 10, 7, 0, 59)),
            d(2024, 10, 7)
        );
        assert_eq!(
            rain_day_at(st("Perth"), utc(2024, 10, 7, 1, 0)),
            d(2024, 10, 8)
        );
    }

    /// Sydney, Perth and Darwin, hour by hour over the day daylight saving
    /// begins in Sydney: the 6 October row appears at 10:00 local with the
    /// morning fields, takes the 3 pm fields at 16:30 and is final at 10:00
    /// the next day, each in the station's own time.
    #[test]
    fn stages_hour_by_hour_in_three_zones() {
        let v = Visibility::default();
        let day = d(2024, 10, 6);
        let mut seen = Vec::new();
        for (loc, first_morning_utc) in [
            ("Sydney", utc(2024, 10, 5, 23, 0)),
            ("Darwin", utc(2024, 10, 6, 0, 30)),
            ("Perth", utc(2024, 10, 6, 2, 0)),
        ] {
            let s = st(loc);
            let mut stages = Vec::new();
            let mut t = utc(2024, 10, 5, 12, 0);
            while t < utc(2024, 10, 8, 0, 0) {
                stages.push((t, v.stage(s, day, t)));
                t += Duration::minutes(30);
            }
            // Never goes back.
            assert!(stages.windows(2).all(|w| w[0].1 <= w[1].1), "{loc}");
            let first = |stage| stages.iter().find(|(_, s)| *s == stage).unwrap().0;
            assert_eq!(first(Stage::Morning), first_morning_utc, "{loc}");
            assert_eq!(
                first(Stage::Afternoon) - first(Stage::Morning),
                Duration::minutes(390),
                "{loc}"
            );
            // The next morning, after the day-light change for Sydney too.
            assert_eq!(
                first(Stage::Final) - first(Stage::Morning),
                Duration::hours(24),
                "{loc}"
            );
            seen.push(first(Stage::Morning));
        }
        assert!(seen[0] < seen[1] && seen[1] < seen[2], "east, centre, west");
    }

    #[test]
    fn fields_appear_in_order() {
        let mut o = Observation::empty("Sydney", d(2025, 9, 6));
        for spec in crate::obs::NUMS.iter() {
            o.set(spec.field, Some(1.0));
        }
        o.dirs = [Some(crate::obs::Compass::N); 3];
        o.rain_today = Some(false);
        let count = |x: &Observation| {
            x.nums.iter().filter(|v| v.is_some()).count() + x.dirs.iter().flatten().count()
        };
        let counts: Vec<usize> = [
            Stage::Hidden,
            Stage::Morning,
            Stage::Afternoon,
            Stage::Final,
        ]
        .iter()
        .map(|s| count(&s.mask(&o)))
        .collect();
        // 8 morning numbers + the 9 am direction; 5 + 1 more at 3 pm; the
        // three final numbers + the gust direction last.
        assert_eq!(counts, vec![0, 9, 15, 19]);
        let pm = Stage::Afternoon.mask(&o);
        assert!(pm.get(Num::MaxTemp).is_none() && pm.get(Num::Sunshine).is_none());
        assert!(pm.get(Num::WindGustSpeed).is_none() && pm.dir(Dir::WindGustDir).is_none());
        assert_eq!(pm.rain_today, Some(false), "rain to 9 am is the morning's");
    }

    #[test]
    fn issues_due_through_a_day_in_sydney() {
        let v = Visibility::default();
        let s = st("Sydney");
        // 08:00 AEST on 10 Sep 2025 (22:00 UTC on the 9th): yesterday's
        // afternoon issues still stand; nothing for today yet.
        let due = issues_due(s, utc(2025, 9, 9, 22, 0), &v);
        assert_eq!(
            due,
            vec![
                (Issue::DayBefore, d(2025, 9, 11)),
                (Issue::Afternoon, d(2025, 9, 10)),
            ]
        );
        // 10:30: the morning issue for the rain day ending 9 am tomorrow.
        let due = issues_due(s, utc(2025, 9, 10, 0, 30), &v);
        assert!(due.contains(&(Issue::Morning, d(2025, 9, 11))));
        assert!(!due.contains(&(Issue::DayBefore, d(2025, 9, 11))));
        // 17:00: afternoon for tomorrow 9 am, and the day before for the next.
        let due = issues_due(s, utc(2025, 9, 10, 7, 0), &v);
        assert!(due.contains(&(Issue::Afternoon, d(2025, 9, 11))));
        assert!(due.contains(&(Issue::DayBefore, d(2025, 9, 12))));
        for (issue, r) in issues_due(s, utc(2025, 9, 10, 7, 0), &v) {
            assert!(issue.due_at(s, r, &v) <= utc(2025, 9, 10, 7, 0));
            assert!(utc(2025, 9, 10, 7, 0) < issue.deadline(s, r));
        }
    }

    #[test]
    fn neighbours_are_seen_at_the_issuing_stations_moment() {
        let v = Visibility::default();
        let day = d(2025, 9, 10);
        // Sydney's morning issue (10:00 AEST): Perth is at 08:00, its row
        // of the day not shown yet; Brisbane shares the hour.
        let stages = v.stages_at_issue(st("Sydney"), day, Issue::Morning);
        let at = |loc| stages[stations::index_of(loc).unwrap()];
        assert_eq!(at("Perth"), Stage::Hidden);
        assert_eq!(at("Brisbane"), Stage::Morning);
        assert_eq!(at("Adelaide"), Stage::Hidden, "09:30 in Adelaide");
        // Perth's afternoon issue (16:30 AWST): the east has its 3 pm too.
        let stages = v.stages_at_issue(st("Perth"), day, Issue::Afternoon);
        let at = |loc| stages[stations::index_of(loc).unwrap()];
        assert_eq!(at("Sydney"), Stage::Afternoon);
        assert_eq!(at("Perth"), Stage::Afternoon);
    }
}
