//! Tools of the `sql` toolset: run SQL on a warehouse through the Statement
//! Execution API, read results one bounded piece at a time, and manage warehouses.
//!
//! Results are never read whole: a tool renders rows from the first chunk it needs
//! and stops at a row budget (`max_rows`) and a byte budget ([`BYTE_BUDGET`]),
//! fetching one chunk at a time, so memory stays bounded whatever the result size.
//! The last line of every rendering says how many rows were left out and the exact
//! `get_statement_result_chunk` call that continues from there.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use databricks_client::wait::{self, WaitError};
use databricks_client::{Client, ClientPagesExt, types};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::output::describe_databricks_error;
use crate::tools::util;
use crate::{ToolContext, ToolError, ToolOutput, ToolResult, tool};

/// Rows rendered when `max_rows` is not given.
pub const DEFAULT_MAX_ROWS: u32 = 100;
/// The most rows one call renders.
pub const MAX_MAX_ROWS: u32 = 10_000;
/// The most bytes of rendered rows one call returns.
pub const BYTE_BUDGET: usize = 64 * 1024;
/// Longer cell values are cut to this many characters.
pub const MAX_CELL_CHARS: usize = 2_000;
/// How long `execute_sql` waits by default, in seconds.
pub const DEFAULT_SQL_TIMEOUT_SECONDS: u64 = 120;
/// The longest the submit call itself blocks (the API allows 5–50 s).
const SUBMIT_WAIT_SECONDS: u64 = 30;
/// The most result chunks one call fetches (each holds at least one row).
const MAX_CHUNK_FETCHES: usize = 16;
/// The most warehouses looked at when picking one.
const MAX_WAREHOUSES_SCANNED: usize = 1_000;

// ---------------------------------------------------------------------------------
// Arguments shared by the statement tools.

/// How result rows are rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResultFormat {
    /// A Markdown table; SQL NULL shows as NULL
    #[default]
    Markdown,
    /// CSV with a header row; NULL is an empty field and an empty string is ""
    Csv,
    /// A JSON array of row objects keyed by column name; integers, floating-point numbers and booleans are typed, NULL is null, everything else is a string
    Json,
}

/// Values for the statement's named markers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SqlParameters {
    /// Marker name (without the colon) to value.
    Map(BTreeMap<String, Value>),
    /// Bindings with optional explicit SQL types.
    List(Vec<SqlParameter>),
}

/// One binding of a named marker.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlParameter {
    /// Marker name without the colon: `id` for `:id`.
    pub name: String,
    /// The value: a string in the type's SQL text form (e.g. "2024-01-31"), a number, a boolean, or null for SQL NULL.
    #[serde(default)]
    pub value: Value,
    /// SQL type of the value, e.g. INT, BIGINT, DATE, TIMESTAMP, DECIMAL(10,2). Defaults to STRING for strings and is inferred for numbers and booleans.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
}

// ---------------------------------------------------------------------------------
// execute_sql

/// Arguments of `execute_sql`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteSqlArgs {
    /// The SQL to run: exactly one statement. Bind values through `:name` markers and `parameters` instead of pasting them into the text.
    pub statement: String,
    /// ID of the SQL warehouse to run on. When omitted: the server's default warehouse, else the first RUNNING warehouse, else any warehouse (a stopped one starts automatically, which can take minutes).
    #[serde(default)]
    pub warehouse_id: Option<String>,
    /// Catalog used for unqualified table names, as if USE CATALOG had run first.
    #[serde(default)]
    pub catalog: Option<String>,
    /// Schema used for unqualified table names, as if USE SCHEMA had run first.
    #[serde(default)]
    pub schema: Option<String>,
    /// Values for `:name` markers in the statement: either an object of name to value (`{"id": 42, "day": "2024-01-31"}`; integers bind as INT or BIGINT, other numbers as DOUBLE, booleans as BOOLEAN, strings as STRING) or a list of `{"name", "value", "type"}` objects with an explicit SQL type. null binds SQL NULL.
    #[serde(default)]
    pub parameters: Option<SqlParameters>,
    /// How rows are rendered (default markdown).
    #[serde(default)]
    pub format: Option<ResultFormat>,
    /// The most rows to show, default 100, at most 10000. Output is also capped at about 64 KB; rows left out stay available through get_statement_result_chunk.
    #[serde(default)]
    pub max_rows: Option<u32>,
    /// Optional cap on the result itself, applied by the warehouse like a LIMIT clause; rows beyond it are discarded, not just hidden. Omit to keep the whole result.
    #[serde(default)]
    pub row_limit: Option<u64>,
    /// How long to wait for the statement, in seconds (default 120, at most 3600). A statement still running then keeps running; its id is returned for get_statement.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Run one SQL statement on a SQL warehouse and return its result as a compact
