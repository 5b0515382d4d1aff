//! Tools of the `command_execution` toolset: execution contexts on a running cluster
//! and the commands (Python, Scala, SQL, R) run in them, through the 1.2 API.

use std::time::{Duration, Instant};

use databricks_client::wait;
use databricks_client::{Client, ErrorKind, types};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::output::describe_databricks_error;
use crate::tools::compute::{Cleanup, Waited, waited};
use crate::tools::util;
use crate::{ToolContext, ToolError, ToolOutput, ToolResult, tool};

/// Rows of a table result shown when `max_rows` is not given, and the ceiling.
const DEFAULT_ROWS: u32 = 100;
const MAX_ROWS: u32 = 1000;
/// Characters of text output returned; longer output is cut with a note.
const MAX_TEXT_CHARS: usize = 20_000;
/// Characters of one table cell.
const MAX_CELL_CHARS: usize = 300;
/// Characters of an error's cause (often a stack trace).
const MAX_CAUSE_CHARS: usize = 4_000;

/// The language of a context and its commands.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Python,
    Scala,
    Sql,
    R,
}

impl Language {
    fn id(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Scala => "scala",
            Language::Sql => "sql",
            Language::R => "r",
        }
    }

    fn api(self) -> types::Language {
        types::Language(self.id().to_string())
    }
}

// ---------------------------------------------------------------------------
// Argument types.

/// Arguments of `create_execution_context`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContextArgs {
    /// The RUNNING cluster to run on. Defaults to the server's configured cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Language of the context: python (default), scala, sql or r.
    #[serde(default)]
    pub language: Language,
    /// Seconds to wait for the context to be ready (default 300, max 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Arguments naming one execution context.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextArgs {
    /// The cluster that hosts the context. Defaults to the server's configured cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The context's id, from create_execution_context.
    pub context_id: String,
}

/// Arguments of `destroy_execution_context`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DestroyContextArgs {
    /// The cluster that hosts the context. Defaults to the server's configured cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The context's id, from create_execution_context.
    pub context_id: String,
    /// Set to true to confirm destroying the context and the state (variables, imports) held in it.
    #[serde(default)]
    pub confirm: bool,
}

/// Arguments of `execute_command`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteCommandArgs {
    /// The cluster that hosts the context. Defaults to the server's configured cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The context to run in, from create_execution_context; it must be Running.
    pub context_id: String,
    /// Language of the command, normally the context's: python (default), scala, sql or r.
    #[serde(default)]
    pub language: Language,
    /// The code to run.
    pub command: String,
    /// Wait for the command to finish and return its output. Default true; false returns
    /// the command_id at once for get_command_status.
    #[serde(default)]
    pub wait: Option<bool>,
    /// With `wait`: seconds to wait at most (default 300, max 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Most rows of a table result to show (default 100, max 1000).
    #[serde(default)]
    pub max_rows: Option<u32>,
}

/// Arguments naming one command.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandArgs {
    /// The cluster that hosts the context. Defaults to the server's configured cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The context the command runs in.
    pub context_id: String,
    /// The command's id, from execute_command.
    pub command_id: String,
    /// Most rows of a table result to show (default 100, max 1000).
    #[serde(default)]
    pub max_rows: Option<u32>,
}

/// Arguments of `cancel_command`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelCommandArgs {
    /// The cluster that hosts the context. Defaults to the server's configured cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The context the command runs in.
    pub context_id: String,
    /// The command's id, from execute_command.
    pub command_id: String,
    /// Set to true to confirm cancelling the command; its work so far may be partly applied.
    #[serde(default)]
    pub confirm: bool,
}

/// Arguments of `execute_command_simple`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteSimpleArgs {
    /// The RUNNING cluster to run on. Defaults to the server's configured cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Language of the code: python (default), scala, sql or r.
    #[serde(default)]
    pub language: Language,
    /// The code to run.
    pub command: String,
    /// Seconds for the whole call, context start included (default 300, max 3600).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Most rows of a table result to show (default 100, max 1000).
    #[serde(default)]
    pub max_rows: Option<u32>,
}

