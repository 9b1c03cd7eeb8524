//! `generals-testnet run FILE`: a scenario on real processes. It brings the
//! testnet up in the output folder (`up --detach` with the scenario's nodes and
//! roles), carries out the timeline by time or by the first honest node's
//! height, stops at the end condition, collects the outcome over the nodes'
//! APIs, judges it, writes `report.json` and `report.md` beside the node logs,
//! stops the nodes, and fails when an expectation fails.

use super::act::Runner;
use super::format::Scenario;
use super::observe::{double_spend, payment_confirmed, record_events};
use super::{check, judge, print_verdicts, Outcome, Verdict};
use crate::local::{self, State, UpArgs};
use anyhow::{bail, Context, Result};
use clap::Parser;
use generals_node::config::Home;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub file: PathBuf,
    /// Where the testnet, its logs and the report go (replaced if it exists).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The fork-tree page's port on 127.0.0.1 (0: any free port; a taken
    /// port falls back to a free one).
    #[arg(long, default_value_t = crate::ui::DEFAULT_PORT)]
    pub ui_port: u16,
    /// Serve no fork-tree page.
    #[arg(long)]
    pub no_ui: bool,
    #[command(flatten)]
    pub runtime: local::RuntimeArgs,
}

/// The `up` flags of a scenario.
fn up_args(s: &Scenario, dir: &Path, runtime: &local::RuntimeArgs) -> Result<UpArgs> {
    let validators: Vec<_> = s.nodes.iter().filter(|n| n.twin_of.is_none()).collect();
    let mut argv: Vec<String> = vec![
        "up".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--detach".into(),
        "--quiet".into(),
        "--no-ui".into(),
        "--nodes".into(),
        validators.len().to_string(),
        "--consensus".into(),
        s.consensus.clone(),
        "--seed".into(),
        s.seed.to_string(),
        "--block-ms".into(),
        s.block_ms.to_string(),
    ];
    let weights: Vec<String> = validators.iter().map(|n| n.weight.to_string()).collect();
    match s.consensus.as_str() {
        "pow" => argv.extend(["--hashpower".into(), weights.join(",")]),
        "pos" | "bft" | "dpos" | "pbft" => {
            let stakes: Vec<String> = validators
                .iter()
                .map(|n| ((n.weight * 1_000.0).round().max(1.0) as u64).to_string())
                .collect();
            argv.extend(["--stakes".into(), stakes.join(",")]);
            if !s.slashing {
                argv.push("--no-slashing".into());
            }
        }
        _ => {}
    }
    let roles: Vec<String> = s
        .nodes
        .iter()
        .enumerate()
        // A long-range attacker runs the honest engine with a bought key.
        .filter(|(_, n)| n.role != "honest" && n.role != "long-range")
        .map(|(i, n)| format!("{i}={}", n.role))
        .collect();
    if !roles.is_empty() {
        argv.extend(["--byzantine".into(), roles.join(",")]);
    }
    if let Some(h) = s.byzantine_from_height {
        argv.extend(["--from-height".into(), h.to_string()]);
    }
    for n in &s.nodes {
        if let Some(t) = n.twin_of {
            argv.extend(["--twin".into(), t.to_string()]);
        }
    }
    let late: Vec<String> = (0..s.nodes.len())
        .filter(|i| s.nodes[*i].late)
        .map(|i| i.to_string())
        .collect();
    if !late.is_empty() {
        argv.extend(["--late".into(), late.join(",")]);
    }
    if let (Some(p), "dpos") = (s.producers, s.consensus.as_str()) {
        argv.extend(["--producers".into(), p.to_string()]);
    }
    if let (Some(q), "pbft") = (&s.quorum, s.consensus.as_str()) {
        argv.extend(["--quorum".into(), q.clone()]);
    }
    argv.extend(runtime.argv());
    #[derive(Parser)]
    struct Up {
        #[command(flatten)]
        up: UpArgs,
    }
    Ok(Up::try_parse_from(argv)?.up)
}

