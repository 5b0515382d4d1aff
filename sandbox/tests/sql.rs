//! SQL: the engine on DataFusion, SQL warehouses, the Statement Execution API and
//! Unity Catalog, driven over real HTTP with the generated client.

use std::time::Duration;

use base64::Engine as _;
use databricks_client::wait::{self, WaitOptions};
use databricks_client::{Client, ClientPagesExt, Config, Error, types};
use databricks_sandbox::{Sandbox, SandboxOptions};
use futures::TryStreamExt;
use serde_json::{Value, json};

fn options() -> SandboxOptions {
    SandboxOptions { transition_delay: Duration::ZERO, tpch_scale: 0.001, seed: true, ..SandboxOptions::default() }
}

async fn start(options: SandboxOptions) -> Sandbox {
    Sandbox::start("127.0.0.1:0".parse().expect("addr"), options).await.expect("sandbox starts")
}

fn client_for(sandbox: &Sandbox) -> Client {
    let config = Config::new()
        .with_host(sandbox.url())
        .with_token("t")
        .with_retry_backoff_unit(Duration::from_millis(5))
        .with_retry_timeout(Duration::from_secs(10));
    Client::from_config(config).expect("client")
}

fn fast_wait() -> WaitOptions {
    WaitOptions { poll_unit: Duration::from_millis(10), ..WaitOptions::with_timeout(Duration::from_secs(30)) }
}

/// The seeded warehouse's id.
async fn warehouse_id(client: &Client) -> String {
    let list = client.warehouses_list().send().await.expect("list warehouses");
    list.warehouses.first().and_then(|w| w.id.clone()).expect("a seeded warehouse")
}

async fn execute(client: &Client, body: Value) -> Result<types::StatementResponse, Error> {
    let body: types::StatementExecutionExecuteStatementBody = serde_json::from_value(body).expect("body");
    Ok(client.statement_execution_execute_statement().body(body).send().await?.into_inner())
}

/// Run a statement that must succeed within the wait timeout.
async fn query(client: &Client, warehouse: &str, sql: &str) -> types::StatementResponse {
    let r = execute(client, json!({"statement": sql, "warehouse_id": warehouse, "wait_timeout": "30s"}))
        .await
        .expect("statement accepted");
    assert_eq!(state(&r), "SUCCEEDED", "{sql}: {:?}", r.status);
    r
}

fn state(r: &types::StatementResponse) -> String {
    r.status.as_ref().and_then(|s| s.state.as_ref()).map(|s| s.to_string()).unwrap_or_default()
}

fn rows(r: &types::StatementResponse) -> Vec<Vec<String>> {
    let cells = |row: &Vec<Option<String>>| row.iter().map(|c| c.clone().unwrap_or_else(|| "NULL".into())).collect();
    r.result.as_ref().map(|d| d.data_array.iter().map(cells).collect()).unwrap_or_default()
}

