//! How much rain: the chance of each rain amount in a forecast's window and
//! BOM's "possible rainfall" range (decision record 0025).
//!
//! A model's headline is the chance of more than 1 mm. Beside it, an
//! [`AmountModel`] turns that calibrated chance, with the station's
//! climatology for the month, into the chance of reaching each amount in
//! [`THRESHOLDS`]: one small logistic map per issue and threshold, fitted on
//! the tune window after calibration, then made monotone across amounts. A
//! [`Curve`] is one forecast's chances; the range and the chance of any
//! amount between the fitted ones are read off it by interpolating in
//! log-millimetres, so every answer lies between its two fitted neighbours.

pub mod fit;
mod scores;

pub use fit::{AmountClimatology, AmountModel};
pub use scores::{AmountItem, AmountScores, IssueAmountScores, RangeScore, ThresholdScore};

use serde::{Deserialize, Serialize};

/// One rain amount a forecast gives a chance for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub mm: f64,
    /// `more than` (the headline, BOM's rain-day rule) rather than `at least`.
    pub strict: bool,
}

impl Threshold {
    /// Whether an observed amount reaches it.
    pub fn reached(self, amount: f64) -> bool {
        if self.strict {
            amount > self.mm
        } else {
            amount >= self.mm - 1e-9
        }
    }

    /// For people and JSON: `at least 0.2 mm`, `more than 1 mm`.
    pub fn event(self) -> String {
        let op = if self.strict { "more than" } else { "at least" };
        format!("{op} {} mm", self.mm)
    }
}

/// The event of a fitted amount (`more than 1 mm` for 1), else `at least
/// {mm} mm`.
pub fn event_of(mm: f64) -> String {
    THRESHOLDS
        .iter()
        .find(|t| (t.mm - mm).abs() < 1e-9)
        .map_or_else(|| at_least(mm).event(), |t| t.event())
}

const fn at_least(mm: f64) -> Threshold {
    Threshold { mm, strict: false }
}

/// The amounts every forecast gives a chance for, in increasing order.
/// `0.2 mm` is BOM's "any rain" (a gauge's smallest reading); `more than
/// 1 mm` is the headline, the model's own event.
pub const THRESHOLDS: [Threshold; 8] = [
    at_least(0.2),
    Threshold {
        mm: 1.0,
        strict: true,
    },
    at_least(2.0),
    at_least(5.0),
    at_least(10.0),
    at_least(15.0),
    at_least(25.0),
    at_least(50.0),
];
pub const N: usize = THRESHOLDS.len();
/// The index of the headline (`more than 1 mm`) in [`THRESHOLDS`].
pub const HEADLINE: usize = 1;
/// The thresholds every score reports and the ranked probability score
/// sums over: 0.2, 1, 5, 10 and 25 mm.
pub const SCORED: [usize; 5] = [0, 1, 3, 4, 6];
/// The smallest amount a chance is given for: a gauge's smallest reading.
pub const MIN_MM: f64 = 0.2;
/// The largest amount a chance is given for.
pub const MAX_MM: f64 = 50.0;
/// BOM's convention for the possible-rainfall range: the amount with a
/// 50 % chance of being reached, and the one with a 25 % chance.
pub const RANGE_CHANCES: [f64; 2] = [0.5, 0.25];

/// Chances are kept inside `[FLOOR, 1 - FLOOR]`, as calibrated ones are.
const FLOOR: f32 = 0.001;

/// One forecast's chance of each amount in [`THRESHOLDS`]: non-increasing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve(pub [f32; N]);

/// The chance of one fitted amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Chance {
    pub mm: f64,
    /// `at least 5 mm`, `more than 1 mm`.
    pub event: String,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub chance: f64,
}

/// The answer to `?mm=`: the chance of at least `mm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AtLeast {
    pub mm: f64,
    /// What the chance is of: `at least 7 mm`, or `more than 1 mm` for 1
    /// (the headline, BOM's rain day).
    pub event: String,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub chance: f64,
    /// `true` when `mm` lies between two fitted amounts and the chance was
    /// interpolated (in log-millimetres) between theirs.
    pub interpolated: bool,
}

