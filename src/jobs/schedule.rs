//! Cron schedules, evaluated in UTC against an injectable clock.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Parse a 6-field cron expression (`sec min hour day month weekday`), UTC.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| {
            format!("`{expr}` is not a cron expression with seconds (e.g. `0 30 8 * * *`): {e}")
        })
}

/// The first time strictly after `after` that `cron` fires.
pub fn next_after(cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after, false).ok()
}
