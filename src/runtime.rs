//! Where work that must not run on the async threads goes, with the
//! caller's tracing span (and subscriber) carried along, so that what it
//! logs, and the spans it opens, nest under the request or job that asked.
//!
//! - [`spawn_blocking`]: blocking I/O, above all the store's SQLite calls,
//!   on tokio's blocking pool.
//! - [`spawn_cpu_bound`]: CPU-bound model work (training, evaluating a model
//!   on a window) in a dedicated rayon pool, the training pool. The forest
//!   and the booster parallelise with rayon; inside this pool their parallel
//!   loops use its threads, so a weekly training does not queue behind, or
//!   in front of, the rayon work of serving (a batch of posted
//!   observations predicts in rayon's global pool).
//!
//! The store calls neither: its methods are blocking, and async callers
//! choose where they run.

use std::sync::OnceLock;

use tokio::task::JoinHandle;

/// Prefix of the training pool's thread names (`raincast-train-0`, …).
pub const TRAINING_THREAD_PREFIX: &str = "raincast-train-";

/// Runs `f` on tokio's blocking pool inside the caller's span and with the
/// caller's subscriber (so a scoped one, a test's, sees what it logs).
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let carried = in_callers_context(f);
    tokio::task::spawn_blocking(carried)
}

/// Runs CPU-bound `f` in the training pool, inside the caller's span and
/// with the caller's subscriber. A tokio blocking thread waits for it, so a
/// panic in `f` comes back as the handle's `JoinError`, as with
/// [`spawn_blocking`], and never takes the process down. If the pool cannot
/// be built (the system refuses threads), `f` runs on that blocking thread
/// in rayon's global pool, as before the pool existed.
pub fn spawn_cpu_bound<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let carried = in_callers_context(f);
    tokio::task::spawn_blocking(move || match training_pool() {
        Some(pool) => pool.install(carried),
        None => carried(),
    })
}

/// `f`, to be run on another thread inside the current span and with the
/// current subscriber.
fn in_callers_context<F, T>(f: F) -> impl FnOnce() -> T + Send + 'static
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    move || tracing::dispatcher::with_default(&dispatch, || span.in_scope(f))
}

/// The training pool: one thread per core, built on first use and kept for
/// the life of the process.
fn training_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("{TRAINING_THREAD_PREFIX}{i}"))
            .build()
            .inspect_err(|e| {
                tracing::warn!(
                    "cannot build the training pool ({e}); CPU-bound work runs in rayon's global pool"
                );
            })
            .ok()
    })
    .as_ref()
}

/// Sleep for `d`, and not at all for zero: tokio's zero sleep still waits
/// for the timer's next millisecond, which a loop of thousands of requests
/// to a loopback stand-in adds up to seconds.
pub async fn pause(d: std::time::Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use rayon::prelude::*;
    use tracing::span::{Attributes, Id};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    use super::*;

    /// (span name, parent span name)
    pub(crate) type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

    /// Records each new span's name with its parent's (the store's span
    /// test uses it too).
    pub(crate) struct Spans(pub(crate) Seen);

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

    /// Runs `spawn` inside a span named "caller" under a recording
    /// subscriber, and returns what the spawned work returned and every
    /// span seen with its parent.
    async fn spawned_under_caller(
        spawn: fn(Box<dyn FnOnce() -> String + Send>) -> JoinHandle<String>,
    ) -> (String, Vec<(String, Option<String>)>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let _guard = tracing::subscriber::set_default(
            tracing_subscriber::registry().with(Spans(seen.clone())),
        );
        let handle = {
            let _in = tracing::info_span!("caller").entered();
            spawn(Box::new(|| {
                let _work = tracing::info_span!("work").entered();
                std::thread::current().name().unwrap_or("").to_string()
            }))
        };
        let thread = handle.await.unwrap();
        let seen = seen.lock().unwrap().clone();
        (thread, seen)
    }

    #[tokio::test]
    async fn blocking_work_nests_under_the_callers_span() {
        let (_, seen) = spawned_under_caller(spawn_blocking).await;
        assert!(
            seen.contains(&("work".into(), Some("caller".into()))),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn cpu_bound_work_runs_in_the_training_pool_under_the_callers_span() {
        let (thread, seen) = spawned_under_caller(spawn_cpu_bound).await;
        assert!(
            thread.starts_with(TRAINING_THREAD_PREFIX),
            "ran on {thread:?}"
        );
        assert!(
            seen.contains(&("work".into(), Some("caller".into()))),
            "{seen:?}"
        );
    }

    /// A fit's parallel loops, called from inside the work, run on the
    /// training pool's threads, not on rayon's global pool.
    #[tokio::test]
    async fn parallel_loops_inside_cpu_bound_work_stay_in_the_training_pool() {
        let names = spawn_cpu_bound(|| {
            (0..64)
                .into_par_iter()
                .map(|_| std::thread::current().name().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        assert!(
            names.iter().all(|n| n.starts_with(TRAINING_THREAD_PREFIX)),
            "{names:?}"
        );
    }

    /// A panic comes back as an error; the process and the pool live on.
    #[tokio::test]
    async fn a_panic_in_cpu_bound_work_is_an_error_not_an_abort() {
        let failed = spawn_cpu_bound(|| -> u32 { panic!("a bug in a fit") }).await;
        assert!(failed.unwrap_err().is_panic());
        assert_eq!(spawn_cpu_bound(|| 7).await.unwrap(), 7);
    }
}
