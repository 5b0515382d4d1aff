//! Arrow types as Databricks names them, and Arrow values as the Statement Execution
//! API's JSON_ARRAY format renders them (strings, NULL as null).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Value, json};

/// Databricks' `type_name` (the `ColumnInfoTypeName` enum) for an Arrow type.
pub fn type_name(dt: &DataType) -> &'static str {
    match dt {
        DataType::Null => "NULL",
        DataType::Boolean => "BOOLEAN",
        DataType::Int8 => "BYTE",
        DataType::Int16 | DataType::UInt8 => "SHORT",
        DataType::Int32 | DataType::UInt16 => "INT",
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "LONG",
        DataType::Float16 | DataType::Float32 => "FLOAT",
        DataType::Float64 => "DOUBLE",
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            "DECIMAL"
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "BINARY",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Timestamp(..) => "TIMESTAMP",
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL",
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) | DataType::FixedSizeList(..) => "ARRAY",
        DataType::Struct(_) => "STRUCT",
        DataType::Map(..) => "MAP",
        DataType::Dictionary(_, v) => type_name(v),
        _ => "STRING",
    }
}

/// Databricks' SQL spelling of a type, upper case (`BIGINT`, `DECIMAL(15,2)`,
/// `ARRAY<INT>`), as the Statement Execution API's `type_text` shows it.
pub fn type_text(dt: &DataType) -> String {
    match dt {
        DataType::Null => "VOID".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 | DataType::UInt8 => "SMALLINT".into(),
        DataType::Int32 | DataType::UInt16 => "INT".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "BIGINT".into(),
        DataType::Float16 | DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "BINARY".into()
        }
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(..) => "TIMESTAMP".into(),
        DataType::Interval(IntervalUnit::YearMonth) => "INTERVAL YEAR TO MONTH".into(),
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL DAY TO SECOND".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => {
            format!("ARRAY<{}>", type_text(f.data_type()))
        }
        DataType::Struct(fields) => {
            let inner: Vec<String> =
                fields.iter().map(|f| format!("{}: {}", f.name(), type_text(f.data_type()))).collect();
            format!("STRUCT<{}>", inner.join(", "))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("MAP<{}, {}>", type_text(kv[0].data_type()), type_text(kv[1].data_type()))
            }
            _ => "MAP<STRING, STRING>".into(),
        },
        DataType::Dictionary(_, v) => type_text(v),
        _ => "STRING".into(),
    }
}

/// The lower-case spelling Unity Catalog and DESCRIBE use (`bigint`, `decimal(15,2)`,
/// `array<int>`, `struct<a:int,b:string>`).
pub fn catalog_type_text(dt: &DataType) -> String {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", catalog_type_text(f.data_type()))
        }
        DataType::Struct(fields) => {
            let inner: Vec<String> =
                fields.iter().map(|f| format!("{}:{}", f.name(), catalog_type_text(f.data_type()))).collect();
            format!("struct<{}>", inner.join(","))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", catalog_type_text(kv[0].data_type()), catalog_type_text(kv[1].data_type()))
            }
            _ => "map<string,string>".into(),
        },
        DataType::Dictionary(_, v) => catalog_type_text(v),
        other => type_text(other).to_ascii_lowercase(),
    }
}

/// Precision and scale of a decimal type.
pub fn decimal_parts(dt: &DataType) -> Option<(u8, i8)> {
    match dt {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Some((*p, *s)),
        DataType::Dictionary(_, v) => decimal_parts(v),
        _ => None,
    }
}

/// The Spark JSON form of a type, as Unity Catalog's `type_json` nests it.
fn spark_type_json(dt: &DataType) -> Value {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => json!({
            "type": "array",
            "elementType": spark_type_json(f.data_type()),
            "containsNull": f.is_nullable(),
        }),
        DataType::Struct(fields) => json!({
            "type": "struct",
            "fields": fields.iter().map(|f| spark_field_json(f)).collect::<Vec<_>>(),
        }),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => json!({
                "type": "map",
                "keyType": spark_type_json(kv[0].data_type()),
                "valueType": spark_type_json(kv[1].data_type()),
                "valueContainsNull": kv[1].is_nullable(),
            }),
            _ => json!({"type": "map", "keyType": "string", "valueType": "string", "valueContainsNull": true}),
        },
        DataType::Dictionary(_, v) => spark_type_json(v),
        other => Value::String(spark_simple_name(other)),
    }
}

