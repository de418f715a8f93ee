//! A time-aware stand-in for BOM's DWO pages, serving the bundled archive of
//! real files (2024-08 to 2025-09, `data/bom/`) as BOM would have served them
//! at a given moment, in each station's local time ([`crate::issue`]): a
//! day's row appears after its 9 am observations with the morning's fields,
//! takes the 3 pm fields in the afternoon, and its MaxTemp, Sunshine and gust
//! the next morning; earlier months are whole, future months (and months
//! outside the archive) are 404. Faults can be set for chosen days. Used by the tests, the scrape
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
use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::clock::Clock;
use crate::issue::{Stage, Visibility};
use crate::stations::{self, Station};

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

/// The oldest day in the archive (the first row of its oldest month).
pub fn archive_start(files: &Files) -> Option<NaiveDate> {
    files.values().flat_map(|f| data_dates(f)).min()
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

/// `file` as BOM showed it on `today` once its day was complete: rows
/// dated before `today`, each final.
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

/// The DWO columns (0 is the empty first field, 1 the date) that BOM fills
/// only the next morning: MaxTemp, Sunshine, the gust's direction, speed
/// and time.
const FINAL_COLUMNS: [usize; 5] = [3, 6, 7, 8, 9];
/// The 3 pm columns: temperature, humidity, cloud, wind direction and
/// speed, MSL pressure.
const AFTERNOON_COLUMNS: [usize; 6] = [16, 17, 18, 19, 20, 21];

/// `file`, a station's DWO month, as BOM showed it at `now`: each row at
/// its [`Stage`] in the station's local time (hidden rows left out, fields
/// not yet published empty).
pub fn as_shown(file: &[u8], station: &Station, now: DateTime<Utc>, v: &Visibility) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.len());
    for line in file.split_inclusive(|&b| b == b'\n') {
        let Some(d) = row_date(line) else {
            out.extend_from_slice(line);
            continue;
        };
        match v.stage(station, d, now) {
            Stage::Hidden => {}
            Stage::Final => out.extend_from_slice(line),
            stage => out.extend_from_slice(&blank_columns(line, stage)),
        }
    }
    out
}

