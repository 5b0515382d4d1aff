//! The `sql` and `unity_catalog` tools against an in-process sandbox workspace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use databricks_client::{Client, Config};
use databricks_mcp::settings::Settings;
use databricks_mcp::{DatabricksMcp, ToolContext, ToolError, Toolset};
use databricks_sandbox::{Sandbox, SandboxOptions};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

struct Env {
    _sandbox: Sandbox,
    client: Client,
    server: DatabricksMcp,
}

async fn env() -> Env {
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions { transition_delay: Duration::ZERO, tpch_scale: 0.001, seed: true, ..Default::default() },
    )
    .await
    .expect("sandbox starts");
    let client = Client::from_config(Config::new().with_host(sandbox.url()).with_token("t")).expect("client");
    let server = DatabricksMcp::new(
        client.clone(),
        Settings {
            toolsets: Toolset::ALL.into_iter().collect(),
            poll_unit: Some(Duration::from_millis(10)),
            ..Default::default()
        },
    );
    Env { _sandbox: sandbox, client, server }
}

impl Env {
    fn ctx(&self) -> ToolContext {
        ToolContext::standalone(self.client.clone(), Arc::new(self.server.settings().clone()))
    }

    async fn run(&self, tool: &str, args: Value) -> Result<CallToolResult, rmcp::ErrorData> {
        self.server.run(tool, args.as_object().expect("object").clone(), self.ctx()).await
    }

