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

/// A dot's radius in map units. The city map is shown only where it is at
/// least 600 px wide (`static/app.css`), so a dot is at least
/// 2 × 15 × 600 / 700 ≈ 26 px across: a finger-sized target.
pub const DOT_R: f64 = 15.0;

/// Dot centres moved apart until no two dots overlap (at least a dot's
/// width and a gap between centres), each as little as it takes: a click
/// on a dot's centre opens that dot's city, even in a cluster such as
/// Sydney's nine. Deterministic: the same points give the same layout.
pub fn dodge(points: &[(f64, f64)], r: f64) -> Vec<(f64, f64)> {
    let min = 2.0 * r + 2.0;
    let mut at = points.to_vec();
    for _ in 0..400 {
        let mut moved = false;
        for i in 0..at.len() {
            for j in i + 1..at.len() {
                let (dx, dy) = (at[j].0 - at[i].0, at[j].1 - at[i].1);
                let d = dx.hypot(dy);
                if d >= min {
                    continue;
                }
                // Coincident points part along a direction set by their order.
                let (ux, uy) = if d < 1e-6 {
                    let a = (i * 7 + j * 13) as f64;
                    (a.cos(), a.sin())
                } else {
                    (dx / d, dy / d)
                };
                let push = (min - d) / 2.0 + 0.01;
                at[i].0 -= ux * push;
                at[i].1 -= uy * push;
                at[j].0 += ux * push;
                at[j].1 += uy * push;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    at
}

/// The map of Australia with a dot per station, coloured by probability;
/// each dot links to the station's forecast page. Dots pushed away from
/// their station keep a thin line to its true place.
pub fn map(points: &[MapPoint<'_>]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="map map-cities" viewBox="0 0 700 510" role="img" aria-labelledby="map-title"><title id="map-title">Map of Australia: tomorrow's chance of rain at each station</title><polygon class="land" points="{}"/><polygon class="land" points="{}"/>"##,
        polygon(MAINLAND),
        polygon(TASMANIA)
    );
    let true_at: Vec<(f64, f64)> = points.iter().map(|p| project(p.lon, p.lat)).collect();
    let shown = dodge(&true_at, DOT_R);
    for (&(x0, y0), &(x, y)) in true_at.iter().zip(&shown) {
        if (x - x0).hypot(y - y0) > 1.0 {
            let _ = write!(
                s,
                r##"<line class="leader" x1="{x0:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{y:.1}"/><circle class="true-place" cx="{x0:.1}" cy="{y0:.1}" r="2"/>"##
            );
        }
    }
    for (p, &(x, y)) in points.iter().zip(&shown) {
        let label = match p.probability {
            Some(v) => format!(
                "{}: {}% chance of rain {}",
                p.name,
                ((v * 100.0).round() as i64).clamp(5, 95),
                p.note
            ),
            None => format!("{}: {}", p.name, p.note),
        };
        let _ = write!(
            s,
            r##"<a href="/forecast/{loc}" class="city-dot"><circle cx="{x:.1}" cy="{y:.1}" r="{DOT_R}" fill="{fill}" stroke="#123" stroke-width="1.5"><title>{label}</title></circle></a>"##,
            loc = esc(p.location),
            fill = rain_colour(p.probability),
            label = esc(&label)
        );
    }
    s.push_str("</svg>");
    s
}

/// One state's cluster on the phone map.
pub struct StateCluster {
    /// "NSW".
    pub state: &'static str,
    /// Its cities with a current forecast, and all its cities.
    pub current: usize,
    pub cities: usize,
    /// The highest current chance among them.
    pub wettest: Option<f64>,
}

/// Where each state's cluster sits (longitude, latitude): inside the state,
/// and far enough from its neighbours for an 80-unit bubble.
pub(super) fn cluster_place(state: &str) -> Option<(f64, f64)> {
    Some(match state {
        "WA" => (121.0, -26.0),
        "NT" => (133.5, -19.5),
        "SA" => (135.0, -30.0),
        "QLD" => (144.0, -22.5),
        "NSW" => (146.0, -31.5),
        "ACT" => (150.5, -36.3),
        "VIC" => (143.5, -37.2),
        "TAS" => (146.5, -42.5),
        _ => return None,
    })
}

/// The cluster bubble's radius in map units: the phone map is at least
/// 296 px wide, so a bubble is at least 2 × 40 × 296 / 700 ≈ 34 px across,
/// and its 30-unit label at least 12.7 px high.
pub const CLUSTER_R: f64 = 40.0;

/// The map for narrow screens, where 49 dots would be too small to hit:
/// one bubble per state, labelled with the state, coloured by its wettest
/// current forecast, linking to the list filtered to that state.
pub fn state_map(clusters: &[StateCluster]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="map map-states" viewBox="0 0 700 510" role="img" aria-labelledby="state-map-title"><title id="state-map-title">Map of Australia: the cities of each state, coloured by the state's highest chance of rain tomorrow</title><polygon class="land" points="{}"/><polygon class="land" points="{}"/>"##,
        polygon(MAINLAND),
        polygon(TASMANIA)
    );
    for c in clusters {
        let Some((lon, lat)) = cluster_place(c.state) else {
            continue;
        };
        let (x, y) = project(lon, lat);
        let label = match c.wettest {
            Some(p) => format!(
                "{}: {} cities, {} with a current forecast, the highest chance {:.0}%",
                c.state,
                c.cities,
                c.current,
                p * 100.0
            ),
            None => format!("{}: {} cities, none with current data", c.state, c.cities),
        };
        let fill = rain_colour(c.wettest);
        let ink = if c.wettest.is_some_and(|p| p > 0.45) {
            "#fff"
        } else {
            "#123"
        };
        let _ = write!(
            s,
            r##"<a href="/?q={st}#cities" class="state-dot"><circle cx="{x:.1}" cy="{y:.1}" r="{CLUSTER_R}" fill="{fill}" stroke="#123" stroke-width="2"><title>{label}</title></circle><text x="{x:.1}" y="{ty:.1}" text-anchor="middle" fill="{ink}" font-size="30" font-weight="700" class="cluster-label">{st}</text></a>"##,
            st = esc(c.state),
            ty = y + 10.0,
            label = esc(&label),
        );
    }
    s.push_str("</svg>");
    s
}
