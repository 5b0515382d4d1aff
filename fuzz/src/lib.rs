//! The bodies of the fuzz targets in `fuzz_targets/`, each a thin `fuzz_target!` over
//! one function here. Both end in the same check: a tool's `check_args` (the argument
//! decoding a `tools/call` starts with) returns `Ok` or an `Err` with a message, and
//! never panics.
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use databricks_mcp::registry::{self, ToolDef};
use databricks_mcp::stdio::{self, Decoded};
use rmcp::model::{ClientRequest, JsonObject, JsonRpcMessage};
use serde_json::Value;

/// Every tool, sorted by name, so that a selector picks the same tool each run.
static TOOLS: LazyLock<Vec<&'static ToolDef>> = LazyLock::new(registry::all);

/// `jsonrpc_message`: decode the bytes as one line from the client, exactly as the
/// server's stdio transport does ([`stdio::decode`]). An error answer must be a
/// JSON-RPC 2.0 error with a known code, a message, and either `id: null` or the
/// request's own id; a `tools/call` for a tool that exists also has its arguments
/// checked as the server would (missing `arguments` is an empty object).
pub fn jsonrpc_message(line: &[u8]) {
    match stdio::decode(line) {
        Decoded::Skip => {}
        Decoded::Answer(answer) => check_answer(line, &answer),
        Decoded::Message(message) => {
            if let JsonRpcMessage::Request(request) = *message
                && let ClientRequest::CallToolRequest(call) = request.request
                && let Some(tool) = registry::find(&call.params.name)
            {
                check(tool, call.params.arguments.unwrap_or_default());
            }
        }
    }
}

fn check_answer(line: &[u8], answer: &Value) {
    assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
    let code = answer["error"]["code"].as_i64().unwrap_or_default();
    assert!([-32700, -32600, -32602].contains(&code), "unexpected code: {answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {answer}");
    if !answer["id"].is_null() {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let sent = serde_json::from_slice::<Value>(line.trim_ascii_end()).ok().and_then(|v| v.get("id").cloned());
        assert_eq!(sent.as_ref(), Some(&answer["id"]), "an answer with another id: {answer}");
    }
}

/// `tool_arguments`: `<selector>\n<arguments>`. The selector is a tool's name, so that a
/// committed input keeps its tool when tools are added; any other selector picks
/// the tool at (sum of its bytes) modulo the number of tools, so that a mutated
/// name still exercises some tool. The arguments must be a JSON object; anything
/// else is skipped.
pub fn tool_arguments(data: &[u8]) {
    let Some(newline) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let (selector, json) = (&data[..newline], &data[newline + 1..]);
    let named = std::str::from_utf8(selector).ok().and_then(registry::find);
    let Some(tool) = named.or_else(|| {
        let sum = selector.iter().map(|&b| usize::from(b)).sum::<usize>();
        TOOLS.get(sum % TOOLS.len().max(1)).copied()
    }) else {
        return;
    };
    let Ok(arguments) = serde_json::from_slice::<JsonObject>(json) else {
        return;
    };
    check(tool, arguments);
}

/// The property both targets check: decoding never panics (libFuzzer reports a panic
/// as a crash), and a refusal says why.
fn check(tool: &ToolDef, arguments: JsonObject) {
    if let Err(error) = (tool.check_args)(arguments) {
        assert!(!error.to_string().is_empty(), "{}: check_args failed with an empty message", tool.name);
    }
}