/// table (markdown, csv or json) with the column names. Picks a warehouse when none
/// is given and says which. Waits up to `timeout_seconds` (default 120); a longer
/// statement keeps running and its statement id is returned: poll it with
/// get_statement. A failed statement is an error with Databricks' message.
///
/// Shows at most `max_rows` rows (default 100) and about 64 KB. The last line says
/// how many rows were shown and how many left out, with the exact
/// get_statement_result_chunk call that fetches the rest. Use named markers
/// (`WHERE id = :id`) with `parameters` for values. Cancelling the request cancels
/// the statement.
#[tool(
    toolset = "sql",
    read_only = false,
    operations = [
        "statement_execution_execute_statement",
        "statement_execution_get_statement",
        "statement_execution_get_result_chunk",
        "statement_execution_cancel",
        "warehouses_list"
    ]
)]
pub async fn execute_sql(ctx: ToolContext, args: ExecuteSqlArgs) -> ToolResult {
    let started = Instant::now();
    if args.statement.trim().is_empty() {
        return Err(ToolError::InvalidArguments("invalid argument `statement`: it is empty".into()));
    }
    let timeout = util::wait_timeout(Some(args.timeout_seconds.unwrap_or(DEFAULT_SQL_TIMEOUT_SECONDS)));
    let format = args.format.unwrap_or_default();
    let max_rows = row_budget(args.max_rows);
    let parameters = match args.parameters {
        Some(p) => bindings(p)?,
        None => Vec::new(),
    };
    let row_limit = match args.row_limit {
        Some(n) => Some(
            i64::try_from(n)
                .map_err(|_| ToolError::InvalidArguments("invalid argument `row_limit`: it is too large".into()))?,
        ),
        None => None,
    };
    let warehouse = resolve_warehouse(&ctx, args.warehouse_id).await?;

    let submit_wait = if timeout.as_secs() >= 5 { timeout.as_secs().min(SUBMIT_WAIT_SECONDS) } else { 0 };
    let body = types::StatementExecutionExecuteStatementBody {
        byte_limit: None,
        catalog: args.catalog.filter(|c| !c.trim().is_empty()),
        disposition: Some(types::Disposition("INLINE".into())),
        format: Some(types::StatementFormat("JSON_ARRAY".into())),
        on_wait_timeout: Some(types::ExecuteStatementRequestOnWaitTimeout("CONTINUE".into())),
        parameters,
        query_tags: Vec::new(),
        row_limit,
        schema: args.schema.filter(|s| !s.trim().is_empty()),
        statement: args.statement,
        wait_timeout: Some(format!("{submit_wait}s")),
        warehouse_id: warehouse.id.clone(),
    };
    let mut response = submit(&ctx, body).await?;
    let Some(id) = response.statement_id.clone().filter(|s| !s.is_empty()) else {
        return Err(ToolError::failed("Databricks accepted the statement but returned no statement_id."));
    };
    let mut guard = CancelOnDrop::new(ctx.client.clone(), id.clone(), ctx.cancel.clone());

    if is_active(&state_of(&response)) {
        let remaining = timeout.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            guard.disarm();
            return Ok(still_running(&id, &state_of(&response), started.elapsed(), &warehouse));
        }
        match wait::statement_done(&ctx.client, &id, &ctx.wait_options(remaining)).await {
            Ok(done) => response = done,
            Err(WaitError::Failed { state, message, .. }) => {
                // Read the statement once more for the error code and SQLSTATE.
                response = match fetch_statement(&ctx.client, &id).await {
                    Ok(r) => r,
                    Err(_) => types::StatementResponse {
                        statement_id: Some(id.clone()),
                        status: Some(types::StatementStatus {
                            state: Some(types::StatementState(state)),
                            error: Some(types::ServiceError { error_code: None, message }),
                            sql_state: None,
                        }),
                        ..Default::default()
                    },
                };
            }
            Err(WaitError::TimedOut { state, elapsed, .. }) => {
                guard.disarm();
                return Ok(still_running(&id, &state, started.elapsed().max(elapsed), &warehouse));
            }
            Err(WaitError::Cancelled { state, .. }) => {
                if ctx.cancel.is_cancelled() {
                    guard.cancel_now().await;
                    return Err(ToolError::failed(format!(
                        "The request was cancelled; cancellation of statement {id} (last state {state}) was requested."
                    )));
                }
                guard.disarm();
                return Ok(still_running(&id, &state, started.elapsed(), &warehouse));
            }
            Err(WaitError::Api(e)) => {
                guard.disarm();
                return Err(about_statement(ToolError::Databricks(e), &id));
            }
            Err(other) => {
                guard.disarm();
                return Err(ToolError::failed(format!("{other} (statement {id}; check it with get_statement)")));
            }
        }
    }
    guard.disarm();

    let state = state_of(&response);
    match state.as_str() {
        "SUCCEEDED" => {}
        "FAILED" => return Err(ToolError::failed(failure_text(&id, &response))),
        "CANCELED" => {
            return Err(ToolError::failed(format!(
                "Statement {id} was canceled before it finished (by a cancel request, a warehouse stop or a timeout)."
            )));
        }
        "CLOSED" => {
            return Err(ToolError::failed(format!(
                "Statement {id} finished but its result was already released (CLOSED); run it again."
            )));
        }
        other => {
            return Ok(still_running(&id, other, started.elapsed(), &warehouse));
        }
    }

    let manifest = response.manifest.take().unwrap_or_default();
    let mut renderer = Renderer::new(format, &manifest, max_rows);
    let walked = walk_rows(&ctx.client, &id, response.result.take(), 0, 0, &manifest, &mut renderer)
        .await
        .map_err(|e| about_statement(e, &id))?;

    let mut text = format!("Statement {id} SUCCEEDED on {}.\n", warehouse.describe());
    text.push_str(&renderer.finish());
    text.push_str(&footer(&id, &manifest, &walked));
    let structured = json!({
        "statement_id": id,
        "state": "SUCCEEDED",
        "warehouse_id": warehouse.id,
        "columns": column_summaries(&manifest),
        "total_row_count": manifest.total_row_count,
        "truncated": manifest.truncated,
        "rows_shown": walked.count,
        "next": walked.next.map(|(chunk, skip)| json!({"chunk_index": chunk, "skip_rows": skip})),
    });
    Ok(ToolOutput::with_structured(text, util::compact(structured)))
}

/// The warehouse a statement runs on, and why it was chosen.
struct Warehouse {
    id: String,
    name: Option<String>,
    why: Option<String>,
}

impl Warehouse {
    fn describe(&self) -> String {
        let mut text = match &self.name {
            Some(name) => format!("warehouse {} ({name})", self.id),
            None => format!("warehouse {}", self.id),
        };
        if let Some(why) = &self.why {
            text.push_str(&format!(", {why}"));
        }
        text
    }
}

async fn resolve_warehouse(ctx: &ToolContext, explicit: Option<String>) -> Result<Warehouse, ToolError> {
    if let Some(id) = explicit.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        return Ok(Warehouse { id, name: None, why: None });
    }
    if let Some(id) = ctx.settings.default_warehouse_id.clone().filter(|s| !s.trim().is_empty()) {
        return Ok(Warehouse { id, name: None, why: Some("the server's default warehouse".into()) });
    }
    if let Some(id) = ctx.client.default_warehouse_id().filter(|s| !s.trim().is_empty()) {
        return Ok(Warehouse {
            id: id.to_string(),
            name: None,
            why: Some("the default warehouse of the Databricks configuration".into()),
        });
    }
    let mut warehouses = ctx.client.warehouses_list_all(|b| b);
    let mut fallback: Option<types::EndpointInfo> = None;
    let mut seen = 0;
    while let Some(w) = warehouses.next().await {
        let w = w?;
        seen += 1;
        if w.id.is_none() {
            continue;
        }
        if w.state.as_deref().map(String::as_str) == Some("RUNNING") {
            return Ok(Warehouse {
                id: w.id.unwrap_or_default(),
                name: w.name,
                why: Some("the first RUNNING warehouse (no warehouse_id was given)".into()),
            });
        }
        let usable = !matches!(w.state.as_deref().map(String::as_str), Some("DELETED" | "DELETING"));
        if fallback.is_none() && usable {
            fallback = Some(w);
        }
        if seen >= MAX_WAREHOUSES_SCANNED {
            break;
        }
    }
    match fallback {
        Some(w) => {
            let state = w.state.as_deref().cloned().unwrap_or_else(|| "UNKNOWN".into());
            Ok(Warehouse {
                id: w.id.unwrap_or_default(),
                name: w.name,
                why: Some(format!(
                    "chosen because no warehouse_id was given and none is RUNNING (it was {state}; it starts automatically, which can take minutes)"
                )),
            })
        }
        None => Err(ToolError::failed(
            "No SQL warehouse is available to these credentials. Create one in Databricks SQL, or pass warehouse_id.",
        )),
    }
}

