//! Workspace API 2.0: the tree of folders, notebooks and files under `/`, with
//! import and export in the formats notebooks travel in (SOURCE, JUPYTER, HTML,
//! R_MARKDOWN, RAW, AUTO).
//!
//! The tree is one map from normalised absolute path to object, persisted as the
//! `workspace` document. `/`, `/Users`, `/Users/<user>` and `/Shared` always exist and
//! cannot be deleted. Paths may carry the `/Workspace` prefix of the workspace
//! file system; it names the same tree.

mod notebook;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::extract::State as Ax;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use databricks_client::types;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use notebook::{Language, Notebook};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Params};
use crate::identity::USER_NAME;
use crate::{AppState, Store};

/// The largest content import accepts and export produces: 10 MB.
pub const MAX_CONTENT_BYTES: usize = 10 * 1024 * 1024;
/// The id of the first object created after the built-in folders.
const FIRST_OBJECT_ID: i64 = 1_000_000_000_000_000;
/// The longest path accepted, in bytes.
const MAX_PATH_BYTES: usize = 4096;
/// The longest path segment accepted, in bytes.
const MAX_SEGMENT_BYTES: usize = 255;

/// Standard base64 with padding on output; input padding is optional.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decode the base64 value of a request field.
pub(crate) fn decode_base64(field: &str, value: &str) -> ApiResult<Vec<u8>> {
    BASE64.decode(value).map_err(|e| ApiError::invalid(format!("Field '{field}' is not valid base64: {e}")))
}

/// The smallest number of bytes `encoded` base64 characters can decode to.
pub(crate) fn min_decoded_len(encoded: usize) -> usize {
    (encoded / 4 * 3).saturating_sub(2)
}

/// Lock a service's state, recovering from a poisoned mutex.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Normalise an absolute path: collapse repeated and trailing slashes; refuse relative
/// paths, `.` and `..` segments, control characters and over-long names. The error is a
/// sentence for the client.
pub(crate) fn clean_path(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') {
        return Err(format!("Path ({raw}) is not absolute: it must start with '/'."));
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(format!("Path is longer than {MAX_PATH_BYTES} bytes."));
    }
    if raw.chars().any(char::is_control) {
        return Err("Path contains control characters.".to_string());
    }
    let mut segments = Vec::new();
    for segment in raw.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err(format!("Path ({raw}) contains a '{segment}' segment; use a normalised absolute path."));
        }
        if segment.len() > MAX_SEGMENT_BYTES {
            return Err(format!("Path ({raw}) has a name longer than {MAX_SEGMENT_BYTES} bytes."));
        }
        segments.push(segment);
    }
    Ok(format!("/{}", segments.join("/")))
}

/// The parent of a normalised path (`/` for top-level names and for `/` itself).
pub(crate) fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last segment of a normalised path.
pub(crate) fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// The prefix every descendant of `path` starts with.
pub(crate) fn child_prefix(path: &str) -> String {
    if path == "/" { "/".to_string() } else { format!("{path}/") }
}

/// A workspace path from a request, with the `/Workspace` prefix taken off.
fn workspace_path(raw: &str) -> ApiResult<String> {
    let path = clean_path(raw).map_err(ApiError::invalid)?;
    Ok(match path.strip_prefix("/Workspace") {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => path,
    })
}

fn doesnt_exist(path: &str) -> ApiError {
    ApiError::not_found(format!("Path ({path}) doesn't exist."))
}

fn too_large() -> ApiError {
    ApiError::new(
        400,
        "MAX_NOTEBOOK_SIZE_EXCEEDED",
        format!("The content exceeds the maximum allowed size of {MAX_CONTENT_BYTES} bytes (10 MB)."),
    )
}

/// One object in the tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Object {
    id: i64,
    created_at: i64,
    modified_at: i64,
    content: Content,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "object_type", rename_all = "UPPERCASE")]
enum Content {
    Directory,
    Notebook(Notebook),
    File {
        #[serde(with = "base64_bytes")]
        bytes: Vec<u8>,
    },
}

