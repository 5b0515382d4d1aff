//! Unity Catalog (read side) over the engine's live catalog: catalogs, schemas,
//! tables (with their columns), table summaries and volumes, at
//! `/api/2.1/unity-catalog/…`.
//!
//! Lists page as Unity Catalog does: `max_results` sets the page size (at most
//! [`MAX_PAGE`]); without it, or with 0, the server picks a small page size
//! ([`SERVER_PAGE`]). With `max_results=0` (what Databricks' SDKs send) the first
//! answer is an empty page that still carries a `next_page_token`, as real Unity
//! Catalog sometimes answers: only a missing token ends a listing.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::routing::get;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::TableType;
use serde_json::{Value, json};

use super::commands;
use super::engine::{self, Meta, ObjectMeta, SYSTEM_OWNER};
use super::{lexer, tpch, types};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, encode_token, page};

/// The page size when the client leaves it to the server.
pub const SERVER_PAGE: usize = 10;
/// The largest page served.
pub const MAX_PAGE: usize = 1000;
/// The sandbox's one metastore.
pub const METASTORE_ID: &str = "5a4d0b1c-7e2f-4c3a-9b8d-0123456789ab";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.1/unity-catalog/catalogs", get(list_catalogs))
        .route("/api/2.1/unity-catalog/catalogs/{name}", get(get_catalog))
        .route("/api/2.1/unity-catalog/schemas", get(list_schemas))
        .route("/api/2.1/unity-catalog/schemas/{full_name}", get(get_schema))
        .route("/api/2.1/unity-catalog/tables", get(list_tables))
        .route("/api/2.1/unity-catalog/tables/{full_name}", get(get_table))
        .route("/api/2.1/unity-catalog/table-summaries", get(list_summaries))
        .route("/api/2.1/unity-catalog/volumes", get(list_volumes))
        .route("/api/2.1/unity-catalog/volumes/{name}", get(get_volume))
}

fn catalog_missing(name: &str) -> ApiError {
    ApiError::new(404, "CATALOG_DOES_NOT_EXIST", format!("Catalog '{name}' does not exist."))
}

fn schema_missing(name: &str) -> ApiError {
    ApiError::new(404, "SCHEMA_DOES_NOT_EXIST", format!("Schema '{name}' does not exist."))
}

fn table_missing(name: &str) -> ApiError {
    ApiError::new(404, "TABLE_DOES_NOT_EXIST", format!("Table '{name}' does not exist."))
}

fn volume_missing(name: &str) -> ApiError {
    ApiError::not_found_code(format!("Volume '{name}' does not exist."))
}

/// One page of `items`, Unity Catalog style.
fn uc_page<T: Clone>(items: &[T], params: &Params) -> ApiResult<(Vec<T>, Option<String>)> {
    let max = params.int("max_results")?;
    let size = match max {
        Some(n) if n < 0 => return Err(ApiError::invalid(format!("max_results must be 0 or more, got {n}."))),
        None | Some(0) => SERVER_PAGE,
        Some(n) => usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
    };
    let token = params.get("page_token");
    if max == Some(0) && token.is_none() && !items.is_empty() {
        return Ok((Vec::new(), Some(encode_token(0))));
    }
    page(items, token, size)
}

fn listing(key: &str, (items, next): (Vec<Value>, Option<String>)) -> Json<Value> {
    let mut body = json!({ key: items });
    if let Some(t) = next {
        body["next_page_token"] = json!(t);
    }
    Json(body)
}

fn split_name(full: &str, parts: usize, what: &str) -> ApiResult<Vec<String>> {
    let split: Vec<String> = full.split('.').map(|p| engine::normalize_name(p.trim())).collect();
    if split.len() != parts || split.iter().any(String::is_empty) {
        return Err(ApiError::invalid(format!(
            "Invalid {what} name '{full}': expected {parts} dot-separated parts ({}).",
            ["catalog", "schema", "table"][..parts].join(".")
        )));
    }
    Ok(split)
}

fn stamp(v: &mut Value, meta: Option<&ObjectMeta>) {
    let owner = meta.map_or(SYSTEM_OWNER, |m| m.owner.as_str());
    let created = meta.map_or(0, |m| m.created_at);
    let updated = meta.map_or(created, |m| m.updated_at);
    v["owner"] = json!(owner);
    v["created_at"] = json!(created);
    v["created_by"] = json!(owner);
    v["updated_at"] = json!(updated);
    v["updated_by"] = json!(owner);
    v["metastore_id"] = json!(METASTORE_ID);
    if let Some(c) = meta.and_then(|m| m.comment.as_deref()) {
        v["comment"] = json!(c);
    }
}

