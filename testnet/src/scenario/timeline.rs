//! The timeline of a scenario: its steps, each at a time from the start
//! (`at_s`) or when the first honest node reaches a height (`at_height`), and
//! what each does.
//!
//! ```toml
//! [[step]]
//! at_s = 10
//! action = "partition"      # groups = [[0, 1], [2, 3]]
//! [[step]]
//! at_height = 12
//! action = "link"           # a, b, latency_ms, jitter_ms, loss
//! a = 0
//! b = 3
//! latency_ms = 800
//! [[step]]
//! at_s = 20
//! action = "pay"            # node pays amount to a merchant; the run watches it
//! node = 1
//! amount = 500
//! ```

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A step as the file gives it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub at_s: Option<f64>,
    #[serde(default)]
    pub at_height: Option<u64>,
    pub action: String,
    #[serde(default)]
    pub groups: Option<Vec<Vec<usize>>>,
    #[serde(default)]
    pub node: Option<usize>,
    /// `link`: the two ends and what the link becomes.
    #[serde(default)]
    pub a: Option<usize>,
    #[serde(default)]
    pub b: Option<usize>,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub jitter_ms: Option<u64>,
    #[serde(default)]
    pub loss: Option<f64>,
    /// `bond`, `unbond`, `pay`: how much.
    #[serde(default)]
    pub amount: Option<u64>,
    /// `propose`: the authorities that vote, the node voted on, and whether
    /// to add it (true) or remove it (false).
    #[serde(default)]
    pub voters: Option<Vec<usize>>,
    #[serde(default)]
    pub candidate: Option<usize>,
    #[serde(default)]
    pub add: Option<bool>,
    /// `join`: the node whose main chain gives the joining node its
    /// checkpoint, and the checkpoint's height (both or neither).
    #[serde(default)]
    pub checkpoint_from: Option<usize>,
    #[serde(default)]
    pub checkpoint_height: Option<u64>,
    /// `vote`: the nodes whose validator keys the node's stake votes for.
    #[serde(default)]
    pub delegates: Option<Vec<usize>>,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Cut the groups apart; a node in no group keeps every link.
    Partition(Vec<Vec<usize>>),
    /// Undo every partition.
    Heal,
    /// Kill a node (SIGKILL).
    Kill(usize),
    /// Start a killed node again.
    Restart(usize),
    /// Start a late node (`late = true`) for the first time, from an empty
    /// chain; with a checkpoint, block `height` of node `from`'s main chain
    /// (`--checkpoint HEIGHT:HASH`).
    Join {
        node: usize,
        checkpoint: Option<(usize, u64)>,
    },
    /// Stop a node's process (SIGSTOP), and let it go on (SIGCONT).
    Pause(usize),
    Resume(usize),
    /// The link between two nodes gets this latency, jitter and loss (all
    /// zero: a plain link again).
    Link {
        a: usize,
        b: usize,
        latency_ms: u64,
        jitter_ms: u64,
        loss: f64,
    },
    /// The scenario's workload starts, or stops.
    StartWorkload,
    StopWorkload,
    /// The node's account pays `amount` to a merchant; the run watches the
    /// payment (on the main chain at the end, or reverted).
    Pay {
        node: usize,
        amount: u64,
    },
    /// Proof of stake and BFT: the node bonds more stake, or unbonds some.
    Bond {
        node: usize,
        amount: u64,
    },
    Unbond {
        node: usize,
        amount: u64,
    },
    /// Delegated proof of stake: the node's bonded stake votes for these
    /// nodes' validator keys.
    Vote {
        node: usize,
        delegates: Vec<usize>,
    },
    /// Proof of authority: these authorities vote to add or remove a node.
    Propose {
        voters: Vec<usize>,
        candidate: usize,
        add: bool,
    },
}

