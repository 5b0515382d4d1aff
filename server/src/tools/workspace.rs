//! Tools of the `workspace` toolset: browse, read and write notebooks, files and
//! folders in the workspace tree.

use std::collections::VecDeque;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use databricks_client::types;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::tools::util;
use crate::{ToolContext, ToolError, ToolOutput, ToolResult, tool};

/// Entries `list_notebooks` returns when no `max_entries` is given, and its ceiling.
const DEFAULT_LIST_ENTRIES: usize = 500;
const MAX_LIST_ENTRIES: usize = 5000;
/// Folder listings one recursive `list_notebooks` call may make.
const MAX_FOLDER_LISTINGS: usize = 200;
/// Characters `export_notebook` returns when no `length` is given, and its ceiling.
const DEFAULT_EXPORT_CHARS: usize = 30_000;
const MAX_EXPORT_CHARS: usize = 200_000;
/// The most content the workspace import API accepts: 10 MB.
const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;

/// Check a workspace path argument: absolute, not a DBFS path, no `..` segments.
pub(crate) fn workspace_path(field: &str, raw: &str) -> Result<String, ToolError> {
    let path = raw.trim();
    if path.is_empty() {
        return Err(ToolError::InvalidArguments(format!("invalid argument `{field}`: the path is empty")));
    }
    if path.starts_with("dbfs:") {
        return Err(ToolError::InvalidArguments(format!(
            "invalid argument `{field}`: {path:?} is a DBFS path; workspace paths look like /Users/<user>/<name>, and DBFS is reached with the dbfs tools (list_files, read_file)"
        )));
    }
    if !path.starts_with('/') {
        return Err(ToolError::InvalidArguments(format!(
            "invalid argument `{field}`: {path:?} is not absolute; workspace paths start with `/`, for example /Users/<user>/{path} or /Shared/{path}"
        )));
    }
    if path.split('/').any(|segment| segment == "..") {
        return Err(ToolError::InvalidArguments(format!(
            "invalid argument `{field}`: {path:?} contains `..`; give the folder's full absolute path"
        )));
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/".to_string() } else { trimmed.to_string() })
}

fn is_directory(info: &types::ObjectInfo) -> bool {
    matches!(info.object_type.as_deref().map(String::as_str), Some("DIRECTORY" | "REPO"))
}

/// The short description of an object an agent needs to pick it.
fn object_summary(info: &types::ObjectInfo) -> Value {
    util::compact(json!({
        "path": info.path,
        "object_type": info.object_type.as_deref(),
        "language": info.language.as_deref(),
        "modified_at": info.modified_at,
        "size": info.size,
        "object_id": info.object_id,
    }))
}

/// Arguments of `list_notebooks`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListNotebooksArgs {
    /// Absolute workspace path of the folder to list, such as `/Users/someone@example.com` or `/Shared`.
    pub path: String,
    /// Also list the contents of sub-folders, breadth first. Defaults to false (one level only).
    #[serde(default)]
    pub recursive: Option<bool>,
    /// The most entries to return (default 500, at most 5000). When a listing stops at this bound the
    /// output says so and names the folders that were not listed.
    #[serde(default)]
    pub max_entries: Option<u32>,
}

