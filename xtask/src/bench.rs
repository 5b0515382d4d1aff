//! `cargo xtask bench`: measure the release server against a standalone sandbox.
//!
//! It builds `databricks-mcp` twice in release mode, as the lean build that serves real
//! workspaces (`--no-default-features`) and as the default build that also embeds the
//! sandbox behind `--sandbox`, and `databricks-sandbox` once. It starts one standalone
//! sandbox (whose start-up is never timed) and measures the server process only, the
//! lean build unless `--server` names another:
//!
//! 1. cold start: spawn, `initialize`, `tools/list`, close stdin, wait for exit;
//! 2. per-call overhead: sequential `get_cluster` calls through one MCP session,
//!    interleaved with direct keep-alive `GET /api/2.1/clusters/get` requests;
//! 3. concurrency: a burst of `get_cluster` calls written at once into one session
//!    while the sandbox delays every `clusters/get` by 50 ms;
//! 4. memory: peak RSS (`VmHWM`) idle, during the burst, and during an
//!    `execute_sql` whose result has 1,000,000 rows;
//! 5. context cost: the size of the `tools/list` result.
//!
//! The default build's cold start and idle memory are measured too, for comparison:
//! DataFusion in the binary costs memory even when `--sandbox` is not used.
//!
//! It prints a table and writes `bench/results.md` with a description of the
//! machine. Nothing here asserts a timing: the targets are reported, not enforced.
//!
//! The only client code is std: a hand-written HTTP/1.1 keep-alive client on a
//! `TcpStream` and newline-delimited JSON-RPC on the child's pipes. Each child's
//! stdout is read by a thread that stamps every line the moment it arrives, so
//! latencies exclude the hop to the main thread and a hung child cannot hang the
//! bench (every read has a timeout, after which the child is killed).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

const PROTOCOL_VERSION: &str = "2025-11-25";
/// Untimed runs before the timed cold starts (page cache, dynamic loader).
const COLD_WARMUPS: usize = 3;
/// Untimed calls of each kind before the timed sequential calls.
const CALL_WARMUPS: usize = 50;
/// Latency injected on clusters/get for the concurrency measurement.
const DELAY_MS: u64 = 50;
const LARGE_ROWS: u64 = 1_000_000;
const LARGE_SQL: &str = "SELECT * FROM range(1000000)";
/// How long any one answer may take before the bench gives up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

const TARGET_COLD_MS: f64 = 20.0;
const TARGET_ADDED_MS: f64 = 0.3;
const TARGET_IDLE_MIB: f64 = 15.0;
const TARGET_LARGE_MIB: f64 = 64.0;

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Use the release binaries already built by an earlier run instead of building them.
    #[arg(long)]
    no_build: bool,
    /// Timed cold starts (after 3 untimed ones).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Sequential get_cluster calls, and as many direct GETs.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// get_cluster calls written at once into one session.
    #[arg(long, default_value_t = 200)]
    concurrent: usize,
    /// Print the results without writing bench/results.md.
    #[arg(long)]
    no_write: bool,
    /// Measure this server binary instead of the lean build (target/bench/databricks-mcp,
    /// built with --no-default-features).
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
}

