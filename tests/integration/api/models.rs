//! Readiness, the prediction log, and swapping the serving model.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use raincast::registry;

use super::assert_error;
use crate::support::app::{self, json, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn not_ready_until_a_model_is_trained() {
    let app = spawn_app_with(false, |_| {}).await;
    let (s, v) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_error(s, &v, 503, None);
    assert_eq!(v["error"], "unavailable");
    assert!(v["message"].as_str().unwrap().contains("no model"), "{v}");
    let (s, v) = json(app.get("/api/v1/forecast/Sydney").send().await.unwrap()).await;
    assert_error(s, &v, 503, None);
    let (s, v) = json(
        app.post("/api/v1/predict")
            .header("content-type", "application/json")
            .body(r#"{"Location":"Sydney","Date":"2017-06-01"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(s, &v, 503, None);
    // The liveness check does not care.
    assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);

    let store = app.store.clone();
    let serving = app.state.serving.clone();
    let now = tokio::task::spawn_blocking(move || {
        store
            .upsert_observations(&app::subset_observations(), "weatherAUS")
            .unwrap();
        let r = app::train(&store, 42, false);
        assert!(r.promoted);
        serving.refresh(&store).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(now, Some(1));
    let (s, v) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["model_version"], 1);
    let (s, _) = json(app.get("/api/v1/forecast/Sydney").send().await.unwrap()).await;
    assert_eq!(s, 200);
    app.stop().await;
}

fn prediction_rows(app: &app::TestApp, location: &str) -> i64 {
    let c = rusqlite::Connection::open(&app.db).unwrap();
    c.query_row(
        "SELECT count(*) FROM predictions WHERE location = ?1",
        [location],
        |r| r.get(0),
    )
    .unwrap()
}

/// Changed with issue 11: reads never write. This test used to check that a
/// page or API read logged its forecast (and that a `?date=` in the past was
/// logged and scored at once), which let anyone write the public track
/// record. Now only the daily job logs live forecasts; every read, dated or
/// not, leaves the prediction log as it was.
#[tokio::test(flavor = "multi_thread")]
async fn reads_never_write_the_prediction_log() {
    let app = spawn_app().await;
    assert_eq!(prediction_rows(&app, "Perth"), 0);
    let (_, first) = json(app.get("/api/v1/forecast/Perth").send().await.unwrap()).await;
    let obs = first["observation_date"].as_str().unwrap().to_string();
    assert_eq!(first["kind"], "forecast", "{first}");
    let (_, again) = json(app.get("/api/v1/forecast/Perth").send().await.unwrap()).await;
    let (_, dated) = json(
        app.get(&format!("/api/v1/forecast/Perth?date={obs}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(first, again);
    assert_eq!(first["probability"], dated["probability"]);
    let (_, past) = json(
        app.get("/api/v1/forecast/Perth?date=2016-07-01")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(past["kind"], "hindcast", "{past}");
    assert_eq!(
        app.get("/forecast/Perth").send().await.unwrap().status(),
        200
    );
    assert_eq!(app.get("/").send().await.unwrap().status(), 200);
    assert_eq!(prediction_rows(&app, "Perth"), 0, "a read wrote the log");
    app.stop().await;
}

/// Versions seen, failures, requests made.
type Hammered = (BTreeSet<i64>, Vec<String>, usize);

/// Hammer the forecast from `tasks` clients until `stop`; returns the
/// versions seen, and the failures.
fn hammer(
    url: String,
    stop: Arc<AtomicBool>,
    tasks: usize,
) -> Vec<tokio::task::JoinHandle<Hammered>> {
    (0..tasks)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut seen, mut failures, mut n) = (BTreeSet::new(), Vec::new(), 0);
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    match app::client().get(&url).send().await {
                        Ok(r) if r.status() == 200 => {
                            let v: serde_json::Value =
                                serde_json::from_str(&r.text().await.unwrap()).unwrap();
                            seen.insert(v["model_version"].as_i64().unwrap());
                        }
                        Ok(r) => {
                            failures.push(format!("{}: {}", r.status(), r.text().await.unwrap()))
                        }
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                (seen, failures, n)
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_swap_under_load() {
    let app = spawn_app().await;
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/api/v1/forecast/Sydney", app.url);
    let clients = hammer(url.clone(), stop.clone(), 4);

    // Meanwhile: train a third version (CPU-heavy, as in production) and promote version 2.
    let store = app.store.clone();
    let serving = app.state.serving.clone();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || {
        let r = app::train(&store, 11, true);
        assert_eq!(r.version, 3);
        registry::promote(&store, 2, "hot swap test", "tests").unwrap();
        assert_eq!(serving.refresh(&store).unwrap(), Some(2));
    })
    .await
    .unwrap();
    // Keep the load on for at least 2 s in all, and until the new version is served.
    let deadline = Instant::now() + Duration::from_secs(20);
    let served = Arc::new(AtomicUsize::new(0));
    loop {
        let (_, v) = json(app.get("/api/v1/forecast/Sydney").send().await.unwrap()).await;
        if v["model_version"] == 2 {
            served.fetch_add(1, Ordering::Relaxed);
        }
        if served.load(Ordering::Relaxed) > 0 && started.elapsed() > Duration::from_secs(2) {
            break;
        }
        assert!(Instant::now() < deadline, "version 2 never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the forecast cache's lifetime, so every client sees the new model.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    stop.store(true, Ordering::Release);
    let mut all = BTreeSet::new();
    let mut total = 0;
    for c in clients {
        let (seen, failures, n) = c.await.unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
        all.extend(seen);
        total += n;
    }
    assert_eq!(
        all,
        BTreeSet::from([1, 2]),
        "versions seen in {total} requests"
    );
    assert!(total >= 40, "only {total} requests made");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn promotion_by_another_process_is_noticed() {
    let app = spawn_app().await;
    let (_, v) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(v["model_version"], 1);
    // The details and pages are kept; read them twice so the second comes
    // from the cache.
    for _ in 0..2 {
        let home = app.get("/").send().await.unwrap().text().await.unwrap();
        assert!(home.contains("Model version 1."), "{home}");
        let page = app
            .get("/forecast/Sydney")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("model version 1"), "{page}");
        let (_, one) = json(app.get("/api/v1/models/1").send().await.unwrap()).await;
        let (_, two) = json(app.get("/api/v1/models/2").send().await.unwrap()).await;
        assert_eq!(
            (one["champion"].clone(), two["champion"].clone()),
            (true.into(), false.into())
        );
    }
    // A second handle on the same file, as `raincast models promote` would open.
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let other = app::open(&db);
        registry::promote(&other, 2, "promoted from the CLI", "cli:test").unwrap();
    })
    .await
    .unwrap();
    let promoted = Instant::now();
    // The cached details follow the database at once, not the poll.
    let (_, one) = json(app.get("/api/v1/models/1").send().await.unwrap()).await;
    let (_, two) = json(app.get("/api/v1/models/2").send().await.unwrap()).await;
    assert_eq!(
        (one["champion"].clone(), two["champion"].clone()),
        (false.into(), true.into())
    );
    let poll = Duration::from_secs(app.state.config.server.champion_poll_secs);
    let deadline = promoted + poll + Duration::from_secs(3);
    loop {
        let (s, v) = json(app.get("/readyz").send().await.unwrap()).await;
        assert_eq!(s, 200);
        if v["model_version"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still serving {v} {:?} after the promotion",
            promoted.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past the cache lifetime, forecasts come from the new model.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, f) = json(app.get("/api/v1/forecast/Sydney").send().await.unwrap()).await;
        if f["model_version"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "forecasts still from {f}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The kept pages follow: rendered again for the new champion.
    let home = app.get("/").send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Model version 2."), "{home}");
    let page = app
        .get("/forecast/Sydney")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("model version 2"), "{page}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_champion_is_refused() {
    let app = spawn_app().await;
    let db = app.db.clone();
    let store = app.store.clone();
    // Corrupt version 2's blob on disk, behind the registry's back.
    tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        let n = c
            .execute(
                "UPDATE model_versions SET blob = substr(blob, 1, length(blob) / 2) WHERE version = 2",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
        // The registry's own promotion refuses it...
        let err = registry::promote(&store, 2, "try", "tests").unwrap_err();
        assert!(matches!(err, registry::RegistryError::Corrupt { version: 2, .. }), "{err}");
        assert_eq!(store.champion_version().unwrap(), Some(1));
        // ...and a deployment recorded anyway (an older build, a hand edit) is not served.
        store.deploy(2, "deployed without checks", "tests").unwrap();
    })
    .await
    .unwrap();
    let serving = app.state.serving.clone();
    let store = app.store.clone();
    let now = tokio::task::spawn_blocking(move || serving.refresh(&store).unwrap())
        .await
        .unwrap();
    assert_eq!(now, Some(1), "the old model keeps serving");
    let (v, why) = app.state.serving.refused().expect("version 2 refused");
    assert_eq!(v, 2);
    assert!(why.contains("SHA-256"), "{why}");
    let (s, r) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["model_version"], 1);
    // The poller (1 s) does not swap it in either.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, f) = json(app.get("/api/v1/forecast/Canberra").send().await.unwrap()).await;
    assert_eq!((s, f["model_version"].as_i64()), (200, Some(1)), "{f}");

    // A blob whose hash matches but which is not a forest is refused too.
    let db = app.db.clone();
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        let junk = vec![0xA5u8; 4096];
        c.execute(
            "UPDATE model_versions SET blob = ?1, blob_sha256 = ?2 WHERE version = 2",
            rusqlite::params![junk, registry::sha256_hex(&junk)],
        )
        .unwrap();
        let err = registry::load(&store, 2).unwrap_err();
        assert!(
            matches!(err, registry::RegistryError::Corrupt { version: 2, .. }),
            "{err}"
        );
    })
    .await
    .unwrap();
    app.stop().await;
}

/// Make version `v`'s blob unreadable behind the registry's back.
fn corrupt(db: &std::path::Path, v: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let n = c
        .execute(
            "UPDATE model_versions SET blob = substr(blob, 1, length(blob) / 2) WHERE version = ?1",
            [v],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// A corrupt champion at start-up used to leave nothing serving (while the
/// log said the previous model kept serving). Now the newest loadable
/// version that was ever deployed serves, and that fallback is recorded as
/// a deployment by `system` with its reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_champion_at_start_falls_back_to_the_newest_loadable_deployed_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = app::new_db(dir.path(), true);
    {
        let store = app::open(&db);
        // v1 was deployed, then v2; v2's blob is then damaged.
        store.deploy(2, "better", "tests").unwrap();
        corrupt(&db, 2);
    }
    let app = app::spawn_app_on(dir, db, |_| {}).await;
    let (s, r) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!((s, r["model_version"].as_i64()), (200, Some(1)), "{r}");
    // The fallback is said, not only recorded (issue 28).
    assert_eq!(r["fallback"]["refused_version"], 2, "{r}");
    assert_eq!(r["fallback"]["serving_version"], 1, "{r}");
    assert!(
        r["fallback"]["reason"]
            .as_str()
            .unwrap()
            .contains("does not load"),
        "{r}"
    );
    let metrics = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "raincast_model_fallback 1"),
        "{metrics}"
    );
    let (s, f) = json(app.get("/api/v1/forecast/Canberra").send().await.unwrap()).await;
    assert_eq!((s, f["model_version"].as_i64()), (200, Some(1)), "{f}");
    let d = &app.store.deployments().unwrap()[0];
    assert_eq!((d.version, d.actor.as_str()), (1, "system"), "{d:?}");
    assert!(
        d.reason.contains("version 2") && d.reason.contains("does not load"),
        "{}",
        d.reason
    );
    assert_eq!(app.store.champion_version().unwrap(), Some(1));
    let (s, m) = json(app.get("/api/v1/models").send().await.unwrap()).await;
    assert_eq!((s, m["champion"].as_i64()), (200, Some(1)), "{m}");
    app.stop().await;
}

/// With no deployed model loadable, nothing serves, nothing is recorded,
/// and readiness says which version was refused and why.
#[tokio::test(flavor = "multi_thread")]
async fn with_no_loadable_deployed_model_nothing_serves_and_readyz_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = app::new_db(dir.path(), true);
    {
        let store = app::open(&db);
        store.deploy(2, "better", "tests").unwrap();
        corrupt(&db, 1);
        corrupt(&db, 2);
    }
    let app = app::spawn_app_on(dir, db, |_| {}).await;
    let (s, v) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_error(s, &v, 503, None);
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("version 2") && msg.contains("refused"),
        "{msg}"
    );
    let deployments = app.store.deployments().unwrap();
    assert_eq!(
        deployments.len(),
        2,
        "no fallback recorded: {deployments:?}"
    );
    assert_eq!(app.store.champion_version().unwrap(), Some(2));
    app.stop().await;
}
