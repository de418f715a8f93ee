//! `model_versions` and the append-only `deployments` log. The newest
//! deployment row names the champion.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model_record::{Decision, ModelMetrics, TrainingWindows, Verdict, Window, rfc3339};
use super::{Result, Store, StoreError};

/// A stored model version without its blob.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub version: i64,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    pub trained_by_run: Option<i64>,
    /// The family's hyperparameters, as that family serialises them.
    pub params: serde_json::Value,
    pub feature_schema: i64,
    pub train_window: TrainingWindows,
    pub test_window: Window,
    pub threshold: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub metrics: ModelMetrics,
    pub decision: Option<Verdict>,
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
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub reason: String,
    pub actor: String,
}

const SUMMARY_COLS: &str = "version, created_at, trained_by_run, params, feature_schema, train_window, \
     test_window, threshold, f1, roc_auc, brier, metrics, decision, decision_reason, blob_sha256, length(blob)";

/// A `model_versions` row as stored: JSON and timestamps still text, so a
/// damaged value becomes an error that names its row and column.
struct RawSummary {
    version: i64,
    created_at: String,
    trained_by_run: Option<i64>,
    params: String,
    feature_schema: i64,
    train_window: String,
    test_window: String,
    threshold: f64,
    f1: f64,
    roc_auc: f64,
    brier: f64,
    metrics: String,
    decision: Option<String>,
    decision_reason: Option<String>,
    blob_sha256: String,
    blob_bytes: i64,
}

fn raw_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawSummary> {
    Ok(RawSummary {
        version: r.get(0)?,
        created_at: r.get(1)?,
        trained_by_run: r.get(2)?,
        params: r.get(3)?,
        feature_schema: r.get(4)?,
        train_window: r.get(5)?,
        test_window: r.get(6)?,
        threshold: r.get(7)?,
        f1: r.get(8)?,
        roc_auc: r.get(9)?,
        brier: r.get(10)?,
        metrics: r.get(11)?,
        decision: r.get(12)?,
        decision_reason: r.get(13)?,
        blob_sha256: r.get(14)?,
        blob_bytes: r.get(15)?,
    })
}

/// `text` as JSON of type `T`, or [`StoreError::Corrupt`] naming the
/// table, row, column and the path inside the value.
fn json_column<T: serde::de::DeserializeOwned>(
    table: &str,
    row: &str,
    column: &str,
    text: &str,
) -> Result<T> {
    let corrupt = |at: String, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("{table} {row}: column {column}{at}: {e}"))
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let v: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| corrupt(format!(" at `{}`", e.path()), e.inner()))?;
    de.end().map_err(|e| corrupt(String::new(), &e))?;
    Ok(v)
}

/// An RFC 3339 timestamp column, or [`StoreError::Corrupt`] naming its row.
fn time_column(table: &str, row: &str, column: &str, text: &str) -> Result<DateTime<Utc>> {
    rfc3339::parse(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "{table} {row}: column {column} is not an RFC 3339 time (`{text}`: {e})"
        ))
    })
}

impl RawSummary {
    fn decode(self) -> Result<ModelSummary> {
        let t = "model_versions";
        let row = format!("version {}", self.version);
        let decision = match self.decision.as_deref() {
            None => None,
            Some(d) => Some(Verdict::parse(d).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{t} {row}: column decision is `{d}`, not `promoted` or `kept out`"
                ))
            })?),
        };
        Ok(ModelSummary {
            version: self.version,
            created_at: time_column(t, &row, "created_at", &self.created_at)?,
            trained_by_run: self.trained_by_run,
            params: json_column(t, &row, "params", &self.params)?,
            feature_schema: self.feature_schema,
            train_window: json_column(t, &row, "train_window", &self.train_window)?,
            test_window: json_column(t, &row, "test_window", &self.test_window)?,
            threshold: self.threshold,
            f1: self.f1,
            roc_auc: self.roc_auc,
            brier: self.brier,
            metrics: json_column(t, &row, "metrics", &self.metrics)?,
            decision,
            decision_reason: self.decision_reason,
            blob_sha256: self.blob_sha256,
            blob_bytes: self.blob_bytes,
        })
    }
}

/// A `deployments` row as stored (`at` still text).
struct RawDeployment {
    id: i64,
    version: i64,
    at: String,
    reason: String,
    actor: String,
}

