//! Layered configuration: built-in defaults < `config.toml` < `RAINCAST_*`
//! environment variables < CLI flags.
//!
//! Every key has a default, so running with no file at all works. A bad value
//! fails at start with a message that names the key (`bom.timeout_secs: …`).
//!
//! The sections are typed here (`database`, `server`, `alerts`) and in
//! `sources` (`bom`, `ftp`, `sources`), `schedule`, `model` and `admin`;
//! loading and the environment's overrides are here, the checks in
//! `validate`, the typed values in `values` and `cron`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod admin;
mod cron;
mod model;
mod schedule;
mod sources;
mod validate;
mod values;
pub use admin::AdminConfig;
pub use cron::CronExpr;
pub use model::ModelConfig;
pub use schedule::{DEFAULT_SCRAPE, ScheduleConfig};
pub use sources::{BomConfig, Channel, FtpConfig, SourcesConfig};
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
