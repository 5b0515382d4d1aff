//! Every tool the server lists, called at least once over real pipes against the
//! sandbox (`databricks-mcp --sandbox --toolsets all`), with realistic arguments and
//! ids taken from earlier results, and with assertions on what comes back. The
//! sandbox keeps its default transition delay, so the independent areas (a new
//! cluster, the seeded cluster with execution contexts and jobs, SQL with Unity
//! Catalog, DBFS) run side by side in one session. The last assertion compares the
//! tools called with the tools listed: a new tool without a call here fails the test.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use databricks_mcp_tests::{Session, call, spawn, text};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

const USER: &str = "sandbox-user@example.com";
const SEEDED_CLUSTER: &str = "sandbox-cluster";

/// The first version of the notebook the jobs run.
const NOTEBOOK_V1: &str = "-- Databricks notebook source\nSELECT 1 AS one\n";
/// The second version: a pause (0 ms unless a run asks for more), a widget parameter
/// and a computed value in its last cell.
const NOTEBOOK_V2: &str = "-- Databricks notebook source\n\
SELECT sandbox_sleep(${pause_ms}) AS paused\n\
\n-- COMMAND ----------\n\n\
SELECT '${greeting}' AS greeting, 40 + 2 AS answer\n";

/// One MCP session that remembers which tools were called, and which of them
/// answered successfully at least once.
struct Mcp {
    session: Session,
    called: Mutex<BTreeSet<String>>,
    answered: Mutex<BTreeSet<String>>,
}

impl Mcp {
    async fn raw(&self, tool: &str, args: &Value) -> CallToolResult {
        self.called.lock().expect("lock").insert(tool.to_string());
        call(&self.session, tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: protocol error {e}"))
    }

    /// A call that must succeed: its text and structured content.
    async fn ok(&self, tool: &str, args: Value) -> (String, Value) {
        let result = self.raw(tool, &args).await;
        let body = text(&result);
        assert_ne!(result.is_error, Some(true), "{tool} {args} failed: {body}");
        self.answered.lock().expect("lock").insert(tool.to_string());
        (body, result.structured_content.unwrap_or(Value::Null))
    }

    /// A call that must come back as an `isError` result: its text.
    async fn fails(&self, tool: &str, args: Value) -> String {
        let result = self.raw(tool, &args).await;
        let body = text(&result);
        assert_eq!(result.is_error, Some(true), "{tool} {args} should fail, got: {body}");
        body
    }
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_else(|| panic!("no string `{field}` in {value}"))
}

fn i64_of(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("no integer `{field}` in {value}"))
}

fn array_of<'a>(value: &'a Value, field: &str) -> &'a Vec<Value> {
    value[field].as_array().unwrap_or_else(|| panic!("no array `{field}` in {value}"))
}

