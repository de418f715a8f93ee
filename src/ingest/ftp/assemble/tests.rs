//! Each assembly rule on its own (`docs/ftp.md`, "How a day is assembled").

use chrono::TimeZone;

use super::*;
use crate::stations::by_location;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}
fn utc(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, day, h, min, 0).unwrap()
}
fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}
fn reading(at: DateTime<Utc>, f: Fields) -> StoredReading {
    StoredReading {
        observed_at: at,
        product: "IDN60920".into(),
        fields: f,
    }
}
fn temp(v: f64) -> Fields {
    Fields {
        air_temp: Some(v),
        ..Fields::default()
    }
}
fn ext(value: f64, start: DateTime<Utc>, end: DateTime<Utc>, at: Option<DateTime<Utc>>) -> Extreme {
    Extreme {
        value,
        start,
        end,
        at,
    }
}
const TOL: i64 = 30;
fn tol() -> Duration {
    Duration::minutes(TOL)
}

// Rule 1 ---------------------------------------------------------------

#[test]
fn rule1_nearest_reading_within_the_tolerance_earlier_wins_a_tie() {
    let z = Zone::Brisbane; // UTC+10 all year: 09:00 = 23:00 UTC the day before
    let rs = vec![
        reading(utc(2024, 9, 4, 22, 30), temp(1.0)), // 08:30
        reading(utc(2024, 9, 4, 23, 30), temp(2.0)), // 09:30
        reading(utc(2024, 9, 5, 0, 0), temp(3.0)),   // 10:00
    ];
    let r = reading_at(&rs, z, d(2024, 9, 5), t(9, 0), tol()).unwrap();
    assert_eq!(r.fields.air_temp, Some(1.0), "tie: the earlier reading");
    let rs2 = vec![rs[1].clone(), rs[2].clone()];
    let r = reading_at(&rs2, z, d(2024, 9, 5), t(9, 0), tol()).unwrap();
    assert_eq!(r.fields.air_temp, Some(2.0));
    let rs3 = vec![rs[2].clone()];
    assert!(
        reading_at(&rs3, z, d(2024, 9, 5), t(9, 0), tol()).is_none(),
        "60 min away"
    );
}

/// 6 October 2024: daylight saving starts in Sydney (UTC+11 from 02:00),
/// not in Brisbane (UTC+10). The same UTC instant is 9 am in Sydney and
/// 8 am in Brisbane; each station's 9 am field comes from its own 9 am.
#[test]
fn rule1_daylight_saving_in_sydney_none_in_brisbane_same_day() {
    let day = d(2024, 10, 6);
    let sydney_9 = utc(2024, 10, 5, 22, 0);
    let brisbane_9 = utc(2024, 10, 5, 23, 0);
    let rs = vec![
        reading(sydney_9, temp(14.0)),
        reading(brisbane_9, temp(19.0)),
    ];
    let syd = by_location("Sydney").unwrap();
    let bne = by_location("Brisbane").unwrap();
    let a = assemble(syd, day, &rs, None, Duration::minutes(20)).unwrap();
    let b = assemble(bne, day, &rs, None, Duration::minutes(20)).unwrap();
    assert_eq!(a.obs.get(Num::Temp9am), Some(14.0));
    assert_eq!(b.obs.get(Num::Temp9am), Some(19.0));
    assert_eq!(
        a.source_of("Temp9am"),
        Some("ftp:IDN60920 reading at 2024-10-06 09:00")
    );
    assert_eq!(
        b.source_of("Temp9am"),
        Some("ftp:IDN60920 reading at 2024-10-06 09:00")
    );
    // The day before, Sydney was still on UTC+10: 9 am was 23:00 UTC.
    let before = vec![reading(utc(2024, 10, 4, 23, 0), temp(12.0))];
    let a = assemble(syd, d(2024, 10, 5), &before, None, Duration::minutes(20)).unwrap();
    assert_eq!(a.obs.get(Num::Temp9am), Some(12.0));
}

