//! The real binary over real pipes: the handshake, the tool list, tool calls against
//! the sandbox, protocol errors for bad calls, and the safety switches.

use databricks_mcp_tests::{call, spawn, spawn_2026, text};
use serde_json::json;

#[tokio::test]
async fn a_session_lists_and_calls_tools() {
    let session = spawn(&[]).await.expect("session");
    let tools = session.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in ["list_clusters", "execute_sql", "get_current_user", "list_catalogs", "run_job"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(!names.contains(&"execute_command"), "command_execution is opt-in");
    for tool in &tools {
        let annotations = tool.annotations.as_ref().expect("annotations");
        assert!(annotations.read_only_hint.is_some(), "{} has no read-only hint", tool.name);
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
    }

    let me = call(&session, "get_current_user", json!({})).await.expect("called");
    assert_ne!(me.is_error, Some(true), "{}", text(&me));
    assert_eq!(
        me.structured_content.as_ref().and_then(|s| s.get("user_name")),
        Some(&json!("sandbox-user@example.com"))
    );

    let sql = call(&session, "execute_sql", json!({"statement": "SELECT count(*) AS n FROM samples.tpch.nation"}))
        .await
        .expect("called");
    assert_ne!(sql.is_error, Some(true), "{}", text(&sql));
    assert!(text(&sql).contains("25"), "{}", text(&sql));

    let clusters = call(&session, "list_clusters", json!({})).await.expect("called");
    assert_ne!(clusters.is_error, Some(true), "{}", text(&clusters));
    assert!(text(&clusters).contains("RUNNING"), "{}", text(&clusters));

    let failed = call(&session, "execute_sql", json!({"statement": "SELECT * FROM main.default.no_such_table"}))
        .await
        .expect("a failed statement is a tool result, not a protocol error");
    assert_eq!(failed.is_error, Some(true));
    assert!(text(&failed).to_lowercase().contains("no_such_table"), "{}", text(&failed));

    let missing = call(&session, "get_cluster", json!({"cluster_id": "0000-000000-nothere"})).await.expect("called");
    assert_eq!(missing.is_error, Some(true));
    assert!(text(&missing).contains("HTTP 400") || text(&missing).contains("HTTP 404"), "{}", text(&missing));
    session.close().await;
}

#[tokio::test]
async fn bad_calls_are_protocol_errors_and_the_server_keeps_serving() {
    let session = spawn(&[]).await.expect("session");
    let wrong_type = call(&session, "get_cluster", json!({"cluster_id": 42})).await.expect_err("invalid params");
    assert!(wrong_type.to_string().contains("cluster_id"), "{wrong_type}");
    let unknown = call(&session, "drop_everything", json!({})).await.expect_err("unknown tool");
    assert!(unknown.to_string().contains("drop_everything"), "{unknown}");
    let extra = call(&session, "get_current_user", json!({"surprise": true})).await.expect_err("unknown field");
    assert!(extra.to_string().contains("surprise"), "{extra}");
    let still = call(&session, "get_current_user", json!({})).await.expect("still serving");
    assert_ne!(still.is_error, Some(true));
    session.close().await;
}

#[tokio::test]
async fn read_only_mode_hides_and_refuses_writes() {
    let session = spawn(&["--read-only"]).await.expect("session");
    let tools = session.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)));
    assert!(!tools.iter().any(|t| t.name == "terminate_cluster"));
    let refused =
        call(&session, "terminate_cluster", json!({"cluster_id": "x", "confirm": true})).await.expect_err("refused");
    assert!(refused.to_string().contains("read-only"), "{refused}");
    session.close().await;
}

#[tokio::test]
async fn toolsets_and_tools_select_what_is_served() {
    let session = spawn(&["--toolsets", "sql", "--tools", "get_current_user"]).await.expect("session");
    let tools = session.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"execute_sql") && names.contains(&"get_current_user"), "{names:?}");
    assert!(!names.contains(&"list_clusters"), "{names:?}");
    session.close().await;
}

#[tokio::test]
async fn destructive_tools_need_confirmation() {
    let session = spawn(&[]).await.expect("session");
    let clusters = call(&session, "list_clusters", json!({})).await.expect("called");
    let listing = clusters.structured_content.clone().unwrap_or_default().to_string() + &text(&clusters);
    let id = listing
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.len() > 15 && w.matches('-').count() == 2)
        .expect("a cluster id in the listing")
        .to_string();
    let refused = call(&session, "terminate_cluster", json!({"cluster_id": id})).await.expect("called");
    assert_eq!(refused.is_error, Some(true));
    assert!(text(&refused).contains("confirm"), "{}", text(&refused));
    let done = call(&session, "terminate_cluster", json!({"cluster_id": id, "confirm": true})).await.expect("called");
    assert_ne!(done.is_error, Some(true), "{}", text(&done));
    session.close().await;
}

#[tokio::test]
async fn the_2026_07_28_stateless_protocol_works_too() {
    let session = spawn_2026(&[]).await.expect("discover session");
    let tools = session.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "execute_sql"));
    let me = call(&session, "get_current_user", json!({})).await.expect("called");
    assert_ne!(me.is_error, Some(true), "{}", text(&me));
    session.close().await;
}

/// The leak scan itself can fail: a tool result that echoes the token is caught.
#[tokio::test]
#[should_panic(expected = "the token leaked on the server's stdout")]
async fn the_leak_scan_catches_a_token_in_a_tool_result() {
    let session = spawn(&[]).await.expect("session");
    let echo = format!("SELECT '{}' AS echoed", databricks_mcp_tests::TOKEN);
    let result = call(&session, "execute_sql", json!({"statement": echo})).await.expect("called");
    assert_ne!(result.is_error, Some(true), "{}", text(&result));
    session.close().await;
}
