//! What a city page shows beside its headline, built from the board, the
//! record and the model: skill by issue, the forecast as issued, the next
//! rain day, how much to trust the number, and the sources with their terms.

use chrono::NaiveDate;

use super::shown_percent;
use crate::serving::Forecast;
use crate::web::charts;

/// One channel feeding a city's page, with BOM's terms for it.
pub struct SourceTerms {
    pub channel: &'static str,
    pub what: &'static str,
    pub terms: &'static str,
}

/// The channels `config` uses for `st`, in order of authority, and why the
/// city is website-only when FTP is on but it has no feed station.
pub fn source_terms(
    config: &crate::config::Config,
    st: &'static crate::stations::Station,
) -> (Vec<SourceTerms>, Option<&'static str>) {
    use crate::config::Channel;
    let feed = crate::ingest::ftp::feeds::feed(st);
    let website_only = match (&feed, config.sources.uses(Channel::Ftp)) {
        (Err(why), true) => Some(*why),
        _ => None,
    };
    let rows = config
        .sources
        .channels()
        .into_iter()
        .filter(|c| *c != Channel::Ftp || feed.is_ok())
        .map(|c| SourceTerms {
            channel: c.as_str(),
            what: c.describe(),
            terms: c.terms(),
        })
        .collect();
    (rows, website_only)
}

pub struct IssueSkillRow {
    pub label: &'static str,
    pub test: String,
    pub live: String,
    /// Skill over climatology in % (test window), for the bar; `None` when
    /// the version did not score it against climatology (before decision
    /// 0035).
    pub skill_pct: Option<i64>,
}

/// The next rain day's evening-before forecast, with that issue's skill.
pub struct NextDay {
    pub percent: i64,
    pub date: NaiveDate,
    /// "Mon 8 Sep".
    pub day: String,
    /// "16:30 AEST on Sat 6 Sep".
    pub issued: String,
    /// "12 % better than climatology on the model's test year, against
    /// 33 % for the afternoon issue", when the model has per-issue scores.
    pub skill: Option<String>,
}

/// Live verified forecasts of one issue a city needs before its own record
/// replaces the model's test window in "how sure, and when".
pub const MIN_LIVE_FOR_ISSUE_SKILL: usize = 30;

/// The "how sure, and when" rows: each issue's skill on the serving model's
/// test window, beside this city's live record of that issue (its verified
/// forecasts of the last year, once there are
/// [`MIN_LIVE_FOR_ISSUE_SKILL`]).
pub(super) fn skill_by_issue(
    record: Option<&crate::store::CalibrationReport>,
    city: &[crate::store::PredictionRow],
) -> Vec<IssueSkillRow> {
    let Some(scores) = record else {
        return Vec::new();
    };
    crate::issue::ISSUES
        .iter()
        .rev()
        .filter_map(|issue| {
            let t = scores.issues.iter().find(|i| i.issue == issue.name())?;
            let verified: Vec<(f64, bool)> = city
                .iter()
                .filter(|p| p.issue.as_deref() == Some(issue.name()))
                .filter_map(|p| Some((p.probability, p.outcome?)))
                .collect();
            let n = verified.len();
            let live = if n >= MIN_LIVE_FOR_ISSUE_SKILL {
                let brier = verified
                    .iter()
                    .map(|&(p, o)| (p - f64::from(u8::from(o))).powi(2))
                    .sum::<f64>()
                    / n as f64;
                format!("{brier:.3} ({n} days)")
            } else {
                format!("{n} of {MIN_LIVE_FOR_ISSUE_SKILL} days so far: the test year stands")
            };
            // A version from before decision 0035 scored its skill against a
            // constant, not climatology: its Brier stands, its skill is not
            // quoted.
            let skill_pct = scores
                .climatology_counted
                .then(|| (t.brier_skill_score * 100.0).round().max(0.0) as i64);
            Some(IssueSkillRow {
                label: issue.label(),
                test: match skill_pct {
                    Some(_) => format!(
                        "{:.3}, {:.0}\u{a0}% better than climatology",
                        t.brier,
                        t.brier_skill_score * 100.0
                    ),
                    None => format!("{:.3}", t.brier),
                },
                live,
                skill_pct,
            })
        })
        .collect()
}

