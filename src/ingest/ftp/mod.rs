//! The second way in (issue 29): BOM's anonymous FTP service. Each poll
//! downloads the state observation products (`IDx60920.xml`, every
//! automatic station of a state, updated about every 10 minutes) and
//! stores each reading of our stations by station number; once a day it
//! also downloads each station's daily climate table. Then it assembles
//! each station's recent days into weatherAUS rows ([`assemble`]) and
//! stores them under `sources.order`'s authority, each field with its
//! source. See `docs/ftp.md`.
//!
//! Politeness and failure handling follow the website scraper: one
//! session at a time, a pause of `ftp.delay_ms` before each download, a
//! timeout on every connection, command and read, and fail-fast: after
//! `ftp.fail_fast_after` refusals, time-outs or connection failures in a
//! row the poll stops with one message naming the cause and the settings to
//! check, recorded for the admin's data page (`ftp_status`).

pub mod assemble;
pub mod client;
pub mod daily;
pub mod feeds;
pub mod xml;

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use self::client::{FetchError, Session};
use self::feeds::Feed;
use crate::config::Config;
use crate::issue::Zone;
use crate::store::{AssembleCounts, Store};

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileOutcome {
    pub path: String,
    /// `ok`, `refused`, `timed_out`, `not_found`, `failed`, `rejected`, `skipped`.
    pub status: String,
    pub message: String,
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollReport {
    pub at: DateTime<Utc>,
    pub products: Vec<FileOutcome>,
    pub tables: Vec<FileOutcome>,
    /// Readings of our stations stored for the first time.
    pub readings_new: u64,
    /// Stations of the map that a product did not carry, with the product.
    pub missing_stations: Vec<String>,
    pub assembled: AssembleCounts,
    /// Why the poll stopped early (fail-fast), if it did.
    pub aborted: Option<String>,
    /// One line for people: what was fetched, what failed and what to check.
    pub message: String,
}

impl PollReport {
    /// The poll as a whole failed: it stopped early, or no file came.
    pub fn failed(&self) -> bool {
        let ok = |v: &[FileOutcome]| v.iter().any(|f| f.status == "ok");
        self.aborted.is_some() || (!ok(&self.products) && !ok(&self.tables))
    }
}

/// Consecutive systemic failures, reset by any success.
struct Circuit {
    limit: u32,
    consecutive: u32,
    open: Option<String>,
}

impl Circuit {
    fn success(&mut self) {
        self.consecutive = 0;
    }

    fn failure(&mut self, e: &FetchError, cfg: &crate::config::FtpConfig) {
        if !e.systemic() {
            return;
        }
        self.consecutive += 1;
        if self.limit > 0 && self.consecutive >= self.limit && self.open.is_none() {
            let what = match e {
                FetchError::Refused(_) => "BOM's FTP server refused us",
                _ => "BOM's FTP server did not answer in time",
            };
            self.open = Some(format!(
                "{} attempts in a row failed: {what} ({e}); check ftp.host ({}), ftp.port ({}) \
                 and ftp.user, raise ftp.timeout_secs for a slow link, and keep ftp.poll_minutes \
                 at 10 or more",
                self.consecutive, cfg.host, cfg.port
            ));
        }
    }
}

/// The months of a station's daily tables to fetch on `today` (its local
/// date): this month, and the previous one on the 1st and 2nd (yesterday's
/// row is in it).
pub fn table_months(today: NaiveDate) -> Vec<(i32, u32)> {
    let mut out = vec![(today.year(), today.month())];
    if today.day() <= 2 {
        let prev = today - chrono::Days::new(today.day() as u64);
        out.insert(0, (prev.year(), prev.month()));
    }
    out
}

/// Whether the daily tables are due at `now`: once a day, at the first
/// poll after 10:00 in Perth (the westernmost zone: by then every station's
/// table has been re-issued with yesterday's row).
pub fn daily_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default();
    let (today, time) = Zone::Perth.local(now);
    let since = if time >= ten {
        Zone::Perth.utc(today, ten)
    } else {
        Zone::Perth.utc(today - chrono::Days::new(1), ten)
    };
    last.is_none_or(|t| t < since)
}

/// Download one file with the session (opened on demand; dropped after an
/// error so that the next download starts clean).
async fn download(
    session: &mut Option<Session>,
    cfg: &crate::config::FtpConfig,
    path: &str,
) -> Result<Vec<u8>, FetchError> {
    if session.is_none() {
        *session = Some(Session::open(cfg).await?);
    }
    let Some(s) = session.as_mut() else {
        return Err(FetchError::Failed("no session".into()));
    };
    match s.get(path).await {
        Ok(body) => Ok(body),
        Err(e) => {
            // A 550 leaves the session usable; anything else may not.
            if !matches!(e, FetchError::NotFound(_)) {
                *session = None;
            }
            Err(e)
        }
    }
}

