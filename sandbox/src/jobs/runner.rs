//! The background task that carries one run through its lifecycle and executes its
//! tasks in dependency order.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::script::{self, Cell};
use super::{Run, State, is_active, lock, save, topological_order};
use crate::AppState;
use crate::sql::QueryOutput;

/// How often a queued run looks whether it may start.
const QUEUE_POLL: Duration = Duration::from_millis(50);
/// Rows of a result kept in a run's output, and the size limit of that output.
const OUTPUT_ROWS: usize = 1000;
const OUTPUT_BYTES: usize = 5 * 1024 * 1024;
const UNSUPPORTED: &str = "is not supported by the sandbox; only SQL tasks and SQL notebooks run here";

/// Apply `f` to the run and persist. Nothing happens once the sandbox is shutting
/// down, so that a stopped sandbox leaves its last saved state to [`super::resume`].
fn update<R>(state: &AppState, run_id: i64, f: impl FnOnce(&mut Run) -> R) -> Option<R> {
    if state.shutdown.is_cancelled() {
        return None;
    }
    let mut guard = lock(state);
    let result = f(guard.runs.get_mut(&run_id)?);
    if let Err(e) = save(state, &guard) {
        tracing::warn!(run_id, "could not persist a run: {e}");
    }
    Some(result)
}

fn forget(state: &AppState, run_id: i64) {
    lock(state).cancels.remove(&run_id);
}

/// End a run (and its unfinished tasks) as cancelled.
pub(super) fn finish_cancelled(run: &mut Run, now: i64, message: &str) {
    for task in run.tasks.iter_mut().filter(|t| is_active(&t.life_cycle)) {
        task.life_cycle = "TERMINATED".into();
        task.result_state = Some("CANCELED".into());
        task.state_message = "The run was cancelled.".into();
        task.termination = Some(("USER_CANCELED".into(), "SUCCESS".into()));
        task.end_time = Some(now);
    }
    run.life_cycle = "TERMINATED".into();
    run.result_state = Some("CANCELED".into());
    run.state_message = message.into();
    run.user_cancelled_or_timedout = true;
    run.termination = Some(("USER_CANCELED".into(), "SUCCESS".into()));
    run.end_time = Some(now);
}

fn cancel_now(state: &AppState, run_id: i64) {
    update(state, run_id, |run| {
        if is_active(&run.life_cycle) {
            finish_cancelled(run, crate::now_ms(), "Run cancelled by the user.");
        }
    });
    forget(state, run_id);
}

/// Whether a queued run may start now; moves it to PENDING when it may.
fn leave_queue(guard: &mut State, run_id: i64) -> bool {
    let Some(run) = guard.runs.get(&run_id) else { return true };
    if run.life_cycle != "QUEUED" {
        return true;
    }
    let (Some(job_id), limit) = (run.job_id, run.max_concurrent_runs.unwrap_or(1)) else { return true };
    let first_in_line = guard
        .runs
        .values()
        .filter(|r| r.job_id == Some(job_id) && r.life_cycle == "QUEUED")
        .min_by_key(|r| (r.start_time, r.run_id))
        .is_some_and(|r| r.run_id == run_id);
    if !first_in_line || guard.active_runs_of(job_id) as i64 >= limit {
        return false;
    }
    if let Some(run) = guard.runs.get_mut(&run_id) {
        run.life_cycle = "PENDING".into();
        run.queue_reason = None;
    }
    true
}

/// What one task's execution came to.
struct Outcome {
    result: &'static str,
    message: String,
    /// `(code, type)` of the task's termination details.
    code: (&'static str, &'static str),
    output: Map<String, Value>,
}

impl Outcome {
    fn success(output: Map<String, Value>) -> Self {
        Self { result: "SUCCESS", message: String::new(), code: ("SUCCESS", "SUCCESS"), output }
    }

    fn failed(code: &'static str, message: impl Into<String>, trace: Option<String>) -> Self {
        let message = message.into();
        let mut output = Map::new();
        output.insert("error".into(), json!(message));
        if let Some(trace) = trace {
            output.insert("error_trace".into(), json!(trace));
        }
        Self { result: "FAILED", message, code: (code, "CLIENT_ERROR"), output }
    }
}

