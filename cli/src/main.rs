//! `generals`: the user's client for a generals node, over its HTTP API. Human
//! tables by default, `--json` for scripts; every failure is one line on stderr
//! and a non-zero exit.
//!
//! Layout: `main` (commands), `client` (HTTP), `keys` (key sources), `stakes`
//! (stakes, authorities, validators), `control` (forge, invalidate, reconsider).

mod client;
mod control;
mod keys;
mod stakes;

use stakes::{print_authorities, print_validators};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use client::Client;
use generals_chain::{Action, PublicKey, TxBody};
use generals_node::api::types::*;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "generals",
    version,
    about = "Client of a generals node",
    after_help = "Examples:
  generals status
  generals --node http://127.0.0.1:8646 tips
  generals keygen --out alice.json
  generals balance $(generals keygen --out bob.json --quiet)
  generals send --from dev:dev-0 --to <KEY> --amount 1000 --fee 2
  generals mine 3
  generals forge 5                       (an on-demand chain, any engine)
  generals forge 2 --parent <HASH>       (a fork by hand)
  generals tx <HASH> --json

Keys: --from takes a key file written by `generals keygen`, or dev:NAME for the
development accounts of a dev or testnet genesis (dev:dev-0 .. dev:dev-3)."
)]
struct Cli {
    /// The node's API.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8645",
        env = "GENERALS_NODE"
    )]
    node: String,
    /// The node's token, for calls that change it (mine, miner, authority
    /// votes). Or set GENERALS_TOKEN, or give the node's --home.
    #[arg(long, global = true, env = "GENERALS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A node home to read the token from (its admin_token file).
    #[arg(long, global = true)]
    home: Option<std::path::PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a new key and write it to a file (mode 0600).
    Keygen {
        #[arg(long)]
        out: std::path::PathBuf,
        /// Print only the public key.
        #[arg(long)]
        quiet: bool,
    },
    /// The node's chain, tip, peers and miner.
    Status,
    /// An account's balance, nonce and stake.
    Balance { key: String },
    /// Send coins.
    Send {
        /// Key file, or dev:NAME.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "1")]
        fee: String,
        /// Nonce (default: the account's next, counting the mempool).
        #[arg(long)]
        nonce: Option<u64>,
    },
    /// Where a transaction stands.
    Tx { hash: String },
    /// Mine N blocks now.
    Mine {
        #[arg(default_value_t = 1)]
        blocks: u64,
        /// Mine past the node's hash-rate limit.
        #[arg(long)]
        full_speed: bool,
    },
    /// Forge N blocks now on an on-demand chain (`generals-node init
    /// --on-demand`), through the node's engine and all its rules.
    Forge {
        #[arg(default_value_t = 1)]
        blocks: u64,
        /// Build the first block on this parent, and each next one on the one
        /// before: a fork by hand (where the engine allows one).
        #[arg(long)]
        parent: Option<String>,
    },
    /// Mark a block and its descendants invalid on this node and move to the
    /// best other branch (Bitcoin Core's invalidateblock); not a final block.
    Invalidate { hash: String },
    /// Undo `invalidate` on a block's branch and move to the best branch.
    Reconsider { hash: String },
    /// Start or stop the miner.
    Miner {
        #[arg(value_parser = ["start", "stop"])]
        action: String,
    },
    /// A block by height or hash.
    Block { id: String },
    /// Heads of the fork tree.
    Tips,
    /// Connected and known peers.
    Peers,
    /// Transactions waiting for a block.
    Mempool,
    /// Proof of authority: the authorities, and votes to add or remove one.
    Authority {
        #[command(subcommand)]
        action: AuthorityCmd,
    },
    /// Proof of stake: bond AMOUNT of the account's balance as stake.
    Stake {
        amount: String,
        /// Key file, or dev:NAME.
        #[arg(long)]
        from: String,
        #[arg(long, default_value = "1")]
        fee: String,
    },
    /// Proof of stake: unbond AMOUNT of stake; it stays slashable, and returns to
    /// the balance after the chain's unbonding delay.
    Unstake {
        amount: String,
        /// Key file, or dev:NAME.
        #[arg(long)]
        from: String,
        #[arg(long, default_value = "1")]
        fee: String,
    },
    /// Proof of stake: validators with stake, status and what was slashed.
    Validators,
    /// Delegated proof of stake: the account's bonded stake votes for these
    /// delegates (1 to 30 keys, replacing its earlier vote).
    Vote {
        #[arg(required = true, value_delimiter = ',')]
        delegates: Vec<String>,
        /// Key file, or dev:NAME.
        #[arg(long)]
        from: String,
        #[arg(long, default_value = "1")]
        fee: String,
    },
    /// Delegated proof of stake: delegates by votes, this round's producers,
    /// blocks produced and missed, and the last irreversible height.
    Delegates,
    /// Evidence of double signing: on the chain, and seen but not yet included.
    Evidence,
}

