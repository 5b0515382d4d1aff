//! Tools of the `dbfs` toolset: list, read, write, move and delete files in DBFS.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use databricks_client::types;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::tools::util;
use crate::{ToolContext, ToolError, ToolOutput, ToolResult, tool};

/// The largest block DBFS reads or writes in one call: 1 MB.
const BLOCK_BYTES: usize = 1024 * 1024;
/// Bytes `read_file` returns when no `length` is given.
const DEFAULT_READ_BYTES: u64 = 64 * 1024;
/// Entries `list_files` returns when no `limit` is given, and its ceiling.
const DEFAULT_LIST_ENTRIES: usize = 500;
const MAX_LIST_ENTRIES: usize = 5000;
/// The most content `put_file` uploads in one call.
const MAX_PUT_BYTES: usize = 100 * 1024 * 1024;

/// Check a DBFS path argument and normalise it: absolute, `dbfs:/` accepted and
/// dropped, no `..` segments, no trailing slash.
pub(crate) fn dbfs_path(field: &str, raw: &str) -> Result<String, ToolError> {
    let invalid = |why: String| ToolError::InvalidArguments(format!("invalid argument `{field}`: {why}"));
    let given = raw.trim();
    if given.is_empty() {
        return Err(invalid("the path is empty".into()));
    }
    let path = match given.strip_prefix("dbfs:") {
        Some(rest) => rest,
        None if given.contains("://") => {
            return Err(invalid(format!(
                "{given:?} is not a DBFS path; give an absolute DBFS path such as /tmp/data.csv or dbfs:/tmp/data.csv"
            )));
        }
        None => given,
    };
    if !path.starts_with('/') {
        return Err(invalid(format!(
            "{given:?} is not absolute; DBFS paths start with `/` or `dbfs:/`, for example /tmp/{path}"
        )));
    }
    if path.starts_with("//") {
        return Err(invalid(format!(
            "{given:?} has `//` after the scheme; write it as dbfs:/{}",
            path.trim_start_matches('/')
        )));
    }
    if path.split('/').any(|segment| segment == "..") {
        return Err(invalid(format!("{given:?} contains `..`; give the full absolute path")));
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/".to_string() } else { trimmed.to_string() })
}

fn file_summary(info: &types::FileInfo) -> Value {
    util::compact(json!({
        "path": info.path,
        "is_dir": info.is_dir,
        "file_size": info.file_size,
        "modification_time": info.modification_time,
    }))
}

/// The status of `path`, `None` when nothing is there.
async fn status_if_exists(ctx: &ToolContext, path: &str) -> Result<Option<types::FileInfo>, ToolError> {
    match ctx.client.dbfs_get_status().path(path).send().await {
        Ok(info) => Ok(Some(info.into_inner())),
        Err(e) => {
            let e = databricks_client::Error::from(e);
            if e.is_not_found() { Ok(None) } else { Err(e.into()) }
        }
    }
}

/// Arguments of `list_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFilesArgs {
    /// Absolute DBFS path of the directory to list, such as `/tmp` or `dbfs:/FileStore`.
    pub path: String,
    /// Index of the first entry to return (default 0); use next_offset from a previous call.
    #[serde(default)]
    pub offset: Option<u64>,
    /// The most entries to return (default 500, at most 5000).
    #[serde(default)]
    pub limit: Option<u64>,
}

