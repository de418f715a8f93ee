//! The admin console under `/admin`: login (argon2), sessions in memory with
//! HttpOnly SameSite=Strict cookies, a CSRF token on every POST, slowed-down
//! failed logins; run jobs now and watch them, runs, models (compare, promote,
//! roll back), data health. Without a configured password it is disabled.
//!
//! Handlers here answer HTML; helpers return a ready `Response` as their error
//! so a handler can hand it straight back.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use askama::Template;
use axum::Form;
use axum::Json;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::AppState;
use super::charts::{self, Series};
use super::error::blocking;
use super::pages::{error_page, render};
use crate::config::AdminConfig;
use crate::jobs::{JobError, JobKind, Trigger};
use crate::registry;
use crate::store::{JobRun, ModelSummary, RunStatus};

const SESSION_COOKIE: &str = "raincast_session";

/// A page, or the response that replaces it (an error page, a redirect).
type Page = Result<Response, Response>;

/// Blocking store reads for a page; a failure becomes the error response.
async fn load<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, super::error::ApiError> + Send + 'static,
) -> Result<T, Response> {
    blocking(f).await.map_err(IntoResponse::into_response)
}
const LOGIN_COOKIE: &str = "raincast_login";

/// Hash a password for `admin.password_hash`.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

struct Session {
    csrf: String,
    expires: Instant,
    /// A one-time notice for the next page (the outcome of a promotion),
    /// kept here so that nobody can put words on an admin page with a link.
    notice: Option<String>,
}

/// Login state: the password hash, live sessions, failed-login throttling.
pub struct Auth {
    hash: Option<String>,
    sessions: Mutex<HashMap<String, Session>>,
    gate: LoginGate,
    ttl: Duration,
    cookie_secure: String,
}

/// Password hashes waiting for the one running, at most; more get 429.
const LOGIN_QUEUE: usize = 4;
/// Failed logins from all addresses together per minute, at most: the
/// backstop against an attack spread over many addresses.
const GLOBAL_FAILURES_PER_MINUTE: usize = 60;
/// Per-address failure records kept, at most (the oldest go first).
const TRACKED_ADDRESSES: usize = 10_000;

/// Failed logins of one client address.
struct Throttle {
    failures: u32,
    last: Instant,
    /// No attempt from this address before this instant.
    next: Instant,
    /// An attempt from this address is being checked now.
    busy: bool,
}

/// Why a login attempt was refused before any hashing (429).
enum Refused {
    /// This address failed recently, or has an attempt in flight.
    Throttled(Duration),
    /// Too many failures from everywhere, or the hashing queue is full.
    Busy,
}

/// Admission to the password check. Argon2 needs about 19 MiB per hash, so
/// at most one runs at a time (a semaphore of one permit) with a short queue;
/// each client address has one attempt in flight at most and waits after a
/// failure (0.5 s doubling to 8 s), and failures from all addresses together
/// are capped per minute. The cheap checks come first, so a flood costs no
/// hashing, and one attacker's address never slows the admin's.
struct LoginGate {
    hashing: tokio::sync::Semaphore,
    queued: std::sync::atomic::AtomicUsize,
    addresses: Mutex<HashMap<std::net::IpAddr, Throttle>>,
    recent_failures: Mutex<std::collections::VecDeque<Instant>>,
}

/// Releases an address's in-flight mark however the attempt ends.
struct Attempt<'a> {
    gate: &'a LoginGate,
    addr: std::net::IpAddr,
    ok: Option<bool>,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        if let Ok(mut a) = self.gate.addresses.lock() {
            match self.ok {
                Some(true) => {
                    a.remove(&self.addr);
                }
                ok => {
                    if let Some(t) = a.get_mut(&self.addr) {
                        t.busy = false;
                        if ok == Some(false) {
                            t.failures = t.failures.saturating_add(1);
                            t.last = now;
                            t.next = now + LoginGate::delay(t.failures);
                        }
                    }
                }
            }
        }
        if self.ok == Some(false)
            && let Ok(mut r) = self.gate.recent_failures.lock()
        {
            r.push_back(now);
        }
    }
}