// ---------------------------------------------------------------------------
// Helpers.

/// The cluster to use: the argument, else the configured default.
fn cluster_for(ctx: &ToolContext, given: Option<String>) -> Result<String, ToolError> {
    given
        .filter(|c| !c.trim().is_empty())
        .or_else(|| ctx.settings.default_cluster_id.clone())
        .or_else(|| ctx.client.default_cluster_id().map(str::to_string))
        .ok_or_else(|| {
            ToolError::InvalidArguments(
                "argument `cluster_id` is required: no default cluster is configured (DATABRICKS_CLUSTER_ID); \
                 find one with list_clusters"
                    .into(),
            )
        })
}

/// A cluster that is not running gets a hint on how to fix it.
fn with_cluster_hint(e: databricks_client::Error, cluster_id: &str) -> ToolError {
    if e.kind() == Some(ErrorKind::InvalidState) {
        ToolError::failed(format!(
            "{} Execution contexts need a RUNNING cluster: check it with get_cluster and start it with start_cluster \
             (wait: true) if {cluster_id} is terminated.",
            describe_databricks_error(&e)
        ))
    } else {
        e.into()
    }
}

fn call_error(e: databricks_client::CallError) -> databricks_client::Error {
    databricks_client::Error::from(e)
}

/// Clean-up of what a tool started: cancel `command_id` (when given) and destroy the
/// context (when `destroy`). Yields a note when a step failed.
fn exec_cleanup(
    client: &Client,
    cluster_id: &str,
    context_id: &str,
    command_id: Option<&str>,
    destroy: bool,
) -> Cleanup {
    let client = client.clone();
    let cluster_id = cluster_id.to_string();
    let context_id = context_id.to_string();
    let command_id = command_id.map(str::to_string);
    Cleanup::new(async move {
        let mut problems = Vec::new();
        if let Some(command_id) = &command_id {
            let body = types::CommandExecutionCancelCommandBody {
                cluster_id: cluster_id.clone(),
                command_id: command_id.clone(),
                context_id: context_id.clone(),
            };
            if let Err(e) = client.command_execution_cancel_command().body(body).send().await {
                let e = call_error(e);
                if !e.is_not_found() {
                    problems.push(format!("could not cancel command {command_id}: {}", describe_databricks_error(&e)));
                }
            }
        }
        if destroy {
            let body = types::CommandExecutionDestroyContextBody {
                cluster_id: cluster_id.clone(),
                context_id: context_id.clone(),
            };
            if let Err(e) = client.command_execution_destroy_context().body(body).send().await {
                let e = call_error(e);
                if !e.is_not_found() {
                    problems.push(format!(
                        "could not destroy execution context {context_id}: {}",
                        describe_databricks_error(&e)
                    ));
                }
            }
        }
        if problems.is_empty() { None } else { Some(problems.join("; ")) }
    })
}

/// Add a clean-up note to a result.
fn with_note(result: ToolResult, note: Option<String>) -> ToolResult {
    let Some(note) = note else { return result };
    let note = format!("\n\nNote: {note}.");
    match result {
        Ok(mut output) => {
            output.text.push_str(&note);
            Ok(output)
        }
        Err(ToolError::Databricks(e)) => Err(ToolError::failed(format!("{}{note}", describe_databricks_error(&e)))),
        Err(ToolError::Failed(message)) => Err(ToolError::failed(format!("{message}{note}"))),
        Err(other) => Err(other),
    }
}

/// Cut text to `max` characters, saying so.
fn clip(text: &str, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (format!("{}…", &text[..at]), true),
        None => (text.to_string(), false),
    }
}

/// Error summaries often carry HTML (ANSI colour spans); keep the words.
fn strip_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

fn row_budget(max_rows: Option<u32>) -> usize {
    usize::try_from(max_rows.unwrap_or(DEFAULT_ROWS).clamp(1, MAX_ROWS)).unwrap_or(100)
}

