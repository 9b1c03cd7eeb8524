//! The Docker Compose runtime: a container per node, from an image made of
//! this project's own binaries (no base image: no registry is needed), each
//! with a fixed address on a network of the testnet's own. `kill`, `pause`,
//! `restart` and `down` go through the docker CLI; a node alone in a
//! partition's group is disconnected from that network, a real cut.
//!
//! Two networks per testnet: `p2p`, internal, where the nodes talk (the one
//! `partition` disconnects a container from), and `api`, through which each
//! node's HTTP API is published on 127.0.0.1 of this machine, so `status`,
//! the CLI and the fork-tree page reach a node that is cut off.
//!
//! Layout: `image` builds the image (FROM scratch: the node binary and the
//! shared libraries it links); `file` writes compose files; `export` writes a
//! compose file, genesis and homes for several machines; this file runs
//! docker and docker-compose and starts, stops and cuts the containers.

mod export;
mod file;
mod image;

pub use export::{export, ExportArgs};
pub use image::{image, ImageArgs};

use super::homes::{peer_id, Placement};
use super::{NodeInfo, State};
use anyhow::{bail, Context, Result};
use generals_node::config::Home;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The image `up --runtime compose` uses unless told otherwise.
pub const DEFAULT_IMAGE: &str = "generals-node:local";
/// Where a node listens inside its container.
const P2P_PORT: u16 = 9000;
const API_PORT: u16 = 8080;
/// A node's home, mounted into its container.
const HOME: &str = "/data";

/// Where the nodes run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Runtime {
    /// Processes on this machine (127.0.0.1).
    #[default]
    Processes,
    /// A Docker container each, started by Docker Compose.
    Compose,
}

#[derive(clap::Args, Clone, Debug)]
pub struct RuntimeArgs {
    /// Where the nodes run: processes on this machine, or a container each
    /// (Docker Compose).
    #[arg(long, value_enum, default_value_t = Runtime::Processes)]
    pub runtime: Runtime,
    /// With `--runtime compose`: the node image. Built (as `generals-testnet
    /// image` does) when it does not exist or was made of another binary.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    pub image: String,
}

impl RuntimeArgs {
    /// Processes on this machine.
    pub fn processes() -> RuntimeArgs {
        RuntimeArgs {
            runtime: Runtime::Processes,
            image: DEFAULT_IMAGE.into(),
        }
    }

    /// These settings as `up` flags.
    pub fn argv(&self) -> Vec<String> {
        match self.runtime {
            Runtime::Processes => Vec::new(),
            Runtime::Compose => vec![
                "--runtime".into(),
                "compose".into(),
                "--image".into(),
                self.image.clone(),
            ],
        }
    }
}

/// The compose runtime's part of `testnet.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComposeInfo {
    /// The compose project (container names start with it).
    pub project: String,
    pub file: PathBuf,
    pub image: String,
    /// The nodes' network: its docker name and subnet.
    pub network: String,
    pub subnet: String,
    /// Each node's address on it.
    pub ips: Vec<String>,
}

