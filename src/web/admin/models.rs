//! The model registry in the console: the versions and their chart, one
//! version's page, card and file, scoring a version on any window,
//! comparing two, and promoting or rolling back (with a recorded reason).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Admin;
use super::views::{
    ModelDetail, ModelRowView, ParamDiff, detail, model_family, model_view, param_diff,
};
use super::{AdminError, Page, load};
use crate::registry;
use crate::store::ModelSummary;
use crate::web::AppState;
use crate::web::charts::{self, Series};
use crate::web::error::{ApiError, blocking};

#[derive(Template)]
#[template(path = "admin/models.html")]
struct ModelsPage {
    csrf: String,
    models: Vec<ModelRowView>,
    chart: String,
    deployments: Vec<crate::store::Deployment>,
    message: Option<String>,
}

pub(super) async fn models_page(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let (models, champion, deployments) = load(move || {
        Ok((
            store.models()?,
            store.champion_version()?,
            store.deployments()?,
        ))
    })
    .await?;
    let mut asc: Vec<&ModelSummary> = models.iter().collect();
    asc.reverse();
    let labels: Vec<String> = asc.iter().map(|m| format!("v{}", m.version)).collect();
    let chart = if asc.is_empty() {
        String::new()
    } else {
        charts::line_chart(
            "Test-window F1 and ROC AUC by model version (each on its own test window)",
            "score",
            &labels,
            &[
                Series {
                    label: "F1 (rain = yes)",
                    colour: "#1f5fa8",
                    values: asc.iter().map(|m| Some(m.f1)).collect(),
                    bars: false,
                },
                Series {
                    label: "ROC AUC",
                    colour: "#d35400",
                    values: asc.iter().map(|m| Some(m.roc_auc)).collect(),
                    bars: false,
                },
            ],
        )
    };
    Ok(s.page(&ModelsPage {
        csrf: admin.csrf,
        models: models.iter().map(|m| model_view(m, champion)).collect(),
        chart,
        deployments,
        message: s.auth.take_notice(&admin.session),
    }))
}

/// A version's model card: everything needed to judge and reproduce it,
/// without the blob (parameters, data windows, metrics, feature schema,
/// checksum, family, calibration).
pub fn card_json(m: &ModelSummary) -> Value {
    serde_json::json!({
        "card": "raincast model card",
        "version": m.version,
        "family": model_family(m),
        "created_at": crate::store::rfc3339::text(&m.created_at),
        "trained_by_run": m.trained_by_run,
        "target": "rain day tomorrow: more than 1 mm in the 24 hours to 9 am (BOM's rain day)",
        "parameters": m.params,
        "windows": {
            "train": m.train_window.train,
            "tune": m.train_window.tune,
            "test": m.test_window,
            "rows": m.train_window.rows,
        },
        "threshold": m.threshold,
        "metrics": {
            "f1": m.f1,
            "roc_auc": m.roc_auc,
            "brier": m.brier,
            "test": m.metrics.test,
            "stations": m.metrics.stations,
            "importance": m.metrics.importance,
        },
        "calibration": m.metrics.calibration,
        "feature_schema": {
            "version": m.feature_schema,
            "features": if m.feature_schema == crate::features::SCHEMA_VERSION {
                serde_json::json!(crate::features::NAMES.to_vec())
            } else {
                Value::Null
            },
        },
        "decision": m.decision,
        "decision_reason": m.decision_reason,
        "checksum": { "algorithm": "sha256", "model": m.blob_sha256 },
        "model_bytes": m.blob_bytes,
    })
}

fn download_headers(name: &str, kind: &'static str) -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
        ),
    ]
}

/// `GET /admin/models/{v}/card.json`: the model card, as a download.
pub(super) async fn model_card(
    State(s): State<AppState>,
    _admin: Admin,
    Path(v): Path<String>,
) -> Page {
    let v = parse_version(&v)?;
    let (m, _) = load_summary(&s, v).await?;
    let body = serde_json::to_string_pretty(&card_json(&m)).unwrap_or_default();
    Ok((
        download_headers(
            &format!("raincast-v{v}-card.json"),
            "application/json; charset=utf-8",
        ),
        body,
    )
        .into_response())
}

