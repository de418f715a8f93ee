//! Getting observations in: the Kaggle weatherAUS CSV (CLI import) and BOM's
//! Daily Weather Observations (the scraper), and BOM's anonymous FTP
//! products (the second channel, [`ftp`]).

pub mod bom;
pub mod dwo;
pub mod ftp;
pub mod html;
pub mod weather_aus;
