//! Parse, don't validate: a posted observation is deserialized into
//! [`PredictInput`] (unknown fields and wrong types are refused by serde,
//! with the JSON path of the field from `serde_path_to_error`), then turned
//! into an [`Observation`] by `TryFrom`, which checks what serde cannot: the
//! station, the calendar date, the physical ranges (the one table,
//! [`NUMS`], at [`Edge::Api`]) and that `RainToday` agrees with `Rainfall`.
//! The OpenAPI schema is derived from the same type, and its ranges and
//! enumerations come from the same tables, so the document cannot drift
//! from what is accepted.
//!
//! Also the API's date rule ([`parse_date`]), shared with the forecast's
//! `?date=` parameter.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

use crate::obs::{Compass, Edge, NUMS, Num, Observation};
use crate::stations;

/// A client's mistake in an input, with the field it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.field())]
pub struct InputError {
    /// The JSON path inside one item (`Humidity9am`); empty for the item
    /// itself.
    pub path: String,
    pub message: String,
}

impl InputError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The field as the API names it: the path, or `body` for the whole body.
    pub fn field(&self) -> String {
        self.field_in(None)
    }

    /// The field as the API names it when the item is `index` in a batch:
    /// `[3].Humidity9am`, or `[3]` for the item itself.
    pub fn field_in(&self, index: Option<usize>) -> String {
        match (index, self.path.is_empty()) {
            (None, true) => "body".into(),
            (None, false) => self.path.clone(),
            (Some(i), true) => format!("[{i}]"),
            (Some(i), false) => format!("[{i}].{}", self.path),
        }
    }
}

/// The earliest date the API takes: the first year of weatherAUS, the oldest
/// data raincast knows.
pub const FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2007, 1, 1) {
    Some(d) => d,
    None => panic!("2007-01-01 is a date"),
};

/// How many days after today (UTC, by the injectable clock) a date may be:
/// eastern Australia is up to 11 hours ahead of UTC, so its today can be
/// UTC's tomorrow; one more day of slack for a client's clock.
pub const FUTURE_DAYS: u64 = 2;

/// The latest date the API takes on `today`.
pub fn last_date(today: NaiveDate) -> NaiveDate {
    today
        .checked_add_days(chrono::Days::new(FUTURE_DAYS))
        .unwrap_or(today)
}

/// A calendar date in exactly `YYYY-MM-DD` form. Extreme years
/// (`+262142-12-31`) never reach the date arithmetic of the forecast, where
/// they would overflow.
fn calendar_date(field: &str, s: &str) -> Result<NaiveDate, InputError> {
    let shown: String = s.chars().take(40).collect();
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            InputError::new(
                field,
                format!("`{shown}` is not a YYYY-MM-DD calendar date"),
            )
        })
}

/// `date` when it is from [`FIRST_DATE`] to [`last_date`] of `today`.
pub fn check_date_span(
    field: &str,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<NaiveDate, InputError> {
    let last = last_date(today);
    if !(FIRST_DATE..=last).contains(&date) {
        return Err(InputError::new(
            field,
            format!("{date} is outside the dates raincast answers for, {FIRST_DATE} to {last}"),
        ));
    }
    Ok(date)
}

/// A plausible calendar date in exactly `YYYY-MM-DD` form, from
/// [`FIRST_DATE`] to [`last_date`]; anything else is an error naming `field`.
/// Years like 0 or 9999 are refused as implausible.
pub fn parse_date(field: &str, s: &str, today: NaiveDate) -> Result<NaiveDate, InputError> {
    check_date_span(field, calendar_date(field, s)?, today)
}

/// `Yes` or `No`, as weatherAUS writes `RainToday`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum YesNo {
    Yes,
    No,
}

