//! Helpers shared by the integration tests.

pub mod app;
pub mod bom_server;
pub mod browser;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository's bundled data folder (`data/`, see its README for
/// provenance and terms).
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

pub fn weather_aus() -> PathBuf {
    data_dir().join("weatherAUS.csv.gz")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_raincast"))
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Run the CLI to completion; panics with its output on failure.
pub fn cli(db: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .envs(env.iter().copied())
        .env("RAINCAST_LOG", "warn")
        .output()
        .expect("run raincast");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "raincast {args:?} failed: {text}");
    text
}

/// A `raincast serve` child process, killed on drop. Its log (warnings and
/// up) is kept, and printed if the test panics while it is alive.
pub struct Server {
    pub child: Child,
    pub url: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// What the process has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- log of raincast serve at {} ---\n{}",
                self.url,
                self.log()
            );
        }
    }
}

/// Start `raincast serve` on a port the system picks (`127.0.0.1:0`, so no
/// other test can take it first) and wait until it listens; the address
/// comes from the process's own "raincast listening" line. A process that
/// exits first fails the test with its log.
pub fn serve(db: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let echo = std::env::var_os("TEST_LOG").is_some();
    let mut child = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .env(
            "RAINCAST_LOG",
            if echo {
                "info"
            } else {
                "warn,raincast::app=info"
            },
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start raincast serve");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let (stderr, log) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("{line}");
                }
                if line.contains("raincast listening")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let addr = addr.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.to_string());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    let started = Instant::now();
    loop {
        if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
            return Server {
                child,
                url: format!("http://{addr}"),
                log,
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Let the reader take the last lines.
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "raincast serve exited ({status}) before listening:\n{}",
                log.lock().unwrap()
            );
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "raincast serve did not start listening within 60 s:\n{}",
                log.lock().unwrap()
            );
        }
    }
}

/// Two kinds of long test share this lock. Tests whose figures suffer under
/// load (floods, slow clients, bounded bursts, Lighthouse's scores, a real
/// Prometheus's scrape timing) take it alone ([`heavy`]): nothing else long
/// runs beside them. Tests that are merely long (replays, trainings,
/// Chromium, restore drills) share it ([`long`]): `cargo test` runs two
/// tests at a time on two cores, and two of these side by side use both,
/// as nextest, one process per test, has always run them. Light tests run
/// beside either.
static HEAVY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Takes the lock alone, from an async test.
pub async fn heavy() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    HEAVY.write().await
}

/// Shares the lock with other long tests, from an async test.
pub async fn long() -> tokio::sync::RwLockReadGuard<'static, ()> {
    HEAVY.read().await
}

/// Shares the lock with other long tests, from a synchronous test.
pub fn long_blocking() -> tokio::sync::RwLockReadGuard<'static, ()> {
    HEAVY.blocking_read()
}

/// The time-aware BOM stand-in (`raincast::bomsim`) on 127.0.0.1, its day
/// following a real clock started at `at`; with its base URL.
pub async fn bom_sim(at: chrono::DateTime<chrono::Utc>) -> (raincast::bomsim::BomSim, String) {
    let clock = raincast::clock::SystemClock::starting_at(at);
    let sim = raincast::bomsim::BomSim::new(std::sync::Arc::new(clock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = sim.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (sim, url)
}

/// Registers `blob` as a model version of feature schema `schema` with
/// placeholder metrics, deployed when `promote`; returns its version.
pub fn register_blob(
    store: &raincast::store::Store,
    schema: i64,
    blob: &[u8],
    promote: bool,
    reason: &str,
) -> i64 {
    let window = raincast::store::Window {
        from: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        to: chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
    };
    register_blob_tested_on(store, schema, blob, promote, reason, window)
}

/// [`register_blob`], recording `window` as its test window (and its
/// train and tune windows).
pub fn register_blob_tested_on(
    store: &raincast::store::Store,
    schema: i64,
    blob: &[u8],
    promote: bool,
    reason: &str,
    window: raincast::store::Window,
) -> i64 {
    store
        .register_model(
            &raincast::store::NewModel {
                trained_by_run: None,
                params: &serde_json::json!({}),
                feature_schema: schema,
                train_window: &raincast::store::TrainingWindows {
                    rows: Default::default(),
                    train: window,
                    tune: window,
                },
                test_window: &window,
                threshold: 0.5,
                f1: 0.6,
                roc_auc: 0.85,
                brier: 0.12,
                metrics: &raincast::store::ModelMetrics {
                    calibration: None,
                    amounts: Vec::new(),
                    champion_f1_same_window: None,
                    families: None,
                    family: None,
                    feature_names: Vec::new(),
                    fit_seconds: 0.0,
                    importance: Vec::new(),
                    stations: None,
                    test: Default::default(),
                    trees: None,
                    level: None,
                },
                blob,
                blob_sha256: &raincast::registry::sha256_hex(blob),
            },
            &raincast::store::Decision {
                verdict: if promote {
                    raincast::store::Verdict::Promoted
                } else {
                    raincast::store::Verdict::KeptOut
                },
                reason: reason.into(),
                champion_f1: None,
            },
            "training",
        )
        .unwrap()
}
