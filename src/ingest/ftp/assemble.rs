//! Daily rows from the FTP channel: one weatherAUS-shaped [`Observation`]
//! per station and date, assembled from the stored readings of the state
//! observation product and the daily climate table, each field with its
//! source. Every rule is a function of its own, tested on its own, and
//! documented in `docs/ftp.md`:
//!
//! 1. **9 am and 3 pm fields**: from the reading nearest 09:00 (15:00)
//!    local time on the date, in the station's own time zone
//!    ([`crate::issue::Zone`]), at most `ftp.tolerance_minutes` away; the
//!    earlier reading wins a tie. `CALM` is speed 0 with no direction; a
//!    direction without a non-zero speed is dropped (as the DWO mapping does).
//! 2. **Rainfall** (the 24 hours to 9 am on the date): the product's
//!    `rainfall_24hr` that ends at 09:00 local on the date; else the last
//!    "rain since 9 am" reading of the day before, taken within the tolerance
//!    before 09:00 on the date; else the daily table's `Rain 0900-0900`.
//! 3. **MinTemp, MaxTemp, Evaporation**: the daily table first. Without
//!    it, MinTemp is the lowest running minimum that ends at 09:00 on the
//!    date (BOM's 18:00–09:00 overnight minimum), MaxTemp the highest running
//!    maximum that starts on the date (06:00–21:00); Evaporation has no
//!    fallback.
//! 4. **Gust**: the strongest `maximum_gust_kmh` (midnight to midnight on
//!    the date) with its direction and time; without it, the strongest
//!    10-minute `gust_kmh` of the date's readings with that reading's wind
//!    direction.
//! 5. **Sunshine** is left missing: no FTP product carries it.
//! 6. **RainToday** is Rainfall > 1.0 mm, as everywhere.
//! 7. A value outside its field's physical range ([`crate::obs::NUMS`]) is
//!    left missing, as the DWO parser does.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::issue::{Zone, nine_am};
use crate::obs::{Compass, DIRS, Dir, Edge, NUMS, Num, Observation};
use crate::reading::{Extreme, Fields};
use crate::stations::Station;

pub use crate::reading::{Assembled, DailyRow, StoredReading};

/// The span of readings [`assemble`] may read for `date`: from 09:00 local
/// the day before to 09:00 the day after, plus the tolerance.
pub fn reading_window(
    station: &Station,
    date: NaiveDate,
    tolerance: Duration,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let z = Zone::of(station);
    (
        z.utc(date - Duration::days(1), nine_am()) - tolerance,
        z.utc(date + Duration::days(1), nine_am()) + tolerance,
    )
}

fn hhmm(zone: Zone, at: DateTime<Utc>) -> String {
    let (d, t) = zone.local(at);
    format!("{d} {}", t.format("%H:%M"))
}

/// Rule 1: the reading nearest `time` local on `date`, within `tolerance`;
/// the earlier of two equally near.
pub fn reading_at(
    readings: &[StoredReading],
    zone: Zone,
    date: NaiveDate,
    time: NaiveTime,
    tolerance: Duration,
) -> Option<&StoredReading> {
    let target = zone.utc(date, time);
    readings
        .iter()
        .filter(|r| (r.observed_at - target).abs() <= tolerance)
        .min_by_key(|r| ((r.observed_at - target).abs(), r.observed_at))
}

/// Rule 1's wind: (direction, speed). `CALM` is 0 with no direction; a
/// direction without a non-zero speed is dropped.
pub fn wind(f: &Fields) -> (Option<Compass>, Option<f64>) {
    let calm = f
        .wind_dir
        .as_deref()
        .is_some_and(|d| d.eq_ignore_ascii_case("calm"));
    if calm {
        return (None, Some(0.0));
    }
    let speed = f.wind_spd_kmh;
    let dir = f
        .wind_dir
        .as_deref()
        .and_then(|d| d.trim().parse::<Compass>().ok())
        .filter(|_| speed.is_some_and(|s| s > 0.0));
    (dir, speed)
}

