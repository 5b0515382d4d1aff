//! Command execution API 1.2 (camelCase on the wire): execution contexts on a
//! running cluster and commands run in them. SQL commands run on the sandbox's SQL
//! engine; other languages get an error result that says the sandbox runs SQL only.
//!
//! Contexts live in memory, as on Databricks, where they do not survive a restart of
//! the cluster; a context whose cluster stopped or restarted reports `Error`.
//! Commands run in the background, one at a time per context, so that status polling
//! and cancellation behave as they do on a cluster.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State as Ax;
use axum::routing::{get, post};
use databricks_client::types;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::clusters::{body_object, require_str, typed};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Params};
use crate::sql::QueryOutput;

const LANGUAGES: &[&str] = &["python", "scala", "sql", "r"];
/// Databricks allows about this many execution contexts per cluster.
const MAX_CONTEXTS_PER_CLUSTER: usize = 145;
/// Rows returned in a table result; more set `truncated`.
const MAX_RESULT_ROWS: usize = 1000;

/// The execution contexts of every cluster.
#[derive(Debug, Default)]
pub struct State {
    contexts: HashMap<String, Context>,
}

#[derive(Debug)]
struct Context {
    cluster_id: String,
    /// When the context becomes usable.
    ready_at: i64,
    /// The cluster's last (re)start when the context was made; a different value
    /// later means the driver was replaced and the context is gone.
    cluster_started_at: Option<i64>,
    /// Commands run one at a time.
    turn: Arc<tokio::sync::Mutex<()>>,
    commands: HashMap<String, Command>,
}

#[derive(Debug)]
struct Command {
    status: &'static str,
    results: Option<Value>,
    cancel: CancellationToken,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/1.2/contexts/create", post(create_context))
        .route("/api/1.2/contexts/status", get(context_status))
        .route("/api/1.2/contexts/destroy", post(destroy_context))
        .route("/api/1.2/commands/execute", post(execute))
        .route("/api/1.2/commands/status", get(command_status))
        .route("/api/1.2/commands/cancel", post(cancel))
}

fn lock(state: &AppState) -> std::sync::MutexGuard<'_, State> {
    state.exec.lock().unwrap_or_else(|p| p.into_inner())
}

fn check_language(language: &str) -> ApiResult<()> {
    if LANGUAGES.contains(&language) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("Unknown language {language:?}; expected one of {}.", LANGUAGES.join(", "))))
    }
}

/// The cluster must exist and be running (or resizing, which keeps it usable).
fn running_cluster(state: &AppState, cluster_id: &str) -> ApiResult<Option<i64>> {
    let Some(status) = crate::clusters::status(state, cluster_id) else {
        return Err(ApiError::does_not_exist_400(format!("Cluster {cluster_id} does not exist")));
    };
    if !matches!(status.state.as_str(), "RUNNING" | "RESIZING") {
        return Err(ApiError::invalid_state(format!(
            "Cluster {cluster_id} is not running (its state is {}); start it with POST /api/2.1/clusters/start \
             and wait until it is RUNNING before using execution contexts.",
            status.state
        )));
    }
    Ok(status.started_at)
}

fn no_such_context(cluster_id: &str, context_id: &str) -> ApiError {
    ApiError::not_found(format!("Execution context {context_id} does not exist on cluster {cluster_id}."))
}

/// `Pending`, `Running` or `Error`, looking at the context's cluster.
fn context_state(state: &AppState, cluster_id: &str, context_id: &str) -> ApiResult<&'static str> {
    let (ready_at, started_at) = {
        let guard = lock(state);
        let ctx = guard
            .contexts
            .get(context_id)
            .filter(|c| c.cluster_id == cluster_id)
            .ok_or_else(|| no_such_context(cluster_id, context_id))?;
        (ctx.ready_at, ctx.cluster_started_at)
    };
    let cluster = crate::clusters::status(state, cluster_id);
    Ok(match cluster {
        Some(c) if matches!(c.state.as_str(), "RUNNING" | "RESIZING") && c.started_at == started_at => {
            if crate::now_ms() < ready_at { "Pending" } else { "Running" }
        }
        _ => "Error",
    })
}

