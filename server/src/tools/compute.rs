//! Tools of the `compute` toolset: all-purpose clusters, their events, and the
//! runtime versions and node types a cluster can use.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use databricks_client::wait::{self, WaitError};
use databricks_client::{Client, ErrorKind, types};
use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::tools::util;
use crate::{ToolContext, ToolError, ToolOutput, ToolResult, tool};

// ---------------------------------------------------------------------------
// Helpers shared with the command-execution tools.

/// How a wait ended, when it did not fail outright.
pub(crate) enum Waited<T> {
    /// The target state was reached.
    Done(T),
    /// The deadline passed first; the operation may still be in progress.
    TimedOut { state: String, elapsed: Duration },
    /// The request was cancelled by the client while waiting.
    Cancelled { state: String },
}

/// Sort a waiter's outcome into what a tool reports: a wait that reached a failure
/// state or could not poll is an error; timing out and cancellation are for the tool
/// to handle.
pub(crate) fn waited<T>(outcome: Result<T, WaitError>) -> Result<Waited<T>, ToolError> {
    match outcome {
        Ok(value) => Ok(Waited::Done(value)),
        Err(WaitError::TimedOut { state, elapsed, .. }) => Ok(Waited::TimedOut { state, elapsed }),
        Err(WaitError::Cancelled { state, .. }) => Ok(Waited::Cancelled { state }),
        Err(other) => Err(other.into()),
    }
}

/// Clean-up work (cancel what a tool started, free what it created) that must happen
/// even when the tool's future is dropped, as it is when the client cancels the
/// request. Armed until [`Cleanup::run`] or [`Cleanup::disarm`]; dropping an armed
/// guard runs the work on a detached task.
pub(crate) struct Cleanup(Option<BoxFuture<'static, Option<String>>>);

impl Cleanup {
    /// Arm a guard with the clean-up work; the work yields a note when part of it failed.
    pub(crate) fn new(work: impl Future<Output = Option<String>> + Send + 'static) -> Self {
        Self(Some(work.boxed()))
    }

    /// Nothing to clean up any more.
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }

    /// Run the work now and wait for it. It runs on its own task, so it completes even
    /// if the caller is dropped meanwhile.
    pub(crate) async fn run(mut self) -> Option<String> {
        let work = self.0.take()?;
        match tokio::spawn(work).await {
            Ok(note) => note,
            Err(e) => Some(format!("the clean-up task failed: {e}")),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(work) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Some(note) = work.await {
                    tracing::warn!("clean-up after an interrupted tool call: {note}");
                }
            });
        }
    }
}

/// A timestamp in epoch milliseconds as an ISO-8601 UTC string.
pub(crate) fn iso_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

fn text<S: std::ops::Deref<Target = String>>(value: &Option<S>) -> Option<String> {
    value.as_ref().map(|s| s.to_string())
}

/// The fields an agent needs to recognise and pick a cluster.
fn cluster_summary(c: &types::ClusterDetails) -> Value {
    let termination = c.termination_reason.as_ref().and_then(|r| r.code.as_ref()).map(|code| code.to_string());
    util::compact(json!({
        "cluster_id": c.cluster_id,
        "cluster_name": c.cluster_name,
        "state": text(&c.state),
        "state_message": c.state_message.as_deref().filter(|m| !m.is_empty()),
        "termination_code": termination,
        "spark_version": c.spark_version,
        "node_type_id": c.node_type_id,
        "num_workers": if c.autoscale.is_none() { c.num_workers } else { None },
        "autoscale": c.autoscale.as_ref().map(|a| json!({"min_workers": a.min_workers, "max_workers": a.max_workers})),
        "autotermination_minutes": c.autotermination_minutes,
        "creator": c.creator_user_name,
        "cluster_source": text(&c.cluster_source),
    }))
}

/// A short human line about a cluster: `name (id): STATE`.
fn cluster_line(c: &types::ClusterDetails) -> String {
    let id = c.cluster_id.as_deref().unwrap_or("?");
    let state = text(&c.state).unwrap_or_else(|| "UNKNOWN".into());
    match c.cluster_name.as_deref() {
        Some(name) if !name.is_empty() => format!("cluster {name} ({id}) is {state}"),
        _ => format!("cluster {id} is {state}"),
    }
}

async fn get_details(client: &Client, cluster_id: &str) -> Result<types::ClusterDetails, ToolError> {
    Ok(client.clusters_get().cluster_id(cluster_id).send().await?.into_inner())
}

/// Which state a wait is for.
#[derive(Clone, Copy)]
enum Target {
    Running,
    Terminated,
}

