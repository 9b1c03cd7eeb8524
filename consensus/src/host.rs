//! The one host loop. An engine asks for things (`Output`); a host carries them
//! out. The simulator and the real node are two implementations of `Host`, and
//! `drive` is the only code that turns outputs into actions: it validates and
//! imports blocks through the node's `NodeCore`, builds blocks from the
//! mempool, follows finality and justification, tells the engine when the tip
//! moves, and writes a signer's record before anything after it leaves. What a
//! host does differently (a simulated network and a virtual clock, or libp2p,
//! sled and the wall clock) stays behind the trait.

use crate::core::{AddError, NodeCore, TipChange};
use crate::engine::{Consensus, Input, NodeId, Output, Record};
use generals_chain::{Block, BlockStore, Evidence, Hash, PublicKey, SignedMessage, Transaction};
use std::collections::VecDeque;

/// A block to mine: build it from the mempool on `parent` and search for a
/// seal whose work hash meets `difficulty` (after `Output::Mine`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MineJob {
    pub parent: Hash,
    pub height: u64,
    /// The earliest timestamp the block may carry.
    pub min_timestamp_ms: u64,
    /// The engine's header data.
    pub consensus: Vec<u8>,
    pub difficulty: u128,
}

/// What became of a block the engine asked to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Duplicate,
    /// Held until its missing parent arrives.
    Orphan,
    Invalid(String),
    /// The ledger could not take it (a storage failure, not the block's fault).
    Failed,
}

