//! The Statement Execution API 2.0: `POST /api/2.0/sql/statements`, `GET …/{id}`,
//! `GET …/{id}/result/chunks/{chunk_index}` and `POST …/{id}/cancel`.
//!
//! Statements run asynchronously: each runs in a task of its own (the query itself on
//! the engine's runtime), so it can be polled and cancelled while it runs. A
//! statement on a stopped warehouse starts the warehouse and waits in PENDING until it
//! is RUNNING. Results are INLINE only, as JSON_ARRAY rows of strings or as Arrow IPC
//! streams (base64 in `attachment`) with `format: ARROW_STREAM`, split into chunks of
//! at most [`CHUNK_MAX_ROWS`] rows or about [`CHUNK_MAX_BYTES`] bytes.
//!
//! Memory stays bounded: results are kept for [`RETENTION_MS`] after the statement
//! finishes (then it is CLOSED and the rows dropped), at most [`MAX_STORED_BYTES`] of
//! results are held (the oldest are closed first), and at most [`MAX_STATEMENTS`]
//! statements are remembered (the oldest finished ones are forgotten).
//!
//! For trying out long-running statements, the sandbox has a function
//! `sandbox_sleep(ms)`: `SELECT sandbox_sleep(30000)` runs for 30 seconds (or until
//! cancelled).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::engine::{Executed, Param, Source};
use super::{SqlError, types, warehouses};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;

/// Rows per result chunk, at most.
pub const CHUNK_MAX_ROWS: usize = 4096;
/// Bytes per result chunk, about.
pub const CHUNK_MAX_BYTES: usize = 4 * 1024 * 1024;
/// The INLINE disposition's limit: a larger result fails the statement.
pub const INLINE_LIMIT: usize = 25 * 1024 * 1024;
/// How long results are kept after a statement finishes.
pub const RETENTION_MS: i64 = 60 * 60 * 1000;
/// The most result bytes held across all statements.
pub const MAX_STORED_BYTES: usize = 256 * 1024 * 1024;
/// The most statements remembered.
pub const MAX_STATEMENTS: usize = 1000;
const MAX_STATEMENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StmtState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
    Closed,
}

impl StmtState {
    pub fn as_str(self) -> &'static str {
        match self {
            StmtState::Pending => "PENDING",
            StmtState::Running => "RUNNING",
            StmtState::Succeeded => "SUCCEEDED",
            StmtState::Failed => "FAILED",
            StmtState::Canceled => "CANCELED",
            StmtState::Closed => "CLOSED",
        }
    }

    fn is_active(self) -> bool {
        matches!(self, StmtState::Pending | StmtState::Running)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonArray,
    ArrowStream,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::JsonArray => "JSON_ARRAY",
            Format::ArrowStream => "ARROW_STREAM",
        }
    }
}

/// One column of a result.
#[derive(Debug, Clone)]
struct ColumnDesc {
    name: String,
    data_type: DataType,
}

enum ChunkBody {
    Json(Vec<Vec<Option<String>>>),
    Arrow(Vec<u8>),
}

struct Chunk {
    row_offset: usize,
    row_count: usize,
    byte_count: usize,
    body: ChunkBody,
}

/// A finished statement's result.
struct ResultSet {
    format: Format,
    columns: Vec<ColumnDesc>,
    chunks: Vec<Chunk>,
    total_rows: usize,
    total_bytes: usize,
    truncated: bool,
}

struct Entry {
    warehouse_id: String,
    state: StmtState,
    error: Option<SqlError>,
    result: Option<Arc<ResultSet>>,
    finished_at: Option<i64>,
    cancel: CancellationToken,
    done: tokio::sync::watch::Sender<bool>,
}

impl Entry {
    fn result_bytes(&self) -> usize {
        self.result.as_ref().map_or(0, |r| r.total_bytes.max(r.chunks.len()))
    }
}

/// The statements the workspace remembers.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Ids, oldest first.
    order: VecDeque<String>,
}

