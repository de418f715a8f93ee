//! Hyperparameters, following linfa's `ParamGuard` pattern: [`ForestParams`]
//! is the unchecked, freely editable set and [`ForestValidParams`] the
//! checked one that can actually fit a model.

use serde::{Deserialize, Serialize};

use super::ForestError;
use super::model;

/// How many features are drawn (without replacement) as split candidates at
/// every node.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum MaxFeatures {
    /// `max(1, floor(sqrt(n_features)))`.
    #[default]
    Sqrt,
    /// `max(1, floor(log2(n_features)))`.
    Log2,
    /// Every feature (no feature bagging).
    All,
    /// `max(1, floor(fraction · n_features))`, fraction in `(0, 1]`.
    Fraction(f32),
    /// An explicit count, capped at `n_features`.
    Count(usize),
}

impl MaxFeatures {
    /// The number of candidate features per split for `n_features` columns.
    pub fn resolve(self, n_features: usize) -> usize {
        let n = n_features as f64;
        let m = match self {
            Self::Sqrt => n.sqrt().floor() as usize,
            Self::Log2 => n.log2().floor() as usize,
            Self::All => n_features,
            Self::Fraction(f) => (f64::from(f) * n).floor() as usize,
            Self::Count(c) => c,
        };
        m.clamp(1, n_features.max(1))
    }
}

/// Class weights applied to the "no"/"yes" counts in impurities and leaves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum ClassWeight {
    /// Both classes weigh 1.
    None,
    /// `n / (2 · n_class)` computed once on the whole training set.
    Balanced,
    /// Like `Balanced`, but computed on each tree's bootstrap sample.
    #[default]
    BalancedSubsample,
    /// "No" weighs 1, "yes" weighs `yes`.
    Custom {
        /// Weight of the positive class.
        yes: f32,
    },
}

/// A parameter's value as people read it: numbers as typed (an `f32` 0.1
/// shows as 0.1, not as the `f64` it widens to), `none` for an unset
/// option, enums in words.
pub trait ParamText {
    fn text(&self) -> String;
}

macro_rules! param_text_display {
    ($($t:ty),*) => {
        $(impl ParamText for $t {
            fn text(&self) -> String {
                self.to_string()
            }
        })*
    };
}
param_text_display!(usize, u64, f32, f64, bool);

impl<T: ParamText> ParamText for Option<T> {
    fn text(&self) -> String {
        self.as_ref().map_or_else(|| "none".into(), T::text)
    }
}

impl ParamText for MaxFeatures {
    fn text(&self) -> String {
        match self {
            Self::Sqrt => "sqrt".into(),
            Self::Log2 => "log2".into(),
            Self::All => "all".into(),
            Self::Fraction(f) => format!("fraction {f}"),
            Self::Count(c) => c.to_string(),
        }
    }
}

impl ParamText for ClassWeight {
    fn text(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::Balanced => "balanced".into(),
            Self::BalancedSubsample => "balanced per tree".into(),
            Self::Custom { yes } => format!("yes weighs {yes}"),
        }
    }
}

/// The hyperparameters of either family, as a model version records them
/// (serialised exactly as the family's own set, so stored rows keep their
/// shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Hyperparams {
    Forest(ForestParams),
    Boost(super::boost::BoostParams),
}

impl Hyperparams {
    /// Read a stored set, knowing its family (`boost` or not): fields a
    /// version predates take their defaults; a value of the wrong type is
    /// an error that says so.
    pub fn read(boost: bool, stored: &serde_json::Value) -> Result<Self, String> {
        let read = if boost {
            serde_json::from_value(stored.clone()).map(Self::Boost)
        } else {
            serde_json::from_value(stored.clone()).map(Self::Forest)
        };
        read.map_err(|e| format!("unreadable parameters: {e}"))
    }

    /// Every parameter as (name, value as typed), in declaration order.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Forest(p) => p.entries(),
            Self::Boost(p) => p.entries(),
        }
    }
}

