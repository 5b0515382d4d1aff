//! The SQL engine: Apache DataFusion with Databricks' names and manners.
//!
//! - Three-level names `catalog.schema.table`; catalogs `main` (user tables, schema
//!   `default`) and `samples` (schema `tpch`, read-only, generated at start-up).
//! - The catalog and schema of unqualified names come with each statement.
//! - Databricks commands DataFusion lacks (SHOW …, DESCRIBE …) are answered from the
//!   live catalog ([`super::commands`]); `CREATE CATALOG` and Databricks-only table
//!   clauses (`USING DELTA`, `TBLPROPERTIES`, …) are rewritten before planning.
//! - Named parameter markers `:name` are bound as typed literals.
//! - Errors carry a Databricks error class and SQLSTATE in their message.
//! - Queries run on a runtime of their own, so a heavy query never stalls the HTTP
//!   server, and can be cancelled. `sandbox_sleep(ms)` is a sandbox-only function that
//!   sleeps (up to 10 minutes, returning `ms`), for trying out long-running statements.
//! - With a data directory, user tables are kept as Parquet files under
//!   `<data_dir>/tables/<catalog>/<schema>/<table>.parquet`, rewritten after every
//!   statement that changes them, and loaded again at start-up; catalogs, schemas,
//!   views and volumes are kept in `sql_catalog.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, TableProvider};
use datafusion::common::{ResolvedTableReference, ScalarValue, TableReference};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{
    ColumnarValue, DdlStatement, LogicalPlan, ScalarUDF, Signature, Volatility, WriteOp, create_udf,
};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::errors::{no_such_catalog, schema_not_found, sql_error};
use super::info_schema::{self, InfoSchema};
use super::lexer;
use super::rewrite::{bind_parameters, rewrite};
use super::{SqlError, commands, tpch, types};
use crate::{SandboxOptions, Store};

/// The catalog and schema of unqualified names when a statement names none.
pub const DEFAULT_CATALOG: &str = "main";
pub const DEFAULT_SCHEMA: &str = "default";
/// The catalog whose information_schema describes every catalog.
pub const SYSTEM_CATALOG: &str = "system";
/// The longest `sandbox_sleep` honours.
const MAX_SLEEP: Duration = Duration::from_secs(600);
const META_FILE: &str = "sql_catalog";

/// A named parameter of a statement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
}

/// What a statement produced: a schema and either rows already collected or a
/// stream to pull them from.
pub struct Executed {
    pub schema: SchemaRef,
    pub source: Source,
}

pub enum Source {
    Batches(Vec<RecordBatch>),
    Stream(SendableRecordBatchStream),
}

impl Executed {
    pub fn batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Self { schema, source: Source::Batches(batches) }
    }

    /// An empty result without columns (what DDL answers).
    pub fn empty() -> Self {
        Self::batches(Arc::new(Schema::empty()), vec![])
    }

    /// Pull every batch.
    pub async fn collect(self) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
        use futures::StreamExt;
        match self.source {
            Source::Batches(b) => Ok((self.schema, b)),
            Source::Stream(mut stream) => {
                let mut out = Vec::new();
                while let Some(batch) = stream.next().await {
                    out.push(batch.map_err(sql_error)?);
                }
                Ok((self.schema, out))
            }
        }
    }
}

/// Who made a catalog object and when (persisted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub id: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub owner: String,
}

impl ObjectMeta {
    fn new(owner: &str, comment: Option<String>) -> Self {
        let now = crate::now_ms();
        Self { id: uuid::Uuid::new_v4().to_string(), created_at: now, updated_at: now, comment, owner: owner.into() }
    }
}

/// A view, kept as the statement that created it and replayed at start-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewMeta {
    pub sql: String,
    pub catalog: String,
    pub schema: String,
    #[serde(flatten)]
    pub meta: ObjectMeta,
}

/// A Unity Catalog volume (a listing only; the sandbox stores no files in it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    #[serde(flatten)]
    pub meta: ObjectMeta,
}

impl VolumeMeta {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
}

/// Everything about the catalog that DataFusion does not keep itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub catalogs: BTreeMap<String, ObjectMeta>,
    /// Keyed by `catalog.schema`.
    #[serde(default)]
    pub schemas: BTreeMap<String, ObjectMeta>,
    /// Keyed by `catalog.schema.table`.
    #[serde(default)]
    pub tables: BTreeMap<String, ObjectMeta>,
    #[serde(default)]
    pub views: BTreeMap<String, ViewMeta>,
    #[serde(default)]
    pub volumes: Vec<VolumeMeta>,
}