impl Inner {
    /// Close expired results and keep within the memory and count bounds.
    fn enforce_limits(&mut self, now: i64) {
        for entry in self.entries.values_mut() {
            if entry.state == StmtState::Succeeded && entry.finished_at.is_some_and(|t| now - t >= RETENTION_MS) {
                entry.state = StmtState::Closed;
                entry.result = None;
            }
        }
        let mut stored: usize = self.entries.values().map(Entry::result_bytes).sum();
        if stored > MAX_STORED_BYTES {
            for id in &self.order {
                if stored <= MAX_STORED_BYTES {
                    break;
                }
                if let Some(entry) = self.entries.get_mut(id)
                    && entry.result.is_some()
                {
                    stored -= entry.result_bytes();
                    entry.result = None;
                    entry.state = StmtState::Closed;
                }
            }
        }
        while self.entries.len() > MAX_STATEMENTS {
            let Some(pos) = self.order.iter().position(|id| self.entries.get(id).is_none_or(|e| !e.state.is_active()))
            else {
                break;
            };
            if let Some(id) = self.order.remove(pos) {
                self.entries.remove(&id);
            }
        }
        let entries = &self.entries;
        self.order.retain(|id| entries.contains_key(id));
    }
}

/// Everything a snapshot of a statement needs for a response.
struct Snapshot {
    id: String,
    state: StmtState,
    error: Option<SqlError>,
    result: Option<Arc<ResultSet>>,
}

impl Registry {
    fn snapshot(&self, id: &str) -> Option<Snapshot> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.enforce_limits(crate::now_ms());
        let e = inner.entries.get(id)?;
        Some(Snapshot { id: id.to_string(), state: e.state, error: e.error.clone(), result: e.result.clone() })
    }

    fn set_running(&self, id: &str) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.entries.get_mut(id) {
            Some(e) if e.state == StmtState::Pending => {
                e.state = StmtState::Running;
                true
            }
            _ => false,
        }
    }

    /// Record the outcome unless the statement was cancelled meanwhile.
    fn finish(&self, id: &str, outcome: Result<ResultSet, SqlError>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = inner.entries.get_mut(id)
            && e.state.is_active()
        {
            match outcome {
                Ok(result) => {
                    e.state = StmtState::Succeeded;
                    e.result = Some(Arc::new(result));
                }
                Err(error) => {
                    e.state = if error.error_code == "CANCELLED" { StmtState::Canceled } else { StmtState::Failed };
                    e.error = Some(error);
                }
            }
            e.finished_at = Some(crate::now_ms());
            e.done.send_replace(true);
        }
        inner.enforce_limits(crate::now_ms());
    }

    /// Cancel a pending or running statement; a finished one is left alone.
    /// `None` when the statement is unknown.
    fn cancel(&self, id: &str) -> Option<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = inner.entries.get_mut(id)?;
        cancel_entry(e);
        Some(())
    }
}

fn cancel_entry(e: &mut Entry) {
    if e.state.is_active() {
        e.state = StmtState::Canceled;
        e.finished_at = Some(crate::now_ms());
        e.cancel.cancel();
        e.done.send_replace(true);
    }
}

/// Cancel every pending or running statement on a warehouse (it is stopping).
pub fn cancel_on_warehouse(state: &AppState, warehouse_id: &str) {
    let mut inner = state.sql.statements.inner.lock().unwrap_or_else(|p| p.into_inner());
    for e in inner.entries.values_mut().filter(|e| e.warehouse_id == warehouse_id) {
        cancel_entry(e);
    }
}

// ---------------------------------------------------------------------------------
// Requests.