/// One poll at `now`: the observation products, the daily tables when
/// `daily`, then the assembly of each station's recent days.
pub async fn poll(
    store: &Store,
    config: &Config,
    now: DateTime<Utc>,
    daily: bool,
    cancel: &CancellationToken,
) -> PollReport {
    let cfg = &config.ftp;
    let feeds = feeds::feeds();
    let mut report = PollReport {
        at: now,
        products: Vec::new(),
        tables: Vec::new(),
        readings_new: 0,
        missing_stations: Vec::new(),
        assembled: AssembleCounts::default(),
        aborted: None,
        message: String::new(),
    };
    let mut circuit = Circuit {
        limit: cfg.fail_fast_after,
        consecutive: 0,
        open: None,
    };
    let mut session: Option<Session> = None;
    let pause = Duration::from_millis(
        if crate::ingest::bom::is_loopback(&format!("ftp://{}/", cfg.host)) {
            0
        } else {
            cfg.delay_ms
        },
    );
    let mut touched: Vec<Feed> = Vec::new();

    for product in feeds::products(&feeds) {
        if circuit.open.is_some() || cancel.is_cancelled() {
            break;
        }
        crate::runtime::pause(pause).await;
        let path = feeds::product_path(&cfg.observations_dir, product);
        let outcome = match download(&mut session, cfg, &path).await {
            Ok(body) => {
                circuit.success();
                let parsed = {
                    let product = product.to_string();
                    crate::runtime::spawn_blocking(move || xml::parse(&body, &product)).await
                };
                match parsed {
                    Ok(Ok(p)) => {
                        let in_product: Vec<&Feed> =
                            feeds.iter().filter(|f| f.product == product).collect();
                        let mut ours = Vec::new();
                        for f in &in_product {
                            match p.readings.iter().find(|r| r.station == f.number) {
                                Some(r) => {
                                    ours.push((r.station.clone(), r.observed_at, r.fields.clone()));
                                    touched.push(**f);
                                }
                                None => report.missing_stations.push(format!(
                                    "{} ({}) is not in {product}",
                                    f.station.location, f.number
                                )),
                            }
                        }
                        let stored = {
                            let store = store.clone();
                            let product = product.to_string();
                            crate::runtime::spawn_blocking(move || {
                                store.insert_readings(&product, &ours)
                            })
                            .await
                        };
                        match stored {
                            Ok(Ok(n)) => {
                                report.readings_new += n;
                                metrics::counter!("raincast_ftp_readings_total").increment(n);
                                let mut m = format!(
                                    "{} stations, {} of ours, {n} new readings",
                                    p.readings.len(),
                                    in_product.len()
                                        - report
                                            .missing_stations
                                            .iter()
                                            .filter(|s| s.ends_with(product))
                                            .count()
                                );
                                if !p.unreadable.is_empty() {
                                    m += &format!(
                                        "; {} unreadable values stored as missing (e.g. {})",
                                        p.unreadable.len(),
                                        p.unreadable[0]
                                    );
                                }
                                outcome(&path, "ok", m)
                            }
                            Ok(Err(e)) => outcome(&path, "failed", format!("database: {e}")),
                            Err(e) => outcome(&path, "failed", format!("database task: {e}")),
                        }
                    }
                    Ok(Err(e)) => outcome(
                        &path,
                        "rejected",
                        format!("file rejected, nothing stored: {e}"),
                    ),
                    Err(e) => outcome(&path, "failed", format!("parser task: {e}")),
                }
            }
            Err(e) => {
                circuit.failure(&e, cfg);
                outcome(&path, e.status(), e.to_string())
            }
        };
        record(store, &outcome).await;
        report.products.push(outcome);
    }

    if daily {
        for f in &feeds {
            for month in table_months(Zone::of(f.station).local(now).0) {
                if circuit.open.is_some() || cancel.is_cancelled() {
                    break;
                }
                crate::runtime::pause(pause).await;
                let path = feeds::daily_path(&cfg.daily_dir, f.station, month);
                let outcome = match download(&mut session, cfg, &path).await {
                    Ok(body) => {
                        circuit.success();
                        match daily::parse(&body, month) {
                            Ok(rows) => {
                                let store = store.clone();
                                let (number, file, n) = (f.number, path.clone(), rows.len());
                                let r = crate::runtime::spawn_blocking(move || {
                                    store.upsert_daily_table(number, &file, &rows)
                                })
                                .await;
                                match r {
                                    Ok(Ok(())) => {
                                        touched.push(*f);
                                        outcome(&path, "ok", format!("{n} days"))
                                    }
                                    Ok(Err(e)) => {
                                        outcome(&path, "failed", format!("database: {e}"))
                                    }
                                    Err(e) => {
                                        outcome(&path, "failed", format!("database task: {e}"))
                                    }
                                }
                            }
                            Err(e) => outcome(
                                &path,
                                "rejected",
                                format!("file rejected, nothing stored: {e}"),
                            ),
                        }
                    }
                    Err(e) => {
                        circuit.failure(&e, cfg);
                        outcome(&path, e.status(), e.to_string())
                    }
                };
                if outcome.status != "ok" {
                    record(store, &outcome).await;
                }
                report.tables.push(outcome);
            }
        }
    }
    if let Some(s) = session.take() {
        s.quit().await;
    }

    // Assemble the recent days of every station something arrived for.
    touched.sort_by_key(|f| f.station.location);
    touched.dedup_by_key(|f| f.station.location);
    let tolerance = chrono::Duration::minutes(i64::from(cfg.tolerance_minutes));
    let assembled = {
        let store = store.clone();
        let order = config.sources.clone();
        crate::runtime::spawn_blocking(move || {
            assemble_recent(&store, &touched, now, tolerance, &order)
        })
        .await
    };
    let mut notes = Vec::new();
    match assembled {
        Ok(Ok(c)) => report.assembled = c,
        Ok(Err(e)) => notes.push(format!("assembling failed: {e}")),
        Err(e) => notes.push(format!("assembling failed: {e}")),
    }
    report.aborted = circuit.open.clone();
    report.message = message(&report, &notes);
    let status = if report.failed() { "failed" } else { "ok" };
    metrics::counter!("raincast_ftp_polls_total", "status" => status).increment(1);
    let store2 = store.clone();
    let (msg, tables) = (report.message.clone(), !report.tables.is_empty());
    let _ = crate::runtime::spawn_blocking(move || {
        store2.set_ftp_status("poll", status, &msg)?;
        if tables {
            store2.set_ftp_status("daily", status, &msg)?;
        }
        Ok::<_, crate::store::StoreError>(())
    })
    .await;
    if report.failed() {
        tracing::warn!(message = %report.message, "FTP poll failed");
    } else {
        tracing::info!(message = %report.message, "FTP poll");
    }
    report
}

