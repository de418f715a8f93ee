//! Operations: the deploy files pass promtool, a real Prometheus scrapes a
//! running raincast, the Grafana dashboard asks only for metrics raincast
//! exposes, and `raincast backup` copies a database that is being written.

use crate::support;

use crate::support::app;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::{TestApp, json, spawn_app_with};
use raincast::clock::Clock;
use raincast::jobs::{JobKind, Trigger};
use raincast::store::RunStatus;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Debian's `prometheus` package ships both tools; fail (never skip) without them.
fn tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin"])
    {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{name}` is not installed: install the Debian package `prometheus` (apt-get install prometheus), which provides promtool and prometheus"
    );
}

fn run_tool(cmd: &mut Command, stdin: Option<&str>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tool");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_deploy_files() {
    let promtool = tool("promtool");
    let out = run_tool(
        Command::new(&promtool)
            .args(["check", "config"])
            .arg(repo("deploy/prometheus.yml")),
        None,
    );
    assert_ok(&out, "promtool check config deploy/prometheus.yml");
    // The config pulls in the alert rules, so both are checked here.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("alerts.yml"), "rule file not checked: {text}");
    let out = run_tool(
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(repo("deploy/alerts.yml")),
        None,
    );
    assert_ok(&out, "promtool check rules deploy/alerts.yml");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SUCCESS"), "{text}");
}

/// An app that has done some work: API requests (one verified forecast in
/// the last 30 days), a training run and a failed scrape, so that every
/// counter and gauge exists.
async fn busy_app() -> TestApp {
    let app = spawn_app_with(true, |c| {
        // Nothing listens there: the scrape fails fast, but runs.
        c.bom.base_url = format!("http://127.0.0.1:{}", support::free_port());
        c.bom.retries = 0;
        c.bom.delay_ms = 0;
        c.bom.timeout_secs = 2;
    })
    .await;
    for path in [
        "/api/v1/forecast/Sydney",
        "/api/v1/forecast/Sydney?date=2017-06-10",
        "/api/v1/forecast/Nowhere",
        "/api/v1/models",
        "/healthz",
    ] {
        let (s, _) = json(app.get(path).send().await.unwrap()).await;
        assert!(s == 200 || s == 422, "{path}: {s}");
    }
    let (s, _) = json(
        app.post("/api/v1/predict")
            .header("content-type", "application/json")
            .body(r#"{"Location":"Perth","Date":"2017-06-20","Rainfall":3.4}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    let train = app
        .state
        .jobs
        .run(JobKind::Train, Trigger::Cli)
        .await
        .unwrap();
    assert_eq!(train.status, RunStatus::Succeeded, "{:?}", train.error);
    let scrape = app
        .state
        .jobs
        .run(JobKind::Scrape, Trigger::Cli)
        .await
        .unwrap();
    assert_eq!(
        scrape.status,
        RunStatus::Failed,
        "the BOM address is closed"
    );
    // One verified live forecast, the way the daily job makes it (changed
    // with issue 11: a `?date=` read no longer logs and scores a forecast):
    // logged before its day's observation exists, scored once it arrives.
    let store = app.store.clone();
    let clock_now = app.clock.now();
    tokio::task::spawn_blocking(move || {
        let latest = store.latest_date("Perth").unwrap().unwrap();
        let for_date = latest + chrono::Days::new(1);
        let perth = raincast::stations::by_location("Perth").unwrap();
        assert!(
            store
                .log_prediction(&raincast::store::IssuedForecast {
                    location: "Perth",
                    for_date,
                    issue: raincast::issue::Issue::Afternoon,
                    obs_date: latest,
                    version: 1,
                    probability: 0.7,
                    threshold: 0.5,
                    issued_at: clock_now,
                    window_end: raincast::issue::window(perth, for_date).1,
                    amounts: None,
                })
                .unwrap()
        );
        let mut next = raincast::obs::Observation::empty("Perth", latest + chrono::Days::new(1));
        next.rain_today = Some(true);
        store.upsert_observations(&[next], "test").unwrap();
        assert_eq!(store.score_predictions(clock_now).unwrap(), 1);
    })
    .await
    .unwrap();
    let (serving, store) = (app.state.serving.clone(), app.store.clone());
    let now = app.clock.now();
    tokio::task::spawn_blocking(move || serving.sync(&store, now, 2).unwrap())
        .await
        .unwrap();
    app
}

async fn metrics_text(app: &TestApp) -> String {
    let resp = app.get("/metrics").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn promtool_accepts_live_metrics() {
    let promtool = tool("promtool");
    let app = busy_app().await;
    let text = metrics_text(&app).await;
    for name in [
        "raincast_job_runs_total",
        "raincast_job_duration_seconds_bucket",
        "raincast_http_requests_total",
        "raincast_live_brier",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    let out = run_tool(
        Command::new(&promtool).args(["check", "metrics"]),
        Some(&text),
    );
    assert_ok(&out, "promtool check metrics");
    app.stop().await;
}

/// Metric names in a PromQL expression: identifiers that start with
/// `raincast_` or `process_`, outside string literals.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    let mut in_string: Option<char> = None;
    let mut word = String::new();
    let flush = |w: &mut String, out: &mut Vec<String>| {
        if w.starts_with("raincast_") || w.starts_with("process_") {
            out.push(w.clone());
        }
        w.clear();
    };
    while let Some(c) = chars.next() {
        if let Some(q) = in_string {
            if c == '\\' {
                chars.next();
            } else if c == q {
                in_string = None;
            }
            continue;
        }
        let ident = c.is_ascii_alphanumeric() || c == '_' || c == ':';
        if ident && !(word.is_empty() && c.is_ascii_digit()) {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if c == '"' || c == '\'' || c == '`' {
            in_string = Some(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[test]
fn metric_name_tokenizer() {
    assert_eq!(
        metric_names(
            r#"sum by (kind) (increase(raincast_job_runs_total{kind=~"raincast_x|y"}[1d])) / process_open_fds"#
        ),
        ["raincast_job_runs_total", "process_open_fds"]
    );
    assert_eq!(metric_names("rate(x[5m]) * 2e3"), Vec::<String>::new());
}

/// Every `expr` in every panel (rows' nested panels included).
fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => dashboard_exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| dashboard_exprs(x, out)),
        _ => {}
    }
}

