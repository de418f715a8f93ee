//! The `job_runs` table: one row per scrape, training or refresh.

use serde::Serialize;

use super::{Result, Store, StoreError, now_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            other => return Err(StoreError::Corrupt(format!("run status {other}"))),
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRun {
    pub id: i64,
    pub kind: String,
    pub trigger: String,
    pub started_at: String,
    pub finished_at: Option<String>,
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

const COLS: &str =
    "id, kind, trigger, started_at, finished_at, status, error, log, summary, progress";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(JobRun, String)> {
    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    let status: String = r.get(5)?;
    Ok((
        JobRun {
            id: r.get(0)?,
            kind: r.get(1)?,
            trigger: r.get(2)?,
            started_at: r.get(3)?,
            finished_at: r.get(4)?,
            status: RunStatus::Running,
            error: r.get(6)?,
            log: r.get(7)?,
            summary: json(r.get(8)?),
            progress: json(r.get(9)?),
        },
        status,
    ))
}

fn finish(pair: (JobRun, String)) -> Result<JobRun> {
    let (mut run, status) = pair;
    run.status = RunStatus::parse(&status)?;
    Ok(run)
}

fn pid_alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Store {
    /// Record the start of a run, unless a run of the same kind is going (in
    /// this or another process): then `RunActive` names the running run's id.
    /// A "running" row whose process is gone is closed as interrupted first.
    pub fn start_run(&self, kind: &str, trigger: &str) -> Result<i64> {
        self.write(|tx| {
            let running: Option<(i64, Option<i64>)> = tx
                .query_row(
                    "SELECT id, pid FROM job_runs WHERE kind = ?1 AND status = 'running' ORDER BY id DESC LIMIT 1",
                    [kind],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            if let Some((id, pid)) = running {
                if pid.is_some_and(pid_alive) {
                    return Err(StoreError::RunActive {
                        kind: kind.to_string(),
                        run_id: id,
                    });
                }
                tx.execute(
                    "UPDATE job_runs SET status = 'failed', error = 'interrupted', finished_at = ?2 WHERE id = ?1",
                    rusqlite::params![id, now_text()],
                )?;
            }
            tx.execute(
                "INSERT INTO job_runs (kind, trigger, started_at, status, pid) VALUES (?1, ?2, ?3, 'running', ?4)",
                rusqlite::params![kind, trigger, now_text(), std::process::id()],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Save the captured log and live progress of a running run.
    pub fn update_run(
        &self,
        id: i64,
        log: &str,
        progress: Option<&serde_json::Value>,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE job_runs SET log = ?2, progress = ?3 WHERE id = ?1",
                rusqlite::params![id, log, progress.map(|p| p.to_string())],
            )?;
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
            tx.execute(
                "UPDATE job_runs SET status = ?2, error = ?3, summary = ?4, log = ?5, finished_at = ?6 WHERE id = ?1",
                rusqlite::params![
                    id,
                    status.as_str(),
                    error,
                    summary.map(|s| s.to_string()),
                    log,
                    now_text()
                ],
            )?;
            Ok(())
        })
    }

    pub fn run(&self, id: i64) -> Result<JobRun> {
        self.with_conn(|c| {
            let sql = format!("SELECT {COLS} FROM job_runs WHERE id = ?1");
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query_map([id], from_row)?;
            match rows.next() {
                Some(r) => finish(r?),
                None => Err(StoreError::NotFound(format!("run {id}"))),
            }
        })
    }

    /// Newest runs first, optionally of one kind.
    pub fn runs(&self, kind: Option<&str>, limit: u32) -> Result<Vec<JobRun>> {
        self.with_conn(|c| {
            let sql = format!(
                "SELECT {COLS} FROM job_runs WHERE ?1 IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params![kind, limit], from_row)?;
            rows.map(|r| finish(r?)).collect()
        })
    }

    /// When the newest successful run of `kind` finished.
    pub fn last_success(&self, kind: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
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

    /// Close runs left "running" by a process that no longer exists
    /// (killed, crashed). Returns how many were closed.
    pub fn mark_interrupted(&self) -> Result<usize> {
        self.write(|tx| {
            let mut st = tx.prepare("SELECT id, pid FROM job_runs WHERE status = 'running'")?;
            let stale: Vec<i64> = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter(|(_, pid)| !pid.is_some_and(|p| p != std::process::id() as i64 && pid_alive(p)))
                .map(|(id, _)| id)
                .collect();
            for id in &stale {
                tx.execute(
                    "UPDATE job_runs SET status = 'failed', error = 'interrupted', finished_at = ?2 WHERE id = ?1",
                    rusqlite::params![id, now_text()],
                )?;
            }
            Ok(stale.len())
        })
    }
}
