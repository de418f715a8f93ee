//! Import of the Kaggle "Rain in Australia" CSV (`weatherAUS.csv`, plain or
//! gzipped). Every row is validated; a bad row is reported with its line
//! number and skipped, the rest are upserted in one transaction. A file that
//! is missing, empty, not CSV or has the wrong header is refused whole, and
//! nothing is written.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use crate::obs::{Compass, DIRS, Edge, NUMS, Observation};
use crate::stations;
use crate::store::{Store, StoreError, UpsertCounts};

/// The exact weatherAUS v2 header.
pub const HEADER: [&str; 23] = [
    "Date",
    "Location",
    "MinTemp",
    "MaxTemp",
    "Rainfall",
    "Evaporation",
    "Sunshine",
    "WindGustDir",
    "WindGustSpeed",
    "WindDir9am",
    "WindDir3pm",
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
    "RainToday",
    "RainTomorrow",
];

/// Column of each numeric field (in [`NUMS`] order) in [`HEADER`].
fn num_column(name: &str) -> usize {
    HEADER.iter().position(|h| *h == name).unwrap_or(usize::MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be imported at all: exit code 2, nothing written.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// 1-based line number in the (decompressed) file.
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub rows: u64,
    pub counts: UpsertCounts,
    pub rejected: Vec<Rejection>,
}

/// A file read and validated, not yet stored.
pub struct Parsed {
    pub observations: Vec<Observation>,
    pub rejected: Vec<Rejection>,
    pub source: String,
}

/// The Kaggle weatherAUS history (145,460 rows, 2007-11-01 to 2017-06-25),
/// bundled in the binary so that a new installation forecasts within
/// seconds, even offline. Provenance and terms: `data/README.md`.
pub const BUNDLED_GZ: &[u8] = include_bytes!("../../data/weatherAUS.csv.gz");

/// Parse the bundled history (see [`BUNDLED_GZ`]).
pub fn load_bundled() -> Result<Parsed, ImportError> {
    let bytes = gunzip(BUNDLED_GZ, "the bundled weatherAUS history")?;
    let (observations, rejected) = parse(&bytes)?;
    Ok(Parsed {
        observations,
        rejected,
        source: "weatherAUS:bundled".into(),
    })
}

/// Read and validate a file; a row dated after `latest` (today, give or
/// take the time zones) is rejected: observations cannot come from the
/// future. Nothing is written: whole-file errors leave the database (and
/// whether it exists at all) untouched.
pub fn load(path: &Path, latest: Option<NaiveDate>) -> Result<Parsed, ImportError> {
    let bytes = read_maybe_gz(path)?;
    let (observations, rejected) = parse_until(&bytes, latest)?;
    let source = format!(
        "weatherAUS:{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    Ok(Parsed {
        observations,
        rejected,
        source,
    })
}

/// Upsert the valid rows in one transaction. `progress(done, total)` is
/// called as rows are written.
pub fn store(
    store: &Store,
    parsed: Parsed,
    progress: &dyn Fn(u64, u64),
) -> Result<ImportReport, ImportError> {
    let total = parsed.observations.len() as u64;
    let mut counts = UpsertCounts::default();
    let now = store.now_text();
    store.write(|tx| {
        let mut done = 0u64;
        for chunk in parsed.observations.chunks(8192) {
            counts += crate::store::upsert_in(tx, chunk, &parsed.source, &now)?;
            done += chunk.len() as u64;
            progress(done, total);
        }
        Ok(())
    })?;
    store.note_changed(counts.changed_from);
    Ok(ImportReport {
        rows: total + parsed.rejected.len() as u64,
        counts,
        rejected: parsed.rejected,
    })
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, ImportError> {
    let raw = std::fs::read(path)
        .map_err(|e| ImportError::Input(format!("cannot read {}: {e}", path.display())))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        gunzip(&raw, &path.display().to_string())
    } else {
        Ok(raw)
    }
}

fn gunzip(raw: &[u8], name: &str) -> Result<Vec<u8>, ImportError> {
    let mut out = Vec::with_capacity(raw.len() * 4);
    flate2::read::MultiGzDecoder::new(raw)
        .read_to_end(&mut out)
        .map_err(|e| ImportError::Input(format!("{name} is not a valid gzip file: {e}")))?;
    Ok(out)
}