pub fn run(root: &Path, args: BenchArgs) -> anyhow::Result<()> {
    ensure!(Path::new("/proc/self/status").exists(), "the bench reads /proc/<pid>/status, so it runs on Linux only");
    ensure!(args.runs > 0 && args.calls > 0 && args.concurrent > 0, "--runs, --calls and --concurrent must be above 0");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root.join(p) } else { p })
        .unwrap_or_else(|| root.join("target"));
    let release = target.join("release");
    let logs = target.join("bench");
    std::fs::create_dir_all(&logs)?;
    let exe = |name: &str| format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let lean = logs.join(exe("databricks-mcp"));
    let default_build = release.join(exe("databricks-mcp"));
    if !args.no_build {
        build(root, &default_build, &lean)?;
    }
    let server = match &args.server {
        Some(path) => std::fs::canonicalize(path).with_context(|| format!("--server {}", path.display()))?,
        None => lean,
    };
    let sandbox_bin = release.join(exe("databricks-sandbox"));
    for bin in [&server, &default_build, &sandbox_bin] {
        ensure!(bin.exists(), "{} is missing; run `cargo xtask bench` without --no-build", bin.display());
    }

    let machine = Machine::describe(root, &server, &default_build);
    eprintln!("starting the sandbox");
    let mut sandbox = Sandbox::start(&sandbox_bin, &logs)?;
    let cluster_id = sandbox.running_cluster()?;
    let bench = Bench { server, url: sandbox.url.clone(), logs, cluster_id };
    let with_sandbox = Bench { server: default_build, ..bench.clone() };

    eprintln!("1/5 cold start: {} runs of each build", args.runs);
    let cold = bench.cold_start(args.runs)?;
    let cold_default = with_sandbox.cold_start(args.runs)?;
    eprintln!("2/5 context cost");
    let context = [bench.context_cost(&[])?, bench.context_cost(&["--toolsets", "all"])?];
    eprintln!("3/5 idle memory and {} sequential calls", args.calls);
    let idle = bench.idle_memory()?;
    let idle_default = with_sandbox.idle_memory()?;
    let calls = bench.per_call(args.calls)?;
    eprintln!("4/5 execute_sql with {LARGE_ROWS} rows");
    let large = bench.large_result()?;
    eprintln!("5/5 {} concurrent calls with {DELAY_MS} ms injected latency", args.concurrent);
    let delay = json!({"path": "/api/2.1/clusters/get", "kind": "delay", "delay_ms": DELAY_MS, "times": 100_000});
    sandbox.admin("POST", Some(&delay.to_string()))?;
    let burst = bench.concurrency(args.concurrent);
    sandbox.admin("DELETE", None)?;
    let burst = burst?;
    drop(sandbox);

    let report = Report { machine, args, cold, cold_default, context, idle, idle_default, calls, large, burst };
    let table = report.table();
    println!("{table}");
    if !report.args.no_write {
        let path = root.join("bench/results.md");
        std::fs::create_dir_all(path.parent().expect("bench/"))?;
        std::fs::write(&path, report.markdown(&table))?;
        eprintln!("wrote bench/results.md");
    }
    Ok(())
}

/// Build the lean server and copy it to `lean`, then the default server (into
/// `built`, where it stays) and the sandbox. Both server builds keep their artifacts
/// under target/release, so a second run rebuilds only what changed.
fn build(root: &Path, built: &Path, lean: &Path) -> anyhow::Result<()> {
    cargo(root, &["build", "--release", "--locked", "-p", "databricks-mcp", "--no-default-features"])?;
    std::fs::copy(built, lean).with_context(|| format!("copying {} to {}", built.display(), lean.display()))?;
    cargo(root, &["build", "--release", "--locked", "-p", "databricks-mcp", "-p", "databricks-sandbox"])
}

fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).args(args).current_dir(root).status().context("running cargo build")?;
    ensure!(status.success(), "`cargo {}` failed", args.join(" "));
    Ok(())
}

// ---------------------------------------------------------------------------------
// The measurements

#[derive(Clone)]
struct Bench {
    server: PathBuf,
    url: String,
    logs: PathBuf,
    cluster_id: String,
}

struct ColdStart {
    total: Stats,
    initialized: Stats,
    listed: Stats,
}

struct ContextCost {
    label: &'static str,
    tools: usize,
    bytes: usize,
}

/// From `/proc/<pid>/status`, in KiB: the peak resident set and, at the moment of
/// reading, its anonymous (heap, stacks, relocated data) and file-backed (the
/// binary's and libraries' pages) parts.
struct Memory {
    hwm_kib: u64,
    anon_kib: u64,
    file_kib: u64,
}

impl Memory {
    fn describe(&self) -> String {
        format!(
            "{:.1} MiB (resident now: {:.1} MiB anonymous + {:.1} MiB file-backed)",
            mib(self.hwm_kib),
            mib(self.anon_kib),
            mib(self.file_kib)
        )
    }
}

struct PerCall {
    mcp: Stats,
    direct: Stats,
    after: Memory,
}

struct Large {
    elapsed: Duration,
    rows: u64,
    rows_shown: u64,
    text_bytes: usize,
    before: Memory,
    after: Memory,
}

struct Burst {
    n: usize,
    /// Per burst, when each answer arrived after the first write, sorted.
    arrivals: Vec<Vec<Duration>>,
    after: Memory,
}

impl Burst {
    /// Answers that arrived within twice the injected delay. Each of their sandbox
    /// requests started before one delay had passed and lasted at least one delay,
    /// so all of them were in flight together just before that moment: a lower
    /// bound on the effective concurrency.
    fn in_flight(arrivals: &[Duration]) -> usize {
        arrivals.iter().filter(|a| **a < Duration::from_millis(2 * DELAY_MS)).count()
    }
}

