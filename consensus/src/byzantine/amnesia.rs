//! Amnesia: a BFT validator that forgets its lock (Tendermint's lockedValue
//! and validValue, arXiv 1807.04938 lines 36-43). Each time its signing record
//! shows a lock, the wrapper restarts the honest engine from that record with
//! the lock cleared, as a crash would if the record had lost it: the restarted
//! engine keeps what it signed (and says it again) but no longer holds back
//! from a block other than the one it locked on. It is taught the blocks the
//! old one kept and told again the height's blocks, proposals and precommits
//! (not the prevotes, which would lock it again); the rest comes back by
//! gossip. Every record it gives out has no lock, so a real crash forgets it
//! too. Evidence cannot catch this; it breaks safety only together with more
//! than f others.

use crate::bft::{BftEngine, BftRecord};
use crate::engine::{Consensus, ConsensusError, Headers, Input, Output, Record};
use generals_chain::{Block, Hash, Header, MessageKind};
use std::collections::BTreeMap;

/// Builds an honest engine from a record (the engine factory's recipe).
pub type Restart = Box<dyn Fn(BftRecord) -> BftEngine + Send>;

/// Timer ids of one incarnation of the engine sit above this shift, so a
/// timer set before a restart never fires into the engine after it.
const GENERATION_SHIFT: u32 = 40;
/// Blocks kept to teach a restarted engine (the oldest go first).
const MAX_BLOCKS: usize = 65_536;
/// Inputs of the current height kept to replay into a restarted engine.
const MAX_REPLAY: usize = 4_096;

pub struct Amnesia {
    inner: BftEngine,
    restart: Restart,
    /// Every validly sealed block the engine was taught or imported, by
    /// height, to teach the next one.
    blocks: BTreeMap<(u64, Hash), Block>,
    /// Blocks and messages heard at the current height, to replay.
    replay: Vec<Input>,
    tip: Option<Header>,
    now_ms: u64,
    generation: u64,
    /// Records given out (`Record::seq` across incarnations).
    persisted: u64,
}

impl std::fmt::Debug for Amnesia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Amnesia")
            .field("inner", &self.inner)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Amnesia {
    pub fn new(inner: BftEngine, restart: Restart) -> Self {
        Amnesia {
            inner,
            restart,
            blocks: BTreeMap::new(),
            replay: Vec::new(),
            tip: None,
            now_ms: 0,
            generation: 0,
            persisted: 0,
        }
    }

    /// The honest engine again, from `record` without its lock, taught the
    /// blocks, started on the tip and told again what this height brought;
    /// returns what it asks.
    fn forget(&mut self, mut record: BftRecord, headers: &dyn Headers) -> Vec<Output> {
        record.locked = None;
        record.valid = None;
        let mut fresh = (self.restart)(record);
        for b in self.blocks.values() {
            fresh.restore(b);
        }
        self.inner = fresh;
        self.generation += 1;
        let Some(tip) = self.tip.clone() else {
            return Vec::new();
        };
        let input = Input::NewTip {
            tip,
            now_ms: self.now_ms,
        };
        let mut out = self.inner.handle(input, headers);
        for input in self.replay.clone() {
            out.extend(self.inner.handle(input, headers));
        }
        out
    }

    /// Keeps a block to teach a restarted engine, if its seal is its
    /// proposer's (so a stranger cannot fill the list).
    fn keep(&mut self, block: &Block) {
        let sealed = crate::bft::engine::seal_message_of(&block.header)
            .is_ok_and(|m| m.verify(self.inner.chain_id()).is_ok());
        if !sealed {
            return;
        }
        self.blocks
            .insert((block.height(), block.hash()), block.clone());
        if self.blocks.len() > MAX_BLOCKS {
            self.blocks.pop_first();
        }
    }

    /// Every record given out without the lock and valid value, numbered on.
    fn clear_records(&mut self, out: &mut [Output]) {
        for o in out.iter_mut() {
            if let Output::Persist(r) = o {
                let Ok(mut rec) = BftRecord::from_json(&r.bytes) else {
                    continue;
                };
                rec.locked = None;
                rec.valid = None;
                self.persisted += 1;
                *r = Record {
                    name: r.name,
                    seq: self.persisted,
                    bytes: rec.to_json().into_bytes(),
                };
            }
        }
    }

    /// Timer ids out of this incarnation's range.
    fn stamp(&self, out: Vec<Output>) -> Vec<Output> {
        out.into_iter()
            .map(|o| match o {
                Output::SetTimer { id, at_ms } => Output::SetTimer {
                    id: id | (self.generation << GENERATION_SHIFT),
                    at_ms,
                },
                other => other,
            })
            .collect()
    }
}

impl Consensus for Amnesia {
    delegate_rules!(except restore);

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let input = match input {
            Input::Timer { id, now_ms } => {
                if id >> GENERATION_SHIFT != self.generation {
                    return Vec::new();
                }
                Input::Timer {
                    id: id & ((1 << GENERATION_SHIFT) - 1),
                    now_ms,
                }
            }
            Input::NewTip { tip, now_ms } => {
                if self.tip.as_ref().is_none_or(|t| t.height != tip.height) {
                    self.replay.clear();
                }
                self.tip = Some(tip.clone());
                Input::NewTip { tip, now_ms }
            }
            other => other,
        };
        if let Some(now) = now_of(&input) {
            self.now_ms = now;
        }
        // Blocks, proposals and precommits are told again after a restart;
        // prevotes are not, as 2f+1 of them would lock it again (line 36).
        let replayed = match &input {
            Input::BlockReceived { .. } => true,
            Input::Message { message, .. } => message.position.kind != MessageKind::Prevote,
            _ => false,
        };
        if replayed && self.replay.len() < MAX_REPLAY {
            self.replay.push(input.clone());
        }
        let mut out = self.inner.handle(input, headers);
        for o in &out {
            if let Output::Import(b) = o {
                self.keep(b);
            }
        }
        let locked = out.iter().find_map(|o| match o {
            Output::Persist(r) => BftRecord::from_json(&r.bytes)
                .ok()
                .filter(|rec| rec.locked.is_some() || rec.valid.is_some()),
            _ => None,
        });
        let Some(record) = locked else {
            self.clear_records(&mut out);
            return self.stamp(out);
        };
        let mut again = self.forget(record, headers);
        // What is saved is the record without the lock, so a crash and
        // restart forgets it too.
        self.clear_records(&mut out);
        self.clear_records(&mut again);
        // The replaced incarnation's timers would never reach it.
        out.retain(|o| !matches!(o, Output::SetTimer { .. }));
        out.append(&mut self.stamp(again));
        out
    }

    fn restore(&mut self, block: &Block) {
        self.keep(block);
        self.inner.restore(block);
    }
}

fn now_of(input: &Input) -> Option<u64> {
    match input {
        Input::NewTip { now_ms, .. }
        | Input::BlockReceived { now_ms, .. }
        | Input::Produced { now_ms, .. }
        | Input::Message { now_ms, .. }
        | Input::Timer { now_ms, .. }
        | Input::Transaction { now_ms, .. }
        | Input::Tick { now_ms } => Some(*now_ms),
        Input::Propose { .. } | Input::Discard { .. } => None,
    }
}