async fn create_context(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let cluster_id = require_str(&m, "clusterId")?.to_string();
    let language = require_str(&m, "language")?.to_string();
    let _: types::CommandExecutionCreateContextBody = typed(&m)?;
    check_language(&language)?;
    let started_at = running_cluster(&state, &cluster_id)?;
    let delay = i64::try_from(state.options.transition_delay.as_millis()).unwrap_or(i64::MAX / 4);
    let id = numeric_id();
    let mut guard = lock(&state);
    if guard.contexts.values().filter(|c| c.cluster_id == cluster_id).count() >= MAX_CONTEXTS_PER_CLUSTER {
        return Err(ApiError::new(
            429,
            "RESOURCE_EXHAUSTED",
            format!(
                "Cluster {cluster_id} already has {MAX_CONTEXTS_PER_CLUSTER} execution contexts; destroy unused ones first."
            ),
        ));
    }
    guard.contexts.insert(
        id.clone(),
        Context {
            cluster_id,
            ready_at: crate::now_ms().saturating_add(delay),
            cluster_started_at: started_at,
            turn: Arc::new(tokio::sync::Mutex::new(())),
            commands: HashMap::new(),
        },
    );
    Ok(Json(json!({ "id": id })))
}

/// A context id, a large decimal number as Databricks uses.
fn numeric_id() -> String {
    let bytes = uuid::Uuid::new_v4();
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes.as_bytes()[..8]);
    (u64::from_le_bytes(n) >> 1).max(1).to_string()
}

async fn context_status(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let cluster_id = params.required("clusterId")?;
    let context_id = params.required("contextId")?;
    let status = context_state(&state, cluster_id, context_id)?;
    Ok(Json(json!({ "id": context_id, "status": status })))
}

async fn destroy_context(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let cluster_id = require_str(&m, "clusterId")?;
    let context_id = require_str(&m, "contextId")?;
    let mut guard = lock(&state);
    if guard.contexts.get(context_id).is_none_or(|c| c.cluster_id != cluster_id) {
        return Err(no_such_context(cluster_id, context_id));
    }
    if let Some(ctx) = guard.contexts.remove(context_id) {
        for command in ctx.commands.values() {
            command.cancel.cancel();
        }
    }
    Ok(Json(json!({})))
}

