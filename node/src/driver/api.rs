//! The API's commands, answered from the driver's loop.

use super::forge::{Answer, Generate};
use super::{now_ms, Driver};
use crate::api::types::*;
use crate::api::{ApiCmd, Refusal};
use generals_consensus::Input;
use libp2p::PeerId;

impl Driver {
    pub(super) fn on_api(&mut self, cmd: ApiCmd) {
        match cmd {
            ApiCmd::Status(r) => {
                let _ = r.send(self.status());
            }
            ApiCmd::Block(id, r) => {
                let _ = r.send(self.block_view(id));
            }
            ApiCmd::Tips(r) => {
                let _ = r.send(self.tips());
            }
            ApiCmd::Tree(from, r) => {
                let _ = r.send(self.tree(from));
            }
            ApiCmd::Delegates(r) => {
                let _ = r.send(self.delegates());
            }
            ApiCmd::Validators(r) => {
                let _ = r.send(self.validators());
            }
            ApiCmd::Evidence(r) => {
                let _ = r.send(self.evidence());
            }
            ApiCmd::Account(key, r) => {
                let core = &self.p.core;
                let account = core.ledger().state().get(&key).copied().unwrap_or_default();
                let _ = r.send(AccountView {
                    key,
                    account,
                    next_nonce: core.next_nonce(&key),
                });
            }
            ApiCmd::Submit(tx, r) => {
                let _ = r.send(self.submit(tx));
            }
            ApiCmd::SubmitMany(txs, r) => {
                let _ = r.send(txs.into_iter().map(|tx| self.submit(tx)).collect());
            }
            ApiCmd::Authorities(r) => {
                let _ = r.send(self.authorities());
            }
            ApiCmd::Propose(p, r) => {
                let result = if self.engine().kind() == "poa" {
                    self.proposals.insert(p.candidate, p.add);
                    self.step(
                        Input::Propose {
                            candidate: p.candidate,
                            add: p.add,
                        },
                        None,
                    );
                    Ok(())
                } else {
                    Err(Refusal::NotProofOfAuthority)
                };
                let _ = r.send(result);
            }
            ApiCmd::Discard(candidate, r) => {
                let result = if self.proposals.remove(&candidate).is_some() {
                    self.step(Input::Discard { candidate }, None);
                    Ok(())
                } else {
                    Err(Refusal::NoProposal(candidate))
                };
                let _ = r.send(result);
            }
            ApiCmd::Manual {
                hash,
                invalidate,
                reply,
            } => {
                let _ = reply.send(self.manual(hash, invalidate));
            }
            ApiCmd::Tx(hash, r) => {
                let _ = r.send(self.find_tx(&hash));
            }
            ApiCmd::Mempool(r) => {
                let txs = self
                    .p
                    .core
                    .mempool()
                    .iter()
                    .map(|tx| TxView {
                        hash: tx.hash(),
                        tx: tx.clone(),
                    })
                    .collect();
                let _ = r.send(txs);
            }
            ApiCmd::Peers(r) => {
                let mut v: Vec<PeerView> = self
                    .peers
                    .iter()
                    .map(|(id, p)| PeerView {
                        peer_id: id.to_string(),
                        connected: p.connected,
                        blocked: p.blocked,
                        penalty: p.penalty,
                        addresses: p.addresses.iter().map(|a| a.to_string()).collect(),
                    })
                    .collect();
                v.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
                let _ = r.send(v);
            }
            ApiCmd::Mine {
                blocks,
                full_speed,
                reply,
            } => {
                if self.generate.as_ref().is_some_and(|g| !g.reply.is_closed()) {
                    let _ = reply.send(Err(Refusal::AlreadyMining));
                    return;
                }
                self.end_generate();
                let was = self.mining;
                self.generate = Some(Generate {
                    left: blocks,
                    mined: Vec::new(),
                    was_mining: was,
                    reply: Answer::Mined(reply),
                    parent: None,
                    waiting: None,
                });
                self.mining = true;
                // The node's hash-rate limit holds unless the caller asks.
                self.p.miner.set_flat_out(full_speed);
                self.p.miner.set_running(true);
                self.refresh_template();
            }
            ApiCmd::Forge {
                blocks,
                parent,
                reply,
            } => self.start_forge(blocks, parent, reply),
            ApiCmd::Miner(on, r) => {
                if self.generate.is_some() {
                    self.finish_generate(Err(Refusal::Interrupted));
                }
                self.mining = on;
                self.p.miner.set_running(on);
                if on {
                    self.refresh_template();
                }
                let _ = r.send(on);
            }
            ApiCmd::Link(req, reply) => {
                let result = match req.peer_id.parse::<PeerId>() {
                    Err(e) => Err(Refusal::NotAPeer {
                        peer: req.peer_id.clone(),
                        reason: e.to_string(),
                    }),
                    Ok(id) => {
                        let shape = super::shape::Shape {
                            latency_ms: req.latency_ms,
                            jitter_ms: req.jitter_ms,
                            loss: req.loss,
                        };
                        tracing::info!(peer = %id, ?shape, "shaped the link from a peer");
                        self.shaping.set(id, shape);
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
            ApiCmd::BlockPeer { peer, block, reply } => {
                let result = match peer.parse::<PeerId>() {
                    Err(e) => Err(Refusal::NotAPeer {
                        peer: peer.clone(),
                        reason: e.to_string(),
                    }),
                    Ok(id) => {
                        let p = self.peers.entry(id).or_default();
                        p.blocked = block;
                        if block {
                            tracing::info!(peer = %id, "blocked a peer");
                            self.p.swarm.behaviour_mut().blocked.block_peer(id);
                        } else {
                            tracing::info!(peer = %id, "unblocked a peer");
                            p.penalty = 0;
                            self.p.swarm.behaviour_mut().blocked.unblock_peer(id);
                            self.redial();
                        }
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
        }
    }
}

impl Driver {
    /// A signed transaction from the API: into the mempool, out by gossip,
    /// and to the engine.
    fn submit(&mut self, tx: generals_chain::Transaction) -> Result<generals_chain::Hash, Refusal> {
        let hash = tx.hash();
        match self.p.core.submit(tx.clone()) {
            Ok(_) => {
                self.template_dirty = true;
                self.p
                    .metrics
                    .mempool
                    .set(self.p.core.mempool().len() as i64);
                let topic = self.topics.transactions.clone();
                self.publish(topic, generals_chain::codec::encode(&tx));
                self.step(
                    Input::Transaction {
                        tx,
                        now_ms: now_ms(),
                    },
                    None,
                );
                Ok(hash)
            }
            Err(e) => Err(Refusal::from(e)),
        }
    }

    /// An operator's `invalidate` or `reconsider`: the chain moves, and the
    /// engine hears of its new tip as after any other move.
    fn manual(
        &mut self,
        hash: generals_chain::Hash,
        invalidate: bool,
    ) -> Result<ManualView, Refusal> {
        let core = &mut self.p.core;
        let change = if invalidate {
            core.invalidate(hash)
        } else {
            core.reconsider(hash)
        }
        .map_err(|e| match e {
            generals_consensus::core::ManualError::Unknown(h) => Refusal::UnknownBlock(h),
            e => Refusal::Manual(e.to_string()),
        })?;
        if let Some(mut engine) = self.engine.take() {
            let result = generals_consensus::host::follow_change(self, engine.as_mut(), change);
            self.engine = Some(engine);
            if let Err(e) = result {
                self.fatal = Some(e.into());
            }
        }
        if std::mem::take(&mut self.new_job) {
            self.refresh_template();
        }
        self.update_metrics();
        // Kept across a restart, as Bitcoin Core keeps its flag.
        let marked: Vec<generals_chain::Hash> = self.p.core.invalidated().copied().collect();
        crate::config::save_invalidated(self.p.core.ledger().store(), &marked).map_err(|e| {
            Refusal::Manual(format!(
                "the chain moved, but the list of blocks invalidated by hand could not be \
                 saved (a restart would forget it): {e:#}"
            ))
        })?;
        let core = &self.p.core;
        tracing::warn!(
            %hash,
            invalidate,
            tip = %core.tip().hash.short(),
            "the operator moved the chain"
        );
        Ok(ManualView {
            tip: core.tip().hash,
            height: core.tip().height,
            invalidated: core.invalidated().copied().collect(),
        })
    }
}