impl LoginGate {
    fn new() -> Self {
        Self {
            hashing: tokio::sync::Semaphore::new(1),
            queued: std::sync::atomic::AtomicUsize::new(0),
            addresses: Mutex::new(HashMap::new()),
            recent_failures: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The wait after `n` failures in a row: 0.5 s doubling up to 8 s.
    fn delay(n: u32) -> Duration {
        match n {
            0 => Duration::ZERO,
            n => Duration::from_millis(500 * (1u64 << (n - 1).min(4))),
        }
    }

    /// Admit an attempt from `addr`, or say why not. Cheap: no hashing.
    fn admit(&self, addr: std::net::IpAddr) -> Result<Attempt<'_>, Refused> {
        let now = Instant::now();
        {
            let mut r = self
                .recent_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            while r
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
            {
                r.pop_front();
            }
            if r.len() >= GLOBAL_FAILURES_PER_MINUTE {
                return Err(Refused::Busy);
            }
        }
        let mut a = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        if a.len() >= TRACKED_ADDRESSES {
            a.retain(|_, t| t.busy || now.duration_since(t.last) < Duration::from_secs(900));
            if a.len() >= TRACKED_ADDRESSES {
                return Err(Refused::Busy);
            }
        }
        let t = a.entry(addr).or_insert(Throttle {
            failures: 0,
            last: now,
            next: now,
            busy: false,
        });
        if now.duration_since(t.last) > Duration::from_secs(900) {
            (t.failures, t.next) = (0, now);
        }
        if t.busy {
            return Err(Refused::Throttled(LoginGate::delay(t.failures.max(1))));
        }
        if now < t.next {
            return Err(Refused::Throttled(t.next - now));
        }
        t.busy = true;
        Ok(Attempt {
            gate: self,
            addr,
            ok: None,
        })
    }

    /// Wait for the hashing permit, unless the queue is full.
    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Refused> {
        use std::sync::atomic::Ordering;
        if let Ok(p) = self.hashing.try_acquire() {
            return Ok(p);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= LOGIN_QUEUE {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Busy);
        }
        let p = self.hashing.acquire().await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        p.map_err(|_| Refused::Busy)
    }
}

/// Give the memory of a finished hash back to the system. glibc keeps freed
/// memory in per-thread arenas, and the argon2 block (19 MiB) is allocated on
/// whichever blocking thread ran the hash: without this, RSS grew by that
/// much per thread ever used (643 MB after 32 parallel logins).
fn return_memory() {
    crate::memory::release();
}

fn token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Constant-time comparison of two tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Auth {
    pub fn new(cfg: &AdminConfig) -> Result<Self, String> {
        let hash = if !cfg.password_hash.is_empty() {
            Some(cfg.password_hash.clone())
        } else if !cfg.password.is_empty() {
            let h = hash_password(&cfg.password)?;
            return_memory();
            Some(h)
        } else {
            None
        };
        Ok(Self {
            hash,
            sessions: Mutex::new(HashMap::new()),
            gate: LoginGate::new(),
            ttl: Duration::from_secs(cfg.session_hours * 3600),
            cookie_secure: cfg.cookie_secure.clone(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.hash.is_some()
    }

    /// Check a password from client `addr`: admitted by the gate first
    /// (throttle, global cap, queue), then one hash at a time.
    async fn check(&self, addr: std::net::IpAddr, password: &str) -> Result<bool, Refused> {
        let mut attempt = self.gate.admit(addr)?;
        let permit = self.gate.permit().await?;
        let Some(hash) = self.hash.clone() else {
            return Ok(false);
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok();
            return_memory();
            ok
        })
        .await
        .unwrap_or(false);
        drop(permit);
        attempt.ok = Some(ok);
        Ok(ok)
    }

    fn create(&self) -> (String, String) {
        let (id, csrf) = (token(), token());
        if let Ok(mut s) = self.sessions.lock() {
            s.retain(|_, v| v.expires > Instant::now());
            s.insert(
                id.clone(),
                Session {
                    csrf: csrf.clone(),
                    expires: Instant::now() + self.ttl,
                    notice: None,
                },
            );
        }
        (id, csrf)
    }

    /// The CSRF token of a live session.
    fn lookup(&self, id: &str) -> Option<String> {
        let s = self.sessions.lock().ok()?;
        s.get(id)
            .filter(|v| v.expires > Instant::now())
            .map(|v| v.csrf.clone())
    }

    /// Leave a notice for session `id`'s next page.
    fn set_notice(&self, id: &str, notice: String) {
        if let Ok(mut s) = self.sessions.lock()
            && let Some(v) = s.get_mut(id)
        {
            v.notice = Some(notice);
        }
    }

    /// Take session `id`'s notice (shown once).
    fn take_notice(&self, id: &str) -> Option<String> {
        self.sessions.lock().ok()?.get_mut(id)?.notice.take()
    }

    fn remove(&self, id: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(id);
        }
    }

    fn secure(&self, headers: &HeaderMap) -> bool {
        match self.cookie_secure.as_str() {
            "always" => true,
            "never" => false,
            _ => headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https")),
        }
    }

    fn cookie(&self, headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure(headers) { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A logged-in admin. Extracting it refuses the request otherwise: pages
/// redirect to the login, everything else answers 401.
pub struct Admin {
    pub csrf: String,
    /// The session's id (its cookie value).
    session: String,
}

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        if !app.auth.enabled() {
            return Err(disabled());
        }
        let session = cookie_value(&parts.headers, SESSION_COOKIE)
            .and_then(|id| Some((id.to_string(), app.auth.lookup(id)?)));
        match session {
            Some((session, csrf)) => Ok(Admin { csrf, session }),
            None if parts.method == axum::http::Method::GET
                && !parts.uri.path().ends_with("/json") =>
            {
                Err(Redirect::to("/admin/login").into_response())
            }
            None => Err((
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({"error": "unauthorized", "field": null,
                    "message": "log in at /admin/login first"})),
            )
                .into_response()),
        }
    }
}

impl Admin {
    /// Refuse a form whose CSRF token does not match the session's.
    fn check_csrf(&self, form: &HashMap<String, String>) -> Result<(), Response> {
        match form.get("csrf") {
            Some(t) if same(t, &self.csrf) => Ok(()),
            _ => Err(error_page(
                StatusCode::FORBIDDEN,
                "Refused",
                "The form's security token is missing or wrong. Reload the page and try again.",
            )),
        }
    }
}

fn disabled() -> Response {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Admin console disabled",
        "No admin password is configured, so the admin console is off. Set RAINCAST_ADMIN__PASSWORD (or admin.password_hash in config.toml, made with `raincast hash-password`) and restart.",
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", get(login_form).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/jobs/{kind}", post(run_job))
        .route("/admin/runs", get(runs_page))
        .route("/admin/runs/{id}", get(run_page))
        .route("/admin/runs/{id}/json", get(run_json))
        .route("/admin/runs/{id}/cancel", post(cancel_run))
        .route("/admin/models", get(models_page))
        .route("/admin/models/{version}", get(model_page))
        .route("/admin/models/{version}/promote", post(promote))
        .route("/admin/models/{version}/evaluate", get(evaluate_page))
        .route("/admin/models/{version}/card.json", get(model_card))
        .route("/admin/models/{version}/model", get(model_blob))
        .route("/admin/rollback", post(rollback))
        .route("/admin/compare", get(compare))
        .route("/admin/data", get(data_page))
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    nonce: String,
    error: Option<String>,
}

async fn login_form(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !s.auth.enabled() {
        return disabled();
    }
    let nonce = token();
    let mut resp = render(&LoginPage {
        nonce: nonce.clone(),
        error: None,
    });
    resp.headers_mut().insert(
        header::SET_COOKIE,
        s.auth.cookie(&headers, LOGIN_COOKIE, &nonce, 3600),
    );
    resp
}

/// The client's address: the socket peer's, or, when the peer is one of
/// `server.trusted_proxies`, the nearest address in `X-Forwarded-For` that is
/// not a trusted proxy itself. Without a known peer (a request handed to the
/// router in-process) it is the unspecified address.
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    pub fn resolve(
        peer: Option<std::net::IpAddr>,
        headers: &HeaderMap,
        trusted: &[std::net::IpAddr],
    ) -> std::net::IpAddr {
        let peer = peer.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        if !trusted.contains(&peer) {
            return peer;
        }
        let hops: Vec<std::net::IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|h| h.trim().parse().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer)
    }
}

