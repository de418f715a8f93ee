//! Commands that load or list data: `stations`, `import`.

use crate::config::Config;

use super::{CliError, open_store, progress_bar};

pub(super) fn print_stations(json: bool) {
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

pub(super) fn import(
    config: &Config,
    path: Option<&std::path::Path>,
    all: bool,
) -> Result<(), CliError> {
    use crate::ingest::weather_aus::{self, ImportError};
    if let Some(path) = path
        && !path.exists()
    {
        return Err(CliError::Input(format!("{}: no such file", path.display())));
    }
    // Observations come from days that have begun somewhere in Australia:
    // today in eastern Australia, and a day's grace for a clock that is off.
    let today = {
        use crate::clock::Clock;
        crate::clock::SystemClock::from_env()
            .map_err(CliError::Input)?
            .bom_today()
    };
    let parsed = match path {
        Some(path) => weather_aus::load(path, Some(today + chrono::Days::new(1))),
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
    outln!(
        "{} rows read: {} inserted, {} updated, {} unchanged, {} rejected",
        report.rows,
        report.counts.inserted,
        report.counts.updated,
        report.counts.unchanged,
        report.rejected.len()
    );
    Ok(())
}
