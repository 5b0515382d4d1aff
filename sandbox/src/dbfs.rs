//! The dbfs service (being written).

use axum::Router;

use crate::{AppState, Store};

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct State {}

impl State {
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        Ok(store.load("dbfs")?.unwrap_or_default())
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
}
