//! Layered configuration: built-in defaults < `config.toml` < `RAINCAST_*`
//! environment variables < CLI flags.
//!
//! Every key has a default, so running with no file at all works. A bad value
//! fails at start with a message that names the key (`bom.timeout_secs: …`).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::forest::{ForestParams, ForestValidParams};

mod cron;
mod validate;
mod values;
pub use cron::CronExpr;
pub use values::{ClassWeights, CookieSecure, FeatureDraw, LocalTime};

/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "RAINCAST_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub bom: BomConfig,
    pub ftp: FtpConfig,
    pub sources: SourcesConfig,
    pub schedule: ScheduleConfig,
    pub model: ModelConfig,
    pub admin: AdminConfig,
    pub alerts: AlertsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Path of the SQLite file. Created, with its tables, when missing; its
    /// directory must exist unless `create_dirs` is set.
    pub path: PathBuf,
    /// How long a writer waits for another writer before giving up (ms).
    pub busy_timeout_ms: u64,
    /// `serve` on an empty database first loads the weatherAUS history
    /// bundled in the binary (2007-11 to 2017-06), so a model exists within
    /// seconds even offline; BOM data is added on top.
    pub bundled_history: bool,
    /// Create the database file's missing parent directories. Off: a path
    /// in a directory that does not exist is an error naming it (a typo
    /// would otherwise start an empty service).
    pub create_dirs: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("raincast.db"),
            busy_timeout_ms: 10_000,
            bundled_history: true,
            create_dirs: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the web server. Port 0 picks a free port.
    pub bind: SocketAddr,
    /// Serve `/metrics` on its own address instead of the main one (empty = main port).
    #[serde(with = "values::optional_addr")]
    pub metrics_bind: Option<SocketAddr>,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// An observation older than this many days makes a forecast `stale`.
    pub stale_after_days: i64,
    /// How often the server checks the database for a champion promoted by another process (s).
    pub champion_poll_secs: u64,
    /// Reverse proxies (comma-separated IP addresses) whose `X-Forwarded-For`
    /// names the client. From any other peer the header is ignored, and the
    /// socket's address is the client (for login throttling).
    pub trusted_proxies: String,
    /// A client must send a request's headers within this time (s), and an
    /// idle keep-alive connection is closed after it.
    pub header_timeout_secs: u64,
    /// A request's body must arrive whole within this time after its
    /// headers (s); a slower or stalled one gets 408 and is closed.
    pub body_timeout_secs: u64,
    /// Open client connections at most; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// `POST /api/v1/predict`: database reads (rows and days the in-memory
    /// board does not hold) in flight across all requests, at most; a batch
    /// that finds no room within a second gets 503 with `Retry-After`.
    pub predict_max_cost: usize,
    /// Reads (GET and HEAD, but `/healthz`, `/readyz`, `/metrics` and
    /// static files) being answered at once, at most; one more gets 503
    /// with `Retry-After` at once instead of queueing behind them.
    pub max_reads_in_flight: usize,
    /// On a read-only replica (`serve --read-only`), the primary's public
    /// URL, named on the admin paths' refusal page (empty = not named).
    pub primary_url: String,
}

