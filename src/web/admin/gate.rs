//! Who may try a password, and when: the login throttle (per client
//! address, a global cap, one hash at a time) and the client's address
//! behind trusted proxies. Nothing here hashes; it only admits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::web::AppState;

/// Password hashes waiting for the one running, at most; more get 429.
const LOGIN_QUEUE: usize = 4;
/// Failed logins from all addresses together per minute, at most: the
/// backstop against an attack spread over many addresses.
const GLOBAL_FAILURES_PER_MINUTE: usize = 60;
/// Per-address failure records kept, at most (the oldest go first).
const TRACKED_ADDRESSES: usize = 10_000;

/// Failed logins of one client address.
struct Throttle {
    failures: u32,
    last: Instant,
    /// No attempt from this address before this instant.
    next: Instant,
    /// An attempt from this address is being checked now.
    busy: bool,
}

/// Why a login attempt was refused before any hashing (429).
pub(super) enum Refused {
    /// This address failed recently, or has an attempt in flight.
    Throttled(Duration),
    /// Too many failures from everywhere, or the hashing queue is full.
    Busy,
}

/// Admission to the password check. Argon2 needs about 19 MiB per hash, so
/// at most one runs at a time (a semaphore of one permit) with a short queue;
/// each client address has one attempt in flight at most and waits after a
/// failure (0.5 s doubling to 8 s), and failures from all addresses together
/// are capped per minute. The cheap checks come first, so a flood costs no
/// hashing, and one attacker's address never slows the admin's.
pub(super) struct LoginGate {
    hashing: tokio::sync::Semaphore,
    queued: std::sync::atomic::AtomicUsize,
    addresses: Mutex<HashMap<std::net::IpAddr, Throttle>>,
    recent_failures: Mutex<std::collections::VecDeque<Instant>>,
}

/// Releases an address's in-flight mark however the attempt ends.
pub(super) struct Attempt<'a> {
    gate: &'a LoginGate,
    addr: std::net::IpAddr,
    pub(super) ok: Option<bool>,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        if let Ok(mut a) = self.gate.addresses.lock() {
            match self.ok {
                Some(true) => {
                    a.remove(&self.addr);
                }
                ok => {
                    if let Some(t) = a.get_mut(&self.addr) {
                        t.busy = false;
                        if ok == Some(false) {
                            t.failures = t.failures.saturating_add(1);
                            t.last = now;
                            t.next = now + LoginGate::delay(t.failures);
                        }
                    }
                }
            }
        }
        if self.ok == Some(false)
            && let Ok(mut r) = self.gate.recent_failures.lock()
        {
            r.push_back(now);
        }
    }
}

impl LoginGate {
    pub(super) fn new() -> Self {
        Self {
            hashing: tokio::sync::Semaphore::new(1),
            queued: std::sync::atomic::AtomicUsize::new(0),
            addresses: Mutex::new(HashMap::new()),
            recent_failures: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The wait after `n` failures in a row: 0.5 s doubling up to 8 s.
    fn delay(n: u32) -> Duration {
        match n {
            0 => Duration::ZERO,
            n => Duration::from_millis(500 * (1u64 << (n - 1).min(4))),
        }
    }

    /// Admit an attempt from `addr`, or say why not. Cheap: no hashing.
    pub(super) fn admit(&self, addr: std::net::IpAddr) -> Result<Attempt<'_>, Refused> {
        let now = Instant::now();
        {
            let mut r = self
                .recent_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            while r
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
            {
                r.pop_front();
            }
            if r.len() >= GLOBAL_FAILURES_PER_MINUTE {
                return Err(Refused::Busy);
            }
        }
        let mut a = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        if a.len() >= TRACKED_ADDRESSES {
            a.retain(|_, t| t.busy || now.duration_since(t.last) < Duration::from_secs(900));
            if a.len() >= TRACKED_ADDRESSES {
                return Err(Refused::Busy);
            }
        }
        let t = a.entry(addr).or_insert(Throttle {
            failures: 0,
            last: now,
            next: now,
            busy: false,
        });
        if now.duration_since(t.last) > Duration::from_secs(900) {
            (t.failures, t.next) = (0, now);
        }
        if t.busy {
            return Err(Refused::Throttled(LoginGate::delay(t.failures.max(1))));
        }
        if now < t.next {
            return Err(Refused::Throttled(t.next - now));
        }
        t.busy = true;
        Ok(Attempt {
            gate: self,
            addr,
            ok: None,
        })
    }

    /// Wait for the hashing permit, unless the queue is full.
    pub(super) async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Refused> {
        use std::sync::atomic::Ordering;
        if let Ok(p) = self.hashing.try_acquire() {
            return Ok(p);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= LOGIN_QUEUE {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Busy);
        }
        let p = self.hashing.acquire().await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        p.map_err(|_| Refused::Busy)
    }
}

/// The client's address: the socket peer's, or, when the peer is one of
/// `server.trusted_proxies`, the nearest address in `X-Forwarded-For` that is
/// not a trusted proxy itself. Without a known peer (a request handed to the
/// router in-process) it is the unspecified address.
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    pub fn resolve(
        peer: Option<std::net::IpAddr>,
        headers: &HeaderMap,
        trusted: &[std::net::IpAddr],
    ) -> std::net::IpAddr {
        let peer = peer.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        if !trusted.contains(&peer) {
            return peer;
        }
        let hops: Vec<std::net::IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|h| h.trim().parse().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer)
    }
}

