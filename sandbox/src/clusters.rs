//! The clusters service (being written).

use axum::Router;

use crate::{AppState, Store};

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct State {}

impl State {
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        Ok(store.load("clusters")?.unwrap_or_default())
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Create one running cluster when the workspace has none.
pub fn seed(_state: &AppState) -> anyhow::Result<()> {
    Ok(())
}
