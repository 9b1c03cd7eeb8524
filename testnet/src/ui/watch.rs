//! What feeds a live page: an `info` line (the mechanism, each node's name,
//! key and role, the scenario's timeline), each node's fork tree as it stood
//! when the page started, each node's event stream (followed across
//! restarts), and each node's status once a second (height, peers, tip, and
//! whether its process runs, is paused or has stopped). A tip the page has not
//! seen is fetched from the node's `/tree`.

use super::hub::Hub;
use crate::local::{self, State};
use anyhow::Result;
use generals_node::config::Home;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Steps taken by hand, one JSON line each (`ui::note`).
pub const STEPS: &str = "steps.jsonl";

/// Blocks below a tip the page has not seen that are fetched with it.
const CATCH_UP: u64 = 500;

/// Stops the threads that feed the page when dropped.
#[derive(Debug)]
pub struct Watch {
    done: Arc<AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Starts feeding `hub` from the testnet in `dir`. `timeline` is the
/// scenario's steps (when, what).
pub fn watch(dir: &Path, hub: Arc<Hub>, timeline: &[(String, String)]) -> Result<Watch> {
    let state = State::load(dir)?;
    hub.push(None, info(&state, timeline));
    let client = client(Duration::from_secs(5))?;
    for (i, n) in state.nodes.iter().enumerate() {
        catch_up(&client, &hub, &n.api, i, 0);
    }
    let done = Arc::new(AtomicBool::new(false));
    for i in 0..state.nodes.len() {
        let hub = hub.clone();
        follow_events(dir, i, done.clone(), move |data| {
            if let Ok(v) = serde_json::from_str::<Value>(data) {
                hub.push(Some(i), v);
            }
        });
    }
    let (dir, stop) = (dir.to_path_buf(), done.clone());
    // A scenario's runner puts its own steps on the page; by hand, the
    // testnet's commands note theirs.
    let by_hand = timeline.is_empty();
    std::thread::spawn(move || poll(&dir, &hub, &stop, by_hand));
    Ok(Watch { done })
}

fn client(timeout: Duration) -> Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()?)
}

pub(super) fn info(state: &State, timeline: &[(String, String)]) -> Value {
    let roles = local::roles(state);
    let nodes: Vec<Value> = state
        .nodes
        .iter()
        .zip(roles)
        .map(|(n, role)| {
            let key = Home::new(&n.home).validator().ok().map(|k| k.public());
            json!({"name": n.name, "key": key, "role": role, "api": n.api})
        })
        .collect();
    let timeline: Vec<Value> = timeline
        .iter()
        .map(|(at, what)| json!({"at": at, "what": what}))
        .collect();
    json!({
        "event": "info",
        "consensus": state.consensus,
        "chain_id": state.chain_id,
        "nodes": nodes,
        "timeline": timeline,
    })
}

