//! Start-up journeys of the real binary on a real timeline: the clock is set
//! in September 2025 and a local, time-aware BOM serves the bundled real
//! files as BOM would have on that day (`raincast::bomsim`), faults included.
//! Each journey ends with forecasts, or with a clear message, and no manual
//! step in between.

use crate::support;
use crate::support::app;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use raincast::bomsim::Fault;
use raincast::clock::{Clock, SystemClock};
use raincast::store::{RunStatus, Store};
use serde_json::Value;

/// Noon in eastern Australia on 6 September 2025: BOM's files then hold
/// days up to the 5th.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 6, 2, 0, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Settings for a fast test run: small forests, no politeness delay.
fn env(base_url: &str) -> Vec<(&str, &str)> {
    vec![
        ("RAINCAST_BOM__BASE_URL", base_url),
        ("RAINCAST_BOM__DELAY_MS", "0"),
        ("RAINCAST_BOM__BACKOFF_MS", "50"),
        ("RAINCAST_CLOCK_START", "2025-09-06T02:00:00Z"),
        ("RAINCAST_MODEL__N_TREES", "8"),
        ("RAINCAST_MODEL__MAX_DEPTH", "10"),
        // The forest alone: boosting a debug build on 160,000 rows is slow,
        // and the boosting family has tests of its own.
        ("RAINCAST_MODEL__BOOST", "false"),
        ("RAINCAST_SCHEDULE__SCRAPE_RETRIES", "0"),
    ]
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&body)
            .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned())),
    )
}

