//! Clusters API 2.1: all-purpose clusters with Databricks' lifecycle
//! (PENDING → RUNNING → RESIZING/RESTARTING → TERMINATING → TERMINATED), their event
//! log, and the Spark versions and node types a cluster can be created with.
//!
//! No machines exist: a cluster is a record whose timed transitions are stored as
//! steps (a target state and the wall-clock time it is reached) and applied whenever
//! the cluster is read, so no background task is needed and a restart of the sandbox
//! resumes transitions where they were.

use std::collections::{BTreeMap, VecDeque};

use axum::Json;
use axum::Router;
use axum::extract::State as Ax;
use axum::routing::{get, post};
use databricks_client::types;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Params, decode_token, encode_token};
use crate::identity::USER_NAME;
use crate::{AppState, Store};

const STORE_NAME: &str = "clusters";
const STATES: &[&str] =
    &["ERROR", "PENDING", "RESIZING", "RESTARTING", "RUNNING", "TERMINATED", "TERMINATING", "UNKNOWN"];
const SOURCES: &[&str] = &["API", "JOB", "MODELS", "PIPELINE", "PIPELINE_MAINTENANCE", "SQL", "UI"];
const LIST_PAGE_MAX: usize = 100;
const EVENTS_PAGE_DEFAULT: usize = 50;
const EVENTS_PAGE_MAX: usize = 500;

/// Every cluster of the workspace, by id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    clusters: BTreeMap<String, Cluster>,
}

/// One cluster: its attributes as the caller gave them, its lifecycle and its events.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cluster {
    cluster_id: String,
    /// The cluster attributes of the last create or edit (a `ClusterSpec`).
    spec: Map<String, Value>,
    state: String,
    #[serde(default)]
    state_message: String,
    source: String,
    creator: String,
    /// When the cluster was created or last started (it entered PENDING).
    start_time: i64,
    #[serde(default)]
    last_restarted_time: Option<i64>,
    #[serde(default)]
    terminated_time: Option<i64>,
    #[serde(default)]
    termination_reason: Option<Value>,
    #[serde(default)]
    spark_context_id: Option<i64>,
    /// Transitions still to come, earliest first.
    #[serde(default)]
    pending: VecDeque<Step>,
    #[serde(default)]
    events: Vec<Event>,
}

/// A transition that happens at `at` (milliseconds since the epoch).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Step {
    at: i64,
    state: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    events: Vec<(String, Value)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    timestamp: i64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    details: Value,
}

impl State {
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        Ok(store.load(STORE_NAME)?.unwrap_or_default())
    }

    /// Apply every transition that is due.
    fn resolve(&mut self, now: i64) {
        for cluster in self.clusters.values_mut() {
            cluster.resolve(now);
        }
    }
}

impl Cluster {
    fn resolve(&mut self, now: i64) {
        while self.pending.front().is_some_and(|s| s.at <= now) {
            let Some(step) = self.pending.pop_front() else { break };
            self.reach(step);
        }
    }

    /// Enter the state of `step` at its time and record its events.
    fn reach(&mut self, step: Step) {
        match step.state.as_str() {
            // Back from RESIZING the driver is the same; otherwise it is new.
            "RUNNING" if self.spark_context_id.is_none() || self.state != "RESIZING" => {
                self.spark_context_id = Some(random_i64());
                self.last_restarted_time = Some(step.at);
            }
            "TERMINATED" => {
                self.terminated_time = Some(step.at);
                self.spark_context_id = None;
            }
            _ => {}
        }
        self.state = step.state;
        self.state_message = step.message;
        for (kind, details) in step.events {
            self.events.push(Event { timestamp: step.at, kind, details });
        }
    }

    /// Schedule a transition `delay_ms` after `now`.
    fn schedule(&mut self, at: i64, state: &str, message: &str, events: Vec<(String, Value)>) {
        self.pending.push_back(Step { at, state: state.into(), message: message.into(), events });
    }

    /// Enter a state now, with its events.
    fn enter(&mut self, now: i64, state: &str, message: &str, events: Vec<(String, Value)>) {
        self.reach(Step { at: now, state: state.into(), message: message.into(), events });
    }

    fn name(&self) -> &str {
        self.spec.get("cluster_name").and_then(Value::as_str).unwrap_or("")
    }

    fn size(&self) -> Value {
        match self.spec.get("autoscale") {
            Some(a) => json!({ "autoscale": a }),
            None => json!({ "num_workers": self.workers() }),
        }
    }

