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
//!
//! The subscriptions' queries are in `subscriptions`, the outbox's in
//! `outbox`; the records and the alert's body are here.
//!
//! [`Store::log_prediction_alerting`]: super::Store::log_prediction_alerting

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::predictions::IssuedForecast;
use super::rfc3339;
use crate::issue::Issue;

mod outbox;
mod subscriptions;
#[cfg(test)]
mod tests;

pub(super) use outbox::queue_alerts;

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

/// A percentage for people: "63 %".
fn percent(p: f64) -> String {
    format!("{:.0}\u{a0}%", p * 100.0)
}

/// The body of an alert for `p`, as `sub` asked for it.
pub fn alert_body(sub: &Subscription, p: &IssuedForecast) -> String {
    let station = crate::stations::by_location(p.location);
    let name = crate::stations::display_name(p.location);
    let chance = p.chance_of(sub.threshold_mm).unwrap_or(p.probability);
    let event = crate::amounts::event_of(sub.threshold_mm);
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
            "probability": chance,
            "chance_of": event,
            "headline_probability": p.probability,
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
                "{name}: {} chance of {event} of rain in the 24 hours to {}. Issued {} ({}), model version {}.",
                percent(chance),
                local(window_end),
                local(p.issued_at),
                p.issue.label(),
                p.version
            )
        }
    }
}
