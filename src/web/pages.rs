//! Public pages, server-rendered with askama. They work with JavaScript off:
//! the numbers are always in the HTML; the script only filters the city list.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;

use super::AppState;
use super::charts::{self, MapPoint, Series};
use super::error::{ApiError, blocking};
use super::forecasts::{forecast_for, no_model_message, station};
use super::html::{au_date, au_short, au_time, error_page, render};
use super::prepared::Prepared;
use crate::obs::Num;
use crate::serving::Forecast;
use crate::stations::STATIONS;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/forecast/{location}", get(forecast_page))
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

/// The public banner when BOM has not delivered: since when, and why.
pub fn source_problem(board: &crate::serving::Board) -> Option<String> {
    let since = board.source.failing_since?.to_rfc3339();
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
struct PageKey {
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
async fn cached_page<F>(
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
    Query(query): Query<HomeQuery>,
    headers: HeaderMap,
) -> Response {
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
    if !q.is_empty() {
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
    render(&Index {
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
        source_problem: source_problem(&board),
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
fn has_current(
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
}

#[derive(Template)]
#[template(path = "forecast.html")]
struct ForecastPage {
    location: &'static str,
    name: &'static str,
    station_name: &'static str,
    forecast: Option<std::sync::Arc<Forecast>>,
    percent: i64,
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

/// One channel feeding a city's page, with BOM's terms for it.
pub struct SourceTerms {
    pub channel: &'static str,
    pub what: &'static str,
    pub terms: &'static str,
}

/// The channels `config` uses for `st`, in order of authority, and why the
/// city is website-only when FTP is on but it has no feed station.
pub fn source_terms(
    config: &crate::config::Config,
    st: &'static crate::stations::Station,
) -> (Vec<SourceTerms>, Option<&'static str>) {
    use crate::config::Channel;
    let feed = crate::ingest::ftp::feeds::feed(st);
    let website_only = match (&feed, config.sources.uses(Channel::Ftp)) {
        (Err(why), true) => Some(*why),
        _ => None,
    };
    let rows = config
        .sources
        .channels()
        .into_iter()
        .filter(|c| *c != Channel::Ftp || feed.is_ok())
        .map(|c| SourceTerms {
            channel: c.as_str(),
            what: c.describe(),
            terms: c.terms(),
        })
        .collect();
    (rows, website_only)
}

pub struct IssueSkillRow {
    pub label: &'static str,
    pub test: String,
    pub live: String,
    /// Skill over climatology in % (test window), for the bar.
    pub skill_pct: i64,
}

/// The next rain day's evening-before forecast, with that issue's skill.
pub struct NextDay {
    pub percent: i64,
    pub date: NaiveDate,
    /// "Mon 8 Sep".
    pub day: String,
    /// "16:30 AEST on Sat 6 Sep".
    pub issued: String,
    /// "12 % better than climatology on the model's test year, against
    /// 33 % for the afternoon issue", when the model has per-issue scores.
    pub skill: Option<String>,
}

/// Live verified forecasts of one issue a city needs before its own record
/// replaces the model's test window in "how sure, and when".
pub const MIN_LIVE_FOR_ISSUE_SKILL: usize = 30;

/// The "how sure, and when" rows: each issue's skill on the serving model's
/// test window, beside this city's live record of that issue (its verified
/// forecasts of the last year, once there are
/// [`MIN_LIVE_FOR_ISSUE_SKILL`]).
fn skill_by_issue(
    model: Option<&crate::registry::LoadedModel>,
    city: &[crate::store::PredictionRow],
) -> Vec<IssueSkillRow> {
    let Some(scores) = model.and_then(|m| m.summary.metrics.calibration.as_ref()) else {
        return Vec::new();
    };
    crate::issue::ISSUES
        .iter()
        .rev()
        .filter_map(|issue| {
            let t = scores.issues.iter().find(|i| i.issue == issue.name())?;
            let verified: Vec<(f64, bool)> = city
                .iter()
                .filter(|p| p.issue.as_deref() == Some(issue.name()))
                .filter_map(|p| Some((p.probability, p.outcome?)))
                .collect();
            let n = verified.len();
            let live = if n >= MIN_LIVE_FOR_ISSUE_SKILL {
                let brier = verified
                    .iter()
                    .map(|&(p, o)| (p - f64::from(u8::from(o))).powi(2))
                    .sum::<f64>()
                    / n as f64;
                format!("{brier:.3} ({n} days)")
            } else {
                format!("{n} of {MIN_LIVE_FOR_ISSUE_SKILL} days so far: the test year stands")
            };
            Some(IssueSkillRow {
                label: issue.label(),
                test: format!(
                    "{:.3}, {:.0}\u{a0}% better than climatology",
                    t.brier,
                    t.brier_skill_score * 100.0
                ),
                live,
                skill_pct: (t.brier_skill_score * 100.0).round().max(0.0) as i64,
            })
        })
        .collect()
}

/// The headline as issued: the logged forecast for its rain day and issue
/// (the record's line for that day says the same), with its version and
/// the moment it was logged. When the champion has changed since, its own
/// forecast for the same issue is returned too, to be labelled as a
/// re-forecast; the issued one is never replaced.
fn as_issued(
    forecast: Option<std::sync::Arc<Forecast>>,
    year: &[crate::store::PredictionRow],
) -> (Option<std::sync::Arc<Forecast>>, Option<String>) {
    let f = match forecast {
        Some(f) if !f.stale => f,
        other => return (other, None),
    };
    let Some(logged) = year
        .iter()
        .find(|p| p.for_date == f.forecast_date && p.issue.as_deref() == Some(f.issue.name()))
    else {
        return (Some(f), None);
    };
    let mut issued = (*f).clone();
    issued.probability = logged.probability;
    issued.model_version = logged.version;
    if let Some(t) = logged.threshold {
        issued.threshold = t;
    }
    issued.rain = logged.decision();
    if let Some(at) = logged
        .issued_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        issued.issued_at = at.with_timezone(&chrono::Utc);
    }
    let reforecast = (logged.version != f.model_version).then(|| {
        format!(
            "Re-forecast by model version {}, promoted since: {}\u{a0}%. The record keeps the issued {}\u{a0}%.",
            f.model_version,
            shown_percent(f.probability),
            shown_percent(logged.probability)
        )
    });
    (Some(std::sync::Arc::new(issued)), reforecast)
}

/// The next rain day's day-before forecast for `st`, with its honest skill.
fn next_day(
    st: &crate::stations::Station,
    f: &Forecast,
    model: Option<&crate::registry::LoadedModel>,
) -> NextDay {
    let skill = model
        .and_then(|m| m.summary.metrics.calibration.as_ref())
        .and_then(|c| {
            let of = |name: &str| c.issues.iter().find(|i| i.issue == name);
            let (day_before, afternoon) = (of("day_before")?, of("afternoon")?);
            Some(format!(
                "{:.0}\u{a0}% better than climatology on the model's test year, against {:.0}\u{a0}% for the afternoon issue",
                day_before.brier_skill_score * 100.0,
                afternoon.brier_skill_score * 100.0
            ))
        });
    NextDay {
        percent: shown_percent(f.probability),
        date: f.forecast_date,
        day: f.forecast_date.format("%a %-d %b").to_string(),
        issued: local_time(st, f.issued_at),
        skill,
    }
}

/// Verified live forecasts a city needs before its own reliability chart
/// replaces the model's test-window one.
pub const MIN_LIVE_FOR_RELIABILITY: usize = 30;

/// "How much to trust the number": a reliability chart and its table, from
/// the city's verified live forecasts once there are enough, else from the
/// serving model's test window (all stations).
pub struct Trust {
    pub svg: String,
    /// Where the numbers come from, in words.
    pub source: String,
    pub live: bool,
    /// (we said, days, on average we said, it rained)
    pub rows: Vec<(String, u64, String, String)>,
    /// About the bin of the forecast shown: "Our forecast, 9 %, is in the
    /// 0–10 % bin: when we said 0–10 %, it rained on 6 % of those 4,120 days."
    pub headline: Option<String>,
}

/// (lo, hi, forecasts, mean forecast, observed frequency)
type TrustBin = (f64, f64, u64, f64, f64);

fn trust_view(
    name: &str,
    live: &[crate::store::PredictionRow],
    model: Option<&crate::registry::LoadedModel>,
    shown: Option<f64>,
) -> Option<Trust> {
    let verified: Vec<(f64, bool)> = live
        .iter()
        .filter_map(|p| Some((p.probability, p.outcome?)))
        .collect();
    let (bins, source, is_live): (Vec<TrustBin>, String, bool) = if verified.len()
        >= MIN_LIVE_FOR_RELIABILITY
    {
        let mut r = crate::score::Reliability::default();
        for &(p, rain) in &verified {
            r.add(p, rain);
        }
        let bins = r
            .bins()
            .into_iter()
            .filter_map(|b| Some((b.lo, b.hi, b.n, b.mean_forecast?, b.observed?)))
            .collect();
        (
            bins,
            format!(
                "our {} verified forecasts for {name} over the last year",
                verified.len()
            ),
            true,
        )
    } else {
        let m = model?;
        let bins = m
            .summary
            .metrics
            .calibration
            .as_ref()?
            .reliability
            .iter()
            .filter(|b| b.n > 0)
            .filter_map(|b| Some((b.lo, b.hi, b.n, b.mean_forecast?, b.observed?)))
            .collect();
        (
            bins,
            format!(
                "model version {}'s test window, all 49 cities ({name} has {} verified forecasts so far; its own chart appears at {MIN_LIVE_FOR_RELIABILITY})",
                m.version,
                verified.len()
            ),
            false,
        )
    };
    if bins.is_empty() {
        return None;
    }
    let pct = |x: f64| format!("{:.0}\u{a0}%", x * 100.0);
    // The bin of the forecast shown (the top bin holds 100 %); without one,
    // the busiest bin.
    let of_shown = shown.and_then(|p| {
        bins.iter()
            .find(|b| b.0 <= p && (p < b.1 || (b.1 >= 1.0 && p <= 1.0)))
            .map(|b| (b, p))
    });
    let headline = match of_shown {
        Some((b, p)) => Some(format!(
            "Our forecast, {}\u{a0}%, is in the {:.0}–{} bin: when we said {:.0}–{}, it rained on {} of those {} days.",
            shown_percent(p),
            b.0 * 100.0,
            pct(b.1),
            b.0 * 100.0,
            pct(b.1),
            pct(b.4),
            b.2
        )),
        None => bins.iter().max_by_key(|b| b.2).map(|b| {
            format!(
                "When we said {:.0}–{}, it rained on {} of those {} days.",
                b.0 * 100.0,
                pct(b.1),
                pct(b.4),
                b.2
            )
        }),
    };
    let points: Vec<charts::ReliabilityPoint> = bins.iter().map(|b| (b.3, b.4, b.2)).collect();
    Some(Trust {
        svg: charts::reliability(
            &if is_live {
                format!("{name}: when we said a chance of rain, how often it rained")
            } else {
                "All 49 cities, the model's test year: when it said a chance of rain, how often it rained".to_string()
            },
            &points,
        ),
        source,
        live: is_live,
        rows: bins
            .iter()
            .map(|b| {
                (
                    format!("{:.0}–{:.0}\u{a0}%", b.0 * 100.0, b.1 * 100.0),
                    b.2,
                    pct(b.3),
                    pct(b.4),
                )
            })
            .collect(),
        headline,
    })
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

/// `at` in the station's local time, its zone named: "16:30 AEST on Sat 6 Sep".
fn local_time(st: &crate::stations::Station, at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&crate::issue::Zone::of(st).tz())
        .format("%H:%M %Z on %a %-d %b")
        .to_string()
}

async fn forecast_page(
    State(s): State<AppState>,
    Path(location): Path<String>,
    headers: HeaderMap,
) -> Response {
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
            super::cities::nearest_with(st, |o| has_current(&board, model.as_deref(), o))
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
        })
        .collect();
    let (sources, website_only) = source_terms(&s.config, st);
    render(&ForecastPage {
        location: st.location,
        name: st.display_name,
        station_name: st.station_name,
        percent: forecast
            .as_ref()
            .map_or(0, |f| shown_percent(f.probability)),
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
        skill_by_issue: skill_by_issue(s.serving.get().as_deref(), &year),
        reforecast,
        next: board
            .station(st.location)
            .and_then(|b| b.next.as_deref())
            .filter(|_| forecast.as_ref().is_some_and(|f| !f.stale))
            .map(|n| next_day(st, n, s.serving.get().as_deref())),
        forecast,
        problem,
        source_problem: source_problem(&board),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PredictionRow;

    /// The headline is the issued forecast, as the record logged it; a
    /// champion promoted since is a labelled re-forecast beside it.
    #[test]
    fn the_headline_is_the_forecast_as_issued() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 2).unwrap();
        let now = chrono::Utc::now();
        let served = std::sync::Arc::new(Forecast {
            location: "SydneyAirport".into(),
            display_name: "Sydney Airport".into(),
            observation_date: day.pred_opt().unwrap(),
            forecast_date: day,
            issue: crate::issue::Issue::Afternoon,
            issued_at: now,
            window_start: now,
            window_end: now,
            probability: 0.25,
            rain: false,
            threshold: 0.3,
            model_version: 2,
            stale: false,
            data_age_days: 0,
            kind: crate::serving::ForecastKind::Forecast,
        });
        let mut logged = row(1, 0.14, None);
        logged.issued_at = Some("2025-01-01T05:50:00.000Z".into());
        let (f, re) = as_issued(Some(served.clone()), std::slice::from_ref(&logged));
        let f = f.unwrap();
        assert_eq!((f.probability, f.model_version), (0.14, 1));
        assert_eq!(f.issued_at.to_rfc3339(), "2025-01-01T05:50:00+00:00");
        let re = re.expect("labelled");
        assert!(re.contains("model version 2") && re.contains("25"), "{re}");
        // Issued by the serving version: no label.
        logged.version = 2;
        let (f, re) = as_issued(Some(served.clone()), &[logged]);
        assert_eq!(f.unwrap().probability, 0.14);
        assert!(re.is_none());
        // Nothing logged for that issue: the served forecast stands.
        let (f, re) = as_issued(Some(served), &[row(5, 0.9, None)]);
        assert_eq!(f.unwrap().probability, 0.25);
        assert!(re.is_none());
    }

    fn row(day: u32, probability: f64, rained: Option<bool>) -> PredictionRow {
        let d = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(day.into());
        PredictionRow {
            location: "SydneyAirport".into(),
            for_date: d,
            obs_date: Some(d),
            version: 1,
            probability,
            threshold: Some(0.3),
            outcome: rained,
            issue: Some("afternoon".into()),
            issued_at: None,
        }
    }

    #[test]
    fn a_city_with_enough_verified_days_gets_its_own_reliability() {
        // 40 verified days: 20 said 35 % (7 rained), 20 said 5 % (1 rained);
        // unverified days do not count.
        let mut rows: Vec<PredictionRow> = (0..20)
            .map(|i| row(i, 0.35, Some(i < 7)))
            .chain((20..40).map(|i| row(i, 0.05, Some(i == 20))))
            .collect();
        rows.push(row(41, 0.9, None));
        let t = trust_view("Sydney Airport", &rows, None, Some(0.37)).expect("a chart");
        assert!(t.live);
        assert!(
            t.source
                .contains("40 verified forecasts for Sydney Airport")
        );
        assert_eq!(
            t.headline.as_deref(),
            Some(
                "Our forecast, 37\u{a0}%, is in the 30–40\u{a0}% bin: when we said 30–40\u{a0}%, it rained on 35\u{a0}% of those 20 days."
            )
        );
        assert_eq!(t.rows.len(), 2);
        assert!(t.svg.starts_with("<svg") && t.svg.contains("Sydney Airport"));
        // Too few verified days and no model: nothing to show yet.
        assert!(trust_view("Sydney Airport", &rows[..10], None, Some(0.37)).is_none());
        // The headline follows the forecast shown: a 3 % forecast speaks
        // about the 0–10 % bin (shown as 5 %).
        let low = trust_view("Sydney Airport", &rows, None, Some(0.03)).unwrap();
        assert_eq!(
            low.headline.as_deref(),
            Some(
                "Our forecast, 5\u{a0}%, is in the 0–10\u{a0}% bin: when we said 0–10\u{a0}%, it rained on 5\u{a0}% of those 20 days."
            )
        );
        assert!(low.svg.contains("Sydney Airport: when we said"));
    }
}
