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
    /// Draw as bars from zero instead of a line.
    pub bars: bool,
}

/// A shaded range between two series (daily minimum to maximum), for
/// [`chart`].
pub struct Band<'a> {
    pub label: &'a str,
    pub colour: &'a str,
    pub lo: Vec<Option<f64>>,
    pub hi: Vec<Option<f64>>,
}

/// "Nice" tick values covering `lo..=hi` in at most `n + 1` steps of 1, 2
/// or 5 × 10^k: 0 / 20 / 40 …, never 22 / 44 / 67.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (lo, hi) = if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    // The smallest 1-2-5 step that covers the range in at most n + 1 steps.
    let intervals = |s: f64| ((hi / s - 1e-9).ceil() - (lo / s + 1e-9).floor()) as usize;
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| intervals(*s) <= n + 1)
        .unwrap_or(100.0 * mag);
    let first = (lo / step).floor() * step;
    let mut ticks = Vec::new();
    let mut v = first;
    while v < hi + step * 0.999 {
        // Avoid -0 and float dust (0.30000000000000004).
        let r = ((v / step).round() * step * 1e9).round() / 1e9;
        ticks.push(if r.abs() < step * 1e-9 { 0.0 } else { r });
        if r >= hi - 1e-9 {
            break;
        }
        v += step;
    }
    ticks
}

/// A tick label with as many decimals as the step needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = (0..=4)
        .find(|&d| {
            let x = step * 10f64.powi(d as i32);
            (x - x.round()).abs() < 1e-6
        })
        .unwrap_or(4);
    format!("{v:.decimals$}")
}

/// Approximate width of `text` at the chart's 12-unit font.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * 6.6
}

/// Legend entries (swatch + label), laid out left to right and wrapped
/// onto new lines so that none is ever clipped. Returns the markup and the
/// height it takes.
fn legend(entries: &[(&str, &str, bool)], x0: f64, width: f64) -> (String, f64) {
    let (mut x, mut y) = (x0, 14.0);
    let mut s = String::new();
    for &(label, colour, line) in entries {
        let w = 18.0 + text_width(label) + 14.0;
        if x > x0 && x + w > width {
            x = x0;
            y += 18.0;
        }
        if line {
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/>"##,
                x + 12.0,
                y - 4.0,
                y - 4.0
            );
        } else {
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{:.1}" width="12" height="10" fill="{colour}"/>"##,
                y - 9.0
            );
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{y:.1}" class="legend">{}</text>"##,
            x + 16.0,
            esc(label)
        );
        x += w;
    }
    (s, y + 8.0)
}