/// The first honest node's height, asked over its API.
fn reference_height(dir: &Path, reference: usize) -> u64 {
    let Ok(state) = State::load(dir) else {
        return 0;
    };
    let Some(n) = state.nodes.get(reference) else {
        return 0;
    };
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()
        .and_then(|c| c.get(format!("{}/status", n.api)).send().ok())
        .and_then(|r| r.json::<Value>().ok())
        .and_then(|v| v["height"].as_u64())
        .unwrap_or(0)
}

pub fn run(args: RunArgs) -> Result<()> {
    let s = Scenario::load(&args.file)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("scenario-{}", s.name)));
    let page = (!args.no_ui).then_some(args.ui_port);
    let outcome = run_scenario(&s, &out, page, &args.runtime)?;
    let verdicts = judge(&s, &outcome);
    finish(&s, &out, &outcome, &verdicts)
}

/// Runs `s` on real processes in `out` (cleared first if it holds an
/// earlier run) and returns what happened, checked.
/// `ui`: the port of a fork-tree page to serve while it runs.
/// `runtime`: processes or containers.
pub(crate) fn run_scenario(
    s: &Scenario,
    out: &Path,
    ui: Option<u16>,
    runtime: &local::RuntimeArgs,
) -> Result<Outcome> {
    let out = out.to_path_buf();
    if out.exists() {
        // Only an earlier run's folder (or an empty one) is cleared.
        let earlier = out.join("report.json").exists() || out.join("testnet").exists();
        let empty = std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_none());
        if !earlier && !empty {
            bail!(
                "{} exists and is not the folder of an earlier run; choose another --out",
                out.display()
            );
        }
        if let Ok(state) = State::load(&out.join("testnet")) {
            if state.nodes.iter().any(|n| n.running()) {
                bail!("{} holds a running testnet; stop it first", out.display());
            }
        }
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    let dir = out.join("testnet");
    println!("scenario {}: {}", s.name, s.description);
    local::up(up_args(s, &dir, runtime)?)?;
    // Whatever fails from here, no node is left running.
    struct Stop<'a>(&'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            if let Ok(state) = State::load(self.0) {
                if state.nodes.iter().any(|n| n.running()) {
                    let _ = local::down(local::DirArgs {
                        dir: self.0.to_path_buf(),
                        json: false,
                    });
                }
            }
        }
    }
    let _stop = Stop(&dir);
    let recording = record_events(&dir, &out)?;
    let page = match ui {
        Some(port) => {
            let timeline: Vec<(String, String)> = s
                .steps
                .iter()
                .filter_map(|x| {
                    let at = match (x.at_s, x.at_height) {
                        (Some(t), _) => format!("{t} s"),
                        (None, Some(h)) => format!("height {h}"),
                        (None, None) => String::new(),
                    };
                    Some((at, x.action().ok()?.to_string()))
                })
                .collect();
            crate::ui::start(&dir, port, &out.join("feed.jsonl"), &timeline)
        }
        None => None,
    };
    if let Some(net) = &s.network {
        shape_links(s, net, &dir)?;
    }
    let mut runner = Runner {
        page: page.as_ref(),
        scenario: s,
        dir: dir.clone(),
        out: out.clone(),
        load: None,
        watched: Vec::new(),
        payment_seen: false,
    };
    if let (Some(w), true) = (&s.workload, s.workload_from_start()) {
        runner.load = Some(runner.start_load(w)?);
    }
    let result = follow(s, &mut runner);
    let load = match (runner.load.take(), &result) {
        (Some(child), Ok(_)) => Some(finish_load(child, &out)),
        (Some(mut child), Err(_)) => {
            // The run failed: the workload stops now, unjudged.
            let _ = child.kill();
            let _ = child.wait();
            None
        }
        (None, _) => None,
    };
    let outcome = result.and_then(|recovery| {
        let mut o = outcome(s, &dir)?;
        // Reverted counts only a payment the merchant saw confirmed.
        o.double_spend = o.double_spend.map(|gone| gone && runner.payment_seen);
        if let Some(Ok((accepted, included))) = load {
            o.accepted = Some(accepted);
            o.included = Some(included);
        }
        o.converged = settled(s, &dir);
        let state = State::load(&dir)?;
        runner.settle_watched(&state.nodes[first_honest(s)].api);
        o.watched = runner.watched.clone();
        let keys: Vec<String> = state
            .nodes
            .iter()
            .map(|n| {
                Home::new(&n.home)
                    .validator()
                    .map(|k| k.public().to_hex())
                    .unwrap_or_default()
            })
            .collect();
        let events = check::read_real(&out, s.nodes.len());
        let facts = check::check(&events, &s.honest(), &keys, &s.consensus);
        o.conflicts.extend(facts.conflicts);
        o.conflicts.sort_unstable();
        o.conflicts.dedup();
        o.deepest_reorg = facts.deepest_reorg;
        o.accused = facts.accused;
        o.recovery_s = match recovery {
            Recovery::NoHeal => None,
            Recovery::After(secs) => Some(Some(secs)),
            Recovery::Never => Some(None),
        };
        Ok(o)
    });
    let _ = local::down(local::DirArgs {
        dir: dir.clone(),
        json: false,
    });
    recording.store(true, Ordering::Relaxed);
    let mut outcome = outcome?;
    outcome.replay_failures = replay(s, &dir);
    Ok(outcome)
}

