//! DBFS API 2.0: a small file system of directories and files under `/`, reached with
//! base64 blocks of at most 1 MB (`put`, `read`, and streamed `create`/`add-block`/`close`).
//!
//! File bytes live in memory, shared by `Arc` so that reads copy nothing under the lock.
//! With a data directory each file's bytes are also written, crash-safely, to
//! `<data_dir>/dbfs/<blob id>`, and the index of paths (the `dbfs` document) points at
//! them: a blob is written before the index names it and deleted only after the index
//! stops naming it, and blobs the index does not name are removed at start-up. The whole
//! file system is capped at [`MAX_TOTAL_BYTES`], counting open upload streams.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State as Ax;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use databricks_client::types;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Params};
use crate::workspace::{BASE64, child_prefix, clean_path, decode_base64, lock, min_decoded_len, parent_of};
use crate::{AppState, Store};

/// The largest block `put` and `add-block` accept, and the most `read` returns: 1 MB.
pub const MAX_BLOCK_BYTES: usize = 1024 * 1024;
/// The `length` of a `read` that gives none: 0.5 MB.
const DEFAULT_READ_BYTES: usize = 512 * 1024;
/// Upload streams idle this long are forgotten.
pub const HANDLE_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The most bytes the sandbox's DBFS holds, files and open streams together.
pub const MAX_TOTAL_BYTES: usize = 1024 * 1024 * 1024;
/// The most upload streams open at once.
const MAX_OPEN_STREAMS: usize = 1000;

/// One path in the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    is_dir: bool,
    modification_time: i64,
    #[serde(default)]
    size: usize,
    /// The file's blob; `None` for directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<u64>,
}

impl Entry {
    fn dir(now: i64) -> Self {
        Self { is_dir: true, modification_time: now, size: 0, blob: None }
    }
}

/// What is persisted: paths and the blobs they point at.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    next_blob: u64,
    entries: BTreeMap<String, Entry>,
}

/// A streamed upload between `create` and `close`.
#[derive(Debug)]
struct Stream {
    path: String,
    overwrite: bool,
    data: Vec<u8>,
    last_used: Instant,
}

#[derive(Debug, Default)]
pub struct State {
    index: Index,
    blobs: HashMap<u64, Arc<Vec<u8>>>,
    streams: HashMap<i64, Stream>,
    /// `<data_dir>/dbfs`, when there is a data directory.
    blob_dir: Option<PathBuf>,
    /// Bytes held in files and open streams.
    total_bytes: usize,
}

