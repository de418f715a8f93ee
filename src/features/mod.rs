//! The one feature encoder, shared by training and serving and versioned with
//! every model ([`SCHEMA_VERSION`]). Features for day D read only rows dated D
//! or earlier: the location's own history, and (schema 3) what the other
//! stations reported on D ([`neighbours`]). Everything is known by the
//! evening of D. Missing values stay missing (`NaN`); the trees learn where
//! they go.

pub mod neighbours;

use chrono::{Datelike, NaiveDate};

use crate::issue::{Issue, Stage, Visibility};
use crate::obs::{Dir, Num, Observation};
use crate::stations::{self, Station};
pub use neighbours::Neighbourhood;

/// Bump when the meaning or order of any feature changes.
/// Schema 4: every row serves one [`Issue`] and reads the rows as BOM showed
/// them at that issue (see [`View`]). Schema 5: the 9 am tendencies (and the
/// 3 pm temperature's) that an issue made before MaxTemp and the 3 pm fields
/// are published can read, and the neighbours' 9 am fields and 24-hour
/// changes. Schema 6: the nearest three neighbours are the nearest whose
/// rain of the day is shown, not three fixed stations (a closed or
/// late station's place is taken by the next nearest).
pub const SCHEMA_VERSION: i64 = 6;

/// How many days of history before D the encoder reads.
pub const LOOKBACK_DAYS: u64 = 30;

/// The station's own features' names, in vector order.
const OWN_NAMES: [&str; NEIGHBOURS_AT] = [
    "MinTemp",
    "MaxTemp",
    "Rainfall",
    "Evaporation",
    "Sunshine",
    "WindGustSpeed",
    "WindSpeed9am",
    "WindSpeed3pm",
    "Humidity9am",
    "Humidity3pm",
    "Pressure9am",
    "Pressure3pm",
    "Cloud9am",
    "Cloud3pm",
    "Temp9am",
    "Temp3pm",
    "WindGustDir_sin",
    "WindGustDir_cos",
    "WindDir9am_sin",
    "WindDir9am_cos",
    "WindDir3pm_sin",
    "WindDir3pm_cos",
    "DayOfYear_sin",
    "DayOfYear_cos",
    "RainToday",
    "Latitude",
    "Longitude",
    "Rainfall_yesterday",
    "Humidity3pm_yesterday",
    "Pressure3pm_change_24h",
    "Pressure_change_9am_3pm",
    "MaxTemp_change_24h",
    "Temp_rise_9am_3pm",
    "Humidity_change_9am_3pm",
    "Rain_streak_days",
    "Days_since_rain",
    "Rainfall_7d",
    "Rain_days_7d",
    // Schema 2.
    "Month",
    "Station",
    "Rainfall_3d",
    "Rainfall_14d",
    "Humidity3pm_change_3d",
    "Pressure3pm_change_3d",
    "WindDir3pm_yesterday_sin",
    "WindDir3pm_yesterday_cos",
    "Cloud_change_9am_3pm",
    "DewPoint_depression_3pm",
    "DewPoint3pm",
    "Humidity9am_yesterday",
    // Schema 5: tendencies the morning and afternoon issues can read, whose
    // 3 pm and MaxTemp counterparts BOM has not yet published.
    "Pressure9am_change_24h",
    "Pressure_change_overnight",
    "Humidity9am_change_24h",
    "Temp9am_change_24h",
    "Temp3pm_change_24h",
    "DewPoint_depression_9am",
];

/// Feature names, in vector order: the station's own, then its neighbours'.
pub const NAMES: [&str; N_FEATURES] = {
    let mut names = [""; N_FEATURES];
    let mut i = 0;
    while i < N_FEATURES {
        names[i] = if i < NEIGHBOURS_AT {
            OWN_NAMES[i]
        } else if i < ISSUE_AT {
            neighbours::NAMES[i - NEIGHBOURS_AT]
        } else {
            "Issue"
        };
        i += 1;
    }
    names
};

/// Where the neighbour features start.
const NEIGHBOURS_AT: usize = 56;

