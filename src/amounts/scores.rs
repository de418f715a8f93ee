//! Scoring amounts: per threshold, the Brier score and the mean forecast
//! against the observed frequency; over the thresholds, the ranked
//! probability score and its skill against climatology; and how often the
//! observed amount reached each end of the possible-rainfall range.

use serde::{Deserialize, Serialize};

use super::{Curve, RANGE_CHANCES, SCORED, THRESHOLDS};
use crate::issue::{ISSUES, Issue};

/// One scored forecast of amounts.
#[derive(Debug, Clone)]
pub struct AmountItem {
    pub issue: Option<Issue>,
    pub curve: Curve,
    /// The per-station monthly climatology for the same day.
    pub climatology: Curve,
    /// What fell in the window, in mm.
    pub amount: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ThresholdScore {
    pub mm: f64,
    /// `at least 5 mm`, `more than 1 mm`.
    pub event: String,
    pub brier: f64,
    pub climatology_brier: f64,
    pub brier_skill_score: Option<f64>,
    pub mean_forecast: f64,
    pub observed_frequency: f64,
}

/// How often the observed amount reached one end of the range. Days whose
/// end is 0 mm (the chance of any rain was below the end's chance) are
/// counted apart: "at least 0 mm" is always reached, so they say nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RangeScore {
    /// `low` (50 % chance of being reached) or `high` (25 %).
    pub end: String,
    /// The chance the end should be reached with: 0.5 or 0.25.
    pub chance: f64,
    /// Days on which this end was above 0 mm.
    pub n: u64,
    /// Of those, the share on which at least that much fell.
    pub reached_frequency: Option<f64>,
    /// Days on which this end was 0 mm.
    pub days_at_zero: u64,
}

/// Scores of one set of amount forecasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AmountScores {
    pub n: u64,
    /// 0.2, 1, 5, 10 and 25 mm.
    pub thresholds: Vec<ThresholdScore>,
    /// The ranked probability score over those thresholds: the mean of
    /// their squared errors, 0 for a perfect forecast.
    pub rps: f64,
    pub climatology_rps: f64,
    /// `1 - rps / climatology_rps`: above 0 beats climatology.
    pub rpss: Option<f64>,
    pub range: Vec<RangeScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssueAmountScores {
    /// `day_before`, `morning` or `afternoon`.
    pub issue: String,
    #[serde(flatten)]
    pub scores: AmountScores,
}

impl AmountScores {
    /// `None` for no items.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a AmountItem>) -> Option<AmountScores> {
        let items: Vec<&AmountItem> = items.into_iter().collect();
        if items.is_empty() {
            return None;
        }
        let n = items.len() as f64;
        let sq = |p: f32, hit: bool| (f64::from(p) - f64::from(u8::from(hit))).powi(2);
        let thresholds = SCORED
            .iter()
            .map(|&k| {
                let t = THRESHOLDS[k];
                let (mut b, mut bc, mut f, mut o) = (0.0, 0.0, 0.0, 0.0);
                for i in &items {
                    let hit = t.reached(i.amount);
                    b += sq(i.curve.0[k], hit);
                    bc += sq(i.climatology.0[k], hit);
                    f += f64::from(i.curve.0[k]);
                    o += f64::from(u8::from(hit));
                }
                ThresholdScore {
                    mm: t.mm,
                    event: t.event(),
                    brier: b / n,
                    climatology_brier: bc / n,
                    brier_skill_score: crate::score::skill_score(b / n, bc / n),
                    mean_forecast: f / n,
                    observed_frequency: o / n,
                }
            })
            .collect::<Vec<_>>();
        let k = SCORED.len() as f64;
        let rps = thresholds.iter().map(|t| t.brier).sum::<f64>() / k;
        let climatology_rps = thresholds.iter().map(|t| t.climatology_brier).sum::<f64>() / k;
        let range = ["low", "high"]
            .iter()
            .zip(RANGE_CHANCES)
            .map(|(&end, chance)| {
                let (mut above, mut reached, mut zero) = (0u64, 0u64, 0u64);
                for i in &items {
                    let mm = i.curve.amount_with_chance(chance);
                    if mm > 0.0 {
                        above += 1;
                        reached += u64::from(i.amount >= mm - 1e-9);
                    } else {
                        zero += 1;
                    }
                }
                RangeScore {
                    end: end.into(),
                    chance,
                    n: above,
                    reached_frequency: (above > 0).then(|| reached as f64 / above as f64),
                    days_at_zero: zero,
                }
            })
            .collect();
        Some(AmountScores {
            n: items.len() as u64,
            thresholds,
            rps,
            climatology_rps,
            rpss: crate::score::skill_score(rps, climatology_rps),
            range,
        })
    }

    /// For people, one line each: the ranked probability score, each
    /// threshold, each end of the range.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "amounts on {} days: RPS {:.4} vs climatology {:.4} (skill {})",
            self.n,
            self.rps,
            self.climatology_rps,
            self.rpss.map_or("–".into(), |v| format!("{v:+.3}"))
        )];
        for t in &self.thresholds {
            out.push(format!(
                "  {:<16} Brier {:.4} (climatology {:.4})  mean forecast {:.4} vs observed {:.4}",
                t.event, t.brier, t.climatology_brier, t.mean_forecast, t.observed_frequency
            ));
        }
        for r in &self.range {
            out.push(format!(
                "  range {:<4} end ({:.0} % chance): reached on {} of {} days it was above 0 mm ({} days at 0 mm)",
                r.end,
                r.chance * 100.0,
                r.reached_frequency
                    .map_or("–".into(), |v| format!("{:.1} %", v * 100.0)),
                r.n,
                r.days_at_zero
            ));
        }
        out
    }

    /// The scores of each issue present among `items`.
    pub fn by_issue(items: &[AmountItem]) -> Vec<IssueAmountScores> {
        ISSUES
            .iter()
            .filter_map(|&issue| {
                AmountScores::of(items.iter().filter(|i| i.issue == Some(issue))).map(|scores| {
                    IssueAmountScores {
                        issue: issue.name().into(),
                        scores,
                    }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_forecast_scores_zero_and_climatology_is_beaten() {
        let wet = Curve::monotone([0.999, 0.999, 0.999, 0.999, 0.999, 0.001, 0.001, 0.001]);
        let dry = Curve::monotone([0.001; 8]);
        let clim = Curve::monotone([0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01]);
        let items = vec![
            AmountItem {
                issue: Some(Issue::Afternoon),
                curve: wet,
                climatology: clim,
                amount: 14.0,
            },
            AmountItem {
                issue: Some(Issue::Morning),
                curve: dry,
                climatology: clim,
                amount: 0.0,
            },
        ];
        let s = AmountScores::of(&items).unwrap();
        assert_eq!(s.n, 2);
        assert!(s.rps < 1e-5, "{}", s.rps);
        assert!(s.rpss.unwrap() > 0.99);
        assert_eq!(s.thresholds.len(), 5);
        assert_eq!(s.thresholds[3].observed_frequency, 0.5, "10 mm fell once");
        // The wet day's range sits above 10 mm and was reached; the dry
        // day's is 0 mm at both ends.
        assert_eq!(s.range[0].n, 1);
        assert_eq!(s.range[0].reached_frequency, Some(1.0));
        assert_eq!(s.range[0].days_at_zero, 1);
        let by = AmountScores::by_issue(&items);
        assert_eq!(by.len(), 2);
        assert_eq!(by[0].issue, "morning");
        assert!(AmountScores::of(&[]).is_none());
    }
}
