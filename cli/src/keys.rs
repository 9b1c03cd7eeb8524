//! Where a signing key comes from: a key file, or a named development account.

use anyhow::{Context, Result};
use generals_chain::Keypair;

/// `dev:NAME` is `Keypair::dev(NAME)` (the dev and testnet genesis fund dev-0 to
/// dev-3); anything else is a key file written by `generals keygen`.
pub fn load(source: &str) -> Result<Keypair> {
    if let Some(name) = source.strip_prefix("dev:") {
        return Ok(Keypair::dev(name));
    }
    generals_chain::crypto::read_key_file(std::path::Path::new(source))
        .with_context(|| format!("--from {source:?}"))
}