fn raw_deployment(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawDeployment> {
    Ok(RawDeployment {
        id: r.get(0)?,
        version: r.get(1)?,
        at: r.get(2)?,
        reason: r.get(3)?,
        actor: r.get(4)?,
    })
}

impl RawDeployment {
    fn decode(self) -> Result<Deployment> {
        Ok(Deployment {
            at: time_column("deployments", &format!("id {}", self.id), "at", &self.at)?,
            id: self.id,
            version: self.version,
            reason: self.reason,
            actor: self.actor,
        })
    }
}

/// JSON text of `v` as the store has always written it: through a
/// `serde_json::Value`, whose maps sort their keys.
fn json_text<T: Serialize + ?Sized>(column: &str, v: &T) -> Result<String> {
    serde_json::to_value(v)
        .map(|v| v.to_string())
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {column}: {e}")))
}

/// What a training run registers; `params` (the family's hyperparameters)
/// is stored as its JSON.
pub struct NewModel<'a, P: Serialize + ?Sized = serde_json::Value> {
    pub trained_by_run: Option<i64>,
    pub params: &'a P,
    pub feature_schema: i64,
    pub train_window: &'a TrainingWindows,
    pub test_window: &'a Window,
    pub threshold: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub metrics: &'a ModelMetrics,
    pub blob: &'a [u8],
    pub blob_sha256: &'a str,
}

