//! Writing a new testnet: the shared genesis (accounts, consensus, validators)
//! and each node's home (keys derived from `--seed`, admin token, config).

use super::{NetArgs, LOAD_ACCOUNTS, TOTAL_HASHRATE};
use anyhow::{bail, Context, Result};
use generals_chain::crypto::write_key_file;
use generals_chain::genesis::{
    BftParams, DposParams, GenesisAccount, GenesisValidator, PbftParams, PoaParams, PosParams,
    PowParams, Production, Quorum,
};
use generals_chain::state::Slashing;
use generals_chain::{ConsensusSpec, Genesis, Hash, Keypair};
use generals_node::config::{Home, NodeConfig};
use std::path::{Path, PathBuf};

pub(super) fn seeded(seed: u64, what: &str, i: usize) -> Keypair {
    Keypair::from_seed(Hash::digest(format!("generals-testnet/{seed}/{what}/{i}").as_bytes()).0)
}

fn genesis(args: &NetArgs) -> Genesis {
    let (nodes, seed, kind, stakes) =
        (args.nodes, args.seed, args.consensus.as_str(), &args.stakes);
    let slashing = !args.no_slashing;
    let block_ms = args.block_ms;
    let mut accounts: Vec<GenesisAccount> = (0..4)
        .map(|i| Keypair::dev(&format!("dev-{i}")))
        .chain((0..LOAD_ACCOUNTS).map(|i| Keypair::dev(&format!("load-{i}"))))
        .chain((0..nodes).map(|i| seeded(seed, "validator", i)))
        .map(|k| GenesisAccount {
            key: k.public(),
            balance: 1_000_000_000,
        })
        .collect();
    accounts.dedup_by_key(|a| a.key);
    Genesis {
        chain_id: "generals-testnet".into(),
        timestamp_ms: generals_node::driver::now_ms(),
        consensus: if kind == "poa" {
            ConsensusSpec::Poa(PoaParams {
                period_ms: block_ms,
                epoch: 30_000,
            })
        } else if kind == "pos" {
            ConsensusSpec::Pos(PosParams {
                slot_ms: 1_000,
                epoch_slots: 8,
                unbonding_epochs: 2,
            })
        } else if kind == "dpos" {
            ConsensusSpec::Dpos(DposParams {
                slot_ms: 1_000,
                producers: args.producers.unwrap_or(nodes as u64),
            })
        } else if kind == "pbft" {
            ConsensusSpec::Pbft(PbftParams {
                view_timeout_ms: 2_000,
                block_pause_ms: 500,
                checkpoint_interval: 10,
                quorum: if args.quorum.as_deref() == Some("f+1") {
                    Quorum::FPlusOne
                } else {
                    Quorum::TwoFPlusOne
                },
            })
        } else if kind == "bft" {
            ConsensusSpec::Bft(BftParams {
                timeout_propose_ms: args.bft_timeouts[0],
                timeout_vote_ms: args.bft_timeouts[1],
                timeout_commit_ms: args.bft_timeouts[2],
            })
        } else {
            ConsensusSpec::Pow(PowParams {
                target_block_ms: block_ms,
                initial_difficulty: TOTAL_HASHRATE * block_ms / 1000,
                halflife_ms: 60_000,
                max_future_drift_ms: 15_000,
            })
        },
        block_reward: 50,
        slashing: Slashing {
            enabled: slashing,
            ..Slashing::default()
        },
        accounts,
        validators: if ["poa", "pos", "bft", "dpos", "pbft"].contains(&kind) {
            (0..nodes)
                .map(|i| GenesisValidator {
                    key: seeded(seed, "validator", i).public(),
                    stake: match kind {
                        "pos" | "bft" | "dpos" | "pbft" => stakes.get(i).copied().unwrap_or(1_000),
                        _ => 1,
                    },
                    name: Some(format!("n{i}")),
                })
                .collect()
        } else {
            Vec::new()
        },
        production: if args.on_demand {
            Production::OnDemand
        } else {
            Production::Scheduled
        },
    }
}

