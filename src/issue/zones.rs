//! The stations' time zones and their offsets from UTC, by day, computed
//! once so that training can ask for every row cheaply.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Utc};

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

pub(super) const ZONES: [Zone; 6] = [
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

    pub(super) fn index(self) -> usize {
        ZONES.iter().position(|&z| z == self).unwrap_or(0)
    }

    /// Every station's zone, in [`STATIONS`] order, worked out once.
    pub(super) fn of_stations() -> &'static [Zone; STATIONS.len()] {
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

pub(super) fn noon_offset(zone: Zone, date: NaiveDate) -> i32 {
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
