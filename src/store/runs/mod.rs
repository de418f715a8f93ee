//! The `job_runs` table: one row per scrape, training or refresh. Its
//! kinds, triggers and statuses, and recording a run's log and end, are
//! here; starting a run under the one job lease, the lease's heartbeat and
//! the run lock are in `lease`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError};

mod lease;
#[cfg(test)]
mod tests;

pub use lease::{JobLease, RunLock, pid_gone};
use lease::{lease_in, now_ms};
/// Implements the string forms of a run enum once: `as_str`, `FromStr`,
/// `Display`, comparison with a `&str`, and SQLite storage as that text
/// (the same strings the table has always held).
macro_rules! text_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " `{}`: expected {}"),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl rusqlite::types::ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $ty {
            fn column_result(
                v: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let s = v.as_str()?;
                s.parse()
                    .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }
    };
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Scrape,
    Train,
    Refresh,
}

text_enum!(JobKind, "job", { Scrape => "scrape", Train => "train", Refresh => "refresh" });

impl JobKind {
    pub const ALL: [JobKind; 3] = [JobKind::Scrape, JobKind::Train, JobKind::Refresh];
}

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Schedule,
    Admin,
    Cli,
    CatchUp,
    Retry,
}

text_enum!(Trigger, "trigger", {
    Schedule => "schedule",
    Admin => "admin",
    Cli => "cli",
    CatchUp => "catch-up",
    Retry => "retry",
});

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

text_enum!(RunStatus, "run status", {
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Cancelled => "cancelled",
});

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRun {
    pub id: i64,
    pub kind: JobKind,
    pub trigger: Trigger,
    /// When the run started, by the wall clock (RFC 3339, milliseconds).
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub started_at: DateTime<Utc>,
    #[serde(serialize_with = "serialize_opt_time")]
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub log: String,
    /// Job-specific outcome (JSON), e.g. rows inserted per station.
    #[schema(value_type = Option<Object>)]
    pub summary: Option<serde_json::Value>,
    /// Live progress (JSON), e.g. trees done.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<serde_json::Value>,
}

fn serialize_opt_time<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match t {
        Some(t) => super::rfc3339::serialize(t, s),
        None => s.serialize_none(),
    }
}

const COLS: &str =
    "id, kind, trigger, started_at, finished_at, status, error, log, summary, progress";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRun> {
    let id: i64 = r.get(0)?;
    // Stored JSON that does not parse is a corrupt row, named, never `null`.
    let json = |col: usize, name: &str| -> rusqlite::Result<Option<serde_json::Value>> {
        let text: Option<String> = r.get(col)?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| {
                let msg = format!("job_runs id {id}: column {name} is not JSON: {e}");
                rusqlite::Error::FromSqlConversionFailure(
                    col,
                    rusqlite::types::Type::Text,
                    msg.into(),
                )
            })
        })
        .transpose()
    };
    // A time that does not parse is a corrupt row too.
    let time = |col: usize, name: &str| -> rusqlite::Result<Option<DateTime<Utc>>> {
        let text: Option<String> = r.get(col)?;
        text.map(|t| {
            super::rfc3339::parse(&t).map_err(|e| {
                let msg = format!("job_runs id {id}: column {name} is not an RFC 3339 time: {e}");
                rusqlite::Error::FromSqlConversionFailure(
                    col,
                    rusqlite::types::Type::Text,
                    msg.into(),
                )
            })
        })
        .transpose()
    };
    let started_at = time(3, "started_at")?.ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Null,
            format!("job_runs id {id}: started_at is empty").into(),
        )
    })?;
    Ok(JobRun {
        id,
        kind: r.get(1)?,
        trigger: r.get(2)?,
        started_at,
        finished_at: time(4, "finished_at")?,
        status: r.get(5)?,
        error: r.get(6)?,
        log: r.get(7)?,
        summary: json(8, "summary")?,
        progress: json(9, "progress")?,
    })
}