/// Wait for a cluster after an action and turn the outcome into the tool's answer.
/// `done` is the sentence for success; `cancel_cleanup`, when given, is armed while
/// waiting and run if the client cancels.
async fn wait_for_cluster(
    ctx: &ToolContext,
    cluster_id: &str,
    target: Target,
    timeout_seconds: Option<u64>,
    done: &str,
    cancel_cleanup: Option<Cleanup>,
) -> ToolResult {
    let timeout = util::wait_timeout(timeout_seconds);
    let options = ctx.wait_options(timeout);
    let outcome = match target {
        Target::Running => wait::cluster_running(&ctx.client, cluster_id, &options).await,
        Target::Terminated => wait::cluster_terminated(&ctx.client, cluster_id, &options).await,
    };
    let outcome = match waited(outcome) {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Some(mut cleanup) = cancel_cleanup {
                cleanup.disarm();
            }
            return Err(match e {
                ToolError::Failed(message) => ToolError::failed(format!(
                    "{message}. Look at list_cluster_events for cluster {cluster_id} to see why."
                )),
                other => other,
            });
        }
    };
    let (goal, poll_hint) = match target {
        Target::Running => ("RUNNING", "get_cluster"),
        Target::Terminated => ("TERMINATED", "get_cluster"),
    };
    match outcome {
        Waited::Done(details) => {
            if let Some(mut cleanup) = cancel_cleanup {
                cleanup.disarm();
            }
            Ok(ToolOutput::with_structured(
                format!("{done} Now {}.", cluster_line(&details)),
                cluster_summary(&details),
            ))
        }
        Waited::TimedOut { state, elapsed } => {
            if let Some(mut cleanup) = cancel_cleanup {
                cleanup.disarm();
            }
            let text = format!(
                "{done} Stopped waiting after {}s: cluster {cluster_id} is {state}, not yet {goal}, and may still be \
                 changing. Poll it with {poll_hint}; do not repeat the action.",
                elapsed.as_secs()
            );
            Ok(ToolOutput::with_structured(
                text,
                json!({"cluster_id": cluster_id, "state": state, "waited_seconds": elapsed.as_secs(), "timed_out": true}),
            ))
        }
        Waited::Cancelled { state } => {
            let note = match cancel_cleanup {
                Some(cleanup) => match cleanup.run().await {
                    Some(problem) => format!(" Clean-up failed: {problem}"),
                    None => {
                        format!(" Cluster {cluster_id} was terminated because the call that created it was cancelled.")
                    }
                },
                None => format!(" Cluster {cluster_id} was {state}; the action itself was not undone."),
            };
            Err(ToolError::failed(format!("Cancelled while waiting for cluster {cluster_id} to be {goal}.{note}")))
        }
    }
}

/// Terminate a cluster as clean-up; yields a note when that fails.
fn terminate_cleanup(client: &Client, cluster_id: &str) -> Cleanup {
    let client = client.clone();
    let cluster_id = cluster_id.to_string();
    Cleanup::new(async move {
        let body = types::ClustersDeleteBody { cluster_id: cluster_id.clone() };
        match client.clusters_delete().body(body).send().await {
            Ok(_) => None,
            Err(e) => Some(format!("could not terminate cluster {cluster_id}: {}", databricks_client::Error::from(e))),
        }
    })
}

// ---------------------------------------------------------------------------
// Argument types.

/// A cluster state, as the clusters API names it.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterState {
    Pending,
    Running,
    Restarting,
    Resizing,
    Terminating,
    Terminated,
    Error,
    Unknown,
}

impl ClusterState {
    fn id(self) -> &'static str {
        match self {
            ClusterState::Pending => "PENDING",
            ClusterState::Running => "RUNNING",
            ClusterState::Restarting => "RESTARTING",
            ClusterState::Resizing => "RESIZING",
            ClusterState::Terminating => "TERMINATING",
            ClusterState::Terminated => "TERMINATED",
            ClusterState::Error => "ERROR",
            ClusterState::Unknown => "UNKNOWN",
        }
    }
}

/// An autoscaling range.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Autoscale {
    /// Fewest workers; the cluster starts with this many. 0 or more.
    pub min_workers: i64,
    /// Most workers the cluster may grow to; at least `min_workers` and at least 1.
    pub max_workers: i64,
}

impl Autoscale {
    fn check(self, field: &str) -> Result<types::AutoScale, ToolError> {
        if self.min_workers < 0 || self.max_workers < 1 || self.max_workers < self.min_workers {
            return Err(ToolError::InvalidArguments(format!(
                "invalid argument `{field}`: need 0 <= min_workers <= max_workers and max_workers >= 1 (got {} and {})",
                self.min_workers, self.max_workers
            )));
        }
        Ok(types::AutoScale { min_workers: Some(self.min_workers), max_workers: Some(self.max_workers) })
    }
}

