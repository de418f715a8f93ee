//! Charts as inline SVG, rendered on the server: they need no JavaScript and
//! no CDN. Every chart has a `<title>` and the numbers are also in a table
//! on the page, so screen readers and text browsers lose nothing.

use std::fmt::Write;

/// Escape text for SVG/HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Colour for a rain probability: pale yellow (dry) to deep blue (wet).
pub fn rain_colour(p: Option<f64>) -> String {
    let Some(p) = p else {
        return "#b8b8b8".into();
    };
    let p = p.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * p).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        lerp(250.0, 8.0),
        lerp(235.0, 69.0),
        lerp(170.0, 148.0)
    )
}

/// A rough outline of the mainland and Tasmania, (longitude, latitude).
const MAINLAND: &[(f64, f64)] = &[
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
const TASMANIA: &[(f64, f64)] = &[
    (144.6, -40.7),
    (148.3, -40.9),
    (148.3, -42.2),
    (147.9, -43.2),
    (146.8, -43.6),
    (145.2, -42.2),
];

/// Map projection: equirectangular over 112–170° E, 9–45° S.
fn project(lon: f64, lat: f64) -> (f64, f64) {
    ((lon - 112.0) * 12.0, (-9.0 - lat) * 14.0)
}

fn polygon(points: &[(f64, f64)]) -> String {
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

/// A series for [`line_chart`].
pub struct Series<'a> {
    pub label: &'a str,
    pub colour: &'a str,
    pub values: Vec<Option<f64>>,
    /// Draw as bars instead of a line.
    pub bars: bool,
}

/// A small multi-series chart with shared x labels (dates).
pub fn line_chart(title: &str, unit: &str, x_labels: &[String], series: &[Series<'_>]) -> String {
    let (w, h, left, bottom, top) = (640.0, 200.0, 48.0, 24.0, 10.0);
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .collect();
    let (mut lo, mut hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if series.iter().any(|s| s.bars) {
        lo = lo.min(0.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.08;
    let (lo, hi) = (lo - if lo == 0.0 { 0.0 } else { pad }, hi + pad);
    let n = x_labels.len().max(1);
    let step = (w - left - 8.0) / n as f64;
    let x = |i: usize| left + step * (i as f64 + 0.5);
    let y = |v: f64| top + (h - top - bottom) * (1.0 - (v - lo) / (hi - lo));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{t}"><title>{t}</title>"##,
        t = esc(title)
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{}" y="{:.1}" class="axis" text-anchor="end">{v:.0}</text>"##,
            w - 8.0,
            left - 4.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    for (i, l) in x_labels.iter().enumerate() {
        if i % (n / 6).max(1) == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{}" class="axis" text-anchor="middle">{}</text>"##,
                x(i),
                h - 6.0,
                esc(l)
            );
        }
    }
    for se in series {
        if se.bars {
            for (i, v) in se.values.iter().enumerate() {
                if let Some(v) = v {
                    let _ = write!(
                        s,
                        r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {v} {}</title></rect>"##,
                        x(i) - step * 0.35,
                        y(*v),
                        step * 0.7,
                        (y(lo.max(0.0)) - y(*v)).max(0.0),
                        se.colour,
                        esc(&x_labels[i]),
                        esc(unit)
                    );
                }
            }
        } else {
            let mut d = String::new();
            let mut pen_down = false;
            for (i, v) in se.values.iter().enumerate() {
                match v {
                    Some(v) => {
                        let _ = write!(
                            d,
                            "{}{:.1},{:.1} ",
                            if pen_down { "L" } else { "M" },
                            x(i),
                            y(*v)
                        );
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            let _ = write!(
                s,
                r##"<path d="{d}" fill="none" stroke="{}" stroke-width="2"/>"##,
                se.colour
            );
        }
    }
    let mut lx = left;
    for se in series {
        let _ = write!(
            s,
            r##"<rect x="{lx}" y="0" width="10" height="8" fill="{}"/><text x="{}" y="8" class="legend">{}</text>"##,
            se.colour,
            lx + 13.0,
            esc(se.label)
        );
        lx += 20.0 + se.label.len() as f64 * 6.5;
    }
    s.push_str("</svg>");
    s
}

/// One ROC curve: label, colour, (false positive rate, true positive rate) points.
pub type RocCurve<'a> = (&'a str, &'a str, &'a [(f64, f64)]);

/// ROC curves on one chart.
pub fn roc(curves: &[RocCurve<'_>]) -> String {
    let size = 260.0;
    let p = |v: f64| 30.0 + v * (size - 40.0);
    let q = |v: f64| size - 30.0 - v * (size - 40.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="roc" viewBox="0 0 {size} {size}" role="img" aria-label="ROC curves"><title>ROC curves</title><line x1="{a}" y1="{b}" x2="{c}" y2="{d}" class="grid"/><text x="{size2}" y="{e}" class="axis" text-anchor="middle">false positive rate</text><text x="10" y="{size2}" class="axis" transform="rotate(-90 10 {size2})" text-anchor="middle">true positive rate</text>"##,
        a = p(0.0),
        b = q(0.0),
        c = p(1.0),
        d = q(1.0),
        e = size - 8.0,
        size2 = size / 2.0
    );
    for (i, (label, colour, pts)) in curves.iter().enumerate() {
        let d: Vec<String> = pts
            .iter()
            .map(|&(fx, ty)| format!("{:.1},{:.1}", p(fx), q(ty)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}" class="legend" fill="{colour}">{}</text>"##,
            d.join(" "),
            p(0.45),
            q(0.1) + 12.0 * i as f64,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

/// One reliability bin for [`reliability`]: (mean forecast, observed
/// frequency, forecasts in the bin).
pub type ReliabilityPoint = (f64, f64, u64);

/// A reliability diagram: observed rain frequency against mean forecast per
/// bin, each dot sized by its count, over the diagonal of perfect calibration.
pub fn reliability(title: &str, points: &[ReliabilityPoint]) -> String {
    let size = 260.0;
    let p = |v: f64| 30.0 + v.clamp(0.0, 1.0) * (size - 40.0);
    let q = |v: f64| size - 30.0 - v.clamp(0.0, 1.0) * (size - 40.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="roc reliability" viewBox="0 0 {size} {size}" role="img" aria-label="{t}"><title>{t}</title><line x1="{a}" y1="{b}" x2="{c}" y2="{d}" class="grid"/><text x="{size2}" y="{e}" class="axis" text-anchor="middle">forecast probability</text><text x="10" y="{size2}" class="axis" transform="rotate(-90 10 {size2})" text-anchor="middle">observed frequency</text>"##,
        t = esc(title),
        a = p(0.0),
        b = q(0.0),
        c = p(1.0),
        d = q(1.0),
        e = size - 8.0,
        size2 = size / 2.0
    );
    for k in 0..=4 {
        let v = k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{v}</text><text x="26" y="{:.1}" class="axis" text-anchor="end">{v}</text>"##,
            p(v),
            size - 18.0,
            q(v) + 3.0
        );
    }
    let total: u64 = points.iter().map(|x| x.2).sum::<u64>().max(1);
    let line: Vec<String> = points
        .iter()
        .filter(|x| x.2 > 0)
        .map(|&(f, o, _)| format!("{:.1},{:.1}", p(f), q(o)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f5fa8" stroke-width="2"/>"##,
        line.join(" ")
    );
    for &(f, o, n) in points.iter().filter(|x| x.2 > 0) {
        let r = 2.5 + 6.0 * (n as f64 / total as f64).sqrt();
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{r:.1}" fill="#1f5fa8" fill-opacity="0.6"><title>forecast {:.0}%: rained {:.0}% of {n} days</title></circle>"##,
            p(f),
            q(o),
            f * 100.0,
            o * 100.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reliability_diagram_is_svg_with_a_dot_per_filled_bin() {
        let svg = reliability(
            "Reliability",
            &[(0.05, 0.04, 100), (0.5, 0.0, 0), (0.85, 0.8, 10)],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>Reliability</title>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("forecast 85%: rained 80% of 10 days"));
    }

    #[test]
    fn colours_and_escaping() {
        assert_eq!(rain_colour(Some(0.0)), "#faebaa");
        assert_eq!(rain_colour(Some(1.0)), "#084594");
        assert_eq!(esc("<a&\">"), "&lt;a&amp;&quot;&gt;");
    }

    #[test]
    fn charts_are_svg_with_titles() {
        let svg = line_chart(
            "Rain",
            "mm",
            &["1".into(), "2".into()],
            &[Series {
                label: "rain",
                colour: "#00f",
                values: vec![Some(1.0), None],
                bars: true,
            }],
        );
        assert!(
            svg.starts_with("<svg")
                && svg.ends_with("</svg>")
                && svg.contains("<title>Rain</title>")
        );
        let m = map(&[MapPoint {
            location: "SydneyAirport",
            name: "Sydney Airport",
            lat: -33.86,
            lon: 151.2,
            probability: Some(0.4),
            note: "on Sat 6 Sep".into(),
        }]);
        assert!(m.contains("/forecast/SydneyAirport") && m.contains("Sydney Airport: 40% chance"));
    }
}
