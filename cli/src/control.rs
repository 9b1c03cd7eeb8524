//! Control of the chain by hand: `forge` on an on-demand chain, and
//! `invalidate` / `reconsider` (Bitcoin Core's invalidateblock and
//! reconsiderblock).

use crate::{client::Client, print};
use anyhow::{bail, Result};
use generals_node::api::types::{Forged, ManualView};
use serde_json::json;

/// `forge N [--parent HASH]`: the blocks forged, and the tip after.
pub(crate) fn forge(c: &Client, json: bool, blocks: u64, parent: Option<&str>) -> Result<()> {
    if blocks == 0 || blocks > 1_000 {
        bail!("forge 1 to 1000 blocks");
    }
    let parent = parent.map(parse_hash).transpose()?;
    let f: Forged = c.post("/forge", &json!({ "blocks": blocks, "parent": parent }))?;
    print(json, &f, |f| {
        for h in &f.blocks {
            println!("{h}");
        }
        println!("tip {} at height {}", f.tip, f.height);
    })
}

fn parse_hash(hash: &str) -> Result<generals_chain::Hash> {
    hash.parse()
        .map_err(|_| anyhow::anyhow!("{hash:?} is not a block hash (64 hex digits)"))
}

/// `invalidate` or `reconsider`: the node's tip after, and the blocks
/// invalidated by hand.
pub(crate) fn manual(c: &Client, json: bool, path: &str, hash: &str) -> Result<()> {
    let hash = parse_hash(hash)?;
    let m: ManualView = c.post(path, &json!({ "hash": hash }))?;
    print(json, &m, |m| {
        println!("tip          {} at height {}", m.tip, m.height);
        let list: Vec<String> = m.invalidated.iter().map(|h| h.to_string()).collect();
        println!(
            "invalidated  {}",
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        );
    })
}
