//! Stake-weighted proof of stake with Casper FFG finality and slashing. Built so
//! far: the pieces every part of the engine stands on.
//!
//! - `leader`: RANDAO reveals and mixing, and the stake-weighted leader draw;
//! - `ffg`: checkpoints, attestations, justification and finality, and the two
//!   slashing conditions (double vote, surround vote);
//! - `protection`: a validator's signing record, refusing conflicting
//!   signatures, exportable as JSON.
//!
//! The engine that drives them (slots, proposals, attestation gossip, fork
//! choice through the latest justified checkpoint, evidence) comes next.

pub mod ffg;
pub mod leader;
pub mod protection;
