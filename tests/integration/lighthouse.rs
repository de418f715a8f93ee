//! Lighthouse 12.2.3 (mobile emulation) in Debian's headless Chromium scores
//! the public pages, the login and every logged-in admin page of the real
//! binary: performance, accessibility, best practices and SEO must each be
//! at least 0.95. `tests/browser/lighthouse.mjs` runs it; the reports go to
//! `target/browser-artifacts/lighthouse-*.json`.

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

#[tokio::test(flavor = "multi_thread")]
async fn lighthouse_scores_every_page_at_least_0_95() {
    let _heavy = crate::support::heavy().await;
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Lighthouse needs Chromium at {chromium} (apt-get install chromium; scripts/test does it)"
    );
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        here.join("node_modules/lighthouse").exists(),
        "Lighthouse is missing: run `npm ci` in {} (scripts/test does it)",
        here.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lighthouse.db");
    let fast = [
        ("RAINCAST_MODEL__N_TREES", "8"),
        ("RAINCAST_MODEL__MAX_DEPTH", "12"),
        ("RAINCAST_MODEL__BOOST", "false"),
    ];
    support::cli(
        &db,
        &["import", support::weather_aus().to_str().unwrap()],
        &[],
    );
    support::cli(&db, &["train"], &fast);
    support::cli(
        &db,
        &["train"],
        &[("RAINCAST_MODEL__SEED", "7"), fast[0], fast[1], fast[2]],
    );
    let password = "correct horse battery staple";
    let server = support::serve(
        &db,
        &[
            ("RAINCAST_ADMIN__PASSWORD", password),
            ("RAINCAST_SCHEDULE__CATCH_UP", "false"),
            ("RAINCAST_CLOCK_START", "2017-06-26T09:00:00Z"),
            fast[0],
            fast[1],
            fast[2],
        ],
    );
    let cookie = session_cookie(&server.url, password).await;
    let pages = [
        "/",
        "/forecast/Sydney",
        "/api/docs",
        "/admin/login",
        "admin:/admin",
        "admin:/admin/runs",
        "admin:/admin/runs/1",
        "admin:/admin/models",
        "admin:/admin/models/1",
        "admin:/admin/compare?a=1&b=2",
        "admin:/admin/data",
        "admin:/admin/models/1/evaluate?from=2017-01-01&to=2017-06-24",
    ];
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(here.join("lighthouse.mjs"))
            .current_dir(&here)
            .env("RAINCAST_URL", &server.url)
            .env("RAINCAST_COOKIE", &cookie)
            .env("PAGES", pages.join(" "))
            .env("ARTIFACTS", &artifacts)
            .env("CHROMIUM", &chromium)
            .env("MIN_SCORE", "0.95")
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
        "Lighthouse scores below 0.95:\n{text}"
    );
}
