//! Who may try a password, and when: the login throttle (per client
//! address, per network, a global cost budget, one hash at a time) and the
//! client's address behind trusted proxies. Nothing here hashes; it only
//! admits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::web::AppState;

/// Attempts from addresses that have failed, waiting for the hash that
/// runs, at most; more get 429.
const LOGIN_QUEUE: usize = 4;
/// Attempts from addresses that never failed, waiting, at most. Each
/// network admits few at once (below), so this fills only under a flood
/// from many fresh networks.
const CLEAN_QUEUE: usize = 32;
/// Attempts in flight from one network (/24 or /64) that has not failed
/// more than [`NETWORK_GRACE`] times: an office behind one NAT may log in
/// side by side; a flood from one network is cut to this many.
const NETWORK_IN_FLIGHT: u32 = 4;
/// Failures a network may have (typos) before its attempts are spaced out.
const NETWORK_GRACE: u32 = 3;
/// The global cost budget: password checks for addresses that have failed
/// before, from everywhere together: a burst of this many…
const BUDGET_BURST: f64 = 20.0;
/// …refilled at this many a second (30 a minute). An address that never
/// failed is not charged, so a flood never locks out a clean admin.
const BUDGET_PER_SEC: f64 = 0.5;
/// Records kept of each kind (addresses, networks), at most; the oldest
/// quiet ones go first.
const TRACKED: usize = 10_000;
/// A record with no failure for this long is forgotten.
const FORGET: Duration = Duration::from_secs(900);

/// The failures of one address or one network.
struct Record {
    failures: u32,
    last: Instant,
    /// No attempt from here before this instant.
    next: Instant,
    /// Attempts from here being checked now.
    in_flight: u32,
}

impl Record {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            last: now,
            next: now,
            in_flight: 0,
        }
    }
}

/// Why a login attempt was refused before any hashing (429).
#[derive(Debug)]
pub(super) enum Refused {
    /// This address or its network failed recently, or has attempts in
    /// flight.
    Throttled(Duration),
    /// The budget for addresses that failed is spent, or the hashing queue
    /// is full.
    Busy(Duration),
}

/// The network an address belongs to for throttling: its /24 (IPv4) or
/// /64 (IPv6). An attacker with many addresses usually has them in a few
/// such networks.
pub(super) fn network(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V4(a) => {
            let [x, y, z, _] = a.octets();
            IpAddr::from([x, y, z, 0])
        }
        IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(a) & !((1u128 << 64) - 1),
        )),
    }
}

/// A token bucket: the global cost budget of checks for failed addresses.
struct Budget {
    tokens: f64,
    at: Instant,
}

impl Budget {
    /// Take a token, or say how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let refill = now.duration_since(self.at).as_secs_f64() * BUDGET_PER_SEC;
        self.tokens = (self.tokens + refill).min(BUDGET_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / BUDGET_PER_SEC,
            ))
        }
    }
}

struct State {
    addresses: HashMap<IpAddr, Record>,
    networks: HashMap<IpAddr, Record>,
    budget: Budget,
}

/// Drop the records that are quiet and old; `false` if still full.
fn prune(map: &mut HashMap<IpAddr, Record>, now: Instant) -> bool {
    if map.len() >= TRACKED {
        map.retain(|_, r| r.in_flight > 0 || now.duration_since(r.last) < FORGET);
    }
    map.len() < TRACKED
}

/// Admission to the password check. Argon2 needs about 19 MiB per hash, so
/// at most one runs at a time (a semaphore of one permit) with short
/// queues. The attempts themselves are throttled, cheaply and before any
/// hashing:
/// - an address has one attempt in flight and waits after a failure (0.5 s
///   doubling to 8 s);
/// - a network (/24, /64) has at most four in flight, and after more than
///   three failures its attempts are spaced out the same way, so that many
///   addresses in one network count as one;
/// - addresses that have failed draw on a global budget (a burst of 20,
///   then 30 a minute); an address that never failed is not charged, so a
///   flood from everywhere never locks out the real admin.
pub(super) struct LoginGate {
    hashing: tokio::sync::Semaphore,
    queued_dirty: std::sync::atomic::AtomicUsize,
    queued_clean: std::sync::atomic::AtomicUsize,
    state: Mutex<State>,
}