/// Turn a command's status into the tool's answer: output for a finished command,
/// an error result for a failed or cancelled one, a poll hint otherwise.
fn render(
    cluster_id: &str,
    context_id: &str,
    command_id: &str,
    status: &types::CommandStatusResponse,
    max_rows: Option<u32>,
) -> ToolResult {
    let state = status.status.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "UNKNOWN".into());
    let ids = json!({"cluster_id": cluster_id, "context_id": context_id, "command_id": command_id, "status": state});
    match state.as_str() {
        "Queued" | "Running" | "Cancelling" => {
            return Ok(ToolOutput::with_structured(
                format!("Command {command_id} is {state}. Poll get_command_status for its output."),
                ids,
            ));
        }
        "Cancelled" => return Err(ToolError::failed(format!("Command {command_id} was cancelled; it has no output."))),
        _ => {}
    }
    let Some(results) = &status.results else {
        if state == "Error" {
            return Err(ToolError::failed(format!("Command {command_id} failed without an error message.")));
        }
        return Ok(ToolOutput::with_structured(
            format!("Command {command_id} finished ({state}) with no output."),
            ids,
        ));
    };
    let kind = results.result_type.as_ref().map(|k| k.to_string()).unwrap_or_default();
    if kind == "error" || state == "Error" {
        let summary = results.summary.as_deref().map(strip_html).filter(|s| !s.trim().is_empty());
        let cause = results.cause.as_deref().map(strip_html).filter(|s| !s.trim().is_empty());
        let mut message = format!("Command {command_id} failed");
        match (&summary, &cause) {
            (Some(summary), _) => message.push_str(&format!(": {}", summary.trim())),
            (None, Some(_)) => message.push('.'),
            (None, None) => message.push_str(" without an error message."),
        }
        // The cause often repeats the summary; show it only when it adds something.
        if let Some(cause) = cause.filter(|c| !summary.as_deref().is_some_and(|s| s.contains(c.trim()))) {
            let (cause, cut) = clip(cause.trim(), MAX_CAUSE_CHARS);
            message.push_str(&format!("\n\n{cause}"));
            if cut {
                message.push_str("\n(cause cut short)");
            }
        }
        return Err(ToolError::failed(message));
    }
    let truncated = results.truncated == Some(true);
    let mut meta = ids;
    meta["result_type"] = json!(kind);
    match kind.as_str() {
        "table" => {
            let columns: Vec<String> = results
                .schema
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    c.get("name").map(util::cell).filter(|n| !n.is_empty()).unwrap_or_else(|| format!("col{i}"))
                })
                .collect();
            let rows: Vec<Value> = match &results.data {
                Some(Value::Array(rows)) => rows.clone(),
                _ => Vec::new(),
            };
            let budget = row_budget(max_rows);
            let shown: Vec<Vec<String>> = rows
                .iter()
                .take(budget)
                .map(|row| match row {
                    Value::Array(cells) => cells.iter().map(|c| clip(&util::cell(c), MAX_CELL_CHARS).0).collect(),
                    other => vec![clip(&util::cell(other), MAX_CELL_CHARS).0],
                })
                .collect();
            let headers: Vec<&str> = columns.iter().map(String::as_str).collect();
            let mut text = util::markdown_table(&headers, &shown);
            text.push_str(&format!("\n{} of {} rows shown", shown.len(), rows.len()));
            if rows.len() > shown.len() {
                text.push_str(&format!(" (raise max_rows, up to {MAX_ROWS}, or add a LIMIT/filter to see others)"));
            }
            text.push('.');
            if truncated {
                text.push_str(" Databricks truncated the result: the command produced more rows than it returns.");
            }
            meta["columns"] = json!(columns);
            meta["row_count"] = json!(rows.len());
            meta["rows_shown"] = json!(shown.len());
            meta["rows"] = json!(rows.iter().take(budget).collect::<Vec<_>>());
            meta["truncated"] = json!(truncated || rows.len() > shown.len());
            Ok(ToolOutput::with_structured(text, meta))
        }
        "image" | "images" => {
            let mut files: Vec<String> = results.file_names.clone();
            if let Some(name) = &results.file_name {
                files.insert(0, name.clone());
            }
            meta["files"] = json!(files);
            Ok(ToolOutput::with_structured(
                format!("Command {command_id} produced images, which cannot be shown here: {}", files.join(", ")),
                meta,
            ))
        }
        _ => {
            let data = match &results.data {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            let (mut text, cut) = clip(&data, MAX_TEXT_CHARS);
            if text.is_empty() {
                text = format!("Command {command_id} finished with no output.");
            }
            if cut {
                text.push_str(&format!("\n\n(output cut at {MAX_TEXT_CHARS} characters)"));
            } else if truncated {
                text.push_str("\n\n(Databricks truncated this output)");
            }
            meta["truncated"] = json!(truncated || cut);
            Ok(ToolOutput::with_structured(text, meta))
        }
    }
}

