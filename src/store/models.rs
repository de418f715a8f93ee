//! `model_versions` and the append-only `deployments` log. The newest
//! deployment row names the champion.

use serde::Serialize;

use super::{Result, Store, StoreError, now_text};

/// A stored model version without its blob.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub version: i64,
    pub created_at: String,
    pub trained_by_run: Option<i64>,
    pub params: serde_json::Value,
    pub feature_schema: i64,
    pub train_window: serde_json::Value,
    pub test_window: serde_json::Value,
    pub threshold: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub metrics: serde_json::Value,
    pub decision: Option<String>,
    pub decision_reason: Option<String>,
    pub blob_sha256: String,
    pub blob_bytes: i64,
}

/// A model version with its blob.
#[derive(Debug, Clone)]
pub struct ModelRow {
    pub summary: ModelSummary,
    pub blob: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Deployment {
    pub id: i64,
    pub version: i64,
    pub at: String,
    pub reason: String,
    pub actor: String,
}

const SUMMARY_COLS: &str = "version, created_at, trained_by_run, params, feature_schema, train_window, \
     test_window, threshold, f1, roc_auc, brier, metrics, decision, decision_reason, blob_sha256, length(blob)";

fn json(s: String) -> serde_json::Value {
    serde_json::from_str(&s).unwrap_or(serde_json::Value::Null)
}

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ModelSummary> {
    Ok(ModelSummary {
        version: r.get(0)?,
        created_at: r.get(1)?,
        trained_by_run: r.get(2)?,
        params: json(r.get(3)?),
        feature_schema: r.get(4)?,
        train_window: json(r.get(5)?),
        test_window: json(r.get(6)?),
        threshold: r.get(7)?,
        f1: r.get(8)?,
        roc_auc: r.get(9)?,
        brier: r.get(10)?,
        metrics: json(r.get(11)?),
        decision: r.get(12)?,
        decision_reason: r.get(13)?,
        blob_sha256: r.get(14)?,
        blob_bytes: r.get(15)?,
    })
}

fn deployment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Deployment> {
    Ok(Deployment {
        id: r.get(0)?,
        version: r.get(1)?,
        at: r.get(2)?,
        reason: r.get(3)?,
        actor: r.get(4)?,
    })
}

/// What a training run registers.
pub struct NewModel<'a> {
    pub trained_by_run: Option<i64>,
    pub params: &'a serde_json::Value,
    pub feature_schema: i64,
    pub train_window: &'a serde_json::Value,
    pub test_window: &'a serde_json::Value,
    pub threshold: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub metrics: &'a serde_json::Value,
    pub blob: &'a [u8],
    pub blob_sha256: &'a str,
}