// ---------------------------------------------------------------------------------
// Catalogs.

fn catalog_type(name: &str) -> &'static str {
    match name {
        tpch::CATALOG => "DELTASHARING_CATALOG",
        engine::SYSTEM_CATALOG => "SYSTEM_CATALOG",
        _ => "MANAGED_CATALOG",
    }
}

fn catalog_info(name: &str, meta: &Meta) -> Value {
    let samples = name == tpch::CATALOG;
    let mut v = json!({
        "name": name,
        "full_name": name,
        "catalog_type": catalog_type(name),
        "securable_type": "CATALOG",
        "isolation_mode": "OPEN",
        "browse_only": false,
        "properties": {},
    });
    if samples {
        v["provider_name"] = json!("databricks");
        v["share_name"] = json!("samples");
    }
    stamp(&mut v, meta.catalogs.get(name));
    v
}

async fn list_catalogs(AxState(state): AxState<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let meta = state.sql.engine.meta();
    let all: Vec<Value> = commands::catalogs(state.sql.engine.ctx()).iter().map(|c| catalog_info(c, &meta)).collect();
    Ok(listing("catalogs", uc_page(&all, &params)?))
}

async fn get_catalog(AxState(state): AxState<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let name = engine::normalize_name(name.trim());
    if state.sql.engine.ctx().catalog(&name).is_none() {
        return Err(catalog_missing(&name));
    }
    Ok(Json(catalog_info(&name, &state.sql.engine.meta())))
}

// ---------------------------------------------------------------------------------
// Schemas.

fn schema_info(catalog: &str, schema: &str, meta: &Meta) -> Value {
    let full = format!("{catalog}.{schema}");
    let mut v = json!({
        "name": schema,
        "catalog_name": catalog,
        "full_name": full,
        "catalog_type": catalog_type(catalog),
        "browse_only": false,
        "properties": {},
    });
    let info = meta.schemas.get(&full);
    stamp(&mut v, info);
    v["schema_id"] = json!(info.map(|m| m.id.clone()).unwrap_or_else(|| stable_id(&full)));
    if schema == "information_schema" {
        v["comment"] = json!("Information schema (auto-created)");
    }
    v
}

/// A made-up but stable id for objects without metadata (information_schema).
fn stable_id(name: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h = (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    uuid::Uuid::from_u128(h).to_string()
}

fn schema_names(state: &AppState, catalog: &str) -> ApiResult<Vec<String>> {
    let c = state.sql.engine.ctx().catalog(catalog).ok_or_else(|| catalog_missing(catalog))?;
    Ok(commands::schemas_of(c.schema_names()))
}

fn check_schema(state: &AppState, catalog: &str, schema: &str) -> ApiResult<()> {
    if !schema_names(state, catalog)?.iter().any(|s| s == schema) {
        return Err(schema_missing(&format!("{catalog}.{schema}")));
    }
    Ok(())
}

async fn list_schemas(AxState(state): AxState<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let catalog = engine::normalize_name(params.required("catalog_name")?);
    let meta = state.sql.engine.meta();
    let all: Vec<Value> = schema_names(&state, &catalog)?.iter().map(|s| schema_info(&catalog, s, &meta)).collect();
    Ok(listing("schemas", uc_page(&all, &params)?))
}

async fn get_schema(AxState(state): AxState<AppState>, Path(full): Path<String>) -> ApiResult<Json<Value>> {
    let parts = split_name(&full, 2, "schema")?;
    check_schema(&state, &parts[0], &parts[1])?;
    Ok(Json(schema_info(&parts[0], &parts[1], &state.sql.engine.meta())))
}

// ---------------------------------------------------------------------------------
// Tables.

struct TableOptions {
    omit_columns: bool,
    omit_properties: bool,
}

fn columns_json(schema: &SchemaRef) -> Vec<Value> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (precision, scale) = types::decimal_parts(f.data_type()).unwrap_or((0, 0));
            json!({
                "name": f.name(),
                "type_text": types::catalog_type_text(f.data_type()),
                "type_name": types::type_name(f.data_type()),
                "type_json": types::type_json(f),
                "type_precision": precision,
                "type_scale": scale,
                "position": i,
                "nullable": f.is_nullable(),
            })
        })
        .collect()
}