async fn create_context(client: &Client, cluster_id: &str, language: Language) -> Result<String, ToolError> {
    let body =
        types::CommandExecutionCreateContextBody { cluster_id: cluster_id.to_string(), language: language.api() };
    let created = client
        .command_execution_create_context()
        .body(body)
        .send()
        .await
        .map_err(|e| with_cluster_hint(call_error(e), cluster_id))?
        .into_inner();
    created
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ToolError::failed("Databricks created an execution context but returned no id."))
}

async fn execute(
    client: &Client,
    cluster_id: &str,
    context_id: &str,
    language: Language,
    command: &str,
) -> Result<String, ToolError> {
    let body = types::CommandExecutionExecuteCommandBody {
        cluster_id: cluster_id.to_string(),
        command: command.to_string(),
        context_id: context_id.to_string(),
        language: language.api(),
    };
    let created = client
        .command_execution_execute_command()
        .body(body)
        .send()
        .await
        .map_err(|e| with_cluster_hint(call_error(e), cluster_id))?
        .into_inner();
    created
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ToolError::failed("Databricks accepted the command but returned no id."))
}

// ---------------------------------------------------------------------------
// Tools.

/// Create an execution context (an interpreter session, like a detached notebook) on a
/// RUNNING cluster and wait until it is ready. Returns its context_id for
/// execute_command; variables and imports persist between commands in it. Contexts use
/// driver resources: call destroy_execution_context when done. For a one-off snippet,
/// execute_command_simple does all of this in one call.
#[tool(
    toolset = "command_execution",
    read_only = false,
    operations = ["command_execution_create_context", "command_execution_get_context_status", "command_execution_destroy_context"]
)]
pub async fn create_execution_context(ctx: ToolContext, args: CreateContextArgs) -> ToolResult {
    let cluster_id = cluster_for(&ctx, args.cluster_id)?;
    let language = args.language;
    let context_id = create_context(&ctx.client, &cluster_id, language).await?;
    // Until the agent has the id, the context is ours to free if the call is cancelled.
    let mut cleanup = exec_cleanup(&ctx.client, &cluster_id, &context_id, None, true);
    let options = ctx.wait_options(util::wait_timeout(args.timeout_seconds));
    let outcome = waited(wait::context_running(&ctx.client, &cluster_id, &context_id, &options).await);
    let info = json!({"cluster_id": cluster_id, "context_id": context_id, "language": language.id()});
    match outcome {
        Ok(Waited::Done(_)) => {
            cleanup.disarm();
            let mut info = info;
            info["status"] = json!("Running");
            Ok(ToolOutput::with_structured(
                format!(
                    "Execution context {context_id} ({}) is Running on cluster {cluster_id}. Run code with execute_command; \
                     destroy it with destroy_execution_context when done.",
                    language.id()
                ),
                info,
            ))
        }
        Ok(Waited::TimedOut { state, elapsed }) => {
            cleanup.disarm();
            let mut info = info;
            info["status"] = json!(state);
            Ok(ToolOutput::with_structured(
                format!(
                    "Execution context {context_id} was created on cluster {cluster_id} but is still {state} after {}s. \
                     Poll get_context_status until it is Running; do not create another.",
                    elapsed.as_secs()
                ),
                info,
            ))
        }
        Ok(Waited::Cancelled { .. }) => {
            let note = cleanup.run().await;
            with_note(Err(ToolError::failed(format!("Cancelled; execution context {context_id} was destroyed."))), note)
        }
        Err(e) => {
            let note = cleanup.run().await;
            with_note(Err(e), note)
        }
    }
}

