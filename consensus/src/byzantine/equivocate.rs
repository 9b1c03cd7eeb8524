//! Equivocation by a proof-of-authority sealer or a proof-of-stake proposer: for
//! every block it seals, it seals a second one for the same height or slot (one
//! millisecond later) and sends one to half of its peers and the other to the
//! other half, so the network splits until fork choice settles it, and the two
//! seals stand as evidence against it.

use crate::engine::{Consensus, ConsensusError, Headers, Input, NodeId, Output};
use generals_chain::{Block, Header, Keypair};

#[derive(Debug)]
pub struct Equivocate<E> {
    inner: E,
    key: Keypair,
    chain_id: String,
    peers: Vec<NodeId>,
    seal: fn(&mut Block, &Keypair, &str),
}

impl<E: Consensus> Equivocate<E> {
    /// `seal` is the engine's own sealing (`poa::seal` or `pos::engine::seal`).
    pub fn new(
        inner: E,
        key: Keypair,
        chain_id: &str,
        peers: Vec<NodeId>,
        seal: fn(&mut Block, &Keypair, &str),
    ) -> Self {
        Equivocate {
            inner,
            key,
            chain_id: chain_id.to_string(),
            peers,
            seal,
        }
    }

    fn twin(&self, block: &Block) -> Block {
        let mut b = block.clone();
        b.header.timestamp_ms += 1;
        (self.seal)(&mut b, &self.key, &self.chain_id);
        b
    }
}

impl<E: Consensus> Consensus for Equivocate<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let produced = matches!(input, Input::Produced { .. });
        let out = self.inner.handle(input, headers);
        if !produced {
            return out;
        }
        let half = self.peers.len() / 2;
        out.into_iter()
            .flat_map(|o| match o {
                Output::Broadcast(a) => {
                    let b = self.twin(&a);
                    self.peers
                        .iter()
                        .enumerate()
                        .map(|(i, p)| Output::SendBlock {
                            to: *p,
                            block: if i < half { a.clone() } else { b.clone() },
                        })
                        .collect::<Vec<_>>()
                }
                other => vec![other],
            })
            .collect()
    }
}