impl Bench {
    fn session(&self, args: &[&str]) -> anyhow::Result<Session> {
        Session::spawn(&self.server, args, &self.url, &self.logs.join("server.stderr"))
    }

    fn get_cluster(&self) -> Value {
        json!({"name": "get_cluster", "arguments": {"cluster_id": self.cluster_id}})
    }

    fn cold_start(&self, runs: usize) -> anyhow::Result<ColdStart> {
        let (mut total, mut initialized, mut listed) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..COLD_WARMUPS + runs {
            let start = Instant::now();
            let mut s = self.session(&[])?;
            let init = s.initialize()?;
            let (_, list) = s.request("tools/list", json!({}))?;
            let status = s.close()?;
            let end = Instant::now();
            ensure!(status.success(), "the server exited with {status} after stdin closed");
            if i >= COLD_WARMUPS {
                total.push(end - start);
                initialized.push(init - start);
                listed.push(list - start);
            }
        }
        Ok(ColdStart { total: Stats::of(total), initialized: Stats::of(initialized), listed: Stats::of(listed) })
    }

    fn context_cost(&self, args: &[&str]) -> anyhow::Result<ContextCost> {
        let mut s = self.session(args)?;
        s.initialize()?;
        let (result, _) = s.request("tools/list", json!({}))?;
        s.close()?;
        let tools = result["tools"].as_array().map_or(0, Vec::len);
        let label = if args.is_empty() { "default toolsets" } else { "`--toolsets all`" };
        Ok(ContextCost { label, tools, bytes: serde_json::to_string(&result)?.len() })
    }

    fn idle_memory(&self) -> anyhow::Result<Memory> {
        let mut s = self.session(&[])?;
        s.initialize()?;
        s.request("tools/list", json!({}))?;
        std::thread::sleep(Duration::from_millis(200));
        let memory = s.memory()?;
        s.close()?;
        Ok(memory)
    }

    /// Sequential calls through one session, each followed by one direct GET, so
    /// that noise from the shared machine falls on both alike.
    fn per_call(&self, n: usize) -> anyhow::Result<PerCall> {
        let mut s = self.session(&[])?;
        s.initialize()?;
        let mut http = Http::connect(&self.url)?;
        let path = format!("/api/2.1/clusters/get?cluster_id={}", self.cluster_id);
        let (first, _) = s.request("tools/call", self.get_cluster())?;
        let text = serde_json::to_string(&first)?;
        ensure!(
            first["isError"] != json!(true) && text.contains(&self.cluster_id),
            "get_cluster did not return the cluster: {text}"
        );
        let (status, body) = http.send("GET", &path, None)?;
        ensure!(status == 200, "GET {path}: {status} {}", String::from_utf8_lossy(&body));
        let (mut mcp, mut direct) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..CALL_WARMUPS + n {
            let start = Instant::now();
            let (result, answered) = s.request("tools/call", self.get_cluster())?;
            let through_mcp = answered - start;
            ensure!(result["isError"] != json!(true), "get_cluster failed: {result}");
            let start = Instant::now();
            let (status, _) = http.send("GET", &path, None)?;
            let direct_call = start.elapsed();
            ensure!(status == 200, "GET {path}: {status}");
            if i >= CALL_WARMUPS {
                mcp.push(through_mcp);
                direct.push(direct_call);
            }
        }
        let after = s.memory()?;
        s.close()?;
        Ok(PerCall { mcp: Stats::of(mcp), direct: Stats::of(direct), after })
    }

    fn large_result(&self) -> anyhow::Result<Large> {
        let mut s = self.session(&[])?;
        s.initialize()?;
        s.request("tools/list", json!({}))?;
        let before = s.memory()?;
        let start = Instant::now();
        let (result, answered) = s.request(
            "tools/call",
            json!({"name": "execute_sql", "arguments": {"statement": LARGE_SQL, "timeout_seconds": 600}}),
        )?;
        let after = s.memory()?;
        s.close()?;
        let text: String =
            result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect();
        let rows = result["structuredContent"]["total_row_count"].as_u64();
        if result["isError"] == json!(true) || rows != Some(LARGE_ROWS) {
            bail!("execute_sql {LARGE_SQL:?} did not return {LARGE_ROWS} rows: {text}");
        }
        Ok(Large {
            elapsed: answered - start,
            rows: LARGE_ROWS,
            rows_shown: result["structuredContent"]["rows_shown"].as_u64().unwrap_or(0),
            text_bytes: text.len(),
            before,
            after,
        })
    }

