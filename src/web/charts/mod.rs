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

mod curves;
mod line;
mod map;
#[cfg(test)]
mod tests;

pub use curves::*;
pub use line::*;
pub use map::*;

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
