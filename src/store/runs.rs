//! The `job_runs` table: one row per scrape, training or refresh.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError};

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

/// Milliseconds since the Unix epoch, by the wall clock: leases are shared
/// between processes, so they follow real time, never an injected clock.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The run lock of this process (see [`Store::try_lock_runs`]); released
/// on drop, or by the kernel when the process dies.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// Whether process `pid` is certainly gone from this host: not this
/// process, and no `/proc/<pid>` where `/proc` is mounted. Elsewhere (no
/// procfs) nothing is certain and this is `false`.
pub fn pid_gone(pid: i64) -> bool {
    pid != i64::from(std::process::id())
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The holder of the job lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    pub run_id: i64,
    pub kind: JobKind,
    pub pid: i64,
    /// Wall-clock milliseconds since the epoch when it lapses without a heartbeat.
    pub expires_ms: i64,
}

impl JobLease {
    /// Who holds it, as far as this process can tell: `this process`,
    /// `a dead process` (its pid is gone from this host), or `another
    /// process`.
    pub fn holder(&self) -> &'static str {
        if self.pid == i64::from(std::process::id()) {
            "this process"
        } else if pid_gone(self.pid) {
            "a dead process"
        } else {
            "another process"
        }
    }

    /// Seconds until it lapses without a heartbeat (negative: lapsed).
    pub fn expires_in_secs(&self) -> i64 {
        (self.expires_ms - now_ms()).div_euclid(1000)
    }

    /// The lease in words, for the dashboard and logs.
    pub fn describe(&self) -> String {
        let left = self.expires_in_secs();
        let when = if left >= 0 {
            format!("lapses in {left} s without a heartbeat")
        } else {
            format!("lapsed {} s ago", -left)
        };
        format!(
            "held by {} run {} (pid {}, {}); {when}",
            self.kind,
            self.run_id,
            self.pid,
            self.holder()
        )
    }

    /// The lease for `/readyz`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "run_id": self.run_id,
            "kind": self.kind.as_str(),
            "pid": self.pid,
            "holder": self.holder(),
            "expires_in_secs": self.expires_in_secs(),
        })
    }
}

const INTERRUPTED: &str = "UPDATE job_runs SET status = 'failed', error = 'interrupted', finished_at = ?2 WHERE id = ?1 AND status = 'running'";

impl Store {
    /// Record the start of a run and take the one job lease of the database
    /// for it: one job of any kind runs at a time, across every process on
    /// the file. While another run holds an unexpired lease this is
    /// `RunActive`, naming that run. A lease whose holder stopped renewing
    /// it (killed, hung) has expired: its run is closed as interrupted and
    /// the lease taken over. The lease lasts `lease` from now; the holder
    /// renews it with [`Store::renew_lease`], and [`Store::finish_run`]
    /// releases it.
    pub fn start_run(
        &self,
        kind: JobKind,
        trigger: Trigger,
        lease: std::time::Duration,
    ) -> Result<i64> {
        self.start_run_with(kind, trigger, lease, None)
    }

    /// [`Store::start_run`] by a process that holds the [`RunLock`]: every
    /// run's process holds that lock while the run goes, and the kernel
    /// releases it when the process dies. So with the lock in hand, a lease
    /// whose holder's pid is gone from this host is a dead holder's, and is
    /// taken over at once instead of after it expires.
    pub fn start_run_locked(
        &self,
        kind: JobKind,
        trigger: Trigger,
        lease: std::time::Duration,
        lock: &RunLock,
    ) -> Result<i64> {
        self.start_run_with(kind, trigger, lease, Some(lock))
    }

    fn start_run_with(
        &self,
        kind: JobKind,
        trigger: Trigger,
        lease: std::time::Duration,
        lock: Option<&RunLock>,
    ) -> Result<i64> {
        self.write(|tx| {
            let now = now_ms();
            if let Some(held) = lease_in(tx)? {
                let dead = lock.is_some() && pid_gone(held.pid);
                if held.expires_ms > now && !dead {
                    return Err(StoreError::RunActive {
                        kind: held.kind.to_string(),
                        run_id: held.run_id,
                    });
                }
                if dead && held.expires_ms > now {
                    tracing::warn!(
                        run = held.run_id,
                        pid = held.pid,
                        "the job lease's holder has died (its process is gone and its run lock released); taking the lease over"
                    );
                    tx.execute(
                        "UPDATE job_runs SET status = 'failed', error = ?3, finished_at = ?2 WHERE id = ?1 AND status = 'running'",
                        rusqlite::params![
                            held.run_id,
                            self.now_text(),
                            format!(
                                "interrupted: its process (pid {}) died before the run ended",
                                held.pid
                            )
                        ],
                    )?;
                } else {
                    tracing::warn!(
                        run = held.run_id,
                        pid = held.pid,
                        "the job lease expired without a heartbeat; taking it over"
                    );
                    tx.execute(INTERRUPTED, rusqlite::params![held.run_id, self.now_text()])?;
                }
            }
            tx.execute(
                "INSERT INTO job_runs (kind, trigger, started_at, status, pid) VALUES (?1, ?2, ?3, 'running', ?4)",
                rusqlite::params![kind, trigger, self.now_text(), std::process::id()],
            )?;
            let run_id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO job_lease (id, run_id, kind, pid, acquired_at, expires_ms) VALUES (1, ?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, kind = excluded.kind,
                   pid = excluded.pid, acquired_at = excluded.acquired_at, expires_ms = excluded.expires_ms",
                rusqlite::params![
                    run_id,
                    kind,
                    std::process::id(),
                    self.now_text(),
                    now + lease.as_millis() as i64
                ],
            )?;
            Ok(run_id)
        })
    }