impl<S> FromRequestParts<S> for ClientAddr
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(Self::resolve(
            peer,
            &parts.headers,
            &app.config.server.trusted_proxies(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxy = [ip("10.0.0.1")];
        let h = xff("203.0.113.9, 198.51.100.7");
        // From an untrusted peer the header is the client's own claim: ignored.
        assert_eq!(
            ClientAddr::resolve(Some(ip("192.0.2.5")), &h, &proxy),
            ip("192.0.2.5")
        );
        assert_eq!(
            ClientAddr::resolve(Some(ip("192.0.2.5")), &h, &[]),
            ip("192.0.2.5")
        );
        // Behind the proxy: the nearest hop it saw, not the spoofable first one.
        assert_eq!(
            ClientAddr::resolve(Some(ip("10.0.0.1")), &h, &proxy),
            ip("198.51.100.7")
        );
        // Chained trusted proxies are skipped.
        let two = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            ClientAddr::resolve(Some(ip("10.0.0.1")), &xff("198.51.100.7, 10.0.0.2"), &two),
            ip("198.51.100.7")
        );
        // A proxy that sent no (or a garbled) header: the proxy itself.
        assert_eq!(
            ClientAddr::resolve(Some(ip("10.0.0.1")), &HeaderMap::new(), &proxy),
            ip("10.0.0.1")
        );
        assert_eq!(
            ClientAddr::resolve(Some(ip("10.0.0.1")), &xff("junk"), &proxy),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn one_address_has_one_attempt_in_flight_and_waits_after_a_failure() {
        let gate = LoginGate::new();
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut first = gate.admit(a).ok().unwrap();
        assert!(matches!(gate.admit(a), Err(Refused::Throttled(_))));
        // Another address is not held up.
        drop(gate.admit(b).ok().unwrap());
        first.ok = Some(false);
        drop(first);
        match gate.admit(a) {
            Err(Refused::Throttled(w)) => assert!(w <= Duration::from_millis(500), "{w:?}"),
            _ => panic!("a failure makes the address wait"),
        }
        assert_eq!(LoginGate::delay(1), Duration::from_millis(500));
        assert_eq!(LoginGate::delay(5), Duration::from_secs(8));
        assert_eq!(LoginGate::delay(50), Duration::from_secs(8));
    }

    #[tokio::test]
    async fn one_hash_runs_four_wait_and_the_next_is_refused() {
        let gate = std::sync::Arc::new(LoginGate::new());
        let running = gate.permit().await.ok().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiters: Vec<_> = (0..LOGIN_QUEUE)
            .map(|i| {
                let (gate, tx) = (gate.clone(), tx.clone());
                tokio::spawn(async move {
                    let p = gate.permit().await;
                    tx.send((i, p.is_ok())).unwrap();
                    // Hold the permit briefly, as a hash would.
                    tokio::task::yield_now().await;
                })
            })
            .collect();
        while gate.queued.load(std::sync::atomic::Ordering::Acquire) < LOGIN_QUEUE {
            tokio::task::yield_now().await;
        }
        assert!(
            matches!(
                tokio::time::timeout(Duration::from_secs(5), gate.permit()).await,
                Ok(Err(Refused::Busy))
            ),
            "a fifth waiter is refused"
        );
        drop(running);
        for w in waiters {
            w.await.unwrap();
        }
        drop(tx);
        let mut admitted = Vec::new();
        while let Some((i, ok)) = rx.recv().await {
            assert!(ok, "waiter {i} got the permit");
            admitted.push(i);
        }
        assert_eq!(admitted.len(), LOGIN_QUEUE);
        assert_eq!(gate.queued.load(std::sync::atomic::Ordering::Acquire), 0);
        assert!(
            gate.permit().await.is_ok(),
            "free again once the queue drains"
        );
    }
}
