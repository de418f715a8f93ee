//! The JSON API under `/api/v1`, plus `/healthz` and `/readyz`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody, blocking};
use crate::features;
use crate::obs::{Compass, DIRS, NUMS, Observation};
use crate::serving::{Forecast, ForecastError};
use crate::stations::{self, Station};

/// Largest batch accepted by `POST /api/v1/predict`.
pub const MAX_BATCH: usize = 1000;

/// How long a computed forecast is reused.
const FORECAST_TTL: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/forecast/{location}", get(forecast))
        .route("/api/v1/predict", post(predict))
        .route("/api/v1/locations", get(locations))
        .route("/api/v1/models", get(models))
        .route("/api/v1/models/{version}", get(model))
        .route("/api/v1/openapi.json", get(openapi))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "raincast",
        description = "Will it rain tomorrow? Forecasts of a rain day (more than 1 mm in the 24 hours to 9 am) for 49 Australian cities, from a random forest trained on BOM's Daily Weather Observations."
    ),
    paths(healthz, readyz, forecast, predict, locations, models, model),
    components(schemas(
        ErrorBody,
        Forecast,
        PredictInput,
        PredictOutput,
        LocationInfo,
        ModelInfo,
        ModelList
    ))
)]
pub struct ApiDoc;

/// The OpenAPI document as served: the generated one, with the date
/// parameters' pattern made exact for today (a static schema cannot follow
/// the clock), and the forecast's path and query parameters typed like the
/// body's fields, so that every request valid by the schema is accepted.
async fn openapi(State(s): State<AppState>) -> Json<Value> {
    Json(served_openapi(s.clock.today()))
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

/// Liveness: answers while the process runs.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
async fn healthz() -> Json<Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: 200 when the database answers and a champion model is loaded.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "ready"),
    (status = 503, description = "not ready, with the reason", body = ErrorBody)))]
async fn readyz(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = s.store.clone();
    blocking(move || {
        store
            .ping()
            .map_err(|e| ApiError::Unavailable(format!("database does not answer: {e}")))
    })
    .await?;
    match s.serving.get() {
        Some(m) => Ok(Json(
            serde_json::json!({"status": "ready", "model_version": m.version}),
        )),
        None => Err(ApiError::Unavailable(match s.serving.refused() {
            Some((v, why)) => format!("the deployed model version {v} was refused: {why}"),
            None => {
                "no model is serving yet: import or scrape data, then run `raincast train`".into()
            }
        })),
    }
}

/// Look a location up, or 422 naming the field.
pub fn station(name: &str) -> Result<&'static Station, ApiError> {
    stations::by_location(name).ok_or_else(|| {
        ApiError::invalid(
            "location",
            format!("unknown location `{name}`; GET /api/v1/locations lists the 49 known ones"),
        )
    })
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

/// (station, requested observation date, today): `stale` and the data's age
/// depend on today, so a new day never reuses yesterday's answer.
type ForecastKey = (&'static str, Option<NaiveDate>, NaiveDate);

/// In-memory forecasts, valid for a short time and only for the model that
/// made them.
#[derive(Default)]
pub struct ForecastCache {
    entries: std::sync::Mutex<HashMap<ForecastKey, (Instant, Arc<Forecast>)>>,
}

impl ForecastCache {
    fn get(&self, key: ForecastKey, version: i64) -> Option<Arc<Forecast>> {
        let entries = self.entries.lock().ok()?;
        let (at, f) = entries.get(&key)?;
        (at.elapsed() < FORECAST_TTL && f.model_version == version).then(|| f.clone())
    }

    fn put(&self, key: ForecastKey, f: Arc<Forecast>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), f));
        }
    }
}