async fn get_text(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Poll until `pred` holds for Sydney's forecast, or fail after `limit`.
async fn wait_forecast(base: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{base}/api/v1/forecast/Sydney");
    let deadline = Instant::now() + limit;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let (status, body) = get_json(&url).await;
        assert!(
            [200, 404, 503].contains(&status),
            "unexpected {status}: {body}"
        );
        if status == 200 && pred(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("no such forecast within {limit:?}; last answer: {last}");
}

/// Wait until no job runs and the catch-up is over (the last run ended).
async fn wait_idle(db: &Path, runs: usize, limit: Duration) -> Vec<raincast::store::JobRun> {
    let deadline = Instant::now() + limit;
    loop {
        let store = Store::open(db, Duration::from_secs(5)).unwrap();
        let all = store.runs(None, 50).unwrap();
        if all.len() >= runs && all.iter().all(|r| r.status != RunStatus::Running) {
            return all;
        }
        assert!(Instant::now() < deadline, "runs still going: {all:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// What a fully-served day looks like at noon in Sydney on the 6th: BOM
/// shows the 6th's morning row, and the forecast is the morning issue from
/// it, for the rain day ending at 9 am on the 7th.
fn is_current(f: &Value) -> bool {
    f["observation_date"] == "2025-09-06"
}

/// (a) An empty database with BOM reachable, default settings: the bundled
/// history loads, a first model trains at once, the backfill fetches BOM's
/// whole online window, and forecasts rest on the newest day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_empty_database_with_bom_reachable_ends_in_current_forecasts() {
    let _long = crate::support::long().await;
    let (_sim, url) = support::bom_sim(start()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let app = support::serve(&db, &env(&url));
    let f = wait_forecast(&app.url, Duration::from_secs(240), is_current).await;
    assert_eq!(f["forecast_date"], "2025-09-07", "{f}");
    assert_eq!(f["issue"], "morning", "{f}");
    assert_eq!(f["window_end"], "2025-09-06T23:00:00Z", "{f}");
    assert_eq!(f["stale"], false, "{f}");
    assert_eq!(f["kind"], "forecast", "{f}");
    let runs = wait_idle(&db, 3, Duration::from_secs(240)).await;
    let kinds: Vec<(&str, RunStatus)> = runs
        .iter()
        .rev()
        .map(|r| (r.kind.as_str(), r.status))
        .collect();
    assert_eq!(
        kinds,
        [
            ("train", RunStatus::Succeeded),
            ("scrape", RunStatus::Succeeded),
            ("train", RunStatus::Succeeded)
        ],
        "first model from the bundled history, then the backfill, then a retraining"
    );
    let store = Store::open(&db, Duration::from_secs(5)).unwrap();
    // The bundled history plus 644 real BOM files (46 stations: the archive
    // has no Perth, Melbourne or Richmond files).
    assert!(store.count_observations().unwrap() > 145_460 + 18_000);
    // One live forecast per station with current data: the morning issue
    // for the rain day ending at 9 am on the 7th (at 02:00 UTC it is past
    // 10:00 in every zone, just so in Perth).
    assert_eq!(store.predictions_logged_for(day(2025, 9, 7)).unwrap(), 46);
    assert_eq!(store.predictions_logged_for(day(2025, 9, 6)).unwrap(), 0);
    // A second scrape the same day (from the CLI, another process) fetches
    // only what is not complete and logs no second forecast.
    let out = support::cli(&db, &["scrape"], &env(&url));
    assert!(out.contains("run "), "{out}");
    assert!(out.contains("skipped"), "{out}");
    assert_eq!(store.predictions_logged_for(day(2025, 9, 7)).unwrap(), 46);

    // The three stations BOM's archive lacks are stale and say so.
    let (status, home) = get_text(&app.url).await;
    assert_eq!(status, 200);
    assert!(
        home.contains("3 of 49 cities have no current data"),
        "{home}"
    );
    assert!(home.contains("Forecasts for <strong>Sunday 7 September 2025</strong>"));
    assert!(home.contains("no current data since 25 Jun 2017"));
    let (_, perth) = get_text(&format!("{}/forecast/Perth", app.url)).await;
    assert!(perth.contains("No current data since"), "{perth}");
    assert!(!perth.contains("id=\"probability\""));

    // Anonymous hindcasts change neither the track record nor /metrics.
    let metrics_before = live_metrics(&app.url).await;
    let logged_before = count_predictions(&db);
    for d in 1..=29 {
        let (status, h) = get_json(&format!(
            "{}/api/v1/forecast/Sydney?date=2025-08-{d:02}",
            app.url
        ))
        .await;
        assert_eq!(status, 200, "{h}");
        assert_eq!(h["kind"], "hindcast");
    }
    let (_, h) = get_json(&format!(
        "{}/api/v1/forecast/Sydney?date=2016-01-01",
        app.url
    ))
    .await;
    assert_eq!(h["kind"], "hindcast");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(count_predictions(&db), logged_before);
    assert_eq!(live_metrics(&app.url).await, metrics_before);
}

fn count_predictions(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM predictions", [], |r| r.get(0))
        .unwrap()
}

/// The `raincast_live_*` lines of /metrics.
async fn live_metrics(base: &str) -> Vec<String> {
    let (_, text) = get_text(&format!("{base}/metrics")).await;
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("raincast_live_"))
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

/// (b) The README's recommended path: weatherAUS imported, then `serve` with
/// BOM reachable. The first scrape still backfills BOM's online window (it
/// goes by coverage, not by an empty table), and training windows follow the
/// data across the seven-year gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_imported_history_then_serve_ends_in_current_forecasts() {
    let _long = crate::support::long().await;
    let (_sim, url) = support::bom_sim(start()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    support::cli(
        &db,
        &["import", support::weather_aus().to_str().unwrap()],
        &[],
    );
    let app = support::serve(&db, &env(&url));
    let f = wait_forecast(&app.url, Duration::from_secs(240), is_current).await;
    assert_eq!(f["forecast_date"], "2025-09-07");
    let runs = wait_idle(&db, 3, Duration::from_secs(240)).await;
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Succeeded),
        "{runs:#?}"
    );
    let (_, models) = get_json(&format!("{}/api/v1/models", app.url)).await;
    let newest = &models["models"][0];
    // The second model tests on the newest year of data (BOM's), tunes on
    // the year of data before it (spanning the gap) and trains on the rest.
    // The newest labelled day is the 5th: its outcome is the 6th's rain to
    // 9 am, which the 6th's morning row shows.
    assert_eq!(newest["test_window"]["to"], "2025-09-06", "{newest}");
    let test_from: NaiveDate =
        serde_json::from_value(newest["test_window"]["from"].clone()).unwrap();
    assert!(
        test_from > day(2024, 8, 1) && test_from < day(2024, 10, 1),
        "{newest}"
    );
    let rows = &newest["train_window"]["rows"];
    assert!(rows["test"].as_u64().unwrap() > 10_000, "{rows}");
    assert!(rows["tune"].as_u64().unwrap() > 10_000, "{rows}");
}

/// (b') An upgrade across a feature schema: the deployed champion was made by
/// an older encoder, which the registry refuses to serve. The start-up
/// trains a model of the current schema first, so forecasts come back
/// without waiting for the weekly training.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b2_a_champion_of_an_older_feature_schema_is_replaced_at_start_up() {
    let _long = crate::support::long().await;
    let (_sim, url) = support::bom_sim(start()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b2.db");
    support::cli(
        &db,
        &["import", support::weather_aus().to_str().unwrap()],
        &[],
    );
    {
        let store = app::open(&db);
        let old = support::register_blob(
            &store,
            raincast::features::SCHEMA_VERSION - 1,
            b"a model of the previous schema",
            true,
            "deployed by the previous release",
        );
        assert_eq!(store.champion_version().unwrap(), Some(old));
    }
    let app = support::serve(&db, &env(&url));
    let f = wait_forecast(&app.url, Duration::from_secs(240), is_current).await;
    assert_eq!(f["forecast_date"], "2025-09-07");
    let runs = wait_idle(&db, 3, Duration::from_secs(240)).await;
    // The training came first, before the scrape: a model the server can load.
    let first = runs.iter().min_by_key(|r| r.id).unwrap();
    assert_eq!(first.kind, raincast::store::JobKind::Train, "{runs:#?}");
    assert_eq!(first.status, RunStatus::Succeeded, "{runs:#?}");
    let store = app::open(&db);
    let champion = store.champion_version().unwrap().unwrap();
    assert_eq!(
        store.model_summary(champion).unwrap().feature_schema,
        raincast::features::SCHEMA_VERSION
    );
}

/// (c) An empty database and BOM unreachable, refusing or answering HTML:
/// the bundled history still gives forecasts, the scrape stops early with
/// one message that names the cause and the setting, and the public page
/// says that current observations are unavailable. All within 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_bom_unreachable_refusing_or_html_fails_fast_and_still_forecasts() {
    let _long = crate::support::long().await;
    let (sim, url) = support::bom_sim(start()).await;
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let today = SystemClock::starting_at(start()).bom_today();
    let cases: [(&str, Option<Fault>, &str, &str); 3] = [
        ("refused", None, "Connection refused", "bom.base_url"),
        ("forbidden", Some(Fault::Forbidden), "403", "bom.user_agent"),
        (
            "html",
            Some(Fault::HtmlOk),
            "HTML page instead of a CSV",
            "bom.base_url",
        ),
    ];
    for (name, fault, cause, setting) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(format!("{name}.db"));
        let base = match fault {
            None => closed.as_str(),
            Some(f) => {
                sim.fault_on(today, f);
                url.as_str()
            }
        };
        let app = support::serve(&db, &env(base));
        // While the first model trains, a 503 says so and when to come back.
        let r = reqwest::get(format!("{}/api/v1/forecast/Sydney", app.url))
            .await
            .unwrap();
        if r.status() == 503 {
            assert_eq!(r.headers()["retry-after"], "10", "{name}");
            let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("first model is training now")
                    || message.contains("no model is serving yet"),
                "{name}: {body}"
            );
        }
        // While it trains, the home page says so and reloads itself.
        let (status, home) = get_text(&app.url).await;
        assert_eq!(status, 200, "{name}");
        if home.contains("first model is training now") {
            assert!(
                home.contains(r#"<meta http-equiv="refresh" content="10">"#),
                "{name}: {home}"
            );
        }
        // The first model comes from the bundled history, before the scrape
        // (a debug build trains on three issues' rows: give it time).
        let f = wait_forecast(&app.url, Duration::from_secs(300), |f| {
            f["observation_date"] == "2017-06-25"
        })
        .await;
        assert_eq!(f["stale"], true, "{name}: {f}");
        let runs = wait_idle(&db, 3, Duration::from_secs(240)).await;
        // The quick first model (the forest alone, issue 30), then the
        // scrape, then the full training, which the failed scrape does not
        // skip: it is what replaces the quick model by the usual rule.
        let trainings: Vec<_> = runs.iter().rev().filter(|r| r.kind == "train").collect();
        assert_eq!(trainings.len(), 2, "{name}: {runs:#?}");
        let (quick, full) = (trainings[0], trainings[1]);
        assert_eq!(quick.status, RunStatus::Succeeded, "{name}");
        assert_eq!(
            quick.summary.as_ref().unwrap()["quick"],
            true,
            "{name}: {quick:#?}"
        );
        assert!(quick.log.contains("a quick first model"), "{name}");
        assert_eq!(full.status, RunStatus::Succeeded, "{name}: {full:#?}");
        assert!(
            full.summary.as_ref().unwrap().get("quick").is_none(),
            "{name}: {full:#?}"
        );
        assert!(full.id > quick.id + 1, "{name}: the scrape ran between");
        let scrape = runs
            .iter()
            .find(|r| r.kind == "scrape")
            .expect("a scrape ran");
        // BOM unreachable costs seconds, not the 49 minutes of 686
        // station-months × 4 attempts it used to.
        let took = scrape.finished_at.expect("the scrape finished") - scrape.started_at;
        assert!(
            took < chrono::Duration::seconds(30),
            "{name}: the scrape took {took}"
        );
        assert_eq!(scrape.status, RunStatus::Failed, "{name}");
        let error = scrape.error.clone().unwrap_or_default();
        assert!(error.starts_with("stopped early:"), "{name}: {error}");
        assert!(
            error.contains(cause) && error.contains(setting),
            "{name}: {error}"
        );
        // The run's record lands a moment before the pages refresh.
        let mut home = String::new();
        for _ in 0..20 {
            home = get_text(&app.url).await.1;
            if home.contains("Current observations from the Bureau of Meteorology are unavailable")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(
            home.contains("Current observations from the Bureau of Meteorology are unavailable"),
            "{name}: {home}"
        );
        assert!(
            home.contains("49 of 49 cities have no current data"),
            "{name}"
        );
        drop(app);
    }
}

/// Ready means "can answer a forecast now": a database file deleted or
/// replaced under the running process turns /readyz into 503, and the
/// process never creates a new file in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_the_database_file_is_deleted_or_replaced() {
    let _long = crate::support::long().await;
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let app = support::serve(&db, &env(&closed));
    wait_forecast(&app.url, Duration::from_secs(180), |_| true).await;
    wait_idle(&db, 2, Duration::from_secs(60)).await;
    let (status, ready) = get_json(&format!("{}/readyz", app.url)).await;
    assert_eq!(status, 200, "{ready}");

    std::fs::rename(&db, dir.path().join("moved.db")).unwrap();
    let (status, body) = get_json(&format!("{}/readyz", app.url)).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("cannot be read"),
        "{body}"
    );
    // Forecasts still answer from memory; nothing recreated the file.
    let (status, _) = get_json(&format!("{}/api/v1/forecast/Sydney", app.url)).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!db.exists(), "a new database file was created");

    // A different file at the same path is not the database we opened.
    std::fs::copy(dir.path().join("moved.db"), &db).unwrap();
    let (status, body) = get_json(&format!("{}/readyz", app.url)).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("replaced"),
        "{body}"
    );
}