impl State {
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        let mut index: Index = store.load("dbfs")?.unwrap_or_default();
        index.entries.entry("/".to_string()).or_insert_with(|| Entry::dir(crate::now_ms()));
        let mut state = Self { blob_dir: store.dir().map(|d| d.join("dbfs")), ..Self::default() };
        if let Some(dir) = &state.blob_dir {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            let mut lost = Vec::new();
            for (path, entry) in &mut index.entries {
                let Some(blob) = entry.blob else { continue };
                match std::fs::read(dir.join(blob.to_string())) {
                    Ok(bytes) => {
                        entry.size = bytes.len();
                        state.total_bytes += bytes.len();
                        state.blobs.insert(blob, Arc::new(bytes));
                    }
                    Err(e) => {
                        tracing::warn!("DBFS file {path} lost its contents ({e}); dropping it");
                        lost.push(path.clone());
                    }
                }
            }
            for path in lost {
                index.entries.remove(&path);
            }
            // Blobs the index does not name are leftovers of an interrupted write.
            for item in std::fs::read_dir(dir)?.flatten() {
                let name = item.file_name();
                let known =
                    name.to_str().and_then(|n| n.parse::<u64>().ok()).is_some_and(|b| state.blobs.contains_key(&b));
                if !known {
                    let _ = std::fs::remove_file(item.path());
                }
            }
        } else {
            // Without a data directory there are no blobs to read: only directories survive.
            index.entries.retain(|_, e| e.is_dir);
        }
        let max_blob = state.blobs.keys().max().map_or(0, |b| b + 1);
        index.next_blob = index.next_blob.max(max_blob);
        state.index = index;
        Ok(state)
    }

    /// Forget upload streams idle for longer than [`HANDLE_IDLE_TIMEOUT`].
    fn expire_streams(&mut self, now: Instant) {
        let mut freed = 0;
        self.streams.retain(|_, s| {
            let keep = now.saturating_duration_since(s.last_used) < HANDLE_IDLE_TIMEOUT;
            if !keep {
                freed += s.data.len();
            }
            keep
        });
        self.total_bytes = self.total_bytes.saturating_sub(freed);
    }

    fn reserve(&mut self, bytes: usize) -> ApiResult<()> {
        if self.total_bytes.saturating_add(bytes) > MAX_TOTAL_BYTES {
            return Err(ApiError::new(
                400,
                "QUOTA_EXCEEDED",
                format!("The sandbox's DBFS holds at most {MAX_TOTAL_BYTES} bytes; delete files to make room."),
            ));
        }
        self.total_bytes += bytes;
        Ok(())
    }

    /// Check that a file may be written at `path`.
    fn check_writable(&self, raw: &str, path: &str, overwrite: bool) -> ApiResult<()> {
        if let Some(existing) = self.index.entries.get(path)
            && (existing.is_dir || !overwrite)
        {
            return Err(already_exists(raw));
        }
        self.check_ancestors(raw, path)
    }

    /// Check that no ancestor of `path` is a file.
    fn check_ancestors(&self, raw: &str, path: &str) -> ApiResult<()> {
        let mut current = parent_of(path);
        loop {
            if let Some(entry) = self.index.entries.get(current) {
                if !entry.is_dir {
                    return Err(ApiError::already_exists(format!(
                        "Cannot create {raw}: {current} already exists and is a file."
                    )));
                }
                // Directories are only ever created with their parents.
                return Ok(());
            }
            if current == "/" {
                return Ok(());
            }
            current = parent_of(current);
        }
    }

    /// Create the missing ancestors of `path` as directories.
    fn create_parents(&mut self, path: &str, now: i64) {
        let mut current = parent_of(path);
        while !self.index.entries.contains_key(current) {
            self.index.entries.insert(current.to_string(), Entry::dir(now));
            current = parent_of(current);
        }
    }

    fn children<'a>(&'a self, path: &str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        let prefix = child_prefix(path);
        let len = prefix.len();
        self.index
            .entries
            .range(prefix.clone()..)
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .filter(move |(p, _)| p.len() > len && !p[len..].contains('/'))
    }

    /// `path` and every path under it.
    fn subtree(&self, path: &str) -> Vec<String> {
        let prefix = child_prefix(path);
        let mut paths: Vec<String> = self
            .index
            .entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .filter(|p| *p != prefix)
            .collect();
        paths.push(path.to_string());
        paths
    }
}

fn already_exists(raw: &str) -> ApiError {
    ApiError::already_exists(format!("A file or directory already exists at the input path {raw}."))
}

fn no_such_path(raw: &str) -> ApiError {
    ApiError::not_found(format!("No file or directory exists on path {raw}."))
}

fn block_too_large(what: &str) -> ApiError {
    ApiError::new(
        400,
        "MAX_BLOCK_SIZE_EXCEEDED",
        format!("The {what} exceeds the maximum block size of {MAX_BLOCK_BYTES} bytes (1 MB)."),
    )
}

/// A DBFS path from a request: `/x` or `dbfs:/x`, normalised.
fn dbfs_path(raw: &str) -> ApiResult<String> {
    let path = raw.strip_prefix("dbfs:").unwrap_or(raw);
    clean_path(path).map_err(ApiError::invalid)
}