/// The rows of an execute_sql result rendered with `"format": "json"`.
fn json_rows(body: &str) -> Value {
    let start = body.find("\n[").unwrap_or_else(|| panic!("no JSON rows in {body}")) + 1;
    let end = body.rfind(']').unwrap_or_else(|| panic!("unterminated JSON rows in {body}")) + 1;
    serde_json::from_str(&body[start..end]).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn every_listed_tool_is_called_and_answers_correctly() {
    let started = Instant::now();
    let session = spawn(&["--toolsets", "all"]).await.expect("session");
    let listed: BTreeSet<String> =
        session.list_all_tools().await.expect("tools/list").iter().map(|t| t.name.to_string()).collect();
    for opt_in in ["create_execution_context", "execute_command", "execute_command_simple"] {
        assert!(listed.contains(opt_in), "--toolsets all serves the opt-in command_execution toolset: {listed:?}");
    }
    let mcp = Mcp { session, called: Mutex::new(BTreeSet::new()), answered: Mutex::new(BTreeSet::new()) };

    identity(&mcp).await;
    tokio::join!(new_cluster(&mcp), seeded_cluster(&mcp), sql_and_catalog(&mcp), dbfs(&mcp));

    let called = mcp.called.lock().expect("lock").clone();
    let answered = mcp.answered.lock().expect("lock").clone();
    let not_called: Vec<&String> = listed.difference(&called).collect();
    let not_listed: Vec<&String> = called.difference(&listed).collect();
    let never_succeeded: Vec<&String> = listed.difference(&answered).collect();
    assert!(not_called.is_empty(), "listed tools without an end-to-end call: {not_called:?}");
    assert!(not_listed.is_empty(), "called tools that tools/list does not show: {not_listed:?}");
    assert!(never_succeeded.is_empty(), "listed tools never called successfully: {never_succeeded:?}");
    assert_eq!(called, listed);
    assert_eq!(answered, listed);
    eprintln!("{} tools called in {:.1}s", called.len(), started.elapsed().as_secs_f64());
    mcp.session.close().await;
}

async fn identity(mcp: &Mcp) {
    let (_, me) = mcp.ok("get_current_user", json!({})).await;
    assert_eq!(me["user_name"], USER);
    assert_eq!(me["active"], true);
    assert!(me["id"].as_str().is_some_and(|id| !id.is_empty()), "{me}");
}

/// A cluster of its own: runtimes and node types, create, resize, restart,
/// terminate, start, its events, and the listing.
async fn new_cluster(mcp: &Mcp) {
    let (_, v) = mcp.ok("list_spark_versions", json!({"contains": "lts"})).await;
    let versions = array_of(&v, "versions");
    assert_eq!(i64_of(&v, "count"), versions.len() as i64);
    assert!(!versions.is_empty() && versions.iter().all(|v| str_of(v, "name").contains("LTS")), "{v}");
    let version = versions
        .iter()
        .map(|v| str_of(v, "key"))
        .find(|k| *k == "15.4.x-scala2.12")
        .unwrap_or_else(|| panic!("15.4 LTS is listed: {v}"))
        .to_string();

    let (text, n) = mcp.ok("list_node_types", json!({"contains": "memory optimized"})).await;
    let nodes = array_of(&n, "node_types");
    assert!(!nodes.is_empty() && nodes.iter().all(|n| n["category"] == "Memory Optimized"), "{n}");
    let node = str_of(&nodes[0], "node_type_id").to_string();
    assert!(nodes[0]["memory_mb"].as_i64().is_some_and(|m| m > 0), "{n}");
    assert!(text.contains(&format!("| {node} |")), "{text}");

    let (text, c) = mcp
        .ok(
            "create_cluster",
            json!({
                "cluster_name": "e2e-every-tool",
                "spark_version": version,
                "node_type_id": node,
                "num_workers": 1,
                "custom_tags": {"suite": "e2e"},
                "wait": true,
                "timeout_seconds": 60,
            }),
        )
        .await;
    let id = str_of(&c, "cluster_id").to_string();
    assert_eq!(c["state"], "RUNNING", "{text}");
    assert_eq!(c["num_workers"], 1);
    assert_eq!(c["autotermination_minutes"], 60, "the safety-net default: {c}");
    assert!(text.contains(&format!("Created cluster e2e-every-tool ({id})")), "{text}");

    let (_, details) = mcp.ok("get_cluster", json!({"cluster_id": id})).await;
    assert_eq!(details["cluster_id"], id.as_str());
    assert_eq!(details["cluster_name"], "e2e-every-tool");
    assert_eq!(details["spark_version"], version.as_str());
    assert_eq!(details["node_type_id"], node.as_str());
    assert_eq!(details["custom_tags"]["suite"], "e2e");
    assert_eq!(details["state"], "RUNNING");

    let (_, r) = mcp
        .ok("resize_cluster", json!({"cluster_id": id, "num_workers": 3, "wait": true, "timeout_seconds": 60}))
        .await;
    assert_eq!(r["state"], "RUNNING", "{r}");
    assert_eq!(r["num_workers"], 3);

    let refused = mcp.fails("restart_cluster", json!({"cluster_id": id})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (text, r) = mcp
        .ok("restart_cluster", json!({"cluster_id": id, "confirm": true, "wait": true, "timeout_seconds": 60}))
        .await;
    assert!(text.starts_with(&format!("Restarting cluster {id}.")), "{text}");
    assert_eq!(r["state"], "RUNNING", "{r}");

    let (_, t) = mcp
        .ok("terminate_cluster", json!({"cluster_id": id, "confirm": true, "wait": true, "timeout_seconds": 60}))
        .await;
    assert_eq!(t["state"], "TERMINATED", "{t}");
    assert_eq!(t["termination_code"], "USER_REQUEST");

    let (_, s) = mcp.ok("start_cluster", json!({"cluster_id": id, "wait": true, "timeout_seconds": 60})).await;
    assert_eq!(s["state"], "RUNNING", "{s}");
    assert_eq!(s["cluster_id"], id.as_str());
    assert_eq!(s["num_workers"], 3, "the configuration survives termination: {s}");

    let (_, e) = mcp.ok("list_cluster_events", json!({"cluster_id": id, "order": "ASC"})).await;
    let kinds: Vec<&str> = array_of(&e, "events").iter().map(|e| str_of(e, "type")).collect();
    let expected = ["CREATING", "RUNNING", "RESIZING", "UPSIZE_COMPLETED", "RESTARTING", "TERMINATING", "STARTING"];
    let mut rest = kinds.iter();
    for kind in expected {
        assert!(rest.any(|k| *k == kind), "{kind} in order in {kinds:?}");
    }
    let (_, e) = mcp.ok("list_cluster_events", json!({"cluster_id": id, "event_types": ["RESIZING"]})).await;
    assert_eq!(e["count"], 1, "{e}");
    assert_eq!(e["events"][0]["details"]["target_num_workers"], 3, "{e}");

    let (_, l) = mcp.ok("list_clusters", json!({"states": ["RUNNING"]})).await;
    let names: Vec<&str> = array_of(&l, "clusters").iter().map(|c| str_of(c, "cluster_name")).collect();
    assert!(names.contains(&"e2e-every-tool") && names.contains(&SEEDED_CLUSTER), "{names:?}");

    let (_, t) = mcp.ok("terminate_cluster", json!({"cluster_id": id, "confirm": true})).await;
    assert_eq!(t["state"], "TERMINATING", "{t}");
}

/// The seeded cluster: execution contexts and commands in SQL, then workspace
/// notebooks run as jobs and one-time runs on it.
async fn seeded_cluster(mcp: &Mcp) {
    let (_, l) = mcp.ok("list_clusters", json!({})).await;
    let seeded = array_of(&l, "clusters")
        .iter()
        .find(|c| c["cluster_name"] == SEEDED_CLUSTER)
        .unwrap_or_else(|| panic!("the seeded cluster is listed: {l}"));
    assert_eq!(seeded["state"], "RUNNING");
    let cluster_id = str_of(seeded, "cluster_id").to_string();

    tokio::join!(commands(mcp, &cluster_id), async {
        let notebook = workspace(mcp).await;
        jobs(mcp, &cluster_id, &notebook).await;
    });
}

async fn commands(mcp: &Mcp, cluster_id: &str) {
    let (_, c) = mcp
        .ok("create_execution_context", json!({"cluster_id": cluster_id, "language": "sql", "timeout_seconds": 30}))
        .await;
    assert_eq!(c["status"], "Running", "{c}");
    assert_eq!(c["language"], "sql");
    let context_id = str_of(&c, "context_id").to_string();
    let (_, s) = mcp.ok("get_context_status", json!({"cluster_id": cluster_id, "context_id": context_id})).await;
    assert_eq!(s["status"], "Running", "{s}");

    let ids = json!({"cluster_id": cluster_id, "context_id": context_id});
    let with = |extra: Value| {
        let mut args = ids.clone();
        args.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        args
    };
    let (text, r) = mcp
        .ok(
            "execute_command",
            with(json!({
                "language": "sql",
                "command": "SELECT n_nationkey AS key, n_name AS name FROM samples.tpch.nation \
                            WHERE n_nationkey < 3 ORDER BY n_nationkey",
                "timeout_seconds": 30,
            })),
        )
        .await;
    assert_eq!(r["result_type"], "table", "{text}");
    assert_eq!(r["columns"], json!(["key", "name"]));
    assert_eq!(r["row_count"], 3);
    assert_eq!(r["rows"], json!([[0, "ALGERIA"], [1, "ARGENTINA"], [2, "BRAZIL"]]), "{text}");

    // A long command holds the context; the next one queues behind it and is cancelled there.
    let (_, slow) = mcp
        .ok(
            "execute_command",
            with(json!({"language": "sql", "command": "SELECT sandbox_sleep(30000) AS slept", "wait": false})),
        )
        .await;
    let slow_id = str_of(&slow, "command_id").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, s) = mcp.ok("get_command_status", with(json!({"command_id": slow_id}))).await;
        match s["status"].as_str() {
            Some("Running") => break,
            Some("Queued") if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => panic!("the long command should be running: {s}"),
        }
    }
    let (_, queued) =
        mcp.ok("execute_command", with(json!({"language": "sql", "command": "SELECT 1 AS one", "wait": false}))).await;
    let queued_id = str_of(&queued, "command_id").to_string();
    let (text, s) = mcp.ok("get_command_status", with(json!({"command_id": queued_id}))).await;
    assert_eq!(s["status"], "Queued", "{text}");
    let refused = mcp.fails("cancel_command", with(json!({"command_id": queued_id}))).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (text, s) = mcp.ok("cancel_command", with(json!({"command_id": queued_id, "confirm": true}))).await;
    assert_eq!(s["status"], "Cancelled", "{text}");
    let gone = mcp.fails("get_command_status", with(json!({"command_id": queued_id}))).await;
    assert!(gone.contains("was cancelled"), "{gone}");
    let (text, s) = mcp.ok("cancel_command", with(json!({"command_id": slow_id, "confirm": true}))).await;
    assert!(matches!(s["status"].as_str(), Some("Cancelling" | "Cancelled")), "{text}");

    let refused =
        mcp.fails("destroy_execution_context", json!({"cluster_id": cluster_id, "context_id": context_id})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (_, d) = mcp
        .ok("destroy_execution_context", json!({"cluster_id": cluster_id, "context_id": context_id, "confirm": true}))
        .await;
    assert_eq!(d["destroyed"], true);
    let gone = mcp.fails("get_context_status", json!({"cluster_id": cluster_id, "context_id": context_id})).await;
    assert!(gone.contains(&context_id) && gone.contains("does not exist"), "{gone}");

    let (text, r) = mcp
        .ok(
            "execute_command_simple",
            json!({
                "cluster_id": cluster_id,
                "language": "sql",
                "command": "SELECT count(*) AS regions FROM samples.tpch.region",
                "timeout_seconds": 30,
            }),
        )
        .await;
    assert_eq!(r["columns"], json!(["regions"]), "{text}");
    assert_eq!(r["rows"], json!([[5]]), "{text}");
    assert_eq!(r["context_destroyed"], true);
}

/// Folders and notebooks; returns the path of the notebook the jobs run.
async fn workspace(mcp: &Mcp) -> String {
    let dir = format!("/Users/{USER}/e2e");
    let notebook = format!("{dir}/report");
    let (_, m) = mcp.ok("mkdirs", json!({"path": format!("{dir}/scratch")})).await;
    assert_eq!(m["path"], format!("{dir}/scratch"));

    let (_, i) = mcp.ok("import_notebook", json!({"path": notebook, "language": "SQL", "content": NOTEBOOK_V1})).await;
    assert_eq!(i["replaced"], false);
    assert_eq!(i["object"]["object_type"], "NOTEBOOK", "{i}");
    assert_eq!(i["object"]["language"], "SQL", "{i}");
    let (_, x) = mcp.ok("export_notebook", json!({"path": notebook})).await;
    assert_eq!(x["format"], "SOURCE");
    assert_eq!(x["complete"], true);
    assert!(str_of(&x, "content").contains("SELECT 1 AS one"), "{x}");

    let again =
        mcp.fails("import_notebook", json!({"path": notebook, "language": "SQL", "content": NOTEBOOK_V2})).await;
    assert!(again.contains("RESOURCE_ALREADY_EXISTS"), "{again}");
    let refused = mcp
        .fails(
            "import_notebook",
            json!({"path": notebook, "language": "SQL", "content": NOTEBOOK_V2, "overwrite": true}),
        )
        .await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (_, i) = mcp
        .ok(
            "import_notebook",
            json!({"path": notebook, "language": "SQL", "content": NOTEBOOK_V2, "overwrite": true, "confirm": true}),
        )
        .await;
    assert_eq!(i["replaced"], true);
    let (_, x) =
        mcp.ok("export_notebook", json!({"path": notebook, "format": "SOURCE", "offset": 0, "length": 10})).await;
    assert_eq!(x["returned_chars"], 10);
    assert_eq!(x["next_offset"], 10);
    let rest = i64_of(&x, "total_chars") - 10;
    let (_, x) = mcp.ok("export_notebook", json!({"path": notebook, "offset": 10})).await;
    assert_eq!(i64_of(&x, "returned_chars"), rest);
    assert!(str_of(&x, "content").contains("${greeting}"), "the new version: {x}");

    let (_, s) = mcp.ok("get_workspace_object_status", json!({"path": notebook})).await;
    assert_eq!(s["path"], notebook.as_str());
    assert_eq!(s["object_type"], "NOTEBOOK");
    assert_eq!(s["language"], "SQL");
    assert!(s["object_id"].as_i64().is_some(), "{s}");

    let (_, f) = mcp
        .ok(
            "import_notebook",
            json!({"path": format!("{dir}/scratch/notes.txt"), "format": "RAW", "content": "scratch notes\n"}),
        )
        .await;
    assert_eq!(f["object"]["object_type"], "FILE", "{f}");

    let (_, l) = mcp.ok("list_notebooks", json!({"path": format!("/Users/{USER}"), "recursive": true})).await;
    let entries: Vec<(String, &str)> =
        array_of(&l, "entries").iter().map(|e| (str_of(e, "path").to_string(), str_of(e, "object_type"))).collect();
    for expected in [
        (dir.clone(), "DIRECTORY"),
        (notebook.clone(), "NOTEBOOK"),
        (format!("{dir}/scratch"), "DIRECTORY"),
        (format!("{dir}/scratch/notes.txt"), "FILE"),
    ] {
        assert!(entries.contains(&expected), "{expected:?} in {entries:?}");
    }
    assert_eq!(l["truncated"], false);

    let refused =
        mcp.fails("delete_workspace_object", json!({"path": format!("{dir}/scratch"), "recursive": true})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (_, d) = mcp
        .ok("delete_workspace_object", json!({"path": format!("{dir}/scratch"), "recursive": true, "confirm": true}))
        .await;
    assert_eq!(d["deleted"], true);
    assert_eq!(d["object_type"], "DIRECTORY");
    let gone = mcp.fails("get_workspace_object_status", json!({"path": format!("{dir}/scratch/notes.txt")})).await;
    assert!(gone.contains("RESOURCE_DOES_NOT_EXIST"), "{gone}");
    notebook
}

async fn jobs(mcp: &Mcp, cluster_id: &str, notebook: &str) {
    let name = "e2e every tool";
    let task = |greeting: &str| {
        json!({
            "task_key": "report",
            "existing_cluster_id": cluster_id,
            "notebook_task": {"notebook_path": notebook, "base_parameters": {"greeting": greeting, "pause_ms": "0"}},
        })
    };
    let (text, c) = mcp.ok("create_job", json!({"settings": {"name": name, "tasks": [task("hello")]}})).await;
    let job_id = i64_of(&c, "job_id");
    assert_eq!(c["task_count"], 1);
    assert!(text.contains(&format!("Created job {job_id}")), "{text}");

    let (_, l) = mcp.ok("list_jobs", json!({"name": name})).await;
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(l["jobs"][0]["job_id"], job_id);
    assert_eq!(l["jobs"][0]["task_kinds"], json!(["notebook_task"]));

    let (_, u) = mcp
        .ok(
            "update_job",
            json!({"job_id": job_id, "new_settings": {"tags": {"suite": "e2e"}, "max_concurrent_runs": 2}}),
        )
        .await;
    assert_eq!(u["changed_fields"], json!(["max_concurrent_runs", "tags"]));
    let (_, j) = mcp.ok("get_job", json!({"job_id": job_id})).await;
    assert_eq!(j["job_id"], job_id);
    assert_eq!(j["settings"]["name"], name);
    assert_eq!(j["settings"]["tags"]["suite"], "e2e");
    assert_eq!(j["settings"]["max_concurrent_runs"], 2);
    let t = &j["settings"]["tasks"][0];
    assert_eq!(t["existing_cluster_id"], cluster_id);
    assert_eq!(t["notebook_task"]["notebook_path"], notebook);

    // Run and wait: the notebook really ran, with the run's parameter.
    let (text, r) = mcp
        .ok(
            "run_job",
            json!({"job_id": job_id, "notebook_params": {"greeting": "hi there"}, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(r["succeeded"], true, "{text}");
    assert_eq!(r["run"]["job_id"], job_id);
    assert_eq!(r["run"]["result_state"], "SUCCESS");
    let output = str_of(&r["output"], "text");
    assert!(output.contains("hi there") && output.contains("42"), "{output}");
    let first_run = i64_of(&r["run"], "run_id");
    let task_run = i64_of(&r["tasks"][0], "run_id");

    let (_, g) = mcp.ok("get_run", json!({"run_id": first_run})).await;
    assert_eq!(g["run_id"], first_run);
    assert_eq!(g["job_id"], job_id);
    assert_eq!(g["state"]["life_cycle_state"], "TERMINATED");
    assert_eq!(g["state"]["result_state"], "SUCCESS");
    assert_eq!(g["tasks"][0]["run_id"], task_run);
    assert_eq!(g["tasks"][0]["existing_cluster_id"], cluster_id);

    let (_, o) = mcp.ok("get_run_output", json!({"run_id": task_run})).await;
    assert_eq!(o["run_id"], task_run);
    assert_eq!(o["task_key"], "report");
    assert_eq!(o["result_state"], "SUCCESS");
    let content = str_of(&o, "content");
    assert!(content.contains("hi there") && content.contains("42"), "{content}");
    // The run itself has a single task: its output is that task's, read in pieces.
    let (text, o) = mcp.ok("get_run_output", json!({"run_id": first_run, "length": 20})).await;
    assert_eq!(o["requested_run_id"], first_run);
    assert_eq!(o["run_id"], task_run, "{text}");
    assert_eq!(o["returned_chars"], 20);
    assert_eq!(o["next_offset"], 20);
    assert_eq!(o["content"], content.chars().take(20).collect::<String>());

    // Run in the background and follow it.
    let (_, r) = mcp.ok("run_job", json!({"job_id": job_id})).await;
    assert_eq!(r["finished"], false);
    let second_run = i64_of(&r, "run_id");
    let (text, w) = mcp.ok("wait_for_run_completion", json!({"run_id": second_run, "timeout_seconds": 60})).await;
    assert_eq!(w["succeeded"], true, "{text}");
    assert_eq!(w["run"]["run_id"], second_run);
    assert!(str_of(&w["output"], "text").contains("hello"), "the job's own parameter: {w}");

    // Start one more that pauses for a minute, and cancel it while it runs.
    let (_, r) = mcp.ok("run_job", json!({"job_id": job_id, "notebook_params": {"pause_ms": "60000"}})).await;
    let third_run = i64_of(&r, "run_id");
    let (text, x) =
        mcp.ok("cancel_run", json!({"run_id": third_run, "confirm": true, "wait": true, "timeout_seconds": 30})).await;
    assert_eq!(x["result_state"], "CANCELED", "{text}");
    assert_eq!(x["finished"], true);

    let (_, l) = mcp.ok("list_runs", json!({"job_id": job_id})).await;
    let runs: Vec<i64> = array_of(&l, "runs").iter().map(|r| i64_of(r, "run_id")).collect();
    assert_eq!(runs, vec![third_run, second_run, first_run], "newest first: {l}");
    assert_eq!(l["runs"][0]["result_state"], "CANCELED");
    assert_eq!(l["runs"][2]["result_state"], "SUCCESS");
    assert_eq!(l["runs"][2]["run_type"], "JOB_RUN");
    let (_, l) = mcp.ok("list_runs", json!({"job_id": job_id, "active_only": true})).await;
    assert_eq!(l["count"], 0, "{l}");

    // A one-time run of the same notebook on the same cluster.
    let (text, s) = mcp
        .ok(
            "submit_single_run",
            json!({
                "run_name": "e2e one-off",
                "tasks": [task("once")],
                "other_settings": {"timeout_seconds": 600},
                "wait": true,
                "timeout_seconds": 60,
            }),
        )
        .await;
    assert_eq!(s["succeeded"], true, "{text}");
    assert_eq!(s["run"]["run_type"], "SUBMIT_RUN");
    assert_eq!(s["run"]["run_name"], "e2e one-off");
    assert!(str_of(&s["output"], "text").contains("once"), "{s}");

    let refused = mcp.fails("delete_job", json!({"job_id": job_id})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (_, d) = mcp.ok("delete_job", json!({"job_id": job_id, "confirm": true})).await;
    assert_eq!(d["deleted"], true);
    assert_eq!(d["name"], name);
    let gone = mcp.fails("get_job", json!({"job_id": job_id})).await;
    assert!(gone.contains("does not exist"), "{gone}");
}

/// Warehouses, statements and their results, and Unity Catalog's view of a table
/// made with SQL.
async fn sql_and_catalog(mcp: &Mcp) {
    let (text, l) = mcp.ok("list_warehouses", json!({})).await;
    let warehouse = &array_of(&l, "warehouses")[0];
    assert_eq!(warehouse["state"], "RUNNING", "{text}");
    let id = str_of(warehouse, "id").to_string();
    let (_, w) = mcp.ok("get_warehouse", json!({"id": id})).await;
    assert_eq!(w["id"], id.as_str());
    assert_eq!(w["name"], warehouse["name"]);
    assert_eq!(w["state"], "RUNNING");

    let run = |statement: &str| json!({"statement": statement, "warehouse_id": id});
    let (text, c) = mcp.ok("execute_sql", run("CREATE TABLE main.default.t (id INT, name STRING)")).await;
    assert_eq!(c["state"], "SUCCEEDED", "{text}");
    assert_eq!(c["warehouse_id"], id.as_str());
    let (text, _) =
        mcp.ok("execute_sql", run("INSERT INTO main.default.t VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma')")).await;
    assert!(text.contains("SUCCEEDED"), "{text}");

    let (text, s) = mcp
        .ok(
            "execute_sql",
            json!({
                "statement": "SELECT id, name FROM main.default.t WHERE id >= :min ORDER BY id",
                "parameters": {"min": 2},
                "format": "json",
                "warehouse_id": id,
            }),
        )
        .await;
    assert_eq!(json_rows(&text), json!([{"id": 2, "name": "beta"}, {"id": 3, "name": "gamma"}]), "{text}");
    assert_eq!(s["total_row_count"], 2);
    assert_eq!(s["columns"][0]["name"], "id");

    // One row shown; the rest through get_statement and get_statement_result_chunk.
    let (text, s) = mcp
        .ok(
            "execute_sql",
            json!({
                "statement": "SELECT id, name FROM t ORDER BY id",
                "catalog": "main",
                "schema": "default",
                "max_rows": 1,
            }),
        )
        .await;
    assert!(text.contains("| 1 | alpha |"), "{text}");
    assert_eq!(s["rows_shown"], 1);
    assert_eq!(s["next"], json!({"chunk_index": 0, "skip_rows": 1}), "{text}");
    let statement_id = str_of(&s, "statement_id").to_string();
    let (text, g) = mcp.ok("get_statement", json!({"statement_id": statement_id, "format": "csv"})).await;
    assert_eq!(g["state"], "SUCCEEDED");
    assert_eq!(g["manifest"]["total_row_count"], 3, "{g}");
    assert!(text.contains("id,name\n1,alpha\n2,beta\n3,gamma\n"), "{text}");
    let (text, k) = mcp
        .ok(
            "get_statement_result_chunk",
            json!({"statement_id": statement_id, "chunk_index": 0, "skip_rows": 1, "format": "csv"}),
        )
        .await;
    assert!(text.starts_with("id,name\n2,beta\n3,gamma\n"), "{text}");
    assert_eq!(k["first_row"], 1);
    assert_eq!(k["rows_shown"], 2);

    // A statement that outlasts its wait keeps running until it is cancelled.
    let (text, s) =
        mcp.ok("execute_sql", json!({"statement": "SELECT sandbox_sleep(30000) AS slept", "timeout_seconds": 1})).await;
    assert_eq!(s["finished"], false, "{text}");
    let long_id = str_of(&s, "statement_id").to_string();
    let refused = mcp.fails("cancel_statement", json!({"statement_id": long_id})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (text, x) = mcp.ok("cancel_statement", json!({"statement_id": long_id, "confirm": true})).await;
    assert_eq!(x["state"], "CANCELED", "{text}");
    let (_, g) = mcp.ok("get_statement", json!({"statement_id": long_id})).await;
    assert_eq!(g["state"], "CANCELED");

    // Unity Catalog.
    let (_, c) = mcp.ok("list_catalogs", json!({})).await;
    let catalogs: Vec<&str> = array_of(&c, "catalogs").iter().map(|c| str_of(c, "name")).collect();
    assert!(catalogs.contains(&"main") && catalogs.contains(&"samples"), "{catalogs:?}");
    let (_, g) = mcp.ok("get_catalog", json!({"name": "main"})).await;
    assert_eq!(g["name"], "main");
    let (_, s) = mcp.ok("list_schemas", json!({"catalog_name": "samples"})).await;
    let schemas: Vec<&str> = array_of(&s, "schemas").iter().map(|s| str_of(s, "full_name")).collect();
    assert!(schemas.contains(&"samples.tpch"), "{schemas:?}");
    let (_, g) = mcp.ok("get_schema", json!({"full_name": "samples.tpch"})).await;
    assert_eq!(g["full_name"], "samples.tpch");
    assert_eq!(g["catalog_name"], "samples");
    let (_, t) = mcp.ok("list_tables", json!({"catalog_name": "main", "schema_name": "default"})).await;
    let tables: Vec<&str> = array_of(&t, "tables").iter().map(|t| str_of(t, "full_name")).collect();
    assert!(tables.contains(&"main.default.t"), "{tables:?}");
    let (text, g) = mcp.ok("get_table", json!({"full_name": "main.default.t"})).await;
    assert_eq!(g["full_name"], "main.default.t");
    let columns: Vec<(&str, String)> = array_of(&g, "columns")
        .iter()
        .map(|c| (str_of(c, "name"), str_of(c, "type_name").to_ascii_uppercase()))
        .collect();
    assert_eq!(columns, vec![("id", "INT".to_string()), ("name", "STRING".to_string())], "{text}");
    let (_, v) = mcp.ok("list_volumes", json!({"catalog_name": "main", "schema_name": "default"})).await;
    assert_eq!(v["volumes"][0]["full_name"], "main.default.files", "{v}");
    assert_eq!(v["volumes"][0]["volume_type"], "MANAGED");

    // Stop and start the warehouse.
    let (_, s) =
        mcp.ok("stop_warehouse", json!({"id": id, "confirm": true, "wait": true, "timeout_seconds": 30})).await;
    assert_eq!(s["state"], "STOPPED", "{s}");
    let (_, w) = mcp.ok("get_warehouse", json!({"id": id})).await;
    assert_eq!(w["state"], "STOPPED");
    let (_, s) = mcp.ok("start_warehouse", json!({"id": id, "wait": true, "timeout_seconds": 30})).await;
    assert_eq!(s["state"], "RUNNING", "{s}");
}

async fn dbfs(mcp: &Mcp) {
    let csv_v1 = "id,name\n1,alpha\n";
    let csv = "id,name\n1,alpha\n2,beta\n3,gamma\n";
    let (_, m) = mcp.ok("mkdirs_dbfs", json!({"path": "dbfs:/tmp/e2e/"})).await;
    assert_eq!(m["path"], "/tmp/e2e");

    let (_, p) = mcp.ok("put_file", json!({"path": "/tmp/e2e/data.csv", "contents": csv_v1})).await;
    assert_eq!(p["bytes_written"], csv_v1.len());
    assert_eq!(p["method"], "put");
    let exists = mcp.fails("put_file", json!({"path": "/tmp/e2e/data.csv", "contents": csv})).await;
    assert!(exists.contains("RESOURCE_ALREADY_EXISTS"), "{exists}");
    let refused = mcp.fails("put_file", json!({"path": "/tmp/e2e/data.csv", "contents": csv, "overwrite": true})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (_, p) = mcp
        .ok("put_file", json!({"path": "dbfs:/tmp/e2e/data.csv", "contents": csv, "overwrite": true, "confirm": true}))
        .await;
    assert_eq!(p["replaced"], true);
    assert_eq!(p["bytes_written"], csv.len());
    let (_, p) = mcp
        .ok("put_file", json!({"path": "/tmp/e2e/blob.bin", "contents": "AAEC/w==", "contents_encoding": "base64"}))
        .await;
    assert_eq!(p["bytes_written"], 4);

    let (_, s) = mcp.ok("get_file_status", json!({"path": "/tmp/e2e/data.csv"})).await;
    assert_eq!(s["path"], "/tmp/e2e/data.csv");
    assert_eq!(s["is_dir"], false);
    assert_eq!(s["file_size"], csv.len());

    let (_, l) = mcp.ok("list_files", json!({"path": "/tmp/e2e"})).await;
    assert_eq!(l["total"], 2);
    let files: Vec<(&str, i64)> =
        array_of(&l, "files").iter().map(|f| (str_of(f, "path"), i64_of(f, "file_size"))).collect();
    assert_eq!(files, vec![("/tmp/e2e/blob.bin", 4), ("/tmp/e2e/data.csv", csv.len() as i64)]);

    let (_, r) = mcp.ok("read_file", json!({"path": "/tmp/e2e/data.csv", "length": 8})).await;
    assert_eq!(r["content"], &csv[..8]);
    assert_eq!(r["encoding"], "utf-8");
    assert_eq!(r["eof"], false);
    let next = i64_of(&r, "next_offset");
    assert_eq!(next, 8);
    let (_, r) = mcp.ok("read_file", json!({"path": "/tmp/e2e/data.csv", "offset": next})).await;
    assert_eq!(r["content"], &csv[8..]);
    assert_eq!(r["eof"], true);
    let (_, r) = mcp.ok("read_file", json!({"path": "/tmp/e2e/blob.bin"})).await;
    assert_eq!(r["encoding"], "base64");
    assert_eq!(r["content"], "AAEC/w==");

    let (_, m) = mcp
        .ok("move_file", json!({"source_path": "/tmp/e2e/data.csv", "destination_path": "/tmp/e2e/renamed.csv"}))
        .await;
    assert_eq!(m["destination_path"], "/tmp/e2e/renamed.csv");
    let gone = mcp.fails("get_file_status", json!({"path": "/tmp/e2e/data.csv"})).await;
    assert!(gone.contains("RESOURCE_DOES_NOT_EXIST"), "{gone}");
    let (_, r) = mcp.ok("read_file", json!({"path": "/tmp/e2e/renamed.csv"})).await;
    assert_eq!(r["content"], csv);

    let refused = mcp.fails("delete_file", json!({"path": "/tmp/e2e", "recursive": true})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (_, d) = mcp.ok("delete_file", json!({"path": "/tmp/e2e", "recursive": true, "confirm": true})).await;
    assert_eq!(d["deleted"], true);
    assert_eq!(d["is_dir"], true);
    let gone = mcp.fails("get_file_status", json!({"path": "/tmp/e2e/renamed.csv"})).await;
    assert!(gone.contains("RESOURCE_DOES_NOT_EXIST"), "{gone}");
}
