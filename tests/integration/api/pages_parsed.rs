//! The public pages read as a browser reads them: parsed with `scraper`
//! into elements, and each number checked against the JSON API or the
//! database it must come from. Assertions name elements (the headline
//! probability, the forecast date, table cells), so markup or wording
//! elsewhere on the page cannot make them pass or fail by accident.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use raincast::obs::Num;
use scraper::{ElementRef, Html, Selector};

use crate::support::app::{self, json, spawn_app};

fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("selector {css}: {e}"))
}

/// An element's text with runs of whitespace (`&nbsp;` included) as one space.
fn text_of(e: ElementRef<'_>) -> String {
    e.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of the one element matching `css`.
fn text(doc: &Html, css: &str) -> String {
    let found: Vec<ElementRef<'_>> = doc.select(&sel(css)).collect();
    assert_eq!(found.len(), 1, "exactly one `{css}`");
    text_of(found[0])
}

/// The rows of a table body, each as its cells' texts.
fn rows(doc: &Html, table: &str) -> Vec<Vec<String>> {
    doc.select(&sel(&format!("{table} tbody tr")))
        .map(|tr| tr.select(&sel("td")).map(text_of).collect())
        .collect()
}

/// GET a page: 200, HTML, parsed.
async fn page(app: &app::TestApp, path: &str) -> Html {
    let resp = app.get(path).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/html"), "{path}: {kind}");
    Html::parse_document(&resp.text().await.unwrap())
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_page_shows_the_apis_probability_date_and_the_stored_days() {
    let app = spawn_app().await;
    let (status, f) = json(app.get("/api/v1/forecast/Sydney").send().await.unwrap()).await;
    assert_eq!(status, 200, "{f}");
    // At noon UTC on 26 June (22:00 in Sydney) the rain day under way is
    // the 27th's, and the newest row (the 25th's) made its day-before issue.
    assert_eq!(f["forecast_date"], "2017-06-27", "{f}");
    assert_eq!(f["issue"], "day_before", "{f}");
    assert_eq!(f["stale"], false, "{f}");
    // Within 5–95 % on the page; exact in the API.
    let percent = ((f["probability"].as_f64().unwrap() * 100.0).round() as i64).clamp(5, 95);

    let doc = page(&app, "/forecast/Sydney").await;
    assert_eq!(text(&doc, "h1"), "Sydney");
    assert_eq!(text(&doc, "#probability"), format!("{percent} %"));
    assert_eq!(text(&doc, "#forecast-date"), "Tuesday 27 June 2017");
    let call = if f["rain"] == true { "rain" } else { "no rain" };
    assert_eq!(text(&doc, "#call"), call);
    // The amounts beside it, from the same document.
    let range = &f["amounts"]["possible_rainfall"];
    let mm = |v: &serde_json::Value| {
        let t = format!("{:.1}", v.as_f64().unwrap());
        t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
    };
    // (Texts with their spaces, no-break ones included, made plain.) As
    // BOM writes it: "0 mm" when not even the 25 % chance is reached by any
    // rain, and "50+" at the top of the scale.
    let high = range["high_mm"].as_f64().unwrap();
    let want = if high <= 0.0 {
        "0 mm".to_string()
    } else {
        let plus = if high >= 50.0 { "+" } else { "" };
        format!(
            "{} to {}{plus} mm",
            mm(&range["low_mm"]),
            mm(&range["high_mm"])
        )
    };
    assert_eq!(text(&doc, "#amounts-range strong"), want);
    let any = (f["amounts"]["chances"][0]["chance"].as_f64().unwrap() * 100.0).round() as i64;
    let first = doc
        .select(&sel("#amounts li"))
        .next()
        .expect("the amounts list");
    assert_eq!(
        text_of(first),
        format!("{} % at least 0.2 mm", any.clamp(5, 95))
    );
    assert!(doc.select(&sel("#no-current")).next().is_none());

    // The observations table: newest first, the 30 days up to the newest
    // stored one, each cell as stored (one decimal, – for missing).
    let newest = NaiveDate::from_ymd_opt(2017, 6, 25).unwrap();
    let mut stored = app
        .store
        .observations_between("Sydney", newest - chrono::Days::new(29), newest)
        .unwrap();
    stored.reverse();
    assert!(stored.len() >= 25, "{}", stored.len());
    let want: Vec<Vec<String>> = stored
        .iter()
        .map(|o| {
            vec![
                o.date.to_string(),
                cell(o.get(Num::Rainfall)),
                cell(o.get(Num::MinTemp)),
                cell(o.get(Num::MaxTemp)),
                cell(o.get(Num::Humidity3pm)),
                cell(o.get(Num::Pressure3pm)),
            ]
        })
        .collect();
    assert_eq!(rows(&doc, "#observations"), want);
    let head: Vec<String> = doc
        .select(&sel("#observations thead th"))
        .map(text_of)
        .collect();
    assert_eq!(
        head,
        [
            "Date",
            "Rain (mm)",
            "Min (°C)",
            "Max (°C)",
            "Humidity 3pm (%)",
            "Pressure 3pm (hPa)"
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_page_lists_every_city_with_the_apis_probabilities() {
    let app = spawn_app().await;
    let doc = page(&app, "/").await;
    assert_eq!(text(&doc, "h1"), "Will it rain tomorrow?");
    assert_eq!(text(&doc, "#forecast-day strong"), "Tuesday 27 June 2017");

    let items: Vec<ElementRef<'_>> = doc.select(&sel("#city-list > li")).collect();
    assert_eq!(items.len(), 49);
    let link = sel("a");
    let pct = sel(".pct");
    let mut current = BTreeSet::new();
    for location in app::LOCATIONS {
        let (status, f) = json(
            app.get(&format!("/api/v1/forecast/{location}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{f}");
        let item = items
            .iter()
            .find(|li| {
                li.select(&link).next().and_then(|a| a.value().attr("href"))
                    == Some(&format!("/forecast/{location}"))
            })
            .unwrap_or_else(|| panic!("{location} is listed"));
        let shown = text_of(item.select(&pct).next().unwrap());
        if f["stale"] == false {
            current.insert(location.to_string());
            // Pages show chances within 5–95 %; the API keeps the exact value.
            let percent =
                ((f["probability"].as_f64().unwrap() * 100.0).round() as i64).clamp(5, 95);
            let rain = if f["rain"] == true { " · rain" } else { "" };
            assert_eq!(shown, format!("{percent} %{rain} Tue 27 Jun"), "{location}");
        }
    }
    assert!(!current.is_empty());
    // Every other city is marked as having no current data.
    let not_stale: BTreeSet<String> = items
        .iter()
        .filter(|li| !li.value().classes().any(|c| c == "stale"))
        .map(|li| {
            let href = li
                .select(&link)
                .next()
                .unwrap()
                .value()
                .attr("href")
                .unwrap();
            href.trim_start_matches("/forecast/").to_string()
        })
        .collect();
    assert_eq!(not_stale, current);
    assert_eq!(
        text(&doc, "#stale-banner").split(" of ").next().unwrap(),
        (49 - current.len()).to_string()
    );
    app.stop().await;
}
