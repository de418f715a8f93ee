//! The error type of the forest module.

/// Everything that can go wrong when checking parameters, fitting or loading
/// a forest.
#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    /// A hyperparameter is out of range; `field` is its name in
    /// [`ForestParams`](super::ForestParams).
    #[error("invalid parameter `{field}`: {reason}")]
    InvalidParam {
        /// Name of the offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// There are no rows or no features to learn from.
    #[error("no training data: {0}")]
    EmptyData(&'static str),
    /// The feature matrix and the labels disagree in size.
    #[error("shape mismatch: {x_len} feature values are not {y_len} rows × {n_features} features")]
    ShapeMismatch {
        /// Number of values in the row-major feature matrix.
        x_len: usize,
        /// Declared number of features (columns).
        n_features: usize,
        /// Number of labels.
        y_len: usize,
    },
    /// More rows or features than the compact layouts can address
    /// (at most 2^31 − 1 rows and 65 534 features).
    #[error("data too large: {0}")]
    TooLarge(String),
    /// A feature value is ±infinity (missing values must be `NaN`).
    #[error("feature value {value} at row {row}, column {column} is infinite; use NaN for missing")]
    NonFinite {
        /// Row index of the value.
        row: usize,
        /// Column (feature) index of the value.
        column: usize,
        /// The offending value.
        value: f32,
    },
    /// Fitting was cancelled through [`FitOptions::cancel`](super::FitOptions).
    #[error("training cancelled")]
    Cancelled,
    /// A serialized forest could not be decoded or failed validation.
    #[error("corrupt forest: {0}")]
    Corrupt(String),
    /// The dedicated rayon thread pool could not be created.
    #[error("cannot build thread pool: {0}")]
    ThreadPool(String),
    /// An error reported by linfa.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}
