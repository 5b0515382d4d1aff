//! Tools of the `jobs` toolset: job definitions (list, read, create, change, delete)
//! and their runs (start, submit one-time runs, follow, read output, cancel).

use std::collections::{BTreeMap, BTreeSet};

use databricks_client::wait::{self, WaitError};
use databricks_client::{Client, ClientPagesExt, types};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::tools::util;
use crate::{ToolContext, ToolError, ToolOutput, ToolResult, tool};

/// Page sizes of `jobs/list` (default, ceiling) and `jobs/runs/list`.
const DEFAULT_JOBS_PAGE: u32 = 20;
const MAX_JOBS_PAGE: u32 = 100;
const DEFAULT_RUNS_PAGE: u32 = 20;
const MAX_RUNS_PAGE: u32 = 25;
/// Characters `get_run_output` returns when no `length` is given, and its ceiling.
const DEFAULT_OUTPUT_CHARS: usize = 20_000;
const MAX_OUTPUT_CHARS: usize = 200_000;
/// Characters of a task's output included in the report of a finished run.
const INLINE_OUTPUT_CHARS: usize = 10_000;
/// Failed tasks of a multi-task run whose error is fetched for the report.
const FAILED_TASK_ERRORS: usize = 3;
/// Characters of a state message kept in list summaries.
const SUMMARY_MESSAGE_CHARS: usize = 300;
/// The longest idempotency token Databricks accepts.
const MAX_IDEMPOTENCY_TOKEN: usize = 64;

// ---------------------------------------------------------------------------
// Shared helpers.

/// A non-empty, trimmed string argument.
fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// A page size argument: at least 1, capped at `max`.
fn page_limit(field: &str, value: Option<u32>, default: u32, max: u32) -> Result<i64, ToolError> {
    match value {
        None => Ok(i64::from(default)),
        Some(0) => Err(ToolError::InvalidArguments(format!("invalid argument `{field}`: must be at least 1"))),
        Some(n) => Ok(i64::from(n.min(max))),
    }
}

fn idempotency_token(value: Option<String>) -> Result<Option<String>, ToolError> {
    let token = non_empty(value);
    if let Some(t) = &token
        && t.chars().count() > MAX_IDEMPOTENCY_TOKEN
    {
        return Err(ToolError::InvalidArguments(format!(
            "invalid argument `idempotency_token`: at most {MAX_IDEMPOTENCY_TOKEN} characters"
        )));
    }
    Ok(token)
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Join an argument name and a serde path (`[0].task_key`, `name`).
fn join_path(field: &str, path: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_string()
    } else if path.starts_with('[') {
        format!("{field}{path}")
    } else {
        format!("{field}.{path}")
    }
}

/// The paths of fields in `input` that did not survive a round trip through the
/// typed request (`output`): fields the API type does not know.
fn dropped_fields(input: &Value, output: &Value, path: &str, found: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = join_path(path, key);
                match b.get(key) {
                    Some(back) => dropped_fields(value, back, &here, found),
                    None if !is_empty_value(value) => found.push(here),
                    None => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (value, back)) in a.iter().zip(b).enumerate() {
                dropped_fields(value, back, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Decode a free-form JSON argument into the generated request type. A wrong type
/// or a missing required field names its path under `field`, and fields the Jobs
/// API type does not know are refused rather than silently dropped.
fn decode<T: DeserializeOwned + serde::Serialize>(field: &str, value: Value) -> Result<T, ToolError> {
    let typed: T = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let at = join_path(field, &e.path().to_string());
        ToolError::InvalidArguments(format!("invalid argument `{at}`: {}", e.into_inner()))
    })?;
    let back = serde_json::to_value(&typed).unwrap_or(Value::Null);
    let mut unknown = Vec::new();
    dropped_fields(&value, &back, field, &mut unknown);
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown.iter().take(10).map(|p| format!("`{p}`")).collect();
        return Err(ToolError::InvalidArguments(format!(
            "invalid argument {}: not a field of the Jobs API request (check the spelling and nesting){}",
            shown.join(", "),
            if unknown.len() > 10 { format!(" and {} more", unknown.len() - 10) } else { String::new() }
        )));
    }
    Ok(typed)
}

/// A timestamp in milliseconds since the epoch as UTC ISO-8601; empty for 0 or none.
fn iso_utc(ms: Option<i64>) -> String {
    let Some(ms) = ms.filter(|m| *m > 0) else { return String::new() };
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// A duration in milliseconds as `850ms`, `42s`, `3m 05s` or `2h 07m`.
fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// The task types a task sets (`notebook_task`, `sql_task`, …), read from its JSON.
fn task_kinds_of(task: &impl serde::Serialize) -> Vec<String> {
    match serde_json::to_value(task) {
        Ok(Value::Object(map)) => {
            map.into_iter().filter(|(k, v)| k.ends_with("_task") && !v.is_null()).map(|(k, _)| k).collect()
        }
        _ => Vec::new(),
    }
}

/// How a job is started automatically: its cron schedule, continuous mode or trigger.
fn schedule_summary(settings: Option<&types::JobSettings>) -> Option<String> {
    let settings = settings?;
    if let Some(schedule) = &settings.schedule {
        let pause = schedule.pause_status.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "UNPAUSED".into());
        return Some(format!("cron {} ({}) {pause}", schedule.quartz_cron_expression, schedule.timezone_id));
    }
    if let Some(continuous) = &settings.continuous {
        let pause = serde_json::to_value(continuous)
            .ok()
            .and_then(|v| v.get("pause_status").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "UNPAUSED".into());
        return Some(format!("continuous {pause}"));
    }
    if let Some(trigger) = &settings.trigger {
        let value = serde_json::to_value(trigger).unwrap_or(Value::Null);
        let kinds: Vec<String> = value
            .as_object()
            .map(|m| m.iter().filter(|(k, v)| *k != "pause_status" && !v.is_null()).map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        let pause = value.get("pause_status").and_then(Value::as_str).unwrap_or("UNPAUSED");
        return Some(format!("trigger {} {pause}", kinds.join("+")));
    }
    None
}

/// Life-cycle state, result state and message of a run or task run.
fn run_states(state: Option<&types::RunState>, status: Option<&types::RunStatus>) -> (String, Option<String>, String) {
    let life = state
        .and_then(|s| s.life_cycle_state.as_ref())
        .map(|s| s.to_string())
        .or_else(|| status.and_then(|s| s.state.as_ref()).map(|s| s.to_string()))
        .unwrap_or_else(|| "UNKNOWN".into());
    let result = state.and_then(|s| s.result_state.as_ref()).map(|s| s.to_string());
    let message = state
        .and_then(|s| s.state_message.clone())
        .filter(|m| !m.is_empty())
        .or_else(|| status.and_then(|s| s.termination_details.as_ref()).and_then(|t| t.message.clone()))
        .unwrap_or_default();
    (life, result, message)
}

fn is_terminal(life: &str) -> bool {
    matches!(life, "TERMINATED" | "SKIPPED" | "INTERNAL_ERROR")
}

fn is_success(result: Option<&str>) -> bool {
    matches!(result, Some("SUCCESS" | "SUCCESS_WITH_FAILURES"))
}

/// `TERMINATED/SUCCESS`, `RUNNING`, …
fn state_label(life: &str, result: Option<&str>) -> String {
    match result {
        Some(r) => format!("{life}/{r}"),
        None => life.to_string(),
    }
}

/// The fields of a run that summaries use; `BaseRun`, `Run` and `RunTask` all have them.
struct RunFacts<'a> {
    run_id: Option<i64>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    run_duration: Option<i64>,
    setup_duration: Option<i64>,
    execution_duration: Option<i64>,
    cleanup_duration: Option<i64>,
    state: Option<&'a types::RunState>,
    status: Option<&'a types::RunStatus>,
}

