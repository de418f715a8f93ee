//! Background jobs: scrape, train, refresh.
//!
//! One [`JobSpec`] names what to run; [`Jobs::run`] and [`Jobs::start`] are
//! the only ways in, for the schedule, the admin console, the CLI and the
//! tests alike. The runner ([`runner`]) records every run (trigger, times,
//! status, error, captured log, typed summary), allows one run of any kind
//! at a time (in this process, and across processes through the database's
//! job lease) and stops runs at a safe point on cancel or shutdown. The
//! scheduler ([`scheduler`]) decides what is due on the injectable clock.
//! Each job body lives in a file of its own and is a function from the run's
//! context and its typed arguments to a typed summary.

pub use crate::clock;
mod catch_up;
mod forecast_log;
mod refresh;
mod runner;
pub mod scheduler;
mod scrape;
mod train;

use serde::Serialize;

use crate::ingest::bom::ScrapePlan;
use crate::store::StoreError;
use crate::train::WindowOverride;

pub use crate::store::{JobKind, RunStatus, Trigger};
pub use catch_up::{CatchUp, catch_up};
pub use forecast_log::ForecastLog;
pub use refresh::RefreshSummary;
pub use runner::{Jobs, RunCtx};
pub use scrape::ScrapeSummary;
pub use train::TrainSummary;

/// What to run, with its arguments.
#[derive(Debug, Clone)]
pub enum JobSpec {
    /// Fetch BOM's files. `None`: the default window for the clock's BOM
    /// day (what the schedule and the admin run); `Some`: a given plan
    /// (the CLI's `--from/--to/--location` backfill).
    Scrape { plan: Option<ScrapePlan> },
    /// Train, score against the champion, register, maybe promote. Default
    /// windows come from the model settings; the CLI may set them. `quick`:
    /// the first model of a process with nothing to serve (see
    /// [`train::quick_params`]), which a full training follows.
    Train {
        windows: WindowOverride,
        quick: bool,
    },
    /// Scrape, then train.
    Refresh,
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Scrape { .. } => JobKind::Scrape,
            JobSpec::Train { .. } => JobKind::Train,
            JobSpec::Refresh => JobKind::Refresh,
        }
    }

    /// Run the job body inside a claimed, recorded run.
    async fn execute(self, ctx: &std::sync::Arc<RunCtx>) -> Result<JobSummary, Failure> {
        match self {
            JobSpec::Scrape { plan } => scrape::run(ctx, plan).await.map(JobSummary::Scrape),
            JobSpec::Train { windows, quick } => {
                train::run(ctx, windows, quick).await.map(JobSummary::Train)
            }
            JobSpec::Refresh => refresh::run(ctx)
                .await
                .map(|s| JobSummary::Refresh(Box::new(s))),
        }
    }
}

impl From<JobKind> for JobSpec {
    /// The job of a kind as the schedule and the admin console run it.
    fn from(kind: JobKind) -> Self {
        match kind {
            JobKind::Scrape => JobSpec::Scrape { plan: None },
            JobKind::Train => JobSpec::Train {
                windows: WindowOverride::default(),
                quick: false,
            },
            JobKind::Refresh => JobSpec::Refresh,
        }
    }
}

/// What a run did, by kind. Stored as the run's JSON summary, in the same
/// shape as the job's own summary (no tag).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum JobSummary {
    Scrape(ScrapeSummary),
    Train(TrainSummary),
    Refresh(Box<RefreshSummary>),
}

impl JobSummary {
    /// A stored run summary read back as its kind's type. An error means a
    /// summary of another shape (one written by an older release).
    pub fn read(kind: JobKind, v: &serde_json::Value) -> Result<Self, serde_json::Error> {
        use serde::Deserialize;
        Ok(match kind {
            JobKind::Scrape => JobSummary::Scrape(ScrapeSummary::deserialize(v)?),
            JobKind::Train => JobSummary::Train(TrainSummary::deserialize(v)?),
            JobKind::Refresh => JobSummary::Refresh(Box::new(RefreshSummary::deserialize(v)?)),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Refused: a run that conflicts is going. Carries its id.
    #[error("a {kind} run is already going (run {run_id}); try again when it has finished")]
    AlreadyRunning { kind: &'static str, run_id: i64 },
    #[error("shutting down; no new runs start")]
    ShuttingDown,
    /// Cancel refused: the run is not going in this process.
    #[error("run {0} is not running in this process, so there is nothing to cancel")]
    NotRunning(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub run_id: i64,
    pub status: RunStatus,
    pub error: Option<String>,
    /// What the job did: present when it succeeded, and when it failed
    /// after doing something worth recording (a scrape with failed files).
    pub summary: Option<JobSummary>,
}

/// A failed job body: the error, and whatever summary it has.
#[derive(Debug)]
pub(crate) struct Failure {
    error: String,
    summary: Option<JobSummary>,
    cancelled: bool,
}

impl Failure {
    fn new(error: impl std::fmt::Display) -> Self {
        Self {
            error: error.to_string(),
            summary: None,
            cancelled: false,
        }
    }
}