/// List the notebooks, files and folders in a workspace folder. Each entry has its
/// path, object_type (NOTEBOOK, DIRECTORY, FILE, REPO, LIBRARY, DASHBOARD), language
/// (notebooks), modified_at (ms since the epoch) and size (files). With recursive=true
/// sub-folders are listed too, breadth first, up to max_entries entries (default 500,
/// at most 5000) and 200 folder listings; when a bound is hit the output lists the
/// folders not yet expanded so you can list them next. Read a notebook with
/// export_notebook and inspect one object with get_workspace_object_status.
#[tool(toolset = "workspace", read_only, operation = "workspace_list")]
pub async fn list_notebooks(ctx: ToolContext, args: ListNotebooksArgs) -> ToolResult {
    let root = workspace_path("path", &args.path)?;
    let recursive = args.recursive.unwrap_or(false);
    let max_entries = match args.max_entries {
        None => DEFAULT_LIST_ENTRIES,
        Some(0) => {
            return Err(ToolError::InvalidArguments("invalid argument `max_entries`: must be at least 1".into()));
        }
        Some(n) => usize::try_from(n).unwrap_or(MAX_LIST_ENTRIES).min(MAX_LIST_ENTRIES),
    };

    let mut entries: Vec<Value> = Vec::new();
    let mut pending: VecDeque<String> = VecDeque::from([root.clone()]);
    let mut listings = 0usize;
    // A folder whose own entries did not all fit.
    let mut cut_folder: Option<String> = None;
    while let Some(folder) = pending.pop_front() {
        if entries.len() >= max_entries || listings >= MAX_FOLDER_LISTINGS {
            pending.push_front(folder);
            break;
        }
        let listing = ctx.client.workspace_list().path(folder.as_str()).send().await?.into_inner();
        listings += 1;
        let mut items = listing.objects;
        items.sort_by(|a, b| a.path.cmp(&b.path));
        let total = items.len();
        for (i, item) in items.into_iter().enumerate() {
            if entries.len() >= max_entries {
                cut_folder = Some(format!("{folder} ({} of its {total} entries not shown)", total - i));
                break;
            }
            if recursive
                && is_directory(&item)
                && let Some(p) = &item.path
                && *p != folder
            {
                pending.push_back(p.clone());
            }
            entries.push(object_summary(&item));
        }
        if cut_folder.is_some() || !recursive {
            break;
        }
    }
    let unlisted: Vec<String> = if recursive { pending.into_iter().collect() } else { Vec::new() };
    let truncated = cut_folder.is_some() || !unlisted.is_empty();

    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            ["path", "object_type", "language", "modified_at", "size"]
                .iter()
                .map(|k| util::cell(e.get(*k).unwrap_or(&Value::Null)))
                .collect()
        })
        .collect();
    let mut text = if entries.is_empty() {
        format!("{root} is empty.\n")
    } else {
        format!(
            "{} entr{} under {root}:\n\n{}",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" },
            util::markdown_table(&["path", "object_type", "language", "modified_at", "size"], &rows)
        )
    };
    if let Some(cut) = &cut_folder {
        text.push_str(&format!(
            "\nStopped at max_entries {max_entries}: {cut}. The workspace API does not page a folder; to see the \
             rest, list that folder alone or call again with a larger max_entries (at most {MAX_LIST_ENTRIES}).\n"
        ));
    }
    if !unlisted.is_empty() {
        text.push_str(&format!(
            "\nThe recursive listing stopped at a bound (max_entries {max_entries} or {MAX_FOLDER_LISTINGS} folder \
             listings). Sub-folders not listed yet: {}. Call list_notebooks on them to continue.\n",
            unlisted.join(", ")
        ));
    }
    let structured = json!({
        "path": root,
        "recursive": recursive,
        "count": entries.len(),
        "entries": entries,
        "truncated": truncated,
        "cut_folder": cut_folder,
        "unlisted_folders": unlisted,
    });
    Ok(ToolOutput::with_structured(text, structured))
}

/// Arguments of `get_workspace_object_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetWorkspaceObjectStatusArgs {
    /// Absolute workspace path of the notebook, file or folder.
    pub path: String,
}

/// Get the metadata of one workspace object by path: object_type, object_id,
/// resource_id, language (notebooks), size (files) and created/modified times (ms
/// since the epoch). Fails with RESOURCE_DOES_NOT_EXIST when nothing is there, so it
/// doubles as an existence check. It returns no content: use export_notebook for that,
/// and list_notebooks to see what a folder holds.
#[tool(toolset = "workspace", read_only, operation = "workspace_get_status")]
pub async fn get_workspace_object_status(ctx: ToolContext, args: GetWorkspaceObjectStatusArgs) -> ToolResult {
    let path = workspace_path("path", &args.path)?;
    let info = ctx.client.workspace_get_status().path(path).send().await?.into_inner();
    Ok(ToolOutput::json(info))
}

/// The formats `export_notebook` can return as text.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ExportFormat {
    #[default]
    #[serde(alias = "source")]
    Source,
    #[serde(alias = "jupyter")]
    Jupyter,
    #[serde(alias = "html")]
    Html,
}

impl ExportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Source => "SOURCE",
            ExportFormat::Jupyter => "JUPYTER",
            ExportFormat::Html => "HTML",
        }
    }
}

/// Arguments of `export_notebook`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportNotebookArgs {
    /// Absolute workspace path of the notebook (or workspace file) to export.
    pub path: String,
    /// Export format: SOURCE (plain source code, the default), JUPYTER (.ipynb JSON) or HTML.
    #[serde(default)]
    pub format: Option<ExportFormat>,
    /// Character offset in the exported text to start from (default 0). Use next_offset from a
    /// previous call to read on.
    #[serde(default)]
    pub offset: Option<u64>,
    /// The most characters to return (default 30000, at most 200000).
    #[serde(default)]
    pub length: Option<u64>,
}