/// Runs `docker ARGS`; its standard output, trimmed, or its error.
pub(crate) fn docker(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running docker (is the Docker CLI installed?)")?;
    if !out.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether a Docker engine answers; why not otherwise.
pub fn engine() -> Result<String> {
    docker(&["version", "--format", "{{.Server.Version}}"])
        .context("no Docker engine answers (the compose runtime needs one)")
}

/// `docker compose` where the plugin is installed, else `docker-compose`.
fn compose_command() -> Result<Command> {
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if plugin {
        let mut c = Command::new("docker");
        c.arg("compose");
        return Ok(c);
    }
    let v1 = Command::new("docker-compose")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !v1 {
        bail!("neither `docker compose` nor `docker-compose` runs; install Docker Compose");
    }
    Ok(Command::new("docker-compose"))
}

/// Runs compose on the testnet's file.
fn compose(info: &ComposeInfo, args: &[&str]) -> Result<()> {
    let out = compose_command()?
        .arg("-p")
        .arg(&info.project)
        .arg("-f")
        .arg(&info.file)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running docker compose")?;
    if !out.status.success() {
        bail!(
            "docker compose {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A container's state as docker says it (`running`, `paused`, `exited`,
/// ...), or None when there is no such container.
pub fn container_state(name: &str) -> Option<String> {
    docker(&["inspect", "--format", "{{.State.Status}}", name]).ok()
}

/// The compose project of the testnet in `dir`: named after the folder, with
/// a hash of its path so two folders of one name do not meet.
fn project(dir: &Path) -> Result<String> {
    let full = std::fs::canonicalize(dir)?;
    let base: String = full
        .file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect();
    let h = generals_chain::Hash::digest(full.to_string_lossy().as_bytes());
    Ok(format!("generals-{base}-{}", &h.to_string()[..6]))
}

/// An IPv4 subnet as (address, prefix length).
fn cidr(s: &str) -> Option<(u32, u32)> {
    let (a, p) = s.split_once('/')?;
    let a: std::net::Ipv4Addr = a.parse().ok()?;
    Some((u32::from(a), p.parse().ok().filter(|p| *p <= 32)?))
}

fn overlap(a: (u32, u32), b: (u32, u32)) -> bool {
    let p = a.1.min(b.1);
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    a.0 & mask == b.0 & mask
}

/// A /24 in 10.213.0.0/16 that no Docker network uses.
fn free_subnet() -> Result<String> {
    let ids = docker(&["network", "ls", "--quiet"])?;
    let mut used = Vec::new();
    for id in ids.lines().filter(|l| !l.is_empty()) {
        let subnets = docker(&[
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
            id,
        ])
        .unwrap_or_default();
        used.extend(subnets.split_whitespace().filter_map(cidr));
    }
    (0..=255u32)
        .map(|k| format!("10.213.{k}.0/24"))
        .find(|s| cidr(s).is_some_and(|c| !used.iter().any(|u| overlap(c, *u))))
        .context("no free /24 in 10.213.0.0/16 for the testnet's network")
}

/// The address of node `i` in `subnet` (from .10 up).
fn ip_in(subnet: &str, i: usize) -> String {
    let base = subnet.split('/').next().unwrap_or("10.213.0.0");
    let mut parts: Vec<&str> = base.split('.').collect();
    let last = (10 + i).to_string();
    parts.pop();
    format!("{}.{last}", parts.join("."))
}

/// Plans a new compose testnet in `dir` for `nodes` nodes (twins included):
/// its project, network and addresses, and where each node listens.
pub(super) fn plan(dir: &Path, image: &str, seed: u64) -> Result<Planner> {
    engine()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let project = project(dir)?;
    let subnet = free_subnet()?;
    Ok(Planner {
        info: ComposeInfo {
            file: std::fs::canonicalize(dir)?.join("docker-compose.yml"),
            network: format!("{project}_p2p"),
            project,
            image: image.to_string(),
            subnet,
            ips: Vec::new(),
        },
        seed,
    })
}

pub(super) struct Planner {
    pub info: ComposeInfo,
    seed: u64,
}

impl Planner {
    /// Node `i` of `n`: listens on its own address, dials every other node.
    pub fn place(&self, i: usize, n: usize) -> Placement {
        let bootstrap = (0..n)
            .filter(|j| *j != i)
            .filter_map(|j| {
                let id = peer_id(self.seed, j).ok()?;
                Some(format!(
                    "/ip4/{}/tcp/{P2P_PORT}/p2p/{id}",
                    ip_in(&self.info.subnet, j)
                ))
            })
            .collect();
        Placement {
            listen: format!("/ip4/{}/tcp/{P2P_PORT}", ip_in(&self.info.subnet, i)),
            api: format!("0.0.0.0:{API_PORT}"),
            bootstrap,
            log_file: Some("node.log".into()),
        }
    }
}

fn container(info: &ComposeInfo, i: usize) -> String {
    format!("{}-n{i}", info.project)
}

/// Writes the compose file for the homes in `homes`, builds the image if it
/// must, starts every container and waits for each node's `run.json`.
pub(super) fn start_all(info: &mut ComposeInfo, homes: &[(PathBuf, u64)]) -> Result<Vec<NodeInfo>> {
    engine()?;
    image::ensure(&info.image)?;
    info.ips = (0..homes.len()).map(|i| ip_in(&info.subnet, i)).collect();
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    std::fs::write(&info.file, file::local(info, homes, uid, gid)?)
        .with_context(|| format!("writing {}", info.file.display()))?;
    for (home, _) in homes {
        let _ = std::fs::remove_file(home.join("run.json"));
    }
    let started = compose(info, &["up", "--detach", "--no-build"]).and_then(|()| {
        let mut nodes = Vec::new();
        for (i, (home, limit)) in homes.iter().enumerate() {
            let peer = Home::new(home)
                .network_identity()?
                .public()
                .to_peer_id()
                .to_string();
            nodes.push(wait_started(info, i, home, *limit, peer)?);
        }
        Ok(nodes)
    });
    if started.is_err() {
        let _ = down(info);
    }
    started
}

/// Waits until node `i`'s container runs and its node wrote `run.json`.
fn wait_started(
    info: &ComposeInfo,
    i: usize,
    home: &Path,
    limit: u64,
    peer: String,
) -> Result<NodeInfo> {
    let name = container(info, i);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = container_state(&name).unwrap_or_default();
        let started = home.join("run.json").exists() && state == "running";
        if started {
            let port = docker(&["port", &name, &format!("{API_PORT}/tcp")])?;
            let host = port
                .lines()
                .find(|l| l.starts_with("127.0.0.1:"))
                .with_context(|| format!("{name} publishes no API port on 127.0.0.1: {port}"))?
                .to_string();
            let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &name])?
                .parse()
                .unwrap_or(0);
            return Ok(NodeInfo {
                name: format!("n{i}"),
                home: home.to_owned(),
                pid,
                api: format!("http://{host}"),
                listen: format!("/ip4/{}/tcp/{P2P_PORT}/p2p/{peer}", info.ips[i]),
                peer_id: peer,
                hashrate_limit: limit,
                log: home.join("node.log"),
                container: Some(name),
            });
        }
        if state == "exited" || state == "dead" || Instant::now() > deadline {
            let tail = super::process::log_tail(&home.join("node.log"));
            let logs = docker(&["logs", "--tail", "5", &name]).unwrap_or_default();
            bail!("container {name} did not start ({state}); its log ends with:\n{tail}\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops and removes the testnet's containers and networks (the homes stay).
pub(super) fn down(info: &ComposeInfo) -> Result<()> {
    compose(info, &["down", "--timeout", "10"])
}

/// `docker kill` (SIGKILL), `docker pause` or `docker unpause`.
pub(super) fn signal(n: &NodeInfo, verb: &str) -> Result<()> {
    let name = n.container.as_deref().context("not a container")?;
    docker(&[verb, name]).map(|_| ())
}

/// Starts a killed node's container again and waits for its node.
pub(super) fn restart(info: &ComposeInfo, i: usize, n: &NodeInfo) -> Result<NodeInfo> {
    let _ = std::fs::remove_file(n.home.join("run.json"));
    docker(&["start", &container(info, i)])?;
    wait_started(info, i, &n.home, n.hashrate_limit, n.peer_id.clone())
}

/// Whether node `i`'s container is on the nodes' network.
fn connected(info: &ComposeInfo, n: &NodeInfo) -> Result<bool> {
    let name = n.container.as_deref().context("not a container")?;
    let nets = docker(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        name,
    ])?;
    Ok(nets.split_whitespace().any(|x| x == info.network))
}

/// Takes node `i`'s container off the nodes' network: its links all go dead
/// at once, as a cable pulled out.
pub(super) fn disconnect(info: &ComposeInfo, i: usize, n: &NodeInfo) -> Result<()> {
    if connected(info, n)? {
        docker(&["network", "disconnect", &info.network, &container(info, i)])?;
    }
    Ok(())
}

/// Puts every container that is off the nodes' network back on it, at its
/// own address; returns how many.
pub(super) fn reconnect_all(info: &ComposeInfo, nodes: &[NodeInfo]) -> Result<usize> {
    let mut back = 0;
    for (i, n) in nodes.iter().enumerate() {
        if n.container.is_some() && !connected(info, n)? {
            docker(&[
                "network",
                "connect",
                "--ip",
                &info.ips[i],
                &info.network,
                &container(info, i),
            ])?;
            back += 1;
        }
    }
    Ok(back)
}

/// Whether `state` runs on compose (a compose file and its project).
pub(super) fn of(state: &State) -> Option<&ComposeInfo> {
    state.compose.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_overlap_by_their_shorter_prefix() {
        let c = |s: &str| cidr(s).expect("a subnet");
        let a = c("10.213.0.0/24");
        assert!(overlap(a, c("10.0.0.0/8")));
        assert!(overlap(a, c("10.213.0.128/25")));
        assert!(!overlap(a, c("10.213.1.0/24")));
        assert!(!overlap(a, c("172.17.0.0/16")));
        assert_eq!(cidr("10.1.2.3/33"), None);
        assert_eq!(ip_in("10.213.7.0/24", 3), "10.213.7.13");
    }
}
