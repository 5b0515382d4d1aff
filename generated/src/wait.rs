//! Waiters for Databricks' long-running operations.
//!
//! Each waiter polls the resource until it reaches a target state, fails when it
//! reaches a failure state, and gives up at its deadline or when its cancellation
//! token fires. Polls back off from one `poll_unit` to ten, with jitter. Running out
//! of time never means the operation failed: [`WaitError::TimedOut`] says it may
//! still be in progress, so callers poll again instead of starting it twice.

use std::future::Future;
use std::time::{Duration, Instant};

pub use tokio_util::sync::CancellationToken;

use crate::{Client, Error, types};

/// A callback told the state after each poll.
pub type PollObserver = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// How long and how often to poll.
#[derive(Clone)]
pub struct WaitOptions {
    /// The wall-clock deadline for the whole wait. Default 20 minutes.
    pub timeout: Duration,
    /// Cancels the wait (not the operation) when fired.
    pub cancel: CancellationToken,
    /// One backoff step between polls. Default 1 second.
    pub poll_unit: Duration,
    /// Called with the state after each poll, for progress reporting.
    pub on_poll: Option<PollObserver>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20 * 60),
            cancel: CancellationToken::new(),
            poll_unit: Duration::from_secs(1),
            on_poll: None,
        }
    }
}

impl WaitOptions {
    /// Options with the given deadline and defaults otherwise.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { timeout, ..Self::default() }
    }
}

impl std::fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitOptions")
            .field("timeout", &self.timeout)
            .field("poll_unit", &self.poll_unit)
            .field("cancelled", &self.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// Why a wait ended without reaching its target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The resource reached a state from which the target cannot be reached.
    #[error("{what} reached state {state}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Failed {
        /// What was waited for, e.g. `cluster 0123-abc to be RUNNING`.
        what: String,
        state: String,
        message: Option<String>,
    },
    /// The deadline passed first. The operation may still be running.
    #[error(
        "gave up after {}s waiting for {what}; last state {state}. The operation may still be in progress: poll it again rather than starting it a second time",
        elapsed.as_secs()
    )]
    TimedOut { what: String, state: String, elapsed: Duration },
    /// The cancellation token fired. Only the wait stopped, not the operation.
    #[error("stopped waiting for {what} (last state {state}) because the wait was cancelled")]
    Cancelled { what: String, state: String },
    /// Polling itself failed.
    #[error(transparent)]
    Api(#[from] Error),
}

/// What one poll found.
enum Verdict {
    Done,
    Failed(Option<String>),
    Pending,
}

async fn poll_until<T, F, Fut>(
    opts: &WaitOptions,
    what: String,
    mut fetch: F,
    judge: impl Fn(&T) -> (String, Verdict),
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let started = Instant::now();
    let mut state = String::from("UNKNOWN");
    let mut attempt: u32 = 0;
    loop {
        if opts.cancel.is_cancelled() {
            return Err(WaitError::Cancelled { what, state });
        }
        let value = tokio::select! {
            _ = opts.cancel.cancelled() => return Err(WaitError::Cancelled { what, state }),
            value = fetch() => value?,
        };
        let (now, verdict) = judge(&value);
        state = now;
        if let Some(report) = &opts.on_poll {
            report(&state);
        }
        match verdict {
            Verdict::Done => return Ok(value),
            Verdict::Failed(message) => return Err(WaitError::Failed { what, state, message }),
            Verdict::Pending => {}
        }
        attempt += 1;
        let elapsed = started.elapsed();
        if elapsed >= opts.timeout {
            return Err(WaitError::TimedOut { what, state, elapsed });
        }
        let pause = opts.poll_unit * attempt.min(10) + opts.poll_unit.mul_f64(rand::random::<f64>());
        let pause = pause.min(opts.timeout - elapsed);
        tokio::select! {
            _ = opts.cancel.cancelled() => return Err(WaitError::Cancelled { what, state }),
            _ = tokio::time::sleep(pause) => {}
        }
        if started.elapsed() >= opts.timeout {
            // One last look happens on the next loop turn only if time remains.
            return Err(WaitError::TimedOut { what, state, elapsed: started.elapsed() });
        }
    }
}