/// The headline as issued: the logged forecast for its rain day and issue
/// (the record's line for that day says the same), with its version and
/// the moment it was logged. When the champion has changed since, its own
/// forecast for the same issue is returned too, to be labelled as a
/// re-forecast; the issued one is never replaced.
pub(super) fn as_issued(
    forecast: Option<std::sync::Arc<Forecast>>,
    year: &[crate::store::PredictionRow],
) -> (Option<std::sync::Arc<Forecast>>, Option<String>) {
    let f = match forecast {
        Some(f) if !f.stale => f,
        other => return (other, None),
    };
    let Some(logged) = year
        .iter()
        .find(|p| p.for_date == f.forecast_date && p.issue.as_deref() == Some(f.issue.name()))
    else {
        return (Some(f), None);
    };
    let mut issued = (*f).clone();
    issued.probability = logged.probability;
    issued.model_version = logged.version;
    if let Some(t) = logged.threshold {
        issued.threshold = t;
    }
    issued.rain = logged.decision();
    // The amounts it gave beside that chance, not the re-forecast's.
    issued.amounts = logged.amounts.clone();
    if let Some(at) = logged
        .issued_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        issued.issued_at = at.with_timezone(&chrono::Utc);
    }
    let reforecast = (logged.version != f.model_version).then(|| {
        format!(
            "Re-forecast by model version {}, promoted since: {}\u{a0}%. The record keeps the issued {}\u{a0}%.",
            f.model_version,
            shown_percent(f.probability),
            shown_percent(logged.probability)
        )
    });
    (Some(std::sync::Arc::new(issued)), reforecast)
}

/// The next rain day's day-before forecast for `st`, with its honest skill.
pub(super) fn next_day(
    st: &crate::stations::Station,
    f: &Forecast,
    record: Option<&crate::store::CalibrationReport>,
) -> NextDay {
    let skill = record
        .filter(|c| c.climatology_counted)
        .and_then(|c| {
            let of = |name: &str| c.issues.iter().find(|i| i.issue == name);
            let (day_before, afternoon) = (of("day_before")?, of("afternoon")?);
            Some(format!(
                "{:.0}\u{a0}% better than climatology on the model's test year, against {:.0}\u{a0}% for the afternoon issue",
                day_before.brier_skill_score * 100.0,
                afternoon.brier_skill_score * 100.0
            ))
        });
    NextDay {
        percent: shown_percent(f.probability),
        date: f.forecast_date,
        day: f.forecast_date.format("%a %-d %b").to_string(),
        issued: local_time(st, f.issued_at),
        skill,
    }
}

/// Verified live forecasts a city needs before its own reliability chart
/// replaces the model's test-window one.
pub const MIN_LIVE_FOR_RELIABILITY: usize = 30;

/// "How much to trust the number": a reliability chart and its table, from
/// the city's verified live forecasts once there are enough, else from the
/// serving model's test window (all stations).
pub struct Trust {
    pub svg: String,
    /// Where the numbers come from, in words.
    pub source: String,
    pub live: bool,
    /// (we said, days, on average we said, it rained)
    pub rows: Vec<(String, u64, String, String)>,
    /// About the bin of the forecast shown: "Our forecast, 9 %, is in the
    /// 0–10 % bin: when we said 0–10 %, it rained on 6 % of those 4,120 days."
    pub headline: Option<String>,
}

/// (lo, hi, forecasts, mean forecast, observed frequency)
type TrustBin = (f64, f64, u64, f64, f64);

pub(super) fn trust_view(
    name: &str,
    live: &[crate::store::PredictionRow],
    model: Option<&crate::registry::LoadedModel>,
    shown: Option<f64>,
) -> Option<Trust> {
    let verified: Vec<(f64, bool)> = live
        .iter()
        .filter_map(|p| Some((p.probability, p.outcome?)))
        .collect();
    let (bins, source, is_live): (Vec<TrustBin>, String, bool) = if verified.len()
        >= MIN_LIVE_FOR_RELIABILITY
    {
        let mut r = crate::score::Reliability::default();
        for &(p, rain) in &verified {
            r.add(p, rain);
        }
        let bins = r
            .bins()
            .into_iter()
            .filter_map(|b| Some((b.lo, b.hi, b.n, b.mean_forecast?, b.observed?)))
            .collect();
        (
            bins,
            format!(
                "our {} verified forecasts for {name} over the last year",
                verified.len()
            ),
            true,
        )
    } else {
        let m = model?;
        let bins = m
            .summary
            .metrics
            .calibration
            .as_ref()?
            .reliability
            .iter()
            .filter(|b| b.n > 0)
            .filter_map(|b| Some((b.lo, b.hi, b.n, b.mean_forecast?, b.observed?)))
            .collect();
        (
            bins,
            format!(
                "model version {}'s test window, all 49 cities ({name} has {} verified forecasts so far; its own chart appears at {MIN_LIVE_FOR_RELIABILITY})",
                m.version,
                verified.len()
            ),
            false,
        )
    };
    if bins.is_empty() {
        return None;
    }
    let pct = |x: f64| format!("{:.0}\u{a0}%", x * 100.0);
    // The bin of the forecast shown (the top bin holds 100 %); without one,
    // the busiest bin.
    let of_shown = shown.and_then(|p| {
        bins.iter()
            .find(|b| b.0 <= p && (p < b.1 || (b.1 >= 1.0 && p <= 1.0)))
            .map(|b| (b, p))
    });
    let headline = match of_shown {
        Some((b, p)) => Some(format!(
            "Our forecast, {}\u{a0}%, is in the {:.0}–{} bin: when we said {:.0}–{}, it rained on {} of those {} days.",
            shown_percent(p),
            b.0 * 100.0,
            pct(b.1),
            b.0 * 100.0,
            pct(b.1),
            pct(b.4),
            b.2
        )),
        None => bins.iter().max_by_key(|b| b.2).map(|b| {
            format!(
                "When we said {:.0}–{}, it rained on {} of those {} days.",
                b.0 * 100.0,
                pct(b.1),
                pct(b.4),
                b.2
            )
        }),
    };
    let points: Vec<charts::ReliabilityPoint> = bins.iter().map(|b| (b.3, b.4, b.2)).collect();
    Some(Trust {
        svg: charts::reliability(
            &if is_live {
                format!("{name}: when we said a chance of rain, how often it rained")
            } else {
                "All 49 cities, the model's test year: when it said a chance of rain, how often it rained".to_string()
            },
            &points,
        ),
        source,
        live: is_live,
        rows: bins
            .iter()
            .map(|b| {
                (
                    format!("{:.0}–{:.0}\u{a0}%", b.0 * 100.0, b.1 * 100.0),
                    b.2,
                    pct(b.3),
                    pct(b.4),
                )
            })
            .collect(),
        headline,
    })
}

