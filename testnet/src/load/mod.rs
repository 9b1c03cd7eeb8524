//! `generals-testnet load`: signed transfers between the testnet's funded load
//! accounts at a steady rate, spread over the nodes; then how many were taken,
//! included and final, the rate included, and the latency to inclusion and to
//! finality (p50, p99). For proof of work a block is taken as final once
//! `--final-depth` blocks stand on it (itself counted); under BFT a block is
//! final once decided (depth 1). The same run measures this machine's
//! single-signature verify rate (ed25519 `verify_strict` on one core), and
//! reports the rate included against it.
//!
//! It follows the testnet as it changes (`nodes`): an account's transfers go
//! to its node, or to the next live one while that node is down, and blocks
//! are read from any live node. At the end every accepted transfer not yet
//! seen in a block is looked up on a live node, so the counts agree with the
//! chain after kills and restarts (those found late count as included, but
//! not in the latencies).

mod nodes;

use crate::local::{State, LOAD_ACCOUNTS};
use anyhow::{bail, Context, Result};
use generals_chain::{Action, Hash, Keypair, Transaction, TxBody};
use nodes::Nodes;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Transfers per second.
    #[arg(long, default_value_t = 10.0)]
    tps: f64,
    /// How long to send, e.g. 30s or 2m.
    #[arg(long, default_value = "30s")]
    duration: String,
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
    /// Blocks on top of a transaction's block (itself counted) for it to be
    /// final (default 6; 1 on a BFT testnet, where a decided block is final).
    #[arg(long)]
    final_depth: Option<u64>,
    /// Parallel senders, each with its own share of the 64 load accounts and
    /// of the rate.
    #[arg(long, default_value_t = 8)]
    senders: usize,
    /// Transactions per HTTP request: 1 sends each as JSON to `POST /tx`;
    /// more go together as the codec's bytes to `POST /txs` (each from a
    /// different account of the sender, so at most its share of the 64).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    batch: u64,
    /// How long to wait, after sending, for what is not final yet.
    #[arg(long, default_value = "60s")]
    settle: String,
    #[arg(long)]
    json: bool,
    /// Stop sending once this file exists (a scenario's stop-workload step).
    #[arg(long, hide = true)]
    stop_file: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub submitted: usize,
    pub accepted: usize,
    pub included: usize,
    pub final_: usize,
    pub duration_s: f64,
    pub included_tps: f64,
    pub inclusion_p50_ms: Option<u64>,
    pub inclusion_p99_ms: Option<u64>,
    pub finality_p50_ms: Option<u64>,
    pub finality_p99_ms: Option<u64>,
    /// Single signatures verified per second on one core, in this run.
    pub verify_per_s: f64,
    /// Transactions included per second over the verify rate.
    pub included_to_verify: f64,
}

/// Sends `txs` to `api`: one by one as JSON to `/tx`, or all at once as the
/// codec's bytes to `/txs`. Each transaction's refusal, if any, in order; an
/// error if the node did not answer.
fn send(
    c: &reqwest::blocking::Client,
    api: &str,
    txs: &[Transaction],
    batch: bool,
) -> Result<Vec<Option<String>>, String> {
    if !batch {
        return txs
            .iter()
            .map(|tx| {
                let r = c
                    .post(format!("{api}/tx"))
                    .json(&serde_json::json!({ "tx": tx }))
                    .send()
                    .map_err(|e| e.to_string())?;
                Ok(if r.status().is_success() {
                    None
                } else {
                    Some(r.text().unwrap_or_default())
                })
            })
            .collect();
    }
    let r = c
        .post(format!("{api}/txs"))
        .header("content-type", "application/octet-stream")
        .body(generals_chain::codec::encode(&txs.to_vec()))
        .send()
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        let why = r.text().unwrap_or_default();
        return Ok(txs.iter().map(|_| Some(why.clone())).collect());
    }
    let answer: serde_json::Value = r.json().map_err(|e| e.to_string())?;
    let results = answer["results"].as_array().cloned().unwrap_or_default();
    Ok((0..txs.len())
        .map(|i| match results.get(i) {
            Some(item) if item["hash"].is_string() => None,
            Some(item) => Some(item["error"].as_str().unwrap_or("refused").to_string()),
            None => Some("no answer for it".to_string()),
        })
        .collect())
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .with_context(|| format!("--duration {s:?}: expected e.g. 30s or 2m"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "ms" => return Ok(Duration::from_millis(n)),
        _ => bail!("--duration {s:?}: the units are ms, s and m"),
    };
    Ok(Duration::from_secs(secs))
}