/// Validate the header, then every row. Returns the good rows and the rejections.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Observation>, Vec<Rejection>), ImportError> {
    parse_until(bytes, None)
}

/// [`parse`], rejecting rows dated after `latest`.
pub fn parse_until(
    bytes: &[u8],
    latest: Option<NaiveDate>,
) -> Result<(Vec<Observation>, Vec<Rejection>), ImportError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ImportError::Input("the file is empty".into()));
    }
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first_line = String::from_utf8_lossy(first_line);
    let found: Vec<&str> = first_line.trim_end_matches('\r').split(',').collect();
    if found != HEADER {
        let shown: String = first_line.chars().take(80).collect();
        return Err(ImportError::Input(
            if first_line.contains('\u{fffd}') || !first_line.contains(',') {
                "not a weatherAUS CSV file: the first line is not a CSV header".to_string()
            } else {
                format!(
                    "wrong header: expected the 23 weatherAUS columns `Date,Location,MinTemp,…,RainTomorrow`, found `{shown}`"
                )
            },
        ));
    }

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let mut good = Vec::with_capacity(bytes.len() / 100);
    let mut rejected = Vec::new();
    let mut seen: HashMap<(&'static str, NaiveDate), u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    let num_cols: Vec<usize> = NUMS.iter().map(|s| num_column(s.name)).collect();
    let dir_cols: Vec<usize> = DIRS.iter().map(|(_, n, _)| num_column(n)).collect();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                rejected.push(Rejection {
                    line,
                    reason: format!("unreadable CSV: {e}"),
                });
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        match parse_row(&record, &num_cols, &dir_cols) {
            Ok(o) if latest.is_some_and(|l| o.date > l) => rejected.push(Rejection {
                line,
                reason: format!(
                    "Date {} is in the future (it is {} in eastern Australia): observations \
                     cannot come from days that have not begun",
                    o.date,
                    latest.map_or(o.date, |l| l - chrono::Days::new(1))
                ),
            }),
            Ok(o) => {
                if let Some(first) = seen.insert((o.location, o.date), line) {
                    rejected.push(Rejection {
                        line,
                        reason: format!("duplicate of line {first} ({} on {})", o.location, o.date),
                    });
                } else {
                    good.push(o);
                }
            }
            Err(reason) => rejected.push(Rejection { line, reason }),
        }
    }
    Ok((good, rejected))
}

fn parse_row(
    record: &csv::ByteRecord,
    num_cols: &[usize],
    dir_cols: &[usize],
) -> Result<Observation, String> {
    if record.len() != HEADER.len() {
        return Err(format!(
            "expected {} fields, found {} (truncated or malformed line)",
            HEADER.len(),
            record.len()
        ));
    }
    let field = |i: usize| -> Result<&str, String> {
        std::str::from_utf8(&record[i]).map_err(|_| format!("{} is not valid text", HEADER[i]))
    };
    let date_text = field(0)?;
    let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d")
        .map_err(|_| format!("Date `{date_text}` is not a real YYYY-MM-DD date"))?;
    let location_text = field(1)?;
    let location = stations::STATIONS
        .iter()
        .find(|s| s.location == location_text)
        .ok_or_else(|| format!("Location `{location_text}` is not one of the 49 known locations"))?
        .location;
    let mut o = Observation::empty(location, date);
    for (spec, &col) in NUMS.iter().zip(num_cols) {
        let text = field(col)?;
        if text == "NA" {
            continue;
        }
        let v: f64 = text
            .parse()
            .map_err(|_| format!("{} `{text}` is not a number or NA", spec.name))?;
        o.nums[spec.field as usize] =
            Some(spec.check(v, Edge::WeatherAus).map_err(|e| e.to_string())?);
    }
    for (i, &col) in dir_cols.iter().enumerate() {
        let text = field(col)?;
        if text != "NA" {
            o.dirs[i] = Some(
                text.parse::<Compass>()
                    .map_err(|e| format!("{}: {e}", DIRS[i].1))?,
            );
        }
    }
    let flag = |i: usize| -> Result<Option<bool>, String> {
        match field(i)? {
            "Yes" => Ok(Some(true)),
            "No" => Ok(Some(false)),
            "NA" => Ok(None),
            other => Err(format!("{} `{other}` is not Yes, No or NA", HEADER[i])),
        }
    };
    o.rain_today = flag(21)?;
    o.rain_tomorrow = flag(22)?;
    if o.rain_today != o.derived_rain_today() {
        return Err(format!(
            "RainToday {} contradicts Rainfall {} (a rain day is Rainfall > 1.0 mm)",
            field(21)?,
            field(4)?
        ));
    }
    Ok(o)
}