#[test]
fn rule1_all_nine_am_and_three_pm_fields() {
    let z = by_location("Brisbane").unwrap();
    let f = |v: f64, dir: &str| Fields {
        air_temp: Some(v),
        rel_humidity: Some(v + 40.0),
        pressure: Some(1000.0 + v),
        cloud_oktas: Some(3.0),
        wind_dir: Some(dir.into()),
        wind_spd_kmh: Some(11.0),
        ..Fields::default()
    };
    let rs = vec![
        reading(utc(2024, 9, 4, 23, 0), f(15.0, "NNE")),
        reading(utc(2024, 9, 5, 5, 0), f(22.0, "SW")),
    ];
    let a = assemble(z, d(2024, 9, 5), &rs, None, tol()).unwrap();
    let o = &a.obs;
    assert_eq!(
        [
            o.get(Num::Temp9am),
            o.get(Num::Humidity9am),
            o.get(Num::Pressure9am)
        ],
        [Some(15.0), Some(55.0), Some(1015.0)]
    );
    assert_eq!(
        [
            o.get(Num::Temp3pm),
            o.get(Num::Humidity3pm),
            o.get(Num::Pressure3pm)
        ],
        [Some(22.0), Some(62.0), Some(1022.0)]
    );
    assert_eq!(o.get(Num::Cloud3pm), Some(3.0));
    assert_eq!(o.dir(Dir::WindDir9am), Some(Compass::NNE));
    assert_eq!(o.dir(Dir::WindDir3pm), Some(Compass::SW));
    assert_eq!(o.get(Num::WindSpeed3pm), Some(11.0));
}

#[test]
fn rule1_calm_and_a_direction_without_speed() {
    let calm = Fields {
        wind_dir: Some("CALM".into()),
        wind_spd_kmh: Some(0.0),
        ..Fields::default()
    };
    assert_eq!(wind(&calm), (None, Some(0.0)));
    let no_speed = Fields {
        wind_dir: Some("NW".into()),
        ..Fields::default()
    };
    assert_eq!(wind(&no_speed), (None, None));
    let zero = Fields {
        wind_dir: Some("NW".into()),
        wind_spd_kmh: Some(0.0),
        ..Fields::default()
    };
    assert_eq!(wind(&zero), (None, Some(0.0)));
    let ok = Fields {
        wind_dir: Some("NW".into()),
        wind_spd_kmh: Some(9.0),
        ..Fields::default()
    };
    assert_eq!(wind(&ok), (Some(Compass::NW), Some(9.0)));
}

// Rule 2 ---------------------------------------------------------------

#[test]
fn rule2_rainfall_prefers_the_24_hour_count_to_9_am() {
    let z = Zone::Brisbane;
    let day = d(2024, 9, 5);
    let close = z.utc(day, nine_am());
    let open = z.utc(d(2024, 9, 4), nine_am());
    let since = |v: f64| Fields {
        rain_since_9am: Some(ext(v, open, close, None)),
        ..Fields::default()
    };
    let table = DailyRow {
        date: day,
        rainfall: Some(9.9),
        evaporation: None,
        max_temp: None,
        min_temp: None,
    };
    // (c) only the table.
    let (v, s) = rainfall(&[], z, day, Some(&table), tol()).unwrap();
    assert_eq!((v, s.as_str()), (9.9, "ftp:daily table Rain 0900-0900"));
    // (b) rain since 9 am yesterday, read at 08:40: beats the table.
    let rs = vec![
        reading(close - Duration::minutes(200), since(1.0)),
        reading(close - Duration::minutes(20), since(4.2)),
    ];
    let (v, s) = rainfall(&rs, z, day, Some(&table), tol()).unwrap();
    assert_eq!(v, 4.2);
    assert_eq!(s, "ftp:IDN60920 rain since 9 am at 2024-09-05 08:40");
    // Read too long before 9 am, it is not the day's total.
    let early = vec![rs[0].clone()];
    assert_eq!(rainfall(&early, z, day, None, tol()), None);
    // A "since 9 am" that started today counts for tomorrow, not today.
    let today = vec![reading(
        close + Duration::minutes(10),
        Fields {
            rain_since_9am: Some(ext(0.2, close, close + Duration::hours(24), None)),
            ..Fields::default()
        },
    )];
    assert_eq!(rainfall(&today, z, day, None, tol()), None);
    // (a) the 24-hour count to 9 am, read at 09:00 today: beats both.
    let mut all = rs.clone();
    all.push(reading(
        close,
        Fields {
            rain_24h: Some(ext(4.4, open, close, None)),
            ..Fields::default()
        },
    ));
    let (v, s) = rainfall(&all, z, day, Some(&table), tol()).unwrap();
    assert_eq!(v, 4.4);
    assert_eq!(s, "ftp:IDN60920 rainfall_24hr to 2024-09-05 09:00");
}