/// A row that does not read as a run (an unknown kind or status) is a
/// corrupt database, not a SQL error.
fn finish(row: rusqlite::Result<JobRun>) -> Result<JobRun> {
    row.map_err(|e| match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, e) => StoreError::Corrupt(e.to_string()),
        other => other.into(),
    })
}

const INTERRUPTED: &str = "UPDATE job_runs SET status = 'failed', error = 'interrupted', finished_at = ?2 WHERE id = ?1 AND status = 'running'";

impl Store {
    /// Save the captured log and live progress of a running run.
    pub fn update_run(
        &self,
        id: i64,
        log: &str,
        progress: Option<&serde_json::Value>,
    ) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE job_runs SET log = ?2, progress = ?3 WHERE id = ?1")?
                .execute(rusqlite::params![id, log, progress.map(|p| p.to_string())])?;
            Ok(())
        })
    }

    pub fn finish_run(
        &self,
        id: i64,
        status: RunStatus,
        error: Option<&str>,
        summary: Option<&serde_json::Value>,
        log: &str,
    ) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE job_runs SET status = ?2, error = ?3, summary = ?4, log = ?5, finished_at = ?6 WHERE id = ?1")?.execute(
                rusqlite::params![
                    id,
                    status,
                    error,
                    summary.map(|s| s.to_string()),
                    log,
                    self.now_text()
                ],
            )?;
            tx.prepare_cached("DELETE FROM job_lease WHERE id = 1 AND run_id = ?1")?.execute( [id])?;
            Ok(())
        })
    }

    pub fn run(&self, id: i64) -> Result<JobRun> {
        self.with_conn(|c| {
            let sql = format!("SELECT {COLS} FROM job_runs WHERE id = ?1");
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query_map([id], from_row)?;
            match rows.next() {
                Some(r) => finish(r),
                None => Err(StoreError::NotFound(format!("run {id}"))),
            }
        })
    }

    /// Newest runs first, optionally of one kind.
    pub fn runs(&self, kind: Option<JobKind>, limit: u32) -> Result<Vec<JobRun>> {
        self.with_conn(|c| {
            let sql = format!(
                "SELECT {COLS} FROM job_runs WHERE ?1 IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params![kind, limit], from_row)?;
            rows.map(finish).collect()
        })
    }

    /// Newest runs first, optionally of one kind, without their logs,
    /// summaries and progress (cheap: for status displays).
    pub fn run_heads(&self, kind: Option<JobKind>, limit: u32) -> Result<Vec<JobRun>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, kind, trigger, started_at, finished_at, status, error, '', NULL, NULL
                 FROM job_runs WHERE ?1 IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(rusqlite::params![kind, limit], from_row)?;
            rows.map(finish).collect()
        })
    }

    /// When the newest successful run of `kind` finished.
    pub fn last_success(&self, kind: JobKind) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        self.with_conn(|c| {
            let at: Option<String> = c.query_row(
                "SELECT max(finished_at) FROM job_runs WHERE kind = ?1 AND status = 'succeeded'",
                [kind],
                |r| r.get(0),
            )?;
            Ok(at
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
                .map(|d| d.with_timezone(&chrono::Utc)))
        })
    }

    /// Close runs left "running" that hold no live lease: their process
    /// stopped (killed, crashed) without recording the end. A run under an
    /// unexpired lease is going in another process and is left alone.
    /// Returns how many were closed.
    pub fn mark_interrupted(&self) -> Result<usize> {
        self.write(|tx| {
            let live = lease_in(tx)?
                .filter(|l| l.expires_ms > now_ms())
                .map(|l| l.run_id);
            let mut st = tx.prepare("SELECT id FROM job_runs WHERE status = 'running'")?;
            let stale: Vec<i64> = st
                .query_map([], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter(|id| Some(*id) != live)
                .collect();
            for id in &stale {
                tx.execute(INTERRUPTED, rusqlite::params![id, self.now_text()])?;
            }
            if live.is_none() {
                tx.prepare_cached("DELETE FROM job_lease")?.execute([])?;
            }
            Ok(stale.len())
        })
    }
}
