//! The time machine against the real scheduler and job runner: simulated
//! weeks of operation on a fast clock, against the time-aware BOM stand-in
//! serving the bundled real files, faults included.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use raincast::bomsim::Fault;
use raincast::clock::FakeClock;
use raincast::config::Config;
use raincast::evaluate::{self, Subject};
use raincast::replay::{self, Options, Summary};
use raincast::store::Store;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn range(a: NaiveDate, b: NaiveDate, f: Fault) -> Vec<(NaiveDate, Fault)> {
    a.iter_days()
        .take_while(|d| *d <= b)
        .map(|d| (d, f))
        .collect()
}

/// Small, fast models; BOM data alone (the bundled history has its own
/// tests), so that the record is about the replayed months.
fn config(db: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.database.path = db.to_path_buf();
    c.database.bundled_history = false;
    c.model.n_trees = 6;
    c.model.max_depth = 8;
    c.model.threads = 2;
    // The forest alone: boosting has tests of its own.
    c.model.boost = false;
    c.schedule.scrape_retries = 1;
    c
}

struct Replayed {
    _dir: tempfile::TempDir,
    store: Store,
    summary: Summary,
}

async fn replay(opts: Options) -> Replayed {
    replay_with(opts, |_| {}).await
}

async fn replay_with(opts: Options, tweak: impl FnOnce(&mut Config)) -> Replayed {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("replay.db");
    let store = Store::open(&db, Duration::from_secs(10)).unwrap();
    let clock = Arc::new(FakeClock::new(Utc::now()));
    let mut cfg = config(&db);
    tweak(&mut cfg);
    let summary = replay::run(store.clone(), cfg, clock, &opts, &|_, _| {})
        .await
        .unwrap();
    Replayed {
        _dir: dir,
        store,
        summary,
    }
}

