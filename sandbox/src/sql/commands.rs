//! Databricks commands DataFusion does not speak, answered from the live catalog with
//! Databricks' column names:
//!
//! - `SHOW CATALOGS [[LIKE] 'pattern']` → `catalog`
//! - `SHOW {SCHEMAS|DATABASES} [{FROM|IN} catalog] [[LIKE] 'pattern']` → `databaseName`
//! - `SHOW TABLES [{FROM|IN} [catalog.]schema] [[LIKE] 'pattern']` → `database`, `tableName`, `isTemporary`
//! - `SHOW VIEWS [{FROM|IN} [catalog.]schema] [[LIKE] 'pattern']` → `namespace`, `viewName`, `isTemporary`
//! - `SHOW COLUMNS {IN|FROM} table [{IN|FROM} schema]` → `col_name`
//! - `DESCRIBE [TABLE] [EXTENDED] table` → `col_name`, `data_type`, `comment`
//! - `DESCRIBE {SCHEMA|DATABASE} [EXTENDED] schema` → `database_description_item`, `database_description_value`
//! - `DESCRIBE CATALOG [EXTENDED] catalog` → `info_name`, `info_value`
//!
//! Patterns use Databricks' syntax: `*` matches anything, `|` separates alternatives,
//! and matching ignores case.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;

use super::engine::{self, Engine, Executed};
use super::lexer::{self, Kind, Token};
use super::{SqlError, errors, info_schema, types};

enum Col {
    Str(Vec<Option<String>>),
    Bool(Vec<bool>),
}

