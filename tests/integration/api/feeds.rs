//! The city feeds (Atom, iCalendar), read back by real parsers, and the
//! forecast document's JSON Schema, checked against real served documents
//! and against the Home Assistant configuration in the docs.

use chrono::NaiveDate;
use raincast::issue::{Issue, Visibility};
use raincast::store::IssuedForecast;
use serde_json::Value;

use super::endpoints::csv_row_as_json;
use crate::support::app::{json, spawn_app};

/// Log `location`'s forecast of `issue` for rain day 2017-06-`day`, as the
/// forecast job does.
fn issue(store: &raincast::store::Store, location: &'static str, day: u32, issue: Issue, p: f64) {
    let st = raincast::stations::by_location(location).unwrap();
    let for_date = NaiveDate::from_ymd_opt(2017, 6, day).unwrap();
    assert!(
        store
            .log_prediction(&IssuedForecast {
                location,
                for_date,
                issue,
                obs_date: issue.base_day(for_date),
                version: 1,
                probability: p,
                threshold: 0.3,
                issued_at: issue.due_at(st, for_date, &Visibility::default()),
                window_end: raincast::issue::window(st, for_date).1,
                amounts: None,
            })
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn city_feeds_parse_with_real_parsers_and_are_linked_from_the_city_page() {
    let app = spawn_app().await;
    issue(&app.store, "Sydney", 26, Issue::DayBefore, 0.21);
    issue(&app.store, "Sydney", 26, Issue::Morning, 0.35);
    issue(&app.store, "Sydney", 26, Issue::Afternoon, 0.47);
    issue(&app.store, "Sydney", 27, Issue::DayBefore, 0.12);
    issue(&app.store, "Canberra", 26, Issue::Morning, 0.9);

    let resp = app.get("/forecast/Sydney/feed.atom").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let xml = resp.text().await.unwrap();
    let feed: atom_syndication::Feed = xml.parse().unwrap();
    assert_eq!(feed.entries.len(), 4, "Sydney's four, not Canberra's");
    let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "urn:raincast:forecast:Sydney:2017-06-27:day_before",
            "urn:raincast:forecast:Sydney:2017-06-26:afternoon",
            "urn:raincast:forecast:Sydney:2017-06-26:morning",
            "urn:raincast:forecast:Sydney:2017-06-26:day_before",
        ],
        "newest issue first (both issued at 16:30 on the 25th: the later day first)"
    );
    let first = &feed.entries[1];
    assert_eq!(
        first.title.value,
        "Sydney, Mon 26 Jun 2017: 47 % chance of rain (afternoon issue)"
    );
    assert_eq!(first.updated.to_rfc3339(), "2017-06-25T06:30:00+00:00");
    assert!(
        first.summary.as_ref().unwrap().value.contains(
            "in the 24 hours to 09:00 AEST on Mon 26 Jun 2017. Issued 16:30 AEST on Sun 25 Jun 2017"
        ),
        "{xml}"
    );
    assert_eq!(feed.updated, first.updated);

    let resp = app
        .get("/forecast/Sydney/calendar.ics")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    let cal: icalendar::Calendar = text.parse().unwrap();
    use icalendar::Component;
    let events: Vec<&icalendar::Event> = cal.events().collect();
    assert_eq!(events.len(), 2, "one event per rain day: {text}");
    let day = events
        .iter()
        .find(|e| e.get_uid() == Some("Sydney-20170626@raincast"))
        .unwrap();
    assert_eq!(day.get_summary(), Some("Rain 47 % · Sydney"));
    assert_eq!(day.get_sequence(), Some(2), "the afternoon issue's");
    let st = raincast::stations::by_location("Sydney").unwrap();
    let (start, end) = raincast::issue::window(st, NaiveDate::from_ymd_opt(2017, 6, 26).unwrap());
    assert_eq!(day.get_start(), Some(start.into()));
    assert_eq!(day.get_end(), Some(end.into()));

    // A city with nothing issued yet has valid, empty feeds.
    let xml = app
        .get("/forecast/Perth/feed.atom")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let feed: atom_syndication::Feed = xml.parse().unwrap();
    assert!(feed.entries.is_empty());

    // An unknown city: 404 naming it.
    for path in [
        "/forecast/Atlantis/feed.atom",
        "/forecast/Atlantis/calendar.ics",
    ] {
        let resp = app.get(path).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("There is no city `Atlantis`"), "{page}");
    }

    // The city page links both: the feed in the head, the calendar visibly.
    let page = app
        .get("/forecast/Sydney")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let html = scraper::Html::parse_document(&page);
    let alt =
        scraper::Selector::parse(r#"head link[rel="alternate"][type="application/atom+xml"]"#)
            .unwrap();
    let link = html.select(&alt).next().expect("an Atom alternate link");
    assert_eq!(
        link.value().attr("href"),
        Some("/forecast/Sydney/feed.atom")
    );
    let cal_link = scraper::Selector::parse("main a#calendar-link").unwrap();
    let a = html
        .select(&cal_link)
        .next()
        .expect("a visible calendar link");
    assert_eq!(
        a.value().attr("href"),
        Some("/forecast/Sydney/calendar.ics")
    );
    assert!(a.text().collect::<String>().contains("calendar"));
}

