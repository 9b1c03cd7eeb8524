//! The node's `Host`: what the one host loop does on a real node. Blocks,
//! messages and transactions go out by gossip, a signer's record is written to
//! sled and flushed before anything after it, timers run on the wall clock,
//! mining goes to the miner threads, and what happens becomes tracing lines,
//! metrics and API events.

use super::{now_ms, Driver};
use crate::api::types::NodeEvent;
use crate::config::RECORD_KEY;
use crate::direct::Direct;
use crate::miner::{Found, MinerJob};
use generals_chain::{Block, Hash, Header, PublicKey, SignedMessage, SledStore, Transaction};
use generals_consensus::core::{AddError, NodeCore};
use generals_consensus::host::{Host, MineJob, PersistError, Report};
use generals_consensus::{Consensus, ConsensusError, Headers, Input, NodeId, Output, Record};

/// Evidence kept for the API, newest last.
const SEEN_EVIDENCE: usize = 256;

/// An engine that does nothing: answers for the driver's engine in the
/// moment the host loop has it (nothing asks then).
#[derive(Debug)]
pub(super) struct Idle;

impl Consensus for Idle {
    fn kind(&self) -> &'static str {
        "idle"
    }

    fn weight(&self, _header: &Header) -> u128 {
        0
    }

    fn validate(&self, _: &Header, _: &dyn Headers, _: u64) -> Result<(), ConsensusError> {
        Ok(())
    }

    fn handle(&mut self, _input: Input, _headers: &dyn Headers) -> Vec<Output> {
        Vec::new()
    }
}

impl Host for Driver {
    type Store = SledStore;

    fn core(&self) -> &NodeCore<SledStore> {
        &self.p.core
    }

    fn core_mut(&mut self) -> &mut NodeCore<SledStore> {
        &mut self.p.core
    }

    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn producer(&self) -> PublicKey {
        self.p.validator.public()
    }

    fn mine(&mut self, job: MineJob) {
        self.mine_on = Some(job);
        self.new_job = true;
    }

    fn stop_mining(&mut self) {
        self.mine_on = None;
        self.job = None;
    }

    // To one peer over the direct protocol, to all by gossip.
    fn send_block(&mut self, to: Option<NodeId>, block: Block) {
        match to {
            Some(to) => self.send_direct(to, Direct::Block(block)),
            None => self.publish_block(&block),
        }
    }

    fn send_message(&mut self, to: Option<NodeId>, message: SignedMessage) {
        if let Some(c) = &mut self.p.crash {
            if !c.sending(&message, &self.p.validator.public()) {
                return;
            }
        }
        match to {
            Some(to) => self.send_direct(to, Direct::Message(message)),
            None => self.publish_message(&message),
        }
    }

    fn send_transaction(&mut self, tx: Transaction) {
        let topic = self.topics.transactions.clone();
        self.publish(topic, generals_chain::codec::encode(&tx));
    }

    fn set_timer(&mut self, id: u64, at_ms: u64) {
        self.timers.entry(at_ms).or_default().push(id);
    }

