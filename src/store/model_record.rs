//! What a model version records beside its blob, typed. Training writes
//! these, the registry, the API, the admin pages and the CLI read them; they
//! live in the store, the lowest layer that all of them see.
//!
//! Each is (de)serialised to exactly the JSON stored since the first
//! release, so existing databases read as before. Fields added later
//! (family, calibration, per-station skill, families, trees) are optional:
//! a version registered before them reads with `None` and writes back
//! without the key.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use crate::score::{Confusion, Metrics, ReliabilityBin};

/// A half-open date window `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The three windows of a training, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Windows {
    pub train: Window,
    pub tune: Window,
    pub test: Window,
}

/// Labelled rows in each window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    pub test: u64,
    pub train: u64,
    pub tune: u64,
}

/// The `train_window` column: the train and tune windows and the rows of
/// all three (the test window has its own column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingWindows {
    pub rows: RowCounts,
    pub train: Window,
    pub tune: Window,
}

/// The model families raincast trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Histogram random forest ([`crate::forest`]).
    Forest,
    /// Histogram gradient boosting ([`crate::forest::boost`]).
    Boost,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Forest => "forest",
            Family::Boost => "boost",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a version records about its calibration, on its test window:
/// Brier before and after, and the reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    pub brier_calibrated: f64,
    pub brier_raw: f64,
    pub mean_forecast: f64,
    pub mean_forecast_raw: f64,
    /// `none`, `isotonic` or `platt`.
    pub method: String,
    /// The map was shifted to keep the learner's own mean forecast on the
    /// tune window (boosting); false for versions from before that, and
    /// then not written, so their stored records read back unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub level_kept: bool,
    pub observed_frequency: f64,
    pub reliability: Vec<ReliabilityBin>,
    pub tune_rows: u64,
    /// The test window scored per issue (feature schema 4 on); empty for
    /// versions from before issues, and then not written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<IssueScore>,
    /// `issues` is scored against per-station monthly climatology counted
    /// on the train window. False (and not written) for versions from
    /// before decision 0035, whose issue skill was scored against a
    /// constant 0.224 and overstated: the pages do not quote it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub climatology_counted: bool,
}

/// One issue's forecasts on the test window: each made from the rows BOM
/// showed at that issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssueScore {
    /// `day_before`, `morning` or `afternoon`.
    pub issue: String,
    pub n: u64,
    pub brier: f64,
    pub roc_auc: f64,
    pub mean_forecast: f64,
    pub observed_frequency: f64,
    /// Brier of per-station monthly climatology from the train window.
    pub climatology_brier: f64,
    /// `1 - brier / climatology_brier`.
    pub brier_skill_score: f64,
}

/// One station's skill on the test window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationSkill {
    pub brier: f64,
    pub location: String,
    pub mean_forecast: f64,
    pub observed_frequency: f64,
    /// `None` when the station saw only one outcome.
    pub roc_auc: Option<f64>,
    pub rows: u64,
}

/// One family's result in a training run, on the run's test window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyResult {
    pub family: Family,
    pub f1: f64,
    pub roc_auc: f64,
    pub brier: f64,
    pub brier_raw: f64,
    pub threshold: f64,
    pub trees: usize,
    pub fit_seconds: f64,
}

/// The `metrics` column: the test-window evaluation and everything the
/// model card shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    /// Calibration before and after, on the test window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationReport>,
    /// The chance of each rain amount on the test window, per issue;
    /// empty for versions from before amounts, and then not written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amounts: Vec<crate::amounts::IssueAmountScores>,
    /// The champion re-scored on this version's test window, if there was one.
    pub champion_f1_same_window: Option<f64>,
    /// Every family fitted in the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<FamilyResult>>,
    /// `None` for versions from before boosting: those are forests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    pub feature_names: Vec<String>,
    pub fit_seconds: f64,
    /// (feature, share of the importance).
    pub importance: Vec<(String, f64)>,
    /// Per-station skill, worst Brier first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations: Option<Vec<StationSkill>>,
    pub test: Metrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<u64>,
    /// The test window's forecasts and outcomes, summed for the served
    /// level correction ([`crate::level`]); `None` for versions from
    /// before it, whose correction learns from the days after their test
    /// window only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<crate::level::Anchor>,
}

impl ModelMetrics {
    /// The recorded family; versions from before boosting are forests.
    pub fn family(&self) -> Family {
        self.family.unwrap_or(Family::Forest)
    }
}

/// The champion/challenger verdict, stored as `promoted` or `kept out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Verdict {
    #[serde(rename = "promoted")]
    Promoted,
    #[serde(rename = "kept out")]
    KeptOut,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Promoted => "promoted",
            Verdict::KeptOut => "kept out",
        }
    }

    /// The stored text back; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "promoted" => Some(Verdict::Promoted),
            "kept out" => Some(Verdict::KeptOut),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The champion/challenger decision of a training, registered with its
/// version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub reason: String,
    /// The champion's F1 re-scored on the challenger's test window.
    pub champion_f1: Option<f64>,
}

impl Decision {
    pub fn promotes(&self) -> bool {
        self.verdict == Verdict::Promoted
    }
}