/// Where the issue's code stands (schema 4): the last feature.
pub const ISSUE_AT: usize = NEIGHBOURS_AT + neighbours::N_NEIGHBOUR;

pub const N_FEATURES: usize = ISSUE_AT + 1;

/// What a forecast may read: the issue it serves, and how much of every
/// station's row of its base day BOM showed at that issue. The station's own
/// row of the base day is read as shown at the issue's stage; earlier days
/// are final by then.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub issue: Issue,
    pub stages: [Stage; neighbours::N_STATIONS],
}

impl View {
    /// `station`'s view of its base day `day` at `issue`, with every other
    /// station seen as it was at that moment in its own time zone.
    pub fn at_issue(v: &Visibility, station: &Station, day: NaiveDate, issue: Issue) -> View {
        View {
            issue,
            stages: v.stages_at_issue(station, day, issue),
        }
    }

    /// The afternoon issue for a day read as a whole (a posted observation,
    /// or a location without a station): every neighbour shown.
    pub fn afternoon_of_complete_rows() -> View {
        View {
            issue: Issue::Afternoon,
            stages: neighbours::ALL_SHOWN,
        }
    }
}

/// Features whose values are category numbers rather than quantities, which
/// boosting splits as sets of categories: the station's index (0..49), whose
/// order means nothing. The month stays a number: as a category it made the
/// tune window's forecasts worse (it has the day of the year beside it).
pub const CATEGORICAL: [usize; 1] = [39];

pub type FeatureRow = [f32; N_FEATURES];

fn f(v: Option<f64>) -> f32 {
    v.map_or(f32::NAN, |v| v as f32)
}

fn diff(a: Option<f64>, b: Option<f64>) -> f32 {
    match (a, b) {
        (Some(a), Some(b)) => (a - b) as f32,
        _ => f32::NAN,
    }
}

