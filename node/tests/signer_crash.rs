//! A signer crash test that can fail. Four BFT validators, the victim holding
//! 2,000 of 5,000 votes, so that no height is decided without it: whenever it
//! dies, the height it signed at stays open until it comes back. The victim is
//! killed by SIGKILL at many points (`--crash-after-signed K --crash-delay-ms
//! D`: the K-th signature since it started, D ms after it was handed to the
//! network, D = 0 before it left) and restarted each time.
//!
//! With its signing record, the restarted victim sends again exactly what it
//! had signed, and no honest validator ever sees two different messages from
//! it for one position. Without the record's signatures (`--byzantine
//! forget-signed`: the lock and the rest stay), the restarted proposer builds
//! a new block from a changed clock and mempool for the round it had already
//! proposed in, and a voter whose proposal has not come back votes nil where
//! it had voted for a block: the other validators catch the double signature,
//! which is what the first test's check looks for.
//!
//! `GENERALS_SIGNER_CRASHES` sets the number of kill points (12 by default).

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn crashes() -> usize {
    std::env::var("GENERALS_SIGNER_CRASHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// Delays after the K-th signature, in ms: after it left, and (0) before.
/// Nothing the victim signs after the K-th leaves.
const DELAYS: [u64; 6] = [20, 3, 50, 1, 8, 0];
/// The K-th signature since a start: 1 to `SIGNATURES`.
const SIGNATURES: u64 = 7;

/// Kill point `k`: (K, D), every K at every delay in turn.
fn point(k: usize) -> (u64, u64) {
    let signed = 1 + (k as u64 % SIGNATURES);
    let delay = DELAYS[(k / SIGNATURES as usize) % DELAYS.len()];
    (signed, delay)
}

fn init_bft(home: &Path) -> String {
    init_kind(home, "bft");
    let key: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("validator_key.json")).expect("key file"),
    )
    .expect("key json");
    key["public_key"].as_str().expect("public key").to_string()
}

/// The four homes (the victim first), sharing one genesis: the victim's 2,000
/// votes against three times 1,000, and short timeouts.
fn homes(dir: &Path) -> Vec<PathBuf> {
    let homes: Vec<PathBuf> = ["v", "a", "b", "c"].iter().map(|n| dir.join(n)).collect();
    let keys: Vec<String> = homes.iter().map(|h| init_bft(h)).collect();
    let path = homes[0].join("genesis.json");
    let mut g: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("genesis")).expect("json");
    g["validators"] = keys
        .iter()
        .enumerate()
        .map(|(i, k)| json!({"key": k, "stake": if i == 0 { 2_000 } else { 1_000 }, "name": format!("n{i}")}))
        .collect();
    // No pause between heights, and a short wait for a proposal: a restarted
    // validator acts before the others' gossip has told it what it did.
    g["consensus"]["timeout_propose_ms"] = 50.into();
    g["consensus"]["timeout_vote_ms"] = 100.into();
    g["consensus"]["timeout_commit_ms"] = 0.into();
    // Evidence ejects nobody, so that the victim stays a validator (and
    // needed) after it is caught.
    g["slashing"]["enabled"] = false.into();
    let body = serde_json::to_vec_pretty(&g).expect("json");
    for h in &homes {
        std::fs::write(h.join("genesis.json"), &body).expect("write genesis");
    }
    homes
}

/// Runs the victim until it kills itself at `point`; an error if it never
/// gets there (the chain stalled) or dies another way.
fn crash_at(home: &Path, args: &[String], (signed, delay): (u64, u64)) -> Result<(), String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("node.log"))
        .expect("log file");
    let mut child = Command::new(BIN)
        .args(["run", "--home"])
        .arg(home)
        .args(args)
        .args(["--crash-after-signed", &signed.to_string()])
        .args(["--crash-delay-ms", &delay.to_string()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn the victim");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let status = std::fs::read_to_string(home.join("run.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|r| {
                    let url = format!("http://{}/status", r["api"].as_str()?);
                    reqwest::blocking::get(url).ok()?.text().ok()
                })
                .unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the victim never reached its signature {signed} in 30 s: the chain stalled\n{status}\n{}",
                tail(home)
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if status.signal() != Some(9) {
        return Err(format!(
            "the victim died otherwise than by its crash point: {status:?}\n{}",
            tail(home)
        ));
    }
    Ok(())
}

