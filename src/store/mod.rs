//! All SQL lives here. One SQLite file in WAL mode, foreign keys on, a busy
//! timeout, versioned migrations applied at open. Writes use `BEGIN IMMEDIATE`
//! so that the server and a CLI command can share the file without
//! "database is locked" errors: a writer waits for the other instead of
//! failing on a lock upgrade.
//!
//! Methods are blocking; the web layer calls them through `spawn_blocking`.

mod migrations;
mod models;
mod observations;
mod predictions;
mod runs;
mod sources;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

pub use migrations::SCHEMA_VERSION;
pub use models::{Deployment, ModelRow, ModelSummary, NewModel};
pub(crate) use observations::upsert_in;
pub use observations::{StationStats, UpsertCounts};
pub use predictions::{PredictionRow, TrackRecord};
pub use runs::{JobLease, JobRun, RunStatus};
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
    idle: Mutex<Vec<Connection>>,
    /// The file's (device, inode) when it was opened: a file deleted or
    /// replaced underneath the process is noticed, never silently recreated.
    identity: Option<(u64, u64)>,
    /// The connection that watches `data_version` (see [`Store::data_version`]).
    watch: Mutex<Option<Connection>>,
}

fn file_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

const MAX_IDLE: usize = 8;

impl Store {
    /// Open (creating if needed) and migrate to the current schema. This is
    /// the only place a database file is ever created: later connections
    /// open the existing file or fail.
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
                idle: Mutex::new(vec![first]),
                identity: file_identity(path).ok(),
                watch: Mutex::new(None),
            }),
        };
        Ok(store)
    }

    /// Fails when the file this store opened is gone or was replaced: a
    /// deleted database still answers through open handles, but nothing it
    /// writes survives, so the process must not call itself ready.
    pub fn check_file(&self) -> Result<()> {
        let path = &self.inner.path;
        match file_identity(path) {
            Err(e) => Err(StoreError::Unavailable(format!(
                "database file {} cannot be read: {e}",
                path.display()
            ))),
            Ok(id) if self.inner.identity.is_some_and(|known| known != id) => {
                Err(StoreError::Unavailable(format!(
                    "database file {} was replaced while raincast was running; restart it",
                    path.display()
                )))
            }
            Ok(_) => Ok(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn connect(&self) -> Result<Connection> {
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
        let pooled = self.inner.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = f(&mut conn);
        if let Ok(mut idle) = self.inner.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        out
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction: all of it is committed, or none.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_conn(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// SQLite's `PRAGMA data_version` on one dedicated connection: it changes
    /// whenever any other connection (in this process or another) commits,
    /// so readers can tell cheaply whether to reload what they cache.
    pub fn data_version(&self) -> Result<i64> {
        let mut watch = self
            .inner
            .watch
            .lock()
            .map_err(|_| StoreError::Corrupt("data_version lock poisoned".into()))?;
        if watch.is_none() {
            *watch = Some(self.connect()?);
        }
        let conn = watch.as_ref().expect("set above");
        Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// A quick liveness query for readiness checks.
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
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StoreError::Conflict(format!(
                "{} already exists; refusing to overwrite it",
                dest.display()
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
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// `PRAGMA integrity_check` on any SQLite file.
pub fn integrity_check(path: &Path) -> Result<String> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
}

pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