macro_rules! run_facts {
    ($r:expr) => {
        RunFacts {
            run_id: $r.run_id,
            start_time: $r.start_time,
            end_time: $r.end_time,
            run_duration: $r.run_duration,
            setup_duration: $r.setup_duration,
            execution_duration: $r.execution_duration,
            cleanup_duration: $r.cleanup_duration,
            state: $r.state.as_ref(),
            status: $r.status.as_ref(),
        }
    };
}

impl RunFacts<'_> {
    /// How long the run took; `None` while it has not ended.
    fn duration_ms(&self) -> Option<i64> {
        if let Some(d) = self.run_duration.filter(|d| *d > 0) {
            return Some(d);
        }
        let parts = [self.setup_duration, self.execution_duration, self.cleanup_duration]
            .iter()
            .map(|d| d.unwrap_or(0).max(0))
            .sum::<i64>();
        if parts > 0 {
            return Some(parts);
        }
        match (self.start_time, self.end_time) {
            (Some(s), Some(e)) if s > 0 && e >= s => Some(e - s),
            _ => None,
        }
    }

    fn states(&self) -> (String, Option<String>, String) {
        run_states(self.state, self.status)
    }
}

fn run_summary(facts: &RunFacts<'_>, job_id: Option<i64>, run_name: Option<&str>, run_type: Option<String>) -> Value {
    let (life, result, message) = facts.states();
    let duration = facts.duration_ms();
    util::compact(json!({
        "run_id": facts.run_id,
        "job_id": job_id,
        "run_name": run_name,
        "run_type": run_type,
        "life_cycle_state": life,
        "result_state": result,
        "state_message": (!message.is_empty()).then(|| shorten(&message, SUMMARY_MESSAGE_CHARS)),
        "start_time": facts.start_time.filter(|t| *t > 0),
        "started": iso_utc(facts.start_time),
        "duration_ms": duration,
        "duration": duration.map(human_duration),
    }))
}

fn task_run_summary(task: &types::RunTask) -> Value {
    let facts = run_facts!(task);
    let (life, result, message) = facts.states();
    let duration = facts.duration_ms();
    util::compact(json!({
        "task_key": task.task_key,
        "run_id": task.run_id,
        "task_kinds": task_kinds_of(task),
        "life_cycle_state": life,
        "result_state": result,
        "state_message": (!message.is_empty()).then(|| shorten(&message, SUMMARY_MESSAGE_CHARS)),
        "duration": duration.map(human_duration),
    }))
}

fn task_runs_table(tasks: &[types::RunTask]) -> String {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let (life, result, message) = run_states(t.state.as_ref(), t.status.as_ref());
            vec![
                t.task_key.clone(),
                t.run_id.map(|id| id.to_string()).unwrap_or_default(),
                state_label(&life, result.as_deref()),
                shorten(&message, 200),
            ]
        })
        .collect();
    util::markdown_table(&["task_key", "task run_id", "state", "message"], &rows)
}

/// Characters `[offset, offset+length)` of `text`: the chunk, its start and end, and the total.
fn page_text(text: &str, offset: usize, length: usize) -> (String, usize, usize, usize) {
    let total = text.chars().count();
    let start = offset.min(total);
    let chunk: String = text.chars().skip(start).take(length).collect();
    let end = start + chunk.chars().count();
    (chunk, start, end, total)
}

/// A task run's output as readable text: the notebook result, other task outputs,
/// the error and its trace, the logs and any info.
fn render_output(out: &types::RunOutput) -> String {
    let mut sections: Vec<String> = Vec::new();
    if let Some(notebook) = &out.notebook_output {
        let mut section = String::from("### Notebook result\n");
        match notebook.result.as_deref().filter(|r| !r.is_empty()) {
            Some(result) => section.push_str(result),
            None => section.push_str("(no value: a notebook returns a value with dbutils.notebook.exit)"),
        }
        if notebook.truncated == Some(true) {
            section.push_str("\n(Databricks truncated this result at its size limit.)");
        }
        sections.push(section);
    }
    if let Ok(Value::Object(map)) = serde_json::to_value(out) {
        for (key, value) in map {
            if key == "notebook_output" || key == "metadata" || !key.ends_with("_output") || is_empty_value(&value) {
                continue;
            }
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            sections.push(format!("### {key}\n{text}"));
        }
    }
    let text_sections = [
        ("Error", out.error.as_deref()),
        ("Error trace", out.error_trace.as_deref()),
        ("Logs", out.logs.as_deref()),
        ("Info", out.info.as_deref()),
    ];
    for (title, body) in text_sections {
        if let Some(body) = body.filter(|b| !b.trim().is_empty()) {
            let mut section = format!("### {title}\n{body}");
            if title == "Logs" && out.logs_truncated == Some(true) {
                section.push_str("\n(Databricks kept only part of the logs.)");
            }
            sections.push(section);
        }
    }
    sections.join("\n\n")
}

/// Cancels a run this tool call started if the call is dropped or ends because the
/// client cancelled the request. Disarmed once the run no longer needs it.
struct CancelRunOnDrop {
    client: Client,
    cancel: CancellationToken,
    run_id: i64,
    armed: bool,
}

impl Drop for CancelRunOnDrop {
    fn drop(&mut self) {
        if !self.armed || !self.cancel.is_cancelled() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let client = self.client.clone();
        let run_id = self.run_id;
        runtime.spawn(async move {
            match client.jobs_cancel_run().body(types::JobsCancelRunBody { run_id }).send().await {
                Ok(_) => tracing::info!(run_id, "cancelled the run started by a request the client cancelled"),
                Err(e) => tracing::warn!(run_id, "could not cancel the run of a cancelled request: {e}"),
            }
        });
    }
}

