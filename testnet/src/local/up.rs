//! `up`: create or reuse a testnet, start its nodes one by one, wait until they
//! are connected and producing, print them, and in the foreground reap them
//! until Ctrl-C.

use super::compose::Runtime;
use super::homes::{create, Placement};
use super::process::{start, stop_all};
use super::status::{http, node_status};
use super::{NodeInfo, State, UpArgs};
use anyhow::{bail, Context, Result};
use generals_node::config::Home;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn up(args: UpArgs) -> Result<()> {
    let compose = args.runtime.runtime == Runtime::Compose;
    if compose && !args.net.late.is_empty() {
        bail!("--late runs on processes (--runtime process)");
    }
    let members = args.net.nodes + args.net.twin.len();
    if let Some(bad) = args.net.late.iter().find(|i| **i >= members) {
        bail!(
            "--late {bad}: the testnet has nodes 0 to {}",
            members.saturating_sub(1)
        );
    }
    if members > 0 && (0..members).all(|i| args.net.late.contains(&i)) {
        bail!("--late names every node: at least one must start now");
    }
    let existing = State::load(&args.dir).ok();
    let (mut state, homes) = match existing {
        Some(s) => {
            if s.nodes.iter().any(|n| n.running()) {
                bail!(
                    "a testnet is already running in {}; see `generals-testnet status --dir {0}` or stop it with `down`",
                    args.dir.display()
                );
            }
            if s.compose.is_some() != compose {
                bail!(
                    "the testnet in {} was made for {}; start it with --runtime {} or choose another --dir",
                    args.dir.display(),
                    if compose { "processes" } else { "containers" },
                    if compose { "processes" } else { "compose" },
                );
            }
            let homes = s
                .nodes
                .iter()
                .map(|n| (n.home.clone(), n.hashrate_limit))
                .collect();
            (s, homes)
        }
        None => {
            let planner = if compose {
                Some(super::compose::plan(
                    &args.dir,
                    &args.runtime.image,
                    args.net.seed,
                )?)
            } else {
                None
            };
            let place = |i: usize, n: usize| match &planner {
                Some(p) => p.place(i, n),
                None => Placement::process(i, n),
            };
            let (g, homes) = create(&args.net, &args.dir, &place)?;
            let state = State {
                chain_id: g.chain_id.clone(),
                consensus: g.consensus.kind().into(),
                genesis: g.block()?.hash(),
                nodes: Vec::new(),
                compose: planner.map(|p| p.info),
            };
            (state, homes)
        }
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(100));
    let started = match state.compose.as_mut() {
        Some(info) => {
            bar.set_message(format!("starting {} containers", homes.len()));
            info.image = args.runtime.image.clone();
            super::compose::start_all(info, &homes)?
        }
        None => start_processes(&homes, &bar, &args.net)?,
    };
    state.nodes = started;
    state.save(&args.dir)?;
    // Wait until every node is connected and the chain grows.
    let c = http();
    let deadline = Instant::now() + Duration::from_secs(90);
    let n = state.nodes.iter().filter(|x| !x.pending()).count();
    loop {
        let statuses: Vec<Option<serde_json::Value>> = state
            .nodes
            .iter()
            .filter(|x| !x.pending())
            .map(|x| node_status(&c, &x.api))
            .collect();
        let connected = statuses
            .iter()
            .filter(|s| {
                s.as_ref()
                    .is_some_and(|s| n == 1 || s["peers"].as_u64() >= Some(1))
            })
            .count();
        let height = statuses
            .iter()
            .flatten()
            .filter_map(|s| s["height"].as_u64())
            .max()
            .unwrap_or(0);
        // An on-demand chain makes no block until asked.
        let on_demand = statuses
            .iter()
            .flatten()
            .any(|s| s["on_demand"].as_bool() == Some(true));
        bar.set_message(format!("{connected}/{n} nodes connected, height {height}"));
        if connected == n && (height >= 1 || on_demand) {
            break;
        }
        if Instant::now() > deadline {
            bar.finish_and_clear();
            bail!("the testnet did not come up in 90 s ({connected}/{n} connected, height {height}); see the node logs in {}", args.dir.display());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bar.finish_and_clear();
    print_nodes(&state);
    // The fork-tree page: in this process, or in one of its own when the
    // nodes are left running.
    // A page that cannot start is said, and the nodes run on without it.
    let _page = if args.no_ui {
        None
    } else if args.detach {
        match crate::ui::detached(&args.dir, args.ui_port) {
            Ok(url) => println!("fork tree: {url}"),
            Err(e) => eprintln!("no fork-tree page: {e:#}"),
        }
        None
    } else {
        let feed = args.dir.join("feed.jsonl");
        crate::ui::start(&args.dir, args.ui_port, &feed, &[])
    };
    if args.quiet {
        return Ok(());
    }
    let first = &state.nodes[0].api;
    println!();
    println!("try:");
    println!("  generals --node {first} status");
    println!("  generals --node {first} send --from dev:dev-0 --to $(generals keygen --out me.json --quiet) --amount 1000");
    println!("  generals --node {first} tips");
    // Calls that change a node take its token, from its home.
    let home = state.nodes[0].home.display();
    if state.consensus == "pow" {
        println!("  generals --node {first} --home {home} mine 2");
    }
    if ["pos", "bft", "pbft"].contains(&state.consensus.as_str()) {
        println!("  generals --node {first} validators");
        println!("  generals --node {first} stake 500 --from dev:dev-0");
        println!("  generals --node {first} evidence");
    }
    if state.consensus == "dpos" {
        println!("  generals --node {first} delegates");
        println!("  generals --node {first} vote <KEY>,<KEY> --from dev:dev-0   # after `stake 500 --from dev:dev-0`");
    }
    if state.consensus == "poa" {
        println!("  generals --node {first} authority list");
        println!("  generals --node {first} --home {home} authority propose add <KEY>");
    }
    println!("  generals-testnet status --dir {}", args.dir.display());
    println!(
        "  generals-testnet kill 1 --dir {0}; generals-testnet restart 1 --dir {0}",
        args.dir.display()
    );
    if args.detach {
        println!("  generals-testnet down --dir {}", args.dir.display());
        return Ok(());
    }
    println!();
    println!("running; Ctrl-C stops every node");
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("installing the Ctrl-C handler")?;
    // Until Ctrl-C, or until every node has stopped (`down` from another
    // terminal): the nodes are this process's children, so reap them.
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        rx.recv_timeout(Duration::from_millis(500))
    {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        while let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
            waitpid(None, Some(WaitPidFlag::WNOHANG))
        {}
        if !state.nodes.iter().any(|n| n.running()) {
            println!("every node has stopped");
            return Ok(());
        }
    }
    println!();
    stop_all(&state)
}

/// Starts a process per home, each dialling those before it.
fn start_processes(
    homes: &[(PathBuf, u64)],
    bar: &indicatif::ProgressBar,
    net: &super::NetArgs,
) -> Result<Vec<NodeInfo>> {
    let mut started: Vec<NodeInfo> = Vec::new();
    for (i, (home, limit)) in homes.iter().enumerate() {
        if net.late.contains(&i) {
            // Made, not started: `join` starts it.
            started.push(NodeInfo {
                name: format!("n{i}"),
                home: home.clone(),
                pid: 0,
                api: String::new(),
                peer_id: super::homes::peer_id(net.seed, i)?,
                listen: String::new(),
                hashrate_limit: *limit,
                log: home.join("node.log"),
                container: None,
            });
            continue;
        }
        bar.set_message(format!("starting node n{i}"));
        let boot: Vec<String> = started
            .iter()
            .filter(|n| !n.pending())
            .map(|n| n.listen.clone())
            .collect();
        match start(&format!("n{i}"), home, &boot, *limit, &[]) {
            Ok(n) => started.push(n),
            Err(e) => {
                for n in &started {
                    let _ = kill(Pid::from_raw(n.pid as i32), Signal::SIGTERM);
                }
                return Err(e);
            }
        }
    }
    Ok(started)
}

/// What each node is, from its home: its Byzantine behaviour, or "twin of nK"
/// when it holds an earlier node's validator key.
pub fn roles(state: &State) -> Vec<String> {
    let keys: Vec<Option<generals_chain::PublicKey>> = state
        .nodes
        .iter()
        .map(|n| Home::new(&n.home).validator().ok().map(|k| k.public()))
        .collect();
    state
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut role = Home::new(&n.home)
                .load_config()
                .ok()
                .and_then(|c| c.byzantine)
                .map_or_else(|| "honest".to_string(), |b| b.behaviour);
            if let Some(j) = keys[..i].iter().position(|k| k.is_some() && *k == keys[i]) {
                role = format!("{role}, twin of n{j}");
            }
            role
        })
        .collect()
}