/// Calls `on` with each event (`data:` of `GET /events`) of node `i`, on a
/// thread of its own, until `done`; a restarted node is followed at the API
/// its new process has.
pub fn follow_events(
    dir: &Path,
    i: usize,
    done: Arc<AtomicBool>,
    mut on: impl FnMut(&str) + Send + 'static,
) {
    use std::io::BufRead;
    let dir: PathBuf = dir.to_path_buf();
    std::thread::spawn(move || {
        let Ok(client) = reqwest::blocking::Client::builder().timeout(None).build() else {
            return;
        };
        while !done.load(Ordering::Relaxed) {
            let api = State::load(&dir)
                .ok()
                .and_then(|s| s.nodes.get(i).map(|x| x.api.clone()));
            if let Some(Ok(r)) = api.map(|api| client.get(format!("{api}/events")).send()) {
                for line in std::io::BufReader::new(r).lines() {
                    let Ok(line) = line else { break };
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Some(data) = line.strip_prefix("data:") {
                        on(data.trim());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
}

/// Adds node `i`'s blocks from height `from` that the page lacks.
fn catch_up(client: &reqwest::blocking::Client, hub: &Hub, api: &str, i: usize, from: u64) {
    let Ok(tree) = client
        .get(format!("{api}/tree?from={from}"))
        .send()
        .and_then(|r| r.json::<Value>())
    else {
        return;
    };
    let bft = tree["consensus"] == "bft" || tree["consensus"] == "pbft";
    for b in tree["blocks"].as_array().into_iter().flatten() {
        let Some(hash) = b["hash"].as_str() else {
            continue;
        };
        // An undecided BFT proposal is no block of the chain.
        if bft && b["main_chain"] != true {
            continue;
        }
        if !hub.knows(hash) {
            let mut line = json!({
                "event": "imported", "hash": hash, "parent": b["parent"],
                "height": b["height"], "producer": b["producer"],
                "main_chain": b["main_chain"],
            });
            if b["in_turn"].is_boolean() {
                line["in_turn"] = b["in_turn"].clone();
            }
            hub.push(None, line);
            if b["invalid"] == true {
                hub.push(
                    Some(i),
                    json!({"event": "invalid", "hash": hash, "reason": "refused"}),
                );
            }
            if b["withheld"] == true {
                hub.push(
                    Some(i),
                    json!({"event": "withheld", "hash": hash, "height": b["height"]}),
                );
            }
        }
    }
    for mark in ["finalized", "justified"] {
        if let Some(h) = tree[mark].as_str() {
            hub.push(Some(i), json!({"event": mark, "hash": h}));
        }
    }
}

/// Puts the steps noted after byte `from` of `steps.jsonl` on the page;
/// returns where it stopped reading.
fn new_steps(dir: &Path, hub: &Hub, from: u64) -> u64 {
    use std::io::{Read, Seek};
    let Ok(mut f) = std::fs::File::open(dir.join(STEPS)) else {
        return from;
    };
    // A file cut shorter is read again from its start.
    let len = f.metadata().map_or(0, |m| m.len());
    let from = if len < from { 0 } else { from };
    let mut bytes = Vec::new();
    // At most 64 KiB a second: a file grown by hand is read in pieces.
    if f.seek(std::io::SeekFrom::Start(from)).is_err()
        || (&mut f).take(64 << 10).read_to_end(&mut bytes).is_err()
    {
        return from;
    }
    let end = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) => i + 1,
        // A full piece with no line end is no step: passed over.
        None if bytes.len() == 64 << 10 => return from + bytes.len() as u64,
        None => return from,
    };
    for line in String::from_utf8_lossy(&bytes[..end]).lines() {
        if let Some(what) = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v["what"].as_str().map(String::from))
        {
            hub.push(None, json!({"event": "step", "what": what}));
        }
    }
    from + end as u64
}

/// Whether a process runs, is stopped by a signal (paused) or is gone.
pub fn process_state(pid: u32) -> &'static str {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return "stopped";
    };
    match stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next())
    {
        Some('T' | 't') => "paused",
        Some('Z' | 'X') | None => "stopped",
        Some(_) => "running",
    }
}

/// Where a node's finality stands, as its status says: proof of stake's
/// finalized and justified heights, or the BFT round and step.
fn finality(st: &Value) -> String {
    let (pos, bft) = (&st["pos"], &st["bft"]);
    if pos.is_object() {
        let h = |k: &str| pos[k].as_u64().map_or("-".into(), |h| h.to_string());
        format!(
            "final {}, justified {}",
            h("finalized_height"),
            h("justified_height")
        )
    } else if st["pbft"].is_object() {
        let v = &st["pbft"];
        format!(
            "view {} {}, checkpoint {}",
            v["view"].as_u64().unwrap_or(0),
            bft["step"].as_str().unwrap_or(""),
            v["stable_checkpoint"].as_u64().unwrap_or(0)
        )
    } else if bft.is_object() {
        format!(
            "round {} {}",
            bft["round"].as_u64().unwrap_or(0),
            bft["step"].as_str().unwrap_or("")
        )
    } else {
        String::new()
    }
}

fn poll(dir: &Path, hub: &Hub, done: &AtomicBool, by_hand: bool) {
    let Ok(client) = client(Duration::from_millis(700)) else {
        return;
    };
    let mut last: Vec<Value> = Vec::new();
    // Steps noted before the page started are not its news.
    let mut seen = std::fs::metadata(dir.join(STEPS)).map_or(0, |m| m.len());
    while !done.load(Ordering::Relaxed) {
        if by_hand {
            seen = new_steps(dir, hub, seen);
        }
        if let Ok(state) = State::load(dir) {
            last.resize(state.nodes.len(), Value::Null);
            for (i, n) in state.nodes.iter().enumerate() {
                let mut s = json!({"event": "status", "state": n.state()});
                if s["state"] == "running" {
                    match client
                        .get(format!("{}/status", n.api))
                        .send()
                        .and_then(|r| r.json::<Value>())
                    {
                        Ok(st) => {
                            let tip = st["tip"].as_str().unwrap_or("");
                            let height = st["height"].as_u64().unwrap_or(0);
                            if !tip.is_empty() && !hub.knows(tip) {
                                let from = height.saturating_sub(CATCH_UP);
                                catch_up(&client, hub, &n.api, i, from);
                            }
                            s["height"] = st["height"].clone();
                            s["peers"] = st["peers"].clone();
                            s["tip"] = st["tip"].clone();
                            s["finality"] = finality(&st).into();
                        }
                        Err(_) => s["state"] = "unreachable".into(),
                    }
                }
                if s != last[i] {
                    hub.push(Some(i), s.clone());
                    last[i] = s;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1_000));
    }
}
