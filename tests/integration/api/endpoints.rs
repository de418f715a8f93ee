//! The success path of every endpoint.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::support::app::{self, LOCATIONS, json, spawn_app};

fn date(v: &Value) -> NaiveDate {
    NaiveDate::parse_from_str(
        v.as_str().unwrap_or_else(|| panic!("not a date: {v}")),
        "%Y-%m-%d",
    )
    .unwrap()
}

/// Newest date and row count per imported station, from the CSV itself.
fn latest_per_location() -> BTreeMap<&'static str, (NaiveDate, u64)> {
    let mut out = BTreeMap::new();
    for o in app::subset_observations() {
        let e = out.entry(o.location).or_insert((o.date, 0));
        e.0 = e.0.max(o.date);
        e.1 += 1;
    }
    out
}

/// One weatherAUS CSV row as a `/api/v1/predict` body (NA left out).
pub(super) fn csv_row_as_json(location: &str, day: NaiveDate) -> Value {
    let text = std::str::from_utf8(app::subset_csv()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let wanted = day.to_string();
    let row: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[0] == wanted && r[1] == location)
        .unwrap_or_else(|| panic!("no CSV row for {location} on {day}"));
    let mut obj = serde_json::Map::new();
    for (k, v) in header.iter().zip(row) {
        if v == "NA" || *k == "RainTomorrow" {
            continue;
        }
        let value = match *k {
            "Date" | "Location" | "RainToday" => json!(v),
            k if k.starts_with("WindGustDir") || k.starts_with("WindDir") => json!(v),
            _ => json!(v.parse::<f64>().unwrap()),
        };
        obj.insert(k.to_string(), value);
    }
    Value::Object(obj)
}