    /// Two bursts in one session: the first opens the HTTP connections, the second
    /// finds them pooled.
    fn concurrency(&self, n: usize) -> anyhow::Result<Burst> {
        let mut s = self.session(&[])?;
        s.initialize()?;
        s.request("tools/list", json!({}))?;
        let mut bursts = Vec::new();
        for _ in 0..2 {
            let lines: Vec<(u64, String)> = (0..n)
                .map(|_| {
                    let id = s.take_id();
                    let line =
                        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": self.get_cluster()});
                    (id, line.to_string())
                })
                .collect();
            let mut stdin = s.stdin.take().context("stdin is closed")?;
            let start = Instant::now();
            let (written, answers) = std::thread::scope(|scope| {
                let writer = scope.spawn(move || -> std::io::Result<ChildStdin> {
                    for (_, line) in &lines {
                        stdin.write_all(format!("{line}\n").as_bytes())?;
                    }
                    Ok(stdin)
                });
                let mut answers = Vec::with_capacity(n);
                while answers.len() < n {
                    match s.answer() {
                        Ok(answer) => answers.push(answer),
                        Err(e) => return (writer.join(), Err(e)),
                    }
                }
                (writer.join(), Ok(answers))
            });
            s.stdin = Some(written.map_err(|_| anyhow::anyhow!("the writer panicked"))??);
            let answers = answers?;
            let mut arrivals = Vec::with_capacity(n);
            for (id, message, at) in &answers {
                ensure!(
                    message.get("result").is_some_and(|r| r["isError"] != json!(true)),
                    "call {id} failed: {message}"
                );
                arrivals.push(*at - start);
            }
            arrivals.sort();
            bursts.push(arrivals);
        }
        let after = s.memory()?;
        s.close()?;
        Ok(Burst { n, arrivals: bursts, after })
    }
}

// ---------------------------------------------------------------------------------
// An MCP session on a child's pipes

/// A line from the child's stdout and the moment it arrived; `None` at end of file.
type Line = Option<(String, Instant)>;

struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Line>,
    next_id: u64,
    stderr: PathBuf,
}

