/// Get one cluster.
pub async fn get_cluster(ctx: ToolContext, args: GetClusterArgs) -> ToolResult {
    todo_body(ctx, args).await
}
::databricks_mcp::inventory::submit! {
    ::databricks_mcp::registry::ToolDef { name : "get_cluster", title :
    ::core::option::Option::None, description : "Get one cluster.", toolset :
    ::databricks_mcp::registry::Toolset::Compute, read_only : true, destructive : false,
    idempotent : true, operations : & ["clusters_get"], input_schema :
    ::databricks_mcp::registry::input_schema:: < GetClusterArgs >, check_args :
    ::databricks_mcp::registry::check_args:: < GetClusterArgs >, call : | ctx, args |
    ::std::boxed::Box::pin(async move { let args =
    ::databricks_mcp::registry::parse_args:: < GetClusterArgs > (args) ?;
    get_cluster(ctx, args). await }), }
}
