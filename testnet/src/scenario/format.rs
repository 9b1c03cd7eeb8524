//! The scenario file: TOML, read with serde. Unknown fields are refused, and
//! every error names the line, the column and the field.
//!
//! ```toml
//! name = "bft-split-vote-f-plus-1"
//! description = "Two of four validators split their votes; the honest two are cut apart."
//! consensus = "bft"
//! seed = 1
//!
//! [[node]]                  # node 0: honest, weight 1 (hash power share, stake, or an authority)
//! [[node]]                  # node 1
//! [[node]]
//! role = "split-vote"
//! [[node]]
//! role = "split-vote"
//!
//! [[step]]                  # the timeline, by time (at_s) or by the first honest node's height
//! at_s = 0
//! action = "partition"
//! groups = [[0], [1]]       # nodes in no group keep every link
//!
//! [end]
//! seconds = 20              # real nodes: at most this long
//! height = 20               # stop once the first honest node is this high (the simulator's --blocks)
//!
//! [expect]
//! conflicting_decisions = "some"
//! ```

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

pub use super::timeline::{Action, Step};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// pow, poa, pos, bft, dpos or pbft.
    pub consensus: String,
    /// DPoS: how many delegates produce (every node if left out).
    #[serde(default)]
    pub producers: Option<u64>,
    /// PBFT: the quorum, "2f+1" (the default) or "f+1".
    #[serde(default)]
    pub quorum: Option<String>,
    #[serde(default)]
    pub seed: u64,
    /// Proof of work: the target interval; proof of authority: the period.
    #[serde(default = "default_block_ms")]
    pub block_ms: u64,
    /// Real nodes: the Byzantine nodes act once their tip reaches this height
    /// (so a partition at the start is in place first). The simulator's act
    /// from the start, before its first block.
    #[serde(default)]
    pub byzantine_from_height: Option<u64>,
    /// Proof of stake and BFT: slash double signers (on unless set false).
    #[serde(default = "yes")]
    pub slashing: bool,
    #[serde(rename = "node")]
    pub nodes: Vec<NodeSpec>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    pub end: End,
    /// Signed transfers sent to the nodes from the start.
    #[serde(default)]
    pub workload: Option<Workload>,
    /// Latency, jitter and loss: every link, and links of their own (on real
    /// nodes, each node delays or drops what it hears over the link).
    #[serde(default)]
    pub network: Option<Network>,
    #[serde(default)]
    pub expect: Expect,
}

/// The network's links (the simulator's `--latency-ms`, `--jitter-ms`,
/// `--loss` and `--link`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub jitter_ms: Option<u64>,
    #[serde(default)]
    pub loss: Option<f64>,
    #[serde(default, rename = "link")]
    pub links: Vec<Link>,
}

/// One link's own latency, jitter and loss.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub a: usize,
    pub b: usize,
    pub latency_ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
    #[serde(default)]
    pub loss: f64,
}

/// A workload of signed transfers (`generals-testnet load` on real nodes, the
/// simulator's `--tps`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Transfers per second.
    pub tps: f64,
    /// Parallel senders (real nodes; 2 if unset).
    #[serde(default)]
    pub senders: Option<usize>,
    /// How long it sends (real nodes; the end's seconds if unset).
    #[serde(default)]
    pub seconds: Option<u64>,
}

fn default_block_ms() -> u64 {
    2_000
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

/// One node: its weight and what it is.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Hash power share (pow) or stake (pos, bft); authorities weigh 1.
    #[serde(default = "one")]
    pub weight: f64,
    /// `honest`, a Byzantine behaviour (see `generals-testnet up --help`), or
    /// `attacker`: the mechanism's usual attack (`ATTACKS`).
    #[serde(default = "honest")]
    pub role: String,
    /// The role on a given mechanism, over `role` (for `compare`):
    /// `roles = { pow = "selfish", bft = "equivocate" }`.
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, String>,
    /// This node holds the validator key of that node (a clone).
    #[serde(default)]
    pub twin_of: Option<usize>,
    /// Away from the start: its home is made but it is not started until a
    /// `join` step starts it, from an empty chain.
    #[serde(default)]
    pub late: bool,
}

fn honest() -> String {
    "honest".into()
}

/// A link's latency and jitter at most (what a node's `/admin/link` takes).
pub const MAX_LINK_MS: u64 = 60_000;

/// The mechanisms, in the order reports set them side by side.
pub const MECHANISMS: [&str; 6] = ["pow", "pos", "poa", "bft", "dpos", "pbft"];

