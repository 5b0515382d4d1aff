//! Command execution 1.2 (being written).

use axum::Router;

use crate::AppState;

#[derive(Debug, Default)]
pub struct State {}

pub fn routes() -> Router<AppState> {
    Router::new()
}
