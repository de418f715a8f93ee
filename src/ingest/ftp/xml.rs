//! BOM's state observation products (`IDx60920.xml`, schema
//! `product.xsd` v1.7): for every automatic station of a state, its latest
//! observation. Read with `roxmltree`; a file that is not a whole XML
//! document of the expected product is rejected, never half-read.

use chrono::{DateTime, Utc};

pub use crate::reading::{Extreme, Fields};

/// One station's observation in one product.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// BOM station number (`bom-id`).
    pub station: String,
    /// The station's name in the product, for messages only.
    pub name: String,
    pub observed_at: DateTime<Utc>,
    pub fields: Fields,
}

/// One parsed product.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub identifier: String,
    pub issued_at: Option<DateTime<Utc>>,
    pub readings: Vec<Reading>,
    /// Values that were not numbers, stored as missing (`station element`).
    pub unreadable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum XmlError {
    #[error("empty file")]
    Empty,
    #[error("not a complete XML document ({0}): truncated or not XML")]
    Syntax(String),
    #[error("not a BOM product: the root element is <{0}>, not <product>")]
    NotProduct(String),
    #[error("the file is product {found}, not {expected}")]
    WrongProduct { expected: String, found: String },
    #[error("no <observations> element")]
    NoObservations,
}

fn time(node: roxmltree::Node<'_, '_>, attr: &str) -> Option<DateTime<Utc>> {
    node.attribute(attr)
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Parse `bytes` as the state observation product `expected`
/// (`IDN60920` …).
pub fn parse(bytes: &[u8], expected: &str) -> Result<Product, XmlError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(XmlError::Empty);
    }
    let text = String::from_utf8_lossy(bytes);
    let doc = roxmltree::Document::parse(&text).map_err(|e| XmlError::Syntax(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "product" {
        return Err(XmlError::NotProduct(root.tag_name().name().to_string()));
    }
    let amoc = root.children().find(|n| n.has_tag_name("amoc"));
    let identifier = amoc
        .and_then(|a| a.children().find(|n| n.has_tag_name("identifier")))
        .and_then(|n| n.text())
        .unwrap_or("")
        .trim()
        .to_string();
    if identifier != expected {
        return Err(XmlError::WrongProduct {
            expected: expected.to_string(),
            found: if identifier.is_empty() {
                "without an identifier".into()
            } else {
                identifier
            },
        });
    }
    let issued_at = amoc
        .and_then(|a| a.children().find(|n| n.has_tag_name("issue-time-utc")))
        .and_then(|n| n.text())
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&Utc));
    let observations = root
        .children()
        .find(|n| n.has_tag_name("observations"))
        .ok_or(XmlError::NoObservations)?;
    let mut readings = Vec::new();
    let mut unreadable = Vec::new();
    for station in observations
        .children()
        .filter(|n| n.has_tag_name("station"))
    {
        let Some(number) = station.attribute("bom-id") else {
            continue;
        };
        let name = station.attribute("stn-name").unwrap_or("").to_string();
        // The current observation is period 0.
        let Some(period) = station
            .children()
            .find(|n| n.has_tag_name("period") && n.attribute("index").is_none_or(|i| i == "0"))
        else {
            continue;
        };
        let Some(observed_at) = time(period, "time-utc") else {
            unreadable.push(format!("{number} period time-utc"));
            continue;
        };
        let mut f = Fields::default();
        let elements = period.descendants().filter(|n| n.has_tag_name("element"));
        for e in elements {
            let kind = e.attribute("type").unwrap_or("");
            let text = e.text().unwrap_or("").trim();
            let num = || -> Option<f64> {
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Some(v),
                    _ => None,
                }
            };
            let extreme = |v: f64| -> Option<Extreme> {
                Some(Extreme {
                    value: v,
                    start: time(e, "start-time-utc")?,
                    end: time(e, "end-time-utc")?,
                    at: time(e, "time-utc"),
                })
            };
            let numeric = matches!(
                kind,
                "air_temperature"
                    | "dew_point"
                    | "rel-humidity"
                    | "msl_pres"
                    | "pres"
                    | "cloud_oktas"
                    | "wind_spd_kmh"
                    | "gust_kmh"
                    | "rainfall"
                    | "rainfall_24hr"
                    | "maximum_air_temperature"
                    | "minimum_air_temperature"
                    | "maximum_gust_kmh"
            );
            let v = if numeric {
                match num() {
                    Some(v) => Some(v),
                    None => {
                        unreadable.push(format!("{number} {kind} `{text}`"));
                        continue;
                    }
                }
            } else {
                None
            };
            match (kind, v) {
                ("air_temperature", v) => f.air_temp = v,
                ("dew_point", v) => f.dew_point = v,
                ("rel-humidity", v) => f.rel_humidity = v,
                ("msl_pres", v) => f.pressure = v,
                ("pres", v) if f.pressure.is_none() => f.pressure = v,
                ("cloud_oktas", v) => f.cloud_oktas = v,
                ("wind_spd_kmh", v) => f.wind_spd_kmh = v,
                ("gust_kmh", v) => f.gust_kmh = v,
                ("rainfall", Some(v)) => f.rain_since_9am = extreme(v),
                ("rainfall_24hr", Some(v)) => f.rain_24h = extreme(v),
                ("maximum_air_temperature", Some(v)) => f.max_temp = extreme(v),
                ("minimum_air_temperature", Some(v)) => f.min_temp = extreme(v),
                ("maximum_gust_kmh", Some(v)) => f.max_gust_kmh = extreme(v),
                ("wind_dir", _) if !text.is_empty() => f.wind_dir = Some(text.to_string()),
                ("maximum_gust_dir", _) if !text.is_empty() => {
                    f.max_gust_dir = Some(text.to_string())
                }
                _ => {}
            }
        }
        readings.push(Reading {
            station: number.to_string(),
            name,
            observed_at,
            fields: f,
        });
    }
    Ok(Product {
        identifier: expected.to_string(),
        issued_at,
        readings,
        unreadable,
    })
}

/// Escape text for an XML attribute or element.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
