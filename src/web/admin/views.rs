//! View models of the admin pages: runs and schedules, a run's summary as
//! readable facts, and a model version's metrics as the model and
//! comparison pages show them. Plain data for the templates; no I/O.

use serde_json::Value;

use crate::jobs::{ForecastLog, JobSummary, ScrapeSummary, TrainSummary};
use crate::store::{JobRun, ModelSummary};
use crate::web::charts;

pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub trigger: String,
    pub status: &'static str,
    pub started: String,
    pub duration: String,
    pub error: String,
}

/// The clock a run's duration is measured on. The store stamps a run's
/// start and end with the wall clock (they say when the process did the
/// work), not with the app's clock, which a demo or the time machine sets to
/// another date: a running job's time so far must come from the same wall
/// clock, or it would read years negative in a demo.
pub(super) fn run_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// How long run `r` took, or has taken by `now` if it is still going.
pub(super) fn elapsed(r: &JobRun, now: chrono::DateTime<chrono::Utc>) -> f64 {
    let end = r.finished_at.unwrap_or(now);
    (end - r.started_at).num_milliseconds() as f64 / 1000.0
}

pub(super) fn run_row(r: &JobRun, now: chrono::DateTime<chrono::Utc>) -> RunRow {
    RunRow {
        id: r.id,
        kind: r.kind.to_string(),
        trigger: r.trigger.to_string(),
        status: r.status.as_str(),
        started: r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        duration: format!("{:.0} s", elapsed(r, now)),
        error: r.error.clone().unwrap_or_default(),
    }
}

pub struct ScheduleRow {
    pub kind: &'static str,
    /// "6 Sep 2025, 18:30 AEST", or `None` when not scheduled.
    pub next: Option<String>,
    /// The run of this kind going now.
    pub running: Option<i64>,
}

/// A run's summary, read back as its kind's type, as (label, value) lines
/// for people; the JSON stays behind the page's toggle.
pub fn summary_facts(s: &JobSummary) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match s {
        JobSummary::Scrape(s) => scrape_facts("", s, &mut out),
        JobSummary::Train(t) => train_facts("", t, &mut out),
        JobSummary::Refresh(r) => {
            scrape_facts("Scrape · ", &r.scrape, &mut out);
            match &r.train {
                Some(t) => train_facts("Training · ", t, &mut out),
                None => out.push(("Training".into(), "failed (see the error)".into())),
            }
        }
    }
    out
}

fn fact(out: &mut Vec<(String, String)>, prefix: &str, label: &str, value: impl ToString) {
    out.push((format!("{prefix}{label}"), value.to_string()));
}

fn scrape_facts(p: &str, s: &ScrapeSummary, out: &mut Vec<(String, String)>) {
    let r = &s.report;
    let t = &r.totals;
    fact(out, p, "Message", &r.message);
    if let Some(why) = &r.aborted {
        fact(out, p, "Stopped early", why);
    }
    if r.cancelled {
        fact(out, p, "Cancelled", "yes");
    }
    fact(out, p, "Station-months planned", t.planned);
    fact(out, p, "Files fetched", t.files_fetched);
    fact(
        out,
        p,
        "Skipped (complete, or missing before)",
        t.skipped_complete + t.skipped_missing,
    );
    fact(
        out,
        p,
        "Rows inserted / updated / unchanged",
        format!(
            "{} / {} / {}",
            t.rows_inserted, t.rows_updated, t.rows_unchanged
        ),
    );
    let problems = [
        ("incomplete months", t.incomplete),
        ("files rejected", t.files_rejected),
        ("values out of range", t.out_of_range),
        ("not found (404)", t.not_found),
        ("refused (403)", t.forbidden),
        ("HTTP errors", t.http_errors),
        ("failed", t.failed),
        ("not started (cancelled)", t.cancelled),
    ];
    let problems: Vec<String> = problems
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    fact(
        out,
        p,
        "Problems",
        if problems.is_empty() {
            "none".to_string()
        } else {
            problems.join(", ")
        },
    );
    if let Some(f) = &s.forecasts {
        forecast_facts(p, f, out);
    }
}

