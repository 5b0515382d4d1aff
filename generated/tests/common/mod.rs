//! Shared set-up for the client tests: a client pointed at an in-process mock.
#![allow(dead_code)]

use std::time::Duration;

use databricks_client::{Client, Config};
use wiremock::MockServer;

pub const TOKEN: &str = "dapi-test-token-5f0c1e";

/// A client for `server` with a PAT, short backoff steps and the given retry deadline.
pub fn client_with_deadline(server: &MockServer, deadline: Duration) -> Client {
    let config = Config::new()
        .with_host(server.uri())
        .with_token(TOKEN)
        .with_retry_backoff_unit(Duration::from_millis(5))
        .with_retry_timeout(deadline)
        .with_http_timeout(Duration::from_secs(5));
    Client::from_config(config).expect("client")
}

pub fn client(server: &MockServer) -> Client {
    client_with_deadline(server, Duration::from_secs(10))
}

/// The standard Databricks error envelope.
pub fn envelope(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "error_code": code,
        "message": message,
        "details": [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "request_id": "req-42", "serving_data": ""}]
    })
}
