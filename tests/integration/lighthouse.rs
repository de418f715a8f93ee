//! Lighthouse 12.2.3 (mobile emulation) in Debian's headless Chromium scores
//! the public pages, the login and every logged-in admin page of the real
//! binary (`tests/browser/lighthouse.mjs`; the reports go to
//! `target/browser-artifacts/lighthouse-*.json`):
//! - `/`, a city page, `/api/docs` and the login score exactly 1.0 in
//!   performance, accessibility, best practices and SEO (issue 26), their
//!   text is compressed (`uses-text-compression`) and their static files
//!   are cached long (`uses-long-cache-ttl`). Performance is scored from
//!   the page's own trace, so this test runs alone.
//! - Every logged-in admin page scores at least 0.95 in accessibility, best
//!   practices and SEO, which a busy machine does not move: that test runs
//!   beside the other long tests.

use crate::support;

use std::process::Command;

/// The admin session cookie ("raincast_session=…"), logging in over HTTP as
/// a browser would: the form's nonce cookie and field, then the password.
async fn session_cookie(url: &str, password: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(format!("{url}/admin/login"))
        .send()
        .await
        .unwrap();
    let cookie_of = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next())
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let nonce = cookie_of(&form, "raincast_login").expect("login nonce cookie");
    let resp = client
        .post(format!("{url}/admin/login"))
        .header(reqwest::header::COOKIE, format!("raincast_login={nonce}"))
        .form(&[("csrf", nonce.as_str()), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "login failed");
    let id = cookie_of(&resp, "raincast_session").expect("session cookie");
    format!("raincast_session={id}")
}

/// Run `lighthouse.mjs` on `pages` of a fresh browser app with `env`, and
/// fail with its table when a score is below the floor.
async fn score(module_env: &'static [(&'static str, &'static str)], pages: &[&str]) {
    let app = support::browser::browser_app("lighthouse");
    let cookie = session_cookie(&app.server.url, support::browser::PASSWORD).await;
    let pages = pages.join(" ");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(app.scripts.join("lighthouse.mjs"))
            .current_dir(&app.scripts)
            .env("RAINCAST_URL", &app.server.url)
            .env("RAINCAST_COOKIE", &cookie)
            .env("PAGES", pages)
            .env("ARTIFACTS", &app.artifacts)
            .env("CHROMIUM", &app.chromium)
            .env("MIN_SCORE", "0.95")
            .envs(module_env.iter().copied())
            .output()
            .expect("run node (install Node.js)")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "Lighthouse scores below the floor:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lighthouse_scores_the_public_pages_and_login_1_0_in_every_category() {
    let _heavy = crate::support::heavy().await;
    score(
        &[
            ("STRICT_PAGES", "/ /forecast/Sydney /api/docs /admin/login"),
            ("AUDITS", "uses-text-compression uses-long-cache-ttl"),
            ("SCORES", "lighthouse-scores-public.json"),
        ],
        &["/", "/forecast/Sydney", "/api/docs", "/admin/login"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lighthouse_scores_every_admin_page_at_least_0_95() {
    let _long = crate::support::long().await;
    score(
        &[
            ("CATEGORIES", "accessibility best-practices seo"),
            ("SCORES", "lighthouse-scores-admin.json"),
        ],
        &[
            "admin:/admin",
            "admin:/admin/runs",
            "admin:/admin/runs/1",
            "admin:/admin/models",
            "admin:/admin/models/1",
            "admin:/admin/compare?a=1&b=2",
            "admin:/admin/data",
            "admin:/admin/models/1/evaluate?from=2017-01-01&to=2017-06-24",
        ],
    )
    .await;
}