impl Session {
    fn spawn(bin: &Path, args: &[&str], host: &str, stderr: &Path) -> anyhow::Result<Self> {
        let mut command = Command::new(bin);
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(File::create(stderr)?);
        // Only the sandbox's host and a token: no profile, toolsets or flags from the
        // caller's environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DATABRICKS_") {
                command.env_remove(key);
            }
        }
        command.env("DATABRICKS_HOST", host).env("DATABRICKS_TOKEN", "t").env_remove("RUST_LOG");
        let mut child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            loop {
                let mut line = String::new();
                match stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(None);
                        return;
                    }
                    Ok(_) => {
                        if tx.send(Some((line, Instant::now()))).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Self { child, stdin, lines, next_id: 1, stderr: stderr.to_path_buf() })
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn send(&mut self, message: &Value) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin is closed")?;
        // One write per message: the pipe is unbuffered.
        stdin.write_all(format!("{message}\n").as_bytes()).map_err(|e| self.failure(format!("writing: {e}")))
    }

    /// The next answer (a message with an id and no method): its id, the message,
    /// and when it arrived. Notifications from the server are skipped.
    fn answer(&mut self) -> anyhow::Result<(u64, Value, Instant)> {
        loop {
            let (line, at) = match self.lines.recv_timeout(ANSWER_TIMEOUT) {
                Ok(Some(line)) => line,
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(self.failure("the server closed stdout".into()));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    return Err(self.failure(format!("no answer within {ANSWER_TIMEOUT:?}")));
                }
            };
            let message: Value =
                serde_json::from_str(&line).map_err(|e| self.failure(format!("stdout is not JSON ({e}): {line}")))?;
            if message.get("method").is_some() {
                continue;
            }
            if let Some(id) = message["id"].as_u64() {
                return Ok((id, message, at));
            }
            return Err(self.failure(format!("an answer without a numeric id: {line}")));
        }
    }

    /// Send a request and wait for its answer: the result and when it arrived.
    fn request(&mut self, method: &str, params: Value) -> anyhow::Result<(Value, Instant)> {
        let id = self.take_id();
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let (got, mut message, at) = self.answer()?;
        ensure!(got == id, "asked {id}, got an answer to {got}");
        match message.get_mut("result") {
            Some(result) => Ok((result.take(), at)),
            None => bail!("{method} failed: {message}"),
        }
    }

    /// `initialize` and `notifications/initialized`; returns when the first answer arrived.
    fn initialize(&mut self) -> anyhow::Result<Instant> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "xtask-bench", "version": "1"},
        });
        let (_, at) = self.request("initialize", params)?;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(at)
    }

    fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name}"))?;
            Ok(line[name.len()..].trim().trim_end_matches("kB").trim().parse()?)
        };
        Ok(Memory { hwm_kib: field("VmHWM:")?, anon_kib: field("RssAnon:")?, file_kib: field("RssFile:")? })
    }

    /// Close stdin and wait for the server to exit.
    fn close(mut self) -> anyhow::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            match self.lines.recv_timeout(ANSWER_TIMEOUT) {
                Ok(Some(_)) => {}
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    return Err(self.failure("the server did not exit after stdin closed".into()));
                }
            }
        }
        Ok(self.child.wait()?)
    }

    fn failure(&self, what: String) -> anyhow::Error {
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        anyhow::anyhow!("server: {what}\nits stderr ends with:\n{}", tail.join("\n"))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------
// The sandbox and a keep-alive HTTP/1.1 client

struct Sandbox {
    child: Child,
    url: String,
    http: Http,
}

impl Sandbox {
    fn start(bin: &Path, logs: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--transition-delay", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(logs.join("sandbox.stderr"))?)
            .env_remove("DATABRICKS_SANDBOX_TOKEN")
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = tx.send(stdout.read_line(&mut line).map(|_| line));
            // Keep draining so the sandbox never blocks on a full pipe.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let url = match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(Ok(line)) if line.trim().starts_with("http://") => line.trim().to_string(),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the sandbox did not print its URL ({other:?}); see {}", logs.join("sandbox.stderr").display());
            }
        };
        let http = Http::connect(&url)?;
        Ok(Self { child, url, http })
    }

    /// Add (POST) or clear (DELETE) injected faults.
    fn admin(&mut self, method: &str, body: Option<&str>) -> anyhow::Result<()> {
        let (status, answer) = self.http.send(method, "/__sandbox/faults", body)?;
        ensure!(
            (200..300).contains(&status),
            "{method} /__sandbox/faults: {status} {}",
            String::from_utf8_lossy(&answer)
        );
        Ok(())
    }

    fn running_cluster(&mut self) -> anyhow::Result<String> {
        let (status, body) = self.http.send("GET", "/api/2.1/clusters/list", None)?;
        ensure!(status == 200, "clusters/list: {status} {}", String::from_utf8_lossy(&body));
        let list: Value = serde_json::from_slice(&body)?;
        list["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["state"] == "RUNNING")
            .and_then(|c| c["cluster_id"].as_str())
            .map(str::to_string)
            .with_context(|| format!("the sandbox has no RUNNING cluster: {list}"))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HTTP/1.1 on one kept-alive connection, reconnecting when the server closed it.
struct Http {
    authority: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    fn connect(url: &str) -> anyhow::Result<Self> {
        let authority = url.strip_prefix("http://").context("the sandbox URL is not http://")?;
        Ok(Self { authority: authority.trim_end_matches('/').to_string(), conn: None })
    }

    /// Send one request; the status and body of the answer.
    fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, Vec<u8>)> {
        let reused = self.conn.is_some();
        match self.try_send(method, path, body) {
            Ok(answer) => Ok(answer),
            // A kept-alive connection the server had closed: retry once on a new one.
            Err(_) if reused => {
                self.conn = None;
                self.try_send(method, path, body)
            }
            Err(e) => Err(e),
        }
        .with_context(|| format!("{method} {path}"))
    }

    fn try_send(&mut self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, Vec<u8>)> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.authority)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().expect("connected");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer t\r\nAccept: application/json\r\n",
            self.authority
        );
        if let Some(body) = body {
            let _ = write!(request, "Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
        }
        request.push_str("\r\n");
        request.push_str(body.unwrap_or(""));
        conn.get_mut().write_all(request.as_bytes())?;

        let mut line = String::new();
        ensure!(conn.read_line(&mut line)? > 0, "the connection closed");
        let status: u16 = line.split_whitespace().nth(1).context("no status line")?.parse()?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            ensure!(conn.read_line(&mut line)? > 0, "the connection closed in the headers");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').context("a malformed header")?;
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = Some(value.parse::<usize>()?),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)?;
                if size == 0 {
                    while conn.read_line(&mut line)? > 2 {
                        line.clear();
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                conn.read_exact(&mut body[start..])?;
                let mut crlf = [0u8; 2];
                conn.read_exact(&mut crlf)?;
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            conn.read_exact(&mut body)?;
        } else {
            conn.read_to_end(&mut body)?;
            close = true;
        }
        if close {
            self.conn = None;
        }
        Ok((status, body))
    }
}