/// A small multi-series chart with shared x labels (dates).
pub fn line_chart(title: &str, unit: &str, x_labels: &[String], series: &[Series<'_>]) -> String {
    chart(title, unit, x_labels, series, None)
}

/// A chart of one quantity (one `unit`, one axis) over shared x labels:
/// lines, bars from zero, and optionally a shaded band; nice ticks, the
/// unit at the top of the axis, a legend with swatches above the plot.
pub fn chart(
    title: &str,
    unit: &str,
    x_labels: &[String],
    series: &[Series<'_>],
    band: Option<&Band<'_>>,
) -> String {
    let (w, left, right, bottom) = (480.0, 44.0, 10.0, 22.0);
    let mut entries: Vec<(&str, &str, bool)> = Vec::new();
    if let Some(b) = band {
        entries.push((b.label, b.colour, false));
    }
    for se in series {
        entries.push((se.label, se.colour, !se.bars));
    }
    let (legend_svg, legend_h) = legend(&entries, left, w - right);
    let top = legend_h + 14.0;
    let h = top + 150.0 + bottom;
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .chain(
            band.into_iter()
                .flat_map(|b| b.lo.iter().chain(b.hi.iter()).flatten().copied()),
        )
        .filter(|v| v.is_finite())
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
        hi = hi.max(1.0);
    }
    let ticks = nice_ticks(lo, hi, 4);
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    let (lo, hi) = (
        ticks.first().copied().unwrap_or(lo),
        ticks.last().copied().unwrap_or(hi),
    );
    let hi = if hi - lo < 1e-12 { lo + 1.0 } else { hi };
    let n = x_labels.len().max(1);
    let xstep = (w - left - right) / n as f64;
    let x = |i: usize| left + xstep * (i as f64 + 0.5);
    let y = |v: f64| top + (h - top - bottom) * (1.0 - (v - lo) / (hi - lo));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{t}"><title>{t}</title>"##,
        t = esc(title)
    );
    s.push_str(&legend_svg);
    for &v in &ticks {
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{yv:.1}" y2="{yv:.1}" class="grid"/><text x="{}" y="{:.1}" class="axis" text-anchor="end">{}</text>"##,
            w - right,
            left - 5.0,
            y(v) + 4.0,
            tick_label(v, step),
            yv = y(v)
        );
    }
    if !unit.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" class="axis unit" text-anchor="end">{}</text>"##,
            left - 5.0,
            top - 8.0,
            esc(unit)
        );
    }
    let every = n.div_ceil(5).max(1);
    for (i, l) in x_labels.iter().enumerate() {
        if i % every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{}" class="axis" text-anchor="middle">{}</text>"##,
                x(i),
                h - 6.0,
                esc(l)
            );
        }
    }
    if let Some(b) = band {
        // One polygon per run of days with both ends known.
        let mut run: Vec<(usize, f64, f64)> = Vec::new();
        let flush = |run: &mut Vec<(usize, f64, f64)>, s: &mut String| {
            if run.is_empty() {
                return;
            }
            let mut pts: Vec<String> = run
                .iter()
                .map(|&(i, _, h)| format!("{:.1},{:.1}", x(i), y(h)))
                .collect();
            pts.extend(
                run.iter()
                    .rev()
                    .map(|&(i, l, _)| format!("{:.1},{:.1}", x(i), y(l))),
            );
            if run.len() == 1 {
                let (i, l, h) = run[0];
                let _ = write!(
                    s,
                    r##"<line x1="{xi:.1}" x2="{xi:.1}" y1="{:.1}" y2="{:.1}" stroke="{}" stroke-width="4"/>"##,
                    y(l),
                    y(h),
                    b.colour,
                    xi = x(i)
                );
            } else {
                let _ = write!(
                    s,
                    r##"<polygon points="{}" fill="{}" fill-opacity="0.45" stroke="{}" stroke-width="1"/>"##,
                    pts.join(" "),
                    b.colour,
                    b.colour
                );
            }
            run.clear();
        };
        for i in 0..n.min(b.lo.len()).min(b.hi.len()) {
            match (b.lo[i], b.hi[i]) {
                (Some(l), Some(h)) => run.push((i, l, h)),
                _ => flush(&mut run, &mut s),
            }
        }
        flush(&mut run, &mut s);
    }
    for se in series {
        if se.bars {
            for (i, v) in se.values.iter().enumerate() {
                if let Some(v) = v {
                    let _ = write!(
                        s,
                        r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {v} {}</title></rect>"##,
                        x(i) - xstep * 0.35,
                        y(*v),
                        xstep * 0.7,
                        (y(lo.max(0.0)) - y(*v)).max(0.0),
                        se.colour,
                        esc(x_labels.get(i).map_or("", |l| l.as_str())),
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
    s.push_str("</svg>");
    s
}

/// One ROC curve: label, colour, (false positive rate, true positive rate) points.
pub type RocCurve<'a> = (&'a str, &'a str, &'a [(f64, f64)]);

/// ROC curves on one chart, with a legend of colour swatches and ticks.
pub fn roc(curves: &[RocCurve<'_>]) -> String {
    let size = 260.0;
    let entries: Vec<(&str, &str, bool)> = curves.iter().map(|c| (c.0, c.1, true)).collect();
    let (legend_svg, legend_h) = legend(&entries, 48.0, size - 6.0);
    let top = legend_h + 6.0;
    let (left, bottom) = (48.0, 34.0);
    let plot = size - left - 10.0;
    let h = top + plot + bottom;
    let p = |v: f64| left + v * plot;
    let q = |v: f64| top + (1.0 - v) * plot;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="roc" viewBox="0 0 {size} {h:.0}" role="img" aria-label="ROC curves"><title>ROC curves: true positive rate against false positive rate</title>{legend_svg}<line x1="{a}" y1="{b}" x2="{c}" y2="{d}" class="grid diagonal"/><text x="{mid}" y="{e}" class="axis" text-anchor="middle">false positive rate</text><text x="12" y="{midy}" class="axis" transform="rotate(-90 12 {midy})" text-anchor="middle">true positive rate</text>"##,
        a = p(0.0),
        b = q(0.0),
        c = p(1.0),
        d = q(1.0),
        e = h - 4.0,
        mid = left + plot / 2.0,
        midy = top + plot / 2.0
    );
    for k in 0..=4 {
        let v = k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{x0}" x2="{x1}" y1="{yv:.1}" y2="{yv:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{v}</text><text x="{:.1}" y="{:.1}" class="axis" text-anchor="end">{v}</text>"##,
            p(v),
            q(0.0) + 14.0,
            left - 3.0,
            q(v) + 4.0,
            x0 = p(0.0),
            x1 = p(1.0),
            yv = q(v)
        );
    }
    for (label, colour, pts) in curves {
        let d: Vec<String> = pts
            .iter()
            .map(|&(fx, ty)| format!("{:.1},{:.1}", p(fx), q(ty)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"><title>{}</title></polyline>"##,
            d.join(" "),
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
    let p = |v: f64| 44.0 + v.clamp(0.0, 1.0) * (size - 54.0);
    let q = |v: f64| size - 40.0 - v.clamp(0.0, 1.0) * (size - 50.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="roc reliability" viewBox="0 0 {size} {size}" role="img" aria-label="{t}"><title>{t}</title><line x1="{a}" y1="{b}" x2="{c}" y2="{d}" class="grid"/><text x="{size2}" y="{e}" class="axis" text-anchor="middle">forecast probability</text><text x="12" y="{size2}" class="axis" transform="rotate(-90 12 {size2})" text-anchor="middle">observed frequency</text>"##,
        t = esc(title),
        a = p(0.0),
        b = q(0.0),
        c = p(1.0),
        d = q(1.0),
        e = size - 6.0,
        size2 = size / 2.0
    );
    for k in 0..=4 {
        let v = k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{v}</text><text x="40" y="{:.1}" class="axis" text-anchor="end">{v}</text>"##,
            p(v),
            size - 24.0,
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
    fn ticks_are_nice() {
        assert_eq!(
            nice_ticks(0.0, 89.0, 4),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(3.2, 27.9, 4), vec![0.0, 10.0, 20.0, 30.0]);
        assert_eq!(
            nice_ticks(1008.0, 1023.0, 4),
            vec![1005.0, 1010.0, 1015.0, 1020.0, 1025.0]
        );
        let t = nice_ticks(0.61, 0.87, 4);
        assert_eq!(t.first(), Some(&0.6));
        assert!(
            t.windows(2).all(|w| ((w[1] - w[0]) - 0.1).abs() < 1e-9),
            "{t:?}"
        );
        assert_eq!(tick_label(0.6, 0.1), "0.6");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(tick_label(40.0, 20.0), "40");
        assert!(nice_ticks(5.0, 5.0, 4).len() >= 2);
    }

    #[test]
    fn legends_wrap_instead_of_clipping() {
        let long = "a very long legend label that would not fit";
        let (svg, h) = legend(&[(long, "#000", true), (long, "#111", false)], 44.0, 470.0);
        assert!(h > 30.0, "two lines: {h}");
        assert_eq!(svg.matches("<text").count(), 2);
        let band = Band {
            label: "min–max °C",
            colour: "#f00",
            lo: vec![Some(10.0), Some(11.0), None, Some(9.0)],
            hi: vec![Some(20.0), Some(22.0), None, Some(19.0)],
        };
        let svg = chart(
            "Temperature",
            "°C",
            &["a".into(), "b".into(), "c".into(), "d".into()],
            &[],
            Some(&band),
        );
        assert_eq!(svg.matches("<polygon").count(), 1, "{svg}");
        assert!(svg.contains("min–max °C"));
        let r = roc(&[
            ("v1", "#1f5fa8", &[(0.0, 0.0), (1.0, 1.0)]),
            ("v2", "#d35400", &[(0.0, 0.0), (1.0, 1.0)]),
        ]);
        assert!(
            r.contains(r##"stroke="#1f5fa8" stroke-width="3""##),
            "a swatch per curve"
        );
        assert!(r.contains(r##"stroke="#d35400" stroke-width="3""##));
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
