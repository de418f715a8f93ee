//! When jobs run (`schedule`): the cron expressions of scrape, train and
//! refresh, catch-up, retries and the job lease.

use serde::{Deserialize, Serialize};

use super::CronExpr;
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron (sec min hour day month weekday), UTC, one or more separated by
    /// `;`. The default follows each zone's posts ([`DEFAULT_SCRAPE`]).
    pub scrape: CronExpr,
    pub scrape_enabled: bool,
    /// Weekly training, UTC. Sunday 17:00 UTC = Monday 03:00 AEST / 04:00 AEDT.
    pub train: CronExpr,
    pub train_enabled: bool,
    /// Scrape then train then decide, UTC. Off by default: scrape + train already cover it.
    pub refresh: CronExpr,
    pub refresh_enabled: bool,
    /// At start, run a scrape if the last good one is over a day old, and a training if over a week.
    pub catch_up: bool,
    /// Retries of a failed scheduled scrape.
    pub scrape_retries: u32,
    /// First wait before such a retry (s); doubles each time.
    pub retry_backoff_secs: u64,
    /// Log lines kept per run.
    pub max_log_lines: usize,
    /// The job lease (one job of any kind at a time across every process on
    /// the database) expires this many seconds after its holder's last
    /// heartbeat; a killed holder's lease is taken over after it.
    pub job_lease_secs: u64,
}

/// The default scrapes, UTC: 20 minutes after each time zone's morning
/// (10:00) and afternoon (16:30) posts, in standard time and in daylight
/// saving (`jobs::scheduler` tests check every zone is covered). Each tick
/// fetches only the stations that BOM updated since the tick before.
pub const DEFAULT_SCRAPE: &str = "0 20 0,2,6,7,22,23 * * *; 0 50 0,4,5,6,8,23 * * *";

/// A built-in schedule (a test checks that it parses).
fn cron(text: &str) -> CronExpr {
    CronExpr::parse(text).expect("a built-in schedule is a valid cron expression")
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            scrape: cron(DEFAULT_SCRAPE),
            scrape_enabled: true,
            train: cron("0 0 17 * * Sun"),
            train_enabled: true,
            refresh: cron("0 0 18 1 * *"),
            refresh_enabled: false,
            catch_up: true,
            scrape_retries: 3,
            retry_backoff_secs: 300,
            max_log_lines: 2_000,
            job_lease_secs: 60,
        }
    }
}
