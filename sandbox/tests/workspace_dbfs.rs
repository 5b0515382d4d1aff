//! The Workspace and DBFS APIs of the sandbox, driven over real HTTP with the generated
//! client (and raw reqwest where the typed client cannot express a request).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use databricks_client::{Client, Config, types};
use databricks_sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

const USER: &str = databricks_sandbox::identity::USER_NAME;
const MB: usize = 1024 * 1024;

async fn start(data_dir: Option<PathBuf>) -> Sandbox {
    let options = SandboxOptions {
        data_dir,
        transition_delay: Duration::ZERO,
        tpch_scale: 0.001,
        seed: false,
        ..Default::default()
    };
    Sandbox::start("127.0.0.1:0".parse().expect("address"), options).await.expect("sandbox starts")
}

fn client(sandbox: &Sandbox) -> Client {
    Client::from_config(Config::new().with_host(sandbox.url()).with_token("t")).expect("client")
}

/// The API error of a call that must fail.
fn api_err<T: std::fmt::Debug, E>(result: Result<T, E>) -> databricks_client::ApiError
where
    databricks_client::Error: From<E>,
{
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => match databricks_client::Error::from(e) {
            databricks_client::Error::Api(api) => api,
            other => panic!("expected an API error, got {other}"),
        },
    }
}

fn assert_code<T: std::fmt::Debug, E>(result: Result<T, E>, status: u16, code: &str) -> databricks_client::ApiError
where
    databricks_client::Error: From<E>,
{
    let err = api_err(result);
    assert_eq!((err.status, err.error_code.as_deref()), (status, Some(code)), "{err}");
    err
}

fn import_body(value: Value) -> types::WorkspaceImportBody {
    serde_json::from_value(value).expect("import body")
}

async fn import(c: &Client, path: &str, content: &[u8], format: &str, language: Option<&str>) {
    let mut body = json!({"path": path, "content": B64.encode(content), "format": format});
    if let Some(l) = language {
        body["language"] = json!(l);
    }
    c.workspace_import().body(import_body(body)).send().await.expect("import succeeds");
}

async fn export(c: &Client, path: &str, format: &str) -> (Vec<u8>, Option<String>) {
    let out = c
        .workspace_export()
        .path(path)
        .format(types::ExportFormat(format.to_string()))
        .send()
        .await
        .expect("export succeeds")
        .into_inner();
    let bytes = B64.decode(out.content.expect("content")).expect("base64 content");
    (bytes, out.file_type)
}

async fn status(c: &Client, path: &str) -> types::ObjectInfo {
    c.workspace_get_status().path(path).send().await.expect("get-status succeeds").into_inner()
}

async fn list_paths(c: &Client, path: &str) -> Vec<String> {
    let out = c.workspace_list().path(path).send().await.expect("list succeeds").into_inner();
    out.objects.into_iter().map(|o| o.path.expect("path")).collect()
}

fn kind(info: &types::ObjectInfo) -> &str {
    info.object_type.as_ref().map(|t| t.0.as_str()).unwrap_or("")
}

/// POST a raw body; the status and JSON answer.
async fn raw_post(sandbox: &Sandbox, path: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", sandbox.url()))
        .bearer_auth("t")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn raw_get(sandbox: &Sandbox, path_and_query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path_and_query}", sandbox.url()))
        .bearer_auth("t")
        .send()
        .await
        .expect("request sent")
}

fn code_of(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error_code"].as_str().unwrap_or(""))
}

// ---------------------------------------------------------------- workspace

