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

use super::JobKind;
use crate::config::ScheduleConfig;

/// Which jobs are due, given the time of the last check. Ticks missed while
/// the process was down or asleep fire once, not once per tick.
pub struct Schedule {
    entries: Vec<(JobKind, Cron)>,
    last_check: DateTime<Utc>,
}

impl Schedule {
    pub fn new(cfg: &ScheduleConfig, now: DateTime<Utc>) -> Result<Self, String> {
        let mut entries = Vec::new();
        for (kind, on, expr) in [
            (JobKind::Scrape, cfg.scrape_enabled, &cfg.scrape),
            (JobKind::Train, cfg.train_enabled, &cfg.train),
            (JobKind::Refresh, cfg.refresh_enabled, &cfg.refresh),
        ] {
            if on {
                entries.push((kind, parse_cron(expr)?));
            }
        }
        Ok(Self {
            entries,
            last_check: now,
        })
    }

    /// When `kind` next fires after `now`, if it is scheduled at all.
    pub fn next_of(&self, kind: JobKind, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, cron)| next_after(cron, now))
    }

    /// Jobs with an occurrence in `(last check, now]`; `now` becomes the last check.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<JobKind> {
        let since = self.last_check;
        if now <= since {
            return Vec::new();
        }
        self.last_check = now;
        self.entries
            .iter()
            .filter(|(_, cron)| next_after(cron, since).is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect()
    }

    /// The next time anything fires.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.entries
            .iter()
            .filter_map(|(_, cron)| next_after(cron, self.last_check))
            .min()
    }
}

/// Jobs to run once at start: a scrape when the last good one is over a day
/// old (or there was none), a training when the last is over a week old.
pub fn catch_up(
    cfg: &ScheduleConfig,
    last_scrape: Option<DateTime<Utc>>,
    last_train: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<JobKind> {
    let mut out = Vec::new();
    if !cfg.catch_up {
        return out;
    }
    let older = |t: Option<DateTime<Utc>>, days: i64| {
        t.is_none_or(|t| now - t > chrono::Duration::days(days))
    };
    if cfg.scrape_enabled && older(last_scrape, 1) {
        out.push(JobKind::Scrape);
    }
    if cfg.train_enabled && older(last_train, 7) {
        out.push(JobKind::Train);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn daily_and_weekly_fire_when_due_and_not_otherwise() {
        let cfg = ScheduleConfig::default(); // scrape 08:30 daily, train Sunday 17:00
        // Monday 2026-11-23 09:00 UTC.
        let mut s = Schedule::new(&cfg, at(2026, 11, 23, 9, 0)).unwrap();
        assert!(s.due(at(2026, 11, 23, 12, 0)).is_empty());
        assert_eq!(s.next_wake(), Some(at(2026, 11, 24, 8, 30)));
        assert!(s.due(at(2026, 11, 24, 8, 29)).is_empty());
        assert_eq!(s.due(at(2026, 11, 24, 8, 30)), vec![JobKind::Scrape]);
        assert!(s.due(at(2026, 11, 24, 8, 31)).is_empty(), "fires once");
        // Sunday 2026-11-29: scrape in the morning, training at 17:00.
        assert_eq!(s.due(at(2026, 11, 29, 9, 0)), vec![JobKind::Scrape]);
        assert!(s.due(at(2026, 11, 29, 16, 59)).is_empty());
        assert_eq!(s.due(at(2026, 11, 29, 17, 0)), vec![JobKind::Train]);
        // A week asleep: each kind fires once, not seven times.
        assert_eq!(
            s.due(at(2026, 12, 7, 0, 0)),
            vec![JobKind::Scrape, JobKind::Train]
        );
    }

    #[test]
    fn disabled_jobs_never_fire() {
        let cfg = ScheduleConfig {
            scrape_enabled: false,
            ..ScheduleConfig::default()
        };
        let mut s = Schedule::new(&cfg, at(2026, 11, 23, 0, 0)).unwrap();
        assert_eq!(s.due(at(2026, 12, 1, 0, 0)), vec![JobKind::Train]);
    }

    #[test]
    fn catch_up_rules() {
        let cfg = ScheduleConfig::default();
        let now = at(2026, 11, 23, 9, 0);
        assert_eq!(
            catch_up(&cfg, None, None, now),
            vec![JobKind::Scrape, JobKind::Train]
        );
        let h = |n| Some(now - chrono::Duration::hours(n));
        assert!(catch_up(&cfg, h(20), h(24 * 6), now).is_empty());
        assert_eq!(catch_up(&cfg, h(25), h(24 * 6), now), vec![JobKind::Scrape]);
        assert_eq!(catch_up(&cfg, h(2), h(24 * 8), now), vec![JobKind::Train]);
        let off = ScheduleConfig {
            catch_up: false,
            ..cfg
        };
        assert!(catch_up(&off, None, None, now).is_empty());
    }
}
