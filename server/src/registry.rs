//! The tool registry. Every `#[tool]` function submits one [`ToolDef`] here at
//! compile time (through `inventory`), so there is no second list of tools to keep.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::ToolContext;
use crate::output::{ToolError, ToolOutput};

/// Toolsets group tools by the Databricks service they operate. `--toolsets`
/// selects among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Toolset {
    Compute,
    CommandExecution,
    Jobs,
    Workspace,
    Dbfs,
    Sql,
    UnityCatalog,
    Identity,
}

impl Toolset {
    /// Every toolset, in display order.
    pub const ALL: [Toolset; 8] = [
        Toolset::Compute,
        Toolset::CommandExecution,
        Toolset::Jobs,
        Toolset::Workspace,
        Toolset::Dbfs,
        Toolset::Sql,
        Toolset::UnityCatalog,
        Toolset::Identity,
    ];

    /// The toolsets served when none are chosen.
    pub const DEFAULT: [Toolset; 7] = [
        Toolset::Compute,
        Toolset::Jobs,
        Toolset::Workspace,
        Toolset::Dbfs,
        Toolset::Sql,
        Toolset::UnityCatalog,
        Toolset::Identity,
    ];

    /// The id used on the command line and in the tool's metadata.
    pub fn id(self) -> &'static str {
        match self {
            Toolset::Compute => "compute",
            Toolset::CommandExecution => "command_execution",
            Toolset::Jobs => "jobs",
            Toolset::Workspace => "workspace",
            Toolset::Dbfs => "dbfs",
            Toolset::Sql => "sql",
            Toolset::UnityCatalog => "unity_catalog",
            Toolset::Identity => "identity",
        }
    }

    /// Parse an id; the error lists the valid ones.
    pub fn parse(id: &str) -> Result<Toolset, String> {
        let id = id.trim();
        Toolset::ALL.into_iter().find(|t| t.id() == id).ok_or_else(|| {
            let valid: Vec<&str> = Toolset::ALL.iter().map(|t| t.id()).collect();
            format!("unknown toolset {id:?}; valid toolsets: {}", valid.join(", "))
        })
    }
}

impl std::fmt::Display for Toolset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// The future a tool's handler returns.
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<ToolOutput, ToolError>> + Send>>;

/// One tool, as the `#[tool]` attribute describes it.
pub struct ToolDef {
    pub name: &'static str,
    pub title: Option<&'static str>,
    pub description: &'static str,
    pub toolset: Toolset,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// The spec operationIds the tool calls (spec/coverage.txt is built from these).
    pub operations: &'static [&'static str],
    /// The JSON Schema of the arguments, in portable form.
    pub input_schema: fn() -> JsonObject,
    /// Decode the arguments without running the tool: the same decoding `call`
    /// starts with, for validation and for the fuzz targets.
    pub check_args: fn(JsonObject) -> Result<(), ToolError>,
    /// Decode the arguments and run the tool.
    pub call: fn(ToolContext, JsonObject) -> ToolFuture,
}

inventory::collect!(ToolDef);

impl ToolDef {
    /// The MCP tool definition.
    pub fn to_tool(&self) -> Tool {
        let annotations = ToolAnnotations::new()
            .read_only(self.read_only)
            .destructive(self.destructive)
            .idempotent(self.idempotent)
            .open_world(true);
        let mut tool =
            Tool::new(self.name, self.description, Arc::new((self.input_schema)())).with_annotations(annotations);
        if let Some(title) = self.title {
            tool = tool.with_title(title);
        }
        tool
    }
}

/// Every registered tool, sorted by name.
pub fn all() -> Vec<&'static ToolDef> {
    let mut tools: Vec<&'static ToolDef> = inventory::iter::<ToolDef>.into_iter().collect();
    tools.sort_by_key(|t| t.name);
    tools
}

/// Look a tool up by name.
pub fn find(name: &str) -> Option<&'static ToolDef> {
    inventory::iter::<ToolDef>.into_iter().find(|t| t.name == name)
}

/// Decode a tool's arguments. A wrong type or a missing field becomes an
/// invalid-params error naming the field.
pub fn parse_args<T: DeserializeOwned>(args: JsonObject) -> Result<T, ToolError> {
    let value = Value::Object(args);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ToolError::InvalidArguments(format!("invalid arguments: {inner}"))
        } else {
            ToolError::InvalidArguments(format!("invalid argument `{path}`: {inner}"))
        }
    })
}

/// Decode a tool's arguments and drop them: [`ToolDef::check_args`].
pub fn check_args<T: DeserializeOwned>(args: JsonObject) -> Result<(), ToolError> {
    parse_args::<T>(args).map(drop)
}

/// The portable JSON Schema of an argument type: root `type: object`, every
/// subschema inlined (no `$ref`/`$defs`), no `$schema`, no type unions with `null`.
pub fn input_schema<T: schemars::JsonSchema>() -> JsonObject {
    crate::schema::portable::<T>()
}

/// The README's tool table (between `<!-- START AUTOMATED TOOLS -->` and
/// `<!-- END AUTOMATED TOOLS -->`), regenerated by `cargo xtask docs`.
pub fn markdown_table() -> String {
    let mut out = String::from("| tool | toolset | kind | summary |\n|---|---|---|---|\n");
    let mut tools = all();
    tools.sort_by_key(|t| (Toolset::ALL.iter().position(|s| *s == t.toolset), t.name));
    for t in tools {
        let kind = if t.read_only {
            "read-only"
        } else if t.destructive {
            "destructive"
        } else {
            "writes"
        };
        let summary = t.description.split("\n\n").next().unwrap_or_default().replace('\n', " ");
        let first_sentence = match summary.find(". ") {
            Some(i) => &summary[..=i],
            None => summary.as_str(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {kind} | {} |\n",
            t.name,
            t.toolset.id(),
            first_sentence.replace('|', "\\|")
        ));
    }
    out
}
