//! What the API shows: status, blocks, tips, validators, authorities,
//! evidence and transactions, read from the chain and, for what only the
//! engine knows, from `Consensus::engine_status`.

use super::{now_ms, Driver};
use crate::api::types::*;
use crate::api::{BlockId, Refusal};
use generals_chain::{BlockStore, Evidence, Hash};
use std::collections::BTreeMap;

impl Driver {
    /// Validators from the chain's state at the tip: everyone with stake bonded
    /// or on its way out, or jailed, and the genesis validators.
    pub(super) fn validators(&self) -> Validators {
        let ledger = self.p.core.ledger();
        let state = ledger.state();
        let mut keys: std::collections::BTreeSet<generals_chain::PublicKey> =
            self.p.names.keys().copied().collect();
        keys.extend(
            state
                .iter()
                .filter(|(_, a)| a.bonded > 0 || a.unbonding > 0 || a.jailed)
                .map(|(k, _)| *k),
        );
        let tip = ledger.tip().height;
        let mut proposed: BTreeMap<generals_chain::PublicKey, u64> = BTreeMap::new();
        for h in tip.saturating_sub(63).max(1)..=tip {
            if let Some(hash) = ledger.store().hash_at(h).ok().flatten() {
                if let Some(hd) = ledger.store().header(&hash).ok().flatten() {
                    *proposed.entry(hd.producer).or_default() += 1;
                }
            }
        }
        let total: u64 = keys
            .iter()
            .filter_map(|k| state.get(k))
            .filter(|a| !a.jailed || ledger.rules().slashing.enabled)
            .map(|a| a.bonded)
            .sum();
        Validators {
            total_bonded: total,
            slashing: ledger.rules().slashing.enabled,
            validators: keys
                .into_iter()
                .map(|key| {
                    let a = state.get(&key).copied().unwrap_or_default();
                    let status = if a.jailed {
                        "jailed"
                    } else if a.bonded > 0 {
                        "active"
                    } else if a.unbonding > 0 {
                        "unbonding"
                    } else {
                        "exited"
                    };
                    ValidatorView {
                        key,
                        name: self.p.names.get(&key).cloned(),
                        status: status.into(),
                        bonded: a.bonded,
                        unbonding: a.unbonding,
                        unbonding_until_ms: a.unbonding_until_ms,
                        jailed: a.jailed,
                        share: if total == 0 || status == "jailed" {
                            0.0
                        } else {
                            a.bonded as f64 / total as f64
                        },
                        proposed: proposed.get(&key).copied().unwrap_or(0),
                    }
                })
                .collect(),
        }
    }

    /// Evidence on the main chain (the newest 10,000 blocks), and evidence seen
    /// but not carried there yet.
    pub(super) fn evidence(&self) -> EvidenceList {
        let ledger = self.p.core.ledger();
        let tip = ledger.tip().height;
        let view = |e: &Evidence, at: Option<(u64, Hash)>| EvidenceView {
            hash: e.hash(),
            offender: e.offender(),
            offence: e
                .offence()
                .map_or_else(|err| err.to_string(), |o| o.to_string()),
            first: e.first.position.height,
            second: e.second.position.height,
            height: at.map(|(h, _)| h),
            block: at.map(|(_, b)| b),
        };
        let mut included = Vec::new();
        for h in (tip.saturating_sub(9_999).max(1)..=tip).rev() {
            let Some(block) = ledger.block_at(h).ok().flatten() else {
                continue;
            };
            for e in &block.evidence {
                included.push(view(e, Some((h, block.hash()))));
            }
        }
        let pending = self
            .seen_evidence
            .iter()
            .filter(|e| !included.iter().any(|i| i.hash == e.hash()))
            .map(|e| view(e, None))
            .collect();
        EvidenceList { included, pending }
    }

    /// Delegated proof of stake: the election at the tip.
    pub(super) fn delegates(&self) -> Result<Delegates, Refusal> {
        let engine = self.engine();
        let ledger = self.p.core.ledger();
        let status = engine
            .engine_status(ledger.tip_header(), ledger.store(), now_ms())
            .delegates
            .ok_or(Refusal::NotDelegated)?;
        let mut delegates: Vec<DelegateView> = status
            .delegates
            .into_iter()
            .map(|d| DelegateView {
                key: d.key,
                name: self.p.names.get(&d.key).cloned(),
                votes: u64::try_from(d.votes).unwrap_or(u64::MAX),
                producing: d.producing,
                produced: d.produced,
                missed: d.missed,
                removed: d.removed,
            })
            .collect();
        delegates.sort_by(|a, b| b.votes.cmp(&a.votes).then(a.key.cmp(&b.key)));
        Ok(Delegates {
            round: status.round,
            schedule: status.schedule,
            irreversible: status.irreversible,
            delegates,
        })
    }

