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