#[tokio::test]
async fn builtin_folders_exist_and_missing_paths_are_404() {
    let sandbox = start(None).await;
    let c = client(&sandbox);

    assert_eq!(list_paths(&c, "/").await, vec!["/Shared".to_string(), "/Users".to_string()]);
    assert_eq!(list_paths(&c, "/Users").await, vec![format!("/Users/{USER}")]);
    let home = status(&c, &format!("/Users/{USER}")).await;
    assert_eq!(kind(&home), "DIRECTORY");
    assert!(home.object_id.is_some_and(|id| id > 0));
    assert_eq!(home.resource_id, home.object_id.map(|id| id.to_string()));
    let root = status(&c, "/").await;
    assert_eq!((kind(&root), root.object_id), ("DIRECTORY", Some(0)));
    // The workspace file system prefix names the same tree.
    assert_eq!(status(&c, "/Workspace/Shared").await.object_id, status(&c, "/Shared").await.object_id);
    // An empty folder lists as an empty object.
    let empty = raw_get(&sandbox, "/api/2.0/workspace/list?path=/Shared").await;
    assert_eq!(empty.json::<Value>().await.expect("json"), json!({}));

    let err = assert_code(c.workspace_get_status().path("/nope").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(err.message, "Path (/nope) doesn't exist.");
    assert_code(c.workspace_list().path("/Shared/nope").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_code(c.workspace_export().path("/nope").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    let answer = raw_post(&sandbox, "/api/2.0/workspace/delete", r#"{"path": "/Shared/nope"}"#).await;
    assert_eq!(code_of(&answer), (404, "RESOURCE_DOES_NOT_EXIST"));
    // Databricks lists a folder's children under `objects`, as its own SDKs read them.
    let listing = raw_get(&sandbox, "/api/2.0/workspace/list?path=/").await.json::<Value>().await.expect("json");
    assert!(listing["objects"].as_array().is_some_and(|o| !o.is_empty()), "{listing}");
    assert!(listing.get("items").is_none());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn source_notebooks_round_trip_and_language_is_required() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    let text = "# Databricks notebook source\nprint(1)\n\n# COMMAND ----------\n\n# MAGIC %md\n# MAGIC # Title\n\n# COMMAND ----------\n\nprint(2)";
    import(&c, "/Shared/nb", text.as_bytes(), "SOURCE", Some("PYTHON")).await;
    let (bytes, file_type) = export(&c, "/Shared/nb", "SOURCE").await;
    assert_eq!(String::from_utf8(bytes).expect("utf-8"), text);
    assert_eq!(file_type.as_deref(), Some("py"));
    // SOURCE is the default format.
    let default = c.workspace_export().path("/Shared/nb").send().await.expect("export").into_inner();
    assert_eq!(B64.decode(default.content.expect("content")).expect("b64"), text.as_bytes());
    let info = status(&c, "/Shared/nb").await;
    assert_eq!((kind(&info), info.language.as_ref().map(|l| l.0.as_str())), ("NOTEBOOK", Some("PYTHON")));
    assert!(info.created_at.is_some() && info.modified_at.is_some());

    // Plain SQL without a header gains one on export; read_notebook gives the same text.
    import(&c, "/Shared/query", b"SELECT 1 AS one;\n", "SOURCE", Some("SQL")).await;
    let (sql, file_type) = export(&c, "/Shared/query", "SOURCE").await;
    assert_eq!(String::from_utf8(sql).expect("utf-8"), "-- Databricks notebook source\nSELECT 1 AS one;");
    assert_eq!(file_type.as_deref(), Some("sql"));
    let read = databricks_sandbox::workspace::read_notebook(sandbox.state(), "/Shared/query");
    assert_eq!(read, Some(("SQL".to_string(), "-- Databricks notebook source\nSELECT 1 AS one;".to_string())));
    assert_eq!(
        databricks_sandbox::workspace::read_notebook(sandbox.state(), "/Workspace/Shared/query").map(|r| r.0),
        Some("SQL".to_string())
    );
    assert_eq!(databricks_sandbox::workspace::read_notebook(sandbox.state(), "/Shared"), None);
    assert_eq!(databricks_sandbox::workspace::read_notebook(sandbox.state(), "/Shared/missing"), None);
    assert_eq!(databricks_sandbox::workspace::read_notebook(sandbox.state(), "../etc"), None);

    // SOURCE needs a language; languages and formats are checked.
    let body = import_body(json!({"path": "/Shared/x", "content": B64.encode("x = 1"), "format": "SOURCE"}));
    let err = assert_code(c.workspace_import().body(body).send().await, 400, "INVALID_PARAMETER_VALUE");
    assert!(err.message.contains("language"), "{}", err.message);
    let body = import_body(json!({"path": "/Shared/x", "content": B64.encode("x = 1")}));
    assert_code(c.workspace_import().body(body).send().await, 400, "INVALID_PARAMETER_VALUE");
    let body = import_body(json!({"path": "/Shared/x", "content": "eA==", "language": "python"}));
    assert_code(c.workspace_import().body(body).send().await, 400, "INVALID_PARAMETER_VALUE");
    let body = import_body(json!({"path": "/Shared/x", "content": "eA==", "format": "TEXT", "language": "SQL"}));
    assert_code(c.workspace_import().body(body).send().await, 400, "INVALID_PARAMETER_VALUE");
    let body = import_body(json!({"path": "/Shared/x", "content": "eA==", "format": "DBC"}));
    assert_code(c.workspace_import().body(body).send().await, 400, "INVALID_PARAMETER_VALUE");
    let body = import_body(json!({"path": "Shared/x", "content": "eA==", "language": "SQL"}));
    assert_code(c.workspace_import().body(body).send().await, 400, "INVALID_PARAMETER_VALUE");
    let export_bad = c.workspace_export().path("/Shared/nb").format(types::ExportFormat("source".into())).send().await;
    assert_code(export_bad, 400, "INVALID_PARAMETER_VALUE");
    assert_code(c.workspace_get_status().path("/Shared/x").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn jupyter_html_and_direct_download_exports() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    let ipynb = json!({
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Sales\n", "by <region>"]},
            {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [], "source": "df = spark.table('x')\ndisplay(df)"},
        ],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    });
    import(&c, "/Shared/sales", ipynb.to_string().as_bytes(), "JUPYTER", None).await;
    let info = status(&c, "/Shared/sales").await;
    assert_eq!((kind(&info), info.language.as_ref().map(|l| l.0.as_str())), ("NOTEBOOK", Some("PYTHON")));

    let (source, _) = export(&c, "/Shared/sales", "SOURCE").await;
    assert_eq!(
        String::from_utf8(source.clone()).expect("utf-8"),
        "# Databricks notebook source\n# MAGIC %md\n# MAGIC # Sales\n# MAGIC by <region>\n\n# COMMAND ----------\n\ndf = spark.table('x')\ndisplay(df)"
    );
    let (jupyter, file_type) = export(&c, "/Shared/sales", "JUPYTER").await;
    assert_eq!(file_type.as_deref(), Some("ipynb"));
    let doc: Value = serde_json::from_slice(&jupyter).expect("ipynb is JSON");
    assert_eq!(doc["nbformat"], 4);
    assert_eq!(doc["cells"][0]["cell_type"], "markdown");
    assert_eq!(doc["cells"][0]["source"], json!(["# Sales\n", "by <region>"]));
    assert_eq!(doc["cells"][1]["cell_type"], "code");
    assert_eq!(doc["cells"][1]["source"], json!(["df = spark.table('x')\n", "display(df)"]));
    // The exported document imports back to the same notebook.
    import(&c, "/Shared/sales-copy", &jupyter, "JUPYTER", None).await;
    assert_eq!(export(&c, "/Shared/sales-copy", "SOURCE").await.0, source);
    // A SQL notebook keeps its language through Jupyter.
    import(&c, "/Shared/q", b"SELECT 1", "SOURCE", Some("SQL")).await;
    import(&c, "/Shared/q2", &export(&c, "/Shared/q", "JUPYTER").await.0, "JUPYTER", None).await;
    assert_eq!(status(&c, "/Shared/q2").await.language.map(|l| l.0), Some("SQL".to_string()));
    let bad = import_body(json!({"path": "/Shared/bad", "content": B64.encode("{\"cells\": 3}"), "format": "JUPYTER"}));
    assert_code(c.workspace_import().body(bad).send().await, 400, "INVALID_PARAMETER_VALUE");

    let (html, file_type) = export(&c, "/Shared/sales", "HTML").await;
    let html = String::from_utf8(html).expect("utf-8");
    assert_eq!(file_type.as_deref(), Some("html"));
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("by &lt;region&gt;"), "{html}");
    let rmd = c.workspace_export().path("/Shared/sales").format(types::ExportFormat("R_MARKDOWN".into())).send().await;
    assert_code(rmd, 400, "INVALID_PARAMETER_VALUE");
    import(&c, "/Shared/r", b"x <- 1", "SOURCE", Some("R")).await;
    let (rmd, file_type) = export(&c, "/Shared/r", "R_MARKDOWN").await;
    assert_eq!(
        (String::from_utf8(rmd).expect("utf-8").as_str(), file_type.as_deref()),
        ("```{r}\nx <- 1\n```\n", Some("Rmd"))
    );

    // direct_download answers the raw bytes.
    let response =
        raw_get(&sandbox, "/api/2.0/workspace/export?path=/Shared/sales&format=SOURCE&direct_download=true").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("body").to_vec(), source);
    // Folders do not export as archives here.
    assert_code(c.workspace_export().path("/Shared").send().await, 400, "INVALID_PARAMETER_VALUE");
    let html_dir = c.workspace_export().path("/Shared").format(types::ExportFormat("HTML".into())).send().await;
    assert_code(html_dir, 400, "INVALID_PARAMETER_VALUE");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn auto_import_detects_notebooks_and_files() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    import(&c, "/Shared/etl.py", b"# Databricks notebook source\nprint('etl')", "AUTO", None).await;
    import(&c, "/Shared/report.sql", b"-- Databricks notebook source\nSELECT 2", "AUTO", None).await;
    import(&c, "/Shared/job.scala", b"// Databricks notebook source\nval x = 1", "AUTO", None).await;
    import(&c, "/Shared/stats.r", b"# Databricks notebook source\nsummary(x)", "AUTO", None).await;
    let nb = json!({"cells": [{"cell_type": "code", "source": "1 + 1"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 0});
    import(&c, "/Shared/scratch.ipynb", nb.to_string().as_bytes(), "AUTO", None).await;
    import(&c, "/Shared/util.py", b"def f():\n    return 1\n", "AUTO", None).await;
    import(&c, "/Shared/README.txt", b"hello", "AUTO", None).await;
    import(&c, "/Shared/raw.py", b"# Databricks notebook source\nprint(3)", "RAW", None).await;

    let mut seen = Vec::new();
    for info in c.workspace_list().path("/Shared").send().await.expect("list").into_inner().objects {
        seen.push((info.path.clone().expect("path"), kind(&info).to_string(), info.language.map(|l| l.0), info.size));
    }
    let n = |p: &str, l: &str| (p.to_string(), "NOTEBOOK".to_string(), Some(l.to_string()), None);
    let f = |p: &str, size: i64| (p.to_string(), "FILE".to_string(), None, Some(size));
    assert_eq!(
        seen,
        vec![
            f("/Shared/README.txt", 5),
            n("/Shared/etl", "PYTHON"),
            n("/Shared/job", "SCALA"),
            f("/Shared/raw.py", "# Databricks notebook source\nprint(3)".len() as i64),
            n("/Shared/report", "SQL"),
            n("/Shared/scratch", "PYTHON"),
            n("/Shared/stats", "R"),
            f("/Shared/util.py", "def f():\n    return 1\n".len() as i64),
        ]
    );
    // Files export as their bytes, with their extension as the type.
    assert_eq!(
        export(&c, "/Shared/util.py", "SOURCE").await,
        (b"def f():\n    return 1\n".to_vec(), Some("py".into()))
    );
    assert_eq!(export(&c, "/Shared/README.txt", "AUTO").await, (b"hello".to_vec(), Some("txt".into())));
    assert_eq!(export(&c, "/Shared/README.txt", "RAW").await.0, b"hello");
    let jupyter_file =
        c.workspace_export().path("/Shared/util.py").format(types::ExportFormat("JUPYTER".into())).send();
    assert_code(jupyter_file.await, 400, "INVALID_PARAMETER_VALUE");
    assert_eq!(export(&c, "/Shared/report", "AUTO").await.0, b"-- Databricks notebook source\nSELECT 2");
    // AUTO on an existing stripped name obeys the overwrite rule.
    let again = import_body(
        json!({"path": "/Shared/etl.py", "content": B64.encode("# Databricks notebook source\n1"), "format": "AUTO"}),
    );
    assert_code(c.workspace_import().body(again).send().await, 400, "RESOURCE_ALREADY_EXISTS");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn overwrite_rules_and_parents() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    import(&c, "/Shared/nb", b"print(1)", "SOURCE", Some("PYTHON")).await;
    let before = status(&c, "/Shared/nb").await;

    let again = import_body(json!({"path": "/Shared/nb", "content": B64.encode("print(2)"), "language": "PYTHON"}));
    let err = assert_code(c.workspace_import().body(again).send().await, 400, "RESOURCE_ALREADY_EXISTS");
    assert_eq!(err.message, "Path (/Shared/nb) already exists.");
    assert_eq!(export(&c, "/Shared/nb", "SOURCE").await.0, b"# Databricks notebook source\nprint(1)");

    let replace = import_body(
        json!({"path": "/Shared/nb", "content": B64.encode("SELECT 2"), "language": "SQL", "overwrite": true}),
    );
    c.workspace_import().body(replace).send().await.expect("overwrite succeeds");
    let after = status(&c, "/Shared/nb").await;
    assert_eq!(after.object_id, before.object_id, "overwriting keeps the object id");
    assert_eq!(after.language.map(|l| l.0), Some("SQL".to_string()));
    assert_eq!(export(&c, "/Shared/nb", "SOURCE").await.0, b"-- Databricks notebook source\nSELECT 2");

    // A folder is never replaced by an import.
    let over_dir = import_body(json!({"path": "/Shared", "content": "eA==", "language": "SQL", "overwrite": true}));
    assert_code(c.workspace_import().body(over_dir).send().await, 400, "RESOURCE_ALREADY_EXISTS");
    // The parent must exist and be a folder.
    let orphan = import_body(json!({"path": "/Shared/a/b/nb", "content": "eA==", "language": "SQL"}));
    assert_code(c.workspace_import().body(orphan).send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    let under_nb = import_body(json!({"path": "/Shared/nb/child", "content": "eA==", "language": "SQL"}));
    assert_code(c.workspace_import().body(under_nb).send().await, 400, "INVALID_PARAMETER_VALUE");
    // Object ids are distinct.
    import(&c, "/Shared/other", b"1", "SOURCE", Some("SCALA")).await;
    assert_ne!(status(&c, "/Shared/other").await.object_id, after.object_id);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn mkdirs_delete_and_list_filters() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    let mkdirs = |p: &str| c.workspace_mkdirs().body(types::WorkspaceMkdirsBody { path: p.to_string() }).send();
    let delete = |p: &str, recursive: Option<bool>| {
        c.workspace_delete().body(types::WorkspaceDeleteBody { path: p.to_string(), recursive }).send()
    };
    mkdirs("/Shared/a/b/c").await.expect("mkdirs creates parents");
    mkdirs("/Shared/a/b/c").await.expect("mkdirs is idempotent");
    assert_eq!(kind(&status(&c, "/Shared/a/b").await), "DIRECTORY");
    import(&c, "/Shared/a/nb", b"1", "SOURCE", Some("PYTHON")).await;
    assert_eq!(list_paths(&c, "/Shared/a").await, vec!["/Shared/a/b".to_string(), "/Shared/a/nb".to_string()]);
    // Listing a notebook gives just that notebook.
    assert_eq!(list_paths(&c, "/Shared/a/nb").await, vec!["/Shared/a/nb".to_string()]);
    assert_code(mkdirs("/Shared/a/nb").await, 400, "RESOURCE_ALREADY_EXISTS");
    assert_code(mkdirs("/Shared/a/nb/deeper").await, 400, "RESOURCE_ALREADY_EXISTS");

    // notebooks_modified_after keeps folders and files and filters notebooks.
    let modified = status(&c, "/Shared/a/nb").await.modified_at.expect("modified_at");
    let filtered = |after: i64| c.workspace_list().path("/Shared/a").notebooks_modified_after(after).send();
    let paths = |r: types::WorkspaceListResponse| r.objects.into_iter().filter_map(|o| o.path).collect::<Vec<_>>();
    assert_eq!(paths(filtered(modified).await.expect("list").into_inner()), vec!["/Shared/a/b".to_string()]);
    assert_eq!(paths(filtered(modified - 1).await.expect("list").into_inner()).len(), 2);

    let err = assert_code(delete("/Shared/a", None).await, 400, "DIRECTORY_NOT_EMPTY");
    assert!(err.message.contains("/Shared/a"), "{}", err.message);
    assert_code(delete("/Shared/a", Some(false)).await, 400, "DIRECTORY_NOT_EMPTY");
    delete("/Shared/a/b/c", None).await.expect("an empty folder deletes without recursive");
    delete("/Shared/a", Some(true)).await.expect("recursive delete");
    for gone in ["/Shared/a", "/Shared/a/b", "/Shared/a/nb"] {
        assert_code(c.workspace_get_status().path(gone).send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    }
    assert_code(delete("/Shared/a", Some(true)).await, 404, "RESOURCE_DOES_NOT_EXIST");
    import(&c, "/Shared/solo", b"1", "SOURCE", Some("PYTHON")).await;
    delete("/Shared/solo", None).await.expect("notebooks delete");
    for protected in ["/", "/Shared", "/Users", &format!("/Users/{USER}")] {
        assert_code(delete(protected, Some(true)).await, 400, "DIRECTORY_PROTECTED");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn ten_megabyte_limit_on_import_and_export() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    let limit = 10 * MB;
    let over =
        import_body(json!({"path": "/Shared/big", "content": B64.encode(vec![b'a'; limit + 1]), "format": "RAW"}));
    assert_code(c.workspace_import().body(over).send().await, 400, "MAX_NOTEBOOK_SIZE_EXCEEDED");
    let over_nb =
        import_body(json!({"path": "/Shared/big", "content": B64.encode(vec![b'a'; limit + 1]), "language": "PYTHON"}));
    assert_code(c.workspace_import().body(over_nb).send().await, 400, "MAX_NOTEBOOK_SIZE_EXCEEDED");

    // Exactly 10 MB is allowed, and exports unchanged.
    let mut text = vec![b'x'; limit];
    text[0] = b'#';
    text[1] = b' ';
    import(&c, "/Shared/big", &text, "SOURCE", Some("PYTHON")).await;
    import(&c, "/Shared/big.bin", &text, "RAW", None).await;
    assert_eq!(status(&c, "/Shared/big.bin").await.size, Some(limit as i64));
    assert_eq!(export(&c, "/Shared/big.bin", "RAW").await.0.len(), limit);
    // The SOURCE export adds a header, which takes it past the limit.
    assert_code(c.workspace_export().path("/Shared/big").send().await, 400, "MAX_NOTEBOOK_SIZE_EXCEEDED");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn workspace_rejects_bad_input_without_harm() {
    let sandbox = start(None).await;
    let post = |path: &'static str, body: &'static str| raw_post(&sandbox, path, body);
    let import = "/api/2.0/workspace/import";
    assert_eq!(
        code_of(&post(import, r#"{"path": 5, "content": "eA==", "language": "SQL"}"#).await),
        (400, "INVALID_PARAMETER_VALUE")
    );
    assert_eq!(
        code_of(
            &post(import, r#"{"path": "/Shared/x", "content": "eA==", "language": "SQL", "overwrite": "yes"}"#).await
        ),
        (400, "INVALID_PARAMETER_VALUE")
    );
    assert_eq!(code_of(&post(import, r#"{"path": "/Shared/x", "content": "#).await), (400, "MALFORMED_REQUEST"));
    assert_eq!(code_of(&post(import, "not json").await), (400, "MALFORMED_REQUEST"));
    assert_eq!(
        code_of(&post(import, r#"{"path": "/Shared/x", "content": "***", "language": "SQL"}"#).await),
        (400, "INVALID_PARAMETER_VALUE")
    );
    assert_eq!(
        code_of(&post(import, r#"{"content": "eA==", "language": "SQL"}"#).await),
        (400, "INVALID_PARAMETER_VALUE")
    );
    assert_eq!(
        code_of(&post(import, r#"{"path": "/Shared/x", "language": "SQL"}"#).await),
        (400, "INVALID_PARAMETER_VALUE")
    );
    assert_eq!(
        code_of(&post("/api/2.0/workspace/mkdirs", r#"{"path": ["/a"]}"#).await),
        (400, "INVALID_PARAMETER_VALUE")
    );
    assert_eq!(code_of(&post("/api/2.0/workspace/mkdirs", "{}").await), (400, "INVALID_PARAMETER_VALUE"));
    assert_eq!(
        code_of(&post("/api/2.0/workspace/delete", r#"{"path": "/Shared", "recursive": 1}"#).await),
        (400, "INVALID_PARAMETER_VALUE")
    );

    let hostile = ["/../../etc/passwd", "/Shared/../..", "/Shared/./x", "Shared/x", "", "/a\u{0}b", "/a\nb"];
    for path in hostile {
        let body = json!({"path": path, "content": "eA==", "language": "SQL", "recursive": true}).to_string();
        for endpoint in ["/api/2.0/workspace/import", "/api/2.0/workspace/mkdirs", "/api/2.0/workspace/delete"] {
            let answer = raw_post(&sandbox, endpoint, &body).await;
            assert_eq!(code_of(&answer), (400, "INVALID_PARAMETER_VALUE"), "{endpoint} {path:?}: {answer:?}");
        }
        let query: String = form_urlencoded_path(path);
        for endpoint in ["list", "get-status", "export"] {
            let response = raw_get(&sandbox, &format!("/api/2.0/workspace/{endpoint}?path={query}")).await;
            assert_eq!(response.status(), 400, "{endpoint} {path:?}");
        }
    }
    let long = format!("/Shared/{}", "n".repeat(300));
    let answer = raw_post(&sandbox, "/api/2.0/workspace/mkdirs", &json!({ "path": long }).to_string()).await;
    assert_eq!(code_of(&answer), (400, "INVALID_PARAMETER_VALUE"));
    let bad_int = raw_get(&sandbox, "/api/2.0/workspace/list?path=/&notebooks_modified_after=soon").await;
    assert_eq!(bad_int.status(), 400);
    let bad_bool = raw_get(&sandbox, "/api/2.0/workspace/export?path=/Shared&direct_download=maybe").await;
    assert_eq!(bad_bool.status(), 400);
    // Nothing was created, and the sandbox still answers.
    assert_eq!(list_paths(&client(&sandbox), "/").await, vec!["/Shared".to_string(), "/Users".to_string()]);
    sandbox.shutdown().await;
}

/// Percent-encode a query value.
fn form_urlencoded_path(value: &str) -> String {
    value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'/' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

// ---------------------------------------------------------------- DBFS

fn put_body(path: &str, contents: &[u8], overwrite: Option<bool>) -> types::DbfsPutBody {
    serde_json::from_value(json!({"path": path, "contents": B64.encode(contents), "overwrite": overwrite}))
        .expect("put body")
}

async fn read_all(c: &Client, path: &str, chunk: i64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let r =
            c.dbfs_read().path(path).offset(out.len() as i64).length(chunk).send().await.expect("read").into_inner();
        let n = r.bytes_read.expect("bytes_read");
        if n == 0 {
            return out;
        }
        let data = B64.decode(r.data.expect("data")).expect("base64");
        assert_eq!(data.len() as i64, n);
        out.extend(data);
    }
}

async fn dbfs_status(c: &Client, path: &str) -> types::FileInfo {
    c.dbfs_get_status().path(path).send().await.expect("get-status").into_inner()
}

#[tokio::test]
async fn dbfs_put_read_list() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    let text = b"id,name\n1,alpha\n2,beta\n";
    c.dbfs_put().body(put_body("/tmp/data/a.csv", text, None)).send().await.expect("put");
    // Parents appear as directories.
    let dir = dbfs_status(&c, "/tmp/data").await;
    assert_eq!((dir.is_dir, dir.file_size), (Some(true), Some(0)));
    let info = dbfs_status(&c, "dbfs:/tmp/data/a.csv").await;
    assert_eq!(
        (info.path.as_deref(), info.is_dir, info.file_size),
        (Some("/tmp/data/a.csv"), Some(false), Some(text.len() as i64))
    );
    assert!(info.modification_time.is_some_and(|t| t > 0));

    assert_eq!(read_all(&c, "/tmp/data/a.csv", 5).await, text);
    let whole = c.dbfs_read().path("/tmp/data/a.csv").send().await.expect("read").into_inner();
    assert_eq!(
        (whole.bytes_read, B64.decode(whole.data.expect("data")).expect("b64")),
        (Some(text.len() as i64), text.to_vec())
    );
    let middle = c.dbfs_read().path("/tmp/data/a.csv").offset(8).length(7).send().await.expect("read").into_inner();
    assert_eq!(
        (middle.bytes_read, B64.decode(middle.data.expect("data")).expect("b64")),
        (Some(7), b"1,alpha".to_vec())
    );
    let past = c.dbfs_read().path("/tmp/data/a.csv").offset(1000).send().await.expect("read").into_inner();
    assert_eq!((past.bytes_read, past.data.as_deref()), (Some(0), Some("")));
    assert_code(
        c.dbfs_read().path("/tmp/data/a.csv").length(MB as i64 + 1).send().await,
        400,
        "MAX_READ_SIZE_EXCEEDED",
    );
    c.dbfs_read().path("/tmp/data/a.csv").length(MB as i64).send().await.expect("1 MB reads are allowed");
    assert_code(c.dbfs_read().path("/tmp/data/a.csv").offset(-1).send().await, 400, "INVALID_PARAMETER_VALUE");
    assert_code(c.dbfs_read().path("/tmp/data/a.csv").length(-1).send().await, 400, "INVALID_PARAMETER_VALUE");
    assert_code(c.dbfs_read().path("/tmp/data").send().await, 400, "INVALID_PARAMETER_VALUE");
    let err = assert_code(c.dbfs_read().path("/tmp/none").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(err.message, "No file or directory exists on path /tmp/none.");
    assert_code(c.dbfs_get_status().path("dbfs:/nope").send().await, 404, "RESOURCE_DOES_NOT_EXIST");

    // Overwrite rules.
    let err = assert_code(
        c.dbfs_put().body(put_body("/tmp/data/a.csv", b"x", None)).send().await,
        400,
        "RESOURCE_ALREADY_EXISTS",
    );
    assert!(err.message.contains("/tmp/data/a.csv"), "{}", err.message);
    assert_code(
        c.dbfs_put().body(put_body("/tmp/data", b"x", Some(true))).send().await,
        400,
        "RESOURCE_ALREADY_EXISTS",
    );
    c.dbfs_put().body(put_body("dbfs:/tmp/data/a.csv", b"new", Some(true))).send().await.expect("overwrite");
    assert_eq!(read_all(&c, "/tmp/data/a.csv", 100).await, b"new");
    // A file in the way of a parent.
    assert_code(
        c.dbfs_put().body(put_body("/tmp/data/a.csv/b", b"x", None)).send().await,
        400,
        "RESOURCE_ALREADY_EXISTS",
    );

    // The 1 MB block limit.
    c.dbfs_put().body(put_body("/tmp/one-mb", &vec![7; MB], None)).send().await.expect("1 MB put");
    assert_eq!(dbfs_status(&c, "/tmp/one-mb").await.file_size, Some(MB as i64));
    let over = c.dbfs_put().body(put_body("/tmp/too-big", &vec![7; MB + 1], None)).send().await;
    assert_code(over, 400, "MAX_BLOCK_SIZE_EXCEEDED");
    assert_code(c.dbfs_get_status().path("/tmp/too-big").send().await, 404, "RESOURCE_DOES_NOT_EXIST");

    // Listing: a directory's children, a file by itself, a missing path.
    c.dbfs_put().body(put_body("/tmp/empty.txt", b"", None)).send().await.expect("empty put");
    let listed = c.dbfs_list().path("/tmp").send().await.expect("list").into_inner().files;
    let names: Vec<_> = listed.iter().map(|f| (f.path.clone().expect("path"), f.is_dir.expect("is_dir"))).collect();
    assert_eq!(
        names,
        vec![("/tmp/data".into(), true), ("/tmp/empty.txt".into(), false), ("/tmp/one-mb".into(), false)]
    );
    let one = c.dbfs_list().path("dbfs:/tmp/data/a.csv").send().await.expect("list").into_inner().files;
    assert_eq!((one.len(), one[0].file_size), (1, Some(3)));
    assert_code(c.dbfs_list().path("/missing").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    let raw = raw_get(&sandbox, "/api/2.0/dbfs/list?path=/tmp").await.json::<Value>().await.expect("json");
    assert!(raw["files"].as_array().is_some_and(|f| !f.is_empty()), "real clients read `files`: {raw}");
    assert!(raw.get("items").is_none());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn dbfs_streamed_upload() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    let create = |path: &str, overwrite: Option<bool>| {
        c.dbfs_create().body(types::DbfsCreateBody { path: path.to_string(), overwrite }).send()
    };
    let add = |handle: i64, data: &[u8]| {
        c.dbfs_add_block().body(types::DbfsAddBlockBody { handle, data: B64.encode(data) }).send()
    };
    let close = |handle: i64| c.dbfs_close().body(types::DbfsCloseBody { handle }).send();

    let handle = create("/uploads/big.bin", None).await.expect("create").into_inner().handle.expect("handle");
    assert!(handle > 0 && handle < (1 << 53));
    let blocks: Vec<Vec<u8>> = vec![vec![1; MB], (0..MB).map(|i| (i % 251) as u8).collect(), b"tail".to_vec()];
    for block in &blocks {
        add(handle, block).await.expect("add-block");
    }
    // The file appears only on close.
    assert_code(c.dbfs_get_status().path("/uploads/big.bin").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_code(add(handle, &vec![0; MB + 1]).await, 400, "MAX_BLOCK_SIZE_EXCEEDED");
    close(handle).await.expect("close");
    let expected: Vec<u8> = blocks.concat();
    assert_eq!(dbfs_status(&c, "/uploads/big.bin").await.file_size, Some(expected.len() as i64));
    assert_eq!(read_all(&c, "/uploads/big.bin", MB as i64).await, expected);

    // A closed or unknown handle is gone.
    assert_code(add(handle, b"x").await, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_code(close(handle).await, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_code(close(42).await, 404, "RESOURCE_DOES_NOT_EXIST");
    // Existing files need overwrite.
    assert_code(create("/uploads/big.bin", None).await, 400, "RESOURCE_ALREADY_EXISTS");
    assert_code(create("/uploads", Some(true)).await, 400, "RESOURCE_ALREADY_EXISTS");
    let h = create("dbfs:/uploads/big.bin", Some(true)).await.expect("create").into_inner().handle.expect("handle");
    add(h, b"small").await.expect("add-block");
    close(h).await.expect("close");
    assert_eq!(read_all(&c, "/uploads/big.bin", 100).await, b"small");
    // A stream with no blocks makes an empty file.
    let h = create("/uploads/empty", None).await.expect("create").into_inner().handle.expect("handle");
    close(h).await.expect("close");
    assert_eq!(dbfs_status(&c, "/uploads/empty").await.file_size, Some(0));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn dbfs_mkdirs_move_delete() {
    let sandbox = start(None).await;
    let c = client(&sandbox);
    let mkdirs = |p: &str| c.dbfs_mkdirs().body(types::DbfsMkdirsBody { path: p.to_string() }).send();
    let mv = |s: &str, d: &str| {
        c.dbfs_move().body(types::DbfsMoveBody { source_path: s.to_string(), destination_path: d.to_string() }).send()
    };
    let delete = |p: &str, recursive: Option<bool>| {
        c.dbfs_delete().body(types::DbfsDeleteBody { path: p.to_string(), recursive }).send()
    };
    mkdirs("/a/b/c").await.expect("mkdirs");
    mkdirs("dbfs:/a/b/c").await.expect("mkdirs is idempotent");
    assert_eq!(dbfs_status(&c, "/a/b").await.is_dir, Some(true));
    c.dbfs_put().body(put_body("/a/b/f.txt", b"hello", None)).send().await.expect("put");
    assert_code(mkdirs("/a/b/f.txt").await, 400, "RESOURCE_ALREADY_EXISTS");
    assert_code(mkdirs("/a/b/f.txt/sub").await, 400, "RESOURCE_ALREADY_EXISTS");

    // Files and whole directories move.
    mv("/a/b/f.txt", "/a/g.txt").await.expect("move a file");
    assert_eq!(read_all(&c, "/a/g.txt", 10).await, b"hello");
    assert_code(c.dbfs_get_status().path("/a/b/f.txt").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    c.dbfs_put().body(put_body("/a/b/c/deep.txt", b"deep", None)).send().await.expect("put");
    mv("dbfs:/a/b", "/moved/b2").await.expect("move a directory");
    assert_eq!(read_all(&c, "/moved/b2/c/deep.txt", 10).await, b"deep");
    assert_code(c.dbfs_get_status().path("/a/b/c").send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_code(mv("/a/g.txt", "/moved/b2").await, 400, "RESOURCE_ALREADY_EXISTS");
    assert_code(mv("/a/none", "/a/x").await, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_code(mv("/moved", "/moved/b2/inner").await, 400, "INVALID_PARAMETER_VALUE");
    assert_code(mv("/a/g.txt", "/a/g.txt/x").await, 400, "INVALID_PARAMETER_VALUE");
    c.dbfs_put().body(put_body("/a/h.txt", b"h", None)).send().await.expect("put");
    assert_code(mv("/a/h.txt", "/a/g.txt/x").await, 400, "RESOURCE_ALREADY_EXISTS");
    delete("/a/h.txt", None).await.expect("delete");

    // Deleting: files, empty directories, non-empty ones only recursively.
    let err = assert_code(delete("/moved", None).await, 400, "IO_ERROR");
    assert!(err.message.contains("/moved"), "{}", err.message);
    assert_code(delete("/moved", Some(false)).await, 400, "IO_ERROR");
    delete("/moved", Some(true)).await.expect("recursive delete");
    for gone in ["/moved", "/moved/b2", "/moved/b2/c/deep.txt"] {
        assert_code(c.dbfs_get_status().path(gone).send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    }
    delete("/a/g.txt", None).await.expect("delete a file");
    delete("/a/g.txt", None).await.expect("deleting a missing path succeeds, as on Databricks");
    delete("/a", None).await.expect("an empty directory deletes");
    assert_code(delete("/", Some(true)).await, 400, "INVALID_PARAMETER_VALUE");
    assert!(c.dbfs_list().path("/").send().await.expect("list").into_inner().files.is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn dbfs_rejects_bad_input_without_harm() {
    let sandbox = start(None).await;
    let put = "/api/2.0/dbfs/put";
    let cases: [(&str, &str, &str); 12] = [
        (put, r#"{"path": 1, "contents": ""}"#, "INVALID_PARAMETER_VALUE"),
        (put, r#"{"path": "/x", "contents": 5}"#, "INVALID_PARAMETER_VALUE"),
        (put, r#"{"path": "/x", "contents": "", "overwrite": "true"}"#, "INVALID_PARAMETER_VALUE"),
        (put, r#"{"path": "/x", "contents": "!!notbase64"}"#, "INVALID_PARAMETER_VALUE"),
        (put, r#"{"path": "/x"}"#, "INVALID_PARAMETER_VALUE"),
        (put, r#"{"path": "/x", "#, "MALFORMED_REQUEST"),
        ("/api/2.0/dbfs/add-block", r#"{"handle": "one", "data": ""}"#, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/dbfs/add-block", r#"{"handle": 1, "data": "%%%"}"#, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/dbfs/close", r#"{}"#, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/dbfs/move", r#"{"source_path": "/x"}"#, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/dbfs/create", r#"[1, 2]"#, "INVALID_PARAMETER_VALUE"),
        ("/api/2.0/dbfs/mkdirs", "<xml/>", "MALFORMED_REQUEST"),
    ];
    for (endpoint, body, code) in cases {
        let answer = raw_post(&sandbox, endpoint, body).await;
        assert_eq!(code_of(&answer), (400, code), "{endpoint} {body}: {answer:?}");
    }
    let hostile = ["/../../etc/passwd", "dbfs:/../etc", "/tmp/./x", "tmp/x", "dbfs:tmp", "", "/a\u{0}b"];
    for path in hostile {
        let body = json!({"path": path, "contents": "", "recursive": true}).to_string();
        for endpoint in ["/api/2.0/dbfs/put", "/api/2.0/dbfs/mkdirs", "/api/2.0/dbfs/delete", "/api/2.0/dbfs/create"] {
            let answer = raw_post(&sandbox, endpoint, &body).await;
            assert_eq!(code_of(&answer), (400, "INVALID_PARAMETER_VALUE"), "{endpoint} {path:?}: {answer:?}");
        }
        let mv = json!({"source_path": "/", "destination_path": path}).to_string();
        assert_eq!(code_of(&raw_post(&sandbox, "/api/2.0/dbfs/move", &mv).await).0, 400);
        let query = form_urlencoded_path(path);
        for endpoint in ["list", "get-status", "read"] {
            let response = raw_get(&sandbox, &format!("/api/2.0/dbfs/{endpoint}?path={query}")).await;
            assert_eq!(response.status(), 400, "{endpoint} {path:?}");
        }
    }
    let bad_offset = raw_get(&sandbox, "/api/2.0/dbfs/read?path=/x&offset=ten").await;
    assert_eq!(bad_offset.status(), 400);
    // Nothing was created, and the sandbox still answers.
    let c = client(&sandbox);
    assert!(c.dbfs_list().path("/").send().await.expect("list").into_inner().files.is_empty());
    sandbox.shutdown().await;
}

// ---------------------------------------------------------------- persistence

#[tokio::test]
async fn workspace_and_dbfs_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_path_buf();
    let big: Vec<u8> = (0..(2 * MB + 17)).map(|i| (i % 253) as u8).collect();
    let (notebook_id, source) = {
        let sandbox = start(Some(data_dir.clone())).await;
        let c = client(&sandbox);
        c.workspace_mkdirs()
            .body(types::WorkspaceMkdirsBody { path: "/Shared/proj".into() })
            .send()
            .await
            .expect("mkdirs");
        import(&c, "/Shared/proj/etl", b"print('persisted')", "SOURCE", Some("PYTHON")).await;
        import(&c, "/Shared/proj/conf.json", b"{\"a\": 1}", "AUTO", None).await;
        let id = status(&c, "/Shared/proj/etl").await.object_id;
        let source = export(&c, "/Shared/proj/etl", "SOURCE").await.0;

        c.dbfs_put().body(put_body("/data/small.txt", b"small", None)).send().await.expect("put");
        c.dbfs_put().body(put_body("/data/gone.txt", b"gone", None)).send().await.expect("put");
        c.dbfs_mkdirs().body(types::DbfsMkdirsBody { path: "/data/empty".into() }).send().await.expect("mkdirs");
        let handle = c
            .dbfs_create()
            .body(types::DbfsCreateBody { path: "/data/big.bin".into(), overwrite: None })
            .send()
            .await
            .expect("create")
            .into_inner()
            .handle
            .expect("handle");
        for block in big.chunks(MB) {
            c.dbfs_add_block()
                .body(types::DbfsAddBlockBody { handle, data: B64.encode(block) })
                .send()
                .await
                .expect("add-block");
        }
        c.dbfs_close().body(types::DbfsCloseBody { handle }).send().await.expect("close");
        c.dbfs_delete()
            .body(types::DbfsDeleteBody { path: "/data/gone.txt".into(), recursive: None })
            .send()
            .await
            .expect("delete");
        c.dbfs_move()
            .body(types::DbfsMoveBody {
                source_path: "/data/small.txt".into(),
                destination_path: "/data/renamed.txt".into(),
            })
            .send()
            .await
            .expect("move");
        sandbox.shutdown().await;
        (id, source)
    };
    // File contents live as separate blobs, not inside the JSON index.
    let blobs = std::fs::read_dir(data_dir.join("dbfs")).expect("blob dir").count();
    assert_eq!(blobs, 2, "one blob per live file");
    let index = std::fs::metadata(data_dir.join("dbfs.json")).expect("index").len();
    assert!(index < 4096, "the index holds no file bytes ({index} bytes)");

    let sandbox = start(Some(data_dir.clone())).await;
    let c = client(&sandbox);
    assert_eq!(status(&c, "/Shared/proj/etl").await.object_id, notebook_id);
    assert_eq!(export(&c, "/Shared/proj/etl", "SOURCE").await.0, source);
    assert_eq!(kind(&status(&c, "/Shared/proj/conf.json").await), "FILE");
    assert_eq!(export(&c, "/Shared/proj/conf.json", "RAW").await.0, b"{\"a\": 1}");
    assert_eq!(
        databricks_sandbox::workspace::read_notebook(sandbox.state(), "/Shared/proj/etl").map(|r| r.0),
        Some("PYTHON".to_string())
    );
    // New objects get fresh ids after a restart.
    import(&c, "/Shared/proj/new", b"1", "SOURCE", Some("SQL")).await;
    assert_ne!(status(&c, "/Shared/proj/new").await.object_id, notebook_id);

    assert_eq!(read_all(&c, "/data/big.bin", MB as i64).await, big);
    assert_eq!(read_all(&c, "/data/renamed.txt", 100).await, b"small");
    assert_eq!(dbfs_status(&c, "/data/empty").await.is_dir, Some(true));
    for gone in ["/data/gone.txt", "/data/small.txt"] {
        assert_code(c.dbfs_get_status().path(gone).send().await, 404, "RESOURCE_DOES_NOT_EXIST");
    }
    // Overwriting replaces the blob rather than adding one.
    c.dbfs_put().body(put_body("/data/renamed.txt", b"again", Some(true))).send().await.expect("overwrite");
    assert_eq!(std::fs::read_dir(data_dir.join("dbfs")).expect("blob dir").count(), 2);
    sandbox.shutdown().await;

    // A blob left behind by an interrupted write is cleaned up at start-up.
    std::fs::write(data_dir.join("dbfs").join("999999"), b"orphan").expect("write orphan");
    let sandbox = start(Some(data_dir.clone())).await;
    assert_eq!(std::fs::read_dir(data_dir.join("dbfs")).expect("blob dir").count(), 2);
    assert_eq!(read_all(&client(&sandbox), "/data/renamed.txt", 100).await, b"again");
    sandbox.shutdown().await;
}
