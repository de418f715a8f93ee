//! The map of Australia with one dot per city, coloured by its forecast.

use super::*;

/// A rough outline of the mainland and Tasmania, (longitude, latitude).
pub(super) const MAINLAND: &[(f64, f64)] = &[
    (142.5, -10.7),
    (143.5, -14.0),
    (145.3, -15.0),
    (145.8, -16.9),
    (146.8, -19.3),
    (149.2, -21.1),
    (150.5, -23.4),
    (152.4, -24.9),
    (153.1, -27.5),
    (153.6, -28.6),
    (153.1, -30.3),
    (151.8, -32.9),
    (151.2, -33.9),
    (150.9, -34.4),
    (150.7, -35.1),
    (149.9, -37.1),
    (149.98, -37.5),
    (148.0, -37.9),
    (146.4, -39.1),
    (144.9, -38.3),
    (143.5, -38.8),
    (141.6, -38.4),
    (140.9, -38.05),
    (139.8, -37.2),
    (138.9, -35.6),
    (138.5, -34.9),
    (137.5, -35.2),
    (137.8, -32.5),
    (135.9, -34.7),
    (133.7, -32.1),
    (131.1, -31.5),
    (128.9, -31.7),
    (124.0, -33.0),
    (121.9, -33.9),
    (117.9, -35.0),
    (115.1, -34.4),
    (115.6, -33.3),
    (115.7, -31.9),
    (114.6, -28.8),
    (113.5, -26.0),
    (113.6, -24.9),
    (114.1, -21.8),
    (116.8, -20.6),
    (118.6, -20.3),
    (121.0, -19.5),
    (122.2, -18.0),
    (123.6, -17.3),
    (125.5, -14.5),
    (128.1, -15.5),
    (129.6, -14.9),
    (130.8, -12.4),
    (132.6, -11.5),
    (135.0, -12.0),
    (136.8, -12.2),
    (135.9, -13.5),
    (135.5, -15.0),
    (137.5, -16.3),
    (139.5, -17.5),
    (140.8, -17.5),
    (141.6, -15.0),
    (141.9, -12.7),
];
pub(super) const TASMANIA: &[(f64, f64)] = &[
    (144.6, -40.7),
    (148.3, -40.9),
    (148.3, -42.2),
    (147.9, -43.2),
    (146.8, -43.6),
    (145.2, -42.2),
];

/// Map projection: equirectangular over 112–170° E, 9–45° S.
pub(super) fn project(lon: f64, lat: f64) -> (f64, f64) {
    ((lon - 112.0) * 12.0, (-9.0 - lat) * 14.0)
}

pub(super) fn polygon(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|&(lon, lat)| {
            let (x, y) = project(lon, lat);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One station on the map.
pub struct MapPoint<'a> {
    pub location: &'a str,
    /// The name shown in the tooltip, e.g. "Sydney Airport".
    pub name: &'a str,
    pub lat: f64,
    pub lon: f64,
    /// `None` draws the dot grey: no current forecast.
    pub probability: Option<f64>,
    /// Shown in the dot's tooltip: the forecast day, or why there is none.
    pub note: String,
}

/// The map of Australia with a dot per station, coloured by probability;
/// each dot links to the station's forecast page.
pub fn map(points: &[MapPoint<'_>]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="map" viewBox="0 0 700 510" role="img" aria-labelledby="map-title"><title id="map-title">Map of Australia: tomorrow's chance of rain at each station</title><polygon class="land" points="{}"/><polygon class="land" points="{}"/>"##,
        polygon(MAINLAND),
        polygon(TASMANIA)
    );
    for p in points {
        let (x, y) = project(p.lon, p.lat);
        let label = match p.probability {
            Some(v) => format!("{}: {:.0}% chance of rain {}", p.name, v * 100.0, p.note),
            None => format!("{}: {}", p.name, p.note),
        };
        let _ = write!(
            s,
            r##"<a href="/forecast/{loc}"><circle cx="{x:.1}" cy="{y:.1}" r="7" fill="{fill}" stroke="#123" stroke-width="1"><title>{label}</title></circle></a>"##,
            loc = esc(p.location),
            fill = rain_colour(p.probability),
            label = esc(&label)
        );
    }
    s.push_str("</svg>");
    s
}
