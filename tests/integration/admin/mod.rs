//! The admin console over HTTP: disabled without a password, sessions,
//! cookies, CSRF, job triggers, promotion and logout.

use crate::support::app;

mod alerts;
mod flood;
mod snapshot;
mod writes;

use std::time::{Duration, Instant};

use app::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const PASSWORD: &str = "correct horse battery staple";

async fn admin_app(tweak: impl FnOnce(&mut raincast::config::Config)) -> TestApp {
    spawn_app_with(true, |c| {
        c.admin.password = PASSWORD.into();
        tweak(c);
    })
    .await
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The value of cookie `name` set by a response.
fn cookie(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .filter_map(|c| c.split(';').next()?.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The `csrf` hidden field of a page.
fn csrf_in(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// Log in as a browser would: fetch the form (nonce cookie + field), post it.
async fn login_with(app: &TestApp, password: &str, https: bool) -> reqwest::Response {
    let mut get = app.get("/admin/login");
    if https {
        get = get.header("x-forwarded-proto", "https");
    }
    let form = get.send().await.unwrap();
    assert_eq!(form.status(), 200);
    let nonce = cookie(&set_cookies(&form), "raincast_login").expect("login nonce cookie");
    assert_eq!(csrf_in(&form.text().await.unwrap()), nonce);
    let mut post = app
        .post("/admin/login")
        .header(COOKIE, format!("raincast_login={nonce}"))
        .form(&[("csrf", nonce.as_str()), ("password", password)]);
    if https {
        post = post.header("x-forwarded-proto", "https");
    }
    post.send().await.unwrap()
}

/// GET `path` with the session cookie.
async fn get_with(app: &TestApp, session: &str, path: &str) -> reqwest::Response {
    app.get(path).header(COOKIE, session).send().await.unwrap()
}

/// POST a form to `path` with the session cookie, as the console's buttons do.
async fn post_form<F: serde::Serialize + ?Sized>(
    app: &TestApp,
    session: &str,
    path: &str,
    form: &F,
) -> reqwest::Response {
    app.post(path)
        .header(COOKIE, session)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A logged-in session: its cookie header and CSRF token.
async fn login(app: &TestApp) -> (String, String) {
    let resp = login_with(app, PASSWORD, false).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/admin");
    let id = cookie(&set_cookies(&resp), "raincast_session").expect("session cookie");
    let cookie = format!("raincast_session={id}");
    let page = get_with(app, &cookie, "/admin").await;
    assert_eq!(page.status(), 200);
    let csrf = csrf_in(&page.text().await.unwrap());
    (cookie, csrf)
}

const GET_ROUTES: [&str; 12] = [
    "/admin",
    "/admin/alerts",
    "/admin/runs",
    "/admin/runs/1",
    "/admin/runs/1/json",
    "/admin/models",
    "/admin/models/1",
    "/admin/compare?a=1&b=2",
    "/admin/data",
    "/admin/models/1/evaluate?from=2017-01-01&to=2017-06-25",
    "/admin/models/1/card.json",
    "/admin/models/1/model",
];
const POST_ROUTES: [&str; 8] = [
    "/admin/jobs/train",
    "/admin/alerts",
    "/admin/alerts/1/delete",
    "/admin/alerts/deliveries/1/resend",
    "/admin/runs/1/cancel",
    "/admin/models/1/promote",
    "/admin/rollback",
    "/admin/logout",
];

/// Every admin route refuses a request carrying `cookie` (if any): pages
/// redirect to the login, the JSON route and every POST answer 401.
async fn assert_all_refused(app: &TestApp, cookie: Option<&str>, what: &str) {
    for path in GET_ROUTES {
        let mut req = app.get(path);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        if path.ends_with("/json") {
            assert_eq!(status, 401, "{what}: GET {path}");
        } else {
            assert!(
                status.is_redirection(),
                "{what}: GET {path} answered {status}"
            );
            assert_eq!(
                resp.headers()[LOCATION],
                "/admin/login",
                "{what}: GET {path}"
            );
        }
    }
    for path in POST_ROUTES {
        let mut req = app
            .post(path)
            .form(&[("csrf", "whatever"), ("reason", "because")]);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{what}: POST {path}");
        let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(body["error"], "unauthorized", "{what}: POST {path}");
    }
    // Nothing was started or promoted.
    assert!(
        app.store
            .runs(Some(raincast::store::JobKind::Train), 10)
            .unwrap()
            .iter()
            .all(|r| r.trigger != "admin")
    );
    assert_eq!(app.store.champion_version().unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_without_a_password() {
    let app = spawn_app_with(true, |_| {}).await;
    assert!(!app.state.auth.enabled());
    for path in [
        "/admin",
        "/admin/login",
        "/admin/models",
        "/admin/runs/1/json",
    ] {
        let resp = app.get(path).send().await.unwrap();
        assert_eq!(resp.status(), 503, "GET {path}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("disabled"), "GET {path}: {html}");
    }
    for path in POST_ROUTES.iter().chain(&["/admin/login"]) {
        let resp = app
            .post(path)
            .form(&[("csrf", "x"), ("password", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503, "POST {path}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_needs_a_live_session() {
    let app = admin_app(|_| {}).await;
    // A finished run 1, so that the run pages have something to show.
    let id = app
        .store
        .start_run(
            raincast::store::JobKind::Train,
            raincast::store::Trigger::Cli,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    app.store
        .finish_run(
            id,
            raincast::store::RunStatus::Succeeded,
            None,
            None,
            "done\n",
        )
        .unwrap();
    assert_eq!(id, 1);

    assert_all_refused(&app, None, "no cookie").await;
    let forged = format!("raincast_session={}", "ab".repeat(32));
    assert_all_refused(&app, Some(&forged), "forged cookie").await;
    assert_all_refused(&app, Some("raincast_session="), "empty cookie").await;

    // With a live session every page answers.
    let (session, csrf) = login(&app).await;
    for path in GET_ROUTES {
        let resp = get_with(&app, &session, path).await;
        assert_eq!(resp.status(), 200, "GET {path} with a session");
    }
    // A session cookie under another name, or the login nonce, is no session.
    let renamed = session.replace("raincast_session", "raincast_login");
    assert_all_refused(&app, Some(&renamed), "nonce cookie").await;

    // Logged out, the old cookie is dead (the same as an expired one).
    let out = post_form(&app, &session, "/admin/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()[LOCATION], "/admin/login");
    let cleared = set_cookies(&out);
    assert_eq!(cookie(&cleared, "raincast_session").as_deref(), Some(""));
    assert!(cleared[0].contains("Max-Age=0"), "{cleared:?}");
    assert_all_refused(&app, Some(&session), "logged-out cookie").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_sets_a_strict_http_only_cookie() {
    let app = admin_app(|_| {}).await;
    let resp = login_with(&app, PASSWORD, false).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = set_cookies(&resp);
    let session = set
        .iter()
        .find(|c| c.starts_with("raincast_session="))
        .expect("session cookie");
    let attrs: Vec<&str> = session.split(';').map(str::trim).collect();
    assert!(attrs.contains(&"HttpOnly"), "{session}");
    assert!(attrs.contains(&"SameSite=Strict"), "{session}");
    assert!(attrs.contains(&"Path=/admin"), "{session}");
    assert!(
        !attrs.contains(&"Secure"),
        "plain http: no Secure: {session}"
    );
    let id = cookie(&set, "raincast_session").unwrap();
    assert_eq!(id.len(), 64, "a 256-bit token: {id}");
    // The login nonce is cleared.
    assert_eq!(cookie(&set, "raincast_login").as_deref(), Some(""));

    // Behind a TLS proxy the cookie is Secure.
    let resp = login_with(&app, PASSWORD, true).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = set_cookies(&resp);
    let session = set
        .iter()
        .find(|c| c.starts_with("raincast_session="))
        .unwrap();
    assert!(
        session.split(';').map(str::trim).any(|a| a == "Secure"),
        "{session}"
    );
    // Two logins, two different sessions.
    assert_ne!(cookie(&set, "raincast_session").unwrap(), id);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_missing_nonce_are_refused() {
    let app = admin_app(|_| {}).await;
    let resp = login_with(&app, "wrong", false).await;
    assert_eq!(resp.status(), 401);
    let set = set_cookies(&resp);
    assert_eq!(cookie(&set, "raincast_session"), None, "{set:?}");
    assert!(resp.text().await.unwrap().contains("Wrong password"));

    // The form without its nonce cookie (a cross-site post) is refused before the password is checked.
    let resp = app
        .post("/admin/login")
        .form(&[("csrf", "abc"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(cookie(&set_cookies(&resp), "raincast_session"), None);
    // With a mismatched nonce too.
    let resp = post_form(
        &app,
        "raincast_login=abd",
        "/admin/login",
        &[("csrf", "abc"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(resp.status(), 403);

    // Right after a failure, the same address is refused without a check
    // (429, with when to come back), even with the right password.
    let resp = login_with(&app, PASSWORD, false).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(cookie(&set_cookies(&resp), "raincast_session"), None);
    // After the wait (0.5 s after one failure), the right password works.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let resp = login_with(&app, PASSWORD, false).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

/// Poll a run's JSON until it is no longer running.
async fn wait_run(app: &TestApp, session: &str, id: i64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let resp = get_with(app, session, &format!("/admin/runs/{id}/json")).await;
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        if v["status"] != "running" {
            return v;
        }
        assert!(Instant::now() < deadline, "run {id} still running: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_need_the_csrf_token() {
    let app = admin_app(|_| {}).await;
    let (session, csrf) = login(&app).await;
    for form in [
        vec![],
        vec![("csrf", "0".repeat(64))],
        vec![("csrf", csrf[..63].to_string())],
    ] {
        for path in POST_ROUTES {
            let resp = post_form(&app, &session, path, &form).await;
            assert_eq!(resp.status(), 403, "POST {path} with {form:?}");
        }
    }
    assert!(
        app.store.runs(None, 10).unwrap().is_empty(),
        "nothing started"
    );

    // With the token: a training starts and the browser is sent to its page.
    let resp = post_form(
        &app,
        &session,
        "/admin/jobs/train",
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()[LOCATION].to_str().unwrap().to_string();
    let id: i64 = to
        .strip_prefix("/admin/runs/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("redirected to {to}"));
    let page = get_with(&app, &session, &to).await;
    assert_eq!(page.status(), 200);
    let run = wait_run(&app, &session, id).await;
    assert_eq!(run["kind"], "train");
    assert_eq!(run["trigger"], "admin");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(app.store.models().unwrap().len(), 3, "version 3 registered");

    // Unknown job kind.
    let resp = post_form(
        &app,
        &session,
        "/admin/jobs/bake",
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(resp.status(), 404);

    // Promote needs a reason; with one, version 2 serves; rollback brings 1 back.
    let resp = post_form(
        &app,
        &session,
        "/admin/models/2/promote",
        &[("csrf", csrf.as_str()), ("reason", "  ")],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let resp = post_form(
        &app,
        &session,
        "/admin/models/2/promote",
        &[("csrf", csrf.as_str()), ("reason", "admin test")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    // The outcome travels in the session, shown once on the next page.
    assert_eq!(resp.headers()[LOCATION], "/admin/models");
    let page = |c: &str| {
        app.get("/admin/models")
            .header(COOKIE, c.to_string())
            .send()
    };
    let html = page(&session).await.unwrap().text().await.unwrap();
    assert!(html.contains("Version 2 is the champion now"), "{html}");
    let html = page(&session).await.unwrap().text().await.unwrap();
    assert!(
        !html.contains("Version 2 is the champion now"),
        "shown once"
    );
    // A notice in a link is not shown on an admin page.
    for path in [
        "/admin/models?message=Send+your+password+to+evil",
        "/admin?message=Send+your+password+to+evil",
    ] {
        let html = get_with(&app, &session, path).await.text().await.unwrap();
        assert!(!html.contains("evil"), "{path}: {html}");
    }
    assert_eq!(app.state.serving.get().map(|m| m.version), Some(2));
    let resp = post_form(
        &app,
        &session,
        "/admin/rollback",
        &[("csrf", csrf.as_str()), ("reason", "back")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.state.serving.get().map(|m| m.version), Some(1));
    let d = app.store.deployments().unwrap();
    assert_eq!(
        (d[0].version, d[0].actor.as_str(), d[0].reason.as_str()),
        (1, "admin", "back")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_trigger_while_one_runs_is_409() {
    // Big enough to still be training when the second request arrives.
    let app = admin_app(|c| {
        c.model.n_trees = 500;
        c.model.max_depth = 0;
    })
    .await;
    let (session, csrf) = login(&app).await;
    let trigger = || {
        app.post("/admin/jobs/train")
            .header(COOKIE, &session)
            .form(&[("csrf", csrf.as_str())])
            .send()
    };
    let first = trigger().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = trigger().await.unwrap();
    assert_eq!(second.status(), 409);
    let html = second.text().await.unwrap();
    assert!(html.contains("already going"), "{html}");
    // A refresh conflicts with a training too.
    let third = post_form(
        &app,
        &session,
        "/admin/jobs/refresh",
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(third.status(), 409);
    assert_eq!(
        app.store
            .runs(Some(raincast::store::JobKind::Train), 10)
            .unwrap()
            .len(),
        1
    );
    // Stopping the server stops the training at a safe point.
    let store = app.store.clone();
    app.stop().await;
    let runs = store
        .runs(Some(raincast::store::JobKind::Train), 10)
        .unwrap();
    assert_eq!(
        runs[0].status,
        raincast::store::RunStatus::Cancelled,
        "{:?}",
        runs[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_going_in_another_process_is_409() {
    let app = admin_app(|_| {}).await;
    let (session, csrf) = login(&app).await;
    // `raincast train` in another process holds the run (its pid is alive: ours).
    let other = app
        .store
        .start_run(
            raincast::store::JobKind::Train,
            raincast::store::Trigger::Cli,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let resp = post_form(
        &app,
        &session,
        "/admin/jobs/train",
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(resp.status(), 409);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(&format!("run {other}")),
        "names the running run: {html}"
    );
    // Once it is over, a training starts.
    app.store
        .finish_run(other, raincast::store::RunStatus::Succeeded, None, None, "")
        .unwrap();
    let resp = post_form(
        &app,
        &session,
        "/admin/jobs/train",
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let id: i64 = resp.headers()[LOCATION].to_str().unwrap()["/admin/runs/".len()..]
        .parse()
        .unwrap();
    assert_eq!(wait_run(&app, &session, id).await["status"], "succeeded");
    app.stop().await;
}

/// Every response carries the security headers; admin pages are not cached;
/// no page has inline script, inline style or an event-handler attribute
/// (the CSP forbids them, so they would silently stop working).
#[tokio::test(flavor = "multi_thread")]
async fn security_headers_everywhere_and_no_inline_code() {
    let app = admin_app(|_| {}).await;
    let (session, _) = login(&app).await;
    let public = [
        "/",
        "/forecast/Sydney",
        "/forecast/Atlantis",
        "/api/docs",
        "/api/v1/locations",
        "/api/v1/forecast/Sydney",
        "/api/v1/nothing",
        "/healthz",
        "/metrics",
        "/static/app.css",
        "/static/app.js",
        "/no-such-page",
        "/admin/login",
    ];
    let admin: Vec<&str> = GET_ROUTES.to_vec();
    let inline = regex_free_inline_check;
    for (path, logged_in) in public
        .iter()
        .map(|p| (*p, false))
        .chain(admin.iter().map(|p| (*p, true)))
    {
        let mut req = app.get(path);
        if logged_in {
            req = req.header(COOKIE, &session);
        }
        let resp = req.send().await.unwrap();
        let h = resp.headers().clone();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        if path.starts_with("/admin") {
            assert_eq!(h["cache-control"], "no-store", "{path}");
        }
        let html = h
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
        if html {
            inline(path, &resp.text().await.unwrap());
        }
    }
    app.stop().await;
}

/// Inline `<script>` (without `src`), `<style>`, `style="…"` and `on…=`
/// attributes in an HTML page.
fn regex_free_inline_check(path: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
        assert!(tag.contains(" src="), "{path}: inline script {tag}");
    }
    assert!(!lower.contains("<style"), "{path}: inline <style>");
    if let Some(i) = lower.find(" style=") {
        panic!(
            "{path}: inline style at {i}: {}",
            &html[i..(i + 60).min(html.len())]
        );
    }
    for (i, _) in lower.match_indices(" on") {
        let rest = &lower[i + 3..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        assert!(
            name.is_empty() || !rest[name.len()..].starts_with('='),
            "{path}: event handler attribute on{name}= at {i}"
        );
    }
    assert!(!lower.contains("javascript:"), "{path}: javascript: URL");
}

/// One guess, as `login_with` does, with an `X-Forwarded-For` header.
async fn login_forwarded(app: &TestApp, password: &str, xff: &str) -> reqwest::Response {
    let form = app.get("/admin/login").send().await.unwrap();
    let nonce = cookie(&set_cookies(&form), "raincast_login").unwrap();
    app.post("/admin/login")
        .header(COOKIE, format!("raincast_login={nonce}"))
        .header("x-forwarded-for", xff)
        .form(&[("csrf", nonce.as_str()), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// Failed logins are throttled per client address. `X-Forwarded-For` names
/// the client only when the peer is a configured trusted proxy: otherwise a
/// guesser could dodge the throttle by inventing a new address each time.
#[tokio::test(flavor = "multi_thread")]
async fn the_throttle_follows_forwarded_for_only_from_a_trusted_proxy() {
    // No trusted proxy: the header is ignored, the socket address counts.
    let app = admin_app(|_| {}).await;
    let r = login_forwarded(&app, "wrong", "203.0.113.1").await;
    assert_eq!(r.status(), 401);
    let r = login_forwarded(&app, PASSWORD, "203.0.113.2").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "spoofed header dodged the throttle"
    );
    app.stop().await;

    // Behind a trusted proxy on 127.0.0.1: each forwarded client has its own
    // throttle, so one client's failures do not hold up another.
    let app = admin_app(|c| c.server.trusted_proxies = "127.0.0.1".into()).await;
    let r = login_forwarded(&app, "wrong", "203.0.113.1").await;
    assert_eq!(r.status(), 401);
    let r = login_forwarded(&app, "wrong", "203.0.113.1").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = login_forwarded(&app, PASSWORD, "203.0.113.2").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "another client logs in at once"
    );
    app.stop().await;
}

/// The model page's "evaluate on any window" form: the same scores as
/// `raincast evaluate`, read-only; bad dates and unknown versions are 4xx.
#[tokio::test(flavor = "multi_thread")]
async fn evaluate_a_model_on_a_chosen_window() {
    let app = admin_app(|_| {}).await;
    let (session, _) = login(&app).await;
    let get = |path: &str| app.get(path).header(COOKIE, session.as_str()).send();
    let page = get("/admin/models/1").await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="evaluate-form""#), "{page}");
    // The version's amounts on its test window, one row per issue, from
    // its record.
    let m = app.store.model_summary(1).unwrap();
    assert_eq!(m.metrics.amounts.len(), 3, "{:?}", m.metrics.amounts);
    assert!(page.contains(r#"<details id="amounts">"#), "{page}");
    let afternoon = &m.metrics.amounts[2];
    let five = &afternoon.scores.thresholds[2];
    assert_eq!(five.event, "at least 5 mm");
    assert!(
        page.contains(&format!(
            "<td>{:.3} / {:.3}</td>",
            five.mean_forecast, five.observed_frequency
        )),
        "{page}"
    );
    let before = app.store.models().unwrap().len();
    let resp = get("/admin/models/1/evaluate?from=2017-01-01&to=2017-06-25")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let store = app.store.clone();
    let e = tokio::task::spawn_blocking(move || {
        raincast::evaluate::evaluate(
            &store,
            raincast::evaluate::Subject::Model(1),
            chrono::NaiveDate::from_ymd_opt(2017, 1, 1).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2017, 6, 25).unwrap(),
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert!(e.overall.n > 100, "{e:?}");
    assert!(
        html.contains(&format!(r#"<td id="brier">{:.4}</td>"#, e.overall.brier)),
        "{html}"
    );
    assert_eq!(app.store.models().unwrap().len(), before, "nothing written");
    for (path, status) in [
        (
            "/admin/models/1/evaluate?from=2017-13-01&to=2017-06-25",
            422,
        ),
        (
            "/admin/models/1/evaluate?from=2017-06-25&to=2017-01-01",
            422,
        ),
        (
            "/admin/models/1/evaluate?from=2030-01-01&to=2030-02-01",
            422,
        ),
        (
            "/admin/models/99/evaluate?from=2017-01-01&to=2017-06-25",
            404,
        ),
        ("/admin/models/1/evaluate?from=2017-01-01", 400),
    ] {
        assert_eq!(get(path).await.unwrap().status(), status, "{path}");
    }
}

/// `raincast evaluate --forecasts`: every scored forecast as CSV, in time
/// order, adding up to the printed scores; an existing file is refused
/// untouched, and a failed evaluation leaves no file behind.
#[test]
fn evaluate_writes_the_scored_forecasts_it_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let db = app::new_db(dir.path(), true);
    let csv = dir.path().join("forecasts.csv");
    let args = |path: &std::path::Path, from: &str| {
        [
            "evaluate",
            "--model",
            "1",
            "--from",
            from,
            "--to",
            "2017-06-25",
            "--json",
            "--forecasts",
        ]
        .into_iter()
        .map(String::from)
        .chain([path.display().to_string()])
        .collect::<Vec<_>>()
    };
    let run = |args: &[String]| {
        std::process::Command::new(crate::support::bin())
            .arg("--db")
            .arg(&db)
            .args(args)
            .env("RAINCAST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run(&args(&csv, "2017-01-01"));
    assert!(out.status.success(), "{out:?}");
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "issue,location,for_date,probability,rain,amount_mm,chance_0.2mm,chance_1mm,\
             chance_2mm,chance_5mm,chance_10mm,chance_15mm,chance_25mm,chance_50mm"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, e["n"].as_u64().unwrap());
    assert!(rows.iter().all(|r| r.len() == 14), "{text}");
    let dates: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    assert!(dates.is_sorted(), "in time order");
    assert!(
        dates
            .iter()
            .all(|d| ("2017-01-01"..="2017-06-25").contains(d))
    );
    let rained = rows.iter().filter(|r| r[4] == "1").count() as u64;
    assert_eq!(rained, e["rain_days"].as_u64().unwrap());
    let mean = rows
        .iter()
        .map(|r| r[3].parse::<f64>().unwrap())
        .sum::<f64>()
        / rows.len() as f64;
    assert!(
        (mean - e["mean_forecast"].as_f64().unwrap()).abs() < 1e-9,
        "{mean} vs {e}"
    );
    // Each issue's rows score as the issue's line does.
    for issue in e["issues"].as_array().unwrap() {
        let name = issue["issue"].as_str().unwrap();
        let mine: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == name).collect();
        assert_eq!(mine.len() as u64, issue["n"].as_u64().unwrap(), "{name}");
        let brier = mine
            .iter()
            .map(|r| (r[3].parse::<f64>().unwrap() - r[4].parse::<f64>().unwrap()).powi(2))
            .sum::<f64>()
            / mine.len() as f64;
        assert!(
            (brier - issue["brier"].as_f64().unwrap()).abs() < 1e-9,
            "{name}"
        );
    }
    // Each station's rows, as many as its line counts.
    for st in e["stations"].as_array().unwrap() {
        let loc = st["location"].as_str().unwrap();
        let mine = rows.iter().filter(|r| r[1] == loc).count() as u64;
        assert_eq!(mine, st["n"].as_u64().unwrap(), "{loc}");
    }
    // The amount measured, where reported, is the outcome's: more than 1 mm.
    let measured: Vec<(f64, &str)> = rows
        .iter()
        .filter(|r| !r[5].is_empty())
        .map(|r| (r[5].parse().unwrap(), r[4]))
        .collect();
    assert!(measured.len() * 2 > rows.len(), "{text}");
    for (mm, rain) in measured {
        assert_eq!(mm > 1.0, rain == "1", "{mm} mm, rain {rain}");
        assert!(format!("{mm}").len() <= 6, "printed as read: {mm}");
    }
    // The headline's chance is the amounts' "more than 1 mm", where given.
    assert!(rows.iter().any(|r| !r[7].is_empty()), "{text}");
    for r in rows.iter().filter(|r| !r[7].is_empty()) {
        let (p, c): (f64, f64) = (r[3].parse().unwrap(), r[7].parse().unwrap());
        assert!((p - c).abs() < 1e-6, "{r:?}");
    }
    // An existing file is refused, untouched.
    let out = run(&args(&csv, "2017-01-01"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--forecasts"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), text);
    // A window with nothing to score fails and leaves no file.
    let none = dir.path().join("none.csv");
    let out = run(&args(&none, "2030-01-01")
        .iter()
        .map(|a| a.replace("2017-06-25", "2030-02-01"))
        .collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!none.exists(), "no file left by a failed evaluation");
    // Nor any partial file, whatever the outcome.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Start a training from the console; its run id.
async fn start_training(app: &TestApp, session: &str, csrf: &str) -> i64 {
    let resp = post_form(app, session, "/admin/jobs/train", &[("csrf", csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    resp.headers()[LOCATION].to_str().unwrap()["/admin/runs/".len()..]
        .parse()
        .unwrap()
}

async fn page(app: &TestApp, session: &str, path: &str) -> (u16, String) {
    let resp = get_with(app, session, path).await;
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Cancel: the dashboard offers it for the running job, the run stops at a
/// safe point and is recorded as cancelled; cancelling what is not running
/// is a 409, an unknown run a 404, and the CSRF token is required.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_job_can_be_cancelled_from_the_console() {
    // Big enough to still be training when the cancel arrives.
    let app = admin_app(|c| {
        c.model.n_trees = 500;
        c.model.max_depth = 0;
    })
    .await;
    let (session, csrf) = login(&app).await;
    let id = start_training(&app, &session, &csrf).await;
    let (_, html) = page(&app, &session, "/admin").await;
    for kind in ["scrape", "train", "refresh"] {
        assert!(html.contains(&format!(r#"id="schedule-{kind}""#)), "{html}");
    }
    assert!(
        html.contains(&format!(r#"action="/admin/runs/{id}/cancel""#)),
        "the dashboard offers to cancel run {id}: {html}"
    );
    let (_, html) = page(&app, &session, &format!("/admin/runs/{id}")).await;
    assert!(html.contains(r#"id="cancel-run""#), "{html}");
    let cancel = |run: String, token: &str| {
        app.post(&format!("/admin/runs/{run}/cancel"))
            .header(COOKIE, &session)
            .form(&[("csrf", token.to_string())])
            .send()
    };
    assert_eq!(
        cancel(id.to_string(), "forged").await.unwrap().status(),
        403
    );
    let resp = cancel(id.to_string(), &csrf).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()[LOCATION],
        format!("/admin/runs/{id}").as_str()
    );
    let run = wait_run(&app, &session, id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap_or("")
            .contains("cancelled from the admin console"),
        "{run}"
    );
    assert_eq!(app.store.models().unwrap().len(), 2, "nothing registered");
    // Once over, there is nothing to cancel; unknown runs are 404s.
    assert_eq!(cancel(id.to_string(), &csrf).await.unwrap().status(), 409);
    assert_eq!(cancel("999".into(), &csrf).await.unwrap().status(), 404);
    assert_eq!(cancel("abc".into(), &csrf).await.unwrap().status(), 404);
    // The runner is free again: a new run starts.
    let next = start_training(&app, &session, &csrf).await;
    assert!(next > id);
    let resp = cancel(next.to_string(), &csrf).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(wait_run(&app, &session, next).await["status"], "cancelled");
    app.stop().await;
}

/// A training run links to the version it registered and back; its summary
/// reads as facts with the JSON behind a toggle; the version's card and
/// file download with a checksum that matches; the comparison is side by
/// side with a parameter diff and a ROC legend with swatches.
#[tokio::test(flavor = "multi_thread")]
async fn runs_link_models_and_models_download_with_their_card() {
    use sha2::Digest;
    let app = admin_app(|c| c.model.seed = 99).await;
    let (session, csrf) = login(&app).await;
    let id = start_training(&app, &session, &csrf).await;
    assert_eq!(wait_run(&app, &session, id).await["status"], "succeeded");
    let v = app.store.models().unwrap()[0].version;
    assert_eq!(v, 3);

    let (status, html) = page(&app, &session, &format!("/admin/runs/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="trained-model""#), "{html}");
    assert!(
        html.contains(&format!(r#"href="/admin/models/{v}""#)),
        "{html}"
    );
    assert!(
        html.contains(r#"<dl class="facts" id="run-summary">"#),
        "{html}"
    );
    assert!(html.contains("<dt>Decision</dt>"), "{html}");
    // Read back typed (the generic JSON walk would say "Families").
    assert!(html.contains("<dt>Fitted · forest</dt>"), "{html}");
    assert!(html.contains("<details class=\"summary-json\">"), "{html}");
    for r in app.store.runs(None, 50).unwrap() {
        if let Some(v) = &r.summary {
            raincast::jobs::JobSummary::read(r.kind, v)
                .unwrap_or_else(|e| panic!("run {} ({}): {e}: {v}", r.id, r.kind));
        }
    }
    let (_, html) = page(&app, &session, &format!("/admin/models/{v}")).await;
    assert!(
        html.contains(&format!(r#"href="/admin/runs/{id}""#)),
        "{html}"
    );
    assert!(html.contains(&format!(r#"href="/admin/models/{v}/card.json""#)));
    assert!(html.contains(&format!(r#"href="/admin/models/{v}/model""#)));

    // The card.
    let resp = get_with(&app, &session, &format!("/admin/models/{v}/card.json")).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let card: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let stored = app.store.model(v).unwrap();
    assert_eq!(card["version"], v);
    assert_eq!(card["trained_by_run"], id);
    assert_eq!(card["family"], "forest");
    assert_eq!(
        card["checksum"]["model"],
        stored.summary.blob_sha256.as_str()
    );
    assert_eq!(card["parameters"]["seed"], 99, "{card}");
    assert!(card["windows"]["test"]["from"].is_string(), "{card}");
    assert!(card["windows"]["train"]["from"].is_string(), "{card}");
    assert!(card["metrics"]["f1"].is_number(), "{card}");
    assert!(card["metrics"]["test"]["confusion"].is_object(), "{card}");
    assert_eq!(
        card["feature_schema"]["features"].as_array().unwrap().len(),
        raincast::features::N_FEATURES
    );
    assert!(card["calibration"]["method"].is_string(), "{card}");

    // The model file: its SHA-256 in a header, matching the bytes and the card.
    let resp = get_with(&app, &session, &format!("/admin/models/{v}/model")).await;
    assert_eq!(resp.status(), 200);
    let sha = resp.headers()["x-checksum-sha256"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        resp.headers()["link"]
            .to_str()
            .unwrap()
            .contains(&format!("/admin/models/{v}/card.json"))
    );
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), stored.blob.as_slice());
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sha);
    assert_eq!(card["checksum"]["model"], sha.as_str());
    for path in [
        "/admin/models/99/card.json",
        "/admin/models/99/model",
        "/admin/models/x/model",
    ] {
        assert_eq!(page(&app, &session, path).await.0, 404, "{path}");
    }

    // Side-by-side comparison.
    let (status, html) = page(&app, &session, &format!("/admin/compare?a=1&b={v}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"class="compare-grid""#), "{html}");
    assert!(html.contains(r#"id="param-diff""#), "{html}");
    assert!(
        html.contains("Parameters: 1 differ"),
        "only the seed differs: {html}"
    );
    assert!(
        html.contains(r##"stroke="#1f5fa8" stroke-width="3""##),
        "v1 swatch"
    );
    assert!(
        html.contains(r##"stroke="#d35400" stroke-width="3""##),
        "v3 swatch"
    );
    app.stop().await;
}

/// Every response carries an `x-request-id` (the client's, or a new one),
/// and the JSON log lines written while handling the request carry the
/// same id in their span: a failed login's warning is found by its id.
#[test]
fn request_ids_reach_the_response_and_the_json_log() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let mut child = std::process::Command::new(crate::support::bin())
        .arg("--db")
        .arg(dir.path().join("ids.db"))
        .args(["--log-format", "json", "serve", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .env("RAINCAST_ADMIN__PASSWORD", PASSWORD)
        .env("RAINCAST_DATABASE__BUNDLED_HISTORY", "false")
        .env("RAINCAST_SCHEDULE__CATCH_UP", "false")
        .env("RAINCAST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start raincast serve");
    let url = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (generated, chosen) = rt.block_on(async {
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let started = Instant::now();
        let health = loop {
            match c.get(format!("{url}/healthz")).send().await {
                Ok(r) => break r,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("raincast serve did not answer: {e}"),
            }
        };
        let generated = health.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let form = c.get(format!("{url}/admin/login")).send().await.unwrap();
        let nonce = cookie(&set_cookies(&form), "raincast_login").unwrap();
        assert_ne!(form.headers()["x-request-id"], generated.as_str());
        // A client's own id is kept, answered and logged.
        let chosen = "report-7f3a";
        let resp = c
            .post(format!("{url}/admin/login"))
            .header("x-request-id", chosen)
            .header(COOKIE, format!("raincast_login={nonce}"))
            .form(&[("csrf", nonce.as_str()), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["x-request-id"], chosen);
        (generated, chosen)
    });
    assert!(generated.len() >= 32, "a UUID: {generated}");
    let _ = child.kill();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = child.wait();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "failed admin login")
        .unwrap_or_else(|| panic!("no failed-login line in the JSON log:\n{log}"));
    assert_eq!(line["span"]["request_id"], chosen, "{line}");
    assert_eq!(line["span"]["path"], "/admin/login", "{line}");
}
