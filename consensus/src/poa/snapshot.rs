//! The authority set at a block, after Clique (EIP-225): the signers, the
//! recent signers (an authority may seal at most one of any floor(N/2)+1
//! consecutive blocks), and the open votes. A block's snapshot is its parent's
//! with the block applied; votes reset at every epoch checkpoint.

use super::{PoaData, Vote};
use crate::engine::ConsensusError;
use generals_chain::{Hash, Header, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub height: u64,
    pub hash: Hash,
    /// Authorities, in the order that decides whose turn it is.
    pub signers: BTreeSet<PublicKey>,
    /// Who sealed each of the last blocks, by height.
    pub recents: BTreeMap<u64, PublicKey>,
    /// Open votes: (voter, candidate) -> add.
    pub votes: BTreeMap<(PublicKey, PublicKey), bool>,
}

impl Snapshot {
    pub fn genesis(genesis: &Header, signers: impl IntoIterator<Item = PublicKey>) -> Snapshot {
        Snapshot {
            height: genesis.height,
            hash: genesis.hash(),
            signers: signers.into_iter().collect(),
            recents: BTreeMap::new(),
            votes: BTreeMap::new(),
        }
    }

    /// Blocks in which one authority may seal only once.
    pub fn limit(&self) -> u64 {
        self.signers.len() as u64 / 2 + 1
    }

    /// The authority whose turn the block at `height` is.
    pub fn in_turn(&self, height: u64) -> Option<PublicKey> {
        let n = self.signers.len() as u64;
        if n == 0 {
            return None;
        }
        self.signers.iter().nth((height % n) as usize).copied()
    }

    /// Whether `signer` sealed one of the blocks that forbid it the next one.
    pub fn recently_signed(&self, signer: &PublicKey, next_height: u64) -> bool {
        let limit = self.limit();
        self.recents
            .iter()
            .any(|(h, s)| s == signer && next_height < h + limit)
    }

    /// Votes for or against `candidate` that stand.
    pub fn tally(&self, candidate: &PublicKey, add: bool) -> usize {
        self.votes
            .iter()
            .filter(|((_, c), a)| c == candidate && **a == add)
            .count()
    }

    /// The snapshot after `header` (whose data is `data`), or why it may not follow.
    pub fn apply(
        &self,
        header: &Header,
        data: &PoaData,
        epoch: u64,
    ) -> Result<Snapshot, ConsensusError> {
        let signer = header.producer;
        let height = header.height;
        if !self.signers.contains(&signer) {
            return Err(ConsensusError::Unauthorized { signer });
        }
        if self.recently_signed(&signer, height) {
            return Err(ConsensusError::SignedRecently { signer });
        }
        let expected = if self.in_turn(height) == Some(signer) {
            2
        } else {
            1
        };
        if data.difficulty != expected {
            return Err(ConsensusError::WrongDifficulty {
                expected: expected as u128,
                got: data.difficulty as u128,
            });
        }
        let mut next = self.clone();
        next.height = height;
        next.hash = header.hash();
        next.recents.insert(height, signer);
        let checkpoint = epoch > 0 && height % epoch == 0;
        if checkpoint {
            next.votes.clear();
            if data.vote.is_some() {
                return Err(ConsensusError::BadConsensusData {
                    reason: "a checkpoint block carries no vote".into(),
                });
            }
        }
        if let Some(Vote { candidate, add }) = data.vote {
            let member = next.signers.contains(&candidate);
            if add == member {
                return Err(ConsensusError::BadConsensusData {
                    reason: format!(
                        "a vote to {} {candidate}, which is {} an authority",
                        if add { "add" } else { "remove" },
                        if member { "already" } else { "not" }
                    ),
                });
            }
            next.votes.insert((signer, candidate), add);
            if next.tally(&candidate, add) > next.signers.len() / 2 {
                if add {
                    next.signers.insert(candidate);
                } else {
                    next.signers.remove(&candidate);
                    next.votes.retain(|(voter, _), _| *voter != candidate);
                    next.recents.retain(|_, s| *s != candidate);
                }
                next.votes.retain(|(_, c), _| *c != candidate);
            }
        }
        // Only the last `limit - 1` seals still restrict anyone.
        let limit = next.limit();
        next.recents.retain(|h, _| h + limit > height + 1);
        Ok(next)
    }
}