impl Content {
    fn object_type(&self) -> &'static str {
        match self {
            Content::Directory => "DIRECTORY",
            Content::Notebook(_) => "NOTEBOOK",
            Content::File { .. } => "FILE",
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self, Content::Directory)
    }
}

/// Bytes in JSON as a base64 string.
mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::BASE64.decode(text).map_err(serde::de::Error::custom)
    }
}

/// The workspace tree.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    next_id: i64,
    objects: BTreeMap<String, Object>,
}

impl Default for State {
    fn default() -> Self {
        let mut state = Self { next_id: FIRST_OBJECT_ID, objects: BTreeMap::new() };
        state.ensure_builtin();
        state
    }
}

/// Folders that always exist and cannot be deleted.
fn builtin_folders() -> [String; 4] {
    ["/".to_string(), "/Users".to_string(), format!("/Users/{USER_NAME}"), "/Shared".to_string()]
}

impl State {
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        let mut state: Self = store.load("workspace")?.unwrap_or_default();
        state.ensure_builtin();
        let max_id = state.objects.values().map(|o| o.id).max().unwrap_or(0);
        state.next_id = state.next_id.max(max_id + 1).max(FIRST_OBJECT_ID);
        Ok(state)
    }

    fn ensure_builtin(&mut self) {
        let now = crate::now_ms();
        for path in builtin_folders() {
            if !self.objects.contains_key(&path) {
                let id = if path == "/" { 0 } else { self.allocate_id() };
                self.objects
                    .insert(path, Object { id, created_at: now, modified_at: now, content: Content::Directory });
            }
        }
    }

    fn allocate_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The direct children of a folder, in path order.
    fn children<'a>(&'a self, path: &str) -> impl Iterator<Item = (&'a String, &'a Object)> + 'a {
        let prefix = child_prefix(path);
        let len = prefix.len();
        self.objects
            .range(prefix.clone()..)
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .filter(move |(p, _)| p.len() > len && !p[len..].contains('/'))
    }

    fn has_children(&self, path: &str) -> bool {
        self.children(path).next().is_some()
    }
}

fn object_info(path: &str, object: &Object) -> types::ObjectInfo {
    let (language, size) = match &object.content {
        Content::Notebook(nb) => (Some(types::WorkspaceLanguage(nb.language.as_str().to_string())), None),
        Content::File { bytes } => (None, i64::try_from(bytes.len()).ok()),
        Content::Directory => (None, None),
    };
    types::ObjectInfo {
        created_at: Some(object.created_at),
        directory_info: None,
        language,
        modified_at: Some(object.modified_at),
        object_id: Some(object.id),
        object_type: Some(types::ObjectType(object.content.object_type().to_string())),
        path: Some(path.to_string()),
        resource_id: Some(object.id.to_string()),
        size,
    }
}

fn save(state: &AppState, ws: &State) -> ApiResult<()> {
    state.store.save("workspace", ws)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/workspace/list", get(list))
        .route("/api/2.0/workspace/get-status", get(get_status))
        .route("/api/2.0/workspace/export", get(export))
        .route("/api/2.0/workspace/import", post(import))
        .route("/api/2.0/workspace/mkdirs", post(mkdirs))
        .route("/api/2.0/workspace/delete", post(delete))
}

/// The language and source text of the notebook at `path`, for job tasks that run
/// notebooks. `None` when there is no notebook there.
pub fn read_notebook(state: &AppState, path: &str) -> Option<(String, String)> {
    let path = workspace_path(path).ok()?;
    let ws = lock(&state.workspace);
    match &ws.objects.get(&path)?.content {
        Content::Notebook(nb) => Some((nb.language.as_str().to_string(), nb.to_source())),
        _ => None,
    }
}

