/// Terminate a cluster.
///
/// It can be started again.
async fn terminate(ctx: ToolContext, args: TerminateArgs) -> ToolResult {
    body(ctx, args).await
}
::databricks_mcp::inventory::submit! {
    ::databricks_mcp::registry::ToolDef { name : "terminate_cluster", title :
    ::core::option::Option::Some("Terminate a cluster"), description :
    "Terminate a cluster.\n\nIt can be started again.", toolset :
    ::databricks_mcp::registry::Toolset::Compute, read_only : false, destructive : true,
    idempotent : false, operations : & ["clusters_delete", "clusters_get"], input_schema
    : ::databricks_mcp::registry::input_schema:: < TerminateArgs >, check_args :
    ::databricks_mcp::registry::check_args:: < TerminateArgs >, call : | ctx, args |
    ::std::boxed::Box::pin(async move { let args =
    ::databricks_mcp::registry::parse_args:: < TerminateArgs > (args) ?; terminate(ctx,
    args). await }), }
}
