//! A stand-in for BOM's anonymous FTP service on 127.0.0.1: a real FTP
//! server (libunftp, passive mode) whose files are made when asked for,
//! from the bundled archive of real DWO files ([`crate::bomsim`]) at the
//! simulated time, in BOM's formats:
//!
//! - the state observation products (`IDx60920.xml`, schema v1.7 as in
//!   `data/bom/samples/IDN60920.2020-07-29.excerpt.xml`): for each of our
//!   stations in the state, its latest reading at or before the simulated
//!   time. The archive holds three moments of a day, so those are the
//!   readings: 9 am local (the 9 am fields, the rain to 9 am, the overnight
//!   minimum), the gust's time (the day's maximum gust) and 3 pm local (the
//!   3 pm fields, and the gust when it came earlier);
//! - the daily climate tables: a station's month, with each day whose row
//!   is final at the simulated time ([`crate::issue::Stage::Final`]).
//!
//! Fixed files may be put at any path (real samples, malformed files), and
//! faults set: refused logins, stalled or truncated transfers. Used by the
//! tests (and, like the website's stand-in, by anything that needs BOM's
//! FTP without a network).
//!
//! What the stand-in holds and renders is here; the FTP server around it
//! (libunftp's authenticator and storage back end, the faults) is in
//! `server`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};

use crate::bomsim::{Files, archive};
use crate::clock::Clock;
use crate::ingest::ftp::{daily, feeds};
use crate::issue::{Stage, Visibility, Zone, nine_am};
use crate::obs::{Compass, Dir, Num, Observation};
use crate::stations::Station;

mod server;

pub use server::{Running, start};
/// What to do instead of serving normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpFault {
    /// Every login answered 530.
    RefuseLogin,
    /// Every transfer sends its first half, then nothing more, ever.
    Stall,
    /// Every transfer sends its first half and ends as if complete.
    Truncate,
}

/// The stand-in's state, shared with every connection.
#[derive(Clone)]
pub struct FtpSim {
    clock: Arc<dyn Clock>,
    files: &'static Files,
    fixed: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    fault: Arc<Mutex<Option<FtpFault>>>,
    visibility: Visibility,
    /// Parsed archive months: (dwo code, year, month) → rows with gust times.
    months: Arc<Mutex<MonthCache>>,
    requests: Arc<Mutex<u64>>,
}

impl Debug for FtpSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FtpSim")
    }
}

/// Parsed archive months: (dwo code, year, month) → days.
type MonthCache = HashMap<(String, i32, u32), Arc<Vec<Day>>>;

/// One archive day: its row and the gust's local time.
#[derive(Debug, Clone)]
struct Day {
    obs: Observation,
    gust_time: Option<NaiveTime>,
}

fn key(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches('/').to_string()
}