/// Arguments of `list_clusters`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListClustersArgs {
    /// Only clusters in these states, e.g. ["RUNNING"]. Omit for all states.
    #[serde(default)]
    pub states: Option<Vec<ClusterState>>,
    /// Most clusters per page (the server caps it). Omit for the server's default.
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_page_token` from a previous call, to get the next page with the same filters.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// Arguments naming one cluster.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterIdArgs {
    /// The cluster's id, e.g. "0123-456789-abcdefgh" (see list_clusters).
    pub cluster_id: String,
}

/// Arguments of `create_cluster`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClusterArgs {
    /// Display name of the new cluster.
    pub cluster_name: String,
    /// Databricks Runtime key, e.g. "15.4.x-scala2.12"; list_spark_versions gives the valid keys.
    pub spark_version: String,
    /// Worker (and default driver) node type, e.g. "i3.xlarge"; list_node_types gives the valid ids.
    /// May be omitted when `extra` sets `instance_pool_id` or a policy provides it.
    #[serde(default)]
    pub node_type_id: Option<String>,
    /// Fixed number of workers; 0 makes a driver-only cluster. Give this or `autoscale`.
    #[serde(default)]
    pub num_workers: Option<i64>,
    /// Autoscaling range instead of a fixed size. Give this or `num_workers`.
    #[serde(default)]
    pub autoscale: Option<Autoscale>,
    /// Minutes of inactivity after which the cluster terminates itself. Default 60;
    /// 0 disables auto-termination (the cluster then runs, and costs, until terminated).
    #[serde(default)]
    pub autotermination_minutes: Option<i64>,
    /// Spark configuration key/value pairs, e.g. {"spark.sql.shuffle.partitions": "64"}.
    #[serde(default)]
    pub spark_conf: Option<BTreeMap<String, String>>,
    /// Tags added to the cluster's cloud resources, e.g. {"team": "data"}.
    #[serde(default)]
    pub custom_tags: Option<BTreeMap<String, String>>,
    /// Access mode, e.g. "SINGLE_USER" (also set `single_user_name` in `extra`),
    /// "USER_ISOLATION" (shared, Unity Catalog) or "DATA_SECURITY_MODE_AUTO".
    #[serde(default)]
    pub data_security_mode: Option<String>,
    /// More fields of the clusters/create request merged into it as given, e.g.
    /// {"driver_node_type_id": "...", "single_user_name": "...", "spark_env_vars": {...},
    /// "aws_attributes": {...}, "policy_id": "...", "instance_pool_id": "..."}. Must not
    /// repeat a field given above.
    #[serde(default)]
    pub extra: Option<Map<String, Value>>,
    /// Wait until the cluster is RUNNING before answering. Default false: answer at once
    /// with the id (a start takes several minutes).
    #[serde(default)]
    pub wait: Option<bool>,
    /// With `wait`: seconds to wait at most (default 300, max 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Arguments of `start_cluster`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartClusterArgs {
    /// The cluster's id (see list_clusters).
    pub cluster_id: String,
    /// Wait until the cluster is RUNNING before answering. Default false.
    #[serde(default)]
    pub wait: Option<bool>,
    /// With `wait`: seconds to wait at most (default 300, max 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Arguments of `restart_cluster`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartClusterArgs {
    /// The cluster's id (see list_clusters). It must be RUNNING.
    pub cluster_id: String,
    /// Set to true to confirm restarting the cluster, which interrupts all work running on it.
    #[serde(default)]
    pub confirm: bool,
    /// Wait until the cluster is RUNNING again before answering. Default false.
    #[serde(default)]
    pub wait: Option<bool>,
    /// With `wait`: seconds to wait at most (default 300, max 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Arguments of `resize_cluster`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResizeClusterArgs {
    /// The cluster's id (see list_clusters). It must be RUNNING.
    pub cluster_id: String,
    /// New fixed number of workers. Give this or `autoscale`.
    #[serde(default)]
    pub num_workers: Option<i64>,
    /// New autoscaling range. Give this or `num_workers`.
    #[serde(default)]
    pub autoscale: Option<Autoscale>,
    /// Wait until the resize is done (state RUNNING) before answering. Default false.
    #[serde(default)]
    pub wait: Option<bool>,
    /// With `wait`: seconds to wait at most (default 300, max 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Arguments of `terminate_cluster`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminateClusterArgs {
    /// The cluster's id (see list_clusters).
    pub cluster_id: String,
    /// Set to true to confirm terminating the cluster, which stops all work running on it.
    #[serde(default)]
    pub confirm: bool,
    /// Wait until the cluster is TERMINATED before answering. Default false.
    #[serde(default)]
    pub wait: Option<bool>,
    /// With `wait`: seconds to wait at most (default 300, max 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Sort order of events.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
pub enum EventOrder {
    #[default]
    #[serde(rename = "DESC")]
    Desc,
    #[serde(rename = "ASC")]
    Asc,
}

/// Arguments of `list_cluster_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListClusterEventsArgs {
    /// The cluster's id (see list_clusters); terminated clusters have events too.
    pub cluster_id: String,
    /// Only these event types, e.g. ["TERMINATING", "RESIZING", "INIT_SCRIPTS_FINISHED",
    /// "ADD_NODES_FAILED", "DRIVER_NOT_RESPONDING"]. Omit for all.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// "DESC" (newest first, the default) or "ASC".
    #[serde(default)]
    pub order: EventOrder,
    /// Events per page, 1 to 500. Default 50.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// `next_page_token` from a previous call, to get the next page with the same filters.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// Arguments of `list_spark_versions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSparkVersionsArgs {
    /// Keep only versions whose key or name contains this text (case-insensitive), e.g. "LTS" or "ml".
    #[serde(default)]
    pub contains: Option<String>,
}