/// Forecast of rain tomorrow for one location, from its newest observation
/// (or from `date`'s).
#[utoipa::path(get, path = "/api/v1/forecast/{location}",
    params(("location" = String, Path, description = "weatherAUS location name, e.g. Sydney"),
           ("date" = Option<String>, Query, description = "forecast from this day's observation (YYYY-MM-DD)")),
    responses((status = 200, body = Forecast),
              (status = 404, description = "no observation for that day", body = ErrorBody),
              (status = 422, description = "unknown location or bad date", body = ErrorBody),
              (status = 503, description = "no model yet", body = ErrorBody)))]
async fn forecast(
    State(s): State<AppState>,
    Path(location): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Arc<Forecast>>, ApiError> {
    let st = station(&location)?;
    let mut date = None;
    for (k, v) in &query {
        match k.as_str() {
            "date" => date = Some(parse_date("date", v, s.clock.today())?),
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown query parameter; only `date` is accepted",
                ));
            }
        }
    }
    let f = forecast_cached(&s, st, date).await?;
    count_prediction(f.rain, "forecast");
    Ok(Json(f))
}

/// The forecast for a station, from the short-lived cache when fresh. Each
/// (location, date, model) served is logged once in the prediction log.
pub async fn forecast_cached(
    s: &AppState,
    st: &'static Station,
    date: Option<NaiveDate>,
) -> Result<Arc<Forecast>, ApiError> {
    let model = s.serving.get().ok_or_else(|| {
        ApiError::Unavailable("no model is serving yet; run a training first".into())
    })?;
    let today = s.clock.today();
    let key = (st.location, date, today);
    if let Some(f) = s.forecasts.get(key, model.version) {
        return Ok(f);
    }
    let store = s.store.clone();
    let stale = s.config.server.stale_after_days;
    let f = blocking(move || {
        let f =
            crate::serving::forecast(&store, &model, st, date, today, stale).map_err(
                |e| match e {
                    ForecastError::NoObservation { .. } => ApiError::NotFound {
                        field: Some("date".into()),
                        message: e.to_string(),
                    },
                    ForecastError::NoData(_) => ApiError::NotFound {
                        field: Some("location".into()),
                        message: e.to_string(),
                    },
                    ForecastError::Store(e) => e.into(),
                },
            )?;
        store.log_prediction(
            &f.location,
            f.observation_date,
            f.model_version,
            f.probability,
            f.threshold,
        )?;
        Ok(Arc::new(f))
    })
    .await?;
    s.forecasts.put(key, f.clone());
    Ok(f)
}