impl ServerConfig {
    /// The parsed `trusted_proxies` (validated at load).
    pub fn trusted_proxies(&self) -> Vec<std::net::IpAddr> {
        self.trusted_proxies
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_bind: None,
            body_limit_bytes: 512 * 1024,
            stale_after_days: 2,
            champion_poll_secs: 2,
            trusted_proxies: String::new(),
            header_timeout_secs: 10,
            body_timeout_secs: 10,
            max_connections: 512,
            predict_max_cost: 4000,
            max_reads_in_flight: 256,
            primary_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BomConfig {
    /// Where the DWO files live: `{base_url}/climate/dwo/{YYYYMM}/text/{code}.{YYYYMM}.csv`.
    pub base_url: String,
    /// Sent with every request. BOM blocks clients it takes for anonymous scrapers.
    pub user_agent: String,
    /// Per-request timeout (s).
    pub timeout_secs: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Pause before each request, per worker (ms).
    pub delay_ms: u64,
    /// Retries of a timeout, connection error or 5xx.
    pub retries: u32,
    /// First backoff before a retry (ms); it doubles each time, with jitter.
    pub backoff_ms: u64,
    /// During the first N days of a month, the previous month is fetched again (BOM revises it).
    pub revise_days: u32,
    /// Stop a scrape early after this many consecutive failures of the same
    /// systemic kind (refused connection, DNS, 403, HTML instead of CSV,
    /// timeout, 5xx) with no success in between. 0 = never.
    pub fail_fast_after: u32,
    /// When BOM shows a day's row with its 9 am fields, MinTemp, Rainfall
    /// and Evaporation (and finishes the day before), in each station's
    /// local time.
    pub shows_morning: LocalTime,
    /// When the 3 pm fields appear, in each station's local time.
    pub shows_afternoon: LocalTime,
}

impl BomConfig {
    /// When BOM's fields appear, as training, serving, the schedule and the
    /// stand-in read it.
    pub fn visibility(&self) -> crate::issue::Visibility {
        crate::issue::Visibility {
            morning: self.shows_morning.0,
            afternoon: self.shows_afternoon.0,
        }
    }
}

impl Default for BomConfig {
    fn default() -> Self {
        Self {
            base_url: "https://www.bom.gov.au".into(),
            user_agent: concat!(
                "raincast/",
                env!("CARGO_PKG_VERSION"),
                " (daily rain forecast; set bom.user_agent to your contact)"
            )
            .into(),
            timeout_secs: 30,
            concurrency: 2,
            delay_ms: 1_000,
            retries: 3,
            backoff_ms: 500,
            revise_days: 3,
            fail_fast_after: 6,
            shows_morning: LocalTime::hm(10, 0),
            shows_afternoon: LocalTime::hm(16, 30),
        }
    }
}

/// BOM's anonymous FTP service: the state observation products and the
/// daily climate tables (`docs/ftp.md`). Used only when `sources.order`
/// names `ftp`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FtpConfig {
    /// The FTP server's host name or address.
    pub host: String,
    pub port: u16,
    /// Anonymous login: BOM asks for `anonymous` and an e-mail address as password.
    pub user: String,
    pub password: String,
    /// Directory of the state observation products (`IDN60920.xml` …).
    pub observations_dir: String,
    /// Directory of the daily climate tables (`{state}/{station}/{station}-{YYYYMM}.csv`).
    pub daily_dir: String,
    /// Minutes between two polls of the observation products (at least 10:
    /// BOM updates them about every 10 minutes).
    pub poll_minutes: u64,
    /// Timeout of each connection, command and read (s).
    pub timeout_secs: u64,
    /// Pause before each download (ms).
    pub delay_ms: u64,
    /// Stop a poll after this many consecutive refusals, time-outs or
    /// connection failures with no success in between. 0 = never.
    pub fail_fast_after: u32,
    /// A 9 am or 3 pm field is taken from the reading nearest that local
    /// time, at most this many minutes away.
    pub tolerance_minutes: u32,
}

impl Default for FtpConfig {
    fn default() -> Self {
        Self {
            host: "ftp.bom.gov.au".into(),
            port: 21,
            user: "anonymous".into(),
            password: "raincast@example.org".into(),
            observations_dir: "/anon/gen/fwo".into(),
            daily_dir: "/anon/gen/clim_data/IDCKWCDEA0/tables".into(),
            poll_minutes: 30,
            timeout_secs: 30,
            delay_ms: 1_000,
            fail_fast_after: 3,
            tolerance_minutes: 30,
        }
    }
}

/// Which channels feed the observations, in order of authority.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// Comma-separated, first = authority: `website` (the DWO CSV files),
    /// `ftp` (the anonymous FTP products). A day from a channel earlier in
    /// the list replaces the same day from a later one, never the reverse.
    /// The default leaves FTP off: its products carry other terms than the
    /// website's files (`docs/ftp.md`), so an operator opts in.
    pub order: String,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            order: "website".into(),
        }
    }
}

