//! raincast: will it rain tomorrow? One binary that scrapes BOM, trains a
//! random forest and serves forecasts for 49 Australian cities.
