//! A tool (named, or picked by the selector bytes) and its arguments as a JSON object,
//! checked as a `tools/call` would. See `databricks_mcp_fuzz::tool_arguments`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| databricks_mcp_fuzz::tool_arguments(data));
