//! Schema 3: what a station's neighbours reported on the same day. Rain
//! fronts cross southern Australia from west to east, so the stations around
//! a city, above all those to its west, report today what it sees tomorrow
//! (`bench/neighbour_probe.sh` measures the gain). A row for station S on
//! day D reads other stations' reports of D, and of D − 1 for the 24-hour
//! changes: never a day after D.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::NaiveDate;

use crate::issue::Stage;
use crate::obs::{Num, Observation};
use crate::stations::{self, STATIONS};
use crate::store::{Store, StoreError};

/// How many neighbour features a row has (12 in schema 3 and 4). Schema 6
/// changed what "nearest" means: the nearest stations whose rain of the
/// day is shown at the issue.
pub const N_NEIGHBOUR: usize = 18;

/// Their names, in vector order (after the station's own features).
pub const NAMES: [&str; N_NEIGHBOUR] = [
    "Nearest1_Rainfall",
    "Nearest2_Rainfall",
    "Nearest3_Rainfall",
    "Nearest3_RainToday_share",
    "RainToday_share_300km",
    "RainToday_share_800km",
    "RainToday_share_west_800km",
    "RainToday_share_west_1500km",
    "Pressure3pm_vs_500km",
    "Pressure3pm_change_24h_vs_500km",
    "Humidity3pm_west_800km",
    "Rainfall_weighted_1000km",
    // Schema 5: the 9 am fields, which the morning issue can read, and the
    // changes since the day before and since 9 am.
    "Pressure9am_vs_500km",
    "Pressure9am_change_24h_vs_500km",
    "Humidity9am_west_800km",
    "Pressure3pm_change_24h_west_800km",
    "Pressure_change_9am_3pm_500km",
    "Humidity3pm_change_24h_west_800km",
];

/// A station's own pressure for its neighbour features: at 3 pm on D and
/// D − 1, then at 9 am on D and D − 1.
pub type OwnPressure = [Option<f64>; 4];

pub const N_STATIONS: usize = STATIONS.len();

/// Every station's report shown in full (a forecast made once every row is
/// final, as for a posted observation).
pub const ALL_SHOWN: [Stage; N_STATIONS] = [Stage::Final; N_STATIONS];

/// What one station reported on one day, as far as its neighbours need.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Report {
    rainfall: Option<f64>,
    rain_today: Option<bool>,
    pressure3pm: Option<f64>,
    humidity3pm: Option<f64>,
    pressure9am: Option<f64>,
    humidity9am: Option<f64>,
}

impl Report {
    /// The report as BOM showed it at `stage`.
    fn as_shown(self, stage: Stage) -> Option<Report> {
        match stage {
            Stage::Hidden => None,
            Stage::Morning => Some(Report {
                pressure3pm: None,
                humidity3pm: None,
                ..self
            }),
            Stage::Afternoon | Stage::Final => Some(self),
        }
    }
}

/// Every station's reports by day, which the encoder reads a row's neighbour
/// features from. Built from the same observations in training and in
/// serving, so a forecast sees its neighbours as training did.
#[derive(Debug, Clone, Default)]
pub struct Neighbourhood {
    days: HashMap<NaiveDate, [Option<Report>; N_STATIONS]>,
}

/// Distances between the stations and who is nearest, from their model
/// coordinates.
struct Geometry {
    km: [[f64; N_STATIONS]; N_STATIONS],
    /// Every other station, nearest first.
    by_distance: Vec<Vec<usize>>,
    rings: Vec<Rings>,
}

/// One station's neighbours within each distance the features use, and
/// within it and west of it, in station order: a row reads only these
/// instead of scanning all 49 stations a dozen times, and its sums add in
/// the same order as such a scan would.
struct Rings {
    within_300: Vec<usize>,
    within_500: Vec<usize>,
    within_800: Vec<usize>,
    within_1000: Vec<usize>,
    west_800: Vec<usize>,
    west_1500: Vec<usize>,
}