/// One observation posted to `POST /api/v1/predict`, in weatherAUS field
/// names. Every field is optional for serde so that a missing `Location` or
/// `Date` gets its own message naming it; the schema marks both required.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    description = "One observation in weatherAUS field names. `Location` and `Date` are required; every other field may be left out or null (missing)."
)]
pub struct PredictInput {
    #[serde(rename = "Location")]
    #[schema(schema_with = location_schema, required = true)]
    pub location: Option<String>,
    #[serde(rename = "Date")]
    #[schema(schema_with = date_schema, required = true)]
    pub date: Option<String>,
    #[serde(rename = "MinTemp")]
    #[schema(schema_with = num_schema::<{ Num::MinTemp as usize }>)]
    pub min_temp: Option<f64>,
    #[serde(rename = "MaxTemp")]
    #[schema(schema_with = num_schema::<{ Num::MaxTemp as usize }>)]
    pub max_temp: Option<f64>,
    #[serde(rename = "Rainfall")]
    #[schema(schema_with = num_schema::<{ Num::Rainfall as usize }>)]
    pub rainfall: Option<f64>,
    #[serde(rename = "Evaporation")]
    #[schema(schema_with = num_schema::<{ Num::Evaporation as usize }>)]
    pub evaporation: Option<f64>,
    #[serde(rename = "Sunshine")]
    #[schema(schema_with = num_schema::<{ Num::Sunshine as usize }>)]
    pub sunshine: Option<f64>,
    #[serde(rename = "WindGustDir")]
    #[schema(schema_with = compass_schema)]
    pub wind_gust_dir: Option<Compass>,
    #[serde(rename = "WindGustSpeed")]
    #[schema(schema_with = num_schema::<{ Num::WindGustSpeed as usize }>)]
    pub wind_gust_speed: Option<f64>,
    #[serde(rename = "WindDir9am")]
    #[schema(schema_with = compass_schema)]
    pub wind_dir_9am: Option<Compass>,
    #[serde(rename = "WindDir3pm")]
    #[schema(schema_with = compass_schema)]
    pub wind_dir_3pm: Option<Compass>,
    #[serde(rename = "WindSpeed9am")]
    #[schema(schema_with = num_schema::<{ Num::WindSpeed9am as usize }>)]
    pub wind_speed_9am: Option<f64>,
    #[serde(rename = "WindSpeed3pm")]
    #[schema(schema_with = num_schema::<{ Num::WindSpeed3pm as usize }>)]
    pub wind_speed_3pm: Option<f64>,
    #[serde(rename = "Humidity9am")]
    #[schema(schema_with = num_schema::<{ Num::Humidity9am as usize }>)]
    pub humidity_9am: Option<f64>,
    #[serde(rename = "Humidity3pm")]
    #[schema(schema_with = num_schema::<{ Num::Humidity3pm as usize }>)]
    pub humidity_3pm: Option<f64>,
    #[serde(rename = "Pressure9am")]
    #[schema(schema_with = num_schema::<{ Num::Pressure9am as usize }>)]
    pub pressure_9am: Option<f64>,
    #[serde(rename = "Pressure3pm")]
    #[schema(schema_with = num_schema::<{ Num::Pressure3pm as usize }>)]
    pub pressure_3pm: Option<f64>,
    #[serde(rename = "Cloud9am")]
    #[schema(schema_with = num_schema::<{ Num::Cloud9am as usize }>)]
    pub cloud_9am: Option<f64>,
    #[serde(rename = "Cloud3pm")]
    #[schema(schema_with = num_schema::<{ Num::Cloud3pm as usize }>)]
    pub cloud_3pm: Option<f64>,
    #[serde(rename = "Temp9am")]
    #[schema(schema_with = num_schema::<{ Num::Temp9am as usize }>)]
    pub temp_9am: Option<f64>,
    #[serde(rename = "Temp3pm")]
    #[schema(schema_with = num_schema::<{ Num::Temp3pm as usize }>)]
    pub temp_3pm: Option<f64>,
    #[serde(rename = "RainToday")]
    #[schema(schema_with = rain_today_schema)]
    pub rain_today: Option<YesNo>,
}

impl PredictInput {
    /// The numbers in [`NUMS`] order (a test checks each against its name).
    fn nums(&self) -> [Option<f64>; 16] {
        [
            self.min_temp,
            self.max_temp,
            self.rainfall,
            self.evaporation,
            self.sunshine,
            self.wind_gust_speed,
            self.wind_speed_9am,
            self.wind_speed_3pm,
            self.humidity_9am,
            self.humidity_3pm,
            self.pressure_9am,
            self.pressure_3pm,
            self.cloud_9am,
            self.cloud_3pm,
            self.temp_9am,
            self.temp_3pm,
        ]
    }

    /// The wind directions in [`DIRS`](crate::obs::DIRS) order.
    fn dirs(&self) -> [Option<Compass>; 3] {
        [self.wind_gust_dir, self.wind_dir_9am, self.wind_dir_3pm]
    }

