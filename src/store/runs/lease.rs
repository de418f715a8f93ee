//! The one job lease of the database (one run of any kind at a time,
//! across every process on the file): starting a run under it, its
//! heartbeat, who holds it, and the run lock that shows a dead holder.

use super::{INTERRUPTED, JobKind, Trigger};
use crate::store::{Result, Store, StoreError};
/// Milliseconds since the Unix epoch, by the wall clock: leases are shared
/// between processes, so they follow real time, never an injected clock.
pub(super) fn now_ms() -> i64 {
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
                    tx.prepare_cached("UPDATE job_runs SET status = 'failed', error = ?3, finished_at = ?2 WHERE id = ?1 AND status = 'running'")?.execute(
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
            tx.prepare_cached("INSERT INTO job_runs (kind, trigger, started_at, status, pid) VALUES (?1, ?2, ?3, 'running', ?4)")?.execute(
                rusqlite::params![kind, trigger, self.now_text(), std::process::id()],
            )?;
            let run_id = tx.last_insert_rowid();
            tx.prepare_cached("INSERT INTO job_lease (id, run_id, kind, pid, acquired_at, expires_ms) VALUES (1, ?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, kind = excluded.kind,
                   pid = excluded.pid, acquired_at = excluded.acquired_at, expires_ms = excluded.expires_ms")?.execute(
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
            let n = tx
                .prepare_cached(
                    "UPDATE job_lease SET expires_ms = ?2 WHERE id = 1 AND run_id = ?1",
                )?
                .execute(rusqlite::params![
                    run_id,
                    now_ms() + lease.as_millis() as i64
                ])?;
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
}

pub(super) fn lease_in(c: &rusqlite::Connection) -> Result<Option<JobLease>> {
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
