//! `information_schema`, the Databricks way: every catalog has one describing its own
//! objects, and `system.information_schema` describes all catalogs. The views are
//! built from the live catalog each time they are read, with Databricks' column
//! names and type names (`full_data_type` `decimal(15,2)`, `data_type` `DECIMAL`).
//!
//! Views: `catalogs`, `schemata`, `tables`, `columns`, `views`, `volumes`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::DataFusionError;

use super::engine::{Meta, ObjectMeta, SYSTEM_OWNER};
use super::{tpch, types};

/// The schema's name.
pub const NAME: &str = "information_schema";
/// Its views.
pub const VIEWS: [&str; 6] = ["catalogs", "columns", "schemata", "tables", "views", "volumes"];

/// The `information_schema` of one catalog (or of all, for `system`).
pub struct InfoSchema {
    catalogs: Weak<dyn CatalogProviderList>,
    meta: Arc<Mutex<Meta>>,
    /// The catalog described; `None` describes every catalog.
    scope: Option<String>,
}

impl fmt::Debug for InfoSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfoSchema").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl InfoSchema {
    pub fn new(catalogs: &Arc<dyn CatalogProviderList>, meta: Arc<Mutex<Meta>>, scope: Option<String>) -> Self {
        Self { catalogs: Arc::downgrade(catalogs), meta, scope }
    }
}

enum Col {
    Str(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Time(Vec<Option<i64>>),
}

/// A view being built: column names and values.
struct Builder {
    columns: Vec<(&'static str, Col)>,
}

impl Builder {
    fn new(spec: &[(&'static str, char)]) -> Self {
        let columns = spec
            .iter()
            .map(|(name, kind)| {
                let col = match kind {
                    'i' => Col::Int(Vec::new()),
                    't' => Col::Time(Vec::new()),
                    _ => Col::Str(Vec::new()),
                };
                (*name, col)
            })
            .collect();
        Self { columns }
    }

    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|(name, col)| {
                    let dt = match col {
                        Col::Str(_) => DataType::Utf8,
                        Col::Int(_) => DataType::Int64,
                        Col::Time(_) => DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
                    };
                    Field::new(*name, dt, true)
                })
                .collect::<Vec<_>>(),
        ))
    }

    /// Add a row; values in column order.
    fn row(&mut self, values: Vec<Value>) {
        for ((_, col), v) in self.columns.iter_mut().zip(values) {
            match (col, v) {
                (Col::Str(c), Value::S(s)) => c.push(s),
                (Col::Int(c), Value::I(i)) => c.push(i),
                (Col::Time(c), Value::I(i)) => c.push(i),
                (Col::Str(c), _) => c.push(None),
                (Col::Int(c) | Col::Time(c), _) => c.push(None),
            }
        }
    }