/// Submit the statement in a task of its own: if the request is cancelled while
/// the submit call is still waiting, the task still learns the statement id and
/// cancels the statement.
async fn submit(
    ctx: &ToolContext,
    body: types::StatementExecutionExecuteStatementBody,
) -> Result<types::StatementResponse, ToolError> {
    let client = ctx.client.clone();
    let cancel = ctx.cancel.clone();
    let mut task = tokio::spawn(async move {
        let response = client.statement_execution_execute_statement().body(body).send().await;
        if cancel.is_cancelled()
            && let Ok(r) = &response
            && is_active(&state_of(r))
            && let Some(id) = r.statement_id.clone()
        {
            let _ = client.statement_execution_cancel().statement_id(id).send().await;
        }
        response
    });
    tokio::select! {
        joined = &mut task => {
            let response = joined.map_err(|e| ToolError::failed(format!("submitting the statement failed: {e}")))?;
            Ok(response?.into_inner())
        }
        // Dropping the handle leaves the task running: it cancels the statement.
        _ = ctx.cancel.cancelled() => Err(ToolError::failed(
            "The request was cancelled while the statement was being submitted; it is cancelled as soon as Databricks returns its id.",
        )),
    }
}

/// Cancels the statement when dropped while the request is cancelled (the server
/// drops a cancelled tool's future), unless disarmed.
struct CancelOnDrop {
    client: Client,
    statement_id: String,
    cancel: CancellationToken,
    armed: bool,
}

impl CancelOnDrop {
    fn new(client: Client, statement_id: String, cancel: CancellationToken) -> Self {
        Self { client, statement_id, cancel, armed: true }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }

    fn spawn_cancel(&self) -> Option<tokio::task::JoinHandle<()>> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let client = self.client.clone();
        let id = self.statement_id.clone();
        Some(handle.spawn(async move {
            if let Err(e) = client.statement_execution_cancel().statement_id(id.clone()).send().await {
                tracing::debug!("could not cancel statement {id}: {e}");
            }
        }))
    }

    /// Send the cancellation now and wait for it to be sent.
    async fn cancel_now(&mut self) {
        self.armed = false;
        if let Some(task) = self.spawn_cancel() {
            let _ = task.await;
        }
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed && self.cancel.is_cancelled() {
            let _ = self.spawn_cancel();
        }
    }
}

fn still_running(id: &str, state: &str, elapsed: Duration, warehouse: &Warehouse) -> ToolOutput {
    let text = format!(
        "Statement {id} is still {state} after {}s on {}. It may still be running: poll it with get_statement statement_id={id} (or stop it with cancel_statement); do not submit it again.",
        elapsed.as_secs(),
        warehouse.describe()
    );
    ToolOutput::with_structured(
        text,
        json!({"statement_id": id, "state": state, "warehouse_id": warehouse.id, "finished": false}),
    )
}

/// Turn named-marker values into the API's bindings.
fn bindings(parameters: SqlParameters) -> Result<Vec<types::StatementParameterListItem>, ToolError> {
    let pairs: Vec<(String, Value, Option<String>)> = match parameters {
        SqlParameters::Map(map) => map.into_iter().map(|(name, value)| (name, value, None)).collect(),
        SqlParameters::List(list) => list.into_iter().map(|p| (p.name, p.value, p.type_)).collect(),
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(pairs.len());
    for (name, value, explicit_type) in pairs {
        let name = name.trim().trim_start_matches(':').to_string();
        if name.is_empty() {
            return Err(ToolError::InvalidArguments("invalid argument `parameters`: a parameter has no name".into()));
        }
        if !seen.insert(name.clone()) {
            return Err(ToolError::InvalidArguments(format!(
                "invalid argument `parameters`: `{name}` is given more than once"
            )));
        }
        let (text, inferred) = match value {
            Value::Null => (None, None),
            Value::Bool(b) => (Some(b.to_string()), Some("BOOLEAN")),
            Value::Number(n) => {
                let kind = if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) {
                    "INT"
                } else if n.is_i64() || n.is_u64() {
                    "BIGINT"
                } else {
                    "DOUBLE"
                };
                (Some(n.to_string()), Some(kind))
            }
            Value::String(s) => (Some(s), None),
            Value::Array(_) | Value::Object(_) => {
                return Err(ToolError::InvalidArguments(format!(
                    "invalid argument `parameters.{name}`: a value must be a string, number, boolean or null"
                )));
            }
        };
        let type_ = explicit_type.filter(|t| !t.trim().is_empty()).or_else(|| inferred.map(str::to_string));
        out.push(types::StatementParameterListItem { name, type_, value: text });
    }
    Ok(out)
}

fn row_budget(max_rows: Option<u32>) -> usize {
    max_rows.unwrap_or(DEFAULT_MAX_ROWS).min(MAX_MAX_ROWS) as usize
}

fn state_of(r: &types::StatementResponse) -> String {
    r.status.as_ref().and_then(|s| s.state.as_deref()).map(String::to_string).unwrap_or_else(|| "UNKNOWN".into())
}

fn is_active(state: &str) -> bool {
    matches!(state, "PENDING" | "RUNNING")
}

/// The error text of a FAILED statement: Databricks' message, code and SQLSTATE.
fn failure_text(id: &str, r: &types::StatementResponse) -> String {
    let status = r.status.as_ref();
    let error = status.and_then(|s| s.error.as_ref());
    let message = error.and_then(|e| e.message.clone()).unwrap_or_else(|| "no error message was given".into());
    let mut text = format!("Statement {id} FAILED");
    if let Some(code) = error.and_then(|e| e.error_code.as_deref()) {
        text.push_str(&format!(" [{}]", code.as_str()));
    }
    text.push_str(&format!(": {message}"));
    if let Some(sql_state) = status.and_then(|s| s.sql_state.as_deref()) {
        text.push_str(&format!(" (SQLSTATE {sql_state})"));
    }
    text
}

