//! The stored form of a booster: postcard bytes with a version tag,
//! validated on load so a corrupt blob is refused, never served.

use serde::{Deserialize, Serialize};

use super::Booster;
use super::tree::{self, Tree};
use crate::forest::ForestError;
use crate::forest::model::{self, corrupt};

/// Version tag at the start of every serialized booster. Version 2 added
/// categorical splits (each tree's category sets); version 1 still loads,
/// and a model without categorical splits is still written as version 1, so
/// the binary before version 2 can load it after a rollback.
const FORMAT_VERSION: u32 = 2;

#[derive(Serialize)]
struct BoosterRef<'a, T> {
    version: u32,
    n_features: u32,
    base: f64,
    trees: &'a [T],
    importance: &'a [f64],
}

#[derive(Deserialize)]
struct BoosterOwned<T> {
    version: u32,
    n_features: u32,
    base: f64,
    trees: Vec<T>,
    importance: Vec<f64>,
}

/// A tree as format version 1 stored it: no categorical splits.
#[derive(Deserialize)]
struct TreeV1 {
    nodes: Vec<tree::Node>,
}

/// [`TreeV1`] for writing.
#[derive(Serialize)]
struct TreeV1Ref<'a> {
    nodes: &'a [tree::Node],
}

impl Booster {
    /// The model as compact postcard bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.trees.iter().all(|t| t.sets.is_empty()) {
            let trees: Vec<TreeV1Ref<'_>> = self
                .trees
                .iter()
                .map(|t| TreeV1Ref { nodes: &t.nodes })
                .collect();
            self.encode(1, &trees)
        } else {
            self.encode(FORMAT_VERSION, &self.trees)
        }
    }

    /// The model with `trees` in the layout of format `version`.
    fn encode<T: Serialize>(&self, version: u32, trees: &[T]) -> Vec<u8> {
        postcard::to_allocvec(&BoosterRef {
            version,
            n_features: self.n_features as u32,
            base: self.base,
            trees,
            importance: &self.importance,
        })
        .expect("postcard serialization of numbers and vectors into a Vec is infallible")
    }

    /// Decodes and validates bytes from [`Booster::to_bytes`].
    ///
    /// # Errors
    /// [`ForestError::Corrupt`] when the bytes do not decode or describe an
    /// invalid model.
    pub fn from_bytes(bytes: &[u8]) -> Result<Booster, ForestError> {
        let decode_err = |e: postcard::Error| corrupt(format!("cannot decode: {e}"));
        let (version, _): (u32, _) = postcard::take_from_bytes(bytes).map_err(decode_err)?;
        let (repr, rest) = match version {
            1 => {
                let (v1, rest): (BoosterOwned<TreeV1>, _) =
                    postcard::take_from_bytes(bytes).map_err(decode_err)?;
                let trees = v1
                    .trees
                    .into_iter()
                    .map(|t| Tree {
                        nodes: t.nodes,
                        sets: Vec::new(),
                    })
                    .collect();
                let repr = BoosterOwned {
                    version: v1.version,
                    n_features: v1.n_features,
                    base: v1.base,
                    trees,
                    importance: v1.importance,
                };
                (repr, rest)
            }
            FORMAT_VERSION => {
                postcard::take_from_bytes::<BoosterOwned<Tree>>(bytes).map_err(decode_err)?
            }
            v => {
                return Err(corrupt(format!(
                    "booster format version {v} (expected 1 or {FORMAT_VERSION})"
                )));
            }
        };
        model::check_trailing(rest)?;
        let n_features = model::validate_stored(repr.n_features, &repr.trees, &repr.importance)?;
        if !repr.base.is_finite() || repr.base.abs() > 50.0 {
            return Err(corrupt(format!("base score {}", repr.base)));
        }
        Ok(Booster {
            n_features,
            base: repr.base,
            trees: repr.trees,
            importance: repr.importance,
        })
    }
}