/// The owner shown for objects the sandbox provides itself.
pub const SYSTEM_OWNER: &str = "System user";

/// A tokio runtime for query execution, shut down without blocking when dropped
/// (it may be dropped from async code).
struct SqlRuntime(Option<tokio::runtime::Runtime>);

impl SqlRuntime {
    fn handle(&self) -> tokio::runtime::Handle {
        match &self.0 {
            Some(rt) => rt.handle().clone(),
            None => tokio::runtime::Handle::current(),
        }
    }
}

impl Drop for SqlRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Aborts the task when dropped, so dropping a statement's future stops its query.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The engine; cheap to clone.
#[derive(Clone)]
pub struct Engine(Arc<Inner>);

struct Inner {
    ctx: SessionContext,
    base: SessionState,
    runtime: SqlRuntime,
    store: Store,
    meta: Arc<Mutex<Meta>>,
    /// Serialises snapshot-and-write of tables so the newest state always lands last.
    persist: tokio::sync::Mutex<()>,
}

impl Engine {
    /// Build the engine: the catalogs, the generated samples, and the persisted tables.
    pub async fn open(store: &Store, options: &SandboxOptions) -> anyhow::Result<Self> {
        let runtime = SqlRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("sandbox-sql")
                .enable_all()
                .build()
                .map_err(|e| anyhow::anyhow!("cannot start the SQL runtime: {e}"))?,
        ));
        let scale = options.tpch_scale;
        let samples = runtime
            .handle()
            .spawn_blocking(move || tpch::build(scale))
            .await
            .map_err(|e| anyhow::anyhow!("generating TPC-H data failed: {e}"))??;

        let config = SessionConfig::new()
            .with_information_schema(false)
            .with_default_catalog_and_schema(DEFAULT_CATALOG, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(true)
            .set_str("datafusion.sql_parser.dialect", "databricks");
        let state = SessionStateBuilder::new().with_config(config).with_default_features().build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_catalog(tpch::CATALOG, samples);
        // Databricks names for functions DataFusion spells differently.
        let functions = ctx.state().scalar_functions().clone();
        if !functions.contains_key("array")
            && let Some(make_array) = functions.get("make_array")
        {
            ctx.register_udf(make_array.as_ref().clone().with_aliases(["array"]));
        }

        // The metadata the information_schema views read; filled in below.
        let shared_meta = Arc::new(Mutex::new(Meta::default()));
        let catalog_list = ctx.state().catalog_list().clone();
        let attach = |catalog: &Arc<dyn CatalogProvider>, scope: Option<&str>| {
            let info = InfoSchema::new(&catalog_list, shared_meta.clone(), scope.map(str::to_string));
            let _ = catalog.register_schema(info_schema::NAME, Arc::new(info));
        };
        let system: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
        ctx.register_catalog(SYSTEM_CATALOG, system.clone());
        attach(&system, None);
        for name in [DEFAULT_CATALOG, tpch::CATALOG] {
            if let Some(c) = ctx.catalog(name) {
                attach(&c, Some(name));
            }
        }

        let mut meta: Meta = store.load(META_FILE)?.unwrap_or_default();
        let fresh = store.dir().is_none() || !meta_exists(store);
        // Stable ids and times for what the sandbox provides.
        meta.catalogs.entry(DEFAULT_CATALOG.into()).or_insert_with(|| ObjectMeta::new(SYSTEM_OWNER, None));
        meta.catalogs.entry(tpch::CATALOG.into()).or_insert_with(|| ObjectMeta::new(SYSTEM_OWNER, None));
        meta.catalogs
            .entry(SYSTEM_CATALOG.into())
            .or_insert_with(|| ObjectMeta::new(SYSTEM_OWNER, Some("System catalog (auto-created)".into())));
        meta.schemas
            .entry(format!("{DEFAULT_CATALOG}.{DEFAULT_SCHEMA}"))
            .or_insert_with(|| ObjectMeta::new(SYSTEM_OWNER, Some("Default schema (auto-created)".into())));
        meta.schemas
            .entry(format!("{}.{}", tpch::CATALOG, tpch::SCHEMA))
            .or_insert_with(|| ObjectMeta::new(SYSTEM_OWNER, None));
        for table in tpch::TABLES {
            meta.tables
                .entry(format!("{}.{}.{table}", tpch::CATALOG, tpch::SCHEMA))
                .or_insert_with(|| ObjectMeta::new(SYSTEM_OWNER, None));
        }
        if fresh && meta.volumes.is_empty() {
            meta.volumes.push(VolumeMeta {
                catalog: DEFAULT_CATALOG.into(),
                schema: DEFAULT_SCHEMA.into(),
                name: "files".into(),
                meta: ObjectMeta::new(crate::identity::USER_NAME, Some("Files for the sandbox workspace".into())),
            });
        }

        // Catalogs and schemas created by users, then their tables.
        for name in meta.catalogs.keys() {
            if ctx.catalog(name).is_none() {
                attach(&ensure_catalog(&ctx, name), Some(name));
            }
        }
        for full in meta.schemas.keys() {
            if let Some((c, s)) = full.split_once('.') {
                ensure_schema(&ctx, c, s);
            }
        }
        if let Some(dir) = store.dir() {
            for (c, s, t, path) in persisted_tables(&dir.join("tables")) {
                match read_parquet(&path) {
                    Ok((schema, batches)) => {
                        if ctx.catalog(&c).is_none() {
                            attach(&ensure_catalog(&ctx, &c), Some(&c));
                        }
                        let Some(schema_provider) = ensure_schema(&ctx, &c, &s) else { continue };
                        match MemTable::try_new(schema, vec![batches]) {
                            Ok(table) => {
                                let _ = schema_provider.register_table(t.clone(), Arc::new(table));
                                meta.schemas
                                    .entry(format!("{c}.{s}"))
                                    .or_insert_with(|| ObjectMeta::new(crate::identity::USER_NAME, None));
                                meta.tables
                                    .entry(format!("{c}.{s}.{t}"))
                                    .or_insert_with(|| ObjectMeta::new(crate::identity::USER_NAME, None));
                            }
                            Err(e) => tracing::warn!("skipping table {c}.{s}.{t}: {e}"),
                        }
                    }
                    Err(e) => tracing::warn!("skipping {}: {e}", path.display()),
                }
            }
        }
        let base = ctx.state();
        let engine = Engine(Arc::new(Inner {
            ctx,
            base,
            runtime,
            store: store.clone(),
            meta: {
                *shared_meta.lock().unwrap_or_else(|p| p.into_inner()) = meta;
                shared_meta
            },
            persist: tokio::sync::Mutex::new(()),
        }));
        engine.replay_views().await;
        engine.save_meta().map_err(|e| anyhow::anyhow!("{}", e.message))?;
        Ok(engine)
    }

    /// The base DataFusion context (shares the live catalog with every statement).
    pub fn ctx(&self) -> &SessionContext {
        &self.0.ctx
    }

    /// A copy of the catalog metadata.
    pub fn meta(&self) -> Meta {
        self.0.meta.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Change the metadata and persist it.
    pub fn update_meta<R>(&self, f: impl FnOnce(&mut Meta) -> R) -> Result<R, SqlError> {
        let mut meta = self.0.meta.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut meta);
        self.0.store.save(META_FILE, &*meta).map_err(|e| SqlError::new("IO_ERROR", &e.message, "58030"))?;
        Ok(r)
    }

    fn save_meta(&self) -> Result<(), SqlError> {
        self.update_meta(|_| ())
    }

    /// Run `fut` on the SQL runtime. Dropping the returned future aborts the task.
    pub fn spawn<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, SqlError>> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, SqlError>> + Send + 'static {
        let handle = self.0.runtime.handle().spawn(fut);
        let guard = AbortOnDrop(handle);
        async move {
            let mut guard = guard;
            match (&mut guard.0).await {
                Ok(r) => r,
                Err(e) if e.is_cancelled() => {
                    Err(SqlError::new("OPERATION_CANCELED", "The statement was canceled.", "HY008"))
                }
                Err(e) => Err(SqlError::new("INTERNAL_ERROR", &format!("The statement crashed: {e}"), "XX000")),
            }
        }
    }

    /// Run one statement to completion and collect its rows, on the SQL runtime.
    pub async fn run_collect(
        &self,
        sql: &str,
        params: Vec<Param>,
        catalog: Option<&str>,
        schema: Option<&str>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
        let engine = self.clone();
        let sql = sql.to_string();
        let catalog = catalog.map(str::to_string);
        let schema = schema.map(str::to_string);
        let cancel = CancellationToken::new();
        // Dropping this call (its caller gave up) cancels the statement, waking any sleep.
        let _cancel_on_drop = cancel.clone().drop_guard();
        self.spawn(async move {
            engine.execute(&sql, &params, catalog.as_deref(), schema.as_deref(), &cancel).await?.collect().await
        })
        .await
    }

    /// Plan and start one statement. Statements that change the catalog run to
    /// completion (and are persisted) here; queries return a stream. Call this on
    /// the SQL runtime (see [`Engine::spawn`]).
    pub async fn execute(
        &self,
        sql: &str,
        params: &[Param],
        catalog: Option<&str>,
        schema: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<Executed, SqlError> {
        let catalog_name = catalog.map(str::trim).filter(|c| !c.is_empty()).map(normalize_name);
        let schema_name = schema.map(str::trim).filter(|s| !s.is_empty()).map(normalize_name);
        if let Some(c) = &catalog_name
            && self.0.ctx.catalog(c).is_none()
        {
            return Err(no_such_catalog(c));
        }
        let catalog_name = catalog_name.unwrap_or_else(|| DEFAULT_CATALOG.to_string());
        if let Some(s) = &schema_name
            && self.0.ctx.catalog(&catalog_name).and_then(|c| c.schema(s)).is_none()
        {
            return Err(schema_not_found(&catalog_name, s));
        }
        let schema_name = schema_name.unwrap_or_else(|| DEFAULT_SCHEMA.to_string());

        let bound = bind_parameters(sql, params)?;
        let tokens = lexer::without_semicolon(
            lexer::tokenize(&bound).map_err(|e| SqlError::new("PARSE_SYNTAX_ERROR", &e.0, "42601"))?,
        );
        if tokens.is_empty() {
            return Err(SqlError::new("PARSE_EMPTY_STATEMENT", "Syntax error, unexpected empty statement.", "42617"));
        }
        let ctx = self.session(&catalog_name, &schema_name, cancel);
        if let Some(done) = commands::try_run(self, &ctx, &catalog_name, &schema_name, &tokens).await? {
            return Ok(done);
        }
        let rewrite = rewrite(&bound, &tokens)?;
        let plan = ctx.state().create_logical_plan(&rewrite.sql).await.map_err(sql_error)?;
        let change = classify(&plan, &catalog_name, &schema_name, &bound)?;
        if let Some(change) = &change {
            check_writable(change)?;
        }
        let df = ctx.execute_logical_plan(plan).await.map_err(sql_error)?;
        match change {
            None => {
                let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                let stream = df.execute_stream().await.map_err(sql_error)?;
                Ok(tidy_names(Executed { schema, source: Source::Stream(stream) }))
            }
            Some(change) => {
                let counted = match &change {
                    Change::Table { dml, .. } => *dml,
                    _ => None,
                };
                let batches = df.collect().await.map_err(sql_error)?;
                self.apply_change(&ctx, change, rewrite.comment).await?;
                if let Some(column) = counted { Ok(affected_rows(&batches, column)) } else { Ok(Executed::empty()) }
            }
        }
    }

    /// A context for one statement: the shared catalog, this statement's defaults,
    /// and the sandbox's functions.
    fn session(&self, catalog: &str, schema: &str, cancel: &CancellationToken) -> SessionContext {
        let mut state = self.0.base.clone();
        {
            let options = state.config_mut().options_mut();
            options.catalog.default_catalog = catalog.to_string();
            options.catalog.default_schema = schema.to_string();
        }
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(sleep_udf(cancel.clone()));
        ctx.register_udf(constant_udf("current_catalog", catalog));
        ctx.register_udf(constant_udf("current_schema", schema));
        ctx.register_udf(constant_udf("current_database", schema));
        ctx.register_udf(constant_udf("current_user", crate::identity::USER_NAME));
        ctx.register_udf(constant_udf("session_user", crate::identity::USER_NAME));
        ctx
    }

    /// Look up a table or view by resolved name.
    pub async fn table(&self, name: &ResolvedTableReference) -> Option<Arc<dyn TableProvider>> {
        let reference = TableReference::full(name.catalog.clone(), name.schema.clone(), name.table.clone());
        self.0.ctx.table_provider(reference).await.ok()
    }

    async fn apply_change(
        &self,
        ctx: &SessionContext,
        change: Change,
        comment: Option<String>,
    ) -> Result<(), SqlError> {
        let _guard = self.0.persist.lock().await;
        let owner = crate::identity::USER_NAME;
        match change {
            Change::Table { name, created, .. } => {
                let key = full_name(&name);
                let is_table = ctx.table_provider(to_ref(&name)).await.is_ok();
                if is_table {
                    self.write_table(ctx, &name).await?;
                }
                self.update_meta(|m| {
                    let now = crate::now_ms();
                    match m.tables.get_mut(&key) {
                        Some(existing) if !created => existing.updated_at = now,
                        _ => {
                            m.tables.insert(key, ObjectMeta::new(owner, comment));
                        }
                    }
                })
            }
            Change::DropTable { name } => {
                if let Some(path) = self.table_path(&name) {
                    let _ = std::fs::remove_file(path);
                }
                let key = full_name(&name);
                self.update_meta(|m| {
                    m.tables.remove(&key);
                })
            }
            Change::View { name, sql, catalog, schema } => {
                let key = full_name(&name);
                self.update_meta(|m| {
                    m.views.insert(key, ViewMeta { sql, catalog, schema, meta: ObjectMeta::new(owner, comment) });
                })
            }
            Change::DropView { name } => {
                let key = full_name(&name);
                self.update_meta(|m| {
                    m.views.remove(&key);
                })
            }
            Change::Schema { catalog, schema } => {
                let key = format!("{catalog}.{schema}");
                self.update_meta(|m| {
                    m.schemas.entry(key).or_insert_with(|| ObjectMeta::new(owner, comment));
                })
            }
            Change::DropSchema { catalog, schema } => {
                if let Some(dir) = self.0.store.dir() {
                    let _ = std::fs::remove_dir_all(dir.join("tables").join(&catalog).join(&schema));
                }
                let prefix = format!("{catalog}.{schema}.");
                self.update_meta(|m| {
                    m.schemas.remove(&format!("{catalog}.{schema}"));
                    m.tables.retain(|k, _| !k.starts_with(&prefix));
                    m.views.retain(|k, _| !k.starts_with(&prefix));
                    m.volumes.retain(|v| !(v.catalog == catalog && v.schema == schema));
                })
            }
            Change::Catalog { catalog } => {
                // Databricks catalogs come with a `default` schema and an information_schema.
                ensure_schema(&self.0.ctx, &catalog, DEFAULT_SCHEMA);
                if let Some(c) = self.0.ctx.catalog(&catalog) {
                    let list = self.0.ctx.state().catalog_list().clone();
                    let info = InfoSchema::new(&list, self.0.meta.clone(), Some(catalog.clone()));
                    let _ = c.register_schema(info_schema::NAME, Arc::new(info));
                }
                self.update_meta(|m| {
                    m.catalogs.entry(catalog.clone()).or_insert_with(|| ObjectMeta::new(owner, comment));
                    m.schemas
                        .entry(format!("{catalog}.{DEFAULT_SCHEMA}"))
                        .or_insert_with(|| ObjectMeta::new(owner, Some("Default schema (auto-created)".into())));
                })
            }
        }
    }

    fn table_path(&self, name: &ResolvedTableReference) -> Option<PathBuf> {
        let dir = self.0.store.dir()?;
        Some(dir.join("tables").join(&*name.catalog).join(&*name.schema).join(format!("{}.parquet", name.table)))
    }

    /// Write the table's current rows to its Parquet file (temp file, then rename).
    async fn write_table(&self, ctx: &SessionContext, name: &ResolvedTableReference) -> Result<(), SqlError> {
        let Some(path) = self.table_path(name) else { return Ok(()) };
        let df = ctx.table(to_ref(name)).await.map_err(sql_error)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(sql_error)?;
        let io = |e: String| SqlError::new("IO_ERROR", &format!("Cannot persist {}: {e}", full_name(name)), "58030");
        let mut buffer = Vec::new();
        {
            let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(&mut buffer, schema, None)
                .map_err(|e| io(e.to_string()))?;
            for batch in &batches {
                writer.write(batch).map_err(|e| io(e.to_string()))?;
            }
            writer.close().map_err(|e| io(e.to_string()))?;
        }
        crate::store::write_atomic(&path, &buffer).map_err(|e| io(e.to_string()))
    }

    async fn replay_views(&self) {
        let mut views: Vec<(String, ViewMeta)> = self.meta().views.into_iter().collect();
        views.sort_by_key(|(_, v)| v.meta.created_at);
        for (name, view) in views {
            let cancel = CancellationToken::new();
            let ctx = self.session(&view.catalog, &view.schema, &cancel);
            let replay = async {
                let tokens = lexer::without_semicolon(lexer::tokenize(&view.sql).map_err(|e| e.0)?);
                let sql = rewrite(&view.sql, &tokens).map_err(|e| e.message)?.sql;
                ctx.sql(&sql).await.map_err(|e| e.to_string())?.collect().await.map_err(|e| e.to_string())
            };
            if let Err(e) = replay.await {
                tracing::warn!("cannot restore view {name}: {e}");
            }
        }
    }
}