/// The mechanisms whose validators bond stake.
pub const STAKED: [&str; 4] = ["pos", "bft", "dpos", "pbft"];

/// Each mechanism's usual attack, which the role `attacker` stands for.
pub const ATTACKS: [(&str, &str); 6] = [
    ("pow", "private-fork"),
    ("pos", "nothing-at-stake"),
    ("poa", "equivocate"),
    ("bft", "split-vote"),
    ("dpos", "collude"),
    ("pbft", "split-vote"),
];

/// The Byzantine roles of each mechanism (a clone is a twin, not a role).
pub const ROLES: [(&str, &[&str]); 6] = [
    ("pow", &["private-fork", "selfish"]),
    ("pos", &["nothing-at-stake", "equivocate", "long-range"]),
    ("poa", &["equivocate", "collude"]),
    ("bft", &["equivocate", "split-vote", "amnesia", "silent"]),
    ("dpos", &["equivocate", "collude", "silent"]),
    (
        "pbft",
        &["split-vote", "equivocate", "silent", "lie-view-change"],
    ),
];

/// Whether `role` runs on `consensus` (honest runs everywhere).
pub fn applies(role: &str, consensus: &str) -> bool {
    role == "honest"
        || ROLES
            .iter()
            .any(|(k, roles)| *k == consensus && roles.contains(&role))
}

/// The usual attack on `consensus`.
pub fn attack_of(consensus: &str) -> &'static str {
    ATTACKS
        .iter()
        .find(|(k, _)| *k == consensus)
        .map_or("equivocate", |(_, a)| *a)
}

/// When the run ends: the first honest node's height, or a time limit.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    #[serde(default)]
    pub height: Option<u64>,
    #[serde(default)]
    pub seconds: Option<u64>,
}

/// What the run must show.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// "none": no two honest nodes decide different blocks at a height;
    /// "some": two do.
    #[serde(default)]
    pub conflicting_decisions: Option<Presence>,
    /// Exactly these nodes end jailed for double signing.
    #[serde(default)]
    pub jailed: Option<Vec<usize>>,
    /// Proof of authority: exactly these authorities end voted out.
    #[serde(default)]
    pub voted_out: Option<Vec<usize>>,
    /// A private fork's payment: reverted ("succeeds") or kept ("fails").
    #[serde(default)]
    pub double_spend: Option<Outcome>,
    /// Honest nodes all end at least this high.
    #[serde(default)]
    pub min_height: Option<u64>,
    /// Node 0's share of the main chain is at least this (0 to 1).
    #[serde(default)]
    pub attacker_share_at_least: Option<f64>,
    /// Every honest node ends on one tip.
    #[serde(default)]
    pub converged: Option<bool>,
    /// No honest node goes through a reorg deeper than this.
    #[serde(default)]
    pub max_reorg_depth: Option<u64>,
    /// Exactly these nodes end on a branch that leaves the first honest
    /// node's below its finalized height (a long-range fork's attacker and
    /// the nodes it fooled).
    #[serde(default)]
    pub forked: Option<Vec<usize>>,
    /// After the last heal, resume or restart, every honest node adds a block
    /// within this many seconds.
    #[serde(default)]
    pub liveness_after_heal_s: Option<u64>,
}

#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    None,
    Some,
}

#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Succeeds,
    Fails,
}

