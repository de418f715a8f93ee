//! The 49 weatherAUS locations and the BOM products that feed them.
//!
//! Facts from BOM's DWO headers and rattle's station list (see
//! `data/bom/stations.csv`). Coordinates are unknown for three
//! stations (see [`Station::model_coords`]).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Station {
    /// weatherAUS location name, e.g. `SydneyAirport`: the identifier in
    /// URLs, the API and metrics labels.
    pub location: &'static str,
    /// The name people use, e.g. `Sydney Airport`.
    pub display_name: &'static str,
    /// BOM DWO product code, e.g. `IDCJDW2124`.
    pub dwo_code: &'static str,
    pub state: &'static str,
    pub station_name: &'static str,
    pub station_number: &'static str,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

const fn st(
    location: &'static str,
    display_name: &'static str,
    dwo_code: &'static str,
    state: &'static str,
    station_name: &'static str,
    station_number: &'static str,
    coords: Option<(f64, f64)>,
) -> Station {
    let (latitude, longitude) = match coords {
        Some((lat, lon)) => (Some(lat), Some(lon)),
        None => (None, None),
    };
    Station {
        location,
        display_name,
        dwo_code,
        state,
        station_name,
        station_number,
        latitude,
        longitude,
    }
}

/// All stations, in the order of `stations.csv` (by state, then product code).
pub static STATIONS: [Station; 49] = [
    st(
        "Albury",
        "Albury",
        "IDCJDW2002",
        "NSW",
        "Albury Airport AWS",
        "072160",
        Some((-36.069, 146.9509)),
    ),
    st(
        "BadgerysCreek",
        "Badgerys Creek",
        "IDCJDW2005",
        "NSW",
        "Badgerys Creek AWS",
        "067108",
        Some((-33.8969, 150.7281)),
    ),
    st(
        "Cobar",
        "Cobar",
        "IDCJDW2029",
        "NSW",
        "Cobar MO",
        "048027",
        Some((-31.484, 145.8294)),
    ),
    st(
        "CoffsHarbour",
        "Coffs Harbour",
        "IDCJDW2030",
        "NSW",
        "Coffs Harbour Airport",
        "059151",
        None,
    ),
    st(
        "Moree",
        "Moree",
        "IDCJDW2084",
        "NSW",
        "Moree Aero",
        "053115",
        Some((-29.4914, 149.8458)),
    ),
    st(
        "Newcastle",
        "Newcastle",
        "IDCJDW2097",
        "NSW",
        "Newcastle Nobbys Signal Station AWS",
        "061055",
        Some((-32.9184, 151.7985)),
    ),
    st(
        "NorahHead",
        "Norah Head",
        "IDCJDW2099",
        "NSW",
        "Norah Head AWS",
        "061366",
        Some((-33.2815, 151.5766)),
    ),
    st(
        "NorfolkIsland",
        "Norfolk Island",
        "IDCJDW2100",
        "NSW",
        "Norfolk Island Aero",
        "200288",
        Some((-29.0389, 167.9408)),
    ),
    st(
        "Penrith",
        "Penrith",
        "IDCJDW2111",
        "NSW",
        "Penrith Lakes AWS",
        "067113",
        Some((-33.7195, 150.6783)),
    ),
    st(
        "Richmond",
        "Richmond",
        "IDCJDW2119",
        "NSW",
        "Richmond RAAF",
        "067105",
        Some((-33.6004, 150.7761)),
    ),
    st(
        "Sydney",
        "Sydney",
        "IDCJDW2124",
        "NSW",
        "Sydney (Observatory Hill)",
        "066214",
        Some((-33.8607, 151.205)),
    ),
    st(
        "SydneyAirport",
        "Sydney Airport",
        "IDCJDW2125",
        "NSW",
        "Sydney Airport AMO",
        "066037",
        Some((-33.9411, 151.1725)),
    ),
    st(
        "WaggaWagga",
        "Wagga Wagga",
        "IDCJDW2139",
        "NSW",
        "Wagga Wagga AMO",
        "072150",
        Some((-35.1583, 147.4573)),
    ),
    st(
        "Williamtown",
        "Williamtown",
        "IDCJDW2145",
        "NSW",
        "Williamtown RAAF",
        "061078",
        Some((-32.7932, 151.8359)),
    ),
    st(
        "Wollongong",
        "Wollongong",
        "IDCJDW2014",
        "NSW",
        "Bellambi AWS",
        "068228",
        Some((-34.3691, 150.9291)),
    ),
    st(
        "Canberra",
        "Canberra",
        "IDCJDW2801",
        "ACT",
        "Canberra Airport",
        "070351",
        Some((-35.3088, 149.2003)),
    ),
    st(
        "Tuggeranong",
        "Tuggeranong",
        "IDCJDW2802",
        "ACT",
        "Tuggeranong (Isabella Plains) AWS",
        "070339",
        Some((-35.4184, 149.0937)),
    ),
    st(
        "MountGinini",
        "Mount Ginini",
        "IDCJDW2804",
        "ACT",
        "Mount Ginini AWS",
        "070349",
        Some((-35.5293, 148.7721)),
    ),
    st(
        "Ballarat",
        "Ballarat",
        "IDCJDW3005",
        "VIC",
        "Ballarat Aerodrome",
        "089002",
        Some((-37.5127, 143.7911)),
    ),
    st(
        "Bendigo",
        "Bendigo",
        "IDCJDW3008",
        "VIC",
        "Bendigo Airport",
        "081123",
        Some((-36.7395, 144.3266)),
    ),
    st(
        "Sale",
        "Sale",
        "IDCJDW3022",
        "VIC",
        "East Sale",
        "085072",
        Some((-38.1156, 147.1322)),
    ),
    st(
        "MelbourneAirport",
        "Melbourne Airport",
        "IDCJDW3049",
        "VIC",
        "Melbourne Airport",
        "086282",
        Some((-37.6655, 144.8321)),
    ),
    st(
        "Melbourne",
        "Melbourne",
        "IDCJDW3050",
        "VIC",
        "Melbourne (Olympic Park)",
        "086338",
        Some((-37.8255, 144.9816)),
    ),
    st(
        "Mildura",
        "Mildura",
        "IDCJDW3051",
        "VIC",
        "Mildura Airport",
        "076031",
        Some((-34.2358, 142.0867)),
    ),
    st(
        "Nhil",
        "Nhill",
        "IDCJDW3059",
        "VIC",
        "Nhill Aerodrome",
        "078015",
        Some((-36.3092, 141.6486)),
    ),
    st(
        "Portland",
        "Portland",
        "IDCJDW3068",
        "VIC",
        "Portland Airport",
        "090171",
        Some((-38.3148, 141.4705)),
    ),
    st(
        "Watsonia",
        "Watsonia",
        "IDCJDW3079",
        "VIC",
        "Viewbank",
        "086068",
        Some((-37.7408, 145.0972)),
    ),
    st(
        "Dartmoor",
        "Dartmoor",
        "IDCJDW3101",
        "VIC",
        "Dartmoor",
        "090194",
        Some((-37.9222, 141.2614)),
    ),
    st(
        "Brisbane",
        "Brisbane",
        "IDCJDW4019",
        "QLD",
        "Brisbane",
        "040913",
        Some((-27.4808, 153.0389)),
    ),
    st(
        "Cairns",
        "Cairns",
        "IDCJDW4024",
        "QLD",
        "Cairns Aero",
        "031011",
        Some((-16.8736, 145.7458)),
    ),
    st(
        "GoldCoast",
        "Gold Coast",
        "IDCJDW4050",
        "QLD",
        "Gold Coast Seaway",
        "040764",
        Some((-27.939, 153.4283)),
    ),
    st(
        "Townsville",
        "Townsville",
        "IDCJDW4128",
        "QLD",
        "Townsville Aero",
        "032040",
        Some((-19.2483, 146.7661)),
    ),
    st(
        "Adelaide",
        "Adelaide",
        "IDCJDW5081",
        "SA",
        "Adelaide (West Terrace / Ngayirdapira)",
        "023000",
        None,
    ),
    st(
        "MountGambier",
        "Mount Gambier",
        "IDCJDW5041",
        "SA",
        "Mount Gambier Aero",
        "026021",
        Some((-37.7473, 140.7739)),
    ),
    st(
        "Nuriootpa",
        "Nuriootpa",
        "IDCJDW5049",
        "SA",
        "Nuriootpa Pirsa",
        "023373",
        Some((-34.4761, 139.0056)),
    ),
    st(
        "Woomera",
        "Woomera",
        "IDCJDW5072",
        "SA",
        "Woomera Aerodrome",
        "016001",
        Some((-31.1558, 136.8054)),
    ),
    st(
        "Albany",
        "Albany",
        "IDCJDW6001",
        "WA",
        "Albany",
        "009500",
        Some((-35.0289, 117.8808)),
    ),
    st(
        "Witchcliffe",
        "Witchcliffe",
        "IDCJDW6081",
        "WA",
        "Witchcliffe West",
        "109521",
        None,
    ),
    st(
        "PearceRAAF",
        "Pearce RAAF",
        "IDCJDW6108",
        "WA",
        "Pearce RAAF",
        "009053",
        Some((-31.6669, 116.0189)),
    ),
    st(
        "PerthAirport",
        "Perth Airport",
        "IDCJDW6110",
        "WA",
        "Perth Airport",
        "009021",
        Some((-31.9275, 115.9764)),
    ),
    st(
        "Perth",
        "Perth",
        "IDCJDW6111",
        "WA",
        "Perth Metro",
        "009225",
        Some((-31.9192, 115.8728)),
    ),
    st(
        "SalmonGums",
        "Salmon Gums",
        "IDCJDW6119",
        "WA",
        "Salmon Gums Res.Stn.",
        "012071",
        Some((-32.9869, 121.6239)),
    ),
    st(
        "Walpole",
        "Walpole",
        "IDCJDW6138",
        "WA",
        "North Walpole",
        "009998",
        Some((-34.9469, 116.7222)),
    ),
    st(
        "Hobart",
        "Hobart",
        "IDCJDW7021",
        "TAS",
        "Hobart (Ellerslie Road)",
        "094029",
        Some((-42.8897, 147.3278)),
    ),
    st(
        "Launceston",
        "Launceston",
        "IDCJDW7025",
        "TAS",
        "Launceston (Ti Tree Bend)",
        "091237",
        Some((-41.4194, 147.1222)),
    ),
    st(
        "AliceSprings",
        "Alice Springs",
        "IDCJDW8002",
        "NT",
        "Alice Springs Airport",
        "015590",
        Some((-23.7951, 133.889)),
    ),
    st(
        "Darwin",
        "Darwin",
        "IDCJDW8014",
        "NT",
        "Darwin Airport",
        "014015",
        Some((-12.4239, 130.8925)),
    ),
    st(
        "Katherine",
        "Katherine",
        "IDCJDW8048",
        "NT",
        "Tindal RAAF",
        "014932",
        Some((-14.5229, 132.3826)),
    ),
    st(
        "Uluru",
        "Uluru",
        "IDCJDW8056",
        "NT",
        "Yulara Airport",
        "015635",
        Some((-25.1896, 130.9737)),
    ),
];

