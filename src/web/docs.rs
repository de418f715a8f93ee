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

use std::sync::OnceLock;

use super::AppState;
use super::error::ApiError;
use super::html::error_page;
use super::prepared::Prepared;

/// Where the console reads the API's description.
const SPEC_URL: &str = "/api/v1/openapi.json";

/// The small vendored files the page may link (the licences), by name,
/// compiled in as they are.
const VENDORED: &[(&str, &[u8], &str)] = &[
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

/// The console's script and style: one copy each, gzipped at build time
/// (`build.rs`; 1.9 MB plain, 0.5 MB packed) and sent packed to browsers
/// that accept gzip. A client that does not gets the plain bytes, unpacked
/// once on its first request and kept.
const GZIPPED: &[(&str, &[u8], &str)] = &[
    (
        "swagger-ui-bundle.js",
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js.gz")),
        "text/javascript; charset=utf-8",
    ),
    (
        "swagger-ui.css",
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui.css.gz")),
        "text/css; charset=utf-8",
    ),
];

/// Vendored files cache for a day.
const VENDOR_CACHE: &str = "public, max-age=86400";

/// The console's files, prepared on first use.
static CONSOLE: [OnceLock<Prepared>; 2] = [OnceLock::new(), OnceLock::new()];

/// `/api/docs`, rendered and packed once: it depends on nothing but the
/// compiled API.
static PAGE: OnceLock<Result<Prepared, String>> = OnceLock::new();

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

async fn docs(headers: HeaderMap) -> Response {
    let page = PAGE.get_or_init(|| {
        // The typed document: the served one differs only in schema details
        // computed for today (date patterns, batch bounds), not in its
        // operations.
        let doc = <super::api::ApiDoc as utoipa::OpenApi>::openapi();
        Docs {
            endpoints: endpoints(&doc),
            spec_url: SPEC_URL,
        }
        .render()
        .map(|html| Prepared::new(html, "text/html; charset=utf-8", "no-cache"))
        .map_err(|e| e.to_string())
    });
    match page {
        Ok(p) => p.respond(&headers),
        Err(e) => ApiError::Internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

async fn vendored(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if let Some(i) = GZIPPED.iter().position(|(name, _, _)| *name == file) {
        let (_, gz, kind) = GZIPPED[i];
        if let Some(p) = CONSOLE[i].get() {
            return p.respond(&headers);
        }
        // Unpacking 0.5 MB takes a few milliseconds: off the async workers.
        let made = tokio::task::spawn_blocking(move || Prepared::from_gzip(gz, kind, VENDOR_CACHE))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        return match made {
            Ok(p) => CONSOLE[i].get_or_init(|| p).respond(&headers),
            Err(e) => ApiError::Internal(anyhow::anyhow!("unpacking {file}: {e}")).into_response(),
        };
    }
    let Some((_, body, kind)) = VENDORED.iter().find(|(name, _, _)| *name == file) else {
        return error_page(StatusCode::NOT_FOUND, "Not found", "No such file.");
    };
    (
        [
            (header::CONTENT_TYPE, *kind),
            (header::CACHE_CONTROL, VENDOR_CACHE),
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

    /// The one compiled-in copy of each console file unpacks to the
    /// vendored file, and is worth packing.
    #[test]
    fn the_console_is_compiled_in_whole_and_packed() {
        for (name, gz, kind) in GZIPPED {
            let p = Prepared::from_gzip(gz, kind, VENDOR_CACHE).unwrap();
            let path = format!(
                "{}/static/vendor/swagger-ui/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            let vendored = std::fs::read(&path).unwrap();
            assert!(p.plain()[..] == vendored[..], "{name}");
            assert!(
                gz.len() * 3 < vendored.len(),
                "{name}: {} of {}",
                gz.len(),
                vendored.len()
            );
        }
        let (_, js, _) = GZIPPED[0];
        let js = Prepared::from_gzip(js, "", "").unwrap();
        assert!(js.plain().len() > 1_000_000);
        assert!(String::from_utf8_lossy(js.plain()).contains("SwaggerUIBundle"));
    }

    #[tokio::test]
    async fn the_console_answers_packed_or_plain() {
        use axum::http::HeaderValue;
        let mut gzip = HeaderMap::new();
        gzip.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br"),
        );
        let packed = vendored(Path("swagger-ui.css".into()), gzip).await;
        assert_eq!(packed.status(), StatusCode::OK);
        assert_eq!(packed.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            packed.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        let body = axum::body::to_bytes(packed.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], GZIPPED[1].1);
        let plain = vendored(Path("swagger-ui.css".into()), HeaderMap::new()).await;
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let body = axum::body::to_bytes(plain.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(
            body.len() > 100_000 && body.starts_with(b".swagger-ui"),
            "{:?}",
            &body[..20]
        );
        let missing = vendored(Path("nope.js".into()), HeaderMap::new()).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let licence = vendored(Path("LICENSE".into()), HeaderMap::new()).await;
        assert_eq!(licence.status(), StatusCode::OK);
    }
}
