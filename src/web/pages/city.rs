//! A city's page: the headline forecast as issued, the next rain day, the
//! track record, how sure and when, and the data behind it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use super::views::{
    IssueSkillRow, NextDay, SourceTerms, Trust, as_issued, cell, local_time, next_day,
    skill_by_issue, source_terms, trust_view,
};
use super::{PageKey, cached_page, has_current, shown_percent, source_problem};
use crate::obs::Num;
use crate::serving::Forecast;
use crate::web::AppState;
use crate::web::charts::{self, Series};
use crate::web::error::{ApiError, blocking};
use crate::web::forecasts::{forecast_for, station};
use crate::web::html::{au_date, error_page};

pub struct DayRow {
    pub date: NaiveDate,
    pub rainfall: String,
    pub min_temp: String,
    pub max_temp: String,
    pub humidity: String,
    pub pressure: String,
}

pub struct PastForecast {
    pub for_date: NaiveDate,
    /// Which issue, and the model version that made it.
    pub issued: String,
    pub percent: i64,
    pub call: &'static str,
    pub outcome: &'static str,
    pub hit: Option<bool>,
    /// The possible-rainfall range it gave ("0.4 to 3 mm"), or "–".
    pub range: String,
    /// The rain that fell in its window ("12.4 mm"), once known.
    pub fell: String,
}

#[derive(Template)]
#[template(path = "forecast.html")]
struct ForecastPage {
    location: &'static str,
    name: &'static str,
    station_name: &'static str,
    forecast: Option<std::sync::Arc<Forecast>>,
    percent: i64,
    /// The model's own percent, where the level correction moved the one
    /// shown.
    model_percent: Option<i64>,
    /// The possible-rainfall range and the chance of each scored amount.
    amounts: Option<AmountsView>,
    forecast_day: String,
    observation_day: String,
    /// "16:30 AEST on Sat 6 Sep (the afternoon, after 3 pm)".
    issued: String,
    /// "09:00 AEST on Sun 7 Sep, in about 16 h".
    closes: String,
    /// How sure, and when: per issue, its label, the serving model's test
    /// window Brier and skill over climatology, and this city's live
    /// record once it has enough verified days.
    skill_by_issue: Vec<IssueSkillRow>,
    /// The next rain day's day-before forecast, once issued.
    next: Option<NextDay>,
    /// The serving champion's forecast for the headline's issue when it is
    /// not the version that issued it.
    reforecast: Option<String>,
    problem: Option<String>,
    source_problem: Option<String>,
    charts: Vec<String>,
    days: Vec<DayRow>,
    past: Vec<PastForecast>,
    hits: u64,
    misses: u64,
    brier: Option<String>,
    trust: Option<Trust>,
    /// Without current data: the station to see instead (location, name,
    /// km away).
    see: Option<(&'static str, &'static str, i64)>,
    /// Where this city's observations come from, each channel with its
    /// terms and attribution.
    sources: Vec<SourceTerms>,
    /// Why this city is website-only when the server also uses FTP.
    website_only: Option<&'static str>,
}

