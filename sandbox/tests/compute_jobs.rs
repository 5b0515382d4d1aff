//! Clusters, jobs and runs, and command execution, driven over real HTTP with the
//! generated client: lifecycles and waiters, paging, the 400 "does not exist"
//! quirk, runs that execute SQL notebooks, cancellation and persistence.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use databricks_client::wait::{self, WaitOptions};
use databricks_client::{Client, ClientPagesExt, Config, Error, types};
use databricks_sandbox::{Sandbox, SandboxOptions};
use futures::TryStreamExt;
use serde_json::{Value, json};

fn options() -> SandboxOptions {
    SandboxOptions { transition_delay: Duration::ZERO, tpch_scale: 0.001, seed: false, ..SandboxOptions::default() }
}

async fn start(options: SandboxOptions) -> Sandbox {
    Sandbox::start("127.0.0.1:0".parse().expect("addr"), options).await.expect("sandbox starts")
}

fn client(sandbox: &Sandbox) -> Client {
    let config = Config::new()
        .with_host(sandbox.url())
        .with_token("t")
        .with_retry_backoff_unit(Duration::from_millis(5))
        .with_retry_timeout(Duration::from_secs(10));
    Client::from_config(config).expect("client")
}

fn fast() -> WaitOptions {
    WaitOptions { timeout: Duration::from_secs(60), poll_unit: Duration::from_millis(10), ..WaitOptions::default() }
}

/// A raw call, for what the typed client cannot express.
async fn raw(sandbox: &Sandbox, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", sandbox.url())).bearer_auth("t");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn post(sandbox: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    raw(sandbox, reqwest::Method::POST, path, Some(body)).await
}

async fn get(sandbox: &Sandbox, path: &str) -> (u16, Value) {
    raw(sandbox, reqwest::Method::GET, path, None).await
}

fn api_error<T: std::fmt::Debug, E>(result: Result<T, E>) -> Error
where
    Error: From<E>,
{
    Error::from(result.expect_err("the call fails"))
}

fn text<S: std::ops::Deref<Target = String>>(s: &Option<S>) -> String {
    s.as_ref().map(|s| s.to_string()).unwrap_or_default()
}

fn body<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid request body")
}

async fn create_cluster(client: &Client, name: &str, workers: i64) -> String {
    let request: types::ClustersCreateBody = body(
        json!({"cluster_name": name, "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.large", "num_workers": workers}),
    );
    client.clusters_create().body(request).send().await.expect("create").into_inner().cluster_id.expect("cluster_id")
}

async fn cluster(client: &Client, id: &str) -> types::ClusterDetails {
    client.clusters_get().cluster_id(id).send().await.expect("get").into_inner()
}

async fn terminate(client: &Client, id: &str) {
    client.clusters_delete().body(types::ClustersDeleteBody { cluster_id: id.into() }).send().await.expect("delete");
}

// ---------------------------------------------------------------------------
// Clusters

#[tokio::test]
async fn cluster_lifecycle_with_waiters() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);

    // Validation.
    let (status, err) = post(&sandbox, "/api/2.1/clusters/create", json!({"cluster_name": "x"})).await;
    assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    assert!(err["message"].as_str().expect("message").contains("spark_version"), "{err}");
    let both = json!({"spark_version": "15.4.x-scala2.12", "num_workers": 1, "autoscale": {"min_workers": 1, "max_workers": 2}});
    let (status, err) = post(&sandbox, "/api/2.1/clusters/create", both).await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().expect("message").contains("num_workers"), "{err}");
    let (status, _) = post(&sandbox, "/api/2.1/clusters/create", json!({"spark_version": "banana"})).await;
    assert_eq!(status, 400);
    for size in [
        json!({"num_workers": i64::MAX}),
        json!({"num_workers": -1}),
        json!({"autoscale": {"min_workers": 3, "max_workers": 1}}),
    ] {
        let mut request = json!({"spark_version": "15.4.x-scala2.12"});
        request.as_object_mut().expect("object").extend(size.as_object().expect("object").clone());
        let (status, err) = post(&sandbox, "/api/2.1/clusters/create", request).await;
        assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{size}");
    }
    let (status, err) = post(&sandbox, "/api/2.1/clusters/create", json!({"spark_version": 15})).await;
    assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let (status, err) = raw(&sandbox, reqwest::Method::POST, "/api/2.1/clusters/create", None).await;
    assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));
    let bad_json = reqwest::Client::new()
        .post(format!("{}/api/2.1/clusters/create", sandbox.url()))
        .bearer_auth("t")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(bad_json.status().as_u16(), 400);
    assert_eq!(bad_json.json::<Value>().await.expect("json")["error_code"], "MALFORMED_REQUEST");

    // Create and wait.
    let id = create_cluster(&client, "lifecycle", 2).await;
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![4, 6, 8], "{id}");
    let running = wait::cluster_running(&client, &id, &fast()).await.expect("running");
    assert_eq!(text(&running.state), "RUNNING");
    assert_eq!(running.cluster_name.as_deref(), Some("lifecycle"));
    assert_eq!(running.num_workers, Some(2));
    assert_eq!(text(&running.cluster_source), "API");
    assert!(running.spark_context_id.is_some());
    assert_eq!(running.executors.len(), 2);
    assert_eq!(running.default_tags.get("ClusterId"), Some(&id));
    assert_eq!(running.spec.as_ref().and_then(|s| s.spark_version.clone()).as_deref(), Some("15.4.x-scala2.12"));

    // Starting a running cluster is refused.
    let err = api_error(client.clusters_start().body(types::ClustersStartBody { cluster_id: id.clone() }).send().await);
    let api = err.api().expect("api error");
    assert_eq!((api.status, api.error_code.as_deref()), (400, Some("INVALID_STATE")));

    // Edit a running cluster: it restarts.
    let edit: types::ClustersEditBody = body(json!({
        "cluster_id": id, "cluster_name": "edited", "spark_version": "16.4.x-scala2.12",
        "node_type_id": "m5d.xlarge", "num_workers": 1
    }));
    client.clusters_edit().body(edit).send().await.expect("edit");
    let edited = wait::cluster_running(&client, &id, &fast()).await.expect("running after edit");
    assert_eq!(edited.cluster_name.as_deref(), Some("edited"));
    assert_eq!(edited.spark_version.as_deref(), Some("16.4.x-scala2.12"));

    // Restart.
    let before = edited.spark_context_id;
    client
        .clusters_restart()
        .body(body::<types::ClustersRestartBody>(json!({"cluster_id": id})))
        .send()
        .await
        .expect("restart");
    let restarted = wait::cluster_running(&client, &id, &fast()).await.expect("running after restart");
    assert_ne!(restarted.spark_context_id, before, "a restart replaces the Spark context");

    // Resize to a fixed size, then to autoscaling.
    client
        .clusters_resize()
        .body(body::<types::ClustersResizeBody>(json!({"cluster_id": id, "num_workers": 4})))
        .send()
        .await
        .expect("resize");
    let resized = wait::cluster_running(&client, &id, &fast()).await.expect("running after resize");
    assert_eq!(resized.num_workers, Some(4));
    client
        .clusters_resize()
        .body(body::<types::ClustersResizeBody>(
            json!({"cluster_id": id, "autoscale": {"min_workers": 1, "max_workers": 3}}),
        ))
        .send()
        .await
        .expect("resize to autoscale");
    let scaled = wait::cluster_running(&client, &id, &fast()).await.expect("running");
    assert_eq!(scaled.autoscale.as_ref().and_then(|a| a.max_workers), Some(3));
    let (status, _) = post(&sandbox, "/api/2.1/clusters/resize", json!({"cluster_id": id})).await;
    assert_eq!(status, 400, "resize needs num_workers or autoscale");

    // Terminate.
    terminate(&client, &id).await;
    let terminated = wait::cluster_terminated(&client, &id, &fast()).await.expect("terminated");
    let reason = terminated.termination_reason.expect("termination reason");
    assert_eq!(text(&reason.code), "USER_REQUEST");
    assert_eq!(text(&reason.type_), "SUCCESS");
    assert!(terminated.terminated_time.is_some());
    terminate(&client, &id).await; // terminating a terminated cluster is a no-op

    // Restart and resize need a running cluster; waiting for RUNNING fails on TERMINATED.
    for path in ["/api/2.1/clusters/restart", "/api/2.1/clusters/resize"] {
        let (status, err) = post(&sandbox, path, json!({"cluster_id": id, "num_workers": 1})).await;
        assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_STATE")), "{path}: {err}");
    }
    let failed = wait::cluster_running(&client, &id, &fast()).await.expect_err("a terminated cluster never runs");
    assert!(matches!(failed, wait::WaitError::Failed { .. }), "{failed}");

    // Edit a terminated cluster: it stays terminated.
    let edit: types::ClustersEditBody =
        body(json!({"cluster_id": id, "cluster_name": "cold", "spark_version": "16.4.x-scala2.12", "num_workers": 1}));
    client.clusters_edit().body(edit).send().await.expect("edit terminated");
    assert_eq!(text(&cluster(&client, &id).await.state), "TERMINATED");

    // Start again.
    client.clusters_start().body(types::ClustersStartBody { cluster_id: id.clone() }).send().await.expect("start");
    let started = wait::cluster_running(&client, &id, &fast()).await.expect("running after start");
    assert_eq!(started.cluster_name.as_deref(), Some("cold"));
    assert!(started.termination_reason.is_none());

    // Permanently delete: then it does not exist, with the 400 quirk.
    client
        .clusters_permanent_delete()
        .body(types::ClustersPermanentDeleteBody { cluster_id: id.clone() })
        .send()
        .await
        .expect("permanent delete");
    let err = api_error(client.clusters_get().cluster_id(&id).send().await);
    assert!(err.is_not_found(), "{err}");
    let api = err.api().expect("api error");
    assert_eq!((api.status, api.error_code.as_deref()), (400, Some("INVALID_PARAMETER_VALUE")));
    assert_eq!(api.message, format!("Cluster {id} does not exist"));
    for path in [
        "/api/2.1/clusters/start",
        "/api/2.1/clusters/delete",
        "/api/2.1/clusters/permanent-delete",
        "/api/2.1/clusters/events",
    ] {
        let (status, err) = post(&sandbox, path, json!({"cluster_id": id})).await;
        assert_eq!(status, 400, "{path}");
        assert!(err["message"].as_str().expect("message").contains("does not exist"), "{path}: {err}");
    }
    let (status, err) = get(&sandbox, "/api/2.1/clusters/get").await;
    assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "cluster_id is required");
}

