//! `generals-testnet forge N`: blocks on demand on a testnet made with `up
//! --on-demand`. Each block is asked of the node whose turn it is: on BFT and
//! PBFT the height's proposer (as the nodes' status names it), on the other
//! kinds `--node` (the first running node by default). After each block the
//! command waits until every running node has it, so the next proposer is
//! known.

use super::status::{http, node_status};
use super::State;
use anyhow::{bail, Context, Result};
use generals_node::config::Home;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ForgeArgs {
    /// How many blocks, one at a time.
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    blocks: u64,
    /// The node that forges (BFT and PBFT: each height's proposer unless
    /// given).
    #[arg(long)]
    node: Option<usize>,
    #[arg(long, default_value = "testnet-data")]
    dir: PathBuf,
}

pub fn forge(args: ForgeArgs) -> Result<()> {
    let state = State::load(&args.dir)?;
    let running: Vec<usize> = (0..state.nodes.len())
        .filter(|i| state.nodes[*i].running())
        .collect();
    let Some(&first) = running.first() else {
        bail!("no node of {} is running", args.dir.display());
    };
    if let Some(n) = args.node {
        if !running.contains(&n) {
            bail!("node {n} is not a running node of this testnet");
        }
    }
    let c = http();
    let status = |i: usize| {
        node_status(&c, &state.nodes[i].api)
            .with_context(|| format!("node {} did not answer", state.nodes[i].name))
    };
    let round_based = matches!(state.consensus.as_str(), "bft" | "pbft");
    let slow = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    for _ in 0..args.blocks {
        let at = match args.node {
            Some(n) => n,
            None if round_based => {
                let s = status(first)?;
                let proposer = s["bft"]["proposer"]
                    .as_str()
                    .context("the nodes name no proposer")?
                    .to_string();
                let mut at = None;
                for &i in &running {
                    if status(i)?["validator"].as_str() == Some(&proposer[..]) {
                        at = Some(i);
                    }
                }
                at.with_context(|| {
                    format!("validator {proposer} proposes, and no running node holds its key")
                })?
            }
            None => first,
        };
        let n = &state.nodes[at];
        let r = slow
            .post(format!("{}/forge", n.api))
            .bearer_auth(Home::new(&n.home).token()?)
            .json(&serde_json::json!({ "blocks": 1 }))
            .send()
            .with_context(|| format!("asking node {} ({})", n.name, n.api))?;
        if !r.status().is_success() {
            bail!("node {} refused: {}", n.name, r.text().unwrap_or_default());
        }
        let answer: serde_json::Value = r.json()?;
        let height = answer["height"]
            .as_u64()
            .context("no height in the answer")?;
        let block = answer["blocks"][0].as_str().unwrap_or("?").to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        for &i in &running {
            while status(i)?["height"].as_u64() < Some(height) {
                if Instant::now() > deadline {
                    bail!(
                        "node {} did not reach height {height} in 30 s",
                        state.nodes[i].name
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        println!("{} forged {block} at height {height}", n.name);
    }
    Ok(())
}
