//! The FTP channel (issue 29) against a real FTP server on 127.0.0.1
//! (`raincast::ftpsim`, libunftp): the real product sample, refusals, a
//! stalled transfer, a truncated file, a station missing from a product, a
//! daylight-saving day in Sydney with none in Brisbane, and the website's
//! file replacing assembled values with the differences recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use raincast::clock::FakeClock;
use raincast::config::Config;
use raincast::ftpsim::{self, FtpFault, FtpSim};
use raincast::ingest::ftp::{self, PollReport, feeds};
use raincast::obs::{Dir, Num, Observation};
use raincast::store::Store;
use tokio_util::sync::CancellationToken;

use crate::support::app::open;

struct Case {
    clock: Arc<FakeClock>,
    ftp: ftpsim::Running,
    store: Store,
    config: Config,
    _dir: tempfile::TempDir,
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

async fn case(at: DateTime<Utc>) -> Case {
    let clock = Arc::new(FakeClock::new(at));
    let ftp = ftpsim::start(FtpSim::new(clock.clone())).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("t.db"));
    let mut config = Config::default();
    config.ftp.host = ftp.host.clone();
    config.ftp.port = ftp.port;
    config.ftp.timeout_secs = 5;
    config.ftp.delay_ms = 0;
    config.sources.order = "website,ftp".into();
    Case {
        clock,
        ftp,
        store,
        config,
        _dir: dir,
    }
}

impl Case {
    async fn poll(&self, daily: bool) -> PollReport {
        ftp::poll(
            &self.store,
            &self.config,
            self.clock.now_utc(),
            daily,
            &CancellationToken::new(),
        )
        .await
    }

    /// Serve only `product` (every other product answers 550).
    fn only(&self, product: &str, bytes: Vec<u8>) {
        for f in feeds::products(&feeds::feeds()) {
            self.ftp
                .sim
                .remove(&feeds::product_path(&self.config.ftp.observations_dir, f));
        }
        self.ftp.sim.put(
            &feeds::product_path(&self.config.ftp.observations_dir, product),
            bytes,
        );
    }
}

trait Now {
    fn now_utc(&self) -> DateTime<Utc>;
}
impl Now for FakeClock {
    fn now_utc(&self) -> DateTime<Utc> {
        raincast::clock::Clock::now(self)
    }
}

fn sample() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/bom/samples/IDN60920.2020-07-29.excerpt.xml"),
    )
    .unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ftp")
            .join(name),
    )
    .unwrap()
}

/// The real NSW product of 29 July 2020 (an excerpt: two stations). Its
/// Canberra Airport (070351) is read into a reading and a partial day;
/// Sydney's station is 066214 in our map (from today's DWO header), but
/// the 2020 product carried Observatory Hill as 066062: by number, Sydney
/// is missing from it, and the poll says so (names are never matched).
#[tokio::test]
async fn the_real_product_sample_is_read_by_station_number() {
    let c = case(utc(2020, 7, 29, 2, 0)).await;
    c.only("IDN60920", sample());
    let r = c.poll(false).await;
    let idn = r
        .products
        .iter()
        .find(|p| p.path.ends_with("IDN60920.xml"))
        .unwrap();
    assert_eq!(idn.status, "ok", "{}", idn.message);
    assert!(
        r.products
            .iter()
            .filter(|p| p.status == "not_found")
            .count()
            == 6
    );
    assert_eq!(r.readings_new, 1);
    assert!(
        r.missing_stations
            .contains(&"Sydney (066214) is not in IDN60920".to_string()),
        "{:?}",
        r.missing_stations
    );
    assert!(
        !r.missing_stations
            .iter()
            .any(|s| s.starts_with("Canberra "))
    );
    let o = c.store.observation("Canberra", day(2020, 7, 29)).unwrap();
    assert_eq!(o.get(Num::Rainfall), Some(0.0), "rainfall_24hr to 9 am");
    assert_eq!(
        o.get(Num::MinTemp),
        Some(1.2),
        "overnight minimum, reading fallback"
    );
    assert_eq!(o.get(Num::MaxTemp), Some(13.9));
    assert_eq!(o.get(Num::WindGustSpeed), Some(17.0));
    assert_eq!(o.dir(Dir::WindGustDir).map(|d| d.as_str()), Some("N"));
    assert_eq!(o.get(Num::Temp9am), None, "11:50 is not 9 am");
    let sources = c.store.field_sources("Canberra", day(2020, 7, 29)).unwrap();
    let of = |f: &str| sources.iter().find(|(k, _)| k == f).map(|(_, s)| s.clone());
    assert_eq!(
        of("Rainfall").as_deref(),
        Some("ftp:IDN60920 rainfall_24hr to 2020-07-29 09:00")
    );
    assert_eq!(
        of("WindGustSpeed").as_deref(),
        Some("ftp:IDN60920 maximum_gust_kmh at 2020-07-29 11:43")
    );
    assert!(of("Sunshine").is_none());
}