#[tokio::test]
async fn cluster_transitions_take_the_transition_delay() {
    let delay = Duration::from_millis(300);
    let sandbox = start(SandboxOptions { transition_delay: delay, ..options() }).await;
    let client = client(&sandbox);
    let started = Instant::now();
    let id = create_cluster(&client, "slow", 1).await;
    let first = cluster(&client, &id).await;
    if started.elapsed() < delay {
        assert_eq!(text(&first.state), "PENDING", "a new cluster is PENDING until the delay has passed");
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let opts = WaitOptions {
        on_poll: Some(Arc::new(move |s: &str| record.lock().expect("lock").push(s.to_string()))),
        ..fast()
    };
    let running = wait::cluster_running(&client, &id, &opts).await.expect("running");
    assert_eq!(text(&running.state), "RUNNING");
    let states = seen.lock().expect("lock").clone();
    assert_eq!(states.last().map(String::as_str), Some("RUNNING"));
    assert!(states.iter().all(|s| s == "PENDING" || s == "RUNNING"), "{states:?}");

    // The event log shows the delay between CREATING and RUNNING.
    let events: Vec<types::ClusterEvent> = client
        .clusters_events_all(body(json!({"cluster_id": id, "order": "ASC"})))
        .try_collect()
        .await
        .expect("events");
    let at = |kind: &str| {
        events
            .iter()
            .find(|e| text(&e.type_) == kind)
            .and_then(|e| e.timestamp)
            .unwrap_or_else(|| panic!("{kind} event"))
    };
    assert!(at("RUNNING") - at("CREATING") >= delay.as_millis() as i64);

    // An execution context is Pending for the delay too.
    let created = Instant::now();
    let request: types::CommandExecutionCreateContextBody = body(json!({"clusterId": id, "language": "sql"}));
    let ctx = client.command_execution_create_context().body(request).send().await.expect("context").into_inner();
    let ctx = ctx.id.expect("context id");
    let status = client.command_execution_get_context_status().cluster_id(&id).context_id(&ctx).send().await;
    let status = text(&status.expect("status").into_inner().status);
    if created.elapsed() < delay {
        assert_eq!(status, "Pending");
        let early = json!({"clusterId": id, "contextId": ctx, "language": "sql", "command": "SELECT 1"});
        let (code, err) = post(&sandbox, "/api/1.2/commands/execute", early).await;
        if created.elapsed() < delay {
            assert_eq!((code, err["error_code"].as_str()), (400, Some("INVALID_STATE")));
        }
    }
    wait::context_running(&client, &id, &ctx, &fast()).await.expect("context running");

    let stopping = Instant::now();
    terminate(&client, &id).await;
    let state = text(&cluster(&client, &id).await.state);
    if stopping.elapsed() < delay {
        assert_eq!(state, "TERMINATING");
    }
    let terminated = wait::cluster_terminated(&client, &id, &fast()).await.expect("terminated");
    assert_eq!(text(&terminated.state), "TERMINATED");
}

#[tokio::test]
async fn cluster_list_filters_sorting_and_paging() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let mut ids = Vec::new();
    for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
        ids.push(create_cluster(&client, name, 1).await);
    }
    for id in &ids[..2] {
        terminate(&client, id).await;
        wait::cluster_terminated(&client, id, &fast()).await.expect("terminated");
    }
    let policy: types::ClustersEditBody = body(
        json!({"cluster_id": ids[2], "cluster_name": "echo", "spark_version": "15.4.x-scala2.12", "policy_id": "P1"}),
    );
    client.clusters_edit().body(policy).send().await.expect("edit");

    let all: Vec<types::ClusterDetails> =
        client.clusters_list_all(|b| b.page_size(2)).try_collect().await.expect("list all");
    assert_eq!(all.len(), 5);
    let unique: BTreeSet<String> = all.iter().filter_map(|c| c.cluster_id.clone()).collect();
    assert_eq!(unique.len(), 5);
    // Active clusters come before terminated ones.
    assert!(all[..3].iter().all(|c| text(&c.state) != "TERMINATED"));

    let page = client.clusters_list().page_size(2).send().await.expect("page").into_inner();
    assert_eq!(page.clusters.len(), 2);
    assert!(page.next_page_token.is_some());

    let terminated: Vec<types::ClusterDetails> = client
        .clusters_list_all(|b| b.filter_by_cluster_states(vec!["TERMINATED".to_string().into()]))
        .try_collect()
        .await
        .expect("terminated");
    assert_eq!(terminated.len(), 2);
    let both: Vec<types::ClusterDetails> = client
        .clusters_list_all(|b| {
            b.filter_by_cluster_states(vec!["TERMINATED".to_string().into(), "RUNNING".to_string().into()])
        })
        .try_collect()
        .await
        .expect("both");
    assert_eq!(both.len(), 5);
    let (status, comma) = get(&sandbox, "/api/2.1/clusters/list?filter_by.cluster_states=RUNNING,TERMINATED").await;
    assert_eq!(status, 200);
    assert_eq!(comma["clusters"].as_array().expect("clusters").len(), 5);
    let (_, repeated) =
        get(&sandbox, "/api/2.1/clusters/list?filter_by.cluster_states=RUNNING&filter_by.cluster_states=PENDING").await;
    assert_eq!(repeated["clusters"].as_array().expect("clusters").len(), 3);

    let api: Vec<types::ClusterDetails> = client
        .clusters_list_all(|b| b.filter_by_cluster_sources(vec!["API".to_string().into()]))
        .try_collect()
        .await
        .expect("api");
    assert_eq!(api.len(), 5);
    let (_, ui) = get(&sandbox, "/api/2.1/clusters/list?filter_by.cluster_sources=UI").await;
    assert!(ui.get("clusters").is_none(), "{ui}");
    let (_, pinned) = get(&sandbox, "/api/2.1/clusters/list?filter_by.is_pinned=true").await;
    assert!(pinned.get("clusters").is_none());
    let with_policy: Vec<types::ClusterDetails> =
        client.clusters_list_all(|b| b.filter_by_policy_id("P1")).try_collect().await.expect("policy");
    assert_eq!(with_policy.iter().filter_map(|c| c.cluster_name.clone()).collect::<Vec<_>>(), vec!["echo"]);

    let names =
        |clusters: &[types::ClusterDetails]| clusters.iter().filter_map(|c| c.cluster_name.clone()).collect::<Vec<_>>();
    let by_name: Vec<types::ClusterDetails> = client
        .clusters_list_all(|b| b.sort_by_field("CLUSTER_NAME".to_string()).page_size(2))
        .try_collect()
        .await
        .expect("sorted");
    assert_eq!(names(&by_name), vec!["alpha", "bravo", "charlie", "delta", "echo"]);
    let desc: Vec<types::ClusterDetails> = client
        .clusters_list_all(|b| b.sort_by_field("CLUSTER_NAME".to_string()).sort_by_direction("DESC".to_string()))
        .try_collect()
        .await
        .expect("sorted desc");
    assert_eq!(names(&desc), vec!["echo", "delta", "charlie", "bravo", "alpha"]);

    for bad in [
        "filter_by.cluster_states=SLEEPING",
        "filter_by.cluster_sources=NOPE",
        "sort_by.field=AGE",
        "page_size=-1",
        "page_token=garbage",
        "filter_by.is_pinned=maybe",
    ] {
        let (status, err) = get(&sandbox, &format!("/api/2.1/clusters/list?{bad}")).await;
        assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{bad}");
    }
}

