//! The served level correction: every forecast's chance is the model's own
//! (`model_probability`) shifted in log-odds by the miss its version
//! recorded on its test window, weighted by age, exactly as decision 0038
//! says; the city page says so whenever the shift moved the percent.

use crate::support::app::{LOCATIONS, json, spawn_app};

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

#[tokio::test(flavor = "multi_thread")]
async fn served_chances_carry_the_level_correction_their_version_recorded() {
    let app = spawn_app().await;
    let version = app.store.champion_version().unwrap().unwrap();
    let summary = app.store.model(version).unwrap().summary;
    let anchor = summary
        .metrics
        .level
        .expect("a version trained now records its test window's level");
    let mut moved = 0;
    for location in LOCATIONS {
        let (status, doc) = json(
            app.get(&format!("/api/v1/forecast/{location}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let (p, own) = (
            doc["probability"].as_f64().unwrap(),
            doc["model_probability"].as_f64().unwrap(),
        );
        // The shift, from the stored sums alone: the rain days up to the
        // day before the base day (two days before the rain day, three for
        // the day before's issue), halved every 180 days, shrunk by
        // n / (n + 2000).
        let (issue, lead) = match doc["issue"].as_str().unwrap() {
            "day_before" => (0, 2),
            "morning" => (1, 1),
            "afternoon" => (2, 1),
            other => panic!("issue {other}"),
        };
        let rain_day: chrono::NaiveDate = doc["forecast_date"].as_str().unwrap().parse().unwrap();
        let last = rain_day - chrono::Days::new(lead + 1);
        let expected = if anchor.through <= last {
            let age = (last - anchor.through).num_days() as f64;
            let s = anchor.sums[issue][1];
            let k = 0.5f64.powf(age / 180.0);
            let (sp, sy, n) = (s.p * k, s.y * k, s.n * k);
            let shift = n / (n + 2000.0) * (logit((sy + 0.5) / (n + 1.0)) - logit(sp / n));
            (1.0 / (1.0 + (-(logit(own) + shift)).exp())).clamp(0.001, 0.999)
        } else {
            own
        };
        assert!(
            (p - expected).abs() < 1e-9,
            "{location}: served {p}, the model's own {own}, expected {expected} ({doc})"
        );
        // The amounts carry the same headline.
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
            "{location}: {shown} % not the headline"
        );
        if shown != own_shown {
            moved += 1;
            assert!(
                page.contains(&format!("The model's own chance was {own_shown}&nbsp;%")),
                "{location}: the page does not say the model's own {own_shown} %"
            );
        } else {
            assert!(!page.contains(r#"id="level""#), "{location}");
        }
    }
    assert!(
        anchor.sums.iter().all(|s| s[1].n > 0.0),
        "every issue's test forecasts are in the sums: {anchor:?}"
    );
    eprintln!("{moved} of {} pages show a moved percent", LOCATIONS.len());
}
