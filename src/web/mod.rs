//! The HTTP side: one axum router merged from each web module's `router()`,
//! and the process's start-up and graceful shutdown.

pub mod admin;
pub mod api;
pub mod assets;
pub mod charts;
pub mod cities;
pub mod cost;
pub mod docs;
pub mod error;
pub mod feeds;
pub mod forecasts;
pub mod html;
pub mod metrics;
pub mod pages;
pub mod prepared;
pub mod replica;
pub mod schema;
pub mod server;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::clock::Clock;
use crate::config::Config;
use crate::jobs::Jobs;
use crate::serving::Serving;
use crate::store::Store;

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub serving: Arc<Serving>,
    pub jobs: Jobs,
    pub clock: Arc<dyn Clock>,
    pub metrics: metrics::Metrics,
    pub auth: Arc<admin::Auth>,
    /// The bound on expensive batches in flight (`POST /api/v1/predict`).
    pub batches: Arc<cost::CostGate>,
    /// Public pages kept between changes (see [`pages::PageCache`]).
    pub pages: Arc<pages::PageCache>,
    /// Reads being answered (`server.max_reads_in_flight` permits).
    pub reads: Arc<tokio::sync::Semaphore>,
    /// Who moves the schedule; a demo's pages say so.
    pub timing: crate::app::Timing,
}

impl AppState {
    /// The state of a process whose start-up [`crate::app::boot`] has done.
    pub fn new(
        config: Config,
        store: Store,
        clock: Arc<dyn Clock>,
        timing: crate::app::Timing,
    ) -> anyhow::Result<Self> {
        let auth = Arc::new(admin::Auth::new(&config.admin).map_err(anyhow::Error::msg)?);
        let config = Arc::new(config);
        let serving = Arc::new(Serving::default());
        if let Err(e) = serving.load_at_start(&store) {
            tracing::error!("loading the champion: {e}");
        }
        if let Err(e) = serving.sync(&store, clock.now(), config.server.stale_after_days) {
            tracing::error!("loading the newest observations: {e}");
        }
        let jobs = Jobs::new(
            store.clone(),
            config.clone(),
            clock.clone(),
            serving.clone(),
        );
        Ok(Self {
            batches: Arc::new(cost::CostGate::new(config.server.predict_max_cost)),
            reads: Arc::new(tokio::sync::Semaphore::new(
                config.server.max_reads_in_flight,
            )),
            metrics: metrics::Metrics::install(),
            config,
            store,
            serving,
            jobs,
            clock,
            auth,
            pages: Default::default(),
            timing,
        })
    }

    /// The simulated day in eastern Australia, in a demo; `None` otherwise.
    pub fn demo_day(&self) -> Option<String> {
        matches!(self.timing, crate::app::Timing::Driven { demo: true })
            .then(|| html::au_date(self.clock.bom_today()))
    }

    /// Say at start what the admin's settings leave open: a weak password,
    /// or none (the console is then disabled).
    pub fn warn_admin_settings(&self) {
        if let Some(why) = self.config.admin.password_weakness() {
            tracing::warn!(
                "WEAK ADMIN PASSWORD: {why}. Whoever guesses it can run jobs and promote models. Use 12 or more characters that are not a common password (or admin.password_hash); admin.require_strong_password = true refuses to start with a weak one"
            );
        }
        if !self.auth.enabled() && !self.store.is_read_only() {
            tracing::warn!(
                "no admin password configured: the admin console is disabled (set RAINCAST_ADMIN__PASSWORD)"
            );
        }
    }

    /// Render a page of this process: in a demo, with the banner that says
    /// which simulated day it shows.
    pub fn page(&self, t: &impl askama::Template) -> Response {
        html::render_with(t, self.demo_day())
    }
}

/// The whole application's routes.
/// At most `server.max_reads_in_flight` reads are answered at once; one
/// more is refused at once with 503 and `Retry-After: 1`, rather than
/// queueing work whose client may be gone by its turn. Health, readiness,
/// metrics and static files are never refused, and writes have their own
/// bounds (the predict cost gate, the login throttle, the job runner).
async fn limit_reads_in_flight(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let exempt = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) || matches!(path, "/healthz" | "/readyz" | "/metrics")
        || path.starts_with("/static/");
    if exempt {
        return next.run(req).await;
    }
    let Ok(_permit) = state.reads.clone().try_acquire_owned() else {
        let refusal =
            error::ApiError::Unavailable("too many reads in flight; retry in a second".into());
        let mut resp = axum::response::IntoResponse::into_response(refusal);
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return resp;
    };
    next.run(req).await
}

