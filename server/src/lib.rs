//! `databricks-mcp`: a Model Context Protocol server for Databricks.
//!
//! Each tool is one async function under `tools/` with one `#[tool]` annotation
//! (from `databricks-mcp-codegen`) that says everything about it: its toolset, its
//! read-only decision, the spec operations it calls. The annotation registers the
//! tool; [`registry::all`] lists them.
#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::dbg_macro, clippy::todo)]

// Lets `#[tool]` expansions name this crate as `::databricks_mcp` from inside it.
extern crate self as databricks_mcp;

pub mod context;
pub mod output;
pub mod registry;
pub mod schema;
pub mod server;
pub mod settings;
pub mod stdio;
pub mod tools;

pub use context::ToolContext;
pub use databricks_mcp_codegen::tool;
pub use output::{ToolError, ToolOutput};
pub use registry::{ToolDef, Toolset};
pub use server::DatabricksMcp;
pub use settings::Settings;

#[doc(hidden)]
pub use inventory;

/// What a tool returns.
pub type ToolResult = Result<ToolOutput, ToolError>;
