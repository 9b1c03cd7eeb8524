//! Misbehaviour, outside honest code. Each attack wraps an honest engine and
//! changes what reaches it or what leaves it; the honest engines contain no
//! `if byzantine`. The simulator and the node choose the same wrappers, so one
//! attack runs both in-process and on real processes.
//!
//! - `private_fork`: the 51% attack, a double spend by a secretly mined fork;
//! - `selfish`: Eyal and Sirer's selfish mining;
//! - `rush`: the selfish miner's network position (gamma), a network proxy.

pub mod private_fork;
pub mod rush;
pub mod selfish;

pub use private_fork::{PrivateFork, PrivateForkPlan};
pub use rush::Rush;
pub use selfish::Selfish;
