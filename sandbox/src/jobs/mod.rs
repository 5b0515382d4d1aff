//! Jobs API 2.2: jobs, runs of jobs (`run-now`) and one-time runs (`runs/submit`).
//!
//! Runs really execute, each in its own background task: a `notebook_task` whose
//! notebook is a SQL notebook runs cell by cell on the sandbox's SQL engine, and a
//! `sql_task` with a `file` runs the statements of that workspace file. Other task
//! kinds finish FAILED with a message saying the sandbox runs SQL only.
//!
//! Run lifecycle: QUEUED (only when the job's concurrency limit is reached and
//! queueing is on) → PENDING (for the transition delay) → RUNNING → TERMINATED with a
//! result state; a cancel passes through TERMINATING. Runs that were in flight when
//! the sandbox stopped are not re-run: on the next start [`resume`] ends them with
//! life-cycle state INTERNAL_ERROR and a message saying so, as a cluster failure
//! would on Databricks.
//!
//! Jobs, runs, their outputs and idempotency tokens are persisted.

mod runner;
pub mod script;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::Router;
use axum::extract::State as Ax;
use axum::routing::{get, post};
use databricks_client::types;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::clusters::{body_object, typed};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Params, decode_token, encode_token};
use crate::identity::USER_NAME;
use crate::{AppState, Store};

const STORE_NAME: &str = "jobs";
const FIRST_JOB_ID: i64 = 100_001;
const FIRST_RUN_ID: i64 = 700_001;
/// Jobs 2.2 returns inner arrays this many entries at a time.
const INNER_PAGE: usize = 100;
const MAX_TASKS: usize = 1000;
const JOB_ARRAYS: &[&str] = &["tasks", "job_clusters", "environments", "parameters"];
const RUN_ARRAYS: &[&str] = &["tasks", "job_clusters", "job_parameters", "repair_history", "iterations"];
/// Task types a task can have; exactly one must be set.
const TASK_KINDS: &[&str] = &[
    "notebook_task",
    "sql_task",
    "spark_python_task",
    "spark_jar_task",
    "spark_submit_task",
    "python_wheel_task",
    "pipeline_task",
    "dbt_task",
    "dbt_cloud_task",
    "dbt_platform_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "alert_task",
    "gen_ai_compute_task",
    "ai_runtime_task",
    "python_operator_task",
];

/// Jobs, runs and the idempotency tokens that started runs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    next_job_id: i64,
    #[serde(default)]
    next_run_id: i64,
    #[serde(default)]
    jobs: BTreeMap<i64, Job>,
    /// Job runs and one-time runs (not task runs, which live inside them).
    #[serde(default)]
    runs: BTreeMap<i64, Run>,
    /// `run-now/<job_id>/<token>` or `submit/<token>` → run id.
    #[serde(default)]
    idempotency: BTreeMap<String, i64>,
    /// Cancellation of the background task of each run in flight.
    #[serde(skip)]
    cancels: HashMap<i64, CancellationToken>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    job_id: i64,
    created_time: i64,
    creator_user_name: String,
    settings: Map<String, Value>,
}

/// A job run or one-time run, with its task runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Run {
    run_id: i64,
    #[serde(default)]
    job_id: Option<i64>,
    run_name: String,
    run_type: String,
    creator_user_name: String,
    start_time: i64,
    #[serde(default)]
    running_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
    life_cycle: String,
    #[serde(default)]
    result_state: Option<String>,
    #[serde(default)]
    state_message: String,
    #[serde(default)]
    user_cancelled_or_timedout: bool,
    /// `(code, type)` of `status.termination_details` once terminated.
    #[serde(default)]
    termination: Option<(String, String)>,
    #[serde(default)]
    queue_reason: Option<String>,
    #[serde(default)]
    max_concurrent_runs: Option<i64>,
    tasks: Vec<TaskRun>,
    #[serde(default)]
    job_clusters: Vec<Value>,
    #[serde(default)]
    job_parameters: Vec<Value>,
    #[serde(default)]
    overriding_parameters: Map<String, Value>,
    /// Other run-level fields echoed back (git_source, environments, …).
    #[serde(default)]
    extra: Map<String, Value>,
}

/// One task of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskRun {
    run_id: i64,
    task_key: String,
    /// The task's definition as it was when the run started.
    task: Map<String, Value>,
    life_cycle: String,
    #[serde(default)]
    result_state: Option<String>,
    #[serde(default)]
    state_message: String,
    #[serde(default)]
    termination: Option<(String, String)>,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    running_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
    /// What `runs/get-output` returns besides `metadata`.
    #[serde(default)]
    output: Map<String, Value>,
}

fn is_active(life_cycle: &str) -> bool {
    matches!(life_cycle, "QUEUED" | "PENDING" | "RUNNING" | "TERMINATING" | "BLOCKED" | "WAITING_FOR_RETRY")
}

impl State {
    pub fn load(store: &Store) -> anyhow::Result<Self> {
        Ok(store.load(STORE_NAME)?.unwrap_or_default())
    }

    fn new_job_id(&mut self) -> i64 {
        self.next_job_id = self.next_job_id.max(FIRST_JOB_ID);
        let id = self.next_job_id;
        self.next_job_id += 1;
        id
    }

    fn new_run_id(&mut self) -> i64 {
        self.next_run_id = self.next_run_id.max(FIRST_RUN_ID);
        let id = self.next_run_id;
        self.next_run_id += 1;
        id
    }

    /// The run containing `id`, which is either its own id or one of its task runs'.
    fn find_run(&self, id: i64) -> Option<(&Run, Option<usize>)> {
        if let Some(run) = self.runs.get(&id) {
            return Some((run, None));
        }
        self.runs.values().find_map(|r| r.tasks.iter().position(|t| t.run_id == id).map(|i| (r, Some(i))))
    }

