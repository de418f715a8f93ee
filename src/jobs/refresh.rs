//! The refresh job: scrape, then train.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::scrape::{self, ScrapeSummary};
use super::train::{self, TrainSummary};
use super::{Failure, JobSummary, RunCtx};
use crate::train::WindowOverride;

/// What a refresh did. `train` is empty when the training failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshSummary {
    pub scrape: ScrapeSummary,
    pub train: Option<TrainSummary>,
}

#[tracing::instrument(name = "refresh", skip_all)]
pub(super) async fn run(ctx: &Arc<RunCtx>) -> Result<RefreshSummary, Failure> {
    let scrape = scrape::run(ctx, None).await?;
    match train::run(ctx, WindowOverride::default(), false).await {
        Ok(train) => Ok(RefreshSummary {
            scrape,
            train: Some(train),
        }),
        Err(mut f) => {
            f.summary = Some(JobSummary::Refresh(Box::new(RefreshSummary {
                scrape,
                train: None,
            })));
            Err(f)
        }
    }
}
