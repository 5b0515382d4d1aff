//! `databricks-mcp`: the MCP server binary. The server itself lands with issue 4.
#![forbid(unsafe_code)]

fn main() {}
