//! Every pagination style Databricks uses, consumed as streams.

mod common;

use common::client;
use databricks_client::{ClientPagesExt, Error, types};
use futures::TryStreamExt;
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn cluster_pages_follow_tokens_until_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/list"))
        .and(query_param_is_missing("page_token"))
        .and(query_param("page_size", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"clusters": [{"cluster_id": "a"}, {"cluster_id": "b"}], "next_page_token": "t1"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/list"))
        .and(query_param("page_token", "t1"))
        .and(query_param("page_size", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"clusters": [{"cluster_id": "c"}], "next_page_token": ""})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let ids: Vec<String> = client(&server)
        .clusters_list_all(|b| b.page_size(2))
        .map_ok(|c| c.cluster_id.unwrap_or_default())
        .try_collect()
        .await
        .expect("listed");
    assert_eq!(ids, ["a", "b", "c"]);
}

#[tokio::test]
async fn unity_catalog_empty_pages_with_a_token_do_not_end_the_listing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/unity-catalog/catalogs"))
        .and(query_param_is_missing("page_token"))
        .and(query_param("max_results", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"catalogs": [], "next_page_token": "p2"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/unity-catalog/catalogs"))
        .and(query_param("page_token", "p2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"catalogs": [{"name": "main"}], "next_page_token": "p3"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/unity-catalog/catalogs"))
        .and(query_param("page_token", "p3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let names: Vec<String> = client(&server)
        .catalogs_list_all(|b| b)
        .map_ok(|c| c.name.unwrap_or_default())
        .try_collect()
        .await
        .expect("listed");
    assert_eq!(names, ["main"]);
}

#[tokio::test]
async fn a_repeated_token_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.2/jobs/list"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"jobs": [{"job_id": 1}], "next_page_token": "same"})),
        )
        .mount(&server)
        .await;
    let result: Result<Vec<types::BaseJob>, Error> = client(&server).jobs_list_all(|b| b).try_collect().await;
    let err = result.expect_err("stops");
    assert!(err.to_string().contains("page token \"same\" again"), "{err}");
    assert_eq!(server.received_requests().await.expect("recorded").len(), 2);
}

#[tokio::test]
async fn cluster_events_follow_the_next_page_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/2.1/clusters/events"))
        .and(body_partial_json(json!({"cluster_id": "c-1", "limit": 2})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "events": [{"cluster_id": "c-1", "type": "CREATING"}, {"cluster_id": "c-1", "type": "STARTING"}],
            "next_page": {"cluster_id": "c-1", "limit": 2, "offset": 2}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/2.1/clusters/events"))
        .and(body_partial_json(json!({"cluster_id": "c-1", "offset": 2})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"events": [{"cluster_id": "c-1", "type": "RUNNING"}]})),
        )
        .mount(&server)
        .await;
    let body: types::ClustersEventsBody =
        serde_json::from_value(json!({"cluster_id": "c-1", "limit": 2})).expect("body");
    let kinds: Vec<String> = client(&server)
        .clusters_events_all(body)
        .map_ok(|e| e.type_.map(|t| t.to_string()).unwrap_or_default())
        .try_collect()
        .await
        .expect("listed");
    assert_eq!(kinds, ["CREATING", "STARTING", "RUNNING"]);
}

#[tokio::test]
async fn jobs_get_all_appends_inner_array_pages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.2/jobs/get"))
        .and(query_param_is_missing("page_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "job_id": 3, "has_more": true, "next_page_token": "n1",
            "settings": {"name": "big", "tasks": [{"task_key": "t1"}, {"task_key": "t2"}], "job_clusters": [{"job_cluster_key": "k1"}]}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.2/jobs/get"))
        .and(query_param("page_token", "n1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "job_id": 3, "settings": {"name": "big", "tasks": [{"task_key": "t3"}], "job_clusters": [{"job_cluster_key": "k2"}]}
        })))
        .mount(&server)
        .await;
    let job = client(&server).jobs_get_all(3).await.expect("assembled");
    let settings = job.settings.expect("settings");
    let keys: Vec<&str> = settings.tasks.iter().map(|t| t.task_key.as_str()).collect();
    assert_eq!(keys, ["t1", "t2", "t3"]);
    assert_eq!(settings.job_clusters.len(), 2);
    assert_eq!(job.next_page_token, None);
    assert_eq!(job.has_more, None);
}

#[tokio::test]
async fn jobs_get_run_all_appends_tasks() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.2/jobs/runs/get"))
        .and(query_param_is_missing("page_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"run_id": 8, "tasks": [{"task_key": "a"}], "next_page_token": "r2"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.2/jobs/runs/get"))
        .and(query_param("page_token", "r2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"run_id": 8, "tasks": [{"task_key": "b"}]})))
        .mount(&server)
        .await;
    let run = client(&server).jobs_get_run_all(8).await.expect("assembled");
    assert_eq!(run.tasks.len(), 2);
}