/// One channel of observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Website,
    Ftp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Website => "website",
            Channel::Ftp => "ftp",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s.trim() {
            "website" => Some(Channel::Website),
            "ftp" => Some(Channel::Ftp),
            _ => None,
        }
    }

    /// What the channel is, as the pages name it.
    pub fn describe(self) -> &'static str {
        match self {
            Channel::Website => "the Daily Weather Observations files on BOM's website",
            Channel::Ftp => {
                "BOM's anonymous FTP products (state observations and daily climate tables)"
            }
        }
    }

    /// The terms BOM attaches to the channel's data, and the attribution it
    /// asks for (docs/ftp.md, "Terms").
    pub fn terms(self) -> &'static str {
        match self {
            Channel::Website => {
                "may be reused with attribution: credit the Bureau of Meteorology wherever they are shown"
            }
            Channel::Ftp => {
                "BOM's default terms: personal use, or use within your organisation; no supply to others"
            }
        }
    }

    /// The channel a stored row's `source` came through: `bom:…` is the
    /// website's DWO file, `ftp:…` an assembled row; anything else (the
    /// bundled history, an import) is neither.
    pub fn of_source(source: &str) -> Option<Channel> {
        if source.starts_with("bom:") {
            Some(Channel::Website)
        } else if source.starts_with("ftp:") {
            Some(Channel::Ftp)
        } else {
            None
        }
    }
}

impl SourcesConfig {
    /// The channels in order of authority (validated at load).
    pub fn channels(&self) -> Vec<Channel> {
        self.order.split(',').filter_map(Channel::parse).collect()
    }

    pub fn uses(&self, c: Channel) -> bool {
        self.channels().contains(&c)
    }

    /// The rank of a stored row's source: its channel's place in the order;
    /// sources of no channel, or of one not in the order, come last.
    pub fn rank_of_source(&self, source: &str) -> usize {
        let order = self.channels();
        Channel::of_source(source)
            .and_then(|c| order.iter().position(|x| *x == c))
            .unwrap_or(usize::MAX)
    }

