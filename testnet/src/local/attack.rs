//! Byzantine nodes and twins on a testnet of real processes (`up --byzantine
//! N=NAME --twin N`), and cutting the network apart through the nodes' admin
//! API (`partition`, `heal`).
//!
//! Colluders act on one plan that `up` writes into each one's `[byzantine]`
//! section: every node's peer id in order (the testnet's keys come from its
//! seed, so their peer ids are known before any node starts), the group's node
//! numbers and validator keys, and one trigger. No side channel joins them.

use super::homes::seeded;
use super::status::http;
use super::{NetArgs, NodeInfo, State};
use anyhow::{bail, Context, Result};
use generals_chain::{Keypair, PublicKey};
use generals_node::byzantine::ByzantineConfig;
use generals_node::config::{peer_id_of, Home};
use std::path::PathBuf;

/// One `--byzantine N=NAME`.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub node: usize,
    pub behaviour: String,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        let (n, b) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected NODE=BEHAVIOUR, e.g. 3=split-vote"))?;
        let node = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a node number"))?;
        Ok(Role {
            node,
            behaviour: b.trim().to_string(),
        })
    }
}

/// What a testnet's node is: its validator key's owner and its behaviour.
pub(super) struct Member {
    /// The node whose validator key it holds (itself, or the original of a twin).
    pub key_of: usize,
    pub byzantine: Option<ByzantineConfig>,
}

/// The merchant a private-fork attacker pays, unless `--merchant` names one.
pub fn default_merchant() -> PublicKey {
    Keypair::dev("dev-1").public()
}

/// The members of a new testnet: its nodes, then one twin per `--twin`.
pub(super) fn members(args: &NetArgs) -> Result<Vec<Member>> {
    let n = args.nodes;
    for t in &args.twin {
        if *t >= n {
            bail!("--twin {t}: the testnet has nodes 0 to {}", n - 1);
        }
    }
    if !args.twin.is_empty() && args.consensus == "pow" {
        bail!("--twin is for validators (poa, pos, bft): proof of work has no keys to clone");
    }
    let total = n + args.twin.len();
    let key_of = |i: usize| if i < n { i } else { args.twin[i - n] };
    let peers = (0..total)
        .map(|i| peer_id_of(&seeded(args.seed, "node", i)))
        .collect::<Result<Vec<_>>>()?;
    let mut seen = Vec::new();
    for r in &args.byzantine {
        if r.node >= total {
            bail!(
                "--byzantine {}={}: there is no node {} (0 to {})",
                r.node,
                r.behaviour,
                r.node,
                total - 1
            );
        }
        if seen.contains(&r.node) {
            bail!("--byzantine names node {} twice", r.node);
        }
        seen.push(r.node);
    }
    let group = |name: &str| -> Vec<usize> {
        let mut g: Vec<usize> = args
            .byzantine
            .iter()
            .filter(|r| r.behaviour == name)
            .map(|r| r.node)
            .collect();
        g.sort_unstable();
        g
    };
    let validator = |i: usize| seeded(args.seed, "validator", key_of(i)).public();
    let mut out = Vec::new();
    for i in 0..total {
        let byzantine = args.byzantine.iter().find(|r| r.node == i).map(|r| {
            let mut c = ByzantineConfig::named(&r.behaviour);
            c.peers = peers.clone();
            c.from_height = args.from_height;
            c.after_secs = args.after_secs;
            c.probability = args.probability;
            c.seed = args.seed ^ i as u64;
            let colluders = group(&r.behaviour);
            match r.behaviour.as_str() {
                "split-vote" => {
                    c.colluder_keys = colluders.iter().map(|j| validator(*j)).collect();
                    c.colluders = colluders;
                }
                "collude" => {
                    c.victims = (0..n)
                        .filter(|j| !colluders.iter().any(|x| key_of(*x) == *j))
                        .map(validator)
                        .collect();
                    c.censored = vec![Keypair::dev("dev-3").public()];
                    c.colluders = colluders;
                }
                "private-fork" => {
                    c.merchant = Some(args.merchant.unwrap_or_else(default_merchant));
                    c.confirmations = Some(args.confirmations);
                    c.give_up = Some(args.give_up);
                }
                _ => {}
            }
            c
        });
        out.push(Member {
            key_of: key_of(i),
            byzantine,
        });
    }
    Ok(out)
}

