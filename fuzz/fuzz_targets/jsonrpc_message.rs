//! One JSON-RPC line from the client, decoded as the server's stdio transport decodes it; a
//! `tools/call` also has its arguments checked. See `databricks_mcp_fuzz::jsonrpc_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| databricks_mcp_fuzz::jsonrpc_message(data));
