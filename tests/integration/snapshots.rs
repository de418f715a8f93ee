//! Snapshot tests (insta) of what clients build against: the OpenAPI
//! document and the shape of every kind of client error. A change to either
//! shows up as a reviewed diff in `tests/integration/snapshots/`, never as a
//! silent drift. Update with `INSTA_UPDATE=always cargo test --test
//! integration snapshots::` (or `cargo insta review`), then read the diff.

use serde_json::{Value, json};

use crate::support::app::{json as parse, spawn_app};

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document() {
    let app = spawn_app().await;
    let (status, mut doc) = parse(app.get("/api/v1/openapi.json").send().await.unwrap()).await;
    assert_eq!(status, 200);
    // The crate version changes with every release, not the contract.
    doc["info"]["version"] = json!("[version]");
    insta::assert_json_snapshot!(doc);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_error_shapes() {
    let app = spawn_app().await;
    let mut seen = serde_json::Map::new();
    let gets = [
        ("unknown_city", "/api/v1/forecast/Atlantis"),
        ("bad_date", "/api/v1/forecast/Sydney?date=2025-02-30"),
        ("unknown_model", "/api/v1/models/999999"),
        ("bad_model_version", "/api/v1/models/latest"),
        ("unknown_route", "/api/v1/nothing-here"),
    ];
    for (name, path) in gets {
        let resp = app.get(path).send().await.unwrap();
        let (status, body) = parse(resp).await;
        seen.insert(name.into(), json!({"status": status, "body": body}));
    }
    let posts: [(&str, &str); 6] = [
        ("not_json", "{not json"),
        (
            "wrong_type",
            r#"{"Location": "Sydney", "Date": "2017-06-01", "MinTemp": "cold"}"#,
        ),
        (
            "unknown_field",
            r#"{"Location": "Sydney", "Date": "2017-06-01", "Colour": 3}"#,
        ),
        (
            "out_of_range",
            r#"{"Location": "Sydney", "Date": "2017-06-01", "Humidity9am": 140}"#,
        ),
        (
            "unknown_location",
            r#"{"Location": "Atlantis", "Date": "2017-06-01"}"#,
        ),
        ("empty_batch", "[]"),
    ];
    for (name, body) in posts {
        let resp = app
            .post("/api/v1/predict")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, body) = parse(resp).await;
        assert!((400..500).contains(&status), "{name}: {status} {body}");
        seen.insert(name.into(), json!({"status": status, "body": body}));
    }
    let resp = app
        .post("/api/v1/predict")
        .header("content-type", "text/plain")
        .body(r#"{"Location": "Sydney", "Date": "2017-06-01"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = parse(resp).await;
    seen.insert(
        "not_declared_json".into(),
        json!({"status": status, "body": body}),
    );
    insta::assert_json_snapshot!(Value::Object(seen));
}