#[derive(clap::Args, Debug)]
pub struct PartitionArgs {
    /// Groups of node numbers, e.g. `0,1 2,3`; a node in no group keeps every
    /// link. Two single nodes (`0 1`) cut one link.
    #[arg(required = true, num_args = 2..)]
    groups: Vec<String>,
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct HealArgs {
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
}

impl HealArgs {
    pub fn at(dir: &std::path::Path) -> HealArgs {
        HealArgs {
            dir: dir.to_owned(),
        }
    }
}

/// Asks `from` to block or unblock `peer` over its admin API.
fn block(state: &State, from: usize, peer: &str, cut: bool) -> Result<()> {
    let n = &state.nodes[from];
    let token = Home::new(&n.home).token()?;
    let path = if cut { "admin/block" } else { "admin/unblock" };
    let r = http()
        .post(format!("{}/{path}", n.api))
        .bearer_auth(token)
        .json(&serde_json::json!({ "peer_id": peer }))
        .send()
        .with_context(|| format!("asking node {} ({})", n.name, n.api))?;
    if !r.status().is_success() {
        bail!("node {} refused: {}", n.name, r.text().unwrap_or_default());
    }
    Ok(())
}

fn running(state: &State, i: usize) -> Result<()> {
    match state.nodes.get(i) {
        None => bail!("no node {i} (the testnet has {})", state.nodes.len()),
        Some(n) if !n.running() => bail!("node {} is not running", n.name),
        Some(_) => Ok(()),
    }
}

pub fn partition(args: PartitionArgs) -> Result<()> {
    let groups = args
        .groups
        .iter()
        .map(|g| {
            g.split(',')
                .map(|x| {
                    x.trim()
                        .parse::<usize>()
                        .with_context(|| format!("{x:?} is not a node number"))
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let links = cut(&args.dir, &groups)?;
    crate::ui::note(&args.dir, &format!("partition {}", args.groups.join(" | ")));
    println!(
        "cut {links} links between {}; `generals-testnet heal --dir {}` joins them again",
        args.groups.join(" | "),
        args.dir.display()
    );
    Ok(())
}

/// Cuts the groups of the testnet in `dir` apart; returns the links cut.
/// On the compose runtime a node alone in its group is taken off the
/// network (`docker network disconnect`); nodes in larger groups block the
/// other groups' nodes, as processes do.
pub fn cut(dir: &std::path::Path, groups: &[Vec<usize>]) -> Result<usize> {
    let state = State::load(dir)?;
    for (gi, g) in groups.iter().enumerate() {
        for a in g {
            // A late node not yet joined is cut off by the others.
            if !state.nodes.get(*a).is_some_and(NodeInfo::pending) {
                running(&state, *a)?;
            }
            if groups[gi + 1..].iter().any(|h| h.contains(a))
                || g.iter().filter(|x| *x == a).count() > 1
            {
                bail!("node {a} is in two groups");
            }
        }
    }
    let compose = super::compose::of(&state);
    let alone = |g: &Vec<usize>| compose.is_some() && g.len() == 1;
    let mut cut = 0;
    let mut unplugged = 0;
    for (gi, g) in groups.iter().enumerate() {
        if let (Some(info), true) = (compose, alone(g)) {
            super::compose::disconnect(info, g[0], &state.nodes[g[0]])?;
            unplugged += state.nodes.len() - 1;
            continue;
        }
        for a in g {
            if state.nodes[*a].pending() {
                continue;
            }
            for (hi, h) in groups.iter().enumerate() {
                if hi == gi || alone(h) {
                    continue;
                }
                for b in h {
                    block(&state, *a, &state.nodes[*b].peer_id, true)?;
                    cut += 1;
                }
            }
        }
    }
    Ok(cut / 2 + unplugged)
}

#[derive(clap::Args, Debug)]
pub struct LinkArgs {
    /// The two nodes of the link.
    a: usize,
    b: usize,
    /// Added to everything each hears from the other, plus up to --jitter-ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Probability that a message is lost (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
}

pub fn link(args: LinkArgs) -> Result<()> {
    shape(
        &args.dir,
        args.a,
        args.b,
        args.latency_ms,
        args.jitter_ms,
        args.loss,
    )?;
    crate::ui::note(
        &args.dir,
        &format!(
            "link n{} <-> n{}: latency {} ms, jitter {} ms, loss {}",
            args.a, args.b, args.latency_ms, args.jitter_ms, args.loss
        ),
    );
    println!(
        "n{} <-> n{}: latency {} ms, jitter {} ms, loss {}",
        args.a, args.b, args.latency_ms, args.jitter_ms, args.loss
    );
    Ok(())
}

/// Makes the link between `a` and `b` slow or lossy, both ways: each node
/// delays or drops what it hears from the other (all zero: a plain link).
pub fn shape(
    dir: &std::path::Path,
    a: usize,
    b: usize,
    latency_ms: u64,
    jitter_ms: u64,
    loss: f64,
) -> Result<()> {
    let state = State::load(dir)?;
    for (from, to) in [(a, b), (b, a)] {
        running(&state, from)?;
        running(&state, to)?;
        let n = &state.nodes[from];
        let r = http()
            .post(format!("{}/admin/link", n.api))
            .bearer_auth(Home::new(&n.home).token()?)
            .json(&serde_json::json!({
                "peer_id": state.nodes[to].peer_id,
                "latency_ms": latency_ms,
                "jitter_ms": jitter_ms,
                "loss": loss,
            }))
            .send()
            .with_context(|| format!("asking node {} ({})", n.name, n.api))?;
        if !r.status().is_success() {
            bail!("node {} refused: {}", n.name, r.text().unwrap_or_default());
        }
    }
    Ok(())
}

pub fn heal(args: HealArgs) -> Result<()> {
    let state = State::load(&args.dir)?;
    if let Some(info) = super::compose::of(&state) {
        let back = super::compose::reconnect_all(info, &state.nodes)?;
        if back > 0 {
            println!("{back} containers back on the network {}", info.network);
        }
    }
    for (i, n) in state.nodes.iter().enumerate() {
        if !n.running() {
            continue;
        }
        for (j, m) in state.nodes.iter().enumerate() {
            if i != j {
                block(&state, i, &m.peer_id, false)?;
            }
        }
    }
    crate::ui::note(&args.dir, "heal");
    println!("every running node may reach every other again");
    Ok(())
}