fn spark_simple_name(dt: &DataType) -> String {
    match type_name(dt) {
        "BYTE" => "byte".into(),
        "SHORT" => "short".into(),
        "INT" => "integer".into(),
        "LONG" => "long".into(),
        "NULL" => "void".into(),
        "DECIMAL" => catalog_type_text(dt),
        "INTERVAL" => catalog_type_text(dt),
        other => other.to_ascii_lowercase(),
    }
}

fn spark_field_json(f: &Field) -> Value {
    json!({"name": f.name(), "type": spark_type_json(f.data_type()), "nullable": f.is_nullable(), "metadata": {}})
}

/// Unity Catalog's `type_json` for a column: the Spark StructField JSON, as a string.
pub fn type_json(f: &Field) -> String {
    spark_field_json(f).to_string()
}

/// How values are rendered: ISO dates and timestamps, nulls left to the caller.
pub fn format_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_date_format(Some("%Y-%m-%d"))
        .with_timestamp_format(Some("%Y-%m-%dT%H:%M:%S%.3fZ"))
        .with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

fn is_nested(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Struct(_)
            | DataType::Map(..)
    )
}

/// Re-label time-zone-aware timestamp columns as UTC (the instants are unchanged), so
/// that they render with a `Z` as Databricks' session time zone (UTC by default)
/// shows them. Render the returned batch.
pub fn utc_batch(batch: &RecordBatch) -> RecordBatch {
    let needs = |dt: &DataType| matches!(dt, DataType::Timestamp(_, Some(tz)) if !matches!(tz.as_ref(), "UTC" | "+00:00" | "Z"));
    if !batch.columns().iter().any(|c| needs(c.data_type())) {
        return batch.clone();
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        match c.data_type() {
            DataType::Timestamp(unit, Some(_)) if needs(c.data_type()) => {
                let utc = DataType::Timestamp(*unit, Some("+00:00".into()));
                match datafusion::arrow::compute::cast(c, &utc) {
                    Ok(cast) => {
                        fields.push(Field::new(f.name(), utc, f.is_nullable()));
                        columns.push(cast);
                    }
                    Err(_) => {
                        fields.push(f.as_ref().clone());
                        columns.push(c.clone());
                    }
                }
            }
            _ => {
                fields.push(f.as_ref().clone());
                columns.push(c.clone());
            }
        }
    }
    RecordBatch::try_new(std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields)), columns)
        .unwrap_or_else(|_| batch.clone())
}

/// Renders the rows of one batch (see [`utc_batch`]) as JSON_ARRAY strings.
pub struct RowRenderer<'a> {
    columns: Vec<ColumnRenderer<'a>>,
}

