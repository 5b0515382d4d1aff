//! Small pieces the tools share: argument conventions and compact rendering.

use std::time::Duration;

use serde_json::Value;

/// Default and ceiling, in seconds, for tools that wait on long-running work.
pub const DEFAULT_WAIT_SECONDS: u64 = 300;
pub const MAX_WAIT_SECONDS: u64 = 3600;

/// The wall-clock deadline of a wait, from an optional `timeout_seconds` argument.
pub fn wait_timeout(seconds: Option<u64>) -> Duration {
    Duration::from_secs(seconds.unwrap_or(DEFAULT_WAIT_SECONDS).clamp(1, MAX_WAIT_SECONDS))
}

/// Render rows as a Markdown table. Cells have `|` escaped and newlines flattened.
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let clean = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", headers.iter().map(|h| clean(h)).collect::<Vec<_>>().join(" | ")));
    out.push_str(&format!("|{}\n", headers.iter().map(|_| "---|").collect::<String>()));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.iter().map(|c| clean(c)).collect::<Vec<_>>().join(" | ")));
    }
    out
}

/// A JSON value as a short cell: strings bare, null empty, others as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Keep only non-null fields of a JSON object (summaries stay small).
pub fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null() && v != &Value::Array(vec![]) && v != &Value::Object(Default::default()))
                .collect(),
        ),
        other => other,
    }
}
