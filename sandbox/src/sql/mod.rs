//! SQL: the engine (Apache DataFusion), SQL warehouses, the Statement Execution API
//! and Unity Catalog's view of the engine's catalog.

use axum::Router;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::{AppState, SandboxOptions, Store};

/// The SQL side of the workspace.
pub struct Sql {
    pub ctx: SessionContext,
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
    /// Databricks' type name, e.g. `INT`, `STRING`, `DECIMAL`.
    pub type_name: String,
    /// The full type, e.g. `decimal(15,2)`.
    pub type_text: String,
}

/// A statement that failed: Databricks' SQL error class and message.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlError {
    pub error_code: String,
    pub message: String,
}

impl Sql {
    pub async fn open(_store: &Store, _options: &SandboxOptions) -> anyhow::Result<Self> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("main", "default")
            .with_create_default_catalog_and_schema(true);
        Ok(Self { ctx: SessionContext::new_with_config(config) })
    }

    /// Run one statement and collect its result.
    pub async fn run(&self, sql: &str, _catalog: Option<&str>, _schema: Option<&str>) -> Result<QueryOutput, SqlError> {
        let frame = self.ctx.sql(sql).await.map_err(sql_error)?;
        let batches = frame.collect().await.map_err(sql_error)?;
        to_output(&batches)
    }
}

fn sql_error(e: datafusion::error::DataFusionError) -> SqlError {
    SqlError { error_code: "BAD_REQUEST".into(), message: e.to_string() }
}

/// Render Arrow batches as rows of strings.
pub fn to_output(batches: &[RecordBatch]) -> Result<QueryOutput, SqlError> {
    let Some(first) = batches.first() else { return Ok(QueryOutput { columns: vec![], rows: vec![] }) };
    let columns = first
        .schema()
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            type_name: format!("{}", f.data_type()),
            type_text: format!("{}", f.data_type()),
        })
        .collect();
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SqlError { error_code: "INTERNAL_ERROR".into(), message: e.to_string() })?;
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| (!c.is_null(row)).then(|| f.value(row).to_string()))
                    .collect(),
            );
        }
    }
    Ok(QueryOutput { columns, rows })
}

pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Create one running warehouse when the workspace has none.
pub fn seed(_state: &AppState) -> anyhow::Result<()> {
    Ok(())
}
