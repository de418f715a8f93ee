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
use super::schema::{PredictInput, parse_date};
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
    Json(super::schema::served_openapi(s.clock.today()))
}

/// Liveness: answers while the process runs.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
async fn healthz() -> Json<Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: 200 when a forecast can be answered now: the database file is
/// the one opened at start and reads, and a champion model is loaded.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "ready"),
    (status = 503, description = "not ready, with the reason", body = ErrorBody)))]
async fn readyz(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = s.store.clone();
    blocking(move || {
        store.check_file()?;
        store
            .ping()
            .map_err(|e| ApiError::Unavailable(format!("database does not answer: {e}")))
    })
    .await?;
    let board = s.serving.board();
    match s.serving.get() {
        Some(m) => {
            let mut body = serde_json::json!({
                "status": "ready",
                "model_version": m.version,
                "newest_observation": board.newest(),
                "stale_stations": board.stale_count(),
            });
            if s.store.is_read_only() {
                body["replica"] = replica_age(&s, &board);
            }
            Ok(Json(body))
        }
        None => Err(ApiError::Unavailable(no_model_message(&s))),
    }
}

/// How old a read-only replica's copy is: when its file last changed (a
/// restore or a replicated write landed) and the newest write inside it
/// (a job run, a deployment, an observation), each with its age in seconds.
fn replica_age(s: &AppState, board: &crate::serving::Board) -> Value {
    let now = chrono::Utc::now();
    let modified = s
        .store
        .modified()
        .map(chrono::DateTime::<chrono::Utc>::from);
    let newest = board
        .newest_write
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let age = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| (now - t).num_seconds().max(0));
    serde_json::json!({
        "read_only": true,
        "primary_url": s.config.server.primary_url,
        "file_modified": modified.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "file_age_secs": age(modified),
        "newest_write": board.newest_write,
        "newest_write_age_secs": age(newest),
    })
}

/// Why no model serves, in words a visitor or operator can act on.
pub fn no_model_message(s: &AppState) -> String {
    match s.serving.refused() {
        Some((v, why)) => format!("the deployed model version {v} was refused: {why}"),
        None if s.store.is_read_only() => {
            "no model is deployed in this read-only replica's copy yet: the primary trains one, \
             and the replica serves it once replication brings it"
                .into()
        }
        None if s
            .jobs
            .running()
            .iter()
            .any(|(k, _)| *k == crate::jobs::JobKind::Train) =>
        {
            "the first model is training now; forecasts appear when it finishes".into()
        }
        None => "no model is serving yet: the service trains one as soon as it has data \
                 (or run `raincast train`)"
            .into(),
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

/// (station, requested observation date, today): `stale` and the data's age
/// depend on today, so a new day never reuses yesterday's answer.
type ForecastKey = (&'static str, NaiveDate, NaiveDate);

/// Most hindcasts kept in memory.
const HINDCAST_CACHE_MAX: usize = 10_000;

/// Hindcasts (`?date=`), valid for a short time and only for the model that
/// made them. Live forecasts come from the serving board, not from here.
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
            if entries.len() >= HINDCAST_CACHE_MAX {
                entries.retain(|_, (at, _)| at.elapsed() < FORECAST_TTL);
            }
            if entries.len() < HINDCAST_CACHE_MAX {
                entries.insert(key, (Instant::now(), f));
            }
        }
    }
}

/// Forecast of rain tomorrow for one location, from its newest observation;
/// with `date`, a hindcast from that day's observation (labelled
/// `"kind": "hindcast"`, never logged or scored).
#[utoipa::path(get, path = "/api/v1/forecast/{location}",
    params(("location" = String, Path, description = "weatherAUS location name, e.g. Sydney"),
           ("date" = Option<String>, Query, description = "hindcast from this day's observation (YYYY-MM-DD)")),
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
    let f = forecast_for(&s, st, date).await?;
    count_prediction(f.rain, "forecast");
    Ok(Json(f))
}

/// The forecast for a station: from the in-memory board, or for an earlier
/// `date` a hindcast read from the database. Never writes.
pub async fn forecast_for(
    s: &AppState,
    st: &'static Station,
    date: Option<NaiveDate>,
) -> Result<Arc<Forecast>, ApiError> {
    let model = s
        .serving
        .get()
        .ok_or_else(|| ApiError::Unavailable(no_model_message(s)))?;
    let board = s.serving.board();
    let entry = board.station(st.location);
    let latest = entry.and_then(|e| e.latest);
    if date.is_none() || date == latest {
        if let Some(f) = entry.and_then(|e| e.forecast.clone())
            && f.model_version == model.version
        {
            // A new day before the board's next rebuild: age it here.
            let today = s.clock.today();
            if board.today == Some(today) {
                return Ok(f);
            }
            let mut f = (*f).clone();
            f.data_age_days = (today - f.observation_date).num_days();
            f.stale = f.data_age_days > s.config.server.stale_after_days;
            return Ok(Arc::new(f));
        }
        // The board is behind (a model or data that arrived moments ago):
        // answer from the database, read-only, until it catches up.
        let store = s.store.clone();
        let loc = st.location;
        let latest = blocking(move || Ok(store.latest_date(loc)?))
            .await?
            .ok_or_else(|| ApiError::NotFound {
                field: Some("location".into()),
                message: format!("no observations for {} yet", st.location),
            })?;
        return hindcast(s, st, model, latest, true).await;
    }
    hindcast(s, st, model, date.expect("checked above"), false).await
}

