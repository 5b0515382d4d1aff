//! `databricks-mcp`: serve Databricks to AI agents over MCP on stdio.
//!
//! stdout carries nothing but the protocol; logs go to stderr (RUST_LOG).
#![forbid(unsafe_code)]
#![deny(clippy::dbg_macro, clippy::todo)]

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use databricks_client::{Client, Config};
use databricks_mcp::{DatabricksMcp, Settings, ToolContext, Toolset, registry};
use rmcp::ServiceExt;

/// A Model Context Protocol server that lets AI agents operate a Databricks workspace.
///
/// Without a subcommand it serves MCP on stdio. Credentials come from the same places
/// Databricks' own tools read: DATABRICKS_HOST with DATABRICKS_TOKEN (or
/// DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET for OAuth M2M), or a profile in
/// ~/.databrickscfg chosen with --profile or DATABRICKS_CONFIG_PROFILE.
#[derive(Parser)]
#[command(name = "databricks-mcp", version, after_help = EXAMPLES)]
struct Cli {
    /// Serve against a local sandbox workspace (in-process, SQL on DataFusion, with the
    /// TPC-H samples catalog, one running cluster and one running warehouse) instead of
    /// a real workspace. Nothing leaves this machine.
    #[arg(long, global = true)]
    sandbox: bool,
    /// Configuration profile in ~/.databrickscfg (overrides DATABRICKS_CONFIG_PROFILE).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Serve only tools that never change the workspace.
    #[arg(long, global = true, env = "DATABRICKS_MCP_READ_ONLY")]
    read_only: bool,
    /// Comma-separated toolsets to serve, or `all`. Default: compute, jobs, workspace,
    /// dbfs, sql, unity_catalog, identity (command_execution is opt-in).
    #[arg(long, global = true, env = "DATABRICKS_MCP_TOOLSETS", value_delimiter = ',')]
    toolsets: Option<Vec<String>>,
    /// Comma-separated tool names to serve in addition to the toolsets; given alone,
    /// only these tools are served.
    #[arg(long, global = true, env = "DATABRICKS_MCP_TOOLS", value_delimiter = ',')]
    tools: Option<Vec<String>>,
    /// Timeout of one HTTP request to Databricks, in seconds.
    #[arg(
        long,
        global = true,
        env = "DATABRICKS_MCP_HTTP_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    http_timeout: u64,
    /// How long one call may keep retrying rate limits (429), unavailability (503),
    /// broken connections and unreadable answers, in seconds; 0 never retries. Calls
    /// that change the workspace are retried only when that cannot apply them twice.
    #[arg(long, global = true, env = "DATABRICKS_MCP_RETRY_TIMEOUT", value_name = "SECONDS", default_value_t = 300)]
    retry_timeout: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the tools with their toolset and read-only flag.
    Tools {
        /// Print the full MCP tool definitions as JSON.
        #[arg(long)]
        json: bool,
        /// Print the README's Markdown table of every tool (used by `cargo xtask docs`).
        #[arg(long, hide = true, conflicts_with = "json")]
        markdown: bool,
    },
    /// Run one tool and print its result (for debugging and scripts).
    Call {
        /// The tool's name, e.g. list_clusters.
        tool: String,
        /// The arguments as a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
    },
    /// Check the configuration and print whom the credentials belong to.
    Check,
}

const EXAMPLES: &str = "Examples:
  databricks-mcp --sandbox                         serve MCP against a local sandbox
  databricks-mcp --profile prod --read-only        serve a real workspace, read-only
  databricks-mcp tools                             list the tools
  databricks-mcp --sandbox call execute_sql '{\"statement\": \"SELECT 1\"}'
  databricks-mcp check                             validate credentials";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut settings = Settings { read_only: cli.read_only, ..Settings::default() };
    let names: BTreeSet<String> =
        cli.tools.iter().flatten().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    for name in &names {
        if registry::find(name).is_none() {
            bail!("unknown tool {name:?} in --tools; run `databricks-mcp tools` to list them");
        }
    }
    match &cli.toolsets {
        Some(ids) if ids.iter().any(|i| i.trim() == "all") => settings.toolsets = Toolset::ALL.into_iter().collect(),
        Some(ids) => {
            settings.toolsets = ids
                .iter()
                .filter(|i| !i.trim().is_empty())
                .map(|i| Toolset::parse(i).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?;
        }
        None if !names.is_empty() => settings.toolsets.clear(),
        None => {}
    }
    settings.tools = names;
    Ok(settings)
}

