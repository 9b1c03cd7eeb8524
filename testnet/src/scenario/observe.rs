//! What a real run records and asks of its nodes as it goes: each node's
//! event stream, followed across restarts, and the private fork's payment,
//! watched until the merchant sees it confirmed and checked at the end.

use super::format::Scenario;
use super::real::first_honest;
use crate::local::{self, State};
use anyhow::Result;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Writes each node's event stream (`GET /events`: blocks produced and
/// imported, reorgs, finality, evidence) to `out/events-nN.jsonl`, one JSON
/// object a line with the time it arrived, until the node stops. One thread a
/// node.
pub(super) fn record_events(dir: &Path, out: &Path) -> Result<Arc<AtomicBool>> {
    use std::io::Write;
    let done = Arc::new(AtomicBool::new(false));
    let state = State::load(dir)?;
    for (i, n) in state.nodes.into_iter().enumerate() {
        let mut file = std::io::BufWriter::new(std::fs::File::create(
            out.join(format!("events-{}.jsonl", n.name)),
        )?);
        crate::ui::watch::follow_events(dir, i, done.clone(), move |data| {
            let at = generals_node::driver::now_ms();
            let _ = writeln!(file, "{{\"at_ms\":{at},\"event\":{data}}}");
            let _ = file.flush();
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
