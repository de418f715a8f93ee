//! The records of the FTP channel (issue 29), shared by the parsers
//! ([`crate::ingest::ftp`]), the assembly and the store: the fields of one
//! reading of a state observation product, a stored reading, a row of a
//! daily climate table, and an assembled day with the source of each field.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::obs::Observation;

/// A running extreme (`maximum_air_temperature`, `maximum_gust_kmh` …):
/// its value over `start..end` so far, reached at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extreme {
    pub value: f64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// The fields of one reading that raincast uses, in BOM's units (°C, %,
/// hPa, oktas, km/h, mm). Missing stays missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub air_temp: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dew_point: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_humidity: Option<f64>,
    /// Mean sea level pressure (`msl_pres`, else `pres`, which BOM gives
    /// reduced to sea level).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressure: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_oktas: Option<f64>,
    /// As BOM writes it: a compass point, or `CALM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wind_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wind_spd_kmh: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gust_kmh: Option<f64>,
    /// Rain since 9 am local (`rainfall`), and when that count started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rain_since_9am: Option<Extreme>,
    /// The 24 hours to 9 am (`rainfall_24hr`), ending at `end`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rain_24h: Option<Extreme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_temp: Option<Extreme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_temp: Option<Extreme>,
    /// The day's strongest gust so far (midnight to midnight), its
    /// direction in `max_gust_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gust_kmh: Option<Extreme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gust_dir: Option<String>,
}

/// One day of a daily table. Missing stays missing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyRow {
    pub date: NaiveDate,
    pub rainfall: Option<f64>,
    pub evaporation: Option<f64>,
    pub max_temp: Option<f64>,
    pub min_temp: Option<f64>,
}

/// One stored reading of a station.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReading {
    pub observed_at: DateTime<Utc>,
    pub product: String,
    pub fields: Fields,
}

/// An assembled day and where each of its fields came from (weatherAUS
/// field name → source).
#[derive(Debug, Clone, PartialEq)]
pub struct Assembled {
    pub obs: Observation,
    pub sources: Vec<(&'static str, String)>,
}

impl Assembled {
    pub fn source_of(&self, field: &str) -> Option<&str> {
        self.sources
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, s)| s.as_str())
    }
}
