//! The sled store (sled 0.34.7). Layout, one folder per ledger:
//!
//! - `LEDGER`: a JSON marker naming the format and the chain id, written before
//!   anything else, so a folder without it is never taken for a ledger;
//! - `db/`: the sled database. All records live in one tree, `ledger`, under
//!   one-byte prefixes: `m` meta and tip, `b` blocks and `h` headers by hash,
//!   `n` the height index (big-endian height to hash), `a` accounts by key, `u`
//!   undo records by block hash.
//!
//! Every value is encoded with the one codec and decoded through it on reading:
//! a damaged record is an error, never a panic. Each `write` is one atomic sled
//! batch on that tree (all of it lands or none does), then a flush. One tree and
//! a batch, rather than a transaction over six trees, because sled's batch is
//! cheaper per record here and just as atomic.
//!
//! Account changes go to a journal: each write's changes are one record under
//! `j` (sequence number, big-endian), and the account rows are brought up to
//! date only every `COMPACT_EVERY` writes, in that write's batch. A block that
//! touches 2,000 accounts thus writes one record, not 2,000 (their cost was most
//! of the import's write time). Reading the accounts lays the journal over the
//! rows; the journal's latest values are also kept in memory.

use super::{BlockStore, LedgerMeta, Op, StoreError, Tip, LEDGER_FORMAT, LEDGER_MARKER};
use crate::block::{Block, Header};
use crate::codec::{self, MAX_BLOCK_BYTES};
use crate::crypto::PublicKey;
use crate::hash::Hash;
use crate::state::{Account, Undo};
use ::sled::{Batch, Db, Tree};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    format: String,
    version: u32,
    chain_id: String,
    genesis: Hash,
}

const MARKER_FORMAT: &str = "generals-ledger";

/// A ledger in a sled database.
#[derive(Debug)]
pub struct SledStore {
    path: PathBuf,
    db: Db,
    tree: Tree,
    /// Account values written since the rows were last compacted; `None` deleted.
    pending: BTreeMap<PublicKey, Option<Account>>,
    /// Journal records since the last compaction, and the next sequence number.
    journal_len: u64,
    next_seq: u64,
    /// The last tip acknowledged, outside sled (`acked`).
    acked: super::acked::Acked,
}

/// One key and value of a record.
pub type RecordEntry = (Vec<u8>, Vec<u8>);

/// Journal records between compactions of the account rows.
const COMPACT_EVERY: u64 = 256;
/// Pending accounts past which the rows are compacted at the next write.
const COMPACT_PENDING: usize = 200_000;
const P_JOURNAL: u8 = b'j';

type AccountChanges = Vec<(PublicKey, Option<Account>)>;

