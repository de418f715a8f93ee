//! Webhook alerts (decision record 0020): the subscriptions an admin
//! defines, the outbox of deliveries and each delivery's attempts.
//!
//! A delivery is queued in the transaction that logs the forecast crossing
//! its subscription ([`Store::log_prediction_alerting`]), so a forecast is
//! never logged without its alerts nor alerted twice: one delivery per
//! (subscription, location, rain day, issue), enforced by a unique key. Its
//! body is frozen then; the dispatcher ([`crate::alerts`]) only sends it.
//!
//! The outbox runs on real time (the receivers are real): `created_at`,
//! `next_attempt_at`, `lease_until` and the attempts' `at` come from the
//! system clock, passed in by the caller, never from a simulated one.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::predictions::IssuedForecast;
use super::{Result, Store, StoreError, rfc3339};
use crate::issue::Issue;

/// How many deliveries to one subscription may wait at once, by default
/// (`alerts.max_pending`); one more is recorded as dropped.
pub const DEFAULT_MAX_PENDING: u32 = 50;

/// The body a receiver gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertFormat {
    /// A signed JSON document (`application/json`).
    Json,
    /// One plain-text sentence (`text/plain`), for ntfy-style receivers.
    Text,
}

impl AlertFormat {
    pub fn name(self) -> &'static str {
        match self {
            AlertFormat::Json => "json",
            AlertFormat::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(AlertFormat::Json),
            "text" => Some(AlertFormat::Text),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            AlertFormat::Json => "application/json",
            AlertFormat::Text => "text/plain; charset=utf-8",
        }
    }
}

/// A subscription as the admin defined it (already validated).
#[derive(Clone)]
pub struct NewSubscription {
    pub location: String,
    pub threshold_mm: f64,
    /// Fire when the chance is at or above this (0 < x ≤ 1).
    pub min_chance: f64,
    pub issues: Vec<Issue>,
    pub url: String,
    pub secret: String,
    pub format: AlertFormat,
}

/// A stored, live subscription.
#[derive(Clone)]
pub struct Subscription {
    pub id: i64,
    pub location: String,
    pub threshold_mm: f64,
    pub min_chance: f64,
    pub issues: Vec<Issue>,
    pub url: String,
    pub secret: String,
    pub format: AlertFormat,
    pub created_at: String,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub n: u32,
    pub at: String,
    /// The receiver's HTTP status; none when no answer came.
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// A queued delivery and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub subscription_id: i64,
    pub location: String,
    pub for_date: NaiveDate,
    pub issue: String,
    pub probability: f64,
    /// `pending`, `delivered`, `failed` (gave up), `dropped` (queue full)
    /// or `cancelled` (the subscription was deleted).
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    pub next_attempt_at: String,
    pub finished_at: Option<String>,
    pub last_error: Option<String>,
    pub attempt_log: Vec<Attempt>,
}

/// A delivery claimed for sending: what the dispatcher needs.
#[derive(Clone)]
pub struct Claimed {
    pub id: i64,
    pub subscription_id: i64,
    pub url: String,
    pub secret: String,
    pub format: AlertFormat,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// Of those, the ones made before the admin last sent it again.
    pub attempts_before: u32,
    pub location: String,
    pub probability: f64,
}

// The secrets never reach a log line: Debug leaves them out.
impl std::fmt::Debug for NewSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSubscription")
            .field("location", &self.location)
            .field("threshold_mm", &self.threshold_mm)
            .field("min_chance", &self.min_chance)
            .field("issues", &self.issues)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("format", &self.format)
            .finish()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("location", &self.location)
            .field("threshold_mm", &self.threshold_mm)
            .field("min_chance", &self.min_chance)
            .field("issues", &self.issues)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("format", &self.format)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("subscription_id", &self.subscription_id)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("format", &self.format)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy)]
pub enum AttemptResult {
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Give up (`alerts.max_attempts` reached).
    GiveUp,
}

fn issues_text(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| i.name())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_issues(text: &str) -> Result<Vec<Issue>> {
    text.split(',')
        .map(|s| {
            Issue::parse(s).ok_or_else(|| {
                StoreError::Corrupt(format!("alert subscription issue `{s}` is not an issue"))
            })
        })
        .collect()
}

