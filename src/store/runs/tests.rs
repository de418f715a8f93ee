//! Tests of the run records: the one lease for every kind and its
//! take-over, and the stored strings of kinds, triggers and statuses.
use std::time::Duration;

use super::*;

#[test]
fn one_lease_for_every_kind_and_an_expired_one_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("l.db"), Duration::from_secs(1)).unwrap();
    let minute = Duration::from_secs(60);
    let a = store
        .start_run(JobKind::Scrape, Trigger::Cli, minute)
        .unwrap();
    // Any kind is refused while the lease is held, naming the holder.
    match store.start_run(JobKind::Train, Trigger::Cli, minute) {
        Err(StoreError::RunActive { kind, run_id }) => {
            assert_eq!((kind.as_str(), run_id), ("scrape", a))
        }
        other => panic!("{other:?}"),
    }
    assert!(store.renew_lease(a, minute).unwrap());
    // Starting up elsewhere leaves a run under a live lease alone.
    assert_eq!(store.mark_interrupted().unwrap(), 0);
    store
        .finish_run(a, RunStatus::Succeeded, None, None, "")
        .unwrap();
    assert_eq!(store.job_lease().unwrap(), None);
    assert!(!store.renew_lease(a, minute).unwrap());
    // A lease that lapsed (its holder stopped renewing) is taken over,
    // and the run it covered is closed as interrupted.
    let b = store
        .start_run(JobKind::Train, Trigger::Cli, Duration::ZERO)
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let c = store
        .start_run(JobKind::Refresh, Trigger::Cli, minute)
        .unwrap();
    let old = store.run(b).unwrap();
    assert_eq!(
        (old.status, old.error.as_deref()),
        (RunStatus::Failed, Some("interrupted"))
    );
    assert_eq!(store.job_lease().unwrap().map(|l| l.run_id), Some(c));
    assert!(!store.renew_lease(b, minute).unwrap(), "b lost the lease");
}

#[test]
fn kinds_triggers_and_statuses_are_stored_as_the_same_strings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = Store::open(&path, Duration::from_secs(1)).unwrap();
    let id = store
        .start_run(JobKind::Refresh, Trigger::CatchUp, Duration::ZERO)
        .unwrap();
    store
        .finish_run(id, RunStatus::Cancelled, Some("stop"), None, "")
        .unwrap();
    let raw: (String, String, String) = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT kind, trigger, status FROM job_runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(
        raw,
        ("refresh".into(), "catch-up".into(), "cancelled".into())
    );
    let run = store.run(id).unwrap();
    assert_eq!(
        (run.kind, run.trigger, run.status),
        (JobKind::Refresh, Trigger::CatchUp, RunStatus::Cancelled)
    );
    assert_eq!(store.runs(Some(JobKind::Refresh), 5).unwrap().len(), 1);
    assert!(store.runs(Some(JobKind::Train), 5).unwrap().is_empty());
    // An unknown string in the table reads as a corrupt database.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE job_runs SET kind = 'bake'", [])
        .unwrap();
    assert!(matches!(store.run(id), Err(StoreError::Corrupt(_))));
    // So does a summary that is not JSON, naming the row and column.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE job_runs SET kind = 'refresh', summary = '{\"rows\": 3'",
            [],
        )
        .unwrap();
    match store.run(id) {
        Err(StoreError::Corrupt(m)) => {
            assert!(
                m.contains(&format!("job_runs id {id}: column summary")),
                "{m}"
            )
        }
        other => panic!("expected a corrupt row, got {other:?}"),
    }
    // And a start time that is not RFC 3339.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE job_runs SET summary = NULL, started_at = 'yesterday'",
            [],
        )
        .unwrap();
    match store.run(id) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("column started_at"), "{m}"),
        other => panic!("expected a corrupt row, got {other:?}"),
    }
}