#[derive(Subcommand)]
enum AuthorityCmd {
    /// The authorities, with blocks sealed, in turn and missed over the last 64.
    List,
    /// Vote (in this node's future blocks) to add or remove an authority.
    Propose {
        #[arg(value_parser = ["add", "remove"])]
        action: String,
        key: String,
    },
    /// Withdraw this node's proposal about KEY.
    Discard { key: String },
}

fn main() -> std::process::ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("generals: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `generals status | head -3`: a reader that goes away is not an error. Rust
/// ignores SIGPIPE, so `println!` panics when stdout closes; such a panic ends
/// the process quietly with the status a shell gives a closed pipe (128 + 13).
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

pub(crate) fn parse_amount(what: &str, s: &str) -> Result<u64> {
    s.replace('_', "")
        .parse()
        .with_context(|| format!("{what} {s:?} is not a whole number of coins"))
}

pub(crate) fn parse_key(s: &str) -> Result<PublicKey> {
    if let Some(name) = s.strip_prefix("dev:") {
        return Ok(generals_chain::Keypair::dev(name).public());
    }
    s.parse()
        .with_context(|| format!("{s:?} is not an account (64 hex digits, or dev:NAME)"))
}

pub(crate) fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T),
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human(value);
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let token = client::token(cli.token.as_deref(), cli.home.as_deref())?;
    let c = Client::new(&cli.node, token)?;
    let json = cli.json;
    match cli.command {
        Command::Keygen { out, quiet } => {
            let key = generals_chain::Keypair::generate();
            generals_chain::crypto::write_key_file(&out, &key)?;
            let v = json!({ "public_key": key.public(), "file": out });
            if quiet && !json {
                println!("{}", key.public());
                return Ok(());
            }
            print(json, &v, |_| {
                println!("wrote {} for account {}", out.display(), key.public())
            })
        }
        Command::Status => {
            let s: Status = c.get("/status")?;
            print(json, &s, |s| {
                println!(
                    "chain      {} ({}), genesis {}",
                    s.chain_id,
                    s.consensus,
                    s.genesis.short()
                );
                println!("height     {}", s.height);
                println!("tip        {}", s.tip);
                println!("weight     {}", s.weight);
                println!("peers      {}", s.peers);
                println!("mempool    {}", s.mempool);
                println!(
                    "mining     {} ({:.0} H/s)",
                    if s.mining { "yes" } else { "no" },
                    s.hashrate
                );
                println!("peer id    {}", s.peer_id);
                println!("validator  {}", s.validator);
                if let Some(b) = &s.byzantine {
                    println!("byzantine  {b} (this node attacks the network)");
                }
            })?;
            if let (Some(p), false) = (&s.pos, json) {
                let h =
                    |x: Option<u64>| x.map_or("none yet".to_string(), |h| format!("height {h}"));
                println!(
                    "slot       {} (epoch {}, {} slots of {} ms)",
                    p.slot, p.epoch, p.epoch_slots, p.slot_ms
                );
                println!("justified  {}", h(p.justified_height));
                println!("finalized  {}", h(p.finalized_height));
                let v: Validators = c.get("/validators")?;
                println!();
                print_validators(&v);
            }
            if let (Some(b), Some(v), false) = (&s.bft, &s.pbft, json) {
                println!(
                    "deciding   height {} view {} step {} ({} replicas, quorum {} = {})",
                    b.height, v.view, b.step, v.replicas, v.quorum, v.quorum_rule
                );
                let prepared = b
                    .locked_round
                    .map_or("nothing".into(), |r| format!("view {r}"));
                println!("prepared   {prepared}");
                if let Some(p) = v.primary {
                    println!("primary    {p}");
                }
                println!(
                    "views      {} view changes; stable checkpoint at height {}",
                    v.view_changes, v.stable_checkpoint
                );
                let last = v.last_refusal.as_deref().unwrap_or("none");
                println!("refused    {} proofs (last: {last})", v.refused_proofs);
            } else if let (Some(b), false) = (&s.bft, json) {
                println!(
                    "deciding   height {} round {} step {} ({} validators)",
                    b.height, b.round, b.step, b.validators
                );
                let r = |x: Option<u64>| x.map_or("none".to_string(), |r| format!("round {r}"));
                println!(
                    "lock       {}; valid value {}",
                    r(b.locked_round),
                    r(b.valid_round)
                );
                if let Some(p) = b.proposer {
                    println!("proposer   {p}");
                }
            }
            if let (Some(_), false) = (&s.bft, json) {
                let v: Validators = c.get("/validators")?;
                println!();
                print_validators(&v);
            }
            if s.consensus == "poa" && !json {
                let a: Authorities = c.get("/authorities")?;
                println!();
                print_authorities(&a);
            }
            Ok(())
        }
        Command::Balance { key } => {
            let key = parse_key(&key)?;
            let a: AccountView = c.get(&format!("/account/{key}"))?;
            print(json, &a, |a| {
                println!("account    {}", a.key);
                println!("balance    {}", a.account.balance);
                println!("bonded     {}", a.account.bonded);
                if a.account.unbonding > 0 {
                    println!(
                        "unbonding  {} (free from {} ms after the Unix epoch)",
                        a.account.unbonding, a.account.unbonding_until_ms
                    );
                }
                println!("nonce      {} (next {})", a.account.nonce, a.next_nonce);
                if a.account.jailed {
                    println!("jailed     yes");
                }
            })
        }
        Command::Send {
            from,
            to,
            amount,
            fee,
            nonce,
        } => {
            let amount = parse_amount("amount", &amount)?;
            let fee = parse_amount("fee", &fee)?;
            let to = parse_key(&to)?;
            to.check_usable()
                .with_context(|| format!("--to {to}: coins sent there could never be spent"))?;
            let key = keys::load(&from)?;
            let status: Status = c.get("/status")?;
            let nonce = match nonce {
                Some(n) => n,
                None => {
                    c.get::<AccountView>(&format!("/account/{}", key.public()))?
                        .next_nonce
                }
            };
            let tx = TxBody {
                chain_id: status.chain_id,
                sender: key.public(),
                nonce,
                fee,
                action: Action::Transfer { to, amount },
            }
            .sign(&key);
            let s: Submitted = c.post("/tx", &json!({ "tx": tx }))?;
            print(json, &s, |s| {
                println!(
                    "sent {amount} to {to}: transaction {} (nonce {nonce})",
                    s.hash
                )
            })
        }
        Command::Tx { hash } => {
            let t: TxStatus = c.get(&format!("/tx/{hash}"))?;
            print(json, &t, |t| {
                println!("transaction {}", t.hash);
                match (t.height, &t.block) {
                    (Some(h), Some(b)) => println!(
                        "included    at height {h} in {} ({} confirmations)",
                        b.short(),
                        t.confirmations
                    ),
                    _ => println!("pending     in the mempool"),
                }
                println!(
                    "from        {} (nonce {}, fee {})",
                    t.tx.body.sender, t.tx.body.nonce, t.tx.body.fee
                );
                println!(
                    "action      {}",
                    serde_json::to_string(&t.tx.body.action).unwrap_or_default()
                );
            })
        }
        Command::Mine { blocks, full_speed } => {
            if blocks == 0 {
                bail!("mine at least 1 block");
            }
            let body = json!({ "blocks": blocks, "full_speed": full_speed });
            let m: Mined = c.post("/mine", &body)?;
            print(json, &m, |m| {
                for h in &m.blocks {
                    println!("{h}");
                }
            })
        }
        Command::Forge { blocks, parent } => control::forge(&c, json, blocks, parent.as_deref()),
        Command::Invalidate { hash } => control::manual(&c, json, "/invalidate", &hash),
        Command::Reconsider { hash } => control::manual(&c, json, "/reconsider", &hash),
        Command::Miner { action } => {
            let m: MinerState = c.post(&format!("/miner/{action}"), &json!({}))?;
            print(json, &m, |m| {
                println!("miner {}", if m.mining { "running" } else { "stopped" })
            })
        }
        Command::Block { id } => {
            let b: BlockView = c.get(&format!("/block/{id}"))?;
            print(json, &b, |b| {
                println!("block      {}", b.hash);
                println!(
                    "height     {}{}",
                    b.height,
                    if b.main_chain {
                        ""
                    } else {
                        " (not on the main chain)"
                    }
                );
                println!("parent     {}", b.parent);
                println!("time       {} ms", b.timestamp_ms);
                println!("producer   {}", b.producer);
                println!("state root {}", b.state_root);
                if let Some(d) = &b.difficulty {
                    println!("difficulty {d}");
                }
                println!("txs        {}", b.transactions.len());
                for t in &b.transactions {
                    println!(
                        "  {} from {} nonce {}",
                        t.hash.short(),
                        t.tx.body.sender,
                        t.tx.body.nonce
                    );
                }
            })
        }
        Command::Tips => {
            let t: Vec<TipView> = c.get("/tips")?;
            print(json, &t, |t| {
                println!(
                    "{:<10} {:>8} {:<11} {:>10} {:>14}",
                    "tip", "height", "status", "branch", "weight"
                );
                for x in t {
                    println!(
                        "{:<10} {:>8} {:<11} {:>10} {:>14}",
                        x.hash.short(),
                        x.height,
                        x.status,
                        x.branch_len,
                        x.weight
                    );
                }
            })
        }
        Command::Peers => {
            let p: Vec<PeerView> = c.get("/peers")?;
            print(json, &p, |p| {
                println!("{:<54} {:<10} {:>8}", "peer", "state", "penalty");
                for x in p {
                    let state = if x.blocked {
                        "blocked"
                    } else if x.connected {
                        "connected"
                    } else {
                        "known"
                    };
                    println!("{:<54} {:<10} {:>8}", x.peer_id, state, x.penalty);
                }
            })
        }
        Command::Stake { amount, from, fee } => stakes::stake(&c, json, &amount, &from, &fee, true),
        Command::Unstake { amount, from, fee } => {
            stakes::stake(&c, json, &amount, &from, &fee, false)
        }
        Command::Validators => {
            let v: Validators = c.get("/validators")?;
            print(json, &v, print_validators)
        }
        Command::Vote {
            delegates,
            from,
            fee,
        } => stakes::vote(&c, json, &delegates, &from, &fee),
        Command::Delegates => {
            let d: Delegates = c.get("/delegates")?;
            print(json, &d, stakes::print_delegates)
        }
        Command::Evidence => {
            let e: EvidenceList = c.get("/evidence")?;
            print(json, &e, |e| {
                if e.included.is_empty() && e.pending.is_empty() {
                    println!("no evidence");
                }
                for (what, list) in [("included", &e.included), ("pending", &e.pending)] {
                    for x in list {
                        let at = match x.height {
                            Some(h) => format!("in block {h}"),
                            None => "not yet in a block".into(),
                        };
                        println!(
                            "{what:<9} {} by {} (at {} and {}), {at}",
                            x.offence, x.offender, x.first, x.second
                        );
                    }
                }
            })
        }
        Command::Authority { action } => match action {
            AuthorityCmd::List => {
                let a: Authorities = c.get("/authorities")?;
                print(json, &a, print_authorities)
            }
            AuthorityCmd::Propose { action, key } => {
                let candidate = parse_key(&key)?;
                let p: Proposal = c.post(
                    "/authorities/propose",
                    &json!({ "candidate": candidate, "add": action == "add" }),
                )?;
                print(json, &p, |p| {
                    println!(
                        "this node now votes to {} {} in the blocks it seals",
                        if p.add { "add" } else { "remove" },
                        p.candidate
                    )
                })
            }
            AuthorityCmd::Discard { key } => {
                let candidate = parse_key(&key)?;
                let d: Discard =
                    c.post("/authorities/discard", &json!({ "candidate": candidate }))?;
                print(json, &d, |d| {
                    println!("withdrew the proposal about {}", d.candidate)
                })
            }
        },
        Command::Mempool => {
            let m: Vec<TxView> = c.get("/mempool")?;
            print(json, &m, |m| {
                println!("{} transactions", m.len());
                for t in m {
                    println!(
                        "{} from {} nonce {} fee {}",
                        t.hash.short(),
                        t.tx.body.sender,
                        t.tx.body.nonce,
                        t.tx.body.fee
                    );
                }
            })
        }
    }
}
