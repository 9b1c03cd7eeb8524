//! BFT voting: Tendermint consensus (arXiv 1807.04938, Algorithm 1).
//!
//! - `engine`: heights and rounds; propose, prevote, precommit; quorums of more
//!   than two thirds of the voting power; locks and valid values; timeouts
//!   that grow with the round; commit certificates carried in the next block;
//!   evidence of double votes;
//! - `validators`: voting power from the chain and proposer rotation by
//!   proposer priority;
//! - `record`: the signing record a validator saves before it signs.
//!
//! With n = 3f+1 validators of equal power, any two quorums of 2f+1 share f+1
//! validators, at least one of them honest, and an honest validator never
//! precommits two blocks at one height (its lock): so two conflicting
//! decisions need more than f Byzantine validators, the bound of Lamport,
//! Shostak and Pease.

pub mod engine;
pub mod record;
pub mod validators;

pub use engine::{BftData, BftEngine, BftStatus, ProposalBody, Step};
pub use record::{BftRecord, Refusal};
pub use validators::ValidatorSet;