/// Add the statement id to an error that happened after the statement was
/// submitted, so the agent can look at it instead of running it again.
fn about_statement(e: ToolError, id: &str) -> ToolError {
    match e {
        ToolError::Databricks(e) => ToolError::failed(format!(
            "{} (statement {id}; look at it with get_statement)",
            describe_databricks_error(&e)
        )),
        other => other,
    }
}

/// Read a statement's status (and, once SUCCEEDED, its manifest and first chunk).
async fn fetch_statement(client: &Client, id: &str) -> Result<types::StatementResponse, ToolError> {
    Ok(client.statement_execution_get_statement().statement_id(id).send().await?.into_inner())
}

// ---------------------------------------------------------------------------------
// Rendering.

/// A result cell as the client decodes it: a string, or (for SQL NULL) nothing.
trait CellText {
    fn text(&self) -> Option<&str>;
}

impl CellText for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl CellText for Option<String> {
    fn text(&self) -> Option<&str> {
        self.as_deref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
    Boolean,
    Text,
}

fn kind_of(type_name: Option<&str>) -> Kind {
    match type_name.map(str::to_ascii_uppercase).as_deref() {
        Some("BYTE" | "SHORT" | "INT" | "LONG" | "TINYINT" | "SMALLINT" | "BIGINT" | "INTEGER") => Kind::Integer,
        Some("FLOAT" | "DOUBLE") => Kind::Float,
        Some("BOOLEAN") => Kind::Boolean,
        _ => Kind::Text,
    }
}

/// Renders rows within the row and byte budgets.
struct Renderer {
    format: ResultFormat,
    names: Vec<String>,
    kinds: Vec<Kind>,
    out: String,
    header_len: usize,
    rows: usize,
    max_rows: usize,
    budget_hit: bool,
    cut_cells: bool,
}

impl Renderer {
    fn new(format: ResultFormat, manifest: &types::ResultManifest, max_rows: usize) -> Self {
        let columns: &[types::ColumnInfo] = manifest.schema.as_ref().map(|s| s.columns.as_slice()).unwrap_or(&[]);
        let mut names: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| c.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("col{}", i + 1)))
            .collect();
        let kinds = columns.iter().map(|c| kind_of(c.type_name.as_deref().map(String::as_str))).collect();
        if format == ResultFormat::Json {
            // Object keys must be unique.
            let mut seen = BTreeSet::new();
            for name in &mut names {
                let base = name.clone();
                let mut n = 2;
                while !seen.insert(name.clone()) {
                    *name = format!("{base}_{n}");
                    n += 1;
                }
            }
        }
        let mut out = String::new();
        if !names.is_empty() {
            match format {
                ResultFormat::Markdown => {
                    let header: Vec<String> = names.iter().map(|n| markdown_cell(n)).collect();
                    out.push_str(&format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(names.len())));
                }
                ResultFormat::Csv => {
                    let header: Vec<String> = names.iter().map(|n| csv_cell(Some(n))).collect();
                    out.push_str(&header.join(","));
                    out.push('\n');
                }
                ResultFormat::Json => out.push('['),
            }
        }
        let header_len = out.len();
        Self { format, names, kinds, out, header_len, rows: 0, max_rows, budget_hit: false, cut_cells: false }
    }

    fn is_full(&self) -> bool {
        self.rows >= self.max_rows || self.budget_hit
    }

    /// Add one row; false (and nothing added) when a budget is used up.
    fn push<C: CellText>(&mut self, row: &[C]) -> bool {
        if self.is_full() {
            return false;
        }
        let width = self.names.len().max(row.len());
        let mut cells: Vec<Option<String>> = Vec::with_capacity(width);
        for i in 0..width {
            let value = row.get(i).and_then(CellText::text).map(|s| self.cut(s));
            cells.push(value);
        }
        let line = match self.format {
            ResultFormat::Markdown => {
                let shown: Vec<String> =
                    cells.iter().map(|c| c.as_deref().map_or_else(|| "NULL".to_string(), markdown_cell)).collect();
                format!("| {} |\n", shown.join(" | "))
            }
            ResultFormat::Csv => {
                let shown: Vec<String> = cells.iter().map(|c| csv_cell(c.as_deref())).collect();
                format!("{}\n", shown.join(","))
            }
            ResultFormat::Json => {
                let mut object = Map::new();
                for (i, cell) in cells.into_iter().enumerate() {
                    let key = self.names.get(i).cloned().unwrap_or_else(|| format!("col{}", i + 1));
                    let kind = self.kinds.get(i).copied().unwrap_or(Kind::Text);
                    object.insert(key, json_cell(cell, kind));
                }
                let separator = if self.rows == 0 { "\n" } else { ",\n" };
                format!("{separator}{}", Value::Object(object))
            }
        };
        if self.out.len() - self.header_len + line.len() > BYTE_BUDGET {
            self.budget_hit = true;
            return false;
        }
        self.out.push_str(&line);
        self.rows += 1;
        true
    }

    fn cut(&mut self, s: &str) -> String {
        match s.char_indices().nth(MAX_CELL_CHARS) {
            Some((at, _)) => {
                self.cut_cells = true;
                format!("{}…", &s[..at])
            }
            None => s.to_string(),
        }
    }

    /// The rendered rows (empty when the result has no columns).
    fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        if self.format == ResultFormat::Json && !self.names.is_empty() {
            out.push_str(if self.rows == 0 { "]\n" } else { "\n]\n" });
        }
        if self.cut_cells {
            out.push_str(&format!("(values longer than {MAX_CELL_CHARS} characters were cut and end with …)\n"));
        }
        out
    }
}

fn markdown_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn csv_cell(value: Option<&str>) -> String {
    match value {
        None => String::new(),
        Some(s) => {
            let quote = s.is_empty()
                || s.contains([',', '"', '\n', '\r'])
                || s.starts_with(char::is_whitespace)
                || s.ends_with(char::is_whitespace);
            if quote { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
        }
    }
}

fn json_cell(value: Option<String>, kind: Kind) -> Value {
    let Some(s) = value else { return Value::Null };
    match kind {
        Kind::Integer => s.parse::<i64>().map(Value::from).unwrap_or(Value::String(s)),
        Kind::Float => match s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(s),
        },
        Kind::Boolean => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(s),
        },
        Kind::Text => Value::String(s),
    }
}

