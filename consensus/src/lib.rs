//! generals-consensus: the `Consensus` trait and its engines, written as sans-I/O
//! state machines (inputs in, outputs out, no clock, no thread RNG, no tokio), so the
//! same engine runs inside the deterministic simulator and inside a real node.
//!
//! Layout:
//! - `engine`: the seam: `Consensus`, `Input`, `Output`, `ConsensusError`,
//!   `EngineStatus`;
//! - `host`: the `Host` trait and `drive`, the one loop that carries out an
//!   engine's outputs (the simulator and the node differ only in their host);
//! - `factory`: the one engine factory (genesis, key, seed, record, Byzantine
//!   behaviour -> engine);
//! - `core`: what every host does with blocks: validate, store, fork choice, reorg;
//! - `evidence`: the evidence pool of the voting engines;
//! - `seal`: block seals shared by proof of authority, proof of stake and BFT;
//! - `pow/`: proof of work (SHA-256d, ASERT difficulty, median-time-past);
//! - `poa/`: proof of authority (Clique: turns, signer limit, votes, evidence);
//! - `pos/`: proof of stake: leader draw, Casper FFG, slashing protection;
//! - `bft/`: Tendermint voting with commit certificates and evidence;
//! - `dpos/`: delegated proof of stake (elected producers, irreversibility);
//! - `pbft/`: Byzantine Paxos as PBFT (views, prepared certificates, view
//!   changes whose proofs are checked, checkpoints);
//! - `ondemand`: a development chain's clock, which moves only when the
//!   operator asks for a block (`"production": "on-demand"`);
//! - `byzantine/`: misbehaviour as wrappers around honest engines;
//! - `sim/`: the deterministic simulator.
//!
//! - `generals/`: Lamport, Shostak and Pease's oral and signed messages algorithms.

pub mod bft;
pub mod byzantine;
pub mod core;
pub mod dpos;
pub mod engine;
pub mod evidence;
pub mod factory;
pub mod generals;
pub mod host;
pub mod ondemand;
pub mod pbft;
pub mod poa;
pub mod pos;
pub mod pow;
pub mod seal;
pub mod sim;

pub use engine::{Consensus, ConsensusError, EngineStatus, Headers, Input, NodeId, Output, Record};
pub use host::{drive, Host, Verdict};
