//! A read-only replica (`serve --read-only`) answers the public pages, the
//! API and `/metrics` from its copy of the database; every admin path
//! answers one page that says so and names the primary (`server.primary_url`).

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", any(refuse))
        .route("/admin/", any(refuse))
        .route("/admin/{*rest}", any(refuse))
}

#[derive(askama::Template)]
#[template(path = "replica.html")]
struct ReplicaPage {
    /// `server.primary_url` (empty: not set).
    primary: String,
    /// The same path on the primary (empty: not set).
    primary_path: String,
}

/// 403 with a page: the admin console (and every write) lives on the primary.
async fn refuse(State(s): State<AppState>, OriginalUri(uri): OriginalUri) -> Response {
    let base = s.config.server.primary_url.trim_end_matches('/');
    // Only the path: a query string here is not ours to forward.
    let primary_path = if base.is_empty() {
        String::new()
    } else {
        format!("{base}{}", uri.path())
    };
    let mut resp = (
        StatusCode::FORBIDDEN,
        s.page(&ReplicaPage {
            primary: base.to_string(),
            primary_path,
        }),
    )
        .into_response();
    resp.headers_mut().insert(
        "x-raincast-replica",
        axum::http::HeaderValue::from_static("read-only"),
    );
    resp
}
