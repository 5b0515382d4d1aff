//! SCIM `Me`: the one user of the sandbox workspace.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::AppState;

/// The user every token belongs to.
pub const USER_NAME: &str = "sandbox-user@example.com";

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/2.0/preview/scim/v2/Me", get(me))
}

async fn me() -> axum::Json<Value> {
    axum::Json(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "1000000000000001",
        "userName": USER_NAME,
        "displayName": "Sandbox User",
        "active": true,
        "name": {"givenName": "Sandbox", "familyName": "User"},
        "emails": [{"value": USER_NAME, "type": "work", "primary": true}],
        "groups": [{"display": "admins", "value": "2000000000000001", "type": "direct"}],
        "entitlements": [{"value": "allow-cluster-create"}, {"value": "databricks-sql-access"}, {"value": "workspace-access"}],
    }))
}