impl Store {
    /// Register a version together with its champion/challenger decision;
    /// when `promote` is set, the deployment is appended in the same
    /// transaction, so a version is never left half-registered.
    #[tracing::instrument(level = "debug", skip(self, m))]
    pub fn register_model<P: Serialize + ?Sized>(
        &self,
        m: &NewModel<'_, P>,
        decision: &Decision,
        actor: &str,
    ) -> Result<i64> {
        let params = json_text("params", m.params)?;
        let train_window = json_text("train_window", m.train_window)?;
        let test_window = json_text("test_window", m.test_window)?;
        let metrics = json_text("metrics", m.metrics)?;
        let (reason, promote) = (&decision.reason, decision.promotes());
        self.write(|tx| {
            tx.execute(
                "INSERT INTO model_versions (created_at, trained_by_run, params, feature_schema, train_window,
                    test_window, threshold, f1, roc_auc, brier, metrics, blob, blob_sha256, decision, decision_reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                rusqlite::params![
                    self.now_text(),
                    m.trained_by_run,
                    params,
                    m.feature_schema,
                    train_window,
                    test_window,
                    m.threshold,
                    m.f1,
                    m.roc_auc,
                    m.brier,
                    metrics,
                    m.blob,
                    m.blob_sha256,
                    decision.verdict.as_str(),
                    reason
                ],
            )?;
            let version = tx.last_insert_rowid();
            if promote {
                tx.execute(
                    "INSERT INTO deployments (version, at, reason, actor) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![version, self.now_text(), reason, actor],
                )?;
            }
            Ok(version)
        })
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub fn model(&self, version: i64) -> Result<ModelRow> {
        self.with_conn(|c| {
            let sql = format!("SELECT {SUMMARY_COLS}, blob FROM model_versions WHERE version = ?1");
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query_map([version], |r| Ok((raw_summary(r)?, r.get(16)?)))?;
            match rows.next() {
                Some(r) => {
                    let (raw, blob) = r?;
                    Ok(ModelRow {
                        summary: raw.decode()?,
                        blob,
                    })
                }
                None => Err(StoreError::NotFound(format!("model version {version}"))),
            }
        })
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub fn model_summary(&self, version: i64) -> Result<ModelSummary> {
        self.with_conn(|c| {
            let sql = format!("SELECT {SUMMARY_COLS} FROM model_versions WHERE version = ?1");
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query_map([version], raw_summary)?;
            match rows.next() {
                Some(r) => r?.decode(),
                None => Err(StoreError::NotFound(format!("model version {version}"))),
            }
        })
    }

    /// Every version, newest first.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn models(&self) -> Result<Vec<ModelSummary>> {
        self.with_conn(|c| {
            let sql = format!("SELECT {SUMMARY_COLS} FROM model_versions ORDER BY version DESC");
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([], raw_summary)?;
            rows.map(|r| r?.decode()).collect()
        })
    }

    /// The champion: the version of the newest deployment, if any.
    #[tracing::instrument(level = "debug", skip(self))]
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
    #[tracing::instrument(level = "debug", skip(self))]
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
                rusqlite::params![version, self.now_text(), reason, actor],
            )?;
            let id = tx.last_insert_rowid();
            tx.query_row(
                "SELECT id, version, at, reason, actor FROM deployments WHERE id = ?1",
                [id],
                raw_deployment,
            )?
            .decode()
        })
    }

    /// Retention: empty the model files of every version that is not among
    /// the last `keep_deployed` versions deployed (the champion is the newest)
    /// nor the last `keep_challengers` never-deployed versions. Metadata,
    /// metrics and the deployment log stay. Freed pages are reused by SQLite
    /// for later models (no VACUUM, which would fight WAL replication).
    /// Returns the versions pruned.
    #[tracing::instrument(level = "debug", skip(self))]
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
    #[tracing::instrument(level = "debug", skip(self))]
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
    #[tracing::instrument(level = "debug", skip(self))]
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
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn deployments(&self) -> Result<Vec<Deployment>> {
        self.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, version, at, reason, actor FROM deployments ORDER BY id DESC",
            )?;
            let rows = st.query_map([], raw_deployment)?;
            rows.map(|r| r?.decode()).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::model_record::tests::{METRICS, TRAIN_WINDOW};
    use super::*;
    use std::time::Duration;

    /// A row exactly as the current release writes it, inserted with SQL.
    fn insert_row(store: &Store, metrics: &str) {
        store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO model_versions (created_at, trained_by_run, params, feature_schema,
                        train_window, test_window, threshold, f1, roc_auc, brier, metrics, blob,
                        blob_sha256, decision, decision_reason)
                     VALUES ('2025-09-06T08:30:01.250Z', NULL, '{\"n_trees\":100}', 1, ?1,
                        '{\"from\":\"2024-09-05\",\"to\":\"2025-09-05\"}', 0.33, 0.6123, 0.8842,
                        0.1012, ?2, X'00', 'ab', 'kept out', 'F1 does not beat')",
                    rusqlite::params![TRAIN_WINDOW, metrics],
                )?;
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_version_stored_in_todays_shape_reads_typed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db"), Duration::from_secs(5)).unwrap();
        insert_row(&store, METRICS);
        let m = store.model_summary(1).unwrap();
        assert_eq!(rfc3339::text(&m.created_at), "2025-09-06T08:30:01.250Z");
        assert_eq!(m.decision, Some(Verdict::KeptOut));
        assert_eq!(m.train_window.rows.train, 120000);
        assert_eq!(m.test_window.to.to_string(), "2025-09-05");
        assert_eq!(m.metrics.test.confusion.tp, 2400);
        assert_eq!(m.params["n_trees"], 100);
        // The API and `models show` print what the database holds.
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["created_at"], "2025-09-06T08:30:01.250Z");
        assert_eq!(json["decision"], "kept out");
        assert_eq!(json["metrics"].to_string(), METRICS);
        assert_eq!(json["train_window"].to_string(), TRAIN_WINDOW);
    }

    #[test]
    fn deployments_are_stamped_by_the_stores_clock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db"), Duration::from_secs(5)).unwrap();
        insert_row(&store, METRICS);
        let at = rfc3339::parse("2025-03-03T08:30:00.125Z").unwrap();
        store.set_clock(std::sync::Arc::new(crate::clock::FakeClock::new(at)));
        let d = store.deploy(1, "by hand", "tester").unwrap();
        assert_eq!(d.at, at);
        assert_eq!(store.deployments().unwrap()[0].at, at);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["at"], "2025-03-03T08:30:00.125Z");
    }

    #[test]
    fn corrupt_json_is_an_error_naming_the_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db"), Duration::from_secs(5)).unwrap();
        insert_row(&store, METRICS);
        insert_row(&store, r#"{"test": {"n": "many"}}"#);
        let err = store.model_summary(2).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("model_versions version 2")
                && text.contains("column metrics")
                && text.contains("test.n"),
            "{text}"
        );
        // The list says so too rather than hiding the row; the good one reads.
        assert!(store.models().is_err());
        assert!(store.model_summary(1).is_ok());
        store
            .with_conn(|c| {
                c.execute(
                    "UPDATE model_versions SET metrics = ?1, created_at = 'yesterday' WHERE version = 2",
                    [METRICS],
                )?;
                Ok(())
            })
            .unwrap();
        let text = store.model_summary(2).unwrap_err().to_string();
        assert!(text.contains("version 2: column created_at"), "{text}");
    }
}