/// Wait for a run to finish and report it. `started_here` says this call started
/// the run, so a cancelled request also cancels the run.
async fn follow_run(
    ctx: &ToolContext,
    run_id: i64,
    timeout_seconds: Option<u64>,
    intro: &str,
    started_here: bool,
) -> ToolResult {
    let mut guard =
        CancelRunOnDrop { client: ctx.client.clone(), cancel: ctx.cancel.clone(), run_id, armed: started_here };
    let timeout = util::wait_timeout(timeout_seconds);
    let outcome = wait::run_terminated(&ctx.client, run_id, &ctx.wait_options(timeout)).await;
    match outcome {
        Ok(run) => {
            guard.armed = false;
            finished_report(&ctx.client, intro, run).await
        }
        Err(WaitError::TimedOut { state, elapsed, .. }) => {
            guard.armed = false;
            let text = format!(
                "{intro}Run {run_id} is still {state} after waiting {}s. It may still be running: it was not \
                 cancelled, so do not start it again. Keep following it with wait_for_run_completion \
                 (run_id={run_id}) or check it with get_run; stop it with cancel_run.",
                elapsed.as_secs()
            );
            let structured = json!({
                "run_id": run_id,
                "finished": false,
                "timed_out": true,
                "last_state": state,
                "waited_seconds": elapsed.as_secs(),
            });
            Ok(ToolOutput::with_structured(text, structured))
        }
        Err(WaitError::Cancelled { state, .. }) => {
            // The guard cancels a run this call started when it is dropped here.
            let what = if started_here && ctx.cancel.is_cancelled() {
                "it was started by this call, so it is being cancelled"
            } else {
                "the run itself was left as it is"
            };
            Err(ToolError::failed(format!(
                "Stopped waiting for run {run_id} (last state {state}) because the request was cancelled; {what}."
            )))
        }
        Err(WaitError::Failed { state, message, .. }) => {
            guard.armed = false;
            // INTERNAL_ERROR: report the run as it ended.
            match ctx.client.jobs_get_run_all(run_id).await {
                Ok(run) => finished_report(&ctx.client, intro, run).await,
                Err(_) => Err(ToolError::failed(format!(
                    "{intro}Run {run_id} ended in state {state}{}.",
                    message.map(|m| format!(": {m}")).unwrap_or_default()
                ))),
            }
        }
        Err(other) => {
            guard.armed = false;
            Err(other.into())
        }
    }
}

/// The output of one task run, for a finished run's report: text (cut to the
/// inline limit) and its total length.
async fn inline_output(client: &Client, task_run_id: i64) -> Result<(String, usize), databricks_client::Error> {
    let out = client.jobs_get_run_output().run_id(task_run_id).send().await?.into_inner();
    let text = render_output(&out);
    let (chunk, _, end, total) = page_text(&text, 0, INLINE_OUTPUT_CHARS);
    let mut shown = chunk;
    if end < total {
        shown.push_str(&format!(
            "\n\n(Output continues: {total} characters in all. Read on with get_run_output run_id={task_run_id} \
             offset={end}.)"
        ));
    }
    Ok((shown, total))
}

/// The report of a finished run: its final state, its task runs and, for a
/// single-task run, the task's output. A run that did not succeed is an error result.
async fn finished_report(client: &Client, intro: &str, mut run: types::Run) -> ToolResult {
    let run_id = run.run_id.unwrap_or_default();
    if run.has_more == Some(true)
        && let Ok(full) = client.jobs_get_run_all(run_id).await
    {
        run = full;
    }
    let facts = run_facts!(run);
    let (life, result, message) = facts.states();
    let succeeded = is_success(result.as_deref());
    let name = run.run_name.clone().unwrap_or_default();
    let mut text = format!("{intro}Run {run_id} ({name}) finished: {}", state_label(&life, result.as_deref()));
    if let Some(d) = facts.duration_ms() {
        text.push_str(&format!(" after {}", human_duration(d)));
    }
    text.push('.');
    if !message.is_empty() {
        text.push_str(&format!(" {message}"));
    }
    if let Some(url) = &run.run_page_url {
        text.push_str(&format!("\nRun page: {url}"));
    }
    let mut structured = json!({
        "run": run_summary(&facts, run.job_id, run.run_name.as_deref(), run.run_type.as_ref().map(|t| t.to_string())),
        "finished": true,
        "succeeded": succeeded,
        "tasks": run.tasks.iter().map(task_run_summary).collect::<Vec<_>>(),
    });

    // The task run whose output belongs to this run, when there is exactly one.
    let single = match run.tasks.as_slice() {
        [] => Some(run_id),
        [only] => only.run_id,
        _ => None,
    };
    if let Some(task_run_id) = single {
        match inline_output(client, task_run_id).await {
            Ok((output, total)) if total > 0 => {
                text.push_str(&format!("\n\nOutput of task run {task_run_id}:\n\n{output}"));
                structured["output"] = json!({"task_run_id": task_run_id, "text": output, "total_chars": total});
            }
            Ok(_) => text.push_str(&format!("\n\nTask run {task_run_id} produced no output.")),
            Err(e) => text.push_str(&format!(
                "\n\nThe output of task run {task_run_id} could not be read: {}",
                crate::output::describe_databricks_error(&e)
            )),
        }
    } else {
        text.push_str(&format!("\n\nTask runs:\n\n{}", task_runs_table(&run.tasks)));
        let failed: Vec<&types::RunTask> = run
            .tasks
            .iter()
            .filter(|t| {
                let (life, result, _) = run_states(t.state.as_ref(), t.status.as_ref());
                is_terminal(&life) && matches!(result.as_deref(), Some("FAILED" | "TIMEDOUT"))
            })
            .take(FAILED_TASK_ERRORS)
            .collect();
        for task in failed {
            let Some(task_run_id) = task.run_id else { continue };
            if let Ok(out) = client.jobs_get_run_output().run_id(task_run_id).send().await
                && let Some(error) = out.into_inner().error.filter(|e| !e.is_empty())
            {
                text.push_str(&format!(
                    "\nError of task {} (task run {task_run_id}): {}",
                    task.task_key,
                    shorten(&error, 2000)
                ));
            }
        }
        text.push_str("\nRead a task's output with get_run_output using its task run_id.");
    }
    if succeeded { Ok(ToolOutput::with_structured(text, structured)) } else { Err(ToolError::failed(text)) }
}

// ---------------------------------------------------------------------------
// Jobs.

/// Arguments of `list_jobs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListJobsArgs {
    /// Only jobs with exactly this name (case-insensitive). Job names are not unique, so several jobs may match.
    #[serde(default)]
    pub name: Option<String>,
    /// Jobs per page, 1 to 100 (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The next_page_token of a previous list_jobs call, to fetch the following page.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// List the jobs of the workspace, one page at a time. Each summary has job_id, name,
