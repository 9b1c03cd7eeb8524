//! Compose files, written by hand (a dozen keys; a YAML crate would add a
//! dependency and nothing else): one for a testnet on this machine, one for
//! nodes spread over several machines.

use super::{ComposeInfo, API_PORT, HOME, P2P_PORT};
use anyhow::{bail, Result};
use std::fmt::Write;
use std::path::PathBuf;

/// A path or name as a double-quoted YAML scalar; refuses what would need
/// more than escaping (a newline).
fn quoted(s: &str) -> Result<String> {
    if s.contains(['\n', '\r']) {
        bail!("{s:?} cannot go into a compose file");
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// The testnet on this machine: a container per node on the internal `p2p`
/// network at its own address, its API published on 127.0.0.1 through the
/// `api` network, its home mounted, running as the user who started it.
pub(super) fn local(
    info: &ComposeInfo,
    homes: &[(PathBuf, u64)],
    uid: u32,
    gid: u32,
) -> Result<String> {
    let mut y = String::new();
    writeln!(y, "# Written by `generals-testnet up --runtime compose`; `generals-testnet down` removes what it starts.")?;
    writeln!(y, "version: \"2.4\"")?;
    writeln!(y, "services:")?;
    for (i, (home, _)) in homes.iter().enumerate() {
        let home = std::fs::canonicalize(home)?;
        writeln!(y, "  n{i}:")?;
        writeln!(y, "    image: {}", quoted(&info.image)?)?;
        writeln!(y, "    container_name: {}-n{i}", info.project)?;
        writeln!(y, "    user: \"{uid}:{gid}\"")?;
        writeln!(y, "    command: [\"--home\", \"{HOME}\"]")?;
        writeln!(y, "    stop_grace_period: 10s")?;
        writeln!(y, "    volumes:")?;
        writeln!(
            y,
            "      - {}",
            quoted(&format!("{}:{HOME}", home.display()))?
        )?;
        writeln!(y, "    ports:")?;
        writeln!(y, "      - \"127.0.0.1::{API_PORT}\"")?;
        writeln!(y, "    networks:")?;
        writeln!(y, "      p2p:")?;
        writeln!(y, "        ipv4_address: {}", info.ips[i])?;
        writeln!(y, "      api: {{}}")?;
    }
    writeln!(y, "networks:")?;
    writeln!(y, "  p2p:")?;
    writeln!(y, "    name: {}", info.network)?;
    writeln!(y, "    internal: true")?;
    writeln!(y, "    ipam:")?;
    writeln!(y, "      config:")?;
    writeln!(y, "        - subnet: {}", info.subnet)?;
    writeln!(y, "  api:")?;
    writeln!(y, "    name: {}_api", info.project)?;
    Ok(y)
}

/// One node of an exported testnet: the host it runs on and its published
/// ports there.
pub(super) struct Remote {
    pub host: String,
    pub p2p: u16,
    pub api: u16,
}

/// Nodes on several machines: each publishes its p2p port on every address
/// of its machine and its API on that machine's 127.0.0.1; the homes sit
/// beside the file (`./nI`). On machine K: `docker-compose up -d nK`.
pub(super) fn export(image: &str, nodes: &[Remote]) -> Result<String> {
    let mut y = String::new();
    writeln!(
        y,
        "# Written by `generals-testnet export compose`: one service per node."
    )?;
    writeln!(
        y,
        "# On the machine of node K (see README.md): docker-compose up -d nK"
    )?;
    writeln!(y, "version: \"2.4\"")?;
    writeln!(y, "services:")?;
    for (i, n) in nodes.iter().enumerate() {
        writeln!(y, "  n{i}:  # on {}", n.host)?;
        writeln!(y, "    image: {}", quoted(image)?)?;
        writeln!(y, "    user: \"${{GENERALS_UID:-0}}:${{GENERALS_GID:-0}}\"")?;
        writeln!(y, "    command: [\"--home\", \"{HOME}\"]")?;
        writeln!(y, "    restart: unless-stopped")?;
        writeln!(y, "    stop_grace_period: 10s")?;
        writeln!(y, "    volumes:")?;
        writeln!(y, "      - \"./n{i}:{HOME}\"")?;
        writeln!(y, "    ports:")?;
        writeln!(y, "      - \"{}:{P2P_PORT}\"", n.p2p)?;
        writeln!(y, "      - \"127.0.0.1:{}:{API_PORT}\"", n.api)?;
    }
    Ok(y)
}
