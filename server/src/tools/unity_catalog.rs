//! Tools of the `unity_catalog` toolset: browse catalogs, schemas, tables and
//! volumes. All read-only.
//!
//! Unity Catalog pages its listings and may answer with an empty page that still
//! carries a `next_page_token`; the list tools follow such empty pages themselves
//! (up to [`MAX_EMPTY_PAGES`]) so that an agent never sees an empty answer that is
//! not the end.

use std::future::Future;

use databricks_client::types;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::tools::util;
use crate::{ToolContext, ToolError, ToolOutput, ToolResult, tool};

/// Page size asked for when `max_results` is not given.
pub const DEFAULT_MAX_RESULTS: u32 = 100;
/// How many empty pages in a row a list tool follows before it answers.
pub const MAX_EMPTY_PAGES: usize = 5;
/// Longer view definitions are cut in get_table's text (the structured content keeps all).
const MAX_VIEW_TEXT: usize = 2_000;

/// One answer of a list tool: the items of the first non-empty page and the token after it.
struct Page<T> {
    items: Vec<T>,
    next: Option<String>,
}

/// Fetch pages from `token` on, following up to [`MAX_EMPTY_PAGES`] empty pages
/// that still carry a token.
async fn first_filled_page<T, F, Fut>(token: Option<String>, mut fetch: F) -> Result<Page<T>, ToolError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ToolError>>,
{
    let mut token = token.filter(|t| !t.is_empty());
    let mut empty = 0;
    loop {
        let (items, next) = fetch(token.clone()).await?;
        let next = next.filter(|t| !t.is_empty());
        if !items.is_empty() || next.is_none() {
            return Ok(Page { items, next });
        }
        empty += 1;
        // A server that repeats the token it was given would loop forever.
        if empty >= MAX_EMPTY_PAGES || next == token {
            return Ok(Page { items, next });
        }
        token = next;
    }
}

fn page_size(max_results: Option<u32>) -> i64 {
    i64::from(max_results.unwrap_or(DEFAULT_MAX_RESULTS))
}

fn required<'a>(value: &'a str, field: &str) -> Result<&'a str, ToolError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ToolError::InvalidArguments(format!("invalid argument `{field}`: it is empty")));
    }
    Ok(value)
}

