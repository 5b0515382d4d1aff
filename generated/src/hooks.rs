//! The hooks every generated call runs through: credentials, retries within a
//! deadline, idempotency tokens for run submissions, and one canonical error body.

use std::time::{Duration, Instant};

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde_json::{Map, Value, json};

use crate::Client;
use crate::auth::Credentials;
use crate::error::ATTEMPTS_HEADER;

/// How failed calls are retried.
///
/// Rate limits (429), unavailable services (503) and Databricks' known transient
/// errors are retried, sleeping `min(attempt, 10)` backoff units plus up to one unit of
/// jitter, or the server's integer `Retry-After`, until the overall `timeout`
/// runs out. Connection failures are retried when the request cannot have been
/// applied twice: reads, and calls that carry an idempotency token.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Overall deadline for one call, retries included. Default 5 minutes.
    pub timeout: Duration,
    /// One backoff step. Default 1 second; tests shrink it.
    pub backoff_unit: Duration,
    /// The largest number of backoff steps slept between attempts. Default 10.
    pub max_backoff_steps: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(300), backoff_unit: Duration::from_secs(1), max_backoff_steps: 10 }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let steps = attempt.min(self.max_backoff_steps);
        let jitter = self.backoff_unit.mul_f64(rand::random::<f64>());
        self.backoff_unit * steps + jitter
    }

    /// `wait`, if another attempt after it still starts before the deadline of a
    /// call that started at `started`.
    fn within(&self, started: Instant, wait: Duration) -> Option<Duration> {
        (started.elapsed() + wait < self.timeout).then_some(wait)
    }
}

pub(crate) struct Runtime {
    pub(crate) credentials: Credentials,
    pub(crate) retry: RetryPolicy,
    pub(crate) warehouse_id: Option<String>,
    pub(crate) cluster_id: Option<String>,
    pub(crate) profile: Option<String>,
}

/// POST operations that are safe to send again after a broken connection: they
/// carry an idempotency token, or repeating them changes nothing.
const SAFE_TO_RESEND: &[&str] = &[
    "jobs_run_now",
    "jobs_submit_run",
    "clusters_delete",
    "clusters_permanent_delete",
    "jobs_cancel_run",
    "statement_execution_cancel",
    "command_execution_cancel_command",
    "command_execution_destroy_context",
    "warehouses_start",
    "warehouses_stop",
    "dbfs_mkdirs",
    "workspace_mkdirs",
];

/// Operations whose request body gets an `idempotency_token` when the caller set none.
const NEEDS_IDEMPOTENCY_TOKEN: &[&str] = &["jobs_run_now", "jobs_submit_run"];

/// Substrings of error messages that Databricks' SDKs treat as transient.
const TRANSIENT_MESSAGES: &[&str] = &[
    "UnknownWorkerEnvironmentException",
    "does not have any associated worker environments",
    "There is no worker environment with id",
    "Unknown worker environment",
    "ClusterNotReadyException",
    "Unexpected error",
    "Please try again later or try a faster operation.",
    "RPC token bucket limit has been exceeded",
    "REQUEST_LIMIT_EXCEEDED",
];

