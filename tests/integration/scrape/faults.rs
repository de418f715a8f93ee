//! Fault injection: each fault hits Sydney 2024-09 after a first good
//! scrape; Albury and Canberra must still succeed, and Sydney's stored rows
//! must stay exactly as they were.

use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use raincast::config::BomConfig;
use raincast::ingest::bom::{Outcome, ScrapePlan, ScrapeReport, scrape};
use raincast::obs::{Num, Observation};
use raincast::stations;
use raincast::store::{Store, month_bounds};

use super::{config, fresh_store, run, today};
use crate::support::bom_server::{BomServer, Fault, files, html_fixture};

const MONTH: (i32, u32) = (2024, 9);
const SYDNEY: &str = "IDCJDW2124";

fn plan() -> ScrapePlan {
    ScrapePlan {
        months: vec![MONTH],
        locations: ["Sydney", "Albury", "Canberra"]
            .iter()
            .map(|l| stations::by_location(l).unwrap())
            .collect(),
        force: true,
    }
}

fn sydney_rows(store: &Store) -> Vec<Observation> {
    let (first, last) = month_bounds(MONTH).unwrap();
    store.observations_between("Sydney", first, last).unwrap()
}

/// Sydney 2024-09 with the first day's minimum changed to 33.3 °C, so that
/// a file wrongly accepted would show in the database.
fn altered_sydney() -> Vec<u8> {
    let text: String = files()[&format!("{SYDNEY}.202409")]
        .iter()
        .map(|&b| b as char)
        .collect();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(",2024-09-1,"))
        .unwrap();
    let mut fields: Vec<&str> = lines[at].split(',').collect();
    fields[2] = "33.3";
    lines[at] = fields.join(",");
    lines.join("\r\n").chars().map(|c| c as u32 as u8).collect()
}

struct Case {
    server: BomServer,
    cfg: BomConfig,
    store: Store,
    _dir: tempfile::TempDir,
    before: Vec<Observation>,
}

/// A server, a store holding a first good scrape of the three stations.
async fn seeded(cfg: impl FnOnce(BomConfig) -> BomConfig) -> Case {
    let server = BomServer::start().await;
    let cfg = cfg(config(&server.base_url));
    let (dir, store) = fresh_store();
    let (report, _) = run(&store, &cfg, &plan()).await;
    assert_eq!(report.totals.files_fetched, 3, "{}", report.message);
    let before = sydney_rows(&store);
    assert_eq!(before.len(), 30);
    Case {
        server,
        cfg,
        store,
        _dir: dir,
        before,
    }
}

impl Case {
    /// Scrape again with a fault on Sydney; check the others and Sydney's rows.
    async fn with_fault(&self, fault: Fault) -> (ScrapeReport, Outcome) {
        let (report, sydney, _) = self.with_fault_logged(fault).await;
        (report, sydney)
    }

