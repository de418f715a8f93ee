//! The job runner and scheduler against a real local BOM file server, real
//! SQLite files and (for the end-to-end test) the real binary.

use crate::support;
use crate::support::bom_server as server;

mod chaos;
mod lease;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use raincast::clock::{Clock, FakeClock};
use raincast::config::Config;
use raincast::ingest::bom::ScrapePlan;
use raincast::jobs::{JobError, JobKind, JobSpec, Jobs, Trigger};
use raincast::store::{RunStatus, Store};
use server::{BomServer, Fault};

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn config(base_url: &str, db: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.database.path = db.to_path_buf();
    c.bom.base_url = base_url.to_string();
    c.bom.delay_ms = 0;
    c.bom.backoff_ms = 10;
    c.bom.retries = 1;
    c.bom.timeout_secs = 5;
    c.model.n_trees = 5;
    c.model.max_depth = 8;
    c.model.boost = false;
    c.schedule.retry_backoff_secs = 1;
    c.schedule.scrape_retries = 0;
    c.database.bundled_history = false;
    c
}

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<FakeClock>,
    jobs: Jobs,
    server: BomServer,
    /// The state `jobs` belongs to, to serve it when a test asks.
    state: raincast::web::AppState,
}

/// The job runner of a process started as every command starts
/// (`app::boot`), its jobs run only when asked.
async fn boot(cfg: Config, store: Store, clock: Arc<dyn Clock>) -> raincast::web::AppState {
    raincast::app::boot(raincast::app::Launch {
        config: cfg,
        store,
        clock,
        timing: raincast::app::Timing::Manual,
    })
    .await
    .unwrap()
}

async fn env(now: DateTime<Utc>, tweak: impl FnOnce(&mut Config)) -> Env {
    let server = BomServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.db");
    let store = Store::open(&db, Duration::from_secs(10)).unwrap();
    let mut cfg = config(&server.base_url, &db);
    tweak(&mut cfg);
    let clock = Arc::new(FakeClock::new(now));
    let state = boot(cfg, store.clone(), clock.clone()).await;
    Env {
        _dir: dir,
        store,
        clock,
        jobs: state.jobs.clone(),
        server,
        state,
    }
}

const FEW: [&str; 3] = ["Sydney", "Albury", "Canberra"];

/// Backfill a few stations and train a champion, as one recorded run each.
async fn seed(e: &Env, to: (i32, u32)) {
    let locations = FEW
        .iter()
        .map(|n| raincast::stations::by_location(n).unwrap())
        .collect::<Vec<_>>();
    for st in locations {
        let plan = ScrapePlan::range((2024, 8), to, Some(st), false).unwrap();
        let o = e
            .jobs
            .run(JobSpec::Scrape { plan: Some(plan) }, Trigger::Cli)
            .await
            .unwrap();
        assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.error);
    }
    let o = e.jobs.run(JobKind::Train, Trigger::Cli).await.unwrap();
    assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.error);
}

/// The September 2025 Sydney file cut after day `last_day`, as BOM serves a
/// month in progress.
fn sydney_september_until(last_day: u32) -> Vec<u8> {
    let full = server::files()["IDCJDW2124.202509"].as_ref().clone();
    let text: String = full.iter().map(|&b| b as char).collect();
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if let Some(rest) = line.strip_prefix(",2025-09-") {
            let day: u32 = rest.split(',').next().unwrap().parse().unwrap();
            if day > last_day {
                break;
            }
        }
        out.push_str(line);
    }
    out.trim_end_matches("\r\n")
        .chars()
        .map(|c| c as u8)
        .collect()
}