/// Eight weeks with a 3-day outage (connections refused), a week of 403s,
/// a truncated current-month file and a revised previous month: forecasts
/// every day for every
/// station with data, issued before their day and scored once; stale flags
/// during the outages only; weekly trainings with their decisions; and the
/// stored rows equal an independent reading of the bundled files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_simulated_weeks_with_outages_keep_an_honest_record() {
    let (from, to) = (day(2024, 10, 1), day(2024, 11, 25));
    let outage = (day(2024, 10, 8), day(2024, 10, 10));
    let blocked = (day(2024, 10, 21), day(2024, 10, 27));
    let truncated = day(2024, 11, 12);
    let mut faults = range(outage.0, outage.1, Fault::Refuse);
    faults.extend(range(blocked.0, blocked.1, Fault::Forbidden));
    faults.push((truncated, Fault::Truncated));
    // On 1 November October's file is preliminary (its last rainfall reads
    // 12.4 mm more); from the 2nd the final one is served.
    let revised = day(2024, 11, 1);
    faults.push((revised, Fault::Revised));
    let r = replay(Options {
        from,
        to,
        speed: 0.0,
        faults: faults.clone(),
    })
    .await;
    let s = &r.summary;
    let faulty: std::collections::HashSet<NaiveDate> = faults
        .iter()
        .filter(|f| f.1 != Fault::Revised)
        .map(|f| f.0)
        .collect();

    // Every day BOM answered, each of the 46 stations with data (the archive
    // has no Perth, Melbourne or Richmond files) issues three forecasts from
    // the day's row as BOM showed it at the scrape after its zone's posts:
    // the morning (10:20 local) and afternoon (16:50 local) issues for the
    // rain day ending at 9 am the next morning, and the day-before issue
    // (afternoon) for the one after. On a faulty day there is no new row
    // (the truncated file stops on the 5th), so none is issued.
    // The replay starts at 00:00 UTC on `from` with a catch-up scrape: the
    // morning in the east, still night in Perth. What that one issues is
    // checked with everything else below; from the next day on, the counts
    // are exact.
    let ok = |d: NaiveDate| d >= from && d <= to && !faulty.contains(&d);
    for d in from
        .iter_days()
        .take_while(|d| *d <= to + chrono::Days::new(2))
    {
        let count = |issue: &str| logged(&r.store, d, issue);
        let expect = |base: NaiveDate| if ok(base) { 46 } else { 0 };
        if d >= from + chrono::Days::new(2) {
            assert_eq!(count("afternoon"), expect(d - chrono::Days::new(1)), "{d}");
            if d <= to + chrono::Days::new(1) {
                assert_eq!(count("morning"), expect(d - chrono::Days::new(1)), "{d}");
            }
            assert_eq!(count("day_before"), expect(d - chrono::Days::new(2)), "{d}");
        }
    }
    assert_eq!(s.late_forecasts, 0, "{s:?}");
    let names: Vec<&str> = s.issues.iter().map(|i| i.issue.as_str()).collect();
    assert_eq!(names, ["day_before", "morning", "afternoon"], "{s:?}");
    // Each rain day's issues came in order: the day before, then the
    // morning, then the afternoon, each from the row as BOM showed it then.
    type RainDay = (String, NaiveDate);
    let mut by_day: HashMap<RainDay, Vec<(String, DateTime<Utc>)>> = HashMap::new();
    for (loc, for_date, issue, at) in issued(&r.store) {
        by_day.entry((loc, for_date)).or_default().push((issue, at));
    }
    for (key, mut issues) in by_day {
        issues.sort_by_key(|(_, at)| *at);
        let order: Vec<&str> = issues.iter().map(|(i, _)| i.as_str()).collect();
        let rank = |i: &str| {
            ["day_before", "morning", "afternoon"]
                .iter()
                .position(|n| *n == i)
        };
        assert!(
            order.windows(2).all(|w| rank(w[0]) < rank(w[1])),
            "{key:?}: issued out of order {issues:?}"
        );
    }
    // Issued before the rain day's window closed (9 am local on the day),
    // scored once its observation arrived.
    // The summary counts rain days in the period; the last day's issues
    // are for the two days after it.
    let rows = live_rows(&r.store);
    let in_period = rows.iter().filter(|r| r.1 <= to).count();
    assert_eq!(in_period as u64, s.forecasts);
    // Past `to`: the morning, afternoon and day-before issues for the next
    // rain day, the day-before for the one after, and that one's morning
    // where it was already 10:20 by the replay's end (23:59:59 UTC is the
    // next morning in the east, still night in Perth).
    let end = to.and_hms_opt(23, 59, 59).unwrap().and_utc();
    let with_data: std::collections::HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let early = with_data
        .iter()
        .filter(|loc| {
            let station = raincast::stations::by_location(loc).unwrap();
            let v = raincast::issue::Visibility::default();
            raincast::issue::Issue::Morning.due_at(station, to + chrono::Days::new(2), &v) <= end
        })
        .count();
    assert_eq!(with_data.len(), 46);
    assert_eq!(rows.len() - in_period, 4 * 46 + early, "issues past `to`");
    for (loc, for_date, served_at, outcome) in &rows {
        let station = raincast::stations::by_location(loc).unwrap();
        let (_, close) = raincast::issue::window(station, *for_date);
        assert!(*served_at < close, "{loc} {for_date} issued {served_at}");
        // Scored (against the final, revised data) unless BOM never
        // reported that day's rain.
        let observed = r
            .store
            .observation(loc, *for_date)
            .ok()
            .and_then(|o| o.rain_today);
        assert_eq!(*outcome, observed, "{loc} {for_date}");
    }
    // The summary scores the period's rain days; in the east, `to + 1`'s
    // outcome was published (10:00 local) before the replay's end, and its
    // forecasts were scored too.
    assert_eq!(
        s.scored,
        rows.iter().filter(|r| r.3.is_some() && r.1 <= to).count() as u64
    );

    // Stale only during (and just after) the outages; clear at the end.
    assert!(!s.stale_periods.is_empty(), "{s:?}");
    for (a, b) in &s.stale_periods {
        let in_outage = |d: NaiveDate| {
            (d >= outage.0 && d <= outage.1 + chrono::Days::new(1))
                || (d >= blocked.0 && d <= blocked.1 + chrono::Days::new(1))
        };
        assert!(
            in_outage(*a) && in_outage(*b),
            "stale {a}..{b} outside the outages"
        );
    }
    // Failed runs were recorded and retried (scrape_retries = 1).
    assert!(s.failed_runs >= 10 && s.retries >= 10, "{s:?}");

    // A training every Sunday (8 in the period) plus the first model, each
    // with its decision recorded.
    assert!(s.trainings >= 8, "{s:?}");
    for m in r.store.models().unwrap() {
        assert!(m.decision.is_some(), "v{} has no decision", m.version);
    }
    assert!(s.promotions >= 1);

    // No observation duplicated or lost: compare with the raw files, read
    // without raincast's parser, as BOM served them on the last day.
    let expected = raw_rows(to);
    let stored: HashMap<(String, NaiveDate), Option<f64>> = r
        .store
        .all_observations()
        .unwrap()
        .into_iter()
        .map(|o| {
            (
                (o.location.to_string(), o.date),
                o.get(raincast::obs::Num::Rainfall),
            )
        })
        .collect();
    assert_eq!(stored.len(), expected.len());
    for (key, rain) in &expected {
        assert_eq!(stored.get(key), Some(rain), "{key:?}");
    }
}