/// Where a rendering started and stopped.
struct Walked {
    /// Position in the whole result of the first row looked at.
    start: i64,
    /// Rows rendered.
    count: usize,
    /// Where the next unshown row is: chunk index and rows to skip in it.
    next: Option<(i64, usize)>,
    /// The byte budget, not the row budget, ended the rendering.
    budget_hit: bool,
}

/// Render rows starting at row `skip` of chunk `chunk_index`, continuing into later
/// chunks until a budget is used up. `first` is that chunk when the caller has it
/// already. One chunk is held at a time.
async fn walk_rows(
    client: &Client,
    statement_id: &str,
    first: Option<types::ResultData>,
    chunk_index: i64,
    skip: usize,
    manifest: &types::ResultManifest,
    renderer: &mut Renderer,
) -> Result<Walked, ToolError> {
    let total = manifest.total_row_count.unwrap_or(0);
    let mut chunk = match first {
        Some(c) => c,
        None if total == 0 && chunk_index == 0 => {
            return Ok(Walked { start: 0, count: 0, next: None, budget_hit: false });
        }
        None => fetch_chunk(client, statement_id, chunk_index).await?,
    };
    let mut index = chunk.chunk_index.unwrap_or(chunk_index);
    let mut skip = skip;
    let start = chunk.row_offset.unwrap_or(0) + i64::try_from(skip).unwrap_or(i64::MAX);
    let mut fetches = 0;
    loop {
        let rows = &chunk.data_array;
        if skip > rows.len() {
            return Err(ToolError::InvalidArguments(format!(
                "invalid argument `skip_rows`: chunk {index} has only {} rows",
                rows.len()
            )));
        }
        for (i, row) in rows.iter().enumerate().skip(skip) {
            if !renderer.push(row) {
                return Ok(Walked {
                    start,
                    count: renderer.rows,
                    next: Some((index, i)),
                    budget_hit: renderer.budget_hit,
                });
            }
        }
        let Some(next) = chunk.next_chunk_index else {
            return Ok(Walked { start, count: renderer.rows, next: None, budget_hit: false });
        };
        if renderer.is_full() || fetches >= MAX_CHUNK_FETCHES {
            return Ok(Walked { start, count: renderer.rows, next: Some((next, 0)), budget_hit: renderer.budget_hit });
        }
        chunk = fetch_chunk(client, statement_id, next).await?;
        fetches += 1;
        index = chunk.chunk_index.unwrap_or(next);
        skip = 0;
    }
}

async fn fetch_chunk(client: &Client, statement_id: &str, index: i64) -> Result<types::ResultData, ToolError> {
    Ok(client
        .statement_execution_get_result_chunk()
        .statement_id(statement_id)
        .chunk_index(index)
        .send()
        .await?
        .into_inner())
}

/// The explicit last line: how many rows were shown and how to get the rest.
fn footer(statement_id: &str, manifest: &types::ResultManifest, walked: &Walked) -> String {
    let columns = manifest.schema.as_ref().map_or(0, |s| s.columns.len());
    let total = manifest.total_row_count.unwrap_or_else(|| walked.start + walked.count as i64);
    let mut text = String::new();
    if manifest.truncated == Some(true) {
        text.push_str(
            "Note: Databricks cut this result short (row_limit or byte limit); rows beyond the cut are gone.\n",
        );
    }
    if columns == 0 && total == 0 {
        text.push_str("The statement returned no rows.");
        return text;
    }
    let count = walked.count as i64;
    let continuation = |(chunk, skip): (i64, usize)| {
        let mut call = format!("get_statement_result_chunk statement_id={statement_id} chunk_index={chunk}");
        if skip > 0 {
            call.push_str(&format!(" skip_rows={skip}"));
        }
        call
    };
    let after = (total - walked.start - count).max(0);
    let limit_note = if walked.budget_hit {
        " (the ~64 KB output limit was reached; select fewer columns or lower max_rows)"
    } else {
        ""
    };
    if walked.start == 0 {
        match walked.next {
            None if count >= total => text.push_str(&format!("All {total} rows shown.")),
            None => text.push_str(&format!("{count} of {total} rows shown.")),
            Some(next) => text.push_str(&format!(
                "{count} of {total} rows shown; {after} rows left out{limit_note} — fetch them with {}",
                continuation(next)
            )),
        }
    } else {
        let range = if count == 0 {
            format!("No rows shown from row {} of {total}", walked.start + 1)
        } else {
            format!("Rows {}–{} of {total} shown", walked.start + 1, walked.start + count)
        };
        match walked.next {
            None => text.push_str(&format!("{range}; these are the last rows.")),
            Some(next) => text.push_str(&format!(
                "{range}; {after} rows after them left out{limit_note} — fetch them with {}",
                continuation(next)
            )),
        }
    }
    text
}

