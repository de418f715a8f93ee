//! A cron expression checked when the configuration loads, so that a bad
//! schedule stops start-up with the key named, and the scheduler gets a
//! parsed value it cannot fail on.

use std::fmt;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 6-field cron expression (`sec min hour day month weekday`), read in
/// UTC, parsed as tokio-cron-scheduler parses it (seconds required, a day
/// matches when the day of month or the weekday does).
#[derive(Clone)]
pub struct CronExpr {
    text: String,
    cron: Cron,
}

impl CronExpr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(text)
            .map_err(|e| {
                format!("`{text}` is not a cron expression with seconds (e.g. `0 30 8 * * *`): {e}")
            })?;
        Ok(Self {
            text: text.to_string(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first time strictly after `after` that it fires.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }
}

impl std::str::FromStr for CronExpr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.text)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for CronExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for CronExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_with_seconds_and_finds_the_next_time() {
        let c = CronExpr::parse("0 30 8 * * *").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        assert_eq!(
            c.next_after(at),
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 8, 30, 0).unwrap())
        );
        assert!(
            CronExpr::parse("30 8 * * *").is_err(),
            "seconds are required"
        );
        assert!(CronExpr::parse("every day").is_err());
    }
}