/// How many forecasts of `issue` were logged for rain day `d`.
fn logged(store: &Store, d: NaiveDate, issue: &str) -> u64 {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    c.query_row(
        "SELECT count(*) FROM predictions WHERE for_date = ?1 AND issue = ?2",
        rusqlite::params![d, issue],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

/// (location, for_date, issue, issued_at) of every logged forecast.
fn issued(store: &Store) -> Vec<(String, NaiveDate, String, DateTime<Utc>)> {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    let mut st = c
        .prepare("SELECT location, for_date, issue, served_at FROM predictions")
        .unwrap();
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
    })
    .unwrap()
    .map(|r| {
        let (l, d, i, at) = r.unwrap();
        let at = DateTime::parse_from_rfc3339(&at)
            .unwrap()
            .with_timezone(&Utc);
        (l, d, i, at)
    })
    .collect()
}

/// (location, for_date, served_at, outcome) of every logged forecast.
fn live_rows(store: &Store) -> Vec<(String, NaiveDate, DateTime<Utc>, Option<bool>)> {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    let mut st = c
        .prepare("SELECT location, for_date, served_at, outcome FROM predictions")
        .unwrap();
    st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, NaiveDate>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<bool>>(3)?,
        ))
    })
    .unwrap()
    .map(|r| {
        let (l, d, at, o) = r.unwrap();
        let at = DateTime::parse_from_rfc3339(&at)
            .unwrap()
            .with_timezone(&Utc);
        (l, d, at, o)
    })
    .collect()
}

/// Every data row of the bundled files for our stations that BOM showed by
/// the end of `to` (UTC), with its rainfall, read by
/// splitting lines: `,YYYY-M-D,min,max,rain,…`.
fn raw_rows(to: NaiveDate) -> HashMap<(String, NaiveDate), Option<f64>> {
    let by_code: HashMap<&str, &str> = raincast::stations::STATIONS
        .iter()
        .map(|s| (s.dwo_code, s.location))
        .collect();
    let mut out = HashMap::new();
    for (name, bytes) in raincast::bomsim::archive() {
        let Some(loc) = by_code.get(&name[..10]) else {
            continue;
        };
        for line in bytes.split(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            let f: Vec<&str> = text.trim_end().split(',').collect();
            if f.len() < 5 || !f[0].is_empty() {
                continue;
            }
            let Ok(d) = NaiveDate::parse_from_str(f[1], "%Y-%m-%d") else {
                continue;
            };
            // The replay backfills BOM's 14-month window from its first day,
            // and ends at 23:59:59 UTC on `to`: the next morning in the
            // east, where BOM already shows the next day's row.
            let end = to.and_hms_opt(23, 59, 59).unwrap().and_utc();
            let station = raincast::stations::by_location(loc).unwrap();
            let shown = raincast::issue::Visibility::default().stage(station, d, end)
                != raincast::issue::Stage::Hidden;
            if shown && d >= day(2023, 11, 1) {
                let rain = f[4].trim().parse::<f64>().ok();
                out.insert((loc.to_string(), d), rain);
            }
        }
    }
    out
}