#[tokio::test]
async fn cluster_events_page_with_tokens_and_legacy_offsets() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let id = create_cluster(&client, "events", 1).await;
    wait::cluster_running(&client, &id, &fast()).await.expect("running");
    for workers in [2, 3, 1] {
        client
            .clusters_resize()
            .body(body::<types::ClustersResizeBody>(json!({"cluster_id": id, "num_workers": workers})))
            .send()
            .await
            .expect("resize");
        wait::cluster_running(&client, &id, &fast()).await.expect("running");
    }
    client
        .clusters_restart()
        .body(body::<types::ClustersRestartBody>(json!({"cluster_id": id})))
        .send()
        .await
        .expect("restart");
    wait::cluster_running(&client, &id, &fast()).await.expect("running");
    terminate(&client, &id).await;
    wait::cluster_terminated(&client, &id, &fast()).await.expect("terminated");

    let (_, everything) = post(&sandbox, "/api/2.1/clusters/events", json!({"cluster_id": id, "limit": 500})).await;
    let total = everything["total_count"].as_u64().expect("total_count") as usize;
    let kinds: Vec<&str> =
        everything["events"].as_array().expect("events").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.len(), total);
    for kind in ["CREATING", "RUNNING", "RESIZING", "UPSIZE_COMPLETED", "RESTARTING", "TERMINATING"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.first(), Some(&"TERMINATING"), "newest first by default");

    // Token paging through the client stream.
    let paged: Vec<types::ClusterEvent> = client
        .clusters_events_all(body(json!({"cluster_id": id, "page_size": 2, "order": "ASC"})))
        .try_collect()
        .await
        .expect("paged");
    assert_eq!(paged.len(), total);
    assert_eq!(text(&paged[0].type_), "CREATING");
    let times: Vec<i64> = paged.iter().filter_map(|e| e.timestamp).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    // page_token by hand.
    let (_, first) =
        post(&sandbox, "/api/2.1/clusters/events", json!({"cluster_id": id, "page_size": 3, "order": "ASC"})).await;
    let token = first["next_page_token"].as_str().expect("token").to_string();
    let (_, second) = post(
        &sandbox,
        "/api/2.1/clusters/events",
        json!({"cluster_id": id, "page_size": 3, "order": "ASC", "page_token": token}),
    )
    .await;
    let event = &second["events"][0];
    assert_eq!(event["type"].as_str(), paged[3].type_.as_deref().map(String::as_str));
    assert_eq!(event["timestamp"].as_i64(), paged[3].timestamp);

    // Legacy offset/limit with the next_page request object.
    let mut request = json!({"cluster_id": id, "limit": 4});
    let mut legacy = Vec::new();
    loop {
        let (status, page) = post(&sandbox, "/api/2.1/clusters/events", request.clone()).await;
        assert_eq!(status, 200);
        legacy.extend(page["events"].as_array().expect("events").iter().cloned());
        match page.get("next_page") {
            Some(next) => {
                assert_eq!(next["cluster_id"], json!(id));
                assert!(next["offset"].as_u64().is_some());
                request = next.clone();
            }
            None => break,
        }
    }
    assert_eq!(legacy.len(), total);
    assert_eq!(legacy, everything["events"].as_array().expect("events").clone());

    // Filters.
    let resizes: Vec<types::ClusterEvent> = client
        .clusters_events_all(body(json!({"cluster_id": id, "event_types": ["RESIZING"]})))
        .try_collect()
        .await
        .expect("resizes");
    assert_eq!(resizes.len(), 3);
    let details = resizes[0].details.as_ref().expect("details");
    assert_eq!(details.target_num_workers, Some(1));
    let cut = paged[2].timestamp.expect("timestamp");
    let (_, late) =
        post(&sandbox, "/api/2.1/clusters/events", json!({"cluster_id": id, "start_time": cut, "limit": 500})).await;
    assert!(late["events"].as_array().expect("events").iter().all(|e| e["timestamp"].as_i64() >= Some(cut)));
    let (_, early) = post(&sandbox, "/api/2.1/clusters/events", json!({"cluster_id": id, "end_time": cut - 1})).await;
    assert!(early["events"].as_array().expect("events").iter().all(|e| e["timestamp"].as_i64() < Some(cut)));

    for bad in [json!({"cluster_id": id, "order": "SIDEWAYS"}), json!({"cluster_id": id, "offset": -1}), json!({})] {
        let (status, err) = post(&sandbox, "/api/2.1/clusters/events", bad.clone()).await;
        assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{bad}");
    }
}

#[tokio::test]
async fn spark_versions_node_types_and_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seeded = SandboxOptions { seed: true, data_dir: Some(dir.path().into()), ..options() };
    let sandbox = start(seeded.clone()).await;
    let client = client(&sandbox);
    let versions = client.clusters_spark_versions().send().await.expect("versions").into_inner();
    assert!(versions.versions.iter().any(|v| v.key.as_deref() == Some("15.4.x-scala2.12")));
    assert!(versions.versions.iter().all(|v| v.name.as_deref().is_some_and(|n| n.contains("Apache Spark"))));
    let nodes = client.clusters_list_node_types().send().await.expect("node types").into_inner();
    assert!(nodes.node_types.len() >= 3);
    assert!(nodes.node_types.iter().all(|n| n.memory_mb > 0 && n.num_cores > 0.0));
    let (status, err) = post(
        &sandbox,
        "/api/2.1/clusters/create",
        json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "huge.box"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().expect("message").contains("huge.box"));

    let clusters: Vec<types::ClusterDetails> = client.clusters_list_all(|b| b).try_collect().await.expect("list");
    assert_eq!(clusters.len(), 1);
    assert_eq!(clusters[0].cluster_name.as_deref(), Some("sandbox-cluster"));
    assert_eq!(text(&clusters[0].state), "RUNNING");
    sandbox.shutdown().await;

    let again = start(seeded).await;
    let clusters: Vec<types::ClusterDetails> =
        self::client(&again).clusters_list_all(|b| b).try_collect().await.expect("list");
    assert_eq!(clusters.len(), 1, "seeding happens only in an empty workspace");
}

// ---------------------------------------------------------------------------
// Jobs