    fn persist(&mut self, record: &Record) -> Result<(), PersistError> {
        let tree = match self.records.entry(record.name) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(self.p.core.ledger().store().record(record.name)?)
            }
        };
        // `put` flushes before it returns.
        Ok(tree.put(RECORD_KEY, &record.bytes)?)
    }

    fn fetch(&mut self, peer: NodeId, _missing: Hash) {
        if let Some(peer) = self.peer_index.get(peer).copied() {
            self.request_headers(peer);
        }
    }

    fn produced(&mut self, block: &Block) -> u64 {
        self.p.metrics.produced.inc();
        self.last_produced = Some(block.hash());
        let _ = self.p.events.send(NodeEvent::BlockProduced {
            hash: block.hash(),
            height: block.height(),
        });
        now_ms()
    }

    fn withheld(&mut self) -> &mut generals_consensus::host::Withheld {
        &mut self.withheld
    }

    fn report(&mut self, event: Report<'_>) {
        if let Report::Refused { hash, error } = &event {
            if self.last_produced == Some(*hash) {
                self.produced_refused = Some(error.to_string());
            }
        }
        match event {
            Report::Refused { hash, error } => match error {
                AddError::Invalid { source, .. } => {
                    let reason = source.to_string();
                    tracing::info!(%hash, %reason, "invalid block");
                    let _ = self.p.events.send(NodeEvent::InvalidBlock { hash, reason });
                }
                AddError::TooFarAhead { .. } => {}
                AddError::Checkpoint { .. } => {
                    let reason = error.to_string();
                    tracing::warn!(%hash, %reason, "refused by the checkpoint");
                    let _ = self.p.events.send(NodeEvent::InvalidBlock { hash, reason });
                }
                other => tracing::error!(%hash, error = %other, "could not add a block"),
            },
            Report::Rejected { hash, reason } => {
                let reason = reason.to_string();
                let _ = self.p.events.send(NodeEvent::InvalidBlock { hash, reason });
            }
            Report::TipChanged { change, in_turn } => {
                if !change.undone.is_empty() {
                    let depth = change.undone.len();
                    tracing::info!(depth, from = %change.from.hash.short(), to = %change.to.hash.short(), "reorg");
                    self.p.metrics.reorgs.inc();
                    self.p.metrics.reorg_depth.observe(depth as f64);
                    let _ = self.p.events.send(NodeEvent::Reorg {
                        depth,
                        from: change.from.hash,
                        to: change.to.hash,
                        height: change.to.height,
                    });
                }
                for (i, b) in change.applied.iter().enumerate() {
                    tracing::info!(height = b.height(), hash = %b.hash().short(), txs = b.transactions.len(), "imported block");
                    self.p
                        .metrics
                        .evidence_included
                        .inc_by(b.evidence.len() as u64);
                    let _ = self.p.events.send(NodeEvent::BlockImported {
                        hash: b.hash(),
                        height: b.height(),
                        timestamp_ms: b.header.timestamp_ms,
                        parent: b.header.parent,
                        producer: b.header.producer,
                        in_turn: in_turn.get(i).copied().flatten(),
                    });
                }
            }
            Report::Finalized(hash) => {
                let _ = self.p.events.send(NodeEvent::Finalized { hash });
            }
            Report::Justified(hash) => {
                let _ = self.p.events.send(NodeEvent::Justified { hash });
            }
            Report::Withheld(b) => {
                tracing::info!(height = b.height(), hash = %b.hash().short(), "withheld own block");
                self.p.metrics.withheld.inc();
                let _ = self.p.events.send(NodeEvent::BlockWithheld {
                    hash: b.hash(),
                    height: b.height(),
                });
            }
            Report::Released(b) => {
                tracing::info!(height = b.height(), hash = %b.hash().short(), "released withheld block");
                self.p.metrics.released.inc();
                let _ = self.p.events.send(NodeEvent::BlockReleased {
                    hash: b.hash(),
                    height: b.height(),
                });
            }
            Report::NotFollowed { hash, error } => {
                tracing::error!(%hash, %error, "could not follow a final or justified block");
            }
            Report::Evidence(e) => {
                if !self.seen_evidence.contains(e) {
                    self.p.metrics.evidence_seen.inc();
                    if self.seen_evidence.len() >= SEEN_EVIDENCE {
                        self.seen_evidence.remove(0);
                    }
                    self.seen_evidence.push(e.clone());
                }
                let _ = self.p.events.send(NodeEvent::Evidence {
                    offender: e.offender(),
                });
                let topic = self.topics.evidence.clone();
                self.publish(topic, generals_chain::codec::encode(e));
            }
            Report::Pending(_) => self.template_dirty = true,
            Report::Sealed(hash) => self.last_produced = Some(hash),
        }
    }
}

impl Driver {
    /// Builds a block template from the mempool for the engine's last `Mine`,
    /// with the transactions the engine's blocks may carry.
    pub(super) fn refresh_template(&mut self) {
        self.template_dirty = false;
        let Some(job) = self.mine_on.clone() else {
            return;
        };
        let core = &self.p.core;
        // Off the tip only for a fork made by hand (`forge --parent`).
        let by_hand = self.generate.as_ref().and_then(|g| g.parent) == Some(job.parent);
        if core.ledger().tip().hash != job.parent && !by_hand {
            return;
        }
        let engine = self.engine();
        let include = |tx: &Transaction| engine.includes(tx);
        let built = core.build_on(
            job.parent,
            job.height,
            now_ms().max(job.min_timestamp_ms),
            self.p.validator.public(),
            job.consensus,
            Vec::new(),
            &include,
        );
        match built {
            Some(block) => {
                self.next_job += 1;
                self.p.miner.set_job(MinerJob {
                    id: self.next_job,
                    header: block.header.clone(),
                    difficulty: job.difficulty,
                });
                self.job = Some((self.next_job, block, job.difficulty));
            }
            None => tracing::warn!("could not build a block template"),
        }
    }

    pub(super) fn on_found(&mut self, found: Found) {
        let Some((id, block, _)) = &self.job else {
            return;
        };
        if *id != found.job_id {
            return;
        }
        let mut block = block.clone();
        block.header.seal = found.nonce.to_le_bytes().to_vec();
        self.job = None;
        let hash = block.hash();
        tracing::info!(height = block.height(), hash = %hash.short(), "mined a block");
        let now_ms = Host::produced(self, &block);
        self.step(Input::Produced { block, now_ms }, None);
        self.mined_on_request(hash);
    }
}