fn count_prediction(rain: bool, endpoint: &'static str) {
    metrics::counter!("raincast_predictions_total",
        "decision" => if rain { "yes" } else { "no" }, "endpoint" => endpoint)
    .increment(1);
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

#[derive(Debug, Serialize, ToSchema)]
pub struct PredictOutput {
    pub location: String,
    pub observation_date: NaiveDate,
    pub forecast_date: NaiveDate,
    pub probability: f64,
    pub rain: bool,
    pub threshold: f64,
    pub model_version: i64,
}

/// Validate one JSON observation; `prefix` locates it in the body for errors.
pub fn observation_from_json(
    v: &Value,
    prefix: &str,
    today: NaiveDate,
) -> Result<Observation, ApiError> {
    let path = |k: &str| format!("{prefix}{k}");
    let obj = v.as_object().ok_or_else(|| {
        ApiError::invalid(
            if prefix.is_empty() {
                "body"
            } else {
                prefix.trim_end_matches('.')
            },
            "expected an object of weatherAUS fields",
        )
    })?;
    let text = |k: &str| -> Result<Option<&str>, ApiError> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::invalid(path(k), "must be a string")),
        }
    };
    let location =
        text("Location")?.ok_or_else(|| ApiError::invalid(path("Location"), "is required"))?;
    let st = stations::by_location(location).ok_or_else(|| {
        ApiError::invalid(path("Location"), format!("unknown location `{location}`"))
    })?;
    let date =
        text("Date")?.ok_or_else(|| ApiError::invalid(path("Date"), "is required (YYYY-MM-DD)"))?;
    let date = parse_date(&path("Date"), date, today)?;
    let mut o = Observation::empty(st.location, date);
    for key in obj.keys() {
        let known = key == "Location"
            || key == "Date"
            || key == "RainToday"
            || NUMS.iter().any(|s| s.name == key)
            || DIRS.iter().any(|(_, n, _)| n == key);
        if !known {
            return Err(ApiError::invalid(
                path(key),
                "unknown field; fields use weatherAUS names (MinTemp, Humidity3pm, WindDir9am, …)",
            ));
        }
    }
    for spec in NUMS.iter() {
        let v = match obj.get(spec.name) {
            None | Some(Value::Null) => continue,
            Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            Some(_) => {
                return Err(ApiError::invalid(
                    path(spec.name),
                    "must be a number or null",
                ));
            }
        };
        // The API takes cloud cover in the 0–8 oktas of a visible sky.
        let max = if spec.unit == "oktas" { 8.0 } else { spec.max };
        if !(spec.min..=max).contains(&v) {
            return Err(ApiError::invalid(
                path(spec.name),
                format!("{v} is outside {}..={max} {}", spec.min, spec.unit),
            ));
        }
        o.nums[spec.field as usize] = Some(v);
    }
    for (i, (_, name, _)) in DIRS.iter().enumerate() {
        if let Some(t) = text(name)? {
            o.dirs[i] = Some(
                t.parse::<Compass>()
                    .map_err(|e| ApiError::invalid(path(name), e))?,
            );
        }
    }
    o.rain_today = match text("RainToday")? {
        None => o.derived_rain_today(),
        Some("Yes") => Some(true),
        Some("No") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid(
                path("RainToday"),
                format!("`{other}` is not Yes or No"),
            ));
        }
    };
    if o.rain_today.is_some()
        && o.derived_rain_today().is_some()
        && o.rain_today != o.derived_rain_today()
    {
        return Err(ApiError::invalid(
            path("RainToday"),
            "contradicts Rainfall (a rain day is Rainfall > 1.0 mm)",
        ));
    }
    Ok(o)
}

/// Predict from posted observations: one object, or an array of up to 1,000.
/// Earlier days stored for the same location feed the history features.
#[utoipa::path(post, path = "/api/v1/predict", request_body = PredictInput,
    responses((status = 200, body = PredictOutput, description = "one result per observation (an array for an array)"),
              (status = 400, description = "malformed JSON", body = ErrorBody),
              (status = 413, description = "body too large", body = ErrorBody),
              (status = 422, description = "invalid field", body = ErrorBody),
              (status = 503, description = "no model yet", body = ErrorBody)))]