/// A replay is reproducible: the same inputs and seed give the same summary
/// (all but the file size, whose page layout follows real-time log flushes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_is_deterministic() {
    let opts = || Options {
        from: day(2024, 10, 1),
        to: day(2024, 10, 16),
        speed: 0.0,
        faults: range(day(2024, 10, 8), day(2024, 10, 9), Fault::Refuse),
    };
    let a = replay(opts()).await.summary;
    let b = replay(opts()).await.summary;
    let without_size = |s: &Summary| Summary {
        database_bytes: 0,
        ..s.clone()
    };
    assert_eq!(without_size(&a), without_size(&b));
    assert!(a.forecasts > 500 && a.trainings >= 2, "{a:?}");
}

/// A year of operation: the database stays bounded by the retention policy,
/// and the summary's Brier score is what `evaluate` reports for the same
/// forecasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_replay_is_bounded_and_agrees_with_evaluate() {
    let _long = crate::support::long().await;
    let (from, to) = (day(2024, 9, 1), day(2025, 9, 5));
    // One scrape a day, the afternoon everywhere: this test is about a
    // year's retention and agreement with `evaluate`; the default's twelve
    // ticks a day are the other replays' subject (and `bench/replay.sh`'s).
    let r = replay_with(
        Options {
            from,
            to,
            speed: 0.0,
            faults: Vec::new(),
        },
        |c| c.schedule.scrape = "0 30 8 * * *".parse().unwrap(),
    )
    .await;
    let s = &r.summary;
    assert_eq!(s.days, 370);
    // 53 Sundays; the first few trainings fail until BOM's months hold
    // enough labelled days (60), each with its recorded reason.
    assert!(s.trainings >= 48, "{s:?}");
    // Stale only where the data really is: one station's August 2025 file
    // lacks its last two days.
    assert!(s.stale_periods.len() <= 1, "{s:?}");
    let defaults = raincast::config::ModelConfig::default();
    let kept = (1..=r.store.models().unwrap().len() as i64)
        .filter(|&v| r.store.has_blob(v).unwrap())
        .count();
    assert!(
        kept <= (defaults.keep_deployed + defaults.keep_challengers) as usize,
        "{kept} model files kept"
    );
    assert!(s.database_bytes < 100 << 20, "{s:?}");
    let e = evaluate::evaluate(&r.store, Subject::Live, from, to).unwrap();
    assert_eq!(e.overall.n, s.scored);
    assert!(
        (e.overall.brier - s.brier.unwrap()).abs() < 1e-12,
        "{e:?} vs {s:?}"
    );
    assert!(s.brier_skill_score.unwrap() > 0.0, "{s:?}");
    // The live level, as the evaluation reports it on the same forecasts.
    assert!(
        (e.overall.mean_forecast - s.mean_forecast.unwrap()).abs() < 1e-12,
        "{e:?} vs {s:?}"
    );
    assert!(
        (e.overall.observed_frequency - s.observed_frequency.unwrap()).abs() < 1e-12,
        "{e:?} vs {s:?}"
    );
    // The amounts: every issue's are scored, the replay and `evaluate`
    // agree on the same forecasts, and each amount's level is near what fell.
    for i in &s.issues {
        let a = i.amounts.as_ref().unwrap_or_else(|| panic!("{i:?}"));
        let ev = e
            .issues
            .iter()
            .find(|x| x.issue == i.issue)
            .and_then(|x| x.amounts.as_ref())
            .unwrap_or_else(|| panic!("{e:?}"));
        assert_eq!(a.n, ev.n, "{}", i.issue);
        assert!(a.n * 10 >= i.scored * 9, "{a:?} of {i:?}");
        assert_eq!(a.range, ev.range, "{}", i.issue);
        for (t, u) in a.thresholds.iter().zip(&ev.thresholds) {
            assert!((t.brier - u.brier).abs() < 1e-12, "{t:?} vs {u:?}");
            assert!(
                (t.mean_forecast - t.observed_frequency).abs() < 0.05,
                "{t:?}"
            );
        }
        assert!(a.rpss.is_some_and(|v| v > 0.0), "{a:?}");
    }
}