/// What the loop tells the host about, for its logs, events and counters.
#[derive(Debug)]
pub enum Report<'a> {
    /// A block the engine asked to import was refused.
    Refused { hash: Hash, error: &'a AddError },
    /// A block held or connected on the way was refused (an orphan that failed
    /// validation, a branch that failed to apply).
    Rejected { hash: Hash, reason: &'a str },
    /// The main chain moved. `in_turn` says of each applied block whether
    /// its producer was the one the rules expected (for engines with turns).
    TipChanged {
        change: &'a TipChange,
        in_turn: &'a [Option<bool>],
    },
    /// This node produced a block and imported it without sending it to
    /// anyone (a withholding attacker's private block).
    Withheld(&'a Block),
    /// A block this node withheld went out.
    Released(&'a Block),
    /// The engine finalized this block (reported before the chain follows it).
    Finalized(Hash),
    /// The engine justified this checkpoint (reported before the chain follows it).
    Justified(Hash),
    /// The chain could not follow a finalized block or a justified checkpoint.
    NotFollowed { hash: Hash, error: String },
    /// The engine saw misbehaviour.
    Evidence(&'a Evidence),
    /// The engine put a transaction in the local mempool.
    Pending(&'a Transaction),
    /// A block this node built, as its engine sealed it (the hash it has from
    /// now on: `Host::produced` saw it unsealed).
    Sealed(Hash),
}

/// A signer's record could not be written: nothing after it was carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signing record {name:?} could not be saved: {reason}")]
pub struct Unsaved {
    pub name: &'static str,
    pub reason: String,
}

/// Why a host could not write a record (its storage's own error).
pub type PersistError = Box<dyn std::error::Error + Send + Sync>;

/// What differs between the simulator and a real node.
pub trait Host {
    type Store: BlockStore;

    /// This node's chain: ledger, fork tree, mempool and orphans.
    fn core(&self) -> &NodeCore<Self::Store>;
    fn core_mut(&mut self) -> &mut NodeCore<Self::Store>;
    /// This node's clock, in ms since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// The key the blocks this node builds are credited to.
    fn producer(&self) -> PublicKey;
    /// Starts mining `job`, replacing any job before it.
    fn mine(&mut self, job: MineJob);
    fn stop_mining(&mut self);
    /// Sends a block to one peer, or to every peer (`None`).
    fn send_block(&mut self, to: Option<NodeId>, block: Block);
    /// Sends a consensus message to one peer, or to every peer (`None`).
    fn send_message(&mut self, to: Option<NodeId>, message: SignedMessage);
    /// Sends a transaction to the peers (not to the local mempool).
    fn send_transaction(&mut self, tx: Transaction);
    /// Calls back with `Input::Timer { id }` at `at_ms` on this node's clock.
    fn set_timer(&mut self, id: u64, at_ms: u64);
    /// Writes and flushes a signer's record; nothing later in the step is
    /// carried out unless this succeeds.
    fn persist(&mut self, record: &Record) -> Result<(), PersistError>;
    /// Asks `peer`, which sent a block whose parent is missing, for `missing`.
    fn fetch(&mut self, peer: NodeId, missing: Hash);
    /// A block this node built or mined, about to go to its engine; returns
    /// the clock reading the engine gets with it.
    fn produced(&mut self, block: &Block) -> u64;
    /// Something happened that the host may log or count.
    fn report(&mut self, event: Report<'_>);
    /// The blocks this node produced and has not sent yet.
    fn withheld(&mut self) -> &mut Withheld;
}

/// Blocks a node produced and kept to itself (at most `Withheld::MAX`; the
/// oldest are forgotten). A host serves none of them to its peers.
#[derive(Debug, Default)]
pub struct Withheld {
    held: std::collections::HashSet<Hash>,
    /// Arrival order, for forgetting the oldest (released ones are skipped).
    order: VecDeque<Hash>,
}

impl Withheld {
    pub const MAX: usize = 65_536;

    fn hold(&mut self, hash: Hash) {
        while self.order.len() >= Self::MAX {
            if let Some(old) = self.order.pop_front() {
                self.held.remove(&old);
            }
        }
        if self.held.insert(hash) {
            self.order.push_back(hash);
        }
    }

    /// Whether `hash` was withheld (it is not any more).
    fn release(&mut self, hash: &Hash) -> bool {
        let was = self.held.remove(hash);
        if self.held.is_empty() {
            self.order.clear();
        }
        was
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.held.contains(hash)
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// The blocks a step imports but sends to no one: after `Input::Produced`,
/// the blocks an attacker keeps private.
fn kept_private(outputs: &[Output]) -> Vec<Block> {
    let sent: Vec<Hash> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Broadcast(b) | Output::SendBlock { block: b, .. } => Some(b.hash()),
            _ => None,
        })
        .collect();
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Import(b) if !sent.contains(&b.hash()) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn hold_private<H: Host + ?Sized>(host: &mut H, outputs: &[Output]) {
    for block in kept_private(outputs) {
        host.withheld().hold(block.hash());
        host.report(Report::Withheld(&block));
    }
}

fn send_block<H: Host + ?Sized>(host: &mut H, to: Option<NodeId>, block: Block) {
    if host.withheld().release(&block.hash()) {
        host.report(Report::Released(&block));
    }
    host.send_block(to, block);
}

/// Feeds `input` to `engine` and carries out what it asks, and everything that
/// leads to, until nothing is left. `from` is the peer the input came from
/// (asked for a missing parent). Returns the verdict on each block imported.
pub fn drive<H: Host + ?Sized>(
    host: &mut H,
    engine: &mut dyn Consensus,
    input: Input,
    from: Option<NodeId>,
) -> Result<Vec<Verdict>, Unsaved> {
    let produced = matches!(input, Input::Produced { .. });
    let outputs = engine.handle(input, host.core().ledger().store());
    if produced {
        hold_private(host, &outputs);
    }
    let mut step = Step::default();
    carry_out(host, engine, outputs, from, &mut step)?;
    Ok(step.verdicts)
}

/// What one `drive` keeps across the outputs it carries out.
#[derive(Default)]
struct Step {
    verdicts: Vec<Verdict>,
    /// The newest record written, by name. A new tip's outputs wait behind
    /// those of the step before, while a block built is handled at once, so
    /// an older record can come up after a newer one: it is not written.
    written: std::collections::BTreeMap<&'static str, u64>,
}

/// Carries out one step's outputs in order; the outputs they lead to (a new
/// tip's) follow after the step's own. A block built here goes back to the
/// engine at once, and what it asks then is carried out before the rest.
fn carry_out<H: Host + ?Sized>(
    host: &mut H,
    engine: &mut dyn Consensus,
    outputs: Vec<Output>,
    from: Option<NodeId>,
    step: &mut Step,
) -> Result<(), Unsaved> {
    let mut work: VecDeque<Output> = outputs.into();
    while let Some(out) = work.pop_front() {
        match out {
            Output::Persist(record) => {
                if step.written.get(record.name) >= Some(&record.seq) {
                    continue;
                }
                host.persist(&record).map_err(|e| Unsaved {
                    name: record.name,
                    reason: e.to_string(),
                })?;
                step.written.insert(record.name, record.seq);
            }
            Output::Mine {
                parent,
                height,
                min_timestamp_ms,
                consensus,
                difficulty,
            } => host.mine(MineJob {
                parent,
                height,
                min_timestamp_ms,
                consensus,
                difficulty,
            }),
            Output::StopMining => host.stop_mining(),
            Output::Import(block) => {
                let (verdict, more) = import(host, engine, block, from);
                step.verdicts.push(verdict);
                work.extend(more);
            }
            Output::Broadcast(block) => send_block(host, None, block),
            Output::SendBlock { to, block } => send_block(host, Some(to), block),
            Output::BroadcastMessage(m) => host.send_message(None, m),
            Output::SendMessage { to, message } => host.send_message(Some(to), message),
            Output::SendTransaction(tx) => host.send_transaction(tx),
            Output::SetTimer { id, at_ms } => host.set_timer(id, at_ms),
            Output::Submit(tx) => {
                if host.core_mut().submit(tx.clone()).is_ok() {
                    host.report(Report::Pending(&tx));
                    let now_ms = host.now_ms();
                    let input = Input::Transaction { tx, now_ms };
                    let more = engine.handle(input, host.core().ledger().store());
                    carry_out(host, engine, more, None, step)?;
                }
            }
            Output::Build {
                parent,
                height,
                timestamp_ms,
                consensus,
                evidence,
            } => {
                let built = {
                    let include = |tx: &Transaction| engine.includes(tx);
                    host.core().build_on(
                        parent,
                        height,
                        timestamp_ms,
                        host.producer(),
                        consensus,
                        evidence,
                        &include,
                    )
                };
                // None: the parent's state could not be worked out (it left
                // the tree); the engine asks again on its next turn.
                if let Some(block) = built {
                    let now_ms = host.produced(&block);
                    let input = Input::Produced { block, now_ms };
                    let more = engine.handle(input, host.core().ledger().store());
                    if let Some(sealed) = more.iter().find_map(|o| match o {
                        Output::Import(b)
                        | Output::Broadcast(b)
                        | Output::SendBlock { block: b, .. }
                            if b.header.parent == parent && b.header.height == height =>
                        {
                            Some(b.hash())
                        }
                        _ => None,
                    }) {
                        host.report(Report::Sealed(sealed));
                    }
                    hold_private(host, &more);
                    carry_out(host, engine, more, None, step)?;
                }
            }
            Output::Finalize(hash) => {
                host.report(Report::Finalized(hash));
                // A finalized block is never reverted.
                let change = host.core_mut().finalize(hash);
                work.extend(follow(host, engine, hash, change));
            }
            Output::Justified(hash) => {
                host.report(Report::Justified(hash));
                let change = host.core_mut().justify(hash);
                work.extend(follow(host, engine, hash, change));
            }
            Output::Evidence(evidence) => host.report(Report::Evidence(&evidence)),
        }
    }
    Ok(())
}

/// The chain's move after finality or justification.
fn follow<H: Host + ?Sized, E: std::fmt::Display>(
    host: &mut H,
    engine: &mut dyn Consensus,
    hash: Hash,
    change: Result<Option<TipChange>, E>,
) -> Vec<Output> {
    match change {
        Ok(change) => tip_changed(host, engine, change),
        Err(e) => {
            host.report(Report::NotFollowed {
                hash,
                error: e.to_string(),
            });
            Vec::new()
        }
    }
}

/// Hands a block to the chain; returns the verdict and the engine's outputs
/// for a new tip.
fn import<H: Host + ?Sized>(
    host: &mut H,
    engine: &mut dyn Consensus,
    block: Block,
    from: Option<NodeId>,
) -> (Verdict, Vec<Output>) {
    let hash = block.hash();
    let now_ms = host.now_ms();
    let added = match host.core_mut().add_block(block, &*engine, now_ms) {
        Ok(added) => added,
        Err(error) => {
            host.report(Report::Refused {
                hash,
                error: &error,
            });
            let verdict = match error {
                AddError::Invalid { source, .. } => Verdict::Invalid(source.to_string()),
                AddError::TooFarAhead { .. } => Verdict::Invalid("too far ahead".into()),
                AddError::Checkpoint { .. } => Verdict::Invalid(error.to_string()),
                _ => Verdict::Failed,
            };
            return (verdict, Vec::new());
        }
    };
    if added.duplicate {
        return (Verdict::Duplicate, Vec::new());
    }
    if let (Some(missing), Some(peer)) = (added.missing_parent, from) {
        host.fetch(peer, missing);
    }
    for (hash, reason) in &added.rejected {
        host.report(Report::Rejected {
            hash: *hash,
            reason,
        });
    }
    if added.missing_parent.is_some() {
        return (Verdict::Orphan, Vec::new());
    }
    (
        Verdict::Accepted,
        tip_changed(host, engine, added.tip_change),
    )
}

/// A development chain's request for a block (`generals forge`): asks the
/// engine to build one on `parent` (the tip if `None`) and carries out what it
/// asks. The host learns of the block through `Host::produced`; none comes
/// when the rules give this validator no turn. The outer error is a record
/// that could not be saved, the inner one the engine's refusal.
pub fn forge<H: Host + ?Sized>(
    host: &mut H,
    engine: &mut dyn Consensus,
    parent: Option<Hash>,
) -> Result<Result<Vec<Verdict>, crate::ondemand::ForgeError>, Unsaved> {
    let parent = match parent {
        None => None,
        Some(hash) => match crate::engine::Headers::header(host.core().ledger().store(), &hash) {
            Some(header) => Some(header),
            None => return Ok(Err(crate::ondemand::ForgeError::UnknownParent(hash))),
        },
    };
    let outputs = match engine.forge(parent.as_ref(), host.core().ledger().store()) {
        Ok(outputs) => outputs,
        Err(e) => return Ok(Err(e)),
    };
    let mut step = Step::default();
    carry_out(host, engine, outputs, None, &mut step)?;
    Ok(Ok(step.verdicts))
}

/// Carries out a move of the main chain made outside the engine (an
/// operator's `invalidate` or `reconsider`): reports it, tells the engine of
/// the new tip and carries out what it asks.
pub fn follow_change<H: Host + ?Sized>(
    host: &mut H,
    engine: &mut dyn Consensus,
    change: Option<TipChange>,
) -> Result<Vec<Verdict>, Unsaved> {
    let outputs = tip_changed(host, engine, change);
    let mut step = Step::default();
    carry_out(host, engine, outputs, None, &mut step)?;
    Ok(step.verdicts)
}

/// Reports a move of the main chain and tells the engine; returns what it asks.
fn tip_changed<H: Host + ?Sized>(
    host: &mut H,
    engine: &mut dyn Consensus,
    change: Option<TipChange>,
) -> Vec<Output> {
    let Some(change) = change else {
        return Vec::new();
    };
    let in_turn: Vec<Option<bool>> = change
        .applied
        .iter()
        .map(|b| {
            let store = host.core().ledger().store();
            let parent = crate::engine::Headers::header(store, &b.header.parent)?;
            engine
                .in_turn(&parent, store)
                .map(|k| k == b.header.producer)
        })
        .collect();
    host.report(Report::TipChanged {
        change: &change,
        in_turn: &in_turn,
    });
    let tip = host.core().ledger().tip_header().clone();
    let now_ms = host.now_ms();
    engine.handle(Input::NewTip { tip, now_ms }, host.core().ledger().store())
}
