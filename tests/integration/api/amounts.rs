//! Rain amounts in the forecast document: the chance of each fitted amount,
//! BOM's possible-rainfall range, and `?mm=` for any amount between, with
//! precise 422s for amounts it cannot answer.

use super::assert_error;
use crate::support::app::{LOCATIONS, json, spawn_app};

#[tokio::test(flavor = "multi_thread")]
async fn forecasts_give_monotone_amounts_and_answer_any_amount_between() {
    let app = spawn_app().await;
    let get = |q: String| {
        let req = app.get(&q);
        async move { json(req.send().await.unwrap()).await }
    };
    for location in LOCATIONS {
        let (status, doc) = get(format!("/api/v1/forecast/{location}")).await;
        assert_eq!(status, 200, "{doc}");
        let a = &doc["amounts"];
        let chances: Vec<(f64, f64)> = a["chances"]
            .as_array()
            .unwrap_or_else(|| panic!("{location}: no amounts in {doc}"))
            .iter()
            .map(|c| (c["mm"].as_f64().unwrap(), c["chance"].as_f64().unwrap()))
            .collect();
        let mms: Vec<f64> = chances.iter().map(|c| c.0).collect();
        assert_eq!(mms, [0.2, 1.0, 2.0, 5.0, 10.0, 15.0, 25.0, 50.0]);
        assert_eq!(a["chances"][1]["event"], "more than 1 mm");
        assert_eq!(a["chances"][0]["event"], "at least 0.2 mm");
        let p = doc["probability"].as_f64().unwrap();
        assert!(
            (chances[1].1 - p).abs() < 1e-4,
            "{location}: the headline is the 1 mm chance"
        );
        assert!(
            chances.windows(2).all(|w| w[0].1 >= w[1].1),
            "{location}: chances fall as the amount grows: {chances:?}"
        );
        let (low, high) = (
            a["possible_rainfall"]["low_mm"].as_f64().unwrap(),
            a["possible_rainfall"]["high_mm"].as_f64().unwrap(),
        );
        assert!(0.0 <= low && low <= high && high <= 50.0, "{low}..{high}");
        // A range end above 0 has its chance: 50 % for the low end.
        if low > 0.0 {
            let (_, at) = get(format!("/api/v1/forecast/{location}?mm={low}")).await;
            let c = at["at_least"]["chance"].as_f64().unwrap();
            assert!(
                (c - 0.5).abs() < 0.05,
                "{location}: {low} mm has chance {c}"
            );
        }
        assert!(doc.get("at_least").is_none(), "only with ?mm=");

        // A fitted amount answers its own chance; one between two fitted
        // amounts lies between theirs and says it was interpolated.
        let (status, five) = get(format!("/api/v1/forecast/{location}?mm=5")).await;
        assert_eq!(status, 200, "{five}");
        assert_eq!(five["at_least"]["mm"], 5.0);
        assert_eq!(five["at_least"]["event"], "at least 5 mm");
        assert_eq!(five["at_least"]["interpolated"], false);
        assert!((five["at_least"]["chance"].as_f64().unwrap() - chances[3].1).abs() < 1e-4);
        let (_, seven) = get(format!("/api/v1/forecast/{location}?mm=7")).await;
        let c7 = seven["at_least"]["chance"].as_f64().unwrap();
        assert_eq!(seven["at_least"]["interpolated"], true);
        assert!(
            c7 <= chances[3].1 + 1e-4 && c7 >= chances[4].1 - 1e-4,
            "{c7} outside {chances:?}"
        );
        let (_, one) = get(format!("/api/v1/forecast/{location}?mm=1")).await;
        assert_eq!(one["at_least"]["event"], "more than 1 mm");
        assert!((one["at_least"]["chance"].as_f64().unwrap() - p).abs() < 1e-4);
    }
    // With a hindcast too.
    let (status, h) = get("/api/v1/forecast/Albury?date=2016-02-29&mm=10".into()).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["kind"], "hindcast");
    assert!(h["at_least"]["chance"].as_f64().is_some());

    for bad in ["0", "0.1", "-5", "51", "abc", "NaN", "inf", ""] {
        let (status, body) = get(format!("/api/v1/forecast/Sydney?mm={bad}")).await;
        assert_error(status, &body, 422, Some("mm"));
        assert!(
            body["message"].as_str().unwrap().contains("from 0.2 to 50"),
            "{bad}: {body}"
        );
    }
    // A parameter given twice is refused, not resolved to one of them.
    let (status, body) = get("/api/v1/forecast/Sydney?mm=1&mm=25".into()).await;
    assert_error(status, &body, 422, Some("mm"));
    assert!(body["message"].as_str().unwrap().contains("more than once"));
    let (status, body) = get("/api/v1/forecast/Sydney?inches=1".into()).await;
    assert_error(status, &body, 422, Some("inches"));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("`date` and `mm`")
    );
}

/// A champion trained before amounts (its blob has no amount maps, as a
/// database from before this release holds) keeps serving its headline:
/// the document's `amounts` is null and `?mm=` answers 409 saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_champion_from_before_amounts_serves_its_headline_and_refuses_mm() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::app::new_db(dir.path(), true);
    {
        let store = raincast::store::Store::open(&db, std::time::Duration::from_secs(10)).unwrap();
        let mut old = raincast::registry::load(&store, 1).unwrap().model;
        assert!(old.amounts.is_some(), "trained with amounts");
        old.amounts = None;
        let v = crate::support::register_blob(
            &store,
            raincast::features::SCHEMA_VERSION,
            &old.to_bytes(),
            true,
            "a model from before amounts",
        );
        assert_eq!(store.champion_version().unwrap(), Some(v));
    }
    let app = crate::support::app::spawn_app_on(dir, db, |_| {}).await;
    let (status, doc) = json(app.get("/api/v1/forecast/Sydney").send().await.unwrap()).await;
    assert_eq!(status, 200, "{doc}");
    assert!(doc["amounts"].is_null(), "{doc}");
    assert!(doc["probability"].as_f64().is_some());
    let (status, body) = json(
        app.get("/api/v1/forecast/Sydney?mm=5")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("trained before rain amounts"),
        "{body}"
    );
    // The city page shows the headline without an amounts line.
    let page = app
        .get("/forecast/Sydney")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="probability""#), "{page}");
    assert!(!page.contains(r#"id="amounts-range""#), "{page}");
}