fn meta_exists(store: &Store) -> bool {
    store.dir().is_some_and(|d| d.join(format!("{META_FILE}.json")).exists())
}

/// Lower-case a bare name, or unquote a `backticked` one.
pub fn normalize_name(name: &str) -> String {
    match name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => name.to_ascii_lowercase(),
    }
}

pub fn full_name(name: &ResolvedTableReference) -> String {
    format!("{}.{}.{}", name.catalog, name.schema, name.table)
}

fn to_ref(name: &ResolvedTableReference) -> TableReference {
    TableReference::full(name.catalog.clone(), name.schema.clone(), name.table.clone())
}

fn ensure_catalog(ctx: &SessionContext, name: &str) -> Arc<dyn CatalogProvider> {
    if let Some(c) = ctx.catalog(name) {
        return c;
    }
    let catalog: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
    ctx.register_catalog(name, catalog.clone());
    catalog
}

fn ensure_schema(
    ctx: &SessionContext,
    catalog: &str,
    schema: &str,
) -> Option<Arc<dyn datafusion::catalog::SchemaProvider>> {
    let c = ensure_catalog(ctx, catalog);
    if let Some(s) = c.schema(schema) {
        return Some(s);
    }
    let s: Arc<dyn datafusion::catalog::SchemaProvider> = Arc::new(MemorySchemaProvider::new());
    c.register_schema(schema, s.clone()).ok()?;
    Some(s)
}