/// Get an execution context's status: Pending (starting), Running (ready for
/// execute_command) or Error (failed, or lost because its cluster restarted or stopped;
/// create a new one).
#[tool(toolset = "command_execution", read_only, operation = "command_execution_get_context_status")]
pub async fn get_context_status(ctx: ToolContext, args: ContextArgs) -> ToolResult {
    let cluster_id = cluster_for(&ctx, args.cluster_id)?;
    let status = ctx
        .client
        .command_execution_get_context_status()
        .cluster_id(cluster_id.clone())
        .context_id(args.context_id.clone())
        .send()
        .await?
        .into_inner();
    let state = status.status.map(|s| s.to_string()).unwrap_or_else(|| "UNKNOWN".into());
    let hint = match state.as_str() {
        "Running" => "ready for execute_command",
        "Pending" => "still starting; poll again shortly",
        "Error" => "unusable; create a new one with create_execution_context",
        _ => "unknown state",
    };
    Ok(ToolOutput::with_structured(
        format!("Execution context {} on cluster {cluster_id} is {state}: {hint}.", args.context_id),
        json!({"cluster_id": cluster_id, "context_id": args.context_id, "status": state}),
    ))
}

/// Run code in an execution context and, by default, wait for its output: table
/// results as a Markdown table (up to `max_rows`), text as text, and a failed command
/// as an error result with its summary and cause. If the wait runs out, the command
/// keeps running: poll get_command_status with the returned command_id (do not rerun
/// it). Set `wait` false to get the command_id at once. If the call is cancelled, the
/// command is cancelled too.
#[tool(
    toolset = "command_execution",
    read_only = false,
    operations = ["command_execution_execute_command", "command_execution_get_command_status", "command_execution_cancel_command"]
)]
pub async fn execute_command(ctx: ToolContext, args: ExecuteCommandArgs) -> ToolResult {
    let cluster_id = cluster_for(&ctx, args.cluster_id)?;
    let language = args.language;
    let command_id = execute(&ctx.client, &cluster_id, &args.context_id, language, &args.command).await?;
    let ids = json!({"cluster_id": cluster_id, "context_id": args.context_id, "command_id": command_id});
    if args.wait == Some(false) {
        return Ok(ToolOutput::with_structured(
            format!("Command {command_id} submitted. Poll get_command_status for its status and output."),
            ids,
        ));
    }
    let mut cleanup = exec_cleanup(&ctx.client, &cluster_id, &args.context_id, Some(&command_id), false);
    let options = ctx.wait_options(util::wait_timeout(args.timeout_seconds));
    let outcome =
        waited(wait::command_finished(&ctx.client, &cluster_id, &args.context_id, &command_id, &options).await);
    match outcome {
        Ok(Waited::Done(status)) => {
            cleanup.disarm();
            render(&cluster_id, &args.context_id, &command_id, &status, args.max_rows)
        }
        Ok(Waited::TimedOut { state, elapsed }) => {
            cleanup.disarm();
            let mut info = ids;
            info["status"] = json!(state);
            info["timed_out"] = json!(true);
            Ok(ToolOutput::with_structured(
                format!(
                    "Command {command_id} is still {state} after {}s and keeps running. Poll get_command_status \
                     (cluster_id {cluster_id}, context_id {}, command_id {command_id}) for its output; do not run it \
                     again. cancel_command stops it.",
                    elapsed.as_secs(),
                    args.context_id
                ),
                info,
            ))
        }
        Ok(Waited::Cancelled { .. }) => {
            let note = cleanup.run().await;
            with_note(Err(ToolError::failed(format!("Cancelled; command {command_id} was cancelled too."))), note)
        }
        Err(e) => {
            cleanup.disarm();
            Err(e)
        }
    }
}