/// Where a node listens and whom it dials first, as its runtime places it.
pub(super) struct Placement {
    /// libp2p listen address.
    pub listen: String,
    /// The HTTP API's address.
    pub api: String,
    /// Peers to dial at start (processes learn theirs when they start).
    pub bootstrap: Vec<String>,
    /// The log file, relative to the home (processes log to stderr, which
    /// `up` sends to the same file).
    pub log_file: Option<String>,
}

impl Placement {
    /// A process on 127.0.0.1, on ports the system picks.
    pub fn process(_: usize, _: usize) -> Placement {
        Placement {
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            api: "127.0.0.1:0".into(),
            bootstrap: Vec::new(),
            log_file: None,
        }
    }
}

/// The libp2p peer id of the testnet's node `i`.
pub(super) fn peer_id(seed: u64, i: usize) -> Result<String> {
    generals_node::config::peer_id_of(&seeded(seed, "node", i))
}

/// Writes the genesis and the homes of a new testnet in `dir`, each node
/// placed by `place(i, nodes)`.
pub(super) fn create(
    args: &NetArgs,
    dir: &Path,
    place: &dyn Fn(usize, usize) -> Placement,
) -> Result<(Genesis, Vec<(PathBuf, u64)>)> {
    if args.nodes == 0 || args.nodes > 32 {
        bail!("--nodes must be 1 to 32");
    }
    ConsensusSpec::default_for(&args.consensus)?;
    let staked = ["pos", "bft", "dpos", "pbft"].contains(&args.consensus.as_str());
    if !args.stakes.is_empty()
        && (!staked || args.stakes.len() != args.nodes || args.stakes.contains(&0))
    {
        bail!(
            "--stakes is for proof of stake, BFT, DPoS and PBFT: {} stakes above zero",
            args.nodes
        );
    }
    if args.producers.is_some_and(|p| !(1..=101).contains(&p))
        || (args.producers.is_some() && args.consensus != "dpos")
    {
        bail!("--producers is for delegated proof of stake (--consensus dpos): 1 to 101");
    }
    if args.quorum.is_some()
        && (args.consensus != "pbft"
            || !["2f+1", "f+1"].contains(&args.quorum.as_deref().unwrap_or("")))
    {
        bail!("--quorum is for PBFT (--consensus pbft): 2f+1 or f+1");
    }
    if args.no_slashing && !staked {
        bail!("--no-slashing is for proof of stake, BFT, DPoS and PBFT (--consensus pos, bft, dpos or pbft)");
    }
    let shares = if args.hashpower.is_empty() {
        vec![1.0; args.nodes]
    } else {
        args.hashpower.clone()
    };
    if shares.len() != args.nodes || shares.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        bail!("--hashpower needs {} positive shares", args.nodes);
    }
    let sum: f64 = shares.iter().sum();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let g = genesis(args);
    std::fs::write(dir.join("genesis.json"), g.to_json())?;
    let members = super::attack::members(args)?;
    let mut homes = Vec::new();
    for (i, m) in members.iter().enumerate() {
        // A twin mines with its original's share.
        let share = shares[m.key_of];
        let home = Home::new(&dir.join(format!("n{i}")));
        if home.dir.exists() {
            bail!(
                "{} exists but there is no testnet.json; remove it or choose another --dir",
                home.dir.display()
            );
        }
        std::fs::create_dir_all(&home.dir)?;
        write_key_file(&home.node_key(), &seeded(args.seed, "node", i))?;
        write_key_file(
            &home.validator_key(),
            &seeded(args.seed, "validator", m.key_of),
        )?;
        let token: [u8; 16] = rand::random();
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(home.admin_token())?;
            f.write_all(hex::encode(token).as_bytes())?;
        }
        std::fs::write(home.genesis(), g.to_json())?;
        let limit = (TOTAL_HASHRATE as f64 * share / sum).round().max(1.0) as u64;
        let at = place(i, members.len());
        home.save_config(&NodeConfig {
            listen: at.listen,
            api: at.api,
            bootstrap: at.bootstrap,
            log_file: at.log_file,
            mine: true,
            miner_threads: 1,
            hashrate_limit: Some(limit),
            byzantine: m.byzantine.clone(),
            ..NodeConfig::default()
        })?;
        homes.push((home.dir, limit));
    }
    Ok((g, homes))
}