    /// The fixed worker count, or the autoscaling minimum.
    fn workers(&self) -> i64 {
        match self.spec.get("autoscale") {
            Some(a) => a.get("min_workers").and_then(Value::as_i64).unwrap_or(0),
            None => self.spec.get("num_workers").and_then(Value::as_i64).unwrap_or(0),
        }
    }

    /// The `ClusterDetails` the API returns.
    fn details(&self) -> Value {
        let mut out = self.spec.clone();
        let node = self.spec.get("node_type_id").and_then(Value::as_str).and_then(node_type);
        let running = matches!(self.state.as_str(), "RUNNING" | "RESIZING");
        out.insert("cluster_id".into(), json!(self.cluster_id));
        out.insert("cluster_name".into(), json!(self.name()));
        out.insert("state".into(), json!(self.state));
        out.insert("state_message".into(), json!(self.state_message));
        out.insert("cluster_source".into(), json!(self.source));
        out.insert("creator_user_name".into(), json!(self.creator));
        out.insert("start_time".into(), json!(self.start_time));
        out.insert("jdbc_port".into(), json!(10000));
        if !self.spec.contains_key("autoscale") {
            out.insert("num_workers".into(), json!(self.workers()));
        }
        if let Some(t) = self.last_restarted_time {
            out.insert("last_restarted_time".into(), json!(t));
        }
        if self.state == "TERMINATED" {
            if let Some(t) = self.terminated_time {
                out.insert("terminated_time".into(), json!(t));
            }
            if let Some(reason) = &self.termination_reason {
                out.insert("termination_reason".into(), reason.clone());
            }
        }
        if let (true, Some(id)) = (running, self.spark_context_id) {
            out.insert("spark_context_id".into(), json!(id));
            let started = self.last_restarted_time.unwrap_or(self.start_time);
            out.insert("driver".into(), spark_node(0, started));
            let executors: Vec<Value> = (1..=self.workers().clamp(0, 64)).map(|i| spark_node(i, started)).collect();
            if !executors.is_empty() {
                out.insert("executors".into(), Value::Array(executors));
            }
            if let Some(n) = node {
                let nodes = self.workers().clamp(0, MAX_WORKERS) + 1;
                out.insert("cluster_memory_mb".into(), json!(n.memory_mb.saturating_mul(nodes)));
                out.insert("cluster_cores".into(), json!(n.cores * nodes as f64));
            }
        }
        let mut tags = Map::new();
        tags.insert("Vendor".into(), json!("Databricks"));
        tags.insert("Creator".into(), json!(self.creator));
        tags.insert("ClusterName".into(), json!(self.name()));
        tags.insert("ClusterId".into(), json!(self.cluster_id));
        out.insert("default_tags".into(), Value::Object(tags));
        out.insert("spec".into(), Value::Object(self.spec.clone()));
        Value::Object(out)
    }
}

fn spark_node(index: i64, started: i64) -> Value {
    json!({
        "private_ip": format!("10.139.64.{}", 10 + index),
        "host_private_ip": format!("10.139.0.{}", 10 + index),
        "node_id": format!("{:032x}", (index as u128 + 1) * 0x9e37_79b9_7f4a_7c15),
        "instance_id": format!("i-{:017x}", (index as u64 + 1) * 0x1f2e_3d4c_5b6a),
        "start_timestamp": started,
    })
}

fn random_i64() -> i64 {
    let bytes = uuid::Uuid::new_v4();
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes.as_bytes()[..8]);
    (i64::from_le_bytes(n) & 0x7fff_ffff_ffff_ffff).max(1)
}

/// `MMDD-HHMMSS-xxxxxxxx`, the shape of Databricks cluster ids.
fn new_cluster_id() -> String {
    let stamp = chrono::Utc::now().format("%m%d-%H%M%S");
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{stamp}-{}", &random[..8])
}

/// A node type the sandbox offers.
struct NodeType {
    id: &'static str,
    memory_mb: i64,
    cores: f64,
    gpus: i64,
    category: &'static str,
    description: &'static str,
}