/// The query of a `CREATE VIEW … AS query` statement.
pub fn view_query(sql: &str) -> String {
    let Ok(tokens) = lexer::tokenize(sql) else { return sql.to_string() };
    let mut depth = 0i32;
    for t in &tokens {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth -= 1;
        } else if depth == 0 && t.is_keyword("AS") {
            return sql[t.end..].trim().trim_end_matches(';').trim().to_string();
        }
    }
    sql.to_string()
}

/// A table's three-part name.
struct Name<'a> {
    catalog: &'a str,
    schema: &'a str,
    table: &'a str,
}

fn table_info(
    state: &AppState,
    meta: &Meta,
    name: Name<'_>,
    kind: TableType,
    arrow_schema: Option<&SchemaRef>,
    options: &TableOptions,
) -> Value {
    let Name { catalog, schema, table: name } = name;
    let full = format!("{catalog}.{schema}.{name}");
    let is_view = kind == TableType::View;
    let mut v = json!({
        "name": name,
        "catalog_name": catalog,
        "schema_name": schema,
        "full_name": full,
        "table_type": if is_view { "VIEW" } else { "MANAGED" },
        "browse_only": false,
    });
    let info = meta.tables.get(&full).or_else(|| meta.views.get(&full).map(|view| &view.meta));
    stamp(&mut v, info);
    v["table_id"] = json!(info.map(|m| m.id.clone()).unwrap_or_else(|| stable_id(&full)));
    if !is_view {
        v["data_source_format"] = json!("DELTA");
        let location = match state.store.dir() {
            Some(dir) if catalog != tpch::CATALOG => {
                format!(
                    "file://{}",
                    dir.join("tables").join(catalog).join(schema).join(format!("{name}.parquet")).display()
                )
            }
            _ => format!("memory://sandbox/{catalog}/{schema}/{name}"),
        };
        v["storage_location"] = json!(location);
    }
    if let Some(view) = meta.views.get(&full) {
        v["view_definition"] = json!(view_query(&view.sql));
    }
    if !options.omit_columns
        && let Some(s) = arrow_schema
    {
        v["columns"] = json!(columns_json(s));
    }
    if !options.omit_properties {
        v["properties"] = json!({});
    }
    v
}

/// Every table of a schema as TableInfo.
async fn schema_tables(state: &AppState, catalog: &str, schema: &str, options: &TableOptions) -> ApiResult<Vec<Value>> {
    check_schema(state, catalog, schema)?;
    let meta = state.sql.engine.meta();
    let tables = commands::list_tables(state.sql.engine.ctx(), catalog, schema).await.map_err(sql_to_api)?;
    let mut out = Vec::with_capacity(tables.len());
    for (name, kind) in tables {
        let arrow_schema =
            if options.omit_columns { None } else { provider_schema(state, catalog, schema, &name).await };
        let full = Name { catalog, schema, table: &name };
        out.push(table_info(state, &meta, full, kind, arrow_schema.as_ref(), options));
    }
    Ok(out)
}

async fn provider_schema(state: &AppState, catalog: &str, schema: &str, table: &str) -> Option<SchemaRef> {
    let reference = datafusion::common::TableReference::full(catalog, schema, table);
    state.sql.engine.ctx().table_provider(reference).await.ok().map(|t| t.schema())
}

fn sql_to_api(e: super::SqlError) -> ApiError {
    match e.class() {
        Some("NO_SUCH_CATALOG_EXCEPTION") => ApiError::new(404, "CATALOG_DOES_NOT_EXIST", e.message),
        Some("SCHEMA_NOT_FOUND") => ApiError::new(404, "SCHEMA_DOES_NOT_EXIST", e.message),
        _ => ApiError::internal(e.message),
    }
}

fn table_options(params: &Params) -> ApiResult<TableOptions> {
    Ok(TableOptions {
        omit_columns: params.bool("omit_columns")?.unwrap_or(false),
        omit_properties: params.bool("omit_properties")?.unwrap_or(false),
    })
}

async fn list_tables(AxState(state): AxState<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let catalog = engine::normalize_name(params.required("catalog_name")?);
    let schema = engine::normalize_name(params.required("schema_name")?);
    let all = schema_tables(&state, &catalog, &schema, &table_options(&params)?).await?;
    Ok(listing("tables", uc_page(&all, &params)?))
}

