//! `generals-node`: `init` writes a node's home folder, `run` starts the node.

use anyhow::Result;
use clap::{Parser, Subcommand};
use generals_chain::genesis::Production;
use generals_node::config::{self, NodeConfig};
use generals_node::run::Overrides;
use std::path::PathBuf;
#[derive(Parser)]
#[command(
    name = "generals-node",
    version,
    about = "A generals blockchain node",
    after_help = "Examples:
  generals-node init --home ./n1 --consensus pow
  generals-node run --home ./n1 --mine
  generals-node run --home ./n2 --api 127.0.0.1:8646 --bootstrap /ip4/127.0.0.1/tcp/40001/p2p/12D3Koo...
  generals-node repair --home ./n1
  generals-node verify --home ./n1
  generals-node protection export --home ./n1 > n1-protection.json
  generals-node protection import --home ./n1b n1-protection.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a node's home folder: keys, config.toml, admin token, genesis.
    Init {
        #[arg(long)]
        home: PathBuf,
        /// A genesis file to join; without one, a one-node dev genesis is written.
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Consensus of the dev genesis: pow, pos, poa, bft, dpos or pbft.
        #[arg(long, default_value = "pow")]
        consensus: String,
        /// A dev chain whose blocks come only when asked (`generals forge`),
        /// written into the genesis as `"production": "on-demand"`.
        #[arg(long, conflicts_with = "genesis")]
        on_demand: bool,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Move a damaged ledger aside (kept as ledger.damaged-*) and start a new
    /// one that syncs from peers; a validator's signing record is carried over.
    Repair {
        #[arg(long)]
        home: PathBuf,
        /// Go on even if the signing record cannot be read.
        #[arg(long)]
        without_record: bool,
    },
    /// Replay a stopped node's main chain from genesis and check every state
    /// root and the stored state (as bitcoind's verifychain).
    Verify {
        #[arg(long)]
        home: PathBuf,
    },
    /// Start the node.
    Run {
        #[arg(long)]
        home: PathBuf,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Proof of stake: a stopped node's slashing-protection record (what its
    /// validator signed), exported as JSON or merged in from another node's.
    Protection {
        #[command(subcommand)]
        action: ProtectionCmd,
    },
}

#[derive(Subcommand)]
enum ProtectionCmd {
    /// Print the record as JSON.
    Export {
        #[arg(long)]
        home: PathBuf,
    },
    /// Merge a JSON record into this node's (the union: nothing either side
    /// signed will be signed again).
    Import {
        #[arg(long)]
        home: PathBuf,
        file: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init {
            home,
            genesis,
            consensus,
            on_demand,
            overrides,
        } => init(home, genesis, consensus, on_demand, overrides),
        Command::Run { home, overrides } => generals_node::run::run(home, overrides),
        Command::Repair {
            home,
            without_record,
        } => generals_node::repair::repair(&config::Home::new(&home), without_record).map(
            |r| match (r.moved_to, r.height) {
                (Some(aside), _) => {
                    println!("moved the damaged ledger to {}", aside.display());
                    println!(
                        "a new ledger starts at genesis ({} signing-record entries carried over); \
                         start the node and it syncs from its peers",
                        r.records
                    );
                }
                (None, height) => println!(
                    "the ledger is sound (height {}); nothing to repair",
                    height.unwrap_or(0)
                ),
            },
        ),
        Command::Verify { home } => generals_node::repair::verify(&config::Home::new(&home))
            .map(|(blocks, root)| {
                println!("replayed {blocks} blocks from genesis: every state root matches (tip state {root})")
            }),
        Command::Protection {
            action: ProtectionCmd::Export { home },
        } => generals_node::stake::export(&config::Home::new(&home)).map(|json| println!("{json}")),
        Command::Protection {
            action: ProtectionCmd::Import { home, file },
        } => std::fs::read_to_string(&file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))
            .and_then(|json| generals_node::stake::import(&config::Home::new(&home), &json))
            .map(|p| {
                println!(
                    "merged: {} proposals and {} attestations on record",
                    p.proposals.len(),
                    p.attestations.len()
                )
            }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("generals-node: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init(
    home: PathBuf,
    genesis: Option<PathBuf>,
    consensus: String,
    on_demand: bool,
    overrides: Overrides,
) -> Result<()> {
    let mut config = NodeConfig::default();
    overrides.apply(&mut config);
    let production = if on_demand {
        Production::OnDemand
    } else {
        Production::Scheduled
    };
    let h = config::init(&home, genesis.as_deref(), &consensus, production, config)?;
    let g = h.load_genesis()?;
    println!(
        "initialised {} for chain {} ({}{}), genesis {}",
        home.display(),
        g.chain_id,
        g.consensus.kind(),
        if g.production.is_scheduled() {
            ""
        } else {
            ", blocks on demand: generals forge N"
        },
        g.block()?.hash()
    );
    println!("start it with: generals-node run --home {}", home.display());
    Ok(())
}