/// creator, created time, the number of tasks and their kinds (notebook_task,
/// sql_task, …) and the schedule or trigger, if any. Filter by exact name with name.
/// When next_page_token is returned, call again with page_token set to it for the
/// next page. Use get_job for a job's full settings, run_job to start it and list_runs
/// for its runs.
#[tool(toolset = "jobs", read_only, operation = "jobs_list")]
pub async fn list_jobs(ctx: ToolContext, args: ListJobsArgs) -> ToolResult {
    let limit = page_limit("limit", args.limit, DEFAULT_JOBS_PAGE, MAX_JOBS_PAGE)?;
    let name = non_empty(args.name);
    let mut request = ctx.client.jobs_list().expand_tasks(true).limit(limit);
    if let Some(name) = &name {
        request = request.name(name.as_str());
    }
    if let Some(token) = non_empty(args.page_token) {
        request = request.page_token(token);
    }
    let page = request.send().await?.into_inner();
    let next_page_token = page.next_page_token.filter(|t| !t.is_empty());

    let mut rows = Vec::new();
    let mut jobs = Vec::new();
    for job in &page.jobs {
        let settings = job.settings.as_ref();
        let tasks = settings.map(|s| s.tasks.as_slice()).unwrap_or_default();
        let kinds: BTreeSet<String> = tasks.iter().flat_map(task_kinds_of).collect();
        let more_tasks = job.has_more == Some(true);
        let task_count = if more_tasks { format!("{}+", tasks.len()) } else { tasks.len().to_string() };
        let schedule = schedule_summary(settings);
        let name = settings.and_then(|s| s.name.clone());
        rows.push(vec![
            job.job_id.map(|id| id.to_string()).unwrap_or_default(),
            name.clone().unwrap_or_default(),
            job.creator_user_name.clone().unwrap_or_default(),
            iso_utc(job.created_time),
            task_count.clone(),
            kinds.iter().cloned().collect::<Vec<_>>().join(", "),
            schedule.clone().unwrap_or_default(),
        ]);
        jobs.push(util::compact(json!({
            "job_id": job.job_id,
            "name": name,
            "creator": job.creator_user_name,
            "created_time": job.created_time,
            "created": iso_utc(job.created_time),
            "task_count": tasks.len(),
            "more_tasks": more_tasks.then_some(true),
            "task_kinds": kinds,
            "schedule": schedule,
        })));
    }

    let filter = name.as_ref().map(|n| format!(" named {n:?}")).unwrap_or_default();
    let mut text = if jobs.is_empty() {
        format!("No jobs{filter} on this page.\n")
    } else {
        format!(
            "{} job{}{filter}:\n\n{}",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" },
            util::markdown_table(&["job_id", "name", "creator", "created", "tasks", "task kinds", "schedule"], &rows)
        )
    };
    if jobs.iter().any(|j| j.get("more_tasks").is_some()) {
        text.push_str("\nA task count like 100+ means the job has more tasks; get_job returns all of them.\n");
    }
    if let Some(token) = &next_page_token {
        text.push_str(&format!("\nMore jobs remain: call list_jobs again with page_token={token:?}.\n"));
    }
    let structured = json!({
        "jobs": jobs,
        "count": jobs.len(),
        "next_page_token": next_page_token,
        "has_more": next_page_token.is_some(),
    });
    Ok(ToolOutput::with_structured(text, structured))
}

/// Arguments of `get_job`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetJobArgs {
    /// Numeric id of the job, as list_jobs or create_job return it.
    pub job_id: i64,
}

/// Get one job with its complete settings: name, every task (with its task type,
/// compute and dependencies), job clusters, parameters, schedule or triggers,
/// notifications, run-as identity and creator. Jobs with more than 100 tasks are
/// assembled from all pages, so the task list is complete. Read it before update_job;
/// start the job with run_job.
#[tool(toolset = "jobs", read_only, operation = "jobs_get")]
pub async fn get_job(ctx: ToolContext, args: GetJobArgs) -> ToolResult {
    let job = ctx.client.jobs_get_all(args.job_id).await?;
    Ok(ToolOutput::json(job))
}

/// Arguments of `create_job`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJobArgs {
    /// The job's settings, as the Jobs API 2.2 jobs/create body, passed through unchanged. Common fields:
    /// `name`; `tasks` (array; each has a unique `task_key`, exactly one task type such as
    /// `notebook_task` {`notebook_path`, `base_parameters`} or `sql_task` {`warehouse_id`, `file`: {`path`}},
    /// compute via `existing_cluster_id`, `job_cluster_key`, `new_cluster` or `environment_key`, and optional
    /// `depends_on` [{`task_key`}]); `job_clusters` [{`job_cluster_key`, `new_cluster`}]; `schedule`
    /// {`quartz_cron_expression`, `timezone_id`, `pause_status`}; `parameters` [{`name`, `default`}];
    /// `max_concurrent_runs`; `timeout_seconds`; `tags`; `email_notifications`; `queue`; `environments`;
    /// `git_source`. Fields unknown to the Jobs API are refused.
    pub settings: Map<String, Value>,
}

/// Create a job from a settings object (the Jobs API 2.2 create body: name, tasks,
/// job_clusters, schedule, parameters, notifications, …) and return its job_id.
/// Creating twice makes two jobs, so check list_jobs by name first if unsure. Nothing
/// runs until run_job (or the schedule) starts it. Use get_job to review it and
/// update_job to change it.
#[tool(toolset = "jobs", read_only = false, operation = "jobs_create")]
pub async fn create_job(ctx: ToolContext, args: CreateJobArgs) -> ToolResult {
    let body: types::JobsCreateBody = decode("settings", Value::Object(args.settings))?;
    let name = body.name.clone().unwrap_or_else(|| "Untitled".into());
    let task_count = body.tasks.len();
    let created = ctx.client.jobs_create().body(body).send().await?.into_inner();
    let job_id = created.job_id.ok_or_else(|| {
        ToolError::failed(format!(
            "Databricks accepted the job but returned no job_id; find it with list_jobs name={name:?} before creating it again."
        ))
    })?;
    let mut text = format!(
        "Created job {job_id} {name:?} with {task_count} task{}. Start it with run_job (job_id={job_id}), review \
         it with get_job and change it with update_job.",
        if task_count == 1 { "" } else { "s" }
    );
    if task_count == 0 {
        text.push_str(" It has no tasks yet, so it cannot run: add tasks with update_job.");
    }
    Ok(ToolOutput::with_structured(text, json!({"job_id": job_id, "name": name, "task_count": task_count})))
}

/// Arguments of `update_job`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateJobArgs {
    /// Numeric id of the job to change.
    pub job_id: i64,
    /// The settings to change, in the same shape as create_job's settings. Top-level fields given here replace
    /// the job's; `tasks`, `job_clusters`, `environments` and `parameters` are merged by their key (task_key,
    /// job_cluster_key, environment_key, name), so a task given here replaces the task with the same task_key
    /// and other tasks stay. Fields left out are unchanged.
    #[serde(default)]
    pub new_settings: Option<Map<String, Value>>,
    /// Settings to delete: top-level field names such as "schedule" or "tags", or single entries such as
    /// "tasks/<task_key>" or "job_clusters/<job_cluster_key>".
    #[serde(default)]
    pub fields_to_remove: Option<Vec<String>>,
}

