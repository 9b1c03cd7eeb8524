//! Proof of stake on a real node: the slashing-protection record that the
//! engine persists (`Output::Persist`) into its own sled tree beside the
//! ledger, and its JSON export and import for moving a validator between
//! machines (EIP-3076's interchange, in spirit).

use crate::config::Home;
use crate::config::RECORD_KEY;
use anyhow::{bail, Context, Result};
use generals_chain::store::SledRecord;
use generals_chain::{BlockStore, ConsensusSpec, SledStore};
use generals_consensus::factory;
use generals_consensus::pos::protection::{Protection, RECORD_NAME};

/// The saved record (empty if none was ever saved).
pub fn load(record: &SledRecord) -> Result<Protection> {
    match record.get(RECORD_KEY)? {
        Some(bytes) => Ok(factory::protection(&bytes)?),
        None => Ok(Protection::default()),
    }
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
    Ok(store.record(RECORD_NAME)?)
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
    record.put(RECORD_KEY, p.to_json().as_bytes())?;
    Ok(p)
}
