//! An in-process raincast for HTTP tests: a template database with real
//! weatherAUS rows for a few stations and two tiny trained models (built once
//! per test process), copied into each test's own temporary directory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use raincast::app::Running;
use raincast::app::{Launch, Timing};
use raincast::clock::FakeClock;
use raincast::config::{Config, ModelConfig};
use raincast::store::Store;
use raincast::train::WindowOverride;
use raincast::web::AppState;

/// Stations imported into the template database.
pub const LOCATIONS: [&str; 4] = ["Sydney", "Canberra", "Perth", "Albury"];

/// The day after the newest weatherAUS observation.
pub fn fresh_today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2017, 6, 26).unwrap()
}

/// Noon UTC of `day`.
pub fn noon(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).unwrap())
}

/// A clock at noon UTC of `day`.
pub fn clock_on(day: NaiveDate) -> Arc<FakeClock> {
    Arc::new(FakeClock::new(noon(day)))
}

/// A model small enough to train in a debug build in a second or two.
pub fn tiny_model() -> ModelConfig {
    ModelConfig {
        n_trees: 5,
        max_depth: 10,
        // The forest alone: quick in debug builds, and the API tests read
        // forest parameters. Boosting is covered by the library's tests.
        boost: false,
        ..Default::default()
    }
}

/// Tracing to stderr, only when `TEST_LOG` is set.
pub fn init_log() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
                .with_test_writer()
                .try_init();
        }
    });
}

/// The weatherAUS rows of [`LOCATIONS`] (header kept), decompressed once.
pub fn subset_csv() -> &'static [u8] {
    static CSV: OnceLock<Vec<u8>> = OnceLock::new();
    CSV.get_or_init(|| {
        let gz = std::fs::read(crate::support::weather_aus()).expect("read weatherAUS.csv.gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .expect("decompress weatherAUS");
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            let loc = line.split(',').nth(1).unwrap_or("");
            if i == 0 || LOCATIONS.contains(&loc) {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.into_bytes()
    })
}

/// Parsed observations of [`LOCATIONS`].
pub fn subset_observations() -> Vec<raincast::obs::Observation> {
    let (obs, rejected) =
        raincast::ingest::weather_aus::parse(subset_csv()).expect("parse weatherAUS subset");
    assert!(
        rejected.is_empty(),
        "rejected rows: {:?}",
        &rejected[..3.min(rejected.len())]
    );
    obs
}

pub fn open(path: &Path) -> Store {
    Store::open(path, Duration::from_secs(10)).expect("open store")
}

/// Train a tiny model on what `store` holds. With `keep_out`, the
/// promotion margin is impossible to beat, so the new version is registered
/// but not promoted.
pub fn train(store: &Store, seed: u64, keep_out: bool) -> raincast::train::TrainReport {
    let cfg = ModelConfig {
        seed,
        promotion_margin: if keep_out { 1.0 } else { 0.0 },
        ..tiny_model()
    };
    raincast::train::train_and_register(
        store,
        &cfg,
        WindowOverride::default(),
        None,
        &|_| {},
        &|_, _| {},
        &AtomicBool::new(false),
    )
    .expect("train a tiny model")
}

/// The template: observations of [`LOCATIONS`], version 1 (champion) and
/// version 2 (registered, kept out). Built once per process, as bytes.
fn template() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("build.db"));
        store
            .upsert_observations(&subset_observations(), "weatherAUS")
            .unwrap();
        let v1 = train(&store, 42, false);
        assert_eq!((v1.version, v1.promoted), (1, true));
        let v2 = train(&store, 7, true);
        assert_eq!((v2.version, v2.promoted), (2, false));
        let copy = dir.path().join("template.db");
        store.backup_to(&copy).unwrap();
        std::fs::read(&copy).unwrap()
    })
}

/// A database of its own in `dir`: `trained` copies the template (two
/// models, v1 serving), otherwise it is empty.
pub fn new_db(dir: &Path, trained: bool) -> PathBuf {
    let path = dir.join("raincast.db");
    if trained {
        std::fs::write(&path, template()).unwrap();
    }
    path
}

/// Settings for tests: tiny models, quick champion polling.
pub fn test_config(db: &Path) -> Config {
    let mut cfg = Config::default();
    cfg.database.path = db.to_path_buf();
    cfg.server.bind = ([127, 0, 0, 1], 0).into();
    cfg.server.champion_poll_secs = 1;
    cfg.model = tiny_model();
    // The trained template holds the history; an empty database stays empty.
    cfg.database.bundled_history = false;
    cfg
}

/// A running app and what the tests need to look at.
pub struct TestApp {
    pub url: String,
    pub state: AppState,
    pub store: Store,
    pub clock: Arc<FakeClock>,
    pub db: PathBuf,
    pub running: Option<Running>,
    /// Holds the test's temporary directory (and its database) until the app drops.
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        client().get(format!("{}{path}", self.url))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        client().post(format!("{}{path}", self.url))
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean shutdown");
        }
    }
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    static C: OnceLock<reqwest::Client> = OnceLock::new();
    C.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    })
    .clone()
}

/// Start raincast on a free port over a fresh database (the trained template
/// when `trained`), with the clock at 2017-06-26. `tweak` edits the settings.
pub async fn spawn_app_with(trained: bool, tweak: impl FnOnce(&mut Config)) -> TestApp {
    init_log();
    let dir = tempfile::tempdir().unwrap();
    let db = if trained {
        tokio::task::spawn_blocking({
            let d = dir.path().to_path_buf();
            move || new_db(&d, true)
        })
        .await
        .unwrap()
    } else {
        new_db(dir.path(), false)
    };
    spawn_app_on(dir, db, tweak).await
}

/// Start raincast over the database `db` (in `dir`) as it is.
pub async fn spawn_app_on(
    dir: tempfile::TempDir,
    db: PathBuf,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    init_log();
    let mut cfg = test_config(&db);
    tweak(&mut cfg);
    let store = open(&db);
    let clock = clock_on(fresh_today());
    let state = raincast::app::boot(Launch {
        config: cfg,
        store: store.clone(),
        clock: clock.clone(),
        timing: Timing::Manual,
    })
    .await
    .expect("boot");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = raincast::app::start(listener, state.clone())
        .await
        .expect("start the app");
    TestApp {
        url: format!("http://{}", running.addr),
        state,
        store,
        clock,
        db,
        running: Some(running),
        _dir: dir,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(true, |_| {}).await
}

/// Status and parsed JSON body; panics on a body that is not JSON and on a
/// 5xx other than 503 (not ready), which no request should cause.
pub async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(
        status < 500 || status == 503,
        "server error {status}: {text}"
    );
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
    (status, v)
}
