//! The ledger on sled: reopening, refusing folders that are not ours, recovering a
//! damaged state, undo across reopen, and damaged records as errors.

mod common;

use common::*;
use generals_chain::ledger::LedgerError;
use generals_chain::store::StoreError;
use generals_chain::{BlockStore, Genesis, Hash, Keypair, Ledger, SledStore};
use std::collections::BTreeMap;
use std::path::Path;

/// A new sled ledger in a temporary folder, grown by `blocks` blocks.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    genesis: Genesis,
    keys: Vec<Keypair>,
}

fn fixture(blocks: usize) -> (Fixture, Ledger<SledStore>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let (genesis, keys) = genesis(4, 1_000_000, 1);
    let mut ledger = open_sled(&dir, &genesis).expect("create");
    grow(&mut ledger, &genesis, &keys, blocks);
    let f = Fixture {
        _tmp: tmp,
        dir,
        genesis,
        keys,
    };
    (f, ledger)
}

/// Every file under `dir` with its bytes, to prove a refused folder is untouched.
/// The ledger's sled database opened directly, to damage it. sled frees its
/// file lock a moment after the last handle drops, so this waits for it.
fn raw_db(dir: &Path) -> sled::Db {
    for _ in 0..100 {
        match sled::open(dir.join("db")) {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("raw sled: {e}"),
        }
    }
    panic!("raw sled: the lock was never released")
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.display().to_string(), std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

#[test]
fn a_reopened_ledger_has_the_same_tip_and_state() {
    let (f, ledger) = fixture(12);
    let (dir, g) = (&f.dir, &f.genesis);
    let (tip, state) = (ledger.tip(), ledger.state().clone());
    drop(ledger);
    let store = SledStore::open(dir, &g.chain_id, g.block().expect("genesis block").hash())
        .expect("reopen store");
    let (ledger, report) = Ledger::open(store, g).expect("reopen");
    assert!(!report.created && !report.rebuilt);
    assert_eq!(ledger.tip(), tip);
    assert_eq!(tip.height, 12);
    assert_eq!(ledger.state(), &state);
    assert_eq!(ledger.tip_header().state_root, state.root());
}

#[test]
fn undo_survives_a_reopen() {
    let (f, mut ledger) = fixture(3);
    let (dir, g) = (&f.dir, &f.genesis);
    let at2 = ledger.block_at(2).expect("read").expect("block 2");
    let undone = ledger.undo_tip().expect("undo");
    assert_eq!(undone.height(), 3);
    let state = ledger.state().clone();
    drop(ledger);
    let ledger = open_sled(dir, g).expect("reopen");
    assert_eq!(ledger.tip().hash, at2.hash());
    assert_eq!(ledger.state(), &state);
    // The undone block is still stored, off the main chain.
    assert!(ledger.store().has_block(&undone.hash()).expect("read"));
    assert_eq!(ledger.block_at(3).expect("read"), None);
}

#[test]
fn a_folder_that_is_not_a_ledger_is_refused_and_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("notes.txt"), b"my thesis").expect("write");
    let before = snapshot(tmp.path());
    let err = SledStore::open(tmp.path(), "generals-test", Hash::ZERO).expect_err("refused");
    assert!(matches!(err, StoreError::NotALedger { .. }), "{err}");
    assert!(err.to_string().contains("not a generals ledger"));
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn another_chains_ledger_is_refused_and_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let (g, keys) = genesis(3, 1_000, 0);
    let mut ledger = open_sled(&dir, &g).expect("create");
    grow(&mut ledger, &g, &keys, 2);
    drop(ledger);
    let before = snapshot(&dir);

    let mut other = g.clone();
    other.chain_id = "another-net".into();
    let err = open_sled(&dir, &other).expect_err("refused");
    assert!(
        matches!(err, LedgerError::Store(StoreError::WrongChain { ref found, .. }) if found == CHAIN),
        "{err}"
    );
    assert_eq!(snapshot(&dir), before);

    // Same chain id, another genesis: refused by the genesis hash.
    let mut fork = g.clone();
    fork.block_reward += 1;
    let err = open_sled(&dir, &fork).expect_err("refused");
    assert!(
        matches!(err, LedgerError::Store(StoreError::WrongGenesis { .. })),
        "{err}"
    );
    assert_eq!(snapshot(&dir), before);
    assert_eq!(open_sled(&dir, &g).expect("still ours").tip().height, 2);
}

