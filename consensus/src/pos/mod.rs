//! Stake-weighted proof of stake with Casper FFG finality and slashing.
//!
//! - `leader`: RANDAO reveals and mixing, and the stake-weighted leader draw;
//! - `ffg`: checkpoints, attestations, justification and finality, and the two
//!   slashing conditions (double vote, surround vote);
//! - `protection`: a validator's signing record, refusing conflicting
//!   signatures, exportable as JSON.
//!
//! - `engine`: slots, proposals, attestations, finality, evidence.

pub mod engine;
pub mod ffg;
pub mod leader;
pub mod protection;
