//! Response bodies prepared once and sent many times: the bytes and their
//! gzip, made when the content changes (at first use, or when a dated
//! document's day turns), never per request. A client that accepts gzip
//! gets the packed copy, any other the plain one; both carry
//! `Vary: accept-encoding` so caches keep them apart.

use std::io::Write;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Bodies smaller than this go out plain: gzip would save next to nothing.
const MIN_GZIP_BYTES: usize = 1024;

/// One body, plain and (when worth it) gzipped.
#[derive(Debug, Clone)]
pub struct Prepared {
    plain: Bytes,
    gzip: Option<Bytes>,
    content_type: &'static str,
    cache_control: &'static str,
}

impl Prepared {
    /// Prepare `plain`, gzipping it once here.
    pub fn new(
        plain: impl Into<Bytes>,
        content_type: &'static str,
        cache_control: &'static str,
    ) -> Self {
        let plain = plain.into();
        let gzip = (plain.len() >= MIN_GZIP_BYTES)
            .then(|| gzip(&plain))
            .filter(|g| g.len() < plain.len())
            .map(Bytes::from);
        Self {
            plain,
            gzip,
            content_type,
            cache_control,
        }
    }

    /// A body that exists only gzipped (compiled in that way): the plain
    /// copy is unpacked from it here, for the rare client that refuses gzip.
    pub fn from_gzip(
        gz: &'static [u8],
        content_type: &'static str,
        cache_control: &'static str,
    ) -> std::io::Result<Self> {
        use std::io::Read;
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut plain)?;
        Ok(Self {
            plain: Bytes::from(plain),
            gzip: Some(Bytes::from_static(gz)),
            content_type,
            cache_control,
        })
    }

    /// The plain bytes.
    pub fn plain(&self) -> &Bytes {
        &self.plain
    }

    /// The gzipped bytes, if the body is packed.
    pub fn gzip(&self) -> Option<&Bytes> {
        self.gzip.as_ref()
    }

    /// The answer to a request with `headers`.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let common = [
            (header::CONTENT_TYPE, self.content_type),
            (header::CACHE_CONTROL, self.cache_control),
            (header::VARY, "accept-encoding"),
        ];
        match &self.gzip {
            Some(gz) if accepts_gzip(headers) => (
                common,
                [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))],
                gz.clone(),
            )
                .into_response(),
            _ => (common, self.plain.clone()).into_response(),
        }
    }
}

/// `bytes` gzipped (best compression: it is done once).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}

/// Whether `Accept-Encoding` allows gzip (named, and not with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, accept.parse().unwrap());
        h
    }

    #[test]
    fn gzip_is_chosen_only_when_accepted() {
        for yes in ["gzip", "br, gzip;q=0.5", "GZIP", "deflate, *"] {
            assert!(accepts_gzip(&headers(yes)), "{yes}");
        }
        for no in ["br", "gzip;q=0", "gzip; q=0.000", "identity", "*;q=0"] {
            assert!(!accepts_gzip(&headers(no)), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_prepared_body_unpacks_to_itself() {
        use std::io::Read;
        let text = "{\"openapi\":\"3.1.0\"}".repeat(500);
        let p = Prepared::new(text.clone(), "application/json", "no-cache");
        let gz = p.gzip().expect("worth packing").clone();
        assert!(gz.len() * 10 < text.len());
        let resp = p.respond(&headers("gzip"));
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(resp.headers()[header::VARY], "accept-encoding");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
        let resp = p.respond(&headers("br"));
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, text.as_bytes());
        // Too small to be worth it: plain for everyone.
        let small = Prepared::new("{}", "application/json", "no-cache");
        assert!(small.gzip().is_none());
        let resp = small.respond(&headers("gzip"));
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
