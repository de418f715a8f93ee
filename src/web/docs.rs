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
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
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

/// The large files gzipped at build time (`build.rs`), sent to browsers
/// that accept gzip.
const GZIPPED: &[(&str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js.gz")),
    ),
    (
        "swagger-ui.css",
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui.css.gz")),
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
fn endpoints(doc: &utoipa::openapi::OpenApi) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [("GET", &item.get), ("POST", &item.post)] {
            if let Some(op) = op {
                let text = op
                    .description
                    .as_deref()
                    .or(op.summary.as_deref())
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

async fn docs() -> Response {
    // The typed document: the served one differs only in schema details
    // computed for today (date patterns, batch bounds), not in its operations.
    let doc = <super::api::ApiDoc as utoipa::OpenApi>::openapi();
    render(&Docs {
        endpoints: endpoints(&doc),
        spec_url: SPEC_URL,
    })
}

async fn vendored(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, body, kind)) = VENDORED.iter().find(|(name, _, _)| *name == file) else {
        return error_page(StatusCode::NOT_FOUND, "Not found", "No such file.");
    };
    let accepts_gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        });
    let cached = [
        (header::CONTENT_TYPE, *kind),
        (header::CACHE_CONTROL, "public, max-age=86400"),
        (header::VARY, "accept-encoding"),
    ];
    match GZIPPED.iter().find(|(name, _)| *name == file) {
        Some((_, gz)) if accepts_gzip => {
            (cached, [(header::CONTENT_ENCODING, "gzip")], *gz).into_response()
        }
        _ => (cached, *body).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_operation_is_listed() {
        let today = chrono::NaiveDate::from_ymd_opt(2025, 9, 6).unwrap();
        let listed = endpoints(&<super::super::api::ApiDoc as utoipa::OpenApi>::openapi());
        let doc = super::super::schema::served_openapi(today);
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

    #[test]
    fn the_gzipped_copies_unpack_to_the_vendored_files() {
        use std::io::Read;
        for (name, gz) in GZIPPED {
            let (_, plain, _) = VENDORED.iter().find(|(n, _, _)| n == name).unwrap();
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(*gz)
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == *plain, "{name}");
            assert!(
                gz.len() * 3 < plain.len(),
                "{name}: {} of {}",
                gz.len(),
                plain.len()
            );
        }
    }
}
