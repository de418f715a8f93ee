//! Each city's issued forecasts as feeds: Atom (`/forecast/{city}/feed.atom`,
//! one entry per issued forecast) and iCalendar
//! (`/forecast/{city}/calendar.ics`, one event per rain day over its window,
//! updated by each later issue through its `SEQUENCE`). Both list what the
//! prediction log holds: forecasts as they were issued, never re-made.

use atom_syndication::{Category, Content, Entry, Feed, Link, Person, Text};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

use super::AppState;
use super::error::blocking;
use super::html::error_page;
use super::prepared::Prepared;
use crate::issue::{Issue, Zone};
use crate::stations::Station;
use crate::store::PredictionRow;

/// Issued forecasts a feed lists: about three weeks of three issues a day.
pub const FEED_ENTRIES: usize = 60;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/forecast/{location}/feed.atom", get(atom))
        .route("/forecast/{location}/calendar.ics", get(ical))
}

fn unknown_city(location: &str) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "No such city",
        &format!(
            "There is no city `{}`. Feeds are at /forecast/{{city}}/feed.atom and /forecast/{{city}}/calendar.ics, with a city's identifier as on its page (e.g. SydneyAirport); GET /api/v1/locations lists the 49.",
            location.chars().take(60).collect::<String>()
        ),
    )
}

/// The station's issued forecasts, newest first.
async fn issued(s: &AppState, st: &'static Station) -> Result<Vec<Issued>, Response> {
    let store = s.store.clone();
    let rows = blocking(move || Ok(store.issued_forecasts(st.location, FEED_ENTRIES)?))
        .await
        .map_err(axum::response::IntoResponse::into_response)?;
    Ok(rows.into_iter().filter_map(|r| Issued::of(st, r)).collect())
}

/// One issued forecast with its times worked out.
struct Issued {
    row: PredictionRow,
    issue: Issue,
    issued_at: DateTime<Utc>,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
}

impl Issued {
    fn of(st: &Station, row: PredictionRow) -> Option<Issued> {
        let issue = Issue::parse(row.issue.as_deref()?)?;
        let issued_at = DateTime::parse_from_rfc3339(row.issued_at.as_deref()?)
            .ok()?
            .with_timezone(&Utc);
        let (window_start, window_end) = crate::issue::window(st, row.for_date);
        Some(Issued {
            row,
            issue,
            issued_at,
            window_start,
            window_end,
        })
    }

    fn percent(&self) -> String {
        format!("{:.0} %", self.row.probability * 100.0)
    }

    /// The forecast in words, in the station's local time.
    fn sentence(&self, st: &Station) -> String {
        let local = |t: DateTime<Utc>| {
            t.with_timezone(&Zone::of(st).tz())
                .format("%H:%M %Z on %a %-d %b %Y")
                .to_string()
        };
        let outcome = match self.row.outcome {
            Some(true) => " Observed: it rained (more than 1 mm).",
            Some(false) => " Observed: no rain day (1 mm or less).",
            None => "",
        };
        // BOM's possible-rainfall range, where the version gave amounts.
        let range = self.row.amounts.as_ref().map_or(String::new(), |a| {
            // Plain spaces: feed readers show the text as it is.
            let r = a.possible_rainfall.to_string().replace('\u{a0}', " ");
            format!(" Possible rainfall: {r}.")
        });
        let fell = self
            .row
            .amount_mm
            .map_or(String::new(), |mm| format!(" {mm} mm fell."));
        format!(
            "{} chance of more than 1 mm of rain in the 24 hours to {}.{range} Issued {} ({}), model version {}.{outcome}{fell}",
            self.percent(),
            local(self.window_end),
            local(self.issued_at),
            self.issue.label(),
            self.row.version,
        )
    }
}

async fn atom(
    State(s): State<AppState>,
    Path(location): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(st) = crate::stations::by_location(&location) else {
        return unknown_city(&location);
    };
    let list = match issued(&s, st).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let body = atom_feed(st, &list, s.clock.now()).to_string();
    Prepared::new(body, "application/atom+xml; charset=utf-8", "no-cache").respond(&headers)
}