/// `GET /admin/models/{v}/model`: the model file itself, with its SHA-256
/// in `X-Checksum-SHA256` and a link to its card; 410 once pruned.
pub(super) async fn model_blob(
    State(s): State<AppState>,
    _admin: Admin,
    Path(v): Path<String>,
) -> Page {
    let v = parse_version(&v)?;
    let store = s.store.clone();
    let row = blocking(move || Ok(store.model(v)?))
        .await
        .map_err(|e| not_found_as_page(e, v))?;
    if row.blob.is_empty() {
        return Err(AdminError::refused(
            StatusCode::GONE,
            "Model file pruned",
            format!(
                "The file of version {v} was pruned by the retention settings (model.keep_deployed, model.keep_challengers); its card is still available."
            ),
        ));
    }
    let mut resp = (
        download_headers(&format!("raincast-v{v}.model"), "application/octet-stream"),
        row.blob,
    )
        .into_response();
    let h = resp.headers_mut();
    if let Ok(x) = HeaderValue::from_str(&row.summary.blob_sha256) {
        h.insert("x-checksum-sha256", x);
    }
    if let Ok(x) = HeaderValue::from_str(&format!(
        "</admin/models/{v}/card.json>; rel=\"describedby\"; type=\"application/json\""
    )) {
        h.insert(header::LINK, x);
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "admin/model.html")]
struct ModelPage {
    csrf: String,
    m: ModelDetail,
    roc: String,
    reliability: String,
}

fn parse_version(v: &str) -> Result<i64, AdminError> {
    v.parse()
        .map_err(|_| AdminError::not_found("No such model", "Model versions are numbers."))
}

/// A missing version as the admin's own 404 page; other errors as they are.
fn not_found_as_page(e: ApiError, v: i64) -> AdminError {
    match e {
        ApiError::NotFound { .. } => {
            AdminError::not_found("No such model", format!("There is no model version {v}."))
        }
        e => e.into(),
    }
}

async fn load_summary(s: &AppState, v: i64) -> Result<(ModelSummary, Option<i64>), AdminError> {
    let store = s.store.clone();
    blocking(move || Ok((store.model_summary(v)?, store.champion_version()?)))
        .await
        .map_err(|e| not_found_as_page(e, v))
}

pub(super) async fn model_page(
    State(s): State<AppState>,
    admin: Admin,
    Path(v): Path<String>,
) -> Page {
    let v = parse_version(&v)?;
    let (m, champion) = load_summary(&s, v).await?;
    let d = detail(&m, champion);
    let roc = charts::roc(&[(&format!("v{v}"), "#1f5fa8", &d.roc)]);
    let reliability = d.calibration.as_ref().map_or_else(String::new, |c| {
        charts::reliability(
            &format!("Reliability of v{v} on its test window (calibrated)"),
            &c.points,
        )
    });
    Ok(s.page(&ModelPage {
        csrf: admin.csrf,
        m: d,
        roc,
        reliability,
    }))
}

/// The evaluate form's fields.
#[derive(Deserialize)]
pub(super) struct EvaluateQuery {
    from: String,
    to: String,
}

#[derive(Template)]
#[template(path = "admin/evaluate.html")]
struct EvaluatePage {
    csrf: String,
    version: i64,
    e: crate::evaluate::Evaluation,
    reliability: String,
}

/// Score model `version` on a chosen window of stored observations (the
/// form on the model page); read-only.
pub(super) async fn evaluate_page(
    State(s): State<AppState>,
    admin: Admin,
    Path(v): Path<String>,
    q: Result<Query<EvaluateQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let v = parse_version(&v)?;
    let bad =
        |m: String| AdminError::refused(StatusCode::UNPROCESSABLE_ENTITY, "Cannot evaluate", m);
    let Ok(Query(q)) = q else {
        return Err(AdminError::refused(
            StatusCode::BAD_REQUEST,
            "Cannot evaluate",
            "Give the first and the last day to score, each once (the form on the model's page).",
        ));
    };
    let day = |field: &str, text: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| bad(format!("{field}: `{text}` is not a YYYY-MM-DD date")))
    };
    let (from, to) = (day("from", &q.from)?, day("to", &q.to)?);
    let store = s.store.clone();
    // CPU-bound: scoring a model over a window runs in the training pool.
    let result = crate::runtime::spawn_cpu_bound(move || {
        crate::evaluate::evaluate(&store, crate::evaluate::Subject::Model(v), from, to)
    })
    .await
    .map_err(ApiError::from)?;
    let e = match result {
        Ok(e) => e,
        Err(crate::evaluate::EvaluateError::Input(m)) => return Err(bad(m)),
        Err(crate::evaluate::EvaluateError::Registry(crate::registry::RegistryError::Store(
            crate::store::StoreError::NotFound(w),
        ))) => {
            return Err(AdminError::refused(
                StatusCode::NOT_FOUND,
                "No such model",
                format!("{w} not found"),
            ));
        }
        Err(other) => return Err(bad(other.to_string())),
    };
    let points: Vec<charts::ReliabilityPoint> = e
        .reliability
        .iter()
        .filter_map(|b| Some((b.mean_forecast?, b.observed?, b.n)))
        .collect();
    let reliability = charts::reliability(&format!("Reliability of v{v}, {from} to {to}"), &points);
    Ok(s.page(&EvaluatePage {
        csrf: admin.csrf,
        version: v,
        e,
        reliability,
    }))
}