impl<S> FromRequestParts<S> for ClientAddr
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(Self::resolve(
            peer,
            &parts.headers,
            &app.config.server.trusted_proxies(),
        )))
    }
}

/// 429: the login form again (with a fresh nonce), saying when to retry.
fn too_many(s: &AppState, headers: &HeaderMap, wait: Option<Duration>, why: &str) -> Response {
    let secs = wait.map_or(10, |w| w.as_secs_f64().ceil().max(1.0) as u64);
    let nonce = token();
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        render(&LoginPage {
            nonce: nonce.clone(),
            error: Some(format!("{why} Try again in {secs} s.")),
        }),
    )
        .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        s.auth.cookie(headers, LOGIN_COOKIE, &nonce, 3600),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

async fn login(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !s.auth.enabled() {
        return disabled();
    }
    let nonce_ok = match (cookie_value(&headers, LOGIN_COOKIE), form.get("csrf")) {
        (Some(c), Some(f)) => same(c, f),
        _ => false,
    };
    if !nonce_ok {
        return error_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "The login form's security token is missing or wrong. Reload the login page and try again.",
        );
    }
    let password = form.get("password").map(String::as_str).unwrap_or("");
    let ok = match s.auth.check(addr, password).await {
        Ok(ok) => ok,
        Err(Refused::Throttled(wait)) => {
            return too_many(
                &s,
                &headers,
                Some(wait),
                "A login from your address failed a moment ago or is being checked.",
            );
        }
        Err(Refused::Busy) => {
            return too_many(
                &s,
                &headers,
                None,
                "The server is checking many logins now.",
            );
        }
    };
    if !ok {
        tracing::warn!(%addr, "failed admin login");
        let nonce = token();
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            render(&LoginPage {
                nonce: nonce.clone(),
                error: Some("Wrong password.".into()),
            }),
        )
            .into_response();
        resp.headers_mut().insert(
            header::SET_COOKIE,
            s.auth.cookie(&headers, LOGIN_COOKIE, &nonce, 3600),
        );
        return resp;
    }
    let (id, _) = s.auth.create();
    tracing::info!(%addr, "admin logged in");
    let mut resp = Redirect::to("/admin").into_response();
    let max_age = s.auth.ttl.as_secs() as i64;
    resp.headers_mut().append(
        header::SET_COOKIE,
        s.auth.cookie(&headers, SESSION_COOKIE, &id, max_age),
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        s.auth.cookie(&headers, LOGIN_COOKIE, "", 0),
    );
    resp
}