fn file_info(path: &str, entry: &Entry) -> types::FileInfo {
    types::FileInfo {
        file_size: Some(i64::try_from(entry.size).unwrap_or(i64::MAX)),
        is_dir: Some(entry.is_dir),
        modification_time: Some(entry.modification_time),
        path: Some(path.to_string()),
    }
}

fn save(state: &AppState, dbfs: &State) -> ApiResult<()> {
    state.store.save("dbfs", &dbfs.index)
}

fn io_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "IO_ERROR", format!("cannot store DBFS data: {e}"))
}

fn blob_path(dir: &std::path::Path, blob: u64) -> PathBuf {
    dir.join(blob.to_string())
}

/// Remove blob files after the index stopped naming them.
async fn remove_blobs(dir: Option<PathBuf>, blobs: Vec<u64>) {
    let Some(dir) = dir else { return };
    if blobs.is_empty() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || {
        for blob in blobs {
            let _ = std::fs::remove_file(blob_path(&dir, blob));
        }
    })
    .await;
}

/// Write a whole file at `path`: the blob first, then the index entry.
async fn write_file(state: &AppState, raw: &str, path: &str, bytes: Vec<u8>, overwrite: bool) -> ApiResult<()> {
    let data = Arc::new(bytes);
    let (blob, dir) = {
        let mut dbfs = lock(&state.dbfs);
        dbfs.check_writable(raw, path, overwrite)?;
        dbfs.reserve(data.len())?;
        let blob = dbfs.index.next_blob;
        dbfs.index.next_blob += 1;
        (blob, dbfs.blob_dir.clone())
    };
    let release = |state: &AppState| {
        let mut dbfs = lock(&state.dbfs);
        dbfs.total_bytes = dbfs.total_bytes.saturating_sub(data.len());
    };
    if let Some(dir) = &dir {
        let (dir, data) = (dir.clone(), data.clone());
        let written =
            tokio::task::spawn_blocking(move || crate::store::write_atomic(&blob_path(&dir, blob), &data)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                release(state);
                return Err(io_error(e));
            }
            Err(e) => {
                release(state);
                return Err(io_error(e));
            }
        }
    }
    let outcome = {
        let mut dbfs = lock(&state.dbfs);
        match dbfs.check_writable(raw, path, overwrite) {
            Err(e) => Err(e),
            Ok(()) => {
                let now = crate::now_ms();
                dbfs.create_parents(path, now);
                let entry = Entry { is_dir: false, modification_time: now, size: data.len(), blob: Some(blob) };
                let old = dbfs.index.entries.insert(path.to_string(), entry).and_then(|e| e.blob);
                dbfs.blobs.insert(blob, data.clone());
                if let Some(old) = old
                    && let Some(previous) = dbfs.blobs.remove(&old)
                {
                    dbfs.total_bytes = dbfs.total_bytes.saturating_sub(previous.len());
                }
                save(state, &dbfs).map(|()| old)
            }
        }
    };
    match outcome {
        Ok(old) => {
            remove_blobs(dir, old.into_iter().collect()).await;
            Ok(())
        }
        Err(e) => {
            if lock(&state.dbfs).index.entries.get(path).and_then(|e| e.blob) != Some(blob) {
                release(state);
                remove_blobs(dir, vec![blob]).await;
            }
            Err(e)
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/dbfs/list", get(list))
        .route("/api/2.0/dbfs/get-status", get(get_status))
        .route("/api/2.0/dbfs/read", get(read))
        .route("/api/2.0/dbfs/put", post(put))
        .route("/api/2.0/dbfs/create", post(create))
        .route("/api/2.0/dbfs/add-block", post(add_block))
        .route("/api/2.0/dbfs/close", post(close))
        .route("/api/2.0/dbfs/mkdirs", post(mkdirs))
        .route("/api/2.0/dbfs/delete", post(delete))
        .route("/api/2.0/dbfs/move", post(move_path))
}

async fn list(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let raw = params.required("path")?;
    let path = dbfs_path(raw)?;
    let dbfs = lock(&state.dbfs);
    let entry = dbfs.index.entries.get(&path).ok_or_else(|| no_such_path(raw))?;
    let files: Vec<types::FileInfo> = if entry.is_dir {
        dbfs.children(&path).map(|(p, e)| file_info(p, e)).collect()
    } else {
        vec![file_info(&path, entry)]
    };
    drop(dbfs);
    if files.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({ "files": files })))
}

