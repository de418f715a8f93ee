//! Model-quality curves: ROC and reliability.

use super::*;

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
        r##"<svg class="roc reliability" viewBox="0 0 {size} {size}" role="img" aria-label="{t}"><title>{t}</title><line x1="{a}" y1="{b}" x2="{c}" y2="{d}" class="diagonal" stroke="#556" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{size2}" y="{e}" class="axis" text-anchor="middle">we said (%)</text><text x="12" y="{size2}" class="axis" transform="rotate(-90 12 {size2})" text-anchor="middle">it rained (%)</text>"##,
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
        let label = k * 25;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{label}</text><text x="40" y="{:.1}" class="axis" text-anchor="end">{label}</text>"##,
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