/// Change some settings of a job without restating the rest: new_settings replaces
/// the top-level fields it names and merges tasks, job_clusters, environments and
/// parameters by key; fields_to_remove deletes fields or single entries such as
/// "tasks/<task_key>". Runs already in progress keep their old settings. Read the
/// current settings with get_job first, and check the result with get_job after.
#[tool(toolset = "jobs", read_only = false, operation = "jobs_update")]
pub async fn update_job(ctx: ToolContext, args: UpdateJobArgs) -> ToolResult {
    let remove: Vec<String> =
        args.fields_to_remove.unwrap_or_default().into_iter().map(|f| f.trim().to_string()).collect();
    if let Some(i) = remove.iter().position(String::is_empty) {
        return Err(ToolError::InvalidArguments(format!("invalid argument `fields_to_remove[{i}]`: empty")));
    }
    let settings = args.new_settings.filter(|s| !s.is_empty());
    if settings.is_none() && remove.is_empty() {
        return Err(ToolError::InvalidArguments(
            "invalid arguments: give new_settings (fields to change) or fields_to_remove (fields to delete), or both"
                .into(),
        ));
    }
    let mut changed: Vec<String> = Vec::new();
    let new_settings = match settings {
        None => None,
        Some(map) => {
            if let Some((key, _)) = map.iter().find(|(_, v)| is_empty_value(v)) {
                return Err(ToolError::InvalidArguments(format!(
                    "invalid argument `new_settings.{key}`: empty or null. To delete the field, name it in \
                     fields_to_remove; to keep it, leave it out"
                )));
            }
            changed = map.keys().cloned().collect();
            Some(decode::<types::JobSettings>("new_settings", Value::Object(map))?)
        }
    };
    let body = types::JobsUpdateBody { fields_to_remove: remove.clone(), job_id: args.job_id, new_settings };
    ctx.client.jobs_update().body(body).send().await?;
    let mut parts = Vec::new();
    if !changed.is_empty() {
        parts.push(format!("set {}", changed.join(", ")));
    }
    if !remove.is_empty() {
        parts.push(format!("removed {}", remove.join(", ")));
    }
    let text = format!(
        "Updated job {}: {}. Runs already in progress keep their previous settings. Check the result with get_job.",
        args.job_id,
        parts.join("; ")
    );
    Ok(ToolOutput::with_structured(
        text,
        json!({"job_id": args.job_id, "changed_fields": changed, "removed_fields": remove}),
    ))
}

/// Arguments of `delete_job`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteJobArgs {
    /// Numeric id of the job to delete.
    pub job_id: i64,
    /// Set to true to confirm deleting the job permanently.
    #[serde(default)]
    pub confirm: bool,
}

/// Delete a job permanently: its definition, schedule and triggers go away and it can
/// no longer be run; this cannot be undone. Needs confirm=true (or the user's
/// confirmation). Check for runs still in progress with list_runs (active_only=true)
/// and stop them with cancel_run if needed. To only stop scheduled runs, pause the
/// schedule with update_job instead.
#[tool(toolset = "jobs", read_only = false, destructive, operations = ["jobs_get", "jobs_delete"])]
pub async fn delete_job(ctx: ToolContext, args: DeleteJobArgs) -> ToolResult {
    let job = ctx.client.jobs_get().job_id(args.job_id).send().await?.into_inner();
    let name = job.settings.and_then(|s| s.name).unwrap_or_else(|| "Untitled".into());
    ctx.confirm(args.confirm, &format!("Delete job {} {name:?} permanently; this cannot be undone", args.job_id))
        .await?;
    ctx.client.jobs_delete().body(types::JobsDeleteBody { job_id: args.job_id }).send().await?;
    Ok(ToolOutput::with_structured(
        format!("Deleted job {} {name:?}.", args.job_id),
        json!({"job_id": args.job_id, "name": name, "deleted": true}),
    ))
}

// ---------------------------------------------------------------------------
// Runs.

/// Arguments of `run_job`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunJobArgs {
    /// Numeric id of the job to run.
    pub job_id: i64,
    /// Values for the job's job-level parameters in this run, by name; others keep their defaults. Cannot be
    /// combined with the task-specific parameter fields below.
    #[serde(default)]
    pub job_parameters: Option<BTreeMap<String, String>>,
    /// Widget values for the job's notebook tasks, by widget name (for jobs without job-level parameters).
    #[serde(default)]
    pub notebook_params: Option<BTreeMap<String, String>>,
    /// Parameter values for the job's SQL tasks, by name.
    #[serde(default)]
    pub sql_params: Option<BTreeMap<String, String>>,
    /// Command-line arguments for the job's Spark Python tasks.
    #[serde(default)]
    pub python_params: Option<Vec<String>>,
    /// Keyword arguments for the job's Python wheel tasks, by name.
    #[serde(default)]
    pub python_named_params: Option<BTreeMap<String, String>>,
    /// Arguments for the main method of the job's Spark JAR tasks.
    #[serde(default)]
    pub jar_params: Option<Vec<String>>,
    /// Arguments for the job's spark-submit tasks.
    #[serde(default)]
    pub spark_submit_params: Option<Vec<String>>,
    /// Run only these tasks (by task_key); the others are not run. Omit to run the whole job.
    #[serde(default)]
    pub only: Option<Vec<String>>,
    /// Optional token of at most 64 characters: calling run_job again with the same token returns the run
    /// already started instead of starting another. Each call gets a fresh one by default.
    #[serde(default)]
    pub idempotency_token: Option<String>,
    /// Wait for the run to finish and return its final state and, for a single-task run, its output. Default false.
    #[serde(default)]
    pub wait: Option<bool>,
    /// With wait: the most seconds to wait (default 300, at most 3600). The run keeps going after that.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Start a run of a job now, optionally with parameters, and return its run_id. The
/// request carries an idempotency token, so a retried request never starts a second
/// run. With wait=true it follows the run until it ends (timeout_seconds, default
/// 300) and returns the final state and, for a single-task run, the task's output; a
/// run that does not succeed comes back as an error result with its message. If the
/// wait runs out, the run keeps going: follow it with wait_for_run_completion rather
/// than starting it again. Without wait, follow it with wait_for_run_completion or get_run.
#[tool(toolset = "jobs", read_only = false, operations = ["jobs_run_now", "jobs_get_run", "jobs_get_run_output"])]
pub async fn run_job(ctx: ToolContext, args: RunJobArgs) -> ToolResult {
    let token = idempotency_token(args.idempotency_token)?;
    let job_id = args.job_id;
    let body = types::JobsRunNowBody {
        dbt_commands: Vec::new(),
        duration_target: None,
        idempotency_token: token,
        jar_params: args.jar_params.unwrap_or_default(),
        job_id,
        job_parameters: args.job_parameters.unwrap_or_default(),
        notebook_params: args.notebook_params.unwrap_or_default(),
        only: args.only.unwrap_or_default(),
        performance_target: None,
        pipeline_params: None,
        python_named_params: args.python_named_params.unwrap_or_default(),
        python_params: args.python_params.unwrap_or_default(),
        queue: None,
        spark_submit_params: args.spark_submit_params.unwrap_or_default(),
        sql_params: args.sql_params.unwrap_or_default(),
    };
    let started = ctx.client.jobs_run_now().body(body).send().await?.into_inner();
    let run_id = started.run_id.ok_or_else(|| {
        ToolError::failed(format!(
            "Databricks accepted the run of job {job_id} but returned no run_id; find it with list_runs \
             (job_id={job_id}, active_only=true) before starting it again."
        ))
    })?;
    let intro = format!("Started run {run_id} of job {job_id}. ");
    if args.wait.unwrap_or(false) {
        return follow_run(&ctx, run_id, args.timeout_seconds, &intro, true).await;
    }
    let text = format!(
        "{intro}It runs in the background: follow it with wait_for_run_completion (run_id={run_id}) or get_run, \
         and stop it with cancel_run."
    );
    Ok(ToolOutput::with_structured(
        text,
        json!({"run_id": run_id, "job_id": job_id, "number_in_job": started.number_in_job, "finished": false}),
    ))
}