fn result(columns: Vec<(&str, Col)>) -> Result<Executed, SqlError> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, c)| match c {
            Col::Str(_) => Field::new(*name, DataType::Utf8, true),
            Col::Bool(_) => Field::new(*name, DataType::Boolean, false),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|(_, c)| -> ArrayRef {
            match c {
                Col::Str(v) => Arc::new(StringArray::from(v)),
                Col::Bool(v) => Arc::new(BooleanArray::from(v)),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| SqlError::new("INTERNAL_ERROR", &e.to_string(), "XX000"))?;
    Ok(Executed::batches(schema, vec![batch]))
}

fn strs<I: IntoIterator<Item = String>>(values: I) -> Col {
    Col::Str(values.into_iter().map(Some).collect())
}

/// Databricks' SHOW pattern: `*` wildcards, `|` alternatives, case-insensitive.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    pattern.split('|').any(|alt| glob(alt.trim().to_ascii_lowercase().as_bytes(), name.to_ascii_lowercase().as_bytes()))
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn kw(&mut self, k: &str) -> bool {
        if self.tokens.get(self.pos).is_some_and(|t| t.is_keyword(k)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Result<Vec<String>, SqlError> {
        lexer::dotted_name(self.tokens, &mut self.pos).ok_or_else(|| syntax(self.tokens.get(self.pos)))
    }

    /// `[LIKE] 'pattern'`
    fn pattern(&mut self) -> Result<Option<String>, SqlError> {
        let like = self.kw("LIKE");
        match self.tokens.get(self.pos) {
            Some(Token { kind: Kind::Str(s), .. }) => {
                self.pos += 1;
                Ok(Some(s.clone()))
            }
            Some(t) => Err(syntax(Some(t))),
            None if like => Err(syntax(None)),
            None => Ok(None),
        }
    }

    fn end(&self) -> Result<(), SqlError> {
        match self.tokens.get(self.pos) {
            None => Ok(()),
            Some(t) => Err(syntax(Some(t))),
        }
    }
}

fn syntax(at: Option<&Token>) -> SqlError {
    let near = match at.map(|t| &t.kind) {
        Some(Kind::Word(w) | Kind::Number(w) | Kind::Punct(w)) => format!("'{w}'"),
        Some(Kind::Quoted(q)) => format!("'`{q}`'"),
        Some(Kind::Str(s)) => format!("''{s}''"),
        Some(Kind::Param(p)) => format!("':{p}'"),
        None => "end of input".into(),
    };
    SqlError::new("PARSE_SYNTAX_ERROR", &format!("Syntax error at or near {near}."), "42601")
}

/// Answer the statement if it is one of the commands above; `None` otherwise.
pub async fn try_run(
    engine: &Engine,
    ctx: &SessionContext,
    catalog: &str,
    schema: &str,
    tokens: &[Token],
) -> Result<Option<Executed>, SqlError> {
    let mut p = Parser { tokens, pos: 0 };
    if p.kw("SHOW") {
        if p.kw("CATALOGS") {
            let pattern = p.pattern()?;
            p.end()?;
            let names =
                catalogs(ctx).into_iter().filter(|c| pattern.as_deref().is_none_or(|pat| pattern_matches(pat, c)));
            return result(vec![("catalog", strs(names))]).map(Some);
        }
        if p.kw("SCHEMAS") || p.kw("DATABASES") {
            let mut cat = catalog.to_string();
            if p.kw("FROM") || p.kw("IN") {
                let name = p.name()?;
                if name.len() != 1 {
                    return Err(syntax(tokens.get(p.pos.saturating_sub(1))));
                }
                cat = name[0].clone();
            }
            let pattern = p.pattern()?;
            p.end()?;
            let Some(c) = ctx.catalog(&cat) else { return Err(errors::no_such_catalog(&cat)) };
            let names = schemas_of(c.schema_names())
                .into_iter()
                .filter(|s| pattern.as_deref().is_none_or(|pat| pattern_matches(pat, s)));
            return result(vec![("databaseName", strs(names))]).map(Some);
        }
        if p.kw("TABLES") || p.kw("VIEWS") {
            let views_only = tokens[1].is_keyword("VIEWS");
            let (cat, sch) = if p.kw("FROM") || p.kw("IN") {
                schema_ref(&p.name()?, catalog)?
            } else {
                (catalog.into(), schema.into())
            };
            let pattern = p.pattern()?;
            p.end()?;
            let tables = list_tables(ctx, &cat, &sch).await?;
            let tables: Vec<(String, TableType)> = tables
                .into_iter()
                .filter(|(_, kind)| !views_only || *kind == TableType::View)
                .filter(|(t, _)| pattern.as_deref().is_none_or(|pat| pattern_matches(pat, t)))
                .collect();
            let n = tables.len();
            let first = if views_only { "namespace" } else { "database" };
            let second = if views_only { "viewName" } else { "tableName" };
            return result(vec![
                (first, strs(std::iter::repeat_n(sch.clone(), n))),
                (second, strs(tables.into_iter().map(|(t, _)| t))),
                ("isTemporary", Col::Bool(vec![false; n])),
            ])
            .map(Some);
        }
        if p.kw("COLUMNS") {
            if !(p.kw("IN") || p.kw("FROM")) {
                return Err(syntax(tokens.get(p.pos)));
            }
            let mut name = p.name()?;
            if p.kw("IN") || p.kw("FROM") {
                let mut sch = p.name()?;
                sch.append(&mut name);
                name = sch;
            }
            p.end()?;
            let (_, provider) = resolve_table(engine, &name, catalog, schema).await?;
            let cols = provider.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
            return result(vec![("col_name", strs(cols))]).map(Some);
        }
        return Ok(None);
    }
    if p.kw("DESCRIBE") || p.kw("DESC") {
        if p.kw("CATALOG") {
            let _ = p.kw("EXTENDED");
            let name = p.name()?;
            p.end()?;
            let [cat] = name.as_slice() else { return Err(syntax(tokens.last())) };
            if ctx.catalog(cat).is_none() {
                return Err(errors::no_such_catalog(cat));
            }
            let meta = engine.meta();
            let info = meta.catalogs.get(cat);
            let rows = vec![
                ("Catalog Name", Some(cat.clone())),
                ("Comment", info.and_then(|m| m.comment.clone())),
                ("Owner", info.map(|m| m.owner.clone())),
                (
                    "Catalog Type",
                    Some(if cat == super::tpch::CATALOG { "DELTASHARING" } else { "MANAGED_CATALOG" }.into()),
                ),
            ];
            return result(vec![
                ("info_name", strs(rows.iter().map(|(k, _)| k.to_string()))),
                ("info_value", Col::Str(rows.into_iter().map(|(_, v)| v).collect())),
            ])
            .map(Some);
        }
        if p.kw("SCHEMA") || p.kw("DATABASE") {
            let _ = p.kw("EXTENDED");
            let (cat, sch) = schema_ref(&p.name()?, catalog)?;
            p.end()?;
            let Some(c) = ctx.catalog(&cat) else { return Err(errors::no_such_catalog(&cat)) };
            if c.schema(&sch).is_none() {
                return Err(errors::schema_not_found(&cat, &sch));
            }
            let meta = engine.meta();
            let info = meta.schemas.get(&format!("{cat}.{sch}"));
            let rows = vec![
                ("Catalog Name", Some(cat.clone())),
                ("Namespace Name", Some(sch.clone())),
                ("Comment", info.and_then(|m| m.comment.clone())),
                ("Owner", info.map(|m| m.owner.clone())),
            ];
            return result(vec![
                ("database_description_item", strs(rows.iter().map(|(k, _)| k.to_string()))),
                ("database_description_value", Col::Str(rows.into_iter().map(|(_, v)| v).collect())),
            ])
            .map(Some);
        }
        if p.kw("QUERY") || p.kw("FUNCTION") || p.kw("HISTORY") || p.kw("DETAIL") {
            return Ok(None);
        }
        let _ = p.kw("TABLE");
        let extended = p.kw("EXTENDED") || p.kw("FORMATTED");
        let name = p.name()?;
        p.end()?;
        let (full, provider) = resolve_table(engine, &name, catalog, schema).await?;
        let mut col_name = Vec::new();
        let mut data_type = Vec::new();
        let mut comment: Vec<Option<String>> = Vec::new();
        for f in provider.schema().fields() {
            col_name.push(f.name().clone());
            data_type.push(types::catalog_type_text(f.data_type()));
            comment.push(None);
        }
        if extended {
            let meta = engine.meta();
            let parts: Vec<&str> = full.splitn(3, '.').collect();
            let info = meta.tables.get(&full).or_else(|| meta.views.get(&full).map(|v| &v.meta));
            let kind = if provider.table_type() == TableType::View { "VIEW" } else { "MANAGED" };
            let rows: Vec<(&str, Option<String>)> = vec![
                ("", None),
                ("# Detailed Table Information", None),
                ("Catalog", parts.first().map(|s| s.to_string())),
                ("Database", parts.get(1).map(|s| s.to_string())),
                ("Table", parts.get(2).map(|s| s.to_string())),
                ("Created Time", info.map(|m| format_time(m.created_at))),
                ("Owner", info.map(|m| m.owner.clone())),
                ("Type", Some(kind.into())),
                ("Comment", info.and_then(|m| m.comment.clone())),
                ("Provider", (kind == "MANAGED").then(|| "delta".to_string())),
            ];
            for (k, v) in rows {
                col_name.push(k.to_string());
                data_type.push(v.unwrap_or_default());
                comment.push(None);
            }
        }
        return result(vec![
            ("col_name", strs(col_name)),
            ("data_type", strs(data_type)),
            ("comment", Col::Str(comment)),
        ])
        .map(Some);
    }
    Ok(None)
}

fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%a %b %d %H:%M:%S UTC %Y").to_string())
        .unwrap_or_default()
}

/// The catalog names, sorted.
pub fn catalogs(ctx: &SessionContext) -> Vec<String> {
    let mut names = ctx.catalog_names();
    names.sort();
    names
}

/// A catalog's schemas, sorted, with `information_schema` as Databricks shows it.
pub fn schemas_of(mut names: Vec<String>) -> Vec<String> {
    if !names.iter().any(|n| n == "information_schema") {
        names.push("information_schema".into());
    }
    names.sort();
    names
}

/// `schema` or `catalog.schema` → (catalog, schema).
fn schema_ref(name: &[String], catalog: &str) -> Result<(String, String), SqlError> {
    match name {
        [s] => Ok((catalog.to_string(), s.clone())),
        [c, s] => Ok((c.clone(), s.clone())),
        _ => Err(SqlError::new(
            "INVALID_SCHEMA_OR_RELATION_NAME",
            &format!("`{}` is not a valid schema name.", name.join(".")),
            "42602",
        )),
    }
}

/// Every table and view of a schema (information_schema included), sorted.
pub async fn list_tables(
    ctx: &SessionContext,
    catalog: &str,
    schema: &str,
) -> Result<Vec<(String, TableType)>, SqlError> {
    let Some(c) = ctx.catalog(catalog) else { return Err(errors::no_such_catalog(catalog)) };
    if schema == info_schema::NAME {
        return Ok(info_schema::VIEWS.iter().map(|t| (t.to_string(), TableType::View)).collect());
    }
    let Some(s) = c.schema(schema) else { return Err(errors::schema_not_found(catalog, schema)) };
    let mut names = s.table_names();
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if let Ok(Some(t)) = s.table(&name).await {
            out.push((name, t.table_type()));
        }
    }
    Ok(out)
}