    /// The authorities at the tip, with what each did over the last 64 blocks.
    pub(super) fn authorities(&self) -> Result<Authorities, Refusal> {
        let engine = self.engine();
        if engine.kind() != "poa" {
            return Err(Refusal::NotProofOfAuthority);
        }
        let ledger = self.p.core.ledger();
        let store = ledger.store();
        let tip = ledger.tip_header().clone();
        let signers = engine.engine_status(&tip, store, now_ms()).authorities;
        if signers.is_empty() {
            return Err(Refusal::NoAuthoritySet);
        }
        let mut stats: BTreeMap<generals_chain::PublicKey, (u64, u64, u64)> =
            signers.iter().map(|k| (*k, (0, 0, 0))).collect();
        let from = tip.height.saturating_sub(63).max(1);
        for h in from..=tip.height {
            let Some(block) = ledger.block_at(h).ok().flatten() else {
                continue;
            };
            let Some(parent) = store.header(&block.header.parent).ok().flatten() else {
                continue;
            };
            let turn = engine.in_turn(&parent, store);
            let producer = block.header.producer;
            let s = stats.entry(producer).or_default();
            s.0 += 1;
            if turn == Some(producer) {
                s.1 += 1;
            } else if let Some(t) = turn {
                stats.entry(t).or_default().2 += 1;
            }
        }
        Ok(Authorities {
            window: tip.height + 1 - from.min(tip.height + 1),
            authorities: stats
                .into_iter()
                .filter(|(k, _)| signers.contains(k))
                .map(|(key, (sealed, in_turn, missed))| AuthorityView {
                    key,
                    sealed,
                    in_turn,
                    missed,
                })
                .collect(),
            proposals: self
                .proposals
                .iter()
                .map(|(c, a)| Proposal {
                    candidate: *c,
                    add: *a,
                })
                .collect(),
        })
    }

    /// A transaction in the mempool or in the last 1,000 main-chain blocks (a
    /// scan, as there is no transaction index yet).
    pub(super) fn find_tx(&self, hash: &Hash) -> Option<TxStatus> {
        let core = &self.p.core;
        if let Some(tx) = core.mempool().get(hash) {
            return Some(TxStatus {
                hash: *hash,
                status: "pending".into(),
                block: None,
                height: None,
                confirmations: 0,
                tx: tx.clone(),
            });
        }
        let ledger = core.ledger();
        let tip = ledger.tip().height;
        (tip.saturating_sub(1_000)..=tip).rev().find_map(|h| {
            let block = ledger.block_at(h).ok().flatten()?;
            let tx = block.transactions.iter().find(|t| t.hash() == *hash)?;
            Some(TxStatus {
                hash: *hash,
                status: "included".into(),
                block: Some(block.hash()),
                height: Some(h),
                confirmations: tip - h + 1,
                tx: tx.clone(),
            })
        })
    }

    pub(super) fn status(&self) -> Status {
        let core = &self.p.core;
        let tip = core.tip();
        let engine = self.engine();
        let shown =
            engine.engine_status(core.ledger().tip_header(), core.ledger().store(), now_ms());
        Status {
            chain_id: self.p.chain_id.clone(),
            consensus: engine.kind().into(),
            genesis: self.p.genesis,
            height: tip.height,
            tip: tip.hash,
            weight: core
                .tree()
                .get(&tip.hash)
                .map_or(0, |n| n.cumulative)
                .to_string(),
            peer_id: self.p.swarm.local_peer_id().to_string(),
            peers: self.peers.values().filter(|p| p.connected).count(),
            mempool: core.mempool().len(),
            mining: self.mining,
            hashrate: self.hashrate,
            on_demand: self.p.on_demand,
            invalidated: core.invalidated().copied().collect(),
            validator: self.p.validator.public(),
            byzantine: self.p.byzantine.clone(),
            listen: self.listen.iter().map(|a| a.to_string()).collect(),
            pos: shown.slots.map(|s| {
                let height =
                    |h: Option<Hash>| h.and_then(|h| core.tree().get(&h).map(|n| n.height));
                PosStatus {
                    slot: s.slot,
                    epoch: s.epoch,
                    slot_ms: s.slot_ms,
                    epoch_slots: s.epoch_slots,
                    justified_height: height(core.justified()),
                    finalized_height: height(core.finalized()),
                }
            }),
            bft: shown.round.map(|s| BftStatusView {
                height: s.height,
                round: s.round,
                step: s.step,
                locked_round: s.locked_round,
                valid_round: s.valid_round,
                proposer: s.proposer,
                validators: s.validators.len(),
            }),
            pbft: shown.views.map(|v| PbftStatusView {
                view: v.view,
                primary: v.primary,
                replicas: v.replicas,
                quorum: v.quorum,
                quorum_rule: v.quorum_rule,
                changing: v.changing,
                view_changes: v.view_changes,
                stable_checkpoint: v.stable_checkpoint,
                refused_proofs: v.refused_proofs,
                last_refusal: v.last_refusal,
            }),
        }
    }