/// Import a SQL notebook through the workspace API.
async fn import_notebook(client: &Client, path: &str, source: &str) {
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
    client
        .workspace_mkdirs()
        .body(body::<types::WorkspaceMkdirsBody>(json!({"path": dir})))
        .send()
        .await
        .expect("mkdirs");
    let content = base64::engine::general_purpose::STANDARD.encode(source);
    let request: types::WorkspaceImportBody =
        body(json!({"path": path, "content": content, "format": "SOURCE", "language": "SQL", "overwrite": true}));
    client.workspace_import().body(request).send().await.expect("import");
}

async fn create_job(client: &Client, settings: Value) -> i64 {
    let request: types::JobsCreateBody = body(settings);
    client.jobs_create().body(request).send().await.expect("create job").into_inner().job_id.expect("job_id")
}

async fn run_now(client: &Client, request: Value) -> i64 {
    let request: types::JobsRunNowBody = body(request);
    client.jobs_run_now().body(request).send().await.expect("run now").into_inner().run_id.expect("run_id")
}

fn life(run: &types::Run) -> (String, String) {
    let state = run.state.as_ref().expect("state");
    (text(&state.life_cycle_state), text(&state.result_state))
}

fn notebook_task(key: &str, path: &str) -> Value {
    json!({"task_key": key, "notebook_task": {"notebook_path": path}})
}

