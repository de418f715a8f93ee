//! Commands on simulated time: `replay`, `demo`, `bom-server`.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::NaiveDate;
use tokio::runtime::Runtime;

use crate::config::Config;

use super::{CliError, FaultDays, open_store};

/// `raincast replay`: months of operation on a fast clock.
#[allow(clippy::too_many_arguments)]
pub(super) fn replay(
    rt: &Runtime,
    mut config: Config,
    from: NaiveDate,
    to: NaiveDate,
    speed: f64,
    faults: &[FaultDays],
    keep: Option<PathBuf>,
    json: bool,
) -> Result<(), CliError> {
    let opts = crate::replay::Options::new(
        from,
        to,
        speed,
        faults.iter().flat_map(FaultDays::days).collect(),
    )
    .map_err(replay_error)?;
    within_archive(from, to)?;
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
    let clock = std::sync::Arc::new(crate::clock::FakeClock::new(opts.start()));
    let started = std::time::Instant::now();
    let summary = rt
        .block_on(crate::replay::run(
            store,
            config,
            clock,
            &opts,
            &|day, _| tracing::info!(%day, "replayed"),
        ))
        .map_err(replay_error)?;
    let _ = std::fs::remove_dir_all(&dir);
    // A replay that issued nothing measured nothing: the summary is printed,
    // and the exit status says so.
    let nothing = (summary.forecasts == 0).then(|| {
        CliError::Run(anyhow::anyhow!(
            "the replay issued no forecast: {} of {} runs failed and {} of {} trainings \
             promoted a model (training needs 60 days with outcomes; replay a longer span, \
             or pass --with-history)",
            summary.failed_runs,
            summary.runs,
            summary.promotions,
            summary.trainings
        ))
    });
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&summary).map_err(|e| CliError::Run(e.into()))?
        );
        return nothing.map_or(Ok(()), Err);
    }
    let pct = |x: Option<f64>| x.map_or("–".into(), |v| format!("{:.1} %", v * 100.0));
    let num = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.4}"));
    outln!(
        "replayed {} to {} ({} days) in {:.1} s, sources: {}",
        summary.from,
        summary.to,
        summary.days,
        started.elapsed().as_secs_f64(),
        summary.sources
    );
    outln!(
        "forecasts: {} live, {} scored, hit rate {}",
        summary.forecasts,
        summary.scored,
        pct(summary.hit_rate)
    );
    outln!(
        "Brier {} vs climatology {}: skill score {}",
        num(summary.brier),
        num(summary.climatology_brier),
        num(summary.brier_skill_score)
    );
    outln!(
        "mean forecast {} vs {} of the scored days rained",
        num(summary.mean_forecast),
        num(summary.observed_frequency)
    );
    for i in &summary.issues {
        outln!(
            "  {:<10} {} issued, {} scored: Brier {} vs climatology {} (skill {}), mean forecast {} vs {}",
            i.issue,
            i.forecasts,
            i.scored,
            num(i.brier),
            num(i.climatology_brier),
            num(i.brier_skill_score),
            num(i.mean_forecast),
            num(i.observed_frequency)
        );
        if let Some(a) = &i.amounts {
            for l in a.lines() {
                outln!("    {l}");
            }
        }
    }
    outln!(
        "issued after their window closed: {}",
        summary.late_forecasts
    );
    if summary.unserved.is_empty() {
        outln!("every location had a forecast every day");
    } else {
        outln!(
            "locations without a forecast every day: {}",
            summary.unserved.len()
        );
        for u in &summary.unserved {
            outln!("  {}: {}", u.location, u.why);
        }
    }
    outln!(
        "runs: {} ({} failed, {} retries); trainings {}, promotions {}",
        summary.runs,
        summary.failed_runs,
        summary.retries,
        summary.trainings,
        summary.promotions
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
    outln!(
        "stale: {} station-days; outages: {}",
        summary.stale_station_days,
        if periods.is_empty() {
            "none".to_string()
        } else {
            periods.join(", ")
        }
    );
    outln!("database: {:.1} MB", summary.database_bytes as f64 / 1e6);
    nothing.map_or(Ok(()), Err)
}

