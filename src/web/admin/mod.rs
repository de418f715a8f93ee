//! The admin console under `/admin`: login (argon2), sessions in memory with
//! HttpOnly SameSite=Strict cookies, a CSRF token on every POST, slowed-down
//! failed logins; run jobs now and watch them, runs, models (compare, promote,
//! roll back), data health, webhook alerts. Without a configured password it is disabled.
//!
//! Handlers here answer HTML; what stops a page is an [`AdminError`], which
//! renders as the console's error page (or the login redirect).

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

/// A page, or why it is not shown.
type Page = Result<Response, AdminError>;

/// Why an admin page is not shown.
#[derive(Debug)]
pub enum AdminError {
    /// No password is configured: the console is off (503).
    Disabled,
    /// No session: a page goes to the login form, a JSON route answers 401.
    LoginRequired { json: bool },
    /// A refusal the admin can act on, shown as the console's error page:
    /// a bad form (400), a wrong security token (403), no such run or
    /// model (404), a conflict with a running job (409).
    Refused {
        status: StatusCode,
        title: &'static str,
        message: String,
    },
    /// From the store or a job, answered as the API answers it (a 500's
    /// details go to the log only).
    Api(ApiError),
}

impl AdminError {
    fn refused(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        AdminError::Refused {
            status,
            title,
            message: message.into(),
        }
    }

    fn not_found(title: &'static str, message: impl Into<String>) -> Self {
        Self::refused(StatusCode::NOT_FOUND, title, message)
    }
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        AdminError::Api(e)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            AdminError::Disabled => disabled(),
            AdminError::LoginRequired { json: false } => {
                axum::response::Redirect::to("/admin/login").into_response()
            }
            AdminError::LoginRequired { json: true } => (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "unauthorized", "field": null,
                    "message": "log in at /admin/login first"})),
            )
                .into_response(),
            AdminError::Refused {
                status,
                title,
                message,
            } => error_page(status, title, &message),
            AdminError::Api(e) => e.into_response(),
        }
    }
}

/// Blocking store reads for a page; a failure stops the page.
async fn load<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, AdminError> {
    Ok(blocking(f).await?)
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
