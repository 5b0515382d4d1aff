use databricks_mcp::{ToolContext, ToolResult, tool};

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Args {
    /// The cluster.
    pub cluster_id: String,
}

/// Restart a cluster.
#[tool(toolset = "compute", operation = "clusters_restart")]
pub async fn restart_cluster(_ctx: ToolContext, _args: Args) -> ToolResult {
    Err(databricks_mcp::ToolError::failed("unused"))
}

fn main() {}
