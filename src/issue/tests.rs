//! Tests of BOM's time: zones and daylight saving, the rain day's window,
//! stages hour by hour, the order fields appear in, and issues due.
use super::zones::noon_offset;
use super::*;
use crate::obs::{Dir, Num, Observation};
use crate::stations;
use chrono::Datelike;
use chrono::TimeZone;

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

/// An issue's index is its place in `ISSUES`, and its code (the feature
/// value) the same number: grouped training relies on both.
#[test]
fn an_issues_index_and_code_follow_issues_order() {
    for (i, issue) in ISSUES.into_iter().enumerate() {
        assert_eq!(issue.index(), i, "{}", issue.name());
        assert_eq!(issue.code(), i as f32, "{}", issue.name());
    }
}
