//! The precise parts of the served OpenAPI document, and the API's date
//! rule. The schema is built from the same tables the validation uses (the
//! stations, [`NUMS`], [`DIRS`]), and the date pattern is computed for the
//! injectable clock's today, so that a request is valid by the schema
//! exactly when the API accepts it (Schemathesis checks both ways).

use chrono::NaiveDate;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use super::api::{ApiDoc, MAX_BATCH};
use super::error::ApiError;
use crate::obs::{Compass, DIRS, NUMS};
use crate::stations;

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

/// A plausible calendar date in exactly `YYYY-MM-DD` form, from
/// [`FIRST_DATE`] to [`last_date`]; anything else is a 422 naming `field`.
/// Extreme years (`+262142-12-31`) and years like 0 or 9999 never reach the
/// date arithmetic of the forecast, where they would overflow.
pub fn parse_date(field: &str, s: &str, today: NaiveDate) -> Result<NaiveDate, ApiError> {
    let shown: String = s.chars().take(40).collect();
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let date = shaped
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("`{shown}` is not a YYYY-MM-DD calendar date"),
            )
        })?;
    let last = last_date(today);
    if !(FIRST_DATE..=last).contains(&date) {
        return Err(ApiError::invalid(
            field,
            format!("{date} is outside the dates raincast answers for, {FIRST_DATE} to {last}"),
        ));
    }
    Ok(date)
}

/// One observation in weatherAUS field names, for the OpenAPI document only:
/// the body is read by [`observation_from_json`], and the schema is built
/// from the same tables ([`NUMS`], [`DIRS`], the stations), so what it
/// documents is exactly what is accepted.
pub struct PredictInput;

/// `true` when a schema property may also be `null`.
fn nullable(t: utoipa::openapi::schema::Type) -> utoipa::openapi::schema::SchemaType {
    utoipa::openapi::schema::SchemaType::from_iter([t, utoipa::openapi::schema::Type::Null])
}

/// The location names, as a schema (`enum` of the 49 stations).
pub fn location_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(stations::STATIONS.iter().map(|s| s.location)))
        .examples([serde_json::json!("Sydney")])
        .build()
}

/// A date the API takes: `YYYY-MM-DD`, from 2007 on (the upper bound, a few
/// days after today, is in the description: a schema cannot follow the clock).
pub fn date_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
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

impl utoipa::PartialSchema for PredictInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let mut o = ObjectBuilder::new()
            .description(Some(
                "One observation in weatherAUS field names. `Location` and `Date` are required; every other field may be left out or null (missing).",
            ))
            .property("Location", location_schema())
            .required("Location")
            .property("Date", date_schema())
            .required("Date")
            .additional_properties(Some(AdditionalProperties::<
                utoipa::openapi::schema::Schema,
            >::FreeForm(false)));
        for spec in NUMS.iter() {
            let max = if spec.unit == "oktas" { 8.0 } else { spec.max };
            o = o.property(
                spec.name,
                ObjectBuilder::new()
                    .schema_type(nullable(Type::Number))
                    .minimum(Some(spec.min))
                    .maximum(Some(max))
                    .description(Some(format!("{} to {max} {}", spec.min, spec.unit))),
            );
        }
        for (_, name, _) in DIRS.iter() {
            o = o.property(
                *name,
                ObjectBuilder::new()
                    .schema_type(nullable(Type::String))
                    .enum_values(Some(
                        Compass::ALL.iter().map(|c| Some(c.as_str())).chain([None]),
                    ))
                    .description(Some("One of the 16 compass points, N … NNW.")),
            );
        }
        o = o.property(
            "RainToday",
            ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .enum_values(Some([Some("Yes"), Some("No"), None]))
                .description(Some(
                    "`Yes` or `No`; derived from Rainfall (> 1.0 mm) when left out, and must agree with it when both are given.",
                )),
        );
        utoipa::openapi::schema::Schema::Object(o.build()).into()
    }
}

impl ToSchema for PredictInput {}

