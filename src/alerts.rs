//! Sending webhook alerts (decision record 0020). The store queues a
//! delivery in the transaction that logs the forecast crossing a
//! subscription; the [`Dispatcher`] (run by `serve`) claims due deliveries
//! from that outbox, POSTs each body signed with HMAC-SHA256, records every
//! attempt (HTTP status, latency, error) and schedules the next one with a
//! doubling backoff, up to `alerts.max_attempts`.
//!
//! Forecasting never waits for a receiver: the job only inserts rows. A
//! dead receiver costs at most `alerts.max_pending` waiting rows and one
//! attempt at a time. A restart loses nothing: the outbox is in SQLite, and
//! a delivery whose sender died is claimed again once its lease ends.
//! Delivery is at least once: a receiver that answered while the process
//! died may get it again, with the same `X-Raincast-Delivery` id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::task::JoinSet;

use crate::config::AlertsConfig;
use crate::store::{AlertFormat, Attempt, AttemptResult, Claimed, Store, rfc3339};

/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "x-raincast-signature";
/// The delivery's id (the same on every attempt: receivers dedupe by it).
pub const DELIVERY_HEADER: &str = "x-raincast-delivery";
/// What happened: `forecast.issued`.
pub const EVENT_HEADER: &str = "x-raincast-event";

/// How often the outbox is looked at for due deliveries.
const POLL: Duration = Duration::from_millis(500);

/// The signature of `body` sent at unix time `t`: HMAC-SHA256 keyed with the
/// subscription's secret over `"{t}.{body}"`, as the header's value.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// Check a signature header as a receiver would: the MAC matches (in
/// constant time) and `t` is within `tolerance` of `now`.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (now.timestamp() - t).unsigned_abs() > tolerance.as_secs() {
        return false;
    }
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.verify_slice(&v1).is_ok()
}

/// The wait after `failures` failed attempts: `base` doubled each time,
/// at most `max`.
pub fn backoff(failures: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

/// Sends the outbox's due deliveries.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    cfg: Arc<AlertsConfig>,
    client: reqwest::Client,
}