/// Encode day D = the last element of `history`. `history` holds the same
/// location's observations in date order, all dated D or earlier (older rows
/// beyond [`LOOKBACK_DAYS`] are ignored); `around` holds the other stations'
/// reports, of which only D's (and D − 1's) are read. Nothing after D can be
/// read.
///
/// `view` masks D's row (the station's own and its neighbours') to what BOM
/// showed at the issue: a field it had not published is missing, whatever
/// the row holds now.
pub fn encode(history: &[Observation], around: &Neighbourhood, view: &View) -> Option<FeatureRow> {
    let shown = view.issue.stage().mask(history.last()?);
    let today = &shown;
    let d = today.date;
    // Rows of the lookback window, newest last, keyed by days before D.
    let window_start = d - chrono::Days::new(LOOKBACK_DAYS);
    let lookback: Vec<&Observation> = std::iter::once(today)
        .chain(
            history
                .iter()
                .rev()
                .skip(1)
                .take_while(|o| o.date >= window_start),
        )
        .collect(); // newest first, lookback[0] == today as shown
    let on = |days_before: i64| -> Option<&Observation> {
        let target = d - chrono::Duration::days(days_before);
        lookback.iter().find(|o| o.date == target).copied()
    };
    let yesterday = on(1);

    let mut row = [f32::NAN; N_FEATURES];
    for (i, v) in today.nums.iter().enumerate() {
        row[i] = f(*v);
    }
    for (k, dir) in [Dir::WindGustDir, Dir::WindDir9am, Dir::WindDir3pm]
        .into_iter()
        .enumerate()
    {
        if let Some(c) = today.dir(dir) {
            let rad = c.degrees().to_radians();
            row[16 + 2 * k] = rad.sin() as f32;
            row[17 + 2 * k] = rad.cos() as f32;
        }
    }
    let doy = d.ordinal() as f64 / 365.25 * std::f64::consts::TAU;
    row[22] = doy.sin() as f32;
    row[23] = doy.cos() as f32;
    row[24] = today.rain_today.map_or(f32::NAN, |r| r as u8 as f32);
    if let Some(st) = stations::by_location(today.location) {
        let (lat, lon) = st.model_coords();
        row[25] = lat as f32;
        row[26] = lon as f32;
    }
    row[27] = f(yesterday.and_then(|y| y.get(Num::Rainfall)));
    row[28] = f(yesterday.and_then(|y| y.get(Num::Humidity3pm)));
    row[29] = diff(
        today.get(Num::Pressure3pm),
        yesterday.and_then(|y| y.get(Num::Pressure3pm)),
    );
    row[30] = diff(today.get(Num::Pressure3pm), today.get(Num::Pressure9am));
    row[31] = diff(
        today.get(Num::MaxTemp),
        yesterday.and_then(|y| y.get(Num::MaxTemp)),
    );
    row[32] = diff(today.get(Num::Temp3pm), today.get(Num::Temp9am));
    row[33] = diff(today.get(Num::Humidity3pm), today.get(Num::Humidity9am));

    // Consecutive rain days ending at D, and days since the last rain day,
    // over consecutive calendar days only (a gap ends the count).
    if today.rain_today.is_some() {
        let rained = |back: i64| on(back).and_then(|o| o.rain_today);
        let streak = (0..=LOOKBACK_DAYS as i64)
            .take_while(|&b| rained(b) == Some(true))
            .count();
        let since = (0..=LOOKBACK_DAYS as i64).find(|&b| rained(b) == Some(true));
        row[34] = streak as f32;
        row[35] = since.map_or(LOOKBACK_DAYS as f32 + 1.0, |b| b as f32);
    }
    // Rain over the last 7 days (D-6..D), when at least 5 of them are known.
    let (mut sum, mut days, mut rainy) = (0.0f64, 0u32, 0u32);
    for back in 0..7 {
        if let Some(mm) = on(back).and_then(|o| o.get(Num::Rainfall)) {
            sum += mm;
            days += 1;
            rainy += (mm > crate::obs::RAIN_DAY_MM) as u32;
        }
    }
    if days >= 5 {
        row[36] = (sum * 7.0 / days as f64) as f32;
        row[37] = rainy as f32 * 7.0 / days as f32;
    }

    // Schema 2: season and station as categories the trees can split on,
    // more history, and moisture at 3 pm.
    row[38] = d.month() as f32;
    row[39] = stations::index_of(today.location).map_or(f32::NAN, |i| i as f32);
    row[40] = windowed_rain(&on, 3, 2);
    row[41] = windowed_rain(&on, 14, 10);
    let three_days_ago = on(3);
    row[42] = diff(
        today.get(Num::Humidity3pm),
        three_days_ago.and_then(|o| o.get(Num::Humidity3pm)),
    );
    row[43] = diff(
        today.get(Num::Pressure3pm),
        three_days_ago.and_then(|o| o.get(Num::Pressure3pm)),
    );
    if let Some(c) = yesterday.and_then(|y| y.dir(Dir::WindDir3pm)) {
        let rad = c.degrees().to_radians();
        row[44] = rad.sin() as f32;
        row[45] = rad.cos() as f32;
    }
    row[46] = diff(today.get(Num::Cloud3pm), today.get(Num::Cloud9am));
    if let (Some(t), Some(rh)) = (today.get(Num::Temp3pm), today.get(Num::Humidity3pm))
        && rh > 0.0
    {
        let dp = dew_point(t, rh);
        row[47] = (t - dp) as f32;
        row[48] = dp as f32;
    }
    row[49] = f(yesterday.and_then(|y| y.get(Num::Humidity9am)));
    // Schema 5.
    let since_yesterday = |num: Num| diff(today.get(num), yesterday.and_then(|y| y.get(num)));
    row[50] = since_yesterday(Num::Pressure9am);
    row[51] = diff(
        today.get(Num::Pressure9am),
        yesterday.and_then(|y| y.get(Num::Pressure3pm)),
    );
    row[52] = since_yesterday(Num::Humidity9am);
    row[53] = since_yesterday(Num::Temp9am);
    row[54] = since_yesterday(Num::Temp3pm);
    if let (Some(t), Some(rh)) = (today.get(Num::Temp9am), today.get(Num::Humidity9am))
        && rh > 0.0
    {
        row[55] = (t - dew_point(t, rh)) as f32;
    }
    let own_pressure = [
        today.get(Num::Pressure3pm),
        yesterday.and_then(|y| y.get(Num::Pressure3pm)),
        today.get(Num::Pressure9am),
        yesterday.and_then(|y| y.get(Num::Pressure9am)),
    ];
    row[NEIGHBOURS_AT..ISSUE_AT].copy_from_slice(&around.features(
        today.location,
        d,
        own_pressure,
        &view.stages,
    ));
    row[ISSUE_AT] = view.issue.code();
    Some(row)
}