enum ColumnRenderer<'a> {
    Plain(Option<NullBuffer>, ArrayFormatter<'a>),
    Nested(Option<NullBuffer>, &'a ArrayRef),
}

fn is_null(nulls: &Option<NullBuffer>, row: usize) -> bool {
    nulls.as_ref().is_some_and(|n| n.is_null(row))
}

impl<'a> RowRenderer<'a> {
    pub fn new(batch: &'a RecordBatch, options: &'a FormatOptions<'a>) -> Result<Self, String> {
        let columns = batch
            .columns()
            .iter()
            .map(|c| {
                let nulls = c.logical_nulls();
                if is_nested(c.data_type()) {
                    Ok(ColumnRenderer::Nested(nulls, c))
                } else {
                    ArrayFormatter::try_new(c.as_ref(), options)
                        .map(|f| ColumnRenderer::Plain(nulls, f))
                        .map_err(|e| e.to_string())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { columns })
    }

    /// The values of row `row`; NULL is `None`.
    pub fn row(&self, row: usize) -> Vec<Option<String>> {
        self.columns
            .iter()
            .map(|c| match c {
                ColumnRenderer::Plain(nulls, f) => (!is_null(nulls, row)).then(|| f.value(row).to_string()),
                ColumnRenderer::Nested(nulls, array) => {
                    (!is_null(nulls, row)).then(|| json_value(array.as_ref(), row).to_string())
                }
            })
            .collect()
    }
}

/// A nested value as JSON (arrays, structs and maps render as JSON text in results).
fn json_value(array: &dyn Array, row: usize) -> Value {
    if array.logical_nulls().is_some_and(|n| n.is_null(row)) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::List(_) => {
            let inner = array.as_list::<i32>().value(row);
            Value::Array((0..inner.len()).map(|i| json_value(inner.as_ref(), i)).collect())
        }
        DataType::LargeList(_) => {
            let inner = array.as_list::<i64>().value(row);
            Value::Array((0..inner.len()).map(|i| json_value(inner.as_ref(), i)).collect())
        }
        DataType::FixedSizeList(..) => {
            let inner = array.as_fixed_size_list().value(row);
            Value::Array((0..inner.len()).map(|i| json_value(inner.as_ref(), i)).collect())
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            Value::Object(
                fields.iter().zip(s.columns()).map(|(f, c)| (f.name().clone(), json_value(c.as_ref(), row))).collect(),
            )
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let keys = entries.column(0);
            let values = entries.column(1);
            Value::Object(
                (0..entries.len())
                    .map(|i| {
                        let key = match json_value(keys.as_ref(), i) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, json_value(values.as_ref(), i))
                    })
                    .collect(),
            )
        }
        dt => {
            let options = format_options();
            let text = ArrayFormatter::try_new(array, &options).map(|f| f.value(row).to_string()).unwrap_or_default();
            let numeric = matches!(
                dt,
                DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32
                    | DataType::UInt64
                    | DataType::Float32
                    | DataType::Float64
                    | DataType::Decimal128(..)
                    | DataType::Boolean
            );
            if numeric && let Ok(v) = serde_json::from_str::<Value>(&text) {
                return v;
            }
            Value::String(text)
        }
    }
}

/// Databricks' name for a SQL type written in a parameter's `type` or a CAST:
/// returns the type to cast to in DataFusion's dialect, or `None` when unknown.
pub fn parameter_cast_type(spec: &str) -> Option<String> {
    let t = spec.trim().to_ascii_uppercase();
    let (base, args) = match t.split_once('(') {
        Some((b, rest)) => (b.trim().to_string(), Some(rest.trim_end_matches(')').replace(' ', ""))),
        None => (t.clone(), None),
    };
    let cast = match base.as_str() {
        "STRING" | "VARCHAR" | "CHAR" => "STRING".to_string(),
        "INT" | "INTEGER" => "INT".into(),
        "BIGINT" | "LONG" => "BIGINT".into(),
        "SMALLINT" | "SHORT" => "SMALLINT".into(),
        "TINYINT" | "BYTE" => "TINYINT".into(),
        "DOUBLE" => "DOUBLE".into(),
        "FLOAT" | "REAL" => "FLOAT".into(),
        "BOOLEAN" | "BOOL" => "BOOLEAN".into(),
        "DATE" => "DATE".into(),
        "TIMESTAMP" | "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" => "TIMESTAMP".into(),
        "DECIMAL" | "DEC" | "NUMERIC" => match args {
            Some(a) if a.split(',').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) => {
                format!("DECIMAL({a})")
            }
            Some(_) => return None,
            None => "DECIMAL(10,0)".into(),
        },
        "BINARY" => "BINARY".into(),
        "VOID" => "STRING".into(),
        _ => return None,
    };
    Some(cast)
}

/// DataFusion names unnamed columns after their expression, with literals spelled
/// as `Int64(1)` or `Utf8("a")`; Databricks spells them `1` and `a`. Tidy the former
/// into the latter.
pub fn clean_column_name(name: &str) -> String {
    const PLAIN: [&str; 13] = [
        "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float16", "Float32", "Float64",
        "Boolean", "Null",
    ];
    const QUOTED: [&str; 5] = ["Utf8View", "LargeUtf8", "Utf8", "Date32", "Date64"];
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    'scan: while !rest.is_empty() {
        let boundary = out.chars().last().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if boundary {
            for prefix in QUOTED {
                if let Some(after) = rest.strip_prefix(prefix).and_then(|r| r.strip_prefix("(\""))
                    && let Some(end) = after.find("\")")
                {
                    out.push_str(&after[..end]);
                    rest = &after[end + 2..];
                    continue 'scan;
                }
            }
            for prefix in PLAIN {
                if let Some(after) = rest.strip_prefix(prefix).and_then(|r| r.strip_prefix('('))
                    && let Some(end) = after.find(')')
                    && !after[..end].contains('(')
                {
                    out.push_str(&after[..end]);
                    rest = &after[end + 1..];
                    continue 'scan;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::clean_column_name;

    #[test]
    fn literal_names_are_tidied() {
        assert_eq!(clean_column_name("Int64(1)"), "1");
        assert_eq!(clean_column_name("upper(Utf8(\"x\"))"), "upper(x)");
        assert_eq!(clean_column_name("sandbox_sleep(Int64(10))"), "sandbox_sleep(10)");
        assert_eq!(clean_column_name("MyInt64(1)"), "MyInt64(1)");
        assert_eq!(clean_column_name("count(*)"), "count(*)");
    }
}