/// Export a notebook as text: SOURCE (source code with cell separators, the default),
/// JUPYTER (.ipynb JSON) or HTML. Returns the text for characters
/// [offset, offset+length) with total_chars, file_type and, when more remains,
/// next_offset; call again with offset=next_offset to read the rest. length defaults
/// to 30000 and is at most 200000 characters. Workspace files export as SOURCE too.
/// Folders and binary content cannot be exported as text. To change a notebook, edit
/// the source and write it back with import_notebook (overwrite=true).
#[tool(toolset = "workspace", read_only, operation = "workspace_export")]
pub async fn export_notebook(ctx: ToolContext, args: ExportNotebookArgs) -> ToolResult {
    let path = workspace_path("path", &args.path)?;
    let format = args.format.unwrap_or_default();
    let offset = usize::try_from(args.offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let length = match args.length {
        None => DEFAULT_EXPORT_CHARS,
        Some(0) => return Err(ToolError::InvalidArguments("invalid argument `length`: must be at least 1".into())),
        Some(n) => usize::try_from(n).unwrap_or(MAX_EXPORT_CHARS).min(MAX_EXPORT_CHARS),
    };

    let export = ctx
        .client
        .workspace_export()
        .path(path.as_str())
        .format(types::ExportFormat(format.as_str().to_string()))
        .send()
        .await?
        .into_inner();
    let encoded = export.content.unwrap_or_default();
    let bytes = BASE64.decode(encoded.as_bytes()).map_err(|e| {
        ToolError::failed(format!("Databricks returned export content for {path} that is not valid base64: {e}"))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        ToolError::failed(format!(
            "{path} exported as {} is binary, not text, so it cannot be shown. Notebooks export as text; for a binary workspace file, inspect it with get_workspace_object_status.",
            format.as_str()
        ))
    })?;

    let total_chars = text.chars().count();
    let start = offset.min(total_chars);
    let chunk: String = text.chars().skip(start).take(length).collect();
    let end = start + chunk.chars().count();
    let next_offset = (end < total_chars).then_some(end);

    let mut header = if offset > total_chars {
        format!(
            "{path} ({}) has only {total_chars} characters; offset {offset} is past the end. Call again with a smaller offset.",
            format.as_str()
        )
    } else if start == 0 && next_offset.is_none() {
        format!("{path} exported as {} ({total_chars} characters):", format.as_str())
    } else {
        format!("{path} exported as {}: characters {start}..{end} of {total_chars}.", format.as_str())
    };
    if let Some(next) = next_offset {
        header.push_str(&format!(
            " More remains: call export_notebook again with offset={next} (and the same format) to read on."
        ));
    }
    let structured = json!({
        "path": path,
        "format": format.as_str(),
        "file_type": export.file_type,
        "offset": start,
        "returned_chars": end - start,
        "total_chars": total_chars,
        "next_offset": next_offset,
        "complete": next_offset.is_none(),
        "content": chunk,
    });
    let body = structured["content"].as_str().unwrap_or_default();
    Ok(ToolOutput::with_structured(format!("{header}\n\n{body}"), structured))
}

/// Notebook languages.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum NotebookLanguage {
    #[serde(alias = "python")]
    Python,
    #[serde(alias = "scala")]
    Scala,
    #[serde(alias = "sql")]
    Sql,
    #[serde(alias = "r")]
    R,
}

impl NotebookLanguage {
    fn as_str(self) -> &'static str {
        match self {
            NotebookLanguage::Python => "PYTHON",
            NotebookLanguage::Scala => "SCALA",
            NotebookLanguage::Sql => "SQL",
            NotebookLanguage::R => "R",
        }
    }
}

/// How the imported text is read.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportFormat {
    #[default]
    #[serde(alias = "source")]
    Source,
    #[serde(alias = "jupyter")]
    Jupyter,
    #[serde(alias = "html")]
    Html,
    #[serde(alias = "auto")]
    Auto,
    #[serde(alias = "raw")]
    Raw,
}

impl ImportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Source => "SOURCE",
            ImportFormat::Jupyter => "JUPYTER",
            ImportFormat::Html => "HTML",
            ImportFormat::Auto => "AUTO",
            ImportFormat::Raw => "RAW",
        }
    }
}

