//! `up`, `status`, `down`, `kill`, `restart`: a network of real `generals-node`
//! processes on 127.0.0.1, or of containers (`--runtime compose`). `up` writes a shared genesis and a home per node
//! (keys derived from `--seed`, so a run can be repeated), starts the nodes one
//! by one, each dialling those before it, and waits until all are connected and
//! producing. The state of a running testnet is `testnet.json` in its folder.
//!
//! Layout: `state` is `testnet.json`; `homes` writes the genesis and the node
//! homes; `process` starts, stops and kills node processes (`down`, `kill`,
//! `restart`); `compose` runs the nodes in containers instead, builds their
//! image and exports testnets for several machines; `up` brings a testnet up
//! and waits for it; `status` asks each node for its height and peers.

mod attack;
mod compose;
mod forge;
mod homes;
mod process;
mod report;
mod state;
mod status;
mod up;

pub use attack::{cut, heal, link, partition, shape, HealArgs, LinkArgs, PartitionArgs, Role};
pub use compose::{export, image, ExportArgs, ImageArgs, RuntimeArgs};
pub use forge::{forge, ForgeArgs};
pub use process::{alive, down, join, kill_node, pause_node, restart, JoinArgs};
pub use report::{collect, report};
pub use state::{NodeInfo, State};
pub use status::status;
pub use up::up;
pub use up::{payments, roles};

use std::path::PathBuf;

/// Transfers accounts the testnet funds for `load` (`Keypair::dev("load-N")`).
pub const LOAD_ACCOUNTS: usize = 64;
/// Total hash rate of a testnet (shared by `--hashpower`).
const TOTAL_HASHRATE: u64 = 400_000;

/// `PROPOSE,VOTE,COMMIT` in ms: the first two at least 10 ms (a round
/// needs time to gather votes), all at most 60 s.
fn bft_timeouts(s: &str) -> Result<[u64; 3], String> {
    let v: Vec<u64> = s
        .split(',')
        .map(|x| x.trim().parse::<u64>().map_err(|e| format!("{x:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [p, v, c] if p >= 10 && v >= 10 && p.max(v).max(c) <= 60_000 => Ok([p, v, c]),
        [_, _, _] => Err("propose and vote at least 10 ms, every timeout at most 60000 ms".into()),
        _ => Err("three timeouts in ms: propose,vote,commit (e.g. 1000,500,0)".into()),
    }
}

/// What a new testnet is: its genesis, its nodes and their roles (for `up`
/// and `export`).
#[derive(clap::Args, Debug)]
pub struct NetArgs {
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// pow, poa, pos, bft, dpos or pbft.
    #[arg(long, default_value = "pow")]
    consensus: String,
    /// Proof of stake, BFT and DPoS: each node's bonded stake (voting power;
    /// in DPoS it votes for the node itself), e.g.
    /// 400,300,200,100 (1000 each if left out).
    #[arg(long, value_delimiter = ',')]
    stakes: Vec<u64>,
    /// DPoS: how many delegates produce, the top of the vote (every node if
    /// left out).
    #[arg(long)]
    producers: Option<u64>,
    /// BFT: the propose, vote and commit timeouts in ms, e.g. 1000,500,0
    /// (timeout_commit 0: the next height starts as soon as one is decided).
    #[arg(long, value_parser = bft_timeouts, default_value = "1000,500,500")]
    bft_timeouts: [u64; 3],
    /// PBFT: the quorum, 2f+1 (the default) or f+1 (unsafe: Byzantine
    /// Paxos's counter-example, for the lab).
    #[arg(long)]
    quorum: Option<String>,
    /// Proof of stake and BFT: evidence costs nothing (the genesis slashing
    /// switch off).
    #[arg(long)]
    no_slashing: bool,
    /// Blocks only when asked (`generals forge` on a node's API): the
    /// genesis says `"production": "on-demand"`.
    #[arg(long)]
    on_demand: bool,
    /// Seed of the node keys.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Proof of work: the target block interval; proof of authority: the
    /// block period (ms).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(200..=600_000))]
    block_ms: u64,
    /// Shares of the hash power, e.g. 40,30,20,10 (equal if left out).
    #[arg(long, value_delimiter = ',')]
    hashpower: Vec<f64>,
    /// Byzantine nodes, e.g. `3=split-vote,2=split-vote`: private-fork,
    /// selfish (pow); nothing-at-stake, equivocate (pos); equivocate, collude
    /// (poa); equivocate, split-vote, amnesia, silent (bft). Nodes with one
    /// behaviour collude on one plan.
    #[arg(long, value_delimiter = ',')]
    byzantine: Vec<Role>,
    /// Start one more node with node N's validator key (a PoA clone, a
    /// duplicated PoS or BFT validator); twins are numbered after the nodes.
    #[arg(long)]
    twin: Vec<usize>,
    /// Nodes made but not started (e.g. 3,4): each waits for `join`, which
    /// starts it from an empty chain, as a new node would join later.
    #[arg(long, value_delimiter = ',')]
    late: Vec<usize>,
    /// Byzantine nodes act once their tip reaches this height (the private
    /// fork starts there; 3 if unset).
    #[arg(long, conflicts_with_all = ["after_secs", "probability"])]
    from_height: Option<u64>,
    /// Byzantine nodes act this many seconds after they start.
    #[arg(long, conflicts_with = "probability")]
    after_secs: Option<u64>,
    /// Byzantine nodes act at each opportunity with this probability (0 to 1).
    #[arg(long)]
    probability: Option<f64>,
    /// Private fork: the merchant it pays (dev-1's key if left out).
    #[arg(long)]
    merchant: Option<generals_chain::PublicKey>,
    /// Private fork: confirmations the merchant waits for.
    #[arg(long, default_value_t = 2)]
    confirmations: u64,
    /// Private fork: the public chain's lead at which the attacker gives up.
    #[arg(long, default_value_t = 30)]
    give_up: u64,
}

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    net: NetArgs,
    /// The testnet's folder.
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
    /// Leave the nodes running and return.
    #[arg(long)]
    detach: bool,
    /// Print no hints (as `run` does for a scenario).
    #[arg(long, hide = true)]
    quiet: bool,
    /// The fork-tree page's port on 127.0.0.1 (0: any free port; a taken
    /// port falls back to a free one).
    #[arg(long, default_value_t = crate::ui::DEFAULT_PORT)]
    ui_port: u16,
    /// Serve no fork-tree page.
    #[arg(long)]
    no_ui: bool,
    #[command(flatten)]
    runtime: compose::RuntimeArgs,
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
