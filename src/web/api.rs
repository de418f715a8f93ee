//! The JSON API under `/api/v1`, plus `/healthz` and `/readyz`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody, blocking};
use super::forecasts::{forecast_for, no_model_message, station};
use super::prepared::Prepared;
use crate::serving::input::{self, InputError, parse_date};
use crate::serving::{Forecast, PredictInput};
use crate::stations::{self, Station};

/// The version of the forecast document's JSON Schema. Raise it when a
/// change could break a reader (a field removed, renamed or retyped); a
/// field added keeps it (readers ignore what they do not know, and the
/// schema follows the type). `tests/integration/api/feeds.rs` snapshots
/// the schema, so any change shows up for review.
pub const FORECAST_SCHEMA_VERSION: u32 = 1;

/// Where the current forecast schema is served; the versioned path
/// (`forecast-v1.json`) serves the same document.
pub const FORECAST_SCHEMA_PATH: &str = "/api/v1/schema/forecast.json";

/// The versioned path of the forecast schema.
pub fn forecast_schema_versioned_path() -> String {
    format!("/api/v1/schema/forecast-v{FORECAST_SCHEMA_VERSION}.json")
}

/// Largest batch accepted by `POST /api/v1/predict`.
pub const MAX_BATCH: usize = 1000;

/// A batch costing this many database reads or more hands its memory back
/// to the system when it is done (see `crate::memory`).
const HEAVY_COST: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/forecast/{location}", get(forecast))
        .route("/api/v1/predict", post(predict))
        .route("/api/v1/locations", get(locations))
        .route("/api/v1/models", get(models))
        .route("/api/v1/models/{version}", get(model))
}

/// The `Link` header that names a forecast document's schema.
fn described_by() -> [(axum::http::HeaderName, String); 1] {
    [(
        axum::http::header::LINK,
        format!(
            "<{}>; rel=\"describedby\"; type=\"application/schema+json\"",
            forecast_schema_versioned_path()
        ),
    )]
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "raincast",
        description = "Will it rain tomorrow? Forecasts of a rain day (more than 1 mm in the 24 hours to 9 am) for 49 Australian cities, from the better of a random forest and gradient boosting, trained on BOM's Daily Weather Observations."
    ),
    paths(healthz, readyz, forecast, predict, locations, models, model),
    components(schemas(
        ErrorBody,
        Forecast,
        PredictInput,
        LocationInfo,
        ModelInfo,
        ModelList,
        crate::amounts::Amounts,
        crate::amounts::AtLeast,
        crate::amounts::Chance,
        crate::amounts::Range
    ))
)]
pub struct ApiDoc;

/// Liveness: answers while the process runs.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
async fn healthz() -> Json<Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: 200 when a forecast can be answered now: the database file is
/// the one opened at start and reads, and a champion model is loaded. On a
/// primary it also says whether writes would be kept (`writable`) and, if
/// not, why (`write_problem`: disk full, read-only), and who holds the job
/// lease (`job_lease`); `fallback` names an older model serving in place of
/// a champion that does not load.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "ready"),
    (status = 503, description = "not ready, with the reason", body = ErrorBody)))]
async fn readyz(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = s.store.clone();
    let writes = blocking(move || {
        store.check_file()?;
        store
            .ping()
            .map_err(|e| ApiError::Unavailable(format!("database does not answer: {e}")))?;
        let lease = store.job_lease().ok().flatten();
        Ok((
            (!store.is_read_only()).then(|| store.check_writable().err()),
            lease,
        ))
    })
    .await?;
    let (writes, lease) = writes;
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
            // Forecasts answer either way; jobs refuse while writes would
            // not be kept, and this says why.
            if let Some(problem) = writes {
                body["writable"] = problem.is_none().into();
                body["write_problem"] = problem.map(|e| e.to_string()).into();
                body["job_lease"] = lease.map(|l| l.to_json()).into();
            }
            // An older model serving because the champion did not load.
            body["fallback"] = serde_json::to_value(s.serving.fallback()).unwrap_or_default();
            Ok(Json(body))
        }
        None => Err(ApiError::Unavailable(no_model_message(&s))),
    }
}

