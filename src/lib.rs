//! raincast: will it rain tomorrow? One binary that scrapes BOM's Daily
//! Weather Observations, trains a random forest and a gradient-boosted
//! ensemble, and serves forecasts for 49 Australian cities. The module map
//! and the data flow are in `docs/architecture.md`.
//!
//! The library has no `unsafe` code: the allocator FFI lives in the binary
//! (`main.rs`, `allocator.rs`).

#![forbid(unsafe_code)]

pub mod alerts;
pub mod amounts;
pub mod app;
pub mod bomsim;
pub mod cli;
pub mod clock;
pub mod config;
pub mod evaluate;
pub mod features;
pub mod forest;
pub mod ftpsim;
pub mod ingest;
pub mod issue;
pub mod jobs;
pub mod level;
pub mod memory;
pub mod obs;
pub mod reading;
pub mod registry;
pub mod replay;
pub mod runtime;
pub mod score;
pub mod serving;
pub mod stations;
pub mod store;
pub mod train;
pub mod web;

#[cfg(test)]
mod docs_tests;