/// List the files and directories directly inside a DBFS directory (one level; a file
/// path lists just that file). Each entry has path, is_dir, file_size (bytes) and
/// modification_time (ms since the epoch), sorted by path. DBFS returns a directory in
/// one response, so this tool pages it itself: up to limit entries (default 500, at
/// most 5000) from offset, with next_offset when more remain. Read a file with
/// read_file; get one entry's metadata with get_file_status.
#[tool(toolset = "dbfs", read_only, operation = "dbfs_list")]
pub async fn list_files(ctx: ToolContext, args: ListFilesArgs) -> ToolResult {
    let path = dbfs_path("path", &args.path)?;
    let offset = usize::try_from(args.offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let limit = match args.limit {
        None => DEFAULT_LIST_ENTRIES,
        Some(0) => return Err(ToolError::InvalidArguments("invalid argument `limit`: must be at least 1".into())),
        Some(n) => usize::try_from(n).unwrap_or(MAX_LIST_ENTRIES).min(MAX_LIST_ENTRIES),
    };
    let mut items = ctx.client.dbfs_list().path(path.as_str()).send().await?.into_inner().files;
    items.sort_by(|a, b| a.path.cmp(&b.path));
    let total = items.len();
    let page: Vec<Value> = items.iter().skip(offset).take(limit).map(file_summary).collect();
    let end = offset.saturating_add(page.len());
    let next_offset = (end < total).then_some(end);

    let rows: Vec<Vec<String>> = page
        .iter()
        .map(|e| {
            let kind = if e.get("is_dir").and_then(Value::as_bool).unwrap_or(false) { "dir" } else { "file" };
            vec![
                util::cell(e.get("path").unwrap_or(&Value::Null)),
                kind.to_string(),
                util::cell(e.get("file_size").unwrap_or(&Value::Null)),
                util::cell(e.get("modification_time").unwrap_or(&Value::Null)),
            ]
        })
        .collect();
    let mut text = if total == 0 {
        format!("{path} is empty.\n")
    } else if page.is_empty() {
        format!("{path} has {total} entries; offset {offset} is past the end.\n")
    } else {
        format!(
            "Entries {}..{end} of {total} in {path}:\n\n{}",
            offset,
            util::markdown_table(&["path", "type", "file_size", "modification_time"], &rows)
        )
    };
    if let Some(next) = next_offset {
        text.push_str(&format!("\nMore entries remain: call list_files again with offset={next}.\n"));
    }
    let structured = json!({
        "path": path,
        "total": total,
        "offset": offset,
        "files": page,
        "next_offset": next_offset,
    });
    Ok(ToolOutput::with_structured(text, structured))
}

/// Arguments of `get_file_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetFileStatusArgs {
    /// Absolute DBFS path of the file or directory, such as `/tmp/data.csv` or `dbfs:/tmp/data.csv`.
    pub path: String,
}

/// Get the metadata of one DBFS file or directory: path, is_dir, file_size (bytes) and
/// modification_time (ms since the epoch). Fails with RESOURCE_DOES_NOT_EXIST when
/// nothing is there, so it doubles as an existence check. Use read_file for the content
/// and list_files for a directory's entries.
#[tool(toolset = "dbfs", read_only, operation = "dbfs_get_status")]
pub async fn get_file_status(ctx: ToolContext, args: GetFileStatusArgs) -> ToolResult {
    let path = dbfs_path("path", &args.path)?;
    let info = ctx.client.dbfs_get_status().path(path).send().await?.into_inner();
    Ok(ToolOutput::json(info))
}

/// Arguments of `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileArgs {
    /// Absolute DBFS path of the file to read, such as `/tmp/data.csv` or `dbfs:/tmp/data.csv`.
    pub path: String,
    /// Byte offset to start reading at (default 0). Use next_offset from a previous call to read on.
    #[serde(default)]
    pub offset: Option<u64>,
    /// The most bytes to read (default 65536, at most 1048576 = 1 MB).
    #[serde(default)]
    pub length: Option<u64>,
}

/// The part of `bytes` to return as text: all of it, or all but a multi-byte
/// character cut at the end of a chunk that is not the end of the file. `None` when
/// the bytes are not text.
fn text_prefix(bytes: &[u8], at_eof: bool) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() && !at_eof && e.valid_up_to() > 0 && bytes.len() - e.valid_up_to() < 4 => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