/// How old a read-only replica's copy is: when its file last changed (a
/// restore or a replicated write landed) and the newest write inside it
/// (a job run, a deployment, an observation), each with its age in seconds.
fn replica_age(s: &AppState, board: &crate::serving::Board) -> Value {
    let now = s.clock.now();
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

/// Forecast of rain tomorrow for one location, from its newest observation;
/// with `date`, a hindcast from that day's observation (labelled
/// `"kind": "hindcast"`, never logged or scored).
#[utoipa::path(get, path = "/api/v1/forecast/{location}",
    params(("location" = String, Path, description = "weatherAUS location name, e.g. Sydney"),
           ("date" = Option<String>, Query, description = "hindcast from this day's observation (YYYY-MM-DD)"),
           ("mm" = Option<f64>, Query, description = "also answer the chance of at least this many mm (0.2 to 50), in `at_least`")),
    responses((status = 200, body = Forecast),
              (status = 404, description = "no observation for that day", body = ErrorBody),
              (status = 409, description = "`mm` asked of a model version trained before amounts", body = ErrorBody),
              (status = 422, description = "unknown location, bad date or bad mm", body = ErrorBody),
              (status = 503, description = "no model yet", body = ErrorBody)))]
async fn forecast(
    State(s): State<AppState>,
    Path(location): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let st = station(&location)?;
    let (mut date, mut mm) = (None, None);
    for (i, (k, v)) in query.iter().enumerate() {
        if query[..i].iter().any(|(seen, _)| seen == k) {
            return Err(ApiError::invalid(k, "given more than once; give it once"));
        }
        match k.as_str() {
            "date" => date = Some(parse_date("date", v, s.clock.today())?),
            "mm" => {
                let parsed = crate::amounts::parse_mm(v);
                mm = Some(parsed.map_err(|e| ApiError::invalid("mm", e.to_string()))?);
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown query parameter; only `date` and `mm` are accepted",
                ));
            }
        }
    }
    let f = forecast_for(&s, st, date).await?;
    // Hindcasts (`?date=`) are lookups of the past, not forecasts served.
    if date.is_none() {
        count_prediction(f.rain, "forecast");
    }
    let Some(mm) = mm else {
        return Ok((described_by(), Json(f)));
    };
    let curve = f.amounts.as_ref().and_then(|a| a.curve()).ok_or_else(|| {
        ApiError::Conflict(format!(
            "model version {} was trained before rain amounts; it gives the chance of more than \
             1 mm only (retrain, or ask without `mm`)",
            f.model_version
        ))
    })?;
    let mut f = (*f).clone();
    f.at_least = Some(
        curve
            .at_least(mm)
            .map_err(|e| ApiError::invalid("mm", e.to_string()))?,
    );
    Ok((described_by(), Json(Arc::new(f))))
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        ApiError::invalid(e.field(), e.message)
    }
}

fn count_prediction(rain: bool, endpoint: &'static str) {
    metrics::counter!("raincast_predictions_total",
        "decision" => if rain { "yes" } else { "no" }, "endpoint" => endpoint)
    .increment(1);
}

/// Predict from posted observations: one object, or an array of up to 1,000.
/// Earlier days stored for the same location feed the history features.
#[utoipa::path(post, path = "/api/v1/predict", request_body = PredictInput,
    responses((status = 200, body = Forecast, description = "one forecast (`kind`: `posted`) per observation (an array for an array)"),
              (status = 400, description = "malformed JSON", body = ErrorBody),
              (status = 408, description = "the body did not arrive in time", body = ErrorBody),
              (status = 413, description = "body too large", body = ErrorBody),
              (status = 415, description = "the body is not declared as JSON (Content-Type: application/json)", body = ErrorBody),
              (status = 422, description = "invalid field", body = ErrorBody),
              (status = 503, description = "no model yet, or busy with other large batches (with `Retry-After`)", body = ErrorBody)))]
