use databricks_mcp::{ToolContext, ToolResult, tool};

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Args {}

/// List pipelines.
#[tool(toolset = "pipelines", read_only)]
pub async fn list_pipelines(_ctx: ToolContext, _args: Args) -> ToolResult {
    Err(databricks_mcp::ToolError::failed("unused"))
}

fn main() {}