#[tokio::test]
async fn refused_logins_fail_fast_with_one_clear_message() {
    let c = case(utc(2024, 9, 10, 2, 0)).await;
    c.ftp.sim.set_fault(Some(FtpFault::RefuseLogin));
    let started = Instant::now();
    let r = c.poll(true).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(r.failed());
    assert_eq!(
        r.products.len(),
        3,
        "stopped after ftp.fail_fast_after refusals"
    );
    assert!(r.tables.is_empty());
    assert!(r.products.iter().all(|p| p.status == "refused"));
    let cause = r.aborted.clone().unwrap();
    assert!(cause.contains("refused us"), "{cause}");
    assert!(cause.contains("530"), "{cause}");
    assert!(cause.contains("ftp.host (127.0.0.1)"), "{cause}");
    assert!(
        r.message
            .starts_with("stopped early: 3 attempts in a row failed")
    );
    let status = c.store.ftp_status("poll").unwrap().unwrap();
    assert_eq!(status.status, "failed");
    assert_eq!(status.message, r.message, "visible as-is on the admin page");
}

#[tokio::test]
async fn nobody_listening_fails_fast_too() {
    let mut c = case(utc(2024, 9, 10, 2, 0)).await;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.config.ftp.port = l.local_addr().unwrap().port();
    drop(l);
    let r = c.poll(false).await;
    assert_eq!(r.products.len(), 3);
    assert!(r.aborted.unwrap().contains("refused"), "connection refused");
}

#[tokio::test]
async fn a_stalled_transfer_times_out() {
    let mut c = case(utc(2024, 9, 10, 2, 0)).await;
    c.config.ftp.timeout_secs = 1;
    c.config.ftp.fail_fast_after = 2;
    c.ftp.sim.set_fault(Some(FtpFault::Stall));
    let started = Instant::now();
    let r = c.poll(false).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.products.len(), 2);
    assert!(r.products.iter().all(|p| p.status == "timed_out"));
    assert!(
        r.products[0].message.contains("stalled after"),
        "{}",
        r.products[0].message
    );
    assert!(r.aborted.unwrap().contains("did not answer in time"));
    assert_eq!(c.store.readings_summary().unwrap().0, 0);
}

#[tokio::test]
async fn a_truncated_xml_file_is_rejected_and_nothing_is_stored() {
    let c = case(utc(2020, 7, 29, 2, 0)).await;
    c.only("IDN60920", fixture("IDN60920.truncated.xml"));
    let r = c.poll(false).await;
    let idn = r
        .products
        .iter()
        .find(|p| p.path.ends_with("IDN60920.xml"))
        .unwrap();
    assert_eq!(idn.status, "rejected");
    assert!(
        idn.message.contains("not a complete XML document"),
        "{}",
        idn.message
    );
    assert_eq!(r.readings_new, 0);
    // Cut in transfer (the server ends it as if complete): the same.
    let c = case(utc(2024, 9, 10, 2, 0)).await;
    c.ftp.sim.set_fault(Some(FtpFault::Truncate));
    let r = c.poll(false).await;
    assert!(
        r.products.iter().all(|p| p.status == "rejected"),
        "{:?}",
        r.products
    );
    assert_eq!(c.store.readings_summary().unwrap().0, 0);
    assert!(r.aborted.is_none(), "a bad file is not a refusal");
    // Another product's file at this path.
    let c = case(utc(2020, 7, 29, 2, 0)).await;
    c.only("IDN60920", fixture("IDN60920.wrong_product.xml"));
    let r = c.poll(false).await;
    let idn = r
        .products
        .iter()
        .find(|p| p.path.ends_with("IDN60920.xml"))
        .unwrap();
    assert!(
        idn.message.contains("is product IDV60920, not IDN60920"),
        "{}",
        idn.message
    );
}