/// Arguments of `list_node_types`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListNodeTypesArgs {
    /// Keep only node types whose id, category or description contains this text (case-insensitive).
    #[serde(default)]
    pub contains: Option<String>,
    /// Also list deprecated and hidden node types. Default false.
    #[serde(default)]
    pub include_deprecated: bool,
}

// ---------------------------------------------------------------------------
// Tools.

/// List the workspace's clusters (running ones and those terminated in the last 30
/// days) as summaries: cluster_id, cluster_name, state, spark_version, node_type_id,
/// num_workers or autoscale, creator. Filter by `states`; when `next_page_token` is
/// returned, pass it as `page_token` for more. Use get_cluster for a cluster's full
/// configuration.
#[tool(toolset = "compute", read_only, operation = "clusters_list")]
pub async fn list_clusters(ctx: ToolContext, args: ListClustersArgs) -> ToolResult {
    let mut request = ctx.client.clusters_list();
    if let Some(states) = args.states.filter(|s| !s.is_empty()) {
        let states: Vec<types::State> = states.iter().map(|s| types::State(s.id().to_string())).collect();
        request = request.filter_by_cluster_states(states);
    }
    if let Some(limit) = args.limit.filter(|l| *l > 0) {
        request = request.page_size(i64::from(limit));
    }
    if let Some(token) = args.page_token.filter(|t| !t.is_empty()) {
        request = request.page_token(token);
    }
    let page = request.send().await?.into_inner();
    let clusters: Vec<Value> = page.clusters.iter().map(cluster_summary).collect();
    let mut out = json!({ "count": clusters.len(), "clusters": clusters });
    if let Some(token) = page.next_page_token.filter(|t| !t.is_empty()) {
        out["next_page_token"] = json!(token);
    }
    Ok(ToolOutput::json(out))
}

/// Get one cluster's full details: configuration (size, node types, runtime, Spark
/// conf, tags, access mode), current state and state_message, driver and executors,
/// timestamps and, when terminated, the termination_reason. Use it to poll a cluster
/// after create_cluster, start_cluster, restart_cluster, resize_cluster or terminate_cluster.
#[tool(toolset = "compute", read_only, operation = "clusters_get")]
pub async fn get_cluster(ctx: ToolContext, args: ClusterIdArgs) -> ToolResult {
    let details = get_details(&ctx.client, &args.cluster_id).await?;
    Ok(ToolOutput::json(details))
}

/// Top-level fields of a clusters/create request, from the client's request type.
fn create_fields() -> &'static Vec<String> {
    static FIELDS: OnceLock<Vec<String>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<types::ClustersCreateBody>();
        schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| props.keys().cloned().collect())
            .unwrap_or_default()
    })
}

