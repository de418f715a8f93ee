//! Chaos: `kill -9` of the real binary at random points of an import, a
//! scrape and a training. After each kill the database passes SQLite's
//! integrity and foreign-key checks, and rerunning the step (once the killed
//! run's job lease has lapsed) ends exactly where a clean run ends: the same
//! observation rows, the same scraper state, the same champion model.
//! `CHAOS_SEED` replays a run; the seed is printed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::support;
use crate::support::bom_server::BomServer;

/// The weatherAUS rows of a few stations, as a CSV file in `dir`.
fn subset(dir: &Path) -> PathBuf {
    let gz = std::fs::read(support::weather_aus()).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    let keep = ["Sydney", "Canberra", "Perth", "Albury", "Hobart"];
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 || keep.contains(&line.split(',').nth(1).unwrap_or("")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.join("subset.csv");
    std::fs::write(&path, out).unwrap();
    path
}

struct Steps {
    csv: PathBuf,
    bom: String,
}

impl Steps {
    fn command(&self, db: &Path, step: usize) -> Command {
        let mut c = Command::new(support::bin());
        c.arg("--db").arg(db);
        match step {
            0 => {
                c.arg("import").arg(&self.csv);
            }
            1 => {
                c.args(["scrape", "--from", "2024-08", "--to", "2025-09", "--force"]);
            }
            _ => {
                c.arg("train");
            }
        }
        c.env("RAINCAST_LOG", "error")
            .env("RAINCAST_CLOCK_START", "2025-10-06T00:00:00Z")
            .env("RAINCAST_BOM__BASE_URL", &self.bom)
            .env("RAINCAST_BOM__DELAY_MS", "0")
            .env("RAINCAST_BOM__CONCURRENCY", "4")
            .env("RAINCAST_SCHEDULE__JOB_LEASE_SECS", "3")
            .env("RAINCAST_MODEL__N_TREES", "5")
            .env("RAINCAST_MODEL__MAX_DEPTH", "8")
            .env("RAINCAST_MODEL__THREADS", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Run a step to the end; a refusal because a killed run's lease has
    /// not lapsed yet is retried until it has.
    fn complete(&self, db: &Path, step: usize) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let started = Instant::now();
            let out = self.command(db, step).output().unwrap();
            if out.status.success() {
                return started.elapsed();
            }
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(
                err.contains("already going") && Instant::now() < deadline,
                "step {step} failed: {err}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn conn(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// Wait until no live job lease is left (a killed run's lapses after 3 s),
/// so that the next attempt really runs instead of being refused.
fn wait_for_free_lease(db: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let expires: Option<i64> = conn(db)
            .query_row("SELECT expires_ms FROM job_lease", [], |r| r.get(0))
            .ok();
        if expires.is_none_or(|e| e < chrono::Utc::now().timestamp_millis()) {
            return;
        }
        assert!(Instant::now() < deadline, "the job lease never lapsed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check_integrity(db: &Path, what: &str) {
    let c = conn(db);
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{what}");
    let broken: i64 = c
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(broken, 0, "{what}: foreign keys");
}

/// Every table's rows that a rerun must reproduce, as text: observations
/// (without their fetch times), the scraper's month states, and the
/// champion's model blob hash and metrics.
fn outcome(db: &Path) -> (Vec<String>, Vec<String>, Option<(String, f64)>) {
    let c = conn(db);
    let cols: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('observations')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap()
        .into_iter()
        .filter(|n| n != "fetched_at" && n != "updated_at")
        .map(|n| format!("quote({n})"))
        .collect();
    let rows = c
        .prepare(&format!(
            "SELECT {} FROM observations ORDER BY location, date",
            cols.join(" || '|' || ")
        ))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    let months = c
        .prepare("SELECT location || '|' || month || '|' || status || '|' || complete || '|' || rows FROM source_months ORDER BY location, month")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    let champion = c
        .query_row(
            "SELECT blob_sha256, f1 FROM model_versions WHERE version = (SELECT version FROM deployments ORDER BY id DESC LIMIT 1)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    (rows, months, champion)
}

#[test]
fn kill_9_at_random_points_of_import_scrape_and_train_then_rerun() {
    let _long = crate::support::long_blocking();
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("CHAOS_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bom = rt.block_on(BomServer::start());
    let dir = tempfile::tempdir().unwrap();
    let steps = Steps {
        csv: subset(dir.path()),
        bom: bom.base_url.clone(),
    };

    // The clean run, timing each step.
    let clean = dir.path().join("clean.db");
    let took: Vec<Duration> = (0..3).map(|s| steps.complete(&clean, s)).collect();
    check_integrity(&clean, "clean run");
    let want = outcome(&clean);
    assert!(want.0.len() > 10_000, "rows: {}", want.0.len());
    assert!(want.2.is_some(), "a champion");

    // The same steps, each killed twice at a random point first.
    let chaos = dir.path().join("chaos.db");
    let mut kills = Vec::new();
    for (step, clean_took) in took.iter().enumerate() {
        for attempt in 0..2 {
            let at = clean_took.mul_f64(rng.random_range(0.05..0.95));
            if chaos.exists() {
                wait_for_free_lease(&chaos);
            }
            let mut child = steps.command(&chaos, step).spawn().unwrap();
            std::thread::sleep(at);
            let finished = child.try_wait().unwrap();
            let _ = child.kill(); // SIGKILL
            child.wait().unwrap();
            kills.push(format!(
                "step {step} attempt {attempt}: {}",
                match finished {
                    Some(status) => format!("ended ({status}) before the kill at {at:?}"),
                    None => format!("killed after {at:?}"),
                }
            ));
            check_integrity(&chaos, &format!("after killing step {step} at {at:?}"));
        }
        steps.complete(&chaos, step);
        check_integrity(&chaos, &format!("after rerunning step {step}"));
    }
    let got = outcome(&chaos);
    assert_eq!(got.0.len(), want.0.len(), "observation count; {kills:?}");
    assert!(got.0 == want.0, "observation rows differ; {kills:?}");
    assert_eq!(got.1, want.1, "scraper state; {kills:?}");
    assert_eq!(got.2, want.2, "champion; {kills:?}");
    eprintln!("{}", kills.join("\n"));
}