fn percentile(v: &mut [u64], p: f64) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    Some(v[i.min(v.len() - 1)])
}

struct Tracked {
    sent: Instant,
    included: Option<(u64, Instant)>,
    finalized: Option<Instant>,
    /// Found in a block, or final, only by the last look-up: no latency
    /// is known.
    late: bool,
    late_final: bool,
}

pub fn run(args: LoadArgs) -> Result<()> {
    if !(args.tps > 0.0 && args.tps <= 10_000.0) {
        bail!("--tps must be above 0 and at most 10000");
    }
    let duration = parse_duration(&args.duration)?;
    let stop_file = args.stop_file.clone();
    let sending = |start: Instant| {
        start.elapsed() < duration && !stop_file.as_ref().is_some_and(|f| f.exists())
    };
    if duration.is_zero() || duration > Duration::from_secs(3600) {
        bail!("--duration must be above 0 and at most an hour");
    }
    let settle = parse_duration(&args.settle)?;
    if settle > Duration::from_secs(3600) {
        bail!("--settle must be at most an hour");
    }
    let state = State::load(&args.dir)?;
    let depth = args
        .final_depth
        .unwrap_or(if ["bft", "pbft"].contains(&state.consensus.as_str()) {
            1
        } else {
            6
        })
        .max(1);
    let verify_per_s = crate::bench::machine::verify_rate(Duration::from_millis(500));
    let nodes = Nodes::new(args.dir.clone(), state.nodes.len());
    let apis = nodes.live();
    if apis.is_empty() {
        bail!(
            "no node of the testnet in {} is running",
            args.dir.display()
        );
    }
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("HTTP client")?;
    let get = |url: String| -> Option<serde_json::Value> { c.get(url).send().ok()?.json().ok() };
    let watch = apis[0].clone();
    // The height of a live node's chain, and the node.
    let live_tip = || {
        nodes.live().into_iter().find_map(|api| {
            let h = get(format!("{api}/status")).and_then(|s| s["height"].as_u64())?;
            Some((api, h))
        })
    };
    let keys: Vec<Keypair> = (0..LOAD_ACCOUNTS)
        .map(|i| Keypair::dev(&format!("load-{i}")))
        .collect();
    let mut nonces: Vec<u64> = Vec::with_capacity(keys.len());
    for k in &keys {
        let a = get(format!("{watch}/account/{}", k.public()))
            .context("the first node does not answer")?;
        nonces.push(a["next_nonce"].as_u64().unwrap_or(0));
    }
    let tracked: Mutex<HashMap<Hash, Tracked>> = Mutex::new(HashMap::new());
    let mut seen_height = get(format!("{watch}/status"))
        .and_then(|s| s["height"].as_u64())
        .unwrap_or(0);
    let poll = |seen_height: &mut u64| {
        let Some((watch, tip)) = live_tip() else {
            nodes.stale();
            return;
        };
        let mut blocks = Vec::new();
        for h in *seen_height + 1..=tip {
            if let Some(b) = get(format!("{watch}/block/{h}")) {
                blocks.push((h, b));
            }
        }
        let now = Instant::now();
        let mut tracked = tracked.lock().expect("tracked");
        for (h, b) in blocks {
            for t in b["transactions"].as_array().into_iter().flatten() {
                if let Some(x) = t["hash"]
                    .as_str()
                    .and_then(|s| s.parse::<Hash>().ok())
                    .and_then(|h| tracked.get_mut(&h))
                {
                    if x.included.is_none() {
                        x.included = Some((h, now));
                    }
                }
            }
        }
        *seen_height = (*seen_height).max(tip);
        for x in tracked.values_mut() {
            if let (Some((h, _)), None) = (x.included, x.finalized) {
                if tip + 1 >= h + depth {
                    x.finalized = Some(now);
                }
            }
        }
    };
    // Senders work in parallel, each on its own accounts (so each account's
    // nonces go out in order), at an equal share of the rate, round the nodes.
    let senders = args.senders.clamp(1, keys.len());
    let start = Instant::now();
    let submitted = AtomicUsize::new(0);
    let first_refusal: Mutex<Option<String>> = Mutex::new(None);
    let chain_id = state.chain_id.clone();
    std::thread::scope(|scope| {
        for w in 0..senders {
            let (keys, nonces, nodes, c) = (&keys, &nonces, &nodes, &c);
            let (tracked, submitted, chain_id) = (&tracked, &submitted, &chain_id);
            let first_refusal = &first_refusal;
            scope.spawn(move || {
                let mine: Vec<usize> = (w..keys.len()).step_by(senders).collect();
                let mut nonce: Vec<u64> = mine.iter().map(|&i| nonces[i]).collect();
                // Each tick sends one batch, one transaction per account.
                let batch = (args.batch as usize).min(mine.len());
                let interval = Duration::from_secs_f64((senders * batch) as f64 / args.tps);
                // Staggered so the senders do not fire together.
                let mut next = start + interval.mul_f64(w as f64 / senders as f64);
                let mut n = 0usize;
                while sending(start) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep(next - now);
                        continue;
                    }
                    next += interval;
                    let picks: Vec<usize> = (0..batch).map(|t| (n + t) % mine.len()).collect();
                    n += batch;
                    // A sender's transactions all go to one node, so each
                    // account's nonces never reach a node out of order
                    // (while that node is down, to the next live one).
                    let Some(api) = nodes.api_for(mine[0]) else {
                        nodes.stale();
                        continue;
                    };
                    let txs: Vec<Transaction> = picks
                        .iter()
                        .map(|&j| {
                            let i = mine[j];
                            TxBody {
                                chain_id: chain_id.clone(),
                                sender: keys[i].public(),
                                nonce: nonce[j],
                                fee: 1,
                                action: Action::Transfer {
                                    to: keys[(i + 1) % keys.len()].public(),
                                    amount: 1,
                                },
                            }
                            .sign(&keys[i])
                        })
                        .collect();
                    submitted.fetch_add(txs.len(), Ordering::Relaxed);
                    let answers = send(c, &api, &txs, args.batch > 1);
                    let answers = match answers {
                        Ok(a) => a,
                        Err(e) => {
                            nodes.stale();
                            first_refusal.lock().expect("refusal").get_or_insert(e);
                            continue;
                        }
                    };
                    for ((j, tx), answer) in picks.iter().zip(&txs).zip(answers) {
                        // A repeat after a timeout finds its transaction
                        // known: then the first try got through.
                        let ok = match answer {
                            None => true,
                            Some(why) => {
                                let known = why.contains("already in the mempool");
                                if !known {
                                    first_refusal.lock().expect("refusal").get_or_insert(why);
                                }
                                known
                            }
                        };
                        if ok {
                            nonce[*j] += 1;
                            tracked.lock().expect("tracked").insert(
                                tx.hash(),
                                Tracked {
                                    sent: now,
                                    included: None,
                                    finalized: None,
                                    late: false,
                                    late_final: false,
                                },
                            );
                        }
                    }
                }
            });
        }
        while sending(start) {
            std::thread::sleep(Duration::from_millis(250));
            poll(&mut seen_height);
        }
    });
    let submitted = submitted.into_inner();
    // Wait for what is still open, for at most `--settle`.
    let sent_for = start.elapsed();
    let deadline = Instant::now() + settle;
    let open = || {
        tracked
            .lock()
            .expect("tracked")
            .values()
            .any(|t| t.finalized.is_none())
    };
    while open() && Instant::now() < deadline {
        poll(&mut seen_height);
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut tracked = tracked.into_inner().expect("tracked");
    reconcile(&mut tracked, &nodes, &get, depth);
    let included = tracked.values().filter(|t| t.included.is_some()).count();
    let finals = tracked.values().filter(|t| t.finalized.is_some()).count();
    let mut inclusion: Vec<u64> = tracked
        .values()
        .filter(|t| !t.late)
        .filter_map(|t| {
            t.included
                .map(|(_, at)| at.duration_since(t.sent).as_millis() as u64)
        })
        .collect();
    let mut finality: Vec<u64> = tracked
        .values()
        .filter(|t| !t.late_final)
        .filter_map(|t| {
            t.finalized
                .map(|at| at.duration_since(t.sent).as_millis() as u64)
        })
        .collect();
    let report = LoadReport {
        submitted,
        accepted: tracked.len(),
        included,
        final_: finals,
        duration_s: sent_for.as_secs_f64(),
        included_tps: included as f64 / sent_for.as_secs_f64(),
        inclusion_p50_ms: percentile(&mut inclusion, 0.5),
        inclusion_p99_ms: percentile(&mut inclusion, 0.99),
        finality_p50_ms: percentile(&mut finality, 0.5),
        finality_p99_ms: percentile(&mut finality, 0.99),
        verify_per_s,
        included_to_verify: included as f64 / sent_for.as_secs_f64() / verify_per_s,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{:.2} s", v as f64 / 1000.0));
    println!(
        "load over {:.1} s at {} tx/s across {} nodes",
        report.duration_s,
        args.tps,
        state.nodes.len()
    );
    println!("submitted          {}", report.submitted);
    println!("accepted           {}", report.accepted);
    if let Some(why) = first_refusal.into_inner().expect("refusal") {
        println!("first refusal      {}", why.trim());
    }
    println!("included           {}", report.included);
    println!("final ({depth} deep)     {}", report.final_);
    println!("included per sec   {:.1}", report.included_tps);
    println!(
        "to inclusion       p50 {}  p99 {}",
        ms(report.inclusion_p50_ms),
        ms(report.inclusion_p99_ms)
    );
    println!(
        "to finality        p50 {}  p99 {}",
        ms(report.finality_p50_ms),
        ms(report.finality_p99_ms)
    );
    println!(
        "verify rate        {:.0} signatures/s on one core (this run); included/verify {:.3}",
        report.verify_per_s, report.included_to_verify
    );
    Ok(())
}

/// Looks up, on a live node, every accepted transfer not yet seen in a block
/// (a block read from a node that was then killed, or reorganised away and
/// back): what the chain holds is what is counted.
fn reconcile(
    tracked: &mut HashMap<Hash, Tracked>,
    nodes: &Nodes,
    get: &dyn Fn(String) -> Option<serde_json::Value>,
    depth: u64,
) {
    let open: Vec<Hash> = tracked
        .iter()
        .filter(|(_, t)| t.finalized.is_none())
        .map(|(h, _)| *h)
        .collect();
    let now = Instant::now();
    for hash in open {
        let Some(found) = nodes
            .live()
            .into_iter()
            .find_map(|api| get(format!("{api}/tx/{hash}")))
        else {
            continue;
        };
        let (Some(height), Some(confirmations)) =
            (found["height"].as_u64(), found["confirmations"].as_u64())
        else {
            continue;
        };
        if let Some(t) = tracked.get_mut(&hash) {
            if t.included.is_none() {
                t.included = Some((height, now));
                t.late = true;
            }
            if confirmations >= depth && t.finalized.is_none() {
                t.finalized = Some(now);
                t.late_final = true;
            }
        }
    }
}
