//! Browser tests in real headless Chromium (Debian's `chromium`), driven by
//! playwright-core from `tests/browser/e2e.mjs` against the real binary on
//! 127.0.0.1. Screenshots are kept in `target/browser-artifacts/`.

use crate::support;

use std::process::Command;

#[test]
fn pages_and_admin_console_in_headless_chromium() {
    let _long = crate::support::long_blocking();
    let app = support::browser::browser_app("playwright-core");
    let out = Command::new("node")
        .arg(app.scripts.join("e2e.mjs"))
        .current_dir(&app.scripts)
        .env("RAINCAST_URL", &app.server.url)
        .env("RAINCAST_PASSWORD", support::browser::PASSWORD)
        .env("ARTIFACTS", &app.artifacts)
        .env("CHROMIUM", &app.chromium)
        .output()
        .expect("run node (install Node.js)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "browser tests failed:\n{text}");
    assert!(app.artifacts.join("phone-forecast.png").exists());
}
