//! Settings that are more than a number or a flag, parsed into their types
//! when the configuration loads, and written back as the same text.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::forest::{ClassWeight, MaxFeatures};

/// A TOML scalar that may be written as a string or a number
/// (`max_features = 8`, `= "8"` or `RAINCAST_MODEL__MAX_FEATURES=8`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
        }
    }
}

/// `model.max_features`: `sqrt`, `log2`, `all`, a fraction such as `0.3`,
/// or a count such as `8`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureDraw(pub MaxFeatures);

impl std::str::FromStr for FeatureDraw {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not sqrt, log2, all, a fraction or a count");
        Ok(FeatureDraw(match s.trim() {
            "sqrt" => MaxFeatures::Sqrt,
            "log2" => MaxFeatures::Log2,
            "all" => MaxFeatures::All,
            t if t.contains('.') => MaxFeatures::Fraction(t.parse().map_err(|_| bad())?),
            t => MaxFeatures::Count(t.parse().map_err(|_| bad())?),
        }))
    }
}

impl fmt::Display for FeatureDraw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            MaxFeatures::Sqrt => f.write_str("sqrt"),
            MaxFeatures::Log2 => f.write_str("log2"),
            MaxFeatures::All => f.write_str("all"),
            MaxFeatures::Fraction(x) => write!(f, "{x:?}"),
            MaxFeatures::Count(n) => write!(f, "{n}"),
        }
    }
}

/// `model.class_weight`: `none`, `balanced`, `balanced_subsample`, or a
/// weight for "yes" such as `2.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassWeights(pub ClassWeight);

impl std::str::FromStr for ClassWeights {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(ClassWeights(match s.trim() {
            "none" => ClassWeight::None,
            "balanced" => ClassWeight::Balanced,
            "balanced_subsample" => ClassWeight::BalancedSubsample,
            t => ClassWeight::Custom {
                yes: t.parse().map_err(|_| {
                    format!("`{s}` is not none, balanced, balanced_subsample or a number")
                })?,
            },
        }))
    }
}

impl fmt::Display for ClassWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ClassWeight::None => f.write_str("none"),
            ClassWeight::Balanced => f.write_str("balanced"),
            ClassWeight::BalancedSubsample => f.write_str("balanced_subsample"),
            ClassWeight::Custom { yes } => write!(f, "{yes:?}"),
        }
    }
}

/// Serde through the text form, accepting a number where one makes sense.
macro_rules! text_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Scalar::deserialize(d)?
                    .into_text()
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

text_serde!(FeatureDraw);
text_serde!(ClassWeights);
text_serde!(LocalTime);

/// A time of day in a station's own local time, written `HH:MM`
/// (`bom.shows_morning = "10:00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime(pub chrono::NaiveTime);

impl LocalTime {
    /// `h:m`, for built-in defaults.
    pub fn hm(h: u32, m: u32) -> Self {
        LocalTime(chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default())
    }
}

impl std::str::FromStr for LocalTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map(LocalTime)
            .map_err(|_| format!("`{s}` is not a time of day written HH:MM (e.g. 16:30)"))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

/// `admin.cookie_secure`: when the session cookie is marked `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieSecure {
    /// When the request came over TLS or `X-Forwarded-Proto: https`.
    Auto,
    Always,
    Never,
}

impl CookieSecure {
    pub fn as_str(self) -> &'static str {
        match self {
            CookieSecure::Auto => "auto",
            CookieSecure::Always => "always",
            CookieSecure::Never => "never",
        }
    }
}

/// An optional address written as an empty string when absent
/// (`server.metrics_bind = ""`).
pub mod optional_addr {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(a) => s.collect_str(a),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        text.trim()
            .parse()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("`{text}`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for s in ["sqrt", "log2", "all", "0.3", "8"] {
            assert_eq!(s.parse::<FeatureDraw>().unwrap().to_string(), s);
        }
        for s in ["none", "balanced", "balanced_subsample", "2.5"] {
            assert_eq!(s.parse::<ClassWeights>().unwrap().to_string(), s);
        }
        for s in ["00:00", "10:00", "16:30", "23:59"] {
            assert_eq!(s.parse::<LocalTime>().unwrap().to_string(), s);
        }
        for s in ["16", "16:3x", "25:00", "4:30 pm", ""] {
            let e = s.parse::<LocalTime>().unwrap_err();
            assert!(e.contains("HH:MM"), "{e}");
        }
        assert!("most".parse::<FeatureDraw>().is_err());
        assert!("heavy".parse::<ClassWeights>().is_err());
    }
}
