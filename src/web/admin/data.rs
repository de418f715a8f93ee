//! Data health in the console: each station's rows, newest day and last
//! scrape, the missing share per field, and the station × field grid that
//! shows which fields a station has gone quiet on.

use askama::Template;
use axum::extract::State;

use super::auth::Admin;
use super::{Page, load};
use crate::web::AppState;
use crate::web::html::render;

pub struct StationHealth {
    pub location: &'static str,
    pub name: &'static str,
    pub rows: u64,
    pub latest: String,
    pub stale: bool,
    pub last_scrape: String,
}

#[derive(Template)]
#[template(path = "admin/data.html")]
struct DataPage {
    csrf: String,
    stations: Vec<StationHealth>,
    missing: Vec<(&'static str, String)>,
    /// Field names, the grid's columns.
    fields: Vec<&'static str>,
    /// Station × field: (location, cells of (text, status class, tooltip)).
    grid: HealthGrid,
    /// Fields a station used to report and has gone quiet on.
    silent: Vec<String>,
}

pub(super) async fn data_page(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let today = s.clock.today();
    let stale_after = s.config.server.stale_after_days;
    let (stats, missing, outcomes, health) = load(move || {
        Ok((
            store.station_stats()?,
            store.missing_rates()?,
            store.last_scrape_per_station()?,
            crate::train::health::data_health(&store)?,
        ))
    })
    .await?;
    let (grid, silent) = health_grid(&health);
    let stations = crate::stations::STATIONS
        .iter()
        .map(|st| {
            let stat = stats.iter().find(|x| x.location == st.location);
            let latest = stat.and_then(|x| x.latest);
            StationHealth {
                location: st.location,
                name: st.display_name,
                rows: stat.map_or(0, |x| x.rows),
                latest: latest.map_or("–".into(), |d| d.to_string()),
                stale: latest.is_none_or(|d| (today - d).num_days() > stale_after),
                last_scrape: outcomes
                    .iter()
                    .find(|o| o.location == st.location)
                    .map_or_else(
                        || "never scraped".into(),
                        |o| {
                            format!(
                                "{} {}: {}{}",
                                o.month,
                                o.fetched_at
                                    .chars()
                                    .take(16)
                                    .collect::<String>()
                                    .replace('T', " "),
                                o.status,
                                o.message
                                    .as_deref()
                                    .map(|m| format!(" ({m})"))
                                    .unwrap_or_default()
                            )
                        },
                    ),
            }
        })
        .collect();
    Ok(render(&DataPage {
        csrf: admin.csrf,
        stations,
        missing: missing
            .into_iter()
            .map(|(n, r)| (n, format!("{:.1} %", r * 100.0)))
            .collect(),
        fields: crate::train::health::field_names(),
        grid,
        silent,
    }))
}

type HealthGrid = Vec<(String, Vec<(String, &'static str, String)>)>;

/// The station × field grid: each cell is the recent missing share, classed
/// by status, with the history in its tooltip; and the flagged fields.
fn health_grid(health: &[crate::train::health::StationHealth]) -> (HealthGrid, Vec<String>) {
    use crate::train::health::FieldStatus;
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{:.0}", x * 100.0));
    let mut silent = Vec::new();
    let grid = health
        .iter()
        .map(|st| {
            for f in st.flagged() {
                silent.push(format!(
                    "{} {}: {} (missing {} % in the last {} days, {} % before)",
                    st.location,
                    f.field,
                    f.status.as_str(),
                    pct(f.recent_missing),
                    crate::train::health::RECENT_DAYS,
                    pct(f.history_missing)
                ));
            }
            let cells = st
                .fields
                .iter()
                .map(|f| {
                    let class = match f.status {
                        FieldStatus::Ok => "ok",
                        FieldStatus::Degraded => "degraded",
                        FieldStatus::Silent => "silent",
                        FieldStatus::NotReported => "absent",
                        FieldStatus::Unknown => "unknown",
                    };
                    (
                        pct(f.recent_missing),
                        class,
                        format!(
                            "{} {}: {}; missing {} % recently, {} % before",
                            st.location,
                            f.field,
                            f.status.as_str(),
                            pct(f.recent_missing),
                            pct(f.history_missing)
                        ),
                    )
                })
                .collect();
            (
                crate::stations::display_name(&st.location).to_string(),
                cells,
            )
        })
        .collect();
    (grid, silent)
}