/// Build the clusters/create request from the typed arguments and `extra`.
fn create_body(args: &CreateClusterArgs) -> Result<types::ClustersCreateBody, ToolError> {
    let invalid = |field: &str, why: String| ToolError::InvalidArguments(format!("invalid argument `{field}`: {why}"));
    let mut body = Map::new();
    body.insert("cluster_name".into(), json!(args.cluster_name));
    body.insert("spark_version".into(), json!(args.spark_version));
    if let Some(node) = &args.node_type_id {
        body.insert("node_type_id".into(), json!(node));
    }
    if let Some(n) = args.num_workers {
        if n < 0 {
            return Err(invalid("num_workers", format!("must be 0 or more, got {n}")));
        }
        body.insert("num_workers".into(), json!(n));
    }
    if let Some(range) = args.autoscale {
        body.insert("autoscale".into(), json!(range.check("autoscale")?));
    }
    if let Some(minutes) = args.autotermination_minutes {
        body.insert("autotermination_minutes".into(), json!(minutes));
    }
    if let Some(conf) = &args.spark_conf {
        body.insert("spark_conf".into(), json!(conf));
    }
    if let Some(tags) = &args.custom_tags {
        body.insert("custom_tags".into(), json!(tags));
    }
    if let Some(mode) = &args.data_security_mode {
        body.insert("data_security_mode".into(), json!(mode));
    }
    let extra = args.extra.clone().unwrap_or_default();
    for (key, value) in extra {
        let field = format!("extra.{key}");
        if body.contains_key(&key) {
            return Err(invalid(&field, format!("`{key}` is already given as its own argument; set it only once")));
        }
        if !create_fields().contains(&key) {
            return Err(invalid(
                &field,
                format!(
                    "`{key}` is not a field of the clusters/create request; known fields: {}",
                    create_fields().join(", ")
                ),
            ));
        }
        body.insert(key, value);
    }
    // Safety net: a forgotten cluster should not run forever.
    body.entry("autotermination_minutes").or_insert(json!(60));
    let has = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
    if has("num_workers") && has("autoscale") {
        return Err(ToolError::InvalidArguments("give either `num_workers` or `autoscale`, not both".into()));
    }
    let single_node = body.get("is_single_node").and_then(Value::as_bool) == Some(true);
    if !has("num_workers") && !has("autoscale") && !single_node {
        return Err(ToolError::InvalidArguments(
            "give `num_workers` (0 for a driver-only cluster) or `autoscale` {min_workers, max_workers}".into(),
        ));
    }
    let from_extra: Vec<String> = args.extra.as_ref().map(|e| e.keys().cloned().collect()).unwrap_or_default();
    serde_path_to_error::deserialize(Value::Object(body)).map_err(|e| {
        let path = e.path().to_string();
        let top = path.split(['.', '[']).next().unwrap_or_default().to_string();
        let field = if from_extra.contains(&top) { format!("extra.{path}") } else { path };
        invalid(&field, e.into_inner().to_string())
    })
}

/// Create an all-purpose cluster and return its cluster_id. Typed fields cover the
/// usual settings (name, runtime, node type, size or autoscale range, auto-termination,
/// Spark conf, tags, access mode); `extra` passes any other clusters/create field.
/// Auto-termination defaults to 60 minutes so a forgotten cluster stops. Use
/// list_spark_versions and list_node_types for valid values. By default it answers at
/// once while the cluster starts (several minutes); poll with get_cluster, or set
/// `wait` to wait until RUNNING. If a wait runs out of time the cluster keeps starting:
/// poll it rather than creating another. The cluster bills until terminated.
#[tool(toolset = "compute", read_only = false, operations = ["clusters_create", "clusters_get", "clusters_delete"])]
pub async fn create_cluster(ctx: ToolContext, args: CreateClusterArgs) -> ToolResult {
    let body = create_body(&args)?;
    let created = ctx.client.clusters_create().body(body).send().await?.into_inner();
    let Some(cluster_id) = created.cluster_id.filter(|id| !id.is_empty()) else {
        return Err(ToolError::failed(
            "Databricks accepted the cluster but returned no cluster_id; find it with list_clusters.",
        ));
    };
    let done = format!("Created cluster {} ({cluster_id}).", args.cluster_name);
    if args.wait != Some(true) {
        let text =
            format!("{done} It is starting; poll get_cluster until its state is RUNNING (usually a few minutes).");
        return Ok(ToolOutput::with_structured(text, json!({"cluster_id": cluster_id, "state": "PENDING"})));
    }
    let cleanup = terminate_cleanup(&ctx.client, &cluster_id);
    wait_for_cluster(&ctx, &cluster_id, Target::Running, args.timeout_seconds, &done, Some(cleanup)).await
}

