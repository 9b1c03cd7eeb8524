//! Blocks on request: `generals mine N` on a proof-of-work chain, and
//! `generals forge N [--parent HASH]` on an on-demand chain of any kind. A
//! proof-of-work block comes from the miner's threads; any other kind's
//! engine builds one as soon as it is asked (`host::forge`), and the request
//! waits until the block is in this node's tree (at once on a one-validator
//! chain; a BFT block once the others have voted).

use super::Driver;
use crate::api::types::Forged;
use crate::api::Refusal;
use generals_chain::Hash;
use generals_consensus::ondemand::{ForgeError, MAX_FIRES};
use tokio::sync::oneshot;

/// Where the answer to a request for blocks goes.
pub(super) enum Answer {
    Mined(oneshot::Sender<Result<Vec<Hash>, Refusal>>),
    Forged(oneshot::Sender<Result<Forged, Refusal>>),
}

impl Answer {
    pub(super) fn is_closed(&self) -> bool {
        match self {
            Answer::Mined(r) => r.is_closed(),
            Answer::Forged(r) => r.is_closed(),
        }
    }
}

/// Blocks made on request: how many are left, those made, whether the miner
/// ran before, where the answer goes, the parent of the next (a fork by
/// hand), and the block made and not yet in the tree.
pub(super) struct Generate {
    pub left: u64,
    pub mined: Vec<Hash>,
    pub was_mining: bool,
    pub reply: Answer,
    pub parent: Option<Hash>,
    pub waiting: Option<Hash>,
}

impl Driver {
    /// `POST /forge`: refuses at once what cannot start, else starts.
    pub(super) fn start_forge(
        &mut self,
        blocks: u64,
        parent: Option<Hash>,
        reply: oneshot::Sender<Result<Forged, Refusal>>,
    ) {
        let refused = if !self.p.on_demand {
            Some(Refusal::Forge(ForgeError::Scheduled.to_string()))
        } else if self.generate.as_ref().is_some_and(|g| !g.reply.is_closed()) {
            Some(Refusal::AlreadyMining)
        } else {
            parent.and_then(|p| self.parent_refusal(p))
        };
        if let Some(r) = refused {
            let _ = reply.send(Err(r));
            return;
        }
        self.end_generate();
        let was_mining = self.mining;
        self.generate = Some(Generate {
            left: blocks,
            mined: Vec::new(),
            was_mining,
            reply: Answer::Forged(reply),
            parent,
            waiting: None,
        });
        if self.engine().kind() == "pow" {
            self.mining = true;
            self.p.miner.set_flat_out(true);
            self.p.miner.set_running(true);
            if let Err(r) = self.forge_step(parent) {
                self.finish_generate(Err(r));
                return;
            }
            self.refresh_template();
        } else {
            self.pump_forge();
        }
    }

    /// Why no block could join the chain on `parent`: unknown, invalid, or
    /// under this node's finalized block.
    fn parent_refusal(&self, parent: Hash) -> Option<Refusal> {
        let core = &self.p.core;
        let tree = core.tree();
        let Some(node) = tree.get(&parent) else {
            return Some(Refusal::UnknownBlock(parent));
        };
        if tree.is_invalid(&parent) {
            return Some(Refusal::Forge(format!(
                "block {parent} is invalid on this node (if it was invalidated by hand, \
                 reconsider it first)"
            )));
        }
        let (finalized, height) = (core.finalized()?, node.height);
        let at = tree.get(&finalized)?.height;
        let off = if height < at {
            Some("below")
        } else if tree.ancestor_at(&parent, at).map(|n| n.hash) != Some(finalized) {
            Some("off the branch of")
        } else {
            None
        };
        off.map(|where_| {
            Refusal::Forge(format!(
                "block {parent} at height {height} is {where_} this node's finalized block at \
                 height {at}: a block on it could never join the chain"
            ))
        })
    }

