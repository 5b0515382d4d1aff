//! One error type for every call, with Databricks' error envelope kept whole.

use serde_json::Value;

use crate::config::ConfigError;
use crate::types;

/// Response header the retry hook adds to the response it gives up on, so the
/// error can say how many attempts were made.
pub(crate) const ATTEMPTS_HEADER: &str = "x-databricks-client-attempts";

/// Anything that can go wrong when calling Databricks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Databricks answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The configuration is incomplete or contradictory.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Credentials could not be obtained (for example, the OAuth token endpoint refused them).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Databricks could not be reached, or the connection broke.
    #[error("could not reach Databricks: {0}")]
    Transport(String),
    /// Databricks answered with a body this client cannot read.
    #[error("unexpected response from Databricks: {0}")]
    Decode(String),
    /// The request was rejected before it was sent (a missing required value, for example).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// The API error, when Databricks answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The error's class, following the status and `error_code` mapping of Databricks' SDKs.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.api().map(ApiError::kind)
    }

    /// True when the error means that the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ErrorKind::NotFound)
    }
}

/// An error answered by Databricks: the HTTP status and the decoded envelope
/// `{error_code, message, details}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Databricks' `error_code`, such as `RESOURCE_DOES_NOT_EXIST`; absent for some legacy endpoints.
    pub error_code: Option<String>,
    /// The human-readable message.
    pub message: String,
    /// The `details` array of the envelope, as sent.
    pub details: Vec<Value>,
    /// The request id, from the `RequestInfo` detail or the `x-request-id` header.
    pub request_id: Option<String>,
    /// How many times the request was sent before this answer was accepted as final.
    pub attempts: u32,
}

/// Classes of API error, as Databricks' SDKs define them. The `error_code` decides
/// first; the HTTP status decides when the code is absent or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    BadRequest,
    InvalidParameterValue,
    InvalidState,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    ResourceConflict,
    AlreadyExists,
    Aborted,
    TooManyRequests,
    ResourceExhausted,
    Cancelled,
    Internal,
    Unknown,
    DataLoss,
    NotImplemented,
    TemporarilyUnavailable,
    DeadlineExceeded,
    /// A status outside the mapping.
    Other,
}

impl ApiError {
    /// The class of this error. A `400 INVALID_PARAMETER_VALUE` whose message says a
    /// cluster, job or run "does not exist" counts as [`ErrorKind::NotFound`], as it does
    /// in Databricks' SDKs.
    pub fn kind(&self) -> ErrorKind {
        if self.status == 400
            && self.error_code.as_deref() == Some("INVALID_PARAMETER_VALUE")
            && says_does_not_exist(&self.message)
        {
            return ErrorKind::NotFound;
        }
        let by_code = match self.error_code.as_deref() {
            Some("INVALID_STATE") => Some(ErrorKind::InvalidState),
            Some("INVALID_PARAMETER_VALUE") => Some(ErrorKind::InvalidParameterValue),
            Some("RESOURCE_DOES_NOT_EXIST" | "NOT_FOUND") => Some(ErrorKind::NotFound),
            Some("ABORTED") => Some(ErrorKind::Aborted),
            Some("ALREADY_EXISTS" | "RESOURCE_ALREADY_EXISTS") => Some(ErrorKind::AlreadyExists),
            Some("RESOURCE_EXHAUSTED" | "REQUEST_LIMIT_EXCEEDED") => Some(ErrorKind::ResourceExhausted),
            Some("UNKNOWN") => Some(ErrorKind::Unknown),
            Some("DATA_LOSS") => Some(ErrorKind::DataLoss),
            Some("PERMISSION_DENIED") => Some(ErrorKind::PermissionDenied),
            Some("UNAUTHENTICATED") => Some(ErrorKind::Unauthenticated),
            _ => None,
        };
        by_code.unwrap_or(match self.status {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::ResourceConflict,
            429 => ErrorKind::TooManyRequests,
            499 => ErrorKind::Cancelled,
            500 => ErrorKind::Internal,
            501 => ErrorKind::NotImplemented,
            503 => ErrorKind::TemporarilyUnavailable,
            504 => ErrorKind::DeadlineExceeded,
            _ => ErrorKind::Other,
        })
    }

    pub(crate) fn from_envelope(status: u16, body: types::Error, headers: &reqwest::header::HeaderMap) -> Self {
        let request_id = body
            .details
            .iter()
            .find_map(|d| d.get("request_id").and_then(Value::as_str).map(str::to_string))
            .or_else(|| header(headers, "x-request-id"))
            .or_else(|| header(headers, "x-databricks-request-id"));
        let attempts = header(headers, ATTEMPTS_HEADER).and_then(|a| a.parse().ok()).unwrap_or(1);
        let message = body.message.filter(|m| !m.is_empty()).unwrap_or_else(|| {
            reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("error").to_string()
        });
        ApiError {
            status,
            error_code: body.error_code.filter(|c| !c.is_empty()),
            message,
            details: body.details.into_iter().map(|m| Value::Object(m.into_iter().collect())).collect(),
            request_id,
            attempts,
        }
    }
}

fn says_does_not_exist(message: &str) -> bool {
    ["Cluster ", "Job ", "Run "].iter().any(|p| message.starts_with(p)) && message.contains("does not exist")
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error_code {
            Some(code) => write!(f, "{code} (HTTP {}): {}", self.status, self.message)?,
            None => write!(f, "HTTP {}: {}", self.status, self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl From<progenitor_client::Error<types::Error>> for Error {
    fn from(e: progenitor_client::Error<types::Error>) -> Self {
        use progenitor_client::Error as P;
        match e {
            P::ErrorResponse(rv) => {
                let status = rv.status().as_u16();
                let headers = rv.headers().clone();
                Error::Api(ApiError::from_envelope(status, rv.into_inner(), &headers))
            }
            P::InvalidRequest(m) => Error::InvalidRequest(m),
            P::CommunicationError(e) | P::InvalidUpgrade(e) | P::ResponseBodyError(e) => {
                Error::Transport(describe_reqwest(&e))
            }
            P::InvalidResponsePayload(bytes, e) => Error::Decode(format!(
                "{e} (body starts with {:?})",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )),
            P::UnexpectedResponse(r) => Error::Decode(format!("unexpected HTTP status {}", r.status())),
            P::Custom(m) => Error::Auth(m),
        }
    }
}

/// A reqwest error with its causes, without the URL's query string.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = e.without_url_ref().to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if let Some(url) = e.url() {
        text.push_str(&format!(" ({} {})", url.host_str().unwrap_or(""), url.path()));
    }
    text
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        if self.is_timeout() {
            "the request timed out".into()
        } else if self.is_connect() {
            "could not connect".into()
        } else if self.is_body() || self.is_decode() {
            "the response body could not be read".into()
        } else {
            "the request failed".into()
        }
    }
}