async fn predict(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    json_content_type(&headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(s.config.server.body_limit_bytes)
        } else {
            ApiError::MalformedJson(format!("could not read the body: {e}"))
        }
    })?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedJson(format!("the body is not valid JSON: {e}")))?;
    let (items, single) = match value {
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
            (a, false)
        }
        other => (vec![other], true),
    };
    let today = s.clock.today();
    let observations = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            input::observation(v, today)
                .map_err(|e| ApiError::invalid(e.field_in((!single).then_some(i)), e.message))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let model = s
        .serving
        .get()
        .ok_or_else(|| ApiError::Unavailable(no_model_message(&s)))?;
    let stale = s.config.server.stale_after_days;
    // One observation whose history the board holds: answer on this thread.
    let out = if observations.len() == 1 && s.serving.board_covers(&observations) {
        s.serving
            .predict_posted(&s.store, &model, observations, today, stale)?
    } else {
        // Bounded: rows and days the board does not hold cost database
        // reads, and only so many are in flight (503 + Retry-After past it).
        let cost = s.serving.posted_cost(&observations);
        let permit = s.batches.admit(cost).await?;
        // A client that goes away drops this future: the work stops at
        // its next observation instead of running on for nobody.
        struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for StopOnDrop {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let _stop = StopOnDrop(gone.clone());
        let (serving, store) = (s.serving.clone(), s.store.clone());
        blocking(move || {
            let out =
                serving.predict_posted_until(&store, &model, observations, today, stale, &gone);
            if gone.load(std::sync::atomic::Ordering::Relaxed) {
                metrics::counter!("raincast_predict_abandoned_total").increment(1);
            }
            drop(permit);
            // A heavy batch's history and neighbour reads (tens of MB on
            // this blocking thread's allocator arena, and the pages in the
            // connections' caches) go back to the system.
            if cost >= HEAVY_COST {
                store.shrink_memory();
                crate::memory::release();
            }
            Ok(out?)
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
    Ok((
        described_by(),
        Json(json.map_err(|e| ApiError::Internal(e.into()))?),
    ))
}

/// A JSON body route's check of `Content-Type`: `application/json` or any
/// `application/*+json`, with parameters (`; charset=utf-8`) allowed;
/// anything else, or none, is 415.
pub fn json_content_type(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = given
        .as_deref()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let json = essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json") && sub.len() > 5);
    if json {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(match given {
        Some(v) => format!(
            "the body must be JSON, sent with Content-Type: application/json, not `{}`",
            v.chars().take(100).collect::<String>()
        ),
        None => "the body must be JSON, sent with Content-Type: application/json (none was given)"
            .into(),
    }))
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
async fn locations(State(s): State<AppState>, headers: HeaderMap) -> axum::response::Response {
    // Made once per board (the board changes with the observations).
    let board = s.serving.board();
    let doc = s.pages.for_board("locations", &board, || {
        let list: Vec<LocationInfo> = stations::STATIONS
            .iter()
            .map(|st| {
                let entry = board.station(st.location);
                LocationInfo {
                    station: *st,
                    latest_observation: entry.and_then(|x| x.latest),
                    observations: entry.map_or(0, |x| x.rows),
                }
            })
            .collect();
        // Plain data: serialising it cannot fail.
        let body = serde_json::to_vec(&list).unwrap_or_default();
        Prepared::new(body, "application/json", "no-cache")
    });
    doc.respond(&headers)
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
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let version: i64 = version.parse().map_err(|_| {
        ApiError::invalid("version", format!("`{version}` is not a version number"))
    })?;
    // Like the list: reused until SQLite's data version moves (a deployment
    // changes `champion`, a prune `blob_bytes`). A version that does not
    // exist is not kept: the database answers that from its index.
    let data = s.store.data_version()?;
    let name = format!("model/{version}");
    let doc = match s.serving.document(&name, data) {
        Some(doc) => doc,
        None => {
            let store = s.store.clone();
            let info = blocking(move || {
                let champion = store.champion_version()?;
                Ok(model_info(store.model_summary(version)?, champion))
            })
            .await?;
            let doc =
                Bytes::from(serde_json::to_vec(&info).map_err(|e| ApiError::Internal(e.into()))?);
            s.serving.keep_document(&name, data, doc.clone());
            doc
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc,
    )
        .into_response())
}