fn column_summaries(manifest: &types::ResultManifest) -> Vec<Value> {
    manifest
        .schema
        .as_ref()
        .map(|s| {
            s.columns
                .iter()
                .map(|c| {
                    let type_ = c.type_text.clone().or_else(|| c.type_name.as_deref().cloned());
                    util::compact(json!({"name": c.name, "type": type_}))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A short description of the result: size, chunks and columns.
fn manifest_summary(manifest: &types::ResultManifest) -> String {
    let columns: Vec<String> = column_summaries(manifest)
        .iter()
        .map(|c| match (c["name"].as_str(), c["type"].as_str()) {
            (Some(n), Some(t)) => format!("{n} {t}"),
            (Some(n), None) => n.to_string(),
            _ => "?".into(),
        })
        .collect();
    let mut text = format!(
        "Result: {} rows in {} chunk(s), {} column(s): {}",
        manifest.total_row_count.map_or_else(|| "?".into(), |n| n.to_string()),
        manifest.total_chunk_count.map_or_else(|| "?".into(), |n| n.to_string()),
        columns.len(),
        columns.join(", ")
    );
    if manifest.truncated == Some(true) {
        text.push_str(" (truncated by Databricks)");
    }
    text.push('\n');
    text
}

/// The manifest without its per-chunk list, which can be long.
fn manifest_json(manifest: &types::ResultManifest) -> Value {
    let mut value = serde_json::to_value(manifest).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("chunks");
    }
    value
}

// ---------------------------------------------------------------------------------
// get_statement

/// Arguments of `get_statement`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetStatementArgs {
    /// ID of the statement, as returned by execute_sql.
    pub statement_id: String,
    /// How rows are rendered (default markdown).
    #[serde(default)]
    pub format: Option<ResultFormat>,
    /// The most rows to show, default 100, at most 10000 (output is also capped at about 64 KB).
    #[serde(default)]
    pub max_rows: Option<u32>,
}

/// Get a SQL statement's state (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED or
/// CLOSED) and, once it has SUCCEEDED, a summary of its result (row and chunk
/// counts, columns and types) with its first rows rendered like execute_sql does,
/// ending with how to fetch the rows left out. A FAILED statement shows Databricks'
/// error. Use it to poll a statement that execute_sql left running; it does not wait.
#[tool(
    toolset = "sql",
    read_only,
    operations = ["statement_execution_get_statement", "statement_execution_get_result_chunk"]
)]
pub async fn get_statement(ctx: ToolContext, args: GetStatementArgs) -> ToolResult {
    let id = args.statement_id.trim().to_string();
    if id.is_empty() {
        return Err(ToolError::InvalidArguments("invalid argument `statement_id`: it is empty".into()));
    }
    let mut response = fetch_statement(&ctx.client, &id).await?;
    let state = state_of(&response);
    let mut structured = json!({"statement_id": id, "state": state, "status": response.status});
    let text = match state.as_str() {
        "SUCCEEDED" => {
            let manifest = response.manifest.take().unwrap_or_default();
            let mut renderer = Renderer::new(args.format.unwrap_or_default(), &manifest, row_budget(args.max_rows));
            let walked = walk_rows(&ctx.client, &id, response.result.take(), 0, 0, &manifest, &mut renderer).await?;
            structured["manifest"] = manifest_json(&manifest);
            structured["rows_shown"] = json!(walked.count);
            if let Some((chunk, skip)) = walked.next {
                structured["next"] = json!({"chunk_index": chunk, "skip_rows": skip});
            }
            let mut text = format!("Statement {id} SUCCEEDED.\n");
            text.push_str(&manifest_summary(&manifest));
            text.push_str(&renderer.finish());
            text.push_str(&footer(&id, &manifest, &walked));
            text
        }
        "PENDING" | "RUNNING" => {
            format!("Statement {id} is {state}. Call get_statement again later, or cancel_statement to stop it.")
        }
        "FAILED" => format!("{}.", failure_text(&id, &response)),
        "CANCELED" => format!("Statement {id} was CANCELED; it has no result."),
        "CLOSED" => format!("Statement {id} is CLOSED: its result was released and can no longer be fetched."),
        other => format!("Statement {id} is in state {other}."),
    };
    Ok(ToolOutput::with_structured(text, structured))
}

// ---------------------------------------------------------------------------------
// get_statement_result_chunk

/// Arguments of `get_statement_result_chunk`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetStatementResultChunkArgs {
    /// ID of a statement that has SUCCEEDED.
    pub statement_id: String,
    /// Zero-based index of the result chunk to start from, as given in the last line of execute_sql, get_statement or this tool.
    pub chunk_index: u32,
    /// Rows of that chunk to skip first (the continuation line gives it when a rendering stopped inside a chunk). Default 0.
    #[serde(default)]
    pub skip_rows: Option<u32>,
    /// How rows are rendered (default markdown).
    #[serde(default)]
    pub format: Option<ResultFormat>,
    /// The most rows to show, default 100, at most 10000 (output is also capped at about 64 KB).
    #[serde(default)]
    pub max_rows: Option<u32>,
}

/// Render more rows of a SUCCEEDED statement's result, starting at a chunk index
/// (and optionally skipping rows inside it), continuing into later chunks until
/// `max_rows` (default 100) or about 64 KB. The last line gives the position of the
/// rows shown and the exact call for the next rows. Use the continuation that
/// execute_sql, get_statement or a previous call printed.
#[tool(
    toolset = "sql",
    read_only,
    operations = ["statement_execution_get_statement", "statement_execution_get_result_chunk"]
)]
pub async fn get_statement_result_chunk(ctx: ToolContext, args: GetStatementResultChunkArgs) -> ToolResult {
    let id = args.statement_id.trim().to_string();
    if id.is_empty() {
        return Err(ToolError::InvalidArguments("invalid argument `statement_id`: it is empty".into()));
    }
    // The statement gives the column names and the row count.
    let mut response = fetch_statement(&ctx.client, &id).await?;
    let state = state_of(&response);
    if state != "SUCCEEDED" {
        let why = match state.as_str() {
            "FAILED" => failure_text(&id, &response),
            "PENDING" | "RUNNING" => format!("Statement {id} is still {state}; poll it with get_statement first"),
            other => format!("Statement {id} is {other}"),
        };
        return Err(ToolError::failed(format!("{why}. Result chunks exist only for a SUCCEEDED statement.")));
    }
    let manifest = response.manifest.take().unwrap_or_default();
    let chunk_index = i64::from(args.chunk_index);
    if let Some(count) = manifest.total_chunk_count
        && chunk_index >= count.max(1)
    {
        return Err(ToolError::InvalidArguments(format!(
            "invalid argument `chunk_index`: the result has {count} chunk(s), numbered from 0"
        )));
    }
    let first = if chunk_index == 0 { response.result.take() } else { None };
    drop(response);
    let skip = args.skip_rows.unwrap_or(0) as usize;
    let mut renderer = Renderer::new(args.format.unwrap_or_default(), &manifest, row_budget(args.max_rows));
    let walked = match (first, chunk_index, manifest.total_row_count) {
        (None, 0, Some(0)) if skip > 0 => {
            return Err(ToolError::InvalidArguments("invalid argument `skip_rows`: the result has no rows".into()));
        }
        (first, _, _) => walk_rows(&ctx.client, &id, first, chunk_index, skip, &manifest, &mut renderer).await?,
    };
    let mut text = renderer.finish();
    text.push_str(&footer(&id, &manifest, &walked));
    let structured = json!({
        "statement_id": id,
        "first_row": walked.start,
        "rows_shown": walked.count,
        "total_row_count": manifest.total_row_count,
        "next": walked.next.map(|(chunk, skip)| json!({"chunk_index": chunk, "skip_rows": skip})),
    });
    Ok(ToolOutput::with_structured(text, util::compact(structured)))
}

// ---------------------------------------------------------------------------------
// cancel_statement

/// Arguments of `cancel_statement`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelStatementArgs {
    /// ID of the statement to cancel.
    pub statement_id: String,
    /// Set to true to confirm cancelling the statement.
    #[serde(default)]
    pub confirm: bool,
}