/// Largest scenario file read.
pub const MAX_SCENARIO_BYTES: usize = 1 << 20;

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let len = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if len > MAX_SCENARIO_BYTES as u64 {
            bail!(
                "scenario {} is {len} bytes, over the limit of {MAX_SCENARIO_BYTES}",
                path.display()
            );
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Scenario::parse(&text).with_context(|| format!("scenario {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Scenario> {
        let s = Scenario::parse_raw(text)?;
        let consensus = s.consensus.clone();
        s.on(&consensus)
    }

    /// The scenario run on mechanism `consensus`: each node's role for it
    /// (`roles`, or `attacker` as that mechanism's usual attack), and the
    /// steps that apply to it (a bond has no meaning on proof of work, nor an
    /// authority vote off proof of authority).
    pub fn on(&self, consensus: &str) -> Result<Scenario> {
        let mut s = self.clone();
        s.consensus = consensus.to_string();
        for n in &mut s.nodes {
            if let Some(r) = n.roles.get(consensus) {
                n.role = if r == "attacker" {
                    attack_of(consensus).to_string()
                } else {
                    r.clone()
                };
            } else if n.role == "attacker" || !applies(&n.role, consensus) {
                // A role of another mechanism (a private fork on BFT) is
                // that mechanism's usual attack.
                n.role = attack_of(consensus).to_string();
            }
        }
        let workload = s.workload.is_some();
        s.steps.retain(|step| match step.action() {
            Ok(Action::Bond { .. } | Action::Unbond { .. }) => STAKED.contains(&consensus),
            Ok(Action::Propose { .. }) => consensus == "poa",
            Ok(Action::Vote { .. }) => consensus == "dpos",
            Ok(Action::StartWorkload | Action::StopWorkload) => workload,
            _ => true,
        });
        Ok(s)
    }

    /// Reads a file without choosing roles for its mechanism.
    pub fn parse_raw(text: &str) -> Result<Scenario> {
        let s: Scenario = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        // Where each [[node]] and [[step]] starts, to name its line.
        #[derive(Deserialize)]
        struct Spans {
            #[serde(default, rename = "node")]
            nodes: Vec<toml::Spanned<toml::Value>>,
            #[serde(default, rename = "step")]
            steps: Vec<toml::Spanned<toml::Value>>,
        }
        let spans: Spans = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let line = |offset: usize| 1 + text[..offset.min(text.len())].matches('\n').count();
        let at = |what: &str, k: usize| {
            let list = if what == "node" {
                &spans.nodes
            } else {
                &spans.steps
            };
            match list.get(k) {
                Some(x) => format!("line {}, {what} {k}", line(x.span().start)),
                None => format!("{what} {k}"),
            }
        };
        s.check(&at)?;
        Ok(s)
    }

    /// `at("node", 2)` names the third node and its line.
    fn check(&self, at: &dyn Fn(&str, usize) -> String) -> Result<()> {
        if !MECHANISMS.contains(&self.consensus.as_str()) {
            bail!(
                "consensus: {:?} is not one of {}",
                self.consensus,
                MECHANISMS.join(", ")
            );
        }
        let n = self.nodes.len();
        if n == 0 || n > 32 {
            bail!("node: 1 to 32 nodes, not {n}");
        }
        if let Some(p) = self.producers {
            if self.consensus != "dpos" || !(1..=101).contains(&p) {
                bail!("producers: 1 to 101, for consensus = \"dpos\" only");
            }
        }
        if let Some(q) = &self.quorum {
            if self.consensus != "pbft" || !["2f+1", "f+1"].contains(&q.as_str()) {
                bail!("quorum: \"2f+1\" or \"f+1\", for consensus = \"pbft\" only");
            }
        }
        let known = |r: &str| r == "attacker" || ROLES.iter().any(|(_, rs)| rs.contains(&r));
        for (i, node) in self.nodes.iter().enumerate() {
            if !(node.weight.is_finite() && node.weight > 0.0) {
                bail!("{}: weight must be above zero", at("node", i));
            }
            if node.role != "honest" && !known(&node.role) {
                bail!(
                    "{}: role {:?} is not honest, attacker, or one of {}",
                    at("node", i),
                    node.role,
                    ROLES
                        .iter()
                        .map(|(k, rs)| format!("{k}: {}", rs.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            for (k, r) in &node.roles {
                if !MECHANISMS.contains(&k.as_str()) {
                    bail!(
                        "{}: roles.{k}: not one of {}",
                        at("node", i),
                        MECHANISMS.join(", ")
                    );
                }
                if r != "attacker" && !applies(r, k) {
                    bail!("{}: roles.{k} = {r:?} does not run on {k}", at("node", i));
                }
            }
            if let Some(t) = node.twin_of {
                if t >= i || self.nodes[t].twin_of.is_some() {
                    bail!(
                        "{}: twin_of must name an earlier node that is no twin",
                        at("node", i)
                    );
                }
            } else if self.nodes[..i].iter().any(|x| x.twin_of.is_some()) {
                bail!("{}: twins come after every other node", at("node", i));
            }
            if node.role == "long-range" && (node.twin_of.is_none() || !node.late) {
                bail!(
                    "{}: a long-range attacker holds a validator's key (twin_of) and \
                     comes late (late = true)",
                    at("node", i)
                );
            }
        }
        if self.nodes.first().is_some_and(|x| x.late) {
            bail!(
                "{}: node 0 is the reference and starts on time",
                at("node", 0)
            );
        }
        let mut joined = Vec::new();
        if let Some(w) = &self.workload {
            if !(w.tps.is_finite() && w.tps > 0.0) || w.senders == Some(0) {
                bail!("workload: tps above zero and at least one sender");
            }
        }
        if let Some(net) = &self.network {
            let losses = net.loss.iter().chain(net.links.iter().map(|l| &l.loss));
            if losses.into_iter().any(|p| !(0.0..=1.0).contains(p)) {
                bail!("network: loss is a probability, 0 to 1");
            }
            let delays = [net.latency_ms, net.jitter_ms]
                .into_iter()
                .flatten()
                .chain(net.links.iter().flat_map(|l| [l.latency_ms, l.jitter_ms]));
            if delays.into_iter().any(|d| d > MAX_LINK_MS) {
                bail!("network: latency and jitter are at most {MAX_LINK_MS} ms");
            }
            if let Some(l) = net
                .links
                .iter()
                .find(|l| l.a >= n || l.b >= n || l.a == l.b)
            {
                bail!(
                    "network.link {}-{}: two different nodes of 0 to {}",
                    l.a,
                    l.b,
                    n - 1
                );
            }
        }
        if self.end.height.is_none() && self.end.seconds.is_none() {
            bail!("end: give a height, seconds, or both");
        }
        for (k, step) in self.steps.iter().enumerate() {
            match (step.at_s, step.at_height) {
                (Some(t), None) if t >= 0.0 && t.is_finite() => {}
                (None, Some(_)) => {}
                _ => bail!(
                    "{}: give at_s (seconds, 0 or more) or at_height, one of them",
                    at("step", k)
                ),
            }
            let action = step.action().with_context(|| at("step", k))?;
            if let Action::Partition(groups) = &action {
                let all: Vec<usize> = groups.iter().flatten().copied().collect();
                let mut seen = all.clone();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != all.len() {
                    bail!("{}: a node is in two groups", at("step", k));
                }
            }
            if let Action::Link {
                latency_ms,
                jitter_ms,
                ..
            } = &action
            {
                if *latency_ms > MAX_LINK_MS || *jitter_ms > MAX_LINK_MS {
                    bail!(
                        "{}: latency and jitter are at most {MAX_LINK_MS} ms",
                        at("step", k)
                    );
                }
            }
            let fits = match &action {
                Action::Bond { .. } | Action::Unbond { .. } => {
                    STAKED.contains(&self.consensus.as_str())
                }
                Action::Propose { .. } => self.consensus == "poa",
                Action::Vote { .. } => self.consensus == "dpos",
                Action::StartWorkload | Action::StopWorkload => self.workload.is_some(),
                _ => true,
            };
            if !fits {
                bail!(
                    "{}: {:?} needs {}",
                    at("step", k),
                    step.action,
                    match action {
                        Action::Propose { .. } => "consensus = \"poa\"",
                        Action::Vote { .. } => "consensus = \"dpos\"",
                        Action::StartWorkload | Action::StopWorkload => "a [workload]",
                        _ => "consensus = \"pos\", \"bft\", \"dpos\" or \"pbft\"",
                    }
                );
            }
            if let Some(bad) = action.nodes().iter().find(|x| **x >= n) {
                bail!("{}: there is no node {bad} (0 to {})", at("step", k), n - 1);
            }
            if let Action::Join { node, checkpoint } = &action {
                if !self.nodes[*node].late || joined.contains(node) {
                    bail!(
                        "{}: join starts a late node (late = true), once",
                        at("step", k)
                    );
                }
                if checkpoint.is_some_and(|(from, _)| self.nodes[from].late) {
                    bail!(
                        "{}: checkpoint_from names a node running from the start",
                        at("step", k)
                    );
                }
                joined.push(*node);
            }
        }
        for (field, list) in [
            ("jailed", &self.expect.jailed),
            ("voted_out", &self.expect.voted_out),
            ("forked", &self.expect.forked),
        ] {
            if let Some(bad) = list.iter().flatten().find(|x| **x >= n) {
                bail!("expect.{field}: there is no node {bad}");
            }
        }
        Ok(())
    }

    /// The workload runs from the start, unless a step starts it.
    pub fn workload_from_start(&self) -> bool {
        !self
            .steps
            .iter()
            .any(|x| matches!(x.action(), Ok(Action::StartWorkload)))
    }

    /// The honest nodes: no Byzantine role, and no twin.
    pub fn honest(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].role == "honest" && self.nodes[*i].twin_of.is_none())
            .collect()
    }

    /// The twins (nodes holding another's key) come after the others.
    pub fn validators(&self) -> usize {
        self.nodes.iter().filter(|n| n.twin_of.is_none()).count()
    }
}
