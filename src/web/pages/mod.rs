//! Public pages, server-rendered with askama. They work with JavaScript off:
//! the numbers are always in the HTML; the script only filters the city list.
//! This file holds the router, the page cache and the home page; `city.rs`
//! the city pages, `views.rs` what they show beside the headline (skill by
//! issue, the next rain day, how much to trust the number, the sources).

mod city;
mod views;

pub use views::{MIN_LIVE_FOR_RELIABILITY, SourceTerms, source_terms};

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;

use super::AppState;
use super::charts::{self, MapPoint};
use super::error::ApiError;
use super::forecasts::no_model_message;
use super::html::{au_date, au_short, au_time, error_page};
use super::prepared::Prepared;
use crate::stations::STATIONS;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/forecast/{location}", get(city::forecast_page))
        .merge(super::assets::router())
}

pub struct Row {
    pub location: &'static str,
    pub name: &'static str,
    pub state: &'static str,
    /// The headline, shown only when the forecast rests on current data.
    pub percent: Option<i64>,
    pub rain: bool,
    pub colour: String,
    pub forecast_date: Option<String>,
    /// "no current data since 25 Jun 2017" when stale.
    pub stale_since: Option<String>,
    /// For a city without current data, the station to see instead.
    pub see: Option<&'static str>,
    /// What the search matches (names, states, aliases), lower case.
    pub search: String,
    /// Whether the row matches the search (every row without one).
    pub shown: bool,
}

#[derive(Template)]
#[template(path = "index.html")]
struct Index {
    map: String,
    state_map: String,
    /// The search text (`/?q=`), trimmed; empty for none.
    q: String,
    /// Rows the search matches.
    matched: usize,
    rows: Vec<Row>,
    model_version: Option<i64>,
    note: Option<String>,
    /// No model serves and the first is training: the page reloads itself
    /// every 10 s (a `<meta http-equiv="refresh">`, no script needed).
    reload: bool,
    /// "Saturday 6 September 2025": the day most cities' forecasts are for.
    forecast_day: Option<String>,
    stale: usize,
    total: usize,
    stale_after_days: i64,
    source_problem: Option<String>,
}

/// The public banner when BOM has not delivered: since when, and why. Runs
/// are stamped with the machine's real time; on a simulated clock
/// (`RAINCAST_CLOCK_START`, a demo) those times would sit beside forecasts
/// of another year, so the banner gives none.
pub fn source_problem(board: &crate::serving::Board, s: &AppState) -> Option<String> {
    let simulated = (s.clock.now() - chrono::Utc::now()).num_seconds().abs() > 60;
    let since = board.source.failing_since?.to_rfc3339();
    if simulated {
        return Some(
            "Current observations from the Bureau of Meteorology are unavailable: the latest attempt failed."
                .to_string(),
        );
    }
    let last = board
        .source
        .last_ok
        .map(|t| {
            format!(
                " The last successful update was {}.",
                au_time(&t.to_rfc3339())
            )
        })
        .unwrap_or_default();
    Some(format!(
        "Current observations from the Bureau of Meteorology are unavailable since {}: the latest attempt failed.{last}",
        au_time(&since)
    ))
}

/// Public pages rendered once per change of what they show, gzipped once,
/// and sent as long as nothing they rest on moved: the serving board (rebuilt
/// when observations, forecasts or the source's state change), the champion,
/// the database's data version (the forecast page reads the prediction log)
/// and the day. A page without a champion is never kept (it shows the jobs'
/// progress).
#[derive(Default)]
pub struct PageCache {
    pages: std::sync::Mutex<std::collections::HashMap<&'static str, CachedPage>>,
    /// Documents that rest on the board alone (`/api/v1/locations`).
    board_docs: std::sync::Mutex<BoardDocs>,
}

type BoardDocs = std::collections::HashMap<
    &'static str,
    (
        std::sync::Arc<crate::serving::Board>,
        std::sync::Arc<Prepared>,
    ),
>;

struct CachedPage {
    board: std::sync::Arc<crate::serving::Board>,
    model: i64,
    data: i64,
    today: NaiveDate,
    page: std::sync::Arc<Prepared>,
}

/// What a page rests on, read before it is rendered.
pub(super) struct PageKey {
    board: std::sync::Arc<crate::serving::Board>,
    model: Option<i64>,
    data: Option<i64>,
    today: NaiveDate,
}