/// `raincast demo`: the web server on a replay of the bundled BOM files.
pub(super) fn demo(
    rt: &Runtime,
    mut config: Config,
    bind: SocketAddr,
    from: NaiveDate,
    to: NaiveDate,
    day_secs: f64,
) -> Result<(), CliError> {
    use crate::clock::FakeClock;
    if !(day_secs.is_finite() && day_secs > 0.0) {
        return Err(CliError::Input(format!(
            "--day-secs {day_secs}: must be more than 0"
        )));
    }
    let opts = crate::replay::Options::new(from, to, 86_400.0 / day_secs, Vec::new())
        .map_err(replay_error)?;
    within_archive(from, to)?;
    let dir = tempfile_dir()?;
    config.database.path = dir.join("demo.db");
    config.server.bind = bind;
    // A password the demo makes up is shown; one the user set is not echoed.
    let admin = if config.admin.password.is_empty() && config.admin.password_hash.is_empty() {
        let mut bytes = [0u8; 6];
        rand::Rng::fill(&mut rand::rng(), &mut bytes);
        config.admin.password = format!("demo-{}", hex::encode(bytes));
        format!("admin password: {}", config.admin.password)
    } else {
        "admin: the password you set".to_string()
    };
    let store = open_store(&config)?;
    let clock = std::sync::Arc::new(FakeClock::new(opts.start()));
    let result = rt.block_on(async {
        let source = crate::replay::start_source(clock.clone(), &[])
            .await
            .map_err(|e| CliError::Run(e.into()))?;
        crate::replay::configure(&mut config, &source);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| CliError::Input(format!("--bind {bind}: {e}")))?;
        let state = crate::app::boot(crate::app::Launch {
            config,
            store,
            clock: clock.clone(),
            timing: crate::app::Timing::Driven { demo: true },
        })
        .await
        .map_err(CliError::Run)?;
        let running = crate::app::start(listener, state.clone())
            .await
            .map_err(CliError::Run)?;
        outln!("raincast demo: http://{} ({admin})", running.addr);
        outln!(
            "replaying {} to {} at {day_secs} s per simulated day; Ctrl-C stops",
            opts.from,
            opts.to
        );
        let replay = crate::replay::drive(&state, &clock, &opts, &|day, _| {
            outln!("simulated day {day}")
        });
        tokio::select! {
            r = replay => {
                let s = r.map_err(|e| CliError::Run(e.into()))?;
                outln!(
                    "replay finished: {} forecasts, Brier {}; still serving until Ctrl-C",
                    s.forecasts,
                    s.brier.map_or("–".into(), |b| format!("{b:.4}"))
                );
                crate::app::shutdown_signal().await;
            }
            _ = crate::app::shutdown_signal() => {}
        }
        drop(source);
        running.stop().await.map_err(CliError::Run)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The simulated days lie within the bundled BOM archive: outside it every
/// scrape would find nothing, and the replay would measure nothing.
fn within_archive(from: NaiveDate, to: NaiveDate) -> Result<(), CliError> {
    let files = crate::bomsim::archive();
    let (Some(first), Some(last)) = (
        crate::bomsim::archive_start(files),
        crate::bomsim::archive_end(files),
    ) else {
        return Err(CliError::Run(anyhow::anyhow!(
            "the bundled BOM archive is empty"
        )));
    };
    let outside = if from < first {
        Some(format!("--from {from} is before"))
    } else if to > last {
        Some(format!("--to {to} is after"))
    } else {
        None
    };
    match outside {
        Some(what) => Err(CliError::Input(format!(
            "{what} the bundled BOM archive, which holds {first} to {last} (as BOM showed \
             it on {last}); choose days within it"
        ))),
        None => Ok(()),
    }
}

/// A replay's refusal of its input is the user's mistake (exit 2).
fn replay_error(e: crate::replay::ReplayError) -> CliError {
    match e {
        crate::replay::ReplayError::Input(m) => CliError::Input(m),
        other => CliError::Run(other.into()),
    }
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

/// `raincast bom-server`: the bundled BOM archive at BOM's paths.
pub(super) fn bom_server(
    rt: &Runtime,
    bind: SocketAddr,
    day: Option<NaiveDate>,
    fault: Option<crate::bomsim::Fault>,
    ftp_bind: Option<SocketAddr>,
) -> Result<(), CliError> {
    use crate::clock::{Clock, SystemClock};
    let clock: std::sync::Arc<dyn Clock> = match day {
        Some(d) => {
            // Noon in eastern Australia on that day, then real time.
            let start = d.and_hms_opt(2, 0, 0).expect("02:00 is a time").and_utc();
            std::sync::Arc::new(SystemClock::starting_at(start))
        }
        None => std::sync::Arc::new(SystemClock::from_env().map_err(CliError::Input)?),
    };
    let sim = crate::bomsim::BomSim::new(clock.clone());
    let ftp = crate::ftpsim::FtpSim::new(clock.clone());
    if let Some(f) = fault {
        sim.fault_on(clock.bom_today(), f);
    }
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| CliError::Input(format!("--bind {bind}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| CliError::Run(e.into()))?;
        outln!(
            "serving BOM's DWO files as of {} at http://{addr} (set bom.base_url to it)",
            clock.bom_today()
        );
        let ftp_task = match ftp_bind {
            Some(b) => {
                let l = tokio::net::TcpListener::bind(b)
                    .await
                    .map_err(|e| CliError::Input(format!("--ftp-bind {b}: {e}")))?;
                let a = l.local_addr().map_err(|e| CliError::Run(e.into()))?;
                outln!(
                    "serving BOM's anonymous FTP products as of the same time at ftp://{a} (set ftp.host = \"{}\", ftp.port = {} and add ftp to sources.order)",
                    a.ip(),
                    a.port()
                );
                Some(tokio::spawn(ftp.serve(l)))
            }
            None => None,
        };
        let ftp_done = async {
            match ftp_task {
                Some(t) => match t.await {
                    Ok(r) => r,
                    Err(e) => Err(std::io::Error::other(e)),
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = sim.serve(listener) => r.map_err(|e| CliError::Run(e.into())),
            r = ftp_done => r.map_err(|e| CliError::Run(e.into())),
            _ = crate::app::shutdown_signal() => Ok(()),
        }
    })
}