impl ClientHooks<crate::Inner> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        if NEEDS_IDEMPOTENCY_TOKEN.contains(&info.operation_id) {
            add_idempotency_token(request);
        }
        Ok(())
    }

    async fn exec(&self, request: reqwest::Request, info: &OperationInfo) -> reqwest::Result<reqwest::Response> {
        let runtime = &self.inner().runtime;
        let policy = &runtime.retry;
        let started = Instant::now();
        let resendable = request.method() == reqwest::Method::GET
            || request.method() == reqwest::Method::HEAD
            || SAFE_TO_RESEND.contains(&info.operation_id);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let Some(mut this) = request.try_clone() else {
                // Streaming bodies cannot be replayed: send once.
                return self.client().execute(request).await;
            };
            match runtime.credentials.authorization().await {
                Ok(value) => {
                    this.headers_mut().insert(AUTHORIZATION, value);
                }
                Err(message) => return Ok(synthetic_error(401, "UNAUTHENTICATED", &message, attempt)),
            }
            let span = tracing::debug_span!("databricks", op = info.operation_id, attempt);
            let _enter = span.enter();
            let outcome = self.client().execute(this).await;
            // A success whose body breaks off or is not the JSON it claims to be is
            // retried like a broken connection, when sending again is safe.
            let outcome = match outcome {
                Ok(response) if response.status().is_success() && resendable => match read_whole_body(response).await {
                    Ok(whole) => return Ok(whole),
                    Err(BadBody::Unreadable(e)) => Err(e),
                    Err(BadBody::NotJson(response, reason)) => {
                        let Some(wait) = policy.within(started, policy.backoff(attempt)) else {
                            return Ok(response);
                        };
                        tracing::debug!(
                            op = info.operation_id,
                            attempt,
                            reason,
                            ?wait,
                            "retrying after a malformed body"
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                },
                other => other,
            };
            let wait = match &outcome {
                Ok(response) if response.status().is_success() => return outcome,
                Ok(response) if matches!(response.status().as_u16(), 429 | 503) => {
                    Some(retry_after(response).unwrap_or_else(|| policy.backoff(attempt)))
                }
                Ok(_) => None,
                Err(e)
                    if e.is_connect()
                        || (resendable && (e.is_timeout() || e.is_request() || e.is_body() || e.is_decode())) =>
                {
                    Some(policy.backoff(attempt))
                }
                Err(_) => None,
            };
            let response = match outcome {
                Ok(response) => response,
                Err(e) => {
                    let Some(wait) = wait.and_then(|w| policy.within(started, w)) else {
                        tracing::debug!(op = info.operation_id, attempt, "giving up after a transport error");
                        return Err(e);
                    };
                    tracing::debug!(op = info.operation_id, attempt, ?wait, "retrying after a transport error");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            // An error status: read the body once, decide, and hand on a canonical body.
            let (response, message) = normalize_error(response, attempt).await;
            let wait = wait
                .or_else(|| TRANSIENT_MESSAGES.iter().any(|t| message.contains(t)).then(|| policy.backoff(attempt)));
            match wait.and_then(|w| policy.within(started, w)) {
                Some(wait) => {
                    tracing::debug!(
                        op = info.operation_id,
                        attempt,
                        status = response.status().as_u16(),
                        ?wait,
                        "retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                None => return Ok(response),
            }
        }
    }
}

/// Why a successful response's body was not accepted.
enum BadBody {
    /// The body could not be read to its end (a connection that broke mid-body).
    Unreadable(reqwest::Error),
    /// The body was read but is not valid JSON although its content type says it is;
    /// the response is rebuilt from the bytes, for the caller to report.
    NotJson(reqwest::Response, String),
}

/// Read a successful response's body whole and check that a JSON body parses, then
/// hand on a response rebuilt from the bytes.
async fn read_whole_body(response: reqwest::Response) -> Result<reqwest::Response, BadBody> {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(BadBody::Unreadable)?;
    let says_json = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let problem = if says_json && !bytes.is_empty() {
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).err().map(|e| e.to_string())
    } else {
        None
    };
    let mut rebuilt = http::Response::new(bytes);
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    let response = reqwest::Response::from(rebuilt);
    match problem {
        Some(reason) => Err(BadBody::NotJson(response, reason)),
        None => Ok(response),
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

fn add_idempotency_token(request: &mut reqwest::Request) {
    let Some(bytes) = request.body().and_then(reqwest::Body::as_bytes) else { return };
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(bytes) else { return };
    if body.get("idempotency_token").and_then(Value::as_str).is_some_and(|t| !t.is_empty()) {
        return;
    }
    body.insert("idempotency_token".into(), Value::String(uuid::Uuid::new_v4().to_string()));
    if let Ok(new) = serde_json::to_vec(&body) {
        let len = new.len();
        *request.body_mut() = Some(new.into());
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            request.headers_mut().insert(reqwest::header::CONTENT_LENGTH, v);
        }
    }
}

/// Read an error response and rebuild it with a body in the standard envelope
/// `{error_code, message, details}`, whatever shape Databricks used (API 1.2's
/// `{"error": …}`, SCIM's `{detail, status}`, plain text, HTML, or nothing).
/// Returns the rebuilt response and the message, for the transient-error check.
async fn normalize_error(response: reqwest::Response, attempt: u32) -> (reqwest::Response, String) {
    let status = response.status();
    let mut headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_default();
    let envelope = canonical_envelope(status, &bytes);
    let message = envelope.get("message").and_then(Value::as_str).unwrap_or_default().to_string();
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    headers.remove(reqwest::header::CONTENT_LENGTH);
    headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&attempt.to_string()) {
        headers.insert(ATTEMPTS_HEADER, v);
    }
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    (reqwest::Response::from(rebuilt), message)
}

fn synthetic_error(status: u16, code: &str, message: &str, attempt: u32) -> reqwest::Response {
    let body =
        serde_json::to_vec(&json!({ "error_code": code, "message": message, "details": [] })).unwrap_or_default();
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::UNAUTHORIZED);
    rebuilt.headers_mut().insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&attempt.to_string()) {
        rebuilt.headers_mut().insert(ATTEMPTS_HEADER, v);
    }
    reqwest::Response::from(rebuilt)
}

pub(crate) fn canonical_envelope(status: reqwest::StatusCode, bytes: &[u8]) -> Value {
    let reason = status.canonical_reason().unwrap_or("error").to_string();
    let text = String::from_utf8_lossy(bytes).trim().to_string();
    let mut out = Map::new();
    let (code, message, details) = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(obj)) => {
            let code = obj.get("error_code").and_then(Value::as_str).map(str::to_string);
            let code = code.or_else(|| {
                obj.get("scimType")
                    .and(None::<String>)
                    .or_else(|| obj.get("detail").map(|_| format!("SCIM_{}", status.as_u16())))
            });
            let message = ["message", "error", "detail"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| reason.clone());
            let details = obj.get("details").and_then(Value::as_array).cloned().unwrap_or_default();
            (code, message, details)
        }
        _ if text.is_empty() => (None, reason, vec![]),
        _ if text.starts_with('<') => (None, html_message(&text).unwrap_or(reason), vec![]),
        _ => match text.split_once(": ") {
            Some((code, msg)) if !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                (Some(code.to_string()), msg.to_string(), vec![])
            }
            _ => (None, text.chars().take(2000).collect(), vec![]),
        },
    };
    if let Some(code) = code {
        out.insert("error_code".into(), Value::String(code));
    }
    out.insert("message".into(), Value::String(message));
    let details: Vec<Value> = details.into_iter().filter(Value::is_object).collect();
    out.insert("details".into(), Value::Array(details));
    Value::Object(out)
}