#[test]
fn a_damaged_state_is_rebuilt_from_the_blocks() {
    let (f, ledger) = fixture(6);
    let (dir, g, keys) = (&f.dir, &f.genesis, &f.keys);
    let state = ledger.state().clone();
    drop(ledger);
    {
        // Damage the account rows directly: one account changed, one unreadable,
        // one invented. Rows live under `a` in the `ledger` tree; the journal
        // under `j` overrides them, so it goes too.
        let db = raw_db(dir);
        let tree = db.open_tree("ledger").expect("tree");
        for k in tree.scan_prefix(b"j").keys() {
            tree.remove(k.expect("key")).expect("rm");
        }
        let row = |k: &generals_chain::PublicKey| [&b"a"[..], &k.0].concat();
        tree.insert(row(&keys[0].public()), vec![9, 9, 9, 0])
            .expect("write");
        tree.insert(row(&keys[1].public()), vec![0xff; 3])
            .expect("write");
        tree.insert(row(&Keypair::dev("ghost").public()), vec![1, 0, 0, 0])
            .expect("write");
        db.flush().expect("flush");
    }
    let store = SledStore::open(dir, &g.chain_id, g.block().expect("genesis block").hash())
        .expect("reopen store");
    let (ledger, report) = Ledger::open(store, g).expect("reopen");
    assert!(report.rebuilt);
    assert_eq!(ledger.state(), &state);
    drop(ledger);
    let store = SledStore::open(dir, &g.chain_id, g.block().expect("genesis block").hash())
        .expect("reopen store");
    let (_, report) = Ledger::open(store, g).expect("reopen again");
    assert!(!report.rebuilt, "the rebuilt state was written back");
}

#[test]
fn a_damaged_block_record_is_an_error_not_a_panic() {
    let (f, ledger) = fixture(3);
    let (dir, g) = (&f.dir, &f.genesis);
    let tip = ledger.tip();
    drop(ledger);
    {
        let db = raw_db(dir);
        let tree = db.open_tree("ledger").expect("tree");
        tree.insert([&b"h"[..], &tip.hash.0].concat(), vec![1, 2, 3])
            .expect("write");
        db.flush().expect("flush");
    }
    let err = open_sled(dir, g).expect_err("damaged");
    assert!(
        matches!(err, LedgerError::Store(StoreError::Corrupt(_))),
        "{err}"
    );
    {
        let db = raw_db(dir);
        let tree = db.open_tree("ledger").expect("tree");
        tree.remove([&b"n"[..], &2u64.to_be_bytes()].concat())
            .expect("rm");
        db.flush().expect("flush");
    }
    let err = open_sled(dir, g).expect_err("damaged");
    assert!(
        err.to_string().contains("damaged") || err.to_string().contains("corrupt"),
        "{err}"
    );
}

#[test]
fn a_block_not_on_the_tip_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (g, keys) = genesis(2, 1_000, 0);
    let mut ledger = open_sled(&tmp.path().join("l"), &g).expect("create");
    let genesis_block = g.block().expect("genesis");
    let b1 = block_on(
        ledger.state(),
        &g.rules(),
        &genesis_block,
        keys[0].public(),
        vec![],
    );
    let mut orphan = b1.clone();
    orphan.header.parent = Hash::digest(b"elsewhere");
    assert!(matches!(
        ledger.import(&orphan),
        Err(LedgerError::NotOnTip { .. })
    ));
    let mut skip = b1.clone();
    skip.header.height = 5;
    assert!(matches!(
        ledger.import(&skip),
        Err(LedgerError::BadHeight {
            expected: 1,
            got: 5,
            ..
        })
    ));
    ledger.import(&b1).expect("b1");
    assert!(matches!(
        ledger.import(&b1),
        Err(LedgerError::NotOnTip { .. })
    ));
    assert!(matches!(
        Ledger::open(generals_chain::MemoryStore::new(), &g)
            .expect("mem")
            .0
            .undo_tip(),
        Err(LedgerError::UndoGenesis)
    ));
}

#[test]
fn the_account_journal_compacts_and_reopens_to_the_same_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let (g, keys) = genesis(4, 1_000_000, 1);
    let mut ledger = open_sled(&dir, &g).expect("create");
    // More writes than one journal holds, so the rows are compacted at least once.
    grow(&mut ledger, &g, &keys, 300);
    ledger.undo_tip().expect("undo");
    let (tip, state) = (ledger.tip(), ledger.state().clone());
    drop(ledger);
    let store = SledStore::open(&dir, &g.chain_id, g.block().expect("genesis block").hash())
        .expect("reopen");
    let (ledger, report) = Ledger::open(store, &g).expect("reopen ledger");
    assert!(!report.rebuilt);
    assert_eq!(ledger.tip(), tip);
    assert_eq!(ledger.state(), &state);
    drop(ledger);
    let db = raw_db(&dir);
    let journal = db
        .open_tree("ledger")
        .expect("tree")
        .scan_prefix(b"j")
        .count();
    assert!(
        journal < 256,
        "{journal} journal records: the journal was never compacted"
    );
}

/// A store whose writes fail from the `fail_from`-th on.
struct Failing {
    inner: generals_chain::MemoryStore,
    writes: usize,
    fail_from: usize,
}