/// What a task needs to know about its run.
struct Context {
    run_id: i64,
    job_id: Option<i64>,
    job_name: String,
    start_time: i64,
    job_params: BTreeMap<String, String>,
    notebook_params: BTreeMap<String, String>,
    sql_params: BTreeMap<String, String>,
}

fn text_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl Context {
    /// Resolve dynamic value references such as `{{job.run_id}}` in a parameter value.
    fn resolve(&self, value: &str, task_key: &str, task_run_id: i64) -> String {
        if !value.contains("{{") {
            return value.to_string();
        }
        let start = chrono::DateTime::from_timestamp_millis(self.start_time).unwrap_or_default();
        let mut refs: Vec<(String, String)> = vec![
            ("job.id".into(), self.job_id.map(|j| j.to_string()).unwrap_or_default()),
            ("job.name".into(), self.job_name.clone()),
            ("job.run_id".into(), self.run_id.to_string()),
            ("job.start_time.timestamp_ms".into(), self.start_time.to_string()),
            ("job.start_time.iso_date".into(), start.format("%Y-%m-%d").to_string()),
            ("job.start_time.iso_datetime".into(), start.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            ("task.name".into(), task_key.to_string()),
            ("task.run_id".into(), task_run_id.to_string()),
            ("run_id".into(), task_run_id.to_string()),
            ("parent_run_id".into(), self.run_id.to_string()),
        ];
        for (name, v) in &self.job_params {
            refs.push((format!("job.parameters.{name}"), v.clone()));
        }
        let mut out = value.to_string();
        for (name, v) in refs {
            out = out.replace(&format!("{{{{{name}}}}}"), &v).replace(&format!("{{{{ {name} }}}}"), &v);
        }
        out
    }

    /// The parameters a task's SQL sees: its own, then the legacy run overrides, then
    /// the job parameters.
    fn params(
        &self,
        own: Option<&Value>,
        legacy: &BTreeMap<String, String>,
        key: &str,
        id: i64,
    ) -> BTreeMap<String, String> {
        let mut params = text_map(own);
        if self.job_params.is_empty() {
            params.extend(legacy.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        params.extend(self.job_params.iter().map(|(k, v)| (k.clone(), v.clone())));
        params.into_iter().map(|(k, v)| (k, self.resolve(&v, key, id))).collect()
    }
}

/// Carry run `run_id` from its current state to the end.
pub(super) async fn execute(state: AppState, run_id: i64, cancel: CancellationToken) {
    let shutdown = state.shutdown.clone();
    // Wait for a free slot if queued.
    loop {
        let ready = {
            let mut guard = lock(&state);
            let ready = leave_queue(&mut guard, run_id);
            if ready && let Err(e) = save(&state, &guard) {
                tracing::warn!(run_id, "could not persist a run: {e}");
            }
            ready
        };
        if ready {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(QUEUE_POLL) => {}
            _ = cancel.cancelled() => return cancel_now(&state, run_id),
            _ = shutdown.cancelled() => return,
        }
    }
    // Setting up (the cluster, the environment) takes the transition delay.
    tokio::select! {
        _ = tokio::time::sleep(state.options.transition_delay) => {}
        _ = cancel.cancelled() => return cancel_now(&state, run_id),
        _ = shutdown.cancelled() => return,
    }
    if cancel.is_cancelled() {
        return cancel_now(&state, run_id);
    }
    let Some((context, tasks)) = update(&state, run_id, |run| {
        let now = crate::now_ms();
        run.life_cycle = "RUNNING".into();
        run.running_time = Some(now);
        let context = Context {
            run_id,
            job_id: run.job_id,
            job_name: run.run_name.clone(),
            start_time: run.start_time,
            job_params: run
                .job_parameters
                .iter()
                .filter_map(|p| Some((p.get("name")?.as_str()?.to_string(), p.get("value")?.as_str()?.to_string())))
                .collect(),
            notebook_params: text_map(run.overriding_parameters.get("notebook_params")),
            sql_params: text_map(run.overriding_parameters.get("sql_params")),
        };
        let tasks: Vec<(String, i64, Map<String, Value>)> =
            run.tasks.iter().map(|t| (t.task_key.clone(), t.run_id, t.task.clone())).collect();
        (context, tasks)
    }) else {
        return forget(&state, run_id);
    };
    let deps: BTreeMap<String, Vec<String>> = tasks
        .iter()
        .map(|(key, _, task)| {
            let list = task
                .get("depends_on")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| d.get("task_key").and_then(Value::as_str).map(str::to_string))
                .filter(|d| tasks.iter().any(|(k, _, _)| k == d))
                .collect();
            (key.clone(), list)
        })
        .collect();
    let order = topological_order(&deps).unwrap_or_default();
    let mut results: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut first_failure: Option<(String, String)> = None;
    for key in order {
        let Some((_, task_run_id, task)) = tasks.iter().find(|(k, _, _)| *k == key) else { continue };
        if cancel.is_cancelled() {
            return cancel_now(&state, run_id);
        }
        let upstream: Vec<&str> =
            deps.get(&key).into_iter().flatten().filter_map(|d| results.get(d).copied()).collect();
        if let Some(skip) = skip_reason(task, &upstream) {
            results.insert(key.clone(), skip.result);
            finish_task(&state, run_id, *task_run_id, skip);
            continue;
        }
        update(&state, run_id, |run| {
            if let Some(t) = run.tasks.iter_mut().find(|t| t.run_id == *task_run_id) {
                let now = crate::now_ms();
                t.life_cycle = "RUNNING".into();
                t.start_time = Some(now);
                t.running_time = Some(now);
            }
        });
        let timeout = task.get("timeout_seconds").and_then(Value::as_u64).filter(|s| *s > 0).map(Duration::from_secs);
        let work = run_task(&state, &context, &key, *task_run_id, task);
        let outcome = tokio::select! {
            outcome = async {
                match timeout {
                    Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| Outcome {
                        result: "TIMEDOUT",
                        message: format!("Task {key} timed out after {} seconds.", limit.as_secs()),
                        code: ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
                        output: Map::new(),
                    }),
                    None => work.await,
                }
            } => outcome,
            _ = cancel.cancelled() => return cancel_now(&state, run_id),
            _ = shutdown.cancelled() => return,
        };
        if outcome.result != "SUCCESS" && first_failure.is_none() {
            first_failure = Some((key.clone(), outcome.message.clone()));
        }
        results.insert(key.clone(), outcome.result);
        finish_task(&state, run_id, *task_run_id, outcome);
    }
    if cancel.is_cancelled() {
        return cancel_now(&state, run_id);
    }
    let skipped_downstream = results.values().any(|r| *r == "UPSTREAM_FAILED");
    update(&state, run_id, |run| {
        run.end_time = Some(crate::now_ms());
        run.life_cycle = "TERMINATED".into();
        match &first_failure {
            None => {
                run.result_state = Some("SUCCESS".into());
                run.state_message = String::new();
                run.termination = Some(("SUCCESS".into(), "SUCCESS".into()));
            }
            Some((key, message)) => {
                run.result_state = Some("FAILED".into());
                let mut text = format!("Task {key} failed with message: {message}");
                if skipped_downstream {
                    text.push_str(" This caused all downstream tasks to get skipped.");
                }
                run.state_message = text;
                run.termination = Some(("RUN_EXECUTION_ERROR".into(), "CLIENT_ERROR".into()));
            }
        }
    });
    forget(&state, run_id);
}

/// Why a task does not run, given the results of the tasks it depends on.
fn skip_reason(task: &Map<String, Value>, upstream: &[&str]) -> Option<Outcome> {
    let skipped = |result: &'static str, message: &str, code: (&'static str, &'static str)| Outcome {
        result,
        message: message.into(),
        code,
        output: Map::new(),
    };
    if task.get("disabled").and_then(Value::as_bool) == Some(true) {
        return Some(skipped("DISABLED", "The task is disabled.", ("DISABLED", "SUCCESS")));
    }
    if upstream.is_empty() {
        return None;
    }
    let ok = |r: &&str| matches!(*r, "SUCCESS" | "SUCCESS_WITH_FAILURES");
    let failed = |r: &&str| matches!(*r, "FAILED" | "TIMEDOUT" | "UPSTREAM_FAILED");
    let run_if = task.get("run_if").and_then(Value::as_str).unwrap_or("ALL_SUCCESS");
    let runs = match run_if {
        "ALL_DONE" => true,
        "AT_LEAST_ONE_SUCCESS" => upstream.iter().any(ok),
        "NONE_FAILED" => !upstream.iter().any(failed),
        "AT_LEAST_ONE_FAILED" => upstream.iter().any(failed),
        "ALL_FAILED" => upstream.iter().all(failed),
        _ => upstream.iter().all(ok),
    };
    if runs {
        None
    } else if run_if == "ALL_SUCCESS" {
        Some(skipped("UPSTREAM_FAILED", "Upstream task failed.", ("SKIPPED", "CLIENT_ERROR")))
    } else {
        Some(skipped("EXCLUDED", &format!("The task's run_if condition {run_if} was not met."), ("SKIPPED", "SUCCESS")))
    }
}

