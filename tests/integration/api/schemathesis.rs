//! Schemathesis against the OpenAPI document served by the real binary:
//! positive and negative cases for every operation, every check. No request
//! may cause a 5xx, no request valid by the schema may be refused, and every
//! response must match what the document says. `scripts/test` installs
//! Schemathesis (pip); this test fails, never skips, without it.

use std::path::PathBuf;
use std::process::Command;

use crate::support;
use crate::support::app::new_db;

fn schemathesis() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = std::path::Path::new(dir).join("schemathesis");
        if p.is_file() {
            return p;
        }
    }
    panic!("`schemathesis` is not installed: pip install schemathesis (scripts/test does it)");
}

#[test]
fn schemathesis_finds_no_failure_in_the_served_schema() {
    let _long = crate::support::long_blocking();
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let db = new_db(dir.path(), true);
    let server = support::serve(
        &db,
        &[
            ("RAINCAST_CLOCK_START", "2017-06-26T09:00:00Z"),
            ("RAINCAST_SCHEDULE__CATCH_UP", "false"),
            ("RAINCAST_SCHEDULE__SCRAPE_ENABLED", "false"),
            ("RAINCAST_SCHEDULE__TRAIN_ENABLED", "false"),
            ("RAINCAST_BOM__BASE_URL", "http://127.0.0.1:9"),
        ],
    );
    let out = Command::new(st)
        .args(["run", &format!("{}/api/v1/openapi.json", server.url)])
        .args(["--checks", "all", "--max-examples", "60", "--seed", "14"])
        .args(["--wait-for-schema", "30", "--workers", "2"])
        .args(["--warnings", "off", "--no-color"])
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis failed:\n{text}");
    eprintln!(
        "{}",
        text.lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
