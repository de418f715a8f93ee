//! The site's own static files (`static/app.css`, `app.js`, `favicon.svg`),
//! compiled into the binary and served under names that carry a hash of
//! their content: `/static/app.3f9c0a1b2d4e.css`. A fingerprinted name
//! never changes meaning, so it is cached for a year as `immutable`; a new
//! build with a changed file gets a new name, and the pages (which link the
//! names [`url`] gives) ask for it. The plain names (`/static/app.css`)
//! still answer, cached for an hour, for anything that kept an old link.
//! Compression is the router's (`CompressionLayer`, gzip or brotli).

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::AppState;
use super::html::error_page;

/// A fingerprinted file is cached for a year and never revalidated.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A file asked for by its plain name may change with the next build.
const PLAIN: &str = "public, max-age=3600";

/// Hex digits of the content hash kept in a name (48 bits).
const HASH_LEN: usize = 12;

/// One compiled-in file.
pub struct Asset {
    /// The plain name, e.g. `app.css`.
    pub name: &'static str,
    pub body: &'static str,
    pub content_type: &'static str,
    /// `app.<hash>.css`.
    pub fingerprinted: String,
}

fn asset(name: &'static str, body: &'static str, content_type: &'static str) -> Asset {
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    Asset {
        name,
        body,
        content_type,
        fingerprinted: format!("{stem}.{}.{ext}", &hash[..HASH_LEN]),
    }
}

/// Every file under `/static/` (the vendored console has its own route).
pub static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        asset(
            "app.css",
            include_str!("../../static/app.css"),
            "text/css; charset=utf-8",
        ),
        asset(
            "app.js",
            include_str!("../../static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        asset(
            "favicon.svg",
            include_str!("../../static/favicon.svg"),
            "image/svg+xml",
        ),
    ]
});

/// The URL pages link for the file `name` (its fingerprinted name); an
/// unknown name gives its plain URL, which then answers 404.
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => format!("/static/{}", a.fingerprinted),
        None => format!("/static/{name}"),
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/static/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    let found = ASSETS.iter().find_map(|a| {
        if a.fingerprinted == file {
            Some((a, IMMUTABLE))
        } else if a.name == file {
            Some((a, PLAIN))
        } else {
            None
        }
    });
    let Some((a, cache)) = found else {
        return error_page(StatusCode::NOT_FOUND, "Not found", "No such file.");
    };
    (
        [
            (header::CONTENT_TYPE, a.content_type),
            (header::CACHE_CONTROL, cache),
        ],
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash() {
        let css = &ASSETS[0];
        let want = &hex::encode(Sha256::digest(css.body.as_bytes()))[..HASH_LEN];
        assert_eq!(css.fingerprinted, format!("app.{want}.css"));
        assert_eq!(url("app.css"), format!("/static/app.{want}.css"));
        assert!(url("favicon.svg").ends_with(".svg"));
        // Different files, different names.
        assert_ne!(ASSETS[0].fingerprinted, ASSETS[1].fingerprinted);
        assert_eq!(url("nothing.css"), "/static/nothing.css");
    }
}
