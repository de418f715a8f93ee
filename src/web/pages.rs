//! Public pages, server-rendered with askama. They work with JavaScript off:
//! the numbers are always in the HTML; the script only filters the city list.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;

use super::AppState;
use super::api::{forecast_cached, station};
use super::charts::{self, MapPoint, Series};
use super::error::{ApiError, blocking};
use crate::obs::Num;
use crate::serving::Forecast;
use crate::stations::STATIONS;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/forecast/{location}", get(forecast_page))
        .route("/api/docs", get(docs))
        .route("/static/{file}", get(asset))
}

/// Render a template, turning a template failure into a 500.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => ApiError::Internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

/// A page-shaped error (HTML, with the right status).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage {
        title: title.to_string(),
        message: message.to_string(),
    };
    (status, render(&page)).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
}

pub struct Row {
    pub location: &'static str,
    pub state: &'static str,
    pub percent: Option<i64>,
    pub rain: bool,
    pub colour: String,
    pub obs_date: Option<NaiveDate>,
    pub stale: bool,
}

#[derive(Template)]
#[template(path = "index.html")]
struct Index {
    map: String,
    rows: Vec<Row>,
    model_version: Option<i64>,
    note: Option<String>,
}

async fn index(State(s): State<AppState>) -> Response {
    let mut rows = Vec::with_capacity(STATIONS.len());
    let mut points = Vec::with_capacity(STATIONS.len());
    let mut note = None;
    for st in STATIONS.iter() {
        let f = match forecast_cached(&s, st, None).await {
            Ok(f) => Some(f),
            Err(ApiError::Unavailable(m)) => {
                note = Some(m);
                None
            }
            Err(ApiError::NotFound { .. }) => None,
            Err(e) => return e.into_response(),
        };
        let (lat, lon) = st.model_coords();
        let p = f.as_ref().map(|f| f.probability);
        points.push(MapPoint {
            location: st.location,
            lat,
            lon,
            probability: p,
        });
        rows.push(Row {
            location: st.location,
            state: st.state,
            percent: p.map(|p| (p * 100.0).round() as i64),
            rain: f.as_ref().is_some_and(|f| f.rain),
            colour: charts::rain_colour(p),
            obs_date: f.as_ref().map(|f| f.observation_date),
            stale: f.as_ref().is_some_and(|f| f.stale),
        });
    }
    render(&Index {
        map: charts::map(&points),
        rows,
        model_version: s.serving.get().map(|m| m.version),
        note,
    })
}

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
    pub percent: i64,
    pub call: &'static str,
    pub outcome: &'static str,
    pub hit: Option<bool>,
}

#[derive(Template)]
#[template(path = "forecast.html")]
struct ForecastPage {
    location: &'static str,
    station_name: &'static str,
    forecast: Option<std::sync::Arc<Forecast>>,
    percent: i64,
    problem: Option<String>,
    charts: Vec<String>,
    days: Vec<DayRow>,
    past: Vec<PastForecast>,
    hits: u64,
    misses: u64,
    brier: Option<String>,
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

async fn forecast_page(State(s): State<AppState>, Path(location): Path<String>) -> Response {
    let Ok(st) = station(&location) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "Unknown city",
            &format!(
                "There is no station called “{location}”. Pick one from the list on the home page."
            ),
        );
    };
    let (forecast, problem) = match forecast_cached(&s, st, None).await {
        Ok(f) => (Some(f), None),
        Err(e @ (ApiError::Unavailable(_) | ApiError::NotFound { .. })) => {
            (None, Some(e.to_string()))
        }
        Err(e) => return e.into_response(),
    };
    let store = s.store.clone();
    let today = s.clock.today();
    let since = today - chrono::Days::new(30);
    let loc = st.location;
    let loaded = blocking(move || {
        let latest = store.latest_date(loc)?;
        let days = match latest {
            Some(d) => store.observations_between(loc, d - chrono::Days::new(29), d)?,
            None => Vec::new(),
        };
        let past = store.predictions_for(loc, since, today + chrono::Days::new(1))?;
        let record = store.track_record(Some(loc), since)?;
        Ok((days, past, record))
    })
    .await;
    let (days, past, record) = match loaded {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let labels: Vec<String> = days
        .iter()
        .map(|o| o.date.format("%d %b").to_string())
        .collect();
    let col = |n: Num| days.iter().map(|o| o.get(n)).collect::<Vec<_>>();
    let charts = if days.is_empty() {
        Vec::new()
    } else {
        vec![
            charts::line_chart(
                "Rainfall (mm, bars) and minimum and maximum temperature (°C, lines), last 30 days",
                "mm",
                &labels,
                &[
                    Series {
                        label: "rain mm",
                        colour: "#3a7bd5",
                        values: col(Num::Rainfall),
                        bars: true,
                    },
                    Series {
                        label: "min °C",
                        colour: "#2aa198",
                        values: col(Num::MinTemp),
                        bars: false,
                    },
                    Series {
                        label: "max °C",
                        colour: "#d33682",
                        values: col(Num::MaxTemp),
                        bars: false,
                    },
                ],
            ),
            charts::line_chart(
                "Relative humidity at 3 pm (%), last 30 days",
                "%",
                &labels,
                &[Series {
                    label: "humidity 3pm %",
                    colour: "#6c71c4",
                    values: col(Num::Humidity3pm),
                    bars: false,
                }],
            ),
            charts::line_chart(
                "Mean sea-level pressure at 3 pm (hPa), last 30 days",
                "hPa",
                &labels,
                &[Series {
                    label: "pressure 3pm hPa",
                    colour: "#b58900",
                    values: col(Num::Pressure3pm),
                    bars: false,
                }],
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
            percent: (p.probability * 100.0).round() as i64,
            call: if p.decision() { "rain" } else { "dry" },
            outcome: match p.outcome {
                Some(true) => "rained",
                Some(false) => "dry",
                None => "not yet known",
            },
            hit: p.hit(),
        })
        .collect();
    render(&ForecastPage {
        location: st.location,
        station_name: st.station_name,
        percent: forecast
            .as_ref()
            .map_or(0, |f| (f.probability * 100.0).round() as i64),
        forecast,
        problem,
        charts,
        days: day_rows,
        past,
        hits: record.hits,
        misses: record.misses,
        brier: record.brier.map(|b| format!("{b:.3}")),
    })
}

#[derive(Template)]
#[template(path = "docs.html")]
struct Docs {
    endpoints: Vec<(String, String, String)>,
}

/// A readable page generated from the same OpenAPI document as `/api/v1/openapi.json`.
async fn docs() -> Response {
    use utoipa::OpenApi;
    let doc = super::api::ApiDoc::openapi();
    let mut endpoints = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let ops = [("GET", item.get.as_ref()), ("POST", item.post.as_ref())];
        for (method, op) in ops {
            if let Some(op) = op {
                let text = op
                    .description
                    .clone()
                    .or_else(|| op.summary.clone())
                    .unwrap_or_default();
                endpoints.push((method.to_string(), path.clone(), text));
            }
        }
    }
    render(&Docs { endpoints })
}

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");
const ICON: &str = include_str!("../../static/favicon.svg");

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (ICON, "image/svg+xml"),
        _ => return error_page(StatusCode::NOT_FOUND, "Not found", "No such file."),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
