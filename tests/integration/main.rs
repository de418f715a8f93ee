//! raincast's integration tests: one crate, one module per area, all
//! against real things (SQLite files, HTTP servers on 127.0.0.1, the real
//! binary, headless Chromium). `support` holds what the areas share.
//!
//! Run one area with a filter, e.g. `cargo test --test integration admin::`.

mod support;

mod admin;
mod api;
mod browser;
mod ftp;
mod glance;
mod import;
mod jobs;
mod journeys;
mod lighthouse;
mod ops;
mod replication;
mod scrape;
mod snapshots;
mod startup;
mod timemachine;