// ---------------------------------------------------------------------------------
// Statistics, the machine, and the report

struct Stats {
    sorted: Vec<Duration>,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self { sorted: samples }
    }

    /// Nearest-rank percentile, `q` in 0..=100.
    fn p(&self, q: usize) -> Duration {
        let n = self.sorted.len();
        let rank = (q * n).div_ceil(100).clamp(1, n);
        self.sorted[rank - 1]
    }

    fn ms(&self, q: usize) -> f64 {
        ms(self.p(q))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

struct Machine {
    server: String,
    default_build: String,
    cpu: String,
    cores: String,
    memory: String,
    os: String,
    rustc: String,
    commit: String,
    load: String,
    date: String,
}

impl Machine {
    fn describe(root: &Path, server: &Path, default_build: &Path) -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".into(), |(_, v)| v.trim().to_string());
        let logical = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
        let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
        let cores = format!("{usable} usable ({logical} logical CPUs in /proc/cpuinfo)");
        let memory = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or_else(|| "unknown".into(), |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0));
        let pretty = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let os = format!("{pretty}, Linux {} ({})", read("/proc/sys/kernel/osrelease").trim(), std::env::consts::ARCH);
        let output = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .current_dir(root)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_else(|| "unknown".into())
        };
        let rustc = output("rustc", &["--version"]);
        let dirty = !output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
        let commit = format!(
            "{}{}",
            output("git", &["rev-parse", "--short", "HEAD"]),
            if dirty { " (with uncommitted changes)" } else { "" }
        );
        let load = read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        let binary = |path: &Path| {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            let shown = path.strip_prefix(root).unwrap_or(path);
            format!("`{}`, {:.1} MB", shown.display(), size as f64 / 1e6)
        };
        let (server, default_build) = (binary(server), binary(default_build));
        Self { server, default_build, cpu, cores, memory, os, rustc, commit, load, date: utc_now() }
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

struct Report {
    machine: Machine,
    args: BenchArgs,
    cold: ColdStart,
    /// The default build, which embeds the sandbox.
    cold_default: ColdStart,
    context: [ContextCost; 2],
    idle: Memory,
    idle_default: Memory,
    calls: PerCall,
    large: Large,
    burst: Burst,
}

