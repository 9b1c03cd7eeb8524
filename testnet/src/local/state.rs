//! `testnet.json`: the state of a running testnet (its chain and each node's
//! process, API, peer id and log), loaded and saved in the testnet's folder.

use anyhow::{Context, Result};
use generals_chain::Hash;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    /// The node's container, on the compose runtime (`pid` is then its
    /// process as this machine sees it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl NodeInfo {
    /// Whether the node runs: its process, or its container (paused counts
    /// as running, as a stopped process does).
    pub fn running(&self) -> bool {
        match &self.container {
            Some(name) => matches!(
                super::compose::container_state(name).as_deref(),
                Some("running" | "paused")
            ),
            None => super::alive(self.pid),
        }
    }

    /// A late node that has not joined yet (`up --late`): never started.
    pub fn pending(&self) -> bool {
        self.pid == 0 && self.container.is_none() && self.api.is_empty()
    }

    /// "running", "paused", "stopped", or "late" (not joined yet).
    pub fn state(&self) -> &'static str {
        if self.pending() {
            return "late";
        }
        match &self.container {
            Some(name) => match super::compose::container_state(name).as_deref() {
                Some("running") => "running",
                Some("paused") => "paused",
                _ => "stopped",
            },
            None => crate::ui::watch::process_state(self.pid),
        }
    }
}

/// `testnet.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub chain_id: String,
    pub consensus: String,
    pub genesis: Hash,
    pub nodes: Vec<NodeInfo>,
    /// The compose runtime's project, file and network; none for processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<super::compose::ComposeInfo>,
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

    pub(super) fn save(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join("testnet.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, Self::path(dir))?;
        Ok(())
    }
}