async fn execute(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let cluster_id = require_str(&m, "clusterId")?.to_string();
    let context_id = require_str(&m, "contextId")?.to_string();
    let language = require_str(&m, "language")?.to_string();
    let command = match m.get("command") {
        None | Some(Value::Null) => return Err(ApiError::missing("command")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'command': expected a string, got {other}"
            )));
        }
    };
    let _: types::CommandExecutionExecuteCommandBody = typed(&m)?;
    check_language(&language)?;
    running_cluster(&state, &cluster_id)?;
    match context_state(&state, &cluster_id, &context_id)? {
        "Running" => {}
        "Pending" => {
            return Err(ApiError::invalid_state(format!(
                "Execution context {context_id} is still starting; poll contexts/status until it is Running."
            )));
        }
        _ => {
            return Err(ApiError::invalid_state(format!(
                "Execution context {context_id} is no longer usable because its cluster stopped or restarted; \
                 create a new context."
            )));
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let cancel = CancellationToken::new();
    let turn = {
        let mut guard = lock(&state);
        let ctx = guard.contexts.get_mut(&context_id).ok_or_else(|| no_such_context(&cluster_id, &context_id))?;
        ctx.commands.insert(id.clone(), Command { status: "Queued", results: None, cancel: cancel.clone() });
        ctx.turn.clone()
    };
    let job = CommandJob { state: state.clone(), context_id, command_id: id.clone(), language, command, cancel, turn };
    tokio::spawn(job.run());
    Ok(Json(json!({ "id": id })))
}

/// One command on its way through a context.
struct CommandJob {
    state: AppState,
    context_id: String,
    command_id: String,
    language: String,
    command: String,
    cancel: CancellationToken,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl CommandJob {
    async fn run(self) {
        let shutdown = self.state.shutdown.clone();
        let _turn = tokio::select! {
            turn = self.turn.clone().lock_owned() => turn,
            _ = self.cancel.cancelled() => return self.finish("Cancelled", Some(cancelled_result())),
            _ = shutdown.cancelled() => return,
        };
        if self.cancel.is_cancelled() {
            return self.finish("Cancelled", Some(cancelled_result()));
        }
        if !self.set_status("Running") {
            return;
        }
        let results = tokio::select! {
            r = run_command(&self.state, &self.language, &self.command) => r,
            _ = self.cancel.cancelled() => return self.finish("Cancelled", Some(cancelled_result())),
            _ = shutdown.cancelled() => return,
        };
        self.finish("Finished", Some(results));
    }

    /// Move the command to `status` unless it was cancelled or destroyed meanwhile.
    fn set_status(&self, status: &'static str) -> bool {
        let mut guard = lock(&self.state);
        let Some(command) = guard.contexts.get_mut(&self.context_id).and_then(|c| c.commands.get_mut(&self.command_id))
        else {
            return false;
        };
        if command.status == "Cancelling" || command.status == "Cancelled" {
            return false;
        }
        command.status = status;
        true
    }

    fn finish(&self, status: &'static str, results: Option<Value>) {
        let mut guard = lock(&self.state);
        if let Some(command) =
            guard.contexts.get_mut(&self.context_id).and_then(|c| c.commands.get_mut(&self.command_id))
        {
            // A cancel that arrived while the command was finishing wins.
            let (status, results) = if command.status == "Cancelling" && status == "Finished" {
                ("Cancelled", Some(cancelled_result()))
            } else {
                (status, results)
            };
            command.status = status;
            command.results = results;
        }
    }
}

fn cancelled_result() -> Value {
    json!({"resultType": "error", "summary": "Command cancelled.", "cause": "The command was cancelled by request."})
}

fn error_result(summary: String, cause: String) -> Value {
    json!({"resultType": "error", "summary": summary, "cause": cause})
}

async fn run_command(state: &AppState, language: &str, command: &str) -> Value {
    if language != "sql" {
        return error_result(
            format!("The sandbox runs SQL only; {language} commands are not supported."),
            format!(
                "This Databricks sandbox has no {language} interpreter. Create the context with language \"sql\" \
                 and send SQL, or use the SQL Statement Execution API."
            ),
        );
    }
    let statements = crate::jobs::script::split_statements(command);
    let mut last: Option<QueryOutput> = None;
    for statement in &statements {
        match state.sql.run(statement, None, None).await {
            Ok(output) => last = Some(output),
            Err(e) => return error_result(format!("{}: {}", e.error_code, e.message), e.message.clone()),
        }
    }
    match last {
        None => json!({"resultType": "text", "data": ""}),
        Some(output) => table_result(&output),
    }
}

/// A table result: the schema as JSON-encoded Spark types, and typed rows.
fn table_result(output: &QueryOutput) -> Value {
    let kinds: Vec<String> = output.columns.iter().map(|c| spark_type(&c.type_name, &c.type_text)).collect();
    let schema: Vec<Value> = output
        .columns
        .iter()
        .zip(&kinds)
        .map(|(c, kind)| {
            json!({
                "name": c.name,
                "type": serde_json::to_string(kind).unwrap_or_else(|_| "\"string\"".into()),
                "metadata": "{}",
            })
        })
        .collect();
    let data: Vec<Value> = output
        .rows
        .iter()
        .take(MAX_RESULT_ROWS)
        .map(|row| Value::Array(row.iter().zip(&kinds).map(|(v, k)| typed_value(v.as_deref(), k)).collect()))
        .collect();
    json!({
        "resultType": "table",
        "schema": schema,
        "data": data,
        "truncated": output.rows.len() > MAX_RESULT_ROWS,
        "isJsonSchema": true,
    })
}

/// Spark's JSON name for a column type, from the Databricks (or Arrow) type name.
fn spark_type(type_name: &str, type_text: &str) -> String {
    let name = type_name.to_ascii_lowercase();
    let text = type_text.to_ascii_lowercase();
    match name.as_str() {
        "int" | "integer" | "int32" => "integer".into(),
        "bigint" | "long" | "int64" | "uint32" | "uint64" => "long".into(),
        "smallint" | "short" | "int16" | "uint8" | "uint16" => "short".into(),
        "tinyint" | "byte" | "int8" => "byte".into(),
        "double" | "float64" => "double".into(),
        "float" | "real" | "float32" | "float16" => "float".into(),
        "boolean" | "bool" => "boolean".into(),
        "string" | "utf8" | "largeutf8" | "utf8view" | "char" | "varchar" => "string".into(),
        "date" | "date32" | "date64" => "date".into(),
        "binary" | "largebinary" | "binaryview" => "binary".into(),
        "null" => "void".into(),
        n if n.starts_with("decimal") => {
            if text.starts_with("decimal(") {
                text
            } else if name.starts_with("decimal(") {
                name
            } else {
                "decimal(38,18)".into()
            }
        }
        n if n.starts_with("timestamp") => {
            if text.contains("ntz") || (n.starts_with("timestamp(") && !n.contains(',')) {
                "timestamp_ntz".into()
            } else {
                "timestamp".into()
            }
        }
        _ if !text.is_empty() => text,
        _ => name,
    }
}

/// A cell as a JSON value of its type: numbers and booleans unquoted.
fn typed_value(value: Option<&str>, kind: &str) -> Value {
    let Some(v) = value else { return Value::Null };
    match kind {
        "integer" | "long" | "short" | "byte" => v.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(v)),
        "double" | "float" => match v.parse::<f64>() {
            Ok(f) if f.is_finite() => json!(f),
            _ => json!(v),
        },
        "boolean" => match v {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(v),
        },
        _ => json!(v),
    }
}

fn command_params(params: &Params) -> ApiResult<(&str, &str, &str)> {
    Ok((params.required("clusterId")?, params.required("contextId")?, params.required("commandId")?))
}

async fn command_status(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let (cluster_id, context_id, command_id) = command_params(&params)?;
    let guard = lock(&state);
    let ctx = guard
        .contexts
        .get(context_id)
        .filter(|c| c.cluster_id == cluster_id)
        .ok_or_else(|| no_such_context(cluster_id, context_id))?;
    let command = ctx.commands.get(command_id).ok_or_else(|| no_such_command(context_id, command_id))?;
    let mut out = Map::new();
    out.insert("id".into(), json!(command_id));
    out.insert("status".into(), json!(command.status));
    if let Some(results) = &command.results {
        out.insert("results".into(), results.clone());
    }
    Ok(Json(Value::Object(out)))
}

fn no_such_command(context_id: &str, command_id: &str) -> ApiError {
    ApiError::not_found(format!("Command {command_id} does not exist in execution context {context_id}."))
}

async fn cancel(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let cluster_id = require_str(&m, "clusterId")?;
    let context_id = require_str(&m, "contextId")?;
    let command_id = require_str(&m, "commandId")?;
    let mut guard = lock(&state);
    let ctx = guard
        .contexts
        .get_mut(context_id)
        .filter(|c| c.cluster_id == cluster_id)
        .ok_or_else(|| no_such_context(cluster_id, context_id))?;
    let command = ctx.commands.get_mut(command_id).ok_or_else(|| no_such_command(context_id, command_id))?;
    match command.status {
        "Queued" => {
            command.status = "Cancelled";
            command.results = Some(cancelled_result());
            command.cancel.cancel();
        }
        "Running" => {
            command.status = "Cancelling";
            command.cancel.cancel();
        }
        _ => {}
    }
    Ok(Json(json!({})))
}
