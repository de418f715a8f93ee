//! BOM's daily climate tables (`clim_data/IDCKWCDEA0/tables/…/{station}-{YYYYMM}.csv`,
//! product `IDCKWCDE11`): one file per station and month, re-issued each
//! morning, with rain and pan evaporation for the 24 hours to 9 am and the
//! day's maximum and minimum temperature. Columns are found by their
//! headings (three header rows), never by position; a file whose headings
//! changed, whose rows are cut or whose dates leave the month is rejected.

use chrono::{Datelike, NaiveDate};

pub use crate::reading::DailyRow;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DailyError {
    #[error("empty file")]
    Empty,
    #[error("not a daily climate table: no `Station Name,Date,…` header row")]
    NoHeader,
    #[error("the header changed: no column for {0}")]
    HeaderChanged(&'static str),
    #[error("line {line}: {found} fields, the header has {expected} (truncated?)")]
    FieldCount {
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: `{text}` in {column} is not a number")]
    NotANumber {
        line: usize,
        column: &'static str,
        text: String,
    },
    #[error("line {line}: {date} is not in {month}")]
    OutsideMonth {
        line: usize,
        date: NaiveDate,
        month: String,
    },
    #[error("line {line}: {date} appears twice")]
    Duplicate { line: usize, date: NaiveDate },
}

/// The columns raincast reads: heading words each must contain.
const COLUMNS: [(&str, &[&str]); 4] = [
    ("Rain 0900-0900", &["rain", "0900-0900"]),
    ("Pan Evaporation", &["evaporation"]),
    ("Maximum Temperature", &["maximum", "temperature"]),
    ("Minimum Temperature", &["minimum", "temperature"]),
];

/// Parse one table of `month` (`(year, month)`).
pub fn parse(bytes: &[u8], month: (i32, u32)) -> Result<Vec<DailyRow>, DailyError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DailyError::Empty);
    }
    // BOM writes Latin-1.
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let lines: Vec<&str> = text.lines().collect();
    let split = |l: &str| -> Vec<String> { l.split(',').map(|c| c.trim().to_string()).collect() };
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("Station Name,Date"))
        .ok_or(DailyError::NoHeader)?;
    if header < 2 {
        return Err(DailyError::NoHeader);
    }
    let rows = [
        split(lines[header - 2]),
        split(lines[header - 1]),
        split(lines[header]),
    ];
    let width = rows[2].len();
    let heading = |i: usize| -> String {
        rows.iter()
            .map(|r| r.get(i).map(String::as_str).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    };
    let mut cols = [0usize; 4];
    for (k, (name, words)) in COLUMNS.iter().enumerate() {
        cols[k] = (2..width)
            .find(|&i| {
                let h = heading(i);
                words.iter().all(|w| h.contains(w))
            })
            .ok_or(DailyError::HeaderChanged(name))?;
    }
    let month_name = format!("{:04}-{:02}", month.0, month.1);
    let mut out: Vec<DailyRow> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(header + 1) {
        let cells = split(line);
        let first = cells.first().map(String::as_str).unwrap_or("");
        // The units row, blank lines, the totals row.
        if first.starts_with("Totals") || cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        let Some(date) = cells
            .get(1)
            .and_then(|d| NaiveDate::parse_from_str(d, "%d/%m/%Y").ok())
        else {
            if cells.get(2).is_some_and(|c| c.starts_with('(')) {
                continue; // units
            }
            return Err(DailyError::FieldCount {
                line: i + 1,
                expected: width,
                found: cells.len(),
            });
        };
        if cells.len() != width {
            return Err(DailyError::FieldCount {
                line: i + 1,
                expected: width,
                found: cells.len(),
            });
        }
        if (date.year(), date.month()) != month {
            return Err(DailyError::OutsideMonth {
                line: i + 1,
                date,
                month: month_name,
            });
        }
        if out.iter().any(|r| r.date == date) {
            return Err(DailyError::Duplicate { line: i + 1, date });
        }
        let value = |k: usize| -> Result<Option<f64>, DailyError> {
            let t = cells[cols[k]].as_str();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| DailyError::NotANumber {
                    line: i + 1,
                    column: COLUMNS[k].0,
                    text: t.to_string(),
                })
        };
        out.push(DailyRow {
            date,
            rainfall: value(0)?,
            evaporation: value(1)?,
            max_temp: value(2)?,
            min_temp: value(3)?,
        });
    }
    Ok(out)
}

