//! The last block a sled ledger acknowledged, kept outside sled: a small file,
//! `ACKED`, holding the tip's height and hash, written and synced after each
//! commit is flushed. Sled cannot tell a damaged or truncated database from an
//! older one, so on opening the ledger checks that this block is still stored:
//! if it is gone, blocks that were confirmed to users were lost, and the ledger
//! refuses to open rather than go on from an earlier height in silence.

use super::{StoreError, Tip};
use crate::hash::Hash;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The file's name in a ledger folder.
pub const ACKED_FILE: &str = "ACKED";
const LEN: usize = 40;

/// The `ACKED` file of one ledger, open for writing.
#[derive(Debug)]
pub struct Acked {
    path: PathBuf,
    file: File,
}

impl Acked {
    /// Opens (or creates) the file in `dir`; returns it and the tip it holds.
    pub fn open(dir: &Path) -> Result<(Acked, Option<Tip>), StoreError> {
        let path = dir.join(ACKED_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::with_capacity(LEN);
        file.read_to_end(&mut bytes).map_err(io)?;
        let tip = match bytes.len() {
            0 => None,
            LEN => {
                let mut height = [0u8; 8];
                height.copy_from_slice(&bytes[..8]);
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&bytes[8..]);
                Some(Tip {
                    height: u64::from_le_bytes(height),
                    hash: Hash(hash),
                })
            }
            n => {
                return Err(StoreError::Damaged {
                    path,
                    reason: format!("{n} bytes, the record is {LEN}"),
                })
            }
        };
        Ok((Acked { path, file }, tip))
    }

    /// Records `tip` as acknowledged, durably.
    pub fn write(&mut self, tip: Tip) -> Result<(), StoreError> {
        let mut bytes = [0u8; LEN];
        bytes[..8].copy_from_slice(&tip.height.to_le_bytes());
        bytes[8..].copy_from_slice(&tip.hash.0);
        let io = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.file.write_all(&bytes).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}