async fn logout(
    State(s): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Page {
    admin.check_csrf(&form)?;
    if let Some(id) = cookie_value(&headers, SESSION_COOKIE) {
        s.auth.remove(id);
    }
    let mut resp = Redirect::to("/admin/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        s.auth.cookie(&headers, SESSION_COOKIE, "", 0),
    );
    Ok(resp)
}

pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub trigger: String,
    pub status: &'static str,
    pub started: String,
    pub duration: String,
    pub error: String,
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

fn elapsed(r: &JobRun) -> f64 {
    let start = parse_time(&r.started_at);
    let end = r
        .finished_at
        .as_deref()
        .and_then(parse_time)
        .unwrap_or_else(chrono::Utc::now);
    start.map_or(0.0, |s| (end - s).num_milliseconds() as f64 / 1000.0)
}

fn run_row(r: &JobRun) -> RunRow {
    RunRow {
        id: r.id,
        kind: r.kind.clone(),
        trigger: r.trigger.clone(),
        status: r.status.as_str(),
        started: r
            .started_at
            .chars()
            .take(19)
            .collect::<String>()
            .replace('T', " "),
        duration: format!("{:.0} s", elapsed(r)),
        error: r.error.clone().unwrap_or_default(),
    }
}

pub struct ScheduleRow {
    pub kind: &'static str,
    /// "6 Sep 2025, 18:30 AEST", or `None` when not scheduled.
    pub next: Option<String>,
    /// The run of this kind going now.
    pub running: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct Dashboard {
    csrf: String,
    message: Option<String>,
    /// BOM is failing: since when and why (the message names the setting).
    source_problem: Option<(String, String)>,
    next_scrape: Option<String>,
    /// One row per job: next scheduled run, and the run going now.
    schedules: Vec<ScheduleRow>,
    runs: Vec<RunRow>,
    champion: Option<i64>,
    models: usize,
    observations: u64,
}

async fn dashboard(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let (runs, champion, models, observations) = load(move || {
        Ok((
            store.runs(None, 20)?,
            store.champion_version()?,
            store.models()?.len(),
            store.count_observations()?,
        ))
    })
    .await?;
    let board = s.serving.board();
    let source_problem = board.source.failing_since.as_deref().map(|since| {
        (
            super::pages::au_time(since),
            board.source.cause.clone().unwrap_or_default(),
        )
    });
    let when = |k| {
        s.jobs
            .next_run(k)
            .map(|t| super::pages::au_time(&t.to_rfc3339()))
    };
    let going = s.jobs.running();
    let schedules = JobKind::ALL
        .into_iter()
        .map(|k| ScheduleRow {
            kind: k.as_str(),
            next: when(k),
            running: going.iter().find(|(g, id)| *g == k && *id > 0).map(|x| x.1),
        })
        .collect();
    Ok(render(&Dashboard {
        message: s.auth.take_notice(&admin.session),
        csrf: admin.csrf,
        source_problem,
        next_scrape: when(JobKind::Scrape),
        schedules,
        runs: runs.iter().map(run_row).collect(),
        champion,
        models,
        observations,
    }))
}

async fn run_job(
    State(s): State<AppState>,
    admin: Admin,
    Path(kind): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Page {
    admin.check_csrf(&form)?;
    let Ok(kind) = kind.parse::<JobKind>() else {
        return Err(error_page(
            StatusCode::NOT_FOUND,
            "Unknown job",
            "Jobs are scrape, train and refresh.",
        ));
    };
    match s.jobs.start(kind, Trigger::Admin).await {
        Ok(id) => Ok(Redirect::to(&format!("/admin/runs/{id}")).into_response()),
        Err(e @ JobError::AlreadyRunning { .. }) => Err(error_page(
            StatusCode::CONFLICT,
            "Refused",
            &format!("Not started: {e}."),
        )),
        Err(e) => Err(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot start",
            &e.to_string(),
        )),
    }
}

#[derive(Template)]
#[template(path = "admin/runs.html")]
struct RunsPage {
    csrf: String,
    runs: Vec<RunRow>,
}

async fn runs_page(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let runs = load(move || Ok(store.runs(None, 200)?)).await?;
    Ok(render(&RunsPage {
        csrf: admin.csrf,
        runs: runs.iter().map(run_row).collect(),
    }))
}

#[derive(Template)]
#[template(path = "admin/run.html")]
struct RunPage {
    csrf: String,
    run: RunRow,
    running: bool,
    trees: String,
    log: String,
    /// The summary as JSON (behind a toggle) and as readable facts.
    summary: String,
    facts: Vec<(String, String)>,
    /// The model version this run registered.
    model: Option<i64>,
    message: Option<String>,
}

/// A run's summary as (label, value) lines for people: nested objects
/// flattened ("Totals · rows inserted"), lists counted, the JSON kept for
/// the toggle.
pub fn summary_facts(v: &Value) -> Vec<(String, String)> {
    fn label(k: &str) -> String {
        let t = k.replace('_', " ");
        match t.as_str() {
            "f1" => "F1".into(),
            "roc auc" => "ROC AUC".into(),
            "champion f1 same window" => "champion's F1 on the same window".into(),
            _ => t,
        }
    }
    fn value(v: &Value) -> String {
        match v {
            Value::Null => "–".into(),
            Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
            Value::Number(n) if n.is_f64() => {
                let x = n.as_f64().unwrap_or(0.0);
                if x.abs() >= 100.0 {
                    format!("{x:.1}")
                } else {
                    format!("{x:.4}")
                }
            }
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
                a.iter().map(value).collect::<Vec<_>>().join(", ")
            }
            Value::Array(a) => format!("{} entries (in the JSON below)", a.len()),
            Value::Object(_) => String::new(),
        }
    }
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>, depth: usize) {
        let Value::Object(map) = v else {
            out.push((prefix.to_string(), value(v)));
            return;
        };
        // The one-line message first, then the rest in order.
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by_key(|k| (k.as_str() != "message", k.as_str() != "version"));
        for k in keys {
            let name = if prefix.is_empty() {
                label(k)
            } else {
                format!("{prefix} · {}", label(k))
            };
            match &map[k] {
                Value::Object(_) if depth < 3 => walk(&name, &map[k], out, depth + 1),
                Value::Object(_) => out.push((name, "(in the JSON below)".into())),
                x => out.push((name, value(x))),
            }
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out, 0);
    for (k, _) in out.iter_mut() {
        if let Some(c) = k.get(..1) {
            *k = c.to_uppercase() + &k[1..];
        }
    }
    out
}

fn trees(r: &JobRun) -> String {
    r.progress
        .as_ref()
        .and_then(|p| serde_json::from_value::<crate::train::TreeProgress>(p.clone()).ok())
        .map_or_else(
            || "–".into(),
            |p| format!("{} / {}", p.trees_done, p.trees_total),
        )
}

async fn run_page(State(s): State<AppState>, admin: Admin, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error_page(StatusCode::NOT_FOUND, "No such run", "Run ids are numbers.");
    };
    let store = s.store.clone();
    let found = blocking(move || {
        let run = store.run(id)?;
        let model = store
            .models()?
            .iter()
            .find(|m| m.trained_by_run == Some(id))
            .map(|m| m.version);
        Ok((run, model))
    })
    .await;
    match found {
        Ok((r, model)) => render(&RunPage {
            message: s.auth.take_notice(&admin.session),
            csrf: admin.csrf,
            running: r.status == RunStatus::Running,
            trees: trees(&r),
            log: r.log.clone(),
            summary: r
                .summary
                .as_ref()
                .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                .unwrap_or_default(),
            facts: r.summary.as_ref().map(summary_facts).unwrap_or_default(),
            model,
            run: run_row(&r),
        }),
        Err(super::error::ApiError::NotFound { .. }) => error_page(
            StatusCode::NOT_FOUND,
            "No such run",
            &format!("There is no run {id}."),
        ),
        Err(e) => e.into_response(),
    }
}

