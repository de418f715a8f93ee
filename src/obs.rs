//! The domain type of one day's observation at one station, in weatherAUS's
//! terms, with the one table of physical ranges every source (the DWO parser, the
//! weatherAUS import, the API) is checked against.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Rain above this many mm makes a "rain day" (`RainToday = Yes`). Strictly
/// greater: 1.0 mm is "No", as in weatherAUS.
pub const RAIN_DAY_MM: f64 = 1.0;

/// The 16 numeric observations, in weatherAUS column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Num {
    MinTemp,
    MaxTemp,
    Rainfall,
    Evaporation,
    Sunshine,
    WindGustSpeed,
    WindSpeed9am,
    WindSpeed3pm,
    Humidity9am,
    Humidity3pm,
    Pressure9am,
    Pressure3pm,
    Cloud9am,
    Cloud3pm,
    Temp9am,
    Temp3pm,
}

/// The numeric fields with their weatherAUS name, SQL column and accepted range.
pub struct NumSpec {
    pub field: Num,
    pub name: &'static str,
    pub column: &'static str,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
}

const fn spec(
    field: Num,
    name: &'static str,
    column: &'static str,
    min: f64,
    max: f64,
    unit: &'static str,
) -> NumSpec {
    NumSpec {
        field,
        name,
        column,
        min,
        max,
        unit,
    }
}

/// Physical ranges are wide enough for every Australian record (and BOM's
/// cloud code 9, "sky obscured"), narrow enough to catch unit and typing errors.
pub static NUMS: [NumSpec; 16] = [
    spec(Num::MinTemp, "MinTemp", "min_temp", -40.0, 60.0, "°C"),
    spec(Num::MaxTemp, "MaxTemp", "max_temp", -40.0, 60.0, "°C"),
    spec(Num::Rainfall, "Rainfall", "rainfall", 0.0, 1000.0, "mm"),
    spec(
        Num::Evaporation,
        "Evaporation",
        "evaporation",
        0.0,
        250.0,
        "mm",
    ),
    spec(Num::Sunshine, "Sunshine", "sunshine", 0.0, 16.0, "h"),
    spec(
        Num::WindGustSpeed,
        "WindGustSpeed",
        "wind_gust_speed",
        0.0,
        400.0,
        "km/h",
    ),
    spec(
        Num::WindSpeed9am,
        "WindSpeed9am",
        "wind_speed_9am",
        0.0,
        300.0,
        "km/h",
    ),
    spec(
        Num::WindSpeed3pm,
        "WindSpeed3pm",
        "wind_speed_3pm",
        0.0,
        300.0,
        "km/h",
    ),
    spec(
        Num::Humidity9am,
        "Humidity9am",
        "humidity_9am",
        0.0,
        100.0,
        "%",
    ),
    spec(
        Num::Humidity3pm,
        "Humidity3pm",
        "humidity_3pm",
        0.0,
        100.0,
        "%",
    ),
    spec(
        Num::Pressure9am,
        "Pressure9am",
        "pressure_9am",
        870.0,
        1090.0,
        "hPa",
    ),
    spec(
        Num::Pressure3pm,
        "Pressure3pm",
        "pressure_3pm",
        870.0,
        1090.0,
        "hPa",
    ),
    spec(Num::Cloud9am, "Cloud9am", "cloud_9am", 0.0, 9.0, "oktas"),
    spec(Num::Cloud3pm, "Cloud3pm", "cloud_3pm", 0.0, 9.0, "oktas"),
    spec(Num::Temp9am, "Temp9am", "temp_9am", -40.0, 60.0, "°C"),
    spec(Num::Temp3pm, "Temp3pm", "temp_3pm", -40.0, 60.0, "°C"),
];

/// The three wind directions, in weatherAUS column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    WindGustDir,
    WindDir9am,
    WindDir3pm,
}

pub static DIRS: [(Dir, &str, &str); 3] = [
    (Dir::WindGustDir, "WindGustDir", "wind_gust_dir"),
    (Dir::WindDir9am, "WindDir9am", "wind_dir_9am"),
    (Dir::WindDir3pm, "WindDir3pm", "wind_dir_3pm"),
];

/// One of the 16 compass points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compass {
    N,
    NNE,
    NE,
    ENE,
    E,
    ESE,
    SE,
    SSE,
    S,
    SSW,
    SW,
    WSW,
    W,
    WNW,
    NW,
    NNW,
}

impl Compass {
    pub const ALL: [Compass; 16] = [
        Compass::N,
        Compass::NNE,
        Compass::NE,
        Compass::ENE,
        Compass::E,
        Compass::ESE,
        Compass::SE,
        Compass::SSE,
        Compass::S,
        Compass::SSW,
        Compass::SW,
        Compass::WSW,
        Compass::W,
        Compass::WNW,
        Compass::NW,
        Compass::NNW,
    ];

    pub fn as_str(self) -> &'static str {
        const NAMES: [&str; 16] = [
            "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW",
            "NW", "NNW",
        ];
        NAMES[self as usize]
    }

    /// Bearing in degrees clockwise from north.
    pub fn degrees(self) -> f64 {
        self as usize as f64 * 22.5
    }
}

impl fmt::Display for Compass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not one of the 16 compass points (N, NNE, … NNW)"))
    }
}

