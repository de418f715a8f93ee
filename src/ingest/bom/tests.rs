//! Tests of the scrape: its plan, URLs and months, and its report.

use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn urls_and_months() {
    assert_eq!(
        dwo_url("https://www.bom.gov.au/", "IDCJDW2124", (2024, 9)),
        "https://www.bom.gov.au/climate/dwo/202409/text/IDCJDW2124.202409.csv"
    );
    assert_eq!(parse_month("2024-08"), Ok((2024, 8)));
    for bad in ["2024-13", "2024-8", "24-08", "2024/08", "", "2024-00"] {
        assert!(parse_month(bad).is_err(), "{bad}");
    }
}

#[test]
fn plans() {
    let p = ScrapePlan::range((2024, 11), (2025, 2), None, false).unwrap();
    assert_eq!(p.months, [(2024, 11), (2024, 12), (2025, 1), (2025, 2)]);
    assert_eq!(p.len(), 4 * 49);
    let one = crate::stations::by_location("Sydney");
    let p = ScrapePlan::range((2024, 8), (2024, 8), one, true).unwrap();
    assert_eq!((p.len(), p.force), (1, true));
    let err = ScrapePlan::range((2025, 2), (2024, 11), None, false).unwrap_err();
    assert_eq!(err.to_string(), "from 2025-02 is after to 2024-11");
    assert!(ScrapePlan::range((2025, 0), (2025, 1), None, false).is_err());

    // Backfill by coverage: always BOM's whole online window; what is
    // stored complete is skipped at fetch time, not planned away.
    let p = ScrapePlan::default_for(d(2025, 9, 6));
    assert_eq!(p.months.len(), 14);
    assert_eq!(p.months[0], (2024, 8));
    assert_eq!(p.months[13], (2025, 9));
    assert_eq!(p.locations.len(), 49);
    let p = ScrapePlan::default_for(d(2025, 1, 2));
    assert_eq!((p.months[0], p.months[13]), ((2023, 12), (2025, 1)));
}

#[test]
fn day_ranges_read_well() {
    assert_eq!(day_ranges(&[3, 5, 6, 7, 20]), "3, 5–7, 20");
    assert_eq!(day_ranges(&[31]), "31");
}

#[test]
fn backoff_grows_and_is_bounded() {
    for attempt in 1..=4 {
        let b = backoff(100, attempt);
        let base = 100 * (1 << (attempt - 1));
        assert!(b >= Duration::from_millis(base) && b <= Duration::from_millis(base * 3 / 2));
    }
    assert!(backoff(10_000, 30) <= MAX_BACKOFF * 3 / 2);
}

/// A page's line reaches the station-month's log line and the run's
/// message, next to the settings to check.
#[test]
fn html_pages_are_named_in_lines_and_message() {
    let m = |outcome| MonthOutcome {
        location: "Sydney".into(),
        code: "IDCJDW2124".into(),
        month: "2024-09".into(),
        outcome,
    };
    let page = r#"title "Access Denied", heading "Access Denied", reference 18.5c3e1002"#;
    let forbidden = m(Outcome::Forbidden {
        url: "u".into(),
        page: Some(page.into()),
    });
    assert_eq!(
        forbidden.line(),
        format!("Sydney 2024-09 (IDCJDW2124): forbidden (403) at u; BOM's page: {page}")
    );
    let r = ScrapeReport::build(vec![forbidden.clone()], false, None);
    assert!(
        r.message.contains(&format!(
            "set bom.user_agent to identify you and raise bom.delay_ms, e.g. Sydney 2024-09 got {page}"
        )),
        "{}",
        r.message
    );
    let limited = m(Outcome::HttpError {
        url: "u".into(),
        status: 429,
        page: Some(r#"title "Too Many Requests""#.into()),
    });
    let r = ScrapeReport::build(vec![limited], false, None);
    assert!(
        r.message.contains(
            r#"HTTP 429 at u; BOM's page: title "Too Many Requests"; raise bom.delay_ms"#
        ),
        "{}",
        r.message
    );
    // Stored run reports from before pages were read still load.
    let old: Outcome = serde_json::from_str(r#"{"kind":"forbidden","url":"u"}"#).unwrap();
    assert_eq!(
        old,
        Outcome::Forbidden {
            url: "u".into(),
            page: None
        }
    );
    let json = serde_json::to_string(&forbidden.outcome).unwrap();
    assert_eq!(
        serde_json::from_str::<Outcome>(&json).unwrap(),
        forbidden.outcome
    );
}

#[test]
fn failed_rules() {
    let m = |outcome| MonthOutcome {
        location: "Perth".into(),
        code: "IDCJDW6111".into(),
        month: "2024-08".into(),
        outcome,
    };
    let ok = Outcome::Ok {
        rows: 1,
        inserted: 1,
        updated: 0,
        unchanged: 0,
        out_of_range: vec![],
        missing_days: vec![],
    };
    let nf = Outcome::NotFound { url: "u".into() };
    let r = ScrapeReport::build(vec![m(ok.clone()), m(nf.clone())], false, None);
    assert!(!r.failed(), "{}", r.message);
    assert!(
        r.message
            .contains("check bom.base_url and the station's product code")
    );
    let r = ScrapeReport::build(vec![m(nf.clone())], false, None);
    assert!(r.failed());
    let r = ScrapeReport::build(
        vec![
            m(ok.clone()),
            m(Outcome::Forbidden {
                url: "u".into(),
                page: None,
            }),
        ],
        false,
        None,
    );
    assert!(r.failed());
    assert!(r.message.contains("BOM refused the request (403)"));
    let r = ScrapeReport::build(vec![m(Outcome::SkippedComplete)], false, None);
    assert!(!r.failed());
    let json = serde_json::to_string(&r).unwrap();
    let back: ScrapeReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

/// A stand-in on this machine gets no delay; BOM, and any other host,
/// keeps the configured polite pace.
#[test]
fn only_a_loopback_stand_in_skips_the_pace() {
    for url in [
        "http://127.0.0.1:8765",
        "http://127.3.4.5",
        "http://[::1]:8765/",
        "http://localhost:8765",
        "http://LOCALHOST.",
        "http://bom.localhost:1",
    ] {
        assert!(is_loopback(url), "{url}");
    }
    for url in [
        "https://www.bom.gov.au",
        "http://10.0.0.1:8765",
        "http://[::2]",
        "http://localhost.example.com",
        "http://notlocalhost",
        "http://128.0.0.1",
        "not a url",
    ] {
        assert!(!is_loopback(url), "{url}");
    }
    let mut cfg = BomConfig::default();
    assert_eq!(pace_for(&cfg), Duration::from_millis(1000));
    cfg.base_url = "http://127.0.0.1:8765".into();
    assert_eq!(pace_for(&cfg), Duration::ZERO);
}
