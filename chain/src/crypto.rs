//! Keys and signatures: ed25519 with `verify_strict`, weak (small-order) keys
//! refused, domain-separated messages, and key files written with mode 0600.

use crate::hash::{parse_hex32, HexError};
use bincode::{Decode, Encode};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// An ed25519 public key. An account is named by its key (64 hex digits for
/// humans). The bytes are not checked when decoded; `verify` checks them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
pub struct PublicKey(pub [u8; 32]);

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Signature(pub [u8; 64]);

/// Why a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("public key {key} is not a point on the curve")]
    InvalidKey { key: PublicKey },
    #[error("public key {key} is weak (of small order) and refused")]
    WeakKey { key: PublicKey },
    #[error("public key {key} is not in canonical form (the same point has another encoding)")]
    NonCanonical { key: PublicKey },
    #[error("signature by {key} does not verify")]
    BadSignature { key: PublicKey },
}

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key as a curve point, refusing non-points and weak keys.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CryptoError> {
        let vk = VerifyingKey::from_bytes(&self.0)
            .map_err(|_| CryptoError::InvalidKey { key: *self })?;
        if vk.is_weak() {
            return Err(CryptoError::WeakKey { key: *self });
        }
        Ok(vk)
    }

    /// Whether coins sent to this key could ever be spent: a point on the
    /// curve, in canonical form, not of small order. Checked where a recipient
    /// enters (the mempool, the API, the CLI).
    pub fn check_usable(&self) -> Result<(), CryptoError> {
        let vk = self.verifying_key()?;
        if vk.to_edwards().compress().to_bytes() != self.0 {
            return Err(CryptoError::NonCanonical { key: *self });
        }
        Ok(())
    }

    /// Verifies `sig` over `domain || message` with `verify_strict`.
    ///
    /// Verifying is deterministic, so each thread remembers the signatures it
    /// found valid lately (by the SHA-256 of key, signature and signed bytes)
    /// and the keys it decompressed, and answers a repeat without the curve
    /// arithmetic: a block's transactions checked in the mempool, a vote in
    /// a certificate, or, in the simulator, every node's copy of one
    /// broadcast. Failures are never remembered. Both memories are bounded
    /// (`VERIFIED_CACHE`, `KEY_CACHE`) and emptied when full.
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        sig: &Signature,
    ) -> Result<(), CryptoError> {
        let bytes = signing_bytes(domain, message);
        let id: [u8; 32] = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(self.0);
            h.update(sig.0);
            h.update(&bytes);
            h.finalize().into()
        };
        if VERIFIED.with(|v| v.borrow().contains(&id)) {
            return Ok(());
        }
        let vk = KEYS.with(|k| k.borrow().get(&self.0).copied());
        let vk = match vk {
            Some(vk) => vk,
            None => {
                let vk = self.verifying_key()?;
                KEYS.with(|k| {
                    let mut k = k.borrow_mut();
                    if k.len() >= KEY_CACHE {
                        k.clear();
                    }
                    k.insert(self.0, vk);
                });
                vk
            }
        };
        let dalek_sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        vk.verify_strict(&bytes, &dalek_sig)
            .map_err(|_| CryptoError::BadSignature { key: *self })?;
        VERIFIED.with(|v| {
            let mut v = v.borrow_mut();
            if v.len() >= VERIFIED_CACHE {
                v.clear();
            }
            v.insert(id);
        });
        Ok(())
    }

    /// `verify` without the memory of earlier answers: every call does the
    /// curve arithmetic (for measuring the verify rate).
    pub fn verify_uncached(
        &self,
        domain: &[u8],
        message: &[u8],
        sig: &Signature,
    ) -> Result<(), CryptoError> {
        let vk = self.verifying_key()?;
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        vk.verify_strict(&signing_bytes(domain, message), &sig)
            .map_err(|_| CryptoError::BadSignature { key: *self })
    }
}

/// Valid signatures a thread remembers (32 bytes each, with a hash set's
/// overhead: about 3 MiB when full).
pub const VERIFIED_CACHE: usize = 65_536;
/// Decompressed keys a thread remembers.
pub const KEY_CACHE: usize = 4_096;

thread_local! {
    static VERIFIED: std::cell::RefCell<std::collections::HashSet<[u8; 32]>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
    static KEYS: std::cell::RefCell<std::collections::HashMap<[u8; 32], VerifyingKey>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    static DEV_KEYS: std::cell::RefCell<std::collections::HashMap<String, Keypair>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn signing_bytes(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + message.len());
    m.extend_from_slice(domain);
    m.extend_from_slice(message);
    m
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..8])
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..4]))
    }
}

impl FromStr for PublicKey {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, HexError> {
        parse_hex32(s).map(PublicKey)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(&s, &mut out)
            .map_err(|_| serde::de::Error::custom("expected 128 hex digits (64 bytes)"))?;
        Ok(Signature(out))
    }
}

/// A signing key and its public key.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.public())
    }
}