impl PageKey {
    fn now(s: &AppState, with_data: bool) -> Self {
        Self {
            board: s.serving.board(),
            model: s.serving.get().map(|m| m.version),
            // Without the data version the page is rendered every time.
            data: if with_data {
                s.store.data_version().ok()
            } else {
                Some(0)
            },
            today: s.clock.today(),
        }
    }
}

impl PageCache {
    fn get(&self, name: &str, key: &PageKey) -> Option<std::sync::Arc<Prepared>> {
        let pages = self.pages.lock().ok()?;
        let c = pages.get(name)?;
        (std::sync::Arc::ptr_eq(&c.board, &key.board)
            && Some(c.model) == key.model
            && Some(c.data) == key.data
            && c.today == key.today)
            .then(|| c.page.clone())
    }

    /// The document `name` made from `board`, made now by `make` unless it
    /// was made from this very board.
    pub fn for_board(
        &self,
        name: &'static str,
        board: &std::sync::Arc<crate::serving::Board>,
        make: impl FnOnce() -> Prepared,
    ) -> std::sync::Arc<Prepared> {
        if let Ok(docs) = self.board_docs.lock()
            && let Some((b, doc)) = docs.get(name)
            && std::sync::Arc::ptr_eq(b, board)
        {
            return doc.clone();
        }
        let doc = std::sync::Arc::new(make());
        if let Ok(mut docs) = self.board_docs.lock() {
            docs.insert(name, (board.clone(), doc.clone()));
        }
        doc
    }

    fn keep(&self, name: &'static str, key: PageKey, page: std::sync::Arc<Prepared>) {
        let (Some(model), Some(data)) = (key.model, key.data) else {
            return;
        };
        if let Ok(mut pages) = self.pages.lock() {
            pages.insert(
                name,
                CachedPage {
                    board: key.board,
                    model,
                    data,
                    today: key.today,
                    page,
                },
            );
        }
    }
}

/// `render` through the page cache: a kept page if `key` still holds, else
/// a fresh rendering, kept when it is a 200 with a champion behind it.
pub(super) async fn cached_page<F>(
    s: &AppState,
    name: &'static str,
    key: PageKey,
    headers: &HeaderMap,
    render: F,
) -> Response
where
    F: std::future::Future<Output = Response>,
{
    if let Some(page) = s.pages.get(name, &key) {
        return page.respond(headers);
    }
    let resp = render.await;
    if resp.status() != StatusCode::OK || key.model.is_none() || key.data.is_none() {
        return resp;
    }
    let Ok(bytes) = axum::body::to_bytes(resp.into_body(), usize::MAX).await else {
        return ApiError::Internal(anyhow::anyhow!("reading a rendered page")).into_response();
    };
    let page = std::sync::Arc::new(Prepared::new(bytes, "text/html; charset=utf-8", "no-cache"));
    s.pages.keep(name, key, page.clone());
    page.respond(headers)
}

#[derive(serde::Deserialize)]
struct HomeQuery {
    q: Option<String>,
}

/// The home page; `/?q=melbourne` is its search without JavaScript: only
/// the matching cities are shown (the others are in the page, hidden, for
/// the script's filter to bring back). Searches are not kept in the cache.
async fn index(
    State(s): State<AppState>,
    query: Result<Query<HomeQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Cannot read the search",
            "Search with one `q`, for example /?q=melbourne.",
        );
    };
    let q = query.q.unwrap_or_default().trim().to_string();
    if q.chars().count() > super::cities::MAX_QUERY_CHARS {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Search too long",
            &format!(
                "Search for a city, state or airport in at most {} characters.",
                super::cities::MAX_QUERY_CHARS
            ),
        );
    }
    // Searches are not kept; nor is the page while no model serves: its
    // note (training now, or why not) and its self-reload follow the jobs.
    if !q.is_empty() || s.serving.get().is_none() {
        return render_index(&s, q).await;
    }
    let key = PageKey::now(&s, false);
    cached_page(&s, "/", key, &headers, render_index(&s, q)).await
}