/// Done in a target state, failed (with a reason) in a failure state, pending otherwise.
fn classify(state: &str, targets: &[&str], failures: &[&str], reason: impl FnOnce() -> Option<String>) -> Verdict {
    if targets.contains(&state) {
        Verdict::Done
    } else if failures.contains(&state) {
        Verdict::Failed(reason())
    } else {
        Verdict::Pending
    }
}

fn text<S: std::ops::Deref<Target = String>>(s: &Option<S>) -> String {
    s.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "UNKNOWN".into())
}

fn cluster_reason(c: &types::ClusterDetails) -> Option<String> {
    let code = c.termination_reason.as_ref().and_then(|r| r.code.as_ref()).map(|c| c.to_string());
    match (c.state_message.clone().filter(|m| !m.is_empty()), code) {
        (Some(m), Some(code)) => Some(format!("{m} (termination code {code})")),
        (Some(m), None) => Some(m),
        (None, code) => code.map(|c| format!("termination code {c}")),
    }
}

/// Wait for a cluster to be `RUNNING`; `ERROR` or `TERMINATED` fail the wait.
pub async fn cluster_running(
    client: &Client,
    cluster_id: &str,
    opts: &WaitOptions,
) -> Result<types::ClusterDetails, WaitError> {
    cluster(client, cluster_id, opts, "RUNNING", &["ERROR", "TERMINATED"]).await
}

/// Wait for a cluster to be `TERMINATED`; `ERROR` fails the wait.
pub async fn cluster_terminated(
    client: &Client,
    cluster_id: &str,
    opts: &WaitOptions,
) -> Result<types::ClusterDetails, WaitError> {
    cluster(client, cluster_id, opts, "TERMINATED", &["ERROR"]).await
}

async fn cluster(
    client: &Client,
    cluster_id: &str,
    opts: &WaitOptions,
    target: &str,
    failures: &[&str],
) -> Result<types::ClusterDetails, WaitError> {
    poll_until(
        opts,
        format!("cluster {cluster_id} to be {target}"),
        || async { Ok(client.clusters_get().cluster_id(cluster_id).send().await?.into_inner()) },
        |c: &types::ClusterDetails| {
            let state = text(&c.state);
            let verdict = classify(&state, &[target], failures, || cluster_reason(c));
            (state, verdict)
        },
    )
    .await
}

/// Wait for a job run to finish: life-cycle state `TERMINATED` or `SKIPPED`.
/// `INTERNAL_ERROR` fails the wait. A finished run is returned whatever its
/// result state (`SUCCESS`, `FAILED`, …): inspect `state.result_state`.
pub async fn run_terminated(client: &Client, run_id: i64, opts: &WaitOptions) -> Result<types::Run, WaitError> {
    poll_until(
        opts,
        format!("run {run_id} to finish"),
        || async { Ok(client.jobs_get_run().run_id(run_id).send().await?.into_inner()) },
        |r: &types::Run| {
            let life = r.state.as_ref().and_then(|s| s.life_cycle_state.as_ref()).map(|s| s.to_string());
            let state = life.unwrap_or_else(|| text(&r.status.as_ref().and_then(|s| s.state.clone())));
            let message = r.state.as_ref().and_then(|s| s.state_message.clone()).filter(|m| !m.is_empty());
            let verdict = match state.as_str() {
                "TERMINATED" | "SKIPPED" => Verdict::Done,
                "INTERNAL_ERROR" => Verdict::Failed(message),
                _ => Verdict::Pending,
            };
            (state, verdict)
        },
    )
    .await
}

/// Wait for a SQL warehouse to be `RUNNING`; `STOPPED` or `DELETED` fail the wait.
pub async fn warehouse_running(
    client: &Client,
    id: &str,
    opts: &WaitOptions,
) -> Result<types::GetWarehouseResponse, WaitError> {
    warehouse(client, id, opts, "RUNNING", &["STOPPED", "DELETED"]).await
}

/// Wait for a SQL warehouse to be `STOPPED`; `DELETED` fails the wait.
pub async fn warehouse_stopped(
    client: &Client,
    id: &str,
    opts: &WaitOptions,
) -> Result<types::GetWarehouseResponse, WaitError> {
    warehouse(client, id, opts, "STOPPED", &["DELETED"]).await
}

