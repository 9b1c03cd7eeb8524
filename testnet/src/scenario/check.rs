//! The invariant checker over a run's event stream. Real runs record each
//! node's `/events` stream (`events-nN.jsonl`); the simulator writes one log
//! (`events-seed-N.jsonl`). Both are read into the same events and checked by
//! the same code:
//!
//! - agreement, as it happened: BFT nodes import only decided blocks, so two
//!   honest nodes that ever imported different blocks at one height decided
//!   differently; on proof of stake, two honest nodes that finalized different
//!   blocks at one height (a conflict a later reorg would hide from the end
//!   state);
//! - the deepest reorg any honest node went through;
//! - accountability: evidence naming an honest node's key (an honest node
//!   that signed two conflicting messages).

use anyhow::Result;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// One event of one node.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A block the node produced (a BFT proposal, not yet decided) or
    /// imported (for BFT: decided).
    Block {
        hash: String,
        height: u64,
        imported: bool,
        /// The block's own timestamp, where the event gives it.
        timestamp_ms: Option<u64>,
    },
    Reorg {
        depth: u64,
    },
    Finalized {
        hash: String,
    },
    Evidence {
        offender: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// When, in ms (the simulator's clock, or the wall clock as the event
    /// arrived).
    pub t_ms: u64,
    pub node: usize,
    pub what: What,
}

fn what(kind: &str, v: &Value) -> Option<What> {
    let s = |k: &str| v[k].as_str().map(String::from);
    Some(match kind {
        "produced" | "imported" | "block_produced" | "block_imported" => What::Block {
            hash: s("hash")?,
            height: v["height"].as_u64()?,
            imported: kind.ends_with("imported"),
            timestamp_ms: v["timestamp_ms"].as_u64().filter(|t| *t > 0),
        },
        "reorg" => What::Reorg {
            depth: v["depth"].as_u64()?,
        },
        "finalized" => What::Finalized { hash: s("hash")? },
        "evidence" => What::Evidence {
            offender: s("offender")?,
        },
        _ => return None,
    })
}

/// The simulator's log: one JSON object a line, with `node` and `event`.
pub fn read_sim(log: &Path) -> Result<Vec<Seen>> {
    let text = std::fs::read_to_string(log)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let node = v["node"].as_u64()? as usize;
            let what = what(v["event"].as_str()?, &v)?;
            let t_ms = v["t"].as_u64().unwrap_or(0);
            Some(Seen { t_ms, node, what })
        })
        .collect())
}

/// A real run's streams: `out/events-nN.jsonl` for each node, each line
/// `{"at_ms": .., "event": {"event": "block_imported", ..}}`.
pub fn read_real(out: &Path, nodes: usize) -> Vec<Seen> {
    let mut seen = Vec::new();
    for node in 0..nodes {
        let Ok(text) = std::fs::read_to_string(out.join(format!("events-n{node}.jsonl"))) else {
            continue;
        };
        for v in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            let e = &v["event"];
            if let Some(what) = e["event"].as_str().and_then(|k| what(k, e)) {
                let t_ms = v["at_ms"].as_u64().unwrap_or(0);
                seen.push(Seen { t_ms, node, what });
            }
        }
    }
    seen.sort_by_key(|e| e.t_ms);
    seen
}

/// What the checker found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Heights at which two honest nodes decided (BFT) or finalized (proof of
    /// stake) different blocks at some moment of the run.
    pub conflicts: Vec<u64>,
    /// The deepest reorg an honest node went through.
    pub deepest_reorg: u64,
    /// Honest nodes named by evidence (their key signed twice).
    pub accused: Vec<usize>,
}

