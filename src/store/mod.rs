//! All SQL lives here. One SQLite file in WAL mode, foreign keys on, a busy
//! timeout, versioned migrations applied at open. Writes use `BEGIN IMMEDIATE`
//! so that the server and a CLI command can share the file without
//! "database is locked" errors: a writer waits for the other instead of
//! failing on a lock upgrade.
//!
//! Methods are blocking; async callers run them through
//! [`crate::runtime::spawn_blocking`], which carries their tracing span into
//! the blocking pool.

mod alerts;
pub(crate) mod channels;
mod migrations;
mod model_record;
mod models;
mod observations;
mod predictions;
mod runs;
mod sources;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::clock::{Clock, SystemClock};

pub use alerts::{
    AlertFormat, Attempt, AttemptResult, Claimed, DEFAULT_MAX_PENDING, Delivery, NewSubscription,
    Subscription, alert_body,
};
pub use channels::{
    ASSEMBLED_SOURCE, AssembleCounts, Difference, FieldAgreement, FtpStatus, compare,
};
pub use migrations::SCHEMA_VERSION;
pub use model_record::{
    CalibrationReport, Confusion, Decision, Family, FamilyResult, IssueScore, Metrics,
    ModelMetrics, ReliabilityBin, RowCounts, StationSkill, TrainingWindows, Verdict, Window,
    Windows, rfc3339,
};
pub use models::{Deployment, ModelRow, ModelSummary, NewModel};
pub(crate) use observations::upsert_in;
pub use observations::{StationStats, UpsertCounts};
pub use predictions::{IssuedForecast, PredictionRow, TrackRecord};
pub use runs::{JobKind, JobLease, JobRun, RunLock, RunStatus, Trigger, pid_gone};
pub use sources::{SourceMonth, missing_days, month_bounds, month_key};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database holds an invalid value: {0}")]
    Corrupt(String),
    #[error(
        "database {path} has schema version {found}, newer than this build knows ({known}); upgrade raincast"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{0}")]
    Conflict(String),
    /// The database file is not usable now (deleted, replaced, unreadable).
    #[error("{0}")]
    Unavailable(String),
    /// A run (of `kind`) holds the job lease, in this or another process.
    #[error("a {kind} run is already going (run {run_id})")]
    RunActive { kind: String, run_id: i64 },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A cheap-to-clone handle on the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    busy_timeout: Duration,
    /// A read-only replica (`serve --read-only`): connections open with
    /// `SQLITE_OPEN_READ_ONLY`, nothing is ever written, and a file replaced
    /// underneath (by `litestream restore` and a rename) is re-opened.
    read_only: bool,
    /// Idle connections, each tagged with the [`Inner::generation`] it was
    /// opened in: one from before a re-open is dropped, never reused.
    idle: Mutex<Vec<(i64, Connection)>>,
    /// The file's (device, inode) when it was opened: a file deleted or
    /// replaced underneath the process is noticed, never silently recreated.
    identity: Mutex<Option<(u64, u64)>>,
    /// How many times a read-only store re-opened a replaced file.
    generation: AtomicI64,
    /// The connection that watches `data_version` (see [`Store::data_version`]).
    watch: Mutex<Option<Connection>>,
    /// What stamps written rows (`created_at`, `at`, `updated_at`, …).
    clock: RwLock<Arc<dyn Clock>>,
    /// What the scorings so far looked at, by day of `clock`
    /// ([`Store::score_predictions`]).
    scoring: Mutex<Option<predictions::Scoring>>,
    /// Station change counters this process bumped, in committed
    /// transactions ([`observations::bump_station`]): the sum of all
    /// counters minus this is what other processes wrote.
    own_bumps: AtomicI64,
    /// Forecasts this process scored or re-scored: a board that read its
    /// track record at the same count can keep it.
    scores: AtomicU64,
    /// What this process added or changed since the last scoring
    /// ([`Store::note_changed`], [`Store::note_station_changed`]).
    changed_from: Mutex<predictions::Changed>,
    /// The 30-day record's sums per rain day and issue, kept between reads
    /// ([`Store::track_records`]).
    record_days: Mutex<predictions::RecordDays>,
}

fn file_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

const MAX_IDLE: usize = 8;

