//! Sends aimed at one peer: a block or a consensus message over a direct
//! request-response protocol, `/generals/direct/1`. Honest engines broadcast;
//! a Byzantine wrapper sends one thing to some peers and another to the rest
//! (an equivocating proposer, a split voter). A receiver treats what arrives
//! this way like gossip: it validates it, then relays it by gossip, so two
//! conflicting blocks or votes meet and become evidence. Frames are
//! size-limited before they are decoded, like every frame of the sync protocol.

use crate::net::MAX_GOSSIP_BYTES;
use crate::protocol::Framed;
use bincode::{Decode, Encode};
use generals_chain::{Block, SignedMessage};

pub const DIRECT_PROTOCOL: &str = "/generals/direct/1";
/// Largest answer to a direct send (a refusal's reason).
pub const MAX_DIRECT_RESPONSE: usize = 1_024;
/// Direct sends a peer may have open at once.
pub const MAX_DIRECT_STREAMS: usize = 64;

/// What one node sends to one peer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Direct {
    Block(Block),
    Message(SignedMessage),
}

/// The receiver's answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum DirectAnswer {
    /// Valid (or already known), and relayed.
    Taken,
    /// Invalid, with the reason.
    Refused(String),
}

/// The direct protocol's codec.
pub type DirectCodec = Framed<Direct, DirectAnswer, MAX_GOSSIP_BYTES, MAX_DIRECT_RESPONSE>;