/// An admitted attempt: releases its marks however it ends, and records
/// its outcome (`ok`).
pub(super) struct Attempt<'a> {
    gate: &'a LoginGate,
    addr: IpAddr,
    /// The address had no failure on record when admitted.
    pub(super) clean: bool,
    pub(super) ok: Option<bool>,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut st = self.gate.lock();
        if let Some(n) = st.networks.get_mut(&network(self.addr)) {
            n.in_flight = n.in_flight.saturating_sub(1);
            if self.ok == Some(false) {
                n.failures = n.failures.saturating_add(1);
                n.last = now;
            }
        }
        match self.ok {
            Some(true) => {
                st.addresses.remove(&self.addr);
            }
            ok => {
                if let Some(t) = st.addresses.get_mut(&self.addr) {
                    t.in_flight = t.in_flight.saturating_sub(1);
                    if ok == Some(false) {
                        t.failures = t.failures.saturating_add(1);
                        t.last = now;
                        t.next = now + LoginGate::delay(t.failures);
                    }
                }
            }
        }
    }
}

impl LoginGate {
    pub(super) fn new() -> Self {
        Self {
            hashing: tokio::sync::Semaphore::new(1),
            queued_dirty: std::sync::atomic::AtomicUsize::new(0),
            queued_clean: std::sync::atomic::AtomicUsize::new(0),
            state: Mutex::new(State {
                addresses: HashMap::new(),
                networks: HashMap::new(),
                budget: Budget {
                    tokens: BUDGET_BURST,
                    at: Instant::now(),
                },
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wait after `n` failures in a row: 0.5 s doubling up to 8 s.
    fn delay(n: u32) -> Duration {
        match n {
            0 => Duration::ZERO,
            n => Duration::from_millis(500 * (1u64 << (n - 1).min(4))),
        }
    }

    /// Admit an attempt from `addr`, or say why not. Cheap: no hashing.
    pub(super) fn admit(&self, addr: IpAddr) -> Result<Attempt<'_>, Refused> {
        let addr = addr.to_canonical();
        let now = Instant::now();
        let mut guard = self.lock();
        let st = &mut *guard;
        if !prune(&mut st.addresses, now) || !prune(&mut st.networks, now) {
            return Err(Refused::Busy(Duration::from_secs(10)));
        }
        let a = st.addresses.entry(addr).or_insert_with(|| Record::new(now));
        if a.in_flight == 0 && now.duration_since(a.last) > FORGET {
            (a.failures, a.next) = (0, now);
        }
        if a.in_flight > 0 {
            return Err(Refused::Throttled(LoginGate::delay(a.failures.max(1))));
        }
        if now < a.next {
            return Err(Refused::Throttled(a.next - now));
        }
        let clean = a.failures == 0;
        let n = st
            .networks
            .entry(network(addr))
            .or_insert_with(|| Record::new(now));
        if n.in_flight == 0 && now.duration_since(n.last) > FORGET {
            (n.failures, n.next) = (0, now);
        }
        let suspect = n.failures > NETWORK_GRACE;
        let cap = if suspect { 1 } else { NETWORK_IN_FLIGHT };
        if n.in_flight >= cap {
            return Err(Refused::Throttled(Duration::from_secs(1)));
        }
        if suspect && now < n.next {
            return Err(Refused::Throttled(n.next - now));
        }
        if !clean {
            st.budget.take(now).map_err(Refused::Busy)?;
        }
        if suspect {
            n.next = now + LoginGate::delay(n.failures - NETWORK_GRACE);
        }
        n.in_flight += 1;
        if let Some(a) = st.addresses.get_mut(&addr) {
            a.in_flight += 1;
        }
        Ok(Attempt {
            gate: self,
            addr,
            clean,
            ok: None,
        })
    }

    /// Wait for the hashing permit, unless the queue for this kind of
    /// attempt (from a `clean` address or not) is full.
    pub(super) async fn permit(
        &self,
        clean: bool,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, Refused> {
        use std::sync::atomic::Ordering;
        if let Ok(p) = self.hashing.try_acquire() {
            return Ok(p);
        }
        let (queued, cap) = if clean {
            (&self.queued_clean, CLEAN_QUEUE)
        } else {
            (&self.queued_dirty, LOGIN_QUEUE)
        };
        if queued.fetch_add(1, Ordering::AcqRel) >= cap {
            queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Busy(Duration::from_secs(2)));
        }
        // Leave the queue however the wait ends (a client that gave up
        // drops this future).
        struct Leave<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _leave = Leave(queued);
        self.hashing
            .acquire()
            .await
            .map_err(|_| Refused::Busy(Duration::from_secs(2)))
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

    fn fail(gate: &LoginGate, addr: IpAddr) {
        let mut a = gate.admit(addr).expect("admitted");
        a.ok = Some(false);
    }

    #[test]
    fn networks_are_24s_and_64s() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(network(ip("::ffff:203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(network(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn many_addresses_in_one_network_count_as_one() {
        let gate = LoginGate::new();
        let attacker = |i: u8| IpAddr::from([198, 51, 100, i]);
        // Four in flight at once from one network, not a fifth.
        let held: Vec<_> = (1..=4)
            .map(|i| gate.admit(attacker(i)).ok().unwrap())
            .collect();
        assert!(matches!(
            gate.admit(attacker(5)),
            Err(Refused::Throttled(_))
        ));
        drop(held);
        // A few typos are forgiven; past them the network's attempts are
        // spaced out, whichever of its addresses they come from.
        for i in 10..10 + NETWORK_GRACE as u8 + 1 {
            fail(&gate, attacker(i));
        }
        fail(&gate, attacker(20));
        assert!(matches!(
            gate.admit(attacker(21)),
            Err(Refused::Throttled(_))
        ));
        assert!(matches!(
            gate.admit(attacker(22)),
            Err(Refused::Throttled(_))
        ));
        // Another network is untouched.
        let clean = gate.admit(IpAddr::from([192, 0, 2, 1])).ok().unwrap();
        assert!(clean.clean);
    }

    #[test]
    fn the_global_budget_charges_only_addresses_that_failed() {
        let gate = LoginGate::new();
        gate.lock().budget.tokens = 0.0;
        // A fresh address is admitted with the budget spent.
        let mut first = gate.admit(IpAddr::from([192, 0, 2, 1])).ok().unwrap();
        assert!(first.clean);
        first.ok = Some(false);
        drop(first);
        // Once it has failed (and waited), it draws on the spent budget.
        gate.lock()
            .addresses
            .get_mut(&IpAddr::from([192, 0, 2, 1]))
            .unwrap()
            .next = Instant::now();
        assert!(matches!(
            gate.admit(IpAddr::from([192, 0, 2, 1])),
            Err(Refused::Busy(w)) if w > Duration::ZERO && w <= Duration::from_secs(2)
        ));
        // Every other clean address still gets through.
        for i in 1..=50u8 {
            let a = gate.admit(IpAddr::from([10, i, 0, 1])).ok().unwrap();
            assert!(a.clean);
        }
    }

    #[tokio::test]
    async fn one_hash_runs_four_wait_and_the_next_is_refused() {
        let gate = std::sync::Arc::new(LoginGate::new());
        let running = gate.permit(false).await.ok().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiters: Vec<_> = (0..LOGIN_QUEUE)
            .map(|i| {
                let (gate, tx) = (gate.clone(), tx.clone());
                tokio::spawn(async move {
                    let p = gate.permit(false).await;
                    tx.send((i, p.is_ok())).unwrap();
                    // Hold the permit briefly, as a hash would.
                    tokio::task::yield_now().await;
                })
            })
            .collect();
        while gate.queued_dirty.load(std::sync::atomic::Ordering::Acquire) < LOGIN_QUEUE {
            tokio::task::yield_now().await;
        }
        assert!(
            matches!(
                tokio::time::timeout(Duration::from_secs(5), gate.permit(false)).await,
                Ok(Err(Refused::Busy(_)))
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
        assert_eq!(
            gate.queued_dirty.load(std::sync::atomic::Ordering::Acquire),
            0
        );
        assert!(
            gate.permit(false).await.is_ok(),
            "free again once the queue drains"
        );
        // Clean addresses have a queue of their own, which a full queue of
        // failed ones does not block.
        let _running = gate.permit(false).await.ok().unwrap();
        for _ in 0..LOGIN_QUEUE {
            gate.queued_dirty
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        assert!(matches!(
            tokio::time::timeout(Duration::from_millis(50), gate.permit(false)).await,
            Ok(Err(Refused::Busy(_)))
        ));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), gate.permit(true))
                .await
                .is_err(),
            "a clean attempt waits in its own queue"
        );
    }
}