async fn get_table(AxState(state): AxState<AppState>, Path(full): Path<String>) -> ApiResult<Json<Value>> {
    let parts = split_name(&full, 3, "table")?;
    let (c, s, t) = (&parts[0], &parts[1], &parts[2]);
    if state.sql.engine.ctx().catalog(c).is_none() {
        return Err(catalog_missing(c));
    }
    check_schema(&state, c, s)?;
    let options = TableOptions { omit_columns: false, omit_properties: false };
    let reference = datafusion::common::TableReference::full(c.as_str(), s.as_str(), t.as_str());
    let provider =
        state.sql.engine.ctx().table_provider(reference).await.map_err(|_| table_missing(&format!("{c}.{s}.{t}")))?;
    let kind = if s == super::info_schema::NAME { TableType::View } else { provider.table_type() };
    let meta = state.sql.engine.meta();
    let name = Name { catalog: c, schema: s, table: t };
    Ok(Json(table_info(&state, &meta, name, kind, Some(&provider.schema()), &options)))
}

/// SQL LIKE: `%` any run, `_` one character; case-insensitive.
fn like(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('_', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    go(&p, &s)
}

async fn list_summaries(AxState(state): AxState<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let catalog = engine::normalize_name(params.required("catalog_name")?);
    let schema_pattern = params.get("schema_name_pattern").unwrap_or("%").to_string();
    let table_pattern = params.get("table_name_pattern").unwrap_or("%").to_string();
    let mut all = Vec::new();
    for schema in schema_names(&state, &catalog)? {
        if !like(&schema_pattern, &schema) {
            continue;
        }
        let tables = commands::list_tables(state.sql.engine.ctx(), &catalog, &schema).await.map_err(sql_to_api)?;
        for (name, kind) in tables {
            if like(&table_pattern, &name) {
                all.push(json!({
                    "full_name": format!("{catalog}.{schema}.{name}"),
                    "table_type": if kind == TableType::View { "VIEW" } else { "MANAGED" },
                }));
            }
        }
    }
    Ok(listing("tables", uc_page(&all, &params)?))
}

// ---------------------------------------------------------------------------------
// Volumes.

fn volume_info(state: &AppState, v: &engine::VolumeMeta) -> Value {
    let full = v.full_name();
    let location = match state.store.dir() {
        Some(dir) => format!("file://{}", dir.join("volumes").join(&v.catalog).join(&v.schema).join(&v.name).display()),
        None => format!("memory://sandbox/volumes/{}/{}/{}", v.catalog, v.schema, v.name),
    };
    let mut out = json!({
        "name": v.name,
        "catalog_name": v.catalog,
        "schema_name": v.schema,
        "full_name": full,
        "volume_type": "MANAGED",
        "volume_id": v.meta.id,
        "storage_location": location,
        "browse_only": false,
    });
    stamp(&mut out, Some(&v.meta));
    out
}

async fn list_volumes(AxState(state): AxState<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let catalog = engine::normalize_name(params.required("catalog_name")?);
    let schema = engine::normalize_name(params.required("schema_name")?);
    check_schema(&state, &catalog, &schema)?;
    let meta = state.sql.engine.meta();
    let mut volumes: Vec<&engine::VolumeMeta> =
        meta.volumes.iter().filter(|v| v.catalog == catalog && v.schema == schema).collect();
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    let all: Vec<Value> = volumes.into_iter().map(|v| volume_info(&state, v)).collect();
    Ok(listing("volumes", uc_page(&all, &params)?))
}

async fn get_volume(AxState(state): AxState<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let parts = split_name(&name, 3, "volume")?;
    let meta = state.sql.engine.meta();
    let found = meta.volumes.iter().find(|v| v.catalog == parts[0] && v.schema == parts[1] && v.name == parts[2]);
    match found {
        Some(v) => Ok(Json(volume_info(&state, v))),
        None => Err(volume_missing(&parts.join("."))),
    }
}

#[cfg(test)]
mod tests {
    use super::{like, view_query};

    #[test]
    fn like_patterns() {
        assert!(like("line%", "lineitem"));
        assert!(like("_egion", "REGION"));
        assert!(!like("part", "partsupp"));
        assert!(like("%", ""));
    }

    #[test]
    fn view_queries() {
        assert_eq!(view_query("CREATE VIEW v (a) AS SELECT 1 AS a;"), "SELECT 1 AS a");
    }
}
