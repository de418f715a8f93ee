//! Parser of one BOM "Daily Weather Observations" (DWO) monthly CSV, the
//! plain-text file at `…/climate/dwo/YYYYMM/text/IDCJDWnnnn.YYYYMM.csv`.
//!
//! The format (checked on 699 real files, see `data/README.md`):
//! Latin-1, CRLF line ends, a preamble of quoted comment lines and a blank
//! line, then a header row that starts with `,"Date",`, then one row of 22
//! unquoted fields per day (the first one empty, the day not zero-padded:
//! `2024-09-1`). An empty field is a missing value.
//!
//! A file is taken whole or not at all: anything that suggests it is not the
//! file we know (an HTML page, a changed header, a short row, text in a
//! number column, a date outside the month) rejects it with a precise
//! [`DwoError`], so that a bad download never overwrites good rows. A number
//! outside its physical range (see [`crate::obs::NUMS`]) is the one
//! exception: it is stored as missing and reported in
//! [`ParsedMonth::out_of_range`], never guessed.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::obs::{Compass, Dir, Edge, NUMS, Num, Observation};

/// The exact header row, field by field (note the leading empty column and
/// the trailing space in `Direction of maximum wind gust `).
pub const HEADER: [&str; 22] = [
    "",
    "Date",
    "Minimum temperature (°C)",
    "Maximum temperature (°C)",
    "Rainfall (mm)",
    "Evaporation (mm)",
    "Sunshine (hours)",
    "Direction of maximum wind gust ",
    "Speed of maximum wind gust (km/h)",
    "Time of maximum wind gust",
    "9am Temperature (°C)",
    "9am relative humidity (%)",
    "9am cloud amount (oktas)",
    "9am wind direction",
    "9am wind speed (km/h)",
    "9am MSL pressure (hPa)",
    "3pm Temperature (°C)",
    "3pm relative humidity (%)",
    "3pm cloud amount (oktas)",
    "3pm wind direction",
    "3pm wind speed (km/h)",
    "3pm MSL pressure (hPa)",
];

/// The header row starts with this; it is found by it, not by line number.
const HEADER_PREFIX: &str = ",\"Date\",";

/// Column of each numeric field, in [`NUMS`] order.
const NUM_COLUMNS: [(Num, usize); 16] = [
    (Num::MinTemp, 2),
    (Num::MaxTemp, 3),
    (Num::Rainfall, 4),
    (Num::Evaporation, 5),
    (Num::Sunshine, 6),
    (Num::WindGustSpeed, 8),
    (Num::WindSpeed9am, 14),
    (Num::WindSpeed3pm, 20),
    (Num::Humidity9am, 11),
    (Num::Humidity3pm, 17),
    (Num::Pressure9am, 15),
    (Num::Pressure3pm, 21),
    (Num::Cloud9am, 12),
    (Num::Cloud3pm, 18),
    (Num::Temp9am, 10),
    (Num::Temp3pm, 16),
];

/// Each wind direction with its column and the speed that qualifies it.
const DIR_COLUMNS: [(Dir, usize, Num); 3] = [
    (Dir::WindGustDir, 7, Num::WindGustSpeed),
    (Dir::WindDir9am, 13, Num::WindSpeed9am),
    (Dir::WindDir3pm, 19, Num::WindSpeed3pm),
];

/// Speed columns, where BOM writes `Calm` for 0.
const SPEEDS: [Num; 3] = [Num::WindGustSpeed, Num::WindSpeed9am, Num::WindSpeed3pm];

/// How far into the body an HTML page is looked for.
const HTML_SNIFF_BYTES: usize = 1024;