/// The text of an HTML error page's `<pre>` or `<title>`.
fn html_message(html: &str) -> Option<String> {
    for tag in ["pre", "title"] {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        if let Some(start) = html.find(&open) {
            let rest = &html[start + open.len()..];
            if let Some(end) = rest.find(&close) {
                let text = rest[..end].trim();
                if !text.is_empty() {
                    return Some(text.to_string());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn envelopes_of_every_shape_become_canonical() {
        let cases: &[(u16, &str, Value)] = &[
            (
                404,
                r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Path (/x) doesn't exist.","details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"r-1"}]}"#,
                json!({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Path (/x) doesn't exist.","details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"r-1"}]}),
            ),
            (400, r#"{"error":"Context abc not found"}"#, json!({"message":"Context abc not found","details":[]})),
            (
                404,
                r#"{"detail":"User not found","status":"404","schemas":[]}"#,
                json!({"error_code":"SCIM_404","message":"User not found","details":[]}),
            ),
            (400, r#"{"error_code":400,"message":"legacy"}"#, json!({"message":"legacy","details":[]})),
            (500, "", json!({"message":"Internal Server Error","details":[]})),
            (
                502,
                "<html><head><title>Bad gateway</title></head></html>",
                json!({"message":"Bad gateway","details":[]}),
            ),
            (
                400,
                "INVALID_STATE: cluster is terminating",
                json!({"error_code":"INVALID_STATE","message":"cluster is terminating","details":[]}),
            ),
            (403, "nope", json!({"message":"nope","details":[]})),
        ];
        for (status, body, want) in cases {
            let got = canonical_envelope(StatusCode::from_u16(*status).unwrap(), body.as_bytes());
            assert_eq!(&got, want, "body {body:?}");
        }
    }

    #[test]
    fn backoff_grows_to_a_cap_with_bounded_jitter() {
        let p = RetryPolicy { backoff_unit: Duration::from_millis(100), ..Default::default() };
        for attempt in 1..20 {
            let d = p.backoff(attempt);
            let steps = attempt.min(10);
            assert!(d >= Duration::from_millis(100 * u64::from(steps)));
            assert!(d <= Duration::from_millis(100 * u64::from(steps) + 100));
        }
    }
}