/// Start a TERMINATED cluster with its last configuration (same cluster_id). A cluster
/// that is already running or starting is left as it is. By default it answers at once;
/// set `wait` to wait until RUNNING (starting takes a few minutes), or poll get_cluster.
#[tool(toolset = "compute", read_only = false, idempotent, operations = ["clusters_start", "clusters_get"])]
pub async fn start_cluster(ctx: ToolContext, args: StartClusterArgs) -> ToolResult {
    let body = types::ClustersStartBody { cluster_id: args.cluster_id.clone() };
    let done = match ctx.client.clusters_start().body(body).send().await {
        Ok(_) => format!("Starting cluster {}.", args.cluster_id),
        Err(e) => {
            let e = databricks_client::Error::from(e);
            if e.kind() != Some(ErrorKind::InvalidState) {
                return Err(e.into());
            }
            // Not TERMINATED: say what it is doing rather than fail.
            let details = get_details(&ctx.client, &args.cluster_id).await?;
            let state = text(&details.state).unwrap_or_default();
            match state.as_str() {
                "RUNNING" | "RESIZING" => {
                    return Ok(ToolOutput::with_structured(
                        format!("Nothing to do: {}.", cluster_line(&details)),
                        cluster_summary(&details),
                    ));
                }
                "PENDING" | "RESTARTING" => format!("Cluster {} is already starting.", args.cluster_id),
                _ => return Err(e.into()),
            }
        }
    };
    if args.wait != Some(true) {
        return Ok(ToolOutput::with_structured(
            format!("{done} Poll get_cluster until its state is RUNNING."),
            json!({"cluster_id": args.cluster_id, "state": "PENDING"}),
        ));
    }
    wait_for_cluster(&ctx, &args.cluster_id, Target::Running, args.timeout_seconds, &done, None).await
}

/// Restart a RUNNING cluster (same id and configuration). Destructive: running
/// commands, notebook state, execution contexts and cached data on it are lost.
/// Needs confirm: true. By default it answers at once; set `wait` to wait until it is
/// RUNNING again, or poll get_cluster.
#[tool(toolset = "compute", read_only = false, destructive, operations = ["clusters_restart", "clusters_get"])]
pub async fn restart_cluster(ctx: ToolContext, args: RestartClusterArgs) -> ToolResult {
    ctx.confirm(
        args.confirm,
        &format!(
            "Restart cluster {}: all work running on it is interrupted and its in-memory state is lost",
            args.cluster_id
        ),
    )
    .await?;
    let body = types::ClustersRestartBody { cluster_id: args.cluster_id.clone(), restart_user: None };
    ctx.client.clusters_restart().body(body).send().await?;
    let done = format!("Restarting cluster {}.", args.cluster_id);
    if args.wait != Some(true) {
        return Ok(ToolOutput::with_structured(
            format!("{done} Poll get_cluster until its state is RUNNING."),
            json!({"cluster_id": args.cluster_id, "state": "RESTARTING"}),
        ));
    }
    wait_for_cluster(&ctx, &args.cluster_id, Target::Running, args.timeout_seconds, &done, None).await
}

/// Change the size of a RUNNING cluster without restarting it: a fixed `num_workers`
/// or an `autoscale` range (give exactly one). The cluster stays usable while RESIZING.
/// By default it answers at once; set `wait` to wait until the resize is done.
#[tool(toolset = "compute", read_only = false, idempotent, operations = ["clusters_resize", "clusters_get"])]
pub async fn resize_cluster(ctx: ToolContext, args: ResizeClusterArgs) -> ToolResult {
    let (num_workers, autoscale) = match (args.num_workers, args.autoscale) {
        (Some(_), Some(_)) => {
            return Err(ToolError::InvalidArguments("give either `num_workers` or `autoscale`, not both".into()));
        }
        (None, None) => {
            return Err(ToolError::InvalidArguments("give `num_workers` or `autoscale` for the new size".into()));
        }
        (Some(n), None) if n < 0 => {
            return Err(ToolError::InvalidArguments(format!(
                "invalid argument `num_workers`: must be 0 or more, got {n}"
            )));
        }
        (Some(n), None) => (Some(n), None),
        (None, Some(range)) => (None, Some(range.check("autoscale")?)),
    };
    let size = match (&num_workers, &autoscale) {
        (Some(n), _) => format!("{n} workers"),
        (_, Some(a)) => format!("{} to {} workers", a.min_workers.unwrap_or(0), a.max_workers.unwrap_or(0)),
        _ => String::new(),
    };
    let body = types::ClustersResizeBody { cluster_id: args.cluster_id.clone(), num_workers, autoscale };
    ctx.client.clusters_resize().body(body).send().await?;
    let done = format!("Resizing cluster {} to {size}.", args.cluster_id);
    if args.wait != Some(true) {
        return Ok(ToolOutput::with_structured(
            format!("{done} Poll get_cluster until its state is RUNNING again."),
            json!({"cluster_id": args.cluster_id, "state": "RESIZING"}),
        ));
    }
    wait_for_cluster(&ctx, &args.cluster_id, Target::Running, args.timeout_seconds, &done, None).await
}

