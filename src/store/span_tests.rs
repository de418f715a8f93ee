//! Store spans nest under the caller, also inside blocking tasks.

use super::*;
use crate::runtime::tests::Spans;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn store_spans_nest_under_the_caller_in_the_blocking_pool() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), Duration::from_secs(5)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(Spans(seen.clone())));
    let request = tracing::info_span!("request");
    let s = store.clone();
    let version = {
        let _in = request.enter();
        crate::runtime::spawn_blocking(move || s.champion_version())
    };
    assert_eq!(version.await.unwrap().unwrap(), None);
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&("champion_version".into(), Some("request".into()))),
        "{seen:?}"
    );
}
