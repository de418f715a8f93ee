//! A store opened read-only (a replica) reads and refuses writes.

use super::*;

#[test]
fn a_read_only_store_never_writes_and_reopens_a_replaced_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = Duration::from_secs(1);
    let primary = Store::open(&dir.path().join("primary.db"), t).unwrap();
    let copy = dir.path().join("copy.db");
    primary.backup_to(&copy).unwrap();
    let before = std::fs::read(&copy).unwrap();

    let ro = Store::open_read_only(&copy, t).unwrap();
    assert!(ro.is_read_only());
    assert!(ro.runs(None, 10).unwrap().is_empty());
    let err = ro
        .start_run(JobKind::Scrape, Trigger::Cli, Duration::ZERO)
        .unwrap_err();
    assert!(err.to_string().contains("read-only replica"), "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), before, "the copy changed");
    let v0 = ro.data_version().unwrap();
    assert_eq!(ro.data_version().unwrap(), v0);

    // The primary writes; a restored copy replaces the served one.
    primary
        .start_run(JobKind::Scrape, Trigger::Cli, Duration::ZERO)
        .unwrap();
    let fresh = dir.path().join("copy.db.new");
    primary.backup_to(&fresh).unwrap();
    std::fs::rename(&fresh, &copy).unwrap();
    assert_ne!(ro.data_version().unwrap(), v0, "the re-open is a change");
    ro.check_file().unwrap();
    assert_eq!(ro.runs(None, 10).unwrap().len(), 1);

    // A file that is gone is not ready, and is never created.
    std::fs::remove_file(&copy).unwrap();
    assert!(matches!(ro.check_file(), Err(StoreError::Unavailable(_))));
    assert!(!copy.exists());
}

#[test]
fn a_read_only_store_refuses_a_missing_file_and_another_schema() {
    let dir = tempfile::tempdir().unwrap();
    let t = Duration::from_secs(1);
    let missing = dir.path().join("missing.db");
    let err = Store::open_read_only(&missing, t).err().unwrap();
    assert!(err.to_string().contains("cannot be read"), "{err}");
    assert!(!missing.exists(), "a read-only open created the file");

    let old = dir.path().join("old.db");
    Connection::open(&old)
        .unwrap()
        .execute_batch("PRAGMA user_version = 1; CREATE TABLE t (x)")
        .unwrap();
    let err = Store::open_read_only(&old, t).err().unwrap();
    assert!(err.to_string().contains("never migrates"), "{err}");
    let new = dir.path().join("new.db");
    Connection::open(&new)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    assert!(matches!(
        Store::open_read_only(&new, t),
        Err(StoreError::TooNew { .. })
    ));
}