    /// Whether a row from `incoming` may replace a stored row from `existing`.
    pub fn replaces(&self, incoming: Channel, existing_source: &str) -> bool {
        let order = self.channels();
        let rank = order
            .iter()
            .position(|x| *x == incoming)
            .unwrap_or(usize::MAX);
        rank <= self.rank_of_source(existing_source)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron (sec min hour day month weekday), UTC, one or more separated by
    /// `;`. The default follows each zone's posts ([`DEFAULT_SCRAPE`]).
    pub scrape: CronExpr,
    pub scrape_enabled: bool,
    /// Weekly training, UTC. Sunday 17:00 UTC = Monday 03:00 AEST / 04:00 AEDT.
    pub train: CronExpr,
    pub train_enabled: bool,
    /// Scrape then train then decide, UTC. Off by default: scrape + train already cover it.
    pub refresh: CronExpr,
    pub refresh_enabled: bool,
    /// At start, run a scrape if the last good one is over a day old, and a training if over a week.
    pub catch_up: bool,
    /// Retries of a failed scheduled scrape.
    pub scrape_retries: u32,
    /// First wait before such a retry (s); doubles each time.
    pub retry_backoff_secs: u64,
    /// Log lines kept per run.
    pub max_log_lines: usize,
    /// The job lease (one job of any kind at a time across every process on
    /// the database) expires this many seconds after its holder's last
    /// heartbeat; a killed holder's lease is taken over after it.
    pub job_lease_secs: u64,
}

/// The default scrapes, UTC: 20 minutes after each time zone's morning
/// (10:00) and afternoon (16:30) posts, in standard time and in daylight
/// saving (`jobs::scheduler` tests check every zone is covered). Each tick
/// fetches only the stations that BOM updated since the tick before.
pub const DEFAULT_SCRAPE: &str = "0 20 0,2,6,7,22,23 * * *; 0 50 0,4,5,6,8,23 * * *";

/// A built-in schedule (a test checks that it parses).
fn cron(text: &str) -> CronExpr {
    CronExpr::parse(text).expect("a built-in schedule is a valid cron expression")
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            scrape: cron(DEFAULT_SCRAPE),
            scrape_enabled: true,
            train: cron("0 0 17 * * Sun"),
            train_enabled: true,
            refresh: cron("0 0 18 1 * *"),
            refresh_enabled: false,
            catch_up: true,
            scrape_retries: 3,
            retry_backoff_secs: 300,
            max_log_lines: 2_000,
            job_lease_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub n_trees: usize,
    /// 0 = unlimited.
    pub max_depth: usize,
    pub min_samples_leaf: usize,
    /// `sqrt`, `log2`, `all`, a fraction such as `0.3`, or a count such as `8`.
    pub max_features: FeatureDraw,
    pub bootstrap: bool,
    /// `none`, `balanced`, `balanced_subsample`, or a weight for "yes" such as `2.5`.
    pub class_weight: ClassWeights,
    pub max_bins: usize,
    pub seed: u64,
    /// Training threads; 0 = one per core.
    pub threads: usize,
    /// Months at the end of the data used to test (the newest window).
    pub test_months: u32,
    /// Months before the test window used to tune the decision threshold.
    pub tune_months: u32,
    /// A challenger must beat the champion's F1 by at least this much to be promoted.
    pub promotion_margin: f64,
    /// Retention: the model files of the champion and of the last N deployed
    /// versions are kept for rollback (at least 1).
    pub keep_deployed: u32,
    /// Retention: the model files of the last K challengers that were never
    /// deployed are kept. Older files are pruned; metadata and metrics stay.
    pub keep_challengers: u32,
    /// Also train the gradient-boosting family each time; `false` = the forest alone.
    pub boost: bool,
    /// With no champion to serve (an empty database, or a feature-schema
    /// upgrade), train the forest alone first so that forecasts start in
    /// seconds; the full training of every family follows at once and is
    /// promoted by the usual rule.
    pub quick_first: bool,
    /// Most boosting iterations (trees); early stopping on the tune window usually ends sooner.
    pub boost_max_iter: usize,
    /// Shrinkage of each boosting tree, in (0, 1].
    pub boost_learning_rate: f64,
    /// Most leaves per boosting tree.
    pub boost_max_leaf_nodes: usize,
    /// Depth limit of a boosting tree; 0 = only the leaf limit.
    pub boost_max_depth: usize,
    pub boost_min_samples_leaf: usize,
    /// L2 regularisation of the leaf values.
    pub boost_l2: f64,
    /// Fraction of rows drawn for each boosting tree, in (0, 1].
    pub boost_subsample: f64,
    /// Fraction of features each boosting tree may use, in (0, 1].
    pub boost_colsample: f64,
    /// Stop after this many trees without a better tune-window log-loss; 0 = never.
    pub boost_early_stopping_rounds: usize,
    /// Boosting models averaged into the served one (1..=16), seeds `seed`, `seed + 1`, ….
    pub boost_bag: usize,
    /// Let the served booster learn the tune window too. With a bag,
    /// cross-fitted: model b learns all but the b-th stretch of the tune
    /// window, early-stops on that stretch and forecasts it, and calibration
    /// and the threshold are fitted on those forecasts. With one model, a
    /// refit on both windows with the early-stopped tree count.
    pub boost_refit: bool,
    /// Split the station as a category (any subset of stations on one side)
    /// rather than as an ordered number.
    pub boost_categorical: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_depth: 0,
            min_samples_leaf: 5,
            max_features: FeatureDraw(crate::forest::MaxFeatures::Sqrt),
            bootstrap: true,
            class_weight: ClassWeights(crate::forest::ClassWeight::BalancedSubsample),
            max_bins: 255,
            seed: 42,
            threads: 0,
            test_months: 12,
            tune_months: 12,
            promotion_margin: 0.0,
            keep_deployed: 3,
            keep_challengers: 2,
            boost: true,
            quick_first: true,
            boost_max_iter: 2000,
            boost_learning_rate: 0.15,
            boost_max_leaf_nodes: 31,
            boost_max_depth: 0,
            boost_min_samples_leaf: 200,
            boost_l2: 20.0,
            boost_subsample: 0.8,
            boost_colsample: 0.5,
            boost_early_stopping_rounds: 60,
            boost_bag: 3,
            boost_refit: true,
            boost_categorical: true,
        }
    }
}

