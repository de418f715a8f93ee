//! The station map of the FTP channel: each of the 49 locations by its BOM
//! station NUMBER (never its name: names change, and matching them fuzzily
//! once put "Uluru" on a station in New South Wales), the state product
//! that carries it, and the daily table that holds its month. Checked
//! against each product's own station list at every poll.

use crate::stations::{STATIONS, Station};

/// The locations whose station is not in any state observation product,
/// with why: they stay website-only. Found by a public collector of the
/// same 49 locations (issue 29); a poll reports any other station its
/// product lacks.
pub const NO_FEED: [(&str, &str); 5] = [
    (
        "Katherine",
        "Tindal RAAF (014932) is not in the NT observation product",
    ),
    (
        "Nhil",
        "Nhill Aerodrome (078015) is not in the Victorian observation product",
    ),
    (
        "Uluru",
        "Yulara Airport (015635) is not in the NT observation product",
    ),
    (
        "Watsonia",
        "Viewbank (086068) is not in the Victorian observation product",
    ),
    (
        "Wollongong",
        "Bellambi AWS (068228) is not in the NSW observation product",
    ),
];

/// One location's feed: the product that carries its station, by number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feed {
    pub station: &'static Station,
    /// BOM station number, as in the product's `bom-id`.
    pub number: &'static str,
    /// `IDN60920` …
    pub product: &'static str,
}

/// The state observation product of a state: every automatic station of it.
pub fn product_of(state: &str) -> &'static str {
    match state {
        "VIC" => "IDV60920",
        "QLD" => "IDQ60920",
        "SA" => "IDS60920",
        "WA" => "IDW60920",
        "TAS" => "IDT60920",
        "NT" => "IDD60920",
        // NSW and the ACT share one product (it also carries Norfolk Island).
        _ => "IDN60920",
    }
}

/// The feed of `station`, or why it has none.
pub fn feed(station: &'static Station) -> Result<Feed, &'static str> {
    if let Some((_, why)) = NO_FEED.iter().find(|(l, _)| *l == station.location) {
        return Err(why);
    }
    Ok(Feed {
        station,
        number: station.station_number,
        product: product_of(station.state),
    })
}

/// Every location that has a feed, in [`STATIONS`] order.
pub fn feeds() -> Vec<Feed> {
    STATIONS.iter().filter_map(|s| feed(s).ok()).collect()
}

/// The products to poll: those carrying at least one of `locations`.
pub fn products(feeds: &[Feed]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for f in feeds {
        if !out.contains(&f.product) {
            out.push(f.product);
        }
    }
    out
}

/// The feed of a station number, if it is one of ours.
pub fn by_number<'a>(feeds: &'a [Feed], number: &str) -> Option<&'a Feed> {
    feeds.iter().find(|f| f.number == number)
}

/// The directory of a station's daily tables: its state in lower case, then
/// its name in lower case with every run of other characters than letters
/// and digits as one `_` (`nsw/sydney_airport_amo`).
pub fn daily_slug(station: &Station) -> String {
    let mut slug = String::new();
    for c in station.station_name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    slug.trim_end_matches('_').to_string()
}

/// The daily table of `station` for `month`, under `daily_dir`.
pub fn daily_path(daily_dir: &str, station: &Station, (year, month): (i32, u32)) -> String {
    let state = match station.state {
        "ACT" => "nsw".to_string(),
        s => s.to_ascii_lowercase(),
    };
    let slug = daily_slug(station);
    format!(
        "{}/{state}/{slug}/{slug}-{year:04}{month:02}.csv",
        daily_dir.trim_end_matches('/')
    )
}

/// The path of a state observation product under `observations_dir`.
pub fn product_path(observations_dir: &str, product: &str) -> String {
    format!("{}/{product}.xml", observations_dir.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stations::by_location;

    #[test]
    fn forty_four_feeds_keyed_by_number() {
        let f = feeds();
        assert_eq!(f.len(), 44);
        for (loc, _) in NO_FEED {
            assert!(feed(by_location(loc).unwrap()).is_err(), "{loc}");
        }
        let canberra = by_number(&f, "070351").unwrap();
        assert_eq!(canberra.station.location, "Canberra");
        assert_eq!(canberra.product, "IDN60920");
        assert_eq!(by_number(&f, "040913").unwrap().product, "IDQ60920");
        assert_eq!(products(&f).len(), 7);
    }

    #[test]
    fn daily_paths() {
        let s = by_location("SydneyAirport").unwrap();
        assert_eq!(
            daily_path("/anon/gen/clim_data/IDCKWCDEA0/tables/", s, (2024, 9)),
            "/anon/gen/clim_data/IDCKWCDEA0/tables/nsw/sydney_airport_amo/sydney_airport_amo-202409.csv"
        );
        let s = by_location("Sydney").unwrap();
        assert_eq!(daily_slug(s), "sydney_observatory_hill");
        let s = by_location("Canberra").unwrap();
        assert!(daily_path("/t", s, (2025, 1)).starts_with("/t/nsw/canberra_airport/"));
    }
}