/// `<root>/<catalog>/<schema>/<table>.parquet` files.
fn persisted_tables(root: &Path) -> Vec<(String, String, String, PathBuf)> {
    let mut out = Vec::new();
    let dirs = |p: &Path| -> Vec<(String, PathBuf)> {
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .collect()
    };
    for (catalog, cpath) in dirs(root) {
        for (schema, spath) in dirs(&cpath) {
            for entry in std::fs::read_dir(&spath).into_iter().flatten().flatten() {
                let Ok(file) = entry.file_name().into_string() else { continue };
                if let Some(table) = file.strip_suffix(".parquet")
                    && valid_name(table)
                {
                    out.push((catalog.clone(), schema.clone(), table.to_string(), entry.path()));
                }
            }
        }
    }
    out.sort();
    out
}

fn read_parquet(path: &Path) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let file = std::fs::File::open(path)?;
    let builder = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?;
    let schema = builder.schema().clone();
    let reader = builder.build()?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// Unity Catalog's rule for names: no periods, spaces, slashes or control characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.chars().any(|c| c == '.' || c == ' ' || c == '/' || c == '\\' || c.is_control())
}

/// Rename columns DataFusion named after literals (see [`types::clean_column_name`]).
fn tidy_names(executed: Executed) -> Executed {
    use futures::StreamExt;
    let fields: Vec<Field> = executed
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_name(types::clean_column_name(f.name())))
        .collect();
    if fields.iter().zip(executed.schema.fields()).all(|(a, b)| a.name() == b.name()) {
        return executed;
    }
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(fields, executed.schema.metadata().clone()));
    let source = match executed.source {
        Source::Batches(batches) => Source::Batches(
            batches
                .into_iter()
                .filter_map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()).ok())
                .collect(),
        ),
        Source::Stream(stream) => {
            let renamed = schema.clone();
            let mapped = stream.map(move |batch| {
                batch.and_then(|b| {
                    RecordBatch::try_new(renamed.clone(), b.columns().to_vec()).map_err(DataFusionError::from)
                })
            });
            Source::Stream(Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                schema.clone(),
                mapped,
            )))
        }
    };
    Executed { schema, source }
}

