//! The timeline's steps on real processes: signals for kill, pause and resume;
//! the nodes' admin API for partitions, links and authority votes; signed
//! transactions from a node's own account for payments, bonds and unbonds;
//! the `load` child for the workload.

use super::format::{Action, Scenario, Workload};
use crate::local::{self, State};
use anyhow::{bail, Context, Result};
use generals_chain::tx::{Action as TxAction, TxBody};
use generals_chain::Keypair;
use generals_node::config::Home;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

/// The key a scenario's `pay` steps pay (the same in the simulator).
pub fn merchant() -> Keypair {
    Keypair::dev("scenario-merchant")
}

/// A transaction a step had a node sign, and what became of it.
#[derive(Clone, Debug, Serialize)]
pub struct Watched {
    /// The step, as printed ("n1 pays 500 to the merchant").
    pub step: String,
    pub node: usize,
    pub hash: String,
    /// The node took it (`false`: refused, with the reason in `refused`).
    pub accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// On the first honest node's main chain at the end.
    pub kept: bool,
}

/// What the steps started and signed during a run.
pub struct Runner<'a> {
    /// The fork-tree page, shown each step as it runs.
    pub page: Option<&'a crate::ui::Live>,
    pub scenario: &'a Scenario,
    pub dir: PathBuf,
    pub out: PathBuf,
    /// The running workload, and the file that stops it.
    pub load: Option<Child>,
    pub watched: Vec<Watched>,
    /// A private fork's payment was seen with the merchant's confirmations.
    pub payment_seen: bool,
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client without TLS builds")
}

