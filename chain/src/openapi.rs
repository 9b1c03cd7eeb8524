//! OpenAPI schemas (utoipa) for the chain's types that the node's HTTP API
//! speaks: hashes, keys and signatures are lowercase hex strings.

use crate::crypto::{PublicKey, Signature};
use crate::hash::Hash;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

fn hex(bytes: usize, what: &str) -> RefOr<Schema> {
    let digits = bytes * 2;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!("{what}: {digits} hex digits")))
        .min_length(Some(digits))
        .max_length(Some(digits))
        .pattern(Some(format!("^[0-9a-fA-F]{{{digits}}}$")))
        .into()
}

impl PartialSchema for Hash {
    fn schema() -> RefOr<Schema> {
        hex(32, "a SHA-256 hash")
    }
}
impl ToSchema for Hash {}

impl PartialSchema for PublicKey {
    fn schema() -> RefOr<Schema> {
        hex(32, "an ed25519 public key")
    }
}
impl ToSchema for PublicKey {}

impl PartialSchema for Signature {
    fn schema() -> RefOr<Schema> {
        hex(64, "an ed25519 signature")
    }
}
impl ToSchema for Signature {}
