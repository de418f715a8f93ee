//! The command line. Exit codes: 0 success, 1 the run failed, 2 usage or input error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::clock::Clock;

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
        /// Serve as a read-only replica of a copy kept by Litestream: open
        /// the database read-only, run no jobs, never write; the admin
        /// answers that this is a replica (see server.primary_url).
        #[arg(long)]
        read_only: bool,
    },
    /// Load a Kaggle weatherAUS CSV (plain or .gz) into the database.
    Import {
        /// Path of weatherAUS.csv or weatherAUS.csv.gz.
        #[arg(required_unless_present = "bundled", conflicts_with = "bundled")]
        path: Option<PathBuf>,
        /// Import the weatherAUS history bundled in the binary instead of a file.
        #[arg(long)]
        bundled: bool,
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
    /// Serve the bundled archive of real BOM files (2024-08 to 2025-09) at BOM's
    /// paths, as BOM showed them on the simulated day (RAINCAST_CLOCK_START, or
    /// --day): for trying raincast and for benchmarks with no network.
    BomServer {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8765")]
        bind: String,
        /// Serve as of this day (YYYY-MM-DD, eastern Australia); default: the clock's day.
        #[arg(long)]
        day: Option<String>,
        /// Fail every request with this fault: refuse, forbidden, server-error, truncated or html.
        #[arg(long)]
        fault: Option<String>,
    },
    /// Fetch BOM Daily Weather Observations once: every month of BOM's online
    /// window (14 months) that is not stored complete, for every station.
    Scrape {
        /// First month of a backfill, YYYY-MM (needs --to).
        #[arg(long, value_name = "YYYY-MM", requires = "to")]
        from: Option<String>,
        /// Last month of a backfill, YYYY-MM (needs --from).
        #[arg(long, value_name = "YYYY-MM", requires = "from")]
        to: Option<String>,
        /// Only this location (e.g. Sydney).
        #[arg(long, value_name = "NAME")]
        location: Option<String>,
        /// Download months already complete in the database again.
        #[arg(long)]
        force: bool,
    },
    /// Train a model on everything stored, score it against the champion on the
    /// same test window, register it and promote it if it wins.
    Train {
        /// Start of the threshold-tuning window, YYYY-MM-DD (default: from model.tune_months).
        #[arg(long, value_name = "DATE", requires = "test_from")]
        tune_from: Option<String>,
        /// Start of the test window, YYYY-MM-DD (default: the last model.test_months).
        #[arg(long, value_name = "DATE")]
        test_from: Option<String>,
    },
    /// Print the champion's probability of rain on the day after DATE.
    Predict {
        /// Location, e.g. Sydney (`raincast stations` lists them).
        #[arg(long, value_name = "NAME")]
        location: String,
        /// Observation date, YYYY-MM-DD (default: the newest stored).
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
    },
    /// List, inspect, promote and roll back model versions.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// List job runs, or show one with its log.
    Runs {
        #[command(subcommand)]
        action: RunsAction,
    },
    /// Write a consistent copy of the live database to PATH (safe while serving).
    Backup {
        /// Destination file; must not exist.
        path: PathBuf,
    },
    /// Read a password on standard input and print its argon2 hash for admin.password_hash.
    HashPassword,
    /// Score a stored model (or the live record) on a window of stored
    /// observations: F1, precision, recall, ROC AUC, Brier and its skill
    /// against per-station monthly climatology, a 10-bin reliability table,
    /// and the same per station. Writes nothing.
    Evaluate {
        /// The model version to score.
        #[arg(long, required_unless_present = "live", conflicts_with = "live")]
        model: Option<i64>,
        /// Score the forecasts the daily job logged instead.
        #[arg(long)]
        live: bool,
        /// First forecast day (YYYY-MM-DD).
        #[arg(long)]
        from: String,
        /// Last forecast day (YYYY-MM-DD).
        #[arg(long)]
        to: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Try raincast with no network: the web server on a temporary database,
    /// replaying the bundled real BOM files at a visible pace. Forecasts
    /// appear, yesterday's are scored, weekly trainings run, the admin shows
    /// live runs; every page says it is a replay and which day it is.
    Demo {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// First simulated day.
        #[arg(long, default_value = "2024-09-01")]
        from: String,
        /// Last simulated day.
        #[arg(long, default_value = "2025-09-05")]
        to: String,
        /// Real seconds per simulated day.
        #[arg(long, default_value_t = 4.0)]
        day_secs: f64,
    },
    /// Replay months of operation in seconds: the real scheduler and job runner
    /// on a fast clock, against the bundled real BOM files as BOM showed them
    /// each day, into a database of its own. Prints the live record's summary.
    Replay {
        /// First simulated day (YYYY-MM-DD).
        #[arg(long)]
        from: String,
        /// Last simulated day (YYYY-MM-DD).
        #[arg(long)]
        to: String,
        /// Simulated seconds per real second (0 = as fast as possible).
        #[arg(long, default_value_t = 0.0)]
        speed: f64,
        /// BOM faults by day, e.g. `2024-10-03:refuse` (refuse, forbidden,
        /// server-error, truncated, html); repeatable, or a range
        /// `2024-10-03..2024-10-05:refuse`.
        #[arg(long = "fault", value_name = "DAY:FAULT")]
        faults: Vec<String>,
        /// Keep the replay's database at this path (must not exist).
        #[arg(long, value_name = "PATH")]
        keep: Option<PathBuf>,
        /// Start from the bundled weatherAUS history too, as a new `serve`
        /// does (each weekly training then learns from ten more years).
        #[arg(long)]
        with_history: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ModelsAction {
    /// Every version with its test metrics; the champion is marked with *.
    List,
    /// One version in full (metrics, windows, parameters, decision).
    Show { version: i64 },
    /// Make VERSION the champion.
    Promote {
        version: i64,
        /// Why (recorded in the deployment log).
        #[arg(long)]
        reason: String,
        /// Who (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Put the previous champion back.
    Rollback {
        /// Why (recorded in the deployment log).
        #[arg(long)]
        reason: String,
        /// Who (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RunsAction {
    /// Newest runs first.
    List {
        /// Only scrape, train or refresh.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One run with its full log and summary.
    Show { id: i64 },
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
            crate::store::StoreError::NotFound(_)
            | crate::store::StoreError::Conflict(_)
            | crate::store::StoreError::RunActive { .. } => CliError::Input(e.to_string()),
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
            bundled: _,
            all_rejections,
        } => import(&config, path.as_deref(), all_rejections),
        Command::Scrape {
            from,
            to,
            location,
            force,
        } => scrape(&config, from, to, location, force),
        Command::Train {
            tune_from,
            test_from,
        } => train(&config, tune_from, test_from),
        Command::Predict { location, date } => predict(&config, &location, date),
        Command::Models { action } => models(&config, action),
        Command::Runs { action } => runs(&config, action),
        Command::Evaluate {
            model,
            live: _,
            from,
            to,
            json,
        } => evaluate(&config, model, &from, &to, json),
        Command::Demo {
            bind,
            from,
            to,
            day_secs,
        } => demo(config, &bind, &from, &to, day_secs),
        Command::Replay {
            from,
            to,
            speed,
            faults,
            keep,
            with_history,
            json,
        } => {
            let mut config = config;
            config.database.bundled_history = with_history;
            replay(config, &from, &to, speed, &faults, keep, json)
        }
        Command::Backup { path } => {
            let store = open_store(&config)?;
            store.backup_to(&path)?;
            println!(
                "backed up {} to {} (integrity check: ok)",
                config.database.path.display(),
                path.display()
            );
            Ok(())
        }
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| CliError::Input(format!("reading standard input: {e}")))?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(CliError::Input("the password is empty".into()));
            }
            println!(
                "{}",
                crate::web::admin::hash_password(password)
                    .map_err(|e| CliError::Run(anyhow::anyhow!(e)))?
            );
            Ok(())
        }
        Command::BomServer { bind, day, fault } => bom_server(&bind, day, fault),
        Command::Serve { bind, read_only } => {
            if let Some(bind) = bind {
                config.server.bind = bind;
                config
                    .validate()
                    .map_err(|e| CliError::Input(format!("--bind: {e}")))?;
            }
            let store = if read_only {
                Store::open_read_only(
                    &config.database.path,
                    std::time::Duration::from_millis(config.database.busy_timeout_ms),
                )
                .map_err(|e| {
                    CliError::Run(anyhow::Error::new(e).context(format!(
                        "opening database {} read-only",
                        config.database.path.display()
                    )))
                })?
            } else {
                open_store(&config)?
            };
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

fn import(config: &Config, path: Option<&std::path::Path>, all: bool) -> Result<(), CliError> {
    use crate::ingest::weather_aus::{self, ImportError};
    if let Some(path) = path
        && !path.exists()
    {
        return Err(CliError::Input(format!("{}: no such file", path.display())));
    }
    let parsed = match path {
        Some(path) => weather_aus::load(path),
        None => weather_aus::load_bundled(),
    }
    .map_err(|e| match e {
        ImportError::Input(msg) => CliError::Input(msg),
        ImportError::Store(e) => e.into(),
    })?;
    let store = open_store(config)?;
    let bar = progress_bar("importing");
    let report = weather_aus::store(&store, parsed, &|done, total| {
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

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Run(e.into()))
}

fn parse_date(flag: &str, s: &str) -> Result<chrono::NaiveDate, CliError> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| CliError::Input(format!("{flag} `{s}` is not a YYYY-MM-DD date")))
}

fn parse_month(flag: &str, s: &str) -> Result<(i32, u32), CliError> {
    crate::ingest::bom::parse_month(s).map_err(|e| CliError::Input(format!("{flag}: {e}")))
}

fn station_arg(name: &str) -> Result<&'static crate::stations::Station, CliError> {
    crate::stations::by_location(name).ok_or_else(|| {
        CliError::Input(format!(
            "unknown location `{name}`; `raincast stations` lists the 49 known ones"
        ))
    })
}

/// A job runner for one CLI command, on the same database as the server.
fn cli_jobs(config: &Config, store: &Store) -> Result<crate::jobs::Jobs, CliError> {
    let clock = crate::clock::SystemClock::from_env().map_err(CliError::Input)?;
    let serving = std::sync::Arc::new(crate::serving::Serving::default());
    let _ = serving.refresh(store);
    Ok(crate::jobs::Jobs::new(
        store.clone(),
        std::sync::Arc::new(config.clone()),
        std::sync::Arc::new(clock),
        serving,
    ))
}

fn job_error(e: crate::jobs::JobError) -> CliError {
    match e {
        crate::jobs::JobError::AlreadyRunning { .. } => CliError::Input(e.to_string()),
        other => CliError::Run(other.into()),
    }
}

fn scrape(
    config: &Config,
    from: Option<String>,
    to: Option<String>,
    location: Option<String>,
    force: bool,
) -> Result<(), CliError> {
    use crate::ingest::bom::ScrapePlan;
    let location = location.as_deref().map(station_arg).transpose()?;
    let months = match (&from, &to) {
        (Some(f), Some(t)) => Some((parse_month("--from", f)?, parse_month("--to", t)?)),
        _ => None,
    };
    let store = open_store(config)?;
    let jobs = cli_jobs(config, &store)?;
    let today = jobs.clock().bom_today();
    let plan = match months {
        Some((f, t)) => {
            ScrapePlan::range(f, t, location, force).map_err(|e| CliError::Input(e.to_string()))?
        }
        None => {
            let mut plan = ScrapePlan::default_for(today);
            if let Some(st) = location {
                plan.locations = vec![st];
            }
            plan.force |= force;
            plan
        }
    };
    let (outcome, report) = runtime()?
        .block_on(jobs.run_scrape_plan(plan, crate::jobs::Trigger::Cli))
        .map_err(job_error)?;
    if let Some(r) = &report {
        let t = &r.totals;
        println!("{}", r.message);
        println!(
            "files: {} stored ({} incomplete), {} skipped, {} rejected, {} not found, {} forbidden, {} other HTTP errors, {} failed, {} cancelled; \
             rows: {} inserted, {} updated, {} unchanged; {} out-of-range values",
            t.files_fetched,
            t.incomplete,
            t.skipped_complete,
            t.files_rejected,
            t.not_found,
            t.forbidden,
            t.http_errors,
            t.failed,
            t.cancelled,
            t.rows_inserted,
            t.rows_updated,
            t.rows_unchanged,
            t.out_of_range
        );
    }
    println!("run {}: {}", outcome.run_id, outcome.status.as_str());
    match outcome.error {
        None => Ok(()),
        Some(e) => Err(CliError::Run(anyhow::anyhow!(e))),
    }
}

fn train(
    config: &Config,
    tune_from: Option<String>,
    test_from: Option<String>,
) -> Result<(), CliError> {
    let over = crate::train::WindowOverride {
        tune_from: tune_from
            .as_deref()
            .map(|s| parse_date("--tune-from", s))
            .transpose()?,
        test_from: test_from
            .as_deref()
            .map(|s| parse_date("--test-from", s))
            .transpose()?,
    };
    let store = open_store(config)?;
    let jobs = cli_jobs(config, &store)?;
    let rt = runtime()?;
    let run_id = rt
        .block_on(jobs.start_train(over, crate::jobs::Trigger::Cli))
        .map_err(job_error)?;
    let bar = progress_bar("trees");
    let run = loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let run = store.run(run_id)?;
        if let Some(p) = run
            .progress
            .as_ref()
            .and_then(|p| serde_json::from_value::<crate::train::TreeProgress>(p.clone()).ok())
        {
            bar.set_length(p.trees_total as u64);
            bar.set_position(p.trees_done as u64);
        }
        if run.status != crate::store::RunStatus::Running {
            break run;
        }
    };
    rt.block_on(jobs.wait_idle());
    bar.finish_and_clear();
    let run = store.run(run.id)?;
    match (&run.error, &run.summary) {
        (None, Some(s)) => {
            let r =
                serde_json::from_value::<crate::train::TrainReport>(s.clone()).map_err(|e| {
                    CliError::Run(anyhow::anyhow!(
                        "training run {run_id}'s summary is not a training report: {e}"
                    ))
                })?;
            println!(
                "version {}: F1 {:.4}, ROC AUC {:.4}, Brier {:.4}; {}: {}",
                r.version, r.f1, r.roc_auc, r.brier, r.decision, r.reason
            );
            Ok(())
        }
        (Some(e), _) => Err(CliError::Run(anyhow::anyhow!(
            "training run {run_id} failed: {e}"
        ))),
        (None, None) => Err(CliError::Run(anyhow::anyhow!(
            "training run {run_id} recorded no result"
        ))),
    }
}

fn predict(config: &Config, location: &str, date: Option<String>) -> Result<(), CliError> {
    let st = station_arg(location)?;
    let date = date
        .as_deref()
        .map(|d| parse_date("--date", d))
        .transpose()?;
    let store = open_store(config)?;
    let model = crate::registry::load_champion(&store)
        .map_err(|e| CliError::Run(e.into()))?
        .ok_or_else(|| {
            CliError::Run(anyhow::anyhow!(
                "no model is deployed yet; run `raincast train`"
            ))
        })?;
    let today = crate::clock::SystemClock::from_env().map_err(CliError::Input)?;
    let date = match date {
        Some(d) => d,
        None => store
            .latest_date(st.location)
            .map_err(|e| CliError::Run(e.into()))?
            .ok_or_else(|| CliError::Input(format!("no observations for {} yet", st.location)))?,
    };
    let f = crate::serving::hindcast(
        &store,
        &model,
        st,
        date,
        today.today(),
        config.server.stale_after_days,
    )
    .map_err(|e| match e {
        crate::serving::ForecastError::Store(e) => CliError::Run(e.into()),
        other => CliError::Input(other.to_string()),
    })?;
    println!(
        "{}: {:.0}% chance of rain (> 1 mm) on {} (from the observation of {}); call: {} (threshold {:.2}, model v{}){}",
        f.location,
        f.probability * 100.0,
        f.forecast_date,
        f.observation_date,
        if f.rain { "rain" } else { "no rain" },
        f.threshold,
        f.model_version,
        if f.stale {
            format!("; STALE: the data is {} days old", f.data_age_days)
        } else {
            String::new()
        }
    );
    Ok(())
}

fn evaluate(
    config: &Config,
    model: Option<i64>,
    from: &str,
    to: &str,
    json: bool,
) -> Result<(), CliError> {
    use crate::evaluate::{EvaluateError, Subject};
    let (from, to) = (parse_date("--from", from)?, parse_date("--to", to)?);
    let subject = model.map_or(Subject::Live, Subject::Model);
    let store = open_store(config)?;
    let e = crate::evaluate::evaluate(&store, subject, from, to).map_err(|e| match e {
        EvaluateError::Input(m) => CliError::Input(m),
        EvaluateError::Registry(crate::registry::RegistryError::Store(
            crate::store::StoreError::NotFound(what),
        )) => CliError::Input(format!("{what} not found")),
        other => CliError::Run(other.into()),
    })?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&e).map_err(|e| CliError::Run(e.into()))?
        );
        return Ok(());
    }
    let o = &e.overall;
    let skill = |s: Option<f64>| s.map_or("–".into(), |v| format!("{v:+.3}"));
    println!(
        "{} on {}..{}: {} forecasts, {} rain days",
        e.subject, e.from, e.to, o.n, o.rain_days
    );
    println!(
        "F1 {:.3}  precision {:.3}  recall {:.3}  ROC AUC {:.3}  Brier {:.4} (climatology {:.4}, skill {})",
        o.f1,
        o.precision,
        o.recall,
        o.roc_auc,
        o.brier,
        o.climatology_brier,
        skill(o.brier_skill_score)
    );
    println!(
        "mean forecast {:.3} vs observed frequency {:.3}",
        o.mean_forecast, o.observed_frequency
    );
    println!("reliability:   forecast     n  mean  observed");
    for b in &e.reliability {
        let f = |x: Option<f64>| x.map_or("  –  ".into(), |v| format!("{v:.3}"));
        println!(
            "             {:.1}–{:.1} {:>6}  {}  {}",
            b.lo,
            b.hi,
            b.n,
            f(b.mean_forecast),
            f(b.observed)
        );
    }
    println!(
        "{:<18} {:>6} {:>7} {:>7} {:>7}",
        "station", "n", "Brier", "AUC", "skill"
    );
    for s in &e.stations {
        println!(
            "{:<18} {:>6} {:>7.4} {:>7.3} {:>7}",
            s.location,
            s.scores.n,
            s.scores.brier,
            s.scores.roc_auc,
            skill(s.scores.brier_skill_score)
        );
    }
    Ok(())
}

