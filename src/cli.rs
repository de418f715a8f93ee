//! The command line. Exit codes: 0 success, 1 the run failed, 2 usage or input error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "raincast",
    version,
    about = "Will it rain tomorrow? Scrapes BOM, trains a random forest and serves forecasts for 49 Australian cities.",
    long_about = "Will it rain tomorrow? raincast scrapes the Bureau of Meteorology's Daily Weather \
Observations, stores them in one SQLite file, retrains a random forest every week, and serves a \
forecast page, an admin console, a JSON API and Prometheus metrics.\n\n\
Quick start:\n  raincast import weatherAUS.csv.gz   # load history (optional)\n  raincast serve                      # web server + daily scrape + weekly training\n\n\
Settings come from built-in defaults, then config.toml, then RAINCAST_<SECTION>__<KEY> \
environment variables, then these flags.",
    after_help = "Exit codes: 0 success, 1 the run failed, 2 usage or input error."
)]
pub struct Cli {
    /// Config file (default: ./config.toml when present, else built-in defaults).
    #[arg(long, global = true, env = "RAINCAST_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// SQLite database file (overrides database.path).
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web server with the daily scrape and weekly training schedules.
    Serve {
        /// Listen address (overrides server.bind), e.g. 0.0.0.0:8080; port 0 picks one.
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Load a Kaggle weatherAUS CSV (plain or .gz) into the database.
    Import {
        /// Path of weatherAUS.csv or weatherAUS.csv.gz.
        path: PathBuf,
        /// Print every rejected row (by default the first 20 are shown).
        #[arg(long)]
        all_rejections: bool,
    },
    /// List the 49 stations with their BOM product codes and coordinates.
    Stations {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// A CLI failure, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage or input: exit 2.
    Input(String),
    /// The run failed: exit 1.
    Run(anyhow::Error),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Run(e)
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound(_) | crate::store::StoreError::Conflict(_) => {
                CliError::Input(e.to_string())
            }
            other => CliError::Run(other.into()),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Input(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::Run(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RAINCAST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Load the layered configuration, with the global CLI flags on top.
pub fn load_config(cli: &Cli) -> Result<Config, CliError> {
    let mut config = Config::load(cli.config.as_deref())
        .map_err(|e| CliError::Input(format!("configuration: {e}")))?;
    if let Some(db) = &cli.db {
        config.database.path = db.clone();
    }
    Ok(config)
}

pub fn open_store(config: &Config) -> Result<Store, CliError> {
    Store::open(
        &config.database.path,
        std::time::Duration::from_millis(config.database.busy_timeout_ms),
    )
    .map_err(|e| {
        CliError::Run(anyhow::Error::new(e).context(format!(
            "opening database {}",
            config.database.path.display()
        )))
    })
}

fn run(cli: Cli) -> Result<(), CliError> {
    let mut config = load_config(&cli)?;
    match cli.command {
        Command::Stations { json } => {
            print_stations(json);
            Ok(())
        }
        Command::Import {
            path,
            all_rejections,
        } => import(&config, &path, all_rejections),
        Command::Serve { bind } => {
            if let Some(bind) = bind {
                config.server.bind = bind;
                config
                    .validate()
                    .map_err(|e| CliError::Input(format!("--bind: {e}")))?;
            }
            let store = open_store(&config)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::Run(e.into()))?;
            rt.block_on(crate::web::serve(config, store))
                .map_err(CliError::Run)
        }
    }
}

fn print_stations(json: bool) {
    use std::io::Write;
    let stations = &crate::stations::STATIONS;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(stations.as_slice()).unwrap_or_default()
        );
        return;
    }
    let _ = writeln!(
        out,
        "{:<17} {:<10} {:<5} {:<7} {:>9} {:>9}  station",
        "location", "product", "state", "number", "lat", "lon"
    );
    for s in stations.iter() {
        let coord = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let _ = writeln!(
            out,
            "{:<17} {:<10} {:<5} {:<7} {:>9} {:>9}  {}",
            s.location,
            s.dwo_code,
            s.state,
            s.station_number,
            coord(s.latitude),
            coord(s.longitude),
            s.station_name
        );
    }
}

fn import(config: &Config, path: &std::path::Path, all: bool) -> Result<(), CliError> {
    use crate::ingest::weather_aus::{ImportError, import_file};
    if !path.exists() {
        return Err(CliError::Input(format!("{}: no such file", path.display())));
    }
    let store = open_store(config)?;
    let bar = progress_bar("importing");
    let report = import_file(&store, path, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(ImportError::Input(msg)) => return Err(CliError::Input(msg)),
        Err(ImportError::Store(e)) => return Err(e.into()),
    };
    let shown = if all { report.rejected.len() } else { 20 };
    for r in report.rejected.iter().take(shown) {
        eprintln!("line {}: {}", r.line, r.reason);
    }
    if report.rejected.len() > shown {
        eprintln!(
            "… and {} more rejected rows (--all-rejections lists them all)",
            report.rejected.len() - shown
        );
    }
    println!(
        "{} rows read: {} inserted, {} updated, {} unchanged, {} rejected",
        report.rows,
        report.counts.inserted,
        report.counts.updated,
        report.counts.unchanged,
        report.rejected.len()
    );
    Ok(())
}

/// A progress bar on a terminal; hidden otherwise.
pub fn progress_bar(what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
