//! A time-aware stand-in for BOM's DWO pages, serving the bundled archive of
//! real files (2024-08 to 2025-09, `data/bom/`) as BOM would have served them
//! on a given day: the current month holds only the days up to yesterday,
//! earlier months are whole, future months (and months outside the archive)
//! are 404. Faults can be set for chosen days. Used by the tests, the scrape
//! benchmark and `raincast bom-server`, so raincast can run on a real
//! timeline with no network.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, NaiveDate};

use crate::clock::Clock;

/// The archive of real DWO files, compressed, inside the binary.
pub const ARCHIVE_TGZ: &[u8] = include_bytes!("../data/bom/bom_dwo_raw_2024-08_2025-09.tar.gz");

/// File name stem (`IDCJDW2124.202409`) → raw bytes, as BOM served them.
pub type Files = HashMap<String, Arc<Vec<u8>>>;

/// The bundled archive, unpacked once per process.
pub fn archive() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| unpack(ARCHIVE_TGZ).expect("the bundled BOM archive unpacks"))
}

/// Unpack a `.tar.gz` of `IDCJDWnnnn.YYYYMM.csv` files.
pub fn unpack(tgz: &[u8]) -> std::io::Result<Files> {
    let mut files = HashMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".csv") {
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes)?;
            files.insert(stem.to_string(), Arc::new(bytes));
        }
    }
    Ok(files)
}

/// The newest day in the archive (the last row of its newest month).
pub fn archive_end(files: &Files) -> Option<NaiveDate> {
    files.values().flat_map(|f| data_dates(f)).max()
}

/// Dates of a DWO file's data rows (`,2024-09-1,…`).
fn data_dates(file: &[u8]) -> impl Iterator<Item = NaiveDate> + '_ {
    file.split(|&b| b == b'\n').filter_map(row_date)
}

fn row_date(line: &[u8]) -> Option<NaiveDate> {
    let line = line.strip_prefix(b",")?;
    let end = line.iter().position(|&b| b == b',')?;
    let text = std::str::from_utf8(&line[..end]).ok()?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// `file` as BOM showed it on `today`: rows dated before `today` only.
pub fn as_of(file: &[u8], today: NaiveDate) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.len());
    for line in file.split_inclusive(|&b| b == b'\n') {
        match row_date(line) {
            Some(d) if d >= today => {}
            _ => out.extend_from_slice(line),
        }
    }
    out
}

/// The file with its last reported rainfall raised by 12.4 mm.
fn revise_last_rainfall(file: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = file.split_inclusive(|&b| b == b'\n').collect();
    let rain = |l: &[u8]| {
        String::from_utf8_lossy(l)
            .split(',')
            .nth(4)
            .and_then(|r| r.trim().parse::<f64>().ok())
    };
    let Some(last) = lines
        .iter()
        .rposition(|l| row_date(l).is_some() && rain(l).is_some())
    else {
        return file.to_vec();
    };
    let mut out = Vec::with_capacity(file.len() + 8);
    for (i, line) in lines.iter().enumerate() {
        if i != last {
            out.extend_from_slice(line);
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let mut fields: Vec<String> = text.split(',').map(String::from).collect();
        if let Some(rain) = fields.get_mut(4) {
            let v: f64 = rain.trim().parse().unwrap_or(0.0);
            *rain = format!("{:.1}", v + 12.4);
        }
        out.extend_from_slice(fields.join(",").as_bytes());
    }
    out
}

/// What to do instead of serving a file normally, on a chosen day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Connections are accepted and reset at once, as a refused or
    /// unreachable host looks to the client.
    Refuse,
    /// 403 with BOM's firewall "Access Denied" HTML page.
    Forbidden,
    /// 500 Internal Server Error.
    ServerError,
    /// The file cut after its header and 5 data rows, with status 200.
    Truncated,
    /// An HTML maintenance page with status 200.
    HtmlOk,
    /// The previous month's file as a preliminary version: its last day's
    /// rainfall reads 12.4 mm more. BOM revises the previous month during
    /// the first days of a new month; the next day serves the final file.
    Revised,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "refuse" => Fault::Refuse,
            "403" | "forbidden" => Fault::Forbidden,
            "500" | "server-error" => Fault::ServerError,
            "truncated" => Fault::Truncated,
            "html" => Fault::HtmlOk,
            "revised" => Fault::Revised,
            other => {
                return Err(format!(
                    "unknown fault `{other}`: use refuse, forbidden, server-error, truncated, html or revised"
                ));
            }
        })
    }
}