/// The stand-in renders the archive, which lacks Perth, Melbourne and
/// Richmond (NSW): their stations are missing from their products, and the
/// poll names each with its number.
#[tokio::test]
async fn a_station_missing_from_a_product_is_named() {
    let c = case(utc(2024, 9, 10, 2, 0)).await;
    let r = c.poll(false).await;
    assert!(
        r.products.iter().all(|p| p.status == "ok"),
        "{:?}",
        r.products
    );
    for m in [
        "Perth (009225) is not in IDW60920",
        "Melbourne (086338) is not in IDV60920",
        "Richmond (067105) is not in IDN60920",
    ] {
        assert!(
            r.missing_stations.contains(&m.to_string()),
            "{m}: {:?}",
            r.missing_stations
        );
    }
    assert_eq!(r.missing_stations.len(), 3);
    assert_eq!(r.readings_new, 41, "44 feeds less the 3 missing");
    assert!(r.message.contains("3 stations missing from their product"));
}

fn archive_row(location: &str, code: &str, date: NaiveDate) -> Observation {
    use chrono::Datelike;
    let st = raincast::stations::by_location(location).unwrap();
    let file =
        &raincast::bomsim::archive()[&format!("{code}.{:04}{:02}", date.year(), date.month())];
    raincast::ingest::dwo::parse(file, st.location, date.year(), date.month())
        .unwrap()
        .observations
        .into_iter()
        .find(|o| o.date == date)
        .unwrap()
}

/// Poll every 30 minutes from `from` to `to`, with the daily tables once a
/// morning as the poller does.
async fn poll_through(c: &Case, from: DateTime<Utc>, to: DateTime<Utc>) {
    c.clock.set(from);
    let mut last_daily = None;
    while c.clock.now_utc() <= to {
        let now = c.clock.now_utc();
        let daily = ftp::daily_due(last_daily, now);
        let r = c.poll(daily).await;
        assert!(!r.failed(), "{}", r.message);
        if daily {
            last_daily = Some(now);
        }
        c.clock.advance(chrono::Duration::minutes(30));
    }
}

/// 6 October 2024: daylight saving starts at 2 am in Sydney, not in
/// Brisbane. Each station's 9 am and 3 pm fields come from its own local
/// 9 am and 3 pm (22:00 and 04:00 UTC in Sydney, 23:00 and 05:00 in
/// Brisbane), its rain from the count to its own 9 am; the assembled rows
/// equal the archive's real rows field by field.
#[tokio::test]
async fn a_daylight_saving_day_in_sydney_with_none_in_brisbane() {
    let c = case(utc(2024, 10, 5, 12, 0)).await;
    poll_through(&c, utc(2024, 10, 5, 12, 0), utc(2024, 10, 7, 3, 0)).await;
    let d = day(2024, 10, 6);
    for (loc, code) in [("Sydney", "IDCJDW2124"), ("Brisbane", "IDCJDW4019")] {
        let want = archive_row(loc, code, d);
        let got = c.store.observation(loc, d).unwrap();
        for n in [
            Num::Temp9am,
            Num::Humidity9am,
            Num::Pressure9am,
            Num::WindSpeed9am,
            Num::Temp3pm,
            Num::Humidity3pm,
            Num::Pressure3pm,
            Num::WindSpeed3pm,
            Num::Rainfall,
            Num::MinTemp,
            Num::MaxTemp,
            Num::Evaporation,
            Num::WindGustSpeed,
        ] {
            assert_eq!(got.get(n), want.get(n), "{loc} {n:?}");
        }
        assert_eq!(got.dirs, want.dirs, "{loc} directions");
        assert_eq!(
            got.get(Num::Sunshine),
            None,
            "{loc}: no FTP product has sunshine"
        );
        assert_eq!(got.rain_today, want.rain_today);
        let sources = c.store.field_sources(loc, d).unwrap();
        let of = |f: &str| {
            sources
                .iter()
                .find(|(k, _)| k == f)
                .map(|(_, s)| s.clone())
                .unwrap()
        };
        assert!(
            of("Temp9am").ends_with("reading at 2024-10-06 09:00"),
            "{loc}"
        );
        assert!(
            of("Temp3pm").ends_with("reading at 2024-10-06 15:00"),
            "{loc}"
        );
        assert!(
            of("Rainfall").ends_with("rainfall_24hr to 2024-10-06 09:00"),
            "{loc}"
        );
        assert_eq!(of("MaxTemp"), "ftp:daily table Maximum Temperature");
    }
    // The UTC moments differ by an hour between the two on that day.
    let syd = c
        .store
        .readings_between("066214", utc(2024, 10, 5, 21, 0), utc(2024, 10, 6, 6, 0))
        .unwrap();
    let bne = c
        .store
        .readings_between("040913", utc(2024, 10, 5, 21, 0), utc(2024, 10, 6, 6, 0))
        .unwrap();
    assert!(syd.iter().any(|r| r.observed_at == utc(2024, 10, 5, 22, 0)));
    assert!(bne.iter().any(|r| r.observed_at == utc(2024, 10, 5, 23, 0)));
}