const NODE_TYPES: &[NodeType] = &[
    NodeType {
        id: "m5d.large",
        memory_mb: 8192,
        cores: 2.0,
        gpus: 0,
        category: "General Purpose",
        description: "m5d.large",
    },
    NodeType {
        id: "m5d.xlarge",
        memory_mb: 16384,
        cores: 4.0,
        gpus: 0,
        category: "General Purpose",
        description: "m5d.xlarge",
    },
    NodeType {
        id: "i3.xlarge",
        memory_mb: 31232,
        cores: 4.0,
        gpus: 0,
        category: "Storage Optimized",
        description: "i3.xlarge",
    },
    NodeType {
        id: "r5d.xlarge",
        memory_mb: 32768,
        cores: 4.0,
        gpus: 0,
        category: "Memory Optimized",
        description: "r5d.xlarge",
    },
    NodeType {
        id: "c5d.2xlarge",
        memory_mb: 16384,
        cores: 8.0,
        gpus: 0,
        category: "Compute Optimized",
        description: "c5d.2xlarge",
    },
    NodeType {
        id: "g4dn.xlarge",
        memory_mb: 16384,
        cores: 4.0,
        gpus: 1,
        category: "GPU Accelerated",
        description: "g4dn.xlarge",
    },
];

/// The node type every cluster gets when the request names none.
const DEFAULT_NODE_TYPE: &str = "i3.xlarge";

fn node_type(id: &str) -> Option<&'static NodeType> {
    NODE_TYPES.iter().find(|n| n.id == id)
}

/// Runtime versions: `(key, name)`.
const SPARK_VERSIONS: &[(&str, &str)] = &[
    ("17.3.x-scala2.13", "17.3 LTS (includes Apache Spark 4.0.0, Scala 2.13)"),
    ("17.3.x-photon-scala2.13", "17.3 LTS Photon (includes Apache Spark 4.0.0, Scala 2.13)"),
    ("17.3.x-cpu-ml-scala2.13", "17.3 LTS ML (includes Apache Spark 4.0.0, Scala 2.13)"),
    ("16.4.x-scala2.12", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-photon-scala2.12", "16.4 LTS Photon (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-cpu-ml-scala2.12", "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("15.4.x-scala2.12", "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-photon-scala2.12", "15.4 LTS Photon (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("15.4.x-cpu-ml-scala2.12", "15.4 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("14.3.x-scala2.12", "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("13.3.x-scala2.12", "13.3 LTS (includes Apache Spark 3.4.1, Scala 2.12)"),
];

/// The runtime seeded clusters use.
pub const DEFAULT_SPARK_VERSION: &str = "16.4.x-scala2.12";

/// A listed version, or one shaped like a Databricks runtime key (`15.4.x-…`).
fn known_spark_version(key: &str) -> bool {
    if SPARK_VERSIONS.iter().any(|(k, _)| *k == key) {
        return true;
    }
    let mut parts = key.splitn(3, '.');
    let (Some(major), Some(minor), Some(rest)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major)
        && digits(minor)
        && rest.strip_prefix("x-").is_some_and(|r| {
            !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        })
}

// ---------------------------------------------------------------------------
// Request helpers shared with the jobs and command-execution services.

/// The request body as a JSON object.
pub(crate) fn body_object(value: Value) -> ApiResult<Map<String, Value>> {
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::invalid("The request body must be a JSON object.")),
    }
}

/// A required string field: absent, null or empty is `missing`; another type is invalid.
pub(crate) fn require_str<'a>(m: &'a Map<String, Value>, field: &str) -> ApiResult<&'a str> {
    match m.get(field) {
        None | Some(Value::Null) => Err(ApiError::missing(field)),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::missing(field)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => {
            Err(ApiError::invalid(format!("Invalid value for field '{field}': expected a string, got {other}")))
        }
    }
}

/// Check the types of a body against a generated type from the spec.
pub(crate) fn typed<T: DeserializeOwned>(m: &Map<String, Value>) -> ApiResult<T> {
    let bytes = serde_json::to_vec(m).map_err(|e| ApiError::internal(e.to_string()))?;
    crate::extract::parse_json(&bytes)
}

/// The quirk of the clusters API: a missing cluster is a 400.
fn no_such_cluster(id: &str) -> ApiError {
    ApiError::does_not_exist_400(format!("Cluster {id} does not exist"))
}

fn pretty_state(state: &str) -> String {
    let lower = state.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

fn unexpected_state(id: &str, state: &str) -> ApiError {
    ApiError::invalid_state(format!("Cluster {id} is in unexpected state {}.", pretty_state(state)))
}

fn delay_ms(state: &AppState) -> i64 {
    i64::try_from(state.options.transition_delay.as_millis()).unwrap_or(i64::MAX / 4)
}

fn lock(state: &AppState) -> std::sync::MutexGuard<'_, State> {
    state.clusters.lock().unwrap_or_else(|p| p.into_inner())
}

fn save(state: &AppState, guard: &State) -> ApiResult<()> {
    state.store.save(STORE_NAME, guard)
}

/// What other services need to know about a cluster: its state and the time it was
/// last (re)started, which changes whenever its driver is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    pub state: String,
    pub started_at: Option<i64>,
}

