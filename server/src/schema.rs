//! Tool schemas in the portable form real MCP clients accept: the root is a plain
//! `type: object`, every subschema is inlined (Gemini rejects `$ref`/`$defs`), there
//! is no `$schema`, optional fields have one type rather than `[T, "null"]`,
//! documented enums become `enum` lists rather than `oneOf` of constants, and numbers
//! carry no `format`: schemars writes Rust's widths (`uint32`, `int64`), which JSON
//! Schema does not define and validators that know only the standard formats reject
//! (gemini-cli does); `minimum: 0` already says what matters to a caller.

use rmcp::model::JsonObject;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

/// The portable input schema of `T`.
pub fn portable<T: schemars::JsonSchema>() -> JsonObject {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).unwrap_or_else(|_| Value::Object(Map::new()));
    simplify(&mut value);
    let mut object = match value {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    object.remove("title");
    object.remove("description");
    object.remove("$defs");
    object.insert("type".into(), Value::String("object".into()));
    object.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    object
}

fn simplify(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // `type: ["string", "null"]` → `type: "string"`.
            if let Some(Value::Array(types)) = map.get("type") {
                let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if non_null.len() == 1 {
                    map.insert("type".into(), non_null[0].clone());
                }
            }
            // `anyOf: [X, {type: null}]` → X, keeping this level's description.
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(options)) = map.get(key) {
                    let non_null: Vec<Value> = options
                        .iter()
                        .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                        .cloned()
                        .collect();
                    if non_null.len() == 1 && options.len() == 2 {
                        map.remove(key);
                        if let Value::Object(inner) = &non_null[0] {
                            for (k, v) in inner {
                                map.entry(k.clone()).or_insert_with(|| v.clone());
                            }
                        }
                    }
                }
            }
            // `oneOf` of documented constants → `enum` (with the docs folded into the description).
            if let Some(Value::Array(options)) = map.get("oneOf")
                && !options.is_empty()
                && options.iter().all(|o| o.get("const").is_some())
            {
                let values: Vec<Value> = options.iter().filter_map(|o| o.get("const").cloned()).collect();
                let notes: Vec<String> = options
                    .iter()
                    .filter_map(|o| {
                        let c = o.get("const")?.as_str()?;
                        let d = o.get("description")?.as_str()?;
                        Some(format!("`{c}`: {d}"))
                    })
                    .collect();
                map.remove("oneOf");
                map.insert("type".into(), Value::String("string".into()));
                map.insert("enum".into(), Value::Array(values));
                if !notes.is_empty() {
                    let base = map.get("description").and_then(Value::as_str).unwrap_or_default().to_string();
                    let joined = notes.join("; ");
                    let text = if base.is_empty() { joined } else { format!("{base} ({joined})") };
                    map.insert("description".into(), Value::String(text));
                }
            }
            // `Option<Enum>` lists `null` among its values; the field is optional anyway.
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if matches!(map.get("type").and_then(Value::as_str), Some("integer" | "number"))
                && map.get("format").is_some_and(Value::is_string)
            {
                map.remove("format");
            }
            for child in map.values_mut() {
                simplify(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(simplify),
        _ => {}
    }
}
