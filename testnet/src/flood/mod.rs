//! `generals-testnet flood`: a hostile peer floods one node of a running
//! testnet (`peer`), and the run reports what that cost: the flooded node's
//! memory (its resident set, sampled every 100 ms, against a bound), the
//! network's block rate during the flood against its rate just before, and
//! how soon each of the peer's identities was cut off. It fails when the
//! memory passes the bound, the block rate falls below its share, or an
//! identity that got connected was never cut off.

mod peer;

use crate::load::parse_duration;
use crate::local::State;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct FloodArgs {
    /// The node to flood (0 is the first).
    #[arg(long, default_value_t = 0)]
    node: usize,
    /// Messages a second.
    #[arg(long, default_value_t = 10_000)]
    rate: u32,
    /// How long to flood, e.g. 60s.
    #[arg(long, default_value = "60s")]
    duration: String,
    /// How long to measure the block rate before the flood (default: as long
    /// as the flood).
    #[arg(long)]
    baseline: Option<String>,
    /// The bound on the flooded node's resident memory, in MiB.
    #[arg(long, default_value_t = 128)]
    max_rss_mib: u64,
    /// The least share of its block rate the network must keep.
    #[arg(long, default_value_t = 0.9)]
    min_block_rate: f64,
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
pub struct FloodReport {
    pub node: usize,
    pub rate: u32,
    pub duration_s: f64,
    /// Messages the identities handed to their transport, and per second.
    pub sent: u64,
    pub sent_per_s: f64,
    /// Messages their own transport refused (its queues full).
    pub dropped: u64,
    pub identities: usize,
    pub connected: usize,
    pub cut_off: usize,
    /// Longest time from connected to cut off, over the identities.
    pub slowest_cut_off_ms: Option<u64>,
    /// The flooded node's `generals_peers_cut_off_total` after the flood.
    pub node_cut_off_total: Option<f64>,
    pub rss_before_mib: f64,
    pub rss_max_mib: f64,
    pub max_rss_mib: u64,
    /// Blocks a second of the network (its highest node) before and during.
    pub blocks_per_s_before: f64,
    pub blocks_per_s_during: f64,
    pub block_rate_kept: f64,
    /// The flooded node's own block rate during the flood over before.
    pub node_block_rate_kept: f64,
    pub min_block_rate: f64,
    pub peers_after: Option<u64>,
    pub held: bool,
    pub identity_log: Vec<peer::Identity>,
}

pub fn run(args: FloodArgs) -> Result<()> {
    if args.rate == 0 || args.rate > 100_000 {
        bail!("--rate must be 1 to 100000 messages a second");
    }
    if !(args.min_block_rate > 0.0 && args.min_block_rate <= 1.0) {
        bail!("--min-block-rate must be above 0 and at most 1");
    }
    let duration = parse_duration(&args.duration)?;
    let baseline = match &args.baseline {
        Some(b) => parse_duration(b)?,
        None => duration,
    };
    if duration < Duration::from_secs(1) || baseline < Duration::from_secs(1) {
        bail!("--duration and --baseline must be at least 1s");
    }
    let state = State::load(&args.dir)?;
    let Some(target) = state.nodes.get(args.node) else {
        bail!(
            "no node {} (the testnet has {})",
            args.node,
            state.nodes.len()
        );
    };
    if !target.running() {
        bail!("node {} is not running", args.node);
    }
    let addr: libp2p::Multiaddr = target
        .listen
        .parse()
        .with_context(|| format!("node {}'s address {:?}", args.node, target.listen))?;
    let peer_id: libp2p::PeerId = target
        .peer_id
        .parse()
        .with_context(|| format!("node {}'s peer id {:?}", args.node, target.peer_id))?;
    let pid = target.pid;
    let rss_before = rss_kib(pid).context("reading the node's memory")?;

    say(&args, &format!("measuring the block rate for {baseline:?}"));
    let h0 = heights(&state);
    std::thread::sleep(baseline);
    let h1 = heights(&state);

    say(
        &args,
        &format!(
            "flooding node {} at {} messages/s for {duration:?}",
            args.node, args.rate
        ),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let rss_max = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let (stop, rss_max) = (stop.clone(), rss_max.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    rss_max.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let log = runtime.block_on(peer::flood(
        addr,
        peer_id,
        state.chain_id.clone(),
        args.rate,
        duration,
    ));
    let during = started.elapsed();
    let h2 = heights(&state);
    // Closes the last identity's connection.
    drop(runtime);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let log = log?;

    let api = &target.api;
    let node_cut_off_total = metric(api, "generals_peers_cut_off_total");
    let peers_after = get(api, "/status").and_then(|s| s["peers"].as_u64());
    let rate = |a: &[Option<u64>], b: &[Option<u64>], secs: f64| {
        let top = |h: &[Option<u64>]| h.iter().flatten().copied().max().unwrap_or(0);
        top(b).saturating_sub(top(a)) as f64 / secs
    };
    let own = |a: &[Option<u64>], b: &[Option<u64>]| {
        b[args.node]
            .unwrap_or(0)
            .saturating_sub(a[args.node].unwrap_or(0)) as f64
    };
    let before = rate(&h0, &h1, baseline.as_secs_f64());
    let in_flood = rate(&h1, &h2, during.as_secs_f64());
    let kept = if before > 0.0 { in_flood / before } else { 0.0 };
    let own_before = own(&h0, &h1) / baseline.as_secs_f64();
    let own_during = own(&h1, &h2) / during.as_secs_f64();
    let sent: u64 = log.iter().map(|i| i.sent).sum();
    let connected = log.iter().filter(|i| i.connected).count();
    let cut_off = log.iter().filter(|i| i.cut_off_after_ms.is_some()).count();
    // The last identity may still be sending when the time is up.
    let uncut = log
        .iter()
        .rev()
        .skip(1)
        .filter(|i| i.connected && i.cut_off_after_ms.is_none())
        .count();
    let rss_max_mib = rss_max.load(Ordering::Relaxed) as f64 / 1024.0;
    let report = FloodReport {
        node: args.node,
        rate: args.rate,
        duration_s: during.as_secs_f64(),
        sent,
        sent_per_s: sent as f64 / during.as_secs_f64(),
        dropped: log.iter().map(|i| i.dropped).sum(),
        identities: log.len(),
        connected,
        cut_off,
        slowest_cut_off_ms: log.iter().filter_map(|i| i.cut_off_after_ms).max(),
        node_cut_off_total,
        rss_before_mib: rss_before as f64 / 1024.0,
        rss_max_mib,
        max_rss_mib: args.max_rss_mib,
        blocks_per_s_before: before,
        blocks_per_s_during: in_flood,
        block_rate_kept: kept,
        node_block_rate_kept: if own_before > 0.0 {
            own_during / own_before
        } else {
            0.0
        },
        min_block_rate: args.min_block_rate,
        peers_after,
        held: rss_max_mib <= args.max_rss_mib as f64
            && kept >= args.min_block_rate
            && cut_off >= 1
            && uncut == 0,
        identity_log: log,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if !report.held {
        bail!(
            "the node did not hold: memory {:.1} MiB (bound {}), block rate kept {:.0}% (least {:.0}%), {} of {} connected identities cut off",
            report.rss_max_mib,
            report.max_rss_mib,
            report.block_rate_kept * 100.0,
            report.min_block_rate * 100.0,
            report.cut_off,
            report.connected
        );
    }
    Ok(())
}

fn say(args: &FloodArgs, line: &str) {
    if !args.json {
        eprintln!("{line}");
    }
}

fn print_report(r: &FloodReport) {
    println!(
        "flooded node {} for {:.1} s: {} messages sent ({:.0}/s; {} refused by the sender's own queues)",
        r.node, r.duration_s, r.sent, r.sent_per_s, r.dropped
    );
    println!(
        "identities: {} ({} connected), {} cut off; slowest cut-off {} ms; the node counts {} peers cut off",
        r.identities,
        r.connected,
        r.cut_off,
        r.slowest_cut_off_ms.map_or("-".into(), |m| m.to_string()),
        r.node_cut_off_total.map_or("?".into(), |m| m.to_string()),
    );
    println!(
        "memory: {:.1} MiB before, {:.1} MiB at most (bound {} MiB)",
        r.rss_before_mib, r.rss_max_mib, r.max_rss_mib
    );
    println!(
        "blocks/s: {:.2} before, {:.2} during: {:.0}% kept (least {:.0}%); the flooded node kept {:.0}%",
        r.blocks_per_s_before,
        r.blocks_per_s_during,
        r.block_rate_kept * 100.0,
        r.min_block_rate * 100.0,
        r.node_block_rate_kept * 100.0
    );
    println!("{}", if r.held { "held" } else { "did not hold" });
}

/// A process's resident set, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn fetch(api: &str, path: &str) -> Option<reqwest::blocking::Response> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?
        .get(format!("{api}{path}"))
        .send()
        .ok()
}

fn get(api: &str, path: &str) -> Option<serde_json::Value> {
    fetch(api, path)?.json().ok()
}

fn metric(api: &str, name: &str) -> Option<f64> {
    let text = fetch(api, "/metrics")?.text().ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Each node's height, or none for a node that does not answer.
fn heights(state: &State) -> Vec<Option<u64>> {
    state
        .nodes
        .iter()
        .map(|n| get(&n.api, "/status").and_then(|s| s["height"].as_u64()))
        .collect()
}
