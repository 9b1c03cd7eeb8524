//! What PBFT messages carry and the checks of their proofs. Castro and Liskov,
//! "Practical Byzantine Fault Tolerance" (OSDI 1999), section 4: a prepared
//! certificate is a pre-prepare and 2f matching prepares from other replicas;
//! a view-change message carries the certificate of what its sender prepared;
//! a new-view message carries 2f+1 view-change messages and the pre-prepare
//! they justify. These are Byzantine Paxos's "messages that carry proofs of
//! earlier votes": a replica that claims a value it cannot prove is refused.

use bincode::{Decode, Encode};
use generals_chain::{codec, Hash, MessageKind, Position, PublicKey, SignedMessage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The largest PBFT payload decoded (a new-view carries a quorum of view
/// changes, each with a certificate of up to n messages).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// A pre-prepare, prepare, commit or checkpoint names a block by its hash.
pub fn digest_payload(hash: Hash) -> Vec<u8> {
    codec::encode(&hash)
}

pub fn digest_of(payload: &[u8]) -> Option<Hash> {
    codec::decode::<Hash, 64>("digest", payload).ok()
}

/// A prepared certificate: the primary's pre-prepare of a block at (height,
/// view) and the matching prepares of other replicas.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Prepared {
    pub pre_prepare: SignedMessage,
    pub prepares: Vec<SignedMessage>,
}

impl Prepared {
    pub fn view(&self) -> u64 {
        self.pre_prepare.position.round
    }
}

/// ⟨VIEW-CHANGE, v+1, n, C, P, i⟩ for one height: what its sender prepared.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ViewChangeBody {
    /// The certificate of the highest view in which the sender prepared a
    /// block at this height, if any.
    pub prepared: Option<Prepared>,
    /// The sender's last stable checkpoint.
    pub stable: u64,
}

/// ⟨NEW-VIEW, v+1, V, O⟩ for one height.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct NewViewBody {
    /// A quorum of view-change messages for the new view.
    pub view_changes: Vec<SignedMessage>,
    /// The new primary's pre-prepare in the new view: of the block of the
    /// highest-view certificate among them, or of a new block if none has one.
    pub pre_prepare: SignedMessage,
}

pub fn decode<T: Decode<()> + bincode::Encode>(what: &'static str, payload: &[u8]) -> Option<T> {
    codec::decode::<T, MAX_PAYLOAD>(what, payload).ok()
}

/// Why a message's proof is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("{what} is unreadable")]
    Unreadable { what: &'static str },
    #[error("{what} stands at {got:?}, expected {want:?}")]
    Position {
        what: &'static str,
        got: Position,
        want: Position,
    },
    #[error("{what} is signed by {signer}, who is not {role}")]
    Signer {
        what: &'static str,
        signer: PublicKey,
        role: &'static str,
    },
    #[error("{what} has a bad signature")]
    Signature { what: &'static str },
    #[error("the prepared certificate has {got} of the {need} matching messages a quorum needs")]
    ShortCertificate { got: usize, need: usize },
    #[error("the certificate's view {cert} is not below the view change's {view}")]
    LateCertificate { cert: u64, view: u64 },
    #[error("the new view carries {got} valid view changes, a quorum is {need}")]
    ShortNewView { got: usize, need: usize },
    #[error(
        "the new view's pre-prepare names {got}, the view changes' highest certificate {want}"
    )]
    WrongValue { got: Hash, want: Hash },
}

/// The replicas of a height (sorted), the quorum and the chain, against which
/// proofs are checked.
#[derive(Clone, Debug)]
pub struct Replicas<'a> {
    pub chain_id: &'a str,
    pub keys: &'a [PublicKey],
    pub quorum: usize,
}

