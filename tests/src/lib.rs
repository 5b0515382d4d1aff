//! End-to-end tests: they spawn the real `databricks-mcp` binary and talk MCP to it
//! over real pipes, against a real `databricks-sandbox` process over real HTTP.
//! This package exists so that the tests are compiled as part of the workspace.
//!
//! Every session opened here runs with the distinctive [`TOKEN`] and debug logging,
//! records every byte the server writes to stdout and stderr, and checks when it is
//! closed that the token never appeared in them: so the whole end-to-end suite is a
//! scan for leaked credentials.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// The personal access token of every end-to-end session. The sandboxes accept
/// only it, so a call that works proves the server sent it; the session checks on
/// close that none of the server's output contains it.
pub const TOKEN: &str = "dapi-e2e-5d1c9b7a3f-SECRET-must-never-be-printed";
/// A fragment of [`TOKEN`] that is just as damning if it shows up alone.
const TOKEN_FRAGMENT: &str = "5d1c9b7a3f-SECRET";

/// The `databricks-mcp` binary cargo built next to this test executable.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let bin = dir.join(format!("databricks-mcp{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing: run these tests with `cargo test --workspace`", bin.display());
    bin
}

/// The `databricks-sandbox` binary cargo built beside the server.
pub fn sandbox_binary() -> PathBuf {
    let bin = server_binary().with_file_name(format!("databricks-sandbox{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing: run these tests with `cargo test --workspace`", bin.display());
    bin
}

/// A standalone sandbox workspace in its own process, with its test routes
/// (`/__sandbox/faults`, `/__sandbox/requests`) at hand. It is killed on drop.
pub struct Sandbox {
    pub url: String,
    http: reqwest::Client,
    _child: tokio::process::Child,
}

impl Sandbox {
    /// Start `databricks-sandbox` on a free port, accepting only [`TOKEN`], with no
    /// transition delay and tiny TPC-H tables; return once it prints its URL.
    pub async fn start() -> anyhow::Result<Sandbox> {
        Self::start_with(&["--transition-delay", "0", "--tpch-scale", "0.001"]).await
    }

    /// Like [`Sandbox::start`], with these options instead.
    pub async fn start_with(args: &[&str]) -> anyhow::Result<Sandbox> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(sandbox_binary())
            .args(["--listen", "127.0.0.1:0", "--token", TOKEN])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await??
            .ok_or_else(|| anyhow::anyhow!("the sandbox exited before printing its URL"))?;
        // Keep reading stdout so the sandbox never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Sandbox { url, http: reqwest::Client::new(), _child: child })
    }

    /// Inject a fault (`{"path": …, "kind": …, "times": …}`; see the README).
    pub async fn fault(&self, fault: serde_json::Value) -> anyhow::Result<()> {
        let response = self.http.post(format!("{}/__sandbox/faults", self.url)).json(&fault).send().await?;
        anyhow::ensure!(response.status().is_success(), "fault {fault} refused: {}", response.text().await?);
        Ok(())
    }

    /// Remove every fault still pending.
    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.http.delete(format!("{}/__sandbox/faults", self.url)).send().await?.error_for_status()?;
        Ok(())
    }

    /// Forget the requests served so far.
    pub async fn clear_requests(&self) -> anyhow::Result<()> {
        self.http.delete(format!("{}/__sandbox/requests", self.url)).send().await?.error_for_status()?;
        Ok(())
    }

    /// The `(method, status)` of each request served on `path` so far, oldest first;
    /// status 0 is a connection closed without an answer.
    pub async fn requests_to(&self, path: &str) -> anyhow::Result<Vec<(String, u16)>> {
        let log: serde_json::Value =
            self.http.get(format!("{}/__sandbox/requests", self.url)).send().await?.error_for_status()?.json().await?;
        let requests = log["requests"].as_array().cloned().unwrap_or_default();
        Ok(requests
            .iter()
            .filter(|r| r["path"] == path)
            .map(|r| (r["method"].as_str().unwrap_or_default().to_string(), r["status"].as_u64().unwrap_or(0) as u16))
            .collect())
    }

    /// Spawn `databricks-mcp <args>` against this sandbox and open a session.
    pub async fn serve(self: &Arc<Self>, args: &[&str]) -> anyhow::Result<Session> {
        open(self.clone(), args, None).await
    }
}