/// BOM's possible-rainfall range: `low_mm` has a 50 % chance of being
/// reached, `high_mm` a 25 % chance; 0 when that chance is not reached by
/// any rain.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Range {
    #[schema(minimum = 0.0)]
    pub low_mm: f64,
    #[schema(minimum = 0.0)]
    pub high_mm: f64,
}

/// "0.4 to 3 mm", "0 to 50+ mm", and "0 mm" when neither chance is
/// reached by any rain (as BOM writes it).
impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mm = |v: f64| {
            let t = format!("{v:.1}");
            t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
        };
        if self.high_mm <= 0.0 {
            return write!(f, "0\u{a0}mm");
        }
        let plus = if self.high_mm >= MAX_MM { "+" } else { "" };
        write!(
            f,
            "{} to {}{plus}\u{a0}mm",
            mm(self.low_mm),
            mm(self.high_mm)
        )
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AmountError {
    #[error(
        "`{0}` is not an amount of rain: give a number of millimetres from {MIN_MM} to {MAX_MM}"
    )]
    OutOfRange(String),
}

/// Reads an amount a chance can be asked for: a number from [`MIN_MM`] to
/// [`MAX_MM`] (`?mm=`, and [`Curve::chance_at_least`]).
///
/// # Errors
/// Anything else, named in the message.
pub fn parse_mm(text: &str) -> Result<f64, AmountError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|mm| (MIN_MM..=MAX_MM).contains(mm))
        .ok_or_else(|| AmountError::OutOfRange(text.to_string()))
}

impl Curve {
    /// Makes chances monotone around the headline: no amount below 1 mm is
    /// less likely than the headline, none above it more likely, and each
    /// is at most the one before. Values are clamped to `[FLOOR, 1 - FLOOR]`.
    pub fn monotone(mut raw: [f32; N]) -> Curve {
        let clamp = |v: f32| {
            if v.is_nan() {
                0.5
            } else {
                v.clamp(FLOOR, 1.0 - FLOOR)
            }
        };
        raw[HEADLINE] = clamp(raw[HEADLINE]);
        for k in (0..HEADLINE).rev() {
            raw[k] = clamp(raw[k]).max(raw[k + 1]);
        }
        for k in HEADLINE + 1..N {
            raw[k] = clamp(raw[k]).min(raw[k - 1]);
        }
        Curve(raw)
    }

    /// The chance of the headline (more than 1 mm).
    pub fn headline(&self) -> f32 {
        self.0[HEADLINE]
    }

    /// Every fitted amount with its chance.
    pub fn chances(&self) -> Vec<Chance> {
        THRESHOLDS
            .iter()
            .zip(self.0)
            .map(|(t, c)| Chance {
                mm: t.mm,
                event: t.event(),
                chance: round4(f64::from(c)),
            })
            .collect()
    }

    /// The chance of at least `mm`: a fitted amount's own chance, else
    /// linear in log-millimetres between its two fitted neighbours, so it
    /// never claims more than they do.
    ///
    /// # Errors
    /// `mm` is not a number from [`MIN_MM`] to [`MAX_MM`].
    pub fn chance_at_least(&self, mm: f64) -> Result<f64, AmountError> {
        if !(MIN_MM..=MAX_MM).contains(&mm) {
            return Err(AmountError::OutOfRange(format!("{mm}")));
        }
        let k = THRESHOLDS.partition_point(|t| t.mm < mm);
        if (THRESHOLDS[k].mm - mm).abs() < 1e-9 {
            return Ok(f64::from(self.0[k]));
        }
        let (a, b) = (THRESHOLDS[k - 1].mm, THRESHOLDS[k].mm);
        let t = (mm.ln() - a.ln()) / (b.ln() - a.ln());
        let (ca, cb) = (f64::from(self.0[k - 1]), f64::from(self.0[k]));
        Ok(ca + t * (cb - ca))
    }