/// The text and structured content of a list tool.
fn listing(
    what: &str,
    tool: &str,
    headers: &[&str],
    rows: Vec<Vec<String>>,
    key: &str,
    summaries: Vec<Value>,
    next: Option<String>,
) -> ToolOutput {
    let mut text = if rows.is_empty() {
        match &next {
            Some(_) => format!("No {what} on the pages read so far, but the listing is not finished.\n"),
            None => format!("No {what} found.\n"),
        }
    } else {
        util::markdown_table(headers, &rows)
    };
    if let Some(token) = &next {
        text.push_str(&format!("More {what} may follow: call {tool} again with page_token={token}\n"));
    }
    let mut structured = json!({ key: summaries });
    if let Some(token) = next {
        structured["next_page_token"] = json!(token);
    }
    ToolOutput::with_structured(text, structured)
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn deref_text<S: std::ops::Deref<Target = String>>(value: &Option<S>) -> String {
    value.as_ref().map(|s| s.to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------
// Catalogs.

/// Arguments of `list_catalogs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListCatalogsArgs {
    /// Page size (default 100; 0 lets the server choose; the server caps large values).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// next_page_token from a previous call, to continue the listing.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// List the Unity Catalog catalogs the caller can see, each with name,
/// catalog_type, owner and comment. Returns next_page_token when more follow: pass
/// it back as page_token. Next: list_schemas with a catalog_name, or get_catalog.
#[tool(toolset = "unity_catalog", read_only, operation = "catalogs_list")]
pub async fn list_catalogs(ctx: ToolContext, args: ListCatalogsArgs) -> ToolResult {
    let client = &ctx.client;
    let size = page_size(args.max_results);
    let page = first_filled_page(args.page_token, |token| {
        let mut request = client.catalogs_list().max_results(size);
        if let Some(t) = token {
            request = request.page_token(t);
        }
        async move {
            let page = request.send().await?.into_inner();
            Ok((page.catalogs, page.next_page_token))
        }
    })
    .await?;
    let rows = page
        .items
        .iter()
        .map(|c| vec![text(&c.name), deref_text(&c.catalog_type), text(&c.owner), text(&c.comment)])
        .collect();
    let summaries = page
        .items
        .iter()
        .map(|c| {
            util::compact(
                json!({"name": c.name, "catalog_type": c.catalog_type, "owner": c.owner, "comment": c.comment}),
            )
        })
        .collect();
    Ok(listing(
        "catalogs",
        "list_catalogs",
        &["name", "catalog_type", "owner", "comment"],
        rows,
        "catalogs",
        summaries,
        page.next,
    ))
}

/// Arguments of `get_catalog`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCatalogArgs {
    /// Name of the catalog, e.g. `main`.
    pub name: String,
}

/// Get one catalog's full metadata: type, owner, comment, storage root, isolation
/// mode, properties and audit fields. Next: list_schemas to see what it contains.
#[tool(toolset = "unity_catalog", read_only, operation = "catalogs_get")]
pub async fn get_catalog(ctx: ToolContext, args: GetCatalogArgs) -> ToolResult {
    let name = required(&args.name, "name")?;
    let catalog = ctx.client.catalogs_get().name(name).send().await?.into_inner();
    Ok(ToolOutput::json(catalog))
}

// ---------------------------------------------------------------------------------
// Schemas.

/// Arguments of `list_schemas`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSchemasArgs {
    /// Name of the catalog whose schemas are listed.
    pub catalog_name: String,
    /// Page size (default 100; 0 lets the server choose; the server caps large values).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// next_page_token from a previous call, to continue the listing.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// List the schemas of a catalog with name, full_name (catalog.schema), owner and
/// comment. Returns next_page_token when more follow: pass it back as page_token.
/// Next: list_tables or list_volumes with catalog_name and schema_name, or get_schema.
#[tool(toolset = "unity_catalog", read_only, operation = "schemas_list")]
pub async fn list_schemas(ctx: ToolContext, args: ListSchemasArgs) -> ToolResult {
    let catalog = required(&args.catalog_name, "catalog_name")?.to_string();
    let client = &ctx.client;
    let size = page_size(args.max_results);
    let page = first_filled_page(args.page_token, |token| {
        let mut request = client.schemas_list().catalog_name(catalog.clone()).max_results(size);
        if let Some(t) = token {
            request = request.page_token(t);
        }
        async move {
            let page = request.send().await?.into_inner();
            Ok((page.schemas, page.next_page_token))
        }
    })
    .await?;
    let rows =
        page.items.iter().map(|s| vec![text(&s.name), text(&s.full_name), text(&s.owner), text(&s.comment)]).collect();
    let summaries = page
        .items
        .iter()
        .map(|s| {
            util::compact(json!({"name": s.name, "full_name": s.full_name, "owner": s.owner, "comment": s.comment}))
        })
        .collect();
    Ok(listing(
        "schemas",
        "list_schemas",
        &["name", "full_name", "owner", "comment"],
        rows,
        "schemas",
        summaries,
        page.next,
    ))
}

/// Arguments of `get_schema`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSchemaArgs {
    /// Full name of the schema, as catalog.schema (e.g. `main.default`).
    pub full_name: String,
}

/// Get one schema's full metadata, addressed as catalog.schema: owner, comment,
/// properties, storage location and audit fields. Next: list_tables or list_volumes.
#[tool(toolset = "unity_catalog", read_only, operation = "schemas_get")]
pub async fn get_schema(ctx: ToolContext, args: GetSchemaArgs) -> ToolResult {
    let full_name = required(&args.full_name, "full_name")?;
    let schema = ctx.client.schemas_get().full_name(full_name).send().await?.into_inner();
    Ok(ToolOutput::json(schema))
}

// ---------------------------------------------------------------------------------
// Tables.

/// Arguments of `list_tables`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTablesArgs {
    /// Name of the catalog that holds the schema.
    pub catalog_name: String,
    /// Name of the schema whose tables and views are listed.
    pub schema_name: String,
    /// Page size (default 100; 0 lets the server choose; the server caps large values).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// next_page_token from a previous call, to continue the listing.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// List the tables and views of one schema, each with name, table_type (MANAGED,
/// EXTERNAL, VIEW, …), data_source_format and comment, without their columns.
/// Returns next_page_token when more follow: pass it back as page_token. Next:
/// get_table with the full name for the columns, or execute_sql to read rows.
#[tool(toolset = "unity_catalog", read_only, operation = "tables_list")]
pub async fn list_tables(ctx: ToolContext, args: ListTablesArgs) -> ToolResult {
    let catalog = required(&args.catalog_name, "catalog_name")?.to_string();
    let schema = required(&args.schema_name, "schema_name")?.to_string();
    let client = &ctx.client;
    let size = page_size(args.max_results);
    let page = first_filled_page(args.page_token, |token| {
        let mut request = client
            .tables_list()
            .catalog_name(catalog.clone())
            .schema_name(schema.clone())
            .max_results(size)
            .omit_columns(true)
            .omit_properties(true);
        if let Some(t) = token {
            request = request.page_token(t);
        }
        async move {
            let page = request.send().await?.into_inner();
            Ok((page.tables, page.next_page_token))
        }
    })
    .await?;
    let rows = page
        .items
        .iter()
        .map(|t| vec![text(&t.name), deref_text(&t.table_type), deref_text(&t.data_source_format), text(&t.comment)])
        .collect();
    let summaries = page.items.iter().map(table_summary).collect();
    Ok(listing(
        "tables",
        "list_tables",
        &["name", "table_type", "data_source_format", "comment"],
        rows,
        "tables",
        summaries,
        page.next,
    ))
}

fn table_summary(t: &types::TableInfo) -> Value {
    util::compact(json!({
        "name": t.name,
        "full_name": t.full_name,
        "table_type": t.table_type,
        "data_source_format": t.data_source_format,
        "comment": t.comment,
    }))
}

/// Arguments of `get_table`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetTableArgs {
    /// Full name of the table or view, as catalog.schema.table (e.g. `samples.tpch.orders`).
    pub full_name: String,
}