#[test]
fn rule2_the_9_am_boundary_follows_the_zone() {
    // Perth (UTC+8): the rain day closes at 01:00 UTC.
    let p = by_location("Perth").unwrap();
    let day = d(2025, 1, 10);
    let close = utc(2025, 1, 10, 1, 0);
    let rs = vec![reading(
        close,
        Fields {
            rain_24h: Some(ext(7.0, close - Duration::hours(24), close, None)),
            ..Fields::default()
        },
    )];
    let a = assemble(p, day, &rs, None, tol()).unwrap();
    assert_eq!(a.obs.get(Num::Rainfall), Some(7.0));
    // The same count is not the day before's rain.
    assert!(assemble(p, d(2025, 1, 9), &rs, None, tol()).is_none());
}

// Rule 3 ---------------------------------------------------------------

#[test]
fn rule3_min_max_evaporation_from_the_table_first() {
    let s = by_location("Brisbane").unwrap();
    let z = Zone::Brisbane;
    let day = d(2024, 9, 5);
    let min_r = reading(
        z.utc(day, t(8, 0)),
        Fields {
            min_temp: Some(ext(
                6.0,
                z.utc(d(2024, 9, 4), t(18, 0)),
                z.utc(day, nine_am()),
                None,
            )),
            max_temp: Some(ext(25.0, z.utc(day, t(6, 0)), z.utc(day, t(21, 0)), None)),
            ..Fields::default()
        },
    );
    let table = DailyRow {
        date: day,
        rainfall: None,
        evaporation: Some(4.6),
        max_temp: Some(24.8),
        min_temp: Some(5.9),
    };
    let a = assemble(s, day, std::slice::from_ref(&min_r), Some(&table), tol()).unwrap();
    assert_eq!(a.obs.get(Num::MinTemp), Some(5.9));
    assert_eq!(a.obs.get(Num::MaxTemp), Some(24.8));
    assert_eq!(a.obs.get(Num::Evaporation), Some(4.6));
    assert_eq!(
        a.source_of("MaxTemp"),
        Some("ftp:daily table Maximum Temperature")
    );
    // Without the table: the readings, and no evaporation.
    let a = assemble(s, day, &[min_r], None, tol()).unwrap();
    assert_eq!(a.obs.get(Num::MinTemp), Some(6.0));
    assert_eq!(a.obs.get(Num::MaxTemp), Some(25.0));
    assert_eq!(a.obs.get(Num::Evaporation), None);
    assert!(a.source_of("MinTemp").unwrap().contains("reading fallback"));
}

#[test]
fn rule3_fallbacks_take_the_extreme_of_the_right_span() {
    let z = Zone::Brisbane;
    let day = d(2024, 9, 5);
    let night = |v: f64, end_day: NaiveDate| Fields {
        min_temp: Some(ext(
            v,
            z.utc(end_day - Duration::days(1), t(18, 0)),
            z.utc(end_day, nine_am()),
            None,
        )),
        ..Fields::default()
    };
    let rs = vec![
        reading(z.utc(day, t(3, 0)), night(8.0, day)),
        reading(z.utc(day, t(6, 0)), night(7.1, day)),
        // Tomorrow's overnight minimum, already running: not today's.
        reading(z.utc(day, t(21, 0)), night(2.0, day + Duration::days(1))),
    ];
    assert_eq!(min_from_readings(&rs, z, day).unwrap().0, 7.1);
    let day_max = |v: f64, on: NaiveDate| Fields {
        max_temp: Some(ext(v, z.utc(on, t(6, 0)), z.utc(on, t(21, 0)), None)),
        ..Fields::default()
    };
    let rs = vec![
        reading(z.utc(day, t(11, 0)), day_max(20.0, day)),
        reading(z.utc(day, t(14, 0)), day_max(23.5, day)),
        reading(
            z.utc(day - Duration::days(1), t(14, 0)),
            day_max(30.0, day - Duration::days(1)),
        ),
    ];
    assert_eq!(max_from_readings(&rs, z, day).unwrap().0, 23.5);
}

// Rule 4 ---------------------------------------------------------------

#[test]
fn rule4_the_days_strongest_gust_with_direction_and_time() {
    let z = Zone::Brisbane;
    let day = d(2024, 9, 5);
    let (mid, next) = (z.utc(day, t(0, 0)), z.utc(day + Duration::days(1), t(0, 0)));
    let g = |v: f64, dir: &str, at: NaiveTime| Fields {
        max_gust_kmh: Some(ext(v, mid, next, Some(z.utc(day, at)))),
        max_gust_dir: Some(dir.into()),
        gust_kmh: Some(99.0),
        ..Fields::default()
    };
    let rs = vec![
        reading(z.utc(day, t(9, 0)), g(31.0, "N", t(4, 10))),
        reading(z.utc(day, t(15, 0)), g(52.0, "WSW", t(13, 42))),
        reading(z.utc(day, t(21, 0)), g(52.0, "WSW", t(13, 42))),
    ];
    let (v, dir, s) = gust(&rs, z, day).unwrap();
    assert_eq!((v, dir), (52.0, Some(Compass::WSW)));
    assert_eq!(s, "ftp:IDN60920 maximum_gust_kmh at 2024-09-05 13:42");
    // Yesterday's maximum is not today's.
    assert!(gust(&rs, z, day + Duration::days(1)).is_none());
}

