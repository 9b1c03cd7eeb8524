//! generals-consensus: the `Consensus` trait and its engines, written as sans-I/O
//! state machines (inputs in, outputs out, no clock, no thread RNG, no tokio), so the
//! same engine runs inside the deterministic simulator and inside a real node.
//!
//! Layout (filled by later work, see `../shared/DESIGN.md`):
//! - `pow/`, `pos/`, `poa/`, `bft/`: the four engines;
//! - `byzantine/`: misbehaviour as wrappers around honest engines;
//! - `sim/`: the deterministic simulator;
//! - `generals/`: Lamport, Shostak and Pease's oral and signed messages algorithms.