pub(super) fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

/// `at` in the station's local time, its zone named: "16:30 AEST on Sat 6 Sep".
pub(super) fn local_time(
    st: &crate::stations::Station,
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    at.with_timezone(&crate::issue::Zone::of(st).tz())
        .format("%H:%M %Z on %a %-d %b")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PredictionRow;

    /// The headline is the issued forecast, as the record logged it; a
    /// champion promoted since is a labelled re-forecast beside it.
    #[test]
    fn the_headline_is_the_forecast_as_issued() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 2).unwrap();
        let served = std::sync::Arc::new(forecast(
            "SydneyAirport",
            day,
            crate::issue::Issue::Afternoon,
            0.25,
            2,
        ));
        assert_eq!(served.display_name, "Sydney Airport");
        let curve = |c: [f32; crate::amounts::N]| {
            Some(crate::amounts::Amounts::from(&crate::amounts::Curve(c)))
        };
        let mut served = served;
        std::sync::Arc::make_mut(&mut served).amounts =
            curve([0.5, 0.25, 0.2, 0.1, 0.05, 0.03, 0.01, 0.001]);
        let mut logged = row(1, 0.14, None);
        logged.issued_at = Some("2025-01-01T05:50:00.000Z".into());
        logged.amounts = curve([0.3, 0.14, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001]);
        let (f, re) = as_issued(Some(served.clone()), std::slice::from_ref(&logged));
        let f = f.unwrap();
        assert_eq!((f.probability, f.model_version), (0.14, 1));
        // The amounts beside it are the issued ones too.
        assert_eq!(f.amounts, logged.amounts);
        assert_eq!(f.issued_at.to_rfc3339(), "2025-01-01T05:50:00+00:00");
        let re = re.expect("labelled");
        assert!(re.contains("model version 2") && re.contains("25"), "{re}");
        // Issued by the serving version: no label.
        logged.version = 2;
        let (f, re) = as_issued(Some(served.clone()), &[logged]);
        assert_eq!(f.unwrap().probability, 0.14);
        assert!(re.is_none());
        // Nothing logged for that issue: the served forecast stands.
        let (f, re) = as_issued(Some(served), &[row(5, 0.9, None)]);
        assert_eq!(f.unwrap().probability, 0.25);
        assert!(re.is_none());
    }

    /// The test year's skill is quoted only from a record that scored it
    /// against climatology (decision 0035); an older version's Brier
    /// stands, its skill against a constant is not shown as skill.
    #[test]
    fn skill_is_quoted_only_when_scored_against_climatology() {
        let score = |issue: &str, brier: f64, skill: f64| crate::store::IssueScore {
            issue: issue.into(),
            n: 100,
            brier,
            roc_auc: 0.8,
            mean_forecast: 0.22,
            observed_frequency: 0.22,
            climatology_brier: brier / (1.0 - skill),
            brier_skill_score: skill,
        };
        let mut record = crate::store::CalibrationReport {
            brier_calibrated: 0.12,
            brier_raw: 0.12,
            mean_forecast: 0.22,
            mean_forecast_raw: 0.22,
            method: "platt".into(),
            level_kept: true,
            observed_frequency: 0.22,
            reliability: Vec::new(),
            tune_rows: 100,
            issues: vec![
                score("day_before", 0.150, 0.108),
                score("morning", 0.119, 0.290),
                score("afternoon", 0.098, 0.42),
            ],
            climatology_counted: true,
        };
        let rows = skill_by_issue(Some(&record), &[]);
        let pcts: Vec<Option<i64>> = rows.iter().map(|r| r.skill_pct).collect();
        assert_eq!(pcts, [Some(42), Some(29), Some(11)]);
        assert_eq!(rows[2].test, "0.150, 11\u{a0}% better than climatology");
        let st = crate::stations::by_location("Sydney").unwrap();
        let day = NaiveDate::from_ymd_opt(2025, 1, 3).unwrap();
        let f = forecast("Sydney", day, crate::issue::Issue::DayBefore, 0.3, 1);
        let skill = next_day(st, &f, Some(&record)).skill.expect("quoted");
        assert!(
            skill.starts_with("11\u{a0}% better than climatology"),
            "{skill}"
        );
        assert!(skill.contains("42\u{a0}% for the afternoon"), "{skill}");

        // A version from before: the same figures, scored against 0.224.
        record.climatology_counted = false;
        let rows = skill_by_issue(Some(&record), &[]);
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter().all(|r| r.skill_pct.is_none()),
            "{:?}",
            rows.iter().map(|r| &r.test).collect::<Vec<_>>()
        );
        assert_eq!(rows[2].test, "0.150");
        assert!(next_day(st, &f, Some(&record)).skill.is_none());
        // A record read back from an older version's JSON has no flag.
        let mut json = serde_json::to_value(&record).unwrap();
        assert!(json.get("climatology_counted").is_none(), "{json}");
        json["climatology_counted"] = true.into();
        let back: crate::store::CalibrationReport = serde_json::from_value(json).unwrap();
        assert!(back.climatology_counted);
    }

    /// A served forecast for `location`'s rain day `day`, made at `issue`
    /// by `version` from the row of the day before.
    fn forecast(
        location: &str,
        day: NaiveDate,
        issue: crate::issue::Issue,
        probability: f64,
        version: i64,
    ) -> Forecast {
        let now = chrono::Utc::now();
        Forecast {
            amounts: None,
            at_least: None,
            location: location.into(),
            display_name: crate::stations::display_name(location).into(),
            observation_date: day.pred_opt().unwrap(),
            forecast_date: day,
            issue,
            issued_at: now,
            window_start: now,
            window_end: now,
            probability,
            model_probability: probability,
            rain: false,
            threshold: 0.3,
            model_version: version,
            stale: false,
            data_age_days: 0,
            kind: crate::serving::ForecastKind::Forecast,
        }
    }

    fn row(day: u32, probability: f64, rained: Option<bool>) -> PredictionRow {
        let d = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(day.into());
        PredictionRow {
            location: "SydneyAirport".into(),
            for_date: d,
            obs_date: Some(d),
            version: 1,
            probability,
            threshold: Some(0.3),
            outcome: rained,
            issue: Some("afternoon".into()),
            issued_at: None,
            amounts: None,
            amount_mm: None,
        }
    }

    #[test]
    fn a_city_with_enough_verified_days_gets_its_own_reliability() {
        // 40 verified days: 20 said 35 % (7 rained), 20 said 5 % (1 rained);
        // unverified days do not count.
        let mut rows: Vec<PredictionRow> = (0..20)
            .map(|i| row(i, 0.35, Some(i < 7)))
            .chain((20..40).map(|i| row(i, 0.05, Some(i == 20))))
            .collect();
        rows.push(row(41, 0.9, None));
        let t = trust_view("Sydney Airport", &rows, None, Some(0.37)).expect("a chart");
        assert!(t.live);
        assert!(
            t.source
                .contains("40 verified forecasts for Sydney Airport")
        );
        assert_eq!(
            t.headline.as_deref(),
            Some(
                "Our forecast, 37\u{a0}%, is in the 30–40\u{a0}% bin: when we said 30–40\u{a0}%, it rained on 35\u{a0}% of those 20 days."
            )
        );
        assert_eq!(t.rows.len(), 2);
        assert!(t.svg.starts_with("<svg") && t.svg.contains("Sydney Airport"));
        // Too few verified days and no model: nothing to show yet.
        assert!(trust_view("Sydney Airport", &rows[..10], None, Some(0.37)).is_none());
        // The headline follows the forecast shown: a 3 % forecast speaks
        // about the 0–10 % bin (shown as 5 %).
        let low = trust_view("Sydney Airport", &rows, None, Some(0.03)).unwrap();
        assert_eq!(
            low.headline.as_deref(),
            Some(
                "Our forecast, 5\u{a0}%, is in the 0–10\u{a0}% bin: when we said 0–10\u{a0}%, it rained on 5\u{a0}% of those 20 days."
            )
        );
        assert!(low.svg.contains("Sydney Airport: when we said"));
    }
}