#[cfg(feature = "sandbox")]
type Sandbox = databricks_sandbox::Sandbox;
#[cfg(not(feature = "sandbox"))]
struct Sandbox;
#[cfg(not(feature = "sandbox"))]
impl Sandbox {
    async fn shutdown(self) {}
}

/// The client, and the sandbox keeping it alive when `--sandbox` was given.
async fn connect(cli: &Cli) -> anyhow::Result<(Client, Option<Sandbox>)> {
    #[cfg(not(feature = "sandbox"))]
    if cli.sandbox {
        bail!(
            "this build of databricks-mcp has no sandbox (it was built without the `sandbox` feature). \
             Run a standalone one, `databricks-sandbox --listen 127.0.0.1:8080` (from `cargo install --path \
             sandbox`), and serve against it with DATABRICKS_HOST=http://127.0.0.1:8080 and any \
             DATABRICKS_TOKEN; or rebuild this binary with its default features"
        );
    }
    #[cfg(feature = "sandbox")]
    if cli.sandbox {
        let sandbox =
            databricks_sandbox::Sandbox::start("127.0.0.1:0".parse()?, databricks_sandbox::SandboxOptions::default())
                .await
                .context("starting the sandbox")?;
        tracing::info!(url = sandbox.url(), "serving against a local sandbox workspace");
        let config = Config::new().with_host(sandbox.url()).with_token("sandbox");
        return Ok((Client::from_config(timeouts(cli, config))?, Some(sandbox)));
    }
    let mut config = Config::from_env()?;
    if let Some(profile) = &cli.profile {
        config = config.with_profile(profile);
    }
    Ok((Client::from_config(timeouts(cli, config))?, None))
}

fn timeouts(cli: &Cli, config: Config) -> Config {
    config
        .with_http_timeout(std::time::Duration::from_secs(cli.http_timeout))
        .with_retry_timeout(std::time::Duration::from_secs(cli.retry_timeout))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut settings = settings(&cli)?;
    let mut out = std::io::stdout().lock();
    if let Some(Command::Tools { markdown: true, .. }) = &cli.command {
        write!(out, "{}", registry::markdown_table())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(Command::Tools { json, .. }) = &cli.command {
        let tools: Vec<&registry::ToolDef> = registry::all().into_iter().filter(|t| settings.allows(t)).collect();
        if *json {
            let defs: Vec<_> = tools.iter().map(|t| t.to_tool()).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&defs)?)?;
        } else {
            for t in tools {
                let mode = if t.read_only {
                    "read-only"
                } else if t.destructive {
                    "destructive"
                } else {
                    "writes"
                };
                writeln!(out, "{:<32} {:<18} {mode}", t.name, t.toolset.id())?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    drop(out);

    let (client, sandbox) = connect(&cli).await?;
    settings.default_warehouse_id = client.default_warehouse_id().map(str::to_string);
    settings.default_cluster_id = client.default_cluster_id().map(str::to_string);
    let server = DatabricksMcp::new(client.clone(), settings);

    let code = match cli.command {
        Some(Command::Tools { .. }) => ExitCode::SUCCESS,
        Some(Command::Check) => {
            let me = client.current_user_me().send().await.map_err(databricks_client::Error::from)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "host:  {}", client.host())?;
            writeln!(out, "auth:  {}", client.auth_type())?;
            if let Some(profile) = client.profile() {
                writeln!(out, "profile: {profile}")?;
            }
            writeln!(out, "user:  {}", me.user_name.as_deref().unwrap_or("(unknown)"))?;
            ExitCode::SUCCESS
        }
        Some(Command::Call { tool, arguments }) => {
            let args: serde_json::Value =
                serde_json::from_str(&arguments).context("the arguments are not valid JSON")?;
            let serde_json::Value::Object(args) = args else { bail!("the arguments must be a JSON object") };
            let ctx = ToolContext::standalone(client, Arc::new(server.settings().clone()));
            let result = server.run(&tool, args, ctx).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let mut out = std::io::stdout().lock();
            for content in &result.content {
                if let Some(text) = content.as_text() {
                    writeln!(out, "{}", text.text)?;
                }
            }
            if result.is_error == Some(true) { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        None => {
            let (stdin, stdout) = rmcp::transport::stdio();
            let transport = databricks_mcp::stdio::LineTransport::new(stdin, stdout);
            let service = server.serve(transport).await.context("starting the MCP session")?;
            service.waiting().await.context("serving MCP")?;
            ExitCode::SUCCESS
        }
    };
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(code)
}