impl Keypair {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Keypair {
        Keypair {
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// The key whose secret is `seed`: testnets derive reproducible keys this way.
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// A reproducible key named by a label, e.g. `Keypair::dev("node-0")`.
    /// Each thread remembers the last `KEY_CACHE` it derived (the simulator
    /// derives the same few in every run).
    pub fn dev(label: &str) -> Keypair {
        if let Some(k) = DEV_KEYS.with(|d| d.borrow().get(label).cloned()) {
            return k;
        }
        let k = Keypair::from_seed(
            crate::Hash::digest_parts(&[b"generals/dev-key/", label.as_bytes()]).0,
        );
        DEV_KEYS.with(|d| {
            let mut d = d.borrow_mut();
            if d.len() >= KEY_CACHE {
                d.clear();
            }
            d.insert(label.to_string(), k.clone());
        });
        k
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `domain || message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        Signature(
            self.signing
                .sign(&signing_bytes(domain, message))
                .to_bytes(),
        )
    }

    /// The 32-byte secret (for deriving the node's network identity from its key).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }
}

/// The JSON of a key file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    public_key: PublicKey,
    secret_key: String,
}

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("key file {path} is not a generals key file: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("key file {path} has mode {mode:o}: others can read it; run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
}

/// Writes `key` as JSON to a new file with mode 0600. An existing file is kept.
pub fn write_key_file(path: &Path, key: &Keypair) -> Result<(), KeyFileError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let body = serde_json::to_vec_pretty(&KeyFile {
        public_key: key.public(),
        secret_key: hex::encode(key.secret_bytes()),
    })
    .expect("a key file always serializes");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyFileError::Exists {
                    path: path.to_owned(),
                }
            } else {
                io(e)
            }
        })?;
    f.write_all(&body).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)
}

/// Reads a key file written by `write_key_file`, refusing one others can read.
pub fn read_key_file(path: &Path) -> Result<Keypair, KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let malformed = |reason: String| KeyFileError::Malformed {
        path: path.to_owned(),
        reason,
    };
    if meta.len() > 4096 {
        return Err(malformed(format!("{} bytes is too long", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
    let secret =
        parse_hex32(&file.secret_key).map_err(|e| malformed(format!("secret_key: {e}")))?;
    let key = Keypair::from_seed(secret);
    if key.public() != file.public_key {
        return Err(malformed(
            "public_key does not belong to secret_key".to_string(),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_signature_vouches_for_nothing_else() {
        let k = Keypair::dev("cache");
        let other = Keypair::dev("cache-other");
        let sig = k.sign(b"d/", b"pay 1");
        for _ in 0..3 {
            assert_eq!(k.public().verify(b"d/", b"pay 1", &sig), Ok(()));
        }
        // The same signature over other bytes, under another domain or key,
        // and a flipped bit, all still fail after the valid one was seen.
        assert!(k.public().verify(b"d/", b"pay 2", &sig).is_err());
        assert!(k.public().verify(b"e/", b"pay 1", &sig).is_err());
        assert!(other.public().verify(b"d/", b"pay 1", &sig).is_err());
        let mut bad = sig;
        bad.0[5] ^= 1;
        assert!(k.public().verify(b"d/", b"pay 1", &bad).is_err());
        // A failure is not remembered as a success, nor the other way.
        assert!(k.public().verify(b"d/", b"pay 2", &sig).is_err());
        assert_eq!(k.public().verify_uncached(b"d/", b"pay 1", &sig), Ok(()));
        assert!(VERIFIED.with(|v| v.borrow().len()) <= VERIFIED_CACHE);
    }

    #[test]
    fn sign_and_verify_with_domain_separation() {
        let k = Keypair::dev("a");
        let sig = k.sign(b"generals/tx/", b"hello");
        assert_eq!(k.public().verify(b"generals/tx/", b"hello", &sig), Ok(()));
        assert!(k
            .public()
            .verify(b"generals/vote/", b"hello", &sig)
            .is_err());
        assert!(k.public().verify(b"generals/tx/", b"hellO", &sig).is_err());
        let other = Keypair::dev("b").public();
        assert_eq!(
            other.verify(b"generals/tx/", b"hello", &sig),
            Err(CryptoError::BadSignature { key: other })
        );
    }

    #[test]
    fn a_non_canonical_encoding_of_a_usable_point_is_refused_as_a_recipient() {
        // y = p + k for small k encodes the same y as k: find one that is a
        // point of large order (dalek accepts it; a canonical encoder never
        // writes it).
        let p_plus = |k: u8| {
            let mut b = [0xffu8; 32];
            b[0] = 0xed_u8.wrapping_add(k);
            b[31] = 0x7f;
            b
        };
        let found = (0u8..18).map(p_plus).find_map(|b| {
            let key = PublicKey(b);
            key.verifying_key().ok().map(|_| key)
        });
        let key = found.expect("some y = p + k is a point");
        assert_eq!(key.check_usable(), Err(CryptoError::NonCanonical { key }));
        // A real key passes; all zeros (small order) does not.
        assert_eq!(Keypair::dev("x").public().check_usable(), Ok(()));
        assert!(PublicKey([0; 32]).check_usable().is_err());
    }

    #[test]
    fn weak_and_invalid_keys_are_refused() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = PublicKey(identity);
        let sig = Signature([0; 64]);
        assert_eq!(
            weak.verify(b"", b"m", &sig),
            Err(CryptoError::WeakKey { key: weak })
        );
        // y = 2 is not the y-coordinate of any curve point.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        let bad = PublicKey(bad);
        assert_eq!(
            bad.verify(b"", b"m", &sig),
            Err(CryptoError::InvalidKey { key: bad })
        );
    }

    #[test]
    fn key_files_are_private_and_round_trip() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.json");
        let k = Keypair::generate();
        write_key_file(&path, &k).expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_key_file(&path).expect("read").public(), k.public());
        assert!(matches!(
            write_key_file(&path, &Keypair::generate()),
            Err(KeyFileError::Exists { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            read_key_file(&path),
            Err(KeyFileError::TooOpen { .. })
        ));
        let junk = dir.path().join("junk.json");
        std::fs::write(&junk, b"{not json").expect("write");
        std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(matches!(
            read_key_file(&junk),
            Err(KeyFileError::Malformed { .. })
        ));
        assert!(matches!(
            read_key_file(&dir.path().join("missing.json")),
            Err(KeyFileError::Io { .. })
        ));
    }
}
