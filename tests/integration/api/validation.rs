//! Every validation rule: status and `{error, field, message}`, never a 5xx.

use serde_json::{Value, json};

use super::assert_error;
use crate::support::app::{TestApp, json, spawn_app, spawn_app_with};

async fn post_raw(app: &TestApp, body: &str) -> (u16, Value) {
    json(
        app.post("/api/v1/predict")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn sydney(extra: Value) -> Value {
    let mut v = json!({"Location": "Sydney", "Date": "2017-06-20"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn predict_body_rules() {
    let app = spawn_app().await;
    // Malformed JSON is 400, with no field.
    for bad in ["{", "{\"Location\": \"Sydney\",}", "not json", ""] {
        let (s, v) = post_raw(&app, bad).await;
        assert_error(s, &v, 400, None);
        assert_eq!(v["error"], "malformed_json", "{bad:?}: {v}");
    }
    let cases: Vec<(Value, &str)> = vec![
        // Wrong types.
        (sydney(json!({"Humidity9am": "high"})), "Humidity9am"),
        (sydney(json!({"MaxTemp": true})), "MaxTemp"),
        (json!({"Location": 12, "Date": "2017-06-20"}), "Location"),
        (sydney(json!({"WindDir3pm": 90})), "WindDir3pm"),
        // Unknown field.
        (sydney(json!({"Humidity": 50})), "Humidity"),
        (sydney(json!({"RainTomorrow": "Yes"})), "RainTomorrow"),
        // Out of range.
        (sydney(json!({"Humidity9am": 101})), "Humidity9am"),
        (sydney(json!({"Humidity3pm": -1})), "Humidity3pm"),
        (sydney(json!({"Cloud9am": 9})), "Cloud9am"),
        (sydney(json!({"Pressure3pm": 500})), "Pressure3pm"),
        (sydney(json!({"Rainfall": -0.2})), "Rainfall"),
        // Bad compass direction.
        (sydney(json!({"WindGustDir": "NORTH"})), "WindGustDir"),
        (sydney(json!({"WindDir9am": "n"})), "WindDir9am"),
        // Unknown location in the body.
        (
            json!({"Location": "Atlantis", "Date": "2017-06-20"}),
            "Location",
        ),
        // Bad or missing date, missing location.
        (json!({"Location": "Sydney", "Date": "20/06/2017"}), "Date"),
        (json!({"Location": "Sydney", "Date": "2017-02-30"}), "Date"),
        (json!({"Location": "Sydney"}), "Date"),
        (json!({"Date": "2017-06-20"}), "Location"),
        (json!({"Location": null, "Date": "2017-06-20"}), "Location"),
        // RainToday must agree with Rainfall (> 1.0 mm), and be Yes or No.
        (
            sydney(json!({"Rainfall": 0.0, "RainToday": "Yes"})),
            "RainToday",
        ),
        (
            sydney(json!({"Rainfall": 5.2, "RainToday": "No"})),
            "RainToday",
        ),
        (
            sydney(json!({"Rainfall": 1.0, "RainToday": "Yes"})),
            "RainToday",
        ),
        (sydney(json!({"RainToday": "maybe"})), "RainToday"),
        // Not an object, or an array of the wrong size.
        (json!(42), "body"),
        (json!("Sydney"), "body"),
        (json!([]), "body"),
        // Inside an array, the path names the item.
        (
            json!([sydney(json!({})), sydney(json!({"Humidity3pm": 250}))]),
            "[1].Humidity3pm",
        ),
        (json!([sydney(json!({})), 7]), "[1]"),
    ];
    for (body, field) in &cases {
        let (s, v) = post_raw(&app, &body.to_string()).await;
        assert_error(s, &v, 422, Some(field));
        assert_eq!(v["error"], "invalid_value", "{body}: {v}");
    }
    // Boundaries that are fine.
    for ok in [
        sydney(json!({"Humidity9am": 100, "Cloud9am": 8, "Rainfall": 1.0, "RainToday": "No"})),
        sydney(json!({"Humidity9am": 0, "Cloud3pm": 0, "Rainfall": 0, "WindGustDir": "NNW"})),
        sydney(json!({"Rainfall": 1.2, "MinTemp": null})),
    ] {
        let (s, v) = post_raw(&app, &ok.to_string()).await;
        assert_eq!(s, 200, "{ok}: {v}");
    }
    // 1,000 items is the limit; 1,001 is refused.
    let item = sydney(json!({}));
    let (s, v) = post_raw(&app, &Value::Array(vec![item.clone(); 1000]).to_string()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(1000));
    let (s, v) = post_raw(&app, &Value::Array(vec![item; 1001]).to_string()).await;
    assert_error(s, &v, 422, Some("body"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn body_over_the_limit_is_413() {
    let app = spawn_app_with(true, |c| c.server.body_limit_bytes = 2048).await;
    let small = sydney(json!({}));
    let (s, _) = post_raw(&app, &small.to_string()).await;
    assert_eq!(s, 200);
    let big = Value::Array(vec![small; 100]).to_string();
    assert!(big.len() > 2048);
    let (s, v) = post_raw(&app, &big).await;
    assert_error(s, &v, 413, None);
    assert_eq!(v["error"], "body_too_large");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn path_and_query_rules() {
    let app = spawn_app().await;
    let cases: [(&str, u16, Option<&str>); 10] = [
        ("/api/v1/forecast/Atlantis", 422, Some("location")),
        ("/api/v1/forecast/Sydney%20Airport", 422, Some("location")),
        ("/api/v1/forecast/Sydney?date=2017-13-01", 422, Some("date")),
        ("/api/v1/forecast/Sydney?date=yesterday", 422, Some("date")),
        ("/api/v1/forecast/Sydney?when=2017-06-01", 422, Some("when")),
        // A day with no observation, and a station with none at all.
        ("/api/v1/forecast/Sydney?date=2007-06-01", 404, Some("date")),
        ("/api/v1/forecast/Darwin", 404, Some("location")),
        ("/api/v1/models/999", 404, None),
        ("/api/v1/models/latest", 422, Some("version")),
        // An endpoint that does not exist answers in the same shape.
        ("/api/v1/nothing-here", 404, None),
    ];
    for (path, status, field) in cases {
        let (s, v) = json(app.get(path).send().await.unwrap()).await;
        assert_error(s, &v, status, field);
        let code = match status {
            404 => "not_found",
            _ => "invalid_value",
        };
        assert_eq!(v["error"], code, "{path}: {v}");
    }
    // Location names are matched without regard to case, and answered canonically.
    let (s, v) = json(app.get("/api/v1/forecast/sYDNEY").send().await.unwrap()).await;
    assert_eq!((s, v["location"].as_str()), (200, Some("Sydney")), "{v}");
    app.stop().await;
}

/// Dates the date arithmetic cannot take (they panicked: "NaiveDate ± Days
/// out of range", a 500) and implausible years are a 422 naming the field;
/// the first and last plausible days are accepted.
#[tokio::test(flavor = "multi_thread")]
async fn extreme_and_implausible_dates_are_422() {
    let app = spawn_app().await;
    // The test clock's today is 2017-06-26.
    let refused = [
        "-262143-01-01",
        "+262142-12-31",
        "262142-12-31",
        "0000-01-01",
        "9999-12-31",
        "2006-12-31",
        "2017-06-29",
        "2017-6-1",
        " 2017-06-01",
        "2017-06-01T00:00:00",
        "１２３４-01-01",
    ];
    for d in refused {
        let body = json!({"Location": "Sydney", "Date": d});
        let (s, v) = post_raw(&app, &body.to_string()).await;
        assert_error(s, &v, 422, Some("Date"));
        let batch = json!([sydney(json!({})), {"Location": "Sydney", "Date": d}]);
        let (s, v) = post_raw(&app, &batch.to_string()).await;
        assert_error(s, &v, 422, Some("[1].Date"));
        let q: String = d.bytes().map(|b| format!("%{b:02X}")).collect();
        let (s, v) = json(
            app.get(&format!("/api/v1/forecast/Sydney?date={q}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(s, &v, 422, Some("date"));
    }
    for d in ["2007-01-01", "2017-06-28"] {
        let (s, v) = post_raw(&app, &json!({"Location": "Sydney", "Date": d}).to_string()).await;
        assert_eq!(s, 200, "{d}: {v}");
    }
    // In range but with no stored observation: 404, not 422.
    let (s, v) = json(
        app.get("/api/v1/forecast/Sydney?date=2017-06-28")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(s, &v, 404, Some("date"));
    app.stop().await;
}

/// A path segment that is not UTF-8 gets our JSON error shape under /api
/// (it was axum's plain-text rejection), and so do a wrong method and a
/// wrong content type.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_before_a_handler_have_the_json_shape_under_api() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/forecast/%FF",
        "/api/v1/forecast/Syd%C3ney",
        "/api/v1/models/%FE%FF",
        "/api/v1/forecast/Sydney?date=%FF",
    ] {
        let (s, v) = json(app.get(path).send().await.unwrap()).await;
        assert!((400..500).contains(&s), "{path}: {s} {v}");
        assert!(
            v["error"].is_string() && v["message"].is_string(),
            "{path}: {v}"
        );
        assert!(v.as_object().unwrap().contains_key("field"), "{path}: {v}");
    }
    let resp = app.post("/api/v1/locations").send().await.unwrap();
    let allow = resp
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    let (s, v) = json(resp).await;
    assert_error(s, &v, 405, None);
    // The methods it takes, as any 405 says.
    assert!(
        allow.as_deref().is_some_and(|a| a.contains("GET")),
        "{allow:?}"
    );
    app.stop().await;
}

/// The pages refuse what they cannot read with a page of their own, not the
/// framework's plain-text message.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_before_a_page_handler_are_pages() {
    let app = spawn_app().await;
    for (path, status, said) in [
        ("/forecast/%FF", 404, "No such city"),
        ("/?q=a&q=b", 400, "Cannot read the search"),
    ] {
        let resp = app.get(path).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(said), "{path}: {body}");
    }
    app.stop().await;
}

/// `POST /api/v1/predict` takes JSON declared as JSON: any other
/// Content-Type, or none, is 415 with our error shape (issue 28: text/plain,
/// forms, XML and no type at all were read as JSON).
#[tokio::test(flavor = "multi_thread")]
async fn predict_refuses_a_body_not_declared_as_json() {
    let app = spawn_app().await;
    let body = sydney(json!({})).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        Some("application/+json"),
        None,
    ] {
        let mut req = app.post("/api/v1/predict").body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let (s, v) = json(req.send().await.unwrap()).await;
        assert_error(s, &v, 415, None);
        assert_eq!(v["error"], "unsupported_media_type", "{ct:?}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("application/json"),
            "{v}"
        );
    }
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ] {
        let r = app
            .post("/api/v1/predict")
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{ct}");
    }
}
