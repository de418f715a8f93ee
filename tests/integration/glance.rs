//! Pages that read at a glance (issue 26, part 4), in real headless
//! Chromium (Debian's `chromium`) driven by playwright-core from
//! `tests/browser/glance.mjs` against the real binary on 127.0.0.1, at 320,
//! 390 and 1280 px: no word or number broken inside a table cell (measured
//! from the line boxes), the phone home page's first screen, the search
//! with and without JavaScript, map targets, the skip link, the pointer
//! from a city without current data, compressed and fingerprinted static
//! files. Screenshots are kept in `target/browser-artifacts/`.

use crate::support;

use std::process::Command;

#[test]
fn pages_read_at_a_glance_in_headless_chromium() {
    let _long = crate::support::long_blocking();
    let app = support::browser::browser_app("playwright-core");
    let out = Command::new("node")
        .arg(app.scripts.join("glance.mjs"))
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
    assert!(text.contains("15 passed, 0 failed"), "{text}");
}