fn finish_task(state: &AppState, run_id: i64, task_run_id: i64, outcome: Outcome) {
    update(state, run_id, |run| {
        if let Some(t) = run.tasks.iter_mut().find(|t| t.run_id == task_run_id) {
            let now = crate::now_ms();
            t.life_cycle = "TERMINATED".into();
            t.result_state = Some(outcome.result.into());
            t.state_message = outcome.message;
            t.termination = Some((outcome.code.0.into(), outcome.code.1.into()));
            t.start_time.get_or_insert(now);
            t.end_time = Some(now);
            t.output = outcome.output;
        }
    });
}

async fn run_task(state: &AppState, ctx: &Context, key: &str, task_run_id: i64, task: &Map<String, Value>) -> Outcome {
    if let Some(cluster) = task.get("existing_cluster_id").and_then(Value::as_str)
        && crate::clusters::status(state, cluster).is_none()
    {
        return Outcome::failed("CLUSTER_ERROR", format!("Cluster {cluster} does not exist"), None);
    }
    if let Some(nb) = task.get("notebook_task") {
        let params = ctx.params(nb.get("base_parameters"), &ctx.notebook_params, key, task_run_id);
        return run_notebook(state, nb, &params).await;
    }
    if let Some(sql) = task.get("sql_task") {
        let params = ctx.params(sql.get("parameters"), &ctx.sql_params, key, task_run_id);
        return run_sql_task(state, sql, &params).await;
    }
    let kind = super::task_kind(task).unwrap_or("This task type");
    Outcome::failed("INVALID_RUN_CONFIGURATION", format!("{kind} {UNSUPPORTED}."), None)
}

