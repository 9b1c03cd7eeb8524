//! `report`: how a testnet's nodes, honest and Byzantine, stand, asked over
//! their APIs: each node's role, height and tip; the blocks each producer has on
//! an honest node's main chain (a selfish miner's share beside its hash power);
//! the first height at which two honest nodes hold different blocks
//! (conflicting decisions, for BFT); the evidence on the chain, and who is
//! jailed or no longer an authority.

use super::status::http;
use super::up::roles;
use super::{DirArgs, State};
use anyhow::{bail, Result};
use generals_node::config::Home;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn get(c: &reqwest::blocking::Client, api: &str, path: &str) -> Value {
    c.get(format!("{api}{path}"))
        .send()
        .ok()
        .and_then(|r| r.json().ok())
        .unwrap_or(Value::Null)
}

/// The messages a node has sent (every gossip topic and direct sends), from
/// its `/metrics`.
fn messages_sent(c: &reqwest::blocking::Client, api: &str) -> Option<u64> {
    let text = c.get(format!("{api}/metrics")).send().ok()?.text().ok()?;
    let sent = text
        .lines()
        .filter(|l| l.starts_with("generals_messages_total{") && l.contains("direction=\"out\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    Some(sent as u64)
}

fn hash_at(c: &reqwest::blocking::Client, api: &str, h: u64) -> Option<String> {
    get(c, api, &format!("/block/{h}"))["hash"]
        .as_str()
        .map(String::from)
}

pub fn report(args: DirArgs) -> Result<()> {
    let report = collect(&args.dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_report(&report);
    Ok(())
}

/// The report of the testnet in `dir`, as JSON.
pub fn collect(dir: &std::path::Path) -> Result<Value> {
    let state = State::load(dir)?;
    let c = http();
    let roles = roles(&state);
    // Validator key (hex) to the names of the nodes holding it.
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in &state.nodes {
        if let Ok(k) = Home::new(&n.home).validator() {
            names
                .entry(k.public().to_hex())
                .or_default()
                .push(n.name.clone());
        }
    }
    let name_of = |key: &str| {
        names
            .get(key)
            .map_or_else(|| key[..8.min(key.len())].to_string(), |v| v.join("/"))
    };
    let nodes: Vec<Value> = state
        .nodes
        .iter()
        .zip(&roles)
        .map(|(n, role)| {
            let s = if n.running() {
                get(&c, &n.api, "/status")
            } else {
                Value::Null
            };
            json!({
                "name": n.name,
                "role": role,
                "running": n.running(),
                "height": s["height"],
                "tip": s["tip"],
                "finalized_height": s["pos"]["finalized_height"],
                "messages_sent": if n.running() { messages_sent(&c, &n.api) } else { None },
            })
        })
        .collect();
    let honest: Vec<usize> = (0..state.nodes.len())
        .filter(|i| roles[*i] == "honest" && nodes[*i]["height"].is_u64())
        .collect();
    let Some(&reference) = honest.first() else {
        bail!("no honest node is running to report from");
    };
    let api = &state.nodes[reference].api;
    let top = nodes[reference]["height"].as_u64().unwrap_or(0);
    let mut produced: BTreeMap<String, u64> = BTreeMap::new();
    for h in 1..=top {
        let b = get(&c, api, &format!("/block/{h}"));
        if let Some(p) = b["producer"].as_str() {
            *produced.entry(name_of(p)).or_default() += 1;
        }
    }
    // The first height at which two honest nodes hold different blocks.
    let mut conflicts = Vec::new();
    for (x, a) in honest.iter().enumerate() {
        for b in &honest[x + 1..] {
            let ha = nodes[*a]["height"].as_u64().unwrap_or(0);
            let hb = nodes[*b]["height"].as_u64().unwrap_or(0);
            let (pa, pb) = (&state.nodes[*a].api, &state.nodes[*b].api);
            let first = (1..=ha.min(hb)).find(|h| {
                matches!((hash_at(&c, pa, *h), hash_at(&c, pb, *h)), (Some(x), Some(y)) if x != y)
            });
            if let Some(h) = first {
                conflicts.push(json!({
                    "nodes": [state.nodes[*a].name, state.nodes[*b].name],
                    "from_height": h,
                }));
            }
        }
    }
    // Nodes whose main chain leaves the reference's at or below its
    // finalized height (a long-range fork's attacker and those it fooled).
    let final_ref = nodes[reference]["finalized_height"].as_u64().unwrap_or(0);
    let forked: Vec<&str> = (0..state.nodes.len())
        .filter(|i| *i != reference)
        .filter(|i| {
            let m = final_ref.min(nodes[*i]["height"].as_u64().unwrap_or(0));
            m >= 1
                && matches!(
                    (hash_at(&c, api, m), hash_at(&c, &state.nodes[*i].api, m)),
                    (Some(x), Some(y)) if x != y
                )
        })
        .map(|i| state.nodes[i].name.as_str())
        .collect();
    let evidence: Vec<Value> = get(&c, api, "/evidence")["included"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            json!({
                "offender": name_of(e["offender"].as_str().unwrap_or("")),
                "offence": e["offence"],
                "height": e["height"],
            })
        })
        .collect();
    let jailed: Vec<String> = get(&c, api, "/validators")["validators"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["jailed"] == true)
        .filter_map(|v| v["key"].as_str().map(name_of))
        .collect();
    let mut authorities: Vec<String> = get(&c, api, "/authorities")["authorities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["key"].as_str().map(name_of))
        .collect();
    authorities.sort();
    Ok(json!({
        "consensus": state.consensus,
        "nodes": nodes,
        "reference": state.nodes[reference].name,
        "blocks": top,
        "produced": produced,
        "conflicts": conflicts,
        "forked": forked,
        "evidence": evidence,
        "jailed": jailed,
        "authorities": authorities,
    }))
}

fn print_report(r: &Value) {
    println!("{} testnet", r["consensus"].as_str().unwrap_or("?"));
    println!("{:<4} {:<24} {:>7}  tip", "node", "role", "height");
    for n in r["nodes"].as_array().into_iter().flatten() {
        println!(
            "{:<4} {:<24} {:>7}  {}",
            n["name"].as_str().unwrap_or("?"),
            n["role"].as_str().unwrap_or("?"),
            n["height"]
                .as_u64()
                .map_or("down".into(), |h| h.to_string()),
            n["tip"].as_str().map_or("", |t| &t[..8.min(t.len())]),
        );
    }
    let blocks = r["blocks"].as_u64().unwrap_or(0).max(1);
    println!(
        "blocks per producer on {}'s main chain ({} blocks):",
        r["reference"].as_str().unwrap_or("?"),
        r["blocks"]
    );
    for (who, n) in r["produced"].as_object().into_iter().flatten() {
        let n = n.as_u64().unwrap_or(0);
        println!(
            "  {who:<8} {n:>6}  {:>5.1}%",
            100.0 * n as f64 / blocks as f64
        );
    }
    let conflicts = r["conflicts"].as_array().cloned().unwrap_or_default();
    if conflicts.is_empty() {
        println!("honest nodes agree on every height they share");
    }
    for x in conflicts {
        println!(
            "honest nodes {} and {} hold different blocks from height {}",
            x["nodes"][0].as_str().unwrap_or("?"),
            x["nodes"][1].as_str().unwrap_or("?"),
            x["from_height"]
        );
    }
    for e in r["evidence"].as_array().into_iter().flatten() {
        println!(
            "evidence: {} ({}) at height {}",
            e["offender"].as_str().unwrap_or("?"),
            e["offence"].as_str().unwrap_or("?"),
            e["height"]
        );
    }
    let list = |k: &str| {
        r[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    if !list("jailed").is_empty() {
        println!("jailed: {}", list("jailed"));
    }
    if !list("authorities").is_empty() {
        println!("authorities: {}", list("authorities"));
    }
}