    /// [`Curve::chance_at_least`] with what it is of.
    ///
    /// # Errors
    /// As [`Curve::chance_at_least`].
    pub fn at_least(&self, mm: f64) -> Result<AtLeast, AmountError> {
        let chance = self.chance_at_least(mm)?;
        let fitted = THRESHOLDS.iter().any(|t| (t.mm - mm).abs() < 1e-9);
        Ok(AtLeast {
            mm,
            event: event_of(mm),
            chance: round4(chance),
            interpolated: !fitted,
        })
    }

    /// The amount reached with chance `q`: 0 when even any rain is less
    /// likely, [`MAX_MM`] when 50 mm is still at least that likely, else
    /// interpolated in log-millimetres between the fitted amounts around it,
    /// to 0.1 mm.
    pub fn amount_with_chance(&self, q: f64) -> f64 {
        let c = |k: usize| f64::from(self.0[k]);
        if c(0) < q {
            return 0.0;
        }
        let k = (0..N).rev().find(|&k| c(k) >= q).unwrap_or(0);
        if k == N - 1 {
            return MAX_MM;
        }
        let (a, b) = (THRESHOLDS[k].mm, THRESHOLDS[k + 1].mm);
        let span = c(k) - c(k + 1);
        let t = if span > 0.0 { (c(k) - q) / span } else { 0.0 };
        let mm = (a.ln() + t * (b.ln() - a.ln())).exp();
        (mm * 10.0).round() / 10.0
    }

    /// BOM's possible-rainfall range.
    pub fn range(&self) -> Range {
        Range {
            low_mm: self.amount_with_chance(RANGE_CHANCES[0]),
            high_mm: self.amount_with_chance(RANGE_CHANCES[1]),
        }
    }

    /// The stored form: `[[mm, chance], …]`, self-describing so that rows
    /// outlive a change of [`THRESHOLDS`].
    pub fn to_json(&self) -> String {
        let pairs: Vec<(f64, f64)> = THRESHOLDS
            .iter()
            .zip(self.0)
            .map(|(t, c)| (t.mm, round4(f64::from(c))))
            .collect();
        serde_json::to_string(&pairs).unwrap_or_default()
    }

    /// Reads [`Curve::to_json`] back; `None` when the amounts are not
    /// today's [`THRESHOLDS`] or a chance is not in `[0, 1]`.
    pub fn from_json(s: &str) -> Option<Curve> {
        let pairs: Vec<(f64, f64)> = serde_json::from_str(s).ok()?;
        if pairs.len() != N {
            return None;
        }
        let mut out = [0.0f32; N];
        for (k, (mm, c)) in pairs.into_iter().enumerate() {
            if (mm - THRESHOLDS[k].mm).abs() > 1e-9 || !(0.0..=1.0).contains(&c) {
                return None;
            }
            out[k] = c as f32;
        }
        Some(Curve(out))
    }
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// What a forecast document says about amounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Amounts {
    /// The chance of each fitted amount, smallest first.
    pub chances: Vec<Chance>,
    /// BOM's possible-rainfall range.
    pub possible_rainfall: Range,
}

impl Amounts {
    /// The curve the chances came from (to their four decimals).
    pub fn curve(&self) -> Option<Curve> {
        if self.chances.len() != N {
            return None;
        }
        let mut out = [0.0f32; N];
        for (k, c) in self.chances.iter().enumerate() {
            out[k] = c.chance as f32;
        }
        Some(Curve(out))
    }
}