/// Read a range of bytes from a DBFS file: up to length bytes (default 64 KB, at most
/// 1 MB) from offset. Returns the content as UTF-8 text when the bytes are text,
/// otherwise base64 (encoding says which), plus bytes_read, file_size and either
/// next_offset or eof=true. To read a larger file, call again with offset=next_offset
/// until eof is true. Directories cannot be read: list them with list_files.
#[tool(toolset = "dbfs", read_only, operations = ["dbfs_get_status", "dbfs_read"])]
pub async fn read_file(ctx: ToolContext, args: ReadFileArgs) -> ToolResult {
    let path = dbfs_path("path", &args.path)?;
    let offset = args.offset.unwrap_or(0);
    let length = match args.length {
        None => DEFAULT_READ_BYTES,
        Some(0) => return Err(ToolError::InvalidArguments("invalid argument `length`: must be at least 1".into())),
        Some(n) if n > BLOCK_BYTES as u64 => {
            return Err(ToolError::InvalidArguments(format!(
                "invalid argument `length`: {n} is over the limit of {BLOCK_BYTES} bytes (1 MB) per call; read in several calls"
            )));
        }
        Some(n) => n,
    };
    let offset_i64 = i64::try_from(offset)
        .map_err(|_| ToolError::InvalidArguments(format!("invalid argument `offset`: {offset} is too large")))?;

    let info = ctx.client.dbfs_get_status().path(path.as_str()).send().await?.into_inner();
    if info.is_dir.unwrap_or(false) {
        return Err(ToolError::failed(format!("{path} is a directory, not a file; list it with list_files.")));
    }
    let file_size = info.file_size.and_then(|s| u64::try_from(s).ok());

    let (data, requested_all) = if file_size.is_some_and(|size| offset >= size) {
        (Vec::new(), false)
    } else {
        let chunk = ctx
            .client
            .dbfs_read()
            .path(path.as_str())
            .offset(offset_i64)
            .length(i64::try_from(length).unwrap_or(i64::MAX))
            .send()
            .await?
            .into_inner();
        let data = BASE64.decode(chunk.data.unwrap_or_default().as_bytes()).map_err(|e| {
            ToolError::failed(format!("Databricks returned data for {path} that is not valid base64: {e}"))
        })?;
        let full = data.len() as u64 >= length;
        (data, full)
    };
    let end_of_data = offset + data.len() as u64;
    let at_eof = match file_size {
        Some(size) => end_of_data >= size,
        // Without a size, a short read means the end of the file.
        None => !requested_all,
    };

    let (encoding, content, used) = match text_prefix(&data, at_eof) {
        Some(text) => ("utf-8", text.to_string(), text.len()),
        None => ("base64", BASE64.encode(&data), data.len()),
    };
    let next = offset + used as u64;
    let eof = at_eof && used == data.len();
    let next_offset = (!eof).then_some(next);

    let mut header = format!(
        "{path}: {used} bytes from offset {offset}{}, as {}.",
        file_size.map(|s| format!(" of {s}")).unwrap_or_default(),
        if encoding == "utf-8" { "UTF-8 text" } else { "base64 (the bytes are not text)" }
    );
    if eof {
        header.push_str(" End of file.");
    } else {
        header.push_str(&format!(" More remains: call read_file again with offset={next}."));
    }
    let structured = json!({
        "path": path,
        "offset": offset,
        "bytes_read": used,
        "file_size": file_size,
        "encoding": encoding,
        "content": content,
        "next_offset": next_offset,
        "eof": eof,
    });
    Ok(ToolOutput::with_structured(format!("{header}\n\n{content}"), structured))
}

/// How `put_file` reads `contents`.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContentsEncoding {
    #[default]
    Text,
    Base64,
}

/// Arguments of `put_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutFileArgs {
    /// Absolute DBFS path of the file to write, such as `/tmp/data.csv` or `dbfs:/tmp/data.csv`. Missing
    /// parent directories are created.
    pub path: String,
    /// The file content: plain text (written as UTF-8) when contents_encoding is `text`, or the bytes
    /// base64-encoded when it is `base64`.
    pub contents: String,
    /// How contents is given: `text` (the default) or `base64` (for binary data).
    #[serde(default)]
    pub contents_encoding: Option<ContentsEncoding>,
    /// Replace an existing file. Defaults to false, in which case an existing file makes the call fail
    /// with RESOURCE_ALREADY_EXISTS.
    #[serde(default)]
    pub overwrite: Option<bool>,
    /// Set to true to confirm replacing an existing file when overwrite is true.
    #[serde(default)]
    pub confirm: bool,
}