fn geometry() -> &'static Geometry {
    static GEOMETRY: OnceLock<Geometry> = OnceLock::new();
    GEOMETRY.get_or_init(|| {
        let coords: Vec<(f64, f64)> = STATIONS.iter().map(|s| s.model_coords()).collect();
        let mut km = [[0.0; N_STATIONS]; N_STATIONS];
        for (a, &(la, lo)) in coords.iter().enumerate() {
            for (b, &(lb, mb)) in coords.iter().enumerate() {
                km[a][b] = great_circle_km(la, lo, lb, mb);
            }
        }
        let by_distance = (0..N_STATIONS)
            .map(|s| {
                let mut others: Vec<usize> = (0..N_STATIONS).filter(|&t| t != s).collect();
                others.sort_by(|&a, &b| km[s][a].total_cmp(&km[s][b]).then(a.cmp(&b)));
                others
            })
            .collect();
        let rings = (0..N_STATIONS)
            .map(|s| {
                let within = |limit: f64| -> Vec<usize> {
                    (0..N_STATIONS)
                        .filter(|&t| t != s && km[s][t] <= limit)
                        .collect()
                };
                let west = |limit: f64| -> Vec<usize> {
                    within(limit)
                        .into_iter()
                        .filter(|&t| coords[t].1 < coords[s].1)
                        .collect()
                };
                Rings {
                    within_300: within(300.0),
                    within_500: within(500.0),
                    within_800: within(800.0),
                    within_1000: within(1000.0),
                    west_800: west(800.0),
                    west_1500: west(1500.0),
                }
            })
            .collect();
        Geometry {
            km,
            by_distance,
            rings,
        }
    })
}

fn great_circle_km(lat_a: f64, lon_a: f64, lat_b: f64, lon_b: f64) -> f64 {
    let (pa, pb) = (lat_a.to_radians(), lat_b.to_radians());
    let (dp, dl) = (pb - pa, (lon_b - lon_a).to_radians());
    let h = (dp / 2.0).sin().powi(2) + pa.cos() * pb.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.clamp(0.0, 1.0).sqrt().asin()
}

/// The mean of the values present, `NaN` without any.
fn mean(values: impl Iterator<Item = Option<f64>>) -> f32 {
    let (mut sum, mut n) = (0.0, 0u32);
    for v in values.flatten() {
        sum += v;
        n += 1;
    }
    if n == 0 {
        f32::NAN
    } else {
        (sum / f64::from(n)) as f32
    }
}

