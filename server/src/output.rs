//! What tools return, and how Databricks errors reach the agent.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

/// A tool's successful result: text for the model, and structured JSON when the
/// tool has a natural object to return.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub text: String,
    pub structured: Option<Value>,
}

impl ToolOutput {
    /// Plain text.
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), structured: None }
    }

    /// A JSON value, shown as pretty JSON text and returned as structured content
    /// when it is an object.
    pub fn json(value: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        let structured = value.is_object().then_some(value);
        Self { text, structured }
    }

    /// Text plus a structured object.
    pub fn with_structured(text: impl Into<String>, value: Value) -> Self {
        Self { text: text.into(), structured: value.is_object().then_some(value) }
    }

    pub fn into_result(self) -> CallToolResult {
        let mut result = CallToolResult::success(vec![ContentBlock::text(self.text)]);
        result.structured_content = self.structured;
        result
    }
}

/// Why a tool did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's schema: a protocol error naming the field.
    #[error("{0}")]
    InvalidArguments(String),
    /// Databricks answered with an error.
    #[error(transparent)]
    Databricks(#[from] databricks_client::Error),
    /// The tool ran and failed for a reason it explains (a failed statement, a run that
    /// ended badly, a refused confirmation).
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }
}

impl From<databricks_client::CallError> for ToolError {
    fn from(e: databricks_client::CallError) -> Self {
        ToolError::Databricks(e.into())
    }
}

impl From<databricks_client::wait::WaitError> for ToolError {
    fn from(e: databricks_client::wait::WaitError) -> Self {
        match e {
            databricks_client::wait::WaitError::Api(e) => ToolError::Databricks(e),
            other => ToolError::Failed(other.to_string()),
        }
    }
}

/// The text of a Databricks error as the agent sees it: status, code, message and
/// request id, how many attempts were made, and what to do next when that is not
/// obvious from the message.
pub fn describe_databricks_error(e: &databricks_client::Error) -> String {
    use databricks_client::{Error, ErrorKind};
    match e {
        Error::Api(api) => {
            let mut text = format!("Databricks returned HTTP {}", api.status);
            if let Some(code) = &api.error_code {
                text.push_str(&format!(" {code}"));
            }
            text.push_str(&format!(": {}", api.message));
            if let Some(id) = &api.request_id {
                text.push_str(&format!(" (request id {id})"));
            }
            if api.attempts > 1 {
                text.push_str(&format!(" after {} attempts", api.attempts));
            }
            if matches!(
                api.kind(),
                ErrorKind::TooManyRequests | ErrorKind::ResourceExhausted | ErrorKind::TemporarilyUnavailable
            ) {
                text.push_str(
                    ". Databricks is rate limiting or briefly unavailable, and the server's retry budget for this \
                     call is spent; wait a minute and call again",
                );
            }
            text
        }
        Error::Transport(_) | Error::Decode(_) => format!(
            "{e}. Calls that are safe to repeat were retried until the retry budget ran out; a call that changes \
             the workspace is never sent again once it may have taken effect, so check its effect (get or list \
             what it changes) before calling it again"
        ),
        other => other.to_string(),
    }
}