#[derive(Debug, Deserialize)]
struct ParamIn {
    name: Option<String>,
    value: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExecuteBody {
    statement: Option<String>,
    warehouse_id: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
    #[serde(default)]
    parameters: Option<Vec<ParamIn>>,
    row_limit: Option<i64>,
    byte_limit: Option<i64>,
    disposition: Option<String>,
    format: Option<String>,
    wait_timeout: Option<String>,
    on_wait_timeout: Option<String>,
    #[serde(default)]
    query_tags: Option<Vec<Value>>,
}

/// `"Ns"` with N = 0 or 5..=50.
fn parse_wait_timeout(value: Option<&str>) -> ApiResult<Duration> {
    let Some(v) = value else { return Ok(Duration::from_secs(10)) };
    let secs = v.trim().strip_suffix('s').and_then(|n| n.parse::<u64>().ok());
    match secs {
        Some(0) => Ok(Duration::ZERO),
        Some(n @ 5..=50) => Ok(Duration::from_secs(n)),
        _ => Err(ApiError::invalid(format!(
            "wait_timeout must be \"0s\" (return at once) or between \"5s\" and \"50s\", got {v:?}."
        ))),
    }
}

struct Limits {
    format: Format,
    row_limit: Option<usize>,
    byte_limit: Option<usize>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/sql/statements", post(execute))
        .route("/api/2.0/sql/statements/", post(execute))
        .route("/api/2.0/sql/statements/{id}", get(get_statement))
        .route("/api/2.0/sql/statements/{id}/cancel", post(cancel))
        .route("/api/2.0/sql/statements/{id}/result/chunks/{chunk_index}", get(get_chunk))
}

async fn execute(AxState(state): AxState<AppState>, Body(body): Body<ExecuteBody>) -> ApiResult<Response> {
    let statement = body.statement.filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::missing("statement"))?;
    if statement.len() > MAX_STATEMENT_BYTES {
        return Err(ApiError::invalid("The statement is larger than 16 MiB."));
    }
    let warehouse_id =
        body.warehouse_id.filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::missing("warehouse_id"))?;
    let wait = parse_wait_timeout(body.wait_timeout.as_deref())?;
    let cancel_on_timeout = match body.on_wait_timeout.as_deref() {
        None | Some("CONTINUE") => false,
        Some("CANCEL") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!("on_wait_timeout must be CONTINUE or CANCEL, got {other:?}.")));
        }
    };
    match body.disposition.as_deref() {
        None | Some("INLINE") => {}
        Some("EXTERNAL_LINKS") => {
            return Err(ApiError::invalid(
                "The sandbox serves INLINE results only: disposition EXTERNAL_LINKS is not supported. Use INLINE (the default), with row_limit or byte_limit for large results.",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(format!("disposition must be INLINE or EXTERNAL_LINKS, got {other:?}.")));
        }
    }
    let format = match body.format.as_deref() {
        None | Some("JSON_ARRAY") => Format::JsonArray,
        Some("ARROW_STREAM") => Format::ArrowStream,
        Some("CSV") => {
            return Err(ApiError::invalid(
                "format CSV requires disposition EXTERNAL_LINKS, which the sandbox does not serve; use JSON_ARRAY or ARROW_STREAM.",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(format!("format must be JSON_ARRAY, ARROW_STREAM or CSV, got {other:?}.")));
        }
    };
    let limit = |name: &str, v: Option<i64>| -> ApiResult<Option<usize>> {
        match v {
            None => Ok(None),
            Some(n) if n < 0 => Err(ApiError::invalid(format!("{name} must not be negative, got {n}."))),
            Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        }
    };
    let limits = Limits {
        format,
        row_limit: limit("row_limit", body.row_limit)?,
        byte_limit: limit("byte_limit", body.byte_limit)?,
    };
    if body.query_tags.as_ref().is_some_and(|t| t.len() > 20) {
        return Err(ApiError::invalid("At most 20 query_tags are allowed."));
    }
    let mut params = Vec::new();
    for (i, p) in body.parameters.unwrap_or_default().into_iter().enumerate() {
        let name =
            p.name.filter(|n| !n.is_empty()).ok_or_else(|| ApiError::missing(&format!("parameters[{i}].name")))?;
        params.push(Param { name, value: p.value, type_: p.type_ });
    }

    // The warehouse must exist; a stopped one is started and the statement waits for it.
    match warehouses::current_state(&state, &warehouse_id)? {
        None => return Err(ApiError::not_found(format!("SQL warehouse {warehouse_id} does not exist."))),
        Some(s) if s == "STOPPED" || s == "STOPPING" => warehouses::start(&state, &warehouse_id)?,
        Some(s) if s == "DELETED" || s == "DELETING" => {
            return Err(ApiError::invalid_state(format!("SQL warehouse {warehouse_id} is deleted.")));
        }
        Some(_) => {}
    }

    let id = uuid::Uuid::new_v4().to_string();
    let cancel = CancellationToken::new();
    let (done, mut done_rx) = tokio::sync::watch::channel(false);
    {
        let mut inner = state.sql.statements.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.insert(
            id.clone(),
            Entry {
                warehouse_id: warehouse_id.clone(),
                state: StmtState::Pending,
                error: None,
                result: None,
                finished_at: None,
                cancel: cancel.clone(),
                done,
            },
        );
        inner.order.push_back(id.clone());
        inner.enforce_limits(crate::now_ms());
    }
    let job = Job {
        id: id.clone(),
        warehouse_id,
        statement,
        params,
        catalog: body.catalog,
        schema: body.schema,
        limits,
        cancel,
    };
    tokio::spawn(drive(state.clone(), job));

    if !wait.is_zero() {
        let _ = tokio::time::timeout(wait, done_rx.wait_for(|d| *d)).await;
        if cancel_on_timeout {
            state.sql.statements.cancel(&id);
        }
    }
    let snapshot = state.sql.statements.snapshot(&id).ok_or_else(|| not_found(&id))?;
    Ok(statement_response(&snapshot))
}

struct Job {
    id: String,
    warehouse_id: String,
    statement: String,
    params: Vec<Param>,
    catalog: Option<String>,
    schema: Option<String>,
    limits: Limits,
    cancel: CancellationToken,
}

/// Run one statement: wait for the warehouse, execute, keep the result.
async fn drive(state: AppState, job: Job) {
    let registry = &state.sql.statements;
    // PENDING until the warehouse runs.
    let poll = state.options.transition_delay.div_f64(10.0).clamp(Duration::from_millis(5), Duration::from_millis(100));
    loop {
        if job.cancel.is_cancelled() {
            return;
        }
        match warehouses::current_state(&state, &job.warehouse_id) {
            Ok(Some(s)) if s == "RUNNING" => break,
            Ok(Some(s)) if s == "STARTING" => {}
            Ok(Some(s)) if s == "STOPPED" || s == "STOPPING" => {
                let _ = warehouses::start(&state, &job.warehouse_id);
            }
            Ok(_) => {
                let error = SqlError::new("WAREHOUSE_NOT_FOUND", "The SQL warehouse was deleted.", "08003");
                registry.finish(&job.id, Err(error));
                return;
            }
            Err(e) => {
                registry.finish(&job.id, Err(SqlError::new("INTERNAL_ERROR", &e.message, "XX000")));
                return;
            }
        }
        tokio::select! {
            _ = job.cancel.cancelled() => return,
            _ = state.shutdown.cancelled() => {
                registry.cancel(&job.id);
                return;
            }
            _ = tokio::time::sleep(poll) => {}
        }
    }
    if !registry.set_running(&job.id) {
        return;
    }
    let engine = state.sql.engine.clone();
    let cancel = job.cancel.clone();
    let Job { statement, params, catalog, schema, limits, .. } = job;
    let run = state.sql.engine.spawn(async move {
        let executed = engine.execute(&statement, &params, catalog.as_deref(), schema.as_deref(), &cancel).await?;
        build_result(executed, &limits).await
    });
    let outcome = tokio::select! {
        _ = job.cancel.cancelled() => return,
        // The sandbox is shutting down: stop the query rather than keep it alive.
        _ = state.shutdown.cancelled() => {
            registry.cancel(&job.id);
            return;
        }
        outcome = run => outcome,
    };
    registry.finish(&job.id, outcome);
}

/// Approximate JSON size of one rendered row (`["a",null],`).
fn row_bytes(row: &[Option<String>]) -> usize {
    2 + row.iter().map(|v| v.as_ref().map_or(4, |s| s.len() + 2) + 1).sum::<usize>()
}

/// A chunk being filled: rendered rows, their size, and (for Arrow) the slices of
/// batches they came from.
#[derive(Default)]
struct PendingChunk {
    rows: Vec<Vec<Option<String>>>,
    bytes: usize,
    slices: Vec<RecordBatch>,
}

/// Pull rows within the limits and split them into chunks.
async fn build_result(executed: Executed, limits: &Limits) -> Result<ResultSet, SqlError> {
    let schema = executed.schema.clone();
    let columns: Vec<ColumnDesc> = schema
        .fields()
        .iter()
        .map(|f| ColumnDesc { name: f.name().clone(), data_type: f.data_type().clone() })
        .collect();
    let options = types::format_options();
    let mut truncated = false;
    let mut total_rows = 0usize;
    let mut total_bytes = 0usize;
    // Chunks as rendered rows plus, for Arrow, the slices of batches they came from.
    let mut chunks: Vec<PendingChunk> = Vec::new();
    let mut current = PendingChunk::default();

    let mut stream = match executed.source {
        Source::Batches(b) => futures::stream::iter(b.into_iter().map(Ok)).boxed(),
        Source::Stream(s) => s.map(|r| r.map_err(super::errors::sql_error)).boxed(),
    };
    'outer: while let Some(batch) = stream.next().await {
        let batch = types::utc_batch(&batch?);
        let renderer =
            types::RowRenderer::new(&batch, &options).map_err(|e| SqlError::new("INTERNAL_ERROR", &e, "XX000"))?;
        let mut slice_start = 0;
        let mut row = 0;
        while row < batch.num_rows() {
            if limits.row_limit.is_some_and(|l| total_rows >= l) {
                truncated = true;
                break;
            }
            let rendered = renderer.row(row);
            let size = row_bytes(&rendered);
            if let Some(limit) = limits.byte_limit {
                if total_bytes + size > limit {
                    truncated = true;
                    break;
                }
            } else if total_bytes + size > INLINE_LIMIT {
                return Err(SqlError::new(
                    "INLINE_RESULT_TOO_LARGE",
                    "The result is larger than the 25 MiB the INLINE disposition allows. Set row_limit or byte_limit, or select fewer rows (the sandbox serves INLINE results only).",
                    "54000",
                ));
            }
            total_rows += 1;
            total_bytes += size;
            current.rows.push(rendered);
            current.bytes += size;
            row += 1;
            if current.rows.len() >= CHUNK_MAX_ROWS || current.bytes >= CHUNK_MAX_BYTES {
                if limits.format == Format::ArrowStream {
                    current.slices.push(batch.slice(slice_start, row - slice_start));
                    slice_start = row;
                }
                chunks.push(std::mem::take(&mut current));
            }
        }
        if limits.format == Format::ArrowStream && row > slice_start {
            current.slices.push(batch.slice(slice_start, row - slice_start));
        }
        if truncated {
            break 'outer;
        }
    }
    if !current.rows.is_empty() {
        chunks.push(current);
    }

    let mut out = Vec::with_capacity(chunks.len());
    let mut offset = 0;
    let arrow_schema = (limits.format == Format::ArrowStream).then(|| plain_schema(&schema));
    let mut stored_bytes = 0;
    for PendingChunk { rows, bytes, slices } in chunks {
        let row_count = rows.len();
        let (body, byte_count) = match &arrow_schema {
            None => (ChunkBody::Json(rows), bytes),
            Some(s) => {
                let ipc = arrow_ipc(s, &slices)?;
                let n = ipc.len();
                (ChunkBody::Arrow(ipc), n)
            }
        };
        stored_bytes += byte_count;
        out.push(Chunk { row_offset: offset, row_count, byte_count, body });
        offset += row_count;
    }
    Ok(ResultSet { format: limits.format, columns, chunks: out, total_rows, total_bytes: stored_bytes, truncated })
}