/// Two simulated weeks across the start of daylight saving (6 Oct 2024),
/// served by the real web app on the replay's clock and read in headless
/// Chromium at 10:00, 16:00 and 23:00 Sydney time: every city page leads
/// with the rain day under way, whose window is still open, and shows the
/// next rain day's day-before forecast once it is issued. Between one day's
/// morning and afternoon issues a new model is promoted: the issues made
/// before keep their version and never change; every later one is the new
/// champion's. Each forecast is scored once, after BOM published its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_simulated_weeks_in_chromium_with_a_promotion_between_two_issues() {
    let _long = crate::support::long().await;
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let scripts = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        std::path::Path::new(&chromium).exists()
            && scripts.join("node_modules/playwright-core").exists(),
        "needs Chromium and playwright-core (scripts/test installs both)"
    );
    let (from, to) = (day(2024, 10, 1), day(2024, 10, 14));
    let opts = Options {
        from,
        to,
        speed: 0.0,
        faults: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("weeks.db");
    let store = Store::open(&db, Duration::from_secs(10)).unwrap();
    let clock = Arc::new(FakeClock::new(from.and_hms_opt(0, 0, 0).unwrap().and_utc()));
    store.set_clock(clock.clone());
    let mut cfg = config(&db);
    let source = replay::start_source(clock.clone(), &[]).await.unwrap();
    replay::configure(&mut cfg, &source);
    let stale = cfg.server.stale_after_days;
    let state = raincast::app::boot(raincast::app::Launch {
        config: cfg.clone(),
        store: store.clone(),
        clock: clock.clone(),
        timing: raincast::app::Timing::Driven { demo: false },
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = raincast::app::start(listener, state.clone()).await.unwrap();
    let url = format!("http://{}", running.addr);

    let mut pages = Windows::start(&scripts, &chromium, &url);
    let mut driver = replay::Driver::start(&state, &clock, &opts).await.unwrap();
    let sydney = raincast::stations::by_location("Sydney").unwrap();
    let zone = raincast::issue::Zone::of(sydney);
    let cities = [
        "Sydney",
        "Brisbane",
        "Adelaide",
        "Darwin",
        "PerthAirport",
        "NorfolkIsland",
        "Hobart",
    ];
    let v = raincast::issue::Visibility::default();
    let promote_on = day(2024, 10, 9);
    let mut promoted: Option<(DateTime<Utc>, i64, i64)> = None;
    let mut before_promotion = Vec::new();
    for d in (from + chrono::Days::new(1))
        .iter_days()
        .take_while(|d| *d <= to)
    {
        for hour in [10, 16, 23] {
            let at = zone.utc(d, chrono::NaiveTime::from_hms_opt(hour, 0, 0).unwrap());
            driver.run_until(at, &state, &clock, &|_, _| {}).await;
            let (s, st) = (state.serving.clone(), store.clone());
            tokio::task::spawn_blocking(move || s.sync(&st, at, stale))
                .await
                .unwrap()
                .unwrap();
            if d == promote_on && hour == 16 {
                // Between Sydney's morning issue (10:20) and its afternoon
                // issue (16:50): train, and put the new version in.
                let old = store.champion_version().unwrap().unwrap();
                before_promotion = issued_rows(&store);
                let run = state
                    .jobs
                    .run(
                        raincast::jobs::JobKind::Train,
                        raincast::jobs::Trigger::Admin,
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    run.status,
                    raincast::jobs::RunStatus::Succeeded,
                    "{:?}",
                    run.error
                );
                let new = store
                    .models()
                    .unwrap()
                    .iter()
                    .map(|m| m.version)
                    .max()
                    .unwrap();
                assert_ne!(new, old);
                raincast::registry::promote(&store, new, "between two issues", "test").unwrap();
                let (s, st) = (state.serving.clone(), store.clone());
                tokio::task::spawn_blocking(move || s.sync(&st, at, stale))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(state.serving.get().unwrap().version, new);
                promoted = Some((at, old, new));
            }
            let expect: Vec<serde_json::Value> = cities
                .iter()
                .map(|loc| {
                    let station = raincast::stations::by_location(loc).unwrap();
                    let rain_day = raincast::issue::rain_day_at(station, at);
                    let next = rain_day + chrono::Days::new(1);
                    // Issued at its due time, by the scrape 20 minutes on.
                    let issued = raincast::issue::Issue::DayBefore.due_at(station, next, &v)
                        + chrono::Duration::minutes(20)
                        <= at;
                    serde_json::json!({
                        "location": loc,
                        "rain_day": rain_day.to_string(),
                        "next_day": issued.then(|| next.to_string()),
                    })
                })
                .collect();
            let moment = serde_json::json!({ "now": at.to_rfc3339(), "expect": expect });
            let (ok, text) = tokio::task::block_in_place(|| pages.check(&moment));
            assert!(ok, "{d} {hour}:00 Sydney time:\n{text}");
        }
    }
    pages.finish();
    let end = to.and_hms_opt(23, 59, 59).unwrap().and_utc();
    driver.run_until(end, &state, &clock, &|_, _| {}).await;
    let summary = driver.finish(&store, &opts).unwrap();
    assert_eq!(summary.late_forecasts, 0, "{summary:?}");
    running.stop().await.unwrap();

    // Issued before the promotion: unchanged, the old version's.
    let (promoted_at, old, new) = promoted.expect("a promotion");
    let after = issued_rows(&store);
    for row in &before_promotion {
        assert!(after.contains(row), "{row:?} changed or vanished");
    }
    // Every forecast is the champion's in effect when it was issued; the
    // promotion split Sydney's rain day of 10 October between its issues.
    let deployments = store.deployments().unwrap();
    let champion_at = |t: DateTime<Utc>| {
        deployments
            .iter()
            .filter(|d| d.at <= t)
            .max_by_key(|d| (d.at, d.id))
            .map(|d| d.version)
    };
    for (loc, for_date, issue, version, _, at) in &after {
        assert_eq!(
            Some(*version),
            champion_at(*at),
            "{loc} {for_date} {issue} issued {at}"
        );
    }
    let of = |issue: &str| {
        after
            .iter()
            .find(|r| r.0 == "Sydney" && r.1 == day(2024, 10, 10) && r.2 == issue)
            .map(|r| r.3)
    };
    assert_eq!(of("day_before"), Some(old));
    assert_eq!(of("morning"), Some(old));
    assert_eq!(of("afternoon"), Some(new));
    assert!(promoted_at > zone.utc(promote_on, v.morning));

    // Scored once each, after BOM published the outcome (the rain day's
    // row, from 10:00 local on it), never before.
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c
        .prepare("SELECT location, for_date, scored_at FROM predictions WHERE outcome IS NOT NULL")
        .unwrap();
    let scored: Vec<(String, NaiveDate, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(scored.len() > 1000, "{}", scored.len());
    for (loc, for_date, scored_at) in scored {
        let station = raincast::stations::by_location(&loc).unwrap();
        let at = DateTime::parse_from_rfc3339(&scored_at)
            .unwrap()
            .with_timezone(&Utc);
        let published = raincast::issue::Zone::of(station).utc(for_date, v.morning);
        assert!(
            at >= published,
            "{loc} {for_date} scored {at}, before {published}"
        );
    }
}

/// `tests/browser/windows.mjs`, started once: one Node process and one
/// headless Chromium check every moment of the fortnight, each in a fresh
/// browser context.
struct Windows {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Windows {
    fn start(scripts: &std::path::Path, chromium: &str, url: &str) -> Windows {
        use std::process::Stdio;
        let mut child = std::process::Command::new("node")
            .arg(scripts.join("windows.mjs"))
            .current_dir(scripts)
            .env("RAINCAST_URL", url)
            .env("CHROMIUM", chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run node");
        let stdin = child.stdin.take();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        Windows {
            child,
            stdin,
            stdout,
        }
    }

    /// Checks one moment; whether every city passed, and the script's lines.
    fn check(&mut self, moment: &serde_json::Value) -> (bool, String) {
        use std::io::{BufRead, Write};
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{moment}").expect("write to windows.mjs");
        stdin.flush().unwrap();
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "windows.mjs ended early:\n{text}");
            if let Some(end) = line.strip_prefix("end ") {
                return (end.trim() == "ok", text);
            }
            text.push_str(&line);
        }
    }

    /// Closes its input and waits for the browser to close.
    fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "windows.mjs exited with {status}");
    }
}

impl Drop for Windows {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// (location, for_date, issue, version, probability, issued_at) of every
/// logged forecast.
type Issued = (String, NaiveDate, String, i64, f64, DateTime<Utc>);

fn issued_rows(store: &Store) -> Vec<Issued> {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    let mut st = c
        .prepare(
            "SELECT location, for_date, issue, version, probability, served_at FROM predictions",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get::<_, String>(5)?,
        ))
    })
    .unwrap()
    .map(|r| {
        let (l, d, i, v, p, at) = r.unwrap();
        let at = DateTime::parse_from_rfc3339(&at)
            .unwrap()
            .with_timezone(&Utc);
        (l, d, i, v, p, at)
    })
    .collect()
}

