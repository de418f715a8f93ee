//! What the Chromium tests (playwright-core and Lighthouse) share: the
//! tools' checks, and a real binary serving two trained model versions of the
//! bundled weatherAUS history with the admin console on.

use std::path::PathBuf;

use super::{Server, cli, serve, weather_aus};

/// The admin password of [`BrowserApp`].
pub const PASSWORD: &str = "correct horse battery staple";

/// A served raincast for the browser, and where the Node scripts live.
pub struct BrowserApp {
    pub server: Server,
    /// Debian's Chromium (or `$CHROMIUM`).
    pub chromium: String,
    /// `tests/browser`: the Node package with the scripts.
    pub scripts: PathBuf,
    /// Where screenshots and reports are kept.
    pub artifacts: PathBuf,
    _dir: tempfile::TempDir,
}

/// Small forests, fast enough for a debug build.
const FAST: [(&str, &str); 3] = [
    ("RAINCAST_MODEL__N_TREES", "8"),
    ("RAINCAST_MODEL__MAX_DEPTH", "12"),
    // Boosting on the full weatherAUS is slow in a debug build.
    ("RAINCAST_MODEL__BOOST", "false"),
];

/// The browser tests' database: the bundled weatherAUS history imported and
/// trained twice (so the comparison page has two versions) by the real CLI.
/// Built once per test process (`cargo test` runs every test in one) and
/// copied into each test's own folder, so that what one test changes (a
/// promotion, a scrape) no other test sees.
fn template() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("browser.db");
        cli(&db, &["import", weather_aus().to_str().unwrap()], &[]);
        cli(&db, &["train"], &FAST);
        cli(
            &db,
            &["train"],
            &[("RAINCAST_MODEL__SEED", "7"), FAST[0], FAST[1], FAST[2]],
        );
        // One self-contained file: the CLI's last connection has closed,
        // and the backup folds in anything still in the write-ahead log.
        let copy = dir.path().join("template.db");
        raincast::store::Store::open(&db, std::time::Duration::from_secs(10))
            .unwrap()
            .backup_to(&copy)
            .unwrap();
        std::fs::read(&copy).unwrap()
    })
}

/// Check Chromium and the Node package `module`, then serve a copy of the
/// shared database ([`template`]) on the day after the history ends.
pub fn browser_app(module: &str) -> BrowserApp {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "browser tests need Chromium at {chromium} (apt-get install chromium; scripts/test does it)"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scripts = root.join("tests/browser");
    assert!(
        scripts.join("node_modules").join(module).exists(),
        "browser tests need {module}: run `npm ci` in {} (scripts/test does it)",
        scripts.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("browser.db");
    std::fs::write(&db, template()).unwrap();
    let server = serve(
        &db,
        &[
            ("RAINCAST_ADMIN__PASSWORD", PASSWORD),
            ("RAINCAST_SCHEDULE__CATCH_UP", "false"),
            ("RAINCAST_CLOCK_START", "2017-06-26T09:00:00Z"),
            FAST[0],
            FAST[1],
            FAST[2],
        ],
    );
    BrowserApp {
        server,
        chromium,
        scripts,
        artifacts: root.join("target/browser-artifacts"),
        _dir: dir,
    }
}
