//! Production on demand: a development chain (`"production": "on-demand"` in
//! its genesis) whose blocks come only when the operator asks, as Substrate's
//! manual seal, CometMock, or geth's dev mode without a period.
//!
//! The honest engine runs unchanged, with every rule it has; what changes is
//! its clock. Engines get time only from their inputs, so this wrapper gives
//! them a clock of its own that stands still between requests: the host's
//! ticks and timers never reach the engine, its timers are kept here, and a
//! request (`forge`) fires them in order, moving the clock to each, until the
//! engine asks for a block of its own. So a proof-of-stake validator skips
//! forward to the next slot it leads, a proof-of-authority signer waits out
//! its turn (or its out-of-turn delay), and a BFT proposer passes its commit
//! pause, each in no time at all. Substrate's manual seal mocks the slot of
//! Aura and BABE the same way.
//!
//! Time on such a chain is the blocks' own: a block received moves the clock
//! to its timestamp, and no block is refused for running ahead of the wall
//! clock (a forged block is often ahead of it).

use crate::engine::{Consensus, ConsensusError, EngineStatus, Headers, Input, Output};
use generals_chain::{Block, Hash, Header, PublicKey, Transaction};
use std::collections::BTreeMap;

/// Timers a forge may fire looking for this validator's turn.
pub const MAX_FIRES: usize = 10_000;
/// Timers kept at once; past this the earliest go first.
const MAX_TIMERS: usize = 4_096;

/// Why a block cannot be forged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    #[error(
        "this chain's blocks come on its engine's schedule; forging needs a genesis with \
         \"production\": \"on-demand\" (generals-node init --on-demand)"
    )]
    Scheduled,
    #[error(
        "a {kind} chain decides one block per height: blocks can only be forged on the last \
         decided block, {tip}"
    )]
    NoForks { kind: &'static str, tip: Hash },
    #[error("the node has not started its engine yet")]
    NotStarted,
    #[error("no block {0} here to forge on")]
    UnknownParent(Hash),
    #[error(
        "on this {kind} chain validator {leader} proposes height {height} (round {round}), not \
         this node's validator: forge on its node (`generals status` there shows it as the \
         validator)"
    )]
    NotLeader {
        kind: &'static str,
        leader: PublicKey,
        height: u64,
        round: u64,
    },
}

/// An engine whose clock moves only when a block is asked for.
pub struct OnDemand {
    inner: Box<dyn Consensus>,
    /// This node's validator.
    me: PublicKey,
    /// The engine's clock (ms since the epoch): the newest of the chain's
    /// timestamps and the timers fired.
    now: u64,
    /// The engine's timers by (when, order set) -> id.
    timers: BTreeMap<(u64, u64), u64>,
    seq: u64,
    /// A block the engine asked to build outside a request, kept for the next.
    held: Option<Output>,
    forging: bool,
    /// The host's tip, as the host last told it.
    tip: Option<Header>,
    /// After a forge on another parent: the tip to give the engine back once
    /// the block is produced.
    restore: Option<Header>,
}

impl std::fmt::Debug for OnDemand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnDemand")
            .field("kind", &self.inner.kind())
            .field("now", &self.now)
            .field("timers", &self.timers.len())
            .field("held", &self.held.is_some())
            .finish()
    }
}

impl OnDemand {
    pub fn new(inner: Box<dyn Consensus>, me: PublicKey) -> OnDemand {
        OnDemand {
            inner,
            me,
            now: 0,
            timers: BTreeMap::new(),
            seq: 0,
            held: None,
            forging: false,
            tip: None,
            restore: None,
        }
    }

    /// The engine's clock.
    pub fn now_ms(&self) -> u64 {
        self.now
    }

    /// Keeps the timers; holds a build asked for outside a request.
    fn filter(&mut self, outputs: Vec<Output>) -> Vec<Output> {
        let mut out = Vec::with_capacity(outputs.len());
        for o in outputs {
            match o {
                Output::SetTimer { id, at_ms } => {
                    if self.timers.len() >= MAX_TIMERS {
                        self.timers.pop_first();
                    }
                    self.seq += 1;
                    self.timers.insert((at_ms, self.seq), id);
                }
                Output::Build { .. } if !self.forging => self.held = Some(o),
                o => out.push(o),
            }
        }
        out
    }

    fn step(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let out = self.inner.handle(input, headers);
        self.filter(out)
    }