impl ModelConfig {
    /// The gradient-boosting hyperparameters these settings describe.
    pub fn boost_params(&self) -> crate::forest::boost::BoostParams {
        crate::forest::boost::BoostParams(crate::forest::boost::BoostValidParams {
            max_iter: self.boost_max_iter,
            learning_rate: self.boost_learning_rate as f32,
            max_leaf_nodes: self.boost_max_leaf_nodes,
            max_depth: (self.boost_max_depth > 0).then_some(self.boost_max_depth),
            min_samples_leaf: self.boost_min_samples_leaf,
            min_hessian_leaf: 1e-3,
            l2: self.boost_l2,
            subsample: self.boost_subsample as f32,
            colsample: self.boost_colsample as f32,
            early_stopping_rounds: self.boost_early_stopping_rounds,
            bag: self.boost_bag,
            refit: self.boost_refit,
            max_bins: self.max_bins,
            // The feature encoder names them: see `train::FamilyParams`.
            categorical: Default::default(),
            seed: self.seed,
            n_threads: (self.threads > 0).then_some(self.threads),
        })
    }

    /// The forest hyperparameters these settings describe.
    pub fn forest_params(&self) -> ForestParams {
        ForestParams(ForestValidParams {
            n_trees: self.n_trees,
            max_depth: (self.max_depth > 0).then_some(self.max_depth),
            min_samples_leaf: self.min_samples_leaf,
            min_samples_split: 2 * self.min_samples_leaf,
            max_features: self.max_features.0,
            bootstrap: self.bootstrap,
            class_weight: self.class_weight.0,
            max_bins: self.max_bins,
            seed: self.seed,
            n_threads: (self.threads > 0).then_some(self.threads),
        })
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin password in plain text (prefer `RAINCAST_ADMIN__PASSWORD`). Hashed with argon2 at start.
    pub password: String,
    /// Or an argon2 PHC hash (`raincast hash-password`). Empty both = admin console disabled.
    pub password_hash: String,
    /// How long a login lasts (hours).
    pub session_hours: u64,
    /// Mark the session cookie `Secure`: `auto` (when the request came over TLS or
    /// `X-Forwarded-Proto: https`), `always` or `never`.
    pub cookie_secure: CookieSecure,
    /// Refuse to start with a weak `password` (shorter than 12 characters,
    /// a common password, or only whitespace) instead of warning.
    pub require_strong_password: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            password: String::new(),
            password_hash: String::new(),
            session_hours: 12,
            cookie_secure: CookieSecure::Auto,
            require_strong_password: false,
        }
    }
}

