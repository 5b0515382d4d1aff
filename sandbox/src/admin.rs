//! The plumbing around every service: bearer-token auth, the request log, fault
//! injection, the admin routes under `/__sandbox/`, OIDC for machine-to-machine
//! clients, and a 501 for routes the sandbox does not implement.
//!
//! Admin routes (no auth):
//! - `POST /__sandbox/faults` adds a [`Fault`]; `GET` lists them; `DELETE` clears them.
//! - `GET /__sandbox/requests` returns the request log; `DELETE` clears it.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State as AxState};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Body;

/// The prefix reserved for the sandbox's own routes.
pub const ADMIN_PREFIX: &str = "/__sandbox";
const LOG_CAPACITY: usize = 100_000;

#[derive(Default)]
pub struct State {
    faults: Mutex<Vec<Fault>>,
    log: Mutex<VecDeque<LoggedRequest>>,
    oauth_tokens: Mutex<HashSet<String>>,
}

/// A fault injected on a route.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method to match; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Exact request path to match, e.g. `/api/2.1/clusters/get`.
    pub path: String,
    /// How many matching requests the fault applies to. Default 1.
    #[serde(default = "one")]
    pub times: u32,
    /// Matching requests to let through untouched before the fault starts. Default 0.
    #[serde(default)]
    pub skip: u32,
    #[serde(flatten)]
    pub kind: FaultKind,
}

fn one() -> u32 {
    1
}

/// What happens to a request the fault applies to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status in the standard envelope, without running the call.
    Status {
        status: u16,
        #[serde(default)]
        error_code: Option<String>,
        #[serde(default)]
        message: Option<String>,
        /// Seconds for a `Retry-After` header.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Wait this long, then run the call normally.
    Delay { delay_ms: u64 },
    /// Close the connection without answering, without running the call.
    Drop,
    /// Run the call (its state change happens), then close the connection without answering.
    LoseResponse,
    /// Run the call, then send only the first half of its body.
    Truncate,
    /// Answer 200 with a body that is not JSON, without running the call.
    InvalidJson,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The query string, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The status sent; 0 when the connection was closed without an answer.
    pub status: u16,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
}

impl State {
    fn take_fault(&self, method: &Method, path: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let index = faults.iter().position(|f| {
            f.path == path && f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
        })?;
        let fault = &mut faults[index];
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        let kind = fault.kind.clone();
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            faults.remove(index);
        }
        Some(kind)
    }

    fn record(&self, entry: LoggedRequest) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// The requests served so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    /// Add a fault (in-process equivalent of `POST /__sandbox/faults`).
    pub fn add_fault(&self, fault: Fault) {
        self.faults.lock().unwrap_or_else(|p| p.into_inner()).push(fault);
    }
}

/// Wrap the service routes with the plumbing and add the admin and OIDC routes.
pub fn wrap(api: Router<AppState>, state: AppState) -> Router {
    let open = Router::new()
        .route(&format!("{ADMIN_PREFIX}/faults"), get(list_faults).post(add_fault).delete(clear_faults))
        .route(&format!("{ADMIN_PREFIX}/requests"), get(list_requests).delete(clear_requests))
        .route("/.well-known/databricks-config", get(|| async { not_implemented_here("host metadata") }))
        .route("/oidc/.well-known/oauth-authorization-server", get(oidc_metadata))
        .route("/oidc/v1/token", post(oidc_token));
    let guarded = api
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(state.clone(), inject_faults))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    open.merge(guarded)
        .layer(axum::extract::DefaultBodyLimit::max(state.options.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), log_requests))
        .with_state(state)
}

fn not_implemented_here(what: &str) -> Response {
    ApiError::new(404, "NOT_FOUND", format!("The sandbox publishes no {what}; use a token or OAuth M2M."))
        .into_response()
}

async fn unknown_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(501, "NOT_IMPLEMENTED", format!("The sandbox does not implement {method} {}.", uri.path()))
}

async fn log_requests(AxState(state): AxState<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    // A response that never comes back (a dropped connection) unwinds through here;
    // log it as status 0 and let the unwind close the connection.
    let guard = DropGuard { state: state.clone(), entry: Some((method, path, query)) };
    let response = next.run(request).await;
    guard.finish(response.status().as_u16());
    response
}

struct DropGuard {
    state: AppState,
    entry: Option<(String, String, Option<String>)>,
}

impl DropGuard {
    fn finish(mut self, status: u16) {
        if let Some((method, path, query)) = self.entry.take() {
            self.state.admin.record(LoggedRequest { method, path, query, status, time_ms: crate::now_ms() });
        }
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some((method, path, query)) = self.entry.take() {
            self.state.admin.record(LoggedRequest { method, path, query, status: 0, time_ms: crate::now_ms() });
        }
    }
}

