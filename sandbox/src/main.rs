//! `databricks-sandbox`: serve a local Databricks workspace until stopped.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use databricks_sandbox::{Sandbox, SandboxOptions};

/// A local Databricks workspace over real HTTP, with SQL on Apache DataFusion.
///
/// Point any Databricks client at it with DATABRICKS_HOST=<the printed URL> and any
/// token (or the one given with --token). The first line of stdout is the base URL.
#[derive(Parser)]
#[command(name = "databricks-sandbox", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Keep the workspace (tables as Parquet, workspace objects, DBFS, jobs and runs)
    /// in this directory so it survives a restart. Without it everything is in memory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Accept only this bearer token (and OAuth tokens issued for it as client secret).
    /// Without it any token is accepted.
    #[arg(long, env = "DATABRICKS_SANDBOX_TOKEN")]
    token: Option<String>,
    /// Seconds clusters, warehouses and runs spend in transitional states.
    #[arg(long, default_value_t = 2.0)]
    transition_delay: f64,
    /// TPC-H scale factor of the samples.tpch tables.
    #[arg(long, default_value_t = 0.01)]
    tpch_scale: f64,
    /// Do not create the default running cluster and warehouse.
    #[arg(long)]
    no_seed: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    if !(args.transition_delay.is_finite() && args.transition_delay >= 0.0) {
        eprintln!("error: --transition-delay must be a number of seconds, 0 or more");
        return ExitCode::from(2);
    }
    let options = SandboxOptions {
        data_dir: args.data_dir,
        token: args.token,
        transition_delay: Duration::from_secs_f64(args.transition_delay),
        tpch_scale: args.tpch_scale,
        seed: !args.no_seed,
        ..SandboxOptions::default()
    };
    let sandbox = match Sandbox::start(args.listen, options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", sandbox.url());
    tracing::info!(url = sandbox.url(), "serving a Databricks sandbox workspace");
    wait_for_signal().await;
    tracing::info!("shutting down");
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C or, on Unix, SIGTERM: both stop the sandbox cleanly.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