/// The current status of a cluster, `None` when it does not exist.
pub fn status(state: &AppState, cluster_id: &str) -> Option<ClusterStatus> {
    let mut guard = lock(state);
    let now = crate::now_ms();
    let cluster = guard.clusters.get_mut(cluster_id)?;
    cluster.resolve(now);
    Some(ClusterStatus { state: cluster.state.clone(), started_at: cluster.last_restarted_time })
}

// ---------------------------------------------------------------------------
// Validation of cluster attributes.

/// Fields of create/edit that are not cluster attributes.
const NOT_ATTRIBUTES: &[&str] = &["cluster_id", "clone_from", "apply_policy_default_values"];

fn validate_attributes(m: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let version = require_str(m, "spark_version")?;
    if !known_spark_version(version) {
        return Err(ApiError::invalid(format!(
            "Invalid spark version {version}. List the available versions with GET /api/2.1/clusters/spark-versions."
        )));
    }
    for field in ["node_type_id", "driver_node_type_id"] {
        if let Some(id) = m.get(field).and_then(Value::as_str)
            && node_type(id).is_none()
        {
            let known: Vec<&str> = NODE_TYPES.iter().map(|n| n.id).collect();
            return Err(ApiError::invalid(format!(
                "Node type {id} is not supported. Supported node types: {}.",
                known.join(", ")
            )));
        }
    }
    let workers = m.get("num_workers").filter(|v| !v.is_null());
    let autoscale = m.get("autoscale").filter(|v| !v.is_null());
    if workers.is_some() && autoscale.is_some() {
        return Err(ApiError::invalid("Only one of num_workers or autoscale can be set, not both."));
    }
    if let Some(n) = workers.and_then(Value::as_i64) {
        check_workers(n)?;
    }
    if let Some(a) = autoscale {
        check_autoscale(a)?;
    }
    if let Some(minutes) = m.get("autotermination_minutes").and_then(Value::as_i64)
        && minutes != 0
        && !(10..=10000).contains(&minutes)
    {
        return Err(ApiError::invalid(format!(
            "autotermination_minutes must be 0 (disabled) or between 10 and 10000, got {minutes}."
        )));
    }
    if let Some(tags) = m.get("custom_tags").and_then(Value::as_object)
        && tags.len() > 45
    {
        return Err(ApiError::invalid("A cluster can have at most 45 custom tags."));
    }
    let mut spec: Map<String, Value> = m
        .iter()
        .filter(|(k, v)| !NOT_ATTRIBUTES.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !spec.contains_key("autoscale") && !spec.contains_key("num_workers") {
        spec.insert("num_workers".into(), json!(0));
    }
    if !spec.contains_key("node_type_id") && !spec.contains_key("instance_pool_id") {
        spec.insert("node_type_id".into(), json!(DEFAULT_NODE_TYPE));
    }
    if !spec.contains_key("driver_node_type_id")
        && let Some(node) = spec.get("node_type_id").cloned()
    {
        spec.insert("driver_node_type_id".into(), node);
    }
    Ok(spec)
}

/// The most workers a sandbox cluster may have.
const MAX_WORKERS: i64 = 100_000;

fn check_workers(n: i64) -> ApiResult<()> {
    if (0..=MAX_WORKERS).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("num_workers must be between 0 and {MAX_WORKERS}, got {n}.")))
    }
}

fn check_autoscale(a: &Value) -> ApiResult<()> {
    let min = a.get("min_workers").and_then(Value::as_i64);
    let max = a.get("max_workers").and_then(Value::as_i64);
    match (min, max) {
        (Some(min), Some(max)) if min >= 0 && max >= 1 && max >= min && max <= MAX_WORKERS => Ok(()),
        (None, _) => Err(ApiError::missing("autoscale.min_workers")),
        (_, None) => Err(ApiError::missing("autoscale.max_workers")),
        (Some(min), Some(max)) => Err(ApiError::invalid(format!(
            "autoscale needs 0 <= min_workers <= max_workers, 1 <= max_workers <= {MAX_WORKERS}; got min_workers {min}, \
             max_workers {max}."
        ))),
    }
}

