//! Browser tests in real headless Chromium (Debian's `chromium`), driven by
//! playwright-core from `tests/browser/e2e.mjs` against the real binary on
//! 127.0.0.1. Screenshots are kept in `target/browser-artifacts/`.

use crate::support;

use std::process::Command;

#[test]
fn pages_and_admin_console_in_headless_chromium() {
    let _heavy = crate::support::heavy_blocking();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "browser tests need Chromium at {chromium} (apt-get install chromium; .ci/run does it)"
    );
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        here.join("node_modules/playwright-core").exists(),
        "browser tests need playwright-core: run `npm ci` in {} (.ci/run does it)",
        here.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("browser.db");
    let fast = [
        ("RAINCAST_MODEL__N_TREES", "8"),
        ("RAINCAST_MODEL__MAX_DEPTH", "12"),
        // Boosting on the full weatherAUS is slow in a debug build.
        ("RAINCAST_MODEL__BOOST", "false"),
    ];
    support::cli(
        &db,
        &["import", support::weather_aus().to_str().unwrap()],
        &[],
    );
    // Two versions, so the comparison page has something to compare.
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
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    let out = Command::new("node")
        .arg(here.join("e2e.mjs"))
        .current_dir(&here)
        .env("RAINCAST_URL", &server.url)
        .env("RAINCAST_PASSWORD", password)
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node (install Node.js)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "browser tests failed:\n{text}");
    assert!(artifacts.join("phone-forecast.png").exists());
}