// ---------------------------------------------------------------------------------
// What a statement changes.

enum Change {
    /// A table was created (`created`) or its rows changed (`dml` names the count
    /// Databricks reports beside `num_affected_rows`).
    Table {
        name: ResolvedTableReference,
        created: bool,
        dml: Option<&'static str>,
    },
    DropTable {
        name: ResolvedTableReference,
    },
    View {
        name: ResolvedTableReference,
        sql: String,
        catalog: String,
        schema: String,
    },
    DropView {
        name: ResolvedTableReference,
    },
    Schema {
        catalog: String,
        schema: String,
    },
    DropSchema {
        catalog: String,
        schema: String,
    },
    Catalog {
        catalog: String,
    },
}

impl Change {
    fn schema(&self) -> Option<&str> {
        match self {
            Change::Table { name, .. }
            | Change::DropTable { name }
            | Change::View { name, .. }
            | Change::DropView { name } => Some(&name.schema),
            Change::Schema { schema, .. } | Change::DropSchema { schema, .. } => Some(schema),
            Change::Catalog { .. } => None,
        }
    }

    fn catalog(&self) -> &str {
        match self {
            Change::Table { name, .. }
            | Change::DropTable { name }
            | Change::View { name, .. }
            | Change::DropView { name } => &name.catalog,
            Change::Schema { catalog, .. } | Change::DropSchema { catalog, .. } | Change::Catalog { catalog } => {
                catalog
            }
        }
    }
}