    fn build(self) -> Result<Arc<dyn TableProvider>, DataFusionError> {
        let schema = self.schema();
        let arrays: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(|(_, col)| -> ArrayRef {
                match col {
                    Col::Str(v) => Arc::new(StringArray::from(v)),
                    Col::Int(v) => Arc::new(Int64Array::from(v)),
                    Col::Time(v) => Arc::new(TimestampMillisecondArray::from(v).with_timezone("+00:00")),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

enum Value {
    S(Option<String>),
    I(Option<i64>),
}

fn s(v: impl Into<String>) -> Value {
    Value::S(Some(v.into()))
}

fn opt(v: Option<impl Into<String>>) -> Value {
    Value::S(v.map(Into::into))
}

fn i(v: Option<i64>) -> Value {
    Value::I(v)
}

const CATALOGS: [(&str, char); 7] = [
    ("catalog_name", 's'),
    ("catalog_owner", 's'),
    ("comment", 's'),
    ("created", 't'),
    ("created_by", 's'),
    ("last_altered", 't'),
    ("last_altered_by", 's'),
];
const SCHEMATA: [(&str, char); 8] = [
    ("catalog_name", 's'),
    ("schema_name", 's'),
    ("schema_owner", 's'),
    ("comment", 's'),
    ("created", 't'),
    ("created_by", 's'),
    ("last_altered", 't'),
    ("last_altered_by", 's'),
];
const TABLES: [(&str, char); 13] = [
    ("table_catalog", 's'),
    ("table_schema", 's'),
    ("table_name", 's'),
    ("table_type", 's'),
    ("is_insertable_into", 's'),
    ("commit_action", 's'),
    ("table_owner", 's'),
    ("comment", 's'),
    ("created", 't'),
    ("created_by", 's'),
    ("last_altered", 't'),
    ("last_altered_by", 's'),
    ("data_source_format", 's'),
];
const COLUMNS: [(&str, char); 14] = [
    ("table_catalog", 's'),
    ("table_schema", 's'),
    ("table_name", 's'),
    ("column_name", 's'),
    ("ordinal_position", 'i'),
    ("column_default", 's'),
    ("is_nullable", 's'),
    ("full_data_type", 's'),
    ("data_type", 's'),
    ("character_maximum_length", 'i'),
    ("numeric_precision", 'i'),
    ("numeric_precision_radix", 'i'),
    ("numeric_scale", 'i'),
    ("comment", 's'),
];
const VIEW_COLUMNS: [(&str, char); 8] = [
    ("table_catalog", 's'),
    ("table_schema", 's'),
    ("table_name", 's'),
    ("view_definition", 's'),
    ("check_option", 's'),
    ("is_updatable", 's'),
    ("is_insertable_into", 's'),
    ("sql_path", 's'),
];
const VOLUMES: [(&str, char); 11] = [
    ("volume_catalog", 's'),
    ("volume_schema", 's'),
    ("volume_name", 's'),
    ("volume_type", 's'),
    ("volume_owner", 's'),
    ("comment", 's'),
    ("storage_location", 's'),
    ("created", 't'),
    ("created_by", 's'),
    ("last_altered", 't'),
    ("last_altered_by", 's'),
];

fn spec(view: &str) -> Option<&'static [(&'static str, char)]> {
    Some(match view {
        "catalogs" => &CATALOGS,
        "schemata" => &SCHEMATA,
        "tables" => &TABLES,
        "columns" => &COLUMNS,
        "views" => &VIEW_COLUMNS,
        "volumes" => &VOLUMES,
        _ => return None,
    })
}

/// The Arrow schema of an information_schema view.
pub fn view_schema(view: &str) -> Option<SchemaRef> {
    spec(view).map(|s| Builder::new(s).schema())
}

/// Who and when, from the metadata (system objects when unknown).
fn audit(m: Option<&ObjectMeta>) -> [Value; 5] {
    let owner = m.map_or(SYSTEM_OWNER.to_string(), |m| m.owner.clone());
    [
        opt(m.and_then(|m| m.comment.clone())),
        i(m.map(|m| m.created_at)),
        s(owner.clone()),
        i(m.map(|m| m.updated_at)),
        s(owner),
    ]
}

/// One table or view, with its Arrow schema.
struct Object {
    catalog: String,
    schema: String,
    name: String,
    view: bool,
    arrow: SchemaRef,
}

impl InfoSchema {
    fn catalog_names(&self) -> Vec<String> {
        let Some(list) = self.catalogs.upgrade() else { return Vec::new() };
        let mut names: Vec<String> = match &self.scope {
            Some(c) => list.catalog(c).map(|_| vec![c.clone()]).unwrap_or_default(),
            None => list.catalog_names(),
        };
        names.sort();
        names
    }

    /// Every (catalog, schema) described, sorted.
    fn schemas(&self) -> Vec<(String, String)> {
        let Some(list) = self.catalogs.upgrade() else { return Vec::new() };
        let mut out = Vec::new();
        for c in self.catalog_names() {
            if let Some(cat) = list.catalog(&c) {
                let mut names = cat.schema_names();
                if !names.iter().any(|n| n == NAME) {
                    names.push(NAME.into());
                }
                names.sort();
                out.extend(names.into_iter().map(|s| (c.clone(), s)));
            }
        }
        out
    }

    async fn objects(&self) -> Vec<Object> {
        let Some(list) = self.catalogs.upgrade() else { return Vec::new() };
        let mut out = Vec::new();
        for (c, s) in self.schemas() {
            if s == NAME {
                for v in VIEWS {
                    if let Some(arrow) = view_schema(v) {
                        out.push(Object { catalog: c.clone(), schema: s.clone(), name: v.into(), view: true, arrow });
                    }
                }
                continue;
            }
            let Some(schema) = list.catalog(&c).and_then(|cat| cat.schema(&s)) else { continue };
            let mut names = schema.table_names();
            names.sort();
            for name in names {
                if let Ok(Some(t)) = schema.table(&name).await {
                    out.push(Object {
                        catalog: c.clone(),
                        schema: s.clone(),
                        name,
                        view: t.table_type() == TableType::View,
                        arrow: t.schema(),
                    });
                }
            }
        }
        out
    }

    async fn build(&self, view: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let Some(spec) = spec(view) else { return Ok(None) };
        let meta = self.meta.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut b = Builder::new(spec);
        match view {
            "catalogs" => {
                for c in self.catalog_names() {
                    let [comment, created, created_by, altered, altered_by] = audit(meta.catalogs.get(&c));
                    let owner = meta.catalogs.get(&c).map_or(SYSTEM_OWNER.to_string(), |m| m.owner.clone());
                    b.row(vec![s(c), s(owner), comment, created, created_by, altered, altered_by]);
                }
            }
            "schemata" => {
                for (c, sc) in self.schemas() {
                    let m = meta.schemas.get(&format!("{c}.{sc}"));
                    let [comment, created, created_by, altered, altered_by] = audit(m);
                    let owner = m.map_or(SYSTEM_OWNER.to_string(), |m| m.owner.clone());
                    b.row(vec![s(c), s(sc), s(owner), comment, created, created_by, altered, altered_by]);
                }
            }
            "tables" => {
                for o in self.objects().await {
                    let full = format!("{}.{}.{}", o.catalog, o.schema, o.name);
                    let m = meta.tables.get(&full).or_else(|| meta.views.get(&full).map(|v| &v.meta));
                    let [comment, created, created_by, altered, altered_by] = audit(m);
                    let owner = m.map_or(SYSTEM_OWNER.to_string(), |m| m.owner.clone());
                    let writable = !o.view && o.catalog != tpch::CATALOG && o.schema != NAME;
                    b.row(vec![
                        s(o.catalog),
                        s(o.schema),
                        s(o.name),
                        s(if o.view { "VIEW" } else { "MANAGED" }),
                        s(if writable { "YES" } else { "NO" }),
                        s("PRESERVE"),
                        s(owner),
                        comment,
                        created,
                        created_by,
                        altered,
                        altered_by,
                        opt((!o.view).then_some("DELTA")),
                    ]);
                }
            }
            "columns" => {
                for o in self.objects().await {
                    for (pos, f) in o.arrow.fields().iter().enumerate() {
                        let dt = f.data_type();
                        let (precision, scale) = match types::decimal_parts(dt) {
                            Some((p, s)) => (Some(i64::from(p)), Some(i64::from(s))),
                            None => match dt {
                                DataType::Int8 => (Some(3), Some(0)),
                                DataType::Int16 => (Some(5), Some(0)),
                                DataType::Int32 => (Some(10), Some(0)),
                                DataType::Int64 => (Some(19), Some(0)),
                                DataType::Float32 => (Some(24), None),
                                DataType::Float64 => (Some(53), None),
                                _ => (None, None),
                            },
                        };
                        let radix =
                            precision.map(|_| if matches!(dt, DataType::Float32 | DataType::Float64) { 2 } else { 10 });
                        b.row(vec![
                            s(o.catalog.clone()),
                            s(o.schema.clone()),
                            s(o.name.clone()),
                            s(f.name().clone()),
                            i(i64::try_from(pos).ok()),
                            Value::S(None),
                            s(if f.is_nullable() { "YES" } else { "NO" }),
                            s(types::catalog_type_text(dt)),
                            s(types::type_name(dt)),
                            i(None),
                            i(precision),
                            i(radix),
                            i(scale),
                            Value::S(None),
                        ]);
                    }
                }
            }
            "views" => {
                let mut views: BTreeMap<String, String> = BTreeMap::new();
                for (full, v) in &meta.views {
                    let in_scope = self.scope.as_ref().is_none_or(|c| full.starts_with(&format!("{c}.")));
                    if in_scope {
                        views.insert(full.clone(), super::catalog::view_query(&v.sql));
                    }
                }
                for (full, definition) in views {
                    let parts: Vec<&str> = full.splitn(3, '.').collect();
                    if let [c, sc, t] = parts.as_slice() {
                        b.row(vec![s(*c), s(*sc), s(*t), s(definition), s("NONE"), s("NO"), s("NO"), Value::S(None)]);
                    }
                }
            }
            _ => {
                let mut volumes: Vec<_> =
                    meta.volumes.iter().filter(|v| self.scope.as_ref().is_none_or(|c| *c == v.catalog)).collect();
                volumes.sort_by_key(|v| v.full_name());
                for v in volumes {
                    let [comment, created, created_by, altered, altered_by] = audit(Some(&v.meta));
                    b.row(vec![
                        s(v.catalog.clone()),
                        s(v.schema.clone()),
                        s(v.name.clone()),
                        s("MANAGED"),
                        s(v.meta.owner.clone()),
                        comment,
                        Value::S(None),
                        created,
                        created_by,
                        altered,
                        altered_by,
                    ]);
                }
            }
        }
        b.build().map(Some)
    }
}

type TableFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Arc<dyn TableProvider>>, DataFusionError>> + Send + 'a>>;

impl SchemaProvider for InfoSchema {
    fn owner_name(&self) -> Option<&str> {
        Some(SYSTEM_OWNER)
    }

    fn table_names(&self) -> Vec<String> {
        VIEWS.iter().map(|v| v.to_string()).collect()
    }

    fn table<'life0, 'life1, 'async_trait>(&'life0 self, name: &'life1 str) -> TableFuture<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.build(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        VIEWS.contains(&name)
    }
}
