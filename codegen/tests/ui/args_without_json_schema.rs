use databricks_mcp::{ToolContext, ToolResult, tool};

#[derive(serde::Deserialize)]
pub struct Args {
    /// The cluster.
    pub cluster_id: String,
}

/// Get a cluster.
#[tool(toolset = "compute", read_only)]
pub async fn get_cluster(_ctx: ToolContext, _args: Args) -> ToolResult {
    Err(databricks_mcp::ToolError::failed("unused"))
}

fn main() {}