/// The schema with view types replaced by their plain forms, which every Arrow reader knows.
fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let dt = match f.data_type() {
                DataType::Utf8View => DataType::Utf8,
                DataType::BinaryView => DataType::Binary,
                other => other.clone(),
            };
            Field::new(f.name(), dt, f.is_nullable())
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn arrow_ipc(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, SqlError> {
    let err = |e: datafusion::arrow::error::ArrowError| SqlError::new("INTERNAL_ERROR", &e.to_string(), "XX000");
    let mut buffer = Vec::new();
    {
        let mut writer = datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut buffer, schema).map_err(err)?;
        for batch in batches {
            let columns = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { cast(c, f.data_type()) })
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(err)?;
            writer.write(&batch).map_err(err)?;
        }
        writer.finish().map_err(err)?;
    }
    Ok(buffer)
}

// ---------------------------------------------------------------------------------
// Responses.

#[derive(Serialize)]
struct ResultOut<'a> {
    chunk_index: usize,
    row_offset: usize,
    row_count: usize,
    byte_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_array: Option<&'a [Vec<Option<String>>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_chunk_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_chunk_internal_link: Option<String>,
}

#[derive(Serialize)]
struct StatementOut<'a> {
    statement_id: &'a str,
    status: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<ResultOut<'a>>,
}