fn train_facts(p: &str, t: &TrainSummary, out: &mut Vec<(String, String)>) {
    let r = &t.report;
    fact(out, p, "Version", r.version);
    fact(out, p, "Decision", r.decision.as_str());
    fact(out, p, "Reason", &r.reason);
    if t.quick {
        fact(
            out,
            p,
            "Quick first model",
            "yes: the forest alone, so that forecasts start at once; the full training follows",
        );
    }
    fact(out, p, "Family", r.family.as_str());
    fact(out, p, "F1", format!("{:.4}", r.f1));
    fact(out, p, "ROC AUC", format!("{:.4}", r.roc_auc));
    fact(out, p, "Brier", format!("{:.4}", r.brier));
    if let Some(c) = r.champion_f1_same_window {
        fact(
            out,
            p,
            "Champion's F1 on the same window",
            format!("{c:.4}"),
        );
    }
    let w = &r.windows;
    fact(
        out,
        p,
        "Windows (train, tune, test)",
        format!(
            "{} to {}, {} to {}, {} to {}",
            w.train.from, w.train.to, w.tune.from, w.tune.to, w.test.from, w.test.to
        ),
    );
    fact(
        out,
        p,
        "Rows (train, tune, test)",
        format!("{}, {}, {}", r.rows[0], r.rows[1], r.rows[2]),
    );
    for f in &r.families {
        fact(
            out,
            p,
            &format!("Fitted · {}", f.family.as_str()),
            format!(
                "F1 {:.4}, ROC AUC {:.4}, Brier {:.4} ({:.4} raw), threshold {:.2}, {} trees in {:.1} s",
                f.f1, f.roc_auc, f.brier, f.brier_raw, f.threshold, f.trees, f.fit_seconds
            ),
        );
    }
    if let Some(f) = &t.forecasts {
        forecast_facts(p, f, out);
    }
}

fn forecast_facts(p: &str, f: &ForecastLog, out: &mut Vec<(String, String)>) {
    fact(
        out,
        p,
        "Forecasts logged",
        format!(
            "{} ({} stations without current data, {} failed)",
            f.logged, f.not_live, f.failed
        ),
    );
    fact(out, p, "Forecasts scored", f.scored);
    if f.alerts > 0 {
        fact(out, p, "Alert deliveries queued", f.alerts);
    }
    if let Some(e) = &f.error {
        fact(out, p, "Forecast log failed", e);
    }
}

/// A summary that does not read as its kind's type (one written by an
/// older release), as generic lines: nested objects flattened
/// ("Totals · rows inserted"), lists counted.
pub fn json_facts(v: &Value) -> Vec<(String, String)> {
    fn label(k: &str) -> String {
        let t = k.replace('_', " ");
        match t.as_str() {
            "f1" => "F1".into(),
            "roc auc" => "ROC AUC".into(),
            "champion f1 same window" => "champion's F1 on the same window".into(),
            _ => t,
        }
    }
    fn value(v: &Value) -> String {
        match v {
            Value::Null => "–".into(),
            Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
            Value::Number(n) if n.is_f64() => {
                let x = n.as_f64().unwrap_or(0.0);
                if x.abs() >= 100.0 {
                    format!("{x:.1}")
                } else {
                    format!("{x:.4}")
                }
            }
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
                a.iter().map(value).collect::<Vec<_>>().join(", ")
            }
            Value::Array(a) => format!("{} entries (in the JSON below)", a.len()),
            Value::Object(_) => String::new(),
        }
    }
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>, depth: usize) {
        let Value::Object(map) = v else {
            out.push((prefix.to_string(), value(v)));
            return;
        };
        // The one-line message first, then the rest in order.
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by_key(|k| (k.as_str() != "message", k.as_str() != "version"));
        for k in keys {
            let name = if prefix.is_empty() {
                label(k)
            } else {
                format!("{prefix} · {}", label(k))
            };
            match &map[k] {
                Value::Object(_) if depth < 3 => walk(&name, &map[k], out, depth + 1),
                Value::Object(_) => out.push((name, "(in the JSON below)".into())),
                x => out.push((name, value(x))),
            }
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out, 0);
    for (k, _) in out.iter_mut() {
        if let Some(c) = k.get(..1) {
            *k = c.to_uppercase() + &k[1..];
        }
    }
    out
}

pub(super) fn trees(r: &JobRun) -> String {
    r.progress
        .as_ref()
        .and_then(|p| serde_json::from_value::<crate::train::TreeProgress>(p.clone()).ok())
        .map_or_else(
            || "–".into(),
            |p| format!("{} / {}", p.trees_done, p.trees_total),
        )
}

pub struct ModelRowView {
    pub version: i64,
    pub champion: bool,
    pub created: String,
    pub f1: String,
    pub auc: String,
    pub brier: String,
    pub threshold: String,
    pub decision: String,
    pub reason: String,
    pub test: String,
    /// `forest` or `boost`.
    pub family: String,
}

