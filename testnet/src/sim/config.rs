//! Building the `SimConfig` of a run from the flags: the consensus kind, the
//! network and its schedule, and the attack with its misbehaving nodes.

use super::args::{parse_at, parse_groups, parse_link, AttackKind, SimArgs};
use anyhow::{bail, Context, Result};
use generals_chain::genesis::Quorum;
use generals_consensus::sim::{Attack, BftFault, NetChange, NetConfig, SimConfig};

impl SimArgs {
    pub(super) fn base(&self, seed: u64) -> Result<SimConfig> {
        if self.target_ms == 0 {
            bail!("--target-ms must be at least 1");
        }
        let mut c = match self.consensus.as_str() {
            "pow" => {
                let mut c = SimConfig::honest(self.nodes, seed, self.blocks);
                c.pow.target_block_ms = self.target_ms;
                c.announce_ms = self.target_ms;
                c
            }
            "poa" => {
                let mut c = SimConfig::poa(self.nodes, seed, self.blocks);
                c.poa.period_ms = self.period_ms;
                c.announce_ms = self.period_ms.max(1);
                c.authorities = self.authorities.unwrap_or(self.nodes);
                c
            }
            "pos" => {
                let mut c = SimConfig::pos(self.nodes, seed, self.blocks);
                if self.slot_ms == 0 || self.epoch_slots == 0 {
                    bail!("--slot-ms and --epoch-slots must be at least 1");
                }
                c.pos.slot_ms = self.slot_ms;
                c.pos.epoch_slots = self.epoch_slots;
                c.announce_ms = self.slot_ms;
                if !self.stakes.is_empty() {
                    if self.stakes.len() != self.nodes {
                        bail!("{} stakes for {} nodes", self.stakes.len(), self.nodes);
                    }
                    c.stakes = self.stakes.clone();
                }
                c.slashing = !self.no_slashing;
                c
            }
            "bft" => {
                let mut c = SimConfig::bft(self.nodes, seed, self.blocks);
                if !self.stakes.is_empty() {
                    if self.stakes.len() != self.nodes {
                        bail!("{} stakes for {} nodes", self.stakes.len(), self.nodes);
                    }
                    c.stakes = self.stakes.clone();
                }
                c.slashing = !self.no_slashing;
                c
            }
            "pbft" => {
                let mut c = SimConfig::pbft(self.nodes, seed, self.blocks);
                if !self.stakes.is_empty() {
                    if self.stakes.len() != self.nodes {
                        bail!("{} stakes for {} nodes", self.stakes.len(), self.nodes);
                    }
                    c.stakes = self.stakes.clone();
                }
                c.slashing = !self.no_slashing;
                c.pbft.quorum = self.pbft_quorum()?;
                c
            }
            "dpos" => {
                let mut c = SimConfig::dpos(self.nodes, seed, self.blocks);
                c.dpos.slot_ms = self.slot_ms;
                c.announce_ms = self.slot_ms.max(1);
                c.dpos.producers = self.producers.unwrap_or(self.nodes as u64);
                if !self.stakes.is_empty() {
                    if self.stakes.len() != self.nodes {
                        bail!("{} stakes for {} nodes", self.stakes.len(), self.nodes);
                    }
                    c.stakes = self.stakes.clone();
                }
                c.slashing = !self.no_slashing;
                c
            }
            other => {
                bail!(
                    "unknown consensus kind {other:?}; the simulator runs: pow, poa, pos, bft, dpos, pbft"
                )
            }
        };
        if self.no_slashing && !["pos", "bft", "dpos", "pbft"].contains(&self.consensus.as_str()) {
            bail!(
                "--no-slashing is for proof of stake, BFT, DPoS and PBFT (--consensus pos, bft, dpos or pbft)"
            );
        }
        if self.quorum.is_some() && self.consensus != "pbft" {
            bail!("--quorum is for PBFT (--consensus pbft)");
        }
        if self.producers.is_some() && self.consensus != "dpos" {
            bail!("--producers is for delegated proof of stake (--consensus dpos)");
        }
        c.net = NetConfig {
            latency_ms: self.latency_ms,
            jitter_ms: self.jitter_ms,
            loss: self.loss,
        };
        c.tps = self.tps;
        c.late = self.late.clone();
        if !self.hashpower.is_empty() {
            c.hashpower = self.hashpower.clone();
        }
        for s in &self.cut {
            let (at, groups): (u64, String) = parse_at("cut", s)?;
            c.schedule
                .push((at, NetChange::Cut(parse_groups(&groups)?)));
        }
        for s in &self.isolate {
            let (at, node) = parse_at("isolate", s)?;
            c.schedule.push((at, NetChange::Isolate(node)));
        }
        for s in &self.restart {
            let (at, node) = parse_at("restart", s)?;
            let record = !self.lose_record;
            c.schedule.push((at, NetChange::Restart { node, record }));
        }
        for at in &self.heal {
            let at = at.checked_mul(1000).context("--heal: too many seconds")?;
            c.schedule.push((at, NetChange::Heal));
        }
        for s in &self.link {
            c.links.push(parse_link(s)?);
        }
        for s in &self.hashpower_change {
            let (at, f) = parse_at("hashpower-change", s)?;
            c.schedule.push((at, NetChange::HashPower(f)));
        }
        c.schedule.sort_by_key(|(at, _)| *at);
        Ok(c)
    }

