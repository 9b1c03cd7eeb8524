//! A finished run's lines for the page to play back: a live page's
//! `feed.jsonl`, a real run's `events-nN.jsonl` (one node's stream each), or a
//! simulator's log (`events-seed-N.jsonl`, `sim-*.jsonl`). Times are in ms
//! from the start of the run.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The largest log read (it is read whole).
pub const MAX_LOG_BYTES: u64 = 64 << 20;

fn read(path: &Path) -> Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_LOG_BYTES {
        bail!(
            "{} is {size} bytes; a replay reads at most {MAX_LOG_BYTES}",
            path.display()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Lines of `{t, node, event, ..}` (a feed or a simulator's log), or of one
/// node's stream (`{at_ms, event: {..}}`, given as node `node`).
fn parse(text: &str, node: usize) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            if let Some(at) = v["at_ms"].as_u64() {
                let mut e = v["event"].clone();
                e.as_object()?;
                e["t"] = at.into();
                e["node"] = node.into();
                Some(e)
            } else if v["event"].is_string() {
                Some(v)
            } else {
                None
            }
        })
        .collect()
}

fn numbered(dir: &Path, prefix: &str) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name
                .strip_prefix(prefix)?
                .strip_suffix(".jsonl")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// The lines of the run at `path` (a folder or a log file); `seed` picks one
/// of a simulated scenario's seeds (the first if not given).
pub fn load(path: &Path, seed: Option<u64>) -> Result<Vec<String>> {
    let mut lines: Vec<Value> = if path.is_dir() {
        let seeds = numbered(path, "events-seed-");
        let nodes = numbered(path, "events-n");
        if path.join("feed.jsonl").exists() {
            parse(&read(&path.join("feed.jsonl"))?, 0)
        } else if !seeds.is_empty() {
            let (_, file) = match seed {
                Some(s) => seeds
                    .iter()
                    .find(|(n, _)| *n == s)
                    .with_context(|| format!("{} has no log of seed {s}", path.display()))?,
                None => &seeds[0],
            };
            parse(&read(file)?, 0)
        } else if !nodes.is_empty() {
            let mut all = Vec::new();
            if let Ok(state) = crate::local::State::load(&path.join("testnet")) {
                all.push(super::watch::info(&state, &[]));
            }
            for (n, file) in &nodes {
                all.extend(parse(&read(file)?, *n as usize));
            }
            all
        } else {
            // A comparison's folder holds one run a mechanism.
            let runs: Vec<String> = std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| {
                    let p = e.path();
                    p.join("feed.jsonl").exists()
                        || !numbered(&p, "events-n").is_empty()
                        || !numbered(&p, "events-seed-").is_empty()
                })
                .map(|e| e.path().display().to_string())
                .collect();
            if runs.is_empty() {
                bail!(
                    "{} holds no run to replay (feed.jsonl, events-nN.jsonl or events-seed-N.jsonl)",
                    path.display()
                );
            }
            bail!(
                "{} holds several runs; replay one of them: {}",
                path.display(),
                runs.join(", ")
            );
        }
    } else {
        parse(&read(path)?, 0)
    };
    if lines.is_empty() {
        bail!("{} holds no events", path.display());
    }
    // Wall-clock and simulated times (ms since 1970) start at the first
    // event; a live page's feed keeps its own clock, which `?at=` uses.
    let first = lines
        .iter()
        .filter(|v| v["event"] != "info")
        .filter_map(|v| v["t"].as_u64())
        .min()
        .unwrap_or(0);
    let start = if first > 100_000_000_000 { first } else { 0 };
    for v in &mut lines {
        let t = v["t"].as_u64().unwrap_or(start).saturating_sub(start);
        v["t"] = json!(t);
    }
    lines.sort_by_key(|v| (v["event"] != "info", v["t"].as_u64()));
    Ok(lines.into_iter().map(|v| v.to_string()).collect())
}
