//! A tool defined outside the server crate, under `deny(missing_docs)`: the
//! expansion adds nothing undocumented and registers the tool.
#![deny(missing_docs)]

use databricks_mcp::{ToolContext, ToolOutput, ToolResult, tool};

/// Arguments of `echo_name`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// A name to repeat.
    pub name: String,
}

/// Repeat a name back.
#[tool(toolset = "identity", read_only, name = "echo_name")]
pub async fn echo(_ctx: ToolContext, args: EchoArgs) -> ToolResult {
    Ok(ToolOutput::text(args.name))
}

fn main() {
    let def = databricks_mcp::registry::find("echo_name").expect("registered");
    assert!(def.read_only);
    assert_eq!(def.description, "Repeat a name back.");
    let schema = (def.input_schema)();
    assert_eq!(schema["properties"]["name"]["description"], "A name to repeat.");
}
