//! A bound on the expensive work in flight: `POST /api/v1/predict` costs
//! the database reads its batch needs (rows and days the serving board
//! does not hold), and requests together may hold at most
//! `server.predict_max_cost` of them. A request over the limit waits a
//! moment for room, then gets 503 with `Retry-After`, so that a burst of
//! heavy batches is answered in turn instead of all slowing to minutes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// How long a batch waits for room before it is refused.
const WAIT: Duration = Duration::from_secs(1);
/// What a refused client is told to wait (about one heavy batch's time).
const RETRY_AFTER_SECS: u64 = 3;

pub struct CostGate {
    units: Arc<Semaphore>,
    capacity: usize,
}

impl CostGate {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Room for work costing `cost` (a cost over the whole capacity waits
    /// for all of it, so it still runs, alone): a permit to hold until the
    /// work ends, `None` for free work, or 503 with `Retry-After`.
    pub async fn admit(&self, cost: usize) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        if cost == 0 {
            return Ok(None);
        }
        let n = u32::try_from(cost.min(self.capacity)).unwrap_or(u32::MAX);
        match tokio::time::timeout(WAIT, self.units.clone().acquire_many_owned(n)).await {
            Ok(Ok(p)) => Ok(Some(p)),
            _ => {
                metrics::counter!("raincast_predict_refused_total").increment(1);
                Err(ApiError::Busy {
                    status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    retry_after: RETRY_AFTER_SECS,
                    message: format!(
                        "busy with other large batches: this one needs {cost} database reads (rows and days older than the in-memory board), and at most {} are in flight; retry after {RETRY_AFTER_SECS} s, or send fewer old dates at once",
                        self.capacity
                    ),
                })
            }
        }
    }

    /// Units in use now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.units.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_over_the_capacity_waits_then_is_refused_and_free_work_passes() {
        let gate = CostGate::new(100);
        assert!(gate.admit(0).await.unwrap().is_none());
        let a = gate.admit(60).await.unwrap().unwrap();
        let b = gate.admit(40).await.unwrap().unwrap();
        assert_eq!(gate.in_use(), 100);
        match gate.admit(1).await {
            Err(ApiError::Busy {
                status,
                retry_after,
                message,
            }) => {
                assert_eq!(status.as_u16(), 503);
                assert_eq!(retry_after, RETRY_AFTER_SECS);
                assert!(message.contains("at most 100"), "{message}");
            }
            other => panic!("{:?}", other.map(|p| p.is_some())),
        }
        drop(a);
        // Bigger than the whole capacity: runs alone once all is free.
        let waiting = tokio::spawn(async move {
            let p = CostGate::admit(&CostGate::new(100), 5000).await;
            p.map(|p| p.is_some())
        });
        assert!(waiting.await.unwrap().unwrap());
        drop(b);
        assert_eq!(gate.in_use(), 0);
    }
}
