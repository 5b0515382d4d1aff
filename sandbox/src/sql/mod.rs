//! SQL: the engine (Apache DataFusion), SQL warehouses, the Statement Execution API
//! and Unity Catalog's view of the engine's catalog.
//!
//! - [`engine`]: DataFusion with three-level names, the `samples.tpch` tables, the
//!   Databricks commands and types, parameters, errors and Parquet persistence.
//! - [`warehouses`]: `/api/2.0/sql/warehouses` (list, get, start, stop).
//! - [`statements`]: `/api/2.0/sql/statements` (execute, get, result chunks, cancel).
//! - [`catalog`]: `/api/2.1/unity-catalog/…` (catalogs, schemas, tables, table
//!   summaries, volumes), read from the live engine.
//! - [`info_schema`]: each catalog's `information_schema`, and `system.information_schema`.
//!
//! For trying out long-running statements (polling, cancellation, `on_wait_timeout`)
//! the engine has a sandbox-only function: `SELECT sandbox_sleep(5000)` sleeps five
//! seconds (at most ten minutes) and returns its argument; cancelling wakes it.

pub mod catalog;
pub mod commands;
pub mod engine;
pub mod errors;
pub mod info_schema;
pub mod lexer;
pub mod rewrite;
pub mod statements;
pub mod tpch;
pub mod types;
pub mod warehouses;

use std::sync::Mutex;

use axum::Router;
use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::{AppState, SandboxOptions, Store};

/// The SQL side of the workspace.
pub struct Sql {
    /// The base DataFusion context; it shares the live catalog with every statement.
    pub ctx: SessionContext,
    pub engine: engine::Engine,
    pub warehouses: Mutex<warehouses::State>,
    pub statements: statements::Registry,
}

/// A query's result as the APIs present it: column names and types, and rows of
/// strings (NULL as `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Option<String>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// Databricks' type name (the Statement Execution API's `type_name`), e.g. `INT`,
    /// `LONG` (for BIGINT), `STRING`, `DECIMAL`.
    pub type_name: String,
    /// The full type, e.g. `BIGINT`, `DECIMAL(15,2)`, `ARRAY<INT>`.
    pub type_text: String,
}

/// A statement that failed: Databricks' error code (`BAD_REQUEST` for errors in the
/// statement) and a message that starts with the SQL error class, e.g.
/// `[TABLE_OR_VIEW_NOT_FOUND] The table or view … SQLSTATE: 42P01`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlError {
    pub error_code: String,
    pub message: String,
}

impl SqlError {
    /// An error in the statement, with its class and SQLSTATE.
    pub fn new(class: &str, text: &str, sql_state: &str) -> Self {
        let code = match class {
            "OPERATION_CANCELED" => "CANCELLED",
            "INTERNAL_ERROR" => "INTERNAL_ERROR",
            "IO_ERROR" => "IO_ERROR",
            "RESOURCE_EXHAUSTED" => "RESOURCE_EXHAUSTED",
            _ => "BAD_REQUEST",
        };
        Self { error_code: code.into(), message: format!("[{class}] {text} SQLSTATE: {sql_state}") }
    }

    /// The SQLSTATE at the end of the message, if any.
    pub fn sql_state(&self) -> Option<String> {
        let (_, state) = self.message.rsplit_once("SQLSTATE: ")?;
        let state = state.trim();
        (state.len() == 5 && state.chars().all(|c| c.is_ascii_alphanumeric())).then(|| state.to_string())
    }

    /// The error class in brackets at the start of the message, if any.
    pub fn class(&self) -> Option<&str> {
        self.message.strip_prefix('[')?.split_once(']').map(|(c, _)| c)
    }
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}

impl Sql {
    pub async fn open(store: &Store, options: &SandboxOptions) -> anyhow::Result<Self> {
        let engine = engine::Engine::open(store, options).await?;
        Ok(Self {
            ctx: engine.ctx().clone(),
            engine,
            warehouses: Mutex::new(warehouses::State::load(store)?),
            statements: statements::Registry::default(),
        })
    }

    /// Run one statement and collect its result. `catalog` and `schema` default the
    /// unqualified names (to `main` and `default`).
    pub async fn run(&self, sql: &str, catalog: Option<&str>, schema: Option<&str>) -> Result<QueryOutput, SqlError> {
        let (schema_ref, batches) = self.engine.run_collect(sql, Vec::new(), catalog, schema).await?;
        to_output_with_schema(&schema_ref, &batches)
    }
}

/// Render Arrow batches as rows of strings.
pub fn to_output(batches: &[RecordBatch]) -> Result<QueryOutput, SqlError> {
    let Some(first) = batches.first() else { return Ok(QueryOutput { columns: vec![], rows: vec![] }) };
    to_output_with_schema(&first.schema(), batches)
}

fn to_output_with_schema(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<QueryOutput, SqlError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            type_name: types::type_name(f.data_type()).to_string(),
            type_text: types::type_text(f.data_type()),
        })
        .collect();
    let options = types::format_options();
    let mut rows = Vec::new();
    for batch in batches {
        let batch = &types::utc_batch(batch);
        let renderer =
            types::RowRenderer::new(batch, &options).map_err(|e| SqlError::new("INTERNAL_ERROR", &e, "XX000"))?;
        for row in 0..batch.num_rows() {
            rows.push(renderer.row(row));
        }
    }
    Ok(QueryOutput { columns, rows })
}

pub fn routes() -> Router<AppState> {
    Router::new().merge(warehouses::routes()).merge(statements::routes()).merge(catalog::routes())
}

/// Create one running warehouse when the workspace has none.
pub fn seed(state: &AppState) -> anyhow::Result<()> {
    warehouses::seed(state)
}
