//! Commands about models: `models`, `predict`, `evaluate`.

use chrono::NaiveDate;

use crate::clock::Clock;
use crate::config::Config;

use super::{CliError, ModelsAction, open_existing_store, station_arg};

fn actor(a: Option<String>) -> String {
    a.or_else(|| std::env::var("USER").ok())
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|| "cli".into())
}

pub(super) fn models(config: &Config, action: ModelsAction) -> Result<(), CliError> {
    let store = open_existing_store(config)?;
    let registry_err = |e: crate::registry::RegistryError| match e {
        crate::registry::RegistryError::Store(e) => CliError::from(e),
        other => CliError::Input(other.to_string()),
    };
    match action {
        ModelsAction::List => {
            let champion = store.champion_version()?;
            outln!(
                "  {:>7}  {:<24} {:>6} {:>7} {:>7} {:>9}  decision",
                "version",
                "created",
                "F1",
                "ROC AUC",
                "Brier",
                "threshold"
            );
            for m in store.models()? {
                outln!(
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
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        ModelsAction::Promote {
            version,
            reason,
            actor: a,
        } => {
            let d = crate::registry::promote(&store, version, &reason, &actor(a))
                .map_err(registry_err)?;
            outln!(
                "version {} is the champion (deployment {}, by {}: {})",
                d.version,
                d.id,
                d.actor,
                d.reason
            );
            Ok(())
        }
        ModelsAction::Rollback { reason, actor: a } => {
            let d = crate::registry::rollback(&store, &reason, &actor(a)).map_err(registry_err)?;
            outln!(
                "rolled back: version {} is the champion again (deployment {}, by {}: {})",
                d.version,
                d.id,
                d.actor,
                d.reason
            );
            Ok(())
        }
    }
}

/// `raincast predict`: the champion's forecast from one observation day.
pub(super) fn predict(
    config: &Config,
    location: &str,
    date: Option<NaiveDate>,
) -> Result<(), CliError> {
    let st = station_arg(location)?;
    let store = open_existing_store(config)?;
    let model = crate::registry::load_champion(&store)
        .map_err(|e| CliError::Run(e.into()))?
        .ok_or_else(|| {
            CliError::Run(anyhow::anyhow!(
                "no model is deployed yet; run `raincast train`"
            ))
        })?;
    // The chance serving would give: the level correction's book read up
    // to the newest stored rain day, as the server's is.
    crate::evaluate::catch_up_level(&store, &model).map_err(|e| CliError::Run(e.into()))?;
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
    outln!(
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

/// A file written whole or not at all: the data goes to a hidden sibling,
/// which becomes the file only once complete, and never over an existing
/// one. The sibling is removed however the writing ends.
struct NewFile {
    path: std::path::PathBuf,
    partial: std::path::PathBuf,
    file: std::fs::File,
}

impl NewFile {
    /// The refusal of a path that already holds a file.
    fn exists(path: &std::path::Path) -> CliError {
        CliError::Input(format!(
            "--forecasts {}: already exists; name a new file",
            path.display()
        ))
    }

    fn create(path: &std::path::Path) -> Result<Self, CliError> {
        if path.exists() {
            return Err(Self::exists(path));
        }
        let name = path.file_name().ok_or_else(|| {
            CliError::Input(format!("--forecasts {}: not a file name", path.display()))
        })?;
        let partial = path.with_file_name(format!(
            ".{}.{}.partial",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(|e| CliError::Input(format!("--forecasts {}: {e}", path.display())))?;
        Ok(NewFile {
            path: path.to_path_buf(),
            partial,
            file,
        })
    }

    /// Make the complete file appear at its path (a hard link, so that a
    /// file created there meanwhile is not replaced).
    fn finish(self) -> Result<(), CliError> {
        let failed = |e: std::io::Error| {
            CliError::Run(anyhow::anyhow!("--forecasts {}: {e}", self.path.display()))
        };
        self.file.sync_all().map_err(failed)?;
        match std::fs::hard_link(&self.partial, &self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Self::exists(&self.path))
            }
            // A file system without hard links.
            Err(_) if !self.path.exists() => {
                std::fs::rename(&self.partial, &self.path).map_err(failed)
            }
            Err(e) => Err(failed(e)),
        }
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

/// `raincast evaluate`: score a model or the live record on a window.
pub(super) fn evaluate(
    config: &Config,
    subject: crate::evaluate::Subject,
    (from, to): (NaiveDate, NaiveDate),
    json: bool,
    forecasts: Option<&std::path::Path>,
) -> Result<(), CliError> {
    use crate::evaluate::EvaluateError;
    let store = open_existing_store(config)?;
    // The forecasts' file is new and whole: an existing file is never
    // overwritten, and a failed or interrupted evaluation leaves none.
    let mut file = forecasts.map(NewFile::create).transpose()?;
    let result = crate::evaluate::evaluate_to(
        &store,
        subject,
        from,
        to,
        file.as_mut()
            .map(|f| &mut f.file as &mut dyn std::io::Write),
    );
    if let (Ok(_), Some(f)) = (&result, file) {
        f.finish()?;
    }
    let e = result.map_err(|e| match e {
        EvaluateError::Input(m) => CliError::Input(m),
        EvaluateError::Registry(crate::registry::RegistryError::Store(
            crate::store::StoreError::NotFound(what),
        )) => CliError::Input(format!("{what} not found")),
        other => CliError::Run(other.into()),
    })?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&e).map_err(|e| CliError::Run(e.into()))?
        );
        return Ok(());
    }
    let o = &e.overall;
    let skill = |s: Option<f64>| s.map_or("–".into(), |v| format!("{v:+.3}"));
    outln!(
        "{} on {}..{}: {} forecasts, {} rain days",
        e.subject,
        e.from,
        e.to,
        o.n,
        o.rain_days
    );
    outln!(
        "F1 {:.3}  precision {:.3}  recall {:.3}  ROC AUC {:.3}  Brier {:.4} (climatology {:.4}, skill {})",
        o.f1,
        o.precision,
        o.recall,
        o.roc_auc,
        o.brier,
        o.climatology_brier,
        skill(o.brier_skill_score)
    );
    outln!(
        "mean forecast {:.3} vs observed frequency {:.3}",
        o.mean_forecast,
        o.observed_frequency
    );
    if let Some(a) = &e.amounts {
        for l in a.lines() {
            outln!("{l}");
        }
    }
    for i in &e.issues {
        if let Some(a) = &i.amounts {
            outln!("{}:", i.issue);
            for l in a.lines() {
                outln!("  {l}");
            }
        }
    }
    outln!("reliability:   forecast     n  mean  observed");
    for b in &e.reliability {
        let f = |x: Option<f64>| x.map_or("  –  ".into(), |v| format!("{v:.3}"));
        outln!(
            "             {:.1}–{:.1} {:>6}  {}  {}",
            b.lo,
            b.hi,
            b.n,
            f(b.mean_forecast),
            f(b.observed)
        );
    }
    outln!(
        "{:<18} {:>6} {:>7} {:>7} {:>7}",
        "station",
        "n",
        "Brier",
        "AUC",
        "skill"
    );
    for s in &e.stations {
        outln!(
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