/// Cancel a PENDING or RUNNING SQL statement. Cancellation is asynchronous: the
/// tool reports the state right after the request; check it later with
/// get_statement (CANCELED, or another final state if it finished first). A
/// finished statement is not affected. Needs confirm: true.
#[tool(
    toolset = "sql",
    read_only = false,
    destructive,
    idempotent,
    operations = ["statement_execution_cancel", "statement_execution_get_statement"]
)]
pub async fn cancel_statement(ctx: ToolContext, args: CancelStatementArgs) -> ToolResult {
    let id = args.statement_id.trim().to_string();
    if id.is_empty() {
        return Err(ToolError::InvalidArguments("invalid argument `statement_id`: it is empty".into()));
    }
    ctx.confirm(args.confirm, &format!("Cancel SQL statement {id}; its work so far is discarded")).await?;
    ctx.client.statement_execution_cancel().statement_id(&id).send().await?;
    let state = match ctx.client.statement_execution_get_statement().statement_id(&id).send().await {
        Ok(r) => state_of(&r),
        Err(_) => "UNKNOWN".into(),
    };
    let text = match state.as_str() {
        "CANCELED" => format!("Statement {id} is CANCELED."),
        "PENDING" | "RUNNING" => format!(
            "Cancellation of statement {id} was requested; it is still {state}. Check with get_statement until it is CANCELED."
        ),
        other => format!(
            "Cancellation of statement {id} was requested; its state is {other} (a statement that had already finished keeps its outcome)."
        ),
    };
    Ok(ToolOutput::with_structured(text, json!({"statement_id": id, "state": state})))
}

// ---------------------------------------------------------------------------------
// Warehouses.

fn warehouse_summary(w: &types::EndpointInfo) -> Value {
    util::compact(json!({
        "id": w.id,
        "name": w.name,
        "state": w.state,
        "cluster_size": w.cluster_size,
        "warehouse_type": w.warehouse_type,
        "serverless": w.enable_serverless_compute,
    }))
}

/// Arguments of `list_warehouses`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWarehousesArgs {
    /// The most warehouses to return in this page; the server picks when omitted.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// next_page_token from a previous call, to get the following page.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// List the SQL warehouses visible to the caller with id, name, state (RUNNING,
/// STOPPED, STARTING, …), cluster_size and warehouse_type. Pass a warehouse id to
/// execute_sql, or to get_warehouse for its full configuration. When more exist,
/// next_page_token is returned: pass it as page_token.
#[tool(toolset = "sql", read_only, operation = "warehouses_list")]
pub async fn list_warehouses(ctx: ToolContext, args: ListWarehousesArgs) -> ToolResult {
    let mut request = ctx.client.warehouses_list();
    if let Some(size) = args.page_size {
        request = request.page_size(i64::from(size));
    }
    if let Some(token) = args.page_token.filter(|t| !t.is_empty()) {
        request = request.page_token(token);
    }
    let page = request.send().await?.into_inner();
    let next = page.next_page_token.filter(|t| !t.is_empty());
    let rows: Vec<Vec<String>> = page
        .warehouses
        .iter()
        .map(|w| {
            vec![
                w.id.clone().unwrap_or_default(),
                w.name.clone().unwrap_or_default(),
                w.state.as_deref().cloned().unwrap_or_default(),
                w.cluster_size.clone().unwrap_or_default(),
                w.warehouse_type.as_deref().cloned().unwrap_or_default(),
            ]
        })
        .collect();
    let mut text = if rows.is_empty() {
        "No SQL warehouses on this page.\n".to_string()
    } else {
        util::markdown_table(&["id", "name", "state", "cluster_size", "warehouse_type"], &rows)
    };
    if let Some(token) = &next {
        text.push_str(&format!("More warehouses exist: call list_warehouses with page_token={token}\n"));
    }
    let summaries: Vec<Value> = page.warehouses.iter().map(warehouse_summary).collect();
    Ok(ToolOutput::with_structured(text, util::compact(json!({"warehouses": summaries, "next_page_token": next}))))
}

/// Arguments of the tools that address one warehouse.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetWarehouseArgs {
    /// ID of the SQL warehouse (see list_warehouses).
    pub id: String,
}

/// Get one SQL warehouse's full configuration and state: size, scaling, auto-stop,
/// type and serverless flag, health and JDBC/ODBC connection details. Does not start it.
#[tool(toolset = "sql", read_only, operation = "warehouses_get")]
pub async fn get_warehouse(ctx: ToolContext, args: GetWarehouseArgs) -> ToolResult {
    let id = non_empty_id(&args.id)?;
    let warehouse = ctx.client.warehouses_get().id(id).send().await?.into_inner();
    Ok(ToolOutput::json(warehouse))
}

fn non_empty_id(id: &str) -> Result<&str, ToolError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(ToolError::InvalidArguments("invalid argument `id`: it is empty".into()));
    }
    Ok(id)
}

/// Arguments of `start_warehouse`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartWarehouseArgs {
    /// ID of the SQL warehouse to start.
    pub id: String,
    /// Wait until the warehouse is RUNNING. Default false: return once the start is requested.
    #[serde(default)]
    pub wait: bool,
    /// With wait: the most seconds to wait (default 300, at most 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Start a stopped SQL warehouse (harmless when it already runs). Returns at once
