//! A PBFT replica's signing record: what it signed at its current height (by
//! kind and view, through the BFT record's rule: one message per position),
//! the view it stands in, and its prepared certificate. The node saves it
//! before a signature leaves the process; a replica that forgot what it
//! prepared could let a new view drop a block another replica committed.

use super::proof::Prepared;
use crate::bft::record::BftRecord;
use serde::{Deserialize, Serialize};

/// The name the record is saved under (`Output::Persist`).
pub const RECORD_NAME: &str = "pbft-signing-record";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PbftRecord {
    /// Signatures at the current height (views stand in the rounds), and the
    /// commit certificate of the last decision.
    pub signing: BftRecord,
    /// The view this replica stands in at `signing.height`, and the view it
    /// entered the height with.
    pub view: u64,
    pub first_view: u64,
    /// The highest-view certificate of what it prepared at `signing.height`.
    pub prepared: Option<Prepared>,
}

impl PbftRecord {
    pub fn to_json(&self) -> String {
        // Compact: it is written and flushed before every signature, and
        // pretty JSON puts each byte of a payload on a line of its own.
        serde_json::to_string(self).expect("the record always serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<PbftRecord, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
