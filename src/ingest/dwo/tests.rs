//! Tests of the DWO parser on real files and malformed ones.

use super::*;
use std::path::{Path, PathBuf};

const HEAD: &str = "\"Daily Weather Observations for Testville for August 2024\"\r\n\
    \"Prepared at 13:00 UTC on Tuesday 12 August 2025   IDCJDW9999.202408\"\r\n\
    \"Copyright 2003 Commonwealth Bureau of Meteorology\"\r\n\
    \"Observations were drawn from Testville AWS {station 012345}\"\r\n\r\n";

fn header_line() -> String {
    HEADER
        .iter()
        .map(|h| {
            if h.is_empty() {
                String::new()
            } else {
                format!("\"{h}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A Latin-1 file made of the preamble, the header and `rows`.
fn file(rows: &[&str]) -> Vec<u8> {
    let text = format!("{HEAD}{}\r\n{}", header_line(), rows.join("\r\n"));
    text.chars().map(|c| c as u32 as u8).collect()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

const ROW1: &str = ",2024-08-1,-1.9,14.8,0,,,WSW,17,14:40,4.4,82,,ESE,4,1036.2,14.3,41,,W,7,1031.7";
const ROW2: &str =
    ",2024-08-2,-1.7,15.8,1.2,3.0,7.5,E,17,13:14,5.7,84,, ,Calm,1033.1,15.7,46,2,NNW,7,1028.9";

#[test]
fn parses_a_hand_made_file() {
    let p = parse(&file(&[ROW1, ROW2]), "Albury", 2024, 8).unwrap();
    assert_eq!(
        p.stations,
        ["Observations were drawn from Testville AWS {station 012345}"]
    );
    assert!(p.out_of_range.is_empty());
    let [a, b] = p.observations.as_slice() else {
        panic!("two rows expected")
    };
    assert_eq!(a.date, date(2024, 8, 1));
    assert_eq!(a.get(Num::MinTemp), Some(-1.9));
    assert_eq!(a.get(Num::Rainfall), Some(0.0));
    assert_eq!(a.get(Num::Evaporation), None);
    assert_eq!(a.dir(Dir::WindGustDir), Some(Compass::WSW));
    assert_eq!(a.get(Num::Pressure3pm), Some(1031.7));
    assert_eq!(a.rain_today, Some(false));
    assert_eq!(a.rain_tomorrow, None);
    // Calm: speed 0, direction missing.
    assert_eq!(b.get(Num::WindSpeed9am), Some(0.0));
    assert_eq!(b.dir(Dir::WindDir9am), None);
    assert_eq!(b.get(Num::Cloud9am), None);
    assert_eq!(b.get(Num::Cloud3pm), Some(2.0));
    assert_eq!(b.get(Num::Sunshine), Some(7.5));
    assert_eq!(b.rain_today, Some(true));
}

#[test]
fn wind_rules() {
    // Direction " " with empty speed: both missing. A direction with a
    // missing or zero speed is dropped (the weatherAUS rule).
    let row = ",2024-08-3,1,2,,,,N,,12:00,5,80,1, ,,1020.0,9,50,1,SE,0,1019.0";
    let p = parse(&file(&[row]), "Albury", 2024, 8).unwrap();
    let o = &p.observations[0];
    assert_eq!(
        (o.dir(Dir::WindGustDir), o.get(Num::WindGustSpeed)),
        (None, None)
    );
    assert_eq!(
        (o.dir(Dir::WindDir9am), o.get(Num::WindSpeed9am)),
        (None, None)
    );
    assert_eq!(
        (o.dir(Dir::WindDir3pm), o.get(Num::WindSpeed3pm)),
        (None, Some(0.0))
    );
    // Rainfall missing → RainToday missing; exactly 1.0 → No.
    assert_eq!(o.rain_today, None);
    let row = ",2024-08-4,1,2,1.0,,,,,,,,,,,,,,,,,";
    let p = parse(&file(&[row]), "Albury", 2024, 8).unwrap();
    assert_eq!(p.observations[0].rain_today, Some(false));
}

#[test]
fn out_of_range_values_are_missing_and_counted() {
    let row = ",2024-08-5,-1.9,14.8,0,,,WSW,17,14:40,4.4,182,,ESE,4,1036.2,14.3,41,,W,7,103.7";
    let p = parse(&file(&[row]), "Albury", 2024, 8).unwrap();
    let o = &p.observations[0];
    assert_eq!(o.get(Num::Humidity9am), None);
    assert_eq!(o.get(Num::Pressure3pm), None);
    assert_eq!(o.get(Num::MinTemp), Some(-1.9));
    assert_eq!(
        p.out_of_range,
        vec![
            OutOfRange {
                date: date(2024, 8, 5),
                field: "Humidity9am".into(),
                value: 182.0
            },
            OutOfRange {
                date: date(2024, 8, 5),
                field: "Pressure3pm".into(),
                value: 103.7
            },
        ]
    );
}

#[test]
fn whole_file_rejections() {
    let reject = |bytes: &[u8], month: u32| parse(bytes, "Albury", 2024, month).unwrap_err();
    assert_eq!(reject(b"", 8), DwoError::Empty);
    assert_eq!(reject(b" \r\n", 8), DwoError::Empty);
    assert_eq!(
        reject(b"\r\n<!DOCTYPE html><html><body>Forbidden</body></html>", 8),
        DwoError::Html
    );
    assert_eq!(reject(b"\"just a comment\"\r\n\r\n", 8), DwoError::NoHeader);
    // Short row (truncated download), naming the line: 5 preamble lines + header.
    let cut = &ROW2[..30];
    assert_eq!(
        reject(&file(&[ROW1, cut]), 8),
        DwoError::FieldCount { line: 8, found: 7 }
    );
    assert!(matches!(
        reject(&file(&[ROW1, ROW1]), 8),
        DwoError::DuplicateDate { line: 8, .. }
    ));
    assert!(matches!(
        reject(&file(&[ROW1]), 9),
        DwoError::WrongMonth { line: 7, .. }
    ));
    let padded = ROW1.replace("2024-08-1", "2024-08-x");
    assert!(matches!(
        reject(&file(&[&padded]), 8),
        DwoError::BadDate { line: 7, .. }
    ));
    let text = ROW1.replace("-1.9", "n/a");
    assert_eq!(
        reject(&file(&[&text]), 8),
        DwoError::NotANumber {
            line: 7,
            field: "MinTemp",
            text: "n/a".into()
        }
    );
    for bad in ["NaN", "inf", "1e3", "+1", "1.", ".5"] {
        let text = ROW1.replace("-1.9", bad);
        assert!(
            matches!(reject(&file(&[&text]), 8), DwoError::NotANumber { .. }),
            "{bad}"
        );
    }
    let dir = ROW1.replace("WSW", "SOUTH");
    assert!(matches!(
        reject(&file(&[&dir]), 8),
        DwoError::BadDirection {
            field: "WindGustDir",
            ..
        }
    ));
    let first = format!("x{ROW1}");
    assert!(matches!(
        reject(&file(&[&first]), 8),
        DwoError::FirstField { .. }
    ));
    assert_eq!(
        parse(&file(&[ROW1]), "Albury", 2024, 13).unwrap_err(),
        DwoError::BadMonth {
            year: 2024,
            month: 13
        }
    );
}

#[test]
fn renamed_header_column_is_named() {
    let mut bytes = file(&[ROW1]);
    let at = bytes
        .windows(b"9am wind speed".len())
        .position(|w| w == b"9am wind speed")
        .unwrap();
    bytes[at..at + 3].copy_from_slice(b"8am");
    let err = parse(&bytes, "Albury", 2024, 8).unwrap_err();
    assert_eq!(
        err,
        DwoError::HeaderChanged {
            column: 15,
            expected: "9am wind speed (km/h)",
            found: "8am wind speed (km/h)".into()
        }
    );
    assert!(err.to_string().contains("9am wind speed (km/h)"));
}

#[test]
fn header_only_is_an_empty_month() {
    let p = parse(&file(&[]), "Albury", 2024, 8).unwrap();
    assert!(p.observations.is_empty());
}

/// The bundled real DWO samples (`data/bom/samples`).
fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bom/samples")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn month_of(name: &str) -> (i32, u32) {
    // IDCJDWnnnn.YYYYMM.csv
    let ym = &name[11..17];
    (ym[..4].parse().unwrap(), ym[4..].parse().unwrap())
}

#[test]
fn every_real_sample_file_parses() {
    let mut files = Vec::new();
    {
        let dir = samples_dir();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("IDCJDW") && name.ends_with(".csv") {
                files.push((path, name));
            }
        }
    }
    assert_eq!(files.len(), 16, "13 fixtures + 3 samples expected");
    for (path, name) in files {
        let (y, m) = month_of(&name);
        let bytes = read(&path);
        let p =
            parse(&bytes, "Melbourne", y, m).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rows = bytes
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b",2") || l.starts_with(b",1"))
            .count();
        assert_eq!(p.observations.len(), rows, "{name}");
        assert!(!p.stations.is_empty(), "{name}: no station line");
        assert!(p.out_of_range.is_empty(), "{name}: {:?}", p.out_of_range);
    }
}

#[test]
fn hand_checked_rows_of_real_files() {
    let samples = samples_dir();
    let albury = read(&samples.join("IDCJDW2002.202408.csv"));
    let p = parse(&albury, "Albury", 2024, 8).unwrap();
    assert_eq!(p.observations.len(), 31);
    assert_eq!(
        p.stations,
        ["Observations were drawn from Albury Airport AWS {station 072160}"]
    );
    // ,2024-08-2,-1.7,15.8,0,,,E,17,13:14,5.7,84,, ,Calm,1033.1,15.7,46,2,NNW,7,1028.9
    let mut want = Observation::empty("Albury", date(2024, 8, 2));
    for (n, v) in [
        (Num::MinTemp, -1.7),
        (Num::MaxTemp, 15.8),
        (Num::Rainfall, 0.0),
        (Num::WindGustSpeed, 17.0),
        (Num::Temp9am, 5.7),
        (Num::Humidity9am, 84.0),
        (Num::WindSpeed9am, 0.0),
        (Num::Pressure9am, 1033.1),
        (Num::Temp3pm, 15.7),
        (Num::Humidity3pm, 46.0),
        (Num::Cloud3pm, 2.0),
        (Num::WindSpeed3pm, 7.0),
        (Num::Pressure3pm, 1028.9),
    ] {
        want.set(n, Some(v));
    }
    want.dirs = [Some(Compass::E), None, Some(Compass::NNW)];
    want.rain_today = Some(false);
    assert_eq!(p.observations[1], want);

    // Melbourne 2023-06-3, 9am: direction " ", speed Calm.
    let melb = read(&samples.join("IDCJDW3050.202306.csv"));
    let p = parse(&melb, "Melbourne", 2023, 6).unwrap();
    let o = &p.observations[2];
    assert_eq!(o.date, date(2023, 6, 3));
    assert_eq!(
        (o.get(Num::WindSpeed9am), o.dir(Dir::WindDir9am)),
        (Some(0.0), None)
    );
    assert_eq!(p.stations.len(), 2, "composite page: {:?}", p.stations);

    // Adelaide: no evaporation, sunshine or cloud; `{station number …}` in a note is not a station line.
    let adl = read(&samples.join("IDCJDW5081.202501.csv"));
    let p = parse(&adl, "Adelaide", 2025, 1).unwrap();
    assert_eq!(
        p.stations,
        ["Observations were drawn from Adelaide (West Terrace / Ngayirdapira) {station 023000}"]
    );
    // ,2025-01-1,14.3,27.4,0,,,WSW,43,14:11,19.7,58,,S,13,1019.6,24.8,49,,SW,24,1018.3
    let o = &p.observations[0];
    assert_eq!(o.get(Num::MaxTemp), Some(27.4));
    assert_eq!(o.get(Num::Evaporation), None);
    assert_eq!(o.get(Num::Cloud9am), None);
    assert_eq!(o.dir(Dir::WindDir9am), Some(Compass::S));
    assert_eq!(o.get(Num::WindSpeed3pm), Some(24.0));
    assert!(
        p.observations
            .iter()
            .all(|o| o.get(Num::Sunshine).is_none())
    );

    // Sydney has every field.
    let syd = read(&samples.join("IDCJDW2124.202409.csv"));
    let p = parse(&syd, "Sydney", 2024, 9).unwrap();
    assert_eq!(p.observations.len(), 30);
    assert!(
        p.observations
            .iter()
            .any(|o| o.get(Num::Sunshine).is_some())
    );
}

#[test]
fn malformed_fixtures_are_rejected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bom");
    type Check = fn(&DwoError) -> bool;
    let cases: [(&str, Check); 5] = [
        ("html_error_page.csv", |e| *e == DwoError::Html),
        ("truncated.csv", |e| {
            matches!(e, DwoError::FieldCount { .. })
        }),
        ("renamed_header.csv", |e| {
            matches!(e, DwoError::HeaderChanged { column: 5, .. })
        }),
        ("text_in_number.csv", |e| {
            matches!(
                e,
                DwoError::NotANumber {
                    field: "Humidity3pm",
                    ..
                }
            )
        }),
        ("empty.csv", |e| *e == DwoError::Empty),
    ];
    for (name, ok) in cases {
        let err = parse(&read(&dir.join(name)), "Albury", 2024, 8).expect_err(name);
        assert!(ok(&err), "{name}: {err}");
    }
}