/// Arguments of `import_notebook`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportNotebookArgs {
    /// Absolute workspace path to create, such as `/Users/someone@example.com/etl`. With format SOURCE
    /// the notebook gets exactly this name, so leave off any `.py`/`.sql` extension. The parent folder
    /// must exist (create it with mkdirs).
    pub path: String,
    /// The content as plain text (not base64): notebook source code for SOURCE, .ipynb JSON for
    /// JUPYTER, exported HTML for HTML, any text for RAW. At most 10 MB.
    pub content: String,
    /// Notebook language: PYTHON, SCALA, SQL or R. Required when format is SOURCE.
    #[serde(default)]
    pub language: Option<NotebookLanguage>,
    /// How to read the content: SOURCE (default; source code, needs language), JUPYTER, HTML, AUTO (decide
    /// from the path's extension and content) or RAW (store as a plain workspace file).
    #[serde(default)]
    pub format: Option<ImportFormat>,
    /// Replace an existing notebook or file at the path. Defaults to false, in which case an existing
    /// object makes the call fail with RESOURCE_ALREADY_EXISTS.
    #[serde(default)]
    pub overwrite: Option<bool>,
    /// Set to true to confirm replacing an existing object when overwrite is true.
    #[serde(default)]
    pub confirm: bool,
}

/// Create a notebook or workspace file from plain text (the tool does the base64
/// encoding). format SOURCE (default) needs language (PYTHON, SCALA, SQL, R) and keeps
/// the path's exact name; JUPYTER takes .ipynb JSON, HTML an exported notebook, AUTO
/// decides from the extension and content, RAW stores a plain file. The parent folder
/// must exist (create it with mkdirs); content is at most 10 MB. overwrite=true replaces
/// an existing notebook or file, losing its current content, so it then needs confirm=true.
/// Returns the created object's status; read it back with export_notebook.
#[tool(
    toolset = "workspace",
    read_only = false,
    destructive,
    operations = ["workspace_get_status", "workspace_import"]
)]
pub async fn import_notebook(ctx: ToolContext, args: ImportNotebookArgs) -> ToolResult {
    let path = workspace_path("path", &args.path)?;
    if path == "/" {
        return Err(ToolError::InvalidArguments(
            "invalid argument `path`: give the path of the notebook to create, not the workspace root".into(),
        ));
    }
    let format = args.format.unwrap_or_default();
    if matches!(format, ImportFormat::Source) && args.language.is_none() {
        return Err(ToolError::InvalidArguments(
            "invalid argument `language`: required when format is SOURCE; one of PYTHON, SCALA, SQL, R".into(),
        ));
    }
    if args.content.len() > MAX_IMPORT_BYTES {
        return Err(ToolError::InvalidArguments(format!(
            "invalid argument `content`: {} bytes is over the workspace's import limit of {MAX_IMPORT_BYTES} bytes (10 MB)",
            args.content.len()
        )));
    }
    let overwrite = args.overwrite.unwrap_or(false);

    let mut replaced = None;
    if overwrite {
        match ctx.client.workspace_get_status().path(path.as_str()).send().await {
            Ok(existing) => {
                let existing = existing.into_inner();
                let kind = existing.object_type.as_deref().map(|t| t.to_lowercase()).unwrap_or_else(|| "object".into());
                if is_directory(&existing) {
                    return Err(ToolError::failed(format!(
                        "{path} is a folder; import_notebook cannot replace a folder. Choose a path inside it."
                    )));
                }
                ctx.confirm(
                    args.confirm,
                    &format!(
                        "Replace the existing {kind} {path} with the imported content; its current content will be lost"
                    ),
                )
                .await?;
                replaced = Some(kind);
            }
            Err(e) => {
                let e = databricks_client::Error::from(e);
                if !e.is_not_found() {
                    return Err(e.into());
                }
            }
        }
    }

    let body = types::WorkspaceImportBody {
        content: Some(BASE64.encode(args.content.as_bytes())),
        format: Some(types::ImportFormat(format.as_str().to_string())),
        language: args.language.map(|l| types::WorkspaceLanguage(l.as_str().to_string())),
        overwrite: Some(overwrite),
        path: path.clone(),
    };
    ctx.client.workspace_import().body(body).send().await?;

    let action = match &replaced {
        Some(kind) => format!("Replaced the {kind} at {path}"),
        None => format!("Imported {path}"),
    };
    let structured = json!({ "path": path, "format": format.as_str(), "replaced": replaced.is_some() });
    // AUTO may drop a notebook extension from the name, so the object may live elsewhere.
    match ctx.client.workspace_get_status().path(path.as_str()).send().await {
        Ok(info) => {
            let mut structured = structured;
            structured["object"] = serde_json::to_value(info.into_inner()).unwrap_or(Value::Null);
            let text = format!(
                "{action} as {} ({} bytes of text). Read it back with export_notebook.",
                format.as_str(),
                args.content.len()
            );
            Ok(ToolOutput::with_structured(text, structured))
        }
        Err(e) => {
            let hint = if databricks_client::Error::from(e).is_not_found() {
                "It is not at exactly that path (AUTO drops a notebook's extension); list the parent folder with list_notebooks to find it."
            } else {
                "Check it with get_workspace_object_status."
            };
            Ok(ToolOutput::with_structured(format!("{action} as {}. {hint}", format.as_str()), structured))
        }
    }
}