/// Resolve `t`, `s.t` or `c.s.t` against the statement's defaults.
async fn resolve_table(
    engine: &Engine,
    name: &[String],
    catalog: &str,
    schema: &str,
) -> Result<(String, Arc<dyn TableProvider>), SqlError> {
    let reference = match name {
        [t] => TableReference::full(catalog, schema, t.as_str()),
        [s, t] => TableReference::full(catalog, s.as_str(), t.as_str()),
        [c, s, t] => TableReference::full(c.as_str(), s.as_str(), t.as_str()),
        _ => {
            return Err(SqlError::new(
                "INVALID_SCHEMA_OR_RELATION_NAME",
                &format!("`{}` is not a valid table name.", name.join(".")),
                "42602",
            ));
        }
    };
    let resolved = reference.resolve(catalog, schema);
    let full = engine::full_name(&resolved);
    match engine.table(&resolved).await {
        Some(t) => Ok((full, t)),
        None => Err(errors::table_not_found(&name.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join("."))),
    }
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;

    #[test]
    fn databricks_patterns() {
        assert!(pattern_matches("line*", "lineitem"));
        assert!(pattern_matches("nation|region", "REGION"));
        assert!(!pattern_matches("part", "partsupp"));
        assert!(pattern_matches("*supp", "partsupp"));
    }
}
