//! Databricks' error envelope: `{error_code, message, details}` with the real codes.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to the client in the standard envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 INVALID_PARAMETER_VALUE: a value has the wrong type, range or form.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_PARAMETER_VALUE", message)
    }

    /// 400 MALFORMED_REQUEST: the body is not the JSON the endpoint expects.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(400, "MALFORMED_REQUEST", message)
    }

    /// 400 INVALID_PARAMETER_VALUE for a required field that is absent.
    pub fn missing(field: &str) -> Self {
        Self::invalid(format!("Missing required field: {field}"))
    }

    /// 404 RESOURCE_DOES_NOT_EXIST.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "RESOURCE_DOES_NOT_EXIST", message)
    }

    /// 404 NOT_FOUND (the code the newer APIs, such as SQL and Unity Catalog, use).
    pub fn not_found_code(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }

    /// The clusters and jobs APIs' quirk: a missing cluster, job or run is a
    /// `400 INVALID_PARAMETER_VALUE` whose message says it does not exist.
    pub fn does_not_exist_400(message: impl Into<String>) -> Self {
        Self::invalid(message)
    }

    /// 400 RESOURCE_ALREADY_EXISTS.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(400, "RESOURCE_ALREADY_EXISTS", message)
    }

    /// 400 INVALID_STATE: the resource is not in a state that allows the call.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_STATE", message)
    }

    /// 401: no token, or not the token the sandbox was started with.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "UNAUTHENTICATED", message)
    }

    /// 500 INTERNAL_ERROR.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "INTERNAL_ERROR", message)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error_code": self.code,
            "message": self.message,
            "details": [{
                "@type": "type.googleapis.com/google.rpc.RequestInfo",
                "request_id": uuid::Uuid::new_v4().to_string(),
                "serving_data": "",
            }],
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