/// Arguments of `submit_single_run`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitSingleRunArgs {
    /// Display name of the run (default "Untitled").
    #[serde(default)]
    pub run_name: Option<String>,
    /// The tasks to run, as Jobs API task objects: each with a unique `task_key`, exactly one task type (such
    /// as `notebook_task` {`notebook_path`, `base_parameters`} or `sql_task` {`warehouse_id`, `file`: {`path`}}),
    /// its compute (`existing_cluster_id`, `new_cluster` or `environment_key`) and optional `depends_on`
    /// [{`task_key`}]. Passed through unchanged; unknown fields are refused.
    pub tasks: Vec<Map<String, Value>>,
    /// Other fields of the runs/submit request, passed through: `timeout_seconds` (the run's own limit),
    /// `environments`, `git_source`, `queue`, `email_notifications`, `webhook_notifications`, `run_as`, ….
    #[serde(default)]
    pub other_settings: Option<Map<String, Value>>,
    /// Optional token of at most 64 characters: submitting again with the same token returns the run already
    /// started instead of starting another. Each call gets a fresh one by default.
    #[serde(default)]
    pub idempotency_token: Option<String>,
    /// Wait for the run to finish and return its final state and, for a single-task run, its output. Default false.
    #[serde(default)]
    pub wait: Option<bool>,
    /// With wait: the most seconds to wait (default 300, at most 3600). The run keeps going after that.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Run tasks once without saving a job (a one-time SUBMIT_RUN) and return the
/// run_id. Give the tasks as Jobs API task objects. The request carries an
/// idempotency token, so a retried request never starts a second run. With wait=true
/// it follows the run until it ends (timeout_seconds, default 300) and returns the
/// final state and, for a single-task run, its output; a run that does not succeed
/// comes back as an error result. If the wait runs out the run keeps going: follow it
/// with wait_for_run_completion. For a repeatable workload use create_job.
#[tool(
    toolset = "jobs",
    read_only = false,
    operations = ["jobs_submit_run", "jobs_get_run", "jobs_get_run_output"]
)]
pub async fn submit_single_run(ctx: ToolContext, args: SubmitSingleRunArgs) -> ToolResult {
    if args.tasks.is_empty() {
        return Err(ToolError::InvalidArguments("invalid argument `tasks`: give at least one task".into()));
    }
    let token = idempotency_token(args.idempotency_token)?;
    let other = args.other_settings.unwrap_or_default();
    for own in ["tasks", "run_name", "idempotency_token"] {
        if other.contains_key(own) {
            return Err(ToolError::InvalidArguments(format!(
                "invalid argument `other_settings.{own}`: give {own} as its own argument"
            )));
        }
    }
    let tasks: Vec<types::SubmitTask> =
        decode("tasks", Value::Array(args.tasks.into_iter().map(Value::Object).collect()))?;
    let mut body: types::JobsSubmitRunBody = decode("other_settings", Value::Object(other))?;
    body.tasks = tasks;
    body.run_name = non_empty(args.run_name);
    body.idempotency_token = token;
    let name = body.run_name.clone().unwrap_or_else(|| "Untitled".into());
    let submitted = ctx.client.jobs_submit_run().body(body).send().await?.into_inner();
    let run_id = submitted.run_id.ok_or_else(|| {
        ToolError::failed(
            "Databricks accepted the run but returned no run_id; find it with list_runs (run_type=SUBMIT_RUN, \
             active_only=true) before submitting again.",
        )
    })?;
    let intro = format!("Submitted one-time run {run_id} ({name}). ");
    if args.wait.unwrap_or(false) {
        return follow_run(&ctx, run_id, args.timeout_seconds, &intro, true).await;
    }
    let text = format!(
        "{intro}It runs in the background: follow it with wait_for_run_completion (run_id={run_id}) or get_run, \
         and stop it with cancel_run."
    );
    Ok(ToolOutput::with_structured(text, json!({"run_id": run_id, "run_name": name, "finished": false})))
}

/// Kinds of run `list_runs` can filter on.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunTypeFilter {
    /// Runs of saved jobs (run_job, schedules and triggers).
    JobRun,
    /// One-time runs (submit_single_run).
    SubmitRun,
    /// Runs started from a notebook with dbutils.notebook.run.
    WorkflowRun,
}

impl RunTypeFilter {
    fn as_str(self) -> &'static str {
        match self {
            RunTypeFilter::JobRun => "JOB_RUN",
            RunTypeFilter::SubmitRun => "SUBMIT_RUN",
            RunTypeFilter::WorkflowRun => "WORKFLOW_RUN",
        }
    }
}

/// Arguments of `list_runs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRunsArgs {
    /// Only runs of this job. Omit for runs of every job and one-time runs.
    #[serde(default)]
    pub job_id: Option<i64>,
    /// Only runs still in progress (queued, pending, running or terminating). Not together with completed_only.
    #[serde(default)]
    pub active_only: Option<bool>,
    /// Only runs that have finished. Not together with active_only.
    #[serde(default)]
    pub completed_only: Option<bool>,
    /// Only runs of this kind.
    #[serde(default)]
    pub run_type: Option<RunTypeFilter>,
    /// Runs per page, 1 to 25 (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The next_page_token of a previous list_runs call, to fetch the following page.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// List job runs, newest first, one page at a time: run_id, job_id, run_name,
