//! `generals-testnet`: runs consensus experiments. `sim` runs the deterministic
//! simulator (one process, virtual time, seeded); `up`, `run` and `compare` on
//! real node processes arrive with the node.
//!
//! Layout: `main` parses the command line; `sim` runs simulations and prints
//! their summaries and attack tables; `theory` holds the closed forms the tables
//! are compared with.

mod sim;
mod theory;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "generals-testnet",
    version,
    about = "Consensus experiments: simulations now, local networks of real nodes later",
    after_help = "Examples:
  generals-testnet sim --consensus pow --nodes 4 --seed 7 --blocks 200
  generals-testnet sim --nodes 4 --hashpower 40,30,20,10 --blocks 2000 --no-log
  generals-testnet sim --nodes 4 --cut 100:0,1/2,3 --heal 700 --blocks 150
  generals-testnet sim --attack selfish --gamma 0.5 --seeds 20
  generals-testnet sim --attack private-fork --confirmations 1,2,4,6 --seeds 50"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the deterministic simulator.
    Sim(Box<sim::SimArgs>),
    /// Start a local network of real nodes (arrives with the node).
    Up {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim::run(*args),
        Command::Up { .. } => {
            eprintln!(
                "generals-testnet up: local networks of real nodes arrive with the node; \
                 meanwhile `generals-testnet sim --nodes 4 --blocks 200` simulates one"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("generals-testnet: {e:#}");
            ExitCode::FAILURE
        }
    }
}