// ---------------------------------------------------------------------------
// Routes.

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.1/clusters/create", post(create))
        .route("/api/2.1/clusters/edit", post(edit))
        .route("/api/2.1/clusters/get", get(get_cluster))
        .route("/api/2.1/clusters/list", get(list))
        .route("/api/2.1/clusters/start", post(start))
        .route("/api/2.1/clusters/restart", post(restart))
        .route("/api/2.1/clusters/resize", post(resize))
        .route("/api/2.1/clusters/delete", post(delete))
        .route("/api/2.1/clusters/permanent-delete", post(permanent_delete))
        .route("/api/2.1/clusters/events", post(events))
        .route("/api/2.1/clusters/spark-versions", get(spark_versions))
        .route("/api/2.1/clusters/list-node-types", get(list_node_types))
}

/// Create one running cluster when the workspace has none.
pub fn seed(state: &AppState) -> anyhow::Result<()> {
    let mut guard = lock(state);
    if !guard.clusters.is_empty() {
        return Ok(());
    }
    let now = crate::now_ms();
    let mut spec = Map::new();
    spec.insert("cluster_name".into(), json!("sandbox-cluster"));
    spec.insert("spark_version".into(), json!(DEFAULT_SPARK_VERSION));
    spec.insert("node_type_id".into(), json!(DEFAULT_NODE_TYPE));
    spec.insert("driver_node_type_id".into(), json!(DEFAULT_NODE_TYPE));
    spec.insert("num_workers".into(), json!(1));
    spec.insert("autotermination_minutes".into(), json!(0));
    spec.insert("data_security_mode".into(), json!("SINGLE_USER"));
    spec.insert("single_user_name".into(), json!(USER_NAME));
    let mut cluster = new_cluster(new_cluster_id(), spec, "UI", now);
    cluster.schedule(
        now,
        "RUNNING",
        "",
        vec![("RUNNING".into(), json!({"current_num_workers": 1, "target_num_workers": 1}))],
    );
    cluster.resolve(now);
    guard.clusters.insert(cluster.cluster_id.clone(), cluster);
    save(state, &guard).map_err(|e| anyhow::anyhow!("{e}"))
}

fn new_cluster(id: String, spec: Map<String, Value>, source: &str, now: i64) -> Cluster {
    let mut cluster = Cluster {
        cluster_id: id,
        spec,
        state: "PENDING".into(),
        state_message: String::new(),
        source: source.into(),
        creator: USER_NAME.into(),
        start_time: now,
        last_restarted_time: None,
        terminated_time: None,
        termination_reason: None,
        spark_context_id: None,
        pending: VecDeque::new(),
        events: Vec::new(),
    };
    let details = json!({
        "attributes": cluster.spec,
        "cluster_size": cluster.size(),
        "user": USER_NAME,
    });
    cluster.enter(
        now,
        "PENDING",
        "Finding instances for new nodes, acquiring more instances if necessary",
        vec![("CREATING".into(), details)],
    );
    cluster
}

/// Schedule the way back to RUNNING after `delay`.
fn schedule_running(cluster: &mut Cluster, now: i64, delay: i64, extra: Vec<(String, Value)>) {
    let workers = cluster.workers();
    let mut events = extra;
    events.push(("RUNNING".into(), json!({"current_num_workers": workers, "target_num_workers": workers})));
    cluster.schedule(now.saturating_add(delay), "RUNNING", "", events);
}

async fn create(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    require_str(&m, "spark_version")?;
    let _: types::ClustersCreateBody = typed(&m)?;
    let spec = validate_attributes(&m)?;
    if let Some(source) = m.get("clone_from").and_then(|c| c.get("source_cluster_id")).and_then(Value::as_str)
        && !lock(&state).clusters.contains_key(source)
    {
        return Err(no_such_cluster(source));
    }
    let now = crate::now_ms();
    let id = new_cluster_id();
    let mut cluster = new_cluster(id.clone(), spec, "API", now);
    schedule_running(&mut cluster, now, delay_ms(&state), vec![]);
    let mut guard = lock(&state);
    guard.clusters.insert(id.clone(), cluster);
    save(&state, &guard)?;
    Ok(Json(json!({ "cluster_id": id })))
}

