//! Loading, validating and merging the per-service documents in `spec/`.
//!
//! Every service file is an OpenAPI 3.0.3 document. Components form one namespace
//! shared by all files: each schema is defined in exactly one file and may be
//! referenced from any. Every problem found is reported as `spec/<file>: <JSON
//! pointer>: <what is wrong>`, so a maintainer can go straight to it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One document from `spec/`.
pub struct SpecFile {
    /// File name relative to `spec/`, e.g. `clusters.json`.
    pub name: String,
    /// The service name: the file stem, which is also the operations' tag.
    pub service: String,
    pub sha256: String,
    pub doc: Value,
}

/// All documents, validated, plus their merge.
pub struct SpecSet {
    pub files: Vec<SpecFile>,
    /// sha256 over every file's name and bytes, in file-name order.
    pub sha256: String,
    pub merged: Value,
    /// operationId → (service, method, path, x-mcp-skip reason).
    pub operations: BTreeMap<String, Operation>,
}

pub struct Operation {
    pub service: String,
    pub method: String,
    pub path: String,
    pub skip: Option<String>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Escape one JSON-pointer segment (RFC 6901).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Read, check and merge every `*.json` under `dir`.
pub fn load(dir: &Path) -> anyhow::Result<SpecSet> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("{} holds no *.json OpenAPI documents", dir.display());
    }

    let mut files = Vec::new();
    let mut all = Sha256::new();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).with_context(|| format!("reading spec/{name}"))?;
        all.update(name.as_bytes());
        all.update([0]);
        all.update(&bytes);
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("spec/{name}: line {} column {}: not valid JSON: {e}", e.line(), e.column())
        })?;
        let service = name.trim_end_matches(".json").to_string();
        files.push(SpecFile { sha256: hex(&Sha256::digest(&bytes)), name, service, doc });
    }

    let mut problems = Vec::new();
    for f in &files {
        check_file(f, &mut problems);
    }
    let (merged, operations) = merge(&files, &mut problems);
    if problems.is_empty() {
        check_refs(&files, &merged, &mut problems);
    }
    if !problems.is_empty() {
        let mut msg = format!("spec/ has {} problem(s):\n", problems.len());
        for p in &problems {
            let _ = writeln!(msg, "  {p}");
        }
        bail!(msg.trim_end().to_string());
    }
    Ok(SpecSet { files, sha256: hex(&all.finalize()), merged, operations })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_file(f: &SpecFile, problems: &mut Vec<String>) {
    let file = &f.name;
    let mut problem = |pointer: &str, what: String| problems.push(format!("spec/{file}: {pointer}: {what}"));
    let Some(doc) = f.doc.as_object() else {
        problem("", "the document must be a JSON object".into());
        return;
    };
    match doc.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.0.") => {}
        Some(v) => problem("/openapi", format!("version {v:?} is not supported; progenitor needs 3.0.x")),
        None => problem("/openapi", "missing; expected \"3.0.3\"".into()),
    }
    for key in ["title", "version"] {
        if doc.get("info").and_then(|i| i.get(key)).and_then(Value::as_str).is_none() {
            problem(&format!("/info/{key}"), "missing string".into());
        }
    }
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        problem("/paths", "missing object".into());
        return;
    };
    for (path, item) in paths {
        let base = format!("/paths/{}", escape(path));
        if !path.starts_with("/api/") {
            problem(&base, "paths start with /api/".into());
        }
        let Some(item) = item.as_object() else {
            problem(&base, "a path item must be an object ($ref path items are not supported)".into());
            continue;
        };
        for (method, op) in item {
            let at = format!("{base}/{method}");
            if !METHODS.contains(&method.as_str()) {
                problem(&at, format!("unsupported key {method:?}; expected one of {METHODS:?}"));
                continue;
            }
            check_operation(f, op, &at, &mut problem);
        }
    }
}