    /// Asks the engine for the next block (any kind but proof of work), for
    /// as long as each comes at once; a block that waits for votes is
    /// picked up on a later tick.
    pub(super) fn pump_forge(&mut self) {
        if self.engine().kind() == "pow" {
            return;
        }
        loop {
            let Some(g) = self.generate.as_mut() else {
                return;
            };
            if g.reply.is_closed() {
                self.end_generate();
                return;
            }
            if let Some(h) = g.waiting {
                if let Some(reason) = self.produced_refused.take() {
                    let made = g.mined.len();
                    self.finish_generate(Err(Refusal::Forge(format!(
                        "the node refused the block it forged, {h} (after {made} forged): {reason}"
                    ))));
                    return;
                }
                let tree = self.p.core.tree();
                if !tree.contains(&h) {
                    return;
                }
                if tree.is_invalid(&h) {
                    let made = g.mined.len();
                    self.finish_generate(Err(Refusal::Forge(format!(
                        "the block forged, {h} (after {made} forged), is invalid on this node: \
                         it is off the finalized chain, or on a branch invalidated by hand"
                    ))));
                    return;
                }
                g.mined.push(h);
                g.left = g.left.saturating_sub(1);
                g.waiting = None;
                if g.parent.is_some() {
                    g.parent = Some(h);
                }
            }
            if g.left == 0 {
                let mined = std::mem::take(&mut g.mined);
                self.finish_generate(Ok(mined));
                return;
            }
            let (parent, made) = (g.parent, g.mined.len());
            self.last_produced = None;
            self.produced_refused = None;
            if let Err(r) = self.forge_step(parent) {
                self.finish_generate(Err(r));
                return;
            }
            match self.last_produced.take() {
                Some(h) => {
                    if let Some(g) = self.generate.as_mut() {
                        g.waiting = Some(h);
                    }
                }
                None => {
                    let kind = self.engine().kind();
                    self.finish_generate(Err(Refusal::Forge(format!(
                        "the {kind} engine gave this validator no block to make (after {made} \
                         forged, {MAX_FIRES} timer steps at most): it is not a producer on this \
                         chain, or the rules bar it now (proof of authority: it signed one of \
                         the last blocks; BFT and PBFT: it does not lead this round or view)"
                    ))));
                    return;
                }
            }
        }
    }

    /// One request to the engine, carried out.
    pub(super) fn forge_step(&mut self, parent: Option<Hash>) -> Result<(), Refusal> {
        let Some(mut engine) = self.engine.take() else {
            return Err(Refusal::Forge("the engine is busy".into()));
        };
        let result = generals_consensus::host::forge(self, engine.as_mut(), parent);
        self.engine = Some(engine);
        if std::mem::take(&mut self.new_job) {
            self.refresh_template();
        }
        self.update_metrics();
        match result {
            Err(unsaved) => {
                let why = unsaved.to_string();
                self.fatal = Some(unsaved.into());
                Err(Refusal::Forge(why))
            }
            Ok(Err(ForgeError::UnknownParent(h))) => Err(Refusal::UnknownBlock(h)),
            Ok(Err(e)) => Err(Refusal::Forge(e.to_string())),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Ends a request for blocks with its answer.
    pub(super) fn finish_generate(&mut self, result: Result<Vec<Hash>, Refusal>) {
        let Some(g) = self.end_generate() else {
            return;
        };
        let tip = self.p.core.tip();
        let (tip, height) = (tip.hash, tip.height);
        match g.reply {
            Answer::Mined(r) => {
                let _ = r.send(result);
            }
            Answer::Forged(r) => {
                let _ = r.send(result.map(|blocks| Forged {
                    blocks,
                    tip,
                    height,
                }));
            }
        }
    }

    /// A proof-of-work block found on request: counted, and the next one of a
    /// fork by hand goes on it.
    pub(super) fn mined_on_request(&mut self, hash: Hash) {
        let Some(g) = self.generate.as_mut() else {
            return;
        };
        g.mined.push(hash);
        g.left = g.left.saturating_sub(1);
        if g.left == 0 {
            let mined = std::mem::take(&mut g.mined);
            self.finish_generate(Ok(mined));
            return;
        }
        if g.parent.is_some() {
            g.parent = Some(hash);
            if let Err(r) = self.forge_step(Some(hash)) {
                self.finish_generate(Err(r));
                return;
            }
            self.refresh_template();
        }
    }
}
