//! `generals-node repair`: a ledger that lost blocks it had acknowledged (or
//! that cannot be opened at all) is moved aside, kept whole as
//! `ledger.damaged-<seconds>`, and a new ledger starts from genesis; the node
//! then syncs the chain again from its peers. A validator's signing record is
//! carried into the new ledger, so a repaired validator never signs what it
//! signed before; if the record cannot be read, repair stops unless told to
//! go on without it.

use crate::config::Home;
use anyhow::{bail, Context, Result};
use generals_chain::{Ledger, SledStore};
use generals_consensus::factory;
use std::path::PathBuf;

/// What repair did.
#[derive(Debug)]
pub struct Repaired {
    /// Where the damaged ledger now is (`None`: it was sound, nothing moved).
    pub moved_to: Option<PathBuf>,
    /// Records carried into the new ledger.
    pub records: usize,
    /// The sound ledger's height, when nothing was moved.
    pub height: Option<u64>,
}

/// Repairs the ledger of the stopped node in `home`. `without_record`: go on
/// even if the signing record cannot be read from the damaged ledger.
pub fn repair(home: &Home, without_record: bool) -> Result<Repaired> {
    let genesis = home.load_genesis()?;
    let hash = genesis.block()?.hash();
    let dir = home.ledger();
    let opened = SledStore::open(&dir, &genesis.chain_id, hash)
        .map_err(anyhow::Error::from)
        .and_then(|store| Ok(Ledger::open(store, &genesis)?.0.tip().height));
    let damage = match opened {
        Ok(height) => {
            return Ok(Repaired {
                moved_to: None,
                records: 0,
                height: Some(height),
            })
        }
        Err(e) => e,
    };
    if damage.to_string().contains("in use by another process") {
        bail!("{damage:#}: stop the node before repairing its ledger");
    }
    // The signer's record first: it must outlive the damaged ledger.
    let mut carried = Vec::new();
    if let Some(name) = factory::record_name(&genesis.consensus) {
        match SledStore::salvage_record(&dir, name) {
            Ok(Some(entries)) => carried.push((name, entries)),
            Ok(None) => {}
            Err(e) if without_record => {
                tracing::warn!(error = %e, "the signing record could not be read; going on without it");
            }
            Err(e) => bail!(
                "the signing record {name:?} cannot be read from the damaged ledger ({e}); \
                 without it this validator could sign twice. Import an exported record after \
                 repair (`generals-node protection import`), and run repair with \
                 --without-record"
            ),
        }
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = dir.with_file_name(format!("ledger.damaged-{stamp}"));
    std::fs::rename(&dir, &aside)
        .with_context(|| format!("moving {} to {}", dir.display(), aside.display()))?;
    let store = SledStore::open(&dir, &genesis.chain_id, hash)?;
    let mut records = 0;
    for (name, entries) in carried {
        let record = store.record(name)?;
        for (key, value) in entries {
            let key = String::from_utf8(key).context("a record key is not text")?;
            record.put(&key, &value)?;
            records += 1;
        }
    }
    Ledger::open(store, &genesis).context("starting the new ledger")?;
    Ok(Repaired {
        moved_to: Some(aside),
        records,
        height: None,
    })
}

/// `generals-node verify`: replays the stopped node's main chain from genesis
/// (each block must give the state root its header names, and the end must
/// equal the stored state). Returns the blocks replayed and the root.
pub fn verify(home: &Home) -> Result<(u64, generals_chain::Hash)> {
    let genesis = home.load_genesis()?;
    let store = SledStore::open(&home.ledger(), &genesis.chain_id, genesis.block()?.hash())
        .with_context(|| format!("opening the ledger in {}", home.ledger().display()))?;
    let (ledger, opened) = Ledger::open(store, &genesis)?;
    if opened.rebuilt {
        bail!(
            "the stored accounts disagreed with the tip's state root; opening rebuilt them from the blocks"
        );
    }
    Ok(ledger.replay(&genesis)?)
}
