//! Fitting the amount maps: per-station monthly climatology of each amount,
//! and one logistic map per issue and amount from (the calibrated headline
//! chance, that climatology) to the chance of the amount.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Curve, HEADLINE, N, THRESHOLDS};
use crate::issue::{ISSUES, Issue};
use crate::registry::calibrator::{logit, sigmoid};

/// Days of the pooled (all-station) rate a station-month's rate is shrunk
/// toward: a station-month with few rain days of 25 mm says little alone.
const SHRINK_DAYS: f64 = 20.0;
/// Fewer rows, or fewer than [`MIN_EVENTS`] of either outcome, and an amount
/// keeps its climatology instead of a fitted map.
const MIN_ROWS: usize = 200;
const MIN_EVENTS: usize = 5;
/// Ridge on the slopes: keeps Newton's steps finite when an amount is rare.
const RIDGE: f64 = 1.0;

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    days: u64,
    reached: [u64; N],
}

impl Counts {
    fn add(&mut self, amount: f64, days: u64) {
        self.days += days;
        for (k, t) in THRESHOLDS.iter().enumerate() {
            self.reached[k] += days * u64::from(t.reached(amount));
        }
    }
}

/// How often each amount fell per station and calendar month: the forecast
/// anyone could make without a model, and one input of [`AmountModel`].
#[derive(Debug, Clone, Default)]
pub struct AmountClimatology {
    by_station_month: HashMap<(String, u32), Counts>,
    by_month: [Counts; 12],
}

impl AmountClimatology {
    /// Counts `days` rain days of `amount` at `location` in `month` (1–12).
    pub fn add(&mut self, location: &str, month: u32, amount: f64, days: u64) {
        if !(1..=12).contains(&month) || !amount.is_finite() || amount < 0.0 {
            return;
        }
        self.by_station_month
            .entry((location.to_string(), month))
            .or_default()
            .add(amount, days);
        self.by_month[(month - 1) as usize].add(amount, days);
    }

    /// Every (location, month, amount) given.
    pub fn from_amounts<'a>(rows: impl IntoIterator<Item = (&'a str, u32, f64)>) -> Self {
        let mut c = Self::default();
        for (loc, month, amount) in rows {
            c.add(loc, month, amount, 1);
        }
        c
    }

    fn pooled(&self, month: u32) -> [f32; N] {
        let m = &self.by_month[(month.clamp(1, 12) - 1) as usize];
        let all = self.by_month.iter().fold(Counts::default(), |mut a, c| {
            a.days += c.days;
            for k in 0..N {
                a.reached[k] += c.reached[k];
            }
            a
        });
        let mut out = [0.0f32; N];
        for k in 0..N {
            // The month's rate across stations, itself shrunk toward the
            // year's; with no data at all, rough Australian rates.
            let year = if all.days > 0 {
                all.reached[k] as f64 / all.days as f64
            } else {
                [0.3, 0.22, 0.16, 0.09, 0.05, 0.03, 0.015, 0.004][k]
            };
            out[k] =
                ((m.reached[k] as f64 + SHRINK_DAYS * year) / (m.days as f64 + SHRINK_DAYS)) as f32;
        }
        out
    }

    /// The climatological chance of each amount at `location` in `month`.
    pub fn curve(&self, location: &str, month: u32) -> Curve {
        let pooled = self.pooled(month);
        let mut out = pooled;
        if let Some(c) = self.by_station_month.get(&(location.to_string(), month)) {
            for k in 0..N {
                out[k] = ((c.reached[k] as f64 + SHRINK_DAYS * f64::from(pooled[k]))
                    / (c.days as f64 + SHRINK_DAYS)) as f32;
            }
        }
        Curve::monotone(out)
    }
}

