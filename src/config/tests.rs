//! Tests of the settings: defaults, config.toml, environment overrides, and
//! each refusal naming its key.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_are_valid() {
    Config::default().validate().unwrap();
}

#[test]
fn repo_config_toml_matches_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let from_file = Config::load_from(Some(&path), env(&[])).unwrap();
    let defaults = Config::default();
    assert_eq!(
        toml::to_string(&from_file).unwrap(),
        toml::to_string(&defaults).unwrap(),
        "config.toml must document exactly the built-in defaults"
    );
}

/// `docs/configuration.md` lists every key of `config.toml` with its
/// default, and no other key: a key added, renamed or re-defaulted in one and
/// not the other fails here.
#[test]
fn configuration_doc_lists_every_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::read_to_string(root.join("config.toml")).unwrap();
    let table: toml::Table = file.parse().unwrap();
    let mut in_file = std::collections::BTreeMap::new();
    for (section, keys) in &table {
        for (key, value) in keys.as_table().expect("config.toml has only sections") {
            let shown = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Float(f) => format!("{f:?}"),
                other => other.to_string(),
            };
            in_file.insert(format!("{section}.{key}"), shown);
        }
    }
    let doc = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let mut in_doc = std::collections::BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let key = cells[0].trim_start_matches("| ").trim_matches('`');
        let default = cells[1].trim_matches('`');
        let default = if default == "empty" { "" } else { default };
        assert!(
            in_doc
                .insert(key.to_string(), default.to_string())
                .is_none(),
            "docs/configuration.md lists {key} twice"
        );
    }
    let file_keys: Vec<&String> = in_file.keys().collect();
    let doc_keys: Vec<&String> = in_doc.keys().collect();
    assert_eq!(
        file_keys, doc_keys,
        "docs/configuration.md and config.toml must list the same keys"
    );
    for (key, default) in &in_doc {
        let actual = &in_file[key];
        let same = match default.strip_suffix("…)") {
            // A long default is shortened in the table: its start must match.
            Some(start) => actual.starts_with(start),
            None => actual == default,
        };
        assert!(
            same,
            "{key}: docs/configuration.md says {default:?}, config.toml {actual:?}"
        );
    }
}

#[test]
fn env_overrides_file_and_types_are_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[bom]\ntimeout_secs = 5\n[server]\nbind = \"0.0.0.0:1\"\n",
    )
    .unwrap();
    let c = Config::load_from(
        Some(&path),
        env(&[
            ("RAINCAST_BOM__TIMEOUT_SECS", "9"),
            ("RAINCAST_BOM__BASE_URL", "http://127.0.0.1:9"),
            ("RAINCAST_SCHEDULE__CATCH_UP", "false"),
            ("OTHER", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.bom.timeout_secs, 9);
    assert_eq!(c.bom.base_url, "http://127.0.0.1:9");
    assert!(!c.schedule.catch_up);
    assert_eq!(c.server.bind.to_string(), "0.0.0.0:1");
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        ("RAINCAST_BOM__TIMEOUT_SECS", "soon", "bom.timeout_secs"),
        ("RAINCAST_SERVER__BIND", "nowhere", "server.bind"),
        ("RAINCAST_MODEL__N_TREES", "0", "model.n_trees"),
        ("RAINCAST_SCHEDULE__SCRAPE", "every day", "schedule.scrape"),
        ("RAINCAST_BOM__TYPO", "1", "bom.typo"),
        ("RAINCAST_MODEL__MAX_FEATURES", "most", "model.max_features"),
        (
            "RAINCAST_MODEL__CLASS_WEIGHT",
            "heavy",
            "model.class_weight",
        ),
        (
            "RAINCAST_SERVER__METRICS_BIND",
            "here",
            "server.metrics_bind",
        ),
        (
            "RAINCAST_ADMIN__COOKIE_SECURE",
            "sometimes",
            "admin.cookie_secure",
        ),
        ("RAINCAST_BOM__SHOWS_MORNING", "10am", "bom.shows_morning"),
        ("RAINCAST_BOM__SHOWS_MORNING", "08:30", "bom.shows_morning"),
        (
            "RAINCAST_BOM__SHOWS_AFTERNOON",
            "14:00",
            "bom.shows_afternoon",
        ),
        (
            "RAINCAST_SCHEDULE__SCRAPE",
            "0 20 0 * * *; 20 0 * * *",
            "schedule.scrape",
        ),
    ];
    for (k, v, key) in cases {
        let err = Config::load_from(None, env(&[(k, v)]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(key), "{k}={v}: `{err}` should name {key}");
    }
}

#[test]
fn explicit_missing_file_is_an_error() {
    let err =
        Config::load_from(Some(Path::new("/nonexistent/raincast.toml")), env(&[])).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
}

#[test]
fn secrets_are_redacted_in_debug() {
    let mut c = Config::default();
    c.admin.password = "hunter2".into();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn weak_admin_passwords_are_named_and_refused_when_required() {
    let with = |p: &str| AdminConfig {
        password: p.into(),
        ..Default::default()
    };
    assert_eq!(
        with("   ").password_weakness(),
        Some("it is only whitespace")
    );
    assert_eq!(
        with("a").password_weakness(),
        Some("it is shorter than 12 characters")
    );
    assert_eq!(
        with("password").password_weakness(),
        Some("it is shorter than 12 characters")
    );
    assert_eq!(
        with("Password1234").password_weakness(),
        Some("it is a common password")
    );
    assert_eq!(
        with(" Correct Horse Battery Staple ").password_weakness(),
        Some("it is a common password")
    );
    assert_eq!(
        with("xxxxxxxxxxxxxxxx").password_weakness(),
        Some("it is one character repeated")
    );
    assert_eq!(with("gully-wattle-9-brolga").password_weakness(), None);
    // No plain password (disabled, or a hash): nothing to judge.
    assert_eq!(with("").password_weakness(), None);

    let mut c = Config::default();
    c.admin.password = "letmein".into();
    c.validate().expect("weak is only a warning by default");
    c.admin.require_strong_password = true;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.starts_with("admin.password:"), "{e}");
    assert!(
        e.contains("shorter than 12") && e.contains("require_strong_password"),
        "{e}"
    );
    c.admin.password = "gully-wattle-9-brolga".into();
    c.validate().unwrap();
}
