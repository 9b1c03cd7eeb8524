//! Four BFT nodes on this machine (`up --bft-timeouts ...,0`): the time from
//! a transfer's submission to the import of the decided block that holds it,
//! at light load (one transfer at a time, read off the node's event stream),
//! and the transfers committed a second under a batched overload (`load`).

use crate::local::LOAD_ACCOUNTS;
use anyhow::{bail, Context, Result};
use generals_chain::{Action, Hash, Keypair, TxBody};
use std::io::BufRead;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn testnet(args: &[&str]) -> Result<std::process::Output> {
    let exe = std::env::current_exe().context("this program's path")?;
    let out = Command::new(exe)
        .args(args)
        .output()
        .with_context(|| format!("running generals-testnet {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "generals-testnet {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Stops the bench's testnet however the bench ends.
struct Down<'a>(&'a str);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = testnet(&["down", "--dir", self.0]);
    }
}

/// What the nodes did.
#[derive(Debug, Clone)]
pub struct Nodes {
    /// Submission to import of its decided block, one transfer at a time (ms).
    pub finality_ms: Vec<f64>,
    /// Committed transfers a second under overload.
    pub committed_tps: f64,
    pub submitted: u64,
    pub load_seconds: f64,
}

pub fn measure(tmp: &Path, probes: usize, load_for: &str) -> Result<Nodes> {
    let dir = tmp.join("tn");
    let dir = dir.to_str().context("a UTF-8 temporary path")?.to_string();
    testnet(&[
        "up",
        "--nodes",
        "4",
        "--consensus",
        "bft",
        "--bft-timeouts",
        "1000,500,0",
        "--detach",
        "--no-ui",
        "--quiet",
        "--dir",
        &dir,
    ])?;
    let _down = Down(&dir);
    let state = crate::local::State::load(Path::new(&dir))?;
    let api = state.nodes[0].api.clone();
    let chain_id = state.chain_id.clone();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("HTTP client")?;
    let finality_ms = probe(&http, &api, &chain_id, probes)?;
    let out = testnet(&[
        "load",
        "--dir",
        &dir,
        "--tps",
        "10000",
        "--duration",
        load_for,
        "--batch",
        "64",
        "--senders",
        "2",
        "--settle",
        "30s",
        "--json",
    ])?;
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("the load report")?;
    Ok(Nodes {
        finality_ms,
        committed_tps: report["included_tps"].as_f64().unwrap_or(0.0),
        submitted: report["submitted"].as_u64().unwrap_or(0),
        load_seconds: report["duration_s"].as_f64().unwrap_or(0.0),
    })
}

/// Heights of blocks as node `api` imports them, with when this program
/// read each from the node's event stream.
fn imports(api: &str) -> Result<mpsc::Receiver<(u64, Instant)>> {
    let stream = reqwest::blocking::Client::builder()
        .build()
        .context("HTTP client")?
        .get(format!("{api}/events"))
        .send()
        .context("opening the node's event stream")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let at = Instant::now();
            let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
                continue;
            };
            if v["event"] == "block_imported" {
                if let Some(h) = v["height"].as_u64() {
                    if tx.send((h, at)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(rx)
}

/// Sends `n` transfers one at a time to `api`; for each, the time from
/// sending it to the node's import of the block that holds it.
fn probe(
    http: &reqwest::blocking::Client,
    api: &str,
    chain_id: &str,
    n: usize,
) -> Result<Vec<f64>> {
    let key = Keypair::dev(&format!("load-{}", LOAD_ACCOUNTS - 1));
    let to = Keypair::dev("load-0").public();
    let account: serde_json::Value = http
        .get(format!("{api}/account/{}", key.public()))
        .send()?
        .json()?;
    let first = account["next_nonce"].as_u64().unwrap_or(0);
    let events = imports(api)?;
    let mut out = Vec::with_capacity(n);
    for nonce in first..first + n as u64 {
        // A pause, so each transfer meets the chain at a random point of
        // its height.
        std::thread::sleep(Duration::from_millis(20 + (nonce * 7919) % 40));
        while events.try_recv().is_ok() {}
        let tx = TxBody {
            chain_id: chain_id.to_string(),
            sender: key.public(),
            nonce,
            fee: 1,
            action: Action::Transfer { to, amount: 1 },
        }
        .sign(&key);
        let hash = tx.hash();
        let sent = Instant::now();
        let r = http
            .post(format!("{api}/tx"))
            .json(&serde_json::json!({ "tx": tx }))
            .send()
            .context("submitting a probe")?;
        if !r.status().is_success() {
            bail!("the node refused a probe: {}", r.text().unwrap_or_default());
        }
        let deadline = sent + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (height, at) = events
                .recv_timeout(left)
                .context("no block held a probe within 30 s")?;
            if holds(http, api, height, &hash)? {
                out.push(at.duration_since(sent).as_secs_f64() * 1e3);
                break;
            }
        }
    }
    Ok(out)
}

fn holds(http: &reqwest::blocking::Client, api: &str, height: u64, hash: &Hash) -> Result<bool> {
    let b: serde_json::Value = http.get(format!("{api}/block/{height}")).send()?.json()?;
    let want = hash.to_string();
    Ok(b["transactions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["hash"].as_str() == Some(&want)))
}
