//! The sled store (sled 0.34.7). Layout, one folder per ledger:
//!
//! - `LEDGER`: a JSON marker naming the format and the chain id, written before
//!   anything else, so a folder without it is never taken for a ledger;
//! - `db/`: the sled database, with trees `meta`, `blocks`, `headers`, `heights`
//!   (big-endian height to hash), `accounts` and `undo`.
//!
//! Every value is encoded with the one codec and decoded through it on reading:
//! a damaged record is an error, never a panic. Each `write` is one sled
//! transaction over all trees followed by a flush.

use super::{BlockStore, LedgerMeta, Op, StoreError, Tip, LEDGER_FORMAT};
use crate::block::{Block, Header};
use crate::codec::{self, MAX_BLOCK_BYTES};
use crate::crypto::PublicKey;
use crate::hash::Hash;
use crate::state::{Account, Undo};
use ::sled::transaction::{ConflictableTransactionError, TransactionError};
use ::sled::{Db, Transactional, Tree};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Name of the marker file of a ledger folder.
pub const LEDGER_MARKER: &str = "LEDGER";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    format: String,
    version: u32,
    chain_id: String,
}

const MARKER_FORMAT: &str = "generals-ledger";

/// A ledger in a sled database.
#[derive(Debug)]
pub struct SledStore {
    path: PathBuf,
    db: Db,
    meta: Tree,
    blocks: Tree,
    headers: Tree,
    heights: Tree,
    accounts: Tree,
    undo: Tree,
}

const T_META: usize = 0;
const T_BLOCKS: usize = 1;
const T_HEADERS: usize = 2;
const T_HEIGHTS: usize = 3;
const T_ACCOUNTS: usize = 4;
const T_UNDO: usize = 5;

const K_META: &[u8] = b"meta";
const K_TIP: &[u8] = b"tip";

impl SledStore {
    /// Opens the ledger in `dir` for `chain_id`, creating it if `dir` is missing or
    /// empty. A folder that is not a generals ledger, or is another chain's, is
    /// refused and left untouched.
    pub fn open(dir: &Path, chain_id: &str) -> Result<SledStore, StoreError> {
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
            let not_ledger = || StoreError::NotALedger {
                path: dir.to_owned(),
            };
            let len = std::fs::metadata(&marker_path)
                .map_err(|_| not_ledger())?
                .len();
            if len > 4096 {
                return Err(not_ledger());
            }
            let bytes = std::fs::read(&marker_path).map_err(|_| not_ledger())?;
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
            if marker.chain_id != chain_id {
                return Err(StoreError::WrongChain {
                    path: dir.to_owned(),
                    expected: chain_id.to_string(),
                    found: marker.chain_id,
                });
            }
        }
        let db = ::sled::Config::new().path(dir.join("db")).open()?;
        Ok(SledStore {
            path: dir.to_owned(),
            meta: db.open_tree("meta")?,
            blocks: db.open_tree("blocks")?,
            headers: db.open_tree("headers")?,
            heights: db.open_tree("heights")?,
            accounts: db.open_tree("accounts")?,
            undo: db.open_tree("undo")?,
            db,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get<T: bincode::Decode<()> + bincode::Encode>(
        tree: &Tree,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key)? {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode::<_, MAX_BLOCK_BYTES>(what, &v)?)),
        }
    }
}

impl BlockStore for SledStore {
    fn meta(&self) -> Result<Option<LedgerMeta>, StoreError> {
        Self::get(&self.meta, K_META, "ledger meta")
    }

    fn tip(&self) -> Result<Option<Tip>, StoreError> {
        Self::get(&self.meta, K_TIP, "ledger tip")
    }

    fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        Self::get(&self.blocks, &hash.0, "stored block")
    }

    fn header(&self, hash: &Hash) -> Result<Option<Header>, StoreError> {
        Self::get(&self.headers, &hash.0, "stored header")
    }

    fn has_block(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(self.blocks.contains_key(hash.0)?)
    }

    fn hash_at(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        Self::get(&self.heights, &height.to_be_bytes(), "height index")
    }

    fn undo(&self, hash: &Hash) -> Result<Option<Undo>, StoreError> {
        Self::get(&self.undo, &hash.0, "undo record")
    }

    fn accounts(&self) -> Result<Vec<(PublicKey, Account)>, StoreError> {
        self.accounts
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let key: [u8; 32] = k.as_ref().try_into().map_err(|_| {
                    StoreError::Corrupt(codec::CodecError::TrailingBytes {
                        what: "account key",
                        trailing: k.len().saturating_sub(32),
                    })
                })?;
                let acc: Account = codec::decode::<_, 64>("stored account", &v)?;
                Ok((PublicKey(key), acc))
            })
            .collect()
    }

    fn account_keys(&self) -> Result<Vec<PublicKey>, StoreError> {
        let mut keys = Vec::new();
        for kv in self.accounts.iter() {
            let (k, _) = kv?;
            // A key of the wrong length cannot be a PublicKey; it is left for the
            // rebuild's full rewrite to ignore.
            if let Ok(key) = <[u8; 32]>::try_from(k.as_ref()) {
                keys.push(PublicKey(key));
            }
        }
        Ok(keys)
    }

    fn write(&mut self, ops: &[Op<'_>]) -> Result<(), StoreError> {
        // Encode outside the transaction: sled may run its closure more than once.
        let mut writes: Vec<(usize, Vec<u8>, Option<Vec<u8>>)> = Vec::with_capacity(ops.len() + 1);
        for op in ops {
            match *op {
                Op::PutBlock(b) => {
                    let h = b.hash();
                    writes.push((T_BLOCKS, h.0.to_vec(), Some(codec::encode(b))));
                    writes.push((T_HEADERS, h.0.to_vec(), Some(codec::encode(&b.header))));
                }
                Op::SetHeight(height, hash) => writes.push((
                    T_HEIGHTS,
                    height.to_be_bytes().to_vec(),
                    Some(codec::encode(&hash)),
                )),
                Op::RemoveHeight(height) => {
                    writes.push((T_HEIGHTS, height.to_be_bytes().to_vec(), None))
                }
                Op::PutAccount(k, a) => {
                    writes.push((T_ACCOUNTS, k.0.to_vec(), Some(codec::encode(&a))))
                }
                Op::DeleteAccount(k) => writes.push((T_ACCOUNTS, k.0.to_vec(), None)),
                Op::PutUndo(u) => writes.push((T_UNDO, u.block.0.to_vec(), Some(codec::encode(u)))),
                Op::DeleteUndo(h) => writes.push((T_UNDO, h.0.to_vec(), None)),
                Op::SetTip(t) => writes.push((T_META, K_TIP.to_vec(), Some(codec::encode(&t)))),
                Op::SetMeta(m) => writes.push((T_META, K_META.to_vec(), Some(codec::encode(m)))),
            }
        }
        let trees = (
            &self.meta,
            &self.blocks,
            &self.headers,
            &self.heights,
            &self.accounts,
            &self.undo,
        );
        trees
            .transaction(|(meta, blocks, headers, heights, accounts, undo)| {
                let views = [meta, blocks, headers, heights, accounts, undo];
                for (tree, key, value) in &writes {
                    match value {
                        Some(v) => views[*tree].insert(key.as_slice(), v.as_slice())?,
                        None => views[*tree].remove(key.as_slice())?,
                    };
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => unreachable!("the write transaction never aborts"),
            })?;
        self.db.flush()?;
        Ok(())
    }
}