async fn run_notebook(state: &AppState, nb: &Value, params: &BTreeMap<String, String>) -> Outcome {
    let path = nb.get("notebook_path").and_then(Value::as_str).unwrap_or_default();
    if nb.get("source").and_then(Value::as_str) == Some("GIT") {
        return Outcome::failed(
            "INVALID_RUN_CONFIGURATION",
            format!(
                "Notebooks from a Git source {UNSUPPORTED}; import {path} into the workspace and use source WORKSPACE."
            ),
            None,
        );
    }
    let Some((language, source)) = crate::workspace::read_notebook(state, path) else {
        return Outcome::failed(
            "RESOURCE_NOT_FOUND",
            format!("Unable to access the notebook {path:?}: it does not exist in the workspace."),
            None,
        );
    };
    if !language.eq_ignore_ascii_case("sql") {
        return Outcome::failed(
            "INVALID_RUN_CONFIGURATION",
            format!("Notebook {path} is a {} notebook, which {UNSUPPORTED}.", language.to_uppercase()),
            None,
        );
    }
    match run_cells(state, &source, params).await {
        Ok(last) => {
            let (result, truncated) = render(last.as_ref());
            let mut output = Map::new();
            output.insert("notebook_output".into(), json!({"result": result, "truncated": truncated}));
            Outcome::success(output)
        }
        Err(failure) => failure,
    }
}