/// with its state, or with wait: true waits until it is RUNNING; when the wait runs
/// out it returns the last state: poll with get_warehouse. It costs money while it
/// runs. execute_sql also starts a stopped warehouse by itself.
#[tool(toolset = "sql", read_only = false, idempotent, operations = ["warehouses_start", "warehouses_get"])]
pub async fn start_warehouse(ctx: ToolContext, args: StartWarehouseArgs) -> ToolResult {
    let id = non_empty_id(&args.id)?.to_string();
    ctx.client.warehouses_start().id(&id).send().await?;
    if !args.wait {
        let w = ctx.client.warehouses_get().id(&id).send().await?.into_inner();
        let state = w.state.as_deref().cloned().unwrap_or_else(|| "UNKNOWN".into());
        return Ok(ToolOutput::with_structured(
            format!(
                "Start of warehouse {id} requested; it is {state}. Call start_warehouse with wait: true, or get_warehouse, to follow it to RUNNING."
            ),
            json!({"id": id, "state": state}),
        ));
    }
    let timeout = util::wait_timeout(args.timeout_seconds);
    match wait::warehouse_running(&ctx.client, &id, &ctx.wait_options(timeout)).await {
        Ok(w) => Ok(ToolOutput::with_structured(
            format!("Warehouse {id} is RUNNING."),
            json!({"id": id, "state": w.state.as_deref().cloned().unwrap_or_else(|| "RUNNING".into())}),
        )),
        Err(WaitError::TimedOut { state, .. } | WaitError::Cancelled { state, .. }) => Ok(ToolOutput::with_structured(
            format!(
                "Warehouse {id} is still {state}; it may still be starting. Poll it with get_warehouse rather than starting it again."
            ),
            json!({"id": id, "state": state}),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Arguments of `stop_warehouse`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopWarehouseArgs {
    /// ID of the SQL warehouse to stop.
    pub id: String,
    /// Set to true to confirm stopping the warehouse and interrupting statements running on it.
    #[serde(default)]
    pub confirm: bool,
    /// Wait until the warehouse is STOPPED. Default false.
    #[serde(default)]
    pub wait: bool,
    /// With wait: the most seconds to wait (default 300, at most 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Stop a SQL warehouse, releasing its compute; statements running on it are
/// interrupted. Its configuration is kept: start_warehouse (or a new statement)
/// starts it again. Needs confirm: true. With wait: true, waits until it is
/// STOPPED; when the wait runs out it returns the last state: poll with get_warehouse.
#[tool(
    toolset = "sql",
    read_only = false,
    destructive,
    idempotent,
    operations = ["warehouses_stop", "warehouses_get"]
)]
pub async fn stop_warehouse(ctx: ToolContext, args: StopWarehouseArgs) -> ToolResult {
    let id = non_empty_id(&args.id)?.to_string();
    ctx.confirm(args.confirm, &format!("Stop SQL warehouse {id}; statements running on it are interrupted")).await?;
    ctx.client.warehouses_stop().id(&id).send().await?;
    if !args.wait {
        let w = ctx.client.warehouses_get().id(&id).send().await?.into_inner();
        let state = w.state.as_deref().cloned().unwrap_or_else(|| "UNKNOWN".into());
        return Ok(ToolOutput::with_structured(
            format!("Stop of warehouse {id} requested; it is {state}. Use get_warehouse to follow it to STOPPED."),
            json!({"id": id, "state": state}),
        ));
    }
    let timeout = util::wait_timeout(args.timeout_seconds);
    match wait::warehouse_stopped(&ctx.client, &id, &ctx.wait_options(timeout)).await {
        Ok(w) => Ok(ToolOutput::with_structured(
            format!("Warehouse {id} is STOPPED."),
            json!({"id": id, "state": w.state.as_deref().cloned().unwrap_or_else(|| "STOPPED".into())}),
        )),
        Err(WaitError::TimedOut { state, .. } | WaitError::Cancelled { state, .. }) => Ok(ToolOutput::with_structured(
            format!("Warehouse {id} is still {state}; it may still be stopping. Poll it with get_warehouse."),
            json!({"id": id, "state": state}),
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(columns: &[(&str, &str)], total: i64) -> types::ResultManifest {
        let columns = columns
            .iter()
            .map(|(n, t)| types::ColumnInfo {
                name: Some((*n).into()),
                type_name: Some(types::ColumnInfoTypeName((*t).into())),
                ..Default::default()
            })
            .collect();
        types::ResultManifest {
            schema: Some(types::ResultSchema { column_count: None, columns }),
            total_row_count: Some(total),
            ..Default::default()
        }
    }

    #[test]
    fn renders_every_format_with_nulls() {
        let m = manifest(&[("id", "INT"), ("name", "STRING"), ("id", "DOUBLE")], 2);
        let rows: Vec<Vec<Option<String>>> = vec![
            vec![Some("1".into()), Some("a|b".into()), Some("1.5".into())],
            vec![None, Some(String::new()), Some("x".into())],
        ];
        let mut md = Renderer::new(ResultFormat::Markdown, &m, 10);
        let mut csv = Renderer::new(ResultFormat::Csv, &m, 10);
        let mut js = Renderer::new(ResultFormat::Json, &m, 10);
        for row in &rows {
            assert!(md.push(row) && csv.push(row) && js.push(row));
        }
        assert_eq!(md.finish(), "| id | name | id |\n|---|---|---|\n| 1 | a\\|b | 1.5 |\n| NULL |  | x |\n");
        assert_eq!(csv.finish(), "id,name,id\n1,a|b,1.5\n,\"\",x\n");
        let parsed: Value = serde_json::from_str(&js.finish()).expect("valid JSON");
        assert_eq!(parsed, json!([{"id": 1, "name": "a|b", "id_2": 1.5}, {"id": null, "name": "", "id_2": "x"}]));
    }

    #[test]
    fn budgets_stop_rendering() {
        let m = manifest(&[("v", "STRING")], 10);
        let mut r = Renderer::new(ResultFormat::Csv, &m, 2);
        let row = vec!["x".to_string()];
        assert!(r.push(&row) && r.push(&row));
        assert!(!r.push(&row) && !r.budget_hit);
        let mut r = Renderer::new(ResultFormat::Markdown, &m, 10_000);
        let big = vec!["y".repeat(MAX_CELL_CHARS * 3)];
        let mut n = 0;
        while r.push(&big) {
            n += 1;
        }
        assert!(r.budget_hit && n > 0 && n < 40, "{n}");
        assert!(r.finish().contains("were cut"));
    }

    #[test]
    fn parameters_from_a_map_or_a_list() {
        let map: SqlParameters = serde_json::from_value(
            json!({"id": 7, "big": 5_000_000_000_i64, "f": 1.5, "b": true, "s": "x", "n": null}),
        )
        .expect("map");
        let got = bindings(map).expect("bindings");
        let by_name: BTreeMap<_, _> =
            got.iter().map(|p| (p.name.as_str(), (p.value.as_deref(), p.type_.as_deref()))).collect();
        assert_eq!(by_name["id"], (Some("7"), Some("INT")));
        assert_eq!(by_name["big"], (Some("5000000000"), Some("BIGINT")));
        assert_eq!(by_name["f"], (Some("1.5"), Some("DOUBLE")));
        assert_eq!(by_name["b"], (Some("true"), Some("BOOLEAN")));
        assert_eq!(by_name["s"], (Some("x"), None));
        assert_eq!(by_name["n"], (None, None));
        let list: SqlParameters =
            serde_json::from_value(json!([{"name": "d", "value": "2024-01-31", "type": "DATE"}])).expect("list");
        let got = bindings(list).expect("bindings");
        assert_eq!(got[0].type_.as_deref(), Some("DATE"));
        let nested: SqlParameters = serde_json::from_value(json!({"x": [1]})).expect("map");
        assert!(matches!(bindings(nested), Err(ToolError::InvalidArguments(m)) if m.contains("parameters.x")));
    }
}