impl Store {
    /// Register a version together with its champion/challenger decision;
    /// when `promote` is set, the deployment is appended in the same
    /// transaction, so a version is never left half-registered.
    pub fn register_model(
        &self,
        m: &NewModel<'_>,
        decision: &str,
        reason: &str,
        promote: bool,
        actor: &str,
    ) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO model_versions (created_at, trained_by_run, params, feature_schema, train_window,
                    test_window, threshold, f1, roc_auc, brier, metrics, blob, blob_sha256, decision, decision_reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                rusqlite::params![
                    now_text(),
                    m.trained_by_run,
                    m.params.to_string(),
                    m.feature_schema,
                    m.train_window.to_string(),
                    m.test_window.to_string(),
                    m.threshold,
                    m.f1,
                    m.roc_auc,
                    m.brier,
                    m.metrics.to_string(),
                    m.blob,
                    m.blob_sha256,
                    decision,
                    reason
                ],
            )?;
            let version = tx.last_insert_rowid();
            if promote {
                tx.execute(
                    "INSERT INTO deployments (version, at, reason, actor) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![version, now_text(), reason, actor],
                )?;
            }
            Ok(version)
        })
    }

    pub fn model(&self, version: i64) -> Result<ModelRow> {
        self.with_conn(|c| {
            let sql = format!("SELECT {SUMMARY_COLS}, blob FROM model_versions WHERE version = ?1");
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query_map([version], |r| {
                Ok(ModelRow {
                    summary: summary_from_row(r)?,
                    blob: r.get(16)?,
                })
            })?;
            match rows.next() {
                Some(r) => Ok(r?),
                None => Err(StoreError::NotFound(format!("model version {version}"))),
            }
        })
    }

    pub fn model_summary(&self, version: i64) -> Result<ModelSummary> {
        self.with_conn(|c| {
            let sql = format!("SELECT {SUMMARY_COLS} FROM model_versions WHERE version = ?1");
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query_map([version], summary_from_row)?;
            match rows.next() {
                Some(r) => Ok(r?),
                None => Err(StoreError::NotFound(format!("model version {version}"))),
            }
        })
    }

    /// Every version, newest first.
    pub fn models(&self) -> Result<Vec<ModelSummary>> {
        self.with_conn(|c| {
            let sql = format!("SELECT {SUMMARY_COLS} FROM model_versions ORDER BY version DESC");
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([], summary_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The champion: the version of the newest deployment, if any.
    pub fn champion_version(&self) -> Result<Option<i64>> {
        self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT version FROM deployments ORDER BY id DESC LIMIT 1")?
                    .query_row([], |r| r.get(0))
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })?,
            )
        })
    }

    /// Make `version` the champion, recording who and why.
    pub fn deploy(&self, version: i64, reason: &str, actor: &str) -> Result<Deployment> {
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM model_versions WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StoreError::NotFound(format!("model version {version}")));
            }
            tx.execute(
                "INSERT INTO deployments (version, at, reason, actor) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![version, now_text(), reason, actor],
            )?;
            let id = tx.last_insert_rowid();
            Ok(tx.query_row(
                "SELECT id, version, at, reason, actor FROM deployments WHERE id = ?1",
                [id],
                deployment_from_row,
            )?)
        })
    }

    /// Retention: empty the model files of every version that is not among
    /// the last `keep_deployed` versions deployed (the champion is the newest)
    /// nor the last `keep_challengers` never-deployed versions. Metadata,
    /// metrics and the deployment log stay. Freed pages are reused by SQLite
    /// for later models (no VACUUM, which would fight WAL replication).
    /// Returns the versions pruned.
    pub fn prune_model_blobs(&self, keep_deployed: u32, keep_challengers: u32) -> Result<Vec<i64>> {
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "UPDATE model_versions SET blob = X''
                 WHERE length(blob) > 0
                   AND version NOT IN (
                       SELECT version FROM deployments GROUP BY version
                       ORDER BY max(id) DESC LIMIT ?1)
                   AND version NOT IN (
                       SELECT version FROM model_versions
                       WHERE version NOT IN (SELECT version FROM deployments)
                       ORDER BY version DESC LIMIT ?2)
                 RETURNING version",
            )?;
            let rows = st.query_map(
                rusqlite::params![keep_deployed.max(1), keep_challengers],
                |r| r.get(0),
            )?;
            let mut out = rows.collect::<rusqlite::Result<Vec<i64>>>()?;
            out.sort_unstable();
            Ok(out)
        })
    }

    /// Whether a version's model file is still stored (not pruned).
    pub fn has_blob(&self, version: i64) -> Result<bool> {
        self.with_conn(|c| {
            c.prepare_cached("SELECT length(blob) > 0 FROM model_versions WHERE version = ?1")?
                .query_row([version], |r| r.get(0))
                .map_err(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => {
                        StoreError::NotFound(format!("model version {version}"))
                    }
                    e => e.into(),
                })
        })
    }

    /// Re-deploy the champion that served before the current one.
    pub fn rollback(&self, reason: &str, actor: &str) -> Result<Deployment> {
        let history = self.deployments()?;
        let current = history
            .first()
            .ok_or_else(|| {
                StoreError::Conflict("nothing is deployed; nothing to roll back".into())
            })?
            .version;
        // Walk back through the history: the newest deployment of another version.
        let previous = history
            .iter()
            .map(|d| d.version)
            .find(|&v| v != current)
            .ok_or_else(|| {
                StoreError::Conflict(format!(
                    "version {current} is the only version ever deployed; nothing to roll back to"
                ))
            })?;
        self.deploy(previous, reason, actor)
    }

    /// The deployment log, newest first.
    pub fn deployments(&self) -> Result<Vec<Deployment>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, version, at, reason, actor FROM deployments ORDER BY id DESC",
            )?;
            let rows = st.query_map([], deployment_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
