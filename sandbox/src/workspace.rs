//! The workspace service (being written).

use axum::Router;

use crate::{AppState, Store};

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct State {}

impl State {
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        Ok(store.load("workspace")?.unwrap_or_default())
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
}

/// The language and source text of the notebook at `path`, for job tasks that run
/// notebooks. `None` when there is no notebook there.
pub fn read_notebook(_state: &AppState, _path: &str) -> Option<(String, String)> {
    None
}
