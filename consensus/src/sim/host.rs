//! The simulator's `Host`: the one host loop (`crate::host::drive`) carries
//! out a simulated node's engine outputs through it, on the virtual clock and
//! the simulated network, and every event goes to the log.

use super::log::EventKind;
use super::{Ev, Msg, Simulator};
use crate::core::NodeCore;
use crate::engine::{Input, NodeId, Record};
use crate::host::{drive, Host, MineJob, PersistError, Report};
use generals_chain::store::Tip;
use generals_chain::BlockStore;
use generals_chain::{Block, Hash, MemoryStore, PublicKey, SignedMessage, Transaction};
use rand::Rng;

/// One simulated node, as the host loop sees it.
struct SimHost<'a> {
    sim: &'a mut Simulator,
    node: NodeId,
}

impl Host for SimHost<'_> {
    type Store = MemoryStore;

    fn core(&self) -> &NodeCore<MemoryStore> {
        &self.sim.nodes[self.node].core
    }

    fn core_mut(&mut self) -> &mut NodeCore<MemoryStore> {
        &mut self.sim.nodes[self.node].core
    }

    fn now_ms(&self) -> u64 {
        self.sim.local(self.node)
    }

    fn producer(&self) -> PublicKey {
        self.sim.nodes[self.node].key.public()
    }

    fn mine(&mut self, job: MineJob) {
        self.sim.start_mining(self.node, job);
    }

    fn stop_mining(&mut self) {
        let n = &mut self.sim.nodes[self.node];
        n.attempt += 1;
        n.job = None;
    }

    fn send_block(&mut self, to: Option<NodeId>, block: Block) {
        self.sim.nodes[self.node].published.insert(block.hash());
        match to {
            Some(to) => self.sim.send(self.node, to, Msg::Block(block)),
            None => self.sim.send_all(self.node, Msg::Block(block)),
        }
    }

    fn send_message(&mut self, to: Option<NodeId>, message: SignedMessage) {
        match to {
            Some(to) => self.sim.send(self.node, to, Msg::Consensus(message)),
            None => self.sim.send_all(self.node, Msg::Consensus(message)),
        }
    }

    fn send_transaction(&mut self, tx: Transaction) {
        let t = self.sim.at();
        let kind = EventKind::TxSent { hash: tx.hash() };
        self.sim.log.record(t, Some(self.node), &kind);
        self.sim.send_all(self.node, Msg::Tx(tx));
    }

    fn set_timer(&mut self, id: u64, at_ms: u64) {
        // Set on the node's clock, fired by the simulated one: it wakes a skew
        // late, as a real clock that runs behind would.
        let delay = at_ms.saturating_sub(self.sim.at());
        let node = self.node;
        let incarnation = self.sim.nodes[node].incarnation;
        let timer = Ev::Timer {
            node,
            id,
            incarnation,
        };
        self.sim.schedule(delay, timer);
    }

    fn persist(&mut self, record: &Record) -> Result<(), PersistError> {
        let records = &mut self.sim.nodes[self.node].records;
        records.insert(record.name, record.bytes.clone());
        Ok(())
    }

    fn fetch(&mut self, peer: NodeId, missing: Hash) {
        self.sim.send(self.node, peer, Msg::GetBlock(missing));
    }

    fn produced(&mut self, block: &Block) -> u64 {
        self.sim.note_produced(self.node, block)
    }

    fn report(&mut self, event: Report<'_>) {
        let node = self.node;
        match event {
            Report::Refused { hash, error } => {
                self.sim.invalid(node, hash, error.to_string());
            }
            Report::Rejected { hash, reason } => {
                self.sim.invalid(node, hash, reason.to_string());
            }
            Report::TipChanged { change, in_turn } => self.sim.tip_changed(node, change, in_turn),
            Report::Withheld(b) => {
                let t = self.sim.at();
                let kind = EventKind::Withheld {
                    hash: b.hash(),
                    height: b.height(),
                };
                self.sim.log.record(t, Some(node), &kind);
            }
            Report::Released(b) => {
                let t = self.sim.at();
                let kind = EventKind::Released {
                    hash: b.hash(),
                    height: b.height(),
                };
                self.sim.log.record(t, Some(node), &kind);
            }
            Report::Finalized(hash) => {
                let t = self.sim.at();
                self.sim
                    .log
                    .record(t, Some(node), &EventKind::Finalized { hash });
                if let Some(n) = self.sim.nodes[node].core.tree().get(&hash) {
                    let height = n.height;
                    let stats = &mut self.sim.stats;
                    stats.finalized[node] = stats.finalized[node].max(height);
                    stats.commits[node].entry(height).or_insert(hash);
                }
            }
            Report::Justified(hash) => {
                let t = self.sim.at();
                self.sim
                    .log
                    .record(t, Some(node), &EventKind::Justified { hash });
            }
            Report::Evidence(evidence) => {
                let t = self.sim.at();
                let kind = EventKind::Evidence {
                    offender: evidence.offender(),
                };
                self.sim.log.record(t, Some(node), &kind);
            }
            Report::NotFollowed { .. } | Report::Pending(_) | Report::Sealed(_) => {}
        }
    }

    fn withheld(&mut self) -> &mut crate::host::Withheld {
        &mut self.sim.nodes[self.node].withheld
    }
}