#[tokio::test]
async fn job_crud_update_merge_and_errors() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let job_id = create_job(
        &client,
        json!({
            "name": "Nightly",
            "tasks": [
                {"task_key": "load", "notebook_task": {"notebook_path": "/Shared/load"}},
                {"task_key": "report", "depends_on": [{"task_key": "load"}],
                 "sql_task": {"warehouse_id": "w1", "file": {"path": "/Shared/report.sql"}}}
            ],
            "parameters": [{"name": "day", "default": "today"}],
            "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"},
            "tags": {"team": "data"}
        }),
    )
    .await;
    let job = client.jobs_get().job_id(job_id).send().await.expect("get").into_inner();
    assert_eq!(job.job_id, Some(job_id));
    assert_eq!(job.creator_user_name.as_deref(), Some("sandbox-user@example.com"));
    let settings = job.settings.expect("settings");
    assert_eq!(settings.name.as_deref(), Some("Nightly"));
    assert_eq!(settings.tasks.len(), 2);
    assert_eq!(settings.max_concurrent_runs, Some(1));
    assert_eq!(text(&settings.format), "MULTI_TASK");
    assert!(job.has_more.is_none() && job.next_page_token.is_none());

    // Update: top-level fields replaced, tasks merged by key, removals.
    let update: types::JobsUpdateBody = body(json!({
        "job_id": job_id,
        "new_settings": {
            "name": "Nightly v2",
            "tasks": [
                {"task_key": "report", "depends_on": [{"task_key": "load"}],
                 "sql_task": {"warehouse_id": "w2", "file": {"path": "/Shared/report.sql"}}},
                {"task_key": "extra", "notebook_task": {"notebook_path": "/Shared/extra"}}
            ]
        },
        "fields_to_remove": ["schedule", "tasks/load"]
    }));
    let err = api_error(client.jobs_update().body(update).send().await);
    assert!(err.to_string().contains("load"), "removing a task others depend on is refused: {err}");
    let update: types::JobsUpdateBody = body(json!({
        "job_id": job_id,
        "new_settings": {
            "name": "Nightly v2",
            "tasks": [
                {"task_key": "report", "sql_task": {"warehouse_id": "w2", "file": {"path": "/Shared/report.sql"}}},
                {"task_key": "extra", "notebook_task": {"notebook_path": "/Shared/extra"}}
            ]
        },
        "fields_to_remove": ["schedule", "tasks/load"]
    }));
    client.jobs_update().body(update).send().await.expect("update");
    let settings = client.jobs_get().job_id(job_id).send().await.expect("get").into_inner().settings.expect("settings");
    assert_eq!(settings.name.as_deref(), Some("Nightly v2"));
    assert!(settings.schedule.is_none());
    let keys: Vec<String> = settings.tasks.iter().map(|t| t.task_key.clone()).collect();
    assert_eq!(keys, vec!["report", "extra"]);
    assert_eq!(settings.tasks[0].sql_task.as_ref().map(|s| s.warehouse_id.clone()).as_deref(), Some("w2"));
    assert_eq!(settings.tags.get("team").map(String::as_str), Some("data"), "fields not sent are kept");

    // Reset replaces everything.
    let reset: types::JobsResetBody = body(
        json!({"job_id": job_id, "new_settings": {"name": "Reset", "tasks": [notebook_task("only", "/Shared/x")]}}),
    );
    client.jobs_reset().body(reset).send().await.expect("reset");
    let settings = client.jobs_get().job_id(job_id).send().await.expect("get").into_inner().settings.expect("settings");
    assert_eq!(settings.name.as_deref(), Some("Reset"));
    assert!(settings.tags.is_empty() && settings.parameters.is_empty());

    // List: paging, name filter, expand_tasks.
    for i in 0..4 {
        create_job(&client, json!({"name": format!("batch-{i}"), "tasks": [notebook_task("t", "/Shared/x")]})).await;
    }
    let page = client.jobs_list().limit(2).send().await.expect("list").into_inner();
    assert_eq!(page.jobs.len(), 2);
    assert_eq!(page.has_more, Some(true));
    assert!(
        page.jobs.iter().all(|j| j.settings.as_ref().is_some_and(|s| s.tasks.is_empty())),
        "tasks only with expand_tasks"
    );
    let all: Vec<types::BaseJob> = client.jobs_list_all(|b| b.limit(2)).try_collect().await.expect("list all");
    assert_eq!(all.len(), 5);
    let named: Vec<types::BaseJob> = client.jobs_list_all(|b| b.name("BATCH-2")).try_collect().await.expect("by name");
    assert_eq!(named.len(), 1);
    let expanded: Vec<types::BaseJob> =
        client.jobs_list_all(|b| b.expand_tasks(true)).try_collect().await.expect("expanded");
    assert!(expanded.iter().all(|j| j.settings.as_ref().is_some_and(|s| s.tasks.len() == 1)));
    for bad in ["limit=101", "limit=-1", "page_token=nope", "expand_tasks=perhaps"] {
        let (status, _) = get(&sandbox, &format!("/api/2.2/jobs/list?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
    }

    // Invalid settings.
    let invalid = [
        json!({"tasks": [{"notebook_task": {"notebook_path": "/x"}}]}),
        json!({"tasks": [notebook_task("a", "/x"), notebook_task("a", "/y")]}),
        json!({"tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}, "depends_on": [{"task_key": "ghost"}]}]}),
        json!({"tasks": [
            {"task_key": "a", "notebook_task": {"notebook_path": "/x"}, "depends_on": [{"task_key": "b"}]},
            {"task_key": "b", "notebook_task": {"notebook_path": "/x"}, "depends_on": [{"task_key": "a"}]}
        ]}),
        json!({"tasks": [{"task_key": "a"}]}),
        json!({"tasks": [{"task_key": "a", "sql_task": {"file": {"path": "/x"}}}]}),
        json!({"tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}, "job_cluster_key": "nope"}]}),
        json!({"tasks": [{"task_key": "bad key!", "notebook_task": {"notebook_path": "/x"}}]}),
        json!({"max_concurrent_runs": "many"}),
        json!({"parameters": [{"name": "p"}]}),
    ];
    for settings in invalid {
        let (status, err) = post(&sandbox, "/api/2.2/jobs/create", settings.clone()).await;
        assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{settings}: {err}");
    }

    // Delete, and the does-not-exist quirk.
    client.jobs_delete().body(types::JobsDeleteBody { job_id }).send().await.expect("delete");
    let err = api_error(client.jobs_get().job_id(job_id).send().await);
    assert!(err.is_not_found(), "{err}");
    let api = err.api().expect("api error");
    assert_eq!((api.status, api.error_code.as_deref()), (400, Some("INVALID_PARAMETER_VALUE")));
    assert_eq!(api.message, format!("Job {job_id} does not exist."));
    for (path, body) in [
        ("/api/2.2/jobs/delete", json!({"job_id": job_id})),
        ("/api/2.2/jobs/run-now", json!({"job_id": job_id})),
        ("/api/2.2/jobs/reset", json!({"job_id": job_id, "new_settings": {}})),
        ("/api/2.2/jobs/update", json!({"job_id": job_id})),
    ] {
        let (status, err) = post(&sandbox, path, body).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(err["message"], format!("Job {job_id} does not exist."), "{path}");
    }
    let (status, _) = post(&sandbox, "/api/2.2/jobs/delete", json!({"job_id": "abc"})).await;
    assert_eq!(status, 400);
    let (status, _) = get(&sandbox, "/api/2.2/jobs/get").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn jobs_2_2_pages_inner_arrays() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let tasks: Vec<Value> = (0..150)
        .map(|i| json!({"task_key": format!("t{i:03}"), "spark_python_task": {"python_file": "/x.py"}}))
        .collect();
    let params: Vec<Value> = (0..120).map(|i| json!({"name": format!("p{i}"), "default": i.to_string()})).collect();
    let clusters: Vec<Value> = (0..3)
        .map(|i| json!({"job_cluster_key": format!("c{i}"), "new_cluster": {"spark_version": "15.4.x-scala2.12", "num_workers": 1}}))
        .collect();
    let job_id =
        create_job(&client, json!({"name": "wide", "tasks": tasks, "parameters": params, "job_clusters": clusters}))
            .await;

    let first = client.jobs_get().job_id(job_id).send().await.expect("get").into_inner();
    assert_eq!(first.has_more, Some(true));
    let settings = first.settings.as_ref().expect("settings");
    assert_eq!(settings.tasks.len(), 100);
    assert_eq!(settings.parameters.len(), 100);
    assert_eq!(settings.job_clusters.len(), 3);
    let token = first.next_page_token.clone().expect("next page");
    let second = client.jobs_get().job_id(job_id).page_token(token).send().await.expect("page 2").into_inner();
    assert_eq!(second.settings.as_ref().expect("settings").tasks.len(), 50);
    assert!(second.next_page_token.is_none());

    let full = client.jobs_get_all(job_id).await.expect("all pages");
    let settings = full.settings.expect("settings");
    assert_eq!(settings.tasks.len(), 150);
    assert_eq!(settings.parameters.len(), 120);
    assert_eq!(settings.job_clusters.len(), 3);
    let keys: BTreeSet<String> = settings.tasks.iter().map(|t| t.task_key.clone()).collect();
    assert_eq!(keys.len(), 150);

    let listed = client.jobs_list().expand_tasks(true).send().await.expect("list").into_inner();
    assert_eq!(listed.jobs[0].has_more, Some(true));
    assert_eq!(listed.jobs[0].settings.as_ref().expect("settings").tasks.len(), 100);

    // Runs page their task runs the same way.
    let run_id = run_now(&client, json!({"job_id": job_id})).await;
    let run = wait::run_terminated(&client, run_id, &fast()).await.expect("finished");
    assert_eq!(run.tasks.len(), 100);
    assert_eq!(run.has_more, Some(true));
    let full = client.jobs_get_run_all(run_id).await.expect("all pages");
    assert_eq!(full.tasks.len(), 150);
    assert_eq!(full.job_parameters.len(), 120);
    let ids: BTreeSet<i64> = full.tasks.iter().filter_map(|t| t.run_id).collect();
    assert_eq!(ids.len(), 150);
    let listed = client.jobs_list_runs().expand_tasks(true).send().await.expect("runs").into_inner();
    assert_eq!(listed.runs[0].has_more, Some(true));
}

const REPORT: &str = "-- Databricks notebook source\n\
    SELECT 1 AS warm_up\n\
    \n-- COMMAND ----------\n\n\
    -- MAGIC %md\n-- MAGIC # The report\n\
    \n-- COMMAND ----------\n\n\
    SELECT n, word FROM (SELECT 1 AS n, 'one' AS word UNION ALL SELECT 2, 'two' UNION ALL SELECT 3, 'three') AS t\n\
    WHERE n >= ${min} ORDER BY n;\n";

#[tokio::test]
async fn notebook_job_runs_sql_and_returns_its_output() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let path = "/Users/sandbox-user@example.com/report";
    import_notebook(&client, path, REPORT).await;
    let job_id = create_job(
        &client,
        json!({"name": "report", "tasks": [{"task_key": "report", "notebook_task": {"notebook_path": path, "base_parameters": {"min": "1"}}}],
               "parameters": [{"name": "min", "default": "1"}]}),
    )
    .await;
    let started = run_now(&client, json!({"job_id": job_id, "job_parameters": {"min": "2"}})).await;
    let run = wait::run_terminated(&client, started, &fast()).await.expect("finished");
    assert_eq!(life(&run), ("TERMINATED".into(), "SUCCESS".into()), "{:?}", run.state);
    let status = run.status.as_ref().expect("status");
    assert_eq!(text(&status.state), "TERMINATED");
    assert_eq!(text(&status.termination_details.as_ref().expect("details").code), "SUCCESS");
    assert_eq!(run.job_id, Some(job_id));
    assert_eq!(run.number_in_job, Some(started));
    assert!(run.end_time.unwrap_or(0) >= run.start_time.unwrap_or(i64::MAX));
    assert_eq!(run.job_parameters[0].value.as_deref(), Some("2"));
    let task = &run.tasks[0];
    assert_eq!(text(&task.state.as_ref().expect("task state").result_state), "SUCCESS");

    // The parent run has tasks: its output must be read per task run.
    let err = api_error(client.jobs_get_run_output().run_id(started).send().await);
    let api = err.api().expect("api error");
    assert_eq!((api.status, api.error_code.as_deref()), (400, Some("INVALID_PARAMETER_VALUE")));
    assert!(api.message.contains("task run"), "{}", api.message);
    let task_run = task.run_id.expect("task run id");
    let output = client.jobs_get_run_output().run_id(task_run).send().await.expect("output").into_inner();
    let result = output.notebook_output.and_then(|o| o.result).expect("notebook result");
    let table: Value = serde_json::from_str(&result).expect("the result is JSON");
    assert_eq!(table["columns"], json!(["n", "word"]));
    assert_eq!(table["rows"], json!([["2", "two"], ["3", "three"]]), "job parameters override base parameters");
    assert_eq!(output.metadata.as_ref().and_then(|m| m.run_id), Some(task_run));
    assert!(output.error.is_none());
    let as_run = client.jobs_get_run().run_id(task_run).send().await.expect("task run").into_inner();
    assert_eq!(as_run.run_id, Some(task_run));

    // Runs list: filters.
    let runs: Vec<types::BaseRun> = client.jobs_list_runs_all(|b| b.job_id(job_id)).try_collect().await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert!(runs[0].tasks.is_empty(), "tasks only with expand_tasks");
    let active = client.jobs_list_runs().active_only(true).send().await.expect("active").into_inner();
    assert!(active.runs.is_empty());
    let done = client.jobs_list_runs().completed_only(true).run_type("JOB_RUN".to_string()).send().await.expect("done");
    assert_eq!(done.into_inner().runs.len(), 1);
    let later = client.jobs_list_runs().start_time_from(run.end_time.expect("end") + 1).send().await.expect("later");
    assert!(later.into_inner().runs.is_empty());
    let (status, _) = get(&sandbox, "/api/2.2/jobs/runs/list?active_only=true&completed_only=true").await;
    assert_eq!(status, 400);
    let (status, _) = get(&sandbox, "/api/2.2/jobs/runs/list?limit=26").await;
    assert_eq!(status, 400);

    // A failing statement fails the task with the engine's message.
    let broken = "/Users/sandbox-user@example.com/broken";
    import_notebook(
        &client,
        broken,
        "-- Databricks notebook source\nSELECT 1;\n-- COMMAND ----------\nSELECT * FROM no_such_table",
    )
    .await;
    let submitted: types::JobsSubmitRunBody =
        body(json!({"run_name": "broken", "tasks": [{"task_key": "b", "notebook_task": {"notebook_path": broken}}]}));
    let run_id =
        client.jobs_submit_run().body(submitted).send().await.expect("submit").into_inner().run_id.expect("run");
    let run = wait::run_terminated(&client, run_id, &fast()).await.expect("finished");
    assert_eq!(life(&run), ("TERMINATED".into(), "FAILED".into()));
    let message = run.state.as_ref().and_then(|s| s.state_message.clone()).unwrap_or_default();
    assert!(message.contains("no_such_table"), "{message}");
    let task_run = run.tasks[0].run_id.expect("task run");
    let output = client.jobs_get_run_output().run_id(task_run).send().await.expect("output").into_inner();
    assert!(output.error.as_deref().is_some_and(|e| e.contains("no_such_table")), "{:?}", output.error);

    // A task on an existing cluster names it; a cluster that does not exist fails the task.
    let cluster_id = create_cluster(&client, "for-jobs", 1).await;
    let submitted: types::JobsSubmitRunBody = body(json!({"tasks": [
        {"task_key": "on", "existing_cluster_id": cluster_id,
         "notebook_task": {"notebook_path": path, "base_parameters": {"min": "3"}}},
        {"task_key": "off", "existing_cluster_id": "0000-000000-gone0000", "notebook_task": {"notebook_path": path}}
    ]}));
    let run_id =
        client.jobs_submit_run().body(submitted).send().await.expect("submit").into_inner().run_id.expect("run");
    let run = wait::run_terminated(&client, run_id, &fast()).await.expect("finished");
    let on = run.tasks.iter().find(|t| t.task_key == "on").expect("on");
    assert_eq!(on.cluster_instance.as_ref().and_then(|c| c.cluster_id.clone()), Some(cluster_id));
    assert_eq!(text(&on.state.as_ref().expect("state").result_state), "SUCCESS");
    let off = run.tasks.iter().find(|t| t.task_key == "off").expect("off").state.clone().expect("state");
    assert_eq!(text(&off.result_state), "FAILED");
    assert!(off.state_message.unwrap_or_default().contains("does not exist"));

    // A missing notebook fails clearly.
    let submitted: types::JobsSubmitRunBody =
        body(json!({"tasks": [{"task_key": "m", "notebook_task": {"notebook_path": "/Users/nobody/none"}}]}));
    let run_id =
        client.jobs_submit_run().body(submitted).send().await.expect("submit").into_inner().run_id.expect("run");
    let run = wait::run_terminated(&client, run_id, &fast()).await.expect("finished");
    assert_eq!(life(&run).1, "FAILED");
    let message = run.tasks[0].state.as_ref().and_then(|s| s.state_message.clone()).unwrap_or_default();
    assert!(message.contains("/Users/nobody/none"), "{message}");
}

#[tokio::test]
async fn sql_file_tasks_run_and_report_sql_output() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let path = "/Users/sandbox-user@example.com/totals";
    import_notebook(&client, path, "SELECT 40 + 2 AS answer, :label AS label").await;
    let submitted: types::JobsSubmitRunBody = body(json!({"tasks": [{
        "task_key": "q",
        "sql_task": {"warehouse_id": "abc123", "file": {"path": path}, "parameters": {"label": "it's"}}
    }]}));
    let run_id =
        client.jobs_submit_run().body(submitted).send().await.expect("submit").into_inner().run_id.expect("run");
    let run = wait::run_terminated(&client, run_id, &fast()).await.expect("finished");
    assert_eq!(life(&run), ("TERMINATED".into(), "SUCCESS".into()), "{:?}", run.state);
    let output = client.jobs_get_run_output().run_id(run.tasks[0].run_id.expect("task")).send().await.expect("output");
    let output = output.into_inner();
    let query = output.sql_output.and_then(|s| s.query_output).expect("query output");
    assert_eq!(query.warehouse_id.as_deref(), Some("abc123"));
    let rows: Value = serde_json::from_str(output.logs.as_deref().expect("logs")).expect("json");
    assert_eq!(rows["rows"], json!([["42", "it's"]]));

    // A saved query cannot run here.
    let submitted: types::JobsSubmitRunBody =
        body(json!({"tasks": [{"task_key": "q", "sql_task": {"warehouse_id": "w", "query": {"query_id": "123"}}}]}));
    let run_id =
        client.jobs_submit_run().body(submitted).send().await.expect("submit").into_inner().run_id.expect("run");
    let run = wait::run_terminated(&client, run_id, &fast()).await.expect("finished");
    assert_eq!(life(&run).1, "FAILED");
    assert!(run.state.and_then(|s| s.state_message).unwrap_or_default().contains("sql_task.file"));
}

#[tokio::test]
async fn unsupported_task_kinds_fail_clearly_and_dependents_are_skipped() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let submitted: types::JobsSubmitRunBody = body(json!({
        "run_name": "python",
        "tasks": [
            {"task_key": "py", "spark_python_task": {"python_file": "/Workspace/x.py"}},
            {"task_key": "after", "depends_on": [{"task_key": "py"}], "python_wheel_task": {"package_name": "p", "entry_point": "e"}},
            {"task_key": "cleanup", "depends_on": [{"task_key": "py"}], "run_if": "ALL_DONE",
             "python_wheel_task": {"package_name": "p", "entry_point": "e"}}
        ]
    }));
    let run_id =
        client.jobs_submit_run().body(submitted).send().await.expect("submit").into_inner().run_id.expect("run");
    let run = wait::run_terminated(&client, run_id, &fast()).await.expect("finished");
    assert_eq!(life(&run), ("TERMINATED".into(), "FAILED".into()));
    assert_eq!(text(&run.run_type), "SUBMIT_RUN");
    assert_eq!(run.run_name.as_deref(), Some("python"));
    let by_key = |key: &str| run.tasks.iter().find(|t| t.task_key == key).expect("task").clone();
    let py = by_key("py");
    let message = py.state.as_ref().and_then(|s| s.state_message.clone()).unwrap_or_default();
    assert_eq!(
        message,
        "spark_python_task is not supported by the sandbox; only SQL tasks and SQL notebooks run here."
    );
    assert_eq!(text(&by_key("after").state.expect("state").result_state), "UPSTREAM_FAILED");
    let cleanup = by_key("cleanup").state.expect("state");
    assert_eq!(text(&cleanup.result_state), "FAILED", "ALL_DONE runs even after a failure");
    assert!(cleanup.state_message.unwrap_or_default().starts_with("python_wheel_task is not supported"));
    let output = client.jobs_get_run_output().run_id(py.run_id.expect("id")).send().await.expect("output").into_inner();
    assert_eq!(output.error.as_deref(), Some(message.as_str()));

    let (status, _) = post(&sandbox, "/api/2.2/jobs/runs/submit", json!({"tasks": []})).await;
    assert_eq!(status, 400);
    let (status, _) = post(&sandbox, "/api/2.2/jobs/runs/submit", json!({"tasks": [{"task_key": "x"}]})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn idempotency_tokens_return_the_same_run() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let job_id = create_job(
        &client,
        json!({"name": "once", "tasks": [{"task_key": "t", "spark_jar_task": {"main_class_name": "M"}}]}),
    )
    .await;
    let first = run_now(&client, json!({"job_id": job_id, "idempotency_token": "token-1"})).await;
    let second = run_now(&client, json!({"job_id": job_id, "idempotency_token": "token-1"})).await;
    assert_eq!(first, second);
    wait::run_terminated(&client, first, &fast()).await.expect("finished");
    let runs: Vec<types::BaseRun> = client.jobs_list_runs_all(|b| b.job_id(job_id)).try_collect().await.expect("runs");
    assert_eq!(runs.len(), 1, "no second run was started");
    let third = run_now(&client, json!({"job_id": job_id, "idempotency_token": "token-2"})).await;
    assert_ne!(third, first);
    wait::run_terminated(&client, third, &fast()).await.expect("finished");
    for _ in 0..3 {
        let id = run_now(&client, json!({"job_id": job_id})).await;
        wait::run_terminated(&client, id, &fast()).await.expect("finished");
    }
    let paged: Vec<types::BaseRun> =
        client.jobs_list_runs_all(|b| b.job_id(job_id).limit(2)).try_collect().await.expect("paged runs");
    assert_eq!(paged.len(), 5);
    let ids: Vec<i64> = paged.iter().filter_map(|r| r.run_id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let (_, page) = get(&sandbox, &format!("/api/2.2/jobs/runs/list?job_id={job_id}&limit=2&offset=4")).await;
    assert_eq!(page["runs"].as_array().expect("runs").len(), 1, "the deprecated offset still works");
    assert_eq!(page["has_more"], false);

    let submit =
        json!({"idempotency_token": "s-1", "tasks": [{"task_key": "t", "spark_jar_task": {"main_class_name": "M"}}]});
    let (_, a) = post(&sandbox, "/api/2.2/jobs/runs/submit", submit.clone()).await;
    let (_, b) = post(&sandbox, "/api/2.2/jobs/runs/submit", submit.clone()).await;
    assert_eq!(a["run_id"], b["run_id"]);
    let id = a["run_id"].as_i64().expect("run id");
    wait::run_terminated(&client, id, &fast()).await.expect("finished");
    client.jobs_delete_run().body(types::JobsDeleteRunBody { run_id: id }).send().await.expect("delete run");
    let (status, err) = post(&sandbox, "/api/2.2/jobs/runs/submit", submit).await;
    assert_eq!(status, 400, "{err}");
    let long = "x".repeat(65);
    let (status, _) =
        post(&sandbox, "/api/2.2/jobs/run-now", json!({"job_id": job_id, "idempotency_token": long})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn missing_runs_use_the_400_quirk() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let err = api_error(client.jobs_get_run().run_id(424242).send().await);
    assert!(err.is_not_found(), "{err}");
    let api = err.api().expect("api error");
    assert_eq!((api.status, api.error_code.as_deref()), (400, Some("INVALID_PARAMETER_VALUE")));
    assert_eq!(api.message, "Run 424242 does not exist.");
    let (status, err) = get(&sandbox, "/api/2.2/jobs/runs/get-output?run_id=424242").await;
    assert_eq!((status, err["message"].as_str()), (400, Some("Run 424242 does not exist.")));
    for path in ["/api/2.2/jobs/runs/cancel", "/api/2.2/jobs/runs/delete"] {
        let (status, err) = post(&sandbox, path, json!({"run_id": 424242})).await;
        assert_eq!((status, err["message"].as_str()), (400, Some("Run 424242 does not exist.")), "{path}");
        let (status, err) = post(&sandbox, path, json!({})).await;
        assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{path}");
    }
    let (status, _) = get(&sandbox, "/api/2.2/jobs/runs/get?run_id=abc").await;
    assert_eq!(status, 400);
}

/// A query that runs until it is cancelled.
const ENDLESS: &str = "SELECT sum(value % 7) AS s FROM generate_series(1, 10000000000000)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_mid_way() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let path = "/Users/sandbox-user@example.com/endless";
    import_notebook(&client, path, ENDLESS).await;
    let job_id = create_job(
        &client,
        json!({"name": "endless", "tasks": [
            {"task_key": "spin", "notebook_task": {"notebook_path": path}},
            {"task_key": "next", "depends_on": [{"task_key": "spin"}], "notebook_task": {"notebook_path": path}}
        ]}),
    )
    .await;
    let run_id = run_now(&client, json!({"job_id": job_id})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = client.jobs_get_run().run_id(run_id).send().await.expect("run").into_inner();
        let task_running = run.tasks[0].state.as_ref().is_some_and(|s| text(&s.life_cycle_state) == "RUNNING");
        if life(&run).0 == "RUNNING" && task_running {
            break;
        }
        assert!(Instant::now() < deadline, "the run never started: {:?}", run.state);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A second run of the job is skipped: one run at a time by default.
    let skipped = run_now(&client, json!({"job_id": job_id})).await;
    let run = wait::run_terminated(&client, skipped, &fast()).await.expect("skipped");
    assert_eq!(life(&run).0, "SKIPPED");

    client.jobs_cancel_run().body(types::JobsCancelRunBody { run_id }).send().await.expect("cancel");
    let run = client.jobs_get_run().run_id(run_id).send().await.expect("run").into_inner();
    assert!(["TERMINATING", "TERMINATED"].contains(&life(&run).0.as_str()), "{:?}", run.state);
    let run = wait::run_terminated(&client, run_id, &fast()).await.expect("cancelled");
    assert_eq!(life(&run), ("TERMINATED".into(), "CANCELED".into()));
    assert_eq!(run.state.as_ref().and_then(|s| s.user_cancelled_or_timedout), Some(true));
    assert!(run.tasks.iter().all(|t| text(&t.state.as_ref().expect("state").result_state) == "CANCELED"));
    let details = run.status.and_then(|s| s.termination_details).expect("termination details");
    assert_eq!(text(&details.code), "USER_CANCELED");

    // Cancelling a finished run changes nothing; deleting an active one is refused.
    client.jobs_cancel_run().body(types::JobsCancelRunBody { run_id }).send().await.expect("cancel again");
    let queued_job = create_job(
        &client,
        json!({"name": "queued", "queue": {"enabled": true}, "tasks": [{"task_key": "spin", "notebook_task": {"notebook_path": path}}]}),
    )
    .await;
    let first = run_now(&client, json!({"job_id": queued_job})).await;
    let second = run_now(&client, json!({"job_id": queued_job})).await;
    let waiting = client.jobs_get_run().run_id(second).send().await.expect("run").into_inner();
    assert_eq!(life(&waiting).0, "QUEUED", "with queueing on, a run beyond the limit waits");
    let (status, err) = post(&sandbox, "/api/2.2/jobs/runs/delete", json!({"run_id": first})).await;
    assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_STATE")));
    client.jobs_cancel_run().body(types::JobsCancelRunBody { run_id: first }).send().await.expect("cancel");
    wait::run_terminated(&client, first, &fast()).await.expect("first cancelled");
    // The queued run starts once the first is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = client.jobs_get_run().run_id(second).send().await.expect("run").into_inner();
        if life(&run).0 != "QUEUED" {
            break;
        }
        assert!(Instant::now() < deadline, "the queued run never left the queue");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.jobs_cancel_run().body(types::JobsCancelRunBody { run_id: second }).send().await.expect("cancel");
    let run = wait::run_terminated(&client, second, &fast()).await.expect("second cancelled");
    assert_eq!(life(&run).1, "CANCELED");
}

// ---------------------------------------------------------------------------
// Command execution

async fn context(client: &Client, cluster_id: &str, language: &str) -> String {
    let request: types::CommandExecutionCreateContextBody =
        body(json!({"clusterId": cluster_id, "language": language}));
    let id = client.command_execution_create_context().body(request).send().await.expect("context").into_inner().id;
    let id = id.expect("context id");
    wait::context_running(client, cluster_id, &id, &fast()).await.expect("context running");
    id
}

async fn execute(client: &Client, cluster_id: &str, context_id: &str, language: &str, command: &str) -> String {
    let request: types::CommandExecutionExecuteCommandBody =
        body(json!({"clusterId": cluster_id, "contextId": context_id, "language": language, "command": command}));
    client.command_execution_execute_command().body(request).send().await.expect("execute").into_inner().id.expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_execution_runs_sql_and_refuses_other_languages() {
    let sandbox = start(options()).await;
    let client = client(&sandbox);
    let cluster_id = create_cluster(&client, "interactive", 1).await;
    wait::cluster_running(&client, &cluster_id, &fast()).await.expect("running");

    let ctx = context(&client, &cluster_id, "sql").await;
    let cmd = execute(&client, &cluster_id, &ctx, "sql", "SELECT 1 AS one, 'a' AS letter, true AS yes; ").await;
    let done = wait::command_finished(&client, &cluster_id, &ctx, &cmd, &fast()).await.expect("finished");
    assert_eq!(text(&done.status), "Finished");
    let results = done.results.expect("results");
    assert_eq!(text(&results.result_type), "table");
    assert_eq!(results.is_json_schema, Some(true));
    assert_eq!(results.truncated, Some(false));
    let names: Vec<&str> = results.schema.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect();
    assert_eq!(names, vec!["one", "letter", "yes"]);
    assert_eq!(results.data, Some(json!([[1, "a", true]])));

    // Raw wire format: camelCase keys.
    let (status, raw_status) =
        get(&sandbox, &format!("/api/1.2/commands/status?clusterId={cluster_id}&contextId={ctx}&commandId={cmd}"))
            .await;
    assert_eq!(status, 200);
    assert_eq!(raw_status["results"]["resultType"], "table");

    // A failing statement finishes with an error result.
    let bad = execute(&client, &cluster_id, &ctx, "sql", "SELECT * FROM nowhere_at_all").await;
    let failed = wait::command_finished(&client, &cluster_id, &ctx, &bad, &fast()).await.expect("finished");
    assert_eq!(text(&failed.status), "Finished");
    let results = failed.results.expect("results");
    assert_eq!(text(&results.result_type), "error");
    assert!(results.summary.unwrap_or_default().contains("nowhere_at_all"));

    // Python: a clear error result.
    let py = context(&client, &cluster_id, "python").await;
    let cmd = execute(&client, &cluster_id, &py, "python", "print(1)").await;
    let done = wait::command_finished(&client, &cluster_id, &py, &cmd, &fast()).await.expect("finished");
    let results = done.results.expect("results");
    assert_eq!(text(&results.result_type), "error");
    assert!(results.summary.unwrap_or_default().contains("SQL only"));

    // Cancel a long command.
    let slow = execute(&client, &cluster_id, &ctx, "sql", ENDLESS).await;
    let cancel: types::CommandExecutionCancelCommandBody =
        body(json!({"clusterId": cluster_id, "contextId": ctx, "commandId": slow}));
    client.command_execution_cancel_command().body(cancel).send().await.expect("cancel");
    let cancelled = wait::command_cancelled(&client, &cluster_id, &ctx, &slow, &fast()).await.expect("cancelled");
    assert_eq!(text(&cancelled.status), "Cancelled");
    // The context is still usable.
    let again = execute(&client, &cluster_id, &ctx, "sql", "SELECT 7 AS n").await;
    let done = wait::command_finished(&client, &cluster_id, &ctx, &again, &fast()).await.expect("finished");
    assert_eq!(done.results.and_then(|r| r.data), Some(json!([[7]])));

    // Bad input.
    for bad in [
        json!({"clusterId": cluster_id, "contextId": ctx, "language": "cobol", "command": "x"}),
        json!({"clusterId": cluster_id, "contextId": ctx, "language": "sql"}),
        json!({"clusterId": cluster_id, "contextId": "nope", "language": "sql", "command": "SELECT 1"}),
    ] {
        let (status, _) = post(&sandbox, "/api/1.2/commands/execute", bad.clone()).await;
        assert!(status == 400 || status == 404, "{bad}: {status}");
    }
    let (status, _) = get(&sandbox, &format!("/api/1.2/commands/status?clusterId={cluster_id}&contextId={ctx}")).await;
    assert_eq!(status, 400, "commandId is required");

    // Destroy: the context is gone.
    let destroy: types::CommandExecutionDestroyContextBody = body(json!({"clusterId": cluster_id, "contextId": py}));
    client.command_execution_destroy_context().body(destroy).send().await.expect("destroy");
    let err =
        api_error(client.command_execution_get_context_status().cluster_id(&cluster_id).context_id(&py).send().await);
    assert!(err.is_not_found(), "{err}");

    // A restart ends the remaining context.
    client
        .clusters_restart()
        .body(body::<types::ClustersRestartBody>(json!({"cluster_id": cluster_id})))
        .send()
        .await
        .expect("restart");
    wait::cluster_running(&client, &cluster_id, &fast()).await.expect("running");
    let status = client.command_execution_get_context_status().cluster_id(&cluster_id).context_id(&ctx).send().await;
    assert_eq!(text(&status.expect("status").into_inner().status), "Error");

    // Contexts need a running cluster that exists.
    terminate(&client, &cluster_id).await;
    wait::cluster_terminated(&client, &cluster_id, &fast()).await.expect("terminated");
    let (status, err) =
        post(&sandbox, "/api/1.2/contexts/create", json!({"clusterId": cluster_id, "language": "sql"})).await;
    assert_eq!((status, err["error_code"].as_str()), (400, Some("INVALID_STATE")));
    assert!(err["message"].as_str().expect("message").contains("not running"));
    let (status, err) =
        post(&sandbox, "/api/1.2/contexts/create", json!({"clusterId": "0000-000000-nothere0", "language": "sql"}))
            .await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().expect("message").contains("does not exist"));
    let (status, _) = post(&sandbox, "/api/1.2/contexts/create", json!({"clusterId": cluster_id})).await;
    assert_eq!(status, 400, "language is required");
}

// ---------------------------------------------------------------------------
// Persistence

#[tokio::test]
async fn clusters_jobs_and_runs_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let persistent = SandboxOptions { data_dir: Some(dir.path().into()), ..options() };
    let sandbox = start(persistent.clone()).await;
    let client = client(&sandbox);
    let running = create_cluster(&client, "keeps-running", 1).await;
    wait::cluster_running(&client, &running, &fast()).await.expect("running");
    let stopped = create_cluster(&client, "stopped", 1).await;
    terminate(&client, &stopped).await;
    wait::cluster_terminated(&client, &stopped, &fast()).await.expect("terminated");
    let job_id = create_job(
        &client,
        json!({"name": "kept", "tasks": [{"task_key": "t", "spark_jar_task": {"main_class_name": "M"}}]}),
    )
    .await;
    let run_id = run_now(&client, json!({"job_id": job_id, "idempotency_token": "persisted"})).await;
    let finished = wait::run_terminated(&client, run_id, &fast()).await.expect("finished");
    let events_before = client
        .clusters_events()
        .body(body::<types::ClustersEventsBody>(json!({"cluster_id": stopped})))
        .send()
        .await
        .expect("events")
        .into_inner()
        .events
        .len();
    sandbox.shutdown().await;

    // A run in flight at shutdown: a long transition delay keeps it PENDING.
    let slow = start(SandboxOptions { transition_delay: Duration::from_secs(600), ..persistent.clone() }).await;
    let in_flight = run_now(&self::client(&slow), json!({"job_id": job_id})).await;
    slow.shutdown().await;

    let again = start(persistent).await;
    let client = self::client(&again);
    assert_eq!(text(&cluster(&client, &running).await.state), "RUNNING");
    let stopped_now = cluster(&client, &stopped).await;
    assert_eq!(text(&stopped_now.state), "TERMINATED");
    assert_eq!(stopped_now.cluster_name.as_deref(), Some("stopped"));
    let events_after = client
        .clusters_events()
        .body(body::<types::ClustersEventsBody>(json!({"cluster_id": stopped})))
        .send()
        .await
        .expect("events")
        .into_inner()
        .events
        .len();
    assert_eq!(events_before, events_after);

    let job = client.jobs_get().job_id(job_id).send().await.expect("job").into_inner();
    assert_eq!(job.settings.and_then(|s| s.name).as_deref(), Some("kept"));
    let run = client.jobs_get_run().run_id(run_id).send().await.expect("run").into_inner();
    assert_eq!(life(&run), life(&finished));
    let output = client.jobs_get_run_output().run_id(run.tasks[0].run_id.expect("task")).send().await.expect("output");
    assert!(output.into_inner().error.is_some_and(|e| e.contains("spark_jar_task")));
    let replay = run_now(&client, json!({"job_id": job_id, "idempotency_token": "persisted"})).await;
    assert_eq!(replay, run_id, "idempotency tokens persist");

    // The run cut short by the shutdown ended with INTERNAL_ERROR.
    let cut = client.jobs_get_run().run_id(in_flight).send().await.expect("run").into_inner();
    assert_eq!(life(&cut).0, "INTERNAL_ERROR");
    assert!(cut.state.and_then(|s| s.state_message).unwrap_or_default().contains("sandbox stopped"));
    let err = wait::run_terminated(&client, in_flight, &fast()).await.expect_err("internal error fails the wait");
    assert!(matches!(err, wait::WaitError::Failed { .. }));

    // New ids do not collide with persisted ones.
    let other = create_job(
        &client,
        json!({"name": "new", "tasks": [{"task_key": "t", "spark_jar_task": {"main_class_name": "M"}}]}),
    )
    .await;
    assert!(other > job_id);
    let new_cluster = create_cluster(&client, "new", 1).await;
    assert_ne!(new_cluster, running);
}