/// Rain over the `days` days ending at D, scaled to the full window, when at
/// least `min_known` of them are known.
fn windowed_rain<'a>(
    on: &dyn Fn(i64) -> Option<&'a Observation>,
    days: i64,
    min_known: u32,
) -> f32 {
    let (mut sum, mut known) = (0.0f64, 0u32);
    for back in 0..days {
        if let Some(mm) = on(back).and_then(|o| o.get(Num::Rainfall)) {
            sum += mm;
            known += 1;
        }
    }
    if known >= min_known {
        (sum * days as f64 / known as f64) as f32
    } else {
        f32::NAN
    }
}

/// Dew point (°C) from temperature (°C) and relative humidity (%), Magnus.
fn dew_point(t: f64, rh: f64) -> f64 {
    let (a, b) = (17.62, 243.12);
    let g = (rh / 100.0).ln() + a * t / (b + t);
    b * g / (a - g)
}

/// Encode every row of one location's date-ordered series for `issue`; row
/// i reads `series[..=i]` only, as shown at the issue made from it, and the
/// neighbours' reports of its day as shown then.
pub fn encode_series(
    series: &[Observation],
    around: &Neighbourhood,
    issue: Issue,
    v: &Visibility,
) -> Vec<FeatureRow> {
    let station = series
        .first()
        .and_then(|o| stations::by_location(o.location));
    (0..series.len())
        .filter_map(|i| {
            let start = series[..=i]
                .partition_point(|o| o.date < series[i].date - chrono::Days::new(LOOKBACK_DAYS));
            let view = match station {
                Some(st) => View::at_issue(v, st, series[i].date, issue),
                None => View {
                    issue,
                    ..View::afternoon_of_complete_rows()
                },
            };
            encode(&series[start..=i], around, &view)
        })
        .collect()
}