async fn warehouse(
    client: &Client,
    id: &str,
    opts: &WaitOptions,
    target: &str,
    failures: &[&str],
) -> Result<types::GetWarehouseResponse, WaitError> {
    poll_until(
        opts,
        format!("warehouse {id} to be {target}"),
        || async { Ok(client.warehouses_get().id(id).send().await?.into_inner()) },
        |w: &types::GetWarehouseResponse| {
            let state = text(&w.state);
            let verdict = classify(&state, &[target], failures, || None);
            (state, verdict)
        },
    )
    .await
}

/// Wait for an execution context to be `Running`; `Error` fails the wait.
pub async fn context_running(
    client: &Client,
    cluster_id: &str,
    context_id: &str,
    opts: &WaitOptions,
) -> Result<types::ContextStatusResponse, WaitError> {
    poll_until(
        opts,
        format!("execution context {context_id} to be Running"),
        || async {
            Ok(client
                .command_execution_get_context_status()
                .cluster_id(cluster_id)
                .context_id(context_id)
                .send()
                .await?
                .into_inner())
        },
        |c: &types::ContextStatusResponse| {
            let state = text(&c.status);
            let verdict = match state.as_str() {
                "Running" => Verdict::Done,
                "Error" => Verdict::Failed(None),
                _ => Verdict::Pending,
            };
            (state, verdict)
        },
    )
    .await
}

/// Wait for a command to finish. `Finished` and `Error` both end the wait
/// successfully (an `Error` status carries the command's own failure in
/// `results`); `Cancelled` or `Cancelling` fail it.
pub async fn command_finished(
    client: &Client,
    cluster_id: &str,
    context_id: &str,
    command_id: &str,
    opts: &WaitOptions,
) -> Result<types::CommandStatusResponse, WaitError> {
    command(
        client,
        cluster_id,
        context_id,
        command_id,
        opts,
        &["Finished", "Error"],
        &["Cancelled", "Cancelling"],
        "to finish",
    )
    .await
}

/// Wait for a cancelled command to reach `Cancelled`; `Error` fails the wait.
pub async fn command_cancelled(
    client: &Client,
    cluster_id: &str,
    context_id: &str,
    command_id: &str,
    opts: &WaitOptions,
) -> Result<types::CommandStatusResponse, WaitError> {
    command(client, cluster_id, context_id, command_id, opts, &["Cancelled"], &["Error"], "to be Cancelled").await
}

#[allow(clippy::too_many_arguments)]
async fn command(
    client: &Client,
    cluster_id: &str,
    context_id: &str,
    command_id: &str,
    opts: &WaitOptions,
    targets: &[&str],
    failures: &[&str],
    goal: &str,
) -> Result<types::CommandStatusResponse, WaitError> {
    poll_until(
        opts,
        format!("command {command_id} {goal}"),
        || async {
            Ok(client
                .command_execution_get_command_status()
                .cluster_id(cluster_id)
                .context_id(context_id)
                .command_id(command_id)
                .send()
                .await?
                .into_inner())
        },
        |c: &types::CommandStatusResponse| {
            let state = text(&c.status);
            let verdict = classify(&state, targets, failures, || {
                c.results.as_ref().and_then(|r| r.summary.clone().or_else(|| r.cause.clone()))
            });
            (state, verdict)
        },
    )
    .await
}

/// Wait for a SQL statement to reach a terminal state. `SUCCEEDED` returns the
/// statement; `FAILED`, `CANCELED` and `CLOSED` fail the wait with the statement's
/// error message.
pub async fn statement_done(
    client: &Client,
    statement_id: &str,
    opts: &WaitOptions,
) -> Result<types::StatementResponse, WaitError> {
    poll_until(
        opts,
        format!("statement {statement_id} to finish"),
        || async {
            Ok(client.statement_execution_get_statement().statement_id(statement_id).send().await?.into_inner())
        },
        |s: &types::StatementResponse| {
            let state = text(&s.status.as_ref().and_then(|st| st.state.clone()));
            let message = s.status.as_ref().and_then(|st| st.error.as_ref()).and_then(|e| e.message.clone());
            let verdict = match state.as_str() {
                "SUCCEEDED" => Verdict::Done,
                "FAILED" | "CANCELED" | "CLOSED" => Verdict::Failed(message),
                _ => Verdict::Pending,
            };
            (state, verdict)
        },
    )
    .await
}
