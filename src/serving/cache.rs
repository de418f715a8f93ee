//! A small bounded cache of forecasts read from the database (hindcasts,
//! and live forecasts while the board is behind).
//!
//! Every entry lives [`TTL`] at most and only serves the model that made it,
//! so the order entries were put in is also the order they expire in: a
//! queue of keys in insertion order is all the eviction needs. When the
//! cache is full, expired entries go first, then the oldest: it never
//! empties itself, and a burst of distinct dates cannot grow it past
//! [`MAX_ENTRIES`]. (An LRU crate would add a dependency for an ordering
//! that the short lifetime already gives.)

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use super::forecast::{Forecast, ForecastKind};

/// How long a computed forecast is reused.
pub const TTL: Duration = Duration::from_secs(2);

/// Most forecasts kept in memory.
pub const MAX_ENTRIES: usize = 10_000;

/// (station, observation date, today, kind): `stale` and the data's age
/// depend on today, so a new day never reuses yesterday's answer; a live
/// forecast and a hindcast of the same day differ in `kind`.
pub type Key = (&'static str, NaiveDate, NaiveDate, ForecastKind);

#[derive(Default)]
pub struct HindcastCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keys in insertion order, with the sequence number they were put
    /// with (a key put again leaves its older position behind, skipped).
    order: VecDeque<(Key, u64)>,
    next_seq: u64,
}

struct Entry {
    at: Instant,
    seq: u64,
    forecast: Arc<Forecast>,
}

impl HindcastCache {
    /// The forecast kept for `key`, if it is younger than [`TTL`] and was
    /// made by model `version`.
    pub fn get(&self, key: Key, version: i64) -> Option<Arc<Forecast>> {
        let inner = self.inner.lock().ok()?;
        let e = inner.entries.get(&key)?;
        (e.at.elapsed() < TTL && e.forecast.model_version == version).then(|| e.forecast.clone())
    }

    /// Keep `forecast` for `key`, evicting expired entries and then the
    /// oldest ones if the cache is full.
    pub fn put(&self, key: Key, forecast: Arc<Forecast>) {
        self.put_at(key, forecast, Instant::now());
    }

    fn put_at(&self, key: Key, forecast: Arc<Forecast>, now: Instant) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.entries.insert(
            key,
            Entry {
                at: now,
                seq,
                forecast,
            },
        );
        inner.order.push_back((key, seq));
        while let Some(&(old, old_seq)) = inner.order.front() {
            let current = inner.entries.get(&old).is_some_and(|e| e.seq == old_seq);
            let expired = inner
                .entries
                .get(&old)
                .is_some_and(|e| now.saturating_duration_since(e.at) >= TTL);
            let full = inner.entries.len() > MAX_ENTRIES || inner.order.len() > 2 * MAX_ENTRIES;
            if current && !expired && !full {
                break;
            }
            inner.order.pop_front();
            if current {
                inner.entries.remove(&old);
            }
        }
    }

    /// How many forecasts are kept.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(version: i64) -> Arc<Forecast> {
        let d = NaiveDate::from_ymd_opt(2017, 6, 1).unwrap();
        Arc::new(Forecast {
            amounts: None,
            at_least: None,
            location: "Sydney".into(),
            display_name: "Sydney".into(),
            observation_date: d,
            forecast_date: d.succ_opt().unwrap(),
            issue: crate::issue::Issue::Afternoon,
            issued_at: chrono::Utc::now(),
            window_start: chrono::Utc::now(),
            window_end: chrono::Utc::now(),
            probability: 0.5,
            model_probability: 0.5,
            rain: true,
            threshold: 0.4,
            model_version: version,
            stale: false,
            data_age_days: 3,
            kind: ForecastKind::Hindcast,
        })
    }

    fn key(day: u64) -> Key {
        let first = NaiveDate::from_ymd_opt(2007, 1, 1).unwrap();
        let today = NaiveDate::from_ymd_opt(2017, 6, 26).unwrap();
        (
            "Sydney",
            first + chrono::Days::new(day),
            today,
            ForecastKind::Hindcast,
        )
    }

    /// Full of live entries, the cache drops only the oldest one per new
    /// entry: it never empties itself (it used to, at 10,000 entries).
    #[test]
    fn a_full_cache_evicts_the_oldest_not_everything() {
        let cache = HindcastCache::default();
        let now = Instant::now();
        for day in 0..MAX_ENTRIES as u64 + 50 {
            cache.put_at(key(day), forecast(1), now);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.get(key(49), 1).is_none(), "the oldest went");
        assert!(cache.get(key(50), 1).is_some());
        assert!(cache.get(key(MAX_ENTRIES as u64 + 49), 1).is_some());
    }

    #[test]
    fn expired_entries_go_first_and_answer_nothing() {
        let cache = HindcastCache::default();
        let long_ago = Instant::now() - TTL - Duration::from_millis(10);
        cache.put_at(key(0), forecast(1), long_ago);
        assert!(cache.get(key(0), 1).is_none(), "expired");
        cache.put(key(1), forecast(1));
        assert_eq!(cache.len(), 1, "the expired entry was dropped");
        assert!(cache.get(key(1), 1).is_some());
        assert!(cache.get(key(1), 2).is_none(), "another model's forecast");
    }

    /// A key put again is one entry, and its old queue position does not
    /// evict the new value.
    #[test]
    fn a_key_put_again_keeps_its_newest_value() {
        let cache = HindcastCache::default();
        let now = Instant::now();
        cache.put_at(key(0), forecast(1), now);
        cache.put_at(key(0), forecast(2), now);
        assert_eq!(cache.len(), 1);
        for day in 1..MAX_ENTRIES as u64 {
            cache.put_at(key(day), forecast(1), now);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.get(key(0), 2).is_some());
    }
}