/// The private-fork attackers' payments to their merchants, to watch with
/// `generals tx` (confirmed, then gone when the fork is released).
pub fn payments(state: &State) -> Vec<(String, generals_chain::Hash)> {
    let mut out = Vec::new();
    for n in &state.nodes {
        let home = Home::new(&n.home);
        let (Ok(config), Ok(key)) = (home.load_config(), home.validator()) else {
            continue;
        };
        let Some(b) = config.byzantine.filter(|b| b.behaviour == "private-fork") else {
            continue;
        };
        let plan = generals_consensus::byzantine::PrivateForkPlan::double_spend(
            &key,
            b.merchant.unwrap_or_else(super::attack::default_merchant),
            b.amount.unwrap_or(1_000),
            &state.chain_id,
            b.from_height.unwrap_or(3),
            b.confirmations.unwrap_or(2),
            b.give_up.unwrap_or(30),
        );
        out.push((n.name.clone(), plan.payment.hash()));
    }
    out
}

fn print_nodes(state: &State) {
    println!(
        "{} {} nodes, chain {}, genesis {}",
        state.nodes.len(),
        state.consensus,
        state.chain_id,
        state.genesis.short()
    );
    println!(
        "{:<4} {:<24} {:>8} {:>9}  {:<16} log",
        "node", "api", "pid", "H/s", "role"
    );
    for (n, role) in state.nodes.iter().zip(roles(state)) {
        println!(
            "{:<4} {:<24} {:>8} {:>9}  {:<16} {}",
            n.name,
            n.api,
            n.pid,
            n.hashrate_limit,
            role,
            n.log.display()
        );
    }
    if let Some(c) = &state.compose {
        println!(
            "containers {}-n0.. of image {} on network {} ({}); compose file {}",
            c.project,
            c.image,
            c.network,
            c.subnet,
            c.file.display()
        );
    }
    for (name, hash) in payments(state) {
        println!(
            "{name} pays its merchant in transaction {hash}: `generals --node {} tx {hash}`",
            state.nodes[0].api
        );
    }
}