fn check_operation(f: &SpecFile, op: &Value, at: &str, problem: &mut impl FnMut(&str, String)) {
    match op.get("operationId").and_then(Value::as_str) {
        None => problem(&format!("{at}/operationId"), "missing".into()),
        Some(id) => {
            let snake = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !snake {
                problem(&format!("{at}/operationId"), format!("{id:?} must be snake_case"));
            }
        }
    }
    let tags: Vec<&str> = op
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if tags != [f.service.as_str()] {
        problem(&format!("{at}/tags"), format!("must be exactly [{:?}], the file's service", f.service));
    }
    let Some(responses) = op.get("responses").and_then(Value::as_object) else {
        problem(&format!("{at}/responses"), "missing object".into());
        return;
    };
    let mut successes = 0;
    for key in responses.keys() {
        match key.as_str() {
            "200" | "204" => successes += 1,
            "4XX" | "5XX" => {}
            "default" => problem(
                &format!("{at}/responses/default"),
                "progenitor counts `default` as a success type; use 4XX and 5XX".into(),
            ),
            other => problem(
                &format!("{at}/responses/{other}"),
                "only 200 or 204, plus 4XX and 5XX, are allowed (one success and one error type)".into(),
            ),
        }
    }
    for (key, response) in responses {
        if response.get("$ref").is_none() && response.get("description").and_then(Value::as_str).is_none() {
            problem(
                &format!("{at}/responses/{key}/description"),
                "missing; OpenAPI requires a description on every response".into(),
            );
        }
    }
    if successes != 1 {
        problem(&format!("{at}/responses"), "needs exactly one of 200 or 204".into());
    }
    for key in ["4XX", "5XX"] {
        if !responses.contains_key(key) {
            problem(&format!("{at}/responses"), format!("missing {key} (point it at #/components/responses/Error)"));
        }
    }
    if let Some(content) = op.pointer("/requestBody/content").and_then(Value::as_object)
        && (content.len() != 1 || !content.contains_key("application/json"))
    {
        problem(&format!("{at}/requestBody/content"), "exactly one media type, application/json, is supported".into());
    }
    if let Some(params) = op.get("parameters").and_then(Value::as_array) {
        for (i, p) in params.iter().enumerate() {
            let place = p.get("in").and_then(Value::as_str).unwrap_or("");
            if !["query", "path"].contains(&place) {
                problem(
                    &format!("{at}/parameters/{i}/in"),
                    format!("{place:?}: only query and path parameters are supported"),
                );
            }
            if p.get("name").and_then(Value::as_str).is_none() {
                problem(&format!("{at}/parameters/{i}/name"), "missing".into());
            }
            if p.get("schema").is_none() {
                problem(&format!("{at}/parameters/{i}/schema"), "missing".into());
            }
        }
    }
}

fn merge(files: &[SpecFile], problems: &mut Vec<String>) -> (Value, BTreeMap<String, Operation>) {
    let mut paths = Map::new();
    let mut owners: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut operations: BTreeMap<String, Operation> = BTreeMap::new();
    let mut sections: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags = Vec::new();

    for f in files {
        tags.push(serde_json::json!({ "name": f.service }));
        for (path, item) in f.doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
            let Some(item) = item.as_object() else { continue };
            let merged_item = paths.entry(path.clone()).or_insert_with(|| Value::Object(Map::new()));
            for (method, op) in item {
                let at = format!("/paths/{}/{method}", escape(path));
                if let Some(other) = owners.get(&(path.clone(), method.clone())) {
                    problems.push(format!("spec/{}: {at}: also defined in spec/{other}", f.name));
                    continue;
                }
                owners.insert((path.clone(), method.clone()), f.name.clone());
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    if let Some(prev) = operations.get(id) {
                        problems.push(format!(
                            "spec/{}: {at}/operationId: {id:?} is already used by {} {} in spec/{}.json",
                            f.name,
                            prev.method.to_uppercase(),
                            prev.path,
                            prev.service
                        ));
                    }
                    operations.insert(
                        id.to_string(),
                        Operation {
                            service: f.service.clone(),
                            method: method.clone(),
                            path: path.clone(),
                            skip: op.get("x-mcp-skip").and_then(Value::as_str).map(str::to_string),
                        },
                    );
                }
                merged_item[method] = op.clone();
            }
        }
        for (section, entries) in f.doc.get("components").and_then(Value::as_object).into_iter().flatten() {
            let Some(entries) = entries.as_object() else {
                problems.push(format!("spec/{}: /components/{section}: must be an object", f.name));
                continue;
            };
            let target = sections.entry(section.clone()).or_default();
            for (name, value) in entries {
                let key = format!("{section}/{name}");
                if let Some(other) = owners.get(&(key.clone(), String::new())) {
                    problems.push(format!(
                        "spec/{}: /components/{section}/{}: already defined in spec/{other}; define it once and reference it",
                        f.name,
                        escape(name)
                    ));
                    continue;
                }
                owners.insert((key, String::new()), f.name.clone());
                target.insert(name.clone(), value.clone());
            }
        }
    }
    let mut components = Map::new();
    for (section, entries) in sections {
        components.insert(section, Value::Object(entries));
    }
    let merged = serde_json::json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Databricks workspace REST API",
            "description": "The Databricks workspace services that databricks-mcp exposes, merged from spec/*.json.",
            "version": "2.0.0",
        },
        "tags": tags,
        "paths": paths,
        "components": components,
    });
    (merged, operations)
}