#[test]
fn rule4_without_a_daily_maximum_the_strongest_ten_minute_gust() {
    let z = Zone::Brisbane;
    let day = d(2024, 9, 5);
    let g = |v: f64, dir: &str| Fields {
        gust_kmh: Some(v),
        wind_dir: Some(dir.into()),
        wind_spd_kmh: Some(10.0),
        ..Fields::default()
    };
    let rs = vec![
        reading(z.utc(day, t(9, 0)), g(30.0, "E")),
        reading(z.utc(day, t(15, 0)), g(41.0, "SE")),
        reading(z.utc(day + Duration::days(1), t(1, 0)), g(80.0, "S")),
    ];
    let (v, dir, s) = gust(&rs, z, day).unwrap();
    assert_eq!((v, dir), (41.0, Some(Compass::SE)));
    assert!(s.contains("gust_kmh at 2024-09-05 15:00"), "{s}");
}

// Rules 5–7 ------------------------------------------------------------

#[test]
fn rule5_sunshine_is_always_missing() {
    let s = by_location("Sydney").unwrap();
    let day = d(2024, 9, 5);
    let table = DailyRow {
        date: day,
        rainfall: Some(3.0),
        evaporation: Some(2.0),
        max_temp: Some(20.0),
        min_temp: Some(10.0),
    };
    let a = assemble(s, day, &[], Some(&table), tol()).unwrap();
    assert_eq!(a.obs.get(Num::Sunshine), None);
    assert_eq!(a.source_of("Sunshine"), None);
}

#[test]
fn rule6_rain_today_is_above_one_mm() {
    let s = by_location("Sydney").unwrap();
    let day = d(2024, 9, 5);
    let row = |mm: f64| DailyRow {
        date: day,
        rainfall: Some(mm),
        evaporation: None,
        max_temp: None,
        min_temp: None,
    };
    let a = assemble(s, day, &[], Some(&row(1.0)), tol()).unwrap();
    assert_eq!(a.obs.rain_today, Some(false));
    let a = assemble(s, day, &[], Some(&row(1.2)), tol()).unwrap();
    assert_eq!(a.obs.rain_today, Some(true));
    assert_eq!(
        a.source_of("RainToday"),
        Some("ftp:daily table Rain 0900-0900")
    );
}

#[test]
fn rule7_out_of_range_values_stay_missing() {
    let s = by_location("Brisbane").unwrap();
    let day = d(2024, 9, 5);
    let rs = vec![reading(
        Zone::Brisbane.utc(day, nine_am()),
        Fields {
            rel_humidity: Some(182.0),
            air_temp: Some(15.0),
            ..Fields::default()
        },
    )];
    let a = assemble(s, day, &rs, None, tol()).unwrap();
    assert_eq!(a.obs.get(Num::Humidity9am), None);
    assert_eq!(a.source_of("Humidity9am"), None);
    assert_eq!(a.obs.get(Num::Temp9am), Some(15.0));
}

#[test]
fn nothing_known_is_no_row() {
    let s = by_location("Sydney").unwrap();
    assert!(assemble(s, d(2024, 9, 5), &[], None, tol()).is_none());
}

/// 6 October 2024 in Sydney: midnight is AEST (13:00 UTC... 14:00 UTC the
/// day before), noon AEDT. The day's running gust maximum starts at the
/// real midnight and still counts for the day.
#[test]
fn rule4_on_a_daylight_saving_day() {
    let z = Zone::Sydney;
    let day = d(2024, 10, 6);
    let midnight = utc(2024, 10, 5, 14, 0);
    let next = utc(2024, 10, 6, 13, 0);
    let rs = vec![reading(
        utc(2024, 10, 6, 6, 43),
        Fields {
            max_gust_kmh: Some(ext(48.0, midnight, next, Some(utc(2024, 10, 6, 6, 43)))),
            max_gust_dir: Some("S".into()),
            ..Fields::default()
        },
    )];
    let (v, dir, s) = gust(&rs, z, day).unwrap();
    assert_eq!((v, dir), (48.0, Some(Compass::S)));
    assert_eq!(s, "ftp:IDN60920 maximum_gust_kmh at 2024-10-06 17:43");
}
