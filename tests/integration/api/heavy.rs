//! Heavy valid batches (issue 28): 1,000 observations on old dates cost
//! seconds of database reads each, and 16 at once pushed every request
//! past 20 s, computing on for clients that had gone. Now their cost is
//! bounded (`server.predict_max_cost`): what finds no room within a second
//! gets 503 with `Retry-After`, and work whose client went away stops.

use std::time::Duration;

use serde_json::{Value, json};

use super::assert_error;
use crate::support::app::{TestApp, json, spawn_app_with};

/// 1,000 minimal observations on distinct days of 2010-2012, long before
/// what the in-memory board holds: each row and each day is a database read.
fn old_batch(location: &str) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2010, 1, 1).unwrap();
    let rows: Vec<Value> = (0..1000)
        .map(|i| {
            let d = start + chrono::Days::new(i);
            json!({"Location": location, "Date": d.to_string()})
        })
        .collect();
    Value::Array(rows).to_string()
}

async fn post_batch(app: &TestApp, body: String) -> reqwest::Response {
    app.post("/api/v1/predict")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_heavy_batches_is_bounded_and_refusals_say_when_to_retry() {
    let _heavy = crate::support::heavy().await;
    let app = spawn_app_with(true, |c| c.server.predict_max_cost = 2000).await;
    let locations = ["Sydney", "Canberra", "Perth", "Albury"];
    let burst: Vec<_> = (0..6)
        .map(|i| {
            let (url, body) = (app.url.clone(), old_batch(locations[i % 4]));
            tokio::spawn(async move {
                let r = crate::support::app::client()
                    .post(format!("{url}/api/v1/predict"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let (s, v) = json(r).await;
                (s, retry, v)
            })
        })
        .collect();
    let mut answered = 0;
    let mut refused = 0;
    for b in burst {
        let (s, retry, v) = b.await.unwrap();
        match s {
            200 => {
                assert_eq!(v.as_array().unwrap().len(), 1000);
                answered += 1;
            }
            503 => {
                assert_error(s, &v, 503, None);
                assert_eq!(v["error"], "busy", "{v}");
                assert_eq!(retry.as_deref(), Some("3"), "{v}");
                refused += 1;
            }
            other => panic!("{other}: {v}"),
        }
    }
    eprintln!("heavy burst: {answered} answered, {refused} refused");
    assert!(
        answered >= 1 && refused >= 1,
        "{answered} answered, {refused} refused"
    );
    // Once the burst is over there is room again.
    let r = post_batch(&app, old_batch("Sydney")).await;
    assert_eq!(r.status(), 200);
    // Recent days cost nothing and are never refused.
    let (s, _) = json(
        post_batch(
            &app,
            json!([{"Location": "Sydney", "Date": "2017-06-25"}]).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_whose_client_went_away_stops() {
    let _heavy = crate::support::heavy().await;
    let app = spawn_app_with(true, |c| c.server.predict_max_cost = 2000).await;
    let counter = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("raincast_predict_abandoned_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = counter(
        &app.get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    // The client gives up after 200 ms, long before 1,000 old days are read.
    let gave_up = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .post(format!("{}/api/v1/predict", app.url))
        .header("content-type", "application/json")
        .body(old_batch("Perth"))
        .send()
        .await;
    assert!(gave_up.is_err(), "the batch answered within 200 ms");
    // The work stops at its next row and frees its room: a full batch is
    // admitted at once instead of waiting for the abandoned one to finish.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = app
            .get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if counter(&m) > before {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.state.batches.in_use(), 0);
    app.stop().await;
}

/// Reads in flight are bounded (`server.max_reads_in_flight`): with every
/// permit taken, one more read gets 503 with `Retry-After` at once, while
/// health, readiness and metrics still answer; once a permit is free, reads
/// are answered again.
#[tokio::test(flavor = "multi_thread")]
async fn reads_past_the_limit_get_503_at_once_and_health_still_answers() {
    let app = spawn_app_with(true, |c| c.server.max_reads_in_flight = 2).await;
    let held = app.state.reads.clone().try_acquire_many_owned(2).unwrap();
    let started = std::time::Instant::now();
    let resp = app.get("/api/v1/locations").send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let (_, body) = json(resp).await;
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once"
    );
    assert_eq!(
        app.get("/forecast/Sydney").send().await.unwrap().status(),
        503
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(path).send().await.unwrap().status(), 200, "{path}");
    }
    drop(held);
    assert_eq!(
        app.get("/api/v1/locations").send().await.unwrap().status(),
        200
    );
    assert_eq!(
        app.get("/forecast/Sydney").send().await.unwrap().status(),
        200
    );
    app.stop().await;
}
