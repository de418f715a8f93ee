//! The served level correction (decision 0038): every forecast's chance is
//! the model's own (`model_probability`) shifted in log-odds by the model's
//! miss on the rain days it was out of sample and whose outcome every
//! station had published before the forecast's base day, each day halved
//! every 180 days, shrunk by n / (n + 2000). The tests recompute the shift
//! from `evaluate --raw`'s own forecasts and compare it with what the API,
//! the pages and `evaluate` serve.

use std::collections::HashMap;

use chrono::NaiveDate;
use raincast::evaluate::{Subject, evaluate_to};

use crate::support::app::{LOCATIONS, json, new_db, spawn_app, spawn_app_on};

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// (issue, location, rain day) -> (chance, rained), from `evaluate`'s CSV.
type Rows = HashMap<(String, String, NaiveDate), (f64, bool)>;

fn forecasts(store: &raincast::store::Store, subject: Subject, from: &str, to: &str) -> Rows {
    let mut csv = Vec::new();
    evaluate_to(store, subject, day(from), day(to), Some(&mut csv)).unwrap();
    String::from_utf8(csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                (f[0].to_string(), f[1].to_string(), day(f[2])),
                (f[3].parse().unwrap(), f[4] == "1"),
            )
        })
        .collect()
}

/// The headline's served chance for `own` at `issue` on `rain_day`, from
/// the model's own forecasts in `raw` up to `newest`.
fn served(raw: &Rows, issue: &str, rain_day: NaiveDate, newest: NaiveDate, own: f64) -> f64 {
    let lag = if issue == "day_before" { 3 } else { 2 };
    let last = (rain_day - chrono::Days::new(lag)).min(newest);
    let (mut sp, mut sy, mut n) = (0.0, 0.0, 0.0);
    for ((i, _, d), (p, y)) in raw {
        if i == issue && *d <= last {
            let w = 0.5f64.powf((last - *d).num_days() as f64 / 180.0);
            sp += w * p;
            sy += w * f64::from(u8::from(*y));
            n += w;
        }
    }
    if n == 0.0 {
        return own;
    }
    let shift = n / (n + 2000.0) * (logit((sy + 0.5) / (n + 1.0)) - logit(sp / n));
    (1.0 / (1.0 + (-(logit(own) + shift)).exp())).clamp(0.001, 0.999)
}

/// A version trained now stores its test window's headline sums for the
/// correction (the amount maps were refitted on that window, so their sums
/// start after it), and every forecast gives the model's own chance.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_trained_now_records_its_test_window_s_headline_level() {
    let app = spawn_app().await;
    let version = app.store.champion_version().unwrap().unwrap();
    let anchor = app
        .store
        .model(version)
        .unwrap()
        .summary
        .metrics
        .level
        .expect("a version trained now records its test window's level");
    assert_eq!(anchor.sums.len(), 3, "{anchor:?}");
    for sums in &anchor.sums {
        assert_eq!(sums.len(), raincast::amounts::N);
        assert!(
            sums[1].n > 0.0 && sums[1].y > 0.0 && sums[1].p > 0.0,
            "{sums:?}"
        );
        assert!(
            sums.iter().enumerate().all(|(k, s)| k == 1 || s.n == 0.0),
            "{sums:?}"
        );
    }
    let (status, doc) = json(app.get("/api/v1/forecast/Sydney").send().await.unwrap()).await;
    assert_eq!(status, 200, "{doc}");
    assert!(doc["model_probability"].as_f64().is_some(), "{doc}");
}