async fn edit(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let id = require_str(&m, "cluster_id")?.to_string();
    require_str(&m, "spark_version")?;
    let _: types::ClustersEditBody = typed(&m)?;
    let spec = validate_attributes(&m)?;
    let now = crate::now_ms();
    let delay = delay_ms(&state);
    let mut guard = lock(&state);
    let cluster = guard.clusters.get_mut(&id).ok_or_else(|| no_such_cluster(&id))?;
    cluster.resolve(now);
    let edited = (
        "EDITED".to_string(),
        json!({
            "previous_attributes": cluster.spec,
            "attributes": spec,
            "previous_cluster_size": cluster.size(),
            "user": USER_NAME,
        }),
    );
    match cluster.state.as_str() {
        "RUNNING" => {
            cluster.spec = spec;
            let mut edited = edited;
            edited.1["cluster_size"] = cluster.size();
            cluster.enter(
                now,
                "RESTARTING",
                "Restarting the cluster to apply the new configuration",
                vec![edited, ("RESTARTING".into(), json!({"user": USER_NAME}))],
            );
            schedule_running(cluster, now, delay, vec![]);
        }
        "TERMINATED" => {
            cluster.spec = spec;
            let mut edited = edited;
            edited.1["cluster_size"] = cluster.size();
            cluster.events.push(Event { timestamp: now, kind: edited.0, details: edited.1 });
        }
        other => return Err(unexpected_state(&id, other)),
    }
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn get_cluster(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let id = params.required("cluster_id")?;
    let now = crate::now_ms();
    let mut guard = lock(&state);
    let cluster = guard.clusters.get_mut(id).ok_or_else(|| no_such_cluster(id))?;
    cluster.resolve(now);
    Ok(Json(cluster.details()))
}

fn state_rank(state: &str) -> u8 {
    match state {
        "TERMINATED" => 2,
        "TERMINATING" => 1,
        _ => 0,
    }
}

async fn list(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let states = params.all("filter_by.cluster_states");
    if let Some(bad) = states.iter().find(|s| !STATES.contains(s)) {
        return Err(ApiError::invalid(format!(
            "Invalid value {bad:?} for filter_by.cluster_states; expected one of {}.",
            STATES.join(", ")
        )));
    }
    let sources = params.all("filter_by.cluster_sources");
    if let Some(bad) = sources.iter().find(|s| !SOURCES.contains(s)) {
        return Err(ApiError::invalid(format!(
            "Invalid value {bad:?} for filter_by.cluster_sources; expected one of {}.",
            SOURCES.join(", ")
        )));
    }
    let pinned = params.bool("filter_by.is_pinned")?;
    let policy = params.get("filter_by.policy_id");
    let field = params.get("sort_by.field").unwrap_or("DEFAULT");
    if !["DEFAULT", "CLUSTER_NAME"].contains(&field) {
        return Err(ApiError::invalid(format!(
            "Invalid value {field:?} for sort_by.field; expected CLUSTER_NAME or DEFAULT."
        )));
    }
    let direction = params.get("sort_by.direction").unwrap_or("ASC");
    if !["ASC", "DESC"].contains(&direction) {
        return Err(ApiError::invalid(format!(
            "Invalid value {direction:?} for sort_by.direction; expected ASC or DESC."
        )));
    }
    let size = match params.int("page_size")? {
        None | Some(0) => LIST_PAGE_MAX,
        Some(n) if n < 0 => return Err(ApiError::invalid(format!("page_size must be 0 or more, got {n}."))),
        Some(n) => usize::try_from(n).unwrap_or(LIST_PAGE_MAX).min(LIST_PAGE_MAX),
    };
    let now = crate::now_ms();
    let mut guard = lock(&state);
    guard.resolve(now);
    let mut clusters: Vec<&Cluster> = guard
        .clusters
        .values()
        .filter(|c| states.is_empty() || states.contains(&c.state.as_str()))
        .filter(|c| sources.is_empty() || sources.contains(&c.source.as_str()))
        // The sandbox has no pinning: no cluster is pinned.
        .filter(|_| pinned != Some(true))
        .filter(|c| policy.is_none_or(|p| c.spec.get("policy_id").and_then(Value::as_str) == Some(p)))
        .collect();
    if field == "CLUSTER_NAME" {
        clusters.sort_by(|a, b| {
            a.name().to_lowercase().cmp(&b.name().to_lowercase()).then_with(|| a.cluster_id.cmp(&b.cluster_id))
        });
    } else {
        clusters.sort_by(|a, b| {
            state_rank(&a.state)
                .cmp(&state_rank(&b.state))
                .then_with(|| b.start_time.cmp(&a.start_time))
                .then_with(|| a.cluster_id.cmp(&b.cluster_id))
        });
    }
    if direction == "DESC" {
        clusters.reverse();
    }
    let start = params.get("page_token").map(decode_token).transpose()?.unwrap_or(0);
    let end = start.saturating_add(size).min(clusters.len());
    let page: Vec<Value> = clusters.get(start..end).unwrap_or_default().iter().map(|c| c.details()).collect();
    let mut out = Map::new();
    if !page.is_empty() {
        out.insert("clusters".into(), Value::Array(page));
    }
    if end < clusters.len() {
        out.insert("next_page_token".into(), json!(encode_token(end)));
    }
    if start > 0 {
        out.insert("prev_page_token".into(), json!(encode_token(start.saturating_sub(size))));
    }
    Ok(Json(Value::Object(out)))
}

/// Look up a cluster for a mutation, with due transitions applied.
fn cluster_mut<'a>(guard: &'a mut State, id: &str, now: i64) -> ApiResult<&'a mut Cluster> {
    let cluster = guard.clusters.get_mut(id).ok_or_else(|| no_such_cluster(id))?;
    cluster.resolve(now);
    Ok(cluster)
}