/// Serde for timestamp columns: RFC 3339 in UTC with milliseconds and `Z`,
/// the text the store writes, so JSON shows what the database holds.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn text(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A `metrics` value exactly as the current release stores it (keys
    /// sorted, as serde_json writes a map), trimmed to one station, family,
    /// importance and reliability bin.
    pub(crate) const METRICS: &str = r#"{"calibration":{"brier_calibrated":0.1012,"brier_raw":0.1101,"mean_forecast":0.2231,"mean_forecast_raw":0.2502,"method":"isotonic","observed_frequency":0.2209,"reliability":[{"hi":0.1,"lo":0.0,"mean_forecast":0.0412,"n":5210,"observed":0.0433},{"hi":1.0,"lo":0.9,"mean_forecast":null,"n":0,"observed":null}],"tune_rows":17280},"champion_f1_same_window":0.6012,"families":[{"brier":0.1012,"brier_raw":0.1101,"f1":0.6123,"family":"forest","fit_seconds":12.5,"roc_auc":0.8842,"threshold":0.33,"trees":100}],"family":"forest","feature_names":["MinTemp","MaxTemp"],"fit_seconds":12.5,"importance":[["Humidity3pm",0.21],["Pressure3pm",0.08]],"stations":[{"brier":0.1532,"location":"Darwin","mean_forecast":0.41,"observed_frequency":0.39,"roc_auc":0.81,"rows":365}],"test":{"accuracy":0.84,"brier":0.1012,"confusion":{"fn":1200,"fp":900,"tn":12000,"tp":2400},"f1":0.6123,"n":16500,"positives":3600,"pr_auc":0.66,"precision":0.7272,"recall":0.6666,"roc_auc":0.8842,"roc_curve":[[0.0,0.0],[0.1,0.5],[1.0,1.0]],"threshold":0.33},"trees":100}"#;

    /// The first release's shape: no family, calibration, stations,
    /// families or trees.
    const METRICS_V1: &str = r#"{"champion_f1_same_window":null,"feature_names":["MinTemp"],"fit_seconds":3.0,"importance":[["MinTemp",1.0]],"test":{"accuracy":0.8,"brier":0.12,"confusion":{"fn":1,"fp":2,"tn":3,"tp":4},"f1":0.6,"n":10,"positives":5,"pr_auc":0.6,"precision":0.6,"recall":0.6,"roc_auc":0.8,"roc_curve":[[0.0,0.0],[1.0,1.0]],"threshold":0.5}}"#;

    pub(crate) const TRAIN_WINDOW: &str = r#"{"rows":{"test":16500,"train":120000,"tune":17280},"train":{"from":"2007-11-01","to":"2016-06-25"},"tune":{"from":"2016-06-25","to":"2024-09-05"}}"#;

    #[test]
    fn todays_stored_json_reads_and_writes_back_byte_for_byte() {
        let m: ModelMetrics = serde_json::from_str(METRICS).unwrap();
        assert_eq!(m.family(), Family::Forest);
        assert_eq!(m.test.confusion.fn_, 1200);
        assert_eq!(m.importance[0], ("Humidity3pm".to_string(), 0.21));
        let cal = m.calibration.as_ref().unwrap();
        assert_eq!(cal.reliability[1].mean_forecast, None);
        assert_eq!(m.stations.as_ref().unwrap()[0].location, "Darwin");
        assert_eq!(m.families.as_ref().unwrap()[0].family, Family::Forest);
        // Through a `Value` (sorted keys), as the store writes it.
        let back = serde_json::to_value(&m).unwrap().to_string();
        assert_eq!(back, METRICS);
        assert!(!cal.level_kept);
        // A booster's calibration, which kept its level, says so.
        let kept = METRICS.replacen(
            r#""brier_raw":0.1101,"mean"#,
            r#""brier_raw":0.1101,"level_kept":true,"mean"#,
            1,
        );
        let m: ModelMetrics = serde_json::from_str(&kept).unwrap();
        assert!(m.calibration.as_ref().unwrap().level_kept);
        assert_eq!(serde_json::to_value(&m).unwrap().to_string(), kept);

        let w: TrainingWindows = serde_json::from_str(TRAIN_WINDOW).unwrap();
        assert_eq!(w.rows.tune, 17280);
        assert_eq!(serde_json::to_value(w).unwrap().to_string(), TRAIN_WINDOW);
    }

    #[test]
    fn the_first_releases_metrics_read_as_a_forest_without_the_later_fields() {
        let m: ModelMetrics = serde_json::from_str(METRICS_V1).unwrap();
        assert_eq!(m.family(), Family::Forest);
        assert!(m.calibration.is_none() && m.stations.is_none() && m.trees.is_none());
        assert_eq!(serde_json::to_value(&m).unwrap().to_string(), METRICS_V1);
    }

    #[test]
    fn verdicts_keep_their_stored_text() {
        for v in [Verdict::Promoted, Verdict::KeptOut] {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::Value::String(v.as_str().into())
            );
        }
        assert_eq!(Verdict::parse("kept"), None);
    }
}