impl Replicas<'_> {
    /// The primary of `view`: replicas take turns, p = v mod n.
    pub fn primary(&self, view: u64) -> Option<PublicKey> {
        if self.keys.is_empty() {
            return None;
        }
        Some(self.keys[(view % self.keys.len() as u64) as usize])
    }

    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.binary_search(key).is_ok()
    }

    fn signed(
        &self,
        what: &'static str,
        m: &SignedMessage,
        want: Position,
    ) -> Result<(), ProofError> {
        if m.position != want {
            return Err(ProofError::Position {
                what,
                got: m.position,
                want,
            });
        }
        if !self.contains(&m.signer) {
            return Err(ProofError::Signer {
                what,
                signer: m.signer,
                role: "a replica",
            });
        }
        m.verify(self.chain_id)
            .map_err(|_| ProofError::Signature { what })
    }

    /// A pre-prepare at (height, view) by that view's primary: its block.
    pub fn check_pre_prepare(
        &self,
        m: &SignedMessage,
        height: u64,
        view: u64,
    ) -> Result<Hash, ProofError> {
        let what = "the pre-prepare";
        self.signed(what, m, at(MessageKind::PrePrepare, height, view))?;
        if self.primary(view) != Some(m.signer) {
            return Err(ProofError::Signer {
                what,
                signer: m.signer,
                role: "the view's primary",
            });
        }
        digest_of(&m.payload).ok_or(ProofError::Unreadable { what })
    }

    /// A prepared certificate for `height`: (its view, its block).
    pub fn check_prepared(&self, cert: &Prepared, height: u64) -> Result<(u64, Hash), ProofError> {
        let view = cert.view();
        let digest = self.check_pre_prepare(&cert.pre_prepare, height, view)?;
        let mut signers = BTreeSet::new();
        for p in cert.prepares.iter().take(self.keys.len()) {
            self.signed("a prepare", p, at(MessageKind::Prepare, height, view))?;
            if digest_of(&p.payload) == Some(digest) && p.signer != cert.pre_prepare.signer {
                signers.insert(p.signer);
            }
        }
        // The pre-prepare stands for the primary's prepare.
        let got = signers.len() + 1;
        if got < self.quorum {
            return Err(ProofError::ShortCertificate {
                got,
                need: self.quorum,
            });
        }
        Ok((view, digest))
    }

    /// A view change to `view` at `height`: the (view, block) it proves its
    /// sender prepared, if any.
    pub fn check_view_change(
        &self,
        m: &SignedMessage,
        height: u64,
        view: u64,
    ) -> Result<Option<(u64, Hash)>, ProofError> {
        let what = "the view change";
        self.signed(what, m, at(MessageKind::ViewChange, height, view))?;
        let body: ViewChangeBody =
            decode("view change", &m.payload).ok_or(ProofError::Unreadable { what })?;
        let Some(cert) = &body.prepared else {
            return Ok(None);
        };
        let (v, d) = self.check_prepared(cert, height)?;
        if v >= view {
            return Err(ProofError::LateCertificate { cert: v, view });
        }
        Ok(Some((v, d)))
    }

    /// The block a set of checked view-change claims obliges the new primary
    /// to order again: that of the highest-view certificate.
    pub fn obliged(claims: &[Option<(u64, Hash)>]) -> Option<Hash> {
        claims.iter().flatten().max_by_key(|(v, _)| *v).map(|c| c.1)
    }

    /// A new-view for `view` at `height`: its pre-prepare's block.
    pub fn check_new_view(
        &self,
        m: &SignedMessage,
        height: u64,
        view: u64,
    ) -> Result<(Hash, SignedMessage), ProofError> {
        let what = "the new view";
        self.signed(what, m, at(MessageKind::NewView, height, view))?;
        if self.primary(view) != Some(m.signer) {
            return Err(ProofError::Signer {
                what,
                signer: m.signer,
                role: "the view's primary",
            });
        }
        let body: NewViewBody =
            decode("new view", &m.payload).ok_or(ProofError::Unreadable { what })?;
        let mut signers = BTreeSet::new();
        let mut claims = Vec::new();
        for vc in body.view_changes.iter().take(self.keys.len()) {
            let claim = self.check_view_change(vc, height, view)?;
            if signers.insert(vc.signer) {
                claims.push(claim);
            }
        }
        if signers.len() < self.quorum {
            return Err(ProofError::ShortNewView {
                got: signers.len(),
                need: self.quorum,
            });
        }
        let got = self.check_pre_prepare(&body.pre_prepare, height, view)?;
        if let Some(want) = Replicas::obliged(&claims) {
            if got != want {
                return Err(ProofError::WrongValue { got, want });
            }
        }
        Ok((got, body.pre_prepare))
    }
}

pub fn at(kind: MessageKind, height: u64, view: u64) -> Position {
    Position {
        kind,
        height,
        round: view,
    }
}