fn atom_feed(st: &Station, list: &[Issued], now: DateTime<Utc>) -> Feed {
    let name = crate::stations::display_name(st.location);
    let page = format!("/forecast/{}", st.location);
    let link = |href: String, rel: &str, mime: &str| Link {
        href,
        rel: rel.into(),
        mime_type: Some(mime.into()),
        ..Default::default()
    };
    let entries = list
        .iter()
        .map(|f| Entry {
            title: Text::plain(format!(
                "{name}, {}: {} chance of rain ({} issue)",
                f.row.for_date.format("%a %-d %b %Y"),
                f.percent(),
                f.issue.name().replace('_', " ")
            )),
            id: format!(
                "urn:raincast:forecast:{}:{}:{}",
                st.location,
                f.row.for_date,
                f.issue.name()
            ),
            updated: f.issued_at.fixed_offset(),
            published: Some(f.issued_at.fixed_offset()),
            links: vec![link(page.clone(), "alternate", "text/html")],
            categories: vec![Category {
                term: f.issue.name().into(),
                label: Some(f.issue.label().into()),
                ..Default::default()
            }],
            summary: Some(Text::plain(f.sentence(st))),
            content: Some(Content {
                value: Some(f.sentence(st)),
                content_type: Some("text".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    Feed {
        title: Text::plain(format!("raincast: rain forecasts for {name}")),
        subtitle: Some(Text::plain(format!(
            "Each forecast raincast issued for {name}: the chance of more than 1 mm of rain in the 24 hours to 9 am, three issues a rain day. Forecasts are raincast's own, not the Bureau of Meteorology's."
        ))),
        id: format!("urn:raincast:forecasts:{}", st.location),
        updated: list
            .iter()
            .map(|f| f.issued_at)
            .max()
            .unwrap_or(now)
            .fixed_offset(),
        authors: vec![Person {
            name: "raincast".into(),
            ..Default::default()
        }],
        links: vec![
            link(page.clone(), "alternate", "text/html"),
            link(format!("{page}/feed.atom"), "self", "application/atom+xml"),
        ],
        entries,
        lang: Some("en-AU".into()),
        ..Default::default()
    }
}

async fn ical(
    State(s): State<AppState>,
    Path(location): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(st) = crate::stations::by_location(&location) else {
        return unknown_city(&location);
    };
    let list = match issued(&s, st).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let body = calendar(st, &list).to_string();
    Prepared::new(body, "text/calendar; charset=utf-8", "no-cache").respond(&headers)
}

/// One event per rain day over its window, from the day's latest issue
/// (its `SEQUENCE` is the issue's number, so a calendar replaces the
/// earlier issue's event); the description lists every issue's chance.
fn calendar(st: &Station, list: &[Issued]) -> Calendar {
    let name = crate::stations::display_name(st.location);
    let mut days: Vec<&Issued> = Vec::new();
    for f in list {
        match days.iter_mut().find(|d| d.row.for_date == f.row.for_date) {
            Some(d) if d.issue < f.issue => *d = f,
            Some(_) => {}
            None => days.push(f),
        }
    }
    let mut cal = Calendar::new();
    cal.name(&format!("raincast: rain in {name}"))
        .description(&format!(
            "The chance of more than 1 mm of rain in {name} for each rain day (the 24 hours to 9 am), as raincast issued it."
        ))
        .ttl(&chrono::Duration::hours(1));
    for d in days {
        let mut issues: Vec<&Issued> = list
            .iter()
            .filter(|f| f.row.for_date == d.row.for_date)
            .collect();
        issues.sort_by_key(|f| f.issue);
        let each = issues
            .iter()
            .map(|f| format!("{}: {}", f.issue.label(), f.percent()))
            .collect::<Vec<_>>()
            .join("; ");
        let event = Event::new()
            .uid(&format!(
                "{}-{}@raincast",
                st.location,
                d.row.for_date.format("%Y%m%d")
            ))
            .sequence(d.issue.code() as u32)
            .timestamp(d.issued_at)
            .last_modified(d.issued_at)
            .starts(d.window_start)
            .ends(d.window_end)
            .summary(&format!("Rain {} · {name}", d.percent()))
            .description(&format!("{} Issues: {each}.", d.sentence(st)))
            .done();
        cal.push(event);
    }
    cal.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn row(day: u32, issue: Issue, p: f64, outcome: Option<bool>) -> Issued {
        let st = crate::stations::by_location("Sydney").unwrap();
        let for_date = NaiveDate::from_ymd_opt(2025, 9, day).unwrap();
        let at = issue.due_at(st, for_date, &crate::issue::Visibility::default());
        Issued::of(
            st,
            PredictionRow {
                location: "Sydney".into(),
                for_date,
                obs_date: Some(issue.base_day(for_date)),
                version: 3,
                probability: p,
                threshold: Some(0.3),
                outcome,
                issue: Some(issue.name().into()),
                issued_at: Some(crate::store::rfc3339::text(&at)),
                amounts: None,
                amount_mm: None,
            },
        )
        .unwrap()
    }

    fn sample() -> Vec<Issued> {
        vec![
            row(8, Issue::DayBefore, 0.2, None),
            row(7, Issue::Afternoon, 0.41, None),
            row(7, Issue::Morning, 0.34, None),
            row(7, Issue::DayBefore, 0.25, None),
            row(6, Issue::Afternoon, 0.72, Some(true)),
        ]
    }

    /// The Atom document reads back through the crate's own parser with
    /// every entry, id, time and sentence intact (escaping included).
    #[test]
    fn the_atom_feed_parses_back() {
        let st = crate::stations::by_location("Sydney").unwrap();
        let xml = atom_feed(st, &sample(), Utc::now()).to_string();
        let feed: Feed = xml.parse().unwrap();
        assert_eq!(feed.entries.len(), 5);
        assert_eq!(feed.id, "urn:raincast:forecasts:Sydney");
        assert_eq!(feed.updated, sample()[0].issued_at.fixed_offset());
        let e = &feed.entries[1];
        assert_eq!(e.id, "urn:raincast:forecast:Sydney:2025-09-07:afternoon");
        assert_eq!(
            e.title.value,
            "Sydney, Sun 7 Sep 2025: 41 % chance of rain (afternoon issue)"
        );
        let summary = &e.summary.as_ref().unwrap().value;
        assert!(
            summary.starts_with("41 % chance of more than 1 mm of rain in the 24 hours to 09:00 AEST on Sun 7 Sep 2025. Issued 16:30 AEST on Sat 6 Sep 2025"),
            "{summary}"
        );
        assert!(
            feed.entries[4]
                .summary
                .as_ref()
                .unwrap()
                .value
                .ends_with("Observed: it rained (more than 1 mm).")
        );
        assert_eq!(feed.links[1].rel, "self");
    }

    /// One event per rain day, from its latest issue, over its window.
    #[test]
    fn the_calendar_parses_back() {
        let st = crate::stations::by_location("Sydney").unwrap();
        let text = calendar(st, &sample()).to_string();
        let cal: Calendar = text.parse().unwrap();
        let events: Vec<&Event> = cal.events().collect();
        assert_eq!(events.len(), 3);
        let seventh = events
            .iter()
            .find(|e| e.get_uid() == Some("Sydney-20250907@raincast"))
            .unwrap();
        assert_eq!(seventh.get_sequence(), Some(2));
        assert_eq!(seventh.get_summary(), Some("Rain 41 % · Sydney"));
        let desc = seventh.get_description().unwrap();
        assert!(desc.contains("Issues: the afternoon before: 25 %; the morning, as the day opens: 34 %; the afternoon, after 3 pm: 41 %."), "{desc}");
        let (start, end) = crate::issue::window(st, NaiveDate::from_ymd_opt(2025, 9, 7).unwrap());
        assert_eq!(seventh.get_start(), Some(start.into()));
        assert_eq!(seventh.get_end(), Some(end.into()));
    }
}