/// The amount maps a model carries in its blob: for each issue and amount,
/// `sigmoid(a + b · logit(p) + c · logit(climatology))`, with `p` the
/// calibrated headline chance; and the climatology table it reads, per
/// station and month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmountModel {
    /// The amounts fitted, as [`THRESHOLDS`] had them.
    thresholds: Vec<f64>,
    /// `(a, b, c)` per issue (in [`ISSUES`] order) and amount.
    coef: Vec<[f64; 3]>,
    locations: Vec<String>,
    /// Per location, 12 months of [`N`] chances.
    climatology: Vec<f32>,
    /// 12 months of [`N`] chances across stations, for any other location.
    pooled: Vec<f32>,
}

/// One tune-window row: the calibrated headline chance and what fell.
pub struct FitRow<'a> {
    pub issue: Issue,
    pub location: &'a str,
    pub month: u32,
    pub p: f32,
    pub amount: f64,
}

impl AmountModel {
    /// Fits the maps on `rows` (the tune window, after calibration), with
    /// `climatology` from the train window.
    pub fn fit<'a>(
        climatology: &AmountClimatology,
        locations: &[&str],
        rows: impl IntoIterator<Item = FitRow<'a>>,
    ) -> AmountModel {
        let mut by_issue: HashMap<Issue, Vec<FitRow>> = HashMap::new();
        for r in rows {
            if r.p.is_finite() && r.amount.is_finite() {
                by_issue.entry(r.issue).or_default().push(r);
            }
        }
        let mut coef = Vec::with_capacity(ISSUES.len() * N);
        for issue in ISSUES {
            let rows = by_issue.get(&issue).map(Vec::as_slice).unwrap_or(&[]);
            let clims: Vec<Curve> = rows
                .iter()
                .map(|r| climatology.curve(r.location, r.month))
                .collect();
            for (k, t) in THRESHOLDS.iter().enumerate() {
                if k == HEADLINE {
                    coef.push([0.0, 1.0, 0.0]);
                    continue;
                }
                let x: Vec<[f64; 2]> = rows
                    .iter()
                    .zip(&clims)
                    .map(|(r, c)| [logit(r.p), logit(c.0[k])])
                    .collect();
                let y: Vec<bool> = rows.iter().map(|r| t.reached(r.amount)).collect();
                coef.push(fit_logistic(&x, &y));
            }
        }
        let mut table = Vec::with_capacity(locations.len() * 12 * N);
        for loc in locations {
            for month in 1..=12 {
                table.extend(climatology.curve(loc, month).0);
            }
        }
        let mut pooled = Vec::with_capacity(12 * N);
        for month in 1..=12 {
            pooled.extend(Curve::monotone(climatology.pooled(month)).0);
        }
        AmountModel {
            thresholds: THRESHOLDS.iter().map(|t| t.mm).collect(),
            coef,
            locations: locations.iter().map(|l| l.to_string()).collect(),
            climatology: table,
            pooled,
        }
    }

    /// The climatological chances for `location` in `month`.
    pub fn climatology(&self, location: &str, month: u32) -> Curve {
        let m = (month.clamp(1, 12) - 1) as usize;
        let slice = match self.locations.iter().position(|l| l == location) {
            Some(i) => &self.climatology[(i * 12 + m) * N..(i * 12 + m + 1) * N],
            None => &self.pooled[m * N..(m + 1) * N],
        };
        let mut out = [0.0f32; N];
        out.copy_from_slice(slice);
        Curve(out)
    }

    /// The chance of each amount, from the calibrated headline chance `p`
    /// of a forecast for `location`'s rain day in `month`, made at `issue`.
    pub fn curve(&self, p: f32, location: &str, month: u32, issue: Issue) -> Curve {
        let clim = self.climatology(location, month);
        let i = issue.index();
        let mut raw = [0.0f32; N];
        for (k, v) in raw.iter_mut().enumerate() {
            *v = if k == HEADLINE {
                p
            } else {
                let [a, b, c] = self.coef[i * N + k];
                sigmoid(a + b * logit(p) + c * logit(clim.0[k])) as f32
            };
        }
        Curve::monotone(raw)
    }

    /// Refuses maps that do not fit today's amounts or hold a value no
    /// forecast could come from.
    pub fn validate(&self) -> Result<(), String> {
        let mm: Vec<f64> = THRESHOLDS.iter().map(|t| t.mm).collect();
        if self.thresholds != mm {
            return Err(format!(
                "amount maps are for {:?} mm, not {mm:?}",
                self.thresholds
            ));
        }
        if self.coef.len() != ISSUES.len() * N {
            return Err(format!(
                "{} amount maps, not {}",
                self.coef.len(),
                ISSUES.len() * N
            ));
        }
        if !self
            .coef
            .iter()
            .flatten()
            .all(|v| v.is_finite() && v.abs() < 1e3)
        {
            return Err("an amount map has a coefficient that is not finite".into());
        }
        if self.climatology.len() != self.locations.len() * 12 * N || self.pooled.len() != 12 * N {
            return Err("the amount climatology table has the wrong size".into());
        }
        let ok = |v: &f32| (0.0..=1.0).contains(v);
        if !self.climatology.iter().all(ok) || !self.pooled.iter().all(ok) {
            return Err("an amount climatology is outside [0, 1]".into());
        }
        Ok(())
    }
}