async fn start(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let id = require_str(&m, "cluster_id")?.to_string();
    let now = crate::now_ms();
    let delay = delay_ms(&state);
    let mut guard = lock(&state);
    let cluster = cluster_mut(&mut guard, &id, now)?;
    if cluster.state != "TERMINATED" {
        return Err(unexpected_state(&id, &cluster.state));
    }
    cluster.start_time = now;
    cluster.termination_reason = None;
    cluster.terminated_time = None;
    cluster.enter(now, "PENDING", "Starting the cluster", vec![("STARTING".into(), json!({"user": USER_NAME}))]);
    schedule_running(cluster, now, delay, vec![]);
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn restart(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let id = require_str(&m, "cluster_id")?.to_string();
    let _: types::ClustersRestartBody = typed(&m)?;
    let user = m.get("restart_user").and_then(Value::as_str).unwrap_or(USER_NAME).to_string();
    let now = crate::now_ms();
    let delay = delay_ms(&state);
    let mut guard = lock(&state);
    let cluster = cluster_mut(&mut guard, &id, now)?;
    if cluster.state != "RUNNING" {
        return Err(unexpected_state(&id, &cluster.state));
    }
    cluster.enter(now, "RESTARTING", "Restarting the cluster", vec![("RESTARTING".into(), json!({"user": user}))]);
    schedule_running(cluster, now, delay, vec![]);
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn resize(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let id = require_str(&m, "cluster_id")?.to_string();
    let _: types::ClustersResizeBody = typed(&m)?;
    let workers = m.get("num_workers").and_then(Value::as_i64);
    let autoscale = m.get("autoscale").filter(|v| !v.is_null()).cloned();
    match (workers, &autoscale) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("Only one of num_workers or autoscale can be set, not both."));
        }
        (None, None) => return Err(ApiError::invalid("One of num_workers or autoscale must be set.")),
        (Some(n), None) => check_workers(n)?,
        (None, Some(a)) => check_autoscale(a)?,
    }
    let now = crate::now_ms();
    let delay = delay_ms(&state);
    let mut guard = lock(&state);
    let cluster = cluster_mut(&mut guard, &id, now)?;
    if cluster.state != "RUNNING" {
        return Err(unexpected_state(&id, &cluster.state));
    }
    let before = cluster.workers();
    let previous_size = cluster.size();
    match (workers, autoscale) {
        (Some(n), _) => {
            cluster.spec.remove("autoscale");
            cluster.spec.insert("num_workers".into(), json!(n));
        }
        (None, Some(a)) => {
            cluster.spec.remove("num_workers");
            cluster.spec.insert("autoscale".into(), a);
        }
        (None, None) => {}
    }
    let after = cluster.workers();
    let resizing = json!({
        "current_num_workers": before,
        "target_num_workers": after,
        "previous_cluster_size": previous_size,
        "cluster_size": cluster.size(),
        "user": USER_NAME,
    });
    cluster.enter(now, "RESIZING", "Resizing the cluster", vec![("RESIZING".into(), resizing)]);
    let mut done = Vec::new();
    if after > before {
        done.push(("UPSIZE_COMPLETED".into(), json!({"current_num_workers": after, "target_num_workers": after})));
    }
    cluster.schedule(now.saturating_add(delay), "RUNNING", "", done);
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn delete(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let id = require_str(&m, "cluster_id")?.to_string();
    let now = crate::now_ms();
    let delay = delay_ms(&state);
    let mut guard = lock(&state);
    let cluster = cluster_mut(&mut guard, &id, now)?;
    if matches!(cluster.state.as_str(), "TERMINATED" | "TERMINATING") {
        return Ok(Json(json!({})));
    }
    let reason = json!({"code": "USER_REQUEST", "type": "SUCCESS", "parameters": {"username": USER_NAME}});
    cluster.pending.clear();
    cluster.termination_reason = Some(reason.clone());
    cluster.enter(
        now,
        "TERMINATING",
        "Terminating the cluster",
        vec![("TERMINATING".into(), json!({"reason": reason, "user": USER_NAME}))],
    );
    cluster.schedule(now.saturating_add(delay), "TERMINATED", "Terminated by user request", vec![]);
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn permanent_delete(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let id = require_str(&m, "cluster_id")?.to_string();
    let mut guard = lock(&state);
    if guard.clusters.remove(&id).is_none() {
        return Err(no_such_cluster(&id));
    }
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn events(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let id = require_str(&m, "cluster_id")?.to_string();
    let request: types::ClustersEventsBody = typed(&m)?;
    let order = request.order.as_deref().map(String::as_str).unwrap_or("DESC");
    if !["ASC", "DESC"].contains(&order) {
        return Err(ApiError::invalid(format!("Invalid value {order:?} for order; expected ASC or DESC.")));
    }
    let size = match (request.page_size, request.limit) {
        (Some(n), _) if n > 0 => usize::try_from(n).unwrap_or(EVENTS_PAGE_MAX).min(EVENTS_PAGE_MAX),
        (_, Some(n)) if n > 0 => usize::try_from(n).unwrap_or(EVENTS_PAGE_MAX).min(EVENTS_PAGE_MAX),
        (_, Some(n)) if n < 0 => return Err(ApiError::invalid(format!("limit must be 0 or more, got {n}."))),
        _ => EVENTS_PAGE_DEFAULT,
    };
    let start = match (&request.page_token, request.offset) {
        (Some(token), _) if !token.is_empty() => decode_token(token)?,
        (_, Some(n)) if n < 0 => return Err(ApiError::invalid(format!("offset must be 0 or more, got {n}."))),
        (_, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
        _ => 0,
    };
    let kinds: Vec<&str> = request.event_types.iter().map(|t| t.as_str()).collect();
    let now = crate::now_ms();
    let mut guard = lock(&state);
    let cluster = cluster_mut(&mut guard, &id, now)?;
    let mut matching: Vec<&Event> = cluster
        .events
        .iter()
        .filter(|e| request.start_time.is_none_or(|t| e.timestamp >= t))
        .filter(|e| request.end_time.is_none_or(|t| e.timestamp <= t))
        .filter(|e| kinds.is_empty() || kinds.contains(&e.kind.as_str()))
        .collect();
    // Stable sort by time keeps the recording order of events with equal timestamps.
    matching.sort_by_key(|e| e.timestamp);
    if order == "DESC" {
        matching.reverse();
    }
    let end = start.saturating_add(size).min(matching.len());
    let page: Vec<Value> = matching
        .get(start.min(matching.len())..end)
        .unwrap_or_default()
        .iter()
        .map(|e| json!({"cluster_id": id, "timestamp": e.timestamp, "type": e.kind, "details": e.details}))
        .collect();
    let mut out = Map::new();
    out.insert("events".into(), Value::Array(page));
    out.insert("total_count".into(), json!(matching.len()));
    if end < matching.len() {
        let mut next = m.clone();
        next.remove("page_token");
        next.insert("offset".into(), json!(end));
        if !next.contains_key("page_size") {
            next.insert("limit".into(), json!(size));
        }
        out.insert("next_page".into(), Value::Object(next));
        out.insert("next_page_token".into(), json!(encode_token(end)));
    }
    if start > 0 {
        out.insert("prev_page_token".into(), json!(encode_token(start.saturating_sub(size))));
    }
    Ok(Json(Value::Object(out)))
}

async fn spark_versions() -> Json<Value> {
    let versions: Vec<Value> = SPARK_VERSIONS.iter().map(|(key, name)| json!({"key": key, "name": name})).collect();
    Json(json!({ "versions": versions }))
}

async fn list_node_types() -> Json<Value> {
    let types: Vec<Value> = NODE_TYPES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "node_type_id": n.id,
                "instance_type_id": n.id,
                "memory_mb": n.memory_mb,
                "num_cores": n.cores,
                "num_gpus": n.gpus,
                "description": n.description,
                "category": n.category,
                "display_order": i,
                "is_deprecated": false,
                "is_hidden": false,
                "is_io_cache_enabled": n.id.starts_with("i3") || n.id.ends_with("d.large") || n.id.contains("d."),
                "photon_driver_capable": n.gpus == 0,
                "photon_worker_capable": n.gpus == 0,
                "support_ebs_volumes": true,
                "support_port_forwarding": true,
                "support_cluster_tags": true,
                "node_instance_type": {"instance_type_id": n.id, "local_disks": 1, "local_disk_size_gb": 150},
            })
        })
        .collect();
    Json(json!({ "node_types": types }))
}