/// Defines a checked hyperparameter struct (fields `pub(crate)`, one public
/// read accessor per field) and the unchecked newtype wrapping it (one
/// `with_*` builder per field), with each field's doc written once.
///
/// The checked type holds the values and the unchecked one wraps it, as in
/// linfa's own estimators: [`linfa::ParamGuard::check_ref`] can then hand out
/// `&self.0` without any pointer cast. Inside the crate both types are edited
/// through their fields (the unchecked type derefs to the checked one);
/// outside it, through the accessors and builders, so a checked value is only
/// ever obtained from `check`/`check_ref`.
macro_rules! hyperparams {
    (
        $(#[$valid_attr:meta])*
        pub struct $valid:ident;
        $(#[$unchecked_attr:meta])*
        pub struct $unchecked:ident;
        {
            $(
                $(#[doc = $doc:literal])*
                $field:ident / $with:ident : $ty:ty,
            )*
        }
    ) => {
        $(#[$valid_attr])*
        pub struct $valid {
            $(
                $(#[doc = $doc])*
                pub(crate) $field: $ty,
            )*
        }

        impl $valid {
            $(
                $(#[doc = $doc])*
                pub fn $field(&self) -> $ty {
                    self.$field
                }
            )*

            /// Every parameter as (name, value as typed), in declaration
            /// order: what a model version shows people.
            pub fn entries(&self) -> Vec<(&'static str, String)> {
                use $crate::forest::params::ParamText;
                vec![$((stringify!($field), self.$field.text()),)*]
            }
        }

        $(#[$unchecked_attr])*
        pub struct $unchecked(pub(crate) $valid);

        impl $unchecked {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`:")]
                $(#[doc = $doc])*
                #[must_use]
                pub fn $with(mut self, value: $ty) -> Self {
                    self.0.$field = value;
                    self
                }
            )*
        }

        impl From<$valid> for $unchecked {
            fn from(valid: $valid) -> Self {
                Self(valid)
            }
        }

        impl std::ops::Deref for $unchecked {
            type Target = $valid;

            fn deref(&self) -> &$valid {
                &self.0
            }
        }

        impl std::ops::DerefMut for $unchecked {
            fn deref_mut(&mut self) -> &mut $valid {
                &mut self.0
            }
        }

        /// Checking runs the type's own `validate`: the first invalid
        /// field, by name.
        impl linfa::ParamGuard for $unchecked {
            type Checked = $valid;
            type Error = $crate::forest::ForestError;

            fn check_ref(&self) -> Result<&$valid, $crate::forest::ForestError> {
                self.validate()?;
                Ok(&self.0)
            }

            fn check(self) -> Result<$valid, $crate::forest::ForestError> {
                self.validate()?;
                Ok(self.0)
            }
        }
    };
}
pub(crate) use hyperparams;

hyperparams! {
    /// Checked random-forest hyperparameters: obtained only through
    /// [`linfa::ParamGuard`], they can fit a [`Forest`](super::Forest).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ForestValidParams;

    /// Unchecked random-forest hyperparameters. Check them with
    /// [`linfa::ParamGuard::check`] to get [`ForestValidParams`]. Serialises
    /// exactly as the values it wraps.
    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[serde(transparent)]
    pub struct ForestParams;
    {
        /// Number of trees (≥ 1).
        n_trees / with_n_trees: usize,
        /// Maximum depth (root = depth 0); `None` grows until the other limits stop.
        max_depth / with_max_depth: Option<usize>,
        /// Minimum number of distinct training rows in a leaf (≥ 1).
        min_samples_leaf / with_min_samples_leaf: usize,
        /// A node with fewer distinct training rows than this is not split.
        min_samples_split / with_min_samples_split: usize,
        /// Candidate features per split.
        max_features / with_max_features: MaxFeatures,
        /// Bootstrap rows per tree (drawn as per-row counts) or use every row once.
        bootstrap / with_bootstrap: bool,
        /// Class weighting.
        class_weight / with_class_weight: ClassWeight,
        /// Quantile bins per feature, 2..=255 (a 256th code marks missing values).
        max_bins / with_max_bins: usize,
        /// Seed of all randomness; same seed, same data ⇒ bit-identical model.
        seed / with_seed: u64,
        /// Threads for training; `None` uses rayon's global pool.
        n_threads / with_n_threads: Option<usize>,
    }
}

impl Default for ForestValidParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_depth: None,
            min_samples_leaf: 5,
            min_samples_split: 10,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            class_weight: ClassWeight::BalancedSubsample,
            max_bins: 255,
            seed: 0,
            n_threads: None,
        }
    }
}

impl ForestParams {
    fn validate(&self) -> Result<(), ForestError> {
        let bad = model::invalid;
        if self.n_trees == 0 {
            return bad("n_trees", "must be at least 1");
        }
        if self.max_depth == Some(0) {
            return bad("max_depth", "must be at least 1 (or None for unlimited)");
        }
        if self.min_samples_leaf == 0 {
            return bad("min_samples_leaf", "must be at least 1");
        }
        match self.max_features {
            MaxFeatures::Fraction(f) if !(f > 0.0 && f <= 1.0) => {
                return bad("max_features", "a fraction must be in (0, 1]");
            }
            MaxFeatures::Count(0) => return bad("max_features", "a count must be at least 1"),
            _ => {}
        }
        if let ClassWeight::Custom { yes } = self.class_weight
            && !(yes.is_finite() && yes > 0.0)
        {
            return bad(
                "class_weight",
                "a custom weight must be positive and finite",
            );
        }
        model::check_bins_and_threads(self.max_bins, self.n_threads)
    }
}

#[cfg(test)]
mod hyperparams_tests {
    use super::*;
    use crate::forest::boost::BoostParams;

    #[test]
    fn stored_sets_read_back_typed_and_show_as_typed() {
        let boost = BoostParams::default().with_learning_rate(0.1);
        let stored = serde_json::to_value(&boost).unwrap();
        // Widened to f64 in the stored JSON...
        assert_ne!(stored["learning_rate"].as_f64(), Some(0.1));
        let read = Hyperparams::read(true, &stored).unwrap();
        assert_eq!(read, Hyperparams::Boost(boost));
        // ...and shown as typed, every stored field once, in order.
        let entries = read.entries();
        assert!(
            entries.contains(&("learning_rate", "0.1".into())),
            "{entries:?}"
        );
        assert_eq!(entries.len(), stored.as_object().unwrap().len());
        assert_eq!(entries[0].0, "max_iter");

        let forest = ForestParams::default()
            .with_max_depth(None)
            .with_class_weight(ClassWeight::Custom { yes: 2.5 });
        let mut stored = serde_json::to_value(&forest).unwrap();
        // A version from before a field existed reads it as its default.
        stored.as_object_mut().unwrap().remove("max_bins");
        let read = Hyperparams::read(false, &stored).unwrap();
        let entries = read.entries();
        assert!(
            entries.contains(&("max_depth", "none".into())),
            "{entries:?}"
        );
        assert!(entries.contains(&("class_weight", "yes weighs 2.5".into())));
        assert!(entries.contains(&("max_bins", ForestParams::default().max_bins.to_string())));
    }

    #[test]
    fn a_wrong_value_is_an_error_not_a_default() {
        let err = Hyperparams::read(false, &serde_json::json!({"n_trees": "many"})).unwrap_err();
        assert!(err.starts_with("unreadable parameters: "), "{err}");
        assert!(err.contains("many"), "{err}");
        assert!(Hyperparams::read(true, &serde_json::json!("boost")).is_err());
    }
}
