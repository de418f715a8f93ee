//! The order and pace of a scrape against a stand-in on this machine: the
//! newest months first, and no polite delay (which BOM itself keeps).

use std::time::{Duration, Instant};

use raincast::ingest::bom::ScrapePlan;
use raincast::stations;

use super::{config, fresh_store, run};
use crate::support::bom_server::BomServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_stand_in_is_scraped_newest_month_first_without_the_polite_delay() {
    let server = BomServer::start().await;
    let mut cfg = config(&server.base_url);
    // BOM's pace: one worker, a second before each request. At that pace
    // these 28 files would take at least 28 s.
    cfg.concurrency = 1;
    cfg.delay_ms = 1_000;
    let (_dir, store) = fresh_store();
    let mut plan = ScrapePlan::range((2024, 8), (2025, 9), None, false).unwrap();
    plan.locations = ["Sydney", "Albury"]
        .iter()
        .map(|l| stations::by_location(l).unwrap())
        .collect();
    let started = Instant::now();
    let (report, _) = run(&store, &cfg, &plan).await;
    let took = started.elapsed();
    assert_eq!(report.totals.files_fetched, 28, "{}", report.message);
    assert!(
        took < Duration::from_secs(14),
        "28 files from 127.0.0.1 took {took:?}: the polite delay was applied"
    );

    // One worker: the requests arrive in the order they were planned to go.
    let months: Vec<String> = server
        .requested()
        .iter()
        .map(|f| f.rsplit('.').next().unwrap().to_string())
        .collect();
    assert_eq!(months.len(), 28);
    assert_eq!(months[..2], ["202509", "202509"]);
    assert_eq!(months[26..], ["202408", "202408"]);
    assert!(
        months.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {months:?}"
    );
    // The report keeps the plan's order (oldest first).
    assert_eq!(report.months[0].month, "2024-08");
    assert_eq!(report.months[27].month, "2025-09");
}