/// Arguments of `mkdirs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MkdirsArgs {
    /// Absolute workspace path of the folder to create, such as `/Users/someone@example.com/project`.
    pub path: String,
}

/// Create a workspace folder, together with any missing parent folders (like
/// `mkdir -p`). Succeeds without change when the folder already exists; fails with
/// RESOURCE_ALREADY_EXISTS when a notebook or file occupies the path or a parent. Use
/// it before import_notebook into a new folder. For DBFS directories use mkdirs_dbfs.
#[tool(toolset = "workspace", read_only = false, idempotent, operation = "workspace_mkdirs")]
pub async fn mkdirs(ctx: ToolContext, args: MkdirsArgs) -> ToolResult {
    let path = workspace_path("path", &args.path)?;
    ctx.client.workspace_mkdirs().body(types::WorkspaceMkdirsBody { path: path.clone() }).send().await?;
    Ok(ToolOutput::with_structured(
        format!("The workspace folder {path} exists now."),
        json!({ "path": path, "created_or_existing": true }),
    ))
}

/// Arguments of `delete_workspace_object`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteWorkspaceObjectArgs {
    /// Absolute workspace path of the notebook, file or folder to delete.
    pub path: String,
    /// Delete a folder together with everything in it. Defaults to false, in which case deleting a
    /// non-empty folder fails with DIRECTORY_NOT_EMPTY.
    #[serde(default)]
    pub recursive: Option<bool>,
    /// Set to true to confirm the permanent deletion.
    #[serde(default)]
    pub confirm: bool,
}

/// Delete a notebook, file or folder from the workspace. A non-empty folder is deleted
/// only with recursive=true, and then everything under it goes too. Deletion cannot be
/// undone through the API, so the call needs confirm=true (or the user's confirmation).
/// Fails with RESOURCE_DOES_NOT_EXIST for a missing path. Check what is there first
/// with get_workspace_object_status or list_notebooks.
#[tool(
    toolset = "workspace",
    read_only = false,
    destructive,
    idempotent,
    operations = ["workspace_get_status", "workspace_delete"]
)]
pub async fn delete_workspace_object(ctx: ToolContext, args: DeleteWorkspaceObjectArgs) -> ToolResult {
    let path = workspace_path("path", &args.path)?;
    if path == "/" {
        return Err(ToolError::InvalidArguments(
            "invalid argument `path`: the workspace root cannot be deleted".into(),
        ));
    }
    let recursive = args.recursive.unwrap_or(false);
    let info = ctx.client.workspace_get_status().path(path.as_str()).send().await?.into_inner();
    let kind = info.object_type.as_deref().map(|t| t.to_lowercase()).unwrap_or_else(|| "object".into());
    let action = if is_directory(&info) && recursive {
        format!("Permanently delete the {kind} {path} and everything in it")
    } else {
        format!("Permanently delete the {kind} {path}")
    };
    ctx.confirm(args.confirm, &action).await?;
    ctx.client
        .workspace_delete()
        .body(types::WorkspaceDeleteBody { path: path.clone(), recursive: Some(recursive) })
        .send()
        .await?;
    Ok(ToolOutput::with_structured(
        format!(
            "Deleted the {kind} {path}{}.",
            if is_directory(&info) && recursive { " and its contents" } else { "" }
        ),
        json!({ "path": path, "deleted": true, "object_type": info.object_type, "recursive": recursive }),
    ))
}