fn check_forecast(f: &Value, location: &str) {
    assert_eq!(f["location"], location);
    let p = f["probability"].as_f64().unwrap();
    let t = f["threshold"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "probability {p}");
    assert!((0.0..=1.0).contains(&t), "threshold {t}");
    assert_eq!(
        f["rain"].as_bool().unwrap(),
        p >= t,
        "rain must be p >= threshold: {f}"
    );
    // The rain day is the day after the observation, or two days after
    // for the issue made the afternoon before the window opens.
    let lead = if f["issue"] == "day_before" { 2 } else { 1 };
    assert_eq!(
        date(&f["forecast_date"]),
        date(&f["observation_date"]) + chrono::Days::new(lead),
        "forecast_date is the issue's rain day: {f}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_readyz() {
    let app = spawn_app().await;
    let (s, v) = json(app.get("/healthz").send().await.unwrap()).await;
    assert_eq!((s, v), (200, json!({"status": "ok"})));
    let (s, v) = json(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["status"], &v["model_version"]),
        (&json!("ready"), &json!(1))
    );
    // Readiness also tells how current the data is.
    assert!(v["newest_observation"].is_string(), "{v}");
    assert!(v["stale_stations"].is_u64(), "{v}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forecast_from_newest_observation_is_fresh() {
    let app = spawn_app().await;
    let latest = latest_per_location();
    for loc in ["Sydney", "Perth"] {
        let (s, f) = json(
            app.get(&format!("/api/v1/forecast/{loc}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 200, "{f}");
        check_forecast(&f, loc);
        assert_eq!(date(&f["observation_date"]), latest[loc].0);
        assert_eq!(f["model_version"], 1);
        let age = (app::fresh_today() - latest[loc].0).num_days();
        assert_eq!(f["data_age_days"], age);
        assert!(age <= app.state.config.server.stale_after_days);
        assert_eq!(f["stale"], false, "{f}");
        assert_eq!(f["display_name"], loc, "{f}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forecast_is_stale_ten_days_later() {
    let app = spawn_app().await;
    let newest = latest_per_location()["Canberra"].0;
    app.clock.set(app::noon(newest + chrono::Days::new(10)));
    let (s, f) = json(app.get("/api/v1/forecast/Canberra").send().await.unwrap()).await;
    assert_eq!(s, 200, "{f}");
    check_forecast(&f, "Canberra");
    assert_eq!(date(&f["observation_date"]), newest);
    assert_eq!(f["stale"], true, "{f}");
    assert_eq!(f["data_age_days"], 10, "{f}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forecast_for_a_given_date() {
    let app = spawn_app().await;
    let (s, f) = json(
        app.get("/api/v1/forecast/Albury?date=2016-03-15")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{f}");
    check_forecast(&f, "Albury");
    assert_eq!(f["observation_date"], "2016-03-15");
    assert_eq!(f["forecast_date"], "2016-03-16");
    // A year old: stale, and the age is counted from the fake today.
    assert_eq!(f["stale"], true);
    let age = (app::fresh_today() - NaiveDate::from_ymd_opt(2016, 3, 15).unwrap()).num_days();
    assert_eq!(f["data_age_days"], age);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn predict_one_object_matches_the_forecast() {
    let app = spawn_app().await;
    let day = NaiveDate::from_ymd_opt(2017, 3, 10).unwrap();
    let body = csv_row_as_json("Sydney", day);
    let (s, p) = json(
        app.post("/api/v1/predict")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert!(p.is_object(), "one object in, one object out: {p}");
    check_forecast(&p, "Sydney");
    assert_eq!(date(&p["observation_date"]), day);
    assert_eq!(p["model_version"], 1);
    // The same observation as stored gives the same probability as the forecast.
    let (_, f) = json(
        app.get(&format!("/api/v1/forecast/Sydney?date={day}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        p["probability"], f["probability"],
        "predict {p} vs forecast {f}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn predict_an_array_keeps_order() {
    let app = spawn_app().await;
    let days = [
        ("Perth", "2017-01-05"),
        ("Sydney", "2016-07-20"),
        ("Canberra", "2017-06-01"),
        ("Perth", "2015-08-11"),
    ];
    let body: Vec<Value> = days
        .iter()
        .map(|(l, d)| csv_row_as_json(l, NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()))
        .collect();
    let (s, out) = json(
        app.post("/api/v1/predict")
            .header("content-type", "application/json")
            .body(Value::Array(body).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    let out = out.as_array().unwrap();
    assert_eq!(out.len(), days.len());
    for (r, (l, d)) in out.iter().zip(days) {
        check_forecast(r, l);
        assert_eq!(r["observation_date"], d);
        assert_eq!(r["model_version"], 1);
    }
    // A minimal observation (only the required fields) is accepted too.
    let (s, one) = json(
        app.post("/api/v1/predict")
            .header("content-type", "application/json")
            .body(json!([{"Location": "Albury", "Date": "2017-06-26"}]).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    check_forecast(&one[0], "Albury");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn locations_lists_49_with_latest_dates() {
    let app = spawn_app().await;
    let (s, v) = json(app.get("/api/v1/locations").send().await.unwrap()).await;
    assert_eq!(s, 200);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 49);
    let latest = latest_per_location();
    let mut names: Vec<&str> = list
        .iter()
        .map(|l| l["location"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 49, "locations are distinct");
    // Identifiers stay as they are; people read the display name.
    let airport = list
        .iter()
        .find(|l| l["location"] == "SydneyAirport")
        .unwrap();
    assert_eq!(airport["display_name"], "Sydney Airport", "{airport}");
    let ginini = list
        .iter()
        .find(|l| l["location"] == "MountGinini")
        .unwrap();
    assert_eq!(ginini["display_name"], "Mount Ginini", "{ginini}");
    for l in list {
        let name = l["location"].as_str().unwrap();
        match latest.get(name) {
            Some((newest, rows)) => {
                assert_eq!(date(&l["latest_observation"]), *newest, "{l}");
                assert_eq!(l["observations"], *rows, "{l}");
            }
            None => {
                assert!(l["latest_observation"].is_null(), "{l}");
                assert_eq!(l["observations"], 0, "{l}");
            }
        }
    }
    assert_eq!(latest.len(), LOCATIONS.len());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn models_list_and_one_model() {
    let app = spawn_app().await;
    let (s, v) = json(app.get("/api/v1/models").send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(v["champion"], 1);
    let models = v["models"].as_array().unwrap();
    let versions: Vec<i64> = models
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1], "newest first");
    assert_eq!(models[0]["champion"], false);
    assert_eq!(models[1]["champion"], true);
    assert_eq!(models[0]["decision"], "kept out");
    assert_eq!(models[1]["decision"], "promoted");
    for m in models {
        for k in ["f1", "roc_auc", "brier", "threshold"] {
            let x = m[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x), "{k} = {x}");
        }
        assert_eq!(m["params"]["n_trees"], 5, "{m}");
    }

    let (s, m) = json(app.get("/api/v1/models/1").send().await.unwrap()).await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["version"], 1);
    assert_eq!(m["champion"], true);
    assert_eq!(m, models[1], "the list and the single view agree");
    let sha = m["blob_sha256"].as_str().unwrap();
    assert!(
        sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sha}"
    );
    assert!(m["blob_bytes"].as_i64().unwrap() > 0);
    app.stop().await;
}

/// The paths `api::router()` serves under `/api/v1` (kept in step with src/web/api.rs).
const API_PATHS: [(&str, &str); 5] = [
    ("get", "/api/v1/forecast/{location}"),
    ("post", "/api/v1/predict"),
    ("get", "/api/v1/locations"),
    ("get", "/api/v1/models"),
    ("get", "/api/v1/models/{version}"),
];

#[tokio::test(flavor = "multi_thread")]
async fn openapi_lists_every_api_path() {
    let app = spawn_app().await;
    let (s, doc) = json(app.get("/api/v1/openapi.json").send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "openapi version: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in API_PATHS
        .iter()
        .chain(&[("get", "/healthz"), ("get", "/readyz")])
    {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} missing from openapi.json"))[*method];
        assert!(op.is_object(), "{method} {path} not documented");
        assert!(
            op["responses"]["200"].is_object(),
            "{method} {path} has no 200 response"
        );
    }
    // Every documented /api/v1 path is one the router really serves.
    for (path, item) in paths {
        let concrete = path
            .replace("{location}", "Sydney")
            .replace("{version}", "1");
        for method in ["get", "post"] {
            if item[method].is_null() {
                continue;
            }
            let req = if method == "get" {
                app.get(&concrete)
            } else {
                app.post(&concrete)
                    .header("content-type", "application/json")
                    .body(r#"{"Location":"Sydney","Date":"2017-06-01"}"#)
            };
            let status = req.send().await.unwrap().status().as_u16();
            assert_eq!(
                status, 200,
                "{method} {concrete} (documented) answered {status}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_docs_page() {
    let app = spawn_app().await;
    let resp = app.get("/api/docs").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = resp.text().await.unwrap();
    for (_, path) in API_PATHS {
        assert!(html.contains(path), "/api/docs does not mention {path}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_text() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/api/v1/forecast/Sydney")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.get("/api/v1/forecast/Nowhere")
            .send()
            .await
            .unwrap()
            .status(),
        422
    );
    let resp = app.get("/metrics").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in /metrics:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    for labels in [
        r#"method="GET",route="/api/v1/forecast/{location}",status="200""#,
        r#"method="GET",route="/api/v1/forecast/{location}",status="422""#,
    ] {
        // Label order is the exporter's; look for each label.
        let found = text.lines().any(|l| {
            l.starts_with("raincast_http_requests_total{")
                && labels.split(',').all(|kv| l.contains(kv))
        });
        assert!(
            found,
            "no raincast_http_requests_total with {labels}:\n{text}"
        );
    }
    assert!(value("raincast_champion_version ") >= 1.0);
    let f1 = value("raincast_champion_f1 ");
    assert!((0.0..=1.0).contains(&f1));
    // The level correction each issue carries today, per amount: a
    // log-odds shift, bounded by what the model's test window can say.
    for issue in ["day_before", "morning", "afternoon"] {
        for mm in ["0.2", "1", "50"] {
            let v = value(&format!(
                r#"raincast_level_shift_logodds{{issue="{issue}",mm="{mm}"}}"#
            ));
            assert!(v.is_finite() && v.abs() < 3.0, "{issue} {mm}: {v}");
        }
    }
    assert!(text.contains(r#"raincast_observation_age_seconds{location="Sydney"}"#));
    assert!(value(r#"raincast_observations{location="Sydney"}"#) > 3000.0);
    assert_eq!(value(r#"raincast_observations{location="Darwin"}"#), 0.0);
    assert!(value("raincast_database_size_bytes ") > 100_000.0);
    assert!(value("process_resident_memory_bytes ") > 0.0);
    assert!(text.contains("raincast_http_request_duration_seconds_bucket"));
    assert!(text.contains("raincast_predictions_total"));
    app.stop().await;
}

/// 32 simultaneous first requests to `/metrics` share one rendering: every
/// body is the same text, whose render counter the one rendering set.
#[tokio::test(flavor = "multi_thread")]
async fn simultaneous_metrics_requests_share_one_rendering() {
    let app = spawn_app().await;
    let url = format!("{}/metrics", app.url);
    let client = reqwest::Client::new();
    let requests = (0..32).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let resp = client.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        })
    });
    let mut bodies = Vec::new();
    for r in requests.collect::<Vec<_>>() {
        bodies.push(r.await.unwrap());
    }
    assert!(
        bodies[0]
            .lines()
            .any(|l| l.starts_with("raincast_metrics_renders_total ")),
        "{}",
        bodies[0]
    );
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "the 32 requests were rendered separately"
    );
    app.stop().await;
}
