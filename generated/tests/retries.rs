//! Retries: which answers are retried, how long for, and that a retried run
//! submission can never start a second run.

mod common;

use std::time::Duration;

use common::{TOKEN, client, client_with_deadline, envelope};
use databricks_client::types;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn cluster_json() -> Value {
    json!({"cluster_id": "c-1", "cluster_name": "etl", "state": "RUNNING"})
}

#[tokio::test]
async fn rate_limits_and_unavailability_are_retried_until_success() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0")
                .set_body_json(envelope("REQUEST_LIMIT_EXCEEDED", "slow down")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .up_to_n_times(2)
        .with_priority(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .and(query_param("cluster_id", "c-1"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(cluster_json()))
        .with_priority(3)
        .expect(1)
        .mount(&server)
        .await;

    let cluster = client(&server).clusters_get().cluster_id("c-1").send().await.expect("retried to success");
    assert_eq!(cluster.cluster_name.as_deref(), Some("etl"));
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_json(envelope("REQUEST_LIMIT_EXCEEDED", "slow down")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client_with_deadline(&server, Duration::from_secs(2))
        .clusters_get()
        .cluster_id("c-1")
        .send()
        .await
        .expect_err("gives up");
    let err = databricks_client::Error::from(err);
    let api = err.api().expect("an API error");
    assert_eq!(api.status, 429);
    assert_eq!(api.attempts, 1);
}

#[tokio::test]
async fn attempts_are_bounded_by_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .respond_with(ResponseTemplate::new(503).set_body_json(envelope("TEMPORARILY_UNAVAILABLE", "try later")))
        .mount(&server)
        .await;
    let err = client_with_deadline(&server, Duration::from_millis(300))
        .clusters_get()
        .cluster_id("c-1")
        .send()
        .await
        .expect_err("the budget runs out");
    let err = databricks_client::Error::from(err);
    let api = err.api().expect("an API error");
    let sent = server.received_requests().await.expect("recorded").len();
    assert_eq!(api.status, 503);
    assert!(api.attempts > 1, "never retried");
    assert_eq!(api.attempts as usize, sent, "attempts reported differ from requests sent");
    assert!(err.to_string().contains(&format!("after {sent} attempts")), "{err}");
}

#[tokio::test]
async fn transient_messages_are_retried_and_other_errors_are_not() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .and(query_param("cluster_id", "warming"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(envelope("INVALID_STATE", "ClusterNotReadyException: driver starting")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .and(query_param("cluster_id", "warming"))
        .respond_with(ResponseTemplate::new(200).set_body_json(cluster_json()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .and(query_param("cluster_id", "bad"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(envelope("INVALID_PARAMETER_VALUE", "cluster_id is malformed")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    c.clusters_get().cluster_id("warming").send().await.expect("transient error retried");
    let err = databricks_client::Error::from(c.clusters_get().cluster_id("bad").send().await.expect_err("not retried"));
    assert_eq!(err.api().map(|a| a.attempts), Some(1));
}

#[tokio::test]
async fn a_retried_run_submission_reuses_one_idempotency_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/2.2/jobs/run-now"))
        .respond_with(ResponseTemplate::new(503).set_body_json(envelope("TEMPORARILY_UNAVAILABLE", "busy")))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/2.2/jobs/run-now"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"run_id": 77, "number_in_job": 77})))
        .with_priority(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let body = types::JobsRunNowBody::builder().job_id(5);
    let run = c.jobs_run_now().body(body).send().await.expect("submitted");
    assert_eq!(run.run_id, Some(77));

    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 3);
    let tokens: Vec<String> = requests
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("json body");
            assert_eq!(body["job_id"], 5);
            body["idempotency_token"].as_str().expect("token present").to_string()
        })
        .collect();
    assert!(!tokens[0].is_empty());
    assert!(tokens.iter().all(|t| t == &tokens[0]), "tokens differ across retries: {tokens:?}");
}

#[tokio::test]
async fn a_callers_idempotency_token_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/2.2/jobs/runs/submit"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"run_id": 9})))
        .mount(&server)
        .await;
    let body =
        types::JobsSubmitRunBody::builder().run_name("once".to_string()).idempotency_token("mine-123".to_string());
    client(&server).jobs_submit_run().body(body).send().await.expect("submitted");
    let requests = server.received_requests().await.expect("recorded");
    let sent: Value = serde_json::from_slice(&requests[0].body).expect("json");
    assert_eq!(sent["idempotency_token"], "mine-123");
}

/// A bare TCP server that drops the first `drops` connections without answering,
/// then answers every request with `body`. Returns its URL and a connection counter.
async fn flaky_server(drops: usize, body: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buf).await;
                if n < drops {
                    drop(socket);
                    return;
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, count)
}

fn client_for(url: &str) -> databricks_client::Client {
    let config = databricks_client::Config::new()
        .with_host(url)
        .with_token(TOKEN)
        .with_retry_backoff_unit(Duration::from_millis(5))
        .with_retry_timeout(Duration::from_secs(5));
    databricks_client::Client::from_config(config).expect("client")
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_reads() {
    let (url, connections) = flaky_server(1, r#"{"cluster_id":"c-1","state":"RUNNING"}"#).await;
    let cluster = client_for(&url).clusters_get().cluster_id("c-1").send().await.expect("read retried");
    assert_eq!(cluster.cluster_id.as_deref(), Some("c-1"));
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_dropped_connection_is_not_resent_for_a_create() {
    let (url, connections) = flaky_server(1, r#"{"cluster_id":"c-2"}"#).await;
    let body = types::ClustersCreateBody::builder().spark_version("15.4.x-scala2.12".to_string());
    let err = client_for(&url).clusters_create().body(body).send().await.expect_err("not resent");
    let err = databricks_client::Error::from(err);
    assert!(matches!(err, databricks_client::Error::Transport(_)), "{err:?}");
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1, "a create was sent twice");
}

#[tokio::test]
async fn a_read_whose_body_is_cut_short_or_not_json_is_retried() {
    let server = MockServer::start().await;
    let whole = cluster_json().to_string();
    for (priority, body) in [(1, &whole[..whole.len() / 2]), (2, "{\"not json")] {
        Mock::given(method("GET"))
            .and(path("/api/2.1/clusters/get"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json"))
            .up_to_n_times(1)
            .with_priority(priority)
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .respond_with(ResponseTemplate::new(200).set_body_json(cluster_json()))
        .with_priority(3)
        .expect(1)
        .mount(&server)
        .await;
    let cluster = client(&server).clusters_get().cluster_id("c-1").send().await.expect("retried to a whole body");
    assert_eq!(cluster.cluster_name.as_deref(), Some("etl"));
}

#[tokio::test]
async fn a_malformed_body_is_reported_once_the_deadline_is_spent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{\"cluster_id\": \"c-", "application/json"))
        .mount(&server)
        .await;
    let err = client_with_deadline(&server, Duration::from_millis(300))
        .clusters_get()
        .cluster_id("c-1")
        .send()
        .await
        .expect_err("never a whole body");
    let err = databricks_client::Error::from(err);
    assert!(matches!(err, databricks_client::Error::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("cluster_id"), "the error shows the start of the body: {err}");
    assert!(server.received_requests().await.expect("recorded").len() > 1, "the read was retried");
}

#[tokio::test]
async fn a_write_with_a_malformed_body_is_not_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/2.1/clusters/create"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{\"cluster_id\": \"c-", "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let body = types::ClustersCreateBody::builder().spark_version("15.4.x-scala2.12".to_string());
    let err = client(&server).clusters_create().body(body).send().await.expect_err("malformed");
    assert!(matches!(databricks_client::Error::from(err), databricks_client::Error::Decode(_)));
}