async fn get_status(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<types::FileInfo>> {
    let raw = params.required("path")?;
    let path = dbfs_path(raw)?;
    let dbfs = lock(&state.dbfs);
    let entry = dbfs.index.entries.get(&path).ok_or_else(|| no_such_path(raw))?;
    Ok(Json(file_info(&path, entry)))
}

async fn read(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<types::ReadResponse>> {
    let raw = params.required("path")?;
    let path = dbfs_path(raw)?;
    let offset = params.int("offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid(format!("offset must not be negative, got {offset}.")));
    }
    let length = match params.int("length")? {
        None => DEFAULT_READ_BYTES,
        Some(n) if n < 0 => return Err(ApiError::invalid(format!("length must not be negative, got {n}."))),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    if length > MAX_BLOCK_BYTES {
        return Err(ApiError::new(
            400,
            "MAX_READ_SIZE_EXCEEDED",
            format!("Cannot read more than {MAX_BLOCK_BYTES} bytes (1 MB) at once, asked for {length}."),
        ));
    }
    let data = {
        let dbfs = lock(&state.dbfs);
        let entry = dbfs.index.entries.get(&path).ok_or_else(|| no_such_path(raw))?;
        if entry.is_dir {
            return Err(ApiError::invalid(format!("Cannot read {raw}: it is a directory.")));
        }
        entry.blob.and_then(|b| dbfs.blobs.get(&b).cloned()).unwrap_or_default()
    };
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
    let end = start.saturating_add(length).min(data.len());
    let chunk = data.get(start..end).unwrap_or(&[]);
    Ok(Json(types::ReadResponse {
        bytes_read: Some(i64::try_from(chunk.len()).unwrap_or(0)),
        data: Some(BASE64.encode(chunk)),
    }))
}

fn required(value: Option<String>, field: &str) -> ApiResult<String> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| ApiError::missing(field))
}

/// Decode a base64 block of at most [`MAX_BLOCK_BYTES`].
fn decode_block(field: &str, encoded: &str, what: &str) -> ApiResult<Vec<u8>> {
    if min_decoded_len(encoded.len()) > MAX_BLOCK_BYTES {
        return Err(block_too_large(what));
    }
    let bytes = decode_base64(field, encoded)?;
    if bytes.len() > MAX_BLOCK_BYTES {
        return Err(block_too_large(what));
    }
    Ok(bytes)
}

#[derive(Deserialize)]
struct PutBody {
    path: Option<String>,
    contents: Option<String>,
    overwrite: Option<bool>,
}

async fn put(Ax(state): Ax<AppState>, Body(body): Body<PutBody>) -> ApiResult<Json<Value>> {
    let raw = required(body.path, "path")?;
    let path = dbfs_path(&raw)?;
    let contents = body.contents.ok_or_else(|| ApiError::missing("contents"))?;
    let bytes = decode_block("contents", &contents, "file content")?;
    drop(contents);
    write_file(&state, &raw, &path, bytes, body.overwrite.unwrap_or(false)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct CreateBody {
    path: Option<String>,
    overwrite: Option<bool>,
}

async fn create(Ax(state): Ax<AppState>, Body(body): Body<CreateBody>) -> ApiResult<Json<types::CreateHandleResponse>> {
    let raw = required(body.path, "path")?;
    let path = dbfs_path(&raw)?;
    let overwrite = body.overwrite.unwrap_or(false);
    let mut dbfs = lock(&state.dbfs);
    dbfs.check_writable(&raw, &path, overwrite)?;
    let now = Instant::now();
    dbfs.expire_streams(now);
    if dbfs.streams.len() >= MAX_OPEN_STREAMS {
        // Not 429: clients retry that for minutes, and only a close frees a stream.
        return Err(ApiError::new(
            400,
            "QUOTA_EXCEEDED",
            format!("At most {MAX_OPEN_STREAMS} DBFS upload streams may be open; close some first."),
        ));
    }
    let handle = loop {
        // Positive and below 2^53, so that JavaScript clients keep it exact.
        let candidate = i64::try_from(uuid::Uuid::new_v4().as_u64_pair().0 >> 11).unwrap_or(1);
        if candidate > 0 && !dbfs.streams.contains_key(&candidate) {
            break candidate;
        }
    };
    dbfs.streams.insert(handle, Stream { path, overwrite, data: Vec::new(), last_used: now });
    Ok(Json(types::CreateHandleResponse { handle: Some(handle) }))
}

#[derive(Deserialize)]
struct AddBlockBody {
    handle: Option<i64>,
    data: Option<String>,
}

fn no_such_handle(handle: i64) -> ApiError {
    ApiError::not_found(format!("No stream is open with handle {handle}; it was closed, never existed or expired."))
}

async fn add_block(Ax(state): Ax<AppState>, Body(body): Body<AddBlockBody>) -> ApiResult<Json<Value>> {
    let handle = body.handle.ok_or_else(|| ApiError::missing("handle"))?;
    let encoded = body.data.ok_or_else(|| ApiError::missing("data"))?;
    let bytes = decode_block("data", &encoded, "block")?;
    drop(encoded);
    let mut dbfs = lock(&state.dbfs);
    let now = Instant::now();
    dbfs.expire_streams(now);
    if !dbfs.streams.contains_key(&handle) {
        return Err(no_such_handle(handle));
    }
    dbfs.reserve(bytes.len())?;
    if let Some(stream) = dbfs.streams.get_mut(&handle) {
        stream.data.extend_from_slice(&bytes);
        stream.last_used = now;
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct CloseBody {
    handle: Option<i64>,
}

async fn close(Ax(state): Ax<AppState>, Body(body): Body<CloseBody>) -> ApiResult<Json<Value>> {
    let handle = body.handle.ok_or_else(|| ApiError::missing("handle"))?;
    let stream = {
        let mut dbfs = lock(&state.dbfs);
        dbfs.expire_streams(Instant::now());
        let stream = dbfs.streams.remove(&handle).ok_or_else(|| no_such_handle(handle))?;
        // The file takes over the stream's share of the quota.
        dbfs.total_bytes = dbfs.total_bytes.saturating_sub(stream.data.len());
        stream
    };
    let raw = stream.path.clone();
    write_file(&state, &raw, &stream.path, stream.data, stream.overwrite).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct PathBody {
    path: Option<String>,
    recursive: Option<bool>,
}

async fn mkdirs(Ax(state): Ax<AppState>, Body(body): Body<PathBody>) -> ApiResult<Json<Value>> {
    let raw = required(body.path, "path")?;
    let path = dbfs_path(&raw)?;
    let mut dbfs = lock(&state.dbfs);
    match dbfs.index.entries.get(&path) {
        Some(e) if e.is_dir => return Ok(Json(json!({}))),
        Some(_) => return Err(already_exists(&raw)),
        None => {}
    }
    dbfs.check_ancestors(&raw, &path)?;
    let now = crate::now_ms();
    dbfs.create_parents(&path, now);
    dbfs.index.entries.insert(path, Entry::dir(now));
    save(&state, &dbfs)?;
    Ok(Json(json!({})))
}

async fn delete(Ax(state): Ax<AppState>, Body(body): Body<PathBody>) -> ApiResult<Json<Value>> {
    let raw = required(body.path, "path")?;
    let path = dbfs_path(&raw)?;
    if path == "/" {
        return Err(ApiError::invalid("The DBFS root cannot be deleted."));
    }
    let (dir, blobs) = {
        let mut dbfs = lock(&state.dbfs);
        // Like Databricks, deleting a path that does not exist succeeds.
        let Some(entry) = dbfs.index.entries.get(&path) else { return Ok(Json(json!({}))) };
        if entry.is_dir && dbfs.children(&path).next().is_some() && !body.recursive.unwrap_or(false) {
            return Err(ApiError::new(
                400,
                "IO_ERROR",
                format!("Cannot delete {raw}: it is a non-empty directory; pass recursive=true to delete it."),
            ));
        }
        let mut blobs = Vec::new();
        for p in dbfs.subtree(&path) {
            if let Some(blob) = dbfs.index.entries.remove(&p).and_then(|e| e.blob) {
                blobs.push(blob);
                if let Some(data) = dbfs.blobs.remove(&blob) {
                    dbfs.total_bytes = dbfs.total_bytes.saturating_sub(data.len());
                }
            }
        }
        save(&state, &dbfs)?;
        (dbfs.blob_dir.clone(), blobs)
    };
    remove_blobs(dir, blobs).await;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct MoveBody {
    source_path: Option<String>,
    destination_path: Option<String>,
}

async fn move_path(Ax(state): Ax<AppState>, Body(body): Body<MoveBody>) -> ApiResult<Json<Value>> {
    let raw_source = required(body.source_path, "source_path")?;
    let raw_dest = required(body.destination_path, "destination_path")?;
    let source = dbfs_path(&raw_source)?;
    let dest = dbfs_path(&raw_dest)?;
    let mut dbfs = lock(&state.dbfs);
    if !dbfs.index.entries.contains_key(&source) {
        return Err(no_such_path(&raw_source));
    }
    if source == "/" {
        return Err(ApiError::invalid("The DBFS root cannot be moved."));
    }
    if dbfs.index.entries.contains_key(&dest) {
        return Err(already_exists(&raw_dest));
    }
    if dest.starts_with(&child_prefix(&source)) {
        return Err(ApiError::invalid(format!("Cannot move {raw_source} into itself ({raw_dest}).")));
    }
    dbfs.check_ancestors(&raw_dest, &dest)?;
    dbfs.create_parents(&dest, crate::now_ms());
    for old in dbfs.subtree(&source) {
        if let Some(entry) = dbfs.index.entries.remove(&old) {
            let new = format!("{dest}{}", &old[source.len()..]);
            dbfs.index.entries.insert(new, entry);
        }
    }
    save(&state, &dbfs)?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_streams_expire_and_free_their_bytes() {
        let mut state = State::default();
        let start = Instant::now();
        state.reserve(10).expect("room");
        state.streams.insert(7, Stream { path: "/a".into(), overwrite: false, data: vec![0; 10], last_used: start });
        state.expire_streams(start + Duration::from_secs(9 * 60));
        assert!(state.streams.contains_key(&7));
        state.expire_streams(start + HANDLE_IDLE_TIMEOUT + Duration::from_secs(1));
        assert!(state.streams.is_empty());
        assert_eq!(state.total_bytes, 0);
    }

    #[test]
    fn paths_accept_the_dbfs_scheme_and_refuse_escapes() {
        assert_eq!(dbfs_path("dbfs:/tmp//x/").expect("valid"), "/tmp/x");
        assert_eq!(dbfs_path("/").expect("valid"), "/");
        assert!(dbfs_path("/../../etc/passwd").is_err());
        assert!(dbfs_path("tmp/x").is_err());
        assert!(dbfs_path("/a\0b").is_err());
    }
}