fn manifest(r: &ResultSet) -> Value {
    let columns: Vec<Value> = r
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = json!({
                "name": c.name,
                "type_name": types::type_name(&c.data_type),
                "type_text": types::type_text(&c.data_type),
                "position": i,
            });
            if let Some((p, s)) = types::decimal_parts(&c.data_type) {
                v["type_precision"] = json!(p);
                v["type_scale"] = json!(s);
            }
            if types::type_name(&c.data_type) == "INTERVAL" {
                v["type_interval_type"] =
                    json!(types::type_text(&c.data_type).trim_start_matches("INTERVAL ").to_string());
            }
            v
        })
        .collect();
    let chunks: Vec<Value> = r
        .chunks
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"chunk_index": i, "row_offset": c.row_offset, "row_count": c.row_count, "byte_count": c.byte_count}))
        .collect();
    json!({
        "format": r.format.as_str(),
        "schema": {"column_count": r.columns.len(), "columns": columns},
        "total_chunk_count": r.chunks.len(),
        "chunks": chunks,
        "total_row_count": r.total_rows,
        "total_byte_count": r.total_bytes,
        "truncated": r.truncated,
    })
}

fn chunk_out<'a>(id: &str, r: &'a ResultSet, index: usize) -> ResultOut<'a> {
    let Some(chunk) = r.chunks.get(index) else {
        // An empty result: one empty page.
        return ResultOut {
            chunk_index: 0,
            row_offset: 0,
            row_count: 0,
            byte_count: 0,
            data_array: (r.format == Format::JsonArray).then_some(&[][..]),
            attachment: None,
            next_chunk_index: None,
            next_chunk_internal_link: None,
        };
    };
    let next = (index + 1 < r.chunks.len()).then_some(index + 1);
    let (data_array, attachment) = match &chunk.body {
        ChunkBody::Json(rows) => (Some(rows.as_slice()), None),
        ChunkBody::Arrow(bytes) => (None, Some(base64::engine::general_purpose::STANDARD.encode(bytes))),
    };
    ResultOut {
        chunk_index: index,
        row_offset: chunk.row_offset,
        row_count: chunk.row_count,
        byte_count: chunk.byte_count,
        data_array,
        attachment,
        next_chunk_index: next,
        next_chunk_internal_link: next.map(|n| format!("/api/2.0/sql/statements/{id}/result/chunks/{n}")),
    }
}

