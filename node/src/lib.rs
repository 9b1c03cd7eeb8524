//! generals-node: the node's library and its `generals-node` binary. The driver
//! owns the engine, the chain (a `NodeCore` on the sled ledger), the network and
//! the miner, and feeds the engine its inputs; the consensus crate's one host
//! loop carries out the engine's outputs through the driver's `Host`.
//!
//! Without its default `full` feature the crate is only `api::types`, the
//! API's JSON types, so the `generals` CLI links no libp2p, sled or axum.
//!
//! Layout:
//! - `config`: the home folder, `config.toml`, `init`;
//! - `byzantine`: the `[byzantine]` section: which attack wrapper the node runs;
//! - `protocol`: gossip topics and the sync protocol, framed and size-limited;
//! - `net`: the libp2p swarm;
//! - `miner`: the mining threads;
//! - `driver`: the event loop;
//! - `api`: the HTTP API (axum), its JSON types in `api::types`, the
//!   fork-tree page at `/ui` (`api::ui`, the page's files in `node/ui/`);
//! - `metrics`: Prometheus metrics;
//! - `stake`: proof of stake's slashing-protection record in sled, its export
//!   and import;
//! - `repair`: moves a damaged ledger aside, keeping the signer's record;
//! - `run`: start-up of a node from its home folder: the ledger, the engine from
//!   the one engine factory (with its saved signing record), the network, the
//!   miner, the API and the driver.

// The driver and the API hold libp2p and axum values that have no Debug.
#![allow(missing_debug_implementations)]

pub mod api;
#[cfg(feature = "full")]
pub mod byzantine;
#[cfg(feature = "full")]
pub mod config;
#[cfg(feature = "full")]
pub mod crash;
#[cfg(feature = "full")]
pub mod direct;
#[cfg(feature = "full")]
pub mod driver;
#[cfg(feature = "full")]
pub mod metrics;
#[cfg(feature = "full")]
pub mod miner;
#[cfg(feature = "full")]
pub mod net;
#[cfg(feature = "full")]
pub mod protocol;
#[cfg(feature = "full")]
pub mod repair;
#[cfg(feature = "full")]
pub mod run;
#[cfg(feature = "full")]
pub mod stake;