/// Write a file to DBFS from plain text, or from base64 for binary data
/// (contents_encoding="base64"). Up to 1 MB goes in one put call; larger content (up to
/// 100 MB) is streamed in 1 MB blocks with create/add-block/close automatically. Missing
/// parent directories are created. An existing file is only replaced with
/// overwrite=true, and then confirm=true is needed because its content is lost.
/// Returns the path and bytes written; check with get_file_status or read_file.
#[tool(
    toolset = "dbfs",
    read_only = false,
    destructive,
    operations = ["dbfs_get_status", "dbfs_put", "dbfs_create", "dbfs_add_block", "dbfs_close", "dbfs_delete"]
)]
pub async fn put_file(ctx: ToolContext, args: PutFileArgs) -> ToolResult {
    let path = dbfs_path("path", &args.path)?;
    if path == "/" {
        return Err(ToolError::InvalidArguments("invalid argument `path`: give a file path, not the DBFS root".into()));
    }
    let encoding = args.contents_encoding.unwrap_or_default();
    let bytes = match encoding {
        ContentsEncoding::Text => args.contents.into_bytes(),
        ContentsEncoding::Base64 => {
            let compact: String = args.contents.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            BASE64.decode(compact.as_bytes()).map_err(|e| {
                ToolError::InvalidArguments(format!(
                    "invalid argument `contents`: not valid base64 ({e}); send plain text with contents_encoding \"text\" instead"
                ))
            })?
        }
    };
    if bytes.len() > MAX_PUT_BYTES {
        return Err(ToolError::InvalidArguments(format!(
            "invalid argument `contents`: {} bytes is over this tool's limit of {MAX_PUT_BYTES} bytes (100 MB)",
            bytes.len()
        )));
    }
    let overwrite = args.overwrite.unwrap_or(false);

    let mut replaced = false;
    if overwrite && let Some(existing) = status_if_exists(&ctx, &path).await? {
        if existing.is_dir.unwrap_or(false) {
            return Err(ToolError::failed(format!(
                "{path} is a directory; put_file cannot replace a directory. Write to a path inside it."
            )));
        }
        let size = existing.file_size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
        ctx.confirm(
            args.confirm,
            &format!("Overwrite the existing DBFS file {path}{size}; its current content will be lost"),
        )
        .await?;
        replaced = true;
    }

    let method = if bytes.len() <= BLOCK_BYTES {
        let body = types::DbfsPutBody {
            contents: Some(BASE64.encode(&bytes)),
            overwrite: Some(overwrite),
            path: path.clone(),
        };
        ctx.client.dbfs_put().body(body).send().await?;
        "put"
    } else {
        upload_in_blocks(&ctx, &path, &bytes, overwrite).await?;
        "create/add-block/close"
    };

    let text =
        format!("{} {path}: {} bytes written with {method}.", if replaced { "Replaced" } else { "Wrote" }, bytes.len());
    Ok(ToolOutput::with_structured(
        text,
        json!({ "path": path, "bytes_written": bytes.len(), "method": method, "replaced": replaced }),
    ))
}

/// Stream `bytes` to `path` with create, add-block and close. When a block fails, the
/// half-written file is removed (best effort) and the error explains what happened.
async fn upload_in_blocks(ctx: &ToolContext, path: &str, bytes: &[u8], overwrite: bool) -> Result<(), ToolError> {
    let created = ctx
        .client
        .dbfs_create()
        .body(types::DbfsCreateBody { overwrite: Some(overwrite), path: path.to_string() })
        .send()
        .await?
        .into_inner();
    let Some(handle) = created.handle else {
        return Err(ToolError::failed(format!("Databricks opened no upload stream for {path} (no handle returned).")));
    };
    let blocks = bytes.len().div_ceil(BLOCK_BYTES);
    for (i, block) in bytes.chunks(BLOCK_BYTES).enumerate() {
        let body = types::DbfsAddBlockBody { data: BASE64.encode(block), handle };
        if let Err(e) = ctx.client.dbfs_add_block().body(body).send().await {
            let e = databricks_client::Error::from(e);
            let cleanup = ctx
                .client
                .dbfs_delete()
                .body(types::DbfsDeleteBody { path: path.to_string(), recursive: Some(false) })
                .send()
                .await;
            let outcome = if cleanup.is_ok() {
                "the incomplete file was removed"
            } else {
                "the incomplete file may remain; check it with get_file_status"
            };
            return Err(ToolError::failed(format!(
                "Uploading {path} failed at block {} of {blocks}: {}. Nothing usable was written ({outcome}); call put_file again.",
                i + 1,
                crate::output::describe_databricks_error(&e)
            )));
        }
        ctx.progress((i + 1) as f64, Some(blocks as f64), format!("uploaded block {} of {blocks}", i + 1)).await;
    }
    ctx.client.dbfs_close().body(types::DbfsCloseBody { handle }).send().await?;
    Ok(())
}

/// Arguments of `mkdirs_dbfs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MkdirsDbfsArgs {
    /// Absolute DBFS path of the directory to create, such as `/tmp/project` or `dbfs:/tmp/project`.
    pub path: String,
}

