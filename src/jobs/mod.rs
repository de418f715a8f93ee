//! Background jobs: scrape, train, refresh; their schedule and run records.

pub mod schedule;