fn column_names(r: &types::StatementResponse) -> Vec<String> {
    r.manifest
        .as_ref()
        .and_then(|m| m.schema.as_ref())
        .map(|s| s.columns.iter().filter_map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

/// A raw call, for status codes and bodies the typed client does not show.
async fn raw(sandbox: &Sandbox, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", sandbox.url())).bearer_auth("t");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A statement run over raw HTTP, to check the wire form of NULLs (JSON null)
/// directly. Returns the column names and the rows.
async fn raw_query(sandbox: &Sandbox, warehouse: &str, sql: &str) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let body = json!({"statement": sql, "warehouse_id": warehouse, "wait_timeout": "30s"});
    let (status, r) = raw(sandbox, reqwest::Method::POST, "/api/2.0/sql/statements", Some(body)).await;
    assert_eq!((status, r["status"]["state"].as_str()), (200, Some("SUCCEEDED")), "{sql}: {r}");
    let columns = r["manifest"]["schema"]["columns"]
        .as_array()
        .map(|c| c.iter().map(|c| c["name"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default();
    let rows = serde_json::from_value(r["result"]["data_array"].clone()).expect("rows of strings or nulls");
    (columns, rows)
}

fn api_error(e: Error) -> (u16, String, String) {
    let api = e.api().expect("an API error").clone();
    (api.status, api.error_code.unwrap_or_default(), api.message)
}

/// Poll a statement until `done` says so (bounded).
async fn poll_until(client: &Client, id: &str, done: impl Fn(&str) -> bool) -> types::StatementResponse {
    for _ in 0..1000 {
        let r = client.statement_execution_get_statement().statement_id(id).send().await.expect("get").into_inner();
        if done(&state(&r)) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("statement {id} never reached the expected state");
}

#[tokio::test]
async fn tpch_queries_run_through_the_statement_api() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;

    let r = query(&client, &wh, "SELECT count(*) AS n FROM samples.tpch.nation").await;
    assert_eq!(rows(&r), vec![vec!["25".to_string()]]);
    let manifest = r.manifest.as_ref().expect("manifest");
    assert_eq!(manifest.format.as_deref().map(String::as_str), Some("JSON_ARRAY"));
    assert_eq!(manifest.total_row_count, Some(1));
    assert_eq!(manifest.total_chunk_count, Some(1));
    assert_eq!(manifest.truncated, Some(false));
    let col = &manifest.schema.as_ref().expect("schema").columns[0];
    assert_eq!(col.name.as_deref(), Some("n"));
    assert_eq!(col.type_name.as_deref().map(String::as_str), Some("LONG"));
    assert_eq!(col.type_text.as_deref(), Some("BIGINT"));
    assert_eq!(col.position, Some(0));

    // A join with a catalog and schema given per statement.
    let r = execute(
        &client,
        json!({
            "statement": "SELECT r.r_name, count(*) AS nations FROM nation n JOIN region r ON n.n_regionkey = r.r_regionkey GROUP BY r.r_name ORDER BY r.r_name",
            "warehouse_id": wh, "catalog": "samples", "schema": "tpch",
        }),
    )
    .await
    .expect("join");
    assert_eq!(state(&r), "SUCCEEDED");
    let got = rows(&r);
    assert_eq!(got.len(), 5);
    assert_eq!(got[0], vec!["AFRICA".to_string(), "5".to_string()]);
    assert_eq!(column_names(&r), ["r_name", "nations"]);

    // Decimal and date types as Databricks names them.
    let r =
        query(&client, &wh, "SELECT l_extendedprice, l_shipdate, l_comment FROM samples.tpch.lineitem LIMIT 1").await;
    let cols = &r.manifest.as_ref().and_then(|m| m.schema.clone()).expect("schema").columns;
    let described: Vec<(String, String)> = cols
        .iter()
        .map(|c| (c.type_name.as_deref().cloned().unwrap_or_default(), c.type_text.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        described,
        [
            ("DECIMAL".to_string(), "DECIMAL(15,2)".to_string()),
            ("DATE".to_string(), "DATE".to_string()),
            ("STRING".to_string(), "STRING".to_string())
        ]
    );
    assert_eq!((cols[0].type_precision, cols[0].type_scale), (Some(15), Some(2)));
    assert_eq!(rows(&r)[0][1].len(), "1996-03-13".len());

    // The in-process entry point other services use.
    let out =
        sandbox.state().sql.run("SELECT n_name FROM nation WHERE n_nationkey = 0", Some("samples"), Some("tpch")).await;
    let out = out.expect("run");
    assert_eq!(out.rows, vec![vec![Some("ALGERIA".to_string())]]);
    assert_eq!((out.columns[0].type_name.as_str(), out.columns[0].type_text.as_str()), ("STRING", "STRING"));
}

#[tokio::test]
async fn show_describe_and_information_schema_speak_databricks() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;

    let r = query(&client, &wh, "SHOW CATALOGS").await;
    assert_eq!(column_names(&r), ["catalog"]);
    let catalogs: Vec<String> = rows(&r).into_iter().map(|r| r[0].clone()).collect();
    assert!(catalogs.contains(&"main".to_string()) && catalogs.contains(&"samples".to_string()), "{catalogs:?}");

    let r = query(&client, &wh, "SHOW SCHEMAS IN samples").await;
    assert_eq!(column_names(&r), ["databaseName"]);
    assert_eq!(rows(&r), vec![vec!["information_schema".to_string()], vec!["tpch".to_string()]]);

    let r = query(&client, &wh, "SHOW TABLES IN samples.tpch").await;
    assert_eq!(column_names(&r), ["database", "tableName", "isTemporary"]);
    let tables: Vec<String> = rows(&r).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(tables, ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]);
    assert_eq!(rows(&r)[0], ["tpch", "customer", "false"]);

    let r = query(&client, &wh, "SHOW TABLES IN samples.tpch LIKE 'part*|nation'").await;
    let tables: Vec<String> = rows(&r).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(tables, ["nation", "part", "partsupp"]);

    let (columns, described) = raw_query(&sandbox, &wh, "DESCRIBE TABLE samples.tpch.lineitem").await;
    assert_eq!(columns, ["col_name", "data_type", "comment"]);
    assert_eq!(described.len(), 16);
    assert_eq!(described[0], [Some("l_orderkey".to_string()), Some("bigint".to_string()), None]);
    assert_eq!(described[4][..2], [Some("l_quantity".to_string()), Some("decimal(15,2)".to_string())]);

    let (_, described) = raw_query(&sandbox, &wh, "DESC EXTENDED samples.tpch.region").await;
    assert!(described.iter().any(|row| row[0].as_deref() == Some("# Detailed Table Information")));

    let (columns, described) = raw_query(&sandbox, &wh, "DESCRIBE SCHEMA samples.tpch").await;
    assert_eq!(columns, ["database_description_item", "database_description_value"]);
    assert_eq!(described[1], [Some("Namespace Name".to_string()), Some("tpch".to_string())]);
    let r = query(&client, &wh, "SHOW COLUMNS IN samples.tpch.region").await;
    assert_eq!(
        rows(&r),
        vec![vec!["r_regionkey".to_string()], vec!["r_name".to_string()], vec!["r_comment".to_string()]]
    );

    // Each catalog's information_schema describes that catalog, with Databricks' types;
    // system.information_schema describes them all.
    let r = query(
        &client,
        &wh,
        "SELECT table_name, table_type FROM samples.information_schema.tables WHERE table_schema = 'tpch' ORDER BY table_name",
    )
    .await;
    assert_eq!(rows(&r).len(), 8);
    assert_eq!(rows(&r)[0], ["customer", "MANAGED"]);
    let r = query(
        &client,
        &wh,
        "SELECT column_name, ordinal_position, full_data_type, data_type, is_nullable FROM system.information_schema.columns WHERE table_catalog = 'samples' AND table_name = 'lineitem' AND column_name IN ('l_orderkey', 'l_tax') ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        rows(&r),
        [["l_orderkey", "0", "bigint", "LONG", "NO"], ["l_tax", "7", "decimal(15,2)", "DECIMAL", "NO"]]
    );
    let r = query(&client, &wh, "SELECT count(*) FROM information_schema.tables WHERE table_catalog <> 'main'").await;
    assert_eq!(rows(&r), [["0"]]);
    let r = query(&client, &wh, "SELECT catalog_name FROM system.information_schema.catalogs ORDER BY 1").await;
    assert_eq!(rows(&r), [["main"], ["samples"], ["system"]]);
    let r = query(&client, &wh, "SELECT current_catalog(), current_schema()").await;
    assert_eq!(rows(&r), vec![vec!["main".to_string(), "default".to_string()]]);

    // A missing table in SHOW/DESCRIBE fails the statement the Databricks way.
    let r = execute(&client, json!({"statement": "DESCRIBE TABLE main.default.nope", "warehouse_id": wh}))
        .await
        .expect("accepted");
    assert_eq!(state(&r), "FAILED");
    let error = r.status.and_then(|s| s.error).expect("error");
    assert!(error.message.expect("message").starts_with("[TABLE_OR_VIEW_NOT_FOUND]"));
}

#[tokio::test]
async fn tables_created_by_sql_appear_in_unity_catalog() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;

    query(
        &client,
        &wh,
        "CREATE TABLE main.default.sales (id INT NOT NULL, item STRING, amount DECIMAL(10,2), sold DATE) USING DELTA COMMENT 'Daily sales' TBLPROPERTIES ('delta.appendOnly' = 'true')",
    )
    .await;
    let r = query(
        &client,
        &wh,
        "INSERT INTO main.default.sales VALUES (1, 'tea', 2.50, DATE '2024-01-02'), (2, 'cake', 4.00, DATE '2024-01-03')",
    )
    .await;
    assert_eq!(column_names(&r), ["num_affected_rows", "num_inserted_rows"]);
    assert_eq!(rows(&r), vec![vec!["2".to_string(), "2".to_string()]]);
    query(
        &client,
        &wh,
        "CREATE TABLE main.default.big_sales AS SELECT id, amount FROM main.default.sales WHERE amount > 3",
    )
    .await;
    let r = query(&client, &wh, "SELECT id, item, amount, sold FROM sales ORDER BY id").await;
    assert_eq!(rows(&r)[0], ["1", "tea", "2.50", "2024-01-02"]);

    let table = client.tables_get().full_name("main.default.sales").send().await.expect("get table").into_inner();
    assert_eq!(table.full_name.as_deref(), Some("main.default.sales"));
    assert_eq!(table.table_type.as_deref().map(String::as_str), Some("MANAGED"));
    assert_eq!(table.data_source_format.as_deref().map(String::as_str), Some("DELTA"));
    assert_eq!(table.comment.as_deref(), Some("Daily sales"));
    let columns: Vec<(String, String, String, i32, bool)> = table
        .columns
        .iter()
        .map(|c| {
            (
                c.name.clone().unwrap_or_default(),
                c.type_text.clone().unwrap_or_default(),
                c.type_name.as_deref().cloned().unwrap_or_default(),
                c.position.unwrap_or(-1),
                c.nullable.unwrap_or(true),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("id".into(), "int".into(), "INT".into(), 0, false),
            ("item".into(), "string".into(), "STRING".into(), 1, true),
            ("amount".into(), "decimal(10,2)".into(), "DECIMAL".into(), 2, true),
            ("sold".into(), "date".into(), "DATE".into(), 3, true),
        ]
    );
    let type_json: Value =
        serde_json::from_str(table.columns[2].type_json.as_deref().expect("type_json")).expect("json");
    assert_eq!(type_json, json!({"name": "amount", "type": "decimal(10,2)", "nullable": true, "metadata": {}}));

    let names: Vec<String> = client
        .tables_list_all(|b| b.catalog_name("main").schema_name("default"))
        .map_ok(|t| t.name.unwrap_or_default())
        .try_collect()
        .await
        .expect("list tables");
    assert_eq!(names, ["big_sales", "sales"]);

    let summaries: Vec<String> = client
        .tables_list_summaries_all(|b| b.catalog_name("main").table_name_pattern("big%"))
        .map_ok(|t| t.full_name.unwrap_or_default())
        .try_collect()
        .await
        .expect("summaries");
    assert_eq!(summaries, ["main.default.big_sales"]);

    // Schemas and catalogs created by SQL, and views.
    query(&client, &wh, "CREATE SCHEMA main.reporting COMMENT 'for reports'").await;
    query(&client, &wh, "CREATE VIEW main.reporting.tea AS SELECT * FROM main.default.sales WHERE item = 'tea'").await;
    let schema = client.schemas_get().full_name("main.reporting").send().await.expect("schema").into_inner();
    assert_eq!(schema.comment.as_deref(), Some("for reports"));
    let view = client.tables_get().full_name("main.reporting.tea").send().await.expect("view").into_inner();
    assert_eq!(view.table_type.as_deref().map(String::as_str), Some("VIEW"));
    assert_eq!(view.view_definition.as_deref(), Some("SELECT * FROM main.default.sales WHERE item = 'tea'"));
    query(&client, &wh, "CREATE CATALOG IF NOT EXISTS analytics").await;
    let schemas: Vec<String> = client
        .schemas_list_all(|b| b.catalog_name("analytics"))
        .map_ok(|s| s.name.unwrap_or_default())
        .try_collect()
        .await
        .expect("schemas");
    assert_eq!(schemas, ["default", "information_schema"]);

    // DROP removes the table from Unity Catalog.
    query(&client, &wh, "DROP TABLE main.default.big_sales").await;
    let err = Error::from(client.tables_get().full_name("main.default.big_sales").send().await.expect_err("gone"));
    let (status, code, message) = api_error(err);
    assert_eq!((status, code.as_str()), (404, "TABLE_DOES_NOT_EXIST"));
    assert_eq!(message, "Table 'main.default.big_sales' does not exist.");

    // The samples catalog is read-only.
    let r = execute(
        &client,
        json!({"statement": "INSERT INTO samples.tpch.region VALUES (9, 'X', 'y')", "warehouse_id": wh}),
    )
    .await
    .expect("accepted");
    assert_eq!(state(&r), "FAILED");
}

#[tokio::test]
async fn named_parameters_are_bound_as_typed_literals() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;

    let r = execute(
        &client,
        json!({
            "statement": "SELECT n_name, ':key' AS literal, n_nationkey::string AS k FROM samples.tpch.nation WHERE n_nationkey = :key AND n_name <> :name",
            "warehouse_id": wh,
            "parameters": [{"name": "key", "value": "7", "type": "INT"}, {"name": "name", "value": "it's"}],
        }),
    )
    .await
    .expect("accepted");
    assert_eq!(state(&r), "SUCCEEDED", "{:?}", r.status);
    assert_eq!(rows(&r), vec![vec!["GERMANY".to_string(), ":key".to_string(), "7".to_string()]]);

    let r = execute(
        &client,
        json!({
            "statement": "SELECT :d + INTERVAL '1' DAY AS next_day, :price * 2 AS doubled",
            "warehouse_id": wh,
            "parameters": [{"name": "d", "value": "2024-02-28", "type": "DATE"}, {"name": "price", "value": "1.25", "type": "DECIMAL(10,2)"}],
        }),
    )
    .await
    .expect("accepted");
    assert_eq!(state(&r), "SUCCEEDED", "{:?}", r.status);
    assert_eq!(rows(&r)[0][0], "2024-02-29");

    let r = execute(&client, json!({"statement": "SELECT :missing", "warehouse_id": wh})).await.expect("accepted");
    assert_eq!(state(&r), "FAILED");
    let error = r.status.and_then(|s| s.error).expect("error");
    assert!(error.message.as_deref().is_some_and(|m| m.starts_with("[UNBOUND_SQL_PARAMETER]")), "{error:?}");
}

#[tokio::test]
async fn zero_wait_returns_at_once_and_polling_reaches_succeeded() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;

    let r = execute(
        &client,
        json!({"statement": "SELECT sandbox_sleep(200) AS slept", "warehouse_id": wh, "wait_timeout": "0s"}),
    )
    .await
    .expect("accepted");
    let id = r.statement_id.clone().expect("statement_id");
    assert!(["PENDING", "RUNNING"].contains(&state(&r).as_str()), "{}", state(&r));
    assert!(r.manifest.is_none() && r.result.is_none());

    let done = wait::statement_done(&client, &id, &fast_wait()).await.expect("finishes");
    assert_eq!(rows(&done), vec![vec!["200".to_string()]]);
    // Finished results stay available.
    let again = client.statement_execution_get_statement().statement_id(&id).send().await.expect("get");
    assert_eq!(state(&again), "SUCCEEDED");
}

#[tokio::test]
async fn a_running_statement_can_be_cancelled() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;

    let r =
        execute(&client, json!({"statement": "SELECT sandbox_sleep(60000)", "warehouse_id": wh, "wait_timeout": "0s"}))
            .await
            .expect("accepted");
    let id = r.statement_id.clone().expect("id");
    poll_until(&client, &id, |s| s == "RUNNING").await;
    client.statement_execution_cancel().statement_id(&id).send().await.expect("cancel");
    let r = poll_until(&client, &id, |s| s != "RUNNING").await;
    assert_eq!(state(&r), "CANCELED");
    assert!(r.result.is_none());
    // Cancelling again (or a finished statement) is a no-op.
    client.statement_execution_cancel().statement_id(&id).send().await.expect("cancel again");

    // The engine is free again.
    let r = query(&client, &wh, "SELECT 1 AS one").await;
    assert_eq!(rows(&r), vec![vec!["1".to_string()]]);
}

#[tokio::test]
async fn on_wait_timeout_cancel_cancels_a_slow_statement() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;
    let r = execute(
        &client,
        json!({"statement": "SELECT sandbox_sleep(60000)", "warehouse_id": wh, "wait_timeout": "5s", "on_wait_timeout": "CANCEL"}),
    )
    .await
    .expect("accepted");
    assert_eq!(state(&r), "CANCELED");

    // CONTINUE (the default) leaves it running for polling.
    let r =
        execute(&client, json!({"statement": "SELECT sandbox_sleep(60000)", "warehouse_id": wh, "wait_timeout": "5s"}))
            .await
            .expect("accepted");
    assert_eq!(state(&r), "RUNNING");
    let id = r.statement_id.expect("id");
    client.statement_execution_cancel().statement_id(&id).send().await.expect("cancel");
}

