//! The plumbing every service shares: auth, unknown routes, OAuth M2M, fault
//! injection, the request log, concurrency, and the binary itself.

use std::time::Duration;

use databricks_client::{Client, Config, Error};
use databricks_sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

fn options() -> SandboxOptions {
    SandboxOptions { transition_delay: Duration::ZERO, tpch_scale: 0.001, seed: false, ..SandboxOptions::default() }
}

async fn start(options: SandboxOptions) -> Sandbox {
    Sandbox::start("127.0.0.1:0".parse().expect("addr"), options).await.expect("sandbox starts")
}

fn client(sandbox: &Sandbox, token: &str) -> Client {
    let config = Config::new()
        .with_host(sandbox.url())
        .with_token(token)
        .with_retry_backoff_unit(Duration::from_millis(5))
        .with_retry_timeout(Duration::from_secs(10));
    Client::from_config(config).expect("client")
}

async fn admin(sandbox: &Sandbox, method: reqwest::Method, route: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut request = http.request(method, format!("{}/__sandbox/{route}", sandbox.url()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin call");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn statuses(sandbox: &Sandbox, path: &str) -> Vec<u64> {
    let (_, log) = admin(sandbox, reqwest::Method::GET, "requests", None).await;
    log["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["path"] == path)
        .map(|r| r["status"].as_u64().expect("status"))
        .collect()
}

const ME: &str = "/api/2.0/preview/scim/v2/Me";

#[tokio::test]
async fn tokens_are_checked_when_one_is_configured() {
    let open = start(options()).await;
    let me = client(&open, "anything").current_user_me().send().await.expect("any token works");
    assert_eq!(me.user_name.as_deref(), Some("sandbox-user@example.com"));

    let locked = start(SandboxOptions { token: Some("s3cret".into()), ..options() }).await;
    client(&locked, "s3cret").current_user_me().send().await.expect("the right token works");
    let err = Error::from(client(&locked, "wrong").current_user_me().send().await.expect_err("refused"));
    let api = err.api().expect("api error");
    assert_eq!((api.status, api.error_code.as_deref()), (401, Some("UNAUTHENTICATED")));

    let raw = reqwest::get(format!("{}{ME}", locked.url())).await.expect("sent");
    assert_eq!(raw.status().as_u16(), 401);
    let body: Value = raw.json().await.expect("envelope");
    assert_eq!(body["error_code"], "UNAUTHENTICATED");
    assert!(body["details"][0]["request_id"].is_string());
}

#[tokio::test]
async fn unknown_routes_get_a_501_naming_them_and_host_metadata_is_absent() {
    let sandbox = start(options()).await;
    let http = reqwest::Client::new();
    let response =
        http.get(format!("{}/api/2.0/pipelines", sandbox.url())).bearer_auth("t").send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 501);
    let body: Value = response.json().await.expect("envelope");
    assert_eq!(body["error_code"], "NOT_IMPLEMENTED");
    assert_eq!(body["message"], "The sandbox does not implement GET /api/2.0/pipelines.");

    let metadata = http.get(format!("{}/.well-known/databricks-config", sandbox.url())).send().await.expect("sent");
    assert_eq!(metadata.status().as_u16(), 404);
}

#[tokio::test]
async fn oauth_machine_to_machine_clients_work() {
    let sandbox = start(SandboxOptions { token: Some("m2m-secret".into()), ..options() }).await;
    let config = Config::new().with_host(sandbox.url()).with_client_id("my-sp").with_client_secret("m2m-secret");
    let m2m = Client::from_config(config).expect("client");
    assert_eq!(m2m.auth_type().to_string(), "oauth-m2m");
    m2m.current_user_me().send().await.expect("the issued token is accepted");
    m2m.current_user_me().send().await.expect("and reused");
    assert_eq!(statuses(&sandbox, "/oidc/v1/token").await, [200], "one token fetch for two calls");

    let bad = Config::new().with_host(sandbox.url()).with_client_id("my-sp").with_client_secret("wrong-secret-value");
    let err = Client::from_config(bad).expect("client").current_user_me().send().await.expect_err("refused");
    let text = Error::from(err).to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("wrong-secret-value"), "the secret leaked: {text}");
}

#[tokio::test]
async fn injected_rate_limits_are_retried_and_logged() {
    let sandbox = start(options()).await;
    let fault = json!({"path": ME, "times": 2, "kind": "status", "status": 429, "retry_after": 0});
    assert_eq!(admin(&sandbox, reqwest::Method::POST, "faults", Some(fault)).await.0, 200);
    client(&sandbox, "t").current_user_me().send().await.expect("retried past the faults");
    assert_eq!(statuses(&sandbox, ME).await, [429, 429, 200]);
    let (_, faults) = admin(&sandbox, reqwest::Method::GET, "faults", None).await;
    assert_eq!(faults["faults"], json!([]), "spent faults are removed");
}

#[tokio::test]
async fn a_fault_can_skip_requests_and_be_cleared() {
    let sandbox = start(options()).await;
    let fault = json!({"path": ME, "method": "GET", "skip": 1, "times": 5, "kind": "status", "status": 500});
    admin(&sandbox, reqwest::Method::POST, "faults", Some(fault)).await;
    let c = client(&sandbox, "t");
    c.current_user_me().send().await.expect("the first request is skipped by the fault");
    let err = Error::from(c.current_user_me().send().await.expect_err("500 is not retried"));
    assert_eq!(err.api().map(|a| a.status), Some(500));
    admin(&sandbox, reqwest::Method::DELETE, "faults", None).await;
    c.current_user_me().send().await.expect("cleared");
    assert_eq!(statuses(&sandbox, ME).await, [200, 500, 200]);
}

#[tokio::test]
async fn dropped_connections_and_broken_bodies() {
    let sandbox = start(options()).await;
    let c = client(&sandbox, "t");
    admin(&sandbox, reqwest::Method::POST, "faults", Some(json!({"path": ME, "kind": "drop"}))).await;
    c.current_user_me().send().await.expect("a read is resent after a dropped connection");
    assert_eq!(statuses(&sandbox, ME).await, [0, 200]);

    // A read whose 200 is cut off, or is not JSON, is read again (the client's
    // retry hook checks the body before the generated code decodes it).
    admin(&sandbox, reqwest::Method::POST, "faults", Some(json!({"path": ME, "kind": "truncate"}))).await;
    c.current_user_me().send().await.expect("a cut-off body is read again");
    admin(&sandbox, reqwest::Method::POST, "faults", Some(json!({"path": ME, "kind": "invalid_json"}))).await;
    c.current_user_me().send().await.expect("a body that is not JSON is read again");
    assert_eq!(statuses(&sandbox, ME).await, [0, 200, 200, 200, 200, 200]);

    // Without retries, the broken body is the caller's error.
    let once =
        Client::from_config(Config::new().with_host(sandbox.url()).with_token("t").with_retry_timeout(Duration::ZERO))
            .expect("client");
    admin(&sandbox, reqwest::Method::POST, "faults", Some(json!({"path": ME, "kind": "invalid_json"}))).await;
    let err = Error::from(once.current_user_me().send().await.expect_err("invalid"));
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    c.current_user_me().send().await.expect("serving afterwards");
}

#[tokio::test]
async fn bad_fault_definitions_are_refused() {
    let sandbox = start(options()).await;
    let (status, body) =
        admin(&sandbox, reqwest::Method::POST, "faults", Some(json!({"path": "api/x", "kind": "drop"}))).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let (status, body) =
        admin(&sandbox, reqwest::Method::POST, "faults", Some(json!({"path": "/x", "kind": "explode"}))).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn two_hundred_concurrent_requests_are_served() {
    let sandbox = start(options()).await;
    let c = client(&sandbox, "t");
    let calls = (0..200).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.current_user_me().send().await.map(|me| me.into_inner().user_name) })
    });
    for call in futures::future::join_all(calls).await {
        assert_eq!(call.expect("joined").expect("served").as_deref(), Some("sandbox-user@example.com"));
    }
    assert_eq!(statuses(&sandbox, ME).await.len(), 200);
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_databricks-sandbox"))
        .args(["--listen", "127.0.0.1:0", "--transition-delay", "0", "--tpch-scale", "0.001", "--token", "bin-token"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("printed in time")
        .expect("read")
        .expect("a first line");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let c = Client::from_config(Config::new().with_host(&url).with_token("bin-token")).expect("client");
    c.current_user_me().send().await.expect("served");
    child.kill().await.expect("killed");

    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_databricks-sandbox"))
        .args(["--transition-delay=-1"])
        .output()
        .await
        .expect("ran");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--transition-delay"));
}