/// Get a command's status and, once it has finished, its output, rendered as
/// execute_command does (table, text, or an error result for a failed command).
/// Queued or Running means poll again shortly.
#[tool(toolset = "command_execution", read_only, operation = "command_execution_get_command_status")]
pub async fn get_command_status(ctx: ToolContext, args: CommandArgs) -> ToolResult {
    let cluster_id = cluster_for(&ctx, args.cluster_id)?;
    let status = ctx
        .client
        .command_execution_get_command_status()
        .cluster_id(cluster_id.clone())
        .context_id(args.context_id.clone())
        .command_id(args.command_id.clone())
        .send()
        .await?
        .into_inner();
    render(&cluster_id, &args.context_id, &args.command_id, &status, args.max_rows)
}

/// Cancel a queued or running command. Destructive: the command stops part-way and its
/// effects so far may remain. Needs confirm: true. The context stays usable. Reports the
/// command's status after the request; a command that had already finished is unchanged.
#[tool(
    toolset = "command_execution",
    read_only = false,
    destructive,
    idempotent,
    operations = ["command_execution_cancel_command", "command_execution_get_command_status"]
)]
pub async fn cancel_command(ctx: ToolContext, args: CancelCommandArgs) -> ToolResult {
    let cluster_id = cluster_for(&ctx, args.cluster_id)?;
    ctx.confirm(
        args.confirm,
        &format!("Cancel command {} in execution context {} on cluster {cluster_id}", args.command_id, args.context_id),
    )
    .await?;
    let body = types::CommandExecutionCancelCommandBody {
        cluster_id: cluster_id.clone(),
        command_id: args.command_id.clone(),
        context_id: args.context_id.clone(),
    };
    ctx.client.command_execution_cancel_command().body(body).send().await?;
    let status = ctx
        .client
        .command_execution_get_command_status()
        .cluster_id(cluster_id.clone())
        .context_id(args.context_id.clone())
        .command_id(args.command_id.clone())
        .send()
        .await?
        .into_inner();
    let state = status.status.map(|s| s.to_string()).unwrap_or_else(|| "UNKNOWN".into());
    let text = match state.as_str() {
        "Cancelled" => format!("Command {} is cancelled.", args.command_id),
        "Cancelling" | "Running" | "Queued" => {
            format!("Cancel requested; command {} is {state}. Poll get_command_status to see it end.", args.command_id)
        }
        other => format!("Command {} had already ended ({other}); nothing was cancelled.", args.command_id),
    };
    Ok(ToolOutput::with_structured(
        text,
        json!({"cluster_id": cluster_id, "context_id": args.context_id, "command_id": args.command_id, "status": state}),
    ))
}

/// Destroy an execution context, freeing its driver resources. Destructive: variables,
/// imports and temporary views held in it are lost and any command still running in it
/// stops. Needs confirm: true. The cluster keeps running.
#[tool(toolset = "command_execution", read_only = false, destructive, operation = "command_execution_destroy_context")]
pub async fn destroy_execution_context(ctx: ToolContext, args: DestroyContextArgs) -> ToolResult {
    let cluster_id = cluster_for(&ctx, args.cluster_id)?;
    ctx.confirm(
        args.confirm,
        &format!(
            "Destroy execution context {} on cluster {cluster_id}: its state is lost and running commands stop",
            args.context_id
        ),
    )
    .await?;
    let body = types::CommandExecutionDestroyContextBody {
        cluster_id: cluster_id.clone(),
        context_id: args.context_id.clone(),
    };
    ctx.client.command_execution_destroy_context().body(body).send().await?;
    Ok(ToolOutput::with_structured(
        format!("Destroyed execution context {} on cluster {cluster_id}.", args.context_id),
        json!({"cluster_id": cluster_id, "context_id": args.context_id, "destroyed": true}),
    ))
}

/// Time left of a call's budget, at least one second.
fn remaining(started: Instant, budget: Duration) -> Duration {
    budget.saturating_sub(started.elapsed()).max(Duration::from_secs(1))
}