#[derive(Template)]
#[template(path = "admin/compare.html")]
struct ComparePage {
    csrf: String,
    a: ModelDetail,
    b: ModelDetail,
    roc: String,
    diff: Vec<ParamDiff>,
    changed: usize,
}

/// The comparison's two versions (either missing: a 400 page saying so).
#[derive(Deserialize)]
pub(super) struct CompareQuery {
    a: Option<String>,
    b: Option<String>,
}

pub(super) async fn compare(
    State(s): State<AppState>,
    admin: Admin,
    q: Result<Query<CompareQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    // A version given twice reads like none: the same answer.
    let q = q.map_or(CompareQuery { a: None, b: None }, |Query(q)| q);
    let (Some(a), Some(b)) = (q.a.as_deref(), q.b.as_deref()) else {
        return Err(AdminError::refused(
            StatusCode::BAD_REQUEST,
            "Pick two versions",
            "Choose versions a and b to compare.",
        ));
    };
    let (a, b) = (parse_version(a)?, parse_version(b)?);
    let (ma, champion) = load_summary(&s, a).await?;
    let (mb, _) = load_summary(&s, b).await?;
    let (da, db) = (detail(&ma, champion), detail(&mb, champion));
    let roc = charts::roc(&[
        (&format!("v{a}"), "#1f5fa8", &da.roc),
        (&format!("v{b}"), "#d35400", &db.roc),
    ]);
    let diff = param_diff(&da.param_list, &db.param_list);
    Ok(s.page(&ComparePage {
        csrf: admin.csrf,
        changed: diff.iter().filter(|d| d.changed).count(),
        diff,
        a: da,
        b: db,
        roc,
    }))
}

/// A promotion or rollback: the session's CSRF token and why.
#[derive(Deserialize)]
pub(super) struct DeployForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

fn reason_of(form: &DeployForm) -> Result<String, AdminError> {
    let r = form.reason.trim();
    if r.is_empty() {
        return Err(AdminError::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "A reason is needed",
            "Say why; the reason is recorded in the deployment log.",
        ));
    }
    Ok(r.chars().take(500).collect())
}

pub(super) async fn promote(
    State(s): State<AppState>,
    admin: Admin,
    Path(v): Path<String>,
    Form(form): Form<DeployForm>,
) -> Page {
    admin.check_csrf(&form.csrf)?;
    let v = parse_version(&v)?;
    let reason = reason_of(&form)?;
    Ok(deploy(&s, &admin, move |store| {
        registry::promote(store, v, &reason, "admin")
    })
    .await)
}

pub(super) async fn rollback(
    State(s): State<AppState>,
    admin: Admin,
    Form(form): Form<DeployForm>,
) -> Page {
    admin.check_csrf(&form.csrf)?;
    let reason = reason_of(&form)?;
    Ok(deploy(&s, &admin, move |store| {
        registry::rollback(store, &reason, "admin")
    })
    .await)
}

async fn deploy(
    s: &AppState,
    admin: &Admin,
    f: impl FnOnce(&crate::store::Store) -> Result<crate::store::Deployment, registry::RegistryError>
    + Send
    + 'static,
) -> Response {
    let (store, serving) = (s.store.clone(), s.serving.clone());
    let result = crate::runtime::spawn_blocking(move || {
        let d = f(&store)?;
        let _ = serving.refresh(&store);
        Ok::<_, registry::RegistryError>(d)
    })
    .await;
    let msg = match result {
        Ok(Ok(d)) => format!("Version {} is the champion now ({}).", d.version, d.reason),
        Ok(Err(e)) => format!("Refused: {e}"),
        Err(e) => format!("Failed: {e}"),
    };
    s.auth.set_notice(&admin.session, msg);
    Redirect::to("/admin/models").into_response()
}
