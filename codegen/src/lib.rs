//! Procedural macros for `databricks-mcp`: each tool is one annotated async function.
//!
//! The `#[tool]` attribute lands with the MCP server (issue 4); until then this crate
//! only reserves its place in the workspace.
#![forbid(unsafe_code)]