/// [`ApiDoc`] for `today`, as JSON.
pub fn served_openapi(today: NaiveDate) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut date = serde_json::to_value(date_schema()).unwrap_or_default();
    date["pattern"] = Value::String(date_range_pattern(FIRST_DATE, last_date(today)));
    if let Some(p) = doc.pointer_mut("/components/schemas/PredictInput/properties/Date") {
        *p = date.clone();
    }
    // RainToday must agree with Rainfall when both are given: JSON Schema
    // says so with if/then, which utoipa's builders do not offer.
    if let Some(p) = doc.pointer_mut("/components/schemas/PredictInput") {
        let when = |v: &str| serde_json::json!({"properties": {"RainToday": {"const": v}}, "required": ["RainToday"]});
        p["allOf"] = serde_json::json!([
            {"if": when("Yes"), "then": {"properties": {"Rainfall": {"exclusiveMinimum": 1.0}}}},
            {"if": when("No"), "then": {"properties": {"Rainfall": {"maximum": 1.0}}}}
        ]);
    }
    // One observation, or an array of 1 to MAX_BATCH; an array's answer is
    // an array in the same order.
    for (at, batch) in [
        (
            "/paths/~1api~1v1~1predict/post/requestBody/content/application~1json/schema",
            serde_json::json!({"minItems": 1, "maxItems": MAX_BATCH}),
        ),
        (
            "/paths/~1api~1v1~1predict/post/responses/200/content/application~1json/schema",
            serde_json::json!({}),
        ),
    ] {
        if let Some(p) = doc.pointer_mut(at) {
            let one = p.clone();
            let mut many = serde_json::json!({"type": "array", "items": one});
            if let (Some(m), Some(b)) = (many.as_object_mut(), batch.as_object()) {
                m.extend(b.clone());
            }
            *p = serde_json::json!({"oneOf": [one, many]});
        }
    }
    if let Some(params) = doc
        .pointer_mut("/paths/~1api~1v1~1forecast~1{location}/get/parameters")
        .and_then(Value::as_array_mut)
    {
        for p in params {
            match p["name"].as_str() {
                Some("date") => p["schema"] = date.clone(),
                Some("location") => {
                    p["schema"] = serde_json::to_value(location_schema()).unwrap_or_default()
                }
                _ => {}
            }
        }
    }
    doc
}

/// A regular expression that matches exactly the `YYYY-MM-DD` dates from
/// `first` (a 1 January) to `last`.
pub fn date_range_pattern(first: NaiveDate, last: NaiveDate) -> String {
    use chrono::Datelike;
    let leap = |y: i32| NaiveDate::from_ymd_opt(y, 2, 29).is_some();
    let days_in = |y: i32, m: u32| match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let mut alts = Vec::new();
    let full: Vec<i32> = (first.year()..last.year()).collect();
    if !full.is_empty() {
        let years = |ys: &[i32]| ys.iter().map(i32::to_string).collect::<Vec<_>>().join("|");
        alts.push(format!(
            "({})-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)",
            years(&full)
        ));
        let leaps: Vec<i32> = full.iter().copied().filter(|y| leap(*y)).collect();
        if !leaps.is_empty() {
            alts.push(format!("({})-02-29", years(&leaps)));
        }
    }
    let y = last.year();
    let months: Vec<String> = (1..=last.month())
        .map(|m| {
            let n = if m == last.month() {
                last.day()
            } else {
                days_in(y, m)
            };
            format!("{m:02}-({})", days_upto(n))
        })
        .collect();
    alts.push(format!("{y}-({})", months.join("|")));
    alts.iter()
        .map(|a| format!("^{a}$"))
        .collect::<Vec<_>>()
        .join("|")
}

/// Day numbers `01` to `n` (1 ≤ n ≤ 31) as a regular expression.
fn days_upto(n: u32) -> String {
    let mut parts = Vec::new();
    for t in 0..=n / 10 {
        let lo = if t == 0 { 1 } else { 0 };
        let hi = (n - 10 * t).min(9);
        if hi < lo {
            continue;
        }
        parts.push(if lo == hi {
            format!("{t}{lo}")
        } else {
            format!("{t}[{lo}-{hi}]")
        });
    }
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// The served date pattern matches exactly the dates `parse_date` takes.
    #[test]
    fn the_date_pattern_matches_exactly_the_accepted_dates() {
        for today in [
            "2017-06-26",
            "2016-02-27",
            "2024-12-30",
            "2025-01-01",
            "2007-01-05",
        ] {
            let today = d(today);
            let re = regex::Regex::new(&date_range_pattern(FIRST_DATE, last_date(today))).unwrap();
            let mut day = d("2006-12-01");
            while day <= d("2025-03-01") {
                let text = day.to_string();
                assert_eq!(
                    re.is_match(&text),
                    parse_date("Date", &text, today).is_ok(),
                    "{text} on {today}"
                );
                day = day.succ_opt().unwrap();
            }
            for bad in [
                "2017-02-29",
                "2016-02-30",
                "2017-04-31",
                "2017-00-10",
                "2017-01-00",
                "17-01-01",
                "2017-1-01",
                "+2017-01-01",
            ] {
                assert!(!re.is_match(bad), "{bad} on {today}");
                assert!(parse_date("Date", bad, today).is_err(), "{bad}");
            }
        }
    }

    #[test]
    fn day_ranges() {
        assert_eq!(days_upto(1), "01");
        assert_eq!(days_upto(9), "0[1-9]");
        assert_eq!(days_upto(10), "0[1-9]|10");
        assert_eq!(days_upto(28), "0[1-9]|1[0-9]|2[0-8]");
        assert_eq!(days_upto(31), "0[1-9]|1[0-9]|2[0-9]|3[0-1]");
    }
}