fn subscription_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Subscription, String, String)> {
    Ok((
        Subscription {
            id: r.get(0)?,
            location: r.get(1)?,
            threshold_mm: r.get(2)?,
            min_chance: r.get(3)?,
            issues: Vec::new(),
            url: r.get(5)?,
            secret: r.get(6)?,
            format: AlertFormat::Json,
            created_at: r.get(8)?,
        },
        r.get(4)?,
        r.get(7)?,
    ))
}

fn finish_subscription(
    (mut s, issues, format): (Subscription, String, String),
) -> Result<Subscription> {
    s.issues = parse_issues(&issues)?;
    s.format = AlertFormat::parse(&format).ok_or_else(|| {
        StoreError::Corrupt(format!("alert subscription {} has format `{format}`", s.id))
    })?;
    Ok(s)
}

/// A percentage for people: "63 %".
fn percent(p: f64) -> String {
    format!("{:.0}\u{a0}%", p * 100.0)
}

/// The body of an alert for `p`, as `sub` asked for it.
pub fn alert_body(sub: &Subscription, p: &IssuedForecast) -> String {
    let station = crate::stations::by_location(p.location);
    let name = crate::stations::display_name(p.location);
    let (window_start, window_end) = match station {
        Some(st) => crate::issue::window(st, p.for_date),
        None => (p.window_end - chrono::Duration::hours(24), p.window_end),
    };
    match sub.format {
        AlertFormat::Json => serde_json::json!({
            "event": "forecast.issued",
            "subscription": sub.id,
            "location": p.location,
            "display_name": name,
            "forecast_date": p.for_date,
            "issue": p.issue.name(),
            "issued_at": rfc3339::text(&p.issued_at),
            "window_start": rfc3339::text(&window_start),
            "window_end": rfc3339::text(&window_end),
            "probability": p.probability,
            "threshold_mm": sub.threshold_mm,
            "min_chance": sub.min_chance,
            "model_version": p.version,
            "page": format!("/forecast/{}", p.location),
        })
        .to_string(),
        AlertFormat::Text => {
            let local = |t: DateTime<Utc>| match station {
                Some(st) => t
                    .with_timezone(&crate::issue::Zone::of(st).tz())
                    .format("%H:%M %Z on %a %-d %b")
                    .to_string(),
                None => t.format("%H:%M UTC on %a %-d %b").to_string(),
            };
            format!(
                "{name}: {} chance of more than {} mm of rain in the 24 hours to {}. Issued {} ({}), model version {}.",
                percent(p.probability),
                sub.threshold_mm,
                local(window_end),
                local(p.issued_at),
                p.issue.label(),
                p.version
            )
        }
    }
}

/// Queue the alerts `p` sets off, inside the transaction that logged it.
/// Returns how many deliveries were queued (dropped ones not counted).
pub(super) fn queue_alerts(
    tx: &rusqlite::Transaction<'_>,
    p: &IssuedForecast,
    max_pending: u32,
    now: DateTime<Utc>,
) -> Result<u64> {
    let subs = tx
        .prepare_cached(
            "SELECT id, location, threshold_mm, min_chance, issues, url, secret, format, created_at
             FROM alert_subscriptions
             WHERE deleted_at IS NULL AND location = ?1 AND min_chance <= ?2",
        )?
        .query_map(
            rusqlite::params![p.location, p.probability],
            subscription_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let now_text = rfc3339::text(&now);
    let mut queued = 0;
    for row in subs {
        let sub = finish_subscription(row)?;
        if !sub.issues.contains(&p.issue) || p.probability < sub.min_chance {
            continue;
        }
        let pending: i64 = tx
            .prepare_cached(
                "SELECT count(*) FROM alert_deliveries WHERE subscription_id = ?1 AND status = 'pending'",
            )?
            .query_row([sub.id], |r| r.get(0))?;
        let full = pending >= i64::from(max_pending);
        let (status, error) = if full {
            (
                "dropped",
                Some(format!(
                    "queue full: {pending} deliveries to this receiver are waiting (alerts.max_pending = {max_pending})"
                )),
            )
        } else {
            ("pending", None)
        };
        let n = tx
            .prepare_cached(
                "INSERT INTO alert_deliveries (subscription_id, location, for_date, issue, probability,
                     body, status, created_at, next_attempt_at, finished_at, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, CASE WHEN ?7 = 'dropped' THEN ?8 END, ?9)
                 ON CONFLICT (subscription_id, location, for_date, issue) DO NOTHING",
            )?
            .execute(rusqlite::params![
                sub.id,
                p.location,
                p.for_date,
                p.issue.name(),
                p.probability,
                alert_body(&sub, p),
                status,
                now_text,
                error,
            ])?;
        if n == 1 {
            if full {
                tracing::warn!(
                    subscription = sub.id,
                    location = p.location,
                    "alert dropped: {}",
                    error.unwrap_or_default()
                );
                metrics::counter!("raincast_alert_deliveries_total", "outcome" => "dropped")
                    .increment(1);
            } else {
                queued += 1;
                metrics::counter!("raincast_alert_deliveries_total", "outcome" => "queued")
                    .increment(1);
            }
        }
    }
    Ok(queued)
}

