//! A local Databricks workspace, served over real HTTP, for trying `databricks-mcp`
//! without an account and for this project's tests.
//!
//! It speaks the Databricks REST API for the services in `spec/` closely enough that
//! Databricks' own SDKs and CLI work against it unchanged: clusters, jobs and runs,
//! workspace objects, DBFS, SQL warehouses and the Statement Execution API (on Apache
//! DataFusion, with a `samples` catalog of TPC-H tables), Unity Catalog, command
//! execution (SQL only) and the current user. Errors use Databricks' envelope and codes.
//!
//! For tests it adds, under the reserved prefix `/__sandbox/`, fault injection and a
//! log of the requests it served. With a data directory the whole workspace survives a
//! restart; without one everything lives in memory.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sandbox = databricks_sandbox::Sandbox::start("127.0.0.1:0".parse()?, Default::default()).await?;
//! println!("DATABRICKS_HOST={}", sandbox.url());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod admin;
pub mod clusters;
pub mod command_exec;
pub mod dbfs;
pub mod error;
pub mod extract;
pub mod identity;
pub mod jobs;
pub mod sql;
pub mod store;
pub mod workspace;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use store::Store;

/// How a sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Where the workspace is persisted; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// The only bearer token accepted; `None` accepts any token.
    pub token: Option<String>,
    /// How long clusters, warehouses and runs spend in transitional states
    /// (PENDING, STARTING, …). Default 2 s; tests use zero.
    pub transition_delay: Duration,
    /// TPC-H scale factor of the `samples.tpch` tables. Default 0.01 (about 60,000 line items).
    pub tpch_scale: f64,
    /// Create one running cluster and one running warehouse at start-up when the
    /// workspace has none.
    pub seed: bool,
    /// The largest request body accepted, in bytes. Default 32 MiB.
    pub max_body_bytes: usize,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            token: None,
            transition_delay: Duration::from_secs(2),
            tpch_scale: 0.01,
            seed: true,
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Everything the request handlers share.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub options: SandboxOptions,
    pub store: Store,
    /// The URL clients reach this sandbox at, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    pub admin: admin::State,
    pub clusters: Mutex<clusters::State>,
    pub jobs: Mutex<jobs::State>,
    pub workspace: Mutex<workspace::State>,
    pub dbfs: Mutex<dbfs::State>,
    pub sql: sql::Sql,
    pub exec: Mutex<command_exec::State>,
    /// Fired when the sandbox shuts down; background work watches it.
    pub shutdown: CancellationToken,
}

impl Shared {
    /// A handle to hand to background tasks.
    pub fn handle(self: &Arc<Self>) -> AppState {
        AppState(self.clone())
    }
}

/// A running sandbox.
pub struct Sandbox {
    url: String,
    state: AppState,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Bind `listen` (port 0 picks a free port), load or create the workspace, and serve.
    pub async fn start(listen: SocketAddr, options: SandboxOptions) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let state = build_state(options, url.clone()).await?;
        let app = router(state.clone());
        let shutdown = state.shutdown.clone();
        let server = tokio::spawn(async move {
            let serve =
                axum::serve(listener, app.into_make_service()).with_graceful_shutdown(shutdown.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!("sandbox server stopped: {e}");
            }
        });
        Ok(Self { url, state, server: Some(server) })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`: use it as `DATABRICKS_HOST`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The shared state, for in-process inspection.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stop serving, let background work finish, and flush state to disk.
    pub async fn shutdown(mut self) {
        self.state.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

async fn build_state(options: SandboxOptions, base_url: String) -> anyhow::Result<AppState> {
    let store = Store::open(options.data_dir.clone())?;
    let sql = sql::Sql::open(&store, &options).await?;
    let shared = Shared {
        admin: admin::State::default(),
        clusters: Mutex::new(clusters::State::load(&store)?),
        jobs: Mutex::new(jobs::State::load(&store)?),
        workspace: Mutex::new(workspace::State::load(&store)?),
        dbfs: Mutex::new(dbfs::State::load(&store)?),
        exec: Mutex::new(command_exec::State::default()),
        sql,
        store,
        options,
        base_url,
        shutdown: CancellationToken::new(),
    };
    let state = AppState(Arc::new(shared));
    if state.options.seed {
        clusters::seed(&state)?;
        sql::seed(&state)?;
    }
    jobs::resume(&state);
    Ok(state)
}

/// The whole HTTP surface: every service, the admin routes, and the plumbing around them.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(clusters::routes())
        .merge(jobs::routes())
        .merge(workspace::routes())
        .merge(dbfs::routes())
        .merge(sql::routes())
        .merge(command_exec::routes())
        .merge(identity::routes());
    admin::wrap(api, state)
}

/// Milliseconds since the Unix epoch, the timestamp unit of the Databricks API.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