/// Checks the events. `honest`: the honest nodes; `keys[i]`: node i's
/// validator key (hex); `consensus`: pow, poa, pos, bft, dpos or pbft.
pub fn check(events: &[Seen], honest: &[usize], keys: &[String], consensus: &str) -> Facts {
    let mut facts = Facts::default();
    let mut height_of: HashMap<&str, u64> = HashMap::new();
    for e in events {
        if let What::Block { hash, height, .. } = &e.what {
            height_of.insert(hash, *height);
        }
    }
    // Height to the blocks honest nodes decided or finalized there.
    let mut decided: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for e in events.iter().filter(|e| honest.contains(&e.node)) {
        match &e.what {
            What::Block {
                hash,
                height,
                imported: true,
                ..
            } if consensus == "bft" || consensus == "pbft" => {
                decided.entry(*height).or_default().insert(hash);
            }
            What::Finalized { hash } if consensus == "pos" => {
                if let Some(h) = height_of.get(hash.as_str()) {
                    decided.entry(*h).or_default().insert(hash);
                }
            }
            What::Reorg { depth } => facts.deepest_reorg = facts.deepest_reorg.max(*depth),
            What::Evidence { offender } => {
                // A key two nodes hold (a twin) is not an honest node's.
                let holders: Vec<usize> =
                    (0..keys.len()).filter(|i| keys[*i] == *offender).collect();
                if let [one] = holders.as_slice() {
                    if honest.contains(one) && !facts.accused.contains(one) {
                        facts.accused.push(*one);
                    }
                }
            }
            _ => {}
        }
    }
    facts.conflicts = decided
        .into_iter()
        .filter(|(_, set)| set.len() > 1)
        .map(|(h, _)| h)
        .collect();
    facts.accused.sort_unstable();
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(node: usize, hash: &str, height: u64) -> Seen {
        Seen {
            t_ms: 0,
            node,
            what: What::Block {
                hash: hash.into(),
                height,
                imported: true,
                timestamp_ms: None,
            },
        }
    }

    #[test]
    fn bft_nodes_that_ever_imported_different_blocks_at_a_height_conflict() {
        let mut events = vec![block(0, "a", 1), block(1, "a", 1), block(1, "b", 2)];
        let keys = vec!["k0".to_string(), "k1".to_string()];
        // A proposal that was not decided is no decision.
        events.push(Seen {
            t_ms: 0,
            node: 0,
            what: What::Block {
                hash: "p".into(),
                height: 2,
                imported: false,
                timestamp_ms: None,
            },
        });
        assert!(check(&events, &[0, 1], &keys, "bft").conflicts.is_empty());
        events.push(block(0, "c", 2));
        assert_eq!(check(&events, &[0, 1], &keys, "bft").conflicts, vec![2]);
        // A Byzantine node's blocks do not count, nor do other mechanisms' forks.
        assert!(check(&events, &[0], &keys, "bft").conflicts.is_empty());
        assert!(check(&events, &[0, 1], &keys, "pow").conflicts.is_empty());
    }

    #[test]
    fn proof_of_stake_conflicts_are_different_finalized_blocks_at_a_height() {
        let fin = |node, hash: &str| Seen {
            t_ms: 0,
            node,
            what: What::Finalized { hash: hash.into() },
        };
        let keys = vec!["k0".to_string(), "k1".to_string()];
        let mut events = vec![block(0, "a", 8), block(1, "b", 8), fin(0, "a")];
        assert!(check(&events, &[0, 1], &keys, "pos").conflicts.is_empty());
        events.push(fin(1, "b"));
        assert_eq!(check(&events, &[0, 1], &keys, "pos").conflicts, vec![8]);
    }

    #[test]
    fn evidence_against_an_honest_key_is_found_but_not_against_a_twins() {
        let ev = |node, offender: &str| Seen {
            t_ms: 0,
            node,
            what: What::Evidence {
                offender: offender.into(),
            },
        };
        let keys: Vec<String> = ["k0", "k1", "k2", "k2"].map(String::from).to_vec();
        let events = vec![ev(0, "k1"), ev(1, "k2"), ev(3, "k0")];
        // Node 3 is Byzantine: what it reports is not counted.
        assert_eq!(check(&events, &[0, 1, 2], &keys, "pos").accused, vec![1]);
        let deep = vec![Seen {
            t_ms: 0,
            node: 1,
            what: What::Reorg { depth: 4 },
        }];
        assert_eq!(check(&deep, &[0, 1], &keys, "pow").deepest_reorg, 4);
    }
}