fn check_name(name: &str) -> Result<(), SqlError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(SqlError::new(
            "INVALID_SCHEMA_OR_RELATION_NAME",
            &format!(
                "`{name}` is not a valid name for tables/schemas. Valid names only contain alphabet characters, numbers and _."
            ),
            "42602",
        ))
    }
}

fn classify(plan: &LogicalPlan, catalog: &str, schema: &str, sql: &str) -> Result<Option<Change>, SqlError> {
    let resolve = |r: &TableReference| r.clone().resolve(catalog, schema);
    let change = match plan {
        LogicalPlan::Ddl(ddl) => match ddl {
            DdlStatement::CreateMemoryTable(t) => {
                let name = resolve(&t.name);
                check_name(&name.table)?;
                Change::Table { name, created: true, dml: None }
            }
            DdlStatement::DropTable(t) => Change::DropTable { name: resolve(&t.name) },
            DdlStatement::CreateView(v) => {
                let name = resolve(&v.name);
                check_name(&name.table)?;
                if v.temporary {
                    return Ok(None);
                }
                Change::View { name, sql: sql.to_string(), catalog: catalog.into(), schema: schema.into() }
            }
            DdlStatement::DropView(v) => Change::DropView { name: resolve(&v.name) },
            DdlStatement::CreateCatalogSchema(s) => {
                let (c, s) = match s.schema_name.split_once('.') {
                    Some((c, s)) => (c.to_string(), s.to_string()),
                    None => (catalog.to_string(), s.schema_name.clone()),
                };
                check_name(&s)?;
                Change::Schema { catalog: c, schema: s }
            }
            DdlStatement::CreateCatalog(c) => {
                check_name(&c.catalog_name)?;
                Change::Catalog { catalog: c.catalog_name.clone() }
            }
            DdlStatement::DropCatalogSchema(d) => {
                let (c, s) = match &d.name {
                    datafusion::common::SchemaReference::Bare { schema } => (catalog.to_string(), schema.to_string()),
                    datafusion::common::SchemaReference::Full { schema, catalog } => {
                        (catalog.to_string(), schema.to_string())
                    }
                };
                Change::DropSchema { catalog: c, schema: s }
            }
            DdlStatement::CreateExternalTable(_) => {
                return Err(unsupported("CREATE EXTERNAL TABLE (the sandbox keeps tables in its own storage)"));
            }
            DdlStatement::CreateFunction(_) | DdlStatement::DropFunction(_) => {
                return Err(unsupported("CREATE/DROP FUNCTION"));
            }
            DdlStatement::CreateIndex(_) => return Err(unsupported("CREATE INDEX")),
        },
        LogicalPlan::Dml(dml) => match dml.op {
            WriteOp::Ctas => Change::Table { name: resolve(&dml.table_name), created: true, dml: None },
            WriteOp::Truncate => Change::Table { name: resolve(&dml.table_name), created: false, dml: None },
            WriteOp::Update => {
                Change::Table { name: resolve(&dml.table_name), created: false, dml: Some("num_updated_rows") }
            }
            WriteOp::Delete => {
                Change::Table { name: resolve(&dml.table_name), created: false, dml: Some("num_deleted_rows") }
            }
            _ => Change::Table { name: resolve(&dml.table_name), created: false, dml: Some("num_inserted_rows") },
        },
        LogicalPlan::Copy(_) => return Err(unsupported("COPY ... TO (writing files)")),
        _ => return Ok(None),
    };
    Ok(Some(change))
}