/// Logistic regression of `y` on `(1, x₀, x₁)` by Newton's method with a
/// ridge on the slopes; the intercept is free, so the fitted mean equals
/// the observed frequency. Falls back to the climatology alone (`(0, 0, 1)`)
/// when there is too little to fit.
fn fit_logistic(x: &[[f64; 2]], y: &[bool]) -> [f64; 3] {
    let events = y.iter().filter(|&&t| t).count();
    if x.len() < MIN_ROWS || events < MIN_EVENTS || x.len() - events < MIN_EVENTS {
        return [0.0, 0.0, 1.0];
    }
    let mut w = [0.0f64, 0.0, 1.0];
    for _ in 0..50 {
        let mut g = [0.0f64; 3];
        let mut h = [[0.0f64; 3]; 3];
        for (xi, &yi) in x.iter().zip(y) {
            let f = [1.0, xi[0], xi[1]];
            let p = sigmoid(w[0] + w[1] * f[1] + w[2] * f[2]);
            let r = p - f64::from(u8::from(yi));
            let s = (p * (1.0 - p)).max(1e-9);
            for a in 0..3 {
                g[a] += r * f[a];
                for b in 0..3 {
                    h[a][b] += s * f[a] * f[b];
                }
            }
        }
        for a in 1..3 {
            g[a] += RIDGE * w[a];
            h[a][a] += RIDGE;
        }
        let Some(step) = solve3(h, g) else { break };
        let size = step.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let scale = if size > 4.0 { 4.0 / size } else { 1.0 };
        for a in 0..3 {
            w[a] -= scale * step[a];
        }
        if size < 1e-9 {
            break;
        }
    }
    if w.iter().all(|v| v.is_finite()) {
        w
    } else {
        [0.0, 0.0, 1.0]
    }
}