/// Issue 29, item 4: six days with the website refused (403) throughout
/// and only the FTP channel (the libunftp stand-in on 127.0.0.1, rendering
/// the same archive at the simulated time). `order = "ftp"` means FTP
/// alone: the refusing website is never asked, so no run fails or retries
/// on it. Every location with a feed
/// station and archive data gets forecasts every day from the third on;
/// the summary says the source and names the five locations without a
/// feed station, and why. Then five days with both sources: the website's
/// file replaces the assembled days, with the fields compared recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_only_with_the_website_refused_forecasts_every_feed_location() {
    let (from, to) = (day(2024, 10, 1), day(2024, 10, 6));
    let r = replay_with(
        Options {
            from,
            to,
            speed: 0.0,
            faults: range(from, to, Fault::Forbidden),
        },
        |c| {
            // The model learns from the bundled history: the website never
            // answers, and FTP has no history to give.
            c.database.bundled_history = true;
            c.sources.order = "ftp".into();
        },
    )
    .await;
    let s = &r.summary;
    assert_eq!(s.sources, "ftp");
    assert_eq!((s.failed_runs, s.retries), (0, 0), "{s:?}");
    let forecasts = r.store.live_forecasts(from, to).unwrap();
    let no_archive = ["Perth", "Melbourne", "Richmond"];
    let mut served = 0;
    for f in raincast::ingest::ftp::feeds::feeds() {
        let loc = f.station.location;
        if no_archive.contains(&loc) {
            continue;
        }
        served += 1;
        for d in (from + chrono::Days::new(2))
            .iter_days()
            .take_while(|d| *d <= to)
        {
            assert!(
                forecasts
                    .iter()
                    .any(|p| p.location == loc && p.for_date == d),
                "{loc} has no forecast for {d}: {:?}",
                s.unserved
            );
        }
    }
    assert_eq!(served, 41);
    for loc in ["Katherine", "Nhil", "Uluru", "Watsonia", "Wollongong"] {
        let u = s
            .unserved
            .iter()
            .find(|u| u.location == loc)
            .unwrap_or_else(|| panic!("{loc} not named: {:?}", s.unserved));
        assert_eq!(u.days_forecast, 0, "{loc}");
        assert!(u.why.contains("no FTP feed station"), "{}", u.why);
    }
    assert!(s.scored > 0 && s.brier.is_some(), "{s:?}");
    let fields = r.store.field_sources("Sydney", day(2024, 10, 5)).unwrap();
    assert!(
        !fields.is_empty() && fields.iter().all(|(_, src)| src.starts_with("ftp:")),
        "{fields:?}"
    );

    // Both sources, the website answering: its file replaces the days FTP
    // assembled first, each compared field recorded.
    let (from, to) = (day(2024, 10, 1), day(2024, 10, 5));
    let r = replay_with(
        Options {
            from,
            to,
            speed: 0.0,
            faults: Vec::new(),
        },
        |c| c.sources.order = "website,ftp".into(),
    )
    .await;
    assert_eq!(r.summary.sources, "website,ftp");
    let agreement = r.store.channel_agreement(from).unwrap();
    let compared: u64 = agreement.iter().map(|a| a.compared).sum();
    assert!(compared > 0, "{agreement:?}");
    let sydney = r.store.field_sources("Sydney", day(2024, 10, 3)).unwrap();
    assert!(
        sydney.iter().all(|(_, src)| src.starts_with("bom:")),
        "the website's file is the authority: {sydney:?}"
    );
}
