//! The compute and command-execution tools against an in-process sandbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use databricks_client::{Client, Config};
use databricks_mcp::{DatabricksMcp, Settings, ToolContext, Toolset};
use databricks_sandbox::admin::{Fault, FaultKind};
use databricks_sandbox::{Sandbox, SandboxOptions};
use rmcp::ErrorData;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Env {
    sandbox: Sandbox,
    client: Client,
    server: DatabricksMcp,
}

async fn env_with(seed: bool, transition_delay: Duration) -> Env {
    let options = SandboxOptions { transition_delay, tpch_scale: 0.001, seed, ..Default::default() };
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), options).await.expect("sandbox starts");
    let client = Client::from_config(Config::new().with_host(sandbox.url()).with_token("t")).expect("client");
    let server = DatabricksMcp::new(
        client.clone(),
        Settings {
            toolsets: Toolset::ALL.into_iter().collect(),
            poll_unit: Some(Duration::from_millis(10)),
            ..Default::default()
        },
    );
    Env { sandbox, client, server }
}

async fn env() -> Env {
    env_with(true, Duration::ZERO).await
}

impl Env {
    fn ctx(&self) -> ToolContext {
        ToolContext::standalone(self.client.clone(), Arc::new(self.server.settings().clone()))
    }

    async fn call(&self, tool: &str, args: Value) -> Result<CallToolResult, ErrorData> {
        self.call_in(tool, args, self.ctx()).await
    }

    async fn call_in(&self, tool: &str, args: Value, ctx: ToolContext) -> Result<CallToolResult, ErrorData> {
        self.server.run(tool, args.as_object().expect("object").clone(), ctx).await
    }