    /// Parse one JSON item: serde for the shape (unknown fields, types),
    /// with the failing field's path, then [`Observation::try_from`].
    pub fn parse(item: Value) -> Result<Self, InputError> {
        serde_path_to_error::deserialize(item).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let message = e.into_inner().to_string();
            InputError::new(path, message)
        })
    }
}

/// One posted observation, parsed and checked against `today` (dates up to
/// [`last_date`] are taken).
pub fn observation(item: Value, today: NaiveDate) -> Result<Observation, InputError> {
    let o = Observation::try_from(PredictInput::parse(item)?)?;
    check_date_span("Date", o.date, today)?;
    Ok(o)
}

impl TryFrom<PredictInput> for Observation {
    type Error = InputError;

    /// Everything but the date's upper bound, which depends on the clock
    /// (see [`observation`]).
    fn try_from(i: PredictInput) -> Result<Self, InputError> {
        let location = i
            .location
            .as_deref()
            .ok_or_else(|| InputError::new("Location", "is required"))?;
        let st = stations::by_location(location)
            .ok_or_else(|| InputError::new("Location", format!("unknown location `{location}`")))?;
        let date = i
            .date
            .as_deref()
            .ok_or_else(|| InputError::new("Date", "is required (YYYY-MM-DD)"))?;
        let date = calendar_date("Date", date)?;
        if date < FIRST_DATE {
            return Err(InputError::new(
                "Date",
                format!("{date} is before {FIRST_DATE}, the first day raincast answers for"),
            ));
        }
        let mut o = Observation::empty(st.location, date);
        for (spec, v) in NUMS.iter().zip(i.nums()) {
            if let Some(v) = v {
                let v = spec
                    .check(v, Edge::Api)
                    .map_err(|e| InputError::new(spec.name, e.to_string()))?;
                o.set(spec.field, Some(v));
            }
        }
        o.dirs = i.dirs();
        o.rain_today = match i.rain_today {
            None => o.derived_rain_today(),
            Some(YesNo::Yes) => Some(true),
            Some(YesNo::No) => Some(false),
        };
        if o.rain_today.is_some()
            && o.derived_rain_today().is_some()
            && o.rain_today != o.derived_rain_today()
        {
            return Err(InputError::new(
                "RainToday",
                "contradicts Rainfall (a rain day is Rainfall > 1.0 mm)",
            ));
        }
        Ok(o)
    }
}

/// A schema type that may also be `null`.
fn nullable(t: Type) -> SchemaType {
    SchemaType::from_iter([t, Type::Null])
}

/// The location names, as a schema (`enum` of the 49 stations).
pub fn location_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(stations::STATIONS.iter().map(|s| s.location)))
        .examples([serde_json::json!("Sydney")])
        .build()
}

/// A date the API takes: `YYYY-MM-DD`, from 2007 on (the upper bound, a few
/// days after today, is in the description: a static schema cannot follow
/// the clock; the served document makes the pattern exact for today).
pub fn date_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .pattern(Some(DATE_PATTERN))
        .description(Some(format!(
            "A calendar date, YYYY-MM-DD, from {FIRST_DATE} to {FUTURE_DAYS} days after today (UTC)."
        )))
        .examples([serde_json::json!("2017-06-24")])
        .build()
}

/// `YYYY-MM-DD`, a real calendar date (29 February only in leap years) of
/// a year from 2007 to 2099.
pub const DATE_PATTERN: &str = concat!(
    "^20(0[7-9]|[1-9][0-9])-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])",
    "|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)$",
    "|^20(08|[13579][26]|[2468][048])-02-29$"
);

/// The schema of the numeric field `NUMS[N]`: its range at [`Edge::Api`].
fn num_schema<const N: usize>() -> Object {
    let spec = &NUMS[N];
    let range = spec.range(Edge::Api);
    let (min, max) = (*range.start(), *range.end());
    ObjectBuilder::new()
        .schema_type(nullable(Type::Number))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(format!("{min} to {max} {}", spec.unit)))
        .build()
}

fn compass_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(nullable(Type::String))
        .enum_values(Some(
            Compass::ALL.iter().map(|c| Some(c.as_str())).chain([None]),
        ))
        .description(Some("One of the 16 compass points, N … NNW."))
        .build()
}