pub fn router(state: AppState) -> Router {
    let limit = state.config.server.body_limit_bytes;
    let mut app = Router::new()
        .merge(api::router())
        .merge(schema::router())
        .merge(pages::router())
        .merge(feeds::router())
        .merge(docs::router());
    app = if state.store.is_read_only() {
        app.merge(replica::router())
    } else {
        app.merge(admin::router())
    };
    if state.config.server.metrics_bind.is_none() {
        app = app.merge(metrics::router());
    }
    app.fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_reads_in_flight,
        ))
        .layer(middleware::from_fn(api_errors_as_json))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(track_http))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(on_failure),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(compression())
        .with_state(state)
}

/// `/metrics` alone, for its own listener (`server.metrics_bind`).
pub fn metrics_router(state: AppState) -> Router {
    metrics::router()
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Responses go out gzip- or brotli-compressed when the client accepts it
/// (brotli first when both are), outermost so that every other layer sees
/// the plain body. Bodies a handler packed itself (the prepared pages, the
/// console's files) keep their encoding; model downloads (binary, already
/// dense) and bodies under 32 bytes go out as they are. tower-http picks
/// brotli's quality 4, not its slow maximum.
fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream")),
        )
}

/// Each request's span: its id (the client's `x-request-id`, or a new
/// UUID), method and path. Every log line written while the request is
/// handled carries them (in JSON logs under `span`), and the response
/// carries the id, so a report quoting it finds the lines.
fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
}

/// A failed response in the log: a 500 at ERROR, but a 503 (no model yet,
/// busy) at DEBUG, since its body says why and the state is logged once
/// where it begins (e.g. "no model serves yet" at start): one ERROR per
/// request while the first model trained buried everything else.
fn on_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    let ms = latency.as_millis() as u64;
    match class {
        ServerErrorsFailureClass::StatusCode(s)
            if s == axum::http::StatusCode::SERVICE_UNAVAILABLE =>
        {
            tracing::debug!(latency_ms = ms, "503 service unavailable")
        }
        class => tracing::error!(latency_ms = ms, classification = %class, "response failed"),
    }
}

/// The Content-Security-Policy of every response: no inline script or style
/// (the pages use /static files only; SVG charts use presentation
/// attributes), no framing, forms only to this site.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every response; admin pages are never cached.
async fn security_headers(req: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, header};
    let admin = req.uri().path() == "/admin" || req.uri().path().starts_with("/admin/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if admin {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Under `/api`, every error has our JSON shape: a request axum refuses
/// before a handler runs (a path segment that is not UTF-8, a wrong method,
/// a bad content type) answers `{error, field, message}` with its status.
async fn api_errors_as_json(req: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    // A 405's `Allow` (the methods the path takes) stays with the new body.
    let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
    let text = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = match status.as_u16() {
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "body_too_large",
        415 => "unsupported_media_type",
        s if s >= 500 => "internal",
        _ => "invalid_value",
    };
    let message = if text.is_empty() || status.is_server_error() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let mut out = (
        status,
        axum::Json(error::ErrorBody {
            error,
            field: None,
            message,
        }),
    )
        .into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    out
}

/// Unknown paths: our JSON error shape under `/api`, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::NotFound {
            field: None,
            message: format!("no such endpoint: {}; see /api/docs", uri.path()),
        }
        .into_response()
    } else {
        html::error_page(
            axum::http::StatusCode::NOT_FOUND,
            "Not found",
            "There is no page at this address.",
        )
    }
}

/// Count requests by method, matched route and status, and time them.
async fn track_http(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    ::metrics::counter!("raincast_http_requests_total",
        "method" => method.clone(), "route" => route.clone(), "status" => status)
    .increment(1);
    ::metrics::histogram!("raincast_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(started.elapsed().as_secs_f64());
    response
}
