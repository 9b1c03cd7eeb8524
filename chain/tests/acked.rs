//! A sled ledger that loses acknowledged blocks is refused, never opened at an
//! earlier height in silence. The ledger's `db` file is truncated at many
//! points (its snapshots removed, as if they had never been written); each time
//! either the ledger opens with every acknowledged block, or it is refused, and
//! when blocks were lost the refusal says so and how to repair.

mod common;

use common::*;
use generals_chain::store::{StoreError, ACKED_FILE};
use generals_chain::{Genesis, LedgerError, SledStore};
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn open(dir: &Path, g: &Genesis) -> Result<u64, LedgerError> {
    let hash = g.block().expect("genesis").hash();
    open_ledger(SledStore::open(dir, &g.chain_id, hash)?, g)
}

fn open_ledger(store: SledStore, g: &Genesis) -> Result<u64, LedgerError> {
    Ok(generals_chain::Ledger::open(store, g)?.0.tip().height)
}

#[test]
fn a_truncated_ledger_never_opens_short_of_what_it_acknowledged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = tmp.path().join("good");
    let (g, keys) = genesis(4, 1_000_000, 1);
    let acked = {
        let mut ledger = open_sled(&good, &g).expect("create");
        grow(&mut ledger, &g, &keys, 40);
        ledger.tip().height
    };
    assert!(good.join(ACKED_FILE).exists());
    let db_file = good.join("db").join("db");
    let len = std::fs::metadata(&db_file).expect("db file").len();
    let (mut refused, mut lost_named) = (0, 0);
    for cut in 1..=20u64 {
        let dir = tmp.path().join(format!("cut-{cut}"));
        copy_dir(&good, &dir);
        for e in std::fs::read_dir(dir.join("db")).expect("db dir") {
            let p = e.expect("entry").path();
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("snap."))
            {
                std::fs::remove_file(p).expect("remove snapshot");
            }
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("db").join("db"))
            .expect("open db file");
        f.set_len(len * cut / 21).expect("truncate");
        drop(f);
        match open(&dir, &g) {
            Ok(height) => assert_eq!(
                height, acked,
                "cut at {cut}/21 opened at height {height}, {acked} was acknowledged"
            ),
            Err(e) => {
                refused += 1;
                if let LedgerError::Store(StoreError::LostBlocks { height, .. }) = &e {
                    assert_eq!(*height, acked);
                    assert!(e.to_string().contains("generals-node repair"), "{e}");
                    lost_named += 1;
                }
            }
        }
    }
    assert!(refused > 0, "no cut damaged the ledger");
    assert!(lost_named > 0, "no cut was refused for its lost blocks");
}