/// Names of the samples (and declared families) in Prometheus text.
fn exposed_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            names.insert(name.to_string());
            if kind == "histogram" {
                for s in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{s}"));
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn grafana_dashboard_uses_only_exposed_metrics() {
    let text = std::fs::read_to_string(repo("deploy/grafana/raincast-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON parses");
    assert!(
        dash["panels"].as_array().is_some_and(|p| !p.is_empty()),
        "no panels"
    );
    let mut exprs = Vec::new();
    dashboard_exprs(&dash["panels"], &mut exprs);
    assert!(exprs.len() >= 10, "only {} exprs found", exprs.len());

    let app = busy_app().await;
    let exposed = exposed_names(&metrics_text(&app).await);
    let mut used = BTreeSet::new();
    let mut missing = Vec::new();
    for e in &exprs {
        let names = metric_names(e);
        assert!(
            !names.is_empty(),
            "expr names no raincast/process metric: {e}"
        );
        for n in names {
            if !exposed.contains(&n) {
                missing.push(format!("{n} (in `{e}`)"));
            }
            used.insert(n);
        }
    }
    assert!(
        missing.is_empty(),
        "the dashboard asks for metrics /metrics does not expose: {missing:#?}\nexposed: {exposed:#?}"
    );
    assert!(used.len() >= 15, "{used:?}");
    app.stop().await;
}

/// A Prometheus server, killed on drop (also when the test fails).
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(target: &str) -> Prometheus {
    let bin = tool("prometheus");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: raincast\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let port = support::free_port();
    let log = std::env::var_os("TEST_LOG").is_some();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(if log { Stdio::inherit() } else { Stdio::null() })
        .stderr(if log { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .expect("start prometheus");
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

/// The values of an instant query (empty while Prometheus starts or has no data).
async fn query(prom: &Prometheus, q: &str) -> Vec<f64> {
    let Ok(resp) = app::client()
        .get(format!("{}/api/v1/query", prom.url))
        .query(&[("query", q)])
        .send()
        .await
    else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&resp.text().await.unwrap_or_default())
    else {
        return Vec::new();
    };
    v["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|s| s["value"][1].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A PromQL query and what its values must satisfy.
type Check = (&'static str, fn(&[f64]) -> bool);

#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_scrapes_raincast() {
    let _heavy = crate::support::heavy().await;
    let app = busy_app().await;
    let target = app.url.trim_start_matches("http://").to_string();
    let mut prom = start_prometheus(&target);
    let deadline = Instant::now() + Duration::from_secs(60);
    let checks: [Check; 4] = [
        (r#"up{job="raincast"}"#, |v| v == [1.0]),
        (
            r#"sum(raincast_job_runs_total{job="raincast",kind="train",status="succeeded"})"#,
            |v| v.first().is_some_and(|x| *x >= 1.0),
        ),
        (
            r#"raincast_observation_age_seconds{job="raincast",location="Sydney"}"#,
            // The newest Sydney row is 2017-06-25; the app's clock is on 2017-06-26.
            |v| v.len() == 1 && (0.0..=86_400.0).contains(&v[0]),
        ),
        (r#"raincast_champion_f1{job="raincast"}"#, |v| {
            v.len() == 1 && (0.0..=1.0).contains(&v[0])
        }),
    ];
    let mut pending: Vec<_> = checks.to_vec();
    while !pending.is_empty() {
        if let Ok(Some(status)) = prom.child.try_wait() {
            panic!("prometheus exited early: {status} (TEST_LOG=1 shows its log)");
        }
        let mut still = Vec::new();
        for (q, ok) in pending {
            let v = query(&prom, q).await;
            if !ok(&v) {
                still.push((q, ok));
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "within 60 s Prometheus did not answer as expected for: {:?}",
            pending.iter().map(|p| p.0).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(prom);
    app.stop().await;
}

/// Run the real binary with a time limit.
fn raincast(db: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(support::bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env("RAINCAST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run raincast");
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "raincast {args:?} did not finish within {limit:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn count(path: &Path) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row("SELECT count(*) FROM observations", [], |r| r.get(0))
        .unwrap()
}

/// `raincast backup` while a thread writes one row every `pace`; the
/// backup must finish within `limit` and be a consistent snapshot.
fn backup_while_writing(pace: Duration, limit: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let db = app::new_db(dir.path(), true);
    let store = app::open(&db);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, written) = (store.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || {
            let start = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                let mut o =
                    raincast::obs::Observation::empty("Sydney", start + chrono::Days::new(i));
                o.nums[raincast::obs::Num::Rainfall as usize] = Some((i % 7) as f64);
                o.rain_today = o.derived_rain_today();
                store.upsert_observations(&[o], "test-writer").unwrap();
                i += 1;
                written.store(i, Ordering::Release);
                std::thread::sleep(pace);
            }
        })
    };
    // Stops the writer however this test ends.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let _guard = StopOnDrop(stop.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while written.load(Ordering::Acquire) < 20 {
        assert!(Instant::now() < deadline, "the writer does not write");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = count(&db);
    let copy = dir.path().join("copy.db");
    let out = raincast(&db, &["backup", copy.to_str().unwrap()], limit);
    let after = count(&db);
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    assert_ok(&out, "raincast backup");
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity check: ok"));
    assert!(
        after > before,
        "the writer kept writing during the backup ({before} → {after})"
    );

    assert_eq!(raincast::store::integrity_check(&copy).unwrap(), "ok");
    let copied = count(&copy);
    assert!(
        (before..=after).contains(&copied),
        "copy has {copied} rows; the live database had {before} before and {after} after"
    );
    // The copy is a whole, usable database: it opens, and its models load.
    let c = app::open(&copy);
    assert_eq!(c.champion_version().unwrap(), Some(1));
    raincast::registry::load(&c, 1).unwrap();
    raincast::registry::load(&c, 2).unwrap();
}

#[test]
fn backup_is_consistent_while_another_thread_writes() {
    backup_while_writing(Duration::from_millis(2), Duration::from_secs(60));
}

/// "Safe while serving": a steady stream of small writes (back to back)
/// must not keep the backup from finishing. SQLite's online backup restarts
/// whenever another connection writes the source between steps, so a
/// step-by-step copy could be starved; raincast copies in one step.
#[test]
fn backup_finishes_under_a_steady_write_load() {
    backup_while_writing(Duration::ZERO, Duration::from_secs(30));
}

#[test]
fn backup_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let db = app::new_db(dir.path(), true);
    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, b"keep me").unwrap();
    let out = raincast(
        &db,
        &["backup", existing.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    // Into a directory that is not there: named, and nothing made.
    let nowhere = dir.path().join("no-such-dir").join("b.db");
    let out = raincast(
        &db,
        &["backup", nowhere.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-dir does not exist"), "{err}");
    assert!(!dir.path().join("no-such-dir").exists());
    // The same through the helper, to a new path, works.
    let fresh = dir.path().join("fresh.db");
    let text = support::cli(&db, &["backup", fresh.to_str().unwrap()], &[]);
    assert!(text.contains("integrity check: ok"), "{text}");
    assert_eq!(count(&fresh), count(&db));
}

/// `raincast runs list | head -1`: when the reader closes the pipe, the
/// command stops quietly with success instead of panicking.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(support::bin())
        .arg("--db")
        .arg(dir.path().join("p.db"))
        .args(["runs", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
