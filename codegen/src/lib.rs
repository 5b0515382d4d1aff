//! The `#[tool]` attribute of `databricks-mcp`: one annotated async function is one
//! MCP tool, and the annotation says everything about it.
#![forbid(unsafe_code)]

mod tool;

use proc_macro::TokenStream;

/// Make an async function an MCP tool and register it.
///
/// ```ignore
/// /// Get one cluster by id, with its state, size and configuration.
/// #[tool(toolset = "compute", read_only, operation = "clusters_get")]
/// async fn get_cluster(ctx: ToolContext, args: GetClusterArgs) -> ToolResult { … }
/// ```
///
/// | field | required | meaning |
/// |---|---|---|
/// | `toolset = "…"` | yes | one of `compute`, `command_execution`, `jobs`, `workspace`, `dbfs`, `sql`, `unity_catalog`, `identity` |
/// | `read_only` or `read_only = bool` | yes | whether the tool only reads; read-only mode serves only these |
/// | `destructive` / `destructive = bool` | no (false) | the tool deletes, terminates, cancels or overwrites |
/// | `idempotent` / `idempotent = bool` | no (= read_only) | calling it twice has the effect of calling it once |
/// | `operation = "…"` / `operations = ["…", …]` | no | the spec operationIds the tool calls |
/// | `name = "…"` | no (fn name) | the tool's name, snake_case `verb_noun` |
/// | `title = "…"` | no | a human-readable title |
///
/// The description is the function's doc comment. The function takes a
/// `ToolContext` and one argument struct that implements `Deserialize` and
/// `JsonSchema`, and returns `ToolResult`.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match tool::expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        // Keep the function, so the only error is the one that says what to fix.
        Err(err) => {
            let mut out = err.to_compile_error();
            out.extend(item);
            out.into()
        }
    }
}
