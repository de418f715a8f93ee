//! The full 14-month backfill of all 49 stations, compared with the files.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use raincast::ingest::bom::{Outcome, ScrapePlan};
use raincast::ingest::dwo;
use raincast::obs::{Dir, Num, Observation};
use raincast::stations::{self, STATIONS};
use raincast::store::{Store, month_bounds};

use super::{config, fresh_store, run};
use crate::support::bom_server::{BomServer, files};

const MISSING_CODES: [&str; 3] = ["IDCJDW6111", "IDCJDW3050", "IDCJDW2119"];

fn months() -> Vec<(i32, u32)> {
    ScrapePlan::range((2024, 8), (2025, 9), None, false)
        .unwrap()
        .months
}

/// Every stored row of one station-month, oldest first.
fn stored(store: &Store, location: &str, month: (i32, u32)) -> Vec<Observation> {
    let (first, last) = month_bounds(month).unwrap();
    store.observations_between(location, first, last).unwrap()
}

/// An independent reading of one raw field: empty → None, `Calm` → 0.
fn raw_num(field: &str) -> Option<f64> {
    match field.trim() {
        "" => None,
        "Calm" => Some(0.0),
        t => Some(t.parse().unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_stores_every_day_of_every_file_and_rescrapes_idempotently() {
    let server = BomServer::start().await;
    let cfg = config(&server.base_url);
    let (_dir, store) = fresh_store();
    let plan = ScrapePlan::range((2024, 8), (2025, 9), None, false).unwrap();
    assert_eq!(plan.len(), 686);

    let (report, log) = run(&store, &cfg, &plan).await;
    let t = &report.totals;
    assert_eq!(t.files_fetched, 644, "{}", report.message);
    assert_eq!(t.not_found, 42, "{}", report.message);
    assert_eq!(t.files_rejected + t.failed + t.forbidden + t.http_errors, 0);
    assert!(!report.failed(), "partial 404s must not fail the run");
    let report_incomplete = t.incomplete;
    let gap = report
        .months
        .iter()
        .find(|m| m.code == "IDCJDW2804" && m.month == "2025-08")
        .unwrap();
    assert!(
        gap.line().contains("incomplete: 2 days missing (30–31)"),
        "{}",
        gap.line()
    );
    assert!(
        report
            .message
            .contains("check bom.base_url and the station's product code")
    );
    assert_eq!(
        log.len(),
        687,
        "one line per station-month plus the summary"
    );
    for m in &report.months {
        let missing = MISSING_CODES.contains(&m.code.as_str());
        assert_eq!(
            matches!(m.outcome, Outcome::NotFound { .. }),
            missing,
            "{} {}: {:?}",
            m.location,
            m.month,
            m.outcome
        );
    }

    // Field by field against the parser's reading of each file.
    let mut total_rows = 0u64;
    for station in STATIONS
        .iter()
        .filter(|s| !MISSING_CODES.contains(&s.dwo_code))
    {
        for month in months() {
            let name = format!("{}.{:04}{:02}", station.dwo_code, month.0, month.1);
            let bytes = &files()[&name];
            let parsed = dwo::parse(bytes, station.location, month.0, month.1).unwrap();
            let rows = stored(&store, station.location, month);
            assert_eq!(rows.len(), parsed.observations.len(), "{name}");
            for (got, want) in rows.iter().zip(&parsed.observations) {
                assert_eq!(got.date, want.date, "{name}");
                assert_eq!(got.nums, want.nums, "{name} {}", want.date);
                assert_eq!(got.dirs, want.dirs, "{name} {}", want.date);
                assert_eq!(got.rain_today, want.rain_today, "{name} {}", want.date);
            }
            total_rows += rows.len() as u64;
        }
    }
    assert_eq!(store.count_observations().unwrap(), total_rows);
    assert_eq!(t.rows_inserted, total_rows);

    // RainTomorrow = the next calendar day's RainToday, across month ends.
    let all = store.all_observations().unwrap();
    let by_day: HashMap<(&str, NaiveDate), Option<bool>> = all
        .iter()
        .map(|o| ((o.location, o.date), o.rain_today))
        .collect();
    let mut linked_across_months = 0;
    for o in &all {
        let next = o.date + Duration::days(1);
        let want = by_day.get(&(o.location, next)).copied().flatten();
        assert_eq!(o.rain_tomorrow, want, "{} {}", o.location, o.date);
        if next.format("%d").to_string() == "01" && want.is_some() {
            linked_across_months += 1;
        }
    }
    assert!(linked_across_months > 500, "{linked_across_months}");

    spot_check_raw_text(&store);

    // source_months: 13 finished months and the partial current one per
    // station. A finished month is complete only with every day: one real
    // file (IDCJDW2804, Aug 2025) lacks its 30th and 31st, so it is stored,
    // reported, and fetched again next time (changed with issue 14).
    let sources = store.source_months().unwrap();
    assert_eq!(sources.iter().filter(|s| s.status == "ok").count(), 644);
    assert_eq!(sources.iter().filter(|s| s.complete).count(), 46 * 13 - 1);
    assert_eq!(report_incomplete, 1);
    assert_eq!(
        sources.iter().filter(|s| s.status == "not_found").count(),
        42
    );
    let last = store.last_scrape_per_station().unwrap();
    assert_eq!(last.len(), 49);

    // Again without force: complete months are skipped, nothing new.
    let (report, _) = run(&store, &cfg, &plan).await;
    let t = &report.totals;
    assert_eq!(t.skipped_complete, 46 * 13 - 1, "{}", report.message);
    // A finished month that was 404 is not asked again within a week (the
    // 404s are stamped by the real clock, after the 6th): 39 skipped, the 3
    // current months asked again.
    assert_eq!(
        (t.files_fetched, t.not_found, t.skipped_missing),
        (47, 3, 39),
        "{}",
        report.message
    );
    assert_eq!((t.rows_inserted, t.rows_updated), (0, 0));

    // Forced: everything is downloaded again and nothing changes.
    let forced = ScrapePlan {
        force: true,
        ..plan.clone()
    };
    let (report, _) = run(&store, &cfg, &forced).await;
    let t = &report.totals;
    assert_eq!(
        (t.files_fetched, t.skipped_complete),
        (644, 0),
        "{}",
        report.message
    );
    assert_eq!(
        (t.rows_inserted, t.rows_updated),
        (0, 0),
        "{}",
        report.message
    );
    assert_eq!(t.rows_unchanged, total_rows);
    assert_eq!(store.count_observations().unwrap(), total_rows);

    // A 404 a week old is asked again, once: the forced run's answers are
    // stamped eight days before the 6th, then two scrapes on the 6th.
    let at = |day: u32| {
        let clock = raincast::clock::FakeClock::new(
            NaiveDate::from_ymd_opt(2025, 8, day)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc(),
        );
        store.set_clock(std::sync::Arc::new(clock));
    };
    at(29);
    run(&store, &cfg, &forced).await;
    at(31);
    let (report, _) = run(&store, &cfg, &plan).await;
    let t = &report.totals;
    assert_eq!(
        (t.not_found, t.skipped_missing),
        (42, 0),
        "{}",
        report.message
    );
    let (report, _) = run(&store, &cfg, &plan).await;
    let t = &report.totals;
    assert_eq!(
        (t.not_found, t.skipped_missing),
        (3, 39),
        "{}",
        report.message
    );
}

/// Compare a few stored rows with the raw text, read without the parser.
fn spot_check_raw_text(store: &Store) {
    // Albury 2024-08-2: 9am direction " " and speed Calm; 9am cloud blank.
    let albury = store
        .observation("Albury", NaiveDate::from_ymd_opt(2024, 8, 2).unwrap())
        .unwrap();
    assert_eq!(albury.get(Num::WindSpeed9am), Some(0.0));
    assert_eq!(albury.dir(Dir::WindDir9am), None);
    assert_eq!(albury.get(Num::Cloud9am), None);
    assert_eq!(albury.get(Num::MinTemp), Some(-1.7));

    let mut checked = 0;
    for (code, month) in [
        ("IDCJDW2002", "202408"),
        ("IDCJDW2124", "202409"),
        ("IDCJDW5081", "202501"),
        ("IDCJDW4019", "202503"),
        ("IDCJDW7021", "202412"),
    ] {
        let Some(bytes) = files().get(&format!("{code}.{month}")) else {
            continue;
        };
        let location = stations::by_dwo_code(code).unwrap().location;
        let text: String = bytes.iter().map(|&b| b as char).collect();
        for line in text.lines().filter(|l| l.starts_with(",20")) {
            let f: Vec<&str> = line.split(',').collect();
            let date = NaiveDate::parse_from_str(f[1], "%Y-%m-%d").unwrap();
            let o = store.observation(location, date).unwrap();
            assert_eq!(o.get(Num::MinTemp), raw_num(f[2]), "{code} {line}");
            assert_eq!(o.get(Num::MaxTemp), raw_num(f[3]), "{code} {line}");
            assert_eq!(o.get(Num::Rainfall), raw_num(f[4]), "{code} {line}");
            assert_eq!(o.get(Num::WindSpeed9am), raw_num(f[14]), "{code} {line}");
            assert_eq!(o.get(Num::Humidity3pm), raw_num(f[17]), "{code} {line}");
            assert_eq!(o.get(Num::Pressure3pm), raw_num(f[21]), "{code} {line}");
            let dir3pm = o.dir(Dir::WindDir3pm).map(|d| d.to_string());
            let want = match (f[19].trim(), raw_num(f[20])) {
                ("", _) | (_, None) | (_, Some(0.0)) => None,
                (d, _) => Some(d.to_string()),
            };
            assert_eq!(dir3pm, want, "{code} {line}");
            let rain_today = raw_num(f[4]).map(|r| r > 1.0);
            assert_eq!(o.rain_today, rain_today, "{code} {line}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} rows checked");
}
