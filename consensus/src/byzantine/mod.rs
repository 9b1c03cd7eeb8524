//! Misbehaviour, outside honest code. Each attack wraps an honest engine and
//! changes what reaches it or what leaves it; the honest engines contain no
//! `if byzantine`. The simulator and the node choose the same wrappers, so one
//! attack runs both in-process and on real processes.
//!
//! - `private_fork`: the 51% attack, a double spend by a secretly mined fork;
//! - `selfish`: Eyal and Sirer's selfish mining;
//! - `rush`: the selfish miner's network position (gamma), a network proxy;
//! - `equivocate`: a proof-of-authority sealer that seals two blocks a height;
//! - `collude`: authorities that vote out the others and censor accounts;
//! - `cartel`: delegated-proof-of-stake producers that build only on their
//!   own blocks and censor accounts;
//! - `nothing_at_stake`: a validator that attests on every fork head;
//! - `bft`: BFT validators that equivocate, split their votes or stay silent;
//! - `pbft`: a PBFT primary that pre-prepares twin blocks to two halves, with
//!   colluders; a replica that lies in its view changes;
//! - `amnesia`: a BFT validator that forgets its lock, by restarting from its
//!   signing record with the lock cleared;
//! - `forget`: a BFT or PBFT validator whose record keeps no signatures, so
//!   that a restart may sign differently (what the record guards, shown);
//! - `trigger`: when a wrapper acts (from a height, a time, or by chance).
//!
//! Cloning one authority key onto two nodes needs no wrapper: the simulator
//! gives both nodes the key (`Attack::Clone`).

/// The methods a wrapper passes to its inner engine unchanged: its kind, block
/// weight and header checks, its status and its start-up from the stored
/// chain. (A wrapper changes what the engine does, never which blocks are
/// valid.) `includes` is left to the trait's default (every transaction) unless
/// the wrapper censors.
macro_rules! delegate_rules {
    () => {
        delegate_rules!(except restore);

        fn restore(&mut self, block: &generals_chain::Block) {
            self.inner.restore(block)
        }
    };
    (except restore) => {
        delegate_rules!(@rules inner);

        fn honest_mut(&mut self) -> Option<&mut dyn Consensus> {
            Some(&mut self.inner)
        }
    };
    (@rules $f:ident) => {
        fn kind(&self) -> &'static str {
            self.$f.kind()
        }

        fn weight(&self, header: &Header) -> u128 {
            self.$f.weight(header)
        }

        fn validate(
            &self,
            header: &Header,
            headers: &dyn Headers,
            now_ms: u64,
        ) -> Result<(), ConsensusError> {
            self.$f.validate(header, headers, now_ms)
        }

        fn precheck(&self, header: &Header) -> Result<(), ConsensusError> {
            self.$f.precheck(header)
        }

        fn certified(&self, header: &Header) -> Option<generals_chain::Hash> {
            self.$f.certified(header)
        }

        fn engine_status(
            &self,
            tip: &Header,
            headers: &dyn Headers,
            now_ms: u64,
        ) -> crate::engine::EngineStatus {
            self.$f.engine_status(tip, headers, now_ms)
        }

        fn in_turn(&self, parent: &Header, headers: &dyn Headers) -> Option<generals_chain::PublicKey> {
            self.$f.in_turn(parent, headers)
        }

        fn difficulty(&self, header: &Header) -> Option<u128> {
            self.$f.difficulty(header)
        }
    };
}

pub mod amnesia;
pub mod bft;
pub mod cartel;
pub mod collude;
pub mod equivocate;
pub mod forget;
pub mod nothing_at_stake;
pub mod pbft;
pub mod private_fork;
pub mod rush;
pub mod selfish;
pub mod trigger;

pub use amnesia::Amnesia;
pub use bft::{Silent, SplitPlan, SplitVote, VoteEquivocate};
pub use cartel::Cartel;
pub use collude::Collude;
pub use equivocate::Equivocate;
pub use nothing_at_stake::NothingAtStake;
pub use pbft::{LieViewChange, PbftSplit};
pub use private_fork::{PrivateFork, PrivateForkPlan};
pub use rush::Rush;
pub use selfish::Selfish;
pub use trigger::{Trigger, Triggered};
