//! `/api/docs`: the API for people. The page lists every endpoint (from the
//! same OpenAPI document `/api/v1/openapi.json` serves, so it works without
//! JavaScript) and opens, on request, an interactive console (Swagger UI)
//! whose try-it-out requests go to this same origin. Swagger UI is vendored
//! under `static/vendor/swagger-ui` (pinned, checksums checked by
//! `build.rs`) and compiled into the binary: nothing loads from a CDN, and
//! the site's strict Content-Security-Policy holds on this page too. The
//! console's 1.9 MB load only when asked, so the page itself stays light.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::html::{error_page, render};

/// Where the console reads the API's description.
const SPEC_URL: &str = "/api/v1/openapi.json";

/// The vendored files the page may load (or link, for the licence), by name.
const VENDORED: &[(&str, &[u8], &str)] = &[
    (
        "swagger-ui-bundle.js",
        include_bytes!("../../static/vendor/swagger-ui/swagger-ui-bundle.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "swagger-ui.css",
        include_bytes!("../../static/vendor/swagger-ui/swagger-ui.css"),
        "text/css; charset=utf-8",
    ),
    (
        "LICENSE",
        include_bytes!("../../static/vendor/swagger-ui/LICENSE"),
        "text/plain; charset=utf-8",
    ),
    (
        "NOTICE",
        include_bytes!("../../static/vendor/swagger-ui/NOTICE"),
        "text/plain; charset=utf-8",
    ),
    (
        "swagger-ui-bundle.js.LICENSE.txt",
        include_bytes!("../../static/vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"),
        "text/plain; charset=utf-8",
    ),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/docs", get(docs))
        .route("/api/docs/swagger-ui/{file}", get(vendored))
}

/// One documented operation: method, path, what it does.
pub struct Endpoint {
    pub method: &'static str,
    pub path: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "docs.html")]
struct Docs {
    endpoints: Vec<Endpoint>,
    spec_url: &'static str,
}

/// The operations of an OpenAPI document, in its path order.
fn endpoints(doc: &serde_json::Value) -> Vec<Endpoint> {
    let mut out = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        for (method, key) in [("GET", "get"), ("POST", "post")] {
            let op = &item[key];
            if op.is_object() {
                let text = op["description"]
                    .as_str()
                    .or_else(|| op["summary"].as_str())
                    .unwrap_or_default()
                    .to_string();
                out.push(Endpoint {
                    method,
                    path: path.clone(),
                    text,
                });
            }
        }
    }
    out
}

async fn docs(State(s): State<AppState>) -> Response {
    let doc = super::schema::served_openapi(s.clock.today());
    render(&Docs {
        endpoints: endpoints(&doc),
        spec_url: SPEC_URL,
    })
}

async fn vendored(Path(file): Path<String>) -> Response {
    let Some((_, body, kind)) = VENDORED.iter().find(|(name, _, _)| *name == file) else {
        return error_page(StatusCode::NOT_FOUND, "Not found", "No such file.");
    };
    (
        [
            (header::CONTENT_TYPE, *kind),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        *body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_operation_is_listed() {
        let today = chrono::NaiveDate::from_ymd_opt(2025, 9, 6).unwrap();
        let doc = super::super::schema::served_openapi(today);
        let listed = endpoints(&doc);
        assert!(
            listed
                .iter()
                .any(|e| e.method == "GET" && e.path == "/api/v1/forecast/{location}")
        );
        assert!(
            listed
                .iter()
                .any(|e| e.method == "POST" && e.path == "/api/v1/predict")
        );
        let ops: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|i| i.as_object().unwrap().keys())
            .filter(|k| {
                ["get", "put", "post", "delete", "patch", "head", "options"].contains(&k.as_str())
            })
            .count();
        assert_eq!(listed.len(), ops, "an operation other than GET or POST");
    }

    #[test]
    fn the_console_is_compiled_in_whole() {
        let (_, js, _) = VENDORED[0];
        assert!(
            js.len() > 1_000_000,
            "swagger-ui-bundle.js is {} bytes",
            js.len()
        );
        assert!(String::from_utf8_lossy(js).contains("SwaggerUIBundle"));
    }
}
