//! Data health in the console: each station's rows, newest day and last
//! scrape, the missing share per field, the station × field grid that
//! shows which fields a station has gone quiet on, and the two channels
//! (the FTP source's last outcomes, the station map, how the channels agree).

use askama::Template;
use axum::extract::State;

use super::auth::Admin;
use super::{Page, load};
use crate::web::AppState;

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
    channels: Channels,
}

/// The two channels (website, FTP): which are used, the FTP source's last
/// outcomes, the station map, and how the channels agree field by field.
pub struct Channels {
    pub order: String,
    pub ftp_on: bool,
    /// The FTP source's outcomes: (what, status, message, when).
    pub ftp_status: Vec<(String, String, String, String)>,
    pub readings: u64,
    pub newest_reading: String,
    /// (location, feed or why none, website only).
    pub map: Vec<(String, String, bool)>,
    /// (field, compared, agreed, share).
    pub agreement: Vec<(String, u64, u64, String)>,
    pub overall: String,
    /// (location, date, field, website, ftp).
    pub differences: Vec<(String, String, String, String, String)>,
}

fn channels(
    s: &AppState,
    statuses: Vec<crate::store::FtpStatus>,
    readings: (u64, Option<String>),
    agreement: Vec<crate::store::FieldAgreement>,
    differences: Vec<crate::store::Difference>,
) -> Channels {
    use crate::ingest::ftp::feeds;
    let pct = |r: Option<f64>| r.map_or("–".to_string(), |x| format!("{:.1} %", x * 100.0));
    let (compared, agreed) = agreement
        .iter()
        .fold((0, 0), |(c, a), f| (c + f.compared, a + f.agreed));
    Channels {
        order: s.config.sources.order.clone(),
        ftp_on: s.config.sources.uses(crate::config::Channel::Ftp),
        ftp_status: statuses
            .into_iter()
            .map(|x| {
                (
                    x.key,
                    x.status,
                    x.message,
                    x.at.chars().take(16).collect::<String>().replace('T', " "),
                )
            })
            .collect(),
        readings: readings.0,
        newest_reading: readings.1.unwrap_or_else(|| "–".into()),
        map: crate::stations::STATIONS
            .iter()
            .map(|st| match feeds::feed(st) {
                Ok(f) => (
                    st.display_name.to_string(),
                    format!("station {} in {}", f.number, f.product),
                    false,
                ),
                Err(why) => (
                    st.display_name.to_string(),
                    format!("website only: {why}"),
                    true,
                ),
            })
            .collect(),
        agreement: agreement
            .iter()
            .map(|f| (f.field.clone(), f.compared, f.agreed, pct(f.ratio())))
            .collect(),
        overall: pct((compared > 0).then(|| agreed as f64 / compared as f64)),
        differences: differences
            .into_iter()
            .map(|d| (d.location, d.date.to_string(), d.field, d.website, d.ftp))
            .collect(),
    }
}

pub(super) async fn data_page(State(s): State<AppState>, admin: Admin) -> Page {
    let store = s.store.clone();
    let today = s.clock.today();
    let stale_after = s.config.server.stale_after_days;
    let since = today - chrono::Days::new(30);
    let (stats, missing, outcomes, health, ftp) = load(move || {
        Ok((
            store.station_stats()?,
            store.missing_rates()?,
            store.last_scrape_per_station()?,
            crate::train::health::data_health(&store)?,
            (
                store.ftp_statuses()?,
                store.readings_summary()?,
                store.channel_agreement(since)?,
                store.channel_differences(20)?,
            ),
        ))
    })
    .await?;
    let channels = channels(&s, ftp.0, ftp.1, ftp.2, ftp.3);
    let latest_of = |location: &str| {
        stats
            .iter()
            .find(|x| x.location == location)
            .and_then(|x| x.latest)
    };
    let (grid, silent) = health_grid(&health, |location| {
        quiet_for(latest_of(location), today, stale_after)
    });
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
    Ok(s.page(&DataPage {
        csrf: admin.csrf,
        stations,
        missing: missing
            .into_iter()
            .map(|(n, r)| (n, format!("{:.1} %", r * 100.0)))
            .collect(),
        fields: crate::train::health::field_names(),
        grid,
        silent,
        channels,
    }))
}

/// One grid row: the station's name, and either its cells or, for a
/// station that has stopped sending, why the row has none.
pub struct GridRow {
    pub name: String,
    pub cells: Vec<(String, &'static str, String)>,
    /// "dead: no data since 2017-06-25, 8 years ago".
    pub dead: Option<String>,
}

type HealthGrid = Vec<GridRow>;

/// How long a station has sent nothing, when that is more than
/// `stale_after` days (or it never sent anything): "no data since
/// 2017-06-25, 2,995 days ago", and whether that is a year or more (dead).
fn quiet_for(
    latest: Option<chrono::NaiveDate>,
    today: chrono::NaiveDate,
    stale_after: i64,
) -> Option<(String, bool)> {
    let Some(d) = latest else {
        return Some(("dead: no data at all".into(), true));
    };
    let days = (today - d).num_days();
    if days <= stale_after {
        return None;
    }
    Some(if days >= 365 {
        let years = days / 365;
        (
            format!(
                "dead: no data since {d}, {years} year{} ago",
                if years == 1 { "" } else { "s" }
            ),
            true,
        )
    } else {
        (format!("silent: no data since {d}, {days} days ago"), false)
    })
}

/// The station × field grid: each cell is the recent missing share, classed
/// by status, with the history in its tooltip; and the flagged fields. The
/// shares are over each station's own last days of data, so a station that
/// stopped sending years ago would look healthy: `quiet` says which have
/// stopped, and their rows say so instead of showing cells.
fn health_grid(
    health: &[crate::train::health::StationHealth],
    quiet: impl Fn(&str) -> Option<(String, bool)>,
) -> (HealthGrid, Vec<String>) {
    use crate::train::health::FieldStatus;
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{:.0}", x * 100.0));
    let mut silent = Vec::new();
    let grid = health
        .iter()
        .map(|st| {
            let name = crate::stations::display_name(&st.location).to_string();
            if let Some((why, _)) = quiet(&st.location) {
                silent.push(format!("{name}: {why}"));
                return GridRow {
                    name,
                    cells: Vec::new(),
                    dead: Some(why),
                };
            }
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
            GridRow {
                name,
                cells,
                dead: None,
            }
        })
        .collect();
    (grid, silent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_station_quiet_for_years_is_dead() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let today = day(2025, 9, 7);
        assert_eq!(
            quiet_for(Some(day(2017, 6, 25)), today, 2),
            Some(("dead: no data since 2017-06-25, 8 years ago".into(), true))
        );
        assert_eq!(
            quiet_for(Some(day(2025, 8, 1)), today, 2),
            Some((
                "silent: no data since 2025-08-01, 37 days ago".into(),
                false
            ))
        );
        assert_eq!(quiet_for(Some(day(2025, 9, 5)), today, 2), None);
        assert_eq!(
            quiet_for(None, today, 2),
            Some(("dead: no data at all".into(), true))
        );
    }
}