/// Both channels: when the website's file for a day arrives it replaces the
/// assembled values, and each field both had is compared and kept.
#[tokio::test]
async fn the_websites_file_replaces_assembled_values_with_differences_recorded() {
    let c = case(utc(2024, 9, 4, 12, 0)).await;
    poll_through(&c, utc(2024, 9, 4, 12, 0), utc(2024, 9, 6, 3, 0)).await;
    let d = day(2024, 9, 5);
    let assembled = c.store.observation("Sydney", d).unwrap();
    assert!(c.store.field_sources("Sydney", d).unwrap().len() > 10);
    // The website's month, one value altered (as if BOM had revised it).
    let mut month: Vec<Observation> = (1..=5)
        .map(|k| archive_row("Sydney", "IDCJDW2124", day(2024, 9, k)))
        .collect();
    month[4].set(Num::Humidity3pm, Some(99.0));
    c.store
        .upsert_station_month(
            "Sydney",
            (2024, 9),
            &month,
            "bom:IDCJDW2124.202409",
            d,
            &c.config.sources,
        )
        .unwrap();
    let now = c.store.observation("Sydney", d).unwrap();
    assert_eq!(
        now.get(Num::Humidity3pm),
        Some(99.0),
        "the website is the authority"
    );
    assert_eq!(
        c.store.field_sources("Sydney", d).unwrap(),
        vec![("*".to_string(), "bom:IDCJDW2124.202409".to_string())]
    );
    let diffs = c.store.channel_differences(10).unwrap();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0].field, "Humidity3pm");
    assert_eq!(
        diffs[0].ftp,
        format!("{}", assembled.get(Num::Humidity3pm).unwrap())
    );
    let agreement = c.store.channel_agreement(day(2024, 9, 1)).unwrap();
    let compared: u64 = agreement.iter().map(|a| a.compared).sum();
    let agreed: u64 = agreement.iter().map(|a| a.agreed).sum();
    assert!(compared >= 15, "{agreement:?}");
    assert_eq!(compared - agreed, 1);
    // A later poll keeps the website's day and compares again.
    let r = c.poll(false).await;
    assert!(r.assembled.kept > 0);
    assert_eq!(
        c.store
            .observation("Sydney", d)
            .unwrap()
            .get(Num::Humidity3pm),
        Some(99.0)
    );
}

/// With FTP first in `sources.order`, the assembled day stays and the
/// website's file is compared, not stored.
#[tokio::test]
async fn ftp_first_keeps_the_assembled_day() {
    let mut c = case(utc(2024, 9, 4, 12, 0)).await;
    c.config.sources.order = "ftp,website".into();
    poll_through(&c, utc(2024, 9, 4, 12, 0), utc(2024, 9, 6, 3, 0)).await;
    let d = day(2024, 9, 5);
    let mut row = archive_row("Sydney", "IDCJDW2124", d);
    row.set(Num::Temp9am, Some(40.0));
    c.store
        .upsert_station_month(
            "Sydney",
            (2024, 9),
            &[row],
            "bom:IDCJDW2124.202409",
            d,
            &c.config.sources,
        )
        .unwrap();
    let kept = c.store.observation("Sydney", d).unwrap();
    assert_ne!(kept.get(Num::Temp9am), Some(40.0));
    assert_eq!(c.store.channel_differences(10).unwrap()[0].field, "Temp9am");
}