impl Dispatcher {
    pub fn new(store: Store, cfg: AlertsConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("raincast/", env!("CARGO_PKG_VERSION"), " (alerts)"))
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .connect_timeout(Duration::from_secs(cfg.timeout_secs))
            // A webhook answers where it was told to; a redirect is a failure.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            store,
            cfg: Arc::new(cfg),
            client,
        })
    }

    /// Run until the task is dropped: claim what is due (up to
    /// `alerts.concurrency` in flight), send, record, repeat.
    pub async fn run(self) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        loop {
            let room = self.cfg.concurrency.saturating_sub(in_flight.len());
            if room > 0 {
                match self.claim(room).await {
                    Ok(claimed) => {
                        for c in claimed {
                            let me = self.clone();
                            in_flight.spawn(async move { me.send(c).await });
                        }
                    }
                    Err(e) => tracing::warn!("alerts: reading the outbox: {e}"),
                }
            }
            if let Ok(n) = self.pending().await {
                metrics::gauge!("raincast_alert_deliveries_pending").set(n as f64);
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
    }

    async fn pending(&self) -> anyhow::Result<u64> {
        let store = self.store.clone();
        Ok(crate::runtime::spawn_blocking(move || store.pending_deliveries()).await??)
    }

    async fn claim(&self, room: usize) -> anyhow::Result<Vec<Claimed>> {
        let store = self.store.clone();
        let now = Utc::now();
        // Held past one attempt's timeout: a sender that died leaves it to
        // be claimed again after this.
        let lease = now + chrono::Duration::seconds(self.cfg.timeout_secs as i64 + 10);
        Ok(
            crate::runtime::spawn_blocking(move || store.claim_deliveries(now, lease, room))
                .await??,
        )
    }

    /// One attempt at `c`, recorded.
    async fn send(&self, c: Claimed) {
        let n = c.attempts + 1;
        let at = Utc::now();
        let body = c.body.clone().into_bytes();
        let mut req = self
            .client
            .post(&c.url)
            .header(reqwest::header::CONTENT_TYPE, c.format.content_type())
            .header(
                SIGNATURE_HEADER,
                signature(&c.secret, at.timestamp(), &body),
            )
            .header(DELIVERY_HEADER, c.id.to_string())
            .header(EVENT_HEADER, "forecast.issued");
        if c.format == AlertFormat::Text {
            // ntfy shows this as the notification's title.
            req = req.header(
                "title",
                format!(
                    "Rain {:.0} % at {}",
                    c.probability * 100.0,
                    crate::stations::display_name(&c.location)
                ),
            );
        }
        let started = Instant::now();
        let result = req.body(body).send().await;
        let (http_status, error) = match result {
            Ok(resp) => {
                let status = resp.status();
                // Read (a little of) the answer so the connection is reusable.
                let _ = tokio::time::timeout(Duration::from_secs(1), resp.bytes()).await;
                if status.is_success() {
                    (Some(status.as_u16()), None)
                } else {
                    (Some(status.as_u16()), Some(format!("HTTP {status}")))
                }
            }
            Err(e) if e.is_timeout() => (
                None,
                Some(format!(
                    "no answer within {} s (alerts.timeout_secs)",
                    self.cfg.timeout_secs
                )),
            ),
            Err(e) if e.is_connect() => (None, Some(format!("cannot connect: {}", root(&e)))),
            Err(e) => (None, Some(root(&e))),
        };
        let latency = started.elapsed();
        metrics::histogram!("raincast_alert_delivery_duration_seconds")
            .record(latency.as_secs_f64());
        let then = if error.is_none() {
            AttemptResult::Delivered
        } else if n - c.attempts_before >= self.cfg.max_attempts {
            AttemptResult::GiveUp
        } else {
            let wait = backoff(
                n,
                Duration::from_secs(self.cfg.backoff_secs),
                Duration::from_secs(self.cfg.max_backoff_secs),
            );
            AttemptResult::RetryAt(
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
            )
        };
        let outcome = match then {
            AttemptResult::Delivered => "delivered",
            AttemptResult::RetryAt(_) => "retry",
            AttemptResult::GiveUp => "failed",
        };
        metrics::counter!("raincast_alert_deliveries_total", "outcome" => outcome).increment(1);
        match &error {
            None => tracing::info!(
                delivery = c.id,
                subscription = c.subscription_id,
                attempt = n,
                latency_ms = latency.as_millis() as u64,
                "alert delivered"
            ),
            Some(e) => tracing::warn!(
                delivery = c.id,
                subscription = c.subscription_id,
                attempt = n,
                outcome,
                "alert attempt failed: {e}"
            ),
        }
        let attempt = Attempt {
            n,
            at: rfc3339::text(&at),
            http_status,
            latency_ms: latency.as_millis() as u64,
            error,
        };
        let store = self.store.clone();
        let id = c.id;
        match crate::runtime::spawn_blocking(move || store.record_attempt(id, &attempt, then)).await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(delivery = id, "alerts: recording an attempt: {e}"),
            Err(e) => tracing::error!(delivery = id, "alerts: recording an attempt: {e}"),
        }
    }
}

/// The innermost cause of an error, which says what went wrong.
fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_secret_only() {
        let body = br#"{"probability":0.61}"#;
        let now = Utc::now();
        let h = signature("0123456789abcdef", now.timestamp(), body);
        assert!(h.starts_with(&format!("t={},v1=", now.timestamp())));
        let day = Duration::from_secs(300);
        assert!(verify("0123456789abcdef", &h, body, now, day));
        assert!(!verify("0123456789abcdeX", &h, body, now, day));
        assert!(!verify("0123456789abcdef", &h, b"{}", now, day));
        let late = now + chrono::Duration::seconds(301);
        assert!(!verify("0123456789abcdef", &h, body, late, day), "too old");
        assert!(!verify("0123456789abcdef", "v1=00", body, now, day));
    }

    /// RFC 4231 test case 2: the MAC is standard HMAC-SHA256.
    #[test]
    fn the_mac_is_standard_hmac_sha256() {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Ours is that MAC over "{t}.{body}".
        let ours = mac("Jefe", 12, b"x");
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        m.update(b"12.x");
        assert_eq!(ours, m.finalize().into_bytes().to_vec());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (b, m) = (Duration::from_secs(30), Duration::from_secs(3600));
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n, b, m).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(200, b, m), m);
    }
}
