//! End-to-end tests: they spawn the real `databricks-mcp` binary and talk MCP to it
//! over real pipes, against its in-process sandbox. This package exists so that the
//! tests are compiled as part of the workspace.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;

/// The `databricks-mcp` binary cargo built next to this test executable.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let bin = dir.join(format!("databricks-mcp{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing: run these tests with `cargo test --workspace`", bin.display());
    bin
}

/// A running server over stdio, with the client side of the session.
pub type Session = RunningService<RoleClient, ()>;

/// Spawn `databricks-mcp --sandbox <args>` and initialize a session (MCP 2025-11-25 handshake).
pub async fn spawn(args: &[&str]) -> anyhow::Result<Session> {
    let mut command = tokio::process::Command::new(server_binary());
    command.arg("--sandbox").args(args).env("RUST_LOG", "warn");
    let transport = TokioChildProcess::new(command)?;
    Ok(().serve(transport).await?)
}

/// Spawn `databricks-mcp --sandbox` and open a stateless MCP 2026-07-28 session
/// (`server/discover`, no `initialize`).
pub async fn spawn_2026(args: &[&str]) -> anyhow::Result<Session> {
    use rmcp::model::ProtocolVersion;
    use rmcp::{ClientLifecycleMode, ClientServiceExt};
    let mut command = tokio::process::Command::new(server_binary());
    command.arg("--sandbox").args(args).env("RUST_LOG", "warn");
    let transport = TokioChildProcess::new(command)?;
    let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    Ok(().serve_with_lifecycle(transport, lifecycle).await?)
}

/// Call a tool with JSON arguments.
pub async fn call(session: &Session, tool: &str, arguments: serde_json::Value) -> Result<CallToolResult, ServiceError> {
    let arguments = match arguments {
        serde_json::Value::Object(map) => map,
        _ => Default::default(),
    };
    session.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments)).await
}

/// The text of a tool result's content blocks.
pub fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}
