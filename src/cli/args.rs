//! The command line's shape (clap), with value parsers that turn months,
//! dates, faults and job kinds into typed values, so a bad one is a usage
//! error (exit 2) naming the flag.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::bomsim::Fault;
use crate::ingest::bom::Month;
use crate::jobs::JobKind;

#[derive(Parser, Debug)]
#[command(
    name = "raincast",
    version,
    about = "Will it rain tomorrow? Scrapes BOM, trains a random forest and gradient boosting, and serves forecasts for 49 Australian cities.",
    long_about = "Will it rain tomorrow? raincast scrapes the Bureau of Meteorology's Daily Weather \
Observations, stores them in one SQLite file, retrains a random forest and gradient boosting every week (keeping the better), and serves a \
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
    /// Create the database file's missing parent directories (sets
    /// database.create_dirs); without it a missing directory is an error.
    #[arg(long, global = true)]
    pub create_dirs: bool,
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
        bind: Option<SocketAddr>,
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
        bind: SocketAddr,
        /// Serve as of this day (YYYY-MM-DD, eastern Australia); default: the clock's day.
        #[arg(long, value_parser = date)]
        day: Option<NaiveDate>,
        /// Fail every request with this fault: refuse, forbidden, server-error, truncated or html.
        /// It applies to the website only; the FTP side serves normally.
        #[arg(long, value_parser = fault)]
        fault: Option<Fault>,
        /// Also serve BOM's anonymous FTP products (state observations and
        /// daily tables rendered from the archive at the same time) here;
        /// `off` serves the website only.
        #[arg(long, default_value = "127.0.0.1:2121", value_parser = ftp_bind)]
        ftp_bind: FtpBind,
    },
    /// Fetch BOM Daily Weather Observations once: every month of BOM's online
    /// window (14 months) that is not stored complete, for every station.
    Scrape {
        /// First month of a backfill, YYYY-MM (needs --to).
        #[arg(long, value_name = "YYYY-MM", requires = "to", value_parser = month)]
        from: Option<Month>,
        /// Last month of a backfill, YYYY-MM (needs --from).
        #[arg(long, value_name = "YYYY-MM", requires = "from", value_parser = month)]
        to: Option<Month>,
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
        #[arg(long, value_name = "DATE", requires = "test_from", value_parser = date)]
        tune_from: Option<NaiveDate>,
        /// Start of the test window, YYYY-MM-DD (default: the last model.test_months).
        #[arg(long, value_name = "DATE", value_parser = date)]
        test_from: Option<NaiveDate>,
    },
    /// Print the champion's probability of rain on the day after DATE.
    Predict {
        /// Location, e.g. Sydney (`raincast stations` lists them).
        #[arg(long, value_name = "NAME")]
        location: String,
        /// Observation date, YYYY-MM-DD (default: the newest stored).
        #[arg(long, value_name = "DATE", value_parser = date)]
        date: Option<NaiveDate>,
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
    /// and the same per station, for the chances serving gives (the level
    /// correction included) unless --raw. Writes nothing to the database.
    Evaluate {
        /// The model version to score.
        #[arg(long, required_unless_present = "live", conflicts_with = "live")]
        model: Option<i64>,
        /// Score the forecasts the daily job logged instead.
        #[arg(long)]
        live: bool,
        /// Score the model's own chances, without the level correction
        /// serving applies (learned from the days before each one).
        #[arg(long, requires = "model")]
        raw: bool,
        /// First forecast day (YYYY-MM-DD).
        #[arg(long, value_parser = date)]
        from: NaiveDate,
        /// Last forecast day (YYYY-MM-DD).
        #[arg(long, value_parser = date)]
        to: NaiveDate,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also write every scored forecast to this CSV file (must not
        /// exist): issue, station, rain day, chance, outcome, the amount
        /// measured and the chance of each amount.
        #[arg(long, value_name = "PATH")]
        forecasts: Option<PathBuf>,
    },
    /// Try raincast with no network: the web server on a temporary database,
    /// replaying the bundled real BOM files at a visible pace. Forecasts
    /// appear, yesterday's are scored, weekly trainings run, the admin shows
    /// live runs; every page says it is a replay and which day it is.
    Demo {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// First simulated day.
        #[arg(long, default_value = "2024-09-01", value_parser = date)]
        from: NaiveDate,
        /// Last simulated day.
        #[arg(long, default_value = "2025-09-05", value_parser = date)]
        to: NaiveDate,
        /// Real seconds per simulated day.
        #[arg(long, default_value_t = 4.0)]
        day_secs: f64,
        /// Observation sources: website, ftp or both (the website's file the
        /// authority); default: as configured in `sources.order`.
        #[arg(long, value_parser = source_choice)]
        source: Option<SourceChoice>,
    },
    /// Replay months of operation in seconds: the real scheduler and job runner
    /// on a fast clock, against the bundled real BOM files as BOM showed them
    /// each day, into a database of its own. Prints the live record's summary.
    Replay {
        /// First simulated day (YYYY-MM-DD).
        #[arg(long, value_parser = date)]
        from: NaiveDate,
        /// Last simulated day (YYYY-MM-DD).
        #[arg(long, value_parser = date)]
        to: NaiveDate,
        /// Simulated seconds per real second (0 = as fast as possible).
        #[arg(long, default_value_t = 0.0)]
        speed: f64,
        /// BOM faults by day, e.g. `2024-10-03:refuse` (refuse, forbidden,
        /// server-error, truncated, html); repeatable, or a range
        /// `2024-10-03..2024-10-05:refuse`.
        #[arg(long = "fault", value_name = "DAY:FAULT", value_parser = fault_days)]
        faults: Vec<FaultDays>,
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
        /// Observation sources: website, ftp or both (the website's file the
        /// authority); default: as configured in `sources.order`.
        #[arg(long, value_parser = source_choice)]
        source: Option<SourceChoice>,
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
        #[arg(long, value_parser = job_kind)]
        kind: Option<JobKind>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One run with its full log and summary.
    Show { id: i64 },
}

/// `--fault DAY:FAULT` or `--fault FROM..TO:FAULT`: a fault on each day of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultDays {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub fault: Fault,
}

impl FaultDays {
    /// Each day of the range with its fault.
    pub fn days(&self) -> impl Iterator<Item = (NaiveDate, Fault)> + '_ {
        self.from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .map(|d| (d, self.fault))
    }
}