async fn list(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = workspace_path(params.required("path")?)?;
    let modified_after = params.int("notebooks_modified_after")?;
    let ws = lock(&state.workspace);
    let object = ws.objects.get(&path).ok_or_else(|| doesnt_exist(&path))?;
    let items: Vec<types::ObjectInfo> = if object.content.is_dir() {
        ws.children(&path)
            .filter(|(_, o)| match (&o.content, modified_after) {
                (Content::Notebook(_), Some(after)) => o.modified_at > after,
                _ => true,
            })
            .map(|(p, o)| object_info(p, o))
            .collect()
    } else {
        vec![object_info(&path, object)]
    };
    drop(ws);
    if items.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({ "objects": items })))
}

async fn get_status(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<types::ObjectInfo>> {
    let path = workspace_path(params.required("path")?)?;
    let ws = lock(&state.workspace);
    let object = ws.objects.get(&path).ok_or_else(|| doesnt_exist(&path))?;
    Ok(Json(object_info(&path, object)))
}

const EXPORT_FORMATS: [&str; 7] = ["SOURCE", "HTML", "JUPYTER", "DBC", "R_MARKDOWN", "AUTO", "RAW"];

async fn export(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Response> {
    let path = workspace_path(params.required("path")?)?;
    let format = params.get("format").unwrap_or("SOURCE");
    if !EXPORT_FORMATS.contains(&format) {
        return Err(ApiError::invalid(format!(
            "Invalid export format {format:?}; expected one of {}.",
            EXPORT_FORMATS.join(", ")
        )));
    }
    let direct = params.bool("direct_download")?.unwrap_or(false);
    let object = lock(&state.workspace).objects.get(&path).cloned().ok_or_else(|| doesnt_exist(&path))?;
    let (bytes, file_type) = render(&path, &object, format)?;
    if bytes.len() > MAX_CONTENT_BYTES {
        return Err(too_large());
    }
    if direct {
        let mut response = bytes.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        let mut filename: String = name_of(&path)
            .chars()
            .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' })
            .collect();
        if !file_type.is_empty() && !filename.to_ascii_lowercase().ends_with(&format!(".{file_type}")) {
            filename = format!("{filename}.{file_type}");
        }
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        return Ok(response);
    }
    let mut body = json!({ "content": BASE64.encode(&bytes) });
    if !file_type.is_empty() {
        body["file_type"] = json!(file_type);
    }
    Ok(Json(body).into_response())
}

/// The bytes and file type of an object exported in `format`.
fn render(path: &str, object: &Object, format: &str) -> ApiResult<(Vec<u8>, String)> {
    let name = name_of(path);
    match &object.content {
        Content::Directory => match format {
            "SOURCE" | "AUTO" | "DBC" => Err(ApiError::invalid(format!(
                "The sandbox cannot export folder ({path}) as an archive ({format}); \
                 list it and export its notebooks and files one by one."
            ))),
            _ => Err(ApiError::invalid(format!(
                "Format {format} cannot export a folder ({path}); folders export only as DBC, SOURCE or AUTO."
            ))),
        },
        Content::Notebook(nb) => match format {
            "SOURCE" | "AUTO" => Ok((nb.to_source().into_bytes(), nb.language.extension().to_string())),
            "JUPYTER" => Ok((nb.to_jupyter(name), "ipynb".to_string())),
            "HTML" => Ok((nb.to_html(name).into_bytes(), "html".to_string())),
            "R_MARKDOWN" => nb.to_r_markdown().map(|text| (text.into_bytes(), "Rmd".to_string())).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Only R notebooks export as R_MARKDOWN; ({path}) is {}.",
                    nb.language.as_str()
                ))
            }),
            "DBC" => Err(ApiError::invalid(format!(
                "The sandbox cannot export ({path}) as a DBC archive; use SOURCE, JUPYTER or HTML."
            ))),
            _ => Err(ApiError::invalid(format!(
                "Format {format} applies to workspace files; export notebook ({path}) as SOURCE, JUPYTER or HTML."
            ))),
        },
        Content::File { bytes } => match format {
            "SOURCE" | "AUTO" | "RAW" => {
                let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
                Ok((bytes.clone(), ext))
            }
            _ => Err(ApiError::invalid(format!(
                "Format {format} applies to notebooks; export file ({path}) as SOURCE, RAW or AUTO."
            ))),
        },
    }
}

