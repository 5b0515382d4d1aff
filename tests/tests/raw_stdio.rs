//! The protocol channel under abuse, byte for byte: bad input gets JSON-RPC errors
//! and the process keeps serving; stdout carries nothing but JSON-RPC; and with a
//! distinctive token, no byte of stdout, stderr or any result contains it.

use std::process::Stdio;
use std::time::Duration;

use databricks_mcp_tests::server_binary;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// Send `lines` to a server started with `args` and `env`, then close stdin; return
/// every stdout line and the whole of stderr once the process exits.
async fn exchange(args: &[&str], env: &[(&str, &str)], lines: &[String]) -> (Vec<String>, String) {
    let mut command = tokio::process::Command::new(server_binary());
    command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let err_task = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut reader = BufReader::new(stdout).lines();
    let mut out = Vec::new();
    for line in lines {
        stdin.write_all(line.as_bytes()).await.expect("write");
        stdin.write_all(b"\n").await.expect("write");
        stdin.flush().await.expect("flush");
        // Requests with an id get exactly one answer; wait for it before the next line,
        // so later lines never race earlier ones.
        let wants_answer = serde_json::from_str::<Value>(line).ok().and_then(|v| v.get("id").cloned()).is_some()
            && serde_json::from_str::<Value>(line).is_ok_and(|v| v.get("method").is_some());
        if wants_answer {
            let next =
                tokio::time::timeout(Duration::from_secs(60), reader.next_line()).await.expect("answered in time");
            out.push(next.expect("read").expect("a line"));
        }
    }
    drop(stdin);
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(30), reader.next_line()).await {
        out.push(line);
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    let err = err_task.await.unwrap_or_default();
    (out, err)
}

fn call(id: u64, tool: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
        .to_string()
}

#[tokio::test]
async fn garbage_gets_errors_and_the_server_keeps_serving() {
    let lines = vec![
        INIT.to_string(),
        INITIALIZED.to_string(),
        "this is not json".to_string(),
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"no/such/method\"}".to_string(),
        "[1, 2, 3]".to_string(),
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{{\"name\":\"get_current_user\",\"arguments\":{{\"pad\":\"{}\"}}}}}}",
            "x".repeat(2_000_000)
        ),
        call(9, "get_cluster", json!({"cluster_id": ["not", "a", "string"]})),
        r#"{"id":11,"method":"tools/list"}"#.to_string(),
        r#"{"jsonrpc":"1.0","id":12,"method":"ping"}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":13}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":14,"method":"tools/call","params":"x"}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":15,"method":"tools/call"}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"arguments":{}}}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":{"object":"id"},"method":"ping"}"#.to_string(),
        "[]".to_string(),
        format!(r#"{{"jsonrpc":"2.0","id":17,"method":"ping","params":{{"pad":"{}"}}}}"#, "y".repeat(17 << 20)),
        r#"{"jsonrpc":"2.0","method":"notifications/no-such-thing","params":7}"#.to_string(),
        call(10, "get_current_user", json!({})),
    ];
    let (out, _err) = exchange(&["--sandbox"], &[("RUST_LOG", "warn")], &lines).await;
    let parsed: Vec<Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("stdout line is not JSON: {l}")))
        .collect();
    for v in &parsed {
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
    }
    let by_id =
        |id: u64| parsed.iter().find(|v| v["id"] == id).unwrap_or_else(|| panic!("no answer to {id}: {parsed:?}"));
    assert_eq!(by_id(7)["error"]["code"], -32601);
    assert!(by_id(8)["error"]["message"].as_str().is_some_and(|m| m.contains("pad")), "{}", by_id(8));
    assert!(by_id(9)["error"]["message"].as_str().is_some_and(|m| m.contains("cluster_id")), "{}", by_id(9));
    assert_eq!(by_id(10)["result"]["structuredContent"]["user_name"], "sandbox-user@example.com");
    for (id, code, says) in [
        (11, -32600, "jsonrpc"),
        (12, -32600, "\"2.0\""),
        (13, -32600, "method"),
        (14, -32602, "params"),
        (15, -32602, "params"),
        (16, -32602, "name"),
    ] {
        let answer = by_id(id);
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains(says)), "{answer}");
    }
    // Answers to lines without a usable id carry `id: null`, as JSON-RPC requires.
    let anonymous: Vec<&Value> = parsed.iter().filter(|v| v["id"].is_null()).collect();
    let codes: Vec<&Value> = anonymous.iter().map(|v| &v["error"]["code"]).collect();
    assert!(anonymous.iter().all(|v| v.as_object().is_some_and(|o| o.contains_key("id"))), "{anonymous:?}");
    assert_eq!(codes.iter().filter(|c| **c == -32700).count(), 1, "not JSON: {codes:?}");
    // `[1, 2, 3]`, the object id, `[]` and the 17 MiB line; the bad notification gets nothing.
    assert_eq!(codes.iter().filter(|c| **c == -32600).count(), 4, "{anonymous:?}");
    assert!(anonymous.iter().any(|v| v["error"]["message"].as_str().is_some_and(|m| m.contains("too large"))));
    assert!(by_id(8)["error"]["message"].as_str().is_some_and(|m| m.contains("pad")), "the 2 MB line is read");
}

