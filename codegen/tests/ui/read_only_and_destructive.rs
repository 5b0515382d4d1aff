use databricks_mcp::{ToolContext, ToolResult, tool};

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Args {}

/// Delete everything, read-only.
#[tool(toolset = "workspace", read_only, destructive)]
pub async fn delete_all(_ctx: ToolContext, _args: Args) -> ToolResult {
    Err(databricks_mcp::ToolError::failed("unused"))
}

fn main() {}