#[derive(Deserialize)]
struct ImportBody {
    path: Option<String>,
    content: Option<String>,
    format: Option<String>,
    language: Option<String>,
    overwrite: Option<bool>,
}

async fn import(Ax(state): Ax<AppState>, Body(body): Body<ImportBody>) -> ApiResult<Json<Value>> {
    let raw_path = body.path.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::missing("path"))?;
    let path = workspace_path(&raw_path)?;
    let format = body.format.filter(|f| !f.is_empty()).unwrap_or_else(|| "SOURCE".to_string());
    let language = match body.language.as_deref().filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(Language::parse(l).ok_or_else(|| {
            ApiError::invalid(format!("Invalid language {l:?}; expected one of PYTHON, SCALA, SQL, R."))
        })?),
    };
    match format.as_str() {
        "SOURCE" | "JUPYTER" | "AUTO" | "RAW" => {}
        "DBC" | "HTML" | "R_MARKDOWN" => {
            return Err(ApiError::invalid(format!(
                "The sandbox does not import the {format} format; use SOURCE, JUPYTER, AUTO or RAW."
            )));
        }
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid import format {other:?}; expected one of SOURCE, HTML, JUPYTER, DBC, R_MARKDOWN, AUTO, RAW."
            )));
        }
    }
    if format == "SOURCE" && language.is_none() {
        return Err(ApiError::invalid("The language field is required when importing a notebook in SOURCE format."));
    }
    let encoded = body.content.ok_or_else(|| ApiError::missing("content"))?;
    if min_decoded_len(encoded.len()) > MAX_CONTENT_BYTES {
        return Err(too_large());
    }
    let bytes = decode_base64("content", &encoded)?;
    drop(encoded);
    if bytes.len() > MAX_CONTENT_BYTES {
        return Err(too_large());
    }
    if path == "/" {
        return Err(ApiError::already_exists("Path (/) already exists."));
    }
    let (path, content) = interpret(path, &format, language, bytes)?;
    let overwrite = body.overwrite.unwrap_or(false);

    let mut ws = lock(&state.workspace);
    let parent = parent_of(&path).to_string();
    match ws.objects.get(&parent) {
        None => return Err(ApiError::not_found(format!("The parent folder ({parent}) does not exist."))),
        Some(o) if !o.content.is_dir() => {
            return Err(ApiError::invalid(format!("The parent ({parent}) is a {}, not a folder.", kind_word(o))));
        }
        Some(_) => {}
    }
    let now = crate::now_ms();
    match ws.objects.get_mut(&path) {
        Some(existing) if existing.content.is_dir() => {
            return Err(ApiError::already_exists(format!("Path ({path}) already exists and is a folder.")));
        }
        Some(_) if !overwrite => return Err(ApiError::already_exists(format!("Path ({path}) already exists."))),
        Some(existing) => {
            existing.content = content;
            existing.modified_at = now;
        }
        None => {
            let id = ws.allocate_id();
            ws.objects.insert(path, Object { id, created_at: now, modified_at: now, content });
        }
    }
    save(&state, &ws)?;
    Ok(Json(json!({})))
}

fn kind_word(object: &Object) -> &'static str {
    match object.content {
        Content::Directory => "folder",
        Content::Notebook(_) => "notebook",
        Content::File { .. } => "file",
    }
}

fn utf8(bytes: Vec<u8>) -> ApiResult<String> {
    String::from_utf8(bytes).map_err(|_| ApiError::invalid("Notebook source must be UTF-8 text."))
}