/// A version whose test window ended a year before its newest rows learns
/// from hindcasts of
/// every rain day since: the API, the city page, the `?date=` hindcasts
/// and `evaluate` all serve the shift recomputed here from `evaluate
/// --raw`'s forecasts, each reading only the days it could know.
#[tokio::test(flavor = "multi_thread")]
async fn served_chances_carry_the_level_learned_since_the_test_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = new_db(dir.path(), true);
    let (version, raw, newest) = {
        let store = raincast::store::Store::open(&db, std::time::Duration::from_secs(10)).unwrap();
        let blob = store.model(1).unwrap().blob;
        let version = crate::support::register_blob_tested_on(
            &store,
            raincast::features::SCHEMA_VERSION,
            &blob,
            true,
            "the same model, tested until July 2016",
            raincast::store::Window {
                from: day("2015-07-01"),
                to: day("2016-07-01"),
            },
        );
        let raw = forecasts(
            &store,
            Subject::ModelRaw(version),
            "2016-07-01",
            "2017-06-30",
        );
        let newest = raincast::stations::STATIONS
            .iter()
            .filter_map(|s| store.latest_date(s.location).unwrap())
            .max()
            .unwrap();
        (version, raw, newest.pred_opt().unwrap())
    };
    assert!(raw.len() > 3000, "{} forecasts since July 2016", raw.len());
    let app = spawn_app_on(dir, db, |_| {}).await;
    let get = |q: String| {
        let req = app.get(&q);
        async move { json(req.send().await.unwrap()).await }
    };

    let mut moved = 0;
    for location in LOCATIONS {
        let (status, doc) = get(format!("/api/v1/forecast/{location}")).await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["model_version"], version, "{doc}");
        let (p, own) = (
            doc["probability"].as_f64().unwrap(),
            doc["model_probability"].as_f64().unwrap(),
        );
        let issue = doc["issue"].as_str().unwrap();
        let rain_day = day(doc["forecast_date"].as_str().unwrap());
        let expected = served(&raw, issue, rain_day, newest, own);
        assert!(
            (p - expected).abs() < 1e-9,
            "{location}: served {p}, the model's own {own}, expected {expected}"
        );
        assert_ne!(p, own, "{location}: months of days moved nothing");
        let headline = doc["amounts"]["chances"][1]["chance"].as_f64().unwrap();
        assert!((headline - p).abs() < 1e-4, "{location}: {doc}");
        // The page shows the served percent and, when the shift moved it,
        // the model's own.
        let page = app
            .get(&format!("/forecast/{location}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let percent = |x: f64| ((x * 100.0).round() as i64).clamp(5, 95);
        let (shown, own_shown) = (percent(p), percent(own));
        assert!(
            page.contains(&format!(r#"id="probability">{shown}&nbsp;%"#)),
            "{location}: {shown} % is not the headline"
        );
        if shown == own_shown {
            assert!(!page.contains(r#"id="level""#), "{location}");
        } else {
            moved += 1;
            assert!(
                page.contains(&format!("The model's own chance was {own_shown}&nbsp;%")),
                "{location}: the page does not say the model's own {own_shown} %"
            );
        }
    }
    assert!(moved >= 1, "no page shows a moved percent");

    // Hindcasts of June: the API's equal `evaluate`'s replay of the book,
    // and both equal the shift from the days before each.
    let replayed = forecasts(
        &app.store,
        Subject::Model(version),
        "2017-06-01",
        "2017-06-20",
    );
    let mut compared = 0;
    for location in LOCATIONS {
        for date in ["2017-06-04", "2017-06-12", "2017-06-18"] {
            let (status, h) = get(format!("/api/v1/forecast/{location}?date={date}")).await;
            assert_eq!(status, 200, "{h}");
            let rain_day = day(date).succ_opt().unwrap();
            let (p, own) = (
                h["probability"].as_f64().unwrap(),
                h["model_probability"].as_f64().unwrap(),
            );
            let key = ("afternoon".to_string(), location.to_string(), rain_day);
            let Some(&(evaluated, _)) = replayed.get(&key) else {
                continue;
            };
            assert_eq!(raw[&key].0, own, "{key:?}");
            let expected = served(&raw, "afternoon", rain_day, newest, own);
            assert!((p - expected).abs() < 1e-9, "{key:?}: {p} vs {expected}");
            assert!((evaluated - p).abs() < 1e-9, "{key:?}: {evaluated} vs {p}");
            compared += 1;
        }
    }
    assert!(compared >= 8, "only {compared} hindcasts compared");
}