    fn active_runs_of(&self, job_id: i64) -> usize {
        self.runs
            .values()
            .filter(|r| r.job_id == Some(job_id) && is_active(&r.life_cycle) && r.life_cycle != "QUEUED")
            .count()
    }
}

pub(crate) fn lock(state: &AppState) -> std::sync::MutexGuard<'_, State> {
    state.jobs.lock().unwrap_or_else(|p| p.into_inner())
}

fn save(state: &AppState, guard: &State) -> ApiResult<()> {
    state.store.save(STORE_NAME, guard)
}

fn no_such_job(id: i64) -> ApiError {
    ApiError::does_not_exist_400(format!("Job {id} does not exist."))
}

fn no_such_run(id: i64) -> ApiError {
    ApiError::does_not_exist_400(format!("Run {id} does not exist."))
}

/// A required int64 field of a body.
fn require_i64(m: &Map<String, Value>, field: &str) -> ApiResult<i64> {
    match m.get(field) {
        None | Some(Value::Null) => Err(ApiError::missing(field)),
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::invalid(format!("Invalid value for field '{field}': expected an integer, got {v}"))
        }),
    }
}

/// A map of string values (numbers and booleans are accepted and written as text).
fn string_map(m: &Map<String, Value>, field: &str) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match m.get(field) {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (k, v) in o {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(ApiError::invalid(format!(
                            "Invalid value for field '{field}.{k}': expected a string, got {other}"
                        )));
                    }
                };
                out.insert(k.clone(), text);
            }
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid value for field '{field}': expected an object, got {other}"
            )));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Settings validation.

fn is_task_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 100 && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// The task type a task sets.
fn task_kind(task: &Map<String, Value>) -> Option<&'static str> {
    TASK_KINDS.iter().copied().find(|k| task.get(*k).is_some_and(|v| !v.is_null()))
}

/// Check a list of tasks (job tasks or one-time run tasks).
fn validate_tasks(tasks: &[Value], job_clusters: &BTreeSet<String>, check_clusters: bool) -> ApiResult<()> {
    if tasks.len() > MAX_TASKS {
        return Err(ApiError::invalid(format!("A job can have at most {MAX_TASKS} tasks, got {}.", tasks.len())));
    }
    let mut keys = BTreeSet::new();
    for (i, task) in tasks.iter().enumerate() {
        let Some(t) = task.as_object() else {
            return Err(ApiError::invalid(format!("Invalid value for field 'tasks[{i}]': expected an object")));
        };
        let key = match t.get("task_key") {
            None | Some(Value::Null) => return Err(ApiError::missing(&format!("tasks[{i}].task_key"))),
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(ApiError::invalid(format!("Invalid value for field 'tasks[{i}].task_key': {other}")));
            }
        };
        if !is_task_key(key) {
            return Err(ApiError::invalid(format!(
                "Invalid task_key {key:?}: use 1 to 100 letters, digits, '_' or '-'."
            )));
        }
        if !keys.insert(key.to_string()) {
            return Err(ApiError::invalid(format!(
                "Task key {key} is used by more than one task; task keys must be unique."
            )));
        }
        let kinds: Vec<&str> = TASK_KINDS.iter().copied().filter(|k| t.get(*k).is_some_and(|v| !v.is_null())).collect();
        if kinds.len() != 1 {
            return Err(ApiError::invalid(format!(
                "Task {key} must set exactly one task type (such as notebook_task or sql_task); it sets {}.",
                if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
            )));
        }
        if let Some(nb) = t.get("notebook_task")
            && nb.get("notebook_path").and_then(Value::as_str).is_none_or(str::is_empty)
        {
            return Err(ApiError::missing(&format!("tasks[{i}].notebook_task.notebook_path")));
        }
        if let Some(sql) = t.get("sql_task") {
            if sql.get("warehouse_id").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(ApiError::missing(&format!("tasks[{i}].sql_task.warehouse_id")));
            }
            let set = ["query", "file", "dashboard", "alert"]
                .iter()
                .filter(|k| sql.get(**k).is_some_and(|v| !v.is_null()))
                .count();
            if set != 1 {
                return Err(ApiError::invalid(format!(
                    "Task {key}: sql_task must set exactly one of query, file, dashboard or alert."
                )));
            }
            if let Some(file) = sql.get("file")
                && file.get("path").and_then(Value::as_str).is_none_or(str::is_empty)
            {
                return Err(ApiError::missing(&format!("tasks[{i}].sql_task.file.path")));
            }
        }
        if check_clusters
            && let Some(jc) = t.get("job_cluster_key").and_then(Value::as_str)
            && !job_clusters.contains(jc)
        {
            return Err(ApiError::invalid(format!(
                "Task {key} uses job cluster {jc}, which is not defined in job_clusters."
            )));
        }
    }
    // Dependencies name existing tasks and form no cycle.
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for task in tasks {
        let key = task.get("task_key").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut list = Vec::new();
        for dep in task.get("depends_on").and_then(Value::as_array).into_iter().flatten() {
            let Some(d) = dep.get("task_key").and_then(Value::as_str) else {
                return Err(ApiError::missing(&format!("depends_on.task_key of task {key}")));
            };
            if !keys.contains(d) {
                return Err(ApiError::invalid(format!("Task {key} depends on {d}, which is not a task of this job.")));
            }
            if d == key {
                return Err(ApiError::invalid(format!("Task {key} cannot depend on itself.")));
            }
            list.push(d.to_string());
        }
        deps.insert(key, list);
    }
    if topological_order(&deps).is_none() {
        return Err(ApiError::invalid(
            "The task dependencies form a cycle; a job's tasks must form a directed acyclic graph.",
        ));
    }
    Ok(())
}

/// Task keys in an order where every task comes after its dependencies; `None` on a cycle.
fn topological_order(deps: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < deps.len() {
        let ready: Vec<String> = deps
            .iter()
            .filter(|(key, list)| {
                !done.contains(*key) && list.iter().all(|d| done.contains(d) || !deps.contains_key(d))
            })
            .map(|(key, _)| key.clone())
            .collect();
        if ready.is_empty() {
            return None;
        }
        done.extend(ready.iter().cloned());
        order.extend(ready);
    }
    Some(order)
}

