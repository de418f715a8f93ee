//! Versioned schema migrations, tracked in `PRAGMA user_version`. Each step
//! runs in its own transaction; a database newer than this build is refused.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StoreError};

/// Step `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the foundation tables.
    r#"
    CREATE TABLE observations (
        location        TEXT NOT NULL,
        date            TEXT NOT NULL,
        min_temp        REAL, max_temp REAL, rainfall REAL, evaporation REAL, sunshine REAL,
        wind_gust_dir   TEXT, wind_gust_speed REAL,
        wind_dir_9am    TEXT, wind_dir_3pm TEXT,
        wind_speed_9am  REAL, wind_speed_3pm REAL,
        humidity_9am    REAL, humidity_3pm REAL,
        pressure_9am    REAL, pressure_3pm REAL,
        cloud_9am       REAL, cloud_3pm REAL,
        temp_9am        REAL, temp_3pm REAL,
        rain_today      INTEGER, rain_tomorrow INTEGER,
        source          TEXT NOT NULL,
        fetched_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        PRIMARY KEY (location, date)
    ) WITHOUT ROWID;

    CREATE TABLE job_runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL,
        trigger     TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        status      TEXT NOT NULL CHECK (status IN ('running','succeeded','failed','cancelled')),
        error       TEXT,
        log         TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX job_runs_kind ON job_runs (kind, started_at);

    CREATE TABLE model_versions (
        version         INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at      TEXT NOT NULL,
        trained_by_run  INTEGER REFERENCES job_runs (id),
        params          TEXT NOT NULL,
        feature_schema  INTEGER NOT NULL,
        train_window    TEXT NOT NULL,
        test_window     TEXT NOT NULL,
        threshold       REAL NOT NULL,
        f1              REAL NOT NULL,
        roc_auc         REAL NOT NULL,
        brier           REAL NOT NULL,
        metrics         TEXT NOT NULL,
        blob            BLOB NOT NULL,
        blob_sha256     TEXT NOT NULL
    );

    CREATE TABLE deployments (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        version  INTEGER NOT NULL REFERENCES model_versions (version),
        at       TEXT NOT NULL,
        reason   TEXT NOT NULL,
        actor    TEXT NOT NULL
    );

    CREATE TABLE predictions (
        location    TEXT NOT NULL,
        for_date    TEXT NOT NULL,
        version     INTEGER NOT NULL REFERENCES model_versions (version),
        probability REAL NOT NULL,
        served_at   TEXT NOT NULL,
        PRIMARY KEY (location, for_date, version)
    ) WITHOUT ROWID;
    "#,
    // 2: scraper state, per-run summaries and progress, the champion/challenger
    // decision on each version, and scoring of logged forecasts.
    r#"
    CREATE TABLE source_months (
        location    TEXT NOT NULL,
        month       TEXT NOT NULL,
        status      TEXT NOT NULL,
        complete    INTEGER NOT NULL DEFAULT 0,
        rows        INTEGER NOT NULL DEFAULT 0,
        message     TEXT,
        fetched_at  TEXT NOT NULL,
        PRIMARY KEY (location, month)
    ) WITHOUT ROWID;

    ALTER TABLE job_runs ADD COLUMN summary TEXT;
    ALTER TABLE job_runs ADD COLUMN progress TEXT;
    ALTER TABLE job_runs ADD COLUMN pid INTEGER;

    ALTER TABLE model_versions ADD COLUMN decision TEXT;
    ALTER TABLE model_versions ADD COLUMN decision_reason TEXT;

    ALTER TABLE predictions ADD COLUMN threshold REAL;
    ALTER TABLE predictions ADD COLUMN obs_date TEXT;
    ALTER TABLE predictions ADD COLUMN outcome INTEGER;
    ALTER TABLE predictions ADD COLUMN scored_at TEXT;
    CREATE INDEX predictions_unscored ON predictions (for_date) WHERE outcome IS NULL;
    "#,
    // 3: the job lease: at most one row, the run that may work now (any
    // kind, any process), renewed by a heartbeat until `expires_ms`.
    r#"
    CREATE TABLE job_lease (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        run_id      INTEGER NOT NULL REFERENCES job_runs (id),
        kind        TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        acquired_at TEXT NOT NULL,
        expires_ms  INTEGER NOT NULL
    );
    "#,
    // 4: forecasts are issued at a time for a window: one per (location,
    // rain day, issue). Rows from before issues keep the issue ''.
    r#"
    CREATE TABLE predictions_v4 (
        location    TEXT NOT NULL,
        for_date    TEXT NOT NULL,
        issue       TEXT NOT NULL DEFAULT '',
        version     INTEGER NOT NULL REFERENCES model_versions (version),
        probability REAL NOT NULL,
        served_at   TEXT NOT NULL,
        threshold   REAL,
        obs_date    TEXT,
        outcome     INTEGER,
        scored_at   TEXT,
        window_end  TEXT,
        PRIMARY KEY (location, for_date, issue, version)
    ) WITHOUT ROWID;
    INSERT INTO predictions_v4 (location, for_date, issue, version, probability, served_at,
                                threshold, obs_date, outcome, scored_at)
        SELECT location, for_date, '', version, probability, served_at,
               threshold, obs_date, outcome, scored_at FROM predictions;
    DROP TABLE predictions;
    ALTER TABLE predictions_v4 RENAME TO predictions;
    CREATE INDEX predictions_unscored ON predictions (for_date) WHERE outcome IS NULL;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Bring the database to `target` (≤ [`SCHEMA_VERSION`]).
pub(crate) fn migrate(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now > version as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::time::Duration;

    #[test]
    fn upgrades_a_version_1_database_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let mut c = Connection::open(&path).unwrap();
            migrate(&mut c, &path, 1).unwrap();
            c.execute(
                "INSERT INTO observations (location, date, rainfall, rain_today, source, fetched_at, updated_at)
                 VALUES ('Sydney', '2017-01-01', 3.2, 1, 'test', 'x', 'x')",
                [],
            )
            .unwrap();
            c.execute(
                "INSERT INTO job_runs (kind, trigger, started_at, status) VALUES ('scrape','cli','x','succeeded')",
                [],
            )
            .unwrap();
            let v: i64 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(v, 1);
        }
        let store = Store::open(&path, Duration::from_secs(1)).unwrap();
        store
            .with_conn(|c| {
                let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                assert_eq!(v, SCHEMA_VERSION);
                let rain: f64 = c.query_row(
                    "SELECT rainfall FROM observations WHERE location='Sydney'",
                    [],
                    |r| r.get(0),
                )?;
                assert_eq!(rain, 3.2);
                let summary: Option<String> =
                    c.query_row("SELECT summary FROM job_runs", [], |r| r.get(0))?;
                assert_eq!(summary, None);
                c.execute(
                    "INSERT INTO source_months (location, month, status, fetched_at) VALUES ('Sydney','2017-01','ok','x')",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        // Opening again is a no-op.
        drop(store);
        Store::open(&path, Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn refuses_a_newer_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let err = Store::open(&path, Duration::from_secs(1)).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    }
}