/// Parse `DAY:FAULT` or `FROM..TO:FAULT`.
pub fn parse_faults(
    specs: &[String],
) -> Result<Vec<(chrono::NaiveDate, crate::bomsim::Fault)>, CliError> {
    let mut out = Vec::new();
    for spec in specs {
        let (days, fault) = spec.rsplit_once(':').ok_or_else(|| {
            CliError::Input(format!(
                "--fault {spec}: expected DAY:FAULT, e.g. 2024-10-03:refuse"
            ))
        })?;
        let fault: crate::bomsim::Fault = fault
            .parse()
            .map_err(|e| CliError::Input(format!("--fault {spec}: {e}")))?;
        let (a, b) = days.split_once("..").unwrap_or((days, days));
        let (a, b) = (parse_date("--fault", a)?, parse_date("--fault", b)?);
        if a > b {
            return Err(CliError::Input(format!("--fault {spec}: {a} is after {b}")));
        }
        let mut d = a;
        while d <= b {
            out.push((d, fault));
            d = d + chrono::Days::new(1);
        }
    }
    Ok(out)
}

fn replay(
    mut config: Config,
    from: &str,
    to: &str,
    speed: f64,
    faults: &[String],
    keep: Option<PathBuf>,
    json: bool,
) -> Result<(), CliError> {
    let opts = crate::replay::Options {
        from: parse_date("--from", from)?,
        to: parse_date("--to", to)?,
        speed: if speed.is_finite() && speed >= 0.0 {
            speed
        } else {
            return Err(CliError::Input(format!(
                "--speed {speed}: must be 0 or more"
            )));
        },
        faults: parse_faults(faults)?,
    };
    let dir = tempfile_dir()?;
    let path = match keep {
        Some(p) if p.exists() => {
            return Err(CliError::Input(format!(
                "--keep {}: already exists; the replay writes a database of its own",
                p.display()
            )));
        }
        Some(p) => p,
        None => dir.join("replay.db"),
    };
    config.database.path = path;
    let store = open_store(&config)?;
    let clock = std::sync::Arc::new(crate::clock::FakeClock::new(chrono::Utc::now()));
    let serving = std::sync::Arc::new(crate::serving::Serving::default());
    let started = std::time::Instant::now();
    let summary = runtime()?
        .block_on(crate::replay::run(
            &store,
            config,
            clock,
            serving,
            &opts,
            &|day, _| tracing::info!(%day, "replayed"),
        ))
        .map_err(|e| match e {
            crate::replay::ReplayError::Input(m) => CliError::Input(m),
            other => CliError::Run(other.into()),
        })?;
    let _ = std::fs::remove_dir_all(&dir);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).map_err(|e| CliError::Run(e.into()))?
        );
        return Ok(());
    }
    let pct = |x: Option<f64>| x.map_or("–".into(), |v| format!("{:.1} %", v * 100.0));
    let num = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.4}"));
    println!(
        "replayed {} to {} ({} days) in {:.1} s",
        summary.from,
        summary.to,
        summary.days,
        started.elapsed().as_secs_f64()
    );
    println!(
        "forecasts: {} live, {} scored, hit rate {}",
        summary.forecasts,
        summary.scored,
        pct(summary.hit_rate)
    );
    println!(
        "Brier {} vs climatology {}: skill score {}",
        num(summary.brier),
        num(summary.climatology_brier),
        num(summary.brier_skill_score)
    );
    println!(
        "runs: {} ({} failed, {} retries); trainings {}, promotions {}",
        summary.runs, summary.failed_runs, summary.retries, summary.trainings, summary.promotions
    );
    let periods: Vec<String> = summary
        .stale_periods
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}..{b}")
            }
        })
        .collect();
    println!(
        "stale: {} station-days; outages: {}",
        summary.stale_station_days,
        if periods.is_empty() {
            "none".to_string()
        } else {
            periods.join(", ")
        }
    );
    println!("database: {:.1} MB", summary.database_bytes as f64 / 1e6);
    Ok(())
}

