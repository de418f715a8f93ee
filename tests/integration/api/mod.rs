//! HTTP tests of the JSON API against a real in-process server (real
//! weatherAUS data, tiny real models, a fake clock). `TEST_LOG=1` shows logs.

mod amounts;
mod endpoints;
mod feeds;
mod fuzz;
mod heavy;
mod level;
mod models;
mod pages_parsed;
mod schemathesis;
mod slow_clients;
mod validation;

use serde_json::Value;

/// The shape every API error has: `{error, field, message}`, with this status
/// and this `field`.
pub fn assert_error(status: u16, body: &Value, want_status: u16, want_field: Option<&str>) {
    assert_eq!(status, want_status, "status; body {body}");
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["error", "field", "message"], "error shape: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error code: {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    match want_field {
        Some(f) => assert_eq!(body["field"], f, "field; body {body}"),
        None => assert!(body["field"].is_null(), "field should be null: {body}"),
    }
}