async fn hindcast(
    s: &AppState,
    st: &'static Station,
    model: Arc<crate::registry::LoadedModel>,
    date: NaiveDate,
    live: bool,
) -> Result<Arc<Forecast>, ApiError> {
    let today = s.clock.today();
    let key = (st.location, date, today);
    if let Some(f) = s.forecasts.get(key, model.version) {
        return Ok(f);
    }
    let store = s.store.clone();
    let stale = s.config.server.stale_after_days;
    let f = blocking(move || {
        let mut f = crate::serving::hindcast(&store, &model, st, date, today, stale).map_err(
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
        if live {
            f.kind = crate::serving::ForecastKind::Forecast;
        }
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

impl From<Forecast> for PredictOutput {
    fn from(f: Forecast) -> Self {
        Self {
            location: f.location,
            observation_date: f.observation_date,
            forecast_date: f.forecast_date,
            probability: f.probability,
            rain: f.rain,
            threshold: f.threshold,
            model_version: f.model_version,
        }
    }
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
    let model = s
        .serving
        .get()
        .ok_or_else(|| ApiError::Unavailable(no_model_message(&s)))?;
    let board = s.serving.board();
    // One observation whose history the board holds: answer on this thread.
    let out = if observations.len() == 1 && board_covers(&board, &observations[0]) {
        let o = observations.into_iter().next().expect("one");
        vec![crate::serving::predict_posted(&s.store, &board, &model, o)?.into()]
    } else {
        let store = s.store.clone();
        let (board, model) = (s.serving.board(), model.clone());
        blocking(move || {
            observations
                .into_iter()
                .map(|o| {
                    crate::serving::predict_posted(&store, &board, &model, o)
                        .map(PredictOutput::from)
                        .map_err(ApiError::from)
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?
    };
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

/// Whether the board alone answers a posted observation (no database read).
fn board_covers(board: &crate::serving::Board, o: &Observation) -> bool {
    let from = o.date - chrono::Days::new(features::LOOKBACK_DAYS);
    board.station(o.location).is_some_and(|sb| {
        sb.latest
            .is_none_or(|l| from >= l - chrono::Days::new(features::LOOKBACK_DAYS))
    })
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
async fn locations(State(s): State<AppState>) -> Json<Vec<LocationInfo>> {
    let board = s.serving.board();
    Json(
        stations::STATIONS
            .iter()
            .map(|st| {
                let entry = board.station(st.location);
                LocationInfo {
                    station: *st,
                    latest_observation: entry.and_then(|x| x.latest),
                    observations: entry.map_or(0, |x| x.rows),
                }
            })
            .collect(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInfo {
    pub version: i64,
    #[serde(with = "crate::store::rfc3339")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub champion: bool,
    pub threshold: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub decision: Option<crate::store::Verdict>,
    pub decision_reason: Option<String>,
    pub feature_schema: i64,
    #[schema(value_type = Object)]
    pub params: Value,
    #[schema(value_type = Object)]
    pub train_window: crate::store::TrainingWindows,
    pub test_window: crate::store::Window,
    #[schema(value_type = Object)]
    pub metrics: crate::store::ModelMetrics,
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
async fn models(State(s): State<AppState>) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let json =
        |b: Bytes| ([(axum::http::header::CONTENT_TYPE, "application/json")], b).into_response();
    // The registry changes only with the data: reuse the document until
    // SQLite's data version moves (one PRAGMA on a dedicated connection).
    let version = s.store.data_version()?;
    if let Some(doc) = s.serving.document("models", version) {
        return Ok(json(doc));
    }
    let store = s.store.clone();
    let list = blocking(move || {
        let champion = store.champion_version()?;
        let models = store
            .models()?
            .into_iter()
            .map(|m| model_info(m, champion))
            .collect();
        Ok(ModelList { champion, models })
    })
    .await?;
    let doc = Bytes::from(serde_json::to_vec(&list).map_err(|e| ApiError::Internal(e.into()))?);
    s.serving.keep_document("models", version, doc.clone());
    Ok(json(doc))
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
