//! `up`, `status`, `down`, `kill`, `restart`: a network of real `generals-node`
//! processes on 127.0.0.1. `up` writes a shared genesis and a home per node
//! (keys derived from `--seed`, so a run can be repeated), starts the nodes one
//! by one, each dialling those before it, and waits until all are connected and
//! producing. The state of a running testnet is `testnet.json` in its folder.
//!
//! Layout: `state` is `testnet.json`; `homes` writes the genesis and the node
//! homes; `process` starts, stops and kills node processes (`down`, `kill`,
//! `restart`); `up` brings a testnet up and waits for it; `status` asks each
//! node for its height and peers.

mod homes;
mod process;
mod state;
mod status;
mod up;

pub use process::{alive, down, kill_node, restart};
pub use state::{NodeInfo, State};
pub use status::status;
pub use up::up;

use std::path::PathBuf;

/// Transfers accounts the testnet funds for `load` (`Keypair::dev("load-N")`).
pub const LOAD_ACCOUNTS: usize = 64;
/// Total hash rate of a testnet (shared by `--hashpower`).
const TOTAL_HASHRATE: u64 = 400_000;
const TARGET_BLOCK_MS: u64 = 2_000;

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// pow, poa, pos or bft.
    #[arg(long, default_value = "pow")]
    consensus: String,
    /// Proof of stake and BFT: each node's bonded stake (voting power), e.g.
    /// 400,300,200,100 (1000 each if left out).
    #[arg(long, value_delimiter = ',')]
    stakes: Vec<u64>,
    /// Proof of stake and BFT: evidence costs nothing (the genesis slashing
    /// switch off).
    #[arg(long)]
    no_slashing: bool,
    /// The testnet's folder.
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
    /// Seed of the node keys.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Shares of the hash power, e.g. 40,30,20,10 (equal if left out).
    #[arg(long, value_delimiter = ',')]
    hashpower: Vec<f64>,
    /// Leave the nodes running and return.
    #[arg(long)]
    detach: bool,
}

#[derive(clap::Args, Debug)]
pub struct DirArgs {
    #[arg(long, default_value = "testnet-data")]
    pub dir: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    /// The node's number (0 is the first).
    pub node: usize,
    #[arg(long, default_value = "testnet-data")]
    pub dir: PathBuf,
}
