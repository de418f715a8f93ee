//! Tests of the alert store: firing once per issue, claiming in order
//! with leases and a bounded queue, resending, deleting, and the bodies.
use super::*;
use crate::store::model_record::tests::{METRICS, TRAIN_WINDOW};
use crate::store::{Store, StoreError};
use std::time::Duration;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("a.db"), Duration::from_secs(1)).unwrap();
    s.with_conn(|c| {
            c.execute(
                "INSERT INTO model_versions (created_at, params, feature_schema, train_window,
                    test_window, threshold, f1, roc_auc, brier, metrics, blob, blob_sha256)
                 VALUES ('2025-09-06T08:30:00Z', '{}', 4, ?1,
                    '{\"from\":\"2024-09-05\",\"to\":\"2025-09-05\"}', 0.3, 0.6, 0.8, 0.1, ?2, X'00', 's')",
                rusqlite::params![TRAIN_WINDOW, METRICS],
            )?;
            Ok(())
        })
        .unwrap();
    (dir, s)
}

fn sub(location: &str, min_chance: f64, issues: &[Issue]) -> NewSubscription {
    NewSubscription {
        location: location.into(),
        threshold_mm: 1.0,
        min_chance,
        issues: issues.to_vec(),
        url: "http://127.0.0.1:9/hook".into(),
        secret: "0123456789abcdef".into(),
        format: AlertFormat::Json,
    }
}

fn forecast(day: u32, issue: Issue, probability: f64) -> IssuedForecast<'static> {
    let for_date = NaiveDate::from_ymd_opt(2025, 9, day).unwrap();
    let st = crate::stations::by_location("Sydney").unwrap();
    IssuedForecast {
        location: "Sydney",
        for_date,
        issue,
        obs_date: issue.base_day(for_date),
        version: 1,
        probability,
        threshold: 0.3,
        issued_at: issue.due_at(st, for_date, &crate::issue::Visibility::default()),
        window_end: crate::issue::window(st, for_date).1,
        amounts: None,
    }
}

/// A subscription fires once per issued forecast at or above its chance,
/// for its issues only; logging the same forecast again queues nothing.
#[test]
fn fires_once_per_issue_that_crosses_it() {
    let (_d, s) = store();
    let id = s
        .add_subscription(&sub("Sydney", 0.5, &[Issue::Morning, Issue::Afternoon]))
        .unwrap();
    s.add_subscription(&sub("Canberra", 0.1, &[Issue::Morning]))
        .unwrap();
    let log = |f: &IssuedForecast| s.log_prediction_alerting(f, 50).unwrap();
    assert_eq!(
        log(&forecast(7, Issue::Morning, 0.5)),
        (true, 1),
        "at the chance"
    );
    assert_eq!(
        log(&forecast(7, Issue::Morning, 0.9)),
        (false, 0),
        "logged once"
    );
    assert_eq!(
        log(&forecast(7, Issue::DayBefore, 0.9)),
        (true, 0),
        "not its issue"
    );
    assert_eq!(
        log(&forecast(7, Issue::Afternoon, 0.49)),
        (true, 0),
        "below"
    );
    assert_eq!(log(&forecast(8, Issue::Afternoon, 0.7)), (true, 1));
    let all = s.deliveries(10).unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|d| d.subscription_id == id && d.status == "pending")
    );
    let body: serde_json::Value =
        serde_json::from_str(&s.claim_deliveries(Utc::now(), Utc::now(), 1).unwrap()[0].body)
            .unwrap();
    assert_eq!(body["issue"], "morning");
    assert_eq!(body["forecast_date"], "2025-09-07");
    assert_eq!(body["window_end"], "2025-09-06T23:00:00.000Z");
    assert_eq!(body["probability"], 0.5);
}

/// Per subscription only the oldest waiting delivery is claimed, a
/// leased one is not claimed again before its lease ends, and a full
/// queue records the next one as dropped.
#[test]
fn claims_in_order_with_leases_and_a_bounded_queue() {
    let (_d, s) = store();
    s.add_subscription(&sub("Sydney", 0.1, &crate::issue::ISSUES))
        .unwrap();
    for day in 7..=9 {
        s.log_prediction_alerting(&forecast(day, Issue::Morning, 0.6), 2)
            .unwrap();
    }
    let all = s.deliveries(10).unwrap();
    let statuses: Vec<&str> = all.iter().rev().map(|d| d.status.as_str()).collect();
    assert_eq!(statuses, ["pending", "pending", "dropped"]);
    assert!(all[0].last_error.as_deref().unwrap().contains("queue full"));
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(30);
    let first = s.claim_deliveries(now, lease, 10).unwrap();
    assert_eq!(first.len(), 1, "the oldest only");
    assert!(
        s.claim_deliveries(now, lease, 10).unwrap().is_empty(),
        "leased"
    );
    let a = Attempt {
        n: 1,
        at: rfc3339::text(&now),
        http_status: Some(500),
        latency_ms: 3,
        error: Some("HTTP 500".into()),
    };
    s.record_attempt(
        first[0].id,
        &a,
        AttemptResult::RetryAt(now + chrono::Duration::seconds(60)),
    )
    .unwrap();
    assert!(
        s.claim_deliveries(now, lease, 10).unwrap().is_empty(),
        "backing off"
    );
    let later = now + chrono::Duration::seconds(61);
    let again = s.claim_deliveries(later, later, 10).unwrap();
    assert_eq!((again[0].id, again[0].attempts), (first[0].id, 1));
    let ok = Attempt {
        n: 2,
        http_status: Some(204),
        error: None,
        ..a
    };
    s.record_attempt(again[0].id, &ok, AttemptResult::Delivered)
        .unwrap();
    let next = s.claim_deliveries(later, later, 10).unwrap();
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].id, first[0].id, "then the next in line");
    let d = s.delivery(first[0].id).unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("delivered", 2));
    assert_eq!(d.attempt_log.len(), 2);
    assert_eq!(d.attempt_log[0].http_status, Some(500));
    assert_eq!(s.pending_deliveries().unwrap(), 1);
}