/// A data row with the columns BOM had not published at `stage` emptied.
fn blank_columns(line: &[u8], stage: Stage) -> Vec<u8> {
    let body_end = line
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(0, |i| i + 1);
    let (body, ending) = line.split_at(body_end);
    let mut out = Vec::with_capacity(line.len());
    for (i, field) in body.split(|&b| b == b',').enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let hidden = FINAL_COLUMNS.contains(&i)
            || (stage < Stage::Afternoon && AFTERNOON_COLUMNS.contains(&i));
        if !hidden {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(ending);
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
    visibility: Visibility,
}

impl BomSim {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            files: archive(),
            clock,
            faults: Arc::default(),
            requests: Arc::default(),
            visibility: Visibility::current(),
        }
    }

    /// Show fields at other times of day than [`Visibility::default`].
    pub fn with_visibility(mut self, v: Visibility) -> Self {
        self.visibility = v;
        self
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

    /// The answer for one month's file at the simulated moment, in the
    /// station's local time.
    pub fn answer(&self, month: &str, file: &str) -> Result<Vec<u8>, (StatusCode, String)> {
        let now = self.clock.now();
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
        let (code, _) = stem.split_once('.').ok_or_else(not_found)?;
        let station = stations::by_dwo_code(code).ok_or_else(not_found)?;
        let today = crate::issue::local_date(station, now);
        if (y, m) > (today.year(), today.month()) {
            return Err(not_found());
        }
        let body = self.files.get(stem).ok_or_else(not_found)?;
        Ok(as_shown(body, station, now, &self.visibility))
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
    use crate::obs::{Num, Observation};
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
    fn the_current_month_holds_todays_partial_row_and_the_future_is_404() {
        // Noon in Sydney on 10 Sep 2024: the 10th shows its morning only.
        let sim = sim_on(2024, 9, 10);
        let body = sim.answer("202409", "IDCJDW2124.202409.csv").unwrap();
        let dates: Vec<NaiveDate> = data_dates(&body).collect();
        assert_eq!(dates.len(), 10);
        assert_eq!(
            dates.last(),
            Some(&NaiveDate::from_ymd_opt(2024, 9, 10).unwrap())
        );
        let rows = crate::ingest::dwo::parse(&body, "Sydney", 2024, 9)
            .unwrap()
            .observations;
        let (today, yesterday) = (&rows[9], &rows[8]);
        assert!(today.get(Num::Temp9am).is_some() && today.get(Num::Rainfall).is_some());
        assert!(today.get(Num::Temp3pm).is_none() && today.get(Num::MaxTemp).is_none());
        assert!(yesterday.get(Num::MaxTemp).is_some() && yesterday.get(Num::Temp3pm).is_some());
        // The month before is whole; comment and header lines are kept.
        let aug = sim.answer("202408", "IDCJDW2124.202408.csv").unwrap();
        assert_eq!(data_dates(&aug).count(), 31);
        assert_eq!(
            sim.answer("202410", "IDCJDW2124.202410.csv").unwrap_err().0,
            StatusCode::NOT_FOUND
        );
        // Outside the archive, or a name that does not match its folder.
        assert!(sim.answer("202407", "IDCJDW2124.202407.csv").is_err());
        assert!(sim.answer("202408", "IDCJDW2124.202409.csv").is_err());
        // At noon on the 1st, September's last day is final.
        let first = sim_on(2024, 10, 1);
        let sep = first.answer("202409", "IDCJDW2124.202409.csv").unwrap();
        assert_eq!(sep, files_final("IDCJDW2124.202409"));
    }

    fn files_final(stem: &str) -> Vec<u8> {
        archive().get(stem).unwrap().to_vec()
    }

    fn at(sim: &BomSim, clock: &FakeClock, t: DateTime<Utc>, stem: &str) -> Vec<Observation> {
        clock.set(t);
        let (code, ym) = stem.split_once('.').unwrap();
        let body = sim.answer(ym, &format!("{stem}.csv")).unwrap();
        let st = stations::by_dwo_code(code).unwrap();
        let (y, m) = (ym[..4].parse().unwrap(), ym[4..].parse().unwrap());
        crate::ingest::dwo::parse(&body, st.location, y, m)
            .unwrap()
            .observations
    }

    /// Sydney, Perth and Darwin through 6 October 2024, the day daylight
    /// saving begins in Sydney, hour by hour: the day's row appears at 10:00
    /// local with its morning fields, takes the 3 pm fields at 16:30 and its
    /// MaxTemp, Sunshine and gust at 10:00 the next day; once final it
    /// equals the archive's row, parsed by hand from the final file.
    #[test]
    fn rows_appear_hour_by_hour_in_each_stations_time() {
        let day = NaiveDate::from_ymd_opt(2024, 10, 6).unwrap();
        let clock = Arc::new(FakeClock::new(chrono::Utc::now()));
        let sim = BomSim::new(clock.clone());
        for (stem, morning_utc) in [
            ("IDCJDW2124.202410", (10, 5, 23)), // 10:00 AEDT
            ("IDCJDW6110.202410", (10, 6, 2)),  // 10:00 AWST
            ("IDCJDW8014.202410", (10, 6, 0)),  // 10:00 ACST (00:30)
        ] {
            let (m, d, h) = morning_utc;
            let min = if stem.starts_with("IDCJDW8") { 30 } else { 0 };
            let first = chrono::Utc.with_ymd_and_hms(2024, m, d, h, min, 0).unwrap();
            let final_rows = {
                let (code, _) = stem.split_once('.').unwrap();
                let st = stations::by_dwo_code(code).unwrap();
                crate::ingest::dwo::parse(&files_final(stem), st.location, 2024, 10)
                    .unwrap()
                    .observations
            };
            let want = final_rows.iter().find(|o| o.date == day).unwrap();
            let row = |t| {
                at(&sim, &clock, t, stem)
                    .into_iter()
                    .find(|o| o.date == day)
            };
            let minute = chrono::Duration::minutes(1);
            assert!(row(first - minute).is_none(), "{stem}: hidden before 10:00");
            let morning = row(first).expect("shown at 10:00");
            assert_eq!(morning, Stage::Morning.mask(want), "{stem} morning");
            let afternoon_at = first + chrono::Duration::minutes(390);
            assert_eq!(row(afternoon_at - minute).unwrap(), morning, "{stem}");
            let afternoon = row(afternoon_at).unwrap();
            assert_eq!(afternoon, Stage::Afternoon.mask(want), "{stem} afternoon");
            let next = first + chrono::Duration::hours(24);
            assert_eq!(row(next - minute).unwrap(), afternoon, "{stem}");
            assert_eq!(&row(next).unwrap(), want, "{stem} final");
        }
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