    /// Fires the timers due by the clock (a follower whose clock a block moved).
    fn fire_due(&mut self, headers: &dyn Headers) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let id = entry.remove();
            out.extend(self.step(
                Input::Timer {
                    id,
                    now_ms: self.now,
                },
                headers,
            ));
        }
        out
    }

    fn builds(outputs: &[Output]) -> bool {
        outputs.iter().any(|o| matches!(o, Output::Build { .. }))
    }

    fn forge_inner(
        &mut self,
        parent: Option<&Header>,
        headers: &dyn Headers,
    ) -> Result<Vec<Output>, ForgeError> {
        let tip = self.tip.clone().ok_or(ForgeError::NotStarted)?;
        let kind = self.inner.kind();
        let now = self.now;
        let elsewhere = parent.filter(|p| p.hash() != tip.hash());
        if kind == "pow" {
            // Mining is the host's (on its threads); the engine names the job.
            let on = elsewhere.unwrap_or(&tip).clone();
            if elsewhere.is_some() {
                self.restore = Some(tip);
            }
            return Ok(self.step(
                Input::NewTip {
                    tip: on,
                    now_ms: now,
                },
                headers,
            ));
        }
        let mut out = Vec::new();
        if let Some(p) = elsewhere {
            if matches!(kind, "bft" | "pbft") {
                return Err(ForgeError::NoForks {
                    kind,
                    tip: tip.hash(),
                });
            }
            self.held = None;
            out = self.step(
                Input::NewTip {
                    tip: p.clone(),
                    now_ms: now,
                },
                headers,
            );
            self.restore = Some(tip.clone());
        } else if let Some(held) = self.held.take() {
            if matches!(&held, Output::Build { parent, .. } if *parent == tip.hash()) {
                out.push(held);
            }
        }
        // A round-based engine's round has one proposer: on another node, the
        // timers fired here would only time its round out.
        if out.is_empty() {
            if let Some(r) = self.inner.engine_status(&tip, headers, now).round {
                if let Some(leader) = r.proposer.filter(|p| *p != self.me) {
                    return Err(ForgeError::NotLeader {
                        kind,
                        leader,
                        height: r.height,
                        round: r.round,
                    });
                }
            }
        }
        let mut fired = 0;
        while !Self::builds(&out) && fired < MAX_FIRES {
            let Some(((at, _), id)) = self.timers.pop_first() else {
                break;
            };
            self.now = self.now.max(at);
            fired += 1;
            out.extend(self.step(
                Input::Timer {
                    id,
                    now_ms: self.now,
                },
                headers,
            ));
        }
        Ok(out)
    }
}

impl Consensus for OnDemand {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn weight(&self, header: &Header) -> u128 {
        self.inner.weight(header)
    }

    // The wall clock is not this chain's: no block is too new for it.
    fn validate(
        &self,
        header: &Header,
        headers: &dyn Headers,
        _now_ms: u64,
    ) -> Result<(), ConsensusError> {
        self.inner.validate(header, headers, u64::MAX)
    }

    fn precheck(&self, header: &Header) -> Result<(), ConsensusError> {
        self.inner.precheck(header)
    }

    fn certified(&self, header: &Header) -> Option<Hash> {
        self.inner.certified(header)
    }

    fn engine_status(&self, tip: &Header, headers: &dyn Headers, _now_ms: u64) -> EngineStatus {
        self.inner.engine_status(tip, headers, self.now)
    }

    fn in_turn(&self, parent: &Header, headers: &dyn Headers) -> Option<PublicKey> {
        self.inner.in_turn(parent, headers)
    }

    fn difficulty(&self, header: &Header) -> Option<u128> {
        self.inner.difficulty(header)
    }

    fn restore(&mut self, block: &Block) {
        self.inner.restore(block)
    }

    fn set_checkpoint(&mut self, hash: Hash) {
        self.inner.set_checkpoint(hash)
    }

    fn includes(&self, tx: &Transaction) -> bool {
        self.inner.includes(tx)
    }

    fn honest_mut(&mut self) -> Option<&mut dyn Consensus> {
        self.inner.honest_mut()
    }

    fn forge(
        &mut self,
        parent: Option<&Header>,
        headers: &dyn Headers,
    ) -> Result<Vec<Output>, ForgeError> {
        self.forging = true;
        let out = self.forge_inner(parent, headers);
        self.forging = false;
        out
    }

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let now = self.now;
        let mut out = Vec::new();
        let input = match input {
            // The host's clock is not this chain's.
            Input::Tick { .. } | Input::Timer { .. } => return out,
            Input::NewTip { tip, .. } => {
                self.now = now.max(tip.timestamp_ms);
                self.tip = Some(tip.clone());
                self.restore = None;
                Input::NewTip {
                    tip,
                    now_ms: self.now,
                }
            }
            Input::BlockReceived { from, block, .. } => {
                self.now = now.max(block.header.timestamp_ms);
                out = self.fire_due(headers);
                Input::BlockReceived {
                    from,
                    block,
                    now_ms: self.now,
                }
            }
            Input::Produced { block, .. } => {
                out = self.step(
                    Input::Produced {
                        block,
                        now_ms: self.now,
                    },
                    headers,
                );
                if let Some(tip) = self.restore.take() {
                    let now_ms = self.now;
                    out.extend(self.step(Input::NewTip { tip, now_ms }, headers));
                }
                return out;
            }
            Input::Message { from, message, .. } => Input::Message {
                from,
                message,
                now_ms: now,
            },
            Input::Transaction { tx, .. } => Input::Transaction { tx, now_ms: now },
            i @ (Input::Propose { .. } | Input::Discard { .. }) => i,
        };
        out.extend(self.step(input, headers));
        out
    }
}
