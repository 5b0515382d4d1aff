//! Identity: who the credentials belong to.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::{ToolContext, ToolOutput, ToolResult, tool};

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Show the Databricks user (or service principal) the server's credentials belong
/// to: user name, display name, id, active flag and group memberships. Use it to check
/// which identity actions will run as.
#[tool(toolset = "identity", read_only, operation = "current_user_me")]
pub async fn get_current_user(ctx: ToolContext, _args: NoArgs) -> ToolResult {
    let me = ctx.client.current_user_me().send().await?.into_inner();
    let groups: Vec<&str> = me.groups.iter().filter_map(|g| g.display.as_deref()).collect();
    let summary = serde_json::json!({
        "user_name": me.user_name,
        "display_name": me.display_name,
        "id": me.id,
        "active": me.active,
        "groups": groups,
    });
    Ok(ToolOutput::json(summary))
}