/// The simulated BOM: the archive, a clock that says which day it is in
/// eastern Australia, and faults by day.
#[derive(Clone)]
pub struct BomSim {
    files: &'static Files,
    clock: Arc<dyn Clock>,
    faults: Arc<Mutex<HashMap<NaiveDate, Fault>>>,
    requests: Arc<Mutex<u64>>,
}

impl BomSim {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            files: archive(),
            clock,
            faults: Arc::default(),
            requests: Arc::default(),
        }
    }

    /// Fail every request made on `day` (BOM's day) with `fault`.
    pub fn fault_on(&self, day: NaiveDate, fault: Fault) {
        if let Ok(mut f) = self.faults.lock() {
            f.insert(day, fault);
        }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.lock().map_or(0, |n| *n)
    }

    /// The fault set for BOM's current day, if any.
    pub fn fault_today(&self) -> Option<Fault> {
        let today = self.clock.bom_today();
        self.faults.lock().ok().and_then(|f| f.get(&today).copied())
    }

    /// Serve on `listener` until the task is dropped. On a day with
    /// [`Fault::Refuse`], connections are reset as soon as they open.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let app = self.router();
        axum::serve(
            SimListener {
                inner: listener,
                sim: self,
            },
            app,
        )
        .await
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/climate/dwo/{month}/text/{file}", get(dwo))
            .with_state(self.clone())
    }

    /// The answer for one month's file on the simulated day.
    pub fn answer(&self, month: &str, file: &str) -> Result<Vec<u8>, (StatusCode, String)> {
        let today = self.clock.bom_today();
        let not_found = || {
            (
                StatusCode::NOT_FOUND,
                "<html><head><title>404 Not Found</title></head><body><h1>Page not found</h1></body></html>"
                    .to_string(),
            )
        };
        let stem = file.strip_suffix(".csv").ok_or_else(not_found)?;
        let (_, ym) = stem.split_once('.').ok_or_else(not_found)?;
        if ym != month || ym.len() != 6 {
            return Err(not_found());
        }
        let y: i32 = ym[..4].parse().map_err(|_| not_found())?;
        let m: u32 = ym[4..].parse().map_err(|_| not_found())?;
        if (y, m) > (today.year(), today.month()) {
            return Err(not_found());
        }
        let body = self.files.get(stem).ok_or_else(not_found)?;
        Ok(as_of(body, today))
    }
}

/// Accepts connections, but resets them on a day with [`Fault::Refuse`].
struct SimListener {
    inner: tokio::net::TcpListener,
    sim: BomSim,
}

impl axum::serve::Listener for SimListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    if self.sim.fault_today() == Some(Fault::Refuse) {
                        // A zero linger makes the close a reset (RST).
                        let _ = stream.set_zero_linger();
                        drop(stream);
                        continue;
                    }
                    return (stream, addr);
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

const ACCESS_DENIED: &str = "<!DOCTYPE html><html><head><title>Access Denied</title></head><body>\
<h1>Access Denied</h1><p>You don't have permission to access this page on this server.</p>\
<p>Reference #18.6f3c1402.1757123456.2a9b1c3</p></body></html>";

const MAINTENANCE: &str = "<!DOCTYPE html><html><head><title>Bureau of Meteorology - Site maintenance</title></head>\
<body><h1>This service is temporarily unavailable</h1><p>Please try again later.</p></body></html>";

