//! Webhook alerts end to end: subscriptions made through the console's
//! forms, forecasts logged through the store's one logging call, and a real
//! HTTP receiver on 127.0.0.1 that fails, stalls and recovers; then the
//! real binary killed in the middle of the retries and started again.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{NaiveDate, Utc};
use raincast::issue::{Issue, Visibility};
use raincast::store::{AlertFormat, Delivery, IssuedForecast, NewSubscription, Store};

use super::{PASSWORD, admin_app, get_with, login, post_form};
use crate::support;

const SECRET: &str = "a secret of at least sixteen";

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy)]
enum Act {
    Answer(u16),
    /// Hold the request this long, then answer 200 (too late).
    Stall(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

/// A webhook receiver on 127.0.0.1: acts out `script`, then `then`.
#[derive(Clone)]
struct Receiver {
    url: String,
    script: Arc<Mutex<VecDeque<Act>>>,
    then: Arc<Mutex<Act>>,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    async fn start(script: &[Act], then: Act) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            then: Arc::new(Mutex::new(then)),
            got: Arc::default(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn set_then(&self, act: Act) {
        *self.then.lock().unwrap() = act;
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let act = r
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(*r.then.lock().unwrap());
    let answered = match act {
        Act::Answer(s) => s,
        Act::Stall(_) => 200,
    };
    // Recorded on arrival: a stalled request's client may hang up first.
    r.got.lock().unwrap().push(Got {
        headers,
        body,
        answered,
    });
    if let Act::Stall(d) = act {
        tokio::time::sleep(d).await;
    }
    StatusCode::from_u16(answered).unwrap()
}

/// The receiver's check of a request: the signature verifies with the
/// secret and is fresh, as `docs/alerts.md` tells receivers to check.
fn verified(g: &Got, secret: &str) -> bool {
    let header = g.headers["x-raincast-signature"].to_str().unwrap();
    raincast::alerts::verify(
        secret,
        header,
        &g.body,
        Utc::now(),
        Duration::from_secs(300),
    )
}

/// Sydney's forecast of `issue` for rain day 2017-06-{day}, at `p`.
fn forecast(day: u32, issue: Issue, p: f64) -> IssuedForecast<'static> {
    let st = raincast::stations::by_location("Sydney").unwrap();
    let for_date = NaiveDate::from_ymd_opt(2017, 6, day).unwrap();
    IssuedForecast {
        location: "Sydney",
        for_date,
        issue,
        obs_date: issue.base_day(for_date),
        version: 1,
        probability: p,
        threshold: 0.3,
        issued_at: issue.due_at(st, for_date, &Visibility::default()),
        window_end: raincast::issue::window(st, for_date).1,
        amounts: None,
    }
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn delivery(store: &Store, id: i64) -> Delivery {
    store.delivery(id).unwrap()
}

/// A subscription fires once per issued forecast that crosses it; its
/// delivery survives a receiver that fails, stalls past the timeout and
/// recovers, with every attempt recorded and shown in the admin; every
/// request's signature verifies. A dead receiver's queue stays bounded and
/// forecasting does not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_fires_once_per_issue_through_failures_stalls_and_recovery() {
    let flaky = Receiver::start(
        &[
            Act::Answer(500),
            Act::Stall(Duration::from_secs(3)),
            Act::Answer(503),
        ],
        Act::Answer(204),
    )
    .await;
    let ntfy = Receiver::start(&[], Act::Answer(200)).await;
    let app = admin_app(|c| {
        c.alerts.timeout_secs = 1;
        c.alerts.backoff_secs = 1;
        c.alerts.max_backoff_secs = 1;
        c.alerts.max_attempts = 20;
        c.alerts.max_pending = 2;
    })
    .await;
    let (cookie, csrf) = login(&app).await;

    // The forms: CSRF first, then each field with a precise message.
    let good = |url: &str, format: &str, chance: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("location", "Sydney".into()),
            ("threshold_mm", "1".into()),
            ("min_chance", chance.into()),
            ("issues", "morning".into()),
            ("issues", "afternoon".into()),
            ("url", url.into()),
            ("secret", SECRET.into()),
            ("format", format.into()),
        ]
    };
    let mut forged = good(&flaky.url, "json", "60");
    forged[0].1 = "forged".into();
    let r = post_form(&app, &cookie, "/admin/alerts", &forged).await;
    assert_eq!(r.status(), 403);
    // An amount between the fitted ones is refused, with the ones it can
    // name.
    let mut three_mm = good(&flaky.url, "json", "60");
    three_mm[2].1 = "3".into();
    let r = post_form(&app, &cookie, "/admin/alerts", &three_mm).await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("threshold_mm: 3 mm is not forecast: choose one of 0.2, 1"),
        "{text}"
    );
    let r = post_form(
        &app,
        &cookie,
        "/admin/alerts",
        &good("file:///etc", "json", "60"),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("url: `file:///etc` must be an http")
    );
    assert!(
        app.store.subscriptions().unwrap().is_empty(),
        "nothing written"
    );

