//! The subscriptions an admin defines: adding, listing and deleting them
//! (deleting cancels their waiting deliveries), and reading their rows.

use chrono::Utc;

use super::{AlertFormat, NewSubscription, Subscription};
use crate::issue::Issue;
use crate::store::{Result, Store, StoreError, rfc3339};
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

/// A subscription row, its issues and format still as stored text.
pub(super) fn subscription_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(Subscription, String, String)> {
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

/// A subscription row made whole: its issues and format parsed.
pub(super) fn finish_subscription(
    (mut s, issues, format): (Subscription, String, String),
) -> Result<Subscription> {
    s.issues = parse_issues(&issues)?;
    s.format = AlertFormat::parse(&format).ok_or_else(|| {
        StoreError::Corrupt(format!("alert subscription {} has format `{format}`", s.id))
    })?;
    Ok(s)
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
}