/// On an empty database, load the weatherAUS history bundled in the binary.
pub fn load_bundled_into(db: &Store) -> anyhow::Result<()> {
    if db.count_observations()? > 0 {
        return Ok(());
    }
    tracing::info!(
        "empty database: loading the bundled weatherAUS history (2007-11 to 2017-06; \
         set database.bundled_history = false to start from BOM data alone)"
    );
    let started = std::time::Instant::now();
    let parsed = load_bundled().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let report = store(db, parsed, &|_, _| {}).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    tracing::info!(
        rows = report.counts.inserted,
        secs = started.elapsed().as_secs_f64(),
        "bundled history loaded; BOM's recent months are added on top"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "Date,Location,MinTemp,MaxTemp,Rainfall,Evaporation,Sunshine,WindGustDir,WindGustSpeed,WindDir9am,WindDir3pm,WindSpeed9am,WindSpeed3pm,Humidity9am,Humidity3pm,Pressure9am,Pressure3pm,Cloud9am,Cloud3pm,Temp9am,Temp3pm,RainToday,RainTomorrow";
    const ROW: &str = "2008-12-01,Albury,13.4,22.9,0.6,NA,NA,W,44,W,WNW,20,24,71,22,1007.7,1007.1,8,NA,16.9,21.8,No,No";

    fn parse_str(s: &str) -> Result<(Vec<Observation>, Vec<Rejection>), ImportError> {
        parse(s.as_bytes())
    }

    #[test]
    fn parses_a_good_row_exactly() {
        let (good, bad) = parse_str(&format!("{H}\n{ROW}\n")).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        let o = &good[0];
        assert_eq!(o.location, "Albury");
        assert_eq!(o.get(crate::obs::Num::Pressure9am), Some(1007.7));
        assert_eq!(o.get(crate::obs::Num::Evaporation), None);
        assert_eq!(o.dirs[0], Some(Compass::W));
        assert_eq!(o.rain_today, Some(false));
    }

    #[test]
    fn each_bad_row_gets_a_reason() {
        let cases = [
            (ROW.replace("Albury", "Atlantis"), "Location"),
            (ROW.replace("2008-12-01", "2008-02-30"), "Date"),
            (ROW.replace(",71,", ",171,"), "Humidity9am"),
            (ROW.replace(",22.9,", ",hot,"), "MaxTemp"),
            (ROW.replace(",WNW,", ",NORTH,"), "WindDir3pm"),
            (ROW.replace(",No,No", ",Yes,No"), "RainToday"),
            (ROW.replace(",No,No", ",No,Maybe"), "RainTomorrow"),
            (ROW[..40].to_string(), "expected 23 fields"),
        ];
        for (row, want) in cases {
            let (good, bad) = parse_str(&format!("{H}\n{row}\n{ROW}\n")).unwrap();
            assert_eq!(good.len(), 1, "{row}");
            assert_eq!(bad.len(), 1, "{row}");
            assert_eq!(bad[0].line, 2);
            assert!(bad[0].reason.contains(want), "{}: {}", want, bad[0].reason);
        }
    }

    #[test]
    fn whole_file_errors() {
        assert!(matches!(parse_str(""), Err(ImportError::Input(m)) if m.contains("empty")));
        assert!(
            matches!(parse_str("a,b\n1,2\n"), Err(ImportError::Input(m)) if m.contains("wrong header"))
        );
        assert!(
            matches!(parse(&[0u8, 159, 146, 150, 1, 2]), Err(ImportError::Input(m)) if m.contains("not a weatherAUS CSV"))
        );
    }

    #[test]
    fn duplicates_are_rejected() {
        let (good, bad) = parse_str(&format!("{H}\n{ROW}\n{ROW}\n")).unwrap();
        assert_eq!(good.len(), 1);
        assert!(bad[0].reason.contains("duplicate of line 2"));
    }
}
