use databricks_mcp::{ToolContext, ToolResult, tool};

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Args {}

/// Get the current user.
#[tool(toolset = "identity", read_only)]
pub fn get_me(_ctx: ToolContext, _args: Args) -> ToolResult {
    Err(databricks_mcp::ToolError::failed("unused"))
}

fn main() {}