    /// Call a tool that must succeed; returns its text and structured content.
    async fn ok(&self, tool: &str, args: Value) -> (String, Value) {
        let result = self.run(tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        let text = text(&result);
        assert_ne!(result.is_error, Some(true), "{tool} {args} failed: {text}");
        (text, result.structured_content.unwrap_or(Value::Null))
    }

    /// Call a tool that must return an error result; returns its text.
    async fn fails(&self, tool: &str, args: Value) -> String {
        let result = self.run(tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        let text = text(&result);
        assert_eq!(result.is_error, Some(true), "{tool} {args} should fail: {text}");
        text
    }

    /// Call a tool with arguments that do not fit its schema; returns the message.
    async fn invalid(&self, tool: &str, args: Value) -> String {
        match self.run(tool, args.clone()).await {
            Err(e) => e.message.to_string(),
            Ok(r) => panic!("{tool} {args} should be rejected, got {}", text(&r)),
        }
    }

    async fn warehouse_id(&self) -> String {
        let (_, listed) = self.ok("list_warehouses", json!({})).await;
        listed["warehouses"][0]["id"].as_str().expect("a seeded warehouse").to_string()
    }
}

fn text(result: &CallToolResult) -> String {
    result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default()
}

fn last_line(text: &str) -> &str {
    text.trim_end().lines().last().unwrap_or_default()
}

#[tokio::test]
async fn execute_sql_renders_a_page_and_says_how_to_continue() {
    let env = env().await;
    let (text, s) = env
        .ok(
            "execute_sql",
            json!({"statement": "SELECT n_nationkey, n_name FROM samples.tpch.nation ORDER BY n_nationkey", "max_rows": 5}),
        )
        .await;
    let id = s["statement_id"].as_str().expect("statement id").to_string();
    assert!(text.contains("first RUNNING warehouse"), "says which warehouse was used: {text}");
    assert!(text.contains("| n_nationkey | n_name |\n|---|---|\n| 0 | ALGERIA |"), "{text}");
    assert_eq!(text.matches("\n| ").count(), 5 + 1, "header and five rows: {text}");
    assert_eq!(
        last_line(&text),
        format!(
            "5 of 25 rows shown; 20 rows left out — fetch them with get_statement_result_chunk statement_id={id} chunk_index=0 skip_rows=5"
        )
    );
    assert_eq!(s["rows_shown"], 5);
    assert_eq!(s["total_row_count"], 25);
    assert_eq!(s["columns"][1], json!({"name": "n_name", "type": "STRING"}));

    // The continuation picks up where the page stopped.
    let (more, m) =
        env.ok("get_statement_result_chunk", json!({"statement_id": id, "chunk_index": 0, "skip_rows": 5})).await;
    assert!(more.starts_with("| n_nationkey | n_name |\n|---|---|\n| 5 | ETHIOPIA |"), "{more}");
    assert_eq!(last_line(&more), "Rows 6–25 of 25 shown; these are the last rows.");
    assert_eq!((m["first_row"].clone(), m["rows_shown"].clone()), (json!(5), json!(20)));

    // get_statement: status, manifest summary and the first rows.
    let (status, st) = env.ok("get_statement", json!({"statement_id": id, "max_rows": 2, "format": "csv"})).await;
    assert!(status.starts_with(&format!("Statement {id} SUCCEEDED.\nResult: 25 rows in 1 chunk(s), 2 column(s)")));
    assert!(status.contains("n_nationkey,n_name\n0,ALGERIA\n1,ARGENTINA\n"), "{status}");
    assert!(last_line(&status).starts_with("2 of 25 rows shown; 23 rows left out"), "{status}");
    assert_eq!(st["state"], "SUCCEEDED");
    assert_eq!(st["manifest"]["total_row_count"], 25);

    // A small result is shown whole.
    let (all, _) = env.ok("execute_sql", json!({"statement": "SELECT r_name FROM samples.tpch.region"})).await;
    assert_eq!(last_line(&all), "All 5 rows shown.");
}

#[tokio::test]
async fn formats_and_parameters() {
    let env = env().await;
    let (csv, _) = env
        .ok(
            "execute_sql",
            json!({"statement": "SELECT :n + 1 AS v, :s AS s, :b AS b", "format": "csv",
                   "parameters": {"n": 41, "s": "a,\"b\"", "b": true}}),
        )
        .await;
    assert!(csv.contains("v,s,b\n42,\"a,\"\"b\"\"\",true\n"), "{csv}");

    let (js, _) = env
        .ok(
            "execute_sql",
            json!({"statement": "SELECT CAST(:d AS DATE) AS d, :x AS x, 2.5 AS f", "format": "json",
                   "parameters": [{"name": "d", "value": "2024-01-31", "type": "DATE"}, {"name": "x", "value": 7}]}),
        )
        .await;
    let body = &js[js.find('[').expect("a JSON array")..js.rfind(']').expect("closed") + 1];
    let rows: Value = serde_json::from_str(body).expect("valid JSON");
    assert_eq!(rows[0]["d"], "2024-01-31");
    assert_eq!(rows[0]["x"], 7);

    // A DDL statement has no rows.
    let (ddl, _) = env.ok("execute_sql", json!({"statement": "CREATE TABLE main.default.t1 (id INT)"})).await;
    assert!(ddl.contains("SUCCEEDED"), "{ddl}");
    let (ins, _) = env
        .ok(
            "execute_sql",
            json!({"statement": "INSERT INTO t1 VALUES (1), (2)", "catalog": "main", "schema": "default"}),
        )
        .await;
    assert!(ins.contains("SUCCEEDED"), "{ins}");
    let (sel, _) = env
        .ok("execute_sql", json!({"statement": "SELECT count(*) AS n FROM t1", "catalog": "main", "schema": "default"}))
        .await;
    assert!(sel.contains("| 2 |"), "{sel}");
}

#[tokio::test]
async fn nulls_render_as_null() {
    let env = env().await;
    let (md, _) = env.ok("execute_sql", json!({"statement": "SELECT NULL AS nothing, 'x' AS something"})).await;
    assert!(md.contains("| NULL | x |"), "{md}");
    let (csv, _) = env.ok("execute_sql", json!({"statement": "SELECT NULL AS a, '' AS b", "format": "csv"})).await;
    assert!(csv.contains("a,b\n,\"\"\n"), "{csv}");
    let (js, _) =
        env.ok("execute_sql", json!({"statement": "SELECT CAST(NULL AS INT) AS a, 3 AS b", "format": "json"})).await;
    assert!(js.contains(r#"{"a":null,"b":3}"#), "{js}");
}

#[tokio::test]
async fn a_failed_statement_is_an_error_with_the_message() {
    let env = env().await;
    let text = env.fails("execute_sql", json!({"statement": "SELECT * FROM samples.tpch.no_such_table"})).await;
    assert!(text.contains("FAILED"), "{text}");
    assert!(text.to_lowercase().contains("no_such_table"), "carries Databricks' message: {text}");

    // An unknown warehouse is Databricks' error, with its code.
    let text = env.fails("execute_sql", json!({"statement": "SELECT 1", "warehouse_id": "0000000000000000"})).await;
    assert!(text.contains("HTTP 404") && text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");

    // So is an unknown statement.
    let text = env.fails("get_statement", json!({"statement_id": "00000000-0000-0000-0000-000000000000"})).await;
    assert!(text.contains("HTTP 404") && text.contains("NOT_FOUND"), "{text}");
}

#[tokio::test]
async fn a_million_rows_are_read_a_bounded_piece_at_a_time() {
    let env = env().await;
    let started = Instant::now();
    let (text, s) = env.ok("execute_sql", json!({"statement": "SELECT value FROM range(1000000)"})).await;
    let id = s["statement_id"].as_str().expect("id").to_string();
    assert!(text.len() < 4 * 1024, "only 100 short rows are rendered: {} bytes", text.len());
    assert_eq!(
        last_line(&text),
        format!(
            "100 of 1000000 rows shown; 999900 rows left out — fetch them with get_statement_result_chunk statement_id={id} chunk_index=0 skip_rows=100"
        )
    );

    // A later chunk, from the middle of the result.
    let (page, p) =
        env.ok("get_statement_result_chunk", json!({"statement_id": id, "chunk_index": 5, "max_rows": 3})).await;
    let first = p["first_row"].as_i64().expect("first_row");
    assert!(first > 0, "{page}");
    assert!(page.contains(&format!("| {first} |")), "rows start at the chunk's offset: {page}");
    assert!(last_line(&page).starts_with(&format!("Rows {}–{} of 1000000 shown;", first + 1, first + 3)), "{page}");
    assert!(last_line(&page).ends_with("chunk_index=5 skip_rows=3"), "{page}");

    // The byte budget stops a wide rendering even when many rows are allowed.
    let (wide, w) = env
        .ok(
            "execute_sql",
            json!({"statement": "SELECT repeat('x', 1500) AS s FROM range(5000)", "max_rows": 10000, "format": "json"}),
        )
        .await;
    assert!(wide.len() < 70 * 1024, "{} bytes", wide.len());
    let shown = w["rows_shown"].as_u64().expect("rows_shown");
    assert!(shown > 10 && shown < 100, "{shown}");
    assert!(last_line(&wide).contains("output limit"), "{}", last_line(&wide));
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[tokio::test]
async fn a_long_statement_times_out_into_a_statement_id_and_can_be_cancelled() {
    let env = env().await;
    let (text, s) =
        env.ok("execute_sql", json!({"statement": "SELECT sandbox_sleep(60000) AS slept", "timeout_seconds": 1})).await;
    let id = s["statement_id"].as_str().expect("id").to_string();
    assert!(
        text.contains("may still be running") && text.contains(&format!("get_statement statement_id={id}")),
        "{text}"
    );
    assert_eq!(s["finished"], false);

    let (status, _) = env.ok("get_statement", json!({"statement_id": id})).await;
    assert!(status.contains("is RUNNING") || status.contains("is PENDING"), "{status}");
    let text = env.fails("get_statement_result_chunk", json!({"statement_id": id, "chunk_index": 0})).await;
    assert!(text.contains("still"), "{text}");

    // Destructive: refused without confirm, done with it.
    let refused = env.fails("cancel_statement", json!({"statement_id": id})).await;
    assert!(refused.contains("Confirmation required") && refused.contains(&id), "{refused}");
    let (status, _) = env.ok("get_statement", json!({"statement_id": id})).await;
    assert!(!status.contains("CANCELED"), "nothing was cancelled yet: {status}");
    let (done, c) = env.ok("cancel_statement", json!({"statement_id": id, "confirm": true})).await;
    assert!(done.contains("CANCELED"), "{done}");
    assert_eq!(c["state"], "CANCELED");
    let (status, _) = env.ok("get_statement", json!({"statement_id": id})).await;
    assert!(status.contains("CANCELED"), "{status}");

    let text = env.fails("cancel_statement", json!({"statement_id": "nope", "confirm": true})).await;
    assert!(text.contains("NOT_FOUND"), "{text}");
}

#[tokio::test]
async fn cancelling_the_request_cancels_the_statement() {
    let env = env().await;
    let ctx = env.ctx();
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel.cancel();
    });
    // timeout_seconds under 5 submits without blocking, so the wait is what gets cancelled.
    let args = serde_json::from_value(json!({"statement": "SELECT sandbox_sleep(60000)", "timeout_seconds": 4}))
        .expect("arguments");
    let started = Instant::now();
    let outcome = databricks_mcp::tools::sql::execute_sql(ctx, args).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let Err(ToolError::Failed(message)) = outcome else { panic!("expected a cancellation error, got {outcome:?}") };
    let id = message
        .split_whitespace()
        .skip_while(|w| *w != "statement")
        .nth(1)
        .expect("the message names the statement")
        .to_string();
    let status = env.client.statement_execution_get_statement().statement_id(&id).send().await.expect("statement");
    let state = status.status.as_ref().and_then(|s| s.state.as_deref()).cloned();
    assert_eq!(state.as_deref(), Some("CANCELED"), "{message}");

    // Through the server, a cancelled request ends at once even while the submit call blocks.
    let ctx = env.ctx();
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let result = env
        .server
        .run("execute_sql", json!({"statement": "SELECT sandbox_sleep(60000)"}).as_object().unwrap().clone(), ctx)
        .await
        .expect("a result");
    assert_eq!(result.is_error, Some(true));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn warehouses_list_get_stop_and_start() {
    let env = env().await;
    let (list, l) = env.ok("list_warehouses", json!({})).await;
    assert!(list.contains("| id | name | state | cluster_size | warehouse_type |"), "{list}");
    let id = l["warehouses"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(l["warehouses"][0]["state"], "RUNNING");
    assert!(l.get("next_page_token").is_none());

    let (_, w) = env.ok("get_warehouse", json!({"id": id})).await;
    assert_eq!(w["id"], id.as_str());
    assert!(w["odbc_params"].is_object(), "the full object: {w}");
    let missing = env.fails("get_warehouse", json!({"id": "ffffffffffffffff"})).await;
    assert!(missing.contains("HTTP 404 RESOURCE_DOES_NOT_EXIST"), "{missing}");

    let refused = env.fails("stop_warehouse", json!({"id": id})).await;
    assert!(refused.contains("Confirmation required"), "{refused}");
    let (_, w) = env.ok("get_warehouse", json!({"id": id})).await;
    assert_eq!(w["state"], "RUNNING", "not stopped without confirm");
    let (stopped, _) =
        env.ok("stop_warehouse", json!({"id": id, "confirm": true, "wait": true, "timeout_seconds": 30})).await;
    assert!(stopped.contains("STOPPED"), "{stopped}");

    // With no warehouse running, execute_sql uses the stopped one and says so.
    let (text, _) = env.ok("execute_sql", json!({"statement": "SELECT 1 AS one"})).await;
    assert!(text.contains("none is RUNNING"), "{text}");
    env.ok("stop_warehouse", json!({"id": id, "confirm": true, "wait": true})).await;

    let (started, s) = env.ok("start_warehouse", json!({"id": id, "wait": true, "timeout_seconds": 30})).await;
    assert!(started.contains("RUNNING"), "{started}");
    assert_eq!(s["state"], "RUNNING");
    let (again, _) = env.ok("start_warehouse", json!({"id": id})).await;
    assert!(again.contains("RUNNING"), "{again}");
    let missing = env.fails("start_warehouse", json!({"id": "ffffffffffffffff"})).await;
    assert!(missing.contains("RESOURCE_DOES_NOT_EXIST"), "{missing}");

    // An explicit warehouse is used as given.
    let (text, s) = env.ok("execute_sql", json!({"statement": "SELECT 1 AS one", "warehouse_id": id})).await;
    assert!(!text.contains("chosen") && s["warehouse_id"] == id.as_str(), "{text}");
    assert_eq!(env.warehouse_id().await, id);
}

#[tokio::test]
async fn wrong_arguments_are_invalid_params_naming_the_field() {
    let env = env().await;
    let m = env.invalid("execute_sql", json!({"statement": "SELECT 1", "max_rows": "ten"})).await;
    assert!(m.contains("max_rows"), "{m}");
    let m = env.invalid("execute_sql", json!({"statement": "SELECT 1", "format": "xml"})).await;
    assert!(m.contains("format"), "{m}");
    let m = env.invalid("execute_sql", json!({"statement": "SELECT :x", "parameters": {"x": {"nested": 1}}})).await;
    assert!(m.contains("parameters.x"), "{m}");
    let m = env.invalid("execute_sql", json!({"statement": "SELECT 1", "extra": true})).await;
    assert!(m.contains("extra"), "{m}");
    let m = env.invalid("execute_sql", json!({"statement": "  "})).await;
    assert!(m.contains("statement"), "{m}");
    let m = env.invalid("get_statement_result_chunk", json!({"statement_id": "x", "chunk_index": -1})).await;
    assert!(m.contains("chunk_index"), "{m}");
    let m = env.invalid("stop_warehouse", json!({"id": "x", "confirm": "yes"})).await;
    assert!(m.contains("confirm"), "{m}");
    let m = env.invalid("list_tables", json!({"catalog_name": "samples"})).await;
    assert!(m.contains("schema_name"), "{m}");
    let m = env.invalid("list_catalogs", json!({"max_results": -1})).await;
    assert!(m.contains("max_results"), "{m}");

    // Out-of-range positions in a result are named too.
    let (_, s) = env.ok("execute_sql", json!({"statement": "SELECT r_name FROM samples.tpch.region"})).await;
    let id = s["statement_id"].as_str().expect("id");
    let m = env.invalid("get_statement_result_chunk", json!({"statement_id": id, "chunk_index": 3})).await;
    assert!(m.contains("chunk_index"), "{m}");
    let m =
        env.invalid("get_statement_result_chunk", json!({"statement_id": id, "chunk_index": 0, "skip_rows": 9})).await;
    assert!(m.contains("skip_rows"), "{m}");
}

#[tokio::test]
async fn catalogs_and_schemas() {
    let env = env().await;
    // max_results 0 makes the sandbox answer with an empty first page and a token,
    // as Unity Catalog may: the tool reads on instead of reporting nothing.
    let (text, c) = env.ok("list_catalogs", json!({"max_results": 0})).await;
    assert!(text.contains("| name | catalog_type | owner | comment |"), "{text}");
    let names: Vec<&str> =
        c["catalogs"].as_array().expect("catalogs").iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&"main") && names.contains(&"samples"), "{names:?}");

    // Paging: one catalog at a time, with the token passed through.
    let (first, p1) = env.ok("list_catalogs", json!({"max_results": 1})).await;
    let token = p1["next_page_token"].as_str().expect("a next page").to_string();
    assert!(first.contains(&format!("page_token={token}")), "{first}");
    assert_eq!(p1["catalogs"].as_array().map(Vec::len), Some(1));
    let (_, p2) = env.ok("list_catalogs", json!({"max_results": 1, "page_token": token})).await;
    assert_ne!(p1["catalogs"][0]["name"], p2["catalogs"][0]["name"]);

    let (_, cat) = env.ok("get_catalog", json!({"name": "samples"})).await;
    assert_eq!(cat["name"], "samples");
    assert!(cat.get("catalog_type").is_some(), "{cat}");
    let missing = env.fails("get_catalog", json!({"name": "nope"})).await;
    assert!(missing.contains("HTTP 404 CATALOG_DOES_NOT_EXIST"), "{missing}");

    let (text, s) = env.ok("list_schemas", json!({"catalog_name": "samples", "max_results": 0})).await;
    assert!(text.contains("samples.tpch"), "{text}");
    assert!(s["schemas"].as_array().expect("schemas").iter().any(|s| s["full_name"] == "samples.tpch"));
    let (_, schema) = env.ok("get_schema", json!({"full_name": "samples.tpch"})).await;
    assert_eq!(schema["full_name"], "samples.tpch");
    let missing = env.fails("get_schema", json!({"full_name": "samples.nope"})).await;
    assert!(missing.contains("SCHEMA_DOES_NOT_EXIST"), "{missing}");
    let missing = env.fails("list_schemas", json!({"catalog_name": "nope"})).await;
    assert!(missing.contains("CATALOG_DOES_NOT_EXIST"), "{missing}");
}

#[tokio::test]
async fn tables_and_volumes() {
    let env = env().await;
    let (text, t) = env.ok("list_tables", json!({"catalog_name": "samples", "schema_name": "tpch"})).await;
    assert!(text.contains("| name | table_type | data_source_format | comment |"), "{text}");
    let tables = t["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 8, "{text}");
    let nation = tables.iter().find(|t| t["name"] == "nation").expect("nation");
    assert_eq!(nation["full_name"], "samples.tpch.nation");
    assert!(nation.get("columns").is_none());

    // Small pages, empty first page included, end without a token.
    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let mut args = json!({"catalog_name": "samples", "schema_name": "tpch", "max_results": 3});
        if let Some(t) = &token {
            args["page_token"] = json!(t);
        }
        let (_, page) = env.ok("list_tables", args).await;
        seen.extend(
            page["tables"].as_array().expect("tables").iter().filter_map(|t| t["name"].as_str().map(str::to_string)),
        );
        token = page["next_page_token"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");

    let (text, table) = env.ok("get_table", json!({"full_name": "samples.tpch.nation"})).await;
    assert!(text.starts_with("Table samples.tpch.nation"), "{text}");
    assert!(text.contains("| name | type | nullable | comment |"), "{text}");
    assert!(text.contains("| n_nationkey | bigint |") || text.contains("| n_nationkey | BIGINT |"), "{text}");
    assert_eq!(table["full_name"], "samples.tpch.nation");
    assert_eq!(table["columns"].as_array().map(Vec::len), Some(4), "the full object: {table}");
    let missing = env.fails("get_table", json!({"full_name": "samples.tpch.nope"})).await;
    assert!(missing.contains("HTTP 404 TABLE_DOES_NOT_EXIST"), "{missing}");

    // A table created with SQL shows its comment and columns.
    env.ok(
        "execute_sql",
        json!({"statement": "CREATE TABLE main.default.sales (id INT NOT NULL COMMENT 'key', item STRING) COMMENT 'Daily sales'"}),
    )
    .await;
    let (text, _) = env.ok("get_table", json!({"full_name": "main.default.sales"})).await;
    assert!(text.contains("Comment: Daily sales"), "{text}");
    assert!(text.contains("| id | int | no |"), "{text}");

    let (text, v) =
        env.ok("list_volumes", json!({"catalog_name": "main", "schema_name": "default", "max_results": 0})).await;
    assert!(text.contains("main.default.files"), "{text}");
    assert_eq!(v["volumes"][0]["name"], "files");
    let missing = env.fails("list_volumes", json!({"catalog_name": "main", "schema_name": "nope"})).await;
    assert!(missing.contains("SCHEMA_DOES_NOT_EXIST"), "{missing}");
}
