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
    // 4: the model file last in its row. SQLite stores a row's columns in
    // order and a model file (megabytes for a forest) spills onto overflow
    // pages, so every column after it (the checksum, the decision, the
    // decision's reason, added by step 2) was read by walking the whole
    // file: 1.36 ms a row, and the listing and detail pages read through
    // every stored model. Rebuilt with `blob` last, metadata reads stop at
    // the first page and `length(blob)` reads only the record header.
    // `migrate` runs this step with foreign keys off (the table is dropped
    // and replaced under the same name, as SQLite's ALTER TABLE procedure
    // does) and checks them before committing. A column added to
    // `model_versions` later must not go after `blob`: rebuild again, or put
    // it in a table of its own.
    r#"
    CREATE TABLE model_versions_new (
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
        blob_sha256     TEXT NOT NULL,
        decision        TEXT,
        decision_reason TEXT,
        blob            BLOB NOT NULL
    );
    INSERT INTO model_versions_new (version, created_at, trained_by_run, params, feature_schema,
        train_window, test_window, threshold, f1, roc_auc, brier, metrics, blob_sha256, decision,
        decision_reason, blob)
    SELECT version, created_at, trained_by_run, params, feature_schema, train_window,
        test_window, threshold, f1, roc_auc, brier, metrics, blob_sha256, decision,
        decision_reason, blob
    FROM model_versions ORDER BY version;
    -- A version number is never handed out twice: carry the counter over.
    DELETE FROM sqlite_sequence WHERE name = 'model_versions_new';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'model_versions_new', seq FROM sqlite_sequence WHERE name = 'model_versions';
    DROP TABLE model_versions;
    ALTER TABLE model_versions_new RENAME TO model_versions;
    "#,
    // 5: forecasts are issued at a time for a window: one per (location,
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
    // 6: webhook alerts (decision record 0020): subscriptions an admin
    // defines, the outbox of deliveries queued in the same transaction as
    // the forecast that crossed them (one per subscription and issued
    // forecast), and each delivery's attempts.
    r#"
    CREATE TABLE alert_subscriptions (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        location      TEXT NOT NULL,
        threshold_mm  REAL NOT NULL,
        min_chance    REAL NOT NULL CHECK (min_chance > 0 AND min_chance <= 1),
        issues        TEXT NOT NULL,
        url           TEXT NOT NULL,
        secret        TEXT NOT NULL,
        format        TEXT NOT NULL CHECK (format IN ('json', 'text')),
        created_at    TEXT NOT NULL,
        deleted_at    TEXT
    );
    CREATE INDEX alert_subscriptions_location ON alert_subscriptions (location)
        WHERE deleted_at IS NULL;

    CREATE TABLE alert_deliveries (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        subscription_id INTEGER NOT NULL REFERENCES alert_subscriptions (id),
        location        TEXT NOT NULL,
        for_date        TEXT NOT NULL,
        issue           TEXT NOT NULL,
        probability     REAL NOT NULL,
        body            TEXT NOT NULL,
        status          TEXT NOT NULL
                        CHECK (status IN ('pending', 'delivered', 'failed', 'dropped', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        -- The attempts made before the admin last sent it again: a resent
        -- delivery gets alerts.max_attempts more.
        attempts_before INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        lease_until     TEXT,
        finished_at     TEXT,
        last_error      TEXT,
        UNIQUE (subscription_id, location, for_date, issue)
    );
    CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at)
        WHERE status = 'pending';

    CREATE TABLE alert_attempts (
        delivery_id INTEGER NOT NULL REFERENCES alert_deliveries (id),
        n           INTEGER NOT NULL,
        at          TEXT NOT NULL,
        http_status INTEGER,
        latency_ms  INTEGER NOT NULL,
        error       TEXT,
        PRIMARY KEY (delivery_id, n)
    ) WITHOUT ROWID;
    "#,
    // 7: the second channel (issue 29): BOM's anonymous FTP products. Each
    // reading of a state observation product (station number, time, fields,
    // product), each row of a daily climate table, where each stored field
    // of an assembled row came from, the per-field comparison of the two
    // channels, and the FTP source's last outcome per file and per poll.
    r#"
    CREATE TABLE ftp_readings (
        station     TEXT NOT NULL,
        observed_at TEXT NOT NULL,
        product     TEXT NOT NULL,
        fields      TEXT NOT NULL,
        fetched_at  TEXT NOT NULL,
        PRIMARY KEY (station, observed_at)
    ) WITHOUT ROWID;

    CREATE TABLE ftp_daily (
        station     TEXT NOT NULL,
        date        TEXT NOT NULL,
        rainfall    REAL,
        evaporation REAL,
        max_temp    REAL,
        min_temp    REAL,
        file        TEXT NOT NULL,
        fetched_at  TEXT NOT NULL,
        PRIMARY KEY (station, date)
    ) WITHOUT ROWID;

    CREATE TABLE field_sources (
        location TEXT NOT NULL,
        date     TEXT NOT NULL,
        field    TEXT NOT NULL,
        source   TEXT NOT NULL,
        PRIMARY KEY (location, date, field)
    ) WITHOUT ROWID;

    CREATE TABLE channel_diffs (
        location    TEXT NOT NULL,
        date        TEXT NOT NULL,
        field       TEXT NOT NULL,
        website     TEXT NOT NULL,
        ftp         TEXT NOT NULL,
        agree       INTEGER NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (location, date, field)
    ) WITHOUT ROWID;

    CREATE TABLE ftp_status (
        key        TEXT PRIMARY KEY,
        status     TEXT NOT NULL,
        message    TEXT NOT NULL,
        at         TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 8: rain amounts (issue 26, decision record 0025): each issued
    // forecast's chance of each amount, and the amount that fell. Forecasts
    // scored before it get their amount here, so that the next scoring
    // does not take a filled-in amount for a revision and re-stamp them.
    r#"
    ALTER TABLE predictions ADD COLUMN amounts TEXT;
    ALTER TABLE predictions ADD COLUMN amount_mm REAL;
    UPDATE predictions SET amount_mm = (
        SELECT o.rainfall FROM observations o
        WHERE o.location = predictions.location AND o.date = predictions.for_date)
    WHERE outcome IS NOT NULL;
    "#,
    // 9: reads that months of operation slowed down (issue 30). The track
    // record and a scrape's scoring pick forecasts by rain day, reading
    // only these columns (so the index covers them); the scheduler asks
    // each kind's last success at every tick.
    r#"
    CREATE INDEX predictions_scored
        ON predictions (for_date, issue, outcome, probability, threshold, amount_mm);
    CREATE INDEX job_runs_succeeded ON job_runs (kind, finished_at)
        WHERE status = 'succeeded';
    "#,
    // 10: a change counter per station (issue 30). Every write of a
    // station's observations bumps it in the same transaction
    // ([`bump_station`](super::observations::bump_station)); the serving
    // board re-reads only the stations whose counter moved since it last
    // read them. (Triggers did the same at 57 % more time per import.)
    r#"
    CREATE TABLE station_changes (
        location   TEXT PRIMARY KEY,
        generation INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
];

/// The steps that rebuild a table others refer to: run with foreign keys
/// off, checked before commit (SQLite's twelve-step ALTER TABLE procedure).
const REBUILDS: &[usize] = &[3];

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
        let rebuild = REBUILDS.contains(&version);
        // Foreign keys cannot be switched inside a transaction.
        let keys_were_on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        if rebuild && keys_were_on {
            conn.pragma_update(None, "foreign_keys", "OFF")?;
        }
        let applied = apply(conn, version, sql, rebuild);
        if rebuild && keys_were_on {
            conn.pragma_update(None, "foreign_keys", "ON")?;
        }
        if applied? {
            tracing::info!(version = version + 1, "applied database migration");
        }
    }
    Ok(())
}