/// Rule 2: rainfall for the 24 hours to 9 am on `date`, with its source.
pub fn rainfall(
    readings: &[StoredReading],
    zone: Zone,
    date: NaiveDate,
    daily: Option<&DailyRow>,
    tolerance: Duration,
) -> Option<(f64, String)> {
    let close = zone.utc(date, nine_am());
    let open = zone.utc(date - Duration::days(1), nine_am());
    // (a) BOM's own 9 am to 9 am count.
    if let Some(r) = readings
        .iter()
        .filter(|r| r.fields.rain_24h.as_ref().is_some_and(|x| x.end == close))
        .max_by_key(|r| r.observed_at)
    {
        let v = r.fields.rain_24h.as_ref().map(|x| x.value)?;
        return Some((
            v,
            format!("ftp:{} rainfall_24hr to {}", r.product, hhmm(zone, close)),
        ));
    }
    // (b) The last "rain since 9 am" of the day before, read just before 9 am.
    if let Some(r) = readings
        .iter()
        .filter(|r| {
            r.observed_at <= close
                && close - r.observed_at <= tolerance
                && r.fields
                    .rain_since_9am
                    .as_ref()
                    .is_some_and(|x| x.start == open)
        })
        .max_by_key(|r| r.observed_at)
    {
        let v = r.fields.rain_since_9am.as_ref().map(|x| x.value)?;
        return Some((
            v,
            format!(
                "ftp:{} rain since 9 am at {}",
                r.product,
                hhmm(zone, r.observed_at)
            ),
        ));
    }
    // (c) The daily table.
    daily
        .and_then(|d| d.rainfall)
        .map(|v| (v, "ftp:daily table Rain 0900-0900".to_string()))
}

/// Rule 3's fallbacks: the overnight minimum that ends at 09:00 on `date`.
pub fn min_from_readings(
    readings: &[StoredReading],
    zone: Zone,
    date: NaiveDate,
) -> Option<(f64, String)> {
    let close = zone.utc(date, nine_am());
    extreme_of(readings, |f| f.min_temp.as_ref(), |x| x.end == close, false).map(|(v, r)| {
        (
            v,
            format!(
                "ftp:{} minimum_air_temperature (reading fallback)",
                r.product
            ),
        )
    })
}

/// Rule 3's fallbacks: the day's running maximum (it starts on `date`).
pub fn max_from_readings(
    readings: &[StoredReading],
    zone: Zone,
    date: NaiveDate,
) -> Option<(f64, String)> {
    extreme_of(
        readings,
        |f| f.max_temp.as_ref(),
        |x| covers_noon(x, zone, date),
        true,
    )
    .map(|(v, r)| {
        (
            v,
            format!(
                "ftp:{} maximum_air_temperature (reading fallback)",
                r.product
            ),
        )
    })
}

/// Whether a running extreme's span is of `date`: it holds noon local.
/// (Midnight is not a safe test: on the days daylight saving starts or
/// ends, the day's midnight has the other offset.)
fn covers_noon(x: &Extreme, zone: Zone, date: NaiveDate) -> bool {
    let noon = zone.utc(date, NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default());
    x.start <= noon && noon < x.end
}

fn extreme_of(
    readings: &[StoredReading],
    get: impl Fn(&Fields) -> Option<&Extreme>,
    keep: impl Fn(&Extreme) -> bool,
    highest: bool,
) -> Option<(f64, &StoredReading)> {
    readings
        .iter()
        .filter_map(|r| get(&r.fields).filter(|x| keep(x)).map(|x| (x.value, r)))
        .reduce(|a, b| {
            let better = if highest { b.0 > a.0 } else { b.0 < a.0 };
            if better { b } else { a }
        })
}

/// Rule 4: the day's strongest gust: (speed, direction, source). The
/// running maximum counts for the date whose noon its span holds.
pub fn gust(
    readings: &[StoredReading],
    zone: Zone,
    date: NaiveDate,
) -> Option<(f64, Option<Compass>, String)> {
    let best = readings
        .iter()
        .filter_map(|r| {
            r.fields
                .max_gust_kmh
                .as_ref()
                .filter(|x| covers_noon(x, zone, date))
                .map(|x| (x, r))
        })
        .reduce(|a, b| if b.0.value > a.0.value { b } else { a });
    if let Some((x, r)) = best {
        let dir = r
            .fields
            .max_gust_dir
            .as_deref()
            .and_then(|d| d.trim().parse::<Compass>().ok());
        let at = x.at.map(|t| hhmm(zone, t)).unwrap_or_else(|| "?".into());
        return Some((
            x.value,
            dir,
            format!("ftp:{} maximum_gust_kmh at {at}", r.product),
        ));
    }
    readings
        .iter()
        .filter(|r| zone.local(r.observed_at).0 == date)
        .filter_map(|r| r.fields.gust_kmh.map(|g| (g, r)))
        .reduce(|a, b| if b.0 > a.0 { b } else { a })
        .map(|(g, r)| {
            (
                g,
                r.fields
                    .wind_dir
                    .as_deref()
                    .and_then(|d| d.trim().parse::<Compass>().ok()),
                format!(
                    "ftp:{} gust_kmh at {} (no maximum_gust_kmh)",
                    r.product,
                    hhmm(zone, r.observed_at)
                ),
            )
        })
}