/// Check full job settings and fill in Databricks' defaults.
fn validate_settings(mut settings: Map<String, Value>) -> ApiResult<Map<String, Value>> {
    settings.retain(|_, v| !v.is_null());
    let mut cluster_keys = BTreeSet::new();
    for (i, jc) in settings.get("job_clusters").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let Some(key) = jc.get("job_cluster_key").and_then(Value::as_str).filter(|k| !k.is_empty()) else {
            return Err(ApiError::missing(&format!("job_clusters[{i}].job_cluster_key")));
        };
        if !cluster_keys.insert(key.to_string()) {
            return Err(ApiError::invalid(format!("Job cluster key {key} is used more than once.")));
        }
    }
    let mut names = BTreeSet::new();
    for (i, p) in settings.get("parameters").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let Some(name) = p.get("name").and_then(Value::as_str).filter(|k| !k.is_empty()) else {
            return Err(ApiError::missing(&format!("parameters[{i}].name")));
        };
        if p.get("default").is_none_or(Value::is_null) {
            return Err(ApiError::missing(&format!("parameters[{i}].default")));
        }
        if !names.insert(name.to_string()) {
            return Err(ApiError::invalid(format!("Job parameter {name} is defined more than once.")));
        }
    }
    let tasks = settings.get("tasks").and_then(Value::as_array).cloned().unwrap_or_default();
    validate_tasks(&tasks, &cluster_keys, true)?;
    let _: types::JobSettings = typed(&settings)?;
    if let Some(n) = settings.get("max_concurrent_runs").and_then(Value::as_i64)
        && !(0..=1000).contains(&n)
    {
        return Err(ApiError::invalid(format!("max_concurrent_runs must be between 0 and 1000, got {n}.")));
    }
    if let Some(n) = settings.get("timeout_seconds").and_then(Value::as_i64)
        && n < 0
    {
        return Err(ApiError::invalid(format!("timeout_seconds must be 0 or more, got {n}.")));
    }
    settings.entry("name").or_insert_with(|| json!("Untitled"));
    settings.entry("max_concurrent_runs").or_insert_with(|| json!(1));
    settings.entry("timeout_seconds").or_insert_with(|| json!(0));
    settings.entry("email_notifications").or_insert_with(|| json!({}));
    settings.entry("webhook_notifications").or_insert_with(|| json!({}));
    settings.insert("format".into(), json!("MULTI_TASK"));
    Ok(settings)
}

/// The key that identifies an entry of a keyed settings array.
fn array_key(array: &str) -> Option<&'static str> {
    match array {
        "tasks" => Some("task_key"),
        "job_clusters" => Some("job_cluster_key"),
        "environments" => Some("environment_key"),
        "parameters" => Some("name"),
        _ => None,
    }
}

