//! Changes on the simulation's timeline, at a time or when the first honest
//! node's chain reaches a height: the network (cuts, isolation, links), hash
//! power, restarts, authority votes, the workload's rate, and transactions a
//! node's own account signs (payments to watch, bonds, unbonds).

use super::config::NetChange;
use super::log::EventKind;
use super::{node_key, Ev, Simulator};
use crate::engine::{Input, NodeId};

impl Simulator {
    /// Queues the height-triggered changes that `node`'s new height reaches,
    /// when `node` is the first honest node (they run as the next event, out
    /// of the engine step that reported the height).
    pub(super) fn height_reached(&mut self, node: NodeId, height: u64) {
        if self.height_pending.is_empty() || node != self.reference {
            return;
        }
        let due: Vec<usize> = self
            .height_pending
            .iter()
            .copied()
            .filter(|i| self.config.at_height[*i].0 <= height)
            .collect();
        self.height_pending.retain(|i| !due.contains(i));
        for i in due {
            self.schedule(0, Ev::AtHeight(i));
        }
    }

    /// Makes one change of the timeline.
    pub(super) fn change(&mut self, change: NetChange) {
        match &change {
            NetChange::HashPower(f) => {
                self.hash_factor *= f;
                // Every miner's next block is redrawn at the new rate.
                for n in 0..self.nodes.len() {
                    if let Some(job) = self.nodes[n].job.clone() {
                        self.start_mining(n, job);
                    }
                }
            }
            NetChange::Propose {
                voters,
                candidate,
                add,
            } => {
                let candidate = node_key(*candidate).public();
                for v in voters.clone() {
                    let add = *add;
                    self.step(v, Input::Propose { candidate, add }, None);
                }
            }
            NetChange::Tps(tps) => {
                self.config.tps = *tps;
                if *tps > 0.0 && !self.workload_on && self.mining {
                    self.workload_on = true;
                    let d = self.exp_delay(1000.0 / tps);
                    self.schedule(d, Ev::Workload);
                }
            }
            NetChange::Submit { node, action } => self.submit_own(*node, action.clone()),
            _ => {}
        }
        let always = matches!(
            change,
            NetChange::HashPower(_)
                | NetChange::Propose { .. }
                | NetChange::Tps(_)
                | NetChange::Submit { .. }
        );
        if self.settling && !always {
            return;
        }
        self.net.apply(&change);
        let t = self.at();
        self.log.record(
            t,
            None,
            &EventKind::Network {
                change: format!("{change:?}"),
            },
        );
        match change {
            NetChange::Restart { node, record } => self.restart(node, record),
            NetChange::Join { node, checkpoint } => self.join(node, checkpoint),
            _ => {}
        }
    }

    /// `node`'s own account signs `action` and hands it to its node; the
    /// report follows it to the end.
    fn submit_own(&mut self, node: NodeId, action: generals_chain::tx::Action) {
        let (tx, taken) = self.wallet_sends(node, &node_key(node), action);
        self.stats.watched.push((node, tx.hash(), taken));
    }
}