/// A `YYYY-MM-DD` date.
pub fn date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("`{s}` is not a YYYY-MM-DD date"))
}

/// A `YYYY-MM` month.
pub fn month(s: &str) -> Result<Month, String> {
    crate::ingest::bom::parse_month(s)
}

fn job_kind(s: &str) -> Result<JobKind, String> {
    s.parse()
}

/// `--source website|ftp|both`: the `sources.order` it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceChoice(pub &'static str);

fn source_choice(s: &str) -> Result<SourceChoice, String> {
    match s {
        "website" => Ok(SourceChoice("website")),
        "ftp" => Ok(SourceChoice("ftp")),
        "both" => Ok(SourceChoice("website,ftp")),
        _ => Err(format!("{s}: expected website, ftp or both")),
    }
}

/// `--ftp-bind ADDR`, or `off` (`None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FtpBind(pub Option<SocketAddr>);

fn ftp_bind(s: &str) -> Result<FtpBind, String> {
    if s == "off" {
        return Ok(FtpBind(None));
    }
    s.parse()
        .map(|a| FtpBind(Some(a)))
        .map_err(|e| format!("{s}: {e} (an address such as 127.0.0.1:2121, or off)"))
}

fn fault(s: &str) -> Result<Fault, String> {
    s.parse()
}

/// Parse `DAY:FAULT` or `FROM..TO:FAULT`.
pub fn fault_days(spec: &str) -> Result<FaultDays, String> {
    let (days, fault) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("expected DAY:FAULT, e.g. 2024-10-03:refuse, not `{spec}`"))?;
    let fault: Fault = fault.parse()?;
    let (a, b) = days.split_once("..").unwrap_or((days, days));
    let (from, to) = (date(a)?, date(b)?);
    if from > to {
        return Err(format!("{from} is after {to}"));
    }
    Ok(FaultDays { from, to, fault })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_parsers_type_their_values_and_name_what_is_wrong() {
        assert_eq!(month("2024-08"), Ok((2024, 8)));
        assert!(month("2024-13").is_err());
        assert!(date("2024-02-30").unwrap_err().contains("YYYY-MM-DD"));
        assert_eq!(job_kind("train"), Ok(JobKind::Train));
        assert!(job_kind("bake").unwrap_err().contains("scrape"));
        let f = fault_days("2024-10-03..2024-10-05:refuse").unwrap();
        assert_eq!(f.days().count(), 3);
        assert!(fault_days("2024-10-05..2024-10-03:refuse").is_err());
        assert!(fault_days("2024-10-05").is_err());
        let bad = ["raincast", "scrape", "--from", "2024-8", "--to", "2024-09"];
        assert!(Cli::try_parse_from(bad).is_err());
        Cli::try_parse_from(["raincast", "runs", "list", "--kind", "scrape"]).unwrap();
    }
}
