//! `generals-testnet`: consensus experiments. `up` runs a local network of real
//! nodes (with `status`, `down`, `kill`, `restart`, `load`); `sim` runs the
//! deterministic simulator (one process, virtual time, seeded).
//!
//! Layout: `main` parses the command line; `local` starts and stops real nodes;
//! `load` sends a transaction workload and measures it; `flood` floods one
//! node from a hostile peer and measures what that cost; `sim` runs simulations and
//! prints their summaries and attack tables; `lamport` runs the generals
//! algorithms, `two_generals` the couriers of the Two Generals problem; `theory` holds the closed forms the
//! tables are compared with; `scenario` runs scenario files and checks them;
//! `compare` sets the mechanisms side by side; `ui` serves the live fork-tree
//! page of a testnet and plays finished runs back.

mod bench;
mod compare;
mod flood;
mod lamport;
mod load;
mod local;
mod scenario;
mod sim;
mod theory;
mod two_generals;
mod ui;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "generals-testnet",
    version,
    about = "Consensus experiments: local networks of real nodes, and simulations",
    after_help = "Examples:
  generals-testnet up --nodes 4 --consensus pow
  generals-testnet up --nodes 3 --hashpower 50,30,20 --detach --dir /tmp/tn
  generals-testnet status --dir /tmp/tn
  generals-testnet load --tps 20 --duration 30s --dir /tmp/tn
  generals-testnet kill 1 --dir /tmp/tn && generals-testnet restart 1 --dir /tmp/tn
  generals-testnet down --dir /tmp/tn
  generals-testnet up --nodes 4 --consensus bft --runtime compose --detach --dir /tmp/tc
  generals-testnet export compose /tmp/multi --nodes 4 --consensus bft --hosts 192.0.2.10,192.0.2.11,192.0.2.12,192.0.2.13
  generals-testnet sim --consensus pow --nodes 4 --seed 7 --blocks 200
  generals-testnet sim --nodes 4 --hashpower 40,30,20,10 --blocks 2000 --no-log
  generals-testnet sim --nodes 4 --cut 100:0,1/2,3 --heal 700 --blocks 150
  generals-testnet sim --attack selfish --gamma 0.5 --seeds 20
  generals-testnet sim --attack private-fork --confirmations 1,2,4,6 --seeds 50
  generals-testnet lamport --algorithm om --generals 3 --traitors 2 --strategy lie --trace
  generals-testnet lamport --algorithm sm --generals 3 --traitors 2 --strategy lie --trace
  generals-testnet lamport --exhaustive --max-generals 7
  generals-testnet two-generals --rounds 6 --loss 0.2 --seed 3
  generals-testnet bench --quick"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local network of real nodes (or restart a stopped one in --dir).
    Up(local::UpArgs),
    /// Each node's process, API, height and peers.
    Status(local::DirArgs),
    /// Stop every node (SIGTERM, then SIGKILL after 10 s); the data stays.
    Down(local::DirArgs),
    /// Kill one node with SIGKILL.
    Kill(local::NodeArgs),
    /// Start a stopped node again; it syncs from the others.
    Restart(local::NodeArgs),
    /// Start a late node (`up --late`) for the first time, from an empty
    /// chain, optionally with a checkpoint copied from another node.
    Join(local::JoinArgs),
    /// Blocks on demand on a testnet made with `up --on-demand`, each asked
    /// of the node whose turn it is (BFT, PBFT: the height's proposer).
    Forge(local::ForgeArgs),
    /// Stop one node's process where it stands (SIGSTOP), until `resume`.
    Pause(local::NodeArgs),
    /// Let a paused node go on (SIGCONT).
    Resume(local::NodeArgs),
    /// Send signed transfers at a rate and measure inclusion and finality.
    Load(load::LoadArgs),
    /// Flood one node from a hostile peer (every gossip topic and the direct
    /// protocol) and report its memory, the block rate and the cut-offs.
    Flood(flood::FloodArgs),
    /// Cut groups of nodes apart (through their admin API), e.g. `partition 0 1`.
    Partition(local::PartitionArgs),
    /// Undo every partition.
    Heal(local::HealArgs),
    /// Make the link between two nodes slow or lossy (both ways), e.g.
    /// `link 0 2 --latency-ms 300 --jitter-ms 100 --loss 0.1`.
    Link(local::LinkArgs),
    /// How the nodes stand: roles, blocks per producer, conflicting
    /// decisions, evidence, jailed validators, authorities.
    Report(local::DirArgs),
    /// Run a scenario file on real nodes: its timeline, then its expectations.
    Run(scenario::RunArgs),
    /// Run the deterministic simulator.
    Sim(Box<sim::SimArgs>),
    /// Run one scenario on each mechanism and set the results side by side
    /// (report.md, report.json, report.html with charts).
    Compare(compare::CompareArgs),
    /// Lamport's Byzantine generals: OM(m) and SM(m), one run or --exhaustive.
    Lamport(lamport::LamportArgs),
    /// The Two Generals problem: the courier handshake over a lossy channel,
    /// and the practical answer of K couriers against P^K.
    TwoGenerals(two_generals::TwoGeneralsArgs),
    /// The fork-tree page of a running testnet (`up` starts one itself), or
    /// of a finished run played back (`--replay OUT`).
    Ui(ui::UiArgs),
    /// Build the node image for `up --runtime compose` (FROM scratch: the
    /// node binary and the libraries it links; no registry needed).
    Image(local::ImageArgs),
    /// Write a testnet for other machines: `export compose DIR --hosts ...`.
    Export(local::ExportArgs),
    /// Measure every speed goal in one run, each against a limit of this
    /// machine measured in the same run (--quick: small sizes).
    Bench(bench::BenchArgs),
    /// Run one node (what `up` starts when no generals-node binary is beside this one).
    #[command(hide = true)]
    Node {
        #[arg(long)]
        home: std::path::PathBuf,
        #[command(flatten)]
        overrides: generals_node::run::Overrides,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim::run(*args),
        Command::Up(args) => local::up(args),
        Command::Status(args) => local::status(args),
        Command::Down(args) => local::down(args),
        Command::Kill(args) => local::kill_node(args),
        Command::Restart(args) => local::restart(args),
        Command::Join(args) => local::join(args),
        Command::Forge(args) => local::forge(args),
        Command::Pause(args) => local::pause_node(args, true),
        Command::Resume(args) => local::pause_node(args, false),
        Command::Partition(args) => local::partition(args),
        Command::Heal(args) => local::heal(args),
        Command::Link(args) => local::link(args),
        Command::Report(args) => local::report(args),
        Command::Run(args) => scenario::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Load(args) => load::run(args),
        Command::Flood(args) => flood::run(args),
        Command::Lamport(args) => lamport::run(args),
        Command::TwoGenerals(args) => two_generals::run(args),
        Command::Ui(args) => ui::ui(args),
        Command::Image(args) => local::image(args),
        Command::Export(args) => local::export(args),
        Command::Bench(args) => bench::run(args),
        Command::Node { home, overrides } => generals_node::run::run(home, overrides),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("generals-testnet: {e:#}");
            ExitCode::FAILURE
        }
    }
}