#[tokio::test]
async fn big_results_come_in_chunks_and_limits_truncate() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;

    let count = query(&client, &wh, "SELECT count(*) FROM samples.tpch.lineitem").await;
    let expected: i64 = rows(&count)[0][0].parse().expect("count");
    assert!(expected > 4096, "lineitem has {expected} rows");

    let r = query(
        &client,
        &wh,
        "SELECT l_orderkey, l_linenumber FROM samples.tpch.lineitem ORDER BY l_orderkey, l_linenumber",
    )
    .await;
    let id = r.statement_id.clone().expect("id");
    let manifest = r.manifest.clone().expect("manifest");
    let chunk_count = manifest.total_chunk_count.expect("chunks");
    assert!(chunk_count >= 2, "{chunk_count} chunks");
    assert_eq!(manifest.chunks.len() as i64, chunk_count);
    assert_eq!(manifest.total_row_count, Some(expected));
    assert!(manifest.total_byte_count.unwrap_or(0) > 0);

    let first = r.result.clone().expect("first chunk");
    assert_eq!((first.chunk_index, first.row_offset), (Some(0), Some(0)));
    let mut total = first.data_array.len() as i64;
    let mut next = first.next_chunk_index;
    assert_eq!(first.next_chunk_internal_link, Some(format!("/api/2.0/sql/statements/{id}/result/chunks/1")));
    let mut last_offset = 0;
    while let Some(index) = next {
        let chunk = client
            .statement_execution_get_result_chunk()
            .statement_id(&id)
            .chunk_index(index)
            .send()
            .await
            .expect("chunk")
            .into_inner();
        assert_eq!(chunk.chunk_index, Some(index));
        assert_eq!(chunk.row_offset, Some(total));
        last_offset = total;
        total += chunk.data_array.len() as i64;
        next = chunk.next_chunk_index;
    }
    assert!(last_offset > 0);
    assert_eq!(total, expected);

    // A chunk past the end is refused.
    let err = Error::from(
        client
            .statement_execution_get_result_chunk()
            .statement_id(&id)
            .chunk_index(chunk_count)
            .send()
            .await
            .expect_err("range"),
    );
    assert_eq!(api_error(err).0, 400);

    // row_limit and byte_limit truncate and say so.
    let r = execute(
        &client,
        json!({"statement": "SELECT * FROM samples.tpch.nation", "warehouse_id": wh, "row_limit": 10}),
    )
    .await
    .expect("accepted");
    assert_eq!(rows(&r).len(), 10);
    assert_eq!(r.manifest.as_ref().and_then(|m| m.truncated), Some(true));
    assert_eq!(r.manifest.as_ref().and_then(|m| m.total_row_count), Some(10));
    let r = execute(
        &client,
        json!({"statement": "SELECT * FROM samples.tpch.nation", "warehouse_id": wh, "row_limit": 25}),
    )
    .await
    .expect("accepted");
    assert_eq!(r.manifest.as_ref().and_then(|m| m.truncated), Some(false));
    let r = execute(
        &client,
        json!({"statement": "SELECT * FROM samples.tpch.nation", "warehouse_id": wh, "byte_limit": 500}),
    )
    .await
    .expect("accepted");
    let kept = rows(&r).len();
    assert!(kept > 0 && kept < 25, "{kept}");
    assert_eq!(r.manifest.as_ref().and_then(|m| m.truncated), Some(true));
}

