//! `up`, `status`, `down`, `kill`, `restart`: a network of real `generals-node`
//! processes on 127.0.0.1. `up` writes a shared genesis and a home per node
//! (keys derived from `--seed`, so a run can be repeated), starts the nodes one
//! by one, each dialling those before it, and waits until all are connected and
//! producing. The state of a running testnet is `testnet.json` in its folder.

use anyhow::{bail, Context, Result};
use generals_chain::crypto::write_key_file;
use generals_chain::genesis::{
    BftParams, GenesisAccount, GenesisValidator, PoaParams, PosParams, PowParams,
};
use generals_chain::state::Slashing;
use generals_chain::{ConsensusSpec, Genesis, Hash, Keypair};
use generals_node::config::{Home, NodeConfig};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// One node of a testnet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub home: PathBuf,
    pub pid: u32,
    pub api: String,
    pub peer_id: String,
    pub listen: String,
    pub hashrate_limit: u64,
    pub log: PathBuf,
}

/// `testnet.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub chain_id: String,
    pub consensus: String,
    pub genesis: Hash,
    pub nodes: Vec<NodeInfo>,
}

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("testnet.json")
    }

    pub fn load(dir: &Path) -> Result<State> {
        let p = Self::path(dir);
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!(
                "no testnet in {} (run `generals-testnet up --dir {}`)",
                dir.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", p.display()))
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join("testnet.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, Self::path(dir))?;
        Ok(())
    }
}

/// Whether the process runs. A zombie (exited, its parent not yet reaped
/// it, as when `down` stops the nodes of a foreground `up`) does not.
pub fn alive(pid: u32) -> bool {
    if pid == 0 || kill(Pid::from_raw(pid as i32), None).is_err() {
        return false;
    }
    // /proc/PID/stat: "pid (comm) S ...", the state after the last ')'.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// `generals-node run` when that binary sits beside this one; otherwise this
/// binary's own `node` command, which runs the same node code.
fn node_command() -> Command {
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("generals-testnet"));
    let sibling = me.parent().map(|d| d.join("generals-node"));
    match sibling {
        Some(p) if p.exists() => {
            let mut c = Command::new(p);
            c.arg("run");
            c
        }
        _ => {
            let mut c = Command::new(me);
            c.arg("node");
            c
        }
    }
}

fn seeded(seed: u64, what: &str, i: usize) -> Keypair {
    Keypair::from_seed(Hash::digest(format!("generals-testnet/{seed}/{what}/{i}").as_bytes()).0)
}

fn genesis(nodes: usize, seed: u64, kind: &str, stakes: &[u64], slashing: bool) -> Genesis {
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
                period_ms: TARGET_BLOCK_MS,
                epoch: 30_000,
            })
        } else if kind == "pos" {
            ConsensusSpec::Pos(PosParams {
                slot_ms: 1_000,
                epoch_slots: 8,
                unbonding_epochs: 2,
            })
        } else if kind == "bft" {
            ConsensusSpec::Bft(BftParams {
                timeout_propose_ms: 1_000,
                timeout_vote_ms: 500,
                timeout_commit_ms: 500,
            })
        } else {
            ConsensusSpec::Pow(PowParams {
                target_block_ms: TARGET_BLOCK_MS,
                initial_difficulty: TOTAL_HASHRATE * TARGET_BLOCK_MS / 1000,
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
        validators: if kind == "poa" || kind == "pos" || kind == "bft" {
            (0..nodes)
                .map(|i| GenesisValidator {
                    key: seeded(seed, "validator", i).public(),
                    stake: match kind {
                        "pos" | "bft" => stakes.get(i).copied().unwrap_or(1_000),
                        _ => 1,
                    },
                    name: Some(format!("n{i}")),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// Writes the homes of a new testnet.
fn create(args: &UpArgs) -> Result<(Genesis, Vec<(PathBuf, u64)>)> {
    if args.nodes == 0 || args.nodes > 32 {
        bail!("--nodes must be 1 to 32");
    }
    ConsensusSpec::default_for(&args.consensus)?;
    let staked = args.consensus == "pos" || args.consensus == "bft";
    if !args.stakes.is_empty()
        && (!staked || args.stakes.len() != args.nodes || args.stakes.contains(&0))
    {
        bail!(
            "--stakes is for proof of stake and BFT: {} stakes above zero",
            args.nodes
        );
    }
    if args.no_slashing && !staked {
        bail!("--no-slashing is for proof of stake and BFT (--consensus pos or bft)");
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
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let g = genesis(
        args.nodes,
        args.seed,
        &args.consensus,
        &args.stakes,
        !args.no_slashing,
    );
    std::fs::write(args.dir.join("genesis.json"), g.to_json())?;
    let mut homes = Vec::new();
    for (i, share) in shares.iter().enumerate() {
        let home = Home::new(&args.dir.join(format!("n{i}")));
        if home.dir.exists() {
            bail!(
                "{} exists but there is no testnet.json; remove it or choose another --dir",
                home.dir.display()
            );
        }
        std::fs::create_dir_all(&home.dir)?;
        write_key_file(&home.node_key(), &seeded(args.seed, "node", i))?;
        write_key_file(&home.validator_key(), &seeded(args.seed, "validator", i))?;
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
        home.save_config(&NodeConfig {
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            api: "127.0.0.1:0".into(),
            mine: true,
            miner_threads: 1,
            hashrate_limit: Some(limit),
            ..NodeConfig::default()
        })?;
        homes.push((home.dir, limit));
    }
    Ok((g, homes))
}

/// Starts the node in `home`, dialling `bootstrap`; waits for its `run.json`.
fn start(name: &str, home: &Path, bootstrap: &[String], limit: u64) -> Result<NodeInfo> {
    let _ = std::fs::remove_file(home.join("run.json"));
    let log = home.join("node.log");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let mut cmd = node_command();
    cmd.arg("--home").arg(home);
    for b in bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    use std::os::unix::process::CommandExt;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting node {name}"))?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(home.join("run.json")) {
            if let Ok(info) = serde_json::from_str::<generals_node::config::RunInfo>(&text) {
                if let Some(listen) = info.listen.first() {
                    return Ok(NodeInfo {
                        name: name.into(),
                        home: home.to_owned(),
                        pid,
                        api: format!("http://{}", info.api),
                        peer_id: info.peer_id,
                        listen: listen.clone(),
                        hashrate_limit: limit,
                        log,
                    });
                }
            }
        }
        if !alive(pid) || Instant::now() > deadline {
            let tail: String = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join("\n");
            bail!("node {name} did not start; its log ends with:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("an HTTP client with a timeout builds")
}

fn node_status(c: &reqwest::blocking::Client, api: &str) -> Option<serde_json::Value> {
    c.get(format!("{api}/status")).send().ok()?.json().ok()
}

pub fn up(args: UpArgs) -> Result<()> {
    let existing = State::load(&args.dir).ok();
    let (mut state, homes) = match existing {
        Some(s) => {
            if s.nodes.iter().any(|n| alive(n.pid)) {
                bail!(
                    "a testnet is already running in {}; see `generals-testnet status --dir {0}` or stop it with `down`",
                    args.dir.display()
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
            let (g, homes) = create(&args)?;
            let state = State {
                chain_id: g.chain_id.clone(),
                consensus: g.consensus.kind().into(),
                genesis: g.block()?.hash(),
                nodes: Vec::new(),
            };
            (state, homes)
        }
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(100));
    let mut started: Vec<NodeInfo> = Vec::new();
    for (i, (home, limit)) in homes.iter().enumerate() {
        bar.set_message(format!("starting node n{i}"));
        let boot: Vec<String> = started.iter().map(|n| n.listen.clone()).collect();
        match start(&format!("n{i}"), home, &boot, *limit) {
            Ok(n) => started.push(n),
            Err(e) => {
                for n in &started {
                    let _ = kill(Pid::from_raw(n.pid as i32), Signal::SIGTERM);
                }
                return Err(e);
            }
        }
    }
    state.nodes = started;
    state.save(&args.dir)?;
    // Wait until every node is connected and the chain grows.
    let c = http();
    let deadline = Instant::now() + Duration::from_secs(90);
    let n = state.nodes.len();
    loop {
        let statuses: Vec<Option<serde_json::Value>> = state
            .nodes
            .iter()
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
        bar.set_message(format!("{connected}/{n} nodes connected, height {height}"));
        if connected == n && height >= 1 {
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
    let first = &state.nodes[0].api;
    println!();
    println!("try:");
    println!("  generals --node {first} status");
    println!("  generals --node {first} send --from dev:dev-0 --to $(generals keygen --out me.json --quiet) --amount 1000");
    println!("  generals --node {first} tips");
    if state.consensus == "pos" || state.consensus == "bft" {
        println!("  generals --node {first} validators");
        println!("  generals --node {first} stake 500 --from dev:dev-0");
        println!("  generals --node {first} evidence");
    }
    if state.consensus == "poa" {
        println!("  generals --node {first} authority list");
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
        if !state.nodes.iter().any(|n| alive(n.pid)) {
            println!("every node has stopped");
            return Ok(());
        }
    }
    println!();
    stop_all(&state)
}

fn print_nodes(state: &State) {
    println!(
        "{} {} nodes, chain {}, genesis {}",
        state.nodes.len(),
        state.consensus,
        state.chain_id,
        state.genesis.short()
    );
    println!("{:<4} {:<24} {:>8} {:>9}  log", "node", "api", "pid", "H/s");
    for n in &state.nodes {
        println!(
            "{:<4} {:<24} {:>8} {:>9}  {}",
            n.name,
            n.api,
            n.pid,
            n.hashrate_limit,
            n.log.display()
        );
    }
}

fn stop_all(state: &State) -> Result<()> {
    for n in &state.nodes {
        if alive(n.pid) {
            let _ = kill(Pid::from_raw(n.pid as i32), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.nodes.iter().any(|n| alive(n.pid)) && Instant::now() < deadline {
        // Reap our own children; others are reaped by init.
        let _ = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut forced = 0;
    for n in &state.nodes {
        if alive(n.pid) {
            forced += 1;
            let _ = kill(Pid::from_raw(n.pid as i32), Signal::SIGKILL);
        }
    }
    println!(
        "stopped {} nodes{}",
        state.nodes.len(),
        if forced > 0 {
            format!(" ({forced} killed after 10 s)")
        } else {
            String::new()
        }
    );
    Ok(())
}

pub fn status(args: DirArgs) -> Result<()> {
    let state = State::load(&args.dir)?;
    let c = http();
    let rows: Vec<serde_json::Value> = state
        .nodes
        .iter()
        .map(|n| {
            let up = alive(n.pid);
            let s = if up { node_status(&c, &n.api) } else { None };
            serde_json::json!({
                "name": n.name,
                "api": n.api,
                "pid": n.pid,
                "home": n.home,
                "running": up,
                "height": s.as_ref().and_then(|s| s["height"].as_u64()),
                "tip": s.as_ref().and_then(|s| s["tip"].as_str().map(String::from)),
                "peers": s.as_ref().and_then(|s| s["peers"].as_u64()),
            })
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<4} {:<8} {:<24} {:>8} {:>8} {:>6}  tip",
        "node", "state", "api", "pid", "height", "peers"
    );
    for r in &rows {
        println!(
            "{:<4} {:<8} {:<24} {:>8} {:>8} {:>6}  {}",
            r["name"].as_str().unwrap_or(""),
            if r["running"] == true {
                "running"
            } else {
                "stopped"
            },
            r["api"].as_str().unwrap_or(""),
            r["pid"],
            r["height"].as_u64().map_or("-".into(), |h| h.to_string()),
            r["peers"].as_u64().map_or("-".into(), |h| h.to_string()),
            r["tip"].as_str().map_or("-", |t| &t[..8.min(t.len())]),
        );
    }
    Ok(())
}

pub fn down(args: DirArgs) -> Result<()> {
    let state = State::load(&args.dir)?;
    stop_all(&state)
}

pub fn kill_node(args: NodeArgs) -> Result<()> {
    let state = State::load(&args.dir)?;
    let n = state.nodes.get(args.node).with_context(|| {
        format!(
            "no node {} (the testnet has {})",
            args.node,
            state.nodes.len()
        )
    })?;
    if !alive(n.pid) {
        bail!("node {} is not running", n.name);
    }
    kill(Pid::from_raw(n.pid as i32), Signal::SIGKILL).context("SIGKILL")?;
    println!("killed node {} (pid {}) with SIGKILL", n.name, n.pid);
    Ok(())
}

pub fn restart(args: NodeArgs) -> Result<()> {
    let mut state = State::load(&args.dir)?;
    let n = state.nodes.get(args.node).cloned().with_context(|| {
        format!(
            "no node {} (the testnet has {})",
            args.node,
            state.nodes.len()
        )
    })?;
    if alive(n.pid) {
        bail!("node {} is running (pid {}); kill it first", n.name, n.pid);
    }
    let boot: Vec<String> = state
        .nodes
        .iter()
        .filter(|x| x.name != n.name && alive(x.pid))
        .map(|x| x.listen.clone())
        .collect();
    let info = start(&n.name, &n.home, &boot, n.hashrate_limit)?;
    println!(
        "restarted node {} (pid {}, api {}); it syncs from its peers",
        info.name, info.pid, info.api
    );
    state.nodes[args.node] = info;
    state.save(&args.dir)
}