/// run_type, life_cycle_state, result_state, start time and duration. Filter by
/// job_id, active_only or completed_only, and run_type. When next_page_token is
/// returned, call again with page_token set to it. Use get_run for a run's tasks
/// and details, get_run_output for a task's output, wait_for_run_completion to
/// follow an active run.
#[tool(toolset = "jobs", read_only, operation = "jobs_list_runs")]
pub async fn list_runs(ctx: ToolContext, args: ListRunsArgs) -> ToolResult {
    let active_only = args.active_only.unwrap_or(false);
    let completed_only = args.completed_only.unwrap_or(false);
    if active_only && completed_only {
        return Err(ToolError::InvalidArguments(
            "invalid argument `completed_only`: active_only and completed_only cannot both be true".into(),
        ));
    }
    let limit = page_limit("limit", args.limit, DEFAULT_RUNS_PAGE, MAX_RUNS_PAGE)?;
    let mut request = ctx.client.jobs_list_runs().limit(limit);
    if let Some(job_id) = args.job_id {
        request = request.job_id(job_id);
    }
    if active_only {
        request = request.active_only(true);
    }
    if completed_only {
        request = request.completed_only(true);
    }
    if let Some(kind) = args.run_type {
        request = request.run_type(types::RunType(kind.as_str().to_string()));
    }
    if let Some(token) = non_empty(args.page_token) {
        request = request.page_token(token);
    }
    let page = request.send().await?.into_inner();
    let next_page_token = page.next_page_token.filter(|t| !t.is_empty());

    let mut rows = Vec::new();
    let mut runs = Vec::new();
    for run in &page.runs {
        let facts = run_facts!(run);
        let (life, result, _) = facts.states();
        let duration = facts.duration_ms();
        rows.push(vec![
            run.run_id.map(|id| id.to_string()).unwrap_or_default(),
            run.job_id.map(|id| id.to_string()).unwrap_or_default(),
            run.run_name.clone().unwrap_or_default(),
            state_label(&life, result.as_deref()),
            iso_utc(run.start_time),
            match duration {
                Some(d) => human_duration(d),
                None if !is_terminal(&life) => "in progress".into(),
                None => String::new(),
            },
        ]);
        runs.push(run_summary(
            &facts,
            run.job_id,
            run.run_name.as_deref(),
            run.run_type.as_ref().map(|t| t.to_string()),
        ));
    }
    let mut text = if runs.is_empty() {
        "No runs match on this page.\n".to_string()
    } else {
        format!(
            "{} run{}, newest first:\n\n{}",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" },
            util::markdown_table(&["run_id", "job_id", "run_name", "state", "started", "duration"], &rows)
        )
    };
    if let Some(token) = &next_page_token {
        text.push_str(&format!("\nMore runs remain: call list_runs again with page_token={token:?} (same filters).\n"));
    }
    let structured = json!({
        "runs": runs,
        "count": runs.len(),
        "next_page_token": next_page_token,
        "has_more": next_page_token.is_some(),
    });
    Ok(ToolOutput::with_structured(text, structured))
}

/// Arguments of `get_run`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetRunArgs {
    /// Id of a job run, one-time run or task run.
    pub run_id: i64,
}

/// Get one run in full: state and status with messages, timings, trigger, the
/// parameters it ran with, its job clusters, and every task run (task_key, its own
/// run_id, state). Runs with more than 100 tasks are assembled from all pages. It
/// does not include results: read a task's output with get_run_output using the
/// task's run_id; follow an active run with wait_for_run_completion.
#[tool(toolset = "jobs", read_only, operation = "jobs_get_run")]
pub async fn get_run(ctx: ToolContext, args: GetRunArgs) -> ToolResult {
    let run = ctx.client.jobs_get_run_all(args.run_id).await?;
    Ok(ToolOutput::json(run))
}

/// Arguments of `get_run_output`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetRunOutputArgs {
    /// Id of a task run (tasks[].run_id in get_run), or of a run that has a single task.
    pub run_id: i64,
    /// Character offset in the output text to start from (default 0). Use next_offset from a previous call.
    #[serde(default)]
    pub offset: Option<u64>,
    /// The most characters to return (default 20000, at most 200000).
    #[serde(default)]
    pub length: Option<u64>,
}

