//! Getting observations in: the Kaggle weatherAUS CSV (CLI import) and BOM's
//! Daily Weather Observations (the scraper).

pub mod bom;
pub mod dwo;
pub mod html;
pub mod weather_aus;