/// Rule 7: `v` when inside `num`'s physical range.
fn checked(num: Num, v: f64) -> Option<f64> {
    NUMS[num as usize].check(v, Edge::Ftp).ok()
}

/// Assemble `station`'s row for `date` from `readings` (any span; those
/// outside [`reading_window`] are ignored) and its daily-table row. `None`
/// when nothing at all is known of the day.
pub fn assemble(
    station: &'static Station,
    date: NaiveDate,
    readings: &[StoredReading],
    daily: Option<&DailyRow>,
    tolerance: Duration,
) -> Option<Assembled> {
    let zone = Zone::of(station);
    let mut out = Assembled {
        obs: Observation::empty(station.location, date),
        sources: Vec::new(),
    };
    let put = |out: &mut Assembled, num: Num, v: Option<f64>, source: &dyn Fn() -> String| {
        if let Some(v) = v.and_then(|v| checked(num, v)) {
            out.obs.set(num, Some(v));
            out.sources.push((NUMS[num as usize].name, source()));
        }
    };
    let put_dir = |out: &mut Assembled, dir: Dir, v: Option<Compass>, source: String| {
        if let Some(v) = v {
            out.obs.dirs[dir as usize] = Some(v);
            out.sources.push((DIRS[dir as usize].1, source));
        }
    };
    // Rule 1.
    let at = [
        (
            NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            [
                Num::Temp9am,
                Num::Humidity9am,
                Num::Pressure9am,
                Num::Cloud9am,
                Num::WindSpeed9am,
            ],
            Dir::WindDir9am,
        ),
        (
            NaiveTime::from_hms_opt(15, 0, 0).unwrap_or_default(),
            [
                Num::Temp3pm,
                Num::Humidity3pm,
                Num::Pressure3pm,
                Num::Cloud3pm,
                Num::WindSpeed3pm,
            ],
            Dir::WindDir3pm,
        ),
    ];
    for (time, nums, dir) in at {
        let Some(r) = reading_at(readings, zone, date, time, tolerance) else {
            continue;
        };
        let src = || format!("ftp:{} reading at {}", r.product, hhmm(zone, r.observed_at));
        let f = &r.fields;
        let (wdir, wspd) = wind(f);
        for (num, v) in
            nums.into_iter()
                .zip([f.air_temp, f.rel_humidity, f.pressure, f.cloud_oktas, wspd])
        {
            put(&mut out, num, v, &src);
        }
        put_dir(&mut out, dir, wdir, src());
    }
    // Rule 2.
    if let Some((v, s)) = rainfall(readings, zone, date, daily, tolerance) {
        put(&mut out, Num::Rainfall, Some(v), &|| s.clone());
    }
    // Rule 3.
    let table = |v: Option<f64>, name: &str| v.map(|v| (v, format!("ftp:daily table {name}")));
    let min = table(daily.and_then(|d| d.min_temp), "Minimum Temperature")
        .or_else(|| min_from_readings(readings, zone, date));
    let max = table(daily.and_then(|d| d.max_temp), "Maximum Temperature")
        .or_else(|| max_from_readings(readings, zone, date));
    let evap = table(daily.and_then(|d| d.evaporation), "Pan Evaporation");
    for (num, x) in [
        (Num::MinTemp, min),
        (Num::MaxTemp, max),
        (Num::Evaporation, evap),
    ] {
        if let Some((v, s)) = x {
            put(&mut out, num, Some(v), &|| s.clone());
        }
    }
    // Rule 4.
    if let Some((speed, dir, s)) = gust(readings, zone, date)
        && let Some(speed) = checked(Num::WindGustSpeed, speed)
    {
        out.obs.set(Num::WindGustSpeed, Some(speed));
        out.sources
            .push((NUMS[Num::WindGustSpeed as usize].name, s.clone()));
        put_dir(&mut out, Dir::WindGustDir, dir, s);
    }
    // Rule 5: Sunshine stays missing. Rule 6:
    out.obs.rain_today = out.obs.derived_rain_today();
    if out.obs.rain_today.is_some() {
        let s = out.source_of("Rainfall").unwrap_or_default().to_string();
        out.sources.push(("RainToday", s));
    }
    if out.sources.is_empty() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
