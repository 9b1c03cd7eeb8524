//! `status`: each node's process, API, height and peers, asked over its HTTP
//! API (the client and the `/status` query `up` also waits with).

use super::{DirArgs, State};
use anyhow::Result;
use std::time::Duration;

pub(super) fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("an HTTP client with a timeout builds")
}

pub(super) fn node_status(c: &reqwest::blocking::Client, api: &str) -> Option<serde_json::Value> {
    c.get(format!("{api}/status")).send().ok()?.json().ok()
}

pub fn status(args: DirArgs) -> Result<()> {
    let state = State::load(&args.dir)?;
    let c = http();
    let rows: Vec<serde_json::Value> = state
        .nodes
        .iter()
        .map(|n| {
            let up = n.running();
            let s = if up { node_status(&c, &n.api) } else { None };
            serde_json::json!({
                "name": n.name,
                "api": n.api,
                "pid": n.pid,
                "home": n.home,
                "log": n.log,
                "running": up,
                "state": n.state(),
                "container": n.container,
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
            r["state"].as_str().unwrap_or(""),
            r["api"].as_str().unwrap_or(""),
            r["pid"],
            r["height"].as_u64().map_or("-".into(), |h| h.to_string()),
            r["peers"].as_u64().map_or("-".into(), |h| h.to_string()),
            r["tip"].as_str().map_or("-", |t| &t[..8.min(t.len())]),
        );
    }
    Ok(())
}