/// Create a DBFS directory together with any missing parents (like `mkdir -p`).
/// Succeeds without change when it already exists; fails with RESOURCE_ALREADY_EXISTS
/// when a file occupies the path or a parent. For workspace folders use mkdirs.
#[tool(toolset = "dbfs", read_only = false, idempotent, operation = "dbfs_mkdirs")]
pub async fn mkdirs_dbfs(ctx: ToolContext, args: MkdirsDbfsArgs) -> ToolResult {
    let path = dbfs_path("path", &args.path)?;
    ctx.client.dbfs_mkdirs().body(types::DbfsMkdirsBody { path: path.clone() }).send().await?;
    Ok(ToolOutput::with_structured(
        format!("The DBFS directory {path} exists now."),
        json!({ "path": path, "created_or_existing": true }),
    ))
}

/// Arguments of `delete_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteFileArgs {
    /// Absolute DBFS path of the file or directory to delete.
    pub path: String,
    /// Delete a directory together with everything under it. Defaults to false, in which case deleting
    /// a non-empty directory fails.
    #[serde(default)]
    pub recursive: Option<bool>,
    /// Set to true to confirm the permanent deletion.
    #[serde(default)]
    pub confirm: bool,
}

/// Delete a DBFS file or directory. A non-empty directory is deleted only with
/// recursive=true, and then everything under it goes too. Deletion cannot be undone,
/// so the call needs confirm=true (or the user's confirmation). A very large directory
/// may be removed only in part before an error; call again to finish. Fails with
/// RESOURCE_DOES_NOT_EXIST for a missing path; check first with get_file_status.
#[tool(
    toolset = "dbfs",
    read_only = false,
    destructive,
    idempotent,
    operations = ["dbfs_get_status", "dbfs_delete"]
)]
pub async fn delete_file(ctx: ToolContext, args: DeleteFileArgs) -> ToolResult {
    let path = dbfs_path("path", &args.path)?;
    if path == "/" {
        return Err(ToolError::InvalidArguments("invalid argument `path`: the DBFS root cannot be deleted".into()));
    }
    let recursive = args.recursive.unwrap_or(false);
    let info = ctx.client.dbfs_get_status().path(path.as_str()).send().await?.into_inner();
    let is_dir = info.is_dir.unwrap_or(false);
    let action = match (is_dir, recursive) {
        (true, true) => format!("Permanently delete the DBFS directory {path} and everything under it"),
        (true, false) => format!("Permanently delete the DBFS directory {path}"),
        (false, _) => format!(
            "Permanently delete the DBFS file {path}{}",
            info.file_size.map(|s| format!(" ({s} bytes)")).unwrap_or_default()
        ),
    };
    ctx.confirm(args.confirm, &action).await?;
    ctx.client
        .dbfs_delete()
        .body(types::DbfsDeleteBody { path: path.clone(), recursive: Some(recursive) })
        .send()
        .await?;
    let what = if is_dir { "directory" } else { "file" };
    Ok(ToolOutput::with_structured(
        format!("Deleted the DBFS {what} {path}{}.", if is_dir && recursive { " and its contents" } else { "" }),
        json!({ "path": path, "deleted": true, "is_dir": is_dir, "recursive": recursive }),
    ))
}

/// Arguments of `move_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveFileArgs {
    /// Absolute DBFS path of the file or directory to move.
    pub source_path: String,
    /// Absolute DBFS path it should have afterwards. Must not exist yet.
    pub destination_path: String,
}

/// Move or rename a DBFS file or directory (a directory moves with all its contents).
/// Nothing is overwritten: the call fails with RESOURCE_ALREADY_EXISTS when the
/// destination exists and RESOURCE_DOES_NOT_EXIST when the source is missing. Moves of
/// large directories are not atomic. Check the result with get_file_status.
#[tool(toolset = "dbfs", read_only = false, operation = "dbfs_move")]
pub async fn move_file(ctx: ToolContext, args: MoveFileArgs) -> ToolResult {
    let source = dbfs_path("source_path", &args.source_path)?;
    let destination = dbfs_path("destination_path", &args.destination_path)?;
    if source == destination {
        return Err(ToolError::InvalidArguments(
            "invalid argument `destination_path`: it is the same as source_path".into(),
        ));
    }
    ctx.client
        .dbfs_move()
        .body(types::DbfsMoveBody { destination_path: destination.clone(), source_path: source.clone() })
        .send()
        .await?;
    Ok(ToolOutput::with_structured(
        format!("Moved {source} to {destination}."),
        json!({ "source_path": source, "destination_path": destination }),
    ))
}