    /// [`Case::with_fault`], with the run's log lines too.
    async fn with_fault_logged(&self, fault: Fault) -> (ScrapeReport, Outcome, Vec<String>) {
        self.server.fault(SYDNEY, MONTH, fault);
        let (report, log) = run(&self.store, &self.cfg, &plan()).await;
        let mut sydney = None;
        for m in &report.months {
            if m.location == "Sydney" {
                sydney = Some(m.outcome.clone());
            } else {
                assert!(
                    matches!(m.outcome, Outcome::Ok { rows, .. } if rows > 0),
                    "{} must succeed: {:?}",
                    m.location,
                    m.outcome
                );
            }
        }
        assert_eq!(sydney_rows(&self.store), self.before, "Sydney rows changed");
        assert_eq!(log.len(), 4);
        (report, sydney.unwrap(), log)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_that_turns_into_200_is_retried() {
    let case = seeded(|c| c).await;
    let (report, sydney) = case.with_fault(Fault::ServerErrorThenOk(2)).await;
    assert!(matches!(sydney, Outcome::Ok { rows: 30, .. }), "{sydney:?}");
    assert_eq!(
        case.server.hits(SYDNEY, MONTH),
        1 + 3,
        "first scrape + 2×500 + 200"
    );
    assert!(!report.failed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_500_fails_after_the_configured_retries() {
    let case = seeded(|c| BomConfig { retries: 1, ..c }).await;
    let (report, sydney) = case.with_fault(Fault::ServerErrorThenOk(100)).await;
    let Outcome::Failed {
        attempts, error, ..
    } = sydney
    else {
        panic!("{sydney:?}")
    };
    assert_eq!(
        (attempts, error.as_str()),
        (2, "HTTP 500 Internal Server Error")
    );
    assert_eq!(case.server.hits(SYDNEY, MONTH), 1 + 2);
    assert!(!report.failed(), "others succeeded");
    assert!(
        report.message.contains("bom.timeout_secs"),
        "{}",
        report.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_is_not_retried_and_is_reported() {
    let case = seeded(|c| c).await;
    let (report, sydney) = case.with_fault(Fault::Forbidden).await;
    assert!(matches!(sydney, Outcome::Forbidden { .. }), "{sydney:?}");
    assert_eq!(
        case.server.hits(SYDNEY, MONTH),
        1 + 1,
        "403 must not be retried"
    );
    assert!(report.failed(), "a 403 fails the run");
    assert!(
        report.message.contains(
            "BOM refused the request (403): it blocks clients it takes for scrapers; \
             set bom.user_agent to identify you and raise bom.delay_ms"
        ),
        "{}",
        report.message
    );
    let row = case.store.source_month("Sydney", MONTH).unwrap().unwrap();
    assert_eq!(row.status, "forbidden");
    assert!(row.complete, "the month's good data is still complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_response_hits_the_timeout() {
    let case = seeded(|c| BomConfig {
        timeout_secs: 1,
        retries: 1,
        ..c
    })
    .await;
    let started = Instant::now();
    let (_, sydney) = case.with_fault(Fault::Slow(Duration::from_secs(4))).await;
    let Outcome::Failed {
        attempts, error, ..
    } = sydney
    else {
        panic!("{sydney:?}")
    };
    assert_eq!(attempts, 2);
    assert!(error.contains("timed out"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_200_is_rejected() {
    let case = seeded(|c| c).await;
    let (report, sydney) = case.with_fault(Fault::Html).await;
    let Outcome::Rejected { reason, .. } = sydney else {
        panic!("{sydney:?}")
    };
    assert!(reason.contains("HTML"), "{reason}");
    assert_eq!(report.totals.files_rejected, 1);
    assert_eq!(
        case.server.hits(SYDNEY, MONTH),
        2,
        "a rejection is not retried"
    );
    let row = case.store.source_month("Sydney", MONTH).unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.rows), ("rejected", 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_csv_is_rejected() {
    let case = seeded(|c| c).await;
    let mut body = altered_sydney();
    body.truncate(body.len() - 20);
    let (_, sydney) = case.with_fault(Fault::Body(body)).await;
    let Outcome::Rejected { reason, .. } = sydney else {
        panic!("{sydney:?}")
    };
    assert!(reason.contains("fields, expected 22"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_header_column_is_rejected() {
    let case = seeded(|c| c).await;
    let body = altered_sydney()
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .replace("\"9am relative humidity (%)\"", "\"9am humidity (%)\"")
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    let (_, sydney) = case.with_fault(Fault::Body(body)).await;
    let Outcome::Rejected { reason, .. } = sydney else {
        panic!("{sydney:?}")
    };
    assert!(reason.contains("`9am relative humidity (%)`"), "{reason}");
    // The altered value is there in a well-formed file: it is accepted.
    let case_ok = seeded(|c| c).await;
    case_ok
        .server
        .fault(SYDNEY, MONTH, Fault::Body(altered_sydney()));
    run(&case_ok.store, &case_ok.cfg, &plan()).await;
    assert_eq!(sydney_rows(&case_ok.store)[0].get(Num::MinTemp), Some(33.3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_start_fetches_nothing() {
    let server = BomServer::start().await;
    let cfg = config(&server.base_url);
    let (_dir, store) = fresh_store();
    let cancel = {
        let t = CancellationToken::new();
        t.cancel();
        t
    };
    let report = scrape(
        &store,
        &cfg,
        &Default::default(),
        &plan(),
        today(),
        &|_| {},
        &cancel,
    )
    .await
    .unwrap();
    assert!(report.cancelled);
    assert_eq!(report.totals.cancelled, 3);
    assert!(!report.failed());
    assert_eq!(store.count_observations().unwrap(), 0);
    assert_eq!(server.hits(SYDNEY, MONTH), 0);
}

/// The scraper follows redirects only within the configured BOM host: a
/// redirect elsewhere (here the same machine under another name, as an
/// open redirect or a hijacked DNS answer would send it) fails the file
/// without fetching it, and Sydney's rows stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_off_the_bom_host_is_not_followed() {
    let case = seeded(|c| c).await;
    let port = case.server.base_url.rsplit(':').next().unwrap().to_string();
    let elsewhere = format!("http://localhost:{port}/climate/dwo/202409/text/{SYDNEY}.202409.csv");
    let (_, sydney) = case.with_fault(Fault::Redirect(elsewhere)).await;
    let Outcome::Failed { error, .. } = sydney else {
        panic!("{sydney:?}")
    };
    assert!(error.contains("redirect"), "{error}");
    assert_eq!(case.server.hits(SYDNEY, MONTH), 1 + 1, "not followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_within_the_bom_host_is_followed() {
    let case = seeded(|c| c).await;
    let same = format!("{{base}}/climate/dwo/202409/text/{SYDNEY}.202409.csv");
    let (_, sydney) = case.with_fault(Fault::Redirect(same)).await;
    assert!(matches!(sydney, Outcome::Ok { rows: 30, .. }), "{sydney:?}");
    assert_eq!(
        case.server.hits(SYDNEY, MONTH),
        1 + 2,
        "redirect, then the file"
    );
}

/// What BOM's HTML pages say, read with `scraper` (src/ingest/html.rs),
/// served by a real HTTP server from the hand-built fixtures in
/// `tests/fixtures/bom_html/`: each line below must reach the run's log,
/// the station-month's record (shown by the admin) and the run's message,
/// next to the setting to check.
mod html_pages {
    use super::*;

    const ACCESS_DENIED: &str = "title \"Access Denied\", heading \"Access Denied\", \
                                 reference 18.5c3e1002.1700000000.1a2b3c4d";

    fn page(status: u16, name: &str) -> Fault {
        Fault::Page {
            status,
            body: html_fixture(name),
        }
    }

    fn sydney_record(case: &Case) -> String {
        let row = case.store.source_month("Sydney", MONTH).unwrap().unwrap();
        row.message.unwrap_or_default()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_firewalls_access_denied_is_named_with_its_reference() {
        let case = seeded(|c| c).await;
        let (report, sydney, log) = case
            .with_fault_logged(page(403, "access_denied.html"))
            .await;
        assert_eq!(
            sydney,
            Outcome::Forbidden {
                url: format!(
                    "{}/climate/dwo/202409/text/{SYDNEY}.202409.csv",
                    case.server.base_url
                ),
                page: Some(ACCESS_DENIED.into()),
            }
        );
        assert!(report.failed());
        assert!(
            report.message.contains(&format!(
                "set bom.user_agent to identify you and raise bom.delay_ms, e.g. Sydney 2024-09 got {ACCESS_DENIED}"
            )),
            "{}",
            report.message
        );
        let line = log.iter().find(|l| l.starts_with("Sydney")).unwrap();
        assert!(
            line.ends_with(&format!("; BOM's page: {ACCESS_DENIED}")),
            "{line}"
        );
        assert!(
            sydney_record(&case).contains(ACCESS_DENIED),
            "{}",
            sydney_record(&case)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_maintenance_page_with_503_is_retried_and_named() {
        let case = seeded(|c| BomConfig { retries: 1, ..c }).await;
        let (report, sydney) = case.with_fault(page(503, "maintenance.html")).await;
        let Outcome::Failed {
            attempts, error, ..
        } = sydney
        else {
            panic!("{sydney:?}")
        };
        assert_eq!(attempts, 2);
        assert_eq!(
            error,
            "HTTP 503 Service Unavailable; BOM's page: \
             title \"Scheduled maintenance - Bureau of Meteorology\", \
             heading \"The Bureau of Meteorology website is undergoing scheduled maintenance\""
        );
        assert_eq!(case.server.hits(SYDNEY, MONTH), 1 + 2, "5xx is retried");
        assert!(
            report
                .message
                .contains(&format!("{error}; check the network, bom.base_url")),
            "{}",
            report.message
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn page_not_found_with_200_is_rejected_naming_the_page_and_settings() {
        let case = seeded(|c| c).await;
        let (report, sydney, log) = case
            .with_fault_logged(page(200, "not_found_200.html"))
            .await;
        let Outcome::Rejected { reason, .. } = sydney else {
            panic!("{sydney:?}")
        };
        let said = "title \"Page not found - Bureau of Meteorology\", heading \"Page not found\"";
        assert!(reason.contains(said), "{reason}");
        assert!(
            reason.ends_with("check bom.base_url and bom.user_agent"),
            "{reason}"
        );
        assert!(report.message.contains(&reason), "{}", report.message);
        assert!(log.iter().any(|l| l.contains(&reason)), "{log:?}");
        assert!(sydney_record(&case).contains(said));
        assert_eq!(case.server.hits(SYDNEY, MONTH), 2, "not retried");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_without_title_gives_its_text_and_support_id() {
        let case = seeded(|c| c).await;
        let (_, sydney) = case.with_fault(page(200, "request_rejected.html")).await;
        let Outcome::Rejected { reason, .. } = sydney else {
            panic!("{sydney:?}")
        };
        assert!(
            reason.contains(
                "no title or heading, text \"The requested URL was rejected. \
                 Please consult with your administrator."
            ),
            "{reason}"
        );
        assert!(
            reason.contains("reference 14609584738912345678"),
            "{reason}"
        );
    }

    /// Every station refused by the firewall: the scrape stops early, and
    /// the one message (the run's error) quotes the page.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocked_client_stops_early_quoting_the_page() {
        let server = BomServer::start().await;
        let cfg = BomConfig {
            fail_fast_after: 2,
            concurrency: 1,
            ..config(&server.base_url)
        };
        for l in ["Sydney", "Albury", "Canberra"] {
            let code = stations::by_location(l).unwrap().dwo_code;
            server.fault(code, MONTH, page(403, "access_denied.html"));
        }
        let (_dir, store) = fresh_store();
        let (report, _) = run(&store, &cfg, &plan()).await;
        let aborted = report.aborted.clone().expect("stopped early");
        assert_eq!(
            aborted,
            format!(
                "2 requests in a row failed: BOM refused the requests (403) with an HTML page: \
                 {ACCESS_DENIED}: it blocks clients it takes for scrapers; \
                 set bom.user_agent to identify you and raise bom.delay_ms"
            )
        );
        assert!(
            report
                .message
                .starts_with(&format!("stopped early: {aborted}"))
        );
        assert_eq!(store.count_observations().unwrap(), 0);
    }
}