/// Get one table or view by its full name (catalog.schema.table). The text shows
/// its type, format, owner, comment and a compact column list (name, type,
/// nullable, comment); the structured content is the full Unity Catalog object
/// (properties, storage location, constraints, view definition, audit fields).
/// Next: execute_sql to query it.
#[tool(toolset = "unity_catalog", read_only, operation = "tables_get")]
pub async fn get_table(ctx: ToolContext, args: GetTableArgs) -> ToolResult {
    let full_name = required(&args.full_name, "full_name")?;
    let table = ctx.client.tables_get().full_name(full_name).send().await?.into_inner();
    let mut out = format!("Table {}", table.full_name.as_deref().unwrap_or(full_name));
    let mut facts = Vec::new();
    for (label, value) in [
        ("type", deref_text(&table.table_type)),
        ("format", deref_text(&table.data_source_format)),
        ("owner", text(&table.owner)),
    ] {
        if !value.is_empty() {
            facts.push(format!("{label} {value}"));
        }
    }
    if !facts.is_empty() {
        out.push_str(&format!(" ({})", facts.join(", ")));
    }
    out.push('\n');
    if let Some(comment) = table.comment.as_deref().filter(|c| !c.is_empty()) {
        out.push_str(&format!("Comment: {comment}\n"));
    }
    if let Some(location) = table.storage_location.as_deref().filter(|c| !c.is_empty()) {
        out.push_str(&format!("Storage location: {location}\n"));
    }
    if let Some(definition) = table.view_definition.as_deref().filter(|c| !c.is_empty()) {
        let shown: String = definition.chars().take(MAX_VIEW_TEXT).collect();
        let more = if shown.len() < definition.len() { " … (cut; full text in the structured content)" } else { "" };
        out.push_str(&format!("View definition: {shown}{more}\n"));
    }
    if table.columns.is_empty() {
        out.push_str("No columns were returned.\n");
    } else {
        out.push_str(&format!("{} column(s):\n", table.columns.len()));
        let rows: Vec<Vec<String>> = table
            .columns
            .iter()
            .map(|c| {
                let type_text = c.type_text.clone().or_else(|| c.type_name.as_ref().map(|t| t.to_string()));
                vec![
                    text(&c.name),
                    type_text.unwrap_or_default(),
                    c.nullable.map(|n| if n { "yes" } else { "no" }).unwrap_or("").to_string(),
                    text(&c.comment),
                ]
            })
            .collect();
        out.push_str(&util::markdown_table(&["name", "type", "nullable", "comment"], &rows));
    }
    let structured = serde_json::to_value(&table).unwrap_or(Value::Null);
    Ok(ToolOutput::with_structured(out, structured))
}

// ---------------------------------------------------------------------------------
// Volumes.

/// Arguments of `list_volumes`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListVolumesArgs {
    /// Name of the catalog that holds the schema.
    pub catalog_name: String,
    /// Name of the schema whose volumes are listed.
    pub schema_name: String,
    /// Page size (default 100; 0 lets the server choose; the server caps large values).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// next_page_token from a previous call, to continue the listing.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// List the volumes of one schema with name, full_name, volume_type (MANAGED or
/// EXTERNAL) and comment. A volume's files live under
/// /Volumes/<catalog>/<schema>/<volume>/. Returns next_page_token when more
/// follow: pass it back as page_token.
#[tool(toolset = "unity_catalog", read_only, operation = "volumes_list")]
pub async fn list_volumes(ctx: ToolContext, args: ListVolumesArgs) -> ToolResult {
    let catalog = required(&args.catalog_name, "catalog_name")?.to_string();
    let schema = required(&args.schema_name, "schema_name")?.to_string();
    let client = &ctx.client;
    let size = page_size(args.max_results);
    let page = first_filled_page(args.page_token, |token| {
        let mut request =
            client.volumes_list().catalog_name(catalog.clone()).schema_name(schema.clone()).max_results(size);
        if let Some(t) = token {
            request = request.page_token(t);
        }
        async move {
            let page = request.send().await?.into_inner();
            Ok((page.volumes, page.next_page_token))
        }
    })
    .await?;
    let rows = page
        .items
        .iter()
        .map(|v| vec![text(&v.name), text(&v.full_name), deref_text(&v.volume_type), text(&v.comment)])
        .collect();
    let summaries = page
        .items
        .iter()
        .map(|v| {
            util::compact(json!({
                "name": v.name,
                "full_name": v.full_name,
                "volume_type": v.volume_type,
                "comment": v.comment,
                "storage_location": v.storage_location,
            }))
        })
        .collect();
    Ok(listing(
        "volumes",
        "list_volumes",
        &["name", "full_name", "volume_type", "comment"],
        rows,
        "volumes",
        summaries,
        page.next,
    ))
}