/// Run one snippet in a fresh execution context and return its output, in one call:
/// create a context on a RUNNING cluster, run the code, wait, render the result (table
/// as Markdown up to `max_rows`, text, or an error result with summary and cause), and
/// destroy the context. The context is always destroyed, also on failure, timeout or
/// cancellation (a running command is cancelled first), so no state carries over
/// between calls; use create_execution_context + execute_command to keep state.
/// `timeout_seconds` bounds the whole call.
#[tool(
    toolset = "command_execution",
    read_only = false,
    operations = [
        "command_execution_create_context",
        "command_execution_get_context_status",
        "command_execution_execute_command",
        "command_execution_get_command_status",
        "command_execution_cancel_command",
        "command_execution_destroy_context"
    ]
)]
pub async fn execute_command_simple(ctx: ToolContext, args: ExecuteSimpleArgs) -> ToolResult {
    let started = Instant::now();
    let budget = util::wait_timeout(args.timeout_seconds);
    let cluster_id = cluster_for(&ctx, args.cluster_id)?;
    let language = args.language;
    let context_id = create_context(&ctx.client, &cluster_id, language).await?;
    let cleanup = exec_cleanup(&ctx.client, &cluster_id, &context_id, None, true);

    let options = ctx.wait_options(remaining(started, budget));
    match waited(wait::context_running(&ctx.client, &cluster_id, &context_id, &options).await) {
        Ok(Waited::Done(_)) => {}
        Ok(Waited::TimedOut { state, elapsed }) => {
            let note = cleanup.run().await;
            let message = format!(
                "The execution context on cluster {cluster_id} was still {state} after {}s, so nothing was run and the \
                 context was destroyed. Call again with a larger timeout_seconds.",
                elapsed.as_secs()
            );
            return with_note(Err(ToolError::failed(message)), note);
        }
        Ok(Waited::Cancelled { .. }) => {
            let note = cleanup.run().await;
            return with_note(
                Err(ToolError::failed("Cancelled before the command ran; the context was destroyed.")),
                note,
            );
        }
        Err(e) => {
            let note = cleanup.run().await;
            return with_note(Err(e), note);
        }
    }

    let command_id = match execute(&ctx.client, &cluster_id, &context_id, language, &args.command).await {
        Ok(id) => id,
        Err(e) => {
            let note = cleanup.run().await;
            return with_note(Err(e), note);
        }
    };
    // From here on, an interruption must cancel the command before destroying the context.
    let mut cleanup = cleanup;
    cleanup.disarm();
    let cleanup = exec_cleanup(&ctx.client, &cluster_id, &context_id, Some(&command_id), true);

    let options = ctx.wait_options(remaining(started, budget));
    let outcome = waited(wait::command_finished(&ctx.client, &cluster_id, &context_id, &command_id, &options).await);
    match outcome {
        Ok(Waited::Done(status)) => {
            let mut cleanup = cleanup;
            cleanup.disarm();
            let destroy = exec_cleanup(&ctx.client, &cluster_id, &context_id, None, true);
            let result = render(&cluster_id, &context_id, &command_id, &status, args.max_rows).map(|mut output| {
                if let Some(structured) = output.structured.as_mut() {
                    structured["context_destroyed"] = json!(true);
                }
                output
            });
            let note = destroy.run().await;
            with_note(result, note)
        }
        Ok(Waited::TimedOut { state, .. }) => {
            let note = cleanup.run().await;
            let message = format!(
                "Command {command_id} was still {state} after {}s in total; it was cancelled and its context destroyed, \
                 so nothing is left running. Call again with a larger timeout_seconds, or use create_execution_context \
                 + execute_command to poll a long command.",
                started.elapsed().as_secs()
            );
            with_note(Err(ToolError::failed(message)), note)
        }
        Ok(Waited::Cancelled { .. }) => {
            let note = cleanup.run().await;
            with_note(
                Err(ToolError::failed(format!(
                    "Cancelled; command {command_id} was cancelled and its context destroyed."
                ))),
                note,
            )
        }
        Err(e) => {
            let mut cleanup = cleanup;
            cleanup.disarm();
            let note = exec_cleanup(&ctx.client, &cluster_id, &context_id, None, true).run().await;
            with_note(Err(e), note)
        }
    }
}