    /// A successful call: returns (text, structured content).
    async fn ok(&self, tool: &str, args: Value) -> (String, Value) {
        let result = self.call(tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        let text = text(&result);
        assert_ne!(result.is_error, Some(true), "{tool} {args} failed: {text}");
        (text, result.structured_content.unwrap_or(Value::Null))
    }

    /// A call that ran and reported an error: returns its text.
    async fn tool_error(&self, tool: &str, args: Value) -> String {
        let result = self.call(tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        let text = text(&result);
        assert_eq!(result.is_error, Some(true), "{tool} {args} should fail: {text}");
        text
    }

    /// A call refused as invalid params: returns the message.
    async fn invalid(&self, tool: &str, args: Value) -> String {
        match self.call(tool, args.clone()).await {
            Err(e) => {
                assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{tool} {args}: {e:?}");
                e.message.to_string()
            }
            Ok(r) => panic!("{tool} {args} should be refused, got {}", text(&r)),
        }
    }

    async fn seeded_cluster(&self) -> String {
        let (_, listed) = self.ok("list_clusters", json!({})).await;
        listed["clusters"][0]["cluster_id"].as_str().expect("a seeded cluster").to_string()
    }

    async fn state_of(&self, cluster_id: &str) -> String {
        let (_, details) = self.ok("get_cluster", json!({"cluster_id": cluster_id})).await;
        details["state"].as_str().unwrap_or_default().to_string()
    }

    /// How many requests of `method path` the sandbox has served.
    fn served(&self, method: &str, path: &str) -> usize {
        self.sandbox.state().admin.requests().iter().filter(|r| r.method == method && r.path == path).count()
    }

    /// Wait (up to 10 s) until the sandbox has served `count` requests of `method path`.
    async fn await_served(&self, method: &str, path: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.served(method, path) < count {
            assert!(Instant::now() < deadline, "{method} {path} was not called {count} time(s)");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn text(result: &CallToolResult) -> String {
    result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_reading_clusters() {
    let env = env().await;
    let (_, listed) = env.ok("list_clusters", json!({})).await;
    assert_eq!(listed["count"], 1);
    let cluster = &listed["clusters"][0];
    let id = cluster["cluster_id"].as_str().expect("id").to_string();
    assert_eq!(cluster["state"], "RUNNING");
    assert_eq!(cluster["cluster_name"], "sandbox-cluster");
    assert_eq!(cluster["num_workers"], 1);
    assert!(
        cluster["spark_version"].is_string() && cluster["node_type_id"].is_string() && cluster["creator"].is_string()
    );
    assert!(listed.get("next_page_token").is_none());

    let (_, none) = env.ok("list_clusters", json!({"states": ["TERMINATED", "PENDING"]})).await;
    assert_eq!(none["count"], 0);
    let (_, running) = env.ok("list_clusters", json!({"states": ["RUNNING"]})).await;
    assert_eq!(running["count"], 1);

    // Paging: a second cluster and a page size of one.
    let (_, created) = env
        .ok("create_cluster", json!({"cluster_name": "second", "spark_version": "15.4.x-scala2.12", "num_workers": 0}))
        .await;
    let second = created["cluster_id"].as_str().expect("created id").to_string();
    let (_, page1) = env.ok("list_clusters", json!({"limit": 1})).await;
    assert_eq!(page1["count"], 1);
    let token = page1["next_page_token"].as_str().expect("a next page").to_string();
    let (_, page2) = env.ok("list_clusters", json!({"limit": 1, "page_token": token})).await;
    assert_eq!(page2["count"], 1);
    let mut ids = vec![page1["clusters"][0]["cluster_id"].clone(), page2["clusters"][0]["cluster_id"].clone()];
    ids.sort_by_key(|v| v.to_string());
    let mut expected = vec![json!(id), json!(second)];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(ids, expected);

    let (text, details) = env.ok("get_cluster", json!({"cluster_id": id})).await;
    assert_eq!(details["cluster_id"], json!(id));
    assert_eq!(details["state"], "RUNNING");
    assert!(details["driver"].is_object(), "get_cluster returns the full object: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_node_types() {
    let env = env().await;
    let (_, all) = env.ok("list_spark_versions", json!({})).await;
    let count = all["count"].as_u64().expect("count");
    assert!(count >= 5, "{all}");
    assert!(all["versions"][0]["key"].is_string() && all["versions"][0]["name"].is_string());
    let (_, ml) = env.ok("list_spark_versions", json!({"contains": "ML"})).await;
    let ml_versions = ml["versions"].as_array().expect("versions");
    assert!(!ml_versions.is_empty() && (ml_versions.len() as u64) < count);
    assert!(ml_versions.iter().all(|v| v["name"].as_str().unwrap_or_default().contains("ML")
        || v["key"].as_str().unwrap_or_default().contains("ml")));

    let (text, nodes) = env.ok("list_node_types", json!({})).await;
    assert!(text.starts_with("| node_type_id | memory_mb | num_cores |"), "{text}");
    assert!(text.contains("| i3.xlarge | 31232 | 4 |"), "{text}");
    let first = &nodes["node_types"][0];
    for field in ["node_type_id", "memory_mb", "num_cores", "description"] {
        assert!(first.get(field).is_some(), "node type summary lacks {field}: {first}");
    }
    let (_, gpu) = env.ok("list_node_types", json!({"contains": "gpu"})).await;
    assert_eq!(gpu["count"], 1);
    assert_eq!(gpu["node_types"][0]["node_type_id"], "g4dn.xlarge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_lifecycle() {
    let env = env_with(false, Duration::ZERO).await;

    // Create and wait: typed fields, extra fields, and the auto-termination default.
    let (text, created) = env
        .ok(
            "create_cluster",
            json!({
                "cluster_name": "etl",
                "spark_version": "16.4.x-scala2.12",
                "node_type_id": "m5d.xlarge",
                "num_workers": 2,
                "spark_conf": {"spark.sql.shuffle.partitions": "8"},
                "custom_tags": {"team": "data"},
                "data_security_mode": "SINGLE_USER",
                "extra": {"driver_node_type_id": "m5d.large", "single_user_name": "someone@example.com", "spark_env_vars": {"A": "1"}},
                "wait": true,
                "timeout_seconds": 30
            }),
        )
        .await;
    assert!(text.contains("RUNNING"), "{text}");
    assert_eq!(created["state"], "RUNNING");
    let id = created["cluster_id"].as_str().expect("id").to_string();
    let (_, details) = env.ok("get_cluster", json!({"cluster_id": id})).await;
    assert_eq!(details["autotermination_minutes"], 60);
    assert_eq!(details["num_workers"], 2);
    assert_eq!(details["driver_node_type_id"], "m5d.large");
    assert_eq!(details["single_user_name"], "someone@example.com");
    assert_eq!(details["spark_env_vars"]["A"], "1");
    assert_eq!(details["spark_conf"]["spark.sql.shuffle.partitions"], "8");
    assert_eq!(details["custom_tags"]["team"], "data");
    assert_eq!(details["data_security_mode"], "SINGLE_USER");

    // Without wait: the id at once.
    let (text, quick) = env
        .ok(
            "create_cluster",
            json!({"cluster_name": "auto", "spark_version": "15.4.x-scala2.12", "autoscale": {"min_workers": 1, "max_workers": 4}, "autotermination_minutes": 30}),
        )
        .await;
    assert!(text.contains("get_cluster"), "{text}");
    let auto = quick["cluster_id"].as_str().expect("id").to_string();
    let (_, details) = env.ok("get_cluster", json!({"cluster_id": auto})).await;
    assert_eq!(details["autoscale"]["max_workers"], 4);
    assert_eq!(details["autotermination_minutes"], 30);

    // Resize: fixed size, then an autoscale range.
    let (text, resized) = env.ok("resize_cluster", json!({"cluster_id": id, "num_workers": 3, "wait": true})).await;
    assert!(text.contains("3 workers"), "{text}");
    assert_eq!(resized["state"], "RUNNING");
    assert_eq!(resized["num_workers"], 3);
    let (_, resized) = env
        .ok(
            "resize_cluster",
            json!({"cluster_id": id, "autoscale": {"min_workers": 2, "max_workers": 5}, "wait": true}),
        )
        .await;
    assert_eq!(resized["autoscale"]["min_workers"], 2);
    assert!(resized.get("num_workers").is_none(), "{resized}");

    // Restart needs confirmation.
    let refused = env.tool_error("restart_cluster", json!({"cluster_id": id})).await;
    assert!(refused.contains("\"confirm\": true") && refused.contains(&id), "{refused}");
    assert!(refused.contains("Nothing was changed"), "{refused}");
    let (text, restarted) = env.ok("restart_cluster", json!({"cluster_id": id, "confirm": true, "wait": true})).await;
    assert!(text.contains("Restarting"), "{text}");
    assert_eq!(restarted["state"], "RUNNING");

    // Terminate needs confirmation; without it nothing changes.
    let refused = env.tool_error("terminate_cluster", json!({"cluster_id": id, "wait": true})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    assert_eq!(env.state_of(&id).await, "RUNNING");
    let (_, terminated) = env.ok("terminate_cluster", json!({"cluster_id": id, "confirm": true, "wait": true})).await;
    assert_eq!(terminated["state"], "TERMINATED");
    // Again: nothing to do, not an error.
    env.ok("terminate_cluster", json!({"cluster_id": id, "confirm": true})).await;

    // Start it again, then once more (already running).
    let (_, started) = env.ok("start_cluster", json!({"cluster_id": id, "wait": true})).await;
    assert_eq!(started["state"], "RUNNING");
    let (text, _) = env.ok("start_cluster", json!({"cluster_id": id})).await;
    assert!(text.contains("Nothing to do"), "{text}");

    // Events: everything above, newest first, with paging and a type filter.
    let (_, events) = env.ok("list_cluster_events", json!({"cluster_id": id})).await;
    let types: Vec<&str> =
        events["events"].as_array().expect("events").iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in ["CREATING", "RUNNING", "RESIZING", "RESTARTING", "TERMINATING", "STARTING"] {
        assert!(types.contains(&kind), "no {kind} event in {types:?}");
    }
    assert_eq!(types.first(), Some(&"RUNNING"), "newest first: {types:?}");
    let first = &events["events"][0];
    assert!(first["time"].as_str().is_some_and(|t| t.ends_with('Z')) && first["timestamp"].is_i64(), "{first}");
    let (_, asc) = env.ok("list_cluster_events", json!({"cluster_id": id, "order": "ASC"})).await;
    assert_eq!(asc["events"][0]["type"], "CREATING");

    let (_, resizes) = env.ok("list_cluster_events", json!({"cluster_id": id, "event_types": ["RESIZING"]})).await;
    let resizes = resizes["events"].as_array().expect("events");
    assert_eq!(resizes.len(), 2);
    assert!(resizes.iter().all(|e| e["type"] == "RESIZING"));
    assert!(resizes[0]["details"]["target_num_workers"].is_number(), "{resizes:?}");

    let total = types.len();
    let (_, page1) = env.ok("list_cluster_events", json!({"cluster_id": id, "page_size": 3})).await;
    assert_eq!(page1["count"], 3);
    let token = page1["next_page_token"].as_str().expect("more events").to_string();
    let (_, page2) =
        env.ok("list_cluster_events", json!({"cluster_id": id, "page_size": 3, "page_token": token})).await;
    assert_eq!(page2["events"][0], events["events"][3], "page 2 continues page 1");
    assert!(total > 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_refusals() {
    let env = env().await;

    // Databricks errors become error results with the code.
    let text = env.tool_error("get_cluster", json!({"cluster_id": "0000-000000-nothere"})).await;
    assert!(text.contains("INVALID_PARAMETER_VALUE") && text.contains("does not exist"), "{text}");
    assert!(text.contains("HTTP 400"), "{text}");
    let text = env.tool_error("list_cluster_events", json!({"cluster_id": "0000-000000-nothere"})).await;
    assert!(text.contains("does not exist"), "{text}");
    let text = env
        .tool_error("create_cluster", json!({"cluster_name": "x", "spark_version": "not-a-version", "num_workers": 1}))
        .await;
    assert!(text.contains("INVALID_PARAMETER_VALUE") && text.contains("spark version"), "{text}");
    let text = env.tool_error("terminate_cluster", json!({"cluster_id": "0000-000000-nothere", "confirm": true})).await;
    assert!(text.contains("does not exist"), "{text}");

    // Wrong argument types and unknown arguments name the field.
    let message = env.invalid("get_cluster", json!({"cluster_id": 5})).await;
    assert!(message.contains("cluster_id"), "{message}");
    let message = env.invalid("get_cluster", json!({})).await;
    assert!(message.contains("cluster_id"), "{message}");
    let message = env
        .invalid(
            "create_cluster",
            json!({"cluster_name": "x", "spark_version": "15.4.x-scala2.12", "num_workers": "two"}),
        )
        .await;
    assert!(message.contains("num_workers"), "{message}");
    let message = env.invalid("list_clusters", json!({"states": ["SLEEPING"]})).await;
    assert!(message.contains("states"), "{message}");
    let message = env.invalid("list_clusters", json!({"state": ["RUNNING"]})).await;
    assert!(message.contains("state"), "{message}");
    let message = env.invalid("restart_cluster", json!({"cluster_id": "x", "confirm": "yes"})).await;
    assert!(message.contains("confirm"), "{message}");

    // Checks beyond the types.
    let base = json!({"cluster_name": "x", "spark_version": "15.4.x-scala2.12"});
    let with = |extra: Value| {
        let mut args = base.clone();
        for (k, v) in extra.as_object().expect("object") {
            args[k] = v.clone();
        }
        args
    };
    let message = env.invalid("create_cluster", base.clone()).await;
    assert!(message.contains("num_workers") && message.contains("autoscale"), "{message}");
    let message = env
        .invalid("create_cluster", with(json!({"num_workers": 1, "autoscale": {"min_workers": 1, "max_workers": 2}})))
        .await;
    assert!(message.contains("not both"), "{message}");
    let message = env.invalid("create_cluster", with(json!({"num_workers": 1, "extra": {"bogus_field": 1}}))).await;
    assert!(message.contains("extra.bogus_field"), "{message}");
    let message = env.invalid("create_cluster", with(json!({"num_workers": 1, "extra": {"cluster_name": "y"}}))).await;
    assert!(message.contains("extra.cluster_name"), "{message}");
    let message =
        env.invalid("create_cluster", with(json!({"num_workers": 1, "extra": {"enable_elastic_disk": "yes"}}))).await;
    assert!(message.contains("extra.enable_elastic_disk"), "{message}");
    let message = env.invalid("create_cluster", with(json!({"autoscale": {"min_workers": 3, "max_workers": 1}}))).await;
    assert!(message.contains("autoscale"), "{message}");
    let message = env.invalid("resize_cluster", json!({"cluster_id": "x"})).await;
    assert!(message.contains("num_workers"), "{message}");
    let message = env.invalid("list_cluster_events", json!({"cluster_id": "x", "page_token": "offset:zz"})).await;
    assert!(message.contains("page_token"), "{message}");

    // A cluster that is not running cannot be resized or restarted: the API says why.
    let id = env.seeded_cluster().await;
    env.ok("terminate_cluster", json!({"cluster_id": id, "confirm": true, "wait": true})).await;
    let text = env.tool_error("resize_cluster", json!({"cluster_id": id, "num_workers": 2})).await;
    assert!(text.contains("INVALID_STATE"), "{text}");
    let text = env.tool_error("restart_cluster", json!({"cluster_id": id, "confirm": true})).await;
    assert!(text.contains("INVALID_STATE"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_that_run_out_return_the_id_to_poll() {
    // Transitions take a minute here, so every wait runs out.
    let env = env_with(true, Duration::from_secs(60)).await;
    let started = Instant::now();
    let (text, created) = env
        .ok(
            "create_cluster",
            json!({"cluster_name": "slow", "spark_version": "15.4.x-scala2.12", "num_workers": 1, "wait": true, "timeout_seconds": 1}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(created["timed_out"], true);
    assert_eq!(created["state"], "PENDING");
    let id = created["cluster_id"].as_str().expect("id").to_string();
    assert!(text.contains(&id) && text.contains("get_cluster") && text.contains("do not repeat"), "{text}");
    // It was not torn down: it keeps starting.
    assert_eq!(env.state_of(&id).await, "PENDING");

    // Contexts on the seeded (running) cluster take a minute to be ready.
    let cluster = env.seeded_cluster().await;
    let cluster = if cluster == id {
        let (_, listed) = env.ok("list_clusters", json!({"states": ["RUNNING"]})).await;
        listed["clusters"][0]["cluster_id"].as_str().expect("running").to_string()
    } else {
        cluster
    };
    let (text, context) = env
        .ok("create_execution_context", json!({"cluster_id": cluster, "language": "sql", "timeout_seconds": 1}))
        .await;
    assert_eq!(context["status"], "Pending");
    assert!(text.contains("get_context_status"), "{text}");
    let context_id = context["context_id"].as_str().expect("context id").to_string();
    let (text, status) = env.ok("get_context_status", json!({"cluster_id": cluster, "context_id": context_id})).await;
    assert_eq!(status["status"], "Pending", "{text}");

    // The one-call tool gives up but leaves nothing behind.
    let destroyed = env.served("POST", "/api/1.2/contexts/destroy");
    let text = env
        .tool_error(
            "execute_command_simple",
            json!({"cluster_id": cluster, "language": "sql", "command": "SELECT 1", "timeout_seconds": 1}),
        )
        .await;
    assert!(text.contains("timeout_seconds") && text.contains("destroyed"), "{text}");
    assert_eq!(env.served("POST", "/api/1.2/contexts/destroy"), destroyed + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_execution_round_trip() {
    let env = env().await;
    let cluster = env.seeded_cluster().await;
    // The configured default cluster stands in for a missing cluster_id.
    let settings = Settings { default_cluster_id: Some(cluster.clone()), ..env.server.settings().clone() };
    let ctx = || ToolContext::standalone(env.client.clone(), Arc::new(settings.clone()));
    let call = |tool: &'static str, args: Value| {
        let ctx = ctx();
        let env = &env;
        async move {
            let result = env.call_in(tool, args.clone(), ctx).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
            (result.is_error == Some(true), text(&result), result.structured_content.unwrap_or(Value::Null))
        }
    };

    let (failed, text, created) = call("create_execution_context", json!({"language": "sql"})).await;
    assert!(!failed, "{text}");
    assert_eq!(created["status"], "Running");
    assert_eq!(created["cluster_id"], json!(cluster));
    let context_id = created["context_id"].as_str().expect("context id").to_string();

    let (_, text, status) = call("get_context_status", json!({"context_id": context_id})).await;
    assert_eq!(status["status"], "Running", "{text}");

    // A table result becomes a Markdown table.
    let (failed, text, out) = call(
        "execute_command",
        json!({"context_id": context_id, "language": "sql", "command": "SELECT 1 AS one, 'a|b' AS letter"}),
    )
    .await;
    assert!(!failed, "{text}");
    assert!(text.starts_with("| one | letter |\n|---|---|\n| 1 | a\\|b |"), "{text}");
    assert_eq!(out["result_type"], "table");
    assert_eq!(out["columns"], json!(["one", "letter"]));
    assert_eq!(out["rows"], json!([[1, "a|b"]]));

    // The row budget.
    let (_, text, out) = call(
        "execute_command",
        json!({"context_id": context_id, "language": "sql", "command": "SELECT n_nationkey, n_name FROM samples.tpch.nation ORDER BY n_nationkey", "max_rows": 5}),
    )
    .await;
    assert!(text.contains("5 of 25 rows shown") && text.contains("max_rows"), "{text}");
    assert_eq!(out["rows_shown"], 5);
    assert_eq!(out["row_count"], 25);
    assert_eq!(text.lines().filter(|l| l.starts_with("| ")).count(), 6, "header and five rows: {text}");

    // A failing command is an error result with the summary.
    let (failed, text, _) = call(
        "execute_command",
        json!({"context_id": context_id, "language": "sql", "command": "SELECT * FROM no_such_table_anywhere"}),
    )
    .await;
    assert!(failed, "{text}");
    assert!(text.contains("failed") && text.contains("no_such_table_anywhere"), "{text}");
    let (failed, text, _) =
        call("execute_command", json!({"context_id": context_id, "language": "python", "command": "print(1)"})).await;
    assert!(failed && text.contains("SQL only"), "{text}");

    // Submit without waiting, then poll.
    let (_, text, submitted) = call(
        "execute_command",
        json!({"context_id": context_id, "language": "sql", "command": "SELECT 42 AS answer", "wait": false}),
    )
    .await;
    assert!(text.contains("get_command_status"), "{text}");
    let command_id = submitted["command_id"].as_str().expect("command id").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (failed, text, status) =
            call("get_command_status", json!({"context_id": context_id, "command_id": command_id})).await;
        assert!(!failed, "{text}");
        if status["status"] == "Finished" {
            break text;
        }
        assert!(Instant::now() < deadline, "command never finished: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(text.contains("| answer |") && text.contains("| 42 |"), "{text}");

    // Cancelling needs confirmation; on a finished command it changes nothing.
    let cancel = json!({"context_id": context_id, "command_id": command_id});
    let (failed, text, _) = call("cancel_command", cancel.clone()).await;
    assert!(failed && text.contains("Confirmation required"), "{text}");
    let mut confirmed = cancel.clone();
    confirmed["confirm"] = json!(true);
    let (failed, text, status) = call("cancel_command", confirmed).await;
    assert!(!failed, "{text}");
    assert_eq!(status["status"], "Finished");
    assert!(text.contains("nothing was cancelled"), "{text}");
    let (failed, text, _) =
        call("cancel_command", json!({"context_id": context_id, "command_id": "nope", "confirm": true})).await;
    assert!(failed && text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");

    // Destroying needs confirmation too; afterwards the context is gone.
    let (failed, text, _) = call("destroy_execution_context", json!({"context_id": context_id})).await;
    assert!(failed && text.contains("Confirmation required"), "{text}");
    let (_, text, status) = call("get_context_status", json!({"context_id": context_id})).await;
    assert_eq!(status["status"], "Running", "not destroyed without confirm: {text}");
    let (failed, text, _) = call("destroy_execution_context", json!({"context_id": context_id, "confirm": true})).await;
    assert!(!failed && text.contains("Destroyed"), "{text}");
    let (failed, text, _) = call("get_context_status", json!({"context_id": context_id})).await;
    assert!(failed && text.contains("RESOURCE_DOES_NOT_EXIST") && text.contains("HTTP 404"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_command_simple_always_destroys_its_context() {
    let env = env().await;
    let cluster = env.seeded_cluster().await;
    let destroys = || env.served("POST", "/api/1.2/contexts/destroy");

    let (text, out) = env
        .ok(
            "execute_command_simple",
            json!({"cluster_id": cluster, "language": "sql", "command": "SELECT r_name FROM samples.tpch.region ORDER BY r_name"}),
        )
        .await;
    assert!(text.starts_with("| r_name |"), "{text}");
    assert!(text.contains("| AFRICA |") && text.contains("5 of 5 rows shown"), "{text}");
    assert_eq!(out["context_destroyed"], true);
    assert_eq!(destroys(), 1);
    assert_eq!(env.served("POST", "/api/1.2/contexts/create"), 1);

    // A failing command: error result, and the context is still destroyed.
    let text = env
        .tool_error("execute_command_simple", json!({"cluster_id": cluster, "language": "python", "command": "1/0"}))
        .await;
    assert!(text.contains("SQL only"), "{text}");
    assert_eq!(destroys(), 2);

    // A cluster that is not running: a hint to start it, and no context was made.
    env.ok("terminate_cluster", json!({"cluster_id": cluster, "confirm": true, "wait": true})).await;
    let text = env
        .tool_error("execute_command_simple", json!({"cluster_id": cluster, "language": "sql", "command": "SELECT 1"}))
        .await;
    assert!(text.contains("INVALID_STATE") && text.contains("start_cluster"), "{text}");
    let text = env.tool_error("create_execution_context", json!({"cluster_id": cluster, "language": "sql"})).await;
    assert!(text.contains("start_cluster"), "{text}");
    assert_eq!(destroys(), 2);

    // No cluster given and none configured.
    let message = env.invalid("execute_command_simple", json!({"command": "SELECT 1"})).await;
    assert!(message.contains("cluster_id"), "{message}");
    let message = env.invalid("execute_command", json!({"cluster_id": cluster, "context_id": "1", "command": 7})).await;
    assert!(message.contains("command"), "{message}");
    let message = env.invalid("create_execution_context", json!({"cluster_id": cluster, "language": "cobol"})).await;
    assert!(message.contains("language"), "{message}");
}

/// Slow every command-status poll down so that a command wait is still going when
/// the client cancels.
fn slow_command_status(env: &Env) {
    env.sandbox.state().admin.add_fault(Fault {
        method: Some("GET".into()),
        path: "/api/1.2/commands/status".into(),
        times: 1000,
        skip: 0,
        kind: FaultKind::Delay { delay_ms: 2_000 },
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_cleans_up_what_the_tool_started() {
    let env = env().await;
    let cluster = env.seeded_cluster().await;

    // execute_command_simple: the command is cancelled and the context destroyed.
    slow_command_status(&env);
    let token = CancellationToken::new();
    let ctx = ToolContext::new(env.client.clone(), Arc::new(env.server.settings().clone()), token.clone(), None, None);
    let args = json!({"cluster_id": cluster, "language": "sql", "command": "SELECT 1"});
    let call = env.call_in("execute_command_simple", args, ctx);
    let cancel = async {
        env.await_served("POST", "/api/1.2/commands/execute", 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    };
    let (result, ()) = tokio::join!(call, cancel);
    let result = result.expect("a tool result");
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result).contains("cancelled"), "{}", text(&result));
    env.await_served("POST", "/api/1.2/commands/cancel", 1).await;
    env.await_served("POST", "/api/1.2/contexts/destroy", 1).await;

    // execute_command: the command is cancelled, the context (not the tool's) is kept.
    let (_, context) = env.ok("create_execution_context", json!({"cluster_id": cluster, "language": "sql"})).await;
    let context_id = context["context_id"].as_str().expect("context id").to_string();
    let token = CancellationToken::new();
    let ctx = ToolContext::new(env.client.clone(), Arc::new(env.server.settings().clone()), token.clone(), None, None);
    let args = json!({"cluster_id": cluster, "context_id": context_id, "language": "sql", "command": "SELECT 2"});
    let call = env.call_in("execute_command", args, ctx);
    let cancel = async {
        env.await_served("POST", "/api/1.2/commands/execute", 2).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    };
    let (result, ()) = tokio::join!(call, cancel);
    assert_eq!(result.expect("a tool result").is_error, Some(true));
    env.await_served("POST", "/api/1.2/commands/cancel", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.served("POST", "/api/1.2/contexts/destroy"), 1, "execute_command keeps the caller's context");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_create_cluster_terminates_the_new_cluster() {
    let env = env_with(false, Duration::from_secs(60)).await;
    let token = CancellationToken::new();
    let ctx = ToolContext::new(env.client.clone(), Arc::new(env.server.settings().clone()), token.clone(), None, None);
    let args = json!({"cluster_name": "doomed", "spark_version": "15.4.x-scala2.12", "num_workers": 1, "wait": true});
    let call = env.call_in("create_cluster", args, ctx);
    let cancel = async {
        env.await_served("POST", "/api/2.1/clusters/create", 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    };
    let (result, ()) = tokio::join!(call, cancel);
    assert_eq!(result.expect("a tool result").is_error, Some(true));
    env.await_served("POST", "/api/2.1/clusters/delete", 1).await;
    let (_, listed) = env.ok("list_clusters", json!({})).await;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["clusters"][0]["state"], "TERMINATING");
}