pub(super) fn window_text(w: &crate::store::Window) -> String {
    format!("{} – {}", w.from, w.to)
}

pub(super) fn model_view(m: &ModelSummary, champion: Option<i64>) -> ModelRowView {
    ModelRowView {
        version: m.version,
        champion: Some(m.version) == champion,
        created: m.created_at.format("%Y-%m-%d %H:%M").to_string(),
        f1: format!("{:.4}", m.f1),
        auc: format!("{:.4}", m.roc_auc),
        brier: format!("{:.4}", m.brier),
        threshold: format!("{:.2}", m.threshold),
        decision: m.decision.map(|d| d.to_string()).unwrap_or_default(),
        reason: m.decision_reason.clone().unwrap_or_default(),
        test: window_text(&m.test_window),
        family: model_family(m).to_string(),
    }
}

/// The family a version records (versions from before boosting are forests).
pub(super) fn model_family(m: &ModelSummary) -> &'static str {
    m.metrics.family().as_str()
}

/// A version's calibration on its test window, for the model page.
pub struct CalibrationView {
    pub method: String,
    /// Shifted to keep the model's own mean forecast (boosting).
    pub level_kept: bool,
    pub mean_forecast: String,
    pub mean_forecast_raw: String,
    pub observed: String,
    pub brier_raw: String,
    /// (bin, forecasts, mean forecast, observed frequency)
    pub bins: Vec<(String, u64, String, String)>,
    pub points: Vec<charts::ReliabilityPoint>,
}

pub(super) fn calibration_view(m: &ModelSummary) -> Option<CalibrationView> {
    let c = m.metrics.calibration.as_ref()?;
    let pct = |v: Option<f64>| v.map_or("–".into(), |x| format!("{:.1} %", x * 100.0));
    let f4 = |x: f64| format!("{x:.4}");
    Some(CalibrationView {
        method: c.method.clone(),
        level_kept: c.level_kept,
        mean_forecast: pct(Some(c.mean_forecast)),
        mean_forecast_raw: pct(Some(c.mean_forecast_raw)),
        observed: pct(Some(c.observed_frequency)),
        brier_raw: f4(c.brier_raw),
        bins: c
            .reliability
            .iter()
            .map(|b| {
                (
                    format!("{:.0}–{:.0} %", b.lo * 100.0, b.hi * 100.0),
                    b.n,
                    pct(b.mean_forecast),
                    pct(b.observed),
                )
            })
            .collect(),
        points: c
            .reliability
            .iter()
            .filter_map(|b| Some((b.mean_forecast?, b.observed?, b.n)))
            .collect(),
    })
}

/// One station's test-window skill: (location, rows, Brier, ROC AUC).
pub(super) fn station_skill_view(m: &ModelSummary) -> Vec<(String, u64, String, String)> {
    m.metrics
        .stations
        .iter()
        .flatten()
        .map(|s| {
            (
                crate::stations::display_name(&s.location).to_string(),
                s.rows,
                format!("{:.4}", s.brier),
                s.roc_auc.map_or("–".into(), |x| format!("{x:.3}")),
            )
        })
        .collect()
}

/// Everything the model page and the comparison show of one version.
pub struct ModelDetail {
    pub row: ModelRowView,
    pub confusion: [u64; 4],
    pub precision: String,
    pub recall: String,
    pub accuracy: String,
    pub pr_auc: String,
    pub rows: String,
    pub train: String,
    pub tune: String,
    pub params: String,
    pub importance: Vec<(String, String)>,
    pub roc: Vec<(f64, f64)>,
    pub sha: String,
    pub calibration: Option<CalibrationView>,
    /// Worst Brier first.
    pub stations: Vec<(String, u64, String, String)>,
    /// Trees kept (after early stopping, for boosting).
    pub trees: String,
    /// The run that trained this version.
    pub trained_by_run: Option<i64>,
    /// Parameters flattened to (name, value), for the comparison's diff.
    pub param_list: Vec<(String, String)>,
    /// The amounts on the test window, one row per issue (none for
    /// versions from before amounts).
    pub amounts: Vec<AmountRow>,
    /// The scored thresholds' events: the amounts table's header.
    pub amount_events: Vec<String>,
}