fn demo(
    mut config: Config,
    bind: &str,
    from: &str,
    to: &str,
    day_secs: f64,
) -> Result<(), CliError> {
    use crate::clock::FakeClock;
    if !(day_secs.is_finite() && day_secs > 0.0) {
        return Err(CliError::Input(format!(
            "--day-secs {day_secs}: must be more than 0"
        )));
    }
    let opts = crate::replay::Options {
        from: parse_date("--from", from)?,
        to: parse_date("--to", to)?,
        speed: 86_400.0 / day_secs,
        faults: Vec::new(),
    };
    if opts.from > opts.to {
        return Err(CliError::Input(format!("--from {from} is after --to {to}")));
    }
    let dir = tempfile_dir()?;
    config.database.path = dir.join("demo.db");
    config.server.bind = bind.to_string();
    if config.admin.password.is_empty() && config.admin.password_hash.is_empty() {
        let mut bytes = [0u8; 6];
        rand::Rng::fill(&mut rand::rng(), &mut bytes);
        config.admin.password = format!("demo-{}", hex::encode(bytes));
    }
    let password = config.admin.password.clone();
    let store = open_store(&config)?;
    let start = opts.from.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let clock = std::sync::Arc::new(FakeClock::new(start));
    crate::web::set_demo_clock(clock.clone());
    let result = runtime()?.block_on(async {
        let source = crate::replay::start_source(clock.clone(), &[])
            .await
            .map_err(|e| CliError::Run(e.into()))?;
        crate::replay::configure(&mut config, &source);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| CliError::Input(format!("--bind {bind}: {e}")))?;
        let state = crate::web::AppState::new(config.clone(), store.clone(), clock.clone())
            .map_err(CliError::Run)?;
        let running = crate::web::start(listener, state.clone(), false)
            .await
            .map_err(CliError::Run)?;
        println!(
            "raincast demo: http://{} (admin password: {password})",
            running.addr
        );
        println!(
            "replaying {} to {} at {day_secs} s per simulated day; Ctrl-C stops",
            opts.from, opts.to
        );
        let replay = crate::replay::drive(
            &store,
            &state.jobs,
            &state.serving,
            &clock,
            &config,
            &opts,
            &|day, _| println!("simulated day {day}"),
        );
        tokio::select! {
            r = replay => {
                let s = r.map_err(|e| CliError::Run(e.into()))?;
                println!(
                    "replay finished: {} forecasts, Brier {}; still serving until Ctrl-C",
                    s.forecasts,
                    s.brier.map_or("–".into(), |b| format!("{b:.4}"))
                );
                crate::web::shutdown_signal().await;
            }
            _ = crate::web::shutdown_signal() => {}
        }
        drop(source);
        running.stop().await.map_err(CliError::Run)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A fresh private directory under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!(
        "raincast-replay-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| CliError::Run(e.into()))?;
    Ok(dir)
}

fn bom_server(bind: &str, day: Option<String>, fault: Option<String>) -> Result<(), CliError> {
    use crate::clock::{Clock, SystemClock};
    let clock: std::sync::Arc<dyn Clock> = match day {
        Some(d) => {
            let d = parse_date("--day", &d)?;
            // Noon in eastern Australia on that day, then real time.
            let start = d.and_hms_opt(2, 0, 0).expect("02:00 is a time").and_utc();
            std::sync::Arc::new(SystemClock::starting_at(start))
        }
        None => std::sync::Arc::new(SystemClock::from_env().map_err(CliError::Input)?),
    };
    let fault: Option<crate::bomsim::Fault> = fault
        .map(|f| f.parse().map_err(CliError::Input))
        .transpose()?;
    let sim = crate::bomsim::BomSim::new(clock.clone());
    if let Some(f) = fault {
        sim.fault_on(clock.bom_today(), f);
    }
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| CliError::Input(format!("--bind {bind}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| CliError::Run(e.into()))?;
        println!(
            "serving BOM's DWO files as of {} at http://{addr} (set bom.base_url to it)",
            clock.bom_today()
        );
        tokio::select! {
            r = sim.serve(listener) => r.map_err(|e| CliError::Run(e.into())),
            _ = crate::web::shutdown_signal() => Ok(()),
        }
    })
}

fn actor(a: Option<String>) -> String {
    a.or_else(|| std::env::var("USER").ok())
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|| "cli".into())
}

fn models(config: &Config, action: ModelsAction) -> Result<(), CliError> {
    let store = open_store(config)?;
    let registry_err = |e: crate::registry::RegistryError| match e {
        crate::registry::RegistryError::Store(e) => CliError::from(e),
        other => CliError::Input(other.to_string()),
    };
    match action {
        ModelsAction::List => {
            let champion = store.champion_version()?;
            println!(
                "  {:>7}  {:<24} {:>6} {:>7} {:>7} {:>9}  decision",
                "version", "created", "F1", "ROC AUC", "Brier", "threshold"
            );
            for m in store.models()? {
                println!(
                    "{} {:>7}  {:<24} {:>6.4} {:>7.4} {:>7.4} {:>9.2}  {}",
                    if Some(m.version) == champion {
                        "*"
                    } else {
                        " "
                    },
                    m.version,
                    crate::store::rfc3339::text(&m.created_at),
                    m.f1,
                    m.roc_auc,
                    m.brier,
                    m.threshold,
                    m.decision.map_or("", |d| d.as_str())
                );
            }
            Ok(())
        }
        ModelsAction::Show { version } => {
            let m = store.model_summary(version)?;
            let champion = store.champion_version()? == Some(version);
            /// The stored summary with the champion marked.
            #[derive(serde::Serialize)]
            struct Shown<'a> {
                #[serde(flatten)]
                summary: &'a crate::store::ModelSummary,
                champion: bool,
            }
            // Through a Value: keys sorted, as before.
            let v = serde_json::to_value(Shown {
                summary: &m,
                champion,
            })
            .map_err(|e| CliError::Run(e.into()))?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        ModelsAction::Promote {
            version,
            reason,
            actor: a,
        } => {
            let d = crate::registry::promote(&store, version, &reason, &actor(a))
                .map_err(registry_err)?;
            println!(
                "version {} is the champion (deployment {}, by {}: {})",
                d.version, d.id, d.actor, d.reason
            );
            Ok(())
        }
        ModelsAction::Rollback { reason, actor: a } => {
            let d = crate::registry::rollback(&store, &reason, &actor(a)).map_err(registry_err)?;
            println!(
                "rolled back: version {} is the champion again (deployment {}, by {}: {})",
                d.version, d.id, d.actor, d.reason
            );
            Ok(())
        }
    }
}

fn runs(config: &Config, action: RunsAction) -> Result<(), CliError> {
    let store = open_store(config)?;
    match action {
        RunsAction::List { kind, limit } => {
            if let Some(k) = &kind {
                k.parse::<crate::jobs::JobKind>().map_err(CliError::Input)?;
            }
            println!(
                "{:>6}  {:<8} {:<9} {:<10} {:<25} {:<25} error",
                "id", "kind", "trigger", "status", "started", "finished"
            );
            for r in store.runs(kind.as_deref(), limit)? {
                println!(
                    "{:>6}  {:<8} {:<9} {:<10} {:<25} {:<25} {}",
                    r.id,
                    r.kind,
                    r.trigger,
                    r.status.as_str(),
                    r.started_at,
                    r.finished_at.unwrap_or_default(),
                    r.error.unwrap_or_default()
                );
            }
            Ok(())
        }
        RunsAction::Show { id } => {
            let r = store.run(id)?;
            println!(
                "run {} ({}, {}): {}",
                r.id,
                r.kind,
                r.trigger,
                r.status.as_str()
            );
            println!("started  {}", r.started_at);
            println!("finished {}", r.finished_at.as_deref().unwrap_or("-"));
            if let Some(e) = &r.error {
                println!("error    {e}");
            }
            if let Some(s) = &r.summary {
                println!(
                    "summary  {}",
                    serde_json::to_string_pretty(s).unwrap_or_default()
                );
            }
            println!("--- log ---\n{}", r.log);
            Ok(())
        }
    }
}