impl Store {
    /// Add a subscription; returns its id.
    #[tracing::instrument(level = "debug", skip(self, s), fields(location = %s.location))]
    pub fn add_subscription(&self, s: &NewSubscription) -> Result<i64> {
        let now = self.now_text();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO alert_subscriptions (location, threshold_mm, min_chance, issues, url, secret,
                                                  format, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    s.location,
                    s.threshold_mm,
                    s.min_chance,
                    issues_text(&s.issues),
                    s.url,
                    s.secret,
                    s.format.name(),
                    now
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// The live subscriptions, oldest first.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn subscriptions(&self) -> Result<Vec<Subscription>> {
        self.with_conn(|c| {
            let rows = c
                .prepare_cached(
                    "SELECT id, location, threshold_mm, min_chance, issues, url, secret, format, created_at
                     FROM alert_subscriptions WHERE deleted_at IS NULL ORDER BY id",
                )?
                .query_map([], subscription_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(finish_subscription).collect()
        })
    }

    /// Delete a subscription: it fires no more, and its waiting deliveries
    /// are cancelled (kept, with their attempts, in the record). Returns
    /// how many were cancelled; `NotFound` when no live one has that id.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn delete_subscription(&self, id: i64) -> Result<u64> {
        let now = self.now_text();
        let real = rfc3339::text(&Utc::now());
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE alert_subscriptions SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                rusqlite::params![id, now],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("alert subscription {id}")));
            }
            Ok(tx.execute(
                "UPDATE alert_deliveries SET status = 'cancelled', finished_at = ?2, lease_until = NULL,
                        last_error = 'the subscription was deleted'
                 WHERE subscription_id = ?1 AND status = 'pending'",
                rusqlite::params![id, real],
            )? as u64)
        })
    }

    /// Claim up to `limit` deliveries due at `now` for sending, each leased
    /// until `lease_until` (another process, or this one after a restart,
    /// takes it over only after that). Per subscription only the oldest
    /// waiting delivery is due: a receiver gets its alerts in order, and a
    /// dead one holds one attempt at a time.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Claimed>> {
        let (now, until) = (rfc3339::text(&now), rfc3339::text(&lease_until));
        // Looked at twice a second: a read (on the partial index) first, so
        // an idle outbox never takes the write lock.
        let any_due = self.with_conn(|c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM alert_deliveries
                                WHERE status = 'pending' AND next_attempt_at <= ?1
                                  AND (lease_until IS NULL OR lease_until <= ?1))",
            )?
            .query_row([&now], |r| r.get::<_, bool>(0))?)
        })?;
        if !any_due {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let rows = tx
                .prepare_cached(
                    "SELECT d.id, d.subscription_id, s.url, s.secret, s.format, d.body, d.attempts,
                            d.location, d.probability, d.attempts_before
                     FROM alert_deliveries d JOIN alert_subscriptions s ON s.id = d.subscription_id
                     WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
                       AND (d.lease_until IS NULL OR d.lease_until <= ?1)
                       AND s.deleted_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM alert_deliveries e
                                       WHERE e.subscription_id = d.subscription_id
                                         AND e.status = 'pending' AND e.id < d.id)
                     ORDER BY d.next_attempt_at, d.id LIMIT ?2",
                )?
                .query_map(rusqlite::params![now, limit as i64], |r| {
                    Ok((
                        Claimed {
                            id: r.get(0)?,
                            subscription_id: r.get(1)?,
                            url: r.get(2)?,
                            secret: r.get(3)?,
                            format: AlertFormat::Json,
                            body: r.get(5)?,
                            attempts: r.get(6)?,
                            location: r.get(7)?,
                            probability: r.get(8)?,
                            attempts_before: r.get(9)?,
                        },
                        r.get::<_, String>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (mut c, format) in rows {
                c.format = AlertFormat::parse(&format).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "alert subscription {} has format `{format}`",
                        c.subscription_id
                    ))
                })?;
                tx.prepare_cached("UPDATE alert_deliveries SET lease_until = ?2 WHERE id = ?1")?
                    .execute(rusqlite::params![c.id, until])?;
                out.push(c);
            }
            Ok(out)
        })
    }

    /// Record attempt `a` at delivery `id` and what follows from it; the
    /// lease is released. A delivery cancelled meanwhile keeps its status.
    #[tracing::instrument(level = "debug", skip(self, a))]
    pub fn record_attempt(&self, id: i64, a: &Attempt, then: AttemptResult) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO alert_attempts (delivery_id, n, at, http_status, latency_ms, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(rusqlite::params![
                id,
                a.n,
                a.at,
                a.http_status,
                a.latency_ms as i64,
                a.error
            ])?;
            let (status, next, finished) = match then {
                AttemptResult::Delivered => ("delivered", None, Some(a.at.clone())),
                AttemptResult::RetryAt(t) => ("pending", Some(rfc3339::text(&t)), None),
                AttemptResult::GiveUp => ("failed", None, Some(a.at.clone())),
            };
            tx.prepare_cached(
                "UPDATE alert_deliveries SET attempts = ?2, lease_until = NULL, last_error = ?3,
                        status = CASE WHEN status = 'pending' THEN ?4 ELSE status END,
                        next_attempt_at = coalesce(?5, next_attempt_at),
                        finished_at = CASE WHEN status = 'pending' THEN ?6 ELSE finished_at END
                 WHERE id = ?1",
            )?
            .execute(rusqlite::params![id, a.n, a.error, status, next, finished])?;
            Ok(())
        })
    }

    /// Send a failed or dropped delivery again (the admin's button): it
    /// waits again, due now, with `alerts.max_attempts` more attempts; its
    /// earlier attempts stay in the record. `NotFound` when there is no such
    /// delivery, `Conflict` when it is not failed or dropped or its
    /// subscription was deleted.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn resend_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        let now = rfc3339::text(&now);
        self.write(|tx| {
            let row: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT d.status, s.deleted_at FROM alert_deliveries d
                     JOIN alert_subscriptions s ON s.id = d.subscription_id WHERE d.id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            match row {
                None => Err(StoreError::NotFound(format!("alert delivery {id}"))),
                Some((_, Some(_))) => Err(StoreError::Conflict(format!(
                    "delivery {id}'s subscription was deleted; nothing is sent for it"
                ))),
                Some((status, None)) if status != "failed" && status != "dropped" => {
                    Err(StoreError::Conflict(format!(
                        "delivery {id} is {status}; only a failed or dropped one is sent again"
                    )))
                }
                Some(_) => {
                    tx.execute(
                        "UPDATE alert_deliveries SET status = 'pending', next_attempt_at = ?2,
                                finished_at = NULL, lease_until = NULL, attempts_before = attempts
                         WHERE id = ?1",
                        rusqlite::params![id, now],
                    )?;
                    Ok(())
                }
            }
        })
    }

    /// Deliveries waiting to be sent (all subscriptions).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn pending_deliveries(&self) -> Result<u64> {
        self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT count(*) FROM alert_deliveries WHERE status = 'pending'")?
                    .query_row([], |r| r.get::<_, i64>(0))? as u64,
            )
        })
    }

    /// The newest `limit` deliveries, newest first, each with its attempts.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>> {
        self.with_conn(|c| read_deliveries(c, "ORDER BY id DESC LIMIT ?1", limit as i64))
    }

    /// One delivery, with its attempts.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn delivery(&self, id: i64) -> Result<Delivery> {
        self.with_conn(|c| read_deliveries(c, "WHERE id = ?1", id))?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("alert delivery {id}")))
    }
}