#[test]
fn a_failed_or_dropped_delivery_can_be_sent_again() {
    let (_d, s) = store();
    let sub_id = s
        .add_subscription(&sub("Sydney", 0.1, &[Issue::Morning]))
        .unwrap();
    s.log_prediction_alerting(&forecast(7, Issue::Morning, 0.6), 1)
        .unwrap();
    s.log_prediction_alerting(&forecast(8, Issue::Morning, 0.6), 1)
        .unwrap();
    let now = Utc::now();
    let c = s.claim_deliveries(now, now, 5).unwrap().remove(0);
    assert!(matches!(
        s.resend_delivery(c.id, now),
        Err(StoreError::Conflict(m)) if m.contains("is pending")
    ));
    let a = Attempt {
        n: 1,
        at: rfc3339::text(&now),
        http_status: Some(500),
        latency_ms: 1,
        error: Some("HTTP 500".into()),
    };
    s.record_attempt(c.id, &a, AttemptResult::GiveUp).unwrap();
    s.resend_delivery(c.id, now).unwrap();
    let again = s.claim_deliveries(now, now, 5).unwrap();
    assert_eq!(
        (again[0].id, again[0].attempts, again[0].attempts_before),
        (c.id, 1, 1)
    );
    let dropped = s.deliveries(5).unwrap()[0].id;
    assert_eq!(s.delivery(dropped).unwrap().status, "dropped");
    s.resend_delivery(dropped, now).unwrap();
    assert_eq!(s.delivery(dropped).unwrap().status, "pending");
    assert!(matches!(
        s.resend_delivery(999, now),
        Err(StoreError::NotFound(_))
    ));
    s.delete_subscription(sub_id).unwrap();
    assert!(matches!(
        s.resend_delivery(c.id, now),
        Err(StoreError::Conflict(m)) if m.contains("deleted")
    ));
}

#[test]
fn debug_output_leaves_the_secret_out() {
    let (_d, s) = store();
    s.add_subscription(&sub("Sydney", 0.1, &[Issue::Morning]))
        .unwrap();
    s.log_prediction_alerting(&forecast(7, Issue::Morning, 0.6), 5)
        .unwrap();
    let text = format!(
        "{:?} {:?} {:?}",
        sub("Sydney", 0.1, &[Issue::Morning]),
        s.subscriptions().unwrap(),
        s.claim_deliveries(Utc::now(), Utc::now(), 5).unwrap()
    );
    assert!(!text.contains("0123456789abcdef"), "{text}");
    assert_eq!(text.matches("[redacted]").count(), 3, "{text}");
}

#[test]
fn deleting_cancels_waiting_deliveries() {
    let (_d, s) = store();
    let id = s
        .add_subscription(&sub("Sydney", 0.1, &[Issue::Morning]))
        .unwrap();
    s.log_prediction_alerting(&forecast(7, Issue::Morning, 0.6), 5)
        .unwrap();
    assert_eq!(s.delete_subscription(id).unwrap(), 1);
    assert!(matches!(
        s.delete_subscription(id),
        Err(StoreError::NotFound(_))
    ));
    assert!(s.subscriptions().unwrap().is_empty());
    assert_eq!(s.deliveries(5).unwrap()[0].status, "cancelled");
    assert!(
        s.claim_deliveries(Utc::now(), Utc::now(), 5)
            .unwrap()
            .is_empty()
    );
    // A deleted subscription fires no more.
    let (logged, queued) = s
        .log_prediction_alerting(&forecast(8, Issue::Morning, 0.9), 5)
        .unwrap();
    assert!(logged);
    assert_eq!(queued, 0);
}

#[test]
fn the_text_body_is_one_sentence_in_local_time() {
    let mut s = sub("Sydney", 0.1, &[Issue::Morning]);
    s.format = AlertFormat::Text;
    let sub = Subscription {
        id: 1,
        location: s.location,
        threshold_mm: 1.0,
        min_chance: 0.1,
        issues: s.issues,
        url: s.url,
        secret: s.secret,
        format: AlertFormat::Text,
        created_at: String::new(),
    };
    let text = alert_body(&sub, &forecast(7, Issue::Morning, 0.634));
    assert_eq!(
        text,
        "Sydney: 63\u{a0}% chance of more than 1 mm of rain in the 24 hours to 09:00 AEST on Sun 7 Sep. Issued 10:00 AEST on Sat 6 Sep (the morning, as the day opens), model version 1."
    );
}