/// Why a whole file was rejected. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DwoError {
    #[error("empty body")]
    Empty,
    #[error(
        "an HTML page, not a CSV (BOM serves these for errors and to clients it blocks as scrapers)"
    )]
    Html,
    #[error("no header row (a line starting with ,\"Date\",)")]
    NoHeader,
    #[error("header on line {line} has {found} columns, expected 22")]
    HeaderWidth { line: usize, found: usize },
    #[error("header changed: column {column} is `{found}`, expected `{expected}`")]
    HeaderChanged {
        column: usize,
        expected: &'static str,
        found: String,
    },
    #[error("line {line}: {found} fields, expected 22 (truncated or malformed row)")]
    FieldCount { line: usize, found: usize },
    #[error("line {line}: first field is `{found}`, expected it empty")]
    FirstField { line: usize, found: String },
    #[error("line {line}: `{text}` is not a date of the form YYYY-MM-D")]
    BadDate { line: usize, text: String },
    #[error("line {line}: date {date} is not in {year}-{month:02}")]
    WrongMonth {
        line: usize,
        date: NaiveDate,
        year: i32,
        month: u32,
    },
    #[error("line {line}: date {date} appears twice")]
    DuplicateDate { line: usize, date: NaiveDate },
    #[error("line {line}: {field} is `{text}`, not a number")]
    NotANumber {
        line: usize,
        field: &'static str,
        text: String,
    },
    #[error("line {line}: {field} is `{text}`, not one of the 16 compass points")]
    BadDirection {
        line: usize,
        field: &'static str,
        text: String,
    },
    #[error("{year}-{month:02} is not a month")]
    BadMonth { year: i32, month: u32 },
}

/// A number outside its physical range, stored as missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutOfRange {
    pub date: NaiveDate,
    /// weatherAUS name of the field, e.g. `Humidity3pm`.
    pub field: String,
    pub value: f64,
}

/// One parsed monthly file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMonth {
    /// One per data row, in file order. `rain_today` is derived from the
    /// rainfall; `rain_tomorrow` is left `None` (it needs the next day, which
    /// may be in the next month's file: the store sets it).
    pub observations: Vec<Observation>,
    /// Values outside their physical range, stored as missing.
    pub out_of_range: Vec<OutOfRange>,
    /// The preamble's station line(s), e.g. `Observations were drawn from
    /// Sydney (Observatory Hill) {station 066214}`.
    pub stations: Vec<String>,
}

/// Parse the bytes of one DWO file for `location`, which must hold the month
/// (`year`, `month`) and nothing else.
pub fn parse(
    bytes: &[u8],
    location: &'static str,
    year: i32,
    month: u32,
) -> Result<ParsedMonth, DwoError> {
    if NaiveDate::from_ymd_opt(year, month, 1).is_none() {
        return Err(DwoError::BadMonth { year, month });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DwoError::Empty);
    }
    if looks_like_html(bytes) {
        return Err(DwoError::Html);
    }
    // ISO-8859-1: every byte is the code point of the same value.
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let header_at = lines
        .iter()
        .position(|l| l.starts_with(HEADER_PREFIX))
        .ok_or(DwoError::NoHeader)?;
    check_header(lines[header_at], header_at + 1)?;
    let stations = lines[..header_at]
        .iter()
        .map(|l| l.trim().trim_matches('"'))
        .filter(|l| is_station_line(l))
        .map(str::to_string)
        .collect();

    let mut out = ParsedMonth {
        observations: Vec::with_capacity(31),
        out_of_range: Vec::new(),
        stations,
    };
    let mut seen = HashSet::new();
    for (i, line) in lines.iter().enumerate().skip(header_at + 1) {
        if line.is_empty() {
            continue;
        }
        let line_no = i + 1;
        let obs = parse_row(line, line_no, location, year, month, &mut out.out_of_range)?;
        if !seen.insert(obs.date) {
            return Err(DwoError::DuplicateDate {
                line: line_no,
                date: obs.date,
            });
        }
        out.observations.push(obs);
    }
    Ok(out)
}

fn looks_like_html(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(HTML_SNIFF_BYTES)];
    let head: String = head
        .iter()
        .map(|&b| char::from(b.to_ascii_lowercase()))
        .collect();
    head.contains("<!doctype") || head.contains("<html")
}