fn check_writable(change: &Change) -> Result<(), SqlError> {
    let read_only = |what: &str| {
        SqlError::new(
            "PERMISSION_DENIED",
            &format!("{what} is read-only. Create tables in main.default (or a schema of your own) instead."),
            "42501",
        )
    };
    match change.catalog() {
        tpch::CATALOG => return Err(read_only("The samples catalog")),
        SYSTEM_CATALOG => return Err(read_only("The system catalog")),
        _ => {}
    }
    if change.schema() == Some(info_schema::NAME) {
        return Err(read_only("information_schema"));
    }
    Ok(())
}

fn unsupported(what: &str) -> SqlError {
    SqlError::new("UNSUPPORTED_FEATURE", &format!("The sandbox does not support {what}."), "0A000")
}

/// DataFusion answers DML with `count`; Databricks with `num_affected_rows` and
/// `num_inserted_rows` (or `num_updated_rows`, `num_deleted_rows`).
fn affected_rows(batches: &[RecordBatch], column: &str) -> Executed {
    let mut total: i64 = 0;
    for batch in batches {
        if let Some(col) = batch.columns().first()
            && let Ok(as_i64) = cast(col, &DataType::Int64)
            && let Some(a) = as_i64.as_any().downcast_ref::<Int64Array>()
        {
            total += a.iter().flatten().sum::<i64>();
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("num_affected_rows", DataType::Int64, true),
        Field::new(column, DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![total])), Arc::new(Int64Array::from(vec![total]))];
    match RecordBatch::try_new(schema.clone(), columns) {
        Ok(b) => Executed::batches(schema, vec![b]),
        Err(_) => Executed::empty(),
    }
}

