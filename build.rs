//! Build-time check of the vendored Swagger UI (static/vendor/swagger-ui):
//! the files compiled into the binary must be exactly the ones of the pinned
//! release, so a changed or truncated copy fails the build instead of
//! shipping. The checksums are those in that folder's README.

use sha2::{Digest, Sha256};

const VENDOR: &str = "static/vendor/swagger-ui";

/// swagger-ui-dist 5.35.0, from the npm registry.
const FILES: &[(&str, &str)] = &[
    (
        "swagger-ui-bundle.js",
        "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
    ),
    (
        "swagger-ui.css",
        "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
    ),
    (
        "swagger-ui-bundle.js.LICENSE.txt",
        "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb",
    ),
    (
        "LICENSE",
        "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    ),
    (
        "NOTICE",
        "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
    ),
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let mut wrong = Vec::new();
    for (name, want) in FILES {
        let path = format!("{VENDOR}/{name}");
        println!("cargo::rerun-if-changed={path}");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let got = hex::encode(Sha256::digest(&bytes));
                if got != *want {
                    wrong.push(format!("{path}: sha256 {got}, expected {want}"));
                }
            }
            Err(e) => wrong.push(format!("{path}: {e}")),
        }
    }
    if !wrong.is_empty() {
        panic!(
            "the vendored Swagger UI is not the pinned release (see {VENDOR}/README.md):\n{}",
            wrong.join("\n")
        );
    }
}