/// Ask a running job to stop at its next safe point; it is recorded as
/// cancelled. 404 for an unknown run, 409 for one that is not running here.
async fn cancel_run(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Page {
    admin.check_csrf(&form)?;
    let Ok(id) = id.parse::<i64>() else {
        return Err(error_page(
            StatusCode::NOT_FOUND,
            "No such run",
            "Run ids are numbers.",
        ));
    };
    let store = s.store.clone();
    let run = blocking(move || Ok(store.run(id)?))
        .await
        .map_err(|e| match e {
            super::error::ApiError::NotFound { .. } => error_page(
                StatusCode::NOT_FOUND,
                "No such run",
                &format!("There is no run {id}."),
            ),
            e => e.into_response(),
        })?;
    if run.status != RunStatus::Running {
        return Err(error_page(
            StatusCode::CONFLICT,
            "Nothing to cancel",
            &format!("Run {id} has already {}.", run.status.as_str()),
        ));
    }
    match s.jobs.cancel(id) {
        Ok(()) => {
            s.auth.set_notice(
                &admin.session,
                format!(
                    "Cancel requested: run {id} stops at its next safe point and is recorded as cancelled."
                ),
            );
            Ok(Redirect::to(&format!("/admin/runs/{id}")).into_response())
        }
        Err(e) => Err(error_page(
            StatusCode::CONFLICT,
            "Cannot cancel",
            &format!("{e} (it may be going in another process)."),
        )),
    }
}

async fn run_json(State(s): State<AppState>, _admin: Admin, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return super::error::ApiError::invalid("id", "run ids are numbers").into_response();
    };
    let store = s.store.clone();
    match blocking(move || Ok(store.run(id)?)).await {
        Ok(r) => {
            let lines: Vec<&str> = r.log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            Json(serde_json::json!({
                "id": r.id, "kind": r.kind, "status": r.status, "trigger": r.trigger,
                "elapsed_seconds": elapsed(&r), "progress": r.progress,
                "log_tail": tail, "error": r.error,
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub struct ModelRowView {
    pub version: i64,
    pub champion: bool,
    pub created: String,
    pub f1: String,
    pub auc: String,
    pub brier: String,
    pub threshold: String,
    pub decision: String,
    pub reason: String,
    pub test: String,
    /// `forest` or `boost`.
    pub family: String,
}

fn window_text(w: &crate::store::Window) -> String {
    format!("{} – {}", w.from, w.to)
}

fn model_view(m: &ModelSummary, champion: Option<i64>) -> ModelRowView {
    ModelRowView {
        version: m.version,
        champion: Some(m.version) == champion,
        created: m.created_at.format("%Y-%m-%d %H:%M").to_string(),
        f1: format!("{:.4}", m.f1),
        auc: format!("{:.4}", m.roc_auc),
        brier: format!("{:.4}", m.brier),
        threshold: format!("{:.2}", m.threshold),
        decision: m.decision.map(|d| d.to_string()).unwrap_or_default(),
        reason: m.decision_reason.clone().unwrap_or_default(),
        test: window_text(&m.test_window),
        family: model_family(m).to_string(),
    }
}

/// The family a version records (versions from before boosting are forests).
fn model_family(m: &ModelSummary) -> &'static str {
    m.metrics.family().as_str()
}

/// A version's calibration on its test window, for the model page.
pub struct CalibrationView {
    pub method: String,
    pub mean_forecast: String,
    pub mean_forecast_raw: String,
    pub observed: String,
    pub brier_raw: String,
    pub brier_calibrated: String,
    /// (bin, forecasts, mean forecast, observed frequency)
    pub bins: Vec<(String, u64, String, String)>,
    pub points: Vec<charts::ReliabilityPoint>,
}

fn calibration_view(m: &ModelSummary) -> Option<CalibrationView> {
    let c = m.metrics.calibration.as_ref()?;
    let pct = |v: Option<f64>| v.map_or("–".into(), |x| format!("{:.1} %", x * 100.0));
    let f4 = |x: f64| format!("{x:.4}");
    Some(CalibrationView {
        method: c.method.clone(),
        mean_forecast: pct(Some(c.mean_forecast)),
        mean_forecast_raw: pct(Some(c.mean_forecast_raw)),
        observed: pct(Some(c.observed_frequency)),
        brier_raw: f4(c.brier_raw),
        brier_calibrated: f4(c.brier_calibrated),
        bins: c
            .reliability
            .iter()
            .map(|b| {
                (
                    format!("{:.0}–{:.0} %", b.lo * 100.0, b.hi * 100.0),
                    b.n,
                    pct(b.mean_forecast),
                    pct(b.observed),
                )
            })
            .collect(),
        points: c
            .reliability
            .iter()
            .filter_map(|b| Some((b.mean_forecast?, b.observed?, b.n)))
            .collect(),
    })
}

/// One station's test-window skill: (location, rows, Brier, ROC AUC).
fn station_skill_view(m: &ModelSummary) -> Vec<(String, u64, String, String)> {
    m.metrics
        .stations
        .iter()
        .flatten()
        .map(|s| {
            (
                crate::stations::display_name(&s.location).to_string(),
                s.rows,
                format!("{:.4}", s.brier),
                s.roc_auc.map_or("–".into(), |x| format!("{x:.3}")),
            )
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/models.html")]
struct ModelsPage {
    csrf: String,
    models: Vec<ModelRowView>,
    chart: String,
    deployments: Vec<crate::store::Deployment>,
    message: Option<String>,
}

async fn models_page(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let (models, champion, deployments) = load(move || {
        Ok((
            store.models()?,
            store.champion_version()?,
            store.deployments()?,
        ))
    })
    .await?;
    let mut asc: Vec<&ModelSummary> = models.iter().collect();
    asc.reverse();
    let labels: Vec<String> = asc.iter().map(|m| format!("v{}", m.version)).collect();
    let chart = if asc.is_empty() {
        String::new()
    } else {
        charts::line_chart(
            "Test-window F1 and ROC AUC by model version (each on its own test window)",
            "score",
            &labels,
            &[
                Series {
                    label: "F1 (rain = yes)",
                    colour: "#1f5fa8",
                    values: asc.iter().map(|m| Some(m.f1)).collect(),
                    bars: false,
                },
                Series {
                    label: "ROC AUC",
                    colour: "#d35400",
                    values: asc.iter().map(|m| Some(m.roc_auc)).collect(),
                    bars: false,
                },
            ],
        )
    };
    Ok(render(&ModelsPage {
        csrf: admin.csrf,
        models: models.iter().map(|m| model_view(m, champion)).collect(),
        chart,
        deployments,
        message: s.auth.take_notice(&admin.session),
    }))
}

/// Everything the model page and the comparison show of one version.
pub struct ModelDetail {
    pub row: ModelRowView,
    pub confusion: [u64; 4],
    pub precision: String,
    pub recall: String,
    pub accuracy: String,
    pub pr_auc: String,
    pub rows: String,
    pub train: String,
    pub tune: String,
    pub params: String,
    pub importance: Vec<(String, String)>,
    pub roc: Vec<(f64, f64)>,
    pub sha: String,
    pub calibration: Option<CalibrationView>,
    /// Worst Brier first.
    pub stations: Vec<(String, u64, String, String)>,
    /// Trees kept (after early stopping, for boosting).
    pub trees: String,
    /// The run that trained this version.
    pub trained_by_run: Option<i64>,
    /// Parameters flattened to (name, value), for the comparison's diff.
    pub param_list: Vec<(String, String)>,
}

/// Parameters as sorted (dotted name, value) pairs.
fn flat_params(v: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, x, out);
                }
            }
            Value::String(s) => out.push((prefix.to_string(), s.clone())),
            x => out.push((prefix.to_string(), x.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out.sort();
    out
}

/// One line of the parameter diff: name, value in a, value in b, differs.
pub struct ParamDiff {
    pub name: String,
    pub a: String,
    pub b: String,
    pub changed: bool,
}

/// Every parameter of either version, the differing ones first.
fn param_diff(a: &[(String, String)], b: &[(String, String)]) -> Vec<ParamDiff> {
    let mut names: Vec<&String> = a.iter().chain(b.iter()).map(|x| &x.0).collect();
    names.sort();
    names.dedup();
    let get = |l: &[(String, String)], n: &str| {
        l.iter()
            .find(|x| x.0 == n)
            .map_or_else(|| "–".to_string(), |x| x.1.clone())
    };
    let mut out: Vec<ParamDiff> = names
        .into_iter()
        .map(|n| {
            let (x, y) = (get(a, n), get(b, n));
            ParamDiff {
                changed: x != y,
                name: n.clone(),
                a: x,
                b: y,
            }
        })
        .collect();
    out.sort_by_key(|d| !d.changed);
    out
}

fn detail(m: &ModelSummary, champion: Option<i64>) -> ModelDetail {
    let t = &m.metrics.test;
    let f = |x: f64| format!("{x:.4}");
    let c = t.confusion;
    let mut importance = m.metrics.importance.clone();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    let rows = m.train_window.rows;
    ModelDetail {
        row: model_view(m, champion),
        confusion: [c.tp, c.fn_, c.fp, c.tn],
        precision: f(t.precision),
        recall: f(t.recall),
        accuracy: f(t.accuracy),
        pr_auc: f(t.pr_auc),
        rows: format!(
            "train {}, tune {}, test {}",
            rows.train, rows.tune, rows.test
        ),
        train: window_text(&m.train_window.train),
        tune: window_text(&m.train_window.tune),
        params: serde_json::to_string_pretty(&m.params).unwrap_or_default(),
        importance: importance
            .into_iter()
            .take(15)
            .map(|(n, v)| (n, format!("{:.1} %", v * 100.0)))
            .collect(),
        roc: t.roc_curve.clone(),
        sha: m.blob_sha256.clone(),
        calibration: calibration_view(m),
        stations: station_skill_view(m),
        trees: m
            .metrics
            .trees
            .map_or_else(|| "–".into(), |t| t.to_string()),
        trained_by_run: m.trained_by_run,
        param_list: flat_params(&m.params),
    }
}

/// A version's model card: everything needed to judge and reproduce it,
/// without the blob (parameters, data windows, metrics, feature schema,
/// checksum, family, calibration).
pub fn card_json(m: &ModelSummary) -> Value {
    serde_json::json!({
        "card": "raincast model card",
        "version": m.version,
        "family": model_family(m),
        "created_at": crate::store::rfc3339::text(&m.created_at),
        "trained_by_run": m.trained_by_run,
        "target": "rain day tomorrow: more than 1 mm in the 24 hours to 9 am (BOM's rain day)",
        "parameters": m.params,
        "windows": {
            "train": m.train_window.train,
            "tune": m.train_window.tune,
            "test": m.test_window,
            "rows": m.train_window.rows,
        },
        "threshold": m.threshold,
        "metrics": {
            "f1": m.f1,
            "roc_auc": m.roc_auc,
            "brier": m.brier,
            "test": m.metrics.test,
            "stations": m.metrics.stations,
            "importance": m.metrics.importance,
        },
        "calibration": m.metrics.calibration,
        "feature_schema": {
            "version": m.feature_schema,
            "features": if m.feature_schema == crate::features::SCHEMA_VERSION {
                serde_json::json!(crate::features::NAMES.to_vec())
            } else {
                Value::Null
            },
        },
        "decision": m.decision,
        "decision_reason": m.decision_reason,
        "checksum": { "algorithm": "sha256", "model": m.blob_sha256 },
        "model_bytes": m.blob_bytes,
    })
}

fn download_headers(name: &str, kind: &'static str) -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
        ),
    ]
}

/// `GET /admin/models/{v}/card.json`: the model card, as a download.
async fn model_card(State(s): State<AppState>, _admin: Admin, Path(v): Path<String>) -> Page {
    let v = parse_version(&v)?;
    let (m, _) = load_summary(&s, v).await?;
    let body = serde_json::to_string_pretty(&card_json(&m)).unwrap_or_default();
    Ok((
        download_headers(
            &format!("raincast-v{v}-card.json"),
            "application/json; charset=utf-8",
        ),
        body,
    )
        .into_response())
}

/// `GET /admin/models/{v}/model`: the model file itself, with its SHA-256
/// in `X-Checksum-SHA256` and a link to its card; 410 once pruned.
async fn model_blob(State(s): State<AppState>, _admin: Admin, Path(v): Path<String>) -> Page {
    let v = parse_version(&v)?;
    let store = s.store.clone();
    let row = blocking(move || Ok(store.model(v)?))
        .await
        .map_err(|e| match e {
            super::error::ApiError::NotFound { .. } => error_page(
                StatusCode::NOT_FOUND,
                "No such model",
                &format!("There is no model version {v}."),
            ),
            e => e.into_response(),
        })?;
    if row.blob.is_empty() {
        return Err(error_page(
            StatusCode::GONE,
            "Model file pruned",
            &format!(
                "The file of version {v} was pruned by the retention settings (model.keep_deployed, model.keep_challengers); its card is still available."
            ),
        ));
    }
    let mut resp = (
        download_headers(&format!("raincast-v{v}.model"), "application/octet-stream"),
        row.blob,
    )
        .into_response();
    let h = resp.headers_mut();
    if let Ok(x) = HeaderValue::from_str(&row.summary.blob_sha256) {
        h.insert("x-checksum-sha256", x);
    }
    if let Ok(x) = HeaderValue::from_str(&format!(
        "</admin/models/{v}/card.json>; rel=\"describedby\"; type=\"application/json\""
    )) {
        h.insert(header::LINK, x);
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "admin/model.html")]
struct ModelPage {
    csrf: String,
    m: ModelDetail,
    roc: String,
    reliability: String,
}

fn parse_version(v: &str) -> Result<i64, Response> {
    v.parse().map_err(|_| {
        error_page(
            StatusCode::NOT_FOUND,
            "No such model",
            "Model versions are numbers.",
        )
    })
}

async fn load_summary(s: &AppState, v: i64) -> Result<(ModelSummary, Option<i64>), Response> {
    let store = s.store.clone();
    blocking(move || Ok((store.model_summary(v)?, store.champion_version()?)))
        .await
        .map_err(|e| match e {
            super::error::ApiError::NotFound { .. } => error_page(
                StatusCode::NOT_FOUND,
                "No such model",
                &format!("There is no model version {v}."),
            ),
            e => e.into_response(),
        })
}

async fn model_page(State(s): State<AppState>, admin: Admin, Path(v): Path<String>) -> Page {
    let v = parse_version(&v)?;
    let (m, champion) = load_summary(&s, v).await?;
    let d = detail(&m, champion);
    let roc = charts::roc(&[(&format!("v{v}"), "#1f5fa8", &d.roc)]);
    let reliability = d.calibration.as_ref().map_or_else(String::new, |c| {
        charts::reliability(
            &format!("Reliability of v{v} on its test window (calibrated)"),
            &c.points,
        )
    });
    Ok(render(&ModelPage {
        csrf: admin.csrf,
        m: d,
        roc,
        reliability,
    }))
}

/// The evaluate form's fields.
#[derive(serde::Deserialize)]
struct EvaluateQuery {
    from: String,
    to: String,
}

#[derive(Template)]
#[template(path = "admin/evaluate.html")]
struct EvaluatePage {
    csrf: String,
    version: i64,
    e: crate::evaluate::Evaluation,
    reliability: String,
}

/// Score model `version` on a chosen window of stored observations (the
/// form on the model page); read-only.
async fn evaluate_page(
    State(s): State<AppState>,
    admin: Admin,
    Path(v): Path<String>,
    Query(q): Query<EvaluateQuery>,
) -> Page {
    let v = parse_version(&v)?;
    let bad = |m: String| error_page(StatusCode::UNPROCESSABLE_ENTITY, "Cannot evaluate", &m);
    let day = |field: &str, text: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| bad(format!("{field}: `{text}` is not a YYYY-MM-DD date")))
    };
    let (from, to) = (day("from", &q.from)?, day("to", &q.to)?);
    let store = s.store.clone();
    let result = crate::store::spawn_blocking(move || {
        crate::evaluate::evaluate(&store, crate::evaluate::Subject::Model(v), from, to)
    })
    .await
    .map_err(|e| super::error::ApiError::from(e).into_response())?;
    let e = match result {
        Ok(e) => e,
        Err(crate::evaluate::EvaluateError::Input(m)) => return Err(bad(m)),
        Err(crate::evaluate::EvaluateError::Registry(crate::registry::RegistryError::Store(
            crate::store::StoreError::NotFound(w),
        ))) => {
            return Err(error_page(
                StatusCode::NOT_FOUND,
                "No such model",
                &format!("{w} not found"),
            ));
        }
        Err(other) => return Err(bad(other.to_string())),
    };
    let points: Vec<charts::ReliabilityPoint> = e
        .reliability
        .iter()
        .filter_map(|b| Some((b.mean_forecast?, b.observed?, b.n)))
        .collect();
    let reliability = charts::reliability(&format!("Reliability of v{v}, {from} to {to}"), &points);
    Ok(render(&EvaluatePage {
        csrf: admin.csrf,
        version: v,
        e,
        reliability,
    }))
}

#[derive(Template)]
#[template(path = "admin/compare.html")]
struct ComparePage {
    csrf: String,
    a: ModelDetail,
    b: ModelDetail,
    roc: String,
    diff: Vec<ParamDiff>,
    changed: usize,
}

async fn compare(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Page {
    let (Some(a), Some(b)) = (q.get("a"), q.get("b")) else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "Pick two versions",
            "Choose versions a and b to compare.",
        ));
    };
    let (a, b) = (parse_version(a)?, parse_version(b)?);
    let (ma, champion) = load_summary(&s, a).await?;
    let (mb, _) = load_summary(&s, b).await?;
    let (da, db) = (detail(&ma, champion), detail(&mb, champion));
    let roc = charts::roc(&[
        (&format!("v{a}"), "#1f5fa8", &da.roc),
        (&format!("v{b}"), "#d35400", &db.roc),
    ]);
    let diff = param_diff(&da.param_list, &db.param_list);
    Ok(render(&ComparePage {
        csrf: admin.csrf,
        changed: diff.iter().filter(|d| d.changed).count(),
        diff,
        a: da,
        b: db,
        roc,
    }))
}

fn reason_of(form: &HashMap<String, String>) -> Result<String, Response> {
    let r = form.get("reason").map(|r| r.trim()).unwrap_or("");
    if r.is_empty() {
        return Err(error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "A reason is needed",
            "Say why; the reason is recorded in the deployment log.",
        ));
    }
    Ok(r.chars().take(500).collect())
}