fn status_json(s: &Snapshot) -> Value {
    let mut status = json!({"state": s.state.as_str()});
    if let Some(e) = &s.error {
        status["error"] = json!({"error_code": e.error_code, "message": e.message});
        if let Some(state) = e.sql_state() {
            status["sql_state"] = json!(state);
        }
    }
    status
}

fn statement_response(s: &Snapshot) -> Response {
    let succeeded = s.state == StmtState::Succeeded;
    let result = s.result.as_deref().filter(|_| succeeded);
    Json(StatementOut {
        statement_id: &s.id,
        status: status_json(s),
        manifest: result.map(manifest),
        result: result.map(|r| chunk_out(&s.id, r, 0)),
    })
    .into_response()
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found_code(format!("Statement {id} does not exist (or its result expired and was removed)."))
}

async fn get_statement(AxState(state): AxState<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let snapshot = state.sql.statements.snapshot(&id).ok_or_else(|| not_found(&id))?;
    Ok(statement_response(&snapshot))
}

async fn get_chunk(
    AxState(state): AxState<AppState>,
    Path((id, index)): Path<(String, String)>,
) -> ApiResult<Response> {
    let index: usize = index
        .parse()
        .map_err(|_| ApiError::invalid(format!("chunk_index must be a non-negative integer, got {index:?}.")))?;
    let snapshot = state.sql.statements.snapshot(&id).ok_or_else(|| not_found(&id))?;
    let result = match (&snapshot.result, snapshot.state) {
        (Some(r), StmtState::Succeeded) => r.clone(),
        _ => {
            return Err(ApiError::invalid_state(format!(
                "Statement {id} is {}; result chunks are available only once it has SUCCEEDED (and until it is CLOSED).",
                snapshot.state.as_str()
            )));
        }
    };
    if index >= result.chunks.len() && !(index == 0 && result.chunks.is_empty()) {
        return Err(ApiError::invalid(format!(
            "chunk_index {index} is out of range: the result has {} chunk(s).",
            result.chunks.len()
        )));
    }
    Ok(Json(chunk_out(&id, &result, index)).into_response())
}