/// A year of weekly trainings with model files of realistic size (10 MB,
/// like a 100-tree forest on the full history): retention keeps the
/// database bounded, and rollback to any kept model works.
#[test]
fn a_year_of_weekly_trainings_stays_under_100_mb_and_rollback_works() {
    let _long = crate::support::long_blocking();
    use raincast::registry;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("retention.db");
    let store = app::open(&db);
    store
        .upsert_observations(&app::subset_observations(), "weatherAUS")
        .unwrap();
    let defaults = raincast::config::ModelConfig::default();
    let (keep_deployed, keep_challengers) = (defaults.keep_deployed, defaults.keep_challengers);
    let blob = vec![7u8; 10 << 20];
    for week in 0..49 {
        // Every third challenger wins, as in a service whose data improves.
        support::register_blob(
            &store,
            raincast::features::SCHEMA_VERSION,
            &blob,
            week % 3 == 0,
            "simulated week",
        );
        store
            .prune_model_blobs(keep_deployed, keep_challengers)
            .unwrap();
    }
    // The last three weeks train real (tiny) models: two deployed (whatever
    // their F1, so the test does not hang on which one wins), one kept out.
    let a = app::train(&store, 1, false);
    registry::promote(&store, a.version, "week 50", "tester").unwrap();
    let b = app::train(&store, 2, false);
    registry::promote(&store, b.version, "week 51", "tester").unwrap();
    let c = app::train(&store, 3, true);
    let pruned = store
        .prune_model_blobs(keep_deployed, keep_challengers)
        .unwrap();
    assert!(!pruned.is_empty() || store.models().unwrap().len() == 52);
    assert_eq!(store.models().unwrap().len(), 52, "metadata is kept");
    let kept: Vec<i64> = (1..=52).filter(|&v| store.has_blob(v).unwrap()).collect();
    assert!(
        kept.len() <= (keep_deployed + keep_challengers) as usize,
        "{kept:?}"
    );
    assert!(kept.contains(&a.version) && kept.contains(&b.version) && kept.contains(&c.version));
    let size = std::fs::metadata(&db).unwrap().len()
        + std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
    assert!(size < 100 << 20, "database is {} MB", size >> 20);

    // Rollback from b to a, which is kept and loads.
    assert_eq!(store.champion_version().unwrap(), Some(b.version));
    let d = registry::rollback(&store, "test", "tester").unwrap();
    assert_eq!(d.version, a.version);
    // A pruned version is refused with a message that says why.
    let old = (1..a.version)
        .find(|&v| !store.has_blob(v).unwrap())
        .unwrap();
    let err = registry::promote(&store, old, "test", "tester").unwrap_err();
    assert!(
        err.to_string().contains("pruned by the retention policy"),
        "{err}"
    );
}