    /// Heartbeat: extend run `run_id`'s lease to `lease` from now. `false`
    /// when the run no longer holds it (it lapsed and was taken over).
    pub fn renew_lease(&self, run_id: i64, lease: std::time::Duration) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE job_lease SET expires_ms = ?2 WHERE id = 1 AND run_id = ?1",
                rusqlite::params![run_id, now_ms() + lease.as_millis() as i64],
            )?;
            Ok(n == 1)
        })
    }

    /// Take the run lock (an exclusive `flock` on the file beside the
    /// database, `<db>-runlock`) without waiting: `None` while another live
    /// process holds it for its run. Held until the returned value drops.
    pub fn try_lock_runs(&self) -> Result<Option<RunLock>> {
        let mut path = self.path().as_os_str().to_owned();
        path.push("-runlock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot open the run lock {}: {e}",
                    std::path::Path::new(&path).display()
                ))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
                "cannot take the run lock {}: {e}",
                std::path::Path::new(&path).display()
            ))),
        }
    }

    /// Who holds the job lease, expired or not.
    pub fn job_lease(&self) -> Result<Option<JobLease>> {
        self.with_conn(|c| lease_in(c))
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
                    status,
                    error,
                    summary.map(|s| s.to_string()),
                    log,
                    self.now_text()
                ],
            )?;
            tx.execute("DELETE FROM job_lease WHERE id = 1 AND run_id = ?1", [id])?;
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
                tx.execute("DELETE FROM job_lease", [])?;
            }
            Ok(stale.len())
        })
    }
}

fn lease_in(c: &rusqlite::Connection) -> Result<Option<JobLease>> {
    let mut st =
        c.prepare_cached("SELECT run_id, kind, pid, expires_ms FROM job_lease WHERE id = 1")?;
    let mut rows = st.query_map([], |r| {
        Ok(JobLease {
            run_id: r.get(0)?,
            kind: r.get(1)?,
            pid: r.get(2)?,
            expires_ms: r.get(3)?,
        })
    })?;
    Ok(rows.next().transpose()?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_lease_for_every_kind_and_an_expired_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("l.db"), Duration::from_secs(1)).unwrap();
        let minute = Duration::from_secs(60);
        let a = store
            .start_run(JobKind::Scrape, Trigger::Cli, minute)
            .unwrap();
        // Any kind is refused while the lease is held, naming the holder.
        match store.start_run(JobKind::Train, Trigger::Cli, minute) {
            Err(StoreError::RunActive { kind, run_id }) => {
                assert_eq!((kind.as_str(), run_id), ("scrape", a))
            }
            other => panic!("{other:?}"),
        }
        assert!(store.renew_lease(a, minute).unwrap());
        // Starting up elsewhere leaves a run under a live lease alone.
        assert_eq!(store.mark_interrupted().unwrap(), 0);
        store
            .finish_run(a, RunStatus::Succeeded, None, None, "")
            .unwrap();
        assert_eq!(store.job_lease().unwrap(), None);
        assert!(!store.renew_lease(a, minute).unwrap());
        // A lease that lapsed (its holder stopped renewing) is taken over,
        // and the run it covered is closed as interrupted.
        let b = store
            .start_run(JobKind::Train, Trigger::Cli, Duration::ZERO)
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let c = store
            .start_run(JobKind::Refresh, Trigger::Cli, minute)
            .unwrap();
        let old = store.run(b).unwrap();
        assert_eq!(
            (old.status, old.error.as_deref()),
            (RunStatus::Failed, Some("interrupted"))
        );
        assert_eq!(store.job_lease().unwrap().map(|l| l.run_id), Some(c));
        assert!(!store.renew_lease(b, minute).unwrap(), "b lost the lease");
    }

    #[test]
    fn kinds_triggers_and_statuses_are_stored_as_the_same_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path, Duration::from_secs(1)).unwrap();
        let id = store
            .start_run(JobKind::Refresh, Trigger::CatchUp, Duration::ZERO)
            .unwrap();
        store
            .finish_run(id, RunStatus::Cancelled, Some("stop"), None, "")
            .unwrap();
        let raw: (String, String, String) = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT kind, trigger, status FROM job_runs", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(
            raw,
            ("refresh".into(), "catch-up".into(), "cancelled".into())
        );
        let run = store.run(id).unwrap();
        assert_eq!(
            (run.kind, run.trigger, run.status),
            (JobKind::Refresh, Trigger::CatchUp, RunStatus::Cancelled)
        );
        assert_eq!(store.runs(Some(JobKind::Refresh), 5).unwrap().len(), 1);
        assert!(store.runs(Some(JobKind::Train), 5).unwrap().is_empty());
        // An unknown string in the table reads as a corrupt database.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("UPDATE job_runs SET kind = 'bake'", [])
            .unwrap();
        assert!(matches!(store.run(id), Err(StoreError::Corrupt(_))));
        // So does a summary that is not JSON, naming the row and column.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE job_runs SET kind = 'refresh', summary = '{\"rows\": 3'",
                [],
            )
            .unwrap();
        match store.run(id) {
            Err(StoreError::Corrupt(m)) => {
                assert!(
                    m.contains(&format!("job_runs id {id}: column summary")),
                    "{m}"
                )
            }
            other => panic!("expected a corrupt row, got {other:?}"),
        }
        // And a start time that is not RFC 3339.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE job_runs SET summary = NULL, started_at = 'yesterday'",
                [],
            )
            .unwrap();
        match store.run(id) {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("column started_at"), "{m}"),
            other => panic!("expected a corrupt row, got {other:?}"),
        }
    }
}