/// One issue's amounts on a version's test window, as text.
pub struct AmountRow {
    pub issue: String,
    /// Ranked probability skill score against climatology.
    pub rpss: String,
    /// "mean forecast / observed" per scored threshold.
    pub thresholds: Vec<String>,
    /// How often the range's low and high ends were reached.
    pub low: String,
    pub high: String,
}

/// The scored thresholds' events, for the amounts table's header.
fn amount_events() -> Vec<String> {
    crate::amounts::SCORED
        .iter()
        .map(|&k| crate::amounts::THRESHOLDS[k].event())
        .collect()
}

fn amount_rows(m: &ModelSummary) -> Vec<AmountRow> {
    let pct = |r: &crate::amounts::RangeScore| {
        r.reached_frequency
            .map_or_else(|| "–".into(), |v| format!("{:.1} % of {}", v * 100.0, r.n))
    };
    m.metrics
        .amounts
        .iter()
        .map(|a| AmountRow {
            issue: a.issue.clone(),
            rpss: a
                .scores
                .rpss
                .map_or_else(|| "–".into(), |v| format!("{v:.3}")),
            thresholds: a
                .scores
                .thresholds
                .iter()
                .map(|t| format!("{:.3} / {:.3}", t.mean_forecast, t.observed_frequency))
                .collect(),
            low: a.scores.range.first().map_or_else(|| "–".into(), pct),
            high: a.scores.range.get(1).map_or_else(|| "–".into(), pct),
        })
        .collect()
}

/// A version's parameters, read back as its family's typed set: (name,
/// value as typed) in declaration order, or one line that says why they
/// cannot be read.
pub(super) fn param_entries(m: &ModelSummary) -> Vec<(String, String)> {
    let boost = m.metrics.family() == crate::store::Family::Boost;
    match crate::forest::Hyperparams::read(boost, &m.params) {
        Ok(p) => p
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        Err(why) => vec![("parameters".into(), why)],
    }
}

/// One line of the parameter diff: name, value in a, value in b, differs.
pub struct ParamDiff {
    pub name: String,
    pub a: String,
    pub b: String,
    pub changed: bool,
}

/// Every parameter of either version, the differing ones first.
pub(super) fn param_diff(a: &[(String, String)], b: &[(String, String)]) -> Vec<ParamDiff> {
    let mut names: Vec<&String> = a.iter().chain(b.iter()).map(|x| &x.0).collect();
    names.sort();
    names.dedup();
    let get = |l: &[(String, String)], n: &str| {
        l.iter()
            .find(|x| x.0 == n)
            .map_or_else(|| "–".to_string(), |x| x.1.clone())
    };
    let mut out: Vec<ParamDiff> = names
        .into_iter()
        .map(|n| {
            let (x, y) = (get(a, n), get(b, n));
            ParamDiff {
                changed: x != y,
                name: n.clone(),
                a: x,
                b: y,
            }
        })
        .collect();
    out.sort_by_key(|d| !d.changed);
    out
}

pub(super) fn detail(m: &ModelSummary, champion: Option<i64>) -> ModelDetail {
    let t = &m.metrics.test;
    let f = |x: f64| format!("{x:.4}");
    let c = t.confusion;
    let mut importance = m.metrics.importance.clone();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    let rows = m.train_window.rows;
    let params = param_entries(m);
    ModelDetail {
        row: model_view(m, champion),
        confusion: [c.tp, c.fn_, c.fp, c.tn],
        precision: f(t.precision),
        recall: f(t.recall),
        accuracy: f(t.accuracy),
        pr_auc: f(t.pr_auc),
        rows: format!(
            "train {}, tune {}, test {}",
            rows.train, rows.tune, rows.test
        ),
        train: window_text(&m.train_window.train),
        tune: window_text(&m.train_window.tune),
        params: params_text(&params),
        importance: importance
            .into_iter()
            .take(15)
            .map(|(n, v)| (n, format!("{:.1} %", v * 100.0)))
            .collect(),
        roc: t.roc_curve.clone(),
        sha: m.blob_sha256.clone(),
        calibration: calibration_view(m),
        stations: station_skill_view(m),
        trees: m
            .metrics
            .trees
            .map_or_else(|| "–".into(), |t| t.to_string()),
        trained_by_run: m.trained_by_run,
        param_list: params,
        amounts: amount_rows(m),
        amount_events: amount_events(),
    }
}

/// Parameters as `name = value` lines, as typed.
fn params_text(entries: &[(String, String)]) -> String {
    let width = entries.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    entries
        .iter()
        .map(|(k, v)| format!("{k:<width$} = {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}