impl Neighbourhood {
    /// The reports in `observations` (of any stations and days).
    pub fn from_observations<'a>(observations: impl IntoIterator<Item = &'a Observation>) -> Self {
        let mut n = Self::default();
        for o in observations {
            n.add(o);
        }
        n
    }

    /// Every station's reports from `from` to `to` (inclusive) in the
    /// database, read one station at a time.
    pub fn from_store(store: &Store, from: NaiveDate, to: NaiveDate) -> Result<Self, StoreError> {
        let mut n = Self::default();
        n.add_from_store(store, from, to)?;
        Ok(n)
    }

    /// Adds every station's reports from `from` to `to` (inclusive) in the
    /// database.
    pub fn add_from_store(
        &mut self,
        store: &Store,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(), StoreError> {
        for st in STATIONS.iter() {
            for o in &store.observations_between(st.location, from, to)? {
                self.add(o);
            }
        }
        Ok(())
    }

    /// Adds (or replaces) one observation's report; an unknown location is
    /// ignored.
    pub fn add(&mut self, o: &Observation) {
        let Some(s) = stations::index_of(o.location) else {
            return;
        };
        self.days.entry(o.date).or_insert([None; N_STATIONS])[s] = Some(Report {
            rainfall: o.get(Num::Rainfall),
            rain_today: o.rain_today,
            pressure3pm: o.get(Num::Pressure3pm),
            humidity3pm: o.get(Num::Humidity3pm),
            pressure9am: o.get(Num::Pressure9am),
            humidity9am: o.get(Num::Humidity9am),
        });
    }

    /// The neighbour features of `location` on `date` (all `NaN` for an
    /// unknown location). Only other stations' reports of `date`, and of the
    /// day before for the pressure change, are read; the station's own 3 pm
    /// pressure that day and the day before (`own_pressure`) come from its
    /// own record, so a posted observation is compared as it was posted.
    ///
    /// `stages` says how much of each station's report of `date` BOM showed
    /// at the forecast's issue ([`crate::issue::Visibility::stages_at_issue`]):
    /// a report not shown yet is not read, and one shown only as far as its
    /// morning has no 3 pm pressure or humidity.
    pub fn features(
        &self,
        location: &str,
        date: NaiveDate,
        own_pressure: OwnPressure,
        stages: &[Stage; N_STATIONS],
    ) -> [f32; N_NEIGHBOUR] {
        let mut row = [f32::NAN; N_NEIGHBOUR];
        let Some(s) = stations::index_of(location) else {
            return row;
        };
        let Some(shown) = self.days.get(&date) else {
            return row;
        };
        let mut today = [None; N_STATIONS];
        for ((t, r), stage) in today.iter_mut().zip(shown).zip(stages) {
            *t = r.and_then(|r| r.as_shown(*stage));
        }
        let today = &today;
        let yesterday = date
            .pred_opt()
            .and_then(|d| self.days.get(&d))
            .unwrap_or(&[None; N_STATIONS]);
        let g = geometry();
        let ring = &g.rings[s];
        let rained = |t: usize| {
            today[t]
                .and_then(|r| r.rain_today)
                .map(|r| f64::from(u8::from(r)))
        };
        let pressure =
            |day: &[Option<Report>; N_STATIONS], t: usize| day[t].and_then(|r| r.pressure3pm);
        let change = |t: usize| Some(pressure(today, t)? - pressure(yesterday, t)?);
        let pressure9 =
            |day: &[Option<Report>; N_STATIONS], t: usize| day[t].and_then(|r| r.pressure9am);
        let change9 = |t: usize| Some(pressure9(today, t)? - pressure9(yesterday, t)?);
        let humidity =
            |day: &[Option<Report>; N_STATIONS], t: usize| day[t].and_then(|r| r.humidity3pm);
        // Schema 6: the three nearest stations whose rain of D is shown (a
        // station that stopped reporting, or has not posted yet, gives way
        // to the next nearest).
        let mut near = [None; 3];
        let reported = g.by_distance[s]
            .iter()
            .filter_map(|&t| Some((t, today[t]?.rainfall?)));
        for (k, (slot, (t, mm))) in near.iter_mut().zip(reported).enumerate() {
            *slot = Some(t);
            row[k] = mm as f32;
        }
        row[3] = mean(near.iter().flatten().map(|&t| rained(t)));
        row[4] = mean(ring.within_300.iter().map(|&t| rained(t)));
        row[5] = mean(ring.within_800.iter().map(|&t| rained(t)));
        row[6] = mean(ring.west_800.iter().map(|&t| rained(t)));
        row[7] = mean(ring.west_1500.iter().map(|&t| rained(t)));
        if let Some(own) = own_pressure[0] {
            row[8] = mean(ring.within_500.iter().map(|&t| pressure(today, t))) - own as f32;
        }
        if let [Some(now), Some(before), ..] = own_pressure {
            row[9] = mean(ring.within_500.iter().map(|&t| change(t))) - (now - before) as f32;
        }
        row[10] = mean(ring.west_800.iter().map(|&t| humidity(today, t)));
        let (mut num, mut den) = (0.0, 0.0);
        for &t in &ring.within_1000 {
            if let Some(mm) = today[t].and_then(|r| r.rainfall) {
                let w = 1.0 / g.km[s][t].max(10.0).powi(2);
                num += w * mm;
                den += w;
            }
        }
        if den > 0.0 {
            row[11] = (num / den) as f32;
        }
        // Schema 5.
        if let Some(own) = own_pressure[2] {
            row[12] = mean(ring.within_500.iter().map(|&t| pressure9(today, t))) - own as f32;
        }
        if let [.., Some(now), Some(before)] = own_pressure {
            row[13] = mean(ring.within_500.iter().map(|&t| change9(t))) - (now - before) as f32;
        }
        row[14] = mean(
            ring.west_800
                .iter()
                .map(|&t| today[t].and_then(|r| r.humidity9am)),
        );
        row[15] = mean(ring.west_800.iter().map(|&t| change(t)));
        row[16] = mean(
            ring.within_500
                .iter()
                .map(|&t| Some(pressure(today, t)? - pressure9(today, t)?)),
        );
        row[17] = mean(
            ring.west_800
                .iter()
                .map(|&t| Some(humidity(today, t)? - humidity(yesterday, t)?)),
        );
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(location: &'static str, date: NaiveDate, rain: f64, p3: f64, h3: f64) -> Observation {
        let mut o = Observation::empty(location, date);
        o.set(Num::Rainfall, Some(rain));
        o.set(Num::Pressure3pm, Some(p3));
        o.set(Num::Humidity3pm, Some(h3));
        o.rain_today = Some(rain > crate::obs::RAIN_DAY_MM);
        o
    }

    #[test]
    fn names_and_geometry() {
        assert_eq!(NAMES.len(), N_NEIGHBOUR);
        let g = geometry();
        let sydney = stations::index_of("Sydney").unwrap();
        let airport = stations::index_of("SydneyAirport").unwrap();
        assert_eq!(g.by_distance[sydney][0], airport);
        assert_eq!(g.by_distance[sydney].len(), N_STATIONS - 1);
        // Sydney to Perth is about 3,290 km.
        let perth = stations::index_of("Perth").unwrap();
        assert!(
            (g.km[sydney][perth] - 3290.0).abs() < 30.0,
            "{}",
            g.km[sydney][perth]
        );
        assert_eq!(g.km[sydney][sydney], 0.0);
    }

    /// Melbourne's row reads Ballarat and Nhil (west) and Sale (east) on the
    /// same day; a day later changes nothing and a day earlier only the
    /// pressure change; a station's own report never counts as a neighbour's.
    #[test]
    fn a_row_reads_the_same_days_neighbours_only() {
        let d = NaiveDate::from_ymd_opt(2024, 6, 10).unwrap();
        let before = d.pred_opt().unwrap();
        let after = d.succ_opt().unwrap();
        let mut n = Neighbourhood::from_observations(&[
            obs("Melbourne", d, 0.0, 1010.0, 50.0),
            obs("Ballarat", d, 12.0, 1004.0, 90.0),
            obs("Nhil", d, 3.0, 1002.0, 70.0),
            obs("Sale", d, 0.0, 1016.0, 40.0),
        ]);
        let own = [Some(1010.0), None, None, None];
        let f = n.features("Melbourne", d, own, &ALL_SHOWN);
        // Watsonia and Melbourne Airport (nearest) reported nothing: the
        // nearest three that did are Ballarat, Sale and Nhil.
        assert_eq!(f[..3], [12.0, 0.0, 3.0]);
        assert!((f[3] - 2.0 / 3.0).abs() < 1e-6, "{}", f[3]);
        // West within 800 km: Ballarat and Nhil both rained.
        assert_eq!(f[6], 1.0);
        // Within 300 km: Ballarat rained, Sale did not.
        assert_eq!(f[4], 0.5);
        // Pressure within 500 km (Ballarat, Nhil, Sale) against Melbourne's.
        assert!((f[8] - ((1004.0 + 1002.0 + 1016.0) / 3.0 - 1010.0) as f32).abs() < 1e-3);
        assert!(f[9].is_nan(), "no reports of the day before");
        assert!((f[10] - 80.0).abs() < 1e-6, "{}", f[10]);
        assert!(f[11] > 3.0 && f[11] < 12.0, "{}", f[11]);
        let unchanged = f;
        // The next day's reports (rain everywhere) do not touch day D.
        for o in [
            obs("Ballarat", after, 0.0, 1020.0, 10.0),
            obs("Sale", after, 40.0, 990.0, 99.0),
        ] {
            n.add(&o);
        }
        let again = n.features("Melbourne", d, own, &ALL_SHOWN);
        assert_eq!(
            again.map(f32::to_bits),
            unchanged.map(f32::to_bits),
            "a later day changed day D's features"
        );
        // The day before brings the 24-hour changes in (the pressure's
        // against the station's own change from its record), and nothing
        // else.
        for o in [
            obs("Melbourne", before, 0.0, 1012.0, 50.0),
            obs("Ballarat", before, 0.0, 1010.0, 50.0),
        ] {
            n.add(&o);
        }
        let with_before = n.features(
            "Melbourne",
            d,
            [Some(1010.0), Some(1012.0), None, None],
            &ALL_SHOWN,
        );
        // Ballarat fell 6 hPa, Melbourne 2.
        assert!(
            (with_before[9] - (-6.0 - -2.0)).abs() < 1e-4,
            "{}",
            with_before[9]
        );
        // West within 800 km, only Ballarat reported the day before: its
        // pressure fell 6 hPa and its humidity rose 40 points.
        assert_eq!(with_before[15], -6.0);
        assert_eq!(with_before[17], 40.0);
        for k in (0..N_NEIGHBOUR).filter(|k| ![9, 15, 17].contains(k)) {
            assert_eq!(
                with_before[k].to_bits(),
                unchanged[k].to_bits(),
                "feature {k}"
            );
        }
        // Without 9 am fields, none of the 9 am features; the intraday
        // pressure change needs both.
        for k in [12, 13, 14, 16] {
            assert!(with_before[k].is_nan(), "feature {k}");
        }
        // A station alone has no neighbours' reports, and its own is unused.
        let alone = Neighbourhood::from_observations(&[obs("Darwin", d, 50.0, 1000.0, 90.0)]);
        let f = alone.features(
            "Darwin",
            d,
            [Some(1000.0), Some(1001.0), None, None],
            &ALL_SHOWN,
        );
        assert!(f.iter().all(|v| v.is_nan()), "{f:?}");
        assert!(
            n.features("Atlantis", d, own, &ALL_SHOWN)
                .iter()
                .all(|v| v.is_nan())
        );
    }

    /// Schema 5: the 9 am fields are read at the morning stage, the 3 pm
    /// ones are not; the 9 am pressure's 24-hour change is compared with the
    /// station's own.
    #[test]
    fn the_morning_reads_its_neighbours_9am_fields_only() {
        let d = NaiveDate::from_ymd_opt(2024, 6, 10).unwrap();
        let before = d.pred_opt().unwrap();
        let at9 = |loc, date, p9: f64, h9: f64| {
            let mut o = obs(loc, date, 2.0, 1000.0, 70.0);
            o.set(Num::Pressure9am, Some(p9));
            o.set(Num::Humidity9am, Some(h9));
            o
        };
        let n = Neighbourhood::from_observations(&[
            at9("Ballarat", d, 1004.0, 90.0),
            at9("Nhil", d, 1006.0, 80.0),
            at9("Ballarat", before, 1010.0, 60.0),
        ]);
        let own = [Some(1008.0), Some(1009.0), Some(1007.0), Some(1008.0)];
        let morning = [Stage::Morning; N_STATIONS];
        let f = n.features("Melbourne", d, own, &morning);
        assert!(
            (f[12] - ((1004.0 + 1006.0) / 2.0 - 1007.0)).abs() < 1e-4,
            "{}",
            f[12]
        );
        // Ballarat's 9 am pressure fell 6 hPa, Melbourne's 1.
        assert!((f[13] - (-6.0 - -1.0)).abs() < 1e-4, "{}", f[13]);
        assert!((f[14] - 85.0).abs() < 1e-4, "{}", f[14]);
        for k in [8, 9, 10, 15, 16, 17] {
            assert!(
                f[k].is_nan(),
                "feature {k} read a 3 pm field at the morning stage"
            );
        }
        let f = n.features("Melbourne", d, own, &ALL_SHOWN);
        // 3 pm minus 9 am at Ballarat (-4) and Nhil (-6).
        assert!((f[16] - -5.0).abs() < 1e-4, "{}", f[16]);
    }

    /// Schema 6: the nearest stations are those whose rain of the day is
    /// shown at the issue. One not posted yet, or without a rain figure,
    /// gives way to the next nearest, and comes back once shown.
    #[test]
    fn the_nearest_are_the_nearest_that_reported() {
        let d = NaiveDate::from_ymd_opt(2024, 6, 10).unwrap();
        let mut silent = obs("Sale", d, 0.0, 1016.0, 40.0);
        silent.set(Num::Rainfall, None);
        let n = Neighbourhood::from_observations(&[
            obs("MelbourneAirport", d, 4.0, 1010.0, 50.0),
            obs("Ballarat", d, 12.0, 1004.0, 90.0),
            obs("Nhil", d, 3.0, 1002.0, 70.0),
            silent,
            obs("Bendigo", d, 0.0, 1008.0, 60.0),
        ]);
        let own = [None; 4];
        let f = n.features("Melbourne", d, own, &ALL_SHOWN);
        assert_eq!(f[..3], [4.0, 12.0, 0.0], "airport, Ballarat, Bendigo");
        assert!((f[3] - 2.0 / 3.0).abs() < 1e-6, "{}", f[3]);
        let mut stages = ALL_SHOWN;
        stages[stations::index_of("MelbourneAirport").unwrap()] = Stage::Hidden;
        let f = n.features("Melbourne", d, own, &stages);
        assert_eq!(f[..3], [12.0, 0.0, 3.0], "Ballarat, Bendigo, Nhil");
    }
}