/// Read what a task run produced: the notebook's exit value (notebook_output.result),
/// SQL and other task outputs, the error and its trace if it failed, and logs.
/// Returns characters [offset, offset+length) of that text (default 20000, at most
/// 200000) with total_chars and next_offset when more remains. Output belongs to
/// single task runs: for a run with several tasks it lists the task run ids to ask
/// for instead (as get_run shows them); a run with one task is resolved to its task.
#[tool(toolset = "jobs", read_only, operations = ["jobs_get_run", "jobs_get_run_output"])]
pub async fn get_run_output(ctx: ToolContext, args: GetRunOutputArgs) -> ToolResult {
    let run_id = args.run_id;
    let offset = usize::try_from(args.offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let length = match args.length {
        None => DEFAULT_OUTPUT_CHARS,
        Some(0) => return Err(ToolError::InvalidArguments("invalid argument `length`: must be at least 1".into())),
        Some(n) => usize::try_from(n).unwrap_or(MAX_OUTPUT_CHARS).min(MAX_OUTPUT_CHARS),
    };
    let run = ctx.client.jobs_get_run_all(run_id).await?;
    let is_task_run = run.tasks.iter().any(|t| t.run_id == Some(run_id));
    let (target, task_key, note) = match run.tasks.as_slice() {
        _ if is_task_run => {
            let key = run.tasks.iter().find(|t| t.run_id == Some(run_id)).map(|t| t.task_key.clone());
            (run_id, key, String::new())
        }
        [] => (run_id, None, String::new()),
        [only] => {
            let Some(task_run_id) = only.run_id else {
                return Err(ToolError::failed(format!(
                    "Run {run_id} has one task ({}) but Databricks did not report its task run id; look it up with get_run.",
                    only.task_key
                )));
            };
            (
                task_run_id,
                Some(only.task_key.clone()),
                format!(
                    "Run {run_id} has a single task, {}; this is the output of its task run {task_run_id}. ",
                    only.task_key
                ),
            )
        }
        many => {
            return Err(ToolError::failed(format!(
                "Run {run_id} has {} tasks, and output belongs to each task run, not to the run as a whole. Call \
                 get_run_output with the run_id of a task run:\n\n{}",
                many.len(),
                task_runs_table(many)
            )));
        }
    };
    let out = ctx.client.jobs_get_run_output().run_id(target).send().await?.into_inner();
    let (life, result, message) = match &out.metadata {
        Some(meta) => run_states(meta.state.as_ref(), meta.status.as_ref()),
        None => {
            let task = run.tasks.iter().find(|t| t.run_id == Some(target));
            match task {
                Some(t) => run_states(t.state.as_ref(), t.status.as_ref()),
                None => run_states(run.state.as_ref(), run.status.as_ref()),
            }
        }
    };
    let content = render_output(&out);
    let (chunk, start, end, total) = page_text(&content, offset, length);
    let next_offset = (end < total).then_some(end);
    let label = match &task_key {
        Some(key) => format!("task run {target} (task {key})"),
        None => format!("run {target}"),
    };
    let mut header = format!("{note}Output of {label}, state {}", state_label(&life, result.as_deref()));
    if !message.is_empty() {
        header.push_str(&format!(" ({})", shorten(&message, 500)));
    }
    header.push('.');
    if total == 0 {
        if is_terminal(&life) {
            header.push_str(" It produced no output.");
        } else {
            header.push_str(" It has not finished, so there is no output yet: follow it with wait_for_run_completion.");
        }
    } else if offset > total {
        header.push_str(&format!(" The output has {total} characters; offset {offset} is past the end."));
    } else if start > 0 || next_offset.is_some() {
        header.push_str(&format!(" Characters {start}..{end} of {total}."));
    }
    if let Some(next) = next_offset {
        header.push_str(&format!(" More remains: call get_run_output again with run_id={target} offset={next}."));
    }
    let structured = json!({
        "run_id": target,
        "requested_run_id": run_id,
        "task_key": task_key,
        "life_cycle_state": life,
        "result_state": result,
        "offset": start,
        "returned_chars": end - start,
        "total_chars": total,
        "next_offset": next_offset,
        "complete": next_offset.is_none(),
        "content": chunk,
    });
    let body = structured["content"].as_str().unwrap_or_default();
    let text = if body.is_empty() { header } else { format!("{header}\n\n{body}") };
    Ok(ToolOutput::with_structured(text, structured))
}

/// Arguments of `cancel_run`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRunArgs {
    /// Id of the run to cancel (a job run, one-time run or task run).
    pub run_id: i64,
    /// Set to true to confirm cancelling the run.
    #[serde(default)]
    pub confirm: bool,
    /// Wait until the run has stopped (life-cycle state TERMINATED). Default false: cancellation is asynchronous.
    #[serde(default)]
    pub wait: Option<bool>,
    /// With wait: the most seconds to wait (default 300, at most 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Cancel a run that is in progress: the run and all its task runs stop and it ends
/// TERMINATED with result CANCELED. Needs confirm=true (or the user's confirmation).
/// A run that already finished is left alone and reported as such. Cancellation is
/// asynchronous; with wait=true it waits until the run has stopped (timeout_seconds,
/// default 300). Check the outcome with get_run.
#[tool(
    toolset = "jobs",
    read_only = false,
    destructive,
    idempotent,
    operations = ["jobs_get_run", "jobs_cancel_run"]
)]
pub async fn cancel_run(ctx: ToolContext, args: CancelRunArgs) -> ToolResult {
    let run_id = args.run_id;
    let run = ctx.client.jobs_get_run().run_id(run_id).send().await?.into_inner();
    let (life, result, _) = run_states(run.state.as_ref(), run.status.as_ref());
    let name = run.run_name.clone().unwrap_or_default();
    if is_terminal(&life) {
        let state = state_label(&life, result.as_deref());
        return Ok(ToolOutput::with_structured(
            format!("Run {run_id} ({name}) has already finished ({state}); nothing was cancelled."),
            json!({"run_id": run_id, "cancelled": false, "life_cycle_state": life, "result_state": result}),
        ));
    }
    ctx.confirm(
        args.confirm,
        &format!("Cancel run {run_id} ({name}, now {life}); it and all its task runs stop and end as CANCELED"),
    )
    .await?;
    ctx.client.jobs_cancel_run().body(types::JobsCancelRunBody { run_id }).send().await?;
    if !args.wait.unwrap_or(false) {
        return Ok(ToolOutput::with_structured(
            format!(
                "Asked Databricks to cancel run {run_id} ({name}). Cancellation is asynchronous: check with get_run \
                 or wait_for_run_completion until it is TERMINATED."
            ),
            json!({"run_id": run_id, "cancel_requested": true, "finished": false}),
        ));
    }
    let timeout = util::wait_timeout(args.timeout_seconds);
    match wait::run_terminated(&ctx.client, run_id, &ctx.wait_options(timeout)).await {
        Ok(done) => {
            let (life, result, message) = run_states(done.state.as_ref(), done.status.as_ref());
            let mut text = format!("Cancelled run {run_id} ({name}): now {}.", state_label(&life, result.as_deref()));
            if !message.is_empty() {
                text.push_str(&format!(" {message}"));
            }
            Ok(ToolOutput::with_structured(
                text,
                json!({"run_id": run_id, "cancel_requested": true, "finished": true, "life_cycle_state": life, "result_state": result}),
            ))
        }
        Err(WaitError::TimedOut { state, elapsed, .. }) => Ok(ToolOutput::with_structured(
            format!(
                "Asked Databricks to cancel run {run_id}; after {}s it is still {state}. It is stopping; check with \
                 get_run or wait_for_run_completion (run_id={run_id}).",
                elapsed.as_secs()
            ),
            json!({"run_id": run_id, "cancel_requested": true, "finished": false, "timed_out": true, "last_state": state}),
        )),
        Err(WaitError::Cancelled { state, .. }) => Err(ToolError::failed(format!(
            "Cancellation of run {run_id} was requested; stopped waiting for it (last state {state}) because the \
             request was cancelled."
        ))),
        Err(WaitError::Failed { state, message, .. }) => Ok(ToolOutput::with_structured(
            format!(
                "Asked Databricks to cancel run {run_id}; it ended in state {state}{}.",
                message.map(|m| format!(": {m}")).unwrap_or_default()
            ),
            json!({"run_id": run_id, "cancel_requested": true, "finished": true, "life_cycle_state": state}),
        )),
        Err(other) => Err(other.into()),
    }
}

/// Arguments of `wait_for_run_completion`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitForRunCompletionArgs {
    /// Id of the run to follow (a job run, one-time run or task run).
    pub run_id: i64,
    /// The most seconds to wait (default 300, at most 3600). The run keeps going after that.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Wait for a run to finish, reporting its state as progress, and return its final
/// state, its task runs and, for a single-task run, the task's output. A run that
/// does not succeed comes back as an error result with its message and error output.
/// If timeout_seconds (default 300, at most 3600) runs out first, it returns the run
/// id and last state: the run is still going, so call this tool again. Cancelling the
/// request stops the wait only; the run is not cancelled (use cancel_run for that).
#[tool(toolset = "jobs", read_only, operations = ["jobs_get_run", "jobs_get_run_output"])]
pub async fn wait_for_run_completion(ctx: ToolContext, args: WaitForRunCompletionArgs) -> ToolResult {
    follow_run(&ctx, args.run_id, args.timeout_seconds, "", false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(Some(0)), "");
        assert_eq!(iso_utc(Some(1)), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(Some(951_782_400_000)), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(Some(1_735_689_599_000)), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(850), "850ms");
        assert_eq!(human_duration(42_000), "42s");
        assert_eq!(human_duration(185_000), "3m 05s");
        assert_eq!(human_duration(7_620_000), "2h 07m");
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = decode::<types::JobsCreateBody>(
            "settings",
            json!({"name": "x", "tasks": [{"task_key": "a", "notebok_task": {"notebook_path": "/x"}}]}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`settings.tasks[0].notebok_task`"), "{err}");
        let err = decode::<types::JobsCreateBody>("settings", json!({"max_concurrent_runs": "two"})).unwrap_err();
        assert!(err.to_string().contains("`settings.max_concurrent_runs`"), "{err}");
        let ok = decode::<types::JobsCreateBody>("settings", json!({"name": "x", "tags": {}}));
        assert!(ok.is_ok());
    }
}
