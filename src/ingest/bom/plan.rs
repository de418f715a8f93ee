//! Which station-months a scrape asks for: explicit ranges, the default
//! coverage of BOM's online window, and the URL of each file.

use super::*;

/// Which station-months to fetch.
#[derive(Debug, Clone)]
pub struct ScrapePlan {
    pub months: Vec<Month>,
    pub locations: Vec<&'static Station>,
    /// Fetch complete months again too.
    pub force: bool,
}

impl ScrapePlan {
    /// Backfill by coverage: every month of BOM's online window (the current
    /// month and the [`ONLINE_MONTHS`]` - 1` before it) for every station.
    /// [`scrape`] skips the station-months already stored complete (every
    /// day present), so a database that holds years of other history still
    /// gets the recent months it lacks, and a steady daily run fetches only
    /// the current month (and the previous one while BOM revises it).
    pub fn default_for(today: NaiveDate) -> Self {
        Self {
            months: online_window(today),
            locations: STATIONS.iter().collect(),
            force: false,
        }
    }

    /// Every month from `from` to `to` inclusive, for one station or all.
    pub fn range(
        from: Month,
        to: Month,
        location: Option<&'static Station>,
        force: bool,
    ) -> Result<Self, ScrapeError> {
        for (name, m) in [("from", from), ("to", to)] {
            if !(1..=12).contains(&m.1) || !(1900..=9999).contains(&m.0) {
                return Err(ScrapeError::Plan(format!(
                    "{name} month {}-{:02} is not a month",
                    m.0, m.1
                )));
            }
        }
        if from > to {
            return Err(ScrapeError::Plan(format!(
                "from {} is after to {}",
                month_key(from),
                month_key(to)
            )));
        }
        let mut months = vec![from];
        while months[months.len() - 1] < to {
            months.push(next_month(months[months.len() - 1]));
        }
        Ok(Self {
            months,
            locations: match location {
                Some(s) => vec![s],
                None => STATIONS.iter().collect(),
            },
            force,
        })
    }

    /// How many station-months the plan covers.
    pub fn len(&self) -> usize {
        self.months.len() * self.locations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How many months BOM keeps online: the current one and the 13 before it.
pub const ONLINE_MONTHS: usize = 14;

/// BOM's online window on `today`, oldest month first.
pub fn online_window(today: NaiveDate) -> Vec<Month> {
    let mut months = vec![(today.year(), today.month())];
    while months.len() < ONLINE_MONTHS {
        months.push(previous_month(months[months.len() - 1]));
    }
    months.reverse();
    months
}

/// Parse `YYYY-MM`.
pub fn parse_month(text: &str) -> Result<Month, String> {
    let bad = || format!("`{text}` is not a month of the form YYYY-MM (e.g. 2024-08)");
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u32 = m.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok((year, month))
}

pub(super) fn previous_month((y, m): Month) -> Month {
    if m == 1 { (y - 1, 12) } else { (y, m - 1) }
}

pub(super) fn next_month((y, m): Month) -> Month {
    if m == 12 { (y + 1, 1) } else { (y, m + 1) }
}

/// `{base_url}/climate/dwo/{YYYYMM}/text/{code}.{YYYYMM}.csv`.
pub fn dwo_url(base_url: &str, code: &str, (y, m): Month) -> String {
    format!(
        "{}/climate/dwo/{y:04}{m:02}/text/{code}.{y:04}{m:02}.csv",
        base_url.trim_end_matches('/')
    )
}
