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
mod tests;
