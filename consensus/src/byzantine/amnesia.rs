//! Amnesia: a BFT validator that forgets its lock (Tendermint's lockedValue
//! and validValue, arXiv 1807.04938 lines 36-43). Each time its signing record
//! shows a lock, the wrapper restarts the honest engine from that record with
//! the lock cleared, as a crash would if the record had lost it: the restarted
//! engine keeps what it signed (and says it again) but no longer holds back
//! from a block other than the one it locked on. Evidence cannot catch this;
//! it breaks safety only together with more than f others.

use crate::bft::{BftEngine, BftRecord};
use crate::engine::{Consensus, ConsensusError, Headers, Input, Output, Record};
use generals_chain::{Block, Header};

/// Builds an honest engine from a record (the engine factory's recipe).
pub type Restart = Box<dyn Fn(BftRecord) -> BftEngine + Send>;

/// Timer ids of one incarnation of the engine sit above this shift, so a
/// timer set before a restart never fires into the engine after it.
const GENERATION_SHIFT: u32 = 40;

pub struct Amnesia {
    inner: BftEngine,
    restart: Restart,
    /// Every block the engine was taught or imported, to teach the next one.
    blocks: Vec<Block>,
    tip: Option<Header>,
    now_ms: u64,
    generation: u64,
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
            blocks: Vec::new(),
            tip: None,
            now_ms: 0,
            generation: 0,
        }
    }

    /// The honest engine again, from `record` without its lock, taught the
    /// chain and the tip; returns what it asks on starting.
    fn forget(&mut self, mut record: BftRecord, headers: &dyn Headers) -> Vec<Output> {
        record.locked = None;
        record.valid = None;
        let mut fresh = (self.restart)(record);
        for b in &self.blocks {
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
        self.inner.handle(input, headers)
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
                self.tip = Some(tip.clone());
                Input::NewTip { tip, now_ms }
            }
            other => other,
        };
        if let Some(now) = now_of(&input) {
            self.now_ms = now;
        }
        let mut out = self.inner.handle(input, headers);
        for o in &out {
            if let Output::Import(b) = o {
                self.blocks.push(b.clone());
            }
        }
        let locked = out.iter().find_map(|o| match o {
            Output::Persist(r) => crate::factory::bft_record(&r.bytes)
                .ok()
                .filter(|rec| rec.locked.is_some() || rec.valid.is_some()),
            _ => None,
        });
        if let Some(record) = locked {
            let mut again = self.forget(record.clone(), headers);
            // What is saved is the record without the lock, so a crash and
            // restart forgets it too.
            let mut cleared = record;
            cleared.locked = None;
            cleared.valid = None;
            for o in out.iter_mut().chain(again.iter_mut()) {
                if let Output::Persist(r) = o {
                    *r = Record {
                        name: r.name,
                        bytes: cleared.to_json().into_bytes(),
                    };
                }
            }
            // The replaced incarnation's timers would never reach it.
            out.retain(|o| !matches!(o, Output::SetTimer { .. }));
            out.append(&mut self.stamp(again));
            return out;
        }
        self.stamp(out)
    }

    fn restore(&mut self, block: &Block) {
        self.blocks.push(block.clone());
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
