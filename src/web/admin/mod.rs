//! The admin console under `/admin`: login (argon2), sessions in memory with
//! HttpOnly SameSite=Strict cookies, a CSRF token on every POST, slowed-down
//! failed logins; run jobs now and watch them, runs, models (compare, promote,
//! roll back), data health, webhook alerts. Without a configured password it is disabled.
//!
//! Handlers here answer HTML; helpers return a ready `Response` as their error
//! so a handler can hand it straight back.
#![allow(clippy::result_large_err)]

mod alerts;
mod auth;
mod data;
mod gate;
mod models;
mod runs;
mod views;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use auth::{Admin, Auth, hash_password};
pub use gate::ClientAddr;
pub use models::card_json;
pub use views::summary_facts;

use super::AppState;
use super::error::{ApiError, blocking};
use super::html::error_page;

/// A page, or the response that replaces it (an error page, a redirect).
type Page = Result<Response, Response>;

/// Blocking store reads for a page; a failure becomes the error response.
async fn load<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Response> {
    blocking(f).await.map_err(IntoResponse::into_response)
}

/// The answer of every admin route while no password is configured.
fn disabled() -> Response {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Admin console disabled",
        "No admin password is configured, so the admin console is off. Set RAINCAST_ADMIN__PASSWORD (or admin.password_hash in config.toml, made with `raincast hash-password`) and restart.",
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(runs::dashboard))
        .route("/admin/login", get(auth::login_form).post(auth::login))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/jobs/{kind}", post(runs::run_job))
        .route("/admin/runs", get(runs::runs_page))
        .route("/admin/runs/{id}", get(runs::run_page))
        .route("/admin/runs/{id}/json", get(runs::run_json))
        .route("/admin/runs/{id}/cancel", post(runs::cancel_run))
        .route("/admin/models", get(models::models_page))
        .route("/admin/models/{version}", get(models::model_page))
        .route("/admin/models/{version}/promote", post(models::promote))
        .route(
            "/admin/models/{version}/evaluate",
            get(models::evaluate_page),
        )
        .route("/admin/models/{version}/card.json", get(models::model_card))
        .route("/admin/models/{version}/model", get(models::model_blob))
        .route("/admin/rollback", post(models::rollback))
        .route("/admin/compare", get(models::compare))
        .route("/admin/data", get(data::data_page))
        .route("/admin/alerts", get(alerts::alerts_page).post(alerts::add))
        .route("/admin/alerts/{id}/delete", post(alerts::delete))
        .route("/admin/alerts/deliveries/{id}/resend", post(alerts::resend))
}
