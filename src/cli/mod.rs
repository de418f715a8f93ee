//! The command line. Exit codes: 0 success, 1 the run failed, 2 usage or input error.
//!
//! [`args`] holds clap's types and value parsers; each group of commands has
//! a file of its own; this file loads the configuration, builds the one
//! tokio runtime and dispatches.

/// `println!` for command output: when the reader goes away (`raincast
/// runs list | head`), stop quietly with success instead of panicking on a
/// broken pipe, as Unix tools do.
macro_rules! outln {
    () => {
        $crate::cli::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod args;
mod data;
mod jobs;
mod models;
mod sim;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::config::Config;
use crate::store::Store;

pub use args::{Cli, Command, FaultDays, LogFormat, ModelsAction, RunsAction};

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

/// Logs go to stderr, coloured only when it is a terminal (never in a file,
/// journald or JSON).
fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RAINCAST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,libunftp=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.with_ansi(false).json().init(),
    }
}

/// Load the layered configuration, with the global CLI flags on top.
pub fn load_config(cli: &Cli) -> Result<Config, CliError> {
    let mut config = Config::load(cli.config.as_deref())
        .map_err(|e| CliError::Input(format!("configuration: {e}")))?;
    if let Some(db) = &cli.db {
        config.database.path = db.clone();
    }
    if cli.create_dirs {
        config.database.create_dirs = true;
    }
    crate::issue::Visibility::install(config.bom.visibility());
    Ok(config)
}

/// A database path whose directory is missing is a usage error naming
/// both, unless creation was asked for (`--create-dirs`,
/// `database.create_dirs`): a typo must not start an empty service.
pub fn check_database_dir(config: &Config) -> Result<(), CliError> {
    let path = &config.database.path;
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if config.database.create_dirs || dir.is_dir() {
        return Ok(());
    }
    let what = if dir.exists() {
        "is not a directory"
    } else {
        "does not exist"
    };
    Err(CliError::Input(format!(
        "database {}: the directory {} {what}; fix the path, create the directory, or pass --create-dirs (database.create_dirs = true)",
        path.display(),
        dir.display()
    )))
}

/// [`open_store`] for commands that only read or change what a database
/// already holds: a path with no database is a mistake (a typo in `--db`),
/// not a new, empty database.
pub fn open_existing_store(config: &Config) -> Result<Store, CliError> {
    let path = &config.database.path;
    if !path.exists() {
        return Err(CliError::Input(format!(
            "no database at {}: check --db (database.path), or make one with \
             `raincast import --bundled` or `raincast serve`",
            path.display()
        )));
    }
    open_store(config)
}

pub fn open_store(config: &Config) -> Result<Store, CliError> {
    check_database_dir(config)?;
    Store::open(
        &config.database.path,
        std::time::Duration::from_millis(config.database.busy_timeout_ms),
    )
    .map_err(|e| {
        // Opening writes (migrations, the journal): a file this user may
        // only read is named as such, with the way to serve it anyway.
        let path = &config.database.path;
        let denied = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied);
        if denied {
            return CliError::Input(format!(
                "database {}: this user may read the file but not write it, and raincast \
                 writes to any database it opens; run as its owner, or serve a copy \
                 read-only with `raincast serve --read-only`",
                path.display()
            ));
        }
        CliError::Run(anyhow::Error::new(e).context(format!(
            "opening database {}",
            config.database.path.display()
        )))
    })
}

fn run(cli: Cli) -> Result<(), CliError> {
    let config = load_config(&cli)?;
    // One runtime for whichever command needs one.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Run(e.into()))?;
    match cli.command {
        Command::Stations { json } => {
            data::print_stations(json);
            Ok(())
        }
        Command::Import {
            path,
            bundled: _,
            all_rejections,
        } => data::import(&config, path.as_deref(), all_rejections),
        Command::Scrape {
            from,
            to,
            location,
            force,
        } => jobs::scrape(&rt, &config, from.zip(to), location, force),
        Command::Train {
            tune_from,
            test_from,
        } => jobs::train(&rt, &config, tune_from, test_from),
        Command::Predict { location, date } => models::predict(&config, &location, date),
        Command::Models { action } => models::models(&config, action),
        Command::Runs { action } => jobs::runs(&config, action),
        Command::Evaluate {
            model,
            live: _,
            raw,
            from,
            to,
            json,
            forecasts,
        } => {
            let subject = match model {
                None => crate::evaluate::Subject::Live,
                Some(v) if raw => crate::evaluate::Subject::ModelRaw(v),
                Some(v) => crate::evaluate::Subject::Model(v),
            };
            models::evaluate(&config, subject, (from, to), json, forecasts.as_deref())
        }
        Command::Demo {
            bind,
            from,
            to,
            day_secs,
            source,
        } => {
            let mut config = config;
            if let Some(s) = source {
                config.sources.order = s.0.into();
            }
            sim::demo(&rt, config, bind, from, to, day_secs)
        }
        Command::Replay {
            from,
            to,
            speed,
            faults,
            keep,
            with_history,
            json,
            source,
        } => {
            let mut config = config;
            config.database.bundled_history = with_history;
            if let Some(s) = source {
                config.sources.order = s.0.into();
            }
            sim::replay(&rt, config, from, to, speed, &faults, keep, json)
        }
        Command::Backup { path } => {
            let store = open_existing_store(&config)?;
            store.backup_to(&path)?;
            outln!(
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
            let judged = crate::config::AdminConfig {
                password: password.to_string(),
                ..Default::default()
            };
            if let Some(why) = judged.password_weakness() {
                eprintln!("warning: this password is weak ({why})");
            }
            outln!(
                "{}",
                crate::web::admin::hash_password(password)
                    .map_err(|e| CliError::Run(anyhow::anyhow!(e)))?
            );
            Ok(())
        }
        Command::BomServer {
            bind,
            day,
            fault,
            ftp_bind,
        } => sim::bom_server(&rt, bind, day, fault, ftp_bind.0),
        Command::Serve { bind, read_only } => {
            // A bad simulated start is a mistake in the command: refused
            // before any port or file is touched.
            crate::clock::SystemClock::from_env().map_err(CliError::Input)?;
            let mut config = config;
            if let Some(bind) = bind {
                config.server.bind = bind;
            }
            // Listen first: a port in use is an error naming the address,
            // and no database file is created or touched before it.
            if !read_only {
                check_database_dir(&config)?;
            }
            let listener = rt
                .block_on(tokio::net::TcpListener::bind(config.server.bind))
                .map_err(|e| {
                    CliError::Run(anyhow::anyhow!(
                        "cannot listen on {} (server.bind): {e}{}",
                        config.server.bind,
                        if e.kind() == std::io::ErrorKind::AddrInUse {
                            "; another process (another raincast?) has that port"
                        } else {
                            ""
                        }
                    ))
                })?;
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
            rt.block_on(crate::app::serve(listener, config, store))
                .map_err(CliError::Run)
        }
    }
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

pub(crate) fn station_arg(name: &str) -> Result<&'static crate::stations::Station, CliError> {
    crate::stations::by_location(name).ok_or_else(|| {
        CliError::Input(format!(
            "unknown location `{name}`; `raincast stations` lists the 49 known ones"
        ))
    })
}

/// Write command output to stdout; see [`outln!`].
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // Rust's stdout is line-buffered, so a finished line is written (and a
    // closed pipe noticed) here.
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}