impl BlockStore for Failing {
    fn meta(&self) -> Result<Option<generals_chain::store::LedgerMeta>, StoreError> {
        self.inner.meta()
    }
    fn tip(&self) -> Result<Option<generals_chain::store::Tip>, StoreError> {
        self.inner.tip()
    }
    fn block(&self, hash: &Hash) -> Result<Option<generals_chain::Block>, StoreError> {
        self.inner.block(hash)
    }
    fn header(&self, hash: &Hash) -> Result<Option<generals_chain::Header>, StoreError> {
        self.inner.header(hash)
    }
    fn has_block(&self, hash: &Hash) -> Result<bool, StoreError> {
        self.inner.has_block(hash)
    }
    fn hash_at(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        self.inner.hash_at(height)
    }
    fn undo(&self, hash: &Hash) -> Result<Option<generals_chain::state::Undo>, StoreError> {
        self.inner.undo(hash)
    }
    fn accounts(
        &self,
    ) -> Result<Vec<(generals_chain::PublicKey, generals_chain::Account)>, StoreError> {
        self.inner.accounts()
    }
    fn account_keys(&self) -> Result<Vec<generals_chain::PublicKey>, StoreError> {
        self.inner.account_keys()
    }
    fn write(&mut self, ops: &[generals_chain::store::Op<'_>]) -> Result<(), StoreError> {
        self.writes += 1;
        if self.writes >= self.fail_from {
            return Err(StoreError::Io {
                path: "disk".into(),
                source: std::io::Error::other("disk full"),
            });
        }
        self.inner.write(ops)
    }
}

#[test]
fn after_a_failed_write_the_ledger_refuses_more_until_reopened() {
    let (g, keys) = genesis(2, 1_000, 0);
    let store = Failing {
        inner: generals_chain::MemoryStore::new(),
        writes: 0,
        fail_from: 2,
    };
    let (mut ledger, _) = Ledger::open(store, &g).expect("open");
    let genesis_block = g.block().expect("genesis");
    let b1 = block_on(
        ledger.state(),
        &g.rules(),
        &genesis_block,
        keys[0].public(),
        vec![],
    );
    let before = ledger.state().clone();
    let err = ledger.import(&b1).expect_err("the disk is full");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(ledger.state(), &before, "nothing was committed in memory");
    assert_eq!(ledger.tip().height, 0);
    assert!(matches!(
        ledger.import(&b1),
        Err(LedgerError::Poisoned { .. })
    ));
}

#[test]
fn a_ledger_in_use_is_reported_busy_and_opens_once_released() {
    let (f, ledger) = fixture(2);
    let (dir, g) = (&f.dir, &f.genesis);
    let err = open_sled(dir, g).expect_err("the first ledger still holds the lock");
    assert!(
        matches!(err, LedgerError::Store(StoreError::Busy { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("in use"), "{err}");
    drop(ledger);
    // Dropped a moment ago: sled's threads may hold the lock briefly; open waits.
    assert_eq!(open_sled(dir, g).expect("released").tip().height, 2);
}

#[test]
fn a_replay_from_genesis_checks_every_block_and_finds_a_tampered_one() {
    let (f, ledger) = fixture(5);
    assert_eq!(ledger.replay(&f.genesis).expect("replays").0, 5);
    // Block 3's stored body swapped for one whose transfer pays more, under
    // the same header (and hash): opening does not read old bodies, a replay
    // must.
    let mut bad = ledger.block_at(3).expect("read").expect("block 3");
    let hash = bad.hash();
    let keys = f.keys.clone();
    let first = bad.transactions[0].body.clone();
    bad.transactions[0] = tx(
        keys.iter()
            .find(|k| k.public() == first.sender)
            .expect("a fixture key"),
        first.nonce,
        first.fee,
        generals_chain::tx::Action::Transfer {
            to: keys[0].public(),
            amount: 999,
        },
    );
    drop(ledger);
    {
        let db = raw_db(&f.dir);
        let tree = db.open_tree("ledger").expect("tree");
        tree.insert(
            [&b"b"[..], &hash.0].concat(),
            generals_chain::codec::encode(&bad),
        )
        .expect("write");
        db.flush().expect("flush");
    }
    let ledger = open_sled(&f.dir, &f.genesis).expect("opens: the tip is untouched");
    let err = ledger
        .replay(&f.genesis)
        .expect_err("the tampered block is found");
    assert!(
        err.to_string().contains("at height 3 does not replay"),
        "{err}"
    );
}

/// A kill while sled wrote a snapshot leaves a partial `snap.*.generating`
/// file, which sled 0.34.7 takes for the newest snapshot and calls corrupt.
/// The ledger removes it and opens, losing nothing (the log holds the data).
#[test]
fn a_partial_snapshot_left_by_a_kill_does_not_stop_the_ledger_opening() {
    let (f, ledger) = fixture(5);
    let tip = ledger.tip();
    drop(ledger);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let partial = f.dir.join("db").join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&partial, b"half a snapshot").expect("write");
    let ledger = open_sled(&f.dir, &f.genesis).expect("opens");
    assert_eq!(ledger.tip(), tip);
    assert!(!partial.exists());
    // Without the clean-up, sled itself refuses the folder.
    drop(ledger);
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(&partial, b"half a snapshot").expect("write");
    let mut refused = false;
    for _ in 0..100 {
        match sled::Config::new().path(f.dir.join("db")).open() {
            Err(sled::Error::Corruption { .. }) => {
                refused = true;
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            Ok(_) => break,
        }
    }
    assert!(refused, "sled opened past a partial snapshot on its own");
}