/// Write a daily table in BOM's layout (the FTP stand-in and the tests).
pub fn render(
    station_name: &str,
    state_name: &str,
    month: (i32, u32),
    rows: &[DailyRow],
) -> String {
    let fmt = |v: Option<f64>| v.map_or(" ".to_string(), |v| format!("{v:.1}"));
    let month_name = NaiveDate::from_ymd_opt(month.0, month.1, 1)
        .map(|d| d.format("%B %Y").to_string())
        .unwrap_or_default();
    let name = station_name.to_ascii_uppercase();
    let mut s = String::new();
    s.push_str("'IDCKWCDE11,,,,,,,,,,\r\n");
    s.push_str("Australian Government Bureau of Meteorology,,,,,,,,,,\r\n");
    s.push_str(&format!("{state_name},,,,,,,,,,\r\n\r\n"));
    s.push_str(&format!(
        "Daily Evapotranspiration for {name} {state_name} for {month_name},,,,,,,,,,\r\n"
    ));
    s.push_str("Copyright,,,,,,,,,,\r\n\r\n");
    s.push_str(",,Evapo-,,Pan,,,Maximum,Minimum,Average,\r\n");
    s.push_str(
        ",,Transpiration,Rain,Evaporation,Maximum,Minimum,Relative,Relative,10m Wind,Solar\r\n",
    );
    s.push_str("Station Name,Date,0000-2400,0900-0900,0900-0900,Temperature,Temperature,Humidity,Humidity,Speed,Radiation\r\n");
    s.push_str(",,(mm),(mm),(mm),(C),(C),(%),(%),(m/sec),(MJ/sq m)\r\n");
    for r in rows {
        s.push_str(&format!(
            "{name},{},,{},{},{},{},,,,\r\n",
            r.date.format("%d/%m/%Y"),
            fmt(r.rainfall),
            fmt(r.evaporation),
            fmt(r.max_temp),
            fmt(r.min_temp),
        ));
    }
    let total: f64 = rows.iter().filter_map(|r| r.rainfall).sum();
    s.push_str(&format!("Totals:,,,{total:.1},,,,,,,\r\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn round_trip_and_blanks_stay_missing() {
        let rows = vec![
            DailyRow {
                date: d(2024, 9, 1),
                rainfall: Some(0.0),
                evaporation: Some(3.2),
                max_temp: Some(21.4),
                min_temp: Some(9.8),
            },
            DailyRow {
                date: d(2024, 9, 2),
                rainfall: Some(12.6),
                evaporation: None,
                max_temp: None,
                min_temp: Some(11.0),
            },
        ];
        let text = render("Sydney Airport AMO", "New South Wales", (2024, 9), &rows);
        assert_eq!(parse(text.as_bytes(), (2024, 9)).unwrap(), rows);
    }

    #[test]
    fn rejections() {
        let rows = [DailyRow {
            date: d(2024, 9, 1),
            rainfall: Some(1.0),
            evaporation: None,
            max_temp: Some(20.0),
            min_temp: Some(10.0),
        }];
        let text = render("X", "Victoria", (2024, 9), &rows);
        assert_eq!(parse(b"", (2024, 9)), Err(DailyError::Empty));
        assert_eq!(
            parse(b"<html></html>", (2024, 9)),
            Err(DailyError::NoHeader)
        );
        assert!(matches!(
            parse(text.as_bytes(), (2024, 10)),
            Err(DailyError::OutsideMonth { .. })
        ));
        let renamed = text.replace(",Rain,", ",Precipitation,");
        assert_eq!(
            parse(renamed.as_bytes(), (2024, 9)),
            Err(DailyError::HeaderChanged("Rain 0900-0900"))
        );
        let cut = text.split("01/09/2024,,1.0").next().unwrap().to_string() + "01/09/2024,,1.0";
        assert!(matches!(
            parse(cut.as_bytes(), (2024, 9)),
            Err(DailyError::FieldCount { .. })
        ));
        let bad = text.replace(",20.0,", ",n/a,");
        assert!(matches!(
            parse(bad.as_bytes(), (2024, 9)),
            Err(DailyError::NotANumber {
                column: "Maximum Temperature",
                ..
            })
        ));
    }
}