// ---------------------------------------------------------------------------------
// Functions the sandbox adds.

fn constant_udf(name: &str, value: &str) -> ScalarUDF {
    let value = value.to_string();
    let f = Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(value.clone())))));
    ScalarUDF::from(datafusion::logical_expr::expr_fn::SimpleScalarUDF::new_with_signature(
        name,
        Signature::nullary(Volatility::Stable),
        DataType::Utf8,
        f,
    ))
}

/// `sandbox_sleep(ms)`: sleep, then return `ms`. Cancelling the statement wakes it.
fn sleep_udf(cancel: CancellationToken) -> ScalarUDF {
    let f = Arc::new(move |args: &[ColumnarValue]| {
        let ms = match args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(v))) => v.unwrap_or(0),
            Some(ColumnarValue::Array(a)) => {
                a.as_any().downcast_ref::<Int64Array>().map(|a| a.iter().flatten().max().unwrap_or(0)).unwrap_or(0)
            }
            _ => 0,
        };
        let total = Duration::from_millis(ms.max(0).unsigned_abs()).min(MAX_SLEEP);
        let nap = || {
            let started = std::time::Instant::now();
            while started.elapsed() < total {
                if cancel.is_cancelled() {
                    return Err(DataFusionError::Execution("canceled".into()));
                }
                std::thread::sleep(Duration::from_millis(5).min(total.saturating_sub(started.elapsed())));
            }
            Ok(())
        };
        // Let the runtime move other work off this thread while it sleeps.
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(nap)?
        } else {
            nap()?
        }
        Ok(match args.first() {
            Some(ColumnarValue::Array(a)) => ColumnarValue::Array(a.clone()),
            _ => ColumnarValue::Scalar(ScalarValue::Int64(Some(ms))),
        })
    });
    create_udf("sandbox_sleep", vec![DataType::Int64], DataType::Int64, Volatility::Volatile, f)
}