async fn promote(
    State(s): State<AppState>,
    admin: Admin,
    Path(v): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Page {
    admin.check_csrf(&form)?;
    let v = parse_version(&v)?;
    let reason = reason_of(&form)?;
    Ok(deploy(&s, &admin, move |store| {
        registry::promote(store, v, &reason, "admin")
    })
    .await)
}

async fn rollback(
    State(s): State<AppState>,
    admin: Admin,
    Form(form): Form<HashMap<String, String>>,
) -> Page {
    admin.check_csrf(&form)?;
    let reason = reason_of(&form)?;
    Ok(deploy(&s, &admin, move |store| {
        registry::rollback(store, &reason, "admin")
    })
    .await)
}

async fn deploy(
    s: &AppState,
    admin: &Admin,
    f: impl FnOnce(&crate::store::Store) -> Result<crate::store::Deployment, registry::RegistryError>
    + Send
    + 'static,
) -> Response {
    let (store, serving) = (s.store.clone(), s.serving.clone());
    let result = crate::store::spawn_blocking(move || {
        let d = f(&store)?;
        let _ = serving.refresh(&store);
        Ok::<_, registry::RegistryError>(d)
    })
    .await;
    let msg = match result {
        Ok(Ok(d)) => format!("Version {} is the champion now ({}).", d.version, d.reason),
        Ok(Err(e)) => format!("Refused: {e}"),
        Err(e) => format!("Failed: {e}"),
    };
    s.auth.set_notice(&admin.session, msg);
    Redirect::to("/admin/models").into_response()
}

pub struct StationHealth {
    pub location: &'static str,
    pub name: &'static str,
    pub rows: u64,
    pub latest: String,
    pub stale: bool,
    pub last_scrape: String,
}

#[derive(Template)]
#[template(path = "admin/data.html")]
struct DataPage {
    csrf: String,
    stations: Vec<StationHealth>,
    missing: Vec<(&'static str, String)>,
    /// Field names, the grid's columns.
    fields: Vec<&'static str>,
    /// Station × field: (location, cells of (text, status class, tooltip)).
    grid: HealthGrid,
    /// Fields a station used to report and has gone quiet on.
    silent: Vec<String>,
}

async fn data_page(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let today = s.clock.today();
    let stale_after = s.config.server.stale_after_days;
    let (stats, missing, outcomes, health) = load(move || {
        Ok((
            store.station_stats()?,
            store.missing_rates()?,
            store.last_scrape_per_station()?,
            crate::train::health::data_health(&store)?,
        ))
    })
    .await?;
    let (grid, silent) = health_grid(&health);
    let stations = crate::stations::STATIONS
        .iter()
        .map(|st| {
            let stat = stats.iter().find(|x| x.location == st.location);
            let latest = stat.and_then(|x| x.latest);
            StationHealth {
                location: st.location,
                name: st.display_name,
                rows: stat.map_or(0, |x| x.rows),
                latest: latest.map_or("–".into(), |d| d.to_string()),
                stale: latest.is_none_or(|d| (today - d).num_days() > stale_after),
                last_scrape: outcomes
                    .iter()
                    .find(|o| o.location == st.location)
                    .map_or_else(
                        || "never scraped".into(),
                        |o| {
                            format!(
                                "{} {}: {}{}",
                                o.month,
                                o.fetched_at
                                    .chars()
                                    .take(16)
                                    .collect::<String>()
                                    .replace('T', " "),
                                o.status,
                                o.message
                                    .as_deref()
                                    .map(|m| format!(" ({m})"))
                                    .unwrap_or_default()
                            )
                        },
                    ),
            }
        })
        .collect();
    Ok(render(&DataPage {
        csrf: admin.csrf,
        stations,
        missing: missing
            .into_iter()
            .map(|(n, r)| (n, format!("{:.1} %", r * 100.0)))
            .collect(),
        fields: crate::train::health::field_names(),
        grid,
        silent,
    }))
}

type HealthGrid = Vec<(String, Vec<(String, &'static str, String)>)>;

/// The station × field grid: each cell is the recent missing share, classed
/// by status, with the history in its tooltip; and the flagged fields.
fn health_grid(health: &[crate::train::health::StationHealth]) -> (HealthGrid, Vec<String>) {
    use crate::train::health::FieldStatus;
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{:.0}", x * 100.0));
    let mut silent = Vec::new();
    let grid = health
        .iter()
        .map(|st| {
            for f in st.flagged() {
                silent.push(format!(
                    "{} {}: {} (missing {} % in the last {} days, {} % before)",
                    st.location,
                    f.field,
                    f.status.as_str(),
                    pct(f.recent_missing),
                    crate::train::health::RECENT_DAYS,
                    pct(f.history_missing)
                ));
            }
            let cells = st
                .fields
                .iter()
                .map(|f| {
                    let class = match f.status {
                        FieldStatus::Ok => "ok",
                        FieldStatus::Degraded => "degraded",
                        FieldStatus::Silent => "silent",
                        FieldStatus::NotReported => "absent",
                        FieldStatus::Unknown => "unknown",
                    };
                    (
                        pct(f.recent_missing),
                        class,
                        format!(
                            "{} {}: {}; missing {} % recently, {} % before",
                            st.location,
                            f.field,
                            f.status.as_str(),
                            pct(f.recent_missing),
                            pct(f.history_missing)
                        ),
                    )
                })
                .collect();
            (
                crate::stations::display_name(&st.location).to_string(),
                cells,
            )
        })
        .collect();
    (grid, silent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxy = [ip("10.0.0.1")];
        let h = xff("203.0.113.9, 198.51.100.7");
        // From an untrusted peer the header is the client's own claim: ignored.
        assert_eq!(
            ClientAddr::resolve(Some(ip("192.0.2.5")), &h, &proxy),
            ip("192.0.2.5")
        );
        assert_eq!(
            ClientAddr::resolve(Some(ip("192.0.2.5")), &h, &[]),
            ip("192.0.2.5")
        );
        // Behind the proxy: the nearest hop it saw, not the spoofable first one.
        assert_eq!(
            ClientAddr::resolve(Some(ip("10.0.0.1")), &h, &proxy),
            ip("198.51.100.7")
        );
        // Chained trusted proxies are skipped.
        let two = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            ClientAddr::resolve(Some(ip("10.0.0.1")), &xff("198.51.100.7, 10.0.0.2"), &two),
            ip("198.51.100.7")
        );
        // A proxy that sent no (or a garbled) header: the proxy itself.
        assert_eq!(
            ClientAddr::resolve(Some(ip("10.0.0.1")), &HeaderMap::new(), &proxy),
            ip("10.0.0.1")
        );
        assert_eq!(
            ClientAddr::resolve(Some(ip("10.0.0.1")), &xff("junk"), &proxy),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn one_address_has_one_attempt_in_flight_and_waits_after_a_failure() {
        let gate = LoginGate::new();
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut first = gate.admit(a).ok().unwrap();
        assert!(matches!(gate.admit(a), Err(Refused::Throttled(_))));
        // Another address is not held up.
        drop(gate.admit(b).ok().unwrap());
        first.ok = Some(false);
        drop(first);
        match gate.admit(a) {
            Err(Refused::Throttled(w)) => assert!(w <= Duration::from_millis(500), "{w:?}"),
            _ => panic!("a failure makes the address wait"),
        }
        assert_eq!(LoginGate::delay(1), Duration::from_millis(500));
        assert_eq!(LoginGate::delay(5), Duration::from_secs(8));
        assert_eq!(LoginGate::delay(50), Duration::from_secs(8));
    }
}
