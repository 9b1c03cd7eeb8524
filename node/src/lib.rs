//! generals-node: the node's library and its `generals-node` binary. It will own the
//! driver loop that turns engine outputs into real I/O, libp2p networking and sync,
//! the miner threads, the HTTP API, metrics and config (see `../shared/DESIGN.md`).
//!
//! Layout (filled by later work): `driver`, `net`, `sync`, `miner`, `api`, `config`.