async fn predict(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(s.config.server.body_limit_bytes)
        } else {
            ApiError::MalformedJson(format!("could not read the body: {e}"))
        }
    })?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedJson(format!("the body is not valid JSON: {e}")))?;
    let (items, single): (Vec<&Value>, bool) = match &value {
        Value::Array(a) => {
            if a.is_empty() || a.len() > MAX_BATCH {
                return Err(ApiError::invalid(
                    "body",
                    format!(
                        "an array must hold 1 to {MAX_BATCH} observations, not {}",
                        a.len()
                    ),
                ));
            }
            (a.iter().collect(), false)
        }
        other => (vec![other], true),
    };
    let today = s.clock.today();
    let observations = items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            observation_from_json(
                v,
                &if single {
                    String::new()
                } else {
                    format!("[{i}].")
                },
                today,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let model = s.serving.get().ok_or_else(|| {
        ApiError::Unavailable("no model is serving yet; run a training first".into())
    })?;
    let store = s.store.clone();
    let out = blocking(move || {
        observations
            .into_iter()
            .map(|o| {
                let mut history = store.observations_between(
                    o.location,
                    o.date - chrono::Days::new(features::LOOKBACK_DAYS),
                    o.date - chrono::Days::new(1),
                )?;
                let (location, date) = (o.location, o.date);
                history.push(o);
                let row = features::encode(&history)
                    .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("empty history")))?;
                let p = model.predict(&row);
                Ok(PredictOutput {
                    location: location.to_string(),
                    observation_date: date,
                    forecast_date: features::target_date(date),
                    probability: p,
                    rain: p >= model.threshold,
                    threshold: model.threshold,
                    model_version: model.version,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    for p in &out {
        count_prediction(p.rain, "predict");
    }
    let json = if single {
        serde_json::to_value(&out[0])
    } else {
        serde_json::to_value(&out)
    };
    Ok(Json(json.map_err(|e| ApiError::Internal(e.into()))?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationInfo {
    #[serde(flatten)]
    pub station: Station,
    pub latest_observation: Option<NaiveDate>,
    pub observations: u64,
}

/// The 49 stations, with the newest observation date of each.
#[utoipa::path(get, path = "/api/v1/locations", responses((status = 200, body = [LocationInfo])))]
async fn locations(State(s): State<AppState>) -> Result<Json<Vec<LocationInfo>>, ApiError> {
    let store = s.store.clone();
    let stats = blocking(move || Ok(store.station_stats()?)).await?;
    Ok(Json(
        stations::STATIONS
            .iter()
            .map(|st| {
                let stat = stats.iter().find(|x| x.location == st.location);
                LocationInfo {
                    station: *st,
                    latest_observation: stat.and_then(|x| x.latest),
                    observations: stat.map_or(0, |x| x.rows),
                }
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInfo {
    pub version: i64,
    pub created_at: String,
    pub champion: bool,
    pub threshold: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub decision: Option<String>,
    pub decision_reason: Option<String>,
    pub feature_schema: i64,
    #[schema(value_type = Object)]
    pub params: Value,
    #[schema(value_type = Object)]
    pub train_window: Value,
    #[schema(value_type = Object)]
    pub test_window: Value,
    #[schema(value_type = Object)]
    pub metrics: Value,
    pub blob_sha256: String,
    pub blob_bytes: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub champion: Option<i64>,
    pub models: Vec<ModelInfo>,
}

fn model_info(m: crate::store::ModelSummary, champion: Option<i64>) -> ModelInfo {
    ModelInfo {
        champion: Some(m.version) == champion,
        version: m.version,
        created_at: m.created_at,
        threshold: m.threshold,
        f1: m.f1,
        roc_auc: m.roc_auc,
        brier: m.brier,
        decision: m.decision,
        decision_reason: m.decision_reason,
        feature_schema: m.feature_schema,
        params: m.params,
        train_window: m.train_window,
        test_window: m.test_window,
        metrics: m.metrics,
        blob_sha256: m.blob_sha256,
        blob_bytes: m.blob_bytes,
    }
}

/// Every model version, newest first, with its metrics and the champion marked.
#[utoipa::path(get, path = "/api/v1/models", responses((status = 200, body = ModelList)))]
async fn models(State(s): State<AppState>) -> Result<Json<ModelList>, ApiError> {
    let store = s.store.clone();
    Ok(Json(
        blocking(move || {
            let champion = store.champion_version()?;
            let models = store
                .models()?
                .into_iter()
                .map(|m| model_info(m, champion))
                .collect();
            Ok(ModelList { champion, models })
        })
        .await?,
    ))
}

/// One model version.
#[utoipa::path(get, path = "/api/v1/models/{version}",
    params(("version" = i64, Path, description = "model version")),
    responses((status = 200, body = ModelInfo),
              (status = 404, body = ErrorBody),
              (status = 422, description = "version is not a number", body = ErrorBody)))]
async fn model(
    State(s): State<AppState>,
    Path(version): Path<String>,
) -> Result<Json<ModelInfo>, ApiError> {
    let version: i64 = version.parse().map_err(|_| {
        ApiError::invalid("version", format!("`{version}` is not a version number"))
    })?;
    let store = s.store.clone();
    Ok(Json(
        blocking(move || {
            let champion = store.champion_version()?;
            Ok(model_info(store.model_summary(version)?, champion))
        })
        .await?,
    ))
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