impl From<&Curve> for Amounts {
    fn from(c: &Curve) -> Self {
        Amounts {
            chances: c.chances(),
            possible_rainfall: c.range(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_reads_as_bom_writes_it() {
        let r = |low_mm, high_mm| Range { low_mm, high_mm }.to_string();
        assert_eq!(r(0.4, 3.0), "0.4 to 3\u{a0}mm");
        assert_eq!(r(0.0, 1.25), "0 to 1.2\u{a0}mm");
        assert_eq!(r(0.0, 0.0), "0\u{a0}mm");
        assert_eq!(r(12.0, MAX_MM), "12 to 50+\u{a0}mm");
    }

    fn curve() -> Curve {
        Curve::monotone([0.6, 0.5, 0.4, 0.25, 0.12, 0.07, 0.03, 0.005])
    }

    #[test]
    fn monotone_keeps_the_headline_and_orders_the_rest() {
        let c = Curve::monotone([0.3, 0.4, 0.5, 0.1, 0.2, 0.0, 0.05, 2.0]);
        assert_eq!(c.headline(), 0.4);
        assert_eq!(c.0[0], 0.4, "any rain is at least the headline");
        assert_eq!(c.0[2], 0.4, "2 mm is at most the headline");
        assert_eq!(c.0[3], 0.1);
        assert_eq!(c.0[4], 0.1);
        assert_eq!(c.0[5], FLOOR);
        assert_eq!(c.0[6], FLOOR);
        assert_eq!(c.0[7], FLOOR);
        assert!(c.0.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn chances_between_fitted_amounts_lie_between_their_neighbours() {
        let c = curve();
        assert_eq!(c.chance_at_least(5.0).unwrap(), f64::from(0.25f32));
        assert_eq!(c.chance_at_least(0.2).unwrap(), f64::from(0.6f32));
        let mid = c.chance_at_least(7.0).unwrap();
        assert!(mid < 0.25 && mid > 0.12, "{mid}");
        // Monotone in the amount asked for.
        let mut last = 1.0;
        for i in 2..=500 {
            let v = c.chance_at_least(f64::from(i) * 0.1).unwrap();
            assert!(v <= last + 1e-12, "{i}: {v} after {last}");
            last = v;
        }
        for bad in [0.0, 0.1, -1.0, 50.1, f64::NAN, f64::INFINITY] {
            assert!(c.chance_at_least(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_mm(" 7 "), Ok(7.0));
        for bad in ["0.1", "51", "NaN", "inf", "", "abc"] {
            let e = parse_mm(bad).unwrap_err().to_string();
            assert!(e.contains("from 0.2 to 50"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_range_is_read_where_the_curve_crosses_half_and_a_quarter() {
        let c = curve();
        let r = c.range();
        // 0.5 is the headline's chance: exactly 1 mm.
        assert_eq!(r.low_mm, 1.0);
        // 0.25 is 5 mm's chance.
        assert_eq!(r.high_mm, 5.0);
        let dry = Curve::monotone([0.2, 0.1, 0.05, 0.02, 0.01, 0.0, 0.0, 0.0]);
        assert_eq!(
            dry.range(),
            Range {
                low_mm: 0.0,
                high_mm: 0.0
            }
        );
        let wet = Curve::monotone([0.99, 0.98, 0.97, 0.9, 0.8, 0.7, 0.6, 0.3]);
        assert_eq!(wet.range().high_mm, MAX_MM);
        let low = wet.range().low_mm;
        assert!(low > 25.0 && low < 50.0, "{low}");
        // The amount read back has the chance asked for.
        let between = Curve::monotone([0.7, 0.6, 0.45, 0.3, 0.2, 0.1, 0.05, 0.01]);
        let mm = between.amount_with_chance(0.5);
        assert!(
            (between.chance_at_least(mm).unwrap() - 0.5).abs() < 0.01,
            "{mm}"
        );
    }

    #[test]
    fn stored_curves_read_back_and_foreign_ones_are_refused() {
        let c = curve();
        assert_eq!(Curve::from_json(&c.to_json()), Some(c));
        assert_eq!(Curve::from_json("[[0.2,0.5]]"), None);
        assert_eq!(Curve::from_json("not json"), None);
        let shifted = c.to_json().replacen("[0.2,", "[0.3,", 1);
        assert_eq!(Curve::from_json(&shifted), None);
    }

    #[test]
    fn thresholds_read_gauge_amounts_as_bom_does() {
        assert!(THRESHOLDS[0].reached(0.2));
        assert!(!THRESHOLDS[0].reached(0.0));
        assert!(!THRESHOLDS[HEADLINE].reached(1.0));
        assert!(THRESHOLDS[HEADLINE].reached(1.2));
        assert!(THRESHOLDS[3].reached(5.0));
        assert_eq!(THRESHOLDS[HEADLINE].event(), "more than 1 mm");
        assert_eq!(THRESHOLDS[0].event(), "at least 0.2 mm");
    }
}