impl Simulator {
    /// Feeds an input to a node's engine; the one host loop carries out what
    /// it asks, and what that leads to. `from` is the peer the input came from.
    pub(super) fn step(&mut self, node: NodeId, input: Input, from: Option<NodeId>) {
        let Some(mut engine) = self.nodes[node].engine.take() else {
            return;
        };
        let mut host = SimHost { sim: self, node };
        // The simulator's records are in memory: saving them cannot fail.
        let _ = drive(&mut host, engine.as_mut(), input, from);
        self.nodes[node].engine = Some(engine);
    }

    pub(super) fn found(&mut self, node: NodeId, attempt: u64) {
        if !self.mining || self.nodes[node].attempt != attempt {
            return;
        }
        let Some(job) = self.nodes[node].job.clone() else {
            return;
        };
        let now_ms = self.local(node);
        let timestamp = now_ms.max(job.min_timestamp_ms);
        let n = &self.nodes[node];
        let include = |tx: &Transaction| n.engine.as_ref().is_none_or(|e| e.includes(tx));
        let Some(mut block) = n.core.build_on(
            job.parent,
            job.height,
            timestamp,
            n.key.public(),
            job.consensus,
            Vec::new(),
            &include,
        ) else {
            return;
        };
        // The work was simulated: any nonce stands for the one a miner would find.
        block.header.seal = self.rng.gen::<u64>().to_le_bytes().to_vec();
        let now_ms = self.note_produced(node, &block);
        self.step(node, Input::Produced { block, now_ms }, None);
    }

    /// A node crashes and restarts: a new engine from the engine factory, with
    /// the record the old one persisted (or none), taught the blocks the node
    /// keeps and started on its tip. The old engine's timers and mining job die.
    pub(super) fn restart(&mut self, node: NodeId, keep_record: bool) {
        let name = crate::factory::record_name(&self.genesis.consensus);
        let record = name
            .filter(|_| keep_record)
            .and_then(|n| self.nodes[node].records.get(n).cloned());
        let mut ignored = None;
        let built = super::engines::make(&self.config, &self.genesis, node, record, &mut ignored);
        let Ok(mut engine) = built else {
            // Only a damaged record fails here, and the simulator wrote it.
            return;
        };
        let n = &mut self.nodes[node];
        // Every block the node keeps, parents first: the decided chain and
        // the proposals it stored (their validator sets check their children).
        let mut kept: Vec<(u64, Hash)> = n
            .core
            .tree()
            .nodes()
            .filter(|b| b.height > 0)
            .map(|b| (b.height, b.hash))
            .collect();
        kept.sort_unstable();
        for (_, hash) in kept {
            if let Some(block) = n.core.block(&hash) {
                engine.restore(&block);
            }
        }
        n.engine = Some(engine);
        n.incarnation += 1;
        n.attempt += 1;
        n.job = None;
        let tip = n.core.ledger().tip_header().clone();
        let now_ms = self.local(node);
        self.step(node, Input::NewTip { tip, now_ms }, None);
    }

    /// A late node starts: an empty chain, a new engine (no record), the
    /// checkpoint copied from another node's main chain if it has one.
    pub(super) fn join(&mut self, node: NodeId, checkpoint: Option<(NodeId, u64)>) {
        let mut ignored = None;
        let Ok(mut engine) =
            super::engines::make(&self.config, &self.genesis, node, None, &mut ignored)
        else {
            return;
        };
        let Ok(genesis_block) = self.genesis.block() else {
            return;
        };
        let Ok(mut core) = super::empty_core(&self.genesis) else {
            return;
        };
        if let Some((from, height)) = checkpoint {
            let hash = self.nodes[from].core.ledger().store().hash_at(height);
            if let Ok(Some(hash)) = hash {
                // An empty chain agrees with any checkpoint.
                let _ = core.set_checkpoint(Tip { height, hash });
                engine.set_checkpoint(hash);
            }
        }
        let n = &mut self.nodes[node];
        n.core = core;
        n.engine = Some(engine);
        n.incarnation += 1;
        n.attempt += 1;
        n.job = None;
        n.published = std::collections::HashSet::from([genesis_block.hash()]);
        n.records.clear();
        let tip = n.core.ledger().tip_header().clone();
        let now_ms = self.local(node);
        self.step(node, Input::NewTip { tip, now_ms }, None);
        let offset = self.config.announce_ms.saturating_add(node as u64);
        self.schedule(offset, super::Ev::Announce { node });
    }

    /// Counts and logs a block a node built or mined; returns the time the
    /// engine gets with it (the simulated clock: mining races on it).
    fn note_produced(&mut self, node: NodeId, block: &Block) -> u64 {
        let now_ms = self.at();
        self.stats.produced[node] += 1;
        let kind = EventKind::Produced {
            hash: block.hash(),
            height: block.height(),
            txs: block.transactions.len(),
        };
        self.log.record(now_ms, Some(node), &kind);
        now_ms
    }

    fn invalid(&mut self, node: NodeId, hash: Hash, reason: String) {
        self.stats.invalid += 1;
        let now_ms = self.local(node);
        self.log
            .record(now_ms, Some(node), &EventKind::Invalid { hash, reason });
    }

    /// A transaction reaches a node's mempool; the engine hears of it if taken.
    pub(super) fn submit(&mut self, node: NodeId, tx: Transaction) {
        if self.nodes[node].core.submit(tx.clone()).is_ok() {
            let now_ms = self.local(node);
            self.step(node, Input::Transaction { tx, now_ms }, None);
        }
    }
}