/// Terminate a cluster: stop it and release its nodes. Destructive: running work and
/// in-memory state are lost. The configuration is kept, so start_cluster can bring it
/// back with the same id. Needs confirm: true. Terminating a terminated cluster does
/// nothing. By default it answers at once; set `wait` to wait until TERMINATED.
#[tool(
    toolset = "compute",
    read_only = false,
    destructive,
    idempotent,
    operations = ["clusters_delete", "clusters_get"]
)]
pub async fn terminate_cluster(ctx: ToolContext, args: TerminateClusterArgs) -> ToolResult {
    ctx.confirm(
        args.confirm,
        &format!(
            "Terminate cluster {}: all work running on it stops and its nodes are released (it can be started again)",
            args.cluster_id
        ),
    )
    .await?;
    let body = types::ClustersDeleteBody { cluster_id: args.cluster_id.clone() };
    ctx.client.clusters_delete().body(body).send().await?;
    let done = format!("Terminating cluster {}.", args.cluster_id);
    if args.wait != Some(true) {
        return Ok(ToolOutput::with_structured(
            format!("{done} Poll get_cluster until its state is TERMINATED."),
            json!({"cluster_id": args.cluster_id, "state": "TERMINATING"}),
        ));
    }
    wait_for_cluster(&ctx, &args.cluster_id, Target::Terminated, args.timeout_seconds, &done, None).await
}

/// Page tokens of list_cluster_events that stand for a legacy `next_page` offset.
const OFFSET_TOKEN: &str = "offset:";

/// The useful part of an event's details: sizes, reason, user, cause; for edits, which
/// settings changed rather than both full configurations.
fn event_details(details: Option<&types::EventDetails>) -> Value {
    let Some(details) = details else { return Value::Null };
    let Ok(Value::Object(mut map)) = serde_json::to_value(details) else { return Value::Null };
    let before = map.remove("previous_attributes");
    let after = map.remove("attributes");
    if let (Some(Value::Object(before)), Some(Value::Object(after))) = (&before, &after) {
        let mut changed: Vec<&String> =
            after.keys().chain(before.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
        changed.sort();
        changed.dedup();
        map.insert("changed_settings".into(), json!(changed));
    } else if after.is_some() {
        map.insert("configuration".into(), json!("recorded; see get_cluster for the current one"));
    }
    util::compact(Value::Object(map))
}

/// List a cluster's events (creation, starts, restarts, resizes, edits, terminations
/// with their reason, autoscaling, driver health, init scripts), newest first by
/// default. Each has timestamp, time (UTC), type and the key details. Filter with
/// `event_types`; when `next_page_token` is returned, pass it as `page_token` for older
/// events. Use it to find out why a cluster failed to start or terminated.
#[tool(toolset = "compute", read_only, operation = "clusters_events")]
pub async fn list_cluster_events(ctx: ToolContext, args: ListClusterEventsArgs) -> ToolResult {
    let page_size = i64::from(args.page_size.unwrap_or(50).clamp(1, 500));
    let (page_token, offset) = match args.page_token.filter(|t| !t.is_empty()) {
        Some(token) => match token.strip_prefix(OFFSET_TOKEN) {
            Some(n) => {
                let n = n.parse::<i64>().map_err(|_| {
                    ToolError::InvalidArguments("invalid argument `page_token`: not a token this tool returned".into())
                })?;
                (None, Some(n))
            }
            None => (Some(token), None),
        },
        None => (None, None),
    };
    let order = Some(types::GetEventsOrder(
        match args.order {
            EventOrder::Asc => "ASC",
            EventOrder::Desc => "DESC",
        }
        .into(),
    ));
    let event_types: Vec<types::EventType> =
        args.event_types.unwrap_or_default().into_iter().map(|t| types::EventType(t.trim().to_uppercase())).collect();
    let body = types::ClustersEventsBody {
        cluster_id: args.cluster_id.clone(),
        end_time: None,
        event_types,
        // The legacy offset paging needs `limit`; the token paging uses `page_size`.
        limit: offset.map(|_| page_size),
        offset,
        order,
        page_size: if offset.is_none() { Some(page_size) } else { None },
        page_token,
        start_time: None,
    };
    let page = ctx.client.clusters_events().body(body).send().await?.into_inner();
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| {
            util::compact(json!({
                "timestamp": e.timestamp,
                "time": e.timestamp.map(iso_utc),
                "type": text(&e.type_),
                "details": event_details(e.details.as_ref()),
            }))
        })
        .collect();
    let mut out = json!({ "cluster_id": args.cluster_id, "count": events.len(), "events": events });
    if let Some(total) = page.total_count {
        out["total_count"] = json!(total);
    }
    let next = page
        .next_page_token
        .filter(|t| !t.is_empty())
        .or_else(|| page.next_page.get("offset").and_then(Value::as_i64).map(|n| format!("{OFFSET_TOKEN}{n}")));
    if let Some(token) = next {
        out["next_page_token"] = json!(token);
    }
    Ok(ToolOutput::json(out))
}