/// Look a station up by its weatherAUS name (case-insensitive).
pub fn by_location(name: &str) -> Option<&'static Station> {
    STATIONS
        .iter()
        .find(|s| s.location.eq_ignore_ascii_case(name))
}

/// The display name of a weatherAUS identifier ("SydneyAirport" →
/// "Sydney Airport"); an unknown name comes back as it is.
pub fn display_name(location: &str) -> &str {
    STATIONS
        .iter()
        .find(|s| s.location == location)
        .map_or(location, |s| s.display_name)
}

/// Look a station up by its DWO product code.
pub fn by_dwo_code(code: &str) -> Option<&'static Station> {
    STATIONS.iter().find(|s| s.dwo_code == code)
}

/// Index of a station in [`STATIONS`]; stable, used as a compact id.
pub fn index_of(name: &str) -> Option<usize> {
    STATIONS.iter().position(|s| s.location == name)
}

impl Station {
    /// Coordinates for the model and the map. Three current stations have no
    /// published coordinates in our sources; for those, the predecessor station
    /// that weatherAUS used (a few km away) stands in.
    pub fn model_coords(&self) -> (f64, f64) {
        if let (Some(lat), Some(lon)) = (self.latitude, self.longitude) {
            return (lat, lon);
        }
        match self.location {
            "CoffsHarbour" => (-30.3107, 153.1187), // Coffs Harbour MO 059040
            "Adelaide" => (-34.9211, 138.6216),     // Kent Town 023090
            _ => (-34.0281, 115.1042),              // Witchcliffe 009746
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_nine_unique_locations_and_codes() {
        let mut names: Vec<_> = STATIONS.iter().map(|s| s.location).collect();
        let mut codes: Vec<_> = STATIONS.iter().map(|s| s.dwo_code).collect();
        names.sort();
        names.dedup();
        codes.sort();
        codes.dedup();
        assert_eq!(names.len(), 49);
        assert_eq!(codes.len(), 49);
    }

    #[test]
    fn display_names_are_words() {
        let name = |l: &str| by_location(l).unwrap().display_name;
        assert_eq!(name("BadgerysCreek"), "Badgerys Creek");
        assert_eq!(name("MountGinini"), "Mount Ginini");
        assert_eq!(name("SydneyAirport"), "Sydney Airport");
        assert_eq!(name("PearceRAAF"), "Pearce RAAF");
        assert_eq!(name("Sydney"), "Sydney");
        assert_eq!(display_name("NorahHead"), "Norah Head");
        assert_eq!(display_name("Atlantis"), "Atlantis");
        for s in STATIONS.iter() {
            // No identifier glued from words survives as a display name.
            let glued = s
                .display_name
                .as_bytes()
                .windows(2)
                .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
            assert!(!glued, "{} shows as {}", s.location, s.display_name);
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(by_location("sydney").unwrap().dwo_code, "IDCJDW2124");
        assert_eq!(by_dwo_code("IDCJDW6111").unwrap().location, "Perth");
        assert!(by_location("Atlantis").is_none());
        let (lat, lon) = by_location("Adelaide").unwrap().model_coords();
        assert!((-40.0..-25.0).contains(&lat) && (129.0..141.0).contains(&lon));
    }
}