/// Webhook alerts (decision record 0020): how `serve` sends the deliveries
/// queued when a forecast crosses a subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// One attempt waits this long for the receiver's answer (s).
    pub timeout_secs: u64,
    /// Attempts per delivery before it is given up (recorded as failed).
    pub max_attempts: u32,
    /// Wait before the first retry (s); it doubles after each failure.
    pub backoff_secs: u64,
    /// The longest wait between two attempts (s).
    pub max_backoff_secs: u64,
    /// Deliveries waiting per subscription, at most: a dead receiver costs
    /// no more; one more is recorded as dropped.
    pub max_pending: u32,
    /// Deliveries in flight at once (to different receivers).
    pub concurrency: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 10,
            max_attempts: 8,
            backoff_secs: 30,
            max_backoff_secs: 3600,
            max_pending: 50,
            concurrency: 4,
        }
    }
}

/// Passwords an attacker tries first (compared ignoring case and the
/// surrounding whitespace). Short ones are refused by length anyway; the
/// list holds the long ones too.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "123456789012",
    "12345678910",
    "111111111111",
    "000000000000",
    "qwerty",
    "qwerty123",
    "qwertyuiop",
    "qwertyuiop123",
    "1q2w3e4r5t6y",
    "iloveyou",
    "letmein",
    "letmein12345",
    "welcome",
    "welcome12345",
    "admin",
    "admin123",
    "administrator",
    "changeme",
    "changeme1234",
    "raincast",
    "raincastadmin",
    "raincast1234",
    "secret",
    "supersecret",
    "trustno1",
    "monkey",
    "dragon",
    "sunshine",
    "football",
    "baseball",
    "princess",
    "starwars",
    "whatever",
    "correcthorsebatterystaple",
];

impl AdminConfig {
    /// Why `admin.password` is weak, if it is: only whitespace, shorter
    /// than 12 characters, one character repeated, or a common password.
    /// `None` for a strong one, and when no plain password is set (a
    /// `password_hash` cannot be judged).
    pub fn password_weakness(&self) -> Option<&'static str> {
        let p = self.password.as_str();
        if p.is_empty() {
            return None;
        }
        if p.trim().is_empty() {
            return Some("it is only whitespace");
        }
        if p.chars().count() < 12 {
            return Some("it is shorter than 12 characters");
        }
        let mut chars = p.chars();
        if let Some(first) = chars.next()
            && chars.all(|c| c == first)
        {
            return Some("it is one character repeated");
        }
        let folded = p.trim().to_lowercase();
        if COMMON_PASSWORDS.contains(&folded.as_str())
            || COMMON_PASSWORDS.contains(&folded.replace(' ', "").as_str())
        {
            return Some("it is a common password");
        }
        None
    }
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "[redacted]" };
        f.debug_struct("AdminConfig")
            .field("password", &redact(&self.password))
            .field("password_hash", &redact(&self.password_hash))
            .field("session_hours", &self.session_hours)
            .field("cookie_secure", &self.cookie_secure)
            .field("require_strong_password", &self.require_strong_password)
            .finish()
    }
}

impl Config {
    /// Load defaults, then `file` (an explicit path must exist; otherwise
    /// `./config.toml` is used when present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Config::load`], with the environment passed in (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => read_table(path)?,
            None if Path::new("config.toml").exists() => read_table(Path::new("config.toml"))?,
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                invalid(&key, e.into_inner().message().to_string())
            })?;
        config.validate()?;
        Ok(config)
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
}

/// `RAINCAST_BOM__BASE_URL=…` sets `bom.base_url`. A value that parses as a TOML
/// scalar (number, boolean) is taken as one; anything else is a string.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ["CONFIG", "LOG", "CLOCK_START", "SHARED"].contains(&rest) {
            continue; // read by the CLI, the clock and the tests, not settings
        }
        let Some((section, key)) = rest.split_once("__") else {
            return Err(invalid(
                &name,
                "environment overrides take the form RAINCAST_<SECTION>__<KEY>",
            ));
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !v.is_table() && !v.is_array())
            .unwrap_or(toml::Value::String(raw));
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(section_table) = entry else {
            return Err(invalid(&section, "must be a table"));
        };
        section_table.insert(key, value);
    }
    Ok(())
}
#[cfg(test)]
mod tests;