fn rain_today_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(nullable(Type::String))
        .enum_values(Some([Some("Yes"), Some("No"), None]))
        .description(Some(
            "`Yes` or `No`; derived from Rainfall (> 1.0 mm) when left out, and must agree with it when both are given.",
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obs::DIRS;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2017, 6, 26).unwrap()
    }

    fn err(v: Value) -> InputError {
        observation(v, today()).unwrap_err()
    }

    /// Each number lands in its own field, and each direction in its own.
    #[test]
    fn every_field_lands_where_its_name_says() {
        let mut v = json!({"Location": "Sydney", "Date": "2017-06-20"});
        for (i, spec) in NUMS.iter().enumerate() {
            // In every field's range, and distinct.
            v[spec.name] = json!(spec.min + 0.5 + i as f64 / 100.0);
        }
        for (i, (_, name, _)) in DIRS.iter().enumerate() {
            v[*name] = json!(Compass::ALL[i + 1].as_str());
        }
        v["RainToday"] = json!("No");
        let o = observation(v, today()).unwrap();
        for (i, spec) in NUMS.iter().enumerate() {
            assert_eq!(
                o.nums[i],
                Some(spec.min + 0.5 + i as f64 / 100.0),
                "{}",
                spec.name
            );
        }
        for (i, (_, name, _)) in DIRS.iter().enumerate() {
            assert_eq!(o.dirs[i], Some(Compass::ALL[i + 1]), "{name}");
        }
        for c in Compass::ALL {
            assert_eq!(
                serde_json::from_value::<Compass>(json!(c.as_str())).unwrap(),
                c
            );
        }
    }

    #[test]
    fn errors_name_the_field() {
        let base = || json!({"Location": "Sydney", "Date": "2017-06-20"});
        let with = |k: &str, x: Value| {
            let mut v = base();
            v[k] = x;
            v
        };
        for (v, path) in [
            (with("Humidity", json!(50)), "Humidity"),
            (with("Humidity9am", json!("high")), "Humidity9am"),
            (with("Humidity9am", json!(101)), "Humidity9am"),
            (with("Cloud3pm", json!(9)), "Cloud3pm"),
            (with("WindDir9am", json!(3)), "WindDir9am"),
            (with("WindDir9am", json!("n")), "WindDir9am"),
            (with("RainToday", json!(true)), "RainToday"),
            (with("Location", json!(12)), "Location"),
            (with("Location", json!("Atlantis")), "Location"),
            (with("Location", Value::Null), "Location"),
            (with("Date", json!("2017-06-29")), "Date"),
            (with("Date", json!("2006-12-31")), "Date"),
            (json!({"Date": "2017-06-20"}), "Location"),
            (json!(42), ""),
        ] {
            assert_eq!(err(v.clone()).path, path, "{v}");
        }
        let e = err(with("Humidity9am", json!(101)));
        assert_eq!(e.message, "Humidity9am = 101 is outside 0..=100 %");
        assert_eq!(e.field_in(Some(3)), "[3].Humidity9am");
        assert_eq!(err(json!(42)).field_in(Some(1)), "[1]");
        assert_eq!(err(json!(42)).field(), "body");
        assert!(
            err(with("Humidity", json!(50)))
                .message
                .contains("unknown field `Humidity`")
        );
    }

    #[test]
    fn the_schema_documents_exactly_the_fields_serde_takes() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(PredictInput::schema()).unwrap();
        let props = schema["properties"].as_object().unwrap();
        let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut want: Vec<&str> = ["Location", "Date", "RainToday"]
            .into_iter()
            .chain(NUMS.iter().map(|s| s.name))
            .chain(DIRS.iter().map(|d| d.1))
            .collect();
        want.sort_unstable();
        assert_eq!(names, want);
        assert_eq!(schema["additionalProperties"], json!(false), "{schema}");
        assert_eq!(schema["required"], json!(["Location", "Date"]), "{schema}");
        assert_eq!(
            schema["properties"]["Cloud9am"]["maximum"].as_f64(),
            Some(8.0)
        );
        // Every documented field is one serde takes: the optional ones may
        // be null, and the two required ones are refused when null.
        for name in names {
            let mut v = json!({"Location": "Sydney", "Date": "2017-06-20"});
            v[name] = Value::Null;
            let required = name == "Location" || name == "Date";
            assert_eq!(observation(v, today()).is_ok(), !required, "{name}");
        }
    }
}