    for (url, format, chance) in [
        (flaky.url.as_str(), "json", "60"),
        (ntfy.url.as_str(), "text", "60"),
        ("http://127.0.0.1:9/dead", "json", "10"),
    ] {
        let r = post_form(&app, &cookie, "/admin/alerts", &good(url, format, chance)).await;
        assert_eq!(r.status(), 303, "{url}");
    }
    let subs = app.store.subscriptions().unwrap();
    assert_eq!(subs.len(), 3);
    assert_eq!(subs[1].format, AlertFormat::Text);

    // Forecasts issued: the morning at 70 % crosses all three; logging it
    // again (another process's scrape) queues nothing; the day-before issue
    // is not subscribed; the afternoon at 30 % crosses the dead one only.
    let started = Instant::now();
    let store = app.store.clone();
    let log = move |f: IssuedForecast<'static>| store.log_prediction_alerting(&f, 2).unwrap();
    assert_eq!(log(forecast(26, Issue::Morning, 0.7)), (true, 3));
    assert_eq!(log(forecast(26, Issue::Morning, 0.7)), (false, 0));
    assert_eq!(log(forecast(26, Issue::DayBefore, 0.9)), (true, 0));
    assert_eq!(log(forecast(26, Issue::Afternoon, 0.3)), (true, 1));
    // The dead receiver has two waiting: the next is dropped, not queued.
    assert_eq!(log(forecast(27, Issue::Afternoon, 0.3)), (true, 0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "logging waited for receivers: {:?}",
        started.elapsed()
    );
    let all = app.store.deliveries(20).unwrap();
    assert_eq!(all.len(), 5);
    let dropped: Vec<&Delivery> = all.iter().filter(|d| d.status == "dropped").collect();
    assert_eq!(dropped.len(), 1);
    assert!(
        dropped[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("queue full")
    );
    let flaky_id = all
        .iter()
        .find(|d| d.subscription_id == subs[0].id)
        .unwrap()
        .id;
    let ntfy_id = all
        .iter()
        .find(|d| d.subscription_id == subs[1].id)
        .unwrap()
        .id;

    // The flaky receiver: 500, a stall past the 1 s timeout, 503, then 204.
    let s = app.store.clone();
    wait_for("the flaky delivery", Duration::from_secs(40), || {
        delivery(&s, flaky_id).status == "delivered"
    })
    .await;
    let d = delivery(&app.store, flaky_id);
    assert_eq!(d.attempts, 4);
    let statuses: Vec<Option<u16>> = d.attempt_log.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, [Some(500), None, Some(503), Some(204)]);
    assert!(
        d.attempt_log[1]
            .error
            .as_deref()
            .unwrap()
            .contains("no answer within 1 s")
    );
    assert!(
        (1000..4000).contains(&d.attempt_log[1].latency_ms),
        "{:?}",
        d.attempt_log[1]
    );
    // Backoff: each retry came at least a second after the one before.
    let at = |i: usize| chrono::DateTime::parse_from_rfc3339(&d.attempt_log[i].at).unwrap();
    assert!(
        (at(2) - at(1)).num_milliseconds() >= 1900,
        "timeout + backoff"
    );
    assert!((at(3) - at(2)).num_milliseconds() >= 1000);

    // What the receiver saw: four requests of one delivery, each signed.
    let got = flaky.got();
    assert_eq!(got.len(), 4);
    for g in &got {
        assert!(verified(g, SECRET), "signature of {g:?}");
        assert!(!verified(g, "another secret of sixteen"));
        assert_eq!(
            g.headers["x-raincast-delivery"],
            flaky_id.to_string().as_str()
        );
        assert_eq!(g.headers["x-raincast-event"], "forecast.issued");
        assert_eq!(g.headers["content-type"], "application/json");
        assert_eq!(g.body, got[0].body, "the same body every time");
    }
    assert_eq!(
        got.iter().map(|g| g.answered).collect::<Vec<_>>(),
        [500, 200, 503, 204],
        "the stall's 200 came too late to count"
    );
    let body: serde_json::Value = serde_json::from_slice(&got[3].body).unwrap();
    assert_eq!(body["event"], "forecast.issued");
    assert_eq!(body["location"], "Sydney");
    assert_eq!(body["issue"], "morning");
    assert_eq!(body["forecast_date"], "2017-06-26");
    assert_eq!(body["probability"], 0.7);
    assert_eq!(body["min_chance"], 0.6);
    assert_eq!(body["threshold_mm"], 1.0);
    assert_eq!(body["chance_of"], "more than 1 mm");
    assert_eq!(body["headline_probability"], 0.7);
    assert_eq!(body["window_end"], "2017-06-25T23:00:00.000Z");

    // The ntfy-style receiver got one plain-text sentence with a title.
    let s = app.store.clone();
    wait_for("the text delivery", Duration::from_secs(10), || {
        delivery(&s, ntfy_id).status == "delivered"
    })
    .await;
    let g = &ntfy.got()[0];
    assert_eq!(g.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(g.headers["title"], "Rain 70 % at Sydney");
    let text = String::from_utf8(g.body.to_vec()).unwrap();
    assert!(
        text.starts_with("Sydney: 70\u{a0}% chance of more than 1 mm of rain"),
        "{text}"
    );
    assert!(verified(g, SECRET));

    // The dead receiver: one attempt at a time, each recorded, the rest
    // waiting behind it.
    let s = app.store.clone();
    wait_for(
        "attempts at the dead receiver",
        Duration::from_secs(10),
        || {
            s.deliveries(20)
                .unwrap()
                .iter()
                .any(|d| d.subscription_id == subs[2].id && d.attempts >= 2)
        },
    )
    .await;
    let dead: Vec<Delivery> = app
        .store
        .deliveries(20)
        .unwrap()
        .into_iter()
        .filter(|d| d.subscription_id == subs[2].id && d.status == "pending")
        .collect();
    assert_eq!(dead.len(), 2);
    let first = dead.iter().min_by_key(|d| d.id).unwrap();
    let second = dead.iter().max_by_key(|d| d.id).unwrap();
    assert!(
        first.attempt_log[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("cannot connect")
    );
    assert_eq!(second.attempts, 0, "waits behind the first");

    // The admin page shows the subscriptions and each attempt.
    let page = get_with(&app, &cookie, "/admin/alerts").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"subscriptions\""), "{html}");
    assert!(
        html.contains("more than 1 mm at 60\u{a0}% or more"),
        "{html}"
    );
    assert!(html.contains("HTTP 500"), "{html}");
    assert!(html.contains("no answer within 1 s"), "{html}");
    assert!(html.contains("queue full"), "{html}");
    assert!(html.contains("cannot connect"), "{html}");
    assert!(html.contains(&format!(
        "/admin/alerts/deliveries/{}/resend",
        dropped[0].id
    )));

    // The admin sends the dropped delivery again: it waits like the others
    // (the bound is on what forecasts queue, not on the admin).
    let resend = format!("/admin/alerts/deliveries/{}/resend", dropped[0].id);
    let r = post_form(&app, &cookie, &resend, &[("csrf", "forged")]).await;
    assert_eq!(r.status(), 403);
    let r = post_form(&app, &cookie, &resend, &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(delivery(&app.store, dropped[0].id).status, "pending");
    let r = post_form(&app, &cookie, &resend, &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), 409, "already waiting");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("is pending; only a failed or dropped one")
    );
    let r = post_form(
        &app,
        &cookie,
        "/admin/alerts/deliveries/9999/resend",
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(r.status(), 404);

    // Deleting the dead receiver's subscription cancels what waits.
    let csrf_form = [("csrf", csrf.as_str())];
    let path = format!("/admin/alerts/{}/delete", subs[2].id);
    let r = post_form(&app, &cookie, &path, &csrf_form).await;
    assert_eq!(r.status(), 303);
    let r = post_form(&app, &cookie, &path, &csrf_form).await;
    assert_eq!(r.status(), 404);
    assert_eq!(app.store.pending_deliveries().unwrap(), 0);
    let r = post_form(
        &app,
        &cookie,
        "/admin/alerts/1/delete",
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.store.subscriptions().unwrap().len(), 2);
    app.stop().await;
}

/// The real binary, killed between two attempts at a delivery whose
/// receiver is failing: started again, it sends the delivery once the
/// receiver recovers; nothing was lost, the receiver accepted it once, and
/// every request carried a signature that verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_survives_a_restart_in_the_middle_of_its_retries() {
    let receiver = Receiver::start(&[], Act::Answer(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = {
        let d = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || support::app::new_db(&d, true))
            .await
            .unwrap()
    };
    let id = {
        let store = support::app::open(&db);
        store
            .add_subscription(&NewSubscription {
                location: "Sydney".into(),
                threshold_mm: 1.0,
                min_chance: 0.5,
                issues: vec![Issue::Afternoon],
                url: receiver.url.clone(),
                secret: SECRET.into(),
                format: AlertFormat::Json,
            })
            .unwrap();
        assert_eq!(
            store
                .log_prediction_alerting(&forecast(26, Issue::Afternoon, 0.8), 50)
                .unwrap(),
            (true, 1)
        );
        store.deliveries(1).unwrap()[0].id
    };
    let env = [
        ("RAINCAST_ADMIN__PASSWORD", PASSWORD),
        ("RAINCAST_SCHEDULE__CATCH_UP", "false"),
        ("RAINCAST_SCHEDULE__SCRAPE_ENABLED", "false"),
        ("RAINCAST_SCHEDULE__TRAIN_ENABLED", "false"),
        ("RAINCAST_DATABASE__BUNDLED_HISTORY", "false"),
        ("RAINCAST_BOM__BASE_URL", "http://127.0.0.1:9"),
        ("RAINCAST_ALERTS__TIMEOUT_SECS", "2"),
        ("RAINCAST_ALERTS__BACKOFF_SECS", "3"),
        ("RAINCAST_ALERTS__MAX_BACKOFF_SECS", "3"),
        ("RAINCAST_ALERTS__MAX_ATTEMPTS", "20"),
    ];
    let attempts = |db: &Path| -> (String, u32) {
        let c = rusqlite::Connection::open(db).unwrap();
        c.query_row(
            "SELECT status, attempts FROM alert_deliveries WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };

    let first = support::serve(&db, &env);
    wait_for("two failed attempts", Duration::from_secs(60), || {
        attempts(&db).1 >= 2
    })
    .await;
    // Killed in the backoff after a failed attempt (SIGKILL: no clean exit).
    drop(first);
    let (status, before) = attempts(&db);
    assert_eq!(status, "pending", "still waiting after the kill");
    let sent_before = receiver.got().len();
    assert!(sent_before >= before as usize);

    receiver.set_then(Act::Answer(200));
    let _second = support::serve(&db, &env);
    wait_for(
        "the delivery after the restart",
        Duration::from_secs(60),
        || attempts(&db).0 == "delivered",
    )
    .await;
    let got = receiver.got();
    assert_eq!(
        got.iter().filter(|g| g.answered == 200).count(),
        1,
        "accepted once"
    );
    assert!(
        got.iter().all(|g| verified(g, SECRET)),
        "every signature verifies"
    );
    assert!(
        got.iter()
            .all(|g| g.headers["x-raincast-delivery"] == id.to_string().as_str())
    );
    let store = Store::open(&db, Duration::from_secs(5)).unwrap();
    let d = store.delivery(id).unwrap();
    assert_eq!(d.attempts as usize, d.attempt_log.len());
    assert!(d.attempts > before, "{d:?}");
    assert_eq!(d.attempt_log.last().unwrap().http_status, Some(200));
    assert!(
        d.attempt_log[..d.attempt_log.len() - 1]
            .iter()
            .all(|a| a.http_status == Some(500))
    );
    let body: serde_json::Value = serde_json::from_slice(&got.last().unwrap().body).unwrap();
    assert_eq!(body["issue"], "afternoon");
    assert_eq!(body["probability"], 0.8);
}
