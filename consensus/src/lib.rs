//! generals-consensus: the `Consensus` trait and its engines, written as sans-I/O
//! state machines (inputs in, outputs out, no clock, no thread RNG, no tokio), so the
//! same engine runs inside the deterministic simulator and inside a real node.
//!
//! Layout:
//! - `engine`: the seam: `Consensus`, `Input`, `Output`, `ConsensusError`;
//! - `core`: what every host does with blocks: validate, store, fork choice, reorg;
//! - `pow/`: proof of work (SHA-256d, ASERT difficulty, median-time-past);
//! - `poa/`: proof of authority (Clique: turns, signer limit, votes, evidence);
//! - `pos/`: proof of stake: leader draw, Casper FFG, slashing protection;
//! - `bft/`: Tendermint voting with commit certificates and evidence;
//! - `byzantine/`: misbehaviour as wrappers around honest engines;
//! - `sim/`: the deterministic simulator.
//!
//! - `generals/`: Lamport, Shostak and Pease's oral and signed messages algorithms.

pub mod bft;
pub mod byzantine;
pub mod core;
pub mod engine;
pub mod generals;
pub mod poa;
pub mod pos;
pub mod pow;
pub mod sim;

pub use engine::{Consensus, ConsensusError, Headers, Input, NodeId, Output};
