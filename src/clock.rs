//! Time comes through a [`Clock`], so schedules and "what is today" can be
//! tested by saying "it is now Monday 09:00 UTC".

use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Today's date in UTC.
    fn today(&self) -> chrono::NaiveDate {
        self.now().date_naive()
    }

    /// Today in eastern Australia (AEST, UTC+10), which decides BOM's current
    /// month. Daylight saving is ignored: at worst the month turns an hour late.
    fn bom_today(&self) -> chrono::NaiveDate {
        (self.now() + chrono::Duration::hours(10)).date_naive()
    }
}

/// The real clock, optionally shifted so that it starts at a given instant
/// (`RAINCAST_CLOCK_START`, for demos and end-to-end tests on archived data)
/// and then runs at real speed.
pub struct SystemClock {
    offset: chrono::Duration,
}

impl SystemClock {
    pub fn new() -> Self {
        Self {
            offset: chrono::Duration::zero(),
        }
    }

    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: start - Utc::now(),
        }
    }

    /// From `RAINCAST_CLOCK_START` (RFC 3339) when set, else the real time.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("RAINCAST_CLOCK_START") {
            Ok(s) if !s.is_empty() => DateTime::parse_from_rfc3339(&s)
                .map(|d| Self::starting_at(d.with_timezone(&Utc)))
                .map_err(|e| format!("RAINCAST_CLOCK_START `{s}` is not an RFC 3339 time: {e}")),
            _ => Ok(Self::new()),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// A clock that moves only when told to.
pub struct FakeClock(Mutex<DateTime<Utc>>);

impl FakeClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|e| *e.into_inner())
    }
}