/// Decide what an import creates and where: a notebook (SOURCE, JUPYTER, or AUTO for an
/// `.ipynb` path or content with the notebook header, losing a notebook extension) or a
/// file (RAW, or AUTO for anything else).
fn interpret(path: String, format: &str, language: Option<Language>, bytes: Vec<u8>) -> ApiResult<(String, Content)> {
    let jupyter = |bytes: &[u8]| {
        Notebook::from_jupyter(bytes)
            .map(Content::Notebook)
            .map_err(|e| ApiError::invalid(format!("The content is not a valid Jupyter notebook: {e}.")))
    };
    match format {
        "SOURCE" => {
            let language = language.ok_or_else(|| ApiError::missing("language"))?;
            Ok((path, Content::Notebook(Notebook::from_source(&utf8(bytes)?, language))))
        }
        "JUPYTER" => Ok((path.clone(), jupyter(&bytes)?)),
        "RAW" => Ok((path, Content::File { bytes })),
        _ => {
            let name = name_of(&path);
            let (stem, ext) = match name.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() => (stem, ext.to_ascii_lowercase()),
                _ => (name, String::new()),
            };
            let stripped = format!("{}{stem}", child_prefix(parent_of(&path)));
            if ext == "ipynb" {
                return Ok((stripped, jupyter(&bytes)?));
            }
            let comment = std::str::from_utf8(&bytes).ok().and_then(notebook::header_comment);
            let Some(comment) = comment else { return Ok((path, Content::File { bytes })) };
            let from_ext = Language::from_extension(&ext);
            let language = match comment {
                "--" => Language::Sql,
                "//" => Language::Scala,
                _ if from_ext == Some(Language::R) => Language::R,
                _ => Language::Python,
            };
            let path = if from_ext.is_some() { stripped } else { path };
            Ok((path, Content::Notebook(Notebook::from_source(&utf8(bytes)?, language))))
        }
    }
}

#[derive(Deserialize)]
struct PathBody {
    path: Option<String>,
    recursive: Option<bool>,
}

fn required_path(path: Option<String>) -> ApiResult<String> {
    workspace_path(&path.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::missing("path"))?)
}

async fn mkdirs(Ax(state): Ax<AppState>, Body(body): Body<PathBody>) -> ApiResult<Json<Value>> {
    let path = required_path(body.path)?;
    let mut ws = lock(&state.workspace);
    let mut missing = Vec::new();
    let mut current = path.as_str();
    loop {
        match ws.objects.get(current) {
            Some(o) if o.content.is_dir() => break,
            Some(o) => {
                return Err(ApiError::already_exists(format!(
                    "Cannot create folder ({path}): ({current}) already exists and is a {}.",
                    kind_word(o)
                )));
            }
            None => missing.push(current.to_string()),
        }
        current = parent_of(current);
    }
    if missing.is_empty() {
        return Ok(Json(json!({})));
    }
    let now = crate::now_ms();
    for folder in missing.into_iter().rev() {
        let id = ws.allocate_id();
        ws.objects.insert(folder, Object { id, created_at: now, modified_at: now, content: Content::Directory });
    }
    save(&state, &ws)?;
    Ok(Json(json!({})))
}

async fn delete(Ax(state): Ax<AppState>, Body(body): Body<PathBody>) -> ApiResult<Json<Value>> {
    let path = required_path(body.path)?;
    if builtin_folders().contains(&path) {
        return Err(ApiError::new(400, "DIRECTORY_PROTECTED", format!("Folder ({path}) is protected.")));
    }
    let mut ws = lock(&state.workspace);
    let object = ws.objects.get(&path).ok_or_else(|| doesnt_exist(&path))?;
    if object.content.is_dir() && ws.has_children(&path) {
        if !body.recursive.unwrap_or(false) {
            return Err(ApiError::new(
                400,
                "DIRECTORY_NOT_EMPTY",
                format!("Folder ({path}) is not empty; delete it with recursive=true."),
            ));
        }
        let prefix = child_prefix(&path);
        let doomed: Vec<String> = ws
            .objects
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect();
        for p in doomed {
            ws.objects.remove(&p);
        }
    }
    ws.objects.remove(&path);
    save(&state, &ws)?;
    Ok(Json(json!({})))
}
