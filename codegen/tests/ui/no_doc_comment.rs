use databricks_mcp::{ToolContext, ToolResult, tool};

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Args {}

#[tool(toolset = "sql", read_only)]
pub async fn list_warehouses_quietly(_ctx: ToolContext, _args: Args) -> ToolResult {
    Err(databricks_mcp::ToolError::failed("unused"))
}

fn main() {}