async fn render_index(s: &AppState, q: String) -> Response {
    let s = s.clone();
    let board = s.serving.board();
    let model = s.serving.get();
    let note = model.is_none().then(|| no_model_message(&s));
    let mut rows = Vec::with_capacity(STATIONS.len());
    let mut points = Vec::with_capacity(STATIONS.len());
    let mut days: std::collections::HashMap<NaiveDate, usize> = Default::default();
    for st in STATIONS.iter() {
        let entry = board.station(st.location);
        let f = entry
            .and_then(|e| e.forecast.clone())
            .filter(|f| model.as_ref().is_some_and(|m| m.version == f.model_version));
        let live = f.as_ref().filter(|f| !f.stale);
        if let Some(f) = live {
            *days.entry(f.forecast_date).or_default() += 1;
        }
        let p = live.map(|f| f.probability);
        let stale_since = match (&f, entry.and_then(|e| e.latest)) {
            (Some(f), _) if f.stale => Some(format!(
                "no current data since {}",
                au_short_year(f.observation_date)
            )),
            (None, Some(d)) => Some(format!("no forecast; data until {}", au_short_year(d))),
            (None, None) => Some("no data yet".to_string()),
            _ => None,
        };
        let (lat, lon) = st.model_coords();
        let see = stale_since.as_ref().and_then(|_| {
            super::cities::nearest_with(st, |o| has_current(&board, model.as_deref(), o))
                .map(|(o, _)| o.display_name)
        });
        points.push(MapPoint {
            location: st.location,
            name: st.display_name,
            lat,
            lon,
            probability: p,
            note: match (live, &stale_since) {
                (Some(f), _) => format!("on {}", au_short(f.forecast_date)),
                (None, Some(why)) => why.clone(),
                (None, None) => String::new(),
            },
        });
        rows.push(Row {
            location: st.location,
            name: st.display_name,
            state: st.state,
            percent: p.map(shown_percent),
            rain: live.is_some_and(|f| f.rain),
            colour: charts::rain_colour(p),
            forecast_date: live.map(|f| au_short(f.forecast_date)),
            stale_since,
            see,
            search: super::cities::search_text(st),
            shown: true,
        });
    }
    let clusters = state_clusters(&rows);
    // Alphabetical; the search keeps the matching rows in view.
    rows.sort_by_key(|r| r.name);
    let mut matched = 0;
    for r in &mut rows {
        r.shown = super::cities::matches(&r.search, &q);
        matched += usize::from(r.shown);
    }
    let forecast_day = days
        .into_iter()
        .max_by_key(|(d, n)| (*n, *d))
        .map(|(d, _)| au_date(d));
    s.page(&Index {
        map: charts::map(&points),
        state_map: charts::state_map(&clusters),
        q,
        matched,
        rows,
        model_version: model.as_ref().map(|m| m.version),
        reload: model.is_none()
            && s.jobs
                .running()
                .iter()
                .any(|(k, _)| *k == crate::jobs::JobKind::Train),
        note,
        forecast_day,
        stale: board.stale_count(),
        total: STATIONS.len(),
        stale_after_days: s.config.server.stale_after_days,
        source_problem: source_problem(&board, &s),
    })
}

/// Chances below this percent show as it, and above 100 minus it as that:
/// no forecast from a day's observations is surer (the top bin of the test
/// year verified at 97 %). The API keeps the exact value.
pub const SHOWN_BOUND: i64 = 5;

/// A chance as the pages show it: whole percent, within 5–95 %.
pub fn shown_percent(p: f64) -> i64 {
    ((p * 100.0).round() as i64).clamp(SHOWN_BOUND, 100 - SHOWN_BOUND)
}

/// Whether `st` has a current forecast from the serving model.
pub(super) fn has_current(
    board: &crate::serving::Board,
    model: Option<&crate::registry::LoadedModel>,
    st: &crate::stations::Station,
) -> bool {
    board
        .station(st.location)
        .and_then(|e| e.forecast.as_ref())
        .is_some_and(|f| !f.stale && model.is_some_and(|m| m.version == f.model_version))
}

/// The phone map's clusters: per state (in the order of [`STATIONS`]), its
/// cities, how many have a current forecast, and the highest chance.
fn state_clusters(rows: &[Row]) -> Vec<charts::StateCluster> {
    let mut out: Vec<charts::StateCluster> = Vec::new();
    for r in rows {
        let i = match out.iter().position(|c| c.state == r.state) {
            Some(i) => i,
            None => {
                out.push(charts::StateCluster {
                    state: r.state,
                    current: 0,
                    cities: 0,
                    wettest: None,
                });
                out.len() - 1
            }
        };
        let c = &mut out[i];
        c.cities += 1;
        if let Some(p) = r.percent {
            c.current += 1;
            let p = p as f64 / 100.0;
            c.wettest = Some(c.wettest.map_or(p, |w: f64| w.max(p)));
        }
    }
    out
}

/// "25 Jun 2017".
pub fn au_short_year(d: NaiveDate) -> String {
    d.format("%-d %b %Y").to_string()
}
