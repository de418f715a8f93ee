//! Where observations come from: the website (`bom`), BOM's FTP service
//! (`ftp`), and the channels' order of authority (`sources`).

use serde::{Deserialize, Serialize};

use super::LocalTime;
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BomConfig {
    /// Where the DWO files live: `{base_url}/climate/dwo/{YYYYMM}/text/{code}.{YYYYMM}.csv`.
    pub base_url: String,
    /// Sent with every request. BOM blocks clients it takes for anonymous scrapers.
    pub user_agent: String,
    /// Per-request timeout (s).
    pub timeout_secs: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Pause before each request, per worker (ms).
    pub delay_ms: u64,
    /// Retries of a timeout, connection error or 5xx.
    pub retries: u32,
    /// First backoff before a retry (ms); it doubles each time, with jitter.
    pub backoff_ms: u64,
    /// During the first N days of a month, the previous month is fetched again (BOM revises it).
    pub revise_days: u32,
    /// Stop a scrape early after this many consecutive failures of the same
    /// systemic kind (refused connection, DNS, 403, HTML instead of CSV,
    /// timeout, 5xx) with no success in between. 0 = never.
    pub fail_fast_after: u32,
    /// When BOM shows a day's row with its 9 am fields, MinTemp, Rainfall
    /// and Evaporation (and finishes the day before), in each station's
    /// local time.
    pub shows_morning: LocalTime,
    /// When the 3 pm fields appear, in each station's local time.
    pub shows_afternoon: LocalTime,
}

impl BomConfig {
    /// When BOM's fields appear, as training, serving, the schedule and the
    /// stand-in read it.
    pub fn visibility(&self) -> crate::issue::Visibility {
        crate::issue::Visibility {
            morning: self.shows_morning.0,
            afternoon: self.shows_afternoon.0,
        }
    }
}

impl Default for BomConfig {
    fn default() -> Self {
        Self {
            base_url: "https://www.bom.gov.au".into(),
            user_agent: concat!(
                "raincast/",
                env!("CARGO_PKG_VERSION"),
                " (daily rain forecast; set bom.user_agent to your contact)"
            )
            .into(),
            timeout_secs: 30,
            concurrency: 2,
            delay_ms: 1_000,
            retries: 3,
            backoff_ms: 500,
            revise_days: 3,
            fail_fast_after: 6,
            shows_morning: LocalTime::hm(10, 0),
            shows_afternoon: LocalTime::hm(16, 30),
        }
    }
}

/// BOM's anonymous FTP service: the state observation products and the
/// daily climate tables (`docs/ftp.md`). Used only when `sources.order`
/// names `ftp`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FtpConfig {
    /// The FTP server's host name or address.
    pub host: String,
    pub port: u16,
    /// Anonymous login: BOM asks for `anonymous` and an e-mail address as password.
    pub user: String,
    pub password: String,
    /// Directory of the state observation products (`IDN60920.xml` …).
    pub observations_dir: String,
    /// Directory of the daily climate tables (`{state}/{station}/{station}-{YYYYMM}.csv`).
    pub daily_dir: String,
    /// Minutes between two polls of the observation products (at least 10:
    /// BOM updates them about every 10 minutes).
    pub poll_minutes: u64,
    /// Timeout of each connection, command and read (s).
    pub timeout_secs: u64,
    /// Pause before each download (ms).
    pub delay_ms: u64,
    /// Stop a poll after this many consecutive refusals, time-outs or
    /// connection failures with no success in between. 0 = never.
    pub fail_fast_after: u32,
    /// A 9 am or 3 pm field is taken from the reading nearest that local
    /// time, at most this many minutes away.
    pub tolerance_minutes: u32,
}

impl Default for FtpConfig {
    fn default() -> Self {
        Self {
            host: "ftp.bom.gov.au".into(),
            port: 21,
            user: "anonymous".into(),
            password: "raincast@example.org".into(),
            observations_dir: "/anon/gen/fwo".into(),
            daily_dir: "/anon/gen/clim_data/IDCKWCDEA0/tables".into(),
            poll_minutes: 30,
            timeout_secs: 30,
            delay_ms: 1_000,
            fail_fast_after: 3,
            tolerance_minutes: 30,
        }
    }
}

/// Which channels feed the observations, in order of authority.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// Comma-separated, first = authority: `website` (the DWO CSV files),
    /// `ftp` (the anonymous FTP products). A day from a channel earlier in
    /// the list replaces the same day from a later one, never the reverse.
    /// The default leaves FTP off: its products carry other terms than the
    /// website's files (`docs/ftp.md`), so an operator opts in.
    pub order: String,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            order: "website".into(),
        }
    }
}

/// One channel of observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Website,
    Ftp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Website => "website",
            Channel::Ftp => "ftp",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s.trim() {
            "website" => Some(Channel::Website),
            "ftp" => Some(Channel::Ftp),
            _ => None,
        }
    }

    /// What the channel is, as the pages name it.
    pub fn describe(self) -> &'static str {
        match self {
            Channel::Website => "the Daily Weather Observations files on BOM's website",
            Channel::Ftp => {
                "BOM's anonymous FTP products (state observations and daily climate tables)"
            }
        }
    }

    /// The terms BOM attaches to the channel's data, and the attribution it
    /// asks for (docs/ftp.md, "Terms").
    pub fn terms(self) -> &'static str {
        match self {
            Channel::Website => {
                "may be reused with attribution: credit the Bureau of Meteorology wherever they are shown"
            }
            Channel::Ftp => {
                "BOM's default terms: personal use, or use within your organisation; no supply to others"
            }
        }
    }

    /// The channel a stored row's `source` came through: `bom:…` is the
    /// website's DWO file, `ftp:…` an assembled row; anything else (the
    /// bundled history, an import) is neither.
    pub fn of_source(source: &str) -> Option<Channel> {
        if source.starts_with("bom:") {
            Some(Channel::Website)
        } else if source.starts_with("ftp:") {
            Some(Channel::Ftp)
        } else {
            None
        }
    }
}

impl SourcesConfig {
    /// The channels in order of authority (validated at load).
    pub fn channels(&self) -> Vec<Channel> {
        self.order.split(',').filter_map(Channel::parse).collect()
    }

    pub fn uses(&self, c: Channel) -> bool {
        self.channels().contains(&c)
    }

    /// The rank of a stored row's source: its channel's place in the order;
    /// sources of no channel, or of one not in the order, come last.
    pub fn rank_of_source(&self, source: &str) -> usize {
        let order = self.channels();
        Channel::of_source(source)
            .and_then(|c| order.iter().position(|x| *x == c))
            .unwrap_or(usize::MAX)
    }

    /// Whether a row from `incoming` may replace a stored row from `existing`.
    pub fn replaces(&self, incoming: Channel, existing_source: &str) -> bool {
        let order = self.channels();
        let rank = order
            .iter()
            .position(|x| *x == incoming)
            .unwrap_or(usize::MAX);
        rank <= self.rank_of_source(existing_source)
    }
}