/// `jobs/update`: replace top-level fields, merge keyed arrays by key, then remove.
fn merge_settings(
    current: &Map<String, Value>,
    new: &Map<String, Value>,
    remove: &[String],
) -> ApiResult<Map<String, Value>> {
    let mut out = current.clone();
    for (field, value) in new {
        match (array_key(field), value, out.get_mut(field)) {
            (Some(key), Value::Array(incoming), Some(Value::Array(existing))) => {
                for entry in incoming {
                    let id = entry.get(key).cloned();
                    match existing.iter_mut().find(|e| id.is_some() && e.get(key) == id.as_ref()) {
                        Some(slot) => *slot = entry.clone(),
                        None => existing.push(entry.clone()),
                    }
                }
            }
            _ => {
                out.insert(field.clone(), value.clone());
            }
        }
    }
    for path in remove {
        match path.split_once('/') {
            None => {
                out.remove(path);
            }
            Some((array, id)) => {
                let Some(key) = array_key(array) else {
                    return Err(ApiError::invalid(format!(
                        "Cannot remove {path:?}: only top-level fields and entries of tasks, job_clusters, \
                         environments or parameters can be removed."
                    )));
                };
                let Some(Value::Array(entries)) = out.get_mut(array) else {
                    return Err(ApiError::invalid(format!("Cannot remove {path:?}: the job has no {array}.")));
                };
                let before = entries.len();
                entries.retain(|e| e.get(key).and_then(Value::as_str) != Some(id));
                if entries.len() == before {
                    return Err(ApiError::invalid(format!(
                        "Cannot remove {path:?}: no entry of {array} has {key} {id}."
                    )));
                }
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Views.

/// Replace the keyed inner arrays of `obj` by their page at `offset`; true when any
/// array has entries beyond this page.
fn page_inner(obj: &mut Map<String, Value>, arrays: &[&str], offset: usize) -> bool {
    let mut more = false;
    for name in arrays {
        let Some(Value::Array(all)) = obj.get(*name) else { continue };
        let end = offset.saturating_add(INNER_PAGE).min(all.len());
        more |= all.len() > end;
        let slice = all.get(offset.min(end)..end).map(<[Value]>::to_vec).unwrap_or_default();
        if slice.is_empty() {
            obj.remove(*name);
        } else {
            obj.insert((*name).to_string(), Value::Array(slice));
        }
    }
    more
}

impl Job {
    fn view(&self, settings: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("job_id".into(), json!(self.job_id));
        out.insert("created_time".into(), json!(self.created_time));
        out.insert("creator_user_name".into(), json!(self.creator_user_name));
        out.insert("run_as_user_name".into(), json!(run_as(&self.settings).unwrap_or(&self.creator_user_name)));
        out.insert("settings".into(), Value::Object(settings));
        out
    }
}

fn run_as(settings: &Map<String, Value>) -> Option<&String> {
    let run_as = settings.get("run_as")?.as_object()?;
    ["user_name", "service_principal_name"].iter().find_map(|k| match run_as.get(*k) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    })
}

/// `status` (the newer lifecycle) for a life-cycle state and termination.
fn status_view(life_cycle: &str, message: &str, termination: &Option<(String, String)>, queue: Option<&str>) -> Value {
    let state = match life_cycle {
        "TERMINATED" | "SKIPPED" | "INTERNAL_ERROR" => "TERMINATED",
        "WAITING_FOR_RETRY" => "WAITING",
        other => other,
    };
    let mut out = Map::new();
    out.insert("state".into(), json!(state));
    if let Some((code, kind)) = termination {
        out.insert("termination_details".into(), json!({"code": code, "type": kind, "message": message}));
    }
    if let Some(reason) = queue {
        out.insert("queue_details".into(), json!({"code": "MAX_CONCURRENT_RUNS_REACHED", "message": reason}));
    }
    Value::Object(out)
}

fn state_view(
    life_cycle: &str,
    result: &Option<String>,
    message: &str,
    user_cancelled: bool,
    queue: Option<&str>,
) -> Value {
    let mut out = Map::new();
    out.insert("life_cycle_state".into(), json!(life_cycle));
    if let Some(r) = result {
        out.insert("result_state".into(), json!(r));
    }
    out.insert("state_message".into(), json!(message));
    out.insert("user_cancelled_or_timedout".into(), json!(user_cancelled));
    if let Some(q) = queue {
        out.insert("queue_reason".into(), json!(q));
    }
    Value::Object(out)
}

fn durations(out: &mut Map<String, Value>, start: Option<i64>, running: Option<i64>, end: Option<i64>) {
    let setup = match (start, running.or(end)) {
        (Some(s), Some(r)) => (r - s).max(0),
        _ => 0,
    };
    let execution = match (running, end) {
        (Some(r), Some(e)) => (e - r).max(0),
        _ => 0,
    };
    out.insert("setup_duration".into(), json!(setup));
    out.insert("execution_duration".into(), json!(execution));
    out.insert("cleanup_duration".into(), json!(0));
    if let (Some(s), Some(e)) = (start, end) {
        out.insert("run_duration".into(), json!((e - s).max(0)));
    }
}

fn run_page_url(base: &str, job_id: Option<i64>, run_id: i64) -> String {
    format!("{base}/?o=0#job/{}/run/{run_id}", job_id.unwrap_or(0))
}

impl TaskRun {
    fn view(&self, run: &Run, base: &str) -> Value {
        let mut out: Map<String, Value> =
            self.task.iter().filter(|(k, _)| k.as_str() != "health").map(|(k, v)| (k.clone(), v.clone())).collect();
        out.insert("run_id".into(), json!(self.run_id));
        out.insert("task_key".into(), json!(self.task_key));
        out.insert("state".into(), state_view(&self.life_cycle, &self.result_state, &self.state_message, false, None));
        out.insert("status".into(), status_view(&self.life_cycle, &self.state_message, &self.termination, None));
        out.insert("start_time".into(), json!(self.start_time.unwrap_or(0)));
        out.insert("end_time".into(), json!(self.end_time.unwrap_or(0)));
        durations(&mut out, self.start_time, self.running_time, self.end_time);
        out.insert("attempt_number".into(), json!(0));
        out.insert("run_page_url".into(), json!(run_page_url(base, run.job_id, self.run_id)));
        if let Some(cluster) = self.task.get("existing_cluster_id") {
            out.insert("cluster_instance".into(), json!({"cluster_id": cluster}));
        }
        Value::Object(out)
    }

    /// The task run seen as a run of its own (`runs/get` on a task run id, and the
    /// `metadata` of `runs/get-output`).
    fn as_run(&self, run: &Run, base: &str) -> Value {
        let mut out = Map::new();
        if let Some(job) = run.job_id {
            out.insert("job_id".into(), json!(job));
        }
        out.insert("run_id".into(), json!(self.run_id));
        out.insert("job_run_id".into(), json!(run.run_id));
        out.insert("number_in_job".into(), json!(self.run_id));
        out.insert("original_attempt_run_id".into(), json!(self.run_id));
        out.insert("run_name".into(), json!(self.task_key));
        out.insert("run_type".into(), json!(run.run_type));
        out.insert("creator_user_name".into(), json!(run.creator_user_name));
        out.insert("state".into(), state_view(&self.life_cycle, &self.result_state, &self.state_message, false, None));
        out.insert("status".into(), status_view(&self.life_cycle, &self.state_message, &self.termination, None));
        out.insert("start_time".into(), json!(self.start_time.unwrap_or(0)));
        out.insert("end_time".into(), json!(self.end_time.unwrap_or(0)));
        durations(&mut out, self.start_time, self.running_time, self.end_time);
        out.insert("attempt_number".into(), json!(0));
        out.insert("trigger".into(), json!("ONE_TIME"));
        out.insert("format".into(), json!("MULTI_TASK"));
        out.insert("run_page_url".into(), json!(run_page_url(base, run.job_id, self.run_id)));
        out.insert("tasks".into(), json!([self.view(run, base)]));
        if !run.job_parameters.is_empty() {
            out.insert("job_parameters".into(), Value::Array(run.job_parameters.clone()));
        }
        Value::Object(out)
    }
}

impl Run {
    /// The run as `runs/get` returns it; `with_tasks` false leaves out tasks and
    /// job clusters (the summaries of `runs/list`).
    fn view(&self, base: &str, with_tasks: bool) -> Map<String, Value> {
        let mut out = self.extra.clone();
        if let Some(job) = self.job_id {
            out.insert("job_id".into(), json!(job));
        }
        out.insert("run_id".into(), json!(self.run_id));
        out.insert("number_in_job".into(), json!(self.run_id));
        out.insert("original_attempt_run_id".into(), json!(self.run_id));
        out.insert("run_name".into(), json!(self.run_name));
        out.insert("run_type".into(), json!(self.run_type));
        out.insert("creator_user_name".into(), json!(self.creator_user_name));
        let queue = (self.life_cycle == "QUEUED").then_some(self.queue_reason.as_deref()).flatten();
        out.insert(
            "state".into(),
            state_view(
                &self.life_cycle,
                &self.result_state,
                &self.state_message,
                self.user_cancelled_or_timedout,
                queue,
            ),
        );
        out.insert("status".into(), status_view(&self.life_cycle, &self.state_message, &self.termination, queue));
        out.insert("start_time".into(), json!(self.start_time));
        out.insert("end_time".into(), json!(self.end_time.unwrap_or(0)));
        out.insert("setup_duration".into(), json!(0));
        out.insert("execution_duration".into(), json!(0));
        out.insert("cleanup_duration".into(), json!(0));
        if let Some(end) = self.end_time {
            out.insert("run_duration".into(), json!((end - self.start_time).max(0)));
        }
        out.insert("attempt_number".into(), json!(0));
        out.insert("trigger".into(), json!("ONE_TIME"));
        out.insert("format".into(), json!("MULTI_TASK"));
        out.insert("run_page_url".into(), json!(run_page_url(base, self.job_id, self.run_id)));
        if !self.job_parameters.is_empty() {
            out.insert("job_parameters".into(), Value::Array(self.job_parameters.clone()));
        }
        if !self.overriding_parameters.is_empty() {
            out.insert("overriding_parameters".into(), Value::Object(self.overriding_parameters.clone()));
        }
        if with_tasks {
            out.insert("tasks".into(), Value::Array(self.tasks.iter().map(|t| t.view(self, base)).collect()));
            if !self.job_clusters.is_empty() {
                out.insert("job_clusters".into(), Value::Array(self.job_clusters.clone()));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Routes.

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.2/jobs/create", post(create))
        .route("/api/2.2/jobs/get", get(get_job))
        .route("/api/2.2/jobs/list", get(list))
        .route("/api/2.2/jobs/reset", post(reset))
        .route("/api/2.2/jobs/update", post(update))
        .route("/api/2.2/jobs/delete", post(delete))
        .route("/api/2.2/jobs/run-now", post(run_now))
        .route("/api/2.2/jobs/runs/submit", post(submit))
        .route("/api/2.2/jobs/runs/list", get(list_runs))
        .route("/api/2.2/jobs/runs/get", get(get_run))
        .route("/api/2.2/jobs/runs/get-output", get(get_output))
        .route("/api/2.2/jobs/runs/cancel", post(cancel_run))
        .route("/api/2.2/jobs/runs/delete", post(delete_run))
}

/// Runs that were in flight when the sandbox last stopped are not re-run: they end
/// with life-cycle state INTERNAL_ERROR, since their work was lost mid-way.
pub fn resume(state: &AppState) {
    let mut guard = lock(state);
    let now = crate::now_ms();
    let message = "The sandbox stopped while this run was in progress; the run was not resumed.";
    let mut changed = false;
    for run in guard.runs.values_mut() {
        if !is_active(&run.life_cycle) {
            continue;
        }
        changed = true;
        for task in run.tasks.iter_mut().filter(|t| is_active(&t.life_cycle)) {
            task.life_cycle = "INTERNAL_ERROR".into();
            task.result_state = Some("FAILED".into());
            task.state_message = message.into();
            task.termination = Some(("INTERNAL_ERROR".into(), "INTERNAL_ERROR".into()));
            task.end_time = Some(now);
        }
        run.life_cycle = "INTERNAL_ERROR".into();
        run.result_state = Some("FAILED".into());
        run.state_message = message.into();
        run.termination = Some(("INTERNAL_ERROR".into(), "INTERNAL_ERROR".into()));
        run.end_time = Some(now);
    }
    if changed && let Err(e) = save(state, &guard) {
        tracing::warn!("could not persist the runs ended at start-up: {e}");
    }
}

async fn create(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let mut m = body_object(body)?;
    let _: types::JobsCreateBody = typed(&m)?;
    m.remove("access_control_list");
    let settings = validate_settings(m)?;
    let mut guard = lock(&state);
    let job_id = guard.new_job_id();
    let job = Job { job_id, created_time: crate::now_ms(), creator_user_name: USER_NAME.into(), settings };
    guard.jobs.insert(job_id, job);
    save(&state, &guard)?;
    Ok(Json(json!({ "job_id": job_id })))
}

async fn get_job(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let job_id = params.int("job_id")?.ok_or_else(|| ApiError::missing("job_id"))?;
    let offset = params.get("page_token").map(decode_token).transpose()?.unwrap_or(0);
    let guard = lock(&state);
    let job = guard.jobs.get(&job_id).ok_or_else(|| no_such_job(job_id))?;
    let mut settings = job.settings.clone();
    let more = page_inner(&mut settings, JOB_ARRAYS, offset);
    let mut out = job.view(settings);
    if more {
        out.insert("has_more".into(), json!(true));
        out.insert("next_page_token".into(), json!(encode_token(offset + INNER_PAGE)));
    }
    if params.bool("include_trigger_state")? == Some(true) {
        out.insert("trigger_state".into(), json!({}));
    }
    Ok(Json(Value::Object(out)))
}

/// `limit` within `1..=max`, `default` when absent (and `zero` when 0 is given).
fn limit_param(params: &Params, max: usize, default: usize, zero: usize) -> ApiResult<usize> {
    match params.int("limit")? {
        None => Ok(default),
        Some(0) => Ok(zero),
        Some(n) if n < 0 || n > max as i64 => {
            Err(ApiError::invalid(format!("limit must be between 1 and {max}, got {n}.")))
        }
        Some(n) => Ok(usize::try_from(n).unwrap_or(default)),
    }
}

/// The start of a page: `page_token`, else the deprecated `offset`.
fn page_start(params: &Params) -> ApiResult<usize> {
    if let Some(token) = params.get("page_token") {
        return decode_token(token);
    }
    match params.int("offset")? {
        None => Ok(0),
        Some(n) if n < 0 => Err(ApiError::invalid(format!("offset must be 0 or more, got {n}."))),
        Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
    }
}

fn page_tokens(out: &mut Map<String, Value>, start: usize, end: usize, total: usize, size: usize) {
    out.insert("has_more".into(), json!(end < total));
    if end < total {
        out.insert("next_page_token".into(), json!(encode_token(end)));
    }
    if start > 0 {
        out.insert("prev_page_token".into(), json!(encode_token(start.saturating_sub(size))));
    }
}

async fn list(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let size = limit_param(&params, 100, 20, 20)?;
    let start = page_start(&params)?;
    let expand = params.bool("expand_tasks")?.unwrap_or(false);
    let name = params.get("name").map(str::to_lowercase);
    let guard = lock(&state);
    let jobs: Vec<&Job> = guard
        .jobs
        .values()
        .filter(|j| {
            name.as_ref().is_none_or(|n| {
                j.settings.get("name").and_then(Value::as_str).map(str::to_lowercase).as_ref() == Some(n)
            })
        })
        .collect();
    let end = start.saturating_add(size).min(jobs.len());
    let page: Vec<Value> = jobs
        .get(start.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|job| {
            let mut settings = job.settings.clone();
            let mut more = false;
            if expand {
                more = page_inner(&mut settings, &["tasks", "job_clusters"], 0);
            } else {
                settings.remove("tasks");
                settings.remove("job_clusters");
            }
            let mut view = job.view(settings);
            view.remove("run_as_user_name");
            if more {
                view.insert("has_more".into(), json!(true));
            }
            Value::Object(view)
        })
        .collect();
    let mut out = Map::new();
    if !page.is_empty() {
        out.insert("jobs".into(), Value::Array(page));
    }
    page_tokens(&mut out, start, end, jobs.len(), size);
    Ok(Json(Value::Object(out)))
}

async fn reset(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let job_id = require_i64(&m, "job_id")?;
    let new = match m.get("new_settings") {
        None | Some(Value::Null) => return Err(ApiError::missing("new_settings")),
        Some(Value::Object(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'new_settings': expected an object, got {other}"
            )));
        }
    };
    let _: types::JobsResetBody = typed(&m)?;
    let settings = validate_settings(new)?;
    let mut guard = lock(&state);
    let job = guard.jobs.get_mut(&job_id).ok_or_else(|| no_such_job(job_id))?;
    job.settings = settings;
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn update(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let job_id = require_i64(&m, "job_id")?;
    let request: types::JobsUpdateBody = typed(&m)?;
    let new = m.get("new_settings").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut guard = lock(&state);
    let job = guard.jobs.get_mut(&job_id).ok_or_else(|| no_such_job(job_id))?;
    let merged = merge_settings(&job.settings, &new, &request.fields_to_remove)?;
    job.settings = validate_settings(merged)?;
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn delete(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let job_id = require_i64(&m, "job_id")?;
    let mut guard = lock(&state);
    if guard.jobs.remove(&job_id).is_none() {
        return Err(no_such_job(job_id));
    }
    let active: Vec<i64> = guard
        .runs
        .values()
        .filter(|r| r.job_id == Some(job_id) && is_active(&r.life_cycle))
        .map(|r| r.run_id)
        .collect();
    for run_id in active {
        request_cancel(&mut guard, run_id, "The job was deleted.");
    }
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

/// Check an idempotency token; `Some(run)` when it already started a run.
fn check_token(guard: &State, key: &Option<String>) -> ApiResult<Option<i64>> {
    let Some(key) = key else { return Ok(None) };
    match guard.idempotency.get(key) {
        None => Ok(None),
        Some(id) if guard.runs.contains_key(id) => Ok(Some(*id)),
        Some(id) => Err(ApiError::invalid(format!(
            "The run {id} started with this idempotency token was deleted; use a new idempotency token."
        ))),
    }
}

fn token_field(m: &Map<String, Value>) -> ApiResult<Option<String>> {
    match m.get("idempotency_token") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) if t.is_empty() => Ok(None),
        Some(Value::String(t)) if t.chars().count() > 64 => {
            Err(ApiError::invalid("idempotency_token must be at most 64 characters long."))
        }
        Some(Value::String(t)) => Ok(Some(t.clone())),
        Some(other) => Err(ApiError::invalid(format!("Invalid value for field 'idempotency_token': {other}"))),
    }
}

fn new_task_runs(guard: &mut State, tasks: &[Value]) -> Vec<TaskRun> {
    tasks
        .iter()
        .filter_map(Value::as_object)
        .map(|t| TaskRun {
            run_id: guard.new_run_id(),
            task_key: t.get("task_key").and_then(Value::as_str).unwrap_or_default().to_string(),
            task: t.clone(),
            life_cycle: "PENDING".into(),
            result_state: None,
            state_message: String::new(),
            termination: None,
            start_time: None,
            running_time: None,
            end_time: None,
            output: Map::new(),
        })
        .collect()
}

const LEGACY_PARAMS: &[&str] = &[
    "notebook_params",
    "sql_params",
    "python_params",
    "python_named_params",
    "jar_params",
    "spark_submit_params",
    "dbt_commands",
    "pipeline_params",
];

async fn run_now(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let job_id = require_i64(&m, "job_id")?;
    let _: types::JobsRunNowBody = typed(&m)?;
    let token = token_field(&m)?.map(|t| format!("run-now/{job_id}/{t}"));
    let job_parameters = string_map(&m, "job_parameters")?;
    string_map(&m, "notebook_params")?;
    string_map(&m, "sql_params")?;
    let only: Option<Vec<String>> = m
        .get("only")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect());
    let mut guard = lock(&state);
    let job = guard.jobs.get(&job_id).ok_or_else(|| no_such_job(job_id))?.clone();
    if let Some(existing) = check_token(&guard, &token)? {
        return Ok(Json(json!({ "run_id": existing, "number_in_job": existing })));
    }
    let mut tasks = job.settings.get("tasks").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(only) = &only {
        for key in only {
            if !tasks.iter().any(|t| t.get("task_key").and_then(Value::as_str) == Some(key)) {
                return Err(ApiError::invalid(format!("Task {key} given in only is not a task of job {job_id}.")));
            }
        }
        tasks.retain(|t| t.get("task_key").and_then(Value::as_str).is_some_and(|k| only.contains(&k.to_string())));
    }
    if tasks.is_empty() {
        return Err(ApiError::invalid(format!("Job {job_id} has no tasks to run; add tasks with jobs/update first.")));
    }
    let mut params = Vec::new();
    for def in job.settings.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        let name = def.get("name").and_then(Value::as_str).unwrap_or_default();
        let default = match def.get("default") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let value = job_parameters.get(name).cloned().unwrap_or_else(|| default.clone());
        params.push(json!({"name": name, "default": default, "value": value}));
    }
    for (name, value) in &job_parameters {
        if !params.iter().any(|p| p.get("name").and_then(Value::as_str) == Some(name)) {
            params.push(json!({"name": name, "value": value}));
        }
    }
    let overriding: Map<String, Value> = m
        .iter()
        .filter(|(k, v)| LEGACY_PARAMS.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let queue_enabled = m
        .get("queue")
        .or_else(|| job.settings.get("queue"))
        .and_then(|q| q.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let max_concurrent = job.settings.get("max_concurrent_runs").and_then(Value::as_i64).unwrap_or(1);
    let run_id = guard.new_run_id();
    let task_runs = new_task_runs(&mut guard, &tasks);
    let now = crate::now_ms();
    let mut run = Run {
        run_id,
        job_id: Some(job_id),
        run_name: job.settings.get("name").and_then(Value::as_str).unwrap_or("Untitled").to_string(),
        run_type: "JOB_RUN".into(),
        creator_user_name: USER_NAME.into(),
        start_time: now,
        running_time: None,
        end_time: None,
        life_cycle: "PENDING".into(),
        result_state: None,
        state_message: String::new(),
        user_cancelled_or_timedout: false,
        termination: None,
        queue_reason: None,
        max_concurrent_runs: Some(max_concurrent),
        tasks: task_runs,
        job_clusters: job.settings.get("job_clusters").and_then(Value::as_array).cloned().unwrap_or_default(),
        job_parameters: params,
        overriding_parameters: overriding,
        extra: Map::new(),
    };
    let limit_reached = guard.active_runs_of(job_id) as i64 >= max_concurrent;
    let start = if limit_reached && !queue_enabled {
        let message = format!(
            "Skipping this run because the limit of {max_concurrent} maximum concurrent runs has been reached."
        );
        run.life_cycle = "SKIPPED".into();
        run.state_message = message;
        run.end_time = Some(now);
        run.termination = Some(("MAX_CONCURRENT_RUNS_EXCEEDED".into(), "CLIENT_ERROR".into()));
        for task in &mut run.tasks {
            task.life_cycle = "SKIPPED".into();
            task.state_message = "The run was skipped.".into();
            task.termination = Some(("SKIPPED".into(), "SUCCESS".into()));
        }
        false
    } else {
        if limit_reached {
            run.life_cycle = "QUEUED".into();
            run.queue_reason =
                Some(format!("Queued because the job reached its limit of {max_concurrent} concurrent runs."));
        }
        true
    };
    guard.runs.insert(run_id, run);
    if let Some(key) = token {
        guard.idempotency.insert(key, run_id);
    }
    let cancel = CancellationToken::new();
    if start {
        guard.cancels.insert(run_id, cancel.clone());
    }
    save(&state, &guard)?;
    drop(guard);
    if start {
        tokio::spawn(runner::execute(state.clone(), run_id, cancel));
    }
    Ok(Json(json!({ "run_id": run_id, "number_in_job": run_id })))
}

async fn submit(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let token = token_field(&m)?.map(|t| format!("submit/{t}"));
    let tasks = match m.get("tasks") {
        None | Some(Value::Null) => return Err(ApiError::missing("tasks")),
        Some(Value::Array(a)) if a.is_empty() => return Err(ApiError::missing("tasks")),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => {
            return Err(ApiError::invalid(format!("Invalid value for field 'tasks': expected an array, got {other}")));
        }
    };
    validate_tasks(&tasks, &BTreeSet::new(), false)?;
    let _: types::JobsSubmitRunBody = typed(&m)?;
    let mut guard = lock(&state);
    if let Some(existing) = check_token(&guard, &token)? {
        return Ok(Json(json!({ "run_id": existing })));
    }
    let run_id = guard.new_run_id();
    let task_runs = new_task_runs(&mut guard, &tasks);
    let extra: Map<String, Value> = m
        .iter()
        .filter(|(k, v)| {
            ["git_source", "environments", "timeout_seconds", "description"].contains(&k.as_str()) && !v.is_null()
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let run = Run {
        run_id,
        job_id: None,
        run_name: m.get("run_name").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or("Untitled").to_string(),
        run_type: "SUBMIT_RUN".into(),
        creator_user_name: USER_NAME.into(),
        start_time: crate::now_ms(),
        running_time: None,
        end_time: None,
        life_cycle: "PENDING".into(),
        result_state: None,
        state_message: String::new(),
        user_cancelled_or_timedout: false,
        termination: None,
        queue_reason: None,
        max_concurrent_runs: None,
        tasks: task_runs,
        job_clusters: Vec::new(),
        job_parameters: Vec::new(),
        overriding_parameters: Map::new(),
        extra,
    };
    guard.runs.insert(run_id, run);
    if let Some(key) = token {
        guard.idempotency.insert(key, run_id);
    }
    let cancel = CancellationToken::new();
    guard.cancels.insert(run_id, cancel.clone());
    save(&state, &guard)?;
    drop(guard);
    tokio::spawn(runner::execute(state.clone(), run_id, cancel));
    Ok(Json(json!({ "run_id": run_id })))
}

async fn list_runs(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let size = limit_param(&params, 25, 20, 25)?;
    let start = page_start(&params)?;
    let active_only = params.bool("active_only")?.unwrap_or(false);
    let completed_only = params.bool("completed_only")?.unwrap_or(false);
    if active_only && completed_only {
        return Err(ApiError::invalid("active_only and completed_only cannot both be true."));
    }
    let job_id = params.int("job_id")?;
    let run_type = params.get("run_type");
    if let Some(t) = run_type
        && !["JOB_RUN", "SUBMIT_RUN", "WORKFLOW_RUN"].contains(&t)
    {
        return Err(ApiError::invalid(format!(
            "Invalid run_type {t:?}; expected JOB_RUN, SUBMIT_RUN or WORKFLOW_RUN."
        )));
    }
    let from = params.int("start_time_from")?;
    let to = params.int("start_time_to")?;
    let expand = params.bool("expand_tasks")?.unwrap_or(false);
    let guard = lock(&state);
    let mut runs: Vec<&Run> = guard
        .runs
        .values()
        .filter(|r| job_id.is_none_or(|j| r.job_id == Some(j)))
        .filter(|r| run_type.is_none_or(|t| r.run_type == t))
        .filter(|r| !active_only || is_active(&r.life_cycle))
        .filter(|r| !completed_only || !is_active(&r.life_cycle))
        .filter(|r| from.is_none_or(|f| r.start_time >= f))
        .filter(|r| to.is_none_or(|t| r.start_time <= t))
        .collect();
    runs.sort_by(|a, b| b.start_time.cmp(&a.start_time).then_with(|| b.run_id.cmp(&a.run_id)));
    let end = start.saturating_add(size).min(runs.len());
    let page: Vec<Value> = runs
        .get(start.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let mut view = r.view(&state.base_url, expand);
            if expand && page_inner(&mut view, &["tasks", "job_clusters"], 0) {
                view.insert("has_more".into(), json!(true));
            }
            Value::Object(view)
        })
        .collect();
    let mut out = Map::new();
    if !page.is_empty() {
        out.insert("runs".into(), Value::Array(page));
    }
    page_tokens(&mut out, start, end, runs.len(), size);
    Ok(Json(Value::Object(out)))
}

async fn get_run(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.int("run_id")?.ok_or_else(|| ApiError::missing("run_id"))?;
    let offset = params.get("page_token").map(decode_token).transpose()?.unwrap_or(0);
    let guard = lock(&state);
    let (run, task) = guard.find_run(run_id).ok_or_else(|| no_such_run(run_id))?;
    let mut view = match task {
        Some(i) => match run.tasks[i].as_run(run, &state.base_url) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        None => run.view(&state.base_url, true),
    };
    if page_inner(&mut view, RUN_ARRAYS, offset) {
        view.insert("has_more".into(), json!(true));
        view.insert("next_page_token".into(), json!(encode_token(offset + INNER_PAGE)));
    }
    Ok(Json(Value::Object(view)))
}

async fn get_output(Ax(state): Ax<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.int("run_id")?.ok_or_else(|| ApiError::missing("run_id"))?;
    let guard = lock(&state);
    let (run, task) = guard.find_run(run_id).ok_or_else(|| no_such_run(run_id))?;
    let Some(i) = task else {
        let tasks: Vec<String> =
            run.tasks.iter().take(10).map(|t| format!("{} (task {})", t.run_id, t.task_key)).collect();
        return Err(ApiError::invalid(format!(
            "Retrieving the output of run {run_id} is not supported because it is a job run with tasks; \
             get the output of each task run instead, using the run_id of an entry of tasks in runs/get: {}.",
            tasks.join(", ")
        )));
    };
    let task = &run.tasks[i];
    let mut out = task.output.clone();
    out.insert("metadata".into(), task.as_run(run, &state.base_url));
    Ok(Json(Value::Object(out)))
}

/// Ask the background task of a run to stop; a run without one is ended here.
fn request_cancel(guard: &mut State, run_id: i64, message: &str) {
    let token = guard.cancels.get(&run_id).cloned();
    let Some(run) = guard.runs.get_mut(&run_id) else { return };
    if !is_active(&run.life_cycle) {
        return;
    }
    run.user_cancelled_or_timedout = true;
    match token {
        Some(token) => {
            run.life_cycle = "TERMINATING".into();
            run.state_message = message.into();
            token.cancel();
        }
        None => runner::finish_cancelled(run, crate::now_ms(), message),
    }
}

async fn cancel_run(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let run_id = require_i64(&m, "run_id")?;
    let mut guard = lock(&state);
    let parent = guard.find_run(run_id).map(|(r, _)| r.run_id).ok_or_else(|| no_such_run(run_id))?;
    request_cancel(&mut guard, parent, "Run cancellation requested by the user.");
    save(&state, &guard)?;
    Ok(Json(json!({})))
}

async fn delete_run(Ax(state): Ax<AppState>, Body(body): Body<Value>) -> ApiResult<Json<Value>> {
    let m = body_object(body)?;
    let run_id = require_i64(&m, "run_id")?;
    let mut guard = lock(&state);
    let (run, task) = guard.find_run(run_id).ok_or_else(|| no_such_run(run_id))?;
    if task.is_some() {
        return Err(ApiError::invalid(format!(
            "Run {run_id} is a task run of run {}; delete that run instead.",
            run.run_id
        )));
    }
    if is_active(&run.life_cycle) {
        return Err(ApiError::invalid_state(format!(
            "Run {run_id} is still active ({}); cancel it and wait until it terminates before deleting it.",
            run.life_cycle
        )));
    }
    guard.runs.remove(&run_id);
    save(&state, &guard)?;
    Ok(Json(json!({})))
}