/// `… {station 066214}`: a station number right after `{station `.
fn is_station_line(line: &str) -> bool {
    line.match_indices("{station ").any(|(at, m)| {
        line[at + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

fn check_header(line: &str, line_no: usize) -> Result<(), DwoError> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != HEADER.len() {
        return Err(DwoError::HeaderWidth {
            line: line_no,
            found: fields.len(),
        });
    }
    for (column, (found, expected)) in fields.iter().zip(HEADER).enumerate() {
        let name = found
            .strip_prefix('"')
            .and_then(|f| f.strip_suffix('"'))
            .unwrap_or(found);
        if name != expected {
            return Err(DwoError::HeaderChanged {
                column: column + 1,
                expected,
                found: name.to_string(),
            });
        }
    }
    Ok(())
}

fn parse_row(
    line: &str,
    line_no: usize,
    location: &'static str,
    year: i32,
    month: u32,
    out_of_range: &mut Vec<OutOfRange>,
) -> Result<Observation, DwoError> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != HEADER.len() {
        return Err(DwoError::FieldCount {
            line: line_no,
            found: fields.len(),
        });
    }
    if !fields[0].is_empty() {
        return Err(DwoError::FirstField {
            line: line_no,
            found: fields[0].to_string(),
        });
    }
    let date = parse_date(fields[1]).ok_or_else(|| DwoError::BadDate {
        line: line_no,
        text: fields[1].to_string(),
    })?;
    if date.year() != year || date.month() != month {
        return Err(DwoError::WrongMonth {
            line: line_no,
            date,
            year,
            month,
        });
    }

    let mut obs = Observation::empty(location, date);
    for (num, column) in NUM_COLUMNS {
        let spec = &NUMS[num as usize];
        let text = fields[column].trim();
        let value = if text.is_empty() {
            None
        } else if text == "Calm" && SPEEDS.contains(&num) {
            Some(0.0)
        } else {
            let v = parse_number(text).ok_or_else(|| DwoError::NotANumber {
                line: line_no,
                field: spec.name,
                text: fields[column].to_string(),
            })?;
            if let Ok(v) = spec.check(v, Edge::Dwo) {
                Some(v)
            } else {
                out_of_range.push(OutOfRange {
                    date,
                    field: spec.name.to_string(),
                    value: v,
                });
                None
            }
        };
        obs.set(num, value);
    }
    for (dir, column, speed) in DIR_COLUMNS {
        let text = fields[column].trim();
        let parsed = if text.is_empty() {
            None
        } else {
            Some(
                text.parse::<Compass>()
                    .map_err(|_| DwoError::BadDirection {
                        line: line_no,
                        field: crate::obs::DIRS[dir as usize].1,
                        text: fields[column].to_string(),
                    })?,
            )
        };
        // weatherAUS: no direction without a (non-zero) speed.
        obs.dirs[dir as usize] = parsed.filter(|_| obs.get(speed).is_some_and(|s| s > 0.0));
    }
    obs.rain_today = obs.derived_rain_today();
    Ok(obs)
}

/// `2024-09-1` (day and month may or may not be zero-padded).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || !(1..=2).contains(&m.len()) {
        return None;
    }
    if !(1..=2).contains(&d.len()) {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(y) && all_digits(m) && all_digits(d)) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// A plain decimal: optional minus, digits, optional fraction. Rejects what
/// Rust's float parser would also take (`inf`, `NaN`, `1e3`, `+1`).
fn parse_number(text: &str) -> Option<f64> {
    let body = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
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

    const ROW1: &str =
        ",2024-08-1,-1.9,14.8,0,,,WSW,17,14:40,4.4,82,,ESE,4,1036.2,14.3,41,,W,7,1031.7";
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
            let p = parse(&bytes, "Melbourne", y, m)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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
            [
                "Observations were drawn from Adelaide (West Terrace / Ngayirdapira) {station 023000}"
            ]
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
}