#[tokio::test]
async fn a_distinctive_token_never_appears_anywhere() {
    const TOKEN: &str = "dapi-SECRET-7f3a9c1e5b-DO-NOT-LEAK";
    let sandbox_bin = server_binary().with_file_name(format!("databricks-sandbox{}", std::env::consts::EXE_SUFFIX));
    assert!(sandbox_bin.exists(), "{} is missing: run with `cargo test --workspace`", sandbox_bin.display());
    let mut sandbox = tokio::process::Command::new(&sandbox_bin)
        .args(["--listen", "127.0.0.1:0", "--transition-delay", "0", "--tpch-scale", "0.001", "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sandbox");
    let mut lines = BufReader::new(sandbox.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("url")
        .expect("read")
        .expect("line");

    let calls = vec![
        INIT.to_string(),
        INITIALIZED.to_string(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string(),
        call(3, "get_current_user", json!({})),
        call(4, "list_clusters", json!({})),
        call(5, "get_cluster", json!({"cluster_id": "0000-000000-missing"})),
        call(6, "execute_sql", json!({"statement": "SELECT 1 AS one"})),
        call(7, "execute_sql", json!({"statement": "SELECT * FROM nowhere.nothing.none"})),
        call(8, "list_catalogs", json!({})),
        call(9, "list_files", json!({"path": "/"})),
    ];
    let env = [("DATABRICKS_HOST", url.as_str()), ("DATABRICKS_TOKEN", TOKEN), ("RUST_LOG", "trace")];
    let (out, err) = exchange(&[], &env, &calls).await;
    assert!(out.len() >= 9, "answers: {out:?}\nstderr: {err}");
    assert!(out.iter().any(|l| l.contains("sandbox-user@example.com")), "the calls did not reach the sandbox: {out:?}");
    for line in &out {
        assert!(!line.contains(TOKEN), "the token leaked on stdout: {line}");
    }
    assert!(!err.contains(TOKEN), "the token leaked on stderr");
    assert!(!err.contains("SECRET-7f3a9c1e5b"), "part of the token leaked on stderr");

    // A wrong token: the error must not echo it either.
    let wrong = "dapi-WRONG-91b2-DO-NOT-LEAK";
    let env = [("DATABRICKS_HOST", url.as_str()), ("DATABRICKS_TOKEN", wrong), ("RUST_LOG", "trace")];
    let (out, err) =
        exchange(&[], &env, &[INIT.to_string(), INITIALIZED.to_string(), call(3, "get_current_user", json!({}))]).await;
    let answer = out.iter().find(|l| l.contains("\"id\":3")).expect("answered");
    assert!(answer.contains("401"), "{answer}");
    assert!(!answer.contains(wrong) && !err.contains(wrong), "the wrong token leaked");
}

/// A value of the wrong JSON type for a property's schema, or `None` when the
/// schema accepts any value.
fn wrong_value(schema: &Value) -> Option<Value> {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    if types.contains(&"string") {
        Some(json!({"not": "a string"}))
    } else if types.iter().any(|t| matches!(*t, "integer" | "number" | "boolean" | "array" | "object")) {
        Some(json!("not the right type"))
    } else {
        None
    }
}

#[tokio::test]
async fn arguments_of_the_wrong_type_are_invalid_params_naming_the_field_for_every_tool() {
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    let (out, _) =
        exchange(&["--sandbox", "--toolsets", "all"], &[], &[INIT.to_string(), INITIALIZED.to_string(), list]).await;
    let listing: Value =
        serde_json::from_str(out.iter().find(|l| l.contains("\"id\":2")).expect("tools/list")).expect("JSON");
    let tools = listing["result"]["tools"].as_array().expect("tools").clone();
    assert!(tools.len() > 50, "{} tools", tools.len());

    // Every property of every tool, sent alone with a value of the wrong type, and
    // every tool with a required argument, sent with none.
    let mut lines = vec![INIT.to_string(), INITIALIZED.to_string()];
    let mut expected: Vec<(u64, String, String)> = Vec::new();
    let mut id = 100;
    for tool in &tools {
        let name = tool["name"].as_str().expect("name");
        let schema = &tool["inputSchema"];
        for (property, property_schema) in schema["properties"].as_object().into_iter().flatten() {
            let Some(wrong) = wrong_value(property_schema) else { continue };
            id += 1;
            lines.push(call(id, name, json!({ property: wrong })));
            expected.push((id, name.to_string(), property.clone()));
        }
        if let Some(required) = schema["required"].as_array().and_then(|r| r.first()).and_then(Value::as_str) {
            id += 1;
            lines.push(call(id, name, json!({})));
            expected.push((id, name.to_string(), required.to_string()));
        }
    }
    lines.push(call(id + 1, "get_current_user", json!({})));
    let (out, err) = exchange(&["--sandbox", "--toolsets", "all"], &[("RUST_LOG", "warn")], &lines).await;
    let answers: Vec<Value> = out.iter().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let answer = |id: u64| answers.iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("no answer to {id}\n{err}"));
    assert!(expected.len() > 150, "{} bad calls", expected.len());
    for (id, tool, property) in &expected {
        let a = answer(*id);
        assert_eq!(a["error"]["code"], -32602, "{tool} with a bad `{property}`: {a}");
        let message = a["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(property.as_str()), "{tool}: the error names `{property}`: {message}");
    }
    assert_eq!(answer(id + 1)["result"]["structuredContent"]["user_name"], "sandbox-user@example.com");
}