/// Opens the sled database. Every write is flushed by `write`, so sled's periodic
/// flusher thread is off. sled still releases its file lock a moment after the
/// last handle is dropped (background threads hold the file), so a reopen in the
/// same process retries for up to five seconds before calling the ledger busy.
///
/// A process killed while sled wrote a snapshot leaves a partial
/// `snap.<lsn>.generating` file, which sled 0.34.7 then picks as the newest
/// snapshot and refuses as corrupt (spacejam/sled#1527, #1533). The log, not
/// the snapshot, holds the data, and sled only uses a snapshot once it has
/// renamed it from `.generating`; so on a corruption error with such a file
/// present (the lock was ours: a held lock fails earlier), the partial files
/// are removed and the open is tried once more.
fn open_db(path: &Path) -> Result<Db, StoreError> {
    let mut tries = 0;
    let mut cleared = false;
    loop {
        match ::sled::Config::new().path(path).flush_every_ms(None).open() {
            Err(::sled::Error::Corruption { .. })
                if !cleared && remove_partial_snapshots(path) > 0 =>
            {
                cleared = true;
            }
            Err(::sled::Error::Io(e)) if is_lock_busy(&e) => {
                tries += 1;
                if tries >= 100 {
                    return Err(StoreError::Busy {
                        path: path.to_owned(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return Ok(other?),
        }
    }
}

/// Removes sled's partial snapshots (`snap.*.generating`) in `path`; returns
/// how many.
fn remove_partial_snapshots(path: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %e.path().display(), "removing a partial sled snapshot left by a crash");
            if std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// sled 0.34.7 reports a held file lock as an `Other` error whose text is
/// "could not acquire lock on ..." (config.rs), not as `WouldBlock`.
fn is_lock_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

const P_BLOCK: u8 = b'b';
const P_HEADER: u8 = b'h';
const P_HEIGHT: u8 = b'n';
const P_ACCOUNT: u8 = b'a';
const P_UNDO: u8 = b'u';

// Meta records sit under the prefix `m`.
const K_META: &[u8] = b"mmeta";
const K_TIP: &[u8] = b"mtip";

/// A small durable record kept beside the ledger, in its own tree of the same
/// database (a validator's slashing protection). Each write is flushed before
/// it returns.
#[derive(Clone, Debug)]
pub struct SledRecord {
    db: Db,
    tree: Tree,
}

impl SledRecord {
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Writes `value` under `key`; durable when this returns.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tree.insert(key.as_bytes(), value)?;
        self.db.flush()?;
        Ok(())
    }
}

fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

impl SledStore {
    /// Opens the ledger in `dir` for the chain `chain_id` whose genesis block is
    /// `genesis`, creating it if `dir` is missing or empty. A folder that is not a
    /// generals ledger, or is another chain's, is refused and left untouched.
    pub fn open(dir: &Path, chain_id: &str, genesis: Hash) -> Result<SledStore, StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_owned(),
            source,
        };
        let marker_path = dir.join(LEDGER_MARKER);
        // A crash while the marker was being written leaves only its temporary
        // file: such a folder is still empty.
        let tmp = dir.join(format!("{LEDGER_MARKER}.tmp"));
        let empty = match std::fs::read_dir(dir) {
            Ok(entries) => entries.filter_map(Result::ok).all(|e| e.path() == tmp),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io(e)),
        };
        if empty {
            std::fs::create_dir_all(dir).map_err(io)?;
            let marker = Marker {
                format: MARKER_FORMAT.to_string(),
                version: LEDGER_FORMAT,
                chain_id: chain_id.to_string(),
                genesis,
            };
            let body = serde_json::to_vec_pretty(&marker).expect("the marker always serializes");
            std::fs::write(&tmp, body).map_err(io)?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
            std::fs::rename(&tmp, &marker_path).map_err(io)?;
            std::fs::File::open(dir)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        } else {
            let (found_chain, found_genesis) = Self::identify(dir)?;
            if found_chain != chain_id {
                return Err(StoreError::WrongChain {
                    path: dir.to_owned(),
                    expected: chain_id.to_string(),
                    found: found_chain,
                });
            }
            if found_genesis != genesis {
                return Err(StoreError::WrongGenesis {
                    path: dir.to_owned(),
                    expected: genesis,
                    found: found_genesis,
                });
            }
        }
        let db = open_db(&dir.join("db"))?;
        let (acked, last) = super::acked::Acked::open(dir)?;
        let mut store = SledStore {
            path: dir.to_owned(),
            tree: db.open_tree("ledger")?,
            db,
            pending: BTreeMap::new(),
            journal_len: 0,
            next_seq: 0,
            acked,
        };
        if let Some(last) = last {
            let kept = store
                .header(&last.hash)?
                .is_some_and(|h| h.height == last.height);
            if !kept {
                return Err(StoreError::LostBlocks {
                    path: dir.to_owned(),
                    height: last.height,
                    hash: last.hash,
                    now: store.tip()?.map_or(0, |t| t.height),
                });
            }
        }
        store.load_journal()?;
        Ok(store)
    }

    /// Every entry of the record named `name` in the ledger in `dir`, read
    /// without the checks of `open` (for moving a signer's record out of a
    /// damaged ledger). `None` if the record was never written.
    pub fn salvage_record(dir: &Path, name: &str) -> Result<Option<Vec<RecordEntry>>, StoreError> {
        let db = open_db(&dir.join("db"))?;
        let tree_name = format!("record/{name}");
        if !db
            .tree_names()
            .iter()
            .any(|t| t.as_ref() == tree_name.as_bytes())
        {
            return Ok(None);
        }
        let tree = db.open_tree(tree_name)?;
        let mut entries = Vec::new();
        for kv in tree.iter() {
            let (k, v) = kv?;
            entries.push((k.to_vec(), v.to_vec()));
        }
        Ok(Some(entries))
    }

    /// The record named `name` beside this ledger.
    pub fn record(&self, name: &str) -> Result<SledRecord, StoreError> {
        Ok(SledRecord {
            db: self.db.clone(),
            tree: self.db.open_tree(format!("record/{name}"))?,
        })
    }

    /// The chain and genesis named by the folder's marker, without opening it.
    pub fn identify(dir: &Path) -> Result<(String, Hash), StoreError> {
        let not_ledger = || StoreError::NotALedger {
            path: dir.to_owned(),
        };
        let path = dir.join(LEDGER_MARKER);
        let len = std::fs::metadata(&path).map_err(|_| not_ledger())?.len();
        if len > 4096 {
            return Err(not_ledger());
        }
        let bytes = std::fs::read(&path).map_err(|_| not_ledger())?;
        let marker: Marker = serde_json::from_slice(&bytes).map_err(|_| not_ledger())?;
        if marker.format != MARKER_FORMAT {
            return Err(not_ledger());
        }
        if marker.version != LEDGER_FORMAT {
            return Err(StoreError::WrongFormat {
                path: dir.to_owned(),
                found: marker.version,
            });
        }
        Ok((marker.chain_id, marker.genesis))
    }

    fn load_journal(&mut self) -> Result<(), StoreError> {
        for kv in self.tree.scan_prefix([P_JOURNAL]) {
            let (k, v) = kv?;
            let seq = <[u8; 8]>::try_from(&k[1..])
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    StoreError::Corrupt(codec::CodecError::TrailingBytes {
                        what: "journal key",
                        trailing: k.len().saturating_sub(9),
                    })
                })?;
            let changes: AccountChanges =
                codec::decode::<_, MAX_BLOCK_BYTES>("account journal record", &v)?;
            self.pending.extend(changes);
            self.journal_len += 1;
            self.next_seq = seq + 1;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get<T: bincode::Decode<()> + bincode::Encode>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match self.tree.get(key)? {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode::<_, MAX_BLOCK_BYTES>(what, &v)?)),
        }
    }
}

