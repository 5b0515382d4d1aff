//! Error mapping: every answer shape becomes one typed error, and no error shows the token.

mod common;

use common::{TOKEN, client, envelope};
use databricks_client::{Error, ErrorKind};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn get_cluster_error(template: ResponseTemplate) -> Error {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/api/2.1/clusters/get")).respond_with(template).mount(&server).await;
    let err = client(&server).clusters_get().cluster_id("c-404").send().await.expect_err("fails");
    Error::from(err)
}

#[tokio::test]
async fn the_envelope_is_kept_whole() {
    let err = get_cluster_error(
        ResponseTemplate::new(404).set_body_json(envelope("RESOURCE_DOES_NOT_EXIST", "Cluster c-404 is gone")),
    )
    .await;
    let api = err.api().expect("api error");
    assert_eq!(api.status, 404);
    assert_eq!(api.error_code.as_deref(), Some("RESOURCE_DOES_NOT_EXIST"));
    assert_eq!(api.message, "Cluster c-404 is gone");
    assert_eq!(api.request_id.as_deref(), Some("req-42"));
    assert_eq!(api.details.len(), 1);
    assert_eq!(api.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "RESOURCE_DOES_NOT_EXIST (HTTP 404): Cluster c-404 is gone [request id req-42]");
}

#[tokio::test]
async fn a_400_that_says_does_not_exist_is_not_found() {
    let err = get_cluster_error(
        ResponseTemplate::new(400).set_body_json(envelope("INVALID_PARAMETER_VALUE", "Cluster c-404 does not exist")),
    )
    .await;
    assert!(err.is_not_found(), "{err:?}");
    let other =
        get_cluster_error(ResponseTemplate::new(400).set_body_json(envelope("INVALID_PARAMETER_VALUE", "bad size")))
            .await;
    assert_eq!(other.kind(), Some(ErrorKind::InvalidParameterValue));
}

#[tokio::test]
async fn status_decides_when_the_code_is_unknown() {
    let cases = [
        (401, ErrorKind::Unauthenticated),
        (403, ErrorKind::PermissionDenied),
        (409, ErrorKind::ResourceConflict),
        (501, ErrorKind::NotImplemented),
        (504, ErrorKind::DeadlineExceeded),
    ];
    for (status, kind) in cases {
        let err = get_cluster_error(ResponseTemplate::new(status).set_body_json(envelope("SOMETHING_NEW", "x"))).await;
        assert_eq!(err.kind(), Some(kind), "status {status}");
    }
}

#[tokio::test]
async fn legacy_and_non_json_bodies_keep_their_message() {
    let err =
        get_cluster_error(ResponseTemplate::new(400).set_body_json(json!({"error": "Context ctx-1 not found"}))).await;
    assert_eq!(err.api().map(|a| a.message.as_str()), Some("Context ctx-1 not found"));

    let err =
        get_cluster_error(ResponseTemplate::new(502).set_body_string("<html><title>Bad gateway</title></html>")).await;
    assert_eq!(err.api().map(|a| (a.status, a.message.as_str())), Some((502, "Bad gateway")));

    let err =
        get_cluster_error(ResponseTemplate::new(400).set_body_string("INVALID_STATE: cluster is terminating")).await;
    let api = err.api().expect("api");
    assert_eq!((api.error_code.as_deref(), api.message.as_str()), (Some("INVALID_STATE"), "cluster is terminating"));

    let err = get_cluster_error(ResponseTemplate::new(403)).await;
    assert_eq!(err.api().map(|a| a.message.as_str()), Some("Forbidden"));
}

#[tokio::test]
async fn errors_and_debug_output_never_show_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.1/clusters/get"))
        .respond_with(ResponseTemplate::new(401).set_body_json(envelope("UNAUTHENTICATED", "Invalid access token")))
        .mount(&server)
        .await;
    let c = client(&server);
    let err = Error::from(c.clusters_get().cluster_id("c-1").send().await.expect_err("401"));
    for text in [err.to_string(), format!("{err:?}"), format!("{c:?}")] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
}
