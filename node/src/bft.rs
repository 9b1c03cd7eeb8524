//! BFT on a real node: the validator's signing record (what it signed at its
//! current height, its lock and valid value) kept in sled beside the ledger
//! and saved and flushed before any vote or proposal leaves the process, and
//! the engine's start-up from the stored chain.

use anyhow::{Context, Result};
use generals_chain::genesis::BftParams;
use generals_chain::store::SledRecord;
use generals_chain::{Genesis, SledStore};
use generals_consensus::bft::{BftEngine, BftRecord, RecordDb};
use generals_consensus::core::NodeCore;

/// Name of the record in the ledger's database, and its one key.
const RECORD: &str = "bft-signing-record";
const KEY: &str = "record";

/// The signing record in sled.
#[derive(Debug)]
pub struct SledBftRecord(SledRecord);

impl RecordDb for SledBftRecord {
    fn save(&mut self, record: &BftRecord) -> Result<(), String> {
        self.0
            .put(KEY, record.to_json().as_bytes())
            .map_err(|e| e.to_string())
    }
}

/// The saved record (empty if none was ever saved).
pub fn load(record: &SledRecord) -> Result<BftRecord> {
    let Some(bytes) = record.get(KEY)? else {
        return Ok(BftRecord::default());
    };
    serde_json::from_slice(&bytes).context("the BFT signing record is damaged")
}

/// The BFT engine of this node, with its record, taught the stored chain's
/// validator changes.
pub fn engine(
    params: BftParams,
    genesis: &Genesis,
    key: generals_chain::Keypair,
    record: SledRecord,
    core: &NodeCore<SledStore>,
) -> Result<BftEngine> {
    let saved = load(&record)?;
    let mut engine = BftEngine::new(
        params,
        &genesis.chain_id,
        &genesis.block()?.header,
        genesis
            .validators
            .iter()
            .map(|v| (v.key, v.stake))
            .collect(),
        key,
    )
    .with_slashing(genesis.slashing.enabled)
    .with_record(saved, Box::new(SledBftRecord(record)));
    let ledger = core.ledger();
    for height in 1..=ledger.tip().height {
        let block = ledger
            .block_at(height)?
            .with_context(|| format!("no stored block at height {height}"))?;
        engine.restore(&block);
    }
    Ok(engine)
}

/// The record's name in the ledger's database.
pub fn record_name() -> &'static str {
    RECORD
}