    pub(super) fn block_view(&self, id: BlockId) -> Option<BlockView> {
        let ledger = self.p.core.ledger();
        let hash = match id {
            BlockId::Height(h) => ledger.store().hash_at(h).ok().flatten()?,
            BlockId::Hash(h) => h,
        };
        let block = self.p.core.block(&hash)?;
        let main_chain = ledger.store().hash_at(block.height()).ok().flatten() == Some(hash);
        Some(BlockView {
            hash,
            height: block.height(),
            parent: block.header.parent,
            timestamp_ms: block.header.timestamp_ms,
            producer: block.header.producer,
            state_root: block.header.state_root,
            tx_root: block.header.tx_root,
            difficulty: self
                .engine()
                .difficulty(&block.header)
                .map(|d| d.to_string()),
            main_chain,
            transactions: block
                .transactions
                .iter()
                .map(|tx| TxView {
                    hash: tx.hash(),
                    tx: tx.clone(),
                })
                .collect(),
        })
    }

    pub(super) fn tips(&self) -> Vec<TipView> {
        let tree = self.p.core.tree();
        let tip = self.p.core.tip().hash;
        tree.heads()
            .into_iter()
            .map(|n| {
                let status = if n.hash == tip {
                    "active"
                } else if tree.is_invalid(&n.hash) {
                    "invalid"
                } else {
                    "valid-fork"
                };
                let branch_len = tree.reorg_plan(&tip, &n.hash).map_or(0, |p| p.apply.len());
                TipView {
                    hash: n.hash,
                    height: n.height,
                    status: status.into(),
                    branch_len,
                    weight: n.cumulative.to_string(),
                }
            })
            .collect()
    }

    /// The newest blocks of the fork tree, from `from` up (oldest first).
    pub(super) fn tree(&self, from: u64) -> TreeView {
        let core = &self.p.core;
        let tree = core.tree();
        let store = core.ledger().store();
        let engine = self.engine();
        // Only the newest MAX_BLOCKS are sent: the main chain alone fills
        // them from this height, so nothing below it is sorted.
        let window = core
            .tip()
            .height
            .saturating_sub(TreeView::MAX_BLOCKS as u64);
        let from = from.max(window);
        let mut nodes: Vec<_> = tree.nodes().filter(|n| n.height >= from).collect();
        nodes.sort_by_key(|n| (n.height, n.seq));
        let skip = nodes.len().saturating_sub(TreeView::MAX_BLOCKS);
        let blocks = nodes[skip..]
            .iter()
            .filter_map(|n| {
                let header = store.header(&n.hash).ok().flatten()?;
                let in_turn = store
                    .header(&header.parent)
                    .ok()
                    .flatten()
                    .and_then(|p| engine.in_turn(&p, store))
                    .map(|k| k == header.producer);
                Some(TreeBlock {
                    hash: n.hash,
                    parent: n.parent,
                    height: n.height,
                    producer: header.producer,
                    timestamp_ms: header.timestamp_ms,
                    in_turn,
                    main_chain: store.hash_at(n.height).ok().flatten() == Some(n.hash),
                    invalid: tree.is_invalid(&n.hash),
                    withheld: self.withheld.contains(&n.hash),
                })
            })
            .collect();
        let tip = core.tip();
        TreeView {
            consensus: engine.kind().into(),
            validator: self.p.validator.public(),
            tip: tip.hash,
            height: tip.height,
            finalized: core.finalized(),
            justified: core.justified(),
            blocks,
        }
    }
}
