//! Collusion among authorities: every member of the group proposes to vote out
//! the authorities outside it, and leaves out the transactions of the accounts
//! the group censors. With more than half of the authorities the group takes the
//! network over; with fewer its votes never pass.

use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use generals_chain::{Header, PublicKey};

#[derive(Debug)]
pub struct Collude<E> {
    inner: E,
    victims: Vec<PublicKey>,
    censored: Vec<PublicKey>,
    proposed: bool,
}

impl<E: Consensus> Collude<E> {
    /// `victims`: the authorities to vote out; `censored`: accounts whose
    /// transactions the group's blocks leave out.
    pub fn new(inner: E, victims: Vec<PublicKey>, censored: Vec<PublicKey>) -> Self {
        Collude {
            inner,
            victims,
            censored,
            proposed: false,
        }
    }
}

impl<E: Consensus> Consensus for Collude<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        if !self.proposed {
            self.proposed = true;
            for v in self.victims.clone() {
                self.inner.handle(
                    Input::Propose {
                        candidate: v,
                        add: false,
                    },
                    headers,
                );
            }
        }
        self.inner.handle(input, headers)
    }

    /// The group's blocks leave out the censored accounts' transactions.
    fn includes(&self, tx: &generals_chain::Transaction) -> bool {
        !self.censored.contains(&tx.body.sender)
    }
}