/// A running server over stdio with the client side of its session (reachable
/// through `Deref`), every byte it wrote so far, and the sandbox it talks to.
pub struct Session {
    service: Option<RunningService<RoleClient, ()>>,
    child: tokio::process::Child,
    pid: u32,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
    /// The workspace this session's server calls.
    pub sandbox: Arc<Sandbox>,
}

impl std::ops::Deref for Session {
    type Target = RunningService<RoleClient, ()>;
    fn deref(&self) -> &Self::Target {
        self.service.as_ref().expect("the session is open")
    }
}

impl Session {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// End the session, wait for the server to exit, and check that neither its
    /// stdout (every JSON-RPC message and tool result) nor its stderr (its logs)
    /// contains [`TOKEN`] or a piece of it. Returns the stderr text.
    pub async fn close(mut self) -> String {
        if let Some(service) = self.service.take() {
            service.cancel().await.expect("the session closed cleanly");
        }
        let exited = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        if exited.is_err() {
            let _ = self.child.kill().await;
        }
        let stderr = String::from_utf8_lossy(&(&mut self.stderr).await.unwrap_or_default()).into_owned();
        let stdout = String::from_utf8_lossy(&self.stdout.lock().expect("stdout tap")).into_owned();
        assert!(!stdout.is_empty(), "nothing was read from the server's stdout");
        for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            for secret in [TOKEN, TOKEN_FRAGMENT] {
                if let Some(at) = text.find(secret) {
                    let context = &text[at.saturating_sub(200)..(at + secret.len() + 200).min(text.len())];
                    panic!("the token leaked on the server's {name}: …{context}…");
                }
            }
        }
        stderr
    }
}

/// A reader that keeps a copy of everything read through it.
struct Tap<R> {
    inner: R,
    copy: Arc<Mutex<Vec<u8>>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Tap<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            self.copy.lock().expect("tap").extend_from_slice(&buf.filled()[before..]);
        }
        polled
    }
}

/// Spawn `databricks-mcp <args>` against `sandbox` with [`TOKEN`] and debug logs,
/// and open a session with `lifecycle`. Other `DATABRICKS_*` variables of the test's
/// environment are removed, so that nothing but the sandbox can be reached.
async fn open(
    sandbox: Arc<Sandbox>,
    args: &[&str],
    lifecycle: Option<rmcp::ClientLifecycleMode>,
) -> anyhow::Result<Session> {
    let mut command = tokio::process::Command::new(server_binary());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DATABRICKS_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("DATABRICKS_HOST", &sandbox.url)
        .env("DATABRICKS_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("the server exited at once"))?;
    let stdin = child.stdin.take().ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let tap = Tap { inner: child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?, copy: stdout.clone() };
    let mut err = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let stderr = tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = err.read_to_end(&mut bytes).await;
        bytes
    });
    let service = match lifecycle {
        None => ().serve((tap, stdin)).await?,
        Some(lifecycle) => {
            use rmcp::ClientServiceExt;
            ().serve_with_lifecycle((tap, stdin), lifecycle).await?
        }
    };
    Ok(Session { service: Some(service), child, pid, stdout, stderr, sandbox })
}

/// A sandbox as the in-process one is (two-second transitions, TPC-H at scale 0.01),
/// and a server against it with `args`, in a MCP 2025-11-25 session.
pub async fn spawn(args: &[&str]) -> anyhow::Result<Session> {
    let sandbox = Arc::new(Sandbox::start_with(&["--transition-delay", "2", "--tpch-scale", "0.01"]).await?);
    open(sandbox, args, None).await
}

/// Like [`spawn`], in a stateless MCP 2026-07-28 session (`server/discover`, no
/// `initialize`).
pub async fn spawn_2026(args: &[&str]) -> anyhow::Result<Session> {
    use rmcp::model::ProtocolVersion;
    let sandbox = Arc::new(Sandbox::start_with(&["--transition-delay", "2", "--tpch-scale", "0.01"]).await?);
    let lifecycle = rmcp::ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    open(sandbox, args, Some(lifecycle)).await
}

/// Call a tool with JSON arguments.
pub async fn call(session: &Session, tool: &str, arguments: serde_json::Value) -> Result<CallToolResult, ServiceError> {
    let arguments = match arguments {
        serde_json::Value::Object(map) => map,
        _ => Default::default(),
    };
    session.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments)).await
}

/// The text of a tool result's content blocks.
pub fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}