fn outcome(path: &str, status: &str, message: String) -> FileOutcome {
    FileOutcome {
        path: path.to_string(),
        status: status.to_string(),
        message,
    }
}

async fn record(store: &Store, o: &FileOutcome) {
    let (store, o) = (store.clone(), o.clone());
    let r = crate::runtime::spawn_blocking(move || {
        store.set_ftp_status(&o.path, &o.status, &o.message)
    })
    .await;
    if let Ok(Err(e)) = r {
        tracing::warn!(error = %e, "cannot record the FTP outcome");
    }
}

/// Assemble and store the last three local days (and today) of `feeds`.
pub fn assemble_recent(
    store: &Store,
    feeds: &[Feed],
    now: DateTime<Utc>,
    tolerance: chrono::Duration,
    order: &crate::config::SourcesConfig,
) -> Result<AssembleCounts, crate::store::StoreError> {
    let mut rows = Vec::new();
    for f in feeds {
        let today = Zone::of(f.station).local(now).0;
        for back in (0..=3).rev() {
            let date = today - chrono::Days::new(back);
            let (from, to) = assemble::reading_window(f.station, date, tolerance);
            let readings = store.readings_between(f.number, from, to.min(now))?;
            let table = store.daily_rows(f.number, date, date)?;
            if let Some(a) =
                assemble::assemble(f.station, date, &readings, table.first(), tolerance)
            {
                rows.push(a);
            }
        }
    }
    store.store_assembled(&rows, order)
}

fn message(r: &PollReport, notes: &[String]) -> String {
    let ok = |v: &[FileOutcome]| v.iter().filter(|f| f.status == "ok").count();
    let mut parts = vec![format!(
        "{} of {} observation products, {} new readings",
        ok(&r.products),
        r.products.len(),
        r.readings_new
    )];
    if !r.tables.is_empty() {
        parts.push(format!(
            "{} of {} daily tables",
            ok(&r.tables),
            r.tables.len()
        ));
    }
    let a = &r.assembled;
    parts.push(format!(
        "days assembled: {} new, {} updated, {} unchanged, {} kept from the website ({} fields compared)",
        a.inserted, a.updated, a.unchanged, a.kept, a.compared
    ));
    if !r.missing_stations.is_empty() {
        parts.push(format!(
            "{} stations missing from their product: {}",
            r.missing_stations.len(),
            r.missing_stations.join(", ")
        ));
    }
    for f in r
        .products
        .iter()
        .chain(&r.tables)
        .filter(|f| f.status != "ok")
    {
        parts.push(format!("{} {}: {}", f.path, f.status, f.message));
        if parts.len() > 8 {
            parts.push("…".into());
            break;
        }
    }
    parts.extend(notes.iter().cloned());
    let mut m = parts.join("; ");
    if let Some(cause) = &r.aborted {
        m = format!("stopped early: {cause}; {m}");
    }
    m
}

/// Poll every `ftp.poll_minutes` on `clock` until `cancel`: the FTP
/// channel of `serve` (when `sources.order` names `ftp`).
pub async fn run_poller(
    store: Store,
    config: std::sync::Arc<Config>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    cancel: CancellationToken,
) {
    let every = Duration::from_secs(config.ftp.poll_minutes.max(10) * 60);
    loop {
        let now = clock.now();
        let last_daily = {
            let store = store.clone();
            crate::runtime::spawn_blocking(move || store.ftp_status("daily"))
                .await
                .ok()
                .and_then(|r| r.ok().flatten())
                .and_then(|s| DateTime::parse_from_rfc3339(&s.at).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        poll(&store, &config, now, daily_due(last_daily, now), &cancel).await;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