impl BlockStore for SledStore {
    fn meta(&self) -> Result<Option<LedgerMeta>, StoreError> {
        self.get(K_META, "ledger meta")
    }

    fn tip(&self) -> Result<Option<Tip>, StoreError> {
        self.get(K_TIP, "ledger tip")
    }

    fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        self.get(&key(P_BLOCK, &hash.0), "stored block")
    }

    fn header(&self, hash: &Hash) -> Result<Option<Header>, StoreError> {
        self.get(&key(P_HEADER, &hash.0), "stored header")
    }

    fn has_block(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(self.tree.contains_key(key(P_BLOCK, &hash.0))?)
    }

    fn hash_at(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        self.get(&key(P_HEIGHT, &height.to_be_bytes()), "height index")
    }

    fn undo(&self, hash: &Hash) -> Result<Option<Undo>, StoreError> {
        self.get(&key(P_UNDO, &hash.0), "undo record")
    }

    fn accounts(&self) -> Result<Vec<(PublicKey, Account)>, StoreError> {
        let mut out: BTreeMap<PublicKey, Account> = BTreeMap::new();
        for kv in self.tree.scan_prefix([P_ACCOUNT]) {
            let (k, v) = kv?;
            let key: [u8; 32] = k[1..].try_into().map_err(|_| {
                StoreError::Corrupt(codec::CodecError::TrailingBytes {
                    what: "account key",
                    trailing: k.len().saturating_sub(33),
                })
            })?;
            let key = PublicKey(key);
            // A row the journal overrides is not read: its value no longer counts.
            if !self.pending.contains_key(&key) {
                out.insert(key, codec::decode::<_, 64>("stored account", &v)?);
            }
        }
        for (k, v) in &self.pending {
            if let Some(a) = v {
                out.insert(*k, *a);
            }
        }
        Ok(out.into_iter().collect())
    }

    fn account_keys(&self) -> Result<Vec<PublicKey>, StoreError> {
        let mut keys = std::collections::BTreeSet::new();
        for kv in self.tree.scan_prefix([P_ACCOUNT]) {
            let (k, _) = kv?;
            // A key of the wrong length cannot be a PublicKey; it is left for the
            // rebuild's full rewrite to ignore.
            if let Ok(key) = <[u8; 32]>::try_from(&k[1..]) {
                keys.insert(PublicKey(key));
            }
        }
        for (k, v) in &self.pending {
            if v.is_some() {
                keys.insert(*k);
            } else {
                keys.remove(k);
            }
        }
        Ok(keys.into_iter().collect())
    }

    fn write(&mut self, ops: &[Op<'_>]) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        let mut changes: AccountChanges = Vec::new();
        for op in ops {
            match *op {
                Op::PutBlock(b) => {
                    let h = b.hash();
                    batch.insert(key(P_BLOCK, &h.0), codec::encode(b));
                    batch.insert(key(P_HEADER, &h.0), codec::encode(&b.header));
                }
                Op::SetHeight(height, hash) => {
                    batch.insert(key(P_HEIGHT, &height.to_be_bytes()), codec::encode(&hash))
                }
                Op::RemoveHeight(height) => batch.remove(key(P_HEIGHT, &height.to_be_bytes())),
                Op::PutAccount(k, a) => changes.push((k, Some(a))),
                Op::DeleteAccount(k) => changes.push((k, None)),
                Op::PutUndo(u) => batch.insert(key(P_UNDO, &u.block.0), codec::encode(u)),
                Op::DeleteUndo(h) => batch.remove(key(P_UNDO, &h.0)),
                Op::SetTip(t) => batch.insert(K_TIP, codec::encode(&t)),
                Op::SetMeta(m) => batch.insert(K_META, codec::encode(m)),
            }
        }
        let compact = !changes.is_empty()
            && (self.journal_len + 1 >= COMPACT_EVERY
                || self.pending.len() + changes.len() > COMPACT_PENDING);
        if compact {
            let mut rows = self.pending.clone();
            rows.extend(changes.iter().copied());
            for (k, v) in &rows {
                match v {
                    Some(a) => batch.insert(key(P_ACCOUNT, &k.0), codec::encode(a)),
                    None => batch.remove(key(P_ACCOUNT, &k.0)),
                }
            }
            for kv in self.tree.scan_prefix([P_JOURNAL]).keys() {
                batch.remove(kv?);
            }
        } else if !changes.is_empty() {
            batch.insert(
                key(P_JOURNAL, &self.next_seq.to_be_bytes()),
                codec::encode(&changes),
            );
        }
        self.tree.apply_batch(batch)?;
        self.db.flush()?;
        // Only once the commit is durable: what is acknowledged is stored.
        if let Some(tip) = ops.iter().rev().find_map(|op| match op {
            Op::SetTip(t) => Some(*t),
            _ => None,
        }) {
            self.acked.write(tip)?;
        }
        if compact {
            self.pending.clear();
            self.journal_len = 0;
        } else if !changes.is_empty() {
            self.pending.extend(changes);
            self.journal_len += 1;
            self.next_seq += 1;
        }
        Ok(())
    }
}
