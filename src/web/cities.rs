//! Finding a city: what the home page's search matches (names, states,
//! station names and the names people use for a place), and, for a station
//! without current data, the nearest one that has some.

use crate::stations::{STATIONS, Station};

/// Longest search text taken (`/?q=`); longer is refused with 400.
pub const MAX_QUERY_CHARS: usize = 100;

/// A state's name as people write it in full.
pub fn state_name(abbr: &str) -> &'static str {
    match abbr {
        "ACT" => "Australian Capital Territory",
        "NSW" => "New South Wales",
        "NT" => "Northern Territory",
        "QLD" => "Queensland",
        "SA" => "South Australia",
        "TAS" => "Tasmania",
        "VIC" => "Victoria",
        "WA" => "Western Australia",
        _ => "",
    }
}

/// Other names people search a station by: the city an airport or suburb
/// station serves, a region, an older name.
fn aliases(location: &str) -> &'static str {
    match location {
        "SydneyAirport" => "sydney kingsford smith mascot",
        "MelbourneAirport" => "melbourne tullamarine",
        "PerthAirport" => "perth",
        "Watsonia" => "melbourne viewbank",
        "PearceRAAF" => "perth bullsbrook",
        "Tuggeranong" => "canberra",
        "MountGinini" => "canberra namadgi",
        "Williamtown" => "newcastle airport port stephens",
        "Richmond" => "hawkesbury",
        "NorahHead" => "central coast",
        "Wollongong" => "illawarra bellambi",
        "GoldCoast" => "southport",
        "Uluru" => "ayers rock yulara",
        "Katherine" => "tindal",
        "Witchcliffe" => "margaret river",
        "Nuriootpa" => "barossa",
        "Sale" => "east sale gippsland",
        "Nhil" => "nhill",
        "AliceSprings" => "alice",
        "Walpole" => "north walpole",
        _ => "",
    }
}

/// Everything a station is found by, lower case, words apart.
pub fn search_text(st: &Station) -> String {
    format!(
        "{} {} {} {} {} {}",
        st.display_name,
        st.location,
        st.state,
        state_name(st.state),
        st.station_name,
        aliases(st.location)
    )
    .to_lowercase()
}

/// Whether `text` (a [`search_text`]) matches the query: every word of the
/// query appears in it ("melbourne" finds Melbourne Airport, "nsw sydney"
/// both Sydney stations). An empty query matches everything.
pub fn matches(text: &str, query: &str) -> bool {
    query
        .to_lowercase()
        .split_whitespace()
        .all(|w| text.contains(w))
}

/// Great-circle distance in km between two stations' coordinates.
pub fn distance_km(a: &Station, b: &Station) -> f64 {
    let ((la1, lo1), (la2, lo2)) = (a.model_coords(), b.model_coords());
    let (p1, p2) = (la1.to_radians(), la2.to_radians());
    let dp = p2 - p1;
    let dl = (lo2 - lo1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// The station to see instead of `st`, among those for which `has_data`
/// holds, and how far it is: its namesake first (Melbourne's is Melbourne
/// Airport, Perth's Perth Airport), else the nearest.
pub fn nearest_with(
    st: &Station,
    has_data: impl Fn(&Station) -> bool,
) -> Option<(&'static Station, f64)> {
    let namesake = |o: &Station| {
        o.display_name
            .strip_prefix(st.display_name)
            .is_some_and(|rest| rest.starts_with(' '))
    };
    STATIONS
        .iter()
        .filter(|o| o.location != st.location && has_data(o))
        .map(|o| (o, distance_km(st, o)))
        .min_by(|a, b| {
            (!namesake(a.0), a.1)
                .partial_cmp(&(!namesake(b.0), b.1))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stations::by_location;

    fn found(query: &str) -> Vec<&'static str> {
        STATIONS
            .iter()
            .filter(|s| matches(&search_text(s), query))
            .map(|s| s.location)
            .collect()
    }

    #[test]
    fn search_finds_names_states_and_aliases() {
        let melbourne = found("Melbourne");
        for l in ["Melbourne", "MelbourneAirport", "Watsonia"] {
            assert!(melbourne.contains(&l), "{melbourne:?}");
        }
        assert_eq!(found("tullamarine"), ["MelbourneAirport"]);
        assert_eq!(found("ayers rock"), ["Uluru"]);
        assert_eq!(found("Victoria").len(), 10);
        assert_eq!(found("vic"), found("VIC"));
        assert_eq!(found("NSW sydney"), ["Sydney", "SydneyAirport"]);
        assert_eq!(found("kingsford smith"), ["SydneyAirport"]);
        assert_eq!(found("Tasmania"), ["Hobart", "Launceston"]);
        assert!(found("atlantis").is_empty());
        assert_eq!(found("  ").len(), 49);
    }

    #[test]
    fn the_nearest_station_with_data() {
        let melbourne = by_location("Melbourne").unwrap();
        // Its namesake, though Watsonia (Viewbank) is nearer.
        let (near, km) = nearest_with(melbourne, |_| true).unwrap();
        assert_eq!(near.location, "MelbourneAirport");
        assert!((15.0..30.0).contains(&km), "{km}");
        assert!(distance_km(melbourne, by_location("Watsonia").unwrap()) < km);
        // Without it, the nearest.
        let (near, _) = nearest_with(melbourne, |s| s.location != "MelbourneAirport").unwrap();
        assert_eq!(near.location, "Watsonia");
        let perth = by_location("Perth").unwrap();
        let (near, _) = nearest_with(perth, |_| true).unwrap();
        assert_eq!(near.location, "PerthAirport");
        assert!(nearest_with(perth, |_| false).is_none());
    }
}
