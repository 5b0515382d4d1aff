//! The tools, one module per toolset. Each tool is an async function with a
//! `#[tool]` annotation; nothing else registers it.

pub mod command_execution;
pub mod compute;
pub mod dbfs;
pub mod identity;
pub mod jobs;
pub mod sql;
pub mod unity_catalog;
pub mod util;
pub mod workspace;
