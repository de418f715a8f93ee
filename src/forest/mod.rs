//! Placeholder for the helper's module (replaced at merge).
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MaxFeatures {
    Sqrt,
    Log2,
    All,
    Fraction(f32),
    Count(usize),
}
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClassWeight {
    None,
    Balanced,
    BalancedSubsample,
    Custom { yes: f32 },
}
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForestParams {
    pub n_trees: usize,
    pub max_depth: Option<usize>,
    pub min_samples_leaf: usize,
    pub min_samples_split: usize,
    pub max_features: MaxFeatures,
    pub bootstrap: bool,
    pub class_weight: ClassWeight,
    pub max_bins: usize,
    pub seed: u64,
    pub n_threads: Option<usize>,
}
#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    #[error("{field}: {reason}")]
    InvalidParam { field: &'static str, reason: String },
    #[error("linfa")]
    Linfa(#[from] linfa::Error),
}
pub struct ForestValidParams(pub ForestParams);
impl linfa::ParamGuard for ForestParams {
    type Checked = ForestValidParams;
    type Error = ForestError;
    fn check_ref(&self) -> Result<&Self::Checked, ForestError> {
        unreachable!()
    }
    fn check(self) -> Result<Self::Checked, ForestError> {
        Ok(ForestValidParams(self))
    }
}