fn tail(home: &Path) -> String {
    let log = std::fs::read_to_string(home.join("node.log")).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("already been published"))
        .collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The double signatures the honest validators hold (evidence pending or
/// included), as (offence, offender, height, evidence hash), each once.
fn double_signatures(honest: &[Node]) -> Vec<(String, String, u64, String)> {
    let mut found = std::collections::BTreeSet::new();
    for n in honest {
        let e = n.get("/evidence");
        for item in ["included", "pending"]
            .iter()
            .flat_map(|k| e[*k].as_array().cloned().unwrap_or_default())
        {
            found.insert((
                item["offence"].as_str().unwrap_or("?").to_string(),
                item["offender"].as_str().unwrap_or("?").to_string(),
                item["first"].as_u64().unwrap_or(0),
                item["hash"].as_str().unwrap_or("?").to_string(),
            ));
        }
    }
    found.into_iter().collect()
}

struct Run {
    dir: tempfile::TempDir,
    honest: Vec<Node>,
    victim_args: Vec<String>,
}

/// The three honest validators running, the victim's arguments to join them.
fn start(extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let homes = homes(dir.path());
    let listen = ["--listen", "/ip4/127.0.0.1/tcp/0"];
    let a = Node::start(&homes[1], &listen);
    let boot = a.listen.clone();
    let with_boot = ["--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", &boot];
    let b = Node::start(&homes[2], &with_boot);
    let c = Node::start(&homes[3], &with_boot);
    let mut victim_args: Vec<String> = vec!["--listen".into(), "/ip4/127.0.0.1/tcp/0".into()];
    for n in [&a, &b, &c] {
        victim_args.extend(["--bootstrap".into(), n.listen.clone()]);
    }
    victim_args.extend(extra.iter().map(|s| s.to_string()));
    Run {
        dir,
        honest: vec![a, b, c],
        victim_args,
    }
}

impl Run {
    fn victim_home(&self) -> PathBuf {
        self.dir.path().join("v")
    }

    fn victim(&self) -> Node {
        let args: Vec<&str> = self.victim_args.iter().map(String::as_str).collect();
        Node::start(&self.victim_home(), &args)
    }
}

/// Kills the victim at `n` points in turn; after each, the double signatures
/// the honest validators hold.
fn kill_points(run: &Run, n: usize) -> Vec<Vec<(String, String, u64, String)>> {
    {
        let v = run.victim();
        v.wait(|s| s["height"].as_u64() >= Some(3), "the chain to decide");
    }
    (0..n)
        .map(|k| {
            if let Err(e) = crash_at(&run.victim_home(), &run.victim_args, point(k)) {
                let others: Vec<String> = run
                    .honest
                    .iter()
                    .map(|n| {
                        let s = n.status();
                        format!("{} {}\n{}", s["height"], s["bft"], tail(&n.home))
                    })
                    .collect();
                panic!(
                    "kill point {k} {:?}: {e}\nthe others:\n{}",
                    point(k),
                    others.join("\n")
                );
            }
            // What the restarted victim sent before it died needs a moment
            // to reach the others.
            std::thread::sleep(Duration::from_millis(200));
            double_signatures(&run.honest)
        })
        .collect()
}

#[test]
fn a_bft_validator_killed_at_many_points_never_signs_twice() {
    let run = start(&[]);
    let n = crashes();
    let held = kill_points(&run, n);
    if let Some(k) = held.iter().position(|d| !d.is_empty()) {
        panic!(
            "after kill point {k} {:?}, the honest validators hold double signatures of the \
             restarted victim: {:?}",
            point(k),
            held[k]
        );
    }
    // Back for good: the chain goes on, every validator on one tip.
    let v = run.victim();
    let height = v.height();
    v.wait(
        |s| s["height"].as_u64() >= Some(height + 3),
        "the chain to go on after the crashes",
    );
    let nodes: Vec<&Node> = run.honest.iter().chain([&v]).collect();
    converge(&nodes, height + 3);
    assert_eq!(
        double_signatures(&run.honest),
        Vec::new(),
        "no double signature after {n} kill points"
    );
    println!(
        "{n} kill points, no double signature, the chain at {}",
        v.height()
    );
}

/// The same kill points with the record's signatures switched off: the check
/// above catches the restarted victim signing twice.
#[test]
fn without_the_record_the_same_kill_points_make_the_victim_sign_twice() {
    let run = start(&["--byzantine", "forget-signed"]);
    let n = crashes();
    let held = kill_points(&run, n);
    let victim: Value = serde_json::from_str(
        &std::fs::read_to_string(run.victim_home().join("validator_key.json")).expect("key"),
    )
    .expect("json");
    let doubles = held.last().cloned().unwrap_or_default();
    assert!(
        !doubles.is_empty(),
        "{n} kill points without the record and no double signature was caught"
    );
    assert!(
        doubles.iter().all(|d| d.1 == victim["public_key"]),
        "only the victim signs twice: {doubles:?}"
    );
    // The kill points after which a new double signature was caught.
    let points: Vec<(u64, u64)> = (0..n)
        .filter(|k| held[*k].len() > k.checked_sub(1).map_or(0, |p| held[p].len()))
        .map(point)
        .collect();
    let mut offences = std::collections::BTreeMap::new();
    for d in &doubles {
        *offences.entry(d.0.as_str()).or_insert(0) += 1;
    }
    let mut by_delay = std::collections::BTreeMap::new();
    for (_, delay) in &points {
        *by_delay.entry(*delay).or_insert(0) += 1;
    }
    println!(
        "without the record: {} of {n} kill points made the victim sign twice; the others \
         hold {} double signatures {offences:?}; kill points that did, by delay (ms): {by_delay:?}",
        points.len(),
        doubles.len(),
    );
}
