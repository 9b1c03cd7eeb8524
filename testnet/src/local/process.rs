//! Node processes: whether one runs, starting one (and waiting for its
//! `run.json`), stopping them all, and the `down`, `kill`, `pause` and
//! `restart` commands (which go to docker on the compose runtime).

use super::{DirArgs, NodeArgs, NodeInfo, State};
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Starts the node in `home`, dialling `bootstrap`, with `extra` flags for
/// `generals-node run`; waits for its `run.json`.
pub(super) fn start(
    name: &str,
    home: &Path,
    bootstrap: &[String],
    limit: u64,
    extra: &[String],
) -> Result<NodeInfo> {
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
    cmd.args(extra);
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
                        container: None,
                    });
                }
            }
        }
        if !alive(pid) || Instant::now() > deadline {
            bail!(
                "node {name} did not start; its log ends with:\n{}",
                log_tail(&log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last lines of a node's log, newest first.
pub(super) fn log_tail(log: &Path) -> String {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn stop_all(state: &State) -> Result<()> {
    if let Some(info) = super::compose::of(state) {
        super::compose::down(info)?;
        println!(
            "stopped {} nodes and removed their containers (project {})",
            state.nodes.len(),
            info.project
        );
        return Ok(());
    }
    for n in &state.nodes {
        if alive(n.pid) {
            let _ = kill(Pid::from_raw(n.pid as i32), Signal::SIGTERM);
            // A paused node (SIGSTOP) takes its SIGTERM only once it goes on.
            let _ = kill(Pid::from_raw(n.pid as i32), Signal::SIGCONT);
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
    // Gone, not dying: their ledgers' locks are free when this returns.
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.nodes.iter().any(|n| alive(n.pid)) && Instant::now() < deadline {
        let _ = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        std::thread::sleep(Duration::from_millis(20));
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

pub fn down(args: DirArgs) -> Result<()> {
    let state = State::load(&args.dir)?;
    crate::ui::stop_detached(&args.dir);
    stop_all(&state)
}

/// Node `args.node` of the testnet, if its process runs.
fn running_node(args: &NodeArgs) -> Result<NodeInfo> {
    let state = State::load(&args.dir)?;
    let n = state.nodes.get(args.node).with_context(|| {
        format!(
            "no node {} (the testnet has {})",
            args.node,
            state.nodes.len()
        )
    })?;
    if !n.running() {
        bail!("node {} is not running", n.name);
    }
    Ok(n.clone())
}

pub fn kill_node(args: NodeArgs) -> Result<()> {
    let n = running_node(&args)?;
    if let Some(c) = &n.container {
        super::compose::signal(&n, "kill")?;
        crate::ui::note(&args.dir, &format!("kill {}", n.name));
        println!("killed node {} (container {c}) with docker kill", n.name);
        return Ok(());
    }
    kill(Pid::from_raw(n.pid as i32), Signal::SIGKILL).context("SIGKILL")?;
    crate::ui::note(&args.dir, &format!("kill {}", n.name));
    println!("killed node {} (pid {}) with SIGKILL", n.name, n.pid);
    Ok(())
}

/// `pause N` (SIGSTOP: the process holds its state and answers nothing) and
/// `resume N` (SIGCONT).
pub fn pause_node(args: NodeArgs, pause: bool) -> Result<()> {
    let n = running_node(&args)?;
    let (sig, verb) = if pause {
        (Signal::SIGSTOP, "paused")
    } else {
        (Signal::SIGCONT, "resumed")
    };
    let what = if pause { "pause" } else { "resume" };
    if let Some(c) = &n.container {
        super::compose::signal(&n, if pause { "pause" } else { "unpause" })?;
        crate::ui::note(&args.dir, &format!("{what} {}", n.name));
        let docker = if pause { "pause" } else { "unpause" };
        println!("{verb} node {} (container {c}, docker {docker})", n.name);
        return Ok(());
    }
    kill(Pid::from_raw(n.pid as i32), sig).with_context(|| format!("{sig} to {}", n.name))?;
    crate::ui::note(&args.dir, &format!("{what} {}", n.name));
    println!("{verb} node {} (pid {})", n.name, n.pid);
    Ok(())
}

fn node_in(state: &State, i: usize) -> Result<NodeInfo> {
    state
        .nodes
        .get(i)
        .cloned()
        .with_context(|| format!("no node {i} (the testnet has {})", state.nodes.len()))
}

/// The listen addresses of the running nodes other than `name`.
fn live_addresses(state: &State, name: &str) -> Vec<String> {
    state
        .nodes
        .iter()
        .filter(|x| x.name != name && alive(x.pid))
        .map(|x| x.listen.clone())
        .collect()
}

pub fn restart(args: NodeArgs) -> Result<()> {
    let mut state = State::load(&args.dir)?;
    let n = node_in(&state, args.node)?;
    if n.running() {
        bail!("node {} is running (pid {}); kill it first", n.name, n.pid);
    }
    if n.pending() {
        bail!(
            "node {} is late and has not joined; start it with `join`",
            n.name
        );
    }
    if let Some(info) = super::compose::of(&state) {
        let info = super::compose::restart(info, args.node, &n)?;
        println!(
            "restarted node {} (container {}, api {}); it syncs from its peers",
            info.name,
            info.container.as_deref().unwrap_or(""),
            info.api
        );
        crate::ui::note(&args.dir, &format!("restart {}", info.name));
        state.nodes[args.node] = info;
        return state.save(&args.dir);
    }
    let boot = live_addresses(&state, &n.name);
    let info = start(&n.name, &n.home, &boot, n.hashrate_limit, &[])?;
    println!(
        "restarted node {} (pid {}, api {}); it syncs from its peers",
        info.name, info.pid, info.api
    );
    crate::ui::note(&args.dir, &format!("restart {}", info.name));
    state.nodes[args.node] = info;
    state.save(&args.dir)
}

#[derive(clap::Args, Debug)]
pub struct JoinArgs {
    /// The late node (`up --late`) to start.
    pub node: usize,
    /// Give it a weak-subjectivity checkpoint: the block at
    /// --checkpoint-height of this node's main chain.
    #[arg(long, requires = "checkpoint_height")]
    pub checkpoint_from: Option<usize>,
    #[arg(long, requires = "checkpoint_from")]
    pub checkpoint_height: Option<u64>,
    #[arg(long, default_value = "testnet-data")]
    pub dir: PathBuf,
}

/// Starts a late node for the first time, from an empty chain, dialling the
/// running nodes (a partition in force still keeps out those it cuts off);
/// with a checkpoint copied from another node's main chain.
pub fn join(args: JoinArgs) -> Result<()> {
    let mut state = State::load(&args.dir)?;
    let n = node_in(&state, args.node)?;
    if !n.pending() {
        bail!(
            "node {} is not a late node waiting to join (see `up --late`)",
            n.name
        );
    }
    let mut extra = Vec::new();
    if let (Some(from), Some(height)) = (args.checkpoint_from, args.checkpoint_height) {
        let f = state
            .nodes
            .get(from)
            .filter(|f| f.running())
            .with_context(|| format!("checkpoint: node {from} is not running"))?;
        let r = super::status::http()
            .get(format!("{}/block/{height}", f.api))
            .send()
            .with_context(|| format!("checkpoint: asking {} for block {height}", f.name))?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            bail!("checkpoint: {} has no block {height} yet", f.name);
        }
        let block: serde_json::Value = r
            .error_for_status()
            .and_then(|r| r.json())
            .with_context(|| format!("checkpoint: asking {} for block {height}", f.name))?;
        let hash = block["hash"]
            .as_str()
            .with_context(|| format!("checkpoint: {} has no block {height}", f.name))?;
        extra = vec!["--checkpoint".to_string(), format!("{height}:{hash}")];
    }
    let boot = live_addresses(&state, &n.name);
    let info = start(&n.name, &n.home, &boot, n.hashrate_limit, &extra)?;
    println!(
        "node {} joined (pid {}, api {}){}",
        info.name,
        info.pid,
        info.api,
        match extra.get(1) {
            Some(c) => format!(" with the checkpoint {c}"),
            None => String::new(),
        }
    );
    crate::ui::note(&args.dir, &format!("join {}", info.name));
    state.nodes[args.node] = info;
    state.save(&args.dir)
}
