//! The MCP server: lists the enabled tools and runs them.

use std::sync::Arc;

use databricks_client::Client;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use crate::context::ToolContext;
use crate::output::{ToolError, describe_databricks_error};
use crate::registry;
use crate::settings::Settings;

const INSTRUCTIONS: &str = "Tools to operate a Databricks workspace: clusters, jobs and runs, notebooks and \
workspace files, DBFS, SQL warehouses and statements, Unity Catalog, and command execution on clusters. \
List tools return summaries with page tokens; get tools return full objects. Long-running tools wait up to a \
deadline you can set and, when it runs out, return the operation's id and state so you can poll instead of \
starting it again. Destructive tools ask for confirmation or need \"confirm\": true.";

/// The databricks-mcp server.
#[derive(Clone)]
pub struct DatabricksMcp {
    client: Client,
    settings: Arc<Settings>,
}

impl DatabricksMcp {
    pub fn new(client: Client, settings: Settings) -> Self {
        Self { client, settings: Arc::new(settings) }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The tools this server lists, sorted by name.
    pub fn tools(&self) -> Vec<Tool> {
        registry::all().into_iter().filter(|t| self.settings.allows(t)).map(registry::ToolDef::to_tool).collect()
    }

    /// Run one tool with a context; shared by the MCP handler and the `call` subcommand.
    pub async fn run(
        &self,
        name: &str,
        arguments: rmcp::model::JsonObject,
        ctx: ToolContext,
    ) -> Result<CallToolResult, McpError> {
        let Some(def) = registry::find(name) else {
            return Err(McpError::invalid_params(format!("unknown tool `{name}`"), None));
        };
        if !self.settings.allows(def) {
            return Err(McpError::invalid_params(self.settings.refusal(def), None));
        }
        tracing::debug!(tool = name, "calling");
        // The tool runs as its own task: when the client cancels, the caller gets an
        // answer at once while the tool, which sees `ctx.cancel` fire, finishes its
        // clean-up (cancelling the statement, command or run it started).
        let cancel = ctx.cancel.clone();
        let mut task = tokio::spawn((def.call)(ctx, arguments));
        let outcome = tokio::select! {
            joined = &mut task => joined.unwrap_or_else(|e| Err(ToolError::failed(format!("`{name}` failed unexpectedly: {e}")))),
            _ = cancel.cancelled() => Err(ToolError::failed(format!("`{name}` was cancelled by the client"))),
        };
        match outcome {
            Ok(output) => Ok(output.into_result()),
            Err(ToolError::InvalidArguments(message)) => Err(McpError::invalid_params(message, None)),
            Err(ToolError::Databricks(e)) => {
                Ok(CallToolResult::error(vec![ContentBlock::text(describe_databricks_error(&e))]))
            }
            Err(ToolError::Failed(message)) => Ok(CallToolResult::error(vec![ContentBlock::text(message)])),
        }
    }
}

impl ServerHandler for DatabricksMcp {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("databricks-mcp", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(INSTRUCTIONS.into());
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult { tools: self.tools(), ..Default::default() })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        registry::find(name).filter(|t| self.settings.allows(t)).map(registry::ToolDef::to_tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let progress = context.meta.get_progress_token();
        let ctx = ToolContext::new(
            self.client.clone(),
            self.settings.clone(),
            context.ct.clone(),
            Some(context.peer.clone()),
            progress,
        );
        let arguments = request.arguments.unwrap_or_default();
        self.run(&request.name, arguments, ctx).await.map(CallToolResponse::from)
    }
}
