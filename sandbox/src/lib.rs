//! A local Databricks workspace for tests and for trying `databricks-mcp` without an account.
//!
//! The HTTP emulation lands with issue 3; this crate reserves its place in the workspace.
#![forbid(unsafe_code)]
