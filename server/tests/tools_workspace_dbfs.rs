//! The `workspace` and `dbfs` tools against an in-process sandbox: every tool is
//! called, destructive ones refuse without `confirm`, Databricks errors become
//! `isError` results, and bad arguments become invalid-params errors naming the field.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use databricks_client::{Client, Config};
use databricks_mcp::{DatabricksMcp, Settings, ToolContext, Toolset};
use databricks_sandbox::{Sandbox, SandboxOptions};
use rmcp::ErrorData as McpError;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

const USER: &str = "sandbox-user@example.com";

struct Harness {
    _sandbox: Sandbox,
    client: Client,
    server: DatabricksMcp,
}

impl Harness {
    async fn start() -> Self {
        let options =
            SandboxOptions { transition_delay: Duration::ZERO, tpch_scale: 0.001, seed: false, ..Default::default() };
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
        Self { _sandbox: sandbox, client, server }
    }

    async fn call(&self, tool: &str, args: Value) -> Result<CallToolResult, McpError> {
        let ctx = ToolContext::standalone(self.client.clone(), Arc::new(self.server.settings().clone()));
        self.server.run(tool, args.as_object().expect("object arguments").clone(), ctx).await
    }

    /// A call that must succeed; returns its text and structured content.
    async fn ok(&self, tool: &str, args: Value) -> (String, Value) {
        let result = self.call(tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        let text = text_of(&result);
        assert_ne!(result.is_error, Some(true), "{tool} {args} failed: {text}");
        (text, result.structured_content.clone().unwrap_or(Value::Null))
    }

    /// A call that must come back as an `isError` result; returns its text.
    async fn tool_error(&self, tool: &str, args: Value) -> String {
        let result = self.call(tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        let text = text_of(&result);
        assert_eq!(result.is_error, Some(true), "{tool} {args} should fail, got: {text}");
        text
    }

    /// A call that must be refused as invalid params; returns the message.
    async fn invalid(&self, tool: &str, args: Value) -> String {
        match self.call(tool, args.clone()).await {
            Err(e) => {
                assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{tool} {args}: {e:?}");
                e.message.to_string()
            }
            Ok(r) => panic!("{tool} {args} should be invalid params, got {}", text_of(&r)),
        }
    }
}

fn text_of(result: &CallToolResult) -> String {
    result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default()
}

fn home(rest: &str) -> String {
    format!("/Users/{USER}/{rest}")
}

#[tokio::test]
async fn workspace_tools_create_list_export_and_delete() {
    let h = Harness::start().await;
    let folder = home("mcp");

    // mkdirs, twice: idempotent.
    let (text, _) = h.ok("mkdirs", json!({"path": folder})).await;
    assert!(text.contains(&folder), "{text}");
    h.ok("mkdirs", json!({"path": format!("{folder}/nested/deeper")})).await;
    h.ok("mkdirs", json!({"path": folder})).await;

    // import_notebook: plain text in, base64 done by the tool.
    let source = "print('hello')\n\n# COMMAND ----------\n\nprint('ünïcödé world')\n";
    let nb = format!("{folder}/etl");
    let (text, s) = h.ok("import_notebook", json!({"path": nb, "content": source, "language": "PYTHON"})).await;
    assert!(text.contains("Imported"), "{text}");
    assert_eq!(s["object"]["object_type"], "NOTEBOOK");
    assert_eq!(s["object"]["language"], "PYTHON");
    assert_eq!(s["replaced"], false);
    h.ok(
        "import_notebook",
        json!({"path": format!("{folder}/nested/report"), "content": "SELECT 1", "language": "sql", "format": "SOURCE"}),
    )
    .await;
    h.ok("import_notebook", json!({"path": format!("{folder}/notes.txt"), "content": "just a file", "format": "RAW"}))
        .await;

    // get_workspace_object_status returns the full object.
    let (_, s) = h.ok("get_workspace_object_status", json!({"path": nb})).await;
    assert_eq!(s["object_type"], "NOTEBOOK");
    assert_eq!(s["path"], nb);
    assert!(s["object_id"].is_i64(), "{s}");

    // list_notebooks, one level: the notebook, the file and the sub-folder.
    let (text, s) = h.ok("list_notebooks", json!({"path": folder})).await;
    let paths: Vec<&str> = s["entries"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, [nb.clone(), format!("{folder}/nested"), format!("{folder}/notes.txt")]);
    assert_eq!(s["entries"][0]["object_type"], "NOTEBOOK");
    assert_eq!(s["entries"][0]["language"], "PYTHON");
    assert!(s["entries"][0]["modified_at"].is_i64());
    assert_eq!(s["entries"][1]["object_type"], "DIRECTORY");
    assert_eq!(s["truncated"], false);
    assert!(text.contains("| path | object_type |"), "{text}");

    // Recursive: descends into nested/ and nested/deeper.
    let (_, s) = h.ok("list_notebooks", json!({"path": folder, "recursive": true})).await;
    let paths: Vec<&str> = s["entries"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&format!("{folder}/nested/report").as_str()), "{paths:?}");
    assert!(paths.contains(&format!("{folder}/nested/deeper").as_str()), "{paths:?}");
    assert_eq!(s["truncated"], false);

    // Recursive with a bound: stops and names what was not listed.
    let (text, s) = h.ok("list_notebooks", json!({"path": folder, "recursive": true, "max_entries": 3})).await;
    assert_eq!(s["count"], 3);
    assert_eq!(s["truncated"], true);
    assert_eq!(s["unlisted_folders"], json!([format!("{folder}/nested")]));
    assert!(text.contains("not listed yet"), "{text}");
    // One level with a bound smaller than the folder.
    let (text, s) = h.ok("list_notebooks", json!({"path": folder, "max_entries": 2})).await;
    assert_eq!(s["count"], 2);
    assert_eq!(s["truncated"], true);
    assert!(text.contains("larger max_entries"), "{text}");

    // export_notebook SOURCE, whole and paged by characters.
    let (text, s) = h.ok("export_notebook", json!({"path": nb})).await;
    let full = s["content"].as_str().unwrap().to_string();
    assert!(full.contains("print('hello')") && full.contains("ünïcödé"), "{full}");
    assert_eq!(s["complete"], true);
    assert_eq!(s["format"], "SOURCE");
    assert_eq!(s["file_type"], "py");
    assert!(text.contains("print('hello')"));
    let total = s["total_chars"].as_u64().unwrap();
    assert_eq!(total, full.chars().count() as u64);

    let mut rebuilt = String::new();
    let mut offset = 0u64;
    let mut calls = 0;
    loop {
        let (text, s) = h.ok("export_notebook", json!({"path": nb, "offset": offset, "length": 10})).await;
        rebuilt.push_str(s["content"].as_str().unwrap());
        calls += 1;
        match s["next_offset"].as_u64() {
            Some(next) => {
                assert!(text.contains(&format!("offset={next}")), "the note says how to read on: {text}");
                offset = next;
            }
            None => break,
        }
        assert!(calls < 100);
    }
    assert_eq!(rebuilt, full, "paging by characters loses nothing, even across multi-byte characters");
    assert!(calls > 2);

    // JUPYTER and HTML.
    let (_, s) = h.ok("export_notebook", json!({"path": nb, "format": "JUPYTER"})).await;
    let ipynb: Value = serde_json::from_str(s["content"].as_str().unwrap()).expect("ipynb is JSON");
    assert!(ipynb["cells"].is_array(), "{ipynb}");
    let (_, s) = h.ok("export_notebook", json!({"path": nb, "format": "HTML"})).await;
    assert!(s["content"].as_str().unwrap().to_lowercase().contains("<html"), "{s}");

    // overwrite of an existing notebook needs confirm; without it nothing changes.
    let text = h
        .tool_error(
            "import_notebook",
            json!({"path": nb, "content": "print('replaced')", "language": "PYTHON", "overwrite": true}),
        )
        .await;
    assert!(text.contains("confirm") && text.contains(&nb), "{text}");
    let (_, s) = h.ok("export_notebook", json!({"path": nb})).await;
    assert!(s["content"].as_str().unwrap().contains("print('hello')"), "unchanged without confirm");
    let (text, s) = h
        .ok(
            "import_notebook",
            json!({"path": nb, "content": "print('replaced')", "language": "PYTHON", "overwrite": true, "confirm": true}),
        )
        .await;
    assert!(text.contains("Replaced"), "{text}");
    assert_eq!(s["replaced"], true);
    let (_, s) = h.ok("export_notebook", json!({"path": nb})).await;
    assert!(s["content"].as_str().unwrap().contains("print('replaced')"), "{s}");
    // overwrite=true on a new path replaces nothing, so no confirmation is needed.
    let (_, s) = h
        .ok(
            "import_notebook",
            json!({"path": format!("{folder}/fresh"), "content": "1", "language": "SCALA", "overwrite": true}),
        )
        .await;
    assert_eq!(s["replaced"], false);
    // Without overwrite, an existing path is a Databricks error.
    let text = h.tool_error("import_notebook", json!({"path": nb, "content": "x", "language": "PYTHON"})).await;
    assert!(text.contains("RESOURCE_ALREADY_EXISTS"), "{text}");

    // delete_workspace_object: refused without confirm, done with it.
    let text = h.tool_error("delete_workspace_object", json!({"path": nb})).await;
    assert!(text.contains("confirm") && text.contains(&nb), "{text}");
    h.ok("get_workspace_object_status", json!({"path": nb})).await;
    let (text, s) = h.ok("delete_workspace_object", json!({"path": nb, "confirm": true})).await;
    assert!(text.contains("Deleted"), "{text}");
    assert_eq!(s["deleted"], true);
    let text = h.tool_error("get_workspace_object_status", json!({"path": nb})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");

    // A non-empty folder needs recursive.
    let text = h.tool_error("delete_workspace_object", json!({"path": folder, "confirm": true})).await;
    assert!(text.contains("DIRECTORY_NOT_EMPTY"), "{text}");
    h.ok("delete_workspace_object", json!({"path": folder, "recursive": true, "confirm": true})).await;
    h.tool_error("list_notebooks", json!({"path": folder})).await;
}

#[tokio::test]
async fn workspace_tools_report_errors_and_reject_bad_arguments() {
    let h = Harness::start().await;

    // Databricks errors become isError results with the code.
    let text = h.tool_error("get_workspace_object_status", json!({"path": home("missing")})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST") && text.contains("404"), "{text}");
    let text = h.tool_error("export_notebook", json!({"path": home("missing")})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");
    let text = h.tool_error("delete_workspace_object", json!({"path": home("missing"), "confirm": true})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");
    let text = h
        .tool_error("import_notebook", json!({"path": home("no/such/parent/nb"), "content": "1", "language": "PYTHON"}))
        .await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");

    // Wrong types and unknown fields name the field.
    let msg = h.invalid("list_notebooks", json!({"path": 5})).await;
    assert!(msg.contains("`path`"), "{msg}");
    let msg = h.invalid("list_notebooks", json!({"path": "/Shared", "recursive": "yes"})).await;
    assert!(msg.contains("`recursive`"), "{msg}");
    let msg = h.invalid("export_notebook", json!({"path": "/Shared/x", "format": "PDF"})).await;
    assert!(msg.contains("`format`"), "{msg}");
    let msg = h.invalid("export_notebook", json!({"path": "/Shared/x", "offset": -1})).await;
    assert!(msg.contains("`offset`"), "{msg}");
    let msg = h.invalid("delete_workspace_object", json!({"path": "/Shared/x", "confirm": "yes"})).await;
    assert!(msg.contains("`confirm`"), "{msg}");
    let msg = h.invalid("mkdirs", json!({"path": "/Shared/x", "parents": true})).await;
    assert!(msg.contains("parents"), "{msg}");

    // Path checks beyond the schema.
    let msg = h.invalid("get_workspace_object_status", json!({"path": "Users/me"})).await;
    assert!(msg.contains("`path`") && msg.contains("absolute"), "{msg}");
    let msg = h.invalid("list_notebooks", json!({"path": "dbfs:/tmp"})).await;
    assert!(msg.contains("`path`") && msg.contains("list_files"), "{msg}");
    let msg = h.invalid("mkdirs", json!({"path": "/Shared/../etc"})).await;
    assert!(msg.contains("`path`") && msg.contains(".."), "{msg}");
    let msg = h.invalid("list_notebooks", json!({"path": ""})).await;
    assert!(msg.contains("`path`"), "{msg}");

    // SOURCE needs a language.
    let msg = h.invalid("import_notebook", json!({"path": "/Shared/nb", "content": "1"})).await;
    assert!(msg.contains("`language`"), "{msg}");
    let msg = h.invalid("export_notebook", json!({"path": "/Shared/x", "length": 0})).await;
    assert!(msg.contains("`length`"), "{msg}");

    // The workspace root and the built-in folders list fine.
    let (_, s) = h.ok("list_notebooks", json!({"path": "/"})).await;
    let paths: Vec<&str> = s["entries"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/Users") && paths.contains(&"/Shared"), "{paths:?}");
}

#[tokio::test]
async fn dbfs_tools_write_read_list_move_and_delete() {
    let h = Harness::start().await;

    // mkdirs_dbfs with and without the dbfs: prefix.
    let (text, s) = h.ok("mkdirs_dbfs", json!({"path": "dbfs:/tmp/mcp/sub"})).await;
    assert_eq!(s["path"], "/tmp/mcp/sub");
    assert!(text.contains("/tmp/mcp/sub"), "{text}");
    h.ok("mkdirs_dbfs", json!({"path": "/tmp/mcp"})).await;

    // put_file with text.
    let text_content = "id,name\n1,ada\n2,grace\n3,ünïcödé\n";
    let (text, s) = h.ok("put_file", json!({"path": "/tmp/mcp/people.csv", "contents": text_content})).await;
    assert_eq!(s["bytes_written"], text_content.len());
    assert_eq!(s["method"], "put");
    assert!(text.contains("Wrote"), "{text}");

    // get_file_status.
    let (_, s) = h.ok("get_file_status", json!({"path": "dbfs:/tmp/mcp/people.csv"})).await;
    assert_eq!(s["is_dir"], false);
    assert_eq!(s["file_size"], text_content.len());
    assert_eq!(s["path"], "/tmp/mcp/people.csv");

    // read_file: the whole file as text.
    let (text, s) = h.ok("read_file", json!({"path": "/tmp/mcp/people.csv"})).await;
    assert_eq!(s["encoding"], "utf-8");
    assert_eq!(s["content"], text_content);
    assert_eq!(s["bytes_read"], text_content.len());
    assert_eq!(s["eof"], true);
    assert!(s["next_offset"].is_null());
    assert!(text.contains("End of file"), "{text}");

    // Paged reads with a length that splits a multi-byte character: no character is
    // broken, and the pieces add up to the file.
    let mut rebuilt = String::new();
    let mut offset = 0u64;
    let mut calls = 0;
    loop {
        let (text, s) = h.ok("read_file", json!({"path": "/tmp/mcp/people.csv", "offset": offset, "length": 7})).await;
        assert_eq!(s["encoding"], "utf-8", "{s}");
        rebuilt.push_str(s["content"].as_str().unwrap());
        calls += 1;
        if s["eof"] == true {
            break;
        }
        let next = s["next_offset"].as_u64().expect("next_offset until eof");
        assert!(text.contains(&format!("offset={next}")), "{text}");
        assert_eq!(next, offset + s["bytes_read"].as_u64().unwrap());
        offset = next;
        assert!(calls < 100);
    }
    assert_eq!(rebuilt, text_content);
    // A chunk that ends inside a character stops before it, and the next offset points at it.
    h.ok("put_file", json!({"path": "/tmp/mcp/accent.txt", "contents": "aé"})).await;
    let (_, s) = h.ok("read_file", json!({"path": "/tmp/mcp/accent.txt", "length": 2})).await;
    assert_eq!(
        (s["content"].as_str(), s["bytes_read"].as_u64(), s["next_offset"].as_u64()),
        (Some("a"), Some(1), Some(1))
    );
    assert_eq!(s["eof"], false);
    let (_, s) = h.ok("read_file", json!({"path": "/tmp/mcp/accent.txt", "offset": 1, "length": 2})).await;
    assert_eq!((s["content"].as_str(), s["eof"].as_bool()), (Some("é"), Some(true)));
    h.ok("delete_file", json!({"path": "/tmp/mcp/accent.txt", "confirm": true})).await;
    // Past the end: nothing, eof.
    let (_, s) = h.ok("read_file", json!({"path": "/tmp/mcp/people.csv", "offset": 10_000})).await;
    assert_eq!(s["bytes_read"], 0);
    assert_eq!(s["eof"], true);

    // Binary content: written as base64, read back as base64.
    let binary: Vec<u8> = vec![0, 159, 146, 150, 255, 1, 2, 3];
    let (_, s) = h
        .ok(
            "put_file",
            json!({"path": "/tmp/mcp/blob.bin", "contents": B64.encode(&binary), "contents_encoding": "base64"}),
        )
        .await;
    assert_eq!(s["bytes_written"], binary.len());
    let (text, s) = h.ok("read_file", json!({"path": "/tmp/mcp/blob.bin"})).await;
    assert_eq!(s["encoding"], "base64");
    assert_eq!(B64.decode(s["content"].as_str().unwrap()).unwrap(), binary);
    assert!(text.contains("base64"), "{text}");

    // Over 1 MB goes through create/add-block/close; read it back in 1 MB pieces.
    let big: String = (0..300_000).map(|i| format!("{:07}\n", i % 1_000_000)).collect::<String>();
    assert!(big.len() > 2 * 1024 * 1024);
    let (text, s) = h.ok("put_file", json!({"path": "/tmp/mcp/big.txt", "contents": big})).await;
    assert_eq!(s["method"], "create/add-block/close", "{text}");
    assert_eq!(s["bytes_written"], big.len());
    let (_, s) = h.ok("get_file_status", json!({"path": "/tmp/mcp/big.txt"})).await;
    assert_eq!(s["file_size"], big.len());
    let mut read_back = String::new();
    let mut offset = 0u64;
    loop {
        let (_, s) =
            h.ok("read_file", json!({"path": "/tmp/mcp/big.txt", "offset": offset, "length": 1_048_576})).await;
        read_back.push_str(s["content"].as_str().unwrap());
        match s["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert!(read_back == big, "the streamed upload reads back identically");

    // list_files: summaries, paged by offset/limit.
    let (text, s) = h.ok("list_files", json!({"path": "dbfs:/tmp/mcp"})).await;
    let paths: Vec<&str> = s["files"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/tmp/mcp/big.txt", "/tmp/mcp/blob.bin", "/tmp/mcp/people.csv", "/tmp/mcp/sub"]);
    assert_eq!(s["files"][3]["is_dir"], true);
    assert_eq!(s["total"], 4);
    assert!(s["next_offset"].is_null());
    assert!(text.contains("people.csv"), "{text}");
    let (text, s) = h.ok("list_files", json!({"path": "/tmp/mcp", "limit": 3})).await;
    assert_eq!(s["files"].as_array().unwrap().len(), 3);
    assert_eq!(s["next_offset"], 3);
    assert!(text.contains("offset=3"), "{text}");
    let (_, s) = h.ok("list_files", json!({"path": "/tmp/mcp", "limit": 3, "offset": 3})).await;
    assert_eq!(s["files"][0]["path"], "/tmp/mcp/sub");
    assert!(s["next_offset"].is_null());

    // Overwriting an existing file needs confirm; without it the file is untouched.
    let text =
        h.tool_error("put_file", json!({"path": "/tmp/mcp/people.csv", "contents": "new", "overwrite": true})).await;
    assert!(text.contains("confirm") && text.contains("/tmp/mcp/people.csv"), "{text}");
    let (_, s) = h.ok("read_file", json!({"path": "/tmp/mcp/people.csv"})).await;
    assert_eq!(s["content"], text_content);
    let (text, s) = h
        .ok("put_file", json!({"path": "/tmp/mcp/people.csv", "contents": "new", "overwrite": true, "confirm": true}))
        .await;
    assert!(text.contains("Replaced"), "{text}");
    assert_eq!(s["replaced"], true);
    let (_, s) = h.ok("read_file", json!({"path": "/tmp/mcp/people.csv"})).await;
    assert_eq!(s["content"], "new");
    // Without overwrite an existing file is a Databricks error.
    let text = h.tool_error("put_file", json!({"path": "/tmp/mcp/people.csv", "contents": "again"})).await;
    assert!(text.contains("RESOURCE_ALREADY_EXISTS"), "{text}");

    // move_file.
    let (text, _) = h
        .ok(
            "move_file",
            json!({"source_path": "/tmp/mcp/people.csv", "destination_path": "dbfs:/tmp/mcp/sub/people.csv"}),
        )
        .await;
    assert!(text.contains("Moved"), "{text}");
    h.tool_error("get_file_status", json!({"path": "/tmp/mcp/people.csv"})).await;
    h.ok("get_file_status", json!({"path": "/tmp/mcp/sub/people.csv"})).await;
    let text = h
        .tool_error("move_file", json!({"source_path": "/tmp/mcp/blob.bin", "destination_path": "/tmp/mcp/big.txt"}))
        .await;
    assert!(text.contains("RESOURCE_ALREADY_EXISTS"), "{text}");

    // delete_file: refused without confirm, done with it; directories need recursive.
    let text = h.tool_error("delete_file", json!({"path": "/tmp/mcp/blob.bin"})).await;
    assert!(text.contains("confirm") && text.contains("/tmp/mcp/blob.bin"), "{text}");
    h.ok("get_file_status", json!({"path": "/tmp/mcp/blob.bin"})).await;
    let (_, s) = h.ok("delete_file", json!({"path": "/tmp/mcp/blob.bin", "confirm": true})).await;
    assert_eq!(s["deleted"], true);
    let text = h.tool_error("get_file_status", json!({"path": "/tmp/mcp/blob.bin"})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");
    h.tool_error("delete_file", json!({"path": "/tmp/mcp", "confirm": true})).await;
    h.ok("get_file_status", json!({"path": "/tmp/mcp/big.txt"})).await;
    let (text, _) = h.ok("delete_file", json!({"path": "/tmp/mcp", "recursive": true, "confirm": true})).await;
    assert!(text.contains("and its contents"), "{text}");
    h.tool_error("list_files", json!({"path": "/tmp/mcp"})).await;
}

#[tokio::test]
async fn dbfs_tools_report_errors_and_reject_bad_arguments() {
    let h = Harness::start().await;
    h.ok("mkdirs_dbfs", json!({"path": "/data"})).await;

    // Databricks errors become isError results with the code.
    let text = h.tool_error("get_file_status", json!({"path": "/no/such/file"})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST") && text.contains("404"), "{text}");
    let text = h.tool_error("read_file", json!({"path": "/no/such/file"})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");
    let text = h.tool_error("list_files", json!({"path": "/no/such/dir"})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");
    let text = h.tool_error("move_file", json!({"source_path": "/no/such", "destination_path": "/data/x"})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");
    let text = h.tool_error("delete_file", json!({"path": "/no/such", "confirm": true})).await;
    assert!(text.contains("RESOURCE_DOES_NOT_EXIST"), "{text}");
    // A directory cannot be read.
    let text = h.tool_error("read_file", json!({"path": "/data"})).await;
    assert!(text.contains("directory") && text.contains("list_files"), "{text}");

    // Argument checks.
    let msg = h.invalid("read_file", json!({"path": "/data/x", "length": 2_000_000})).await;
    assert!(msg.contains("`length`") && msg.contains("1 MB"), "{msg}");
    let msg = h.invalid("read_file", json!({"path": "/data/x", "offset": "ten"})).await;
    assert!(msg.contains("`offset`"), "{msg}");
    let msg = h.invalid("list_files", json!({"path": ["/data"]})).await;
    assert!(msg.contains("`path`"), "{msg}");
    let msg = h.invalid("put_file", json!({"path": "/data/x", "contents": "%%%", "contents_encoding": "base64"})).await;
    assert!(msg.contains("`contents`") && msg.contains("base64"), "{msg}");
    let msg = h.invalid("put_file", json!({"path": "/data/x", "contents": "a", "contents_encoding": "hex"})).await;
    assert!(msg.contains("`contents_encoding`"), "{msg}");
    let msg = h.invalid("put_file", json!({"path": "/data/x"})).await;
    assert!(msg.contains("contents"), "{msg}");
    let msg = h.invalid("delete_file", json!({"path": "/data", "recursive": 1})).await;
    assert!(msg.contains("`recursive`"), "{msg}");

    // Path checks.
    let msg = h.invalid("get_file_status", json!({"path": "tmp/x"})).await;
    assert!(msg.contains("`path`") && msg.contains("absolute"), "{msg}");
    let msg = h.invalid("get_file_status", json!({"path": "s3://bucket/x"})).await;
    assert!(msg.contains("`path`"), "{msg}");
    let msg = h.invalid("mkdirs_dbfs", json!({"path": "dbfs://tmp"})).await;
    assert!(msg.contains("`path`") && msg.contains("dbfs:/tmp"), "{msg}");
    let msg = h.invalid("list_files", json!({"path": "/data/../etc"})).await;
    assert!(msg.contains("`path`") && msg.contains(".."), "{msg}");
    let msg = h.invalid("move_file", json!({"source_path": "/data/a", "destination_path": "data/b"})).await;
    assert!(msg.contains("`destination_path`"), "{msg}");
    let msg = h.invalid("move_file", json!({"source_path": "/data/a", "destination_path": "dbfs:/data/a"})).await;
    assert!(msg.contains("`destination_path`"), "{msg}");
    let msg = h.invalid("delete_file", json!({"path": "dbfs:/", "confirm": true})).await;
    assert!(msg.contains("`path`"), "{msg}");

    // The directory is still there after all that.
    h.ok("get_file_status", json!({"path": "/data"})).await;
}