/// Solves `h · s = g` for a symmetric positive-definite 3 × 3 `h`.
fn solve3(mut h: [[f64; 3]; 3], mut g: [f64; 3]) -> Option<[f64; 3]> {
    for c in 0..3 {
        let p = (c..3).max_by(|&a, &b| h[a][c].abs().total_cmp(&h[b][c].abs()))?;
        if h[p][c].abs() < 1e-12 {
            return None;
        }
        h.swap(c, p);
        g.swap(c, p);
        let pivot = h[c];
        for r in c + 1..3 {
            let f = h[r][c] / pivot[c];
            for (x, p) in h[r].iter_mut().zip(pivot).skip(c) {
                *x -= f * p;
            }
            g[r] -= f * g[c];
        }
    }
    let mut s = [0.0f64; 3];
    for c in (0..3).rev() {
        let tail: f64 = (c + 1..3).map(|k| h[c][k] * s[k]).sum();
        s[c] = (g[c] - tail) / h[c][c];
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic world: each day's headline chance `p`; rain above 1 mm
    /// with chance `p`, and when it rains, amounts that are larger where
    /// `p` is high and at the wet station.
    /// (issue, location, month, headline chance, amount).
    type Day = (Issue, &'static str, u32, f32, f64);

    fn world(n: usize, seed: u64) -> (AmountClimatology, Vec<Day>) {
        let mut s = seed;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut rows = Vec::new();
        for i in 0..n {
            let loc = if i % 2 == 0 { "Wet" } else { "Dry" };
            let p = (0.01 + 0.98 * next().powi(2)) as f32;
            let u = next();
            let amount = if u < f64::from(p) {
                let scale = if loc == "Wet" { 8.0 } else { 3.0 } * (0.5 + f64::from(p));
                1.2 + (-next().ln()) * scale
            } else if u < f64::from(p) + 0.1 {
                0.2 + (next() * 4.0).floor() * 0.2
            } else {
                0.0
            };
            rows.push((ISSUES[i / 2 % 3], loc, (i / 6 % 12) as u32 + 1, p, amount));
        }
        let clim = AmountClimatology::from_amounts(rows.iter().map(|r| (r.1, r.2, r.4)));
        (clim, rows)
    }

    /// Maps fitted on `n` days of the world drawn with `seed`, keeping the
    /// climatology of `locations`.
    fn fitted(n: usize, seed: u64, locations: &[&str]) -> AmountModel {
        let (clim, train) = world(n, seed);
        AmountModel::fit(
            &clim,
            locations,
            train.iter().map(|r| FitRow {
                issue: r.0,
                location: r.1,
                month: r.2,
                p: r.3,
                amount: r.4,
            }),
        )
    }

    #[test]
    fn fitted_chances_are_monotone_and_calibrated_on_new_days() {
        let model = fitted(60_000, 7, &["Wet", "Dry"]);
        model.validate().unwrap();
        let (_, test) = world(60_000, 99);
        let mut sums = [(0.0f64, 0.0f64); N];
        for r in &test {
            let c = model.curve(r.3, r.1, r.2, r.0);
            assert!(c.0.windows(2).all(|w| w[0] >= w[1]));
            assert_eq!(c.headline(), r.3);
            for k in 0..N {
                sums[k].0 += f64::from(c.0[k]);
                sums[k].1 += f64::from(u8::from(THRESHOLDS[k].reached(r.4)));
            }
        }
        for (k, (f, o)) in sums.iter().enumerate() {
            let (f, o) = (f / test.len() as f64, o / test.len() as f64);
            assert!(
                (f - o).abs() < 0.01,
                "{}: mean {f:.4} vs {o:.4}",
                THRESHOLDS[k].event()
            );
        }
        // The wet station's heavy-rain chances are above the dry one's at
        // the same headline chance.
        let wet = model.curve(0.6, "Wet", 3, Issue::Afternoon);
        let dry = model.curve(0.6, "Dry", 3, Issue::Afternoon);
        assert!(wet.0[4] > dry.0[4], "{wet:?} vs {dry:?}");
        // A station it never saw reads the pooled climatology.
        let other = model.curve(0.6, "Elsewhere", 3, Issue::Afternoon);
        assert!(other.0[4] < wet.0[4] && other.0[4] > dry.0[4]);
    }

    #[test]
    fn damaged_maps_are_refused() {
        let model = fitted(3_000, 3, &["Wet"]);
        model.validate().unwrap();
        let mut bad = model.clone();
        bad.coef[3][1] = f64::NAN;
        assert!(bad.validate().is_err());
        let mut bad = model.clone();
        bad.thresholds[2] = 3.0;
        assert!(bad.validate().unwrap_err().contains("amount maps are for"));
        let mut bad = model;
        bad.climatology.pop();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn too_little_data_keeps_the_climatology() {
        assert_eq!(
            fit_logistic(&[[0.0, 0.0]; 10], &[true; 10]),
            [0.0, 0.0, 1.0]
        );
        let s = solve3(
            [[2.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 1.0]],
            [2.0, 2.0, 3.0],
        );
        assert_eq!(s, Some([1.0, 0.5, 3.0]));
    }
}
