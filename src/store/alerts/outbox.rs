//! The delivery outbox: queueing the deliveries a logged forecast sets off,
//! claiming them for sending, recording attempts, resending, and reading
//! deliveries with their attempts.

use chrono::{DateTime, Utc};

use super::subscriptions::{finish_subscription, subscription_row};
use super::{AlertFormat, Attempt, AttemptResult, Claimed, Delivery, alert_body};
use crate::store::predictions::IssuedForecast;
use crate::store::{Result, Store, StoreError, rfc3339};
/// Queue the alerts `p` sets off, inside the transaction that logged it.
/// Returns how many deliveries were queued (dropped ones not counted).
pub(in crate::store) fn queue_alerts(
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
            rusqlite::params![
                p.location,
                p.amounts
                    .map_or(p.probability, |c| f64::from(c.0[0]).max(p.probability))
            ],
            subscription_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let now_text = rfc3339::text(&now);
    let mut queued = 0;
    for row in subs {
        let sub = finish_subscription(row)?;
        // The chance of the subscription's amount; a version without
        // amounts alerts only on the headline's.
        let Some(chance) = p.chance_of(sub.threshold_mm) else {
            continue;
        };
        if !sub.issues.contains(&p.issue) || chance < sub.min_chance {
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
                chance,
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
