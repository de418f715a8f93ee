//! Which model serves: the deployed champion, swapped in when a promotion
//! is noticed; a champion that does not load is refused (and, at start-up,
//! the newest loadable one that was ever deployed serves instead).

use std::sync::Arc;

use super::Serving;
use crate::registry::{self, RegistryError};
use crate::store::{Store, StoreError};

impl Serving {
    /// Load the deployed champion if it differs from the serving one. A corrupt
    /// or incompatible blob is refused, and the model serving (if any) goes on.
    /// Returns the version now serving.
    pub fn refresh(&self, store: &Store) -> Result<Option<i64>, StoreError> {
        let deployed = store.champion_version()?;
        let serving = self.current.load().as_ref().map(|m| m.version);
        if deployed == serving {
            return Ok(serving);
        }
        let Some(version) = deployed else {
            return Ok(serving);
        };
        if let Ok(r) = self.refused.lock()
            && r.as_ref().is_some_and(|(v, _)| *v == version)
        {
            return Ok(serving);
        }
        match registry::load(store, version) {
            Ok(model) => {
                tracing::info!(version, "serving model version");
                self.current
                    .store(Some(Arc::new(with_level(store, model)?)));
                if let Ok(mut r) = self.refused.lock() {
                    *r = None;
                }
                // A newly deployed champion ends a fallback, unless it is
                // the fallback recorded at start (then it stays said).
                if self
                    .fallback()
                    .is_some_and(|f| f.serving_version != version)
                {
                    self.set_fallback(None);
                }
                Ok(Some(version))
            }
            Err(RegistryError::Store(e)) => Err(e),
            Err(e) => {
                match serving {
                    Some(v) => tracing::error!(version, error = %e,
                        "refusing to serve the deployed champion; version {v} keeps serving"),
                    None => tracing::error!(version, error = %e,
                        "refusing to serve the deployed champion; no model is serving"),
                }
                if let Some(v) = serving {
                    self.set_fallback(Some(super::Fallback {
                        refused_version: version,
                        serving_version: v,
                        reason: format!(
                            "the deployed champion, version {version}, does not load ({e}); version {v} keeps serving"
                        ),
                    }));
                }
                if let Ok(mut r) = self.refused.lock() {
                    *r = Some((version, e.to_string()));
                }
                Ok(serving)
            }
        }
    }

    /// Load the champion at start-up. When the deployed champion does not
    /// load (a corrupt blob, another feature schema), fall back to the newest
    /// loadable version that was ever deployed, and record that as a
    /// deployment by `system` with the reason, so the registry says what
    /// serves. With nothing loadable, nothing serves (and `/readyz` says why).
    /// Returns the version now serving.
    pub fn load_at_start(&self, store: &Store) -> Result<Option<i64>, StoreError> {
        if store.is_read_only() {
            // A replica records nothing: it serves the deployed champion or,
            // when that does not load, says why (the primary falls back).
            return self.refresh(store);
        }
        let Some(deployed) = store.champion_version()? else {
            tracing::info!(
                "no model is deployed yet; nothing serves until a training promotes one"
            );
            return Ok(None);
        };
        let why = match registry::load(store, deployed) {
            Ok(model) => {
                tracing::info!(version = deployed, "serving model version");
                self.current
                    .store(Some(Arc::new(with_level(store, model)?)));
                return Ok(Some(deployed));
            }
            Err(RegistryError::Store(e)) => return Err(e),
            Err(e) => e.to_string(),
        };
        tracing::error!(version = deployed, error = %why, "the deployed champion does not load");
        let mut candidates: Vec<i64> = store
            .deployments()?
            .into_iter()
            .map(|d| d.version)
            .filter(|v| *v != deployed)
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        for v in candidates {
            match registry::load(store, v) {
                Ok(model) => {
                    let reason = format!(
                        "start-up fallback: the deployed champion, version {deployed}, does not load ({why}); version {v} is the newest loadable model that was deployed before"
                    );
                    // Another process starting at the same time may have
                    // recorded the same fallback already.
                    if store.champion_version()? == Some(deployed) {
                        store.deploy(v, &reason, "system")?;
                    }
                    tracing::warn!(
                        version = v,
                        refused = deployed,
                        "{reason}; recorded as a deployment"
                    );
                    self.current
                        .store(Some(Arc::new(with_level(store, model)?)));
                    if let Ok(mut r) = self.refused.lock() {
                        *r = None;
                    }
                    self.set_fallback(Some(super::Fallback {
                        refused_version: deployed,
                        serving_version: v,
                        reason,
                    }));
                    return Ok(Some(v));
                }
                Err(RegistryError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::error!(version = v, error = %e, "earlier champion does not load either");
                }
            }
        }
        tracing::error!(
            version = deployed,
            "no model that was ever deployed loads: nothing is serving until a training promotes a new one"
        );
        if let Ok(mut r) = self.refused.lock() {
            *r = Some((deployed, why));
        }
        Ok(None)
    }
}

/// `model` with its level book brought up to the newest stored rain day
/// before it serves, so its first forecasts read the same days as every
/// later one ([`crate::evaluate::catch_up_level`]).
fn with_level(
    store: &Store,
    model: registry::LoadedModel,
) -> Result<registry::LoadedModel, StoreError> {
    crate::evaluate::catch_up_level(store, &model)?;
    Ok(model)
}