async fn dwo(State(sim): State<BomSim>, Path((month, file)): Path<(String, String)>) -> Response {
    if let Ok(mut n) = sim.requests.lock() {
        *n += 1;
    }
    let fault = sim
        .faults
        .lock()
        .ok()
        .and_then(|f| f.get(&sim.clock.bom_today()).copied());
    let html = |status: StatusCode, body: &'static str| {
        (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
    };
    match fault {
        // Connections are reset by the listener; one opened just before the
        // fault began gets the same treatment as far as HTTP allows.
        Some(Fault::Refuse) => return html(StatusCode::SERVICE_UNAVAILABLE, MAINTENANCE),
        Some(Fault::Forbidden) => return html(StatusCode::FORBIDDEN, ACCESS_DENIED),
        Some(Fault::ServerError) => return html(StatusCode::INTERNAL_SERVER_ERROR, MAINTENANCE),
        Some(Fault::HtmlOk) => return html(StatusCode::OK, MAINTENANCE),
        Some(Fault::Truncated | Fault::Revised) | None => {}
    }
    match sim.answer(&month, &file) {
        Ok(mut body) => {
            if fault == Some(Fault::Revised) {
                let today = sim.clock.bom_today();
                let prev = today - chrono::Days::new(u64::from(today.day()));
                if month == prev.format("%Y%m").to_string() {
                    body = revise_last_rainfall(&body);
                }
            }
            if fault == Some(Fault::Truncated) {
                let mut rows = 0;
                let mut cut = body.len();
                for (i, line) in body.split_inclusive(|&b| b == b'\n').scan(0, |pos, l| {
                    let at = *pos;
                    *pos += l.len();
                    Some((at + l.len(), l))
                }) {
                    if row_date(line).is_some() {
                        rows += 1;
                        if rows == 5 {
                            cut = i;
                            break;
                        }
                    }
                }
                body.truncate(cut);
            }
            (
                [(header::CONTENT_TYPE, "text/csv; charset=ISO-8859-1")],
                body,
            )
                .into_response()
        }
        Err((status, body)) => {
            (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use chrono::TimeZone;

    fn sim_on(y: i32, m: u32, d: u32) -> BomSim {
        // 02:00 UTC is noon in eastern Australia: BOM's day is the same date.
        let at = chrono::Utc.with_ymd_and_hms(y, m, d, 2, 0, 0).unwrap();
        BomSim::new(Arc::new(FakeClock::new(at)))
    }

    #[test]
    fn the_archive_holds_686_real_files_up_to_september_2025() {
        let files = archive();
        assert_eq!(files.len(), 686);
        let end = archive_end(files).unwrap();
        assert_eq!((end.year(), end.month()), (2025, 9));
    }

    #[test]
    fn the_current_month_holds_days_up_to_yesterday_and_the_future_is_404() {
        let sim = sim_on(2024, 9, 10);
        let body = sim.answer("202409", "IDCJDW2124.202409.csv").unwrap();
        let dates: Vec<NaiveDate> = data_dates(&body).collect();
        assert_eq!(dates.len(), 9);
        assert_eq!(
            dates.last(),
            Some(&NaiveDate::from_ymd_opt(2024, 9, 9).unwrap())
        );
        // The month before is whole; comment and header lines are kept.
        let aug = sim.answer("202408", "IDCJDW2124.202408.csv").unwrap();
        assert_eq!(data_dates(&aug).count(), 31);
        assert!(crate::ingest::dwo::parse(&body, "Sydney", 2024, 9).is_ok());
        assert_eq!(
            sim.answer("202410", "IDCJDW2124.202410.csv").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
        // Outside the archive, or a name that does not match its folder.
        assert!(sim.answer("202407", "IDCJDW2124.202407.csv").is_err());
        assert!(sim.answer("202408", "IDCJDW2124.202409.csv").is_err());
        // On the 1st, the new month has its header and no rows.
        let first = sim_on(2024, 10, 1);
        let oct = first.answer("202409", "IDCJDW2124.202409.csv").unwrap();
        assert_eq!(data_dates(&oct).count(), 30);
    }

    #[test]
    fn a_revised_previous_month_differs_in_one_rainfall_only() {
        let sim = sim_on(2024, 10, 1);
        let file = sim.answer("202409", "IDCJDW2124.202409.csv").unwrap();
        let revised = revise_last_rainfall(&file);
        let rain = |f: &[u8]| {
            crate::ingest::dwo::parse(f, "Sydney", 2024, 9)
                .unwrap()
                .observations
                .iter()
                .map(|o| o.get(crate::obs::Num::Rainfall))
                .collect::<Vec<_>>()
        };
        let (a, b) = (rain(&file), rain(&revised));
        assert_eq!(a.len(), 30);
        assert_eq!(a[..29], b[..29]);
        assert!((b[29].unwrap() - a[29].unwrap() - 12.4).abs() < 1e-9);
    }

    #[test]
    fn faults_parse_by_name() {
        assert_eq!("forbidden".parse::<Fault>(), Ok(Fault::Forbidden));
        assert!("nope".parse::<Fault>().is_err());
    }
}