impl Report {
    fn table(&self) -> String {
        let mut t = String::from("| measurement | result | target |\n|---|---|---|\n");
        let mut row = |what: String, result: String, target: String| {
            let _ = writeln!(t, "| {what} | {result} | {target} |");
        };
        let c = &self.cold;
        row(
            format!("Cold start: spawn → initialize → tools/list → exit (median / p90 of {})", self.args.runs),
            format!("{:.1} ms / {:.1} ms", c.total.ms(50), c.total.ms(90)),
            format!("< {TARGET_COLD_MS} ms: {}", verdict(c.total.ms(50) < TARGET_COLD_MS)),
        );
        row(
            "… of which: initialize answered / tools/list answered (median)".into(),
            format!("{:.1} ms / {:.1} ms", c.initialized.ms(50), c.listed.ms(50)),
            String::new(),
        );
        let c = &self.cold_default;
        row(
            "… the same for the default build, which embeds the sandbox (median / p90)".into(),
            format!("{:.1} ms / {:.1} ms", c.total.ms(50), c.total.ms(90)),
            String::new(),
        );
        let (m, d) = (&self.calls.mcp, &self.calls.direct);
        let n = self.args.calls;
        row(
            format!("get_cluster through MCP, {n} sequential calls (p50 / p99)"),
            format!("{:.3} ms / {:.3} ms", m.ms(50), m.ms(99)),
            String::new(),
        );
        row(
            format!("Direct keep-alive GET clusters/get, {n} requests (p50 / p99)"),
            format!("{:.3} ms / {:.3} ms", d.ms(50), d.ms(99)),
            String::new(),
        );
        let added50 = m.ms(50) - d.ms(50);
        row(
            "Added by the server (p50 / p99), ratio at p50 / p99".into(),
            format!(
                "{added50:+.3} ms / {:+.3} ms; {:.2}× / {:.2}×",
                m.ms(99) - d.ms(99),
                m.ms(50) / d.ms(50),
                m.ms(99) / d.ms(99)
            ),
            format!("< {TARGET_ADDED_MS} ms at p50: {}", verdict(added50 < TARGET_ADDED_MS)),
        );
        let b = &self.burst;
        let delay = DELAY_MS as f64;
        let bursts: Vec<String> = b
            .arrivals
            .iter()
            .map(|a| {
                format!(
                    "{:.0} ms (answers from {:.0} ms; {} of {} within 2 × {DELAY_MS} ms)",
                    ms(a.last().copied().unwrap_or_default()),
                    ms(a.first().copied().unwrap_or_default()),
                    Burst::in_flight(a),
                    a.len()
                )
            })
            .collect();
        let best = b.arrivals.iter().filter_map(|a| a.last().copied()).min().unwrap_or_default();
        let in_flight = b.arrivals.iter().map(|a| Burst::in_flight(a)).max().unwrap_or(0);
        row(
            format!(
                "{} concurrent get_cluster, {DELAY_MS} ms injected latency: wall time, 1st burst (new connections) / \
                 2nd (pooled)",
                b.n
            ),
            bursts.join(" / "),
            format!(
                "ideal {DELAY_MS} ms × ceil({} / width); effective concurrency: ≥ {in_flight} in flight at once, \
                 {:.0} by throughput ({} × {DELAY_MS} ms ÷ {:.0} ms)",
                b.n,
                b.n as f64 * delay / ms(best),
                b.n,
                ms(best)
            ),
        );
        row(
            "Peak RSS (VmHWM), idle after tools/list".into(),
            self.idle.describe(),
            format!("< {TARGET_IDLE_MIB} MiB: {}", verdict(mib(self.idle.hwm_kib) < TARGET_IDLE_MIB)),
        );
        row(
            "… the same for the default build, which embeds the sandbox".into(),
            self.idle_default.describe(),
            format!(
                "{}: DataFusion's pages and relocations, although `--sandbox` is not used",
                if mib(self.idle_default.hwm_kib) < TARGET_IDLE_MIB { "under the target too" } else { "over" }
            ),
        );
        row(format!("Peak RSS after {n} sequential calls"), self.calls.after.describe(), String::new());
        row(format!("Peak RSS during {} concurrent calls (2 bursts)", b.n), b.after.describe(), String::new());
        let l = &self.large;
        row(
            format!("Peak RSS during execute_sql `{LARGE_SQL}` ({} rows)", l.rows),
            format!(
                "{}; +{:.1} MiB over the same process before the call; answered in {:.2} s, {} rows shown in {} bytes \
                 of text",
                l.after.describe(),
                mib(l.after.hwm_kib.saturating_sub(l.before.hwm_kib)),
                l.elapsed.as_secs_f64(),
                l.rows_shown,
                l.text_bytes
            ),
            format!("< {TARGET_LARGE_MIB} MiB: {}", verdict(mib(l.after.hwm_kib) < TARGET_LARGE_MIB)),
        );
        for c in &self.context {
            row(
                format!("tools/list result, {} ({} tools)", c.label, c.tools),
                format!("{} bytes ≈ {} tokens (bytes ÷ 4)", c.bytes, c.bytes / 4),
                String::new(),
            );
        }
        t
    }