impl Runner<'_> {
    pub fn act(&mut self, action: &Action) -> Result<()> {
        if let Some(page) = self.page {
            page.step(&action.to_string());
        }
        let dir = self.dir.as_path();
        let node_args = |node| local::NodeArgs {
            node,
            dir: dir.to_owned(),
        };
        match action {
            Action::Partition(groups) => local::cut(dir, groups).map(|_| ()),
            Action::Heal => local::heal(local::HealArgs::at(dir)),
            Action::Kill(n) => local::kill_node(node_args(*n)),
            Action::Restart(n) => local::restart(node_args(*n)),
            Action::Join { node, checkpoint } => local::join(local::JoinArgs {
                node: *node,
                checkpoint_from: checkpoint.map(|c| c.0),
                checkpoint_height: checkpoint.map(|c| c.1),
                dir: dir.to_owned(),
            }),
            Action::Pause(n) => local::pause_node(node_args(*n), true),
            Action::Resume(n) => local::pause_node(node_args(*n), false),
            Action::Link {
                a,
                b,
                latency_ms,
                jitter_ms,
                loss,
            } => local::shape(dir, *a, *b, *latency_ms, *jitter_ms, *loss),
            Action::StartWorkload => {
                if self.load.is_none() {
                    let w = self.scenario.workload.as_ref().context("no [workload]")?;
                    let _ = std::fs::remove_file(self.stop_file());
                    self.load = Some(self.start_load(w)?);
                }
                Ok(())
            }
            Action::StopWorkload => {
                std::fs::write(self.stop_file(), b"stop")?;
                Ok(())
            }
            Action::Pay { node, amount } => self.sign(
                action,
                *node,
                TxAction::Transfer {
                    to: merchant().public(),
                    amount: *amount,
                },
            ),
            Action::Bond { node, amount } => {
                self.sign(action, *node, TxAction::Bond { amount: *amount })
            }
            Action::Unbond { node, amount } => {
                self.sign(action, *node, TxAction::Unbond { amount: *amount })
            }
            Action::Vote { node, delegates } => {
                let state = State::load(dir)?;
                let keys = delegates
                    .iter()
                    .map(|d| {
                        let n = state.nodes.get(*d).context("no such delegate")?;
                        Ok(Home::new(&n.home).validator()?.public())
                    })
                    .collect::<Result<Vec<_>>>()?;
                self.sign(action, *node, TxAction::Vote { delegates: keys })
            }
            Action::Propose {
                voters,
                candidate,
                add,
            } => propose(dir, voters, *candidate, *add),
        }
    }

    fn stop_file(&self) -> PathBuf {
        self.out.join("stop-workload")
    }

    /// Starts `generals-testnet load` on the testnet; its JSON report goes to
    /// `out/load.json`, its progress to `out/load.log`. It sends for the
    /// workload's seconds (or the run's), or until a stop-workload step.
    pub fn start_load(&self, w: &Workload) -> Result<Child> {
        let secs = w.seconds.or(self.scenario.end.seconds).unwrap_or(30);
        let me = std::env::current_exe().context("finding generals-testnet")?;
        std::process::Command::new(me)
            .args(["load", "--json", "--settle", "20s"])
            .args(["--tps", &w.tps.to_string()])
            .args(["--senders", &w.senders.unwrap_or(2).to_string()])
            .args(["--duration", &format!("{secs}s")])
            .arg("--stop-file")
            .arg(self.stop_file())
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::fs::File::create(self.out.join("load.json"))?)
            .stderr(std::fs::File::create(self.out.join("load.log"))?)
            .spawn()
            .context("starting the workload")
    }

    /// Node `node`'s own account signs `tx` with its next nonce and hands it
    /// to its node; the run follows it to the end.
    fn sign(&mut self, step: &Action, node: usize, tx: TxAction) -> Result<()> {
        let state = State::load(&self.dir)?;
        let n = state.nodes.get(node).context("no such node")?;
        let key = Home::new(&n.home).validator()?;
        let c = client();
        let account: Value = c
            .get(format!("{}/account/{}", n.api, key.public()))
            .send()
            .and_then(|r| r.json())
            .with_context(|| format!("asking {} for its account", n.name))?;
        let tx = TxBody {
            chain_id: state.chain_id.clone(),
            sender: key.public(),
            nonce: account["next_nonce"].as_u64().unwrap_or(0),
            fee: 1,
            action: tx,
        }
        .sign(&key);
        let r = c
            .post(format!("{}/tx", n.api))
            .json(&json!({ "tx": tx }))
            .send()
            .with_context(|| format!("sending to {}", n.name))?;
        let ok = r.status().is_success();
        let text = r.text().unwrap_or_default();
        if !ok {
            println!("    {} refused it: {text}", n.name);
        }
        self.watched.push(Watched {
            step: step.to_string(),
            node,
            hash: tx.hash().to_string(),
            accepted: ok,
            refused: (!ok).then_some(text),
            kept: false,
        });
        Ok(())
    }

    /// Marks the watched transactions found on `api`'s main chain.
    pub fn settle_watched(&mut self, api: &str) {
        let c = client();
        for w in &mut self.watched {
            let t: Value = c
                .get(format!("{api}/tx/{}", w.hash))
                .send()
                .and_then(|r| r.json())
                .unwrap_or(Value::Null);
            w.kept = t["status"] == "included";
        }
    }
}

/// Each voter asks its node to vote on adding or removing the candidate's key
/// as an authority (`POST /authorities/propose`, with its token).
fn propose(dir: &Path, voters: &[usize], candidate: usize, add: bool) -> Result<()> {
    let state = State::load(dir)?;
    let target = state.nodes.get(candidate).context("no such candidate")?;
    let key = Home::new(&target.home).validator()?.public();
    for v in voters {
        let n = state.nodes.get(*v).context("no such voter")?;
        let r = client()
            .post(format!("{}/authorities/propose", n.api))
            .bearer_auth(Home::new(&n.home).token()?)
            .json(&json!({ "candidate": key, "add": add }))
            .send()
            .with_context(|| format!("asking {} to vote", n.name))?;
        if !r.status().is_success() {
            bail!(
                "{} refused the vote: {}",
                n.name,
                r.text().unwrap_or_default()
            );
        }
    }
    Ok(())
}
