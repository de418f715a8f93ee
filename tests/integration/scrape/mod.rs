//! End-to-end tests of the BOM scraper against a real local HTTP server
//! serving the project's 686 real DWO files (no mocks).

mod backfill;
mod faults;
mod order;

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use chrono::NaiveDate;
use raincast::config::BomConfig;
use raincast::ingest::bom::{ScrapePlan, ScrapeReport, scrape};
use raincast::store::Store;

/// "Today" for the tests: the day the tarball's newest files were fetched,
/// so 2025-09 is the (partial) current month and the rest are complete.
pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 9, 6).unwrap()
}

/// Quick, impolite settings for a local server.
pub fn config(base_url: &str) -> BomConfig {
    BomConfig {
        base_url: base_url.to_string(),
        user_agent: "raincast-tests".into(),
        timeout_secs: 5,
        concurrency: 4,
        delay_ms: 0,
        retries: 2,
        backoff_ms: 10,
        ..BomConfig::default()
    }
}

/// A fresh database in its own temporary directory.
pub fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("raincast.db"), Duration::from_secs(10)).unwrap();
    (dir, store)
}

/// Run a scrape, collecting its log lines.
pub async fn run(store: &Store, cfg: &BomConfig, plan: &ScrapePlan) -> (ScrapeReport, Vec<String>) {
    let lines = std::sync::Mutex::new(Vec::new());
    let log = |l: String| lines.lock().unwrap().push(l);
    let cancel = CancellationToken::new();
    let report = scrape(
        store,
        cfg,
        &Default::default(),
        plan,
        today(),
        &log,
        &cancel,
    )
    .await
    .unwrap();
    (report, lines.into_inner().unwrap())
}