/// The rain day a forecast from a row of `base_day` serves at `issue`.
pub fn target_date(base_day: NaiveDate, issue: Issue) -> NaiveDate {
    base_day + chrono::Days::new(issue.lead_days())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::Issue;
    use crate::obs::Compass;

    fn day(n: u32, rain: Option<f64>) -> Observation {
        let date = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(n as u64);
        let mut o = Observation::empty("Sydney", date);
        o.set(Num::Rainfall, rain);
        o.set(Num::Pressure3pm, Some(1010.0 + n as f64));
        o.set(Num::Pressure9am, Some(1012.0));
        o.rain_today = o.derived_rain_today();
        o.dirs[1] = Some(Compass::E);
        o.dirs[2] = Some(Compass::N);
        o.set(Num::Humidity9am, Some(60.0 + (n % 5) as f64));
        o.set(Num::Humidity3pm, Some(40.0 + (n % 7) as f64));
        o.set(Num::Temp3pm, Some(20.0 + (n % 3) as f64));
        o.set(Num::Cloud9am, Some(2.0));
        o.set(Num::Cloud3pm, Some((n % 9) as f64));
        o
    }

    #[test]
    fn a_row_carries_its_neighbours_of_the_same_day() {
        let s: Vec<_> = (0..3).map(|i| day(i, Some(0.0))).collect();
        let d = s[2].date;
        let mut airport = Observation::empty("SydneyAirport", d);
        airport.set(Num::Rainfall, Some(7.0));
        let mut later = Observation::empty("SydneyAirport", d + chrono::Days::new(1));
        later.set(Num::Rainfall, Some(30.0));
        let around = Neighbourhood::from_observations([&airport, &later]);
        let rows = encode_series(&s, &around, Issue::Afternoon, &Visibility::default());
        assert_eq!(
            rows[2][NEIGHBOURS_AT], 7.0,
            "the nearest station's rain on D"
        );
        assert!(rows[1][NEIGHBOURS_AT].is_nan(), "nothing reported on D - 1");
        assert_eq!(
            rows[2][..NEIGHBOURS_AT]
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            encode_series(
                &s,
                &Neighbourhood::default(),
                Issue::Afternoon,
                &Visibility::default()
            )[2][..NEIGHBOURS_AT]
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            "neighbours change only their own features"
        );
    }

    /// A forecast from a partial row reads no field BOM had not published at
    /// its issue: the same features from the complete row and from the row
    /// as shown then, and none of the fields published later.
    #[test]
    fn an_issue_reads_only_what_bom_had_published() {
        let mut s: Vec<_> = (0..10).map(|i| day(i, Some(0.2 * i as f64))).collect();
        for o in &mut s {
            o.set(Num::MaxTemp, Some(25.0));
            o.set(Num::Sunshine, Some(8.0));
            o.set(Num::WindGustSpeed, Some(40.0));
            o.dirs[0] = Some(Compass::W);
        }
        let v = Visibility::default();
        let sydney = stations::by_location("Sydney").unwrap();
        let d = s[9].date;
        let mut airport = Observation::empty("SydneyAirport", d);
        airport.set(Num::Rainfall, Some(7.0));
        airport.set(Num::Humidity3pm, Some(90.0));
        airport.set(Num::Pressure3pm, Some(1001.0));
        let around = Neighbourhood::from_observations([&airport]);
        for issue in crate::issue::ISSUES {
            let view = View::at_issue(&v, sydney, d, issue);
            let full = encode(&s, &around, &view).unwrap();
            let mut partial = s.clone();
            partial[9] = issue.stage().mask(&s[9]);
            let shown = encode(&partial, &around, &view).unwrap();
            assert_eq!(full.map(f32::to_bits), shown.map(f32::to_bits), "{issue:?}");
            for name in [
                "MaxTemp",
                "Sunshine",
                "WindGustSpeed",
                "WindGustDir_sin",
                "MaxTemp_change_24h",
            ] {
                let i = NAMES.iter().position(|n| *n == name).unwrap();
                assert!(full[i].is_nan(), "{issue:?} reads {name}");
            }
            assert_eq!(full[ISSUE_AT], issue.code());
            // Yesterday's complete row is read: its MaxTemp was published.
            assert_eq!(full[2], s[9].get(Num::Rainfall).unwrap() as f32);
        }
        let morning = encode(&s, &around, &View::at_issue(&v, sydney, d, Issue::Morning)).unwrap();
        for name in [
            "Humidity3pm",
            "Pressure3pm",
            "Temp3pm",
            "Pressure3pm_vs_500km",
        ] {
            let i = NAMES.iter().position(|n| *n == name).unwrap();
            assert!(morning[i].is_nan(), "the morning issue reads {name}");
        }
        assert_eq!(morning[NEIGHBOURS_AT], 7.0, "the airport's rain to 9 am");
    }

    #[test]
    fn names_match_the_vector() {
        assert_eq!(NAMES.len(), N_FEATURES);
        assert_eq!(CATEGORICAL.map(|f| NAMES[f]), ["Station"]);
        // A station's index must stay a category number boosting can hold.
        assert!(stations::STATIONS.len() <= 64);
        for (i, spec) in crate::obs::NUMS.iter().enumerate() {
            assert_eq!(
                NAMES[i], spec.name,
                "feature {i} is the observation of that name"
            );
        }
    }

    #[test]
    fn basic_and_lag_features() {
        let s: Vec<_> = [0.0, 5.0, 2.0, 0.0, 3.0, 4.0]
            .iter()
            .enumerate()
            .map(|(i, r)| day(i as u32, Some(*r)))
            .collect();
        let rows = encode_series(
            &s,
            &Neighbourhood::default(),
            Issue::Afternoon,
            &Visibility::default(),
        );
        let last = rows[5];
        assert_eq!(last[2], 4.0);
        assert_eq!(last[27], 3.0, "yesterday's rain");
        assert_eq!(last[29], 1.0, "pressure change");
        assert_eq!(last[30], -2.0 + 5.0, "9am→3pm pressure change");
        assert_eq!(last[34], 2.0, "two rain days in a row");
        assert_eq!(last[35], 0.0);
        assert!(
            (last[18] - 1.0).abs() < 1e-6 && last[19].abs() < 1e-6,
            "east = sin 1, cos 0"
        );
        assert!(last[16].is_nan(), "missing gust direction stays missing");
        assert_eq!(rows[3][35], 1.0, "one day since rain");
        assert!(rows[0][36].is_nan(), "too little history for a 7-day sum");
        // Schema 2.
        assert_eq!(last[38], 1.0, "January");
        assert_eq!(
            last[39],
            crate::stations::index_of("Sydney").unwrap() as f32
        );
        assert_eq!(last[40], 3.0 + 0.0 + 4.0, "rain D-2..D");
        assert!(last[41].is_nan(), "too little history for a 14-day sum");
        assert_eq!(last[42], 45.0 - 42.0, "humidity over 3 days");
        assert_eq!(last[43], 3.0, "pressure over 3 days");
        assert!(
            last[44].abs() < 1e-6 && (last[45] - 1.0).abs() < 1e-6,
            "yesterday north"
        );
        assert_eq!(last[46], 5.0 - 2.0, "cloud 9am→3pm");
        let dp = last[48];
        assert!((dp - 9.5).abs() < 0.1, "dew point at 22 °C and 45 %: {dp}");
        assert!((last[47] - (22.0 - dp)).abs() < 1e-4);
        assert_eq!(last[49], 64.0, "yesterday's 9am humidity");
    }

    #[test]
    fn a_gap_breaks_the_streak() {
        let s = vec![day(0, Some(5.0)), day(2, Some(5.0))];
        let rows = encode_series(
            &s,
            &Neighbourhood::default(),
            Issue::Afternoon,
            &Visibility::default(),
        );
        assert_eq!(rows[1][34], 1.0);
        assert!(rows[1][27].is_nan(), "no row for yesterday");
    }

    /// No look-ahead: features for day D are the same whatever follows D.
    #[test]
    fn features_for_d_never_read_rows_after_d() {
        let s: Vec<_> = (0..60)
            .map(|i| day(i, Some(((i * 7) % 11) as f64)))
            .collect();
        let full = encode_series(
            &s,
            &Neighbourhood::default(),
            Issue::Afternoon,
            &Visibility::default(),
        );
        for cut in [0usize, 10, 30, 59] {
            let mut altered = s.clone();
            for o in altered.iter_mut().skip(cut + 1) {
                o.set(Num::Rainfall, Some(999.0));
                o.set(Num::Pressure3pm, Some(900.0));
                o.set(Num::Humidity3pm, Some(100.0));
                o.set(Num::Humidity9am, Some(100.0));
                o.set(Num::Temp3pm, Some(5.0));
                o.set(Num::Cloud3pm, Some(8.0));
                o.dirs[2] = Some(Compass::S);
                o.rain_today = Some(true);
            }
            let again = encode_series(
                &altered,
                &Neighbourhood::default(),
                Issue::Afternoon,
                &Visibility::default(),
            );
            assert_eq!(
                full[cut].map(f32::to_bits),
                again[cut].map(f32::to_bits),
                "day {cut}"
            );
            let view = View::at_issue(
                &Visibility::default(),
                stations::by_location("Sydney").unwrap(),
                s[cut].date,
                Issue::Afternoon,
            );
            let alone = encode(&s[..=cut], &Neighbourhood::default(), &view).unwrap();
            assert_eq!(full[cut].map(f32::to_bits), alone.map(f32::to_bits));
        }
    }
}
