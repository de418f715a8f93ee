//! The job lease across real processes: two `raincast serve` on one database
//! file, each firing a scrape and a training every second, never run two
//! jobs at once (before the lease, only the same kind was kept apart across
//! processes, so a training ran while the other process scraped); and a
//! lease left by a SIGKILLed process is taken over at once, its death being
//! certain (its run lock released, its pid gone), not after it expires.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support;

/// Both kinds every second; scrapes go to a closed port (each fetch fails
/// fast, the pause before each makes a run last a second or so); trainings
/// on the empty database fail at once. Nothing is retried or caught up.
fn busy_env(lease_secs: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RAINCAST_SCHEDULE__SCRAPE", "* * * * * *".into()),
        ("RAINCAST_SCHEDULE__TRAIN", "* * * * * *".into()),
        ("RAINCAST_SCHEDULE__CATCH_UP", "false".into()),
        // An empty database stays empty: no bundled history to load first.
        ("RAINCAST_DATABASE__BUNDLED_HISTORY", "false".into()),
        ("RAINCAST_SCHEDULE__SCRAPE_RETRIES", "0".into()),
        ("RAINCAST_SCHEDULE__JOB_LEASE_SECS", lease_secs.into()),
        ("RAINCAST_BOM__BASE_URL", "http://127.0.0.1:9".into()),
        ("RAINCAST_BOM__RETRIES", "0".into()),
        ("RAINCAST_BOM__DELAY_MS", "3".into()),
        ("RAINCAST_BOM__TIMEOUT_SECS", "2".into()),
    ]
}

fn serve(db: &Path, lease_secs: &str) -> support::Server {
    let env = busy_env(lease_secs);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    support::serve(db, &env)
}

/// SIGTERM, then wait: jobs stop at a safe point and record how they ended.
fn terminate(server: &mut support::Server) {
    // SAFETY: kill(2) with a child's pid and a signal number.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGTERM);
    }
    let _ = server.child.wait();
}

struct Run {
    id: i64,
    kind: String,
    pid: i64,
    status: String,
    error: Option<String>,
    started: String,
    finished: Option<String>,
}

fn runs(db: &Path) -> Vec<Run> {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut st = c
        .prepare("SELECT id, kind, pid, status, error, started_at, finished_at FROM job_runs ORDER BY started_at, id")
        .unwrap();
    st.query_map([], |r| {
        Ok(Run {
            id: r.get(0)?,
            kind: r.get(1)?,
            pid: r.get(2)?,
            status: r.get(3)?,
            error: r.get(4)?,
            started: r.get(5)?,
            finished: r.get(6)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn lease_holder(db: &Path) -> Option<(i64, i64)> {
    let c = rusqlite::Connection::open(db).ok()?;
    c.busy_timeout(Duration::from_secs(10)).ok()?;
    c.query_row("SELECT run_id, expires_ms FROM job_lease", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .ok()
}

#[test]
fn two_serve_processes_on_one_file_never_run_two_jobs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    // Create the schema first, so the two do not race to migrate.
    support::cli(&db, &["runs", "list"], &[]);
    let mut a = serve(&db, "60");
    let mut b = serve(&db, "60");
    std::thread::sleep(Duration::from_secs(12));
    terminate(&mut a);
    terminate(&mut b);
    let runs = runs(&db);
    assert!(
        runs.len() >= 4,
        "the schedules ran jobs: {} runs",
        runs.len()
    );
    let pids: std::collections::BTreeSet<i64> = runs.iter().map(|r| r.pid).collect();
    let kinds: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds.len(), 2, "both kinds ran");
    for w in runs.windows(2) {
        let (prev, next) = (&w[0], &w[1]);
        let end = prev
            .finished
            .as_deref()
            .expect("every run recorded its end");
        assert!(
            next.started.as_str() >= end,
            "run {} ({}, pid {}) started at {} while run {} ({}, pid {}) went until {end}",
            next.id,
            next.kind,
            next.pid,
            next.started,
            prev.id,
            prev.kind,
            prev.pid,
        );
    }
    assert!(runs.iter().all(|r| r.status != "running"));
    assert_eq!(lease_holder(&db), None, "the lease was released");
    eprintln!(
        "{} runs by {} processes, none overlapping",
        runs.len(),
        pids.len()
    );
}

#[test]
fn a_killed_holders_lease_is_taken_over_as_soon_as_its_death_is_certain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    support::cli(&db, &["runs", "list"], &[]);
    // BOM stands in as a port that takes connections and never answers:
    // each fetch waits out its 2 s timeout, so a scrape holds the lease
    // for seconds, long enough to be killed while it does (a training on
    // the empty database, or a scrape refused at once, ends within
    // milliseconds and would release it first).
    let stall = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", stall.local_addr().unwrap());
    let env: Vec<(&'static str, String)> = busy_env("60")
        .into_iter()
        .map(|(k, v)| {
            if k == "RAINCAST_BOM__BASE_URL" {
                (k, url.clone())
            } else {
                (k, v)
            }
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // A long lease: waiting for it to expire would take a minute.
    let mut a = support::serve(&db, &env);
    // Wait for a scrape that holds the lease, then kill -9 its process.
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        if let Some(h) = lease_holder(&db)
            && runs(&db).iter().any(|r| r.id == h.0 && r.kind == "scrape")
        {
            break h;
        }
        assert!(Instant::now() < deadline, "no scrape took the lease");
        std::thread::sleep(Duration::from_millis(20));
    };
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let (orphan, _) = held;
    let orphan_run = runs(&db).into_iter().find(|r| r.id == orphan).unwrap();
    let killed_pid = orphan_run.pid;
    let expires = lease_holder(&db)
        .map(|(_, e)| e)
        .expect("the lease is left");

    // Another process takes it over long before it would lapse.
    let mut b = serve(&db, "60");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if runs(&db).iter().any(|r| r.pid != killed_pid) {
            break;
        }
        assert!(Instant::now() < deadline, "the lease was never taken over");
        std::thread::sleep(Duration::from_millis(50));
    }
    terminate(&mut b);
    let runs = runs(&db);
    let orphan_run = runs.iter().find(|r| r.id == orphan).unwrap();
    assert_eq!(orphan_run.status, "failed");
    assert_eq!(
        orphan_run.error.as_deref(),
        Some(
            format!("interrupted: its process (pid {killed_pid}) died before the run ended")
                .as_str()
        )
    );
    let first_of_b = runs.iter().find(|r| r.pid != killed_pid).unwrap();
    let started = chrono::DateTime::parse_from_rfc3339(&first_of_b.started)
        .unwrap()
        .timestamp_millis();
    assert!(
        started < expires - 30_000,
        "run {} started at {started} ms, not long before the dead holder's lease would lapse at {expires} ms",
        first_of_b.id
    );
    assert!(runs.iter().all(|r| r.status != "running"));
}