/// A scheduled scrape while Sydney's September file ends on `last_day`.
async fn scrape_sydney_until(e: &Env, last_day: u32) -> raincast::jobs::RunOutcome {
    e.server.fault(
        "IDCJDW2124",
        (2025, 9),
        Fault::Body(sydney_september_until(last_day)),
    );
    let o = e
        .jobs
        .run(JobKind::Scrape, Trigger::Schedule)
        .await
        .unwrap();
    assert_eq!(o.status, RunStatus::Succeeded, "{:?}", o.error);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forecast_made_on_d_is_scored_against_d_plus_1() {
    let e = env(at(2025, 9, 3, 9), |c| c.bom.revise_days = 0).await;
    seed(&e, (2025, 8)).await;
    let d = NaiveDate::from_ymd_opt(2025, 9, 3).unwrap();
    // A webhook subscription on Sydney at any chance: the forecast the
    // scrape logs queues its delivery with it (nothing sends it here).
    e.store
        .add_subscription(&raincast::store::NewSubscription {
            location: "Sydney".into(),
            threshold_mm: 1.0,
            min_chance: 0.01,
            issues: raincast::issue::ISSUES.to_vec(),
            url: "http://127.0.0.1:9/hook".into(),
            secret: "0123456789abcdef".into(),
            format: raincast::store::AlertFormat::Json,
        })
        .unwrap();
    // Two on amounts: any rain (0.2 mm) at any chance fires too; 50 mm at
    // 99 % does not.
    for (threshold_mm, min_chance) in [(0.2, 0.01), (50.0, 0.99)] {
        e.store
            .add_subscription(&raincast::store::NewSubscription {
                location: "Sydney".into(),
                threshold_mm,
                min_chance,
                issues: raincast::issue::ISSUES.to_vec(),
                url: "http://127.0.0.1:9/hook".into(),
                secret: "0123456789abcdef".into(),
                format: raincast::store::AlertFormat::Json,
            })
            .unwrap();
    }

    // Day D: BOM's September file ends at the 3rd.
    let o = scrape_sydney_until(&e, 3).await;
    let log = e.store.run(o.run_id).unwrap().log;
    assert!(log.contains("logged"), "{log}");
    // At 7 pm in Sydney two issues are due from D's row: the afternoon
    // issue for D+1 and the day-before issue for D+2; one delivery each
    // per subscription that fires.
    assert!(log.contains("queued 4 webhook alert deliveries"), "{log}");
    let mut queued: Vec<(String, NaiveDate, String, String)> = e
        .store
        .deliveries(10)
        .unwrap()
        .into_iter()
        .map(|q| (q.location, q.for_date, q.issue, q.status))
        .collect();
    queued.sort();
    queued.dedup();
    let day = |n: u64| d + chrono::Days::new(n);
    let row = |n, issue: &str| {
        (
            "Sydney".to_string(),
            day(n),
            issue.to_string(),
            "pending".to_string(),
        )
    };
    assert_eq!(queued, [row(1, "afternoon"), row(2, "day_before")]);
    let logged = e
        .store
        .predictions_for("Sydney", d, d + chrono::Days::new(1))
        .unwrap();
    assert_eq!(logged.len(), 1, "one forecast for Sydney, for D+1");
    assert_eq!(logged[0].obs_date, Some(d));
    assert_eq!(logged[0].outcome, None, "D+1 is not observed yet");
    // With its chance of each amount: the headline among them, monotone.
    let amounts = logged[0].amounts.as_ref().expect("the forecast's amounts");
    let chances: Vec<f64> = amounts.chances.iter().map(|c| c.chance).collect();
    assert_eq!(chances.len(), raincast::amounts::N);
    assert!((chances[raincast::amounts::HEADLINE] - logged[0].probability).abs() < 1e-4);
    assert!(chances.windows(2).all(|w| w[0] >= w[1]), "{chances:?}");
    assert_eq!(logged[0].amount_mm, None);

    // Day D+1: the file now has the 4th.
    e.clock.set(at(2025, 9, 4, 9));
    scrape_sydney_until(&e, 4).await;
    let next = d + chrono::Days::new(1);
    let observed = e.store.observation("Sydney", next).unwrap().rain_today;
    assert!(observed.is_some());
    let scored = e.store.predictions_for("Sydney", next, next).unwrap();
    assert_eq!(scored[0].outcome, observed, "scored against D+1's rain");
    let fell = e
        .store
        .observation("Sydney", next)
        .unwrap()
        .get(raincast::obs::Num::Rainfall);
    assert!(fell.is_some());
    assert_eq!(
        scored[0].amount_mm, fell,
        "and against the amount that fell"
    );
    let record = e.store.track_record(Some("Sydney"), d).unwrap();
    assert_eq!(record.verified, 1);
    assert_eq!(record.hits + record.misses, 1);
    assert_eq!(record.hits == 1, scored[0].hit() == Some(true));
    let p = scored[0].probability;
    let y = observed.map(|b| b as u8 as f64).unwrap();
    assert!((record.brier.unwrap() - (p - y).powi(2)).abs() < 1e-12);
    // And D+1's own forecast (for D+2) is logged, unscored.
    let ahead = e
        .store
        .predictions_for(
            "Sydney",
            next + chrono::Days::new(1),
            next + chrono::Days::new(1),
        )
        .unwrap();
    assert_eq!(ahead.len(), 1);
    assert_eq!(ahead[0].outcome, None);

    // `/metrics` scores the live record's amounts: the scored afternoon
    // issue's Brier score for 5 mm is its own squared error.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _running = raincast::app::start(listener, e.state.clone())
        .await
        .unwrap();
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let five = scored[0].amounts.as_ref().unwrap().chances[3].chance;
    let fell = fell.unwrap();
    let want = (five - f64::from(u8::from(fell >= 5.0))).powi(2);
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("raincast_live_amount_brier{")
                && l.contains(r#"issue="afternoon""#)
                && l.contains(r#"mm="5""#)
        })
        .unwrap_or_else(|| panic!("no 5 mm Brier gauge in\n{text}"));
    let got: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((got - want).abs() < 1e-6, "{line} vs {want}");
    assert!(text.contains("raincast_live_rps{"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_trigger_during_a_run_is_refused_with_its_id() {
    let e = env(at(2025, 9, 3, 9), |_| {}).await;
    // Slow down one file so the scrape stays running for a while.
    e.server
        .fault("IDCJDW2124", (2025, 9), Fault::Slow(Duration::from_secs(2)));
    let first = e.jobs.start(JobKind::Scrape, Trigger::Admin).await.unwrap();
    for kind in [JobKind::Scrape, JobKind::Refresh] {
        match e.jobs.start(kind, Trigger::Admin).await {
            Err(JobError::AlreadyRunning { run_id, .. }) => assert_eq!(run_id, first),
            other => panic!("{kind:?} should be refused, got {other:?}"),
        }
    }
    // Another process (its own Store and runner on the same file) is refused too.
    let other = boot(
        config(&e.server.base_url, e.store.path()),
        Store::open(e.store.path(), Duration::from_secs(10)).unwrap(),
        e.clock.clone(),
    )
    .await
    .jobs;
    match other.run(JobKind::Scrape, Trigger::Cli).await {
        Err(JobError::AlreadyRunning { run_id, .. }) => assert_eq!(run_id, first),
        o => panic!("expected a refusal, got {o:?}"),
    }
    e.jobs.wait_idle().await;
    let runs = e.store.runs(Some(JobKind::Scrape), 10).unwrap();
    assert_eq!(runs.len(), 1, "nothing ran twice");
    assert_ne!(runs[0].status, RunStatus::Running);
    // Once it has finished, a new trigger is accepted.
    assert!(e.jobs.start(JobKind::Scrape, Trigger::Admin).await.is_ok());
    e.jobs.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_runs_once_then_the_schedule_fires_when_due() {
    // Monday 2025-09-01 06:00 UTC; no run has ever succeeded.
    let e = env(at(2025, 9, 1, 6), |_| {}).await;
    let sched = tokio::spawn(e.jobs.clone().run_schedule());
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = |kind: JobKind| {
        e.store
            .runs(Some(kind), 10)
            .unwrap()
            .into_iter()
            .filter(|r| r.status != RunStatus::Running)
            .count()
    };
    while done(JobKind::Scrape) + done(JobKind::Train) < 2 {
        assert!(Instant::now() < deadline, "catch-up did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let runs = e.store.runs(None, 50).unwrap();
    assert_eq!(runs.len(), 2, "catch-up ran once: {runs:?}");
    assert!(runs.iter().all(|r| r.trigger == "catch-up"));
    let scrape = runs.iter().find(|r| r.kind == "scrape").unwrap();
    assert_eq!(scrape.status, RunStatus::Succeeded, "{:?}", scrape.error);
    let train = runs.iter().find(|r| r.kind == "train").unwrap();
    assert_eq!(train.status, RunStatus::Succeeded, "{:?}", train.error);

    // 06:29: the 06:20 tick (Adelaide's afternoon in daylight time) finds
    // nothing posted since the catch-up and runs nothing. 06:50:30: the
    // east coast's afternoon scrape (its post was at 06:30) fires, once.
    e.clock
        .set(at(2025, 9, 1, 6) + chrono::Duration::minutes(29));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(e.store.runs(None, 50).unwrap().len(), 2);
    e.clock
        .set(at(2025, 9, 1, 6) + chrono::Duration::seconds(50 * 60 + 30));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = e.store.runs(Some(JobKind::Scrape), 10).unwrap();
        if runs.len() == 2 && runs[0].status != RunStatus::Running {
            assert_eq!(runs[0].trigger, "schedule");
            // Sydney, Melbourne, Canberra, Hobart and Brisbane's stations,
            // whose 16:30 post it follows, not Adelaide's, Darwin's or Perth's.
            let summary = runs[0].summary.clone().unwrap();
            let fetched: std::collections::BTreeSet<&str> = summary["months"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["location"].as_str().unwrap())
                .collect();
            let east: std::collections::BTreeSet<&str> = raincast::stations::STATIONS
                .iter()
                .filter(|s| {
                    matches!(
                        raincast::issue::Zone::of(s),
                        raincast::issue::Zone::Sydney | raincast::issue::Zone::Brisbane
                    )
                })
                .map(|s| s.location)
                .collect();
            assert_eq!(fetched, east);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the afternoon scrape did not fire"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        e.store.runs(Some(JobKind::Scrape), 10).unwrap().len(),
        2,
        "fired once"
    );
    assert_eq!(
        e.store.runs(Some(JobKind::Train), 10).unwrap().len(),
        1,
        "training is weekly"
    );
    sched.abort();
    e.jobs.shutdown().await;
}

#[test]
fn a_run_killed_with_its_process_is_marked_interrupted_at_the_next_start() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(BomServer::start());
    server.fault(
        "IDCJDW2002",
        (2024, 8),
        Fault::Slow(Duration::from_secs(30)),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let mut child = std::process::Command::new(support::bin())
        .arg("--db")
        .arg(&db)
        .args([
            "scrape",
            "--from",
            "2024-08",
            "--to",
            "2024-08",
            "--location",
            "Albury",
        ])
        .env("RAINCAST_BOM__BASE_URL", &server.base_url)
        .env("RAINCAST_BOM__DELAY_MS", "0")
        .env("RAINCAST_BOM__TIMEOUT_SECS", "60")
        .env("RAINCAST_SCHEDULE__JOB_LEASE_SECS", "3")
        .env("RAINCAST_LOG", "warn")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let store = loop {
        if let Ok(s) = Store::open(&db, Duration::from_secs(5))
            && s.runs(None, 1).map(|r| r.len()).unwrap_or(0) == 1
        {
            break s;
        }
        assert!(Instant::now() < deadline, "the scrape did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(store.runs(None, 1).unwrap()[0].status, RunStatus::Running);
    child.kill().unwrap(); // SIGKILL: no chance to record anything
    child.wait().unwrap();
    assert_eq!(store.runs(None, 1).unwrap()[0].status, RunStatus::Running);
    let expires = store
        .job_lease()
        .unwrap()
        .expect("the run holds the lease")
        .expires_ms;

    // A start while its lease is live leaves it alone (it could be going in
    // another process); the first start after the lease lapsed closes it.
    let start_once = || {
        let cfg = config(&server.base_url, &db);
        let clock: Arc<dyn Clock> = Arc::new(FakeClock::new(at(2024, 8, 2, 9)));
        rt.block_on(async {
            let state = raincast::app::boot(raincast::app::Launch {
                config: cfg,
                store: store.clone(),
                clock,
                timing: raincast::app::Timing::Manual,
            })
            .await
            .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let running = raincast::app::start(listener, state).await.unwrap();
            running.stop().await.unwrap();
        });
    };
    start_once();
    assert_eq!(store.runs(None, 1).unwrap()[0].status, RunStatus::Running);
    let now_ms = || chrono::Utc::now().timestamp_millis();
    while now_ms() <= expires {
        std::thread::sleep(Duration::from_millis(100));
    }
    start_once();
    assert_eq!(store.job_lease().unwrap(), None);
    let run = &store.runs(None, 1).unwrap()[0];
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("interrupted"));
}

/// `raincast serve` on an empty database, pointed at the local BOM server:
/// it backfills, trains and promotes a first model with no human action,
/// then answers forecasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_an_empty_database_backfills_trains_and_forecasts() {
    let _long = crate::support::long().await;
    let server = BomServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e2e.db");
    let app = support::serve(
        &db,
        &[
            ("RAINCAST_BOM__BASE_URL", server.base_url.as_str()),
            ("RAINCAST_BOM__DELAY_MS", "0"),
            ("RAINCAST_CLOCK_START", "2025-09-06T09:00:00Z"),
            // BOM data alone (the bundled history has its own journey test).
            ("RAINCAST_DATABASE__BUNDLED_HISTORY", "false"),
            ("RAINCAST_MODEL__BOOST", "false"),
            ("RAINCAST_MODEL__N_TREES", "10"),
            ("RAINCAST_MODEL__MAX_DEPTH", "10"),
        ],
    );
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/forecast/Sydney", app.url);
    let deadline = Instant::now() + Duration::from_secs(240);
    let body: serde_json::Value = loop {
        let r = client.get(&url).send().await.unwrap();
        if r.status() == 200 {
            break serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        }
        assert!(
            r.status() == 503 || r.status() == 404,
            "unexpected status {}",
            r.status()
        );
        assert!(Instant::now() < deadline, "no forecast within 240 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let p = body["probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{body}");
    assert_eq!(body["model_version"], 1);
    assert_eq!(body["forecast_date"], "2025-09-07", "{body}");
    let store = Store::open(&db, Duration::from_secs(5)).unwrap();
    // The forecast appears once the model is promoted; the run that trained
    // it is closed just after, so a loaded machine may need a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let runs = loop {
        let runs = store.runs(None, 10).unwrap();
        if runs.iter().all(|r| r.status != RunStatus::Running) || Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(runs.iter().any(|r| r.kind == "scrape"
        && r.trigger == "catch-up"
        && r.status == RunStatus::Succeeded));
    assert!(
        runs.iter().any(|r| r.kind == "train"
            && r.trigger == "catch-up"
            && r.status == RunStatus::Succeeded),
        "{runs:?}"
    );
    assert_eq!(store.deployments().unwrap()[0].actor, "training");
    // 644 station-months of real files (46 stations × 14 months).
    assert!(store.count_observations().unwrap() > 18_000);
}

/// In real time, tokio-cron-scheduler fires the schedule: with the scrape
/// set to every second, a scheduled run is recorded in the database file,
/// and shutdown stops the ticks (no run starts after it, none is left
/// running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_fires_an_every_second_schedule_and_stops_on_shutdown() {
    let server = BomServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cron.db");
    let store = Store::open(&db, Duration::from_secs(10)).unwrap();
    let mut cfg = config(&server.base_url, &db);
    cfg.schedule.catch_up = false;
    cfg.schedule.train_enabled = false;
    cfg.schedule.scrape = "* * * * * *".parse().unwrap();
    // `serve`'s own start-up: the schedule runs on the wall clock.
    let state = raincast::app::boot(raincast::app::Launch {
        config: cfg,
        store: store.clone(),
        clock: Arc::new(raincast::clock::SystemClock::new()),
        timing: raincast::app::Timing::Live,
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = raincast::app::start(listener, state).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = store.runs(None, 10).unwrap();
        if runs
            .iter()
            .any(|r| r.trigger == Trigger::Schedule && r.status != RunStatus::Running)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no scheduled run within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await.unwrap();
    let after = store.runs(None, 100).unwrap();
    assert!(after.iter().all(|r| r.kind == JobKind::Scrape));
    assert!(
        after.iter().all(|r| r.status != RunStatus::Running),
        "shutdown waits for the run to be recorded: {after:?}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        store.runs(None, 100).unwrap().len(),
        after.len(),
        "no tick fires after shutdown"
    );
}