async fn cancel(AxState(state): AxState<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    state.sql.statements.cancel(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: StmtState, finished_at: Option<i64>, bytes: usize) -> Entry {
        let result = (state == StmtState::Succeeded).then(|| {
            Arc::new(ResultSet {
                format: Format::JsonArray,
                columns: vec![],
                chunks: vec![],
                total_rows: 0,
                total_bytes: bytes,
                truncated: false,
            })
        });
        Entry {
            warehouse_id: "w".into(),
            state,
            error: None,
            result,
            finished_at,
            cancel: CancellationToken::new(),
            done: tokio::sync::watch::channel(false).0,
        }
    }

    fn add(inner: &mut Inner, id: &str, e: Entry) {
        inner.entries.insert(id.into(), e);
        inner.order.push_back(id.into());
    }

    #[test]
    fn results_expire_to_closed() {
        let now = 10 * RETENTION_MS;
        let mut inner = Inner::default();
        add(&mut inner, "old", entry(StmtState::Succeeded, Some(now - RETENTION_MS), 10));
        add(&mut inner, "new", entry(StmtState::Succeeded, Some(now - 1), 10));
        add(&mut inner, "failed", entry(StmtState::Failed, Some(now - RETENTION_MS), 0));
        inner.enforce_limits(now);
        assert_eq!(inner.entries["old"].state, StmtState::Closed);
        assert!(inner.entries["old"].result.is_none());
        assert_eq!(inner.entries["new"].state, StmtState::Succeeded);
        assert_eq!(inner.entries["failed"].state, StmtState::Failed);
    }

    #[test]
    fn stored_results_and_statements_stay_bounded() {
        let now = 1_000;
        let mut inner = Inner::default();
        add(&mut inner, "a", entry(StmtState::Succeeded, Some(now), MAX_STORED_BYTES / 2 + 1));
        add(&mut inner, "b", entry(StmtState::Succeeded, Some(now), MAX_STORED_BYTES / 2 + 1));
        inner.enforce_limits(now);
        assert_eq!(inner.entries["a"].state, StmtState::Closed, "the oldest result is closed first");
        assert_eq!(inner.entries["b"].state, StmtState::Succeeded);

        add(&mut inner, "running", entry(StmtState::Running, None, 0));
        for i in 0..MAX_STATEMENTS + 10 {
            add(&mut inner, &format!("s{i}"), entry(StmtState::Failed, Some(now), 0));
        }
        inner.enforce_limits(now);
        assert_eq!(inner.entries.len(), MAX_STATEMENTS);
        assert_eq!(inner.order.len(), MAX_STATEMENTS);
        assert!(inner.entries.contains_key("running"), "running statements are never forgotten");
        assert!(!inner.entries.contains_key("a"));
    }

    #[test]
    fn wait_timeouts() {
        assert_eq!(parse_wait_timeout(None).ok(), Some(Duration::from_secs(10)));
        assert_eq!(parse_wait_timeout(Some("0s")).ok(), Some(Duration::ZERO));
        assert_eq!(parse_wait_timeout(Some("50s")).ok(), Some(Duration::from_secs(50)));
        for bad in ["4s", "51s", "5", "s", "", "5 s", "-5s"] {
            assert!(parse_wait_timeout(Some(bad)).is_err(), "{bad}");
        }
    }
}