impl FtpSim {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            files: archive(),
            fixed: Arc::default(),
            fault: Arc::default(),
            visibility: Visibility::default(),
            months: Arc::default(),
            requests: Arc::default(),
        }
    }

    /// Serve `bytes` at `path` (instead of anything rendered there).
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        if let Ok(mut f) = self.fixed.lock() {
            f.insert(path.trim_start_matches('/').to_string(), bytes);
        }
    }

    /// Serve nothing at `path` (550), whatever would be rendered there.
    pub fn remove(&self, path: &str) {
        self.put(path, Vec::new());
    }

    pub fn set_fault(&self, fault: Option<FtpFault>) {
        if let Ok(mut f) = self.fault.lock() {
            *f = fault;
        }
    }

    fn fault(&self) -> Option<FtpFault> {
        self.fault.lock().ok().and_then(|f| *f)
    }

    /// Files asked for so far.
    pub fn requests(&self) -> u64 {
        self.requests.lock().map_or(0, |n| *n)
    }

    /// The file at `path` now, if there is one.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        let path = path.trim_start_matches('/');
        if let Some(b) = self.fixed.lock().ok().and_then(|f| f.get(path).cloned()) {
            return (!b.is_empty()).then_some(b);
        }
        let now = self.clock.now();
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some(product) = name.strip_suffix(".xml") {
            return self.render_product(product, now);
        }
        let stem = name.strip_suffix(".csv")?;
        let (slug, yyyymm) = stem.rsplit_once('-')?;
        let year: i32 = yyyymm.get(..4)?.parse().ok()?;
        let month: u32 = yyyymm.get(4..)?.parse().ok()?;
        let station = crate::stations::STATIONS
            .iter()
            .find(|s| feeds::daily_slug(s) == slug)?;
        self.render_table(station, (year, month), now)
    }

    fn month(&self, station: &Station, year: i32, month: u32) -> Option<Arc<Vec<Day>>> {
        let k = (station.dwo_code.to_string(), year, month);
        if let Some(m) = self.months.lock().ok().and_then(|m| m.get(&k).cloned()) {
            return Some(m);
        }
        let raw = self
            .files
            .get(&format!("{}.{year:04}{month:02}", station.dwo_code))?;
        let parsed = crate::ingest::dwo::parse(raw, station.location, year, month).ok()?;
        let times: HashMap<NaiveDate, NaiveTime> = raw
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let text = String::from_utf8_lossy(line);
                let cells: Vec<&str> = text.split(',').collect();
                let date = NaiveDate::parse_from_str(cells.get(1)?.trim(), "%Y-%m-%d").ok()?;
                let time = NaiveTime::parse_from_str(cells.get(9)?.trim(), "%H:%M").ok()?;
                Some((date, time))
            })
            .collect();
        let days: Vec<Day> = parsed
            .observations
            .into_iter()
            .map(|obs| Day {
                gust_time: times.get(&obs.date).copied(),
                obs,
            })
            .collect();
        let days = Arc::new(days);
        if let Ok(mut m) = self.months.lock() {
            m.insert(k, days.clone());
        }
        Some(days)
    }

    fn day(&self, station: &Station, date: NaiveDate) -> Option<Day> {
        self.month(station, date.year(), date.month())?
            .iter()
            .find(|d| d.obs.date == date)
            .cloned()
    }

    /// The readings of `station` on `date` from the archive, oldest first:
    /// (time, element XML).
    fn readings(&self, station: &Station, date: NaiveDate) -> Vec<(DateTime<Utc>, String)> {
        let Some(day) = self.day(station, date) else {
            return Vec::new();
        };
        let z = Zone::of(station);
        let o = &day.obs;
        let at = |h: u32| z.utc(date, NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default());
        let num = |n: Num| o.get(n);
        let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let local = |t: DateTime<Utc>| {
            t.with_timezone(&z.tz())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        };
        let el = |units: &str, kind: &str, v: Option<f64>| -> String {
            v.map(|v| format!("<element units=\"{units}\" type=\"{kind}\">{v:.1}</element>"))
                .unwrap_or_default()
        };
        let span = |start: DateTime<Utc>, end: DateTime<Utc>| {
            format!(
                "start-time-local=\"{}\" end-time-local=\"{}\" start-time-utc=\"{}\" end-time-utc=\"{}\"",
                local(start),
                local(end),
                iso(start),
                iso(end)
            )
        };
        let wind = |dir: Dir, speed: Num| -> String {
            match (o.dir(dir), num(speed)) {
                (_, Some(0.0)) => {
                    "<element type=\"wind_dir\">CALM</element><element units=\"km/h\" type=\"wind_spd_kmh\">0</element>".into()
                }
                (Some(d), s) => format!(
                    "<element type=\"wind_dir\">{}</element>{}",
                    d.as_str(),
                    el("km/h", "wind_spd_kmh", s)
                ),
                (None, s) => el("km/h", "wind_spd_kmh", s),
            }
        };
        // Midnight with its own offset (Zone::utc is right from 9 am on, but
        // on a daylight-saving day midnight has the other offset).
        let at_midnight = |d: NaiveDate| {
            use chrono::TimeZone;
            z.tz()
                .from_local_datetime(&d.and_time(NaiveTime::MIN))
                .earliest()
                .map_or_else(|| z.utc(d, NaiveTime::MIN), |t| t.with_timezone(&Utc))
        };
        let (midnight, next) = (at_midnight(date), at_midnight(date + Duration::days(1)));
        let gust_at = day.gust_time.map(|t| z.utc(date, t));
        let gust = |upto: DateTime<Utc>| -> String {
            match (gust_at, num(Num::WindGustSpeed)) {
                (Some(g), Some(v)) if g <= upto => {
                    let dir = o.dir(Dir::WindGustDir).map(Compass::as_str).unwrap_or("");
                    let span = span(midnight, next);
                    let time = format!("time-utc=\"{}\" time-local=\"{}\"", iso(g), local(g));
                    format!(
                        "<element {span} units=\"km/h\" type=\"maximum_gust_kmh\" instance=\"running\" {time}>{v:.0}</element>\
                         <element {span} type=\"maximum_gust_dir\" instance=\"running\" {time}>{dir}</element>"
                    )
                }
                _ => String::new(),
            }
        };
        let nine = z.utc(date, nine_am());
        let mut out = Vec::new();
        // 9 am: the 9 am fields, rain to 9 am, the overnight minimum.
        let mut e = String::new();
        e += &el("Celsius", "air_temperature", num(Num::Temp9am));
        e += &el("%", "rel-humidity", num(Num::Humidity9am));
        e += &el("hPa", "msl_pres", num(Num::Pressure9am));
        if let Some(c) = num(Num::Cloud9am) {
            e += &format!("<element type=\"cloud_oktas\">{c:.0}</element>");
        }
        e += &wind(Dir::WindDir9am, Num::WindSpeed9am);
        let yesterday_nine = z.utc(date - Duration::days(1), nine_am());
        if let Some(r) = num(Num::Rainfall) {
            e += &format!(
                "<element {} duration=\"1440\" units=\"mm\" type=\"rainfall_24hr\">{r:.1}</element>",
                span(yesterday_nine, nine)
            );
        }
        e += &format!(
            "<element {} duration=\"0\" units=\"mm\" type=\"rainfall\">0.0</element>",
            span(nine, nine)
        );
        if let Some(m) = num(Num::MinTemp) {
            let six_pm = z.utc(
                date - Duration::days(1),
                NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
            );
            e += &format!(
                "<element {} units=\"Celsius\" type=\"minimum_air_temperature\" instance=\"running\">{m:.1}</element>",
                span(six_pm, nine)
            );
        }
        e += &gust(nine);
        out.push((nine, e));
        // The gust's own time, when it is not one of the other two.
        if let Some(g) = gust_at
            && g != nine
            && g != at(15)
        {
            out.push((g, gust(g)));
        }
        // 3 pm.
        let three = at(15);
        let mut e = String::new();
        e += &el("Celsius", "air_temperature", num(Num::Temp3pm));
        e += &el("%", "rel-humidity", num(Num::Humidity3pm));
        e += &el("hPa", "msl_pres", num(Num::Pressure3pm));
        if let Some(c) = num(Num::Cloud3pm) {
            e += &format!("<element type=\"cloud_oktas\">{c:.0}</element>");
        }
        e += &wind(Dir::WindDir3pm, Num::WindSpeed3pm);
        e += &gust(three);
        out.push((three, e));
        out.sort_by_key(|(t, _)| *t);
        out
    }

    /// The state observation product `product` as BOM showed it at `now`.
    pub fn render_product(&self, product: &str, now: DateTime<Utc>) -> Option<Vec<u8>> {
        let ours: Vec<feeds::Feed> = feeds::feeds()
            .into_iter()
            .filter(|f| f.product == product)
            .collect();
        if ours.is_empty() {
            return None;
        }
        let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let mut s = String::new();
        s.push_str("<?xml version=\"1.0\"?>\n<product xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" version=\"v1.7.1\" xsi:noNamespaceSchemaLocation=\"http://www.bom.gov.au/schema/v1.7/product.xsd\">\n");
        s.push_str(&format!(
            "  <amoc>\n    <source>\n      <sender>Australian Government Bureau of Meteorology</sender>\n      <copyright>http://www.bom.gov.au/other/copyright.shtml</copyright>\n      <disclaimer>http://www.bom.gov.au/other/disclaimer.shtml</disclaimer>\n    </source>\n    <identifier>{product}</identifier>\n    <issue-time-utc>{}</issue-time-utc>\n    <status>O</status>\n    <service>WSP</service>\n    <product-type>O</product-type>\n    <phase>NEW</phase>\n  </amoc>\n  <observations>\n",
            iso(now)
        ));
        for f in ours {
            let z = Zone::of(f.station);
            let today = z.local(now).0;
            let latest = [today - Duration::days(1), today]
                .into_iter()
                .flat_map(|d| self.readings(f.station, d))
                .rfind(|(t, _)| *t <= now);
            let Some((t, elements)) = latest else {
                continue;
            };
            s.push_str(&format!(
                "    <station wmo-id=\"\" bom-id=\"{}\" tz=\"{}\" stn-name=\"{}\" type=\"AWS\" description=\"{}\">\n      <period index=\"0\" time-utc=\"{}\" time-local=\"{}\" wind-src=\"OMD\">\n        <level index=\"0\" type=\"surface\">{elements}</level>\n      </period>\n    </station>\n",
                f.number,
                z.tz().name(),
                crate::ingest::ftp::xml::escape(&f.station.station_name.to_ascii_uppercase()),
                crate::ingest::ftp::xml::escape(f.station.display_name),
                iso(t),
                t.with_timezone(&z.tz())
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            ));
        }
        s.push_str("  </observations>\n</product>\n");
        Some(s.into_bytes())
    }

    /// `station`'s daily table of `month` as BOM showed it at `now`.
    pub fn render_table(
        &self,
        station: &Station,
        month: (i32, u32),
        now: DateTime<Utc>,
    ) -> Option<Vec<u8>> {
        let days = self.month(station, month.0, month.1)?;
        let rows: Vec<daily::DailyRow> = days
            .iter()
            .filter(|d| self.visibility.stage(station, d.obs.date, now) == Stage::Final)
            .map(|d| daily::DailyRow {
                date: d.obs.date,
                rainfall: d.obs.get(Num::Rainfall),
                evaporation: d.obs.get(Num::Evaporation),
                max_temp: d.obs.get(Num::MaxTemp),
                min_temp: d.obs.get(Num::MinTemp),
            })
            .collect();
        if rows.is_empty() {
            return None;
        }
        Some(daily::render(station.station_name, station.state, month, &rows).into_bytes())
    }
}
