//! Store spans nest under the caller, also inside blocking tasks.

use super::*;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// (span name, parent span name)
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Records each new span's name with its parent's.
struct Spans(Seen);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let parent = span.parent().map(|p| p.name().to_string());
            if let Ok(mut v) = self.0.lock() {
                v.push((span.name().to_string(), parent));
            }
        }
    }
}

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
