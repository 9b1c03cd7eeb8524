//! What a real run records and asks of its nodes as it goes: each node's
//! event stream, followed across restarts, and the private fork's payment,
//! watched until the merchant sees it confirmed and checked at the end.

use super::format::Scenario;
use super::real::first_honest;
use crate::local::{self, State};
use anyhow::Result;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Writes each node's event stream (`GET /events`: blocks produced and
/// imported, reorgs, finality, evidence) to `out/events-nN.jsonl`, one JSON
/// object a line with the time it arrived, until the node stops. One thread a
/// node.
pub(super) fn record_events(dir: &Path, out: &Path) -> Result<Arc<AtomicBool>> {
    use std::io::{BufRead, Write};
    let done = Arc::new(AtomicBool::new(false));
    let state = State::load(dir)?;
    for (i, n) in state.nodes.into_iter().enumerate() {
        let mut file = std::io::BufWriter::new(std::fs::File::create(
            out.join(format!("events-{}.jsonl", n.name)),
        )?);
        let (dir, done) = (dir.to_path_buf(), done.clone());
        std::thread::spawn(move || {
            let Ok(client) = reqwest::blocking::Client::builder().timeout(None).build() else {
                return;
            };
            // A killed and restarted node is followed again, at the API its
            // new process has.
            while !done.load(Ordering::Relaxed) {
                let api = State::load(&dir)
                    .ok()
                    .and_then(|s| s.nodes.get(i).map(|x| x.api.clone()))
                    .unwrap_or_else(|| n.api.clone());
                if let Ok(r) = client.get(format!("{api}/events")).send() {
                    for line in std::io::BufReader::new(r).lines() {
                        let Ok(line) = line else { break };
                        if done.load(Ordering::Relaxed) {
                            return;
                        }
                        if let Some(data) = line.strip_prefix("data:") {
                            let at = generals_node::driver::now_ms();
                            let _ = writeln!(file, "{{\"at_ms\":{at},\"event\":{}}}", data.trim());
                            let _ = file.flush();
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
    }
    Ok(done)
}

/// Whether the first honest node holds a private-fork attacker's payment with
/// 2 confirmations (the merchant's, as `up` sets them).
pub(super) fn payment_confirmed(dir: &Path, reference: usize) -> bool {
    let Ok(state) = State::load(dir) else {
        return false;
    };
    let Some(n) = state.nodes.get(reference) else {
        return false;
    };
    local::payments(&state).iter().any(|(_, hash)| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()
            .and_then(|c| c.get(format!("{}/tx/{hash}", n.api)).send().ok())
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|t| t["confirmations"].as_u64())
            .is_some_and(|c| c >= 2)
    })
}

/// Whether the private-fork attackers' payments are gone from the first
/// honest node's chain (none when no node runs a private fork).
pub(super) fn double_spend(s: &Scenario, dir: &Path) -> Result<Option<bool>> {
    if !s.nodes.iter().any(|n| n.role == "private-fork") {
        return Ok(None);
    }
    let state = State::load(dir)?;
    let api = &state.nodes[first_honest(s)].api;
    let mut reverted = true;
    for (_, hash) in local::payments(&state) {
        let t: Value = reqwest::blocking::get(format!("{api}/tx/{hash}"))
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        reverted &= t["error"]
            .as_str()
            .is_some_and(|e| e.contains("no transaction"));
    }
    Ok(Some(reverted))
}