/// The served schema compiles as draft 2020-12, and every kind of served
/// forecast document (live, hindcast, posted) validates against it, with
/// formats checked; a document with a wrong value or an extra field does not.
#[tokio::test(flavor = "multi_thread")]
async fn served_forecast_documents_validate_against_the_served_schema() {
    let app = spawn_app().await;
    let resp = app
        .get("/api/v1/schema/forecast.json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/schema+json");
    let (status, schema) = json(resp).await;
    assert_eq!(status, 200);
    let (_, versioned) = json(
        app.get("/api/v1/schema/forecast-v1.json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(schema, versioned);
    assert_eq!(schema["$id"], "urn:raincast:schema:forecast:v1");
    assert!(jsonschema::meta::is_valid(&schema), "a valid JSON Schema");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();

    let mut docs: Vec<(String, Value)> = Vec::new();
    for location in crate::support::app::LOCATIONS {
        let resp = app
            .get(&format!("/api/v1/forecast/{location}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["link"],
            r#"</api/v1/schema/forecast-v1.json>; rel="describedby"; type="application/schema+json""#
        );
        let (status, doc) = json(resp).await;
        assert_eq!(status, 200, "{doc}");
        docs.push((format!("live {location}"), doc));
    }
    let (_, hindcast) = json(
        app.get("/api/v1/forecast/Albury?date=2016-02-29")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(hindcast["kind"], "hindcast");
    docs.push(("hindcast".into(), hindcast));
    let body = csv_row_as_json("Perth", NaiveDate::from_ymd_opt(2017, 3, 10).unwrap());
    let (status, posted) = json(
        app.post("/api/v1/predict")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{posted}");
    assert_eq!(posted["kind"], "posted");
    docs.push(("posted".into(), posted));
    for (what, doc) in &docs {
        let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{what}: {errors:?}\n{doc}");
    }

    let live = &docs[0].1;
    let broken = [
        ("probability", serde_json::json!(1.5)),
        ("issue", serde_json::json!("noon")),
        ("issued_at", serde_json::json!("yesterday")),
        ("location", serde_json::json!("Atlantis")),
        ("kind", serde_json::json!("guess")),
        ("surprise", serde_json::json!(1)),
    ];
    for (field, value) in broken {
        let mut doc = live.clone();
        doc[field] = value;
        assert!(!validator.is_valid(&doc), "{field} should be refused");
    }
    let mut missing = live.clone();
    missing.as_object_mut().unwrap().remove("stale");
    assert!(!validator.is_valid(&missing));

    insta::assert_json_snapshot!("forecast_schema_v1", schema);
}

/// The Home Assistant configuration in `docs/home-assistant.md` reads only
/// fields the schema requires, with the types its sensors need (a number
/// for the chance, RFC 3339 times for `timestamp` sensors, booleans for
/// binary sensors), and a served document has them.
#[tokio::test(flavor = "multi_thread")]
async fn home_assistant_yaml_reads_only_fields_the_schema_requires() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/home-assistant.md"),
    )
    .unwrap();
    let yaml = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml block");
    let schema = raincast::web::schema::forecast_schema();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let props = &schema["properties"];
    let field = regex::Regex::new(r"value_json\.([a-z_]+)").unwrap();
    let mut read = Vec::new();
    let mut device_class = "";
    let mut in_attributes = false;
    for line in yaml.lines() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix("device_class: ") {
            device_class = c;
        }
        if t.starts_with("- name:") {
            device_class = "";
            in_attributes = false;
        }
        if t == "json_attributes:" {
            in_attributes = true;
            continue;
        }
        if in_attributes {
            match t.strip_prefix("- ") {
                Some(attr) => read.push(attr.to_string()),
                None => in_attributes = false,
            }
        }
        for c in field.captures_iter(t) {
            let f = c[1].to_string();
            if device_class == "timestamp" {
                assert_eq!(
                    props[&f]["format"], "date-time",
                    "{f} feeds a timestamp sensor"
                );
            }
            read.push(f);
        }
    }
    assert!(read.len() >= 10, "{read:?}");
    for f in &read {
        assert!(
            required.contains(&f.as_str()),
            "{f} is not a required field of the schema"
        );
    }
    assert_eq!(props["probability"]["type"], "number");
    assert_eq!(props["stale"]["type"], "boolean");
    assert_eq!(props["rain"]["type"], "boolean");
    // The resource's address is the served forecast route.
    assert!(yaml.contains("/api/v1/forecast/Sydney"));
    let app = spawn_app().await;
    let (_, live) = json(app.get("/api/v1/forecast/Sydney").send().await.unwrap()).await;
    for f in &read {
        assert!(!live[f.as_str()].is_null(), "{f} in {live}");
    }
    for t in ["issued_at", "window_start", "window_end"] {
        chrono::DateTime::parse_from_rfc3339(live[t].as_str().unwrap()).unwrap();
    }
}