/// The city page's text, with its status.
async fn page(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Terms (issue 29, item 5): each city's page names the channels that feed
/// it, each with BOM's terms and attribution; a city with no feed station
/// says it is website-only when FTP is on; with FTP off, no FTP terms.
#[tokio::test]
async fn ftp_terms_are_stated_on_each_city_page_that_uses_it() {
    let website = crate::support::app::spawn_app_with(false, |_| {}).await;
    let (status, sydney) = page(&format!("{}/forecast/Sydney", website.url)).await;
    assert_eq!(status, 200);
    assert!(sydney.contains("id=\"terms\""), "{sydney}");
    assert!(sydney.contains("data-channel=\"website\""));
    assert!(sydney.contains("may be reused with attribution"));
    assert!(!sydney.contains("data-channel=\"ftp\""), "FTP is off");
    assert!(!sydney.contains("id=\"website-only\""));
    // The footer of every page states both channels' terms.
    assert!(sydney.contains("no supply to others"));

    let both =
        crate::support::app::spawn_app_with(false, |c| c.sources.order = "website,ftp".into())
            .await;
    let (_, sydney) = page(&format!("{}/forecast/Sydney", both.url)).await;
    let terms = &sydney[sydney.find("id=\"terms\"").expect("a terms section")..];
    let (w, f) = (
        terms.find("data-channel=\"website\"").expect("website"),
        terms.find("data-channel=\"ftp\"").expect("ftp"),
    );
    assert!(w < f, "in order of authority");
    assert!(terms.contains("personal use, or use within your organisation; no supply to others"));
    assert!(!terms.contains("id=\"website-only\""));

    let (_, wollongong) = page(&format!("{}/forecast/Wollongong", both.url)).await;
    let terms = &wollongong[wollongong.find("id=\"terms\"").unwrap()..];
    assert!(!terms.contains("data-channel=\"ftp\""), "no feed station");
    assert!(
        terms.contains("id=\"website-only\"") && terms.contains("Bellambi AWS (068228)"),
        "{terms}"
    );
}

/// Kills the child process when dropped.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `raincast bom-server` serves the FTP side too, at the same simulated
/// time, and its `--fault` refuses the website only: a poll of the real
/// binary's FTP server stores readings while the website answers 403.
#[tokio::test]
async fn bom_server_serves_ftp_while_its_website_fault_refuses() {
    let (web, ftp_port) = (crate::support::free_port(), crate::support::free_port());
    let child = std::process::Command::new(crate::support::bin())
        .args(["bom-server", "--day", "2025-03-01", "--fault", "forbidden"])
        .arg("--bind")
        .arg(format!("127.0.0.1:{web}"))
        .arg("--ftp-bind")
        .arg(format!("127.0.0.1:{ftp_port}"))
        .env("RAINCAST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _child = Child(child);
    let dwo = format!("http://127.0.0.1:{web}/climate/dwo/202503/text/IDCJDW2124.202503.csv");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        match reqwest::get(&dwo).await {
            Ok(r) => break r.status().as_u16(),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("bom-server did not start: {e}"),
        }
    };
    assert_eq!(status, 403, "the website's fault");

    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("t.db"));
    let mut config = Config::default();
    config.ftp.host = "127.0.0.1".into();
    config.ftp.port = ftp_port;
    config.ftp.timeout_secs = 5;
    config.ftp.delay_ms = 0;
    config.sources.order = "website,ftp".into();
    // 02:00 UTC on the day (13:00 in Sydney), as bom-server's clock starts.
    let now = utc(2025, 3, 1, 2, 0);
    let report = ftp::poll(&store, &config, now, true, &CancellationToken::new()).await;
    assert!(!report.failed(), "{}", report.message);
    assert!(
        report.products.iter().all(|p| p.status == "ok"),
        "{:?}",
        report.products
    );
    assert!(report.readings_new >= 40, "{}", report.message);
    assert!(report.tables.iter().any(|t| t.status == "ok"));
    let sydney = feeds::feeds()
        .into_iter()
        .find(|f| f.station.location == "Sydney")
        .unwrap();
    let got = store
        .readings_between(sydney.number, utc(2025, 2, 28, 0, 0), utc(2025, 3, 1, 3, 0))
        .unwrap();
    assert!(!got.is_empty(), "Sydney's readings of that day");

    // A bad --ftp-bind is a usage error, not a server on some other port.
    let out = std::process::Command::new(crate::support::bin())
        .args(["bom-server", "--ftp-bind", "nowhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--ftp-bind") && err.contains("nowhere"),
        "{err}"
    );
}