/// One day at one station. Missing values are `None`, never guessed.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub location: &'static str,
    pub date: NaiveDate,
    pub nums: [Option<f64>; 16],
    pub dirs: [Option<Compass>; 3],
    pub rain_today: Option<bool>,
    pub rain_tomorrow: Option<bool>,
}

impl Observation {
    pub fn empty(location: &'static str, date: NaiveDate) -> Self {
        Self {
            location,
            date,
            nums: [None; 16],
            dirs: [None; 3],
            rain_today: None,
            rain_tomorrow: None,
        }
    }

    pub fn get(&self, n: Num) -> Option<f64> {
        self.nums[n as usize]
    }

    pub fn set(&mut self, n: Num, v: Option<f64>) {
        self.nums[n as usize] = v;
    }

    pub fn dir(&self, d: Dir) -> Option<Compass> {
        self.dirs[d as usize]
    }

    /// `RainToday` as weatherAUS derives it from the rainfall.
    pub fn derived_rain_today(&self) -> Option<bool> {
        self.get(Num::Rainfall).map(|mm| mm > RAIN_DAY_MM)
    }
}

/// Where an observation enters raincast. Every edge checks numbers against
/// the one table, [`NUMS`]; what an edge does with a value outside it is its
/// own: the DWO parser stores it as missing and counts it, the weatherAUS
/// import rejects the row, the API answers 422.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// BOM's Daily Weather Observations (the scraper).
    Dwo,
    /// BOM's anonymous FTP products (readings and daily tables, assembled).
    Ftp,
    /// The Kaggle weatherAUS CSV (the CLI import and the bundled history).
    WeatherAus,
    /// An observation posted to `POST /api/v1/predict`.
    Api,
}

/// A number outside its field's physical range (or not a number at all).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RangeError {
    #[error("{name} is not a finite number")]
    NotFinite { name: &'static str },
    #[error("{name} = {value} is outside {min}..={max} {unit}")]
    Outside {
        name: &'static str,
        value: f64,
        min: f64,
        max: f64,
        unit: &'static str,
    },
}

impl NumSpec {
    /// The accepted range at `edge`. The table's cloud range includes BOM's
    /// code 9 ("sky obscured"), which stored data carries; a posted
    /// observation takes only the 0–8 oktas of a visible sky.
    pub fn range(&self, edge: Edge) -> std::ops::RangeInclusive<f64> {
        let max = if edge == Edge::Api && self.unit == "oktas" {
            8.0
        } else {
            self.max
        };
        self.min..=max
    }

    /// `v` when it is finite and inside [`NumSpec::range`] at `edge`.
    pub fn check(&self, v: f64, edge: Edge) -> Result<f64, RangeError> {
        let range = self.range(edge);
        if !v.is_finite() {
            return Err(RangeError::NotFinite { name: self.name });
        }
        if !range.contains(&v) {
            return Err(RangeError::Outside {
                name: self.name,
                value: v,
                min: *range.start(),
                max: *range.end(),
                unit: self.unit,
            });
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compass_round_trip_and_bearing() {
        for c in Compass::ALL {
            assert_eq!(c.as_str().parse::<Compass>().unwrap(), c);
        }
        assert_eq!(Compass::E.degrees(), 90.0);
        assert_eq!(Compass::NNW.degrees(), 337.5);
        assert!("NORTH".parse::<Compass>().is_err());
        assert!("".parse::<Compass>().is_err());
    }

    #[test]
    fn specs_are_in_enum_order() {
        for (i, s) in NUMS.iter().enumerate() {
            assert_eq!(s.field as usize, i, "{}", s.name);
        }
        for (i, (d, _, _)) in DIRS.iter().enumerate() {
            assert_eq!(*d as usize, i);
        }
    }

    #[test]
    fn ranges() {
        let hum = &NUMS[Num::Humidity3pm as usize];
        for edge in [Edge::Dwo, Edge::WeatherAus, Edge::Api] {
            assert_eq!(hum.check(100.0, edge), Ok(100.0));
            let err = hum.check(100.5, edge).unwrap_err().to_string();
            assert_eq!(err, "Humidity3pm = 100.5 is outside 0..=100 %");
            assert!(hum.check(f64::NAN, edge).is_err());
        }
        // Cloud code 9 ("sky obscured") is stored data, but not a posted value.
        let cloud = &NUMS[Num::Cloud9am as usize];
        assert_eq!(cloud.check(9.0, Edge::Dwo), Ok(9.0));
        assert_eq!(cloud.check(9.0, Edge::WeatherAus), Ok(9.0));
        assert!(cloud.check(9.0, Edge::Api).is_err());
        assert_eq!(cloud.check(8.0, Edge::Api), Ok(8.0));
    }

    #[test]
    fn rain_day_is_strictly_above_one_mm() {
        let mut o = Observation::empty("Sydney", NaiveDate::from_ymd_opt(2020, 1, 1).unwrap());
        assert_eq!(o.derived_rain_today(), None);
        o.set(Num::Rainfall, Some(1.0));
        assert_eq!(o.derived_rain_today(), Some(false));
        o.set(Num::Rainfall, Some(1.1));
        assert_eq!(o.derived_rain_today(), Some(true));
    }
}