#[tokio::test]
async fn arrow_stream_results_arrive_as_ipc_attachments() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;
    let (status, body) = raw(
        &sandbox,
        reqwest::Method::POST,
        "/api/2.0/sql/statements",
        Some(json!({"statement": "SELECT n_nationkey, n_name FROM samples.tpch.nation ORDER BY n_nationkey", "warehouse_id": wh, "format": "ARROW_STREAM"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"]["state"], "SUCCEEDED");
    assert_eq!(body["manifest"]["format"], "ARROW_STREAM");
    assert!(body["result"].get("data_array").is_none());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body["result"]["attachment"].as_str().expect("attachment"))
        .expect("base64");
    assert_eq!(body["result"]["byte_count"], json!(bytes.len()));
    let reader =
        datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).expect("IPC stream");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 25);
    assert_eq!(batches[0].schema().field(1).name(), "n_name");
}

#[tokio::test]
async fn failures_are_http_200_with_state_failed() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;
    let (status, body) = raw(
        &sandbox,
        reqwest::Method::POST,
        "/api/2.0/sql/statements",
        Some(json!({"statement": "SELECT * FROM main.default.missing", "warehouse_id": wh})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"]["state"], "FAILED");
    assert_eq!(body["status"]["error"]["error_code"], "BAD_REQUEST");
    let message = body["status"]["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("[TABLE_OR_VIEW_NOT_FOUND]"), "{message}");
    assert!(message.contains("`main`.`default`.`missing`"), "{message}");
    assert_eq!(body["status"]["sql_state"], "42P01");
    assert!(body.get("manifest").is_none());

    for (sql, class) in [
        ("SELEC 1", "[PARSE_SYNTAX_ERROR]"),
        ("SELECT nope FROM samples.tpch.region", "[UNRESOLVED_COLUMN"),
        ("SELECT no_such_function(1)", "[UNRESOLVED_ROUTINE]"),
    ] {
        let r = execute(&client, json!({"statement": sql, "warehouse_id": wh})).await.expect("accepted");
        assert_eq!(state(&r), "FAILED", "{sql}");
        let message = r.status.and_then(|s| s.error).and_then(|e| e.message).unwrap_or_default();
        assert!(message.starts_with(class), "{sql}: {message}");
    }

    // INLINE results over 25 MiB fail the statement; byte_limit truncates instead.
    let big = "SELECT repeat('x', 100000) AS big FROM range(300)";
    let r = execute(&client, json!({"statement": big, "warehouse_id": wh})).await.expect("accepted");
    assert_eq!(state(&r), "FAILED");
    let message = r.status.and_then(|s| s.error).and_then(|e| e.message).unwrap_or_default();
    assert!(message.contains("25 MiB"), "{message}");
    let r = execute(&client, json!({"statement": big, "warehouse_id": wh, "byte_limit": 1_000_000})).await.expect("ok");
    assert_eq!(state(&r), "SUCCEEDED");
    assert_eq!(r.manifest.as_ref().and_then(|m| m.truncated), Some(true));
    assert_eq!(r.manifest.as_ref().and_then(|m| m.total_row_count), Some(9));

    // An unknown catalog given with the statement.
    let r =
        execute(&client, json!({"statement": "SELECT 1", "warehouse_id": wh, "catalog": "nope"})).await.expect("ok");
    assert_eq!(state(&r), "FAILED");

    // NULLs arrive as JSON null.
    let (_, body) = raw(
        &sandbox,
        reqwest::Method::POST,
        "/api/2.0/sql/statements",
        Some(json!({"statement": "SELECT NULL AS nothing, 'x' AS something", "warehouse_id": wh})),
    )
    .await;
    assert_eq!(body["result"]["data_array"], json!([[null, "x"]]));
}

#[tokio::test]
async fn bad_requests_are_refused_with_databricks_codes() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;
    let post = |body: Value| raw(&sandbox, reqwest::Method::POST, "/api/2.0/sql/statements", Some(body));

    for wait in ["3s", "51s", "10", "abc", "-1s"] {
        let (status, body) = post(json!({"statement": "SELECT 1", "warehouse_id": wh, "wait_timeout": wait})).await;
        assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{wait}");
    }
    let (status, body) = post(json!({"statement": "SELECT 1"})).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    assert!(body["message"].as_str().unwrap_or_default().contains("warehouse_id"));
    let (status, _) = post(json!({"warehouse_id": wh})).await;
    assert_eq!(status, 400);
    let (status, body) = post(json!({"statement": "SELECT 1", "warehouse_id": "0000000000000000"})).await;
    assert_eq!((status, body["error_code"].as_str()), (404, Some("RESOURCE_DOES_NOT_EXIST")));
    let (status, body) =
        post(json!({"statement": "SELECT 1", "warehouse_id": wh, "disposition": "EXTERNAL_LINKS"})).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    assert!(body["message"].as_str().unwrap_or_default().contains("INLINE"));
    let (status, _) = post(json!({"statement": "SELECT 1", "warehouse_id": wh, "on_wait_timeout": "WAIT"})).await;
    assert_eq!(status, 400);
    let (status, _) = post(json!({"statement": "SELECT 1", "warehouse_id": wh, "row_limit": -1})).await;
    assert_eq!(status, 400);
    let (status, body) = post(json!({"statement": 5, "warehouse_id": wh})).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));

    let err = Error::from(
        client.statement_execution_get_statement().statement_id("no-such-statement").send().await.expect_err("404"),
    );
    assert_eq!(api_error(err).0, 404);
    let (status, _) = raw(&sandbox, reqwest::Method::POST, "/api/2.0/sql/statements/nope/cancel", None).await;
    assert_eq!(status, 404);
    let (status, _) = raw(&sandbox, reqwest::Method::GET, "/api/2.0/sql/statements/nope/result/chunks/x", None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn warehouses_start_and_stop_and_statements_wake_them() {
    let sandbox = start(SandboxOptions { transition_delay: Duration::from_millis(200), ..options() }).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;

    let got = client.warehouses_get().id(&wh).send().await.expect("get").into_inner();
    assert_eq!(got.state.as_deref().map(String::as_str), Some("RUNNING"));
    assert_eq!(got.num_clusters, Some(1));
    assert_eq!(got.odbc_params.as_ref().and_then(|p| p.path.clone()), Some(format!("/sql/1.0/warehouses/{wh}")));
    assert!(got.name.is_some() && got.cluster_size.is_some() && got.creator_name.is_some());

    client.warehouses_stop().id(&wh).send().await.expect("stop");
    let now = client.warehouses_get().id(&wh).send().await.expect("get").into_inner();
    assert_eq!(now.state.as_deref().map(String::as_str), Some("STOPPING"));
    let stopped = wait::warehouse_stopped(&client, &wh, &fast_wait()).await.expect("stops");
    assert_eq!(stopped.num_clusters, Some(0));

    // A statement on a stopped warehouse starts it and waits in PENDING.
    let r = execute(&client, json!({"statement": "SELECT 42", "warehouse_id": wh, "wait_timeout": "0s"}))
        .await
        .expect("ok");
    assert_eq!(state(&r), "PENDING");
    let starting = client.warehouses_get().id(&wh).send().await.expect("get").into_inner();
    assert_eq!(starting.state.as_deref().map(String::as_str), Some("STARTING"));
    let done = wait::statement_done(&client, r.statement_id.as_deref().expect("id"), &fast_wait()).await.expect("runs");
    assert_eq!(rows(&done), vec![vec!["42".to_string()]]);

    // Stopping a warehouse cancels what runs on it.
    let r =
        execute(&client, json!({"statement": "SELECT sandbox_sleep(60000)", "warehouse_id": wh, "wait_timeout": "0s"}))
            .await
            .expect("accepted");
    let id = r.statement_id.expect("id");
    poll_until(&client, &id, |s| s == "RUNNING").await;
    client.warehouses_stop().id(&wh).send().await.expect("stop");
    let r = client.statement_execution_get_statement().statement_id(&id).send().await.expect("get");
    assert_eq!(state(&r), "CANCELED");
    wait::warehouse_stopped(&client, &wh, &fast_wait()).await.expect("stops");
    client.warehouses_start().id(&wh).send().await.expect("start");
    let running = wait::warehouse_running(&client, &wh, &fast_wait()).await.expect("starts");
    assert_eq!(running.state.as_deref().map(String::as_str), Some("RUNNING"));

    let all: Vec<types::EndpointInfo> =
        client.warehouses_list_all(|b| b.page_size(1)).try_collect().await.expect("list");
    assert_eq!(all.len(), 1);

    for call in ["get", "start", "stop"] {
        let result = match call {
            "get" => client.warehouses_get().id("nope").send().await.map(|_| ()),
            "start" => client.warehouses_start().id("nope").send().await.map(|_| ()),
            _ => client.warehouses_stop().id("nope").send().await.map(|_| ()),
        };
        let (status, code, _) = api_error(Error::from(result.expect_err("unknown")));
        assert_eq!((status, code.as_str()), (404, "RESOURCE_DOES_NOT_EXIST"), "{call}");
    }
}

#[tokio::test]
async fn unity_catalog_pages_and_reports_missing_objects() {
    let sandbox = start(options()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;
    for i in 0..12 {
        query(&client, &wh, &format!("CREATE TABLE main.default.t{i:02} (x INT)")).await;
    }

    // The client's streams follow the tokens, including an empty first page.
    let catalogs: Vec<String> =
        client.catalogs_list_all(|b| b).map_ok(|c| c.name.unwrap_or_default()).try_collect().await.expect("catalogs");
    assert_eq!(catalogs, ["main", "samples", "system"]);
    let first = client.catalogs_list().max_results(0).send().await.expect("page").into_inner();
    assert!(first.catalogs.is_empty() && first.next_page_token.is_some());

    let tables: Vec<String> = client
        .tables_list_all(|b| b.catalog_name("main").schema_name("default"))
        .map_ok(|t| t.name.unwrap_or_default())
        .try_collect()
        .await
        .expect("tables");
    assert_eq!(tables.len(), 12);
    assert_eq!(tables[0], "t00");
    let page =
        client.tables_list().catalog_name("main").schema_name("default").max_results(5).send().await.expect("page");
    assert_eq!(page.tables.len(), 5);
    let next = page.next_page_token.clone().expect("more");
    let page2 = client
        .tables_list()
        .catalog_name("main")
        .schema_name("default")
        .max_results(5)
        .page_token(next)
        .send()
        .await
        .expect("page 2");
    assert_eq!(page2.tables[0].name.as_deref(), Some("t05"));
    assert_eq!(page2.tables[0].columns.len(), 1);

    let tpch: Vec<String> = client
        .tables_list_all(|b| b.catalog_name("samples").schema_name("tpch"))
        .map_ok(|t| t.name.unwrap_or_default())
        .try_collect()
        .await
        .expect("tpch tables");
    assert_eq!(tpch.len(), 8);
    let lineitem = client.tables_get().full_name("samples.tpch.lineitem").send().await.expect("lineitem");
    assert_eq!(lineitem.columns.len(), 16);

    let catalog = client.catalogs_get().name("main").send().await.expect("catalog");
    assert_eq!(catalog.catalog_type.as_deref().map(String::as_str), Some("MANAGED_CATALOG"));
    let volumes: Vec<String> = client
        .volumes_list_all(|b| b.catalog_name("main").schema_name("default"))
        .map_ok(|v| v.full_name.unwrap_or_default())
        .try_collect()
        .await
        .expect("volumes");
    assert_eq!(volumes, ["main.default.files"]);
    let volume = client.volumes_get().name("main.default.files").send().await.expect("volume");
    assert_eq!(volume.volume_type.as_deref().map(String::as_str), Some("MANAGED"));

    let missing = [
        ("/api/2.1/unity-catalog/catalogs/nope", 404, "CATALOG_DOES_NOT_EXIST", "Catalog 'nope' does not exist."),
        (
            "/api/2.1/unity-catalog/schemas/main.nope",
            404,
            "SCHEMA_DOES_NOT_EXIST",
            "Schema 'main.nope' does not exist.",
        ),
        (
            "/api/2.1/unity-catalog/schemas?catalog_name=nope",
            404,
            "CATALOG_DOES_NOT_EXIST",
            "Catalog 'nope' does not exist.",
        ),
        (
            "/api/2.1/unity-catalog/tables/main.default.nope",
            404,
            "TABLE_DOES_NOT_EXIST",
            "Table 'main.default.nope' does not exist.",
        ),
        (
            "/api/2.1/unity-catalog/tables?catalog_name=main&schema_name=nope",
            404,
            "SCHEMA_DOES_NOT_EXIST",
            "Schema 'main.nope' does not exist.",
        ),
        (
            "/api/2.1/unity-catalog/volumes/main.default.nope",
            404,
            "NOT_FOUND",
            "Volume 'main.default.nope' does not exist.",
        ),
    ];
    for (path, status, code, message) in missing {
        let (got, body) = raw(&sandbox, reqwest::Method::GET, path, None).await;
        assert_eq!(
            (got, body["error_code"].as_str(), body["message"].as_str()),
            (status, Some(code), Some(message)),
            "{path}"
        );
    }
    for path in [
        "/api/2.1/unity-catalog/tables?catalog_name=main",
        "/api/2.1/unity-catalog/schemas",
        "/api/2.1/unity-catalog/tables/main.default",
        "/api/2.1/unity-catalog/catalogs?max_results=-1",
        "/api/2.1/unity-catalog/catalogs?page_token=garbage",
    ] {
        let (got, body) = raw(&sandbox, reqwest::Method::GET, path, None).await;
        assert_eq!((got, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{path}");
    }
}

#[tokio::test]
async fn user_tables_and_warehouse_state_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with_dir = || SandboxOptions { data_dir: Some(dir.path().to_path_buf()), ..options() };

    let sandbox = start(with_dir()).await;
    let client = client_for(&sandbox);
    let wh = warehouse_id(&client).await;
    query(&client, &wh, "CREATE TABLE main.default.kept (id BIGINT, label STRING, price DECIMAL(8,2))").await;
    query(&client, &wh, "INSERT INTO main.default.kept VALUES (1, 'one', 1.10), (2, NULL, 2.20)").await;
    query(&client, &wh, "INSERT INTO kept VALUES (3, 'three', 3.30)").await;
    query(&client, &wh, "CREATE SCHEMA main.empty_schema").await;
    query(&client, &wh, "CREATE VIEW main.default.kept_view AS SELECT id FROM main.default.kept WHERE id > 1").await;
    query(&client, &wh, "CREATE TABLE main.default.dropped AS SELECT 1 AS x").await;
    query(&client, &wh, "DROP TABLE main.default.dropped").await;
    client.warehouses_stop().id(&wh).send().await.expect("stop");
    wait::warehouse_stopped(&client, &wh, &fast_wait()).await.expect("stopped");
    let created_at = client.tables_get().full_name("main.default.kept").send().await.expect("table").created_at;
    assert!(dir.path().join("tables/main/default/kept.parquet").exists());
    sandbox.shutdown().await;

    let sandbox = start(with_dir()).await;
    let client = client_for(&sandbox);
    let all: Vec<types::EndpointInfo> = client.warehouses_list_all(|b| b).try_collect().await.expect("list");
    assert_eq!(all.len(), 1, "no second warehouse is seeded");
    assert_eq!(all[0].id.as_deref(), Some(wh.as_str()));
    assert_eq!(all[0].state.as_deref().map(String::as_str), Some("STOPPED"));

    let out =
        sandbox.state().sql.run("SELECT id, label, price FROM kept ORDER BY id", None, None).await.expect("query");
    assert_eq!(
        out.rows,
        vec![
            vec![Some("1".into()), Some("one".into()), Some("1.10".into())],
            vec![Some("2".into()), None, Some("2.20".into())],
            vec![Some("3".into()), Some("three".into()), Some("3.30".into())],
        ]
    );
    let table = client.tables_get().full_name("main.default.kept").send().await.expect("table");
    assert_eq!(table.created_at, created_at);
    assert_eq!(table.columns[2].type_text.as_deref(), Some("decimal(8,2)"));
    client.schemas_get().full_name("main.empty_schema").send().await.expect("schema kept");
    let view = sandbox.state().sql.run("SELECT count(*) FROM main.default.kept_view", None, None).await.expect("view");
    assert_eq!(view.rows, vec![vec![Some("2".into())]]);
    let err = sandbox.state().sql.run("SELECT * FROM main.default.dropped", None, None).await.expect_err("dropped");
    assert!(err.message.starts_with("[TABLE_OR_VIEW_NOT_FOUND]"), "{}", err.message);

    // A statement on the stopped warehouse starts it again.
    let r = query(&client, &wh, "SELECT count(*) FROM main.default.kept").await;
    assert_eq!(rows(&r), vec![vec!["3".to_string()]]);
    sandbox.shutdown().await;
}