pub(super) async fn forecast_page(
    State(s): State<AppState>,
    location: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Response {
    // A path that is not text (`/forecast/%FF`) names no city either.
    let Ok(Path(location)) = location else {
        return crate::web::html::error_page(
            StatusCode::NOT_FOUND,
            "No such city",
            "That address names no city: see the list of all cities.",
        );
    };
    match station(&location) {
        Ok(st) => {
            let key = PageKey::now(&s, true);
            cached_page(
                &s,
                st.location,
                key,
                &headers,
                render_forecast_page(&s, location),
            )
            .await
        }
        Err(_) => render_forecast_page(&s, location).await,
    }
}

/// The amounts beside the headline, for people.
struct AmountsView {
    /// "0.4 to 3 mm".
    range: String,
    /// (event, shown percent) for 0.2, 1, 5, 10 and 25 mm.
    rows: Vec<(String, i64)>,
}

impl AmountsView {
    fn of(a: &crate::amounts::Amounts) -> AmountsView {
        AmountsView {
            range: a.possible_rainfall.to_string(),
            rows: crate::amounts::SCORED
                .iter()
                .filter_map(|&k| a.chances.get(k))
                .map(|c| (c.event.replace(" mm", "\u{a0}mm"), shown_percent(c.chance)))
                .collect(),
        }
    }
}

async fn render_forecast_page(s: &AppState, location: String) -> Response {
    let s = s.clone();
    let Ok(st) = station(&location) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "Unknown city",
            &format!(
                "There is no station called “{location}”. Pick one from the list on the home page."
            ),
        );
    };
    let (forecast, problem) = match forecast_for(&s, st, None).await {
        Ok(f) => (Some(f), None),
        Err(e @ (ApiError::Unavailable(_) | ApiError::NotFound { .. })) => {
            (None, Some(e.to_string()))
        }
        Err(e) => return e.into_response(),
    };
    let board = s.serving.board();
    let see = forecast
        .as_ref()
        .is_none_or(|f| f.stale)
        .then(|| {
            let model = s.serving.get();
            crate::web::cities::nearest_with(st, |o| has_current(&board, model.as_deref(), o))
        })
        .flatten()
        .map(|(o, km)| (o.location, o.display_name, km.round() as i64));
    let days: Vec<crate::obs::Observation> = board
        .station(st.location)
        .map(|e| match e.latest {
            Some(d) => {
                let from = d - chrono::Days::new(29);
                e.recent
                    .iter()
                    .filter(|o| o.date >= from)
                    .cloned()
                    .collect()
            }
            None => Vec::new(),
        })
        .unwrap_or_default();
    let store = s.store.clone();
    let today = s.clock.today();
    let since = today - chrono::Days::new(30);
    let loc = st.location;
    let year_ago = today - chrono::Days::new(365);
    let loaded = blocking(move || {
        let year = store.predictions_for(loc, year_ago, today + chrono::Days::new(1))?;
        let record = store.track_record(Some(loc), since)?;
        Ok((year, record))
    })
    .await;
    let (year, record) = match loaded {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let (forecast, reforecast) = as_issued(forecast, &year);
    let trust = trust_view(
        st.display_name,
        &year,
        s.serving.get().as_deref(),
        forecast
            .as_ref()
            .filter(|f| !f.stale)
            .map(|f| f.probability),
    );
    let past: Vec<&crate::store::PredictionRow> =
        year.iter().filter(|p| p.for_date >= since).collect();
    let labels: Vec<String> = days
        .iter()
        .map(|o| o.date.format("%-d %b").to_string())
        .collect();
    let col = |n: Num| days.iter().map(|o| o.get(n)).collect::<Vec<_>>();
    let charts = if days.is_empty() {
        Vec::new()
    } else {
        vec![
            charts::chart_axis(
                "Daily rainfall (mm, to 9 am), last 30 days",
                "Rain in the 24 h to 9 am (mm)",
                "mm",
                &labels,
                &[Series {
                    label: "rain (mm)",
                    colour: "#3a7bd5",
                    values: col(Num::Rainfall),
                    bars: true,
                }],
                None,
            ),
            charts::chart_axis(
                "Daily minimum to maximum temperature (°C), last 30 days",
                "Temperature (°C)",
                "°C",
                &labels,
                &[],
                Some(&charts::Band {
                    label: "daily min–max (°C)",
                    colour: "#d9534f",
                    lo: col(Num::MinTemp),
                    hi: col(Num::MaxTemp),
                }),
            ),
            charts::chart_axis(
                "Relative humidity at 3 pm (%), last 30 days",
                "Relative humidity at 3 pm (%)",
                "%",
                &labels,
                &[Series {
                    label: "humidity at 3 pm (%)",
                    colour: "#6c71c4",
                    values: col(Num::Humidity3pm),
                    bars: false,
                }],
                None,
            ),
            charts::chart_axis(
                "Mean sea-level pressure at 3 pm (hPa), last 30 days",
                "Pressure at 3 pm (hPa)",
                "hPa",
                &labels,
                &[Series {
                    label: "pressure at 3 pm (hPa)",
                    colour: "#b58900",
                    values: col(Num::Pressure3pm),
                    bars: false,
                }],
                None,
            ),
        ]
    };
    let day_rows = days
        .iter()
        .rev()
        .map(|o| DayRow {
            date: o.date,
            rainfall: cell(o.get(Num::Rainfall)),
            min_temp: cell(o.get(Num::MinTemp)),
            max_temp: cell(o.get(Num::MaxTemp)),
            humidity: cell(o.get(Num::Humidity3pm)),
            pressure: cell(o.get(Num::Pressure3pm)),
        })
        .collect();
    let past = past
        .iter()
        .rev()
        .map(|p| PastForecast {
            for_date: p.for_date,
            issued: format!(
                "{} · v{}",
                p.issue.as_deref().unwrap_or("before issues"),
                p.version
            ),
            percent: shown_percent(p.probability),
            call: if p.decision() { "rain" } else { "dry" },
            outcome: match p.outcome {
                Some(true) => "rained",
                Some(false) => "dry",
                None => "not yet known",
            },
            hit: p.hit(),
            range: p
                .amounts
                .as_ref()
                .map_or_else(|| "–".to_string(), |a| a.possible_rainfall.to_string()),
            fell: p
                .amount_mm
                .map_or_else(|| "–".to_string(), |mm| format!("{mm}\u{a0}mm")),
        })
        .collect();
    let (sources, website_only) = source_terms(&s.config, st);
    let serving = s.serving.get();
    let tested = serving
        .as_deref()
        .and_then(|m| m.summary.metrics.calibration.as_ref());
    s.page(&ForecastPage {
        location: st.location,
        name: st.display_name,
        station_name: st.station_name,
        percent: forecast
            .as_ref()
            .map_or(0, |f| shown_percent(f.probability)),
        model_percent: forecast
            .as_ref()
            .map(|f| shown_percent(f.model_probability))
            .filter(|&m| forecast.as_ref().map(|f| shown_percent(f.probability)) != Some(m)),
        amounts: forecast
            .as_ref()
            .and_then(|f| f.amounts.as_ref())
            .map(AmountsView::of),
        forecast_day: forecast
            .as_ref()
            .map(|f| au_date(f.forecast_date))
            .unwrap_or_default(),
        observation_day: forecast
            .as_ref()
            .map(|f| au_date(f.observation_date))
            .unwrap_or_default(),
        issued: forecast
            .as_ref()
            .map(|f| format!("{} ({})", local_time(st, f.issued_at), f.issue.label()))
            .unwrap_or_default(),
        closes: forecast
            .as_ref()
            .map(|f| {
                let left = f.window_end - s.clock.now();
                // Pages are kept for up to half an hour (the board's
                // rebuild): say the hours, not the minutes.
                let when = if left >= chrono::Duration::hours(1) {
                    format!("in about {} h", (left.num_minutes() + 30) / 60)
                } else if left > chrono::Duration::zero() {
                    "within the hour".to_string()
                } else {
                    "closed: this is the record, not a forecast".to_string()
                };
                format!("{}, {when}", local_time(st, f.window_end))
            })
            .unwrap_or_default(),
        skill_by_issue: skill_by_issue(tested, &year),
        reforecast,
        next: board
            .station(st.location)
            .and_then(|b| b.next.as_deref())
            .filter(|_| forecast.as_ref().is_some_and(|f| !f.stale))
            .map(|n| next_day(st, n, tested)),
        forecast,
        problem,
        source_problem: source_problem(&board, &s),
        charts,
        days: day_rows,
        past,
        hits: record.hits,
        misses: record.misses,
        brier: record.brier.map(|b| format!("{b:.3}")),
        trust,
        see,
        sources,
        website_only,
    })
}
