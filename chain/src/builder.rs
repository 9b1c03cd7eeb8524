//! Building a block on a parent: take candidate transactions in order, keep those
//! that apply (skipping the rest), and fill the header's roots from the result.
//! The seal is left empty for the engine to fill.

use crate::block::{Block, Evidence, Header, MAX_BLOCK_TXS};
use crate::codec::{self, MAX_BLOCK_BYTES};
use crate::crypto::PublicKey;
use crate::hash::Hash;
use crate::state::{BlockError, ChainRules, Overlay, State, TxError};
use crate::tx::Transaction;

/// What to build.
#[derive(Debug, Clone)]
pub struct BlockTemplate {
    pub parent: Hash,
    pub height: u64,
    pub timestamp_ms: u64,
    pub producer: PublicKey,
    pub consensus: Vec<u8>,
    pub max_txs: usize,
}

/// A built block and the candidates left out, with why.
#[derive(Debug, Clone)]
pub struct Built {
    pub block: Block,
    pub skipped: Vec<(Hash, TxError)>,
}

/// Builds a block on `state` (the state at `template.parent`).
pub fn build_block(
    state: &State,
    rules: &ChainRules,
    template: BlockTemplate,
    candidates: impl IntoIterator<Item = Transaction>,
    evidence: Vec<Evidence>,
) -> Result<Built, BlockError> {
    let mut overlay = Overlay::new(state, rules).at(template.timestamp_ms);
    let mut transactions = Vec::new();
    let mut skipped = Vec::new();
    let max_txs = template.max_txs.min(MAX_BLOCK_TXS);
    // Room for the header, the evidence and the length prefixes, with margin.
    let overhead = 1024 + template.consensus.len() + codec::encode(&evidence).len();
    let mut bytes = overhead;
    for tx in candidates {
        if transactions.len() >= max_txs {
            break;
        }
        let size = tx.encoded_len();
        if bytes + size > MAX_BLOCK_BYTES {
            continue;
        }
        match overlay.apply_tx(&tx) {
            Ok(()) => {
                bytes += size;
                transactions.push(tx);
            }
            Err(e) => skipped.push((tx.hash(), e)),
        }
    }
    // Evidence that no longer applies (its offender was already punished) is
    // left out, like a transaction that no longer applies.
    let mut included = Vec::new();
    for ev in evidence {
        if overlay
            .apply_evidence(included.len(), &ev, &template.producer)
            .is_ok()
        {
            included.push(ev);
        }
    }
    let evidence = included;
    let header = Header {
        parent: template.parent,
        height: template.height,
        timestamp_ms: template.timestamp_ms,
        producer: template.producer,
        tx_root: Block::compute_tx_root(&transactions),
        evidence_root: Block::compute_evidence_root(&evidence),
        state_root: Hash::ZERO,
        consensus: template.consensus,
        seal: Vec::new(),
    };
    // The block hash is not part of what a block executes to, so the undo record's
    // id can be filled in after the root.
    let exec = overlay.finish(&template.producer, Hash::ZERO)?;
    let block = Block {
        header: Header {
            state_root: exec.state_root,
            ..header
        },
        transactions,
        evidence,
    };
    Ok(Built { block, skipped })
}