    fn markdown(&self, table: &str) -> String {
        let Machine { server, default_build, cpu, cores, memory, os, rustc, commit, load, date } = &self.machine;
        let BenchArgs { runs, calls, concurrent: n, .. } = &self.args;
        format!(
            "# Performance of databricks-mcp\n\n\
             Written by `cargo xtask bench` (see `xtask/src/bench.rs`); rerun it to reproduce. The \
             numbers are one run on the machine below, not guarantees: nothing in the test suite asserts a \
             timing.\n\n\
             {table}\n\
             ## Machine\n\n\
             - date: {date}\n\
             - CPU: {cpu}\n\
             - cores: {cores}\n\
             - memory: {memory}\n\
             - OS: {os}\n\
             - rustc: {rustc}\n\
             - commit: {commit}\n\
             - server binary measured: {server}\n\
             - default build, for the rows that compare it: {default_build}\n\
             - load average when the bench started: {load} (the machine may be shared; other work competes \
             for the same cores)\n\n\
             ## How it is measured\n\n\
             - Release binaries, in the workspace's release profile (thin LTO, 4 codegen units): the \
             lean server that the targets apply to, `cargo build --release -p databricks-mcp \
             --no-default-features`, which is what an agent connected to a workspace runs; then the \
             default build, `cargo build --release -p databricks-mcp -p databricks-sandbox`, whose server \
             also embeds the sandbox behind `--sandbox` (DataFusion, Arrow and Parquet), for the rows that \
             compare it. One standalone `databricks-sandbox \
             --transition-delay 0` serves every run, so its start-up is never counted; it runs on the same \
             cores. The server gets `DATABRICKS_HOST=<sandbox URL>` and `DATABRICKS_TOKEN=t` and nothing \
             else from `DATABRICKS_*`.\n\
             - The bench is a std-only client: newline-delimited JSON-RPC on the server's pipes, with a \
             thread that timestamps each stdout line as it arrives, and a hand-written HTTP/1.1 keep-alive \
             client (`TcpStream`, `TCP_NODELAY`) for the direct requests.\n\
             - Cold start: from just before spawning the process to `wait()` returning, after \
             `initialize` (protocol {PROTOCOL_VERSION}), `notifications/initialized`, `tools/list` and \
             closing stdin; {COLD_WARMUPS} untimed runs first (so the binary is in the page cache), then \
             {runs} timed runs.\n\
             - Per call: one session; after {CALL_WARMUPS} untimed calls of each kind, {calls} `tools/call \
             get_cluster` calls, each followed by one direct `GET /api/2.1/clusters/get?cluster_id=…` on \
             one kept-alive connection, so machine noise falls on both alike. A call is timed from writing \
             the request to the arrival of its answer.\n\
             - Concurrency: the sandbox delays every `clusters/get` by {DELAY_MS} ms (`POST \
             /__sandbox/faults`); {n} requests are written at once into one fresh session (by a writer \
             thread while answers are read), twice: the first burst opens the HTTP connections, the \
             second finds them pooled. Wall time runs from the first write to the last answer. With a \
             pool of width w the ideal is {DELAY_MS} ms × ceil({n} / w). Every answer that arrives within \
             2 × {DELAY_MS} ms was in flight together with all the others that did (each started before \
             {DELAY_MS} ms and lasted at least {DELAY_MS} ms), so their count bounds the concurrency from \
             below; {n} × {DELAY_MS} ms ÷ the best wall time is the concurrency by throughput.\n\
             - Memory: `VmHWM` (peak resident set) of the server process from `/proc/<pid>/status`, with \
             `RssAnon` and `RssFile` at the same moment, each in a fresh process: idle 200 ms after \
             `tools/list`; after the sequential calls; after both bursts; and after `execute_sql` of \
             `{LARGE_SQL}` (the sandbox computes it on DataFusion; the server renders a budgeted page of \
             it). File-backed pages are the binary's code and data as mapped from disk: shared with the \
             page cache and reclaimable, but counted in RSS. The sandbox is a separate process and is not \
             counted.\n\
             - Context cost: the bytes of the `tools/list` result object as compact JSON, and bytes ÷ 4 \
             as a rough token count.\n",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let stats = Stats::of((1..=10).rev().map(Duration::from_millis).collect());
        assert_eq!(stats.p(0), Duration::from_millis(1));
        assert_eq!(stats.p(50), Duration::from_millis(5));
        assert_eq!(stats.p(90), Duration::from_millis(9));
        assert_eq!(stats.p(99), Duration::from_millis(10));
        assert_eq!(stats.p(100), Duration::from_millis(10));
        let one = Stats::of(vec![Duration::from_millis(7)]);
        assert_eq!(one.p(50), Duration::from_millis(7));
    }

    #[test]
    fn only_answers_within_two_delays_count_as_in_flight_together() {
        let at = |ms: u64| Duration::from_millis(ms);
        assert_eq!(Burst::in_flight(&[at(50), at(60), at(99), at(100), at(150)]), 3);
        assert_eq!(Burst::in_flight(&[]), 0);
    }
}
