//! Tests of the inline SVG charts.

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
        svg.starts_with("<svg") && svg.ends_with("</svg>") && svg.contains("<title>Rain</title>")
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

#[test]
fn map_dots_never_cover_another_dots_centre() {
    let at: Vec<(f64, f64)> = crate::stations::STATIONS
        .iter()
        .map(|s| {
            let (lat, lon) = s.model_coords();
            project(lon, lat)
        })
        .collect();
    // Before: Sydney and Sydney Airport are less than a dot apart.
    let close = |p: &[(f64, f64)]| {
        let mut n = 0;
        for i in 0..p.len() {
            for j in i + 1..p.len() {
                if (p[i].0 - p[j].0).hypot(p[i].1 - p[j].1) < 2.0 * DOT_R {
                    n += 1;
                }
            }
        }
        n
    };
    assert!(close(&at) > 10);
    let moved = dodge(&at, DOT_R);
    assert_eq!(close(&moved), 0);
    // Each dot stays near its station, and the map's box holds them all.
    for (a, b) in at.iter().zip(&moved) {
        assert!((a.0 - b.0).hypot(a.1 - b.1) < 80.0, "{a:?} moved to {b:?}");
        assert!((0.0..=700.0).contains(&b.0) && (0.0..=510.0).contains(&b.1));
    }
    assert_eq!(dodge(&at, DOT_R), moved, "deterministic");
}

#[test]
fn the_phone_map_has_one_labelled_bubble_per_state() {
    let clusters: Vec<StateCluster> = ["NSW", "VIC", "ACT", "TAS", "QLD", "SA", "WA", "NT"]
        .iter()
        .map(|s| StateCluster {
            state: s,
            current: 1,
            cities: 2,
            wettest: Some(0.5),
        })
        .collect();
    let svg = state_map(&clusters);
    assert_eq!(svg.matches("class=\"state-dot\"").count(), 8);
    assert!(svg.contains(r#"href="/?q=NSW#cities""#) && svg.contains(">NSW</text>"));
    // No two bubbles overlap.
    let places: Vec<(f64, f64)> = clusters
        .iter()
        .map(|c| {
            let (lon, lat) = cluster_place(c.state).unwrap();
            project(lon, lat)
        })
        .collect();
    for i in 0..places.len() {
        for j in i + 1..places.len() {
            let d = (places[i].0 - places[j].0).hypot(places[i].1 - places[j].1);
            assert!(
                d > 2.0 * CLUSTER_R,
                "{} and {}: {d}",
                clusters[i].state,
                clusters[j].state
            );
        }
    }
}
