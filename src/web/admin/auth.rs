//! Logging in and out: the argon2 password check (admitted by the
//! [`gate`](super::gate)), sessions in memory behind HttpOnly SameSite=Strict
//! cookies (read and written with axum-extra's cookie jar), a CSRF token per
//! session checked on every POST in constant time (`subtle`), and the
//! [`Admin`] extractor that guards every other admin route.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use askama::Template;
use axum::Form;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::gate::{ClientAddr, LoginGate, Refused};
use super::{AdminError, Page, disabled};
use crate::config::AdminConfig;
use crate::web::AppState;
use crate::web::html::error_page;

const SESSION_COOKIE: &str = "raincast_session";
/// The login form's nonce (double-submitted: cookie and hidden field).
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

/// Give the memory of a finished hash back to the system. glibc keeps freed
/// memory in per-thread arenas, and the argon2 block (19 MiB) is allocated on
/// whichever blocking thread ran the hash: without this, RSS grew by that
/// much per thread ever used (643 MB after 32 parallel logins).
fn return_memory() {
    crate::memory::release();
}

/// A fresh 256-bit random token, hex-encoded.
pub(super) fn token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Constant-time comparison of two tokens (different lengths never match).
fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
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
            cookie_secure: cfg.cookie_secure.as_str().to_string(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.hash.is_some()
    }

    /// Check a password from client `addr`: admitted by the gate first
    /// (address and network throttles, global budget, queue), then one
    /// hash at a time.
    async fn check(&self, addr: std::net::IpAddr, password: &str) -> Result<bool, Refused> {
        let mut attempt = self.gate.admit(addr)?;
        let permit = self.gate.permit(attempt.clean).await?;
        let Some(hash) = self.hash.clone() else {
            return Ok(false);
        };
        let password = password.to_string();
        let ok = crate::runtime::spawn_blocking(move || {
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
    pub(super) fn set_notice(&self, id: &str, notice: String) {
        if let Ok(mut s) = self.sessions.lock()
            && let Some(v) = s.get_mut(id)
        {
            v.notice = Some(notice);
        }
    }

    /// Take session `id`'s notice (shown once).
    pub(super) fn take_notice(&self, id: &str) -> Option<String> {
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

    /// An admin cookie: scoped to `/admin`, HttpOnly, SameSite=Strict,
    /// Secure over TLS (see `admin.cookie_secure`). `max_age` 0 clears it.
    fn cookie(
        &self,
        headers: &HeaderMap,
        name: &'static str,
        value: String,
        max_age: i64,
    ) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/admin")
            .http_only(true)
            .same_site(SameSite::Strict)
            .max_age(cookie::time::Duration::seconds(max_age))
            .secure(self.secure(headers))
            .build()
    }

    /// `jar` with a fresh login nonce; the nonce to put in the form.
    fn with_nonce(&self, headers: &HeaderMap, jar: CookieJar) -> (CookieJar, String) {
        let nonce = token();
        let jar = jar.add(self.cookie(headers, LOGIN_COOKIE, nonce.clone(), 3600));
        (jar, nonce)
    }
}

/// A form that only carries the session's CSRF token (missing = empty,
/// which never matches, so the refusal is the same 403 as a wrong token).
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// A logged-in admin. Extracting it refuses the request otherwise: pages
/// redirect to the login, everything else answers 401.
pub struct Admin {
    pub csrf: String,
    /// The session's id (its cookie value).
    pub(super) session: String,
}

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        if !app.auth.enabled() {
            return Err(AdminError::Disabled);
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let session = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value())
            .and_then(|id| Some((id.to_string(), app.auth.lookup(id)?)));
        match session {
            Some((session, csrf)) => Ok(Admin { csrf, session }),
            None => Err(AdminError::LoginRequired {
                json: parts.method != axum::http::Method::GET
                    || parts.uri.path().ends_with("/json"),
            }),
        }
    }
}

impl Admin {
    /// Refuse a form whose CSRF token does not match the session's.
    pub(super) fn check_csrf(&self, csrf: &str) -> Result<(), AdminError> {
        if same(csrf, &self.csrf) {
            return Ok(());
        }
        Err(AdminError::refused(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form's security token is missing or wrong. Reload the page and try again.",
        ))
    }
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    nonce: String,
    error: Option<String>,
}

/// The login form with `error` (if any), a fresh nonce in it and its cookie.
fn login_page(
    s: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let (jar, nonce) = s.auth.with_nonce(headers, jar);
    (status, jar, s.page(&LoginPage { nonce, error })).into_response()
}

pub(super) async fn login_form(
    State(s): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    if !s.auth.enabled() {
        return disabled();
    }
    login_page(&s, &headers, jar, StatusCode::OK, None)
}

/// 429: the login form again (with a fresh nonce), saying when to retry.
fn too_many(
    s: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    wait: Option<Duration>,
    why: &str,
) -> Response {
    let secs = wait.map_or(10, |w| w.as_secs_f64().ceil().max(1.0) as u64);
    let mut resp = login_page(
        s,
        headers,
        jar,
        StatusCode::TOO_MANY_REQUESTS,
        Some(format!("{why} Try again in {secs} s.")),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

pub(super) async fn login(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    if !s.auth.enabled() {
        return disabled();
    }
    let nonce_ok = jar
        .get(LOGIN_COOKIE)
        .is_some_and(|c| !c.value().is_empty() && same(c.value(), &form.csrf));
    if !nonce_ok {
        return error_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "The login form's security token is missing or wrong. Reload the login page and try again.",
        );
    }
    let ok = match s.auth.check(addr, &form.password).await {
        Ok(ok) => ok,
        Err(Refused::Throttled(wait)) => {
            return too_many(
                &s,
                &headers,
                jar,
                Some(wait),
                "A login from your address or network failed a moment ago or is being checked.",
            );
        }
        Err(Refused::Busy(wait)) => {
            return too_many(
                &s,
                &headers,
                jar,
                Some(wait),
                "The server is checking many logins now.",
            );
        }
    };
    if !ok {
        tracing::warn!(%addr, "failed admin login");
        return login_page(
            &s,
            &headers,
            jar,
            StatusCode::UNAUTHORIZED,
            Some("Wrong password.".into()),
        );
    }
    let (id, _) = s.auth.create();
    tracing::info!(%addr, "admin logged in");
    let max_age = s.auth.ttl.as_secs() as i64;
    let jar = jar
        .add(s.auth.cookie(&headers, SESSION_COOKIE, id, max_age))
        .add(s.auth.cookie(&headers, LOGIN_COOKIE, String::new(), 0));
    (jar, Redirect::to("/admin")).into_response()
}

pub(super) async fn logout(
    State(s): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Page {
    admin.check_csrf(&form.csrf)?;
    s.auth.remove(&admin.session);
    let jar = jar.add(s.auth.cookie(&headers, SESSION_COOKIE, String::new(), 0));
    Ok((jar, Redirect::to("/admin/login")).into_response())
}