async fn run_sql_task(state: &AppState, sql: &Value, params: &BTreeMap<String, String>) -> Outcome {
    let warehouse = sql.get("warehouse_id").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(file) = sql.get("file") else {
        let what = if sql.get("query").is_some() {
            "A saved query (sql_task.query) cannot be run: the sandbox stores no saved queries. Put the SQL in a \
             workspace file and use sql_task.file instead"
                .to_string()
        } else if sql.get("dashboard").is_some() {
            format!("sql_task.dashboard {UNSUPPORTED}")
        } else {
            format!("sql_task.alert {UNSUPPORTED}")
        };
        return Outcome::failed("INVALID_RUN_CONFIGURATION", format!("{what}."), None);
    };
    let path = file.get("path").and_then(Value::as_str).unwrap_or_default();
    if file.get("source").and_then(Value::as_str) == Some("GIT") {
        return Outcome::failed(
            "INVALID_RUN_CONFIGURATION",
            format!("SQL files from a Git source {UNSUPPORTED}."),
            None,
        );
    }
    let Some((_, source)) = crate::workspace::read_notebook(state, path) else {
        return Outcome::failed(
            "RESOURCE_NOT_FOUND",
            format!("Unable to access the SQL file {path:?}: it does not exist in the workspace."),
            None,
        );
    };
    match run_cells(state, &source, params).await {
        Ok(last) => {
            let statements = script::split_statements(&source).len();
            let (rows, truncated) = render(last.as_ref());
            let lookup: Vec<Value> =
                (0..statements).map(|_| json!({"lookup_key": uuid::Uuid::new_v4().simple().to_string()})).collect();
            let mut output = Map::new();
            output.insert(
                "sql_output".into(),
                json!({"query_output": {
                    "query_text": truncate(&source, 64 * 1024),
                    "warehouse_id": warehouse,
                    "output_link": format!("{}/sql/history", state.base_url),
                    "sql_statements": lookup,
                }}),
            );
            output.insert("logs".into(), json!(rows));
            output.insert("logs_truncated".into(), json!(truncated));
            Outcome::success(output)
        }
        Err(failure) => failure,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Run every SQL cell of a notebook (or plain SQL text); the last statement's result.
async fn run_cells(
    state: &AppState,
    source: &str,
    params: &BTreeMap<String, String>,
) -> Result<Option<QueryOutput>, Outcome> {
    let mut last = None;
    for (n, cell) in script::notebook_cells(source).into_iter().enumerate() {
        let text = match cell {
            Cell::Markdown => continue,
            Cell::Other(magic) => {
                return Err(Outcome::failed(
                    "INVALID_RUN_CONFIGURATION",
                    format!("Cell {} uses {magic}: that language {UNSUPPORTED}.", n + 1),
                    None,
                ));
            }
            Cell::Sql(text) => text,
        };
        for statement in script::split_statements(&script::substitute(&text, params)) {
            match state.sql.run(&statement, None, None).await {
                Ok(output) => last = Some(output),
                Err(e) => {
                    return Err(Outcome::failed(
                        "RUN_EXECUTION_ERROR",
                        format!("[{}] {}", e.error_code, e.message),
                        Some(format!("Statement failed in cell {}:\n{statement}", n + 1)),
                    ));
                }
            }
        }
    }
    Ok(last)
}

/// A result as JSON text `{"columns": [...], "rows": [[...], ...]}` (values as text,
/// NULL as null), cut to the output limits; the flag says whether rows were left out.
fn render(output: Option<&QueryOutput>) -> (String, bool) {
    let Some(output) = output else { return (String::new(), false) };
    let columns: Vec<&str> = output.columns.iter().map(|c| c.name.as_str()).collect();
    let mut size = 64 + columns.iter().map(|c| c.len() + 3).sum::<usize>();
    let mut rows = Vec::new();
    let mut truncated = false;
    for row in &output.rows {
        let value = json!(row);
        let len = value.to_string().len() + 1;
        if rows.len() >= OUTPUT_ROWS || size + len > OUTPUT_BYTES {
            truncated = true;
            break;
        }
        size += len;
        rows.push(value);
    }
    (json!({"columns": columns, "rows": rows}).to_string(), truncated)
}
