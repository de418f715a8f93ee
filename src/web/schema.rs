//! The precise parts of the served OpenAPI document. The input's schema is
//! derived from the type the API parses ([`PredictInput`]), and the date
//! pattern is computed for the injectable clock's today, so that a request
//! is valid by the schema exactly when the API accepts it (Schemathesis
//! checks both ways).
//!
//! [`PredictInput`]: crate::serving::PredictInput

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use chrono::NaiveDate;
use serde_json::Value;
use utoipa::OpenApi;

use super::AppState;
use super::api::{
    ApiDoc, FORECAST_SCHEMA_PATH, FORECAST_SCHEMA_VERSION, MAX_BATCH,
    forecast_schema_versioned_path,
};
use super::prepared::Prepared;
use crate::serving::input::{FIRST_DATE, date_schema, last_date, location_schema};

/// The documents that describe the API: the OpenAPI document and the
/// forecast's JSON Schema (under its current and its versioned path).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route(FORECAST_SCHEMA_PATH, get(forecast_schema_doc))
        .route(&forecast_schema_versioned_path(), get(forecast_schema_doc))
}

/// The forecast document's JSON Schema (see [`forecast_schema`]),
/// made once per process.
async fn forecast_schema_doc(headers: HeaderMap) -> axum::response::Response {
    static DOC: std::sync::OnceLock<Prepared> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let body = serde_json::to_vec_pretty(&forecast_schema()).unwrap_or_default();
        Prepared::new(body, "application/schema+json", "no-cache")
    })
    .respond(&headers)
}

/// The OpenAPI document as served: the generated one, with the date
/// parameters' pattern made exact for today (a static schema cannot follow
/// the clock), and the forecast's path and query parameters typed like the
/// body's fields, so that every request valid by the schema is accepted.
/// The served OpenAPI document, made and packed once per day (its date
/// patterns end at today): the day it was made for, and the document.
static OPENAPI: std::sync::Mutex<Option<(NaiveDate, Arc<Prepared>)>> = std::sync::Mutex::new(None);

async fn openapi(State(s): State<AppState>, headers: HeaderMap) -> axum::response::Response {
    let today = s.clock.today();
    let doc = {
        // Held while a new day's document is made (a few milliseconds, once
        // a day), so simultaneous first requests make it once.
        let mut cached = OPENAPI.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some((day, doc)) if *day == today => doc.clone(),
            _ => {
                let body = served_openapi(today).to_string();
                let doc = Arc::new(Prepared::new(body, "application/json", "no-cache"));
                *cached = Some((today, doc.clone()));
                doc
            }
        }
    };
    doc.respond(&headers)
}

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
                Some("mm") => {
                    p["schema"] = serde_json::json!({
                        "type": "number",
                        "minimum": crate::amounts::MIN_MM,
                        "maximum": crate::amounts::MAX_MM
                    })
                }
                _ => {}
            }
        }
    }
    doc
}

/// A JSON Schema (2020-12) of the forecast document that
/// `GET /api/v1/forecast/{location}` and `POST /api/v1/predict` answer:
/// made from the same type as the OpenAPI document, closed (no other
/// properties), with the values the API can give (the 49 locations, the
/// three issues, chances from 0 to 1).
pub fn forecast_schema() -> Value {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut schema = doc
        .pointer("/components/schemas/Forecast")
        .cloned()
        .unwrap_or_default();
    let kind = doc
        .pointer("/components/schemas/ForecastKind")
        .cloned()
        .unwrap_or_default();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for p in props.values_mut() {
            // OpenAPI's number formats mean nothing to JSON Schema.
            if matches!(
                p["format"].as_str(),
                Some("int64" | "int32" | "double" | "float")
            ) && let Some(o) = p.as_object_mut()
            {
                o.remove("format");
            }
        }
        if let Some(p) = props.get_mut("kind") {
            p["$ref"] = Value::String("#/$defs/ForecastKind".into());
        }
        let locations: Vec<&str> = crate::stations::STATIONS
            .iter()
            .map(|s| s.location)
            .collect();
        props["location"]["enum"] = serde_json::json!(locations);
        let issues: Vec<&str> = crate::issue::ISSUES.iter().map(|i| i.name()).collect();
        props["issue"]["enum"] = serde_json::json!(issues);
        for field in ["probability", "threshold"] {
            props[field]["minimum"] = 0.0.into();
            props[field]["maximum"] = 1.0.into();
        }
        props["model_version"]["minimum"] = 1.into();
    }
    if let Some(o) = schema.as_object_mut() {
        o.insert(
            "$schema".into(),
            "https://json-schema.org/draft/2020-12/schema".into(),
        );
        o.insert(
            "$id".into(),
            format!("urn:raincast:schema:forecast:v{FORECAST_SCHEMA_VERSION}").into(),
        );
        o.insert(
            "title".into(),
            format!("raincast forecast document, schema version {FORECAST_SCHEMA_VERSION}").into(),
        );
        o.insert("additionalProperties".into(), false.into());
        let mut defs = serde_json::Map::new();
        defs.insert("ForecastKind".into(), kind);
        // The types the document nests (the amounts), each under $defs,
        // with every reference pointing there.
        let mut todo = vec![Value::Object(o.clone())];
        while let Some(v) = todo.pop() {
            for name in refs_in(&v) {
                if defs.contains_key(&name) {
                    continue;
                }
                if let Some(d) = doc.pointer(&format!("/components/schemas/{name}")) {
                    let mut d = d.clone();
                    strip_formats(&mut d);
                    todo.push(d.clone());
                    defs.insert(name, d);
                }
            }
        }
        o.insert("$defs".into(), Value::Object(defs));
    }
    retarget_refs(&mut schema);
    schema
}

/// The component names `v` refers to (`#/components/schemas/{name}`).
fn refs_in(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x.as_str()) {
                    ("$ref", Some(r)) => {
                        if let Some(n) = r.strip_prefix("#/components/schemas/") {
                            out.push(n.to_string());
                        }
                    }
                    _ => out.extend(refs_in(x)),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| out.extend(refs_in(x))),
        _ => {}
    }
    out
}

/// Points every `#/components/schemas/X` reference at `#/$defs/X`.
fn retarget_refs(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "$ref"
                    && let Some(n) = x
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    *x = Value::String(format!("#/$defs/{n}"));
                } else {
                    retarget_refs(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(retarget_refs),
        _ => {}
    }
}

/// Drops OpenAPI's number formats, which mean nothing to JSON Schema.
fn strip_formats(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if matches!(
                o.get("format").and_then(Value::as_str),
                Some("int64" | "int32" | "double" | "float")
            ) {
                o.remove("format");
            }
            o.values_mut().for_each(strip_formats);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_formats),
        _ => {}
    }
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
    use crate::serving::input::parse_date;

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
