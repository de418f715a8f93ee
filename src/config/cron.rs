//! A cron expression checked when the configuration loads, so that a bad
//! schedule stops start-up with the key named, and the scheduler gets a
//! parsed value it cannot fail on.

use std::fmt;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One or more 6-field cron expressions (`sec min hour day month
/// weekday`), separated by `;`, read in UTC and parsed as
/// tokio-cron-scheduler parses them (seconds required, a day matches when
/// the day of month or the weekday does). Several expressions fire at the
/// union of their times: the default scrape schedule needs times at two
/// different minutes past the hour.
#[derive(Clone)]
pub struct CronExpr {
    text: String,
    parts: Vec<(String, Cron)>,
}

impl CronExpr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parser = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build();
        let mut parts = Vec::new();
        for part in text.split(';').map(str::trim) {
            if part.is_empty() && text.contains(';') {
                return Err(format!("`{text}` has an empty expression between `;`"));
            }
            let cron = parser.parse(part).map_err(|e| {
                format!("`{part}` is not a cron expression with seconds (e.g. `0 30 8 * * *`): {e}")
            })?;
            parts.push((part.to_string(), cron));
        }
        Ok(Self {
            text: text.to_string(),
            parts,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Each `;`-separated expression, as tokio-cron-scheduler takes them.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().map(|(t, _)| t.as_str())
    }

    /// The first time strictly after `after` that it fires.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.parts
            .iter()
            .filter_map(|(_, c)| c.find_next_occurrence(&after, false).ok())
            .min()
    }

    /// The last time strictly before `before` that it fired.
    pub fn prev_before(&self, before: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.parts
            .iter()
            .filter_map(|(_, c)| c.find_previous_occurrence(&before, false).ok())
            .max()
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

    #[test]
    fn several_expressions_fire_at_the_union_of_their_times() {
        let c = CronExpr::parse("0 20 0,22 * * *; 0 50 5 * * *").unwrap();
        assert_eq!(
            c.parts().collect::<Vec<_>>(),
            ["0 20 0,22 * * *", "0 50 5 * * *"]
        );
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        assert_eq!(c.next_after(at(0, 20)), Some(at(5, 50)));
        assert_eq!(c.next_after(at(5, 50)), Some(at(22, 20)));
        assert_eq!(c.prev_before(at(22, 20)), Some(at(5, 50)));
        assert_eq!(c.prev_before(at(5, 50)), Some(at(0, 20)));
        let e = CronExpr::parse("0 20 0 * * *;").unwrap_err();
        assert!(e.contains("empty expression"), "{e}");
        let e = CronExpr::parse("0 20 0 * * *; 20 0 * * *").unwrap_err();
        assert!(e.contains("`20 0 * * *`"), "{e}");
    }
}
