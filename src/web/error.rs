//! The web error type: one JSON shape, `{ "error", "field", "message" }`, for
//! every failure. Client mistakes are 4xx; a 5xx is logged in full and the
//! client gets a generic message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable error code, e.g. `invalid_value`.
    pub error: &'static str,
    /// The offending field (JSON path for bodies, parameter name otherwise), if any.
    pub field: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON.
    #[error("{0}")]
    MalformedJson(String),
    /// 422: well-formed, but a value is wrong (type, range, unknown field or location).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 404: the thing asked for does not exist.
    #[error("{message}")]
    NotFound {
        field: Option<String>,
        message: String,
    },
    /// 413: the body is over the configured limit.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// 408: the body did not arrive in time (the connection is closed).
    #[error("the request body did not arrive within {0} s")]
    BodyTimeout(u64),
    /// 415: a body route was sent something other than JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429 or 503 with `Retry-After`: at a limit on work in flight.
    #[error("{message}")]
    Busy {
        status: StatusCode,
        retry_after: u64,
        message: String,
    },
    /// 409: a job of that kind is already running.
    #[error("{0}")]
    Conflict(String),
    /// 503: not ready to answer (no model yet).
    #[error("{0}")]
    Unavailable(String),
    /// 500: our fault; details go to the log only.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Busy { status, .. } => *status,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (error, field) = match self {
            ApiError::MalformedJson(_) => ("malformed_json", None),
            ApiError::Invalid { field, .. } => ("invalid_value", Some(field.clone())),
            ApiError::NotFound { field, .. } => ("not_found", field.clone()),
            ApiError::TooLarge(_) => ("body_too_large", None),
            ApiError::BodyTimeout(_) => ("request_timeout", None),
            ApiError::UnsupportedMediaType(_) => ("unsupported_media_type", None),
            ApiError::Busy { .. } => ("busy", None),
            ApiError::Conflict(_) => ("conflict", None),
            ApiError::Unavailable(_) => ("unavailable", None),
            ApiError::Internal(_) => ("internal", None),
        };
        let message = match self {
            ApiError::Internal(_) => "internal error; the details are in the server log".into(),
            ApiError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        ErrorBody {
            error,
            field,
            message,
        }
    }
}

/// `Retry-After` on a 503 for "no model yet" (and the like).
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 10;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut resp = (self.status(), Json(self.body())).into_response();
        match &self {
            ApiError::Busy { retry_after, .. } => {
                resp.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(*retry_after),
                );
            }
            // No model yet: the first training usually ends within a minute.
            ApiError::Unavailable(_) => {
                resp.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            ApiError::BodyTimeout(_) => {
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            _ => {}
        }
        resp
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound(what) => ApiError::NotFound {
                field: None,
                message: format!("{what} not found"),
            },
            crate::store::StoreError::Conflict(m) => ApiError::Conflict(m),
            e @ crate::store::StoreError::RunActive { .. } => ApiError::Conflict(e.to_string()),
            crate::store::StoreError::Unavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(e.into())
    }
}

/// Run blocking work (SQLite, model inference over many rows) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    crate::runtime::spawn_blocking(f).await?
}

impl From<crate::serving::ForecastError> for ApiError {
    fn from(e: crate::serving::ForecastError) -> Self {
        use crate::serving::ForecastError;
        match e {
            ForecastError::NoObservation { .. } => ApiError::NotFound {
                field: Some("date".into()),
                message: e.to_string(),
            },
            ForecastError::NoData(_) => ApiError::NotFound {
                field: Some("location".into()),
                message: e.to_string(),
            },
            ForecastError::Store(e) => e.into(),
        }
    }
}