    /// A configuration with the attacker holding `share` of the hash power.
    pub(super) fn attacked(&self, seed: u64, share: f64, confirmations: u64) -> Result<SimConfig> {
        let mut c = self.base(seed)?;
        let Some(kind) = self.attack else {
            return Ok(c);
        };
        if self.nodes < 2 {
            bail!("an attack needs at least 2 nodes");
        }
        if self.attacker >= self.nodes {
            bail!(
                "--attacker {} does not exist among {} nodes",
                self.attacker,
                self.nodes
            );
        }
        if self.consensus == "dpos" && kind == AttackKind::Silent {
            c.attack = Some(Attack::Bft {
                fault: BftFault::Silent,
                nodes: if self.colluders.is_empty() {
                    vec![self.attacker]
                } else {
                    self.colluders.clone()
                },
            });
            return Ok(c);
        }
        if self.consensus == "pbft" {
            let fault = match kind {
                AttackKind::Equivocate => BftFault::Equivocate,
                AttackKind::SplitVote => BftFault::SplitVote,
                AttackKind::Silent => BftFault::Silent,
                AttackKind::LieViewChange => BftFault::LieViewChange,
                _ => bail!("PBFT attacks are split-vote, equivocate, silent and lie-view-change"),
            };
            c.attack = Some(Attack::Bft {
                fault,
                nodes: self.bft_byzantine(),
            });
            return Ok(c);
        }
        if self.consensus == "bft" {
            let fault = match kind {
                AttackKind::Equivocate => BftFault::Equivocate,
                AttackKind::SplitVote => BftFault::SplitVote,
                AttackKind::Amnesia => BftFault::Amnesia,
                AttackKind::Silent => BftFault::Silent,
                _ => bail!("BFT attacks are equivocate, split-vote, amnesia and silent"),
            };
            c.attack = Some(Attack::Bft {
                fault,
                nodes: self.bft_byzantine(),
            });
            return Ok(c);
        }
        let poa = match kind {
            AttackKind::Equivocate => Some(Attack::Equivocate {
                node: self.attacker,
            }),
            AttackKind::Collude => Some(Attack::Collude {
                nodes: if self.colluders.is_empty() {
                    vec![0, 1, 2]
                } else {
                    self.colluders.clone()
                },
                censor: self.censor,
            }),
            AttackKind::NothingAtStake => Some(Attack::NothingAtStake {
                nodes: if self.colluders.is_empty() {
                    vec![self.nodes - 2, self.nodes - 1]
                } else {
                    self.colluders.clone()
                },
            }),
            AttackKind::Clone => Some(Attack::Clone {
                node: self.attacker,
                twin: self.twin,
            }),
            AttackKind::LongRange => Some(Attack::LongRange {
                seller: self.attacker,
                attacker: self.twin,
            }),
            _ => None,
        };
        if poa.is_some() {
            c.attack = poa;
            return Ok(c);
        }
        if !(0.0..1.0).contains(&share) || share <= 0.0 {
            bail!("attacker share {share} is not in (0, 1)");
        }
        if self.hashpower.is_empty() || self.seeds.is_some() {
            let honest = (1.0 - share) / (self.nodes - 1) as f64;
            c.hashpower = (0..self.nodes)
                .map(|i| if i == self.attacker { share } else { honest })
                .collect();
        }
        c.attack = Some(match kind {
            AttackKind::PrivateFork => {
                c.blocks = c
                    .blocks
                    .max(self.pay_at + confirmations + self.give_up + 20);
                Attack::PrivateFork {
                    node: self.attacker,
                    confirmations,
                    give_up: self.give_up,
                    at_height: self.pay_at,
                }
            }
            AttackKind::Selfish => Attack::Selfish {
                node: self.attacker,
                gamma: self.gamma,
            },
            AttackKind::SplitVote | AttackKind::Amnesia | AttackKind::Silent => {
                bail!("split-vote, amnesia and silent attack BFT (--consensus bft or pbft)")
            }
            AttackKind::LieViewChange => {
                bail!("lie-view-change attacks PBFT (--consensus pbft)")
            }
            AttackKind::Equivocate
            | AttackKind::Collude
            | AttackKind::Clone
            | AttackKind::LongRange
            | AttackKind::NothingAtStake => {
                unreachable!("attacks without hash power returned above")
            }
        });
        Ok(c)
    }
}

impl SimArgs {
    /// PBFT's quorum rule from --quorum.
    pub(super) fn pbft_quorum(&self) -> Result<Quorum> {
        match self.quorum.as_deref() {
            None | Some("2f+1") => Ok(Quorum::TwoFPlusOne),
            Some("f+1") => Ok(Quorum::FPlusOne),
            Some(other) => bail!("--quorum {other:?}: the quorums are 2f+1 and f+1"),
        }
    }

    /// BFT's Byzantine validators: --colluders, or the last f = (n-1)/3.
    pub(super) fn bft_byzantine(&self) -> Vec<usize> {
        if self.colluders.is_empty() {
            let f = (self.nodes.saturating_sub(1) / 3).max(1);
            (self.nodes.saturating_sub(f)..self.nodes).collect()
        } else {
            self.colluders.clone()
        }
    }
}
