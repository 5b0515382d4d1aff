//! Load in one stdio session: 10,000 sequential and 1,000 concurrent tool calls
//! against a sandbox, all answered without error, and the server's memory bounded
//! (read from /proc, so on Linux only).
//!
//! The bounds are for the server's debug build (the sandbox runs apart): peak
//! RSS under [`PEAK_RSS_BOUND_MIB`], and no more than [`GROWTH_BOUND_MIB`] of growth
//! between the first 1,000 sequential calls and the last, which is what a leak of
//! even one kilobyte a call would exceed. No timing is asserted; the elapsed times
//! are printed for the curious.

use std::time::Instant;

use std::sync::Arc;

use databricks_mcp_tests::{Sandbox, Session, call, text};
use serde_json::{Value, json};

const SEQUENTIAL: usize = 10_000;
const CONCURRENT: usize = 1_000;
const PEAK_RSS_BOUND_MIB: f64 = 256.0;
const GROWTH_BOUND_MIB: f64 = 8.0;

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

async fn get_cluster(session: &Session, id: &str) -> Result<(), String> {
    let result = call(session, "get_cluster", json!({"cluster_id": id})).await.map_err(|e| e.to_string())?;
    if result.is_error == Some(true) {
        return Err(text(&result));
    }
    match result.structured_content.as_ref().and_then(|s| s.get("cluster_id")).and_then(Value::as_str) {
        Some(got) if got == id => Ok(()),
        _ => Err(format!("another answer: {}", text(&result))),
    }
}

#[tokio::test]
async fn ten_thousand_sequential_and_a_thousand_concurrent_calls_in_one_session() {
    let sandbox = Arc::new(Sandbox::start().await.expect("sandbox"));
    let session = sandbox.serve(&[]).await.expect("session");
    let pid = session.pid();

    let listing = call(&session, "list_clusters", json!({})).await.expect("list_clusters");
    let listing = listing.structured_content.expect("structured");
    let id = listing["clusters"][0]["cluster_id"].as_str().expect("a cluster").to_string();

    let started = Instant::now();
    let mut after_warm_up = None;
    for i in 0..SEQUENTIAL {
        if let Err(e) = get_cluster(&session, &id).await {
            panic!("sequential call {i} failed: {e}");
        }
        if i + 1 == 1_000 {
            after_warm_up = memory_mib(pid);
        }
    }
    let sequential = started.elapsed();
    let after_sequential = memory_mib(pid);

    let started = Instant::now();
    let calls = (0..CONCURRENT).map(|_| get_cluster(&session, &id));
    let failures: Vec<String> = futures::future::join_all(calls).await.into_iter().filter_map(Result::err).collect();
    let concurrent = started.elapsed();
    assert!(failures.is_empty(), "{} of {CONCURRENT} concurrent calls failed, first: {}", failures.len(), failures[0]);
    let after_concurrent = memory_mib(pid);

    eprintln!(
        "{SEQUENTIAL} sequential calls in {:.1} s, {CONCURRENT} concurrent in {:.2} s; RSS/peak MiB after 1,000: \
         {after_warm_up:?}, after {SEQUENTIAL}: {after_sequential:?}, after the concurrent calls: {after_concurrent:?}",
        sequential.as_secs_f64(),
        concurrent.as_secs_f64()
    );
    if let (Some((warm, _)), Some((rss, _)), Some((_, peak))) = (after_warm_up, after_sequential, after_concurrent) {
        assert!(
            rss - warm <= GROWTH_BOUND_MIB,
            "RSS grew by {:.1} MiB over {} sequential calls (from {warm:.1} to {rss:.1} MiB)",
            rss - warm,
            SEQUENTIAL - 1_000
        );
        assert!(peak <= PEAK_RSS_BOUND_MIB, "peak RSS {peak:.1} MiB is above {PEAK_RSS_BOUND_MIB} MiB");
    } else {
        eprintln!("no /proc here: memory not checked");
    }
    let still = call(&session, "get_current_user", json!({})).await.expect("still serving");
    assert_ne!(still.is_error, Some(true), "{}", text(&still));
    session.close().await;
}