/// Run step `version` in its own transaction; false when another process
/// had already run it.
fn apply(conn: &mut Connection, version: usize, sql: &str, rebuild: bool) -> Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the lock.
    let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if now > version as i64 {
        return Ok(false);
    }
    tx.execute_batch(sql)?;
    if rebuild {
        let broken: Vec<String> = tx
            .prepare("PRAGMA foreign_key_check")?
            .query_map([], |r| {
                Ok(format!(
                    "{} row {} refers to a missing {} row",
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?.unwrap_or(-1),
                    r.get::<_, String>(2)?
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        if !broken.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "migration {} would break foreign keys: {}",
                version + 1,
                broken.join("; ")
            )));
        }
    }
    tx.pragma_update(None, "user_version", version as i64 + 1)?;
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::model_record::tests::{METRICS, TRAIN_WINDOW};
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

    /// Step 8 fills in the amount that fell for forecasts scored before it,
    /// keeping when they were scored: the first scoring after the upgrade
    /// finds nothing to re-score.
    #[test]
    fn upgrades_a_version_7_database_keeping_when_forecasts_were_scored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v7.db");
        {
            let mut c = Connection::open(&path).unwrap();
            migrate(&mut c, &path, 7).unwrap();
            c.execute(
                "INSERT INTO model_versions (created_at, params, feature_schema, train_window,
                    test_window, threshold, f1, roc_auc, brier, metrics, blob, blob_sha256)
                 VALUES ('x', '{}', 4, ?1, '{\"from\":\"2024-09-05\",\"to\":\"2025-09-05\"}',
                    0.3, 0.6, 0.8, 0.1, ?2, X'00', 's')",
                rusqlite::params![TRAIN_WINDOW, METRICS],
            )
            .unwrap();
            c.execute(
                "INSERT INTO observations (location, date, rainfall, rain_today, source, fetched_at, updated_at)
                 VALUES ('Sydney', '2025-09-07', 6.4, 1, 'test', 'x', 'x')",
                [],
            )
            .unwrap();
            c.execute(
                "INSERT INTO predictions (location, for_date, issue, version, probability, served_at,
                                          outcome, scored_at)
                 VALUES ('Sydney', '2025-09-07', 'afternoon', 1, 0.4, 'x', 1, 'scored then')",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(
            store.score_predictions(chrono::Utc::now()).unwrap(),
            0,
            "nothing to re-score"
        );
        let (amount, scored_at): (Option<f64>, String) = store
            .with_conn(|c| {
                Ok(
                    c.query_row("SELECT amount_mm, scored_at FROM predictions", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?,
                )
            })
            .unwrap();
        assert_eq!(amount, Some(6.4));
        assert_eq!(scored_at, "scored then");
    }

    /// Step 4 rebuilds `model_versions` with the model file last: every
    /// row, the deployments and predictions that refer to it, and the
    /// version counter come through; foreign keys hold afterwards.
    #[test]
    fn upgrades_a_version_3_database_moving_the_model_file_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        {
            let mut c = Connection::open(&path).unwrap();
            c.pragma_update(None, "foreign_keys", "ON").unwrap();
            migrate(&mut c, &path, 3).unwrap();
            for v in 1..=3 {
                c.execute(
                    "INSERT INTO model_versions (created_at, params, feature_schema, train_window,
                        test_window, threshold, f1, roc_auc, brier, metrics, blob, blob_sha256,
                        decision, decision_reason)
                     VALUES ('2025-09-06T08:30:00Z', '{}', 3, ?3,
                        '{\"from\":\"2024-09-05\",\"to\":\"2025-09-05\"}', 0.3, 0.6, 0.8, 0.1,
                        ?4, ?1, 'sha' || ?2, 'promoted', 'reason ' || ?2)",
                    rusqlite::params![
                        if v == 2 { Vec::new() } else { blob.clone() },
                        v,
                        TRAIN_WINDOW,
                        METRICS
                    ],
                )
                .unwrap();
            }
            c.execute(
                "INSERT INTO deployments (version, at, reason, actor) VALUES (3, 'x', 'r', 'a')",
                [],
            )
            .unwrap();
            c.execute(
                "INSERT INTO predictions (location, for_date, version, probability, served_at)
                 VALUES ('Sydney', '2025-09-07', 3, 0.4, 'x')",
                [],
            )
            .unwrap();
            // Version 4 existed once and was deleted: its number stays used.
            c.execute(
                "UPDATE sqlite_sequence SET seq = 4 WHERE name = 'model_versions'",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path, Duration::from_secs(1)).unwrap();
        store
            .with_conn(|c| {
                let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                assert_eq!(v, SCHEMA_VERSION);
                let columns: Vec<String> = c
                    .prepare("SELECT name FROM pragma_table_info('model_versions') ORDER BY cid")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                assert_eq!(columns.len(), 16);
                assert_eq!(columns.last().map(String::as_str), Some("blob"));
                let rows: Vec<(i64, String, Option<String>, Vec<u8>)> = c
                    .prepare(
                        "SELECT version, blob_sha256, decision_reason, blob FROM model_versions ORDER BY version",
                    )?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                assert_eq!(rows.len(), 3);
                assert_eq!((rows[0].0, rows[0].1.as_str()), (1, "sha1"));
                assert_eq!(rows[2].2.as_deref(), Some("reason 3"));
                assert!(rows[0].3 == blob && rows[1].3.is_empty() && rows[2].3 == blob);
                // Foreign keys are on and still point at the rebuilt table.
                let keys: bool = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                assert!(keys);
                let refused = c.execute(
                    "INSERT INTO deployments (version, at, reason, actor) VALUES (9, 'x', 'r', 'a')",
                    [],
                );
                assert!(refused.is_err(), "a deployment of a missing version");
                // The counter came through: the next version is 5, not 4.
                c.execute(
                    "INSERT INTO model_versions (created_at, params, feature_schema, train_window,
                        test_window, threshold, f1, roc_auc, brier, metrics, blob, blob_sha256)
                     SELECT created_at, params, feature_schema, train_window, test_window,
                        threshold, f1, roc_auc, brier, metrics, X'00', 's'
                     FROM model_versions WHERE version = 1",
                    [],
                )?;
                assert_eq!(c.last_insert_rowid(), 5);
                Ok(())
            })
            .unwrap();
        assert_eq!(store.champion_version().unwrap(), Some(3));
        assert_eq!(store.model_summary(1).unwrap().blob_bytes, 200_000);
        assert_eq!(store.model(3).unwrap().blob, blob);
        assert_eq!(store.models().unwrap().len(), 4);
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
