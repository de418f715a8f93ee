//! Line charts over days: series, shaded bands and a legend.

use super::*;

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

/// A small multi-series chart with shared x labels (dates).
pub fn line_chart(title: &str, unit: &str, x_labels: &[String], series: &[Series<'_>]) -> String {
    chart(title, unit, x_labels, series, None)
}

/// A chart of one quantity (one `unit`, one axis) over shared x labels:
/// lines, bars from zero, and optionally a shaded band; nice ticks, the
/// unit as the axis title, a legend with swatches above the plot.
pub fn chart(
    title: &str,
    unit: &str,
    x_labels: &[String],
    series: &[Series<'_>],
    band: Option<&Band<'_>>,
) -> String {
    chart_axis(title, unit, unit, x_labels, series, band)
}

/// [`chart`] with an axis title that names the quantity with its unit
/// ("Rain in the 24 h to 9 am (mm)"), written above the axis from the
/// chart's left edge, clear of the top tick. The chart is 360 units wide,
/// so that on a 390 px phone (about 364 px for the chart) its 12-unit text
/// is 12 px.
pub fn chart_axis(
    title: &str,
    axis: &str,
    unit: &str,
    x_labels: &[String],
    series: &[Series<'_>],
    band: Option<&Band<'_>>,
) -> String {
    let (w, left, right, bottom) = (360.0, 44.0, 10.0, 22.0);
    let mut entries: Vec<(&str, &str, bool)> = Vec::new();
    if let Some(b) = band {
        entries.push((b.label, b.colour, false));
    }
    for se in series {
        entries.push((se.label, se.colour, !se.bars));
    }
    let (legend_svg, legend_h) = legend(&entries, left, w - right);
    let top = legend_h + 26.0;
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
    if !axis.is_empty() {
        let _ = write!(
            s,
            r##"<text x="4" y="{:.1}" class="axis unit" text-anchor="start">{}</text>"##,
            top - 10.0,
            esc(axis)
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