/// Free space below which writes are refused before they start
/// ([`Store::check_writable`]): a job that cannot finish writing would
/// leave a half-recorded run.
pub const MIN_FREE_BYTES: u64 = 32 << 20;

impl Store {
    /// Open (creating if needed) and migrate to the current schema. This is
    /// the only place a database file is ever created: later connections
    /// open the existing file or fail.
    #[tracing::instrument(level = "debug")]
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Corrupt(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let mut first = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&first, busy_timeout)?;
        migrations::migrate(&mut first, path, SCHEMA_VERSION)?;
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                busy_timeout,
                read_only: false,
                idle: Mutex::new(vec![(0, first)]),
                identity: Mutex::new(file_identity(path).ok()),
                generation: AtomicI64::new(0),
                watch: Mutex::new(None),
                clock: RwLock::new(Arc::new(SystemClock::new())),
                scoring: Mutex::new(None),
                changed_from: Mutex::new(Default::default()),
                record_days: Mutex::new(Default::default()),
                own_bumps: AtomicI64::new(0),
                scores: AtomicU64::new(0),
            }),
        };
        Ok(store)
    }

    /// Open an existing database read-only, for a replica (`serve
    /// --read-only`). Nothing is created, migrated or written: the file must
    /// exist and have this build's schema version (the primary migrates).
    /// SQLite still maps the WAL index (`-shm`) of a WAL-mode file, so the
    /// file's directory must be writable by the process.
    #[tracing::instrument(level = "debug")]
    pub fn open_read_only(path: &Path, busy_timeout: Duration) -> Result<Self> {
        let identity = file_identity(path).map_err(|e| {
            StoreError::Unavailable(format!(
                "read-only database {} cannot be read: {e}",
                path.display()
            ))
        })?;
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                busy_timeout,
                read_only: true,
                idle: Mutex::new(Vec::new()),
                identity: Mutex::new(Some(identity)),
                generation: AtomicI64::new(0),
                watch: Mutex::new(None),
                clock: RwLock::new(Arc::new(SystemClock::new())),
                scoring: Mutex::new(None),
                changed_from: Mutex::new(Default::default()),
                record_days: Mutex::new(Default::default()),
                own_bumps: AtomicI64::new(0),
                scores: AtomicU64::new(0),
            }),
        };
        let first = store.connect()?;
        if let Ok(mut idle) = store.inner.idle.lock() {
            idle.push((0, first));
        }
        Ok(store)
    }

    /// A read-only replica: nothing writes through this store.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// When the file's last modification was, for a replica's data age:
    /// the newer of the database file and its WAL.
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        let db = std::fs::metadata(&self.inner.path).and_then(|m| m.modified());
        let mut wal = self.inner.path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::fs::metadata(wal)
            .ok()
            .filter(|m| m.len() > 0)
            .and_then(|m| m.modified().ok());
        match (db.ok(), wal) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fails when the file this store opened is gone or was replaced: a
    /// deleted database still answers through open handles, but nothing it
    /// writes survives, so the process must not call itself ready.
    ///
    /// A read-only store instead re-opens a replaced file (a replica's copy
    /// refreshed by `litestream restore` and a rename): its pooled
    /// connections are dropped and the next read sees the new file.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn check_file(&self) -> Result<()> {
        let path = &self.inner.path;
        let id = file_identity(path).map_err(|e| {
            let cause = if e.kind() == std::io::ErrorKind::NotFound && !self.inner.read_only {
                "database file deleted: "
            } else {
                ""
            };
            StoreError::Unavailable(format!(
                "{cause}database file {} cannot be read: {e}",
                path.display()
            ))
        })?;
        let mut known = self
            .inner
            .identity
            .lock()
            .map_err(|_| StoreError::Corrupt("identity lock poisoned".into()))?;
        match *known {
            Some(k) if k != id && self.inner.read_only => {
                let generation = self.inner.generation.fetch_add(1, Ordering::AcqRel) + 1;
                if let Ok(mut idle) = self.inner.idle.lock() {
                    idle.clear();
                }
                if let Ok(mut watch) = self.inner.watch.lock() {
                    *watch = None;
                }
                *known = Some(id);
                tracing::info!(
                    path = %path.display(),
                    generation,
                    "the read-only database file was replaced; re-opened it"
                );
                Ok(())
            }
            Some(k) if k != id => Err(StoreError::Unavailable(format!(
                "database file replaced: {} was replaced while raincast was running; restart it",
                path.display()
            ))),
            _ => Ok(()),
        }
    }

    /// Whether a write now would last, or why not, the cause first
    /// (`database file deleted`, `database file replaced`, `database
    /// read-only`, `disk full`), so that a job refuses to start instead of
    /// writing into a deleted file or failing half-way.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn check_writable(&self) -> Result<()> {
        if self.inner.read_only {
            return Err(StoreError::Unavailable(
                "database read-only: this is a read-only replica, which never writes".into(),
            ));
        }
        let why = |m: String| {
            StoreError::Unavailable(format!(
                "{m}; nothing written now would be kept (see the server log)"
            ))
        };
        self.check_file().map_err(|e| why(e.to_string()))?;
        let path = &self.inner.path;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        for (what, p) in [("file", path.as_path()), ("directory", dir)] {
            if let Err(e) = rustix::fs::access(p, rustix::fs::Access::WRITE_OK) {
                return Err(why(format!(
                    "database read-only: the database {what} {} is not writable ({e})",
                    p.display()
                )));
            }
        }
        if let Ok(fs) = rustix::fs::statvfs(dir) {
            if fs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
                return Err(why(format!(
                    "database read-only: the file system of {} is mounted read-only",
                    path.display()
                )));
            }
            let free = fs.f_bavail.saturating_mul(fs.f_frsize);
            if free < MIN_FREE_BYTES {
                return Err(why(format!(
                    "disk full: {} MiB free on the file system of {} (at least {} MiB needed)",
                    free >> 20,
                    path.display(),
                    MIN_FREE_BYTES >> 20
                )));
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Empty the page caches of the idle connections (each keeps up to
    /// 2 MB of pages it read): after a burst of heavy reads, the pool's
    /// caches are most of what the process kept beyond the allocator's
    /// free lists.
    pub fn shrink_memory(&self) {
        if let Ok(idle) = self.inner.idle.lock() {
            for (_, c) in idle.iter() {
                let _ = c.execute_batch("PRAGMA shrink_memory");
            }
        }
    }

    /// Stamp the rows this store writes from `clock` (the system clock until
    /// set): the time machine and a shifted demo clock record their own time.
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        if let Ok(mut c) = self.inner.clock.write() {
            *c = clock;
        }
    }

    /// The store's clock now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match self.inner.clock.read() {
            Ok(c) => c.now(),
            Err(e) => e.into_inner().now(),
        }
    }

    /// [`Store::now`] as stored: RFC 3339, milliseconds, `Z`.
    pub(crate) fn now_text(&self) -> String {
        rfc3339::text(&self.now())
    }

    fn connect(&self) -> Result<Connection> {
        if self.inner.read_only {
            // Callers checked the file (and re-opened a replaced one) first;
            // checking here could re-enter the `watch` lock.
            let conn = Connection::open_with_flags(
                &self.inner.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            conn.busy_timeout(self.inner.busy_timeout)?;
            // Belt and braces: the connection cannot write anyway.
            conn.pragma_update(None, "query_only", "ON")?;
            conn.set_prepared_statement_cache_capacity(64);
            // A replaced file may come from another build: never read a
            // schema this build does not know.
            check_schema_read_only(&conn, &self.inner.path)?;
            return Ok(conn);
        }
        self.check_file()?;
        let conn = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&conn, self.inner.busy_timeout)?;
        Ok(conn)
    }

    /// Run `f` on a pooled connection.
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        if self.inner.read_only {
            // One stat: a replaced replica file is re-opened before reading.
            self.check_file()?;
        }
        let pooled = self.inner.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let generation = self.inner.generation.load(Ordering::Acquire);
        let mut conn = match pooled {
            Some((g, c)) if g == generation => c,
            _ => self.connect()?,
        };
        let out = f(&mut conn);
        if let Ok(mut idle) = self.inner.idle.lock()
            && idle.len() < MAX_IDLE
            && self.inner.generation.load(Ordering::Acquire) == generation
        {
            idle.push((generation, conn));
        }
        out
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction: all of it is committed, or none.
    /// A read-only store refuses before touching the file.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        if self.inner.read_only {
            return Err(StoreError::Unavailable(
                "this is a read-only replica: it never writes to the database".into(),
            ));
        }
        self.with_conn(|c| {
            observations::take_thread_bumps();
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx);
            // Counted only once committed; a rolled-back bump never was.
            let out = out.and_then(|out| Ok(tx.commit().map(|()| out)?));
            let bumped = observations::take_thread_bumps();
            if out.is_ok() {
                self.inner.own_bumps.fetch_add(bumped, Ordering::AcqRel);
            }
            out
        })
    }

    /// How many times the file was re-opened under this store (a replica
    /// whose file was replaced): what was read before belongs to another
    /// file.
    pub fn reopen_generation(&self) -> i64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// SQLite's `PRAGMA data_version` on one dedicated connection: it changes
    /// whenever any other connection (in this process or another) commits,
    /// so readers can tell cheaply whether to reload what they cache. A
    /// read-only store that re-opened a replaced file counts that as a
    /// change too (the re-open generation is in the high bits).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn data_version(&self) -> Result<i64> {
        if self.inner.read_only {
            self.check_file()?;
        }
        let mut watch = self
            .inner
            .watch
            .lock()
            .map_err(|_| StoreError::Corrupt("data_version lock poisoned".into()))?;
        if watch.is_none() {
            *watch = Some(self.connect()?);
        }
        let conn = watch.as_ref().expect("set above");
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let generation = self.inner.generation.load(Ordering::Acquire);
        Ok((generation << 40) + version)
    }

    /// The newest time anything was written (a job run started or ended, a
    /// model deployed, an observation stored), RFC 3339: on a replica, how
    /// far the copy has come.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn newest_write(&self) -> Result<Option<String>> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT max(t) FROM (
                    SELECT max(coalesce(finished_at, started_at)) AS t FROM job_runs
                    UNION ALL SELECT max(at) FROM deployments
                    UNION ALL SELECT max(updated_at) FROM observations)",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// A quick liveness query for readiness checks.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn ping(&self) -> Result<()> {
        self.with_conn(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    /// Size of the database file plus its WAL, in bytes.
    pub fn file_size(&self) -> u64 {
        let mut total = std::fs::metadata(&self.inner.path)
            .map(|m| m.len())
            .unwrap_or(0);
        let mut wal = self.inner.path.clone().into_os_string();
        wal.push("-wal");
        total += std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
        total
    }

    /// A consistent copy of the live database at `dest`, through SQLite's
    /// online backup API; writers keep going while it runs. The copy is
    /// checked with `PRAGMA integrity_check` before this returns.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StoreError::Conflict(format!(
                "{} already exists; refusing to overwrite it",
                dest.display()
            )));
        }
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(StoreError::Conflict(format!(
                "cannot back up to {}: the directory {} does not exist",
                dest.display(),
                dir.display()
            )));
        }
        self.with_conn(|c| {
            let mut out = Connection::open(dest)?;
            {
                // One step copies every page under a single read transaction.
                // In WAL mode writers carry on meanwhile, and the copy cannot
                // be restarted (and starved) by their commits, as a paged
                // backup would be.
                use rusqlite::backup::StepResult;
                let backup = rusqlite::backup::Backup::new(c, &mut out)?;
                loop {
                    match backup.step(-1)? {
                        StepResult::Done => break,
                        StepResult::More | StepResult::Busy | StepResult::Locked => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        _ => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }
            let check: String = out.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if check != "ok" {
                return Err(StoreError::Corrupt(format!(
                    "backup integrity check: {check}"
                )));
            }
            Ok(())
        })
    }
}

fn configure(conn: &Connection, busy_timeout: Duration) -> Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The query planner's stability guarantee: a plan does not depend on
    // the values bound to it, so a cached statement is not compiled again
    // each time a bound date or limit changes (SQLite re-prepares those
    // otherwise: 1.3 % of a year's replay).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// A replica never migrates: its file must have exactly this build's schema.
fn check_schema_read_only(conn: &Connection, path: &Path) -> Result<()> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "read-only database {} has schema version {found}, older than this build's ({SCHEMA_VERSION}); a replica never migrates: upgrade the primary first (it migrates at start), or run this replica's older build",
            path.display()
        )));
    }
    Ok(())
}

/// `PRAGMA integrity_check` on any SQLite file.
pub fn integrity_check(path: &Path) -> Result<String> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
}

#[cfg(test)]
mod span_tests;

#[cfg(test)]
mod read_only_tests;
