//! Guardrails over the whole tool registry, and snapshots of every tool's
//! definition and of the whole `tools/list`. Refresh the snapshots with
//! `EXPECTORATE=overwrite cargo test -p databricks-mcp --test registry`; a missing
//! or different snapshot fails.

use std::collections::{BTreeMap, BTreeSet};

use databricks_mcp::registry::{self, Toolset};
use serde_json::Value;

/// Names agents and prompts already use; the server must keep every one.
const REQUIRED_TOOLS: &[&str] = &[
    "list_clusters",
    "get_cluster",
    "create_cluster",
    "start_cluster",
    "restart_cluster",
    "resize_cluster",
    "terminate_cluster",
    "list_cluster_events",
    "list_spark_versions",
    "list_node_types",
    "create_execution_context",
    "get_context_status",
    "execute_command",
    "get_command_status",
    "cancel_command",
    "destroy_execution_context",
    "execute_command_simple",
    "list_jobs",
    "get_job",
    "create_job",
    "update_job",
    "delete_job",
    "run_job",
    "submit_single_run",
    "list_runs",
    "get_run",
    "get_run_output",
    "cancel_run",
    "wait_for_run_completion",
    "list_notebooks",
    "get_workspace_object_status",
    "export_notebook",
    "import_notebook",
    "mkdirs",
    "delete_workspace_object",
    "list_files",
    "get_file_status",
    "read_file",
    "put_file",
    "mkdirs_dbfs",
    "delete_file",
    "move_file",
    "execute_sql",
    "get_statement",
    "get_statement_result_chunk",
    "cancel_statement",
    "list_warehouses",
    "get_warehouse",
    "start_warehouse",
    "stop_warehouse",
    "list_catalogs",
    "get_catalog",
    "list_schemas",
    "get_schema",
    "list_tables",
    "get_table",
    "list_volumes",
    "get_current_user",
];

/// Serialise with every object's keys sorted, so snapshots do not depend on map order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value.clone())).expect("serialises");
    text.push('\n');
    text
}

fn walk(value: &Value, path: &str, check: &mut impl FnMut(&str, &serde_json::Map<String, Value>)) {
    match value {
        Value::Object(map) => {
            check(path, map);
            for (k, v) in map {
                walk(v, &format!("{path}/{k}"), check);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}/{i}"), check);
            }
        }
        _ => {}
    }
}

#[test]
fn every_required_tool_exists() {
    let names: BTreeSet<&str> = registry::all().iter().map(|t| t.name).collect();
    let missing: Vec<&&str> = REQUIRED_TOOLS.iter().filter(|n| !names.contains(**n)).collect();
    assert!(missing.is_empty(), "missing tools: {missing:?}");
}

#[test]
fn names_descriptions_and_decisions_are_sound() {
    let mut seen = BTreeSet::new();
    for tool in registry::all() {
        assert!(seen.insert(tool.name), "duplicate tool name {}", tool.name);
        assert!(!tool.name.is_empty() && tool.name.len() <= 64, "{}: name length", tool.name);
        assert!(
            tool.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}: names are snake_case",
            tool.name
        );
        assert!(!tool.description.trim().is_empty(), "{}: no description", tool.name);
        assert!(tool.description.len() <= 1024, "{}: description is {} characters", tool.name, tool.description.len());
        assert!(!(tool.read_only && tool.destructive), "{}: read-only and destructive", tool.name);
        assert!(Toolset::ALL.contains(&tool.toolset));
        if tool.destructive {
            let schema = (tool.input_schema)();
            assert!(schema["properties"].get("confirm").is_some(), "{}: destructive tools take `confirm`", tool.name);
        }
    }
}

#[test]
fn schemas_are_portable() {
    for tool in registry::all() {
        let schema = Value::Object((tool.input_schema)());
        assert_eq!(schema["type"], "object", "{}: root must be type object", tool.name);
        assert!(schema.get("properties").is_some_and(Value::is_object), "{}: root needs properties", tool.name);
        for key in ["anyOf", "oneOf", "allOf"] {
            assert!(schema.get(key).is_none(), "{}: root {key}", tool.name);
        }
        walk(&schema, "", &mut |path, map| {
            for key in ["$ref", "$defs", "definitions", "$schema"] {
                assert!(!map.contains_key(key), "{}: {key} at {path:?}", tool.name);
            }
            if let Some(Value::Array(types)) = map.get("type") {
                panic!("{}: type union {types:?} at {path:?}", tool.name);
            }
            // A property may be named `format`; the keyword is a string.
            if let Some(Value::String(format)) = map.get("format") {
                panic!(
                    "{}: format {format:?} at {path:?}: strict validators reject formats they do not know",
                    tool.name
                );
            }
        });
        for (name, property) in schema["properties"].as_object().expect("properties") {
            let described = property.get("description").and_then(Value::as_str).is_some_and(|d| !d.trim().is_empty());
            assert!(described, "{}: argument `{name}` has no description", tool.name);
        }
    }
}

#[test]
fn operations_exist_in_the_spec() {
    let coverage =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/coverage.txt")).expect("coverage");
    let known: BTreeSet<&str> = coverage
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for tool in registry::all() {
        for op in tool.operations {
            assert!(known.contains(op), "{}: operation {op} is not in spec/", tool.name);
        }
    }
}

#[test]
fn snapshots_of_every_tool_and_the_whole_list() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots");
    let mut all = Vec::new();
    for tool in registry::all() {
        let def = serde_json::to_value(tool.to_tool()).expect("tool serialises");
        expectorate::assert_contents(format!("{dir}/tools/{}.json", tool.name), &pretty(&def));
        all.push(serde_json::json!({"toolset": tool.toolset.id(), "tool": def}));
    }
    expectorate::assert_contents(format!("{dir}/tools_list.json"), &pretty(&Value::Array(all)));
    // No stale snapshot of a tool that no longer exists.
    let names: BTreeSet<String> = registry::all().iter().map(|t| format!("{}.json", t.name)).collect();
    for entry in std::fs::read_dir(format!("{dir}/tools")).expect("snapshot dir") {
        let file = entry.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(names.contains(&file), "stale snapshot tests/snapshots/tools/{file}");
    }
}

#[test]
fn the_readme_tool_table_is_current() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let start = "<!-- START AUTOMATED TOOLS -->\n";
    let end = "<!-- END AUTOMATED TOOLS -->";
    let (Some(a), Some(b)) = (readme.find(start), readme.find(end)) else {
        panic!("README.md lacks the automated tools markers");
    };
    assert_eq!(
        &readme[a + start.len()..b],
        registry::markdown_table(),
        "README's tool table is stale: run `cargo xtask docs`"
    );
}