/// List the Databricks Runtime versions clusters can use: each `key` (pass it as
/// `spark_version` to create_cluster) and display `name` (shows LTS, ML, Photon, GPU
/// and the Spark/Scala versions). Filter with `contains`, e.g. "LTS".
#[tool(toolset = "compute", read_only, operation = "clusters_spark_versions")]
pub async fn list_spark_versions(ctx: ToolContext, args: ListSparkVersionsArgs) -> ToolResult {
    let response = ctx.client.clusters_spark_versions().send().await?.into_inner();
    let needle = args.contains.map(|c| c.to_lowercase()).filter(|c| !c.is_empty());
    let mut versions: Vec<Value> = response
        .versions
        .iter()
        .filter(|v| {
            needle.as_ref().is_none_or(|n| {
                v.key.as_deref().unwrap_or_default().to_lowercase().contains(n)
                    || v.name.as_deref().unwrap_or_default().to_lowercase().contains(n)
            })
        })
        .map(|v| util::compact(json!({"key": v.key, "name": v.name})))
        .collect();
    versions.sort_by(|a, b| util::cell(&b["key"]).cmp(&util::cell(&a["key"])));
    Ok(ToolOutput::json(json!({ "count": versions.len(), "versions": versions })))
}

/// List the node (instance) types clusters can use: node_type_id (pass it to
/// create_cluster), memory_mb, num_cores, num_gpus, category and description.
/// Deprecated and hidden types are left out unless `include_deprecated` is true.
/// Filter with `contains`, e.g. "GPU" or "Memory Optimized".
#[tool(toolset = "compute", read_only, operation = "clusters_list_node_types")]
pub async fn list_node_types(ctx: ToolContext, args: ListNodeTypesArgs) -> ToolResult {
    let response = ctx.client.clusters_list_node_types().send().await?.into_inner();
    let needle = args.contains.map(|c| c.to_lowercase()).filter(|c| !c.is_empty());
    let mut skipped = 0usize;
    let mut nodes: Vec<&types::NodeType> = response
        .node_types
        .iter()
        .filter(|n| {
            let old = n.is_deprecated == Some(true) || n.is_hidden == Some(true);
            if old && !args.include_deprecated {
                skipped += 1;
                return false;
            }
            needle.as_ref().is_none_or(|s| {
                [&n.node_type_id, &n.category, &n.description].iter().any(|f| f.to_lowercase().contains(s))
            })
        })
        .collect();
    nodes.sort_by(|a, b| {
        a.category.cmp(&b.category).then(a.memory_mb.cmp(&b.memory_mb)).then(a.node_type_id.cmp(&b.node_type_id))
    });
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.node_type_id.clone(),
                n.memory_mb.to_string(),
                n.num_cores.to_string(),
                n.num_gpus.unwrap_or(0).to_string(),
                n.category.clone(),
                n.description.clone(),
            ]
        })
        .collect();
    let mut text =
        util::markdown_table(&["node_type_id", "memory_mb", "num_cores", "num_gpus", "category", "description"], &rows);
    text.push_str(&format!("\n{} node types", nodes.len()));
    if skipped > 0 {
        text.push_str(&format!("; {skipped} deprecated or hidden ones left out (include_deprecated: true lists them)"));
    }
    text.push('.');
    let structured: Vec<Value> = nodes
        .iter()
        .map(|n| {
            util::compact(json!({
                "node_type_id": n.node_type_id,
                "memory_mb": n.memory_mb,
                "num_cores": n.num_cores,
                "num_gpus": n.num_gpus,
                "category": n.category,
                "description": n.description,
                "is_deprecated": n.is_deprecated.filter(|d| *d),
            }))
        })
        .collect();
    Ok(ToolOutput::with_structured(text, json!({ "count": nodes.len(), "node_types": structured })))
}

#[cfg(test)]
mod tests {
    use super::iso_utc;

    #[test]
    fn timestamps_render_as_utc() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_utc(1_795_561_977_836), "2026-11-24T23:12:57.836Z");
        assert_eq!(iso_utc(-1_000), "1969-12-31T23:59:59.000Z");
    }
}