/// Deliveries selected by `tail` (with one parameter), with their attempts.
fn read_deliveries(c: &rusqlite::Connection, tail: &str, param: i64) -> Result<Vec<Delivery>> {
    let mut out = c
        .prepare_cached(&format!(
            "SELECT id, subscription_id, location, for_date, issue, probability, status, attempts,
                    created_at, next_attempt_at, finished_at, last_error
             FROM alert_deliveries {tail}"
        ))?
        .query_map([param], |r| {
            Ok(Delivery {
                id: r.get(0)?,
                subscription_id: r.get(1)?,
                location: r.get(2)?,
                for_date: r.get(3)?,
                issue: r.get(4)?,
                probability: r.get(5)?,
                status: r.get(6)?,
                attempts: r.get(7)?,
                created_at: r.get(8)?,
                next_attempt_at: r.get(9)?,
                finished_at: r.get(10)?,
                last_error: r.get(11)?,
                attempt_log: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = c.prepare_cached(
        "SELECT n, at, http_status, latency_ms, error FROM alert_attempts
         WHERE delivery_id = ?1 ORDER BY n",
    )?;
    for d in &mut out {
        d.attempt_log = st
            .query_map([d.id], |r| {
                Ok(Attempt {
                    n: r.get(0)?,
                    at: r.get(1)?,
                    http_status: r.get(2)?,
                    latency_ms: r.get::<_, i64>(3)?.max(0) as u64,
                    error: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model_record::tests::{METRICS, TRAIN_WINDOW};
    use std::time::Duration;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("a.db"), Duration::from_secs(1)).unwrap();
        s.with_conn(|c| {
            c.execute(
                "INSERT INTO model_versions (created_at, params, feature_schema, train_window,
                    test_window, threshold, f1, roc_auc, brier, metrics, blob, blob_sha256)
                 VALUES ('2025-09-06T08:30:00Z', '{}', 4, ?1,
                    '{\"from\":\"2024-09-05\",\"to\":\"2025-09-05\"}', 0.3, 0.6, 0.8, 0.1, ?2, X'00', 's')",
                rusqlite::params![TRAIN_WINDOW, METRICS],
            )?;
            Ok(())
        })
        .unwrap();
        (dir, s)
    }

    fn sub(location: &str, min_chance: f64, issues: &[Issue]) -> NewSubscription {
        NewSubscription {
            location: location.into(),
            threshold_mm: 1.0,
            min_chance,
            issues: issues.to_vec(),
            url: "http://127.0.0.1:9/hook".into(),
            secret: "0123456789abcdef".into(),
            format: AlertFormat::Json,
        }
    }

    fn forecast(day: u32, issue: Issue, probability: f64) -> IssuedForecast<'static> {
        let for_date = NaiveDate::from_ymd_opt(2025, 9, day).unwrap();
        let st = crate::stations::by_location("Sydney").unwrap();
        IssuedForecast {
            location: "Sydney",
            for_date,
            issue,
            obs_date: issue.base_day(for_date),
            version: 1,
            probability,
            threshold: 0.3,
            issued_at: issue.due_at(st, for_date, &crate::issue::Visibility::default()),
            window_end: crate::issue::window(st, for_date).1,
        }
    }

    /// A subscription fires once per issued forecast at or above its chance,
    /// for its issues only; logging the same forecast again queues nothing.
    #[test]
    fn fires_once_per_issue_that_crosses_it() {
        let (_d, s) = store();
        let id = s
            .add_subscription(&sub("Sydney", 0.5, &[Issue::Morning, Issue::Afternoon]))
            .unwrap();
        s.add_subscription(&sub("Canberra", 0.1, &[Issue::Morning]))
            .unwrap();
        let log = |f: &IssuedForecast| s.log_prediction_alerting(f, 50).unwrap();
        assert_eq!(
            log(&forecast(7, Issue::Morning, 0.5)),
            (true, 1),
            "at the chance"
        );
        assert_eq!(
            log(&forecast(7, Issue::Morning, 0.9)),
            (false, 0),
            "logged once"
        );
        assert_eq!(
            log(&forecast(7, Issue::DayBefore, 0.9)),
            (true, 0),
            "not its issue"
        );
        assert_eq!(
            log(&forecast(7, Issue::Afternoon, 0.49)),
            (true, 0),
            "below"
        );
        assert_eq!(log(&forecast(8, Issue::Afternoon, 0.7)), (true, 1));
        let all = s.deliveries(10).unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            all.iter()
                .all(|d| d.subscription_id == id && d.status == "pending")
        );
        let body: serde_json::Value =
            serde_json::from_str(&s.claim_deliveries(Utc::now(), Utc::now(), 1).unwrap()[0].body)
                .unwrap();
        assert_eq!(body["issue"], "morning");
        assert_eq!(body["forecast_date"], "2025-09-07");
        assert_eq!(body["window_end"], "2025-09-06T23:00:00.000Z");
        assert_eq!(body["probability"], 0.5);
    }

    /// Per subscription only the oldest waiting delivery is claimed, a
    /// leased one is not claimed again before its lease ends, and a full
    /// queue records the next one as dropped.
    #[test]
    fn claims_in_order_with_leases_and_a_bounded_queue() {
        let (_d, s) = store();
        s.add_subscription(&sub("Sydney", 0.1, &crate::issue::ISSUES))
            .unwrap();
        for day in 7..=9 {
            s.log_prediction_alerting(&forecast(day, Issue::Morning, 0.6), 2)
                .unwrap();
        }
        let all = s.deliveries(10).unwrap();
        let statuses: Vec<&str> = all.iter().rev().map(|d| d.status.as_str()).collect();
        assert_eq!(statuses, ["pending", "pending", "dropped"]);
        assert!(all[0].last_error.as_deref().unwrap().contains("queue full"));
        let now = Utc::now();
        let lease = now + chrono::Duration::seconds(30);
        let first = s.claim_deliveries(now, lease, 10).unwrap();
        assert_eq!(first.len(), 1, "the oldest only");
        assert!(
            s.claim_deliveries(now, lease, 10).unwrap().is_empty(),
            "leased"
        );
        let a = Attempt {
            n: 1,
            at: rfc3339::text(&now),
            http_status: Some(500),
            latency_ms: 3,
            error: Some("HTTP 500".into()),
        };
        s.record_attempt(
            first[0].id,
            &a,
            AttemptResult::RetryAt(now + chrono::Duration::seconds(60)),
        )
        .unwrap();
        assert!(
            s.claim_deliveries(now, lease, 10).unwrap().is_empty(),
            "backing off"
        );
        let later = now + chrono::Duration::seconds(61);
        let again = s.claim_deliveries(later, later, 10).unwrap();
        assert_eq!((again[0].id, again[0].attempts), (first[0].id, 1));
        let ok = Attempt {
            n: 2,
            http_status: Some(204),
            error: None,
            ..a
        };
        s.record_attempt(again[0].id, &ok, AttemptResult::Delivered)
            .unwrap();
        let next = s.claim_deliveries(later, later, 10).unwrap();
        assert_eq!(next.len(), 1);
        assert_ne!(next[0].id, first[0].id, "then the next in line");
        let d = s.delivery(first[0].id).unwrap();
        assert_eq!((d.status.as_str(), d.attempts), ("delivered", 2));
        assert_eq!(d.attempt_log.len(), 2);
        assert_eq!(d.attempt_log[0].http_status, Some(500));
        assert_eq!(s.pending_deliveries().unwrap(), 1);
    }

    #[test]
    fn a_failed_or_dropped_delivery_can_be_sent_again() {
        let (_d, s) = store();
        let sub_id = s
            .add_subscription(&sub("Sydney", 0.1, &[Issue::Morning]))
            .unwrap();
        s.log_prediction_alerting(&forecast(7, Issue::Morning, 0.6), 1)
            .unwrap();
        s.log_prediction_alerting(&forecast(8, Issue::Morning, 0.6), 1)
            .unwrap();
        let now = Utc::now();
        let c = s.claim_deliveries(now, now, 5).unwrap().remove(0);
        assert!(matches!(
            s.resend_delivery(c.id, now),
            Err(StoreError::Conflict(m)) if m.contains("is pending")
        ));
        let a = Attempt {
            n: 1,
            at: rfc3339::text(&now),
            http_status: Some(500),
            latency_ms: 1,
            error: Some("HTTP 500".into()),
        };
        s.record_attempt(c.id, &a, AttemptResult::GiveUp).unwrap();
        s.resend_delivery(c.id, now).unwrap();
        let again = s.claim_deliveries(now, now, 5).unwrap();
        assert_eq!(
            (again[0].id, again[0].attempts, again[0].attempts_before),
            (c.id, 1, 1)
        );
        let dropped = s.deliveries(5).unwrap()[0].id;
        assert_eq!(s.delivery(dropped).unwrap().status, "dropped");
        s.resend_delivery(dropped, now).unwrap();
        assert_eq!(s.delivery(dropped).unwrap().status, "pending");
        assert!(matches!(
            s.resend_delivery(999, now),
            Err(StoreError::NotFound(_))
        ));
        s.delete_subscription(sub_id).unwrap();
        assert!(matches!(
            s.resend_delivery(c.id, now),
            Err(StoreError::Conflict(m)) if m.contains("deleted")
        ));
    }

    #[test]
    fn debug_output_leaves_the_secret_out() {
        let (_d, s) = store();
        s.add_subscription(&sub("Sydney", 0.1, &[Issue::Morning]))
            .unwrap();
        s.log_prediction_alerting(&forecast(7, Issue::Morning, 0.6), 5)
            .unwrap();
        let text = format!(
            "{:?} {:?} {:?}",
            sub("Sydney", 0.1, &[Issue::Morning]),
            s.subscriptions().unwrap(),
            s.claim_deliveries(Utc::now(), Utc::now(), 5).unwrap()
        );
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert_eq!(text.matches("[redacted]").count(), 3, "{text}");
    }

    #[test]
    fn deleting_cancels_waiting_deliveries() {
        let (_d, s) = store();
        let id = s
            .add_subscription(&sub("Sydney", 0.1, &[Issue::Morning]))
            .unwrap();
        s.log_prediction_alerting(&forecast(7, Issue::Morning, 0.6), 5)
            .unwrap();
        assert_eq!(s.delete_subscription(id).unwrap(), 1);
        assert!(matches!(
            s.delete_subscription(id),
            Err(StoreError::NotFound(_))
        ));
        assert!(s.subscriptions().unwrap().is_empty());
        assert_eq!(s.deliveries(5).unwrap()[0].status, "cancelled");
        assert!(
            s.claim_deliveries(Utc::now(), Utc::now(), 5)
                .unwrap()
                .is_empty()
        );
        // A deleted subscription fires no more.
        let (logged, queued) = s
            .log_prediction_alerting(&forecast(8, Issue::Morning, 0.9), 5)
            .unwrap();
        assert!(logged);
        assert_eq!(queued, 0);
    }

    #[test]
    fn the_text_body_is_one_sentence_in_local_time() {
        let mut s = sub("Sydney", 0.1, &[Issue::Morning]);
        s.format = AlertFormat::Text;
        let sub = Subscription {
            id: 1,
            location: s.location,
            threshold_mm: 1.0,
            min_chance: 0.1,
            issues: s.issues,
            url: s.url,
            secret: s.secret,
            format: AlertFormat::Text,
            created_at: String::new(),
        };
        let text = alert_body(&sub, &forecast(7, Issue::Morning, 0.634));
        assert_eq!(
            text,
            "Sydney: 63\u{a0}% chance of more than 1 mm of rain in the 24 hours to 09:00 AEST on Sun 7 Sep. Issued 10:00 AEST on Sat 6 Sep (the morning, as the day opens), model version 1."
        );
    }
}