impl Action {
    /// The nodes the action names.
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            Action::Partition(groups) => groups.iter().flatten().copied().collect(),
            Action::Heal | Action::StartWorkload | Action::StopWorkload => Vec::new(),
            Action::Kill(n) | Action::Restart(n) | Action::Pause(n) | Action::Resume(n) => {
                vec![*n]
            }
            Action::Pay { node, .. } | Action::Bond { node, .. } | Action::Unbond { node, .. } => {
                vec![*node]
            }
            Action::Link { a, b, .. } => vec![*a, *b],
            Action::Join { node, checkpoint } => {
                [*node].into_iter().chain(checkpoint.map(|c| c.0)).collect()
            }
            Action::Vote { node, delegates } => {
                [node].into_iter().chain(delegates).copied().collect()
            }
            Action::Propose {
                voters, candidate, ..
            } => voters.iter().chain([candidate]).copied().collect(),
        }
    }

    /// After this step the network should recover (the liveness bound runs
    /// from the last of them).
    pub fn heals(&self) -> bool {
        matches!(self, Action::Heal | Action::Resume(_) | Action::Restart(_))
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Partition(groups) => {
                let g: Vec<String> = groups
                    .iter()
                    .map(|g| g.iter().map(usize::to_string).collect::<Vec<_>>().join(","))
                    .collect();
                write!(f, "partition {}", g.join(" | "))
            }
            Action::Heal => write!(f, "heal"),
            Action::Kill(n) => write!(f, "kill n{n}"),
            Action::Restart(n) => write!(f, "restart n{n}"),
            Action::Join {
                node,
                checkpoint: None,
            } => write!(f, "n{node} joins"),
            Action::Join {
                node,
                checkpoint: Some((from, height)),
            } => write!(
                f,
                "n{node} joins with a checkpoint: n{from}'s block at height {height}"
            ),
            Action::Pause(n) => write!(f, "pause n{n}"),
            Action::Resume(n) => write!(f, "resume n{n}"),
            Action::Link {
                a,
                b,
                latency_ms,
                jitter_ms,
                loss,
            } => write!(
                f,
                "link n{a}-n{b}: {latency_ms} ms ± {jitter_ms} ms, loss {loss}"
            ),
            Action::StartWorkload => write!(f, "start the workload"),
            Action::StopWorkload => write!(f, "stop the workload"),
            Action::Pay { node, amount } => write!(f, "n{node} pays {amount} to the merchant"),
            Action::Bond { node, amount } => write!(f, "n{node} bonds {amount}"),
            Action::Unbond { node, amount } => write!(f, "n{node} unbonds {amount}"),
            Action::Vote { node, delegates } => {
                let d: Vec<String> = delegates.iter().map(|d| format!("n{d}")).collect();
                write!(f, "n{node} votes for {}", d.join(", "))
            }
            Action::Propose {
                voters,
                candidate,
                add,
            } => write!(
                f,
                "{voters:?} vote to {} n{candidate}",
                if *add { "add" } else { "remove" }
            ),
        }
    }
}

const ACTIONS: &str = "partition, heal, kill, restart, join, pause, resume, link, \
                       start-workload, stop-workload, pay, bond, unbond, vote, propose";

impl Step {
    pub fn action(&self) -> Result<Action> {
        let need = |what: &str, v: Option<usize>| {
            v.with_context(|| format!("action {:?} needs {what}", self.action))
        };
        let node = || need("node", self.node);
        let amount = || match self.amount {
            Some(a) if a > 0 => Ok(a),
            _ => bail!("action {:?} needs amount, above zero", self.action),
        };
        Ok(match self.action.as_str() {
            "partition" => {
                let groups = self
                    .groups
                    .clone()
                    .context("action \"partition\" needs groups")?;
                if groups.len() < 2 {
                    bail!("partition: groups needs two groups or more");
                }
                Action::Partition(groups)
            }
            "heal" => Action::Heal,
            "kill" => Action::Kill(node()?),
            "restart" => Action::Restart(node()?),
            "join" => Action::Join {
                node: node()?,
                checkpoint: match (self.checkpoint_from, self.checkpoint_height) {
                    (None, None) => None,
                    (Some(from), Some(h)) if h > 0 => Some((from, h)),
                    _ => bail!(
                        "join: give checkpoint_from (a node) and checkpoint_height \
                         (above zero) together, or neither"
                    ),
                },
            },
            "pause" => Action::Pause(node()?),
            "resume" => Action::Resume(node()?),
            "link" => {
                let loss = self.loss.unwrap_or(0.0);
                if !(0.0..=1.0).contains(&loss) {
                    bail!("link: loss is a probability, 0 to 1");
                }
                let (a, b) = (need("a", self.a)?, need("b", self.b)?);
                if a == b {
                    bail!("link: a and b are two different nodes");
                }
                Action::Link {
                    a,
                    b,
                    latency_ms: self.latency_ms.unwrap_or(0),
                    jitter_ms: self.jitter_ms.unwrap_or(0),
                    loss,
                }
            }
            "start-workload" => Action::StartWorkload,
            "stop-workload" => Action::StopWorkload,
            "pay" => Action::Pay {
                node: node()?,
                amount: amount()?,
            },
            "bond" => Action::Bond {
                node: node()?,
                amount: amount()?,
            },
            "unbond" => Action::Unbond {
                node: node()?,
                amount: amount()?,
            },
            "vote" => {
                let delegates = self
                    .delegates
                    .clone()
                    .filter(|d| !d.is_empty() && d.len() <= generals_chain::tx::MAX_VOTES)
                    .context("action \"vote\" needs delegates, 1 to 30 node numbers")?;
                Action::Vote {
                    node: node()?,
                    delegates,
                }
            }
            "propose" => {
                let voters = self
                    .voters
                    .clone()
                    .filter(|v| !v.is_empty())
                    .context("action \"propose\" needs voters, one or more")?;
                Action::Propose {
                    voters,
                    candidate: need("candidate", self.candidate)?,
                    add: self
                        .add
                        .context("action \"propose\" needs add (true to add, false to remove)")?,
                }
            }
            other => bail!("action {other:?} is not one of {ACTIONS}"),
        })
    }
}