/// Every `$ref` must point at a component that exists in the merged document.
fn check_refs(files: &[SpecFile], merged: &Value, problems: &mut Vec<String>) {
    fn walk(v: &Value, pointer: &mut String, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape(k));
                    if k == "$ref" {
                        if let Some(target) = child.as_str() {
                            out.push((pointer.clone(), target.to_string()));
                        }
                    } else {
                        walk(child, pointer, out);
                    }
                    pointer.truncate(len);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    let len = pointer.len();
                    let _ = write!(pointer, "/{i}");
                    walk(child, pointer, out);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }
    for f in files {
        let mut refs = Vec::new();
        walk(&f.doc, &mut String::new(), &mut refs);
        for (pointer, target) in refs {
            let resolved = target
                .strip_prefix('#')
                .filter(|p| p.starts_with("/components/schemas/") || p.starts_with("/components/responses/"));
            match resolved {
                None => problems.push(format!(
                    "spec/{}: {pointer}: {target:?} is not a local #/components/schemas or #/components/responses reference",
                    f.name
                )),
                Some(p) if merged.pointer(p).is_none() => problems.push(format!(
                    "spec/{}: {pointer}: {target:?} does not resolve in any spec/ file",
                    f.name
                )),
                Some(_) => {}
            }
        }
    }
}

/// Rewrite the merged document into the shape handed to progenitor:
/// tolerant enums get their known values listed in their description.
pub fn prepare_for_generation(merged: &Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if let Some(values) = m.get("x-enum-values").and_then(Value::as_array) {
                    let list: Vec<String> = values.iter().filter_map(Value::as_str).map(|s| format!("`{s}`")).collect();
                    let known = format!("Known values: {}.", list.join(", "));
                    let description = match m.get("description").and_then(Value::as_str) {
                        Some(d) if !d.is_empty() => format!("{d}\n\n{known}"),
                        _ => known,
                    };
                    m.insert("description".into(), Value::String(description));
                }
                // OpenAPI 3.0 ignores the siblings of a `$ref`, so a field's own
                // description would be lost; `allOf` with the one reference keeps it.
                if m.contains_key("description")
                    && let Some(target) = m.remove("$ref")
                {
                    m.insert("allOf".into(), serde_json::json!([{ "$ref": target }]));
                }
                for child in m.values_mut() {
                    walk(child);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut out = merged.clone();
    walk(&mut out);
    out
}

/// Locate the file that defines the thing at a pointer of the merged document.
pub fn owner_of(set: &SpecSet, pointer: &str) -> Option<String> {
    let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    set.files
        .iter()
        .find(|f| match segments.as_slice() {
            ["paths", path, method, ..] => {
                f.doc.get("paths").and_then(|p| p.get(unescape(path))).and_then(|i| i.get(*method)).is_some()
            }
            ["components", section, name, ..] => {
                f.doc.get("components").and_then(|c| c.get(*section)).and_then(|s| s.get(unescape(name))).is_some()
            }
            _ => false,
        })
        .map(|f| f.name.clone())
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}
