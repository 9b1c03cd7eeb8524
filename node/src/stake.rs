//! Proof of stake on a real node: the slashing-protection record kept in sled
//! beside the ledger (saved and flushed before any signature leaves the
//! process), its JSON export and import, and the engine's start-up from the
//! stored chain.

use crate::config::Home;
use anyhow::{bail, Context, Result};
use generals_chain::genesis::PosParams;
use generals_chain::store::SledRecord;
use generals_chain::{BlockStore, ConsensusSpec, Genesis, SledStore};
use generals_consensus::core::NodeCore;
use generals_consensus::pos::engine::PosEngine;
use generals_consensus::pos::protection::{Protection, ProtectionDb};

/// Name of the record in the ledger's database, and its one key.
const RECORD: &str = "slashing-protection";
const KEY: &str = "record";

/// The signing record in sled.
#[derive(Debug)]
pub struct SledProtection(SledRecord);

impl ProtectionDb for SledProtection {
    fn save(&mut self, record: &Protection) -> Result<(), String> {
        self.0
            .put(KEY, record.to_json().as_bytes())
            .map_err(|e| e.to_string())
    }
}

/// The saved record (empty if none was ever saved).
pub fn load(record: &SledRecord) -> Result<Protection> {
    let Some(bytes) = record.get(KEY)? else {
        return Ok(Protection::default());
    };
    let mut p = Protection::default();
    let text =
        std::str::from_utf8(&bytes).context("the slashing-protection record is not UTF-8")?;
    p.merge_json(text)
        .context("the slashing-protection record is damaged")?;
    Ok(p)
}

/// The proof-of-stake engine of this node, with its record, taught what the
/// stored chain holds (stakes, and the attestations blocks carry).
pub fn engine(
    params: PosParams,
    genesis: &Genesis,
    key: generals_chain::Keypair,
    record: SledRecord,
    core: &NodeCore<SledStore>,
) -> Result<PosEngine> {
    let genesis_block = genesis.block()?;
    let protection = load(&record)?;
    let mut engine = PosEngine::new(
        params,
        &genesis.chain_id,
        &genesis_block.header,
        genesis
            .validators
            .iter()
            .map(|v| (v.key, v.stake))
            .collect(),
        key,
    )
    .with_slashing(genesis.slashing.enabled)
    .with_protection(protection, Box::new(SledProtection(record)));
    let ledger = core.ledger();
    for height in 1..=ledger.tip().height {
        let block = ledger
            .block_at(height)?
            .with_context(|| format!("no stored block at height {height}"))?;
        engine.restore(&block);
    }
    Ok(engine)
}

/// Opens the record of a stopped node in `home`.
fn open(home: &Home) -> Result<SledRecord> {
    let genesis = home.load_genesis()?;
    if !matches!(genesis.consensus, ConsensusSpec::Pos(_)) {
        bail!("this node's chain is not proof of stake: it keeps no slashing-protection record");
    }
    let store = SledStore::open(&home.ledger(), &genesis.chain_id, genesis.block()?.hash())
        .context("opening the ledger (is the node still running?)")?;
    let _ = store.tip();
    Ok(store.record(RECORD)?)
}

/// The record of the node in `home`, as JSON.
pub fn export(home: &Home) -> Result<String> {
    Ok(load(&open(home)?)?.to_json())
}

/// Merges an exported record into the node's: the union of both histories, so
/// nothing signed under either is signed again.
pub fn import(home: &Home, json: &str) -> Result<Protection> {
    let record = open(home)?;
    let mut p = load(&record)?;
    p.merge_json(json).context("reading the record to import")?;
    SledProtection(record)
        .save(&p)
        .map_err(anyhow::Error::msg)?;
    Ok(p)
}

/// The record's name in the ledger's database.
pub fn record_name() -> &'static str {
    RECORD
}