async fn authenticate(AxState(state): AxState<AppState>, request: Request, next: Next) -> Response {
    let header = request.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))).map(str::trim);
    let accepted = match (token, &state.options.token) {
        (None, _) | (Some(""), _) => Err("Missing credentials: send an `Authorization: Bearer <token>` header."),
        (Some(t), Some(expected))
            if t != expected && !state.admin.oauth_tokens.lock().unwrap_or_else(|p| p.into_inner()).contains(t) =>
        {
            Err("Invalid access token.")
        }
        _ => Ok(()),
    };
    match accepted {
        Ok(()) => next.run(request).await,
        Err(message) => ApiError::unauthenticated(message).into_response(),
    }
}

/// Close the connection without an answer: unwinding the connection's task makes
/// hyper drop the socket. `resume_unwind` skips the panic hook, so nothing is printed.
fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("sandbox fault: connection dropped"))
}

async fn inject_faults(AxState(state): AxState<AppState>, request: Request, next: Next) -> Response {
    let Some(kind) = state.admin.take_fault(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    tracing::debug!(path = request.uri().path(), ?kind, "injecting a fault");
    match kind {
        FaultKind::Status { status, error_code, message, retry_after } => {
            let code = error_code.unwrap_or_else(|| default_code(status).to_string());
            let mut error =
                ApiError::new(status, &code, message.unwrap_or_else(|| format!("Injected fault: HTTP {status}.")));
            error.retry_after = retry_after;
            error.into_response()
        }
        FaultKind::Delay { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            next.run(request).await
        }
        FaultKind::Drop => drop_connection(),
        FaultKind::LoseResponse => {
            let _ = next.run(request).await;
            drop_connection()
        }
        FaultKind::Truncate => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            let mut response = Response::from_parts(parts, axum::body::Body::from(half));
            response.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
            response
        }
        FaultKind::InvalidJson => {
            (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], "{\"not json").into_response()
        }
    }
}

fn default_code(status: u16) -> &'static str {
    match status {
        400 => "INVALID_PARAMETER_VALUE",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "RESOURCE_DOES_NOT_EXIST",
        409 => "RESOURCE_CONFLICT",
        429 => "REQUEST_LIMIT_EXCEEDED",
        503 => "TEMPORARILY_UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL_ERROR",
    }
}

async fn list_faults(AxState(state): AxState<AppState>) -> axum::Json<serde_json::Value> {
    let faults = state.admin.faults.lock().unwrap_or_else(|p| p.into_inner()).clone();
    axum::Json(json!({ "faults": faults }))
}

async fn add_fault(
    AxState(state): AxState<AppState>,
    Body(fault): Body<Fault>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    if !fault.path.starts_with('/') {
        return Err(ApiError::invalid("A fault's path must start with '/', e.g. /api/2.1/clusters/get."));
    }
    if fault.times == 0 {
        return Err(ApiError::invalid("A fault's times must be at least 1."));
    }
    state.admin.add_fault(fault);
    Ok(axum::Json(json!({})))
}

async fn clear_faults(AxState(state): AxState<AppState>) -> axum::Json<serde_json::Value> {
    state.admin.faults.lock().unwrap_or_else(|p| p.into_inner()).clear();
    axum::Json(json!({}))
}

async fn list_requests(AxState(state): AxState<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "requests": state.admin.requests() }))
}

async fn clear_requests(AxState(state): AxState<AppState>) -> axum::Json<serde_json::Value> {
    state.admin.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    axum::Json(json!({}))
}

async fn oidc_metadata(AxState(state): AxState<AppState>) -> axum::Json<serde_json::Value> {
    let base = &state.base_url;
    axum::Json(json!({
        "issuer": format!("{base}/oidc"),
        "token_endpoint": format!("{base}/oidc/v1/token"),
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}

/// The client-credentials grant. Any client is accepted unless the sandbox was
/// started with `--token`, in which case the client secret must equal that token.
async fn oidc_token(AxState(state): AxState<AppState>, request: Request) -> Response {
    use base64::Engine;
    let basic = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024).await.unwrap_or_default();
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
    };
    if field("grant_type").as_deref() != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Only client_credentials is supported.");
    }
    let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((id, secret)) => (decode_form(id), decode_form(secret)),
        None => (field("client_id").unwrap_or_default(), field("client_secret").unwrap_or_default()),
    };
    if id.is_empty() || secret.is_empty() {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client id and secret are required.");
    }
    if let Some(expected) = &state.options.token
        && &secret != expected
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed.");
    }
    let token = format!("sandbox-oauth-{}", uuid::Uuid::new_v4().simple());
    state.admin.oauth_tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(token.clone());
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "all-apis"}))
        .into_response()
}

fn decode_form(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}