/// Replays each stopped honest node's ledger from genesis (`generals-node
/// verify`); returns the failures.
fn replay(s: &Scenario, dir: &Path) -> Vec<String> {
    let Ok(state) = State::load(dir) else {
        return vec!["the testnet's state file is gone".into()];
    };
    s.honest()
        .into_iter()
        .filter_map(|i| {
            let n = state.nodes.get(i)?;
            generals_node::repair::verify(&Home::new(&n.home))
                .err()
                .map(|e| format!("{}: {e:#}", n.name))
        })
        .collect()
}

/// Carries out the timeline until the end condition. Returns how long after
/// the last heal, resume or restart every honest node took to add a block
/// (see `Recovery`).
fn follow(s: &Scenario, runner: &mut Runner<'_>) -> Result<Recovery> {
    let dir = runner.dir.clone();
    let dir = dir.as_path();
    let reference = first_honest(s);
    let started = Instant::now();
    let mut steps: Vec<_> = s.steps.iter().collect();
    let limit = Duration::from_secs(s.end.seconds.unwrap_or(600));
    let honest: Vec<usize> = s.honest();
    // After the last healing step: when it ran, each honest node's height
    // then, and when each first grew past it.
    let healing = steps.iter().filter(|x| heals(x)).count();
    let mut healed = 0;
    let mut watch: Option<Watch> = None;
    loop {
        let t = started.elapsed();
        let height = reference_height(dir, reference);
        let mut i = 0;
        while i < steps.len() {
            let due = match (steps[i].at_s, steps[i].at_height) {
                (Some(at), _) => t.as_secs_f64() >= at,
                (_, Some(h)) => height >= h,
                _ => false,
            };
            if due {
                let step = steps.remove(i);
                let action = step.action()?;
                println!("  t={:>5.1}s h={height:>4}  {action}", t.as_secs_f64());
                runner.act(&action)?;
                if heals(step) {
                    healed += 1;
                    if healed == healing {
                        let at = started.elapsed().as_secs_f64();
                        let base = honest.iter().map(|n| node_height(dir, *n)).collect();
                        watch = Some((at, base, vec![None; honest.len()]));
                    }
                }
            } else {
                i += 1;
            }
        }
        if let Some((at, base, grew)) = &mut watch {
            for (k, n) in honest.iter().enumerate() {
                let now = node_height(dir, *n);
                if base[k].is_none() {
                    // A restarted node's API was not up yet: its height, once
                    // it answers, is where it starts from.
                    base[k] = now;
                } else if grew[k].is_none() && now > base[k] {
                    grew[k] = Some(t.as_secs_f64() - *at);
                }
            }
        }
        if !runner.payment_seen && s.nodes.iter().any(|n| n.role == "private-fork") {
            runner.payment_seen = payment_confirmed(dir, reference);
        }
        let high = s.end.height.is_some_and(|h| height >= h);
        if (high && steps.is_empty()) || t >= limit {
            println!("  t={:>5.1}s h={height:>4}  end", t.as_secs_f64());
            return Ok(match watch {
                None => Recovery::NoHeal,
                Some((_, _, grew)) => match grew.iter().copied().collect::<Option<Vec<f64>>>() {
                    Some(v) => Recovery::After(v.into_iter().fold(0.0, f64::max)),
                    None => Recovery::Never,
                },
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// When the last healing step ran, each honest node's height then, and how
/// long after it each first grew.
type Watch = (f64, Vec<Option<u64>>, Vec<Option<f64>>);

/// How the honest nodes came back after the last healing step.
pub(super) enum Recovery {
    /// The timeline heals nothing.
    NoHeal,
    /// Every honest node added a block within this many seconds.
    After(f64),
    /// Some honest node added none before the end.
    Never,
}

/// A step after which the network should recover: heal, resume, restart.
fn heals(step: &super::format::Step) -> bool {
    step.action().is_ok_and(|a| a.heals())
}

fn node_height(dir: &Path, node: usize) -> Option<u64> {
    let h = reference_height(dir, node);
    (h > 0).then_some(h)
}

/// Whether the honest nodes stand on one tip, as the simulator's quiet end
/// lets them: asked every 200 ms for up to 15 s (blocks keep coming on real
/// nodes, so they agree between blocks, not forever).
fn settled(s: &Scenario, dir: &Path) -> bool {
    let honest: Vec<usize> = s.honest();
    let Ok(state) = State::load(dir) else {
        return false;
    };
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build();
    let Ok(c) = c else { return false };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let tips: Vec<Option<String>> = honest
            .iter()
            .filter_map(|i| state.nodes.get(*i))
            .filter(|n| n.running())
            .map(|n| {
                c.get(format!("{}/status", n.api))
                    .send()
                    .ok()
                    .and_then(|r| r.json::<Value>().ok())
                    .and_then(|v| v["tip"].as_str().map(String::from))
            })
            .collect();
        if tips.iter().all(Option::is_some) && tips.windows(2).all(|w| w[0] == w[1]) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

pub(super) fn first_honest(s: &Scenario) -> usize {
    s.nodes
        .iter()
        .position(|n| n.role == "honest" && n.twin_of.is_none())
        .unwrap_or(0)
}

/// The node a report name ("n3", or "n1/n4" for a key two nodes hold) stands for.
fn node_of(name: &str) -> Option<usize> {
    name.split('/').next()?.strip_prefix('n')?.parse().ok()
}

/// The outcome, from `report` and the private-fork attackers' payments.
fn outcome(s: &Scenario, dir: &Path) -> Result<Outcome> {
    let r = local::collect(dir)?;
    let n = s.nodes.len();
    let heights: Vec<Option<u64>> = (0..n).map(|i| r["nodes"][i]["height"].as_u64()).collect();
    let blocks = r["blocks"].as_u64().unwrap_or(0).max(1) as f64;
    let mut shares = vec![0.0; n];
    for (name, count) in r["produced"].as_object().into_iter().flatten() {
        if let Some(i) = node_of(name).filter(|i| *i < n) {
            shares[i] += count.as_u64().unwrap_or(0) as f64 / blocks;
        }
    }
    // BFT decisions are final at once; other chains are compared k blocks deep.
    let k = if ["bft", "pbft"].contains(&s.consensus.as_str()) {
        0
    } else {
        6
    };
    let mut conflicts: Vec<u64> = r["conflicts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let h = c["from_height"].as_u64()?;
            let a = node_of(c["nodes"][0].as_str()?)?;
            let b = node_of(c["nodes"][1].as_str()?)?;
            let low = (*heights.get(a)?)?.min((*heights.get(b)?)?);
            (h + k <= low).then_some(h)
        })
        .collect();
    conflicts.sort_unstable();
    conflicts.dedup();
    let mut jailed: Vec<usize> = r["jailed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| node_of(x.as_str()?))
        .collect();
    jailed.sort_unstable();
    jailed.dedup();
    let voted_out: Vec<usize> = if s.consensus == "poa" {
        let left: Vec<usize> = r["authorities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| node_of(x.as_str()?))
            .collect();
        (0..s.validators()).filter(|i| !left.contains(i)).collect()
    } else {
        Vec::new()
    };
    let mut forked: Vec<usize> = r["forked"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| node_of(x.as_str()?))
        .collect();
    forked.sort_unstable();
    let tips: Vec<&str> = (0..n)
        .filter(|i| s.nodes[*i].role == "honest")
        .filter_map(|i| r["nodes"][i]["tip"].as_str())
        .collect();
    let sent: Vec<u64> = (0..n)
        .filter_map(|i| r["nodes"][i]["messages_sent"].as_u64())
        .collect();
    Ok(Outcome {
        source: "real nodes".into(),
        heights,
        messages: (!sent.is_empty()).then(|| sent.iter().sum()),
        conflicts,
        jailed,
        voted_out,
        double_spend: double_spend(s, dir)?,
        shares,
        converged: tips.windows(2).all(|w| w[0] == w[1]),
        accepted: None,
        included: None,
        recovery_s: None,
        deepest_reorg: 0,
        forked,
        accused: Vec::new(),
        replay_failures: Vec::new(),
        watched: Vec::new(),
        censored: None,
    })
}

/// Every link gets the network's latency, jitter and loss; links of their
/// own get theirs.
fn shape_links(s: &Scenario, net: &super::format::Network, dir: &Path) -> Result<()> {
    let n = s.nodes.len();
    let (lat, jit, loss) = (
        net.latency_ms.unwrap_or(0),
        net.jitter_ms.unwrap_or(0),
        net.loss.unwrap_or(0.0),
    );
    if lat > 0 || jit > 0 || loss > 0.0 {
        for a in 0..n {
            for b in a + 1..n {
                local::shape(dir, a, b, lat, jit, loss)?;
            }
        }
    }
    for l in &net.links {
        local::shape(dir, l.a, l.b, l.latency_ms, l.jitter_ms, l.loss)?;
    }
    println!(
        "  links shaped: {lat} ms ± {jit} ms, loss {loss}; {} of their own",
        net.links.len()
    );
    Ok(())
}

/// Waits for the workload to settle; returns the transfers the nodes accepted
/// and those on the main chain.
fn finish_load(mut child: std::process::Child, out: &Path) -> Result<(u64, u64)> {
    println!("  waiting for the workload to settle");
    let status = child.wait()?;
    let text = std::fs::read_to_string(out.join("load.json")).unwrap_or_default();
    let r: Value = serde_json::from_str(&text)
        .with_context(|| format!("the workload's report ({status}); see load.log"))?;
    Ok((
        r["accepted"].as_u64().unwrap_or(0),
        r["included"].as_u64().unwrap_or(0),
    ))
}

/// Prints the verdicts, writes the reports, and fails when one failed.
pub(super) fn finish(s: &Scenario, out: &Path, o: &Outcome, verdicts: &[Verdict]) -> Result<()> {
    println!("{} ({}):", s.name, o.source);
    print_verdicts(verdicts);
    super::write_reports(s, out, std::slice::from_ref(o), verdicts)?;
    println!("report: {}", out.join("report.md").display());
    println!(
        "fork tree, played back: generals-testnet ui --replay {}",
        out.display()
    );
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    if failed > 0 {
        bail!("{failed} of {} expectations failed", verdicts.len());
    }
    Ok(())
}
