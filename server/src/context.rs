//! What a tool gets to work with: the client, the server's settings, the request's
//! cancellation token, progress reporting and confirmation of destructive actions.

use std::sync::Arc;
use std::time::Duration;

use databricks_client::Client;
use databricks_client::wait::WaitOptions;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

use crate::output::ToolError;
use crate::settings::Settings;

/// The per-call context handed to every tool.
#[derive(Clone)]
pub struct ToolContext {
    pub client: Client,
    pub settings: Arc<Settings>,
    /// Fired when the client cancels the request (`notifications/cancelled`).
    pub cancel: CancellationToken,
    peer: Option<Peer<RoleServer>>,
    progress_token: Option<ProgressToken>,
}

/// The answer to an elicitation asking to confirm a destructive action.
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Confirmation {
    /// Set to true to go ahead.
    pub confirm: bool,
}

rmcp::elicit_safe!(Confirmation);

impl ToolContext {
    pub fn new(
        client: Client,
        settings: Arc<Settings>,
        cancel: CancellationToken,
        peer: Option<Peer<RoleServer>>,
        progress_token: Option<ProgressToken>,
    ) -> Self {
        Self { client, settings, cancel, peer, progress_token }
    }

    /// A context outside any MCP session (the `call` subcommand, tests).
    pub fn standalone(client: Client, settings: Arc<Settings>) -> Self {
        Self::new(client, settings, CancellationToken::new(), None, None)
    }

    /// Send a progress notification if the request asked for them.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: impl Into<String>) {
        let (Some(peer), Some(token)) = (&self.peer, &self.progress_token) else { return };
        let mut param = ProgressNotificationParam::new(token.clone(), progress).with_message(message.into());
        if let Some(total) = total {
            param = param.with_total(total);
        }
        if let Err(e) = peer.notify_progress(param).await {
            tracing::debug!("could not send a progress notification: {e}");
        }
    }

    /// Waiter options bounded by `timeout`, cancelled with the request, reporting
    /// each polled state as a progress notification.
    pub fn wait_options(&self, timeout: Duration) -> WaitOptions {
        let mut options = WaitOptions { timeout, cancel: self.cancel.child_token(), ..WaitOptions::default() };
        if self.peer.is_some() && self.progress_token.is_some() {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let ctx = self.clone();
            tokio::spawn(async move {
                let mut polls = 0.0;
                while let Some(state) = rx.recv().await {
                    polls += 1.0;
                    ctx.progress(polls, None, format!("state: {state}")).await;
                }
            });
            options.on_poll = Some(Arc::new(move |state: &str| {
                let _ = tx.send(state.to_string());
            }));
        }
        if let Some(unit) = self.settings.poll_unit {
            options.poll_unit = unit;
        }
        options
    }

    /// Make sure a destructive action is wanted. `confirmed` is the tool's `confirm`
    /// argument; without it the user is asked through elicitation when the client
    /// supports it (MCP 2025-11-25 sessions), and otherwise the call is refused with
    /// an explanation of how to confirm.
    pub async fn confirm(&self, confirmed: bool, action: &str) -> Result<(), ToolError> {
        if confirmed {
            return Ok(());
        }
        if let Some(peer) = &self.peer {
            let supports = peer.peer_info().is_some_and(|info| info.capabilities.elicitation.is_some());
            if supports {
                let question = format!("{action}. Go ahead?");
                match peer.elicit::<Confirmation>(question).await {
                    Ok(Some(Confirmation { confirm: true })) => return Ok(()),
                    Ok(_) => return Err(ToolError::failed(format!("Not done: the user did not confirm. {action}."))),
                    Err(
                        rmcp::service::ElicitationError::UserDeclined | rmcp::service::ElicitationError::UserCancelled,
                    ) => {
                        return Err(ToolError::failed(format!("Not done: the user declined. {action}.")));
                    }
                    Err(e) => tracing::debug!("elicitation unavailable, falling back to confirm: {e}"),
                }
            }
        }
        Err(ToolError::failed(format!(
            "Confirmation required: {action}. Nothing was changed. If this is intended, call the tool again with \"confirm\": true."
        )))
    }
}
